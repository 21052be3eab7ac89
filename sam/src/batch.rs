//! The transfer batch (SPEC.md 3.1 and 1.11), shared by the SAM (seals it), the POS (writes it
//! onto a transfer card), the settlement station (reads it back) and the back office (verifies
//! it and acknowledges it).
//!
//! ```text
//! BATCH  = HEADER (50) || RECORDS (48 × N) || SEAL (8)
//! SEAL     = MAC(K_SETTLE, 50 || HEADER || RECORDS)
//! ACK_SAM  = MAC(K_SETTLE, 51 || ACKDATA || SEAL)            checked by the SAM
//! ACK_CARD = MAC(K_XFER,   52 || XSERIAL || ACKDATA || SEAL)  checked by the transfer card
//! K_SETTLE = EMVA(MK_SETTLEMENT, SAM_ID || 00 00),  K_XFER = EMVA(MK_TRANSFER, XSERIAL)
//! ```
//!
//! Everything here is pure: bytes in, bytes or typed errors out. [`parse_batch`] checks the
//! layout *and* that the header agrees with the records (counts, totals, first/last SAM
//! sequence, strictly increasing sequences, only purchases made by this SAM), so a batch that
//! parses is internally consistent; [`verify_seal`] then says whether it is authentic.
//! Sealing is deterministic: the same header and records always give the same bytes, so a batch
//! written again to a second transfer card (the first one lost) is the very same batch.
//!
//! What a verifier may and may not expect of a SAM's sequence numbers (`SAMSEQ`):
//!
//! - within a batch they strictly increase, and no sequence is ever in two records;
//! - they have **gaps**: a sequence is taken when a purchase is authorised, and a purchase the
//!   card never debited (refused, or cancelled from the card's evidence) leaves its number
//!   unused for ever (the SAM lists recent ones in its status);
//! - **across batches** they need not increase: a purchase still pending when a batch is
//!   sealed is journaled later, with its lower number, in a later batch.
//!
//! So duplicates per (SAM, sequence) and per (card, counter) are errors; a missing
//! (card, counter) is lost value to investigate; a gap in the SAM's sequence alone is not.

use apdu_spec::{
    ack_card_input, ack_sam_input, seal_input, AckData, AckResult, Batch, BatchHeader, ClearBatch,
    DateTime, Purse, ReadAckResponse, RecordType, SamId, Serial, SettlementRecord, SpecError,
};
use thiserror::Error;

use crate::crypto::{diversify, mac_eq, retail_mac_m2, Key16};

/// Size of the seal at the end of a batch.
pub const SEAL_LEN: usize = 8;

/// Bytes of a batch around its records: header and seal.
pub const BATCH_OVERHEAD: usize = BatchHeader::LEN + SEAL_LEN;

