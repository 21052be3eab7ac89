package epurse.purse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import epurse.testkit.Hex;
import epurse.testkit.PurseHost;
import epurse.testkit.PurseHost.InitLoad;
import epurse.testkit.PurseHost.InitPurchase;
import epurse.testkit.PurseHost.Profile;
import epurse.testkit.SimCard;
import epurse.testkit.SimCard.Rsp;
import java.util.Arrays;

/**
 * A purse card in jCardSim plus the host side that drives it: personalise, load, purchase,
 * issuer commands, GET STATUS parsed. Every helper checks the card's cryptograms with the
 * independent {@link epurse.testkit.HostCrypto}.
 */
final class PurseFixture {

    static final byte[] TERMINAL = Hex.decode("544C52303031");
    static final byte[] SAM_ID = Hex.decode("534D00000001");
    static final byte[] NO_DATE = new byte[4];
    static final byte[] EXPIRY = Hex.decode("20261231");
    static final byte[] DATETIME = Hex.decode("20260315103000");
    static final byte[] FOOD_MCC = Hex.decode("5411");
    static final byte[] OTHER_MCC = Hex.decode("5732");
    static final int ECASH = 1;
    static final int FOOD = 2;

    final PurseHost host = PurseHost.vectorKeys();
    final Profile profile;
    final SimCard card;
    final TestPurseApplet applet;
    long samSeq = 1;

    PurseFixture() {
        this(new Profile(), true);
    }

    PurseFixture(Profile profile, boolean personalise) {
        this.profile = profile;
        card = new SimCard(PurseHost.PURSE_AID, TestPurseApplet.class, null);
        applet = TestPurseApplet.last;
        card.select();
        if (personalise) {
            Rsp r = personalise(profile);
            assertEquals(0x9000, r.sw(), "personalisation");
        }
    }

    byte[] serial() {
        return profile.serial;
    }

    Rsp send(byte[] apdu) {
        return card.send(apdu);
    }

    Rsp send(String hex) {
        return card.send(hex);
    }

    Rsp personalise(Profile p) {
        byte[] challenge = challenge();
        return send(host.personalize(challenge, host.personalisationData(p)));
    }

    byte[] challenge() {
        Rsp r = send("0084000004");
        assertEquals(0x9000, r.sw(), "GET CHALLENGE");
        return r.data();
    }

    // ---- status

    record PurseStatus(long balance, int loadCtr, int purchaseCtr, long maxBalance, long maxAmount, byte[] expiry) {
    }

    record Status(int lifecycle, int kv, int pinTries, int pinLimit, int ucTries, int ucLimit, int adminCtr,
                  long noPinLimit, long ucMax, PurseStatus ecash, PurseStatus food, int mccCount, byte[] serial,
                  byte[] raw) {
        PurseStatus purse(int p) {
            return p == ECASH ? ecash : food;
        }
    }

    Status status() {
        Rsp r = send("805E000000");
        assertEquals(0x9000, r.sw(), "GET STATUS");
        byte[] d = r.data();
        assertEquals(81, d.length);
        return new Status(d[0], d[1] & 0xFF, d[2], d[3], d[4], d[5], Hex.u16(d, 6), Hex.u32(d, 8), Hex.u32(d, 12),
                purseStatus(d, 16), purseStatus(d, 36), d[56], Arrays.copyOfRange(d, 73, 81), d);
    }

    private static PurseStatus purseStatus(byte[] d, int o) {
        return new PurseStatus(Hex.u32(d, o), Hex.u16(d, o + 4), Hex.u16(d, o + 6), Hex.u32(d, o + 8),
                Hex.u32(d, o + 12), Arrays.copyOfRange(d, o + 16, o + 20));
    }

    // ---- load

    /** INITIALIZE LOAD; on 9000 checks MAC1 like the back office would. */
    Rsp initializeLoad(int purse, long amount, byte[] expiry) {
        Rsp r = send(PurseHost.initializeLoad(purse, 0, amount, TERMINAL, expiry));
        if (r.sw() == 0x9000) {
            InitLoad init = InitLoad.parse(r.data());
            assertArrayEquals(host.loadMac1(serial(), purse, init, amount, TERMINAL, expiry), init.mac1(), "MAC1");
        }
        return r;
    }

    byte[] creditLoadApdu(int purse, Rsp init, long amount, byte[] expiry, byte[] dateTime) {
        return host.creditLoad(serial(), purse, InitLoad.parse(init.data()), amount, TERMINAL, expiry, dateTime);
    }

