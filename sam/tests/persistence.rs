//! The SAM state on disk: round trip, crash in the middle of a save, and every refusal —
//! corrupt, foreign, edited (bad MAC), rolled back, forked, half missing, locked — each with a
//! clear error and nothing lost.

mod common;

use std::fs;
use std::path::Path;

use apdu_spec::{Purse, SamId, Serial};
use common::{amount, dt, CardModel, TestDir};
use sam::{PurchaseStart, SamError, SamFile, SecurityModule, SoftwareSam, StatePaths, StoreError};

const SERIAL: Serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 0x07]);

/// A SAM with two completed sales, one sealed batch, one more open record and one pending
/// purchase.
fn busy_sam(dir: &TestDir, file: SamFile) -> (SoftwareSam, CardModel) {
    let mut sam = SoftwareSam::create(dir.paths(), file, 1, 1).unwrap();
    let mut card = CardModel::new(SERIAL, 100_000, 50_000);
    for (purse, value) in [
        (Purse::Ecash, 1_000),
        (Purse::Food, 2_000),
        (Purse::Ecash, 300),
    ] {
        sale(&mut sam, &mut card, purse, value);
        if value == 2_000 {
            sam.seal_batch(dt("2026-11-20T12:00:00"), None)
                .unwrap()
                .unwrap();
        }
    }
    begin(&mut sam, &mut card, Purse::Ecash, 444);
    (sam, card)
}

fn begin(
    sam: &mut SoftwareSam,
    card: &mut CardModel,
    purse: Purse,
    value: u32,
) -> sam::PurchaseAuthorization {
    let command = sam.initialize_purchase(purse, amount(value));
    let response = card.initialize_purchase(&command).unwrap();
    sam.begin_purchase(PurchaseStart {
        serial: card.serial,
        command,
        response,
        datetime: dt("2026-11-20T10:00:00"),
        pin_verified: false,
    })
    .unwrap()
}

fn sale(sam: &mut SoftwareSam, card: &mut CardModel, purse: Purse, value: u32) {
    let auth = begin(sam, card, purse, value);
    let rsp = card.debit_purchase(&auth.command).unwrap();
    sam.complete_purchase(auth.sam_seq, &rsp).unwrap();
}

fn open(dir: &TestDir) -> Result<SoftwareSam, SamError> {
    SoftwareSam::open(dir.paths(), common::sam_file())
}

fn store_error(result: Result<SoftwareSam, SamError>) -> StoreError {
    match result {
        Err(SamError::Store(e)) => e,
        Err(other) => panic!("expected a store error, got {other}"),
        Ok(_) => panic!("expected a store error, the state opened"),
    }
}

fn snapshot(paths: &StatePaths) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(&paths.state).unwrap(),
        fs::read(&paths.counter).unwrap(),
    )
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
}

#[test]
fn round_trip_keeps_everything() {
    let dir = TestDir::new("roundtrip");
    let (sam, _card) = busy_sam(&dir, common::sam_file());
    let state = sam.state().clone();
    let status = sam.status();
    assert_eq!(status.unacknowledged.len(), 1);
    assert_eq!(status.pending.len(), 1);
    assert_eq!(status.open.ecash.total, 300);
    drop(sam);

    let sam = open(&dir).unwrap();
    assert_eq!(sam.state(), &state);
    assert_eq!(sam.status(), status);
    assert!(!sam.open_report().interrupted_save);
    assert!(sam.open_report().removed_temp_files.is_empty());
    // The state file is the documented envelope.
    let text = fs::read_to_string(dir.paths().state).unwrap();
    assert!(text.starts_with("{\"format\":\"epurse-sam-state/1\",\"mac\":\""));
}

