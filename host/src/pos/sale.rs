//! The sale: purse choice (e-Cash, Food-Voucher, or auto with a split), the PIN above the
//! card's no-PIN limit, INITIALIZE PURCHASE → SAM → DEBIT PURCHASE → SAM, and the recovery of
//! purchases left pending on the card presented.

use apdu_spec::{
    Applet, Date, DateTime, DebitPurchaseResponse, Fci, GetStatus, InitPurchaseResponse,
    InitializePurchase, Lifecycle, PinBlock, Purse, PurseStatus, Select, Serial, StatusWord,
    TransactionProof, VerifyPin,
};
use sam::{ProofLookup, PurchaseStart, Recovery, RecoveryEvidence, SecurityModule};

use super::{amount, PosError};
use crate::card::CardError;
use crate::exchange::{Channel, ExchangeError};
use crate::format_amount;
use crate::transport::Transport;

/// Which purse pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurseChoice {
    /// Food-Voucher first when the merchant is a food merchant and the voucher is valid, the
    /// rest from e-Cash.
    Auto,
    /// e-Cash only.
    Ecash,
    /// Food-Voucher only.
    Food,
}

/// A sale to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleRequest {
    /// Amount in minor units.
    pub amount: u32,
    /// Which purse.
    pub purse: PurseChoice,
    /// Date and time of the sale (the POS clock).
    pub datetime: DateTime,
}

/// Why a sale was refused. Nothing was debited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleRefusal {
    /// Amount zero or too large.
    BadAmount(String),
    /// The purses cannot pay the amount.
    InsufficientBalance {
        /// What the chosen purse(s) hold.
        available: u32,
        /// The amount.
        needed: u32,
    },
    /// The Food-Voucher purse at a merchant the bank does not class as food.
    FoodAtNonFoodMerchant,
    /// The voucher expired (or was never loaded).
    VoucherExpired {
        /// Its expiry, if any.
        expiry: Option<Date>,
    },
    /// The card does not allow its vouchers at this merchant category.
    CategoryNotAllowed,
    /// The card is blocked.
    CardBlocked,
    /// The card is blank.
    NotPersonalised,
    /// The amount needs the PIN and none was given.
    PinRequired {
        /// The card's no-PIN limit.
        no_pin_limit: u32,
    },
    /// Wrong PIN.
    WrongPin {
        /// Tries left.
        tries_left: u8,
    },
    /// The PIN is blocked.
    PinBlocked,
    /// A purchase on this card is pending and could not be decided from its evidence.
    Unresolved(String),
    /// The card refused with another status word.
    Card {
        /// The command.
        command: &'static str,
        /// Its status word.
        sw: StatusWord,
    },
}

impl core::fmt::Display for SaleRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SaleRefusal::BadAmount(why) => write!(f, "{why}"),
            SaleRefusal::InsufficientBalance { available, needed } => write!(
                f,
                "insufficient balance: the card holds {} for this sale, the amount is {}; pay less or from another purse",
                format_amount(*available),
                format_amount(*needed)
            ),
            SaleRefusal::FoodAtNonFoodMerchant => write!(
                f,
                "the Food-Voucher purse cannot be used at this merchant (not a food merchant); pay with --purse ecash"
            ),
            SaleRefusal::VoucherExpired { expiry: Some(d) } => write!(
                f,
                "the food voucher expired on {d}; pay with --purse ecash, or load new vouchers at the bank"
            ),
            SaleRefusal::VoucherExpired { expiry: None } => write!(
                f,
                "the card holds no food voucher; pay with --purse ecash"
            ),
            SaleRefusal::CategoryNotAllowed => write!(
                f,
                "the card does not allow its food vouchers at this merchant category; pay with --purse ecash"
            ),
            SaleRefusal::CardBlocked => write!(
                f,
                "the card is blocked; send the cardholder to the bank"
            ),
            SaleRefusal::NotPersonalised => write!(
                f,
                "the card is blank (not personalised); it must be issued at the bank first"
            ),
            SaleRefusal::PinRequired { no_pin_limit } => write!(
                f,
                "the amount is above the card's no-PIN limit of {}: the cardholder PIN is needed (--pin-from-stdin)",
                format_amount(*no_pin_limit)
            ),
            SaleRefusal::WrongPin { tries_left } => write!(
                f,
                "wrong PIN, {tries_left} tries left; nothing was debited"
            ),
            SaleRefusal::PinBlocked => write!(
                f,
                "the cardholder PIN is blocked; send the cardholder to the bank (PIN unblock)"
            ),
            SaleRefusal::Unresolved(why) => write!(f, "{why}"),
            SaleRefusal::Card {
                command,
                sw: StatusWord::MacInvalid,
            } => write!(
                f,
                "{command}: the card rejected the SAM's MAC (9302): wrong SAM keys or key version; the transaction is void, nothing was debited — contact the bank"
            ),
            SaleRefusal::Card { command, sw } => {
                write!(f, "{command}: the card answered {sw}; {}", sw.host_action())
            }
        }
    }
}

