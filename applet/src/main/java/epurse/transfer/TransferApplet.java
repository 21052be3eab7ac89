package epurse.transfer;

import epurse.common.Bcd;
import epurse.common.Des3;
import epurse.common.Perso;
import epurse.common.StatusWords;
import javacard.framework.AID;
import javacard.framework.APDU;
import javacard.framework.APDUException;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.DESKey;
import javacard.security.KeyBuilder;
import javacard.security.RandomData;

/**
 * The transfer card (SPEC section 3): carries one sealed settlement batch from a SAM-equipped POS
 * to the back office, and the back office's acknowledgement back to the POS.
 *
 * Lifecycle BLANK -> ACTIVE by GET CHALLENGE + PERSONALIZE under the transport key. Batch states
 * EMPTY -> WRITING (WRITE BATCH chunks) -> SEALED (FINISH BATCH) -> ACKED (CLEAR BATCH with the
 * back office's acknowledgement) -> WRITING (the next batch).
 *
 * The 3DES work (retail MAC, EMVA session keys, personalisation) and the status words are
 * those of {@code epurse.common}, shared with the purse applet.
 *
 * Java Card classic subset only; every allocation happens in the constructor.
 */
public class TransferApplet extends Applet {

    // ---- Command set (SPEC 3.2) ----
    static final byte CLA_ISO = (byte) 0x00;
    static final byte CLA_PROPRIETARY = (byte) 0x80;
    static final byte CLA_SECURED = (byte) 0x84;

    static final byte INS_SELECT = (byte) 0xA4;
    static final byte INS_GET_CHALLENGE = (byte) 0x84; // with CLA 00
    static final byte INS_GET_STATUS = (byte) 0x5E;
    static final byte INS_PERSONALIZE = (byte) 0x60;
    static final byte INS_WRITE_BATCH = (byte) 0x82;
    static final byte INS_FINISH_BATCH = (byte) 0x84; // with CLA 80
    static final byte INS_READ_BATCH = (byte) 0x86;
    static final byte INS_CLEAR_BATCH = (byte) 0x88;
    static final byte INS_READ_ACK = (byte) 0x8A;

    // ---- Lifecycle and batch states ----
    static final byte LIFECYCLE_BLANK = (byte) 0x01;
    static final byte LIFECYCLE_ACTIVE = (byte) 0x02;

    static final byte BATCH_EMPTY = (byte) 0x00;
    static final byte BATCH_WRITING = (byte) 0x01;
    static final byte BATCH_SEALED = (byte) 0x02;
    static final byte BATCH_ACKED = (byte) 0x03;

    // ---- Sizes ----
    /**
     * Largest batch the card holds: the SPEC minimum, 169 records (a longer batch is split by the
     * POS, 6A84). The shared vectors pin this value (FCI, GET STATUS).
     */
    static final short CAPACITY = (short) 8192;
    static final short MAX_CHUNK = (short) 240;
    static final short SERIAL_LENGTH = (short) 8;
    static final short KEY_LENGTH = (short) 16;
    static final short RND_LENGTH = (short) 4;
    static final short MAC_LENGTH = (short) 8;
    static final byte[] VERSION = {(byte) 0x01, (byte) 0x00};

    // Batch layout (SPEC 3.1).
    static final short HEADER_LENGTH = (short) 50;
    static final short SEAL_LENGTH = (short) 8;
    static final short RECORD_LENGTH = (short) 48;
    static final byte BATCH_FORMAT = (byte) 0x01;
    static final short HDR_FORMAT = (short) 0;
    static final short HDR_SAM_ID = (short) 1;
    static final short HDR_ECASH_COUNT = (short) 18;
    static final short HDR_FOOD_COUNT = (short) 30;
    /** SAM_ID(6) || BATCH_NO(4): the prefix of HEADER after FORMAT, and of ACKDATA. */
    static final short BATCH_ID_LENGTH = (short) 10;

    // Acknowledgement (SPEC 3.2).
    static final short ACKDATA_LENGTH = (short) 34;
    static final short ACK_LENGTH = (short) (ACKDATA_LENGTH + MAC_LENGTH);         // ACKDATA || ACK_SAM
    static final short CLEAR_DATA_LENGTH = (short) (ACK_LENGTH + MAC_LENGTH);      // ... || ACK_CARD
    static final byte ACK_CARD_TAG = (byte) 0x52;

