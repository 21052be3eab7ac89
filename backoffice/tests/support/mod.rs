//! Shared test support: a software purse card that follows SPEC 2.6, 2.8 and 2.13 for the
//! commands a load needs, and helpers to open a back office on a fresh temporary ledger.
//!
//! The soft card gets its keys only by decrypting the PERSONALIZE cryptogram the back office
//! produced, so every load test also proves personalisation end to end.

#![allow(dead_code)]

use std::sync::Arc;

use apdu_spec::{
    load_mac1_input, load_mac2_input, perso_mac_input, session_diversifier, tac_input, Amount,
    Challenge, CreditLoad, CreditLoadResponse, Date, InitLoadResponse, InitializeLoad, Lifecycle,
    Limits, Mcc, MccAllowlist, PersonalizePurse, PinBlock, Purse, PurseBlock, PursePersoData,
    PurseStatus, RecordType, Serial, StatusWord, TerminalId, TransactionProof, TransactionRecord,
    TxType,
};
use backoffice::{
    Backoffice, CardProfile, CashDeposit, Config, CustomerId, FixedClock, IssueRequest,
    IssuerSecurityModule, LoadAuthorisation, LoadRequest, ProofEvidence,
};
use sam::{Key16, MasterKeys};

/// The development key file of the repository.
pub const DEV_KEYS: &str = include_str!("../../../keys/dev-master-keys.json");
/// 2026-03-15T10:30:00Z.
pub const T0: i64 = 1_773_570_600;
/// Teller station "TLR001".
pub const TERMINAL: TerminalId = TerminalId(*b"TLR001");

pub fn master_keys() -> MasterKeys {
    MasterKeys::parse(DEV_KEYS).expect("dev keys")
}

pub fn ism() -> Arc<IssuerSecurityModule> {
    Arc::new(IssuerSecurityModule::new(master_keys()).expect("ISM"))
}

pub fn amount(units: u32) -> Amount {
    Amount::new(units).expect("amount")
}

/// The limits of the shared vectors' card.
pub fn limits() -> Limits {
    Limits {
        ecash_max_balance: amount(100_000),
        ecash_max_amount: amount(60_000),
        food_max_balance: amount(300_000),
        food_max_amount: amount(200_000),
        no_pin_limit: amount(20_000),
        uc_max: amount(20_000),
    }
}

pub fn profile() -> CardProfile {
    CardProfile {
        limits: limits(),
        pin: PinBlock::from_digits("1234").expect("PIN"),
        pin_try_limit: 3,
        uc_limit: 3,
        food_mccs: MccAllowlist::new(&[Mcc::new(5411).expect("MCC")]).expect("MCCs"),
    }
}

/// A back office on a fresh ledger in a temporary directory, at a fixed clock.
pub struct Bench {
    pub dir: tempfile::TempDir,
    pub bo: Backoffice,
    pub ism: Arc<IssuerSecurityModule>,
    pub clock: Arc<FixedClock>,
}

impl Bench {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ism = ism();
        let clock = Arc::new(FixedClock::new(T0));
        let bo = Backoffice::open_with_clock(
            dir.path().join("ledger.db"),
            ism.clone(),
            &Config::default(),
            clock.clone(),
        )
        .expect("open ledger");
        Bench {
            dir,
            bo,
            ism,
            clock,
        }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger.db")
    }

    /// Closes the back office; the ledger file stays until the returned directory is dropped.
    pub fn close(self) -> (tempfile::TempDir, std::path::PathBuf) {
        let path = self.path();
        drop(self.bo);
        (self.dir, path)
    }

    /// Another connection to the same ledger.
    pub fn reopen(&self) -> Backoffice {
        Backoffice::open_with_clock(
            self.path(),
            self.ism.clone(),
            &Config::default(),
            self.clock.clone(),
        )
        .expect("reopen ledger")
    }

    /// A customer with `ecash` and `food` deposited.
    pub fn customer(&mut self, name: &str, ecash: i64, food: i64) -> CustomerId {
        let id = self.bo.create_customer(name).expect("customer").id;
        for (purse, amount) in [(Purse::Ecash, ecash), (Purse::Food, food)] {
            if amount > 0 {
                self.bo
                    .deposit_cash(&CashDeposit {
                        customer: id,
                        purse,
                        amount,
                        reference: format!("R-{name}-{purse:?}"),
                        teller: "teller-1".to_owned(),
                    })
                    .expect("deposit");
            }
        }
        id
    }

    /// Issues a new card to `customer` through the full personalisation exchange.
    pub fn issue(&mut self, customer: CustomerId) -> SoftCard {
        issue(&mut self.bo, customer)
    }
}

