//! `epurse settle ...`: the settlement station — upload the transfer card's batch to the back
//! office and write the acknowledgement back; the merchant statement and the settlement report.
//!
//! JSON output (`--json`):
//!
//! - `settle upload`: `{"xserial", "sam_id", "batch_no", "merchant_id", "records", "accepted",
//!   "rejected", "credited", "ecash_credited", "food_credited", "replayed", "rejections":
//!   [{"position", "serial", "counter", "amount", "reason"}], "findings": [text]}`
//! - `settle statement`: `{"merchant_id", "name", "mcc", "food", "balance", "total_credited",
//!   "batches": [{"sam_id", "batch_no", "sealed_at", "accepted", "rejected", "ecash_credited",
//!   "food_credited", "credited"}]}`
//! - `settle report`: `{"total_credited", "batches": [...as upload...], "refused": [{"at",
//!   "sam_id", "batch_no", "code", "detail"}]}`
//!
//! Amounts are integers in minor units. Exit code 36 when the back office refuses the batch
//! (nothing credited, the card keeps it) or the card is in the wrong state.

use std::io::{IsTerminal, Write};

use apdu_spec::{ClearBatch, ContractCommand};
use backoffice::api::wire::SettlementView;
use backoffice::client::{BackofficeClient, ClientError, IdempotencyKey};
use backoffice::settlement::Settlement;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::teller::{open_office, remote_client, OfficeArgs};
use super::{connect, format_amount, to_json, CliError, Global};
use crate::exchange::Channel;
use crate::pos;

/// `epurse settle ...`
#[derive(Debug, Subcommand)]
pub enum SettleCmd {
    /// Read the transfer card's batch, settle it at the back office, write the acknowledgement.
    Upload(OfficeArgs),
    /// A merchant's statement: settled batches and the account balance.
    Statement(StatementArgs),
    /// Every settled batch with its rejected records, and every refused upload.
    Report(OfficeArgs),
}

/// `epurse settle statement`
#[derive(Debug, Args)]
pub struct StatementArgs {
    /// The merchant id.
    #[arg(long)]
    pub merchant_id: String,
    #[command(flatten)]
    pub office: OfficeArgs,
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write output: {e}"))
}

fn office(e: backoffice::Error) -> CliError {
    match e {
        backoffice::Error::NotFound(m) | backoffice::Error::Invalid(m) => CliError::Usage(m),
        other => CliError::Office(other.to_string()),
    }
}

/// A settlement as JSON.
pub fn settlement_json(s: &Settlement) -> Value {
    json!({
        "sam_id": s.sam_id.to_string(),
        "batch_no": s.batch_no,
        "merchant_id": s.merchant_id,
        "records": s.records,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "credited": s.credited,
        "ecash_credited": s.ecash_credited,
        "food_credited": s.food_credited,
        "replayed": s.replayed,
        "rejections": s.outcomes.iter().filter_map(|o| o.rejection.map(|r| json!({
            "position": o.position, "serial": o.record.serial.to_string(),
            "counter": o.record.record.counter, "amount": o.record.record.amount.get(),
            "reason": r.code(),
        }))).collect::<Vec<_>>(),
        "findings": s.findings,
    })
}

fn settlement_text(s: &Settlement) -> String {
    let mut t = format!(
        "batch {} of SAM {} (merchant {}): {} records, {} accepted, {} rejected; credited {} (e-Cash {}, Food {}){}\n",
        s.batch_no,
        s.sam_id,
        s.merchant_id,
        s.records,
        s.accepted,
        s.rejected,
        format_amount(s.credited),
        format_amount(s.ecash_credited),
        format_amount(s.food_credited),
        if s.replayed { " — settled before, nothing credited again" } else { "" }
    );
    for o in &s.outcomes {
        if let Some(r) = o.rejection {
            t.push_str(&format!(
                "  rejected record {}: card {} counter {} amount {}: {}\n",
                o.position,
                o.record.serial,
                o.record.record.counter,
                format_amount(o.record.record.amount.get()),
                r.describe()
            ));
        }
    }
    for f in &s.findings {
        t.push_str(&format!("  note: {f}\n"));
    }
    t
}

