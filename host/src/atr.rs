//! ISO/IEC 7816-3 Answer-To-Reset decoder: TS, T0, the interface bytes TAi/TBi/TCi/TDi, the
//! transmission parameters they encode (Fi/Di, guard time, T=0 waiting time, T=1 IFSC/BWI/CWI
//! and error detection, T=15 clock stop and voltage class), the protocols offered, the
//! historical bytes and the TCK check.
//!
//! Decoding never panics; anything that is not an ATR is an [`AtrError`]. A wrong TCK is not
//! an error: the ATR is decoded and [`Atr::tck`] says the check failed, because a technician
//! wants to see the rest of a damaged ATR too.

use core::fmt;

use serde::Serialize;
use thiserror::Error;

/// Longest ATR ISO/IEC 7816-3 allows (TS + 32 bytes).
pub const MAX_ATR_LEN: usize = 33;

/// Why some bytes are not an ATR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AtrError {
    /// No bytes at all.
    #[error("ATR is empty")]
    Empty,
    /// TS is neither `3B` (direct) nor `3F` (inverse convention).
    #[error("TS {0:02X} is not an initial character (3B direct or 3F inverse convention)")]
    BadTs(u8),
    /// The bytes end before the interface bytes, historical bytes or TCK announced by T0/TDi.
    #[error(
        "ATR truncated: {what} announced, but the ATR ends after {got} bytes (needs {needed})"
    )]
    Truncated {
        /// What was still expected.
        what: &'static str,
        /// Bytes the ATR needs at least.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// Bytes after the end of the ATR as T0/TDi announce it.
    #[error("{extra} byte(s) after the end of the ATR (it ends after {len} bytes)")]
    TrailingBytes {
        /// Length of the ATR as announced.
        len: usize,
        /// Bytes beyond it.
        extra: usize,
    },
    /// More than 33 bytes.
    #[error("ATR of {0} bytes; ISO/IEC 7816-3 allows at most 33")]
    TooLong(usize),
}

/// Convention announced by TS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Convention {
    /// `3B`: direct convention.
    Direct,
    /// `3F`: inverse convention.
    Inverse,
}

/// One group of interface bytes: TAi, TBi, TCi, TDi for i = 1, 2, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct InterfaceGroup {
    /// i (1-based).
    pub index: usize,
    /// The protocol these bytes are for: 0 for group 1 ("global"), else the T announced by
    /// TD(i-1).
    pub protocol: u8,
    /// TAi.
    pub ta: Option<u8>,
    /// TBi.
    pub tb: Option<u8>,
    /// TCi.
    pub tc: Option<u8>,
    /// TDi.
    pub td: Option<u8>,
}

/// TCK presence and check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tck {
    /// The TCK byte.
    pub value: u8,
    /// What it should be so that T0 xor ... xor TCK = 0.
    pub expected: u8,
    /// Whether the check passed.
    pub valid: bool,
}

/// A decoded ATR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atr {
    bytes: Vec<u8>,
    /// TS.
    pub convention: Convention,
    /// T0.
    pub t0: u8,
    /// Interface byte groups in order.
    pub groups: Vec<InterfaceGroup>,
    /// Historical bytes (K of them, K from T0).
    pub historical: Vec<u8>,
    /// TCK, when present (it is when any protocol other than T=0 is indicated).
    pub tck: Option<Tck>,
}

/// Clock-rate conversion integer Fi and the maximum clock frequency for FI (ISO/IEC 7816-3
/// table 7); `None` for reserved values.
pub fn fi_from_code(fi: u8) -> Option<(u16, f32)> {
    Some(match fi {
        0x0 => (372, 4.0),
        0x1 => (372, 5.0),
        0x2 => (558, 6.0),
        0x3 => (744, 8.0),
        0x4 => (1116, 12.0),
        0x5 => (1488, 16.0),
        0x6 => (1860, 20.0),
        0x9 => (512, 5.0),
        0xA => (768, 7.5),
        0xB => (1024, 10.0),
        0xC => (1536, 15.0),
        0xD => (2048, 20.0),
        _ => return None,
    })
}

