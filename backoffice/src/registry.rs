//! Customers, cash deposits and the card registry: issuing (personalising) cards and binding
//! them to customers, card status, limits and issuer commands.
//!
//! Issuance is two-step so that a card pulled during PERSONALIZE is never lost or issued twice:
//! [`Backoffice::prepare_issue`] registers the serial as *personalising* and returns the
//! PERSONALIZE command for the card's challenge (it may be called again for a new challenge);
//! [`Backoffice::confirm_issue`] makes the card *active* once the card accepted it. A serial
//! that is active or blocked is never issued again.

use apdu_spec::{
    Amount, Challenge, Command, ContractCommand, Limits, MccAllowlist, PersonalizePurse, PinBlock,
    Purse, Serial, UnblockTarget,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::backoffice::{Backoffice, RefusalContext};
use crate::error::{Error, Refusal, Result};
use crate::ism::{CardProfile, IssuerSession};
use crate::ledger::{self, AccountRef, CustomerId, TransferKind};
use crate::money::MinorUnits;

/// A customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Name as registered.
    pub name: String,
    /// When registered (Unix seconds).
    pub created_at: i64,
}

/// A customer's two virtual accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerBalances {
    /// e-Cash account.
    pub ecash: MinorUnits,
    /// Food-Voucher account.
    pub food: MinorUnits,
}

/// A teller-authorised cash deposit into a customer's virtual account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashDeposit {
    /// The customer.
    pub customer: CustomerId,
    /// Which account: e-Cash or Food-Voucher.
    pub purse: Purse,
    /// Amount in minor units (> 0).
    pub amount: MinorUnits,
    /// The teller's receipt number, unique per deposit: a retry with the same reference is
    /// answered with the first deposit's receipt and moves nothing.
    pub reference: String,
    /// Who took the cash.
    pub teller: String,
}

/// The result of a deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositReceipt {
    /// Deposit id.
    pub id: i64,
    /// The ledger transfer.
    pub transfer_id: i64,
    /// The account's balance now.
    pub balance: MinorUnits,
    /// True when this reference was already deposited (nothing moved this time).
    pub replayed: bool,
}

/// Where a card stands in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    /// PERSONALIZE prepared, not yet confirmed by the card.
    Personalising,
    /// Issued, in service.
    Active,
    /// Blocked by the issuer.
    Blocked,
}

impl CardStatus {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Personalising => "personalising",
            CardStatus::Active => "active",
            CardStatus::Blocked => "blocked",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "personalising" => CardStatus::Personalising,
            "active" => CardStatus::Active,
            "blocked" => CardStatus::Blocked,
            other => return Err(Error::BadRow(format!("card status {other:?}"))),
        })
    }
}

/// The bank's view of one purse of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardPurse {
    /// The purse.
    pub purse: Purse,
    /// Value the bank put on it (completed loads minus settled purchases).
    pub float: MinorUnits,
    /// Highest load counter completed through this back office.
    pub load_counter: u16,
    /// Balance the card last reported.
    pub seen_balance: Option<MinorUnits>,
    /// Load counter the card last reported.
    pub seen_load_counter: Option<u16>,
    /// Purchase counter the card last reported.
    pub seen_purchase_counter: Option<u16>,
    /// When the card last reported (Unix seconds).
    pub seen_at: Option<i64>,
}

/// A card in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Serial.
    pub serial: Serial,
    /// Owner.
    pub customer: CustomerId,
    /// Key version its keys were derived with.
    pub key_version: u8,
    /// Status.
    pub status: CardStatus,
    /// Limits as personalised or last set.
    pub limits: Limits,
    /// PIN try limit.
    pub pin_try_limit: u8,
    /// `UC_LIMIT`.
    pub uc_limit: u8,
    /// Food merchant categories.
    pub food_mccs: MccAllowlist,
    /// When registered.
    pub created_at: i64,
    /// When the card confirmed personalisation.
    pub issued_at: Option<i64>,
    /// e-Cash purse.
    pub ecash: CardPurse,
    /// Food-Voucher purse.
    pub food: CardPurse,
}

