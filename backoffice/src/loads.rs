//! Load authorisation (DESIGN "Load", SPEC 2.6) and recovery from evidence (SPEC 2.8).
//!
//! ```text
//! station: INITIALIZE LOAD ──► card ──► BAL CTR KV RND MAC1
//! back office: begin_load     checks card, MAC1, limits, funds; customer → pending; MAC2
//! station: CREDIT LOAD (MAC2) ──► card ──► BAL TAC
//! back office: complete_load  TAC verified; pending → card float
//! ```
//!
//! A load is *pending* from `begin_load` until evidence settles it: the CREDIT LOAD response
//! ([`Backoffice::complete_load`]), a definitive refusal of CREDIT LOAD by the card
//! ([`Backoffice::release_load`]), or the card's counters and GET TRANSACTION PROOF
//! ([`Backoffice::recover_load`]). Time never settles a load. When the evidence cannot decide
//! (the card's log no longer holds the entry) the load is *escalated*: still pending, funds
//! still reserved, waiting for the issuer ([`Backoffice::resolve_escalated_load`]).
//!
//! One card has at most one unsettled load at a time, so its proof cannot be pushed out of the
//! card's 16-entry log by later loads; a station must recover before loading again. Every
//! operation is idempotent: repeating it with the same input gives the same answer and moves
//! nothing twice.
//!
//! Trust: card data is authenticated (MAC1, TAC) wherever the contract authenticates it. GET
//! STATUS is not authenticated by the contract, so recovery trusts the teller station to relay
//! the card's counters faithfully (stations are bank-operated and authenticated themselves).

use core::fmt;

use apdu_spec::{
    Amount, CreditLoad, CreditLoadResponse, Date, DateTime, InitLoadResponse, InitializeLoad,
    LoadContext, Mcc, Purse, PurseStatus, RecordType, Serial, StatusWord, TerminalId,
    TransactionProof, TransactionRecord,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::backoffice::{Backoffice, Env, RefusalContext};
use crate::error::{Error, EvidenceError, Refusal, Result};
use crate::ism::IsmError;
use crate::ledger::{self, purse_from_db, AccountRef, CustomerId, TransferKind};
use crate::money::MinorUnits;
use crate::registry::{self, CardStatus};

/// A load's id in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoadId(pub i64);

impl fmt::Display for LoadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a teller station sends to authorise a load: the INITIALIZE LOAD it sent and the card's
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadRequest {
    /// The card's serial (from its FCI).
    pub serial: Serial,
    /// The INITIALIZE LOAD command as sent.
    pub command: InitializeLoad,
    /// The card's response.
    pub response: InitLoadResponse,
}

/// A granted load: send `credit_load` to the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadAuthorisation {
    /// The load.
    pub load_id: LoadId,
    /// The card.
    pub serial: Serial,
    /// The purse.
    pub purse: Purse,
    /// The load counter (`CTR`) of this load.
    pub counter: u16,
    /// Amount.
    pub amount: Amount,
    /// The CREDIT LOAD command (`DATETIME` and `MAC2`) for the card.
    pub credit_load: CreditLoad,
    /// True when this exact request was already authorised (nothing was reserved again).
    pub replayed: bool,
}

/// Where a load stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadState {
    /// Funds reserved, outcome not yet known.
    Pending,
    /// Pending, and the card's evidence could not decide: waits for the issuer.
    Escalated,
    /// The card credited it (TAC verified); funds are card float.
    Completed,
    /// The card did not credit it; funds are back in the customer's account.
    Released,
}

impl LoadState {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadState::Pending => "pending",
            LoadState::Escalated => "escalated",
            LoadState::Completed => "completed",
            LoadState::Released => "released",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => LoadState::Pending,
            "escalated" => LoadState::Escalated,
            "completed" => LoadState::Completed,
            "released" => LoadState::Released,
            other => return Err(Error::BadRow(format!("load state {other:?}"))),
        })
    }

    /// Pending or escalated: funds still reserved.
    pub fn is_unsettled(self) -> bool {
        matches!(self, LoadState::Pending | LoadState::Escalated)
    }
}

