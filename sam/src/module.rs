//! The SAM as a service: the [`SecurityModule`] trait the POS talks to, and [`SoftwareSam`],
//! the software model behind it (a SAM file plus a [`StateStore`]).
//!
//! The POS never touches keys or the journal; it passes the card's answers in and sends the
//! SAM's commands out. A hardware SAM in a second reader implements the same trait by sending
//! its own APDUs, and the POS flow does not change.

use apdu_spec::{
    Amount, Batch, DateTime, DebitPurchase, DebitPurchaseResponse, InitializePurchase, Purse,
    ReadAckResponse, RecordType, SamId, Serial, SettlementRecord, StatusWord,
};
use thiserror::Error;

use crate::batch::{seal_batch, verify_ack, verify_seal, BatchError};
use crate::profile::{MerchantProfile, SamFile, SamFileError};
use crate::purchase::{
    card_purchase_key, mac2_verifies, purchase_mac1, purchase_session_key, EscalationReason,
    PendingPurchase, PendingStatus, ProofLookup, PurchaseAuthorization, PurchaseStart, Recovery,
    RecoveryEvidence, VoidReason, VoidedPurchase,
};
use crate::state::{Accumulators, AcknowledgedBatch, SamState};
use crate::store::{OpenReport, StatePaths, StateStore, StoreError};

/// Why the SAM refused or failed an operation. Every message says what happened to the
/// purchase or batch concerned and what to do.
#[derive(Debug, Error)]
pub enum SamError {
    /// The SAM file is unusable.
    #[error(transparent)]
    SamFile(#[from] SamFileError),
    /// The state cannot be opened or saved.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A batch or acknowledgement problem.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A previous save failed; the in-memory state may differ from the disk.
    #[error("an earlier save of the SAM state failed; restart the POS so the SAM reopens its state from disk")]
    Poisoned,
    /// The SAM cannot start the first state with these numbers.
    #[error("cannot initialise the SAM state: {0}")]
    BadStart(String),
    /// INITIALIZE PURCHASE named another SAM.
    #[error("INITIALIZE PURCHASE named SAM {got}, but this SAM is {expected}; build it with the SAM's initialize_purchase")]
    WrongSamId {
        /// This SAM.
        expected: SamId,
        /// The SAM id in the command.
        got: SamId,
    },
    /// The card's keys are of another generation.
    #[error("the card has key version {card:02X}, this SAM holds version {sam:02X}; the card or the SAM needs new keys from the bank")]
    KeyVersion {
        /// The SAM's key version.
        sam: u8,
        /// The card's key version.
        card: u8,
    },
    /// The card has a purchase whose outcome is not known yet.
    #[error("card {serial} has an unfinished purchase (SAM sequence {sam_seq}); recover it from the card (GET STATUS, GET TRANSACTION PROOF) before a new sale")]
    PendingOnCard {
        /// The card.
        serial: Serial,
        /// The pending purchase.
        sam_seq: u32,
    },
    /// All 2^32 − 1 SAM sequence numbers are used.
    #[error("the SAM sequence number is exhausted (FFFFFFFF); the bank must issue a new SAM")]
    SequenceExhausted,
    /// All batch numbers are used.
    #[error("the SAM batch number is exhausted (FFFFFFFF); the bank must issue a new SAM")]
    BatchNumberExhausted,
    /// No pending purchase with this sequence.
    #[error(
        "no pending purchase with SAM sequence {sam_seq}; it was already completed or cancelled"
    )]
    UnknownPurchase {
        /// The sequence asked for.
        sam_seq: u32,
    },
    /// The card's MAC2 does not verify.
    #[error("MAC2 of the card's answer for SAM sequence {sam_seq} does not verify; the purchase is NOT paid and stays pending — recover it with GET TRANSACTION PROOF (a wrong key version or tampering is possible)")]
    Mac2Invalid {
        /// The purchase.
        sam_seq: u32,
    },
    /// A DEBIT PURCHASE status word that does not show the card refused.
    #[error("status {sw} does not prove the card refused the debit of SAM sequence {sam_seq}; the purchase stays pending — recover it from the card")]
    RefusalNotDefinitive {
        /// The purchase.
        sam_seq: u32,
        /// The status word.
        sw: StatusWord,
    },
    /// Evidence read from another card.
    #[error("the evidence comes from card {got}, but SAM sequence {sam_seq} was a purchase on card {expected}; present the right card")]
    EvidenceFromOtherCard {
        /// The purchase.
        sam_seq: u32,
        /// Its card.
        expected: Serial,
        /// The card read.
        got: Serial,
    },
    /// A proof that does not answer GET TRANSACTION PROOF for this purchase.
    #[error("the proof given for SAM sequence {sam_seq} is not the card's answer to GET TRANSACTION PROOF for it ({reason}); send the command from proof_command")]
    WrongProof {
        /// The purchase.
        sam_seq: u32,
        /// What does not match.
        reason: &'static str,
    },
    /// No unacknowledged batch with this number.
    #[error("SAM {sam_id} holds no unacknowledged batch {batch_no}")]
    UnknownBatch {
        /// This SAM.
        sam_id: SamId,
        /// The batch number asked for.
        batch_no: u32,
    },
}

