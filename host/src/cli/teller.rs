//! `epurse teller load|recover` and `epurse card issue|block|unblock`: the connected-mode
//! teller workflows ([`crate::teller`]) over the embedded back office and a PC/SC reader.
//!
//! Back-office location (every command of this module and of `customer`, `deposit`,
//! `balance`, `audit`): `--db PATH` / `EPURSE_DB` and `--keys PATH` / `EPURSE_KEYS`, else the
//! files in the installation home ([`crate::config`]).
//!
//! Test hook (documented, for the crash tests): with `EPURSE_TEST_PAUSE_AT=after_begin_load`
//! (or `after_credit_load`) a load prints `epurse: test hook: paused at NAME` on stderr when it
//! reaches that point and sleeps `EPURSE_TEST_PAUSE_MS` milliseconds (default 60000) so that a
//! test can kill the process there. Without the variable nothing pauses.
//!
//! JSON output (`--json`):
//!
//! - `teller load`: `{"load_id", "serial", "customer", "purse", "amount", "balance" (card,
//!   after), "counter", "datetime", "terminal", "expiry", "account_balance", "currency",
//!   "recovered": [R]}` with `R = {"load_id", "purse", "amount", "counter", "state",
//!   "outcome", "detail"}`; amounts in minor units. With `--repeat N`: `{"loads", "seconds",
//!   "loads_per_second"}`.
//! - `teller recover`: `{"serial" (or null for a blank card), "recovered": [R], "unsettled"}`.
//! - `card issue`: `{"serial", "customer", "key_version", "status", "resumed", "pin"
//!   (only when generated)}`.
//! - `card block|unblock`: `{"serial", "customer", "status", "card_changed"}`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apdu_spec::{Date, Limits, Mcc, MccAllowlist, PinBlock, Purse, Serial, TerminalId};
use backoffice::client::{BackofficeClient, Trust};
use backoffice::{
    Backoffice, CardProfile, CardStatus, Config, Currency, CustomerId, IssuerSecurityModule,
    LoadOutcome, MinorUnits,
};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::{connect, to_json, CliError, Global};
use super::{
    EXIT_CARD_BLOCKED, EXIT_INSUFFICIENT_FUNDS, EXIT_MAC_FAILURE, EXIT_OTHER_REFUSAL,
    EXIT_OVER_LIMIT, EXIT_PENDING, EXIT_UNKNOWN,
};
use crate::card::CardClient;
use crate::config;
use crate::teller::{self, IssueOrder, LoadOrder, Office, Recovered, RefusalKind, TellerError};
use crate::transport::Transport;

/// Where the back office's files are (flattened into every back-office command).
#[derive(Debug, Clone, Default, Args)]
pub struct OfficeArgs {
    /// Ledger file (default: EPURSE_HOME/backoffice.db).
    #[arg(long, value_name = "PATH", env = "EPURSE_DB")]
    pub db: Option<PathBuf>,
    /// Issuer master-key file (default: EPURSE_HOME/master-keys.json).
    #[arg(long, value_name = "PATH", env = "EPURSE_KEYS")]
    pub keys: Option<PathBuf>,
    /// A remote back office instead of the ledger file.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// A remote back office (`epurse backoffice serve` on another machine).
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Use the back office at this URL (`https://HOST:PORT`) instead of the ledger file
    /// (teller, customer and card commands; `epurse settle upload`).
    #[arg(long = "backoffice", value_name = "URL", env = "EPURSE_BACKOFFICE")]
    pub url: Option<String>,
    /// The station token (from `epurse backoffice token add`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "EPURSE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The server's certificate to pin (PEM; for `serve --dev-tls` the file
    /// `backoffice-dev-cert.pem` next to the ledger).
    #[arg(long, value_name = "PEM", env = "EPURSE_CA")]
    pub ca: Option<PathBuf>,
}

