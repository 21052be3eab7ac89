//! Every response parser against bytes written out by hand from SPEC.md, both ways, and each
//! malformed class: too short, too long, field values the contract forbids.

mod common;

use apdu_spec::*;
use common::{amount, dt, h};

/// Too short and too long are refused with the matching error.
fn check_lengths<T: std::fmt::Debug>(good: &[u8], parse: impl Fn(&[u8]) -> Result<T>) {
    assert!(
        matches!(
            parse(&good[..good.len() - 1]),
            Err(SpecError::TooShort { .. })
        ),
        "{:?}",
        parse(&good[..good.len() - 1])
    );
    let mut long = good.to_vec();
    long.push(0);
    assert!(
        matches!(parse(&long), Err(SpecError::BadLength { .. })),
        "{:?}",
        parse(&long)
    );
    assert!(parse(&[]).is_err());
}

#[test]
fn init_load_response() {
    let bytes = h("00001388 0008 01 01 11223344 B1B1B1B1B1B1B1B1");
    let r = InitLoadResponse::parse(&bytes).unwrap();
    assert_eq!(
        r,
        InitLoadResponse {
            balance: amount(5000),
            counter: 8,
            key_version: 1,
            rnd: [0x11, 0x22, 0x33, 0x44],
            mac1: [0xB1; 8]
        }
    );
    assert_eq!(r.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, InitLoadResponse::parse);
    let mut alg = bytes.clone();
    alg[7] = 0x02;
    assert!(matches!(
        InitLoadResponse::parse(&alg),
        Err(SpecError::BadValue { field: "ALG", .. })
    ));
    let mut bal = bytes.clone();
    bal[0] = 0x80;
    assert!(matches!(
        InitLoadResponse::parse(&bal),
        Err(SpecError::AmountTooLarge(_))
    ));
}

#[test]
fn credit_load_response() {
    let bytes = h("0000189A 7777777777777777");
    let r = CreditLoadResponse::parse(&bytes).unwrap();
    assert_eq!(
        r,
        CreditLoadResponse {
            balance: amount(6298),
            tac: [0x77; 8]
        }
    );
    assert_eq!(r.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, CreditLoadResponse::parse);
}

#[test]
fn init_purchase_response() {
    let bytes = h("00001388 0007 02 01 A0A1A2A3");
    let r = InitPurchaseResponse::parse(&bytes).unwrap();
    assert_eq!(
        r,
        InitPurchaseResponse {
            balance: amount(5000),
            counter: 7,
            key_version: 2,
            rnd: [0xA0, 0xA1, 0xA2, 0xA3]
        }
    );
    assert_eq!(r.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, InitPurchaseResponse::parse);
    let mut alg = bytes.clone();
    alg[7] = 0x00;
    assert!(InitPurchaseResponse::parse(&alg).is_err());
}

#[test]
fn debit_purchase_response() {
    let bytes = h("00000EA6 2222222222222222 7777777777777777");
    let r = DebitPurchaseResponse::parse(&bytes).unwrap();
    assert_eq!(
        r,
        DebitPurchaseResponse {
            balance: amount(3750),
            mac2: [0x22; 8],
            tac: [0x77; 8]
        }
    );
    assert_eq!(r.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, DebitPurchaseResponse::parse);
}

#[test]
fn unconnected_load_response() {
    let bytes = h("00001388 05F5E0FF");
    let r = UnconnectedLoadResponse::parse(&bytes).unwrap();
    assert_eq!(
        r,
        UnconnectedLoadResponse {
            balance: amount(5000),
            confirm_code: 99_999_999
        }
    );
    assert_eq!(r.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, UnconnectedLoadResponse::parse);
    assert!(matches!(
        UnconnectedLoadResponse::parse(&h("00001388 05F5E100")),
        Err(SpecError::BadValue {
            field: "CONFIRM",
            ..
        })
    ));
}

