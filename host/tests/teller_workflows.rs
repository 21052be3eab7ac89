//! The teller workflows (`host::teller`) against a scripted card (`MockTransport`) and a fake
//! back office that records every call: what is sent to the card, what is asked of the back
//! office, and — above all — that a lost exchange never releases or completes a load on a
//! guess, and that refusals stop before anything moves.

use std::cell::RefCell;

use apdu_spec::{
    Amount, Applet, Capabilities, Challenge, Command, ContractCommand, CreditLoad, Date, DateTime,
    Fci, GetChallenge, InitLoadResponse, InitializeLoad, Lifecycle, Limits, MccAllowlist,
    PersonalizePurse, PinBlock, Purse, PurseStatus, Serial, StatusWord, TerminalId,
};
use backoffice::{
    Card, CardEvidence, CardProfile, CardPurse, CardStatus, CashDeposit, Currency, Customer,
    CustomerBalances, CustomerId, DepositReceipt, Error, IssueRequest, IssuerAction, Load,
    LoadAuthorisation, LoadId, LoadRequest, LoadResolution, Refusal, ReleaseReason,
};
use host::card::CardClient;
use host::teller::{
    self, IssueOrder, LoadOrder, Office, OfficeError, OfficeResult, RefusalKind, TellerError,
};
use host::transport::mock::MockTransport;
use host::transport::TransportError;

const SERIAL: Serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 7]);
const READER: &str = "Mock Reader 00 00";

fn hexs(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn fci(lifecycle: Lifecycle) -> String {
    let blank = lifecycle == Lifecycle::Blank;
    let fci = Fci {
        applet: Applet::Purse,
        serial: if blank { Serial([0; 8]) } else { SERIAL },
        version: (1, 0),
        lifecycle,
        capabilities: Some(Capabilities(if blank { 0 } else { 0x0F })),
        key_version: Some(if blank { 0 } else { 1 }),
        batch_state: None,
        capacity: None,
    };
    hexs(&fci.to_bytes())
}

/// GET STATUS of an ACTIVE card, e-Cash load counter `ctr`, admin counter 5.
fn status(lifecycle: u8, ctr: u16) -> PurseStatus {
    let mut s = String::new();
    s += &format!("{lifecycle:02X} 01 03 03 03 03 0005 00001388 000007D0");
    s += &format!("00000000 {ctr:04X} 0000 000186A0 00004E20 00000000");
    s += "00000000 0000 0000 000186A0 00004E20 00000000";
    s += "00 0000 0000 0000 0000 0000 0000 0000 0000";
    s += &hexs(&SERIAL.0);
    PurseStatus::parse(&hex::decode(s.replace(' ', "")).unwrap()).unwrap()
}

fn select_cmd() -> String {
    hexs(
        &apdu_spec::Select {
            applet: Applet::Purse,
        }
        .to_bytes(),
    )
}

const GET_STATUS: &str = "805E000000";

fn init_load_cmd(amount: u32) -> InitializeLoad {
    InitializeLoad {
        purse: Purse::Ecash,
        key_version: 1,
        amount: Amount::new(amount).unwrap(),
        terminal: TerminalId([0, 0, 0, 0, 0, 1]),
        expiry: None,
    }
}

fn init_load_resp(ctr: u16) -> InitLoadResponse {
    InitLoadResponse {
        balance: Amount::new(0).unwrap(),
        counter: ctr,
        key_version: 1,
        rnd: [1, 2, 3, 4],
        mac1: [9; 8],
    }
}

fn credit_cmd() -> CreditLoad {
    CreditLoad {
        purse: Purse::Ecash,
        datetime: "2026-11-23T12:00:00".parse::<DateTime>().unwrap(),
        mac2: [7; 8],
    }
}

fn order(amount: i64) -> LoadOrder {
    LoadOrder {
        purse: Purse::Ecash,
        amount,
        expiry: None,
        terminal: TerminalId([0, 0, 0, 0, 0, 1]),
    }
}

/// A card in its purse-ready state: SELECT and GET STATUS answered.
fn active_card(ctr: u16) -> MockTransport {
    MockTransport::new(READER)
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Active)))
        .expect_apdu(
            GET_STATUS,
            &format!("{}9000", hexs(&status(2, ctr).to_bytes())),
        )
}

/// [`active_card`] at load counter 0 that then answers INITIALIZE LOAD of 5.00 with counter 1.
fn initialised_card() -> MockTransport {
    active_card(0).expect_apdu(
        &hexs(&init_load_cmd(500).to_bytes()),
        &format!("{}9000", hexs(&init_load_resp(1).to_bytes())),
    )
}

