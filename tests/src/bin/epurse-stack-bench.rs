//! `epurse-stack-bench`: APDU round trip through the Rust `pcsc` crate, pcscd and vpcd to a
//! virtual card, for `scripts/bench-stack` (the host's own `epurse apdu bench` is preferred when
//! the binary has it).
//!
//! ```text
//! epurse-stack-bench [-n COUNT] [-r READER] [HEXAPDU]    (default: 1000 SELECTs of the purse applet)
//! ```
//!
//! Prints one line: count, mean, median, p99 and max in microseconds, and the last status word.

use std::process::ExitCode;
use std::time::Instant;

use epurse_tests::{connect, pcsc_context, transmit, READERS, SELECT_PURSE};

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "epurse-stack-bench: {why}\nusage: epurse-stack-bench [-n COUNT] [-r READER] [HEXAPDU]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut count: usize = 1000;
    let mut reader = READERS[0].to_string();
    let mut apdu_hex = SELECT_PURSE.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-n" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => count = n,
                _ => return usage("-n needs a count of at least 1"),
            },
            "-r" => match args.next() {
                Some(r) => reader = r,
                None => return usage("-r needs a reader name"),
            },
            "-h" | "--help" => return usage("help"),
            other => apdu_hex = other.to_string(),
        }
    }
    let apdu = match hex::decode(&apdu_hex) {
        Ok(a) if a.len() >= 4 => a,
        _ => return usage(&format!("not a hex APDU: {apdu_hex}")),
    };
    let card = match pcsc_context().and_then(|ctx| connect(&ctx, &reader).map(|c| (ctx, c))) {
        Ok((_ctx, card)) => card,
        Err(e) => {
            eprintln!("epurse-stack-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut times = Vec::with_capacity(count);
    let mut last = Vec::new();
    let start = Instant::now();
    for _ in 0..count {
        let t0 = Instant::now();
        match transmit(&card, &apdu) {
            Ok(r) => last = r,
            Err(e) => {
                eprintln!("epurse-stack-bench: transmit: {e}");
                return ExitCode::FAILURE;
            }
        }
        times.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let total = start.elapsed().as_secs_f64() * 1e6;
    times.sort_by(f64::total_cmp);
    let p99 = times[((count as f64 * 0.99) as usize).min(count - 1)];
    let sw = last
        .len()
        .checked_sub(2)
        .map_or(String::from("----"), |i| hex::encode_upper(&last[i..]));
    println!(
        "{count} APDUs on \"{reader}\": mean {:.1} us, median {:.1} us, p99 {:.1} us, max {:.1} us; total {:.1} ms; last SW {sw}",
        total / count as f64,
        times[count / 2],
        p99,
        times[count - 1],
        total / 1000.0
    );
    ExitCode::SUCCESS
}
