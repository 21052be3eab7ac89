//! `epurse pos ...`: the merchant terminal — sale, status, transfer, ack, recover.
//!
//! The SAM is the software model in `--sam DIR` (env `EPURSE_SAM`, default
//! `EPURSE_HOME/sam`): the SAM file `sam.json` issued by `epurse backoffice sam-issue` and the
//! SAM's crash-safe state next to it. The card is in the reader chosen by `--reader`.
//!
//! JSON output (`--json`):
//!
//! - `pos sale`: `{"merchant_id", "merchant_name", "sam_id", "serial", "datetime", "total",
//!   "legs": [{"purse", "amount", "balance_after", "counter", "sam_seq", "pin_verified"}],
//!   "recovered": [{"sam_seq", "purse", "amount", "outcome", "detail"}]}`
//! - `pos recover`: `{"serial", "recovered": [...]}`
//! - `pos status`: `{"sam_id", "merchant_id", "merchant_name", "mcc", "food_merchant",
//!   "last_sequence", "last_batch_no", "open": {"ecash": T, "food": T}, "pending":
//!   [{"sam_seq", "serial", "purse", "amount", "status"}], "unacknowledged": [{"batch_no",
//!   "records", "total", "first_sam_seq", "last_sam_seq"}], "value_held"}` with
//!   `T = {"count", "total"}`
//! - `pos transfer`: `{"xserial", "batch_no" (or null), "records", "total", "already_on_card",
//!   "waiting", "acknowledged_batch" (or null)}`
//! - `pos ack`: `{"xserial", "batch_no", "credited", "accepted", "rejected", "already_applied"}`
//!
//! Amounts are integers in minor units. Exit codes: see [`crate::cli`] (30..36 for the POS).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use apdu_spec::{DateTime, PinBlock, Purse};
use clap::{Args, Subcommand, ValueEnum};
use sam::{AckOutcome, SamError, SamFile, SecurityModule, SoftwareSam, StatePaths};
use serde_json::{json, Value};

use super::{connect, format_amount, to_json, CliError, Global};
use crate::config;
use crate::exchange::Channel;
use crate::pos::{self, PosError, PurseChoice, Receipt, RecoveryNote, SaleRefusal, SaleRequest};

/// Exit code: the purses cannot pay the amount.
pub const EXIT_INSUFFICIENT_BALANCE: u8 = 30;
/// Exit code: that purse cannot pay here (food purse at a non-food merchant, voucher expired,
/// merchant category not allowed by the card).
pub const EXIT_PURSE_NOT_ALLOWED: u8 = 31;
/// Exit code: PIN needed, wrong or blocked.
pub const EXIT_PIN: u8 = 32;
/// Exit code: the sale was interrupted; the purchase is pending until the card is presented
/// again (`epurse pos recover`).
pub const EXIT_SALE_PENDING: u8 = 33;
/// Exit code: a split sale paid only its first part.
pub const EXIT_PARTIAL: u8 = 34;
/// Exit code: the SAM refused or its state cannot be used.
pub const EXIT_SAM: u8 = 35;
/// Exit code: transfer card or settlement problem (wrong card state, batch refused).
pub const EXIT_SETTLEMENT: u8 = 36;

/// The SAM's directory option.
#[derive(Debug, Clone, Default, Args)]
pub struct SamArgs {
    /// SAM directory (SAM file `sam.json` and state; default EPURSE_HOME/sam).
    #[arg(long, value_name = "DIR", env = "EPURSE_SAM")]
    pub sam: Option<PathBuf>,
    /// Date and time of the terminal, `YYYY-MM-DDThh:mm:ss` (default: now, UTC).
    #[arg(
        long,
        value_name = "DATETIME",
        hide = true,
        env = "EPURSE_POS_DATETIME"
    )]
    pub datetime: Option<String>,
}

/// Purse choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PurseOpt {
    /// Food-Voucher first at a food merchant, the rest from e-Cash.
    Auto,
    /// e-Cash.
    Ecash,
    /// Food-Voucher.
    Food,
}