/// A remote settlement as JSON (the same fields as [`settlement_json`]).
fn settlement_view_json(s: &SettlementView) -> Value {
    json!({
        "sam_id": s.sam_id,
        "batch_no": s.batch_no,
        "merchant_id": s.merchant_id,
        "records": s.records,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "credited": s.credited,
        "ecash_credited": s.ecash_credited,
        "food_credited": s.food_credited,
        "replayed": s.replayed,
        "rejections": s.rejections.iter().map(|r| json!({
            "position": r.position, "serial": r.serial, "counter": r.counter,
            "amount": r.amount, "reason": r.code,
        })).collect::<Vec<_>>(),
        "findings": s.findings,
    })
}

fn settlement_view_text(s: &SettlementView) -> String {
    let mut t = format!(
        "batch {} of SAM {} (merchant {}): {} records, {} accepted, {} rejected; credited {} (e-Cash {}, Food {}){}\n",
        s.batch_no,
        s.sam_id,
        s.merchant_id,
        s.records,
        s.accepted,
        s.rejected,
        format_amount(s.credited),
        format_amount(s.ecash_credited),
        format_amount(s.food_credited),
        if s.replayed { " — settled before, nothing credited again" } else { "" }
    );
    for r in &s.rejections {
        t.push_str(&format!(
            "  rejected record {}: card {} counter {} amount {}: {}\n",
            r.position,
            r.serial,
            r.counter,
            format_amount(r.amount),
            r.message
        ));
    }
    for f in &s.findings {
        t.push_str(&format!("  note: {f}\n"));
    }
    t
}

/// The progress bar of `settle upload` while the transfer card's batch is read (a full card of
/// 8 192 bytes is a few dozen READ BATCH commands, slow on a contact reader at a low baud rate):
/// on standard error, only when it is a terminal and the batch is over 4 KiB, never with
/// `--json`.
fn batch_progress(global: &Global) -> impl FnMut(usize, usize) {
    const WIDTH: usize = 30;
    let show = !global.json && std::io::stderr().is_terminal();
    let mut last_drawn = usize::MAX;
    move |done: usize, total: usize| {
        if !show || total <= 4096 {
            return;
        }
        let done = done.min(total);
        let percent = done * 100 / total;
        if percent == last_drawn {
            return; // one redraw per per cent, not one per APDU
        }
        last_drawn = percent;
        let filled = done * WIDTH / total;
        eprint!(
            "\rreading batch [{}{}] {percent:>3}%  {done}/{total} bytes",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled)
        );
        if done == total {
            eprintln!();
        }
    }
}

