package epurse.transfer;

import static epurse.testkit.Hex.concat;
import static epurse.testkit.Hex.u16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import epurse.testkit.Hex;
import epurse.testkit.HostCrypto;
import java.util.Arrays;
import javax.smartcardio.ResponseAPDU;
import org.junit.jupiter.api.Test;

/** Every command and status-word path of the transfer applet (SPEC section 3). */
class TransferAppletTest {
    static final byte[] XSERIAL = Hex.decode("5452414E53000001");

    static TransferCardSim activeCard() {
        TransferCardSim card = new TransferCardSim();
        assertEquals(0x9000, card.personalize(XSERIAL, 1));
        return card;
    }

    static TransferCardSim sealedCard(BatchFixture batch) {
        TransferCardSim card = activeCard();
        card.writeAll(batch.bytes(), 240);
        assertEquals(0x9000, card.finish(batch.bytes().length));
        return card;
    }

    static int clearWith(TransferCardSim card, BatchFixture batch, byte[] ackData) {
        return card.clear(ackData, batch.ackSam(ackData), BatchFixture.ackCard(XSERIAL, ackData, batch.seal));
    }

    // ---- crypto and installation ----

    @Test
    void hostCryptoMatchesKeyFileCheckValues() {
        assertEquals("8BAF47", Hex.encode(HostCrypto.kcv(TransferCardSim.DEFAULT_TRANSPORT_KEY)));
        assertEquals("569898", Hex.encode(HostCrypto.kcv(TransferCardSim.MK_TRANSFER)));
        assertEquals("CD9A68", Hex.encode(HostCrypto.kcv(TransferCardSim.MK_SETTLEMENT)));
    }

    @Test
    void selectReturnsFciWhileBlank() {
        ResponseAPDU r = new TransferCardSim().select();
        assertEquals("6F248408F045505552534502A518C1080000000000000000C2020100C30101C60100C7022000",
                Hex.encode(r.getData()));
    }

    @Test
    void selectReturnsFciWithSerialAndBatchState() {
        BatchFixture batch = new BatchFixture(3);
        TransferCardSim card = sealedCard(batch);
        ResponseAPDU r = card.select();
        assertEquals("6F248408F045505552534502A518C108" + Hex.encode(XSERIAL) + "C2020100C30102C60102C7022000",
                Hex.encode(r.getData()));
    }

    @Test
    void installWithoutParameterUsesDefaultTransportKey() {
        TransferCardSim card = new TransferCardSim(null);
        assertEquals(0x9000, card.personalize(XSERIAL, 1));
    }

    @Test
    void installWithOwnTransportKey() {
        byte[] key = Hex.decode("00112233445566778899AABBCCDDEEFF");
        TransferCardSim card = new TransferCardSim(key);
        byte[] rnd = card.challenge();
        byte[] wrongKey = TransferCardSim.persoData(TransferCardSim.DEFAULT_TRANSPORT_KEY, rnd, XSERIAL, 1,
                TransferCardSim.kXfer(XSERIAL));
        assertEquals(0x9302, card.send(concat(Hex.decode("8460000028"), wrongKey)).getSW());
        assertEquals(0x9000, card.personalize(XSERIAL, 1));
    }

