package epurse.testkit;

import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Independent host-side implementation of SPEC section 1 on the JDK's JCE (not on the applet's
 * code and not on jCardSim), used by tests to drive the card and check what it returns.
 */
public final class HostCrypto {

    private HostCrypto() {
    }

    private static byte[] run(String transform, byte[] key, int mode, byte[] data, boolean iv) {
        try {
            String alg = transform.startsWith("DESede") ? "DESede" : "DES";
            byte[] k = key;
            if (alg.equals("DESede") && key.length == 16) {
                k = Hex.concat(key, Arrays.copyOf(key, 8));
            }
            Cipher c = Cipher.getInstance(transform);
            if (iv) {
                c.init(mode, new SecretKeySpec(k, alg), new IvParameterSpec(new byte[8]));
            } else {
                c.init(mode, new SecretKeySpec(k, alg));
            }
            return c.doFinal(data);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] des3Encrypt(byte[] key16, byte[] block) {
        return run("DESede/ECB/NoPadding", key16, Cipher.ENCRYPT_MODE, block, false);
    }

    public static byte[] des3Decrypt(byte[] key16, byte[] block) {
        return run("DESede/ECB/NoPadding", key16, Cipher.DECRYPT_MODE, block, false);
    }

    public static byte[] cbcEncrypt(byte[] key16, byte[] data) {
        return run("DESede/CBC/NoPadding", key16, Cipher.ENCRYPT_MODE, data, true);
    }

    public static byte[] padMethod2(byte[] m) {
        int n = (m.length / 8 + 1) * 8;
        byte[] p = Arrays.copyOf(m, n);
        p[m.length] = (byte) 0x80;
        return p;
    }

    /** ISO/IEC 9797-1 MAC algorithm 3, padding method 2, DES. */
    public static byte[] mac(byte[] key16, byte[] message) {
        byte[] k1 = Arrays.copyOfRange(key16, 0, 8);
        byte[] k2 = Arrays.copyOfRange(key16, 8, 16);
        byte[] chain = run("DES/CBC/NoPadding", k1, Cipher.ENCRYPT_MODE, padMethod2(message), true);
        byte[] last = Arrays.copyOfRange(chain, chain.length - 8, chain.length);
        byte[] d = run("DES/ECB/NoPadding", k2, Cipher.DECRYPT_MODE, last, false);
        return run("DES/ECB/NoPadding", k1, Cipher.ENCRYPT_MODE, d, false);
    }

    /** MAC algorithm 3 over a message already padded to a multiple of 8 (no padding added). */
    public static byte[] macOfPadded(byte[] key16, byte[] padded) {
        byte[] k1 = Arrays.copyOfRange(key16, 0, 8);
        byte[] k2 = Arrays.copyOfRange(key16, 8, 16);
        byte[] chain = run("DES/CBC/NoPadding", k1, Cipher.ENCRYPT_MODE, padded, true);
        byte[] last = Arrays.copyOfRange(chain, chain.length - 8, chain.length);
        byte[] d = run("DES/ECB/NoPadding", k2, Cipher.DECRYPT_MODE, last, false);
        return run("DES/ECB/NoPadding", k1, Cipher.ENCRYPT_MODE, d, false);
    }

    public static byte[] mac(byte[] key16, byte[]... parts) {
        return mac(key16, Hex.concat(parts));
    }

    /** EMVA(K, D): 3DES_K(D) || 3DES_K(D xor FF..), odd parity. */
    public static byte[] emva(byte[] key16, byte[] d8) {
        byte[] inv = new byte[8];
        for (int i = 0; i < 8; i++) {
            inv[i] = (byte) ~d8[i];
        }
        byte[] out = Hex.concat(des3Encrypt(key16, d8), des3Encrypt(key16, inv));
        for (int i = 0; i < out.length; i++) {
            int b = out[i] & 0xFE;
            out[i] = (byte) (Integer.bitCount(b) % 2 == 0 ? b | 1 : b);
        }
        return out;
    }

    /** SK = EMVA(K, RND || CTR || TT || X). */
    public static byte[] sessionKey(byte[] key16, byte[] rnd4, int ctr, int tt, int x) {
        return emva(key16, Hex.concat(rnd4, Hex.u16(ctr), new byte[] {(byte) tt, (byte) x}));
    }

    public static byte[] kcv(byte[] key16) {
        return Arrays.copyOf(des3Encrypt(key16, new byte[8]), 3);
    }

    /** First 4 bytes as u32, mod 100 000 000, as 4 bytes. */
    public static byte[] code8(byte[] mac) {
        return Hex.u32(Hex.u32(mac, 0) % 100_000_000L);
    }
}
