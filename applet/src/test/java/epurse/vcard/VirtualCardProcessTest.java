package epurse.vcard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The virtual card process against fake vpcd slots (no pcscd): control channel, insertion and
 * removal as vpcd sees them, APDUs, fault injection, save/restore.
 */
class VirtualCardProcessTest {
    static final String TEST_AID = "F0455055525345FF";
    static final String SELECT = "00A4040008" + TEST_AID + "00";
    static final String COUNT = "8010000002";
    static final String RANDOM = "8012000008";
    static final int MIN_ABSENCE_MS = 300;

    private FakeVpcd slot0;
    private FakeVpcd slot1;
    private VirtualCardProcess process;
    private final CountDownLatch shutdownAsked = new CountDownLatch(1);

    @BeforeAll
    static void quiet() {
        Log.setQuiet(!Boolean.getBoolean("vcard.verbose"));
    }

    @AfterAll
    static void loud() {
        Log.setQuiet(false);
    }

    @BeforeEach
    void start() throws Exception {
        slot0 = new FakeVpcd();
        slot1 = new FakeVpcd();
        process = startProcess(false, null);
    }

    private VirtualCardProcess startProcess(boolean defaultCards, Path state) throws Exception {
        VirtualCardProcess.Options o = new VirtualCardProcess.Options();
        o.controlPort = 0;
        o.vpcdPorts = new int[] {slot0.port(), slot1.port()};
        o.minAbsenceMillis = MIN_ABSENCE_MS;
        o.defaultCards = defaultCards;
        o.state = state;
        o.kinds.add(CardKind.parse("test=epurse.vcard.TestApplet:" + TEST_AID + ":0102"));
        o.kinds.add(CardKind.parse("ghost=epurse.vcard.NoSuchApplet:F0455055525345EE"));
        VirtualCardProcess p = new VirtualCardProcess(o, shutdownAsked::countDown);
        p.start();
        return p;
    }

    @AfterEach
    void stop() throws IOException {
        process.close();
        slot0.close();
        slot1.close();
    }

    private String ctl(String line) throws IOException {
        return ctl(process, line);
    }

