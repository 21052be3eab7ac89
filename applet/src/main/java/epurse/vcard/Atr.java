package epurse.vcard;

import java.nio.charset.StandardCharsets;

/**
 * ATRs of the virtual cards, in the shape PC/SC uses for cards without an interface ATR
 * (3B 8K 80 01, historical bytes, TCK), with ASCII historical bytes.
 *
 * <pre>
 * 3B    TS   direct convention
 * 8K    T0   TD1 follows; K historical bytes
 * 80    TD1  TD2 follows (no TA2..TC2); low nibble 0
 * 01    TD2  T=1; nothing follows
 * ...   K historical bytes
 * TCK   makes the XOR of T0..TCK zero; present because T=1 is indicated
 * </pre>
 */
final class Atr {
    private Atr() {}

    static byte[] build(String historical) {
        byte[] hist = historical.getBytes(StandardCharsets.US_ASCII);
        if (hist.length > 15) {
            throw new IllegalArgumentException("at most 15 historical bytes");
        }
        byte[] atr = new byte[4 + hist.length + 1];
        atr[0] = 0x3B;
        atr[1] = (byte) (0x80 | hist.length);
        atr[2] = (byte) 0x80;
        atr[3] = 0x01;
        System.arraycopy(hist, 0, atr, 4, hist.length);
        atr[atr.length - 1] = tck(atr, 1, atr.length - 1);
        return atr;
    }

    /** XOR of atr[from, to). */
    static byte tck(byte[] atr, int from, int to) {
        byte x = 0;
        for (int i = from; i < to; i++) {
            x ^= atr[i];
        }
        return x;
    }

    /** True when the ATR's TCK makes the XOR of T0..TCK zero (ISO/IEC 7816-3 8.2.5). */
    static boolean checkTck(byte[] atr) {
        return tck(atr, 1, atr.length) == 0;
    }
}
