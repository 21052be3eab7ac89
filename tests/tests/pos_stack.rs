//! The merchant side end to end through pcscd and vpcd against virtual cards: a full day (issue,
//! load, sales at a food and a non-food merchant, a split sale, refusals, PIN, transfer,
//! upload, ack) ending in a clean audit to the last paisa; and a sale interrupted at every APDU
//! boundary, then recovered — never a double debit, never an unpaid debit.
//!
//! Each test has its own installation home (ledger, keys, SAM directories) and its own blank
//! cards in one slot (the purse and transfer cards are swapped in the same reader, so a test
//! needs one slot lease only).

use std::time::Duration;

use epurse_tests::*;
use serde_json::Value;

struct Home(InstallHome);

impl Home {
    fn new() -> Home {
        Home(InstallHome::new("pos").expect("installation home"))
    }

    fn sam(&self, name: &str) -> String {
        self.0.dir().join(name).to_string_lossy().into_owned()
    }

    /// Issues the SAM file at `sam` for a new merchant (`food`: a food merchant).
    fn issue_sam(
        &self,
        reader: &str,
        sam: &str,
        merchant_id: &str,
        name: &str,
        mcc: &str,
        food: bool,
    ) {
        let mut args = vec![
            "backoffice",
            "sam-issue",
            "--merchant-id",
            merchant_id,
            "--name",
            name,
            "--mcc",
            mcc,
            "--sam",
            sam,
        ];
        if food {
            args.push("--food");
        }
        self.run(reader, &args).assert_success();
    }

    fn cmd(&self, reader: &str, args: &[&str]) -> Epurse {
        let mut all = vec!["--reader", reader];
        all.extend_from_slice(args);
        self.0.cmd(&all)
    }

    fn run(&self, reader: &str, args: &[&str]) -> CliOutput {
        self.cmd(reader, args).run().expect("epurse runs")
    }

    /// Runs `epurse ARGS --pin-from-stdin` with `pin` typed on stdin.
    fn run_with_pin(&self, reader: &str, args: &[&str], pin: &str) -> CliOutput {
        let mut all = args.to_vec();
        all.push("--pin-from-stdin");
        self.cmd(reader, &all)
            .stdin(format!("{pin}\n"))
            .run()
            .expect("epurse runs")
    }

    fn json(&self, reader: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(reader, &all);
        out.assert_success();
        out.json()
    }

    /// A customer with deposits, and the blank card in the reader issued and loaded.
    fn issued_card(&self, reader: &str, ecash: &str, food: &str) {
        let c = self.json(reader, &["customer", "create", "Asha Rao"]);
        let id = c["customer"].as_i64().expect("customer id").to_string();
        for (purse, amount, r) in [("ecash", "2000.00", "R1"), ("food", "1000.00", "R2")] {
            self.run(
                reader,
                &[
                    "deposit",
                    "--customer",
                    &id,
                    "--purse",
                    purse,
                    "--amount",
                    amount,
                    "--reference",
                    r,
                ],
            )
            .assert_success();
        }
        self.run(
            reader,
            &["card", "issue", "--customer", &id, "--pin", "1234"],
        )
        .assert_success();
        self.run(
            reader,
            &["teller", "load", "--purse", "ecash", "--amount", ecash],
        )
        .assert_success();
        self.run(
            reader,
            &[
                "teller",
                "load",
                "--purse",
                "food",
                "--amount",
                food,
                "--expiry",
                "2030-12-31",
            ],
        )
        .assert_success();
    }

    fn balances(&self, reader: &str) -> (i64, i64) {
        let info = self.json(reader, &["card", "info"]);
        (
            info["purses"]["ecash"]["balance"]
                .as_i64()
                .expect("ecash balance"),
            info["purses"]["food"]["balance"]
                .as_i64()
                .expect("food balance"),
        )
    }

    fn audit_clean(&self, reader: &str) {
        let out = self.run(reader, &["audit"]);
        out.assert_success();
    }
}

/// Slot 0 leased, a fresh home, a purse card issued and loaded with `ecash` and `food`, and the
/// SAM file of merchant M-GROC ("Corner Grocery", MCC 5411; `food_merchant` as told) issued.
/// Returns the lease, the home, the purse card's name and the SAM file's path.
fn grocery(ecash: &str, food: &str, food_merchant: bool) -> (SlotLease, Home, String, String) {
    let mut slot = SlotLease::acquire(0).expect("slot");
    let r = slot.reader();
    let home = Home::new();
    let purse = slot.insert_new_card(CardKind::Purse).expect("purse card");
    home.issued_card(r, ecash, food);
    let groc = home.sam("sam-groc");
    home.issue_sam(r, &groc, "M-GROC", "Corner Grocery", "5411", food_merchant);
    (slot, home, purse, groc)
}

