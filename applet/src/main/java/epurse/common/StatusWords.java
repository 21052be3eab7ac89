package epurse.common;

/**
 * The status words of the contract (SPEC 5), shared by both applets. Nothing else is returned.
 * {@code WRONG_CODE | x} is 63Cx with x the tries left.
 */
public final class StatusWords {
    public static final short OK = (short) 0x9000;
    public static final short SELECTED_BLOCKED = (short) 0x6283;
    public static final short WRONG_CODE = (short) 0x63C0;
    public static final short WRONG_LENGTH = (short) 0x6700;
    public static final short PIN_REQUIRED = (short) 0x6982;
    public static final short PIN_BLOCKED = (short) 0x6983;
    public static final short CONDITIONS = (short) 0x6985;
    public static final short BAD_DATA = (short) 0x6A80;
    public static final short NO_RECORD = (short) 0x6A83;
    public static final short NO_SPACE = (short) 0x6A84;
    public static final short BAD_P1P2 = (short) 0x6A86;
    public static final short NOT_FOUND = (short) 0x6A88;
    public static final short BAD_INS = (short) 0x6D00;
    public static final short BAD_CLA = (short) 0x6E00;
    public static final short INTERNAL = (short) 0x6F00;
    public static final short MAC_INVALID = (short) 0x9302;
    public static final short CARD_BLOCKED = (short) 0x9303;
    public static final short INSUFFICIENT_BALANCE = (short) 0x9401;
    public static final short COUNTER_EXHAUSTED = (short) 0x9402;
    public static final short KEY_VERSION = (short) 0x9403;
    public static final short AMOUNT_LIMIT = (short) 0x9404;
    public static final short BALANCE_LIMIT = (short) 0x9405;
    public static final short CATEGORY_NOT_ALLOWED = (short) 0x9406;
    public static final short VOUCHER_EXPIRED = (short) 0x9407;
    public static final short UNCONNECTED_DISABLED = (short) 0x9408;
    /** Only the runtime answers this, to a SELECT of an unknown AID (SPEC 5, last paragraph). */
    public static final short FILE_NOT_FOUND = (short) 0x6A82;

    private StatusWords() {
    }
}
