package epurse.purse;

import static epurse.purse.PurseFixture.DATETIME;
import static epurse.purse.PurseFixture.ECASH;
import static epurse.purse.PurseFixture.FOOD;
import static epurse.purse.PurseFixture.FOOD_MCC;
import static epurse.purse.PurseFixture.NO_DATE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import epurse.testkit.Hex;
import epurse.testkit.PurseHost;
import epurse.testkit.SimCard.Rsp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * 100 000 random commands (fixed seed) against a personalised purse: fully random APDUs,
 * valid CLA/INS with random parameters and data, mutations of valid commands, interleaved with
 * valid loads, purchases, unconnected loads, PIN and issuer flows and the odd power cycle.
 * After each command the status word must be one of SPEC 5's and GET STATUS must show the
 * invariants: balances within their maximum, counters never shrink, the lifecycle unchanged,
 * and the sum of the balances equal to what the valid flows loaded minus what they spent.
 */
class RandomApduTest {

    static final int COMMANDS = Integer.getInteger("epurse.random.commands", 100_000);
    static final long SEED = 20261123L;

    static final Set<Integer> ALLOWED = Set.of(0x9000, 0x6283, 0x6700, 0x6982, 0x6983, 0x6985, 0x6A80, 0x6A83,
            0x6A84, 0x6A86, 0x6A88, 0x6D00, 0x6E00, 0x9302, 0x9303, 0x9401, 0x9402, 0x9403, 0x9404, 0x9405, 0x9406,
            0x9407, 0x9408);

    static boolean allowed(byte[] apdu, int sw) {
        if (ALLOWED.contains(sw) || (sw & 0xFF00) == 0x6100 || (sw & 0xFFF0) == 0x63C0) {
            return true;
        }
        // SPEC 5: the runtime answers 6A82 to a SELECT of an unknown AID
        return sw == 0x6A82 && apdu[0] == 0x00 && apdu[1] == (byte) 0xA4 && apdu[2] == 0x04;
    }

    private final Random rnd = new Random(SEED);
    private final PurseFixture f = new PurseFixture();
    private final List<byte[]> validPool = new ArrayList<>();
    private final Map<String, Integer> swCounts = new TreeMap<>();
    private final List<String> problems = new ArrayList<>();
    private int inconsistencies;
    private int commands;
    private int randomCommands;
    private int runtimeRejected;
    private long loaded;
    private long spent;
    private PurseFixture.Status last;
    private boolean sessionOpen;