/// A completed purchase, as the POS prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedPurchase {
    /// The journaled settlement record (serial, REC, TAC).
    pub record: SettlementRecord,
}

impl CompletedPurchase {
    /// SAM sequence.
    pub fn sam_seq(&self) -> u32 {
        self.record.record.sam_seq
    }

    /// Amount paid.
    pub fn amount(&self) -> Amount {
        self.record.record.amount
    }

    /// Purse paid from.
    pub fn purse(&self) -> Purse {
        self.record.record.purse
    }

    /// The card's balance after the purchase.
    pub fn balance_after(&self) -> Amount {
        self.record.record.balance
    }
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The batch was held and is now dropped.
    Dropped(AcknowledgedBatch),
    /// The same acknowledgement was already applied (the batch is gone already).
    AlreadyApplied(AcknowledgedBatch),
}

/// One unacknowledged batch, summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Batch number.
    pub batch_no: u32,
    /// When it was sealed.
    pub sealed_at: DateTime,
    /// Per-purse counts and totals.
    pub totals: Accumulators,
    /// First and last SAM sequence.
    pub sam_seqs: (u32, u32),
    /// Size in bytes.
    pub len: usize,
}

/// The SAM's totals and open items (`epurse pos status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamStatus {
    /// The merchant profile.
    pub profile: MerchantProfile,
    /// Last SAM sequence handed out.
    pub last_sequence: u32,
    /// Last batch number used.
    pub last_batch_no: u32,
    /// Open (unsealed) journal totals: the SAM's accumulators.
    pub open: Accumulators,
    /// Every purchase ever journaled.
    pub collected: Accumulators,
    /// Pending purchases (awaiting the card or escalated).
    pub pending: Vec<PendingPurchase>,
    /// Sealed batches awaiting the bank's acknowledgement.
    pub unacknowledged: Vec<BatchSummary>,
    /// Recently cancelled purchases.
    pub recently_voided: Vec<VoidedPurchase>,
    /// Recently acknowledged batches.
    pub recently_acknowledged: Vec<AcknowledgedBatch>,
}

impl SamStatus {
    /// Value the SAM holds for the merchant: open journal plus unacknowledged batches.
    pub fn value_held(&self) -> u64 {
        self.unacknowledged
            .iter()
            .map(|b| b.totals.combined().total)
            .fold(self.open.combined().total, u64::saturating_add)
    }
}

/// The SAM as the POS sees it. See [`crate::purchase`] for the purchase flow and
/// [`crate::batch`] for the batch.
pub trait SecurityModule {
    /// The merchant profile (SAM id, MCC, key version, ...).
    fn profile(&self) -> &MerchantProfile;

