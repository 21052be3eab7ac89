package epurse.vcard;

import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/** One line per event on stderr: {@code HH:mm:ss.SSS vcard: message}. */
final class Log {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private static volatile boolean trace;
    private static volatile boolean quiet;

    private Log() {}

    static void setTrace(boolean on) {
        trace = on;
    }

    /** Tests silence the log; the process never does. */
    static void setQuiet(boolean on) {
        quiet = on;
    }

    static boolean tracing() {
        return trace;
    }

    static void info(String message) {
        if (!quiet) {
            line(message);
        }
    }

    static void trace(String message) {
        if (trace && !quiet) {
            line(message);
        }
    }

    private static void line(String message) {
        String text = LocalTime.now().format(TIME) + " vcard: " + message;
        synchronized (System.err) {
            System.err.println(text);
            System.err.flush();
        }
    }
}
