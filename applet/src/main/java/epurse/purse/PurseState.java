package epurse.purse;

import javacard.framework.Util;
import javacard.security.DESKey;
import javacard.security.KeyBuilder;

/**
 * Persistent state of the purse card (SPEC 2.2, 2.5, 1.5), allocated once at installation.
 *
 * <p>Most of it lives in {@link #status}, laid out exactly as the GET STATUS response, so GET
 * STATUS is one copy and every field has one named offset. Purse blocks inside it follow
 * {@code P_*}. Only {@link PurseApplet} writes here, and only inside a Java Card transaction.
 */
final class PurseState {

    // lifecycle states (SPEC 2.2)
    static final byte BLANK = (byte) 0x01;
    static final byte ACTIVE = (byte) 0x02;
    static final byte BLOCKED = (byte) 0x03;

    // purses
    static final byte ECASH = (byte) 0x01;
    static final byte FOOD = (byte) 0x02;

    // GET STATUS layout (SPEC 2.5)
    static final short LIFECYCLE = 0;
    static final short KV = 1;
    static final short PIN_TRIES = 2;
    static final short PIN_LIMIT = 3;
    static final short UC_TRIES = 4;
    static final short UC_LIMIT = 5;
    static final short ADMIN_CTR = 6;
    static final short NO_PIN_LIMIT = 8;
    static final short UC_MAX = 12;
    static final short ECASH_BLOCK = 16;
    static final short FOOD_BLOCK = 36;
    static final short MCC_COUNT = 56;
    static final short MCCS = 57;
    static final short SERIAL = 73;
    static final short STATUS_LEN = 81;

    // purse block layout, relative to ECASH_BLOCK / FOOD_BLOCK
    static final short P_BALANCE = 0;
    static final short P_LOAD_CTR = 4;
    static final short P_PURCHASE_CTR = 6;
    static final short P_MAX_BALANCE = 8;
    static final short P_MAX_AMOUNT = 12;
    static final short P_EXPIRY = 16;

    static final short MAX_MCCS = 8;

    // transaction log (SPEC 1.5): 16 entries of REC(32) || TAC(8) || MAC2(8)
    static final short LOG_ENTRIES = 16;
    static final short REC_LEN = 32;
    static final short LOG_TAC = 32;
    static final short LOG_MAC2 = 40;
    static final short LOG_ENTRY_LEN = 48;
    // logIndex
    static final short LOG_NEXT = 0;   // slot the next entry goes to
    static final short LOG_COUNT = 1;  // entries written, at most 16

    // REC layout (SPEC 1.5)
    static final short R_TT = 0;
    static final short R_PURSE = 1;
    static final short R_CTR = 2;
    static final short R_AMOUNT = 4;
    static final short R_BALANCE = 8;
    static final short R_TERMINAL = 12;
    static final short R_SAMSEQ = 18;
    static final short R_DATETIME = 22;
    static final short R_MCC = 29;
    static final short R_FLAGS = 31;

    final byte[] status = new byte[STATUS_LEN];
    /** The cardholder PIN as its canonical ISO 9564 format 2 block. */
    final byte[] pinBlock = new byte[8];
    final byte[] log = new byte[(short) (LOG_ENTRIES * LOG_ENTRY_LEN)];
    final byte[] logIndex = new byte[2];

    final DESKey kTransport;
    final DESKey kLoad;
    final DESKey kPurchase;
    final DESKey kTac;
    final DESKey kAdmin;

    PurseState(byte[] transportKey, short off) {
        kTransport = newKey();
        kLoad = newKey();
        kPurchase = newKey();
        kTac = newKey();
        kAdmin = newKey();
        kTransport.setKey(transportKey, off);
        status[LIFECYCLE] = BLANK;
    }

    private static DESKey newKey() {
        return (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES, KeyBuilder.LENGTH_DES3_2KEY, false);
    }

    byte lifecycle() {
        return status[LIFECYCLE];
    }

    /** Offset of a purse block in {@link #status}, or -1 if {@code purse} is not a purse. */
    static short purseBlock(byte purse) {
        if (purse == ECASH) {
            return ECASH_BLOCK;
        }
        if (purse == FOOD) {
            return FOOD_BLOCK;
        }
        return -1;
    }

    short loadCounter(short block) {
        return Util.getShort(status, (short) (block + P_LOAD_CTR));
    }

    short purchaseCounter(short block) {
        return Util.getShort(status, (short) (block + P_PURCHASE_CTR));
    }

    short adminCounter() {
        return Util.getShort(status, ADMIN_CTR);
    }

    /** True if the food MCC {@code mcc[off..off+2)} is in the allowlist. */
    boolean isFoodMerchant(byte[] mcc, short off) {
        short n = status[MCC_COUNT];
        for (short i = 0; i < n; i++) {
            if (Util.arrayCompare(status, (short) (MCCS + 2 * i), mcc, off, (short) 2) == 0) {
                return true;
            }
        }
        return false;
    }

    /** Offset in {@link #log} of entry {@code index} (0 = most recent); index < LOG_COUNT. */
    short logEntry(short index) {
        short slot = (short) (logIndex[LOG_NEXT] - 1 - index);
        if (slot < 0) {
            slot += LOG_ENTRIES;
        }
        return (short) (slot * LOG_ENTRY_LEN);
    }

    /**
     * Appends {@code REC || TAC || MAC2} (48 bytes at {@code entry[off]}) to the log.
     * Must run inside the caller's transaction.
     */
    void appendLog(byte[] entry, short off) {
        short slot = logIndex[LOG_NEXT];
        Util.arrayCopy(entry, off, log, (short) (slot * LOG_ENTRY_LEN), LOG_ENTRY_LEN);
        slot++;
        if (slot == LOG_ENTRIES) {
            slot = 0;
        }
        logIndex[LOG_NEXT] = (byte) slot;
        if (logIndex[LOG_COUNT] < LOG_ENTRIES) {
            logIndex[LOG_COUNT]++;
        }
    }
}
