//! `epurse reader ...`: list readers, watch card events, and ACS reader model, firmware, LEDs
//! and buzzer.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::{to_json, CliError, Global};
use crate::acs::{self, AcsModel, Leds};
use crate::transport::pcsc::{PcscContext, PcscTransport, ReaderEvent, ReaderInfo};
use crate::transport::{ShareMode, Transport};

/// `epurse reader ...`
#[derive(Debug, Subcommand)]
pub enum ReaderCmd {
    /// List readers: index, name, card present, ATR.
    List,
    /// Print card insert/remove (and reader add/remove) events until Ctrl-C.
    Watch {
        /// Stop after N events (exit 0).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after S seconds (exit 0, or 1 when --count events were not all seen).
        #[arg(long, value_name = "S")]
        timeout: Option<f64>,
    },
    /// Reader model (ACS readers by name) and firmware version.
    Info,
    /// Switch an ACS reader's LEDs (ACR122U, ACR1252U).
    Led {
        /// Red LED.
        #[arg(long, value_enum)]
        red: Option<OnOff>,
        /// Green LED.
        #[arg(long, value_enum)]
        green: Option<OnOff>,
    },
    /// Sound an ACS reader's buzzer (ACR122U, ACR1252U).
    Beep {
        /// Duration in milliseconds (10..=2550).
        #[arg(long, default_value_t = 200, value_name = "MS")]
        ms: u32,
    },
}

/// A LED state on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

impl From<OnOff> for bool {
    fn from(v: OnOff) -> bool {
        v == OnOff::On
    }
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

#[derive(Serialize)]
struct ReaderJson<'a> {
    index: usize,
    name: &'a str,
    card_present: bool,
    atr: Option<String>,
    mute: bool,
    in_use: bool,
    exclusive: bool,
}

fn reader_json(r: &ReaderInfo) -> ReaderJson<'_> {
    ReaderJson {
        index: r.index,
        name: &r.name,
        card_present: r.card_present,
        atr: r.card_present.then(|| hex::encode_upper(&r.atr)),
        mute: r.mute,
        in_use: r.in_use,
        exclusive: r.exclusive,
    }
}

/// The `reader list` text: one line per reader.
pub fn list_text(readers: &[ReaderInfo]) -> String {
    if readers.is_empty() {
        return "no readers connected (plug one in, or `scripts/stack start`)".to_owned();
    }
    let width = readers.iter().map(|r| r.name.len()).max().unwrap_or(0);
    readers
        .iter()
        .map(|r| {
            let state = if !r.card_present {
                "empty".to_owned()
            } else if r.mute {
                "card (mute)".to_owned()
            } else {
                format!("card  ATR {}", hex::encode_upper(&r.atr))
            };
            format!("{}  {:width$}  {state}", r.index, r.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Serialize)]
struct EventJson<'a> {
    event: &'static str,
    reader: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    atr: Option<String>,
}

fn event_line(e: &ReaderEvent, json: bool) -> String {
    let (event, reader, atr) = match e {
        ReaderEvent::CardInserted { reader, atr } => {
            ("inserted", reader, Some(hex::encode_upper(atr)))
        }
        ReaderEvent::CardRemoved { reader } => ("removed", reader, None),
        ReaderEvent::ReaderAdded { reader } => ("reader_added", reader, None),
        ReaderEvent::ReaderRemoved { reader } => ("reader_removed", reader, None),
    };
    if json {
        serde_json::to_string(&EventJson { event, reader, atr }).unwrap_or_default()
    } else {
        match atr {
            Some(atr) => format!("{event:<14} {reader}  ATR {atr}"),
            None => format!("{event:<14} {reader}"),
        }
    }
}

fn watch(
    global: &Global,
    count: Option<u64>,
    timeout: Option<f64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let timeout = match timeout {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return Err(CliError::Usage(format!(
                "--timeout must be a positive number of seconds, got {s}"
            )))
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    if count == Some(0) {
        return Err(CliError::Usage("--count must be at least 1".into()));
    }
    let ctx = PcscContext::establish()?;
    let mut w = ctx.watch()?;
    let readers = w.readers();
    eprintln!(
        "watching {} reader(s){}; Ctrl-C to stop",
        readers.len(),
        readers
            .iter()
            .map(|r| format!(
                "\n  {}: {}",
                r.name,
                if r.card_present {
                    "card present"
                } else {
                    "empty"
                }
            ))
            .collect::<String>()
    );
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut seen = 0u64;
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => break,
            },
            None => None,
        };
        let events = ctx.wait_for_events(&mut w, remaining)?;
        for e in &events {
            writeln!(out, "{}", event_line(e, global.json)).map_err(io)?;
            out.flush().map_err(io)?;
            seen += 1;
            if count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
    }
    match count {
        Some(n) => Err(CliError::Failed(format!(
            "timed out after {seen} of {n} event(s)"
        ))),
        None => Ok(()),
    }
}

