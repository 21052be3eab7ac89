//! Every typed command builder against bytes written out by hand from SPEC.md 2.4 / 3.2, parsed
//! back, and put through the malformed classes (wrong CLA, Le dropped, Lc/data off by one,
//! truncated, bad P1/P2, invalid field values).

mod common;

use apdu_spec::*;
use common::{amount, dt, expiry, h, SERIAL};

const TERMINAL: TerminalId = TerminalId(*b"TELLR1"); // 54 45 4C 4C 52 31
const SAM: SamId = SamId(*b"SAM001"); // 53 41 4D 30 30 31

/// Builds, parses back, and checks the malformed classes every command shares.
fn check<C>(command: C, expected: &str, applet: Applet) -> Vec<u8>
where
    C: ContractCommand + PartialEq + std::fmt::Debug,
{
    let bytes = h(expected);
    assert_eq!(command.to_bytes(), bytes, "{command:?}");
    assert_eq!(C::parse(&bytes).unwrap(), command);
    assert_eq!(Command::parse(&bytes).unwrap(), command.to_command());
    match applet {
        Applet::Purse => {
            let any = PurseCommand::parse(&bytes).unwrap();
            assert_eq!(any.to_command().to_bytes(), bytes);
            assert!(TransferCommand::parse(&bytes).is_err() || C::INS.is_for(Applet::Transfer));
        }
        Applet::Transfer => {
            let any = TransferCommand::parse(&bytes).unwrap();
            assert_eq!(any.to_command().to_bytes(), bytes);
            assert!(PurseCommand::parse(&bytes).is_err() || C::INS.is_for(Applet::Purse));
        }
    }

    // another CLA
    let mut other_cla = bytes.clone();
    other_cla[0] ^= 0x10;
    assert!(matches!(
        C::parse(&other_cla),
        Err(SpecError::WrongCommand { .. })
    ));

    // truncated by two bytes
    assert!(C::parse(&bytes[..bytes.len() - 2]).is_err());

    let parsed = Command::parse(&bytes).unwrap();
    // Le dropped or added
    let toggled_le = match parsed.le_byte() {
        Some(_) => parsed.clone().without_le(),
        None => parsed.clone().le(0),
    };
    assert!(
        matches!(C::from_command(&toggled_le), Err(SpecError::BadLe { .. })),
        "{command:?}"
    );

    bytes
}

/// Appending one data byte must be refused (fixed-layout commands).
fn check_data_length<C: ContractCommand + std::fmt::Debug>(bytes: &[u8]) {
    let parsed = Command::parse(bytes).unwrap();
    let mut longer = parsed.data_bytes().to_vec();
    longer.push(0x00);
    let longer = parsed.clone().data(longer).unwrap();
    assert!(
        matches!(
            C::from_command(&longer),
            Err(SpecError::BadLength { .. } | SpecError::TooShort { .. })
        ),
        "{:?}",
        C::from_command(&longer)
    );
    if !parsed.data_bytes().is_empty() {
        let shorter = parsed.data_bytes()[..parsed.data_bytes().len() - 1].to_vec();
        let shorter = if shorter.is_empty() {
            Command::raw(
                parsed.cla_byte(),
                parsed.ins_byte(),
                parsed.p1_byte(),
                parsed.p2_byte(),
            )
        } else {
            parsed.clone().data(shorter).unwrap()
        };
        let shorter = match parsed.le_byte() {
            Some(le) => shorter.le(le),
            None => shorter,
        };
        assert!(C::from_command(&shorter).is_err());
    }
}

/// Replacing P1 (or P2) must be refused with a P1/P2 error.
fn check_bad_p<C: ContractCommand + std::fmt::Debug>(bytes: &[u8], index: usize, value: u8) {
    let mut bad = bytes.to_vec();
    bad[index] = value;
    assert!(
        matches!(C::parse(&bad), Err(SpecError::BadP1P2 { .. })),
        "{:?}",
        C::parse(&bad)
    );
}