#[test]
fn challenge() {
    let r = Challenge::parse(&h("DEADBEEF")).unwrap();
    assert_eq!(r.0, [0xDE, 0xAD, 0xBE, 0xEF]);
    check_lengths(&h("DEADBEEF"), Challenge::parse);
}

/// GET STATUS of an ACTIVE card, laid out from the SPEC 2.5 table.
fn status_hex() -> String {
    [
        "02 01 03 03 02 03", // ACTIVE, KV 1, PIN 3/3, UC 2/3
        "0005",              // admin counter 5
        "0000C350",          // no-PIN limit 50000
        "00004E20",          // UC_MAX 20000
        // e-Cash: balance 5000, loads 8, purchases 7, max balance 1000000, max amount 200000, no expiry
        "00001388 0008 0007 000F4240 00030D40 00000000",
        // Food: balance 2500, loads 1, purchases 0, max 500000 / 100000, expiry 2026-12-31
        "000009C4 0001 0000 0007A120 000186A0 20261231",
        "02 5411 5812 0000 0000 0000 0000 0000 0000", // 2 food MCCs
        "4550000000000001",                           // SERIAL
    ]
    .join(" ")
}

#[test]
fn purse_status() {
    let bytes = h(&status_hex());
    assert_eq!(bytes.len(), 81);
    let s = PurseStatus::parse(&bytes).unwrap();
    assert_eq!(s.lifecycle, Lifecycle::Active);
    assert_eq!(
        (
            s.key_version,
            s.pin_tries_left,
            s.pin_try_limit,
            s.uc_attempts_left,
            s.uc_limit
        ),
        (1, 3, 3, 2, 3)
    );
    assert_eq!(s.admin_counter, 5);
    assert_eq!(s.no_pin_limit, amount(50_000));
    assert_eq!(s.uc_max, amount(20_000));
    assert_eq!(
        s.ecash,
        PurseBlock {
            balance: amount(5000),
            load_counter: 8,
            purchase_counter: 7,
            max_balance: amount(1_000_000),
            max_amount: amount(200_000),
            expiry: None
        }
    );
    assert_eq!(s.purse(Purse::Food).balance, amount(2500));
    assert_eq!(s.food.expiry, Some("2026-12-31".parse().unwrap()));
    assert_eq!(
        s.food_mccs.allowed(),
        ["5411".parse().unwrap(), "5812".parse::<Mcc>().unwrap()]
    );
    assert_eq!(s.serial.to_string(), "4550000000000001");
    assert_eq!(s.to_bytes(), bytes);
    check_lengths(&bytes, PurseStatus::parse);

    // BLANK: every field after the first is zero
    let mut blank = vec![0u8; 81];
    blank[0] = 0x01;
    let b = PurseStatus::parse(&blank).unwrap();
    assert_eq!(b.lifecycle, Lifecycle::Blank);
    assert!(b.serial.is_zero() && b.food_mccs.count() == 0);
    assert_eq!(b.to_bytes(), blank);

    let with = |i: usize, v: u8| {
        let mut b = bytes.clone();
        b[i] = v;
        PurseStatus::parse(&b)
    };
    assert_eq!(with(0, 0x04), Err(SpecError::UnknownLifecycle(4)));
    assert!(matches!(with(16, 0x80), Err(SpecError::AmountTooLarge(_)))); // e-Cash balance
    assert!(matches!(
        with(54, 0x13),
        Err(SpecError::BadValue { field: "month", .. })
    )); // food expiry
    assert!(matches!(with(56, 9), Err(SpecError::BadValue { .. }))); // 9 MCCs
                                                                     // MCC slots are kept as the card stores them (it checks only the count)
    for (i, v) in [(57, 0xA4), (62, 0x01)] {
        let mut raw = bytes.clone();
        raw[i] = v;
        let s = PurseStatus::parse(&raw).unwrap();
        assert!(!s.food_mccs.is_canonical());
        assert_eq!(s.to_bytes(), raw);
    }
}

