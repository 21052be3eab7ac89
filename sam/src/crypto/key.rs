use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::dea::{self, DesKey};
use super::{parse_hex, CryptoError};

/// Length of a two-key 3DES key in bytes.
pub const KEY_LEN: usize = 16;

/// A two-key 3DES key `K1 || K2`; encryption is `E_K1(D_K2(E_K1(x)))`.
///
/// The DES key schedules are computed once, when the key is made, and kept next to the key
/// bytes: a MAC or a block operation then costs only the DES rounds. All of it — bytes and
/// round keys — is wiped when the key is dropped. `Debug` shows only the key check value.
///
/// There is deliberately no `Copy`: every copy of key material is an explicit `clone()` that
/// is itself wiped on drop.
pub struct Key16 {
    bytes: [u8; KEY_LEN],
    /// The round keys of K1 (single DES for the retail MAC's chain; first and last 3DES stage).
    k1: DesKey,
    /// The round keys of K2 (the middle 3DES stage).
    k2: DesKey,
}

impl Key16 {
    /// Takes the 16 key bytes `K1 || K2` as they are (parity bits are ignored by DES).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut half = [0u8; 8];
        half.copy_from_slice(&bytes[..8]);
        let k1 = DesKey::new(half);
        half.copy_from_slice(&bytes[8..]);
        let k2 = DesKey::new(half);
        half.zeroize();
        Key16 { bytes, k1, k2 }
    }

    /// Takes the key from a slice, which must be exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut array: [u8; KEY_LEN] =
            bytes.try_into().map_err(|_| CryptoError::WrongKeyLength {
                expected: KEY_LEN,
                got: bytes.len(),
            })?;
        let key = Key16::from_bytes(array);
        array.zeroize();
        Ok(key)
    }

    /// Parses 32 hex digits (see [`parse_hex`] for what is accepted).
    pub fn from_hex(s: &str) -> Result<Self, CryptoError> {
        let mut bytes = parse_hex(s)?;
        let key = Key16::from_slice(&bytes);
        bytes.zeroize();
        key
    }

    /// The raw key bytes. Named so that every place that handles raw key material can be
    /// found with a grep; prefer passing `&Key16` around.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Key check value: the first 3 bytes of the 3DES encryption of eight zero bytes.
    pub fn kcv(&self) -> [u8; 3] {
        let block = self.encrypt(0).to_be_bytes();
        [block[0], block[1], block[2]]
    }

    /// The KCV as six upper-case hex digits, as key ceremony records write it.
    pub fn kcv_hex(&self) -> String {
        hex::encode_upper(self.kcv())
    }

    /// 3DES-EDE encryption of one block (big-endian `u64`).
    pub(crate) fn encrypt(&self, block: u64) -> u64 {
        dea::ede_encrypt(&self.k1, &self.k2, block)
    }

    /// 3DES-EDE decryption of one block.
    pub(crate) fn decrypt(&self, block: u64) -> u64 {
        dea::ede_decrypt(&self.k1, &self.k2, block)
    }

    /// The round keys of K1 and K2, for the retail MAC's chain.
    pub(crate) fn halves(&self) -> (&DesKey, &DesKey) {
        (&self.k1, &self.k2)
    }
}

impl Clone for Key16 {
    /// Copies the bytes and the already computed key schedules (no key schedule is re-run).
    fn clone(&self) -> Self {
        Key16 {
            bytes: self.bytes,
            k1: self.k1.clone(),
            k2: self.k2.clone(),
        }
    }
}

impl Drop for Key16 {
    fn drop(&mut self) {
        // The round keys of `k1` and `k2` wipe themselves (`DesKey` is `ZeroizeOnDrop`).
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for Key16 {}

impl PartialEq for Key16 {
    /// Constant-time comparison of the key bytes.
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for Key16 {}

impl fmt::Debug for Key16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key16(KCV={})", self.kcv_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::ManuallyDrop;

    #[test]
    fn zeroized_on_drop() {
        let mut key = ManuallyDrop::new(Key16::from_bytes([0xA5; KEY_LEN]));
        let bytes_ptr: *const [u8; KEY_LEN] = &key.bytes;
        let k1_ptr: *const DesKey = &key.k1;
        let k2_ptr: *const DesKey = &key.k2;
        // SAFETY: ManuallyDrop keeps the storage alive after the value's destructor has run;
        // we only read plain bytes from it afterwards (every bit pattern is a valid u8).
        unsafe {
            assert_ne!(core::ptr::read_volatile(bytes_ptr), [0u8; KEY_LEN]);
            ManuallyDrop::drop(&mut key);
            assert_eq!(core::ptr::read_volatile(bytes_ptr), [0u8; KEY_LEN]);
            for ptr in [k1_ptr, k2_ptr] {
                let round_keys =
                    core::slice::from_raw_parts(ptr.cast::<u8>(), core::mem::size_of::<DesKey>());
                assert!(
                    round_keys.iter().all(|&b| b == 0),
                    "DES round keys not wiped"
                );
            }
        }
    }

    #[test]
    fn clone_is_equal_and_independent() {
        let a = Key16::from_bytes(*b"0123456789abcdef");
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(a.kcv(), b.kcv());
        drop(a);
        assert_eq!(b.expose_secret(), b"0123456789abcdef");
    }
}
