//! `epurse crypto`: the 3DES primitives of `sam::crypto` on the command line, for technicians
//! and for checking values by hand (MACs, card keys, KCVs). Output is upper-case hex on one line.
//!
//! Keys given on the command line are visible to other local users (process list, shell
//! history): use this with test keys, not production master keys.

use clap::{Subcommand, ValueEnum};
use sam::{diversify, retail_mac, Key16, Padding};
use zeroize::Zeroize;

use super::{hex_arg, hex_arg_exact, CliError};

#[derive(Debug, Subcommand)]
pub enum CryptoCmd {
    /// Retail MAC (ISO/IEC 9797-1 MAC algorithm 3, DES, IV zero) of --data under --key.
    Mac {
        /// Two-key 3DES key, 16 bytes (32 hex digits).
        #[arg(long, value_name = "HEX16")]
        key: String,
        /// The message, hex (may be empty with --padding m2).
        #[arg(long, value_name = "HEX")]
        data: String,
        /// m2: ISO/IEC 9797-1 padding method 2; none: data must be whole 8-byte blocks.
        #[arg(long, value_enum, default_value_t = PaddingArg::M2)]
        padding: PaddingArg,
    },
    /// Card key from a master key and an 8-byte diversifier (EMV option A, odd parity).
    Diversify {
        /// Master key, 16 bytes (32 hex digits).
        #[arg(long, value_name = "HEX16")]
        master: String,
        /// Diversifier (the card serial number), 8 bytes (16 hex digits).
        #[arg(long, value_name = "HEX8")]
        diversifier: String,
    },
    /// Key check value: first 3 bytes of the 3DES encryption of eight zero bytes.
    Kcv {
        /// Two-key 3DES key, 16 bytes (32 hex digits).
        #[arg(long, value_name = "HEX16")]
        key: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaddingArg {
    /// No padding.
    None,
    /// ISO/IEC 9797-1 padding method 2.
    M2,
}

impl From<PaddingArg> for Padding {
    fn from(p: PaddingArg) -> Self {
        match p {
            PaddingArg::None => Padding::None,
            PaddingArg::M2 => Padding::Method2,
        }
    }
}

fn key_arg(option: &str, value: &str) -> Result<Key16, CliError> {
    let mut bytes = hex_arg_exact::<16>(option, value)?;
    let key = Key16::from_bytes(bytes);
    bytes.zeroize();
    Ok(key)
}

/// Runs one `epurse crypto` command and returns the line to print.
pub fn run(cmd: &CryptoCmd) -> Result<String, CliError> {
    match cmd {
        CryptoCmd::Mac { key, data, padding } => {
            let key = key_arg("--key", key)?;
            let data = hex_arg("--data", data)?;
            let mac = retail_mac(&key, &data, (*padding).into()).map_err(|_| {
                CliError::Usage(format!(
                    "--data is {} bytes; with --padding none it must be a non-empty multiple \
                     of 8 bytes (or use --padding m2)",
                    data.len()
                ))
            })?;
            Ok(hex::encode_upper(mac))
        }
        CryptoCmd::Diversify {
            master,
            diversifier,
        } => {
            let master = key_arg("--master", master)?;
            let diversifier = hex_arg_exact::<8>("--diversifier", diversifier)?;
            let card_key = diversify(&master, &diversifier);
            Ok(hex::encode_upper(card_key.expose_secret()))
        }
        CryptoCmd::Kcv { key } => Ok(key_arg("--key", key)?.kcv_hex()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(key: &str, data: &str, padding: PaddingArg) -> Result<String, CliError> {
        run(&CryptoCmd::Mac {
            key: key.into(),
            data: data.into(),
            padding,
        })
    }

    #[test]
    fn mac_vectors_and_errors() {
        let hello = hex::encode(b"Hello World !!!!");
        assert_eq!(
            mac("7CA110454A1A6E570131D9619DC1376E", &hello, PaddingArg::None).unwrap(),
            "F09B856213BAB83B"
        );
        let err = mac("7CA110454A1A6E570131D9619DC1376E", "00", PaddingArg::None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--data is 1 bytes; with --padding none"),
            "{err}"
        );
        let err = mac("00", "00", PaddingArg::M2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--key must be 16 bytes (32 hex digits), got 1 byte"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