impl Card {
    /// One purse's state.
    pub fn purse(&self, purse: Purse) -> &CardPurse {
        match purse {
            Purse::Ecash => &self.ecash,
            Purse::Food => &self.food,
        }
    }

    /// Single-load limit of a purse.
    pub fn max_amount(&self, purse: Purse) -> Amount {
        match purse {
            Purse::Ecash => self.limits.ecash_max_amount,
            Purse::Food => self.limits.food_max_amount,
        }
    }

    /// Maximum balance of a purse.
    pub fn max_balance(&self, purse: Purse) -> Amount {
        match purse {
            Purse::Ecash => self.limits.ecash_max_balance,
            Purse::Food => self.limits.food_max_balance,
        }
    }
}

/// A request to issue a card to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The serial to give the card (see [`Backoffice::allocate_serial`]).
    pub serial: Serial,
    /// The customer it is bound to.
    pub customer: CustomerId,
    /// Limits, PIN and food categories.
    pub profile: CardProfile,
}

/// An issuer command to build for a card (SPEC 2.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerAction {
    /// APPLICATION BLOCK.
    Block,
    /// APPLICATION UNBLOCK of the card or of unconnected loading.
    Unblock(UnblockTarget),
    /// PIN UNBLOCK, optionally with a new PIN.
    PinUnblock(Option<PinBlock>),
    /// SET LIMITS.
    SetLimits(Limits),
}

fn check_text(what: &str, text: &str, max: usize) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control)
    {
        return Err(Error::Invalid(format!(
            "{what} must be 1 to {max} printable characters, got {text:?}"
        )));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn customer_exists(conn: &Connection, customer: CustomerId) -> Result<()> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT id FROM customers WHERE id = ?1",
            [customer.0],
            |r| r.get(0),
        )
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(Refusal::UnknownCustomer {
            customer: customer.0,
        }
        .into()),
    }
}

fn customer_row(conn: &Connection, customer: CustomerId) -> Result<Customer> {
    conn.query_row(
        "SELECT id, name, created_at FROM customers WHERE id = ?1",
        [customer.0],
        |r| {
            Ok(Customer {
                id: CustomerId(r.get(0)?),
                name: r.get(1)?,
                created_at: r.get(2)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| {
        Refusal::UnknownCustomer {
            customer: customer.0,
        }
        .into()
    })
}

fn amount_from_db(value: i64, what: &str) -> Result<Amount> {
    u32::try_from(value)
        .ok()
        .and_then(|v| Amount::new(v).ok())
        .ok_or_else(|| Error::BadRow(format!("{what} = {value}")))
}

fn counter_from_db(value: i64, what: &str) -> Result<u16> {
    u16::try_from(value).map_err(|_| Error::BadRow(format!("{what} = {value}")))
}

fn card_purse(conn: &Connection, serial: &Serial, purse: Purse) -> Result<CardPurse> {
    let row = conn
        .query_row(
            "SELECT float, load_counter, seen_balance, seen_load_counter, seen_purchase_counter, seen_at
             FROM card_purses WHERE serial = ?1 AND purse = ?2",
            params![serial.to_string(), purse.code()],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| Error::BadRow(format!("card {serial} has no {purse:?} purse row")))?;
    let (float, load_counter, seen_balance, seen_load, seen_purchase, seen_at) = row;
    Ok(CardPurse {
        purse,
        float,
        load_counter: counter_from_db(load_counter, "load_counter")?,
        seen_balance,
        seen_load_counter: seen_load
            .map(|v| counter_from_db(v, "seen_load_counter"))
            .transpose()?,
        seen_purchase_counter: seen_purchase
            .map(|v| counter_from_db(v, "seen_purchase_counter"))
            .transpose()?,
        seen_at,
    })
}

/// The card `serial`, or `None`.
pub(crate) fn find_card(conn: &Connection, serial: &Serial) -> Result<Option<Card>> {
    let row = conn
        .query_row(
            "SELECT customer_id, key_version, status, ecash_max_balance, ecash_max_amount,
                    food_max_balance, food_max_amount, no_pin_limit, uc_max, pin_try_limit,
                    uc_limit, food_mccs, created_at, issued_at
             FROM cards WHERE serial = ?1",
            [serial.to_string()],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    [
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                    ],
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, i64>(12)?,
                    r.get::<_, Option<i64>>(13)?,
                ))
            },
        )
        .optional()?;
    let Some((customer, kv, status, l, pin_try, uc_limit, mccs, created_at, issued_at)) = row
    else {
        return Ok(None);
    };
    let small = |v: i64, what: &str| {
        u8::try_from(v).map_err(|_| Error::BadRow(format!("card {serial}: {what} = {v}")))
    };
    let mcc_bytes =
        hex::decode(&mccs).map_err(|_| Error::BadRow(format!("card {serial}: food_mccs")))?;
    Ok(Some(Card {
        serial: *serial,
        customer: CustomerId(customer),
        key_version: small(kv, "key_version")?,
        status: CardStatus::parse(&status)?,
        limits: Limits {
            ecash_max_balance: amount_from_db(l[0], "ecash_max_balance")?,
            ecash_max_amount: amount_from_db(l[1], "ecash_max_amount")?,
            food_max_balance: amount_from_db(l[2], "food_max_balance")?,
            food_max_amount: amount_from_db(l[3], "food_max_amount")?,
            no_pin_limit: amount_from_db(l[4], "no_pin_limit")?,
            uc_max: amount_from_db(l[5], "uc_max")?,
        },
        pin_try_limit: small(pin_try, "pin_try_limit")?,
        uc_limit: small(uc_limit, "uc_limit")?,
        food_mccs: MccAllowlist::parse(&mcc_bytes)
            .map_err(|e| Error::BadRow(format!("card {serial}: food_mccs: {e}")))?,
        created_at,
        issued_at,
        ecash: card_purse(conn, serial, Purse::Ecash)?,
        food: card_purse(conn, serial, Purse::Food)?,
    }))
}