/// The HTTP client for `--backoffice URL`, or `None` without it.
pub fn remote_client(args: &RemoteArgs) -> Result<Option<BackofficeClient>, CliError> {
    let Some(url) = args.url.as_deref() else {
        return Ok(None);
    };
    let token = args.token.as_deref().ok_or_else(|| {
        CliError::Usage(
            "--backoffice needs the station token: pass --token TOKEN or set EPURSE_TOKEN (an operator creates one with `epurse backoffice token add`)".to_owned(),
        )
    })?;
    let ca = args.ca.as_deref().ok_or_else(|| {
        CliError::Usage(
            "--backoffice needs the server's certificate to pin: pass --ca PEM or set EPURSE_CA (for `serve --dev-tls`, copy backoffice-dev-cert.pem from next to the server's ledger)".to_owned(),
        )
    })?;
    let trust = Trust::pinned_file(ca)
        .map_err(|e| CliError::Usage(format!("--ca {}: {e}", ca.display())))?;
    BackofficeClient::new(url, token, trust)
        .map(Some)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The back office the teller, customer and card commands talk to: the remote one with
/// `--backoffice URL`, else the embedded ledger ([`open_office`]).
pub fn office(args: &OfficeArgs) -> Result<Box<dyn Office>, CliError> {
    match remote_client(&args.remote)? {
        Some(client) => {
            let office = teller::RemoteOffice::connect(client).map_err(|e| match e {
                teller::OfficeError::Unreachable(m) => CliError::Office(m),
                other => CliError::Office(other.to_string()),
            })?;
            Ok(Box::new(office))
        }
        None => Ok(Box::new(open_office(args)?)),
    }
}

/// Opens the embedded back office: master keys (KCV-checked) and the ledger (created with its
/// directory when missing). Refused with `--backoffice URL` (commands that need the ledger file
/// itself run on the back-office machine).
pub fn open_office(args: &OfficeArgs) -> Result<Backoffice, CliError> {
    if let Some(url) = &args.remote.url {
        return Err(CliError::Usage(format!(
            "this command works on the ledger file itself and cannot use the back office at {url}: run it on the back-office machine without --backoffice (unset EPURSE_BACKOFFICE)"
        )));
    }
    let office = |e: &dyn std::fmt::Display| CliError::Office(e.to_string());
    let keys = config::existing_keys_path(args.keys.as_deref()).map_err(|e| office(&e))?;
    let db = config::db_path(args.db.as_deref()).map_err(|e| office(&e))?;
    config::ensure_parent(&db).map_err(|e| office(&e))?;
    let ism = IssuerSecurityModule::from_key_file(&keys)
        .map_err(|e| CliError::Office(format!("master-key file {}: {e}", keys.display())))?;
    Backoffice::open(&db, Arc::new(ism), &Config::default())
        .map_err(|e| CliError::Office(format!("ledger {}: {e}", db.display())))
}

/// A back-office error outside the workflows: refusals by family, the rest as failures.
pub fn office_error(currency: &Currency, e: impl Into<teller::OfficeError>) -> CliError {
    match e.into() {
        teller::OfficeError::Backoffice(backoffice::Error::Invalid(msg)) => CliError::Usage(msg),
        other => TellerError::from_office(currency, other).into(),
    }
}

/// The exit code of a teller error (see the table in [`crate::cli`]).
pub fn exit_code(e: &TellerError) -> u8 {
    match e {
        TellerError::Refused { kind, .. } => match kind {
            RefusalKind::InsufficientFunds => EXIT_INSUFFICIENT_FUNDS,
            RefusalKind::CardBlocked => EXIT_CARD_BLOCKED,
            RefusalKind::OverLimit => EXIT_OVER_LIMIT,
            RefusalKind::Unknown => EXIT_UNKNOWN,
            RefusalKind::MacFailure => EXIT_MAC_FAILURE,
            RefusalKind::PendingLoad => EXIT_PENDING,
            RefusalKind::Other => EXIT_OTHER_REFUSAL,
        },
        TellerError::Interrupted(_) => EXIT_PENDING,
        TellerError::Card(c) => CliError::Card(c.clone()).exit_code(),
        TellerError::Office(teller::OfficeError::Unreachable(_)) => super::EXIT_OFFICE,
        TellerError::Office(_) => super::EXIT_FAILED,
        TellerError::Invalid(_) => super::EXIT_USAGE,
    }
}

/// Parses an amount in the installation currency (`500.00`).
pub fn parse_amount(currency: &Currency, option: &str, text: &str) -> Result<MinorUnits, CliError> {
    currency.parse(text).map_err(|e| {
        CliError::Usage(format!(
            "{option} {text:?}: {e}; write the amount in {currency} like 500.00"
        ))
    })
}

/// A purse on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PurseArg {
    /// The e-Cash purse.
    Ecash,
    /// The Food-Voucher purse.
    Food,
}

impl From<PurseArg> for Purse {
    fn from(p: PurseArg) -> Purse {
        match p {
            PurseArg::Ecash => Purse::Ecash,
            PurseArg::Food => Purse::Food,
        }
    }
}