    // Personalisation (SPEC 1.10, 3.2): PD = XSERIAL(8) KV(1) K_XFER(16), 32 bytes once padded.
    static final short PD_LENGTH = (short) 25;
    static final short PD_PADDED = (short) 32;
    static final short PERSO_DATA_LENGTH = (short) (PD_PADDED + MAC_LENGTH);
    static final short PD_XSERIAL = (short) 0;
    static final short PD_KV = (short) 8;
    static final short PD_KXFER = (short) 9;

    static final short STATUS_LENGTH = (short) 14;

    static final byte[] DEFAULT_TRANSPORT_KEY = {
        (byte) 0x40, (byte) 0x41, (byte) 0x42, (byte) 0x43, (byte) 0x44, (byte) 0x45, (byte) 0x46, (byte) 0x47,
        (byte) 0x48, (byte) 0x49, (byte) 0x4A, (byte) 0x4B, (byte) 0x4C, (byte) 0x4D, (byte) 0x4E, (byte) 0x4F,
    };

    // ---- Transient session state (cleared on deselect and reset) ----
    private static final short SESSION_RND = (short) 0;
    private static final short SESSION_CHALLENGE_SET = (short) 4;
    private static final short SESSION_LENGTH = (short) 5;
    private final byte[] session;

    // Scratch for PERSONALIZE: the decrypted PD and a session key (MACs are streamed, not copied).
    private static final short SCRATCH_PD = (short) 0;      // 32
    private static final short SCRATCH_KEY = (short) 32;    // 16
    private static final short SCRATCH_LENGTH = (short) 48;
    private final byte[] scratch;

    // ---- Persistent state ----
    private byte lifecycle;
    private byte keyVersion;
    private final byte[] xserial;
    private final DESKey transportKey;
    /** K_XFER: the key of ACK_CARD. */
    private final DESKey kXfer;

    private byte batchState;
    /** Bytes committed in the batch buffer: written so far (WRITING) or the whole batch (SEALED). */
    private short batchLength;
    private final byte[] batch;
    /** ACKDATA || ACK_SAM of the last cleared batch (valid in ACKED). */
    private final byte[] ack;

    private final Des3 des;
    private final RandomData random;

    /**
     * @param bArray install parameters: the 16-byte transport key, either raw (jCardSim) or as
     *               the application data of GlobalPlatform install parameters; none = default key
     */
    protected TransferApplet(byte[] bArray, short bOffset, byte bLength) {
        session = JCSystem.makeTransientByteArray(SESSION_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        scratch = JCSystem.makeTransientByteArray(SCRATCH_LENGTH, JCSystem.CLEAR_ON_DESELECT);
        xserial = new byte[SERIAL_LENGTH];
        batch = new byte[CAPACITY];
        ack = new byte[ACK_LENGTH];
        transportKey = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES, KeyBuilder.LENGTH_DES3_2KEY, false);
        kXfer = (DESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_DES, KeyBuilder.LENGTH_DES3_2KEY, false);
        des = new Des3();
        random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);

