//! Unconnected loads (SPEC 1.8, 2.12; `docs/unconnected.md`): the bank and a card that sits in
//! an offline pocket reader exchange two short decimal codes typed by the cardholder.
//!
//! ```text
//! back office: begin_unconnected_load   checks card, limits (UC_MAX), funds; customer → pending;
//!                                       AUTH code for CTR = the card's next load counter
//! cardholder:  types AUTH into the pocket reader ──► UNCONNECTED LOAD ──► card shows CONFIRM
//! back office: confirm_unconnected_load CONFIRM verified; pending → card float
//! ```
//!
//! An unconnected load is a row of the `loads` table with `mode = 'unconnected'`, so it is
//! covered by the audit exactly like a connected load (reserve, complete and release transfers
//! against the pending-loads account), counts as the card's one unsettled load (a connected
//! load is refused while it is pending, and the other way round), and is listed by
//! [`Backoffice::pending_loads`]. `CTR` is the bank's last known load counter of the purse
//! plus one: the bank sees every load of its cards, connected ones through their MAC1 and TAC,
//! unconnected ones through their CONFIRM or the card's log.
//!
//! Settling: the CONFIRM code the cardholder reads back ([`Backoffice::confirm_unconnected_load`]),
//! or, when the card is next presented in a connected reader, its counters and GET TRANSACTION
//! PROOF with TT `04` ([`Backoffice::recover_unconnected_load`]). A wrong CONFIRM is refused and
//! leaves the load pending. Every operation is idempotent.

use apdu_spec::{Amount, Date, Mcc, Purse, RecordType, Serial};
use rusqlite::{params, Connection, OptionalExtension};

use crate::backoffice::{Backoffice, Env, RefusalContext};
use crate::error::{Error, EvidenceError, Refusal, Result};
use crate::ism::IsmError;
use crate::ledger::{self, AccountRef, TransferKind};
use crate::loads::{CardEvidence, LoadId, LoadOutcome, LoadState, ProofEvidence};
use crate::money::MinorUnits;
use crate::registry::{self, CardStatus};

/// The schema step adding the load mode (migration 3).
pub(crate) const SCHEMA_UNCONNECTED: &str = r#"
ALTER TABLE loads ADD COLUMN mode TEXT NOT NULL DEFAULT 'connected'
    CHECK (mode IN ('connected', 'unconnected'));
"#;

/// What the teller asks for: load `amount` into `purse` of card `serial` through the pocket
/// reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnconnectedRequest {
    /// The card.
    pub serial: Serial,
    /// The purse.
    pub purse: Purse,
    /// Amount in minor units (positive, at most the card's `UC_MAX`).
    pub amount: MinorUnits,
    /// Food-Voucher expiry (required for Food, absent for e-Cash).
    pub expiry: Option<Date>,
}

/// A reserved unconnected load and its authorisation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnconnectedAuthorisation {
    /// The load (a row of the loads ledger).
    pub load_id: LoadId,
    /// The card.
    pub serial: Serial,
    /// The purse.
    pub purse: Purse,
    /// `CTR`: the card's load counter after this load.
    pub counter: u16,
    /// Amount.
    pub amount: Amount,
    /// Food-Voucher expiry.
    pub expiry: Option<Date>,
    /// `code8(AUTH)`, below 100 000 000: what the cardholder types (with its check digit).
    pub auth_code: u32,
    /// True when the same request was already reserved (nothing was reserved again).
    pub replayed: bool,
    /// Where the load stands now.
    pub state: LoadState,
}

/// An unconnected load as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnconnectedLoad {
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
    /// Card key version.
    pub key_version: u8,
    /// The funding customer.
    pub customer: crate::ledger::CustomerId,
    /// State.
    pub state: LoadState,
    /// Card balance after the load, when the card's log showed it.
    pub balance_after: Option<MinorUnits>,
    /// How it was settled.
    pub resolution: Option<String>,
}

/// The load after a settle operation, and what the operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnconnectedResolution {
    /// What happened.
    pub outcome: LoadOutcome,
    /// The load now.
    pub load: UnconnectedLoad,
}