    /// The INITIALIZE PURCHASE for `amount` from `purse`, naming this SAM and its key version.
    fn initialize_purchase(&self, purse: Purse, amount: Amount) -> InitializePurchase {
        let profile = self.profile();
        InitializePurchase {
            purse,
            key_version: profile.key_version,
            amount,
            sam_id: profile.sam_id,
        }
    }

    /// Authorises a purchase: the card's INITIALIZE PURCHASE answer in, DEBIT PURCHASE out.
    /// The purchase is durably pending before this returns; refused (nothing stored) if the
    /// card has a purchase awaiting recovery.
    fn begin_purchase(&mut self, start: PurchaseStart) -> Result<PurchaseAuthorization, SamError>;

    /// The card's DEBIT PURCHASE answer (`9000`): checks MAC2 and journals the record. On
    /// [`SamError::Mac2Invalid`] the purchase stays pending.
    fn complete_purchase(
        &mut self,
        sam_seq: u32,
        response: &DebitPurchaseResponse,
    ) -> Result<CompletedPurchase, SamError>;

    /// The card refused DEBIT PURCHASE with `sw`: the purchase is cancelled. `6F00`, unknown
    /// and transport status words prove nothing and leave it pending.
    fn purchase_declined(
        &mut self,
        sam_seq: u32,
        sw: StatusWord,
    ) -> Result<VoidedPurchase, SamError>;

    /// Pending purchases (awaiting the card or escalated), in SAM sequence order.
    fn pending_purchases(&self) -> Vec<PendingPurchase>;

    /// Resolves a pending purchase from the card's evidence (SPEC 2.8).
    fn recover_purchase(
        &mut self,
        sam_seq: u32,
        evidence: &RecoveryEvidence,
    ) -> Result<Recovery, SamError>;

    /// Seals up to `max_records` open records (the oldest first; `None`: all) into a new
    /// batch dated `datetime`, kept until acknowledged. `Ok(None)` when nothing is open.
    fn seal_batch(
        &mut self,
        datetime: DateTime,
        max_records: Option<usize>,
    ) -> Result<Option<Batch>, SamError>;

    /// The sealed batches not yet acknowledged, oldest first: write any of them (again) to a
    /// transfer card; they are the same bytes every time.
    fn unacknowledged_batches(&self) -> Vec<Batch>;

    /// Applies the bank's acknowledgement read from a transfer card (READ ACK): the batch is
    /// dropped only if `ACK_SAM` verifies over its seal.
    fn acknowledge(&mut self, ack: &ReadAckResponse) -> Result<AckOutcome, SamError>;

    /// Totals and open items.
    fn status(&self) -> SamStatus;
}

/// The software SAM: keys from a [`SamFile`], state in a [`StateStore`].
#[derive(Debug)]
pub struct SoftwareSam {
    file: SamFile,
    store: StateStore,
    state: SamState,
    report: OpenReport,
    poisoned: bool,
}

impl SoftwareSam {
    /// Initialises a new SAM state at `paths` (refused if one exists). The first purchase
    /// gets SAM sequence `first_sequence`, the first batch number `first_batch_no` (use 1 and 1
    /// for a new SAM; a replacement continues the numbers its bank record gives).
    pub fn create(
        paths: StatePaths,
        file: SamFile,
        first_sequence: u32,
        first_batch_no: u32,
    ) -> Result<Self, SamError> {
        let mut state = SamState::new(file.profile().sam_id, first_sequence, first_batch_no)
            .map_err(SamError::BadStart)?;
        let store = StateStore::create(paths, &file, &mut state)?;
        let report = OpenReport {
            generation: state.generation,
            ..OpenReport::default()
        };
        Ok(Self {
            file,
            store,
            state,
            report,
            poisoned: false,
        })
    }

