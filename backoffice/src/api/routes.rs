//! The routes, the request pipeline (token → JSON → idempotency → back office → answer), the
//! mapping of back-office errors to HTTP, and the TLS accept loop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apdu_spec::{
    Challenge, ContractCommand, CreditLoadResponse, InitLoadResponse, InitializeLoad, Limits,
    MccAllowlist, PinBlock, PurseStatus, Serial, StatusWord, TransactionProof, UnblockTarget,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::pool::{Pool, PoolError, Worker};
use super::store::{is_token_shaped, sha256, Authentication, Idempotency};
use super::wire::{
    self, AuditView, BeginLoad, CardView, CommandView, CompleteLoad, CustomerView, DepositView,
    Empty, ErrorBody, Health, IssuerCommandRequest, LoadAuthorisationView, LoadList,
    LoadResolutionView, LoadView, NewCustomer, NewDeposit, PrepareIssue, ProofWire, RecoverLoad,
    ReleaseLoad, SerialView, SetCardStatus, SettlementView, UploadBatch,
};
use super::{ApiError, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use crate::clock::Clock;
use crate::error::{Error, EvidenceError, Refusal};
use crate::ism::{CardProfile, IsmError};
use crate::loads::{CardEvidence, LoadId, LoadRequest, ProofEvidence, ReleaseReason};
use crate::money::Currency;
use crate::registry::{CardStatus, CashDeposit, IssueRequest, IssuerAction};
use crate::settlement::UploadOutcome;
use crate::{Backoffice, CustomerId};

/// Largest request body.
const BODY_LIMIT: usize = 64 * 1024;
/// Longest idempotency key.
const KEY_MAX: usize = 128;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's headers to arrive (slow clients hold no worker meanwhile,
/// but they hold a connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections at most; more are closed at once.
const MAX_CONNECTIONS: usize = 1024;

/// What every handler shares.
pub(crate) struct AppState {
    pool: Arc<Pool>,
    currency: Currency,
    key_version: u8,
    clock: Arc<dyn Clock>,
    /// This server instance, owner of the idempotency claims it makes.
    instance: String,
    /// Held by a mutation from its idempotency claim to its stored answer. SQLite lets one
    /// writer in at a time anyway; queueing here instead of in SQLite's busy handler (which
    /// sleeps in steps of up to 100 ms) keeps the latency tail short.
    writer: std::sync::Mutex<()>,
}

impl AppState {
    pub(crate) fn new(
        pool: Arc<Pool>,
        currency: Currency,
        key_version: u8,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        AppState {
            pool,
            currency,
            key_version,
            clock,
            instance: hex::encode(id),
            writer: std::sync::Mutex::new(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failures

/// An error answer.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    status: StatusCode,
    body: ErrorBody,
}

impl Failure {
    fn new(status: StatusCode, error: &str, code: &str, message: impl Into<String>) -> Self {
        Failure {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                code: code.to_owned(),
                message: message.into(),
                refusal: None,
            },
        }
    }

    fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", code, message)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal",
            "the back office could not process the request; the operator has the details in the server log. Retry with the same Idempotency-Key",
        )
    }

    /// A back-office error as an answer. Internal details go to the log, not to the caller.
    fn from_backoffice(err: Error, currency: &Currency) -> Self {
        match err {
            Error::Refused(refusal) => {
                let status = match refusal {
                    Refusal::UnknownCard { .. } | Refusal::UnknownCustomer { .. } => {
                        StatusCode::NOT_FOUND
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let error = if status == StatusCode::NOT_FOUND {
                    "not_found"
                } else {
                    "refused"
                };
                let mut failure =
                    Self::new(status, error, refusal.code(), refusal.describe(currency));
                failure.body.refusal = Some(Box::new(wire::RefusalWire::from(&refusal)));
                failure
            }
            Error::Evidence(e) => {
                let code = match e {
                    EvidenceError::WrongCard { .. } => "wrong_card",
                    EvidenceError::ProofNeeded { .. } => "proof_needed",
                    EvidenceError::ProofMismatch(_) => "proof_mismatch",
                    EvidenceError::TacInvalid => "tac_invalid",
                    EvidenceError::NotDefinitive(_) => "not_definitive",
                    EvidenceError::UnconnectedCodeUnused { .. } => "unconnected_code_unused",
                };
                Self::new(StatusCode::CONFLICT, "evidence", code, e.to_string())
            }
            Error::Ism(e) => match e {
                IsmError::UnknownKeyVersion { .. } => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    "key_version",
                    e.to_string(),
                ),
                IsmError::Mac1Invalid => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    "mac_failure",
                    e.to_string(),
                ),
                IsmError::TacInvalid => Self::new(
                    StatusCode::CONFLICT,
                    "evidence",
                    "tac_invalid",
                    e.to_string(),
                ),
                IsmError::ConfirmInvalid => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    "confirmation_invalid",
                    e.to_string(),
                ),
                IsmError::AdminCounterExhausted => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    "admin_counter_exhausted",
                    e.to_string(),
                ),
                IsmError::InvalidCardData(_) => {
                    Self::bad_request("invalid_card_data", e.to_string())
                }
                other => {
                    log::error!("issuer security module: {other}");
                    Self::internal()
                }
            },
            Error::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", "not_found", m),
            Error::Invalid(m) => Self::bad_request("invalid", m),
            Error::Money(e) => Self::bad_request("invalid_amount", e.to_string()),
            Error::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", "conflict", m),
            Error::Database(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) =>
            {
                log::warn!("ledger busy: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "busy",
                    "the ledger is busy; retry shortly with the same Idempotency-Key",
                )
            }
            other => {
                log::error!("back office: {other}");
                Self::internal()
            }
        }
    }

    fn from_pool(err: PoolError) -> Self {
        match err {
            PoolError::Open(e) => {
                log::error!("cannot open a worker on the ledger: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "ledger_unavailable",
                    "the back office cannot open its ledger right now; retry later with the same Idempotency-Key",
                )
            }
            PoolError::Panicked => {
                log::error!("a request worker panicked");
                Self::internal()
            }
            PoolError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "shutting_down",
                "the back office is shutting down; retry later with the same Idempotency-Key",
            ),
        }
    }

    fn body_text(&self) -> String {
        serde_json::to_string(&self.body).unwrap_or_else(|_| String::from("{}"))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        json_response(self.status, self.body_text(), false)
    }
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

