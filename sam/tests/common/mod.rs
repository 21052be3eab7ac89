//! Shared test helpers: dev keys, SAM files, private temporary directories and a small purse
//! card model (the card's side of a purchase, written from SPEC 2.7/2.8 with the raw crypto
//! primitives, not with the SAM's purchase functions).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use apdu_spec::{
    purchase_mac1_input, purchase_mac2_input, tac_input, Amount, DateTime, DebitPurchase,
    DebitPurchaseResponse, InitPurchaseResponse, InitializePurchase, Mcc, Purse, RecordType, SamId,
    Serial, StatusWord, TransactionProof, TransactionRecord,
};
use sam::{
    diversify, mac_eq, retail_mac_m2, Key16, KeyName, MasterKeys, MerchantId, MerchantProfile,
    SamFile, StatePaths,
};

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn dev_keys() -> MasterKeys {
    MasterKeys::load(repo_path("keys/dev-master-keys.json")).expect("dev master keys")
}

pub fn vector(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo_path(&format!("apdu-spec/vectors/{name}.json")))
        .expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

pub fn amount(v: u32) -> Amount {
    Amount::new(v).expect("amount")
}

pub fn dt(s: &str) -> DateTime {
    s.parse().expect("date-time")
}

pub const SAM_ID: SamId = SamId([0x53, 0x4D, 0x00, 0x00, 0x00, 0x01]);

pub fn profile(sam_id: SamId, mcc: &str, food: bool) -> MerchantProfile {
    MerchantProfile {
        sam_id,
        merchant_id: MerchantId::new("M-0001").expect("merchant id"),
        merchant_name: "Corner Grocery".into(),
        mcc: mcc.parse().expect("mcc"),
        food_merchant: food,
        key_version: 1,
    }
}

/// The SAM file the back office would issue for `sam_id` from the dev keys.
pub fn sam_file_for(sam_id: SamId, mcc: &str) -> SamFile {
    SamFile::issue(&dev_keys(), profile(sam_id, mcc, true)).expect("issue SAM file")
}

pub fn sam_file() -> SamFile {
    sam_file_for(SAM_ID, "5411")
}

