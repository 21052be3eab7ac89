//! The audit: checks the whole ledger in one consistent snapshot and returns the totals of the
//! value-conservation equation and every discrepancy found.
//!
//! Checked:
//!
//! - SQLite's own integrity check of the file;
//! - every transfer has at least two postings and they sum to zero;
//! - every account's recorded balance equals the sum of its postings, and keeps its sign rule
//!   (nothing but cash below zero, cash never above zero);
//! - all balances sum to zero, and cash deposited = customer accounts + pending loads + card
//!   float + merchants + in transit;
//! - the card float of each purse equals the sum of the per-card floats, none negative;
//! - the pending loads of each purse equal the sum of unsettled load records, and each load's
//!   transfers match its state;
//! - the cash account equals the sum of recorded deposits.

use core::fmt;

use apdu_spec::Purse;
use rusqlite::Connection;

use crate::backoffice::Backoffice;
use crate::error::Result;
use crate::ledger::{self, purse_name, AccountKind};
use crate::money::{Currency, MinorUnits};

/// The value-conservation totals, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditTotals {
    /// Cash taken in by tellers (the negated cash account).
    pub deposited: MinorUnits,
    /// Customers' e-Cash accounts.
    pub customer_ecash: MinorUnits,
    /// Customers' Food-Voucher accounts.
    pub customer_food: MinorUnits,
    /// Pending e-Cash loads.
    pub pending_ecash: MinorUnits,
    /// Pending Food-Voucher loads.
    pub pending_food: MinorUnits,
    /// e-Cash value on cards.
    pub float_ecash: MinorUnits,
    /// Food-Voucher value on cards.
    pub float_food: MinorUnits,
    /// Merchant accounts.
    pub merchants: MinorUnits,
    /// Settlement in transit.
    pub in_transit: MinorUnits,
    /// Number of transfers.
    pub transfers: i64,
    /// Number of customers.
    pub customers: i64,
    /// Number of cards registered.
    pub cards: i64,
    /// Loads pending (not escalated).
    pub loads_pending: i64,
    /// Loads escalated to the issuer.
    pub loads_escalated: i64,
    /// Loads completed.
    pub loads_completed: i64,
    /// Loads released.
    pub loads_released: i64,
}

impl AuditTotals {
    /// Everything the deposited cash should be found in.
    pub fn accounted_for(&self) -> i128 {
        [
            self.customer_ecash,
            self.customer_food,
            self.pending_ecash,
            self.pending_food,
            self.float_ecash,
            self.float_food,
            self.merchants,
            self.in_transit,
        ]
        .iter()
        .map(|&v| i128::from(v))
        .sum()
    }

    /// A multi-line summary with amounts in `currency`.
    pub fn describe(&self, currency: &Currency) -> String {
        let m = |v: MinorUnits| currency.display(v);
        format!(
            "cash deposited           {}\n\
             customer e-Cash accounts {}\n\
             customer Food accounts   {}\n\
             pending loads e-Cash     {}\n\
             pending loads Food       {}\n\
             value on cards e-Cash    {}\n\
             value on cards Food      {}\n\
             merchant accounts        {}\n\
             settlement in transit    {}\n\
             transfers {}, customers {}, cards {}, loads: {} pending, {} escalated, {} completed, {} released",
            m(self.deposited),
            m(self.customer_ecash),
            m(self.customer_food),
            m(self.pending_ecash),
            m(self.pending_food),
            m(self.float_ecash),
            m(self.float_food),
            m(self.merchants),
            m(self.in_transit),
            self.transfers,
            self.customers,
            self.cards,
            self.loads_pending,
            self.loads_escalated,
            self.loads_completed,
            self.loads_released
        )
    }
}