    private static String ctl(VirtualCardProcess p, String line) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), p.controlPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
        }
    }

    private void ok(String line) throws IOException {
        String reply = ctl(line);
        assertTrue(reply.startsWith("OK"), line + " -> " + reply);
    }

    /** Creates a test card, inserts it in slot 0 and waits for the connection. */
    private void testCardInSlot0(String name) throws IOException {
        ok("create " + name + " test seed 0102030405060708");
        ok("insert " + name + " 0");
        slot0.accept();
    }

    @Test
    void controlChannelAnswersOneLinePerCommand() throws IOException {
        assertEquals("OK pong", ctl("ping"));
        assertTrue(ctl("").startsWith("ERR empty command"));
        assertTrue(ctl("frobnicate").startsWith("ERR unknown command"));
        assertTrue(ctl("create a").startsWith("ERR usage"));
        assertTrue(ctl("create a wallet").startsWith("ERR unknown card kind 'wallet'"));
        assertTrue(ctl("create bad/name test").startsWith("ERR bad card name"));
        assertEquals("OK created a test", ctl("create a test"));
        assertEquals("ERR card a exists", ctl("create a test"));
        assertTrue(ctl("insert b 0").startsWith("ERR no card named b"));
        assertTrue(ctl("insert a 2").startsWith("ERR SLOT must be a number 0..1"));
        assertEquals("OK inserted a in slot 0", ctl("insert a 0"));
        assertEquals("ERR card a is already in slot 0", ctl("insert a 1"));
        ok("create b test");
        assertTrue(ctl("insert b 0").startsWith("ERR slot 0 holds a"));
        assertTrue(ctl("delete a").startsWith("ERR card a is in slot 0"));
        assertEquals("OK removed a from slot 0", ctl("remove 0"));
        assertEquals("OK slot 0 already empty", ctl("remove 0"));
        assertEquals("OK deleted a", ctl("delete a"));
        assertTrue(ctl("help").startsWith("OK commands:"));

        // several commands on one connection, CRLF accepted
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), process.controlPort())) {
            s.getOutputStream().write("ping\r\nlist\n".getBytes(StandardCharsets.UTF_8));
            BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("OK pong", r.readLine());
            assertEquals("OK slot0=-/empty slot1=-/empty cards=b:test@-", r.readLine());
        }
    }

    @Test
    void insertedCardConnectsAnswersAtrAndApdus() throws IOException {
        assertTrue(slot0.noConnectionWithin(200), "an empty slot keeps no connection");
        testCardInSlot0("c");
        byte[] atr = slot0.atr();
        assertEquals("3B8B8001" + Hex.encode("EPURSE-TEST".getBytes(StandardCharsets.US_ASCII)), Hex.encode(atr, 0, atr.length - 1));
        assertTrue(Atr.checkTck(atr));
        assertTrue(ctl("list").startsWith("OK slot0=c/present slot1=-/empty"), ctl("list"));

        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("00019000", slot0.transmitHex(COUNT));
        assertEquals("00029000", slot0.transmitHex(COUNT));
        assertEquals("01029000", slot0.transmitHex("8014000002"), "install parameter reached the applet");
        assertEquals("6D00", slot0.transmitHex("00A4040008F04550555253450100"),
                "with an applet selected, a SELECT of an unknown AID goes to that applet (Java Card rule)");
        slot0.control(VpcdProtocol.RESET);
        assertEquals("6A82", slot0.transmitHex("00A4040008F04550555253450100"), "unknown AID, nothing selected");
        assertEquals("6700", slot0.transmitHex("00A4040008F04550"), "Lc longer than the data");
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("00039000", slot0.transmitHex(COUNT), "persistent state survives a reset");

        assertEquals("OK removed c from slot 0", ctl("remove 0"));
        assertTrue(slot0.closedByCard(), "removal closes the connection");
        assertTrue(slot0.noConnectionWithin(MIN_ABSENCE_MS + 200), "and the slot stays empty");
        String stats = ctl("stats");
        assertTrue(stats.contains("slot0.apdus=9"), stats);
        assertTrue(stats.contains("card.c.apdus=9"), stats);
    }

    @Test
    void transientStateIsClearedByPowerControlCodes() throws IOException {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("019000", slot0.transmitHex("8016000001"));
        assertEquals("029000", slot0.transmitHex("8016000001"));
        slot0.control(VpcdProtocol.POWER_OFF);
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("6986", slot0.transmitHex("8016000001"), "nothing selected after power-up");
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("019000", slot0.transmitHex("8016000001"), "CLEAR_ON_RESET memory cleared");
    }

    @Test
    void cardWithoutItsAppletAnswers6A82() throws IOException {
        String reply = ctl("create g ghost");
        assertTrue(reply.startsWith("OK created g ghost without applet: applet class epurse.vcard.NoSuchApplet"), reply);
        ok("insert g 1");
        slot1.accept();
        assertEquals("6A82", slot1.transmitHex("00A4040008F0455055525345EE00"));
        assertTrue(ctl("list").contains("g:ghost@1:no-applet"));
    }

    @Test
    void defaultCardsArePurse1AndTransfer1InSlots0And1() throws Exception {
        process.close();
        process = startProcess(true, null);
        slot0.accept();
        slot1.accept();
        assertTrue(Atr.checkTck(slot0.atr()));
        assertTrue(Atr.checkTck(slot1.atr()));
        String list = ctl("list");
        assertTrue(list.startsWith("OK slot0=purse1/present slot1=transfer1/present cards=purse1:purse@0"), list);
        assertTrue(list.contains("transfer1:transfer@1"), list);
        // 6A82 while the purse applet is not built, its FCI afterwards
        String sw = slot0.transmitHex("00A4040008F04550555253450100");
        assertTrue(sw.equals("6A82") || sw.endsWith("9000"), sw);
    }

    @Test
    void dropCommandPullsTheCardBeforeItSeesTheCommand() throws IOException {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("OK slot 0 fault armed: drop-command:2", ctl("fault 0 drop-command 2"));
        assertEquals("00019000", slot0.transmitHex(COUNT), "the first command still goes through");
        assertTrue(ctl("list").contains("fault:drop-command:2(1 to go)"), ctl("list"));
        slot0.send(Hex.decode(COUNT));
        assertTrue(slot0.closedByCard(), "the second is lost and the card pulled");
        assertTrue(ctl("list").startsWith("OK slot0=-/empty"), ctl("list"));
        assertTrue(ctl("stats").contains("slot0.faults=1"));

        ok("insert c 0");
        assertTrue(slot0.millisUntilConnect() >= MIN_ABSENCE_MS - 50, "pcscd gets time to see the removal");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("00029000", slot0.transmitHex(COUNT), "the dropped command never reached the card");
    }

    @Test
    void dropResponseLetsTheCardProcessThenPullsIt() throws IOException {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        ok("fault 0 drop-response 1");
        slot0.send(Hex.decode(COUNT));
        assertTrue(slot0.closedByCard(), "no response, card pulled");

        ok("insert c 0");
        slot0.accept();
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertEquals("00029000", slot0.transmitHex(COUNT), "the card did process the lost one");
    }

    @Test
    void faultCanPutTheCardBackAndCanBeCleared() throws IOException {
        testCardInSlot0("c");
        assertTrue(ctl("fault 0 drop-command 1 reinsert 50").endsWith("drop-command:1:reinsert-50ms"));
        slot0.send(Hex.decode(COUNT));
        assertTrue(slot0.closedByCard());
        long ms = slot0.millisUntilConnect();
        assertTrue(ms >= MIN_ABSENCE_MS - 50, "back after the minimum absence, not after 50 ms: " + ms);
        assertTrue(ctl("list").startsWith("OK slot0=c/"), ctl("list"));

        ok("fault 0 drop-response 1");
        assertEquals("OK slot 0 fault cleared (was drop-response:1)", ctl("fault 0 clear"));
        assertEquals("OK slot 0 fault cleared (none was armed)", ctl("fault 0 clear"));
        assertEquals("9000", slot0.transmitHex(SELECT));
        assertTrue(ctl("fault 0 drop-everything 1").startsWith("ERR usage"));
        assertTrue(ctl("fault 0 drop-command 0").startsWith("ERR K must be a number 1.."));
    }

    @Test
    void malformedFrameDropsTheConnectionAndTheCardComesBack() throws IOException {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        slot0.sendRaw(Hex.decode("0003801000"));
        assertTrue(slot0.closedByCard(), "a 3-byte frame is neither control code nor APDU");
        slot0.accept();
        assertTrue(Atr.checkTck(slot0.atr()), "reconnected, card still inserted");
        assertTrue(ctl("stats").contains("slot0.malformed=1"));
        slot0.sendRaw(Hex.decode("0000"));
        assertTrue(slot0.closedByCard(), "an empty frame too");
        slot0.accept();
        assertEquals("9000", slot0.transmitHex(SELECT), "and the process still serves");
    }

    @Test
    void waitBlocksUntilVpcdHasSeenTheCard() throws IOException {
        assertEquals("OK slot 0 empty", ctl("wait 0 empty"));
        assertEquals("ERR timeout after 100 ms: slot 0 is empty", ctl("wait 0 present 100"));
        ok("create c test");
        ok("insert c 0");
        slot0.accept();
        assertEquals("ERR timeout after 100 ms: slot 0 is connected", ctl("wait 0 present 100"), "connected, ATR not read yet");
        slot0.atr();
        assertEquals("OK slot 0 present (c)", ctl("wait 0 present"));
        assertTrue(ctl("wait 0 gone").startsWith("ERR usage"));
        ok("remove 0");
        assertEquals("OK slot 0 empty", ctl("wait 0 empty 1000"));
    }

    @Test
    void reconnectsWhenVpcdGoesAway() throws IOException {
        testCardInSlot0("c");
        slot0.dropClient(); // pcscd restarted
        slot0.accept();
        assertTrue(Atr.checkTck(slot0.atr()));
        assertTrue(ctl("list").startsWith("OK slot0=c/present"));
        assertTrue(ctl("stats").contains("slot0.connects=2"));
    }

    @Test
    void saveAndLoadReplayTheJournal(@TempDir Path dir) throws Exception {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        assertEquals("9000", slot0.transmitHex(SELECT));
        slot0.transmit(COUNT);
        slot0.transmit(COUNT);
        String random1 = slot0.transmitHex(RANDOM);
        ok("create spare test");
        Path file = dir.resolve("wallet.state");
        String saved = ctl("save " + file);
        assertTrue(saved.startsWith("OK saved 2 cards"), saved);

        // the original card goes on...
        String nextCount = slot0.transmitHex(COUNT);
        String nextRandom = slot0.transmitHex(RANDOM);

        // ...and a second process restored from the file continues exactly the same way
        try (FakeVpcd other0 = new FakeVpcd(); FakeVpcd other1 = new FakeVpcd()) {
            VirtualCardProcess.Options o = new VirtualCardProcess.Options();
            o.controlPort = 0;
            o.vpcdPorts = new int[] {other0.port(), other1.port()};
            o.minAbsenceMillis = 0;
            VirtualCardProcess restored = new VirtualCardProcess(o, () -> { });
            restored.start();
            try {
                String loaded = ctl(restored, "load " + file);
                assertTrue(loaded.startsWith("OK loaded 2 cards"), loaded);
                assertTrue(ctl(restored, "list").startsWith("OK slot0=c/"), "slot assignment restored");
                other0.accept();
                other0.control(VpcdProtocol.POWER_ON);
                assertEquals("9000", other0.transmitHex(SELECT));
                assertEquals(nextCount, other0.transmitHex(COUNT));
                assertNotEquals(random1, nextRandom);
                assertEquals(nextRandom, other0.transmitHex(RANDOM), "the card's random generator state is restored too");
            } finally {
                restored.close();
            }
        }
    }

    @Test
    void restoredCardGivesTheSameRandomsAsTheOriginal() throws Exception {
        CardKind kind = CardKind.parse("test=epurse.vcard.TestApplet:" + TEST_AID + ":0102");
        VirtualCard a = VirtualCard.create("a", kind, Hex.decode("0A0B"));
        a.powerReset();
        a.transmit(Hex.decode(SELECT));
        a.transmit(Hex.decode(RANDOM));
        a.transmit(Hex.decode(COUNT));
        VirtualCard b = VirtualCard.restore("a", kind, Hex.decode("0A0B"), a.journal());
        assertEquals(Hex.encode(a.transmit(Hex.decode(RANDOM))), Hex.encode(b.transmit(Hex.decode(RANDOM))));
        assertEquals(Hex.encode(a.transmit(Hex.decode(COUNT))), Hex.encode(b.transmit(Hex.decode(COUNT))));

        VirtualCard c = VirtualCard.create("c", kind, Hex.decode("0C0D"));
        c.powerReset();
        c.transmit(Hex.decode(SELECT));
        assertNotEquals(Hex.encode(a.transmit(Hex.decode(RANDOM))), Hex.encode(c.transmit(Hex.decode(RANDOM))),
                "cards with different seeds draw different randoms");
    }

    @Test
    void loadRefusesAJournalThatDoesNotReplay(@TempDir Path dir) throws Exception {
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        slot0.transmit(SELECT);
        slot0.transmit(COUNT);
        Path file = dir.resolve("w.state");
        ok("save " + file);
        List<String> lines = Files.readAllLines(file);
        Path tampered = dir.resolve("tampered.state");
        Files.write(tampered, lines.stream().map(l -> l.equals("A " + COUNT + " 00019000") ? "A " + COUNT + " 00059000" : l).toList());
        String reply = ctl("load " + tampered);
        assertTrue(reply.startsWith("ERR cannot restore") && reply.contains("replay diverged at operation")
                && reply.endsWith("nothing changed"), reply);
        assertTrue(ctl("list").startsWith("OK slot0=c/"), "the wallet is untouched");
        assertEquals("00029000", slot0.transmitHex(COUNT));

        Path truncated = dir.resolve("truncated.state");
        Files.write(truncated, lines.subList(0, lines.size() - 1));
        assertTrue(ctl("load " + truncated).contains("truncated"), ctl("load " + truncated));
        Path garbage = dir.resolve("garbage.state");
        Files.writeString(garbage, "hello\n");
        assertTrue(ctl("load " + garbage).contains("not an epurse virtual card state file"));
        assertTrue(ctl("load " + dir.resolve("missing.state")).startsWith("ERR"));
    }

    @Test
    void stateOptionRestoresAtStartAndSavesOnClose(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("stack.state");
        process.close();
        process = startProcess(false, file);
        testCardInSlot0("c");
        slot0.control(VpcdProtocol.POWER_ON);
        slot0.transmit(SELECT);
        slot0.transmit(COUNT);
        process.close();
        assertTrue(slot0.closedByCard());
        assertTrue(Files.readString(file).contains("\nslot 0 c\n"));

        process = startProcess(false, file);
        slot0.accept();
        slot0.control(VpcdProtocol.POWER_ON);
        slot0.transmit(SELECT);
        assertEquals("00029000", slot0.transmitHex(COUNT));
    }

    @Test
    void shutdownCommandAsksTheProcessToStop() throws Exception {
        assertEquals("OK shutting down", ctl("shutdown"));
        assertTrue(shutdownAsked.await(5, TimeUnit.SECONDS));
        assertFalse(ctl("ping").isEmpty());
    }
}
