//! `epurse backoffice serve` (the HTTP API for remote teller stations and merchant PCs) and
//! `epurse backoffice token add|list|revoke` (station tokens). See `backoffice::api` for the
//! endpoints, authentication and idempotency rules.
//!
//! ```text
//! epurse backoffice token add TELLER-01            # prints the token once
//! epurse backoffice serve --dev-tls                # https://127.0.0.1:8443, self-signed
//! epurse backoffice serve --listen 0.0.0.0:8443 --cert server.pem --key server-key.pem
//! ```
//!
//! With `--dev-tls` the server generates (once) a self-signed certificate for `localhost`,
//! `127.0.0.1` and `::1` next to the ledger (`backoffice-dev-cert.pem`, key mode 0600);
//! clients pin that file.
//!
//! JSON output (`--json`):
//!
//! - `serve`: one line when listening: `{"url", "listen", "ledger", "certificate"}`
//! - `token add`: `{"station", "token", "created_at"}`
//! - `token list`: `{"stations": [{"station", "active", "created_at", "revoked_at"}]}`
//! - `token revoke`: `{"station", "revoked_at"}`
//!
//! Exit codes: 2 bad arguments (station name, listen address, TLS files), 1 the station
//! already has a token / is unknown / the address is in use, 28 the back office cannot be
//! opened (ledger, master keys).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use backoffice::api::{self, ApiError, ApiServer, ApiStore, ServerOptions, TlsSource};
use backoffice::{Config, IssuerSecurityModule, SystemClock};
use clap::{Args, Subcommand};
use serde_json::json;

use super::teller::{open_office, OfficeArgs};
use super::{to_json, CliError, Global};
use crate::config;

/// `epurse backoffice ...`
#[derive(Debug, Subcommand)]
pub enum BackofficeCmd {
    /// Serve the back-office HTTP API (HTTPS, station tokens) until Ctrl-C.
    Serve(ServeArgs),
    /// Station tokens: add, list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
    /// SAM issue and transfer-card personalisation (`sam-issue`, `transfer-card-issue`).
    #[command(flatten)]
    Sam(super::backoffice_sam::SamCmd),
}

/// `epurse backoffice serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = api::DEFAULT_LISTEN, value_name = "ADDR:PORT")]
    pub listen: String,
    /// Server certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "key", conflicts_with = "dev_tls")]
    pub cert: Option<PathBuf>,
    /// Private key of the certificate (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Use (and create on first use) a self-signed development certificate next to the ledger.
    #[arg(long)]
    pub dev_tls: bool,
    /// Request workers (each with its own ledger connection).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// `epurse backoffice token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a station and print its token (shown only this once; stored hashed).
    Add {
        /// Station name: letters, digits, '.', '_' or '-' (e.g. TELLER-01).
        station: String,
        #[command(flatten)]
        office: OfficeArgs,
    },
    /// Every station and whether its token is active.
    List {
        #[command(flatten)]
        office: OfficeArgs,
    },
    /// Revoke a station's token: its next request is refused (HTTP 403).
    Revoke {
        /// Station name.
        station: String,
        #[command(flatten)]
        office: OfficeArgs,
    },
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as `2026-03-15T10:30:00Z` for people.
fn utc(unix: i64) -> String {
    backoffice::clock::datetime_at(unix, 0).map_or_else(|| unix.to_string(), |t| format!("{t}Z"))
}

fn store_error(e: backoffice::Error) -> CliError {
    match e {
        backoffice::Error::Invalid(m) => CliError::Usage(m),
        backoffice::Error::Conflict(m) | backoffice::Error::NotFound(m) => CliError::Failed(m),
        other => CliError::Office(other.to_string()),
    }
}

/// The API tables of the ledger; a missing ledger is created first (needs the master keys).
fn open_store(office: &OfficeArgs) -> Result<ApiStore, CliError> {
    let db = config::db_path(office.db.as_deref()).map_err(|e| CliError::Office(e.to_string()))?;
    if !db.is_file() {
        drop(open_office(office)?);
    }
    ApiStore::open(&db).map_err(store_error)
}

