package epurse.transfer;

import static epurse.testkit.Hex.concat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import epurse.testkit.Hex;
import epurse.testkit.HostCrypto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.smartcardio.CommandAPDU;
import org.junit.jupiter.api.Test;

/**
 * Replays the shared vector {@code apdu-spec/vectors/transfer.json} (made by the Python reference
 * model) byte for byte, and checks this side's host crypto against the values it derives.
 */
class TransferVectorTest {

    static Path vectorsDir() {
        String dir = System.getProperty("epurse.vectors");
        return dir != null ? Path.of(dir) : Path.of("..", "apdu-spec", "vectors");
    }

    static JsonNode load() throws IOException {
        return new ObjectMapper().readTree(Files.readString(vectorsDir().resolve("transfer.json")));
    }

    static byte[] hexOf(JsonNode node) {
        return Hex.decode(node.asText());
    }

    @Test
    void replaysTransferVector() throws IOException {
        JsonNode v = load();
        assertEquals("epurse-vectors/1", v.get("format").asText());
        JsonNode card = v.get("card");
        assertEquals("transfer", card.get("applet").asText());
        assertEquals(TransferCardSim.AID_HEX, card.get("aid").asText());

        TransferCardSim sim = new TransferCardSim(hexOf(card.get("install_transport_key")));
        for (JsonNode r : v.get("card_randoms")) {
            sim.applet.queue(hexOf(r));
        }
        List<String> mismatches = new ArrayList<>();
        int i = 0;
        for (JsonNode step : v.get("steps")) {
            String command = step.get("command").asText();
            String expected = step.get("response").asText();
            String actual = Hex.encode(sim.sim.transmitCommand(new CommandAPDU(Hex.decode(command))).getBytes());
            if (!expected.equals(actual)) {
                mismatches.add(String.format("step %d %s (%s)%n  command  %s%n  expected %s%n  actual   %s",
                        i, step.get("name").asText(), step.path("note").asText(), command, expected, actual));
            }
            i++;
        }
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        assertEquals(0, sim.applet.queuedCount(), "every card random was drawn");
    }

    /** The vector's keys, seal and acknowledgement MACs agree with {@link HostCrypto}. */
    @Test
    void hostCryptoAgreesWithVector() throws IOException {
        JsonNode v = load();
        byte[] xserial = hexOf(v.get("card").get("serial"));
        byte[] kXfer = HostCrypto.emva(hexOf(v.get("master_keys").get("transfer")), xserial);
        assertEquals(v.get("card").get("card_keys").get("transfer").asText(), Hex.encode(kXfer));
        assertEquals(v.get("card").get("card_key_kcvs").get("transfer").asText(), Hex.encode(HostCrypto.kcv(kXfer)));
        assertEquals(Hex.encode(TransferCardSim.kXfer(xserial)), Hex.encode(kXfer), "dev master key in the tests");

        byte[] samId = hexOf(v.get("sam").get("sam_id"));
        byte[] kSettle = HostCrypto.emva(hexOf(v.get("master_keys").get("settlement")), concat(samId, new byte[2]));
        assertEquals(v.get("sam").get("settlement_key").asText(), Hex.encode(kSettle));

        JsonNode b = v.get("batch");
        byte[] header = hexOf(b.get("header"));
        byte[] records = new byte[0];
        for (JsonNode r : b.get("records")) records = concat(records, hexOf(r));
        byte[] seal = HostCrypto.mac(kSettle, concat(Hex.decode("50"), header, records));
        assertEquals(b.get("seal").asText(), Hex.encode(seal));
        assertEquals(b.get("batch").asText(), Hex.encode(concat(header, records, seal)));
        byte[] ackData = hexOf(b.get("ack_data"));
        assertEquals(b.get("ack_sam").asText(), Hex.encode(HostCrypto.mac(kSettle, concat(Hex.decode("51"), ackData, seal))));
        assertEquals(b.get("ack_card").asText(), Hex.encode(BatchFixture.ackCard(xserial, ackData, seal)));

        // PERSONALIZE data as the host builds it from the first card random
        byte[] rnd = hexOf(v.get("card_randoms").get(0));
        byte[] perso = TransferCardSim.persoData(hexOf(v.get("card").get("install_transport_key")), rnd, xserial,
                v.get("card").get("key_version").asInt(), kXfer);
        String persoCommand = null;
        for (JsonNode step : v.get("steps")) {
            if (step.get("name").asText().equals("PERSONALIZE")) {
                persoCommand = step.get("command").asText();
                break;
            }
        }
        assertEquals(persoCommand, "8460000028" + Hex.encode(perso));
    }
}
