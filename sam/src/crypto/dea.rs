//! The DES rounds behind [`super::Key16`]: the data encryption algorithm of FIPS 46-3 with the
//! S-boxes and the P permutation folded into eight 64-entry tables ("SP tables"), as the fast
//! software implementations of the field do.
//!
//! Why not the `des` crate's rounds: they compute E and P with shifts and masks and look the
//! S-boxes up one at a time, about 110 instructions a round; on the 2-core EPYC of this project
//! that is 540-580 ns per 3DES block, under half of OpenSSL's rate (the crypto issue's target is
//! at least half). With SP tables a round is 8 rotations, 8 lookups and 16 XORs, and two more
//! savings follow from DES being a bit permutation around the rounds:
//!
//! - in 3DES-EDE the final permutation of one stage and the initial permutation of the next
//!   cancel, so a 3DES block costs one IP and one FP, not three of each;
//! - IP is linear over XOR, so a CBC-MAC keeps its chaining value "inside" IP and permutes each
//!   data block once, with one FP at the end.
//!
//! Every table here is computed at compile time from the tables of FIPS 46-3; the `des` crate
//! remains the independent oracle in the tests (random keys and blocks, both directions,
//! single and triple DES), next to the published vectors.
//!
//! Side channels: like the `des` crate (and OpenSSL), the lookups are indexed by key-dependent
//! data; the SP tables are 2 KiB (32 cache lines). The master keys of a production bank live in
//! an HSM, not in this process.

use zeroize::{Zeroize, ZeroizeOnDrop};

// ---- FIPS 46-3 tables: bit n counts from 1 at the most significant bit ------------------------

const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, //
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, //
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, //
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, //
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, //
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, //
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, //
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];

const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, //
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, //
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, //
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of C and D before each round's subkey.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// S1..S8, each 4 rows of 16.
const SBOX: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, //
        0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, //
        4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, //
        15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, //
        3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, //
        0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, //
        13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, //
        13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, //
        13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, //
        1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, //
        13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, //
        10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, //
        3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, //
        14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, //
        4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, //
        11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, //
        10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, //
        9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, //
        4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, //
        13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, //
        1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, //
        6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, //
        1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, //
        7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, //
        2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

// ---- tables derived at compile time -------------------------------------------------------------

/// The inverse of a permutation of 64 bits (FP = IP⁻¹).
const fn inverse64(table: &[u8; 64]) -> [u8; 64] {
    let mut inv = [0u8; 64];
    let mut j = 0;
    while j < 64 {
        inv[table[j] as usize - 1] = j as u8 + 1;
        j += 1;
    }
    inv
}

const FP: [u8; 64] = inverse64(&IP);

/// A bit selection (`table[j]` is the input bit that output bit `j + 1` takes, both counted
/// from 1 at the most significant bit of an `IN_BITS`-wide input) as one table per input
/// nibble: the output is the OR of `t[n][nibble n]`, 16 lookups for 64 input bits.
const fn nibble_tables<const NIBBLES: usize>(table: &[u8]) -> [[u64; 16]; NIBBLES] {
    let out_bits = table.len();
    let mut t = [[0u64; 16]; NIBBLES];
    let mut j = 0;
    while j < out_bits {
        let src = table[j] as usize - 1;
        let (nibble, bit) = (src / 4, 3 - src % 4);
        let mut v = 0;
        while v < 16 {
            if (v >> bit) & 1 == 1 {
                t[nibble][v] |= 1 << (out_bits - 1 - j);
            }
            v += 1;
        }
        j += 1;
    }
    t
}

#[inline(always)]
fn permute<const NIBBLES: usize>(t: &[[u64; 16]; NIBBLES], x: u64) -> u64 {
    let mut out = 0;
    let mut n = 0;
    while n < NIBBLES {
        out |= t[n][((x >> (4 * (NIBBLES - 1 - n))) & 0xF) as usize];
        n += 1;
    }
    out
}

