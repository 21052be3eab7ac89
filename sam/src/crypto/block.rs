use super::{CryptoError, Key16};

/// The DES block size in bytes.
pub const BLOCK_LEN: usize = 8;

/// 3DES-EDE encryption of one block (ECB).
pub fn encrypt_block(key: &Key16, block: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    key.encrypt(u64::from_be_bytes(block)).to_be_bytes()
}

/// 3DES-EDE decryption of one block (ECB).
pub fn decrypt_block(key: &Key16, block: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    key.decrypt(u64::from_be_bytes(block)).to_be_bytes()
}

/// A block of exactly 8 bytes (from `chunks_exact(BLOCK_LEN)`) as a big-endian `u64`.
pub(crate) fn block_u64(chunk: &[u8]) -> u64 {
    let mut b = [0u8; BLOCK_LEN];
    b.copy_from_slice(chunk);
    u64::from_be_bytes(b)
}

fn check_aligned(data: &[u8]) -> Result<(), CryptoError> {
    if data.len() % BLOCK_LEN == 0 {
        Ok(())
    } else {
        Err(CryptoError::NotBlockAligned { len: data.len() })
    }
}

/// 3DES-EDE CBC encryption without padding: `data` must be a multiple of 8 bytes (empty
/// data gives empty output). Pad first with [`super::pad_m2`] where the protocol pads.
pub fn cbc_encrypt(key: &Key16, iv: [u8; BLOCK_LEN], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_aligned(data)?;
    let mut out = Vec::with_capacity(data.len());
    let mut chain = u64::from_be_bytes(iv);
    for chunk in data.chunks_exact(BLOCK_LEN) {
        chain = key.encrypt(chain ^ block_u64(chunk));
        out.extend_from_slice(&chain.to_be_bytes());
    }
    Ok(out)
}

/// 3DES-EDE CBC decryption without unpadding: `data` must be a multiple of 8 bytes.
pub fn cbc_decrypt(key: &Key16, iv: [u8; BLOCK_LEN], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_aligned(data)?;
    let mut out = Vec::with_capacity(data.len());
    let mut chain = u64::from_be_bytes(iv);
    for chunk in data.chunks_exact(BLOCK_LEN) {
        let c = block_u64(chunk);
        out.extend_from_slice(&(key.decrypt(c) ^ chain).to_be_bytes());
        chain = c;
    }
    Ok(out)
}