/// The kind of refusal `r` is, if it is one.
fn refusal<T>(r: &Result<T, TellerError>) -> Option<RefusalKind> {
    match r {
        Err(TellerError::Refused { kind, .. }) => Some(*kind),
        _ => None,
    }
}

fn limits() -> Limits {
    let a = |v| Amount::new(v).unwrap();
    Limits {
        ecash_max_balance: a(100_000),
        ecash_max_amount: a(20_000),
        food_max_balance: a(100_000),
        food_max_amount: a(20_000),
        no_pin_limit: a(5_000),
        uc_max: a(2_000),
    }
}

fn registry_card(status: CardStatus) -> Card {
    let purse = |p| CardPurse {
        purse: p,
        float: 0,
        load_counter: 0,
        seen_balance: None,
        seen_load_counter: None,
        seen_purchase_counter: None,
        seen_at: None,
    };
    Card {
        serial: SERIAL,
        customer: CustomerId(3),
        key_version: 1,
        status,
        limits: limits(),
        pin_try_limit: 3,
        uc_limit: 3,
        food_mccs: MccAllowlist::new(&[]).unwrap(),
        created_at: 0,
        issued_at: Some(0),
        ecash: purse(Purse::Ecash),
        food: purse(Purse::Food),
    }
}

/// A back office that answers from fields and records the calls made.
#[derive(Default)]
struct FakeOffice {
    calls: RefCell<Vec<String>>,
    begin: Option<Result<LoadAuthorisation, Refusal>>,
    card_status: Option<CardStatus>,
    personalising: bool,
}

impl FakeOffice {
    /// A back office that authorises the load ([`authorisation`]).
    fn authorising() -> FakeOffice {
        FakeOffice {
            begin: Some(Ok(authorisation())),
            ..FakeOffice::default()
        }
    }
    fn note(&self, call: impl Into<String>) {
        self.calls.borrow_mut().push(call.into());
    }
    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
    fn unsupported<T>(&self, what: &str) -> OfficeResult<T> {
        self.note(what);
        Err(OfficeError::Unreachable(format!("{what} not scripted")))
    }
}

impl Office for FakeOffice {
    fn currency(&self) -> Currency {
        Currency::INR
    }
    fn key_version(&self) -> u8 {
        1
    }
    fn create_customer(&mut self, _: &str) -> OfficeResult<Customer> {
        self.unsupported("create_customer")
    }
    fn customer(&mut self, id: CustomerId) -> OfficeResult<Customer> {
        self.note("customer");
        Ok(Customer {
            id,
            name: "Test".into(),
            created_at: 0,
        })
    }
    fn customer_balances(&mut self, _: CustomerId) -> OfficeResult<CustomerBalances> {
        self.unsupported("customer_balances")
    }
    fn cards_of(&mut self, _: CustomerId) -> OfficeResult<Vec<Card>> {
        self.note("cards_of");
        Ok(if self.personalising {
            vec![registry_card(CardStatus::Personalising)]
        } else {
            Vec::new()
        })
    }
    fn deposit_cash(&mut self, _: &CashDeposit) -> OfficeResult<DepositReceipt> {
        self.unsupported("deposit_cash")
    }
    fn card(&mut self, _: &Serial) -> OfficeResult<Card> {
        self.note("card");
        match self.card_status {
            Some(s) => Ok(registry_card(s)),
            None => Err(Error::Refused(Refusal::UnknownCard { serial: SERIAL }).into()),
        }
    }
    fn allocate_serial(&mut self) -> OfficeResult<Serial> {
        self.note("allocate_serial");
        Ok(SERIAL)
    }
    fn prepare_issue(&mut self, r: &IssueRequest, c: Challenge) -> OfficeResult<PersonalizePurse> {
        self.note(format!("prepare_issue {} {}", r.serial, hexs(&c.0)));
        Ok(personalize_cmd())
    }
    fn confirm_issue(&mut self, s: &Serial) -> OfficeResult<Card> {
        self.note(format!("confirm_issue {s}"));
        Ok(registry_card(CardStatus::Active))
    }
    fn abandon_issue(&mut self, s: &Serial) -> OfficeResult<()> {
        self.note(format!("abandon_issue {s}"));
        Ok(())
    }
    fn issuer_command(
        &mut self,
        _: &Serial,
        c: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
    ) -> OfficeResult<Command> {
        self.note(format!(
            "issuer_command {action:?} {} {admin_counter}",
            hexs(&c.0)
        ));
        Ok(apdu_spec::ApplicationBlock { mac_a: [0x33; 8] }.to_command())
    }
    fn set_card_status(&mut self, _: &Serial, status: CardStatus) -> OfficeResult<Card> {
        self.note(format!("set_card_status {}", status.as_str()));
        Ok(registry_card(status))
    }
    fn begin_load(&mut self, r: &LoadRequest) -> OfficeResult<LoadAuthorisation> {
        self.note(format!(
            "begin_load {} ctr {}",
            r.command.amount.get(),
            r.response.counter
        ));
        match self.begin.clone() {
            Some(Ok(a)) => Ok(a),
            Some(Err(refusal)) => Err(Error::Refused(refusal).into()),
            None => self.unsupported("begin_load result"),
        }
    }
    fn complete_load(
        &mut self,
        id: LoadId,
        _: &apdu_spec::CreditLoadResponse,
    ) -> OfficeResult<LoadResolution> {
        self.unsupported(&format!("complete_load {id}"))
    }
    fn release_load(&mut self, id: LoadId, reason: ReleaseReason) -> OfficeResult<LoadResolution> {
        self.note(format!("release_load {id} {reason:?}"));
        // A resolution cannot be built outside the back office: this fake refuses every
        // release, so the workflow's "not proven released" path is what runs here (the stack
        // tests cover a real release).
        Err(Error::Conflict("scripted".into()).into())
    }
    fn recover_load(&mut self, id: LoadId, _: &CardEvidence) -> OfficeResult<LoadResolution> {
        self.unsupported(&format!("recover_load {id}"))
    }
    fn pending_loads(&mut self, _: Option<&Serial>) -> OfficeResult<Vec<Load>> {
        self.note("pending_loads");
        Ok(Vec::new())
    }
    fn audit(&mut self) -> OfficeResult<backoffice::api::wire::AuditView> {
        self.unsupported("audit")
    }
}