#[test]
fn log_entry_and_proof() {
    let rec = "02 01 0007 000004E2 00001388 53414D303031 0000002A 20261123143000 5411 01";
    let entry = h(&format!("{rec} 7777777777777777"));
    let e = LogEntry::parse(&entry).unwrap();
    assert_eq!(e.record.record_type, RecordType::Purchase);
    assert_eq!(e.record.terminal, *b"SAM001");
    assert_eq!(e.record.sam_seq, 42);
    assert_eq!(e.record.datetime, dt());
    assert!(e.record.pin_verified());
    assert_eq!(e.tac, [0x77; 8]);
    assert_eq!(e.to_bytes(), entry);
    check_lengths(&entry, LogEntry::parse);

    let proof = h(&format!("{rec} 7777777777777777 2222222222222222"));
    let p = TransactionProof::parse(&proof).unwrap();
    assert_eq!((p.record, p.tac, p.mac2), (e.record, [0x77; 8], [0x22; 8]));
    assert_eq!(p.to_bytes(), proof);
    check_lengths(&proof, TransactionProof::parse);

    // An unconnected load record: TT 04, TERMINAL and SAMSEQ zero, no MCC, MAC2 zero in the proof.
    let uc = h("04 02 0009 000004E2 00001388 000000000000 00000000 20261123143000 0000 00 7777777777777777 0000000000000000");
    let p = TransactionProof::parse(&uc).unwrap();
    assert_eq!(p.record.record_type, RecordType::UnconnectedLoad);
    assert_eq!(p.record.mcc, Mcc::NONE);
    assert_eq!(p.to_bytes(), uc);
}

#[test]
fn transfer_status() {
    let bytes = h("02 02 2000 006A 5800000000000009");
    let s = TransferStatus::parse(&bytes).unwrap();
    assert_eq!(
        s,
        TransferStatus {
            lifecycle: Lifecycle::Active,
            batch_state: BatchState::Sealed,
            capacity: 0x2000,
            length: 106,
            xserial: Serial([0x58, 0, 0, 0, 0, 0, 0, 9])
        }
    );
    assert_eq!(s.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, TransferStatus::parse);
    let mut state = bytes.clone();
    state[1] = 0x04;
    assert_eq!(
        TransferStatus::parse(&state),
        Err(SpecError::UnknownBatchState(4))
    );
}

const HEADER_HEX: &str = "01 53414D303031 00000005 20261123143000 00000001 00000000000004E2 00000000 0000000000000000 0000002A 0000002A";
const REC_HEX: &str = "02 01 0007 000004E2 00001388 53414D303031 0000002A 20261123143000 5411 01";

