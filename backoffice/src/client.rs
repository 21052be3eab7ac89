//! A blocking client for the back office's HTTP API ([`crate::api`]), for teller stations and
//! merchant PCs that use a remote back office (`--backoffice URL`).
//!
//! - HTTPS only, through rustls (ring): the server's certificate is either **pinned** (the
//!   exact certificate, e.g. the development certificate `backoffice-dev-cert.pem` that
//!   `epurse backoffice serve --dev-tls` writes next to the ledger) or checked against **CA
//!   certificates** from a PEM file.
//! - Every mutating call takes an [`IdempotencyKey`]: make one per operation and reuse it when
//!   the operation is retried (after a crash, for example). The client itself retries a
//!   failed connection or a `503` a few times with the same key, so a lost answer never
//!   doubles a posting.
//! - Errors: [`ClientError::Api`] carries the server's `{error, code, message}`; the
//!   message says what to do.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use apdu_spec::{ContractCommand, CreditLoad, CreditLoadResponse, Purse, Serial, StatusWord};
use rand::RngCore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::api::wire::{
    AuditView, BeginLoad, CardView, CommandView, CompleteLoad, CustomerView, DepositView, Empty,
    ErrorBody, Health, IssuerCommandRequest, LoadAuthorisationView, LoadList, LoadResolutionView,
    LoadView, NewCustomer, NewDeposit, PrepareIssue, ProofWire, RecoverLoad, ReleaseLoad,
    SerialView, SetCardStatus, SettlementView, UploadBatch,
};
use crate::api::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use crate::loads::{CardEvidence, LoadAuthorisation, LoadId, LoadRequest, ProofEvidence};
use crate::registry::{CardStatus, CashDeposit, IssueRequest, IssuerAction};
use crate::CustomerId;
use apdu_spec::{Challenge, Command, PersonalizePurse, UnblockTarget};

/// What can go wrong talking to the back office.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The base URL is not usable.
    #[error("back-office URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// An idempotency key the server would refuse.
    #[error("{0}")]
    InvalidKey(String),
    /// The trust material (pinned certificate, CA file) is unusable.
    #[error("back-office TLS: {0}")]
    Tls(String),
    /// No answer: connection refused, TLS failure, timeout (after the retries).
    #[error("cannot reach the back office at {url}: {message}; check the URL, the network and that `epurse backoffice serve` is running (the operation can be retried with the same idempotency key)")]
    Transport {
        /// The URL called.
        url: String,
        /// What failed.
        message: String,
    },
    /// The back office answered with an error.
    #[error("back office: {} ({} {})", body.message, status, body.code)]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// The answer does not parse.
    #[error("the back office's answer to {what} does not parse: {message}")]
    Decode {
        /// Which call.
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl ClientError {
    /// The server's machine code (`insufficient_funds`, `token_revoked`, ...), if it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The back office's refusal with its data, if the answer carried one.
    pub fn refusal(&self) -> Option<crate::Refusal> {
        match self {
            ClientError::Api { body, .. } => body.refusal.as_ref().and_then(|r| r.to_refusal()),
            _ => None,
        }
    }

    /// A business refusal (HTTP 422, `error` = `refused`): nothing moved.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Api { status: 422, body } if body.error == "refused")
    }
}

/// Result of client calls.
pub type Result<T, E = ClientError> = core::result::Result<T, E>;