    @Test
    void randomApdus() {
        last = f.status();
        long t0 = System.nanoTime();
        while (randomCommands < COMMANDS) {
            int kind = rnd.nextInt(100);
            if (kind < 25) {
                random(fullyRandom());
            } else if (kind < 55) {
                random(knownInstruction());
            } else if (kind < 85) {
                random(mutation());
            } else if (kind < 98) {
                validFlow();
            } else {
                f.card.reset();
                f.card.select();
                sessionOpen = false;
                check("power cycle");
            }
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("random APDUs: %d, inconsistencies: %d%n", randomCommands, inconsistencies);
        System.out.printf("  (%d APDUs in all with the valid flows and GET STATUS checks, %d ms; status words of the"
                + " random and flow commands %s; %d random APDUs refused by the jCardSim runtime before the applet)%n",
                commands, ms, swCounts, runtimeRejected);
        problems.stream().limit(20).forEach(System.out::println);
        assertEquals(0, inconsistencies, String.join("\n", problems.subList(0, Math.min(20, problems.size()))));
        assertTrue(randomCommands >= COMMANDS);
    }

    // ---- generators

    private byte[] apdu(int cla, int ins, int p1, int p2, byte[] data, boolean withLe) {
        byte[] header = {(byte) cla, (byte) ins, (byte) p1, (byte) p2};
        if (data.length == 0) {
            return withLe ? Hex.concat(header, new byte[] {(byte) rnd.nextInt(256)}) : header;
        }
        byte[] body = Hex.concat(header, new byte[] {(byte) data.length}, data);
        return withLe ? Hex.concat(body, new byte[] {(byte) rnd.nextInt(256)}) : body;
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    private byte[] fullyRandom() {
        int len = rnd.nextInt(4) == 0 ? rnd.nextInt(256) : rnd.nextInt(40);
        return apdu(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256), randomBytes(len),
                rnd.nextBoolean());
    }

    private static final int[][] COMMAND_TABLE = {
        {0x00, 0xA4}, {0x80, 0x5E}, {0x80, 0x5C}, {0x80, 0x50}, {0x80, 0x52}, {0x80, 0x54}, {0x80, 0x56},
        {0x80, 0x5A}, {0x80, 0x58}, {0x00, 0x20}, {0x00, 0x24}, {0x00, 0x84}, {0x84, 0x60}, {0x84, 0x1E},
        {0x84, 0x18}, {0x84, 0x24}, {0x84, 0x72},
    };
    private static final int[] LENGTHS = {0, 2, 8, 10, 14, 15, 16, 19, 21, 32, 136};

    private byte[] knownInstruction() {
        int[] c = COMMAND_TABLE[rnd.nextInt(COMMAND_TABLE.length)];
        int len = rnd.nextInt(3) == 0 ? rnd.nextInt(256) : LENGTHS[rnd.nextInt(LENGTHS.length)];
        int p1 = rnd.nextInt(3) == 0 ? rnd.nextInt(256) : rnd.nextInt(5);
        int p2 = rnd.nextInt(3) == 0 ? rnd.nextInt(256) : (rnd.nextBoolean() ? 0 : rnd.nextInt(3) == 0 ? 0x80 : 1);
        return apdu(c[0], c[1], p1, p2, randomBytes(len), rnd.nextBoolean());
    }

    private byte[] mutation() {
        if (validPool.isEmpty()) {
            return knownInstruction();
        }
        return mutate(validPool.get(rnd.nextInt(validPool.size())));
    }

    private byte[] mutate(byte[] valid) {
        byte[] base = valid.clone();
        int lc = base.length > 5 ? base[4] & 0xFF : 0;
        byte[] data = base.length > 5 ? java.util.Arrays.copyOfRange(base, 5, 5 + lc) : new byte[0];
        switch (rnd.nextInt(6)) {
            case 0 -> {   // flip bits in the data
                if (data.length > 0) {
                    data[rnd.nextInt(data.length)] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 1 -> base[2] = (byte) rnd.nextInt(256);
            case 2 -> base[3] = (byte) rnd.nextInt(256);
            case 3 -> data = java.util.Arrays.copyOf(data, Math.max(0, data.length + rnd.nextInt(5) - 3));
            case 4 -> base[0] = (byte) (base[0] ^ (1 << rnd.nextInt(8)));
            default -> {   // resend unchanged (replay)
            }
        }
        return apdu(base[0] & 0xFF, base[1] & 0xFF, base[2] & 0xFF, base[3] & 0xFF, data, rnd.nextBoolean());
    }

    // ---- sending and checking

    private Rsp send(byte[] apdu, String what) {
        Rsp r;
        long calls = f.applet.processCalls;
        try {
            r = f.send(apdu);
        } catch (RuntimeException e) {
            // jCardSim's own SELECT matching throws on an AID longer than 16 bytes, before any
            // applet runs (a card's runtime answers such a SELECT itself); anything else is ours
            boolean runtimeSelect = java.util.Arrays.stream(e.getStackTrace())
                    .anyMatch(t -> t.getMethodName().equals("findAppletForSelectApdu"));
            if (!runtimeSelect) {
                throw e;
            }
            runtimeRejected++;
            return new Rsp(new byte[0], 0x6A82);
        }
        if (f.applet.processCalls == calls && apdu.length > 260) {
            // jCardSim's APDU buffer is 260 bytes: 5 + 255 + Le does not fit and the simulator
            // answers 6F00 itself without calling the applet (a card's buffer holds 261)
            runtimeRejected++;
            return r;
        }
        commands++;
        swCounts.merge(String.format("%04X", r.sw()), 1, Integer::sum);
        if (!allowed(apdu, r.sw())) {
            problem(what + ": " + Hex.encode(apdu) + " -> SW " + String.format("%04X", r.sw()));
        }
        return r;
    }

    private void random(byte[] apdu) {
        randomCommands++;
        Rsp r = send(apdu, "random");
        int ins = apdu[1] & 0xFF;
        sessionOpen = r.sw() == 0x9000 && (ins == 0x50 || ins == 0x54 || ins == 0x84);
        if (!sessionOpen) {
            check("after random " + Hex.encode(apdu));
        }
    }

    private void problem(String p) {
        inconsistencies++;
        if (problems.size() < 50) {
            problems.add(p);
        }
    }

    /** The invariants, through GET STATUS (which also closes any session). */
    private void check(String where) {
        PurseFixture.Status s = f.status();
        commands++;
        if (s.lifecycle() != 2) {
            problem(where + ": lifecycle " + s.lifecycle());
        }
        for (int p = 1; p <= 2; p++) {
            PurseFixture.PurseStatus now = s.purse(p);
            PurseFixture.PurseStatus was = last.purse(p);
            if (now.balance() > now.maxBalance()) {
                problem(where + ": purse " + p + " balance above max");
            }
            if (now.loadCtr() < was.loadCtr() || now.purchaseCtr() < was.purchaseCtr()) {
                problem(where + ": purse " + p + " counter went down");
            }
            boolean balanceChanged = now.balance() != was.balance();
            boolean counterChanged = now.loadCtr() != was.loadCtr() || now.purchaseCtr() != was.purchaseCtr();
            if (balanceChanged != counterChanged) {
                problem(where + ": purse " + p + " balance and counters disagree");
            }
        }
        if (s.adminCtr() < last.adminCtr()) {
            problem(where + ": admin counter went down");
        }
        long sum = s.ecash().balance() + s.food().balance();
        if (sum != loaded - spent) {
            problem(where + ": balances " + sum + " != loaded " + loaded + " - spent " + spent);
        }
        last = s;
        sessionOpen = false;
    }

    // ---- valid flows

    private void remember(byte[] apdu) {
        if (validPool.size() < 200) {
            validPool.add(apdu);
        } else {
            validPool.set(rnd.nextInt(validPool.size()), apdu);
        }
    }

    private void expect(String what, Rsp r, int sw) {
        if (r.sw() != sw) {
            problem("valid " + what + " -> " + String.format("%04X", r.sw()) + " (expected " + String.format("%04X", sw) + ")");
        }
    }

    private long pick(long max) {
        return max <= 0 ? 0 : 1 + (long) (rnd.nextDouble() * max) % max;
    }

    private void validFlow() {
        int purse = rnd.nextBoolean() ? ECASH : FOOD;
        PurseFixture.PurseStatus ps = last.purse(purse);
        byte[] expiry = purse == FOOD ? Hex.decode("20301231") : NO_DATE;
        switch (rnd.nextInt(6)) {
            case 0, 1 -> {   // connected load
                long amount = pick(Math.min(ps.maxAmount(), ps.maxBalance() - ps.balance()));
                if (amount == 0) {
                    return;
                }
                byte[] init = PurseHost.initializeLoad(purse, 1, amount, PurseFixture.TERMINAL, expiry);
                Rsp ir = send(init, "INITIALIZE LOAD");
                expect("INITIALIZE LOAD", ir, 0x9000);
                remember(init);
                if (ir.sw() != 0x9000) {
                    check("load");
                    return;
                }
                byte[] credit = f.creditLoadApdu(purse, ir, amount, expiry, DATETIME);
                remember(credit);
                byte[] sent = rnd.nextInt(3) == 0 ? mutate(credit) : credit;
                Rsp cr = send(sent, "CREDIT LOAD");
                if (sent == credit) {
                    expect("CREDIT LOAD", cr, 0x9000);
                }
                if (cr.sw() == 0x9000) {
                    loaded += amount;
                }
            }
            case 2, 3 -> {   // purchase below the no-PIN limit, at a food merchant
                long amount = pick(Math.min(Math.min(ps.balance(), ps.maxAmount()), last.noPinLimit()));
                if (amount == 0) {
                    return;
                }
                byte[] init = PurseHost.initializePurchase(purse, 1, amount, PurseFixture.SAM_ID);
                Rsp ir = send(init, "INITIALIZE PURCHASE");
                expect("INITIALIZE PURCHASE", ir, 0x9000);
                remember(init);
                if (ir.sw() != 0x9000) {
                    check("purchase");
                    return;
                }
                byte[] debit = f.debitPurchaseApdu(purse, ir, amount, DATETIME, FOOD_MCC, f.samSeq++);
                remember(debit);
                byte[] sent = rnd.nextInt(3) == 0 ? mutate(debit) : debit;
                Rsp dr = send(sent, "DEBIT PURCHASE");
                if (sent == debit) {
                    expect("DEBIT PURCHASE", dr, 0x9000);
                }
                if (dr.sw() == 0x9000) {
                    spent += amount;
                }
            }
            case 4 -> {   // unconnected load, re-enabled by the issuer when random codes disabled it
                long amount = pick(Math.min(Math.min(ps.maxAmount(), last.ucMax()), ps.maxBalance() - ps.balance()));
                if (amount == 0) {
                    return;
                }
                if (last.ucTries() == 0) {
                    issuer(0x18, 1, new byte[0]);
                }
                int ctr = ps.loadCtr() + 1;
                byte[] auth = f.host.unconnectedAuth(f.serial(), purse, ctr, amount, expiry);
                byte[] cmd = PurseHost.unconnectedLoad(purse, amount, expiry, DATETIME, auth);
                remember(cmd);
                Rsp r = send(cmd, "UNCONNECTED LOAD");
                expect("UNCONNECTED LOAD", r, 0x9000);
                if (r.sw() == 0x9000) {
                    loaded += amount;
                }
            }
            default -> {   // PIN: unblock when random VERIFYs blocked it, verify, a purchase above the limit
                if (last.pinTries() < last.pinLimit()) {
                    issuer(0x24, 0, new byte[0]);
                }
                byte[] verify = Hex.concat(Hex.decode("0020008008"), PurseHost.pinBlock("1234"));
                remember(verify);
                expect("VERIFY PIN", send(verify, "VERIFY PIN"), 0x9000);
                long amount = pick(Math.min(ps.balance(), ps.maxAmount()));
                if (amount == 0) {
                    return;
                }
                byte[] init = PurseHost.initializePurchase(purse, 0, amount, PurseFixture.SAM_ID);
                Rsp ir = send(init, "INITIALIZE PURCHASE (PIN)");
                expect("INITIALIZE PURCHASE (PIN)", ir, 0x9000);
                if (ir.sw() == 0x9000) {
                    Rsp dr = send(f.debitPurchaseApdu(purse, ir, amount, DATETIME, FOOD_MCC, f.samSeq++), "DEBIT (PIN)");
                    expect("DEBIT PURCHASE (PIN)", dr, 0x9000);
                    if (dr.sw() == 0x9000) {
                        spent += amount;
                    }
                }
            }
        }
        check("valid flow");
    }

    private void issuer(int ins, int p1, byte[] data) {
        int actr = last.adminCtr() + 1;
        Rsp c = send(Hex.decode("0084000004"), "GET CHALLENGE");
        byte[] cmd = f.host.issuerCommand(f.serial(), c.data(), actr, ins, p1, 0, data);
        remember(cmd);
        expect(String.format("issuer %02X", ins), send(cmd, "issuer"), 0x9000);
        check("issuer");
    }
}
