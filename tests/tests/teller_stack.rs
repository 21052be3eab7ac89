//! The teller and operator workflows (`epurse customer|deposit|balance|card issue|block|
//! unblock|teller load|recover|audit`) against virtual cards through pcscd and vpcd, each test
//! with its own ledger and per-test blank cards: the happy path, every refusal with its exit
//! code, a load interrupted at every APDU boundary, a teller killed mid-load, an interrupted
//! issue, and concurrent loads on one account. Every scenario ends with a clean `epurse audit`
//! and the customer's account and the card having moved by the same amount or neither.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use epurse_tests::*;
use serde_json::Value;

/// One installation home (ledger + dev master keys) in a fresh temporary directory, removed on
/// drop.
struct Home(InstallHome);

impl Home {
    fn new() -> Result<Home> {
        InstallHome::new("teller").map(Home)
    }

    /// The same ledger opened with other master keys (same transport key and key version):
    /// cards it issues have keys the first home cannot verify.
    fn with_other_keys() -> Result<Home> {
        let home = Home::new()?;
        let dev = dev_keys()?;
        let other = sam::MasterKeys::from_fn(dev.key_version(), |name| {
            if name == sam::KeyName::Transport {
                dev.get(name).clone()
            } else {
                let mut b = [0u8; 16];
                for (i, x) in b.iter_mut().enumerate() {
                    *x = 0xA0 ^ (i as u8) ^ (name as u8).wrapping_mul(17);
                }
                sam::Key16::from_bytes(b)
            }
        });
        let path = home.dir().join("master-keys.json");
        std::fs::remove_file(&path).map_err(|e| HarnessError::Card(e.to_string()))?;
        other
            .save_new(&path)
            .map_err(|e| HarnessError::Card(format!("write other keys: {e}")))?;
        Ok(home)
    }

    /// `epurse --json ARGS`, asserting success, parsed.
    fn json(&self, args: &[&str]) -> Value {
        self.0.json(args)
    }

    fn customer(&self, name: &str) -> i64 {
        self.json(&["customer", "create", name])["customer"]
            .as_i64()
            .expect("customer id")
    }

    fn deposit(&self, customer: i64, purse: &str, amount: &str, reference: &str) {
        let c = customer.to_string();
        self.json(&[
            "deposit",
            "--customer",
            &c,
            "--purse",
            purse,
            "--amount",
            amount,
            "--reference",
            reference,
        ]);
    }

    /// (e-Cash, Food) account balances in minor units.
    fn balances(&self, customer: i64) -> (i64, i64) {
        let v = self.json(&["balance", "--customer", &customer.to_string()]);
        (v["ecash"].as_i64().unwrap(), v["food"].as_i64().unwrap())
    }

    fn issue(&self, reader: &str, customer: i64, extra: &[&str]) -> String {
        let c = customer.to_string();
        let mut args = vec![
            "card",
            "issue",
            "--customer",
            &c,
            "--pin",
            "1234",
            "--reader",
            reader,
        ];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        assert_eq!(v["status"], "active", "{v}");
        v["serial"].as_str().unwrap().to_owned()
    }

    fn load(&self, reader: &str, purse: &str, amount: &str) -> CliOutput {
        let mut args = vec![
            "--json", "teller", "load", "--purse", purse, "--amount", amount, "--reader", reader,
        ];
        if purse == "food" {
            args.extend(["--expiry", "2099-12-31"]);
        }
        self.run(&args)
    }

    /// Asserts `epurse audit` is clean (exit 0, `"clean": true`) and returns its totals.
    fn audit_clean(&self) -> Value {
        let out = self.run(&["--json", "audit"]);
        let v: Value = out.json();
        assert!(
            out.success() && v["clean"] == Value::Bool(true),
            "audit must be clean:\n{out}"
        );
        v["totals"].clone()
    }
}

impl std::ops::Deref for Home {
    type Target = InstallHome;
    fn deref(&self) -> &InstallHome {
        &self.0
    }
}

