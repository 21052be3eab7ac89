//! The epurse APDU contract as Rust types.
//!
//! **Read `apdu-spec/SPEC.md` first** (next to this crate's `Cargo.toml`): it is the
//! contract, and where this crate disagrees with it, this crate is the bug. Section numbers in
//! the docs here ("SPEC 2.6") refer to it.
//!
//! What a reader needs to know:
//!
//! - **No I/O.** Nothing here touches files, sockets, readers or the console; it turns typed
//!   values into bytes and bytes into typed values. The host's transport, the SAM model and the
//!   back office build on it.
//! - **No crypto.** MACs, TACs, diversification and session keys are computed by the `sam`
//!   crate; [`mac`] only lays out the exact bytes they are computed over.
//! - **No panics on input.** Every parser returns [`SpecError`] for any malformed input; a
//!   property test feeds random bytes to all of them.
//! - **Strict and exact.** Parsers accept exactly the SPEC's layouts and the values the card
//!   accepts (where SPEC.md is open, the readings listed in `vectors/README.md`, e.g. day
//!   1..31 in any month), and `to_bytes` is the inverse of `parse` for every accepted input
//!   (so a MAC can be checked over re-serialised bytes).
//! - **Checked against the shared vectors.** `tests/vectors.rs` replays every step of
//!   `apdu-spec/vectors/*.json` through these types and recomputes every MAC, TAC and session
//!   key with the `sam` crypto (a dev-dependency only; this crate never depends on `sam`).
//! - **Secrets stay out of logs.** PIN blocks and personalisation keys have redacted `Debug`
//!   and wipe themselves on drop; [`Command`]'s `Debug` hides VERIFY/CHANGE PIN data.
//!
//! Module map (SPEC section → module):
//!
//! | SPEC | module | main items |
//! | --- | --- | --- |
//! | Conventions, 1.2, 2.1–2.2, 2.10, 2.11 | [`values`], [`bcd`] | [`Purse`], [`TxType`], [`Amount`], [`Serial`], [`SamId`], [`TerminalId`], [`Date`], [`DateTime`], [`Mcc`], [`PinBlock`], [`Limits`], [`Lifecycle`] |
//! | Conventions (short APDUs) | [`apdu`] | [`Command`], [`Response`], [`Ins`], [`ContractCommand`], [`GetResponse`] |
//! | 1.3–1.11 | [`mac`] | `*_input` MAC-input builders, [`session_diversifier`], [`code8`] |
//! | 1.5 | [`record`] | [`TransactionRecord`], [`LogEntry`], [`TransactionProof`], [`SettlementRecord`] |
//! | 2.3, 3 (FCI) | [`fci`] | [`Fci`] |
//! | 2.3, 2.5, 2.13 (shared) | [`common`] | [`Select`], [`GetStatus`], [`GetChallenge`], [`Challenge`] |
//! | 2.4–2.12 | [`purse`] | one type per purse command and response, [`PurseStatus`], [`PurseCommand`] |
//! | 2.13, 3.2 (PD) | [`perso`] | [`PursePersoData`], [`TransferPersoData`] |
//! | 3 | [`transfer`] | [`BatchHeader`], [`Batch`], [`AckData`], batch commands, [`TransferCommand`] |
//! | 5 | [`status`] | [`StatusWord`] |
//!
//! A typed command is built from its fields and sent as bytes:
//!
//! ```
//! use apdu_spec::{Amount, ContractCommand, InitializePurchase, Purse, SamId};
//!
//! let command = InitializePurchase {
//!     purse: Purse::Ecash,
//!     key_version: 0,
//!     amount: Amount::new(1250)?,
//!     sam_id: SamId(*b"SAM001"),
//! };
//! assert_eq!(
//!     command.to_bytes(),
//!     [0x80, 0x54, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x04, 0xE2, 0x53, 0x41, 0x4D, 0x30, 0x30, 0x31, 0x00]
//! );
//! # Ok::<(), apdu_spec::SpecError>(())
//! ```

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

pub mod apdu;
pub mod bcd;
mod bytes;
pub mod common;
pub mod error;
pub mod fci;
pub mod mac;
pub mod perso;
pub mod purse;
pub mod record;
pub mod status;
pub mod transfer;
pub mod values;

pub use apdu::{
    Command, ContractCommand, GetResponse, Ins, Response, CLA_ISO, CLA_PROPRIETARY, CLA_SECURED,
};
pub use bcd::{Date, DateTime, Mcc, MccAllowlist};
pub use common::{Challenge, GetChallenge, GetStatus, Select};
pub use error::{Result, SpecError};
pub use fci::Fci;
pub use mac::{
    ack_card_input, ack_sam_input, admin_mac_input, code8, load_mac1_input, load_mac2_input,
    perso_mac_input, purchase_mac1_input, purchase_mac2_input, seal_input, session_diversifier,
    settlement_tac_input, tac_input, unconnected_auth_input, unconnected_confirm_input,
    LoadContext, PurchaseContext,
};
pub use perso::{PursePersoData, TransferPersoData};
pub use purse::{
    ApplicationBlock, ApplicationUnblock, ChangePin, CreditLoad, CreditLoadResponse, DebitPurchase,
    DebitPurchaseResponse, GetTransactionProof, InitLoadResponse, InitPurchaseResponse,
    InitializeLoad, InitializePurchase, IssuerCommand, PersonalizePurse, PinUnblock, PurseBlock,
    PurseCommand, PurseResponse, PurseStatus, ReadLog, SetLimits, UnblockTarget, UnconnectedLoad,
    UnconnectedLoadResponse, VerifyPin,
};
pub use record::{LogEntry, SettlementRecord, TransactionProof, TransactionRecord};
pub use status::StatusWord;
pub use transfer::{
    AckData, AckResult, Batch, BatchHeader, ClearBatch, FinishBatch, PersonalizeTransfer, ReadAck,
    ReadAckResponse, ReadBatch, TransferCommand, TransferResponse, TransferStatus, WriteBatch,
};
pub use values::{
    Amount, Applet, BatchState, Capabilities, KeyBytes, Lifecycle, Limits, PinBlock, Purse,
    RecordType, SamId, Serial, TerminalId, TxType, PACKAGE_AID, PURSE_AID, TRANSFER_AID,
};
pub use zeroize::Zeroizing;
