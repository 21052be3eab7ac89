//! `epurse card info` and `epurse card log`: what an epurse card says about itself.
//! (`card issue|block|unblock` are the issuer's workflows, in [`super::teller`].)

use std::io::Write;

use apdu_spec::{
    Applet, Fci, LogEntry, Purse, PurseBlock, PurseStatus, RecordType, TransferStatus,
};
use clap::Subcommand;
use serde::Serialize;

use super::{connect, format_amount, to_json, CliError, Global};
use crate::card::{CardClient, CardError, CardInfo, Selection};
use crate::transport::Transport;

/// `epurse card ...`
#[derive(Debug, Subcommand)]
pub enum CardCmd {
    /// SELECT the purse applet (else the transfer applet) and show FCI and GET STATUS.
    Info,
    /// The purse's transaction log (READ LOG), most recent first.
    Log,
    /// Personalise the blank card in the reader for a customer (limits, PIN, food categories)
    /// and register it; repeat the same command after an interruption to finish it.
    Issue(super::teller::IssueArgs),
    /// Block the card in the reader (APPLICATION BLOCK under the issuer key) and in the
    /// registry; `--serial S` blocks a lost card in the registry only.
    Block(super::teller::AdminArgs),
    /// Unblock the card in the reader (APPLICATION UNBLOCK) and in the registry.
    Unblock(super::teller::AdminArgs),
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

#[derive(Serialize)]
struct PurseJson {
    balance: u32,
    load_counter: u16,
    purchase_counter: u16,
    max_balance: u32,
    max_amount: u32,
    expiry: Option<String>,
}

fn purse_json(p: &PurseBlock) -> PurseJson {
    PurseJson {
        balance: p.balance.get(),
        load_counter: p.load_counter,
        purchase_counter: p.purchase_counter,
        max_balance: p.max_balance.get(),
        max_amount: p.max_amount.get(),
        expiry: p.expiry.map(|d| d.to_string()),
    }
}

#[derive(Serialize)]
struct Capabilities {
    ecash: bool,
    food: bool,
    unconnected_loading: bool,
    pin_set: bool,
}

#[derive(Serialize)]
struct Purses {
    ecash: PurseJson,
    food: PurseJson,
}

#[derive(Serialize)]
struct Pin {
    tries_left: u8,
    try_limit: u8,
}

#[derive(Serialize)]
struct Unconnected {
    attempts_left: u8,
    limit: u8,
    max_amount: u32,
}

#[derive(Serialize)]
struct PurseInfoJson<'a> {
    reader: &'a str,
    applet: &'static str,
    aid: String,
    applet_version: String,
    serial: String,
    lifecycle: String,
    blocked: bool,
    key_version: u8,
    capabilities: Capabilities,
    purses: Purses,
    pin: Pin,
    unconnected: Unconnected,
    no_pin_limit: u32,
    admin_counter: u16,
    food_mccs: Vec<String>,
}

#[derive(Serialize)]
struct TransferInfoJson<'a> {
    reader: &'a str,
    applet: &'static str,
    aid: String,
    applet_version: String,
    serial: String,
    lifecycle: String,
    batch_state: String,
    capacity: u16,
    batch_length: u16,
}

fn version(fci: &Fci) -> String {
    format!("{}.{}", fci.version.0, fci.version.1)
}

fn upper<T: core::fmt::Debug>(v: T) -> String {
    format!("{v:?}").to_uppercase()
}

fn purse_info_json<'a>(reader: &'a str, sel: &Selection, st: &PurseStatus) -> PurseInfoJson<'a> {
    let caps = sel.fci.capabilities.unwrap_or_default();
    PurseInfoJson {
        reader,
        applet: "purse",
        aid: hex::encode_upper(Applet::Purse.aid()),
        applet_version: version(&sel.fci),
        serial: st.serial.to_string(),
        lifecycle: upper(st.lifecycle),
        blocked: sel.blocked,
        key_version: st.key_version,
        capabilities: Capabilities {
            ecash: caps.ecash(),
            food: caps.food(),
            unconnected_loading: caps.unconnected_loading(),
            pin_set: caps.pin_set(),
        },
        purses: Purses {
            ecash: purse_json(&st.ecash),
            food: purse_json(&st.food),
        },
        pin: Pin {
            tries_left: st.pin_tries_left,
            try_limit: st.pin_try_limit,
        },
        unconnected: Unconnected {
            attempts_left: st.uc_attempts_left,
            limit: st.uc_limit,
            max_amount: st.uc_max.get(),
        },
        no_pin_limit: st.no_pin_limit.get(),
        admin_counter: st.admin_counter,
        food_mccs: st
            .food_mccs
            .allowed()
            .iter()
            .map(|m| m.to_string())
            .collect(),
    }
}

