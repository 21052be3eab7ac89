package epurse.purse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import epurse.testkit.Hex;
import epurse.testkit.PurseHost;
import epurse.testkit.SimCard.Rsp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Time per purse command inside jCardSim (in-process, no PC/SC): the baseline the reader stack
 * is compared with. Skipped unless {@code -Dbench=true}:
 *
 * <pre>mvn -q -f applet/pom.xml test -Dtest=CommandBench -Dbench=true [-Dbench.rounds=N]</pre>
 *
 * <p>Each round runs one complete load and one complete purchase on each purse plus the read
 * commands; only the card's processing of the one command is timed (the host-side MAC work that
 * builds the next APDU is outside the timed region). Medians and p99 over all rounds after a
 * warm-up of a fifth of the rounds. Every response is checked, so the benchmark measures
 * successful commands only.
 */
class CommandBench {

    private final Map<String, List<Long>> samples = new LinkedHashMap<>();

    private Rsp timed(PurseFixture f, String name, byte[] apdu, boolean record) {
        long t0 = System.nanoTime();
        Rsp r = f.send(apdu);
        long dt = System.nanoTime() - t0;
        if (r.sw() != 0x9000) {
            throw new AssertionError(name + " answered " + Integer.toHexString(r.sw()));
        }
        if (record) {
            samples.computeIfAbsent(name, k -> new ArrayList<>()).add(dt);
        }
        return r;
    }

    @Test
    void perCommandMedians() {
        assumeTrue(Boolean.getBoolean("bench"), "benchmark: run with -Dbench=true");
        int rounds = Integer.getInteger("bench.rounds", 2000);
        int warmup = rounds / 5;
        PurseFixture f = new PurseFixture();
        byte[] select = Hex.decode("00A4040008F04550555253450100");
        byte[] verify = Hex.concat(Hex.decode("0020008008"), PurseHost.pinBlock(f.profile.pin));
        long seq = 1;
        for (int i = 0; i < rounds + warmup; i++) {
            boolean rec = i >= warmup;
            timed(f, "SELECT", select, rec);
            timed(f, "GET STATUS", Hex.decode("805E000000"), rec);
            timed(f, "GET CHALLENGE", Hex.decode("0084000004"), rec);
            timed(f, "VERIFY PIN", verify, rec);
            for (int purse = PurseFixture.ECASH; purse <= PurseFixture.FOOD; purse++) {
                String p = purse == PurseFixture.ECASH ? " (e-Cash)" : " (food)";
                byte[] expiry = purse == PurseFixture.FOOD ? PurseFixture.EXPIRY : PurseFixture.NO_DATE;
                long amount = 1_000;
                Rsp init = timed(f, "INITIALIZE LOAD" + p,
                        PurseHost.initializeLoad(purse, 0, amount, PurseFixture.TERMINAL, expiry), rec);
                byte[] credit = f.creditLoadApdu(purse, init, amount, expiry, PurseFixture.DATETIME);
                timed(f, "CREDIT LOAD" + p, credit, rec);
                Rsp ip = timed(f, "INITIALIZE PURCHASE" + p,
                        PurseHost.initializePurchase(purse, 0, amount, PurseFixture.SAM_ID), rec);
                byte[] debit = f.debitPurchaseApdu(purse, ip, amount, PurseFixture.DATETIME, PurseFixture.FOOD_MCC,
                        seq++);
                Rsp d = timed(f, "DEBIT PURCHASE" + p, debit, rec);
                assertEquals(20, d.data().length);
                int ctr = PurseHost.InitPurchase.parse(ip.data()).ctr();
                timed(f, "GET TRANSACTION PROOF" + p,
                        Hex.concat(Hex.decode("805A" + String.format("%02X", purse) + "0202"), Hex.u16(ctr),
                                new byte[1]), rec);
            }
            timed(f, "READ LOG", Hex.decode("805C000000"), rec);
        }
        System.out.printf(Locale.ROOT, "jCardSim per-command time, %d rounds (after %d warm-up), Java %s:%n",
                rounds, warmup, System.getProperty("java.version"));
        System.out.printf(Locale.ROOT, "  %-34s %10s %10s%n", "command", "median µs", "p99 µs");
        for (Map.Entry<String, List<Long>> e : samples.entrySet()) {
            long[] v = e.getValue().stream().mapToLong(Long::longValue).toArray();
            Arrays.sort(v);
            System.out.printf(Locale.ROOT, "  %-34s %10.1f %10.1f%n", e.getKey(), v[v.length / 2] / 1000.0,
                    v[(int) Math.min(v.length - 1, Math.ceil(v.length * 0.99) - 1)] / 1000.0);
        }
    }
}
