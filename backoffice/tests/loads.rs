//! Load authorisation end to end against a software card: the happy path for both purses,
//! every refusal, idempotent completion and release, and recovery from every kind of evidence.

mod support;

use apdu_spec::{CreditLoadResponse, Date, Purse, StatusWord};
use backoffice::{
    AccountRef, CardEvidence, CardStatus, Error, EvidenceError, IssuerDecision, LoadOutcome,
    LoadState, ProofEvidence, Refusal, ReleaseReason,
};
use support::*;

fn expiry() -> Option<Date> {
    Some(Date::new(2026, 12, 31).unwrap())
}

fn assert_clean(bench: &mut Bench) {
    let report = bench.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
}

#[test]
fn connected_loads_move_customer_and_card_by_the_same_amount() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 80_000, 150_000);
    let mut card = b.issue(customer);

    let auth = card.load(&mut b.bo, Purse::Ecash, 50_000, None).unwrap();
    assert!(!auth.replayed);
    assert_eq!(auth.counter, 1);
    card.load(&mut b.bo, Purse::Food, 120_000, expiry())
        .unwrap();

    let balances = b.bo.customer_balances(customer).unwrap();
    assert_eq!((balances.ecash, balances.food), (30_000, 30_000));
    assert_eq!(card.ecash.balance, 50_000);
    assert_eq!(card.food.balance, 120_000);
    let record = b.bo.card(&card.serial).unwrap();
    assert_eq!(record.ecash.float, 50_000);
    assert_eq!(record.ecash.load_counter, 1);
    assert_eq!(record.ecash.seen_balance, Some(50_000));
    assert_eq!(record.food.float, 120_000);
    assert_eq!(
        b.bo.balance(AccountRef::CardFloat(Purse::Ecash)).unwrap(),
        50_000
    );
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        0
    );

    let load = b.bo.load(auth.load_id).unwrap();
    assert_eq!(load.state, LoadState::Completed);
    assert_eq!(load.balance_after, Some(50_000));
    assert_eq!(load.datetime.to_string(), "2026-03-15T10:30:00");
    assert!(b.bo.pending_loads(None).unwrap().is_empty());

    let report = b.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    assert_eq!(report.totals.deposited, 230_000);
    assert_eq!(
        report.totals.float_ecash + report.totals.float_food,
        170_000
    );
    assert_eq!(report.totals.loads_completed, 2);
}

#[test]
fn the_datetime_follows_the_installation_offset() {
    let b = Bench::new();
    let mut bo = backoffice::Backoffice::open_with_clock(
        b.path(),
        b.ism.clone(),
        &backoffice::Config {
            utc_offset_minutes: 330,
            ..Default::default()
        },
        b.clock.clone(),
    )
    .unwrap();
    let customer = bo.create_customer("Ravi").unwrap().id;
    bo.deposit_cash(&backoffice::CashDeposit {
        customer,
        purse: Purse::Ecash,
        amount: 1_000,
        reference: "R1".into(),
        teller: "t".into(),
    })
    .unwrap();
    let mut card = issue(&mut bo, customer);
    let auth = card.load(&mut bo, Purse::Ecash, 1_000, None).unwrap();
    assert_eq!(auth.credit_load.datetime.to_string(), "2026-03-15T16:00:00");
}

