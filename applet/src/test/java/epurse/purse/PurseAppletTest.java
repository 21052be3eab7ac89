package epurse.purse;

import static epurse.purse.PurseFixture.DATETIME;
import static epurse.purse.PurseFixture.ECASH;
import static epurse.purse.PurseFixture.EXPIRY;
import static epurse.purse.PurseFixture.FOOD;
import static epurse.purse.PurseFixture.FOOD_MCC;
import static epurse.purse.PurseFixture.NO_DATE;
import static epurse.purse.PurseFixture.OTHER_MCC;
import static epurse.purse.PurseFixture.SAM_ID;
import static epurse.purse.PurseFixture.TERMINAL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import epurse.testkit.Hex;
import epurse.testkit.PurseHost;
import epurse.testkit.PurseHost.InitLoad;
import epurse.testkit.PurseHost.Profile;
import epurse.testkit.SimCard.Rsp;
import java.util.Arrays;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Every command and status-word path of SPEC sections 2, 4 and 5 on the purse. */
class PurseAppletTest {

    static void assertSw(String expected, Rsp r) {
        assertEquals(expected, PurseFixture.sw(r), () -> "response " + r.hex());
    }

    static byte[] limits(long eMaxBal, long eMaxAmt, long fMaxBal, long fMaxAmt, long noPin, long ucMax) {
        return Hex.concat(Hex.u32(eMaxBal), Hex.u32(eMaxAmt), Hex.u32(fMaxBal), Hex.u32(fMaxAmt), Hex.u32(noPin),
                Hex.u32(ucMax));
    }

    @Nested
    class SelectAndStatus {
        @Test
        void blankCardFciAndStatus() {
            PurseFixture f = new PurseFixture(new Profile(), false);
            Rsp r = f.card.select();
            assertEquals("6F238408F045505552534501A517C1080000000000000000C2020100C30101C40100C501009000", r.hex());
            Rsp s = f.send("805E000000");
            assertSw("9000", s);
            byte[] want = new byte[81];
            want[0] = 1;
            assertArrayEquals(want, s.data());
        }

        @Test
        void activeFciCarriesSerialKvAndCapabilities() {
            PurseFixture f = new PurseFixture();
            Rsp r = f.card.select();
            assertEquals("6F238408F045505552534501A517C1084550000000000001C2020100C30102C4010FC501019000", r.hex());
        }

        @Test
        void blockedFciIsReturnedWith6283() {
            PurseFixture f = new PurseFixture();
            assertSw("9000", f.block());
            Rsp r = f.card.select();
            assertSw("6283", r);
            assertEquals("6F238408F045505552534501A517C1084550000000000001C2020100C30103C4010FC50101", Hex.encode(r.data()));
        }

        @Test
        void capabilityBit2FollowsUnconnectedAttempts() {
            PurseFixture f = new PurseFixture();
            for (int i = 0; i < 3; i++) {
                f.unconnectedLoad(ECASH, 100, NO_DATE, false);
            }
            assertEquals((byte) 0x0B, f.card.select().data()[33]);
        }

        @Test
        void statusAfterPersonalisation() {
            PurseFixture f = new PurseFixture();
            PurseFixture.Status s = f.status();
            assertEquals(2, s.lifecycle());
            assertEquals(1, s.kv());
            assertEquals(3, s.pinTries());
            assertEquals(3, s.ucTries());
            assertEquals(20_000, s.noPinLimit());
            assertEquals(100_000, s.ecash().maxBalance());
            assertEquals(200_000, s.food().maxAmount());
            assertEquals(6, s.mccCount());
            assertArrayEquals(f.serial(), s.serial());
            assertEquals("54115422544154625499581200000000", Hex.encode(s.raw(), 57, 16));
        }

        @Test
        void getStatusWrongP1P2() {
            assertSw("6A86", new PurseFixture().send("805E010000"));
        }

        @Test
        void unknownInstructionAndClass() {
            PurseFixture f = new PurseFixture();
            assertSw("6D00", f.send("80CA000000"));
            assertSw("6D00", f.send("0099000000"));
            assertSw("6E00", f.send("905E000000"));
            assertSw("6E00", f.send("005E000000"));    // known INS under the wrong class
            assertSw("6E00", f.send("8020008000"));
            assertSw("6D00", f.send("90CA000000"));    // unknown INS wins over an unknown class
        }

        @Test
        void selectOfUnknownAidLeavesThePurseSelected() {
            PurseFixture f = new PurseFixture();
            assertSw("6A82", f.send("00A4040005A00000000100"));
            assertSw("9000", f.send("805E000000"));
        }
    }

