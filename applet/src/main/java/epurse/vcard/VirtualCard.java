package epurse.vcard;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import com.licel.jcardsim.utils.AIDUtil;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javacard.framework.AID;
import javacard.framework.Applet;

/**
 * One simulated card: a jCardSim runtime of its own with one applet, and the journal of
 * everything that reached it.
 *
 * <p><b>Why a journal.</b> jCardSim keeps applet state in plain Java objects (the applet's
 * fields, jCardSim's key and cipher objects, BouncyCastle engines) that are not
 * {@code Serializable}, so a card cannot be written to disk as it is. What can be written is
 * its history: the install, every power-on/reset and every APDU the card processed, in order.
 * Replaying that history into a fresh runtime rebuilds the same persistent and transient state,
 * because an applet is a deterministic function of its inputs once its random numbers are:
 * jCardSim's {@code RandomData} is a SHA-1 digest generator seeded from the system property
 * {@code com.licel.jcardsim.randomdata.seed} when the object is made, and this class sets that
 * property, under one engine lock, to {@code SHA-256(card seed || operation number)} around every
 * operation. Each recorded response is compared during replay, so a restore that does not
 * reproduce the card exactly (e.g. the applet classes changed) fails instead of loading a
 * different card.
 *
 * <p>All jCardSim calls go through {@link #ENGINE}: the seed property is process-wide, and
 * jCardSim binds its "current runtime" per thread.
 */
final class VirtualCard {
    /** Serialises every call into jCardSim across all cards. */
    static final Object ENGINE = new Object();

    static final String SEED_PROPERTY = "com.licel.jcardsim.randomdata.seed";
    static final byte[] SW_NO_APPLET = {0x6A, (byte) 0x82};
    static final byte[] SW_UNKNOWN = {0x6F, 0x00};
    static final byte[] SW_WRONG_LENGTH = {0x67, 0x00};

    /** One journal entry. */
    static final class Op {
        static final char INSTALL = 'I';
        static final char RESET = 'R';
        static final char APDU = 'A';

        final char type;
        final byte[] command;
        final byte[] response;

        Op(char type, byte[] command, byte[] response) {
            this.type = type;
            this.command = command;
            this.response = response;
        }
    }

    /** Thrown when a replayed journal does not give the recorded responses. */
    static final class ReplayException extends Exception {
        private static final long serialVersionUID = 1L;

        ReplayException(String message) {
            super(message);
        }
    }

    final String name;
    final CardKind kind;
    private final byte[] seed;
    private final SimulatorRuntime runtime;
    private final Simulator simulator;
    private final List<Op> journal = new ArrayList<>(); // guarded by ENGINE
    private boolean appletInstalled;                      // guarded by ENGINE
    private String appletProblem;                         // guarded by ENGINE
    private long apdus;                                   // guarded by ENGINE
    private long nanosInCard;                             // guarded by ENGINE

    private VirtualCard(String name, CardKind kind, byte[] seed) {
        this.name = name;
        this.kind = kind;
        this.seed = seed.clone();
        this.runtime = new SimulatorRuntime();
        this.simulator = new Simulator(runtime);
        this.simulator.changeProtocol("T=1");
    }

    /** A new card with the kind's applet installed (or none, when its class is not on the classpath). */
    static VirtualCard create(String name, CardKind kind, byte[] seed) {
        VirtualCard card = new VirtualCard(name, kind, seed);
        synchronized (ENGINE) {
            card.install(true);
        }
        return card;
    }

    /** Rebuilds a card by replaying its journal; every recorded response must come out again. */
    static VirtualCard restore(String name, CardKind kind, byte[] seed, List<Op> ops) throws ReplayException {
        if (ops.isEmpty() || ops.get(0).type != Op.INSTALL) {
            throw new ReplayException("card " + name + ": journal does not start with the install");
        }
        VirtualCard card = new VirtualCard(name, kind, seed);
        synchronized (ENGINE) {
            boolean wasInstalled = ops.get(0).response.length == 1 && ops.get(0).response[0] == 1;
            card.install(wasInstalled);
            if (wasInstalled && !card.appletInstalled) {
                throw new ReplayException("card " + name + ": " + card.appletProblem);
            }
            for (int i = 1; i < ops.size(); i++) {
                Op op = ops.get(i);
                if (op.type == Op.RESET) {
                    card.powerReset();
                } else if (op.type == Op.APDU) {
                    byte[] got = card.transmit(op.command);
                    if (!Arrays.equals(got, op.response)) {
                        throw new ReplayException(String.format(
                                "card %s: replay diverged at operation %d: command %s answered %s, recorded %s"
                                        + " (the applet classes changed since the state was saved?)",
                                name, i, headerOf(op.command), Hex.encode(got), Hex.encode(op.response)));
                    }
                } else {
                    throw new ReplayException("card " + name + ": unexpected journal entry '" + op.type + "' at " + i);
                }
            }
        }
        return card;
    }

    private void install(boolean wanted) {
        Class<? extends Applet> appletClass = wanted ? loadAppletClass() : null;
        if (appletClass != null) {
            try {
                withSeed(() -> {
                    byte[] bArray = kind.installArray();
                    AID aid = AIDUtil.create(kind.aid());
                    simulator.installApplet(aid, appletClass, bArray, (short) 0, (byte) bArray.length);
                    return null;
                });
                appletInstalled = true;
            } catch (RuntimeException e) {
                appletProblem = "installing " + kind.appletClass + " failed: " + e;
            }
        }
        journal.add(new Op(Op.INSTALL, new byte[0], new byte[] {(byte) (appletInstalled ? 1 : 0)}));
    }

