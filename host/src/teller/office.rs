//! The one narrow interface the teller workflows use to reach the back office.
//!
//! [`Office`] is implemented by the embedded [`backoffice::Backoffice`] (the ledger file on this
//! machine) and by [`super::RemoteOffice`] (the HTTP API, `--backoffice URL`).

use apdu_spec::{Challenge, Command, PersonalizePurse, Serial};
use backoffice::api::wire::AuditView;
use backoffice::{
    Backoffice, Card, CardEvidence, CardStatus, CashDeposit, Currency, Customer, CustomerBalances,
    CustomerId, DepositReceipt, IssueRequest, IssuerAction, Load, LoadAuthorisation, LoadId,
    LoadRequest, LoadResolution, ReleaseReason,
};
use thiserror::Error;

/// Why a back-office call failed.
#[derive(Debug, Error)]
pub enum OfficeError {
    /// The back office answered with an error (a refusal, bad evidence, a ledger problem...).
    #[error(transparent)]
    Backoffice(#[from] backoffice::Error),
    /// The back office could not be reached; whether the call took effect is unknown.
    #[error("the back office cannot be reached: {0}; retry (every call is idempotent)")]
    Unreachable(String),
    /// The remote back office answered with an error that is not a refusal (a server error,
    /// an answer that does not parse...).
    #[error("{0}")]
    Remote(String),
}

impl OfficeError {
    /// The back office's refusal, if that is what this is.
    pub fn refusal(&self) -> Option<&backoffice::Refusal> {
        match self {
            OfficeError::Backoffice(e) => e.refusal(),
            OfficeError::Unreachable(_) | OfficeError::Remote(_) => None,
        }
    }
}

/// Result of a back-office call.
pub type OfficeResult<T> = Result<T, OfficeError>;

/// What the teller and operator workflows ask of the back office. Every method mirrors the
/// [`Backoffice`] method of the same name.
pub trait Office {
    /// The installation's currency.
    fn currency(&self) -> Currency;
    /// The key version the back office uses for new cards and loads.
    fn key_version(&self) -> u8;

    /// Registers a customer.
    fn create_customer(&mut self, name: &str) -> OfficeResult<Customer>;
    /// A customer.
    fn customer(&mut self, id: CustomerId) -> OfficeResult<Customer>;
    /// A customer's account balances.
    fn customer_balances(&mut self, id: CustomerId) -> OfficeResult<CustomerBalances>;
    /// A customer's cards.
    fn cards_of(&mut self, id: CustomerId) -> OfficeResult<Vec<Card>>;
    /// Cash into a customer's account (idempotent per reference).
    fn deposit_cash(&mut self, deposit: &CashDeposit) -> OfficeResult<DepositReceipt>;

    /// A card of the registry.
    fn card(&mut self, serial: &Serial) -> OfficeResult<Card>;
    /// A fresh serial for a blank card.
    fn allocate_serial(&mut self) -> OfficeResult<Serial>;
    /// The PERSONALIZE command for a blank card's challenge; registers the card *personalising*.
    fn prepare_issue(
        &mut self,
        request: &IssueRequest,
        challenge: Challenge,
    ) -> OfficeResult<PersonalizePurse>;
    /// The card accepted PERSONALIZE.
    fn confirm_issue(&mut self, serial: &Serial) -> OfficeResult<Card>;
    /// The card stayed blank: drop its registration.
    fn abandon_issue(&mut self, serial: &Serial) -> OfficeResult<()>;
    /// An issuer command (block, unblock...) bound to the card's challenge and admin counter.
    fn issuer_command(
        &mut self,
        serial: &Serial,
        challenge: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
    ) -> OfficeResult<Command>;
    /// Sets a card's registry status.
    fn set_card_status(&mut self, serial: &Serial, status: CardStatus) -> OfficeResult<Card>;

