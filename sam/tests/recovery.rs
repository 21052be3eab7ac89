//! Purchase sessions against a card model: the normal flow, a MAC2 failure, and a pending
//! purchase completed or cancelled from each kind of card evidence (SPEC 2.8) — never a double
//! debit, never an unpaid debit.

mod common;

use apdu_spec::{Amount, Purse, SamId, Serial, StatusWord, TransactionProof};
use common::{amount, dt, CardModel, TestDir};
use sam::{
    PendingStatus, ProofLookup, PurchaseAuthorization, PurchaseStart, Recovery, RecoveryEvidence,
    SamError, SecurityModule, SoftwareSam, VoidReason,
};

const SERIAL: Serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 0x01]);

fn new_sam(dir: &TestDir) -> SoftwareSam {
    SoftwareSam::create(dir.paths(), common::sam_file(), 1, 1).unwrap()
}

/// INITIALIZE PURCHASE on the card and `begin_purchase` in the SAM — written against the
/// trait object, as the POS is, so any SAM implementation fits.
fn begin(
    sam: &mut dyn SecurityModule,
    card: &mut CardModel,
    purse: Purse,
    value: u32,
) -> PurchaseAuthorization {
    let command = sam.initialize_purchase(purse, amount(value));
    let response = card.initialize_purchase(&command).unwrap();
    sam.begin_purchase(PurchaseStart {
        serial: card.serial,
        command,
        response,
        datetime: dt("2026-11-20T10:00:00"),
        pin_verified: card.pin_verified,
    })
    .unwrap()
}

fn evidence(card: &CardModel, purse: Purse, proof: Option<ProofLookup>) -> RecoveryEvidence {
    RecoveryEvidence {
        serial: card.serial,
        purchase_counter: card.purchase_counter(purse),
        proof,
    }
}

/// What GET TRANSACTION PROOF returns for the SAM's pending purchase.
fn proof_for(sam: &SoftwareSam, card: &CardModel, sam_seq: u32) -> Option<ProofLookup> {
    let pending = sam
        .pending_purchases()
        .into_iter()
        .find(|p| p.sam_seq == sam_seq)
        .unwrap();
    let get = pending.proof_command();
    Some(match card.proof(get.purse, get.counter) {
        Some(proof) => ProofLookup::Found(proof),
        None => ProofLookup::NotFound,
    })
}

#[test]
fn sale_completes_and_accumulates() {
    let dir = TestDir::new("sale");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 30_000);

    let auth = begin(&mut sam, &mut card, Purse::Ecash, 1_250);
    // Write-ahead: pending, on disk, before the DEBIT is sent.
    assert_eq!(sam.pending_purchases().len(), 1);
    drop(sam);
    let mut sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    assert_eq!(sam.pending_purchases()[0].sam_seq, auth.sam_seq);

    let rsp = card.debit_purchase(&auth.command).unwrap();
    let done = sam.complete_purchase(auth.sam_seq, &rsp).unwrap();
    assert_eq!(done.amount(), amount(1_250));
    assert_eq!(done.balance_after(), amount(48_750));
    assert!(card.tac_ok(&done.record.serial, &done.record.record, &done.record.tac));
    assert!(sam.pending_purchases().is_empty());

    let food = begin(&mut sam, &mut card, Purse::Food, 700);
    let rsp = card.debit_purchase(&food.command).unwrap();
    sam.complete_purchase(food.sam_seq, &rsp).unwrap();

    let status = sam.status();
    assert_eq!(
        (status.open.ecash.count, status.open.ecash.total),
        (1, 1_250)
    );
    assert_eq!((status.open.food.count, status.open.food.total), (1, 700));
    assert_eq!(status.collected, status.open);
    assert_eq!(status.last_sequence, 2);
    assert_eq!(status.value_held(), 1_950);
    // Completing twice is impossible: the purchase is no longer pending.
    assert!(matches!(
        sam.complete_purchase(food.sam_seq, &rsp),
        Err(SamError::UnknownPurchase { .. })
    ));
}

