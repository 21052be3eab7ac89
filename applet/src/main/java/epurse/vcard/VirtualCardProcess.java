package epurse.vcard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The virtual card process of the PC/SC test stack: a wallet of named jCardSim cards, the slots
 * of pcscd's vpcd driver they can be inserted in, and a line-based control channel.
 *
 * <pre>
 * java -cp CLASSPATH epurse.vcard.VirtualCardProcess [options]
 *   --default-cards          create purse1 (slot 0) and transfer1 (slot 1) and insert them
 *   --state FILE             restore the wallet from FILE at start (if it exists), save it there on shutdown
 *   --control-port N         control channel on 127.0.0.1:N (default 35990; 0 = any free port)
 *   --vpcd-host HOST         where pcscd's vpcd driver listens (default 127.0.0.1)
 *   --vpcd-port N            port of slot 0; slot i uses N+i (default 35963)
 *   --slots N                number of slots (default 2)
 *   --min-absence-ms N       a slot stays empty at least N ms after a removal (default 1000)
 *   --kind NAME=CLASS:AIDHEX[:INSTALLHEX]   an extra card kind
 *   --no-quickack            do not set TCP_QUICKACK (only to measure what it saves)
 *   --trace                  log every APDU header and status word (never the data)
 * </pre>
 *
 * Control commands (one line each, one reply line each: {@code OK ...} or {@code ERR reason}):
 * {@code create NAME KIND [seed HEX]}, {@code insert NAME SLOT}, {@code remove SLOT},
 * {@code delete NAME}, {@code list}, {@code save FILE}, {@code load FILE},
 * {@code fault SLOT drop-command|drop-response K [reinsert MS]}, {@code fault SLOT clear},
 * {@code wait SLOT present|empty [TIMEOUT_MS]}, {@code stats}, {@code ping}, {@code help},
 * {@code shutdown}.
 */
