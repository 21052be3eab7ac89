//! The API's own tables in the ledger file: station tokens and idempotency records.
//!
//! They live beside the ledger (one file to back up) but outside its double-entry schema, on a
//! connection of their own; they are created on first use (`CREATE TABLE IF NOT EXISTS`), only
//! in a file that already is an epurse ledger.
//!
//! - `api_stations`: one row per station, its token as SHA-256 (the token itself is shown once,
//!   when added, and never stored), revocation time.
//! - `api_idempotency`: per station and `Idempotency-Key`, the SHA-256 of the request (method,
//!   path, canonical JSON body) and, once answered, the status and body of the answer.

use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::APPLICATION_ID;
use crate::error::{Error, Result};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS api_stations (
    station      TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE TABLE IF NOT EXISTS api_idempotency (
    station        TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_sha256 BLOB NOT NULL CHECK (length(request_sha256) = 32),
    state          TEXT NOT NULL CHECK (state IN ('started', 'answered')),
    owner          TEXT NOT NULL,
    status         INTEGER,
    body           TEXT,
    created_at     INTEGER NOT NULL,
    answered_at    INTEGER,
    PRIMARY KEY (station, key)
);
"#;

/// An `api_idempotency` row: request hash, state, owner, status, body.
type IdempotencyRow = (Vec<u8>, String, String, Option<i64>, Option<String>);

/// The prefix of every station token.
pub const TOKEN_PREFIX: &str = "epst_";

/// A station as registered (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationInfo {
    /// The station's name.
    pub station: String,
    /// When its current token was added (Unix seconds).
    pub created_at: i64,
    /// When its token was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A new station token: shown once to the operator, stored only as its SHA-256.
pub struct NewToken {
    /// The station.
    pub station: String,
    /// The bearer token (`epst_` and 64 hex digits).
    pub token: String,
}

impl core::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NewToken")
            .field("station", &self.station)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Who presented a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// A valid token of this station.
    Station(String),
    /// The token belonged to this station and was revoked.
    Revoked(String),
    /// No station has this token.
    Unknown,
}

/// What the idempotency table says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotency {
    /// First time (or a retry after the server that started it died): run it, then
    /// [`ApiStore::answer`] or [`ApiStore::forget`].
    Proceed,
    /// Answered before: the stored status and body.
    Replay {
        /// HTTP status.
        status: u16,
        /// JSON body.
        body: String,
    },
    /// The key was used for another request.
    Mismatch,
    /// The same request is running right now in this server.
    InProgress,
}

/// The API tables over one connection to the ledger file.
pub struct ApiStore {
    conn: Connection,
}

impl core::fmt::Debug for ApiStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ApiStore").finish_non_exhaustive()
    }
}

/// SHA-256.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Checks a station name: 1..=64 of `A-Z a-z 0-9 . _ -`.
pub fn check_station_name(station: &str) -> Result<()> {
    let ok = !station.is_empty()
        && station.len() <= 64
        && station
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "station name {station:?}: use 1 to 64 letters, digits, '.', '_' or '-' (e.g. TELLER-01)"
        )))
    }
}

