//! The MAC-input builders against bytes written out by hand from SPEC.md 1.3–1.11, and a
//! consistency check with the `sam` crypto (session keys, TAC round trip).

mod common;

use apdu_spec::*;
use common::{amount, dt, expiry, h, SERIAL};

const S: &str = "4550000000000001";

fn record() -> TransactionRecord {
    TransactionRecord::parse(&h(
        "02 01 0007 000004E2 00000EA6 53414D303031 0000002A 20261123143000 5411 01",
    ))
    .unwrap()
}

#[test]
fn diversifier_and_code8() {
    assert_eq!(
        session_diversifier([0x11, 0x22, 0x33, 0x44], 8, TxType::Load, 0x01),
        [0x11, 0x22, 0x33, 0x44, 0x00, 0x08, 0x01, 0x01]
    );
    assert_eq!(
        session_diversifier([0; 4], 0x0102, TxType::UnconnectedLoad, 0x02),
        [0, 0, 0, 0, 0x01, 0x02, 0x04, 0x02]
    );
    assert_eq!(
        session_diversifier([9; 4], 3, TxType::Issuer, 0x72),
        [9, 9, 9, 9, 0, 3, 0x03, 0x72]
    );
    assert_eq!(code8(&[0xFF; 8]), 94_967_295); // 4294967295 mod 10^8
    assert_eq!(code8(&[0x05, 0xF5, 0xE1, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]), 0); // exactly 10^8
    assert_eq!(code8(&[0x00, 0xBC, 0x61, 0x4E, 0, 0, 0, 0]), 12_345_678);
}

#[test]
fn load_macs() {
    let load = LoadContext {
        serial: SERIAL,
        purse: Purse::Food,
        counter: 8,
        amount: amount(1250),
        terminal: TerminalId(*b"TELLR1"),
        expiry: Some(expiry()),
    };
    let mac1 = load_mac1_input(&load, amount(5000));
    assert_eq!(
        mac1,
        h(&format!(
            "11 {S} 02 0008 00001388 000004E2 54454C4C5231 20261231"
        ))
    );
    assert_eq!(mac1.len(), 30);
    let mac2 = load_mac2_input(&load, dt());
    assert_eq!(
        mac2,
        h(&format!(
            "12 {S} 02 0008 000004E2 54454C4C5231 20261231 20261123143000"
        ))
    );
    assert_eq!(mac2.len(), 33);

    // e-Cash: EXPIRY is 00×4
    let ecash = LoadContext {
        purse: Purse::Ecash,
        expiry: None,
        ..load
    };
    assert_eq!(&load_mac1_input(&ecash, amount(0))[26..], &[0, 0, 0, 0]);

    // the context from an INITIALIZE LOAD exchange
    let command = InitializeLoad {
        purse: Purse::Food,
        key_version: 0,
        amount: amount(1250),
        terminal: TerminalId(*b"TELLR1"),
        expiry: Some(expiry()),
    };
    let response = InitLoadResponse {
        balance: amount(5000),
        counter: 8,
        key_version: 1,
        rnd: [0; 4],
        mac1: [0; 8],
    };
    assert_eq!(LoadContext::new(SERIAL, &command, &response), load);
}

#[test]
fn purchase_macs() {
    let purchase = PurchaseContext {
        serial: SERIAL,
        purse: Purse::Ecash,
        counter: 7,
        amount: amount(1250),
    };
    let mac1 = purchase_mac1_input(
        &purchase,
        SamId(*b"SAM001"),
        42,
        dt(),
        "5411".parse().unwrap(),
    );
    assert_eq!(
        mac1,
        h(&format!(
            "21 {S} 01 0007 000004E2 53414D303031 0000002A 20261123143000 5411"
        ))
    );
    assert_eq!(mac1.len(), 35);
    let mac2 = purchase_mac2_input(&purchase, amount(3750), 42);
    assert_eq!(
        mac2,
        h(&format!("22 {S} 01 0007 000004E2 00000EA6 0000002A"))
    );
    assert_eq!(mac2.len(), 24);

    let command = InitializePurchase {
        purse: Purse::Ecash,
        key_version: 0,
        amount: amount(1250),
        sam_id: SamId(*b"SAM001"),
    };
    let response = InitPurchaseResponse {
        balance: amount(5000),
        counter: 7,
        key_version: 1,
        rnd: [0; 4],
    };
    assert_eq!(PurchaseContext::new(SERIAL, &command, &response), purchase);
}