/// `epurse pos ...`
#[derive(Debug, Subcommand)]
pub enum PosCmd {
    /// Sell: debit the card in the reader, print the receipt.
    Sale(SaleArgs),
    /// SAM totals, pending purchases, unacknowledged batches.
    Status(SamArgs),
    /// Decide the purchases pending on the card in the reader from its evidence.
    Recover(SamArgs),
    /// Seal the SAM's records and write the batch onto the transfer card in the reader.
    Transfer(SamArgs),
    /// Read the bank's acknowledgement from the transfer card into the SAM.
    Ack(SamArgs),
}

/// `epurse pos sale`
#[derive(Debug, Args)]
pub struct SaleArgs {
    /// Amount in the installation currency, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// Which purse pays.
    #[arg(long, value_enum, default_value = "auto")]
    pub purse: PurseOpt,
    /// Read the cardholder PIN from the first line of standard input (when the amount needs it).
    #[arg(long)]
    pub pin_from_stdin: bool,
    #[command(flatten)]
    pub sam: SamArgs,
}

/// The SAM file's name in the SAM directory.
pub const SAM_FILE: &str = "sam.json";

/// Opens the software SAM in `dir`.
pub fn open_sam(dir: &Path) -> Result<SoftwareSam, CliError> {
    let file_path = dir.join(SAM_FILE);
    if !file_path.exists() {
        return Err(CliError::Usage(format!(
            "no SAM file at {}: issue one with epurse backoffice sam-issue --sam {} (or pass --sam DIR / set EPURSE_SAM)",
            file_path.display(),
            dir.display()
        )));
    }
    let file = SamFile::load(&file_path).map_err(|e| CliError::Pos(PosError::Sam(e.into())))?;
    SoftwareSam::open(StatePaths::in_dir(dir), file).map_err(|e| CliError::Pos(PosError::Sam(e)))
}

fn sam_dir(args: &SamArgs) -> Result<PathBuf, CliError> {
    config::sam_dir(args.sam.as_deref()).map_err(|e| CliError::Office(e.to_string()))
}

/// The terminal's date and time.
pub fn now(args: &SamArgs) -> Result<DateTime, CliError> {
    if let Some(text) = &args.datetime {
        return text.parse::<DateTime>().map_err(|e| {
            CliError::Usage(format!(
                "--datetime {text:?}: {e}; write it as YYYY-MM-DDThh:mm:ss"
            ))
        });
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    backoffice::clock::datetime_at(unix, 0)
        .ok_or_else(|| CliError::Failed("the system clock is out of range; fix it".into()))
}

/// The exit code of a POS error.
pub fn exit_code(e: &PosError) -> u8 {
    match e {
        PosError::Refused(r) => match r {
            SaleRefusal::InsufficientBalance { .. } => EXIT_INSUFFICIENT_BALANCE,
            SaleRefusal::FoodAtNonFoodMerchant
            | SaleRefusal::VoucherExpired { .. }
            | SaleRefusal::CategoryNotAllowed => EXIT_PURSE_NOT_ALLOWED,
            SaleRefusal::PinRequired { .. }
            | SaleRefusal::WrongPin { .. }
            | SaleRefusal::PinBlocked => EXIT_PIN,
            SaleRefusal::CardBlocked => super::EXIT_CARD_BLOCKED,
            SaleRefusal::BadAmount(_) => super::EXIT_USAGE,
            SaleRefusal::Unresolved(_) => EXIT_SALE_PENDING,
            SaleRefusal::NotPersonalised => super::EXIT_REFUSED,
            SaleRefusal::Card {
                sw: apdu_spec::StatusWord::MacInvalid,
                ..
            } => super::EXIT_MAC_FAILURE,
            SaleRefusal::Card { .. } => super::EXIT_REFUSED,
        },
        PosError::Interrupted { .. } => EXIT_SALE_PENDING,
        PosError::Partial { .. } => EXIT_PARTIAL,
        PosError::Card(c) => CliError::Card(c.clone()).exit_code(),
        PosError::Sam(SamError::Mac2Invalid { .. }) => super::EXIT_MAC_FAILURE,
        PosError::Sam(_) => EXIT_SAM,
        PosError::Transfer(_) | PosError::BatchRejected(_) => EXIT_SETTLEMENT,
        PosError::Backoffice(_) => super::EXIT_OFFICE,
    }
}

fn purse_key(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "ecash",
        Purse::Food => "food",
    }
}

