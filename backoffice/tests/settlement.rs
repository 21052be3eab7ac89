//! Settlement of SAM batches: verification (seal, TAC, duplicates, order, unknown SAM),
//! idempotent crediting per (SAM, batch number), the acknowledgement, and a clean audit after
//! every refusal — nothing credited twice, nothing lost.

mod support;

use apdu_spec::{
    tac_input, Batch, Date, DateTime, Mcc, Purse, RecordType, SamId, Serial, SettlementRecord,
    TransactionRecord,
};
use backoffice::settlement::{
    BatchRejection, RecordRejection, SamIssueRequest, Settlement, UploadOutcome,
};
use backoffice::AccountRef;
use sam::{KeyName, SamFile};
use support::*;

const XSERIAL: Serial = Serial([0x58, 0x46, 0, 0, 0, 0, 0, 1]);

fn when() -> DateTime {
    DateTime::new(Date::new(2026, 3, 15).unwrap(), 12, 0, 0).unwrap()
}

fn grocery(bench: &mut Bench) -> SamFile {
    bench
        .bo
        .sam_issue(&SamIssueRequest {
            merchant_id: "M-GROCERY".into(),
            merchant_name: "Corner Grocery".into(),
            mcc: Mcc::new(5411).unwrap(),
            food: true,
        })
        .unwrap()
}

/// A purchase on the soft card: debits its purse and returns the settlement record the card
/// would sign (TAC under `K_TAC`).
fn purchase(
    card: &mut SoftCard,
    sam: &SamFile,
    purse: Purse,
    units: u32,
    sam_seq: u32,
) -> SettlementRecord {
    let state = card.purse_mut(purse);
    assert!(state.balance >= units, "test purchase above the balance");
    state.balance -= units;
    state.purchase_counter += 1;
    let record = TransactionRecord {
        record_type: RecordType::Purchase,
        purse,
        counter: state.purchase_counter,
        amount: amount(units),
        balance: amount(state.balance),
        terminal: sam.profile().sam_id.0,
        sam_seq,
        datetime: when(),
        mcc: sam.profile().mcc,
        flags: 0,
    };
    SettlementRecord {
        serial: card.serial,
        record,
        tac: tac(card.serial, &record),
    }
}

fn tac(serial: Serial, record: &TransactionRecord) -> [u8; 8] {
    let k_tac = sam::diversify(master_keys().get(KeyName::Tac), &serial.0);
    sam::retail_mac_m2(&k_tac, &tac_input(&serial, record))
}

fn seal(sam: &SamFile, batch_no: u32, records: Vec<SettlementRecord>) -> Batch {
    sam::batch::seal_batch(
        sam.settlement_key(),
        sam.profile().sam_id,
        batch_no,
        when(),
        records,
    )
    .unwrap()
}

fn settled(outcome: UploadOutcome) -> Settlement {
    match outcome {
        UploadOutcome::Settled(s) => s,
        UploadOutcome::Rejected(r) => panic!("batch refused: {r}"),
    }
}

fn refused(outcome: UploadOutcome) -> BatchRejection {
    match outcome {
        UploadOutcome::Rejected(r) => r,
        UploadOutcome::Settled(s) => panic!("batch settled: {s:?}"),
    }
}