/// `ecash` / `food`, as in JSON output.
pub fn purse_name(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "ecash",
        Purse::Food => "food",
    }
}

fn purse_title(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "e-Cash",
        Purse::Food => "Food-Voucher",
    }
}

/// `epurse teller ...`
#[derive(Debug, Subcommand)]
pub enum TellerCmd {
    /// Load a purse of the card in the reader from the customer's account (recovers any
    /// pending load of the card first).
    Load(LoadArgs),
    /// Settle every pending load of the card in the reader from the card's evidence.
    Recover(RecoverArgs),
}

/// `epurse teller load`
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Which purse.
    #[arg(long, value_enum)]
    pub purse: PurseArg,
    /// Amount in the installation currency, e.g. 500.00.
    #[arg(long)]
    pub amount: String,
    /// Voucher expiry YYYY-MM-DD (Food-Voucher loads; required there).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expiry: Option<String>,
    /// This station's terminal id (12 hex digits), written into the card's log.
    #[arg(long, env = "EPURSE_TERMINAL", default_value = "000000000001")]
    pub terminal: String,
    /// Benchmark: run the same load N times in this process and print loads per second.
    #[arg(long, hide = true, default_value_t = 1)]
    pub repeat: u32,
    /// Unconnected mode (no card reader here): reserve the load, print the code the
    /// cardholder types into the pocket reader, then take the code the card shows back.
    #[arg(long, requires = "card")]
    pub unconnected: bool,
    /// The card's serial (unconnected mode).
    #[arg(long, value_name = "SERIAL", requires = "unconnected")]
    pub card: Option<String>,
    /// The code the card showed (unconnected mode); without it the command asks for it.
    #[arg(long, value_name = "CODE", requires = "unconnected")]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// `epurse teller recover`
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Settle the card's unconnected loads (pocket reader) from its TT 04 log entries.
    #[arg(long)]
    pub unconnected: bool,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// The test hook of the module documentation.