fn purse_title(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "e-Cash",
        Purse::Food => "Food-Voucher",
    }
}

fn recovered_json(notes: &[RecoveryNote]) -> Value {
    Value::Array(
        notes
            .iter()
            .map(|n| {
                json!({"sam_seq": n.sam_seq, "purse": purse_key(n.purse), "amount": n.amount,
                       "outcome": n.outcome, "detail": n.detail})
            })
            .collect(),
    )
}

fn recovered_text(notes: &[RecoveryNote]) -> String {
    notes
        .iter()
        .map(|n| {
            format!(
                "recovered purchase {} ({} {}): {} — {}\n",
                n.sam_seq,
                purse_title(n.purse),
                format_amount(n.amount),
                n.outcome,
                n.detail
            )
        })
        .collect()
}

/// The receipt as JSON (field names are a contract).
pub fn receipt_json(r: &Receipt) -> Value {
    json!({
        "merchant_id": r.merchant_id,
        "merchant_name": r.merchant_name,
        "sam_id": r.sam_id,
        "serial": r.serial.to_string(),
        "datetime": r.datetime.to_string(),
        "total": r.total,
        "legs": r.legs.iter().map(|l| json!({
            "purse": purse_key(l.purse), "amount": l.amount, "balance_after": l.balance_after,
            "counter": l.counter, "sam_seq": l.sam_seq, "pin_verified": l.pin_verified,
        })).collect::<Vec<_>>(),
        "recovered": recovered_json(&r.recovered),
    })
}

/// The receipt for people.
pub fn receipt_text(r: &Receipt) -> String {
    let mut s = recovered_text(&r.recovered);
    s.push_str(&format!(
        "{}  ({})\nSAM {}   {}\ncard {}\n",
        r.merchant_name, r.merchant_id, r.sam_id, r.datetime, r.serial
    ));
    for l in &r.legs {
        s.push_str(&format!(
            "  {:<13} {:>12}   balance {:>12}   #{} seq {}{}\n",
            purse_title(l.purse),
            format_amount(l.amount),
            format_amount(l.balance_after),
            l.counter,
            l.sam_seq,
            if l.pin_verified { "  PIN" } else { "" }
        ));
    }
    s.push_str(&format!(
        "  {:<13} {:>12}\n",
        "TOTAL",
        format_amount(r.total)
    ));
    s
}

fn read_pin() -> Option<PinBlock> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    PinBlock::from_digits(line.trim()).ok()
}

/// Runs `epurse pos ...`.
pub fn run(cmd: &PosCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        PosCmd::Sale(args) => run_sale(args, global, out),
        PosCmd::Status(args) => run_status(args, global, out),
        PosCmd::Recover(args) => run_recover(args, global, out),
        PosCmd::Transfer(args) => run_transfer(args, global, out),
        PosCmd::Ack(args) => run_ack(args, global, out),
    }
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write output: {e}"))
}