#[test]
fn crash_between_counter_and_state_recovers_the_last_good_state() {
    let dir = TestDir::new("crash");
    let paths = dir.paths();
    let (mut sam, mut card) = busy_sam(&dir, common::sam_file());
    let good = sam.state().clone();
    let (old_state, _old_counter) = snapshot(&paths);

    // A change is saved (counter, then state). Put the disk back to how a crash after the
    // counter's rename, in the middle of writing the state's temporary file, leaves it.
    let pending = sam.pending_purchases()[0];
    sam.purchase_declined(pending.sam_seq, apdu_spec::StatusWord::MacInvalid)
        .unwrap();
    let _ = &mut card;
    drop(sam);
    write(&paths.state, &old_state);
    let tmp = paths.state.with_file_name("sam-state.json.tmp");
    write(&tmp, b"{\"format\":\"epurse-sam-state/1\",\"mac\":\"00");

    let mut sam = open(&dir).unwrap();
    assert!(sam.open_report().interrupted_save);
    assert_eq!(sam.open_report().removed_temp_files, vec![tmp.clone()]);
    assert!(!tmp.exists());
    assert_eq!(
        sam.state(),
        &good,
        "the last good state, pending purchase included"
    );
    assert_eq!(sam.pending_purchases().len(), 1);

    // And it carries on normally from there.
    let seq = sam.pending_purchases()[0].sam_seq;
    sam.purchase_declined(seq, apdu_spec::StatusWord::MacInvalid)
        .unwrap();
    drop(sam);
    let sam = open(&dir).unwrap();
    assert!(!sam.open_report().interrupted_save);
    assert!(sam.pending_purchases().is_empty());
}

#[test]
fn crash_while_writing_the_counter_keeps_the_old_state() {
    let dir = TestDir::new("crash-counter");
    let paths = dir.paths();
    let (sam, _card) = busy_sam(&dir, common::sam_file());
    let good = sam.state().clone();
    drop(sam);
    let tmp = paths.counter.with_file_name("sam-state.counter.tmp");
    write(&tmp, b"{\"format\":\"epurse-sam-co");
    let sam = open(&dir).unwrap();
    assert_eq!(sam.state(), &good);
    assert!(!sam.open_report().interrupted_save);
    assert_eq!(sam.open_report().removed_temp_files, vec![tmp]);
}

#[test]
fn corrupt_state_is_refused() {
    let dir = TestDir::new("corrupt");
    let paths = dir.paths();
    drop(busy_sam(&dir, common::sam_file()));
    let (state, counter) = snapshot(&paths);

    write(&paths.state, &state[..state.len() / 2]);
    let err = store_error(open(&dir));
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "state file",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("refusing to start"));

    write(&paths.state, b"\x00\x01garbage");
    assert!(matches!(
        store_error(open(&dir)),
        StoreError::Corrupt { .. }
    ));

    write(&paths.state, &state);
    write(&paths.counter, b"{}");
    let err = store_error(open(&dir));
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "counter file",
                ..
            }
        ),
        "{err}"
    );

    // Put back, it opens again: the refusals changed nothing.
    write(&paths.counter, &counter);
    open(&dir).unwrap();
}