fn env_checkpoint(point: &'static str) {
    if std::env::var("EPURSE_TEST_PAUSE_AT").ok().as_deref() == Some(point) {
        let ms = std::env::var("EPURSE_TEST_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(60_000);
        eprintln!("epurse: test hook: paused at {point}");
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

fn recovered_json(r: &Recovered) -> Value {
    let (outcome, detail) = match &r.outcome {
        Ok(o) => (outcome_name(*o), Value::Null),
        Err(why) => ("unsettled", Value::String(why.clone())),
    };
    json!({
        "load_id": r.load.id.0,
        "purse": purse_name(r.load.purse),
        "amount": r.load.amount,
        "counter": r.load.counter,
        "state": r.load.state.as_str(),
        "outcome": outcome,
        "detail": detail,
    })
}

fn outcome_name(o: LoadOutcome) -> &'static str {
    match o {
        LoadOutcome::Completed => "completed",
        LoadOutcome::AlreadyCompleted => "already_completed",
        LoadOutcome::Released => "released",
        LoadOutcome::AlreadyReleased => "already_released",
        LoadOutcome::Escalated => "escalated",
    }
}

fn recovered_text(currency: &Currency, r: &Recovered) -> String {
    let what = format!(
        "pending load {} ({} {}, counter {})",
        r.load.id,
        currency.display(r.load.amount),
        purse_title(r.load.purse),
        r.load.counter
    );
    match &r.outcome {
        Ok(LoadOutcome::Completed | LoadOutcome::AlreadyCompleted) => {
            format!("{what}: the card had credited it; completed")
        }
        Ok(LoadOutcome::Released | LoadOutcome::AlreadyReleased) => {
            format!("{what}: the card never credited it; released, funds back in the account")
        }
        Ok(LoadOutcome::Escalated) => format!(
            "{what}: ESCALATED — the card's log no longer holds it; funds stay reserved until the issuer reconciles it"
        ),
        Err(why) => format!("{what}: NOT SETTLED — {why}"),
    }
}

/// Runs `epurse teller ...`.
pub fn run(cmd: &TellerCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        TellerCmd::Load(args) => run_load(args, global, out),
        TellerCmd::Recover(args) => run_recover(args, global, out),
    }
}

fn run_load(args: &LoadArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    if args.unconnected {
        return super::pocket::run_teller_unconnected(args, global, out);
    }
    let mut office = office(&args.office)?;
    let currency = office.currency();
    let amount = parse_amount(&currency, "--amount", &args.amount)?;
    let expiry = args
        .expiry
        .as_deref()
        .map(|t| {
            t.parse::<Date>().map_err(|e| {
                CliError::Usage(format!("--expiry {t:?}: {e}; write the date as YYYY-MM-DD"))
            })
        })
        .transpose()?;
    let terminal: TerminalId = args.terminal.parse().map_err(|e| {
        CliError::Usage(format!(
            "--terminal {:?}: {e}; a terminal id is 12 hex digits",
            args.terminal
        ))
    })?;
    let order = LoadOrder {
        purse: args.purse.into(),
        amount,
        expiry,
        terminal,
    };
    if args.repeat == 0 {
        return Err(CliError::Usage("--repeat must be at least 1".to_owned()));
    }
    let (reader, mut transport) = connect(global)?;
    if args.repeat > 1 {
        let started = Instant::now();
        for _ in 0..args.repeat {
            let mut tx = transport.transaction()?;
            let mut card = CardClient::new(&mut *tx);
            teller::load(&mut *office, &mut card, &order, &mut env_checkpoint)?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = f64::from(args.repeat) / seconds;
        let text = if global.json {
            to_json(&json!({"loads": args.repeat, "seconds": seconds, "loads_per_second": rate}))?
        } else {
            format!(
                "{} completed loads in {seconds:.3} s: {rate:.1} loads/s ({:.2} ms per load) on {}",
                args.repeat,
                1000.0 * seconds / f64::from(args.repeat),
                reader.name
            )
        };
        return writeln!(out, "{text}").map_err(io);
    }
    let mut tx = transport.transaction()?;
    let mut card = CardClient::new(&mut *tx);
    let result = teller::load(&mut *office, &mut card, &order, &mut env_checkpoint);
    let receipt = result?;
    let load = &receipt.load;
    let balance = load.balance_after.unwrap_or_default();
    let text = if global.json {
        to_json(&json!({
            "load_id": load.id.0,
            "serial": load.serial.to_string(),
            "customer": receipt.customer.0,
            "purse": purse_name(load.purse),
            "amount": load.amount,
            "balance": balance,
            "counter": load.counter,
            "datetime": load.datetime.to_string(),
            "terminal": load.terminal.to_string(),
            "expiry": load.expiry.map(|d| d.to_string()),
            "account_balance": receipt.account_balance,
            "currency": currency.code(),
            "recovered": receipt.recovered.iter().map(recovered_json).collect::<Vec<_>>(),
        }))?
    } else {
        let mut t = String::new();
        for r in &receipt.recovered {
            t += &recovered_text(&currency, r);
            t += "\n";
        }
        t += &format!(
            "LOAD RECEIPT (load {})\n\
             card      {}\n\
             purse     {}\n\
             amount    {}\n\
             balance   {} on the card (load counter {})\n",
            load.id,
            load.serial,
            purse_title(load.purse),
            currency.display(load.amount),
            currency.display(balance),
            load.counter
        );
        if let Some(exp) = load.expiry {
            t += &format!("expiry    {exp}\n");
        }
        t += &format!(
            "customer  {} ({} account now {})\n\
             date      {}, terminal {}",
            receipt.customer,
            purse_title(load.purse),
            currency.display(receipt.account_balance),
            load.datetime,
            load.terminal
        );
        t
    };
    writeln!(out, "{text}").map_err(io)
}

fn run_recover(args: &RecoverArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    if args.unconnected {
        return super::pocket::run_recover_unconnected(&args.office, global, out);
    }
    let mut office = office(&args.office)?;
    let currency = office.currency();
    let (_reader, mut transport) = connect(global)?;
    let mut tx = transport.transaction()?;
    let mut card = CardClient::new(&mut *tx);
    let report = teller::recover(&mut *office, &mut card)?;
    let unsettled = report.unsettled();
    let text = if global.json {
        to_json(&json!({
            "serial": report.serial.map(|s| s.to_string()),
            "recovered": report.recovered.iter().map(recovered_json).collect::<Vec<_>>(),
            "unsettled": unsettled,
        }))?
    } else {
        match report.serial {
            None => "the card is blank: no loads to recover".to_owned(),
            Some(serial) if report.recovered.is_empty() => {
                format!("card {serial}: no pending loads")
            }
            Some(serial) => {
                let mut t = format!("card {serial}:");
                for r in &report.recovered {
                    t += "\n  ";
                    t += &recovered_text(&currency, r);
                }
                t
            }
        }
    };
    writeln!(out, "{text}").map_err(io)?;
    if unsettled > 0 {
        return Err(TellerError::refused(
            RefusalKind::PendingLoad,
            format!(
                "{unsettled} load(s) of this card remain unsettled: the card's evidence cannot settle them; refer to the issuer"
            ),
        )
        .into());
    }
    Ok(())
}

// ---- card issue / block / unblock -----------------------------------------------------------

/// `epurse card issue`
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The customer the card is for (`epurse customer create`).
    #[arg(long)]
    pub customer: i64,
    /// Initial cardholder PIN, 4 to 8 digits (default: a random 4-digit PIN, printed once).
    #[arg(long)]
    pub pin: Option<String>,
    /// e-Cash maximum balance.
    #[arg(long, default_value = "10000.00")]
    pub ecash_max_balance: String,
    /// e-Cash maximum per transaction.
    #[arg(long, default_value = "5000.00")]
    pub ecash_max_amount: String,
    /// Food-Voucher maximum balance.
    #[arg(long, default_value = "10000.00")]
    pub food_max_balance: String,
    /// Food-Voucher maximum per transaction.
    #[arg(long, default_value = "5000.00")]
    pub food_max_amount: String,
    /// Purchases above this need the PIN.
    #[arg(long, default_value = "500.00")]
    pub no_pin_limit: String,
    /// Maximum amount of one unconnected load.
    #[arg(long, default_value = "2000.00")]
    pub uc_max: String,
    /// PIN tries before the PIN blocks (1..15).
    #[arg(long, default_value_t = 3)]
    pub pin_tries: u8,
    /// Wrong unconnected-load codes before unconnected loading is disabled (1..15).
    #[arg(long, default_value_t = 3)]
    pub uc_attempts: u8,
    /// Merchant categories (MCC, 4 digits) where Food Vouchers may be spent, comma-separated
    /// (at most 8).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5411,5422,5441,5451,5462,5499,5812,5814"
    )]
    pub food_mcc: Vec<String>,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// `epurse card block|unblock`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// A lost card (not in a reader): block it in the registry only, by serial (16 hex
    /// digits); every load is refused from then on.
    #[arg(long)]
    pub serial: Option<String>,
    #[command(flatten)]
    pub office: OfficeArgs,
}