    @Nested
    class Load {
        @Test
        void connectedLoadCreditsLogsAndCounts() {
            PurseFixture f = new PurseFixture();
            assertSw("9000", f.load(ECASH, 50_000));
            PurseFixture.Status s = f.status();
            assertEquals(50_000, s.ecash().balance());
            assertEquals(1, s.ecash().loadCtr());
            Rsp log = f.send("805C000000");
            assertSw("9000", log);
            assertEquals(40, log.data().length);
            assertSw("6A83", f.send("805C010000"));
        }

        @Test
        void exactlyMaxAmountIsAcceptedOneMoreIs9404() {
            PurseFixture f = new PurseFixture();
            assertSw("9404", f.initializeLoad(ECASH, 60_001, NO_DATE));
            assertSw("9000", f.load(ECASH, 60_000));
            assertSw("9404", f.initializeLoad(FOOD, 200_001, EXPIRY));
            assertSw("9000", f.load(FOOD, 200_000));
        }

        @Test
        void exactlyMaxBalanceIsAcceptedOneMoreIs9405() {
            PurseFixture f = new PurseFixture();
            assertSw("9000", f.load(ECASH, 60_000));
            assertSw("9405", f.initializeLoad(ECASH, 40_001, NO_DATE));
            assertSw("9000", f.load(ECASH, 40_000));
            assertEquals(100_000, f.status().ecash().balance());
            assertSw("9405", f.initializeLoad(ECASH, 1, NO_DATE));
        }

        @Test
        void dataChecks() {
            PurseFixture f = new PurseFixture();
            assertSw("6A80", f.initializeLoad(ECASH, 0, NO_DATE));
            assertSw("6A80", f.initializeLoad(ECASH, 100, EXPIRY));
            assertSw("6A80", f.initializeLoad(FOOD, 100, NO_DATE));
            assertSw("6A80", f.initializeLoad(FOOD, 100, Hex.decode("20261301")));
            assertSw("6A80", f.initializeLoad(FOOD, 100, Hex.decode("20260230")));
            assertSw("6A80", f.initializeLoad(FOOD, 100, Hex.decode("2026123A")));
            assertSw("6A80", f.initializeLoad(FOOD, 100, Hex.decode("20270229")));
            assertSw("9000", f.initializeLoad(FOOD, 100, Hex.decode("20280229")));
            assertSw("6A86", f.initializeLoad(3, 100, NO_DATE));
            assertSw("6A86", f.initializeLoad(0, 100, NO_DATE));
            assertSw("6700", f.send("805001010D000003E8544C5230303100000000"));
            assertSw("6700", f.send("805001010F000003E8544C523030310000000000AA"));
        }

        @Test
        void keyVersion() {
            PurseFixture f = new PurseFixture();
            assertSw("9403", f.send(PurseHost.initializeLoad(ECASH, 2, 100, TERMINAL, NO_DATE)));
            assertSw("9000", f.send(PurseHost.initializeLoad(ECASH, 1, 100, TERMINAL, NO_DATE)));
            assertSw("9000", f.send(PurseHost.initializeLoad(ECASH, 0, 100, TERMINAL, NO_DATE)));
        }

        @Test
        void wrongMac2Is9302AndClosesTheSession() {
            PurseFixture f = new PurseFixture();
            Rsp init = f.initializeLoad(ECASH, 1000, NO_DATE);
            byte[] good = f.creditLoadApdu(ECASH, init, 1000, NO_DATE, DATETIME);
            byte[] bad = good.clone();
            bad[bad.length - 2] ^= 1;
            assertSw("9302", f.send(bad));
            assertSw("6985", f.send(good));
            assertEquals(0, f.status().ecash().balance());
        }

        @Test
        void mac2ForAnotherAmountOrDateIsRejected() {
            PurseFixture f = new PurseFixture();
            Rsp init = f.initializeLoad(ECASH, 1000, NO_DATE);
            assertSw("9302", f.send(f.creditLoadApdu(ECASH, init, 2000, NO_DATE, DATETIME)));
            init = f.initializeLoad(ECASH, 1000, NO_DATE);
            byte[] apdu = f.creditLoadApdu(ECASH, init, 1000, NO_DATE, DATETIME);
            apdu[11] = 0x01;   // seconds 00 -> 01 after the MAC was made
            assertSw("9302", f.send(apdu));
        }