    /// Opens the SAM's existing state, refusing a corrupt, foreign, tampered or rolled-back one.
    pub fn open(paths: StatePaths, file: SamFile) -> Result<Self, SamError> {
        let (store, state, report) = StateStore::open(paths, &file)?;
        Ok(Self {
            file,
            store,
            state,
            report,
            poisoned: false,
        })
    }

    /// What opening found (an interrupted save recovered, temporary files removed).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The state (read-only).
    pub fn state(&self) -> &SamState {
        &self.state
    }

    /// Applies `change` to a copy of the state and saves it; the copy becomes the state only
    /// once it is on disk. A failed save poisons the SAM.
    fn commit<T>(
        &mut self,
        change: impl FnOnce(&mut SamState) -> Result<T, SamError>,
    ) -> Result<T, SamError> {
        if self.poisoned {
            return Err(SamError::Poisoned);
        }
        let mut next = self.state.clone();
        let value = change(&mut next)?;
        if let Err(e) = self.store.save(&mut next) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.state = next;
        Ok(value)
    }

    fn pending(&self, sam_seq: u32) -> Result<PendingPurchase, SamError> {
        self.state
            .pending
            .iter()
            .find(|p| p.sam_seq == sam_seq)
            .copied()
            .ok_or(SamError::UnknownPurchase { sam_seq })
    }

    fn complete(
        &mut self,
        pending: PendingPurchase,
        record: SettlementRecord,
    ) -> Result<CompletedPurchase, SamError> {
        self.commit(|state| {
            state.take_pending(pending.sam_seq);
            state.journal_record(record);
            Ok(CompletedPurchase { record })
        })
    }

    fn void(
        &mut self,
        pending: PendingPurchase,
        reason: VoidReason,
    ) -> Result<VoidedPurchase, SamError> {
        let voided = VoidedPurchase {
            purchase: pending,
            reason,
        };
        self.commit(|state| {
            state.take_pending(pending.sam_seq);
            state.remember_voided(voided);
            Ok(voided)
        })
    }

    fn escalate(
        &mut self,
        pending: PendingPurchase,
        reason: EscalationReason,
    ) -> Result<PendingPurchase, SamError> {
        let escalated = PendingPurchase {
            status: PendingStatus::Escalated(reason),
            ..pending
        };
        if escalated == pending {
            return Ok(escalated);
        }
        self.commit(|state| {
            if let Some(p) = state
                .pending
                .iter_mut()
                .find(|p| p.sam_seq == pending.sam_seq)
            {
                *p = escalated;
            }
            Ok(escalated)
        })
    }
}

impl SecurityModule for SoftwareSam {
    fn profile(&self) -> &MerchantProfile {
        self.file.profile()
    }

    fn begin_purchase(&mut self, start: PurchaseStart) -> Result<PurchaseAuthorization, SamError> {
        let profile = self.file.profile().clone();
        if start.command.sam_id != profile.sam_id {
            return Err(SamError::WrongSamId {
                expected: profile.sam_id,
                got: start.command.sam_id,
            });
        }
        if start.response.key_version != profile.key_version {
            return Err(SamError::KeyVersion {
                sam: profile.key_version,
                card: start.response.key_version,
            });
        }
        if let Some(p) = self
            .state
            .pending
            .iter()
            .find(|p| p.serial == start.serial && p.is_awaiting_card())
        {
            return Err(SamError::PendingOnCard {
                serial: start.serial,
                sam_seq: p.sam_seq,
            });
        }
        let sam_seq = self
            .state
            .last_sequence
            .checked_add(1)
            .ok_or(SamError::SequenceExhausted)?;
        let pending = PendingPurchase {
            sam_seq,
            serial: start.serial,
            purse: start.command.purse,
            counter: start.response.counter,
            amount: start.command.amount,
            balance_before: start.response.balance,
            rnd: start.response.rnd,
            key_version: start.response.key_version,
            datetime: start.datetime,
            mcc: profile.mcc,
            pin_verified: start.pin_verified,
            status: PendingStatus::AwaitingCard,
        };
        let card_key = card_purchase_key(self.file.purchase_master(), start.serial);
        let sk = purchase_session_key(&card_key, pending.rnd, pending.counter, pending.purse);
        let mac1 = purchase_mac1(
            &sk,
            &pending.context(),
            profile.sam_id,
            sam_seq,
            pending.datetime,
            pending.mcc,
        );
        // Write-ahead: the purchase is on disk before the DEBIT PURCHASE exists.
        self.commit(|state| {
            state.last_sequence = sam_seq;
            state.pending.push(pending);
            Ok(())
        })?;
        Ok(PurchaseAuthorization {
            sam_seq,
            command: DebitPurchase {
                purse: pending.purse,
                sam_seq,
                datetime: pending.datetime,
                mcc: pending.mcc,
                mac1,
            },
        })
    }

