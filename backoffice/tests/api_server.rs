//! The HTTP API end to end on loopback: a real server (TLS with the dev certificate), the
//! blocking client pinning that certificate, and the ledger checked directly afterwards.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use apdu_spec::{Purse, StatusWord};
use backoffice::api::wire::{CustomerView, DepositView, ErrorBody, LoadAuthorisationView};
use backoffice::api::{tls, ApiServer, ApiStore, ServerOptions, TlsSource};
use backoffice::client::{BackofficeClient, ClientError, IdempotencyKey, Trust};
use backoffice::{AccountRef, CashDeposit, Config, CustomerId, LoadId};
use support::{Bench, T0};

/// A bench ledger with a running API server and one station.
struct Api {
    bench: Bench,
    server: Option<ApiServer>,
    cert: PathBuf,
    token: String,
}

impl Api {
    fn new() -> Self {
        let bench = Bench::new();
        let token = ApiStore::open(&bench.path())
            .expect("API tables")
            .add_station("TELLER-01", T0)
            .expect("station")
            .token;
        let cert = tls::dev_paths(bench.dir.path()).0;
        let mut api = Api {
            bench,
            server: None,
            cert,
            token,
        };
        api.start();
        api
    }

    fn start(&mut self) {
        let server = ApiServer::start(ServerOptions {
            ledger: self.bench.path(),
            ism: self.bench.ism.clone(),
            config: Config::default(),
            clock: self.bench.clock.clone(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: TlsSource::Dev {
                dir: self.bench.dir.path().to_path_buf(),
            },
            workers: 2,
            stop_on_signal: false,
        })
        .expect("server starts");
        self.server = Some(server);
    }

    fn restart(&mut self) {
        self.server
            .take()
            .expect("running")
            .shutdown()
            .expect("clean shutdown");
        self.start();
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr())
    }

    fn client_with(&self, token: &str) -> BackofficeClient {
        BackofficeClient::new(
            &self.url(),
            token,
            Trust::pinned_file(&self.cert).expect("dev certificate"),
        )
        .expect("client")
        .with_retries(1, Duration::from_millis(10))
    }

    fn client(&self) -> BackofficeClient {
        self.client_with(&self.token)
    }

    /// A customer created and funded through the API.
    fn funded_customer(&self, ecash: i64) -> CustomerId {
        let c = self.client();
        let id = CustomerId(
            c.create_customer("Asha Rao", &IdempotencyKey::new())
                .expect("customer")
                .id,
        );
        c.deposit_cash(
            &CashDeposit {
                customer: id,
                purse: Purse::Ecash,
                amount: ecash,
                reference: format!("RCPT-{}", id.0),
                teller: String::new(),
            },
            &IdempotencyKey::new(),
        )
        .expect("deposit");
        id
    }
}

fn error_body(body: &str) -> ErrorBody {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an error body ({e}): {body}"))
}

#[test]
fn missing_malformed_unknown_and_revoked_tokens_are_refused() {
    let api = Api::new();
    let c = api.client();

    // Health needs no token; everything else does.
    assert_eq!(c.health().unwrap().currency, "INR");
    let answer = c.send_with_headers("GET", "/v1/audit", &[], None).unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(error_body(&answer.body).code, "token_missing");
    let answer = c
        .send_with_headers(
            "POST",
            "/v1/customers",
            &[("Idempotency-Key", "k"), ("Authorization", "Bearer nope")],
            Some(r#"{"name":"Mallory"}"#),
        )
        .unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(error_body(&answer.body).code, "token_malformed");
    let answer = c
        .send_with_headers("GET", "/v1/audit", &[("Authorization", &api.token)], None)
        .unwrap();
    assert_eq!(answer.status, 401, "a token without `Bearer` is malformed");

    // A well-formed token nobody was given.
    let stranger = api.client_with(&format!("epst_{}", "ab".repeat(32)));
    let err = stranger
        .create_customer("Mallory", &IdempotencyKey::new())
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(401), Some("token_unknown"))
    );

    // The real token works, until it is revoked while the server runs.
    c.audit().expect("authorised");
    ApiStore::open(&api.bench.path())
        .unwrap()
        .revoke_station("TELLER-01", T0 + 1)
        .unwrap();
    let err = c.audit().unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("token_revoked"))
    );
    let err = c
        .create_customer("Asha", &IdempotencyKey::new())
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    // None of the refused calls created anything.
    let mut bo = api.bench.reopen();
    assert!(bo.customers().unwrap().is_empty());
    // A refusal never echoes a token.
    assert!(!err.to_string().contains(&api.token[5..]));
}