/// Whether `token` has the shape of a station token (checked before any lookup).
pub fn is_token_shaped(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl ApiStore {
    /// Opens the API tables in the ledger at `path`, creating them on first use. The file must
    /// already be an epurse ledger (opened once by the back office).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::NotFound(format!(
                "no ledger at {}: create it first (run `epurse backoffice serve` or any teller command with this --db), or pass the right --db",
                path.display()
            )));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => Error::NotALedger {
                    path: path.to_owned(),
                    reason: "not an SQLite database".to_owned(),
                },
                _ => Error::Database(e),
            })?;
        if app_id != APPLICATION_ID {
            return Err(Error::NotALedger {
                path: path.to_owned(),
                reason: format!("application_id {app_id:#010X}, not an epurse ledger"),
            });
        }
        conn.execute_batch("PRAGMA synchronous=FULL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(ApiStore { conn })
    }

    /// Registers `station` with a fresh random token and returns it (the only time it is
    /// shown). A revoked station gets a new token; a station with an active token is refused
    /// ([`Error::Conflict`]): revoke it first.
    pub fn add_station(&mut self, station: &str, now: i64) -> Result<NewToken> {
        check_station_name(station)?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let hash = sha256(token.as_bytes());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<Option<i64>> = tx
            .query_row(
                "SELECT revoked_at FROM api_stations WHERE station = ?1",
                [station],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(None) => {
                return Err(Error::Conflict(format!(
                    "station {station} already has an active token; revoke it first (`epurse backoffice token revoke {station}`), then add a new one"
                )))
            }
            Some(Some(_)) => {
                tx.execute(
                    "UPDATE api_stations SET token_sha256 = ?2, created_at = ?3, revoked_at = NULL WHERE station = ?1",
                    params![station, hash.as_slice(), now],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO api_stations (station, token_sha256, created_at) VALUES (?1, ?2, ?3)",
                    params![station, hash.as_slice(), now],
                )?;
            }
        }
        tx.commit()?;
        Ok(NewToken {
            station: station.to_owned(),
            token,
        })
    }

    /// Revokes `station`'s token: its next request is refused (403). Idempotent.
    pub fn revoke_station(&mut self, station: &str, now: i64) -> Result<StationInfo> {
        check_station_name(station)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE api_stations SET revoked_at = ?2 WHERE station = ?1 AND revoked_at IS NULL",
            params![station, now],
        )?;
        let info = station_row(&tx, station)?;
        tx.commit()?;
        let _ = changed;
        info.ok_or_else(|| {
            Error::NotFound(format!(
                "no station {station}; `epurse backoffice token list` shows the stations"
            ))
        })
    }

    /// Every station, by name.
    pub fn stations(&mut self) -> Result<Vec<StationInfo>> {
        let mut stmt = self
            .conn
            .prepare("SELECT station, created_at, revoked_at FROM api_stations ORDER BY station")?;
        let rows = stmt.query_map([], |r| {
            Ok(StationInfo {
                station: r.get(0)?,
                created_at: r.get(1)?,
                revoked_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Who `token` belongs to. The stored hash is compared in constant time.
    pub fn authenticate(&mut self, token: &str) -> Result<Authentication> {
        if !is_token_shaped(token) {
            return Ok(Authentication::Unknown);
        }
        let hash = sha256(token.as_bytes());
        let row: Option<(String, Vec<u8>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT station, token_sha256, revoked_at FROM api_stations WHERE token_sha256 = ?1",
            )?
            .query_row([hash.as_slice()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(match row {
            Some((station, stored, revoked)) if bool::from(stored.ct_eq(&hash)) => {
                if revoked.is_some() {
                    Authentication::Revoked(station)
                } else {
                    Authentication::Station(station)
                }
            }
            _ => Authentication::Unknown,
        })
    }

    /// Looks up (`station`, `key`) for a request with fingerprint `request`, and claims it for
    /// `owner` (this server instance) when it is new or was left started by another instance
    /// (a server that died before answering; the back office's operations are idempotent, so
    /// running it again is safe).
    pub fn begin(
        &mut self,
        station: &str,
        key: &str,
        request: &[u8; 32],
        owner: &str,
        now: i64,
    ) -> Result<Idempotency> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<IdempotencyRow> = tx
            .prepare_cached(
                "SELECT request_sha256, state, owner, status, body FROM api_idempotency WHERE station = ?1 AND key = ?2",
            )?
            .query_row(params![station, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let decision = match row {
            None => {
                tx.prepare_cached(
                    "INSERT INTO api_idempotency (station, key, request_sha256, state, owner, created_at)
                     VALUES (?1, ?2, ?3, 'started', ?4, ?5)",
                )?
                .execute(params![station, key, request.as_slice(), owner, now])?;
                Idempotency::Proceed
            }
            Some((stored, ..)) if !bool::from(stored.ct_eq(request)) => Idempotency::Mismatch,
            Some((_, state, _, Some(status), Some(body))) if state == "answered" => {
                let status = u16::try_from(status)
                    .map_err(|_| Error::BadRow(format!("api_idempotency status {status}")))?;
                Idempotency::Replay { status, body }
            }
            Some((_, _, started_by, ..)) if started_by == owner => Idempotency::InProgress,
            Some(_) => {
                tx.execute(
                    "UPDATE api_idempotency SET owner = ?3 WHERE station = ?1 AND key = ?2",
                    params![station, key, owner],
                )?;
                Idempotency::Proceed
            }
        };
        tx.commit()?;
        Ok(decision)
    }

    /// Stores the answer to a request claimed with [`ApiStore::begin`].
    pub fn answer(
        &mut self,
        station: &str,
        key: &str,
        status: u16,
        body: &str,
        now: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE api_idempotency SET state = 'answered', status = ?3, body = ?4, answered_at = ?5
                 WHERE station = ?1 AND key = ?2",
            )?
            .execute(params![station, key, i64::from(status), body, now])?;
        Ok(())
    }

    /// Deletes the answers stored before `before` (Unix seconds); returns how many. A retry
    /// later than that runs the request again (the back office's own idempotency still
    /// holds for deposits and loads).
    pub fn prune_answers(&mut self, before: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM api_idempotency WHERE state = 'answered' AND answered_at < ?1",
            [before],
        )?)
    }

    /// Drops a claim without an answer (the request failed in a way a retry may fix).
    pub fn forget(&mut self, station: &str, key: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "DELETE FROM api_idempotency WHERE station = ?1 AND key = ?2 AND state = 'started'",
            )?
            .execute(params![station, key])?;
        Ok(())
    }
}

fn station_row(conn: &Connection, station: &str) -> Result<Option<StationInfo>> {
    Ok(conn
        .query_row(
            "SELECT station, created_at, revoked_at FROM api_stations WHERE station = ?1",
            [station],
            |r| {
                Ok(StationInfo {
                    station: r.get(0)?,
                    created_at: r.get(1)?,
                    revoked_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoffice, Config};
    use std::sync::Arc;

    fn ledger() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let keys =
            sam::MasterKeys::parse(include_str!("../../../keys/dev-master-keys.json")).unwrap();
        let ism = Arc::new(crate::IssuerSecurityModule::new(keys).unwrap());
        Backoffice::open(&path, ism, &Config::default()).unwrap();
        (dir, path)
    }

    #[test]
    fn tokens_are_stored_hashed_and_revocable() {
        let (_dir, path) = ledger();
        let mut store = ApiStore::open(&path).unwrap();
        let new = store.add_station("TELLER-01", 10).unwrap();
        assert!(is_token_shaped(&new.token));
        assert!(!format!("{new:?}").contains(&new.token[5..]));
        assert_eq!(
            store.authenticate(&new.token).unwrap(),
            Authentication::Station("TELLER-01".into())
        );
        // The token itself is nowhere in the file's table.
        let stored: Vec<u8> = store
            .conn
            .query_row("SELECT token_sha256 FROM api_stations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, sha256(new.token.as_bytes()).to_vec());
        assert!(matches!(
            store.add_station("TELLER-01", 11),
            Err(Error::Conflict(_))
        ));
        store.revoke_station("TELLER-01", 12).unwrap();
        assert_eq!(
            store.authenticate(&new.token).unwrap(),
            Authentication::Revoked("TELLER-01".into())
        );
        // A new token after revocation; the old one stays dead.
        let again = store.add_station("TELLER-01", 13).unwrap();
        assert_eq!(
            store.authenticate(&new.token).unwrap(),
            Authentication::Unknown
        );
        assert_eq!(
            store.authenticate(&again.token).unwrap(),
            Authentication::Station("TELLER-01".into())
        );
        assert!(matches!(
            store.revoke_station("NOPE", 14),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            store.add_station("bad name", 1),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn idempotency_claims_replays_and_mismatches() {
        let (_dir, path) = ledger();
        let mut store = ApiStore::open(&path).unwrap();
        let a = sha256(b"a");
        let b = sha256(b"b");
        assert_eq!(
            store.begin("S", "k1", &a, "me", 1).unwrap(),
            Idempotency::Proceed
        );
        assert_eq!(
            store.begin("S", "k1", &a, "me", 1).unwrap(),
            Idempotency::InProgress
        );
        assert_eq!(
            store.begin("S", "k1", &b, "me", 1).unwrap(),
            Idempotency::Mismatch
        );
        // Keys are per station.
        assert_eq!(
            store.begin("T", "k1", &b, "me", 1).unwrap(),
            Idempotency::Proceed
        );
        store.answer("S", "k1", 201, "{\"x\":1}", 2).unwrap();
        assert_eq!(
            store.begin("S", "k1", &a, "other", 3).unwrap(),
            Idempotency::Replay {
                status: 201,
                body: "{\"x\":1}".into()
            }
        );
        // Old answers are pruned; recent ones stay.
        assert_eq!(store.prune_answers(2).unwrap(), 0);
        assert_eq!(store.prune_answers(3).unwrap(), 1);
        assert_eq!(
            store.begin("S", "k1", &b, "me", 6).unwrap(),
            Idempotency::Proceed
        );
        // A claim left by a dead server is taken over; a forgotten one starts afresh.
        assert_eq!(
            store.begin("T", "k1", &b, "next", 4).unwrap(),
            Idempotency::Proceed
        );
        store.forget("T", "k1").unwrap();
        assert_eq!(
            store.begin("T", "k1", &a, "next", 5).unwrap(),
            Idempotency::Proceed
        );
    }

    #[test]
    fn refuses_a_file_that_is_not_a_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        assert!(matches!(
            ApiStore::open(&path),
            Err(Error::NotALedger { .. })
        ));
        assert!(matches!(
            ApiStore::open(&dir.path().join("missing.db")),
            Err(Error::NotFound(_))
        ));
    }
}
