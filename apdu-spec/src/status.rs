//! Status words (SPEC.md section 5): one variant per SW of the contract, each with its meaning
//! and what the host must do. Nothing is folded: a host matches on the variant it handles and
//! passes every other one up unchanged.

use core::fmt;

/// A status word `SW1 SW2`.
///
/// `From<u16>` and `Into<u16>` are exact inverses for every `u16`; values the contract does not
/// define become [`StatusWord::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusWord {
    /// `9000` OK.
    Ok,
    /// `61xx` MORE DATA: xx more bytes (T=0), fetched with GET RESPONSE (`00` = 256).
    MoreData(u8),
    /// `6Cxx` WRONG LE: resend the same command with Le = xx.
    WrongLe(u8),
    /// `6283` SELECTED BLOCKED: selected, but the card is blocked (the FCI is still returned).
    SelectedBlocked,
    /// `63Cx` WRONG CODE: wrong PIN or wrong unconnected code, x tries left (0..=15).
    WrongCode {
        /// Tries left; only the low nibble travels.
        tries_left: u8,
    },
    /// `6700` WRONG LENGTH.
    WrongLength,
    /// `6982` PIN REQUIRED.
    PinRequired,
    /// `6983` PIN BLOCKED.
    PinBlocked,
    /// `6985` CONDITIONS: not allowed in this lifecycle or session state.
    ConditionsNotSatisfied,
    /// `6A80` BAD DATA.
    BadData,
    /// `6A82` application not found (from the Java Card runtime on SELECT of an unknown AID).
    AppletNotFound,
    /// `6A83` NO RECORD.
    NoRecord,
    /// `6A84` NO SPACE.
    NoSpace,
    /// `6A86` BAD P1P2.
    BadP1P2,
    /// `6A88` NOT FOUND.
    NotFound,
    /// `6D00` BAD INS.
    BadIns,
    /// `6E00` BAD CLA.
    BadCla,
    /// `6F00` INTERNAL.
    Internal,
    /// `9302` MAC INVALID.
    MacInvalid,
    /// `9303` CARD BLOCKED.
    CardBlocked,
    /// `9401` INSUFFICIENT BALANCE.
    InsufficientBalance,
    /// `9402` COUNTER EXHAUSTED.
    CounterExhausted,
    /// `9403` KEY VERSION.
    KeyVersionMismatch,
    /// `9404` AMOUNT LIMIT.
    AmountLimit,
    /// `9405` BALANCE LIMIT.
    BalanceLimit,
    /// `9406` CATEGORY NOT ALLOWED.
    CategoryNotAllowed,
    /// `9407` VOUCHER EXPIRED.
    VoucherExpired,
    /// `9408` UNCONNECTED DISABLED.
    UnconnectedDisabled,
    /// Any status word the contract does not define.
    Unknown(u16),
}

