//! BCD values of the contract (SPEC.md "Conventions", 2.5, 2.7): [`Date`] (4 bytes
//! `YYYY MM DD`), [`DateTime`] (7 bytes `YYYY MM DD hh mm ss`), [`Mcc`] (4 digits in 2 bytes) and
//! the food-purse [`MccAllowlist`].
//!
//! Validation is exactly what the card applies before answering `6A80`: every nibble a decimal
//! digit, month 1..12, day 1..the last day of that month (Gregorian leap years: `2028-02-29`
//! passes, `2026-02-30` and `2100-02-29` do not), hour < 24, minute and second < 60; host and
//! card accept exactly the same dates. `00 00 00 00` is "no date" and is modelled as
//! `Option<Date>::None`, never as a `Date`.

use core::fmt;
use core::str::FromStr;

use crate::bytes::Reader;
use crate::error::{ensure, Result, SpecError};

/// Two decimal digits from one BCD byte.
fn from_bcd(byte: u8, field: &'static str) -> Result<u8> {
    let (hi, lo) = (byte >> 4, byte & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(SpecError::BadBcd { field });
    }
    Ok(hi * 10 + lo)
}

/// One BCD byte from a value below 100.
fn to_bcd(value: u8) -> u8 {
    ((value / 10 % 10) << 4) | (value % 10)
}

/// Digits of a fixed-width decimal text field.
fn digits(text: &[u8], what: &'static str) -> Result<u16> {
    text.iter().try_fold(0u16, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u16::from(c - b'0'))
        } else {
            Err(SpecError::BadText {
                what,
                reason: "expected a decimal digit",
            })
        }
    })
}

/// A calendar date, `DATE` on the wire (4 bytes BCD `YYYY MM DD`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Days in `month` (1..=12) of `year`, Gregorian: leap years are divisible by 4, and not by 100
/// unless by 400.
// `%` rather than `is_multiple_of`: the workspace's rust-version is 1.75.
#[allow(clippy::manual_is_multiple_of)]
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

impl Date {
    /// Wire size.
    pub const LEN: usize = 4;

    /// A date, checked as the card checks it: year 0..=9999, month 1..12, day 1..the last day
    /// of that month (Gregorian leap years).
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self> {
        ensure(year <= 9999, "year", year, "above 9999")?;
        ensure((1..=12).contains(&month), "month", month, "not 1..12")?;
        ensure(
            day >= 1 && day <= days_in_month(year, month),
            "day",
            day,
            "not a day of that month",
        )?;
        Ok(Self { year, month, day })
    }

    /// Year (0..=9999).
    pub fn year(&self) -> u16 {
        self.year
    }

    /// Month (1..=12).
    pub fn month(&self) -> u8 {
        self.month
    }

    /// Day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// From the 4 BCD bytes; `00 00 00 00` is refused (use [`Date::parse_optional`] where
    /// "no date" is allowed).
    pub fn from_bcd(bytes: [u8; 4]) -> Result<Self> {
        let [y1, y2, m, d] = bytes;
        let year = u16::from(from_bcd(y1, "year")?) * 100 + u16::from(from_bcd(y2, "year")?);
        Self::new(year, from_bcd(m, "month")?, from_bcd(d, "day")?)
    }

    /// The 4 BCD bytes.
    pub fn to_bcd(&self) -> [u8; 4] {
        // year <= 9999, so both halves are below 100.
        let (hi, lo) = ((self.year / 100) as u8, (self.year % 100) as u8);
        [to_bcd(hi), to_bcd(lo), to_bcd(self.month), to_bcd(self.day)]
    }

    /// From a 4-byte slice.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::from_bcd(Reader::exact(bytes, Self::LEN, "DATE")?.array()?)
    }

    /// A DATE field where `00 00 00 00` means "no date" (expiry fields).
    pub fn parse_optional(bytes: [u8; 4]) -> Result<Option<Self>> {
        if bytes == [0; 4] {
            Ok(None)
        } else {
            Self::from_bcd(bytes).map(Some)
        }
    }

    /// Wire form of an optional DATE: `00 00 00 00` for `None`.
    pub fn optional_to_bcd(date: Option<Date>) -> [u8; 4] {
        date.map_or([0; 4], |d| d.to_bcd())
    }
}

impl FromStr for Date {
    type Err = SpecError;

