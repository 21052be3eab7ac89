package epurse.vcard;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One reader slot of pcscd's vpcd driver and the card in it.
 *
 * <p>A slot holds its TCP connection to vpcd open exactly while a card is inserted: vpcd calls a
 * slot without a connected client empty, and notices a closed connection as a removal the next
 * time it polls (about every 400 ms). After a removal the slot stays empty for at least
 * {@code minAbsenceMillis}, so that pcscd sees the card leave before the next one arrives (a
 * quick re-insert would otherwise look to pcscd like the same card still sitting there).
 *
 * <p>One worker thread per slot connects, serves frames and reconnects with a short backoff when
 * vpcd goes away (pcscd restarted) while the card is still inserted.
 */
final class Slot {
    enum State { EMPTY, CONNECTING, CONNECTED, PRESENT }

    /** A one-shot fault armed on a slot. */
    static final class Fault {
        enum Type { DROP_COMMAND, DROP_RESPONSE }

        final Type type;
        final int k;
        final long reinsertMillis; // < 0: the card stays out
        int remaining;

        Fault(Type type, int k, long reinsertMillis) {
            this.type = type;
            this.k = k;
            this.reinsertMillis = reinsertMillis;
            this.remaining = k;
        }

        @Override
        public String toString() {
            return (type == Type.DROP_COMMAND ? "drop-command" : "drop-response") + ":" + k
                    + (remaining != k ? "(" + remaining + " to go)" : "")
                    + (reinsertMillis >= 0 ? ":reinsert-" + reinsertMillis + "ms" : "");
        }
    }

    /** What the slot needs from the process around it. */
    interface Listener {
        /** The fault pulled the card; put it back after the given delay (when non-negative). */
        void faultPulled(Slot slot, VirtualCard card, long reinsertMillis);
    }

    final int index;
    private final String host;
    private final int port;
    private final boolean quickAck;
    private final long minAbsenceNanos;
    private final Listener listener;

    private VirtualCard card;       // guarded by this
    private long generation;        // guarded by this; bumped on every insert and removal
    private Socket socket;          // guarded by this
    private State state = State.EMPTY; // guarded by this
    private Fault fault;            // guarded by this
    private long absentUntil;       // guarded by this; System.nanoTime() before which we stay away
    private boolean stopped;        // guarded by this
    private long connectedAt;       // guarded by this; System.nanoTime() of the current connection
    private boolean silenceWarned;  // guarded by this
    private Thread worker;

    final AtomicLong connects = new AtomicLong();
    final AtomicLong apdus = new AtomicLong();
    final AtomicLong controls = new AtomicLong();
    final AtomicLong faultsFired = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
    /** Time from a C-APDU's arrival to its R-APDU leaving, summed. */
    final AtomicLong serveNanos = new AtomicLong();

    Slot(int index, String host, int port, boolean quickAck, long minAbsenceMillis, Listener listener) {
        this.index = index;
        this.host = host;
        this.port = port;
        this.quickAck = quickAck;
        this.minAbsenceNanos = TimeUnit.MILLISECONDS.toNanos(minAbsenceMillis);
        this.listener = listener;
    }

    int port() {
        return port;
    }

    void start() {
        worker = new Thread(this::run, "vpcd-slot-" + index);
        worker.setDaemon(true);
        worker.start();
    }

    /** Stops the worker and drops the connection; the card stays in the slot (for saving). */
    void stop() {
        Thread w;
        synchronized (this) {
            stopped = true;
            closeSocket();
            notifyAll();
            w = worker;
        }
        if (w != null) {
            try {
                w.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    synchronized VirtualCard card() {
        return card;
    }

    synchronized State state() {
        return state;
    }

    synchronized Fault fault() {
        return fault;
    }

    /** Inserts a card; the card is powered up fresh. Fails when the slot is occupied. */
    synchronized void insert(VirtualCard newCard) {
        if (card != null) {
            throw new IllegalStateException("slot " + index + " holds " + card.name);
        }
        newCard.powerReset();
        card = newCard;
        generation++;
        state = State.CONNECTING;
        notifyAll();
    }

    /** Takes the card out (connection closed, card powered down); returns it, or null if the slot was empty. */
    synchronized VirtualCard remove() {
        VirtualCard old = card;
        if (old == null) {
            return null;
        }
        pullLocked();
        old.powerReset();
        return old;
    }

    synchronized void arm(Fault f) {
        fault = f;
    }

    synchronized Fault clearFault() {
        Fault old = fault;
        fault = null;
        return old;
    }

    private void pullLocked() {
        card = null;
        generation++;
        state = State.EMPTY;
        absentUntil = System.nanoTime() + minAbsenceNanos;
        closeSocket();
        notifyAll();
    }

    private void closeSocket() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing is all we wanted
            }
            socket = null;
        }
    }