        @Test
        void oldCreditLoadAfterANewInitializeLoadIsRejected() {
            PurseFixture f = new PurseFixture();
            Rsp first = f.initializeLoad(ECASH, 1000, NO_DATE);
            byte[] old = f.creditLoadApdu(ECASH, first, 1000, NO_DATE, DATETIME);
            f.initializeLoad(ECASH, 1000, NO_DATE);          // new card random
            assertSw("9302", f.send(old));
            // and once a load completed, replaying its CREDIT LOAD cannot credit twice
            Rsp init = f.initializeLoad(ECASH, 1000, NO_DATE);
            byte[] credit = f.creditLoadApdu(ECASH, init, 1000, NO_DATE, DATETIME);
            assertSw("9000", f.send(credit));
            assertSw("6985", f.send(credit));
            f.initializeLoad(ECASH, 1000, NO_DATE);
            assertSw("9302", f.send(credit));
            assertEquals(1000, f.status().ecash().balance());
        }

        @Test
        void creditLoadSessionRules() {
            PurseFixture f = new PurseFixture();
            assertSw("6985", f.send("805201000F" + "20260315103000" + "0000000000000000" + "00"));
            Rsp init = f.initializeLoad(ECASH, 1000, NO_DATE);
            byte[] credit = f.creditLoadApdu(ECASH, init, 1000, NO_DATE, DATETIME);
            byte[] otherPurse = credit.clone();
            otherPurse[2] = 2;
            assertSw("6A86", f.send(otherPurse));
            assertSw("6985", f.send(credit));
            init = f.initializeLoad(ECASH, 1000, NO_DATE);
            f.status();   // any other command closes the session
            assertSw("6985", f.send(f.creditLoadApdu(ECASH, init, 1000, NO_DATE, DATETIME)));
            init = f.initializeLoad(ECASH, 1000, NO_DATE);
            assertSw("6A80", f.send(f.creditLoadApdu(ECASH, init, 1000, NO_DATE, Hex.decode("20260315253000"))));
        }

        @Test
        void foodExpiryOnlyGrows() {
            PurseFixture f = new PurseFixture();
            assertSw("9000", f.load(FOOD, 1000, Hex.decode("20261231")));
            assertSw("9000", f.load(FOOD, 1000, Hex.decode("20260630")));
            assertEquals("20261231", Hex.encode(f.status().food().expiry()));
            assertSw("9000", f.load(FOOD, 1000, Hex.decode("20270131")));
            assertEquals("20270131", Hex.encode(f.status().food().expiry()));
            assertEquals("00000000", Hex.encode(f.status().ecash().expiry()));
        }

        @Test
        void loadCounterAtFFFFIs9402() {
            PurseFixture f = new PurseFixture();
            f.applet.setLoadCounter((byte) 1, 0xFFFE);
            assertSw("9000", f.load(ECASH, 10));
            assertEquals(0xFFFF, f.status().ecash().loadCtr());
            assertSw("9402", f.initializeLoad(ECASH, 10, NO_DATE));
            assertSw("9402", f.unconnectedLoad(ECASH, 10, NO_DATE, true));
            assertSw("9000", f.load(FOOD, 10));
        }

        @Test
        void loadRecordAndProof() {
            PurseFixture f = new PurseFixture();
            Rsp init = f.initializeLoad(ECASH, 1234, NO_DATE);
            InitLoad il = InitLoad.parse(init.data());
            Rsp r = f.send(f.creditLoadApdu(ECASH, init, 1234, NO_DATE, DATETIME));
            byte[] rec = PurseHost.record(1, 1, 1, 1234, 1234, TERMINAL, 0, DATETIME, new byte[2], 0);
            Rsp proof = f.send("805A010102000100");
            assertSw("9000", proof);
            assertEquals(Hex.encode(Hex.concat(rec, Arrays.copyOfRange(r.data(), 4, 12), new byte[8])),
                    Hex.encode(proof.data()));
            assertEquals(1, il.ctr());
            assertSw("6A88", f.send("805A010102000200"));
            assertSw("6A88", f.send("805A020102000100"));
            assertSw("6A88", f.send("805A010202000100"));
            assertSw("6A88", f.send("805A010402000100"));
            assertSw("6A86", f.send("805A010302000100"));
            assertSw("6A86", f.send("805A030102000100"));
            assertSw("6700", f.send("805A01010100"));
        }
    }

