//! `epurse apdu send|script|bench`: raw APDUs through the exchange layer (so `61xx`/`6Cxx`
//! are handled as for every other command), each response with its decoded status word.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use apdu_spec::{Applet, ContractCommand, Response, Select, StatusWord};
use clap::Subcommand;
use serde::Serialize;

use super::{connect, hex_arg, to_json, CliError, Global};
use crate::exchange::Channel;
use crate::trace::{command_name, sw_text};
use crate::transport::Transport;

/// `epurse apdu ...`
#[derive(Debug, Subcommand)]
pub enum ApduCmd {
    /// Send one or more APDUs (hex, one APDU per argument; quote APDUs written with spaces).
    Send {
        /// The APDUs, e.g. 00A4040008F04550555253450100 or "80 5E 00 00 00".
        #[arg(value_name = "HEX", required = true)]
        apdus: Vec<String>,
    },
    /// Run a scriptor-style file: one APDU in hex per line, `reset`, `exit`, `#` comments.
    Script {
        /// The script file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Round-trip time of N exchanges: median and p99 (default 1000 × SELECT of the purse AID).
    Bench {
        /// Number of timed exchanges.
        #[arg(short = 'n', long = "count", default_value_t = 1000, value_name = "N")]
        n: usize,
        /// The APDU to send (hex); default SELECT of the purse AID.
        #[arg(value_name = "HEX")]
        apdu: Option<String>,
    },
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

/// One line of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptStep {
    /// An APDU to send.
    Apdu(Vec<u8>),
    /// Reset the card.
    Reset,
    /// Stop here.
    Exit,
}

/// Parses a scriptor-style script: blank lines and lines starting with `#` are skipped;
/// `reset` and `exit` (any case) are commands; every other line is one APDU in hex (spaces
/// allowed) of at least 4 bytes. Returns `(line number, step)` pairs, or every bad line.
pub fn parse_script(text: &str) -> Result<Vec<(usize, ScriptStep)>, Vec<String>> {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.to_ascii_lowercase().as_str() {
            "reset" => steps.push((n, ScriptStep::Reset)),
            "exit" | "quit" => steps.push((n, ScriptStep::Exit)),
            _ => match sam::parse_hex(line) {
                Ok(bytes) if bytes.len() >= 4 => steps.push((n, ScriptStep::Apdu(bytes))),
                Ok(bytes) => errors.push(format!(
                    "line {n}: {} byte(s); an APDU has at least 4 (CLA INS P1 P2)",
                    bytes.len()
                )),
                Err(e) => errors.push(format!(
                    "line {n}: {line:?} is neither an APDU in hex nor `reset`/`exit` ({e})"
                )),
            },
        }
    }
    if errors.is_empty() {
        Ok(steps)
    } else {
        Err(errors)
    }
}

#[derive(Serialize)]
struct ExchangeJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    command: String,
    response: String,
    data: String,
    sw: String,
    sw_name: &'static str,
    sw_meaning: String,
}

fn exchange_json(line: Option<usize>, command: &[u8], r: &Response) -> ExchangeJson {
    ExchangeJson {
        line,
        command: hex::encode_upper(command),
        response: hex::encode_upper(r.to_bytes()),
        data: hex::encode_upper(&r.data),
        sw: format!("{:04X}", u16::from(r.sw)),
        sw_name: r.sw.name(),
        sw_meaning: sw_text(r.sw),
    }
}

fn exchange_text(command: &[u8], r: &Response) -> String {
    let data = if r.data.is_empty() {
        String::new()
    } else {
        format!("{} ", hex::encode_upper(&r.data))
    };
    format!(
        "> {}  ({})\n< {data}{:04X}  {}",
        hex::encode_upper(command),
        command_name(command),
        u16::from(r.sw),
        sw_text(r.sw)
    )
}

