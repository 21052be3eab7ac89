//! Unconnected loads against a software card that checks AUTH and answers CONFIRM as SPEC 2.12
//! says: the happy path for both purses, a wrong CONFIRM, UC_MAX, the one-pending-load rule,
//! idempotency, and recovery from the card's evidence (TT 04 proof), each ending audit-clean.

mod support;

use apdu_spec::{
    code8, session_diversifier, tac_input, unconnected_auth_input, unconnected_confirm_input,
    Amount, Date, DateTime, Mcc, Purse, RecordType, StatusWord, TransactionProof,
    TransactionRecord, TxType,
};
use backoffice::{
    AccountRef, CardEvidence, Error, EvidenceError, IsmError, LoadOutcome, LoadState,
    ProofEvidence, Refusal, UnconnectedRequest,
};
use sam::KeyName;
use support::*;

fn expiry() -> Option<Date> {
    Some(Date::new(2026, 12, 31).unwrap())
}

fn assert_clean(bench: &mut Bench) {
    let report = bench.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
}

fn request(card: &SoftCard, purse: Purse, amount: i64) -> UnconnectedRequest {
    UnconnectedRequest {
        serial: card.serial,
        purse,
        amount,
        expiry: if purse == Purse::Food { expiry() } else { None },
    }
}

/// The card side of UNCONNECTED LOAD (SPEC 2.12), as far as these tests need it: the AUTH
/// check for CTR = load counter + 1, the credit, the TT 04 log entry and `code8(CONFIRM)`.
fn pocket_load(
    card: &mut SoftCard,
    purse: Purse,
    units: u32,
    expiry: Option<Date>,
    auth_code: u32,
) -> Result<(u32, u32), StatusWord> {
    let keys = master_keys();
    let k_load = sam::diversify(keys.get(KeyName::Load), &card.serial.0);
    let counter = card.purse(purse).load_counter + 1;
    let sk = sam::diversify(
        &k_load,
        &session_diversifier([0; 4], counter, TxType::UnconnectedLoad, purse.code()),
    );
    let amount = Amount::new(units).unwrap();
    let auth = code8(&sam::retail_mac_m2(
        &sk,
        &unconnected_auth_input(&card.serial, purse, counter, amount, expiry),
    ));
    if auth != auth_code {
        return Err(StatusWord::WrongCode { tries_left: 2 });
    }
    let state = card.purse_mut(purse);
    state.balance += units;
    state.load_counter = counter;
    let balance = state.balance;
    let record = TransactionRecord {
        record_type: RecordType::UnconnectedLoad,
        purse,
        counter,
        amount,
        balance: Amount::new(balance).unwrap(),
        terminal: [0; 6],
        sam_seq: 0,
        datetime: DateTime::new(Date::new(2026, 3, 16).unwrap(), 9, 0, 0).unwrap(),
        mcc: Mcc::NONE,
        flags: 0,
    };
    let k_tac = sam::diversify(keys.get(KeyName::Tac), &card.serial.0);
    let tac = sam::retail_mac_m2(&k_tac, &tac_input(&card.serial, &record));
    card.log.push(TransactionProof {
        record,
        tac,
        mac2: [0; 8],
    });
    let confirm = code8(&sam::retail_mac_m2(
        &sk,
        &unconnected_confirm_input(&card.serial, purse, counter, amount),
    ));
    Ok((balance, confirm))
}

fn uc_proof(card: &SoftCard, purse: Purse, counter: u16) -> ProofEvidence {
    card.log
        .iter()
        .find(|p| {
            p.record.record_type == RecordType::UnconnectedLoad
                && p.record.purse == purse
                && p.record.counter == counter
        })
        .map_or(ProofEvidence::NotFound, |p| ProofEvidence::Found(*p))
}

#[test]
fn an_unconnected_load_completes_on_the_cards_confirm_code() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 50_000, 50_000);
    let mut card = b.issue(customer);
    // A connected load first: the next unconnected load must use counter 2.
    card.load(&mut b.bo, Purse::Ecash, 10_000, None).unwrap();

    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 15_000))
            .unwrap();
    assert_eq!(auth.counter, 2);
    assert!(auth.auth_code < 100_000_000);
    assert!(!auth.replayed);
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        15_000
    );
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 25_000);
    assert_clean(&mut b);

    // Asking again shows the same code and reserves nothing more.
    let again =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 15_000))
            .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.load_id, again.auth_code),
        (auth.load_id, auth.auth_code)
    );
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 25_000);

    let (balance, confirm) =
        pocket_load(&mut card, Purse::Ecash, 15_000, None, auth.auth_code).unwrap();
    assert_eq!(balance, 25_000);
    let done =
        b.bo.confirm_unconnected_load(auth.load_id, confirm)
            .unwrap();
    assert_eq!(done.outcome, LoadOutcome::Completed);
    assert_eq!(done.load.state, LoadState::Completed);
    let again =
        b.bo.confirm_unconnected_load(auth.load_id, confirm)
            .unwrap();
    assert_eq!(again.outcome, LoadOutcome::AlreadyCompleted);

    let record = b.bo.card(&card.serial).unwrap();
    assert_eq!(record.ecash.float, 25_000);
    assert_eq!(record.ecash.load_counter, 2);
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        0
    );
    // The bank knows the counter: a connected load now uses counter 3.
    let next = card.load(&mut b.bo, Purse::Ecash, 1_000, None).unwrap();
    assert_eq!(next.counter, 3);
    assert_clean(&mut b);
}

