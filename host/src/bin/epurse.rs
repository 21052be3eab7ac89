//! `epurse`: the epurse command line (teller, merchant, settlement and field-service tools).
//!
//! Each subcommand group lives in its own module under `host::cli`; this file only parses the
//! command line, sets up the APDU trace (`-v`), dispatches, prints, and turns errors into exit
//! codes (documented in `host::cli` and in `--help`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgAction, Parser, Subcommand};
use host::cli::{self, CliError, Global, EXIT_CODES_HELP};

#[derive(Debug, Parser)]
#[command(
    name = "epurse",
    version,
    about = "epurse e-Cash / Food-Voucher card system tools",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    /// Reader: an index from `epurse reader list` or part of its name (default: the first
    /// reader holding a card).
    #[arg(long, global = true, env = "EPURSE_READER", value_name = "READER")]
    reader: Option<String>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// APDU trace on stderr (-v; PINs, keys and MACs redacted).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 3DES tools: retail MAC, key diversification, KCV.
    #[command(subcommand)]
    Crypto(cli::crypto::CryptoCmd),
    /// Readers: list, watch card events, ACS model/firmware/LED/buzzer.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Reader(cli::reader::ReaderCmd),
    /// Decode an ATR.
    #[command(subcommand)]
    Atr(cli::atr::AtrCmd),
    /// What an epurse card says about itself (info, log); the issuer's issue, block, unblock.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Card(cli::card::CardCmd),
    /// Raw APDUs: send, script, bench.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Apdu(cli::apdu::ApduCmd),
    /// Check pcscd, drivers, readers, cards and applets; each finding with what to do.
    #[command(after_help = EXIT_CODES_HELP)]
    Doctor,
    /// Customers of the back office: create, show.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Customer(cli::customer::CustomerCmd),
    /// Cash deposit into a customer's e-Cash or Food-Voucher account.
    #[command(after_help = EXIT_CODES_HELP)]
    Deposit(cli::customer::DepositArgs),
    /// A customer's account balances.
    #[command(after_help = EXIT_CODES_HELP)]
    Balance(cli::customer::BalanceArgs),
    /// Teller station (connected mode): load a purse, recover interrupted loads.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Teller(cli::teller::TellerCmd),
    /// Check value conservation over the whole ledger; exits 27 on any discrepancy.
    #[command(after_help = EXIT_CODES_HELP)]
    Audit(cli::audit::AuditArgs),
    /// The pocket reader (unconnected mode): type the bank's code, the card loads itself and
    /// shows its code for the bank.
    #[command(after_help = EXIT_CODES_HELP)]
    Pocket(cli::pocket::PocketArgs),
    /// Merchant terminal: sale, status, recover, transfer, ack.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Pos(cli::pos::PosCmd),
    /// Settlement station: upload a transfer card's batch; merchant statement; settlement report.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Settle(cli::settle::SettleCmd),
    /// The back-office HTTP API (serve) and its station tokens (add, list, revoke).
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Backoffice(cli::backoffice::BackofficeCmd),
}

/// Writes log records (the APDU trace) to stderr.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "[{}] {}",
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Runs the command; `Ok(code)` for commands that choose their own exit code (doctor).
fn run(cli: Cli) -> Result<u8> {
    let global = Global {
        reader: cli.reader,
        json: cli.json,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Crypto(cmd) => writeln!(out, "{}", cli::crypto::run(&cmd)?)?,
        Command::Atr(cmd) => writeln!(out, "{}", cli::atr::run(&cmd, &global)?)?,
        Command::Reader(cmd) => cli::reader::run(&cmd, &global, &mut out)?,
        Command::Card(cmd) => cli::card::run(&cmd, &global, &mut out)?,
        Command::Apdu(cmd) => cli::apdu::run(&cmd, &global, &mut out)?,
        Command::Doctor => return Ok(cli::doctor::run(&global, &mut out)?),
        Command::Customer(cmd) => cli::customer::run(&cmd, &global, &mut out)?,
        Command::Deposit(args) => cli::customer::run_deposit(&args, &global, &mut out)?,
        Command::Balance(args) => cli::customer::run_balance(&args, &global, &mut out)?,
        Command::Teller(cmd) => cli::teller::run(&cmd, &global, &mut out)?,
        Command::Audit(args) => cli::audit::run(&args, &global, &mut out)?,
        Command::Pos(cmd) => cli::pos::run(&cmd, &global, &mut out)?,
        Command::Pocket(args) => cli::pocket::run(&args, &global, &mut out)?,
        Command::Settle(cmd) => cli::settle::run(&cmd, &global, &mut out)?,
        Command::Backoffice(cmd) => cli::backoffice::run(&cmd, &global, &mut out)?,
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose > 0 && log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(if cli.verbose > 1 {
            log::LevelFilter::Trace
        } else {
            log::LevelFilter::Debug
        });
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("epurse: error: {err:#}");
            let code = err
                .downcast_ref::<CliError>()
                .map_or(1, CliError::exit_code);
            ExitCode::from(code)
        }
    }
}
