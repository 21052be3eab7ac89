//! [`Backoffice`]: one connection to the ledger file plus the issuer security module. Every
//! operation of the other modules (`registry`, `loads`, `audit`) is a method on it.
//!
//! A `Backoffice` is `Send` but not `Sync`: give each thread (or each request worker) its own,
//! opened on the same file; SQLite's write lock and `BEGIN IMMEDIATE` serialise the money
//! movements, and every reader sees a consistent snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apdu_spec::{Date, DateTime, Purse, Serial};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use crate::clock::{datetime_at, Clock, SystemClock};
use crate::db;
use crate::error::{Error, Refusal, Result};
use crate::ism::IssuerSecurityModule;
use crate::ledger::{self, Account, AccountRef};
use crate::money::{Currency, MinorUnits};

/// How a back office is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The installation's currency, written into a new ledger and checked against an
    /// existing one. Default INR, 2 decimals.
    pub currency: Currency,
    /// Offset of the installation's local time from UTC, in minutes (India: 330). The
    /// `DATETIME` of loads and the "today" of voucher expiry use it. Default 0 (UTC).
    pub utc_offset_minutes: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            currency: Currency::INR,
            utc_offset_minutes: 0,
        }
    }
}

/// What every operation needs besides the connection.
pub(crate) struct Env {
    pub(crate) ism: Arc<IssuerSecurityModule>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) currency: Currency,
    pub(crate) utc_offset_minutes: i32,
}

impl Env {
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// Local date and time now, as the contract carries it.
    pub(crate) fn now_datetime(&self) -> Result<DateTime> {
        let now = self.now();
        datetime_at(now, self.utc_offset_minutes).ok_or_else(|| {
            Error::Invalid(format!(
                "the clock says {now} (Unix seconds), outside the years 0..9999 a card can record; fix the system clock"
            ))
        })
    }

    /// Local date today.
    pub(crate) fn today(&self) -> Result<Date> {
        Ok(self.now_datetime()?.date())
    }
}

/// The back office: ledger, registry, loads and audit over one SQLite file.
pub struct Backoffice {
    conn: Connection,
    env: Env,
    path: PathBuf,
}

impl core::fmt::Debug for Backoffice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Backoffice")
            .field("path", &self.path)
            .field("currency", &self.env.currency)
            .field("ism", &self.env.ism)
            .finish()
    }
}

impl Backoffice {
    /// Opens the ledger at `path` (creating it when no file or an empty file is there),
    /// migrating an older schema, with the system clock.
    pub fn open(
        path: impl AsRef<Path>,
        ism: Arc<IssuerSecurityModule>,
        config: &Config,
    ) -> Result<Self> {
        Self::open_with_clock(path, ism, config, Arc::new(SystemClock))
    }

    /// As [`Backoffice::open`], with the given clock.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        ism: Arc<IssuerSecurityModule>,
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let path = path.as_ref();
        let (conn, currency) = db::open(path, config.currency, clock.now_unix())?;
        Ok(Backoffice {
            conn,
            env: Env {
                ism,
                clock,
                currency,
                utc_offset_minutes: config.utc_offset_minutes,
            },
            path: path.to_owned(),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The installation's currency.
    pub fn currency(&self) -> Currency {
        self.env.currency
    }

    /// The key version of the issuer keys (written into cards issued here).
    pub fn key_version(&self) -> u8 {
        self.env.ism.key_version()
    }

    /// The schema version of the ledger file.
    pub fn schema_version(&self) -> Result<i64> {
        db::schema_version(&self.conn)
    }

    /// Balance of one account.
    pub fn balance(&mut self, account: AccountRef) -> Result<MinorUnits> {
        self.read(|tx, _| ledger::balance(tx, &account))
    }

    /// Every account with its balance.
    pub fn accounts(&mut self) -> Result<Vec<Account>> {
        self.read(|tx, _| ledger::accounts(tx))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns `Ok`, rolled
    /// back otherwise.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Env) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx, &self.env)?;
        tx.commit()?;
        Ok(value)
    }

    /// As [`Backoffice::write`]; a [`Refusal`] is rolled back and then recorded in the refusal
    /// log (in its own transaction) before it is returned.
    pub(crate) fn write_or_refuse<T>(
        &mut self,
        what: &RefusalContext,
        f: impl FnOnce(&Transaction<'_>, &Env) -> Result<T>,
    ) -> Result<T> {
        match self.write(f) {
            Err(Error::Refused(refusal)) => {
                self.write(|tx, env| record_refusal(tx, env.now(), what, &refusal))?;
                Err(Error::Refused(refusal))
            }
            other => other,
        }
    }

    /// Runs `f` in a read transaction: one consistent snapshot of the ledger.
    pub(crate) fn read<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Env) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let value = f(&tx, &self.env)?;
        tx.finish()?;
        Ok(value)
    }
}

/// What a refused request was about, for the refusal log.
pub(crate) struct RefusalContext {
    pub(crate) operation: &'static str,
    pub(crate) serial: Option<Serial>,
    pub(crate) purse: Option<Purse>,
    pub(crate) amount: Option<MinorUnits>,
}

fn record_refusal(
    tx: &Connection,
    now: i64,
    what: &RefusalContext,
    refusal: &Refusal,
) -> Result<()> {
    tx.execute(
        "INSERT INTO refusals (at, operation, serial, purse, amount, code, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            now,
            what.operation,
            what.serial.map(|s| s.to_string()),
            what.purse.map(|p| p.code()),
            what.amount,
            refusal.code(),
            refusal.to_string()
        ],
    )?;
    Ok(())
}

/// One entry of the refusal log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalEntry {
    /// When (Unix seconds).
    pub at: i64,
    /// The operation refused (`begin_load`, ...).
    pub operation: String,
    /// The card, if any.
    pub serial: Option<String>,
    /// The refusal's machine code ([`Refusal::code`]).
    pub code: String,
    /// The refusal's message.
    pub detail: String,
}

impl Backoffice {
    /// The refusal log, oldest first.
    pub fn refusals(&mut self) -> Result<Vec<RefusalEntry>> {
        self.read(|tx, _| {
            let mut stmt =
                tx.prepare("SELECT at, operation, serial, code, detail FROM refusals ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(RefusalEntry {
                    at: r.get(0)?,
                    operation: r.get(1)?,
                    serial: r.get(2)?,
                    code: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