    /// `YYYY-MM-DD`, e.g. `2026-11-23`.
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "date (YYYY-MM-DD)";
        let t = s.as_bytes();
        match t {
            [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => Self::new(
                digits(y, WHAT)?,
                digits(&[*m1, *m2], WHAT)? as u8,
                digits(&[*d1, *d2], WHAT)? as u8,
            ),
            _ => Err(SpecError::BadText {
                what: WHAT,
                reason: "expected YYYY-MM-DD",
            }),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

/// A date and time, `DATETIME` on the wire (7 bytes BCD `YYYY MM DD hh mm ss`).
///
/// Orders chronologically (date first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// Wire size.
    pub const LEN: usize = 7;

    /// A date-time, checked: hour < 24, minute < 60, second < 60.
    pub fn new(date: Date, hour: u8, minute: u8, second: u8) -> Result<Self> {
        ensure(hour <= 23, "hour", hour, "not 0..23")?;
        ensure(minute <= 59, "minute", minute, "not 0..59")?;
        ensure(second <= 59, "second", second, "not 0..59")?;
        Ok(Self {
            date,
            hour,
            minute,
            second,
        })
    }

    /// The date part (compared with a food purse's expiry, SPEC 2.7).
    pub fn date(&self) -> Date {
        self.date
    }

    /// Hour (0..=23).
    pub fn hour(&self) -> u8 {
        self.hour
    }

    /// Minute (0..=59).
    pub fn minute(&self) -> u8 {
        self.minute
    }

    /// Second (0..=59).
    pub fn second(&self) -> u8 {
        self.second
    }

    /// From the 7 BCD bytes.
    pub fn from_bcd(bytes: [u8; 7]) -> Result<Self> {
        let [y1, y2, mo, d, h, mi, s] = bytes;
        let date = Date::from_bcd([y1, y2, mo, d])?;
        Self::new(
            date,
            from_bcd(h, "hour")?,
            from_bcd(mi, "minute")?,
            from_bcd(s, "second")?,
        )
    }

    /// The 7 BCD bytes.
    pub fn to_bcd(&self) -> [u8; 7] {
        let [y1, y2, mo, d] = self.date.to_bcd();
        [
            y1,
            y2,
            mo,
            d,
            to_bcd(self.hour),
            to_bcd(self.minute),
            to_bcd(self.second),
        ]
    }

    /// From a 7-byte slice.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::from_bcd(Reader::exact(bytes, Self::LEN, "DATETIME")?.array()?)
    }
}

impl FromStr for DateTime {
    type Err = SpecError;

    /// `YYYY-MM-DDThh:mm:ss`, e.g. `2026-11-23T14:30:00`.
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "date-time (YYYY-MM-DDThh:mm:ss)";
        let t = s.as_bytes();
        match t {
            [d @ .., b'T', h1, h2, b':', m1, m2, b':', s1, s2] => {
                let date_text = core::str::from_utf8(d).map_err(|_| SpecError::BadText {
                    what: WHAT,
                    reason: "not ASCII",
                })?;
                Self::new(
                    date_text.parse()?,
                    digits(&[*h1, *h2], WHAT)? as u8,
                    digits(&[*m1, *m2], WHAT)? as u8,
                    digits(&[*s1, *s2], WHAT)? as u8,
                )
            }
            _ => Err(SpecError::BadText {
                what: WHAT,
                reason: "expected YYYY-MM-DDThh:mm:ss",
            }),
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}T{:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DateTime({self})")
    }
}

/// A merchant category code: 4 BCD digits in 2 bytes. `0000` stands for "none" in records of
/// loads and in unused allowlist slots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mcc(u16);

impl Mcc {
    /// `00 00`: no merchant category.
    pub const NONE: Mcc = Mcc(0);

    /// An MCC from its numeric value (0..=9999).
    pub fn new(code: u16) -> Result<Self> {
        ensure(code <= 9999, "MCC", code, "above 9999")?;
        Ok(Self(code))
    }

    /// The numeric value, e.g. 5411.
    pub fn code(&self) -> u16 {
        self.0
    }

    /// From the 2 BCD bytes.
    pub fn from_bcd(bytes: [u8; 2]) -> Result<Self> {
        let [hi, lo] = bytes;
        Ok(Self(
            u16::from(from_bcd(hi, "MCC")?) * 100 + u16::from(from_bcd(lo, "MCC")?),
        ))
    }

    /// The 2 BCD bytes.
    pub fn to_bcd(&self) -> [u8; 2] {
        [to_bcd((self.0 / 100) as u8), to_bcd((self.0 % 100) as u8)]
    }
}

impl FromStr for Mcc {
    type Err = SpecError;

    /// Exactly 4 decimal digits, e.g. `5411`.
    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 4 {
            return Err(SpecError::BadText {
                what: "MCC",
                reason: "expected 4 digits",
            });
        }
        Self::new(digits(s.as_bytes(), "MCC")?)
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl fmt::Debug for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mcc({self})")
    }
}

