//! `epurse crypto` end to end: the built binary on published vectors and on bad input.

use std::process::{Command, Output};

fn epurse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_epurse"))
        .args(args)
        .output()
        .expect("run epurse")
}

/// Runs a command that must succeed and returns its stdout, trimmed.
fn ok(args: &[&str]) -> String {
    let out = epurse(args);
    assert!(
        out.status.success(),
        "epurse {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs a command that must fail with exit code 2 and returns its stderr.
fn usage_error(args: &[&str]) -> String {
    let out = epurse(args);
    assert_eq!(out.status.code(), Some(2), "epurse {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout on error: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn mac_bouncy_castle_vector_without_padding() {
    // "Hello World !!!!" in ASCII.
    let data = "48656C6C6F20576F726C642021212121";
    let args = [
        "crypto",
        "mac",
        "--key",
        "7CA110454A1A6E570131D9619DC1376E",
        "--data",
        data,
    ];
    let mut no_pad = args.to_vec();
    no_pad.extend(["--padding", "none"]);
    assert_eq!(ok(&no_pad), "F09B856213BAB83B");
}

#[test]
fn mac_icao_vector_with_default_padding() {
    // ICAO 9303 Part 11 BAC: M_IFD over E_IFD, padding method 2 (the default).
    let e_ifd = "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2";
    let key = "7962D9ECE03D1ACD4C76089DCE131543";
    assert_eq!(
        ok(&["crypto", "mac", "--key", key, "--data", e_ifd]),
        "5F1448EEA8AD90A7"
    );
    assert_eq!(
        ok(&[
            "crypto",
            "mac",
            "--key",
            key,
            "--data",
            e_ifd,
            "--padding",
            "m2"
        ]),
        "5F1448EEA8AD90A7"
    );
    // Lower case and spaces are accepted.
    let spaced = "72c29c23 71cc9bdb 65b779b8 e8d37b29 ecc154aa 56a8799f ae2f498f 76ed92f2";
    assert_eq!(
        ok(&[
            "crypto",
            "mac",
            "--key",
            &key.to_lowercase(),
            "--data",
            spaced
        ]),
        "5F1448EEA8AD90A7"
    );
}

#[test]
fn diversify_and_kcv() {
    // Constructed EMV option-A vector (see sam/tests/vectors.rs, checked with pycryptodome).
    assert_eq!(
        ok(&[
            "crypto",
            "diversify",
            "--master",
            "0123456789ABCDEFFEDCBA9876543210",
            "--diversifier",
            "1333008960001001"
        ]),
        "438F4A976EC80DB3F4D31C0DCB32A226"
    );
    assert_eq!(
        ok(&["crypto", "kcv", "--key", "404142434445464748494A4B4C4D4E4F"]),
        "8BAF47"
    );
}

#[test]
fn wrong_key_length_exits_2() {
    let err = usage_error(&["crypto", "kcv", "--key", "404142434445464748494A4B4C4D4E"]);
    assert!(
        err.contains("--key must be 16 bytes (32 hex digits), got 15 bytes"),
        "{err}"
    );
}

#[test]
fn bad_hex_exits_2() {
    let err = usage_error(&[
        "crypto",
        "mac",
        "--key",
        "7CA110454A1A6E570131D9619DC1376E",
        "--data",
        "0G",
    ]);
    assert!(
        err.contains("--data is not valid hex: invalid hex character 'G' at position 1"),
        "{err}"
    );
    let err = usage_error(&["crypto", "kcv", "--key", "404142434445464748494A4B4C4D4E4"]);
    assert!(
        err.contains("--key is not valid hex: odd number of hex digits (31)"),
        "{err}"
    );
}

#[test]
fn unaligned_data_without_padding_exits_2() {
    let err = usage_error(&[
        "crypto",
        "mac",
        "--key",
        "7CA110454A1A6E570131D9619DC1376E",
        "--data",
        "0102030405",
        "--padding",
        "none",
    ]);
    assert!(
        err.contains(
            "--data is 5 bytes; with --padding none it must be a non-empty multiple of 8 bytes"
        ),
        "{err}"
    );
    let err = usage_error(&[
        "crypto",
        "mac",
        "--key",
        "7CA110454A1A6E570131D9619DC1376E",
        "--data",
        "",
        "--padding",
        "none",
    ]);
    assert!(err.contains("--data is 0 bytes"), "{err}");
}

#[test]
fn wrong_diversifier_length_exits_2() {
    let err = usage_error(&[
        "crypto",
        "diversify",
        "--master",
        "0123456789ABCDEFFEDCBA9876543210",
        "--diversifier",
        "1333",
    ]);
    assert!(
        err.contains("--diversifier must be 8 bytes (16 hex digits), got 2 bytes"),
        "{err}"
    );
}

#[test]
fn clap_usage_errors_exit_2() {
    usage_error(&["crypto", "mac", "--key", "7CA110454A1A6E570131D9619DC1376E"]);
    usage_error(&[
        "crypto",
        "mac",
        "--key",
        "00",
        "--data",
        "00",
        "--padding",
        "m3",
    ]);
    usage_error(&["crypto", "nosuch"]);
}
