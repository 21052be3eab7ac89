use subtle::ConstantTimeEq;

use super::block::block_u64;
use super::dea::{fp, ip};
use super::{CryptoError, Key16, BLOCK_LEN};

/// How [`retail_mac`] pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: the caller's data must already be a non-empty multiple of 8 bytes.
    None,
    /// ISO/IEC 9797-1 padding method 2 (`80 00 .. 00`), the project default.
    #[default]
    Method2,
}

/// ISO/IEC 9797-1 MAC algorithm 3 with DES ("retail MAC"), IV zero:
/// single-DES CBC-MAC under K1 over all blocks, then the output transformation
/// `E_K1(D_K2(.))` on the last chaining value.
///
/// The last CBC step and the output transformation together are one 3DES-EDE encryption,
/// so the cost is one single DES per block plus one 3DES, and no allocation (padding is
/// applied on the fly).
pub fn retail_mac(key: &Key16, data: &[u8], padding: Padding) -> Result<[u8; 8], CryptoError> {
    match padding {
        Padding::None => {
            if data.is_empty() || data.len() % BLOCK_LEN != 0 {
                return Err(CryptoError::NotBlockAligned { len: data.len() });
            }
            let split = data.len() - BLOCK_LEN;
            let mut last = [0u8; BLOCK_LEN];
            last.copy_from_slice(&data[split..]);
            Ok(mac_blocks(key, &data[..split], last))
        }
        Padding::Method2 => Ok(retail_mac_m2(key, data)),
    }
}

/// [`retail_mac`] with padding method 2, which accepts any input (including empty).
pub fn retail_mac_m2(key: &Key16, data: &[u8]) -> [u8; 8] {
    let split = data.len() - data.len() % BLOCK_LEN;
    let tail = &data[split..];
    let mut last = [0u8; BLOCK_LEN];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    mac_blocks(key, &data[..split], last)
}

/// The MAC over `body` (a multiple of 8 bytes, possibly empty) followed by the final,
/// already padded block `last`.
fn mac_blocks(key: &Key16, body: &[u8], last: [u8; BLOCK_LEN]) -> [u8; 8] {
    let (k1, k2) = key.halves();
    // The chaining value stays behind DES's initial permutation: IP is a bit permutation, so
    // IP(c ^ d) = IP(c) ^ IP(d), and one DES stage's output before FP is the next one's input
    // after IP. Each data block is permuted once, and only the MAC goes through FP.
    let mut chain = 0u64; // IP(0) = 0
    for block in body.chunks_exact(BLOCK_LEN) {
        chain = k1.encrypt_ip(chain ^ ip(block_u64(block)));
    }
    chain ^= ip(u64::from_be_bytes(last));
    // Last CBC step under K1 followed by D_K2 then E_K1: exactly one 3DES-EDE encryption.
    fp(k1.encrypt_ip(k2.decrypt_ip(k1.encrypt_ip(chain)))).to_be_bytes()
}

/// Constant-time equality for MACs and other secrets (the time depends only on the lengths;
/// different lengths are simply unequal).
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
