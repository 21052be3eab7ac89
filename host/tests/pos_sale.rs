//! The POS sale workflow in process: a software purse card (SPEC 2.7, 2.8, 2.10 for the
//! commands a sale needs, keys from the development master keys) behind the `Transport` trait,
//! and the software SAM in a temporary directory. Split sale, every pre-debit refusal, the PIN,
//! a card refusal at DEBIT PURCHASE, and a debit interrupted before and after the card applied
//! it — recovered from the card's evidence, never a double or unpaid debit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use apdu_spec::{
    tac_input, Amount, Applet, Capabilities, Command, ContractCommand, Date, DateTime,
    DebitPurchase, DebitPurchaseResponse, Fci, InitPurchaseResponse, InitializePurchase, Lifecycle,
    Mcc, MccAllowlist, PinBlock, Purse, PurseBlock, PurseStatus, RecordType, SamId, Serial,
    StatusWord, TransactionProof, TransactionRecord,
};
use host::exchange::Channel;
use host::pos::{self, PosError, PurseChoice, SaleRefusal, SaleRequest};
use host::transport::{Protocol, Transport, TransportError};
use sam::purchase::{card_purchase_key, purchase_mac1, purchase_mac2, purchase_session_key};
use sam::{
    KeyName, MasterKeys, MerchantId, MerchantProfile, SamFile, SecurityModule, SoftwareSam,
    StatePaths,
};

const DEV_KEYS: &str = include_str!("../../keys/dev-master-keys.json");
const SERIAL: Serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 7]);

fn keys() -> MasterKeys {
    MasterKeys::parse(DEV_KEYS).expect("dev keys")
}

fn amt(v: u32) -> Amount {
    Amount::new(v).expect("amount")
}

/// Where the soft card fails the DEBIT PURCHASE exchange.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The command never reaches the card.
    BeforeDebit,
    /// The card debits, the response is lost.
    AfterDebit,
}

struct SoftCard {
    balances: [u32; 2],
    counters: [u16; 2],
    food_expiry: Option<Date>,
    no_pin_limit: u32,
    pin_verified: bool,
    session: Option<(InitializePurchase, u16, [u8; 4])>,
    log: Vec<TransactionProof>,
    fault: Fault,
    debits: u32,
    blocked: bool,
}

fn idx(p: Purse) -> usize {
    match p {
        Purse::Ecash => 0,
        Purse::Food => 1,
    }
}

fn reply(data: &[u8], sw: StatusWord) -> Vec<u8> {
    let mut v = data.to_vec();
    v.extend_from_slice(&u16::from(sw).to_be_bytes());
    v
}

impl SoftCard {
    fn new(ecash: u32, food: u32) -> Self {
        SoftCard {
            balances: [ecash, food],
            counters: [0, 0],
            food_expiry: Some(Date::new(2030, 12, 31).expect("date")),
            no_pin_limit: 50_000,
            pin_verified: false,
            session: None,
            log: Vec::new(),
            fault: Fault::None,
            debits: 0,
            blocked: false,
        }
    }

    fn status(&self) -> PurseStatus {
        let block = |p: Purse| PurseBlock {
            balance: amt(self.balances[idx(p)]),
            load_counter: 1,
            purchase_counter: self.counters[idx(p)],
            max_balance: amt(1_000_000),
            max_amount: amt(500_000),
            expiry: if p == Purse::Food {
                self.food_expiry
            } else {
                None
            },
        };
        PurseStatus {
            lifecycle: if self.blocked {
                Lifecycle::Blocked
            } else {
                Lifecycle::Active
            },
            key_version: 1,
            pin_tries_left: 3,
            pin_try_limit: 3,
            uc_attempts_left: 3,
            uc_limit: 3,
            admin_counter: 0,
            no_pin_limit: amt(self.no_pin_limit),
            uc_max: amt(20_000),
            ecash: block(Purse::Ecash),
            food: block(Purse::Food),
            food_mccs: MccAllowlist::new(&[Mcc::new(5411).expect("mcc")]).expect("mccs"),
            serial: SERIAL,
        }
    }

    fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Ok(command) = Command::parse(apdu) else {
            return reply(&[], StatusWord::WrongLength);
        };
        let session = self.session.take();
        match command.ins_byte() {
            0xA4 => {
                self.pin_verified = false;
                let fci = Fci {
                    applet: Applet::Purse,
                    serial: SERIAL,
                    version: (1, 0),
                    lifecycle: if self.blocked {
                        Lifecycle::Blocked
                    } else {
                        Lifecycle::Active
                    },
                    capabilities: Some(Capabilities(0x0F)),
                    key_version: Some(1),
                    batch_state: None,
                    capacity: None,
                };
                let sw = if self.blocked {
                    StatusWord::SelectedBlocked
                } else {
                    StatusWord::Ok
                };
                reply(&fci.to_bytes(), sw)
            }
            0x5E => reply(&self.status().to_bytes(), StatusWord::Ok),
            0x20 => {
                let pin = apdu.get(5..13).unwrap_or_default();
                if pin == PinBlock::from_digits("1234").expect("pin").as_bytes() {
                    self.pin_verified = true;
                    reply(&[], StatusWord::Ok)
                } else {
                    reply(&[], StatusWord::WrongCode { tries_left: 2 })
                }
            }
            0x54 => {
                let c = InitializePurchase::from_command(&command).expect("INITIALIZE PURCHASE");
                let i = idx(c.purse);
                if c.amount.get() > self.balances[i] {
                    return reply(&[], StatusWord::InsufficientBalance);
                }
                if c.amount.get() > self.no_pin_limit && !self.pin_verified {
                    return reply(&[], StatusWord::PinRequired);
                }
                let ctr = self.counters[i] + 1;
                let rnd = [ctr as u8, 0xA5, 0x5A, i as u8];
                self.session = Some((c, ctr, rnd));
                let r = InitPurchaseResponse {
                    balance: amt(self.balances[i]),
                    counter: ctr,
                    key_version: 1,
                    rnd,
                };
                reply(&r.to_bytes(), StatusWord::Ok)
            }
            0x56 => {
                let d = DebitPurchase::from_command(&command).expect("DEBIT PURCHASE");
                let Some((init, ctr, rnd)) = session else {
                    return reply(&[], StatusWord::ConditionsNotSatisfied);
                };
                let k = card_purchase_key(keys().get(KeyName::Purchase), SERIAL);
                let sk = purchase_session_key(&k, rnd, ctr, init.purse);
                let ctx = apdu_spec::PurchaseContext {
                    serial: SERIAL,
                    purse: init.purse,
                    counter: ctr,
                    amount: init.amount,
                };
                if purchase_mac1(&sk, &ctx, init.sam_id, d.sam_seq, d.datetime, d.mcc) != d.mac1 {
                    return reply(&[], StatusWord::MacInvalid);
                }
                let i = idx(init.purse);
                self.balances[i] -= init.amount.get();
                self.counters[i] = ctr;
                self.debits += 1;
                let record = TransactionRecord {
                    record_type: RecordType::Purchase,
                    purse: init.purse,
                    counter: ctr,
                    amount: init.amount,
                    balance: amt(self.balances[i]),
                    terminal: init.sam_id.0,
                    sam_seq: d.sam_seq,
                    datetime: d.datetime,
                    mcc: d.mcc,
                    flags: u8::from(self.pin_verified),
                };
                let k_tac = sam::diversify(keys().get(KeyName::Tac), &SERIAL.0);
                let tac = sam::retail_mac_m2(&k_tac, &tac_input(&SERIAL, &record));
                let mac2 = purchase_mac2(&sk, &ctx, record.balance, d.sam_seq);
                self.log.push(TransactionProof { record, tac, mac2 });
                let r = DebitPurchaseResponse {
                    balance: record.balance,
                    mac2,
                    tac,
                };
                reply(&r.to_bytes(), StatusWord::Ok)
            }
            0x5A => {
                let purse = Purse::try_from(command.p1_byte()).expect("purse");
                let data = command.data_bytes();
                let ctr = u16::from_be_bytes([data[0], data[1]]);
                match self
                    .log
                    .iter()
                    .find(|p| p.record.purse == purse && p.record.counter == ctr)
                {
                    Some(p) => reply(&p.to_bytes(), StatusWord::Ok),
                    None => reply(&[], StatusWord::NotFound),
                }
            }
            _ => reply(&[], StatusWord::BadIns),
        }
    }
}

