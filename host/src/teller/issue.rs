//! Card issuance (SPEC 2.13) and the issuer's block / unblock (SPEC 2.11).

use apdu_spec::{Applet, Lifecycle, Serial, UnblockTarget};
use backoffice::{Card, CardProfile, CardStatus, CustomerId, IssueRequest, IssuerAction};

use super::{Office, RefusalKind, TellerError};
use crate::card::{CardClient, CardError};
use crate::transport::Transport;

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOrder {
    /// The customer the card is bound to.
    pub customer: CustomerId,
    /// Limits, PIN, food categories.
    pub profile: CardProfile,
}

/// An issued card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueReport {
    /// The card as registered now (active).
    pub card: Card,
    /// Whether this run finished an earlier, interrupted issue of the same card.
    pub resumed: bool,
}

/// What block / unblock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReport {
    /// The card as registered now.
    pub card: Card,
    /// Whether the card itself was changed by this run (`false`: it already was in that state
    /// and only the registry was brought in line).
    pub card_changed: bool,
}

/// `epurse card issue`: personalises the blank card in the reader for `order.customer` (GET
/// CHALLENGE, `prepare_issue`, PERSONALIZE, `confirm_issue`).
///
/// A pulled card leaves nothing half-issued for good: if PERSONALIZE's outcome is unknown the
/// registration stays *personalising*, and running the same command again with the card
/// resumes it — an ACTIVE card with that serial is confirmed, a still-blank card is
/// personalised under the same serial. A card that refused PERSONALIZE stays blank and its
/// registration is abandoned.
pub fn issue<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
    order: &IssueOrder,
) -> Result<IssueReport, TellerError> {
    let currency = office.currency();
    let bo = |e| TellerError::from_office(&currency, e);
    // The customer must exist before a serial is spent on them.
    office.customer(order.customer).map_err(bo)?;
    let selection = card.select(Applet::Purse)?;
    if selection.fci.lifecycle != Lifecycle::Blank {
        let serial = selection.fci.serial;
        return match office.card(&serial) {
            Ok(c) if c.status == CardStatus::Personalising && c.customer == order.customer => {
                let card = office.confirm_issue(&serial).map_err(bo)?;
                Ok(IssueReport {
                    card,
                    resumed: true,
                })
            }
            Ok(c) if c.status == CardStatus::Personalising => Err(TellerError::refused(
                RefusalKind::Other,
                format!(
                    "this card ({serial}) was personalised for customer {}, not {}: run the issue \
                     for customer {} to finish it",
                    c.customer, order.customer, c.customer
                ),
            )),
            Ok(c) => Err(TellerError::refused(
                RefusalKind::Other,
                format!(
                    "this card ({serial}) is already issued to customer {} ({}); a card is issued once",
                    c.customer,
                    c.status.as_str()
                ),
            )),
            Err(e) => Err(match e.refusal() {
                Some(backoffice::Refusal::UnknownCard { .. }) => TellerError::refused(
                    RefusalKind::Unknown,
                    format!(
                        "this card ({serial}) is already personalised, but not by this back \
                         office: use a blank card"
                    ),
                ),
                _ => bo(e),
            }),
        };
    }
    // Resume an interrupted issue for this customer (same serial), else a new serial.
    let serial = match office
        .cards_of(order.customer)
        .map_err(bo)?
        .into_iter()
        .find(|c| c.status == CardStatus::Personalising)
    {
        Some(c) => c.serial,
        None => office.allocate_serial().map_err(bo)?,
    };
    let request = IssueRequest {
        serial,
        customer: order.customer,
        profile: order.profile.clone(),
    };
    let challenge = card.get_challenge()?;
    let personalize = office.prepare_issue(&request, challenge).map_err(bo)?;
    match card.command_without_data(
        "PERSONALIZE",
        &apdu_spec::ContractCommand::to_command(&personalize),
    ) {
        Ok(()) => {
            let card = office.confirm_issue(&serial).map_err(bo)?;
            Ok(IssueReport {
                card,
                resumed: false,
            })
        }
        Err(CardError::Status { sw, .. }) => {
            // Only a card seen to be still blank proves the registration can go.
            let still_blank = card
                .select(Applet::Purse)
                .map(|s| s.fci.lifecycle == Lifecycle::Blank);
            match still_blank {
                Ok(true) => {
                    office.abandon_issue(&serial).map_err(bo)?;
                    Err(TellerError::Card(CardError::Status {
                        command: "PERSONALIZE",
                        sw,
                    }))
                }
                _ => Err(TellerError::Interrupted(format!(
                    "the card answered PERSONALIZE with {sw} and cannot be seen to be still \
                     blank; card {serial} stays registered as personalising for customer {}: \
                     put the same card back and run the same `epurse card issue` again",
                    order.customer
                ))),
            }
        }
        Err(e) => Err(TellerError::Interrupted(format!(
            "{e}; card {serial} stays registered as personalising for customer {}: put the same \
             card back and run the same `epurse card issue` again to finish (or resume) it",
            order.customer
        ))),
    }
}