/// The fixed status words with their SPEC name, meaning and host action.
const TABLE: &[(StatusWord, u16, &str, &str, &str)] = &[
    (StatusWord::Ok, 0x9000, "OK", "success", "continue"),
    (
        StatusWord::SelectedBlocked,
        0x6283,
        "SELECTED BLOCKED",
        "selected, but the card is blocked",
        "show \"card blocked\"; only status, log, proof and issuer commands work",
    ),
    (
        StatusWord::WrongLength,
        0x6700,
        "WRONG LENGTH",
        "wrong length: Lc/Le not as specified",
        "host bug: report, do not retry",
    ),
    (
        StatusWord::PinRequired,
        0x6982,
        "PIN REQUIRED",
        "PIN required: amount above the no-PIN limit, PIN not verified",
        "prompt for the PIN, VERIFY, restart the purchase",
    ),
    (
        StatusWord::PinBlocked,
        0x6983,
        "PIN BLOCKED",
        "PIN blocked: the cardholder PIN is blocked",
        "refer the cardholder to the issuer (PIN UNBLOCK)",
    ),
    (
        StatusWord::ConditionsNotSatisfied,
        0x6985,
        "CONDITIONS",
        "conditions of use not satisfied: command not allowed in this lifecycle or session state",
        "restart the transaction from SELECT; if BLANK, personalise",
    ),
    (
        StatusWord::BadData,
        0x6A80,
        "BAD DATA",
        "bad data: a data field is invalid",
        "host bug or bad input: report",
    ),
    (
        StatusWord::AppletNotFound,
        0x6A82,
        "APPLET NOT FOUND",
        "application not found (Java Card runtime, SELECT of an unknown AID)",
        "the card has no such applet: wrong card or not installed",
    ),
    (
        StatusWord::NoRecord,
        0x6A83,
        "NO RECORD",
        "no record: READ LOG index past the last entry",
        "end of log",
    ),
    (
        StatusWord::NoSpace,
        0x6A84,
        "NO SPACE",
        "no space: transfer batch larger than the card",
        "split the batch",
    ),
    (
        StatusWord::BadP1P2,
        0x6A86,
        "BAD P1P2",
        "incorrect P1/P2: unknown purse, index, offset or mode",
        "host bug: report",
    ),
    (
        StatusWord::NotFound,
        0x6A88,
        "NOT FOUND",
        "not found: no such transaction (proof) or no acknowledgement held",
        "proof: if the counter reached CTR, keep the transaction pending and escalate to the \
         issuer (SPEC 2.8); acknowledgement: none held",
    ),
    (
        StatusWord::BadIns,
        0x6D00,
        "BAD INS",
        "instruction not supported",
        "wrong applet selected? reselect",
    ),
    (
        StatusWord::BadCla,
        0x6E00,
        "BAD CLA",
        "class not supported",
        "host bug",
    ),
    (
        StatusWord::Internal,
        0x6F00,
        "INTERNAL",
        "internal card error (must not happen)",
        "keep the transaction pending, recover from evidence",
    ),
    (
        StatusWord::MacInvalid,
        0x9302,
        "MAC INVALID",
        "MAC invalid: MAC1/MAC2/MAC_A/MAC_P/ACK_CARD wrong",
        "do not retry with the same data; the transaction is void; alert (wrong key version, \
         tampering)",
    ),
    (
        StatusWord::CardBlocked,
        0x9303,
        "CARD BLOCKED",
        "card blocked by the issuer",
        "refuse; send the cardholder to the issuer",
    ),
    (
        StatusWord::InsufficientBalance,
        0x9401,
        "INSUFFICIENT BALANCE",
        "insufficient balance: purchase amount above the balance",
        "pay less or from the other purse",
    ),
    (
        StatusWord::CounterExhausted,
        0x9402,
        "COUNTER EXHAUSTED",
        "counter exhausted: a counter is at FFFF",
        "card must be replaced by the issuer",
    ),
    (
        StatusWord::KeyVersionMismatch,
        0x9403,
        "KEY VERSION",
        "key version mismatch: the terminal's key version is not the card's",
        "update keys / use the right key version",
    ),
    (
        StatusWord::AmountLimit,
        0x9404,
        "AMOUNT LIMIT",
        "amount limit: amount above the single-transaction limit (or UC_MAX)",
        "lower the amount",
    ),
    (
        StatusWord::BalanceLimit,
        0x9405,
        "BALANCE LIMIT",
        "balance limit: the balance would exceed the maximum balance",
        "lower the amount",
    ),
    (
        StatusWord::CategoryNotAllowed,
        0x9406,
        "CATEGORY NOT ALLOWED",
        "category not allowed: food purse at a merchant category not in the allowlist",
        "pay from e-Cash",
    ),
    (
        StatusWord::VoucherExpired,
        0x9407,
        "VOUCHER EXPIRED",
        "voucher expired: food purse expired on the SAM's date",
        "pay from e-Cash",
    ),
    (
        StatusWord::UnconnectedDisabled,
        0x9408,
        "UNCONNECTED DISABLED",
        "unconnected loading disabled: too many wrong unconnected codes",
        "issuer must re-enable (APPLICATION UNBLOCK P1 01)",
    ),
];

impl StatusWord {
    /// `SW1 SW2` as two bytes.
    pub fn to_bytes(self) -> [u8; 2] {
        u16::from(self).to_be_bytes()
    }

    /// From `SW1` and `SW2`.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self::from(u16::from_be_bytes([sw1, sw2]))
    }

    /// `9000` only. (`6283` also returns an FCI, but the card is blocked; hosts handle it
    /// explicitly.)
    pub fn is_success(self) -> bool {
        self == StatusWord::Ok
    }

    /// `61xx` and `6Cxx`: handled by the transport layer, never seen above it.
    pub fn is_transport(self) -> bool {
        matches!(self, StatusWord::MoreData(_) | StatusWord::WrongLe(_))
    }

    fn entry(self) -> Option<&'static (StatusWord, u16, &'static str, &'static str, &'static str)> {
        TABLE.iter().find(|e| e.0 == self)
    }

    /// The SPEC's short name, e.g. `CONDITIONS`.
    pub fn name(self) -> &'static str {
        match self {
            StatusWord::MoreData(_) => "MORE DATA",
            StatusWord::WrongLe(_) => "WRONG LE",
            StatusWord::WrongCode { .. } => "WRONG CODE",
            StatusWord::Unknown(_) => "UNKNOWN",
            other => other.entry().map_or("UNKNOWN", |e| e.2),
        }
    }

    /// What the card means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self {
            StatusWord::MoreData(_) => "more data: response bytes waiting (T=0)",
            StatusWord::WrongLe(_) => "wrong Le: resend with the Le given in SW2",
            StatusWord::WrongCode { .. } => "wrong code: wrong PIN or wrong unconnected code",
            StatusWord::Unknown(_) => "not a status word of the epurse contract",
            other => other
                .entry()
                .map_or("not a status word of the epurse contract", |e| e.3),
        }
    }

    /// What the host must do (SPEC section 5).
    pub fn host_action(self) -> &'static str {
        match self {
            StatusWord::MoreData(_) => "GET RESPONSE 00 C0 00 00 xx (transport layer)",
            StatusWord::WrongLe(_) => "resend with Le = xx (transport layer)",
            StatusWord::WrongCode { .. } => {
                "tell the user how many tries are left; never retry automatically"
            }
            StatusWord::Unknown(_) => {
                "treat as an unexpected card error: keep the transaction pending"
            }
            other => other.entry().map_or("", |e| e.4),
        }
    }
}