fn to_body(value: &impl Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| {
        log::error!("cannot serialise an answer: {e}");
        Failure::internal()
    })
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// The bearer token of a request, shape-checked (no lookup yet).
fn bearer(headers: &HeaderMap) -> Result<String, Failure> {
    let unauthorized = |code: &str, message: &str| {
        Failure::new(StatusCode::UNAUTHORIZED, "unauthorized", code, message)
    };
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized(
            "token_missing",
            "no station token: send `Authorization: Bearer <token>` (the operator creates one with `epurse backoffice token add STATION`)",
        )
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| is_token_shaped(t))
        .ok_or_else(|| {
            unauthorized(
                "token_malformed",
                "the Authorization header is not `Bearer epst_<64 hex digits>`; check the station's token",
            )
        })?;
    Ok(token.to_owned())
}

/// Looks the token up on the worker's connection.
fn authenticate(worker: &mut Worker, token: &str, currency: &Currency) -> Result<String, Failure> {
    match worker
        .store
        .authenticate(token)
        .map_err(|e| Failure::from_backoffice(e, currency))?
    {
        Authentication::Station(station) => Ok(station),
        Authentication::Revoked(station) => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "token_revoked",
            format!("the token of station {station} was revoked; ask the operator for a new one"),
        )),
        Authentication::Unknown => Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "token_unknown",
            "unknown station token; check the token or ask the operator for one",
        )),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Failure> {
    let value = headers.get(IDEMPOTENCY_KEY).ok_or_else(|| {
        Failure::bad_request(
            "idempotency_key_missing",
            "every POST needs an Idempotency-Key header (a fresh unique value per operation, e.g. a UUID, reused on retries)",
        )
    })?;
    value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= KEY_MAX && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::bad_request(
                "idempotency_key_malformed",
                format!("the Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters"),
            )
        })
}

/// Parses a JSON body into the request type: first as JSON (malformed JSON), then as the
/// request (missing or unknown fields, wrong types). Returns the request and its canonical
/// JSON text (keys sorted, no whitespace) for the idempotency fingerprint.
fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, String), Failure> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        Failure::new(
            status,
            "bad_request",
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "body_unreadable"
            },
            format!(
                "cannot read the request body: {rejection} (at most {BODY_LIMIT} bytes of JSON)"
            ),
        )
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let canonical = value.to_string();
    let request = serde_json::from_value(value).map_err(|e| {
        Failure::bad_request(
            "invalid_request",
            format!("the JSON does not describe this request: {e}; see the API documentation for its fields"),
        )
    })?;
    Ok((request, canonical))
}

