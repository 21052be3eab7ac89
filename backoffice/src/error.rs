//! The back office's errors: [`enum@Error`] for every operation, with [`Refusal`] for the business
//! refusals a teller or merchant is shown (insufficient funds, card blocked, ...) and
//! [`EvidenceError`] for card evidence that cannot settle a pending load.

use std::path::PathBuf;

use apdu_spec::{Purse, Serial};
use thiserror::Error;

use crate::ism::IsmError;
use crate::money::{Currency, MinorUnits, MoneyError};

/// Result of back-office operations.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a request was refused. Nothing moved; the refusal is recorded in the ledger's refusal
/// log. Amounts are in minor units; [`Refusal::describe`] formats them for people.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// No card with this serial was issued by this back office.
    #[error("unknown card {serial}: it was not issued by this back office")]
    UnknownCard {
        /// The serial presented.
        serial: Serial,
    },
    /// The card is registered but its personalisation was never confirmed.
    #[error("card {serial} is not issued yet (personalisation not confirmed)")]
    CardNotIssued {
        /// The card.
        serial: Serial,
    },
    /// The card is blocked by the issuer.
    #[error("card {serial} is blocked; send the cardholder to the issuer")]
    CardBlocked {
        /// The card.
        serial: Serial,
    },
    /// The serial is already issued (active or blocked) and can never be issued again.
    #[error("card serial {serial} is already issued; a serial is issued once")]
    SerialAlreadyIssued {
        /// The serial.
        serial: Serial,
    },
    /// No customer with this id.
    #[error("unknown customer {customer}")]
    UnknownCustomer {
        /// The id asked for.
        customer: i64,
    },
    /// The card's key version is not the one registered for it or not held by the ISM.
    #[error("card {serial} uses key version {card:#04X}, expected {expected:#04X}")]
    KeyVersion {
        /// The card.
        serial: Serial,
        /// What the card reported.
        card: u8,
        /// What the back office uses for it.
        expected: u8,
    },
    /// The card's MAC1 did not verify.
    #[error("MAC failure: the card's load MAC1 does not verify (wrong card, keys or tampering); the load is refused")]
    Mac1Invalid,
    /// The amount exceeds the card's single-load limit.
    #[error("amount {amount} is over the card's limit of {limit} per load (minor units)")]
    AmountOverLimit {
        /// Requested.
        amount: MinorUnits,
        /// The limit.
        limit: MinorUnits,
    },
    /// The load would take the purse above its maximum balance.
    #[error(
        "the purse would hold {would_hold}, above its maximum balance {max_balance} (minor units)"
    )]
    BalanceOverMax {
        /// Balance after the load.
        would_hold: MinorUnits,
        /// The maximum.
        max_balance: MinorUnits,
    },
    /// The customer's account holds less than the amount.
    #[error("insufficient funds: {available} available, {requested} requested (minor units)")]
    InsufficientFunds {
        /// Available in the customer's account.
        available: MinorUnits,
        /// Requested.
        requested: MinorUnits,
    },
    /// A load on this card is still pending: it must be recovered first (SPEC 2.8).
    #[error("a load on card {serial} is still pending (load {load_id}, {purse:?} counter {counter}); recover it from the card's evidence first")]
    PendingLoad {
        /// The card.
        serial: Serial,
        /// The pending load.
        load_id: i64,
        /// Its purse.
        purse: Purse,
        /// Its counter.
        counter: u16,
    },
    /// The card reports a load counter at or below one already completed: a cloned or
    /// rolled-back card.
    #[error("card {serial} reports load counter {reported} but load {known} already completed: possible cloned card, refer to the issuer")]
    CounterRewound {
        /// The card.
        serial: Serial,
        /// The counter the card will use now.
        reported: u16,
        /// The highest counter completed.
        known: u16,
    },
    /// The Food-Voucher expiry is already past.
    #[error("the voucher expiry {expiry} is already past (today is {today})")]
    ExpiryPast {
        /// The requested expiry.
        expiry: String,
        /// Today's date.
        today: String,
    },
}

