//! Money at the edge: the installation's currency and the strict text form of amounts
//! (`"500.00"`). Inside the back office every amount is an `i64` of minor units (paise for
//! INR); no floating point is used anywhere, and text is parsed digit by digit.

use core::fmt;

use thiserror::Error;

/// Minor units of the installation currency (paise for INR). Ledger balances are signed:
/// the cash account is negative by the total deposited.
pub type MinorUnits = i64;

/// Why a currency or an amount text was refused. Messages say what form is expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The currency code is not three upper-case letters.
    #[error("currency code {0:?} must be three upper-case letters (ISO 4217), e.g. INR")]
    BadCurrencyCode(String),
    /// More decimals than the ledger supports.
    #[error("a currency has 0 to 4 decimals, not {0}")]
    BadDecimals(u8),
    /// Not of the form `DIGITS[.DIGITS]`.
    #[error("amount {text:?} is not a plain decimal number: write it like {example} (digits, one '.', no sign, spaces, commas or exponents)")]
    Malformed {
        /// The text given.
        text: String,
        /// A well-formed example in this currency.
        example: String,
    },
    /// More fraction digits than the currency has.
    #[error("amount {text:?} has more than {decimals} decimals for {code}")]
    TooManyDecimals {
        /// The text given.
        text: String,
        /// The currency's decimals.
        decimals: u8,
        /// The currency code.
        code: String,
    },
    /// Too large for the ledger.
    #[error("amount {text:?} is too large")]
    TooLarge {
        /// The text given.
        text: String,
    },
}

/// The one currency of an installation: an ISO 4217 code and its number of decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    decimals: u8,
}

impl Default for Currency {
    /// INR, two decimals.
    fn default() -> Self {
        Currency::INR
    }
}

impl Currency {
    /// Indian rupee, 2 decimals (the default).
    pub const INR: Currency = Currency {
        code: *b"INR",
        decimals: 2,
    };

    /// A currency from its code and decimals (0..=4).
    pub fn new(code: &str, decimals: u8) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = code
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::BadCurrencyCode(code.to_owned()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::BadCurrencyCode(code.to_owned()));
        }
        if decimals > 4 {
            return Err(MoneyError::BadDecimals(decimals));
        }
        Ok(Currency {
            code: bytes,
            decimals,
        })
    }

    /// The ISO 4217 code, e.g. `"INR"`.
    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        core::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of decimals (2 for INR).
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    fn scale(&self) -> i64 {
        10i64.pow(u32::from(self.decimals))
    }

    fn example(&self) -> String {
        self.format(500 * self.scale())
    }

    /// Parses a non-negative amount: digits, optionally `.` and 1..=decimals digits
    /// (`"500"`, `"500.5"`, `"500.00"`). Refused: signs, spaces, commas, exponents, a leading
    /// or trailing `.`, superfluous leading zeros (`"0500"`), too many decimals, overflow.
    pub fn parse(&self, text: &str) -> Result<MinorUnits, MoneyError> {
        let malformed = || MoneyError::Malformed {
            text: text.to_owned(),
            example: self.example(),
        };
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || (int_part.len() > 1 && int_part.starts_with('0')) {
            return Err(malformed());
        }
        let too_large = || MoneyError::TooLarge {
            text: text.to_owned(),
        };
        let mut units: i64 = 0;
        for b in int_part.bytes() {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i64::from(b - b'0')))
                .ok_or_else(too_large)?;
        }
        units = units.checked_mul(self.scale()).ok_or_else(too_large)?;
        if let Some(frac) = frac_part {
            if !all_digits(frac) {
                return Err(malformed());
            }
            if frac.len() > usize::from(self.decimals) {
                return Err(MoneyError::TooManyDecimals {
                    text: text.to_owned(),
                    decimals: self.decimals,
                    code: self.code().to_owned(),
                });
            }
            let mut frac_units: i64 = 0;
            for b in frac.bytes() {
                frac_units = frac_units * 10 + i64::from(b - b'0');
            }
            for _ in frac.len()..usize::from(self.decimals) {
                frac_units *= 10;
            }
            units = units.checked_add(frac_units).ok_or_else(too_large)?;
        }
        Ok(units)
    }

    /// Formats minor units with exactly `decimals` decimals: `50000` → `"500.00"`,
    /// `-5` → `"-0.05"`.
    pub fn format(&self, units: MinorUnits) -> String {
        let sign = if units < 0 { "-" } else { "" };
        let magnitude = units.unsigned_abs();
        if self.decimals == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = self.scale().unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = usize::from(self.decimals)
        )
    }

    /// Formats with the code: `"500.00 INR"`.
    pub fn display(&self, units: MinorUnits) -> String {
        format!("{} {}", self.format(units), self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_strict_form() {
        let inr = Currency::INR;
        assert_eq!(inr.parse("500.00"), Ok(50_000));
        assert_eq!(inr.parse("500"), Ok(50_000));
        assert_eq!(inr.parse("500.5"), Ok(50_050));
        assert_eq!(inr.parse("0.01"), Ok(1));
        assert_eq!(inr.parse("0"), Ok(0));
        assert_eq!(inr.parse("21474836.47"), Ok(0x7FFF_FFFF));
        for bad in [
            "", ".", "5.", ".5", "-1", "+1", " 1", "1 ", "1,000", "1e3", "0500", "1.2.3", "١٢",
            "NaN", "1.-5",
        ] {
            assert!(
                matches!(inr.parse(bad), Err(MoneyError::Malformed { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            inr.parse("1.005"),
            Err(MoneyError::TooManyDecimals { decimals: 2, .. })
        ));
        assert!(matches!(
            inr.parse("92233720368547758.08"),
            Err(MoneyError::TooLarge { .. })
        ));
        assert!(matches!(
            inr.parse("99999999999999999999"),
            Err(MoneyError::TooLarge { .. })
        ));
        let message = inr.parse("5,00").unwrap_err().to_string();
        assert!(message.contains("500.00"), "{message}");
    }

    #[test]
    fn formats_exactly() {
        let inr = Currency::INR;
        assert_eq!(inr.format(50_000), "500.00");
        assert_eq!(inr.format(5), "0.05");
        assert_eq!(inr.format(-5), "-0.05");
        assert_eq!(inr.format(0), "0.00");
        assert_eq!(inr.format(i64::MIN), "-92233720368547758.08");
        assert_eq!(inr.display(123_456), "1234.56 INR");
        let jpy = Currency::new("JPY", 0).unwrap();
        assert_eq!(jpy.format(-1500), "-1500");
        assert_eq!(jpy.parse("1500"), Ok(1500));
        assert!(jpy.parse("1500.0").is_err());
        let kwd = Currency::new("KWD", 3).unwrap();
        assert_eq!(kwd.format(1), "0.001");
        assert_eq!(kwd.parse("2.5"), Ok(2_500));
        for units in [0, 1, 99, 100, 12_345, 0x7FFF_FFFF] {
            assert_eq!(inr.parse(&inr.format(units)), Ok(units));
        }
    }

    #[test]
    fn currency_validation() {
        assert_eq!(Currency::default(), Currency::INR);
        assert_eq!(Currency::INR.code(), "INR");
        assert!(Currency::new("inr", 2).is_err());
        assert!(Currency::new("RUPEE", 2).is_err());
        assert!(Currency::new("EUR", 5).is_err());
        assert_eq!(Currency::new("EUR", 2).unwrap().to_string(), "EUR");
    }
}