#[test]
fn read_log() {
    let b = check(ReadLog { index: 3 }, "80 5C 03 00 00", Applet::Purse);
    check_bad_p::<ReadLog>(&b, 3, 0x01);
    check_data_length::<ReadLog>(&b);
}

#[test]
fn initialize_load() {
    let food = InitializeLoad {
        purse: Purse::Food,
        key_version: 1,
        amount: amount(1250),
        terminal: TERMINAL,
        expiry: Some(expiry()),
    };
    let b = check(
        food,
        "80 50 02 01 0E 000004E2 54454C4C5231 20261231 00",
        Applet::Purse,
    );
    check_bad_p::<InitializeLoad>(&b, 2, 0x03);
    check_data_length::<InitializeLoad>(&b);
    let ecash = InitializeLoad {
        purse: Purse::Ecash,
        key_version: 0,
        expiry: None,
        ..food
    };
    check(
        ecash,
        "80 50 01 00 0E 000004E2 54454C4C5231 00000000 00",
        Applet::Purse,
    );

    // amount above 7FFFFFFF, expiry not BCD, expiry month 13
    let mut big = b.clone();
    big[5] = 0x80;
    assert!(matches!(
        InitializeLoad::parse(&big),
        Err(SpecError::AmountTooLarge(_))
    ));
    let mut not_bcd = b.clone();
    not_bcd[17] = 0x1A;
    assert!(matches!(
        InitializeLoad::parse(&not_bcd),
        Err(SpecError::BadBcd { .. })
    ));
    let mut month = b.clone();
    month[17] = 0x13;
    assert!(matches!(
        InitializeLoad::parse(&month),
        Err(SpecError::BadValue { field: "month", .. })
    ));
}

#[test]
fn credit_load() {
    let c = CreditLoad {
        purse: Purse::Ecash,
        datetime: dt(),
        mac2: [1, 2, 3, 4, 5, 6, 7, 8],
    };
    let b = check(
        c,
        "80 52 01 00 0F 20261123143000 0102030405060708 00",
        Applet::Purse,
    );
    check_bad_p::<CreditLoad>(&b, 2, 0x00);
    check_bad_p::<CreditLoad>(&b, 3, 0x01);
    check_data_length::<CreditLoad>(&b);
    let mut hour = b.clone();
    hour[9] = 0x24;
    assert!(matches!(
        CreditLoad::parse(&hour),
        Err(SpecError::BadValue { field: "hour", .. })
    ));
}

#[test]
fn initialize_purchase() {
    let c = InitializePurchase {
        purse: Purse::Food,
        key_version: 2,
        amount: amount(1250),
        sam_id: SAM,
    };
    let b = check(c, "80 54 02 02 0A 000004E2 53414D303031 00", Applet::Purse);
    check_bad_p::<InitializePurchase>(&b, 2, 0xFF);
    check_data_length::<InitializePurchase>(&b);
}

#[test]
fn debit_purchase() {
    let c = DebitPurchase {
        purse: Purse::Food,
        sam_seq: 42,
        datetime: dt(),
        mcc: "5411".parse().unwrap(),
        mac1: [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8],
    };
    let b = check(
        c,
        "80 56 02 00 15 0000002A 20261123143000 5411 A1A2A3A4A5A6A7A8 00",
        Applet::Purse,
    );
    check_bad_p::<DebitPurchase>(&b, 3, 0x02);
    check_data_length::<DebitPurchase>(&b);
    let mut mcc = b.clone();
    mcc[17] = 0x5F;
    assert!(matches!(
        DebitPurchase::parse(&mcc),
        Err(SpecError::BadBcd { field: "MCC" })
    ));
}

#[test]
fn get_transaction_proof() {
    let c = GetTransactionProof {
        purse: Purse::Ecash,
        record_type: RecordType::Purchase,
        counter: 7,
    };
    let b = check(c, "80 5A 01 02 02 0007 00", Applet::Purse);
    check_bad_p::<GetTransactionProof>(&b, 3, 0x03); // TT 03 is not a record type
    check_bad_p::<GetTransactionProof>(&b, 2, 0x00);
    check_data_length::<GetTransactionProof>(&b);
    let u = GetTransactionProof {
        purse: Purse::Food,
        record_type: RecordType::UnconnectedLoad,
        counter: 0x1234,
    };
    check(u, "80 5A 02 04 02 1234 00", Applet::Purse);
}

