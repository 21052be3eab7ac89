package epurse.purse;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import epurse.testkit.Hex;
import epurse.testkit.SimCard;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Replays every shared vector of {@code apdu-spec/vectors} whose card is the purse, byte for
 * byte, on a fresh card that draws the vector's {@code card_randoms} in order.
 */
class VectorReplayTest {

    static Path vectorDir() {
        String p = System.getProperty("epurse.vectors");
        return p != null ? Path.of(p) : Path.of("../apdu-spec/vectors");
    }

    static List<Path> purseVectors() throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(vectorDir())) {
            for (Path f : files.filter(x -> x.toString().endsWith(".json")).sorted().toList()) {
                JsonNode v = new ObjectMapper().readTree(f.toFile());
                if ("purse".equals(v.path("card").path("applet").asText())) {
                    out.add(f);
                }
            }
        }
        return out;
    }

    @TestFactory
    Stream<DynamicTest> replayEveryPurseVector() throws IOException {
        List<Path> files = purseVectors();
        assertFalse(files.isEmpty(), "no purse vectors in " + vectorDir().toAbsolutePath());
        return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> replay(f)));
    }

    static void replay(Path file) throws IOException {
        JsonNode v = new ObjectMapper().readTree(file.toFile());
        JsonNode card = v.path("card");
        byte[] aid = Hex.decode(card.path("aid").asText("F045505552534501"));
        String tk = card.path("install_transport_key").asText("");
        SimCard sim = new SimCard(aid, TestPurseApplet.class, tk.isEmpty() ? null : Hex.decode(tk));
        TestPurseApplet applet = TestPurseApplet.last;
        for (JsonNode r : v.path("card_randoms")) {
            applet.randoms.add(Hex.decode(r.asText()));
        }
        List<String> problems = new ArrayList<>();
        int i = 0;
        for (JsonNode step : v.path("steps")) {
            String cmd = step.path("command").asText();
            String want = step.path("response").asText().toUpperCase();
            String got = sim.send(cmd).hex();
            if (!got.equals(want)) {
                problems.add(String.format("step %d %s%n    command  %s%n    expected %s%n    got      %s%n    note     %s",
                        i, step.path("name").asText(), cmd, want, got, step.path("note").asText()));
            }
            i++;
        }
        if (!applet.randoms.isEmpty()) {
            problems.add(applet.randoms.size() + " card randoms left unused");
        }
        if (!problems.isEmpty()) {
            fail(file.getFileName() + ": " + problems.size() + " mismatches\n" + String.join("\n", problems));
        }
    }
}
