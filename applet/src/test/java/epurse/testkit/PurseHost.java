package epurse.testkit;

import static epurse.testkit.HostCrypto.emva;
import static epurse.testkit.HostCrypto.mac;
import static epurse.testkit.HostCrypto.sessionKey;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;

/**
 * The other side of the purse contract, written from SPEC alone on {@link HostCrypto}: issuer
 * (personalisation, issuer commands), back office (load MAC2, TAC checks, unconnected codes)
 * and SAM (purchase MAC1, MAC2 checks). Tests drive the applet with it.
 */
public final class PurseHost {

    public static final byte[] PURSE_AID = Hex.decode("F045505552534501");
    public static final byte[] DEFAULT_TRANSPORT_KEY = Hex.decode("404142434445464748494A4B4C4D4E4F");

    public final byte[] mkLoad;
    public final byte[] mkPurchase;
    public final byte[] mkTac;
    public final byte[] mkAdmin;
    public final byte[] transportKey;

    public PurseHost(byte[] mkLoad, byte[] mkPurchase, byte[] mkTac, byte[] mkAdmin, byte[] transportKey) {
        this.mkLoad = mkLoad;
        this.mkPurchase = mkPurchase;
        this.mkTac = mkTac;
        this.mkAdmin = mkAdmin;
        this.transportKey = transportKey;
    }

    /** The master keys of the shared vectors. */
    public static PurseHost vectorKeys() {
        return new PurseHost(Hex.decode("0123456789ABCDEFFEDCBA9876543210"),
                Hex.decode("00112233445566778899AABBCCDDEEFF"),
                Hex.decode("1032547698BADCFE0123456789ABCDEF"),
                Hex.decode("2B7E151628AED2A6ABF7158809CF4F3C"),
                DEFAULT_TRANSPORT_KEY);
    }

    public byte[] kLoad(byte[] serial) {
        return emva(mkLoad, serial);
    }

    public byte[] kPurchase(byte[] serial) {
        return emva(mkPurchase, serial);
    }

    public byte[] kTac(byte[] serial) {
        return emva(mkTac, serial);
    }

    public byte[] kAdmin(byte[] serial) {
        return emva(mkAdmin, serial);
    }

    /** Card profile written at personalisation. */
    public static final class Profile {
        public byte[] serial = Hex.decode("4550000000000001");
        public int kv = 1;
        public long ecashMaxBalance = 100_000;
        public long ecashMaxAmount = 60_000;
        public long foodMaxBalance = 300_000;
        public long foodMaxAmount = 200_000;
        public long noPinLimit = 20_000;
        public long ucMax = 20_000;
        public String pin = "1234";
        public int pinTryLimit = 3;
        public int ucLimit = 3;
        public List<String> foodMccs = List.of("5411", "5422", "5441", "5462", "5499", "5812");

        public byte[] limits() {
            return Hex.concat(Hex.u32(ecashMaxBalance), Hex.u32(ecashMaxAmount), Hex.u32(foodMaxBalance),
                    Hex.u32(foodMaxAmount), Hex.u32(noPinLimit), Hex.u32(ucMax));
        }
    }

    /** ISO 9564 format 2 PIN block. */
    public static byte[] pinBlock(String pin) {
        StringBuilder sb = new StringBuilder("2").append(Integer.toHexString(pin.length()).toUpperCase()).append(pin);
        while (sb.length() < 16) {
            sb.append('F');
        }
        return Hex.decode(sb.toString());
    }

    public byte[] personalisationData(Profile p) {
        ByteArrayOutputStream pd = new ByteArrayOutputStream();
        pd.writeBytes(p.serial);
        pd.write(p.kv);
        pd.writeBytes(kLoad(p.serial));
        pd.writeBytes(kPurchase(p.serial));
        pd.writeBytes(kTac(p.serial));
        pd.writeBytes(kAdmin(p.serial));
        pd.writeBytes(p.limits());
        pd.writeBytes(pinBlock(p.pin));
        pd.write(p.pinTryLimit);
        pd.write(p.ucLimit);
        pd.write(p.foodMccs.size());
        byte[] slots = new byte[16];
        for (int i = 0; i < p.foodMccs.size(); i++) {
            System.arraycopy(Hex.decode(p.foodMccs.get(i)), 0, slots, 2 * i, 2);
        }
        pd.writeBytes(slots);
        return pd.toByteArray();
    }

