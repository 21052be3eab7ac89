//! The transfer applet (SPEC.md section 3): the batch a SAM writes and the back office reads
//! ([`BatchHeader`], [`Batch`]), the acknowledgement ([`AckData`]), the batch commands and
//! [`TransferCommand`], which recognises any transfer APDU. SELECT, GET STATUS and GET
//! CHALLENGE are in [`crate::common`].

use crate::apdu::{Command, ContractCommand, Expect, Ins};
use crate::bcd::DateTime;
use crate::bytes::{check_no_data, concat, fill, Reader};
use crate::common::{
    applet_commands, personalize_command, Challenge, GetChallenge, GetStatus, Select,
};
use crate::error::{ensure, Result, SpecError};
use crate::record::SettlementRecord;
use crate::values::{BatchState, Lifecycle, SamId, Serial};

/// Largest chunk WRITE BATCH and READ BATCH move.
pub const MAX_CHUNK: usize = 240;

/// `FORMAT` of a version-1 batch header.
pub const BATCH_FORMAT_V1: u8 = 0x01;

/// The 50-byte batch header (SPEC 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// The SAM that sealed the batch.
    pub sam_id: SamId,
    /// The SAM's batch number.
    pub batch_no: u32,
    /// When the batch was sealed.
    pub datetime: DateTime,
    /// Number of e-Cash records.
    pub ecash_count: u32,
    /// Sum of e-Cash amounts.
    pub ecash_total: u64,
    /// Number of Food-Voucher records.
    pub food_count: u32,
    /// Sum of Food-Voucher amounts.
    pub food_total: u64,
    /// SAM sequence of the first record.
    pub first_sam_seq: u32,
    /// SAM sequence of the last record.
    pub last_sam_seq: u32,
}

impl BatchHeader {
    /// Wire size.
    pub const LEN: usize = 50;

    /// `N = ECASH_COUNT + FOOD_COUNT`.
    pub fn record_count(&self) -> u64 {
        u64::from(self.ecash_count) + u64::from(self.food_count)
    }

    /// The whole batch's length, `50 + 48 × N + 8`.
    pub fn batch_len(&self) -> u64 {
        Self::LEN as u64 + SettlementRecord::LEN as u64 * self.record_count() + 8
    }

    /// The 50 wire bytes (`FORMAT` `01`).
    pub fn to_bytes(&self) -> [u8; 50] {
        fill(&[
            &[BATCH_FORMAT_V1],
            &self.sam_id.0,
            &self.batch_no.to_be_bytes(),
            &self.datetime.to_bcd(),
            &self.ecash_count.to_be_bytes(),
            &self.ecash_total.to_be_bytes(),
            &self.food_count.to_be_bytes(),
            &self.food_total.to_be_bytes(),
            &self.first_sam_seq.to_be_bytes(),
            &self.last_sam_seq.to_be_bytes(),
        ])
    }

    /// From the 50 wire bytes; `FORMAT` must be `01`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::exact(bytes, Self::LEN, "batch header")?)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let format = r.u8()?;
        ensure(
            format == BATCH_FORMAT_V1,
            "batch FORMAT",
            format,
            "only 01 is defined",
        )?;
        Ok(Self {
            sam_id: SamId(r.array()?),
            batch_no: r.u32()?,
            datetime: DateTime::from_bcd(r.array()?)?,
            ecash_count: r.u32()?,
            ecash_total: r.u64()?,
            food_count: r.u32()?,
            food_total: r.u64()?,
            first_sam_seq: r.u32()?,
            last_sam_seq: r.u32()?,
        })
    }
}

/// A whole batch: `HEADER || RECORDS || SEAL`, with `N` records as the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The header.
    pub header: BatchHeader,
    /// The settlement records, in SAM sequence order.
    pub records: Vec<SettlementRecord>,
    /// `SEAL = MAC(K_SETTLE, 50 || HEADER || RECORDS)`.
    pub seal: [u8; 8],
}