#[test]
fn malformed_json_and_bad_requests_get_400_with_a_message() {
    let api = Api::new();
    let c = api.client();
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "/v1/customers",
            Some("k1"),
            r#"{"name": "#,
            "malformed_json",
        ),
        ("/v1/customers", Some("k2"), "not json", "malformed_json"),
        (
            "/v1/customers",
            Some("k3"),
            r#"{"nom": "Asha"}"#,
            "invalid_request",
        ),
        (
            "/v1/customers",
            Some("k4"),
            r#"{"name": 7}"#,
            "invalid_request",
        ),
        (
            "/v1/customers",
            None,
            r#"{"name": "Asha"}"#,
            "idempotency_key_missing",
        ),
        (
            "/v1/deposits",
            Some("k5"),
            r#"{"customer": 1, "purse": "gold", "amount": 100, "reference": "R1"}"#,
            "invalid_request",
        ),
        (
            "/v1/loads",
            Some("k6"),
            r#"{"serial": "4550", "command": "00", "response": "00"}"#,
            "invalid_serial",
        ),
        (
            "/v1/loads",
            Some("k7"),
            r#"{"serial": "4550000000000001", "command": "zz", "response": "00"}"#,
            "invalid_hex",
        ),
        (
            "/v1/loads",
            Some("k8"),
            r#"{"serial": "4550000000000001", "command": "80500100", "response": "00"}"#,
            "invalid_card_data",
        ),
        (
            "/v1/loads/abc/complete",
            Some("k9"),
            r#"{"response": "00"}"#,
            "invalid_id",
        ),
    ];
    for (path, key, body, code) in cases {
        let answer = c.send_raw("POST", path, *key, Some(body)).unwrap();
        let error = error_body(&answer.body);
        assert_eq!(answer.status, 400, "{path} {body}: {error:?}");
        assert_eq!(error.code, *code, "{path} {body}: {error:?}");
        assert_eq!(error.error, "bad_request");
        assert!(
            error.message.len() > 20,
            "a message that says what to do: {error:?}"
        );
    }
    // An over-long body.
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(70_000));
    let answer = c
        .send_raw("POST", "/v1/customers", Some("k10"), Some(&big))
        .unwrap();
    assert_eq!(answer.status, 413);
    assert_eq!(error_body(&answer.body).code, "body_too_large");
    let answer = c.send_raw("GET", "/v1/loads?card=1", None, None).unwrap();
    assert_eq!(
        (answer.status, error_body(&answer.body).code.as_str()),
        (400, "invalid_query")
    );
    let answer = c
        .send_raw("GET", "/v1/loads?serial=12", None, None)
        .unwrap();
    assert_eq!(
        (answer.status, error_body(&answer.body).code.as_str()),
        (400, "invalid_serial")
    );
    assert_eq!(c.health().unwrap().key_version, api.bench.ism.key_version());
    // Unknown paths and methods answer JSON too.
    let answer = c.send_raw("GET", "/v2/anything", None, None).unwrap();
    assert_eq!(
        (answer.status, error_body(&answer.body).code.as_str()),
        (404, "no_route")
    );
    let answer = c.send_raw("DELETE", "/v1/audit", None, None).unwrap();
    assert_eq!(answer.status, 405);
    let mut bo = api.bench.reopen();
    assert!(bo.customers().unwrap().is_empty(), "nothing was created");
}