    @Test
    void installWithGlobalPlatformParameters() {
        byte[] key = Hex.decode("00112233445566778899AABBCCDDEEFF");
        byte[] gp = concat(Hex.decode("08"), Hex.decode(TransferCardSim.AID_HEX), Hex.decode("0100"), Hex.decode("10"), key);
        com.licel.jcardsim.smartcardio.CardSimulator sim = new com.licel.jcardsim.smartcardio.CardSimulator();
        sim.installApplet(TransferCardSim.AID, FixedRandomTransferApplet.class, gp, (short) 0, (byte) gp.length);
        sim.selectApplet(TransferCardSim.AID);
        byte[] rnd = sim.transmitCommand(new javax.smartcardio.CommandAPDU(Hex.decode("0084000004"))).getData();
        byte[] data = TransferCardSim.persoData(key, rnd, XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        assertEquals(0x9000, sim.transmitCommand(new javax.smartcardio.CommandAPDU(concat(Hex.decode("8460000028"), data))).getSW());
    }

    // ---- BLANK and personalisation ----

    @Test
    void blankCardRefusesBatchCommands() {
        TransferCardSim card = new TransferCardSim();
        assertEquals(0x6985, card.sw("8082000003010203"));
        assertEquals(0x6985, card.sw("80840000020040"));
        assertEquals(0x6985, card.sw("8086000000"));
        assertEquals(0x6985, card.send(concat(Hex.decode("8088000032"), new byte[50])).getSW());
        assertEquals(0x6A88, card.sw("808A000000"), "a BLANK card is EMPTY: no acknowledgement");
        byte[] s = card.status();
        assertEquals("0100200000000000000000000000", Hex.encode(s));
    }

    @Test
    void personalizeNeedsChallengeImmediatelyBefore() {
        TransferCardSim card = new TransferCardSim();
        byte[] data = TransferCardSim.persoData(card.transportKey, new byte[4], XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        assertEquals(0x6985, card.send(concat(Hex.decode("8460000028"), data)).getSW());
        // a command in between consumes the challenge
        byte[] rnd = card.challenge();
        data = TransferCardSim.persoData(card.transportKey, rnd, XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        card.status();
        assertEquals(0x6985, card.send(concat(Hex.decode("8460000028"), data)).getSW());
        // so does a reset
        rnd = card.challenge();
        data = TransferCardSim.persoData(card.transportKey, rnd, XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        card.reset();
        assertEquals(0x6985, card.send(concat(Hex.decode("8460000028"), data)).getSW());
        assertEquals(1, card.lifecycle());
    }

    @Test
    void personalizeWithWrongMacStaysBlankAndConsumesChallenge() {
        TransferCardSim card = new TransferCardSim();
        byte[] rnd = card.challenge();
        byte[] data = TransferCardSim.persoData(card.transportKey, rnd, XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        data[data.length - 1] ^= 1;
        assertEquals(0x9302, card.send(concat(Hex.decode("8460000028"), data)).getSW());
        data[data.length - 1] ^= 1;
        assertEquals(0x6985, card.send(concat(Hex.decode("8460000028"), data)).getSW(), "challenge was used up");
        assertEquals(1, card.lifecycle());
        // MAC computed over another random
        rnd = card.challenge();
        data = TransferCardSim.persoData(card.transportKey, new byte[4], XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        assertEquals(0x9302, card.send(concat(Hex.decode("8460000028"), data)).getSW());
        assertEquals(0x9000, card.personalize(XSERIAL, 1));
    }

    @Test
    void personalizeRejectsInvalidFields() {
        TransferCardSim card = new TransferCardSim();
        byte[] k = TransferCardSim.kXfer(XSERIAL);
        byte[][] bad = {
            HostCrypto.padMethod2(concat(new byte[8], Hex.decode("01"), k)),            // zero serial
            HostCrypto.padMethod2(concat(XSERIAL, Hex.decode("00"), k)),                // KV 00
            HostCrypto.padMethod2(concat(XSERIAL, Hex.decode("FF"), k)),                // KV FF
            concat(XSERIAL, Hex.decode("01"), k, Hex.decode("00000000000000")),           // no 80
            concat(XSERIAL, Hex.decode("01"), k, Hex.decode("80000000000001")),           // junk after 80
            concat(XSERIAL, Hex.decode("01"), k, Hex.decode("81000000000000")),
        };
        for (byte[] pd : bad) {
            byte[] rnd = card.challenge();
            byte[] data = TransferCardSim.persoDataRaw(card.transportKey, rnd, pd);
            assertEquals(0x6A80, card.send(concat(Hex.decode("8460000028"), data)).getSW(), Hex.encode(pd));
            assertEquals(1, card.lifecycle());
        }
        assertEquals(0x9000, card.personalize(XSERIAL, 0xFE));
    }

    @Test
    void personalizeLengthAndP1P2() {
        TransferCardSim card = new TransferCardSim();
        byte[] rnd = card.challenge();
        byte[] data = TransferCardSim.persoData(card.transportKey, rnd, XSERIAL, 1, TransferCardSim.kXfer(XSERIAL));
        assertEquals(0x6700, card.send(concat(Hex.decode("8460000027"), Arrays.copyOf(data, 39))).getSW());
        card.challenge();
        assertEquals(0x6A86, card.send(concat(Hex.decode("8460000128"), data)).getSW());
        assertEquals(1, card.lifecycle());
    }

    @Test
    void personalizeOnceOnly() {
        TransferCardSim card = activeCard();
        assertEquals("02002000" + "0000" + Hex.encode(XSERIAL), Hex.encode(card.status()));
        assertEquals(0x6985, card.personalize(Hex.decode("5452414E53000002"), 1));
        assertEquals("02002000" + "0000" + Hex.encode(XSERIAL), Hex.encode(card.status()));
    }

    // ---- GET CHALLENGE / GET STATUS / class and instruction ----

    @Test
    void getChallengeChecks() {
        TransferCardSim card = new TransferCardSim();
        assertEquals(4, card.send("0084000000").getData().length);
        assertEquals(0x6700, card.sw("00840000"), "Le must be 04 or 00");
        assertEquals(0x6700, card.sw("0084000008"));
        assertEquals(0x6A86, card.sw("0084010004"));
        assertEquals(0x6A86, card.sw("0084000104"));
        assertEquals(0x6700, card.sw("008400000100"));
    }

    @Test
    void getStatusChecks() {
        TransferCardSim card = new TransferCardSim();
        assertEquals(0x9000, card.sw("805E000000"));
        assertEquals(0x9000, card.sw("805E00000E"));
        assertEquals(0x9000, card.sw("805E0000"));
        assertEquals(0x6700, card.sw("805E000004"));
        assertEquals(0x6700, card.sw("805E00000100"));
        assertEquals(0x6A86, card.sw("805E010000"));
    }

    @Test
    void badClassAndInstruction() {
        TransferCardSim card = activeCard();
        assertEquals(0x6E00, card.sw("905E000000"));
        assertEquals(0x6E00, card.sw("105E000000"));
        assertEquals(0x6D00, card.sw("FF00000000"), "an unknown INS is 6D00 whatever the class");
        assertEquals(0x6E00, card.sw("005E000000"), "GET STATUS is a proprietary-class command");
        assertEquals(0x6E00, card.sw("8060000000"), "PERSONALIZE is secured-class");
        assertEquals(0x6D00, card.sw("8000000000"));
        assertEquals(0x6D00, card.sw("80FF000000"));
        assertEquals(0x6D00, card.sw("00B0000000"));
        assertEquals(0x6D00, card.sw("8450000000"));
    }

    @Test
    void selectOfAnotherAidIsNotFound() {
        TransferCardSim card = activeCard();
        assertEquals(0x6A82, card.sw("00A4040008F04550555253459900"));
        assertEquals(0x9000, card.sw("805E000000"), "the transfer applet stays selected");
    }

    // ---- WRITE / FINISH / READ ----

    @Test
    void writeFinishReadInChunksWithResends() {
        BatchFixture batch = new BatchFixture(9);
        byte[] bytes = batch.bytes();
        TransferCardSim card = activeCard();
        assertEquals(0x9000, card.write(0, bytes, 0, 100));
        assertEquals(0x9000, card.write(100, bytes, 100, 200));
        assertEquals(0x9000, card.write(100, bytes, 100, 200), "resend of the last chunk");
        assertEquals(300, card.batchLength());
        assertEquals(0x9000, card.write(0, bytes, 0, 240), "offset 0 starts over");
        assertEquals(240, card.batchLength());
        assertEquals(0x9000, card.write(240, bytes, 240, 100));
        assertEquals(340, card.batchLength());
        assertEquals(0x9000, card.write(200, bytes, 200, 10), "a smaller offset rewrites bytes");
        assertEquals(340, card.batchLength(), "without shortening the batch");
        assertEquals(0x9000, card.write(300, bytes, 300, 60), "and may reach past its end");
        assertEquals(360, card.batchLength());
        for (int off = 360; off < bytes.length; off += 37) {
            int n = Math.min(37, bytes.length - off);
            assertEquals(0x9000, card.write(off, bytes, off, n));
            assertEquals(0x9000, card.write(off, bytes, off, n), "resend at " + off);
        }
        assertEquals(1, card.batchState());
        assertEquals(bytes.length, card.batchLength());
        assertEquals(0x9000, card.finish(bytes.length));
        assertEquals(2, card.batchState());
        assertArrayEquals(bytes, card.readAll());

        // chunk sizes follow Le
        ResponseAPDU r = card.send("8086000010");
        assertArrayEquals(Arrays.copyOf(bytes, 16), r.getData());
        r = card.send(concat(Hex.decode("8086"), u16(5), Hex.decode("F0")));
        assertArrayEquals(Arrays.copyOfRange(bytes, 5, 245), r.getData());
        r = card.send(concat(Hex.decode("8086"), u16(bytes.length - 3), Hex.decode("00")));
        assertArrayEquals(Arrays.copyOfRange(bytes, bytes.length - 3, bytes.length), r.getData());
        assertEquals(240, card.send("80860000").getData().length);
        assertEquals(240, card.send("80860000F1").getData().length);
    }

    @Test
    void writeOffsetGapsAndLengths() {
        BatchFixture batch = new BatchFixture(2);
        byte[] bytes = batch.bytes();
        TransferCardSim card = activeCard();
        assertEquals(0x6A86, card.write(1, bytes, 0, 10), "no batch started");
        assertEquals(0, card.batchState());
        assertEquals(0x9000, card.write(0, bytes, 0, 10));
        assertEquals(0x6A86, card.write(11, bytes, 11, 10), "gap");
        assertEquals(0x6A86, card.write(0x8000, bytes, 11, 10));
        assertEquals(0x6A86, card.write(0xFFFF, bytes, 11, 10));
        assertEquals(0x6700, card.send(concat(Hex.decode("8082000AF1"), new byte[241])).getSW());
        assertEquals(0x6700, card.sw("8082000A"));
        assertEquals(0x9000, card.send(concat(Hex.decode("8082000AF0"), new byte[240])).getSW(), "240 is allowed");
        assertEquals(250, card.batchLength());
    }

    @Test
    void writeOverCapacity() {
        TransferCardSim card = activeCard();
        byte[] filler = new byte[240];
        int off = 0;
        while (off + 240 <= 8192) {
            assertEquals(0x9000, card.send(TransferCardSim.writeApdu(off, filler)).getSW());
            off += 240;
        }
        int room = 8192 - off;
        assertEquals(0x6A84, card.send(TransferCardSim.writeApdu(off, new byte[room + 1])).getSW());
        assertEquals(off, card.batchLength(), "a refused write changes nothing");
        assertEquals(0x9000, card.send(TransferCardSim.writeApdu(off, new byte[room])).getSW());
        assertEquals(8192, card.batchLength());
        assertEquals(0x6A84, card.send(TransferCardSim.writeApdu(8192, new byte[1])).getSW());
        assertEquals(0x6A84, card.send(TransferCardSim.writeApdu(8100, new byte[200])).getSW());
        assertEquals(0x9000, card.send(TransferCardSim.writeApdu(8100, new byte[92])).getSW(), "a resend up to the end");
        assertEquals(8192, card.batchLength());
    }

    @Test
    void largestBatchFits() {
        // (8192 - 58) / 48 = 169 records
        BatchFixture batch = new BatchFixture(Hex.decode("5A0000000042"), 1, 100, 69, 1);
        TransferCardSim card = sealedCard(batch);
        assertEquals(58 + 48 * 169, card.batchLength());
        TransferCardSim tooBig = activeCard();
        BatchFixture big = new BatchFixture(Hex.decode("5A0000000042"), 2, 100, 70, 1);
        byte[] bytes = big.bytes();
        int off = 0;
        while (off + 240 <= 8192) {
            assertEquals(0x9000, tooBig.write(off, bytes, off, 240));
            off += 240;
        }
        assertEquals(0x6A84, tooBig.write(off, bytes, off, 240), "170 records: split the batch");
        assertArrayEquals(batch.bytes(), card.readAll());
    }

    @Test
    void finishChecksStructure() {
        BatchFixture batch = new BatchFixture(4);
        byte[] bytes = batch.bytes();
        TransferCardSim card = activeCard();
        assertEquals(0x6985, card.finish(bytes.length), "nothing written");
        card.writeAll(bytes, 240);
        assertEquals(0x6A80, card.finish(bytes.length - 1), "not the written length");
        assertEquals(0x6A80, card.finish(bytes.length + 48));
        assertEquals(0x6700, card.sw("8084000001" + "00"));
        assertEquals(0x6700, card.sw("808400000300" + "0000"));
        assertEquals(0x6A86, card.send(concat(Hex.decode("8084010002"), u16(bytes.length))).getSW());
        // written length consistent with itself but not with the header's counts
        assertEquals(0x9000, card.send(TransferCardSim.writeApdu(bytes.length, new byte[48])).getSW());
        assertEquals(0x6A80, card.finish(bytes.length + 48));
        // header says FORMAT 02
        byte[] bad = bytes.clone();
        bad[0] = 2;
        card.writeAll(bad, 240);
        assertEquals(0x6A80, card.finish(bad.length));
        // counts that cannot fit
        bad = bytes.clone();
        bad[18] = 1;
        card.writeAll(bad, 240);
        assertEquals(0x6A80, card.finish(bad.length));
        bad = bytes.clone();
        bad[33] = (byte) 0xFF;
        card.writeAll(bad, 240);
        assertEquals(0x6A80, card.finish(bad.length));
        // shorter than a header
        assertEquals(0x9000, card.write(0, bytes, 0, 20));
        assertEquals(0x6A80, card.finish(20));
        assertEquals(1, card.batchState(), "a refused FINISH leaves the batch open");
        // and the right one
        card.writeAll(bytes, 240);
        assertEquals(0x9000, card.finish(bytes.length));
        assertEquals(0x6985, card.finish(bytes.length), "already sealed");
    }

    @Test
    void emptyBatchWithNoRecords() {
        BatchFixture batch = new BatchFixture(0);
        TransferCardSim card = sealedCard(batch);
        assertEquals(58, card.batchLength());
        assertArrayEquals(batch.bytes(), card.readAll());
    }

    @Test
    void secondBatchRefusedWhileSealed() {
        BatchFixture batch = new BatchFixture(3);
        TransferCardSim card = sealedCard(batch);
        assertEquals(0x6985, card.write(0, batch.bytes(), 0, 10));
        assertEquals(0x6985, card.write(batch.bytes().length, batch.bytes(), 0, 10));
        assertEquals(2, card.batchState());
        assertArrayEquals(batch.bytes(), card.readAll());
    }

    @Test
    void readBeforeSealedAndOutOfRange() {
        BatchFixture batch = new BatchFixture(3);
        TransferCardSim card = activeCard();
        assertEquals(0x6985, card.sw("8086000000"), "EMPTY");
        card.writeAll(batch.bytes(), 100);
        assertEquals(0x6985, card.sw("8086000000"), "WRITING");
        assertEquals(0x9000, card.finish(batch.bytes().length));
        int len = batch.bytes().length;
        assertEquals(0x6A86, card.send(concat(Hex.decode("8086"), u16(len), Hex.decode("00"))).getSW());
        assertEquals(0x6A86, card.send(concat(Hex.decode("8086"), u16(len + 1), Hex.decode("00"))).getSW());
        assertEquals(0x6A86, card.send(concat(Hex.decode("8086"), u16(0xFFFF), Hex.decode("00"))).getSW());
        assertEquals(0x6700, card.sw("808600000100"));
        assertEquals(0x9000, card.send(concat(Hex.decode("8086"), u16(len - 1), Hex.decode("00"))).getSW());
    }

    // ---- CLEAR / READ ACK ----

    @Test
    void clearChecksAcknowledgement() {
        BatchFixture batch = new BatchFixture(5);
        TransferCardSim card = sealedCard(batch);
        assertEquals(0x6A88, card.sw("808A000000"), "no acknowledgement while SEALED");
        assertEquals(0x6A80, clearWith(card, batch, batch.ackData(Hex.decode("5A0000000043"), batch.batchNo)));
        assertEquals(0x6A80, clearWith(card, batch, batch.ackData(batch.samId, batch.batchNo + 1)));
        byte[] ackData = batch.ackData();
        byte[] ackSam = batch.ackSam(ackData);
        byte[] ackCard = BatchFixture.ackCard(XSERIAL, ackData, batch.seal);
        byte[] wrong = ackCard.clone();
        wrong[7] ^= (byte) 0x80;
        assertEquals(0x9302, card.clear(ackData, ackSam, wrong));
        assertEquals(0x9302, card.clear(ackData, ackSam,
                BatchFixture.ackCard(Hex.decode("5452414E53000002"), ackData, batch.seal)), "another card's key");
        assertEquals(0x9302, card.clear(ackData, ackSam,
                BatchFixture.ackCard(XSERIAL, ackData, new byte[8])), "over another seal");
        byte[] tampered = ackData.clone();
        tampered[12] ^= 1; // CREDITED
        assertEquals(0x9302, card.clear(tampered, ackSam, ackCard));
        assertEquals(0x6700, card.send(concat(Hex.decode("8088000031"), Arrays.copyOf(concat(ackData, ackSam, ackCard), 49))).getSW());
        assertEquals(0x6A86, card.send(concat(Hex.decode("8088000132"), ackData, ackSam, ackCard)).getSW());
        assertEquals(2, card.batchState());
        assertArrayEquals(batch.bytes(), card.readAll(), "refused clears keep the batch");

        assertEquals(0x9000, card.clear(ackData, ackSam, ackCard));
        assertEquals(3, card.batchState());
        assertEquals(0, card.batchLength());
        ResponseAPDU r = card.send("808A000000");
        assertEquals(0x9000, r.getSW());
        assertArrayEquals(concat(ackData, ackSam), r.getData());
        assertEquals(0x9000, card.sw("808A00002A"));
        assertEquals(0x6700, card.sw("808A000010"));
        assertEquals(0x6A86, card.sw("808A010000"));
        assertEquals(0x6985, card.sw("8086000000"), "batch dropped");
        assertEquals(0x6985, card.clear(ackData, ackSam, ackCard), "nothing to clear");
        assertEquals(0x6985, card.finish(0));
        // the acknowledgement survives a reset
        card.reset();
        assertArrayEquals(concat(ackData, ackSam), card.send("808A000000").getData());
    }

    @Test
    void readAckWhenNone() {
        TransferCardSim card = activeCard();
        assertEquals(0x6A88, card.sw("808A000000"), "EMPTY");
        assertEquals(0x9000, card.write(0, new byte[10], 0, 10));
        assertEquals(0x6A88, card.sw("808A000000"), "WRITING");
    }

    @Test
    void newBatchAfterAcked() {
        BatchFixture first = new BatchFixture(Hex.decode("5A0000000042"), 7, 2, 1, 11);
        TransferCardSim card = sealedCard(first);
        byte[] ackData = first.ackData();
        assertEquals(0x9000, clearWith(card, first, ackData));
        assertEquals(3, card.batchState());
        assertEquals(0x6A86, card.write(10, first.bytes(), 0, 10), "a new batch starts at 0");

        BatchFixture second = new BatchFixture(Hex.decode("5A0000000042"), 8, 4, 0, 12);
        assertEquals(0x9000, card.write(0, second.bytes(), 0, 100));
        assertEquals(1, card.batchState());
        assertEquals(0x6A88, card.sw("808A000000"), "the acknowledgement went with the new batch");
        card.writeAll(second.bytes(), 100);
        assertEquals(0x9000, card.finish(second.bytes().length));
        assertArrayEquals(second.bytes(), card.readAll());
        assertEquals(0x6A80, clearWith(card, second, ackData), "the old acknowledgement does not fit");
        assertEquals(0x9000, clearWith(card, second, second.ackData()));
    }

    @Test
    void batchSurvivesReset() {
        BatchFixture batch = new BatchFixture(2);
        TransferCardSim card = activeCard();
        card.writeAll(batch.bytes(), 50);
        card.reset();
        assertEquals(1, card.batchState());
        assertEquals(0x9000, card.finish(batch.bytes().length));
        card.reset();
        assertArrayEquals(batch.bytes(), card.readAll());
    }
}
