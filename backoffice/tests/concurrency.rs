//! Concurrent loads on one customer account, from several threads with their own connections
//! to the same ledger file, never overdraw it and never lose or create value.

mod support;

use std::sync::{Arc, Barrier};

use apdu_spec::Purse;
use backoffice::{Error, Refusal};
use support::*;

const THREADS: usize = 6;
const ATTEMPTS: usize = 6;
const AMOUNT: u32 = 3_000;
const FUNDS: i64 = 50_000; // 16 loads of 30.00, with 20.00 left over

#[test]
fn concurrent_loads_never_overdraw_one_account() {
    let mut b = Bench::new();
    let customer = b.customer("Shared", FUNDS, 0);
    // One card per station: a card carries at most one unsettled load.
    let cards: Vec<_> = (0..THREADS).map(|_| b.issue(customer)).collect();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = cards
        .into_iter()
        .map(|mut card| {
            let mut bo = b.reopen();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let (mut granted, mut refused) = (0u32, 0u32);
                for _ in 0..ATTEMPTS {
                    match card.load(&mut bo, Purse::Ecash, AMOUNT, None) {
                        Ok(_) => granted += 1,
                        Err(Error::Refused(Refusal::InsufficientFunds {
                            available,
                            requested,
                        })) => {
                            assert!(available < requested && available >= 0);
                            refused += 1;
                        }
                        Err(other) => panic!("unexpected: {other}"),
                    }
                }
                (granted, refused, card.ecash.balance)
            })
        })
        .collect();
    let mut granted = 0;
    let mut on_cards = 0i64;
    for handle in handles {
        let (g, r, balance) = handle.join().expect("station thread");
        assert_eq!(g + r, ATTEMPTS as u32);
        assert_eq!(i64::from(balance), i64::from(g * AMOUNT));
        granted += g;
        on_cards += i64::from(balance);
    }
    assert_eq!(granted, (FUNDS / i64::from(AMOUNT)) as u32);
    let left = b.bo.customer_balances(customer).unwrap().ecash;
    assert_eq!(left, FUNDS - on_cards);
    assert_eq!(left, 2_000);
    let report = b.bo.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    assert_eq!(report.totals.float_ecash, on_cards);
    assert_eq!(
        b.bo.refusals().unwrap().len(),
        THREADS * ATTEMPTS - granted as usize
    );
}
