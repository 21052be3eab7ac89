package epurse.transfer;

import static epurse.testkit.Hex.concat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import epurse.testkit.Hex;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import javax.smartcardio.CommandAPDU;
import javax.smartcardio.ResponseAPDU;
import org.junit.jupiter.api.Test;

/**
 * Random and mutated commands with a fixed seed: every status word is one SPEC section 5 defines
 * (6F00 is a failure), and the card still holds the batch it had sealed.
 */
class TransferFuzzTest {
    static final long SEED = 0x5EED_7A45L;

    /** SPEC section 5, less 6F00. 6A82 only comes from the runtime, for a SELECT. */
    static boolean defined(int sw, CommandAPDU cmd) {
        int hi = sw >> 8;
        if (hi == 0x61 || hi == 0x6C) return true;
        if ((sw & 0xFFF0) == 0x63C0) return true;
        if (sw >= 0x9401 && sw <= 0x9408) return true;
        switch (sw) {
            case 0x9000: case 0x6283: case 0x6700: case 0x6982: case 0x6983: case 0x6985:
            case 0x6A80: case 0x6A83: case 0x6A84: case 0x6A86: case 0x6A88: case 0x6D00:
            case 0x6E00: case 0x9302: case 0x9303:
                return true;
            case 0x6A82:
                return cmd.getINS() == 0xA4;
            default:
                return false;
        }
    }

    /** Commands a host would send, for mutation; none of them can clear the batch. */
    static byte[][] templates(BatchFixture batch, byte[] bytes, Random rnd) {
        byte[] ackData = batch.ackData();
        byte[] fakeAckCard = new byte[8];
        rnd.nextBytes(fakeAckCard);
        return new byte[][] {
            Hex.decode("00A4040008F04550555253450200"),
            Hex.decode("805E000000"),
            Hex.decode("0084000004"),
            concat(Hex.decode("8460000028"), new byte[40]),
            TransferCardSim.writeApdu(0, Arrays.copyOf(bytes, 240)),
            TransferCardSim.writeApdu(240, Arrays.copyOfRange(bytes, 240, 400)),
            concat(Hex.decode("8084000002"), Hex.u16(bytes.length)),
            Hex.decode("8086000000"),
            Hex.decode("808600F000"),
            concat(Hex.decode("8088000032"), ackData, batch.ackSam(ackData), fakeAckCard),
            Hex.decode("808A000000"),
        };
    }

