//! `epurse audit`: value conservation over the whole ledger and the known card balances.
//! Prints the totals; exits 27 on any discrepancy (each listed), 0 when clean.
//!
//! With `--card`, the card in the reader is checked against the ledger as well: a card with no
//! unsettled load may hold at most what the ledger loaded onto it (its float; purchases not yet
//! settled only lower the card's balance), and its load counters may not be below the last
//! completed load the ledger knows.
//!
//! Settlement is covered too: the merchants and SAMs the ledger knows, the batches settled,
//! the records rejected, the uploads refused whole, and the settlement checks (each merchant
//! account equals its settled batches, each batch moved exactly its accepted records). Sales
//! still inside a merchant's SAM (not sealed, or sealed but not uploaded) cannot be known by
//! the bank: with `--sam DIR` the SAM's state is read as well, its open and unacknowledged
//! totals are reported and checked against the card floats (a SAM cannot hold more sales of a
//! purse than the cards carry), and the SAM must be one this ledger issued.
//!
//! JSON output (`--json`, amounts in minor units): `{"clean", "currency", "totals":
//! {"deposited", "customer_ecash", "customer_food", "pending_ecash", "pending_food",
//! "float_ecash", "float_food", "merchants", "in_transit", "transfers", "customers", "cards",
//! "loads_pending", "loads_escalated", "loads_completed", "loads_released"},
//! "discrepancies": [text], "card": null or {"serial", "ecash": C, "food": C},
//! "settlement": {"merchants", "sams", "sams_active", "batches_settled", "records_accepted",
//! "records_rejected", "uploads_refused", "credited", "in_transit_ledger",
//! "in_sams_unknown_to_bank": true}, "sam": null or {"sam_id", "merchant_id", "open": T,
//! "unacknowledged": T, "settled_awaiting_ack": T, "in_transit": T}}` with `T = {"ecash",
//! "food", "ecash_count", "food_count"}` (card, settlement and SAM findings are listed in
//! `discrepancies` too) and `C = {"balance", "float", "load_counter", "ledger_load_counter"}`

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use apdu_spec::{Applet, Lifecycle, Purse};
use backoffice::{Backoffice, Currency};
use clap::Args;
use sam::{Accumulators, SecurityModule};
use serde_json::{json, Value};

use super::teller::{office_error, open_office, OfficeArgs};
use super::{connect, to_json, CliError, Global};
use crate::card::CardClient;
use crate::teller::Office;
use crate::transport::Transport;

/// `epurse audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Also check the card in the reader against the ledger (balance within what was loaded,
    /// counters not rewound).
    #[arg(long)]
    pub card: bool,
    /// Also read the merchant SAM state in this directory (its sales not yet uploaded) and
    /// check it against the ledger.
    #[arg(long, value_name = "DIR")]
    pub sam: Option<PathBuf>,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// Runs `epurse audit`.