#[test]
fn replayed_idempotency_keys_return_the_stored_answer_and_post_once() {
    let mut api = Api::new();
    let c = api.client();
    let customer = c
        .create_customer("Asha Rao", &IdempotencyKey::new())
        .unwrap();
    let deposit = |reference: &str, amount: i64| {
        format!(
            r#"{{"customer": {}, "purse": "ecash", "amount": {amount}, "reference": "{reference}"}}"#,
            customer.id
        )
    };

    let first = c
        .send_raw(
            "POST",
            "/v1/deposits",
            Some("dep-1"),
            Some(&deposit("R-1", 50_000)),
        )
        .unwrap();
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    // The same request again, even with other whitespace and key order: the stored answer.
    let reordered = format!(
        r#"{{ "reference":"R-1", "amount":50000, "purse":"ecash", "customer":{} }}"#,
        customer.id
    );
    let again = c
        .send_raw("POST", "/v1/deposits", Some("dep-1"), Some(&reordered))
        .unwrap();
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert!(again.replayed);

    // The same key for another request: 422, nothing posted.
    let other = c
        .send_raw(
            "POST",
            "/v1/deposits",
            Some("dep-1"),
            Some(&deposit("R-2", 99_000)),
        )
        .unwrap();
    assert_eq!(other.status, 422);
    let error = error_body(&other.body);
    assert_eq!(
        (error.error.as_str(), error.code.as_str()),
        ("idempotency", "idempotency_key_reused")
    );
    // ... also on another path.
    let other = c
        .send_raw(
            "POST",
            "/v1/customers",
            Some("dep-1"),
            Some(r#"{"name":"Bob"}"#),
        )
        .unwrap();
    assert_eq!(other.status, 422);

    // The keys survive a restart of the server.
    api.restart();
    let c = api.client();
    let after_restart = c
        .send_raw(
            "POST",
            "/v1/deposits",
            Some("dep-1"),
            Some(&deposit("R-1", 50_000)),
        )
        .unwrap();
    assert_eq!(
        (after_restart.status, &after_restart.body),
        (201, &first.body)
    );
    assert!(after_restart.replayed);

    // Refusals are answers too: replayed, not re-run.
    let refused = c
        .send_raw(
            "POST",
            "/v1/deposits",
            Some("dep-2"),
            Some(&deposit("R-3", -5)),
        )
        .unwrap();
    assert_eq!(refused.status, 400);
    let refused_again = c
        .send_raw(
            "POST",
            "/v1/deposits",
            Some("dep-2"),
            Some(&deposit("R-3", -5)),
        )
        .unwrap();
    assert_eq!((refused_again.status, refused_again.replayed), (400, true));

    // The ledger holds exactly one deposit of 500.00.
    let mut bo = api.bench.reopen();
    let balances = bo.customer_balances(CustomerId(customer.id)).unwrap();
    assert_eq!((balances.ecash, balances.food), (50_000, 0));
    assert_eq!(bo.balance(AccountRef::Cash).unwrap(), -50_000);
    let report = bo.audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.discrepancies);
    assert_eq!(report.totals.deposited, 50_000);
    assert_eq!(bo.customers().unwrap().len(), 1);
    let view: DepositView = serde_json::from_str(&first.body).unwrap();
    assert_eq!(view.balance, 50_000);
}

