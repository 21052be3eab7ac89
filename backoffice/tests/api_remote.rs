//! The API endpoints a remote teller station and settlement station need beyond loads: card
//! issuance (prepare/confirm/abandon), issuer commands, the registry status, refusals carried
//! whole, and settlement upload — on loopback against a real server and soft cards.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use apdu_spec::{
    tac_input, ClearBatch, ContractCommand, Date, DateTime, Mcc, Purse, RecordType, Serial,
    SettlementRecord, TransactionRecord, UnblockTarget,
};
use backoffice::api::wire::ErrorBody;
use backoffice::api::{tls, ApiServer, ApiStore, ServerOptions, TlsSource};
use backoffice::client::{BackofficeClient, IdempotencyKey, Trust};
use backoffice::settlement::SamIssueRequest;
use backoffice::{
    CardStatus, CashDeposit, Config, CustomerId, IssueRequest, IssuerAction, Refusal,
};
use sam::KeyName;
use support::*;

/// A bench ledger with a running API server and one station.
struct Api {
    bench: Bench,
    server: ApiServer,
    cert: PathBuf,
    token: String,
}

impl Api {
    fn new() -> Self {
        let bench = Bench::new();
        let token = ApiStore::open(&bench.path())
            .expect("API tables")
            .add_station("TELLER-07", T0)
            .expect("station")
            .token;
        let cert = tls::dev_paths(bench.dir.path()).0;
        let server = ApiServer::start(ServerOptions {
            ledger: bench.path(),
            ism: bench.ism.clone(),
            config: Config::default(),
            clock: bench.clock.clone(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: TlsSource::Dev {
                dir: bench.dir.path().to_path_buf(),
            },
            workers: 2,
            stop_on_signal: false,
        })
        .expect("server starts");
        Api {
            bench,
            server,
            cert,
            token,
        }
    }

    fn client(&self) -> BackofficeClient {
        BackofficeClient::new(
            &format!("https://{}", self.server.local_addr()),
            &self.token,
            Trust::pinned_file(&self.cert).expect("dev certificate"),
        )
        .expect("client")
        .with_retries(1, Duration::from_millis(10))
    }

    fn funded_customer(&self, ecash: i64) -> CustomerId {
        let c = self.client();
        let id = CustomerId(
            c.create_customer("Meera Iyer", &IdempotencyKey::new())
                .expect("customer")
                .id,
        );
        c.deposit_cash(
            &CashDeposit {
                customer: id,
                purse: Purse::Ecash,
                amount: ecash,
                reference: format!("RCPT-R-{}", id.0),
                teller: String::new(),
            },
            &IdempotencyKey::new(),
        )
        .expect("deposit");
        id
    }

    /// Issues a card through the API (serial, PERSONALIZE, confirm).
    fn issue(&self, customer: CustomerId) -> SoftCard {
        let c = self.client();
        let serial = c.allocate_serial(&IdempotencyKey::new()).expect("serial");
        let mut card = SoftCard::blank(&master_keys());
        let challenge = card.get_challenge();
        let request = IssueRequest {
            serial,
            customer,
            profile: profile(),
        };
        let command = c
            .prepare_issue(&request, challenge, &IdempotencyKey::new())
            .expect("prepare");
        card.personalize(&command)
            .expect("card accepts PERSONALIZE");
        let view = c
            .confirm_issue(&serial, &IdempotencyKey::new())
            .expect("confirm");
        assert_eq!(view.status, "active");
        card
    }
}

#[test]
fn a_card_is_issued_through_the_api_and_its_registry_entry_is_complete() {
    let api = Api::new();
    let customer = api.funded_customer(10_000);
    let card = api.issue(customer);
    let c = api.client();

    let view = c.card(&card.serial).unwrap();
    let p = profile();
    assert_eq!(
        (
            view.customer,
            view.status.as_str(),
            view.pin_try_limit,
            view.uc_limit
        ),
        (customer.0, "active", p.pin_try_limit, p.uc_limit)
    );
    assert_eq!(view.food_mccs, hex::encode_upper(p.food_mccs.to_bytes()));
    assert_eq!(
        view.limits.ecash_max_balance,
        p.limits.ecash_max_balance.get()
    );
    assert_eq!(
        c.customer(customer).unwrap().cards,
        vec![card.serial.to_string()]
    );
    // The registry has the same card the embedded back office sees.
    let mut bo = api.bench.reopen();
    let registered = bo.card(&card.serial).unwrap();
    assert_eq!(registered.status, CardStatus::Active);
    assert_eq!(registered.food_mccs, p.food_mccs);

    // A serial is issued once: the refusal comes back with its data.
    let mut blank = SoftCard::blank(&master_keys());
    let err = c
        .prepare_issue(
            &IssueRequest {
                serial: card.serial,
                customer,
                profile: profile(),
            },
            blank.get_challenge(),
            &IdempotencyKey::new(),
        )
        .unwrap_err();
    assert_eq!(
        err.refusal(),
        Some(Refusal::SerialAlreadyIssued {
            serial: card.serial
        })
    );
}

#[test]
fn an_abandoned_issue_leaves_no_card_and_the_serial_can_be_prepared_again() {
    let api = Api::new();
    let customer = api.funded_customer(10_000);
    let c = api.client();
    let serial = c.allocate_serial(&IdempotencyKey::new()).unwrap();
    let mut card = SoftCard::blank(&master_keys());
    let request = IssueRequest {
        serial,
        customer,
        profile: profile(),
    };
    c.prepare_issue(&request, card.get_challenge(), &IdempotencyKey::new())
        .unwrap();
    assert_eq!(c.card(&serial).unwrap().status, "personalising");
    c.abandon_issue(&serial, &IdempotencyKey::new()).unwrap();
    let err = c.card(&serial).unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::UnknownCard { serial }));
    // Confirming a card that is not personalising is refused, nothing registered.
    let err = c
        .confirm_issue(&serial, &IdempotencyKey::new())
        .unwrap_err();
    assert!(err.status().is_some_and(|s| s >= 400), "{err}");
    assert!(api.bench.reopen().card(&serial).is_err());
}