/// The card `serial`; unknown → [`Refusal::UnknownCard`].
pub(crate) fn card(conn: &Connection, serial: &Serial) -> Result<Card> {
    find_card(conn, serial)?.ok_or_else(|| Refusal::UnknownCard { serial: *serial }.into())
}

/// The card `serial`, which must be issued (active or blocked).
fn issued_card(conn: &Connection, serial: &Serial) -> Result<Card> {
    let card = card(conn, serial)?;
    if card.status == CardStatus::Personalising {
        return Err(Refusal::CardNotIssued { serial: *serial }.into());
    }
    Ok(card)
}

fn write_limits(conn: &Connection, serial: &Serial, limits: &Limits) -> Result<()> {
    conn.execute(
        "UPDATE cards SET ecash_max_balance = ?2, ecash_max_amount = ?3, food_max_balance = ?4,
                food_max_amount = ?5, no_pin_limit = ?6, uc_max = ?7
         WHERE serial = ?1",
        params![
            serial.to_string(),
            limits.ecash_max_balance.get(),
            limits.ecash_max_amount.get(),
            limits.food_max_balance.get(),
            limits.food_max_amount.get(),
            limits.no_pin_limit.get(),
            limits.uc_max.get()
        ],
    )?;
    Ok(())
}

fn customer_balances(conn: &Connection, customer: CustomerId) -> Result<CustomerBalances> {
    customer_exists(conn, customer)?;
    Ok(CustomerBalances {
        ecash: ledger::balance(conn, &AccountRef::Customer(customer, Purse::Ecash))?,
        food: ledger::balance(conn, &AccountRef::Customer(customer, Purse::Food))?,
    })
}

