package epurse.vcard;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.RandomData;

/**
 * A throwaway applet for the virtual card tests (the real applets live elsewhere): a persistent
 * counter, card randoms, the install parameter echoed back, and a CLEAR_ON_RESET counter.
 */
public class TestApplet extends Applet {
    static final byte INS_COUNT = 0x10;
    static final byte INS_RANDOM = 0x12;
    static final byte INS_INSTALL_PARAM = 0x14;
    static final byte INS_SESSION = 0x16;

    private final byte[] installParam;
    private final byte[] counter = new byte[2];
    private final byte[] session;
    private final RandomData random;

    TestApplet(byte[] bArray, short bOffset, byte bLength) {
        // Li AID || Lc control || La applet data
        short o = bOffset;
        o += (short) (bArray[o] + 1);
        o += (short) (bArray[o] + 1);
        installParam = new byte[bArray[o]];
        Util.arrayCopyNonAtomic(bArray, (short) (o + 1), installParam, (short) 0, (short) installParam.length);
        session = JCSystem.makeTransientByteArray((short) 1, JCSystem.CLEAR_ON_RESET);
        random = RandomData.getInstance(RandomData.ALG_KEYGENERATION);
        register(bArray, (short) (bOffset + 1), bArray[bOffset]);
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new TestApplet(bArray, bOffset, bLength);
    }

    @Override
    public void process(APDU apdu) {
        if (selectingApplet()) {
            return;
        }
        byte[] buf = apdu.getBuffer();
        switch (buf[ISO7816.OFFSET_INS]) {
            case INS_COUNT:
                JCSystem.beginTransaction();
                Util.setShort(counter, (short) 0, (short) (Util.getShort(counter, (short) 0) + 1));
                JCSystem.commitTransaction();
                Util.arrayCopyNonAtomic(counter, (short) 0, buf, (short) 0, (short) 2);
                apdu.setOutgoingAndSend((short) 0, (short) 2);
                return;
            case INS_RANDOM:
                random.nextBytes(buf, (short) 0, (short) 8);
                apdu.setOutgoingAndSend((short) 0, (short) 8);
                return;
            case INS_INSTALL_PARAM:
                Util.arrayCopyNonAtomic(installParam, (short) 0, buf, (short) 0, (short) installParam.length);
                apdu.setOutgoingAndSend((short) 0, (short) installParam.length);
                return;
            case INS_SESSION:
                session[0]++;
                buf[0] = session[0];
                apdu.setOutgoingAndSend((short) 0, (short) 1);
                return;
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
    }
}
