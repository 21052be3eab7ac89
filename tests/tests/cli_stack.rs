//! The field-technician CLI (`epurse reader|card|apdu ...`) against the virtual cards through
//! pcscd and vpcd: what a technician sees, in text and in `--json`, and how every fault ends.

use std::time::Duration;

use apdu_spec::Purse;
use epurse_tests::*;
use serde_json::Value;

fn compact_upper(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect::<String>()
        .to_uppercase()
}

/// The JSON list under `key` (field names are the contract in `host/src/cli/mod.rs`).
fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list under \"{key}\" in {v}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs `epurse --json ARGS --reader READER`, which must succeed; the output and its JSON.
fn json_on(reader: &str, args: &[&str]) -> Result<(CliOutput, Value)> {
    let mut all = vec!["--json"];
    all.extend(args_with_reader(reader, args));
    let out = epurse(all)?;
    out.assert_success();
    let v = out.json();
    Ok((out, v))
}

/// Takes the card out of the lease's reader and waits until PC/SC sees the reader empty.
fn remove_card(lease: &SlotLease) -> Result<()> {
    lease.remove()?;
    let ctx = pcsc_context()?;
    wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
    Ok(())
}

fn args_with_reader<'a>(reader: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--reader", reader]);
    all
}

// ---- reader list -----------------------------------------------------------------------------

#[test]
fn reader_list_shows_both_virtual_readers_with_card_and_atr() -> Result<()> {
    let _slot0 = SlotLease::acquire(0)?;
    let _slot1 = SlotLease::acquire(1)?;
    let human = epurse(["reader", "list"])?;
    human.assert_success();
    for reader in READERS {
        assert!(
            human.stdout.contains(reader),
            "reader list must name {reader}:\n{human}"
        );
    }
    assert!(
        compact_upper(&human.stdout).contains(&hex::encode_upper(virtual_atr(PURSE_HISTORICAL))),
        "reader list must show the purse card's ATR:\n{human}"
    );

    let json = epurse(["--json", "reader", "list"])?;
    json.assert_success();
    let v: Value = json.json();
    let readers = list(&v, "readers");
    assert_eq!(readers.len(), 2, "exactly the two virtual readers:\n{json}");
    for (i, r) in readers.iter().enumerate() {
        assert_eq!(r["index"].as_u64(), Some(i as u64), "{r}");
        assert_eq!(r["name"], READERS[i], "{r}");
        assert_eq!(r["card_present"], true, "{r}");
    }
    assert_eq!(
        compact_upper(&text(&readers[0]["atr"])),
        hex::encode_upper(virtual_atr(PURSE_HISTORICAL))
    );
    assert_eq!(
        compact_upper(&text(&readers[1]["atr"])),
        hex::encode_upper(virtual_atr(TRANSFER_HISTORICAL))
    );
    Ok(())
}

#[test]
fn reader_list_shows_an_empty_reader_as_such() -> Result<()> {
    let lease = SlotLease::acquire(0)?;
    remove_card(&lease)?;
    let json = epurse(["--json", "reader", "list"])?;
    json.assert_success();
    let v: Value = json.json();
    let r0 = &list(&v, "readers")[0];
    assert_eq!(r0["name"], READERS[0], "{json}");
    assert_eq!(r0["card_present"], false, "{json}");
    assert_eq!(r0["atr"], Value::Null, "no ATR without a card: {json}");
    let human = epurse(["reader", "list"])?;
    human.assert_success();
    let line0 = human
        .stdout
        .lines()
        .find(|l| l.contains(READERS[0]))
        .unwrap_or_default();
    assert!(
        line0.contains("empty"),
        "the empty reader says so:\n{human}"
    );
    Ok(())
}

// ---- card info / card log ----------------------------------------------------------------------