/// A load as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// Id.
    pub id: LoadId,
    /// Card.
    pub serial: Serial,
    /// Purse.
    pub purse: Purse,
    /// `CTR`.
    pub counter: u16,
    /// Amount in minor units.
    pub amount: MinorUnits,
    /// Food-Voucher expiry.
    pub expiry: Option<Date>,
    /// Teller station.
    pub terminal: TerminalId,
    /// Card key version.
    pub key_version: u8,
    /// Card balance before the load (from INITIALIZE LOAD).
    pub balance_before: MinorUnits,
    /// `DATETIME` sent in CREDIT LOAD.
    pub datetime: DateTime,
    /// `MAC2` sent in CREDIT LOAD.
    pub mac2: [u8; 8],
    /// The funding customer.
    pub customer: CustomerId,
    /// State.
    pub state: LoadState,
    /// Card balance after the load (completed loads).
    pub balance_after: Option<MinorUnits>,
    /// How it was settled.
    pub resolution: Option<String>,
    /// When authorised (Unix seconds).
    pub created_at: i64,
    /// When settled.
    pub resolved_at: Option<i64>,
    rnd: [u8; 4],
    mac1: [u8; 8],
    tac: Option<[u8; 8]>,
}

impl Load {
    /// A load as another back office reported it (e.g. over the HTTP API, see
    /// [`crate::client`]): the card's random, MAC1 and TAC stay with the back office, so such a
    /// load can be shown and its id used, never settled locally.
    #[allow(clippy::too_many_arguments)]
    pub fn reported(
        id: LoadId,
        serial: Serial,
        purse: Purse,
        counter: u16,
        amount: MinorUnits,
        expiry: Option<Date>,
        terminal: TerminalId,
        key_version: u8,
        balance_before: MinorUnits,
        datetime: DateTime,
        customer: CustomerId,
        state: LoadState,
        balance_after: Option<MinorUnits>,
        resolution: Option<String>,
        created_at: i64,
        resolved_at: Option<i64>,
    ) -> Self {
        Load {
            id,
            serial,
            purse,
            counter,
            amount,
            expiry,
            terminal,
            key_version,
            balance_before,
            datetime,
            mac2: [0; 8],
            customer,
            state,
            balance_after,
            resolution,
            created_at,
            resolved_at,
            rnd: [0; 4],
            mac1: [0; 8],
            tac: None,
        }
    }

    /// The CREDIT LOAD command of this load (to resend after a lost response; the card accepts
    /// it only within the same load session).
    pub fn credit_load(&self) -> CreditLoad {
        CreditLoad {
            purse: self.purse,
            datetime: self.datetime,
            mac2: self.mac2,
        }
    }

    /// The transaction record the card writes when it credits this load with the given
    /// resulting balance (SPEC 1.5; FLAGS 00 for loads, vectors/README reading 1).
    fn record(&self, balance_after: Amount) -> Result<TransactionRecord> {
        Ok(TransactionRecord {
            record_type: RecordType::Load,
            purse: self.purse,
            counter: self.counter,
            amount: to_amount(self.amount)?,
            balance: balance_after,
            terminal: self.terminal.0,
            sam_seq: 0,
            datetime: self.datetime,
            mcc: Mcc::NONE,
            flags: 0,
        })
    }
}

/// How a settle operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadOutcome {
    /// Completed now.
    Completed,
    /// Was already completed.
    AlreadyCompleted,
    /// Released now.
    Released,
    /// Was already released.
    AlreadyReleased,
    /// The evidence cannot decide; escalated to the issuer, funds stay reserved.
    Escalated,
}

/// The load after a settle operation, and what the operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadResolution {
    /// What happened.
    pub outcome: LoadOutcome,
    /// The load now.
    pub load: Load,
}

/// Why a pending load is released without recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The card answered CREDIT LOAD with an error status. Only statuses the card returns
    /// before changing anything count (`6700`, `6985`, `6A80`, `6A86`, `6D00`, `6E00`, `9302`,
    /// `9303`); others (`6F00`, unknown) are not proof and are refused.
    CardRefusedCredit(StatusWord),
}

/// The answer to GET TRANSACTION PROOF (purse, TT `01`, CTR of the load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofEvidence {
    /// Not asked (enough when the card's counter is below the load's).
    NotAsked,
    /// The card answered `6A88`: no such entry in its log.
    NotFound,
    /// The card's log entry.
    Found(TransactionProof),
}