/// A fresh, private directory, removed when dropped.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sam-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        Self(dir)
    }

    pub fn paths(&self) -> StatePaths {
        StatePaths::in_dir(&self.0)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One purse of the card model.
#[derive(Clone, Default)]
struct PurseModel {
    balance: u32,
    purchase_counter: u16,
}

/// The card's side of purchases (SPEC 2.7, 2.8): balances, purchase counters, a 16-entry log
/// and an open purchase session.
pub struct CardModel {
    pub serial: Serial,
    k_purchase: Key16,
    k_tac: Key16,
    ecash: PurseModel,
    food: PurseModel,
    log: Vec<TransactionProof>,
    session: Option<(InitializePurchase, u16, [u8; 4])>,
    next_rnd: u32,
    pub pin_verified: bool,
}

impl CardModel {
    pub fn new(serial: Serial, ecash: u32, food: u32) -> Self {
        let keys = dev_keys();
        Self {
            serial,
            k_purchase: diversify(keys.get(KeyName::Purchase), &serial.0),
            k_tac: diversify(keys.get(KeyName::Tac), &serial.0),
            ecash: PurseModel {
                balance: ecash,
                purchase_counter: 0,
            },
            food: PurseModel {
                balance: food,
                purchase_counter: 0,
            },
            log: Vec::new(),
            session: None,
            next_rnd: 0x1234_5678,
            pin_verified: false,
        }
    }

    fn purse(&mut self, purse: Purse) -> &mut PurseModel {
        match purse {
            Purse::Ecash => &mut self.ecash,
            Purse::Food => &mut self.food,
        }
    }

    pub fn balance(&self, purse: Purse) -> u32 {
        match purse {
            Purse::Ecash => self.ecash.balance,
            Purse::Food => self.food.balance,
        }
    }

    pub fn purchase_counter(&self, purse: Purse) -> u16 {
        match purse {
            Purse::Ecash => self.ecash.purchase_counter,
            Purse::Food => self.food.purchase_counter,
        }
    }

    /// The card's TAC key (the back office's), to check journaled records.
    pub fn tac_ok(&self, serial: &Serial, record: &TransactionRecord, tac: &[u8; 8]) -> bool {
        mac_eq(&retail_mac_m2(&self.k_tac, &tac_input(serial, record)), tac)
    }

    pub fn initialize_purchase(
        &mut self,
        command: &InitializePurchase,
    ) -> Result<InitPurchaseResponse, StatusWord> {
        self.session = None;
        let purse = self.purse(command.purse).clone();
        if command.amount.get() > purse.balance {
            return Err(StatusWord::InsufficientBalance);
        }
        let counter = purse.purchase_counter + 1;
        self.next_rnd = self
            .next_rnd
            .wrapping_mul(0x0101_0101)
            .wrapping_add(0x9E37_79B9);
        let rnd = self.next_rnd.to_be_bytes();
        self.session = Some((*command, counter, rnd));
        Ok(InitPurchaseResponse {
            balance: amount(purse.balance),
            counter,
            key_version: 1,
            rnd,
        })
    }

    /// DEBIT PURCHASE: MAC1 check, debit, log; the session closes whatever the outcome.
    pub fn debit_purchase(
        &mut self,
        command: &DebitPurchase,
    ) -> Result<DebitPurchaseResponse, StatusWord> {
        let (init, counter, rnd) = self
            .session
            .take()
            .ok_or(StatusWord::ConditionsNotSatisfied)?;
        let context = apdu_spec::PurchaseContext {
            serial: self.serial,
            purse: init.purse,
            counter,
            amount: init.amount,
        };
        let sk = diversify(
            &self.k_purchase,
            &[
                rnd[0],
                rnd[1],
                rnd[2],
                rnd[3],
                (counter >> 8) as u8,
                counter as u8,
                0x02,
                init.purse.code(),
            ],
        );
        let mac1 = retail_mac_m2(
            &sk,
            &purchase_mac1_input(
                &context,
                init.sam_id,
                command.sam_seq,
                command.datetime,
                command.mcc,
            ),
        );
        if !mac_eq(&mac1, &command.mac1) {
            return Err(StatusWord::MacInvalid);
        }
        let food_mcc: Mcc = "5411".parse().expect("mcc");
        if init.purse == Purse::Food && command.mcc != food_mcc {
            return Err(StatusWord::CategoryNotAllowed);
        }
        let pin = self.pin_verified;
        let p = self.purse(init.purse);
        p.balance -= init.amount.get();
        p.purchase_counter = counter;
        let balance = amount(p.balance);
        let record = TransactionRecord {
            record_type: RecordType::Purchase,
            purse: init.purse,
            counter,
            amount: init.amount,
            balance,
            terminal: init.sam_id.0,
            sam_seq: command.sam_seq,
            datetime: command.datetime,
            mcc: command.mcc,
            flags: u8::from(pin),
        };
        let mac2 = retail_mac_m2(
            &sk,
            &purchase_mac2_input(&context, balance, command.sam_seq),
        );
        let tac = retail_mac_m2(&self.k_tac, &tac_input(&self.serial, &record));
        self.log.push(TransactionProof { record, tac, mac2 });
        if self.log.len() > 16 {
            self.log.remove(0);
        }
        Ok(DebitPurchaseResponse { balance, mac2, tac })
    }

    /// GET TRANSACTION PROOF for a purchase.
    pub fn proof(&self, purse: Purse, counter: u16) -> Option<TransactionProof> {
        self.log
            .iter()
            .find(|e| {
                e.record.record_type == RecordType::Purchase
                    && e.record.purse == purse
                    && e.record.counter == counter
            })
            .copied()
    }
}