/// What a handler's job produced.
struct Answer {
    status: StatusCode,
    body: String,
    replayed: bool,
    station: Option<String>,
}

fn log_answer(method: &Method, path: &str, answer: &Answer, started: Instant) {
    log::info!(
        "{} {method} {path} -> {} ({} ms{})",
        answer.station.as_deref().unwrap_or("-"),
        answer.status.as_u16(),
        started.elapsed().as_millis(),
        if answer.replayed { ", replayed" } else { "" }
    );
}

impl AppState {
    /// A read: token, then `job` on a worker.
    async fn read<T, F>(self: &Arc<Self>, headers: &HeaderMap, path: String, job: F) -> Response
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&mut Backoffice) -> Result<T, Failure> + Send + 'static,
    {
        let started = Instant::now();
        let token = bearer(headers);
        let currency = self.currency;
        let answer = self
            .pool
            .run(move |worker| {
                let mut station = None;
                let result = token
                    .and_then(|token| authenticate(worker, &token, &currency))
                    .and_then(|s| {
                        station = Some(s);
                        job(&mut worker.bo)
                    })
                    .and_then(|value| to_body(&value));
                finish(result, StatusCode::OK, station)
            })
            .await
            .unwrap_or_else(|e| failure_answer(Failure::from_pool(e), None));
        log_answer(&Method::GET, &path, &answer, started);
        json_response(answer.status, answer.body, answer.replayed)
    }

    /// A mutation: token, JSON, idempotency key, then `job` on a worker exactly once per
    /// (station, key); the answer is stored unless it is a server error.
    async fn mutate<Req, T, F>(
        self: &Arc<Self>,
        headers: &HeaderMap,
        path: String,
        body: Result<Bytes, BytesRejection>,
        success: StatusCode,
        job: F,
    ) -> Response
    where
        Req: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: FnOnce(&mut Backoffice, &str, Req) -> Result<T, Failure> + Send + 'static,
    {
        let started = Instant::now();
        let token = bearer(headers);
        let key = idempotency_key(headers);
        let parsed = parse_body::<Req>(body);
        let currency = self.currency;
        let state = self.clone();
        let fingerprint_path = path.clone();
        let answer = self
            .pool
            .run(move |worker| {
                let station = match token.and_then(|t| authenticate(worker, &t, &currency)) {
                    Ok(station) => station,
                    Err(failure) => return failure_answer(failure, None),
                };
                let prepared = key.and_then(|key| parsed.map(|(request, canonical)| (key, request, canonical)));
                let (key, request, canonical) = match prepared {
                    Ok(p) => p,
                    Err(failure) => return failure_answer(failure, Some(station)),
                };
                let fingerprint = sha256(format!("POST {fingerprint_path}\n{canonical}").as_bytes());
                let _writer = state
                    .writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = state.clock.now_unix();
                let claim = worker
                    .store
                    .begin(&station, &key, &fingerprint, &state.instance, now)
                    .map_err(|e| Failure::from_backoffice(e, &currency));
                match claim {
                    Err(failure) => failure_answer(failure, Some(station)),
                    Ok(Idempotency::Replay { status, body }) => Answer {
                        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                        body,
                        replayed: true,
                        station: Some(station),
                    },
                    Ok(Idempotency::Mismatch) => failure_answer(
                        Failure::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "idempotency",
                            "idempotency_key_reused",
                            "this Idempotency-Key was already used for a different request; use a new key for a new operation",
                        ),
                        Some(station),
                    ),
                    Ok(Idempotency::InProgress) => failure_answer(
                        Failure::new(
                            StatusCode::CONFLICT,
                            "conflict",
                            "request_in_progress",
                            "a request with this Idempotency-Key is still running; retry shortly with the same key",
                        ),
                        Some(station),
                    ),
                    Ok(Idempotency::Proceed) => {
                        let outcome = catch_unwind(AssertUnwindSafe(|| {
                            job(&mut worker.bo, &station, request).and_then(|v| to_body(&v))
                        }))
                        .unwrap_or_else(|_| {
                            log::error!("a request panicked in the back office");
                            Err(Failure::internal())
                        });
                        let answer = finish(outcome, success, Some(station.clone()));
                        let now = state.clock.now_unix();
                        let stored = if answer.status.is_server_error() {
                            worker.store.forget(&station, &key)
                        } else {
                            worker
                                .store
                                .answer(&station, &key, answer.status.as_u16(), &answer.body, now)
                        };
                        if let Err(e) = stored {
                            // The operation itself is done (or refused) and is idempotent in
                            // the back office; dropping the claim lets a retry run it again
                            // and get the same result instead of "in progress" forever.
                            log::error!("cannot record the idempotency answer: {e}");
                            if let Err(e) = worker.store.forget(&station, &key) {
                                log::error!("cannot drop the idempotency claim: {e}");
                            }
                        }
                        answer
                    }
                }
            })
            .await
            .unwrap_or_else(|e| failure_answer(Failure::from_pool(e), None));
        log_answer(&Method::POST, &path, &answer, started);
        json_response(answer.status, answer.body, answer.replayed)
    }
}