public final class VirtualCardProcess implements Slot.Listener, AutoCloseable {
    static final int DEFAULT_CONTROL_PORT = 35990;
    static final int DEFAULT_VPCD_PORT = 35963;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,32}");

    /** Start-up options. */
    static final class Options {
        boolean defaultCards;
        Path state;
        int controlPort = DEFAULT_CONTROL_PORT;
        String vpcdHost = "127.0.0.1";
        int[] vpcdPorts = {DEFAULT_VPCD_PORT, DEFAULT_VPCD_PORT + 1};
        long minAbsenceMillis = 1000;
        boolean quickAck = true;
        boolean trace;
        final List<CardKind> kinds = new ArrayList<>();

        static Options parse(String[] args) {
            Options o = new Options();
            int base = DEFAULT_VPCD_PORT;
            int slots = 2;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--default-cards": o.defaultCards = true; break;
                    case "--no-quickack": o.quickAck = false; break;
                    case "--trace": o.trace = true; break;
                    case "--state": o.state = Paths.get(value(args, ++i, a)); break;
                    case "--control-port": o.controlPort = intValue(args, ++i, a, 0, 65535); break;
                    case "--vpcd-host": o.vpcdHost = value(args, ++i, a); break;
                    case "--vpcd-port": base = intValue(args, ++i, a, 1, 65535); break;
                    case "--slots": slots = intValue(args, ++i, a, 1, 10); break;
                    case "--min-absence-ms": o.minAbsenceMillis = intValue(args, ++i, a, 0, 60000); break;
                    case "--kind": o.kinds.add(CardKind.parse(value(args, ++i, a))); break;
                    case "-h":
                    case "--help":
                        throw new UsageException(null);
                    default:
                        throw new UsageException("unknown option " + a);
                }
            }
            if (base + slots - 1 > 65535) {
                throw new UsageException("--vpcd-port + --slots runs past port 65535");
            }
            o.vpcdPorts = new int[slots];
            for (int s = 0; s < slots; s++) {
                o.vpcdPorts[s] = base + s;
            }
            return o;
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new UsageException(option + " needs a value");
            }
            return args[i];
        }

        private static int intValue(String[] args, int i, String option, int min, int max) {
            String v = value(args, i, option);
            try {
                int n = Integer.parseInt(v);
                if (n < min || n > max) {
                    throw new UsageException(option + " must be " + min + ".." + max);
                }
                return n;
            } catch (NumberFormatException e) {
                throw new UsageException(option + " needs a number, got " + v);
            }
        }
    }

    static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** A control command that cannot be carried out; its message is the ERR reason. */
    static final class CommandException extends Exception {
        private static final long serialVersionUID = 1L;

        CommandException(String message) {
            super(message);
        }
    }

    private final Options options;
    private final Map<String, VirtualCard> cards = new LinkedHashMap<>(); // guarded by this
    private final Slot[] slots;
    private final ControlServer control;
    private final ScheduledExecutorService timer;
    private final SecureRandom seeds = new SecureRandom();
    private final Runnable onShutdownCommand;
    private boolean closed; // guarded by this
    private final java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);

    /**
     * Builds the process: binds the control port (failing early if it is taken), restores the
     * state file, creates the default cards. {@link #start()} then connects the slots.
     */
    VirtualCardProcess(Options options, Runnable onShutdownCommand) throws IOException, CommandException {
        this.options = options;
        this.onShutdownCommand = onShutdownCommand;
        Log.setTrace(options.trace);
        for (CardKind kind : options.kinds) {
            CardKind.register(kind);
        }
        slots = new Slot[options.vpcdPorts.length];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Slot(i, options.vpcdHost, options.vpcdPorts[i], options.quickAck, options.minAbsenceMillis, this);
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vcard-timer");
            t.setDaemon(true);
            return t;
        });
        control = new ControlServer(options.controlPort, this::command);
        try {
            if (options.state != null && Files.exists(options.state)) {
                Log.info(load(options.state).substring(3));
            }
            if (options.defaultCards) {
                defaultCard("purse1", "purse", 0);
                defaultCard("transfer1", "transfer", 1);
            }
        } catch (IOException | CommandException | RuntimeException e) {
            control.close();
            timer.shutdownNow();
            throw e;
        }
    }

    private void defaultCard(String name, String kind, int slot) throws CommandException {
        if (!cards.containsKey(name)) {
            Log.info(create(name, kind, null).substring(3));
        }
        if (slot < slots.length && slots[slot].card() == null && slotOf(cards.get(name)) < 0) {
            Log.info(insert(name, slot).substring(3));
        }
    }

    void start() {
        control.start();
        for (Slot s : slots) {
            s.start();
        }
        timer.scheduleWithFixedDelay(() -> {
            for (Slot s : slots) {
                s.checkSilence();
            }
        }, 1, 1, TimeUnit.SECONDS);
        StringBuilder ports = new StringBuilder();
        for (Slot s : slots) {
            ports.append(ports.length() == 0 ? "" : ",").append(s.port());
        }
        Log.info("ready: control on 127.0.0.1:" + control.port() + ", vpcd slots on " + options.vpcdHost + ":" + ports
                + (options.quickAck ? "" : " (TCP_QUICKACK off)"));
    }

    int controlPort() {
        return control.port();
    }

    Slot slot(int i) {
        return slots[i];
    }

    /** Stops the slots and the control channel; saves to --state when given. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        control.close();
        timer.shutdownNow();
        for (Slot s : slots) {
            s.stop();
        }
        if (options.state != null) {
            try {
                Log.info(save(options.state).substring(3));
            } catch (IOException e) {
                Log.info("could not save state to " + options.state + ": " + e.getMessage());
            }
        }
        Log.info("stopped");
        stopped.countDown();
    }

    /** Blocks until {@link #close()} has finished. */
    void awaitClose() throws InterruptedException {
        stopped.await();
    }

    // ---- control commands -------------------------------------------------------------------

    /** Runs one control line and returns the one reply line. */
    String command(String line) {
        String[] f = line.trim().split("\\s+");
        if (f.length == 0 || f[0].isEmpty()) {
            return "ERR empty command (try: help)";
        }
        try {
            switch (f[0]) {
                case "create":
                    if (f.length == 3) {
                        return create(f[1], f[2], null);
                    }
                    if (f.length == 5 && f[3].equals("seed")) {
                        return create(f[1], f[2], parseHex(f[4], "seed"));
                    }
                    throw new CommandException("usage: create NAME " + CardKind.known() + " [seed HEX]");
                case "insert":
                    args(f, 3, "insert NAME SLOT");
                    return insert(f[1], slotNumber(f[2]));
                case "remove":
                    args(f, 2, "remove SLOT");
                    return remove(slotNumber(f[1]));
                case "delete":
                    args(f, 2, "delete NAME");
                    return delete(f[1]);
                case "list":
                    args(f, 1, "list");
                    return list();
                case "save":
                    args(f, 2, "save FILE");
                    return save(Paths.get(f[1]));
                case "load":
                    args(f, 2, "load FILE");
                    return load(Paths.get(f[1]));
                case "fault":
                    return fault(f);
                case "wait":
                    return waitFor(f);
                case "stats":
                    args(f, 1, "stats");
                    return stats();
                case "ping":
                    return "OK pong";
                case "help":
                    return "OK commands: create NAME " + CardKind.known() + " [seed HEX] | insert NAME SLOT | remove SLOT"
                            + " | delete NAME | list | save FILE | load FILE"
                            + " | fault SLOT drop-command|drop-response K [reinsert MS] | fault SLOT clear"
                            + " | wait SLOT present|empty [TIMEOUT_MS] | stats | ping | shutdown";
                case "shutdown":
                    args(f, 1, "shutdown");
                    Log.info("shutdown requested on the control channel");
                    Thread t = new Thread(onShutdownCommand, "vcard-shutdown");
                    t.start();
                    return "OK shutting down";
                default:
                    throw new CommandException("unknown command '" + f[0] + "' (try: help)");
            }
        } catch (CommandException e) {
            return "ERR " + e.getMessage();
        } catch (IOException e) {
            return "ERR " + e.getMessage();
        } catch (RuntimeException e) {
            Log.info("control command '" + line + "' failed: " + e);
            return "ERR internal error: " + e;
        }
    }

    synchronized String create(String name, String kindName, byte[] seed) throws CommandException {
        if (!isValidName(name)) {
            throw new CommandException("bad card name '" + name + "' (1-32 of A-Z a-z 0-9 _ . -)");
        }
        if (cards.containsKey(name)) {
            throw new CommandException("card " + name + " exists");
        }
        CardKind kind = CardKind.lookup(kindName);
        if (kind == null) {
            throw new CommandException("unknown card kind '" + kindName + "' (known: " + CardKind.known() + ")");
        }
        if (seed == null) {
            seed = new byte[16];
            seeds.nextBytes(seed);
        }
        VirtualCard card = VirtualCard.create(name, kind, seed);
        cards.put(name, card);
        if (!card.appletInstalled()) {
            Log.info("card " + name + ": no applet: " + card.appletProblem());
            return "OK created " + name + " " + kindName + " without applet: " + card.appletProblem();
        }
        return "OK created " + name + " " + kindName;
    }

    synchronized String insert(String name, int slot) throws CommandException {
        VirtualCard card = card(name);
        int where = slotOf(card);
        if (where >= 0) {
            throw new CommandException("card " + name + " is already in slot " + where);
        }
        try {
            slots[slot].insert(card);
        } catch (IllegalStateException e) {
            throw new CommandException(e.getMessage() + "; remove it first");
        }
        return "OK inserted " + name + " in slot " + slot;
    }

    synchronized String remove(int slot) {
        VirtualCard old = slots[slot].remove();
        if (old == null) {
            return "OK slot " + slot + " already empty";
        }
        Log.info("slot " + slot + ": card " + old.name + " removed");
        return "OK removed " + old.name + " from slot " + slot;
    }

    synchronized String delete(String name) throws CommandException {
        VirtualCard card = card(name);
        if (slotOf(card) >= 0) {
            throw new CommandException("card " + name + " is in slot " + slotOf(card) + "; remove it first");
        }
        cards.remove(name);
        return "OK deleted " + name;
    }

    /** {@code OK slot0=purse1/present slot1=-/empty cards=purse1:purse@0,spare:purse@-}. */
    synchronized String list() {
        StringBuilder b = new StringBuilder("OK");
        for (Slot s : slots) {
            VirtualCard c = s.card();
            b.append(" slot").append(s.index).append('=').append(c == null ? "-" : c.name)
                    .append('/').append(s.state().name().toLowerCase(java.util.Locale.ROOT));
            Slot.Fault f = s.fault();
            if (f != null) {
                b.append("/fault:").append(f);
            }
        }
        b.append(" cards=");
        boolean first = true;
        for (VirtualCard c : cards.values()) {
            int where = slotOf(c);
            b.append(first ? "" : ",").append(c.name).append(':').append(c.kind.name)
                    .append('@').append(where < 0 ? "-" : Integer.toString(where))
                    .append(c.appletInstalled() ? "" : ":no-applet");
            first = false;
        }
        if (first) {
            b.append('-');
        }
        return b.toString();
    }

    String save(Path file) throws IOException {
        List<VirtualCard> snapshot;
        Map<Integer, String> where = new TreeMap<>();
        synchronized (this) {
            snapshot = new ArrayList<>(cards.values());
            for (Slot s : slots) {
                VirtualCard c = s.card();
                if (c != null) {
                    where.put(s.index, c.name);
                }
            }
        }
        int ops = StateFile.write(file, snapshot, where);
        return "OK saved " + snapshot.size() + " cards (" + ops + " journal entries) to " + file;
    }

    /**
     * Replaces the wallet with the file's: every card is replayed first, and only when all of
     * them reproduce their recorded responses are the current cards pulled and the loaded ones
     * inserted where the file says.
     */
    synchronized String load(Path file) throws IOException, CommandException {
        StateFile.Contents contents = StateFile.read(file);
        long start = System.nanoTime();
        Map<String, VirtualCard> loaded = new LinkedHashMap<>();
        for (StateFile.SavedCard saved : contents.cards.values()) {
            try {
                loaded.put(saved.name, VirtualCard.restore(saved.name, saved.kind, saved.seed, saved.ops));
            } catch (VirtualCard.ReplayException e) {
                throw new CommandException("cannot restore " + file + ": " + e.getMessage() + "; nothing changed");
            }
        }
        for (int slot : contents.slots.keySet()) {
            if (slot >= slots.length) {
                throw new CommandException(file + " puts a card in slot " + slot + " but there are " + slots.length + " slots");
            }
        }
        for (Slot s : slots) {
            VirtualCard old = s.remove();
            if (old != null) {
                Log.info("slot " + s.index + ": card " + old.name + " removed (loading " + file + ")");
            }
        }
        cards.clear();
        cards.putAll(loaded);
        for (Map.Entry<Integer, String> e : contents.slots.entrySet()) {
            slots[e.getKey()].insert(cards.get(e.getValue()));
        }
        for (VirtualCard c : loaded.values()) {
            if (!c.appletInstalled() && c.kind.appletClassPresent()) {
                Log.info("card " + c.name + " was saved without its applet, which is available now; it stays an empty card"
                        + " (for one with the applet: delete " + c.name + ", then create " + c.name + " " + c.kind.name
                        + ", or start without the state file)");
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        return "OK loaded " + loaded.size() + " cards (" + contents.operations() + " journal entries replayed in "
                + ms + " ms) from " + file;
    }

    private String fault(String[] f) throws CommandException {
        String usage = "fault SLOT drop-command|drop-response K [reinsert MS] | fault SLOT clear";
        if (f.length < 3) {
            throw new CommandException("usage: " + usage);
        }
        int slot = slotNumber(f[1]);
        if (f[2].equals("clear")) {
            args(f, 3, usage);
            Slot.Fault old = slots[slot].clearFault();
            return "OK slot " + slot + " fault cleared" + (old == null ? " (none was armed)" : " (was " + old + ")");
        }
        Slot.Fault.Type type;
        if (f[2].equals("drop-command")) {
            type = Slot.Fault.Type.DROP_COMMAND;
        } else if (f[2].equals("drop-response")) {
            type = Slot.Fault.Type.DROP_RESPONSE;
        } else {
            throw new CommandException("usage: " + usage);
        }
        long reinsert = -1;
        if (f.length == 6 && f[4].equals("reinsert")) {
            reinsert = number(f[5], "MS", 0, 600_000);
        } else if (f.length != 4) {
            throw new CommandException("usage: " + usage);
        }
        int k = (int) number(f[3], "K", 1, 1_000_000);
        Slot.Fault fault = new Slot.Fault(type, k, reinsert);
        slots[slot].arm(fault);
        Log.info("slot " + slot + ": fault armed: " + fault);
        return "OK slot " + slot + " fault armed: " + fault;
    }

    /**
     * {@code wait SLOT present|empty [TIMEOUT_MS]}: blocks (without holding the wallet) until vpcd
     * has read the slot's ATR, or until the slot is empty; default timeout 5000 ms. After an
     * insert, a load or a fault with reinsert, "present" is when PC/SC clients can connect.
     */
    private String waitFor(String[] f) throws CommandException {
        String usage = "wait SLOT present|empty [TIMEOUT_MS]";
        if (f.length < 3 || f.length > 4 || !(f[2].equals("present") || f[2].equals("empty"))) {
            throw new CommandException("usage: " + usage);
        }
        Slot slot = slots[slotNumber(f[1])];
        Slot.State wanted = f[2].equals("present") ? Slot.State.PRESENT : Slot.State.EMPTY;
        long timeout = f.length == 4 ? number(f[3], "TIMEOUT_MS", 0, 600_000) : 5000;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeout);
        while (true) {
            Slot.State state = slot.state();
            if (state == wanted) {
                VirtualCard c = slot.card();
                return "OK slot " + slot.index + " " + f[2] + (c == null ? "" : " (" + c.name + ")");
            }
            if (System.nanoTime() >= deadline) {
                throw new CommandException("timeout after " + timeout + " ms: slot " + slot.index + " is "
                        + state.name().toLowerCase(java.util.Locale.ROOT));
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommandException("interrupted");
            }
        }
    }

    synchronized String stats() {
        StringBuilder b = new StringBuilder("OK");
        for (Slot s : slots) {
            long n = s.apdus.get();
            String p = " slot" + s.index + ".";
            b.append(p).append("connects=").append(s.connects.get())
                    .append(p).append("apdus=").append(n)
                    .append(p).append("controls=").append(s.controls.get())
                    .append(p).append("faults=").append(s.faultsFired.get())
                    .append(p).append("malformed=").append(s.malformed.get())
                    .append(p).append("avg_serve_us=").append(n == 0 ? 0 : s.serveNanos.get() / n / 1000);
        }
        long ops = 0;
        for (VirtualCard c : cards.values()) {
            ops += c.journalSize();
            long n = c.apdus();
            b.append(" card.").append(c.name).append(".apdus=").append(n)
                    .append(" card.").append(c.name).append(".avg_card_us=").append(n == 0 ? 0 : c.nanosInCard() / n / 1000);
        }
        b.append(" journal_entries=").append(ops);
        return b.toString();
    }

    // ---- fault re-insertion -----------------------------------------------------------------

    @Override
    public void faultPulled(Slot slot, VirtualCard card, long reinsertMillis) {
        if (reinsertMillis < 0) {
            return;
        }
        timer.schedule(() -> {
            synchronized (VirtualCardProcess.this) {
                if (cards.get(card.name) != card || slotOf(card) >= 0 || slot.card() != null) {
                    Log.info("slot " + slot.index + ": not re-inserting " + card.name + " (slot or card taken meanwhile)");
                    return;
                }
                slot.insert(card);
                Log.info("slot " + slot.index + ": card " + card.name + " re-inserted after the fault");
            }
        }, reinsertMillis, TimeUnit.MILLISECONDS);
    }

    // ---- helpers ----------------------------------------------------------------------------

    static boolean isValidName(String name) {
        return NAME.matcher(name).matches();
    }

    private VirtualCard card(String name) throws CommandException {
        VirtualCard c = cards.get(name);
        if (c == null) {
            throw new CommandException("no card named " + name + (cards.isEmpty() ? "" : " (cards: " + String.join(",", cards.keySet()) + ")"));
        }
        return c;
    }

    private int slotOf(VirtualCard card) {
        for (Slot s : slots) {
            if (s.card() == card) {
                return s.index;
            }
        }
        return -1;
    }

    private int slotNumber(String s) throws CommandException {
        return (int) number(s, "SLOT", 0, slots.length - 1);
    }

    private static long number(String s, String what, long min, long max) throws CommandException {
        try {
            long n = Long.parseLong(s);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new CommandException(what + " must be a number " + min + ".." + max + ", got '" + s + "'");
    }

    private static byte[] parseHex(String s, String what) throws CommandException {
        try {
            byte[] b = Hex.decode(s);
            if (b.length == 0) {
                throw new IllegalArgumentException("empty");
            }
            return b;
        } catch (IllegalArgumentException e) {
            throw new CommandException(what + " must be hex: " + e.getMessage());
        }
    }

    private static void args(String[] f, int n, String usage) throws CommandException {
        if (f.length != n) {
            throw new CommandException("usage: " + usage);
        }
    }

    // ---- main -------------------------------------------------------------------------------

    public static void main(String[] args) {
        Options options;
        try {
            options = Options.parse(args);
        } catch (UsageException | IllegalArgumentException e) {
            if (e.getMessage() != null) {
                System.err.println("vcard: " + e.getMessage());
            }
            System.err.println("usage: java epurse.vcard.VirtualCardProcess [--default-cards] [--state FILE]"
                    + " [--control-port N] [--vpcd-host HOST] [--vpcd-port N] [--slots N] [--min-absence-ms N]"
                    + " [--kind NAME=CLASS:AIDHEX[:INSTALLHEX]] [--no-quickack] [--trace]");
            System.exit(e.getMessage() == null ? 0 : 2);
            return;
        }
        VirtualCardProcess process;
        try {
            process = new VirtualCardProcess(options, () -> System.exit(0));
        } catch (IOException | CommandException e) {
            System.err.println("vcard: cannot start: " + e.getMessage());
            System.exit(1);
            return;
        }
        // SIGTERM, SIGINT and the shutdown command all end here: save (with --state), close sockets.
        Runtime.getRuntime().addShutdownHook(new Thread(process::close, "vcard-stop"));
        process.start();
        try {
            process.awaitClose(); // the workers are daemon threads: keep the JVM up until we are told to stop
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
