//! The epurse SAM crate.
//!
//! - [`crypto`]: the 3DES core every party uses — [`Key16`], the retail MAC, EMV option-A
//!   diversification, session keys, KCVs. Its main items are re-exported here.
//! - [`keyfile`]: the issuer master-key file (`epurse-master-keys/1`) with KCV checks.
//!
//! The SAM model (merchant profile, purchase sessions, journal, batches) builds on these.

// `usize::is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.75.
#![allow(unknown_lints, clippy::manual_is_multiple_of)]

pub mod crypto;
pub mod keyfile;

pub use crypto::{
    adjust_odd_parity, cbc_decrypt, cbc_encrypt, decrypt_block, diversify, encrypt_block, mac_eq,
    pad_m2, parse_hex, retail_mac, retail_mac_m2, session_key, unpad_m2, CryptoError, Key16,
    Padding,
};
pub use keyfile::{KeyFileError, KeyName, MasterKeys};