static IP_T: [[u64; 16]; 16] = nibble_tables::<16>(&IP);
static FP_T: [[u64; 16]; 16] = nibble_tables::<16>(&FP);
static PC1_T: [[u64; 16]; 16] = nibble_tables::<16>(&PC1);
static PC2_T: [[u64; 16]; 14] = nibble_tables::<14>(&PC2);

/// `SP[i][x]`: S-box `i + 1` applied to the 6 bits `x` (row from the outer bits, column from
/// the inner four), placed at its nibble of the 32-bit output, then permuted by P.
const fn sp_tables() -> [[u32; 64]; 8] {
    let mut sp = [[0u32; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut x = 0;
        while x < 64 {
            let row = ((x >> 4) & 2) | (x & 1);
            let col = (x >> 1) & 0xF;
            let s = (SBOX[i][row * 16 + col] as u32) << (28 - 4 * i);
            let mut out = 0u32;
            let mut j = 0;
            while j < 32 {
                out |= ((s >> (32 - P[j] as u32)) & 1) << (31 - j);
                j += 1;
            }
            sp[i][x] = out;
            x += 1;
        }
        i += 1;
    }
    sp
}

static SP: [[u32; 64]; 8] = sp_tables();

/// E selects for S-box `i + 1` the six bits `4i .. 4i + 5` of R (bit 0 being bit 32): the
/// right rotation that brings the last of them to the bottom.
const E_ROTATIONS: [u32; 8] = [27, 23, 19, 15, 11, 7, 3, 31];

// ---- the cipher ---------------------------------------------------------------------------------

/// The 16 round keys of one DES key, each as the eight 6-bit groups that meet the S-boxes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct DesKey {
    rounds: [[u8; 8]; 16],
}

impl DesKey {
    /// The key schedule (PC-1, the rotations, PC-2); parity bits are ignored.
    pub(crate) fn new(key: [u8; 8]) -> DesKey {
        let mut cd = permute(&PC1_T, u64::from_be_bytes(key));
        let mut rounds = [[0u8; 8]; 16];
        for (round, shift) in rounds.iter_mut().zip(SHIFTS) {
            let (c, d) = (cd >> 28, cd & 0x0FFF_FFFF);
            let rot = |h: u64| ((h << shift) | (h >> (28 - shift))) & 0x0FFF_FFFF;
            cd = (rot(c) << 28) | rot(d);
            let k = permute(&PC2_T, cd);
            for (i, group) in round.iter_mut().enumerate() {
                *group = ((k >> (42 - 6 * i)) & 0x3F) as u8;
            }
        }
        cd.zeroize();
        DesKey { rounds }
    }

    /// The 16 rounds forward (encryption) on the halves of a block already through IP;
    /// returns the halves swapped, which is both the input of FP and, because FP and the next
    /// stage's IP cancel, the IP-domain input of the next DES.
    #[inline(always)]
    pub(crate) fn encrypt_ip(&self, block: u64) -> u64 {
        let (mut l, mut r) = ((block >> 32) as u32, block as u32);
        for k in &self.rounds {
            (l, r) = (r, l ^ feistel(r, k));
        }
        (u64::from(r) << 32) | u64::from(l)
    }

    /// The 16 rounds backward (decryption), otherwise as [`DesKey::encrypt_ip`].
    #[inline(always)]
    pub(crate) fn decrypt_ip(&self, block: u64) -> u64 {
        let (mut l, mut r) = ((block >> 32) as u32, block as u32);
        for k in self.rounds.iter().rev() {
            (l, r) = (r, l ^ feistel(r, k));
        }
        (u64::from(r) << 32) | u64::from(l)
    }
}

#[inline(always)]
fn feistel(r: u32, k: &[u8; 8]) -> u32 {
    let mut out = 0;
    for i in 0..8 {
        let six = (r.rotate_right(E_ROTATIONS[i]) & 0x3F) as u8 ^ k[i];
        out ^= SP[i][six as usize];
    }
    out
}

