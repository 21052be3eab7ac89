package epurse.purse;

import epurse.common.Bcd;
import epurse.common.Des3;
import epurse.common.Perso;
import epurse.common.StatusWords;
import epurse.common.U32;
import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.RandomData;

/**
 * The epurse purse applet (SPEC sections 2, 4 and 5): an e-Cash and a Food-Voucher purse with
 * connected and unconnected loads, purchases against a SAM, a transaction log with TACs,
 * a cardholder PIN and issuer commands.
 *
 * <p>One dispatcher ({@link #process}) with named {@code INS_*} constants; persistent state in
 * {@link PurseState}, session state and scratch in {@link PurseSession}, the contract's crypto
 * in {@link PurseCrypto}. Every allocation happens in the constructor. Balance, counter and log
 * change inside one Java Card transaction, prepared completely (MACs, TAC, record) before it
 * opens. Every exception leaves as a contract status word: ISOExceptions keep theirs, anything
 * else aborts an open transaction and becomes {@code 6F00}.
 *
 * <p>Install parameter: the 16-byte transport key (default {@code 40..4F}).
 */
public class PurseApplet extends Applet {

    // ---- class bytes
    static final byte CLA_ISO = (byte) 0x00;
    static final byte CLA_PURSE = (byte) 0x80;
    static final byte CLA_ISSUER = (byte) 0x84;

    // ---- instructions (SPEC 2.4)
    static final byte INS_SELECT = (byte) 0xA4;
    static final byte INS_GET_STATUS = (byte) 0x5E;
    static final byte INS_READ_LOG = (byte) 0x5C;
    static final byte INS_INITIALIZE_LOAD = (byte) 0x50;
    static final byte INS_CREDIT_LOAD = (byte) 0x52;
    static final byte INS_INITIALIZE_PURCHASE = (byte) 0x54;
    static final byte INS_DEBIT_PURCHASE = (byte) 0x56;
    static final byte INS_GET_TRANSACTION_PROOF = (byte) 0x5A;
    static final byte INS_UNCONNECTED_LOAD = (byte) 0x58;
    static final byte INS_VERIFY_PIN = (byte) 0x20;
    static final byte INS_CHANGE_PIN = (byte) 0x24;
    static final byte INS_GET_CHALLENGE = (byte) 0x84;
    static final byte INS_PERSONALIZE = (byte) 0x60;
    static final byte INS_APPLICATION_BLOCK = (byte) 0x1E;
    static final byte INS_APPLICATION_UNBLOCK = (byte) 0x18;
    static final byte INS_PIN_UNBLOCK = (byte) 0x24;
    static final byte INS_SET_LIMITS = (byte) 0x72;

    // ---- fixed values
    private static final byte VERSION_MAJOR = (byte) 0x01;
    private static final byte VERSION_MINOR = (byte) 0x00;
    private static final byte ALG_3DES_RETAIL_MAC = (byte) 0x01;
    private static final short COUNTER_MAX = (short) 0xFFFF;
    private static final byte PIN_P2 = (byte) 0x80;
    private static final byte FLAG_PIN_VERIFIED = (byte) 0x01;

    private static final byte CAP_ECASH = (byte) 0x01;
    private static final byte CAP_FOOD = (byte) 0x02;
    private static final byte CAP_UNCONNECTED = (byte) 0x04;
    private static final byte CAP_PIN = (byte) 0x08;

    // ---- command data lengths
    private static final short LC_INITIALIZE_LOAD = 0x0E;
    private static final short LC_CREDIT_LOAD = 0x0F;
    private static final short LC_INITIALIZE_PURCHASE = 0x0A;
    private static final short LC_DEBIT_PURCHASE = 0x15;
    private static final short LC_PROOF = 0x02;
    private static final short LC_UNCONNECTED_LOAD = 0x13;
    private static final short LC_PINBLOCK = 0x08;
    private static final short LC_CHANGE_PIN = 0x10;
    private static final short LC_PERSONALIZE = 0x88;
    private static final short LC_MAC_ONLY = 0x08;
    private static final short LC_PIN_UNBLOCK_NEW = 0x10;
    private static final short LC_SET_LIMITS = 0x20;

    // ---- personalisation data (SPEC 2.13)
    private static final short PD_SERIAL = 0;
    private static final short PD_KV = 8;
    private static final short PD_K_LOAD = 9;
    private static final short PD_K_PURCHASE = 25;
    private static final short PD_K_TAC = 41;
    private static final short PD_K_ADMIN = 57;
    private static final short PD_LIMITS = 73;
    private static final short PD_PINBLOCK = 97;
    private static final short PD_PIN_LIMIT = 105;
    private static final short PD_UC_LIMIT = 106;
    private static final short PD_MCC_COUNT = 107;
    private static final short PD_MCCS = 108;
    private static final short PD_LEN = 124;

    // ---- LIMITS (SPEC 2.11)
    private static final short L_ECASH_MAX_BALANCE = 0;
    private static final short L_ECASH_MAX_AMOUNT = 4;
    private static final short L_FOOD_MAX_BALANCE = 8;
    private static final short L_FOOD_MAX_AMOUNT = 12;
    private static final short L_NO_PIN_LIMIT = 16;
    private static final short L_UC_MAX = 20;

    private static final byte[] DEFAULT_TRANSPORT_KEY = {
        (byte) 0x40, (byte) 0x41, (byte) 0x42, (byte) 0x43, (byte) 0x44, (byte) 0x45, (byte) 0x46, (byte) 0x47,
        (byte) 0x48, (byte) 0x49, (byte) 0x4A, (byte) 0x4B, (byte) 0x4C, (byte) 0x4D, (byte) 0x4E, (byte) 0x4F,
    };

    final PurseState state;
    final PurseSession session;
    private final PurseCrypto crypto;
    private final RandomData random;

    protected PurseApplet(byte[] transportKey, short keyOff) {
        state = new PurseState(transportKey, keyOff);
        session = new PurseSession();
        crypto = new PurseCrypto(state, session);
        random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
    }