    private Class<? extends Applet> loadAppletClass() {
        try {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            Class<?> c = Class.forName(kind.appletClass, true, loader != null ? loader : VirtualCard.class.getClassLoader());
            if (!Applet.class.isAssignableFrom(c)) {
                appletProblem = kind.appletClass + " is not a javacard.framework.Applet";
                return null;
            }
            return c.asSubclass(Applet.class);
        } catch (ClassNotFoundException e) {
            appletProblem = "applet class " + kind.appletClass + " is not on the classpath (build the applets first)";
        } catch (LinkageError e) {
            appletProblem = "applet class " + kind.appletClass + " cannot be loaded: " + e;
        }
        return null;
    }

    /** Power-on, power-off, warm reset, insertion and removal: transient memory cleared, nothing selected. */
    void powerReset() {
        synchronized (ENGINE) {
            simulator.reset();
            Op last = journal.get(journal.size() - 1);
            if (last.type != Op.RESET) { // a second reset in a row changes nothing
                journal.add(new Op(Op.RESET, new byte[0], new byte[0]));
            }
        }
    }

    /** Processes one C-APDU and returns the R-APDU (data || SW1 SW2). */
    byte[] transmit(byte[] command) {
        synchronized (ENGINE) {
            long start = System.nanoTime();
            byte[] response;
            if (!wellFormed(command)) {
                response = SW_WRONG_LENGTH.clone(); // Lc/Le do not match the length: refused before any applet
            } else if (isSelectByName(command) && runtime.getAID() == null && !selectsOurApplet(command)) {
                // What a Java Card runtime answers when no applet has the AID and none is selected
                // (jCardSim says 6999); with an applet selected, the command goes to that applet.
                response = SW_NO_APPLET.clone();
            } else {
                try {
                    response = withSeed(() -> simulator.transmitCommand(command));
                } catch (IllegalArgumentException e) {
                    // jCardSim refuses a C-APDU whose Lc/Le do not match its length before any applet sees it
                    response = SW_WRONG_LENGTH.clone();
                } catch (RuntimeException e) {
                    // jCardSim turns applet exceptions into status words itself; this is a simulator fault.
                    Log.info("card " + name + ": simulator failed on " + headerOf(command) + ": " + e);
                    response = SW_UNKNOWN.clone();
                }
            }
            nanosInCard += System.nanoTime() - start;
            apdus++;
            journal.add(new Op(Op.APDU, command.clone(), response.clone()));
            return response;
        }
    }

    private <T> T withSeed(java.util.function.Supplier<T> action) {
        String previous = System.getProperty(SEED_PROPERTY);
        System.setProperty(SEED_PROPERTY, Hex.encode(operationSeed(journal.size())));
        try {
            return action.get();
        } finally {
            if (previous == null) {
                System.clearProperty(SEED_PROPERTY);
            } else {
                System.setProperty(SEED_PROPERTY, previous);
            }
        }
    }

    private byte[] operationSeed(int operation) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(seed);
            sha.update(ByteBuffer.allocate(4).putInt(operation).array());
            return sha.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** ISO/IEC 7816-4 short or extended C-APDU whose Lc and Le agree with its length. */
    static boolean wellFormed(byte[] c) {
        int n = c.length;
        if (n < 4) {
            return false;
        }
        if (n <= 5) {
            return true; // case 1, case 2 short
        }
        int b = c[4] & 0xFF;
        if (b != 0) {
            return n == 5 + b || n == 6 + b; // case 3 / case 4 short
        }
        if (n == 7) {
            return true; // case 2 extended
        }
        int lc = ((c[5] & 0xFF) << 8) | (c[6] & 0xFF);
        return lc != 0 && (n == 7 + lc || n == 9 + lc); // case 3 / case 4 extended
    }

    /** SELECT by DF name with our applet's AID, whole or a leading part of it (partial selection). */
    private boolean selectsOurApplet(byte[] command) {
        if (!appletInstalled || command.length < 5) {
            return false;
        }
        int lc = command[4] & 0xFF;
        if (lc < 5 || command.length < 5 + lc) {
            return false;
        }
        byte[] aid = kind.aid();
        return lc <= aid.length && Arrays.equals(command, 5, 5 + lc, aid, 0, lc);
    }

    static boolean isSelectByName(byte[] command) {
        return command.length >= 4 && command[1] == (byte) 0xA4 && command[2] == 0x04 && (command[0] & 0xFC) == 0x00;
    }

    /** CLA INS P1 P2 and the data length: what a log may show of a command (no data: keys, PINs, MACs). */
    static String headerOf(byte[] command) {
        if (command.length < 4) {
            return Hex.encode(command);
        }
        String h = Hex.encode(command, 0, 4);
        if (command.length > 5) {
            return h + " Lc=" + (command[4] & 0xFF);
        }
        return h;
    }

    byte[] atr() {
        return kind.atr();
    }

    byte[] seed() {
        return seed.clone();
    }

    boolean appletInstalled() {
        synchronized (ENGINE) {
            return appletInstalled;
        }
    }

    String appletProblem() {
        synchronized (ENGINE) {
            return appletProblem;
        }
    }

    /** A copy of the journal, for saving. */
    List<Op> journal() {
        synchronized (ENGINE) {
            return new ArrayList<>(journal);
        }
    }

    int journalSize() {
        synchronized (ENGINE) {
            return journal.size();
        }
    }

    long apdus() {
        synchronized (ENGINE) {
            return apdus;
        }
    }

    long nanosInCard() {
        synchronized (ENGINE) {
            return nanosInCard;
        }
    }
}