fn api_error(e: ApiError) -> CliError {
    match e {
        ApiError::Tls(m) => CliError::Usage(format!("TLS: {m}")),
        ApiError::Backoffice(e) => CliError::Office(e.to_string()),
        other => CliError::Failed(other.to_string()),
    }
}

/// Logs the server's access lines to stderr (when `-v` did not already install a logger).
struct ServeLogger;

impl log::Log for ServeLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "[{}] {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static SERVE_LOGGER: ServeLogger = ServeLogger;

/// Runs `epurse backoffice ...`.
pub fn run(cmd: &BackofficeCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        BackofficeCmd::Serve(args) => serve(args, global, out),
        BackofficeCmd::Sam(cmd) => super::backoffice_sam::run(cmd, global, out),
        BackofficeCmd::Token(TokenCmd::Add { station, office }) => {
            let mut store = open_store(office)?;
            let new = store.add_station(station, now()).map_err(store_error)?;
            let text = if global.json {
                to_json(&json!({"station": new.station, "token": new.token, "created_at": now()}))?
            } else {
                format!(
                    "station {} added; its token (shown only now, store it on the station):\n{}",
                    new.station, new.token
                )
            };
            writeln!(out, "{text}").map_err(io)
        }
        BackofficeCmd::Token(TokenCmd::List { office }) => {
            let mut store = open_store(office)?;
            let stations = store.stations().map_err(store_error)?;
            let text = if global.json {
                to_json(&json!({"stations": stations.iter().map(|s| json!({
                    "station": s.station,
                    "active": s.revoked_at.is_none(),
                    "created_at": s.created_at,
                    "revoked_at": s.revoked_at,
                })).collect::<Vec<_>>()}))?
            } else if stations.is_empty() {
                "no stations; add one with `epurse backoffice token add STATION`".to_owned()
            } else {
                stations
                    .iter()
                    .map(|s| match s.revoked_at {
                        None => format!("{:<24} active   (since {})", s.station, utc(s.created_at)),
                        Some(at) => format!("{:<24} revoked  (at {})", s.station, utc(at)),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            writeln!(out, "{text}").map_err(io)
        }
        BackofficeCmd::Token(TokenCmd::Revoke { station, office }) => {
            let mut store = open_store(office)?;
            let info = store.revoke_station(station, now()).map_err(store_error)?;
            let text = if global.json {
                to_json(&json!({"station": info.station, "revoked_at": info.revoked_at}))?
            } else {
                format!(
                    "station {}: token revoked; its requests are refused from now on",
                    info.station
                )
            };
            writeln!(out, "{text}").map_err(io)
        }
    }
}

fn serve(args: &ServeArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        CliError::Usage(format!(
            "--listen {:?} is not an address and port such as 127.0.0.1:8443",
            args.listen
        ))
    })?;
    let keys = config::existing_keys_path(args.office.keys.as_deref())
        .map_err(|e| CliError::Office(e.to_string()))?;
    let db =
        config::db_path(args.office.db.as_deref()).map_err(|e| CliError::Office(e.to_string()))?;
    // Creates the ledger (and its directory) when missing, checks keys and schema.
    drop(open_office(&args.office)?);
    let tls = match (&args.cert, &args.key, args.dev_tls) {
        (Some(cert), Some(key), false) => TlsSource::Pem {
            cert: cert.clone(),
            key: key.clone(),
        },
        (None, None, true) => TlsSource::Dev {
            dir: ledger_dir(&db),
        },
        _ => {
            return Err(CliError::Usage(
                "choose the server certificate: --cert PEM --key PEM, or --dev-tls for a self-signed development certificate".into(),
            ))
        }
    };
    let certificate = match &tls {
        TlsSource::Pem { cert, .. } => cert.clone(),
        TlsSource::Dev { dir } => api::tls::dev_paths(dir).0,
    };
    let ism = IssuerSecurityModule::from_key_file(&keys)
        .map_err(|e| CliError::Office(format!("master-key file {}: {e}", keys.display())))?;
    if log::set_logger(&SERVE_LOGGER).is_ok() || log::max_level() < log::LevelFilter::Info {
        log::set_max_level(log::max_level().max(log::LevelFilter::Info));
    }
    let server = ApiServer::start(ServerOptions {
        ledger: db.clone(),
        ism: Arc::new(ism),
        config: Config::default(),
        clock: Arc::new(SystemClock),
        listen,
        tls,
        workers: usize::from(args.workers),
        stop_on_signal: true,
    })
    .map_err(api_error)?;
    let addr = server.local_addr();
    let url = format!("https://{addr}");
    let text = if global.json {
        serde_json::to_string(&json!({
            "url": url,
            "listen": addr.to_string(),
            "ledger": db.display().to_string(),
            "certificate": certificate.display().to_string(),
        }))
        .map_err(|e| CliError::Failed(format!("cannot write JSON output: {e}")))?
    } else {
        format!(
            "back-office API on {url} (ledger {}, certificate {}); Ctrl-C stops it",
            db.display(),
            certificate.display()
        )
    };
    writeln!(out, "{text}").map_err(io)?;
    out.flush().map_err(io)?;
    server.wait().map_err(api_error)
}

