use zeroize::Zeroize;

use super::{encrypt_block, Key16, BLOCK_LEN, KEY_LEN};

/// Sets the low bit of every byte so that each byte has an odd number of one bits
/// (the DES parity convention).
pub fn adjust_odd_parity(bytes: &mut [u8]) {
    for b in bytes {
        let high_seven_ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(high_seven_ones % 2 == 0);
    }
}

/// True if every byte has odd parity.
pub fn has_odd_parity(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.count_ones() % 2 == 1)
}

/// Derives a card key from a master key, EMV option-A shape (EMV Book 2, A1.4.1):
/// `L = 3DES_MK(D)`, `R = 3DES_MK(D xor FF..FF)`, key = `L || R` with every byte set to
/// odd parity.
///
/// The epurse diversifier `D` is the card serial number (8 bytes); EMV itself builds `D` from
/// the PAN and PAN sequence number, which is the caller's business, not this function's.
pub fn diversify(master: &Key16, diversifier: &[u8; BLOCK_LEN]) -> Key16 {
    let inverted = diversifier.map(|b| !b);
    let mut left = encrypt_block(master, *diversifier);
    let mut right = encrypt_block(master, inverted);

    let mut bytes = [0u8; KEY_LEN];
    bytes[..BLOCK_LEN].copy_from_slice(&left);
    bytes[BLOCK_LEN..].copy_from_slice(&right);
    adjust_odd_parity(&mut bytes);
    let key = Key16::from_bytes(bytes);

    left.zeroize();
    right.zeroize();
    bytes.zeroize();
    key
}

/// The per-transaction session key: [`diversify`] of the card key over
/// `rnd (4) || counter (2, big-endian) || tx_type (1) || purse (1)`.
///
/// A fresh card random and the card's transaction counter make every session key, and so
/// every MAC, unique to one transaction: no MAC can be replayed.
pub fn session_key(card_key: &Key16, rnd: [u8; 4], counter: u16, tx_type: u8, purse: u8) -> Key16 {
    let [c_hi, c_lo] = counter.to_be_bytes();
    let diversifier = [rnd[0], rnd[1], rnd[2], rnd[3], c_hi, c_lo, tx_type, purse];
    diversify(card_key, &diversifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_of_all_bytes() {
        for v in 0..=255u8 {
            let mut b = [v];
            adjust_odd_parity(&mut b);
            assert_eq!(b[0].count_ones() % 2, 1, "byte {v:02X}");
            assert_eq!(b[0] & 0xFE, v & 0xFE, "only the low bit may change");
        }
        assert!(has_odd_parity(&[0x01, 0x02, 0x04, 0x80, 0xFE]));
        assert!(!has_odd_parity(&[0x01, 0x00]));
    }
}