/// What the card shows about a pending load when it is presented again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardEvidence {
    /// GET STATUS.
    pub status: PurseStatus,
    /// GET TRANSACTION PROOF for the load's purse and counter.
    pub proof: ProofEvidence,
}

/// The issuer's decision on an escalated load, after reconciling (e.g. from settlement
/// records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerDecision {
    /// The card did credit it: move the funds to card float.
    Complete,
    /// The card did not credit it: return the funds.
    Release,
}

fn to_amount(units: MinorUnits) -> Result<Amount> {
    u32::try_from(units)
        .ok()
        .and_then(|v| Amount::new(v).ok())
        .ok_or_else(|| Error::BadRow(format!("load amount {units}")))
}

fn hex_array<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    hex::decode(text)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| Error::BadRow(format!("{what} {text:?}")))
}

const LOAD_COLUMNS: &str = "id, serial, purse, counter, amount, expiry, terminal, key_version,
    card_random, mac1, balance_before, datetime, mac2, customer_id, state, balance_after, tac,
    resolution, created_at, resolved_at";

fn load_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Load>> {
    let id: i64 = r.get(0)?;
    let serial: String = r.get(1)?;
    let purse: i64 = r.get(2)?;
    let counter: i64 = r.get(3)?;
    let amount: i64 = r.get(4)?;
    let expiry: Option<String> = r.get(5)?;
    let terminal: String = r.get(6)?;
    let key_version: i64 = r.get(7)?;
    let rnd: String = r.get(8)?;
    let mac1: String = r.get(9)?;
    let balance_before: i64 = r.get(10)?;
    let datetime: String = r.get(11)?;
    let mac2: String = r.get(12)?;
    let customer: i64 = r.get(13)?;
    let state: String = r.get(14)?;
    let balance_after: Option<i64> = r.get(15)?;
    let tac: Option<String> = r.get(16)?;
    let resolution: Option<String> = r.get(17)?;
    let created_at: i64 = r.get(18)?;
    let resolved_at: Option<i64> = r.get(19)?;
    Ok((|| {
        let bad = |what: &str| Error::BadRow(format!("load {id}: {what}"));
        Ok(Load {
            id: LoadId(id),
            serial: serial.parse().map_err(|_| bad("serial"))?,
            purse: purse_from_db(purse)?,
            counter: u16::try_from(counter).map_err(|_| bad("counter"))?,
            amount,
            expiry: expiry
                .map(|e| Date::from_bcd(hex_array(&e, "expiry")?).map_err(|_| bad("expiry")))
                .transpose()?,
            terminal: TerminalId(hex_array(&terminal, "terminal")?),
            key_version: u8::try_from(key_version).map_err(|_| bad("key_version"))?,
            balance_before,
            datetime: DateTime::from_bcd(hex_array(&datetime, "datetime")?)
                .map_err(|_| bad("datetime"))?,
            mac2: hex_array(&mac2, "mac2")?,
            customer: CustomerId(customer),
            state: LoadState::parse(&state)?,
            balance_after,
            resolution,
            created_at,
            resolved_at,
            rnd: hex_array(&rnd, "card_random")?,
            mac1: hex_array(&mac1, "mac1")?,
            tac: tac.map(|t| hex_array(&t, "tac")).transpose()?,
        })
    })())
}

fn load_by_id(conn: &Connection, id: LoadId) -> Result<Load> {
    conn.query_row(
        &format!("SELECT {LOAD_COLUMNS} FROM loads WHERE id = ?1"),
        [id.0],
        load_from_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no load {id}")))?
}

fn loads_where(conn: &Connection, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Load>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LOAD_COLUMNS} FROM loads WHERE {clause} ORDER BY id"
    ))?;
    let rows = stmt.query_map(args, load_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

fn event(conn: &Connection, load: LoadId, now: i64, event: &str, detail: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO load_events (load_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
        params![load.0, now, event, detail],
    )?;
    Ok(())
}

fn note_seen(
    conn: &Connection,
    serial: &Serial,
    purse: Purse,
    balance: MinorUnits,
    load_counter: u16,
    purchase_counter: Option<u16>,
    now: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE card_purses SET seen_balance = ?3, seen_load_counter = ?4,
             seen_purchase_counter = COALESCE(?5, seen_purchase_counter), seen_at = ?6
         WHERE serial = ?1 AND purse = ?2",
        params![
            serial.to_string(),
            purse.code(),
            balance,
            load_counter,
            purchase_counter,
            now
        ],
    )?;
    Ok(())
}

