package epurse.transfer;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The host side of SPEC section 1 for the tests, on the JDK's DES (independent of the applet's
 * javacard.security code): retail MAC, EMVA, perso encryption, batch seal and acknowledgements.
 */
final class HostCrypto {
    private HostCrypto() {}

    static byte[] hex(String s) {
        s = s.replaceAll("\\s", "");
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02X", x));
        return sb.toString();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }

    static byte[] u16(int v) {
        return new byte[] {(byte) (v >> 8), (byte) v};
    }

    static byte[] u32(long v) {
        return new byte[] {(byte) (v >> 24), (byte) (v >> 16), (byte) (v >> 8), (byte) v};
    }

    static byte[] u64(long v) {
        return concat(u32(v >>> 32), u32(v));
    }

    private static byte[] run(String transformation, byte[] key, int mode, byte[] data) {
        try {
            boolean triple = key.length == 16;
            byte[] k = triple ? concat(key, Arrays.copyOf(key, 8)) : key;
            String alg = triple ? "DESede" : "DES";
            Cipher c = Cipher.getInstance(alg + "/" + transformation + "/NoPadding");
            SecretKeySpec spec = new SecretKeySpec(k, alg);
            if (transformation.equals("CBC")) c.init(mode, spec, new IvParameterSpec(new byte[8]));
            else c.init(mode, spec);
            return c.doFinal(data);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] padM2(byte[] m) {
        byte[] p = Arrays.copyOf(m, (m.length / 8 + 1) * 8);
        p[m.length] = (byte) 0x80;
        return p;
    }

    /** MAC(K, M): ISO 9797-1 algorithm 3, padding method 2 (SPEC 1.1). */
    static byte[] mac(byte[] key, byte[] msg) {
        byte[] k1 = Arrays.copyOfRange(key, 0, 8);
        byte[] k2 = Arrays.copyOfRange(key, 8, 16);
        byte[] chain = run("CBC", k1, Cipher.ENCRYPT_MODE, padM2(msg));
        byte[] h = Arrays.copyOfRange(chain, chain.length - 8, chain.length);
        h = run("ECB", k2, Cipher.DECRYPT_MODE, h);
        return run("ECB", k1, Cipher.ENCRYPT_MODE, h);
    }

    static byte[] tdesEcb(byte[] key, byte[] block) {
        return run("ECB", key, Cipher.ENCRYPT_MODE, block);
    }

    static byte[] tdesCbcEncrypt(byte[] key, byte[] data) {
        return run("CBC", key, Cipher.ENCRYPT_MODE, data);
    }

    static byte[] kcv(byte[] key) {
        return Arrays.copyOf(tdesEcb(key, new byte[8]), 3);
    }

    /** EMVA(K, D) with odd parity (SPEC 1.1). */
    static byte[] emva(byte[] key, byte[] d) {
        byte[] inv = new byte[8];
        for (int i = 0; i < 8; i++) inv[i] = (byte) ~d[i];
        byte[] out = concat(tdesEcb(key, d), tdesEcb(key, inv));
        for (int i = 0; i < out.length; i++) {
            int v = out[i] & 0xFE;
            out[i] = (byte) (Integer.bitCount(v) % 2 == 0 ? v | 1 : v);
        }
        return out;
    }

    static byte[] sessionKey(byte[] key, byte[] rnd, int ctr, int tt, int x) {
        return emva(key, concat(rnd, u16(ctr), new byte[] {(byte) tt, (byte) x}));
    }

    /** PERSONALIZE data {@code C(32) || MAC_P(8)} for the transfer card (SPEC 1.10, 3.2). */
    static byte[] persoData(byte[] transportKey, byte[] rnd, byte[] xserial, int kv, byte[] kXfer) {
        byte[] pd = concat(xserial, new byte[] {(byte) kv}, kXfer);
        return persoDataRaw(transportKey, rnd, padM2(pd));
    }

    /** As {@link #persoData} over an already padded (possibly malformed) PD. */
    static byte[] persoDataRaw(byte[] transportKey, byte[] rnd, byte[] paddedPd) {
        byte[] skEnc = sessionKey(transportKey, rnd, 0, 0x06, 0);
        byte[] skMac = sessionKey(transportKey, rnd, 0, 0x05, 0);
        byte[] c = tdesCbcEncrypt(skEnc, paddedPd);
        byte[] macP = mac(skMac, concat(hex("84600000"), c));
        return concat(c, macP);
    }
}
