//! The `epurse` command groups. Each group is a clap `Subcommand` enum with a `run` function in
//! its own module; the binary (`src/bin/epurse.rs`) only parses, dispatches, sets up the trace
//! and maps errors to exit codes.
//!
//! # Field-technician commands (reader stack)
//!
//! | command | what it does |
//! | --- | --- |
//! | `epurse reader list` | index, name, card present, ATR of every reader |
//! | `epurse reader watch [--count N] [--timeout S]` | card insert/remove (and reader add/remove) events until Ctrl-C, N events or S seconds |
//! | `epurse reader info` | reader model (ACS readers by name) and firmware version |
//! | `epurse reader led [--red on/off] [--green on/off]` | switch an ACS reader's LEDs |
//! | `epurse reader beep [--ms N]` | sound an ACS reader's buzzer |
//! | `epurse atr decode HEX` | ISO/IEC 7816-3 ATR decoding (no reader needed) |
//! | `epurse card info` | SELECT the purse (else transfer) applet: AID, serial, version, lifecycle, balances, counters, limits |
//! | `epurse card log` | the purse's transaction log (READ LOG), most recent first |
//! | `epurse apdu send HEX...` | raw APDUs, each response with its decoded status word |
//! | `epurse apdu script FILE` | a `scriptor` file: hex lines, `reset`, `exit`, `#` comments |
//! | `epurse apdu bench [-n N] [HEX]` | median/p99 round trip of N exchanges (default 1000 × SELECT purse) |
//! | `epurse doctor` | pcscd, drivers, readers, cards, applets: each finding with what to do |
//!
//! # Teller and operator commands (connected mode, embedded back office)
//!
//! | command | what it does |
//! | --- | --- |
//! | `epurse customer create NAME` / `customer show ID` | register a customer / name, balances, cards |
//! | `epurse deposit --customer ID --purse ecash\|food --amount 500.00 --reference R` | cash into a customer's account (idempotent per reference) |
//! | `epurse balance --customer ID` | the customer's e-Cash and Food-Voucher account balances |
//! | `epurse card issue --customer ID [--pin P] [limit flags]` | personalise the blank card in the reader and register it (repeat after an interruption to finish it) |
//! | `epurse card block\|unblock [--serial S]` | issuer APPLICATION BLOCK / UNBLOCK and the registry (`--serial`: lost card, registry only) |
//! | `epurse teller load --purse ecash\|food --amount 500.00 [--expiry YYYY-MM-DD]` | recover any pending load of the card, then load it from the customer's account; prints the receipt |
//! | `epurse teller load --unconnected --card SERIAL --purse P --amount A [--expiry D] [--confirm CODE]` | reserve an unconnected load, print the code for the pocket reader, complete it with the card's code (typed at the prompt or `--confirm`) |
//! | `epurse pocket [--purse P] [--amount A] [--expiry D] [--code CODE]` | the pocket reader: UNCONNECTED LOAD on the card in `--reader`, shows the card's code for the bank |
//! | `epurse teller recover` | settle every pending load of the card in the reader from its evidence |
//! | `epurse teller recover --unconnected` | settle the card's unconnected loads from its TT 04 log entries (completed, released, or escalated) |
//! | `epurse audit` | value conservation over the whole ledger; totals; exit 27 on any discrepancy |
//!
//! They use the ledger `--db` / `EPURSE_DB` and master keys `--keys` / `EPURSE_KEYS`, by default
//! in the installation home (`EPURSE_HOME`, see [`crate::config`]). JSON fields: see
//! [`teller`], [`customer`], [`audit`].
//!
//! Global options (before or after the subcommand): `--reader R` (an index from `reader list`
//! or part of a reader name; env `EPURSE_READER`; default: the first reader holding a card,
//! else the first reader), `--json` (machine-readable output on stdout for every read
//! command), `-v` (APDU trace on stderr at debug level, PINs, keys and MACs redacted).
//!
//! # JSON output (field names are a contract for scripts and the end-to-end tests)
//!
//! - `reader list`: `{"readers": [{"index", "name", "card_present", "atr" (hex or null),
//!   "mute", "in_use", "exclusive"}]}`
//! - `reader watch`: one object per line: `{"event": "inserted"|"removed"|"reader_added"|
//!   "reader_removed", "reader", "atr" (hex, inserted only)}`. When watching has begun, the
//!   line `watching N reader(s)` goes to stderr (text and JSON mode alike).
//! - `reader info`: `{"reader", "model" (or null), "firmware" (or null), "firmware_error"
//!   (or null)}`
//! - `atr decode`: `{"atr", "convention", "t0", "interface": [{"index", "protocol", "ta",
//!   "tb", "tc", "td"}], "protocols", "fi", "di", "f_max_mhz", "historical",
//!   "historical_ascii", "tck": {"value", "expected", "valid"} or null}`
//! - `card info` (purse): `{"reader", "applet": "purse", "aid" (hex), "applet_version",
//!   "serial", "lifecycle", "blocked", "key_version", "capabilities": {"ecash", "food",
//!   "unconnected_loading", "pin_set"}, "purses": {"ecash": P, "food": P}, "pin":
//!   {"tries_left", "try_limit"}, "unconnected": {"attempts_left", "limit", "max_amount"},
//!   "no_pin_limit", "admin_counter", "food_mccs"}` with `P = {"balance", "load_counter",
//!   "purchase_counter", "max_balance", "max_amount", "expiry"}`; amounts are integers in minor
//!   units. (transfer): `{"reader", "applet": "transfer", "aid", "applet_version", "serial",
//!   "lifecycle", "batch_state", "capacity", "batch_length"}`
//! - `card log`: `{"reader", "serial", "entries": [{"index", "type", "purse", "counter",
//!   "amount", "balance", "terminal", "sam_seq", "datetime", "mcc", "pin_verified", "tac"}]}`
//! - `apdu send`: `{"reader", "exchanges": [{"command", "response", "data", "sw",
//!   "sw_name", "sw_meaning"}]}`; `apdu script`: `{"reader", "steps": [{"line", "command",
//!   "response", "data", "sw", "sw_name", "sw_meaning"} or {"line", "reset": true, "atr"}]}`
//! - `apdu bench`: `{"reader", "command", "n", "median_ms", "p99_ms", "min_ms", "mean_ms",
//!   "max_ms", "sw"}`
//! - `doctor`: `{"ok", "findings": [{"check", "status": "ok"|"warn"|"fail", "detail",
//!   "action"}]}`
//!
//! # Exit codes
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (for `apdu send`/`script`: every APDU was exchanged, whatever its status word) |
//! | 1 | the operation failed for another reason (e.g. `reader watch` timed out before `--count` events) |
//! | 2 | the command line or input was wrong (clap's own parse errors too; bad hex, bad script line, not an ATR) |
//! | 3 | the smart-card service (pcscd) is not running or not reachable |
//! | 4 | reader problem: no reader, `--reader` not found or ambiguous, reader gone or busy, operation not supported by the reader |
//! | 5 | card problem: no card, card removed, reset, mute, garbled response, outcome of a command unknown |
//! | 6 | the card refused (an error status word) or is not an epurse card |
//! | 20 | teller: insufficient funds in the customer's account |
//! | 21 | teller: the card is blocked |
//! | 22 | teller: over a limit of the card (per load, maximum balance) |
//! | 23 | teller: unknown card (or blank, or not issued) or unknown customer |
//! | 24 | teller: MAC failure (MAC1, MAC2 refused by the card, TAC) |
//! | 25 | teller: interrupted or unsettled — a load (or issue) is pending until the card is presented again; run `epurse teller recover` (or repeat the issue) |
//! | 26 | teller: another refusal (voucher expiry past, serial already issued, key version, rewound counter, counter exhausted) |
//! | 27 | `epurse audit` found a discrepancy |
//! | 28 | the back office cannot be opened (ledger file, master-key file, home directory) |
//! | 30 | pos: insufficient balance on the card's purse(s) |
//! | 31 | pos: that purse cannot pay here (food purse at a non-food merchant, voucher expired, category not allowed) |
//! | 32 | pos: PIN needed (`--pin-from-stdin`), wrong or blocked |
//! | 33 | pos: sale interrupted — the purchase is pending until the card is presented again (`epurse pos recover`) |
//! | 34 | pos: a split sale paid only its first part |
//! | 35 | pos: the SAM refused or its state cannot be used (corrupt, rolled back, key version) |
//! | 36 | transfer card or settlement: wrong card state, or the back office refused the batch |
//!
//! `epurse doctor` exits with the code of its first failed finding (0 when none failed).