impl Batch {
    /// The batch bytes as written to the transfer card.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.to_bytes().to_vec();
        for record in &self.records {
            out.extend_from_slice(&record.to_bytes());
        }
        out.extend_from_slice(&self.seal);
        out
    }

    /// From the batch bytes; the length must be `50 + 48 × N + 8`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::at_least(bytes, BatchHeader::LEN + 8, "batch")?;
        let header = BatchHeader::read(&mut r)?;
        ensure(
            header.batch_len() == bytes.len() as u64,
            "batch length",
            bytes.len() as u64,
            "not 50 + 48 × N + 8 for the header's N",
        )?;
        let mut records = Vec::new();
        for _ in 0..header.record_count() {
            records.push(SettlementRecord::read(&mut r)?);
        }
        Ok(Self {
            header,
            records,
            seal: r.array()?,
        })
    }
}

/// `RESULT` of an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckResult {
    /// `00`: all records accepted.
    AllAccepted = 0x00,
    /// `01`: some rejected (reasons in the back office's settlement report).
    SomeRejected = 0x01,
}

/// `ACKDATA` (34 bytes): the back office's answer to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckData {
    /// The SAM of the batch.
    pub sam_id: SamId,
    /// The batch number.
    pub batch_no: u32,
    /// All accepted or some rejected.
    pub result: AckResult,
    /// Amount credited to the merchant.
    pub credited: u64,
    /// Records accepted.
    pub accepted: u32,
    /// Records rejected.
    pub rejected: u32,
    /// When the back office settled the batch.
    pub datetime: DateTime,
}

impl AckData {
    /// Wire size.
    pub const LEN: usize = 34;

    /// The 34 wire bytes.
    pub fn to_bytes(&self) -> [u8; 34] {
        fill(&[
            &self.sam_id.0,
            &self.batch_no.to_be_bytes(),
            &[self.result as u8],
            &self.credited.to_be_bytes(),
            &self.accepted.to_be_bytes(),
            &self.rejected.to_be_bytes(),
            &self.datetime.to_bcd(),
        ])
    }

    /// From the 34 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::exact(bytes, Self::LEN, "ACKDATA")?)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            sam_id: SamId(r.array()?),
            batch_no: r.u32()?,
            result: match r.u8()? {
                0x00 => AckResult::AllAccepted,
                0x01 => AckResult::SomeRejected,
                other => {
                    return Err(SpecError::BadValue {
                        field: "ACK RESULT",
                        value: other.into(),
                        reason: "not 00 or 01",
                    })
                }
            },
            credited: r.u64()?,
            accepted: r.u32()?,
            rejected: r.u32()?,
            datetime: DateTime::from_bcd(r.array()?)?,
        })
    }
}

/// READ ACK response: `ACKDATA ACK_SAM` (42 bytes), kept by the card for the POS's SAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadAckResponse {
    /// The acknowledgement.
    pub ack: AckData,
    /// `ACK_SAM = MAC(K_SETTLE, 51 || ACKDATA || SEAL)`, checked by the SAM.
    pub ack_sam: [u8; 8],
}

impl ReadAckResponse {
    /// Wire size.
    pub const LEN: usize = 42;

    /// The 42 wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        concat(&[&self.ack.to_bytes(), &self.ack_sam])
    }

    /// From the 42 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "READ ACK response")?;
        Ok(Self {
            ack: AckData::read(&mut r)?,
            ack_sam: r.array()?,
        })
    }
}

/// The transfer GET STATUS response (14 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransferStatus {
    /// Lifecycle state (BLANK or ACTIVE).
    pub lifecycle: Lifecycle,
    /// Batch state.
    pub batch_state: BatchState,
    /// Largest batch in bytes the card holds.
    pub capacity: u16,
    /// Bytes of the batch held or being written.
    pub length: u16,
    /// The transfer card's serial.
    pub xserial: Serial,
}

impl TransferStatus {
    /// Wire size.
    pub const LEN: usize = 14;

    /// The 14 wire bytes.
    pub fn to_bytes(&self) -> [u8; 14] {
        fill(&[
            &[self.lifecycle.code(), self.batch_state.code()],
            &self.capacity.to_be_bytes(),
            &self.length.to_be_bytes(),
            &self.xserial.0,
        ])
    }

