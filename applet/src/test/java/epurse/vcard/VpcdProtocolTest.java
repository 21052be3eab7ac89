package epurse.vcard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class VpcdProtocolTest {
    private static ByteArrayInputStream stream(String hex) {
        return new ByteArrayInputStream(Hex.decode(hex));
    }

    @Test
    void encodesLengthAndPayloadInOneBuffer() {
        assertEquals("000400A40400", Hex.encode(VpcdProtocol.encode(Hex.decode("00A40400"))));
        assertEquals("000104", Hex.encode(VpcdProtocol.encode(new byte[] {4})));
        byte[] big = new byte[0x1234];
        byte[] frame = VpcdProtocol.encode(big);
        assertEquals(0x1236, frame.length);
        assertEquals(0x12, frame[0]);
        assertEquals(0x34, frame[1]);
        assertThrows(IllegalArgumentException.class, () -> VpcdProtocol.encode(new byte[0x10000]));
    }

    @Test
    void readsFramesBackToBack() throws IOException {
        ByteArrayInputStream in = stream("000101" + "000104" + "00058010000000");
        assertArrayEquals(new byte[] {1}, VpcdProtocol.readFrame(in));
        assertArrayEquals(new byte[] {4}, VpcdProtocol.readFrame(in));
        assertEquals("8010000000", Hex.encode(VpcdProtocol.readFrame(in)));
        assertNull(VpcdProtocol.readFrame(in), "clean end between frames");
    }

    @Test
    void readsTheLargestFrame() throws IOException {
        byte[] payload = new byte[0xFFFF];
        payload[0xFFFE] = 0x55;
        byte[] frame = VpcdProtocol.encode(payload);
        assertArrayEquals(payload, VpcdProtocol.readFrame(new ByteArrayInputStream(frame)));
    }

    @Test
    void rejectsTruncatedAndEmptyFrames() {
        assertThrows(EOFException.class, () -> VpcdProtocol.readFrame(stream("00")), "end inside the length");
        assertThrows(EOFException.class, () -> VpcdProtocol.readFrame(stream("000580100000")), "end inside the payload");
        assertThrows(VpcdProtocol.MalformedFrameException.class, () -> VpcdProtocol.readFrame(stream("0000")));
    }

    @Test
    void namesControlCodes() {
        assertEquals("power-off", VpcdProtocol.controlName(0));
        assertEquals("power-on", VpcdProtocol.controlName(1));
        assertEquals("reset", VpcdProtocol.controlName(2));
        assertEquals("get-atr", VpcdProtocol.controlName(4));
        assertEquals("unknown control code 07", VpcdProtocol.controlName(7));
    }

    @Test
    void atrHasT1AndACorrectTck() {
        byte[] atr = CardKind.lookup("purse").atr();
        assertEquals("3B8A8001" + Hex.encode("EPURSE-P10".getBytes(java.nio.charset.StandardCharsets.US_ASCII)) + "73",
                Hex.encode(atr));
        assertTrue(Atr.checkTck(atr));
        // TCK = XOR of T0..last historical byte, worked by hand for a one-byte history "A" (41):
        // 81 ^ 80 ^ 01 ^ 41 = 41
        assertEquals("3B818001" + "41" + "41", Hex.encode(Atr.build("A")));
        assertTrue(Atr.checkTck(CardKind.lookup("transfer").atr()));
    }

    @Test
    void installArrayHasTheJavaCardLayout() {
        // Li AID || Lc control info (none) || La transport key
        assertEquals("08F045505552534501" + "00" + "10404142434445464748494A4B4C4D4E4F",
                Hex.encode(CardKind.lookup("purse").installArray()));
        assertEquals("08F045505552534502" + "00" + "00", Hex.encode(CardKind.lookup("transfer").installArray()));
    }
}
