package epurse.purse;

import static epurse.purse.PurseFixture.DATETIME;
import static epurse.purse.PurseFixture.ECASH;
import static epurse.purse.PurseFixture.FOOD;
import static epurse.purse.PurseFixture.FOOD_MCC;
import static epurse.purse.PurseFixture.NO_DATE;
import static epurse.purse.PurseFixture.SAM_ID;
import static epurse.purse.PurseFixture.TERMINAL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import epurse.purse.TestPurseApplet.Fault;
import epurse.purse.TestPurseApplet.Snapshot;
import epurse.testkit.Hex;
import epurse.testkit.PurseHost;
import epurse.testkit.PurseHost.InitLoad;
import epurse.testkit.PurseHost.InitPurchase;
import epurse.testkit.SimCard.Rsp;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Power loss and resets in the middle of loads and purchases (SPEC 2.8, 4.2): the session is
 * gone, persistent state is all-before or all-after, and the host's recovery rule (counters plus
 * GET TRANSACTION PROOF) reaches the right verdict. jCardSim has no rollback, so
 * {@link TestPurseApplet} models the card's: it snapshots the persistent arrays when a
 * transaction begins and restores them on abort or tear.
 */
class ResetAndTearTest {

    /** Where the card loses power during a two-command transaction. */
    enum Cut {
        AFTER_SELECT, AFTER_INITIALIZE, TEAR_AFTER_BALANCE_WRITE, TEAR_BEFORE_COMMIT, FAULT_IN_TRANSACTION,
        AFTER_COMPLETION_RESPONSE_LOST, NONE
    }

    private static void powerCycle(PurseFixture f) {
        f.card.reset();
        assertEquals(0x9000, f.card.select().sw());
    }

    /** The host's verdict from evidence only (SPEC 2.8). */
    enum Verdict { COMPLETED, NOT_COMPLETED, ESCALATE }

    static Verdict recover(PurseFixture f, int purse, int tt, int ctr, byte[] proofOut) {
        PurseFixture.Status s = f.status();
        int counter = tt == 2 ? s.purse(purse).purchaseCtr() : s.purse(purse).loadCtr();
        if (counter < ctr) {
            return Verdict.NOT_COMPLETED;
        }
        Rsp proof = f.send(String.format("805A%02X%02X02%04X00", purse, tt, ctr));
        if (proof.sw() == 0x6A88) {
            return Verdict.ESCALATE;
        }
        assertEquals(0x9000, proof.sw());
        System.arraycopy(proof.data(), 0, proofOut, 0, 48);
        return Verdict.COMPLETED;
    }

    static void assertConsistent(Snapshot before, PurseFixture f, int purse, boolean loadKind, boolean changed) {
        PurseFixture.Status s = f.status();
        PurseFixture.Status b = PurseFixtureStatus.parse(before.status());
        PurseFixture.PurseStatus was = b.purse(purse);
        PurseFixture.PurseStatus now = s.purse(purse);
        boolean balanceChanged = was.balance() != now.balance();
        boolean counterChanged = loadKind ? was.loadCtr() != now.loadCtr() : was.purchaseCtr() != now.purchaseCtr();
        assertEquals(changed, balanceChanged, "balance changed");
        assertEquals(balanceChanged, counterChanged, "balance changed iff counter changed");
        int logBefore = before.logIndex()[1];
        int logNow = f.applet.state.logIndex[1];
        assertEquals(changed ? Math.min(16, logBefore + 1) : logBefore, logNow, "log entries");
    }

    @ParameterizedTest
    @EnumSource(Cut.class)
    void connectedLoad(Cut cut) {
        PurseFixture f = new PurseFixture();
        f.load(ECASH, 1000);
        Snapshot before = f.applet.snapshot();
        long amount = 2500;
        Rsp init = f.initializeLoad(ECASH, amount, NO_DATE);
        InitLoad il = InitLoad.parse(init.data());
        byte[] credit = f.creditLoadApdu(ECASH, init, amount, NO_DATE, DATETIME);
        boolean completes = cut == Cut.AFTER_COMPLETION_RESPONSE_LOST || cut == Cut.NONE;
        switch (cut) {
            case AFTER_SELECT -> {
                powerCycle(f);
                Rsp again = f.send(credit);
                assertEquals(0x6985, again.sw());
            }
            case AFTER_INITIALIZE -> {
                powerCycle(f);
                assertEquals(0x6985, f.send(credit).sw(), "session gone after reset");
            }
            case TEAR_AFTER_BALANCE_WRITE, TEAR_BEFORE_COMMIT -> {
                f.applet.fault = cut == Cut.TEAR_BEFORE_COMMIT ? Fault.TEAR_BEFORE_COMMIT : Fault.TEAR_AT_STEP;
                f.send(credit);            // the response never reaches the host
                powerCycle(f);
                assertEquals(0x6985, f.send(credit).sw());
            }
            case FAULT_IN_TRANSACTION -> {
                f.applet.fault = Fault.EXCEPTION_AT_STEP;
                assertEquals(0x6F00, f.send(credit).sw(), "unexpected error -> 6F00, transaction aborted");
                assertTrue(f.applet.transactionsAborted > 0);
            }
            case AFTER_COMPLETION_RESPONSE_LOST -> {
                f.send(credit);
                powerCycle(f);
            }
            case NONE -> assertEquals(0x9000, f.send(credit).sw());
            default -> throw new IllegalStateException();
        }
        assertConsistent(before, f, ECASH, true, completes);
        byte[] proof = new byte[48];
        Verdict v = recover(f, ECASH, 1, il.ctr(), proof);
        assertEquals(completes ? Verdict.COMPLETED : Verdict.NOT_COMPLETED, v);
        if (completes) {
            // the back office finishes the load from the proof: REC as it expects, TAC right
            byte[] rec = PurseHost.record(1, ECASH, il.ctr(), amount, il.balance() + amount, TERMINAL, 0, DATETIME,
                    new byte[2], 0);
            assertArrayEquals(rec, Arrays.copyOf(proof, 32));
            assertArrayEquals(f.host.tac(f.serial(), rec), Arrays.copyOfRange(proof, 32, 40));
            assertEquals(1000 + amount, f.status().ecash().balance());
        } else {
            assertTrue(before.sameAs(f.applet.snapshot()), "persistent state exactly as before");
        }
    }