/// Baud-rate adjustment integer Di for DI (ISO/IEC 7816-3 table 8); `None` for reserved values.
pub fn di_from_code(di: u8) -> Option<u8> {
    Some(match di {
        0x1 => 1,
        0x2 => 2,
        0x3 => 4,
        0x4 => 8,
        0x5 => 16,
        0x6 => 32,
        0x7 => 64,
        0x8 => 12,
        0x9 => 20,
        _ => return None,
    })
}

impl Atr {
    /// Decodes an ATR.
    pub fn parse(bytes: &[u8]) -> Result<Self, AtrError> {
        let (&ts, rest) = bytes.split_first().ok_or(AtrError::Empty)?;
        let convention = match ts {
            0x3B => Convention::Direct,
            0x3F => Convention::Inverse,
            other => return Err(AtrError::BadTs(other)),
        };
        if bytes.len() > MAX_ATR_LEN {
            return Err(AtrError::TooLong(bytes.len()));
        }
        let truncated = |what, needed| AtrError::Truncated {
            what,
            needed,
            got: bytes.len(),
        };
        let (&t0, _) = rest.split_first().ok_or(truncated("T0", 2))?;
        let k = usize::from(t0 & 0x0F);

        let mut pos = 2;
        let mut groups = Vec::new();
        let mut y = t0 >> 4;
        let mut protocol = 0u8;
        let mut needs_tck = false;
        let next = |pos: &mut usize, what| -> Result<u8, AtrError> {
            let b = *bytes.get(*pos).ok_or(truncated(what, *pos + 1))?;
            *pos += 1;
            Ok(b)
        };
        loop {
            let index = groups.len() + 1;
            let mut g = InterfaceGroup {
                index,
                protocol,
                ..InterfaceGroup::default()
            };
            if y & 0x1 != 0 {
                g.ta = Some(next(&mut pos, "TA")?);
            }
            if y & 0x2 != 0 {
                g.tb = Some(next(&mut pos, "TB")?);
            }
            if y & 0x4 != 0 {
                g.tc = Some(next(&mut pos, "TC")?);
            }
            if y & 0x8 != 0 {
                let td = next(&mut pos, "TD")?;
                g.td = Some(td);
                protocol = td & 0x0F;
                if protocol != 0 {
                    needs_tck = true;
                }
                y = td >> 4;
                groups.push(g);
            } else {
                // The last group: kept only when it holds a byte.
                if g.ta.is_some() || g.tb.is_some() || g.tc.is_some() {
                    groups.push(g);
                }
                break;
            }
        }

        let hist_end = pos + k;
        if bytes.len() < hist_end {
            return Err(truncated(
                "historical bytes",
                hist_end + usize::from(needs_tck),
            ));
        }
        let historical = bytes[pos..hist_end].to_vec();
        let mut len = hist_end;
        let tck = if needs_tck {
            let value = *bytes.get(hist_end).ok_or(truncated("TCK", hist_end + 1))?;
            len += 1;
            let expected = bytes[1..hist_end].iter().fold(0u8, |acc, b| acc ^ b);
            Some(Tck {
                value,
                expected,
                valid: value == expected,
            })
        } else {
            None
        };
        if bytes.len() > len {
            return Err(AtrError::TrailingBytes {
                len,
                extra: bytes.len() - len,
            });
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            convention,
            t0,
            groups,
            historical,
            tck,
        })
    }

    /// The raw ATR.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The group with index `i` (1-based), if present.
    pub fn group(&self, i: usize) -> Option<&InterfaceGroup> {
        self.groups.iter().find(|g| g.index == i)
    }

    /// Protocols offered (T values of every TDi except 15), T=0 when no TD1 is present.
    pub fn protocols(&self) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for g in &self.groups {
            if let Some(td) = g.td {
                let t = td & 0x0F;
                if t != 15 && !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        if out.is_empty() {
            out.push(0);
        }
        out
    }

    /// TA1 → (FI, DI) codes, default `(1, 1)` (Fi 372, Di 1) when TA1 is absent.
    pub fn fi_di_codes(&self) -> (u8, u8) {
        self.group(1)
            .and_then(|g| g.ta)
            .map_or((1, 1), |ta| (ta >> 4, ta & 0x0F))
    }

    /// TC1: extra guard time N (0 when absent).
    pub fn extra_guard_time(&self) -> u8 {
        self.group(1).and_then(|g| g.tc).unwrap_or(0)
    }

    /// TA2, the specific-mode byte: `Some((T, can_change, implicit_parameters))`.
    pub fn specific_mode(&self) -> Option<(u8, bool, bool)> {
        let ta2 = self.group(2)?.ta?;
        Some((ta2 & 0x0F, ta2 & 0x80 == 0, ta2 & 0x10 != 0))
    }

    /// T=0 waiting time integer WI (TC2, default 10).
    pub fn t0_wi(&self) -> u8 {
        self.group(2)
            .filter(|g| g.protocol == 0)
            .and_then(|g| g.tc)
            .unwrap_or(10)
    }

    /// The first group after TD(i-1) announced T = `t`, at i ≥ 3 (the protocol-specific bytes).
    fn first_specific(&self, t: u8) -> Option<&InterfaceGroup> {
        self.groups.iter().find(|g| g.index >= 3 && g.protocol == t)
    }

    /// T=1 parameters: (IFSC, BWI, CWI, error detection CRC?) with the defaults (32, 4, 13, LRC)
    /// for absent bytes; `None` when T=1 is not offered.
    pub fn t1_parameters(&self) -> Option<(u8, u8, u8, bool)> {
        if !self.protocols().contains(&1) {
            return None;
        }
        let g = self.first_specific(1);
        let ifsc = g.and_then(|g| g.ta).unwrap_or(32);
        let (bwi, cwi) = g
            .and_then(|g| g.tb)
            .map_or((4, 13), |tb| (tb >> 4, tb & 0x0F));
        let crc = g.and_then(|g| g.tc).is_some_and(|tc| tc & 0x01 != 0);
        Some((ifsc, bwi, cwi, crc))
    }

    /// T=15 global bytes: (clock stop indicator 0..=3, class indicator bits A/B/C), if present.
    pub fn t15_parameters(&self) -> Option<(u8, u8)> {
        let g = self.first_specific(15)?;
        let ta = g.ta?;
        Some((ta >> 6, ta & 0x3F))
    }

    /// One line per field, as `epurse atr decode` prints it.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        lines.push(format!("ATR       {}", hex::encode_upper(&self.bytes)));
        lines.push(format!(
            "TS        {:02X}  {} convention",
            self.bytes[0],
            match self.convention {
                Convention::Direct => "direct",
                Convention::Inverse => "inverse",
            }
        ));
        lines.push(format!(
            "T0        {:02X}  Y1={:X} ({}), K={} historical byte(s)",
            self.t0,
            self.t0 >> 4,
            present_list(self.t0 >> 4, 1),
            self.t0 & 0x0F
        ));
        for g in &self.groups {
            let i = g.index;
            if let Some(ta) = g.ta {
                lines.push(format!("TA{i}       {ta:02X}  {}", describe_ta(g, ta)));
            }
            if let Some(tb) = g.tb {
                lines.push(format!("TB{i}       {tb:02X}  {}", describe_tb(g, tb)));
            }
            if let Some(tc) = g.tc {
                lines.push(format!("TC{i}       {tc:02X}  {}", describe_tc(g, tc)));
            }
            if let Some(td) = g.td {
                lines.push(format!(
                    "TD{i}       {td:02X}  Y{}={:X} ({}), T={}",
                    i + 1,
                    td >> 4,
                    present_list(td >> 4, i + 1),
                    td & 0x0F
                ));
            }
        }
        let (fi, di) = self.fi_di_codes();
        let fi_text = fi_from_code(fi).map_or("reserved".to_owned(), |(f, mhz)| {
            format!("Fi={f} (f max {mhz} MHz)")
        });
        let di_text = di_from_code(di).map_or("Di reserved".to_owned(), |d| format!("Di={d}"));
        lines.push(format!("speed     {fi_text}, {di_text}"));
        let protocols: Vec<String> = self.protocols().iter().map(|t| format!("T={t}")).collect();
        lines.push(format!("protocols {}", protocols.join(", ")));
        lines.push(format!(
            "historical {} byte(s): {}",
            self.historical.len(),
            describe_historical(&self.historical)
        ));
        lines.push(match self.tck {
            None => "TCK       absent (only T=0 indicated)".to_owned(),
            Some(t) if t.valid => format!("TCK       {:02X}  valid", t.value),
            Some(t) => format!(
                "TCK       {:02X}  WRONG: should be {:02X} (the ATR is corrupt or misread)",
                t.value, t.expected
            ),
        });
        lines
    }
}