pub fn run(args: &AuditArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    if args.office.remote.url.is_some() {
        return Err(CliError::Usage(
            "epurse audit reads the ledger file itself: run it on the back-office machine without --backoffice (unset EPURSE_BACKOFFICE)".to_owned(),
        ));
    }
    let mut bo = open_office(&args.office)?;
    let currency = Office::currency(&bo);
    let report = bo.audit().map_err(|e| office_error(&currency, e))?;
    let settlement = settlement_summary(&mut bo, &currency)?;
    let sam = match &args.sam {
        Some(dir) => Some(check_sam(&mut bo, &currency, dir, &report.totals)?),
        None => None,
    };
    let card = if args.card {
        Some(check_card(&mut bo, &currency, global)?)
    } else {
        None
    };
    let findings: Vec<String> = report
        .discrepancies
        .iter()
        .map(ToString::to_string)
        .chain(settlement.findings.iter().cloned())
        .chain(sam.iter().flat_map(|c| c.findings.iter().cloned()))
        .chain(card.iter().flat_map(|c| c.findings.iter().cloned()))
        .collect();
    let clean = findings.is_empty();
    let t = &report.totals;
    let text = if global.json {
        to_json(&json!({
            "clean": clean,
            "currency": currency.code(),
            "totals": {
                "deposited": t.deposited,
                "customer_ecash": t.customer_ecash,
                "customer_food": t.customer_food,
                "pending_ecash": t.pending_ecash,
                "pending_food": t.pending_food,
                "float_ecash": t.float_ecash,
                "float_food": t.float_food,
                "merchants": t.merchants,
                "in_transit": t.in_transit,
                "transfers": t.transfers,
                "customers": t.customers,
                "cards": t.cards,
                "loads_pending": t.loads_pending,
                "loads_escalated": t.loads_escalated,
                "loads_completed": t.loads_completed,
                "loads_released": t.loads_released,
            },
            "discrepancies": findings,
            "card": card.as_ref().map(CardCheck::json),
            "settlement": settlement.json(t.in_transit),
            "sam": sam.as_ref().map(SamCheck::json),
        }))?
    } else {
        let mut s = t.describe(&currency);
        s += &settlement.text(&currency, t.in_transit);
        if let Some(c) = &sam {
            s += &c.text(&currency);
        }
        if let Some(c) = &card {
            s += &c.text(&currency);
        }
        if clean {
            s += "\naudit clean: every transfer balances and all value is accounted for";
        } else {
            s += &format!("\n{} DISCREPANCIES:", findings.len());
            for d in &findings {
                s += &format!("\n  - {d}");
            }
        }
        s
    };
    writeln!(out, "{text}")
        .map_err(|e| CliError::Failed(format!("cannot write the output: {e}")))?;
    if clean {
        Ok(())
    } else {
        Err(CliError::Audit(format!(
            "the audit found {} discrepanc{}: stop loading and refer to the issuer",
            findings.len(),
            if findings.len() == 1 { "y" } else { "ies" }
        )))
    }
}

/// One purse of the card next to the ledger.
struct PurseCheck {
    balance: i64,
    float: i64,
    load_counter: u16,
    ledger_load_counter: u16,
}

/// The card in the reader next to the ledger.
struct CardCheck {
    serial: String,
    purses: [(Purse, PurseCheck); 2],
    /// What disagrees with the ledger.
    findings: Vec<String>,
}

impl CardCheck {
    fn json(&self) -> Value {
        let p = |c: &PurseCheck| {
            json!({"balance": c.balance, "float": c.float, "load_counter": c.load_counter,
                   "ledger_load_counter": c.ledger_load_counter})
        };
        json!({"serial": self.serial, "ecash": p(&self.purses[0].1), "food": p(&self.purses[1].1)})
    }

    fn text(&self, currency: &Currency) -> String {
        let mut s = format!("\ncard {}:", self.serial);
        for (purse, c) in &self.purses {
            s += &format!(
                "\n  {:<13} on card {}, loaded by the ledger {}, load counter {} (ledger {})",
                super::teller::purse_name(*purse),
                currency.display(c.balance),
                currency.display(c.float),
                c.load_counter,
                c.ledger_load_counter
            );
        }
        s
    }
}

/// Reads the card in the reader and lists what disagrees with the ledger: the card holds value
/// the ledger never loaded, its counters went back, or a load is unsettled (nothing to compare).
fn check_card(
    bo: &mut Backoffice,
    currency: &Currency,
    global: &Global,
) -> Result<CardCheck, CliError> {
    let mut found = Vec::new();
    let (_reader, mut transport) = connect(global)?;
    let mut tx = transport.transaction()?;
    let mut client = CardClient::new(&mut *tx);
    let selection = client.select(Applet::Purse)?;
    if selection.fci.lifecycle == Lifecycle::Blank {
        return Err(CliError::Usage(
            "--card: the card in the reader is blank; present an issued card".to_owned(),
        ));
    }
    let status = client.purse_status()?;
    let serial = status.serial;
    let registered = bo.card(&serial).map_err(|e| office_error(currency, e))?;
    let unsettled = !bo
        .pending_loads(Some(&serial))
        .map_err(|e| office_error(currency, e))?
        .is_empty();
    let check = |purse: Purse| {
        let block = status.purse(purse);
        let ledger = registered.purse(purse);
        PurseCheck {
            balance: i64::from(block.balance.get()),
            float: ledger.float,
            load_counter: block.load_counter,
            ledger_load_counter: ledger.load_counter,
        }
    };
    let purses = [
        (Purse::Ecash, check(Purse::Ecash)),
        (Purse::Food, check(Purse::Food)),
    ];
    for (purse, c) in &purses {
        let name = super::teller::purse_name(*purse);
        if !unsettled && c.balance > c.float {
            found.push(format!(
                "card {serial} {name}: the card holds {} but the ledger loaded only {} onto it \
                 (value the ledger never issued: block the card and refer to the issuer)",
                currency.display(c.balance),
                currency.display(c.float)
            ));
        }
        if c.load_counter < c.ledger_load_counter {
            found.push(format!(
                "card {serial} {name}: load counter {} is below the ledger's completed load {} \
                 (rolled-back or cloned card: block it and refer to the issuer)",
                c.load_counter, c.ledger_load_counter
            ));
        }
    }
    if unsettled {
        found.push(format!(
            "card {serial} has an unsettled load: run `epurse teller recover` with the card, \
             then audit again"
        ));
    }
    Ok(CardCheck {
        serial: serial.to_string(),
        purses,
        findings: found,
    })
}

