//! Purchase sessions (SPEC.md 2.7, 1.7, 2.8): the SAM's side of a sale and of its recovery.
//!
//! A sale, as the POS drives it:
//!
//! 1. The POS sends INITIALIZE PURCHASE (built by
//!    [`crate::SecurityModule::initialize_purchase`]) and hands the card's answer to
//!    [`crate::SecurityModule::begin_purchase`] as a [`PurchaseStart`].
//! 2. The SAM derives `K_PURCHASE = EMVA(MK_PURCHASE, SERIAL)` and
//!    `SK_PURCHASE = EMVA(K_PURCHASE, RND || CTR || 02 || PURSE)`, takes the next SAM sequence,
//!    computes `MAC1` over [`apdu_spec::purchase_mac1_input`], **stores the purchase as pending**
//!    (write-ahead) and only then returns the DEBIT PURCHASE command ([`PurchaseAuthorization`]).
//! 3. The card's answer goes to [`crate::SecurityModule::complete_purchase`]: `MAC2` is checked
//!    and the settlement record `SERIAL || REC || TAC` is journaled; or, if the card refused
//!    with a status word, to [`crate::SecurityModule::purchase_declined`], which cancels it.
//! 4. If the answer never came (card pulled, POS killed), the purchase stays pending. When the
//!    card is presented again the POS reads GET STATUS and GET TRANSACTION PROOF
//!    ([`PendingPurchase::proof_command`]) and hands them to
//!    [`crate::SecurityModule::recover_purchase`] as [`RecoveryEvidence`]; the SAM completes or
//!    cancels it from that evidence alone ([`Recovery`]), never by a guess.
//!
//! The functions at the end are the purchase cryptography, shared with anyone who needs to
//! compute the same values (test cards, a hardware-SAM emulator).

use apdu_spec::{
    purchase_mac1_input, purchase_mac2_input, Amount, DateTime, DebitPurchase, GetTransactionProof,
    InitPurchaseResponse, InitializePurchase, Mcc, PurchaseContext, Purse, PurseStatus, RecordType,
    SamId, Serial, SettlementRecord, StatusWord, TransactionProof, TransactionRecord, TxType,
};

use crate::crypto::{diversify, mac_eq, retail_mac_m2, session_key, Key16};

/// What the SAM needs to authorise a purchase: the card and its INITIALIZE PURCHASE exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseStart {
    /// The card serial (from the FCI of SELECT, tag `C1`).
    pub serial: Serial,
    /// The INITIALIZE PURCHASE command the POS sent.
    pub command: InitializePurchase,
    /// The card's answer to it.
    pub response: InitPurchaseResponse,
    /// The date and time of the sale (the SAM's clock, from the POS).
    pub datetime: DateTime,
    /// Whether VERIFY PIN succeeded since the last SELECT of the card: the card then sets
    /// `FLAGS` bit 0 of the record, which the TAC covers.
    pub pin_verified: bool,
}

/// The SAM's authorisation of a purchase: the DEBIT PURCHASE command to send. The purchase is
/// pending in the SAM from the moment this exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseAuthorization {
    /// The SAM sequence number given to the purchase (its handle in the SAM).
    pub sam_seq: u32,
    /// DEBIT PURCHASE with `SAMSEQ`, `DATETIME`, `MCC` and `MAC1`.
    pub command: DebitPurchase,
}

/// Where a pending purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    /// DEBIT PURCHASE may have been sent; the card's evidence will decide.
    AwaitingCard,
    /// The card's evidence cannot decide it; it stays pending for the issuer to reconcile from
    /// settlement records (SPEC 2.8). It no longer blocks new sales with the card.
    Escalated(EscalationReason),
}

impl PendingStatus {
    /// A one-line explanation for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AwaitingCard => "awaiting the card: present it again to complete or cancel",
            Self::Escalated(reason) => reason.describe(),
        }
    }
}

