package epurse.purse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * The Java Card classic subset on the card code (epurse.purse, epurse.common), checked on the
 * compiled classes: no int/long/float/double/char/String in any field or method signature, no
 * constant outside the short range, and no class outside javacard.*, javacardx.* and the card packages except the few
 * java.lang classes Java Card has. (javac emits int arithmetic for short expressions whatever
 * the source says; the converter checks those casts, this test checks what a reader can break.)
 * Also: the card sources compile as Java 7, the language level of the Java Card 3.0.x converter.
 */
class AppletSubsetTest {

    static final List<String> CARD_PACKAGES = List.of("epurse/purse", "epurse/transfer", "epurse/common");
    static final List<String> ALLOWED_CLASSES = List.of("java/lang/Object", "java/lang/Exception",
            "java/lang/RuntimeException", "java/lang/Throwable", "java/lang/ArrayIndexOutOfBoundsException",
            "java/lang/NullPointerException");

    static List<Path> cardClasses() throws IOException {
        Path root = Path.of("target/classes");
        List<Path> out = new ArrayList<>();
        for (String p : CARD_PACKAGES) {
            try (Stream<Path> s = Files.list(root.resolve(p))) {
                s.filter(f -> f.toString().endsWith(".class")).sorted().forEach(out::add);
            }
        }
        return out;
    }

    @Test
    void compiledCardCodeUsesTheJavaCardSubset() throws IOException {
        List<String> problems = new ArrayList<>();
        List<Path> classes = cardClasses();
        assertTrue(classes.size() >= 9, "card classes found: " + classes);
        for (Path c : classes) {
            try (InputStream in = Files.newInputStream(c)) {
                check(c.getFileName().toString(), new DataInputStream(in), problems);
            }
        }
        assertEquals(List.of(), problems);
    }

    private static void check(String name, DataInputStream in, List<String> problems) throws IOException {
        in.readInt();
        in.readUnsignedShort();
        in.readUnsignedShort();
        int n = in.readUnsignedShort();
        String[] utf = new String[n];
        int[] classNameIdx = new int[n];
        List<Integer> descriptorIdx = new ArrayList<>();
        for (int i = 1; i < n; i++) {
            int tag = in.readUnsignedByte();
            switch (tag) {
                case 1 -> utf[i] = in.readUTF();
                case 3 -> {
                    // byte/short constants (ConstantValue of static finals) are Integer entries too
                    int v = in.readInt();
                    if (v < Short.MIN_VALUE || v > Short.MAX_VALUE) {
                        problems.add(name + ": int constant " + v);
                    }
                }
                case 4 -> problems.add(name + ": float constant " + in.readFloat());
                case 5 -> {
                    problems.add(name + ": long constant " + in.readLong());
                    i++;
                }
                case 6 -> {
                    problems.add(name + ": double constant " + in.readDouble());
                    i++;
                }
                case 7 -> classNameIdx[i] = in.readUnsignedShort();
                case 8 -> {
                    in.readUnsignedShort();
                    problems.add(name + ": String constant");
                }
                case 9, 10, 11 -> in.readInt();
                case 12 -> {
                    in.readUnsignedShort();
                    descriptorIdx.add(in.readUnsignedShort());
                }
                case 15 -> {
                    in.readUnsignedByte();
                    in.readUnsignedShort();
                }
                case 16, 19, 20 -> in.readUnsignedShort();
                case 17, 18 -> {
                    in.readInt();
                    problems.add(name + ": invokedynamic / dynamic constant (lambda or string concatenation)");
                }
                default -> throw new IOException(name + ": constant tag " + tag);
            }
        }
        in.readUnsignedShort();
        in.readUnsignedShort();
        in.readUnsignedShort();
        int interfaces = in.readUnsignedShort();
        for (int i = 0; i < interfaces; i++) {
            in.readUnsignedShort();
        }
        for (int table = 0; table < 2; table++) {   // fields, then methods
            int count = in.readUnsignedShort();
            for (int i = 0; i < count; i++) {
                in.readUnsignedShort();
                in.readUnsignedShort();
                int desc = in.readUnsignedShort();
                descriptorIdx.add(desc);
                int attrs = in.readUnsignedShort();
                for (int a = 0; a < attrs; a++) {
                    in.readUnsignedShort();
                    in.skipNBytes(in.readInt());
                }
            }
        }
        for (int i = 1; i < n; i++) {
            if (classNameIdx[i] != 0) {
                String cls = utf[classNameIdx[i]].replaceAll("^\\[+L?|;$", "");
                if (cls.length() > 1 && !allowedClass(cls)) {
                    problems.add(name + ": uses " + cls);
                }
            }
        }
        for (int d : descriptorIdx) {
            String desc = utf[d];
            String stripped = desc.replaceAll("L[^;]*;", "L");
            for (char ch : stripped.toCharArray()) {
                if ("IJFDC".indexOf(ch) >= 0) {
                    problems.add(name + ": descriptor " + desc);
                    break;
                }
            }
            for (String ref : desc.split(";")) {
                int l = ref.indexOf('L');
                if (l >= 0 && !allowedClass(ref.substring(l + 1))) {
                    problems.add(name + ": descriptor " + desc);
                }
            }
        }
    }

    private static boolean allowedClass(String cls) {
        return cls.startsWith("javacard/") || cls.startsWith("javacardx/") || ALLOWED_CLASSES.contains(cls)
                || CARD_PACKAGES.stream().anyMatch(p -> cls.startsWith(p + "/"));
    }

    @Test
    void cardSourcesCompileAsJava7() throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<String> args = new ArrayList<>(List.of("-source", "7", "-target", "7", "-Xlint:-options", "-nowarn",
                "-proc:none", "-d", Files.createTempDirectory("jc7").toString(), "-cp",
                System.getProperty("java.class.path")));
        for (String p : CARD_PACKAGES) {
            try (Stream<Path> s = Files.list(Path.of("src/main/java").resolve(p))) {
                s.filter(f -> f.toString().endsWith(".java")).forEach(f -> args.add(f.toString()));
            }
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = javac.run(null, null, err, args.toArray(new String[0]));
        assertEquals(0, rc, err.toString());
    }
}