    /**
     * GlobalPlatform install: {@code bArray} holds {@code Li AID Lc C La A}; A, the applet
     * parameters, is the 16-byte transport key or empty (default key).
     */
    public static void install(byte[] bArray, short bOffset, byte bLength) {
        short off = bOffset;
        short aidLen = (short) (bArray[off] & 0xFF);
        short aidOff = (short) (off + 1);
        off = (short) (aidOff + aidLen);
        off = (short) (off + 1 + (bArray[off] & 0xFF));   // skip control info
        short paramLen = (short) (bArray[off] & 0xFF);
        off++;
        PurseApplet applet;
        if (paramLen == 0) {
            applet = new PurseApplet(DEFAULT_TRANSPORT_KEY, (short) 0);
        } else if (paramLen == 16) {
            applet = new PurseApplet(bArray, off);
        } else {
            ISOException.throwIt(StatusWords.BAD_DATA);
            return;
        }
        applet.register(bArray, aidOff, (byte) aidLen);
    }

    /** Draws the 4-byte card random of a transaction or challenge. Tests override this. */
    protected void cardRandom(byte[] buf, short off) {
        random.generateData(buf, off, (short) 4);
    }

    // ---- transactions: overridable so tests can model rollback and tear (jCardSim has none)

    protected void beginTransaction() {
        JCSystem.beginTransaction();
    }

    protected void commitTransaction() {
        JCSystem.commitTransaction();
    }

    protected void abortTransaction() {
        if (JCSystem.getTransactionDepth() != 0) {
            JCSystem.abortTransaction();
        }
    }

    public boolean select() {
        session.clear();
        return true;
    }

    public void deselect() {
        session.clear();
        crypto.des().clear();
    }

    public void process(APDU apdu) {
        try {
            if (selectingApplet()) {
                session.clear();
                processSelect(apdu);
                return;
            }
            dispatch(apdu, session.takeExpectation());
        } catch (ISOException e) {
            abortTransaction();
            ISOException.throwIt(e.getReason());
        } catch (Exception e) {
            abortTransaction();
            ISOException.throwIt(StatusWords.INTERNAL);
        }
    }

    private void dispatch(APDU apdu, byte expected) {
        byte[] buf = apdu.getBuffer();
        byte cla = buf[ISO7816.OFFSET_CLA];
        byte ins = buf[ISO7816.OFFSET_INS];
        if (cla == CLA_ISO) {
            switch (ins) {
                case INS_VERIFY_PIN:
                    verifyPin(apdu);
                    return;
                case INS_CHANGE_PIN:
                    changePin(apdu);
                    return;
                case INS_GET_CHALLENGE:
                    getChallenge(apdu);
                    return;
                case INS_SELECT:
                    // a SELECT the runtime forwarded: no applet has that AID
                    ISOException.throwIt(buf[ISO7816.OFFSET_P1] == (byte) 0x04
                            ? StatusWords.FILE_NOT_FOUND : StatusWords.BAD_P1P2);
                    return;
                default:
                    break;
            }
        } else if (cla == CLA_PURSE) {
            switch (ins) {
                case INS_GET_STATUS:
                    getStatus(apdu);
                    return;
                case INS_READ_LOG:
                    readLog(apdu);
                    return;
                case INS_INITIALIZE_LOAD:
                    initializeLoad(apdu);
                    return;
                case INS_CREDIT_LOAD:
                    creditLoad(apdu, expected);
                    return;
                case INS_INITIALIZE_PURCHASE:
                    initializePurchase(apdu);
                    return;
                case INS_DEBIT_PURCHASE:
                    debitPurchase(apdu, expected);
                    return;
                case INS_GET_TRANSACTION_PROOF:
                    getTransactionProof(apdu);
                    return;
                case INS_UNCONNECTED_LOAD:
                    unconnectedLoad(apdu);
                    return;
                default:
                    break;
            }
        } else if (cla == CLA_ISSUER) {
            switch (ins) {
                case INS_PERSONALIZE:
                    personalize(apdu, expected);
                    return;
                case INS_APPLICATION_BLOCK:
                case INS_APPLICATION_UNBLOCK:
                case INS_PIN_UNBLOCK:
                case INS_SET_LIMITS:
                    issuerCommand(apdu, expected);
                    return;
                default:
                    break;
            }
        }
        // SPEC 5: an unknown instruction is 6D00 whatever the class; a known instruction under
        // the wrong class is a class error
        ISOException.throwIt(isKnownInstruction(ins) ? StatusWords.BAD_CLA : StatusWords.BAD_INS);
    }

    private static boolean isKnownInstruction(byte ins) {
        switch (ins) {
            case INS_GET_STATUS:
            case INS_READ_LOG:
            case INS_INITIALIZE_LOAD:
            case INS_CREDIT_LOAD:
            case INS_INITIALIZE_PURCHASE:
            case INS_DEBIT_PURCHASE:
            case INS_GET_TRANSACTION_PROOF:
            case INS_UNCONNECTED_LOAD:
            case INS_VERIFY_PIN:
            case INS_CHANGE_PIN:  // also INS_PIN_UNBLOCK
            case INS_GET_CHALLENGE:
            case INS_PERSONALIZE:
            case INS_APPLICATION_BLOCK:
            case INS_APPLICATION_UNBLOCK:
            case INS_SET_LIMITS:
            case INS_SELECT:
                return true;
            default:
                return false;
        }
    }

    /**
     * Receives exactly {@code expected} data bytes to OFFSET_CDATA, else 6700. Lc is read from
     * P3 before anything is received: under T=0 a card cannot tell Lc from Le, so commands
     * without data do not call this and do not police P3.
     */
    private static void receiveExactly(APDU apdu, short expected) {
        byte[] buf = apdu.getBuffer();
        if ((short) (buf[ISO7816.OFFSET_LC] & 0xFF) != expected) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short got = apdu.setIncomingAndReceive();
        short total = got;
        while (got > 0 && total < expected) {
            got = apdu.receiveBytes((short) (ISO7816.OFFSET_CDATA + total));
            total += got;
        }
        if (total != expected) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
    }