    fn complete_purchase(
        &mut self,
        sam_seq: u32,
        response: &DebitPurchaseResponse,
    ) -> Result<CompletedPurchase, SamError> {
        let pending = self.pending(sam_seq)?;
        if !mac2_verifies(
            self.file.purchase_master(),
            &pending,
            response.balance,
            &response.mac2,
        ) {
            return Err(SamError::Mac2Invalid { sam_seq });
        }
        let record = SettlementRecord {
            serial: pending.serial,
            record: pending.record(self.file.profile().sam_id, response.balance),
            tac: response.tac,
        };
        self.complete(pending, record)
    }

    fn purchase_declined(
        &mut self,
        sam_seq: u32,
        sw: StatusWord,
    ) -> Result<VoidedPurchase, SamError> {
        let pending = self.pending(sam_seq)?;
        let proves_nothing = sw.is_success()
            || sw.is_transport()
            || matches!(sw, StatusWord::Internal | StatusWord::Unknown(_));
        if proves_nothing {
            return Err(SamError::RefusalNotDefinitive { sam_seq, sw });
        }
        self.void(pending, VoidReason::CardRefused(sw))
    }

    fn pending_purchases(&self) -> Vec<PendingPurchase> {
        self.state.pending.clone()
    }

    fn recover_purchase(
        &mut self,
        sam_seq: u32,
        evidence: &RecoveryEvidence,
    ) -> Result<Recovery, SamError> {
        let pending = self.pending(sam_seq)?;
        if evidence.serial != pending.serial {
            return Err(SamError::EvidenceFromOtherCard {
                sam_seq,
                expected: pending.serial,
                got: evidence.serial,
            });
        }
        if evidence.purchase_counter < pending.counter {
            return self
                .void(pending, VoidReason::CounterNotReached)
                .map(Recovery::Cancelled);
        }
        let proof = match evidence.proof {
            None => return Ok(Recovery::ProofNeeded(pending.proof_command())),
            Some(ProofLookup::NotFound) => {
                return self
                    .escalate(pending, EscalationReason::ProofOverwritten)
                    .map(Recovery::Escalated)
            }
            Some(ProofLookup::Found(proof)) => proof,
        };
        let rec = proof.record;
        let wrong = |reason| SamError::WrongProof { sam_seq, reason };
        if rec.record_type != RecordType::Purchase {
            return Err(wrong("it is not a purchase record"));
        }
        if rec.purse != pending.purse {
            return Err(wrong("it is for the other purse"));
        }
        if rec.counter != pending.counter {
            return Err(wrong("it is for another purchase counter"));
        }
        let sam_id = self.file.profile().sam_id;
        if rec.terminal != sam_id.0 || rec.sam_seq != pending.sam_seq {
            // The card spent this counter value on another sale: ours never debited it.
            return self
                .void(pending, VoidReason::CounterUsedElsewhere)
                .map(Recovery::Cancelled);
        }
        let expected = pending.record(sam_id, rec.balance);
        if rec != expected {
            return self
                .escalate(pending, EscalationReason::ProofContradicts)
                .map(Recovery::Escalated);
        }
        if !mac2_verifies(
            self.file.purchase_master(),
            &pending,
            rec.balance,
            &proof.mac2,
        ) {
            return self
                .escalate(pending, EscalationReason::ProofMac2Invalid)
                .map(Recovery::Escalated);
        }
        let record = SettlementRecord {
            serial: pending.serial,
            record: rec,
            tac: proof.tac,
        };
        self.complete(pending, record)
            .map(|c| Recovery::Completed(c.record))
    }