#[test]
fn unconnected_load() {
    let c = UnconnectedLoad {
        purse: Purse::Food,
        amount: amount(1250),
        expiry: Some(expiry()),
        datetime: dt(),
        auth_code: 12_345_678,
    };
    let b = check(
        c,
        "80 58 02 00 13 000004E2 20261231 20261123143000 00BC614E 00",
        Applet::Purse,
    );
    check_bad_p::<UnconnectedLoad>(&b, 3, 0x01);
    check_data_length::<UnconnectedLoad>(&b);
}

#[test]
fn verify_pin_with_and_without_data() {
    let with = VerifyPin {
        pin: Some(PinBlock::from_digits("1234").unwrap()),
    };
    let b = check(with, "00 20 00 80 08 241234FFFFFFFFFF", Applet::Purse);
    check_bad_p::<VerifyPin>(&b, 3, 0x00);
    check_bad_p::<VerifyPin>(&b, 2, 0x01);
    let without = VerifyPin { pin: None };
    check(without, "00 20 00 80", Applet::Purse);
    // a data field that is not a format-2 PIN block
    assert!(matches!(
        VerifyPin::parse(&h("00 20 00 80 08 141234FFFFFFFFFF")),
        Err(SpecError::BadPin { .. })
    ));
    assert!(matches!(
        VerifyPin::parse(&h("00 20 00 80 07 241234FFFFFFFF")),
        Err(SpecError::TooShort { .. })
    ));
}

#[test]
fn change_pin() {
    let c = ChangePin {
        old: PinBlock::from_digits("1234").unwrap(),
        new: PinBlock::from_digits("987654").unwrap(),
    };
    let b = check(
        c,
        "00 24 00 80 10 241234FFFFFFFFFF 26987654FFFFFFFF",
        Applet::Purse,
    );
    check_bad_p::<ChangePin>(&b, 3, 0x81);
    check_data_length::<ChangePin>(&b);
}

#[test]
fn get_challenge_and_status_and_select_on_both_applets() {
    for applet in [Applet::Purse, Applet::Transfer] {
        check(GetChallenge, "00 84 00 00 04", applet);
        check(GetStatus, "80 5E 00 00 00", applet);
    }
    check(
        Select {
            applet: Applet::Purse,
        },
        "00 A4 04 00 08 F045505552534501 00",
        Applet::Purse,
    );
    check(
        Select {
            applet: Applet::Transfer,
        },
        "00 A4 04 00 08 F045505552534502 00",
        Applet::Transfer,
    );
}

#[test]
fn personalize_purse() {
    let c = PersonalizePurse {
        cryptogram: [0xC0; 128],
        mac_p: [0xDD; 8],
    };
    let expected = format!("84 60 00 00 88 {} {}", "C0".repeat(128), "DD".repeat(8));
    let b = check(c, &expected, Applet::Purse);
    check_bad_p::<PersonalizePurse>(&b, 2, 0x01);
    check_data_length::<PersonalizePurse>(&b);
    // the transfer card's 40-byte form is not a purse PERSONALIZE, and vice versa
    let transfer = PersonalizeTransfer {
        cryptogram: [0xC0; 32],
        mac_p: [0xDD; 8],
    };
    assert!(PersonalizePurse::from_command(&transfer.to_command()).is_err());
    assert!(PersonalizeTransfer::from_command(&c.to_command()).is_err());
}