/// Which issuer command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Block,
    Unblock,
}

fn admin<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
    which: Admin,
) -> Result<AdminReport, TellerError> {
    let currency = office.currency();
    let bo = |e| TellerError::from_office(&currency, e);
    let selection = card.select(Applet::Purse)?;
    if selection.fci.lifecycle == Lifecycle::Blank {
        return Err(TellerError::refused(
            RefusalKind::Unknown,
            "the card is blank (not issued): there is nothing to block or unblock",
        ));
    }
    let status = card.purse_status()?;
    let serial: Serial = status.serial;
    let registered = office.card(&serial).map_err(bo)?;
    if registered.status == CardStatus::Personalising {
        return Err(TellerError::refused(
            RefusalKind::Unknown,
            format!(
                "card {serial} is not issued yet: finish its issue first (`epurse card issue`)"
            ),
        ));
    }
    let (target_lifecycle, target_status, action) = match which {
        Admin::Block => (Lifecycle::Blocked, CardStatus::Blocked, IssuerAction::Block),
        Admin::Unblock => (
            Lifecycle::Active,
            CardStatus::Active,
            IssuerAction::Unblock(UnblockTarget::Card),
        ),
    };
    let mut card_changed = false;
    if status.lifecycle != target_lifecycle {
        let challenge = card.get_challenge()?;
        let command = office
            .issuer_command(&serial, challenge, status.admin_counter, &action)
            .map_err(bo)?;
        let name = match which {
            Admin::Block => "APPLICATION BLOCK",
            Admin::Unblock => "APPLICATION UNBLOCK",
        };
        match card.command_without_data(name, &command) {
            Ok(()) => card_changed = true,
            Err(CardError::Exchange(e)) => {
                return Err(TellerError::Interrupted(format!(
                    "{e}; the card may or may not have taken {name}: put it back and run the same \
                     command again (it checks the card's state first)"
                )))
            }
            Err(e) => return Err(super::card_refusal(e)),
        }
    }
    let card = office.set_card_status(&serial, target_status).map_err(bo)?;
    Ok(AdminReport { card, card_changed })
}

/// `epurse card block`: APPLICATION BLOCK under the issuer's MAC, then the registry marks the
/// card blocked (every load refused). A card already blocked only updates the registry.
pub fn block<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
) -> Result<AdminReport, TellerError> {
    admin(office, card, Admin::Block)
}

/// `epurse card unblock`: APPLICATION UNBLOCK (P1 `00`) under the issuer's MAC, then the
/// registry marks the card active.
pub fn unblock<O: Office + ?Sized, T: Transport>(
    office: &mut O,
    card: &mut CardClient<T>,
) -> Result<AdminReport, TellerError> {
    admin(office, card, Admin::Unblock)
}
