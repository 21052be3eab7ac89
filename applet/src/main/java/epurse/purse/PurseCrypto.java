package epurse.purse;

import epurse.common.Des3;
import epurse.common.U32;
import javacard.framework.Util;

/**
 * The purse's MACs, TACs and session keys (SPEC 1.3 - 1.9), built on {@link Des3}. Each method
 * names the contract formula it computes; messages are streamed into the MAC, never copied.
 */
final class PurseCrypto {

    static final byte TT_LOAD = (byte) 0x01;
    static final byte TT_PURCHASE = (byte) 0x02;
    static final byte TT_ADMIN = (byte) 0x03;
    static final byte TT_UNCONNECTED = (byte) 0x04;
    static final byte TT_ADMIN_ENC = (byte) 0x07;

    private static final byte TAG_LOAD_MAC1 = (byte) 0x11;
    private static final byte TAG_LOAD_MAC2 = (byte) 0x12;
    private static final byte TAG_TAC = (byte) 0x13;
    private static final byte TAG_PURCHASE_MAC1 = (byte) 0x21;
    private static final byte TAG_PURCHASE_MAC2 = (byte) 0x22;
    private static final byte TAG_UC_AUTH = (byte) 0x41;
    private static final byte TAG_UC_CONFIRM = (byte) 0x42;

    private final Des3 des;
    private final PurseState state;
    private final PurseSession session;
    /** RND of the unconnected session key (SPEC 1.3). */
    private static final byte[] NO_RANDOM = {0, 0, 0, 0};

    PurseCrypto(PurseState state, PurseSession session) {
        this.des = new Des3();
        this.state = state;
        this.session = session;
    }

    Des3 des() {
        return des;
    }

    /** session SK := EMVA(K_LOAD or K_PURCHASE, RND || CTR || TT || PURSE) from the session fields. */
    void openSessionKey(byte tt) {
        byte[] s = session.data;
        des.setKey(tt == TT_LOAD ? state.kLoad : state.kPurchase);
        des.sessionKey(s, PurseSession.RND, s, PurseSession.CTR, tt, s[PurseSession.PURSE],
                s, PurseSession.SK);
    }

    private void beginSessionMac(byte tag) {
        des.setKey(session.data, PurseSession.SK);
        des.macBegin();
        des.macByte(tag);
        des.macUpdate(state.status, PurseState.SERIAL, (short) 8);
        des.macByte(session.data[PurseSession.PURSE]);
        des.macUpdate(session.data, PurseSession.CTR, (short) 2);
    }

    /** Load MAC1 = MAC(SK_LOAD, 11 || SERIAL || PURSE || CTR || BAL || AMOUNT || TERMINAL || EXPIRY). */
    void loadMac1(byte[] bal, short balOff, byte[] out, short outOff) {
        beginSessionMac(TAG_LOAD_MAC1);
        des.macUpdate(bal, balOff, (short) 4);
        des.macUpdate(session.data, PurseSession.AMOUNT, (short) 4);
        des.macUpdate(session.data, PurseSession.TERMINAL, (short) 6);
        des.macUpdate(session.data, PurseSession.EXPIRY, (short) 4);
        des.macFinal(out, outOff);
    }

    /** Checks MAC2 = MAC(SK_LOAD, 12 || SERIAL || PURSE || CTR || AMOUNT || TERMINAL || EXPIRY || DATETIME). */
    boolean loadMac2Verify(byte[] dateTime, short dtOff, byte[] mac2, short macOff) {
        beginSessionMac(TAG_LOAD_MAC2);
        des.macUpdate(session.data, PurseSession.AMOUNT, (short) 4);
        des.macUpdate(session.data, PurseSession.TERMINAL, (short) 6);
        des.macUpdate(session.data, PurseSession.EXPIRY, (short) 4);
        des.macUpdate(dateTime, dtOff, (short) 7);
        return des.macFinalVerify(mac2, macOff);
    }

    /**
     * Checks purchase MAC1 = MAC(SK_PURCHASE, 21 || SERIAL || PURSE || CTR || AMOUNT || SAM_ID ||
     * SAMSEQ || DATETIME || MCC); {@code cmd[off..off+13)} is SAMSEQ || DATETIME || MCC.
     */
    boolean purchaseMac1Verify(byte[] cmd, short off, byte[] mac1, short macOff) {
        beginSessionMac(TAG_PURCHASE_MAC1);
        des.macUpdate(session.data, PurseSession.AMOUNT, (short) 4);
        des.macUpdate(session.data, PurseSession.TERMINAL, (short) 6);
        des.macUpdate(cmd, off, (short) 13);
        return des.macFinalVerify(mac1, macOff);
    }

