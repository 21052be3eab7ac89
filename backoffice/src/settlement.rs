//! Settlement (issue 6): merchants, SAM issue, transfer cards, and the upload of a SAM's sealed
//! batch — verified, credited once, acknowledged.
//!
//! What a reader needs first:
//!
//! - A **merchant** has one ledger account `merchant/<id>`; a **SAM** belongs to one merchant
//!   and gets its SAM file (`epurse-sam/1`) from [`Backoffice::sam_issue`]: `MK_PURCHASE` and
//!   its own `K_SETTLE`, derived in the ISM.
//! - [`Backoffice::upload_batch`] takes the batch bytes read from a transfer card and that
//!   card's serial. The whole batch is **refused** (nothing moves, a row in the rejection log,
//!   no acknowledgement, so the SAM and the transfer card keep it) when it is malformed, from
//!   an unknown or revoked SAM, sealed under another key generation, its seal does not verify,
//!   or another batch with the same (SAM, batch number) was settled before. Otherwise every
//!   record is checked: card known, **TAC** valid under the card's `K_TAC`, no second record for
//!   the same (card, purse, counter) nor (SAM, sequence) — in this batch or any settled one —,
//!   and the card's float covers the amount. Accepted records move value from `card_float/*`
//!   to the merchant's account in one double-entry transfer; rejected records are kept with
//!   their reason and move nothing. Gaps in a card's purchase counters are noted as findings
//!   (a purchase at another merchant not uploaded yet is the usual cause).
//! - **Idempotent per (SAM, batch number)**: uploading the same batch again credits nothing
//!   and returns the same `ACKDATA`/`ACK_SAM` (with `ACK_CARD` for the card presented), so a
//!   lost transfer card or a lost acknowledgement is harmless.
//! - The acknowledgement is the CLEAR BATCH command for the transfer card; its `ACKDATA ||
//!   ACK_SAM` travels on to the POS, where the SAM drops the batch.

use apdu_spec::{
    AckData, Batch, Challenge, ClearBatch, Mcc, PersonalizeTransfer, Purse, SamId, Serial,
    SettlementRecord,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::backoffice::{Backoffice, Env};
use crate::error::{Error, Result};
use crate::ism::IsmError;
use crate::ledger::{purse_from_db, AccountKind};
use crate::money::MinorUnits;
use crate::registry::find_card;

/// The schema step that adds the settlement tables (migration 2, see `db`).
pub(crate) const SCHEMA_SETTLEMENT: &str = r#"
CREATE TABLE merchants (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    mcc         INTEGER NOT NULL CHECK (mcc BETWEEN 0 AND 9999),
    food        INTEGER NOT NULL CHECK (food IN (0, 1)),
    account_id  INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE sam_id_sequence (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    next  INTEGER NOT NULL
);
INSERT INTO sam_id_sequence (id, next) VALUES (1, 1);

CREATE TABLE sams (
    sam_id      TEXT    PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants(id),
    key_version INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
    issued_at   INTEGER NOT NULL
);
CREATE INDEX sams_by_merchant ON sams(merchant_id);

CREATE TABLE transfer_card_sequence (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    next  INTEGER NOT NULL
);
INSERT INTO transfer_card_sequence (id, next) VALUES (1, 1);

CREATE TABLE transfer_cards (
    xserial     TEXT    PRIMARY KEY,
    key_version INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One row per settled (SAM, batch number): the acknowledgement is stored, so a second upload
-- returns the very same ACKDATA and ACK_SAM and credits nothing.
CREATE TABLE settlement_batches (
    id           INTEGER PRIMARY KEY,
    sam_id       TEXT    NOT NULL REFERENCES sams(sam_id),
    batch_no     INTEGER NOT NULL,
    merchant_id  TEXT    NOT NULL REFERENCES merchants(id),
    seal         TEXT    NOT NULL,
    sealed_at    TEXT    NOT NULL,
    records      INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,
    credited     INTEGER NOT NULL CHECK (credited >= 0),
    ecash_credited INTEGER NOT NULL,
    food_credited  INTEGER NOT NULL,
    ack_data     TEXT    NOT NULL,
    ack_sam      TEXT    NOT NULL,
    transfer_id  INTEGER REFERENCES transfers(id),
    xserial      TEXT    NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    UNIQUE (sam_id, batch_no)
);

CREATE TABLE settlement_records (
    id        INTEGER PRIMARY KEY,
    batch_id  INTEGER NOT NULL REFERENCES settlement_batches(id),
    position  INTEGER NOT NULL,
    serial    TEXT    NOT NULL,
    purse     INTEGER NOT NULL CHECK (purse IN (1, 2)),
    counter   INTEGER NOT NULL,
    amount    INTEGER NOT NULL,
    sam_id    TEXT    NOT NULL,
    sam_seq   INTEGER NOT NULL,
    datetime  TEXT    NOT NULL,
    record    TEXT    NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('accepted', 'rejected')),
    reason    TEXT,
    detail    TEXT
);
CREATE INDEX settlement_records_by_batch ON settlement_records(batch_id);
CREATE UNIQUE INDEX settled_card_counter ON settlement_records(serial, purse, counter)
    WHERE state = 'accepted';
CREATE UNIQUE INDEX settled_sam_sequence ON settlement_records(sam_id, sam_seq)
    WHERE state = 'accepted';

-- Findings that are not rejections (gaps in a card's purchase counters).
CREATE TABLE settlement_findings (
    id        INTEGER PRIMARY KEY,
    batch_id  INTEGER NOT NULL REFERENCES settlement_batches(id),
    kind      TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);

-- Whole batches refused (nothing moved, no acknowledgement).
CREATE TABLE settlement_rejections (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    sam_id    TEXT,
    batch_no  INTEGER,
    xserial   TEXT,
    code      TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);
"#;

/// A merchant at the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// The merchant id (as in the SAM file).
    pub id: String,
    /// Name for statements and receipts.
    pub name: String,
    /// Merchant category code.
    pub mcc: Mcc,
    /// Whether the bank classes the merchant as a food merchant.
    pub food: bool,
    /// The merchant account's balance (settled, not yet paid out).
    pub balance: MinorUnits,
}

/// A SAM registered at the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamRecord {
    /// The SAM id.
    pub sam_id: SamId,
    /// Its merchant.
    pub merchant_id: String,
    /// Key generation of its SAM file.
    pub key_version: u8,
    /// Still accepted for settlement.
    pub active: bool,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
}

/// What [`Backoffice::sam_issue`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamIssueRequest {
    /// Merchant id (created on first issue, else must match name, MCC and food class).
    pub merchant_id: String,
    /// Merchant name.
    pub merchant_name: String,
    /// Merchant category code.
    pub mcc: Mcc,
    /// Whether the merchant is a food merchant.
    pub food: bool,
}

