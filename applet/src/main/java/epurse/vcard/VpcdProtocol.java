package epurse.vcard;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * The vpcd wire protocol (vsmartcard's virtual PCD driver for pcscd).
 *
 * <p>pcscd's vpcd driver listens on one TCP port per slot (35963 for "Virtual PCD 00 00",
 * 35964 for "Virtual PCD 00 01"); the virtual card connects as a client. Every message, in
 * both directions, is a 2-byte big-endian length followed by that many bytes. From vpcd, a
 * 1-byte message is a control code and anything longer is a C-APDU; the card answers a C-APDU
 * with the R-APDU and {@link #GET_ATR} with the ATR, and answers nothing to the power and reset
 * codes. vpcd polls presence by asking for the ATR (about every 400 ms); a slot with no
 * connected client, or whose client closed the connection, is a slot without a card.
 */
final class VpcdProtocol {
    static final int POWER_OFF = 0x00;
    static final int POWER_ON = 0x01;
    static final int RESET = 0x02;
    static final int GET_ATR = 0x04;

    /** Largest payload a 2-byte length can carry. */
    static final int MAX_PAYLOAD = 0xFFFF;
    /** Shortest C-APDU: CLA INS P1 P2. */
    static final int MIN_APDU = 4;

    private VpcdProtocol() {}

    /** A frame that breaks the protocol; the connection cannot be trusted after it. */
    static final class MalformedFrameException extends IOException {
        private static final long serialVersionUID = 1L;

        MalformedFrameException(String message) {
            super(message);
        }
    }

    /** Length prefix and payload in one buffer, so that each frame leaves in one write. */
    static byte[] encode(byte[] payload) {
        if (payload.length > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload of " + payload.length + " bytes does not fit a vpcd frame");
        }
        byte[] frame = new byte[payload.length + 2];
        frame[0] = (byte) (payload.length >>> 8);
        frame[1] = (byte) payload.length;
        System.arraycopy(payload, 0, frame, 2, payload.length);
        return frame;
    }

    /**
     * Reads one frame. Returns null when the peer closed the connection cleanly between frames;
     * throws {@link EOFException} when it closed in the middle of one and
     * {@link MalformedFrameException} for an empty frame.
     */
    static byte[] readFrame(InputStream in) throws IOException {
        int hi = in.read();
        if (hi < 0) {
            return null;
        }
        int lo = in.read();
        if (lo < 0) {
            throw new EOFException("connection closed inside a frame length");
        }
        int length = (hi << 8) | lo;
        if (length == 0) {
            throw new MalformedFrameException("empty frame");
        }
        byte[] payload = in.readNBytes(length);
        if (payload.length != length) {
            throw new EOFException("connection closed after " + payload.length + " of " + length + " frame bytes");
        }
        return payload;
    }

    static String controlName(int code) {
        switch (code) {
            case POWER_OFF: return "power-off";
            case POWER_ON: return "power-on";
            case RESET: return "reset";
            case GET_ATR: return "get-atr";
            default: return String.format("unknown control code %02X", code);
        }
    }
}
