//! The one error type of this crate: why some bytes (or a string) are not what the contract says.
//!
//! Errors never echo secret input: a bad PIN string or PIN block is reported by reason only.

use thiserror::Error;

/// A violation of the contract's encoding rules, found while parsing or building.
///
/// Card status words are not errors of this kind; they are [`crate::StatusWord`] values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// Fewer bytes than the layout needs.
    #[error("{what}: too short, expected {expected} bytes, got {got}")]
    TooShort {
        /// What was being parsed.
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A fixed-size layout given more bytes than it has.
    #[error("{what}: wrong length, expected {expected} bytes, got {got}")]
    BadLength {
        /// What was being parsed.
        what: &'static str,
        /// Exact size of the layout.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A variable-size field outside its allowed range.
    #[error("{what}: length {got} outside {min}..={max}")]
    LengthOutOfRange {
        /// What was being parsed or built.
        what: &'static str,
        /// Smallest allowed length.
        min: usize,
        /// Largest allowed length.
        max: usize,
        /// Length given.
        got: usize,
    },
    /// The Lc byte of a command APDU does not match the bytes that follow it.
    #[error("command APDU: Lc {lc} does not match the {body} bytes after the header")]
    LcMismatch {
        /// Value of the Lc byte.
        lc: usize,
        /// Bytes after CLA INS P1 P2 Lc.
        body: usize,
    },
    /// An extended-length APDU (Lc byte `00` followed by data); the contract uses short APDUs only.
    #[error("command APDU: extended length is not supported (short APDUs only)")]
    ExtendedLength,
    /// Command data longer than a short APDU can carry.
    #[error("command APDU: {got} data bytes, a short APDU carries at most 255")]
    DataTooLong {
        /// Data length given.
        got: usize,
    },
    /// A CLA/INS pair that is not a command of this contract (or not of this applet).
    #[error("unknown command CLA {cla:02X} INS {ins:02X} for the {applet}")]
    UnknownCommand {
        /// Which applet's command set was searched.
        applet: &'static str,
        /// CLA byte.
        cla: u8,
        /// INS byte.
        ins: u8,
    },
    /// A typed command parser given an APDU of another command.
    #[error("{command}: APDU has CLA {cla:02X} INS {ins:02X}")]
    WrongCommand {
        /// The command the parser expected.
        command: &'static str,
        /// CLA found.
        cla: u8,
        /// INS found.
        ins: u8,
    },
    /// P1/P2 not allowed for this command.
    #[error("{command}: P1 P2 {p1:02X} {p2:02X} not allowed")]
    BadP1P2 {
        /// Command name.
        command: &'static str,
        /// P1 found.
        p1: u8,
        /// P2 found.
        p2: u8,
    },
    /// Le present/absent or of a value the contract does not use for this command.
    #[error("{command}: Le {got:?} not allowed")]
    BadLe {
        /// Command name.
        command: &'static str,
        /// Le byte found (`None`: absent).
        got: Option<u8>,
    },
    /// A BER-TLV structure the `iso7816-tlv` parser rejected.
    #[error("{what}: malformed BER-TLV ({source_text})")]
    Tlv {
        /// What was being parsed.
        what: &'static str,
        /// The TLV parser's own message.
        source_text: String,
    },
    /// A TLV object with an unexpected tag where a specific one is required.
    #[error("{what}: expected tag {expected:02X}, got {got:X}")]
    BadTag {
        /// What was being parsed.
        what: &'static str,
        /// Tag required.
        expected: u8,
        /// Tag found (its bytes as an integer).
        got: u64,
    },
    /// A mandatory TLV object is absent.
    #[error("{within}: mandatory tag {tag:02X} missing")]
    MissingTag {
        /// The missing tag.
        tag: u8,
        /// The template that should contain it.
        within: &'static str,
    },
    /// A BCD field with a nibble above 9.
    #[error("{field}: not BCD")]
    BadBcd {
        /// Field name.
        field: &'static str,
    },
    /// A field whose value breaks a rule of the contract.
    #[error("{field}: value {value} invalid ({reason})")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// The offending value (numeric fields; 0 when not meaningful).
        value: u64,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A string that does not parse (date, MCC, PIN digits, ...). The input itself is not kept.
    #[error("{what}: cannot parse text ({reason})")]
    BadText {
        /// What the text should have been.
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A malformed PIN block or PIN. The PIN itself is never included.
    #[error("PIN block: {reason}")]
    BadPin {
        /// Why it was refused.
        reason: &'static str,
    },
    /// A purse byte other than `01`/`02`.
    #[error("unknown purse {0:02X}")]
    UnknownPurse(u8),
    /// A transaction-type byte not defined by the contract (or not allowed here).
    #[error("unknown transaction type {0:02X}")]
    UnknownTxType(u8),
    /// A lifecycle-state byte not defined by the contract.
    #[error("unknown lifecycle state {0:02X}")]
    UnknownLifecycle(u8),
    /// A batch-state byte not defined by the contract.
    #[error("unknown batch state {0:02X}")]
    UnknownBatchState(u8),
    /// An AID that names neither the purse nor the transfer applet.
    #[error("unknown AID {0:02X?}")]
    UnknownAid(Vec<u8>),
    /// An amount above `0x7FFFFFFF`.
    #[error("amount {0:#X} above the contract maximum 0x7FFFFFFF")]
    AmountTooLarge(u32),
}

/// Result alias of this crate.
pub type Result<T> = core::result::Result<T, SpecError>;

/// `Ok(())` when `ok`, else [`SpecError::BadValue`] for `field`: the one shape of every
/// "this value breaks rule `reason`" check.
pub(crate) fn ensure(
    ok: bool,
    field: &'static str,
    value: impl Into<u64>,
    reason: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(SpecError::BadValue {
            field,
            value: value.into(),
            reason,
        })
    }
}
