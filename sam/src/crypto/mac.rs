use cipher::generic_array::GenericArray;
use cipher::BlockEncrypt;
use subtle::ConstantTimeEq;

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
    let des = key.des_k1();
    let mut chain = GenericArray::from([0u8; BLOCK_LEN]);
    for block in body.chunks_exact(BLOCK_LEN) {
        for (c, d) in chain.iter_mut().zip(block) {
            *c ^= d;
        }
        des.encrypt_block(&mut chain);
    }
    for (c, d) in chain.iter_mut().zip(last) {
        *c ^= d;
    }
    // Last CBC step under K1 followed by D_K2 then E_K1: exactly one 3DES-EDE encryption.
    key.tdes().encrypt_block(&mut chain);
    chain.into()
}

/// Constant-time equality for MACs and other secrets (the time depends only on the lengths;
/// different lengths are simply unequal).
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