fn refusal_of(result: backoffice::Result<impl std::fmt::Debug>) -> Refusal {
    match result {
        Err(Error::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_refusal_moves_nothing_and_is_recorded() {
    let mut b = Bench::new();
    let customer = b.customer("Meera", 30_000, 0);
    let mut card = b.issue(customer);

    // Insufficient funds.
    let x = card.initialize_load(Purse::Ecash, 40_000, None).unwrap();
    let r = refusal_of(b.bo.begin_load(&card.request(x)));
    assert_eq!(
        r,
        Refusal::InsufficientFunds {
            available: 30_000,
            requested: 40_000
        }
    );
    assert!(r
        .describe(&b.bo.currency())
        .contains("holds 300.00 INR, the load needs 400.00 INR"));

    // Amount over the card's per-load limit (the registry's, stricter than the card's here).
    let mut tight = limits();
    tight.ecash_max_amount = amount(10_000);
    b.bo.record_card_limits(&card.serial, tight).unwrap();
    let x = card.initialize_load(Purse::Ecash, 20_000, None).unwrap();
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request(x))),
        Refusal::AmountOverLimit {
            amount: 20_000,
            limit: 10_000
        }
    );
    b.bo.record_card_limits(&card.serial, limits()).unwrap();

    // Balance over the maximum (the registry's, lowered by SET LIMITS the card missed).
    let mut lower = limits();
    lower.ecash_max_balance = amount(50_000);
    lower.ecash_max_amount = amount(50_000);
    b.bo.record_card_limits(&card.serial, lower).unwrap();
    card.ecash.balance = 45_000; // as if loaded elsewhere; the card's MAC1 covers it
    let x = card.initialize_load(Purse::Ecash, 6_000, None).unwrap();
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request(x))),
        Refusal::BalanceOverMax {
            would_hold: 51_000,
            max_balance: 50_000
        }
    );
    card.ecash.balance = 0;
    b.bo.record_card_limits(&card.serial, limits()).unwrap();

    // MAC failure.
    let (command, mut response) = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    response.mac1[7] ^= 0x01;
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request((command, response)))),
        Refusal::Mac1Invalid
    );
    // A changed amount breaks MAC1 too.
    let (mut command, response) = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    command.amount = amount(2_000);
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request((command, response)))),
        Refusal::Mac1Invalid
    );

    // Unknown card.
    let mut stranger = support::SoftCard::blank(&master_keys());
    let challenge = stranger.get_challenge();
    let perso = b.ism.personalize_purse(
        apdu_spec::Serial([0x45, 0x50, 9, 9, 9, 9, 9, 9]),
        &profile(),
        challenge,
    );
    stranger.personalize(&perso.unwrap()).unwrap();
    let x = stranger.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    assert!(matches!(
        refusal_of(b.bo.begin_load(&stranger.request(x))),
        Refusal::UnknownCard { .. }
    ));

    // Blocked card.
    b.bo.set_card_status(&card.serial, CardStatus::Blocked)
        .unwrap();
    let x = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request(x))),
        Refusal::CardBlocked {
            serial: card.serial
        }
    );
    b.bo.set_card_status(&card.serial, CardStatus::Active)
        .unwrap();

    // Expiry already past.
    let x = card
        .initialize_load(Purse::Food, 1_000, Some(Date::new(2026, 3, 14).unwrap()))
        .unwrap();
    assert!(matches!(
        refusal_of(b.bo.begin_load(&card.request(x))),
        Refusal::ExpiryPast { .. }
    ));

    // Nothing moved; every refusal is in the log with its code.
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 30_000);
    assert!(b.bo.pending_loads(None).unwrap().is_empty());
    let codes: Vec<String> =
        b.bo.refusals()
            .unwrap()
            .into_iter()
            .map(|r| r.code)
            .collect();
    assert_eq!(
        codes,
        [
            "insufficient_funds",
            "amount_over_limit",
            "balance_over_max",
            "mac_failure",
            "mac_failure",
            "unknown_card",
            "card_blocked",
            "expiry_past"
        ]
    );
    assert_clean(&mut b);

    // After all that, the right load goes through.
    card.load(&mut b.bo, Purse::Ecash, 30_000, None).unwrap();
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 0);
    assert_clean(&mut b);
}

#[test]
fn malformed_requests_are_invalid_not_refusals() {
    let mut b = Bench::new();
    let customer = b.customer("Kiran", 10_000, 10_000);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 1_000, expiry()).unwrap();
    assert!(matches!(
        b.bo.begin_load(&card.request(x)),
        Err(Error::Invalid(_))
    ));
    let x = card.initialize_load(Purse::Food, 1_000, None).unwrap();
    assert!(matches!(
        b.bo.begin_load(&card.request(x)),
        Err(Error::Invalid(_))
    ));
    let (command, mut response) = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    response.key_version = 2;
    assert!(matches!(
        b.bo.begin_load(&card.request((command, response))),
        Err(Error::Invalid(_))
    ));
    let (mut command, mut response) = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    command.key_version = 0;
    response.key_version = 2;
    assert!(matches!(
        refusal_of(b.bo.begin_load(&card.request((command, response)))),
        Refusal::KeyVersion {
            card: 2,
            expected: 1,
            ..
        }
    ));
    assert!(b.bo.refusals().unwrap().len() == 1);
}