fn failure_answer(failure: Failure, station: Option<String>) -> Answer {
    Answer {
        status: failure.status,
        body: failure.body_text(),
        replayed: false,
        station,
    }
}

fn finish(result: Result<String, Failure>, success: StatusCode, station: Option<String>) -> Answer {
    match result {
        Ok(body) => Answer {
            status: success,
            body,
            replayed: false,
            station,
        },
        Err(failure) => failure_answer(failure, station),
    }
}

// ---------------------------------------------------------------------------------------------
// Input helpers

fn hex_field(field: &str, text: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(text.trim()).map_err(|e| {
        Failure::bad_request(
            "invalid_hex",
            format!("{field} is not valid hex ({e}); send the bytes as hex digits without spaces"),
        )
    })
}

fn card_data<T>(
    field: &str,
    text: &str,
    parse: impl FnOnce(&[u8]) -> apdu_spec::Result<T>,
) -> Result<T, Failure> {
    let bytes = hex_field(field, text)?;
    parse(&bytes).map_err(|e| {
        Failure::bad_request("invalid_card_data", format!("{field} does not parse: {e}"))
    })
}

fn serial_param(text: &str) -> Result<Serial, Failure> {
    text.parse::<Serial>().map_err(|e| {
        Failure::bad_request(
            "invalid_serial",
            format!("card serial {text:?}: {e}; a serial is 16 hex digits"),
        )
    })
}

fn id_param(what: &str, text: &str) -> Result<i64, Failure> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            Failure::bad_request(
                "invalid_id",
                format!("{what} id {text:?} is not a positive integer"),
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn health(State(app): State<Arc<AppState>>) -> Response {
    let health = Health {
        status: "ok".into(),
        api: wire::API_VERSION.into(),
        currency: app.currency.code().to_owned(),
        decimals: app.currency.decimals(),
        key_version: app.key_version,
    };
    match to_body(&health) {
        Ok(body) => json_response(StatusCode::OK, body, false),
        Err(failure) => failure.into_response(),
    }
}

fn customer_view(
    bo: &mut Backoffice,
    id: CustomerId,
    c: &Currency,
) -> Result<CustomerView, Failure> {
    let f = |e| Failure::from_backoffice(e, c);
    let customer = bo.customer(id).map_err(f)?;
    let balances = bo.customer_balances(id).map_err(f)?;
    let cards = bo.cards_of(id).map_err(f)?;
    Ok(CustomerView::new(&customer, balances, &cards))
}

async fn create_customer(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        "/v1/customers".into(),
        body,
        StatusCode::CREATED,
        move |bo, _station, req: NewCustomer| {
            let customer = bo
                .create_customer(&req.name)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            customer_view(bo, customer.id, &c)
        },
    )
    .await
}

async fn show_customer(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = app.currency;
    app.read(&headers, format!("/v1/customers/{id}"), move |bo| {
        let id = CustomerId(id_param("customer", &id)?);
        customer_view(bo, id, &c)
    })
    .await
}

async fn deposit(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        "/v1/deposits".into(),
        body,
        StatusCode::CREATED,
        move |bo, station, req: NewDeposit| {
            let receipt = bo
                .deposit_cash(&CashDeposit {
                    customer: CustomerId(req.customer),
                    purse: req.purse.into(),
                    amount: req.amount,
                    reference: req.reference,
                    teller: station.to_owned(),
                })
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(DepositView {
                id: receipt.id,
                transfer_id: receipt.transfer_id,
                balance: receipt.balance,
                replayed: receipt.replayed,
            })
        },
    )
    .await
}

