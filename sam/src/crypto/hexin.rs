use super::CryptoError;

/// Parses hex as operators type it: case-insensitive, with ASCII spaces, tabs and colons
/// between digits ignored (`"01 23:45ab"` is `[0x01, 0x23, 0x45, 0xAB]`).
///
/// Positions in errors count characters of the original string, so they can be pointed at.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (position, c) in s.chars().enumerate() {
        if c == ' ' || c == '\t' || c == ':' || c == '\n' || c == '\r' {
            continue;
        }
        let nibble = match c.to_digit(16) {
            // to_digit(16) is at most 15, so the cast cannot truncate.
            Some(v) => v as u8,
            None => return Err(CryptoError::BadHexChar { found: c, position }),
        };
        digits += 1;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push((h << 4) | nibble),
        }
    }
    if high.is_some() {
        return Err(CryptoError::OddHexDigits { digits });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mixed_case_and_separators() {
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("0aFf").unwrap(), vec![0x0A, 0xFF]);
        assert_eq!(
            parse_hex("01 23:45ab").unwrap(),
            vec![0x01, 0x23, 0x45, 0xAB]
        );
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            parse_hex("01x2"),
            Err(CryptoError::BadHexChar {
                found: 'x',
                position: 2
            })
        );
        assert_eq!(
            parse_hex("012"),
            Err(CryptoError::OddHexDigits { digits: 3 })
        );
        assert!(parse_hex("é0").is_err());
    }
}
