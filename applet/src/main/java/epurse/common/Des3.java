package epurse.common;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.DESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * The 3DES toolkit of the epurse contract (SPEC 1.1 and 1.3), shared by the purse and the
 * transfer applet. Java Card classic subset; allocate one instance in the applet constructor.
 *
 * <p>Everything works on one <em>working key</em>, a two-key 3DES key {@code K1 || K2} held in
 * transient (CLEAR_ON_DESELECT) key objects. Load it, then use it:
 *
 * <pre>
 *   Des3()                                        allocate (constructor / install only)
 *   void setKey(byte[] k, short off)              working key := 16 bytes K1 || K2
 *   void setKey(DESKey k)                         working key := a 16-byte DESKey (card key)
 *   void encryptBlock(in, inOff, out, outOff)     3DES-ECB of one 8-byte block
 *   void decryptBlock(in, inOff, out, outOff)     3DES-ECB decryption of one block
 *   void cbcEncrypt(in, inOff, len, out, outOff)  3DES-CBC, IV = 0, len a multiple of 8
 *   void cbcDecrypt(in, inOff, len, out, outOff)  3DES-CBC decryption, IV = 0
 *   void diversify(d, dOff, out, outOff)          out[16] := EMVA(working key, D[8]), odd parity
 *   void sessionKey(rnd, rndOff, ctr, ctrOff, tt, x, out, outOff)
 *                                                 out[16] := EMVA(working key, RND4||CTR2||TT||X)
 *   void macBegin()                               start MAC(working key, ...) (SPEC 1.1)
 *   void macByte(byte b)                          feed one byte
 *   void macUpdate(buf, off, len)                 feed bytes
 *   void macFinal(out, outOff)                    pad (method 2), finish: 8-byte retail MAC
 *   void mac(msg, off, len, out, outOff)          one-shot MAC
 *   boolean macVerify(msg, off, len, mac, macOff) one-shot MAC + constant-time compare
 *   void kcv(out, outOff)                         3-byte key check value of the working key
 *   static boolean equalsConstantTime(a, aOff, b, bOff, len)
 *   static short unpadMethod2(buf, off, len)      length of the data before ISO 9797-1 padding
 *                                                 method 2, or -1 when the padding is malformed
 * </pre>
 *
 * <p>A MAC in progress (macBegin..macFinal) survives encryptBlock/diversify calls in between
 * only if the working key is not changed; {@code setKey} during a MAC restarts nothing and
 * corrupts it, so finish one MAC before loading another key. Key bytes passed to
 * {@code setKey} may live in the caller's transient scratch; they are copied.
 */
public final class Des3 {

    private static final short BLOCK = (short) 8;
    private static final short KEY_LEN = (short) 16;

    /** Offsets in the transient work area. */
    private static final short W_KEY = (short) 0;          // 16: working key bytes
    private static final short W_MAC_STATE = (short) 16;   // 8: CBC chaining value
    private static final short W_MAC_PART = (short) 24;    // 8: partial input block
    private static final short W_BLOCK = (short) 32;       // 8: scratch block
    private static final short W_BLOCK2 = (short) 40;      // 8: scratch block
    private static final short W_MAC_PART_LEN = (short) 48; // 1: bytes in W_MAC_PART
    private static final short W_LEN = (short) 49;

    private final byte[] work;
    private final DESKey key3;    // K1 || K2, for 3DES
    private final DESKey key1;    // K1 alone, for the retail MAC chain
    private final DESKey key2;    // K2 alone, for the retail MAC output transformation
    private final Cipher ecb;     // general purpose, re-initialised per operation
    private final Cipher macEcb;  // MAC chain, initialised with K1 in macBegin
    private final Cipher cbc;