#[test]
fn mac2_failure_is_not_paid_and_stays_pending_until_proof() {
    let dir = TestDir::new("mac2");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 2_000);
    let mut rsp = card.debit_purchase(&auth.command).unwrap();
    let genuine = rsp;
    rsp.mac2[7] ^= 0x01;
    let err = sam.complete_purchase(auth.sam_seq, &rsp).unwrap_err();
    assert!(matches!(err, SamError::Mac2Invalid { sam_seq } if sam_seq == auth.sam_seq));
    assert!(err.to_string().contains("NOT paid"));
    assert!(sam.state().journal().is_empty());
    assert_eq!(sam.pending_purchases().len(), 1);

    // A balance the MAC2 does not cover is refused the same way.
    let mut lying = genuine;
    lying.balance = amount(49_000);
    assert!(matches!(
        sam.complete_purchase(auth.sam_seq, &lying),
        Err(SamError::Mac2Invalid { .. })
    ));

    // The card did debit: its proof completes the purchase, exactly once.
    let proof = proof_for(&sam, &card, auth.sam_seq);
    match sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, proof))
        .unwrap()
    {
        Recovery::Completed(record) => {
            assert_eq!(record.record.amount, amount(2_000));
            assert_eq!(record.tac, genuine.tac);
        }
        other => panic!("expected completion, got {other:?}"),
    }
    assert_eq!(sam.state().journal().len(), 1);
    assert!(sam.pending_purchases().is_empty());
}

#[test]
fn debit_never_sent_is_cancelled_from_the_counter() {
    let dir = TestDir::new("notsent");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 3_000);
    // The POS crashed before the DEBIT: the card's counter did not move.
    drop(sam);
    let mut sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    // A new sale with the card is refused until the pending one is resolved.
    let command = sam.initialize_purchase(Purse::Ecash, amount(100));
    let response = card.initialize_purchase(&command).unwrap();
    let err = sam
        .begin_purchase(PurchaseStart {
            serial: SERIAL,
            command,
            response,
            datetime: dt("2026-11-20T10:05:00"),
            pin_verified: false,
        })
        .unwrap_err();
    assert!(matches!(err, SamError::PendingOnCard { sam_seq, .. } if sam_seq == auth.sam_seq));

    match sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, None))
        .unwrap()
    {
        Recovery::Cancelled(v) => assert_eq!(v.reason, VoidReason::CounterNotReached),
        other => panic!("expected cancellation, got {other:?}"),
    }
    assert!(sam.pending_purchases().is_empty());
    assert!(sam.state().journal().is_empty());
    assert_eq!(card.balance(Purse::Ecash), 50_000);
    assert_eq!(sam.status().recently_voided.len(), 1);
    // The old DEBIT can no longer be completed in the SAM, even if replayed to the card.
    assert!(matches!(
        sam.complete_purchase(
            auth.sam_seq,
            &apdu_spec::DebitPurchaseResponse {
                balance: amount(47_000),
                mac2: [0; 8],
                tac: [0; 8]
            }
        ),
        Err(SamError::UnknownPurchase { .. })
    ));
}

#[test]
fn response_lost_after_debit_is_completed_from_the_proof() {
    let dir = TestDir::new("lost");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 4_000);
    let _lost = card.debit_purchase(&auth.command).unwrap();
    drop(sam); // POS killed before the answer reached the SAM

    let mut sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    // Counter reached: the SAM asks for the proof rather than guessing.
    let ask = sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, None))
        .unwrap();
    let get = match ask {
        Recovery::ProofNeeded(get) => get,
        other => panic!("expected ProofNeeded, got {other:?}"),
    };
    assert_eq!(get.counter, 1);
    assert_eq!(sam.pending_purchases().len(), 1);

    let proof = proof_for(&sam, &card, auth.sam_seq);
    let recovered = sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, proof))
        .unwrap();
    let Recovery::Completed(record) = recovered else {
        panic!("expected completion, got {recovered:?}");
    };
    assert!(card.tac_ok(&record.serial, &record.record, &record.tac));
    assert_eq!(sam.status().open.ecash.total, 4_000);
    // A second recovery finds nothing to do: no double credit.
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, proof)),
        Err(SamError::UnknownPurchase { .. })
    ));
    assert_eq!(sam.state().journal().len(), 1);
}

