//! The transfer batch: byte-exact against `apdu-spec/vectors/transfer.json`, every
//! malformation refused with its own error, the SAM's seal / re-seal / acknowledgement cycle.

mod common;

use apdu_spec::{
    AckData, AckResult, Batch, ContractCommand, Purse, ReadAckResponse, Response, SamId, Serial,
    SettlementRecord,
};
use common::{amount, dt, h, CardModel, TestDir};
use sam::batch::{
    ack_card, ack_data, ack_sam, check_consistency, clear_batch_command, max_records, parse_batch,
    seal_batch, settlement_key, transfer_card_key, verify_ack, verify_seal, BatchError,
};
use sam::{AckOutcome, Key16, KeyName, PurchaseStart, SamError, SecurityModule, SoftwareSam};
use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key}"))
}

struct TransferVector {
    v: Value,
    k_settle: Key16,
    k_xfer: Key16,
    xserial: Serial,
    sam_id: SamId,
}

fn transfer_vector() -> TransferVector {
    let v = common::vector("transfer");
    let mk = |name: &str| Key16::from_hex(s(&v["master_keys"], name)).unwrap();
    let sam_id: SamId = s(&v["sam"], "sam_id").parse().unwrap();
    let xserial: Serial = s(&v["card"], "serial").parse().unwrap();
    TransferVector {
        k_settle: settlement_key(&mk("settlement"), sam_id),
        k_xfer: transfer_card_key(&mk("transfer"), xserial),
        xserial,
        sam_id,
        v,
    }
}

fn vector_records(t: &TransferVector) -> Vec<SettlementRecord> {
    t.v["batch"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| SettlementRecord::parse(&h(r.as_str().unwrap())).unwrap())
        .collect()
}

#[test]
fn keys_match_the_vector() {
    let t = transfer_vector();
    assert_eq!(
        hex::encode_upper(t.k_settle.expose_secret()),
        s(&t.v["sam"], "settlement_key")
    );
    assert_eq!(
        hex::encode_upper(t.k_xfer.expose_secret()),
        s(&t.v["card"]["card_keys"], "transfer")
    );
    // The dev key file is the vectors' key set: an issued SAM file holds the same K_SETTLE.
    let file = common::sam_file_for(t.sam_id, "5411");
    assert_eq!(file.settlement_key(), &t.k_settle);
    assert_eq!(
        transfer_card_key(common::dev_keys().get(KeyName::Transfer), t.xserial),
        t.k_xfer
    );
}

#[test]
fn seal_is_byte_exact_to_the_vector() {
    let t = transfer_vector();
    let b = &t.v["batch"];
    let batch = seal_batch(
        &t.k_settle,
        t.sam_id,
        7,
        dt("2026-11-20T22:00:00"),
        vector_records(&t),
    )
    .unwrap();
    assert_eq!(hex::encode_upper(batch.header.to_bytes()), s(b, "header"));
    assert_eq!(
        hex::encode_upper(apdu_spec::seal_input(&batch.header, &batch.records)),
        s(b, "seal_input")
    );
    assert_eq!(hex::encode_upper(batch.seal), s(b, "seal"));
    assert_eq!(hex::encode_upper(batch.to_bytes()), s(b, "batch"));

    // And back: parse, consistent, seal verifies.
    let parsed = parse_batch(&h(s(b, "batch"))).unwrap();
    assert_eq!(parsed, batch);
    verify_seal(&t.k_settle, &parsed).unwrap();
    // Sealing is deterministic: a second sealing of the same batch gives the same bytes.
    let again = seal_batch(
        &t.k_settle,
        t.sam_id,
        7,
        dt("2026-11-20T22:00:00"),
        vector_records(&t),
    )
    .unwrap();
    assert_eq!(again.to_bytes(), batch.to_bytes());
    // Another SAM's key does not verify it.
    let other = settlement_key(&Key16::from_bytes([0x11; 16]), t.sam_id);
    assert!(matches!(
        verify_seal(&other, &parsed),
        Err(BatchError::SealMismatch { .. })
    ));
}