fn run_sale(args: &SaleArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let currency = backoffice::Currency::INR;
    let minor = currency.parse(&args.amount).map_err(|e| {
        CliError::Usage(format!(
            "--amount {:?}: {e}; write the amount like 12.50",
            args.amount
        ))
    })?;
    let amount = u32::try_from(minor)
        .ok()
        .filter(|a| *a > 0 && *a <= 0x7FFF_FFFF)
        .ok_or_else(|| CliError::Usage(format!("--amount {}: must be above 0.00", args.amount)))?;
    let datetime = now(&args.sam)?;
    let mut sam = open_sam(&sam_dir(&args.sam)?)?;
    let (_reader, transport) = connect(global)?;
    let mut ch = Channel::new(transport);
    let request = SaleRequest {
        amount,
        purse: match args.purse {
            PurseOpt::Auto => PurseChoice::Auto,
            PurseOpt::Ecash => PurseChoice::Ecash,
            PurseOpt::Food => PurseChoice::Food,
        },
        datetime,
    };
    let pin_allowed = args.pin_from_stdin;
    let mut pin = || if pin_allowed { read_pin() } else { None };
    let receipt = pos::sale(&mut ch, &mut sam, &request, &mut pin)?;
    if global.json {
        writeln!(out, "{}", to_json(&receipt_json(&receipt))?).map_err(io)?;
    } else {
        write!(out, "{}", receipt_text(&receipt)).map_err(io)?;
    }
    Ok(())
}

fn run_recover(args: &SamArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let mut sam = open_sam(&sam_dir(args)?)?;
    let (_reader, transport) = connect(global)?;
    let mut ch = Channel::new(transport);
    let r = ch
        .send(&apdu_spec::Select {
            applet: apdu_spec::Applet::Purse,
        })
        .map_err(crate::card::CardError::from)?;
    if !(r.sw.is_success() || r.sw == apdu_spec::StatusWord::SelectedBlocked) {
        return Err(crate::card::CardError::Status {
            command: "SELECT",
            sw: r.sw,
        }
        .into());
    }
    let fci =
        apdu_spec::Fci::parse(&r.data).map_err(|error| crate::card::CardError::Malformed {
            command: "SELECT",
            error,
        })?;
    let notes = pos::recover_card(&mut ch, &mut sam, fci.serial)?;
    if global.json {
        let v = json!({"serial": fci.serial.to_string(), "recovered": recovered_json(&notes)});
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
    } else if notes.is_empty() {
        writeln!(out, "card {}: no pending purchase", fci.serial).map_err(io)?;
    } else {
        write!(out, "{}", recovered_text(&notes)).map_err(io)?;
    }
    Ok(())
}

fn run_status(args: &SamArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let sam = open_sam(&sam_dir(args)?)?;
    let s = sam.status();
    let totals = |a: sam::Accumulators| {
        json!({"ecash": {"count": a.ecash.count, "total": a.ecash.total},
               "food": {"count": a.food.count, "total": a.food.total}})
    };
    if global.json {
        let v = json!({
            "sam_id": s.profile.sam_id.to_string(),
            "merchant_id": s.profile.merchant_id.to_string(),
            "merchant_name": s.profile.merchant_name,
            "mcc": s.profile.mcc.to_string(),
            "food_merchant": s.profile.food_merchant,
            "last_sequence": s.last_sequence,
            "last_batch_no": s.last_batch_no,
            "open": totals(s.open),
            "pending": s.pending.iter().map(|p| json!({
                "sam_seq": p.sam_seq, "serial": p.serial.to_string(), "purse": purse_key(p.purse),
                "amount": p.amount.get(), "status": p.status.describe(),
            })).collect::<Vec<_>>(),
            "unacknowledged": s.unacknowledged.iter().map(|b| json!({
                "batch_no": b.batch_no,
                "records": b.totals.combined().count,
                "total": b.totals.combined().total,
                "first_sam_seq": b.sam_seqs.0, "last_sam_seq": b.sam_seqs.1,
            })).collect::<Vec<_>>(),
            "value_held": s.value_held(),
        });
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
        return Ok(());
    }
    let mut t = format!(
        "SAM {}  merchant {} ({}), MCC {}, {}\nlast sequence {}, last batch {}\n",
        s.profile.sam_id,
        s.profile.merchant_name,
        s.profile.merchant_id,
        s.profile.mcc,
        if s.profile.food_merchant {
            "food merchant"
        } else {
            "non-food merchant"
        },
        s.last_sequence,
        s.last_batch_no
    );
    t.push_str(&format!(
        "open records: e-Cash {} for {}, Food {} for {}\n",
        s.open.ecash.count,
        format_amount(s.open.ecash.total),
        s.open.food.count,
        format_amount(s.open.food.total)
    ));
    for p in &s.pending {
        t.push_str(&format!(
            "pending purchase {}: card {} {} {} — {}\n",
            p.sam_seq,
            p.serial,
            purse_title(p.purse),
            format_amount(p.amount.get()),
            p.status.describe()
        ));
    }
    for b in &s.unacknowledged {
        t.push_str(&format!(
            "unacknowledged batch {}: {} records, {} (sequences {}..={})\n",
            b.batch_no,
            b.totals.combined().count,
            format_amount(b.totals.combined().total),
            b.sam_seqs.0,
            b.sam_seqs.1
        ));
    }
    t.push_str(&format!(
        "value held for the merchant: {}\n",
        format_amount(s.value_held())
    ));
    write!(out, "{t}").map_err(io)
}