/// Why a pending purchase was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscalationReason {
    /// The card's counter shows the purchase counter was used but the proof is no longer in
    /// its 16-entry log (`6A88`).
    ProofOverwritten,
    /// The proof names this very purchase but its MAC2 does not verify.
    ProofMac2Invalid,
    /// The proof names this SAM and sequence but other amounts or fields.
    ProofContradicts,
}

impl EscalationReason {
    /// A one-line explanation for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ProofOverwritten => {
                "the card used this purchase counter but its log no longer holds the proof"
            }
            Self::ProofMac2Invalid => "the card's proof for this purchase has an invalid MAC2",
            Self::ProofContradicts => {
                "the card's proof names this purchase with different amounts or fields"
            }
        }
    }
}

/// A purchase the SAM authorised whose outcome it does not know yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingPurchase {
    /// SAM sequence number of the purchase.
    pub sam_seq: u32,
    /// The card.
    pub serial: Serial,
    /// The purse debited.
    pub purse: Purse,
    /// `CTR`: the purchase counter this purchase uses on the card.
    pub counter: u16,
    /// Amount.
    pub amount: Amount,
    /// The balance the card reported before the purchase (informational, not authenticated).
    pub balance_before: Amount,
    /// The card random of the purchase session (for the session key).
    pub rnd: [u8; 4],
    /// The card's key version.
    pub key_version: u8,
    /// Date and time sent to the card.
    pub datetime: DateTime,
    /// MCC sent to the card.
    pub mcc: Mcc,
    /// Whether the PIN was verified in the card session.
    pub pin_verified: bool,
    /// Awaiting the card, or escalated.
    pub status: PendingStatus,
}

impl PendingPurchase {
    /// What the MACs bind.
    pub fn context(&self) -> PurchaseContext {
        PurchaseContext {
            serial: self.serial,
            purse: self.purse,
            counter: self.counter,
            amount: self.amount,
        }
    }

    /// The GET TRANSACTION PROOF that finds this purchase in the card's log.
    pub fn proof_command(&self) -> GetTransactionProof {
        GetTransactionProof {
            purse: self.purse,
            record_type: RecordType::Purchase,
            counter: self.counter,
        }
    }

    /// The record the card writes for this purchase when it leaves `balance_after`.
    pub fn record(&self, sam_id: SamId, balance_after: Amount) -> TransactionRecord {
        TransactionRecord {
            record_type: RecordType::Purchase,
            purse: self.purse,
            counter: self.counter,
            amount: self.amount,
            balance: balance_after,
            terminal: sam_id.0,
            sam_seq: self.sam_seq,
            datetime: self.datetime,
            mcc: self.mcc,
            flags: if self.pin_verified {
                TransactionRecord::FLAG_PIN_VERIFIED
            } else {
                0
            },
        }
    }

    /// Whether this purchase still blocks new sales with its card.
    pub fn is_awaiting_card(&self) -> bool {
        self.status == PendingStatus::AwaitingCard
    }
}

/// The result of GET TRANSACTION PROOF for a pending purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofLookup {
    /// `9000`: the log entry.
    Found(TransactionProof),
    /// `6A88`: no such entry in the card's log.
    NotFound,
}

/// What the card says about a pending purchase: read with GET STATUS and, when the counter
/// shows the counter value was used, GET TRANSACTION PROOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryEvidence {
    /// The card serial (GET STATUS or the FCI).
    pub serial: Serial,
    /// The purse's purchase counter now (GET STATUS).
    pub purchase_counter: u16,
    /// The proof lookup, if made.
    pub proof: Option<ProofLookup>,
}

impl RecoveryEvidence {
    /// Evidence from a GET STATUS response for `purse` and an optional proof lookup.
    pub fn from_status(status: &PurseStatus, purse: Purse, proof: Option<ProofLookup>) -> Self {
        Self {
            serial: status.serial,
            purchase_counter: status.purse(purse).purchase_counter,
            proof,
        }
    }
}

