//! The JSON bodies of the HTTP API, shared by the server ([`crate::api`]) and the client
//! ([`crate::client`]). Field names are a contract for stations and scripts.
//!
//! Amounts are integers in minor units of the installation currency (see `GET /v1/health`);
//! card data (APDUs, responses, serials) travels as upper- or lower-case hex; times are Unix
//! seconds.

use apdu_spec::Purse;
use serde::{Deserialize, Serialize};

use apdu_spec::Serial;

use crate::audit::AuditReport;
use crate::error::Refusal;
use crate::loads::{Load, LoadAuthorisation, LoadOutcome, LoadResolution};
use crate::money::MinorUnits;
use crate::registry::{Card, CardPurse, CardStatus, Customer, CustomerBalances};
use crate::settlement::Settlement;

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
    /// A business refusal's data (with `error` = `refused` or `not_found`), so that a remote
    /// station can show the same message and exit code as an embedded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Box<RefusalWire>>,
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
    /// PIN try limit.
    #[serde(default)]
    pub pin_try_limit: u8,
    /// Unconnected-load attempt limit.
    #[serde(default)]
    pub uc_limit: u8,
    /// Food-Voucher MCC allowlist (hex, 17 bytes).
    #[serde(default)]
    pub food_mccs: String,
    /// Registered at.
    #[serde(default)]
    pub created_at: i64,
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
            pin_try_limit: card.pin_try_limit,
            uc_limit: card.uc_limit,
            food_mccs: hex::encode_upper(card.food_mccs.to_bytes()),
            created_at: card.created_at,
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
    /// The card's key version for it.
    #[serde(default)]
    pub key_version: u8,
    /// The load's date and time as sent to the card (`YYYY-MM-DDTHH:MM:SS`).
    #[serde(default)]
    pub datetime: String,
    /// The customer whose account funds it.
    #[serde(default)]
    pub customer: i64,
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
            key_version: l.key_version,
            datetime: l.datetime.to_string(),
            customer: l.customer.0,
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

// ---------------------------------------------------------------------------------------------
// Refusals, carried whole so that a remote station shows the same message and exit code as an
// embedded one.

/// A business refusal with its data (in [`ErrorBody::refusal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefusalWire {
    /// [`Refusal::UnknownCard`].
    UnknownCard {
        /// Serial.
        serial: String,
    },
    /// [`Refusal::CardNotIssued`].
    CardNotIssued {
        /// Serial.
        serial: String,
    },
    /// [`Refusal::CardBlocked`].
    CardBlocked {
        /// Serial.
        serial: String,
    },
    /// [`Refusal::SerialAlreadyIssued`].
    SerialAlreadyIssued {
        /// Serial.
        serial: String,
    },
    /// [`Refusal::UnknownCustomer`].
    UnknownCustomer {
        /// Customer id.
        customer: i64,
    },
    /// [`Refusal::KeyVersion`].
    KeyVersion {
        /// Serial.
        serial: String,
        /// The card's key version.
        card: u8,
        /// The expected one.
        expected: u8,
    },
    /// [`Refusal::Mac1Invalid`].
    Mac1Invalid,
    /// [`Refusal::AmountOverLimit`].
    AmountOverLimit {
        /// Requested.
        amount: MinorUnits,
        /// Limit.
        limit: MinorUnits,
    },
    /// [`Refusal::BalanceOverMax`].
    BalanceOverMax {
        /// Balance after.
        would_hold: MinorUnits,
        /// Maximum.
        max_balance: MinorUnits,
    },
    /// [`Refusal::InsufficientFunds`].
    InsufficientFunds {
        /// Available.
        available: MinorUnits,
        /// Requested.
        requested: MinorUnits,
    },
    /// [`Refusal::PendingLoad`].
    PendingLoad {
        /// Serial.
        serial: String,
        /// The pending load.
        load_id: i64,
        /// Its purse.
        purse: PurseName,
        /// Its counter.
        counter: u16,
    },
    /// [`Refusal::CounterRewound`].
    CounterRewound {
        /// Serial.
        serial: String,
        /// Counter reported.
        reported: u16,
        /// Highest completed.
        known: u16,
    },
    /// [`Refusal::ExpiryPast`].
    ExpiryPast {
        /// Requested expiry.
        expiry: String,
        /// Today.
        today: String,
    },
}