impl From<u16> for StatusWord {
    fn from(sw: u16) -> Self {
        let [sw1, sw2] = sw.to_be_bytes();
        match (sw1, sw2) {
            (0x61, n) => StatusWord::MoreData(n),
            (0x6C, n) => StatusWord::WrongLe(n),
            (0x63, x) if x & 0xF0 == 0xC0 => StatusWord::WrongCode {
                tries_left: x & 0x0F,
            },
            _ => TABLE
                .iter()
                .find(|e| e.1 == sw)
                .map_or(StatusWord::Unknown(sw), |e| e.0),
        }
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> u16 {
        match sw {
            StatusWord::MoreData(n) => 0x6100 | u16::from(n),
            StatusWord::WrongLe(n) => 0x6C00 | u16::from(n),
            StatusWord::WrongCode { tries_left } => 0x63C0 | u16::from(tries_left & 0x0F),
            StatusWord::Unknown(v) => v,
            other => other.entry().map_or(0x6F00, |e| e.1),
        }
    }
}

impl fmt::Display for StatusWord {
    /// E.g. `6985 (conditions of use not satisfied: command not allowed in this lifecycle or
    /// session state)`, `63C2 (wrong code: wrong PIN or wrong unconnected code, 2 tries left)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({}", u16::from(*self), self.meaning())?;
        match self {
            StatusWord::WrongCode { tries_left } => {
                write!(f, ", {} tries left)", tries_left & 0x0F)
            }
            StatusWord::MoreData(0) => f.write_str(", 256 bytes)"),
            StatusWord::MoreData(n) => write!(f, ", {n} bytes)"),
            StatusWord::WrongLe(n) => write!(f, ", Le {n})"),
            _ => f.write_str(")"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_over_all_u16() {
        for v in 0..=u16::MAX {
            let sw = StatusWord::from(v);
            assert_eq!(u16::from(sw), v, "{v:04X}");
        }
    }

    #[test]
    fn every_table_entry_is_distinct_and_named() {
        for (i, e) in TABLE.iter().enumerate() {
            assert_eq!(StatusWord::from(e.1), e.0);
            assert!(TABLE.iter().skip(i + 1).all(|o| o.0 != e.0 && o.1 != e.1));
            assert!(!e.2.is_empty() && !e.3.is_empty() && !e.4.is_empty());
        }
        // 9000, 61xx, 6Cxx, 63Cx, and 24 fixed SWs of section 5 (6A82 is the runtime's).
        assert_eq!(TABLE.len(), 25);
    }

    #[test]
    fn parameterised() {
        assert_eq!(StatusWord::from(0x6110), StatusWord::MoreData(0x10));
        assert_eq!(StatusWord::from(0x6C04), StatusWord::WrongLe(4));
        assert_eq!(
            StatusWord::from(0x63C2),
            StatusWord::WrongCode { tries_left: 2 }
        );
        assert_eq!(
            StatusWord::from(0x63C0),
            StatusWord::WrongCode { tries_left: 0 }
        );
        assert_eq!(StatusWord::from(0x63B2), StatusWord::Unknown(0x63B2));
        assert_eq!(StatusWord::from(0x6A82), StatusWord::AppletNotFound);
        assert_eq!(StatusWord::from(0x9409), StatusWord::Unknown(0x9409));
        assert_eq!(
            StatusWord::from_bytes(0x94, 0x01),
            StatusWord::InsufficientBalance
        );
        assert_eq!(StatusWord::KeyVersionMismatch.to_bytes(), [0x94, 0x03]);
        assert!(StatusWord::Ok.is_success() && !StatusWord::SelectedBlocked.is_success());
        assert!(StatusWord::MoreData(1).is_transport() && !StatusWord::Ok.is_transport());
    }

    #[test]
    fn display_and_texts() {
        assert_eq!(
            StatusWord::ConditionsNotSatisfied.to_string(),
            "6985 (conditions of use not satisfied: command not allowed in this lifecycle or \
             session state)"
        );
        assert_eq!(
            StatusWord::WrongCode { tries_left: 2 }.to_string(),
            "63C2 (wrong code: wrong PIN or wrong unconnected code, 2 tries left)"
        );
        assert_eq!(
            StatusWord::Unknown(0x1234).to_string(),
            "1234 (not a status word of the epurse contract)"
        );
        assert_eq!(StatusWord::ConditionsNotSatisfied.name(), "CONDITIONS");
        assert_eq!(
            StatusWord::UnconnectedDisabled.host_action(),
            "issuer must re-enable (APPLICATION UNBLOCK P1 01)"
        );
        for v in 0..=u16::MAX {
            let sw = StatusWord::from(v);
            assert!(
                !sw.meaning().is_empty() && !sw.host_action().is_empty() && !sw.name().is_empty()
            );
        }
    }
}