use thiserror::Error;

use crate::card::CardError;
use crate::exchange::ExchangeError;
use crate::transport::pcsc::{PcscContext, PcscTransport, ReaderInfo};
use crate::transport::{ErrorKind, ShareMode, TransportError};

pub mod apdu;
pub mod atr;
pub mod audit;
pub mod backoffice;
pub mod backoffice_sam;
pub mod card;
pub mod crypto;
pub mod customer;
pub mod doctor;
pub mod pocket;
pub mod pos;
pub mod reader;
pub mod settle;
pub mod teller;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the operation failed (other reasons).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad command line or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: pcscd not running / not reachable.
pub const EXIT_SERVICE: u8 = 3;
/// Exit code: reader problem.
pub const EXIT_READER: u8 = 4;
/// Exit code: card problem.
pub const EXIT_CARD: u8 = 5;
/// Exit code: the card refused or is not an epurse card.
pub const EXIT_REFUSED: u8 = 6;

/// Exit code (teller, back office): the customer's account holds less than the amount.
pub const EXIT_INSUFFICIENT_FUNDS: u8 = 20;
/// Exit code (teller, back office): the card is blocked.
pub const EXIT_CARD_BLOCKED: u8 = 21;
/// Exit code (teller, back office): over a limit of the card (per load, maximum balance).
pub const EXIT_OVER_LIMIT: u8 = 22;
/// Exit code (teller, back office): unknown card, card not issued or blank, unknown customer.
pub const EXIT_UNKNOWN: u8 = 23;
/// Exit code (teller, back office): a MAC or TAC did not verify.
pub const EXIT_MAC_FAILURE: u8 = 24;
/// Exit code (teller): interrupted or unsettled: a load (or issue) stays pending until the
/// card is presented again (`epurse teller recover`).
pub const EXIT_PENDING: u8 = 25;
/// Exit code (teller, back office): another refusal (expiry past, serial already issued, key
/// version, rewound counter...).
pub const EXIT_OTHER_REFUSAL: u8 = 26;
/// Exit code: `epurse audit` found a discrepancy.
pub const EXIT_AUDIT: u8 = 27;
/// Exit code: the back office cannot be opened (ledger file, master keys, home directory).
pub const EXIT_OFFICE: u8 = 28;