    private void run() {
        long backoffMillis = 0;
        long backoffGeneration = -1;
        boolean refusedLogged = false;
        while (true) {
            VirtualCard c;
            long gen;
            synchronized (this) {
                while (!stopped && (card == null || System.nanoTime() < absentUntil)) {
                    long waitMillis = card == null ? 0 : Math.max(1, TimeUnit.NANOSECONDS.toMillis(absentUntil - System.nanoTime()));
                    try {
                        wait(waitMillis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (stopped) {
                    return;
                }
                c = card;
                gen = generation;
            }
            if (gen != backoffGeneration) { // a newly inserted card connects at once
                backoffMillis = 0;
                backoffGeneration = gen;
            }
            if (backoffMillis > 0 && !pause(backoffMillis)) {
                return;
            }
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                s.connect(new InetSocketAddress(host, port), 2000);
            } catch (IOException e) {
                closeQuietly(s);
                if (!refusedLogged) {
                    Log.info("slot " + index + ": vpcd not reachable on " + host + ":" + port + " (" + e.getMessage()
                            + "); is pcscd with the vpcd driver running? retrying");
                    refusedLogged = true;
                }
                backoffMillis = nextBackoff(backoffMillis);
                continue;
            }
            synchronized (this) {
                if (stopped || gen != generation) { // removed or replaced while we were connecting
                    closeQuietly(s);
                    continue;
                }
                socket = s;
                state = State.CONNECTED;
                connectedAt = System.nanoTime();
                silenceWarned = false;
            }
            refusedLogged = false;
            connects.incrementAndGet();
            Log.info("slot " + index + ": connected to vpcd on " + host + ":" + port + " with card " + c.name);
            String why;
            try {
                why = serve(s, c, gen);
                backoffMillis = 0;
            } catch (VpcdProtocol.MalformedFrameException e) {
                malformed.incrementAndGet();
                why = "malformed frame from vpcd (" + e.getMessage() + "); dropped the connection";
                backoffMillis = nextBackoff(backoffMillis);
            } catch (IOException e) {
                why = "connection lost (" + e.getMessage() + ")";
                backoffMillis = nextBackoff(backoffMillis);
            }
            boolean stillInserted;
            synchronized (this) {
                if (socket == s) {
                    socket = null;
                }
                stillInserted = !stopped && gen == generation;
                if (stillInserted) {
                    state = State.CONNECTING;
                }
            }
            closeQuietly(s);
            if (stillInserted) {
                Log.info("slot " + index + ": disconnected: " + why + "; reconnecting");
            } else {
                Log.info("slot " + index + ": disconnected (card " + c.name + " " + (stopped ? "kept, process stopping" : "removed") + ")");
            }
        }
    }

    /** Serves frames until vpcd closes the connection (returns why) or the card leaves (socket closed: IOException). */
    private String serve(Socket s, VirtualCard c, long gen) throws IOException {
        InputStream in = new BufferedInputStream(new QuickAckInputStream(s, quickAck), 4096);
        OutputStream out = s.getOutputStream();
        while (true) {
            byte[] frame = VpcdProtocol.readFrame(in); // blocking: a read timeout would cost a poll() per frame
            long arrived = System.nanoTime();
            if (frame == null) {
                return "vpcd closed the connection";
            }
            if (frame.length == 1) {
                controls.incrementAndGet();
                handleControl(s, out, c, frame[0] & 0xFF);
                continue;
            }
            if (frame.length < VpcdProtocol.MIN_APDU) {
                throw new VpcdProtocol.MalformedFrameException(frame.length + "-byte frame is neither a control code nor an APDU");
            }
            apdus.incrementAndGet();
            Fault fired = null;
            synchronized (this) {
                if (gen != generation) {
                    throw new IOException("card removed");
                }
                if (fault != null && --fault.remaining == 0) {
                    fired = fault;
                    fault = null;
                }
            }
            if (fired != null && fired.type == Fault.Type.DROP_COMMAND) {
                firePull(c, gen, fired, "dropped command #" + fired.k + " (" + VirtualCard.headerOf(frame) + ") before the card saw it");
                throw new IOException("fault fired");
            }
            if (Log.tracing()) {
                Log.trace("slot " + index + ": > " + VirtualCard.headerOf(frame));
            }
            byte[] response = c.transmit(frame);
            if (Log.tracing()) {
                Log.trace("slot " + index + ": < " + response.length + " bytes, SW " + Hex.encode(response, response.length - 2, 2));
            }
            if (fired != null) {
                firePull(c, gen, fired, "card processed command #" + fired.k + " (" + VirtualCard.headerOf(frame)
                        + ", SW " + Hex.encode(response, response.length - 2, 2) + "), response dropped");
                throw new IOException("fault fired");
            }
            out.write(VpcdProtocol.encode(response));
            serveNanos.addAndGet(System.nanoTime() - arrived);
        }
    }

    private void handleControl(Socket s, OutputStream out, VirtualCard c, int code) throws IOException {
        switch (code) {
            case VpcdProtocol.POWER_OFF:
            case VpcdProtocol.POWER_ON:
            case VpcdProtocol.RESET:
                Log.trace("slot " + index + ": " + VpcdProtocol.controlName(code));
                c.powerReset();
                break;
            case VpcdProtocol.GET_ATR:
                boolean first = false;
                synchronized (this) { // before the answer, so that whoever saw the ATR also sees PRESENT
                    if (socket == s && state == State.CONNECTED) {
                        state = State.PRESENT;
                        first = true;
                    }
                }
                out.write(VpcdProtocol.encode(c.atr()));
                if (first) {
                    Log.info("slot " + index + ": card " + c.name + " present in reader (vpcd read its ATR)");
                }
                break;
            default:
                // A newer vpcd may know codes we do not; answering nothing is what we do for power codes.
                Log.info("slot " + index + ": ignoring " + VpcdProtocol.controlName(code));
        }
    }

    /**
     * Called periodically: warns once when vpcd has not asked for the ATR within 5 s of our
     * connecting (it polls every ~400 ms), which means nobody accepted the connection.
     */
    void checkSilence() {
        synchronized (this) {
            if (state != State.CONNECTED || silenceWarned || System.nanoTime() - connectedAt < TimeUnit.SECONDS.toNanos(5)) {
                return;
            }
            silenceWarned = true;
        }
        Log.info("slot " + index + ": connected to port " + port + " 5 s ago but vpcd has not polled the card;"
                + " is another virtual card holding this slot, or is pcscd hung?");
    }

    private void firePull(VirtualCard c, long gen, Fault f, String what) {
        synchronized (this) {
            if (gen != generation) {
                return;
            }
            pullLocked();
        }
        c.powerReset();
        faultsFired.incrementAndGet();
        Log.info("slot " + index + ": FAULT " + (f.type == Fault.Type.DROP_COMMAND ? "drop-command" : "drop-response")
                + " fired: " + what + "; card " + c.name + " pulled"
                + (f.reinsertMillis >= 0 ? ", back in " + f.reinsertMillis + " ms" : ""));
        listener.faultPulled(this, c, f.reinsertMillis);
    }

    private static long nextBackoff(long previous) {
        return previous == 0 ? 100 : Math.min(1000, previous * 2);
    }

    /** Waits, but not past {@link #stop()}; false when stopping. */
    private synchronized boolean pause(long millis) {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        long left;
        while (!stopped && (left = end - System.nanoTime()) > 0) {
            try {
                wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            } catch (InterruptedException e) {
                return false;
            }
        }
        return !stopped;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