#[test]
fn a_full_load_authorisation_through_the_api_against_a_software_card() {
    let mut api = Api::new();
    let customer = api.funded_customer(80_000);
    let mut card = api.bench.issue(customer);
    let c = api.client();

    let view = c.card(&card.serial).unwrap();
    assert_eq!(
        (view.customer, view.status.as_str()),
        (customer.0, "active")
    );
    assert!(view.unsettled_loads.is_empty());

    // INITIALIZE LOAD on the card → begin_load through the API → CREDIT LOAD → complete.
    let exchange = card.initialize_load(Purse::Ecash, 50_000, None).unwrap();
    let request = card.request(exchange);
    let key = IdempotencyKey::new();
    let auth = c.begin_load(&request, &key).unwrap();
    assert_eq!(
        (auth.purse, auth.amount.get(), auth.replayed),
        (Purse::Ecash, 50_000, false)
    );
    // A retry of the same call (lost answer) gets the same authorisation, nothing reserved twice.
    let retry = c.begin_load(&request, &key).unwrap();
    assert_eq!(retry, auth);
    let pending = c.unsettled_loads(Some(&card.serial)).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, "pending");
    assert_eq!(c.customer(customer).unwrap().balances.ecash, 30_000);

    let response = card
        .credit_load(&auth.credit_load)
        .expect("card accepts MAC2");
    let complete_key = IdempotencyKey::new();
    let done = c
        .complete_load(auth.load_id, &response, &complete_key)
        .unwrap();
    assert_eq!(
        (done.outcome.as_str(), done.load.state.as_str()),
        ("completed", "completed")
    );
    assert_eq!(done.load.balance_after, Some(50_000));
    let replay = c
        .complete_load(auth.load_id, &response, &complete_key)
        .unwrap();
    assert_eq!(replay, done);
    assert_eq!(card.purse(Purse::Ecash).balance, 50_000);

    // A second load over the remaining funds is refused with the refusal's code.
    let exchange = card.initialize_load(Purse::Ecash, 40_000, None).unwrap();
    let err = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap_err();
    assert!(err.is_refusal(), "{err}");
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("insufficient_funds"))
    );
    assert!(err.to_string().contains("300.00 INR"), "{err}");

    // A load the card refuses is released on the card's status word; a non-proof is refused.
    let exchange = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let auth = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap();
    let err = c
        .release_load(
            auth.load_id,
            StatusWord::from(0x6F00),
            &IdempotencyKey::new(),
        )
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("not_definitive"))
    );
    let released = c
        .release_load(
            auth.load_id,
            StatusWord::from(0x6985),
            &IdempotencyKey::new(),
        )
        .unwrap();
    assert_eq!(released.outcome, "released");

    // Unknown things are 404.
    let err = c.card(&"4550FFFFFFFFFFFF".parse().unwrap()).unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("unknown_card"))
    );
    let err = c.load(LoadId(999)).unwrap_err();
    assert_eq!(err.status(), Some(404));
    let err = c.customer(CustomerId(999)).unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("unknown_customer"))
    );

    // Recovery through the API after a restart: the card credited but the answer was lost.
    let exchange = card.initialize_load(Purse::Ecash, 20_000, None).unwrap();
    let auth = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap();
    card.credit_load(&auth.credit_load)
        .expect("credited; answer lost");
    api.restart();
    let c = api.client();
    let evidence = backoffice::CardEvidence {
        status: card.status(),
        proof: card.proof(Purse::Ecash, auth.counter),
    };
    let recovered = c
        .recover_load(auth.load_id, &evidence, &IdempotencyKey::new())
        .unwrap();
    assert_eq!(recovered.outcome, "completed");

    let audit = c.audit().unwrap();
    assert!(audit.clean, "{:?}", audit.discrepancies);
    assert_eq!(
        (
            audit.float_ecash,
            audit.customer_ecash,
            audit.loads_completed,
            audit.loads_released
        ),
        (70_000, 10_000, 2, 1)
    );
    assert_eq!(card.purse(Purse::Ecash).balance, 70_000);
    let mut bo = api.bench.reopen();
    assert!(bo.audit().unwrap().is_clean());
}