/// One card transaction of a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptLeg {
    /// The purse debited.
    pub purse: Purse,
    /// Amount debited.
    pub amount: u32,
    /// The purse's balance after.
    pub balance_after: u32,
    /// The card's purchase counter of this transaction.
    pub counter: u16,
    /// The SAM sequence number.
    pub sam_seq: u32,
    /// Whether the PIN was verified.
    pub pin_verified: bool,
}

/// A purchase pending on this card that was decided when the card was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryNote {
    /// The pending purchase's SAM sequence.
    pub sam_seq: u32,
    /// Its purse.
    pub purse: Purse,
    /// Its amount.
    pub amount: u32,
    /// `completed`, `cancelled` or `escalated`.
    pub outcome: &'static str,
    /// For people.
    pub detail: String,
}

/// The receipt of a sale (one or two card transactions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Merchant name.
    pub merchant_name: String,
    /// Merchant id.
    pub merchant_id: String,
    /// SAM id.
    pub sam_id: String,
    /// Card serial.
    pub serial: Serial,
    /// Date and time of the sale.
    pub datetime: DateTime,
    /// The card transactions.
    pub legs: Vec<ReceiptLeg>,
    /// Total paid.
    pub total: u32,
    /// Pending purchases of this card decided before the sale.
    pub recovered: Vec<RecoveryNote>,
}

fn status_error(command: &'static str, sw: StatusWord) -> PosError {
    PosError::Card(CardError::Status { command, sw })
}

fn malformed(command: &'static str, error: apdu_spec::SpecError) -> PosError {
    PosError::Card(CardError::Malformed { command, error })
}

/// SELECT purse: the FCI; a blocked or blank card is refused here.
fn select_purse<T: Transport>(ch: &mut Channel<T>) -> Result<Fci, PosError> {
    let r = ch
        .send(&Select {
            applet: Applet::Purse,
        })
        .map_err(CardError::from)?;
    match r.sw {
        StatusWord::Ok => {}
        StatusWord::SelectedBlocked => return Err(PosError::Refused(SaleRefusal::CardBlocked)),
        sw => return Err(status_error("SELECT", sw)),
    }
    let fci = Fci::parse(&r.data).map_err(|e| malformed("SELECT", e))?;
    match fci.lifecycle {
        Lifecycle::Blank => Err(PosError::Refused(SaleRefusal::NotPersonalised)),
        Lifecycle::Blocked => Err(PosError::Refused(SaleRefusal::CardBlocked)),
        Lifecycle::Active => Ok(fci),
    }
}

fn get_status<T: Transport>(ch: &mut Channel<T>) -> Result<PurseStatus, PosError> {
    let r = ch.send(&GetStatus).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(status_error("GET STATUS", r.sw));
    }
    PurseStatus::parse(&r.data).map_err(|e| malformed("GET STATUS", e))
}

