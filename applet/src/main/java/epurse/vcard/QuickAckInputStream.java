package epurse.vcard;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import jdk.net.ExtendedSocketOptions;

/**
 * A socket input stream that sets TCP_QUICKACK after every read from the socket.
 *
 * <p>vpcd sends a frame's 2-byte length and its payload in two send() calls and does not set
 * TCP_NODELAY, so Nagle holds the payload back until the length is acknowledged; Linux delays
 * that ACK (about 40 ms) unless TCP_QUICKACK is on, and it turns the option off again by itself.
 * Setting it after each read also sends an ACK that is already pending at once. Without this an
 * APDU through vpcd costs ~44 ms; with it, well under a millisecond.
 */
final class QuickAckInputStream extends FilterInputStream {
    private final Socket socket;
    private final boolean enabled;

    QuickAckInputStream(Socket socket, boolean enabled) throws IOException {
        super(socket.getInputStream());
        this.socket = socket;
        this.enabled = enabled;
        quickAck();
    }

    @Override
    public int read() throws IOException {
        int b = super.read();
        quickAck();
        return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n = super.read(b, off, len);
        quickAck();
        return n;
    }

    private void quickAck() {
        if (!enabled) {
            return;
        }
        try {
            socket.setOption(ExtendedSocketOptions.TCP_QUICKACK, true);
        } catch (UnsupportedOperationException | IOException e) {
            // not Linux, or the socket is closing: nothing to speed up
        }
    }
}
