//! Merchant workflows (issue 6): the sale at the POS, recovery of interrupted purchases, the
//! transfer of the SAM's sealed batch onto a transfer card, the acknowledgement back into the
//! SAM, and the settlement station's upload.
//!
//! The workflows know no PC/SC details: the card is a [`Channel`](crate::exchange::Channel)
//! over any [`Transport`](crate::transport::Transport), and the SAM is any
//! [`sam::SecurityModule`] (the software model today, a hardware SAM in a second reader
//! tomorrow).
//!
//! Value safety:
//!
//! - A sale checks everything it can **before** the first debit (purse rules, balances of every
//!   leg of a split sale, PIN), so a refusal debits nothing.
//! - The SAM writes the purchase ahead (pending) before DEBIT PURCHASE exists. If the exchange
//!   is lost, the sale ends with [`PosError::Interrupted`] and the purchase stays pending; the
//!   next time that card is presented (any sale, or `epurse pos recover`) GET STATUS and GET
//!   TRANSACTION PROOF decide: journaled (the merchant is paid) or cancelled (the card was
//!   never debited). Never a double debit, never an unpaid debit.
//! - A batch on a transfer card is the same bytes every time; writing is resend-safe (offsets)
//!   and the SAM keeps the batch until the bank's acknowledgement (ACK_SAM) verifies.

mod sale;
mod transfer;

pub use sale::{
    recover_card, sale, PurseChoice, Receipt, ReceiptLeg, RecoveryNote, SaleRefusal, SaleRequest,
};
pub use transfer::{
    acknowledge, personalise_transfer_card, read_batch, read_sealed_batch, transfer, upload,
    write_acknowledgement, AckReport, TransferCard, TransferReport, UploadReport,
};

use apdu_spec::{Amount, StatusWord};
use thiserror::Error;

use crate::card::CardError;
use crate::exchange::ExchangeError;

/// Why a POS, transfer or settlement workflow stopped.
#[derive(Debug, Error)]
pub enum PosError {
    /// The sale was refused before anything was debited (or the card refused the debit, which
    /// never debits).
    #[error("sale refused: {0}")]
    Refused(SaleRefusal),
    /// The card exchange failed (reader, card pulled, garbled answer).
    #[error(transparent)]
    Card(#[from] CardError),
    /// The SAM refused or failed.
    #[error("SAM: {0}")]
    Sam(#[from] sam::SamError),
    /// The DEBIT PURCHASE exchange was lost: the card may or may not have been debited.
    #[error(
        "the sale was interrupted during DEBIT PURCHASE (SAM sequence {sam_seq}): {cause}; \
         the purchase is pending in the SAM — present the same card again (epurse pos recover, \
         or the next sale on it) and the card's evidence will complete or cancel it; do not \
         charge the customer again until then"
    )]
    Interrupted {
        /// The pending purchase.
        sam_seq: u32,
        /// What failed.
        cause: ExchangeError,
    },
    /// A split sale paid its first part, then the second part failed.
    #[error(
        "split sale: {} was paid ({} card transaction(s)), but {} remains unpaid: {cause}",
        crate::format_amount(paid.total),
        paid.legs.len(),
        crate::format_amount(*unpaid)
    )]
    Partial {
        /// What was paid.
        paid: Box<Receipt>,
        /// What is still due.
        unpaid: u32,
        /// Why the second part failed.
        cause: Box<PosError>,
    },
    /// A transfer-card or settlement problem, with what to do.
    #[error("{0}")]
    Transfer(String),
    /// The back office failed.
    #[error("back office: {0}")]
    Backoffice(#[from] backoffice::Error),
    /// The back office refused the whole batch (nothing credited, the card keeps it).
    #[error("the back office refused the batch: {0}")]
    BatchRejected(backoffice::settlement::BatchRejection),
}

impl PosError {
    /// The status word of a card refusal, if the error is one.
    pub fn status_word(&self) -> Option<StatusWord> {
        match self {
            PosError::Card(CardError::Status { sw, .. }) => Some(*sw),
            PosError::Refused(SaleRefusal::Card { sw, .. }) => Some(*sw),
            _ => None,
        }
    }
}

pub(crate) fn amount(minor: u32) -> Result<Amount, PosError> {
    Amount::new(minor).map_err(|e| PosError::Transfer(format!("amount {minor}: {e}")))
}
