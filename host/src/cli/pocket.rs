//! Unconnected mode on the command line (`docs/unconnected.md`):
//!
//! - `epurse teller load --unconnected --card SERIAL --purse ecash|food --amount A
//!   [--expiry D] [--confirm CODE]`: reserves the load in the embedded back office, prints
//!   `Code for the pocket reader: 123 456 789`, then asks `Code shown by the card:` (or takes
//!   `--confirm`) and completes the load. A code with a typing error (check digit) or a code
//!   that does not match is asked again; at the end of input the load stays pending (exit 25)
//!   and the same command later shows the same code and completes it.
//! - `epurse pocket [--purse P] [--amount A] [--expiry D] [--code CODE] [--datetime T]`: the
//!   pocket reader, with the card in `--reader`: asks for what is not given, checks the typed
//!   code's check digit before anything is sent (a typo costs no try), sends UNCONNECTED LOAD
//!   with its own date and time and prints `Code for the bank: 987 654 321`. A wrong code
//!   costs a try: `wrong code (63C2): ... 2 tries left` (exit 24); unconnected loading
//!   disabled: exit 26.
//! - `epurse teller recover --unconnected`: settles the unconnected loads of the card in the
//!   reader from its evidence (GET STATUS, GET TRANSACTION PROOF with TT `04`): completed when
//!   the card's log proves the load, released when the card never used the code, escalated when
//!   the log no longer holds it (exit 25 while any stays unsettled).
//!
//! Prompts go to stdout in text mode and to stderr with `--json` (stdout then holds one JSON
//! object). JSON: `teller load --unconnected`: `{"load_id", "serial", "purse", "amount",
//! "counter", "expiry", "auth_code", "state", "outcome", "currency"}`; `pocket`:
//! `{"purse", "amount", "balance", "confirm_code", "datetime"}` (amounts in minor
//! units, codes in their grouped form).

use std::io::{BufRead, Write};

use apdu_spec::{Amount, Date, DateTime, Purse, Serial};
use backoffice::{Config, Currency, LoadOutcome, LoadState};
use clap::Args;
use serde_json::json;

use super::teller::{open_office, parse_amount, purse_name, LoadArgs, PurseArg};
use super::{connect, to_json, CliError, Global};
use crate::card::CardClient;
use crate::teller::unconnected::{self, PocketOrder, PocketOutcome, TypedCode, UnconnectedOrder};
use crate::teller::{RefusalKind, TellerError};
use crate::transport::Transport;

/// `epurse pocket`
#[derive(Debug, Args)]
pub struct PocketArgs {
    /// Which purse (asked when missing).
    #[arg(long, value_enum)]
    pub purse: Option<PurseArg>,
    /// Amount, e.g. 150.00 (asked when missing).
    #[arg(long)]
    pub amount: Option<String>,
    /// Voucher expiry YYYY-MM-DD (Food-Voucher loads; asked when missing).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expiry: Option<String>,
    /// The code from the bank (asked when missing).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// The pocket reader's date and time (default: the system clock, UTC).
    #[arg(long, value_name = "YYYY-MM-DDThh:mm:ss")]
    pub datetime: Option<String>,
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot read or write the terminal: {e}"))
}

/// Asks questions on a terminal: prompts to `out` (or stderr in JSON mode), answers from `input`.
struct Prompter<'a> {
    input: Box<dyn BufRead + 'a>,
    json: bool,
}

impl Prompter<'_> {
    fn say(&self, out: &mut dyn Write, text: &str) -> Result<(), CliError> {
        if self.json {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{text}").map_err(io)
        } else {
            writeln!(out, "{text}").map_err(io)?;
            out.flush().map_err(io)
        }
    }

    /// One answer, trimmed; `None` at the end of input.
    fn ask(&mut self, out: &mut dyn Write, prompt: &str) -> Result<Option<String>, CliError> {
        if self.json {
            let mut err = std::io::stderr().lock();
            write!(err, "{prompt} ").map_err(io)?;
            err.flush().map_err(io)?;
        } else {
            write!(out, "{prompt} ").map_err(io)?;
            out.flush().map_err(io)?;
        }
        let mut line = String::new();
        if self.input.read_line(&mut line).map_err(io)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim().to_owned()))
    }

    /// Asks until `parse` accepts the answer; each refusal is shown and asked again.
    fn ask_until<T>(
        &mut self,
        out: &mut dyn Write,
        prompt: &str,
        what: &str,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Result<T, CliError> {
        loop {
            let Some(answer) = self.ask(out, prompt)? else {
                return Err(CliError::Usage(format!(
                    "no {what} was given (end of input); pass it as an option or type it at the prompt"
                )));
            };
            match parse(&answer) {
                Ok(v) => return Ok(v),
                Err(why) => self.say(out, &why)?,
            }
        }
    }
}