#[test]
fn acknowledgement_is_byte_exact_to_the_vector() {
    let t = transfer_vector();
    let b = &t.v["batch"];
    let batch = parse_batch(&h(s(b, "batch"))).unwrap();
    let ack = ack_data(&batch.header, 44_550, 3, 0, dt("2026-11-21T02:00:00"));
    assert_eq!(hex::encode_upper(ack.to_bytes()), s(b, "ack_data"));
    assert_eq!(ack.result, AckResult::AllAccepted);
    assert_eq!(
        hex::encode_upper(ack_sam(&t.k_settle, &ack, &batch.seal)),
        s(b, "ack_sam")
    );
    assert_eq!(
        hex::encode_upper(ack_card(&t.k_xfer, t.xserial, &ack, &batch.seal)),
        s(b, "ack_card")
    );

    // The back office's CLEAR BATCH is the vector's accepted one.
    let clear = clear_batch_command(&t.k_settle, &t.k_xfer, t.xserial, &batch, ack);
    let step = t.v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| s(st, "name") == "CLEAR BATCH" && s(st, "response") == "9000")
        .unwrap();
    assert_eq!(hex::encode_upper(clear.to_bytes()), s(step, "command"));

    // The SAM's check of what READ ACK returns.
    let read_ack = t.v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| s(st, "name") == "READ ACK" && s(st, "response").ends_with("9000"))
        .unwrap();
    let rsp = Response::parse(&h(s(read_ack, "response"))).unwrap();
    let read = ReadAckResponse::parse(&rsp.data).unwrap();
    verify_ack(&t.k_settle, &batch.header, &batch.seal, &read).unwrap();

    let mut forged = read;
    forged.ack_sam[0] ^= 0x80;
    assert_eq!(
        verify_ack(&t.k_settle, &batch.header, &batch.seal, &forged),
        Err(BatchError::AckMacMismatch { batch_no: 7 })
    );
    let mut inflated = read;
    inflated.ack.credited += 1;
    assert!(matches!(
        verify_ack(&t.k_settle, &batch.header, &batch.seal, &inflated),
        Err(BatchError::AckMacMismatch { .. })
    ));
    let mut other_batch = read;
    other_batch.ack.batch_no = 8;
    assert!(matches!(
        verify_ack(&t.k_settle, &batch.header, &batch.seal, &other_batch),
        Err(BatchError::AckForOtherBatch { got_batch: 8, .. })
    ));
    // ACKDATA with some records rejected says so.
    let partial = ack_data(&batch.header, 15_000, 1, 2, dt("2026-11-21T02:00:00"));
    assert_eq!(partial.result, AckResult::SomeRejected);
}

/// The vector batch with `edit` applied to its bytes.
fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Result<Batch, BatchError> {
    let t = transfer_vector();
    let mut bytes = h(s(&t.v["batch"], "batch"));
    edit(&mut bytes);
    parse_batch(&bytes)
}

const HDR: usize = 50;
const REC: usize = 48;

fn rec_at(i: usize) -> usize {
    HDR + REC * i
}

#[test]
fn every_malformation_is_refused_with_its_own_error() {
    assert!(edited(|_| {}).is_ok());
    assert_eq!(
        edited(|b| b.truncate(57)),
        Err(BatchError::TooShort { len: 57 })
    );
    assert_eq!(
        edited(|b| b[0] = 0x02),
        Err(BatchError::UnknownFormat(0x02))
    );
    // Header date-time month 13.
    assert!(matches!(
        edited(|b| b[13] = 0x13),
        Err(BatchError::Header(_))
    ));
    // Truncated, padded, one record too many for the header.
    assert!(matches!(
        edited(|b| {
            b.pop();
        }),
        Err(BatchError::LengthMismatch {
            len: 201,
            records: 3,
            expected: 202
        })
    ));
    assert!(matches!(
        edited(|b| b.push(0)),
        Err(BatchError::LengthMismatch { .. })
    ));
    assert!(matches!(
        edited(|b| {
            let extra = b[rec_at(0)..rec_at(1)].to_vec();
            let at = b.len() - 8;
            b.splice(at..at, extra);
        }),
        Err(BatchError::LengthMismatch { .. })
    ));
    // No records at all (header counts 0, 58 bytes).
    assert_eq!(
        edited(|b| {
            b[18..22].copy_from_slice(&[0; 4]);
            b[30..34].copy_from_slice(&[0; 4]);
            b.drain(HDR..HDR + 3 * REC);
        }),
        Err(BatchError::Empty)
    );
    // A record that does not decode: purse 03 in record 1.
    assert!(matches!(
        edited(|b| b[rec_at(1) + 9] = 0x03),
        Err(BatchError::Record { index: 1, .. })
    ));
    // A load record.
    assert!(matches!(
        edited(|b| b[rec_at(2) + 8] = 0x01),
        Err(BatchError::NotPurchase { index: 2, .. })
    ));
    // A record of another SAM.
    assert!(matches!(
        edited(|b| b[rec_at(1) + 25] = 0x09),
        Err(BatchError::ForeignRecord { index: 1, .. })
    ));
    // Reordered records.
    assert!(matches!(
        edited(|b| {
            let first = b[rec_at(0)..rec_at(1)].to_vec();
            let second = b[rec_at(1)..rec_at(2)].to_vec();
            b[rec_at(0)..rec_at(1)].copy_from_slice(&second);
            b[rec_at(1)..rec_at(2)].copy_from_slice(&first);
        }),
        Err(BatchError::OutOfOrder {
            index: 1,
            previous: 0x22,
            sam_seq: 0x21
        })
    ));
    // A duplicated record in place of another.
    assert!(matches!(
        edited(|b| {
            let second = b[rec_at(1)..rec_at(2)].to_vec();
            b[rec_at(2)..rec_at(3)].copy_from_slice(&second);
        }),
        Err(BatchError::OutOfOrder { index: 2, .. })
    ));
    // Counts moved from food to e-Cash (same N).
    assert!(matches!(
        edited(|b| {
            b[21] = 3;
            b[33] = 0;
        }),
        Err(BatchError::CountMismatch {
            purse: Purse::Ecash,
            header: 3,
            actual: 2
        })
    ));
    // A total that does not add up.
    assert!(matches!(
        edited(|b| b[41] ^= 0x01),
        Err(BatchError::TotalMismatch {
            purse: Purse::Food,
            ..
        })
    ));
    // A record's amount changed: the header no longer adds up.
    assert!(matches!(
        edited(|b| b[rec_at(0) + 15] ^= 0x01),
        Err(BatchError::TotalMismatch {
            purse: Purse::Ecash,
            ..
        })
    ));
    // FIRST/LAST SAMSEQ.
    assert!(matches!(
        edited(|b| b[45] = 0x20),
        Err(BatchError::SequenceRange {
            header_first: 0x20,
            first: 0x21,
            ..
        })
    ));
    assert!(matches!(
        edited(|b| b[49] = 0x24),
        Err(BatchError::SequenceRange {
            header_last: 0x24,
            last: 0x23,
            ..
        })
    ));
}

