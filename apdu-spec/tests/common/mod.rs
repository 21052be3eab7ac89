//! Fixtures shared by the integration tests: hand-written hex and the values the SPEC examples
//! use. Each test crate uses only some of them.
#![allow(dead_code)]

use apdu_spec::{Amount, Date, DateTime, Serial};

/// The serial of the SPEC examples, `45 50 00 00 00 00 00 01`.
pub const SERIAL: Serial = Serial([0x45, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// Bytes from hex written with spaces for readability.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// An amount known to be valid.
pub fn amount(v: u32) -> Amount {
    Amount::new(v).unwrap()
}

/// `2026-11-23T14:30:00`, the date-time of the SPEC examples.
pub fn dt() -> DateTime {
    "2026-11-23T14:30:00".parse().unwrap()
}

/// `2026-12-31`, the Food-Voucher expiry of the SPEC examples.
pub fn expiry() -> Date {
    "2026-12-31".parse().unwrap()
}
