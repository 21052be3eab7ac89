package epurse.transfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import epurse.testkit.Hex;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A card pulled between any two commands of a batch write: on reinsertion GET STATUS shows WRITING
 * with exactly the bytes committed so far (or SEALED), and the host can resume from there.
 */
class TransferResetTest {

    /** One step of a host's write: WRITE BATCH (offset, length) or FINISH BATCH (offset -1). */
    record Step(int offset, int length) {
        boolean isFinish() {
            return offset < 0;
        }
    }

    static List<Step> plan(int total) {
        List<Step> steps = new ArrayList<>();
        int chunk = 240;
        for (int off = 0; off < total; off += chunk) {
            int n = Math.min(chunk, total - off);
            steps.add(new Step(off, n));
            if (off == chunk) steps.add(new Step(off, n)); // a resend
        }
        steps.add(new Step(-1, total));
        return steps;
    }

    @Test
    void resetBetweenAnyTwoCommandsIsResumable() {
        BatchFixture batch = new BatchFixture(17);
        byte[] bytes = batch.bytes();
        List<Step> steps = plan(bytes.length);
        for (int k = 0; k <= steps.size(); k++) {
            TransferCardSim card = TransferAppletTest.activeCard();
            int expectedLength = 0;
            int expectedState = 0;
            for (int i = 0; i < k; i++) {
                Step s = steps.get(i);
                if (s.isFinish()) {
                    assertEquals(0x9000, card.finish(s.length()));
                    expectedState = 2;
                } else {
                    assertEquals(0x9000, card.write(s.offset(), bytes, s.offset(), s.length()));
                    expectedState = 1;
                    expectedLength = s.offset() + s.length();
                }
            }
            card.reset();
            assertEquals(expectedState, card.batchState(), "state after reset at step " + k);
            assertEquals(expectedLength, card.batchLength(), "length after reset at step " + k);

            // The host's recovery: resume a WRITING batch from the length the card reports.
            if (card.batchState() != 2) {
                int from = card.batchLength();
                for (int off = from; off < bytes.length; off += 200) {
                    assertEquals(0x9000, card.write(off, bytes, off, Math.min(200, bytes.length - off)));
                }
                assertEquals(0x9000, card.finish(bytes.length));
            }
            assertEquals(2, card.batchState());
            assertArrayEquals(bytes, card.readAll(), "batch after reset at step " + k);
        }
    }

    @Test
    void resetDuringReadAndClearKeepsState() {
        BatchFixture batch = new BatchFixture(6);
        TransferCardSim card = TransferAppletTest.sealedCard(batch);
        card.send("8086000010");
        card.reset();
        assertArrayEquals(batch.bytes(), card.readAll());
        byte[] ackData = batch.ackData();
        assertEquals(0x9000, TransferAppletTest.clearWith(card, batch, ackData));
        card.reset();
        assertEquals(3, card.batchState());
        assertArrayEquals(Hex.concat(ackData, batch.ackSam(ackData)), card.send("808A000000").getData());
    }
}