fn run_transfer(args: &SamArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let datetime = now(args)?;
    let mut sam = open_sam(&sam_dir(args)?)?;
    let (_reader, transport) = connect(global)?;
    let mut ch = Channel::new(transport);
    let report = pos::transfer(&mut ch, &mut sam, datetime)?;
    let acked = report.acknowledged.map(|a| match a {
        AckOutcome::Dropped(b) | AckOutcome::AlreadyApplied(b) => b.header.batch_no,
    });
    let (batch_no, records, total) = match &report.batch {
        Some(b) => (
            Some(b.header.batch_no),
            b.records.len(),
            b.header.ecash_total + b.header.food_total,
        ),
        None => (None, 0, 0),
    };
    if global.json {
        let v = json!({"xserial": report.xserial.to_string(), "batch_no": batch_no,
            "records": records, "total": total, "already_on_card": report.already_on_card,
            "waiting": report.waiting, "acknowledged_batch": acked});
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
        return Ok(());
    }
    if let Some(n) = acked {
        writeln!(
            out,
            "acknowledgement of batch {n} found on the card and applied to the SAM"
        )
        .map_err(io)?;
    }
    match batch_no {
        None => writeln!(out, "nothing to transfer: the SAM holds no records").map_err(io)?,
        Some(n) => writeln!(
            out,
            "batch {n} ({records} records, {}) {} transfer card {}; take it to the settlement station (epurse settle upload)",
            format_amount(total),
            if report.already_on_card { "is already on" } else { "written to" },
            report.xserial
        )
        .map_err(io)?,
    }
    if report.waiting > 0 {
        writeln!(
            out,
            "{} more sealed batch(es) wait for another transfer card",
            report.waiting
        )
        .map_err(io)?;
    }
    Ok(())
}

fn run_ack(args: &SamArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let mut sam = open_sam(&sam_dir(args)?)?;
    let (_reader, transport) = connect(global)?;
    let mut ch = Channel::new(transport);
    let report = pos::acknowledge(&mut ch, &mut sam)?;
    let (b, again) = match report.outcome {
        AckOutcome::Dropped(b) => (b, false),
        AckOutcome::AlreadyApplied(b) => (b, true),
    };
    let a = b.ack.ack;
    if global.json {
        let v = json!({"xserial": report.xserial.to_string(), "batch_no": a.batch_no,
            "credited": a.credited, "accepted": a.accepted, "rejected": a.rejected,
            "already_applied": again});
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
    } else {
        writeln!(
            out,
            "batch {} acknowledged by the bank{}: {} credited, {} records accepted, {} rejected; the SAM dropped it",
            a.batch_no,
            if again { " (already applied before)" } else { "" },
            format_amount(a.credited),
            a.accepted,
            a.rejected
        )
        .map_err(io)?;
    }
    Ok(())
}
