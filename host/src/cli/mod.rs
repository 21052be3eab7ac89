//! The `epurse` command groups. Each group is a clap `Subcommand` enum with a `run` function in
//! its own module; the binary (`src/bin/epurse.rs`) only dispatches and maps errors to exit codes.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong (clap's own
//! parse errors also exit with 2).

use thiserror::Error;

pub mod crypto;

/// Errors a command group reports. Later groups add their own variants (card, transport, ...).
#[derive(Debug, Error)]
pub enum CliError {
    /// The arguments were wrong: what is wrong and what is expected. Exit code 2.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
        }
    }
}

/// Parses a hex argument (case-insensitive; spaces and colons between digits are ignored),
/// naming the option in the error.
pub fn hex_arg(option: &str, value: &str) -> Result<Vec<u8>, CliError> {
    sam::parse_hex(value).map_err(|e| CliError::Usage(format!("{option} is not valid hex: {e}")))
}

/// Parses a hex argument that must be exactly `N` bytes.
pub fn hex_arg_exact<const N: usize>(option: &str, value: &str) -> Result<[u8; N], CliError> {
    let bytes = hex_arg(option, value)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        CliError::Usage(format!(
            "{option} must be {N} bytes ({} hex digits), got {} byte{}",
            N * 2,
            bytes.len(),
            if bytes.len() == 1 { "" } else { "s" }
        ))
    })
}