impl Transport for SoftCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let removed = TransportError::CardRemoved {
            reader: "soft".into(),
        };
        let is_debit = command.get(1) == Some(&0x56);
        if is_debit && self.fault == Fault::BeforeDebit {
            self.fault = Fault::None;
            self.session = None;
            return Err(removed);
        }
        let r = self.handle(command);
        if is_debit && self.fault == Fault::AfterDebit {
            self.fault = Fault::None;
            return Err(removed);
        }
        Ok(r)
    }
    fn reset(&mut self) -> Result<(), TransportError> {
        self.session = None;
        self.pin_verified = false;
        Ok(())
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.reset()
    }
    fn reader_name(&self) -> &str {
        "soft"
    }
    fn atr(&self) -> &[u8] {
        &[0x3B, 0x80, 0x80, 0x01, 0x01]
    }
    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::T1)
    }
    fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError> {
        Ok(Box::new(self))
    }
}

static DIRS: AtomicU32 = AtomicU32::new(0);

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sam(food_merchant: bool) -> (TempDir, SoftwareSam) {
    let dir = std::env::temp_dir().join(format!(
        "epurse-pos-sale-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = SamFile::issue(
        &keys(),
        MerchantProfile {
            sam_id: SamId([0x53, 0x4D, 0, 0, 0, 9]),
            merchant_id: MerchantId::new("M-T").expect("id"),
            merchant_name: "Test Shop".into(),
            mcc: Mcc::new(if food_merchant { 5411 } else { 5942 }).expect("mcc"),
            food_merchant,
            key_version: 1,
        },
    )
    .expect("SAM file");
    let s = SoftwareSam::create(StatePaths::in_dir(&dir), file, 1, 1).expect("SAM");
    (TempDir(dir), s)
}

fn request(amount: u32, purse: PurseChoice) -> SaleRequest {
    SaleRequest {
        amount,
        purse,
        datetime: DateTime::new(Date::new(2026, 11, 23).expect("d"), 10, 0, 0).expect("dt"),
    }
}

fn no_pin() -> Option<PinBlock> {
    None
}

/// A sale of `amount` from `purse` on `ch` through `sam`, with no PIN to give.
fn sell(
    ch: &mut Channel<SoftCard>,
    sam: &mut SoftwareSam,
    amount: u32,
    purse: PurseChoice,
) -> Result<pos::Receipt, PosError> {
    pos::sale(ch, sam, &request(amount, purse), &mut no_pin)
}

#[test]
fn auto_splits_food_then_ecash_in_one_receipt() {
    let (_d, mut sam) = sam(true);
    let mut ch = Channel::new(SoftCard::new(10_000, 3_000));
    let r = sell(&mut ch, &mut sam, 4_500, PurseChoice::Auto).expect("sale");
    let legs: Vec<_> = r.legs.iter().map(|l| (l.purse, l.amount)).collect();
    assert_eq!(legs, vec![(Purse::Food, 3_000), (Purse::Ecash, 1_500)]);
    assert_eq!(r.total, 4_500);
    assert_eq!(ch.transport().balances, [8_500, 0]);
    let open = sam.status().open;
    assert_eq!((open.food.total, open.ecash.total), (3_000, 1_500));
}

#[test]
fn refusals_debit_nothing() {
    let (_d, mut food_sam) = sam(true);
    let (_e, mut shop_sam) = sam(false);
    let mut ch = Channel::new(SoftCard::new(1_000, 5_000));
    let refused = |e: PosError| match e {
        PosError::Refused(r) => r,
        other => panic!("expected a refusal, got {other}"),
    };
    // Food purse at a non-food merchant.
    let e = sell(&mut ch, &mut shop_sam, 100, PurseChoice::Food).unwrap_err();
    assert_eq!(refused(e), SaleRefusal::FoodAtNonFoodMerchant);
    // Auto at a non-food merchant cannot reach the vouchers: insufficient e-Cash.
    let e = sell(&mut ch, &mut shop_sam, 2_000, PurseChoice::Auto).unwrap_err();
    assert!(matches!(
        refused(e),
        SaleRefusal::InsufficientBalance {
            available: 1_000,
            needed: 2_000
        }
    ));
    // Split that the two purses together cannot pay.
    let e = sell(&mut ch, &mut food_sam, 6_001, PurseChoice::Auto).unwrap_err();
    assert!(matches!(
        refused(e),
        SaleRefusal::InsufficientBalance { .. }
    ));
    // Expired voucher.
    ch.transport_mut().food_expiry = Some(Date::new(2026, 11, 22).expect("d"));
    let e = sell(&mut ch, &mut food_sam, 100, PurseChoice::Food).unwrap_err();
    assert!(matches!(refused(e), SaleRefusal::VoucherExpired { .. }));
    // Blocked card.
    ch.transport_mut().blocked = true;
    let e = sell(&mut ch, &mut food_sam, 100, PurseChoice::Ecash).unwrap_err();
    assert_eq!(refused(e), SaleRefusal::CardBlocked);
    assert_eq!(ch.transport().debits, 0);
    assert_eq!(food_sam.status().open.combined().count, 0);
    assert!(food_sam.pending_purchases().is_empty());
}

#[test]
fn the_pin_is_asked_only_above_the_limit() {
    let (_d, mut sam) = sam(false);
    let mut ch = Channel::new(SoftCard::new(100_000, 0));
    ch.transport_mut().no_pin_limit = 1_000;
    let e = sell(&mut ch, &mut sam, 2_000, PurseChoice::Ecash).unwrap_err();
    assert!(
        matches!(
            e,
            PosError::Refused(SaleRefusal::PinRequired {
                no_pin_limit: 1_000
            })
        ),
        "{e}"
    );
    let mut wrong = || PinBlock::from_digits("9999").ok();
    let e = pos::sale(
        &mut ch,
        &mut sam,
        &request(2_000, PurseChoice::Ecash),
        &mut wrong,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            PosError::Refused(SaleRefusal::WrongPin { tries_left: 2 })
        ),
        "{e}"
    );
    let mut asked = 0;
    let mut right = || {
        asked += 1;
        PinBlock::from_digits("1234").ok()
    };
    let r = pos::sale(
        &mut ch,
        &mut sam,
        &request(2_000, PurseChoice::Ecash),
        &mut right,
    )
    .expect("sale");
    assert!(r.legs[0].pin_verified);
    let r = pos::sale(
        &mut ch,
        &mut sam,
        &request(500, PurseChoice::Ecash),
        &mut right,
    )
    .expect("sale");
    assert!(!r.legs[0].pin_verified);
    assert_eq!(asked, 1);
    assert_eq!(ch.transport().debits, 2);
}