/// The money side of completing any load, connected or unconnected: one transfer pending →
/// card float, the card's own float raised by the amount and its known load counter raised to
/// the load's. Returns the transfer id; the caller records the load's new state.
pub(crate) fn post_completion(
    conn: &Connection,
    now: i64,
    id: LoadId,
    serial: &Serial,
    purse: Purse,
    amount: MinorUnits,
    counter: u16,
) -> Result<i64> {
    let transfer = ledger::post(
        conn,
        TransferKind::LoadComplete,
        &format!("load {id}"),
        now,
        &[
            (AccountRef::PendingLoads(purse), -amount),
            (AccountRef::CardFloat(purse), amount),
        ],
    )?;
    let float: i64 = conn.query_row(
        "SELECT float FROM card_purses WHERE serial = ?1 AND purse = ?2",
        params![serial.to_string(), purse.code()],
        |r| r.get(0),
    )?;
    let float = float
        .checked_add(amount)
        .ok_or_else(|| Error::Invariant(format!("card {serial} float overflows")))?;
    conn.execute(
        "UPDATE card_purses SET float = ?3, load_counter = MAX(load_counter, ?4)
         WHERE serial = ?1 AND purse = ?2",
        params![serial.to_string(), purse.code(), float, counter],
    )?;
    Ok(transfer)
}

/// Pending → card float. `card_result` is the card's resulting balance and TAC (already
/// verified), absent when the issuer decides without them.
fn complete(
    conn: &Connection,
    env: &Env,
    load: &Load,
    card_result: Option<(Amount, &[u8; 8])>,
    how: &str,
) -> Result<()> {
    let now = env.now();
    let transfer = post_completion(
        conn,
        now,
        load.id,
        &load.serial,
        load.purse,
        load.amount,
        load.counter,
    )?;
    if let Some((balance_after, _)) = card_result {
        note_seen(
            conn,
            &load.serial,
            load.purse,
            i64::from(balance_after.get()),
            load.counter,
            None,
            now,
        )?;
    }
    conn.execute(
        "UPDATE loads SET state = 'completed', final_transfer_id = ?2, balance_after = ?3, tac = ?4,
             resolution = ?5, resolved_at = ?6
         WHERE id = ?1",
        params![
            load.id.0,
            transfer,
            card_result.map(|(b, _)| b.get()),
            card_result.map(|(_, tac)| hex::encode_upper(tac)),
            how,
            now
        ],
    )?;
    event(conn, load.id, now, "completed", how)
}

/// Pending → customer account.
fn release(conn: &Connection, env: &Env, load: &Load, how: &str) -> Result<()> {
    let now = env.now();
    let transfer = ledger::post(
        conn,
        TransferKind::LoadRelease,
        &format!("load {}", load.id),
        now,
        &[
            (AccountRef::PendingLoads(load.purse), -load.amount),
            (AccountRef::Customer(load.customer, load.purse), load.amount),
        ],
    )?;
    conn.execute(
        "UPDATE loads SET state = 'released', final_transfer_id = ?2, resolution = ?3, resolved_at = ?4
         WHERE id = ?1",
        params![load.id.0, transfer, how, now],
    )?;
    event(conn, load.id, now, "released", how)
}

fn resolution(conn: &Connection, id: LoadId, outcome: LoadOutcome) -> Result<LoadResolution> {
    Ok(LoadResolution {
        outcome,
        load: load_by_id(conn, id)?,
    })
}

fn authorisation(load: &Load, replayed: bool) -> Result<LoadAuthorisation> {
    Ok(LoadAuthorisation {
        load_id: load.id,
        serial: load.serial,
        purse: load.purse,
        counter: load.counter,
        amount: to_amount(load.amount)?,
        credit_load: load.credit_load(),
        replayed,
    })
}

