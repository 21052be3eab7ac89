//! Time for the back office: the `DATETIME` it puts into CREDIT LOAD (and so into the card's
//! transaction record) and the timestamps of ledger rows. A [`Clock`] is injected so that tests
//! run at a fixed time. Time never decides the fate of a pending load (DESIGN: no timeout ever
//! releases funds); it only labels events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use apdu_spec::{Date, DateTime};

/// A source of the current time, as Unix seconds (UTC).
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock before 1970 is misconfigured; label events with the epoch.
            Err(_) => 0,
        }
    }
}

/// A clock that says what it is told (tests, replays).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock stopped at `unix` seconds.
    pub fn new(unix: i64) -> Self {
        FixedClock(AtomicI64::new(unix))
    }

    /// Sets the time.
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The civil date of a day count since 1970-01-01 (proleptic Gregorian calendar), as
/// `(year, month, day)`. Exact for every `i64` day count whose year fits `i64`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u8, u8) {
    // Shift the epoch to 0000-03-01 so that the leap day is the last day of a "year", then
    // split into 400-year eras of 146 097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The contract `DATETIME` of a Unix time seen at `utc_offset_minutes` from UTC (India: +330).
/// `None` outside the years 0..=9999 that `DATETIME` can carry.
pub fn datetime_at(unix: i64, utc_offset_minutes: i32) -> Option<DateTime> {
    let local = unix.checked_add(i64::from(utc_offset_minutes) * 60)?;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let date = Date::new(u16::try_from(year).ok()?, month, day).ok()?;
    DateTime::new(
        date,
        (secs / 3_600) as u8,
        (secs % 3_600 / 60) as u8,
        (secs % 60) as u8,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(20_527), (2026, 3, 15));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn contract_datetimes() {
        // 2026-03-15T10:30:00Z
        let t = 1_773_570_600;
        assert_eq!(
            datetime_at(t, 0).unwrap(),
            "2026-03-15T10:30:00".parse().unwrap()
        );
        assert_eq!(
            datetime_at(t, 330).unwrap(),
            "2026-03-15T16:00:00".parse().unwrap()
        );
        assert_eq!(
            datetime_at(t - 37_800, -60).unwrap(),
            "2026-03-14T23:00:00".parse().unwrap()
        );
        assert!(datetime_at(i64::MAX, 0).is_none());
        assert!(datetime_at(-62_200_000_000, 0).is_none()); // before year 0
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(100);
        assert_eq!(clock.now_unix(), 100);
        clock.advance(5);
        assert_eq!(clock.now_unix(), 105);
        clock.set(7);
        assert_eq!(clock.now_unix(), 7);
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
