package epurse.vcard;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;

/**
 * The pcscd side of one vpcd slot, for tests: listens like vpcd does, accepts the virtual card's
 * connection and sends frames the way vpcd 3.x does (length and payload in two writes).
 */
final class FakeVpcd implements AutoCloseable {
    static final int TIMEOUT_MS = 5000;

    private final ServerSocket server;
    private Socket client;
    private DataInputStream in;
    private OutputStream out;

    FakeVpcd() throws IOException {
        server = new ServerSocket(0, 5, InetAddress.getLoopbackAddress());
    }

    int port() {
        return server.getLocalPort();
    }

    /** Waits for the card to connect (a card inserted in this slot). */
    void accept() throws IOException {
        dropClient();
        server.setSoTimeout(TIMEOUT_MS);
        client = server.accept();
        client.setSoTimeout(TIMEOUT_MS);
        in = new DataInputStream(client.getInputStream());
        out = client.getOutputStream();
    }

    /** True when no card connects within the given time (the slot is empty). */
    boolean noConnectionWithin(int millis) throws IOException {
        server.setSoTimeout(millis);
        try {
            Socket s = server.accept();
            s.close();
            return false;
        } catch (SocketTimeoutException e) {
            return true;
        }
    }

    /** Milliseconds until the card connects. */
    long millisUntilConnect() throws IOException {
        long start = System.nanoTime();
        accept();
        return (System.nanoTime() - start) / 1_000_000;
    }

    void send(byte[] payload) throws IOException {
        out.write(new byte[] {(byte) (payload.length >>> 8), (byte) payload.length});
        out.flush();
        out.write(payload);
        out.flush();
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    byte[] receive() throws IOException {
        int length = in.readUnsignedShort();
        byte[] payload = new byte[length];
        in.readFully(payload);
        return payload;
    }

    byte[] transmit(byte[] apdu) throws IOException {
        send(apdu);
        return receive();
    }

    byte[] transmit(String hex) throws IOException {
        return transmit(Hex.decode(hex));
    }

    String transmitHex(String hex) throws IOException {
        return Hex.encode(transmit(hex));
    }

    byte[] atr() throws IOException {
        return transmit(new byte[] {VpcdProtocol.GET_ATR});
    }

    void control(int code) throws IOException {
        send(new byte[] {(byte) code});
    }

    /** True when the card closed the connection (removal) rather than answer. */
    boolean closedByCard() throws IOException {
        try {
            int b = in.read();
            return b < 0;
        } catch (EOFException e) {
            return true;
        } catch (IOException e) {
            return e.getMessage() != null && e.getMessage().contains("reset");
        }
    }

    /** vpcd going away (pcscd restarted): close our end of the connection. */
    void dropClient() throws IOException {
        if (client != null) {
            client.close();
            client = null;
        }
    }

    @Override
    public void close() throws IOException {
        dropClient();
        server.close();
    }
}
