//! `epurse doctor`: is pcscd running and reachable, which readers and drivers are there, is a
//! card present, does the purse (or transfer) applet answer. Each finding says what to do.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{
    to_json, CliError, Global, EXIT_CARD, EXIT_OK, EXIT_READER, EXIT_REFUSED, EXIT_SERVICE,
};
use crate::acs::{self, AcsModel};
use crate::atr::Atr;
use crate::card::{CardClient, CardInfo};
use crate::transport::pcsc::PcscContext;
use crate::transport::{choose_reader, ShareMode};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken.
    Fail,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (empty when nothing).
    pub action: String,
    /// Exit code this failure stands for.
    #[serde(skip)]
    pub code: u8,
}

fn finding(check: &str, status: Status, detail: String, action: &str, code: u8) -> Finding {
    Finding {
        check: check.to_owned(),
        status,
        detail,
        action: action.to_owned(),
        code,
    }
}

/// Pids of running `pcscd` processes (from /proc).
fn pcscd_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "pcscd")
        })
        .collect()
}

/// Installed PC/SC reader drivers (bundles and serial drivers).
fn drivers() -> Vec<String> {
    let mut found = Vec::new();
    for base in ["/usr/lib/pcsc/drivers", "/usr/local/lib/pcsc/drivers"] {
        let Ok(dir) = std::fs::read_dir(base) else {
            continue;
        };
        for e in dir.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "serial" {
                if let Ok(serial) = std::fs::read_dir(e.path()) {
                    for s in serial.filter_map(Result::ok) {
                        found.push(format!("serial/{}", s.file_name().to_string_lossy()));
                    }
                }
            } else {
                found.push(name);
            }
        }
    }
    found.sort();
    found
}

fn driver_note(name: &str, drivers: &[String]) -> String {
    if name.starts_with("Virtual PCD") {
        let vpcd = drivers.iter().any(|d| d.contains("vpcd"));
        return format!(
            "virtual reader (vsmartcard vpcd driver{})",
            if vpcd { "" } else { ", driver file not found" }
        );
    }
    match AcsModel::from_reader_name(name) {
        Some(m) => {
            let driver = if drivers.iter().any(|d| d.contains("acsccid")) {
                "acsccid"
            } else if drivers.iter().any(|d| d.contains("ifd-ccid")) {
                "ccid"
            } else {
                "unknown driver"
            };
            format!("ACS {} ({driver})", m.name())
        }
        None => "reader".to_owned(),
    }
}

