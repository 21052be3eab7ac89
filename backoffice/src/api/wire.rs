//! The JSON bodies of the HTTP API, shared by the server ([`crate::api`]) and the client
//! ([`crate::client`]). Field names are a contract for stations and scripts.
//!
//! Amounts are integers in minor units of the installation currency (see `GET /v1/health`);
//! card data (APDUs, responses, serials) travels as upper- or lower-case hex; times are Unix
//! seconds.

use apdu_spec::Purse;
use serde::{Deserialize, Serialize};

use crate::audit::AuditReport;
use crate::loads::{Load, LoadAuthorisation, LoadOutcome, LoadResolution};
use crate::money::MinorUnits;
use crate::registry::{Card, CardPurse, Customer, CustomerBalances};

/// The version of this API, in every path (`/v1/...`).
pub const API_VERSION: &str = "v1";

/// A purse by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurseName {
    /// e-Cash.
    Ecash,
    /// Food-Voucher.
    Food,
}

impl From<Purse> for PurseName {
    fn from(purse: Purse) -> Self {
        match purse {
            Purse::Ecash => PurseName::Ecash,
            Purse::Food => PurseName::Food,
        }
    }
}

impl From<PurseName> for Purse {
    fn from(purse: PurseName) -> Self {
        match purse {
            PurseName::Ecash => Purse::Ecash,
            PurseName::Food => Purse::Food,
        }
    }
}

/// Every error answer: `{"error", "code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The category: `unauthorized`, `forbidden`, `bad_request`, `not_found`, `refused`,
    /// `evidence`, `conflict`, `idempotency`, `unavailable`, `internal`.
    pub error: String,
    /// A stable machine code within the category (a refusal's [`crate::Refusal::code`],
    /// `idempotency_key_reused`, `malformed_json`, ...).
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
}

/// `GET /v1/health` (no token needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// API version (`v1`).
    pub api: String,
    /// The installation currency's code (`INR`).
    pub currency: String,
    /// Its decimal places: amounts are `value / 10^decimals` units.
    pub decimals: u8,
    /// The issuer key version of this back office (written into cards it issues).
    pub key_version: u8,
}

/// `POST /v1/customers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The customer's name (1..=200 printable characters).
    pub name: String,
}

/// A customer's two account balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    /// e-Cash account.
    pub ecash: MinorUnits,
    /// Food-Voucher account.
    pub food: MinorUnits,
}

impl From<CustomerBalances> for Balances {
    fn from(b: CustomerBalances) -> Self {
        Balances {
            ecash: b.ecash,
            food: b.food,
        }
    }
}

/// `POST /v1/customers` (201) and `GET /v1/customers/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    /// Customer id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Registered at.
    pub created_at: i64,
    /// Account balances.
    pub balances: Balances,
    /// Serials of the customer's cards (any status).
    pub cards: Vec<String>,
}

impl CustomerView {
    pub(crate) fn new(customer: &Customer, balances: CustomerBalances, cards: &[Card]) -> Self {
        CustomerView {
            id: customer.id.0,
            name: customer.name.clone(),
            created_at: customer.created_at,
            balances: balances.into(),
            cards: cards.iter().map(|c| c.serial.to_string()).collect(),
        }
    }
}

/// `POST /v1/deposits`: cash taken in at the station. The teller recorded is the station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeposit {
    /// Customer id.
    pub customer: i64,
    /// Which account.
    pub purse: PurseName,
    /// Amount in minor units, positive.
    pub amount: MinorUnits,
    /// The receipt number (unique; a deposit is recorded once per reference).
    pub reference: String,
}

/// The answer to `POST /v1/deposits` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositView {
    /// Deposit id.
    pub id: i64,
    /// Its ledger transfer.
    pub transfer_id: i64,
    /// The customer's account balance after it.
    pub balance: MinorUnits,
    /// Whether the deposit had already been recorded under this reference.
    pub replayed: bool,
}

/// One purse of a card as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPurseView {
    /// Value the ledger holds on this purse (completed loads).
    pub float: MinorUnits,
    /// Highest load counter completed.
    pub load_counter: u16,
    /// Balance the card last reported, if seen.
    pub seen_balance: Option<MinorUnits>,
    /// Load counter the card last reported.
    pub seen_load_counter: Option<u16>,
    /// Purchase counter the card last reported.
    pub seen_purchase_counter: Option<u16>,
    /// When the card was last seen.
    pub seen_at: Option<i64>,
}

impl From<&CardPurse> for CardPurseView {
    fn from(p: &CardPurse) -> Self {
        CardPurseView {
            float: p.float,
            load_counter: p.load_counter,
            seen_balance: p.seen_balance,
            seen_load_counter: p.seen_load_counter,
            seen_purchase_counter: p.seen_purchase_counter,
            seen_at: p.seen_at,
        }
    }
}