fn assert_clean(bench: &mut Bench) {
    let report = bench.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    let problems = bench.bo.settlement_audit().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

fn float(bench: &mut Bench, purse: Purse) -> i64 {
    bench.bo.balance(AccountRef::CardFloat(purse)).unwrap()
}

/// Two loaded cards (e-Cash 500.00 and Food 1 000.00 each).
fn day(bench: &mut Bench) -> (SoftCard, SoftCard) {
    let mut cards = Vec::new();
    for name in ["Asha", "Ravi"] {
        let customer = bench.customer(name, 50_000, 100_000);
        let mut card = bench.issue(customer);
        card.load(&mut bench.bo, Purse::Ecash, 50_000, None)
            .unwrap();
        card.load(
            &mut bench.bo,
            Purse::Food,
            100_000,
            Some(Date::new(2026, 12, 31).unwrap()),
        )
        .unwrap();
        cards.push(card);
    }
    let b = cards.pop().unwrap();
    let a = cards.pop().unwrap();
    (a, b)
}

#[test]
fn a_batch_is_verified_credited_once_and_acknowledged() {
    let mut b = Bench::new();
    let (mut asha, mut ravi) = day(&mut b);
    let sam = grocery(&mut b);
    let records = vec![
        purchase(&mut asha, &sam, Purse::Food, 1250, 1),
        purchase(&mut asha, &sam, Purse::Ecash, 300, 2),
        purchase(&mut ravi, &sam, Purse::Ecash, 25000, 4),
    ];
    let batch = seal(&sam, 1, records);
    let s = settled(b.bo.upload_batch(&batch.to_bytes(), XSERIAL).unwrap());
    assert!(!s.replayed);
    assert_eq!((s.records, s.accepted, s.rejected), (3, 3, 0));
    assert_eq!(
        (s.ecash_credited, s.food_credited, s.credited),
        (25300, 1250, 26550)
    );
    assert!(s.findings.is_empty(), "{:?}", s.findings);

    // Value moved from the card floats to the merchant, per card too.
    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 26550);
    assert_eq!(float(&mut b, Purse::Ecash), 100_000 - 25300);
    assert_eq!(float(&mut b, Purse::Food), 200_000 - 1250);
    assert_eq!(b.bo.card(&asha.serial).unwrap().food.float, 100_000 - 1250);
    assert_eq!(b.bo.card(&ravi.serial).unwrap().ecash.float, 50_000 - 25000);
    assert_clean(&mut b);

    // The acknowledgement verifies at the SAM (ACK_SAM) and the transfer card (ACK_CARD).
    let ack = apdu_spec::ReadAckResponse {
        ack: s.clear.ack,
        ack_sam: s.clear.ack_sam,
    };
    sam::batch::verify_ack(sam.settlement_key(), &batch.header, &batch.seal, &ack).unwrap();
    let k_xfer = sam::batch::transfer_card_key(master_keys().get(KeyName::Transfer), XSERIAL);
    assert_eq!(
        s.clear.ack_card,
        sam::batch::ack_card(&k_xfer, XSERIAL, &s.clear.ack, &batch.seal)
    );
    assert_eq!(s.clear.ack.credited, 26550);
    assert_eq!((s.clear.ack.accepted, s.clear.ack.rejected), (3, 0));

    // Uploaded again (lost acknowledgement, second transfer card): nothing moves, same ack.
    let other_card = Serial([0x58, 0x46, 0, 0, 0, 0, 0, 2]);
    b.clock.advance(3600);
    let again = settled(b.bo.upload_batch(&batch.to_bytes(), other_card).unwrap());
    assert!(again.replayed);
    assert_eq!(again.clear.ack, s.clear.ack);
    assert_eq!(again.clear.ack_sam, s.clear.ack_sam);
    assert_eq!(
        again.clear.ack_card,
        sam::batch::ack_card(
            &sam::batch::transfer_card_key(master_keys().get(KeyName::Transfer), other_card),
            other_card,
            &s.clear.ack,
            &batch.seal
        )
    );
    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 26550);
    let statement = b.bo.merchant_statement("M-GROCERY").unwrap();
    assert_eq!(statement.lines.len(), 1);
    assert_eq!(statement.total_credited, 26550);
    assert_eq!(statement.sams.len(), 1);
    assert_clean(&mut b);
}

#[test]
fn a_tampered_record_breaks_the_seal_and_nothing_moves() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    let batch = seal(
        &sam,
        1,
        vec![purchase(&mut asha, &sam, Purse::Ecash, 1000, 1)],
    );
    let mut bytes = batch.to_bytes();
    // Amount of the first record (header 50 + serial 8 + offset 4..8 in REC), and the header's
    // e-Cash total so the batch stays consistent: only the seal can tell.
    bytes[50 + 8 + 7] ^= 0x01;
    bytes[1 + 6 + 4 + 7 + 4 + 7] ^= 0x01;
    assert_eq!(
        refused(b.bo.upload_batch(&bytes, XSERIAL).unwrap()),
        BatchRejection::SealInvalid
    );
    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 0);
    assert_eq!(float(&mut b, Purse::Ecash), 100_000);
    let report = b.bo.settlement_report().unwrap();
    assert!(report.batches.is_empty());
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].code, "seal_invalid");
    assert_clean(&mut b);
    // The genuine batch is still accepted afterwards.
    let s = settled(b.bo.upload_batch(&batch.to_bytes(), XSERIAL).unwrap());
    assert_eq!(s.credited, 1000);
    assert_clean(&mut b);
}