#[test]
fn counter_used_by_another_sale_cancels() {
    let dir = TestDir::new("elsewhere");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 1_000);
    // The DEBIT never reached the card; the card then paid at another merchant with the same
    // counter value.
    let other_dir = TestDir::new("elsewhere-other");
    let mut other = SoftwareSam::create(
        other_dir.paths(),
        common::sam_file_for(SamId([0x53, 0x4D, 0, 0, 0, 2]), "5411"),
        1,
        1,
    )
    .unwrap();
    let their = begin(&mut other, &mut card, Purse::Ecash, 900);
    card.debit_purchase(&their.command).unwrap();
    assert_eq!(card.purchase_counter(Purse::Ecash), 1);

    let proof = proof_for(&sam, &card, auth.sam_seq);
    match sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, proof))
        .unwrap()
    {
        Recovery::Cancelled(v) => assert_eq!(v.reason, VoidReason::CounterUsedElsewhere),
        other => panic!("expected cancellation, got {other:?}"),
    }
    assert!(sam.state().journal().is_empty());
}

#[test]
fn overwritten_proof_is_escalated_not_guessed() {
    let dir = TestDir::new("overwritten");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 500);
    card.debit_purchase(&auth.command).unwrap();
    // 16 later purchases elsewhere push the entry out of the card's log.
    let other_dir = TestDir::new("overwritten-other");
    let mut other = SoftwareSam::create(
        other_dir.paths(),
        common::sam_file_for(SamId([0x53, 0x4D, 0, 0, 0, 3]), "5411"),
        1,
        1,
    )
    .unwrap();
    for _ in 0..16 {
        let a = begin(&mut other, &mut card, Purse::Ecash, 10);
        let r = card.debit_purchase(&a.command).unwrap();
        other.complete_purchase(a.sam_seq, &r).unwrap();
    }
    let proof = proof_for(&sam, &card, auth.sam_seq);
    assert_eq!(proof, Some(ProofLookup::NotFound));
    let recovered = sam
        .recover_purchase(auth.sam_seq, &evidence(&card, Purse::Ecash, proof))
        .unwrap();
    let Recovery::Escalated(p) = recovered else {
        panic!("expected escalation, got {recovered:?}");
    };
    assert_eq!(
        p.status,
        PendingStatus::Escalated(sam::purchase::EscalationReason::ProofOverwritten)
    );
    assert!(sam.state().journal().is_empty());
    // Still pending (the issuer reconciles it), but it no longer blocks the card.
    assert_eq!(sam.pending_purchases().len(), 1);
    let next = begin(&mut sam, &mut card, Purse::Ecash, 100);
    let r = card.debit_purchase(&next.command).unwrap();
    sam.complete_purchase(next.sam_seq, &r).unwrap();
    // The escalation survives a restart.
    drop(sam);
    let sam = SoftwareSam::open(dir.paths(), common::sam_file()).unwrap();
    assert_eq!(sam.pending_purchases()[0].status, p.status);
    assert!(p.status.describe().contains("no longer holds"));
}