fn apdu_arg(i: usize, text: &str) -> Result<Vec<u8>, CliError> {
    let bytes = hex_arg(&format!("APDU {}", i + 1), text)?;
    if bytes.len() < 4 {
        return Err(CliError::Usage(format!(
            "APDU {} ({text:?}) is {} byte(s); an APDU has at least 4 (CLA INS P1 P2); quote an \
             APDU written with spaces: \"00 A4 04 00 ...\"",
            i + 1,
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Median and 99th percentile (nearest rank) of sorted samples.
pub fn median_p99(sorted: &[f64]) -> (f64, f64) {
    if sorted.is_empty() {
        return (0.0, 0.0);
    }
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
    (median, sorted[rank - 1])
}

/// Runs one `epurse apdu` command, writing to `out`.
pub fn run(cmd: &ApduCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        ApduCmd::Send { apdus } => {
            let apdus = apdus
                .iter()
                .enumerate()
                .map(|(i, a)| apdu_arg(i, a))
                .collect::<Result<Vec<_>, _>>()?;
            let (reader, transport) = connect(global)?;
            let mut ch = Channel::new(transport);
            let mut done = Vec::new();
            for apdu in &apdus {
                let r = ch.transmit(apdu)?;
                if !global.json {
                    writeln!(out, "{}", exchange_text(apdu, &r)).map_err(io)?;
                }
                done.push(exchange_json(None, apdu, &r));
            }
            if global.json {
                #[derive(Serialize)]
                struct Sent<'a> {
                    reader: &'a str,
                    exchanges: Vec<ExchangeJson>,
                }
                writeln!(
                    out,
                    "{}",
                    to_json(&Sent {
                        reader: &reader.name,
                        exchanges: done
                    })?
                )
                .map_err(io)?;
            }
            Ok(())
        }
        ApduCmd::Script { file } => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                CliError::Usage(format!("cannot read the script {}: {e}", file.display()))
            })?;
            let steps = parse_script(&text).map_err(|errors| {
                CliError::Usage(format!("{}: {}", file.display(), errors.join("; ")))
            })?;
            let (reader, transport) = connect(global)?;
            let mut ch = Channel::new(transport);
            let mut done: Vec<serde_json::Value> = Vec::new();
            for (line, step) in steps {
                match step {
                    ScriptStep::Exit => break,
                    ScriptStep::Reset => {
                        ch.reset()?;
                        let atr = hex::encode_upper(ch.transport().atr());
                        if global.json {
                            done.push(serde_json::json!({"line": line, "reset": true, "atr": atr}));
                        } else {
                            writeln!(out, "reset  ATR {atr}").map_err(io)?;
                        }
                    }
                    ScriptStep::Apdu(apdu) => {
                        let r = ch.transmit(&apdu)?;
                        if global.json {
                            done.push(
                                serde_json::to_value(exchange_json(Some(line), &apdu, &r))
                                    .map_err(|e| CliError::Failed(e.to_string()))?,
                            );
                        } else {
                            writeln!(out, "{}", exchange_text(&apdu, &r)).map_err(io)?;
                        }
                    }
                }
            }
            if global.json {
                let doc = serde_json::json!({"reader": reader.name, "steps": done});
                writeln!(out, "{}", to_json(&doc)?).map_err(io)?;
            }
            Ok(())
        }
        ApduCmd::Bench { n, apdu } => {
            if *n == 0 {
                return Err(CliError::Usage("-n must be at least 1".into()));
            }
            let command = match apdu {
                Some(a) => apdu_arg(0, a)?,
                None => Select {
                    applet: Applet::Purse,
                }
                .to_bytes(),
            };
            let (reader, transport) = connect(global)?;
            let mut ch = Channel::new(transport);
            // Warm-up (connections, caches, JIT of the virtual card).
            let mut last = StatusWord::Ok;
            for _ in 0..(*n / 10).clamp(5, 100) {
                last = ch.transmit(&command)?.sw;
            }
            let mut samples = Vec::with_capacity(*n);
            for _ in 0..*n {
                let t = Instant::now();
                let r = ch.transmit(&command)?;
                samples.push(t.elapsed().as_secs_f64() * 1e3);
                last = r.sw;
            }
            if !(last.is_success() || last == StatusWord::SelectedBlocked) {
                eprintln!("epurse: warning: the benchmarked command answers {last}");
            }
            let mean = samples.iter().sum::<f64>() / samples.len() as f64;
            samples.sort_by(f64::total_cmp);
            let (median, p99) = median_p99(&samples);
            let (min, max) = (samples[0], samples[samples.len() - 1]);
            let sw = format!("{:04X}", u16::from(last));
            let text = if global.json {
                to_json(&serde_json::json!({
                    "reader": reader.name,
                    "command": hex::encode_upper(&command),
                    "n": n,
                    "median_ms": median,
                    "p99_ms": p99,
                    "min_ms": min,
                    "mean_ms": mean,
                    "max_ms": max,
                    "sw": sw,
                }))?
            } else {
                format!(
                    "{} x {} ({}) on {}: median {median:.3} ms, p99 {p99:.3} ms (min {min:.3}, \
                     mean {mean:.3}, max {max:.3}), SW {sw}",
                    n,
                    hex::encode_upper(&command),
                    command_name(&command),
                    reader.name
                )
            };
            writeln!(out, "{text}").map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mock::MockTransport;

    #[test]
    fn scripts_parse_with_line_numbers() {
        let text = "# select the purse\n00 A4 04 00 08 F045505552534501 00\n\n  RESET \n805E000000\nexit\n80 5C 00 00 00\n";
        let steps = parse_script(text).unwrap();
        assert_eq!(
            steps,
            vec![
                (
                    2,
                    ScriptStep::Apdu(sam::parse_hex("00A4040008F04550555253450100").unwrap())
                ),
                (4, ScriptStep::Reset),
                (5, ScriptStep::Apdu(vec![0x80, 0x5E, 0, 0, 0])),
                (6, ScriptStep::Exit),
                (7, ScriptStep::Apdu(vec![0x80, 0x5C, 0, 0, 0])),
            ]
        );
    }

    #[test]
    fn bad_script_lines_are_all_reported() {
        let errors = parse_script("00A4\nhello world\n805E000000\n0A0B0C0\n").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 1: 2 byte(s)"), "{errors:?}");
        assert!(
            errors[1].starts_with("line 2: \"hello world\" is neither"),
            "{errors:?}"
        );
        assert!(errors[2].starts_with("line 4:"), "{errors:?}");
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(median_p99(&v), (500.5, 990.0));
        assert_eq!(median_p99(&[3.0]), (3.0, 3.0));
        assert_eq!(median_p99(&[1.0, 2.0, 9.0]), (2.0, 9.0));
    }

    #[test]
    fn exchange_rendering() {
        let mut ch = Channel::new(MockTransport::new("R").expect_apdu("805E000000", "6985"));
        let cmd = [0x80, 0x5E, 0, 0, 0];
        let r = ch.transmit(&cmd).unwrap();
        let text = exchange_text(&cmd, &r);
        assert_eq!(
            text,
            "> 805E000000  (GET STATUS)\n< 6985  CONDITIONS: conditions of use not satisfied: command not allowed in this lifecycle or session state"
        );
        let j = serde_json::to_value(exchange_json(None, &cmd, &r)).unwrap();
        assert_eq!(j["sw"], "6985");
        assert_eq!(j["sw_name"], "CONDITIONS");
        assert!(j.get("line").is_none());
    }

    #[test]
    fn short_apdu_argument_is_usage() {
        let e = apdu_arg(0, "00").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("quote an APDU"), "{e}");
    }
}