fn to_amount(units: MinorUnits) -> Option<Amount> {
    u32::try_from(units).ok().and_then(|v| Amount::new(v).ok())
}

fn expiry_from_db(id: i64, text: Option<String>) -> Result<Option<Date>> {
    text.map(|t| {
        hex::decode(&t)
            .ok()
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .and_then(|b| Date::from_bcd(b).ok())
            .ok_or_else(|| Error::BadRow(format!("load {id}: expiry {t:?}")))
    })
    .transpose()
}

fn load_by_id(conn: &Connection, id: LoadId) -> Result<UnconnectedLoad> {
    let row = conn
        .query_row(
            "SELECT serial, purse, counter, amount, expiry, key_version, customer_id, state,
                    balance_after, resolution, mode
             FROM loads WHERE id = ?1",
            [id.0],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, String>(10)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no load {id}")))?;
    let (serial, purse, counter, amount, expiry, kv, customer, state, after, resolution, mode) =
        row;
    if mode != "unconnected" {
        return Err(Error::Invalid(format!(
            "load {id} is a connected load; settle it with `epurse teller recover`"
        )));
    }
    let bad = |what: &str| Error::BadRow(format!("load {id}: {what}"));
    Ok(UnconnectedLoad {
        id,
        serial: serial.parse().map_err(|_| bad("serial"))?,
        purse: ledger::purse_from_db(purse)?,
        counter: u16::try_from(counter).map_err(|_| bad("counter"))?,
        amount,
        expiry: expiry_from_db(id.0, expiry)?,
        key_version: u8::try_from(kv).map_err(|_| bad("key_version"))?,
        customer: crate::ledger::CustomerId(customer),
        state: match state.as_str() {
            "pending" => LoadState::Pending,
            "escalated" => LoadState::Escalated,
            "completed" => LoadState::Completed,
            "released" => LoadState::Released,
            other => return Err(bad(&format!("state {other:?}"))),
        },
        balance_after: after,
        resolution,
    })
}

fn event(conn: &Connection, load: LoadId, now: i64, event: &str, detail: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO load_events (load_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
        params![load.0, now, event, detail],
    )?;
    Ok(())
}

fn authorisation(
    env: &Env,
    load: &UnconnectedLoad,
    replayed: bool,
) -> Result<UnconnectedAuthorisation> {
    let amount = to_amount(load.amount)
        .ok_or_else(|| Error::BadRow(format!("load {}: amount {}", load.id, load.amount)))?;
    let auth_code = env.ism.unconnected_auth_code(
        &load.serial,
        load.key_version,
        load.purse,
        load.counter,
        amount,
        load.expiry,
    )?;
    Ok(UnconnectedAuthorisation {
        load_id: load.id,
        serial: load.serial,
        purse: load.purse,
        counter: load.counter,
        amount,
        expiry: load.expiry,
        auth_code,
        replayed,
        state: load.state,
    })
}

/// Pending → card float.
fn complete(
    conn: &Connection,
    env: &Env,
    load: &UnconnectedLoad,
    balance_after: Option<Amount>,
    how: &str,
) -> Result<()> {
    let now = env.now();
    let transfer = crate::loads::post_completion(
        conn,
        now,
        load.id,
        &load.serial,
        load.purse,
        load.amount,
        load.counter,
    )?;
    conn.execute(
        "UPDATE loads SET state = 'completed', final_transfer_id = ?2, balance_after = ?3,
             resolution = ?4, resolved_at = ?5
         WHERE id = ?1",
        params![
            load.id.0,
            transfer,
            balance_after.map(|b| b.get()),
            how,
            now
        ],
    )?;
    event(conn, load.id, now, "completed", how)
}

fn check_shape(request: &UnconnectedRequest) -> Result<Amount> {
    match (request.purse, request.expiry) {
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
    if request.amount <= 0 {
        return Err(Error::Invalid("a load amount must be positive".to_owned()));
    }
    to_amount(request.amount).ok_or_else(|| {
        Error::Invalid(format!(
            "amount {} (minor units) is more than a card can carry",
            request.amount
        ))
    })
}

fn begin(
    conn: &Connection,
    env: &Env,
    request: &UnconnectedRequest,
) -> Result<UnconnectedAuthorisation> {
    let serial = request.serial;
    let purse = request.purse;
    let amount = request.amount;
    let card = registry::card(conn, &serial)?;
    match card.status {
        CardStatus::Personalising => return Err(Refusal::CardNotIssued { serial }.into()),
        CardStatus::Blocked => return Err(Refusal::CardBlocked { serial }.into()),
        CardStatus::Active => {}
    }

    // The card's unsettled load, if any: the same request again is answered with it.
    let unsettled: Option<(i64, String, i64, i64, i64, Option<String>)> = conn
        .query_row(
            "SELECT id, mode, purse, counter, amount, expiry FROM loads
             WHERE serial = ?1 AND state IN ('pending', 'escalated') ORDER BY id LIMIT 1",
            [serial.to_string()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    if let Some((id, mode, p, counter, units, expiry)) = unsettled {
        let pending_purse = ledger::purse_from_db(p)?;
        if mode == "unconnected"
            && pending_purse == purse
            && units == amount
            && expiry_from_db(id, expiry)? == request.expiry
        {
            return authorisation(env, &load_by_id(conn, LoadId(id))?, true);
        }
        return Err(Refusal::PendingLoad {
            serial,
            load_id: id,
            purse: pending_purse,
            counter: u16::try_from(counter)
                .map_err(|_| Error::BadRow(format!("load {id}: counter")))?,
        }
        .into());
    }

    let block = card.purse(purse);
    let known = block.load_counter.max(block.seen_load_counter.unwrap_or(0));
    let counter = known.checked_add(1).ok_or_else(|| {
        Error::Conflict(format!(
            "card {serial}'s load counter is exhausted (FFFF); no load can be made, replace the card"
        ))
    })?;
    if let Some(expiry) = request.expiry {
        let today = env.today()?;
        if expiry < today {
            return Err(Refusal::ExpiryPast {
                expiry: expiry.to_string(),
                today: today.to_string(),
            }
            .into());
        }
    }
    let limit = i64::from(card.limits.uc_max.get()).min(i64::from(card.max_amount(purse).get()));
    if amount > limit {
        return Err(Refusal::AmountOverLimit { amount, limit }.into());
    }
    if let Some(seen) = block.seen_balance {
        // When no load happened since the card was last seen, its balance now is at most the
        // seen one (purchases only lower it), so a load that would not have fit then is
        // refused here rather than left reserved until the card refuses it (9405) and is seen
        // again. Otherwise the card's own MAX_BALANCE check decides.
        let would_hold = seen + amount;
        let max_balance = i64::from(card.max_balance(purse).get());
        if would_hold > max_balance && block.seen_load_counter == Some(block.load_counter) {
            return Err(Refusal::BalanceOverMax {
                would_hold,
                max_balance,
            }
            .into());
        }
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

    let now = env.now();
    let datetime = env.now_datetime()?;
    let transfer = ledger::post(
        conn,
        TransferKind::LoadReserve,
        &format!("unconnected load {serial}/{}/{counter}", purse.code()),
        now,
        &[
            (funding, -amount),
            (AccountRef::PendingLoads(purse), amount),
        ],
    )?;
    // Connected-load columns without meaning here: TERMINAL 00×6 (as in the card's record),
    // no card random, MAC1 or MAC2; DATETIME is when the bank authorised it.
    conn.execute(
        "INSERT INTO loads (serial, purse, counter, amount, expiry, terminal, key_version,
             card_random, mac1, balance_before, datetime, mac2, customer_id, state,
             reserve_transfer_id, created_at, mode)
         VALUES (?1, ?2, ?3, ?4, ?5, '000000000000', ?6, '00000000', '0000000000000000', ?7, ?8,
                 '0000000000000000', ?9, 'pending', ?10, ?11, 'unconnected')",
        params![
            serial.to_string(),
            purse.code(),
            counter,
            amount,
            request.expiry.map(|d| hex::encode_upper(d.to_bcd())),
            card.key_version,
            block.seen_balance.unwrap_or(0),
            hex::encode_upper(datetime.to_bcd()),
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
        &format!("unconnected: {amount} reserved, AUTH code issued for CTR {counter}"),
    )?;
    authorisation(env, &load_by_id(conn, id)?, false)
}

fn resolution(
    conn: &Connection,
    id: LoadId,
    outcome: LoadOutcome,
) -> Result<UnconnectedResolution> {
    Ok(UnconnectedResolution {
        outcome,
        load: load_by_id(conn, id)?,
    })
}

impl Backoffice {
    /// Reserves an unconnected load: checks the card (issued, not blocked, no other load
    /// unsettled), the amount against `UC_MAX` and the purse's per-load limit, the voucher
    /// expiry and the customer's funds; then, in one transaction, moves the amount from the
    /// customer's account to pending loads and returns the `AUTH` code for the purse's next
    /// load counter. The same request again, while it is pending, returns the same code
    /// (`replayed`) and reserves nothing. Refusals move nothing and are logged.
    pub fn begin_unconnected_load(
        &mut self,
        request: &UnconnectedRequest,
    ) -> Result<UnconnectedAuthorisation> {
        check_shape(request)?;
        let context = RefusalContext {
            operation: "begin_unconnected_load",
            serial: Some(request.serial),
            purse: Some(request.purse),
            amount: Some(request.amount),
        };
        self.write_or_refuse(&context, |tx, env| begin(tx, env, request))
    }

    /// The authorisation of a recorded unconnected load (to show its code again).
    pub fn unconnected_authorisation(&mut self, id: LoadId) -> Result<UnconnectedAuthorisation> {
        self.read(|tx, env| authorisation(env, &load_by_id(tx, id)?, true))
    }

    /// An unconnected load ([`Error::Invalid`] for a connected one).
    pub fn unconnected_load(&mut self, id: LoadId) -> Result<UnconnectedLoad> {
        self.read(|tx, _| load_by_id(tx, id))
    }

    /// True when load `id` was made in unconnected mode.
    pub fn is_unconnected_load(&mut self, id: LoadId) -> Result<bool> {
        self.read(|tx, _| {
            let mode: Option<String> = tx
                .query_row("SELECT mode FROM loads WHERE id = ?1", [id.0], |r| r.get(0))
                .optional()?;
            match mode {
                Some(m) => Ok(m == "unconnected"),
                None => Err(Error::NotFound(format!("no load {id}"))),
            }
        })
    }

    /// Completes an unconnected load with the card's `code8(CONFIRM)` read back by the
    /// cardholder: a code that verifies proves the card credited exactly this load (this card,
    /// purse, counter and amount), so pending → card float. A wrong code is refused
    /// ([`IsmError::ConfirmInvalid`]) and leaves the load pending (noted in its events).
    /// Idempotent.
    pub fn confirm_unconnected_load(
        &mut self,
        id: LoadId,
        confirm_code: u32,
    ) -> Result<UnconnectedResolution> {
        let outcome = self.write(|tx, env| {
            let load = load_by_id(tx, id)?;
            let amount = to_amount(load.amount)
                .ok_or_else(|| Error::BadRow(format!("load {id}: amount")))?;
            let verified = match env.ism.verify_unconnected_confirm(
                &load.serial,
                load.key_version,
                load.purse,
                load.counter,
                amount,
                confirm_code,
            ) {
                Ok(()) => true,
                Err(IsmError::ConfirmInvalid) => false,
                Err(other) => return Err(other.into()),
            };
            match (load.state, verified) {
                (LoadState::Completed, true) => Ok(Ok(LoadOutcome::AlreadyCompleted)),
                (LoadState::Released, true) => Err(Error::Conflict(format!(
                    "load {id} was released on evidence that the card did not use its code, yet a valid CONFIRM is presented; refer to the issuer"
                ))),
                (LoadState::Pending | LoadState::Escalated, true) => {
                    complete(tx, env, &load, None, "CONFIRM code verified")?;
                    Ok(Ok(LoadOutcome::Completed))
                }
                (_, false) => {
                    event(
                        tx,
                        id,
                        env.now(),
                        "confirm_invalid",
                        "a CONFIRM code that does not verify was presented",
                    )?;
                    Ok(Err(IsmError::ConfirmInvalid))
                }
            }
        })?;
        let outcome = outcome?;
        self.read(|tx, _| resolution(tx, id, outcome))
    }

    /// Settles an unconnected load from the card's evidence when it is presented in a
    /// connected reader (SPEC 2.8, GET TRANSACTION PROOF with TT `04`):
    ///
    /// - the purse's load counter is below `CTR` → the code has not been used yet and still
    ///   works on the card: [`EvidenceError::UnconnectedCodeUnused`], nothing changes (never
    ///   released: the card would still accept the code; see `docs/unconnected.md`);
    /// - counter ≥ `CTR` and the proof is this load's record with a valid TAC → completed;
    /// - counter ≥ `CTR` and `6A88` → escalated, funds stay reserved;
    /// - anything else → [`Error::Evidence`], nothing changes.
    pub fn recover_unconnected_load(
        &mut self,
        id: LoadId,
        evidence: &CardEvidence,
    ) -> Result<UnconnectedResolution> {
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
                tx.execute(
                    "UPDATE card_purses SET seen_balance = ?3, seen_load_counter = ?4,
                         seen_purchase_counter = ?5, seen_at = ?6
                     WHERE serial = ?1 AND purse = ?2",
                    params![
                        load.serial.to_string(),
                        purse.code(),
                        block.balance.get(),
                        block.load_counter,
                        block.purchase_counter,
                        now
                    ],
                )?;
            }
            let card_counter = status.purse(load.purse).load_counter;
            if card_counter < load.counter {
                // Unlike a connected load, an unused code is not dead: the card accepts AUTH for
                // CTR for as long as its counter stays below CTR, and nothing but this code (the
                // bank refuses other loads while it is pending) can move the counter there.
                // Releasing now would let the cardholder load value the bank gave back.
                event(
                    tx,
                    id,
                    now,
                    "code_unused",
                    &format!(
                        "card load counter {card_counter} is below the load's {}: the code has not been used yet and stays valid; funds stay reserved",
                        load.counter
                    ),
                )?;
                return Ok(Err(EvidenceError::UnconnectedCodeUnused {
                    counter: load.counter,
                }));
            }
            match &evidence.proof {
                ProofEvidence::NotAsked => Ok(Err(EvidenceError::ProofNeeded {
                    purse: load.purse,
                    counter: load.counter,
                })),
                ProofEvidence::NotFound => {
                    tx.execute(
                        "UPDATE loads SET state = 'escalated' WHERE id = ?1",
                        [id.0],
                    )?;
                    event(
                        tx,
                        id,
                        now,
                        "escalated",
                        &format!(
                            "card load counter {card_counter} ≥ {} but its log holds no unconnected load with that counter (6A88); the issuer must reconcile",
                            load.counter
                        ),
                    )?;
                    Ok(Ok(LoadOutcome::Escalated))
                }
                ProofEvidence::Found(proof) => {
                    let r = &proof.record;
                    let mismatch = if r.record_type != RecordType::UnconnectedLoad {
                        Some("not an unconnected-load record")
                    } else if r.purse != load.purse || r.counter != load.counter {
                        Some("another purse or counter")
                    } else if i64::from(r.amount.get()) != load.amount {
                        Some("another amount")
                    } else if r.terminal != [0; 6] || r.mcc != Mcc::NONE || r.flags != 0 {
                        Some("not as the card writes an unconnected load")
                    } else {
                        None
                    };
                    if let Some(what) = mismatch {
                        event(tx, id, now, "proof_mismatch", what)?;
                        return Ok(Err(EvidenceError::ProofMismatch(what)));
                    }
                    match env
                        .ism
                        .verify_tac(&load.serial, load.key_version, r, &proof.tac)
                    {
                        Ok(()) => {
                            complete(
                                tx,
                                env,
                                &load,
                                Some(r.balance),
                                "recovery: GET TRANSACTION PROOF (TT 04) TAC verified",
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
}