fn parse_expiry(text: &str) -> Result<Date, String> {
    text.parse::<Date>()
        .map_err(|e| format!("expiry {text:?}: {e}; write the date as YYYY-MM-DD"))
}

fn purse_title(p: Purse) -> &'static str {
    match p {
        Purse::Ecash => "e-Cash",
        Purse::Food => "Food-Voucher",
    }
}

fn code_text(code: u32) -> Result<String, CliError> {
    TypedCode::new(code)
        .map(|c| c.to_string())
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// `epurse teller load --unconnected ...` (see the module documentation).
pub fn run_teller_unconnected(
    args: &LoadArgs,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if args.office.remote.url.is_some() {
        return Err(CliError::Usage(
            "unconnected loads are made on the back office's own ledger: run this command where the ledger is (without --backoffice)".to_owned(),
        ));
    }
    let serial_text = args.card.as_deref().unwrap_or_default();
    let serial: Serial = serial_text.parse().map_err(|e| {
        CliError::Usage(format!(
            "--card {serial_text:?}: {e}; give the card's serial as `epurse card info` shows it"
        ))
    })?;
    let confirm_arg = args
        .confirm
        .as_deref()
        .map(|t| TypedCode::parse(t).map_err(|e| CliError::Usage(format!("--confirm {t:?}: {e}"))))
        .transpose()?;
    let mut office = open_office(&args.office)?;
    let currency = office.currency();
    let amount = parse_amount(&currency, "--amount", &args.amount)?;
    let expiry = args
        .expiry
        .as_deref()
        .map(|t| parse_expiry(t).map_err(|e| CliError::Usage(format!("--expiry: {e}"))))
        .transpose()?;
    let order = UnconnectedOrder {
        serial,
        purse: args.purse.into(),
        amount,
        expiry,
    };
    let auth = unconnected::begin(&mut office, &order)?;
    let auth_code = code_text(auth.auth_code)?;
    let stdin = std::io::stdin();
    let mut prompter = Prompter {
        input: Box::new(stdin.lock()),
        json: global.json,
    };
    let mut head = format!(
        "UNCONNECTED LOAD (load {}){}\n\
         card      {}\n\
         purse     {}\n\
         amount    {} (load counter {})",
        auth.load_id,
        if auth.replayed {
            ", reserved earlier"
        } else {
            " reserved"
        },
        auth.serial,
        purse_title(auth.purse),
        currency.display(amount),
        auth.counter
    );
    if let Some(exp) = auth.expiry {
        head += &format!("\nexpiry    {exp}");
    }
    head += &format!("\nCode for the pocket reader: {auth_code}");
    prompter.say(out, &head)?;

    let resolution = if auth.state == LoadState::Completed {
        None
    } else {
        let mut typed = confirm_arg;
        loop {
            let code = match typed.take() {
                Some(c) => c,
                None => match prompter.ask(out, "Code shown by the card:")? {
                    None => {
                        return Err(TellerError::refused(
                            RefusalKind::PendingLoad,
                            format!(
                                "no confirmation code was typed: load {} stays pending with its funds reserved; when the card shows its code, run the same command again (it shows the same code) with --confirm CODE, or present the card at a teller (`epurse teller recover`)",
                                auth.load_id
                            ),
                        )
                        .into())
                    }
                    Some(text) => match TypedCode::parse(&text) {
                        Ok(c) => c,
                        Err(e) => {
                            prompter.say(out, &e.to_string())?;
                            continue;
                        }
                    },
                },
            };
            match unconnected::confirm(&mut office, auth.load_id, code) {
                Ok(r) => break Some(r),
                Err(TellerError::Refused {
                    kind: RefusalKind::MacFailure,
                    message,
                }) if args.confirm.is_none() => prompter.say(out, &message)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let outcome = resolution
        .as_ref()
        .map_or(LoadOutcome::AlreadyCompleted, |r| r.outcome);
    let text = if global.json {
        to_json(&json!({
            "load_id": auth.load_id.0,
            "serial": auth.serial.to_string(),
            "purse": purse_name(auth.purse),
            "amount": amount,
            "counter": auth.counter,
            "expiry": auth.expiry.map(|d| d.to_string()),
            "auth_code": auth_code,
            "state": "completed",
            "outcome": match outcome {
                LoadOutcome::Completed => "completed",
                _ => "already_completed",
            },
            "currency": currency.code(),
        }))?
    } else {
        format!(
            "CONFIRMED: load {} completed; {} is on the card's {} purse",
            auth.load_id,
            currency.display(amount),
            purse_title(auth.purse)
        )
    };
    writeln!(out, "{text}").map_err(io)
}

fn pocket_now(args: &PocketArgs) -> Result<DateTime, CliError> {
    if let Some(text) = &args.datetime {
        return text.parse::<DateTime>().map_err(|e| {
            CliError::Usage(format!(
                "--datetime {text:?}: {e}; write it as YYYY-MM-DDThh:mm:ss"
            ))
        });
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    backoffice::clock::datetime_at(unix, 0)
        .ok_or_else(|| CliError::Failed("the system clock is out of range; fix it".into()))
}

fn pocket_amount(currency: &Currency, text: &str) -> Result<Amount, String> {
    let units = currency
        .parse(text)
        .map_err(|e| format!("amount {text:?}: {e}; write it like 150.00"))?;
    if units <= 0 {
        return Err("the amount must be positive".to_owned());
    }
    u32::try_from(units)
        .ok()
        .and_then(|v| Amount::new(v).ok())
        .ok_or_else(|| format!("amount {text:?} is more than a card can hold"))
}

/// `epurse pocket` (see the module documentation).
pub fn run(args: &PocketArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    // The pocket reader has no ledger; it shows amounts in the default installation currency.
    let currency = Config::default().currency;
    let datetime = pocket_now(args)?;
    let stdin = std::io::stdin();
    let mut prompter = Prompter {
        input: Box::new(stdin.lock()),
        json: global.json,
    };
    let (reader, mut transport) = connect(global)?;
    prompter.say(out, &format!("POCKET READER (card in {})", reader.name))?;

    let purse: Purse = match args.purse {
        Some(p) => p.into(),
        None => prompter.ask_until(out, "Purse (ecash/food):", "purse", |t| {
            match t.to_ascii_lowercase().as_str() {
                "ecash" | "e-cash" | "e" => Ok(Purse::Ecash),
                "food" | "f" => Ok(Purse::Food),
                _ => Err(format!("{t:?} is not a purse; type ecash or food")),
            }
        })?,
    };
    let amount = match &args.amount {
        Some(t) => pocket_amount(&currency, t).map_err(CliError::Usage)?,
        None => prompter.ask_until(out, "Amount:", "amount", |t| pocket_amount(&currency, t))?,
    };
    let expiry = match (purse, &args.expiry) {
        (Purse::Ecash, None) => None,
        (Purse::Ecash, Some(_)) => {
            return Err(CliError::Usage(
                "an e-Cash load has no expiry date; leave --expiry out".to_owned(),
            ))
        }
        (Purse::Food, Some(t)) => Some(parse_expiry(t).map_err(CliError::Usage)?),
        (Purse::Food, None) => {
            Some(prompter.ask_until(out, "Voucher expiry (YYYY-MM-DD):", "expiry", parse_expiry)?)
        }
    };
    let code = match &args.code {
        Some(t) => {
            TypedCode::parse(t).map_err(|e| CliError::Usage(format!("--code {t:?}: {e}")))?
        }
        None => prompter.ask_until(out, "Code from the bank:", "code", |t| {
            TypedCode::parse(t).map_err(|e| e.to_string())
        })?,
    };

    let mut tx = transport.transaction()?;
    let mut card = CardClient::new(&mut *tx);
    let order = PocketOrder {
        purse,
        amount,
        expiry,
        datetime,
        code,
    };
    match unconnected::pocket_load(&mut card, &order)? {
        PocketOutcome::Loaded { balance, confirm } => {
            let text = if global.json {
                to_json(&json!({
                    "purse": purse_name(purse),
                    "amount": amount.get(),
                    "balance": balance.get(),
                    "confirm_code": confirm.to_string(),
                    "datetime": datetime.to_string(),
                }))?
            } else {
                format!(
                    "LOADED {} into the {} purse; balance {}\nCode for the bank: {confirm}",
                    currency.display(i64::from(amount.get())),
                    purse_title(purse),
                    currency.display(i64::from(balance.get()))
                )
            };
            writeln!(out, "{text}").map_err(io)
        }
        PocketOutcome::WrongCode { tries_left: 0 } => Err(TellerError::refused(
            RefusalKind::MacFailure,
            "wrong code (63C0): the card did not load, and unconnected loading is now disabled on this card; the cardholder must go to the issuer to re-enable it",
        )
        .into()),
        PocketOutcome::WrongCode { tries_left } => Err(TellerError::refused(
            RefusalKind::MacFailure,
            format!(
                "wrong code (63C{tries_left:X}): the card did not load and counted a try, {tries_left} tr{} left; check the code with the bank (and the purse, amount and expiry typed) before trying again",
                if tries_left == 1 { "y" } else { "ies" }
            ),
        )
        .into()),
        PocketOutcome::Disabled => Err(TellerError::refused(
            RefusalKind::Other,
            "unconnected loading is disabled on this card (9408) after too many wrong codes; the cardholder must go to the issuer to re-enable it",
        )
        .into()),
    }
}

/// `epurse teller recover --unconnected`: settles the unconnected loads of the card in the
/// reader from GET STATUS and GET TRANSACTION PROOF (TT 04). JSON: `{"serial", "recovered":
/// [{"load_id", "purse", "amount", "counter", "outcome", "detail"}], "unsettled"}`.
pub fn run_recover_unconnected(
    office_args: &super::teller::OfficeArgs,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if office_args.remote.url.is_some() {
        return Err(CliError::Usage(
            "unconnected loads are settled on the back office's own ledger: run this command where the ledger is (without --backoffice)".to_owned(),
        ));
    }
    let mut office = open_office(office_args)?;
    let currency = office.currency();
    let (_reader, mut transport) = connect(global)?;
    let mut tx = transport.transaction()?;
    let mut card = CardClient::new(&mut *tx);
    let (serial, recovered) = unconnected::recover(&mut office, &mut card)?;
    let name = |o: &Result<LoadOutcome, String>| match o {
        Ok(LoadOutcome::Completed) => "completed",
        Ok(LoadOutcome::AlreadyCompleted) => "already_completed",
        Ok(LoadOutcome::Released) => "released",
        Ok(LoadOutcome::AlreadyReleased) => "already_released",
        Ok(LoadOutcome::Escalated) | Err(_) => "unsettled",
    };
    let unsettled = recovered
        .iter()
        .filter(|r| name(&r.outcome) == "unsettled")
        .count();
    let text = if global.json {
        to_json(&json!({
            "serial": serial.to_string(),
            "recovered": recovered.iter().map(|r| json!({
                "load_id": r.load_id.0,
                "purse": purse_name(r.purse),
                "amount": r.amount,
                "counter": r.counter,
                "outcome": name(&r.outcome),
                "detail": match &r.outcome {
                    Ok(LoadOutcome::Escalated) => Some("escalated to the issuer: the card's log no longer holds the entry".to_owned()),
                    Err(why) => Some(why.clone()),
                    Ok(_) => None,
                },
            })).collect::<Vec<_>>(),
            "unsettled": unsettled,
        }))?
    } else if recovered.is_empty() {
        format!("card {serial}: no pending unconnected loads")
    } else {
        let mut t = format!("card {serial}:");
        for r in &recovered {
            t += &format!(
                "\n  unconnected load {} ({} {}, counter {}): {}",
                r.load_id,
                purse_title(r.purse),
                currency.display(r.amount),
                r.counter,
                match &r.outcome {
                    Ok(LoadOutcome::Completed | LoadOutcome::AlreadyCompleted) =>
                        "completed (the card's log proves it)".to_owned(),
                    Ok(LoadOutcome::Released | LoadOutcome::AlreadyReleased) =>
                        "released to the customer's account (the card never used the code)"
                            .to_owned(),
                    Ok(LoadOutcome::Escalated) =>
                        "escalated: the card's log no longer holds it; the issuer must reconcile"
                            .to_owned(),
                    Err(why) => format!("unsettled: {why}"),
                }
            );
        }
        t
    };
    writeln!(out, "{text}").map_err(io)?;
    if unsettled > 0 {
        return Err(TellerError::refused(
            RefusalKind::PendingLoad,
            format!("{unsettled} unconnected load(s) of this card remain unsettled; refer to the issuer"),
        )
        .into());
    }
    Ok(())
}