/// Why one record of an authentic batch was not credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordRejection {
    /// The card serial is not one the bank issued.
    UnknownCard,
    /// The card's key generation is not held by this back office.
    KeyVersion,
    /// The TAC does not verify: the card did not sign this record.
    TacInvalid,
    /// Another record for the same (card, purse, counter) was settled already or is earlier in
    /// this batch.
    DuplicateCardCounter,
    /// Another record with the same (SAM, sequence) was settled already.
    DuplicateSamSequence,
    /// The card's float at the bank is below the amount (a load on this card is unfinished).
    FloatShort,
}

impl RecordRejection {
    /// Stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            RecordRejection::UnknownCard => "unknown_card",
            RecordRejection::KeyVersion => "key_version",
            RecordRejection::TacInvalid => "tac_invalid",
            RecordRejection::DuplicateCardCounter => "duplicate_card_counter",
            RecordRejection::DuplicateSamSequence => "duplicate_sam_sequence",
            RecordRejection::FloatShort => "float_short",
        }
    }

    /// For people.
    pub fn describe(self) -> &'static str {
        match self {
            RecordRejection::UnknownCard => "the card was not issued by this bank",
            RecordRejection::KeyVersion => "the card's key version is not held by the back office",
            RecordRejection::TacInvalid => {
                "the TAC does not verify: the record was altered or forged"
            }
            RecordRejection::DuplicateCardCounter => {
                "this card purchase (card, purse, counter) was already settled"
            }
            RecordRejection::DuplicateSamSequence => {
                "this SAM sequence number was already settled"
            }
            RecordRejection::FloatShort => {
                "the card's float at the bank is below the amount: recover the card's unfinished load first"
            }
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "unknown_card" => RecordRejection::UnknownCard,
            "key_version" => RecordRejection::KeyVersion,
            "tac_invalid" => RecordRejection::TacInvalid,
            "duplicate_card_counter" => RecordRejection::DuplicateCardCounter,
            "duplicate_sam_sequence" => RecordRejection::DuplicateSamSequence,
            "float_short" => RecordRejection::FloatShort,
            _ => return None,
        })
    }
}

/// Why a whole batch was refused (nothing moved; the SAM and the transfer card keep it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRejection {
    /// The bytes are not a consistent batch (layout, header vs records, order).
    Malformed(String),
    /// No SAM with this id was issued.
    UnknownSam(SamId),
    /// The SAM was revoked.
    SamRevoked(SamId),
    /// The SAM's keys are of another generation than the back office holds.
    KeyVersion {
        /// The SAM's key version.
        sam: u8,
        /// The back office's.
        held: u8,
    },
    /// The seal does not verify.
    SealInvalid,
    /// A different batch with this (SAM, batch number) was settled before.
    Conflict {
        /// The batch number.
        batch_no: u32,
    },
    /// The transfer card serial is unusable (all zero).
    BadTransferCard,
}

impl BatchRejection {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            BatchRejection::Malformed(_) => "malformed",
            BatchRejection::UnknownSam(_) => "unknown_sam",
            BatchRejection::SamRevoked(_) => "sam_revoked",
            BatchRejection::KeyVersion { .. } => "key_version",
            BatchRejection::SealInvalid => "seal_invalid",
            BatchRejection::Conflict { .. } => "batch_conflict",
            BatchRejection::BadTransferCard => "bad_transfer_card",
        }
    }
}

impl core::fmt::Display for BatchRejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BatchRejection::Malformed(why) => write!(f, "the batch is malformed ({why}); the transfer card is damaged or the batch was altered: write the batch from the POS again to a transfer card"),
            BatchRejection::UnknownSam(id) => write!(f, "SAM {id} was not issued by this bank; the batch is not accepted"),
            BatchRejection::SamRevoked(id) => write!(f, "SAM {id} is revoked; contact the bank"),
            BatchRejection::KeyVersion { sam, held } => write!(f, "the SAM holds key version {sam:02X} but the back office holds {held:02X}; load the matching master-key file"),
            BatchRejection::SealInvalid => write!(f, "the batch seal does not verify: the batch was altered after the SAM sealed it; nothing was credited — write the batch from the POS again"),
            BatchRejection::Conflict { batch_no } => write!(f, "another batch with number {batch_no} from this SAM was settled before; this one differs and is refused — contact the bank"),
            BatchRejection::BadTransferCard => write!(f, "the transfer card serial is all zero; use a personalised transfer card"),
        }
    }
}

/// One record's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Position in the batch, from 0.
    pub position: usize,
    /// The record.
    pub record: SettlementRecord,
    /// `None` when accepted.
    pub rejection: Option<RecordRejection>,
}