async fn show_card(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> Response {
    let c = app.currency;
    app.read(&headers, format!("/v1/cards/{serial}"), move |bo| {
        let serial = serial_param(&serial)?;
        let f = |e| Failure::from_backoffice(e, &c);
        let card = bo.card(&serial).map_err(f)?;
        let unsettled = bo.pending_loads(Some(&serial)).map_err(f)?;
        Ok(CardView::new(&card, &unsettled))
    })
    .await
}

async fn begin_load(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        "/v1/loads".into(),
        body,
        StatusCode::CREATED,
        move |bo, _station, req: BeginLoad| {
            let request = LoadRequest {
                serial: serial_param(&req.serial)?,
                command: card_data(
                    "command (INITIALIZE LOAD)",
                    &req.command,
                    InitializeLoad::parse,
                )?,
                response: card_data(
                    "response (INITIALIZE LOAD)",
                    &req.response,
                    InitLoadResponse::parse,
                )?,
            };
            let authorisation = bo
                .begin_load(&request)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(LoadAuthorisationView::from(&authorisation))
        },
    )
    .await
}

/// The `serial` of `?serial=HEX` (the only query parameter there is).
fn serial_query(query: Option<&str>) -> Result<Option<String>, Failure> {
    let mut serial = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("serial", value)) if serial.is_none() => serial = Some(value.to_owned()),
            _ => {
                return Err(Failure::bad_request(
                    "invalid_query",
                    format!("unexpected query parameter {pair:?}; the only one is serial=HEX (16 hex digits)"),
                ))
            }
        }
    }
    Ok(serial)
}

async fn list_loads(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let c = app.currency;
    let path = match &query {
        Some(q) => format!("/v1/loads?{q}"),
        None => "/v1/loads".to_owned(),
    };
    app.read(&headers, path, move |bo| {
        let serial = serial_query(query.as_deref())?
            .as_deref()
            .map(serial_param)
            .transpose()?;
        let loads = bo
            .pending_loads(serial.as_ref())
            .map_err(|e| Failure::from_backoffice(e, &c))?;
        Ok(LoadList {
            loads: loads.iter().map(LoadView::from).collect(),
        })
    })
    .await
}

async fn show_load(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = app.currency;
    app.read(&headers, format!("/v1/loads/{id}"), move |bo| {
        let id = LoadId(id_param("load", &id)?);
        let load = bo.load(id).map_err(|e| Failure::from_backoffice(e, &c))?;
        Ok(LoadView::from(&load))
    })
    .await
}

async fn complete_load(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/loads/{id}/complete"),
        body,
        StatusCode::OK,
        move |bo, _station, req: CompleteLoad| {
            let id = LoadId(id_param("load", &id)?);
            let response = card_data(
                "response (CREDIT LOAD)",
                &req.response,
                CreditLoadResponse::parse,
            )?;
            let resolution = bo
                .complete_load(id, &response)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(LoadResolutionView::from(&resolution))
        },
    )
    .await
}

async fn release_load(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/loads/{id}/release"),
        body,
        StatusCode::OK,
        move |bo, _station, req: ReleaseLoad| {
            let id = LoadId(id_param("load", &id)?);
            let sw = <[u8; 2]>::try_from(hex_field("sw", &req.sw)?.as_slice()).map_err(|_| {
                Failure::bad_request(
                    "invalid_sw",
                    "sw must be a status word of 4 hex digits, e.g. 6985",
                )
            })?;
            let sw = StatusWord::from_bytes(sw[0], sw[1]);
            let resolution = bo
                .release_load(id, ReleaseReason::CardRefusedCredit(sw))
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(LoadResolutionView::from(&resolution))
        },
    )
    .await
}

async fn recover_load(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/loads/{id}/recover"),
        body,
        StatusCode::OK,
        move |bo, _station, req: RecoverLoad| {
            let id = LoadId(id_param("load", &id)?);
            let status = card_data("status (GET STATUS)", &req.status, PurseStatus::parse)?;
            let proof = match &req.proof {
                ProofWire::NotAsked => ProofEvidence::NotAsked,
                ProofWire::NotFound => ProofEvidence::NotFound,
                ProofWire::Found(hex) => ProofEvidence::Found(card_data(
                    "proof (GET TRANSACTION PROOF)",
                    hex,
                    TransactionProof::parse,
                )?),
            };
            let resolution = bo
                .recover_load(id, &CardEvidence { status, proof })
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(LoadResolutionView::from(&resolution))
        },
    )
    .await
}

