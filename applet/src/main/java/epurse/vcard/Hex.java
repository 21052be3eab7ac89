package epurse.vcard;

/** Upper-case hex encoding and strict decoding, as used in the control channel and state files. */
final class Hex {
    private static final char[] DIGITS = "0123456789ABCDEF".toCharArray();

    private Hex() {}

    static String encode(byte[] bytes) {
        return encode(bytes, 0, bytes.length);
    }

    static String encode(byte[] bytes, int offset, int length) {
        char[] out = new char[length * 2];
        for (int i = 0; i < length; i++) {
            int b = bytes[offset + i] & 0xFF;
            out[2 * i] = DIGITS[b >>> 4];
            out[2 * i + 1] = DIGITS[b & 0x0F];
        }
        return new String(out);
    }

    /** Decodes hex (either case, no separators); "-" decodes to an empty array. */
    static byte[] decode(String hex) {
        if (hex.equals("-")) {
            return new byte[0];
        }
        if (hex.length() % 2 != 0) {
            throw new IllegalArgumentException("odd number of hex digits: " + shorten(hex));
        }
        byte[] out = new byte[hex.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int hi = Character.digit(hex.charAt(2 * i), 16);
            int lo = Character.digit(hex.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("not hex: " + shorten(hex));
            }
            out[i] = (byte) ((hi << 4) | lo);
        }
        return out;
    }

    /** "-" for an empty array, so that a state-file field is never blank. */
    static String encodeOrDash(byte[] bytes) {
        return bytes.length == 0 ? "-" : encode(bytes);
    }

    private static String shorten(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }
}
