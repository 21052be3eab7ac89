//! `epurse audit`: value conservation over the whole ledger and the known card balances.
//! Prints the totals; exits 27 on any discrepancy (each listed), 0 when clean.
//!
//! With `--card`, the card in the reader is checked against the ledger as well: a card with no
//! unsettled load may hold at most what the ledger loaded onto it (its float; purchases not yet
//! settled only lower the card's balance), and its load counters may not be below the last
//! completed load the ledger knows.
//!
//! JSON output (`--json`, amounts in minor units): `{"clean", "currency", "totals":
//! {"deposited", "customer_ecash", "customer_food", "pending_ecash", "pending_food",
//! "float_ecash", "float_food", "merchants", "in_transit", "transfers", "customers", "cards",
//! "loads_pending", "loads_escalated", "loads_completed", "loads_released"},
//! "discrepancies": [text], "card": null or {"serial", "ecash": C, "food": C}}` (card findings are listed
//! in `discrepancies` too) with `C =
//! {"balance", "float", "load_counter", "ledger_load_counter"}`

use std::io::Write;

use apdu_spec::{Applet, Lifecycle, Purse};
use backoffice::{Backoffice, Currency};
use clap::Args;
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
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// Runs `epurse audit`.
pub fn run(args: &AuditArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let mut bo = open_office(&args.office)?;
    let currency = Office::currency(&bo);
    let report = bo.audit().map_err(|e| office_error(&currency, e))?;
    let card = if args.card {
        Some(check_card(&mut bo, &currency, global)?)
    } else {
        None
    };
    let findings: Vec<String> = report
        .discrepancies
        .iter()
        .map(ToString::to_string)
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
        }))?
    } else {
        let mut s = t.describe(&currency);
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