/// Decides every purchase pending in the SAM for the card `serial` (already selected) from the
/// card's evidence. Escalated purchases (evidence overwritten) stay pending for the bank.
pub fn recover_card<T: Transport, S: SecurityModule + ?Sized>(
    ch: &mut Channel<T>,
    sam: &mut S,
    serial: Serial,
) -> Result<Vec<RecoveryNote>, PosError> {
    let mut notes = Vec::new();
    let pending: Vec<_> = sam
        .pending_purchases()
        .into_iter()
        .filter(|p| p.serial == serial && p.is_awaiting_card())
        .collect();
    if pending.is_empty() {
        return Ok(notes);
    }
    let status = get_status(ch)?;
    for p in pending {
        let mut evidence = RecoveryEvidence::from_status(&status, p.purse, None);
        let mut outcome = sam.recover_purchase(p.sam_seq, &evidence)?;
        if let Recovery::ProofNeeded(command) = outcome {
            let r = ch.send(&command).map_err(CardError::from)?;
            let lookup = match r.sw {
                StatusWord::Ok => ProofLookup::Found(
                    TransactionProof::parse(&r.data)
                        .map_err(|e| malformed("GET TRANSACTION PROOF", e))?,
                ),
                StatusWord::NotFound => ProofLookup::NotFound,
                sw => return Err(status_error("GET TRANSACTION PROOF", sw)),
            };
            evidence.proof = Some(lookup);
            outcome = sam.recover_purchase(p.sam_seq, &evidence)?;
        }
        let (label, detail) = match outcome {
            Recovery::Completed(_) => (
                "completed",
                "the card had been debited: the purchase is journaled (the merchant is paid)"
                    .to_owned(),
            ),
            Recovery::Cancelled(v) => (
                "cancelled",
                format!(
                    "{}: nothing was debited, the sale is void",
                    v.reason.describe()
                ),
            ),
            Recovery::Escalated(e) => (
                "escalated",
                format!(
                    "{}: kept pending for the bank to reconcile",
                    e.status.describe()
                ),
            ),
            Recovery::ProofNeeded(_) => (
                "escalated",
                "the card gave no usable proof; kept pending".to_owned(),
            ),
        };
        notes.push(RecoveryNote {
            sam_seq: p.sam_seq,
            purse: p.purse,
            amount: p.amount.get(),
            outcome: label,
            detail,
        });
    }
    Ok(notes)
}

fn voucher_valid(status: &PurseStatus, today: Date) -> Result<(), SaleRefusal> {
    match status.food.expiry {
        Some(expiry) if today <= expiry => Ok(()),
        expiry => Err(SaleRefusal::VoucherExpired { expiry }),
    }
}

/// Splits the amount over the purses (before anything is debited).
fn plan<S: SecurityModule + ?Sized>(
    sam: &S,
    status: &PurseStatus,
    request: &SaleRequest,
) -> Result<Vec<(Purse, u32)>, SaleRefusal> {
    let profile = sam.profile();
    let today = request.datetime.date();
    let need = request.amount;
    let ecash = status.ecash.balance.get();
    let food = status.food.balance.get();
    let food_usable = |status: &PurseStatus| -> Result<(), SaleRefusal> {
        if !profile.food_merchant {
            return Err(SaleRefusal::FoodAtNonFoodMerchant);
        }
        voucher_valid(status, today)?;
        if !status.food_mccs.contains(profile.mcc) {
            return Err(SaleRefusal::CategoryNotAllowed);
        }
        Ok(())
    };
    let legs = match request.purse {
        PurseChoice::Ecash => {
            if ecash < need {
                return Err(SaleRefusal::InsufficientBalance {
                    available: ecash,
                    needed: need,
                });
            }
            vec![(Purse::Ecash, need)]
        }
        PurseChoice::Food => {
            food_usable(status)?;
            if food < need {
                return Err(SaleRefusal::InsufficientBalance {
                    available: food,
                    needed: need,
                });
            }
            vec![(Purse::Food, need)]
        }
        PurseChoice::Auto => {
            let food_part = if food_usable(status).is_ok() {
                food.min(need).min(status.food.max_amount.get())
            } else {
                0
            };
            let rest = need - food_part;
            if rest > ecash {
                return Err(SaleRefusal::InsufficientBalance {
                    available: ecash.saturating_add(food_part),
                    needed: need,
                });
            }
            let mut legs = Vec::new();
            if food_part > 0 {
                legs.push((Purse::Food, food_part));
            }
            if rest > 0 {
                legs.push((Purse::Ecash, rest));
            }
            legs
        }
    };
    for &(purse, part) in &legs {
        let max = status.purse(purse).max_amount.get();
        if part > max {
            return Err(SaleRefusal::BadAmount(format!(
                "{} from the {} purse is above the card's single-purchase limit of {}; split the sale",
                format_amount(part),
                purse_name(purse),
                format_amount(max)
            )));
        }
    }
    Ok(legs)
}