/// A card's limits (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsView {
    /// e-Cash maximum balance.
    pub ecash_max_balance: u32,
    /// e-Cash maximum per load or purchase.
    pub ecash_max_amount: u32,
    /// Food-Voucher maximum balance.
    pub food_max_balance: u32,
    /// Food-Voucher maximum per load or purchase.
    pub food_max_amount: u32,
    /// Purchases above this need the PIN.
    pub no_pin_limit: u32,
    /// Maximum unconnected load.
    pub uc_max: u32,
}

/// `GET /v1/cards/{serial}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardView {
    /// Serial (16 hex digits).
    pub serial: String,
    /// The cardholder.
    pub customer: i64,
    /// `personalising`, `active` or `blocked`.
    pub status: String,
    /// Key version.
    pub key_version: u8,
    /// Issued at (confirmed personalisation).
    pub issued_at: Option<i64>,
    /// Limits.
    pub limits: LimitsView,
    /// e-Cash purse.
    pub ecash: CardPurseView,
    /// Food-Voucher purse.
    pub food: CardPurseView,
    /// Loads on this card still unsettled (pending or escalated): recover these first.
    pub unsettled_loads: Vec<LoadView>,
}

impl CardView {
    pub(crate) fn new(card: &Card, unsettled: &[Load]) -> Self {
        let l = &card.limits;
        CardView {
            serial: card.serial.to_string(),
            customer: card.customer.0,
            status: card.status.as_str().to_owned(),
            key_version: card.key_version,
            issued_at: card.issued_at,
            limits: LimitsView {
                ecash_max_balance: l.ecash_max_balance.get(),
                ecash_max_amount: l.ecash_max_amount.get(),
                food_max_balance: l.food_max_balance.get(),
                food_max_amount: l.food_max_amount.get(),
                no_pin_limit: l.no_pin_limit.get(),
                uc_max: l.uc_max.get(),
            },
            ecash: (&card.ecash).into(),
            food: (&card.food).into(),
            unsettled_loads: unsettled.iter().map(LoadView::from).collect(),
        }
    }
}

/// `POST /v1/loads`: authorise a load from the card's INITIALIZE LOAD exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeginLoad {
    /// The card's serial (16 hex digits, from its FCI).
    pub serial: String,
    /// The INITIALIZE LOAD command APDU as sent (hex).
    pub command: String,
    /// The card's response data, without the status word `9000` (hex, 20 bytes).
    pub response: String,
}

/// The answer to `POST /v1/loads` (201): send `credit_load` to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadAuthorisationView {
    /// The load's id (for complete/release/recover).
    pub load_id: i64,
    /// Card serial.
    pub serial: String,
    /// Purse.
    pub purse: PurseName,
    /// The card's load counter for this load.
    pub counter: u16,
    /// Amount (minor units).
    pub amount: u32,
    /// The CREDIT LOAD command APDU to send to the card (hex). It carries MAC2, the load's
    /// authorisation, valid only for this card's current load session.
    pub credit_load: String,
    /// Whether this load had already been authorised (the same INITIALIZE LOAD exchange).
    pub replayed: bool,
}

impl From<&LoadAuthorisation> for LoadAuthorisationView {
    fn from(a: &LoadAuthorisation) -> Self {
        use apdu_spec::ContractCommand;
        LoadAuthorisationView {
            load_id: a.load_id.0,
            serial: a.serial.to_string(),
            purse: a.purse.into(),
            counter: a.counter,
            amount: a.amount.get(),
            credit_load: hex::encode_upper(a.credit_load.to_bytes()),
            replayed: a.replayed,
        }
    }
}

/// `POST /v1/loads/{id}/complete`: the card's CREDIT LOAD answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteLoad {
    /// The response data, without `9000` (hex, 12 bytes: balance and TAC).
    pub response: String,
}

/// `POST /v1/loads/{id}/release`: the card refused CREDIT LOAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseLoad {
    /// The card's status word (4 hex digits, e.g. `6985`). Only statuses that prove the card
    /// changed nothing release a load.
    pub sw: String,
}

/// The card's GET TRANSACTION PROOF answer in a recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofWire {
    /// Not asked (enough when the card's counter is below the load's).
    NotAsked,
    /// The card answered `6A88`.
    NotFound,
    /// The proof's response data (hex).
    Found(String),
}

/// `POST /v1/loads/{id}/recover`: the card's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverLoad {
    /// GET STATUS response data (hex, 81 bytes).
    pub status: String,
    /// GET TRANSACTION PROOF for the load's purse and counter: `"not_asked"`, `"not_found"`
    /// or `{"found": HEX}`.
    pub proof: ProofWire,
}