#[test]
fn begin_and_complete_are_idempotent() {
    let mut b = Bench::new();
    let customer = b.customer("Dev", 50_000, 0);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 20_000, None).unwrap();
    let request = card.request(x);
    let first = b.bo.begin_load(&request).unwrap();
    let again = b.bo.begin_load(&request).unwrap();
    assert!(again.replayed);
    assert_eq!(again.load_id, first.load_id);
    assert_eq!(again.credit_load, first.credit_load);
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 30_000);

    let response = card.credit_load(&first.credit_load).unwrap();
    let done = b.bo.complete_load(first.load_id, &response).unwrap();
    assert_eq!(done.outcome, LoadOutcome::Completed);
    let twice = b.bo.complete_load(first.load_id, &response).unwrap();
    assert_eq!(twice.outcome, LoadOutcome::AlreadyCompleted);
    assert_eq!(
        b.bo.balance(AccountRef::CardFloat(Purse::Ecash)).unwrap(),
        20_000
    );
    // A retried begin after completion still answers the same authorisation.
    assert!(b.bo.begin_load(&request).unwrap().replayed);
    // A different CREDIT LOAD response for a completed load is a conflict.
    let mut other = response;
    other.tac[0] ^= 1;
    assert!(matches!(
        b.bo.complete_load(first.load_id, &other),
        Err(Error::Conflict(_))
    ));
    // A completed load is never released.
    assert!(matches!(
        b.bo.release_load(
            first.load_id,
            ReleaseReason::CardRefusedCredit(StatusWord::MacInvalid)
        ),
        Err(Error::Conflict(_))
    ));
    assert_clean(&mut b);
}

#[test]
fn a_bad_tac_leaves_the_load_pending_until_recovered() {
    let mut b = Bench::new();
    let customer = b.customer("Lata", 50_000, 0);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let auth = b.bo.begin_load(&card.request(x)).unwrap();
    let response = card.credit_load(&auth.credit_load).unwrap();
    let forged = CreditLoadResponse {
        balance: response.balance,
        tac: [0x42; 8],
    };
    assert!(matches!(
        b.bo.complete_load(auth.load_id, &forged),
        Err(Error::Evidence(EvidenceError::TacInvalid))
    ));
    assert_eq!(b.bo.load(auth.load_id).unwrap().state, LoadState::Pending);
    let events = b.bo.load_events(auth.load_id).unwrap();
    assert_eq!(events.last().unwrap().1, "tac_invalid");
    // The card did credit: its proof settles it.
    let evidence = CardEvidence {
        status: card.status(),
        proof: card.proof(Purse::Ecash, auth.counter),
    };
    let r = b.bo.recover_load(auth.load_id, &evidence).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Completed);
    assert_eq!(r.load.balance_after, Some(10_000));
    assert_clean(&mut b);
}

#[test]
fn release_on_the_cards_refusal_is_idempotent_and_needs_a_definitive_status() {
    let mut b = Bench::new();
    let customer = b.customer("Nita", 50_000, 0);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let auth = b.bo.begin_load(&card.request(x)).unwrap();
    let mut bad = auth.credit_load;
    bad.mac2[0] ^= 1;
    assert_eq!(card.credit_load(&bad), Err(StatusWord::MacInvalid));

    for sw in [
        StatusWord::Internal,
        StatusWord::Unknown(0x6400),
        StatusWord::Ok,
    ] {
        assert!(matches!(
            b.bo.release_load(auth.load_id, ReleaseReason::CardRefusedCredit(sw)),
            Err(Error::Evidence(EvidenceError::NotDefinitive(_)))
        ));
    }
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 40_000);
    let reason = ReleaseReason::CardRefusedCredit(StatusWord::MacInvalid);
    let r = b.bo.release_load(auth.load_id, reason).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Released);
    assert_eq!(r.load.state, LoadState::Released);
    assert_eq!(
        b.bo.release_load(auth.load_id, reason).unwrap().outcome,
        LoadOutcome::AlreadyReleased
    );
    assert_eq!(b.bo.customer_balances(customer).unwrap().ecash, 50_000);
    // A released load cannot be completed afterwards.
    let response = CreditLoadResponse {
        balance: amount(10_000),
        tac: [0; 8],
    };
    assert!(matches!(
        b.bo.complete_load(auth.load_id, &response),
        Err(Error::Conflict(_))
    ));
    // The card's counter did not move: the next load reuses CTR 1.
    let next = card.load(&mut b.bo, Purse::Ecash, 5_000, None).unwrap();
    assert_eq!(next.counter, 1);
    assert_clean(&mut b);
}

