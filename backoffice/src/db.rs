//! The ledger file: opening, the SQLite settings money needs, recognising our own files, and
//! versioned schema migrations.
//!
//! - One SQLite file, WAL journal (readers never block the writer), `synchronous=FULL` (a
//!   committed money movement survives a power cut), foreign keys on, a busy timeout so that
//!   several processes and connections can share the file.
//! - Our files carry `PRAGMA application_id` = [`APPLICATION_ID`]; any other non-empty SQLite
//!   file, or a file that is not SQLite at all, is refused with [`Error::NotALedger`].
//! - `schema_version` holds one row; the migration list brings an older file up to
//!   [`SCHEMA_VERSION`] inside one transaction; a newer file is refused
//!   ([`Error::NewerSchema`]).

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};
use crate::money::Currency;

/// `PRAGMA application_id` of an epurse ledger: ASCII "EPBO".
pub const APPLICATION_ID: i32 = 0x4550_424F;

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = 3;

/// One schema step: applying `sql` to a file at version `version - 1` gives `version`.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) sql: &'static str,
}

/// Every schema step, in order. Never edit a released step: add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: SCHEMA_V1,
    },
    // Merchants, SAMs, transfer cards and settled batches (issue 6).
    Migration {
        version: 2,
        sql: crate::settlement::SCHEMA_SETTLEMENT,
    },
    // Load mode: connected or unconnected (issue 5 item 8).
    Migration {
        version: 3,
        sql: crate::unconnected::SCHEMA_UNCONNECTED,
    },
];

const SCHEMA_V1: &str = r#"
CREATE TABLE installation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    currency    TEXT    NOT NULL,
    decimals    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Double entry: a transfer's postings sum to zero; an account's balance is the sum of its
-- postings (kept in `balance` for speed, recomputed by the audit).
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('cash', 'customer', 'pending_loads',
                                                 'card_float', 'merchant', 'settlement_in_transit')),
    purse       INTEGER CHECK (purse IN (1, 2)),
    customer_id INTEGER REFERENCES customers(id),
    balance     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE transfers (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE postings (
    id          INTEGER PRIMARY KEY,
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    amount      INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX postings_by_transfer ON postings(transfer_id);
CREATE INDEX postings_by_account ON postings(account_id);

CREATE TABLE deposits (
    id          INTEGER PRIMARY KEY,
    reference   TEXT    NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    purse       INTEGER NOT NULL CHECK (purse IN (1, 2)),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    teller      TEXT    NOT NULL,
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE serial_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next        INTEGER NOT NULL
);
INSERT INTO serial_sequence (id, next) VALUES (1, 1);

CREATE TABLE cards (
    serial            TEXT    PRIMARY KEY,
    customer_id       INTEGER NOT NULL REFERENCES customers(id),
    key_version       INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('personalising', 'active', 'blocked')),
    ecash_max_balance INTEGER NOT NULL,
    ecash_max_amount  INTEGER NOT NULL,
    food_max_balance  INTEGER NOT NULL,
    food_max_amount   INTEGER NOT NULL,
    no_pin_limit      INTEGER NOT NULL,
    uc_max            INTEGER NOT NULL,
    pin_try_limit     INTEGER NOT NULL,
    uc_limit          INTEGER NOT NULL,
    food_mccs         TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    issued_at         INTEGER,
    status_changed_at INTEGER NOT NULL
);
CREATE INDEX cards_by_customer ON cards(customer_id);

-- The bank's view of each purse: `float` is the value it put there (completed loads minus
-- settled purchases); `load_counter` the highest load counter completed here; `seen_*` what
-- the card last reported.
CREATE TABLE card_purses (
    serial                TEXT    NOT NULL REFERENCES cards(serial),
    purse                 INTEGER NOT NULL CHECK (purse IN (1, 2)),
    float                 INTEGER NOT NULL DEFAULT 0,
    load_counter          INTEGER NOT NULL DEFAULT 0,
    seen_balance          INTEGER,
    seen_load_counter     INTEGER,
    seen_purchase_counter INTEGER,
    seen_at               INTEGER,
    PRIMARY KEY (serial, purse)
);

CREATE TABLE loads (
    id                  INTEGER PRIMARY KEY,
    serial              TEXT    NOT NULL REFERENCES cards(serial),
    purse               INTEGER NOT NULL CHECK (purse IN (1, 2)),
    counter             INTEGER NOT NULL CHECK (counter BETWEEN 1 AND 65535),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    expiry              TEXT,
    terminal            TEXT    NOT NULL,
    key_version         INTEGER NOT NULL,
    card_random         TEXT    NOT NULL,
    mac1                TEXT    NOT NULL,
    balance_before      INTEGER NOT NULL,
    datetime            TEXT    NOT NULL,
    mac2                TEXT    NOT NULL,
    customer_id         INTEGER NOT NULL REFERENCES customers(id),
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'escalated', 'completed', 'released')),
    reserve_transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    final_transfer_id   INTEGER REFERENCES transfers(id),
    balance_after       INTEGER,
    tac                 TEXT,
    resolution          TEXT,
    created_at          INTEGER NOT NULL,
    resolved_at         INTEGER
);
-- A load is keyed by (card, purse, counter) while it is not released; a released load's
-- counter is used again by the card's next load.
CREATE UNIQUE INDEX loads_live_key ON loads(serial, purse, counter) WHERE state <> 'released';
CREATE INDEX loads_by_state ON loads(state);