pub(crate) fn purse_name(purse: Purse) -> &'static str {
    match purse {
        Purse::Ecash => "e-Cash",
        Purse::Food => "Food-Voucher",
    }
}

fn refusal_for(command: &'static str, sw: StatusWord) -> SaleRefusal {
    match sw {
        StatusWord::CardBlocked | StatusWord::SelectedBlocked => SaleRefusal::CardBlocked,
        StatusWord::PinBlocked => SaleRefusal::PinBlocked,
        StatusWord::CategoryNotAllowed => SaleRefusal::CategoryNotAllowed,
        StatusWord::VoucherExpired => SaleRefusal::VoucherExpired { expiry: None },
        sw => SaleRefusal::Card { command, sw },
    }
}

fn verify_pin<T: Transport>(ch: &mut Channel<T>, pin: PinBlock) -> Result<(), PosError> {
    let r = ch
        .send(&VerifyPin { pin: Some(pin) })
        .map_err(CardError::from)?;
    match r.sw {
        StatusWord::Ok => Ok(()),
        StatusWord::WrongCode { tries_left } => {
            Err(PosError::Refused(SaleRefusal::WrongPin { tries_left }))
        }
        StatusWord::PinBlocked => Err(PosError::Refused(SaleRefusal::PinBlocked)),
        sw => Err(PosError::Refused(refusal_for("VERIFY PIN", sw))),
    }
}