#[test]
fn batch_header_and_batch() {
    let header_bytes = h(HEADER_HEX);
    assert_eq!(header_bytes.len(), 50);
    let header = BatchHeader::parse(&header_bytes).unwrap();
    assert_eq!(header.sam_id, SamId(*b"SAM001"));
    assert_eq!(
        (header.batch_no, header.ecash_count, header.ecash_total),
        (5, 1, 1250)
    );
    assert_eq!((header.first_sam_seq, header.last_sam_seq), (42, 42));
    assert_eq!(header.record_count(), 1);
    assert_eq!(header.batch_len(), 106);
    assert_eq!(header.to_bytes().to_vec(), header_bytes);
    check_lengths(&header_bytes, BatchHeader::parse);
    let mut format = header_bytes.clone();
    format[0] = 0x02;
    assert!(matches!(
        BatchHeader::parse(&format),
        Err(SpecError::BadValue {
            field: "batch FORMAT",
            ..
        })
    ));

    let settlement = h(&format!("4550000000000001 {REC_HEX} 7777777777777777"));
    let record = SettlementRecord::parse(&settlement).unwrap();
    assert_eq!(record.to_bytes(), settlement);
    check_lengths(&settlement, SettlementRecord::parse);

    let batch_bytes = h(&format!(
        "{HEADER_HEX} 4550000000000001 {REC_HEX} 7777777777777777 5E5E5E5E5E5E5E5E"
    ));
    assert_eq!(batch_bytes.len(), 106);
    let batch = Batch::parse(&batch_bytes).unwrap();
    assert_eq!(batch.header, header);
    assert_eq!(batch.records, [record]);
    assert_eq!(batch.seal, [0x5E; 8]);
    assert_eq!(batch.to_bytes(), batch_bytes);
    // a record missing or an extra byte: length does not match N
    assert!(matches!(
        Batch::parse(&batch_bytes[..batch_bytes.len() - 1]),
        Err(SpecError::BadValue { .. })
    ));
    let mut extra = batch_bytes.clone();
    extra.push(0);
    assert!(Batch::parse(&extra).is_err());
    assert!(matches!(
        Batch::parse(&batch_bytes[..57]),
        Err(SpecError::TooShort { .. })
    ));
    // a header with N = 0 and just the seal
    let mut empty_header = header;
    empty_header.ecash_count = 0;
    let empty = Batch {
        header: empty_header,
        records: vec![],
        seal: [1; 8],
    };
    assert_eq!(empty.to_bytes().len(), 58);
    assert_eq!(Batch::parse(&empty.to_bytes()).unwrap(), empty);
}

#[test]
fn ack_data_and_read_ack() {
    let ack_hex = "53414D303031 00000005 00 00000000000004E2 00000001 00000000 20261124090000";
    let bytes = h(ack_hex);
    let ack = AckData::parse(&bytes).unwrap();
    assert_eq!(ack.result, AckResult::AllAccepted);
    assert_eq!((ack.credited, ack.accepted, ack.rejected), (1250, 1, 0));
    assert_eq!(ack.to_bytes().to_vec(), bytes);
    check_lengths(&bytes, AckData::parse);

    let read = h(&format!("{ack_hex} 5A5A5A5A5A5A5A5A"));
    let r = ReadAckResponse::parse(&read).unwrap();
    assert_eq!((r.ack, r.ack_sam), (ack, [0x5A; 8]));
    assert_eq!(r.to_bytes(), read);
    check_lengths(&read, ReadAckResponse::parse);
}

#[test]
fn response_apdu_and_typed_dispatch() {
    let raw = h(&format!("{} 9000", status_hex()));
    let response = Response::parse(&raw).unwrap();
    assert_eq!(response.sw, StatusWord::Ok);
    let typed = PurseResponse::parse(
        &PurseCommand::GetStatus(GetStatus),
        response.success_data().unwrap(),
    )
    .unwrap();
    assert!(matches!(typed, PurseResponse::Status(_)));
    assert_eq!(typed.to_bytes(), response.data);

    let verify = PurseCommand::VerifyPin(VerifyPin { pin: None });
    assert_eq!(
        PurseResponse::parse(&verify, &[]).unwrap(),
        PurseResponse::Empty
    );
    assert!(PurseResponse::parse(&verify, &[0]).is_err());

    let blocked = Response::parse(&h("6283")).unwrap();
    assert_eq!(blocked.sw, StatusWord::SelectedBlocked);
    assert_eq!(blocked.success_data(), Err(StatusWord::SelectedBlocked));

    let read = TransferCommand::ReadBatch(ReadBatch {
        offset: 0,
        max_len: Some(4),
    });
    assert_eq!(
        TransferResponse::parse(&read, &[1, 2, 3, 4]).unwrap(),
        TransferResponse::BatchChunk(vec![1, 2, 3, 4])
    );
    assert!(TransferResponse::parse(&read, &[1, 2, 3, 4, 5]).is_err());
    assert!(TransferResponse::parse(&read, &[]).is_err());
}
