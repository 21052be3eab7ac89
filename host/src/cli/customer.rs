//! `epurse customer create|show`, `epurse deposit` and `epurse balance`: the operator's
//! customer and cash-desk commands over the embedded back office (no card needed).
//!
//! JSON output (`--json`; amounts in minor units):
//!
//! - `customer create`: `{"customer", "name"}`
//! - `customer show`: `{"customer", "name", "created_at", "currency", "balances": {"ecash",
//!   "food"}, "cards": [{"serial", "status", "key_version", "ecash_float", "food_float"}]}`
//! - `deposit`: `{"deposit", "customer", "purse", "amount", "balance", "replayed",
//!   "currency"}`
//! - `balance`: `{"customer", "currency", "ecash", "food"}`

use std::io::Write;

use backoffice::{CashDeposit, CustomerId};
use clap::{Args, Subcommand};
use serde_json::json;

use super::teller::{office, office_error, parse_amount, purse_name, OfficeArgs, PurseArg};
use super::{to_json, CliError, Global};

/// `epurse customer ...`
#[derive(Debug, Subcommand)]
pub enum CustomerCmd {
    /// Register a customer (with empty e-Cash and Food-Voucher accounts); prints the id.
    Create {
        /// The customer's name.
        name: String,
        #[command(flatten)]
        office: OfficeArgs,
    },
    /// A customer: name, account balances, cards.
    Show {
        /// Customer id.
        id: i64,
        #[command(flatten)]
        office: OfficeArgs,
    },
}

/// `epurse deposit`
#[derive(Debug, Args)]
pub struct DepositArgs {
    /// Customer id.
    #[arg(long)]
    pub customer: i64,
    /// Which account.
    #[arg(long, value_enum)]
    pub purse: PurseArg,
    /// Amount of cash taken in, e.g. 500.00.
    #[arg(long)]
    pub amount: String,
    /// The cash receipt's reference (a retry with the same reference deposits once).
    #[arg(long)]
    pub reference: String,
    /// Who took the cash in.
    #[arg(long, env = "EPURSE_TELLER", default_value = "teller")]
    pub teller: String,
    #[command(flatten)]
    pub office: OfficeArgs,
}

/// `epurse balance`
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// Customer id.
    #[arg(long)]
    pub customer: i64,
    #[command(flatten)]
    pub office: OfficeArgs,
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}

/// Runs `epurse customer ...`.
pub fn run(cmd: &CustomerCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let text = match cmd {
        CustomerCmd::Create { name, office } => {
            let mut bo = super::teller::office(office)?;
            let currency = bo.currency();
            let c = bo
                .create_customer(name)
                .map_err(|e| office_error(&currency, e))?;
            if global.json {
                to_json(&json!({"customer": c.id.0, "name": c.name}))?
            } else {
                format!("customer {} created: {}", c.id, c.name)
            }
        }
        CustomerCmd::Show { id, office } => {
            let mut bo = super::teller::office(office)?;
            let currency = bo.currency();
            let id = CustomerId(*id);
            let err = |e| office_error(&currency, e);
            let c = bo.customer(id).map_err(err)?;
            let b = bo.customer_balances(id).map_err(err)?;
            let cards = bo.cards_of(id).map_err(err)?;
            if global.json {
                to_json(&json!({
                    "customer": c.id.0,
                    "name": c.name,
                    "created_at": c.created_at,
                    "currency": currency.code(),
                    "balances": {"ecash": b.ecash, "food": b.food},
                    "cards": cards.iter().map(|k| json!({
                        "serial": k.serial.to_string(),
                        "status": k.status.as_str(),
                        "key_version": k.key_version,
                        "ecash_float": k.ecash.float,
                        "food_float": k.food.float,
                    })).collect::<Vec<_>>(),
                }))?
            } else {
                let mut t = format!(
                    "customer {}: {}\n  e-Cash account        {}\n  Food-Voucher account  {}",
                    c.id,
                    c.name,
                    currency.display(b.ecash),
                    currency.display(b.food)
                );
                if cards.is_empty() {
                    t += "\n  no cards";
                }
                for k in &cards {
                    t += &format!(
                        "\n  card {} {} (loaded: e-Cash {}, Food {})",
                        k.serial,
                        k.status.as_str(),
                        currency.display(k.ecash.float),
                        currency.display(k.food.float)
                    );
                }
                t
            }
        }
    };
    writeln!(out, "{text}").map_err(io)
}

/// Runs `epurse deposit`.
pub fn run_deposit(
    args: &DepositArgs,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut bo = office(&args.office)?;
    let currency = bo.currency();
    let amount = parse_amount(&currency, "--amount", &args.amount)?;
    if amount <= 0 {
        return Err(CliError::Usage(format!(
            "--amount {}: a deposit must be more than 0",
            args.amount
        )));
    }
    let purse = args.purse.into();
    let receipt = bo
        .deposit_cash(&CashDeposit {
            customer: CustomerId(args.customer),
            purse,
            amount,
            reference: args.reference.clone(),
            teller: args.teller.clone(),
        })
        .map_err(|e| office_error(&currency, e))?;
    let text = if global.json {
        to_json(&json!({
            "deposit": receipt.id,
            "customer": args.customer,
            "purse": purse_name(purse),
            "amount": amount,
            "balance": receipt.balance,
            "replayed": receipt.replayed,
            "currency": currency.code(),
        }))?
    } else {
        format!(
            "deposit {}{}: {} into customer {}'s {} account; balance now {}",
            receipt.id,
            if receipt.replayed {
                " (already recorded under this reference; nothing deposited twice)"
            } else {
                ""
            },
            currency.display(amount),
            args.customer,
            purse_name(purse),
            currency.display(receipt.balance)
        )
    };
    writeln!(out, "{text}").map_err(io)
}

/// Runs `epurse balance`.
pub fn run_balance(
    args: &BalanceArgs,
    global: &Global,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut bo = office(&args.office)?;
    let currency = bo.currency();
    let b = bo
        .customer_balances(CustomerId(args.customer))
        .map_err(|e| office_error(&currency, e))?;
    let text = if global.json {
        to_json(&json!({
            "customer": args.customer,
            "currency": currency.code(),
            "ecash": b.ecash,
            "food": b.food,
        }))?
    } else {
        format!(
            "customer {}: e-Cash {}, Food-Voucher {}",
            args.customer,
            currency.display(b.ecash),
            currency.display(b.food)
        )
    };
    writeln!(out, "{text}").map_err(io)
}