#[test]
fn card_info_decodes_a_personalised_purse_in_text_and_json() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (_ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    load_purse(&card, &keys, &profile.serial, Purse::Ecash, 1250)?;
    load_purse(&card, &keys, &profile.serial, Purse::Food, 700)?;
    drop(card);
    let serial = hex::encode_upper(profile.serial.0);

    let human = epurse(args_with_reader(lease.reader(), &["card", "info"]))?;
    human.assert_success();
    for want in [serial.as_str(), "12.50", "7.00"] {
        assert!(
            compact_upper(&human.stdout).contains(&compact_upper(want)),
            "card info must show {want}:\n{human}"
        );
    }
    assert!(
        human.stdout.to_lowercase().contains("active"),
        "lifecycle:\n{human}"
    );

    let (json, v) = json_on(lease.reader(), &["card", "info"])?;
    assert_eq!(v["aid"], purse_aid_hex(), "aid in hex:\n{json}");
    assert_eq!(v["applet"], "purse");
    assert_eq!(v["reader"], lease.reader());
    assert_eq!(compact_upper(&text(&v["serial"])), serial, "{json}");
    assert_eq!(text(&v["lifecycle"]).to_lowercase(), "active", "{json}");
    assert_eq!(v["key_version"], keys.key_version(), "{json}");
    let ecash = &v["purses"]["ecash"];
    let food = &v["purses"]["food"];
    assert_eq!(
        (&ecash["balance"], &ecash["load_counter"]),
        (&Value::from(1250), &Value::from(1)),
        "{json}"
    );
    assert_eq!(
        (&food["balance"], &food["load_counter"]),
        (&Value::from(700), &Value::from(1)),
        "{json}"
    );
    assert_eq!(ecash["max_balance"], 100_000, "{json}");
    assert_eq!(v["no_pin_limit"], 5_000, "{json}");
    assert_eq!(v["pin"]["tries_left"], 3, "{json}");
    Ok(())
}

#[test]
fn card_info_on_a_blank_purse_says_it_is_blank() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    let (json, v) = json_on(lease.reader(), &["card", "info"])?;
    assert_eq!(v["aid"], purse_aid_hex());
    assert_eq!(text(&v["lifecycle"]).to_lowercase(), "blank", "{json}");
    Ok(())
}

#[test]
fn card_info_decodes_the_transfer_card() -> Result<()> {
    let lease = SlotLease::acquire(1)?;
    let (json, v) = json_on(lease.reader(), &["card", "info"])?;
    assert_eq!(
        v["aid"],
        hex::encode_upper(apdu_spec::TRANSFER_AID),
        "the transfer applet's AID:\n{json}"
    );
    assert_eq!(v["applet"], "transfer", "{json}");
    assert!(v["capacity"].as_u64().is_some_and(|c| c >= 8192), "{json}");
    let human = epurse(args_with_reader(lease.reader(), &["card", "info"]))?;
    human.assert_success();
    assert!(human.stdout.to_lowercase().contains("transfer"), "{human}");
    Ok(())
}

#[test]
fn card_log_lists_the_loads_newest_first() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (_ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    let first = load_purse(&card, &keys, &profile.serial, Purse::Ecash, 300)?;
    let second = load_purse(&card, &keys, &profile.serial, Purse::Ecash, 450)?;
    drop(card);

    let (json, v) = json_on(lease.reader(), &["card", "log"])?;
    let entries = list(&v, "entries");
    assert_eq!(entries.len(), 2, "two loads:\n{json}");
    assert_eq!(
        compact_upper(&text(&v["serial"])),
        hex::encode_upper(profile.serial.0)
    );
    for (entry, (amount, balance, counter, tac)) in entries
        .iter()
        .zip([(450, 750, 2, second.tac), (300, 300, 1, first.tac)])
    {
        assert_eq!(entry["amount"], amount, "newest first:\n{json}");
        assert_eq!(entry["balance"], balance, "{json}");
        assert_eq!(entry["counter"], counter, "{json}");
        assert_eq!(
            compact_upper(&text(&entry["tac"])),
            hex::encode_upper(tac),
            "{json}"
        );
        assert_eq!(text(&entry["type"]).to_lowercase(), "load", "{json}");
    }

    let human = epurse(args_with_reader(lease.reader(), &["card", "log"]))?;
    human.assert_success();
    assert!(
        human.stdout.contains("4.50") && human.stdout.contains("3.00"),
        "{human}"
    );
    Ok(())
}