    public Des3() {
        work = JCSystem.makeTransientByteArray(W_LEN, JCSystem.CLEAR_ON_DESELECT);
        key3 = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES3_2KEY, false);
        key1 = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES, false);
        key2 = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES, false);
        ecb = Cipher.getInstance(Cipher.ALG_DES_ECB_NOPAD, false);
        macEcb = Cipher.getInstance(Cipher.ALG_DES_ECB_NOPAD, false);
        cbc = Cipher.getInstance(Cipher.ALG_DES_CBC_NOPAD, false);
    }

    /** Working key := {@code k[off..off+16)}. */
    public void setKey(byte[] k, short off) {
        Util.arrayCopyNonAtomic(k, off, work, W_KEY, KEY_LEN);
        loadWorkingKey();
    }

    /** Working key := the value of a 16-byte DES key object. */
    public void setKey(DESKey k) {
        k.getKey(work, W_KEY);
        loadWorkingKey();
    }

    private void loadWorkingKey() {
        key3.setKey(work, W_KEY);
        key1.setKey(work, W_KEY);
        key2.setKey(work, (short) (W_KEY + BLOCK));
    }

    /** Forget the working key and any MAC state. */
    public void clear() {
        Util.arrayFillNonAtomic(work, (short) 0, W_LEN, (byte) 0);
        key3.clearKey();
        key1.clearKey();
        key2.clearKey();
    }

    public void encryptBlock(byte[] in, short inOff, byte[] out, short outOff) {
        ecb.init(key3, Cipher.MODE_ENCRYPT);
        ecb.doFinal(in, inOff, BLOCK, out, outOff);
    }

    public void decryptBlock(byte[] in, short inOff, byte[] out, short outOff) {
        ecb.init(key3, Cipher.MODE_DECRYPT);
        ecb.doFinal(in, inOff, BLOCK, out, outOff);
    }

    /** 3DES-CBC with a zero IV; {@code len} must be a multiple of 8. */
    public void cbcEncrypt(byte[] in, short inOff, short len, byte[] out, short outOff) {
        cbc.init(key3, Cipher.MODE_ENCRYPT);
        cbc.doFinal(in, inOff, len, out, outOff);
    }

    /** 3DES-CBC decryption with a zero IV; {@code len} must be a multiple of 8. */
    public void cbcDecrypt(byte[] in, short inOff, short len, byte[] out, short outOff) {
        cbc.init(key3, Cipher.MODE_DECRYPT);
        cbc.doFinal(in, inOff, len, out, outOff);
    }

    /**
     * EMVA(K, D) of SPEC 1.1 with K the working key: {@code 3DES_K(D) || 3DES_K(D xor FF..FF)},
     * every byte set to odd parity. {@code out} may be the caller's scratch (16 bytes); it must
     * not overlap {@code d}.
     */
    public void diversify(byte[] d, short dOff, byte[] out, short outOff) {
        ecb.init(key3, Cipher.MODE_ENCRYPT);
        Util.arrayCopyNonAtomic(d, dOff, work, W_BLOCK, BLOCK);
        ecb.doFinal(work, W_BLOCK, BLOCK, out, outOff);
        for (short i = 0; i < BLOCK; i++) {
            work[(short) (W_BLOCK + i)] = (byte) ~work[(short) (W_BLOCK + i)];
        }
        ecb.doFinal(work, W_BLOCK, BLOCK, out, (short) (outOff + BLOCK));
        for (short i = 0; i < KEY_LEN; i++) {
            out[(short) (outOff + i)] = oddParity(out[(short) (outOff + i)]);
        }
    }

    /**
     * Session key of SPEC 1.3: {@code EMVA(K, RND(4) || CTR(2) || TT || X)} with K the working
     * key. The working key is left unchanged; load the result with {@link #setKey(byte[], short)}.
     */
    public void sessionKey(byte[] rnd, short rndOff, byte[] ctr, short ctrOff, byte tt, byte x,
                           byte[] out, short outOff) {
        Util.arrayCopyNonAtomic(rnd, rndOff, work, W_BLOCK2, (short) 4);
        Util.arrayCopyNonAtomic(ctr, ctrOff, work, (short) (W_BLOCK2 + 4), (short) 2);
        work[(short) (W_BLOCK2 + 6)] = tt;
        work[(short) (W_BLOCK2 + 7)] = x;
        diversify(work, W_BLOCK2, out, outOff);
    }

    /** Sets bit 0 so that the byte has an odd number of one bits. */
    private static byte oddParity(byte b) {
        short ones = 0;
        for (short bit = 1; bit < 8; bit++) {
            ones += (short) ((b >> bit) & 1);
        }
        return (byte) ((b & 0xFE) | ((ones & 1) == 0 ? 1 : 0));
    }

    // ---- ISO/IEC 9797-1 MAC algorithm 3, padding method 2 -------------------------------------

    public void macBegin() {
        Util.arrayFillNonAtomic(work, W_MAC_STATE, (short) 16, (byte) 0);
        work[W_MAC_PART_LEN] = 0;
        macEcb.init(key1, Cipher.MODE_ENCRYPT);
    }

    public void macByte(byte b) {
        short n = work[W_MAC_PART_LEN];
        work[(short) (W_MAC_PART + n)] = b;
        n++;
        if (n == BLOCK) {
            macChain();
            n = 0;
        }
        work[W_MAC_PART_LEN] = (byte) n;
    }

    public void macUpdate(byte[] buf, short off, short len) {
        short n = work[W_MAC_PART_LEN];
        while (len > 0) {
            short take = (short) (BLOCK - n);
            if (take > len) {
                take = len;
            }
            Util.arrayCopyNonAtomic(buf, off, work, (short) (W_MAC_PART + n), take);
            off += take;
            len -= take;
            n += take;
            if (n == BLOCK) {
                macChain();
                n = 0;
            }
        }
        work[W_MAC_PART_LEN] = (byte) n;
    }

    /** state := DES_K1(state xor part). */
    private void macChain() {
        for (short i = 0; i < BLOCK; i++) {
            work[(short) (W_BLOCK + i)] =
                    (byte) (work[(short) (W_MAC_STATE + i)] ^ work[(short) (W_MAC_PART + i)]);
        }
        macEcb.doFinal(work, W_BLOCK, BLOCK, work, W_MAC_STATE);
    }

    /** Pads with 80 00.., finishes the chain and applies output transformation 3. */
    public void macFinal(byte[] out, short outOff) {
        short n = work[W_MAC_PART_LEN];
        work[(short) (W_MAC_PART + n)] = (byte) 0x80;
        n++;
        Util.arrayFillNonAtomic(work, (short) (W_MAC_PART + n), (short) (BLOCK - n), (byte) 0);
        macChain();
        work[W_MAC_PART_LEN] = 0;
        ecb.init(key2, Cipher.MODE_DECRYPT);
        ecb.doFinal(work, W_MAC_STATE, BLOCK, work, W_BLOCK);
        ecb.init(key1, Cipher.MODE_ENCRYPT);
        ecb.doFinal(work, W_BLOCK, BLOCK, out, outOff);
    }

    public void mac(byte[] msg, short off, short len, byte[] out, short outOff) {
        macBegin();
        macUpdate(msg, off, len);
        macFinal(out, outOff);
    }

    /** MAC over {@code msg} compared in constant time with the 8 bytes at {@code mac[macOff]}. */
    public boolean macVerify(byte[] msg, short off, short len, byte[] mac, short macOff) {
        macBegin();
        macUpdate(msg, off, len);
        return macFinalVerify(mac, macOff);
    }

    /** Finishes the MAC in progress and compares it in constant time with {@code mac[macOff]}. */
    public boolean macFinalVerify(byte[] mac, short macOff) {
        macFinal(work, W_BLOCK2);
        boolean same = equalsConstantTime(work, W_BLOCK2, mac, macOff, BLOCK);
        Util.arrayFillNonAtomic(work, W_BLOCK2, BLOCK, (byte) 0);
        return same;
    }

    /** First 3 bytes of 3DES_K(00..00). */
    public void kcv(byte[] out, short outOff) {
        Util.arrayFillNonAtomic(work, W_BLOCK, BLOCK, (byte) 0);
        encryptBlock(work, W_BLOCK, work, W_BLOCK2);
        Util.arrayCopyNonAtomic(work, W_BLOCK2, out, outOff, (short) 3);
    }

    /** Compares all {@code len} bytes without an early exit. */
    public static boolean equalsConstantTime(byte[] a, short aOff, byte[] b, short bOff, short len) {
        byte diff = 0;
        for (short i = 0; i < len; i++) {
            diff |= (byte) (a[(short) (aOff + i)] ^ b[(short) (bOff + i)]);
        }
        return diff == 0;
    }

    /**
     * Length of the data in {@code buf[off..off+len)} before ISO/IEC 9797-1 padding method 2
     * ({@code 80 00..}, 1 to 8 bytes, ending the last block), or -1 if the padding is malformed.
     */
    public static short unpadMethod2(byte[] buf, short off, short len) {
        short i = (short) (off + len - 1);
        short stop = (short) (off + len - BLOCK);
        if (stop < off) {
            stop = off;
        }
        while (i >= stop) {
            byte b = buf[i];
            if (b == (byte) 0x80) {
                return (short) (i - off);
            }
            if (b != 0) {
                return -1;
            }
            i--;
        }
        return -1;
    }
}
