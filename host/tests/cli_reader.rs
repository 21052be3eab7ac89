//! The reader-stack commands of the built `epurse` binary where no reader is needed: ATR
//! decoding, bad arguments (exit 2), no PC/SC service (exit 3, forced by pointing the PC/SC
//! client at a socket that does not exist), and `--reader` matching nothing (exit 4, when a
//! pcscd is reachable on this machine).

use std::io::Write;
use std::process::{Command, Output};

fn epurse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_epurse"));
    c.args(args).env_remove("EPURSE_READER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run epurse")
}

/// pcsc-lite clients find pcscd through this socket; a path that does not exist means "no
/// service" for this process only.
const NO_SERVICE: (&str, &str) = ("PCSCLITE_CSOCK_NAME", "/nonexistent/epurse-test/pcscd.comm");

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn atr_decode_text_and_json() {
    let out = epurse(
        &[
            "atr",
            "decode",
            "3B FA 13 00 00 81 31 FE 45 4A 43 4F 50 34 31 56 32 32 31 96",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("protocols T=1"), "{text}");
    assert!(text.contains("\"JCOP41V221\""), "{text}");
    assert!(text.contains("TCK       96  valid"), "{text}");

    let out = epurse(
        &["--json", "atr", "decode", "3B8A80014550555253452D50313073"],
        &[],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["atr"], "3B8A80014550555253452D50313073");
    assert_eq!(v["protocols"], serde_json::json!([0, 1]));
    assert_eq!(v["tck"]["valid"], true);
    // --json after the subcommand works too.
    let out = epurse(&["atr", "decode", "3B 02 14 50", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tck"], serde_json::Value::Null);
    assert_eq!(v["protocols"], serde_json::json!([0]));
}

#[test]
fn atr_with_wrong_tck_is_decoded_and_flagged() {
    let out = epurse(&["atr", "decode", "3B8A80014550555253452D50313074"], &[]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert!(stdout(&out).contains("WRONG: should be 73"), "{out:?}");
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["atr", "decode", "3B8A80"], "not an ATR: ATR truncated"),
        (&["atr", "decode", "xyz"], "not valid hex"),
        (&["atr", "decode", "3C"], "not an ATR: TS 3C"),
        (&["apdu", "send", "00"], "at least 4"),
        (&["apdu", "send", "00A4zz"], "APDU 1 is not valid hex"),
        (&["apdu", "bench", "-n", "0"], "-n must be at least 1"),
        (
            &["reader", "watch", "--count", "0"],
            "--count must be at least 1",
        ),
        (
            &["reader", "watch", "--timeout", "0"],
            "--timeout must be a positive",
        ),
        (&["reader", "beep", "--ms", "5"], "--ms must be 10..=2550"),
        (&["reader", "led"], "give --red"),
        (&["reader", "frobnicate"], "unrecognized subcommand"),
        (&["apdu", "send"], "required"),
    ];
    for (args, expect) in cases {
        let out = epurse(args, &[NO_SERVICE]);
        assert_eq!(code(&out), 2, "epurse {args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "epurse {args:?}: nothing on stdout");
        assert!(
            stderr(&out).contains(expect),
            "epurse {args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn bad_script_lines_are_reported_before_any_card_access() {
    let dir = std::env::temp_dir().join(format!("epurse-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.apdu");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "# comment\n00A4040008F04550555253450100\nreset\nnot hex\n00 A4\n"
    )
    .unwrap();
    drop(f);
    // No service: had the script been run, this would be exit 3.
    let out = epurse(&["apdu", "script", path.to_str().unwrap()], &[NO_SERVICE]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code(&out), 2, "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("line 4: \"not hex\""), "{err}");
    assert!(err.contains("line 5: 2 byte(s)"), "{err}");

    let out = epurse(&["apdu", "script", "/nonexistent/x.apdu"], &[NO_SERVICE]);
    assert_eq!(code(&out), 2, "{out:?}");
    assert!(stderr(&out).contains("cannot read the script"), "{out:?}");
}

#[test]
fn no_service_exits_3_and_says_what_to_do() {
    for args in [
        &["reader", "list"][..],
        &["card", "info"],
        &["apdu", "send", "805E000000"],
        &["--reader", "1", "card", "log"],
    ] {
        let out = epurse(args, &[NO_SERVICE]);
        assert_eq!(code(&out), 3, "epurse {args:?}: {out:?}");
        assert!(
            stderr(&out).contains("pcscd) is not running or not reachable")
                && stderr(&out).contains("scripts/stack start"),
            "{}",
            stderr(&out)
        );
    }
    let out = epurse(&["doctor", "--json"], &[NO_SERVICE]);
    assert_eq!(code(&out), 3, "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["findings"][0]["check"], "pcscd");
    assert_eq!(v["findings"][0]["status"], "fail");
    assert!(v["findings"][0]["action"]
        .as_str()
        .unwrap()
        .contains("pcscd"));
}

#[test]
fn reader_not_found_is_a_clear_reader_error() {
    // Needs a reachable pcscd (the virtual stack or a real one); without it the no-service
    // answer is checked above.
    let out = epurse(&["--reader", "no such reader 4711", "card", "info"], &[]);
    match code(&out) {
        3 => assert!(stderr(&out).contains("not running or not reachable")),
        4 => {
            let err = stderr(&out);
            assert!(
                err.contains("no reader matches \"no such reader 4711\"")
                    || err.contains("no smart-card reader is connected"),
                "{err}"
            );
            assert!(
                err.contains("reader list") || err.contains("plug in"),
                "{err}"
            );
        }
        other => panic!("unexpected exit {other}: {out:?}"),
    }
    // The environment variable works like the option.
    let out = epurse(&["card", "info"], &[("EPURSE_READER", "99")]);
    assert!(matches!(code(&out), 3 | 4), "{out:?}");
}

#[test]
fn help_documents_exit_codes() {
    let out = epurse(&["--help"], &[]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("Exit codes: 0 success") && text.contains("3 pcscd not running"),
        "{text}"
    );
    assert!(
        text.contains("--reader") && text.contains("--json") && text.contains("--verbose"),
        "{text}"
    );
}