#[test]
fn tls_is_pinned_to_the_dev_certificate() {
    let api = Api::new();
    // The dev certificate was written next to the ledger; its key is private.
    let (cert, key) = tls::dev_paths(api.bench.dir.path());
    assert!(cert.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the dev key is readable by its owner only");
    }
    assert_eq!(api.client().health().unwrap().status, "ok");

    // A client pinning another certificate refuses the server.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = tls::ensure_dev_certificate(elsewhere.path()).unwrap();
    let client = BackofficeClient::new(&api.url(), &api.token, Trust::pinned_file(&other).unwrap())
        .unwrap()
        .with_retries(1, Duration::from_millis(10));
    match client.health() {
        Err(ClientError::Transport { message, .. }) => {
            assert!(message.to_lowercase().contains("certificate"), "{message}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    // Plain HTTP is refused by the client, and the server does not speak it.
    assert!(matches!(
        BackofficeClient::new(
            &format!("http://{}", api.addr()),
            &api.token,
            Trust::pinned_file(&cert).unwrap()
        ),
        Err(ClientError::Url { .. })
    ));
    let plain = ureq::get(&format!("http://{}/v1/health", api.addr()))
        .timeout(Duration::from_secs(5))
        .call();
    assert!(plain.is_err(), "no plain-HTTP answer");
    // The self-signed certificate also works as the client's CA (name checked: 127.0.0.1).
    let by_ca = BackofficeClient::new(&api.url(), &api.token, Trust::ca_file(&cert).unwrap())
        .unwrap()
        .with_retries(1, Duration::from_millis(10));
    assert_eq!(by_ca.health().unwrap().status, "ok");
    assert!(matches!(
        IdempotencyKey::from_text("has space"),
        Err(ClientError::InvalidKey(_))
    ));
    // The dev certificate is kept across restarts (clients keep their pin).
    let before = std::fs::read(&cert).unwrap();
    tls::ensure_dev_certificate(api.bench.dir.path()).unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), before);
}

#[test]
fn the_answer_of_begin_load_carries_no_secret_but_the_credit_load() {
    let mut api = Api::new();
    let customer = api.funded_customer(10_000);
    let mut card = api.bench.issue(customer);
    let c = api.client();
    let exchange = card.initialize_load(Purse::Ecash, 5_000, None).unwrap();
    let request = card.request(exchange);
    let body = serde_json::json!({
        "serial": request.serial.to_string(),
        "command": hex::encode(apdu_spec::ContractCommand::to_bytes(&request.command)),
        "response": hex::encode(request.response.to_bytes()),
    })
    .to_string();
    let answer = c
        .send_raw("POST", "/v1/loads", Some("L1"), Some(&body))
        .unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    let view: LoadAuthorisationView = serde_json::from_str(&answer.body).unwrap();
    let fields: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let names: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "amount",
            "counter",
            "credit_load",
            "load_id",
            "purse",
            "replayed",
            "serial"
        ]
    );
    // MAC1 (in the request) is not echoed.
    let mac1 = hex::encode_upper(request.response.mac1);
    assert!(!answer.body.to_uppercase().contains(&mac1));
    // The load view has neither MAC nor TAC.
    let load = c.load(LoadId(view.load_id)).unwrap();
    let text = serde_json::to_string(&load).unwrap();
    assert!(!text.contains("mac") && !text.contains("tac"), "{text}");
    let _: CustomerView = c.customer(customer).unwrap();
}