/// Runs every check.
pub fn diagnose(global: &Global) -> Vec<Finding> {
    let mut out = Vec::new();
    let pids = pcscd_pids();
    let socket = Path::new("/run/pcscd/pcscd.comm").exists();
    let ctx = match PcscContext::establish() {
        Ok(ctx) => {
            out.push(finding(
                "pcscd",
                Status::Ok,
                format!(
                    "running{} and reachable",
                    if pids.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (pid {})",
                            pids.iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                "",
                EXIT_OK,
            ));
            ctx
        }
        Err(e) => {
            let detail = if pids.is_empty() {
                "pcscd is not running".to_owned()
            } else {
                format!(
                    "pcscd runs (pid {:?}) but does not answer{}: {e}",
                    pids,
                    if socket {
                        ""
                    } else {
                        " (no /run/pcscd/pcscd.comm socket)"
                    }
                )
            };
            out.push(finding(
                "pcscd",
                Status::Fail,
                detail,
                "start it: `scripts/stack start` (virtual readers) or `systemctl start pcscd`; install the Debian package pcscd if missing",
                EXIT_SERVICE,
            ));
            return out;
        }
    };
    let drivers = drivers();
    out.push(if drivers.is_empty() {
        finding("drivers", Status::Warn, "no reader driver found under /usr/lib/pcsc/drivers".into(), "install libccid (or ACS's acsccid) for USB readers, vsmartcard-vpcd for the virtual ones", EXIT_OK)
    } else {
        finding("drivers", Status::Ok, drivers.join(", "), "", EXIT_OK)
    });
    let readers = match ctx.readers() {
        Ok(r) => r,
        Err(e) => {
            out.push(finding(
                "readers",
                Status::Fail,
                e.to_string(),
                "restart pcscd and check `epurse reader list`",
                EXIT_READER,
            ));
            return out;
        }
    };
    if readers.is_empty() {
        out.push(finding(
            "readers",
            Status::Fail,
            "no reader connected".into(),
            "plug in the reader (check `lsusb`) or run `scripts/stack start` for the virtual readers",
            EXIT_READER,
        ));
        return out;
    }
    let names: Vec<String> = readers.iter().map(|r| r.name.clone()).collect();
    let wanted: Vec<usize> = match global.reader.as_deref() {
        Some(choice) => match choose_reader(&names, Some(choice), |_| true) {
            Ok(i) => vec![i],
            Err(e) => {
                out.push(finding(
                    "readers",
                    Status::Fail,
                    e.to_string(),
                    "pick a reader from the list above",
                    EXIT_READER,
                ));
                return out;
            }
        },
        None => (0..readers.len()).collect(),
    };
    out.push(finding(
        "readers",
        Status::Ok,
        format!(
            "{} reader(s): {}",
            readers.len(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{i}: {n} [{}]", driver_note(n, &drivers)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "",
        EXIT_OK,
    ));
    let mut epurse_cards = 0;
    let mut cards = 0;
    for &i in &wanted {
        let r = &readers[i];
        let check = format!("reader {}", r.index);
        if let Some(model) = AcsModel::from_reader_name(&r.name) {
            let share = if r.card_present {
                ShareMode::Shared
            } else {
                ShareMode::Direct
            };
            match ctx
                .connect(&r.name, share)
                .map_err(|e| e.to_string())
                .and_then(|mut t| acs::firmware_version(&mut t).map_err(|e| e.to_string()))
            {
                Ok(fw) => out.push(finding(
                    &check,
                    Status::Ok,
                    format!("{} firmware {fw}", model.name()),
                    "",
                    EXIT_OK,
                )),
                Err(e) => out.push(finding(
                    &check,
                    Status::Warn,
                    format!("{}: firmware not readable: {e}", model.name()),
                    "install ACS's acsccid driver for escape commands",
                    EXIT_OK,
                )),
            }
        }
        if !r.card_present {
            out.push(finding(
                &check,
                Status::Warn,
                format!("{}: no card", r.name),
                "insert a card",
                EXIT_OK,
            ));
            continue;
        }
        cards += 1;
        if r.mute {
            out.push(finding(&check, Status::Fail, format!("{}: the card does not answer (mute)", r.name), "reinsert the card (chip first, contacts up); try another card to rule out the reader", EXIT_CARD));
            continue;
        }
        match Atr::parse(&r.atr) {
            Ok(a) if a.tck.is_some_and(|t| !t.valid) => out.push(finding(
                &check,
                Status::Warn,
                format!(
                    "{}: ATR {} has a wrong TCK",
                    r.name,
                    hex::encode_upper(&r.atr)
                ),
                "reinsert the card; if it persists the card or reader contacts are faulty",
                EXIT_OK,
            )),
            Ok(_) => {}
            Err(e) => out.push(finding(
                &check,
                Status::Warn,
                format!(
                    "{}: ATR {} does not decode: {e}",
                    r.name,
                    hex::encode_upper(&r.atr)
                ),
                "reinsert the card",
                EXIT_OK,
            )),
        }
        let transport = match ctx.connect(&r.name, ShareMode::Shared) {
            Ok(t) => t,
            Err(e) => {
                let code = super::CliError::from(e.clone()).exit_code();
                out.push(finding(
                    &check,
                    Status::Fail,
                    format!("{}: cannot connect: {e}", r.name),
                    "close other applications using the reader and retry",
                    code,
                ));
                continue;
            }
        };
        let mut client = CardClient::new(transport);
        match client.identify() {
            Ok(CardInfo::Purse { selection, status }) => {
                epurse_cards += 1;
                out.push(finding(
                    &check,
                    if selection.blocked { Status::Warn } else { Status::Ok },
                    format!("{}: purse applet answers: serial {}, version {}.{}, {:?}, e-Cash {} / Food {} (minor units)", r.name, status.serial, selection.fci.version.0, selection.fci.version.1, status.lifecycle, status.ecash.balance, status.food.balance),
                    if selection.blocked { "the card is blocked: send the cardholder to the issuer" } else if status.lifecycle == apdu_spec::Lifecycle::Blank { "BLANK card: personalise it" } else { "" },
                    EXIT_OK,
                ));
            }
            Ok(CardInfo::Transfer { status, .. }) => {
                epurse_cards += 1;
                out.push(finding(
                    &check,
                    Status::Ok,
                    format!(
                        "{}: transfer applet answers: serial {}, {:?}, batch {:?}",
                        r.name, status.xserial, status.lifecycle, status.batch_state
                    ),
                    "",
                    EXIT_OK,
                ));
            }
            Err(e) => {
                let code = super::CliError::from(e.clone()).exit_code();
                let status = if code == EXIT_REFUSED {
                    Status::Warn
                } else {
                    Status::Fail
                };
                out.push(finding(
                    &check,
                    status,
                    format!("{}: {e}", r.name),
                    "insert an epurse card, or check the card with `epurse apdu send` and `-v`",
                    code,
                ));
            }
        }
    }
    if cards == 0 {
        out.push(finding(
            "cards",
            Status::Fail,
            "no card in any reader checked".into(),
            "insert a card",
            EXIT_CARD,
        ));
    } else if epurse_cards == 0 {
        out.push(finding(
            "cards",
            Status::Fail,
            "no epurse applet answers on any card".into(),
            "insert an epurse purse or transfer card",
            EXIT_REFUSED,
        ));
    }
    out
}

/// Runs `epurse doctor`, writing the findings; returns the exit code (first failure's, else 0).
pub fn run(global: &Global, out: &mut dyn Write) -> Result<u8, CliError> {
    let findings = diagnose(global);
    let code = findings
        .iter()
        .find(|f| f.status == Status::Fail)
        .map_or(EXIT_OK, |f| f.code);
    let text = if global.json {
        to_json(&serde_json::json!({"ok": code == EXIT_OK, "findings": findings}))?
    } else {
        findings
            .iter()
            .map(|f| {
                let mark = match f.status {
                    Status::Ok => "ok  ",
                    Status::Warn => "WARN",
                    Status::Fail => "FAIL",
                };
                let mut line = format!("[{mark}] {:<9} {}", f.check, f.detail);
                if !f.action.is_empty() {
                    line.push_str(&format!("\n           -> {}", f.action));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    writeln!(out, "{text}")
        .map_err(|e| CliError::Failed(format!("cannot write the output: {e}")))?;
    Ok(code)
}