fn authorisation() -> LoadAuthorisation {
    LoadAuthorisation {
        load_id: LoadId(41),
        serial: SERIAL,
        purse: Purse::Ecash,
        counter: 1,
        amount: Amount::new(500).unwrap(),
        credit_load: credit_cmd(),
        replayed: false,
    }
}

fn run_load(
    office: &mut FakeOffice,
    card: MockTransport,
    o: &LoadOrder,
) -> (Result<(), TellerError>, MockTransport) {
    let mut client = CardClient::new(card);
    let mut points = Vec::new();
    let r = teller::load(office, &mut client, o, &mut |p| points.push(p)).map(drop);
    (r, client.channel().transport().clone())
}

#[test]
fn bad_amount_and_expiry_are_refused_before_the_card_is_touched() {
    for (amount, expiry, purse) in [
        (0, None, Purse::Ecash),
        (-5, None, Purse::Ecash),
        (i64::from(u32::MAX), None, Purse::Ecash),
        (100, None, Purse::Food),
        (100, Some(Date::new(2030, 1, 1).unwrap()), Purse::Ecash),
    ] {
        let mut office = FakeOffice::default();
        let o = LoadOrder {
            purse,
            amount,
            expiry,
            ..order(0)
        };
        let (r, card) = run_load(&mut office, MockTransport::new(READER), &o);
        assert!(
            matches!(r, Err(TellerError::Invalid(_))),
            "{amount} {expiry:?}: {r:?}"
        );
        assert!(card.sent().is_empty());
        assert!(office.calls().is_empty());
    }
}

#[test]
fn blank_card_is_not_loaded() {
    let mut office = FakeOffice::default();
    let card = MockTransport::new(READER)
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Blank)));
    let (r, card) = run_load(&mut office, card, &order(500));
    assert_eq!(refusal(&r), Some(RefusalKind::Unknown), "{r:?}");
    card.finish().unwrap();
    assert!(office.calls().is_empty(), "{:?}", office.calls());
}

#[test]
fn card_limit_refusal_stops_before_the_back_office() {
    let mut office = FakeOffice::default();
    let card = active_card(0).expect_apdu(&hexs(&init_load_cmd(500).to_bytes()), "9404");
    let (r, card) = run_load(&mut office, card, &order(500));
    assert_eq!(refusal(&r), Some(RefusalKind::OverLimit), "{r:?}");
    card.finish().unwrap();
    assert_eq!(office.calls(), ["pending_loads"]);
}