    /// From the 14 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "transfer GET STATUS response")?;
        Ok(Self {
            lifecycle: Lifecycle::try_from(r.u8()?)?,
            batch_state: BatchState::try_from(r.u8()?)?,
            capacity: r.u16()?,
            length: r.u16()?,
            xserial: Serial(r.array()?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

personalize_command!(
    /// PERSONALIZE (transfer) `84 60 00 00 28 C(32) MAC_P(8)`; `C` encrypts the 25-byte
    /// [`crate::TransferPersoData`] padded to 32.
    PersonalizeTransfer, cryptogram: 32
);

/// WRITE BATCH `80 82 offset Lc chunk`: chunk of 1..=240 bytes at byte `offset` (P1P2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteBatch {
    offset: u16,
    chunk: Vec<u8>,
}

impl WriteBatch {
    /// A chunk of 1..=240 bytes written at `offset`.
    pub fn new(offset: u16, chunk: impl Into<Vec<u8>>) -> Result<Self> {
        let chunk = chunk.into();
        if chunk.is_empty() || chunk.len() > MAX_CHUNK {
            return Err(SpecError::LengthOutOfRange {
                what: "WRITE BATCH chunk",
                min: 1,
                max: MAX_CHUNK,
                got: chunk.len(),
            });
        }
        Ok(Self { offset, chunk })
    }

    /// Byte offset in the batch.
    pub fn offset(&self) -> u16 {
        self.offset
    }

    /// The chunk.
    pub fn chunk(&self) -> &[u8] {
        &self.chunk
    }

    /// The WRITE BATCH commands for a whole batch, in 240-byte chunks from offset 0.
    pub fn split(batch: &[u8]) -> Result<Vec<WriteBatch>> {
        batch
            .chunks(MAX_CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                let offset =
                    u16::try_from(i * MAX_CHUNK).map_err(|_| SpecError::LengthOutOfRange {
                        what: "batch",
                        min: 0,
                        max: usize::from(u16::MAX),
                        got: batch.len(),
                    })?;
                WriteBatch::new(offset, chunk)
            })
            .collect()
    }
}

impl ContractCommand for WriteBatch {
    const INS: Ins = Ins::WriteBatch;

    fn to_command(&self) -> Command {
        // `new` keeps the chunk at 240 bytes or fewer; the fallback is never taken.
        let command = Command::new(Self::INS).p1p2(self.offset);
        command.clone().data(self.chunk.clone()).unwrap_or(command)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.le(None)?;
        Self::new(command.p1p2_value(), e.raw_data())
    }
}

/// FINISH BATCH `80 84 00 00 02 LENGTH`: seals the written batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinishBatch {
    /// The batch length, `50 + 48 × N + 8`.
    pub length: u16,
}

impl ContractCommand for FinishBatch {
    const INS: Ins = Ins::FinishBatch;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).fixed_data(self.length.to_be_bytes())
    }

    fn from_command(command: &Command) -> Result<Self> {
        Ok(Self {
            length: Expect::data_only(command, Self::INS, 2)?.u16()?,
        })
    }
}

/// READ BATCH `80 86 offset Le`: up to `Le` (1..=240; `00` = up to 240) bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadBatch {
    /// Byte offset in the batch (P1P2).
    pub offset: u16,
    /// Bytes asked for, 1..=240; `None` sends Le `00` (up to 240).
    pub max_len: Option<u8>,
}

impl ContractCommand for ReadBatch {
    const INS: Ins = Ins::ReadBatch;

    fn to_command(&self) -> Command {
        Command::new(Self::INS)
            .p1p2(self.offset)
            .le(self.max_len.unwrap_or(0))
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?;
        e.data(0)?;
        let max_len = match command.le_byte() {
            Some(0) => None,
            Some(le) if usize::from(le) <= MAX_CHUNK => Some(le),
            got => {
                return Err(SpecError::BadLe {
                    command: Self::INS.name(),
                    got,
                })
            }
        };
        Ok(Self {
            offset: command.p1p2_value(),
            max_len,
        })
    }
}

