package epurse.transfer;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The transfer applet with a predictable random source: GET CHALLENGE returns the queued values
 * (a vector's {@code card_randoms}), then a counter, so tests are reproducible.
 */
public class FixedRandomTransferApplet extends TransferApplet {
    /** The instance most recently installed in this JVM (jCardSim creates it via {@link #install}). */
    static FixedRandomTransferApplet lastInstalled;

    private final Deque<byte[]> queued = new ArrayDeque<>();
    private int counter;

    protected FixedRandomTransferApplet(byte[] bArray, short bOffset, byte bLength) {
        super(bArray, bOffset, bLength);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        FixedRandomTransferApplet applet = new FixedRandomTransferApplet(bArray, bOffset, bLength);
        applet.register();
        lastInstalled = applet;
    }

    void queue(byte[] random) {
        queued.addLast(random.clone());
    }

    int queuedCount() {
        return queued.size();
    }

    @Override
    protected void drawRandom(byte[] buf, short off, short len) {
        byte[] next = queued.pollFirst();
        if (next == null) {
            counter++;
            next = new byte[] {(byte) 0xC0, (byte) 0xDE, (byte) (counter >> 8), (byte) counter};
        }
        if (next.length != len) {
            throw new IllegalStateException("queued random of " + next.length + " bytes, card wants " + len);
        }
        System.arraycopy(next, 0, buf, off, len);
    }
}
