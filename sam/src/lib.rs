//! The epurse SAM crate.
//!
//! - [`crypto`]: the 3DES core every party uses — [`Key16`], the retail MAC, EMV option-A
//!   diversification, session keys, KCVs. Its main items are re-exported here.
//! - [`keyfile`]: the issuer master-key file (`epurse-master-keys/1`) with KCV checks.
//!
//! The SAM model (a merchant terminal's secure access module, DESIGN.md "Purchase"):
//!
//! - [`profile`]: the SAM file the back office issues (`epurse-sam/1`): merchant profile,
//!   `MK_PURCHASE`, the SAM's `K_SETTLE`.
//! - [`purchase`]: purchase sessions — MAC1, MAC2, the pending purchase and its recovery from
//!   the card's evidence.
//! - [`batch`]: the transfer batch of SPEC 3.1 — seal, parse, verify, acknowledgements; shared
//!   with the transfer card's host code and the back office.
//! - [`state`] and [`store`]: the SAM's state (sequence numbers, journal, accumulators,
//!   pending purchases, unacknowledged batches) and its crash-safe, MAC'd, rollback-checked
//!   files.
//! - [`module`]: the [`SecurityModule`] trait the POS talks to and [`SoftwareSam`], the
//!   software model behind it.
//!
//! Nothing in the SAM model does card I/O: the POS sends the commands it gets from the SAM and
//! hands the card's answers back.

// `usize::is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.75.
#![allow(unknown_lints, clippy::manual_is_multiple_of)]

pub mod batch;
pub mod crypto;
pub mod keyfile;
pub mod module;
pub mod profile;
pub mod purchase;
pub mod state;
pub mod store;

pub use crypto::{
    adjust_odd_parity, cbc_decrypt, cbc_encrypt, decrypt_block, diversify, encrypt_block, mac_eq,
    pad_m2, parse_hex, retail_mac, retail_mac_m2, session_key, unpad_m2, CryptoError, Key16,
    Padding,
};
pub use keyfile::{KeyFileError, KeyName, MasterKeys};
pub use module::{
    AckOutcome, BatchSummary, CompletedPurchase, SamError, SamStatus, SecurityModule, SoftwareSam,
};
pub use profile::{MerchantId, MerchantProfile, SamFile, SamFileError};
pub use purchase::{
    EscalationReason, PendingPurchase, PendingStatus, ProofLookup, PurchaseAuthorization,
    PurchaseStart, Recovery, RecoveryEvidence, VoidReason, VoidedPurchase,
};
pub use state::{Accumulators, PurseTotals, SamState};
pub use store::{OpenReport, StatePaths, StateStore, StoreError};
