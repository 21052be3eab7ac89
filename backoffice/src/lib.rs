//! The epurse back office: the bank's side of the system (DESIGN.md, issue 5).
//!
//! What a reader needs first:
//!
//! - **[`Backoffice`]** is the whole service over one SQLite file (the *ledger*): open it with
//!   an [`IssuerSecurityModule`] and a [`Config`], then call its methods. One per thread; the
//!   file is shared safely between threads and processes. CLI, HTTP API and teller workflows
//!   are thin layers over these methods and know nothing of SQL or keys.
//! - **Money** is `i64` minor units everywhere ([`MinorUnits`]); [`Currency`] parses and formats
//!   `"500.00"` at the edge, strictly, without floats.
//! - **Every money movement** is one double-entry transfer (postings summing to zero) inside one
//!   `BEGIN IMMEDIATE` SQLite transaction ([`ledger`]); WAL and `synchronous=FULL` make a
//!   committed movement durable.
//! - **Keys** live only in the [`ism`] (issuer security module): loaded from the master-key
//!   file, KCV-checked, never returned, never printed.
//! - **Loads** ([`loads`]) reserve funds on MAC1, complete on a verified TAC, and are otherwise
//!   settled only from the card's evidence (counters and GET TRANSACTION PROOF) — never by a
//!   timeout.
//! - **The audit** ([`audit`]) proves value conservation over the whole ledger.
//!
//! | module | what |
//! | --- | --- |
//! | [`money`] | [`Currency`], strict amount text |
//! | [`clock`] | [`Clock`], the load `DATETIME` |
//! | [`ism`] | [`IssuerSecurityModule`]: MAC1/MAC2/TAC, issuer commands, personalisation |
//! | [`db`] | the ledger file: settings, recognition, migrations |
//! | [`ledger`] | accounts, transfers, postings |
//! | [`registry`] | customers, cash deposits, cards and issuance |
//! | [`loads`] | load authorisation and recovery |
//! | [`unconnected`] | unconnected loads: AUTH and CONFIRM codes through the pocket reader |
//! | [`settlement`] | merchants, SAM issue, batch upload and verification, statements |
//! | [`audit`] | [`AuditReport`] |
//! | [`api`] | the HTTP API server (axum, rustls, station tokens, idempotency) and its JSON [`api::wire`] |
//! | [`client`] | [`client::BackofficeClient`], a blocking HTTPS client of that API |
//! | [`error`] | [`Error`], [`Refusal`], [`EvidenceError`] |

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod api;
pub mod audit;
mod backoffice;
pub mod client;
pub mod clock;
pub mod db;
pub mod error;
pub mod ism;
pub mod ledger;
pub mod loads;
pub mod money;
pub mod registry;
pub mod settlement;
pub mod unconnected;

pub use audit::{AuditReport, AuditTotals, Discrepancy};
pub use backoffice::{Backoffice, Config, RefusalEntry};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, EvidenceError, Refusal, Result};
pub use ism::{CardProfile, IsmError, IssuerSecurityModule, IssuerSession};
pub use ledger::{Account, AccountKind, AccountRef, CustomerId};
pub use loads::{
    CardEvidence, IssuerDecision, Load, LoadAuthorisation, LoadId, LoadOutcome, LoadRequest,
    LoadResolution, LoadState, ProofEvidence, ReleaseReason,
};
pub use money::{Currency, MinorUnits, MoneyError};
pub use registry::{
    Card, CardPurse, CardStatus, CashDeposit, Customer, CustomerBalances, DepositReceipt,
    IssueRequest, IssuerAction,
};
pub use unconnected::{
    UnconnectedAuthorisation, UnconnectedLoad, UnconnectedRequest, UnconnectedResolution,
};