impl From<&Refusal> for RefusalWire {
    fn from(r: &Refusal) -> Self {
        let s = |serial: &Serial| serial.to_string();
        match r {
            Refusal::UnknownCard { serial } => RefusalWire::UnknownCard { serial: s(serial) },
            Refusal::CardNotIssued { serial } => RefusalWire::CardNotIssued { serial: s(serial) },
            Refusal::CardBlocked { serial } => RefusalWire::CardBlocked { serial: s(serial) },
            Refusal::SerialAlreadyIssued { serial } => {
                RefusalWire::SerialAlreadyIssued { serial: s(serial) }
            }
            Refusal::UnknownCustomer { customer } => RefusalWire::UnknownCustomer {
                customer: *customer,
            },
            Refusal::KeyVersion {
                serial,
                card,
                expected,
            } => RefusalWire::KeyVersion {
                serial: s(serial),
                card: *card,
                expected: *expected,
            },
            Refusal::Mac1Invalid => RefusalWire::Mac1Invalid,
            Refusal::AmountOverLimit { amount, limit } => RefusalWire::AmountOverLimit {
                amount: *amount,
                limit: *limit,
            },
            Refusal::BalanceOverMax {
                would_hold,
                max_balance,
            } => RefusalWire::BalanceOverMax {
                would_hold: *would_hold,
                max_balance: *max_balance,
            },
            Refusal::InsufficientFunds {
                available,
                requested,
            } => RefusalWire::InsufficientFunds {
                available: *available,
                requested: *requested,
            },
            Refusal::PendingLoad {
                serial,
                load_id,
                purse,
                counter,
            } => RefusalWire::PendingLoad {
                serial: s(serial),
                load_id: *load_id,
                purse: (*purse).into(),
                counter: *counter,
            },
            Refusal::CounterRewound {
                serial,
                reported,
                known,
            } => RefusalWire::CounterRewound {
                serial: s(serial),
                reported: *reported,
                known: *known,
            },
            Refusal::ExpiryPast { expiry, today } => RefusalWire::ExpiryPast {
                expiry: expiry.clone(),
                today: today.clone(),
            },
        }
    }
}

impl RefusalWire {
    /// The refusal back (`None` if a serial in it does not parse).
    pub fn to_refusal(&self) -> Option<Refusal> {
        let p = |serial: &str| serial.parse::<Serial>().ok();
        Some(match self {
            RefusalWire::UnknownCard { serial } => Refusal::UnknownCard { serial: p(serial)? },
            RefusalWire::CardNotIssued { serial } => Refusal::CardNotIssued { serial: p(serial)? },
            RefusalWire::CardBlocked { serial } => Refusal::CardBlocked { serial: p(serial)? },
            RefusalWire::SerialAlreadyIssued { serial } => {
                Refusal::SerialAlreadyIssued { serial: p(serial)? }
            }
            RefusalWire::UnknownCustomer { customer } => Refusal::UnknownCustomer {
                customer: *customer,
            },
            RefusalWire::KeyVersion {
                serial,
                card,
                expected,
            } => Refusal::KeyVersion {
                serial: p(serial)?,
                card: *card,
                expected: *expected,
            },
            RefusalWire::Mac1Invalid => Refusal::Mac1Invalid,
            RefusalWire::AmountOverLimit { amount, limit } => Refusal::AmountOverLimit {
                amount: *amount,
                limit: *limit,
            },
            RefusalWire::BalanceOverMax {
                would_hold,
                max_balance,
            } => Refusal::BalanceOverMax {
                would_hold: *would_hold,
                max_balance: *max_balance,
            },
            RefusalWire::InsufficientFunds {
                available,
                requested,
            } => Refusal::InsufficientFunds {
                available: *available,
                requested: *requested,
            },
            RefusalWire::PendingLoad {
                serial,
                load_id,
                purse,
                counter,
            } => Refusal::PendingLoad {
                serial: p(serial)?,
                load_id: *load_id,
                purse: (*purse).into(),
                counter: *counter,
            },
            RefusalWire::CounterRewound {
                serial,
                reported,
                known,
            } => Refusal::CounterRewound {
                serial: p(serial)?,
                reported: *reported,
                known: *known,
            },
            RefusalWire::ExpiryPast { expiry, today } => Refusal::ExpiryPast {
                expiry: expiry.clone(),
                today: today.clone(),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Card issuance, issuer commands, registry status

/// `POST /v1/serials` (201): a fresh serial for a blank card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialView {
    /// The serial (16 hex digits).
    pub serial: String,
}

/// `POST /v1/cards/{serial}/prepare`: register a card *personalising* and get its
/// PERSONALIZE command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareIssue {
    /// The cardholder.
    pub customer: i64,
    /// The card's GET CHALLENGE answer (8 hex digits).
    pub challenge: String,
    /// SET LIMITS data (hex, 24 bytes).
    pub limits: String,
    /// The initial PIN block (hex, 8 bytes; secret, travels only inside TLS).
    pub pin_block: String,
    /// PIN try limit, 1..=15.
    pub pin_try_limit: u8,
    /// Unconnected-load attempt limit, 1..=15.
    pub uc_limit: u8,
    /// Food-Voucher MCC allowlist (hex, 17 bytes).
    pub food_mccs: String,
}

/// An APDU to send to the card (PERSONALIZE, an issuer command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandView {
    /// The command APDU (hex).
    pub command: String,
}

/// A body-less mutation (`confirm`, `abandon`): `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `POST /v1/cards/{serial}/issuer-command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerCommandRequest {
    /// The card's GET CHALLENGE answer (8 hex digits).
    pub challenge: String,
    /// The card's admin counter (from GET STATUS).
    pub admin_counter: u16,
    /// `block`, `unblock`, `unblock_uc`, `pin_unblock` or `set_limits`.
    pub action: String,
    /// For `pin_unblock` with a new PIN: its PIN block (hex, 8 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_block: Option<String>,
    /// For `set_limits`: SET LIMITS data (hex, 24 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
}

/// `POST /v1/cards/{serial}/status`: `{"status": "blocked"}` (`active` or `blocked`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetCardStatus {
    /// The new registry status.
    pub status: String,
}

