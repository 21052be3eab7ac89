package epurse.common;

/**
 * BCD checks for the contract's dates and codes (SPEC conventions), shared by both applets.
 *
 * <pre>
 *   static boolean isDigits(b, off, nBytes)   every nibble 0..9 (MCC: nBytes = 2)
 *   static boolean isValidDate(b, off)        DATE: YYYY MM DD, a real calendar day
 *   static boolean isValidDateTime(b, off)    DATETIME: DATE then hh &lt; 24, mm &lt; 60, ss &lt; 60
 *   static boolean isZero(b, off, len)        all bytes 00 ("no date")
 * </pre>
 * Dates in BCD compare in calendar order with {@link U32#compareBytes}.
 */
public final class Bcd {

    private Bcd() {
    }

    public static boolean isDigits(byte[] b, short off, short nBytes) {
        for (short i = 0; i < nBytes; i++) {
            byte v = b[(short) (off + i)];
            if ((short) ((v >> 4) & 0x0F) > 9 || (short) (v & 0x0F) > 9) {
                return false;
            }
        }
        return true;
    }

    public static boolean isZero(byte[] b, short off, short len) {
        byte acc = 0;
        for (short i = 0; i < len; i++) {
            acc |= b[(short) (off + i)];
        }
        return acc == 0;
    }

    /** Value of one BCD byte (00..99); call after {@link #isDigits}. */
    private static short value(byte v) {
        return (short) (((v >> 4) & 0x0F) * 10 + (v & 0x0F));
    }

    /** YYYY MM DD: decimal digits, month 01..12, day 01..last day of that month (leap years). */
    public static boolean isValidDate(byte[] b, short off) {
        if (!isDigits(b, off, (short) 4)) {
            return false;
        }
        short yy = value(b[(short) (off + 1)]);
        short cc = value(b[off]);
        short month = value(b[(short) (off + 2)]);
        short day = value(b[(short) (off + 3)]);
        if (month < 1 || month > 12 || day < 1) {
            return false;
        }
        short last = 31;
        if (month == 4 || month == 6 || month == 9 || month == 11) {
            last = 30;
        } else if (month == 2) {
            // leap: divisible by 4, and not by 100 unless by 400 (year = cc*100 + yy)
            boolean leap = yy == 0 ? (short) (cc % 4) == 0 : (short) (yy % 4) == 0;
            last = (short) (leap ? 29 : 28);
        }
        return day <= last;
    }

    /** YYYY MM DD hh mm ss. */
    public static boolean isValidDateTime(byte[] b, short off) {
        if (!isValidDate(b, off) || !isDigits(b, (short) (off + 4), (short) 3)) {
            return false;
        }
        return value(b[(short) (off + 4)]) < 24
                && value(b[(short) (off + 5)]) < 60
                && value(b[(short) (off + 6)]) < 60;
    }
}