    @Nested
    class Purchase {
        @Test
        void purchaseDebitsLogsAndProves() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 50_000);
            assertSw("9000", f.purchase(ECASH, 1500, DATETIME, OTHER_MCC));
            PurseFixture.Status s = f.status();
            assertEquals(48_500, s.ecash().balance());
            assertEquals(1, s.ecash().purchaseCtr());
            Rsp proof = f.send("805A010202000100");
            assertSw("9000", proof);
            assertEquals(48, proof.data().length);
            assertEquals(2, f.send("805C000000").data()[0]);
            assertEquals(1, f.send("805C010000").data()[0]);
        }

        @Test
        void amountLimitsAndBalance() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 60_000);
            f.load(ECASH, 40_000);
            assertSw("9404", f.initializePurchase(ECASH, 60_001));
            f.verify("1234");
            f.verifiedFlag = 1;
            assertSw("9000", f.purchase(ECASH, 60_000));
            assertSw("9401", f.initializePurchase(ECASH, 40_001));
            assertSw("9000", f.purchase(ECASH, 40_000));
            assertEquals(0, f.status().ecash().balance());
            assertSw("6A80", f.initializePurchase(ECASH, 0));
            assertSw("6A86", f.initializePurchase(3, 1));
            assertSw("9403", f.send(PurseHost.initializePurchase(ECASH, 9, 1, SAM_ID)));
            assertSw("6700", f.send("805401010B000003E8534D000000010000"));
        }

        @Test
        void wrongMac1AndReplayedDebit() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 10_000);
            Rsp init = f.initializePurchase(ECASH, 100);
            byte[] debit = f.debitPurchaseApdu(ECASH, init, 100, DATETIME, FOOD_MCC, 1);
            byte[] bad = debit.clone();
            bad[bad.length - 2] ^= 0x10;
            assertSw("9302", f.send(bad));
            assertSw("6985", f.send(debit));
            init = f.initializePurchase(ECASH, 100);
            assertSw("9302", f.send(debit));          // old MAC1, new card random
            init = f.initializePurchase(ECASH, 100);
            byte[] right = f.debitPurchaseApdu(ECASH, init, 100, DATETIME, FOOD_MCC, 2);
            assertSw("9000", f.send(right));
            assertSw("6985", f.send(right));
            assertEquals(9_900, f.status().ecash().balance());
        }

        @Test
        void mac1BindsAmountSamAndMcc() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 10_000);
            Rsp init = f.initializePurchase(ECASH, 100);
            byte[] debit = f.debitPurchaseApdu(ECASH, init, 100, DATETIME, FOOD_MCC, 1);
            debit[17] = 0x12;   // MCC changed after the SAM's MAC
            assertSw("9302", f.send(debit));
            init = f.initializePurchase(ECASH, 100);
            debit = f.host.debitPurchase(f.serial(), ECASH, PurseHost.InitPurchase.parse(init.data()), 99,
                    SAM_ID, 1, DATETIME, FOOD_MCC);
            assertSw("9302", f.send(debit));
        }

        @Test
        void debitDataChecks() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 10_000);
            Rsp init = f.initializePurchase(ECASH, 100);
            assertSw("6A80", f.send(f.debitPurchaseApdu(ECASH, init, 100, DATETIME, Hex.decode("5A11"), 1)));
            init = f.initializePurchase(ECASH, 100);
            assertSw("6A80", f.send(f.debitPurchaseApdu(ECASH, init, 100, Hex.decode("20260315106000"), FOOD_MCC, 1)));
            init = f.initializePurchase(ECASH, 100);
            byte[] d = f.debitPurchaseApdu(ECASH, init, 100, DATETIME, FOOD_MCC, 1);
            d[2] = 2;
            assertSw("6A86", f.send(d));
            init = f.initializePurchase(ECASH, 100);
            byte[] shorter = Arrays.copyOf(d, d.length - 2);
            shorter[2] = 1;
            shorter[4] = 0x14;
            assertSw("6700", f.send(shorter));
        }

        @Test
        void foodAtNonFoodMerchantIs9406() {
            PurseFixture f = new PurseFixture();
            f.load(FOOD, 10_000);
            assertSw("9406", f.purchase(FOOD, 100, DATETIME, OTHER_MCC));
            assertEquals(0, f.status().food().purchaseCtr());
            assertSw("9000", f.purchase(FOOD, 100, DATETIME, Hex.decode("5812")));
            // the e-Cash purse has no category rule
            f.load(ECASH, 10_000);
            assertSw("9000", f.purchase(ECASH, 100, DATETIME, OTHER_MCC));
        }

        @Test
        void foodOnTheExpiryDayIsOkTheDayAfterIs9407() {
            PurseFixture f = new PurseFixture();
            f.load(FOOD, 10_000, Hex.decode("20261231"));
            assertSw("9000", f.purchase(FOOD, 100, Hex.decode("20261231235959"), FOOD_MCC));
            assertSw("9407", f.purchase(FOOD, 100, Hex.decode("20270101000000"), FOOD_MCC));
            assertEquals(9_900, f.status().food().balance());
        }

        @Test
        void pinRequiredAboveNoPinLimit() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 60_000);
            f.load(ECASH, 40_000);
            assertSw("9000", f.purchase(ECASH, 20_000));          // exactly the no-PIN limit
            assertSw("6982", f.initializePurchase(ECASH, 20_001));
            assertSw("9000", f.verify("1234"));
            f.verifiedFlag = 1;
            assertSw("9000", f.purchase(ECASH, 20_001));
            assertEquals(1, f.send("805C000000").data()[31]);
            f.card.reset();
            f.card.select();
            assertSw("6982", f.initializePurchase(ECASH, 20_001));
        }

        @Test
        void purchaseCounterAtFFFFIs9402() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 1000);
            f.applet.setPurchaseCounter((byte) 1, 0xFFFE);
            assertSw("9000", f.purchase(ECASH, 1));
            assertSw("9402", f.initializePurchase(ECASH, 1));
        }

        @Test
        void debitWithoutInitializeIs6985() {
            PurseFixture f = new PurseFixture();
            assertSw("6985", f.send("8056010015" + "00000001" + "20260315103000" + "5411" + "0000000000000000" + "00"));
        }
    }

    @Nested
    class Pin {
        @Test
        void lockoutAndIssuerUnblock() {
            PurseFixture f = new PurseFixture();
            assertSw("63C3", f.send("00200080"));
            assertSw("63C2", f.verify("1111"));
            assertSw("63C1", f.verify("2222"));
            assertSw("63C0", f.verify("3333"));
            assertSw("6983", f.verify("1234"));
            assertSw("6983", f.send("00200080"));
            f.load(ECASH, 50_000);
            assertSw("6983", f.initializePurchase(ECASH, 30_000));
            assertSw("9000", f.purchase(ECASH, 100));     // below the no-PIN limit
            assertSw("6983", f.send(Hex.concat(Hex.decode("0024008010"), PurseHost.pinBlock("1234"),
                    PurseHost.pinBlock("5678"))));
            assertSw("9000", f.pinUnblock());
            assertEquals(3, f.status().pinTries());
            assertSw("9000", f.verify("1234"));
            assertSw("9000", f.send("00200080"));
        }

        @Test
        void rightPinResetsTheCounter() {
            PurseFixture f = new PurseFixture();
            assertSw("63C2", f.verify("0000"));
            assertSw("9000", f.verify("1234"));
            assertEquals(3, f.status().pinTries());
            assertSw("63C2", f.verify("0000"));
            assertSw("63C2", f.send("00200080"));     // a wrong try cancels "verified"
        }

        @Test
        void changePin() {
            PurseFixture f = new PurseFixture();
            byte[] change = Hex.concat(Hex.decode("0024008010"), PurseHost.pinBlock("1234"), PurseHost.pinBlock("987654"));
            assertSw("9000", f.send(change));
            assertSw("9000", f.send("00200080"));
            assertSw("63C2", f.verify("1234"));
            assertSw("9000", f.verify("987654"));
            assertSw("63C2", f.send(change));    // old PIN wrong now
            assertSw("6A80", f.send(Hex.concat(Hex.decode("0024008010"), PurseHost.pinBlock("987654"),
                    Hex.decode("2312FFFFFFFFFFFF"))));
            assertSw("6700", f.send(Hex.concat(Hex.decode("0024008008"), PurseHost.pinBlock("987654"))));
            assertSw("6A86", f.send(Hex.concat(Hex.decode("0024000010"), PurseHost.pinBlock("987654"),
                    PurseHost.pinBlock("1111"))));
        }

        @Test
        void pinBlockFormat() {
            PurseFixture f = new PurseFixture();
            for (String bad : new String[] {"141234FFFFFFFFFF", "231234FFFFFFFFFF", "2412A4FFFFFFFFFF",
                "241234FFFFFFFFF0", "291234567891FFFF", "24123FFFFFFFFFFF"}) {
                assertSw("6A80", f.send("0020008008" + bad));
            }
            assertEquals(3, f.status().pinTries());
            assertSw("6700", f.send("0020008004241234FF"));
            assertSw("6A86", f.send("0020000008241234FFFFFFFFFF"));
            assertSw("6A86", f.send("0020018008241234FFFFFFFFFF"));
        }

        @Test
        void pinUnblockWithNewPin() {
            PurseFixture f = new PurseFixture();
            f.verify("0000");
            assertSw("9000", f.pinUnblockWithNewPin("24680"));
            assertEquals(3, f.status().pinTries());
            assertSw("63C2", f.verify("1234"));
            assertSw("9000", f.verify("24680"));
        }
    }

    @Nested
    class Issuer {
        @Test
        void blockAndUnblock() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 1000);
            assertSw("9000", f.block());
            PurseFixture.Status s = f.status();
            assertEquals(3, s.lifecycle());
            assertEquals(1, s.adminCtr());
            assertSw("9303", f.initializeLoad(ECASH, 1, NO_DATE));
            assertSw("9303", f.initializePurchase(ECASH, 1));
            assertSw("9303", f.unconnectedLoad(ECASH, 1, NO_DATE, true));
            assertSw("9303", f.verify("1234"));
            assertSw("9303", f.send(Hex.concat(Hex.decode("0024008010"), PurseHost.pinBlock("1234"),
                    PurseHost.pinBlock("1234"))));
            assertSw("9303", f.send("805201000F" + "20260315103000" + "0000000000000000" + "00"));
            assertSw("9000", f.send("805C000000"));
            assertSw("9000", f.send("805A010102000100"));
            assertSw("6985", f.block());
            assertEquals(1, f.status().adminCtr());
            assertSw("9000", f.unblock(0));
            assertEquals(2, f.status().lifecycle());
            assertSw("6985", f.unblock(0));
            assertSw("9000", f.load(ECASH, 1));
        }

        @Test
        void challengeIsNeededAndConsumed() {
            PurseFixture f = new PurseFixture();
            byte[] challenge = f.challenge();
            byte[] cmd = f.host.issuerCommand(f.serial(), challenge, 1, 0x1E, 0, 0, new byte[0]);
            f.status();                                   // consumes the challenge
            assertSw("6985", f.send(cmd));
            assertSw("6985", f.send(cmd));
            challenge = f.challenge();
            byte[] wrong = f.host.issuerCommand(f.serial(), challenge, 1, 0x1E, 0, 0, new byte[0]);
            wrong[wrong.length - 1] ^= 1;
            assertSw("9302", f.send(wrong));
            assertSw("6985", f.send(f.host.issuerCommand(f.serial(), challenge, 1, 0x1E, 0, 0, new byte[0])));
            assertEquals(0, f.status().adminCtr());
        }

        @Test
        void oldIssuerCommandWithANewChallengeIsRejected() {
            PurseFixture f = new PurseFixture();
            byte[] challenge = f.challenge();
            byte[] block = f.host.issuerCommand(f.serial(), challenge, 1, 0x1E, 0, 0, new byte[0]);
            assertSw("9000", f.send(block));
            assertSw("9000", f.unblock(0));
            f.challenge();
            assertSw("9302", f.send(block));
            assertEquals(2, f.status().lifecycle());
        }

        @Test
        void macUnderTheWrongCounterOrInsIsRejected() {
            PurseFixture f = new PurseFixture();
            byte[] challenge = f.challenge();
            assertSw("9302", f.send(f.host.issuerCommand(f.serial(), challenge, 2, 0x1E, 0, 0, new byte[0])));
            challenge = f.challenge();
            byte[] unblockMac = f.host.issuerCommand(f.serial(), challenge, 1, 0x18, 0, 0, new byte[0]);
            unblockMac[1] = 0x1E;
            assertSw("9302", f.send(unblockMac));
        }

        @Test
        void adminCounterAtFFFFIs9402() {
            PurseFixture f = new PurseFixture();
            f.applet.setAdminCounter(0xFFFE);
            assertSw("9000", f.block());
            assertEquals(0xFFFF, f.status().adminCtr());
            byte[] challenge = f.challenge();
            assertSw("9402", f.send(f.host.issuerCommand(f.serial(), challenge, 0, 0x18, 0, 0, new byte[0])));
        }

        @Test
        void issuerParameterAndLengthErrors() {
            PurseFixture f = new PurseFixture();
            assertSw("6A86", f.issuer(0x18, 2, 0, new byte[0]));
            assertSw("6A86", f.issuer(0x1E, 0, 1, new byte[0]));
            assertSw("6A86", f.issuer(0x24, 0, 2, new byte[0]));
            assertSw("6A86", f.issuer(0x24, 1, 0, new byte[0]));
            assertSw("6700", f.issuer(0x24, 0, 1, new byte[0]));
            assertSw("6700", f.issuer(0x72, 0, 0, new byte[20]));
            assertSw("6985", f.send("841E0000080000000000000000"));   // no challenge
        }

        @Test
        void setLimits() {
            PurseFixture f = new PurseFixture();
            f.load(ECASH, 50_000);
            assertSw("9000", f.setLimits(limits(40_000, 30_000, 300_000, 200_000, 1_000, 5_000)));
            PurseFixture.Status s = f.status();
            assertEquals(40_000, s.ecash().maxBalance());
            assertEquals(30_000, s.ecash().maxAmount());
            assertEquals(1_000, s.noPinLimit());
            assertEquals(5_000, s.ucMax());
            assertSw("9405", f.initializeLoad(ECASH, 1, NO_DATE));
            assertSw("9000", f.purchase(ECASH, 500));
            assertSw("6982", f.initializePurchase(ECASH, 1_001));
            assertSw("9404", f.unconnectedLoad(FOOD, 5_001, EXPIRY, true));
            int actr = f.status().adminCtr();
            assertSw("6A80", f.setLimits(limits(40_000, 40_001, 300_000, 200_000, 1_000, 5_000)));
            assertSw("6A80", f.setLimits(limits(0x80000000L, 1, 300_000, 200_000, 1_000, 5_000)));
            assertSw("6A80", f.setLimits(limits(40_000, 1, 300_000, 200_000, 0x80000000L, 5_000)));
            assertEquals(actr, f.status().adminCtr());
            assertSw("9000", f.setLimits(limits(0x7FFFFFFFL, 0x7FFFFFFFL, 0, 0, 0x7FFFFFFFL, 0)));
            assertSw("9404", f.initializeLoad(FOOD, 1, EXPIRY));
        }

        @Test
        void issuerCommandsOnBlankCard() {
            PurseFixture f = new PurseFixture(new Profile(), false);
            f.challenge();
            assertSw("6985", f.send("841E0000080000000000000000"));
        }
    }

    @Nested
    class Unconnected {
        @Test
        void rightCodeLoadsAndConfirms() {
            PurseFixture f = new PurseFixture();
            Rsp r = f.unconnectedLoad(FOOD, 15_000, EXPIRY, true);
            assertSw("9000", r);
            assertEquals(15_000, Hex.u32(r.data(), 0));
            PurseFixture.Status s = f.status();
            assertEquals(15_000, s.food().balance());
            assertEquals(1, s.food().loadCtr());
            assertEquals("20261231", Hex.encode(s.food().expiry()));
            Rsp proof = f.send("805A020402000100");
            assertSw("9000", proof);
            assertEquals("040200010000", Hex.encode(proof.data(), 0, 6));
            assertEquals("000000000000", Hex.encode(proof.data(), 12, 6));
            assertSw("6A88", f.send("805A020102000100"));
        }

        @Test
        void wrongCodesUntilDisabledThenReenable() {
            PurseFixture f = new PurseFixture();
            assertSw("63C2", f.unconnectedLoad(ECASH, 1000, NO_DATE, false));
            assertSw("63C1", f.unconnectedLoad(ECASH, 1000, NO_DATE, false));
            assertSw("9000", f.unconnectedLoad(ECASH, 1000, NO_DATE, true));   // right: attempts back to 3
            assertEquals(3, f.status().ucTries());
            assertSw("63C2", f.unconnectedLoad(ECASH, 1000, NO_DATE, false));
            assertSw("63C1", f.unconnectedLoad(ECASH, 1000, NO_DATE, false));
            assertSw("63C0", f.unconnectedLoad(ECASH, 1000, NO_DATE, false));
            assertSw("9408", f.unconnectedLoad(ECASH, 1000, NO_DATE, true));
            assertEquals(0, f.status().ucTries());
            assertEquals(1000, f.status().ecash().balance());
            assertSw("9000", f.unblock(1));
            assertEquals(3, f.status().ucTries());
            assertSw("9000", f.unconnectedLoad(ECASH, 1000, NO_DATE, true));
            assertEquals(2000, f.status().ecash().balance());
        }

        @Test
        void limitsAndData() {
            PurseFixture f = new PurseFixture();
            assertSw("9404", f.unconnectedLoad(ECASH, 20_001, NO_DATE, true));
            assertSw("9000", f.unconnectedLoad(ECASH, 20_000, NO_DATE, true));
            assertSw("6A80", f.unconnectedLoad(ECASH, 0, NO_DATE, true));
            assertSw("6A80", f.unconnectedLoad(ECASH, 10, EXPIRY, true));
            assertSw("6A80", f.unconnectedLoad(FOOD, 10, NO_DATE, true));
            assertSw("6A86", f.send("8058030013000003E80000000020260110100000000000000"
                    .substring(0, 10 + 38) + "00"));
            assertSw("6700", f.send("8058010012000003E8000000002026011010000000000000"));
            for (int i = 0; i < 4; i++) {
                assertSw("9000", f.unconnectedLoad(ECASH, 20_000, NO_DATE, true));
            }
            assertSw("9405", f.unconnectedLoad(ECASH, 1, NO_DATE, true));
            assertEquals(3, f.status().ucTries());
        }
    }

    @Nested
    class Personalisation {
        @Test
        void onlyOnceAndOnlyAfterAChallenge() {
            PurseFixture f = new PurseFixture(new Profile(), false);
            byte[] pd = f.host.personalisationData(f.profile);
            byte[] apdu = f.host.personalize(f.challenge(), pd);
            f.status();
            assertSw("6985", f.send(apdu));
            byte[] bad = f.host.personalize(f.challenge(), pd);
            bad[bad.length - 1] ^= 1;
            assertSw("9302", f.send(bad));
            assertEquals(1, f.status().lifecycle());
            assertSw("9000", f.send(f.host.personalize(f.challenge(), pd)));
            assertSw("6985", f.send(f.host.personalize(f.challenge(), pd)));
        }

        @Test
        void invalidFieldsAre6A80AndTheCardStaysBlank() {
            PurseFixture f = new PurseFixture(new Profile(), false);
            byte[] good = f.host.personalisationData(f.profile);
            int[][] edits = {{0, 0, 8}, {8, 0, 1}, {8, 0xFF, 1}, {105, 0, 1}, {105, 16, 1}, {106, 0, 1},
                {106, 16, 1}, {107, 9, 1}, {97, 0x14, 1}, {73, 0x80, 1}, {120, 0x11, 1}, {109, 0xAA, 1}};
            for (int[] e : edits) {
                byte[] pd = good.clone();
                Arrays.fill(pd, e[0], e[0] + e[2], (byte) e[1]);
                assertSw("6A80", f.send(f.host.personalize(f.challenge(), pd)));
            }
            byte[] shortPd = Arrays.copyOf(good, 120);   // pads to 128 but PD is 120 bytes
            assertSw("6A80", f.send(f.host.personalize(f.challenge(), shortPd)));
            assertEquals(1, f.status().lifecycle());
            f.challenge();
            assertSw("6700", f.send("8460000087" + "00".repeat(0x87)));
            assertSw("9000", f.send(f.host.personalize(f.challenge(), good)));
        }

        @Test
        void customTransportKey() {
            byte[] key = Hex.decode("00112233445566778899AABBCCDDEEFF");
            epurse.testkit.SimCard card = new epurse.testkit.SimCard(PurseHost.PURSE_AID, TestPurseApplet.class, key);
            card.select();
            PurseHost defaultHost = PurseHost.vectorKeys();
            PurseHost host = new PurseHost(defaultHost.mkLoad, defaultHost.mkPurchase, defaultHost.mkTac,
                    defaultHost.mkAdmin, key);
            byte[] pd = host.personalisationData(new Profile());
            assertSw("9302", card.send(defaultHost.personalize(card.send("0084000004").data(), pd)));
            assertSw("9000", card.send(host.personalize(card.send("0084000004").data(), pd)));
        }

        @Test
        void blankCardRefusesServiceCommands() {
            PurseFixture f = new PurseFixture(new Profile(), false);
            assertSw("6985", f.initializeLoad(ECASH, 1, NO_DATE));
            assertSw("6985", f.initializePurchase(ECASH, 1));
            assertSw("6985", f.send("805C000000"));
            assertSw("6985", f.send("805A010102000100"));
            assertSw("6985", f.verify("1234"));
            assertSw("6985", f.send("8058010013000003E800000000202601101000000000000000"));
        }
    }

    @Nested
    class GetChallenge {
        @Test
        void lengthAndParameters() {
            PurseFixture f = new PurseFixture();
            assertSw("9000", f.send("0084000004"));
            assertSw("9000", f.send("0084000000"));
            assertSw("6700", f.send("0084000008"));
            assertSw("6A86", f.send("0084000104"));
            assertEquals(4, f.send("0084000000").data().length);
            // SPEC 2.13: no Le (case 1) is a length error; command data is not read
            assertSw("6700", f.send("00840000"));
            assertEquals(4, f.send("0084000001AA04").data().length);
        }
    }

    @Nested
    class Log {
        @Test
        void sixteenEntriesThenTheOldestIsOverwritten() {
            PurseFixture f = new PurseFixture();
            for (int i = 1; i <= 17; i++) {
                assertSw("9000", f.load(ECASH, 100));
            }
            for (int i = 0; i < 16; i++) {
                Rsp r = f.send(String.format("805C%02X0000", i));
                assertSw("9000", r);
                assertEquals(17 - i, Hex.u16(r.data(), 2));
            }
            assertSw("6A83", f.send("805C100000"));
            assertSw("6A83", f.send("805CFF0000"));
            assertSw("6A88", f.send("805A010102000100"));
            assertSw("9000", f.send("805A010102000200"));
            assertSw("6A86", f.send("805C000100"));
            assertTrue(f.status().ecash().balance() == 1700);
        }
    }
}