/// Opens the chosen reader: through its card when one is present, else directly.
fn open_reader(global: &Global) -> Result<(ReaderInfo, PcscTransport), CliError> {
    let ctx = PcscContext::establish()?;
    let reader = ctx.choose(global.reader.as_deref())?;
    let share = if reader.card_present {
        ShareMode::Shared
    } else {
        ShareMode::Direct
    };
    let t = ctx.connect(&reader.name, share)?;
    Ok((reader, t))
}

#[derive(Serialize)]
struct InfoJson<'a> {
    reader: &'a str,
    model: Option<&'static str>,
    firmware: Option<String>,
    firmware_error: Option<String>,
}

/// Runs one `epurse reader` command, writing to `out`.
pub fn run(cmd: &ReaderCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        ReaderCmd::List => {
            let readers = PcscContext::establish()?.readers()?;
            let text = if global.json {
                #[derive(Serialize)]
                struct List<'a> {
                    readers: Vec<ReaderJson<'a>>,
                }
                to_json(&List {
                    readers: readers.iter().map(reader_json).collect(),
                })?
            } else {
                list_text(&readers)
            };
            writeln!(out, "{text}").map_err(io)
        }
        ReaderCmd::Watch { count, timeout } => watch(global, *count, *timeout, out),
        ReaderCmd::Info => {
            let (reader, mut t) = open_reader(global)?;
            let model = AcsModel::from_reader_name(&reader.name);
            let (firmware, firmware_error) = match acs::firmware_version(&mut t) {
                Ok(f) => (Some(f), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let text = if global.json {
                to_json(&InfoJson {
                    reader: &reader.name,
                    model: model.map(AcsModel::name),
                    firmware,
                    firmware_error,
                })?
            } else {
                format!(
                    "reader    {}\nmodel     {}\nfirmware  {}",
                    reader.name,
                    model.map_or("not an ACS reader this tool knows", AcsModel::name),
                    firmware.unwrap_or_else(|| format!(
                        "not available: {}",
                        firmware_error.unwrap_or_default()
                    ))
                )
            };
            writeln!(out, "{text}").map_err(io)
        }
        ReaderCmd::Led { red, green } => {
            if red.is_none() && green.is_none() {
                return Err(CliError::Usage(
                    "give --red on|off and/or --green on|off".into(),
                ));
            }
            let (_, mut t) = open_reader(global)?;
            let leds = acs::set_leds(
                &mut t,
                Leds {
                    red: red.map(bool::from),
                    green: green.map(bool::from),
                },
            )?;
            let word = |v: Option<bool>| match v {
                Some(true) => "on",
                Some(false) => "off",
                None => "?",
            };
            writeln!(out, "red {}, green {}", word(leds.red), word(leds.green)).map_err(io)
        }
        ReaderCmd::Beep { ms } => {
            if !(10..=2550).contains(ms) {
                return Err(CliError::Usage(format!("--ms must be 10..=2550, got {ms}")));
            }
            let (_, mut t) = open_reader(global)?;
            acs::beep(&mut t, *ms)?;
            writeln!(out, "beeped on {}", t.reader_name()).map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_text_shapes() {
        assert!(list_text(&[]).contains("no readers"));
        let readers = vec![
            ReaderInfo {
                index: 0,
                name: "Virtual PCD 00 00".into(),
                card_present: true,
                atr: vec![0x3B, 0x02, 0x14, 0x50],
                mute: false,
                exclusive: false,
                in_use: false,
            },
            ReaderInfo {
                index: 1,
                name: "ACS ACR39U ICC Reader 00 00".into(),
                card_present: false,
                atr: vec![],
                mute: false,
                exclusive: false,
                in_use: false,
            },
        ];
        let text = list_text(&readers);
        assert!(
            text.contains("0  Virtual PCD 00 00            card  ATR 3B021450"),
            "{text}"
        );
        assert!(
            text.contains("1  ACS ACR39U ICC Reader 00 00  empty"),
            "{text}"
        );
        let j = serde_json::to_value(reader_json(&readers[1])).unwrap();
        assert_eq!(j["atr"], serde_json::Value::Null);
        assert_eq!(j["card_present"], false);
    }

    #[test]
    fn event_lines() {
        let e = ReaderEvent::CardInserted {
            reader: "R 00".into(),
            atr: vec![0x3B, 0x00],
        };
        assert_eq!(event_line(&e, false), "inserted       R 00  ATR 3B00");
        assert_eq!(
            event_line(&e, true),
            r#"{"event":"inserted","reader":"R 00","atr":"3B00"}"#
        );
        let e = ReaderEvent::CardRemoved {
            reader: "R 00".into(),
        };
        assert_eq!(
            event_line(&e, true),
            r#"{"event":"removed","reader":"R 00"}"#
        );
    }
}
