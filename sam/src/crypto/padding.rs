use super::{CryptoError, BLOCK_LEN};

/// ISO/IEC 9797-1 padding method 2: append `80`, then `00` up to a multiple of 8 bytes.
/// Always adds at least one byte (8 bytes of data become 16).
pub fn pad_m2(data: &[u8]) -> Vec<u8> {
    let padded_len = (data.len() / BLOCK_LEN + 1) * BLOCK_LEN;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(padded_len, 0x00);
    out
}

/// Removes ISO/IEC 9797-1 method 2 padding. The input must be a non-empty multiple of 8 bytes
/// whose last non-zero byte is `80`, within the last block.
pub fn unpad_m2(data: &[u8]) -> Result<&[u8], CryptoError> {
    if data.is_empty() || data.len() % BLOCK_LEN != 0 {
        return Err(CryptoError::NotBlockAligned { len: data.len() });
    }
    let last_block_start = data.len() - BLOCK_LEN;
    match data.iter().rposition(|&b| b != 0x00) {
        Some(i) if i >= last_block_start && data[i] == 0x80 => Ok(&data[..i]),
        Some(i) if i >= last_block_start => Err(CryptoError::BadPadding {
            reason: "last non-zero byte is not 80",
        }),
        _ => Err(CryptoError::BadPadding {
            reason: "no 80 marker in the last block",
        }),
    }
}