/// (e-Cash, Food) balances on the card in `reader`, in minor units.
fn card_balances(home: &Home, reader: &str) -> (i64, i64) {
    let v = home.json(&["card", "info", "--reader", reader]);
    (
        v["purses"]["ecash"]["balance"].as_i64().unwrap(),
        v["purses"]["food"]["balance"].as_i64().unwrap(),
    )
}

/// A fresh customer with `ecash`/`food` deposited and a freshly issued card in the slot.
fn customer_with_card(
    home: &Home,
    slot: &mut SlotLease,
    ecash: &str,
    food: &str,
    extra: &[&str],
) -> Result<(i64, String)> {
    slot.insert_new_card(CardKind::Purse)?;
    let c = home.customer("Teller Test");
    home.deposit(c, "ecash", ecash, &format!("E-{c}"));
    home.deposit(c, "food", food, &format!("F-{c}"));
    let serial = home.issue(slot.reader(), c, extra);
    Ok((c, serial))
}

#[test]
fn issue_deposit_load_both_purses_then_info_and_clean_audit() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    let (c, serial) = customer_with_card(&home, &mut slot, "1500.00", "800.00", &[])?;
    let reader = slot.reader();

    let e = home.load(reader, "ecash", "500.00");
    e.assert_success();
    let ev: Value = e.json();
    assert_eq!(ev["serial"], serial.as_str());
    assert_eq!(ev["amount"], 50_000);
    assert_eq!(ev["balance"], 50_000);
    assert_eq!(ev["account_balance"], 100_000);
    let f = home.load(reader, "food", "300.00");
    f.assert_success();
    let fv: Value = f.json();
    assert_eq!(fv["expiry"], "2099-12-31");

    assert_eq!(card_balances(&home, reader), (50_000, 30_000));
    assert_eq!(home.balances(c), (100_000, 50_000));
    let show = home.json(&["customer", "show", &c.to_string()]);
    assert_eq!(show["cards"][0]["serial"], serial.as_str());
    assert_eq!(show["cards"][0]["ecash_float"], 50_000);
    assert_eq!(show["cards"][0]["food_float"], 30_000);

    // The card in the reader agrees with the ledger.
    let with_card = home.json(&["audit", "--card", "--reader", reader]);
    assert_eq!(with_card["clean"], true, "{with_card}");
    assert_eq!(with_card["card"]["serial"], serial.as_str());
    assert_eq!(with_card["card"]["ecash"]["balance"], 50_000);
    assert_eq!(with_card["card"]["ecash"]["float"], 50_000);
    assert_eq!(with_card["card"]["food"]["load_counter"], 1);

    let totals = home.audit_clean();
    assert_eq!(totals["deposited"], 230_000);
    assert_eq!(totals["float_ecash"], 50_000);
    assert_eq!(totals["float_food"], 30_000);
    assert_eq!(totals["loads_completed"], 2);
    // The human receipt names the amount in the currency.
    let text = home.run(&[
        "teller", "load", "--purse", "ecash", "--amount", "1.25", "--reader", reader,
    ]);
    text.assert_success();
    assert!(text.stdout.contains("1.25 INR"), "{text}");
    Ok(())
}