fn purse_line(name: &str, p: &PurseBlock) -> String {
    let expiry = p.expiry.map_or("none".to_owned(), |d| d.to_string());
    format!(
        "{name:<14}balance {:>10}  max balance {}  max amount {}  loads {}  purchases {}{}",
        format_amount(p.balance.get()),
        format_amount(p.max_balance.get()),
        format_amount(p.max_amount.get()),
        p.load_counter,
        p.purchase_counter,
        if name.starts_with("Food") {
            format!("  expiry {expiry}")
        } else {
            String::new()
        }
    )
}

/// The `card info` text of a purse card.
pub fn purse_text(reader: &str, sel: &Selection, st: &PurseStatus) -> String {
    let j = purse_info_json(reader, sel, st);
    let mut caps = Vec::new();
    for (on, name) in [
        (j.capabilities.ecash, "e-Cash"),
        (j.capabilities.food, "Food-Voucher"),
        (j.capabilities.unconnected_loading, "unconnected loading"),
        (j.capabilities.pin_set, "PIN set"),
    ] {
        if on {
            caps.push(name);
        }
    }
    let mut lines = vec![
        format!("reader        {reader}"),
        format!(
            "applet        purse, AID {}, version {}",
            j.aid, j.applet_version
        ),
        format!("serial        {}", j.serial),
        format!(
            "lifecycle     {}{}",
            j.lifecycle,
            if sel.blocked {
                " (card blocked: only status, log, proof and issuer commands work)"
            } else {
                ""
            }
        ),
        format!("key version   {:02X}", j.key_version),
        format!(
            "capabilities  {}",
            if caps.is_empty() {
                "none".to_owned()
            } else {
                caps.join(", ")
            }
        ),
        purse_line("e-Cash", &st.ecash),
        purse_line("Food-Voucher", &st.food),
        format!(
            "PIN           {} of {} tries left",
            j.pin.tries_left, j.pin.try_limit
        ),
        format!(
            "unconnected   {} of {} attempts left, max amount {}",
            j.unconnected.attempts_left,
            j.unconnected.limit,
            format_amount(j.unconnected.max_amount)
        ),
        format!("no-PIN limit  {}", format_amount(j.no_pin_limit)),
        format!("admin counter {}", j.admin_counter),
        format!(
            "food MCCs     {}",
            if j.food_mccs.is_empty() {
                "none".to_owned()
            } else {
                j.food_mccs.join(", ")
            }
        ),
    ];
    if st.lifecycle == apdu_spec::Lifecycle::Blank {
        lines.push("note          BLANK card: personalise it before use".to_owned());
    }
    lines.join("\n")
}

fn transfer_json<'a>(
    reader: &'a str,
    sel: &Selection,
    st: &TransferStatus,
) -> TransferInfoJson<'a> {
    TransferInfoJson {
        reader,
        applet: "transfer",
        aid: hex::encode_upper(Applet::Transfer.aid()),
        applet_version: version(&sel.fci),
        serial: st.xserial.to_string(),
        lifecycle: upper(st.lifecycle),
        batch_state: upper(st.batch_state),
        capacity: st.capacity,
        batch_length: st.length,
    }
}

/// The `card info` text of a transfer card.
pub fn transfer_text(reader: &str, sel: &Selection, st: &TransferStatus) -> String {
    let j = transfer_json(reader, sel, st);
    [
        format!("reader        {reader}"),
        format!(
            "applet        transfer, AID {}, version {}",
            j.aid, j.applet_version
        ),
        format!("serial        {}", j.serial),
        format!("lifecycle     {}", j.lifecycle),
        format!(
            "batch         {} ({} of {} bytes)",
            j.batch_state, j.batch_length, j.capacity
        ),
    ]
    .join("\n")
}

#[derive(Serialize)]
struct EntryJson {
    index: usize,
    #[serde(rename = "type")]
    kind: &'static str,
    purse: &'static str,
    counter: u16,
    amount: u32,
    balance: u32,
    terminal: String,
    sam_seq: u32,
    datetime: String,
    mcc: String,
    pin_verified: bool,
    tac: String,
}

