package epurse.common;

import javacard.framework.Util;
import javacard.security.DESKey;

/**
 * Unwraps a PERSONALIZE command (SPEC 1.10), shared by the purse and the transfer applet.
 *
 * <pre>
 *   static short unwrap(Des3 des, DESKey transportKey, byte[] rnd, short rndOff,
 *                       byte[] c, short cOff, short cLen, byte[] macP, short macPOff,
 *                       byte[] out, short outOff, byte[] sk, short skOff)
 *       checks MAC_P = MAC(SK_PERSO_MAC, 84 60 00 00 || C) in constant time, then decrypts
 *       C with SK_PERSO_ENC (3DES-CBC, IV 0) into out[outOff..outOff+cLen) and strips
 *       padding method 2. Returns the length of PD, BAD_MAC or BAD_PADDING.
 *       rnd is the GET CHALLENGE random (4 bytes); sk is 16 bytes of caller scratch (it is
 *       wiped); cLen must be a non-zero multiple of 8. Leaves the working key of des unset.
 *   static final short BAD_MAC = -1, BAD_PADDING = -2
 * </pre>
 */
public final class Perso {

    public static final short BAD_MAC = (short) -1;
    public static final short BAD_PADDING = (short) -2;

    private static final byte TT_PERSO_MAC = (byte) 0x05;
    private static final byte TT_PERSO_ENC = (byte) 0x06;
    /** CTR of the personalisation session keys is 00 00 (SPEC 1.3). */
    private static final byte[] ZERO_CTR = {0, 0};

    private Perso() {
    }

    public static short unwrap(Des3 des, DESKey transportKey, byte[] rnd, short rndOff,
                               byte[] c, short cOff, short cLen, byte[] macP, short macPOff,
                               byte[] out, short outOff, byte[] sk, short skOff) {
        des.setKey(transportKey);
        des.sessionKey(rnd, rndOff, ZERO_CTR, (short) 0, TT_PERSO_MAC, (byte) 0, sk, skOff);
        des.setKey(sk, skOff);
        des.macBegin();
        des.macByte((byte) 0x84);
        des.macByte((byte) 0x60);
        des.macByte((byte) 0x00);
        des.macByte((byte) 0x00);
        des.macUpdate(c, cOff, cLen);
        boolean macOk = des.macFinalVerify(macP, macPOff);
        if (!macOk) {
            Util.arrayFillNonAtomic(sk, skOff, (short) 16, (byte) 0);
            des.clear();
            return BAD_MAC;
        }
        des.setKey(transportKey);
        des.sessionKey(rnd, rndOff, ZERO_CTR, (short) 0, TT_PERSO_ENC, (byte) 0, sk, skOff);
        des.setKey(sk, skOff);
        des.cbcDecrypt(c, cOff, cLen, out, outOff);
        Util.arrayFillNonAtomic(sk, skOff, (short) 16, (byte) 0);
        des.clear();
        short len = Des3.unpadMethod2(out, outOff, cLen);
        return len < 0 ? BAD_PADDING : len;
    }
}