#[test]
fn a_second_load_waits_for_recovery_of_the_first() {
    let mut b = Bench::new();
    let customer = b.customer("Om", 50_000, 50_000);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let first = b.bo.begin_load(&card.request(x)).unwrap();
    // The card is pulled before CREDIT LOAD; the station starts again, on either purse.
    for purse in [Purse::Ecash, Purse::Food] {
        let x = card
            .initialize_load(purse, 1_000, expiry().filter(|_| purse == Purse::Food))
            .unwrap();
        assert_eq!(
            refusal_of(b.bo.begin_load(&card.request(x))),
            Refusal::PendingLoad {
                serial: card.serial,
                load_id: first.load_id.0,
                purse: Purse::Ecash,
                counter: 1
            }
        );
    }
    let pending = b.bo.pending_loads(Some(&card.serial)).unwrap();
    assert_eq!(pending.len(), 1);
    let evidence = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::NotAsked,
    };
    let r = b.bo.recover_load(pending[0].id, &evidence).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Released);
    card.load(&mut b.bo, Purse::Ecash, 10_000, None).unwrap();
    assert_clean(&mut b);
}

#[test]
fn recovery_decides_from_every_kind_of_evidence() {
    let mut b = Bench::new();
    let customer = b.customer("Pia", 100_000, 300_000);
    let mut card = b.issue(customer);
    let mut other = b.issue(customer);

    // 1. Card pulled after CREDIT LOAD, response lost: counter ≥ CTR, proof found → completed.
    let x = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let auth = b.bo.begin_load(&card.request(x)).unwrap();
    card.credit_load(&auth.credit_load).unwrap();
    // Evidence from another card is refused.
    let wrong = CardEvidence {
        status: other.status(),
        proof: ProofEvidence::NotAsked,
    };
    assert!(matches!(
        b.bo.recover_load(auth.load_id, &wrong),
        Err(Error::Evidence(EvidenceError::WrongCard { .. }))
    ));
    // Counter reached, but no proof asked: the back office asks for it.
    let no_proof = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::NotAsked,
    };
    assert!(matches!(
        b.bo.recover_load(auth.load_id, &no_proof),
        Err(Error::Evidence(EvidenceError::ProofNeeded {
            counter: 1,
            ..
        }))
    ));
    // A tampered proof is refused; the load stays pending.
    let ProofEvidence::Found(mut proof) = card.proof(Purse::Ecash, 1) else {
        panic!("proof")
    };
    proof.tac[3] ^= 0x10;
    let tampered = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::Found(proof),
    };
    assert!(matches!(
        b.bo.recover_load(auth.load_id, &tampered),
        Err(Error::Evidence(EvidenceError::TacInvalid))
    ));
    proof.tac[3] ^= 0x10;
    proof.record.amount = amount(20_000);
    let mismatch = CardEvidence {
        status: card.status(),
        proof: ProofEvidence::Found(proof),
    };
    assert!(matches!(
        b.bo.recover_load(auth.load_id, &mismatch),
        Err(Error::Evidence(EvidenceError::ProofMismatch(_)))
    ));
    assert_eq!(b.bo.load(auth.load_id).unwrap().state, LoadState::Pending);
    let good = CardEvidence {
        status: card.status(),
        proof: card.proof(Purse::Ecash, 1),
    };
    let r = b.bo.recover_load(auth.load_id, &good).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Completed);
    assert_eq!(
        b.bo.recover_load(auth.load_id, &good).unwrap().outcome,
        LoadOutcome::AlreadyCompleted
    );
    assert_clean(&mut b);

    // 2. Card pulled before CREDIT LOAD: counter < CTR → released (proof not needed).
    let x = card.initialize_load(Purse::Food, 50_000, expiry()).unwrap();
    let auth = b.bo.begin_load(&card.request(x)).unwrap();
    let evidence = CardEvidence {
        status: card.status(),
        proof: card.proof(Purse::Food, auth.counter),
    };
    assert_eq!(evidence.proof, ProofEvidence::NotFound);
    let r = b.bo.recover_load(auth.load_id, &evidence).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Released);
    assert_eq!(
        b.bo.recover_load(auth.load_id, &evidence).unwrap().outcome,
        LoadOutcome::AlreadyReleased
    );
    assert_eq!(b.bo.customer_balances(customer).unwrap().food, 300_000);
    assert_clean(&mut b);

    // 3. Counter ≥ CTR but the entry left the log (6A88): escalated, funds stay reserved,
    //    then settled by the issuer with a note.
    let x = other.initialize_load(Purse::Ecash, 7_000, None).unwrap();
    let auth = b.bo.begin_load(&other.request(x)).unwrap();
    other.credit_load(&auth.credit_load).unwrap();
    other.log.clear(); // as if 16 later transactions overwrote it
    let evidence = CardEvidence {
        status: other.status(),
        proof: other.proof(Purse::Ecash, auth.counter),
    };
    let r = b.bo.recover_load(auth.load_id, &evidence).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Escalated);
    assert_eq!(r.load.state, LoadState::Escalated);
    assert_eq!(
        b.bo.balance(AccountRef::PendingLoads(Purse::Ecash))
            .unwrap(),
        7_000
    );
    assert_eq!(b.bo.audit().unwrap().totals.loads_escalated, 1);
    assert_clean(&mut b);
    // Still escalated on the same evidence; a new load on that card waits.
    assert_eq!(
        b.bo.recover_load(auth.load_id, &evidence).unwrap().outcome,
        LoadOutcome::Escalated
    );
    assert!(matches!(
        b.bo.resolve_escalated_load(auth.load_id, IssuerDecision::Complete, "  "),
        Err(Error::Invalid(_))
    ));
    let r =
        b.bo.resolve_escalated_load(
            auth.load_id,
            IssuerDecision::Complete,
            "settlement batch 17 shows purchases after load counter 1",
        )
        .unwrap();
    assert_eq!(r.outcome, LoadOutcome::Completed);
    assert!(r.load.resolution.unwrap().starts_with("issuer decision"));
    assert!(matches!(
        b.bo.resolve_escalated_load(auth.load_id, IssuerDecision::Release, "again"),
        Err(Error::Conflict(_))
    ));
    assert_eq!(b.bo.card(&other.serial).unwrap().ecash.float, 7_000);
    assert_clean(&mut b);

    // 4. An escalated load the issuer releases.
    let x = other.initialize_load(Purse::Ecash, 3_000, None).unwrap();
    let auth = b.bo.begin_load(&other.request(x)).unwrap();
    let evidence = CardEvidence {
        status: other.status(),
        proof: ProofEvidence::NotAsked,
    };
    // Counter below CTR → released at once; escalation only comes from 6A88 at counter ≥ CTR.
    assert_eq!(
        b.bo.recover_load(auth.load_id, &evidence).unwrap().outcome,
        LoadOutcome::Released
    );
    assert_clean(&mut b);
}