    /** A whole connected load; returns the CREDIT LOAD response (TAC checked on 9000). */
    Rsp load(int purse, long amount, byte[] expiry) {
        Rsp init = initializeLoad(purse, amount, expiry);
        if (init.sw() != 0x9000) {
            return init;
        }
        InitLoad il = InitLoad.parse(init.data());
        Rsp r = send(creditLoadApdu(purse, init, amount, expiry, DATETIME));
        if (r.sw() == 0x9000) {
            byte[] rec = PurseHost.record(1, purse, il.ctr(), amount, il.balance() + amount, TERMINAL, 0, DATETIME,
                    new byte[2], 0);
            assertEquals(il.balance() + amount, Hex.u32(r.data(), 0), "balance after load");
            assertArrayEquals(host.tac(serial(), rec), Arrays.copyOfRange(r.data(), 4, 12), "load TAC");
        }
        return r;
    }

    Rsp load(int purse, long amount) {
        return load(purse, amount, purse == FOOD ? EXPIRY : NO_DATE);
    }

    // ---- purchase

    Rsp initializePurchase(int purse, long amount) {
        return send(PurseHost.initializePurchase(purse, 0, amount, SAM_ID));
    }

    byte[] debitPurchaseApdu(int purse, Rsp init, long amount, byte[] dateTime, byte[] mcc, long seq) {
        return host.debitPurchase(serial(), purse, InitPurchase.parse(init.data()), amount, SAM_ID, seq, dateTime, mcc);
    }

    /** A whole purchase; on 9000 checks MAC2 like the SAM and the TAC like the bank. */
    Rsp purchase(int purse, long amount, byte[] dateTime, byte[] mcc) {
        Rsp init = initializePurchase(purse, amount);
        if (init.sw() != 0x9000) {
            return init;
        }
        InitPurchase ip = InitPurchase.parse(init.data());
        long seq = samSeq++;
        Rsp r = send(debitPurchaseApdu(purse, init, amount, dateTime, mcc, seq));
        if (r.sw() == 0x9000) {
            long after = ip.balance() - amount;
            assertEquals(after, Hex.u32(r.data(), 0), "balance after purchase");
            assertArrayEquals(host.purchaseMac2(serial(), purse, ip, amount, after, seq),
                    Arrays.copyOfRange(r.data(), 4, 12), "purchase MAC2");
            int flags = verifiedFlag;
            byte[] rec = PurseHost.record(2, purse, ip.ctr(), amount, after, SAM_ID, seq, dateTime, mcc, flags);
            assertArrayEquals(host.tac(serial(), rec), Arrays.copyOfRange(r.data(), 12, 20), "purchase TAC");
        }
        return r;
    }

    /** FLAGS the test expects in purchase records (set by tests that verify the PIN). */
    int verifiedFlag;

    Rsp purchase(int purse, long amount) {
        return purchase(purse, amount, DATETIME, FOOD_MCC);
    }

    // ---- PIN

    Rsp verify(String pin) {
        return send(Hex.concat(Hex.decode("0020008008"), PurseHost.pinBlock(pin)));
    }

    // ---- issuer

    /** GET CHALLENGE then the issuer command with a right MAC_A for the next admin counter. */
    Rsp issuer(int ins, int p1, int p2, byte[] data) {
        int actr = status().adminCtr() + 1;
        byte[] challenge = challenge();
        return send(host.issuerCommand(serial(), challenge, actr, ins, p1, p2, data));
    }

    Rsp block() {
        return issuer(0x1E, 0, 0, new byte[0]);
    }

    Rsp unblock(int what) {
        return issuer(0x18, what, 0, new byte[0]);
    }

    Rsp pinUnblock() {
        return issuer(0x24, 0, 0, new byte[0]);
    }

    Rsp pinUnblockWithNewPin(String pin) {
        int actr = status().adminCtr() + 1;
        byte[] challenge = challenge();
        byte[] enc = host.encryptPinBlock(serial(), challenge, actr, PurseHost.pinBlock(pin));
        return send(host.issuerCommand(serial(), challenge, actr, 0x24, 0, 1, enc));
    }

    Rsp setLimits(byte[] limits) {
        return issuer(0x72, 0, 0, limits);
    }

    // ---- unconnected

    Rsp unconnectedLoad(int purse, long amount, byte[] expiry, boolean rightCode) {
        int ctr = status().purse(purse).loadCtr() + 1;
        byte[] auth = host.unconnectedAuth(serial(), purse, ctr, amount, expiry);
        if (!rightCode) {
            auth = Hex.u32((Hex.u32(auth, 0) + 1) % 100_000_000L);
        }
        Rsp r = send(PurseHost.unconnectedLoad(purse, amount, expiry, DATETIME, auth));
        if (r.sw() == 0x9000) {
            assertArrayEquals(host.unconnectedConfirm(serial(), purse, ctr, amount),
                    Arrays.copyOfRange(r.data(), 4, 8), "CONFIRM");
        }
        return r;
    }

    static String sw(Rsp r) {
        return String.format("%04X", r.sw());
    }
}
