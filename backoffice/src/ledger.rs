//! Double-entry bookkeeping: accounts, transfers and postings.
//!
//! Every money movement is one [`TransferKind`] transfer whose postings sum to zero, written by
//! `post` inside the caller's `BEGIN IMMEDIATE` transaction. A posting is positive when value
//! arrives in an account. Sign rules per [`AccountKind`]: customer, pending-load, card-float,
//! merchant and in-transit accounts never go below zero; the cash account goes negative by the
//! money deposited, so the sum of all balances is always zero and
//!
//! ```text
//! −cash = customer accounts + pending loads + card float + merchants + in transit
//! ```
//!
//! is the value-conservation equation the audit checks.

use core::fmt;

use apdu_spec::Purse;
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::money::MinorUnits;

/// A customer's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(pub i64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// Cash received by tellers: negative by the total deposited.
    Cash,
    /// A customer's virtual e-Cash or Food-Voucher account.
    Customer,
    /// Funds reserved for loads in progress, per purse.
    PendingLoads,
    /// Value on cards, per purse.
    CardFloat,
    /// A merchant's account (settlement).
    Merchant,
    /// Settled purchases on their way to merchants.
    SettlementInTransit,
}

impl AccountKind {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Cash => "cash",
            AccountKind::Customer => "customer",
            AccountKind::PendingLoads => "pending_loads",
            AccountKind::CardFloat => "card_float",
            AccountKind::Merchant => "merchant",
            AccountKind::SettlementInTransit => "settlement_in_transit",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cash" => AccountKind::Cash,
            "customer" => AccountKind::Customer,
            "pending_loads" => AccountKind::PendingLoads,
            "card_float" => AccountKind::CardFloat,
            "merchant" => AccountKind::Merchant,
            "settlement_in_transit" => AccountKind::SettlementInTransit,
            _ => return None,
        })
    }

    /// Whether a balance below zero breaks a rule (all but cash).
    pub fn must_not_be_negative(self) -> bool {
        self != AccountKind::Cash
    }

    /// Whether a balance above zero breaks a rule (cash only: tellers take money in).
    pub fn must_not_be_positive(self) -> bool {
        self == AccountKind::Cash
    }
}

/// Names one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRef {
    /// Cash received.
    Cash,
    /// A customer's account for one purse.
    Customer(CustomerId, Purse),
    /// Pending loads of one purse.
    PendingLoads(Purse),
    /// Value on cards of one purse.
    CardFloat(Purse),
    /// Settlement in transit.
    SettlementInTransit,
}

pub(crate) fn purse_name(purse: Purse) -> &'static str {
    match purse {
        Purse::Ecash => "ecash",
        Purse::Food => "food",
    }
}

pub(crate) fn purse_from_db(code: i64) -> Result<Purse> {
    u8::try_from(code)
        .ok()
        .and_then(|c| Purse::try_from(c).ok())
        .ok_or_else(|| Error::BadRow(format!("purse code {code}")))
}

impl AccountRef {
    /// The account's unique code in the ledger, e.g. `customer/7/ecash`.
    pub fn code(&self) -> String {
        match self {
            AccountRef::Cash => "cash".to_owned(),
            AccountRef::Customer(c, p) => format!("customer/{}/{}", c.0, purse_name(*p)),
            AccountRef::PendingLoads(p) => format!("pending_loads/{}", purse_name(*p)),
            AccountRef::CardFloat(p) => format!("card_float/{}", purse_name(*p)),
            AccountRef::SettlementInTransit => "settlement_in_transit".to_owned(),
        }
    }
}

/// One account and its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Unique code.
    pub code: String,
    /// What it holds.
    pub kind: AccountKind,
    /// Its purse, where it has one.
    pub purse: Option<Purse>,
    /// Its customer, for customer accounts.
    pub customer: Option<CustomerId>,
    /// Balance in minor units.
    pub balance: MinorUnits,
}

/// Why value moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Cash into a customer's account.
    Deposit,
    /// Customer account → pending loads (funds reserved, MAC2 issued).
    LoadReserve,
    /// Pending loads → card float (TAC verified).
    LoadComplete,
    /// Pending loads → customer account (the card never credited).
    LoadRelease,
}

impl TransferKind {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Deposit => "deposit",
            TransferKind::LoadReserve => "load_reserve",
            TransferKind::LoadComplete => "load_complete",
            TransferKind::LoadRelease => "load_release",
        }
    }
}