#[test]
fn a_forged_tac_is_rejected_with_its_reason_and_the_rest_is_credited() {
    // A compromised SAM can seal anything, but it cannot sign for a card.
    let mut b = Bench::new();
    let (mut asha, mut ravi) = day(&mut b);
    let sam = grocery(&mut b);
    let good = purchase(&mut asha, &sam, Purse::Ecash, 2000, 1);
    let mut forged = purchase(&mut ravi, &sam, Purse::Ecash, 9900, 2);
    forged.tac[0] ^= 0xFF;
    let batch = seal(&sam, 1, vec![good, forged]);
    let s = settled(b.bo.upload_batch(&batch.to_bytes(), XSERIAL).unwrap());
    assert_eq!((s.accepted, s.rejected, s.credited), (1, 1, 2000));
    assert_eq!(s.outcomes[1].rejection, Some(RecordRejection::TacInvalid));
    assert_eq!(s.clear.ack.result, apdu_spec::AckResult::SomeRejected);
    assert_eq!(b.bo.card(&ravi.serial).unwrap().ecash.float, 50_000);
    let report = b.bo.settlement_report().unwrap();
    assert_eq!(
        report.batches[0].outcomes[1].rejection,
        Some(RecordRejection::TacInvalid)
    );
    assert_clean(&mut b);
}

#[test]
fn reordered_or_missing_records_are_refused_whole() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    let r1 = purchase(&mut asha, &sam, Purse::Ecash, 100, 1);
    let r2 = purchase(&mut asha, &sam, Purse::Ecash, 200, 2);
    let batch = seal(&sam, 1, vec![r1, r2]);
    let bytes = batch.to_bytes();

    // Swap the two records.
    let mut swapped = bytes.clone();
    let (a, rest) = swapped[50..].split_at_mut(48);
    a.swap_with_slice(&mut rest[..48]);
    let r = refused(b.bo.upload_batch(&swapped, XSERIAL).unwrap());
    assert!(matches!(r, BatchRejection::Malformed(_)), "{r:?}");

    // Drop the second record (header unchanged): the length no longer matches.
    let mut missing = bytes[..50 + 48].to_vec();
    missing.extend_from_slice(&batch.seal);
    let r = refused(b.bo.upload_batch(&missing, XSERIAL).unwrap());
    assert!(matches!(r, BatchRejection::Malformed(_)), "{r:?}");

    // Drop it and fix up the header: the seal no longer verifies.
    let cut = Batch {
        header: sam::batch::header_for(sam.profile().sam_id, 1, when(), &[r1]).unwrap(),
        records: vec![r1],
        seal: batch.seal,
    };
    assert_eq!(
        refused(b.bo.upload_batch(&cut.to_bytes(), XSERIAL).unwrap()),
        BatchRejection::SealInvalid
    );

    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 0);
    assert_eq!(b.bo.settlement_report().unwrap().refused.len(), 3);
    assert_clean(&mut b);
}

#[test]
fn a_duplicate_record_is_never_credited_twice() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    let r1 = purchase(&mut asha, &sam, Purse::Ecash, 500, 1);
    settled(
        b.bo.upload_batch(&seal(&sam, 1, vec![r1]).to_bytes(), XSERIAL)
            .unwrap(),
    );

    // The same signed card purchase again in a later batch.
    let again = r1;
    let r2 = purchase(&mut asha, &sam, Purse::Ecash, 100, 8);
    let s = settled(
        b.bo.upload_batch(&seal(&sam, 2, vec![again, r2]).to_bytes(), XSERIAL)
            .unwrap(),
    );
    assert_eq!(
        s.outcomes[0].rejection,
        Some(RecordRejection::DuplicateCardCounter)
    );
    assert_eq!(s.outcomes[1].rejection, None);
    assert_eq!(s.credited, 100);

    // The same SAM sequence again, for another card purchase.
    let r3 = purchase(&mut asha, &sam, Purse::Ecash, 200, 8);
    let s = settled(
        b.bo.upload_batch(&seal(&sam, 3, vec![r3]).to_bytes(), XSERIAL)
            .unwrap(),
    );
    assert_eq!(
        s.outcomes[0].rejection,
        Some(RecordRejection::DuplicateSamSequence)
    );
    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 600);
    assert_eq!(b.bo.card(&asha.serial).unwrap().ecash.float, 50_000 - 600);
    assert_clean(&mut b);
}

#[test]
fn a_batch_from_an_unknown_or_revoked_sam_is_refused() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    // A SAM file the bank never registered (made from the masters with another SAM id).
    let mut profile = sam.profile().clone();
    profile.sam_id = SamId([0x53, 0x4D, 0xFF, 0, 0, 1]);
    let rogue = SamFile::issue(&master_keys(), profile).unwrap();
    let batch = seal(
        &rogue,
        1,
        vec![purchase(&mut asha, &rogue, Purse::Ecash, 100, 1)],
    );
    assert_eq!(
        refused(b.bo.upload_batch(&batch.to_bytes(), XSERIAL).unwrap()),
        BatchRejection::UnknownSam(rogue.profile().sam_id)
    );

    b.bo.revoke_sam(sam.profile().sam_id).unwrap();
    let batch = seal(
        &sam,
        1,
        vec![purchase(&mut asha, &sam, Purse::Ecash, 100, 1)],
    );
    assert_eq!(
        refused(b.bo.upload_batch(&batch.to_bytes(), XSERIAL).unwrap()),
        BatchRejection::SamRevoked(sam.profile().sam_id)
    );
    assert_eq!(float(&mut b, Purse::Ecash), 100_000);
    assert_clean(&mut b);
}