/// A settled batch: its acknowledgement and what was credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The SAM.
    pub sam_id: SamId,
    /// The batch number.
    pub batch_no: u32,
    /// The merchant credited.
    pub merchant_id: String,
    /// Records in the batch.
    pub records: u32,
    /// Records accepted.
    pub accepted: u32,
    /// Records rejected.
    pub rejected: u32,
    /// Value credited (minor units), e-Cash plus Food.
    pub credited: MinorUnits,
    /// e-Cash part.
    pub ecash_credited: MinorUnits,
    /// Food part.
    pub food_credited: MinorUnits,
    /// The CLEAR BATCH command for the transfer card presented (ACKDATA, ACK_SAM, ACK_CARD).
    pub clear: ClearBatch,
    /// True when this (SAM, batch number) had been settled before: nothing moved this time.
    pub replayed: bool,
    /// Each record's outcome (as stored at the first upload).
    pub outcomes: Vec<RecordOutcome>,
    /// Findings that are not rejections (counter gaps).
    pub findings: Vec<String>,
}

/// What an upload led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Settled (or settled before): acknowledge with [`Settlement::clear`].
    Settled(Settlement),
    /// Refused whole; nothing moved.
    Rejected(BatchRejection),
}

/// A line of a merchant statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// SAM.
    pub sam_id: String,
    /// Batch number.
    pub batch_no: u32,
    /// When uploaded (Unix seconds).
    pub uploaded_at: i64,
    /// When sealed (SAM date-time).
    pub sealed_at: String,
    /// Records accepted / rejected.
    pub accepted: u32,
    /// Records rejected.
    pub rejected: u32,
    /// e-Cash credited.
    pub ecash_credited: MinorUnits,
    /// Food credited.
    pub food_credited: MinorUnits,
    /// Total credited.
    pub credited: MinorUnits,
}

/// A merchant's statement: every settled batch and the account balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantStatement {
    /// The merchant.
    pub merchant: Merchant,
    /// Its SAMs.
    pub sams: Vec<SamRecord>,
    /// Settled batches, oldest first.
    pub lines: Vec<StatementLine>,
    /// Sum of `credited`.
    pub total_credited: MinorUnits,
}

/// A refused upload, from the rejection log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedUpload {
    /// When (Unix seconds).
    pub at: i64,
    /// The SAM the batch named (if it parsed that far).
    pub sam_id: Option<String>,
    /// The batch number (if parsed).
    pub batch_no: Option<u32>,
    /// Machine code.
    pub code: String,
    /// For people.
    pub detail: String,
}

/// The settlement report: every settled batch with its rejected records, and refused uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementReport {
    /// Settled batches (with per-record outcomes), oldest first.
    pub batches: Vec<Settlement>,
    /// Uploads refused whole.
    pub refused: Vec<RejectedUpload>,
    /// Total credited to merchants.
    pub total_credited: MinorUnits,
}

fn merchant_code(id: &str) -> String {
    format!("merchant/{id}")
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn bad_row(what: impl Into<String>) -> Error {
    Error::BadRow(what.into())
}

/// Runs `sql` with `params` and maps every row it returns with `row`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn check_merchant_id(id: &str) -> Result<()> {
    sam::MerchantId::new(id)
        .map(|_| ())
        .map_err(|e| Error::Invalid(format!("merchant id {id:?}: {e}")))
}

fn read_merchant(conn: &Connection, id: &str) -> Result<Option<Merchant>> {
    conn.query_row(
        "SELECT m.id, m.name, m.mcc, m.food, a.balance FROM merchants m
         JOIN accounts a ON a.id = m.account_id WHERE m.id = ?1",
        [id],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )
    .optional()?
    .map(|(id, name, mcc, food, balance)| {
        let mcc = u16::try_from(mcc)
            .ok()
            .and_then(|m| Mcc::new(m).ok())
            .ok_or_else(|| bad_row(format!("merchant {id} MCC {mcc}")))?;
        Ok(Merchant {
            id,
            name,
            mcc,
            food: food != 0,
            balance,
        })
    })
    .transpose()
}

fn read_sams(conn: &Connection, merchant: Option<&str>) -> Result<Vec<SamRecord>> {
    let rows = query_all(
        conn,
        "SELECT sam_id, merchant_id, key_version, status, issued_at FROM sams
         WHERE ?1 IS NULL OR merchant_id = ?1 ORDER BY sam_id",
        [merchant],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(sam_id, merchant_id, kv, status, issued_at)| {
            Ok(SamRecord {
                sam_id: sam_id
                    .parse()
                    .map_err(|_| bad_row(format!("SAM id {sam_id}")))?,
                merchant_id,
                key_version: u8::try_from(kv).map_err(|_| bad_row(format!("key version {kv}")))?,
                active: status == "active",
                issued_at,
            })
        })
        .collect()
}