fn record_kind(t: RecordType) -> &'static str {
    match t {
        RecordType::Load => "load",
        RecordType::Purchase => "purchase",
        RecordType::UnconnectedLoad => "unconnected_load",
    }
}

fn purse_name(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "ecash",
        Purse::Food => "food",
    }
}

fn entry_json(index: usize, e: &LogEntry) -> EntryJson {
    let r = &e.record;
    EntryJson {
        index,
        kind: record_kind(r.record_type),
        purse: purse_name(r.purse),
        counter: r.counter,
        amount: r.amount.get(),
        balance: r.balance.get(),
        terminal: hex::encode_upper(r.terminal),
        sam_seq: r.sam_seq,
        datetime: r.datetime.to_string(),
        mcc: r.mcc.to_string(),
        pin_verified: r.pin_verified(),
        tac: hex::encode_upper(e.tac),
    }
}

/// The `card log` text.
pub fn log_text(reader: &str, serial: &str, entries: &[LogEntry]) -> String {
    let mut lines = vec![format!(
        "reader {reader}, card {serial}: {} entr{}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    )];
    for (i, e) in entries.iter().enumerate() {
        let j = entry_json(i, e);
        let sign = if j.kind == "purchase" { "-" } else { "+" };
        let mut line = format!(
            "{:>2}  {}  {:<16} {:<5} #{:<5} {sign}{:>10}  balance {:>10}",
            i,
            j.datetime,
            j.kind,
            j.purse,
            j.counter,
            format_amount(j.amount),
            format_amount(j.balance)
        );
        if j.kind == "purchase" {
            line.push_str(&format!(
                "  SAM {} seq {} MCC {}",
                j.terminal, j.sam_seq, j.mcc
            ));
        } else if j.kind == "load" {
            line.push_str(&format!("  terminal {}", j.terminal));
        }
        if j.pin_verified {
            line.push_str("  PIN");
        }
        line.push_str(&format!("  TAC {}", j.tac));
        lines.push(line);
    }
    lines.join("\n")
}

/// Runs one `epurse card` command, writing to `out`.
pub fn run(cmd: &CardCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        CardCmd::Issue(args) => return super::teller::card_issue(args, global, out),
        CardCmd::Block(args) => return super::teller::card_admin(args, false, global, out),
        CardCmd::Unblock(args) => return super::teller::card_admin(args, true, global, out),
        CardCmd::Info | CardCmd::Log => {}
    }
    let (reader, mut transport) = connect(global)?;
    // One PC/SC transaction: no other application's SELECT can slip between ours and the
    // reads that depend on it.
    let mut client = CardClient::new(transport.transaction()?);
    let text = match cmd {
        CardCmd::Info => match client.identify()? {
            CardInfo::Purse { selection, status } => {
                if global.json {
                    to_json(&purse_info_json(&reader.name, &selection, &status))?
                } else {
                    purse_text(&reader.name, &selection, &status)
                }
            }
            CardInfo::Transfer { selection, status } => {
                if global.json {
                    to_json(&transfer_json(&reader.name, &selection, &status))?
                } else {
                    transfer_text(&reader.name, &selection, &status)
                }
            }
        },
        CardCmd::Log => {
            let selection = match client.select(Applet::Purse) {
                Ok(s) => s,
                Err(CardError::Status { sw, .. }) => {
                    return Err(CliError::Card(CardError::Status {
                        command: "SELECT purse (card log needs a purse card)",
                        sw,
                    }))
                }
                Err(e) => return Err(e.into()),
            };
            let entries = client.read_log()?;
            let serial = selection.fci.serial.to_string();
            if global.json {
                #[derive(Serialize)]
                struct Log<'a> {
                    reader: &'a str,
                    serial: String,
                    entries: Vec<EntryJson>,
                }
                to_json(&Log {
                    reader: &reader.name,
                    serial,
                    entries: entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| entry_json(i, e))
                        .collect(),
                })?
            } else {
                log_text(&reader.name, &serial, &entries)
            }
        }
        // Dispatched to the teller workflows at the top of this function.
        CardCmd::Issue(_) | CardCmd::Block(_) | CardCmd::Unblock(_) => return Ok(()),
    };
    writeln!(out, "{text}").map_err(io)
}
