//! Connected load and recovery (SPEC 2.6, 2.8).

use apdu_spec::{
    Amount, Applet, Date, InitializeLoad, Lifecycle, Purse, PurseStatus, RecordType, Serial,
    TerminalId,
};
use backoffice::{
    CardEvidence, CustomerId, EvidenceError, Load, LoadOutcome, LoadRequest, MinorUnits,
    ProofEvidence, ReleaseReason,
};

use super::{card_refusal, points, Checkpoint, Office, RefusalKind, TellerError};
use crate::card::{CardClient, CardError};
use crate::transport::Transport;

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOrder {
    /// Which purse.
    pub purse: Purse,
    /// Amount in minor units (> 0).
    pub amount: MinorUnits,
    /// Voucher expiry (Food-Voucher loads only; required there).
    pub expiry: Option<Date>,
    /// This teller station's terminal id (written into the card's log).
    pub terminal: TerminalId,
}

/// One pending load met when the card was presented, and how the evidence settled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The load as it is now.
    pub load: Load,
    /// What recovery did; `Err` says why the evidence could not settle it (it stays pending).
    pub outcome: Result<LoadOutcome, String>,
}

impl Recovered {
    /// Whether the load is still unsettled after recovery (escalated or evidence refused).
    pub fn unsettled(&self) -> bool {
        !matches!(
            self.outcome,
            Ok(LoadOutcome::Completed
                | LoadOutcome::AlreadyCompleted
                | LoadOutcome::Released
                | LoadOutcome::AlreadyReleased)
        )
    }
}

/// What [`recover`] found on the card in the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverReport {
    /// The card (`None` for a blank card).
    pub serial: Option<Serial>,
    /// Each unsettled load of the card and its outcome.
    pub recovered: Vec<Recovered>,
}

impl RecoverReport {
    /// Loads still unsettled after recovery.
    pub fn unsettled(&self) -> usize {
        self.recovered.iter().filter(|r| r.unsettled()).count()
    }
}

/// A completed load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReceipt {
    /// The completed load (id, serial, purse, amount, counter, datetime, balance after...).
    pub load: Load,
    /// The customer's account balance for that purse after the load.
    pub account_balance: MinorUnits,
    /// The customer.
    pub customer: CustomerId,
    /// Pending loads of this card recovered before the new load.
    pub recovered: Vec<Recovered>,
}

/// Selects the purse applet and reads its status; a blank card is `Ok(None)`.
fn present<T: Transport>(
    card: &mut CardClient<T>,
) -> Result<Option<(PurseStatus, bool)>, TellerError> {
    let selection = card.select(Applet::Purse)?;
    if selection.fci.lifecycle == Lifecycle::Blank {
        return Ok(None);
    }
    let status = card.purse_status()?;
    Ok(Some((status, selection.blocked)))
}

/// Settles every unsettled load of the card whose GET STATUS is `status` from the card's
/// evidence (counters, GET TRANSACTION PROOF).
fn recover_card<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
    status: &PurseStatus,
) -> Result<Vec<Recovered>, TellerError> {
    let currency = office.currency();
    let pending = office
        .pending_loads(Some(&status.serial))
        .map_err(|e| TellerError::from_office(&currency, e))?;
    let mut out = Vec::with_capacity(pending.len());
    for load in pending {
        let counter = status.purse(load.purse).load_counter;
        // SPEC 1.5: an unconnected load's record has TERMINAL 00×6 and TT 04; the back office
        // records its unconnected loads the same way.
        let record_type = if load.terminal.is_zero() {
            RecordType::UnconnectedLoad
        } else {
            RecordType::Load
        };
        let proof = if counter >= load.counter {
            match card.transaction_proof(load.purse, record_type, load.counter)? {
                Some(p) => ProofEvidence::Found(p),
                None => ProofEvidence::NotFound,
            }
        } else {
            ProofEvidence::NotAsked
        };
        let evidence = CardEvidence {
            status: status.clone(),
            proof,
        };
        match office.recover_load(load.id, &evidence) {
            Ok(res) => out.push(Recovered {
                load: res.load,
                outcome: Ok(res.outcome),
            }),
            Err(super::OfficeError::Backoffice(backoffice::Error::Evidence(e))) => {
                out.push(Recovered {
                    load,
                    outcome: Err(e.to_string()),
                })
            }
            Err(e) => return Err(TellerError::from_office(&currency, e)),
        }
    }
    Ok(out)
}

/// `epurse teller recover`: settles every unsettled load of the card in the reader from its
/// evidence.
pub fn recover<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
) -> Result<RecoverReport, TellerError> {
    let Some((status, _blocked)) = present(card)? else {
        return Ok(RecoverReport {
            serial: None,
            recovered: Vec::new(),
        });
    };
    let recovered = recover_card(office, card, &status)?;
    Ok(RecoverReport {
        serial: Some(status.serial),
        recovered,
    })
}

