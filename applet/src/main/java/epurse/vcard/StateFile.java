package epurse.vcard;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The wallet on disk: each card's kind, seed and journal, and which card sits in which slot.
 *
 * <pre>
 * epurse-vcard-state 1
 * kind purse epurse.purse.PurseApplet F045505552534501 404142434445464748494A4B4C4D4E4F EPURSE-P10
 * card purse1 purse 3F9A...(seed)
 * I 01                      install (01 applet installed, 00 class was missing)
 * R                         power-on / reset / insertion / removal
 * A 00A4040008F045505552534501 6F...9000     an APDU the card processed, and its answer
 * slot 0 purse1
 * end
 * </pre>
 *
 * Written to a temporary file, forced to disk and renamed, so a crash leaves the old file or
 * the new one. A file without its {@code end} line is refused as truncated.
 */
final class StateFile {
    static final String MAGIC = "epurse-vcard-state 1";

    private StateFile() {}

    /** A card as read from the file, not yet replayed. */
    static final class SavedCard {
        final String name;
        final CardKind kind;
        final byte[] seed;
        final List<VirtualCard.Op> ops = new ArrayList<>();

        SavedCard(String name, CardKind kind, byte[] seed) {
            this.name = name;
            this.kind = kind;
            this.seed = seed;
        }
    }

    static final class Contents {
        final Map<String, SavedCard> cards = new LinkedHashMap<>();
        final Map<Integer, String> slots = new TreeMap<>();

        int operations() {
            return cards.values().stream().mapToInt(c -> c.ops.size()).sum();
        }
    }

    /** Writes the cards (with their journals) and the slot assignment atomically; returns the operation count. */
    static int write(Path file, List<VirtualCard> cards, Map<Integer, String> slots) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        int ops = 0;
        try (Writer w = new BufferedWriter(Files.newBufferedWriter(tmp, StandardCharsets.US_ASCII), 1 << 16)) {
            w.write(MAGIC + "\n");
            Map<String, CardKind> kinds = new LinkedHashMap<>();
            for (VirtualCard card : cards) {
                kinds.putIfAbsent(card.kind.name, card.kind);
            }
            for (CardKind kind : kinds.values()) {
                w.write("kind " + kind.describe() + "\n");
            }
            for (VirtualCard card : cards) {
                w.write("card " + card.name + " " + card.kind.name + " " + Hex.encode(card.seed()) + "\n");
                for (VirtualCard.Op op : card.journal()) {
                    ops++;
                    switch (op.type) {
                        case VirtualCard.Op.INSTALL:
                            w.write("I " + Hex.encode(op.response) + "\n");
                            break;
                        case VirtualCard.Op.RESET:
                            w.write("R\n");
                            break;
                        default:
                            w.write("A " + Hex.encode(op.command) + " " + Hex.encode(op.response) + "\n");
                    }
                }
            }
            for (Map.Entry<Integer, String> slot : new TreeMap<>(slots).entrySet()) {
                w.write("slot " + slot.getKey() + " " + slot.getValue() + "\n");
            }
            w.write("end\n");
        }
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return ops;
    }

    static Contents read(Path file) throws IOException {
        Contents contents = new Contents();
        Map<String, CardKind> kinds = new LinkedHashMap<>();
        SavedCard current = null;
        boolean ended = false;
        int lineNo = 0;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII)) {
            String line = r.readLine();
            lineNo++;
            if (!MAGIC.equals(line)) {
                throw new IOException(file + " is not an epurse virtual card state file (first line must be '" + MAGIC + "')");
            }
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                if (ended) {
                    throw new IOException("data after 'end'");
                }
                String[] f = line.split(" ");
                try {
                    switch (f[0]) {
                        case "kind": {
                            need(f, 6);
                            CardKind kind = CardKind.fromDescription(f, 1);
                            kinds.put(kind.name, kind);
                            break;
                        }
                        case "card": {
                            need(f, 4);
                            CardKind kind = kinds.get(f[2]);
                            if (kind == null) {
                                throw new IllegalArgumentException("card of undeclared kind " + f[2]);
                            }
                            if (!VirtualCardProcess.isValidName(f[1]) || contents.cards.containsKey(f[1])) {
                                throw new IllegalArgumentException("bad or repeated card name " + f[1]);
                            }
                            current = new SavedCard(f[1], kind, Hex.decode(f[3]));
                            contents.cards.put(current.name, current);
                            break;
                        }
                        case "I":
                            need(f, 2);
                            inCard(current).ops.add(new VirtualCard.Op(VirtualCard.Op.INSTALL, new byte[0], Hex.decode(f[1])));
                            break;
                        case "R":
                            need(f, 1);
                            inCard(current).ops.add(new VirtualCard.Op(VirtualCard.Op.RESET, new byte[0], new byte[0]));
                            break;
                        case "A":
                            need(f, 3);
                            inCard(current).ops.add(new VirtualCard.Op(VirtualCard.Op.APDU, Hex.decode(f[1]), Hex.decode(f[2])));
                            break;
                        case "slot": {
                            need(f, 3);
                            int slot = Integer.parseInt(f[1]);
                            if (!contents.cards.containsKey(f[2]) || contents.slots.containsValue(f[2]) || contents.slots.containsKey(slot)) {
                                throw new IllegalArgumentException("bad slot assignment");
                            }
                            contents.slots.put(slot, f[2]);
                            current = null;
                            break;
                        }
                        case "end":
                            need(f, 1);
                            ended = true;
                            break;
                        default:
                            throw new IllegalArgumentException("unknown record '" + f[0] + "'");
                    }
                } catch (IllegalArgumentException e) {
                    throw new IOException(file + " line " + lineNo + ": " + e.getMessage());
                }
            }
        }
        if (!ended) {
            throw new IOException(file + " is truncated (no 'end' line)");
        }
        return contents;
    }

    private static void need(String[] f, int n) {
        if (f.length != n) {
            throw new IllegalArgumentException("'" + f[0] + "' takes " + (n - 1) + " fields, found " + (f.length - 1));
        }
    }

    private static SavedCard inCard(SavedCard card) {
        if (card == null) {
            throw new IllegalArgumentException("journal entry outside a card");
        }
        return card;
    }
}