/// `epurse settle upload --backoffice URL`: the batch travels to the remote back office as
/// hex; its acknowledgement comes back and is written to the transfer card. A retry after a
/// lost answer is safe: the back office settles a (SAM, batch) once and answers the same
/// acknowledgement again.
fn upload_remote(
    client: &BackofficeClient,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (_reader, transport) = connect(global)?;
    let mut ch = Channel::new(transport);
    let mut progress = batch_progress(global);
    let (xserial, bytes) = pos::read_sealed_batch(&mut ch, &mut progress)?;
    let view = client
        .upload_batch(&bytes, &xserial, &IdempotencyKey::new())
        .map_err(|e| match e {
            ClientError::Api { status: 422, body } if body.error == "refused" => {
                CliError::Pos(pos::PosError::Transfer(format!(
                    "{} ({}); the transfer card keeps the batch",
                    body.message, body.code
                )))
            }
            other => CliError::Office(other.to_string()),
        })?;
    let clear = hex::decode(&view.clear)
        .ok()
        .and_then(|b| ClearBatch::parse(&b).ok())
        .ok_or_else(|| {
            CliError::Office(format!(
                "the back office's acknowledgement {:?} is not a CLEAR BATCH command; the batch is settled at the bank: upload again with the same card to get it again",
                view.clear
            ))
        })?;
    pos::write_acknowledgement(&mut ch, &clear)?;
    if global.json {
        let mut v = settlement_view_json(&view);
        v["xserial"] = json!(xserial.to_string());
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
    } else {
        write!(out, "{}", settlement_view_text(&view)).map_err(io)?;
        writeln!(
            out,
            "acknowledgement written to transfer card {xserial}; take it to the POS (epurse pos ack)"
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Runs `epurse settle ...`.
pub fn run(cmd: &SettleCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        SettleCmd::Upload(args) => {
            if let Some(client) = remote_client(&args.remote)? {
                return upload_remote(&client, global, out);
            }
            let mut bo = open_office(args)?;
            let (_reader, transport) = connect(global)?;
            let mut ch = Channel::new(transport);
            let mut progress = batch_progress(global);
            let report = pos::upload(&mut ch, &mut bo, &mut progress)?;
            if global.json {
                let mut v = settlement_json(&report.settlement);
                v["xserial"] = json!(report.xserial.to_string());
                writeln!(out, "{}", to_json(&v)?).map_err(io)?;
            } else {
                write!(out, "{}", settlement_text(&report.settlement)).map_err(io)?;
                writeln!(
                    out,
                    "acknowledgement written to transfer card {}; take it to the POS (epurse pos ack)",
                    report.xserial
                )
                .map_err(io)?;
            }
            Ok(())
        }
        SettleCmd::Statement(args) => {
            let mut bo = open_office(&args.office)?;
            let st = bo.merchant_statement(&args.merchant_id).map_err(office)?;
            if global.json {
                let v = json!({
                    "merchant_id": st.merchant.id, "name": st.merchant.name,
                    "mcc": st.merchant.mcc.to_string(), "food": st.merchant.food,
                    "balance": st.merchant.balance, "total_credited": st.total_credited,
                    "batches": st.lines.iter().map(|l| json!({
                        "sam_id": l.sam_id, "batch_no": l.batch_no, "sealed_at": l.sealed_at,
                        "accepted": l.accepted, "rejected": l.rejected,
                        "ecash_credited": l.ecash_credited, "food_credited": l.food_credited,
                        "credited": l.credited,
                    })).collect::<Vec<_>>(),
                });
                writeln!(out, "{}", to_json(&v)?).map_err(io)?;
                return Ok(());
            }
            let mut t = format!(
                "merchant statement: {} ({}), MCC {}, {}\n",
                st.merchant.name,
                st.merchant.id,
                st.merchant.mcc,
                if st.merchant.food {
                    "food merchant"
                } else {
                    "non-food merchant"
                }
            );
            for l in &st.lines {
                t.push_str(&format!(
                    "  SAM {} batch {:>4}  sealed {}  {:>3} accepted {:>3} rejected  e-Cash {:>12}  Food {:>12}  total {:>12}\n",
                    l.sam_id,
                    l.batch_no,
                    l.sealed_at,
                    l.accepted,
                    l.rejected,
                    format_amount(l.ecash_credited),
                    format_amount(l.food_credited),
                    format_amount(l.credited)
                ));
            }
            t.push_str(&format!(
                "  total credited {}   account balance {}\n",
                format_amount(st.total_credited),
                format_amount(st.merchant.balance)
            ));
            write!(out, "{t}").map_err(io)
        }
        SettleCmd::Report(args) => {
            let mut bo = open_office(args)?;
            let report = bo.settlement_report().map_err(office)?;
            if global.json {
                let v = json!({
                    "total_credited": report.total_credited,
                    "batches": report.batches.iter().map(settlement_json).collect::<Vec<_>>(),
                    "refused": report.refused.iter().map(|r| json!({
                        "at": r.at, "sam_id": r.sam_id, "batch_no": r.batch_no,
                        "code": r.code, "detail": r.detail,
                    })).collect::<Vec<_>>(),
                });
                writeln!(out, "{}", to_json(&v)?).map_err(io)?;
                return Ok(());
            }
            let mut t = String::from("settlement report\n");
            for s in &report.batches {
                t.push_str(&settlement_text(s));
            }
            for r in &report.refused {
                t.push_str(&format!(
                    "refused upload: SAM {} batch {}: {} ({})\n",
                    r.sam_id.as_deref().unwrap_or("?"),
                    r.batch_no.map_or("?".to_owned(), |n| n.to_string()),
                    r.detail,
                    r.code
                ));
            }
            t.push_str(&format!(
                "total credited to merchants: {}\n",
                format_amount(report.total_credited)
            ));
            write!(out, "{t}").map_err(io)
        }
    }
}