#[test]
fn issuer_commands_and_their_mac_inputs() {
    let mac = [0xAA; 8];
    let block = ApplicationBlock { mac_a: mac };
    let b = check(block, "84 1E 00 00 08 AAAAAAAAAAAAAAAA", Applet::Purse);
    check_bad_p::<ApplicationBlock>(&b, 2, 0x01);
    check_data_length::<ApplicationBlock>(&b);
    assert_eq!(block.mac_input(), h("84 1E 00 00"));

    let card = ApplicationUnblock {
        target: UnblockTarget::Card,
        mac_a: mac,
    };
    check(card, "84 18 00 00 08 AAAAAAAAAAAAAAAA", Applet::Purse);
    let uc = ApplicationUnblock {
        target: UnblockTarget::UnconnectedLoading,
        mac_a: mac,
    };
    let b = check(uc, "84 18 01 00 08 AAAAAAAAAAAAAAAA", Applet::Purse);
    assert_eq!(uc.mac_input(), h("84 18 01 00"));
    check_bad_p::<ApplicationUnblock>(&b, 2, 0x02);
    check_bad_p::<ApplicationUnblock>(&b, 3, 0x01);

    let reset = PinUnblock {
        encrypted_pin: None,
        mac_a: mac,
    };
    let b = check(reset, "84 24 00 00 08 AAAAAAAAAAAAAAAA", Applet::Purse);
    check_bad_p::<PinUnblock>(&b, 3, 0x02);
    check_bad_p::<PinUnblock>(&b, 2, 0x01);
    assert_eq!(reset.mac_input(), h("84 24 00 00"));
    let new_pin = PinUnblock {
        encrypted_pin: Some([0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8]),
        mac_a: mac,
    };
    let b = check(
        new_pin,
        "84 24 00 01 10 E1E2E3E4E5E6E7E8 AAAAAAAAAAAAAAAA",
        Applet::Purse,
    );
    assert_eq!(new_pin.mac_input(), h("84 24 00 01 E1E2E3E4E5E6E7E8"));
    check_data_length::<PinUnblock>(&b);
    // mode 00 with 16 bytes, mode 01 with 8 bytes
    assert!(PinUnblock::parse(&h("84 24 00 00 10 E1E2E3E4E5E6E7E8 AAAAAAAAAAAAAAAA")).is_err());
    assert!(PinUnblock::parse(&h("84 24 00 01 08 AAAAAAAAAAAAAAAA")).is_err());

    let limits = Limits {
        ecash_max_balance: amount(1_000_000), // 000F4240
        ecash_max_amount: amount(200_000),    // 00030D40
        food_max_balance: amount(500_000),    // 0007A120
        food_max_amount: amount(100_000),     // 000186A0
        no_pin_limit: amount(50_000),         // 0000C350
        uc_max: amount(20_000),               // 00004E20
    };
    let set = SetLimits { limits, mac_a: mac };
    let limit_hex = "000F4240 00030D40 0007A120 000186A0 0000C350 00004E20";
    let b = check(
        set,
        &format!("84 72 00 00 20 {limit_hex} AAAAAAAAAAAAAAAA"),
        Applet::Purse,
    );
    assert_eq!(set.mac_input(), h(&format!("84 72 00 00 {limit_hex}")));
    check_data_length::<SetLimits>(&b);
    // MAX_AMOUNT above MAX_BALANCE
    let bad = h(&format!(
        "84 72 00 00 20 000F4240 000F4241 0007A120 000186A0 0000C350 00004E20 {}",
        "AA".repeat(8)
    ));
    assert!(matches!(
        SetLimits::parse(&bad),
        Err(SpecError::BadValue { .. })
    ));
}

fn ack() -> AckData {
    AckData {
        sam_id: SAM,
        batch_no: 5,
        result: AckResult::SomeRejected,
        credited: 123_456,
        accepted: 9,
        rejected: 1,
        datetime: dt(),
    }
}

const ACK_HEX: &str = "53414D303031 00000005 01 000000000001E240 00000009 00000001 20261123143000";