impl Refusal {
    /// A stable machine code, for APIs and the refusal log.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownCard { .. } => "unknown_card",
            Refusal::CardNotIssued { .. } => "card_not_issued",
            Refusal::CardBlocked { .. } => "card_blocked",
            Refusal::SerialAlreadyIssued { .. } => "serial_already_issued",
            Refusal::UnknownCustomer { .. } => "unknown_customer",
            Refusal::KeyVersion { .. } => "key_version",
            Refusal::Mac1Invalid => "mac_failure",
            Refusal::AmountOverLimit { .. } => "amount_over_limit",
            Refusal::BalanceOverMax { .. } => "balance_over_max",
            Refusal::InsufficientFunds { .. } => "insufficient_funds",
            Refusal::PendingLoad { .. } => "pending_load",
            Refusal::CounterRewound { .. } => "counter_rewound",
            Refusal::ExpiryPast { .. } => "expiry_past",
        }
    }

    /// The message for a person, with amounts formatted in `currency` (`500.00 INR`).
    pub fn describe(&self, currency: &Currency) -> String {
        let m = |units: &MinorUnits| currency.display(*units);
        match self {
            Refusal::AmountOverLimit { amount, limit } => format!(
                "amount {} is over the card's limit of {} per load; lower the amount",
                m(amount),
                m(limit)
            ),
            Refusal::BalanceOverMax {
                would_hold,
                max_balance,
            } => format!(
                "the purse would hold {}, above its maximum balance of {}; lower the amount",
                m(would_hold),
                m(max_balance)
            ),
            Refusal::InsufficientFunds {
                available,
                requested,
            } => format!(
                "insufficient funds: the account holds {}, the load needs {}",
                m(available),
                m(requested)
            ),
            other => other.to_string(),
        }
    }
}

/// Card evidence that cannot settle a pending load; the load stays pending.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvidenceError {
    /// The evidence comes from another card.
    #[error("the evidence is from card {presented}, but the load is on card {expected}: present the right card")]
    WrongCard {
        /// The load's card.
        expected: Serial,
        /// The card that answered.
        presented: Serial,
    },
    /// The card completed the counter, but no GET TRANSACTION PROOF answer was given.
    #[error("the card's load counter has reached {counter}: send GET TRANSACTION PROOF (purse {purse:?}, TT 01, CTR {counter}) and pass its answer")]
    ProofNeeded {
        /// The purse.
        purse: Purse,
        /// The load's counter.
        counter: u16,
    },
    /// The proof's record is not this load's.
    #[error("the transaction proof does not describe this load ({0}); the load stays pending for the issuer")]
    ProofMismatch(&'static str),
    /// A TAC (of CREDIT LOAD or of the proof) does not verify.
    #[error("the card's TAC does not verify: the load stays pending; recover it with GET STATUS and GET TRANSACTION PROOF")]
    TacInvalid,
    /// An unconnected load whose code the card has not used yet: its load counter is still
    /// below the load's, so the code still works on the card and the reservation must stay.
    #[error("the card's load counter is still below {counter}: the unconnected-load code has not been used and still works on the card, so its funds stay reserved; let the cardholder enter it at the pocket reader (print it again with `epurse teller load --unconnected` for the same card, purse and amount), then recover")]
    UnconnectedCodeUnused {
        /// The load's counter (`CTR`).
        counter: u16,
    },
    /// CREDIT LOAD was answered with a status that does not prove the card did not credit.
    #[error("status {0} does not prove the card did not credit; recover the load from the card's evidence")]
    NotDefinitive(String),
}

/// Everything a back-office operation can return besides success.
#[derive(Debug, Error)]
pub enum Error {
    /// The request was refused; nothing moved.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// Card evidence could not settle a load; it stays pending.
    #[error("{0}")]
    Evidence(#[from] EvidenceError),
    /// The issuer security module refused.
    #[error(transparent)]
    Ism(#[from] IsmError),
    /// The ledger file could not be opened.
    #[error("cannot open the ledger {}: {source}; check the path and its permissions", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not an epurse ledger.
    #[error("{} is not an epurse ledger ({reason}); check the path — a new ledger is only created where no file or an empty file is", path.display())]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The file is an epurse ledger, damaged.
    #[error("the ledger {} is damaged ({source}); stop all back-office processes and restore it from the last backup", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The ledger was written by a newer program.
    #[error("the ledger {} has schema version {found}, newer than version {supported} known to this program; run a newer epurse", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this program knows.
        supported: i64,
    },
    /// The ledger keeps another currency than configured.
    #[error("the ledger keeps {found}, but {configured} was configured; one installation has one currency")]
    CurrencyMismatch {
        /// In the ledger.
        found: String,
        /// Configured.
        configured: String,
    },
    /// The ledger cannot be put into WAL mode (e.g. a read-only or network file system).
    #[error("the ledger {} cannot use write-ahead logging (journal mode {mode}); keep it on a local, writable file system", path.display())]
    NoWal {
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// An SQLite error during an operation.
    #[error("ledger database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A referenced object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input is malformed; says what is expected.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The request conflicts with what the ledger already records.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A bad amount text.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A money movement would break a ledger rule (unbalanced transfer, negative account);
    /// nothing was written.
    #[error("ledger rule broken, nothing written: {0}")]
    Invariant(String),
    /// Data read from the ledger does not parse (hand-edited or damaged rows).
    #[error("ledger data is inconsistent: {0}; run `epurse audit`")]
    BadRow(String),
}

impl Error {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(r) => Some(r),
            _ => None,
        }
    }
}