/// The initial permutation of a block (big-endian bytes as a `u64`).
#[inline(always)]
pub(crate) fn ip(block: u64) -> u64 {
    permute(&IP_T, block)
}

/// The final permutation, IP⁻¹.
#[inline(always)]
pub(crate) fn fp(block: u64) -> u64 {
    permute(&FP_T, block)
}

/// 3DES-EDE encryption `E_K1(D_K2(E_K1(x)))` with one IP and one FP.
#[inline]
pub(crate) fn ede_encrypt(k1: &DesKey, k2: &DesKey, block: u64) -> u64 {
    fp(k1.encrypt_ip(k2.decrypt_ip(k1.encrypt_ip(ip(block)))))
}

/// 3DES-EDE decryption `D_K1(E_K2(D_K1(x)))`.
#[inline]
pub(crate) fn ede_decrypt(k1: &DesKey, k2: &DesKey, block: u64) -> u64 {
    fp(k1.decrypt_ip(k2.encrypt_ip(k1.decrypt_ip(ip(block)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cipher::generic_array::GenericArray;
    use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};

    fn des_single(key: [u8; 8], block: [u8; 8]) -> [u8; 8] {
        fp(DesKey::new(key).encrypt_ip(ip(u64::from_be_bytes(block)))).to_be_bytes()
    }

    #[test]
    fn fips_and_textbook_vectors() {
        // The classic worked example (key 133457799BBCDFF1).
        assert_eq!(
            des_single(
                hex::decode("133457799BBCDFF1").unwrap().try_into().unwrap(),
                hex::decode("0123456789ABCDEF").unwrap().try_into().unwrap()
            ),
            <[u8; 8]>::try_from(hex::decode("85E813540F0AB405").unwrap()).unwrap()
        );
        // "Now is t" under 0123456789ABCDEF (FIPS 81 appendix B).
        assert_eq!(
            des_single(
                hex::decode("0123456789ABCDEF").unwrap().try_into().unwrap(),
                *b"Now is t"
            ),
            <[u8; 8]>::try_from(hex::decode("3FA40E8A984D4815").unwrap()).unwrap()
        );
    }

    #[test]
    fn ip_and_fp_are_inverse() {
        let mut x = 0x0123_4567_89AB_CDEFu64;
        for _ in 0..1000 {
            assert_eq!(fp(ip(x)), x);
            assert_eq!(ip(fp(x)), x);
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
    }

    /// Against the `des` crate on random keys and blocks: single DES both ways and 3DES-EDE
    /// both ways.
    #[test]
    fn agrees_with_the_des_crate_on_random_inputs() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let (k1b, k2b, x) = (next().to_be_bytes(), next().to_be_bytes(), next());
            let (k1, k2) = (DesKey::new(k1b), DesKey::new(k2b));

            let oracle = des::Des::new(GenericArray::from_slice(&k1b));
            let mut b = GenericArray::from(x.to_be_bytes());
            oracle.encrypt_block(&mut b);
            let single = fp(k1.encrypt_ip(ip(x)));
            assert_eq!(single.to_be_bytes(), <[u8; 8]>::from(b));
            assert_eq!(fp(k1.decrypt_ip(ip(single))), x);

            let mut key16 = [0u8; 16];
            key16[..8].copy_from_slice(&k1b);
            key16[8..].copy_from_slice(&k2b);
            let oracle = des::TdesEde2::new(GenericArray::from_slice(&key16));
            let mut b = GenericArray::from(x.to_be_bytes());
            oracle.encrypt_block(&mut b);
            let triple = ede_encrypt(&k1, &k2, x);
            assert_eq!(triple.to_be_bytes(), <[u8; 8]>::from(b));
            oracle.decrypt_block(&mut b);
            assert_eq!(u64::from_be_bytes(b.into()), x);
            assert_eq!(ede_decrypt(&k1, &k2, triple), x);
        }
    }
}