/// Why a batch, a seal or an acknowledgement is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a header and a seal.
    #[error("batch of {len} bytes is too short: a batch has at least {BATCH_OVERHEAD} bytes (header and seal)")]
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// A header `FORMAT` other than `01`.
    #[error("batch FORMAT {0:02X} is not supported (only 01); the batch comes from newer software or is damaged")]
    UnknownFormat(u8),
    /// A header field that does not decode (e.g. a date-time that is not BCD).
    #[error("batch header is malformed: {0}")]
    Header(#[source] SpecError),
    /// The length is not `50 + 48 × N + 8` for the header's `N`.
    #[error("batch is {len} bytes but its header announces {records} records ({expected} bytes); the batch is truncated or padded")]
    LengthMismatch {
        /// Bytes given.
        len: usize,
        /// Records announced by the header.
        records: u64,
        /// Bytes that many records need.
        expected: u64,
    },
    /// A batch without records (the SAM never seals one).
    #[error("batch holds no records; a SAM never seals an empty batch")]
    Empty,
    /// More records than the 32-bit header counts can describe.
    #[error("{records} records do not fit one batch (the header counts are 32-bit)")]
    TooManyRecords {
        /// Records offered.
        records: usize,
    },
    /// A settlement record that does not decode.
    #[error("record {index} is malformed: {source}")]
    Record {
        /// Position in the batch, from 0.
        index: usize,
        /// Why.
        #[source]
        source: SpecError,
    },
    /// A record that is not a purchase.
    #[error("record {index} is a {found:?}, not a purchase; only purchases are settled")]
    NotPurchase {
        /// Position in the batch.
        index: usize,
        /// Its transaction type.
        found: RecordType,
    },
    /// A record made by another SAM.
    #[error("record {index} was made by SAM {found}, not by the batch's SAM {expected}")]
    ForeignRecord {
        /// Position in the batch.
        index: usize,
        /// The batch's SAM.
        expected: SamId,
        /// The record's `TERMINAL`.
        found: SamId,
    },
    /// SAM sequences not strictly increasing (a duplicate or reordered record).
    #[error("record {index} has SAM sequence {sam_seq} after {previous}: records must be in strictly increasing SAM sequence order (duplicate or reordered record)")]
    OutOfOrder {
        /// Position in the batch.
        index: usize,
        /// The previous record's sequence.
        previous: u32,
        /// This record's sequence.
        sam_seq: u32,
    },
    /// A header count that disagrees with the records.
    #[error("header says {header} {purse:?} records, the batch holds {actual}")]
    CountMismatch {
        /// Which purse.
        purse: Purse,
        /// The header's count.
        header: u32,
        /// Records of that purse.
        actual: u64,
    },
    /// A header total that disagrees with the records.
    #[error("header says the {purse:?} total is {header}, the records add up to {actual}")]
    TotalMismatch {
        /// Which purse.
        purse: Purse,
        /// The header's total.
        header: u64,
        /// Sum of that purse's amounts.
        actual: u64,
    },
    /// `FIRST_SAMSEQ`/`LAST_SAMSEQ` that disagree with the records.
    #[error("header says SAM sequences {header_first}..={header_last}, the records run {first}..={last}")]
    SequenceRange {
        /// Header `FIRST_SAMSEQ`.
        header_first: u32,
        /// Header `LAST_SAMSEQ`.
        header_last: u32,
        /// First record's sequence.
        first: u32,
        /// Last record's sequence.
        last: u32,
    },
    /// The seal does not verify under the SAM's settlement key.
    #[error("batch seal does not verify: the batch was altered or was not sealed by SAM {sam_id}")]
    SealMismatch {
        /// The SAM the header names.
        sam_id: SamId,
    },
    /// An acknowledgement for another SAM or batch.
    #[error(
        "acknowledgement is for SAM {got_sam} batch {got_batch}, not SAM {sam_id} batch {batch_no}"
    )]
    AckForOtherBatch {
        /// The batch's SAM.
        sam_id: SamId,
        /// The batch's number.
        batch_no: u32,
        /// SAM named by the acknowledgement.
        got_sam: SamId,
        /// Batch named by the acknowledgement.
        got_batch: u32,
    },
    /// `ACK_SAM` does not verify.
    #[error("ACK_SAM of the acknowledgement for batch {batch_no} does not verify: not issued by the back office for this batch; the batch is kept")]
    AckMacMismatch {
        /// The batch number.
        batch_no: u32,
    },
}

/// `K_SETTLE = EMVA(MK_SETTLEMENT, SAM_ID || 00 00)` (SPEC 1.2): a SAM's settlement key.
pub fn settlement_key(settlement_master: &Key16, sam_id: SamId) -> Key16 {
    let [a, b, c, d, e, f] = sam_id.0;
    diversify(settlement_master, &[a, b, c, d, e, f, 0x00, 0x00])
}

/// `K_XFER = EMVA(MK_TRANSFER, XSERIAL)` (SPEC 1.2): a transfer card's key.
pub fn transfer_card_key(transfer_master: &Key16, xserial: Serial) -> Key16 {
    diversify(transfer_master, &xserial.0)
}

/// The most records a batch of at most `capacity` bytes holds (a transfer card's CAPACITY).
pub fn max_records(capacity: usize) -> usize {
    capacity.saturating_sub(BATCH_OVERHEAD) / SettlementRecord::LEN
}

/// Counts, totals and sequence range of some records, as a batch header states them.
/// Checks what [`parse_batch`] checks: non-empty, purchases only, made by `sam_id`, strictly
/// increasing SAM sequences.
pub fn header_for(
    sam_id: SamId,
    batch_no: u32,
    datetime: DateTime,
    records: &[SettlementRecord],
) -> Result<BatchHeader, BatchError> {
    let summary = summarise(sam_id, records)?;
    let count = |n: u64| {
        u32::try_from(n).map_err(|_| BatchError::TooManyRecords {
            records: records.len(),
        })
    };
    Ok(BatchHeader {
        sam_id,
        batch_no,
        datetime,
        ecash_count: count(summary.ecash_count)?,
        ecash_total: summary.ecash_total,
        food_count: count(summary.food_count)?,
        food_total: summary.food_total,
        first_sam_seq: summary.first,
        last_sam_seq: summary.last,
    })
}