/// What the ledger knows of settlement.
struct SettlementSummary {
    merchants: usize,
    sams: usize,
    sams_active: usize,
    batches: usize,
    accepted: u64,
    rejected: u64,
    refused: usize,
    credited: i64,
    findings: Vec<String>,
}

impl SettlementSummary {
    fn json(&self, in_transit: i64) -> Value {
        json!({
            "merchants": self.merchants, "sams": self.sams, "sams_active": self.sams_active,
            "batches_settled": self.batches, "records_accepted": self.accepted,
            "records_rejected": self.rejected, "uploads_refused": self.refused,
            "credited": self.credited, "in_transit_ledger": in_transit,
            "in_sams_unknown_to_bank": true,
        })
    }

    fn text(&self, currency: &Currency, in_transit: i64) -> String {
        format!(
            "\nsettlement: {} merchant{} with {} SAM{} ({} active); {} batch{} settled, \
             {} record{} accepted, {} rejected, {} upload{} refused whole; credited {}; \
             in transit in the ledger {}\
             \n  sales still in merchants' SAMs (not sealed, or sealed but not uploaded) cannot \
             be known by the bank: audit a SAM with --sam DIR",
            self.merchants,
            plural(self.merchants),
            self.sams,
            plural(self.sams),
            self.sams_active,
            self.batches,
            if self.batches == 1 { "" } else { "es" },
            self.accepted,
            plural(self.accepted as usize),
            self.rejected,
            self.refused,
            plural(self.refused),
            currency.display(self.credited),
            currency.display(in_transit),
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The settlement report and checks of the ledger.
fn settlement_summary(
    bo: &mut Backoffice,
    currency: &Currency,
) -> Result<SettlementSummary, CliError> {
    let findings = bo
        .settlement_audit()
        .map_err(|e| office_error(currency, e))?
        .into_iter()
        .map(|f| format!("settlement: {f}"))
        .collect();
    let report = bo
        .settlement_report()
        .map_err(|e| office_error(currency, e))?;
    let sams = bo.sams(None).map_err(|e| office_error(currency, e))?;
    let merchants: BTreeSet<&str> = sams.iter().map(|s| s.merchant_id.as_str()).collect();
    Ok(SettlementSummary {
        merchants: merchants.len(),
        sams: sams.len(),
        sams_active: sams.iter().filter(|s| s.active).count(),
        batches: report.batches.len(),
        accepted: report.batches.iter().map(|b| u64::from(b.accepted)).sum(),
        rejected: report.batches.iter().map(|b| u64::from(b.rejected)).sum(),
        refused: report.refused.len(),
        credited: report.total_credited,
        findings,
    })
}

/// A merchant SAM's value next to the ledger.
struct SamCheck {
    sam_id: String,
    merchant_id: String,
    open: Accumulators,
    unacknowledged: Accumulators,
    settled_awaiting_ack: Accumulators,
    findings: Vec<String>,
}

fn add(a: &mut Accumulators, b: &Accumulators) {
    a.ecash.count = a.ecash.count.saturating_add(b.ecash.count);
    a.ecash.total = a.ecash.total.saturating_add(b.ecash.total);
    a.food.count = a.food.count.saturating_add(b.food.count);
    a.food.total = a.food.total.saturating_add(b.food.total);
}

fn totals_json(a: &Accumulators) -> Value {
    json!({"ecash": a.ecash.total, "food": a.food.total,
           "ecash_count": a.ecash.count, "food_count": a.food.count})
}

impl SamCheck {
    /// Sales the bank does not know yet: the open journal and the sealed batches it has not
    /// settled.
    fn in_transit(&self) -> Accumulators {
        let mut t = self.open;
        add(&mut t, &self.unacknowledged);
        t
    }

    fn json(&self) -> Value {
        json!({
            "sam_id": self.sam_id, "merchant_id": self.merchant_id,
            "open": totals_json(&self.open),
            "unacknowledged": totals_json(&self.unacknowledged),
            "settled_awaiting_ack": totals_json(&self.settled_awaiting_ack),
            "in_transit": totals_json(&self.in_transit()),
        })
    }

    fn text(&self, currency: &Currency) -> String {
        let m = |v: u64| currency.display(i64::try_from(v).unwrap_or(i64::MAX));
        let line = |name: &str, a: &Accumulators| {
            format!(
                "\n  {name:<28} e-Cash {} ({} sale{}), Food {} ({} sale{})",
                m(a.ecash.total),
                a.ecash.count,
                plural(a.ecash.count as usize),
                m(a.food.total),
                a.food.count,
                plural(a.food.count as usize)
            )
        };
        let mut s = format!("\nSAM {} of merchant {}:", self.sam_id, self.merchant_id);
        s += &line("open journal", &self.open);
        s += &line("sealed, not uploaded", &self.unacknowledged);
        s += &line("settled, ack not taken back", &self.settled_awaiting_ack);
        s += &line("in transit (bank unaware)", &self.in_transit());
        s
    }
}

/// Reads the SAM state in `dir` and checks it against the ledger: the SAM is one this ledger
/// issued, and its sales the bank does not know yet fit in the card floats.
fn check_sam(
    bo: &mut Backoffice,
    currency: &Currency,
    dir: &std::path::Path,
    totals: &backoffice::AuditTotals,
) -> Result<SamCheck, CliError> {
    let module = super::pos::open_sam(dir)?;
    let status = module.status();
    let sam_id = status.profile.sam_id;
    let mut findings = Vec::new();
    let registered = bo.sams(None).map_err(|e| office_error(currency, e))?;
    match registered.iter().find(|r| r.sam_id == sam_id) {
        None => findings.push(format!(
            "SAM {sam_id} in {} was not issued by this ledger: its batches will be refused",
            dir.display()
        )),
        Some(r) if !r.active => findings.push(format!(
            "SAM {sam_id} is revoked in the ledger: its batches will be refused; refer the merchant to the issuer"
        )),
        Some(_) => {}
    }
    let mut unacknowledged = Accumulators::default();
    let mut settled_awaiting_ack = Accumulators::default();
    for batch in &status.unacknowledged {
        match bo.settlement(sam_id, batch.batch_no) {
            Ok(_) => add(&mut settled_awaiting_ack, &batch.totals),
            Err(backoffice::Error::NotFound(_)) => add(&mut unacknowledged, &batch.totals),
            Err(e) => return Err(office_error(currency, e)),
        }
    }
    let check = SamCheck {
        sam_id: sam_id.to_string(),
        merchant_id: status.profile.merchant_id.to_string(),
        open: status.open,
        unacknowledged,
        settled_awaiting_ack,
        findings: Vec::new(),
    };
    let transit = check.in_transit();
    for (name, held, float) in [
        ("e-Cash", transit.ecash.total, totals.float_ecash),
        ("Food-Voucher", transit.food.total, totals.float_food),
    ] {
        let held = i64::try_from(held).unwrap_or(i64::MAX);
        if held > float {
            findings.push(format!(
                "SAM {sam_id} holds {} of {name} sales not yet settled but all cards carry only {} \
                 of {name} in the ledger (sales the cards could not pay: refer to the issuer)",
                currency.display(held),
                currency.display(float)
            ));
        }
    }
    Ok(SamCheck { findings, ..check })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cli::backoffice_sam::{self, SamCmd, SamIssueArgs};

    /// A temporary directory removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "epurse-cli-audit-{tag}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn office(dir: &Path) -> OfficeArgs {
        OfficeArgs {
            db: Some(dir.join("ledger.db")),
            keys: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev-master-keys.json")),
            remote: Default::default(),
        }
    }

    const JSON: Global = Global {
        reader: None,
        json: true,
    };

    fn audit(ledger: &Path, sam: Option<&Path>) -> (Result<(), CliError>, Value) {
        let mut out = Vec::new();
        let result = run(
            &AuditArgs {
                card: false,
                sam: sam.map(Path::to_path_buf),
                office: office(ledger),
            },
            &JSON,
            &mut out,
        );
        let v = serde_json::from_slice(&out).expect("JSON output");
        (result, v)
    }

    fn issue_sam(ledger: &Path, sam: &Path) {
        let mut out = Vec::new();
        backoffice_sam::run(
            &SamCmd::SamIssue(SamIssueArgs {
                merchant_id: "M-BOOKS".into(),
                name: "Book Nook".into(),
                mcc: "5942".into(),
                food: false,
                sam: Some(sam.to_path_buf()),
                office: office(ledger),
            }),
            &JSON,
            &mut out,
        )
        .expect("sam-issue");
    }

    #[test]
    fn a_new_ledger_reports_empty_settlement_and_is_clean() {
        let ledger = Dir::new("empty");
        let (result, v) = audit(&ledger.0, None);
        assert!(result.is_ok(), "{v}");
        assert_eq!(v["clean"], true);
        let s = &v["settlement"];
        assert_eq!(
            (
                s["merchants"].as_u64(),
                s["sams"].as_u64(),
                s["batches_settled"].as_u64(),
                s["records_rejected"].as_u64(),
                s["credited"].as_i64()
            ),
            (Some(0), Some(0), Some(0), Some(0), Some(0))
        );
        assert_eq!(s["in_sams_unknown_to_bank"], true);
        assert!(v["sam"].is_null());
    }

    #[test]
    fn a_sam_of_this_ledger_is_reported_and_a_foreign_or_revoked_one_is_a_discrepancy() {
        let ledger = Dir::new("bank");
        let sam_dir = Dir::new("sam");
        let sam_path = sam_dir.0.join("pos1");
        issue_sam(&ledger.0, &sam_path);

        let (result, v) = audit(&ledger.0, Some(&sam_path));
        assert!(result.is_ok(), "{v}");
        assert_eq!(v["settlement"]["merchants"], 1);
        assert_eq!(v["settlement"]["sams_active"], 1);
        assert_eq!(v["sam"]["merchant_id"], "M-BOOKS");
        assert_eq!(v["sam"]["in_transit"]["ecash"], 0);
        assert_eq!(v["sam"]["unacknowledged"]["food_count"], 0);

        // Another bank's ledger does not know this SAM: exit 27 with the finding.
        let other = Dir::new("other-bank");
        let (result, v) = audit(&other.0, Some(&sam_path));
        let err = result.expect_err("a foreign SAM is a discrepancy");
        assert_eq!(err.exit_code(), crate::cli::EXIT_AUDIT);
        assert_eq!(v["clean"], false);
        assert!(
            v["discrepancies"][0]
                .as_str()
                .is_some_and(|d| d.contains("was not issued by this ledger")),
            "{v}"
        );

        // Revoked at the bank: its batches will be refused, the audit says so.
        let sam_id = v["sam"]["sam_id"].as_str().unwrap().to_owned();
        let mut bo = open_office(&office(&ledger.0)).unwrap();
        let id = bo
            .sams(None)
            .unwrap()
            .into_iter()
            .find(|s| s.sam_id.to_string() == sam_id)
            .expect("registered")
            .sam_id;
        bo.revoke_sam(id).unwrap();
        drop(bo);
        let (result, v) = audit(&ledger.0, Some(&sam_path));
        assert!(result.is_err());
        assert!(
            v["discrepancies"][0]
                .as_str()
                .is_some_and(|d| d.contains("revoked")),
            "{v}"
        );
        assert_eq!(v["settlement"]["sams_active"], 0);
    }

    #[test]
    fn a_missing_sam_directory_is_a_usage_error_not_a_discrepancy() {
        let ledger = Dir::new("nosam");
        let missing = ledger.0.join("no-such-sam");
        let err = run(
            &AuditArgs {
                card: false,
                sam: Some(missing),
                office: office(&ledger.0),
            },
            &JSON,
            &mut Vec::new(),
        )
        .expect_err("no SAM file");
        assert_eq!(err.exit_code(), crate::cli::EXIT_USAGE);
    }
}