/// The exit-code table for `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success, 1 failed, 2 bad usage or input, \
3 pcscd not running, 4 reader problem (none, not found, gone, busy, unsupported), \
5 card problem (none, removed, reset, mute, outcome unknown), 6 card refused / not an epurse card; \
teller: 20 insufficient funds, 21 card blocked, 22 over a limit, 23 unknown card or customer, \
24 MAC failure, 25 interrupted / load pending (run `epurse teller recover`), 26 other refusal, \
27 audit discrepancy, 28 back office cannot be opened; pos/settle: 30 insufficient balance, \
31 purse not allowed here, 32 PIN, 33 sale pending (run `epurse pos recover`), 34 split sale partly \
paid, 35 SAM problem, 36 transfer card / settlement problem.";

/// Errors a command group reports; [`CliError::exit_code`] gives the process exit code.
#[derive(Debug, Error)]
pub enum CliError {
    /// The arguments were wrong: what is wrong and what is expected. Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed for a reason not covered below. Exit code 1.
    #[error("{0}")]
    Failed(String),
    /// A transport error (service 3, reader 4, card 5, other 1).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An exchange error (by its kind; an invalid APDU is a usage error).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// A card error (refusals 6, otherwise by kind).
    #[error(transparent)]
    Card(#[from] CardError),
    /// A teller workflow error (refusals 20..26, interrupted 25, card errors as above).
    #[error(transparent)]
    Teller(#[from] crate::teller::TellerError),
    /// The back office cannot be opened or failed (exit code 28).
    #[error("{0}")]
    Office(String),
    /// `epurse audit` found discrepancies (exit code 27).
    #[error("{0}")]
    Audit(String),
    /// A POS, transfer or settlement workflow error (exit codes 30..36, see `cli::pos`).
    #[error(transparent)]
    Pos(#[from] crate::pos::PosError),
}

fn kind_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Service => EXIT_SERVICE,
        ErrorKind::Reader => EXIT_READER,
        ErrorKind::Card => EXIT_CARD,
        ErrorKind::Other => EXIT_FAILED,
    }
}

impl CliError {
    /// The process exit code for this error (see the module documentation).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Failed(_) => EXIT_FAILED,
            CliError::Transport(e) => kind_code(e.kind()),
            CliError::Exchange(ExchangeError::InvalidCommand { .. }) => EXIT_USAGE,
            CliError::Exchange(e) => kind_code(e.kind()),
            CliError::Card(CardError::Exchange(ExchangeError::InvalidCommand { .. })) => EXIT_USAGE,
            CliError::Card(CardError::Exchange(e)) => kind_code(e.kind()),
            CliError::Card(_) => EXIT_REFUSED,
            CliError::Teller(e) => teller::exit_code(e),
            CliError::Office(_) => EXIT_OFFICE,
            CliError::Audit(_) => EXIT_AUDIT,
            CliError::Pos(e) => pos::exit_code(e),
        }
    }
}

