package epurse.common;

/**
 * Unsigned 32-bit big-endian integers held in 4-byte slices of byte arrays (amounts, balances,
 * SAM sequence numbers), for Java Card code that has no {@code int}. Shared by both applets.
 *
 * <pre>
 *   static byte    compare(a, aOff, b, bOff)              -1, 0, 1 (unsigned)
 *   static byte    compareBytes(a, aOff, b, bOff, len)    unsigned lexicographic compare (BCD dates)
 *   static boolean add(a, aOff, b, bOff, out, outOff)     out := a + b, true on carry out of 32 bits
 *   static boolean sub(a, aOff, b, bOff, out, outOff)     out := a - b, true on borrow (a &lt; b)
 *   static boolean isZero(a, aOff)
 *   static boolean isAtMost31Bits(a, aOff)                a &lt;= 0x7FFFFFFF
 *   static void    mod100M(a, aOff, out, outOff)          out := a mod 100 000 000 (code8, SPEC 1.8)
 * </pre>
 * {@code out} may alias {@code a} or {@code b} (same offset) in add, sub and mod100M.
 */
public final class U32 {

    private static final short LEN = (short) 4;

    /** 100 000 000 = 0x05F5E100. */
    private static final byte[] HUNDRED_MILLION = {(byte) 0x05, (byte) 0xF5, (byte) 0xE1, (byte) 0x00};

    private U32() {
    }

    public static byte compare(byte[] a, short aOff, byte[] b, short bOff) {
        return compareBytes(a, aOff, b, bOff, LEN);
    }

    public static byte compareBytes(byte[] a, short aOff, byte[] b, short bOff, short len) {
        for (short i = 0; i < len; i++) {
            short x = (short) (a[(short) (aOff + i)] & 0xFF);
            short y = (short) (b[(short) (bOff + i)] & 0xFF);
            if (x < y) {
                return -1;
            }
            if (x > y) {
                return 1;
            }
        }
        return 0;
    }

    public static boolean add(byte[] a, short aOff, byte[] b, short bOff, byte[] out, short outOff) {
        short carry = 0;
        for (short i = (short) (LEN - 1); i >= 0; i--) {
            short sum = (short) ((a[(short) (aOff + i)] & 0xFF) + (b[(short) (bOff + i)] & 0xFF) + carry);
            out[(short) (outOff + i)] = (byte) sum;
            carry = (short) ((sum >> 8) & 1);
        }
        return carry != 0;
    }

    public static boolean sub(byte[] a, short aOff, byte[] b, short bOff, byte[] out, short outOff) {
        short borrow = 0;
        for (short i = (short) (LEN - 1); i >= 0; i--) {
            short diff = (short) ((a[(short) (aOff + i)] & 0xFF) - (b[(short) (bOff + i)] & 0xFF) - borrow);
            out[(short) (outOff + i)] = (byte) diff;
            borrow = (short) (diff < 0 ? 1 : 0);
        }
        return borrow != 0;
    }

    public static boolean isZero(byte[] a, short aOff) {
        return (byte) (a[aOff] | a[(short) (aOff + 1)] | a[(short) (aOff + 2)] | a[(short) (aOff + 3)]) == 0;
    }

    public static boolean isAtMost31Bits(byte[] a, short aOff) {
        return (a[aOff] & 0x80) == 0;
    }

    /** {@code out := a mod 100 000 000}; at most 42 subtractions for a 32-bit value. */
    public static void mod100M(byte[] a, short aOff, byte[] out, short outOff) {
        if (out != a || outOff != aOff) {
            javacard.framework.Util.arrayCopyNonAtomic(a, aOff, out, outOff, LEN);
        }
        while (compare(out, outOff, HUNDRED_MILLION, (short) 0) >= 0) {
            sub(out, outOff, HUNDRED_MILLION, (short) 0, out, outOff);
        }
    }
}