    /** Purse block offset for P1, or 6A86. */
    private static short purseFromP1(byte p1) {
        short block = PurseState.purseBlock(p1);
        if (block < 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        return block;
    }

    /** ACTIVE only: 9303 when BLOCKED, 6985 when BLANK. */
    private void requireActive() {
        byte lc = state.lifecycle();
        if (lc == PurseState.BLOCKED) {
            ISOException.throwIt(StatusWords.CARD_BLOCKED);
        }
        if (lc != PurseState.ACTIVE) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
    }

    /** ACTIVE or BLOCKED: 6985 when BLANK. */
    private void requirePersonalised() {
        if (state.lifecycle() == PurseState.BLANK) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
    }

    private static void requireP1P2(byte[] buf, byte p1, byte p2) {
        if (buf[ISO7816.OFFSET_P1] != p1 || buf[ISO7816.OFFSET_P2] != p2) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
    }

    /** P2 of the INITIALIZE commands: 00 or the card's key version, else 9403. */
    private void requireKeyVersion(byte p2) {
        if (p2 != 0 && p2 != state.status[PurseState.KV]) {
            ISOException.throwIt(StatusWords.KEY_VERSION);
        }
    }

    // ================================================================= SELECT / status / log

    private void processSelect(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        boolean blank = state.lifecycle() == PurseState.BLANK;
        // 6F L { 84 len AID, A5 L { C1 .. C5 } }; lengths patched once the AID length is known
        short o = 2;
        buf[o++] = (byte) 0x84;
        short aidLen = JCSystem.getAID().getBytes(buf, (short) (o + 1));
        buf[o++] = (byte) aidLen;
        o = (short) (o + aidLen);
        buf[o++] = (byte) 0xA5;
        short propLenOff = o++;
        buf[o++] = (byte) 0xC1;
        buf[o++] = (byte) 0x08;
        o = Util.arrayCopyNonAtomic(st, PurseState.SERIAL, buf, o, (short) 8);
        buf[o++] = (byte) 0xC2;
        buf[o++] = (byte) 0x02;
        buf[o++] = VERSION_MAJOR;
        buf[o++] = VERSION_MINOR;
        buf[o++] = (byte) 0xC3;
        buf[o++] = (byte) 0x01;
        buf[o++] = st[PurseState.LIFECYCLE];
        buf[o++] = (byte) 0xC4;
        buf[o++] = (byte) 0x01;
        byte caps = 0;
        if (!blank) {
            caps = (byte) (CAP_ECASH | CAP_FOOD | CAP_PIN);
            if (st[PurseState.UC_TRIES] != 0) {
                caps |= CAP_UNCONNECTED;
            }
        }
        buf[o++] = caps;
        buf[o++] = (byte) 0xC5;
        buf[o++] = (byte) 0x01;
        buf[o++] = st[PurseState.KV];
        buf[0] = (byte) 0x6F;
        buf[1] = (byte) (o - 2);
        buf[propLenOff] = (byte) (o - propLenOff - 1);
        apdu.setOutgoingAndSend((short) 0, o);
        if (state.lifecycle() == PurseState.BLOCKED) {
            ISOException.throwIt(StatusWords.SELECTED_BLOCKED);
        }
    }

    private void getStatus(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireP1P2(buf, (byte) 0, (byte) 0);
        Util.arrayCopyNonAtomic(state.status, (short) 0, buf, (short) 0, PurseState.STATUS_LEN);
        apdu.setOutgoingAndSend((short) 0, PurseState.STATUS_LEN);
    }

    private void readLog(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requirePersonalised();
        if (buf[ISO7816.OFFSET_P2] != 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        short index = (short) (buf[ISO7816.OFFSET_P1] & 0xFF);
        if (index >= state.logIndex[PurseState.LOG_COUNT]) {
            ISOException.throwIt(StatusWords.NO_RECORD);
        }
        Util.arrayCopyNonAtomic(state.log, state.logEntry(index), buf, (short) 0, (short) 40);
        apdu.setOutgoingAndSend((short) 0, (short) 40);
    }

    private void getTransactionProof(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requirePersonalised();
        byte purse = buf[ISO7816.OFFSET_P1];
        byte tt = buf[ISO7816.OFFSET_P2];
        purseFromP1(purse);
        if (tt != PurseCrypto.TT_LOAD && tt != PurseCrypto.TT_PURCHASE && tt != PurseCrypto.TT_UNCONNECTED) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        receiveExactly(apdu, LC_PROOF);
        byte[] log = state.log;
        short count = state.logIndex[PurseState.LOG_COUNT];
        for (short i = 0; i < count; i++) {
            short e = state.logEntry(i);
            if (log[(short) (e + PurseState.R_TT)] == tt && log[(short) (e + PurseState.R_PURSE)] == purse
                    && Util.arrayCompare(log, (short) (e + PurseState.R_CTR), buf, ISO7816.OFFSET_CDATA, (short) 2) == 0) {
                Util.arrayCopyNonAtomic(log, e, buf, (short) 0, PurseState.LOG_ENTRY_LEN);
                apdu.setOutgoingAndSend((short) 0, PurseState.LOG_ENTRY_LEN);
                return;
            }
        }
        ISOException.throwIt(StatusWords.NOT_FOUND);
    }

    // ================================================================= load

    /**
     * The checks INITIALIZE LOAD and UNCONNECTED LOAD share, in SPEC order: AMOUNT > 0 and the
     * expiry rule (6A80), then (after the caller's own amount limits) balance and counter.
     */
    private void checkLoadData(byte purse, byte[] buf, short amountOff, short expiryOff) {
        if (U32.isZero(buf, amountOff)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        boolean noExpiry = Bcd.isZero(buf, expiryOff, (short) 4);
        if (purse == PurseState.ECASH ? !noExpiry : (noExpiry || !Bcd.isValidDate(buf, expiryOff))) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
    }

    private void checkLoadHeadroom(short block, byte[] buf, short amountOff) {
        byte[] st = state.status;
        byte[] tmp = session.scratch;
        boolean carry = U32.add(st, (short) (block + PurseState.P_BALANCE), buf, amountOff, tmp, PurseSession.S_TMP);
        if (carry || U32.compare(tmp, PurseSession.S_TMP, st, (short) (block + PurseState.P_MAX_BALANCE)) > 0) {
            ISOException.throwIt(StatusWords.BALANCE_LIMIT);
        }
        if (state.loadCounter(block) == COUNTER_MAX) {
            ISOException.throwIt(StatusWords.COUNTER_EXHAUSTED);
        }
    }

    private void requireAmountAtMost(byte[] buf, short amountOff, byte[] limit, short limitOff) {
        if (U32.compare(buf, amountOff, limit, limitOff) > 0) {
            ISOException.throwIt(StatusWords.AMOUNT_LIMIT);
        }
    }

    private void initializeLoad(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        requireActive();
        byte purse = buf[ISO7816.OFFSET_P1];
        short block = purseFromP1(purse);
        requireKeyVersion(buf[ISO7816.OFFSET_P2]);
        receiveExactly(apdu, LC_INITIALIZE_LOAD);
        final short amountOff = ISO7816.OFFSET_CDATA;
        final short terminalOff = (short) (amountOff + 4);
        final short expiryOff = (short) (terminalOff + 6);
        checkLoadData(purse, buf, amountOff, expiryOff);
        requireAmountAtMost(buf, amountOff, st, (short) (block + PurseState.P_MAX_AMOUNT));
        checkLoadHeadroom(block, buf, amountOff);

        byte[] s = session.data;
        s[PurseSession.PURSE] = purse;
        Util.arrayCopyNonAtomic(buf, amountOff, s, PurseSession.AMOUNT, (short) 4);
        Util.arrayCopyNonAtomic(buf, terminalOff, s, PurseSession.TERMINAL, (short) 6);
        Util.arrayCopyNonAtomic(buf, expiryOff, s, PurseSession.EXPIRY, (short) 4);
        Util.setShort(s, PurseSession.CTR, (short) (state.loadCounter(block) + 1));
        cardRandom(s, PurseSession.RND);
        crypto.openSessionKey(PurseCrypto.TT_LOAD);

        // BAL(4) CTR(2) KV(1) ALG(1) RND(4) MAC1(8)
        Util.arrayCopyNonAtomic(st, (short) (block + PurseState.P_BALANCE), buf, (short) 0, (short) 4);
        Util.arrayCopyNonAtomic(s, PurseSession.CTR, buf, (short) 4, (short) 2);
        buf[6] = st[PurseState.KV];
        buf[7] = ALG_3DES_RETAIL_MAC;
        Util.arrayCopyNonAtomic(s, PurseSession.RND, buf, (short) 8, (short) 4);
        crypto.loadMac1(buf, (short) 0, buf, (short) 12);
        session.expect(PurseSession.EXPECT_CREDIT_LOAD);
        apdu.setOutgoingAndSend((short) 0, (short) 20);
    }

    private void creditLoad(APDU apdu, byte expected) {
        byte[] buf = apdu.getBuffer();
        byte[] s = session.data;
        requireActive();
        if (expected != PurseSession.EXPECT_CREDIT_LOAD) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        byte purse = s[PurseSession.PURSE];
        if (buf[ISO7816.OFFSET_P1] != purse || buf[ISO7816.OFFSET_P2] != 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        receiveExactly(apdu, LC_CREDIT_LOAD);
        final short dateTimeOff = ISO7816.OFFSET_CDATA;
        final short mac2Off = (short) (dateTimeOff + 7);
        if (!Bcd.isValidDateTime(buf, dateTimeOff)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        if (!crypto.loadMac2Verify(buf, dateTimeOff, buf, mac2Off)) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        short block = PurseState.purseBlock(purse);
        byte[] entry = session.scratch;
        buildRecord(PurseCrypto.TT_LOAD, block, s, PurseSession.TERMINAL, buf, dateTimeOff, (byte) 0);
        U32.add(state.status, (short) (block + PurseState.P_BALANCE), s, PurseSession.AMOUNT,
                entry, (short) (PurseSession.S_ENTRY + PurseState.R_BALANCE));
        crypto.tac(entry, PurseSession.S_ENTRY, entry, (short) (PurseSession.S_ENTRY + PurseState.LOG_TAC));

        commitLoad(block, purse == PurseState.FOOD);

        // BAL(4) TAC(8)
        Util.arrayCopyNonAtomic(entry, (short) (PurseSession.S_ENTRY + PurseState.R_BALANCE), buf, (short) 0, (short) 4);
        Util.arrayCopyNonAtomic(entry, (short) (PurseSession.S_ENTRY + PurseState.LOG_TAC), buf, (short) 4, (short) 8);
        apdu.setOutgoingAndSend((short) 0, (short) 12);
    }

    /**
     * Builds REC (SPEC 1.5) in the scratch entry from the session's PURSE, CTR and AMOUNT;
     * BALANCE is filled in by the caller. MAC2 of the entry is zeroed.
     */
    private void buildRecord(byte tt, short block, byte[] terminal, short terminalOff,
                             byte[] dateTime, short dateTimeOff, byte flags) {
        byte[] e = session.scratch;
        byte[] s = session.data;
        short r = PurseSession.S_ENTRY;
        Util.arrayFillNonAtomic(e, r, PurseState.LOG_ENTRY_LEN, (byte) 0);
        e[(short) (r + PurseState.R_TT)] = tt;
        e[(short) (r + PurseState.R_PURSE)] = s[PurseSession.PURSE];
        Util.arrayCopyNonAtomic(s, PurseSession.CTR, e, (short) (r + PurseState.R_CTR), (short) 2);
        Util.arrayCopyNonAtomic(s, PurseSession.AMOUNT, e, (short) (r + PurseState.R_AMOUNT), (short) 4);
        if (terminal != null) {
            Util.arrayCopyNonAtomic(terminal, terminalOff, e, (short) (r + PurseState.R_TERMINAL), (short) 6);
        }
        Util.arrayCopyNonAtomic(dateTime, dateTimeOff, e, (short) (r + PurseState.R_DATETIME), (short) 7);
        e[(short) (r + PurseState.R_FLAGS)] = flags;
    }

    /**
     * One transaction: balance := REC.BALANCE, load counter := CTR, food expiry := max(expiry,
     * loaded expiry), log += entry; for an unconnected load also UC attempts := UC_LIMIT.
     */
    private void commitLoad(short block, boolean food) {
        byte[] st = state.status;
        byte[] e = session.scratch;
        byte[] s = session.data;
        beginTransaction();
        Util.arrayCopy(e, (short) (PurseSession.S_ENTRY + PurseState.R_BALANCE), st,
                (short) (block + PurseState.P_BALANCE), (short) 4);
        transactionStep();
        Util.arrayCopy(s, PurseSession.CTR, st, (short) (block + PurseState.P_LOAD_CTR), (short) 2);
        if (food && U32.compare(s, PurseSession.EXPIRY, st, (short) (block + PurseState.P_EXPIRY)) > 0) {
            Util.arrayCopy(s, PurseSession.EXPIRY, st, (short) (block + PurseState.P_EXPIRY), (short) 4);
        }
        if (e[(short) (PurseSession.S_ENTRY + PurseState.R_TT)] == PurseCrypto.TT_UNCONNECTED) {
            st[PurseState.UC_TRIES] = st[PurseState.UC_LIMIT];
        }
        state.appendLog(e, PurseSession.S_ENTRY);
        commitTransaction();
    }

    /** Test seam inside every value transaction, after the balance is written. No-op on cards. */
    protected void transactionStep() {
    }

    private void unconnectedLoad(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        requireActive();
        byte purse = buf[ISO7816.OFFSET_P1];
        short block = purseFromP1(purse);
        if (buf[ISO7816.OFFSET_P2] != 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        if (st[PurseState.UC_TRIES] == 0) {
            ISOException.throwIt(StatusWords.UNCONNECTED_DISABLED);
        }
        receiveExactly(apdu, LC_UNCONNECTED_LOAD);
        final short amountOff = ISO7816.OFFSET_CDATA;
        final short expiryOff = (short) (amountOff + 4);
        final short dateTimeOff = (short) (expiryOff + 4);
        final short authOff = (short) (dateTimeOff + 7);
        checkLoadData(purse, buf, amountOff, expiryOff);
        if (!Bcd.isValidDateTime(buf, dateTimeOff)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        requireAmountAtMost(buf, amountOff, st, PurseState.UC_MAX);
        requireAmountAtMost(buf, amountOff, st, (short) (block + PurseState.P_MAX_AMOUNT));
        checkLoadHeadroom(block, buf, amountOff);

        byte[] s = session.data;
        byte[] t = session.scratch;
        s[PurseSession.PURSE] = purse;
        Util.arrayCopyNonAtomic(buf, amountOff, s, PurseSession.AMOUNT, (short) 4);
        Util.arrayCopyNonAtomic(buf, expiryOff, s, PurseSession.EXPIRY, (short) 4);
        Util.setShort(s, PurseSession.CTR, (short) (state.loadCounter(block) + 1));
        // S_TMP: code8(AUTH) at +0, code8(CONFIRM) at +4, MAC at +8
        crypto.unconnectedCodes(t, PurseSession.S_TMP, t, (short) (PurseSession.S_TMP + 4),
                t, PurseSession.S_KEY, t, (short) (PurseSession.S_TMP + 8));

        // one try used before the comparison, so pulling the card cannot save it
        byte left = (byte) (st[PurseState.UC_TRIES] - 1);
        beginTransaction();
        st[PurseState.UC_TRIES] = left;
        commitTransaction();
        if (!Des3.equalsConstantTime(t, PurseSession.S_TMP, buf, authOff, (short) 4)) {
            ISOException.throwIt((short) (StatusWords.WRONG_CODE | left));
        }
        Util.arrayCopyNonAtomic(t, (short) (PurseSession.S_TMP + 4), buf, (short) 4, (short) 4);

        buildRecord(PurseCrypto.TT_UNCONNECTED, block, null, (short) 0, buf, dateTimeOff, (byte) 0);
        U32.add(st, (short) (block + PurseState.P_BALANCE), s, PurseSession.AMOUNT,
                t, (short) (PurseSession.S_ENTRY + PurseState.R_BALANCE));
        crypto.tac(t, PurseSession.S_ENTRY, t, (short) (PurseSession.S_ENTRY + PurseState.LOG_TAC));
        commitLoad(block, purse == PurseState.FOOD);

        // BAL(4) CONFIRM(4)
        Util.arrayCopyNonAtomic(t, (short) (PurseSession.S_ENTRY + PurseState.R_BALANCE), buf, (short) 0, (short) 4);
        apdu.setOutgoingAndSend((short) 0, (short) 8);
    }

    // ================================================================= purchase

    private void initializePurchase(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        requireActive();
        byte purse = buf[ISO7816.OFFSET_P1];
        short block = purseFromP1(purse);
        requireKeyVersion(buf[ISO7816.OFFSET_P2]);
        receiveExactly(apdu, LC_INITIALIZE_PURCHASE);
        final short amountOff = ISO7816.OFFSET_CDATA;
        final short samIdOff = (short) (amountOff + 4);
        if (U32.isZero(buf, amountOff)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        requireAmountAtMost(buf, amountOff, st, (short) (block + PurseState.P_MAX_AMOUNT));
        if (U32.compare(buf, amountOff, st, (short) (block + PurseState.P_BALANCE)) > 0) {
            ISOException.throwIt(StatusWords.INSUFFICIENT_BALANCE);
        }
        if (state.purchaseCounter(block) == COUNTER_MAX) {
            ISOException.throwIt(StatusWords.COUNTER_EXHAUSTED);
        }
        if (U32.compare(buf, amountOff, st, PurseState.NO_PIN_LIMIT) > 0 && !session.pinVerified()) {
            ISOException.throwIt(st[PurseState.PIN_TRIES] == 0 ? StatusWords.PIN_BLOCKED : StatusWords.PIN_REQUIRED);
        }

        byte[] s = session.data;
        s[PurseSession.PURSE] = purse;
        Util.arrayCopyNonAtomic(buf, amountOff, s, PurseSession.AMOUNT, (short) 4);
        Util.arrayCopyNonAtomic(buf, samIdOff, s, PurseSession.TERMINAL, (short) 6);
        Util.setShort(s, PurseSession.CTR, (short) (state.purchaseCounter(block) + 1));
        cardRandom(s, PurseSession.RND);
        crypto.openSessionKey(PurseCrypto.TT_PURCHASE);

        // BAL(4) CTR(2) KV(1) ALG(1) RND(4)
        Util.arrayCopyNonAtomic(st, (short) (block + PurseState.P_BALANCE), buf, (short) 0, (short) 4);
        Util.arrayCopyNonAtomic(s, PurseSession.CTR, buf, (short) 4, (short) 2);
        buf[6] = st[PurseState.KV];
        buf[7] = ALG_3DES_RETAIL_MAC;
        Util.arrayCopyNonAtomic(s, PurseSession.RND, buf, (short) 8, (short) 4);
        session.expect(PurseSession.EXPECT_DEBIT_PURCHASE);
        apdu.setOutgoingAndSend((short) 0, (short) 12);
    }

    private void debitPurchase(APDU apdu, byte expected) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        byte[] s = session.data;
        requireActive();
        if (expected != PurseSession.EXPECT_DEBIT_PURCHASE) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        byte purse = s[PurseSession.PURSE];
        if (buf[ISO7816.OFFSET_P1] != purse || buf[ISO7816.OFFSET_P2] != 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        receiveExactly(apdu, LC_DEBIT_PURCHASE);
        final short samSeqOff = ISO7816.OFFSET_CDATA;
        final short dateTimeOff = (short) (samSeqOff + 4);
        final short mccOff = (short) (dateTimeOff + 7);
        final short mac1Off = (short) (mccOff + 2);
        if (!Bcd.isValidDateTime(buf, dateTimeOff) || !Bcd.isDigits(buf, mccOff, (short) 2)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        if (!crypto.purchaseMac1Verify(buf, samSeqOff, buf, mac1Off)) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        short block = PurseState.purseBlock(purse);
        if (purse == PurseState.FOOD) {
            if (!state.isFoodMerchant(buf, mccOff)) {
                ISOException.throwIt(StatusWords.CATEGORY_NOT_ALLOWED);
            }
            short expiryOff = (short) (block + PurseState.P_EXPIRY);
            if (Bcd.isZero(st, expiryOff, (short) 4)
                    || U32.compareBytes(buf, dateTimeOff, st, expiryOff, (short) 4) > 0) {
                ISOException.throwIt(StatusWords.VOUCHER_EXPIRED);
            }
        }

        byte[] e = session.scratch;
        short r = PurseSession.S_ENTRY;
        buildRecord(PurseCrypto.TT_PURCHASE, block, s, PurseSession.TERMINAL, buf, dateTimeOff,
                session.pinVerified() ? FLAG_PIN_VERIFIED : (byte) 0);
        if (U32.sub(st, (short) (block + PurseState.P_BALANCE), s, PurseSession.AMOUNT,
                e, (short) (r + PurseState.R_BALANCE))) {
            ISOException.throwIt(StatusWords.INSUFFICIENT_BALANCE);   // cannot happen: checked at INITIALIZE
        }
        Util.arrayCopyNonAtomic(buf, samSeqOff, e, (short) (r + PurseState.R_SAMSEQ), (short) 4);
        Util.arrayCopyNonAtomic(buf, mccOff, e, (short) (r + PurseState.R_MCC), (short) 2);
        crypto.purchaseMac2(e, (short) (r + PurseState.R_BALANCE), buf, samSeqOff, e, (short) (r + PurseState.LOG_MAC2));
        crypto.tac(e, r, e, (short) (r + PurseState.LOG_TAC));

        beginTransaction();
        Util.arrayCopy(e, (short) (r + PurseState.R_BALANCE), st, (short) (block + PurseState.P_BALANCE), (short) 4);
        transactionStep();
        Util.arrayCopy(s, PurseSession.CTR, st, (short) (block + PurseState.P_PURCHASE_CTR), (short) 2);
        state.appendLog(e, r);
        commitTransaction();

        // BAL(4) MAC2(8) TAC(8)
        Util.arrayCopyNonAtomic(e, (short) (r + PurseState.R_BALANCE), buf, (short) 0, (short) 4);
        Util.arrayCopyNonAtomic(e, (short) (r + PurseState.LOG_MAC2), buf, (short) 4, (short) 8);
        Util.arrayCopyNonAtomic(e, (short) (r + PurseState.LOG_TAC), buf, (short) 12, (short) 8);
        apdu.setOutgoingAndSend((short) 0, (short) 20);
    }

    // ================================================================= PIN

    /** ISO 9564 format 2: 2N, N = 4..8 BCD digits, F fill to 8 bytes. */
    static boolean isValidPinBlock(byte[] b, short off) {
        byte first = b[off];
        if ((first & 0xF0) != 0x20) {
            return false;
        }
        short n = (short) (first & 0x0F);
        if (n < 4 || n > 8) {
            return false;
        }
        for (short i = 0; i < 14; i++) {
            byte v = b[(short) (off + 1 + (i >> 1))];
            short nibble = (short) ((i & 1) == 0 ? (v >> 4) & 0x0F : v & 0x0F);
            if (i < n ? nibble > 9 : nibble != 0x0F) {
                return false;
            }
        }
        return true;
    }

    /**
     * Checks a PIN block against the stored PIN, using one try first (so a torn check still
     * costs it). Right: tries := limit, session verified. Wrong: session not verified, 63Cx.
     */
    private void checkPin(byte[] buf, short off) {
        byte[] st = state.status;
        byte left = (byte) (st[PurseState.PIN_TRIES] - 1);
        beginTransaction();
        st[PurseState.PIN_TRIES] = left;
        commitTransaction();
        if (!Des3.equalsConstantTime(state.pinBlock, (short) 0, buf, off, (short) 8)) {
            session.setPinVerified(false);
            ISOException.throwIt((short) (StatusWords.WRONG_CODE | left));
        }
        beginTransaction();
        st[PurseState.PIN_TRIES] = st[PurseState.PIN_LIMIT];
        commitTransaction();
        session.setPinVerified(true);
    }

    private void requirePinNotBlocked() {
        if (state.status[PurseState.PIN_TRIES] == 0) {
            ISOException.throwIt(StatusWords.PIN_BLOCKED);
        }
    }

    private void verifyPin(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        requireP1P2(buf, (byte) 0, PIN_P2);
        if (buf[ISO7816.OFFSET_LC] == 0) {
            // no PIN block: report whether the PIN is verified in this session
            if (session.pinVerified()) {
                return;
            }
            requirePinNotBlocked();
            ISOException.throwIt((short) (StatusWords.WRONG_CODE | state.status[PurseState.PIN_TRIES]));
        }
        receiveExactly(apdu, LC_PINBLOCK);
        requirePinNotBlocked();
        if (!isValidPinBlock(buf, ISO7816.OFFSET_CDATA)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        checkPin(buf, ISO7816.OFFSET_CDATA);
    }

    private void changePin(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        requireP1P2(buf, (byte) 0, PIN_P2);
        receiveExactly(apdu, LC_CHANGE_PIN);
        requirePinNotBlocked();
        final short newOff = (short) (ISO7816.OFFSET_CDATA + 8);
        if (!isValidPinBlock(buf, ISO7816.OFFSET_CDATA) || !isValidPinBlock(buf, newOff)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        checkPin(buf, ISO7816.OFFSET_CDATA);
        beginTransaction();
        Util.arrayCopy(buf, newOff, state.pinBlock, (short) 0, (short) 8);
        commitTransaction();
    }

    // ================================================================= issuer

    private void getChallenge(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireP1P2(buf, (byte) 0, (byte) 0);
        short le = apdu.setOutgoing();
        if (le != 4 && le != 256) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        cardRandom(session.data, PurseSession.RND);
        session.expect(PurseSession.EXPECT_ISSUER);
        Util.arrayCopyNonAtomic(session.data, PurseSession.RND, buf, (short) 0, (short) 4);
        apdu.setOutgoingLength((short) 4);
        apdu.sendBytes((short) 0, (short) 4);
    }

    /** SET LIMITS rule: each value at most 7FFFFFFF, MAX_AMOUNT at most MAX_BALANCE. */
    private static boolean isValidLimits(byte[] l, short off) {
        for (short i = 0; i < 24; i += 4) {
            if (!U32.isAtMost31Bits(l, (short) (off + i))) {
                return false;
            }
        }
        return U32.compare(l, (short) (off + L_ECASH_MAX_AMOUNT), l, (short) (off + L_ECASH_MAX_BALANCE)) <= 0
                && U32.compare(l, (short) (off + L_FOOD_MAX_AMOUNT), l, (short) (off + L_FOOD_MAX_BALANCE)) <= 0;
    }

    /** Stores LIMITS; inside the caller's transaction. */
    private void storeLimits(byte[] l, short off) {
        byte[] st = state.status;
        Util.arrayCopy(l, (short) (off + L_ECASH_MAX_BALANCE), st, (short) (PurseState.ECASH_BLOCK + PurseState.P_MAX_BALANCE), (short) 8);
        Util.arrayCopy(l, (short) (off + L_FOOD_MAX_BALANCE), st, (short) (PurseState.FOOD_BLOCK + PurseState.P_MAX_BALANCE), (short) 8);
        Util.arrayCopy(l, (short) (off + L_NO_PIN_LIMIT), st, PurseState.NO_PIN_LIMIT, (short) 4);
        Util.arrayCopy(l, (short) (off + L_UC_MAX), st, PurseState.UC_MAX, (short) 4);
    }

    private void issuerCommand(APDU apdu, byte expected) {
        byte[] buf = apdu.getBuffer();
        byte[] st = state.status;
        byte ins = buf[ISO7816.OFFSET_INS];
        byte p1 = buf[ISO7816.OFFSET_P1];
        byte p2 = buf[ISO7816.OFFSET_P2];
        requirePersonalised();
        if (expected != PurseSession.EXPECT_ISSUER) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        short dataLen = 0;   // command data before MAC_A
        switch (ins) {
            case INS_APPLICATION_BLOCK:
                requireP1P2(buf, (byte) 0, (byte) 0);
                break;
            case INS_APPLICATION_UNBLOCK:
                if ((p1 != 0 && p1 != 1) || p2 != 0) {
                    ISOException.throwIt(StatusWords.BAD_P1P2);
                }
                break;
            case INS_PIN_UNBLOCK:
                if (p1 != 0 || (p2 != 0 && p2 != 1)) {
                    ISOException.throwIt(StatusWords.BAD_P1P2);
                }
                dataLen = (short) (p2 == 1 ? 8 : 0);
                break;
            default: // INS_SET_LIMITS
                requireP1P2(buf, (byte) 0, (byte) 0);
                dataLen = 24;
                break;
        }
        receiveExactly(apdu, (short) (dataLen + 8));
        short actr = (short) (state.adminCounter() + 1);
        if (state.adminCounter() == COUNTER_MAX) {
            ISOException.throwIt(StatusWords.COUNTER_EXHAUSTED);
        }
        byte[] t = session.scratch;
        Util.setShort(t, PurseSession.S_TMP, actr);
        if (!crypto.adminMacVerify(buf, ISO7816.OFFSET_CDATA, dataLen, t, PurseSession.S_TMP, t, PurseSession.S_KEY)) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        short pinOff = (short) (PurseSession.S_TMP + 8);
        switch (ins) {
            case INS_APPLICATION_BLOCK:
                if (state.lifecycle() != PurseState.ACTIVE) {
                    ISOException.throwIt(StatusWords.CONDITIONS);
                }
                break;
            case INS_APPLICATION_UNBLOCK:
                if (p1 == 0 && state.lifecycle() != PurseState.BLOCKED) {
                    ISOException.throwIt(StatusWords.CONDITIONS);
                }
                break;
            case INS_PIN_UNBLOCK:
                if (p2 == 1) {
                    crypto.adminDecrypt(ins, t, PurseSession.S_TMP, buf, ISO7816.OFFSET_CDATA, t, pinOff,
                            t, PurseSession.S_KEY);
                    if (!isValidPinBlock(t, pinOff)) {
                        ISOException.throwIt(StatusWords.BAD_DATA);
                    }
                }
                break;
            default:
                if (!isValidLimits(buf, ISO7816.OFFSET_CDATA)) {
                    ISOException.throwIt(StatusWords.BAD_DATA);
                }
                break;
        }

        beginTransaction();
        Util.setShort(st, PurseState.ADMIN_CTR, actr);
        switch (ins) {
            case INS_APPLICATION_BLOCK:
                st[PurseState.LIFECYCLE] = PurseState.BLOCKED;
                break;
            case INS_APPLICATION_UNBLOCK:
                if (p1 == 0) {
                    st[PurseState.LIFECYCLE] = PurseState.ACTIVE;
                } else {
                    st[PurseState.UC_TRIES] = st[PurseState.UC_LIMIT];
                }
                break;
            case INS_PIN_UNBLOCK:
                st[PurseState.PIN_TRIES] = st[PurseState.PIN_LIMIT];
                if (p2 == 1) {
                    Util.arrayCopy(t, pinOff, state.pinBlock, (short) 0, (short) 8);
                }
                break;
            default:
                storeLimits(buf, ISO7816.OFFSET_CDATA);
                break;
        }
        commitTransaction();
        Util.arrayFillNonAtomic(t, PurseSession.S_TMP, (short) 16, (byte) 0);
    }

    private void personalize(APDU apdu, byte expected) {
        byte[] buf = apdu.getBuffer();
        if (state.lifecycle() != PurseState.BLANK || expected != PurseSession.EXPECT_ISSUER) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        requireP1P2(buf, (byte) 0, (byte) 0);
        receiveExactly(apdu, LC_PERSONALIZE);
        byte[] t = session.scratch;
        final short cLen = 128;
        short len = Perso.unwrap(crypto.des(), state.kTransport, session.data, PurseSession.RND,
                buf, ISO7816.OFFSET_CDATA, cLen, buf, (short) (ISO7816.OFFSET_CDATA + cLen),
                t, PurseSession.S_PD, t, PurseSession.S_KEY);
        if (len == Perso.BAD_MAC) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        short pd = PurseSession.S_PD;
        if (len != PD_LEN || !isValidPersoData(t, pd)) {
            Util.arrayFillNonAtomic(t, pd, cLen, (byte) 0);
            ISOException.throwIt(StatusWords.BAD_DATA);
        }

        byte[] st = state.status;
        beginTransaction();
        Util.arrayFillNonAtomic(st, (short) 0, PurseState.STATUS_LEN, (byte) 0);  // balances, counters, expiry 0
        Util.arrayCopy(t, (short) (pd + PD_SERIAL), st, PurseState.SERIAL, (short) 8);
        st[PurseState.KV] = t[(short) (pd + PD_KV)];
        state.kLoad.setKey(t, (short) (pd + PD_K_LOAD));
        state.kPurchase.setKey(t, (short) (pd + PD_K_PURCHASE));
        state.kTac.setKey(t, (short) (pd + PD_K_TAC));
        state.kAdmin.setKey(t, (short) (pd + PD_K_ADMIN));
        storeLimits(t, (short) (pd + PD_LIMITS));
        Util.arrayCopy(t, (short) (pd + PD_PINBLOCK), state.pinBlock, (short) 0, (short) 8);
        st[PurseState.PIN_LIMIT] = t[(short) (pd + PD_PIN_LIMIT)];
        st[PurseState.PIN_TRIES] = t[(short) (pd + PD_PIN_LIMIT)];
        st[PurseState.UC_LIMIT] = t[(short) (pd + PD_UC_LIMIT)];
        st[PurseState.UC_TRIES] = t[(short) (pd + PD_UC_LIMIT)];
        byte mccCount = t[(short) (pd + PD_MCC_COUNT)];
        st[PurseState.MCC_COUNT] = mccCount;
        Util.arrayCopy(t, (short) (pd + PD_MCCS), st, PurseState.MCCS, (short) (2 * mccCount));
        Util.arrayFillNonAtomic(state.logIndex, (short) 0, (short) 2, (byte) 0);
        st[PurseState.LIFECYCLE] = PurseState.ACTIVE;
        commitTransaction();
        Util.arrayFillNonAtomic(t, pd, cLen, (byte) 0);
    }

    private static boolean isValidPersoData(byte[] t, short pd) {
        byte kv = t[(short) (pd + PD_KV)];
        byte pinLimit = t[(short) (pd + PD_PIN_LIMIT)];
        byte ucLimit = t[(short) (pd + PD_UC_LIMIT)];
        byte mccCount = t[(short) (pd + PD_MCC_COUNT)];
        if (Bcd.isZero(t, (short) (pd + PD_SERIAL), (short) 8)
                || kv == 0 || kv == (byte) 0xFF
                || !isValidLimits(t, (short) (pd + PD_LIMITS))
                || !isValidPinBlock(t, (short) (pd + PD_PINBLOCK))
                || pinLimit < 1 || pinLimit > 15
                || ucLimit < 1 || ucLimit > 15
                || mccCount < 0 || mccCount > PurseState.MAX_MCCS) {
            return false;
        }
        // used slots hold 4 BCD digits, unused slots 00 00
        for (short i = 0; i < PurseState.MAX_MCCS; i++) {
            short slot = (short) (pd + PD_MCCS + 2 * i);
            if (i < mccCount ? !Bcd.isDigits(t, slot, (short) 2) : !Bcd.isZero(t, slot, (short) 2)) {
                return false;
            }
        }
        return true;
    }
}