impl fmt::Display for Atr {
    /// Upper-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.bytes))
    }
}

fn present_list(y: u8, i: usize) -> String {
    let names: Vec<String> = [(0x1, "TA"), (0x2, "TB"), (0x4, "TC"), (0x8, "TD")]
        .iter()
        .filter(|(bit, _)| y & bit != 0)
        .map(|(_, n)| format!("{n}{i}"))
        .collect();
    if names.is_empty() {
        "no interface bytes follow".to_owned()
    } else {
        names.join(" ")
    }
}

fn describe_ta(g: &InterfaceGroup, ta: u8) -> String {
    match (g.index, g.protocol) {
        (1, _) => {
            let fi = fi_from_code(ta >> 4).map_or("Fi reserved".to_owned(), |(f, mhz)| {
                format!("Fi={f} (f max {mhz} MHz)")
            });
            let di =
                di_from_code(ta & 0x0F).map_or("Di reserved".to_owned(), |d| format!("Di={d}"));
            format!("{fi}, {di}")
        }
        (2, _) => format!(
            "specific mode: T={}, {}, {}",
            ta & 0x0F,
            if ta & 0x80 == 0 {
                "can change to negotiable mode"
            } else {
                "cannot change mode"
            },
            if ta & 0x10 != 0 {
                "implicit parameters"
            } else {
                "parameters from TA1"
            }
        ),
        (_, 1) => format!("T=1 IFSC {ta}"),
        (_, 15) => {
            let clock = match ta >> 6 {
                0 => "clock stop not supported",
                1 => "clock stop in state L",
                2 => "clock stop in state H",
                _ => "clock stop, no preference",
            };
            let mut classes = Vec::new();
            for (bit, name) in [(0x1, "A (5 V)"), (0x2, "B (3 V)"), (0x4, "C (1.8 V)")] {
                if ta & bit != 0 {
                    classes.push(name);
                }
            }
            format!(
                "{clock}; classes {}",
                if classes.is_empty() {
                    "none".to_owned()
                } else {
                    classes.join(", ")
                }
            )
        }
        (_, t) => format!("T={t} specific"),
    }
}

