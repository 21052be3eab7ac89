//! The SAM's state: sequence and batch numbers, the journal of open settlement records with
//! its per-purse accumulators, the pending purchases, and the sealed batches the bank has not
//! acknowledged yet. [`crate::store`] keeps it on disk; [`crate::SoftwareSam`] changes it.
//!
//! Value held by the SAM at any moment (DESIGN.md, "Value conservation"):
//! `open accumulators + sealed-but-unacknowledged batches`; pending purchases are value whose
//! owner (card or merchant) the card's evidence will decide.
//!
//! Invariants, checked whenever a state is loaded ([`SamState::validate`]):
//!
//! - every SAM sequence (journal, pending, sealed batches) is unique and at most the last one
//!   handed out; journal and pending are in sequence order; the numbers only grow;
//! - journal records are purchases made by this SAM; the open accumulators equal their sums;
//! - every sealed batch is this SAM's, consistent, and its seal verifies;
//! - the lifetime totals are at least what is still held.

use std::collections::HashSet;

use apdu_spec::{
    Amount, Batch, BatchHeader, DateTime, Mcc, Purse, ReadAckResponse, RecordType, SamId, Serial,
    SettlementRecord, StatusWord,
};
use serde::{Deserialize, Serialize};

use crate::batch::{check_consistency, parse_batch, verify_seal};
use crate::crypto::Key16;
use crate::purchase::{
    EscalationReason, PendingPurchase, PendingStatus, VoidReason, VoidedPurchase,
};

/// How many cancelled purchases the state remembers (for status reports and audit).
pub const VOIDED_HISTORY: usize = 256;
/// How many acknowledged batches the state remembers.
pub const ACK_HISTORY: usize = 64;

/// Count and sum of amounts of one purse's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurseTotals {
    /// Number of records.
    pub count: u64,
    /// Sum of their amounts, in minor units.
    pub total: u64,
}

/// Per-purse totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accumulators {
    /// e-Cash.
    pub ecash: PurseTotals,
    /// Food-Voucher.
    pub food: PurseTotals,
}

impl Accumulators {
    /// One purse's totals.
    pub fn get(&self, purse: Purse) -> PurseTotals {
        match purse {
            Purse::Ecash => self.ecash,
            Purse::Food => self.food,
        }
    }

    /// Both purses together.
    pub fn combined(&self) -> PurseTotals {
        PurseTotals {
            count: self.ecash.count.saturating_add(self.food.count),
            total: self.ecash.total.saturating_add(self.food.total),
        }
    }

    pub(crate) fn add(&mut self, purse: Purse, amount: Amount) {
        let totals = match purse {
            Purse::Ecash => &mut self.ecash,
            Purse::Food => &mut self.food,
        };
        totals.count = totals.count.saturating_add(1);
        totals.total = totals.total.saturating_add(u64::from(amount.get()));
    }

    /// The totals of some settlement records.
    pub fn of(records: &[SettlementRecord]) -> Self {
        let mut acc = Self::default();
        for r in records {
            acc.add(r.record.purse, r.record.amount);
        }
        acc
    }

    /// The totals a batch header states.
    pub fn of_header(header: &BatchHeader) -> Self {
        Self {
            ecash: PurseTotals {
                count: header.ecash_count.into(),
                total: header.ecash_total,
            },
            food: PurseTotals {
                count: header.food_count.into(),
                total: header.food_total,
            },
        }
    }
}

/// A batch the bank acknowledged and the SAM dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcknowledgedBatch {
    /// The batch's header.
    pub header: BatchHeader,
    /// The acknowledgement (ACKDATA and ACK_SAM) as read from the transfer card.
    pub ack: ReadAckResponse,
}

/// The whole state of one SAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamState {
    pub(crate) sam_id: SamId,
    pub(crate) generation: u64,
    pub(crate) last_sequence: u32,
    pub(crate) last_batch_no: u32,
    pub(crate) open: Accumulators,
    pub(crate) collected: Accumulators,
    pub(crate) journal: Vec<SettlementRecord>,
    pub(crate) pending: Vec<PendingPurchase>,
    pub(crate) batches: Vec<Batch>,
    pub(crate) voided: Vec<VoidedPurchase>,
    pub(crate) acknowledged: Vec<AcknowledgedBatch>,
}

impl SamState {
    /// A new SAM's state: the first purchase gets SAM sequence `first_sequence` and the first
    /// batch number `first_batch_no` (both at least 1; a replacement state continues the
    /// numbers of the SAM it replaces).
    pub fn new(sam_id: SamId, first_sequence: u32, first_batch_no: u32) -> Result<Self, String> {
        if first_sequence == 0 || first_batch_no == 0 {
            return Err("the first SAM sequence and the first batch number are at least 1".into());
        }
        Ok(Self {
            sam_id,
            generation: 0,
            last_sequence: first_sequence - 1,
            last_batch_no: first_batch_no - 1,
            open: Accumulators::default(),
            collected: Accumulators::default(),
            journal: Vec::new(),
            pending: Vec::new(),
            batches: Vec::new(),
            voided: Vec::new(),
            acknowledged: Vec::new(),
        })
    }