async fn audit(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let c = app.currency;
    app.read(&headers, "/v1/audit".into(), move |bo| {
        let report = bo.audit().map_err(|e| Failure::from_backoffice(e, &c))?;
        Ok(AuditView::from(&report))
    })
    .await
}

fn challenge_field(text: &str) -> Result<Challenge, Failure> {
    let bytes = hex_field("challenge", text)?;
    <[u8; 4]>::try_from(bytes.as_slice())
        .map(Challenge)
        .map_err(|_| {
            Failure::bad_request(
                "invalid_challenge",
                "challenge must be the card's GET CHALLENGE answer, 8 hex digits",
            )
        })
}

fn card_answer(bo: &mut Backoffice, serial: &Serial, c: &Currency) -> Result<CardView, Failure> {
    let f = |e| Failure::from_backoffice(e, c);
    let card = bo.card(serial).map_err(f)?;
    let unsettled = bo.pending_loads(Some(serial)).map_err(f)?;
    Ok(CardView::new(&card, &unsettled))
}

async fn allocate_serial(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        "/v1/serials".into(),
        body,
        StatusCode::CREATED,
        move |bo, _station, _req: Empty| {
            let serial = bo
                .allocate_serial()
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(SerialView {
                serial: serial.to_string(),
            })
        },
    )
    .await
}

async fn prepare_issue(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/cards/{serial}/prepare"),
        body,
        StatusCode::CREATED,
        move |bo, _station, req: PrepareIssue| {
            let serial = serial_param(&serial)?;
            let challenge = challenge_field(&req.challenge)?;
            let request = IssueRequest {
                serial,
                customer: CustomerId(req.customer),
                profile: CardProfile {
                    limits: card_data("limits", &req.limits, Limits::parse)?,
                    pin: card_data("pin_block", &req.pin_block, PinBlock::parse)?,
                    pin_try_limit: req.pin_try_limit,
                    uc_limit: req.uc_limit,
                    food_mccs: card_data("food_mccs", &req.food_mccs, MccAllowlist::parse)?,
                },
            };
            let personalize = bo
                .prepare_issue(&request, challenge)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(CommandView {
                command: hex::encode_upper(personalize.to_bytes()),
            })
        },
    )
    .await
}

async fn confirm_issue(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/cards/{serial}/confirm"),
        body,
        StatusCode::OK,
        move |bo, _station, _req: Empty| {
            let serial = serial_param(&serial)?;
            bo.confirm_issue(&serial)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            card_answer(bo, &serial, &c)
        },
    )
    .await
}

async fn abandon_issue(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/cards/{serial}/abandon"),
        body,
        StatusCode::OK,
        move |bo, _station, _req: Empty| {
            let serial = serial_param(&serial)?;
            bo.abandon_issue(&serial)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(Empty {})
        },
    )
    .await
}

async fn issuer_command(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/cards/{serial}/issuer-command"),
        body,
        StatusCode::OK,
        move |bo, _station, req: IssuerCommandRequest| {
            let serial = serial_param(&serial)?;
            let challenge = challenge_field(&req.challenge)?;
            let action = match (req.action.as_str(), &req.pin_block, &req.limits) {
                ("block", None, None) => IssuerAction::Block,
                ("unblock", None, None) => IssuerAction::Unblock(UnblockTarget::Card),
                ("unblock_uc", None, None) => {
                    IssuerAction::Unblock(UnblockTarget::UnconnectedLoading)
                }
                ("pin_unblock", pin, None) => IssuerAction::PinUnblock(
                    pin.as_deref()
                        .map(|p| card_data("pin_block", p, PinBlock::parse))
                        .transpose()?,
                ),
                ("set_limits", None, Some(limits)) => {
                    IssuerAction::SetLimits(card_data("limits", limits, Limits::parse)?)
                }
                _ => {
                    return Err(Failure::bad_request(
                        "invalid_action",
                        "action must be block, unblock, unblock_uc, pin_unblock (optional pin_block) or set_limits (with limits)",
                    ))
                }
            };
            let command = bo
                .issuer_command(&serial, challenge, req.admin_counter, &action)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            Ok(CommandView {
                command: hex::encode_upper(command.to_bytes()),
            })
        },
    )
    .await
}

