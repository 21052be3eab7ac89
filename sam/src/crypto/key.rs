use core::fmt;

use cipher::generic_array::GenericArray;
use cipher::{BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

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
    /// 3DES (EDE, K1 K2 K1), used for block operations and the MAC's output step.
    tdes: TdesEde2,
    /// Single DES under K1, used for the CBC chain of the retail MAC.
    k1: Des,
}

impl Key16 {
    /// Takes the 16 key bytes `K1 || K2` as they are (parity bits are ignored by DES).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let tdes = TdesEde2::new(GenericArray::from_slice(&bytes));
        let k1 = Des::new(GenericArray::from_slice(&bytes[..8]));
        Key16 { bytes, tdes, k1 }
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
        let mut block = GenericArray::from([0u8; 8]);
        self.tdes.encrypt_block(&mut block);
        [block[0], block[1], block[2]]
    }

    /// The KCV as six upper-case hex digits, as key ceremony records write it.
    pub fn kcv_hex(&self) -> String {
        hex::encode_upper(self.kcv())
    }

    pub(crate) fn tdes(&self) -> &TdesEde2 {
        &self.tdes
    }

    pub(crate) fn des_k1(&self) -> &Des {
        &self.k1
    }
}

impl Clone for Key16 {
    /// Copies the bytes and the already computed key schedules (no key schedule is re-run).
    fn clone(&self) -> Self {
        Key16 {
            bytes: self.bytes,
            tdes: self.tdes.clone(),
            k1: self.k1.clone(),
        }
    }
}

impl Drop for Key16 {
    fn drop(&mut self) {
        // The `des` crate's `zeroize` feature wipes the round keys of `tdes` and `k1`.
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
        let k1_ptr: *const Des = &key.k1;
        // SAFETY: ManuallyDrop keeps the storage alive after the value's destructor has run;
        // we only read plain bytes from it afterwards (every bit pattern is a valid u8).
        unsafe {
            assert_ne!(core::ptr::read_volatile(bytes_ptr), [0u8; KEY_LEN]);
            ManuallyDrop::drop(&mut key);
            assert_eq!(core::ptr::read_volatile(bytes_ptr), [0u8; KEY_LEN]);
            let round_keys =
                core::slice::from_raw_parts(k1_ptr.cast::<u8>(), core::mem::size_of::<Des>());
            assert!(
                round_keys.iter().all(|&b| b == 0),
                "DES round keys not wiped"
            );
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