#[test]
fn tac() {
    let input = tac_input(&SERIAL, &record());
    assert_eq!(
        input,
        h(&format!(
            "13 {S} 02 01 0007 000004E2 00000EA6 53414D303031 0000002A 20261123143000 5411 01"
        ))
    );
    assert_eq!(input.len(), 41);
    let settlement = SettlementRecord {
        serial: SERIAL,
        record: record(),
        tac: [0; 8],
    };
    assert_eq!(settlement_tac_input(&settlement), input);
}

#[test]
fn unconnected_codes() {
    let auth = unconnected_auth_input(&SERIAL, Purse::Food, 9, amount(1250), Some(expiry()));
    assert_eq!(auth, h(&format!("41 {S} 02 0009 000004E2 20261231")));
    assert_eq!(auth.len(), 20);
    let confirm = unconnected_confirm_input(&SERIAL, Purse::Food, 9, amount(1250));
    assert_eq!(confirm, h(&format!("42 {S} 02 0009 000004E2")));
    assert_eq!(confirm.len(), 16);
}

#[test]
fn admin_and_perso() {
    assert_eq!(admin_mac_input(0x84, 0x1E, 0x00, 0x00, &[]), h("841E0000"));
    assert_eq!(
        admin_mac_input(0x84, 0x24, 0x00, 0x01, &[0xE1; 8]),
        h("84240001 E1E1E1E1E1E1E1E1")
    );
    let c = [0xC0u8; 128];
    let input = perso_mac_input(&c);
    assert_eq!(&input[..4], &[0x84, 0x60, 0x00, 0x00]);
    assert_eq!(&input[4..], &c);
    assert_eq!(perso_mac_input(&[0xC0; 32]).len(), 36);
}

#[test]
fn seal_and_acks() {
    let header = BatchHeader::parse(&h(
        "01 53414D303031 00000005 20261123143000 00000001 00000000000004E2 00000000 0000000000000000 0000002A 0000002A",
    ))
    .unwrap();
    let settlement = SettlementRecord {
        serial: SERIAL,
        record: record(),
        tac: [0x77; 8],
    };
    let seal = seal_input(&header, &[settlement]);
    assert_eq!(seal.len(), 1 + 50 + 48);
    assert_eq!(seal[0], 0x50);
    assert_eq!(&seal[1..51], &header.to_bytes());
    assert_eq!(&seal[51..], &settlement.to_bytes()[..]);
    assert_eq!(seal_input(&header, &[]).len(), 51);

    let ack_hex = "53414D303031 00000005 00 00000000000004E2 00000001 00000000 20261124090000";
    let ack = AckData::parse(&h(ack_hex)).unwrap();
    let seal_mac = [0x5E; 8];
    let sam = ack_sam_input(&ack, &seal_mac);
    assert_eq!(sam, h(&format!("51 {ack_hex} 5E5E5E5E5E5E5E5E")));
    assert_eq!(sam.len(), 43);
    let xserial = Serial([0x58, 0, 0, 0, 0, 0, 0, 9]);
    let card = ack_card_input(&xserial, &ack, &seal_mac);
    assert_eq!(
        card,
        h(&format!("52 5800000000000009 {ack_hex} 5E5E5E5E5E5E5E5E"))
    );
    assert_eq!(card.len(), 51);
}

/// The diversifier laid out here is the one `sam::session_key` uses.
#[test]
fn session_diversifier_matches_sam_session_key() {
    let card_key = sam::Key16::from_hex("404142434445464748494A4B4C4D4E4F").unwrap();
    for (rnd, ctr, tt, x) in [
        ([1, 2, 3, 4], 1u16, TxType::Load, 1u8),
        ([0xFF; 4], 0xFFFE, TxType::AdminEnc, 0x24),
    ] {
        let ours = sam::diversify(&card_key, &session_diversifier(rnd, ctr, tt, x));
        let theirs = sam::session_key(&card_key, rnd, ctr, tt.code(), x);
        assert_eq!(ours.expose_secret(), theirs.expose_secret());
    }
}

/// A TAC computed over `tac_input` of a parsed record checks over the re-serialised record.
#[test]
fn tac_over_reparsed_record() {
    let k_tac = sam::diversify(
        &sam::Key16::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap(),
        &SERIAL.0,
    );
    let tac = sam::retail_mac_m2(&k_tac, &tac_input(&SERIAL, &record()));
    let settlement = SettlementRecord {
        serial: SERIAL,
        record: record(),
        tac,
    };
    let reparsed = SettlementRecord::parse(&settlement.to_bytes()).unwrap();
    assert_eq!(
        sam::retail_mac_m2(&k_tac, &settlement_tac_input(&reparsed)),
        reparsed.tac
    );
}
