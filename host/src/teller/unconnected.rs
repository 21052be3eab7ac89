//! Unconnected mode (SPEC 1.8, 2.12; `docs/unconnected.md`): the teller reserves a load and
//! reads out an authorisation code, the cardholder types it into a pocket reader that is
//! connected to nothing, the card loads itself and shows a confirmation code, and the cardholder
//! reads that back to the teller.
//!
//! - [`TypedCode`]: the 9-digit code people type and read aloud: the card's 8-digit
//!   `code8` value and a Damm check digit, grouped `123 456 789`. Parsing ignores spaces and
//!   dashes and catches every single-digit error and every adjacent transposition *before*
//!   anything reaches the card, so a typo never costs the cardholder one of the card's tries.
//! - [`begin`] / [`confirm`]: the teller's side, over the embedded back office.
//! - [`pocket_load`]: the pocket reader's side: UNCONNECTED LOAD on the card.
//! - [`recover`]: settles unconnected loads of a card presented in a connected reader from its
//!   counters and GET TRANSACTION PROOF (TT `04`).

use core::fmt;

use apdu_spec::{Amount, Applet, Date, DateTime, Purse, RecordType, Serial, StatusWord};
use backoffice::{
    Backoffice, CardEvidence, Currency, IsmError, LoadId, LoadOutcome, MinorUnits, ProofEvidence,
    UnconnectedAuthorisation, UnconnectedRequest, UnconnectedResolution,
};
use thiserror::Error;

use super::{card_refusal, OfficeError, RefusalKind, TellerError};
use crate::card::{CardClient, CardError};
use crate::exchange::ExchangeError;
use crate::transport::Transport;

/// The `code8` values are below this (SPEC 1.8).
pub const CODE8_MODULUS: u32 = 100_000_000;

/// Digits of a typed code: 8 code digits and the check digit.
pub const TYPED_CODE_DIGITS: usize = 9;

/// The Damm quasigroup of order 10 (H. M. Damm, 2004): a weakly totally anti-symmetric
/// quasigroup with zeros on the diagonal, so one check digit catches every single-digit error
/// and every transposition of adjacent digits.
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// The Damm interim digit of `digits` (each 0..=9): the check digit to append, or 0 when the
/// digits already end with a valid check digit.
pub fn damm(digits: &[u8]) -> u8 {
    digits.iter().fold(0u8, |interim, &d| {
        DAMM.get(usize::from(interim))
            .and_then(|row| row.get(usize::from(d)))
            .copied()
            .unwrap_or(u8::MAX)
    })
}

/// Why typed text is not a code. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodeError {
    /// Nothing was typed.
    #[error("no code was typed; type the 9 digits")]
    Empty,
    /// A character other than a digit, a space or a dash.
    #[error("{0:?} is not a digit; type only the 9 digits (spaces and dashes may separate them)")]
    NotADigit(char),
    /// Not 9 digits.
    #[error("a code has 9 digits, {0} were typed; check the code and type it again")]
    Length(usize),
    /// The check digit does not match: a typing error.
    #[error("the code has a typing error (its check digit does not match); nothing was sent, check the digits and type it again")]
    CheckDigit,
    /// An 8-digit value out of range (not a `code8`).
    #[error("{0} is not an 8-digit code value")]
    OutOfRange(u32),
}

/// A code as people type and read it: `code8` (below 10^8) and its Damm check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypedCode(u32);

impl TypedCode {
    /// The typed form of a `code8` value.
    pub fn new(code8: u32) -> Result<Self, CodeError> {
        if code8 < CODE8_MODULUS {
            Ok(Self(code8))
        } else {
            Err(CodeError::OutOfRange(code8))
        }
    }

    /// The `code8` value (what the card sends and receives).
    pub fn code8(self) -> u32 {
        self.0
    }