fn check_request_shape(request: &LoadRequest) -> Result<()> {
    let command = &request.command;
    let response = &request.response;
    match (command.purse, command.expiry) {
        (Purse::Ecash, Some(_)) => {
            return Err(Error::Invalid(
                "an e-Cash load has no expiry date; leave it out".to_owned(),
            ))
        }
        (Purse::Food, None) => {
            return Err(Error::Invalid(
                "a Food-Voucher load needs an expiry date".to_owned(),
            ))
        }
        _ => {}
    }
    if command.amount == Amount::ZERO {
        return Err(Error::Invalid("a load amount must be positive".to_owned()));
    }
    if command.key_version != 0 && command.key_version != response.key_version {
        return Err(Error::Invalid(format!(
            "INITIALIZE LOAD asked for key version {:#04X} but the card answered with {:#04X}",
            command.key_version, response.key_version
        )));
    }
    if response.counter == 0 {
        return Err(Error::Invalid(
            "INITIALIZE LOAD response has CTR 0000, which no card returns".to_owned(),
        ));
    }
    Ok(())
}

fn begin_load(conn: &Connection, env: &Env, request: &LoadRequest) -> Result<LoadAuthorisation> {
    let serial = request.serial;
    let command = &request.command;
    let response = &request.response;
    let purse = command.purse;
    let amount = i64::from(command.amount.get());

    let card = registry::card(conn, &serial)?;
    match card.status {
        CardStatus::Personalising => return Err(Refusal::CardNotIssued { serial }.into()),
        CardStatus::Blocked => return Err(Refusal::CardBlocked { serial }.into()),
        CardStatus::Active => {}
    }
    // A card of another key generation than the ISM holds fails in the ISM below
    // (`IsmError::UnknownKeyVersion`): a configuration problem, not a refusal.
    if response.key_version != card.key_version {
        return Err(Refusal::KeyVersion {
            serial,
            card: response.key_version,
            expected: card.key_version,
        }
        .into());
    }
    let context = LoadContext::new(serial, command, response);
    match env.ism.verify_load_mac1(&context, response) {
        Ok(()) => {}
        Err(IsmError::Mac1Invalid) => return Err(Refusal::Mac1Invalid.into()),
        Err(other) => return Err(other.into()),
    }

    // The same request again (a retry after a lost answer): the same authorisation.
    let same = loads_where(
        conn,
        "serial = ?1 AND purse = ?2 AND counter = ?3 AND card_random = ?4 AND mac1 = ?5",
        params![
            serial.to_string(),
            purse.code(),
            response.counter,
            hex::encode_upper(response.rnd),
            hex::encode_upper(response.mac1)
        ],
    )?;
    if let Some(earlier) = same.last() {
        if earlier.state == LoadState::Released {
            return Err(Error::Conflict(format!(
                "load {} for this INITIALIZE LOAD was already released; start a new load",
                earlier.id
            )));
        }
        return authorisation(earlier, true);
    }

    if let Some(pending) = loads_where(
        conn,
        "serial = ?1 AND state IN ('pending', 'escalated')",
        [serial.to_string()],
    )?
    .first()
    {
        return Err(Refusal::PendingLoad {
            serial,
            load_id: pending.id.0,
            purse: pending.purse,
            counter: pending.counter,
        }
        .into());
    }
    let known = card.purse(purse).load_counter;
    if response.counter <= known {
        return Err(Refusal::CounterRewound {
            serial,
            reported: response.counter,
            known,
        }
        .into());
    }
    if let Some(expiry) = command.expiry {
        let today = env.today()?;
        if expiry < today {
            return Err(Refusal::ExpiryPast {
                expiry: expiry.to_string(),
                today: today.to_string(),
            }
            .into());
        }
    }
    let max_amount = i64::from(card.max_amount(purse).get());
    if amount > max_amount {
        return Err(Refusal::AmountOverLimit {
            amount,
            limit: max_amount,
        }
        .into());
    }
    let would_hold = i64::from(response.balance.get()) + amount;
    let max_balance = i64::from(card.max_balance(purse).get());
    if would_hold > max_balance {
        return Err(Refusal::BalanceOverMax {
            would_hold,
            max_balance,
        }
        .into());
    }
    let funding = AccountRef::Customer(card.customer, purse);
    let available = ledger::balance(conn, &funding)?;
    if available < amount {
        return Err(Refusal::InsufficientFunds {
            available,
            requested: amount,
        }
        .into());
    }

    let datetime = env.now_datetime()?;
    let mac2 = env.ism.load_mac2(&context, response, datetime)?;
    let now = env.now();
    let reference = format!("load {serial}/{}/{}", purse.code(), response.counter);
    let transfer = ledger::post(
        conn,
        TransferKind::LoadReserve,
        &reference,
        now,
        &[
            (funding, -amount),
            (AccountRef::PendingLoads(purse), amount),
        ],
    )?;
    conn.execute(
        "INSERT INTO loads (serial, purse, counter, amount, expiry, terminal, key_version,
             card_random, mac1, balance_before, datetime, mac2, customer_id, state,
             reserve_transfer_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending', ?14, ?15)",
        params![
            serial.to_string(),
            purse.code(),
            response.counter,
            amount,
            command.expiry.map(|d| hex::encode_upper(d.to_bcd())),
            hex::encode_upper(command.terminal.0),
            response.key_version,
            hex::encode_upper(response.rnd),
            hex::encode_upper(response.mac1),
            response.balance.get(),
            hex::encode_upper(datetime.to_bcd()),
            hex::encode_upper(mac2),
            card.customer.0,
            transfer,
            now
        ],
    )?;
    let id = LoadId(conn.last_insert_rowid());
    event(
        conn,
        id,
        now,
        "reserved",
        &format!("MAC1 verified, {amount} reserved, MAC2 issued"),
    )?;
    note_seen(
        conn,
        &serial,
        purse,
        i64::from(response.balance.get()),
        response.counter - 1,
        None,
        now,
    )?;
    authorisation(&load_by_id(conn, id)?, false)
}