fn random_pin() -> Result<String, CliError> {
    use std::io::Read;
    let mut f = std::fs::File::open("/dev/urandom").map_err(|e| {
        CliError::Failed(format!(
            "cannot read /dev/urandom for a PIN: {e}; pass --pin"
        ))
    })?;
    loop {
        let mut b = [0u8; 2];
        f.read_exact(&mut b).map_err(|e| {
            CliError::Failed(format!(
                "cannot read /dev/urandom for a PIN: {e}; pass --pin"
            ))
        })?;
        let v = u16::from_be_bytes(b);
        if v < 60_000 {
            return Ok(format!("{:04}", v % 10_000));
        }
    }
}

fn limit_amount(
    currency: &Currency,
    option: &str,
    text: &str,
) -> Result<apdu_spec::Amount, CliError> {
    let units = parse_amount(currency, option, text)?;
    u32::try_from(units)
        .ok()
        .and_then(|u| apdu_spec::Amount::new(u).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{option} {text}: a card limit is 0 to {}",
                currency.format(i64::from(i32::MAX))
            ))
        })
}

fn profile(
    args: &IssueArgs,
    currency: &Currency,
) -> Result<(CardProfile, Option<String>), CliError> {
    let limits = Limits {
        ecash_max_balance: limit_amount(currency, "--ecash-max-balance", &args.ecash_max_balance)?,
        ecash_max_amount: limit_amount(currency, "--ecash-max-amount", &args.ecash_max_amount)?,
        food_max_balance: limit_amount(currency, "--food-max-balance", &args.food_max_balance)?,
        food_max_amount: limit_amount(currency, "--food-max-amount", &args.food_max_amount)?,
        no_pin_limit: limit_amount(currency, "--no-pin-limit", &args.no_pin_limit)?,
        uc_max: limit_amount(currency, "--uc-max", &args.uc_max)?,
    };
    limits.validate().map_err(|e| {
        CliError::Usage(format!(
            "card limits: {e} (a maximum per transaction may not exceed the maximum balance)"
        ))
    })?;
    let (pin_text, generated) = match &args.pin {
        Some(p) => (p.clone(), None),
        None => {
            let p = random_pin()?;
            (p.clone(), Some(p))
        }
    };
    let pin = PinBlock::from_digits(&pin_text)
        .map_err(|_| CliError::Usage("--pin must be 4 to 8 digits".to_owned()))?;
    for (option, v) in [
        ("--pin-tries", args.pin_tries),
        ("--uc-attempts", args.uc_attempts),
    ] {
        if !(1..=15).contains(&v) {
            return Err(CliError::Usage(format!(
                "{option} must be 1 to 15, got {v}"
            )));
        }
    }
    let mut mccs = Vec::new();
    for text in args
        .food_mcc
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        mccs.push(text.parse::<Mcc>().map_err(|e| {
            CliError::Usage(format!("--food-mcc {text:?}: {e}; an MCC is 4 digits"))
        })?);
    }
    let food_mccs = MccAllowlist::new(&mccs)
        .map_err(|e| CliError::Usage(format!("--food-mcc: {e} (at most 8 categories)")))?;
    Ok((
        CardProfile {
            limits,
            pin,
            pin_try_limit: args.pin_tries,
            uc_limit: args.uc_attempts,
            food_mccs,
        },
        generated,
    ))
}