/// An `Idempotency-Key`: one per operation, reused on every retry of that operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A fresh random key (128 bits, hex).
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        IdempotencyKey(hex::encode(bytes))
    }

    /// A key chosen by the caller (e.g. derived from a receipt number): 1..=128 visible ASCII
    /// characters.
    pub fn from_text(key: &str) -> Result<Self> {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientError::InvalidKey(format!(
                "idempotency key {key:?}: use 1 to 128 visible ASCII characters"
            )));
        }
        Ok(IdempotencyKey(key.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for IdempotencyKey {
    fn default() -> Self {
        Self::new()
    }
}

/// How the client trusts the server's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly these certificates (the server's own leaf certificate is pinned; no CA, name or
    /// expiry check, the handshake signature is still verified).
    Pinned(Vec<CertificateDer<'static>>),
    /// Certificates issued by these CAs for the URL's host name.
    Ca(Vec<CertificateDer<'static>>),
}

impl Trust {
    /// Pins the certificate(s) of a PEM file.
    pub fn pinned_file(path: &Path) -> Result<Self> {
        Ok(Trust::Pinned(read_pem(path)?))
    }

    /// Trusts the CA certificate(s) of a PEM file.
    pub fn ca_file(path: &Path) -> Result<Self> {
        Ok(Trust::Ca(read_pem(path)?))
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    crate::api::tls::read_certificates(path).map_err(|e| ClientError::Tls(e.to_string()))
}

/// Accepts exactly the pinned certificates.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn tls_config(trust: Trust) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let mut config = match trust {
        Trust::Pinned(pinned) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pinned,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Trust::Ca(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| ClientError::Tls(format!("unusable CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A raw answer (for tools and tests that send their own bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// Whether the server replayed a stored answer (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// The back office over HTTPS.
pub struct BackofficeClient {
    agent: ureq::Agent,
    base: String,
    authorization: Zeroizing<String>,
    attempts: u32,
    backoff: Duration,
}

impl core::fmt::Debug for BackofficeClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackofficeClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(what: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

impl BackofficeClient {
    /// A client for the API at `base_url` (`https://host:port`), authenticated with the
    /// station's `token`.
    pub fn new(base_url: &str, token: &str, trust: Trust) -> Result<Self> {
        let base = base_url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .ok_or_else(|| ClientError::Url {
                url: base_url.to_owned(),
                reason: "the back office is reached over HTTPS only: use https://HOST:PORT".into(),
            })?;
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return Err(ClientError::Url {
                url: base_url.to_owned(),
                reason: "expected https://HOST:PORT without a path".into(),
            });
        }
        if !crate::api::store::is_token_shaped(token.trim()) {
            return Err(ClientError::Url {
                url: base_url.to_owned(),
                reason: "the station token must be `epst_` and 64 hex digits (from `epurse backoffice token add`)".into(),
            });
        }
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls_config(trust)?)
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build();
        Ok(BackofficeClient {
            agent,
            base: base.to_owned(),
            authorization: Zeroizing::new(format!("Bearer {}", token.trim())),
            attempts: 3,
            backoff: Duration::from_millis(200),
        })
    }

    /// Sets how many times a call is tried when the connection fails or the server answers
    /// 503 (at least 1; default 3), with a pause doubling from `backoff` (default 200 ms).
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One HTTP exchange with the station's token (and `key` as `Idempotency-Key`), with
    /// retries; any status comes back as a [`RawAnswer`].
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Result<RawAnswer> {
        let mut headers = vec![("Authorization", self.authorization.as_str())];
        if let Some(key) = key {
            headers.push((IDEMPOTENCY_KEY, key));
        }
        self.send_with_headers(method, path, &headers, body)
    }

    /// One HTTP exchange with exactly `headers` (no token unless given; for tools and tests),
    /// with retries; any status comes back as a [`RawAnswer`].
    pub fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<RawAnswer> {
        let url = format!("{}{}", self.base, path);
        let mut pause = self.backoff;
        let mut attempt = 1;
        loop {
            let mut request = self
                .agent
                .request(method, &url)
                .set("Accept", "application/json");
            for (name, value) in headers {
                request = request.set(name, value);
            }
            let result = match body {
                Some(body) => request
                    .set("Content-Type", "application/json")
                    .send_string(body),
                None => request.call(),
            };
            let outcome = match result {
                Ok(response) => Ok(response),
                Err(ureq::Error::Status(_, response)) => Ok(response),
                Err(ureq::Error::Transport(t)) => Err(t.to_string()),
            };
            let retry = match &outcome {
                Ok(response) => response.status() == 503,
                Err(_) => true,
            };
            if retry && attempt < self.attempts {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
                attempt += 1;
                continue;
            }
            let response = outcome.map_err(|message| ClientError::Transport {
                url: url.clone(),
                message,
            })?;
            let status = response.status();
            let replayed = response.header(IDEMPOTENT_REPLAYED) == Some("true");
            let body = response.into_string().map_err(|e| ClientError::Transport {
                url: url.clone(),
                message: format!("reading the answer: {e}"),
            })?;
            return Ok(RawAnswer {
                status,
                body,
                replayed,
            });
        }
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        key: Option<&IdempotencyKey>,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let text =
            body.map(serde_json::to_string)
                .transpose()
                .map_err(|e| ClientError::Decode {
                    what: path.to_owned(),
                    message: e.to_string(),
                })?;
        let answer = self.send_raw(
            method,
            path,
            key.map(IdempotencyKey::as_str),
            text.as_deref(),
        )?;
        if (200..300).contains(&answer.status) {
            decode(&format!("{method} {path}"), &answer.body)
        } else {
            let body =
                serde_json::from_str::<ErrorBody>(&answer.body).unwrap_or_else(|_| ErrorBody {
                    error: "http".into(),
                    code: format!("http_{}", answer.status),
                    message: format!("HTTP {} without an API error body", answer.status),
                    refusal: None,
                });
            Err(ClientError::Api {
                status: answer.status,
                body,
            })
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(path_method::GET, path, None, None::<&()>)
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &IdempotencyKey,
        body: &impl Serialize,
    ) -> Result<T> {
        self.call(path_method::POST, path, Some(key), Some(body))
    }

    /// `GET /v1/health` (the token is sent but not needed).
    pub fn health(&self) -> Result<Health> {
        self.get("/v1/health")
    }

    /// Registers a customer.
    pub fn create_customer(&self, name: &str, key: &IdempotencyKey) -> Result<CustomerView> {
        self.post(
            "/v1/customers",
            key,
            &NewCustomer {
                name: name.to_owned(),
            },
        )
    }

    /// A customer with balances and cards.
    pub fn customer(&self, id: CustomerId) -> Result<CustomerView> {
        self.get(&format!("/v1/customers/{}", id.0))
    }

    /// Cash in (the teller recorded is the station).
    pub fn deposit_cash(&self, deposit: &CashDeposit, key: &IdempotencyKey) -> Result<DepositView> {
        self.post(
            "/v1/deposits",
            key,
            &NewDeposit {
                customer: deposit.customer.0,
                purse: deposit.purse.into(),
                amount: deposit.amount,
                reference: deposit.reference.clone(),
            },
        )
    }

    /// A card as the ledger knows it, with its unsettled loads.
    pub fn card(&self, serial: &Serial) -> Result<CardView> {
        self.get(&format!("/v1/cards/{serial}"))
    }

    /// Authorises a load (see [`crate::Backoffice::begin_load`]); the answer carries the
    /// CREDIT LOAD to send to the card.
    pub fn begin_load(
        &self,
        request: &LoadRequest,
        key: &IdempotencyKey,
    ) -> Result<LoadAuthorisation> {
        let view: LoadAuthorisationView = self.post(
            "/v1/loads",
            key,
            &BeginLoad {
                serial: request.serial.to_string(),
                command: hex::encode_upper(request.command.to_bytes()),
                response: hex::encode_upper(request.response.to_bytes()),
            },
        )?;
        authorisation(&view)
    }

    /// Completes a load with the card's CREDIT LOAD answer.
    pub fn complete_load(
        &self,
        id: LoadId,
        response: &CreditLoadResponse,
        key: &IdempotencyKey,
    ) -> Result<LoadResolutionView> {
        self.post(
            &format!("/v1/loads/{id}/complete"),
            key,
            &CompleteLoad {
                response: hex::encode_upper(response.to_bytes()),
            },
        )
    }

    /// Releases a load the card refused to credit (with a status proving nothing changed).
    pub fn release_load(
        &self,
        id: LoadId,
        sw: StatusWord,
        key: &IdempotencyKey,
    ) -> Result<LoadResolutionView> {
        self.post(
            &format!("/v1/loads/{id}/release"),
            key,
            &ReleaseLoad {
                sw: hex::encode_upper(sw.to_bytes()),
            },
        )
    }

    /// Settles a load from the card's evidence.
    pub fn recover_load(
        &self,
        id: LoadId,
        evidence: &CardEvidence,
        key: &IdempotencyKey,
    ) -> Result<LoadResolutionView> {
        let proof = match &evidence.proof {
            ProofEvidence::NotAsked => ProofWire::NotAsked,
            ProofEvidence::NotFound => ProofWire::NotFound,
            ProofEvidence::Found(proof) => ProofWire::Found(hex::encode_upper(proof.to_bytes())),
        };
        self.post(
            &format!("/v1/loads/{id}/recover"),
            key,
            &RecoverLoad {
                status: hex::encode_upper(evidence.status.to_bytes()),
                proof,
            },
        )
    }

    /// One load.
    pub fn load(&self, id: LoadId) -> Result<LoadView> {
        self.get(&format!("/v1/loads/{id}"))
    }

    /// Unsettled loads, of one card or all.
    pub fn unsettled_loads(&self, serial: Option<&Serial>) -> Result<Vec<LoadView>> {
        let path = match serial {
            Some(serial) => format!("/v1/loads?serial={serial}"),
            None => "/v1/loads".to_owned(),
        };
        Ok(self.get::<LoadList>(&path)?.loads)
    }

    /// The audit of the whole ledger.
    pub fn audit(&self) -> Result<AuditView> {
        self.get("/v1/audit")
    }
}

impl BackofficeClient {
    /// A fresh serial for a blank card.
    pub fn allocate_serial(&self, key: &IdempotencyKey) -> Result<Serial> {
        let view: SerialView = self.post("/v1/serials", key, &Empty {})?;
        view.serial.parse().map_err(|e| ClientError::Decode {
            what: "POST /v1/serials".into(),
            message: format!("serial: {e}"),
        })
    }

    /// Registers a card *personalising* and returns its PERSONALIZE command (see
    /// [`crate::Backoffice::prepare_issue`]). The PIN block travels inside TLS only.
    pub fn prepare_issue(
        &self,
        request: &IssueRequest,
        challenge: Challenge,
        key: &IdempotencyKey,
    ) -> Result<PersonalizePurse> {
        let p = &request.profile;
        let path = format!("/v1/cards/{}/prepare", request.serial);
        let view: CommandView = self.post(
            &path,
            key,
            &PrepareIssue {
                customer: request.customer.0,
                challenge: hex::encode_upper(challenge.0),
                limits: hex::encode_upper(p.limits.to_bytes()),
                pin_block: hex::encode_upper(p.pin.as_bytes()),
                pin_try_limit: p.pin_try_limit,
                uc_limit: p.uc_limit,
                food_mccs: hex::encode_upper(p.food_mccs.to_bytes()),
            },
        )?;
        command_bytes(&format!("POST {path}"), &view.command)
            .and_then(|b| contract(&format!("POST {path}"), PersonalizePurse::parse(&b)))
    }

    /// The card accepted PERSONALIZE: the card as now registered.
    pub fn confirm_issue(&self, serial: &Serial, key: &IdempotencyKey) -> Result<CardView> {
        self.post(&format!("/v1/cards/{serial}/confirm"), key, &Empty {})
    }

    /// The card stayed blank: drops its registration.
    pub fn abandon_issue(&self, serial: &Serial, key: &IdempotencyKey) -> Result<()> {
        let _: Empty = self.post(&format!("/v1/cards/{serial}/abandon"), key, &Empty {})?;
        Ok(())
    }

    /// An issuer command for the card's challenge and admin counter.
    pub fn issuer_command(
        &self,
        serial: &Serial,
        challenge: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
        key: &IdempotencyKey,
    ) -> Result<Command> {
        let (name, pin_block, limits) = match action {
            IssuerAction::Block => ("block", None, None),
            IssuerAction::Unblock(UnblockTarget::Card) => ("unblock", None, None),
            IssuerAction::Unblock(UnblockTarget::UnconnectedLoading) => ("unblock_uc", None, None),
            IssuerAction::PinUnblock(pin) => (
                "pin_unblock",
                pin.as_ref().map(|p| hex::encode_upper(p.as_bytes())),
                None,
            ),
            IssuerAction::SetLimits(l) => {
                ("set_limits", None, Some(hex::encode_upper(l.to_bytes())))
            }
        };
        let path = format!("/v1/cards/{serial}/issuer-command");
        let view: CommandView = self.post(
            &path,
            key,
            &IssuerCommandRequest {
                challenge: hex::encode_upper(challenge.0),
                admin_counter,
                action: name.to_owned(),
                pin_block,
                limits,
            },
        )?;
        let what = format!("POST {path}");
        command_bytes(&what, &view.command).and_then(|b| contract(&what, Command::parse(&b)))
    }

    /// Sets a card's registry status (`Active` or `Blocked`).
    pub fn set_card_status(
        &self,
        serial: &Serial,
        status: CardStatus,
        key: &IdempotencyKey,
    ) -> Result<CardView> {
        self.post(
            &format!("/v1/cards/{serial}/status"),
            key,
            &SetCardStatus {
                status: status.as_str().to_owned(),
            },
        )
    }

    /// Uploads a sealed SAM batch read from transfer card `xserial`; the answer carries the
    /// acknowledgement (CLEAR BATCH) to write back to the card. A refused batch is an
    /// [`ClientError::Api`] with `error` = `refused` and the rejection's code.
    pub fn upload_batch(
        &self,
        batch: &[u8],
        xserial: &Serial,
        key: &IdempotencyKey,
    ) -> Result<SettlementView> {
        self.post(
            "/v1/settlement/batches",
            key,
            &UploadBatch {
                batch: hex::encode_upper(batch),
                xserial: xserial.to_string(),
            },
        )
    }
}

fn command_bytes(what: &str, text: &str) -> Result<Vec<u8>> {
    hex::decode(text).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        message: format!("command: {e}"),
    })
}

fn contract<T>(what: &str, parsed: apdu_spec::Result<T>) -> Result<T> {
    parsed.map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        message: format!("command: {e}"),
    })
}

mod path_method {
    pub(super) const GET: &str = "GET";
    pub(super) const POST: &str = "POST";
}

/// The typed authorisation from its wire form (the CREDIT LOAD is parsed back and checked
/// against the rest of the answer).
fn authorisation(view: &LoadAuthorisationView) -> Result<LoadAuthorisation> {
    let bad = |message: String| ClientError::Decode {
        what: "POST /v1/loads".into(),
        message,
    };
    let serial: Serial = view
        .serial
        .parse()
        .map_err(|e| bad(format!("serial: {e}")))?;
    let bytes = hex::decode(&view.credit_load).map_err(|e| bad(format!("credit_load: {e}")))?;
    let credit_load = CreditLoad::parse(&bytes).map_err(|e| bad(format!("credit_load: {e}")))?;
    let purse: Purse = view.purse.into();
    if credit_load.purse != purse {
        return Err(bad("credit_load is for another purse than the load".into()));
    }
    let amount = apdu_spec::Amount::new(view.amount).map_err(|e| bad(format!("amount: {e}")))?;
    Ok(LoadAuthorisation {
        load_id: LoadId(view.load_id),
        serial,
        purse,
        counter: view.counter,
        amount,
        credit_load,
        replayed: view.replayed,
    })
}