    /// The 9 digits: 8 of `code8` (leading zeros kept) then the check digit.
    pub fn digits(self) -> [u8; TYPED_CODE_DIGITS] {
        let mut out = [0u8; TYPED_CODE_DIGITS];
        let mut v = self.0;
        for slot in out.iter_mut().take(8).rev() {
            *slot = (v % 10) as u8;
            v /= 10;
        }
        let (code, check) = out.split_at_mut(8);
        if let Some(c) = check.first_mut() {
            *c = damm(code);
        }
        out
    }

    /// Parses typed text leniently: spaces, dashes and dots between digits are ignored; the
    /// check digit must match.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let mut digits = Vec::with_capacity(TYPED_CODE_DIGITS);
        for c in text.trim().chars() {
            match c {
                ' ' | '-' | '.' | '\t' => {}
                '0'..='9' => digits.push(c as u8 - b'0'),
                other => return Err(CodeError::NotADigit(other)),
            }
        }
        if digits.is_empty() {
            return Err(CodeError::Empty);
        }
        if digits.len() != TYPED_CODE_DIGITS {
            return Err(CodeError::Length(digits.len()));
        }
        if damm(&digits) != 0 {
            return Err(CodeError::CheckDigit);
        }
        let value = digits
            .iter()
            .take(8)
            .fold(0u32, |v, &d| v * 10 + u32::from(d));
        Self::new(value)
    }
}

impl fmt::Display for TypedCode {
    /// `123 456 789`: three groups of three, easy to read aloud.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        for (i, digit) in d.iter().enumerate() {
            if i > 0 && i % 3 == 0 {
                f.write_str(" ")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

impl core::str::FromStr for TypedCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What the teller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnconnectedOrder {
    /// The card (the cardholder says or shows its serial).
    pub serial: Serial,
    /// The purse.
    pub purse: Purse,
    /// Amount in minor units.
    pub amount: MinorUnits,
    /// Food-Voucher expiry.
    pub expiry: Option<Date>,
}

fn office_error(currency: &Currency, e: backoffice::Error) -> TellerError {
    match e {
        backoffice::Error::Ism(IsmError::ConfirmInvalid) => TellerError::refused(
            RefusalKind::MacFailure,
            "the confirmation code does not match this load: check the digits the card shows and type them again; the load stays pending",
        ),
        backoffice::Error::Invalid(msg) => TellerError::Invalid(msg),
        other => TellerError::from_office(currency, OfficeError::Backoffice(other)),
    }
}

/// Reserves the load in the back office and returns the authorisation (its code is
/// [`TypedCode::new`]`(auth.auth_code)`). Asking again for the same pending load gives the same
/// code.
pub fn begin(
    office: &mut Backoffice,
    order: &UnconnectedOrder,
) -> Result<UnconnectedAuthorisation, TellerError> {
    let currency = office.currency();
    office
        .begin_unconnected_load(&UnconnectedRequest {
            serial: order.serial,
            purse: order.purse,
            amount: order.amount,
            expiry: order.expiry,
        })
        .map_err(|e| office_error(&currency, e))
}

/// Completes the load with the code the card showed. A wrong code is a
/// [`RefusalKind::MacFailure`] refusal and the load stays pending.
pub fn confirm(
    office: &mut Backoffice,
    load: LoadId,
    code: TypedCode,
) -> Result<UnconnectedResolution, TellerError> {
    let currency = office.currency();
    office
        .confirm_unconnected_load(load, code.code8())
        .map_err(|e| office_error(&currency, e))
}

/// What the pocket reader sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PocketOrder {
    /// The purse.
    pub purse: Purse,
    /// Amount.
    pub amount: Amount,
    /// Food-Voucher expiry.
    pub expiry: Option<Date>,
    /// The pocket reader's own date and time.
    pub datetime: DateTime,
    /// The code the cardholder typed (check digit already verified).
    pub code: TypedCode,
}

/// What the card answered to UNCONNECTED LOAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PocketOutcome {
    /// Loaded: show the confirmation code to the cardholder.
    Loaded {
        /// The purse balance after the load.
        balance: Amount,
        /// The code to read back to the bank.
        confirm: TypedCode,
    },
    /// Wrong code (`63Cx`): the card counted a try.
    WrongCode {
        /// Tries left; 0 means unconnected loading is now disabled.
        tries_left: u8,
    },
    /// Unconnected loading is disabled on this card (`9408`).
    Disabled,
}

