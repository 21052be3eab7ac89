//! [`Office`] over the back office's HTTP API (`--backoffice URL`): the same workflows, with the
//! ledger on another machine.
//!
//! Every mutating call gets a fresh idempotency key that the client reuses on its own retries,
//! so a lost answer never doubles a posting; the back office's refusals come back whole (same
//! message and exit code as with the embedded ledger). A call whose answer never arrived is
//! [`OfficeError::Unreachable`]: the workflows then leave the load pending for recovery.

use apdu_spec::{
    Amount, Challenge, Command, CreditLoadResponse, Date, DateTime, Limits, MccAllowlist,
    PersonalizePurse, Purse, Serial, TerminalId,
};
use backoffice::api::wire::{AuditView, CardPurseView, CardView, LoadResolutionView, LoadView};
use backoffice::client::{BackofficeClient, ClientError, IdempotencyKey};
use backoffice::{
    Card, CardEvidence, CardPurse, CardStatus, CashDeposit, Currency, Customer, CustomerBalances,
    CustomerId, DepositReceipt, Error, EvidenceError, IssueRequest, IssuerAction, Load,
    LoadAuthorisation, LoadId, LoadOutcome, LoadResolution, LoadState, Refusal, ReleaseReason,
};

use super::office::{Office, OfficeError, OfficeResult};

/// The back office behind `https://HOST:PORT`.
#[derive(Debug)]
pub struct RemoteOffice {
    client: BackofficeClient,
    currency: Currency,
    key_version: u8,
}

impl RemoteOffice {
    /// Connects: asks `GET /v1/health` for the installation's currency and key version.
    pub fn connect(client: BackofficeClient) -> OfficeResult<Self> {
        let health = client.health().map_err(remote_error)?;
        let currency = Currency::new(&health.currency, health.decimals).map_err(|e| {
            OfficeError::Remote(format!(
                "the back office at {} reports currency {} with {} decimals: {e}",
                client.base_url(),
                health.currency,
                health.decimals
            ))
        })?;
        Ok(RemoteOffice {
            client,
            currency,
            key_version: health.key_version,
        })
    }

    /// The client.
    pub fn client(&self) -> &BackofficeClient {
        &self.client
    }
}

/// A client error as an office error: refusals and evidence problems as the embedded back
/// office reports them, no answer as [`OfficeError::Unreachable`].
pub fn remote_error(e: ClientError) -> OfficeError {
    if let Some(refusal) = e.refusal() {
        return OfficeError::Backoffice(Error::Refused(refusal));
    }
    match e {
        ClientError::Transport { .. } => OfficeError::Unreachable(e.to_string()),
        ClientError::Api { status, ref body } => {
            let message = body.message.clone();
            match (body.error.as_str(), body.code.as_str()) {
                ("refused", "mac_failure") => {
                    OfficeError::Backoffice(Error::Refused(Refusal::Mac1Invalid))
                }
                ("evidence", "tac_invalid") => {
                    OfficeError::Backoffice(Error::Evidence(EvidenceError::TacInvalid))
                }
                ("evidence", _) => {
                    OfficeError::Backoffice(Error::Evidence(EvidenceError::NotDefinitive(message)))
                }
                ("not_found", _) => OfficeError::Backoffice(Error::NotFound(message)),
                ("bad_request", _) => OfficeError::Backoffice(Error::Invalid(message)),
                ("conflict", _) => OfficeError::Backoffice(Error::Conflict(message)),
                _ if status == 503 => OfficeError::Unreachable(e.to_string()),
                _ => OfficeError::Remote(e.to_string()),
            }
        }
        other => OfficeError::Remote(other.to_string()),
    }
}

fn bad(what: &str, detail: impl std::fmt::Display) -> OfficeError {
    OfficeError::Remote(format!(
        "the back office's answer does not parse ({what}: {detail}); check that station and server run the same epurse version"
    ))
}

