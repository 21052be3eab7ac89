//! `scriptor` (Debian pcsc-tools, libpcsclite in Perl) as an independent PC/SC client against
//! the same virtual card: its responses must be byte for byte what our clients get (the `pcsc`
//! crate directly, and the `epurse` CLI), and its RESET must show the card's ATR.

use std::process::{Command, Stdio};
use std::time::Duration;

use apdu_spec::Purse;
use epurse_tests::*;

/// One exchange as scriptor printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exchange {
    /// `> APDU` then `< RESPONSE : meaning`: the response bytes (data and SW).
    Apdu { command: String, response: Vec<u8> },
    /// `> RESET` then `< OK: ATR`.
    Reset { atr: Vec<u8> },
}

fn hex_bytes(text: &str) -> Vec<u8> {
    let compact: String = text.split_whitespace().collect();
    hex::decode(&compact).unwrap_or_else(|e| panic!("scriptor printed non-hex {text:?}: {e}"))
}

/// Parses scriptor's transcript: a response may span several lines and ends at ` : meaning`.
fn parse_scriptor(out: &str) -> Vec<Exchange> {
    let mut exchanges = Vec::new();
    let mut command: Option<String> = None;
    let mut pending: Option<String> = None;
    for line in out.lines() {
        if let Some(mut text) = pending.take() {
            match line.split_once(" : ") {
                Some((bytes, _)) => {
                    text.push_str(bytes);
                    exchanges.push(Exchange::Apdu {
                        command: command.take().unwrap_or_default(),
                        response: hex_bytes(&text),
                    });
                }
                None => {
                    text.push_str(line);
                    pending = Some(text);
                }
            }
            continue;
        }
        if let Some(c) = line.strip_prefix("> ") {
            command = Some(c.split_whitespace().collect::<String>().to_uppercase());
        } else if let Some(atr) = line.strip_prefix("< OK: ") {
            exchanges.push(Exchange::Reset {
                atr: hex_bytes(atr),
            });
            command = None;
        } else if let Some(rest) = line.strip_prefix("< ") {
            match rest.split_once(" : ") {
                Some((bytes, _)) => exchanges.push(Exchange::Apdu {
                    command: command.take().unwrap_or_default(),
                    response: hex_bytes(bytes),
                }),
                None => pending = Some(rest.to_string()),
            }
        }
    }
    exchanges
}

fn run_scriptor(reader: &str, script: &str) -> String {
    let mut child = Command::new("scriptor")
        .args(["-r", reader])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run scriptor ({e}): it comes with Debian's pcsc-tools, which scripts/stack start installs")
        });
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(script.as_bytes()).expect("write script");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("scriptor did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "scriptor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands both clients send: SELECT, GET STATUS, two READ LOGs (one past the end), an
/// instruction the applet does not know, then (after scriptor's `reset`) SELECT again.
const COMMANDS: [&str; 5] = [
    SELECT_PURSE,
    GET_STATUS,
    "805C000000",
    "805C050000",
    "80CA000000",
];

#[test]
fn scriptor_and_the_pcsc_crate_get_the_same_responses_from_the_same_card() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    load_purse(&card, &keys, &profile.serial, Purse::Ecash, 4321)?;
    drop(card);

    let mut script = String::from("# scriptor syntax: comments, hex lines, reset\n");
    for c in COMMANDS {
        script.push_str(c);
        script.push('\n');
    }
    script.push_str("reset\n");
    script.push_str(
        &SELECT_PURSE
            .chars()
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|p| p.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" "),
    );
    script.push('\n');
    let transcript = run_scriptor(lease.reader(), &script);
    let exchanges = parse_scriptor(&transcript);
    assert_eq!(
        exchanges.len(),
        COMMANDS.len() + 2,
        "scriptor transcript:\n{transcript}"
    );

    // Our side: the same commands through the pcsc crate, on a connection of our own.
    let card = connect(&ctx, lease.reader())?;
    for (i, c) in COMMANDS.iter().enumerate() {
        let ours = transmit(&card, &hex::decode(c).expect("hex")).map_err(|source| {
            HarnessError::Pcsc {
                what: format!("transmit {c}"),
                source,
            }
        })?;
        match &exchanges[i] {
            Exchange::Apdu { command, response } => {
                assert_eq!(command, c, "scriptor sent what the script says");
                assert_eq!(
                    hex::encode_upper(response),
                    hex::encode_upper(&ours),
                    "response to {c}: scriptor vs pcsc crate"
                );
            }
            other => panic!("exchange {i}: expected an APDU, got {other:?}"),
        }
    }
    // The status words we expect, as a sanity check of the comparison itself.
    let sws: Vec<String> = exchanges
        .iter()
        .filter_map(|e| match e {
            Exchange::Apdu { response, .. } => {
                Some(hex::encode_upper(&response[response.len() - 2..]))
            }
            Exchange::Reset { .. } => None,
        })
        .collect();
    assert_eq!(sws, ["9000", "9000", "9000", "6A83", "6D00", "9000"]);
    match &exchanges[COMMANDS.len()] {
        Exchange::Reset { atr } => assert_eq!(atr, &atr_of(&card)?, "ATR after scriptor's reset"),
        other => panic!("expected the reset, got {other:?}"),
    }
    // GET STATUS as scriptor saw it carries the balance we loaded and the card's serial.
    if let Exchange::Apdu { response, .. } = &exchanges[1] {
        let status = apdu_spec::PurseStatus::parse(&response[..response.len() - 2])
            .map_err(|e| HarnessError::Card(e.to_string()))?;
        assert_eq!(status.ecash.balance.get(), 4321);
        assert_eq!(status.serial, profile.serial);
    }
    Ok(())
}