#[test]
fn a_debit_lost_before_the_card_is_cancelled_and_one_lost_after_is_completed() {
    let (_d, mut sam) = sam(false);
    let mut ch = Channel::new(SoftCard::new(10_000, 0));

    ch.transport_mut().fault = Fault::BeforeDebit;
    let e = sell(&mut ch, &mut sam, 1_000, PurseChoice::Ecash).unwrap_err();
    assert!(matches!(e, PosError::Interrupted { .. }), "{e}");
    assert_eq!(sam.pending_purchases().len(), 1);
    // The card presented again: its counter was not reached, the purchase is cancelled.
    let notes = pos::recover_card(&mut ch, &mut sam, SERIAL).expect("recover");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].outcome, "cancelled");
    assert_eq!(ch.transport().balances[0], 10_000);

    ch.transport_mut().fault = Fault::AfterDebit;
    let e = sell(&mut ch, &mut sam, 1_000, PurseChoice::Ecash).unwrap_err();
    assert!(matches!(e, PosError::Interrupted { .. }), "{e}");
    assert_eq!(ch.transport().balances[0], 9_000);
    // The next sale on the card first completes the pending one from GET TRANSACTION PROOF.
    let r = sell(&mut ch, &mut sam, 500, PurseChoice::Ecash).expect("sale");
    assert_eq!(r.recovered.len(), 1);
    assert_eq!(r.recovered[0].outcome, "completed");
    assert_eq!(ch.transport().balances[0], 8_500);
    let open = sam.status().open;
    assert_eq!((open.ecash.count, open.ecash.total), (2, 1_500));
    assert!(sam.pending_purchases().is_empty());
    assert_eq!(ch.transport().debits, 2);
}
