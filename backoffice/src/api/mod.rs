//! The back office's HTTP API for remote teller stations and merchant PCs (issue 5 item 6):
//! JSON over HTTPS (axum on tokio, rustls with the ring provider), one bearer token per
//! station, every mutating call idempotent under retry.
//!
//! What a reader needs first:
//!
//! - **[`ApiServer::start`]** binds, checks TLS and the ledger, and serves on a thread of its
//!   own until [`ApiServer::shutdown`] (or Ctrl-C when asked). Requests run on a small pool of
//!   workers, each with its own [`Backoffice`] (one SQLite connection) and [`ApiStore`]; the
//!   money rules are the library's, this layer only translates.
//! - **Authentication**: `Authorization: Bearer epst_…`. Tokens are random (32 bytes), shown
//!   once by `epurse backoffice token add STATION`, stored as SHA-256 and compared in constant
//!   time; a missing, malformed or unknown token is 401, a revoked one 403.
//! - **Idempotency**: every `POST` needs an `Idempotency-Key` header (1..=128 visible ASCII
//!   characters, unique per station, e.g. a UUID). A retry with the same key and the same
//!   request (method, path, JSON body up to key order and whitespace) gets the stored answer
//!   (status and body, header `Idempotent-Replayed: true`) and moves nothing again; the same
//!   key with another request is 422 `idempotency_key_reused`. Answers are stored in the
//!   ledger file, so they survive a restart (kept 30 days); server errors (5xx) are not
//!   stored, so a retry runs again. Mutations queue on one in-process writer lock from claim
//!   to stored answer, so concurrent retries of one key run it once. A request left
//!   unanswered by a server that died is run again on retry: every back-office operation is
//!   idempotent by itself (deposit reference, the card's load exchange, load ids), except
//!   creating a customer, which may then leave one extra, empty customer record (no value
//!   involved).
//! - **Errors** are `{"error", "code", "message"}` ([`wire::ErrorBody`]) with the HTTP
//!   status below; a business refusal also carries `refusal` (its data, [`wire::RefusalWire`]),
//!   so a remote station shows the same message and exit code as an embedded one. Nothing the server answers or logs contains a key, a token or a MAC; the
//!   one exception by design is the CREDIT LOAD command returned by `POST /v1/loads`, whose
//!   MAC2 *is* the authorisation the station must pass to the card.
//!
//! | method and path | body → answer ([`wire`]) |
//! | --- | --- |
//! | `GET /v1/health` (no token) | → [`wire::Health`] |
//! | `POST /v1/customers` | [`wire::NewCustomer`] → 201 [`wire::CustomerView`] |
//! | `GET /v1/customers/{id}` | → [`wire::CustomerView`] |
//! | `POST /v1/deposits` | [`wire::NewDeposit`] → 201 [`wire::DepositView`] (teller = the station) |
//! | `GET /v1/cards/{serial}` | → [`wire::CardView`] |
//! | `POST /v1/loads` | [`wire::BeginLoad`] → 201 [`wire::LoadAuthorisationView`] |
//! | `GET /v1/loads?serial=HEX` | → [`wire::LoadList`] (unsettled loads) |
//! | `GET /v1/loads/{id}` | → [`wire::LoadView`] |
//! | `POST /v1/loads/{id}/complete` | [`wire::CompleteLoad`] → [`wire::LoadResolutionView`] |
//! | `POST /v1/loads/{id}/release` | [`wire::ReleaseLoad`] → [`wire::LoadResolutionView`] |
//! | `POST /v1/loads/{id}/recover` | [`wire::RecoverLoad`] → [`wire::LoadResolutionView`] |
//! | `GET /v1/audit` | → [`wire::AuditView`] |
//! | `POST /v1/serials` | `{}` → 201 [`wire::SerialView`] (a fresh serial for a blank card) |
//! | `POST /v1/cards/{serial}/prepare` | [`wire::PrepareIssue`] → 201 [`wire::CommandView`] (PERSONALIZE) |
//! | `POST /v1/cards/{serial}/confirm` | `{}` → [`wire::CardView`] |
//! | `POST /v1/cards/{serial}/abandon` | `{}` → `{}` |
//! | `POST /v1/cards/{serial}/issuer-command` | [`wire::IssuerCommandRequest`] → [`wire::CommandView`] |
//! | `POST /v1/cards/{serial}/status` | [`wire::SetCardStatus`] → [`wire::CardView`] |
//! | `POST /v1/settlement/batches` | [`wire::UploadBatch`] → [`wire::SettlementView`] (with the CLEAR BATCH acknowledgement) |
//!
//! | status | `error` | when |
//! | --- | --- | --- |
//! | 400 | `bad_request` | malformed JSON, a missing or unknown field, bad hex, bad card data, missing `Idempotency-Key` |
//! | 401 | `unauthorized` | no token, malformed or unknown token |
//! | 403 | `forbidden` | revoked token |
//! | 404 | `not_found` | unknown path, customer, card or load |
//! | 405 | `bad_request` | a method the path does not take |
//! | 409 | `evidence` / `conflict` | card evidence cannot settle the load (it stays pending); a request against the ledger's record; the same key still running |
//! | 413 | `bad_request` | body over 64 KiB |
//! | 422 | `refused` / `idempotency` | a business refusal (`code` = [`crate::Refusal::code`]) or a settlement batch refused whole (`code` = [`crate::settlement::BatchRejection::code`]); key reused for another request |
//! | 503 | `unavailable` | the ledger is busy (retry with the same key) |
//! | 500 | `internal` | anything else (details only in the server log) |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;