    /** PERSONALIZE for the given challenge: C = CBC(SK_PERSO_ENC, pad(PD)), MAC_P. */
    public byte[] personalize(byte[] challenge, byte[] pd) {
        byte[] skEnc = sessionKey(transportKey, challenge, 0, 0x06, 0x00);
        byte[] skMac = sessionKey(transportKey, challenge, 0, 0x05, 0x00);
        byte[] c = HostCrypto.cbcEncrypt(skEnc, HostCrypto.padMethod2(pd));
        byte[] header = Hex.decode("84600000");
        byte[] macP = mac(skMac, header, c);
        return Hex.concat(header, new byte[] {(byte) (c.length + 8)}, c, macP);
    }

    // ---- load (back office)

    /** INITIALIZE LOAD response BAL(4) CTR(2) KV(1) ALG(1) RND(4) MAC1(8). */
    public record InitLoad(long balance, int ctr, int kv, int alg, byte[] rnd, byte[] mac1) {
        public static InitLoad parse(byte[] r) {
            return new InitLoad(Hex.u32(r, 0), Hex.u16(r, 4), r[6] & 0xFF, r[7] & 0xFF,
                    Arrays.copyOfRange(r, 8, 12), Arrays.copyOfRange(r, 12, 20));
        }
    }

    public static byte[] initializeLoad(int purse, int kv, long amount, byte[] terminal, byte[] expiry) {
        return Hex.concat(new byte[] {(byte) 0x80, 0x50, (byte) purse, (byte) kv, 0x0E}, Hex.u32(amount), terminal,
                expiry, new byte[] {0});
    }

    public byte[] loadMac1(byte[] serial, int purse, InitLoad init, long amount, byte[] terminal, byte[] expiry) {
        byte[] sk = sessionKey(kLoad(serial), init.rnd(), init.ctr(), 0x01, purse);
        return mac(sk, new byte[] {0x11}, serial, new byte[] {(byte) purse}, Hex.u16(init.ctr()),
                Hex.u32(init.balance()), Hex.u32(amount), terminal, expiry);
    }

    public byte[] creditLoad(byte[] serial, int purse, InitLoad init, long amount, byte[] terminal, byte[] expiry,
                             byte[] dateTime) {
        byte[] sk = sessionKey(kLoad(serial), init.rnd(), init.ctr(), 0x01, purse);
        byte[] mac2 = mac(sk, new byte[] {0x12}, serial, new byte[] {(byte) purse}, Hex.u16(init.ctr()),
                Hex.u32(amount), terminal, expiry, dateTime);
        return Hex.concat(new byte[] {(byte) 0x80, 0x52, (byte) purse, 0x00, 0x0F}, dateTime, mac2, new byte[] {0});
    }

    // ---- purchase (SAM)

    public static byte[] initializePurchase(int purse, int kv, long amount, byte[] samId) {
        return Hex.concat(new byte[] {(byte) 0x80, 0x54, (byte) purse, (byte) kv, 0x0A}, Hex.u32(amount), samId,
                new byte[] {0});
    }

    /** INITIALIZE PURCHASE response BAL(4) CTR(2) KV(1) ALG(1) RND(4). */
    public record InitPurchase(long balance, int ctr, int kv, int alg, byte[] rnd) {
        public static InitPurchase parse(byte[] r) {
            return new InitPurchase(Hex.u32(r, 0), Hex.u16(r, 4), r[6] & 0xFF, r[7] & 0xFF,
                    Arrays.copyOfRange(r, 8, 12));
        }
    }