fn serial(text: &str) -> OfficeResult<Serial> {
    text.parse().map_err(|e| bad("serial", e))
}

fn amount(what: &str, units: u32) -> OfficeResult<Amount> {
    Amount::new(units).map_err(|e| bad(what, e))
}

fn purse_of(purse: Purse, v: &CardPurseView) -> CardPurse {
    CardPurse {
        purse,
        float: v.float,
        load_counter: v.load_counter,
        seen_balance: v.seen_balance,
        seen_load_counter: v.seen_load_counter,
        seen_purchase_counter: v.seen_purchase_counter,
        seen_at: v.seen_at,
    }
}

/// A card from its wire form.
pub fn card_from_view(v: &CardView) -> OfficeResult<Card> {
    let status = backoffice::api::wire::card_status(&v.status)
        .ok_or_else(|| bad("card status", &v.status))?;
    let l = &v.limits;
    let mccs = hex::decode(&v.food_mccs).map_err(|e| bad("food_mccs", e))?;
    Ok(Card {
        serial: serial(&v.serial)?,
        customer: CustomerId(v.customer),
        key_version: v.key_version,
        status,
        limits: Limits {
            ecash_max_balance: amount("limits", l.ecash_max_balance)?,
            ecash_max_amount: amount("limits", l.ecash_max_amount)?,
            food_max_balance: amount("limits", l.food_max_balance)?,
            food_max_amount: amount("limits", l.food_max_amount)?,
            no_pin_limit: amount("limits", l.no_pin_limit)?,
            uc_max: amount("limits", l.uc_max)?,
        },
        pin_try_limit: v.pin_try_limit,
        uc_limit: v.uc_limit,
        food_mccs: MccAllowlist::parse(&mccs).map_err(|e| bad("food_mccs", e))?,
        created_at: v.created_at,
        issued_at: v.issued_at,
        ecash: purse_of(Purse::Ecash, &v.ecash),
        food: purse_of(Purse::Food, &v.food),
    })
}

/// A load from its wire form (without the card's random, MAC1 or TAC, which stay with the
/// back office).
pub fn load_from_view(v: &LoadView) -> OfficeResult<Load> {
    let state = match v.state.as_str() {
        "pending" => LoadState::Pending,
        "escalated" => LoadState::Escalated,
        "completed" => LoadState::Completed,
        "released" => LoadState::Released,
        other => return Err(bad("load state", other)),
    };
    let terminal = hex::decode(&v.terminal)
        .map_err(|e| bad("terminal", e))
        .and_then(|b| TerminalId::parse(&b).map_err(|e| bad("terminal", e)))?;
    let expiry = v
        .expiry
        .as_deref()
        .map(|d| d.parse::<Date>().map_err(|e| bad("expiry", e)))
        .transpose()?;
    let datetime: DateTime = v.datetime.parse().map_err(|e| bad("datetime", e))?;
    Ok(Load::reported(
        LoadId(v.id),
        serial(&v.serial)?,
        v.purse.into(),
        v.counter,
        v.amount,
        expiry,
        terminal,
        v.key_version,
        v.balance_before,
        datetime,
        CustomerId(v.customer),
        state,
        v.balance_after,
        v.resolution.clone(),
        v.created_at,
        v.resolved_at,
    ))
}

fn resolution(v: &LoadResolutionView) -> OfficeResult<LoadResolution> {
    let outcome = match v.outcome.as_str() {
        "completed" => LoadOutcome::Completed,
        "already_completed" => LoadOutcome::AlreadyCompleted,
        "released" => LoadOutcome::Released,
        "already_released" => LoadOutcome::AlreadyReleased,
        "escalated" => LoadOutcome::Escalated,
        other => return Err(bad("load outcome", other)),
    };
    Ok(LoadResolution {
        outcome,
        load: load_from_view(&v.load)?,
    })
}