impl Backoffice {
    /// Registers a customer (name: 1..=200 printable characters) with empty e-Cash and
    /// Food-Voucher accounts.
    pub fn create_customer(&mut self, name: &str) -> Result<Customer> {
        let name = check_text("a customer name", name, 200)?;
        self.write(|tx, env| {
            let now = env.now();
            tx.execute(
                "INSERT INTO customers (name, created_at) VALUES (?1, ?2)",
                params![name, now],
            )?;
            let id = CustomerId(tx.last_insert_rowid());
            for purse in [Purse::Ecash, Purse::Food] {
                ledger::create_account(tx, &AccountRef::Customer(id, purse), now)?;
            }
            Ok(Customer {
                id,
                name,
                created_at: now,
            })
        })
    }

    /// A customer; unknown → [`Refusal::UnknownCustomer`].
    pub fn customer(&mut self, customer: CustomerId) -> Result<Customer> {
        self.read(|tx, _| customer_row(tx, customer))
    }

    /// Every customer, in id order.
    pub fn customers(&mut self) -> Result<Vec<Customer>> {
        self.read(|tx, _| {
            let mut stmt = tx.prepare("SELECT id, name, created_at FROM customers ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(Customer {
                    id: CustomerId(r.get(0)?),
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The balances of a customer's two accounts.
    pub fn customer_balances(&mut self, customer: CustomerId) -> Result<CustomerBalances> {
        self.read(|tx, _| customer_balances(tx, customer))
    }

    /// Cash in: cash → the customer's account, in one transaction. Idempotent per
    /// `reference`: a retry gets the first receipt (`replayed`), a different deposit under a
    /// used reference is a [`Error::Conflict`].
    pub fn deposit_cash(&mut self, deposit: &CashDeposit) -> Result<DepositReceipt> {
        let reference = check_text("a deposit reference", &deposit.reference, 100)?;
        let teller = check_text("a teller id", &deposit.teller, 100)?;
        if deposit.amount <= 0 {
            return Err(Error::Invalid(format!(
                "a deposit amount must be positive, got {} minor units",
                deposit.amount
            )));
        }
        let context = RefusalContext {
            operation: "deposit_cash",
            serial: None,
            purse: Some(deposit.purse),
            amount: Some(deposit.amount),
        };
        self.write_or_refuse(&context, |tx, env| {
            customer_exists(tx, deposit.customer)?;
            let account = AccountRef::Customer(deposit.customer, deposit.purse);
            let earlier = tx
                .query_row(
                    "SELECT id, customer_id, purse, amount, teller, transfer_id FROM deposits WHERE reference = ?1",
                    [&reference],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((id, customer, purse, amount, first_teller, transfer_id)) = earlier {
                let same = customer == deposit.customer.0
                    && purse == i64::from(deposit.purse.code())
                    && amount == deposit.amount
                    && first_teller == teller;
                if !same {
                    return Err(Error::Conflict(format!(
                        "deposit reference {reference:?} was already used for another deposit (id {id}); use a new receipt number"
                    )));
                }
                return Ok(DepositReceipt {
                    id,
                    transfer_id,
                    balance: ledger::balance(tx, &account)?,
                    replayed: true,
                });
            }
            let now = env.now();
            let transfer_id = ledger::post(
                tx,
                TransferKind::Deposit,
                &format!("deposit {reference}"),
                now,
                &[(AccountRef::Cash, -deposit.amount), (account, deposit.amount)],
            )?;
            tx.execute(
                "INSERT INTO deposits (reference, customer_id, purse, amount, teller, transfer_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    reference,
                    deposit.customer.0,
                    deposit.purse.code(),
                    deposit.amount,
                    teller,
                    transfer_id,
                    now
                ],
            )?;
            Ok(DepositReceipt {
                id: tx.last_insert_rowid(),
                transfer_id,
                balance: ledger::balance(tx, &account)?,
                replayed: false,
            })
        })
    }

    /// A fresh serial for a blank card: `45 50` ("EP") then a 6-byte sequence number, never
    /// one already registered.
    pub fn allocate_serial(&mut self) -> Result<Serial> {
        self.write(|tx, _| loop {
            let next: i64 = tx.query_row("SELECT next FROM serial_sequence", [], |r| r.get(0))?;
            if !(1..(1i64 << 48)).contains(&next) {
                return Err(Error::Invariant(
                    "card serial numbers are exhausted".to_owned(),
                ));
            }
            tx.execute("UPDATE serial_sequence SET next = ?1", [next + 1])?;
            let mut bytes = [0u8; 8];
            bytes[0] = 0x45;
            bytes[1] = 0x50;
            bytes[2..].copy_from_slice(&next.to_be_bytes()[2..]);
            let serial = Serial(bytes);
            if find_card(tx, &serial)?.is_none() {
                return Ok(serial);
            }
        })
    }

    /// Registers `request.serial` for `request.customer` as *personalising* and returns the
    /// PERSONALIZE command for the blank card's GET CHALLENGE random. May be repeated (new
    /// challenge, same customer) until [`Backoffice::confirm_issue`]. A serial already issued
    /// is refused.
    pub fn prepare_issue(
        &mut self,
        request: &IssueRequest,
        challenge: Challenge,
    ) -> Result<PersonalizePurse> {
        let serial = request.serial;
        if serial.is_zero() {
            return Err(Error::Invalid(
                "a card serial must not be all zero".to_owned(),
            ));
        }
        let context = RefusalContext {
            operation: "prepare_issue",
            serial: Some(serial),
            purse: None,
            amount: None,
        };
        self.write_or_refuse(&context, |tx, env| {
            customer_exists(tx, request.customer)?;
            let command = env
                .ism
                .personalize_purse(serial, &request.profile, challenge)?;
            let now = env.now();
            match find_card(tx, &serial)? {
                Some(card) if card.status != CardStatus::Personalising => {
                    return Err(Refusal::SerialAlreadyIssued { serial }.into());
                }
                Some(card) if card.customer != request.customer => {
                    return Err(Error::Conflict(format!(
                        "card {serial} is being personalised for customer {}; confirm or abandon that issue first",
                        card.customer
                    )));
                }
                Some(_) => {
                    write_limits(tx, &serial, &request.profile.limits)?;
                    tx.execute(
                        "UPDATE cards SET key_version = ?2, pin_try_limit = ?3, uc_limit = ?4, food_mccs = ?5
                         WHERE serial = ?1",
                        params![
                            serial.to_string(),
                            env.ism.key_version(),
                            request.profile.pin_try_limit,
                            request.profile.uc_limit,
                            hex::encode_upper(request.profile.food_mccs.to_bytes())
                        ],
                    )?;
                }
                None => {
                    let l = &request.profile.limits;
                    tx.execute(
                        "INSERT INTO cards (serial, customer_id, key_version, status, ecash_max_balance,
                             ecash_max_amount, food_max_balance, food_max_amount, no_pin_limit, uc_max,
                             pin_try_limit, uc_limit, food_mccs, created_at, status_changed_at)
                         VALUES (?1, ?2, ?3, 'personalising', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                        params![
                            serial.to_string(),
                            request.customer.0,
                            env.ism.key_version(),
                            l.ecash_max_balance.get(),
                            l.ecash_max_amount.get(),
                            l.food_max_balance.get(),
                            l.food_max_amount.get(),
                            l.no_pin_limit.get(),
                            l.uc_max.get(),
                            request.profile.pin_try_limit,
                            request.profile.uc_limit,
                            hex::encode_upper(request.profile.food_mccs.to_bytes()),
                            now
                        ],
                    )?;
                    for purse in [Purse::Ecash, Purse::Food] {
                        tx.execute(
                            "INSERT INTO card_purses (serial, purse) VALUES (?1, ?2)",
                            params![serial.to_string(), purse.code()],
                        )?;
                    }
                }
            }
            Ok(command)
        })
    }

    /// The card accepted PERSONALIZE (`9000`, or its FCI now shows it ACTIVE with this
    /// serial): it becomes *active*. Idempotent.
    pub fn confirm_issue(&mut self, serial: &Serial) -> Result<Card> {
        self.write(|tx, env| {
            let card = card(tx, serial)?;
            if card.status == CardStatus::Personalising {
                tx.execute(
                    "UPDATE cards SET status = 'active', issued_at = ?2, status_changed_at = ?2 WHERE serial = ?1",
                    params![serial.to_string(), env.now()],
                )?;
            }
            self::card(tx, serial)
        })
    }

    /// Drops a card still *personalising* (the card stayed blank and will not be used).
    pub fn abandon_issue(&mut self, serial: &Serial) -> Result<()> {
        self.write(|tx, _| {
            let card = card(tx, serial)?;
            if card.status != CardStatus::Personalising {
                return Err(Refusal::SerialAlreadyIssued { serial: *serial }.into());
            }
            tx.execute(
                "DELETE FROM card_purses WHERE serial = ?1",
                [serial.to_string()],
            )?;
            tx.execute("DELETE FROM cards WHERE serial = ?1", [serial.to_string()])?;
            Ok(())
        })
    }

    /// The card `serial`; unknown → [`Refusal::UnknownCard`].
    pub fn card(&mut self, serial: &Serial) -> Result<Card> {
        self.read(|tx, _| card(tx, serial))
    }

    /// A customer's cards, oldest first.
    pub fn cards_of(&mut self, customer: CustomerId) -> Result<Vec<Card>> {
        self.read(|tx, _| {
            customer_exists(tx, customer)?;
            let mut stmt = tx.prepare(
                "SELECT serial FROM cards WHERE customer_id = ?1 ORDER BY created_at, serial",
            )?;
            let serials = stmt
                .query_map([customer.0], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut cards = Vec::with_capacity(serials.len());
            for text in serials {
                let serial: Serial = text
                    .parse()
                    .map_err(|_| Error::BadRow(format!("card serial {text:?}")))?;
                cards.push(card(tx, &serial)?);
            }
            Ok(cards)
        })
    }

    /// Sets an issued card's registry status (blocked cards are refused every load). Used
    /// for a lost card at once, and after the card accepted APPLICATION BLOCK / UNBLOCK.
    pub fn set_card_status(&mut self, serial: &Serial, status: CardStatus) -> Result<Card> {
        if status == CardStatus::Personalising {
            return Err(Error::Invalid(
                "a card can only be set active or blocked".to_owned(),
            ));
        }
        self.write(|tx, env| {
            let card = issued_card(tx, serial)?;
            if card.status != status {
                tx.execute(
                    "UPDATE cards SET status = ?2, status_changed_at = ?3 WHERE serial = ?1",
                    params![serial.to_string(), status.as_str(), env.now()],
                )?;
            }
            self::card(tx, serial)
        })
    }

    /// Records limits the card accepted (SET LIMITS answered `9000`).
    pub fn record_card_limits(&mut self, serial: &Serial, limits: Limits) -> Result<Card> {
        limits
            .validate()
            .map_err(|e| Error::Invalid(format!("limits: {e}")))?;
        self.write(|tx, _| {
            issued_card(tx, serial)?;
            write_limits(tx, serial, &limits)?;
            card(tx, serial)
        })
    }

    /// Builds an issuer command for an issued card, bound to the card's GET CHALLENGE random
    /// and its current admin counter (from GET STATUS). The MAC is computed by the ISM.
    pub fn issuer_command(
        &mut self,
        serial: &Serial,
        challenge: Challenge,
        admin_counter: u16,
        action: &IssuerAction,
    ) -> Result<Command> {
        self.read(|tx, env| {
            let card = issued_card(tx, serial)?;
            let session = IssuerSession {
                serial: *serial,
                key_version: card.key_version,
                challenge,
                admin_counter,
            };
            let ism = &env.ism;
            Ok(match action {
                IssuerAction::Block => ism.application_block(&session)?.to_command(),
                IssuerAction::Unblock(target) => {
                    ism.application_unblock(&session, *target)?.to_command()
                }
                IssuerAction::PinUnblock(pin) => {
                    ism.pin_unblock(&session, pin.as_ref())?.to_command()
                }
                IssuerAction::SetLimits(limits) => ism.set_limits(&session, *limits)?.to_command(),
            })
        })
    }
}