impl Backoffice {
    /// Authorises a load from the card's INITIALIZE LOAD response: checks the card (known,
    /// issued, not blocked, key version), MAC1, that no other load on the card is pending, the
    /// card's limits and the customer's funds; then, in one transaction, moves the amount from
    /// the customer's account to pending loads and records the pending load with its MAC2.
    ///
    /// Refusals ([`Error::Refused`]) move nothing and are recorded in the refusal log.
    pub fn begin_load(&mut self, request: &LoadRequest) -> Result<LoadAuthorisation> {
        check_request_shape(request)?;
        let context = RefusalContext {
            operation: "begin_load",
            serial: Some(request.serial),
            purse: Some(request.command.purse),
            amount: Some(i64::from(request.command.amount.get())),
        };
        self.write_or_refuse(&context, |tx, env| begin_load(tx, env, request))
    }

    /// Completes a load with the card's CREDIT LOAD response: the TAC is verified over the
    /// load's record, then pending → card float. Idempotent. A TAC that does not verify leaves
    /// the load pending ([`EvidenceError::TacInvalid`], noted in the load's events): recover it
    /// with [`Backoffice::recover_load`].
    pub fn complete_load(
        &mut self,
        id: LoadId,
        response: &CreditLoadResponse,
    ) -> Result<LoadResolution> {
        let outcome = self.write(|tx, env| {
            let load = load_by_id(tx, id)?;
            match load.state {
                LoadState::Completed => {
                    if load.tac == Some(response.tac)
                        && load.balance_after == Some(i64::from(response.balance.get()))
                    {
                        return Ok(Ok(LoadOutcome::AlreadyCompleted));
                    }
                    return Err(Error::Conflict(format!(
                        "load {id} was completed with another CREDIT LOAD response"
                    )));
                }
                LoadState::Released => {
                    return Err(Error::Conflict(format!(
                        "load {id} was released on evidence that the card did not credit it, yet a CREDIT LOAD response is presented; refer to the issuer"
                    )))
                }
                LoadState::Pending | LoadState::Escalated => {}
            }
            let record = load.record(response.balance)?;
            match env
                .ism
                .verify_tac(&load.serial, load.key_version, &record, &response.tac)
            {
                Ok(()) => {
                    complete(
                        tx,
                        env,
                        &load,
                        Some((response.balance, &response.tac)),
                        "CREDIT LOAD TAC verified",
                    )?;
                    Ok(Ok(LoadOutcome::Completed))
                }
                Err(IsmError::TacInvalid) => {
                    event(tx, id, env.now(), "tac_invalid", "CREDIT LOAD TAC does not verify; load stays pending")?;
                    Ok(Err(EvidenceError::TacInvalid))
                }
                Err(other) => Err(other.into()),
            }
        })?;
        let outcome = outcome?;
        self.read(|tx, _| resolution(tx, id, outcome))
    }

