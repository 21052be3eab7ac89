package epurse.purse;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * Card-session state (SPEC 4.2) in one CLEAR_ON_DESELECT array with named offsets, so deselect,
 * reset and power-off all forget it. Also the applet's transient scratch.
 *
 * <p>The challenge, the load session and the purchase session each serve only the next command:
 * {@link #takeExpectation()} reads and clears {@link #EXPECT} at the start of every command,
 * whatever that command is and however it ends.
 */
final class PurseSession {

    // what the next command may continue
    static final byte EXPECT_NONE = 0;
    static final byte EXPECT_ISSUER = 1;          // GET CHALLENGE done: RND holds the challenge
    static final byte EXPECT_CREDIT_LOAD = 2;     // INITIALIZE LOAD done
    static final byte EXPECT_DEBIT_PURCHASE = 3;  // INITIALIZE PURCHASE done

    // offsets in data
    static final short EXPECT = 0;
    static final short PIN_VERIFIED = 1;  // 1 after a right VERIFY / CHANGE PIN
    static final short PURSE = 2;
    static final short AMOUNT = 3;        // 4
    static final short TERMINAL = 7;      // 6: terminal id (load) or SAM id (purchase)
    static final short EXPIRY = 13;       // 4: load expiry
    static final short CTR = 17;          // 2: counter of the transaction in progress
    static final short RND = 19;          // 4: card random or challenge
    static final short SK = 23;           // 16: session key of the load / purchase
    static final short LEN = 39;

    // scratch layout
    static final short S_ENTRY = 0;       // 48: REC || TAC || MAC2 being built
    static final short S_KEY = 48;        // 16: derived keys
    static final short S_TMP = 64;        // 16: small values
    static final short S_PD = 80;         // 128: decrypted personalisation data
    static final short SCRATCH_LEN = 208;

    final byte[] data;
    final byte[] scratch;

    PurseSession() {
        data = JCSystem.makeTransientByteArray(LEN, JCSystem.CLEAR_ON_DESELECT);
        scratch = JCSystem.makeTransientByteArray(SCRATCH_LEN, JCSystem.CLEAR_ON_DESELECT);
    }

    /** What this command may continue; the expectation is gone afterwards. */
    byte takeExpectation() {
        byte e = data[EXPECT];
        data[EXPECT] = EXPECT_NONE;
        return e;
    }

    void expect(byte what) {
        data[EXPECT] = what;
    }

    boolean pinVerified() {
        return data[PIN_VERIFIED] != 0;
    }

    void setPinVerified(boolean verified) {
        data[PIN_VERIFIED] = (byte) (verified ? 1 : 0);
    }

    void clear() {
        Util.arrayFillNonAtomic(data, (short) 0, LEN, (byte) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LEN, (byte) 0);
    }
}