#[test]
fn tampering_that_keeps_the_header_consistent_breaks_the_seal() {
    let t = transfer_vector();
    let check = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = h(s(&t.v["batch"], "batch"));
        edit(&mut bytes);
        let batch = parse_batch(&bytes).expect("consistent after the edit");
        verify_seal(&t.k_settle, &batch)
    };
    let broken = Err(BatchError::SealMismatch { sam_id: t.sam_id });
    // A forged TAC.
    assert_eq!(check(&|b| b[rec_at(1) + 44] ^= 0x01), broken);
    // A card serial swapped.
    assert_eq!(check(&|b| b[rec_at(0) + 7] = 0x09), broken);
    // The seal itself.
    assert_eq!(
        check(&|b| {
            let n = b.len();
            b[n - 1] ^= 0x01;
        }),
        broken
    );
    // The batch number.
    assert_eq!(check(&|b| b[10] = 0x08), broken);
    // A record removed with the header fixed up to match.
    assert_eq!(
        check(&|b| {
            b.drain(rec_at(2)..rec_at(3));
            b[21] = 1; // e-Cash count 2 -> 1
            b[22..30].copy_from_slice(&15_000u64.to_be_bytes());
            b[46..50].copy_from_slice(&0x22u32.to_be_bytes());
        }),
        broken
    );
}

#[test]
fn batch_capacity() {
    assert_eq!(max_records(8192), 169);
    assert_eq!(max_records(58), 0);
    assert_eq!(max_records(10), 0);
    assert_eq!(max_records(58 + 48), 1);
}

fn sam_with_sales(dir: &TestDir, values: &[(Purse, u32)]) -> SoftwareSam {
    let mut sam = SoftwareSam::create(dir.paths(), common::sam_file(), 0x21, 7).unwrap();
    let mut card = CardModel::new(Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]), 1_000_000, 1_000_000);
    for &(purse, value) in values {
        let command = sam.initialize_purchase(purse, amount(value));
        let response = card.initialize_purchase(&command).unwrap();
        let auth = sam
            .begin_purchase(PurchaseStart {
                serial: card.serial,
                command,
                response,
                datetime: dt("2026-11-20T10:00:00"),
                pin_verified: false,
            })
            .unwrap();
        let rsp = card.debit_purchase(&auth.command).unwrap();
        sam.complete_purchase(auth.sam_seq, &rsp).unwrap();
    }
    sam
}

fn back_office_ack(batch: &Batch, key: &Key16) -> ReadAckResponse {
    let total = batch.header.ecash_total + batch.header.food_total;
    let ack: AckData = ack_data(
        &batch.header,
        total,
        batch.records.len() as u32,
        0,
        dt("2026-11-21T02:00:00"),
    );
    ReadAckResponse {
        ack,
        ack_sam: ack_sam(key, &ack, &batch.seal),
    }
}