#[test]
fn refusals_have_clear_messages_and_exit_codes() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    let reader = slot.reader();

    // Blank card: not issued.
    slot.insert_new_card(CardKind::Purse)?;
    let out = home.load(reader, "ecash", "1.00");
    out.assert_code(23);
    assert!(out.stderr.contains("blank"), "{out}");

    // Card limits: 100.00 per load, 150.00 balance.
    let (c, _) = customer_with_card(
        &home,
        &mut slot,
        "1000.00",
        "10.00",
        &[
            "--ecash-max-amount",
            "100.00",
            "--ecash-max-balance",
            "150.00",
        ],
    )?;
    let out = home.load(reader, "ecash", "120.00");
    out.assert_code(22);
    home.load(reader, "ecash", "100.00").assert_success();
    let out = home.load(reader, "ecash", "60.00");
    out.assert_code(22);

    // Insufficient funds (Food account holds 10.00).
    let out = home.load(reader, "food", "20.00");
    out.assert_code(20);
    assert!(out.stderr.contains("insufficient funds"), "{out}");
    assert!(out.stderr.contains("10.00 INR"), "{out}");

    // Blocked card: refused until unblocked.
    home.json(&["card", "block", "--reader", reader]);
    let out = home.load(reader, "ecash", "1.00");
    out.assert_code(21);
    assert!(out.stderr.contains("blocked"), "{out}");
    let un = home.json(&["card", "unblock", "--reader", reader]);
    assert_eq!(un["status"], "active");
    assert_eq!(un["card_changed"], true);
    home.load(reader, "ecash", "1.00").assert_success();

    // Bad input: a usage error, nothing moved.
    home.run(&[
        "teller", "load", "--purse", "ecash", "--amount", "1.5x", "--reader", reader,
    ])
    .assert_code(2);
    home.run(&[
        "teller", "load", "--purse", "food", "--amount", "1.00", "--reader", reader,
    ])
    .assert_code(2);
    home.run(&[
        "deposit",
        "--customer",
        "999",
        "--purse",
        "ecash",
        "--amount",
        "1.00",
        "--reference",
        "X",
    ])
    .assert_code(23);

    // MAC failure: another back office (other keys) issues its first serial, which this
    // ledger issued too (to the limits card above): this ledger knows the serial, but the
    // card's MAC1 is not under our keys.
    let other = Home::with_other_keys()?;
    let oc = other.customer("Other Bank Customer");
    slot.insert_new_card(CardKind::Purse)?;
    other.issue(reader, oc, &[]);
    let out = home.load(reader, "ecash", "1.00");
    out.assert_code(24);
    assert!(out.stderr.contains("MAC"), "{out}");

    // Unknown card: the other back office's second card has a serial this ledger never issued.
    slot.insert_new_card(CardKind::Purse)?;
    other.issue(reader, oc, &[]);
    let out = home.load(reader, "ecash", "1.00");
    out.assert_code(23);
    assert!(out.stderr.contains("unknown card"), "{out}");

    // Nothing moved by any refusal.
    assert_eq!(home.balances(c), (100_000 - 10_000 - 100, 1_000));
    home.audit_clean();
    other.audit_clean();
    Ok(())
}