/// One card transaction: INITIALIZE PURCHASE, SAM authorisation, DEBIT PURCHASE, SAM check.
fn purchase<T: Transport, S: SecurityModule + ?Sized>(
    ch: &mut Channel<T>,
    sam: &mut S,
    serial: Serial,
    purse: Purse,
    part: u32,
    datetime: DateTime,
    pin_verified: bool,
) -> Result<ReceiptLeg, PosError> {
    let profile = sam.profile().clone();
    let command = InitializePurchase {
        purse,
        key_version: profile.key_version,
        amount: amount(part)?,
        sam_id: profile.sam_id,
    };
    let r = ch.send(&command).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(PosError::Refused(refusal_for("INITIALIZE PURCHASE", r.sw)));
    }
    let response =
        InitPurchaseResponse::parse(&r.data).map_err(|e| malformed("INITIALIZE PURCHASE", e))?;
    let auth = sam.begin_purchase(PurchaseStart {
        serial,
        command,
        response,
        datetime,
        pin_verified,
    })?;
    // From here the purchase is pending in the SAM: a lost exchange is recovered, not retried.
    let r = match ch.send(&auth.command) {
        Ok(r) => r,
        Err(cause) => {
            return Err(PosError::Interrupted {
                sam_seq: auth.sam_seq,
                cause,
            })
        }
    };
    if !r.sw.is_success() {
        match sam.purchase_declined(auth.sam_seq, r.sw) {
            Ok(_) => return Err(PosError::Refused(refusal_for("DEBIT PURCHASE", r.sw))),
            // 6F00 and the like prove nothing: the purchase stays pending for recovery.
            Err(sam::SamError::RefusalNotDefinitive { .. }) => {
                return Err(PosError::Interrupted {
                    sam_seq: auth.sam_seq,
                    cause: ExchangeError::InvalidCommand {
                        reason: format!("the card answered {} to DEBIT PURCHASE", r.sw),
                    },
                })
            }
            // The SAM could not record the cancellation (e.g. its state file): say so; the
            // purchase is still pending in the SAM's last saved state.
            Err(other) => return Err(other.into()),
        }
    }
    let debit = match DebitPurchaseResponse::parse(&r.data) {
        Ok(d) => d,
        Err(error) => {
            // A garbled answer to a debit: keep it pending, the card's proof decides.
            return Err(PosError::Interrupted {
                sam_seq: auth.sam_seq,
                cause: ExchangeError::InvalidCommand {
                    reason: format!("DEBIT PURCHASE response: {error}"),
                },
            });
        }
    };
    let completed = sam.complete_purchase(auth.sam_seq, &debit)?;
    let rec = completed.record.record;
    Ok(ReceiptLeg {
        purse,
        amount: part,
        balance_after: rec.balance.get(),
        counter: rec.counter,
        sam_seq: auth.sam_seq,
        pin_verified: rec.pin_verified(),
    })
}

/// A sale on the card in the reader. `pin` is asked only when the amount needs it.
pub fn sale<T: Transport, S: SecurityModule + ?Sized>(
    ch: &mut Channel<T>,
    sam: &mut S,
    request: &SaleRequest,
    pin: &mut dyn FnMut() -> Option<PinBlock>,
) -> Result<Receipt, PosError> {
    if request.amount == 0 {
        return Err(PosError::Refused(SaleRefusal::BadAmount(
            "the amount must be above zero".into(),
        )));
    }
    amount(request.amount)?;
    let fci = select_purse(ch)?;
    let serial = fci.serial;
    let recovered = recover_card(ch, sam, serial)?;
    if let Some(still) = sam
        .pending_purchases()
        .into_iter()
        .find(|p| p.serial == serial && p.is_awaiting_card())
    {
        return Err(PosError::Refused(SaleRefusal::Unresolved(format!(
            "purchase {} on this card is still pending; run epurse pos recover with the card in the reader",
            still.sam_seq
        ))));
    }
    let status = get_status(ch)?;
    let legs = plan(sam, &status, request).map_err(PosError::Refused)?;
    let no_pin_limit = status.no_pin_limit.get();
    let mut pin_verified = false;
    if legs.iter().any(|&(_, part)| part > no_pin_limit) {
        let Some(block) = pin() else {
            return Err(PosError::Refused(SaleRefusal::PinRequired { no_pin_limit }));
        };
        verify_pin(ch, block)?;
        pin_verified = true;
    }
    let profile = sam.profile().clone();
    let mut receipt = Receipt {
        merchant_name: profile.merchant_name.clone(),
        merchant_id: profile.merchant_id.to_string(),
        sam_id: profile.sam_id.to_string(),
        serial,
        datetime: request.datetime,
        legs: Vec::new(),
        total: 0,
        recovered,
    };
    for (purse, part) in legs {
        match purchase(ch, sam, serial, purse, part, request.datetime, pin_verified) {
            Ok(leg) => {
                receipt.total += leg.amount;
                receipt.legs.push(leg);
            }
            Err(cause) if receipt.legs.is_empty() => return Err(cause),
            Err(cause) => {
                let unpaid = request.amount - receipt.total;
                return Err(PosError::Partial {
                    paid: Box::new(receipt),
                    unpaid,
                    cause: Box::new(cause),
                });
            }
        }
    }
    Ok(receipt)
}