async fn set_card_status(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        format!("/v1/cards/{serial}/status"),
        body,
        StatusCode::OK,
        move |bo, _station, req: SetCardStatus| {
            let serial = serial_param(&serial)?;
            let status = match wire::card_status(&req.status) {
                Some(s @ (CardStatus::Active | CardStatus::Blocked)) => s,
                _ => {
                    return Err(Failure::bad_request(
                        "invalid_status",
                        "status must be active or blocked",
                    ))
                }
            };
            bo.set_card_status(&serial, status)
                .map_err(|e| Failure::from_backoffice(e, &c))?;
            card_answer(bo, &serial, &c)
        },
    )
    .await
}

async fn upload_batch(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let c = app.currency;
    app.mutate(
        &headers,
        "/v1/settlement/batches".into(),
        body,
        StatusCode::OK,
        move |bo, _station, req: UploadBatch| {
            let bytes = hex_field("batch", &req.batch)?;
            let xserial = serial_param(&req.xserial)?;
            match bo
                .upload_batch(&bytes, xserial)
                .map_err(|e| Failure::from_backoffice(e, &c))?
            {
                UploadOutcome::Settled(settlement) => Ok(SettlementView::from(&settlement)),
                UploadOutcome::Rejected(rejection) => Err(Failure::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    rejection.code(),
                    format!("the batch is refused: {rejection}; nothing was credited"),
                )),
            }
        },
    )
    .await
}

async fn no_route() -> Response {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no_route",
        "no such API path; the API lives under /v1 (see GET /v1/health)",
    )
    .into_response()
}

async fn wrong_method() -> Response {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "bad_request",
        "method_not_allowed",
        "this path does not take this method",
    )
    .into_response()
}

/// The API's routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", get(show_customer))
        .route("/v1/deposits", post(deposit))
        .route("/v1/cards/{serial}", get(show_card))
        .route("/v1/loads", post(begin_load).get(list_loads))
        .route("/v1/loads/{id}", get(show_load))
        .route("/v1/loads/{id}/complete", post(complete_load))
        .route("/v1/loads/{id}/release", post(release_load))
        .route("/v1/loads/{id}/recover", post(recover_load))
        .route("/v1/audit", get(audit))
        .route("/v1/serials", post(allocate_serial))
        .route("/v1/cards/{serial}/prepare", post(prepare_issue))
        .route("/v1/cards/{serial}/confirm", post(confirm_issue))
        .route("/v1/cards/{serial}/abandon", post(abandon_issue))
        .route("/v1/cards/{serial}/issuer-command", post(issuer_command))
        .route("/v1/cards/{serial}/status", post(set_card_status))
        .route("/v1/settlement/batches", post(upload_batch))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Serving

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Accepts TLS connections and serves HTTP/1.1 on each until `stopped` turns true (or a
/// signal, with `on_signal`); then drains open connections for at most `drain`.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<AppState>,
    mut stopped: watch::Receiver<bool>,
    on_signal: bool,
    drain: Duration,
) -> Result<(), ApiError> {
    let addr = listener.local_addr().map_err(ApiError::Runtime)?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|source| ApiError::Bind { addr, source })?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(state);
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let signal = async {
        if on_signal {
            stop_signal().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(signal);
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            () = async { let _ = stopped.wait_for(|stop| *stop).await; } => break,
            () = &mut signal => {
                log::info!("signal received: stopping the API");
                break;
            }
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        log::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if connections.len() >= MAX_CONNECTIONS {
                    log::warn!("{MAX_CONNECTIONS} connections open: refusing {peer}");
                    drop(tcp);
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let app = app.clone();
                let mut closing = closing_rx.clone();
                connections.spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            log::debug!("TLS handshake with {peer} failed: {e}");
                            return;
                        }
                        Err(_) => {
                            log::debug!("TLS handshake with {peer} timed out");
                            return;
                        }
                    };
                    let service = TowerToHyperService::new(app);
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(e) = result {
                                log::debug!("connection with {peer}: {e}");
                            }
                        }
                        () = async { let _ = closing.wait_for(|c| *c).await; } => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        log::warn!(
            "shutdown: connections still open after {} s were cut",
            drain.as_secs()
        );
        connections.abort_all();
    }
    log::info!("back-office API stopped");
    Ok(())
}