/// Creates an account (used for a new customer's two accounts).
pub(crate) fn create_account(conn: &Connection, account: &AccountRef, now: i64) -> Result<i64> {
    let (kind, purse, customer) = match account {
        AccountRef::Cash => (AccountKind::Cash, None, None),
        AccountRef::Customer(c, p) => (AccountKind::Customer, Some(*p), Some(c.0)),
        AccountRef::PendingLoads(p) => (AccountKind::PendingLoads, Some(*p), None),
        AccountRef::CardFloat(p) => (AccountKind::CardFloat, Some(*p), None),
        AccountRef::SettlementInTransit => (AccountKind::SettlementInTransit, None, None),
    };
    conn.execute(
        "INSERT INTO accounts (code, kind, purse, customer_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            account.code(),
            kind.as_str(),
            purse.map(|p| p.code()),
            customer,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Balance of an account.
pub(crate) fn balance(conn: &Connection, account: &AccountRef) -> Result<MinorUnits> {
    let code = account.code();
    conn.query_row(
        "SELECT balance FROM accounts WHERE code = ?1",
        [&code],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no account {code}")))
}

/// Writes one transfer: `legs` are `(account, amount)` postings. Refused (nothing written, the
/// caller's transaction must be rolled back) when there are fewer than two legs, a zero leg,
/// the legs do not sum to zero, or an account would break its sign rule.
pub(crate) fn post(
    conn: &Connection,
    kind: TransferKind,
    reference: &str,
    now: i64,
    legs: &[(AccountRef, MinorUnits)],
) -> Result<i64> {
    if legs.len() < 2 {
        return Err(Error::Invariant(format!(
            "transfer {reference}: a transfer needs at least two postings"
        )));
    }
    let mut sum: i128 = 0;
    for (account, amount) in legs {
        if *amount == 0 {
            return Err(Error::Invariant(format!(
                "transfer {reference}: zero posting to {}",
                account.code()
            )));
        }
        sum += i128::from(*amount);
    }
    if sum != 0 {
        return Err(Error::Invariant(format!(
            "transfer {reference}: postings sum to {sum}, not zero"
        )));
    }
    conn.execute(
        "INSERT INTO transfers (kind, reference, created_at) VALUES (?1, ?2, ?3)",
        params![kind.as_str(), reference, now],
    )?;
    let transfer_id = conn.last_insert_rowid();
    for (account, amount) in legs {
        let code = account.code();
        let (id, kind, balance): (i64, String, i64) = conn
            .query_row(
                "SELECT id, kind, balance FROM accounts WHERE code = ?1",
                [&code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no account {code}")))?;
        let kind = AccountKind::parse(&kind)
            .ok_or_else(|| Error::BadRow(format!("account {code} has kind {kind:?}")))?;
        let new_balance = balance.checked_add(*amount).ok_or_else(|| {
            Error::Invariant(format!("transfer {reference}: balance of {code} overflows"))
        })?;
        if kind.must_not_be_negative() && new_balance < 0 {
            return Err(Error::Invariant(format!(
                "transfer {reference}: {code} would go negative ({new_balance})"
            )));
        }
        if kind.must_not_be_positive() && new_balance > 0 {
            return Err(Error::Invariant(format!(
                "transfer {reference}: {code} would go positive ({new_balance})"
            )));
        }
        conn.execute(
            "INSERT INTO postings (transfer_id, account_id, amount) VALUES (?1, ?2, ?3)",
            params![transfer_id, id, amount],
        )?;
        conn.execute(
            "UPDATE accounts SET balance = ?1 WHERE id = ?2",
            params![new_balance, id],
        )?;
    }
    Ok(transfer_id)
}

/// Every account with its balance, in id order.
pub(crate) fn accounts(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt = conn
        .prepare("SELECT id, code, kind, purse, customer_id, balance FROM accounts ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, code, kind, purse, customer, balance) = row?;
        out.push(Account {
            id,
            kind: AccountKind::parse(&kind)
                .ok_or_else(|| Error::BadRow(format!("account {code} has kind {kind:?}")))?,
            code,
            purse: purse.map(purse_from_db).transpose()?,
            customer: customer.map(CustomerId),
            balance,
        });
    }
    Ok(out)
}