#[test]
fn card_info_without_a_card_fails_with_a_clear_message() -> Result<()> {
    let lease = SlotLease::acquire(0)?;
    remove_card(&lease)?;
    let out = epurse(args_with_reader(lease.reader(), &["card", "info"]))?;
    out.assert_code(5);
    assert!(
        out.stderr.to_lowercase().contains("no card"),
        "says there is no card:\n{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    Ok(())
}

// ---- reader choice -----------------------------------------------------------------------------

#[test]
fn the_reader_is_chosen_by_index_name_part_or_environment() -> Result<()> {
    let _slot0 = SlotLease::acquire(0)?;
    let _slot1 = SlotLease::acquire(1)?;
    let transfer_aid = hex::encode_upper(apdu_spec::TRANSFER_AID);
    let aid_of = |out: &CliOutput| text(&out.json::<Value>()["aid"]);

    let by_index = epurse(["--json", "card", "info", "--reader", "1"])?;
    assert_eq!(
        aid_of(by_index.assert_success()),
        transfer_aid,
        "--reader 1"
    );
    let by_name = epurse(["--json", "card", "info", "--reader", "PCD 00 01"])?;
    assert_eq!(
        aid_of(by_name.assert_success()),
        transfer_aid,
        "--reader by name part"
    );
    let by_env = Epurse::new(["--json", "card", "info"])
        .env("EPURSE_READER", "00 01")
        .run()?;
    assert_eq!(
        aid_of(by_env.assert_success()),
        transfer_aid,
        "EPURSE_READER"
    );
    let purse = epurse(["--json", "card", "info", "--reader", "0"])?;
    assert_eq!(
        aid_of(purse.assert_success()),
        purse_aid_hex(),
        "--reader 0"
    );

    let unknown = epurse(["card", "info", "--reader", "no such reader"])?;
    unknown.assert_code(4);
    assert!(
        unknown.stderr.contains(READERS[0]),
        "lists the readers there are:\n{unknown}"
    );
    let ambiguous = epurse(["card", "info", "--reader", "Virtual"])?;
    ambiguous.assert_code(4);
    assert!(
        ambiguous.stderr.contains(READERS[1]),
        "names the readers it matches:\n{ambiguous}"
    );
    Ok(())
}

// ---- raw APDUs ---------------------------------------------------------------------------------

#[test]
fn apdu_send_prints_responses_with_decoded_status_words() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    // SELECT, then READ LOG on a BLANK card (6985), then an unknown instruction (6D00).
    let out = epurse(args_with_reader(
        lease.reader(),
        &["apdu", "send", SELECT_PURSE, "805C000000", "80CA000000"],
    ))?;
    out.assert_success();
    let stdout = compact_upper(&out.stdout);
    assert!(
        stdout.contains("6F238408F045505552534501"),
        "the FCI:\n{out}"
    );
    for sw in ["9000", "6985", "6D00"] {
        assert!(stdout.contains(sw), "status word {sw}:\n{out}");
    }
    let lower = out.stdout.to_lowercase();
    assert!(lower.contains("condition"), "6985 decoded by name:\n{out}");
    assert!(
        lower.contains("instruction") || lower.contains("ins"),
        "6D00 decoded:\n{out}"
    );

    let (json, v) = json_on(
        lease.reader(),
        &["apdu", "send", SELECT_PURSE, "805C000000"],
    )?;
    let exchanges = list(&v, "exchanges");
    assert_eq!(exchanges.len(), 2, "{json}");
    assert_eq!(text(&exchanges[0]["sw"]).to_uppercase(), "9000", "{json}");
    assert!(
        compact_upper(&text(&exchanges[0]["data"])).starts_with("6F238408F045505552534501"),
        "{json}"
    );
    assert_eq!(text(&exchanges[1]["sw"]).to_uppercase(), "6985", "{json}");
    assert!(
        !text(&exchanges[1]["sw_name"]).is_empty() && !text(&exchanges[1]["sw_meaning"]).is_empty(),
        "{json}"
    );
    Ok(())
}

