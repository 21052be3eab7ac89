//! The audit: clean after real flows, and catching every kind of hand-made discrepancy.

mod support;

use apdu_spec::{Date, Purse};
use backoffice::{Discrepancy, LoadId};
use rusqlite::Connection;
use support::*;

/// A ledger with deposits, two completed loads, a released one and a pending one.
fn busy_ledger() -> (Bench, LoadId) {
    let mut b = Bench::new();
    let asha = b.customer("Asha", 90_000, 200_000);
    let ravi = b.customer("Ravi", 10_000, 0);
    let mut card = b.issue(asha);
    card.load(&mut b.bo, Purse::Ecash, 40_000, None).unwrap();
    card.load(
        &mut b.bo,
        Purse::Food,
        150_000,
        Some(Date::new(2027, 1, 31).unwrap()),
    )
    .unwrap();
    let mut second = b.issue(ravi);
    let x = second.initialize_load(Purse::Ecash, 5_000, None).unwrap();
    let released = b.bo.begin_load(&second.request(x)).unwrap();
    b.bo.release_load(
        released.load_id,
        backoffice::ReleaseReason::CardRefusedCredit(apdu_spec::StatusWord::MacInvalid),
    )
    .unwrap();
    let x = second.initialize_load(Purse::Ecash, 6_000, None).unwrap();
    let pending = b.bo.begin_load(&second.request(x)).unwrap();
    (b, pending.load_id)
}

#[test]
fn a_busy_ledger_audits_clean_with_the_right_totals() {
    let (mut b, _) = busy_ledger();
    let report = b.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    let t = report.totals;
    assert_eq!(t.deposited, 300_000);
    assert_eq!(t.customer_ecash, 50_000 + 4_000);
    assert_eq!(t.customer_food, 50_000);
    assert_eq!(t.pending_ecash, 6_000);
    assert_eq!(t.float_ecash, 40_000);
    assert_eq!(t.float_food, 150_000);
    assert_eq!(t.accounted_for(), 300_000);
    assert_eq!(
        (
            t.loads_pending,
            t.loads_completed,
            t.loads_released,
            t.loads_escalated
        ),
        (1, 2, 1, 0)
    );
    assert_eq!((t.customers, t.cards), (2, 2));
    let text = t.describe(&b.bo.currency());
    assert!(
        text.contains("cash deposited           3000.00 INR"),
        "{text}"
    );
}

/// Runs `sql` behind the back office's back and returns what the audit finds.
fn tampered(sql: &str) -> Vec<Discrepancy> {
    let (b, _) = busy_ledger();
    let (_dir, path) = b.close();
    Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    let mut bo =
        backoffice::Backoffice::open(&path, ism(), &backoffice::Config::default()).unwrap();
    let report = bo.audit().unwrap();
    assert!(!report.is_clean(), "audit missed: {sql}");
    report.discrepancies
}

#[test]
fn an_unbalanced_transfer_is_caught() {
    let found = tampered(
        "UPDATE postings SET amount = amount + 1 WHERE id = (SELECT max(id) FROM postings);",
    );
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::UnbalancedTransfer { sum: 1, .. })));
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::BalanceMismatch { .. })));
}

#[test]
fn a_transfer_with_one_posting_is_caught() {
    let found = tampered(
        "INSERT INTO transfers (kind, reference, created_at) VALUES ('deposit', 'forged', 0);",
    );
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::TooFewPostings { postings: 0, .. })));
}

#[test]
fn a_hand_edited_balance_is_caught() {
    let found =
        tampered("UPDATE accounts SET balance = balance + 100 WHERE code = 'customer/1/ecash';");
    assert!(found.iter().any(|d| matches!(
        d,
        Discrepancy::BalanceMismatch { account, computed: 50_000, recorded: 50_100 } if account == "customer/1/ecash"
    )));
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::LedgerNotZero { sum: 100 })));
}

#[test]
fn money_from_nowhere_is_caught() {
    // A balanced transfer from cash without a recorded deposit.
    let found = tampered(
        "INSERT INTO transfers (kind, reference, created_at) VALUES ('deposit', 'forged', 0);
         INSERT INTO postings (transfer_id, account_id, amount)
             SELECT max(t.id), (SELECT id FROM accounts WHERE code = 'cash'), -500 FROM transfers t;
         INSERT INTO postings (transfer_id, account_id, amount)
             SELECT max(t.id), (SELECT id FROM accounts WHERE code = 'customer/2/ecash'), 500 FROM transfers t;
         UPDATE accounts SET balance = balance - 500 WHERE code = 'cash';
         UPDATE accounts SET balance = balance + 500 WHERE code = 'customer/2/ecash';",
    );
    assert_eq!(
        found,
        [Discrepancy::DepositsMismatch {
            cash: 300_500,
            deposits: 300_000
        }]
    );
}

#[test]
fn a_card_float_that_does_not_match_is_caught() {
    let found = tampered("UPDATE card_purses SET float = float + 5 WHERE purse = 2 AND float > 0;");
    assert_eq!(
        found,
        [Discrepancy::FloatMismatch {
            purse: Purse::Food,
            account: 150_000,
            cards: 150_005
        }]
    );
}

#[test]
fn a_negative_account_is_caught() {
    let found = tampered(
        "UPDATE accounts SET balance = -1 WHERE code = 'customer/2/food';
         INSERT INTO transfers (kind, reference, created_at) VALUES ('deposit', 'x', 0);
         INSERT INTO postings (transfer_id, account_id, amount)
             SELECT max(t.id), (SELECT id FROM accounts WHERE code = 'customer/2/food'), -1 FROM transfers t;
         INSERT INTO postings (transfer_id, account_id, amount)
             SELECT max(t.id), (SELECT id FROM accounts WHERE code = 'cash'), 1 FROM transfers t;
         UPDATE accounts SET balance = balance + 1 WHERE code = 'cash';",
    );
    assert!(found.iter().any(|d| matches!(
        d,
        Discrepancy::WrongSign { account, balance: -1 } if account == "customer/2/food"
    )));
}

#[test]
fn a_load_record_out_of_step_with_the_ledger_is_caught() {
    let found = tampered("UPDATE loads SET state = 'pending', final_transfer_id = NULL WHERE state = 'completed' AND purse = 1;");
    assert!(found.iter().any(|d| matches!(
        d,
        Discrepancy::PendingMismatch {
            purse: Purse::Ecash,
            account: 6_000,
            loads: 46_000
        }
    )));
    let found = tampered("UPDATE loads SET state = 'released' WHERE state = 'pending';");
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::LoadInconsistent { .. })));
    assert!(found
        .iter()
        .any(|d| matches!(d, Discrepancy::PendingMismatch { loads: 0, .. })));
}