/// The food purse's merchant-category allowlist: a count (0..=8) then 8 slots of 2 BCD bytes
/// (17 bytes; GET STATUS offset 56, personalisation data offset 107).
///
/// [`MccAllowlist::new`] builds the canonical form (unused slots `00 00`). Parsing accepts what
/// the card accepts — the count checked, the slots kept as they are — so GET STATUS of any
/// personalised card parses and re-serialises exactly.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MccAllowlist {
    count: u8,
    slots: [[u8; 2]; 8],
}

impl MccAllowlist {
    /// Wire size: count + 8 slots.
    pub const LEN: usize = 17;
    /// Number of slots.
    pub const SLOTS: usize = 8;

    /// An allowlist of at most 8 categories, unused slots `00 00`.
    pub fn new(mccs: &[Mcc]) -> Result<Self> {
        if mccs.len() > Self::SLOTS {
            return Err(SpecError::LengthOutOfRange {
                what: "MCC allowlist",
                min: 0,
                max: Self::SLOTS,
                got: mccs.len(),
            });
        }
        let mut slots = [[0u8; 2]; 8];
        for (slot, mcc) in slots.iter_mut().zip(mccs) {
            *slot = mcc.to_bcd();
        }
        Ok(Self {
            count: mccs.len() as u8,
            slots,
        })
    }

    /// Number of categories in use (0..=8).
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// The slots in use, raw.
    fn used(&self) -> impl Iterator<Item = &[u8; 2]> {
        self.slots.iter().take(self.count())
    }

    /// The allowed categories in slot order. A used slot that is not BCD can never match a
    /// purchase (DEBIT PURCHASE refuses such an MCC first) and is left out.
    pub fn allowed(&self) -> Vec<Mcc> {
        self.used()
            .filter_map(|raw| Mcc::from_bcd(*raw).ok())
            .collect()
    }

    /// Whether a food purchase at `mcc` is allowed (the card's comparison).
    pub fn contains(&self, mcc: Mcc) -> bool {
        self.used().any(|raw| *raw == mcc.to_bcd())
    }

    /// Whether the list is in the form [`MccAllowlist::new`] builds: used slots BCD, unused
    /// slots `00 00`.
    pub fn is_canonical(&self) -> bool {
        self.slots.iter().enumerate().all(|(i, raw)| {
            if i < self.count() {
                Mcc::from_bcd(*raw).is_ok()
            } else {
                *raw == [0, 0]
            }
        })
    }

    /// The 17 wire bytes.
    pub fn to_bytes(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        let bytes = core::iter::once(self.count).chain(self.slots.iter().flatten().copied());
        for (slot, b) in out.iter_mut().zip(bytes) {
            *slot = b;
        }
        out
    }

    /// From the 17 wire bytes: the count must be 0..=8 (as on the card); slots are kept raw.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "MCC allowlist")?;
        let count = r.u8()?;
        ensure(
            usize::from(count) <= Self::SLOTS,
            "number of food MCCs",
            count,
            "not 0..8",
        )?;
        let mut slots = [[0u8; 2]; 8];
        for slot in slots.iter_mut() {
            *slot = r.array()?;
        }
        Ok(Self { count, slots })
    }
}

impl fmt::Debug for MccAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for raw in self.used() {
            match Mcc::from_bcd(*raw) {
                Ok(mcc) => list.entry(&format_args!("{mcc}")),
                Err(_) => list.entry(&format_args!("{:02X}{:02X}?", raw[0], raw[1])),
            };
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bcd_round_trip_and_text() {
        let d: Date = "2026-11-23".parse().unwrap();
        assert_eq!(d.to_bcd(), [0x20, 0x26, 0x11, 0x23]);
        assert_eq!(Date::from_bcd([0x20, 0x26, 0x11, 0x23]).unwrap(), d);
        assert_eq!(d.to_string(), "2026-11-23");
        assert_eq!(Date::parse(&[0x20, 0x26, 0x11, 0x23]).unwrap(), d);
    }

