//! The ledger file: creation, settings, reopening, and clear refusals of foreign, corrupt and
//! newer files.

mod support;

use std::io::{Seek, SeekFrom, Write};

use apdu_spec::Purse;
use backoffice::db::{APPLICATION_ID, SCHEMA_VERSION};
use backoffice::{Backoffice, Config, Currency, Error};
use rusqlite::Connection;
use support::*;

fn open(path: &std::path::Path) -> backoffice::Result<Backoffice> {
    Backoffice::open(path, ism(), &Config::default())
}

#[test]
fn a_new_ledger_is_created_in_wal_mode_and_keeps_its_data() {
    let mut b = Bench::new();
    assert_eq!(b.bo.schema_version().unwrap(), SCHEMA_VERSION);
    let customer = b.customer("Asha", 12_345, 0);
    let (_dir, path) = b.close();
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = raw
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    drop(raw);
    let mut bo = open(&path).unwrap();
    assert_eq!(bo.customer_balances(customer).unwrap().ecash, 12_345);
    assert_eq!(bo.customer(customer).unwrap().name, "Asha");
    assert_eq!(bo.currency(), Currency::INR);
    assert!(bo.audit().unwrap().is_clean());
}

#[test]
fn an_empty_file_becomes_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::File::create(&path).unwrap();
    let bo = open(&path).unwrap();
    assert_eq!(bo.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the ledgers you are looking for\n".repeat(200),
    )
    .unwrap();
    let err = open(&path).unwrap_err();
    assert!(matches!(err, Error::NotALedger { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("is not an epurse ledger"), "{message}");
    assert!(message.contains("not an SQLite database"), "{message}");
    // The file is left as it was.
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("these are not"));
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("other.db");
    Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');")
        .unwrap();
    let err = open(&plain).unwrap_err();
    assert!(
        err.to_string().contains("tables of another application"),
        "{err}"
    );
    // Left untouched: still in its rollback-journal mode, its data intact.
    let raw = Connection::open(&plain).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    let title: String = raw
        .query_row("SELECT title FROM songs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "x");
    let tagged = dir.path().join("tagged.db");
    Connection::open(&tagged)
        .unwrap()
        .execute_batch("PRAGMA application_id = 1234;")
        .unwrap();
    let err = open(&tagged).unwrap_err();
    assert!(
        matches!(err, Error::NotALedger { .. }) && err.to_string().contains("0x000004D2"),
        "{err}"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let b = Bench::new();
    let (_dir, path) = b.close();
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE schema_version SET version = ?1",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, Error::NewerSchema { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("run a newer epurse"));
}

#[test]
fn a_ledger_without_its_schema_table_is_corrupt() {
    let b = Bench::new();
    let (_dir, path) = b.close();
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE schema_version;")
        .unwrap();
    let err = open(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("restore it from the last backup"));
}

#[test]
fn another_currency_is_refused() {
    let b = Bench::new();
    let (_dir, path) = b.close();
    let eur = Config {
        currency: Currency::new("EUR", 2).unwrap(),
        ..Config::default()
    };
    let err = Backoffice::open(&path, ism(), &eur).unwrap_err();
    assert!(matches!(err, Error::CurrencyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("keeps INR (2 decimals)"), "{err}");
}

#[test]
fn a_damaged_header_or_page_never_passes_silently() {
    // Header overwritten: not recognisable as SQLite any more.
    let b = Bench::new();
    let (_dir, path) = b.close();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all(b"garbage garbage!").unwrap();
    drop(file);
    assert!(matches!(open(&path), Err(Error::NotALedger { .. })));

    // A data page overwritten: refused at open, by an operation, or by the audit.
    let mut b = Bench::new();
    let customer = b.customer("Asha", 5_000, 5_000);
    let _card = b.issue(customer);
    let (_dir2, path) = b.close();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 8_192, "ledger is {len} bytes");
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // Whole pages: page 2 and the last page (4096-byte pages).
    file.seek(SeekFrom::Start(4_096)).unwrap();
    file.write_all(&[0xA5; 4_096]).unwrap();
    file.seek(SeekFrom::Start(len - 4_096)).unwrap();
    file.write_all(&[0x5A; 4_096]).unwrap();
    drop(file);
    let detected = match open(&path) {
        Err(_) => true,
        Ok(mut bo) => match bo.audit() {
            Err(_) => true,
            Ok(report) => !report.is_clean(),
        },
    };
    assert!(detected, "a damaged page went unnoticed");
}

#[test]
fn a_missing_directory_gives_a_clear_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = open(&dir.path().join("no/such/dir/ledger.db")).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("check the path"), "{err}");
}

#[test]
fn several_connections_see_each_others_commits() {
    let mut b = Bench::new();
    let customer = b.customer("Asha", 1_000, 0);
    let mut other = b.reopen();
    other
        .deposit_cash(&backoffice::CashDeposit {
            customer,
            purse: Purse::Food,
            amount: 700,
            reference: "R-other".into(),
            teller: "t2".into(),
        })
        .unwrap();
    assert_eq!(b.bo.customer_balances(customer).unwrap().food, 700);
}