#[test]
fn another_batch_under_a_settled_number_is_refused() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    let first = seal(
        &sam,
        1,
        vec![purchase(&mut asha, &sam, Purse::Ecash, 100, 1)],
    );
    settled(b.bo.upload_batch(&first.to_bytes(), XSERIAL).unwrap());
    let second = seal(
        &sam,
        1,
        vec![purchase(&mut asha, &sam, Purse::Ecash, 200, 2)],
    );
    assert_eq!(
        refused(b.bo.upload_batch(&second.to_bytes(), XSERIAL).unwrap()),
        BatchRejection::Conflict { batch_no: 1 }
    );
    assert_eq!(b.bo.merchant("M-GROCERY").unwrap().balance, 100);
    assert_clean(&mut b);
}

#[test]
fn gaps_in_card_counters_are_findings_and_unknown_cards_are_rejected() {
    let mut b = Bench::new();
    let (mut asha, _) = day(&mut b);
    let sam = grocery(&mut b);
    let _lost = purchase(&mut asha, &sam, Purse::Ecash, 100, 1);
    let kept = purchase(&mut asha, &sam, Purse::Ecash, 200, 2);
    let mut stranger = kept;
    stranger.serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0x99, 0x99]);
    stranger.record.sam_seq = 3;
    stranger.tac = tac(stranger.serial, &stranger.record);
    let s = settled(
        b.bo.upload_batch(&seal(&sam, 1, vec![kept, stranger]).to_bytes(), XSERIAL)
            .unwrap(),
    );
    assert_eq!(s.outcomes[1].rejection, Some(RecordRejection::UnknownCard));
    assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
    assert!(
        s.findings[0].contains("purchase counters 1 not settled"),
        "{}",
        s.findings[0]
    );
    assert_clean(&mut b);
}

#[test]
fn sam_issue_keeps_the_merchant_consistent_and_survives_reopen() {
    let mut b = Bench::new();
    let first = grocery(&mut b);
    let second = grocery(&mut b);
    assert_ne!(first.profile().sam_id, second.profile().sam_id);
    let err =
        b.bo.sam_issue(&SamIssueRequest {
            merchant_id: "M-GROCERY".into(),
            merchant_name: "Corner Grocery".into(),
            mcc: Mcc::new(5812).unwrap(),
            food: true,
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("use the registered details"),
        "{err}"
    );
    let mut again = b.reopen();
    assert_eq!(again.sams(Some("M-GROCERY")).unwrap().len(), 2);
    assert!(again.merchant("M-NOBODY").is_err());
}

#[test]
fn a_transfer_card_personalisation_carries_its_key() {
    let mut b = Bench::new();
    let xserial = b.bo.allocate_transfer_serial().unwrap();
    assert_eq!(&xserial.0[..2], b"XF");
    let perso =
        b.bo.personalize_transfer_card(xserial, apdu_spec::Challenge([1, 2, 3, 4]))
            .unwrap();
    // Decrypt as the card would and find XSERIAL, KV and K_XFER.
    let transport = master_keys().get(KeyName::Transport).clone();
    let sk = |tt| {
        sam::diversify(
            &transport,
            &apdu_spec::session_diversifier([1, 2, 3, 4], 0, tt, 0),
        )
    };
    let plain =
        sam::cbc_decrypt(&sk(apdu_spec::TxType::PersoEnc), [0; 8], &perso.cryptogram).unwrap();
    let pd = apdu_spec::TransferPersoData::parse(sam::unpad_m2(&plain).unwrap()).unwrap();
    assert_eq!(pd.xserial, xserial);
    let k = sam::batch::transfer_card_key(master_keys().get(KeyName::Transfer), xserial);
    assert_eq!(pd.k_xfer.expose(), k.expose_secret());
    assert_eq!(
        perso.mac_p,
        sam::retail_mac_m2(
            &sk(apdu_spec::TxType::PersoMac),
            &apdu_spec::perso_mac_input(&perso.cryptogram)
        )
    );
}