fn ledger_dir(db: &Path) -> PathBuf {
    match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(dir: &Path) -> OfficeArgs {
        OfficeArgs {
            db: Some(dir.join("ledger.db")),
            keys: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev-master-keys.json")),
            remote: Default::default(),
        }
    }

    fn run_json(cmd: &BackofficeCmd) -> Result<serde_json::Value, CliError> {
        let mut out = Vec::new();
        run(
            cmd,
            &Global {
                reader: None,
                json: true,
            },
            &mut out,
        )?;
        Ok(serde_json::from_slice(&out).expect("JSON output"))
    }

    #[test]
    fn token_add_list_revoke_on_a_new_ledger() {
        let dir = tempfile_dir();
        let add = |station: &str| {
            run_json(&BackofficeCmd::Token(TokenCmd::Add {
                station: station.into(),
                office: office(dir.path()),
            }))
        };
        // The ledger does not exist yet: it is created, then the station added.
        let added = add("TELLER-01").unwrap();
        let token = added["token"].as_str().unwrap().to_owned();
        assert!(backoffice::api::store::is_token_shaped(&token));
        assert_eq!(
            add("TELLER-01").unwrap_err().exit_code(),
            1,
            "already active"
        );
        assert_eq!(add("bad name").unwrap_err().exit_code(), 2);

        let list = run_json(&BackofficeCmd::Token(TokenCmd::List {
            office: office(dir.path()),
        }))
        .unwrap();
        assert_eq!(list["stations"][0]["station"], "TELLER-01");
        assert_eq!(list["stations"][0]["active"], true);
        assert!(
            !list.to_string().contains(&token),
            "list never shows a token"
        );

        let revoked = run_json(&BackofficeCmd::Token(TokenCmd::Revoke {
            station: "TELLER-01".into(),
            office: office(dir.path()),
        }))
        .unwrap();
        assert!(revoked["revoked_at"].as_i64().is_some());
        let mut store = ApiStore::open(&dir.path().join("ledger.db")).unwrap();
        assert_eq!(
            store.authenticate(&token).unwrap(),
            backoffice::api::Authentication::Revoked("TELLER-01".into())
        );
        let missing = run_json(&BackofficeCmd::Token(TokenCmd::Revoke {
            station: "NOBODY".into(),
            office: office(dir.path()),
        }));
        assert_eq!(missing.unwrap_err().exit_code(), 1);
    }

    #[test]
    fn serve_needs_a_certificate_choice_and_a_valid_address() {
        let dir = tempfile_dir();
        let serve = |listen: &str, dev_tls: bool| {
            let mut out = Vec::new();
            run(
                &BackofficeCmd::Serve(ServeArgs {
                    listen: listen.into(),
                    cert: None,
                    key: None,
                    dev_tls,
                    workers: 1,
                    office: office(dir.path()),
                }),
                &Global::default(),
                &mut out,
            )
        };
        assert_eq!(serve("localhost", true).unwrap_err().exit_code(), 2);
        let err = serve("127.0.0.1:0", false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--dev-tls"), "{err}");
    }

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tempfile_dir() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "epurse-cli-backoffice-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}