impl Office for RemoteOffice {
    fn currency(&self) -> Currency {
        self.currency
    }
    fn key_version(&self) -> u8 {
        self.key_version
    }
    fn create_customer(&mut self, name: &str) -> OfficeResult<Customer> {
        let v = self
            .client
            .create_customer(name, &IdempotencyKey::new())
            .map_err(remote_error)?;
        Ok(Customer {
            id: CustomerId(v.id),
            name: v.name,
            created_at: v.created_at,
        })
    }
    fn customer(&mut self, id: CustomerId) -> OfficeResult<Customer> {
        let v = self.client.customer(id).map_err(remote_error)?;
        Ok(Customer {
            id: CustomerId(v.id),
            name: v.name,
            created_at: v.created_at,
        })
    }
    fn customer_balances(&mut self, id: CustomerId) -> OfficeResult<CustomerBalances> {
        let v = self.client.customer(id).map_err(remote_error)?;
        Ok(CustomerBalances {
            ecash: v.balances.ecash,
            food: v.balances.food,
        })
    }
    fn cards_of(&mut self, id: CustomerId) -> OfficeResult<Vec<Card>> {
        let v = self.client.customer(id).map_err(remote_error)?;
        v.cards
            .iter()
            .map(|s| {
                let view = self.client.card(&serial(s)?).map_err(remote_error)?;
                card_from_view(&view)
            })
            .collect()
    }
    fn deposit_cash(&mut self, deposit: &CashDeposit) -> OfficeResult<DepositReceipt> {
        let v = self
            .client
            .deposit_cash(deposit, &IdempotencyKey::new())
            .map_err(remote_error)?;
        Ok(DepositReceipt {
            id: v.id,
            transfer_id: v.transfer_id,
            balance: v.balance,
            replayed: v.replayed,
        })
    }
    fn card(&mut self, serial: &Serial) -> OfficeResult<Card> {
        let v = self.client.card(serial).map_err(remote_error)?;
        card_from_view(&v)
    }
    fn allocate_serial(&mut self) -> OfficeResult<Serial> {
        self.client
            .allocate_serial(&IdempotencyKey::new())
            .map_err(remote_error)
    }
    fn prepare_issue(
        &mut self,
        request: &IssueRequest,
        challenge: Challenge,
    ) -> OfficeResult<PersonalizePurse> {
        self.client
            .prepare_issue(request, challenge, &IdempotencyKey::new())
            .map_err(remote_error)
    }
    fn confirm_issue(&mut self, serial: &Serial) -> OfficeResult<Card> {
        let v = self
            .client
            .confirm_issue(serial, &IdempotencyKey::new())
            .map_err(remote_error)?;
        card_from_view(&v)
    }
    fn abandon_issue(&mut self, serial: &Serial) -> OfficeResult<()> {
        self.client
            .abandon_issue(serial, &IdempotencyKey::new())
            .map_err(remote_error)
    }
    fn issuer_command(
        &mut self,
        serial: &Serial,
        challenge: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
    ) -> OfficeResult<Command> {
        self.client
            .issuer_command(
                serial,
                challenge,
                admin_counter,
                action,
                &IdempotencyKey::new(),
            )
            .map_err(remote_error)
    }
    fn set_card_status(&mut self, serial: &Serial, status: CardStatus) -> OfficeResult<Card> {
        let v = self
            .client
            .set_card_status(serial, status, &IdempotencyKey::new())
            .map_err(remote_error)?;
        card_from_view(&v)
    }
    fn begin_load(&mut self, request: &backoffice::LoadRequest) -> OfficeResult<LoadAuthorisation> {
        self.client
            .begin_load(request, &IdempotencyKey::new())
            .map_err(remote_error)
    }
    fn complete_load(
        &mut self,
        id: LoadId,
        response: &CreditLoadResponse,
    ) -> OfficeResult<LoadResolution> {
        let v = self
            .client
            .complete_load(id, response, &IdempotencyKey::new())
            .map_err(remote_error)?;
        resolution(&v)
    }
    fn release_load(&mut self, id: LoadId, reason: ReleaseReason) -> OfficeResult<LoadResolution> {
        let ReleaseReason::CardRefusedCredit(sw) = reason;
        let v = self
            .client
            .release_load(id, sw, &IdempotencyKey::new())
            .map_err(remote_error)?;
        resolution(&v)
    }
    fn recover_load(
        &mut self,
        id: LoadId,
        evidence: &CardEvidence,
    ) -> OfficeResult<LoadResolution> {
        let v = self
            .client
            .recover_load(id, evidence, &IdempotencyKey::new())
            .map_err(remote_error)?;
        resolution(&v)
    }
    fn pending_loads(&mut self, serial: Option<&Serial>) -> OfficeResult<Vec<Load>> {
        let views = self.client.unsettled_loads(serial).map_err(remote_error)?;
        views.iter().map(load_from_view).collect()
    }
    fn audit(&mut self) -> OfficeResult<AuditView> {
        self.client.audit().map_err(remote_error)
    }
}