/// One thing wrong in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discrepancy {
    /// SQLite's integrity check failed.
    Integrity(String),
    /// A transfer's postings do not sum to zero.
    UnbalancedTransfer {
        /// Transfer id.
        transfer: i64,
        /// Their sum.
        sum: i128,
    },
    /// A transfer with fewer than two postings.
    TooFewPostings {
        /// Transfer id.
        transfer: i64,
        /// How many.
        postings: i64,
    },
    /// An account's recorded balance is not the sum of its postings.
    BalanceMismatch {
        /// Account code.
        account: String,
        /// Recorded.
        recorded: MinorUnits,
        /// Sum of postings.
        computed: i128,
    },
    /// An account broke its sign rule.
    WrongSign {
        /// Account code.
        account: String,
        /// Its balance.
        balance: MinorUnits,
    },
    /// All balances do not sum to zero.
    LedgerNotZero {
        /// The sum.
        sum: i128,
    },
    /// Deposited cash is not found in the accounts.
    Conservation {
        /// Cash deposited.
        deposited: MinorUnits,
        /// Sum of everything else.
        accounted_for: i128,
    },
    /// The card-float account of a purse is not the sum of the cards' floats.
    FloatMismatch {
        /// The purse.
        purse: Purse,
        /// The account.
        account: MinorUnits,
        /// Sum over cards.
        cards: i128,
    },
    /// A card purse's float is negative.
    CardFloatNegative {
        /// Card serial.
        serial: String,
        /// Purse.
        purse: Purse,
        /// Float.
        float: MinorUnits,
    },
    /// The pending-loads account of a purse is not the sum of unsettled loads.
    PendingMismatch {
        /// The purse.
        purse: Purse,
        /// The account.
        account: MinorUnits,
        /// Sum of unsettled loads.
        loads: i128,
    },
    /// A load's transfers do not match its state.
    LoadInconsistent {
        /// Load id.
        load: i64,
        /// What is wrong.
        problem: String,
    },
    /// The cash account is not the sum of recorded deposits.
    DepositsMismatch {
        /// Cash taken in per the cash account.
        cash: MinorUnits,
        /// Sum of deposits.
        deposits: i128,
    },
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discrepancy::Integrity(msg) => write!(f, "database integrity check: {msg}"),
            Discrepancy::UnbalancedTransfer { transfer, sum } => {
                write!(f, "transfer {transfer}: postings sum to {sum}, not zero")
            }
            Discrepancy::TooFewPostings { transfer, postings } => {
                write!(
                    f,
                    "transfer {transfer}: {postings} posting(s), at least two needed"
                )
            }
            Discrepancy::BalanceMismatch {
                account,
                recorded,
                computed,
            } => write!(
                f,
                "account {account}: balance {recorded} recorded, postings sum to {computed}"
            ),
            Discrepancy::WrongSign { account, balance } => {
                write!(
                    f,
                    "account {account}: balance {balance} breaks its sign rule"
                )
            }
            Discrepancy::LedgerNotZero { sum } => {
                write!(f, "all balances sum to {sum}, not zero")
            }
            Discrepancy::Conservation {
                deposited,
                accounted_for,
            } => write!(
                f,
                "value conservation: {deposited} deposited, {accounted_for} accounted for"
            ),
            Discrepancy::FloatMismatch {
                purse,
                account,
                cards,
            } => write!(
                f,
                "card float {}: account {account}, sum over cards {cards}",
                purse_name(*purse)
            ),
            Discrepancy::CardFloatNegative {
                serial,
                purse,
                float,
            } => write!(
                f,
                "card {serial} {}: float {float} is negative",
                purse_name(*purse)
            ),
            Discrepancy::PendingMismatch {
                purse,
                account,
                loads,
            } => write!(
                f,
                "pending loads {}: account {account}, unsettled load records {loads}",
                purse_name(*purse)
            ),
            Discrepancy::LoadInconsistent { load, problem } => write!(f, "load {load}: {problem}"),
            Discrepancy::DepositsMismatch { cash, deposits } => {
                write!(f, "cash taken in {cash}, recorded deposits {deposits}")
            }
        }
    }
}

/// The audit's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// The totals (amounts in minor units).
    pub totals: AuditTotals,
    /// Everything wrong; empty when the ledger is clean.
    pub discrepancies: Vec<Discrepancy>,
}