#[test]
fn a_rewound_counter_is_refused() {
    let mut b = Bench::new();
    let customer = b.customer("Raj", 50_000, 0);
    let mut card = b.issue(customer);
    card.load(&mut b.bo, Purse::Ecash, 1_000, None).unwrap();
    card.load(&mut b.bo, Purse::Ecash, 1_000, None).unwrap();
    // A clone restored to an old image: counter 1 again.
    card.ecash.load_counter = 1;
    let x = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    assert_eq!(
        refusal_of(b.bo.begin_load(&card.request(x))),
        Refusal::CounterRewound {
            serial: card.serial,
            reported: 2,
            known: 2
        }
    );
    assert_clean(&mut b);
}

#[test]
fn loads_survive_a_restart_of_the_back_office() {
    let mut b = Bench::new();
    let customer = b.customer("Sam", 50_000, 0);
    let mut card = b.issue(customer);
    let x = card.initialize_load(Purse::Ecash, 25_000, None).unwrap();
    let auth = b.bo.begin_load(&card.request(x)).unwrap();
    let response = card.credit_load(&auth.credit_load).unwrap();
    // The back office process dies between authorisation and completion.
    let fresh = b.reopen();
    drop(std::mem::replace(&mut b.bo, fresh));
    let pending = b.bo.pending_loads(None).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].credit_load(), auth.credit_load);
    let r = b.bo.complete_load(auth.load_id, &response).unwrap();
    assert_eq!(r.outcome, LoadOutcome::Completed);
    assert_clean(&mut b);
}

#[test]
fn a_back_office_with_other_issuer_keys_cannot_authorise() {
    let mut b = Bench::new();
    let customer = b.customer("Uma", 10_000, 0);
    let mut card = b.issue(customer);
    let (_dir, path) = b.close();
    let keys = sam::MasterKeys::from_fn(2, |name| master_keys().get(name).clone());
    let ism2 = std::sync::Arc::new(backoffice::IssuerSecurityModule::new(keys).unwrap());
    let mut bo = backoffice::Backoffice::open(&path, ism2, &backoffice::Config::default()).unwrap();
    let x = card.initialize_load(Purse::Ecash, 1_000, None).unwrap();
    let err = bo.begin_load(&card.request(x)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ism(backoffice::IsmError::UnknownKeyVersion {
                requested: 1,
                held: 2
            })
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("load the matching master-key file"));
    assert_eq!(bo.customer_balances(customer).unwrap().ecash, 10_000);
}