    /// The SAM this state belongs to.
    pub fn sam_id(&self) -> SamId {
        self.sam_id
    }

    /// Save counter: grows by one on every save.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The last SAM sequence handed out (0: none yet with the default start).
    pub fn last_sequence(&self) -> u32 {
        self.last_sequence
    }

    /// The last batch number used.
    pub fn last_batch_no(&self) -> u32 {
        self.last_batch_no
    }

    /// Totals of the open (unsealed) journal.
    pub fn open_totals(&self) -> Accumulators {
        self.open
    }

    /// Totals of every purchase ever journaled.
    pub fn collected_totals(&self) -> Accumulators {
        self.collected
    }

    /// Open settlement records, in SAM sequence order.
    pub fn journal(&self) -> &[SettlementRecord] {
        &self.journal
    }

    /// Pending purchases, in SAM sequence order.
    pub fn pending(&self) -> &[PendingPurchase] {
        &self.pending
    }

    /// Sealed batches not yet acknowledged, in batch-number order.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// Recently cancelled purchases (at most [`VOIDED_HISTORY`]), oldest first.
    pub fn voided(&self) -> &[VoidedPurchase] {
        &self.voided
    }

    /// Recently acknowledged batches (at most [`ACK_HISTORY`]), oldest first.
    pub fn acknowledged(&self) -> &[AcknowledgedBatch] {
        &self.acknowledged
    }

    /// Journals a completed purchase (kept in sequence order).
    pub(crate) fn journal_record(&mut self, record: SettlementRecord) {
        let at = self
            .journal
            .partition_point(|r| r.record.sam_seq < record.record.sam_seq);
        self.journal.insert(at, record);
        self.open.add(record.record.purse, record.record.amount);
        self.collected
            .add(record.record.purse, record.record.amount);
    }

    pub(crate) fn take_pending(&mut self, sam_seq: u32) -> Option<PendingPurchase> {
        let at = self.pending.iter().position(|p| p.sam_seq == sam_seq)?;
        Some(self.pending.remove(at))
    }

    pub(crate) fn remember_voided(&mut self, voided: VoidedPurchase) {
        self.voided.push(voided);
        if self.voided.len() > VOIDED_HISTORY {
            let excess = self.voided.len() - VOIDED_HISTORY;
            self.voided.drain(..excess);
        }
    }

    pub(crate) fn remember_ack(&mut self, acknowledged: AcknowledgedBatch) {
        self.acknowledged.push(acknowledged);
        if self.acknowledged.len() > ACK_HISTORY {
            let excess = self.acknowledged.len() - ACK_HISTORY;
            self.acknowledged.drain(..excess);
        }
    }

    /// Checks every invariant (see the module docs); `settlement_key` verifies the seals.
    /// The error says which invariant is broken.
    pub fn validate(&self, settlement_key: &Key16) -> Result<(), String> {
        let mut seen = HashSet::new();
        let mut claim = |seq: u32, what: &str| -> Result<(), String> {
            if seq > self.last_sequence {
                return Err(format!(
                    "{what} has SAM sequence {seq}, above the last one handed out ({})",
                    self.last_sequence
                ));
            }
            if !seen.insert(seq) {
                return Err(format!("SAM sequence {seq} appears twice ({what})"));
            }
            Ok(())
        };

        let mut previous = None;
        for (i, r) in self.journal.iter().enumerate() {
            let what = format!("journal record {i}");
            if r.record.record_type != RecordType::Purchase || r.record.terminal != self.sam_id.0 {
                return Err(format!("{what} is not a purchase made by this SAM"));
            }
            if previous.is_some_and(|p| r.record.sam_seq <= p) {
                return Err(format!("{what} is out of SAM sequence order"));
            }
            previous = Some(r.record.sam_seq);
            claim(r.record.sam_seq, &what)?;
        }
        if Accumulators::of(&self.journal) != self.open {
            return Err("the open accumulators do not match the journal".into());
        }

        let mut previous = None;
        for p in &self.pending {
            if previous.is_some_and(|q| p.sam_seq <= q) {
                return Err("pending purchases are out of SAM sequence order".into());
            }
            previous = Some(p.sam_seq);
            claim(p.sam_seq, "a pending purchase")?;
        }

        let mut previous = None;
        let mut held = self.open;
        for b in &self.batches {
            let no = b.header.batch_no;
            if b.header.sam_id != self.sam_id {
                return Err(format!(
                    "sealed batch {no} belongs to SAM {}",
                    b.header.sam_id
                ));
            }
            if no > self.last_batch_no || previous.is_some_and(|p| no <= p) {
                return Err(format!("sealed batch number {no} is out of order"));
            }
            previous = Some(no);
            check_consistency(b).map_err(|e| format!("sealed batch {no}: {e}"))?;
            verify_seal(settlement_key, b).map_err(|e| format!("sealed batch {no}: {e}"))?;
            for r in &b.records {
                claim(r.record.sam_seq, &format!("a record of sealed batch {no}"))?;
            }
            let totals = Accumulators::of_header(&b.header);
            for purse in [Purse::Ecash, Purse::Food] {
                let t = totals.get(purse);
                let h = match purse {
                    Purse::Ecash => &mut held.ecash,
                    Purse::Food => &mut held.food,
                };
                h.count = h.count.saturating_add(t.count);
                h.total = h.total.saturating_add(t.total);
            }
        }
        for purse in [Purse::Ecash, Purse::Food] {
            let (h, c) = (held.get(purse), self.collected.get(purse));
            if h.count > c.count || h.total > c.total {
                return Err(format!(
                    "the lifetime {purse:?} totals are below what the SAM still holds"
                ));
            }
        }
        Ok(())
    }