    @ParameterizedTest
    @EnumSource(Cut.class)
    void purchase(Cut cut) {
        PurseFixture f = new PurseFixture();
        f.load(FOOD, 10_000);
        Snapshot before = f.applet.snapshot();
        long amount = 700;
        Rsp init = f.initializePurchase(FOOD, amount);
        InitPurchase ip = InitPurchase.parse(init.data());
        byte[] debit = f.debitPurchaseApdu(FOOD, init, amount, DATETIME, FOOD_MCC, 77);
        boolean completes = cut == Cut.AFTER_COMPLETION_RESPONSE_LOST || cut == Cut.NONE;
        switch (cut) {
            case AFTER_SELECT, AFTER_INITIALIZE -> {
                powerCycle(f);
                assertEquals(0x6985, f.send(debit).sw());
            }
            case TEAR_AFTER_BALANCE_WRITE, TEAR_BEFORE_COMMIT -> {
                f.applet.fault = cut == Cut.TEAR_BEFORE_COMMIT ? Fault.TEAR_BEFORE_COMMIT : Fault.TEAR_AT_STEP;
                f.send(debit);
                powerCycle(f);
                assertEquals(0x6985, f.send(debit).sw());
            }
            case FAULT_IN_TRANSACTION -> {
                f.applet.fault = Fault.EXCEPTION_AT_STEP;
                assertEquals(0x6F00, f.send(debit).sw());
            }
            case AFTER_COMPLETION_RESPONSE_LOST -> {
                f.send(debit);
                powerCycle(f);
            }
            case NONE -> assertEquals(0x9000, f.send(debit).sw());
            default -> throw new IllegalStateException();
        }
        assertConsistent(before, f, FOOD, false, completes);
        byte[] proof = new byte[48];
        Verdict v = recover(f, FOOD, 2, ip.ctr(), proof);
        assertEquals(completes ? Verdict.COMPLETED : Verdict.NOT_COMPLETED, v);
        if (completes) {
            // the SAM finishes the purchase from the proof: MAC2 and TAC right
            long after = ip.balance() - amount;
            byte[] rec = PurseHost.record(2, FOOD, ip.ctr(), amount, after, SAM_ID, 77, DATETIME, FOOD_MCC, 0);
            assertArrayEquals(rec, Arrays.copyOf(proof, 32));
            assertArrayEquals(f.host.tac(f.serial(), rec), Arrays.copyOfRange(proof, 32, 40));
            assertArrayEquals(f.host.purchaseMac2(f.serial(), FOOD, ip, amount, after, 77),
                    Arrays.copyOfRange(proof, 40, 48));
        } else {
            assertTrue(before.sameAs(f.applet.snapshot()), "persistent state exactly as before");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Cut.class, names = {"TEAR_AFTER_BALANCE_WRITE", "TEAR_BEFORE_COMMIT", "FAULT_IN_TRANSACTION", "NONE"})
    void unconnectedLoad(Cut cut) {
        PurseFixture f = new PurseFixture();
        Snapshot before = f.applet.snapshot();
        f.applet.fault = switch (cut) {
            case TEAR_AFTER_BALANCE_WRITE -> Fault.TEAR_AT_STEP;
            case FAULT_IN_TRANSACTION -> Fault.EXCEPTION_AT_STEP;
            default -> Fault.NONE;
        };
        if (cut == Cut.TEAR_BEFORE_COMMIT) {
            // the first commit is the attempt counter: tear there, before the code is compared
            f.applet.fault = Fault.TEAR_BEFORE_COMMIT;
        }
        Rsp r = f.unconnectedLoad(ECASH, 5000, NO_DATE, true);
        if (cut != Cut.FAULT_IN_TRANSACTION) {
            powerCycle(f);
        }
        boolean completes = cut == Cut.NONE;
        if (completes) {
            assertEquals(0x9000, r.sw());
        }
        assertConsistent(before, f, ECASH, true, completes);
        PurseFixture.Status s = f.status();
        // a try is spent only if the card got as far as comparing (it tore after that)
        int expectedTries = switch (cut) {
            case NONE -> 3;
            case TEAR_BEFORE_COMMIT -> 3;
            default -> 2;
        };
        assertEquals(expectedTries, s.ucTries());
        byte[] proof = new byte[48];
        assertEquals(completes ? Verdict.COMPLETED : Verdict.NOT_COMPLETED, recover(f, ECASH, 4, 1, proof));
    }

    /** Resets between every pair of commands of a sequence of loads and purchases. */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7})
    void resetAtEveryPointOfAMixedSequence(int cutAfter) {
        PurseFixture f = new PurseFixture();
        f.load(ECASH, 20_000);
        Snapshot before = f.applet.snapshot();
        // INIT LOAD, CREDIT LOAD, INIT PURCHASE, DEBIT PURCHASE, ... built lazily from responses
        int sent = 0;
        long expectedBalance = 20_000;
        Rsp init = f.initializeLoad(ECASH, 300, NO_DATE);
        if (sent++ == cutAfter) {
            powerCycle(f);
        }
        Rsp credit = f.send(f.creditLoadApdu(ECASH, init, 300, NO_DATE, DATETIME));
        if (credit.sw() == 0x9000) {
            expectedBalance += 300;
        } else {
            assertEquals(0x6985, credit.sw());
        }
        if (sent++ == cutAfter) {
            powerCycle(f);
        }
        Rsp pinit = f.initializePurchase(ECASH, 200);
        if (sent++ == cutAfter) {
            powerCycle(f);
        }
        Rsp debit = f.send(f.debitPurchaseApdu(ECASH, pinit, 200, DATETIME, FOOD_MCC, 5));
        if (debit.sw() == 0x9000) {
            expectedBalance -= 200;
        } else {
            assertEquals(0x6985, debit.sw());
        }
        if (sent++ == cutAfter) {
            powerCycle(f);
        }
        PurseFixture.Status s = f.status();
        assertEquals(expectedBalance, s.ecash().balance());
        PurseFixture.Status b = PurseFixtureStatus.parse(before.status());
        assertEquals(b.ecash().loadCtr() + (credit.sw() == 0x9000 ? 1 : 0), s.ecash().loadCtr());
        assertEquals(b.ecash().purchaseCtr() + (debit.sw() == 0x9000 ? 1 : 0), s.ecash().purchaseCtr());
        // a reset also forgets the verified PIN and any challenge
        assertEquals(0x6985, f.send("841E0000080000000000000000").sw());
    }

    /** Value commands write nothing persistent before their transaction begins. */
    @org.junit.jupiter.api.Test
    void nothingIsWrittenOutsideTransactions() {
        PurseFixture f = new PurseFixture();
        checkNoWritesBeforeBegin(f, () -> f.load(ECASH, 5000));
        checkNoWritesBeforeBegin(f, () -> f.purchase(ECASH, 100));
        checkNoWritesBeforeBegin(f, () -> f.unconnectedLoad(ECASH, 100, NO_DATE, true));
        checkNoWritesBeforeBegin(f, () -> f.unconnectedLoad(ECASH, 100, NO_DATE, false));
        checkNoWritesBeforeBegin(f, () -> f.verify("0000"));
        checkNoWritesBeforeBegin(f, () -> f.verify("1234"));
        checkNoWritesBeforeBegin(f, () -> f.block());
        checkNoWritesBeforeBegin(f, () -> f.unblock(0));
    }

    private static void checkNoWritesBeforeBegin(PurseFixture f, Runnable flow) {
        Snapshot before = f.applet.snapshot();
        f.applet.beginSnapshots.clear();
        flow.run();
        assertTrue(!f.applet.beginSnapshots.isEmpty(), "a transaction was used");
        assertTrue(before.sameAs(f.applet.beginSnapshots.get(0)), "no persistent write before the first transaction");
    }

    /** Parses a GET STATUS image held in a snapshot. */
    static final class PurseFixtureStatus {
        static PurseFixture.Status parse(byte[] d) {
            return new PurseFixture.Status(d[0], d[1] & 0xFF, d[2], d[3], d[4], d[5], Hex.u16(d, 6), Hex.u32(d, 8),
                    Hex.u32(d, 12), purse(d, 16), purse(d, 36), d[56], Arrays.copyOfRange(d, 73, 81), d);
        }

        private static PurseFixture.PurseStatus purse(byte[] d, int o) {
            return new PurseFixture.PurseStatus(Hex.u32(d, o), Hex.u16(d, o + 4), Hex.u16(d, o + 6), Hex.u32(d, o + 8),
                    Hex.u32(d, o + 12), Arrays.copyOfRange(d, o + 16, o + 20));
        }
    }
}