/// The load of `purse1.00` interrupted by `kind` at APDU `k`, then recovered by `teller
/// recover` (or by the next load when `by_next_load`). Returns whether the card was credited.
fn interrupted_load(
    home: &Home,
    slot: &mut SlotLease,
    customer: i64,
    kind: &str,
    k: u32,
    by_next_load: bool,
) -> Result<bool> {
    let reader = slot.reader();
    let (acct_before, _) = home.balances(customer);
    let (card_before, _) = card_balances(home, reader);
    slot.arm_fault(kind, k, Some(Duration::from_millis(1200)))?;
    let out = home.load(reader, "ecash", "1.00");
    assert!(!out.success(), "{kind} {k}: the load must fail:\n{out}");
    assert!(
        matches!(out.code, Some(5) | Some(25)),
        "{kind} {k}: a card problem (5) or an interrupted load (25):\n{out}"
    );
    slot.wait_present()?;
    if by_next_load {
        let next = home.load(reader, "ecash", "2.00");
        next.assert_success();
        let v: Value = next.json();
        let credited = v["recovered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "completed");
        let (acct, _) = home.balances(customer);
        let (card, _) = card_balances(home, reader);
        let moved = if credited { 300 } else { 200 };
        assert_eq!(acct, acct_before - moved, "{kind} {k} account");
        assert_eq!(card, card_before + moved, "{kind} {k} card");
        home.audit_clean();
        return Ok(credited);
    }
    let rec = home.run(&["--json", "teller", "recover", "--reader", reader]);
    rec.assert_success();
    let (acct, _) = home.balances(customer);
    let (card, _) = card_balances(home, reader);
    assert_eq!(
        acct_before - acct,
        card - card_before,
        "{kind} {k}: account and card move by the same amount"
    );
    assert!(
        acct_before - acct == 0 || acct_before - acct == 100,
        "{kind} {k}"
    );
    let totals = home.audit_clean();
    assert_eq!(
        totals["loads_pending"], 0,
        "{kind} {k}: nothing left pending"
    );
    Ok(card != card_before)
}

#[test]
fn load_interrupted_at_every_apdu_boundary_is_recovered() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    let (c, _) = customer_with_card(&home, &mut slot, "1000.00", "0.01", &[])?;
    // A load is SELECT, GET STATUS, INITIALIZE LOAD, CREDIT LOAD (no pending load to recover).
    let mut credited = Vec::new();
    for kind in ["drop-command", "drop-response"] {
        for k in 1..=4 {
            credited.push((
                kind,
                k,
                interrupted_load(&home, &mut slot, c, kind, k, false)?,
            ));
        }
    }
    // Only a lost CREDIT LOAD response leaves the card credited.
    for (kind, k, was) in &credited {
        assert_eq!(
            *was,
            *kind == "drop-response" && *k == 4,
            "{kind} {k}: credited = {was}"
        );
    }
    // Recovery by the next load, both ways.
    assert!(!interrupted_load(
        &home,
        &mut slot,
        c,
        "drop-command",
        4,
        true
    )?);
    assert!(interrupted_load(
        &home,
        &mut slot,
        c,
        "drop-response",
        4,
        true
    )?);
    Ok(())
}

/// Runs a load that pauses at `point` (the documented test hook), kills it there, and returns
/// after the kill.
fn kill_load_at(home: &Home, reader: &str, point: &str) -> Result<()> {
    let bin = epurse_bin()?;
    let mut child = Command::new(bin)
        .args([
            "teller", "load", "--purse", "ecash", "--amount", "7.00", "--reader", reader,
        ])
        .env("EPURSE_DB", home.dir().join("backoffice.db"))
        .env("EPURSE_KEYS", home.dir().join("master-keys.json"))
        .env("EPURSE_TEST_PAUSE_AT", point)
        .env("EPURSE_TEST_PAUSE_MS", "30000")
        .env_remove("EPURSE_READER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::Card(format!("spawn epurse: {e}")))?;
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let paused = lines
        .by_ref()
        .map_while(|l| l.ok())
        .any(|l| l.contains(&format!("paused at {point}")));
    child.kill().ok();
    let _ = child.wait();
    assert!(paused, "the load must reach {point}");
    Ok(())
}

#[test]
fn teller_killed_mid_load_is_recovered_from_the_card() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    let (c, _) = customer_with_card(&home, &mut slot, "100.00", "0.01", &[])?;
    let reader = slot.reader();

    // Killed between begin_load and CREDIT LOAD: funds reserved, card untouched → released.
    kill_load_at(&home, reader, "after_begin_load")?;
    // With the card, the audit says the load must be recovered first.
    home.run(&["audit", "--card", "--reader", reader])
        .assert_code(27);
    let totals = home.audit_clean();
    assert_eq!(
        totals["loads_pending"], 1,
        "the load is pending, funds reserved"
    );
    assert_eq!(totals["pending_ecash"], 700);
    assert_eq!(home.balances(c).0, 9_300);
    let rec = home.json(&["teller", "recover", "--reader", reader]);
    assert_eq!(rec["recovered"][0]["outcome"], "released", "{rec}");
    assert_eq!(home.balances(c).0, 10_000);
    assert_eq!(card_balances(&home, reader).0, 0);

    // Killed after CREDIT LOAD, before complete_load: the card has it → completed.
    kill_load_at(&home, reader, "after_credit_load")?;
    assert_eq!(card_balances(&home, reader).0, 700);
    let rec = home.json(&["teller", "recover", "--reader", reader]);
    assert_eq!(rec["recovered"][0]["outcome"], "completed", "{rec}");
    assert_eq!(home.balances(c).0, 9_300);
    let totals = home.audit_clean();
    assert_eq!(totals["loads_pending"], 0);
    assert_eq!(totals["float_ecash"], 700);
    // Recovering again finds nothing.
    let rec = home.json(&["teller", "recover", "--reader", reader]);
    assert_eq!(rec["recovered"].as_array().unwrap().len(), 0);
    Ok(())
}