/// `SEAL = MAC(K_SETTLE, 50 || HEADER || RECORDS)`.
pub fn seal(settlement_key: &Key16, header: &BatchHeader, records: &[SettlementRecord]) -> [u8; 8] {
    retail_mac_m2(settlement_key, &seal_input(header, records))
}

/// Seals `records` (in SAM sequence order) into batch `batch_no`, dated `datetime`.
pub fn seal_batch(
    settlement_key: &Key16,
    sam_id: SamId,
    batch_no: u32,
    datetime: DateTime,
    records: Vec<SettlementRecord>,
) -> Result<Batch, BatchError> {
    let header = header_for(sam_id, batch_no, datetime, &records)?;
    let seal = seal(settlement_key, &header, &records);
    Ok(Batch {
        header,
        records,
        seal,
    })
}

/// Parses batch bytes (as read from a transfer card) and checks that the header agrees with
/// the records. Does not check the seal: see [`verify_seal`].
pub fn parse_batch(bytes: &[u8]) -> Result<Batch, BatchError> {
    if bytes.len() < BATCH_OVERHEAD {
        return Err(BatchError::TooShort { len: bytes.len() });
    }
    let (head, rest) = bytes.split_at(BatchHeader::LEN);
    if let Some(&format) = head.first() {
        if format != apdu_spec::transfer::BATCH_FORMAT_V1 {
            return Err(BatchError::UnknownFormat(format));
        }
    }
    let header = BatchHeader::parse(head).map_err(BatchError::Header)?;
    let expected = header.batch_len();
    if expected != bytes.len() as u64 {
        return Err(BatchError::LengthMismatch {
            len: bytes.len(),
            records: header.record_count(),
            expected,
        });
    }
    let (body, seal_bytes) = rest.split_at(rest.len() - SEAL_LEN);
    let mut seal = [0u8; SEAL_LEN];
    seal.copy_from_slice(seal_bytes);
    let records = body
        .chunks_exact(SettlementRecord::LEN)
        .enumerate()
        .map(|(index, chunk)| {
            SettlementRecord::parse(chunk).map_err(|source| BatchError::Record { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = Batch {
        header,
        records,
        seal,
    };
    check_consistency(&batch)?;
    Ok(batch)
}

/// Checks that a batch's header agrees with its records (what [`parse_batch`] checks after
/// the layout).
pub fn check_consistency(batch: &Batch) -> Result<(), BatchError> {
    let header = &batch.header;
    let summary = summarise(header.sam_id, &batch.records)?;
    for (purse, header_count, header_total, count, total) in [
        (
            Purse::Ecash,
            header.ecash_count,
            header.ecash_total,
            summary.ecash_count,
            summary.ecash_total,
        ),
        (
            Purse::Food,
            header.food_count,
            header.food_total,
            summary.food_count,
            summary.food_total,
        ),
    ] {
        if u64::from(header_count) != count {
            return Err(BatchError::CountMismatch {
                purse,
                header: header_count,
                actual: count,
            });
        }
        if header_total != total {
            return Err(BatchError::TotalMismatch {
                purse,
                header: header_total,
                actual: total,
            });
        }
    }
    if (header.first_sam_seq, header.last_sam_seq) != (summary.first, summary.last) {
        return Err(BatchError::SequenceRange {
            header_first: header.first_sam_seq,
            header_last: header.last_sam_seq,
            first: summary.first,
            last: summary.last,
        });
    }
    Ok(())
}

/// Checks the seal of a batch with the SAM's settlement key (constant-time comparison).
pub fn verify_seal(settlement_key: &Key16, batch: &Batch) -> Result<(), BatchError> {
    let expected = seal(settlement_key, &batch.header, &batch.records);
    if mac_eq(&expected, &batch.seal) {
        Ok(())
    } else {
        Err(BatchError::SealMismatch {
            sam_id: batch.header.sam_id,
        })
    }
}

/// The back office's `ACKDATA` for a verified batch: `RESULT` is "all accepted" exactly when
/// nothing was rejected.
pub fn ack_data(
    header: &BatchHeader,
    credited: u64,
    accepted: u32,
    rejected: u32,
    datetime: DateTime,
) -> AckData {
    AckData {
        sam_id: header.sam_id,
        batch_no: header.batch_no,
        result: if rejected == 0 {
            AckResult::AllAccepted
        } else {
            AckResult::SomeRejected
        },
        credited,
        accepted,
        rejected,
        datetime,
    }
}

/// `ACK_SAM = MAC(K_SETTLE, 51 || ACKDATA || SEAL)`.
pub fn ack_sam(settlement_key: &Key16, ack: &AckData, seal: &[u8; 8]) -> [u8; 8] {
    retail_mac_m2(settlement_key, &ack_sam_input(ack, seal))
}

/// `ACK_CARD = MAC(K_XFER, 52 || XSERIAL || ACKDATA || SEAL)`.
pub fn ack_card(transfer_key: &Key16, xserial: Serial, ack: &AckData, seal: &[u8; 8]) -> [u8; 8] {
    retail_mac_m2(transfer_key, &ack_card_input(&xserial, ack, seal))
}

/// The SAM's check of an acknowledgement read from a transfer card (READ ACK): it must name
/// this batch and its `ACK_SAM` must verify over the batch's seal.
pub fn verify_ack(
    settlement_key: &Key16,
    header: &BatchHeader,
    seal: &[u8; 8],
    ack: &ReadAckResponse,
) -> Result<(), BatchError> {
    if ack.ack.sam_id != header.sam_id || ack.ack.batch_no != header.batch_no {
        return Err(BatchError::AckForOtherBatch {
            sam_id: header.sam_id,
            batch_no: header.batch_no,
            got_sam: ack.ack.sam_id,
            got_batch: ack.ack.batch_no,
        });
    }
    let expected = ack_sam(settlement_key, &ack.ack, seal);
    if mac_eq(&expected, &ack.ack_sam) {
        Ok(())
    } else {
        Err(BatchError::AckMacMismatch {
            batch_no: header.batch_no,
        })
    }
}

/// The back office's CLEAR BATCH for a transfer card holding `batch`: ACKDATA with `ACK_SAM`
/// (for the SAM, carried back by the card) and `ACK_CARD` (for the card).
pub fn clear_batch_command(
    settlement_key: &Key16,
    transfer_key: &Key16,
    xserial: Serial,
    batch: &Batch,
    ack: AckData,
) -> ClearBatch {
    ClearBatch {
        ack,
        ack_sam: ack_sam(settlement_key, &ack, &batch.seal),
        ack_card: ack_card(transfer_key, xserial, &ack, &batch.seal),
    }
}

struct Summary {
    ecash_count: u64,
    ecash_total: u64,
    food_count: u64,
    food_total: u64,
    first: u32,
    last: u32,
}

fn summarise(sam_id: SamId, records: &[SettlementRecord]) -> Result<Summary, BatchError> {
    let (first, last) = match (records.first(), records.last()) {
        (Some(first), Some(last)) => (first.record.sam_seq, last.record.sam_seq),
        _ => return Err(BatchError::Empty),
    };
    let mut summary = Summary {
        ecash_count: 0,
        ecash_total: 0,
        food_count: 0,
        food_total: 0,
        first,
        last,
    };
    let mut previous: Option<u32> = None;
    for (index, settlement) in records.iter().enumerate() {
        let record = &settlement.record;
        if record.record_type != RecordType::Purchase {
            return Err(BatchError::NotPurchase {
                index,
                found: record.record_type,
            });
        }
        if record.terminal != sam_id.0 {
            return Err(BatchError::ForeignRecord {
                index,
                expected: sam_id,
                found: SamId(record.terminal),
            });
        }
        if let Some(previous) = previous {
            if record.sam_seq <= previous {
                return Err(BatchError::OutOfOrder {
                    index,
                    previous,
                    sam_seq: record.sam_seq,
                });
            }
        }
        previous = Some(record.sam_seq);
        // A header counts at most 2^32 records of at most 2^31 each, so the sums of a valid
        // batch stay below 2^63; saturating keeps absurd inputs from wrapping into validity.
        let amount = u64::from(record.amount.get());
        let (count, total) = match record.purse {
            Purse::Ecash => (&mut summary.ecash_count, &mut summary.ecash_total),
            Purse::Food => (&mut summary.food_count, &mut summary.food_total),
        };
        *count = count.saturating_add(1);
        *total = total.saturating_add(amount);
    }
    Ok(summary)
}