    public byte[] debitPurchase(byte[] serial, int purse, InitPurchase init, long amount, byte[] samId, long samSeq,
                                byte[] dateTime, byte[] mcc) {
        byte[] sk = sessionKey(kPurchase(serial), init.rnd(), init.ctr(), 0x02, purse);
        byte[] mac1 = mac(sk, new byte[] {0x21}, serial, new byte[] {(byte) purse}, Hex.u16(init.ctr()),
                Hex.u32(amount), samId, Hex.u32(samSeq), dateTime, mcc);
        return Hex.concat(new byte[] {(byte) 0x80, 0x56, (byte) purse, 0x00, 0x15}, Hex.u32(samSeq), dateTime, mcc,
                mac1, new byte[] {0});
    }

    public byte[] purchaseMac2(byte[] serial, int purse, InitPurchase init, long amount, long balanceAfter,
                               long samSeq) {
        byte[] sk = sessionKey(kPurchase(serial), init.rnd(), init.ctr(), 0x02, purse);
        return mac(sk, new byte[] {0x22}, serial, new byte[] {(byte) purse}, Hex.u16(init.ctr()), Hex.u32(amount),
                Hex.u32(balanceAfter), Hex.u32(samSeq));
    }

    /** TAC = MAC(K_TAC, 13 || SERIAL || REC). */
    public byte[] tac(byte[] serial, byte[] rec) {
        return mac(kTac(serial), new byte[] {0x13}, serial, rec);
    }

    public static byte[] record(int tt, int purse, int ctr, long amount, long balance, byte[] terminal, long samSeq,
                                byte[] dateTime, byte[] mcc, int flags) {
        return Hex.concat(new byte[] {(byte) tt, (byte) purse}, Hex.u16(ctr), Hex.u32(amount), Hex.u32(balance),
                terminal, Hex.u32(samSeq), dateTime, mcc, new byte[] {(byte) flags});
    }

    // ---- unconnected load (back office)

    public byte[] unconnectedAuth(byte[] serial, int purse, int ctr, long amount, byte[] expiry) {
        byte[] sk = sessionKey(kLoad(serial), new byte[4], ctr, 0x04, purse);
        return HostCrypto.code8(mac(sk, new byte[] {0x41}, serial, new byte[] {(byte) purse}, Hex.u16(ctr),
                Hex.u32(amount), expiry));
    }

    public byte[] unconnectedConfirm(byte[] serial, int purse, int ctr, long amount) {
        byte[] sk = sessionKey(kLoad(serial), new byte[4], ctr, 0x04, purse);
        return HostCrypto.code8(mac(sk, new byte[] {0x42}, serial, new byte[] {(byte) purse}, Hex.u16(ctr),
                Hex.u32(amount)));
    }

    public static byte[] unconnectedLoad(int purse, long amount, byte[] expiry, byte[] dateTime, byte[] auth) {
        return Hex.concat(new byte[] {(byte) 0x80, 0x58, (byte) purse, 0x00, 0x13}, Hex.u32(amount), expiry, dateTime,
                auth, new byte[] {0});
    }

    // ---- issuer commands

    /** 84 INS P1 P2 Lc DATA MAC_A with MAC_A under SK_ADMIN for (challenge, actr). */
    public byte[] issuerCommand(byte[] serial, byte[] challenge, int actr, int ins, int p1, int p2, byte[] data) {
        byte[] sk = sessionKey(kAdmin(serial), challenge, actr, 0x03, ins);
        byte[] header = new byte[] {(byte) 0x84, (byte) ins, (byte) p1, (byte) p2};
        byte[] macA = mac(sk, header, data);
        return Hex.concat(header, new byte[] {(byte) (data.length + 8)}, data, macA);
    }

    public byte[] encryptPinBlock(byte[] serial, byte[] challenge, int actr, byte[] pinBlock) {
        byte[] sk = sessionKey(kAdmin(serial), challenge, actr, 0x07, 0x24);
        return HostCrypto.des3Encrypt(sk, pinBlock);
    }
}