impl AuditReport {
    /// No discrepancy.
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

fn count(conn: &Connection, sql: &str) -> Result<i64> {
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

fn run(conn: &Connection) -> Result<AuditReport> {
    let mut found = Vec::new();
    let mut totals = AuditTotals::default();

    let integrity: Vec<String> = {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    if integrity != ["ok"] {
        found.extend(integrity.into_iter().map(Discrepancy::Integrity));
    }

    // Transfers: at least two postings, summing to zero (summed in i128 by Rust).
    {
        let mut stmt = conn.prepare(
            "SELECT t.id, count(p.id) FROM transfers t LEFT JOIN postings p ON p.transfer_id = t.id
             GROUP BY t.id ORDER BY t.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (transfer, postings): (i64, i64) = (r.get(0)?, r.get(1)?);
            totals.transfers += 1;
            if postings < 2 {
                found.push(Discrepancy::TooFewPostings { transfer, postings });
            }
        }
        let mut stmt =
            conn.prepare("SELECT transfer_id, amount FROM postings ORDER BY transfer_id, id")?;
        let mut rows = stmt.query([])?;
        let mut current: Option<(i64, i128)> = None;
        let flush = |entry: Option<(i64, i128)>, found: &mut Vec<Discrepancy>| {
            if let Some((transfer, sum)) = entry {
                if sum != 0 {
                    found.push(Discrepancy::UnbalancedTransfer { transfer, sum });
                }
            }
        };
        while let Some(r) = rows.next()? {
            let (transfer, amount): (i64, i64) = (r.get(0)?, r.get(1)?);
            match current.as_mut() {
                Some((id, sum)) if *id == transfer => *sum += i128::from(amount),
                _ => {
                    flush(current.take(), &mut found);
                    current = Some((transfer, i128::from(amount)));
                }
            }
        }
        flush(current, &mut found);
    }

    // Accounts: recorded balance = postings; sign rules; totals.
    let mut posted: std::collections::HashMap<i64, i128> = std::collections::HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT account_id, amount FROM postings")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (account, amount): (i64, i64) = (r.get(0)?, r.get(1)?);
            *posted.entry(account).or_default() += i128::from(amount);
        }
    }
    let accounts = ledger::accounts(conn)?;
    let mut all: i128 = 0;
    for account in &accounts {
        let computed = posted.get(&account.id).copied().unwrap_or(0);
        if computed != i128::from(account.balance) {
            found.push(Discrepancy::BalanceMismatch {
                account: account.code.clone(),
                recorded: account.balance,
                computed,
            });
        }
        if (account.kind.must_not_be_negative() && account.balance < 0)
            || (account.kind.must_not_be_positive() && account.balance > 0)
        {
            found.push(Discrepancy::WrongSign {
                account: account.code.clone(),
                balance: account.balance,
            });
        }
        all += i128::from(account.balance);
        let b = account.balance;
        let slot = match (account.kind, account.purse) {
            (AccountKind::Cash, _) => {
                totals.deposited = totals.deposited.saturating_sub(b);
                continue;
            }
            (AccountKind::Customer, Some(Purse::Ecash)) => &mut totals.customer_ecash,
            (AccountKind::Customer, Some(Purse::Food)) => &mut totals.customer_food,
            (AccountKind::PendingLoads, Some(Purse::Ecash)) => &mut totals.pending_ecash,
            (AccountKind::PendingLoads, Some(Purse::Food)) => &mut totals.pending_food,
            (AccountKind::CardFloat, Some(Purse::Ecash)) => &mut totals.float_ecash,
            (AccountKind::CardFloat, Some(Purse::Food)) => &mut totals.float_food,
            (AccountKind::Merchant, _) => &mut totals.merchants,
            (AccountKind::SettlementInTransit, _) => &mut totals.in_transit,
            (kind, None) => {
                found.push(Discrepancy::WrongSign {
                    account: format!("{} ({} without a purse)", account.code, kind.as_str()),
                    balance: b,
                });
                continue;
            }
        };
        *slot = slot.saturating_add(b);
    }
    if all != 0 {
        found.push(Discrepancy::LedgerNotZero { sum: all });
    }
    let accounted_for = totals.accounted_for();
    if accounted_for != i128::from(totals.deposited) {
        found.push(Discrepancy::Conservation {
            deposited: totals.deposited,
            accounted_for,
        });
    }

    // Card float per purse.
    for (purse, account) in [
        (Purse::Ecash, totals.float_ecash),
        (Purse::Food, totals.float_food),
    ] {
        let mut stmt =
            conn.prepare("SELECT serial, float FROM card_purses WHERE purse = ?1 ORDER BY serial")?;
        let mut rows = stmt.query([purse.code()])?;
        let mut cards: i128 = 0;
        while let Some(r) = rows.next()? {
            let (serial, float): (String, i64) = (r.get(0)?, r.get(1)?);
            if float < 0 {
                found.push(Discrepancy::CardFloatNegative {
                    serial,
                    purse,
                    float,
                });
            }
            cards += i128::from(float);
        }
        if cards != i128::from(account) {
            found.push(Discrepancy::FloatMismatch {
                purse,
                account,
                cards,
            });
        }
    }

    // Pending loads per purse, and each load's transfers against its state.
    let mut unsettled = [0i128; 2];
    {
        let mut stmt = conn.prepare(
            "SELECT l.id, l.purse, l.amount, l.state,
                    r.kind, (SELECT sum(amount) FROM postings p JOIN accounts a ON a.id = p.account_id
                             WHERE p.transfer_id = l.reserve_transfer_id AND a.kind = 'pending_loads'),
                    f.kind, (SELECT sum(amount) FROM postings p JOIN accounts a ON a.id = p.account_id
                             WHERE p.transfer_id = l.final_transfer_id AND a.kind = 'pending_loads')
             FROM loads l
             LEFT JOIN transfers r ON r.id = l.reserve_transfer_id
             LEFT JOIN transfers f ON f.id = l.final_transfer_id
             ORDER BY l.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let load: i64 = r.get(0)?;
            let purse: i64 = r.get(1)?;
            let amount: i64 = r.get(2)?;
            let state: String = r.get(3)?;
            let reserve_kind: Option<String> = r.get(4)?;
            let reserved: Option<i64> = r.get(5)?;
            let final_kind: Option<String> = r.get(6)?;
            let settled: Option<i64> = r.get(7)?;
            let mut problem =
                |p: String| found.push(Discrepancy::LoadInconsistent { load, problem: p });
            if reserve_kind.as_deref() != Some("load_reserve") || reserved != Some(amount) {
                problem(format!(
                    "reserve transfer is {reserve_kind:?} moving {reserved:?} into pending loads, expected load_reserve moving {amount}"
                ));
            }
            let expected_final = match state.as_str() {
                "pending" => {
                    totals.loads_pending += 1;
                    None
                }
                "escalated" => {
                    totals.loads_escalated += 1;
                    None
                }
                "completed" => {
                    totals.loads_completed += 1;
                    Some("load_complete")
                }
                "released" => {
                    totals.loads_released += 1;
                    Some("load_release")
                }
                other => {
                    problem(format!("unknown state {other:?}"));
                    continue;
                }
            };
            match expected_final {
                None => {
                    if final_kind.is_some() {
                        problem(format!("{state} but settled by a {final_kind:?} transfer"));
                    }
                    match usize::try_from(purse - 1)
                        .ok()
                        .and_then(|i| unsettled.get_mut(i))
                    {
                        Some(sum) => *sum += i128::from(amount),
                        None => problem(format!("purse code {purse}")),
                    }
                }
                Some(kind) => {
                    if final_kind.as_deref() != Some(kind) || settled != Some(-amount) {
                        problem(format!(
                            "{state} but its settling transfer is {final_kind:?} moving {settled:?} out of pending loads, expected {kind} moving {}",
                            -amount
                        ));
                    }
                }
            }
        }
    }
    for (purse, account, loads) in [
        (Purse::Ecash, totals.pending_ecash, unsettled[0]),
        (Purse::Food, totals.pending_food, unsettled[1]),
    ] {
        if loads != i128::from(account) {
            found.push(Discrepancy::PendingMismatch {
                purse,
                account,
                loads,
            });
        }
    }

    let deposits: i128 = i128::from(count(
        conn,
        "SELECT COALESCE(sum(amount), 0) FROM deposits",
    )?);
    if deposits != i128::from(totals.deposited) {
        found.push(Discrepancy::DepositsMismatch {
            cash: totals.deposited,
            deposits,
        });
    }

    totals.customers = count(conn, "SELECT count(*) FROM customers")?;
    totals.cards = count(conn, "SELECT count(*) FROM cards")?;
    Ok(AuditReport {
        totals,
        discrepancies: found,
    })
}

impl Backoffice {
    /// Audits the whole ledger in one consistent snapshot (see the module docs). Never
    /// changes anything.
    pub fn audit(&mut self) -> Result<AuditReport> {
        self.read(|tx, _| run(tx))
    }
}
