package epurse.transfer;

import static epurse.testkit.Hex.concat;
import static epurse.testkit.Hex.u32;

import epurse.testkit.Hex;
import epurse.testkit.HostCrypto;
import java.util.Random;

/** A sealed settlement batch as a SAM writes it (SPEC 3.1), and the back office's acknowledgement. */
final class BatchFixture {
    final byte[] samId;
    final long batchNo;
    final byte[] header;
    final byte[] records;
    final byte[] seal;
    final byte[] kSettle;

    BatchFixture(byte[] samId, long batchNo, int ecashCount, int foodCount, long seed) {
        this.samId = samId;
        this.batchNo = batchNo;
        kSettle = HostCrypto.emva(TransferCardSim.MK_SETTLEMENT, concat(samId, new byte[2]));
        Random rnd = new Random(seed);
        records = new byte[48 * (ecashCount + foodCount)];
        rnd.nextBytes(records);
        header = concat(new byte[] {1}, samId, u32(batchNo), Hex.decode("20261123143000"),
                u32(ecashCount), u64(12_345L * ecashCount), u32(foodCount), u64(6_789L * foodCount),
                u32(1000), u32(1000 + ecashCount + foodCount));
        if (header.length != 50) throw new IllegalStateException("header " + header.length);
        seal = HostCrypto.mac(kSettle, concat(Hex.decode("50"), header, records));
    }

    BatchFixture(int records) {
        this(Hex.decode("5A0000000042"), 7, records / 2, records - records / 2, records);
    }

    static byte[] u64(long v) {
        return concat(u32(v >>> 32), u32(v));
    }

    byte[] bytes() {
        return concat(header, records, seal);
    }

    /** ACKDATA = SAM_ID BATCH_NO RESULT CREDITED ACCEPTED REJECTED DATETIME (34 bytes). */
    byte[] ackData(byte[] samIdInAck, long batchNoInAck) {
        int n = records.length / 48;
        return concat(samIdInAck, u32(batchNoInAck), new byte[] {0}, u64(99_999L), u32(n), u32(0),
                Hex.decode("20261124090000"));
    }

    byte[] ackData() {
        return ackData(samId, batchNo);
    }

    byte[] ackSam(byte[] ackData) {
        return HostCrypto.mac(kSettle, concat(Hex.decode("51"), ackData, seal));
    }

    static byte[] ackCard(byte[] xserial, byte[] ackData, byte[] seal) {
        return HostCrypto.mac(TransferCardSim.kXfer(xserial), concat(Hex.decode("52"), xserial, ackData, seal));
    }
}