#[test]
fn transfer_commands() {
    let p = PersonalizeTransfer {
        cryptogram: [0xC0; 32],
        mac_p: [0xDD; 8],
    };
    let b = check(
        p,
        &format!("84 60 00 00 28 {} {}", "C0".repeat(32), "DD".repeat(8)),
        Applet::Transfer,
    );
    check_data_length::<PersonalizeTransfer>(&b);

    let w = WriteBatch::new(0x00F0, vec![1, 2, 3]).unwrap();
    check(w.clone(), "80 82 00 F0 03 010203", Applet::Transfer);
    assert!(WriteBatch::new(0, vec![]).is_err());
    assert!(WriteBatch::new(0, vec![0; 241]).is_err());
    assert!(WriteBatch::parse(&h("80 82 00 00 00")).is_err()); // no chunk (case 2: Le, no data)
    assert!(
        WriteBatch::from_command(&Command::new(Ins::WriteBatch).data(vec![0; 241]).unwrap())
            .is_err()
    );
    let chunks = WriteBatch::split(&[7u8; 500]).unwrap();
    assert_eq!(
        chunks
            .iter()
            .map(|c| (c.offset(), c.chunk().len()))
            .collect::<Vec<_>>(),
        [(0, 240), (240, 240), (480, 20)]
    );

    let b = check(
        FinishBatch { length: 106 },
        "80 84 00 00 02 006A",
        Applet::Transfer,
    );
    check_bad_p::<FinishBatch>(&b, 3, 0x01);
    check_data_length::<FinishBatch>(&b);

    check(
        ReadBatch {
            offset: 240,
            max_len: None,
        },
        "80 86 00 F0 00",
        Applet::Transfer,
    );
    check(
        ReadBatch {
            offset: 0x0102,
            max_len: Some(16),
        },
        "80 86 01 02 10",
        Applet::Transfer,
    );
    assert!(matches!(
        ReadBatch::parse(&h("80 86 00 00 F1")),
        Err(SpecError::BadLe {
            got: Some(0xF1),
            ..
        })
    ));
    assert!(ReadBatch::parse(&h("80 86 00 00 01 00 00")).is_err());

    let c = ClearBatch {
        ack: ack(),
        ack_sam: [0x5A; 8],
        ack_card: [0xCA; 8],
    };
    let b = check(
        c,
        &format!(
            "80 88 00 00 32 {ACK_HEX} {} {}",
            "5A".repeat(8),
            "CA".repeat(8)
        ),
        Applet::Transfer,
    );
    check_data_length::<ClearBatch>(&b);
    let mut bad_result = b.clone();
    bad_result[5 + 10] = 0x02;
    assert!(matches!(
        ClearBatch::parse(&bad_result),
        Err(SpecError::BadValue {
            field: "ACK RESULT",
            ..
        })
    ));

    let b = check(ReadAck, "80 8A 00 00 00", Applet::Transfer);
    check_bad_p::<ReadAck>(&b, 2, 0x01);
}

#[test]
fn commands_of_one_applet_are_unknown_to_the_other() {
    assert!(matches!(
        PurseCommand::parse(&h("80 8A 00 00 00")),
        Err(SpecError::UnknownCommand {
            applet: "purse applet",
            cla: 0x80,
            ins: 0x8A
        })
    ));
    assert!(matches!(
        TransferCommand::parse(&h("80 5C 00 00 00")),
        Err(SpecError::UnknownCommand { .. })
    ));
    assert!(matches!(
        PurseCommand::parse(&h("80 FF 00 00")),
        Err(SpecError::UnknownCommand { .. })
    ));
    assert!(matches!(
        PurseCommand::parse(&h("00 C0 00 00 10")),
        Err(SpecError::UnknownCommand { .. })
    ));
    assert!(matches!(
        PurseCommand::parse(&h("80 5E")),
        Err(SpecError::TooShort { .. })
    ));
}

#[test]
fn get_response_for_the_transport() {
    assert_eq!(GetResponse { le: 0x30 }.to_bytes(), h("00 C0 00 00 30"));
    assert_eq!(
        GetResponse::parse(&h("00 C0 00 00 00")).unwrap(),
        GetResponse { le: 0 }
    );
}

#[test]
fn serial_constant_matches_text() {
    assert_eq!(SERIAL.to_string(), "4550000000000001");
}