/// A load as recorded (no MAC or TAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadView {
    /// Id.
    pub id: i64,
    /// Card serial.
    pub serial: String,
    /// Purse.
    pub purse: PurseName,
    /// The card's load counter for it.
    pub counter: u16,
    /// Amount.
    pub amount: MinorUnits,
    /// Food-Voucher expiry (`YYYY-MM-DD`).
    pub expiry: Option<String>,
    /// The station's terminal id (hex).
    pub terminal: String,
    /// `pending`, `escalated`, `completed` or `released`.
    pub state: String,
    /// The card's balance before.
    pub balance_before: MinorUnits,
    /// The card's balance after (completed loads).
    pub balance_after: Option<MinorUnits>,
    /// How it was settled.
    pub resolution: Option<String>,
    /// Authorised at.
    pub created_at: i64,
    /// Settled at.
    pub resolved_at: Option<i64>,
}

impl From<&Load> for LoadView {
    fn from(l: &Load) -> Self {
        LoadView {
            id: l.id.0,
            serial: l.serial.to_string(),
            purse: l.purse.into(),
            counter: l.counter,
            amount: l.amount,
            expiry: l.expiry.map(|d| d.to_string()),
            terminal: l.terminal.to_string(),
            state: l.state.as_str().to_owned(),
            balance_before: l.balance_before,
            balance_after: l.balance_after,
            resolution: l.resolution.clone(),
            created_at: l.created_at,
            resolved_at: l.resolved_at,
        }
    }
}

/// The answer to complete/release/recover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResolutionView {
    /// `completed`, `already_completed`, `released`, `already_released` or `escalated`.
    pub outcome: String,
    /// The load now.
    pub load: LoadView,
}

/// The wire name of an outcome.
pub fn outcome_name(outcome: LoadOutcome) -> &'static str {
    match outcome {
        LoadOutcome::Completed => "completed",
        LoadOutcome::AlreadyCompleted => "already_completed",
        LoadOutcome::Released => "released",
        LoadOutcome::AlreadyReleased => "already_released",
        LoadOutcome::Escalated => "escalated",
    }
}

impl From<&LoadResolution> for LoadResolutionView {
    fn from(r: &LoadResolution) -> Self {
        LoadResolutionView {
            outcome: outcome_name(r.outcome).to_owned(),
            load: (&r.load).into(),
        }
    }
}

/// `GET /v1/loads?serial=HEX`: unsettled loads (of one card, or all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadList {
    /// The loads, oldest first.
    pub loads: Vec<LoadView>,
}

/// `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// No discrepancy.
    pub clean: bool,
    /// Cash deposited.
    pub deposited: MinorUnits,
    /// Customers' e-Cash accounts.
    pub customer_ecash: MinorUnits,
    /// Customers' Food-Voucher accounts.
    pub customer_food: MinorUnits,
    /// Reserved for pending e-Cash loads.
    pub pending_ecash: MinorUnits,
    /// Reserved for pending Food-Voucher loads.
    pub pending_food: MinorUnits,
    /// e-Cash on cards.
    pub float_ecash: MinorUnits,
    /// Food-Vouchers on cards.
    pub float_food: MinorUnits,
    /// Merchant accounts.
    pub merchants: MinorUnits,
    /// Settlement in transit.
    pub in_transit: MinorUnits,
    /// Transfers.
    pub transfers: i64,
    /// Customers.
    pub customers: i64,
    /// Cards.
    pub cards: i64,
    /// Loads pending.
    pub loads_pending: i64,
    /// Loads escalated.
    pub loads_escalated: i64,
    /// Loads completed.
    pub loads_completed: i64,
    /// Loads released.
    pub loads_released: i64,
    /// Each discrepancy, described.
    pub discrepancies: Vec<String>,
}

impl From<&AuditReport> for AuditView {
    fn from(r: &AuditReport) -> Self {
        let t = &r.totals;
        AuditView {
            clean: r.is_clean(),
            deposited: t.deposited,
            customer_ecash: t.customer_ecash,
            customer_food: t.customer_food,
            pending_ecash: t.pending_ecash,
            pending_food: t.pending_food,
            float_ecash: t.float_ecash,
            float_food: t.float_food,
            merchants: t.merchants,
            in_transit: t.in_transit,
            transfers: t.transfers,
            customers: t.customers,
            cards: t.cards,
            loads_pending: t.loads_pending,
            loads_escalated: t.loads_escalated,
            loads_completed: t.loads_completed,
            loads_released: t.loads_released,
            discrepancies: r.discrepancies.iter().map(ToString::to_string).collect(),
        }
    }
}
