package epurse.transfer;

import static epurse.testkit.Hex.concat;
import static epurse.testkit.Hex.u16;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.licel.jcardsim.smartcardio.CardSimulator;
import com.licel.jcardsim.utils.AIDUtil;
import epurse.testkit.Hex;
import epurse.testkit.HostCrypto;
import javacard.framework.AID;
import javax.smartcardio.CommandAPDU;
import javax.smartcardio.ResponseAPDU;

/** One transfer card in jCardSim, with the host steps the tests repeat. */
final class TransferCardSim {
    static final String AID_HEX = "F045505552534502";
    static final AID AID = AIDUtil.create(AID_HEX);
    static final byte[] DEFAULT_TRANSPORT_KEY = Hex.decode("404142434445464748494A4B4C4D4E4F");
    /** Development master keys (keys/dev-master-keys.json). */
    static final byte[] MK_TRANSFER = Hex.decode("4A4B4C4D4E4F50515253545556575859");
    static final byte[] MK_SETTLEMENT = Hex.decode("5A5B5C5D5E5F60616263646566676869");

    final CardSimulator sim = new CardSimulator();
    final FixedRandomTransferApplet applet;
    final byte[] transportKey;

    /** A card installed with {@code transportKey} as install parameter (null: none given). */
    TransferCardSim(byte[] transportKey) {
        byte[] param = transportKey == null ? new byte[0] : transportKey;
        sim.installApplet(AID, FixedRandomTransferApplet.class, param, (short) 0, (byte) param.length);
        applet = FixedRandomTransferApplet.lastInstalled;
        this.transportKey = transportKey == null ? DEFAULT_TRANSPORT_KEY : transportKey;
        select();
    }

    TransferCardSim() {
        this(DEFAULT_TRANSPORT_KEY);
    }

    ResponseAPDU send(byte[] apdu) {
        return sim.transmitCommand(new CommandAPDU(apdu));
    }

    ResponseAPDU send(String apduHex) {
        return send(Hex.decode(apduHex));
    }

    int sw(String apduHex) {
        return send(apduHex).getSW();
    }

    ResponseAPDU select() {
        ResponseAPDU r = send("00A4040008" + AID_HEX + "00");
        assertEquals(0x9000, r.getSW(), "SELECT");
        return r;
    }

    /** Power cycle: all transient state lost, applet reselected. */
    void reset() {
        sim.reset();
        select();
    }

    /** GET STATUS: LIFECYCLE BATCH_STATE CAPACITY(2) LENGTH(2) XSERIAL(8). */
    byte[] status() {
        ResponseAPDU r = send("805E000000");
        assertEquals(0x9000, r.getSW(), "GET STATUS");
        assertEquals(14, r.getData().length);
        return r.getData();
    }

    int lifecycle() {
        return status()[0];
    }

    int batchState() {
        return status()[1];
    }

    int batchLength() {
        byte[] s = status();
        return ((s[4] & 0xFF) << 8) | (s[5] & 0xFF);
    }

    byte[] challenge() {
        ResponseAPDU r = send("0084000004");
        assertEquals(0x9000, r.getSW(), "GET CHALLENGE");
        return r.getData();
    }

    static byte[] kXfer(byte[] xserial) {
        return HostCrypto.emva(MK_TRANSFER, xserial);
    }

    /** GET CHALLENGE then PERSONALIZE; returns the PERSONALIZE status word. */
    int personalize(byte[] xserial, int kv) {
        byte[] rnd = challenge();
        byte[] data = persoData(transportKey, rnd, xserial, kv, kXfer(xserial));
        return send(concat(Hex.decode("8460000028"), data)).getSW();
    }

    /** PERSONALIZE data {@code C(32) || MAC_P(8)} for the transfer card (SPEC 1.10, 3.2). */
    static byte[] persoData(byte[] transportKey, byte[] rnd, byte[] xserial, int kv, byte[] kXfer) {
        byte[] pd = concat(xserial, new byte[] {(byte) kv}, kXfer);
        return persoDataRaw(transportKey, rnd, HostCrypto.padMethod2(pd));
    }

    /** As {@link #persoData} over an already padded (possibly malformed) PD. */
    static byte[] persoDataRaw(byte[] transportKey, byte[] rnd, byte[] paddedPd) {
        byte[] skEnc = HostCrypto.sessionKey(transportKey, rnd, 0, 0x06, 0);
        byte[] skMac = HostCrypto.sessionKey(transportKey, rnd, 0, 0x05, 0);
        byte[] c = HostCrypto.cbcEncrypt(skEnc, paddedPd);
        return concat(c, HostCrypto.mac(skMac, Hex.decode("84600000"), c));
    }

    static byte[] writeApdu(int offset, byte[] chunk) {
        return concat(Hex.decode("8082"), u16(offset), new byte[] {(byte) chunk.length}, chunk);
    }

    int write(int offset, byte[] batch, int from, int len) {
        byte[] chunk = java.util.Arrays.copyOfRange(batch, from, from + len);
        return send(writeApdu(offset, chunk)).getSW();
    }

    /** Writes the whole batch in chunks of {@code chunk} bytes, every write must succeed. */
    void writeAll(byte[] batch, int chunk) {
        for (int off = 0; off < batch.length; off += chunk) {
            int n = Math.min(chunk, batch.length - off);
            assertEquals(0x9000, write(off, batch, off, n), "WRITE BATCH at " + off);
        }
    }

    int finish(int length) {
        return send(concat(Hex.decode("80840000"), new byte[] {2}, u16(length))).getSW();
    }

    /** READ BATCH until the end, with Le 00. */
    byte[] readAll() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int length = batchLength();
        while (out.size() < length) {
            ResponseAPDU r = send(concat(Hex.decode("8086"), u16(out.size()), Hex.decode("00")));
            assertEquals(0x9000, r.getSW(), "READ BATCH at " + out.size());
            out.writeBytes(r.getData());
        }
        return out.toByteArray();
    }

    int clear(byte[] ackData, byte[] ackSam, byte[] ackCard) {
        return send(concat(Hex.decode("8088000032"), ackData, ackSam, ackCard)).getSW();
    }
}
