/**
 * The virtual cards of the PC/SC test stack: jCardSim cards plugged into pcscd through the
 * vsmartcard vpcd driver, so that the host talks to them through the same PC/SC API and daemon it
 * uses with a real reader.
 *
 * <p>Start the whole stack with {@code scripts/stack start} (pcscd, then this process with
 * {@code --default-cards}: {@code purse1} in "Virtual PCD 00 00", {@code transfer1} in
 * "Virtual PCD 00 01"); drive it with {@code scripts/stack ctl COMMAND}.
 *
 * <ul>
 *   <li>{@link epurse.vcard.VirtualCardProcess}: main class, options, the wallet and the control
 *       commands.</li>
 *   <li>{@link epurse.vcard.Slot}: one vpcd slot; a connection exists exactly while a card is
 *       inserted; faults pull the card.</li>
 *   <li>{@link epurse.vcard.VpcdProtocol}: the wire format (2-byte length, payload; 1-byte control
 *       codes) and {@link epurse.vcard.QuickAckInputStream}, which keeps an APDU round trip below a
 *       millisecond instead of ~44 ms.</li>
 *   <li>{@link epurse.vcard.VirtualCard}: one jCardSim runtime with one applet, deterministic
 *       randoms, and the journal that save/restore replays.</li>
 *   <li>{@link epurse.vcard.StateFile}: the wallet on disk.</li>
 *   <li>{@link epurse.vcard.ControlServer}: the line-based control channel on 127.0.0.1:35990.</li>
 * </ul>
 *
 * <p>Logs never show APDU data (keys, PINs, MACs travel in it): {@code --trace} logs the header,
 * Lc and the status word only.
 */
package epurse.vcard;