#[cfg(test)]
mod tests {
    use backoffice::api::wire::{ErrorBody, RefusalWire};

    use super::*;

    fn api(status: u16, error: &str, code: &str, refusal: Option<RefusalWire>) -> ClientError {
        let refusal = refusal.map(Box::new);
        ClientError::Api {
            status,
            body: ErrorBody {
                error: error.into(),
                code: code.into(),
                message: format!("{code} happened"),
                refusal,
            },
        }
    }

    #[test]
    fn refusals_come_back_whole_and_lost_answers_are_unreachable() {
        let refusal = Refusal::InsufficientFunds {
            available: 1_000,
            requested: 2_500,
        };
        let e = remote_error(api(
            422,
            "refused",
            "insufficient_funds",
            Some(RefusalWire::from(&refusal)),
        ));
        assert_eq!(e.refusal(), Some(&refusal));

        let e = remote_error(ClientError::Transport {
            url: "https://127.0.0.1:1/v1/loads".into(),
            message: "connection refused".into(),
        });
        assert!(matches!(e, OfficeError::Unreachable(_)), "{e}");
        let e = remote_error(api(503, "unavailable", "busy", None));
        assert!(matches!(e, OfficeError::Unreachable(_)), "{e}");

        let e = remote_error(api(409, "evidence", "tac_invalid", None));
        assert!(matches!(
            e,
            OfficeError::Backoffice(Error::Evidence(EvidenceError::TacInvalid))
        ));
        let e = remote_error(api(409, "evidence", "not_definitive", None));
        assert!(matches!(
            e,
            OfficeError::Backoffice(Error::Evidence(EvidenceError::NotDefinitive(_)))
        ));
        let e = remote_error(api(422, "refused", "mac_failure", None));
        assert_eq!(e.refusal(), Some(&Refusal::Mac1Invalid));
        let e = remote_error(api(400, "bad_request", "invalid_hex", None));
        assert!(matches!(e, OfficeError::Backoffice(Error::Invalid(_))));
        let e = remote_error(api(500, "internal", "internal", None));
        assert!(matches!(e, OfficeError::Remote(_)), "{e}");
        assert!(e.refusal().is_none());
    }

    #[test]
    fn a_load_survives_its_wire_form() {
        let load = Load::reported(
            LoadId(42),
            "4550000000000007".parse().unwrap(),
            Purse::Food,
            3,
            12_345,
            Some(Date::new(2027, 1, 31).unwrap()),
            TerminalId(*b"TLR009"),
            1,
            500,
            "2026-11-23T10:15:00".parse().unwrap(),
            CustomerId(9),
            LoadState::Escalated,
            None,
            Some("card evidence not definitive".into()),
            1_700_000_000,
            None,
        );
        let view = LoadView::from(&load);
        assert_eq!(load_from_view(&view).unwrap(), load);

        let mut bad = view.clone();
        bad.state = "lost".into();
        assert!(matches!(load_from_view(&bad), Err(OfficeError::Remote(_))));
    }
}