#[test]
fn a_food_voucher_unconnected_load_binds_the_expiry() {
    let mut b = Bench::new();
    let customer = b.customer("Ravi", 0, 30_000);
    let mut card = b.issue(customer);
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Food, 20_000))
            .unwrap();
    assert_eq!(auth.counter, 1);
    // Another expiry typed into the pocket reader does not match the code.
    let other = Some(Date::new(2027, 1, 31).unwrap());
    assert!(pocket_load(&mut card, Purse::Food, 20_000, other, auth.auth_code).is_err());
    let (_, confirm) =
        pocket_load(&mut card, Purse::Food, 20_000, expiry(), auth.auth_code).unwrap();
    b.bo.confirm_unconnected_load(auth.load_id, confirm)
        .unwrap();
    assert_eq!(b.bo.card(&card.serial).unwrap().food.float, 20_000);
    assert_clean(&mut b);
}

#[test]
fn a_wrong_confirm_code_is_refused_and_the_load_stays_pending() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 50_000, 0);
    let mut card = b.issue(customer);
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 5_000))
            .unwrap();
    let (_, confirm) = pocket_load(&mut card, Purse::Ecash, 5_000, None, auth.auth_code).unwrap();
    let wrong = (confirm + 1) % 100_000_000;
    let err =
        b.bo.confirm_unconnected_load(auth.load_id, wrong)
            .unwrap_err();
    assert!(
        matches!(err, Error::Ism(IsmError::ConfirmInvalid)),
        "{err:?}"
    );
    assert_eq!(
        b.bo.unconnected_load(auth.load_id).unwrap().state,
        LoadState::Pending
    );
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        5_000
    );
    assert_clean(&mut b);
    let done =
        b.bo.confirm_unconnected_load(auth.load_id, confirm)
            .unwrap();
    assert_eq!(done.outcome, LoadOutcome::Completed);
    assert_clean(&mut b);
}

#[test]
fn an_amount_over_uc_max_or_the_funds_is_refused_and_moves_nothing() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 50_000, 0);
    let card = b.issue(customer);
    // UC_MAX of the test profile is 20 000.
    let err =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 20_001))
            .unwrap_err();
    assert_eq!(
        err.refusal(),
        Some(&Refusal::AmountOverLimit {
            amount: 20_001,
            limit: 20_000
        })
    );
    let poor = b.customer("Ravi", 1_000, 0);
    let card2 = b.issue(poor);
    let err =
        b.bo.begin_unconnected_load(&request(&card2, Purse::Ecash, 2_000))
            .unwrap_err();
    assert!(matches!(
        err.refusal(),
        Some(Refusal::InsufficientFunds { .. })
    ));
    let err =
        b.bo.begin_unconnected_load(&UnconnectedRequest {
            expiry: None,
            ..request(&card, Purse::Food, 1_000)
        })
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 50_000);
    assert!(b.bo.pending_loads(None).unwrap().is_empty());
    assert_clean(&mut b);
}

#[test]
fn one_unsettled_load_per_card_in_either_mode() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 50_000, 50_000);
    let mut card = b.issue(customer);
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 5_000))
            .unwrap();
    // Another unconnected load (other amount or purse) is refused...
    let err =
        b.bo.begin_unconnected_load(&request(&card, Purse::Food, 5_000))
            .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(Refusal::PendingLoad { load_id, .. }) if *load_id == auth.load_id.0)
    );
    // ...and so is a connected load.
    let err = card.load(&mut b.bo, Purse::Ecash, 1_000, None).unwrap_err();
    assert!(matches!(err.refusal(), Some(Refusal::PendingLoad { .. })));
    assert_eq!(b.bo.pending_loads(Some(&card.serial)).unwrap().len(), 1);
    assert!(b.bo.is_unconnected_load(auth.load_id).unwrap());
    assert_clean(&mut b);
}

