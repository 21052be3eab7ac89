//! `epurse`: the epurse command line (teller, merchant, settlement and field-service tools).
//!
//! Each subcommand group lives in its own module under `host::cli`; this file only parses the
//! command line, dispatches, prints, and turns errors into exit codes (2 = bad usage).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use host::cli::{self, CliError};

#[derive(Debug, Parser)]
#[command(
    name = "epurse",
    version,
    about = "epurse e-Cash / Food-Voucher card system tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 3DES tools: retail MAC, key diversification, KCV.
    #[command(subcommand)]
    Crypto(cli::crypto::CryptoCmd),
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Crypto(cmd) => println!("{}", cli::crypto::run(&cmd)?),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("epurse: error: {err:#}");
            let code = err
                .downcast_ref::<CliError>()
                .map_or(1, CliError::exit_code);
            ExitCode::from(code)
        }
    }
}
