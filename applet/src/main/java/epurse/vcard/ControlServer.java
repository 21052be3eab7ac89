package epurse.vcard;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The control channel: a TCP listener on 127.0.0.1 speaking one text line per command and one
 * reply line per command ({@code OK ...} or {@code ERR reason}). Usable with {@code nc}:
 * {@code echo list | nc -q1 127.0.0.1 35990}.
 */
final class ControlServer {
    private static final int MAX_LINE = 4096;

    private final ServerSocket server;
    private final Function<String, String> handler;
    private final Set<Socket> clients = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    ControlServer(int port, Function<String, String> handler) throws IOException {
        this.handler = handler;
        ServerSocket s = new ServerSocket();
        s.setReuseAddress(true);
        try {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        } catch (BindException e) {
            s.close();
            throw new BindException("control port 127.0.0.1:" + port + " is taken (another virtual card process?"
                    + " see: ss -ltnp 'sport = :" + port + "'); use --control-port");
        }
        this.server = s;
    }

    int port() {
        return server.getLocalPort();
    }

    void start() {
        Thread t = new Thread(this::acceptLoop, "vcard-control");
        t.setDaemon(true);
        t.start();
    }

    void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing
        }
        for (Socket c : clients) {
            try {
                c.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket c;
            try {
                c = server.accept();
            } catch (IOException e) {
                if (!closed) {
                    Log.info("control: accept failed: " + e.getMessage());
                }
                continue;
            }
            clients.add(c);
            Thread t = new Thread(() -> serve(c), "vcard-control-client");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket c) {
        try (c) {
            c.setTcpNoDelay(true);
            BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream(), StandardCharsets.UTF_8));
            OutputStream out = c.getOutputStream();
            StringBuilder line = new StringBuilder();
            int ch;
            while ((ch = in.read()) >= 0) {
                if (ch == '\n') {
                    String reply = handle(line.toString());
                    out.write((reply + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    line.setLength(0);
                } else if (ch != '\r') {
                    if (line.length() >= MAX_LINE) {
                        out.write(("ERR line longer than " + MAX_LINE + " characters\n").getBytes(StandardCharsets.UTF_8));
                        return;
                    }
                    line.append((char) ch);
                }
            }
            if (line.length() > 0) { // last command without a newline
                out.write((handle(line.toString()) + "\n").getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            // client went away
        } finally {
            clients.remove(c);
        }
    }

    private String handle(String line) {
        String reply = handler.apply(line);
        // one reply line, whatever a message contained
        return reply.replace('\n', ' ').replace('\r', ' ');
    }
}