#[test]
fn refusals_carry_their_data_and_the_registry_status_blocks_loads() {
    let api = Api::new();
    let customer = api.funded_customer(30_000);
    let mut card = api.issue(customer);
    let c = api.client();

    let exchange = card.initialize_load(Purse::Ecash, 40_000, None).unwrap();
    let err = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap_err();
    assert_eq!(
        err.refusal(),
        Some(Refusal::InsufficientFunds {
            available: 30_000,
            requested: 40_000
        })
    );

    let blocked = c
        .set_card_status(&card.serial, CardStatus::Blocked, &IdempotencyKey::new())
        .unwrap();
    assert_eq!(blocked.status, "blocked");
    let exchange = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let err = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap_err();
    assert_eq!(
        err.refusal(),
        Some(Refusal::CardBlocked {
            serial: card.serial
        })
    );
    // Personalising is not a status a station may set.
    let raw = c
        .send_raw(
            "POST",
            &format!("/v1/cards/{}/status", card.serial),
            Some("status-personalising"),
            Some(r#"{"status":"personalising"}"#),
        )
        .unwrap();
    assert_eq!(raw.status, 400, "{}", raw.body);

    let active = c
        .set_card_status(&card.serial, CardStatus::Active, &IdempotencyKey::new())
        .unwrap();
    assert_eq!(active.status, "active");
    let exchange = card.initialize_load(Purse::Ecash, 10_000, None).unwrap();
    let auth = c
        .begin_load(&card.request(exchange), &IdempotencyKey::new())
        .unwrap();
    assert_eq!(auth.amount.get(), 10_000);
    assert!(api.bench.reopen().audit().unwrap().is_clean());
}

#[test]
fn issuer_commands_are_built_for_the_cards_challenge_and_bad_actions_are_400() {
    let api = Api::new();
    let customer = api.funded_customer(1_000);
    let mut card = api.issue(customer);
    let c = api.client();
    let challenge = card.get_challenge();
    let remote = c
        .issuer_command(
            &card.serial,
            challenge,
            0,
            &IssuerAction::Block,
            &IdempotencyKey::new(),
        )
        .unwrap();
    // The same command the embedded back office builds for the same inputs.
    let local = api
        .bench
        .reopen()
        .issuer_command(&card.serial, challenge, 0, &IssuerAction::Block)
        .unwrap();
    assert_eq!(remote.to_bytes(), local.to_bytes());
    let unblock = c
        .issuer_command(
            &card.serial,
            challenge,
            1,
            &IssuerAction::Unblock(UnblockTarget::Card),
            &IdempotencyKey::new(),
        )
        .unwrap();
    assert_ne!(unblock.to_bytes(), remote.to_bytes());

    let raw = c
        .send_raw(
            "POST",
            &format!("/v1/cards/{}/issuer-command", card.serial),
            Some("bad-action"),
            Some(r#"{"challenge":"00112233","admin_counter":0,"action":"explode"}"#),
        )
        .unwrap();
    assert_eq!(raw.status, 400);
    let body: ErrorBody = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(body.code, "invalid_action");
    assert!(body.refusal.is_none());
}

fn when() -> DateTime {
    DateTime::new(Date::new(2026, 3, 15).unwrap(), 12, 0, 0).unwrap()
}

const XSERIAL: Serial = Serial([0x58, 0x46, 0, 0, 0, 0, 0, 7]);

#[test]
fn a_batch_uploaded_through_the_api_is_credited_once_and_acknowledged() {
    let mut api = Api::new();
    let customer = api.bench.customer("Kiran", 20_000, 0);
    let mut card = api.bench.issue(customer);
    card.load(&mut api.bench.bo, Purse::Ecash, 20_000, None)
        .unwrap();
    let sam = api
        .bench
        .bo
        .sam_issue(&SamIssueRequest {
            merchant_id: "M-CAFE".into(),
            merchant_name: "Station Cafe".into(),
            mcc: Mcc::new(5812).unwrap(),
            food: false,
        })
        .unwrap();
    let state = card.purse_mut(Purse::Ecash);
    state.balance -= 4_500;
    state.purchase_counter += 1;
    let record = TransactionRecord {
        record_type: RecordType::Purchase,
        purse: Purse::Ecash,
        counter: state.purchase_counter,
        amount: amount(4_500),
        balance: amount(state.balance),
        terminal: sam.profile().sam_id.0,
        sam_seq: 1,
        datetime: when(),
        mcc: sam.profile().mcc,
        flags: 0,
    };
    let k_tac = sam::diversify(master_keys().get(KeyName::Tac), &card.serial.0);
    let tac = sam::retail_mac_m2(&k_tac, &tac_input(&card.serial, &record));
    let batch = sam::batch::seal_batch(
        sam.settlement_key(),
        sam.profile().sam_id,
        1,
        when(),
        vec![SettlementRecord {
            serial: card.serial,
            record,
            tac,
        }],
    )
    .unwrap();
    let c = api.client();
    let key = IdempotencyKey::new();
    let view = c.upload_batch(&batch.to_bytes(), &XSERIAL, &key).unwrap();
    assert_eq!(
        (
            view.merchant_id.as_str(),
            view.accepted,
            view.rejected,
            view.credited,
            view.replayed
        ),
        ("M-CAFE", 1, 0, 4_500, false)
    );
    let clear = ClearBatch::parse(&hex::decode(&view.clear).unwrap()).unwrap();
    let local = api
        .bench
        .reopen()
        .settlement(sam.profile().sam_id, 1)
        .unwrap();
    assert_eq!(clear, local.clear);
    // A retry with the same key replays; a new upload of the same batch settles nothing again.
    assert_eq!(
        c.upload_batch(&batch.to_bytes(), &XSERIAL, &key).unwrap(),
        view
    );
    let again = c
        .upload_batch(&batch.to_bytes(), &XSERIAL, &IdempotencyKey::new())
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.clear, view.clear);

    // A tampered batch is refused whole (422, the rejection's code), nothing credited.
    let mut bytes = batch.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let err = c
        .upload_batch(&bytes, &XSERIAL, &IdempotencyKey::new())
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert!(err.is_refusal());
    let raw = c
        .send_raw(
            "POST",
            "/v1/settlement/batches",
            Some("not-hex"),
            Some(r#"{"batch":"zz","xserial":"5846000000000007"}"#),
        )
        .unwrap();
    assert_eq!(raw.status, 400);

    let mut bo = api.bench.reopen();
    assert!(bo.audit().unwrap().is_clean());
    assert!(bo.settlement_audit().unwrap().is_empty());
    assert_eq!(bo.merchant("M-CAFE").unwrap().balance, 4_500);
}