/// The registry status by name.
pub fn card_status(name: &str) -> Option<CardStatus> {
    match name {
        "personalising" => Some(CardStatus::Personalising),
        "active" => Some(CardStatus::Active),
        "blocked" => Some(CardStatus::Blocked),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Settlement

/// `POST /v1/settlement/batches`: a sealed SAM batch as uploaded from the merchant's SAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadBatch {
    /// The batch file's bytes (hex).
    pub batch: String,
    /// The merchant's transfer card serial the batch travelled on (16 hex digits).
    pub xserial: String,
}

/// One rejected record of a settled batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecordView {
    /// Position in the batch, from 0.
    pub position: usize,
    /// The purse card.
    pub serial: String,
    /// The record's purchase counter.
    pub counter: u16,
    /// The record's amount (minor units).
    pub amount: MinorUnits,
    /// Why ([`crate::RecordRejection::code`]).
    pub code: String,
    /// Why, for a person.
    pub message: String,
}

/// The answer to `POST /v1/settlement/batches` (200): the acknowledgement to write back to
/// the transfer card and what was credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementView {
    /// The SAM (hex).
    pub sam_id: String,
    /// The batch number.
    pub batch_no: u32,
    /// The merchant credited.
    pub merchant_id: String,
    /// Records in the batch.
    pub records: u32,
    /// Accepted.
    pub accepted: u32,
    /// Rejected.
    pub rejected: u32,
    /// Credited (minor units), e-Cash plus Food.
    pub credited: MinorUnits,
    /// e-Cash part.
    pub ecash_credited: MinorUnits,
    /// Food part.
    pub food_credited: MinorUnits,
    /// The CLEAR BATCH command APDU for the transfer card (hex): the acknowledgement.
    pub clear: String,
    /// Settled before: nothing moved this time.
    pub replayed: bool,
    /// The rejected records.
    pub rejections: Vec<RejectedRecordView>,
    /// Findings that are not rejections (counter gaps).
    pub findings: Vec<String>,
}

impl From<&Settlement> for SettlementView {
    fn from(s: &Settlement) -> Self {
        use apdu_spec::ContractCommand;
        SettlementView {
            sam_id: s.sam_id.to_string(),
            batch_no: s.batch_no,
            merchant_id: s.merchant_id.clone(),
            records: s.records,
            accepted: s.accepted,
            rejected: s.rejected,
            credited: s.credited,
            ecash_credited: s.ecash_credited,
            food_credited: s.food_credited,
            clear: hex::encode_upper(s.clear.to_bytes()),
            replayed: s.replayed,
            rejections: s
                .outcomes
                .iter()
                .filter_map(|o| {
                    o.rejection.map(|r| RejectedRecordView {
                        position: o.position,
                        serial: o.record.serial.to_string(),
                        counter: o.record.record.counter,
                        amount: i64::from(o.record.record.amount.get()),
                        code: r.code().to_owned(),
                        message: r.describe().to_owned(),
                    })
                })
                .collect(),
            findings: s.findings.clone(),
        }
    }
}