    /// The state as compact JSON (the `"state"` object of the state file).
    pub(crate) fn to_json(&self) -> String {
        let doc = StateDoc {
            sam_id: self.sam_id.to_string(),
            generation: self.generation,
            last_sequence: self.last_sequence,
            last_batch_no: self.last_batch_no,
            open: self.open,
            collected: self.collected,
            journal: self
                .journal
                .iter()
                .map(|r| hex::encode_upper(r.to_bytes()))
                .collect(),
            pending: self.pending.iter().map(PendingDoc::from).collect(),
            batches: self
                .batches
                .iter()
                .map(|b| hex::encode_upper(b.to_bytes()))
                .collect(),
            voided: self
                .voided
                .iter()
                .map(|v| VoidedDoc {
                    purchase: PendingDoc::from(&v.purchase),
                    reason: void_reason_text(v.reason),
                })
                .collect(),
            acknowledged: self
                .acknowledged
                .iter()
                .map(|a| AckDoc {
                    header: hex::encode_upper(a.header.to_bytes()),
                    ack: hex::encode_upper(a.ack.to_bytes()),
                })
                .collect(),
        };
        match serde_json::to_string(&doc) {
            Ok(text) => text,
            // Strings, numbers and booleans always serialise.
            Err(e) => unreachable!("serialising the SAM state failed: {e}"),
        }
    }

    /// The SAM id and generation of a state object, read before its MAC is checked (to tell a
    /// foreign state from a tampered one).
    pub(crate) fn peek(json: &str) -> Result<(SamId, u64), String> {
        #[derive(Deserialize)]
        struct Peek {
            sam_id: String,
            generation: u64,
        }
        let peek: Peek = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let sam_id = peek
            .sam_id
            .parse()
            .map_err(|_| format!("sam_id {:?} is not 12 hex digits", peek.sam_id))?;
        Ok((sam_id, peek.generation))
    }