    /** Purchase MAC2 = MAC(SK_PURCHASE, 22 || SERIAL || PURSE || CTR || AMOUNT || BALANCE_AFTER || SAMSEQ). */
    void purchaseMac2(byte[] balAfter, short balOff, byte[] samSeq, short seqOff, byte[] out, short outOff) {
        beginSessionMac(TAG_PURCHASE_MAC2);
        des.macUpdate(session.data, PurseSession.AMOUNT, (short) 4);
        des.macUpdate(balAfter, balOff, (short) 4);
        des.macUpdate(samSeq, seqOff, (short) 4);
        des.macFinal(out, outOff);
    }

    /** TAC = MAC(K_TAC, 13 || SERIAL || REC). */
    void tac(byte[] rec, short recOff, byte[] out, short outOff) {
        des.setKey(state.kTac);
        des.macBegin();
        des.macByte(TAG_TAC);
        des.macUpdate(state.status, PurseState.SERIAL, (short) 8);
        des.macUpdate(rec, recOff, PurseState.REC_LEN);
        des.macFinal(out, outOff);
    }

    /**
     * code8(AUTH) and code8(CONFIRM) of an unconnected load (SPEC 1.8), each as a u32, from the
     * session fields PURSE, CTR, AMOUNT, EXPIRY. {@code key} is 16 bytes of scratch.
     */
    void unconnectedCodes(byte[] auth, short authOff, byte[] confirm, short confirmOff,
                          byte[] key, short keyOff, byte[] mac, short macOff) {
        byte[] s = session.data;
        des.setKey(state.kLoad);
        des.sessionKey(NO_RANDOM, (short) 0, s, PurseSession.CTR, TT_UNCONNECTED, s[PurseSession.PURSE],
                key, keyOff);
        des.setKey(key, keyOff);
        Util.arrayFillNonAtomic(key, keyOff, (short) 16, (byte) 0);
        des.macBegin();
        des.macByte(TAG_UC_AUTH);
        des.macUpdate(state.status, PurseState.SERIAL, (short) 8);
        des.macByte(s[PurseSession.PURSE]);
        des.macUpdate(s, PurseSession.CTR, (short) 2);
        des.macUpdate(s, PurseSession.AMOUNT, (short) 4);
        des.macUpdate(s, PurseSession.EXPIRY, (short) 4);
        des.macFinal(mac, macOff);
        U32.mod100M(mac, macOff, auth, authOff);
        des.macBegin();
        des.macByte(TAG_UC_CONFIRM);
        des.macUpdate(state.status, PurseState.SERIAL, (short) 8);
        des.macByte(s[PurseSession.PURSE]);
        des.macUpdate(s, PurseSession.CTR, (short) 2);
        des.macUpdate(s, PurseSession.AMOUNT, (short) 4);
        des.macFinal(mac, macOff);
        U32.mod100M(mac, macOff, confirm, confirmOff);
        Util.arrayFillNonAtomic(mac, macOff, (short) 8, (byte) 0);
        des.clear();
    }

    /**
     * Checks MAC_A = MAC(SK_ADMIN, CLA || INS || P1 || P2 || DATA) (SPEC 1.9) with
     * SK_ADMIN = EMVA(K_ADMIN, challenge || ACTR || 03 || INS). {@code apdu[0..4)} is the header,
     * DATA is {@code apdu[dataOff..dataOff+dataLen)}, MAC_A follows it. {@code actr} is 2 bytes.
     */
    boolean adminMacVerify(byte[] apdu, short dataOff, short dataLen, byte[] actr, short actrOff,
                           byte[] key, short keyOff) {
        des.setKey(state.kAdmin);
        des.sessionKey(session.data, PurseSession.RND, actr, actrOff, TT_ADMIN, apdu[1], key, keyOff);
        des.setKey(key, keyOff);
        Util.arrayFillNonAtomic(key, keyOff, (short) 16, (byte) 0);
        des.macBegin();
        des.macUpdate(apdu, (short) 0, (short) 4);
        des.macUpdate(apdu, dataOff, dataLen);
        boolean ok = des.macFinalVerify(apdu, (short) (dataOff + dataLen));
        des.clear();
        return ok;
    }

    /** Decrypts one block with SK_ADMIN_ENC = EMVA(K_ADMIN, challenge || ACTR || 07 || INS). */
    void adminDecrypt(byte ins, byte[] actr, short actrOff, byte[] in, short inOff, byte[] out, short outOff,
                      byte[] key, short keyOff) {
        des.setKey(state.kAdmin);
        des.sessionKey(session.data, PurseSession.RND, actr, actrOff, TT_ADMIN_ENC, ins, key, keyOff);
        des.setKey(key, keyOff);
        Util.arrayFillNonAtomic(key, keyOff, (short) 16, (byte) 0);
        des.decryptBlock(in, inOff, out, outOff);
        des.clear();
    }
}
