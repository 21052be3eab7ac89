package epurse.purse;

import epurse.testkit.Hex;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Random;
import javacard.framework.Util;

/**
 * The purse applet with test seams: fixed card randoms, a model of Java Card transaction
 * rollback (jCardSim 3.0.5 does not roll back), tears and faults inside a transaction, and
 * direct access to the persistent state. Production code has none of this.
 */
public class TestPurseApplet extends PurseApplet {

    /** The most recently installed instance (tests run one card at a time per thread). */
    public static TestPurseApplet last;

    /** Randoms handed out in order; when empty, a seeded generator takes over. */
    public final Deque<byte[]> randoms = new ArrayDeque<>();
    private final Random fallback = new Random(7);

    /** Thrown to model power loss: the card stops dead, nothing after it runs. */
    public static final class Tear extends Error {
        Tear() {
            super("tear");
        }
    }

    /** What to do at the next {@link #transactionStep()} or commit. */
    public enum Fault { NONE, TEAR_AT_STEP, EXCEPTION_AT_STEP, TEAR_BEFORE_COMMIT }

    public Fault fault = Fault.NONE;
    public int transactionsBegun;
    /** The persistent state at every beginTransaction, in order (tests clear it). */
    public final java.util.List<Snapshot> beginSnapshots = new java.util.ArrayList<>();
    public int transactionsAborted;
    /** Persistent state at beginTransaction, restored on abort or tear (the card's rollback). */
    private Snapshot openTransaction;

    protected TestPurseApplet(byte[] key, short off) {
        super(key, off);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        short aidLen = (short) (bArray[bOffset] & 0xFF);
        short aidOff = (short) (bOffset + 1);
        short off = (short) (aidOff + aidLen);
        off = (short) (off + 1 + (bArray[off] & 0xFF));
        short paramLen = (short) (bArray[off] & 0xFF);
        off++;
        TestPurseApplet applet = paramLen == 16
                ? new TestPurseApplet(bArray, off)
                : new TestPurseApplet(Hex.decode("404142434445464748494A4B4C4D4E4F"), (short) 0);
        applet.register(bArray, aidOff, (byte) aidLen);
        last = applet;
    }

    /** How many APDUs reached the applet (a runtime-level refusal does not count). */
    public long processCalls;

    @Override
    public void process(javacard.framework.APDU apdu) {
        processCalls++;
        super.process(apdu);
    }

    @Override
    protected void cardRandom(byte[] buf, short off) {
        byte[] r = randoms.poll();
        if (r == null) {
            r = new byte[4];
            fallback.nextBytes(r);
        }
        Util.arrayCopyNonAtomic(r, (short) 0, buf, off, (short) 4);
    }

    @Override
    protected void beginTransaction() {
        super.beginTransaction();
        transactionsBegun++;
        openTransaction = Snapshot.of(this);
        beginSnapshots.add(openTransaction);
    }

    @Override
    protected void commitTransaction() {
        if (fault == Fault.TEAR_BEFORE_COMMIT) {
            fault = Fault.NONE;
            tear();
        }
        super.commitTransaction();
        openTransaction = null;
    }

    @Override
    protected void abortTransaction() {
        if (openTransaction != null) {
            openTransaction.restore(this);
            openTransaction = null;
            transactionsAborted++;
        }
        super.abortTransaction();
    }

    @Override
    protected void transactionStep() {
        if (fault == Fault.TEAR_AT_STEP) {
            fault = Fault.NONE;
            tear();
        }
        if (fault == Fault.EXCEPTION_AT_STEP) {
            fault = Fault.NONE;
            // anything a card can throw mid-transaction, e.g. commit buffer full
            javacard.framework.TransactionException.throwIt(javacard.framework.TransactionException.BUFFER_FULL);
        }
    }

    /** Power loss: the card rolls the open transaction back at the next power-up. */
    private void tear() {
        if (openTransaction != null) {
            openTransaction.restore(this);
            openTransaction = null;
        }
        javacard.framework.JCSystem.abortTransaction();
        throw new Tear();
    }

    // ---- direct state access for tests

    public void setLoadCounter(byte purse, int value) {
        Util.setShort(state.status, (short) (PurseState.purseBlock(purse) + PurseState.P_LOAD_CTR), (short) value);
    }

    public void setPurchaseCounter(byte purse, int value) {
        Util.setShort(state.status, (short) (PurseState.purseBlock(purse) + PurseState.P_PURCHASE_CTR), (short) value);
    }

    public void setAdminCounter(int value) {
        Util.setShort(state.status, PurseState.ADMIN_CTR, (short) value);
    }

    public Snapshot snapshot() {
        return Snapshot.of(this);
    }

    /** A copy of every persistent array of the purse. */
    public record Snapshot(byte[] status, byte[] pinBlock, byte[] log, byte[] logIndex) {
        static Snapshot of(PurseApplet a) {
            return new Snapshot(a.state.status.clone(), a.state.pinBlock.clone(), a.state.log.clone(),
                    a.state.logIndex.clone());
        }

        void restore(PurseApplet a) {
            System.arraycopy(status, 0, a.state.status, 0, status.length);
            System.arraycopy(pinBlock, 0, a.state.pinBlock, 0, pinBlock.length);
            System.arraycopy(log, 0, a.state.log, 0, log.length);
            System.arraycopy(logIndex, 0, a.state.logIndex, 0, logIndex.length);
        }

        public boolean sameAs(Snapshot o) {
            return java.util.Arrays.equals(status, o.status) && java.util.Arrays.equals(pinBlock, o.pinBlock)
                    && java.util.Arrays.equals(log, o.log) && java.util.Arrays.equals(logIndex, o.logIndex);
        }
    }

}