#[test]
fn scriptor_and_epurse_apdu_script_agree_on_the_same_script() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    let script_text = format!(
        "# the same file for both tools\n{SELECT_PURSE}\n\n{GET_STATUS}\nreset\n{SELECT_PURSE}\n80CA000000\n"
    );
    let transcript = run_scriptor(lease.reader(), &script_text);
    let theirs = parse_scriptor(&transcript);
    assert_eq!(theirs.len(), 5, "scriptor transcript:\n{transcript}");

    let dir = std::env::temp_dir().join(format!("epurse-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
        what: "temp dir".into(),
        source,
    })?;
    let file = dir.join("scriptor-compare.txt");
    std::fs::write(&file, &script_text).map_err(|source| HarnessError::Io {
        what: "writing the script".into(),
        source,
    })?;
    let ours = epurse([
        "--json",
        "apdu",
        "script",
        "--reader",
        lease.reader(),
        file.to_str().expect("utf-8 path"),
    ])?;
    let _ = std::fs::remove_dir_all(&dir);
    ours.assert_success();
    let responses = cli_script_responses(&ours);
    let theirs_responses: Vec<String> = theirs
        .iter()
        .filter_map(|e| match e {
            Exchange::Apdu { response, .. } => Some(hex::encode_upper(response)),
            Exchange::Reset { .. } => None,
        })
        .collect();
    assert_eq!(
        responses, theirs_responses,
        "epurse apdu script vs scriptor\n{ours}\n{transcript}"
    );
    // Both reset the card at the same line and report the same ATR.
    let v: serde_json::Value = ours.json();
    let our_reset = v["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["reset"] == true))
        .unwrap_or_else(|| panic!("no reset step:\n{ours}"));
    let their_atr = theirs
        .iter()
        .find_map(|e| match e {
            Exchange::Reset { atr } => Some(hex::encode_upper(atr)),
            Exchange::Apdu { .. } => None,
        })
        .expect("scriptor reset");
    assert_eq!(
        our_reset["atr"]
            .as_str()
            .map(|a| a.split_whitespace().collect::<String>().to_uppercase()),
        Some(their_atr),
        "ATR after reset:\n{ours}"
    );
    Ok(())
}

/// The full responses (data || SW, upper-case hex) of `epurse --json apdu script`, in order
/// (the `steps` with a `command`; resets have `"reset": true`).
fn cli_script_responses(out: &CliOutput) -> Vec<String> {
    let v: serde_json::Value = out.json();
    let steps = v["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"steps\" list in the JSON:\n{out}"));
    steps
        .iter()
        .filter(|s| s.get("command").is_some())
        .map(|s| {
            s["response"]
                .as_str()
                .unwrap_or_else(|| panic!("step without a response: {s}"))
                .split_whitespace()
                .collect::<String>()
                .to_uppercase()
        })
        .collect()
}