    #[test]
    fn date_validation() {
        assert!(Date::from_bcd([0x20, 0x26, 0x13, 0x01]).is_err()); // month 13
        assert!(Date::from_bcd([0x20, 0x26, 0x00, 0x01]).is_err()); // month 0
        assert!(Date::from_bcd([0x20, 0x26, 0x01, 0x00]).is_err()); // day 0
        assert!(Date::from_bcd([0x20, 0x26, 0x01, 0x32]).is_err()); // day 32
                                                                    // the calendar, as on the card (PurseAppletTest, CryptoTest)
        assert!(Date::from_bcd([0x20, 0x26, 0x04, 0x31]).is_err());
        assert!(Date::from_bcd([0x20, 0x26, 0x02, 0x30]).is_err());
        assert!(Date::from_bcd([0x20, 0x27, 0x02, 0x29]).is_err());
        assert!(Date::from_bcd([0x20, 0x28, 0x02, 0x29]).is_ok());
        assert!(Date::from_bcd([0x20, 0x00, 0x02, 0x29]).is_ok());
        assert!(Date::from_bcd([0x21, 0x00, 0x02, 0x29]).is_err());
        assert!(Date::from_bcd([0x20, 0x26, 0x12, 0x31]).is_ok());
        assert_eq!(
            Date::from_bcd([0x20, 0x2A, 0x01, 0x01]),
            Err(SpecError::BadBcd { field: "year" })
        );
        assert!(Date::from_bcd([0; 4]).is_err());
        assert_eq!(Date::parse_optional([0; 4]), Ok(None));
        assert_eq!(Date::optional_to_bcd(None), [0; 4]);
        assert!(Date::parse(&[0x20, 0x26, 0x11]).is_err());
        assert!(Date::parse(&[0x20, 0x26, 0x11, 0x23, 0]).is_err());
        for bad in [
            "2026-1-23",
            "2026/11/23",
            "20261123",
            "2026-11-2x",
            "",
            "2026-11-23 ",
            "２０２６-11-23",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn datetime_bcd_round_trip_and_validation() {
        let dt: DateTime = "2026-11-23T14:30:00".parse().unwrap();
        assert_eq!(dt.to_bcd(), [0x20, 0x26, 0x11, 0x23, 0x14, 0x30, 0x00]);
        assert_eq!(DateTime::parse(&dt.to_bcd()).unwrap(), dt);
        assert_eq!(dt.to_string(), "2026-11-23T14:30:00");
        assert!(DateTime::from_bcd([0x20, 0x26, 0x11, 0x23, 0x24, 0, 0]).is_err());
        assert!(DateTime::from_bcd([0x20, 0x26, 0x11, 0x23, 0x23, 0x60, 0]).is_err());
        assert!(DateTime::from_bcd([0x20, 0x26, 0x11, 0x23, 0x23, 0x59, 0x60]).is_err());
        assert!(DateTime::from_bcd([0x20, 0x26, 0x11, 0x23, 0x1A, 0, 0]).is_err());
        assert!(DateTime::from_bcd([0x20, 0x26, 0x11, 0x23, 0x23, 0x59, 0x59]).is_ok());
        assert!("2026-11-23 14:30:00".parse::<DateTime>().is_err());
        assert!("2026-11-23T14:30".parse::<DateTime>().is_err());
        let earlier: DateTime = "2026-11-22T23:59:59".parse().unwrap();
        assert!(earlier < dt);
    }

    #[test]
    fn mcc_and_allowlist() {
        let m: Mcc = "5411".parse().unwrap();
        assert_eq!(m.to_bcd(), [0x54, 0x11]);
        assert_eq!(Mcc::from_bcd([0x54, 0x11]).unwrap(), m);
        assert!(Mcc::from_bcd([0x54, 0x1A]).is_err());
        assert!("541".parse::<Mcc>().is_err());
        assert!(Mcc::new(10_000).is_err());

        let list = MccAllowlist::new(&[m, Mcc::new(5812).unwrap()]).unwrap();
        let bytes = list.to_bytes();
        assert_eq!(&bytes[..5], &[0x02, 0x54, 0x11, 0x58, 0x12]);
        assert!(bytes[5..].iter().all(|&b| b == 0));
        assert_eq!(MccAllowlist::parse(&bytes).unwrap(), list);
        assert!(list.contains(m) && !list.contains(Mcc::NONE));
        assert!(list.is_canonical());
        assert_eq!(list.allowed(), [m, Mcc::new(5812).unwrap()]);
        assert_eq!(format!("{list:?}"), "[5411, 5812]");

        let mut too_many = bytes;
        too_many[0] = 9;
        assert!(MccAllowlist::parse(&too_many).is_err());
        // raw slots are kept: an unused slot that is not 00 00, a used slot that is not BCD
        let mut dirty = bytes;
        dirty[16] = 1;
        dirty[3] = 0xFF;
        let parsed = MccAllowlist::parse(&dirty).unwrap();
        assert_eq!(parsed.to_bytes(), dirty);
        assert!(!parsed.is_canonical());
        assert_eq!(parsed.allowed(), [m]);
        assert_eq!(parsed.count(), 2);
        assert!(MccAllowlist::new(&[m; 9]).is_err());
    }
}