#[test]
fn edited_state_fails_its_mac() {
    let dir = TestDir::new("badmac");
    let paths = dir.paths();
    drop(busy_sam(&dir, common::sam_file()));
    let text = fs::read_to_string(&paths.state).unwrap();

    // Raise the open e-Cash total: valid JSON, wrong MAC.
    let edited = text.replacen("\"total\":300", "\"total\":30000", 1);
    assert_ne!(edited, text);
    write(&paths.state, edited.as_bytes());
    let err = store_error(open(&dir));
    assert!(
        matches!(
            err,
            StoreError::BadMac {
                what: "state file",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("edited or damaged"));

    // An edited counter file fails too.
    write(&paths.state, text.as_bytes());
    let counter = fs::read_to_string(&paths.counter).unwrap();
    let generation = sam_generation(&counter);
    let edited = counter.replacen(
        &format!("\"generation\":{generation}"),
        &format!("\"generation\":{}", generation + 5),
        1,
    );
    write(&paths.counter, edited.as_bytes());
    let err = store_error(open(&dir));
    assert!(
        matches!(
            err,
            StoreError::BadMac {
                what: "counter file",
                ..
            }
        ),
        "{err}"
    );
}

fn sam_generation(counter_text: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(counter_text).unwrap();
    v["generation"].as_u64().unwrap()
}

#[test]
fn another_sams_state_is_refused() {
    let mine = TestDir::new("foreign-mine");
    let theirs = TestDir::new("foreign-theirs");
    drop(busy_sam(&mine, common::sam_file()));
    let other_file = common::sam_file_for(SamId([0x53, 0x4D, 0, 0, 0, 9]), "5411");
    drop(busy_sam(&theirs, other_file));

    // Their state with my counter: the state names the other SAM.
    fs::copy(theirs.paths().state, mine.paths().state).unwrap();
    let err = store_error(open(&mine));
    assert!(
        matches!(err, StoreError::Foreign { what: "state file", found, .. } if found == SamId([0x53, 0x4D, 0, 0, 0, 9])),
        "{err}"
    );
    assert!(err.to_string().contains("534D00000009"));
    // Both of their files.
    fs::copy(theirs.paths().counter, mine.paths().counter).unwrap();
    assert!(matches!(
        store_error(open(&mine)),
        StoreError::Foreign {
            what: "counter file",
            ..
        }
    ));
}

#[test]
fn rolled_back_state_is_refused() {
    let dir = TestDir::new("rollback");
    let paths = dir.paths();
    let (mut sam, mut card) = busy_sam(&dir, common::sam_file());
    let (old_state, old_counter) = snapshot(&paths);
    // Two more saves.
    let seq = sam.pending_purchases()[0].sam_seq;
    sam.purchase_declined(seq, apdu_spec::StatusWord::InsufficientBalance)
        .unwrap();
    sale(&mut sam, &mut card, Purse::Ecash, 50);
    drop(sam);
    let (new_state, new_counter) = snapshot(&paths);

    // The state restored from the older copy.
    write(&paths.state, &old_state);
    let err = store_error(open(&dir));
    assert!(
        matches!(err, StoreError::RolledBack { state_generation, counter_generation, .. }
            if counter_generation == state_generation + 3),
        "{err}"
    );
    assert!(err.to_string().contains("rolled back"));

    // The counter restored instead.
    write(&paths.state, &new_state);
    write(&paths.counter, &old_counter);
    assert!(matches!(
        store_error(open(&dir)),
        StoreError::CounterRolledBack { .. }
    ));

    // Restored, it opens with everything.
    write(&paths.counter, &new_counter);
    assert_eq!(open(&dir).unwrap().state().journal().len(), 2);
}

#[test]
fn forked_state_with_the_same_generation_is_refused() {
    // Two states of the same SAM (same keys) that reached the same generation differently.
    let a = TestDir::new("fork-a");
    let b = TestDir::new("fork-b");
    let file = common::sam_file();
    let (sam_a, _) = busy_sam(&a, file.clone());
    let mut sam_b = SoftwareSam::create(b.paths(), file, 1, 1).unwrap();
    let mut card = CardModel::new(SERIAL, 100_000, 0);
    while sam_b.state().generation() < sam_a.state().generation() {
        let auth = begin(&mut sam_b, &mut card, Purse::Ecash, 10);
        sam_b
            .purchase_declined(auth.sam_seq, apdu_spec::StatusWord::MacInvalid)
            .unwrap();
    }
    assert_eq!(sam_b.state().generation(), sam_a.state().generation());
    drop((sam_a, sam_b));
    fs::copy(b.paths().state, a.paths().state).unwrap();
    assert!(matches!(store_error(open(&a)), StoreError::Diverged { .. }));
}

#[test]
fn half_missing_state_is_refused() {
    let dir = TestDir::new("missing");
    let paths = dir.paths();
    drop(busy_sam(&dir, common::sam_file()));
    let (state, counter) = snapshot(&paths);

    fs::remove_file(&paths.counter).unwrap();
    assert!(matches!(
        store_error(open(&dir)),
        StoreError::CounterMissing { .. }
    ));
    write(&paths.counter, &counter);
    fs::remove_file(&paths.state).unwrap();
    assert!(matches!(
        store_error(open(&dir)),
        StoreError::StateMissing { .. }
    ));
    fs::remove_file(&paths.counter).unwrap();
    let err = store_error(open(&dir));
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(err.to_string().contains("initialise the SAM"));
    let _ = state;
}

#[test]
fn one_process_at_a_time_and_no_accidental_reinitialisation() {
    let dir = TestDir::new("lock");
    let (sam, _card) = busy_sam(&dir, common::sam_file());
    let err = store_error(open(&dir));
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(sam);
    let sam = open(&dir).unwrap();
    drop(sam);
    match SoftwareSam::create(dir.paths(), common::sam_file(), 1, 1) {
        Err(SamError::Store(StoreError::AlreadyExists { .. })) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The refused create did not touch the state.
    assert_eq!(open(&dir).unwrap().state().journal().len(), 1);
}

#[test]
fn failed_save_sends_nothing_to_the_card_and_poisons_the_sam() {
    let dir = TestDir::new("poison");
    let (mut sam, mut card) = busy_sam(&dir, common::sam_file());
    let seq = sam.pending_purchases()[0].sam_seq;
    sam.purchase_declined(seq, apdu_spec::StatusWord::MacInvalid)
        .unwrap();
    let before = sam.state().clone();
    fs::remove_dir_all(&dir.0).unwrap(); // the disk is gone

    let command = sam.initialize_purchase(Purse::Ecash, amount(10));
    let response = card.initialize_purchase(&command).unwrap();
    let start = PurchaseStart {
        serial: SERIAL,
        command,
        response,
        datetime: dt("2026-11-20T13:00:00"),
        pin_verified: false,
    };
    // Write-ahead: no DEBIT PURCHASE without a durable pending record.
    assert!(matches!(
        sam.begin_purchase(start),
        Err(SamError::Store(StoreError::Io { .. }))
    ));
    assert_eq!(sam.state(), &before);
    assert!(matches!(sam.begin_purchase(start), Err(SamError::Poisoned)));
    assert!(matches!(
        sam.seal_batch(dt("2026-11-20T13:00:00"), None),
        Err(SamError::Poisoned)
    ));
}

#[test]
fn state_numbers_must_start_at_one_or_more() {
    let dir = TestDir::new("badstart");
    assert!(matches!(
        SoftwareSam::create(dir.paths(), common::sam_file(), 0, 1),
        Err(SamError::BadStart(_))
    ));
    let sam = SoftwareSam::create(dir.paths(), common::sam_file(), 1_000, 7).unwrap();
    assert_eq!(sam.status().last_sequence, 999);
    assert_eq!(sam.status().last_batch_no, 6);
}

#[test]
fn interrupted_creation_can_be_redone_but_a_used_counter_cannot_be_overwritten() {
    let dir = TestDir::new("create-crash");
    let paths = dir.paths();
    drop(SoftwareSam::create(paths.clone(), common::sam_file(), 1, 1).unwrap());
    // A crash after the first counter write, before the state existed.
    fs::remove_file(&paths.state).unwrap();
    assert!(matches!(
        store_error(open(&dir)),
        StoreError::StateMissing { .. }
    ));
    let sam = SoftwareSam::create(paths.clone(), common::sam_file(), 1, 1).unwrap();
    assert_eq!(sam.state().generation(), 1);
    drop(sam);
    open(&dir).unwrap();

    // Once the SAM has been used, deleting its state does not allow a fresh start.
    let dir = TestDir::new("create-used");
    let paths = dir.paths();
    let (sam, _card) = busy_sam(&dir, common::sam_file());
    drop(sam);
    fs::remove_file(&paths.state).unwrap();
    match SoftwareSam::create(paths, common::sam_file(), 1, 1) {
        Err(SamError::Store(StoreError::AlreadyExists { path })) => {
            assert!(path.ends_with("sam-state.counter"))
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}