fn legs(receipt: &Value) -> Vec<(String, i64)> {
    receipt["legs"]
        .as_array()
        .expect("legs")
        .iter()
        .map(|l| {
            (
                l["purse"].as_str().unwrap_or("?").to_owned(),
                l["amount"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[test]
fn a_full_day_settles_to_the_last_paisa() {
    let mut slot = SlotLease::acquire(0).expect("slot");
    let r = slot.reader();
    let home = Home::new();
    let purse = slot.insert_new_card(CardKind::Purse).expect("purse card");
    home.issued_card(r, "1500.00", "300.00");
    let groc = home.sam("sam-groc");
    let book = home.sam("sam-book");
    home.issue_sam(r, &groc, "M-GROC", "Corner Grocery", "5411", true);
    home.issue_sam(r, &book, "M-BOOK", "Book Shop", "5942", false);

    // Food merchant, auto: the voucher pays.
    let s1 = home.json(r, &["pos", "sale", "--amount", "120.00", "--sam", &groc]);
    assert_eq!(legs(&s1), vec![("food".to_owned(), 12_000)]);
    // Split sale: the rest of the voucher, then e-Cash; one receipt.
    let s2 = home.json(r, &["pos", "sale", "--amount", "250.00", "--sam", &groc]);
    assert_eq!(
        legs(&s2),
        vec![("food".to_owned(), 18_000), ("ecash".to_owned(), 7_000)]
    );
    assert_eq!(s2["total"], 25_000);
    // Refusals: nothing debited.
    home.run(
        r,
        &[
            "pos", "sale", "--amount", "5.00", "--purse", "food", "--sam", &book,
        ],
    )
    .assert_code(31);
    home.run(
        r,
        &[
            "pos", "sale", "--amount", "9000.00", "--purse", "ecash", "--sam", &book,
        ],
    )
    .assert_code(30);
    home.run(r, &["pos", "sale", "--amount", "550.00", "--sam", &book])
        .assert_code(32);
    home.run_with_pin(
        r,
        &["pos", "sale", "--amount", "550.00", "--sam", &book],
        "9999",
    )
    .assert_code(32);
    // Non-food merchant with the PIN.
    let s3 = home.run_with_pin(
        r,
        &[
            "--json", "pos", "sale", "--amount", "550.00", "--sam", &book,
        ],
        "1234",
    );
    s3.assert_success();
    let s3: Value = s3.json();
    assert_eq!(legs(&s3), vec![("ecash".to_owned(), 55_000)]);
    assert_eq!(s3["legs"][0]["pin_verified"], true);
    assert_eq!(home.balances(r), (150_000 - 7_000 - 55_000, 0));

    // Transfer, upload, ack for both merchants on one transfer card.
    slot.insert_new_card(CardKind::Transfer)
        .expect("transfer card");
    home.run(r, &["backoffice", "transfer-card-issue"])
        .assert_success();
    for (sam, merchant, credited) in [(&groc, "M-GROC", 37_000), (&book, "M-BOOK", 55_000)] {
        let t = home.json(r, &["pos", "transfer", "--sam", sam]);
        assert_eq!(t["total"], credited);
        let u = home.json(r, &["settle", "upload"]);
        assert_eq!(
            (u["credited"].as_i64(), u["rejected"].as_i64()),
            (Some(credited), Some(0))
        );
        // A second upload of the same card is refused by the card's state, nothing credited.
        home.run(r, &["settle", "upload"]).assert_code(36);
        let a = home.json(r, &["pos", "ack", "--sam", sam]);
        assert_eq!(a["credited"], credited);
        let st = home.json(r, &["pos", "status", "--sam", sam]);
        assert_eq!(st["value_held"], 0);
        let statement = home.json(r, &["settle", "statement", "--merchant-id", merchant]);
        assert_eq!(statement["balance"], credited);
    }
    home.audit_clean(r);
    slot.remove().expect("remove");
    slot.insert(&purse).expect("purse back");
    assert_eq!(home.balances(r), (88_000, 0));
}

/// The APDUs of a sale on a card with nothing pending: SELECT, GET STATUS, INITIALIZE
/// PURCHASE, DEBIT PURCHASE.
const SALE_APDUS: u32 = 4;

#[test]
fn a_sale_interrupted_at_every_apdu_boundary_is_recovered_exactly_once() {
    let (mut slot, home, purse, groc) = grocery("1000.00", "100.00", false);
    let r = slot.reader();
    let (mut ecash, _) = home.balances(r);
    let mut debited = 0i64;
    for kind in ["drop-command", "drop-response"] {
        for k in 1..=SALE_APDUS {
            slot.arm_fault(kind, k, Some(Duration::from_millis(300)))
                .expect("fault");
            let out = home.run(
                r,
                &[
                    "pos", "sale", "--amount", "10.00", "--purse", "ecash", "--sam", &groc,
                ],
            );
            assert!(
                !out.success() || k > SALE_APDUS,
                "{kind} at APDU {k} should fail:\n{out}"
            );
            assert!(
                matches!(out.code, Some(5) | Some(33)),
                "{kind} at APDU {k}:\n{out}"
            );
            slot.wait_present().expect("card back");
            home.run(r, &["pos", "recover", "--sam", &groc])
                .assert_success();
            let (now, _) = home.balances(r);
            let status = home.json(r, &["pos", "status", "--sam", &groc]);
            assert_eq!(
                status["pending"].as_array().map(Vec::len),
                Some(0),
                "{kind} {k}: {status}"
            );
            // The card was debited at most once, and the SAM journaled exactly what it lost.
            assert!(
                ecash - now == 0 || ecash - now == 1_000,
                "{kind} {k}: {ecash} -> {now}"
            );
            debited += ecash - now;
            ecash = now;
            assert_eq!(
                status["open"]["ecash"]["total"].as_i64(),
                Some(debited),
                "{kind} {k}: {status}"
            );
        }
    }
    // A debit whose response was lost must have happened (drop-response at DEBIT PURCHASE).
    assert!(
        debited >= 1_000,
        "no interrupted debit was recovered as completed"
    );
    // A normal sale still works, then the day settles to the last paisa.
    home.run(
        r,
        &[
            "pos", "sale", "--amount", "1.00", "--purse", "ecash", "--sam", &groc,
        ],
    )
    .assert_success();
    debited += 100;
    slot.insert_new_card(CardKind::Transfer)
        .expect("transfer card");
    home.run(r, &["backoffice", "transfer-card-issue"])
        .assert_success();
    home.run(r, &["pos", "transfer", "--sam", &groc])
        .assert_success();
    let u = home.json(r, &["settle", "upload"]);
    assert_eq!(u["credited"].as_i64(), Some(debited));
    home.run(r, &["pos", "ack", "--sam", &groc])
        .assert_success();
    home.audit_clean(r);
    slot.remove().expect("remove");
    slot.insert(&purse).expect("purse back");
    assert_eq!(home.balances(r).0, 100_000 - debited);
}

/// APDUs of `pos transfer` writing a one-chunk batch to a blank-state card: SELECT, GET
/// STATUS, WRITE BATCH, FINISH BATCH, GET STATUS, READ BATCH.
const TRANSFER_APDUS: u32 = 6;
/// APDUs of `settle upload` of a one-chunk batch: SELECT, GET STATUS, READ BATCH, CLEAR BATCH.
const UPLOAD_APDUS: u32 = 4;

#[test]
fn transfer_and_upload_interrupted_at_every_apdu_lose_nothing_and_credit_once() {
    let (mut slot, home, purse, groc) = grocery("100.00", "100.00", true);
    let r = slot.reader();
    home.run(r, &["pos", "sale", "--amount", "12.34", "--sam", &groc])
        .assert_success();
    home.run(
        r,
        &[
            "pos", "sale", "--amount", "1.00", "--purse", "ecash", "--sam", &groc,
        ],
    )
    .assert_success();
    let total = 1_334;

    // The same sealed batch written to a fresh transfer card each time, interrupted at each APDU.
    let mut cards = Vec::new();
    for kind in ["drop-command", "drop-response"] {
        for k in 1..=TRANSFER_APDUS {
            let card = slot
                .insert_new_card(CardKind::Transfer)
                .expect("transfer card");
            home.run(r, &["backoffice", "transfer-card-issue"])
                .assert_success();
            slot.arm_fault(kind, k, Some(Duration::from_millis(300)))
                .expect("fault");
            let first = home.run(r, &["pos", "transfer", "--sam", &groc]);
            slot.wait_present().expect("card back");
            let again = home.json(r, &["pos", "transfer", "--sam", &groc]);
            assert_eq!(again["batch_no"], 1, "{kind} {k}: {first}");
            assert_eq!(again["total"], total, "{kind} {k}");
            cards.push(card);
        }
    }
    let status = home.json(r, &["pos", "status", "--sam", &groc]);
    assert_eq!(status["value_held"], total);

    // Uploads interrupted at each APDU, from different cards holding the same batch.
    let mut used = cards.iter();
    for kind in ["drop-command", "drop-response"] {
        for k in 1..=UPLOAD_APDUS {
            let card = used.next().expect("a card left");
            slot.remove().expect("remove");
            slot.insert(card).expect("insert");
            slot.arm_fault(kind, k, Some(Duration::from_millis(300)))
                .expect("fault");
            let first = home.run(r, &["settle", "upload"]);
            slot.wait_present().expect("card back");
            let again = home.run(r, &["--json", "settle", "upload"]);
            // Either the retry settles (first settlement or a replay), or the acknowledgement
            // already reached the card before its answer was lost.
            assert!(
                again.success() || again.code == Some(36),
                "{kind} {k}: {first}\n{again}"
            );
            if again.success() {
                let v: Value = again.json();
                assert_eq!(v["credited"], total, "{kind} {k}");
            }
            let statement = home.json(r, &["settle", "statement", "--merchant-id", "M-GROC"]);
            assert_eq!(statement["balance"], total, "credited once ({kind} {k})");
        }
    }
    // The last card carries the acknowledgement to the POS.
    let ack = home.json(r, &["pos", "ack", "--sam", &groc]);
    assert_eq!(ack["credited"], total);
    let status = home.json(r, &["pos", "status", "--sam", &groc]);
    assert_eq!(status["value_held"], 0);
    home.audit_clean(r);
    slot.remove().expect("remove");
    slot.insert(&purse).expect("purse back");
}
