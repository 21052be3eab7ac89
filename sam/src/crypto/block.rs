use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt};

use super::{CryptoError, Key16};

/// The DES block size in bytes.
pub const BLOCK_LEN: usize = 8;

/// 3DES-EDE encryption of one block (ECB).
pub fn encrypt_block(key: &Key16, block: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    let mut b = GenericArray::from(block);
    key.tdes().encrypt_block(&mut b);
    b.into()
}

/// 3DES-EDE decryption of one block (ECB).
pub fn decrypt_block(key: &Key16, block: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    let mut b = GenericArray::from(block);
    key.tdes().decrypt_block(&mut b);
    b.into()
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
    let mut chain = iv;
    for chunk in data.chunks_exact(BLOCK_LEN) {
        let mut b = GenericArray::from(chain);
        for (x, d) in b.iter_mut().zip(chunk) {
            *x ^= d;
        }
        key.tdes().encrypt_block(&mut b);
        chain = b.into();
        out.extend_from_slice(&chain);
    }
    Ok(out)
}

/// 3DES-EDE CBC decryption without unpadding: `data` must be a multiple of 8 bytes.
pub fn cbc_decrypt(key: &Key16, iv: [u8; BLOCK_LEN], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_aligned(data)?;
    let mut out = Vec::with_capacity(data.len());
    let mut chain = iv;
    for chunk in data.chunks_exact(BLOCK_LEN) {
        let mut b = GenericArray::clone_from_slice(chunk);
        key.tdes().decrypt_block(&mut b);
        for (x, c) in b.iter_mut().zip(chain) {
            *x ^= c;
        }
        out.extend_from_slice(&b);
        chain.copy_from_slice(chunk);
    }
    Ok(out)
}