#[test]
fn apdu_send_refuses_bad_hex_as_a_usage_error() -> Result<()> {
    let out = epurse(["apdu", "send", "00A4ZZ", "--reader", "0"])?;
    out.assert_code(2);
    assert!(!out.stderr.contains("panicked"), "{out}");
    Ok(())
}

#[test]
fn apdu_script_runs_a_scriptor_file_with_reset_and_comments() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    let dir = std::env::temp_dir().join(format!("epurse-e2e-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("select.script");
    std::fs::write(
        &file,
        format!("# select, reset, select\n{SELECT_PURSE}\nreset\n00 A4 04 00 08 F0 45 50 55 52 53 45 01 00\n805C000000\n"),
    )
    .expect("write script");
    let out = epurse(args_with_reader(
        lease.reader(),
        &["apdu", "script", file.to_str().expect("utf-8")],
    ))?;
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_success();
    let stdout = compact_upper(&out.stdout);
    assert_eq!(
        stdout.matches("6F238408F045505552534501").count(),
        2,
        "two FCIs:\n{out}"
    );
    assert!(stdout.contains("6985"), "READ LOG on BLANK:\n{out}");
    assert!(
        out.stdout.to_lowercase().contains("reset"),
        "the reset is shown:\n{out}"
    );
    Ok(())
}

#[test]
fn apdu_trace_with_v_redacts_the_pin() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (_ctx, card, _profile) = new_active_purse(&mut lease, &keys)?;
    drop(card);
    // VERIFY PIN with the PIN 1234: block 24 12 34 FF FF FF FF FF.
    let out = epurse(args_with_reader(
        lease.reader(),
        &[
            "-v",
            "apdu",
            "send",
            SELECT_PURSE,
            "002000800824 1234FFFFFFFFFF",
        ],
    ))?;
    out.assert_success();
    assert!(
        compact_upper(&out.stderr).contains("00A40400"),
        "-v traces the APDUs:\n{out}"
    );
    // The trace is the log: it must not carry the PIN (stdout only echoes what the technician
    // typed on the command line).
    assert!(
        !compact_upper(&out.stderr).contains("241234FF"),
        "the trace must not show the PIN block:\n{out}"
    );
    assert!(
        out.stderr.to_lowercase().contains("redacted"),
        "the trace says it redacted something:\n{out}"
    );
    assert!(
        compact_upper(&out.stdout).contains("9000"),
        "the right PIN verifies:\n{out}"
    );
    Ok(())
}

// ---- faults through the CLI -------------------------------------------------------------------

