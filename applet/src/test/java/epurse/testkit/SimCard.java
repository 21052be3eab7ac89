package epurse.testkit;

import com.licel.jcardsim.smartcardio.CardSimulator;
import com.licel.jcardsim.utils.AIDUtil;
import javacard.framework.AID;
import javacard.framework.Applet;

/**
 * One card in an in-process jCardSim simulator: install with GlobalPlatform-shaped install
 * data ({@code Li AID Lc C La A}, A = the applet parameters), send APDUs, power-cycle.
 */
public final class SimCard {

    /** A response APDU split into data and status word. */
    public record Rsp(byte[] data, int sw) {
        public String hex() {
            return Hex.encode(data) + String.format("%04X", sw);
        }

        public byte[] raw() {
            return Hex.concat(data, Hex.u16(sw));
        }

        @Override
        public String toString() {
            return hex();
        }
    }

    public final CardSimulator sim = new CardSimulator();
    public final byte[] aid;

    public SimCard(byte[] aid, Class<? extends Applet> appletClass, byte[] params) {
        this.aid = aid.clone();
        AID jcAid = AIDUtil.create(aid);
        byte[] install = installArray(aid, params);
        sim.installApplet(jcAid, appletClass, install, (short) 0, (byte) install.length);
    }

    /** GlobalPlatform INSTALL [for install] parameters as the card's install method sees them. */
    public static byte[] installArray(byte[] aid, byte[] params) {
        byte[] p = params == null ? new byte[0] : params;
        return Hex.concat(new byte[] {(byte) aid.length}, aid, new byte[] {0, (byte) p.length}, p);
    }

    public Rsp send(byte[] apdu) {
        byte[] r = sim.transmitCommand(apdu);
        int n = r.length - 2;
        byte[] data = new byte[n];
        System.arraycopy(r, 0, data, 0, n);
        return new Rsp(data, ((r[n] & 0xFF) << 8) | (r[n + 1] & 0xFF));
    }

    public Rsp send(String hex) {
        return send(Hex.decode(hex));
    }

    public Rsp select() {
        return send(Hex.concat(new byte[] {0x00, (byte) 0xA4, 0x04, 0x00, (byte) aid.length}, aid, new byte[] {0}));
    }

    /** Power off and on: transient memory and the selection are gone. */
    public void reset() {
        sim.reset();
    }
}