#[test]
fn back_office_refusal_sends_no_credit_load() {
    let mut office = FakeOffice {
        begin: Some(Err(Refusal::InsufficientFunds {
            available: 100,
            requested: 500,
        })),
        ..FakeOffice::default()
    };
    let card = initialised_card();
    let (r, card) = run_load(&mut office, card, &order(500));
    match r {
        Err(TellerError::Refused {
            kind: RefusalKind::InsufficientFunds,
            message,
        }) => assert!(
            message.contains("1.00 INR") && message.contains("5.00 INR"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    card.finish().unwrap();
    assert_eq!(office.calls(), ["pending_loads", "begin_load 500 ctr 1"]);
}

#[test]
fn lost_credit_load_leaves_the_load_pending_and_nothing_guessed() {
    let mut office = FakeOffice::authorising();
    let card = initialised_card().expect_apdu_error(
        &hexs(&credit_cmd().to_bytes()),
        TransportError::CardRemoved {
            reader: READER.into(),
        },
    );
    let (r, card) = run_load(&mut office, card, &order(500));
    match r {
        Err(TellerError::Interrupted(msg)) => {
            assert!(msg.contains("load 41"), "{msg}");
            assert!(msg.contains("teller recover"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    card.finish().unwrap();
    // Neither released nor completed: only the card's evidence may settle it.
    assert_eq!(office.calls(), ["pending_loads", "begin_load 500 ctr 1"]);
}

#[test]
fn credit_load_refused_by_the_card_asks_for_release_with_the_status_word() {
    let mut office = FakeOffice::authorising();
    let card = initialised_card().expect_apdu(&hexs(&credit_cmd().to_bytes()), "9302");
    let (r, card) = run_load(&mut office, card, &order(500));
    card.finish().unwrap();
    let calls = office.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[2],
        format!(
            "release_load 41 {:?}",
            ReleaseReason::CardRefusedCredit(StatusWord::MacInvalid)
        )
    );
    // The fake refuses the release: the load must then be reported as still pending.
    assert!(matches!(r, Err(TellerError::Interrupted(_))), "{r:?}");
}

#[test]
fn issue_personalises_a_blank_card_and_confirms() {
    let mut office = FakeOffice::default();
    let personalize = personalize_cmd();
    let card = blank_card_challenged().expect_apdu(&hexs(&personalize.to_bytes()), "9000");
    let mut client = CardClient::new(card);
    let report = teller::issue(&mut office, &mut client, &issue_order()).unwrap();
    assert!(!report.resumed);
    client.channel().transport().finish().unwrap();
    assert_eq!(
        office.calls(),
        [
            "customer".to_owned(),
            "cards_of".to_owned(),
            "allocate_serial".to_owned(),
            format!("prepare_issue {SERIAL} A1B2C3D4"),
            format!("confirm_issue {SERIAL}"),
        ]
    );
}

/// The PERSONALIZE command [`FakeOffice`] prepares for every issue.
fn personalize_cmd() -> PersonalizePurse {
    PersonalizePurse {
        cryptogram: [0x11; 128],
        mac_p: [0x22; 8],
    }
}

/// A blank card that answers SELECT and then GET CHALLENGE with `A1B2C3D4`.
fn blank_card_challenged() -> MockTransport {
    MockTransport::new(READER)
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Blank)))
        .expect_apdu(&hexs(&GetChallenge.to_bytes()), "A1B2C3D49000")
}

fn issue_order() -> IssueOrder {
    IssueOrder {
        customer: CustomerId(3),
        profile: CardProfile {
            limits: limits(),
            pin: PinBlock::from_digits("1234").unwrap(),
            pin_try_limit: 3,
            uc_limit: 3,
            food_mccs: MccAllowlist::new(&[]).unwrap(),
        },
    }
}

#[test]
fn issue_interrupted_keeps_the_registration_and_refused_abandons_it() {
    let personalize = personalize_cmd();
    // Card pulled during PERSONALIZE: outcome unknown, nothing abandoned.
    let mut office = FakeOffice::default();
    let card = blank_card_challenged().expect_apdu_error(
        &hexs(&personalize.to_bytes()),
        TransportError::CardRemoved {
            reader: READER.into(),
        },
    );
    let mut client = CardClient::new(card);
    let r = teller::issue(&mut office, &mut client, &issue_order());
    assert!(matches!(r, Err(TellerError::Interrupted(_))), "{r:?}");
    assert!(!office
        .calls()
        .iter()
        .any(|c| c.starts_with("abandon") || c.starts_with("confirm")));

    // The card refused PERSONALIZE (it stays blank): the registration is abandoned.
    let mut office = FakeOffice {
        personalising: true,
        ..FakeOffice::default()
    };
    let card = blank_card_challenged()
        .expect_apdu(&hexs(&personalize.to_bytes()), "6A80")
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Blank)));
    let mut client = CardClient::new(card);
    let r = teller::issue(&mut office, &mut client, &issue_order());
    assert!(matches!(r, Err(TellerError::Card(_))), "{r:?}");
    let calls = office.calls();
    // The interrupted registration of this customer is reused, not a new serial.
    assert!(!calls.contains(&"allocate_serial".to_owned()), "{calls:?}");
    assert_eq!(calls.last().unwrap(), &format!("abandon_issue {SERIAL}"));

    // An ACTIVE card whose registration is still personalising: resumed (confirmed).
    let mut office = FakeOffice {
        card_status: Some(CardStatus::Personalising),
        ..FakeOffice::default()
    };
    let card = MockTransport::new(READER)
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Active)));
    let mut client = CardClient::new(card);
    let report = teller::issue(&mut office, &mut client, &issue_order()).unwrap();
    assert!(report.resumed);
    assert_eq!(
        office.calls().last().unwrap(),
        &format!("confirm_issue {SERIAL}")
    );
}

