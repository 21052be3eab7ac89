//! Customers, cash deposits, card issuance, status and issuer commands.

mod support;

use apdu_spec::{Challenge, ContractCommand, Purse, Serial, UnblockTarget};
use backoffice::{
    CardStatus, CashDeposit, CustomerId, Error, IsmError, IssueRequest, IssuerAction,
    IssuerSession, Refusal,
};
use support::*;

fn deposit(customer: CustomerId, amount: i64, reference: &str) -> CashDeposit {
    CashDeposit {
        customer,
        purse: Purse::Ecash,
        amount,
        reference: reference.to_owned(),
        teller: "teller-7".to_owned(),
    }
}

#[test]
fn customers_are_created_with_empty_accounts_and_checked_names() {
    let mut b = Bench::new();
    let asha = b.bo.create_customer("  Asha Rao ").unwrap();
    assert_eq!(asha.name, "Asha Rao");
    assert_eq!(asha.created_at, T0);
    let balances = b.bo.customer_balances(asha.id).unwrap();
    assert_eq!((balances.ecash, balances.food), (0, 0));
    for bad in ["", "   ", "tab\there", &"x".repeat(201)] {
        assert!(
            matches!(b.bo.create_customer(bad), Err(Error::Invalid(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        b.bo.customer(CustomerId(99)),
        Err(Error::Refused(Refusal::UnknownCustomer { customer: 99 }))
    ));
    assert_eq!(b.bo.customers().unwrap().len(), 1);
}

#[test]
fn deposits_are_idempotent_per_reference() {
    let mut b = Bench::new();
    let c = b.bo.create_customer("Ravi").unwrap().id;
    let first = b.bo.deposit_cash(&deposit(c, 50_000, "RCPT-1")).unwrap();
    assert!(!first.replayed);
    assert_eq!(first.balance, 50_000);
    let again = b.bo.deposit_cash(&deposit(c, 50_000, "RCPT-1")).unwrap();
    assert!(again.replayed);
    assert_eq!((again.id, again.transfer_id), (first.id, first.transfer_id));
    assert_eq!(b.bo.customer_balances(c).unwrap().ecash, 50_000);
    assert!(matches!(
        b.bo.deposit_cash(&deposit(c, 60_000, "RCPT-1")),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        b.bo.deposit_cash(&deposit(c, 0, "RCPT-2")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        b.bo.deposit_cash(&deposit(c, -5, "RCPT-2")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        b.bo.deposit_cash(&deposit(c, 100, "")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        b.bo.deposit_cash(&deposit(CustomerId(42), 100, "RCPT-3")),
        Err(Error::Refused(Refusal::UnknownCustomer { customer: 42 }))
    ));
    assert_eq!(b.bo.refusals().unwrap()[0].code, "unknown_customer");
    let food =
        b.bo.deposit_cash(&CashDeposit {
            purse: Purse::Food,
            ..deposit(c, 700, "RCPT-4")
        })
        .unwrap();
    assert_eq!(food.balance, 700);
    assert_eq!(b.bo.audit().unwrap().totals.deposited, 50_700);
}

#[test]
fn a_serial_is_issued_once() {
    let mut b = Bench::new();
    let asha = b.bo.create_customer("Asha").unwrap().id;
    let ravi = b.bo.create_customer("Ravi").unwrap().id;
    let s1 = b.bo.allocate_serial().unwrap();
    let s2 = b.bo.allocate_serial().unwrap();
    assert_eq!(s1, Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]));
    assert_eq!(s2, Serial([0x45, 0x50, 0, 0, 0, 0, 0, 2]));
    let request = IssueRequest {
        serial: s1,
        customer: asha,
        profile: profile(),
    };
    // Prepared twice (the first card was pulled): a new challenge, a new cryptogram.
    let a =
        b.bo.prepare_issue(&request, Challenge([1, 1, 1, 1]))
            .unwrap();
    let c =
        b.bo.prepare_issue(&request, Challenge([2, 2, 2, 2]))
            .unwrap();
    assert_ne!(a.cryptogram, c.cryptogram);
    assert_eq!(b.bo.card(&s1).unwrap().status, CardStatus::Personalising);
    // Not for someone else while personalising.
    let for_ravi = IssueRequest {
        customer: ravi,
        ..request.clone()
    };
    assert!(matches!(
        b.bo.prepare_issue(&for_ravi, Challenge([3; 4])),
        Err(Error::Conflict(_))
    ));
    // Not usable before confirmation.
    assert!(matches!(
        b.bo.set_card_status(&s1, CardStatus::Blocked),
        Err(Error::Refused(Refusal::CardNotIssued { .. }))
    ));
    let card = b.bo.confirm_issue(&s1).unwrap();
    assert_eq!(card.status, CardStatus::Active);
    assert_eq!(card.issued_at, Some(T0));
    assert_eq!(card.key_version, 1);
    assert_eq!(card.limits, limits());
    assert_eq!(b.bo.confirm_issue(&s1).unwrap().status, CardStatus::Active);
    // Never again, for anyone.
    for req in [&request, &for_ravi] {
        assert!(matches!(
            b.bo.prepare_issue(req, Challenge([4; 4])),
            Err(Error::Refused(Refusal::SerialAlreadyIssued { .. }))
        ));
    }
    assert!(matches!(
        b.bo.abandon_issue(&s1),
        Err(Error::Refused(Refusal::SerialAlreadyIssued { .. }))
    ));
    // An abandoned personalisation frees the serial.
    b.bo.prepare_issue(
        &IssueRequest {
            serial: s2,
            customer: ravi,
            profile: profile(),
        },
        Challenge([5; 4]),
    )
    .unwrap();
    b.bo.abandon_issue(&s2).unwrap();
    assert!(matches!(
        b.bo.card(&s2),
        Err(Error::Refused(Refusal::UnknownCard { .. }))
    ));
    assert!(matches!(
        b.bo.prepare_issue(
            &IssueRequest {
                serial: Serial([0; 8]),
                customer: asha,
                profile: profile(),
            },
            Challenge([6; 4])
        ),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        b.bo.prepare_issue(
            &IssueRequest {
                customer: CustomerId(77),
                ..request
            },
            Challenge([6; 4])
        ),
        Err(Error::Refused(Refusal::UnknownCustomer { .. }))
    ));
    assert_eq!(b.bo.cards_of(asha).unwrap().len(), 1);
    assert!(b.bo.cards_of(ravi).unwrap().is_empty());
}

#[test]
fn the_allocator_skips_serials_registered_by_hand() {
    let mut b = Bench::new();
    let asha = b.bo.create_customer("Asha").unwrap().id;
    let taken = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]);
    b.bo.prepare_issue(
        &IssueRequest {
            serial: taken,
            customer: asha,
            profile: profile(),
        },
        Challenge([1; 4]),
    )
    .unwrap();
    assert_eq!(
        b.bo.allocate_serial().unwrap(),
        Serial([0x45, 0x50, 0, 0, 0, 0, 0, 2])
    );
}

#[test]
fn issuer_commands_are_built_by_the_ism_for_issued_cards_only() {
    let mut b = Bench::new();
    let asha = b.customer("Asha", 0, 0);
    let card = b.issue(asha);
    let session = IssuerSession {
        serial: card.serial,
        key_version: 1,
        challenge: Challenge([9, 8, 7, 6]),
        admin_counter: 4,
    };
    let block =
        b.bo.issuer_command(&card.serial, session.challenge, 4, &IssuerAction::Block)
            .unwrap();
    assert_eq!(
        block.to_bytes(),
        b.ism.application_block(&session).unwrap().to_bytes()
    );
    let unblock =
        b.bo.issuer_command(
            &card.serial,
            session.challenge,
            4,
            &IssuerAction::Unblock(UnblockTarget::UnconnectedLoading),
        )
        .unwrap();
    assert_eq!(unblock.p1_byte(), 0x01);
    let limits_cmd =
        b.bo.issuer_command(
            &card.serial,
            session.challenge,
            4,
            &IssuerAction::SetLimits(limits()),
        )
        .unwrap();
    assert_eq!(limits_cmd.data_bytes().len(), 32);
    let pin =
        b.bo.issuer_command(
            &card.serial,
            session.challenge,
            4,
            &IssuerAction::PinUnblock(Some(apdu_spec::PinBlock::from_digits("4321").unwrap())),
        )
        .unwrap();
    assert_eq!((pin.p2_byte(), pin.data_bytes().len()), (0x01, 16));
    assert!(matches!(
        b.bo.issuer_command(
            &card.serial,
            session.challenge,
            0xFFFF,
            &IssuerAction::Block
        ),
        Err(Error::Ism(IsmError::AdminCounterExhausted))
    ));
    assert!(matches!(
        b.bo.issuer_command(&Serial([1; 8]), session.challenge, 0, &IssuerAction::Block),
        Err(Error::Refused(Refusal::UnknownCard { .. }))
    ));
    // Status follows what the card accepted.
    let blocked =
        b.bo.set_card_status(&card.serial, CardStatus::Blocked)
            .unwrap();
    assert_eq!(blocked.status, CardStatus::Blocked);
    assert!(matches!(
        b.bo.set_card_status(&card.serial, CardStatus::Personalising),
        Err(Error::Invalid(_))
    ));
    // Limits the card would refuse are refused.
    let mut bad = limits();
    bad.ecash_max_amount = apdu_spec::Amount::new(200_000).unwrap();
    assert!(matches!(
        b.bo.record_card_limits(&card.serial, bad),
        Err(Error::Invalid(_))
    ));
}
