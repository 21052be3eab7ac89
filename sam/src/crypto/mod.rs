//! The 3DES crypto core shared by the SAM, the back office and the host tools.
//!
//! Everything here follows the cards in the field (see DESIGN.md, "Security model"):
//!
//! - [`Key16`]: a two-key 3DES key `K1 || K2` (EDE: `E_K1(D_K2(E_K1(x)))`), zeroized on drop,
//!   printed only as its KCV.
//! - [`encrypt_block`] / [`decrypt_block`] / [`cbc_encrypt`] / [`cbc_decrypt`]: raw 3DES.
//! - [`pad_m2`] / [`unpad_m2`]: ISO/IEC 9797-1 padding method 2 (`80 00 .. 00`).
//! - [`retail_mac`]: ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC").
//! - [`diversify`]: card keys from a master key, EMV option-A shape with odd parity.
//! - [`session_key`]: per-transaction keys from a card key, card random and counter.
//!
//! The DES rounds are ours (`dea.rs`: SP tables from FIPS 46-3, one IP/FP per 3DES block), checked
//! against the RustCrypto `des` crate on random inputs and against the published vectors.
//!
//! No function here panics on any input: lengths are checked and reported as [`CryptoError`].

mod block;
mod dea;
mod diversify;
mod error;
mod hexin;
mod key;
mod mac;
mod padding;

pub use block::{cbc_decrypt, cbc_encrypt, decrypt_block, encrypt_block, BLOCK_LEN};
pub use diversify::{adjust_odd_parity, diversify, has_odd_parity, session_key};
pub use error::CryptoError;
pub use hexin::parse_hex;
pub use key::{Key16, KEY_LEN};
pub use mac::{mac_eq, retail_mac, retail_mac_m2, Padding};
pub use padding::{pad_m2, unpad_m2};