#[test]
fn concurrent_retries_of_one_key_post_once() {
    let api = Api::new();
    let c = api.client();
    let customer = c
        .create_customer("Asha Rao", &IdempotencyKey::new())
        .unwrap();
    let body = format!(
        r#"{{"customer": {}, "purse": "food", "amount": 12345, "reference": "R-RACE"}}"#,
        customer.id
    );
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let client = api.client();
                let body = body.clone();
                scope.spawn(move || {
                    client
                        .send_raw("POST", "/v1/deposits", Some("race-1"), Some(&body))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let originals = answers.iter().filter(|a| !a.replayed).count();
    assert_eq!(originals, 1, "{answers:?}");
    for answer in &answers {
        assert_eq!((answer.status, &answer.body), (201, &answers[0].body));
    }
    let mut bo = api.bench.reopen();
    assert_eq!(
        bo.customer_balances(CustomerId(customer.id)).unwrap().food,
        12_345
    );
    assert_eq!(bo.audit().unwrap().totals.deposited, 12_345);
}

#[test]
fn a_request_left_unanswered_by_a_dead_server_runs_again_on_retry() {
    use sha2::Digest;
    let api = Api::new();
    let c = api.client();
    let customer = c
        .create_customer("Asha Rao", &IdempotencyKey::new())
        .unwrap();
    let body = format!(
        r#"{{"customer":{},"purse":"ecash","amount":700,"reference":"R-CRASH"}}"#,
        customer.id
    );
    // What a server that died after claiming the key (before answering) leaves behind.
    let canonical: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fingerprint: [u8; 32] =
        sha2::Sha256::digest(format!("POST /v1/deposits\n{canonical}").as_bytes()).into();
    let mut store = ApiStore::open(&api.bench.path()).unwrap();
    assert_eq!(
        store
            .begin("TELLER-01", "crash-1", &fingerprint, "dead-server", T0)
            .unwrap(),
        backoffice::api::Idempotency::Proceed
    );
    let answer = c
        .send_raw("POST", "/v1/deposits", Some("crash-1"), Some(&body))
        .unwrap();
    assert_eq!(
        (answer.status, answer.replayed),
        (201, false),
        "{}",
        answer.body
    );
    let again = c
        .send_raw("POST", "/v1/deposits", Some("crash-1"), Some(&body))
        .unwrap();
    assert_eq!(
        (again.status, again.replayed, &again.body),
        (201, true, &answer.body)
    );
    let mut bo = api.bench.reopen();
    assert_eq!(
        bo.customer_balances(CustomerId(customer.id)).unwrap().ecash,
        700
    );
}

#[test]
fn the_server_refuses_to_start_on_bad_tls_material_or_a_foreign_file() {
    let bench = Bench::new();
    let options = |ledger: PathBuf, tls: TlsSource| ServerOptions {
        ledger,
        ism: bench.ism.clone(),
        config: Config::default(),
        clock: bench.clock.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls,
        workers: 1,
        stop_on_signal: false,
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cert_a = tls::ensure_dev_certificate(a.path()).unwrap();
    let key_b = tls::dev_paths(b.path()).1;
    tls::ensure_dev_certificate(b.path()).unwrap();

    let missing = ApiServer::start(options(
        bench.path(),
        TlsSource::Pem {
            cert: a.path().join("nope.pem"),
            key: key_b.clone(),
        },
    ))
    .unwrap_err();
    assert!(
        matches!(missing, backoffice::api::ApiError::Tls(_)),
        "{missing}"
    );
    let mismatched = ApiServer::start(options(
        bench.path(),
        TlsSource::Pem {
            cert: cert_a.clone(),
            key: key_b,
        },
    ))
    .unwrap_err();
    assert!(
        mismatched.to_string().contains("do not form a usable pair"),
        "{mismatched}"
    );
    let not_a_cert = ApiServer::start(options(
        bench.path(),
        TlsSource::Pem {
            cert: bench.path(),
            key: cert_a,
        },
    ))
    .unwrap_err();
    assert!(
        matches!(not_a_cert, backoffice::api::ApiError::Tls(_)),
        "{not_a_cert}"
    );

    // A file that is not a ledger is left alone.
    let foreign = a.path().join("notes.txt");
    std::fs::write(
        &foreign,
        b"not a database, just text that is long enough to matter..",
    )
    .unwrap();
    let before = std::fs::read(&foreign).unwrap();
    let err = ApiServer::start(options(
        foreign.clone(),
        TlsSource::Dev {
            dir: a.path().to_path_buf(),
        },
    ))
    .unwrap_err();
    assert!(
        matches!(err, backoffice::api::ApiError::Backoffice(_)),
        "{err}"
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
}