use crate::backoffice::{Backoffice, Config};
use crate::clock::Clock;
use crate::ism::IssuerSecurityModule;

mod pool;
mod routes;
pub mod store;
pub mod tls;
pub mod wire;

pub use store::{ApiStore, Authentication, Idempotency, NewToken, StationInfo};
pub use tls::TlsSource;

/// The header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header marking a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Why the server could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum ApiError {
    /// TLS material is missing or unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}; choose another --listen address or stop the program using it")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The ledger or the API tables cannot be opened.
    #[error(transparent)]
    Backoffice(#[from] crate::Error),
    /// The async runtime could not start.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
    /// The server thread ended abnormally.
    #[error("the server thread panicked")]
    Panicked,
}

/// How to run the API server.
pub struct ServerOptions {
    /// The ledger file.
    pub ledger: PathBuf,
    /// The issuer security module.
    pub ism: Arc<IssuerSecurityModule>,
    /// Currency and time zone.
    pub config: Config,
    /// The clock (the system clock in production).
    pub clock: Arc<dyn Clock>,
    /// Address to listen on (port 0: any free port, see [`ApiServer::local_addr`]).
    pub listen: SocketAddr,
    /// Certificate and key.
    pub tls: TlsSource,
    /// Request workers, each with its own ledger connection (at least 1).
    pub workers: usize,
    /// Stop gracefully on Ctrl-C / SIGTERM as well.
    pub stop_on_signal: bool,
}

impl core::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("ledger", &self.ledger)
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<Result<(), ApiError>>>,
}

/// How long stored idempotency answers are kept (pruned at start): 30 days, far longer than
/// any station retries.
pub const ANSWER_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// How long a graceful shutdown waits for open connections.
const DRAIN: Duration = Duration::from_secs(10);

impl ApiServer {
    /// Checks the TLS material and the ledger (opening every worker), binds `listen` and
    /// starts serving on a thread of its own.
    pub fn start(options: ServerOptions) -> Result<ApiServer, ApiError> {
        let tls = tls::server_config(&options.tls)?;
        let pool = pool::Pool::new(
            options.ledger.clone(),
            options.ism.clone(),
            options.config,
            options.clock.clone(),
            options.workers.max(1),
        );
        let (currency, key_version) = {
            let mut first = pool.open_worker()?;
            let horizon = options.clock.now_unix() - ANSWER_RETENTION_SECS;
            let pruned = first.store.prune_answers(horizon)?;
            if pruned > 0 {
                log::info!("pruned {pruned} idempotency answers older than 30 days");
            }
            let found = (first.bo.currency(), first.bo.key_version());
            pool.put(first);
            // Every worker opened now: opening one later (schema check under the write lock)
            // would queue behind the writers in SQLite's busy handler.
            for _ in 1..options.workers.max(1) {
                let worker = pool.open_worker()?;
                pool.put(worker);
            }
            found
        };
        let listener =
            std::net::TcpListener::bind(options.listen).map_err(|source| ApiError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ApiError::Bind {
            addr: options.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ApiError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(options.workers.max(1) + 2)
            .thread_name("epurse-api")
            .enable_all()
            .build()
            .map_err(ApiError::Runtime)?;
        let state = Arc::new(routes::AppState::new(
            pool,
            currency,
            key_version,
            options.clock.clone(),
        ));
        let (stop, stopped) = watch::channel(false);
        let stop_on_signal = options.stop_on_signal;
        let thread = std::thread::Builder::new()
            .name("epurse-api".into())
            .spawn(move || {
                runtime.block_on(routes::serve(
                    listener,
                    tls,
                    state,
                    stopped,
                    stop_on_signal,
                    DRAIN,
                ))
            })
            .map_err(ApiError::Runtime)?;
        log::info!("back-office API listening on https://{addr}");
        Ok(ApiServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish (up to 10 s) and waits for the server.
    pub fn shutdown(mut self) -> Result<(), ApiError> {
        let _ = self.stop.send(true);
        self.join()
    }

    /// Waits until the server stops (on a signal, with `stop_on_signal`).
    pub fn wait(mut self) -> Result<(), ApiError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), ApiError> {
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ApiError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = self.join();
    }
}

/// Opens a worker's back office (used by the pool).
pub(crate) fn open_backoffice(
    ledger: &std::path::Path,
    ism: Arc<IssuerSecurityModule>,
    config: &Config,
    clock: Arc<dyn Clock>,
) -> crate::Result<Backoffice> {
    Backoffice::open_with_clock(ledger, ism, config, clock)
}