#[test]
fn interrupted_issue_resumes_and_never_leaves_a_half_issued_card() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    let reader = slot.reader();
    let c = home.customer("Issue Interrupted");
    let cs = c.to_string();
    let issue = [
        "--json",
        "card",
        "issue",
        "--customer",
        &cs,
        "--pin",
        "4321",
        "--reader",
        reader,
    ];
    // Issue is SELECT, GET CHALLENGE, PERSONALIZE.
    // PERSONALIZE never reached the card: it stays blank; the rerun uses the same serial.
    slot.insert_new_card(CardKind::Purse)?;
    slot.arm_fault("drop-command", 3, Some(Duration::from_millis(1200)))?;
    home.run(&issue).assert_code(25);
    slot.wait_present()?;
    let v: Value = {
        let out = home.run(&issue);
        out.assert_success();
        out.json()
    };
    assert_eq!(v["resumed"], false);
    let first = v["serial"].as_str().unwrap().to_owned();

    // PERSONALIZE done but its response lost: the rerun confirms the active card.
    slot.insert_new_card(CardKind::Purse)?;
    slot.arm_fault("drop-response", 3, Some(Duration::from_millis(1200)))?;
    home.run(&issue).assert_code(25);
    slot.wait_present()?;
    let v: Value = {
        let out = home.run(&issue);
        out.assert_success();
        out.json()
    };
    assert_eq!(v["resumed"], true, "{v}");
    let second = v["serial"].as_str().unwrap().to_owned();
    assert_ne!(first, second);

    let show = home.json(&["customer", "show", &cs]);
    let cards = show["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{show}");
    assert!(cards.iter().all(|k| k["status"] == "active"), "{show}");
    // The resumed card works.
    home.deposit(c, "ecash", "5.00", "I1");
    home.load(reader, "ecash", "5.00").assert_success();
    // An issued card is never issued again.
    home.run(&issue).assert_code(26);
    home.audit_clean();
    Ok(())
}

#[test]
fn concurrent_loads_on_one_account_never_overdraw_it() -> Result<()> {
    let mut slot0 = SlotLease::acquire(0)?;
    let mut slot1 = SlotLease::acquire(1)?;
    let home = Home::new()?;
    let c = home.customer("Two Cards");
    home.deposit(c, "ecash", "100.00", "C1");
    for slot in [&mut slot0, &mut slot1] {
        slot.insert_new_card(CardKind::Purse)?;
        home.issue(slot.reader(), c, &[]);
    }
    for round in 0..3 {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| home.load(slot0.reader(), "ecash", "30.00"));
            let b = s.spawn(|| home.load(slot1.reader(), "ecash", "30.00"));
            (a.join().unwrap(), b.join().unwrap())
        });
        for out in [&a, &b] {
            assert!(
                out.success() || out.code == Some(20),
                "round {round}: a load completes or is refused for funds:\n{out}"
            );
        }
    }
    // 100.00 allows three loads of 30.00 in all, whatever the interleaving.
    let (acct, _) = home.balances(c);
    let on_cards = card_balances(&home, slot0.reader()).0 + card_balances(&home, slot1.reader()).0;
    assert_eq!(acct, 1_000);
    assert_eq!(on_cards, 9_000);
    let totals = home.audit_clean();
    assert_eq!(totals["loads_completed"], 3);
    Ok(())
}