        short keyOffset = transportKeyOffset(bArray, bOffset, bLength);
        if (keyOffset < 0) {
            transportKey.setKey(DEFAULT_TRANSPORT_KEY, (short) 0);
        } else {
            transportKey.setKey(bArray, keyOffset);
        }
        lifecycle = LIFECYCLE_BLANK;
        batchState = BATCH_EMPTY;
        batchLength = 0;
    }

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new TransferApplet(bArray, bOffset, bLength).register();
    }

    /**
     * Where the transport key starts in the install parameters, or -1 for the default key.
     * GlobalPlatform cards pass {@code Li AID Lc CONTROL La DATA}; jCardSim passes the bytes given
     * to installApplet as they are. A well-formed GlobalPlatform layout wins; otherwise exactly
     * 16 bytes are the key itself.
     */
    private static short transportKeyOffset(byte[] bArray, short bOffset, byte bLength) {
        if (bLength == 0) {
            return -1;
        }
        short end = (short) (bOffset + bLength);
        short p = bOffset;
        short li = (short) (bArray[p] & 0xFF);
        if (li >= 5 && li <= 16) {
            p = (short) (p + 1 + li);
            if (p < end) {
                p = (short) (p + 1 + (short) (bArray[p] & 0xFF));
                if (p < end) {
                    short la = (short) (bArray[p] & 0xFF);
                    if ((short) (p + 1 + la) == end) {
                        if (la == 0) {
                            return -1;
                        }
                        if (la == KEY_LENGTH) {
                            return (short) (p + 1);
                        }
                        ISOException.throwIt(StatusWords.BAD_DATA);
                    }
                }
            }
        }
        if (bLength == KEY_LENGTH) {
            return bOffset;
        }
        ISOException.throwIt(StatusWords.BAD_DATA);
        return -1;
    }

    /** Draws the card's random numbers; tests override it to replay fixed values. */
    protected void drawRandom(byte[] buf, short off, short len) {
        random.generateData(buf, off, len);
    }

    public boolean select() {
        Util.arrayFillNonAtomic(session, (short) 0, SESSION_LENGTH, (byte) 0);
        return true;
    }

    public void process(APDU apdu) {
        if (selectingApplet()) {
            sendFci(apdu);
            return;
        }
        // The challenge is consumed by the next command, whatever it is (SPEC 4.2).
        boolean challengeSet = session[SESSION_CHALLENGE_SET] != 0;
        session[SESSION_CHALLENGE_SET] = 0;
        short sw = 0;
        try {
            dispatch(apdu, challengeSet);
        } catch (ISOException e) {
            sw = e.getReason();
        } catch (APDUException e) {
            // Only length problems reach the APDU layer (Le shorter than the response etc.).
            sw = StatusWords.WRONG_LENGTH;
        } catch (Exception e) {
            sw = StatusWords.INTERNAL;
        }
        if (sw != 0) {
            if (JCSystem.getTransactionDepth() != 0) {
                JCSystem.abortTransaction();
            }
            Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LENGTH, (byte) 0);
            des.clear();
            ISOException.throwIt(sw);
        }
    }

    /**
     * An INS the applet does not have at all is 6D00; a known INS under a class it does not have
     * there is 6E00 (INS 84 is GET CHALLENGE with CLA 00 and FINISH BATCH with CLA 80).
     */
    private void dispatch(APDU apdu, boolean challengeSet) {
        byte[] buf = apdu.getBuffer();
        byte cla = buf[ISO7816.OFFSET_CLA];
        byte ins = buf[ISO7816.OFFSET_INS];
        switch (ins) {
            case INS_SELECT:
                requireClass(cla, CLA_ISO);
                // A SELECT the runtime did not resolve to this applet: nothing to select here.
                ISOException.throwIt(StatusWords.FILE_NOT_FOUND);
                break;
            case INS_GET_CHALLENGE: // == INS_FINISH_BATCH
                if (cla == CLA_ISO) {
                    getChallenge(apdu);
                } else {
                    requireClass(cla, CLA_PROPRIETARY);
                    finishBatch(apdu);
                }
                break;
            case INS_PERSONALIZE:
                requireClass(cla, CLA_SECURED);
                personalize(apdu, challengeSet);
                break;
            case INS_GET_STATUS:
                requireClass(cla, CLA_PROPRIETARY);
                getStatus(apdu);
                break;
            case INS_WRITE_BATCH:
                requireClass(cla, CLA_PROPRIETARY);
                writeBatch(apdu);
                break;
            case INS_READ_BATCH:
                requireClass(cla, CLA_PROPRIETARY);
                readBatch(apdu);
                break;
            case INS_CLEAR_BATCH:
                requireClass(cla, CLA_PROPRIETARY);
                clearBatch(apdu);
                break;
            case INS_READ_ACK:
                requireClass(cla, CLA_PROPRIETARY);
                readAck(apdu);
                break;
            default:
                ISOException.throwIt(StatusWords.BAD_INS);
        }
    }

    private static void requireClass(byte cla, byte expected) {
        if (cla != expected) {
            ISOException.throwIt(StatusWords.BAD_CLA);
        }
    }

    // ---- Length helpers ----

    /** Receives the command data and returns Lc (0 when there is none). */
    private static short receive(APDU apdu) {
        short received = apdu.setIncomingAndReceive();
        short lc = apdu.getIncomingLength();
        if (received != lc) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        return lc;
    }

    private static void requireP1P2Zero(byte[] buf) {
        if (buf[ISO7816.OFFSET_P1] != 0 || buf[ISO7816.OFFSET_P2] != 0) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
    }

    /**
     * Starts a response of exactly {@code length} bytes. Le must be 00 (or absent) or that length.
     */
    private static void sendFixed(APDU apdu, short length) {
        short le = apdu.setOutgoing();
        if (le != 0 && le != 256 && le != length) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        apdu.setOutgoingLength(length);
        apdu.sendBytes((short) 0, length);
    }

    private void requireActive() {
        if (lifecycle != LIFECYCLE_ACTIVE) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
    }

    // ---- SELECT ----

    private void sendFci(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        AID aid = JCSystem.getAID();
        short p = 0;
        buf[p++] = (byte) 0x6F;
        short fciLengthAt = p++;
        buf[p++] = (byte) 0x84;
        short aidLengthAt = p++;
        byte aidLength = aid.getBytes(buf, p);
        buf[aidLengthAt] = aidLength;
        p = (short) (p + aidLength);
        buf[p++] = (byte) 0xA5;
        short a5LengthAt = p++;
        short a5Start = p;
        buf[p++] = (byte) 0xC1;
        buf[p++] = (byte) SERIAL_LENGTH;
        p = Util.arrayCopyNonAtomic(xserial, (short) 0, buf, p, SERIAL_LENGTH);
        buf[p++] = (byte) 0xC2;
        buf[p++] = (byte) 2;
        p = Util.arrayCopyNonAtomic(VERSION, (short) 0, buf, p, (short) 2);
        buf[p++] = (byte) 0xC3;
        buf[p++] = (byte) 1;
        buf[p++] = lifecycle;
        buf[p++] = (byte) 0xC6;
        buf[p++] = (byte) 1;
        buf[p++] = batchState;
        buf[p++] = (byte) 0xC7;
        buf[p++] = (byte) 2;
        p = Util.setShort(buf, p, CAPACITY);
        buf[a5LengthAt] = (byte) (p - a5Start);
        buf[fciLengthAt] = (byte) (p - 2);
        apdu.setOutgoingAndSend((short) 0, p);
    }

    // ---- GET STATUS ----

    private void getStatus(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireP1P2Zero(buf);
        if (receive(apdu) != 0) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        buf[0] = lifecycle;
        buf[1] = batchState;
        Util.setShort(buf, (short) 2, CAPACITY);
        Util.setShort(buf, (short) 4, batchLength);
        Util.arrayCopyNonAtomic(xserial, (short) 0, buf, (short) 6, SERIAL_LENGTH);
        sendFixed(apdu, STATUS_LENGTH);
    }

    // ---- GET CHALLENGE / PERSONALIZE ----

    private void getChallenge(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireP1P2Zero(buf);
        if (receive(apdu) != 0) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        // Le 04 or 00 (jCardSim reports 00 as 256 and an absent Le as 0).
        short le = apdu.setOutgoing();
        if (le != 256 && le != RND_LENGTH) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        drawRandom(session, SESSION_RND, RND_LENGTH);
        session[SESSION_CHALLENGE_SET] = 1;
        Util.arrayCopyNonAtomic(session, SESSION_RND, buf, (short) 0, RND_LENGTH);
        apdu.setOutgoingLength(RND_LENGTH);
        apdu.sendBytes((short) 0, RND_LENGTH);
    }

    /**
     * PERSONALIZE {@code 84 60 00 00 28 C(32) MAC_P(8)}: only in BLANK, only right after GET
     * CHALLENGE. {@code MAC_P = MAC(SK_PERSO_MAC, 84 60 00 00 || C)},
     * {@code PD = CBC_DEC(SK_PERSO_ENC, C)} = XSERIAL(8) KV(1) K_XFER(16) 80 00..00, unwrapped by
     * {@link Perso#unwrap} as on the purse card.
     */
    private void personalize(APDU apdu, boolean challengeSet) {
        byte[] buf = apdu.getBuffer();
        if (lifecycle != LIFECYCLE_BLANK || !challengeSet) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        requireP1P2Zero(buf);
        if (receive(apdu) != PERSO_DATA_LENGTH) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short c = ISO7816.OFFSET_CDATA;
        short pdLength = Perso.unwrap(des, transportKey, session, SESSION_RND, buf, c, PD_PADDED,
                buf, (short) (c + PD_PADDED), scratch, SCRATCH_PD, scratch, SCRATCH_KEY);
        if (pdLength == Perso.BAD_MAC) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        if (pdLength != PD_LENGTH || !isValidPersoData(scratch, SCRATCH_PD)) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }

        // The key objects are written first: until the transaction below commits the card is
        // still BLANK, K_XFER is unused, and a new personalisation overwrites it.
        kXfer.setKey(scratch, (short) (SCRATCH_PD + PD_KXFER));
        JCSystem.beginTransaction();
        Util.arrayCopy(scratch, (short) (SCRATCH_PD + PD_XSERIAL), xserial, (short) 0, SERIAL_LENGTH);
        keyVersion = scratch[(short) (SCRATCH_PD + PD_KV)];
        batchState = BATCH_EMPTY;
        batchLength = 0;
        lifecycle = LIFECYCLE_ACTIVE;
        JCSystem.commitTransaction();
        Util.arrayFillNonAtomic(scratch, (short) 0, SCRATCH_LENGTH, (byte) 0);
    }

    /** Field checks of the decrypted, unpadded PD: non-zero XSERIAL, KV 01..FE. */
    private static boolean isValidPersoData(byte[] pd, short off) {
        byte kv = pd[(short) (off + PD_KV)];
        return !Bcd.isZero(pd, (short) (off + PD_XSERIAL), SERIAL_LENGTH) && kv != 0 && kv != (byte) 0xFF;
    }

    // ---- Batch commands ----

    /**
     * WRITE BATCH {@code 80 82 OFFSET(P1P2) Lc CHUNK}. Offset 0 starts a new batch; any other
     * offset is at most the written length, so a chunk can be resent. The written length becomes
     * {@code max(length, offset + Lc)}.
     */
    private void writeBatch(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        if (batchState == BATCH_SEALED) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        short lc = receive(apdu);
        if (lc < 1 || lc > MAX_CHUNK) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short offset = Util.getShort(buf, ISO7816.OFFSET_P1);
        short written = batchState == BATCH_WRITING ? batchLength : 0;
        // offset < 0 is an unsigned offset above 7FFF, beyond anything written.
        if (offset < 0 || offset > written) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        // offset <= CAPACITY and lc <= 240: no short overflow.
        short end = (short) (offset + lc);
        if (end > CAPACITY) {
            ISOException.throwIt(StatusWords.NO_SPACE);
        }
        // A reset at any moment must leave WRITING with a length whose bytes are all in place.
        if (offset == 0) {
            // A new batch: open it at length 0 (dropping a kept acknowledgement) before its
            // bytes are overwritten.
            if (batchState != BATCH_WRITING || batchLength != 0) {
                JCSystem.beginTransaction();
                batchState = BATCH_WRITING;
                batchLength = 0;
                JCSystem.commitTransaction();
            }
            written = 0;
        }
        if (offset == written) {
            // Append: the chunk lands past the committed length, where nothing relies on the
            // bytes, so it is copied without a transaction (no commit-buffer cost for up to 240
            // bytes) and only the new length is committed.
            Util.arrayCopyNonAtomic(buf, ISO7816.OFFSET_CDATA, batch, offset, lc);
            JCSystem.beginTransaction();
            batchLength = end;
            JCSystem.commitTransaction();
        } else {
            // Resend over committed bytes: chunk and length change together or not at all.
            JCSystem.beginTransaction();
            Util.arrayCopy(buf, ISO7816.OFFSET_CDATA, batch, offset, lc);
            if (end > batchLength) {
                batchLength = end;
            }
            JCSystem.commitTransaction();
        }
    }

    /** FINISH BATCH {@code 80 84 00 00 02 LENGTH}: checks the structure of the batch and seals it. */
    private void finishBatch(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        if (batchState != BATCH_WRITING) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        requireP1P2Zero(buf);
        if (receive(apdu) != 2) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short length = Util.getShort(buf, ISO7816.OFFSET_CDATA);
        if (length != batchLength || length < (short) (HEADER_LENGTH + SEAL_LENGTH)
                || batch[HDR_FORMAT] != BATCH_FORMAT
                || length != expectedBatchLength()) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        JCSystem.beginTransaction();
        batchState = BATCH_SEALED;
        JCSystem.commitTransaction();
    }

    /**
     * {@code 50 + 48 × N + 8} with {@code N = ECASH_COUNT + FOOD_COUNT} from the header, or -1
     * when N cannot fit in the card (the counts are 4-byte values).
     */
    private short expectedBatchLength() {
        short maxRecords = (short) ((short) (CAPACITY - HEADER_LENGTH - SEAL_LENGTH) / RECORD_LENGTH);
        short ecash = count(HDR_ECASH_COUNT, maxRecords);
        short food = count(HDR_FOOD_COUNT, maxRecords);
        if (ecash < 0 || food < 0 || (short) (ecash + food) > maxRecords) {
            return -1;
        }
        return (short) (HEADER_LENGTH + (short) ((short) (ecash + food) * RECORD_LENGTH) + SEAL_LENGTH);
    }

    /** The 4-byte count at {@code off} in the header, or -1 when above {@code max}. */
    private short count(short off, short max) {
        if (Util.getShort(batch, off) != 0) {
            return -1;
        }
        short n = Util.getShort(batch, (short) (off + 2));
        return (n < 0 || n > max) ? -1 : n;
    }

    /**
     * READ BATCH {@code 80 86 OFFSET(P1P2) Le}: {@code min(Le, 240, length - offset)} bytes of
     * the sealed batch.
     */
    private void readBatch(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        if (batchState != BATCH_SEALED) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        short offset = Util.getShort(buf, ISO7816.OFFSET_P1);
        if (offset < 0 || offset >= batchLength) {
            ISOException.throwIt(StatusWords.BAD_P1P2);
        }
        if (receive(apdu) != 0) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short le = apdu.setOutgoing();
        if (le == 0 || le > MAX_CHUNK) {
            le = MAX_CHUNK;
        }
        short remaining = (short) (batchLength - offset);
        short n = le < remaining ? le : remaining;
        apdu.setOutgoingLength(n);
        apdu.sendBytesLong(batch, offset, n);
    }

    /**
     * CLEAR BATCH {@code 80 88 00 00 32 ACKDATA(34) ACK_SAM(8) ACK_CARD(8)}: with a valid
     * acknowledgement for the held batch, drops it and keeps ACKDATA || ACK_SAM for the POS.
     */
    private void clearBatch(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        requireActive();
        if (batchState != BATCH_SEALED) {
            ISOException.throwIt(StatusWords.CONDITIONS);
        }
        requireP1P2Zero(buf);
        if (receive(apdu) != CLEAR_DATA_LENGTH) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        short ackData = ISO7816.OFFSET_CDATA;
        // ACKDATA starts with SAM_ID || BATCH_NO, as the header does after FORMAT.
        if (Util.arrayCompare(buf, ackData, batch, HDR_SAM_ID, BATCH_ID_LENGTH) != 0) {
            ISOException.throwIt(StatusWords.BAD_DATA);
        }
        // ACK_CARD = MAC(K_XFER, 52 || XSERIAL || ACKDATA || SEAL).
        des.setKey(kXfer);
        des.macBegin();
        des.macByte(ACK_CARD_TAG);
        des.macUpdate(xserial, (short) 0, SERIAL_LENGTH);
        des.macUpdate(buf, ackData, ACKDATA_LENGTH);
        des.macUpdate(batch, (short) (batchLength - SEAL_LENGTH), SEAL_LENGTH);
        boolean macOk = des.macFinalVerify(buf, (short) (ackData + ACK_LENGTH));
        des.clear();
        if (!macOk) {
            ISOException.throwIt(StatusWords.MAC_INVALID);
        }
        JCSystem.beginTransaction();
        Util.arrayCopy(buf, ackData, ack, (short) 0, ACK_LENGTH);
        batchState = BATCH_ACKED;
        batchLength = 0;
        JCSystem.commitTransaction();
    }

    /** READ ACK {@code 80 8A 00 00 00}: ACKDATA || ACK_SAM of the last cleared batch. */
    private void readAck(APDU apdu) {
        byte[] buf = apdu.getBuffer();
        // No lifecycle check: a BLANK card is EMPTY, so it has no acknowledgement either.
        if (batchState != BATCH_ACKED) {
            ISOException.throwIt(StatusWords.NOT_FOUND);
        }
        requireP1P2Zero(buf);
        if (receive(apdu) != 0) {
            ISOException.throwIt(StatusWords.WRONG_LENGTH);
        }
        Util.arrayCopyNonAtomic(ack, (short) 0, buf, (short) 0, ACK_LENGTH);
        sendFixed(apdu, ACK_LENGTH);
    }
}