/// The pocket reader: SELECT the purse applet, then UNCONNECTED LOAD. A lost exchange is
/// [`TellerError::Interrupted`]: the card may have loaded (its log says, the bank settles it).
pub fn pocket_load<T: Transport>(
    card: &mut CardClient<T>,
    order: &PocketOrder,
) -> Result<PocketOutcome, TellerError> {
    let selection = card.select(Applet::Purse)?;
    if selection.blocked {
        return Err(TellerError::refused(
            RefusalKind::CardBlocked,
            "the card is blocked; the cardholder must go to the issuer",
        ));
    }
    let command = apdu_spec::UnconnectedLoad {
        purse: order.purse,
        amount: order.amount,
        expiry: order.expiry,
        datetime: order.datetime,
        auth_code: order.code.code8(),
    };
    match card.unconnected_load(&command) {
        Ok(r) => Ok(PocketOutcome::Loaded {
            balance: r.balance,
            confirm: TypedCode::new(r.confirm_code).map_err(|e| TellerError::Invalid(e.to_string()))?,
        }),
        Err(CardError::Status {
            sw: StatusWord::WrongCode { tries_left },
            ..
        }) => Ok(PocketOutcome::WrongCode { tries_left }),
        Err(CardError::Status {
            sw: StatusWord::UnconnectedDisabled,
            ..
        }) => Ok(PocketOutcome::Disabled),
        Err(CardError::Exchange(e @ ExchangeError::OutcomeUnknown { .. })) => {
            Err(TellerError::Interrupted(format!(
                "{e}; the card may have loaded: look at its balance (epurse card info) before typing the code again — a used code is refused"
            )))
        }
        Err(e) => Err(card_refusal(e)),
    }
}

/// One unconnected load settled (or not) by [`recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnconnectedRecovered {
    /// The load.
    pub load_id: LoadId,
    /// The purse.
    pub purse: Purse,
    /// Amount.
    pub amount: MinorUnits,
    /// `CTR`.
    pub counter: u16,
    /// What happened, or why the evidence could not settle it.
    pub outcome: Result<LoadOutcome, String>,
}