/// Why a pending purchase was cancelled (the card was never debited for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoidReason {
    /// The card refused DEBIT PURCHASE with this status word (a refusal never debits).
    CardRefused(StatusWord),
    /// The card's purchase counter is below the purchase's: it never completed it.
    CounterNotReached,
    /// The card's proof for that counter is another purchase (another SAM or sequence): the
    /// counter value went to a different sale, so this one never happened.
    CounterUsedElsewhere,
}

impl VoidReason {
    /// A one-line explanation for an operator.
    pub fn describe(self) -> String {
        match self {
            Self::CardRefused(sw) => format!("the card refused the debit ({sw})"),
            Self::CounterNotReached => "the card never completed the debit".into(),
            Self::CounterUsedElsewhere => {
                "the card used that purchase counter for another sale; this one never happened"
                    .into()
            }
        }
    }
}

/// A purchase cancelled without a debit; its SAM sequence number stays unused (a gap in the
/// SAM's sequence that no batch will fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoidedPurchase {
    /// The purchase as it was pending.
    pub purchase: PendingPurchase,
    /// Why it was cancelled.
    pub reason: VoidReason,
}

/// How a recovery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The card was debited: the record is journaled (the merchant is paid).
    Completed(SettlementRecord),
    /// The card was not debited: the purchase is cancelled (nothing to pay).
    Cancelled(VoidedPurchase),
    /// The evidence cannot decide: the purchase stays pending, escalated.
    Escalated(PendingPurchase),
    /// The card's counter shows the counter value was used: send this GET TRANSACTION PROOF
    /// and call again with its result. Nothing changed.
    ProofNeeded(GetTransactionProof),
}

/// `K_PURCHASE = EMVA(MK_PURCHASE, SERIAL)`.
pub fn card_purchase_key(purchase_master: &Key16, serial: Serial) -> Key16 {
    diversify(purchase_master, &serial.0)
}

/// `SK_PURCHASE = EMVA(K_PURCHASE, RND || CTR || 02 || PURSE)`.
pub fn purchase_session_key(card_key: &Key16, rnd: [u8; 4], counter: u16, purse: Purse) -> Key16 {
    session_key(
        card_key,
        rnd,
        counter,
        TxType::Purchase.code(),
        purse.code(),
    )
}

/// `MAC1 = MAC(SK_PURCHASE, 21 || SERIAL || PURSE || CTR || AMOUNT || SAM_ID || SAMSEQ ||
/// DATETIME || MCC)`.
pub fn purchase_mac1(
    session_key: &Key16,
    purchase: &PurchaseContext,
    sam_id: SamId,
    sam_seq: u32,
    datetime: DateTime,
    mcc: Mcc,
) -> [u8; 8] {
    retail_mac_m2(
        session_key,
        &purchase_mac1_input(purchase, sam_id, sam_seq, datetime, mcc),
    )
}

/// `MAC2 = MAC(SK_PURCHASE, 22 || SERIAL || PURSE || CTR || AMOUNT || BALANCE_AFTER || SAMSEQ)`.
pub fn purchase_mac2(
    session_key: &Key16,
    purchase: &PurchaseContext,
    balance_after: Amount,
    sam_seq: u32,
) -> [u8; 8] {
    retail_mac_m2(
        session_key,
        &purchase_mac2_input(purchase, balance_after, sam_seq),
    )
}

/// Whether `mac2` is the card's MAC2 for `pending` leaving `balance_after` (constant time).
pub fn mac2_verifies(
    purchase_master: &Key16,
    pending: &PendingPurchase,
    balance_after: Amount,
    mac2: &[u8; 8],
) -> bool {
    let card_key = card_purchase_key(purchase_master, pending.serial);
    let sk = purchase_session_key(&card_key, pending.rnd, pending.counter, pending.purse);
    let expected = purchase_mac2(&sk, &pending.context(), balance_after, pending.sam_seq);
    mac_eq(&expected, mac2)
}
