package epurse.transfer;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.DESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * The transfer card's 3DES primitives (SPEC 1.1, 1.3): retail MAC, EMVA diversification and
 * session keys, 3DES-CBC decryption of the personalisation data.
 *
 * Key material that lives only for one command (session keys) sits in transient key objects;
 * every cipher and key object is allocated once, in the constructor.
 */
final class TransferCrypto {
    static final short BLOCK = 8;
    static final short KEY_LENGTH = 16;

    private final Cipher desCbc;
    private final Cipher desEcb;
    /** Working single-DES halves of a session MAC key. */
    private final DESKey sessionK1;
    private final DESKey sessionK2;
    /** Working two-key 3DES session key (personalisation decryption). */
    private final DESKey session3Des;
    /** One 8-byte block of scratch for EMVA (D xor FF..FF). */
    private final byte[] block;

    TransferCrypto() {
        desCbc = Cipher.getInstance(Cipher.ALG_DES_CBC_NOPAD, false);
        desEcb = Cipher.getInstance(Cipher.ALG_DES_ECB_NOPAD, false);
        sessionK1 = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES, false);
        sessionK2 = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES, false);
        session3Des = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES_TRANSIENT_DESELECT,
                KeyBuilder.LENGTH_DES3_2KEY, false);
        block = JCSystem.makeTransientByteArray(BLOCK, JCSystem.CLEAR_ON_DESELECT);
    }

    /**
     * Padding method 2: appends 80 and zeros up to a multiple of 8 (always at least one byte).
     * The caller's buffer needs up to 8 spare bytes after the message. Returns the padded length.
     */
    static short padM2(byte[] buf, short off, short len) {
        short padded = (short) ((short) (len + BLOCK) & (short) ~(BLOCK - 1));
        buf[(short) (off + len)] = (byte) 0x80;
        Util.arrayFillNonAtomic(buf, (short) (off + len + 1), (short) (padded - len - 1), (byte) 0);
        return padded;
    }

    /**
     * MAC(K, M) of SPEC 1.1: ISO 9797-1 algorithm 3, padding method 2, IV zero, 8-byte output.
     * K is given as its two single-DES halves. The message at {@code msg[off..off+len)} is padded
     * and then overwritten by the CBC chain (it needs 8 spare bytes after it).
     */
    void retailMac(DESKey k1, DESKey k2, byte[] msg, short off, short len, byte[] out, short outOff) {
        short padded = padM2(msg, off, len);
        desCbc.init(k1, Cipher.MODE_ENCRYPT);
        // In place (same array, same offset) is allowed by the Cipher contract.
        desCbc.doFinal(msg, off, padded, msg, off);
        short last = (short) (off + padded - BLOCK);
        desEcb.init(k2, Cipher.MODE_DECRYPT);
        desEcb.doFinal(msg, last, BLOCK, out, outOff);
        desEcb.init(k1, Cipher.MODE_ENCRYPT);
        desEcb.doFinal(out, outOff, BLOCK, out, outOff);
    }

    /** MAC under a 16-byte key given as raw bytes (a session key just derived). */
    void retailMac(byte[] key, short keyOff, byte[] msg, short off, short len, byte[] out, short outOff) {
        sessionK1.setKey(key, keyOff);
        sessionK2.setKey(key, (short) (keyOff + BLOCK));
        retailMac(sessionK1, sessionK2, msg, off, len, out, outOff);
        sessionK1.clearKey();
        sessionK2.clearKey();
    }

    /**
     * EMVA(K, D) of SPEC 1.1: {@code 3DES_K(D) || 3DES_K(D xor FF..FF)}, odd parity.
     * Writes 16 bytes at {@code out[outOff]}; {@code out} must not overlap D.
     */
    void emva(DESKey master, byte[] d, short dOff, byte[] out, short outOff) {
        desEcb.init(master, Cipher.MODE_ENCRYPT);
        desEcb.doFinal(d, dOff, BLOCK, out, outOff);
        for (short i = 0; i < BLOCK; i++) {
            block[i] = (byte) ~d[(short) (dOff + i)];
        }
        desEcb.doFinal(block, (short) 0, BLOCK, out, (short) (outOff + BLOCK));
        setOddParity(out, outOff, KEY_LENGTH);
    }

    /**
     * Session key of SPEC 1.3 for personalisation: {@code EMVA(K_TRANSPORT, RND || 00 00 || TT || 00)}.
     * {@code d} is 8 bytes of scratch for the diversification data.
     */
    void persoSessionKey(DESKey transport, byte[] rnd, short rndOff, byte tt,
                         byte[] d, short dOff, byte[] out, short outOff) {
        Util.arrayCopyNonAtomic(rnd, rndOff, d, dOff, (short) 4);
        d[(short) (dOff + 4)] = 0;
        d[(short) (dOff + 5)] = 0;
        d[(short) (dOff + 6)] = tt;
        d[(short) (dOff + 7)] = 0;
        emva(transport, d, dOff, out, outOff);
    }

    /** 3DES-CBC decryption, IV zero, under a 16-byte key given as raw bytes. */
    void cbcDecrypt(byte[] key, short keyOff, byte[] in, short inOff, short len, byte[] out, short outOff) {
        session3Des.setKey(key, keyOff);
        desCbc.init(session3Des, Cipher.MODE_DECRYPT);
        desCbc.doFinal(in, inOff, len, out, outOff);
        session3Des.clearKey();
    }

    /** Constant-time comparison of two 8-byte MACs: every byte is looked at. */
    static boolean macEquals(byte[] a, short aOff, byte[] b, short bOff) {
        byte diff = 0;
        for (short i = 0; i < BLOCK; i++) {
            diff |= (byte) (a[(short) (aOff + i)] ^ b[(short) (bOff + i)]);
        }
        return diff == 0;
    }

    /** Sets bit 0 of every byte so that each byte has an odd number of one bits. */
    static void setOddParity(byte[] buf, short off, short len) {
        for (short i = off; i < (short) (off + len); i++) {
            byte v = buf[i];
            byte ones = 0;
            for (short bit = 1; bit < 8; bit++) {
                ones += (byte) ((v >> bit) & 1);
            }
            buf[i] = (byte) ((v & 0xFE) | ((ones & 1) == 0 ? 1 : 0));
        }
    }
}