/// Writes one balanced transfer between accounts named by code (the merchant accounts have no
/// [`crate::ledger::AccountRef`]); the same rules as `ledger::post`.
fn post_codes(
    conn: &Connection,
    kind: &str,
    reference: &str,
    now: i64,
    legs: &[(String, MinorUnits)],
) -> Result<i64> {
    let legs: Vec<&(String, MinorUnits)> = legs.iter().filter(|(_, a)| *a != 0).collect();
    if legs.len() < 2 {
        return Err(Error::Invariant(format!(
            "transfer {reference}: a transfer needs at least two postings"
        )));
    }
    let sum: i128 = legs.iter().map(|(_, a)| i128::from(*a)).sum();
    if sum != 0 {
        return Err(Error::Invariant(format!(
            "transfer {reference}: postings sum to {sum}, not zero"
        )));
    }
    conn.execute(
        "INSERT INTO transfers (kind, reference, created_at) VALUES (?1, ?2, ?3)",
        params![kind, reference, now],
    )?;
    let transfer_id = conn.last_insert_rowid();
    for (code, amount) in legs {
        let (id, kind, balance): (i64, String, i64) = conn
            .query_row(
                "SELECT id, kind, balance FROM accounts WHERE code = ?1",
                [code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no account {code}")))?;
        let kind = AccountKind::parse(&kind)
            .ok_or_else(|| bad_row(format!("account {code} has kind {kind:?}")))?;
        let new_balance = balance.checked_add(*amount).ok_or_else(|| {
            Error::Invariant(format!("transfer {reference}: balance of {code} overflows"))
        })?;
        if (kind.must_not_be_negative() && new_balance < 0)
            || (kind.must_not_be_positive() && new_balance > 0)
        {
            return Err(Error::Invariant(format!(
                "transfer {reference}: {code} would break its sign rule ({new_balance})"
            )));
        }
        conn.execute(
            "INSERT INTO postings (transfer_id, account_id, amount) VALUES (?1, ?2, ?3)",
            params![transfer_id, id, amount],
        )?;
        conn.execute(
            "UPDATE accounts SET balance = ?1 WHERE id = ?2",
            params![new_balance, id],
        )?;
    }
    Ok(transfer_id)
}

fn ensure_merchant(conn: &Connection, env: &Env, req: &SamIssueRequest) -> Result<Merchant> {
    if let Some(m) = read_merchant(conn, &req.merchant_id)? {
        if m.name != req.merchant_name || m.mcc != req.mcc || m.food != req.food {
            return Err(Error::Invalid(format!(
                "merchant {} is registered as {:?}, MCC {}, {}; the request says {:?}, MCC {}, {}: use the registered details (a merchant's category is fixed)",
                m.id,
                m.name,
                m.mcc,
                if m.food { "food" } else { "non-food" },
                req.merchant_name,
                req.mcc,
                if req.food { "food" } else { "non-food" },
            )));
        }
        return Ok(m);
    }
    let code = merchant_code(&req.merchant_id);
    conn.execute(
        "INSERT INTO accounts (code, kind, purse, customer_id, created_at) VALUES (?1, 'merchant', NULL, NULL, ?2)",
        params![code, env.now()],
    )?;
    let account_id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO merchants (id, name, mcc, food, account_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            req.merchant_id,
            req.merchant_name,
            req.mcc.code(),
            i64::from(req.food),
            account_id,
            env.now()
        ],
    )?;
    Ok(Merchant {
        id: req.merchant_id.clone(),
        name: req.merchant_name.clone(),
        mcc: req.mcc,
        food: req.food,
        balance: 0,
    })
}

fn reject_batch(
    conn: &Connection,
    now: i64,
    sam_id: Option<SamId>,
    batch_no: Option<u32>,
    xserial: Serial,
    rejection: &BatchRejection,
) -> Result<()> {
    conn.execute(
        "INSERT INTO settlement_rejections (at, sam_id, batch_no, xserial, code, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now,
            sam_id.map(|s| s.to_string()),
            batch_no,
            xserial.to_string(),
            rejection.code(),
            rejection.to_string()
        ],
    )?;
    Ok(())
}

fn settled_batch(conn: &Connection, sam_id: SamId, batch_no: u32) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, seal FROM settlement_batches WHERE sam_id = ?1 AND batch_no = ?2",
            params![sam_id.to_string(), batch_no],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Reads a settled batch back as a [`Settlement`] (ACK_CARD recomputed for `xserial`).
fn load_settlement(
    conn: &Connection,
    env: &Env,
    batch_row: i64,
    batch: Option<&Batch>,
    xserial: Option<Serial>,
    replayed: bool,
) -> Result<Settlement> {
    #[allow(clippy::type_complexity)]
    let (
        sam_id,
        batch_no,
        merchant_id,
        seal,
        records,
        accepted,
        rejected,
        credited,
        ecash,
        food,
        ack_data,
        ack_sam,
        stored_x,
    ): (
        String,
        u32,
        String,
        String,
        u32,
        u32,
        u32,
        i64,
        i64,
        i64,
        String,
        String,
        String,
    ) = conn.query_row(
        "SELECT sam_id, batch_no, merchant_id, seal, records, accepted, rejected, credited,
                ecash_credited, food_credited, ack_data, ack_sam, xserial
         FROM settlement_batches WHERE id = ?1",
        [batch_row],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
            ))
        },
    )?;
    let sam_id: SamId = sam_id
        .parse()
        .map_err(|_| bad_row(format!("SAM id {sam_id}")))?;
    let ack_bytes = hex::decode(&ack_data).map_err(|_| bad_row("ack_data"))?;
    let ack = AckData::parse(&ack_bytes).map_err(|e| bad_row(format!("ack_data: {e}")))?;
    let ack_sam_bytes: [u8; 8] = hex::decode(&ack_sam)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad_row("ack_sam"))?;
    let mut outcomes = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT position, record, reason FROM settlement_records WHERE batch_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([batch_row], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (position, record, reason) = row?;
            let bytes = hex::decode(&record).map_err(|_| bad_row("settlement record"))?;
            let record = SettlementRecord::parse(&bytes)
                .map_err(|e| bad_row(format!("settlement record: {e}")))?;
            let rejection = reason
                .map(|code| {
                    RecordRejection::parse(&code)
                        .ok_or_else(|| bad_row(format!("rejection code {code}")))
                })
                .transpose()?;
            outcomes.push(RecordOutcome {
                position: usize::try_from(position).map_err(|_| bad_row("position"))?,
                record,
                rejection,
            });
        }
    }
    let findings = query_all(
        conn,
        "SELECT detail FROM settlement_findings WHERE batch_id = ?1 ORDER BY id",
        [batch_row],
        |r| r.get::<_, String>(0),
    )?;
    let xserial = match xserial {
        Some(x) => x,
        None => stored_x
            .parse()
            .map_err(|_| bad_row(format!("xserial {stored_x}")))?,
    };
    let seal_bytes: [u8; 8] = hex::decode(&seal)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad_row("seal"))?;
    // ACK_CARD is bound to the transfer card presented; rebuild it over the stored seal.
    let rebuilt;
    let batch = match batch {
        Some(b) => b,
        None => {
            rebuilt = Batch {
                header: apdu_spec::BatchHeader {
                    sam_id,
                    batch_no,
                    datetime: ack.datetime,
                    ecash_count: 0,
                    ecash_total: 0,
                    food_count: 0,
                    food_total: 0,
                    first_sam_seq: 0,
                    last_sam_seq: 0,
                },
                records: Vec::new(),
                seal: seal_bytes,
            };
            &rebuilt
        }
    };
    let mut clear = env.ism.acknowledge_batch(batch, xserial, ack);
    // ACK_SAM is the stored one: identical for every upload of this batch.
    clear.ack_sam = ack_sam_bytes;
    Ok(Settlement {
        sam_id,
        batch_no,
        merchant_id,
        records,
        accepted,
        rejected,
        credited,
        ecash_credited: ecash,
        food_credited: food,
        clear,
        replayed,
        outcomes,
        findings,
    })
}