CREATE TABLE load_events (
    id       INTEGER PRIMARY KEY,
    load_id  INTEGER NOT NULL REFERENCES loads(id),
    at       INTEGER NOT NULL,
    event    TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
CREATE INDEX load_events_by_load ON load_events(load_id);

CREATE TABLE refusals (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    operation TEXT    NOT NULL,
    serial    TEXT,
    purse     INTEGER,
    amount    INTEGER,
    code      TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);

INSERT INTO accounts (code, kind, purse, created_at) VALUES
    ('cash', 'cash', NULL, 0),
    ('pending_loads/ecash', 'pending_loads', 1, 0),
    ('pending_loads/food', 'pending_loads', 2, 0),
    ('card_float/ecash', 'card_float', 1, 0),
    ('card_float/food', 'card_float', 2, 0),
    ('settlement_in_transit', 'settlement_in_transit', NULL, 0);
"#;

/// How long a connection waits for another writer before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn classify(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotALedger {
            path: path.to_owned(),
            reason: "not an SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            path: path.to_owned(),
            source: e,
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            Error::Open {
                path: path.to_owned(),
                source: e,
            }
        }
        _ => Error::Database(e),
    }
}

fn foreign_tables(path: &Path) -> Error {
    Error::NotALedger {
        path: path.to_owned(),
        reason: "an SQLite database with tables of another application".to_owned(),
    }
}

/// Opens (or creates) the ledger at `path`, brings its schema up to date and checks its
/// currency. `currency` is written into a new ledger.
pub(crate) fn open(path: &Path, currency: Currency, now: i64) -> Result<(Connection, Currency)> {
    open_with(path, currency, now, MIGRATIONS)
}

pub(crate) fn open_with(
    path: &Path,
    currency: Currency,
    now: i64,
    migrations: &[Migration],
) -> Result<(Connection, Currency)> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| classify(path, e))?;

    // The first read of the header tells a foreign file from ours.
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(Error::NotALedger {
            path: path.to_owned(),
            reason: format!(
                "an SQLite database of another application (application_id {app_id:#010X})"
            ),
        });
    }

    if app_id == 0 {
        // Checked before anything is written, so that a foreign database is left untouched.
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| classify(path, e))?;
        if objects != 0 {
            return Err(foreign_tables(path));
        }
    }

    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(|e| classify(path, e))?;

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| classify(path, e))?;
    // Re-read under the write lock: another process may have created the ledger meanwhile.
    let app_id: i32 = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let mut version: i64 = if app_id == APPLICATION_ID {
        tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .map_err(|source| Error::Corrupt {
                path: path.to_owned(),
                source,
            })?
    } else {
        let objects: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| classify(path, e))?;
        if objects != 0 {
            return Err(foreign_tables(path));
        }
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID};
             CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (0);"
        ))?;
        0
    };
    let supported = migrations.last().map_or(0, |m| m.version);
    if version > supported {
        return Err(Error::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported,
        });
    }
    let fresh = version == 0;
    let start = version;
    for migration in migrations.iter().filter(|m| m.version > start) {
        if migration.version != version + 1 {
            return Err(Error::Invariant(format!(
                "schema migrations out of order: {} after {version}",
                migration.version
            )));
        }
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "UPDATE schema_version SET version = ?1",
            [migration.version],
        )?;
        version = migration.version;
    }
    if fresh {
        tx.execute(
            "INSERT INTO installation (id, currency, decimals, created_at) VALUES (1, ?1, ?2, ?3)",
            params![currency.code(), currency.decimals(), now],
        )?;
    }
    let (code, decimals): (String, u8) = tx
        .query_row("SELECT currency, decimals FROM installation", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(|e| classify(path, e))?;
    let stored = Currency::new(&code, decimals).map_err(|e| Error::BadRow(e.to_string()))?;
    if stored != currency {
        return Err(Error::CurrencyMismatch {
            found: format!("{} ({} decimals)", stored.code(), stored.decimals()),
            configured: format!("{} ({} decimals)", currency.code(), currency.decimals()),
        });
    }
    tx.commit()?;
    Ok((conn, stored))
}

/// Schema version of an open ledger.
pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Migration = Migration {
        version: 2,
        sql: "ALTER TABLE customers ADD COLUMN email TEXT;",
    };

    #[test]
    fn migrations_bring_an_older_file_up_to_date_and_keep_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        {
            let (conn, _) = open_with(&path, Currency::INR, 1, &MIGRATIONS[..1]).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), 1);
            conn.execute(
                "INSERT INTO customers (name, created_at) VALUES ('Asha', 1)",
                [],
            )
            .unwrap();
        }
        let (conn, _) =
            open_with(&path, Currency::INR, 2, &[MIGRATIONS[0].clone_ref(), V2]).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
        let (name, email): (String, Option<String>) = conn
            .query_row("SELECT name, email FROM customers", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), email), ("Asha", None));
        drop(conn);
        // This program's schema is older than the file now: refused, file untouched.
        let err = open_with(&path, Currency::INR, 3, &MIGRATIONS[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NewerSchema {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("run a newer epurse"));
    }

    #[test]
    fn out_of_order_migrations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let gap = Migration {
            version: 3,
            sql: "SELECT 1;",
        };
        let err =
            open_with(&path, Currency::INR, 1, &[MIGRATIONS[0].clone_ref(), gap]).unwrap_err();
        assert!(matches!(err, Error::Invariant(_)), "{err}");
        // Nothing was committed: the file is still empty of tables and opens normally.
        let (conn, _) = open(&path, Currency::INR, 1).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    impl Migration {
        fn clone_ref(&self) -> Migration {
            Migration {
                version: self.version,
                sql: self.sql,
            }
        }
    }
}
