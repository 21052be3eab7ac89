//! Teller and operator workflows in connected mode: card issuance, block/unblock, loads and
//! their recovery from the card's evidence.
//!
//! The workflows know no PC/SC details and no SQL: they talk to the card through a
//! [`CardClient`](crate::card::CardClient) over any [`Transport`](crate::transport::Transport), and to the back office
//! through the narrow [`Office`] trait (implemented by the embedded [`backoffice::Backoffice`];
//! a remote implementation can be added without touching this module).
//!
//! Value safety: a load reserves the customer's funds in the back office (`begin_load`) before
//! CREDIT LOAD and completes only on the card's verified TAC. Whatever interrupts it (card
//! pulled, exchange lost, process killed) leaves the load *pending* in the ledger, and the next
//! time the card is presented ([`load`] recovers first, or [`recover`]) the card's counters and
//! GET TRANSACTION PROOF decide: completed or released, never a guess.

mod issue;
mod load;
mod office;
mod remote;
pub mod unconnected;

pub use issue::{block, issue, unblock, AdminReport, IssueOrder, IssueReport};
pub use load::{load, recover, LoadOrder, LoadReceipt, RecoverReport, Recovered};
pub use office::{Office, OfficeError, OfficeResult};
pub use remote::{card_from_view, load_from_view, remote_error, RemoteOffice};

use apdu_spec::StatusWord;
use backoffice::{Currency, Refusal};
use thiserror::Error;

use crate::card::CardError;

/// Named points of a load where a test may stop the process (see [`Checkpoint`]).
pub mod points {
    /// After the back office reserved the funds (`begin_load`), before CREDIT LOAD.
    pub const AFTER_BEGIN_LOAD: &str = "after_begin_load";
    /// After CREDIT LOAD answered, before `complete_load`.
    pub const AFTER_CREDIT_LOAD: &str = "after_credit_load";
}

/// Called at each named point of a workflow ([`points`]); the CLI uses it for the documented
/// test hook `EPURSE_TEST_PAUSE_AT`. Workflows pass through it and go on.
pub type Checkpoint<'a> = &'a mut dyn FnMut(&'static str);

/// The families of refusal a teller sees; each has its own exit code in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The customer's account holds less than the amount.
    InsufficientFunds,
    /// The card is blocked (by the card or the registry).
    CardBlocked,
    /// An amount or balance limit of the card.
    OverLimit,
    /// The card (or customer) is not known to this back office, or the card is blank.
    Unknown,
    /// A MAC or TAC did not verify.
    MacFailure,
    /// A load of this card is still unsettled and must be recovered first.
    PendingLoad,
    /// Another refusal (expiry past, rewound counter, serial already issued, key version...).
    Other,
}

/// Why a workflow did not complete.
#[derive(Debug, Error)]
pub enum TellerError {
    /// Refused (by the back office or the card); nothing moved.
    #[error("{message}")]
    Refused {
        /// The family of refusal.
        kind: RefusalKind,
        /// What happened and what to do.
        message: String,
    },
    /// The exchange with the card was lost where the card may have acted: the operation is
    /// left for recovery from the card's evidence (nothing is lost, nothing is guessed).
    #[error("{0}")]
    Interrupted(String),
    /// The card failed (no card, removed before anything happened, refused a read...).
    #[error(transparent)]
    Card(#[from] CardError),
    /// The back office failed for a reason other than a refusal.
    #[error(transparent)]
    Office(OfficeError),
    /// The request itself is wrong (e.g. an amount a card cannot carry).
    #[error("{0}")]
    Invalid(String),
}

impl TellerError {
    /// A refusal of `kind` with `message`.
    pub fn refused(kind: RefusalKind, message: impl Into<String>) -> Self {
        TellerError::Refused {
            kind,
            message: message.into(),
        }
    }

    /// The back office's error: refusals become [`TellerError::Refused`] with amounts
    /// formatted in `currency`.
    pub fn from_office(currency: &Currency, error: OfficeError) -> Self {
        match error.refusal() {
            Some(r) => TellerError::Refused {
                kind: refusal_kind(r),
                message: r.describe(currency),
            },
            None => TellerError::Office(error),
        }
    }
}

/// The family of a back-office refusal.
pub fn refusal_kind(refusal: &Refusal) -> RefusalKind {
    match refusal {
        Refusal::InsufficientFunds { .. } => RefusalKind::InsufficientFunds,
        Refusal::CardBlocked { .. } => RefusalKind::CardBlocked,
        Refusal::AmountOverLimit { .. } | Refusal::BalanceOverMax { .. } => RefusalKind::OverLimit,
        Refusal::UnknownCard { .. }
        | Refusal::CardNotIssued { .. }
        | Refusal::UnknownCustomer { .. } => RefusalKind::Unknown,
        Refusal::Mac1Invalid => RefusalKind::MacFailure,
        Refusal::PendingLoad { .. } => RefusalKind::PendingLoad,
        _ => RefusalKind::Other,
    }
}

/// The family of a card's refusal of a value command, if the status word is one.
pub fn card_refusal_kind(sw: StatusWord) -> Option<RefusalKind> {
    match sw {
        StatusWord::CardBlocked => Some(RefusalKind::CardBlocked),
        StatusWord::AmountLimit | StatusWord::BalanceLimit => Some(RefusalKind::OverLimit),
        StatusWord::MacInvalid => Some(RefusalKind::MacFailure),
        StatusWord::KeyVersionMismatch | StatusWord::CounterExhausted => Some(RefusalKind::Other),
        _ => None,
    }
}

/// A card's refusal as a teller error (a refusal when the status word is one, else the card
/// error itself).
fn card_refusal(error: CardError) -> TellerError {
    if let CardError::Status { command, sw } = &error {
        if let Some(kind) = card_refusal_kind(*sw) {
            return TellerError::refused(
                kind,
                format!("the card refused {command} ({sw}): {}", sw.host_action()),
            );
        }
    }
    TellerError::Card(error)
}