#[test]
fn sam_seals_keeps_and_drops_batches_only_on_a_valid_ack() {
    let dir = TestDir::new("seal");
    let mut sam = sam_with_sales(
        &dir,
        &[
            (Purse::Ecash, 15_000),
            (Purse::Food, 25_000),
            (Purse::Ecash, 4_550),
        ],
    );
    let k_settle = common::sam_file().settlement_key().clone();
    let when = dt("2026-11-20T22:00:00");

    // Two records fit this transfer card; the third stays open.
    let first = sam.seal_batch(when, Some(2)).unwrap().unwrap();
    assert_eq!(first.header.batch_no, 7);
    assert_eq!(first.records.len(), 2);
    assert_eq!(
        (first.header.first_sam_seq, first.header.last_sam_seq),
        (0x21, 0x22)
    );
    assert_eq!(sam.status().open.ecash.total, 4_550);
    let second = sam.seal_batch(when, None).unwrap().unwrap();
    assert_eq!(second.header.batch_no, 8);
    assert_eq!(sam.seal_batch(when, None).unwrap(), None);
    assert_eq!(sam.status().open.combined().total, 0);
    assert_eq!(sam.status().value_held(), 44_550);

    // The sealed bytes parse, are consistent and verify.
    for batch in [&first, &second] {
        let parsed = parse_batch(&batch.to_bytes()).unwrap();
        check_consistency(&parsed).unwrap();
        verify_seal(&k_settle, &parsed).unwrap();
    }
    // A second transfer card gets the very same bytes, also after a restart.
    assert_eq!(sam.unacknowledged_batches()[0].to_bytes(), first.to_bytes());
    drop(sam);
    let mut sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    assert_eq!(
        sam.unacknowledged_batches(),
        vec![first.clone(), second.clone()]
    );

    // A wrong ACK_SAM, an inflated ACKDATA, another SAM's ack, an unknown batch: all refused,
    // the batch kept.
    let good = back_office_ack(&first, &k_settle);
    let mut forged = good;
    forged.ack_sam[3] ^= 0x10;
    assert!(matches!(
        sam.acknowledge(&forged),
        Err(SamError::Batch(BatchError::AckMacMismatch { batch_no: 7 }))
    ));
    let mut inflated = good;
    inflated.ack.credited = 1_000_000;
    assert!(matches!(
        sam.acknowledge(&inflated),
        Err(SamError::Batch(BatchError::AckMacMismatch { .. }))
    ));
    let wrong_key = back_office_ack(&first, &Key16::from_bytes([0x22; 16]));
    assert!(sam.acknowledge(&wrong_key).is_err());
    let mut other_sam = good;
    other_sam.ack.sam_id = SamId([1, 2, 3, 4, 5, 6]);
    assert!(matches!(
        sam.acknowledge(&other_sam),
        Err(SamError::Batch(BatchError::AckForOtherBatch { .. }))
    ));
    let mut unknown = good;
    unknown.ack.batch_no = 99;
    assert!(matches!(
        sam.acknowledge(&unknown),
        Err(SamError::UnknownBatch { batch_no: 99, .. })
    ));
    assert_eq!(sam.unacknowledged_batches().len(), 2);

    // The genuine ack drops batch 7 only; presenting it again changes nothing.
    match sam.acknowledge(&good).unwrap() {
        AckOutcome::Dropped(a) => assert_eq!(a.header, first.header),
        other => panic!("expected Dropped, got {other:?}"),
    }
    assert!(matches!(
        sam.acknowledge(&good).unwrap(),
        AckOutcome::AlreadyApplied(_)
    ));
    assert_eq!(sam.unacknowledged_batches(), vec![second.clone()]);
    assert_eq!(sam.status().value_held(), 4_550);
    sam.acknowledge(&back_office_ack(&second, &k_settle))
        .unwrap();
    let status = sam.status();
    assert_eq!(status.value_held(), 0);
    assert_eq!(status.recently_acknowledged.len(), 2);
    assert_eq!(status.collected.combined().total, 44_550);
    drop(sam);
    let sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    assert!(sam.unacknowledged_batches().is_empty());
}

#[test]
fn sam_batch_matches_the_vector_layout() {
    // Three sales like the vector's (SAMSEQ 21..23, batch 7): same header shape and totals.
    let dir = TestDir::new("seal-vector");
    let mut sam = sam_with_sales(
        &dir,
        &[
            (Purse::Ecash, 15_000),
            (Purse::Food, 25_000),
            (Purse::Ecash, 4_550),
        ],
    );
    let batch = sam
        .seal_batch(dt("2026-11-20T22:00:00"), None)
        .unwrap()
        .unwrap();
    let t = transfer_vector();
    let vector_header = h(s(&t.v["batch"], "header"));
    let ours = batch.header.to_bytes();
    // FORMAT, SAM_ID, BATCH_NO, DATETIME, counts, totals, FIRST/LAST all equal.
    assert_eq!(ours.to_vec(), vector_header);
    assert_eq!(batch.to_bytes().len(), 202);
}