/// CLEAR BATCH `80 88 00 00 32 ACKDATA ACK_SAM ACK_CARD`: drops the sealed batch and keeps the
/// acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClearBatch {
    /// The acknowledgement.
    pub ack: AckData,
    /// `ACK_SAM`, kept for the SAM.
    pub ack_sam: [u8; 8],
    /// `ACK_CARD = MAC(K_XFER, 52 || XSERIAL || ACKDATA || SEAL)`, checked by the card.
    pub ack_card: [u8; 8],
}

impl ContractCommand for ClearBatch {
    const INS: Ins = Ins::ClearBatch;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).fixed_data(fill::<50>(&[
            &self.ack.to_bytes(),
            &self.ack_sam,
            &self.ack_card,
        ]))
    }

    fn from_command(command: &Command) -> Result<Self> {
        let mut r = Expect::data_only(command, Self::INS, 50)?;
        Ok(Self {
            ack: AckData::read(&mut r)?,
            ack_sam: r.array()?,
            ack_card: r.array()?,
        })
    }
}

/// READ ACK `80 8A 00 00 00` → [`ReadAckResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadAck;

impl ContractCommand for ReadAck {
    const INS: Ins = Ins::ReadAck;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).le(0)
    }

    fn from_command(command: &Command) -> Result<Self> {
        Expect::le_only(command, Self::INS, 0)?;
        Ok(Self)
    }
}

applet_commands!(
    /// Any command of the transfer applet, recognised by its `(CLA, INS)`.
    TransferCommand, "transfer applet", {
        Select(Select),
        GetStatus(GetStatus),
        GetChallenge(GetChallenge),
        Personalize(PersonalizeTransfer),
        WriteBatch(WriteBatch),
        FinishBatch(FinishBatch),
        ReadBatch(ReadBatch),
        ClearBatch(ClearBatch),
        ReadAck(ReadAck),
    }
);

/// A parsed transfer response body, chosen by the command it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TransferResponse {
    /// Commands without response data.
    Empty,
    Fci(crate::Fci),
    Status(TransferStatus),
    Challenge(Challenge),
    /// A READ BATCH chunk (raw batch bytes; assemble them and use [`Batch::parse`]).
    BatchChunk(Vec<u8>),
    Ack(ReadAckResponse),
}

impl TransferResponse {
    /// Parses the response data of `command` (call only for `9000`).
    pub fn parse(command: &TransferCommand, data: &[u8]) -> Result<Self> {
        Ok(match command {
            TransferCommand::Select(_) => Self::Fci(crate::Fci::parse(data)?),
            TransferCommand::GetStatus(_) => Self::Status(TransferStatus::parse(data)?),
            TransferCommand::GetChallenge(_) => Self::Challenge(Challenge::parse(data)?),
            TransferCommand::ReadBatch(c) => {
                let max = c.max_len.map_or(MAX_CHUNK, usize::from);
                if data.is_empty() || data.len() > max {
                    return Err(SpecError::LengthOutOfRange {
                        what: "READ BATCH response",
                        min: 1,
                        max,
                        got: data.len(),
                    });
                }
                Self::BatchChunk(data.to_vec())
            }
            TransferCommand::ReadAck(_) => Self::Ack(ReadAckResponse::parse(data)?),
            TransferCommand::Personalize(_)
            | TransferCommand::WriteBatch(_)
            | TransferCommand::FinishBatch(_)
            | TransferCommand::ClearBatch(_) => {
                check_no_data(data)?;
                Self::Empty
            }
        })
    }

    /// The response data bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Empty => Vec::new(),
            Self::Fci(r) => r.to_bytes(),
            Self::Status(r) => r.to_bytes().to_vec(),
            Self::Challenge(r) => r.to_bytes().to_vec(),
            Self::BatchChunk(r) => r.clone(),
            Self::Ack(r) => r.to_bytes(),
        }
    }
}
