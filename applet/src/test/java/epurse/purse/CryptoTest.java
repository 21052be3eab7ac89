package epurse.purse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.licel.jcardsim.smartcardio.CardSimulator;
import epurse.common.Bcd;
import epurse.common.Des3;
import epurse.common.U32;
import epurse.testkit.Hex;
import epurse.testkit.HostCrypto;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.Random;
import javacard.security.KeyBuilder;
import javacard.security.DESKey;
import javacard.security.Signature;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The card-side crypto and arithmetic ({@code epurse.common}) against published vectors, the
 * JCE-based {@link HostCrypto}, jCardSim's own retail MAC and the shared vectors' derived keys.
 */
class CryptoTest {

    @BeforeAll
    static void runtime() {
        new CardSimulator();   // makes jCardSim's runtime current for the Java Card API calls below
    }

    static byte[] cardMac(byte[] key, byte[] msg) {
        Des3 des = new Des3();
        des.setKey(key, (short) 0);
        byte[] out = new byte[8];
        byte[] buf = Arrays.copyOf(msg, Math.max(1, msg.length));
        des.mac(buf, (short) 0, (short) msg.length, out, (short) 0);
        return out;
    }

    @Test
    void retailMacIcao9303WorkedExample() {
        // ICAO Doc 9303 part 11, BAC worked example: MAC over E_IFD with K_MAC (padding method 2)
        byte[] k = Hex.decode("7962D9ECE03D1ACD4C76089DCE131543");
        byte[] m = Hex.decode("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2");
        assertEquals("5F1448EEA8AD90A7", Hex.encode(HostCrypto.mac(k, m)));
        assertEquals("5F1448EEA8AD90A7", Hex.encode(cardMac(k, m)));
    }

    @Test
    void retailMacBouncyCastleVector() {
        // Bouncy Castle ISO9797Alg3MacTest (no padding: the input is two whole blocks)
        byte[] k = Hex.decode("7CA110454A1A6E570131D9619DC1376E");
        byte[] m = "Hello World !!!!".getBytes(StandardCharsets.US_ASCII);
        assertEquals("F09B856213BAB83B", Hex.encode(HostCrypto.macOfPadded(k, m)));
    }