#[test]
fn recovery_completes_from_the_tt04_proof_keeps_an_unused_code_and_escalates_a_lost_entry() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 60_000, 0);
    let mut card = b.issue(customer);

    // Used on the card, CONFIRM never reported: the proof completes it.
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 7_000))
            .unwrap();
    pocket_load(&mut card, Purse::Ecash, 7_000, None, auth.auth_code).unwrap();
    let evidence = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::NotAsked,
    };
    let err =
        b.bo.recover_unconnected_load(auth.load_id, &evidence)
            .unwrap_err();
    assert!(matches!(
        err,
        Error::Evidence(EvidenceError::ProofNeeded { counter: 1, .. })
    ));
    // A record of another type (as if TT 01) is not this load's: nothing changes.
    let ProofEvidence::Found(mut other) = uc_proof(&card, Purse::Ecash, 1) else {
        panic!("the card logged the unconnected load");
    };
    other.record.record_type = RecordType::Load;
    let err =
        b.bo.recover_unconnected_load(
            auth.load_id,
            &CardEvidence {
                status: card.status(),
                proof: ProofEvidence::Found(other),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Evidence(EvidenceError::ProofMismatch(_))),
        "{err:?}"
    );
    assert_eq!(
        b.bo.unconnected_load(auth.load_id).unwrap().state,
        LoadState::Pending
    );
    // Its own entry with a TAC that does not verify: nothing changes either.
    let ProofEvidence::Found(mut forged) = uc_proof(&card, Purse::Ecash, 1) else {
        panic!("the card logged the unconnected load");
    };
    forged.tac[0] ^= 1;
    let err =
        b.bo.recover_unconnected_load(
            auth.load_id,
            &CardEvidence {
                status: card.status(),
                proof: ProofEvidence::Found(forged),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Evidence(EvidenceError::TacInvalid)),
        "{err:?}"
    );
    // Its own TT 04 entry with a valid TAC completes it.
    let evidence = CardEvidence {
        status: card.status(),
        proof: uc_proof(&card, Purse::Ecash, 1),
    };
    let done =
        b.bo.recover_unconnected_load(auth.load_id, &evidence)
            .unwrap();
    assert_eq!(done.outcome, LoadOutcome::Completed);
    assert_eq!(done.load.balance_after, Some(7_000));
    let again =
        b.bo.recover_unconnected_load(auth.load_id, &evidence)
            .unwrap();
    assert_eq!(again.outcome, LoadOutcome::AlreadyCompleted);
    assert_clean(&mut b);

    // Not typed yet: the card's counter is below CTR. The code still works on the card, so
    // nothing is released (by either recovery path); the cardholder then types it after all
    // and the proof completes it.
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 3_000))
            .unwrap();
    assert_eq!(auth.counter, 2);
    let evidence = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::NotAsked,
    };
    for via_connected_path in [false, true] {
        let err = if via_connected_path {
            b.bo.recover_load(auth.load_id, &evidence).unwrap_err()
        } else {
            b.bo.recover_unconnected_load(auth.load_id, &evidence)
                .unwrap_err()
        };
        assert!(
            matches!(
                err,
                backoffice::Error::Evidence(backoffice::EvidenceError::UnconnectedCodeUnused {
                    counter: 2
                })
            ),
            "{err:?}"
        );
    }
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 50_000);
    assert_clean(&mut b);
    pocket_load(&mut card, Purse::Ecash, 3_000, None, auth.auth_code).unwrap();
    let evidence = CardEvidence {
        status: card.status(),
        proof: uc_proof(&card, Purse::Ecash, 2),
    };
    let done = b.bo.recover_load(auth.load_id, &evidence).unwrap();
    assert_eq!(done.outcome, LoadOutcome::Completed);
    assert_clean(&mut b);

    // The card used the counter but its log no longer shows the entry: escalated.
    let auth =
        b.bo.begin_unconnected_load(&request(&card, Purse::Ecash, 2_000))
            .unwrap();
    pocket_load(&mut card, Purse::Ecash, 2_000, None, auth.auth_code).unwrap();
    card.log.clear();
    let evidence = CardEvidence {
        status: card.status(),
        proof: uc_proof(&card, Purse::Ecash, auth.counter),
    };
    let done =
        b.bo.recover_unconnected_load(auth.load_id, &evidence)
            .unwrap();
    assert_eq!(done.outcome, LoadOutcome::Escalated);
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        2_000
    );
    assert_clean(&mut b);
}

#[test]
fn a_connected_load_is_not_an_unconnected_one() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 60_000, 0);
    let mut card = b.issue(customer);
    let auth = card.load(&mut b.bo, Purse::Ecash, 1_000, None).unwrap();
    assert!(!b.bo.is_unconnected_load(auth.load_id).unwrap());
    assert!(matches!(
        b.bo.confirm_unconnected_load(auth.load_id, 0).unwrap_err(),
        Error::Invalid(_)
    ));
}
