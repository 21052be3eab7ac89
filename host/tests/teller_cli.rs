//! The operator commands that need no card (`epurse customer|deposit|balance|audit`) end to
//! end on a throw-away installation home: the installation-home conventions, JSON output,
//! refusals and their exit codes, idempotent deposits, and the missing-key-file message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static N: AtomicU32 = AtomicU32::new(0);

struct Home(PathBuf);

impl Home {
    fn new(with_keys: bool) -> Home {
        let dir = std::env::temp_dir().join(format!(
            "epurse-teller-cli-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if with_keys {
            let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev-master-keys.json");
            std::fs::copy(keys, dir.join("master-keys.json")).unwrap();
        }
        Home(dir)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_epurse"))
            .args(args)
            .env("EPURSE_HOME", &self.0)
            .env_remove("EPURSE_DB")
            .env_remove("EPURSE_KEYS")
            .env_remove("EPURSE_READER")
            .output()
            .expect("run epurse")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(out.status.success(), "epurse {all:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The arguments of `epurse deposit` into `purse` of customer `id`.
fn deposit<'a>(id: &'a str, purse: &'a str, amount: &'a str, reference: &'a str) -> [&'a str; 9] {
    [
        "deposit",
        "--customer",
        id,
        "--purse",
        purse,
        "--amount",
        amount,
        "--reference",
        reference,
    ]
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn customers_deposits_balances_and_audit_in_the_home() {
    let home = Home::new(true);
    let c = home.json(&["customer", "create", "Asha Rao"]);
    assert_eq!(c["name"], "Asha Rao");
    let id = c["customer"].as_i64().unwrap().to_string();
    assert!(
        home.0.join("backoffice.db").is_file(),
        "the ledger lives in EPURSE_HOME"
    );

    let d = home.json(&deposit(&id, "ecash", "500.00", "R-1"));
    assert_eq!(d["amount"], 50_000);
    assert_eq!(d["balance"], 50_000);
    assert_eq!(d["replayed"], false);
    // The same receipt again deposits nothing twice.
    let again = home.json(&deposit(&id, "ecash", "500.00", "R-1"));
    assert_eq!(again["replayed"], true);
    assert_eq!(again["balance"], 50_000);
    home.json(&deposit(&id, "food", "0.05", "R-2"));

    let b = home.json(&["balance", "--customer", &id]);
    assert_eq!(
        (b["ecash"].as_i64(), b["food"].as_i64()),
        (Some(50_000), Some(5))
    );
    let text = home.run(&["balance", "--customer", &id]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("500.00 INR"));

    let show = home.json(&["customer", "show", &id]);
    assert_eq!(show["balances"]["ecash"], 50_000);
    assert_eq!(show["cards"].as_array().unwrap().len(), 0);

    let audit = home.json(&["audit"]);
    assert_eq!(audit["clean"], true);
    assert_eq!(audit["totals"]["deposited"], 50_005);
    assert_eq!(audit["totals"]["customer_ecash"], 50_000);
}

#[test]
fn bad_input_and_unknown_customers_have_their_exit_codes() {
    let home = Home::new(true);
    let id = home.json(&["customer", "create", "B"])["customer"]
        .as_i64()
        .unwrap()
        .to_string();
    for amount in ["5.001", "1e3", "-1.00", "0.00", "abc"] {
        let out = home.run(&deposit(&id, "ecash", amount, "X"));
        assert_eq!(out.status.code(), Some(2), "{amount}: {out:?}");
    }
    let out = home.run(&["customer", "show", "999"]);
    assert_eq!(out.status.code(), Some(23), "{out:?}");
    assert!(stderr(&out).contains("unknown customer 999"), "{out:?}");
    let out = home.run(&["customer", "create", "   "]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A reference reused for a different deposit is a conflict, not a second deposit.
    home.json(&deposit(&id, "ecash", "1.00", "R"));
    let out = home.run(&deposit(&id, "ecash", "2.00", "R"));
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(home.json(&["balance", "--customer", &id])["ecash"], 100);
    assert_eq!(home.json(&["audit"])["clean"], true);
}

#[test]
fn a_missing_key_file_says_how_to_provide_one() {
    let home = Home::new(false);
    let out = home.run(&["customer", "create", "X"]);
    assert_eq!(out.status.code(), Some(28), "{out:?}");
    let msg = stderr(&out);
    assert!(msg.contains("--keys"), "{msg}");
    assert!(msg.contains("dev-master-keys.json"), "{msg}");
    assert!(
        !home.0.join("backoffice.db").exists(),
        "nothing created without keys"
    );
}

#[test]
fn a_file_that_is_not_a_ledger_is_refused_untouched() {
    let home = Home::new(true);
    let db = home.0.join("other.db");
    std::fs::write(&db, b"not a database at all, keep me").unwrap();
    let out = home.run(&["--json", "audit", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(28), "{out:?}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        b"not a database at all, keep me"
    );
}