/// Options every reader command shares.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// `--reader` / `EPURSE_READER`.
    pub reader: Option<String>,
    /// `--json`.
    pub json: bool,
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

/// Connects to the card in the reader `--reader` names (shared mode).
pub fn connect(global: &Global) -> Result<(ReaderInfo, PcscTransport), CliError> {
    let ctx = PcscContext::establish()?;
    let reader = ctx.choose(global.reader.as_deref())?;
    if !reader.card_present {
        return Err(TransportError::NoCard {
            reader: reader.name.clone(),
        }
        .into());
    }
    let transport = ctx.connect(&reader.name, ShareMode::Shared)?;
    Ok((reader, transport))
}

/// Pretty JSON text of a value (serialising our own types cannot fail; a failure is reported).
pub fn to_json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot write JSON output: {e}")))
}

pub use crate::format_amount;

#[cfg(test)]
mod tests {
    use super::*;
    use apdu_spec::StatusWord;

    #[test]
    fn exit_codes_by_layer() {
        let r = || "R".to_owned();
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
        assert_eq!(
            CliError::from(TransportError::NoService { detail: "x".into() }).exit_code(),
            3
        );
        assert_eq!(CliError::from(TransportError::NoReaders).exit_code(), 4);
        assert_eq!(
            CliError::from(TransportError::NoCard { reader: r() }).exit_code(),
            5
        );
        assert_eq!(
            CliError::from(ExchangeError::OutcomeUnknown {
                command: "CREDIT LOAD".into(),
                error: TransportError::CardRemoved { reader: r() }
            })
            .exit_code(),
            5
        );
        assert_eq!(
            CliError::from(ExchangeError::InvalidCommand { reason: "x".into() }).exit_code(),
            2
        );
        assert_eq!(
            CliError::from(CardError::Status {
                command: "SELECT",
                sw: StatusWord::AppletNotFound
            })
            .exit_code(),
            6
        );
        assert_eq!(
            CliError::from(CardError::Exchange(ExchangeError::Transport {
                command: "SELECT".into(),
                error: TransportError::CardReset { reader: r() }
            }))
            .exit_code(),
            5
        );
    }
}
