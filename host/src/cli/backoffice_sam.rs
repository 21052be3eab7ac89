//! `epurse backoffice sam-issue` and `epurse backoffice transfer-card-issue`: the bank issues a
//! merchant's SAM (its SAM file and a fresh SAM state in the SAM directory) and personalises a
//! blank transfer card.
//!
//! JSON output (`--json`): `sam-issue`: `{"sam_id", "merchant_id", "merchant_name", "mcc",
//! "food", "key_version", "sam_dir"}`; `transfer-card-issue`: `{"xserial"}`.

use std::io::Write;
use std::path::PathBuf;

use apdu_spec::Mcc;
use backoffice::settlement::SamIssueRequest;
use clap::{Args, Subcommand};
use sam::{SoftwareSam, StatePaths};
use serde_json::json;

use super::pos::SAM_FILE;
use super::teller::{open_office, OfficeArgs};
use super::{connect, to_json, CliError, Global};
use crate::config;
use crate::exchange::Channel;
use crate::pos;

/// The bank's SAM and transfer-card commands.
#[derive(Debug, Subcommand)]
pub enum SamCmd {
    /// Issue a SAM for a merchant: writes the SAM file and a new SAM state into the SAM directory.
    SamIssue(SamIssueArgs),
    /// Personalise the blank transfer card in the reader.
    TransferCardIssue(OfficeArgs),
}

/// `epurse backoffice sam-issue`
#[derive(Debug, Args)]
pub struct SamIssueArgs {
    /// The merchant's id at the bank (created on first issue).
    #[arg(long)]
    pub merchant_id: String,
    /// The merchant's name (receipts, statements).
    #[arg(long)]
    pub name: String,
    /// Merchant category code (4 digits), e.g. 5411 for groceries.
    #[arg(long)]
    pub mcc: String,
    /// The bank classes the merchant as a food merchant (the POS offers the Food-Voucher purse).
    #[arg(long)]
    pub food: bool,
    /// SAM directory to create (default EPURSE_HOME/sam; env EPURSE_SAM). Must not hold a SAM yet.
    #[arg(long, value_name = "DIR", env = "EPURSE_SAM")]
    pub sam: Option<PathBuf>,
    #[command(flatten)]
    pub office: OfficeArgs,
}

fn io(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write output: {e}"))
}

/// Runs a SAM/transfer-card command.
pub fn run(cmd: &SamCmd, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        SamCmd::SamIssue(args) => sam_issue(args, global, out),
        SamCmd::TransferCardIssue(args) => {
            let mut bo = open_office(args)?;
            let (_reader, transport) = connect(global)?;
            let mut ch = Channel::new(transport);
            let xserial = pos::personalise_transfer_card(&mut ch, &mut bo)?;
            if global.json {
                writeln!(
                    out,
                    "{}",
                    to_json(&json!({"xserial": xserial.to_string()}))?
                )
                .map_err(io)?;
            } else {
                writeln!(out, "transfer card {xserial} personalised").map_err(io)?;
            }
            Ok(())
        }
    }
}

fn sam_issue(args: &SamIssueArgs, global: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let mcc = args
        .mcc
        .parse::<u16>()
        .ok()
        .filter(|_| args.mcc.len() == 4)
        .and_then(|m| Mcc::new(m).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--mcc {:?}: a merchant category code is 4 digits, e.g. 5411",
                args.mcc
            ))
        })?;
    sam::MerchantId::new(args.merchant_id.clone())
        .map_err(|e| CliError::Usage(format!("--merchant-id: {e}")))?;
    let dir = config::sam_dir(args.sam.as_deref()).map_err(|e| CliError::Office(e.to_string()))?;
    let file_path = dir.join(SAM_FILE);
    if file_path.exists() {
        return Err(CliError::Usage(format!(
            "{} already holds a SAM; choose another --sam directory (one SAM per terminal)",
            dir.display()
        )));
    }
    config::ensure_dir(&dir).map_err(|e| CliError::Office(e.to_string()))?;
    let mut bo = open_office(&args.office)?;
    let file = bo
        .sam_issue(&SamIssueRequest {
            merchant_id: args.merchant_id.clone(),
            merchant_name: args.name.clone(),
            mcc,
            food: args.food,
        })
        .map_err(|e| match e {
            backoffice::Error::Invalid(m) => CliError::Usage(m),
            other => CliError::Office(other.to_string()),
        })?;
    let profile = file.profile().clone();
    file.save_new(&file_path)
        .map_err(|e| CliError::Failed(format!("{e}")))?;
    SoftwareSam::create(StatePaths::in_dir(&dir), file, 1, 1)
        .map_err(|e| CliError::Failed(format!("cannot create the SAM state: {e}")))?;
    if global.json {
        let v = json!({"sam_id": profile.sam_id.to_string(), "merchant_id": profile.merchant_id.to_string(),
            "merchant_name": profile.merchant_name, "mcc": profile.mcc.to_string(),
            "food": profile.food_merchant, "key_version": profile.key_version,
            "sam_dir": dir.display().to_string()});
        writeln!(out, "{}", to_json(&v)?).map_err(io)?;
    } else {
        writeln!(
            out,
            "SAM {} issued to {} ({}), MCC {}, {}; SAM file and state in {}",
            profile.sam_id,
            profile.merchant_name,
            profile.merchant_id,
            profile.mcc,
            if profile.food_merchant {
                "food merchant"
            } else {
                "non-food merchant"
            },
            dir.display()
        )
        .map_err(io)?;
    }
    Ok(())
}