    /// Authorises a load from the card's INITIALIZE LOAD response (funds reserved, MAC2).
    fn begin_load(&mut self, request: &LoadRequest) -> OfficeResult<LoadAuthorisation>;
    /// Completes a load with the card's CREDIT LOAD response (TAC verified).
    fn complete_load(
        &mut self,
        id: LoadId,
        response: &apdu_spec::CreditLoadResponse,
    ) -> OfficeResult<LoadResolution>;
    /// Releases a load the card definitively refused to credit.
    fn release_load(&mut self, id: LoadId, reason: ReleaseReason) -> OfficeResult<LoadResolution>;
    /// Settles a pending load from the card's evidence.
    fn recover_load(&mut self, id: LoadId, evidence: &CardEvidence)
        -> OfficeResult<LoadResolution>;
    /// Unsettled loads of a card (or all).
    fn pending_loads(&mut self, serial: Option<&Serial>) -> OfficeResult<Vec<Load>>;

    /// Value conservation over the whole ledger (in the API's form, which a remote back office
    /// can return as well).
    fn audit(&mut self) -> OfficeResult<AuditView>;
}

impl Office for Backoffice {
    fn currency(&self) -> Currency {
        Backoffice::currency(self)
    }
    fn key_version(&self) -> u8 {
        Backoffice::key_version(self)
    }
    fn create_customer(&mut self, name: &str) -> OfficeResult<Customer> {
        Ok(Backoffice::create_customer(self, name)?)
    }
    fn customer(&mut self, id: CustomerId) -> OfficeResult<Customer> {
        Ok(Backoffice::customer(self, id)?)
    }
    fn customer_balances(&mut self, id: CustomerId) -> OfficeResult<CustomerBalances> {
        Ok(Backoffice::customer_balances(self, id)?)
    }
    fn cards_of(&mut self, id: CustomerId) -> OfficeResult<Vec<Card>> {
        Ok(Backoffice::cards_of(self, id)?)
    }
    fn deposit_cash(&mut self, deposit: &CashDeposit) -> OfficeResult<DepositReceipt> {
        Ok(Backoffice::deposit_cash(self, deposit)?)
    }
    fn card(&mut self, serial: &Serial) -> OfficeResult<Card> {
        Ok(Backoffice::card(self, serial)?)
    }
    fn allocate_serial(&mut self) -> OfficeResult<Serial> {
        Ok(Backoffice::allocate_serial(self)?)
    }
    fn prepare_issue(
        &mut self,
        request: &IssueRequest,
        challenge: Challenge,
    ) -> OfficeResult<PersonalizePurse> {
        Ok(Backoffice::prepare_issue(self, request, challenge)?)
    }
    fn confirm_issue(&mut self, serial: &Serial) -> OfficeResult<Card> {
        Ok(Backoffice::confirm_issue(self, serial)?)
    }
    fn abandon_issue(&mut self, serial: &Serial) -> OfficeResult<()> {
        Ok(Backoffice::abandon_issue(self, serial)?)
    }
    fn issuer_command(
        &mut self,
        serial: &Serial,
        challenge: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
    ) -> OfficeResult<Command> {
        Ok(Backoffice::issuer_command(
            self,
            serial,
            challenge,
            admin_counter,
            action,
        )?)
    }
    fn set_card_status(&mut self, serial: &Serial, status: CardStatus) -> OfficeResult<Card> {
        Ok(Backoffice::set_card_status(self, serial, status)?)
    }
    fn begin_load(&mut self, request: &LoadRequest) -> OfficeResult<LoadAuthorisation> {
        Ok(Backoffice::begin_load(self, request)?)
    }
    fn complete_load(
        &mut self,
        id: LoadId,
        response: &apdu_spec::CreditLoadResponse,
    ) -> OfficeResult<LoadResolution> {
        Ok(Backoffice::complete_load(self, id, response)?)
    }
    fn release_load(&mut self, id: LoadId, reason: ReleaseReason) -> OfficeResult<LoadResolution> {
        Ok(Backoffice::release_load(self, id, reason)?)
    }
    fn recover_load(
        &mut self,
        id: LoadId,
        evidence: &CardEvidence,
    ) -> OfficeResult<LoadResolution> {
        Ok(Backoffice::recover_load(self, id, evidence)?)
    }
    fn pending_loads(&mut self, serial: Option<&Serial>) -> OfficeResult<Vec<Load>> {
        Ok(Backoffice::pending_loads(self, serial)?)
    }
    fn audit(&mut self) -> OfficeResult<AuditView> {
        Ok(AuditView::from(&Backoffice::audit(self)?))
    }
}