    fn seal_batch(
        &mut self,
        datetime: DateTime,
        max_records: Option<usize>,
    ) -> Result<Option<Batch>, SamError> {
        if self.state.journal.is_empty() {
            return Ok(None);
        }
        let take = max_records
            .unwrap_or(usize::MAX)
            .min(self.state.journal.len());
        if take == 0 {
            return Ok(None);
        }
        let batch_no = self
            .state
            .last_batch_no
            .checked_add(1)
            .ok_or(SamError::BatchNumberExhausted)?;
        let sam_id = self.file.profile().sam_id;
        let records = self.state.journal[..take].to_vec();
        let batch = seal_batch(
            self.file.settlement_key(),
            sam_id,
            batch_no,
            datetime,
            records,
        )?;
        self.commit(|state| {
            state.journal.drain(..take);
            state.open = Accumulators::of(&state.journal);
            state.last_batch_no = batch_no;
            state.batches.push(batch.clone());
            Ok(())
        })?;
        Ok(Some(batch))
    }

    fn unacknowledged_batches(&self) -> Vec<Batch> {
        self.state.batches.clone()
    }

    fn acknowledge(&mut self, ack: &ReadAckResponse) -> Result<AckOutcome, SamError> {
        let sam_id = self.file.profile().sam_id;
        let batch_no = ack.ack.batch_no;
        let held = self
            .state
            .batches
            .iter()
            .position(|b| b.header.batch_no == batch_no && b.header.sam_id == ack.ack.sam_id);
        let Some(index) = held else {
            if let Some(done) = self.state.acknowledged.iter().find(|a| a.ack == *ack) {
                return Ok(AckOutcome::AlreadyApplied(*done));
            }
            return Err(if ack.ack.sam_id != sam_id {
                BatchError::AckForOtherBatch {
                    sam_id,
                    batch_no,
                    got_sam: ack.ack.sam_id,
                    got_batch: batch_no,
                }
                .into()
            } else {
                SamError::UnknownBatch { sam_id, batch_no }
            });
        };
        let batch = &self.state.batches[index];
        // The stored batch's seal is re-checked, so a state edited in memory cannot be acked.
        verify_seal(self.file.settlement_key(), batch)?;
        verify_ack(self.file.settlement_key(), &batch.header, &batch.seal, ack)?;
        let acknowledged = AcknowledgedBatch {
            header: batch.header,
            ack: *ack,
        };
        self.commit(|state| {
            state.batches.remove(index);
            state.remember_ack(acknowledged);
            Ok(AckOutcome::Dropped(acknowledged))
        })
    }

    fn status(&self) -> SamStatus {
        SamStatus {
            profile: self.file.profile().clone(),
            last_sequence: self.state.last_sequence,
            last_batch_no: self.state.last_batch_no,
            open: self.state.open,
            collected: self.state.collected,
            pending: self.state.pending.clone(),
            unacknowledged: self
                .state
                .batches
                .iter()
                .map(|b| BatchSummary {
                    batch_no: b.header.batch_no,
                    sealed_at: b.header.datetime,
                    totals: Accumulators::of_header(&b.header),
                    sam_seqs: (b.header.first_sam_seq, b.header.last_sam_seq),
                    len: b.records.len() * SettlementRecord::LEN + crate::batch::BATCH_OVERHEAD,
                })
                .collect(),
            recently_voided: self.state.voided.clone(),
            recently_acknowledged: self.state.acknowledged.clone(),
        }
    }
}