#[test]
fn forged_or_wrong_proofs_are_refused() {
    let dir = TestDir::new("forged");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 0);
    let auth = begin(&mut sam, &mut card, Purse::Ecash, 2_500);
    card.debit_purchase(&auth.command).unwrap();
    let Some(ProofLookup::Found(genuine)) = proof_for(&sam, &card, auth.sam_seq) else {
        panic!("card has the proof");
    };
    let found = |p: TransactionProof| evidence(&card, Purse::Ecash, Some(ProofLookup::Found(p)));

    // Evidence read from another card.
    let mut other_card = evidence(&card, Purse::Ecash, Some(ProofLookup::Found(genuine)));
    other_card.serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 0x02]);
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &other_card),
        Err(SamError::EvidenceFromOtherCard { .. })
    ));
    // A proof for another counter or purse does not answer the question asked.
    let mut wrong_counter = genuine;
    wrong_counter.record.counter = 2;
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &found(wrong_counter)),
        Err(SamError::WrongProof { .. })
    ));
    let mut wrong_purse = genuine;
    wrong_purse.record.purse = Purse::Food;
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &found(wrong_purse)),
        Err(SamError::WrongProof { .. })
    ));
    assert_eq!(
        sam.pending_purchases()[0].status,
        PendingStatus::AwaitingCard
    );

    // Our SAM and sequence but another amount: contradictory evidence, escalated.
    let mut contradicts = genuine;
    contradicts.record.amount = Amount::new(25).unwrap();
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &found(contradicts))
            .unwrap(),
        Recovery::Escalated(_)
    ));
    // A forged MAC2: escalated, never journaled.
    let mut forged = genuine;
    forged.mac2 = [0xAA; 8];
    match sam.recover_purchase(auth.sam_seq, &found(forged)).unwrap() {
        Recovery::Escalated(p) => assert_eq!(
            p.status,
            PendingStatus::Escalated(sam::purchase::EscalationReason::ProofMac2Invalid)
        ),
        other => panic!("expected escalation, got {other:?}"),
    }
    assert!(sam.state().journal().is_empty());
    // The genuine proof still completes an escalated purchase.
    assert!(matches!(
        sam.recover_purchase(auth.sam_seq, &found(genuine)).unwrap(),
        Recovery::Completed(_)
    ));
    assert_eq!(sam.state().journal().len(), 1);
}

#[test]
fn card_refusal_cancels_and_wrong_sam_or_key_version_is_refused() {
    let dir = TestDir::new("refuse");
    let mut sam = new_sam(&dir);
    let mut card = CardModel::new(SERIAL, 50_000, 10_000);

    // The card refuses the debit (e.g. 9406 food purse at a non-food MCC): cancelled.
    let dir_cafe = TestDir::new("refuse-cafe");
    let mut cafe = SoftwareSam::create(
        dir_cafe.paths(),
        common::sam_file_for(SamId([0x53, 0x4D, 0, 0, 0, 4]), "5732"),
        1,
        1,
    )
    .unwrap();
    let auth = begin(&mut cafe, &mut card, Purse::Food, 1_000);
    let sw = card.debit_purchase(&auth.command).unwrap_err();
    assert_eq!(sw, StatusWord::CategoryNotAllowed);
    let voided = cafe.purchase_declined(auth.sam_seq, sw).unwrap();
    assert_eq!(
        voided.reason,
        VoidReason::CardRefused(StatusWord::CategoryNotAllowed)
    );
    assert!(cafe.pending_purchases().is_empty());
    assert_eq!(card.balance(Purse::Food), 10_000);

    // An INITIALIZE PURCHASE naming another SAM, or a card of another key generation.
    let mut command = sam.initialize_purchase(Purse::Ecash, amount(100));
    let response = card.initialize_purchase(&command).unwrap();
    command.sam_id = SamId([9; 6]);
    let start = PurchaseStart {
        serial: SERIAL,
        command,
        response,
        datetime: dt("2026-11-20T11:00:00"),
        pin_verified: false,
    };
    assert!(matches!(
        sam.begin_purchase(start),
        Err(SamError::WrongSamId { .. })
    ));
    let mut other_kv = start;
    other_kv.command.sam_id = sam.profile().sam_id;
    other_kv.response.key_version = 2;
    assert!(matches!(
        sam.begin_purchase(other_kv),
        Err(SamError::KeyVersion { sam: 1, card: 2 })
    ));
    assert!(sam.pending_purchases().is_empty());
    assert_eq!(sam.status().last_sequence, 0);
}