/// Issues a new card to `customer` on `bo`.
pub fn issue(bo: &mut Backoffice, customer: CustomerId) -> SoftCard {
    let serial = bo.allocate_serial().expect("serial");
    let mut card = SoftCard::blank(&master_keys());
    let challenge = card.get_challenge();
    let command = bo
        .prepare_issue(
            &IssueRequest {
                serial,
                customer,
                profile: profile(),
            },
            challenge,
        )
        .expect("prepare issue");
    card.personalize(&command)
        .expect("card accepts PERSONALIZE");
    bo.confirm_issue(&serial).expect("confirm issue");
    card
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PurseState {
    pub balance: u32,
    pub load_counter: u16,
    pub purchase_counter: u16,
    pub expiry: Option<Date>,
}

struct LoadSession {
    purse: Purse,
    amount: Amount,
    terminal: TerminalId,
    expiry: Option<Date>,
    counter: u16,
    rnd: [u8; 4],
}

/// A purse card in software (load path only).
pub struct SoftCard {
    pub serial: Serial,
    pub key_version: u8,
    pub lifecycle: Lifecycle,
    pub limits: Limits,
    pub ecash: PurseState,
    pub food: PurseState,
    /// Newest last, at most 16.
    pub log: Vec<TransactionProof>,
    transport: Key16,
    k_load: Option<Key16>,
    k_tac: Option<Key16>,
    challenge: Option<[u8; 4]>,
    session: Option<LoadSession>,
    draws: u32,
}

impl SoftCard {
    /// A blank card holding the transport key.
    pub fn blank(keys: &MasterKeys) -> Self {
        SoftCard {
            serial: Serial([0; 8]),
            key_version: 0,
            lifecycle: Lifecycle::Blank,
            limits: Limits::default(),
            ecash: PurseState::default(),
            food: PurseState::default(),
            log: Vec::new(),
            transport: keys.get(sam::KeyName::Transport).clone(),
            k_load: None,
            k_tac: None,
            challenge: None,
            session: None,
            draws: 0,
        }
    }

    fn random(&mut self) -> [u8; 4] {
        self.draws += 1;
        (self.draws.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_1234).to_be_bytes()
    }

    pub fn get_challenge(&mut self) -> Challenge {
        self.session = None;
        let rnd = self.random();
        self.challenge = Some(rnd);
        Challenge(rnd)
    }

    pub fn personalize(&mut self, command: &PersonalizePurse) -> Result<(), StatusWord> {
        let rnd = self
            .challenge
            .take()
            .ok_or(StatusWord::ConditionsNotSatisfied)?;
        if self.lifecycle != Lifecycle::Blank {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        let sk = |tt| sam::diversify(&self.transport, &session_diversifier(rnd, 0, tt, 0));
        let mac = sam::retail_mac_m2(&sk(TxType::PersoMac), &perso_mac_input(&command.cryptogram));
        if !sam::mac_eq(&mac, &command.mac_p) {
            return Err(StatusWord::MacInvalid);
        }
        let plain = sam::cbc_decrypt(&sk(TxType::PersoEnc), [0; 8], &command.cryptogram)
            .map_err(|_| StatusWord::BadData)?;
        let pd = sam::unpad_m2(&plain).map_err(|_| StatusWord::BadData)?;
        let pd = PursePersoData::parse(pd).map_err(|_| StatusWord::BadData)?;
        self.serial = pd.serial;
        self.key_version = pd.key_version;
        self.limits = pd.limits;
        self.k_load = Some(Key16::from_bytes(*pd.k_load.expose()));
        self.k_tac = Some(Key16::from_bytes(*pd.k_tac.expose()));
        self.lifecycle = Lifecycle::Active;
        Ok(())
    }

    pub fn purse_mut(&mut self, purse: Purse) -> &mut PurseState {
        match purse {
            Purse::Ecash => &mut self.ecash,
            Purse::Food => &mut self.food,
        }
    }

    pub fn purse(&self, purse: Purse) -> PurseState {
        match purse {
            Purse::Ecash => self.ecash,
            Purse::Food => self.food,
        }
    }

    fn session_key(&self, purse: Purse, counter: u16, rnd: [u8; 4]) -> Key16 {
        let k_load = self.k_load.as_ref().expect("personalised");
        sam::diversify(
            k_load,
            &session_diversifier(rnd, counter, TxType::Load, purse.code()),
        )
    }

    /// INITIALIZE LOAD (SPEC 2.6): returns the command sent and the card's response.
    pub fn initialize_load(
        &mut self,
        purse: Purse,
        units: u32,
        expiry: Option<Date>,
    ) -> Result<(InitializeLoad, InitLoadResponse), StatusWord> {
        self.session = None;
        self.challenge = None;
        match self.lifecycle {
            Lifecycle::Blank => return Err(StatusWord::ConditionsNotSatisfied),
            Lifecycle::Blocked => return Err(StatusWord::CardBlocked),
            Lifecycle::Active => {}
        }
        let load_amount = amount(units);
        let (max_amount, max_balance) = match purse {
            Purse::Ecash => (self.limits.ecash_max_amount, self.limits.ecash_max_balance),
            Purse::Food => (self.limits.food_max_amount, self.limits.food_max_balance),
        };
        if load_amount > max_amount {
            return Err(StatusWord::AmountLimit);
        }
        let state = self.purse(purse);
        if state.balance + units > max_balance.get() {
            return Err(StatusWord::BalanceLimit);
        }
        let counter = state.load_counter + 1;
        let rnd = self.random();
        let command = InitializeLoad {
            purse,
            key_version: self.key_version,
            amount: load_amount,
            terminal: TERMINAL,
            expiry,
        };
        let context = apdu_spec::LoadContext {
            serial: self.serial,
            purse,
            counter,
            amount: load_amount,
            terminal: TERMINAL,
            expiry,
        };
        let sk = self.session_key(purse, counter, rnd);
        let mac1 = sam::retail_mac_m2(&sk, &load_mac1_input(&context, amount(state.balance)));
        self.session = Some(LoadSession {
            purse,
            amount: load_amount,
            terminal: TERMINAL,
            expiry,
            counter,
            rnd,
        });
        Ok((
            command,
            InitLoadResponse {
                balance: amount(state.balance),
                counter,
                key_version: self.key_version,
                rnd,
                mac1,
            },
        ))
    }

    /// The load request for the back office from an INITIALIZE LOAD exchange.
    pub fn request(&self, exchange: (InitializeLoad, InitLoadResponse)) -> LoadRequest {
        LoadRequest {
            serial: self.serial,
            command: exchange.0,
            response: exchange.1,
        }
    }

    /// CREDIT LOAD (SPEC 2.6).
    pub fn credit_load(&mut self, command: &CreditLoad) -> Result<CreditLoadResponse, StatusWord> {
        let session = self
            .session
            .take()
            .ok_or(StatusWord::ConditionsNotSatisfied)?;
        if session.purse != command.purse {
            return Err(StatusWord::BadP1P2);
        }
        let context = apdu_spec::LoadContext {
            serial: self.serial,
            purse: session.purse,
            counter: session.counter,
            amount: session.amount,
            terminal: session.terminal,
            expiry: session.expiry,
        };
        let sk = self.session_key(session.purse, session.counter, session.rnd);
        let mac2 = sam::retail_mac_m2(&sk, &load_mac2_input(&context, command.datetime));
        if !sam::mac_eq(&mac2, &command.mac2) {
            return Err(StatusWord::MacInvalid);
        }
        let state = self.purse_mut(session.purse);
        state.balance += session.amount.get();
        state.load_counter = session.counter;
        if let Some(expiry) = session.expiry {
            state.expiry = Some(state.expiry.map_or(expiry, |e| e.max(expiry)));
        }
        let balance = amount(state.balance);
        let record = TransactionRecord {
            record_type: RecordType::Load,
            purse: session.purse,
            counter: session.counter,
            amount: session.amount,
            balance,
            terminal: session.terminal.0,
            sam_seq: 0,
            datetime: command.datetime,
            mcc: Mcc::NONE,
            flags: 0,
        };
        let tac = sam::retail_mac_m2(
            self.k_tac.as_ref().expect("personalised"),
            &tac_input(&self.serial, &record),
        );
        self.log.push(TransactionProof {
            record,
            tac,
            mac2: [0; 8],
        });
        if self.log.len() > 16 {
            self.log.remove(0);
        }
        Ok(CreditLoadResponse { balance, tac })
    }

    /// GET STATUS (the fields recovery reads).
    pub fn status(&self) -> PurseStatus {
        let block = |p: PurseState, max_balance, max_amount| PurseBlock {
            balance: amount(p.balance),
            load_counter: p.load_counter,
            purchase_counter: p.purchase_counter,
            max_balance,
            max_amount,
            expiry: p.expiry,
        };
        PurseStatus {
            lifecycle: self.lifecycle,
            key_version: self.key_version,
            pin_tries_left: 3,
            pin_try_limit: 3,
            uc_attempts_left: 3,
            uc_limit: 3,
            admin_counter: 0,
            no_pin_limit: self.limits.no_pin_limit,
            uc_max: self.limits.uc_max,
            ecash: block(
                self.ecash,
                self.limits.ecash_max_balance,
                self.limits.ecash_max_amount,
            ),
            food: block(
                self.food,
                self.limits.food_max_balance,
                self.limits.food_max_amount,
            ),
            food_mccs: MccAllowlist::default(),
            serial: self.serial,
        }
    }

    /// GET TRANSACTION PROOF (purse, TT 01, counter).
    pub fn proof(&self, purse: Purse, counter: u16) -> ProofEvidence {
        self.log
            .iter()
            .find(|p| {
                p.record.record_type == RecordType::Load
                    && p.record.purse == purse
                    && p.record.counter == counter
            })
            .map_or(ProofEvidence::NotFound, |p| ProofEvidence::Found(*p))
    }

    /// A whole connected load: INITIALIZE LOAD, authorisation, CREDIT LOAD, completion.
    pub fn load(
        &mut self,
        bo: &mut Backoffice,
        purse: Purse,
        units: u32,
        expiry: Option<Date>,
    ) -> backoffice::Result<LoadAuthorisation> {
        let exchange = self
            .initialize_load(purse, units, expiry)
            .expect("INITIALIZE LOAD");
        let auth = bo.begin_load(&self.request(exchange))?;
        let response = self.credit_load(&auth.credit_load).expect("CREDIT LOAD");
        bo.complete_load(auth.load_id, &response)?;
        Ok(auth)
    }
}