    /// Parses the `"state"` object. Does not check invariants ([`SamState::validate`] does).
    pub(crate) fn from_json(json: &str) -> Result<Self, String> {
        let doc: StateDoc = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let sam_id = doc
            .sam_id
            .parse()
            .map_err(|_| format!("sam_id {:?} is not 12 hex digits", doc.sam_id))?;
        let journal = doc
            .journal
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let bytes = hex::decode(h).map_err(|e| format!("journal record {i}: {e}"))?;
                SettlementRecord::parse(&bytes).map_err(|e| format!("journal record {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pending = doc
            .pending
            .iter()
            .map(PendingDoc::to_model)
            .collect::<Result<Vec<_>, _>>()?;
        let batches = doc
            .batches
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let bytes = hex::decode(h).map_err(|e| format!("sealed batch {i}: {e}"))?;
                parse_batch(&bytes).map_err(|e| format!("sealed batch {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let voided = doc
            .voided
            .iter()
            .map(|v| {
                Ok(VoidedPurchase {
                    purchase: v.purchase.to_model()?,
                    reason: parse_void_reason(&v.reason)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let acknowledged = doc
            .acknowledged
            .iter()
            .map(|a| {
                let header = hex::decode(&a.header).map_err(|e| e.to_string())?;
                let ack = hex::decode(&a.ack).map_err(|e| e.to_string())?;
                Ok(AcknowledgedBatch {
                    header: BatchHeader::parse(&header).map_err(|e| e.to_string())?,
                    ack: ReadAckResponse::parse(&ack).map_err(|e| e.to_string())?,
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| format!("acknowledged batch: {e}"))?;
        Ok(Self {
            sam_id,
            generation: doc.generation,
            last_sequence: doc.last_sequence,
            last_batch_no: doc.last_batch_no,
            open: doc.open,
            collected: doc.collected,
            journal,
            pending,
            batches,
            voided,
            acknowledged,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    sam_id: String,
    generation: u64,
    last_sequence: u32,
    last_batch_no: u32,
    open: Accumulators,
    collected: Accumulators,
    /// Settlement records, 48 bytes each as hex.
    journal: Vec<String>,
    pending: Vec<PendingDoc>,
    /// Whole batches as hex.
    batches: Vec<String>,
    voided: Vec<VoidedDoc>,
    acknowledged: Vec<AckDoc>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingDoc {
    sam_seq: u32,
    serial: String,
    purse: u8,
    counter: u16,
    amount: u32,
    balance_before: u32,
    rnd: String,
    key_version: u8,
    datetime: String,
    mcc: String,
    pin_verified: bool,
    status: String,
}

impl From<&PendingPurchase> for PendingDoc {
    fn from(p: &PendingPurchase) -> Self {
        Self {
            sam_seq: p.sam_seq,
            serial: p.serial.to_string(),
            purse: p.purse.code(),
            counter: p.counter,
            amount: p.amount.get(),
            balance_before: p.balance_before.get(),
            rnd: hex::encode_upper(p.rnd),
            key_version: p.key_version,
            datetime: p.datetime.to_string(),
            mcc: p.mcc.to_string(),
            pin_verified: p.pin_verified,
            status: match p.status {
                PendingStatus::AwaitingCard => "awaiting-card".into(),
                PendingStatus::Escalated(r) => format!("escalated:{}", escalation_text(r)),
            },
        }
    }
}

impl PendingDoc {
    fn to_model(&self) -> Result<PendingPurchase, String> {
        let what = format!("pending purchase {}", self.sam_seq);
        let bad = |field: &str, e: &dyn core::fmt::Display| format!("{what}: {field}: {e}");
        let rnd = hex::decode(&self.rnd).map_err(|e| bad("rnd", &e))?;
        let status = match self.status.as_str() {
            "awaiting-card" => PendingStatus::AwaitingCard,
            other => match other.strip_prefix("escalated:").and_then(parse_escalation) {
                Some(reason) => PendingStatus::Escalated(reason),
                None => return Err(bad("status", &other)),
            },
        };
        Ok(PendingPurchase {
            sam_seq: self.sam_seq,
            serial: self
                .serial
                .parse::<Serial>()
                .map_err(|e| bad("serial", &e))?,
            purse: Purse::try_from(self.purse).map_err(|e| bad("purse", &e))?,
            counter: self.counter,
            amount: Amount::new(self.amount).map_err(|e| bad("amount", &e))?,
            balance_before: Amount::new(self.balance_before).map_err(|e| bad("balance", &e))?,
            rnd: rnd.try_into().map_err(|_| bad("rnd", &"not 4 bytes"))?,
            key_version: self.key_version,
            datetime: self
                .datetime
                .parse::<DateTime>()
                .map_err(|e| bad("datetime", &e))?,
            mcc: self.mcc.parse::<Mcc>().map_err(|e| bad("mcc", &e))?,
            pin_verified: self.pin_verified,
            status,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoidedDoc {
    purchase: PendingDoc,
    reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckDoc {
    header: String,
    ack: String,
}

fn escalation_text(reason: EscalationReason) -> &'static str {
    match reason {
        EscalationReason::ProofOverwritten => "proof-overwritten",
        EscalationReason::ProofMac2Invalid => "proof-mac2-invalid",
        EscalationReason::ProofContradicts => "proof-contradicts",
    }
}

fn parse_escalation(text: &str) -> Option<EscalationReason> {
    [
        EscalationReason::ProofOverwritten,
        EscalationReason::ProofMac2Invalid,
        EscalationReason::ProofContradicts,
    ]
    .into_iter()
    .find(|r| escalation_text(*r) == text)
}

fn void_reason_text(reason: VoidReason) -> String {
    match reason {
        VoidReason::CardRefused(sw) => format!("card-refused:{:04X}", u16::from(sw)),
        VoidReason::CounterNotReached => "counter-not-reached".into(),
        VoidReason::CounterUsedElsewhere => "counter-used-elsewhere".into(),
    }
}

fn parse_void_reason(text: &str) -> Result<VoidReason, String> {
    match text {
        "counter-not-reached" => Ok(VoidReason::CounterNotReached),
        "counter-used-elsewhere" => Ok(VoidReason::CounterUsedElsewhere),
        other => other
            .strip_prefix("card-refused:")
            .and_then(|sw| u16::from_str_radix(sw, 16).ok())
            .map(|sw| VoidReason::CardRefused(StatusWord::from(sw)))
            .ok_or_else(|| format!("unknown void reason {other:?}")),
    }
}