    /// Releases a pending load on definitive evidence that the card did not credit it.
    /// Idempotent; a completed load is never released ([`Error::Conflict`]).
    pub fn release_load(&mut self, id: LoadId, reason: ReleaseReason) -> Result<LoadResolution> {
        let ReleaseReason::CardRefusedCredit(sw) = reason;
        let definitive = matches!(
            sw,
            StatusWord::WrongLength
                | StatusWord::ConditionsNotSatisfied
                | StatusWord::BadData
                | StatusWord::BadP1P2
                | StatusWord::BadIns
                | StatusWord::BadCla
                | StatusWord::MacInvalid
                | StatusWord::CardBlocked
        );
        if !definitive {
            return Err(EvidenceError::NotDefinitive(sw.to_string()).into());
        }
        self.write(|tx, env| {
            let load = load_by_id(tx, id)?;
            match load.state {
                LoadState::Released => resolution(tx, id, LoadOutcome::AlreadyReleased),
                LoadState::Completed => Err(Error::Conflict(format!(
                    "load {id} is completed (the card credited it); it cannot be released"
                ))),
                LoadState::Pending | LoadState::Escalated => {
                    release(
                        tx,
                        env,
                        &load,
                        &format!("card refused CREDIT LOAD with {sw}"),
                    )?;
                    resolution(tx, id, LoadOutcome::Released)
                }
            }
        })
    }

    /// Settles a pending (or escalated) load from the card's evidence (SPEC 2.8):
    ///
    /// - the purse's load counter is below the load's `CTR` → the card never credited it:
    ///   released;
    /// - counter ≥ `CTR` and the proof is the load's record with a valid TAC → completed;
    /// - counter ≥ `CTR` and the card answered `6A88` → escalated (funds stay reserved);
    /// - anything else (another card, a proof that is not this load's, a bad TAC, no proof
    ///   asked) → [`Error::Evidence`], the load stays as it was.
    ///
    /// Idempotent: a settled load answers `AlreadyCompleted` / `AlreadyReleased`.
    pub fn recover_load(&mut self, id: LoadId, evidence: &CardEvidence) -> Result<LoadResolution> {
        // An unconnected load is decided by its own rules (TT 04 proof; an unused code is never
        // released), whichever recovery path meets it.
        if self.is_unconnected_load(id)? {
            let outcome = self.recover_unconnected_load(id, evidence)?.outcome;
            let load = self.load(id)?;
            return Ok(LoadResolution { outcome, load });
        }
        let outcome = self.write(|tx, env| {
            let load = load_by_id(tx, id)?;
            match load.state {
                LoadState::Completed => return Ok(Ok(LoadOutcome::AlreadyCompleted)),
                LoadState::Released => return Ok(Ok(LoadOutcome::AlreadyReleased)),
                LoadState::Pending | LoadState::Escalated => {}
            }
            let status = &evidence.status;
            if status.serial != load.serial {
                return Ok(Err(EvidenceError::WrongCard {
                    expected: load.serial,
                    presented: status.serial,
                }));
            }
            let now = env.now();
            for purse in [Purse::Ecash, Purse::Food] {
                let block = status.purse(purse);
                note_seen(
                    tx,
                    &load.serial,
                    purse,
                    i64::from(block.balance.get()),
                    block.load_counter,
                    Some(block.purchase_counter),
                    now,
                )?;
            }
            let card_counter = status.purse(load.purse).load_counter;
            if card_counter < load.counter {
                release(
                    tx,
                    env,
                    &load,
                    &format!(
                        "recovery: card load counter {card_counter} is below the load's {}",
                        load.counter
                    ),
                )?;
                return Ok(Ok(LoadOutcome::Released));
            }
            match &evidence.proof {
                ProofEvidence::NotAsked => Ok(Err(EvidenceError::ProofNeeded {
                    purse: load.purse,
                    counter: load.counter,
                })),
                ProofEvidence::NotFound => {
                    if load.state == LoadState::Pending {
                        tx.execute(
                            "UPDATE loads SET state = 'escalated' WHERE id = ?1",
                            [id.0],
                        )?;
                    }
                    event(
                        tx,
                        id,
                        now,
                        "escalated",
                        &format!(
                            "card load counter {card_counter} ≥ {} but its log no longer holds the entry (6A88); the issuer must reconcile",
                            load.counter
                        ),
                    )?;
                    Ok(Ok(LoadOutcome::Escalated))
                }
                ProofEvidence::Found(proof) => {
                    let record = &proof.record;
                    let mismatch = if record.record_type != RecordType::Load {
                        Some("not a load record")
                    } else if record.purse != load.purse || record.counter != load.counter {
                        Some("another purse or counter")
                    } else if i64::from(record.amount.get()) != load.amount {
                        Some("another amount")
                    } else if record.terminal != load.terminal.0 {
                        Some("another terminal")
                    } else if record.datetime != load.datetime {
                        Some("another date and time")
                    } else {
                        None
                    };
                    if let Some(what) = mismatch {
                        event(tx, id, now, "proof_mismatch", what)?;
                        return Ok(Err(EvidenceError::ProofMismatch(what)));
                    }
                    match env
                        .ism
                        .verify_tac(&load.serial, load.key_version, record, &proof.tac)
                    {
                        Ok(()) => {
                            complete(
                                tx,
                                env,
                                &load,
                                Some((record.balance, &proof.tac)),
                                "recovery: GET TRANSACTION PROOF TAC verified",
                            )?;
                            Ok(Ok(LoadOutcome::Completed))
                        }
                        Err(IsmError::TacInvalid) => {
                            event(tx, id, now, "tac_invalid", "proof TAC does not verify")?;
                            Ok(Err(EvidenceError::TacInvalid))
                        }
                        Err(other) => Err(other.into()),
                    }
                }
            }
        })?;
        let outcome = outcome?;
        self.read(|tx, _| resolution(tx, id, outcome))
    }