fn purse_account(purse: Purse) -> String {
    match purse {
        Purse::Ecash => "card_float/ecash".to_owned(),
        Purse::Food => "card_float/food".to_owned(),
    }
}

/// A settlement, or the batch's refusal with the SAM and batch number it named (if parsed).
type Settled = std::result::Result<Settlement, (Option<SamId>, Option<u32>, BatchRejection)>;

/// Verifies and settles `batch` inside the caller's write transaction.
fn settle(conn: &Connection, env: &Env, bytes: &[u8], xserial: Serial) -> Result<Settled> {
    if xserial.0 == [0; 8] {
        return Ok(Err((None, None, BatchRejection::BadTransferCard)));
    }
    let batch = match sam::batch::parse_batch(bytes) {
        Ok(b) => b,
        Err(e) => {
            // The header may still name the SAM and batch, for the log.
            let header = apdu_spec::BatchHeader::parse(
                bytes.get(..apdu_spec::BatchHeader::LEN).unwrap_or(&[]),
            )
            .ok();
            return Ok(Err((
                header.map(|h| h.sam_id),
                header.map(|h| h.batch_no),
                BatchRejection::Malformed(e.to_string()),
            )));
        }
    };
    let sam_id = batch.header.sam_id;
    let batch_no = batch.header.batch_no;
    let refuse = |r| Ok(Err((Some(sam_id), Some(batch_no), r)));
    let sam_row: Option<(String, i64, String)> = conn
        .query_row(
            "SELECT merchant_id, key_version, status FROM sams WHERE sam_id = ?1",
            [sam_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((merchant_id, sam_kv, status)) = sam_row else {
        return refuse(BatchRejection::UnknownSam(sam_id));
    };
    if status != "active" {
        return refuse(BatchRejection::SamRevoked(sam_id));
    }
    let held = env.ism.key_version();
    if sam_kv != i64::from(held) {
        return refuse(BatchRejection::KeyVersion {
            sam: u8::try_from(sam_kv).unwrap_or(0),
            held,
        });
    }
    if env.ism.verify_batch_seal(&batch).is_err() {
        return refuse(BatchRejection::SealInvalid);
    }
    if let Some((row, seal)) = settled_batch(conn, sam_id, batch_no)? {
        if seal != hex_upper(&batch.seal) {
            return refuse(BatchRejection::Conflict { batch_no });
        }
        return load_settlement(conn, env, row, Some(&batch), Some(xserial), true).map(Ok);
    }

    // Per-record checks.
    let mut outcomes = Vec::with_capacity(batch.records.len());
    let mut seen_counters = std::collections::HashSet::new();
    let mut float_used: std::collections::HashMap<(Serial, Purse), i64> =
        std::collections::HashMap::new();
    let mut card_cache: std::collections::HashMap<Serial, Option<u8>> =
        std::collections::HashMap::new();
    let (mut ecash, mut food, mut accepted, mut rejected) = (0i64, 0i64, 0u32, 0u32);
    {
        let mut dup_counter = conn.prepare_cached(
            "SELECT 1 FROM settlement_records WHERE serial = ?1 AND purse = ?2 AND counter = ?3 AND state = 'accepted'",
        )?;
        let mut dup_seq = conn.prepare_cached(
            "SELECT 1 FROM settlement_records WHERE sam_id = ?1 AND sam_seq = ?2 AND state = 'accepted'",
        )?;
        let mut float_of =
            conn.prepare_cached("SELECT float FROM card_purses WHERE serial = ?1 AND purse = ?2")?;
        let sam_text = sam_id.to_string();
        for (position, record) in batch.records.iter().enumerate() {
            let rec = &record.record;
            let serial = record.serial;
            let serial_text = serial.to_string();
            let kv = match card_cache.get(&serial) {
                Some(kv) => *kv,
                None => {
                    let kv = find_card(conn, &serial)?.map(|c| c.key_version);
                    card_cache.insert(serial, kv);
                    kv
                }
            };
            let amount = i64::from(rec.amount.get());
            let rejection = if let Some(kv) = kv {
                match env.ism.verify_tac(&serial, kv, rec, &record.tac) {
                    Err(IsmError::UnknownKeyVersion { .. }) => Some(RecordRejection::KeyVersion),
                    Err(_) => Some(RecordRejection::TacInvalid),
                    Ok(()) => {
                        let key = (serial, rec.purse, rec.counter);
                        if seen_counters.contains(&key)
                            || dup_counter.exists(params![
                                serial_text,
                                rec.purse.code(),
                                rec.counter
                            ])?
                        {
                            Some(RecordRejection::DuplicateCardCounter)
                        } else if dup_seq.exists(params![sam_text, rec.sam_seq])? {
                            Some(RecordRejection::DuplicateSamSequence)
                        } else {
                            let float: i64 = float_of
                                .query_row(params![serial_text, rec.purse.code()], |r| r.get(0))
                                .optional()?
                                .unwrap_or(0);
                            let used = float_used.entry((serial, rec.purse)).or_insert(0);
                            if float - *used < amount {
                                Some(RecordRejection::FloatShort)
                            } else {
                                *used += amount;
                                seen_counters.insert(key);
                                None
                            }
                        }
                    }
                }
            } else {
                Some(RecordRejection::UnknownCard)
            };
            match rejection {
                None => {
                    accepted += 1;
                    match rec.purse {
                        Purse::Ecash => ecash += amount,
                        Purse::Food => food += amount,
                    }
                }
                Some(_) => rejected += 1,
            }
            outcomes.push(RecordOutcome {
                position,
                record: *record,
                rejection,
            });
        }
    }
    let credited = ecash + food;
    let datetime = env.now_datetime()?;
    let ack = sam::batch::ack_data(
        &batch.header,
        u64::try_from(credited).map_err(|_| Error::Invariant("negative credit".into()))?,
        accepted,
        rejected,
        datetime,
    );
    let clear = env.ism.acknowledge_batch(&batch, xserial, ack);
    let now = env.now();
    let reference = format!("settlement/{sam_id}/{batch_no}");
    let transfer_id = if credited > 0 {
        let mut legs = vec![(merchant_code(&merchant_id), credited)];
        if ecash > 0 {
            legs.push((purse_account(Purse::Ecash), -ecash));
        }
        if food > 0 {
            legs.push((purse_account(Purse::Food), -food));
        }
        Some(post_codes(conn, "settlement", &reference, now, &legs)?)
    } else {
        None
    };
    for ((serial, purse), used) in &float_used {
        conn.execute(
            "UPDATE card_purses SET float = float - ?1 WHERE serial = ?2 AND purse = ?3",
            params![used, serial.to_string(), purse.code()],
        )?;
    }
    conn.execute(
        "INSERT INTO settlement_batches (sam_id, batch_no, merchant_id, seal, sealed_at, records,
             accepted, rejected, credited, ecash_credited, food_credited, ack_data, ack_sam,
             transfer_id, xserial, uploaded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            sam_id.to_string(),
            batch_no,
            merchant_id,
            hex_upper(&batch.seal),
            batch.header.datetime.to_string(),
            batch.records.len() as i64,
            accepted,
            rejected,
            credited,
            ecash,
            food,
            hex_upper(&ack.to_bytes()),
            hex_upper(&clear.ack_sam),
            transfer_id,
            xserial.to_string(),
            now
        ],
    )?;
    let batch_row = conn.last_insert_rowid();
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO settlement_records (batch_id, position, serial, purse, counter, amount,
                 sam_id, sam_seq, datetime, record, state, reason, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for o in &outcomes {
            let rec = &o.record.record;
            insert.execute(params![
                batch_row,
                o.position as i64,
                o.record.serial.to_string(),
                rec.purse.code(),
                rec.counter,
                rec.amount.get(),
                sam_id.to_string(),
                rec.sam_seq,
                rec.datetime.to_string(),
                hex_upper(&o.record.to_bytes()),
                if o.rejection.is_none() {
                    "accepted"
                } else {
                    "rejected"
                },
                o.rejection.map(RecordRejection::code),
                o.rejection.map(RecordRejection::describe),
            ])?;
        }
    }
    // Gaps in a card's purchase counters (after this batch): findings, not rejections.
    let mut findings = Vec::new();
    {
        let mut touched: Vec<(Serial, Purse)> = float_used.keys().copied().collect();
        touched.sort_by_key(|(s, p)| (s.0, p.code()));
        let mut counters = conn.prepare_cached(
            "SELECT counter FROM settlement_records WHERE serial = ?1 AND purse = ?2 AND state = 'accepted' ORDER BY counter",
        )?;
        for (serial, purse) in touched {
            let list = counters
                .query_map(params![serial.to_string(), purse.code()], |r| {
                    r.get::<_, i64>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut expected = 1i64;
            let mut missing = Vec::new();
            for c in list {
                if c > expected {
                    missing.push(if c - 1 == expected {
                        format!("{expected}")
                    } else {
                        format!("{expected}..={}", c - 1)
                    });
                }
                expected = c + 1;
            }
            if !missing.is_empty() {
                let detail = format!(
                    "card {serial} {:?} purse: purchase counters {} not settled yet (purchases at another merchant not uploaded, or lost)",
                    purse,
                    missing.join(", ")
                );
                conn.execute(
                    "INSERT INTO settlement_findings (batch_id, kind, detail) VALUES (?1, 'counter_gap', ?2)",
                    params![batch_row, detail],
                )?;
                findings.push(detail);
            }
        }
    }
    Ok(Ok(Settlement {
        sam_id,
        batch_no,
        merchant_id,
        records: u32::try_from(batch.records.len()).map_err(|_| bad_row("record count"))?,
        accepted,
        rejected,
        credited,
        ecash_credited: ecash,
        food_credited: food,
        clear,
        replayed: false,
        outcomes,
        findings,
    }))
}

impl Backoffice {
    /// Registers a SAM for a merchant (creating the merchant and its account on first use)
    /// and issues its SAM file. The SAM id is allocated here (`53 4D` "SM" + 4 bytes).
    pub fn sam_issue(&mut self, request: &SamIssueRequest) -> Result<sam::SamFile> {
        check_merchant_id(&request.merchant_id)?;
        self.write(|tx, env| {
            ensure_merchant(tx, env, request)?;
            let next: i64 = tx.query_row("SELECT next FROM sam_id_sequence", [], |r| r.get(0))?;
            let n = u32::try_from(next)
                .map_err(|_| Error::Invariant("SAM ids are exhausted".to_owned()))?;
            tx.execute("UPDATE sam_id_sequence SET next = ?1", [next + 1])?;
            let [a, b, c, d] = n.to_be_bytes();
            let sam_id = SamId([0x53, 0x4D, a, b, c, d]);
            let profile = sam::MerchantProfile {
                sam_id,
                merchant_id: sam::MerchantId::new(request.merchant_id.clone())
                    .map_err(|e| Error::Invalid(e.to_string()))?,
                merchant_name: request.merchant_name.clone(),
                mcc: request.mcc,
                food_merchant: request.food,
                key_version: env.ism.key_version(),
            };
            let file = env
                .ism
                .issue_sam_file(profile)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            tx.execute(
                "INSERT INTO sams (sam_id, merchant_id, key_version, status, issued_at)
                 VALUES (?1, ?2, ?3, 'active', ?4)",
                params![
                    sam_id.to_string(),
                    request.merchant_id,
                    env.ism.key_version(),
                    env.now()
                ],
            )?;
            Ok(file)
        })
    }

    /// Revokes a SAM: its batches are refused from now on.
    pub fn revoke_sam(&mut self, sam_id: SamId) -> Result<()> {
        self.write(|tx, _| {
            let n = tx.execute(
                "UPDATE sams SET status = 'revoked' WHERE sam_id = ?1",
                [sam_id.to_string()],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("no SAM {sam_id}")));
            }
            Ok(())
        })
    }

    /// Every SAM, or a merchant's.
    pub fn sams(&mut self, merchant: Option<&str>) -> Result<Vec<SamRecord>> {
        self.read(|tx, _| read_sams(tx, merchant))
    }

    /// A merchant.
    pub fn merchant(&mut self, id: &str) -> Result<Merchant> {
        self.read(|tx, _| {
            read_merchant(tx, id)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "no merchant {id:?}; issue a SAM for it first (epurse backoffice sam-issue)"
                ))
            })
        })
    }

    /// Allocates a transfer-card serial (`58 46` "XF" + 6 bytes) and records it.
    pub fn allocate_transfer_serial(&mut self) -> Result<Serial> {
        self.write(|tx, env| {
            let next: i64 =
                tx.query_row("SELECT next FROM transfer_card_sequence", [], |r| r.get(0))?;
            if !(1..(1i64 << 48)).contains(&next) {
                return Err(Error::Invariant(
                    "transfer card serials are exhausted".into(),
                ));
            }
            tx.execute("UPDATE transfer_card_sequence SET next = ?1", [next + 1])?;
            let mut bytes = [0u8; 8];
            bytes[0] = 0x58;
            bytes[1] = 0x46;
            bytes[2..].copy_from_slice(&next.to_be_bytes()[2..]);
            let serial = Serial(bytes);
            tx.execute(
                "INSERT INTO transfer_cards (xserial, key_version, created_at) VALUES (?1, ?2, ?3)",
                params![serial.to_string(), env.ism.key_version(), env.now()],
            )?;
            Ok(serial)
        })
    }

    /// The PERSONALIZE command for a blank transfer card given its GET CHALLENGE random.
    pub fn personalize_transfer_card(
        &mut self,
        xserial: Serial,
        challenge: Challenge,
    ) -> Result<PersonalizeTransfer> {
        self.read(|_, env| Ok(env.ism.personalize_transfer(xserial, challenge)?))
    }

    /// Verifies and settles a batch read from transfer card `xserial` (see the module docs).
    /// A refused batch is recorded and returned as [`UploadOutcome::Rejected`]; nothing moves.
    pub fn upload_batch(&mut self, bytes: &[u8], xserial: Serial) -> Result<UploadOutcome> {
        let result = self.write(|tx, env| settle(tx, env, bytes, xserial))?;
        match result {
            Ok(settlement) => Ok(UploadOutcome::Settled(settlement)),
            Err((sam_id, batch_no, rejection)) => {
                self.write(|tx, env| {
                    reject_batch(tx, env.now(), sam_id, batch_no, xserial, &rejection)
                })?;
                Ok(UploadOutcome::Rejected(rejection))
            }
        }
    }

    /// A settled batch.
    pub fn settlement(&mut self, sam_id: SamId, batch_no: u32) -> Result<Settlement> {
        self.read(|tx, env| {
            let (row, _) = settled_batch(tx, sam_id, batch_no)?.ok_or_else(|| {
                Error::NotFound(format!("batch {batch_no} of SAM {sam_id} was not settled"))
            })?;
            load_settlement(tx, env, row, None, None, false)
        })
    }

    /// The merchant statement.
    pub fn merchant_statement(&mut self, merchant_id: &str) -> Result<MerchantStatement> {
        self.read(|tx, _| {
            let merchant = read_merchant(tx, merchant_id)?
                .ok_or_else(|| Error::NotFound(format!("no merchant {merchant_id:?}")))?;
            let sams = read_sams(tx, Some(merchant_id))?;
            let lines = query_all(
                tx,
                "SELECT sam_id, batch_no, uploaded_at, sealed_at, accepted, rejected,
                        ecash_credited, food_credited, credited
                 FROM settlement_batches WHERE merchant_id = ?1 ORDER BY id",
                [merchant_id],
                |r| {
                    Ok(StatementLine {
                        sam_id: r.get(0)?,
                        batch_no: r.get(1)?,
                        uploaded_at: r.get(2)?,
                        sealed_at: r.get(3)?,
                        accepted: r.get(4)?,
                        rejected: r.get(5)?,
                        ecash_credited: r.get(6)?,
                        food_credited: r.get(7)?,
                        credited: r.get(8)?,
                    })
                },
            )?;
            let total_credited = lines.iter().map(|l| l.credited).sum();
            Ok(MerchantStatement {
                merchant,
                sams,
                lines,
                total_credited,
            })
        })
    }

    /// The settlement report: every settled batch with per-record outcomes, and the uploads
    /// refused whole.
    pub fn settlement_report(&mut self) -> Result<SettlementReport> {
        self.read(|tx, env| {
            let ids = query_all(
                tx,
                "SELECT id FROM settlement_batches ORDER BY id",
                [],
                |r| r.get::<_, i64>(0),
            )?;
            let batches = ids
                .into_iter()
                .map(|id| load_settlement(tx, env, id, None, None, false))
                .collect::<Result<Vec<_>>>()?;
            let refused = query_all(
                tx,
                "SELECT at, sam_id, batch_no, code, detail FROM settlement_rejections ORDER BY id",
                [],
                |r| {
                    Ok(RejectedUpload {
                        at: r.get(0)?,
                        sam_id: r.get(1)?,
                        batch_no: r.get(2)?,
                        code: r.get(3)?,
                        detail: r.get(4)?,
                    })
                },
            )?;
            let total_credited = batches.iter().map(|b| b.credited).sum();
            Ok(SettlementReport {
                batches,
                refused,
                total_credited,
            })
        })
    }

    /// Checks the settlement tables against the ledger: each merchant account equals the sum
    /// of its settled batches, each settled batch's transfer moved exactly its credit, and no
    /// (card, purse, counter) or (SAM, sequence) was accepted twice. Returns the problems
    /// found (empty when clean).
    pub fn settlement_audit(&mut self) -> Result<Vec<String>> {
        self.read(|tx, _| {
            let merchants = query_all(
                tx,
                "SELECT m.id, a.balance,
                        (SELECT coalesce(sum(credited), 0) FROM settlement_batches b WHERE b.merchant_id = m.id)
                 FROM merchants m JOIN accounts a ON a.id = m.account_id ORDER BY m.id",
                [],
                |r| {
                    let (id, balance, settled): (String, i64, i64) =
                        (r.get(0)?, r.get(1)?, r.get(2)?);
                    Ok((balance != settled).then(|| {
                        format!(
                            "merchant {id}: account balance {balance} but settled batches credited {settled}"
                        )
                    }))
                },
            )?;
            let batches = query_all(
                tx,
                "SELECT b.sam_id, b.batch_no, b.credited,
                        (SELECT coalesce(sum(amount), 0) FROM settlement_records r WHERE r.batch_id = b.id AND r.state = 'accepted'),
                        (SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a ON a.id = p.account_id
                          WHERE p.transfer_id = b.transfer_id AND a.kind = 'merchant')
                 FROM settlement_batches b ORDER BY b.id",
                [],
                |r| {
                    let (sam, batch_no, credited, records, posted): (String, i64, i64, i64, i64) =
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                    Ok((credited != records || credited != posted).then(|| {
                        format!(
                            "batch {batch_no} of SAM {sam}: credited {credited}, accepted records {records}, posted {posted}"
                        )
                    }))
                },
            )?;
            Ok(merchants.into_iter().chain(batches).flatten().collect())
        })
    }

    /// Purses seen in settlement for `serial` (for tests and reports): `(purse, settled count)`.
    pub fn settled_purchases(&mut self, serial: &Serial) -> Result<Vec<(Purse, u16, MinorUnits)>> {
        self.read(|tx, _| {
            let rows = query_all(
                tx,
                "SELECT purse, counter, amount FROM settlement_records
                 WHERE serial = ?1 AND state = 'accepted' ORDER BY purse, counter",
                [serial.to_string()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, u16>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?;
            rows.into_iter()
                .map(|(purse, counter, amount)| Ok((purse_from_db(purse)?, counter, amount)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use apdu_spec::Mcc;

    use super::*;
    use crate::backoffice::Config;
    use crate::ism::IssuerSecurityModule;

    const DEV_KEYS: &str = include_str!("../../keys/dev-master-keys.json");

    #[test]
    fn the_settlement_audit_names_a_merchant_account_its_batches_do_not_explain() {
        let dir = tempfile::tempdir().unwrap();
        let keys = sam::MasterKeys::parse(DEV_KEYS).unwrap();
        let ism = Arc::new(IssuerSecurityModule::new(keys).unwrap());
        let mut bo = Backoffice::open(dir.path().join("bo.db"), ism, &Config::default()).unwrap();
        bo.sam_issue(&SamIssueRequest {
            merchant_id: "M-GROC".into(),
            merchant_name: "Corner Grocery".into(),
            mcc: Mcc::new(5411).unwrap(),
            food: true,
        })
        .unwrap();
        assert_eq!(bo.settlement_audit().unwrap(), Vec::<String>::new());
        assert_eq!(bo.sams(Some("M-GROC")).unwrap().len(), 1);

        bo.write(|tx, _| {
            tx.execute(
                "UPDATE accounts SET balance = 5 WHERE id = (SELECT account_id FROM merchants)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            bo.settlement_audit().unwrap(),
            ["merchant M-GROC: account balance 5 but settled batches credited 0"]
        );
    }
}
