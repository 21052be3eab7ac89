//! Transaction evidence (SPEC.md 1.5): the 32-byte transaction record `REC`, the log entry READ
//! LOG returns (`REC || TAC`), the proof GET TRANSACTION PROOF returns (`REC || TAC || MAC2`)
//! and the 48-byte settlement record (`SERIAL || REC || TAC`).
//!
//! Parsing is strict and `to_bytes` is its exact inverse, so a TAC can be checked over
//! `to_bytes()` of a parsed record.

use crate::bcd::{DateTime, Mcc};
use crate::bytes::{fill, Reader};
use crate::error::{ensure, Result};
use crate::values::{Amount, Purse, RecordType, Serial};

/// `REC`: one completed load, unconnected load or purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionRecord {
    /// `TT`: load, purchase or unconnected load.
    pub record_type: RecordType,
    /// The purse.
    pub purse: Purse,
    /// `CTR`: the load or purchase counter of this transaction.
    pub counter: u16,
    /// `AMOUNT`.
    pub amount: Amount,
    /// `BALANCE` after the transaction.
    pub balance: Amount,
    /// `TERMINAL`: terminal id (load), SAM id (purchase), `00`×6 (unconnected load).
    pub terminal: [u8; 6],
    /// `SAMSEQ`: SAM sequence number (purchase), else 0.
    pub sam_seq: u32,
    /// `DATETIME` from the terminal, SAM or pocket reader.
    pub datetime: DateTime,
    /// `MCC` (purchase), else [`Mcc::NONE`].
    pub mcc: Mcc,
    /// `FLAGS`; bit 0 ([`TransactionRecord::FLAG_PIN_VERIFIED`]) only.
    pub flags: u8,
}

impl TransactionRecord {
    /// Wire size.
    pub const LEN: usize = 32;
    /// `FLAGS` bit 0: the cardholder PIN was verified.
    pub const FLAG_PIN_VERIFIED: u8 = 0x01;

    /// Whether the cardholder PIN was verified for this transaction.
    pub fn pin_verified(&self) -> bool {
        self.flags & Self::FLAG_PIN_VERIFIED != 0
    }

    /// The 32 wire bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        fill(&[
            &[self.record_type.code(), self.purse.code()],
            &self.counter.to_be_bytes(),
            &self.amount.to_bytes(),
            &self.balance.to_bytes(),
            &self.terminal,
            &self.sam_seq.to_be_bytes(),
            &self.datetime.to_bcd(),
            &self.mcc.to_bcd(),
            &[self.flags],
        ])
    }

    /// From the 32 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "REC")?;
        Self::read(&mut r)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let record = Self {
            record_type: RecordType::try_from(r.u8()?)?,
            purse: Purse::try_from(r.u8()?)?,
            counter: r.u16()?,
            amount: Amount::from_bytes(r.array()?)?,
            balance: Amount::from_bytes(r.array()?)?,
            terminal: r.array()?,
            sam_seq: r.u32()?,
            datetime: DateTime::from_bcd(r.array()?)?,
            mcc: Mcc::from_bcd(r.array()?)?,
            flags: r.u8()?,
        };
        ensure(
            record.flags & !Self::FLAG_PIN_VERIFIED == 0,
            "REC FLAGS",
            record.flags,
            "bits other than bit 0 set",
        )?;
        Ok(record)
    }
}

/// A READ LOG entry: `REC || TAC` (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogEntry {
    /// The transaction record.
    pub record: TransactionRecord,
    /// `TAC = MAC(K_TAC, 13 || SERIAL || REC)`.
    pub tac: [u8; 8],
}

impl LogEntry {
    /// Wire size.
    pub const LEN: usize = 40;

    /// The 40 wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.record.to_bytes().to_vec();
        out.extend_from_slice(&self.tac);
        out
    }

    /// From the 40 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "READ LOG response")?;
        Ok(Self {
            record: TransactionRecord::read(&mut r)?,
            tac: r.array()?,
        })
    }
}

/// A GET TRANSACTION PROOF response: the whole log entry `REC || TAC || MAC2` (48 bytes);
/// `MAC2` is the purchase MAC2 for purchases and `00`×8 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionProof {
    /// The transaction record.
    pub record: TransactionRecord,
    /// The record's TAC.
    pub tac: [u8; 8],
    /// Purchase MAC2, or zeros.
    pub mac2: [u8; 8],
}

impl TransactionProof {
    /// Wire size.
    pub const LEN: usize = 48;

    /// The 48 wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.record.to_bytes().to_vec();
        out.extend_from_slice(&self.tac);
        out.extend_from_slice(&self.mac2);
        out
    }

    /// From the 48 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "GET TRANSACTION PROOF response")?;
        Ok(Self {
            record: TransactionRecord::read(&mut r)?,
            tac: r.array()?,
            mac2: r.array()?,
        })
    }
}