/// Runs `epurse apdu send SELECT` with a fault armed at the first APDU; it must end promptly
/// with a specific error about the card (not a hang, not a panic, not a usage error).
fn cli_fault(kind: &str, reinsert: Option<Duration>) -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    lease.arm_fault(kind, 1, reinsert)?;
    let out = Epurse::new(args_with_reader(
        lease.reader(),
        &["apdu", "send", SELECT_PURSE],
    ))
    .timeout(Duration::from_secs(20))
    .run()?;
    assert_eq!(
        out.code,
        Some(5),
        "a lost {kind} is a card problem (exit 5):\n{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("removed") || err.contains("no response") || err.contains("does not answer"),
        "the error says what happened to the card:\n{out}"
    );
    assert!(
        out.stderr.contains(lease.reader()),
        "names the reader:\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "ends promptly:\n{out}"
    );

    let ctx = pcsc_context()?;
    if reinsert.is_some() {
        // The card comes back; the next command works again.
        wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
        wait_reader(&ctx, lease.reader(), true, Duration::from_secs(10))?;
        let again = epurse(args_with_reader(
            lease.reader(),
            &["apdu", "send", SELECT_PURSE],
        ))?;
        again.assert_success();
    } else {
        wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
        let again = epurse(args_with_reader(
            lease.reader(),
            &["apdu", "send", SELECT_PURSE],
        ))?;
        again.assert_code(5);
        assert!(again.stderr.to_lowercase().contains("no card"), "{again}");
    }
    Ok(())
}

#[test]
fn cli_drop_command_without_reinsert_is_a_clean_card_error() -> Result<()> {
    cli_fault("drop-command", None)
}

#[test]
fn cli_drop_command_with_reinsert_is_a_clean_card_error_then_works() -> Result<()> {
    cli_fault("drop-command", Some(Duration::from_millis(200)))
}

#[test]
fn cli_drop_response_without_reinsert_is_a_clean_card_error() -> Result<()> {
    cli_fault("drop-response", None)
}

#[test]
fn cli_drop_response_with_reinsert_is_a_clean_card_error_then_works() -> Result<()> {
    cli_fault("drop-response", Some(Duration::from_millis(200)))
}

// ---- reader watch ------------------------------------------------------------------------------

#[test]
fn reader_watch_reports_removal_and_insertion_then_stops_at_its_bound() -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let slot0 = SlotLease::acquire(0)?;
    let _slot1 = SlotLease::acquire(1)?; // nothing else moves in the other reader meanwhile
    let mut child = Command::new(epurse_bin()?)
        .args([
            "--json",
            "reader",
            "watch",
            "--count",
            "2",
            "--timeout",
            "30",
        ])
        .env_remove("EPURSE_READER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Io {
            what: "spawning epurse reader watch".into(),
            source,
        })?;
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::io::Result::ok)
        {
            if line.contains("watching") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let started = rx.recv_timeout(Duration::from_secs(10));
    if started.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "reader watch did not say `watching` within 10 s: {}",
            stderr_reader.join().unwrap_or_default()
        );
    }

    slot0.remove()?;
    slot0.wait_empty()?;
    let ctx = pcsc_context()?;
    wait_reader(&ctx, slot0.reader(), false, Duration::from_secs(5))?;
    slot0.insert(slot0.default_card().expect("default card"))?;

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("reader watch --count 2 did not stop after two events");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("read stdout");
    let stderr = stderr_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert_eq!(events.len(), 2, "{stdout}");
    assert_eq!(
        (&events[0]["event"], &events[0]["reader"]),
        (&Value::from("removed"), &Value::from(READERS[0])),
        "{stdout}"
    );
    assert_eq!(
        (&events[1]["event"], &events[1]["reader"]),
        (&Value::from("inserted"), &Value::from(READERS[0])),
        "{stdout}"
    );
    assert_eq!(
        text(&events[1]["atr"]),
        hex::encode_upper(virtual_atr(PURSE_HISTORICAL)),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn reader_watch_with_a_timeout_and_no_events_ends_by_itself() -> Result<()> {
    let _slot0 = SlotLease::acquire(0)?;
    let _slot1 = SlotLease::acquire(1)?;
    let out = Epurse::new(["reader", "watch", "--count", "1", "--timeout", "1"])
        .timeout(Duration::from_secs(15))
        .run()?;
    // No event in 1 s: the bound ends it (exit 1: fewer events than --count), not a hang.
    out.assert_code(1);
    assert!(out.stdout.trim().is_empty(), "no events:\n{out}");
    assert!(out.elapsed < Duration::from_secs(5), "{out}");
    Ok(())
}
