use thiserror::Error;

/// Everything that can go wrong in [`crate::crypto`]. Every variant says what was wrong and
/// what was expected, so callers can show it to an operator as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A hex string held something other than hex digits (and the separators we skip).
    #[error("invalid hex character {found:?} at position {position}")]
    BadHexChar { found: char, position: usize },

    /// A hex string had an odd number of digits, so it is not a whole number of bytes.
    #[error("odd number of hex digits ({digits}); each byte needs two")]
    OddHexDigits { digits: usize },

    /// Key material of the wrong size.
    #[error("key must be {expected} bytes ({} hex digits), got {got} bytes", expected * 2)]
    WrongKeyLength { expected: usize, got: usize },

    /// Data for an unpadded block operation that is not a whole number of 8-byte blocks
    /// (for an unpadded MAC, also: empty).
    #[error("data is {len} bytes; expected a non-empty multiple of the 8-byte DES block")]
    NotBlockAligned { len: usize },

    /// Data that should end in ISO/IEC 9797-1 method 2 padding (`80 00 .. 00`) does not.
    #[error("malformed ISO/IEC 9797-1 method 2 padding: {reason}")]
    BadPadding { reason: &'static str },
}