    /// The issuer settles an escalated load after reconciling it (e.g. from settlement
    /// records). `note` (required) says on what grounds; it is kept with the load.
    pub fn resolve_escalated_load(
        &mut self,
        id: LoadId,
        decision: IssuerDecision,
        note: &str,
    ) -> Result<LoadResolution> {
        let note = note.trim();
        if note.is_empty() {
            return Err(Error::Invalid(
                "say on what grounds the escalated load is settled (a note is required)".to_owned(),
            ));
        }
        self.write(|tx, env| {
            let load = load_by_id(tx, id)?;
            if load.state != LoadState::Escalated {
                return Err(Error::Conflict(format!(
                    "load {id} is {}, not escalated; only escalated loads are settled by the issuer",
                    load.state.as_str()
                )));
            }
            match decision {
                IssuerDecision::Complete => {
                    complete(tx, env, &load, None, &format!("issuer decision: {note}"))?;
                    resolution(tx, id, LoadOutcome::Completed)
                }
                IssuerDecision::Release => {
                    release(tx, env, &load, &format!("issuer decision: {note}"))?;
                    resolution(tx, id, LoadOutcome::Released)
                }
            }
        })
    }

    /// A load.
    pub fn load(&mut self, id: LoadId) -> Result<Load> {
        self.read(|tx, _| load_by_id(tx, id))
    }

    /// Unsettled (pending or escalated) loads, of one card or all; oldest first. A station
    /// asks this when a card is presented and recovers each before a new load.
    pub fn pending_loads(&mut self, serial: Option<&Serial>) -> Result<Vec<Load>> {
        self.read(|tx, _| match serial {
            Some(serial) => loads_where(
                tx,
                "serial = ?1 AND state IN ('pending', 'escalated')",
                [serial.to_string()],
            ),
            None => loads_where(tx, "state IN ('pending', 'escalated')", []),
        })
    }

    /// The load events of a load, oldest first: `(at, event, detail)`.
    pub fn load_events(&mut self, id: LoadId) -> Result<Vec<(i64, String, String)>> {
        self.read(|tx, _| {
            let mut stmt = tx.prepare(
                "SELECT at, event, detail FROM load_events WHERE load_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