    static CommandAPDU randomCommand(Random rnd, byte[][] templates) {
        int kind = rnd.nextInt(10);
        if (kind < 3) {
            // fully random short APDU, CLA mostly one of ours
            int[] clas = {0x00, 0x80, 0x84, rnd.nextInt(256)};
            int cla = clas[rnd.nextInt(clas.length)];
            byte[] data = new byte[rnd.nextInt(4) == 0 ? rnd.nextInt(256) : rnd.nextInt(60)];
            rnd.nextBytes(data);
            int ne = rnd.nextInt(3) == 0 ? 0 : 1 + rnd.nextInt(256);
            return shortEnough(new CommandAPDU(cla, rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256), data, ne));
        }
        byte[] t = templates[rnd.nextInt(templates.length)].clone();
        CommandAPDU base = new CommandAPDU(t);
        int cla = base.getCLA(), ins = base.getINS(), p1 = base.getP1(), p2 = base.getP2();
        byte[] data = base.getData();
        int ne = base.getNe();
        int mutations = 1 + rnd.nextInt(3);
        for (int m = 0; m < mutations; m++) {
            // class and instruction are mutated rarely, so most commands reach the handlers
            switch (new int[] {0, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7}[rnd.nextInt(15)]) {
                case 0 -> cla = rnd.nextInt(4) == 0 ? rnd.nextInt(256) : cla ^ (1 << rnd.nextInt(8));
                case 1 -> ins = rnd.nextInt(4) == 0 ? rnd.nextInt(256) : ins ^ (1 << rnd.nextInt(8));
                case 2 -> p1 = rnd.nextInt(256);
                case 3 -> p2 = rnd.nextInt(256);
                case 4 -> {
                    if (data.length > 0) data[rnd.nextInt(data.length)] ^= (byte) (1 + rnd.nextInt(255));
                }
                case 5 -> data = Arrays.copyOf(data, rnd.nextInt(Math.max(1, data.length + 8)));
                case 6 -> ne = rnd.nextInt(257);
                default -> {
                    byte[] more = new byte[1 + rnd.nextInt(20)];
                    rnd.nextBytes(more);
                    data = Arrays.copyOf(concat(data, more), Math.min(255, data.length + more.length));
                }
            }
        }
        if (rnd.nextInt(100) == 0) {
            ne = 257 + rnd.nextInt(1000); // extended length: not supported, refused by the runtime
        }
        return shortEnough(new CommandAPDU(cla, ins, p1, p2, data, ne));
    }

    /**
     * jCardSim's APDU buffer is 260 bytes: it answers 6F00 to a 261-byte command (Lc = 255 with
     * Le) before any applet runs. Real cards have at least 261 bytes; such commands lose their Le.
     */
    static CommandAPDU shortEnough(CommandAPDU cmd) {
        if (cmd.getNc() == 255 && cmd.getNe() > 0 && cmd.getNe() <= 256) {
            return new CommandAPDU(cmd.getCLA(), cmd.getINS(), cmd.getP1(), cmd.getP2(), cmd.getData());
        }
        return cmd;
    }

    /** Sends {@code count} commands; returns a histogram of status words. */
    static Map<String, Integer> fuzz(TransferCardSim card, Random rnd, byte[][] templates, int count,
                                     Runnable every1000) {
        Map<String, Integer> seen = new TreeMap<>();
        for (int i = 0; i < count; i++) {
            CommandAPDU cmd = randomCommand(rnd, templates);
            ResponseAPDU r;
            try {
                r = card.sim.transmitCommand(cmd);
            } catch (RuntimeException e) {
                throw new AssertionError("command " + i + " " + Hex.encode(cmd.getBytes()) + " threw", e);
            }
            int sw = r.getSW();
            if (!defined(sw, cmd)) {
                fail(String.format("command %d %s -> %04X", i, Hex.encode(cmd.getBytes()), sw));
            }
            seen.merge(String.format("%04X", sw), 1, Integer::sum);
            if (rnd.nextInt(500) == 0) card.reset();
            if ((i + 1) % 1000 == 0) every1000.run();
        }
        return seen;
    }

    @Test
    void sealedBatchSurvivesTwentyThousandRandomCommands() {
        Random rnd = new Random(SEED);
        BatchFixture batch = new BatchFixture(30);
        byte[] bytes = batch.bytes();
        TransferCardSim card = TransferAppletTest.sealedCard(batch);
        byte[][] templates = templates(batch, bytes, rnd);
        Map<String, Integer> seen = fuzz(card, rnd, templates, 20_000, () -> {
            card.select();
            assertEquals(2, card.batchState());
        });
        card.select();
        assertEquals(2, card.lifecycle());
        assertEquals(2, card.batchState());
        assertArrayEquals(bytes, card.readAll());
        assertTrue(seen.get("9000") > 0 && seen.get("6985") > 0 && seen.get("6700") > 0
                && seen.get("6A86") > 0 && seen.get("6D00") > 0 && seen.get("6E00") > 0, seen.toString());
        System.out.println("transfer fuzz (sealed): " + seen);
    }

    @Test
    void blankAndOpenCardsOnlyAnswerDefinedStatusWords() {
        Random rnd = new Random(SEED + 1);
        BatchFixture batch = new BatchFixture(4);
        byte[] bytes = batch.bytes();
        byte[][] templates = templates(batch, bytes, rnd);

        TransferCardSim blank = new TransferCardSim();
        fuzz(blank, rnd, templates, 5_000, () -> {});
        blank.select();
        assertEquals(1, blank.lifecycle(), "nothing random personalises a card");

        TransferCardSim open = TransferAppletTest.activeCard();
        Map<String, Integer> seen = fuzz(open, rnd, templates, 5_000, () -> {
            open.select();
            byte[] s = open.status();
            int length = ((s[4] & 0xFF) << 8) | (s[5] & 0xFF);
            assertTrue(s[1] == 1 || s[1] == 0 || s[1] == 2, "state " + s[1]);
            assertTrue(length <= 8192);
        });
        // whatever random writes left behind, a real batch still goes through
        open.select();
        if (open.batchState() != 2) {
            open.writeAll(bytes, 240);
            assertEquals(0x9000, open.finish(bytes.length));
            assertArrayEquals(bytes, open.readAll());
        }
        System.out.println("transfer fuzz (blank + open): " + seen);
    }
}