#[test]
fn block_sends_the_issuer_command_bound_to_challenge_and_admin_counter() {
    let mut office = FakeOffice {
        card_status: Some(CardStatus::Active),
        ..FakeOffice::default()
    };
    let block = apdu_spec::ApplicationBlock { mac_a: [0x33; 8] };
    let card = active_card(0)
        .expect_apdu(&hexs(&GetChallenge.to_bytes()), "010203049000")
        .expect_apdu(&hexs(&block.to_bytes()), "9000");
    let mut client = CardClient::new(card);
    let report = teller::block(&mut office, &mut client).unwrap();
    assert!(report.card_changed);
    assert_eq!(report.card.status, CardStatus::Blocked);
    client.channel().transport().finish().unwrap();
    assert_eq!(
        office.calls(),
        [
            "card",
            "issuer_command Block 01020304 5",
            "set_card_status blocked"
        ]
    );

    // Already blocked on the card: only the registry is brought in line.
    let mut office = FakeOffice {
        card_status: Some(CardStatus::Active),
        ..FakeOffice::default()
    };
    let card = MockTransport::new(READER)
        .expect_apdu(&select_cmd(), &format!("{}6283", fci(Lifecycle::Blocked)))
        .expect_apdu(
            GET_STATUS,
            &format!("{}9000", hexs(&status(3, 0).to_bytes())),
        );
    let mut client = CardClient::new(card);
    let report = teller::block(&mut office, &mut client).unwrap();
    assert!(!report.card_changed);
    assert_eq!(office.calls(), ["card", "set_card_status blocked"]);
}

#[test]
fn card_refusal_kinds_map_status_words() {
    assert_eq!(
        teller::card_refusal_kind(StatusWord::CardBlocked),
        Some(RefusalKind::CardBlocked)
    );
    assert_eq!(
        teller::card_refusal_kind(StatusWord::BalanceLimit),
        Some(RefusalKind::OverLimit)
    );
    assert_eq!(
        teller::card_refusal_kind(StatusWord::MacInvalid),
        Some(RefusalKind::MacFailure)
    );
    assert_eq!(teller::card_refusal_kind(StatusWord::Internal), None);
    assert_eq!(
        teller::refusal_kind(&Refusal::PendingLoad {
            serial: SERIAL,
            load_id: 1,
            purse: Purse::Ecash,
            counter: 1
        }),
        RefusalKind::PendingLoad
    );
}

#[test]
fn personalize_error_on_a_card_that_is_no_longer_blank_keeps_the_registration() {
    let personalize = personalize_cmd();
    let mut office = FakeOffice::default();
    let card = blank_card_challenged()
        .expect_apdu(&hexs(&personalize.to_bytes()), "6F00")
        .expect_apdu(&select_cmd(), &format!("{}9000", fci(Lifecycle::Active)));
    let mut client = CardClient::new(card);
    let r = teller::issue(&mut office, &mut client, &issue_order());
    assert!(matches!(r, Err(TellerError::Interrupted(_))), "{r:?}");
    client.channel().transport().finish().unwrap();
    assert!(
        !office.calls().iter().any(|c| c.starts_with("abandon")),
        "{:?}",
        office.calls()
    );
}
