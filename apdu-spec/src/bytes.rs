//! Bounds-checked reading of fixed layouts. Every parser goes through [`Reader`], so no parser
//! indexes input bytes directly and none can panic on short or long input.

use crate::error::{Result, SpecError};

/// A cursor over a layout whose total length has already been checked.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over exactly `len` bytes; shorter or longer input is refused up front.
    pub(crate) fn exact(data: &'a [u8], len: usize, what: &'static str) -> Result<Self> {
        check_len(data, len, what)?;
        Ok(Self { data, what })
    }

    /// A reader over input of any length (the caller checks the tail with [`Reader::rest`]).
    pub(crate) fn at_least(data: &'a [u8], len: usize, what: &'static str) -> Result<Self> {
        if data.len() < len {
            return Err(SpecError::TooShort {
                what,
                expected: len,
                got: data.len(),
            });
        }
        Ok(Self { data, what })
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        match (self.data.get(..n), self.data.get(n..)) {
            (Some(head), Some(tail)) => {
                self.data = tail;
                Ok(head)
            }
            _ => Err(SpecError::TooShort {
                what: self.what,
                expected: n,
                got: self.data.len(),
            }),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let what = self.what;
        let head = self.bytes(N)?;
        head.try_into().map_err(|_| SpecError::TooShort {
            what,
            expected: N,
            got: head.len(),
        })
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Everything not read yet.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Refuses `data` unless it is exactly `len` bytes.
pub(crate) fn check_len(data: &[u8], len: usize, what: &'static str) -> Result<()> {
    match data.len() {
        n if n < len => Err(SpecError::TooShort {
            what,
            expected: len,
            got: n,
        }),
        n if n > len => Err(SpecError::BadLength {
            what,
            expected: len,
            got: n,
        }),
        _ => Ok(()),
    }
}

/// Refuses response data for a command whose response has none.
pub(crate) fn check_no_data(data: &[u8]) -> Result<()> {
    check_len(data, 0, "response to a command without response data")
}

/// Concatenation of byte slices, the `||` of SPEC.md.
pub(crate) fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Upper-case hex, for `Display` of identifiers.
pub(crate) fn hex_upper(bytes: &[u8], f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    for b in bytes {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

/// Parses exactly `N` bytes of hex (upper or lower case).
pub(crate) fn parse_hex_array<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N]> {
    let text = s.as_bytes();
    if text.len() != 2 * N {
        return Err(SpecError::BadText {
            what,
            reason: "wrong number of hex digits",
        });
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let mut value = 0u8;
        for &c in pair {
            let nibble = (c as char).to_digit(16).ok_or(SpecError::BadText {
                what,
                reason: "not a hex digit",
            })?;
            value = (value << 4) | nibble as u8;
        }
        *byte = value;
    }
    Ok(out)
}

/// Concatenation into a fixed-size layout. The callers' parts add up to `N` exactly (checked by
/// their round-trip tests); a mismatch would truncate or zero-fill, never panic.
pub(crate) fn fill<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    for (slot, b) in out.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
        *slot = *b;
    }
    debug_assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), N);
    out
}