/// Runs `epurse card issue`.
pub fn card_issue(args: &IssueArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let mut office = office(&args.office)?;
    let currency = office.currency();
    let (profile, generated_pin) = profile(args, &currency)?;
    let order = IssueOrder {
        customer: CustomerId(args.customer),
        profile,
    };
    let (_reader, mut transport) = connect(global)?;
    let mut tx = transport.transaction()?;
    let mut card = CardClient::new(&mut *tx);
    let report = teller::issue(&mut *office, &mut card, &order)?;
    let c = &report.card;
    let text = if global.json {
        let mut v = json!({
            "serial": c.serial.to_string(),
            "customer": c.customer.0,
            "key_version": c.key_version,
            "status": c.status.as_str(),
            "resumed": report.resumed,
        });
        if let (Some(pin), false) = (&generated_pin, report.resumed) {
            v["pin"] = Value::String(pin.clone());
        }
        to_json(&v)?
    } else {
        let mut t = format!(
            "card {} issued to customer {} ({}key version {})",
            c.serial,
            c.customer,
            if report.resumed {
                "resumed an interrupted issue; "
            } else {
                ""
            },
            c.key_version
        );
        if let (Some(pin), false) = (&generated_pin, report.resumed) {
            t += &format!(
                "\ninitial PIN {pin}: give it to the cardholder; it is not stored anywhere"
            );
        }
        t
    };
    writeln!(out, "{text}").map_err(io)
}

fn admin_text(c: &backoffice::Card, changed: bool, verb: &str) -> String {
    format!(
        "card {} (customer {}) is {}{}",
        c.serial,
        c.customer,
        c.status.as_str(),
        if changed {
            format!(" ({verb} on the card and in the registry)")
        } else {
            " (the card already was; registry updated)".to_owned()
        }
    )
}

/// Runs `epurse card block` (`unblock == false`) or `epurse card unblock`.
pub fn card_admin(
    args: &AdminArgs,
    unblock: bool,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut office = office(&args.office)?;
    let currency = office.currency();
    let (card, changed) = match &args.serial {
        Some(text) => {
            if unblock {
                return Err(CliError::Usage(
                    "unblocking needs the card in a reader (APPLICATION UNBLOCK): drop --serial"
                        .to_owned(),
                ));
            }
            let serial: Serial = text.parse().map_err(|e| {
                CliError::Usage(format!("--serial {text:?}: {e}; a serial is 16 hex digits"))
            })?;
            let card = office
                .set_card_status(&serial, CardStatus::Blocked)
                .map_err(|e| office_error(&currency, e))?;
            (card, false)
        }
        None => {
            let (_reader, mut transport) = connect(global)?;
            let mut tx = transport.transaction()?;
            let mut client = CardClient::new(&mut *tx);
            let report = if unblock {
                teller::unblock(&mut *office, &mut client)?
            } else {
                teller::block(&mut *office, &mut client)?
            };
            (report.card, report.card_changed)
        }
    };
    let text = if global.json {
        to_json(&json!({
            "serial": card.serial.to_string(),
            "customer": card.customer.0,
            "status": card.status.as_str(),
            "card_changed": changed,
        }))?
    } else if args.serial.is_some() {
        format!(
            "card {} (customer {}) is blocked in the registry: every load is refused; block the card itself when it is presented (`epurse card block`)",
            card.serial, card.customer
        )
    } else {
        admin_text(
            &card,
            changed,
            if unblock { "unblocked" } else { "blocked" },
        )
    };
    writeln!(out, "{text}").map_err(io)
}