fn unsettled_message(serial: &Serial, recovered: &[Recovered]) -> String {
    let list: Vec<String> = recovered
        .iter()
        .filter(|r| r.unsettled())
        .map(|r| match &r.outcome {
            Ok(LoadOutcome::Escalated) => format!(
                "load {} escalated: the card's log no longer holds it; the issuer must reconcile it",
                r.load.id
            ),
            Ok(other) => format!("load {}: {other:?}", r.load.id),
            Err(why) => format!("load {}: {why}", r.load.id),
        })
        .collect();
    format!(
        "card {serial} has an unsettled load that its evidence cannot settle ({}); no new load until it is settled",
        list.join("; ")
    )
}

/// `epurse teller load`: SELECT, GET STATUS, recovery of any pending load of this card,
/// INITIALIZE LOAD, authorisation by the back office, CREDIT LOAD, completion on the TAC.
///
/// The customer's account and the card move by the same amount or neither does: when the
/// exchange is lost after the back office reserved the funds, the load stays pending and
/// [`TellerError::Interrupted`] says to present the card again.
pub fn load<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
    order: &LoadOrder,
    checkpoint: Checkpoint<'_>,
) -> Result<LoadReceipt, TellerError> {
    let currency = office.currency();
    let amount = u32::try_from(order.amount)
        .ok()
        .filter(|&a| a > 0)
        .and_then(|a| Amount::new(a).ok())
        .ok_or_else(|| {
            TellerError::Invalid(format!(
                "a load amount must be more than 0 and at most {}, got {}",
                currency.format(i64::from(i32::MAX)),
                currency.format(order.amount)
            ))
        })?;
    match (order.purse, order.expiry) {
        (Purse::Food, None) => {
            return Err(TellerError::Invalid(
                "a Food-Voucher load needs an expiry date: add --expiry YYYY-MM-DD".to_owned(),
            ))
        }
        (Purse::Ecash, Some(_)) => {
            return Err(TellerError::Invalid(
                "e-Cash does not expire: drop --expiry (it is for Food-Voucher loads)".to_owned(),
            ))
        }
        _ => {}
    }

    let Some((status, blocked)) = present(card)? else {
        return Err(TellerError::refused(
            RefusalKind::Unknown,
            "the card is blank (not issued): issue it first with `epurse card issue --customer ID`",
        ));
    };
    let serial = status.serial;
    let recovered = recover_card(office, card, &status)?;
    if recovered.iter().any(Recovered::unsettled) {
        return Err(TellerError::refused(
            RefusalKind::PendingLoad,
            unsettled_message(&serial, &recovered),
        ));
    }
    if blocked {
        return Err(TellerError::refused(
            RefusalKind::CardBlocked,
            format!("card {serial} is blocked; send the cardholder to the issuer"),
        ));
    }

    let command = InitializeLoad {
        purse: order.purse,
        key_version: office.key_version(),
        amount,
        terminal: order.terminal,
        expiry: order.expiry,
    };
    let response = card.initialize_load(&command).map_err(card_refusal)?;
    let auth = office
        .begin_load(&LoadRequest {
            serial,
            command,
            response,
        })
        .map_err(|e| TellerError::from_office(&currency, e))?;
    let id = auth.load_id;
    checkpoint(points::AFTER_BEGIN_LOAD);

    let pending_note = |what: &str| {
        format!(
            "{what}; load {id} ({} to card {serial}) stays pending with the funds reserved: put the \
             card back and run `epurse teller recover` (or load again: pending loads are recovered \
             first)",
            currency.display(order.amount)
        )
    };
    let credit = card.credit_load(&auth.credit_load);
    checkpoint(points::AFTER_CREDIT_LOAD);
    let resolution = match credit {
        Ok(response) => match office.complete_load(id, &response) {
            Ok(res) => res,
            Err(super::OfficeError::Backoffice(backoffice::Error::Evidence(
                EvidenceError::TacInvalid,
            ))) => {
                return Err(TellerError::refused(
                    RefusalKind::MacFailure,
                    pending_note("MAC failure: the card's TAC over the load does not verify"),
                ))
            }
            Err(e) => {
                return Err(TellerError::Interrupted(pending_note(&format!(
                    "the card credited the load but the back office could not record it ({e})"
                ))))
            }
        },
        Err(CardError::Status { command: name, sw }) => {
            match office.release_load(id, ReleaseReason::CardRefusedCredit(sw)) {
                Ok(_) => {
                    let kind = super::card_refusal_kind(sw).unwrap_or(RefusalKind::Other);
                    return Err(TellerError::refused(
                        kind,
                        format!(
                            "the card refused {name} ({sw}: {}); load {id} was released and the \
                             reserved funds returned to the customer's account",
                            sw.host_action()
                        ),
                    ));
                }
                Err(e) => {
                    return Err(TellerError::Interrupted(pending_note(&format!(
                    "the card answered {name} with {sw}, which does not prove it did nothing ({e})"
                ))))
                }
            }
        }
        Err(e) => {
            return Err(TellerError::Interrupted(pending_note(&format!(
                "the exchange with the card was lost during CREDIT LOAD ({e})"
            ))))
        }
    };
    let load = resolution.load;
    let account_balance = office
        .customer_balances(load.customer)
        .map(|b| match load.purse {
            Purse::Ecash => b.ecash,
            Purse::Food => b.food,
        })
        .map_err(|e| TellerError::from_office(&currency, e))?;
    Ok(LoadReceipt {
        customer: load.customer,
        load,
        account_balance,
        recovered,
    })
}
