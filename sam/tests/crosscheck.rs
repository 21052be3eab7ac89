//! Cross-check against an independent implementation: `scripts/crypto_crosscheck.py`
//! (pycryptodome's DES/DES3, no shared code) on 600 random cases from a fixed seed.
//!
//! This test never skips: without python3 or pycryptodome it fails and says to run
//! `scripts/setup` (which does `pip install pycryptodome`). `EPURSE_PYTHON` picks another
//! interpreter than `python3`.

use std::io::Write;
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sam::crypto::{cbc_encrypt, diversify, retail_mac, session_key, Key16, Padding};
use serde_json::{json, Value};

const CASES_PER_OP: usize = 120;
const SETUP_HINT: &str =
    "the crypto cross-check needs python3 with pycryptodome: run scripts/setup (or: pip install pycryptodome)";

struct Case {
    input: Value,
    /// What the Rust implementation says, upper-case hex.
    ours: String,
}

fn random_key(rng: &mut StdRng) -> ([u8; 16], Key16) {
    let bytes: [u8; 16] = rng.gen();
    (bytes, Key16::from_bytes(bytes))
}

fn up(bytes: impl AsRef<[u8]>) -> String {
    hex::encode_upper(bytes)
}

fn make_cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(0x6570_7572_7365); // "epurse"
    let mut cases = Vec::new();
    for i in 0..CASES_PER_OP {
        // Retail MAC with padding method 2, any length (0..=80).
        let (kb, key) = random_key(&mut rng);
        let len = rng.gen_range(0..=80);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        cases.push(Case {
            input: json!({"op": "mac", "key": up(kb), "data": up(&data), "padding": "m2"}),
            ours: up(retail_mac(&key, &data, Padding::Method2).unwrap()),
        });

        // Retail MAC without padding, whole blocks (1..=10 blocks).
        let (kb, key) = random_key(&mut rng);
        let len = 8 * rng.gen_range(1..=10);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        cases.push(Case {
            input: json!({"op": "mac", "key": up(kb), "data": up(&data), "padding": "none"}),
            ours: up(retail_mac(&key, &data, Padding::None).unwrap()),
        });

        // EMV option-A diversification with parity.
        let (kb, master) = random_key(&mut rng);
        let d: [u8; 8] = rng.gen();
        cases.push(Case {
            input: json!({"op": "diversify", "master": up(kb), "diversifier": up(d)}),
            ours: up(diversify(&master, &d).expose_secret()),
        });

        // Session keys; every few cases use the counter's edge values.
        let (kb, card) = random_key(&mut rng);
        let rnd: [u8; 4] = rng.gen();
        let counter: u16 = match i % 4 {
            0 => 0,
            1 => u16::MAX,
            _ => rng.gen(),
        };
        let (tx_type, purse): (u8, u8) = (rng.gen(), rng.gen());
        cases.push(Case {
            input: json!({"op": "session_key", "card_key": up(kb), "rnd": up(rnd),
                          "counter": counter, "tx_type": tx_type, "purse": purse}),
            ours: up(session_key(&card, rnd, counter, tx_type, purse).expose_secret()),
        });

        // KCV.
        let (kb, key) = random_key(&mut rng);
        cases.push(Case {
            input: json!({"op": "kcv", "key": up(kb)}),
            ours: key.kcv_hex(),
        });

        // 3DES-CBC encryption.
        let (kb, key) = random_key(&mut rng);
        let iv: [u8; 8] = rng.gen();
        let len = 8 * rng.gen_range(0..=6);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        cases.push(Case {
            input: json!({"op": "cbc_encrypt", "key": up(kb), "iv": up(iv), "data": up(&data)}),
            ours: up(cbc_encrypt(&key, iv, &data).unwrap()),
        });
    }
    cases
}

#[test]
fn rust_and_pycryptodome_agree_on_random_inputs() {
    let cases = make_cases();
    assert!(cases.len() >= 500);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/crypto_crosscheck.py"
    );
    let python = std::env::var("EPURSE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}; {SETUP_HINT}"));

    let mut input = String::new();
    for case in &cases {
        input.push_str(&case.input.to_string());
        input.push('\n');
    }
    {
        // The script reads everything before it writes, so writing first cannot deadlock.
        let mut stdin = child.stdin.take().expect("piped stdin");
        if let Err(e) = stdin.write_all(input.as_bytes()) {
            // A script that exits early (missing module) closes the pipe; its stderr says why.
            eprintln!("writing cases to the cross-check script failed: {e}");
        }
    }
    let output = child
        .wait_with_output()
        .expect("wait for the cross-check script");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("pycryptodome is missing ({}); {SETUP_HINT}", stderr.trim()),
        _ => panic!(
            "{script} failed ({}): {}\n{SETUP_HINT}",
            output.status,
            stderr.trim()
        ),
    }

    let stdout = String::from_utf8(output.stdout).expect("utf-8 from the script");
    let theirs: Vec<String> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("JSON line from the script");
            v["result"].as_str().expect("result field").to_owned()
        })
        .collect();
    assert_eq!(theirs.len(), cases.len(), "one answer per case");

    let mismatches: Vec<String> = cases
        .iter()
        .zip(&theirs)
        .filter(|(case, theirs)| &case.ours != *theirs)
        .map(|(case, theirs)| format!("{} -> rust {} python {}", case.input, case.ours, theirs))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