    @Test
    void cardMacEqualsHostMacAndJcardsimMacForAllLengths() {
        Random r = new Random(1);
        Signature sig = Signature.getInstance(Signature.ALG_DES_MAC8_ISO9797_1_M2_ALG3, false);
        DESKey key = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES, KeyBuilder.LENGTH_DES3_2KEY, false);
        for (int len = 0; len <= 80; len++) {
            byte[] k = new byte[16];
            byte[] m = new byte[len];
            r.nextBytes(k);
            r.nextBytes(m);
            byte[] host = HostCrypto.mac(k, m);
            assertArrayEquals(host, cardMac(k, m), "length " + len);
            key.setKey(k, (short) 0);
            sig.init(key, Signature.MODE_SIGN);
            byte[] jc = new byte[8];
            sig.sign(Arrays.copyOf(m, Math.max(1, len)), (short) 0, (short) len, jc, (short) 0);
            assertArrayEquals(host, jc, "jCardSim ALG3, length " + len);
        }
    }

    @Test
    void streamingMacEqualsOneShot() {
        Random r = new Random(2);
        Des3 des = new Des3();
        for (int t = 0; t < 50; t++) {
            byte[] k = new byte[16];
            byte[] m = new byte[r.nextInt(100)];
            r.nextBytes(k);
            r.nextBytes(m);
            des.setKey(k, (short) 0);
            des.macBegin();
            int i = 0;
            while (i < m.length) {
                int n = Math.min(m.length - i, r.nextInt(11));
                if (n == 1) {
                    des.macByte(m[i]);
                } else {
                    des.macUpdate(m, (short) i, (short) n);
                }
                i += n;
            }
            byte[] out = new byte[8];
            des.macFinal(out, (short) 0);
            assertArrayEquals(HostCrypto.mac(k, m), out);
            assertEquals(true, des.macVerify(Arrays.copyOf(m, m.length + 1), (short) 0, (short) m.length, out, (short) 0));
            out[7] ^= 1;
            assertEquals(false, des.macVerify(Arrays.copyOf(m, m.length + 1), (short) 0, (short) m.length, out, (short) 0));
        }
    }

    @Test
    void diversificationAgainstSharedVectors() throws Exception {
        JsonNode v = new ObjectMapper().readTree(VectorReplayTest.vectorDir().resolve("load-ecash.json").toFile());
        byte[] serial = Hex.decode(v.path("card").path("serial").asText());
        Des3 des = new Des3();
        for (String name : new String[] {"load", "purchase", "tac", "admin"}) {
            byte[] mk = Hex.decode(v.path("master_keys").path(name).asText());
            String want = v.path("card").path("card_keys").path(name).asText();
            assertEquals(want, Hex.encode(HostCrypto.emva(mk, serial)), name);
            des.setKey(mk, (short) 0);
            byte[] out = new byte[16];
            des.diversify(serial, (short) 0, out, (short) 0);
            assertEquals(want, Hex.encode(out), name + " (card)");
            des.setKey(out, (short) 0);
            byte[] kcv = new byte[3];
            des.kcv(kcv, (short) 0);
            assertEquals(v.path("card").path("card_key_kcvs").path(name).asText(), Hex.encode(kcv), name + " KCV");
        }
        // the personalisation session keys the vector derived
        JsonNode perso = v.path("steps").get(2).path("derived");
        byte[] transport = Hex.decode(v.path("master_keys").path("transport").asText());
        byte[] rnd = Hex.decode(perso.path("challenge").asText());
        assertEquals(perso.path("session_key").asText(), Hex.encode(HostCrypto.sessionKey(transport, rnd, 0, 5, 0)));
        des.setKey(transport, (short) 0);
        byte[] sk = new byte[16];
        des.sessionKey(rnd, (short) 0, new byte[2], (short) 0, (byte) 6, (byte) 0, sk, (short) 0);
        assertEquals(perso.path("enc_session_key").asText(), Hex.encode(sk));
    }

    @Test
    void unpadMethod2() {
        assertEquals(3, Des3.unpadMethod2(Hex.decode("AABBCC8000000000"), (short) 0, (short) 8));
        assertEquals(8, Des3.unpadMethod2(Hex.decode("00112233445566778000000000000000"), (short) 0, (short) 16));
        assertEquals(7, Des3.unpadMethod2(Hex.decode("0011223344556680"), (short) 0, (short) 8));
        assertEquals(-1, Des3.unpadMethod2(Hex.decode("0011223344556600"), (short) 0, (short) 8));
        assertEquals(-1, Des3.unpadMethod2(Hex.decode("0011223344556601"), (short) 0, (short) 8));
        assertEquals(-1, Des3.unpadMethod2(Hex.decode("80000000000000000000000000000000"), (short) 0, (short) 16));
    }

    @Test
    void u32AgainstLongArithmetic() {
        Random r = new Random(3);
        byte[] out = new byte[4];
        for (int t = 0; t < 20_000; t++) {
            long a = t < 10 ? new long[] {0, 1, 0xFFFFFFFFL, 0x7FFFFFFFL, 0x80000000L, 99_999_999L, 100_000_000L,
                100_000_001L, 4_200_000_000L, 0xFF}[t] : r.nextLong() & 0xFFFFFFFFL;
            long b = r.nextInt(4) == 0 ? a + r.nextInt(3) - 1 & 0xFFFFFFFFL : r.nextLong() & 0xFFFFFFFFL;
            byte[] ab = Hex.u32(a);
            byte[] bb = Hex.u32(b);
            assertEquals(Long.compare(a, b), U32.compare(ab, (short) 0, bb, (short) 0));
            boolean carry = U32.add(ab, (short) 0, bb, (short) 0, out, (short) 0);
            assertEquals((a + b) & 0xFFFFFFFFL, Hex.u32(out, 0));
            assertEquals(a + b > 0xFFFFFFFFL, carry);
            boolean borrow = U32.sub(ab, (short) 0, bb, (short) 0, out, (short) 0);
            assertEquals((a - b) & 0xFFFFFFFFL, Hex.u32(out, 0));
            assertEquals(a < b, borrow);
            U32.mod100M(ab, (short) 0, out, (short) 0);
            assertEquals(a % 100_000_000L, Hex.u32(out, 0));
            assertEquals(a == 0, U32.isZero(ab, (short) 0));
            assertEquals(a <= 0x7FFFFFFFL, U32.isAtMost31Bits(ab, (short) 0));
        }
    }

    @Test
    void bcdDatesAgainstJavaTime() {
        Random r = new Random(4);
        for (int t = 0; t < 20_000; t++) {
            int y = r.nextInt(3) == 0 ? 1600 + r.nextInt(1000) : 2020 + r.nextInt(20);
            int m = r.nextInt(15);
            int d = r.nextInt(33);
            byte[] b = Hex.decode(String.format("%04d%02d%02d", y, m, d));
            boolean valid;
            try {
                LocalDate.of(y, m, d);
                valid = true;
            } catch (DateTimeException e) {
                valid = false;
            }
            assertEquals(valid, Bcd.isValidDate(b, (short) 0), () -> Hex.encode(b));
            byte[] dt = Hex.concat(b, Hex.decode(String.format("%02d%02d%02d", r.nextInt(26), r.nextInt(62), r.nextInt(62))));
            boolean dtValid = valid && Integer.parseInt(Hex.encode(dt, 4, 1)) < 24 && Integer.parseInt(Hex.encode(dt, 5, 1)) < 60
                    && Integer.parseInt(Hex.encode(dt, 6, 1)) < 60;
            assertEquals(dtValid, Bcd.isValidDateTime(dt, (short) 0), () -> Hex.encode(dt));
        }
        assertEquals(false, Bcd.isValidDate(Hex.decode("2026A101"), (short) 0));
        assertEquals(false, Bcd.isValidDate(Hex.decode("202601 0A".replace(" ", "")), (short) 0));
        assertEquals(false, Bcd.isDigits(Hex.decode("5A11"), (short) 0, (short) 2));
        assertEquals(true, Bcd.isDigits(Hex.decode("5411"), (short) 0, (short) 2));
        assertEquals(true, Bcd.isValidDate(Hex.decode("20000229"), (short) 0));
        assertEquals(false, Bcd.isValidDate(Hex.decode("21000229"), (short) 0));
    }
}
