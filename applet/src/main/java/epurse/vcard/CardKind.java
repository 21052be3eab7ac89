package epurse.vcard;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a virtual card carries: one applet (loaded by class name, so this package compiles
 * before the applets exist), its AID, the install parameter and the ATR's historical bytes.
 *
 * <p>The install array given to the applet's {@code install(bArray, bOffset, bLength)} has the
 * Java Card / GlobalPlatform layout a real card gives it: {@code Li AID || Lc control info ||
 * La applet data}; the applet data is the install parameter (the purse's transport key).
 */
final class CardKind {
    static final byte[] PURSE_AID = Hex.decode("F045505552534501");
    static final byte[] TRANSFER_AID = Hex.decode("F045505552534502");
    /** Development transport key, the spec's default (SPEC 1.10). */
    static final byte[] DEFAULT_TRANSPORT_KEY = Hex.decode("404142434445464748494A4B4C4D4E4F");

    private static final Map<String, CardKind> KINDS = new ConcurrentHashMap<>();

    static {
        register(new CardKind("purse", "epurse.purse.PurseApplet", PURSE_AID, DEFAULT_TRANSPORT_KEY, "EPURSE-P10"));
        register(new CardKind("transfer", "epurse.transfer.TransferApplet", TRANSFER_AID, new byte[0], "EPURSE-T10"));
    }

    final String name;
    final String appletClass;
    final String atrHistorical;
    private final byte[] aid;
    private final byte[] installParameter;
    private final byte[] atr;

    CardKind(String name, String appletClass, byte[] aid, byte[] installParameter, String atrHistorical) {
        if (!VirtualCardProcess.isValidName(name)) {
            throw new IllegalArgumentException("bad kind name: " + name);
        }
        if (aid.length < 5 || aid.length > 16) {
            throw new IllegalArgumentException("an AID has 5 to 16 bytes");
        }
        if (!atrHistorical.matches("[\\x21-\\x7E]{1,15}")) {
            throw new IllegalArgumentException("ATR historical bytes: 1 to 15 printable ASCII characters without spaces");
        }
        if (installParameter.length > 127) {
            throw new IllegalArgumentException("install parameter longer than 127 bytes");
        }
        this.name = name;
        this.appletClass = appletClass;
        this.atrHistorical = atrHistorical;
        this.aid = aid.clone();
        this.installParameter = installParameter.clone();
        this.atr = Atr.build(atrHistorical);
    }

    /** Parses {@code NAME=CLASS:AIDHEX[:INSTALLHEX]} (the --kind option). */
    static CardKind parse(String spec) {
        int eq = spec.indexOf('=');
        if (eq <= 0) {
            throw new IllegalArgumentException("kind spec is NAME=CLASS:AIDHEX[:INSTALLHEX], got " + spec);
        }
        String[] parts = spec.substring(eq + 1).split(":", -1);
        if (parts.length < 2 || parts.length > 3) {
            throw new IllegalArgumentException("kind spec is NAME=CLASS:AIDHEX[:INSTALLHEX], got " + spec);
        }
        String name = spec.substring(0, eq);
        byte[] install = parts.length == 3 ? Hex.decode(parts[2]) : new byte[0];
        String hist = "EPURSE-" + name.toUpperCase(Locale.ROOT);
        return new CardKind(name, parts[0], Hex.decode(parts[1]), install, hist.length() > 15 ? hist.substring(0, 15) : hist);
    }

    static void register(CardKind kind) {
        KINDS.put(kind.name, kind);
    }

    static CardKind lookup(String name) {
        return KINDS.get(name);
    }

    static String known() {
        return String.join("|", new java.util.TreeSet<>(KINDS.keySet()));
    }

    /** Whether the applet class can be found now (without initialising it). */
    boolean appletClassPresent() {
        try {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            Class.forName(appletClass, false, loader != null ? loader : CardKind.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    byte[] aid() {
        return aid.clone();
    }

    byte[] installParameter() {
        return installParameter.clone();
    }

    byte[] atr() {
        return atr.clone();
    }

    /** {@code Li AID || Lc=0 || La applet data}, as the card's installer passes it. */
    byte[] installArray() {
        byte[] out = new byte[1 + aid.length + 1 + 1 + installParameter.length];
        int o = 0;
        out[o++] = (byte) aid.length;
        System.arraycopy(aid, 0, out, o, aid.length);
        o += aid.length;
        out[o++] = 0;
        out[o++] = (byte) installParameter.length;
        System.arraycopy(installParameter, 0, out, o, installParameter.length);
        return out;
    }

    /** The same kind with the same applet, AID and parameter (state files carry their kinds). */
    boolean sameAs(CardKind other) {
        return name.equals(other.name) && appletClass.equals(other.appletClass)
                && Arrays.equals(aid, other.aid) && Arrays.equals(installParameter, other.installParameter)
                && atrHistorical.equals(other.atrHistorical);
    }

    /** The state-file form: NAME CLASS AIDHEX INSTALLHEX ATR-HISTORICAL. */
    String describe() {
        return name + " " + appletClass + " " + Hex.encode(aid) + " " + Hex.encodeOrDash(installParameter) + " " + atrHistorical;
    }

    /** Inverse of {@link #describe()}. */
    static CardKind fromDescription(String[] f, int from) {
        return new CardKind(f[from], f[from + 1], Hex.decode(f[from + 2]), Hex.decode(f[from + 3]), f[from + 4]);
    }
}