fn describe_tb(g: &InterfaceGroup, tb: u8) -> String {
    match (g.index, g.protocol) {
        (1, _) | (2, 0) => "programming voltage (deprecated; ignored)".to_owned(),
        (_, 1) => format!("T=1 BWI {} CWI {}", tb >> 4, tb & 0x0F),
        (_, 15) => format!("SPU {tb:02X}"),
        (_, t) => format!("T={t} specific"),
    }
}

fn describe_tc(g: &InterfaceGroup, tc: u8) -> String {
    match (g.index, g.protocol) {
        (1, _) => format!("extra guard time N={tc}"),
        (2, 0) => format!("T=0 waiting time integer WI={tc}"),
        (_, 1) => format!(
            "T=1 error detection {}",
            if tc & 0x01 != 0 { "CRC" } else { "LRC" }
        ),
        (_, t) => format!("T={t} specific"),
    }
}

/// Historical bytes as hex, with their category indicator and, when printable, as ASCII.
pub fn describe_historical(hist: &[u8]) -> String {
    if hist.is_empty() {
        return "none".to_owned();
    }
    let mut out = hex::encode_upper(hist);
    let category = match hist[0] {
        0x00 => " (category 00: compact-TLV, status indicator in the last 3 bytes)",
        0x10 => " (category 10: DIR data reference)",
        0x80 => " (category 80: compact-TLV objects)",
        0x81..=0x8F => " (category RFU)",
        _ => " (proprietary)",
    };
    out.push_str(category);
    if hist.iter().all(|b| (0x20..0x7F).contains(b)) {
        out.push_str(&format!(" \"{}\"", String::from_utf8_lossy(hist)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atr(hex: &str) -> Result<Atr, AtrError> {
        Atr::parse(&sam::parse_hex(hex).unwrap())
    }

    #[test]
    fn virtual_card_atr() {
        // The jCardSim cards behind vpcd: 3B 8A 80 01 "EPURSE-P10" TCK.
        let a = atr("3B 8A 80 01 45 50 55 52 53 45 2D 50 31 30 73").unwrap();
        assert_eq!(a.convention, Convention::Direct);
        assert_eq!(a.t0, 0x8A);
        assert_eq!(a.groups.len(), 2);
        assert_eq!(a.groups[0].td, Some(0x80));
        assert_eq!(a.groups[1].td, Some(0x01));
        assert_eq!(a.groups[1].protocol, 0);
        assert_eq!(a.protocols(), vec![0, 1]);
        assert_eq!(a.historical, b"EPURSE-P10");
        assert_eq!(
            a.tck,
            Some(Tck {
                value: 0x73,
                expected: 0x73,
                valid: true
            })
        );
        assert_eq!(a.fi_di_codes(), (1, 1));
        let text = a.describe().join("\n");
        assert!(text.contains("\"EPURSE-P10\""), "{text}");
        assert!(text.contains("TCK       73  valid"), "{text}");
    }

    #[test]
    fn jcop_t1_atr() {
        let a = atr("3B FA 13 00 00 81 31 FE 45 4A 43 4F 50 34 31 56 32 32 31 96").unwrap();
        let g1 = a.group(1).unwrap();
        assert_eq!(
            (g1.ta, g1.tb, g1.tc, g1.td),
            (Some(0x13), Some(0), Some(0), Some(0x81))
        );
        assert_eq!(a.fi_di_codes(), (1, 3));
        assert_eq!(fi_from_code(1).unwrap().0, 372);
        assert_eq!(di_from_code(3), Some(4));
        assert_eq!(a.protocols(), vec![1]);
        assert_eq!(a.t1_parameters(), Some((0xFE, 4, 5, false)));
        assert_eq!(a.historical, b"JCOP41V221");
        assert!(a.tck.unwrap().valid);
        let text = a.describe().join("\n");
        assert!(text.contains("TA3       FE  T=1 IFSC 254"), "{text}");
        assert!(text.contains("TB3       45  T=1 BWI 4 CWI 5"), "{text}");
        assert!(text.contains("Fi=372 (f max 5 MHz), Di=4"), "{text}");
    }

    #[test]
    fn acos3_t0_atr_has_no_tck() {
        // ACOS3: TA1 TB1 TD1 (T=0), 14 historical bytes, no TCK.
        let a = atr("3B BE 11 00 00 41 01 38 00 00 00 00 00 00 00 00 01 90 00").unwrap();
        assert_eq!(a.protocols(), vec![0]);
        assert_eq!(a.tck, None);
        assert_eq!(a.historical.len(), 14);
        assert_eq!(a.group(1).unwrap().ta, Some(0x11));
        assert!(a
            .describe()
            .join("\n")
            .contains("absent (only T=0 indicated)"));
    }

    #[test]
    fn t0_only_without_interface_bytes() {
        let a = atr("3B 02 14 50").unwrap();
        assert!(a.groups.is_empty());
        assert_eq!(a.protocols(), vec![0]);
        assert_eq!(a.historical, [0x14, 0x50]);
        assert_eq!(a.tck, None);
        assert_eq!(a.t0_wi(), 10);
    }

    #[test]
    fn t15_global_bytes_and_inverse_convention() {
        // TD1 = 80 (T=0, TD2 follows), TD2 = 1F (T=15, TA3 follows), TA3 = C7: clock stop no
        // preference, classes A B C; no historical bytes; TCK required (T=15 indicated).
        let body = [0x80u8, 0x80, 0x1F, 0xC7];
        let tck = body.iter().fold(0, |a, b| a ^ b);
        let mut bytes = vec![0x3F];
        bytes.extend(body);
        bytes.push(tck);
        let a = Atr::parse(&bytes).unwrap();
        assert_eq!(a.convention, Convention::Inverse);
        assert_eq!(a.protocols(), vec![0]);
        assert_eq!(a.t15_parameters(), Some((3, 0x07)));
        assert!(a.tck.unwrap().valid);
        assert!(a
            .describe()
            .join("\n")
            .contains("classes A (5 V), B (3 V), C (1.8 V)"));
    }

    #[test]
    fn corrupt_tck_is_reported_not_refused() {
        let a = atr("3B 8A 80 01 45 50 55 52 53 45 2D 50 31 30 74").unwrap();
        let t = a.tck.unwrap();
        assert!(!t.valid);
        assert_eq!((t.value, t.expected), (0x74, 0x73));
        assert!(a.describe().join("\n").contains("WRONG: should be 73"));
    }

    #[test]
    fn malformed_atrs() {
        assert_eq!(atr(""), Err(AtrError::Empty));
        assert_eq!(atr("3C 00"), Err(AtrError::BadTs(0x3C)));
        assert!(matches!(
            atr("3B"),
            Err(AtrError::Truncated { what: "T0", .. })
        ));
        // TD1 announced but missing.
        assert!(matches!(
            atr("3B 80"),
            Err(AtrError::Truncated { what: "TD", .. })
        ));
        // Historical bytes short.
        assert!(matches!(
            atr("3B 8A 80 01 45 50"),
            Err(AtrError::Truncated {
                what: "historical bytes",
                ..
            })
        ));
        // TCK missing although T=1 is indicated.
        assert!(matches!(
            atr("3B 8A 80 01 45 50 55 52 53 45 2D 50 31 30"),
            Err(AtrError::Truncated { what: "TCK", .. })
        ));
        assert_eq!(
            atr("3B 02 14 50 00"),
            Err(AtrError::TrailingBytes { len: 4, extra: 1 })
        );
        assert_eq!(atr(&"3B ".repeat(34)), Err(AtrError::TooLong(34)));
    }

    #[test]
    fn tables() {
        assert_eq!(fi_from_code(0x9), Some((512, 5.0)));
        assert_eq!(fi_from_code(0x7), None);
        assert_eq!(di_from_code(0x8), Some(12));
        assert_eq!(di_from_code(0x0), None);
    }

    #[test]
    fn random_input_never_panics() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 36) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push(x as u8);
            }
            if let Some(b) = bytes.first_mut() {
                *b = if x & 1 == 0 { 0x3B } else { 0x3F };
            }
            if let Ok(a) = Atr::parse(&bytes) {
                let _ = a.describe();
                let _ = a.t1_parameters();
            }
        }
    }
}