/// Settles every unconnected load of the card in the reader still pending in the back office,
/// from GET STATUS and GET TRANSACTION PROOF (TT `04`).
pub fn recover<T: Transport>(
    office: &mut Backoffice,
    card: &mut CardClient<T>,
) -> Result<(Serial, Vec<UnconnectedRecovered>), TellerError> {
    let currency = office.currency();
    card.select(Applet::Purse)?;
    let status = card.purse_status()?;
    let serial = status.serial;
    let pending = office
        .pending_loads(Some(&serial))
        .map_err(|e| office_error(&currency, e))?;
    let mut out = Vec::new();
    for load in pending {
        if !office
            .is_unconnected_load(load.id)
            .map_err(|e| office_error(&currency, e))?
        {
            continue;
        }
        let proof = if status.purse(load.purse).load_counter >= load.counter {
            match card.transaction_proof(load.purse, RecordType::UnconnectedLoad, load.counter)? {
                Some(p) => ProofEvidence::Found(p),
                None => ProofEvidence::NotFound,
            }
        } else {
            ProofEvidence::NotAsked
        };
        let evidence = CardEvidence {
            status: status.clone(),
            proof,
        };
        let outcome = match office.recover_unconnected_load(load.id, &evidence) {
            Ok(r) => Ok(r.outcome),
            Err(backoffice::Error::Evidence(e)) => Err(e.to_string()),
            Err(e) => return Err(office_error(&currency, e)),
        };
        out.push(UnconnectedRecovered {
            load_id: load.id,
            purse: load.purse,
            amount: load.amount,
            counter: load.counter,
            outcome,
        });
    }
    Ok((serial, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> impl Iterator<Item = u32> {
        [
            0u32, 1, 7, 42, 12_345_678, 99_999_999, 50_000_000, 31_415_926,
        ]
        .into_iter()
        .chain((0..200u32).map(|i| i.wrapping_mul(2_654_435_761) % CODE8_MODULUS))
    }

    fn text(d: &[u8]) -> String {
        d.iter().map(|x| char::from(b'0' + x)).collect()
    }

    #[test]
    fn the_damm_digit_of_the_published_example() {
        // Damm's worked example: 572 has check digit 4, and 5724 checks.
        assert_eq!(damm(&[5, 7, 2]), 4);
        assert_eq!(damm(&[5, 7, 2, 4]), 0);
    }

    #[test]
    fn codes_round_trip_through_their_grouped_text() {
        for code in codes() {
            let typed = TypedCode::new(code).unwrap();
            let shown = typed.to_string();
            assert_eq!(shown.len(), 11, "{shown}");
            assert_eq!(TypedCode::parse(&shown).unwrap().code8(), code);
            let dashed = shown.replace(' ', "-");
            assert_eq!(TypedCode::parse(&dashed).unwrap().code8(), code);
            assert_eq!(
                TypedCode::parse(&format!("  {}  ", text(&typed.digits())))
                    .unwrap()
                    .code8(),
                code
            );
        }
        assert_eq!(
            TypedCode::new(42).unwrap().to_string().get(..8),
            Some("000 000 ")
        );
    }

    #[test]
    fn every_single_digit_error_is_caught() {
        for code in codes() {
            let digits = TypedCode::new(code).unwrap().digits();
            for i in 0..TYPED_CODE_DIGITS {
                for wrong in 0..10u8 {
                    if wrong == digits[i] {
                        continue;
                    }
                    let mut typo = digits;
                    typo[i] = wrong;
                    assert_eq!(
                        TypedCode::parse(&text(&typo)),
                        Err(CodeError::CheckDigit),
                        "{} typed as {}",
                        text(&digits),
                        text(&typo)
                    );
                }
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_is_caught() {
        for code in codes() {
            let digits = TypedCode::new(code).unwrap().digits();
            for i in 0..TYPED_CODE_DIGITS - 1 {
                if digits[i] == digits[i + 1] {
                    continue;
                }
                let mut swapped = digits;
                swapped.swap(i, i + 1);
                assert_eq!(
                    TypedCode::parse(&text(&swapped)),
                    Err(CodeError::CheckDigit),
                    "{} typed as {}",
                    text(&digits),
                    text(&swapped)
                );
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_of_every_digit_pair_is_caught() {
        // Exhaustive over the pair of digits (a, b), a ≠ b, at each adjacent position,
        // including the check digit itself; the other digits as in 12 345 678.
        let base = TypedCode::new(12_345_678).unwrap().digits();
        for i in 0..TYPED_CODE_DIGITS - 1 {
            for a in 0..10u8 {
                for b in (0..10u8).filter(|&b| b != a) {
                    let mut valid = base;
                    valid[i] = a;
                    valid[i + 1] = b;
                    if i + 1 < 8 {
                        valid[8] = damm(&valid[..8]);
                    } else if damm(&valid) != 0 {
                        continue; // (a, b) ends in a check digit that does not fit: not a code
                    }
                    assert_eq!(damm(&valid), 0);
                    let mut swapped = valid;
                    swapped.swap(i, i + 1);
                    assert_ne!(damm(&swapped), 0, "{} vs {}", text(&valid), text(&swapped));
                }
            }
        }
    }

    #[test]
    fn malformed_text_says_what_is_wrong() {
        assert_eq!(TypedCode::parse("   "), Err(CodeError::Empty));
        assert_eq!(TypedCode::parse("12345678"), Err(CodeError::Length(8)));
        assert_eq!(TypedCode::parse("1234567890"), Err(CodeError::Length(10)));
        assert_eq!(
            TypedCode::parse("123 45x 789"),
            Err(CodeError::NotADigit('x'))
        );
        assert_eq!(
            TypedCode::new(CODE8_MODULUS),
            Err(CodeError::OutOfRange(CODE8_MODULUS))
        );
    }
}