/// A settlement record (SAM journal, transfer batch, back office): `SERIAL || REC || TAC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SettlementRecord {
    /// The purse card's serial.
    pub serial: Serial,
    /// The transaction record.
    pub record: TransactionRecord,
    /// The record's TAC, checked by the back office with `K_TAC`.
    pub tac: [u8; 8],
}

impl SettlementRecord {
    /// Wire size.
    pub const LEN: usize = 48;

    /// The 48 wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.serial.0.to_vec();
        out.extend_from_slice(&self.record.to_bytes());
        out.extend_from_slice(&self.tac);
        out
    }

    /// From the 48 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "settlement record")?;
        Self::read(&mut r)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            serial: Serial(r.array()?),
            record: TransactionRecord::read(r)?,
            tac: r.array()?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::SpecError;

    /// A purchase record written out by hand from the SPEC 1.5 table.
    pub(crate) const PURCHASE_REC: [u8; 32] = [
        0x02, // TT purchase
        0x01, // purse e-Cash
        0x00, 0x07, // CTR 7
        0x00, 0x00, 0x04, 0xE2, // AMOUNT 1250
        0x00, 0x00, 0x13, 0x88, // BALANCE 5000
        0x53, 0x41, 0x4D, 0x30, 0x30, 0x31, // SAM id "SAM001"
        0x00, 0x00, 0x00, 0x2A, // SAMSEQ 42
        0x20, 0x26, 0x11, 0x23, 0x14, 0x30, 0x00, // 2026-11-23T14:30:00
        0x54, 0x11, // MCC 5411
        0x01, // PIN verified
    ];

    pub(crate) fn purchase_record() -> TransactionRecord {
        TransactionRecord {
            record_type: RecordType::Purchase,
            purse: Purse::Ecash,
            counter: 7,
            amount: Amount::new(1250).unwrap(),
            balance: Amount::new(5000).unwrap(),
            terminal: *b"SAM001",
            sam_seq: 42,
            datetime: "2026-11-23T14:30:00".parse().unwrap(),
            mcc: "5411".parse().unwrap(),
            flags: 1,
        }
    }

    #[test]
    fn record_layout_both_ways() {
        let rec = purchase_record();
        assert_eq!(rec.to_bytes(), PURCHASE_REC);
        assert_eq!(TransactionRecord::parse(&PURCHASE_REC).unwrap(), rec);
        assert!(rec.pin_verified());
    }

    #[test]
    fn record_refusals() {
        let with = |i: usize, v: u8| {
            let mut b = PURCHASE_REC;
            b[i] = v;
            TransactionRecord::parse(&b)
        };
        assert_eq!(with(0, 0x03), Err(SpecError::UnknownTxType(3)));
        assert_eq!(with(1, 0x03), Err(SpecError::UnknownPurse(3)));
        assert_eq!(with(4, 0x80), Err(SpecError::AmountTooLarge(0x8000_04E2)));
        assert!(matches!(with(8, 0xFF), Err(SpecError::AmountTooLarge(_))));
        assert!(matches!(
            with(24, 0x13),
            Err(SpecError::BadValue { field: "month", .. })
        ));
        assert!(matches!(with(29, 0x5A), Err(SpecError::BadBcd { .. })));
        assert!(matches!(
            with(31, 0x02),
            Err(SpecError::BadValue {
                field: "REC FLAGS",
                ..
            })
        ));
        assert!(matches!(
            TransactionRecord::parse(&PURCHASE_REC[..31]),
            Err(SpecError::TooShort { .. })
        ));
        let mut long = PURCHASE_REC.to_vec();
        long.push(0);
        assert!(matches!(
            TransactionRecord::parse(&long),
            Err(SpecError::BadLength { .. })
        ));
    }

    #[test]
    fn log_entry_proof_and_settlement_record() {
        let rec = purchase_record();
        let entry = LogEntry {
            record: rec,
            tac: [0x11; 8],
        };
        let bytes = entry.to_bytes();
        assert_eq!(&bytes[..32], &PURCHASE_REC);
        assert_eq!(&bytes[32..], &[0x11; 8]);
        assert_eq!(LogEntry::parse(&bytes).unwrap(), entry);
        assert!(LogEntry::parse(&bytes[..39]).is_err());

        let proof = TransactionProof {
            record: rec,
            tac: [0x11; 8],
            mac2: [0x22; 8],
        };
        let bytes = proof.to_bytes();
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[40..], &[0x22; 8]);
        assert_eq!(TransactionProof::parse(&bytes).unwrap(), proof);
        assert!(TransactionProof::parse(&bytes[..40]).is_err());

        let settle = SettlementRecord {
            serial: Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]),
            record: rec,
            tac: [0x33; 8],
        };
        let bytes = settle.to_bytes();
        assert_eq!(&bytes[..8], &[0x45, 0x50, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&bytes[8..40], &PURCHASE_REC);
        assert_eq!(SettlementRecord::parse(&bytes).unwrap(), settle);
        assert!(SettlementRecord::parse(&[0; 47]).is_err());
    }
}
