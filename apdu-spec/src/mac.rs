//! The exact bytes every MAC, TAC and seal of the contract is computed over (SPEC.md 1.3–1.11),
//! before padding method 2. The MAC itself (`sam::retail_mac_m2`) and the diversification
//! (`sam::diversify`) are in the `sam` crate; this module only lays out their inputs, so both
//! sides of every check build the same bytes from the same types.
//!
//! | SPEC | function | leading byte |
//! | --- | --- | --- |
//! | 1.3 | [`session_diversifier`] | – |
//! | 1.5 | [`tac_input`] | `13` |
//! | 1.6 | [`load_mac1_input`], [`load_mac2_input`] | `11`, `12` |
//! | 1.7 | [`purchase_mac1_input`], [`purchase_mac2_input`] | `21`, `22` |
//! | 1.8 | [`unconnected_auth_input`], [`unconnected_confirm_input`], [`code8`] | `41`, `42` |
//! | 1.9 | [`admin_mac_input`] | – |
//! | 1.10 | [`perso_mac_input`] | – |
//! | 1.11 | [`seal_input`], [`ack_sam_input`], [`ack_card_input`] | `50`, `51`, `52` |

use crate::apdu::{Ins, CLA_SECURED};
use crate::bcd::{Date, DateTime, Mcc};
use crate::bytes::concat;
use crate::record::{SettlementRecord, TransactionRecord};
use crate::transfer::{AckData, BatchHeader};
use crate::values::{Amount, Purse, SamId, Serial, TerminalId, TxType};

/// `code8` reduces modulo 10^8: eight decimal digits.
pub const CODE8_MODULUS: u32 = 100_000_000;

/// The session-key diversifier `RND || CTR || TT || X` (SPEC 1.3); the session key is
/// `EMVA(K, diversifier)`. `x` is the purse, the INS (issuer commands) or `00`.
pub fn session_diversifier(rnd: [u8; 4], counter: u16, tx_type: TxType, x: u8) -> [u8; 8] {
    let [c1, c2] = counter.to_be_bytes();
    let [r1, r2, r3, r4] = rnd;
    [r1, r2, r3, r4, c1, c2, tx_type.code(), x]
}

/// An 8-digit code from a MAC: its first 4 bytes as a big-endian `u32`, modulo 100 000 000.
pub fn code8(mac: &[u8; 8]) -> u32 {
    let [a, b, c, d, ..] = *mac;
    u32::from_be_bytes([a, b, c, d]) % CODE8_MODULUS
}

/// `TAC = MAC(K_TAC, 13 || SERIAL || REC)` — 41 bytes.
pub fn tac_input(serial: &Serial, record: &TransactionRecord) -> Vec<u8> {
    concat(&[&[0x13], &serial.0, &record.to_bytes()])
}

/// TAC input of a settlement record (its own serial and record).
pub fn settlement_tac_input(record: &SettlementRecord) -> Vec<u8> {
    tac_input(&record.serial, &record.record)
}

/// What both load MACs bind: the card, the purse, the load's counter, amount, terminal and
/// expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadContext {
    /// Card serial.
    pub serial: Serial,
    /// The purse loaded.
    pub purse: Purse,
    /// `CTR`: the load counter of this load (from the INITIALIZE LOAD response).
    pub counter: u16,
    /// Amount loaded.
    pub amount: Amount,
    /// The teller station.
    pub terminal: TerminalId,
    /// Food-Voucher expiry, `None` (`00`×4) for e-Cash.
    pub expiry: Option<Date>,
}

impl LoadContext {
    /// The context of a load from its INITIALIZE LOAD exchange.
    pub fn new(
        serial: Serial,
        command: &crate::purse::InitializeLoad,
        response: &crate::purse::InitLoadResponse,
    ) -> Self {
        Self {
            serial,
            purse: command.purse,
            counter: response.counter,
            amount: command.amount,
            terminal: command.terminal,
            expiry: command.expiry,
        }
    }
}

/// `TAG || SERIAL || PURSE || CTR || fields`: every MAC of a load, purchase or unconnected
/// load binds the card, the purse and the transaction's counter first (SPEC 1.6–1.8).
fn card_session_input(
    tag: u8,
    serial: &Serial,
    purse: Purse,
    counter: u16,
    fields: &[&[u8]],
) -> Vec<u8> {
    let mut out = concat(&[&[tag], &serial.0, &[purse.code()], &counter.to_be_bytes()]);
    for field in fields {
        out.extend_from_slice(field);
    }
    out
}

/// Load `MAC1 = MAC(SK_LOAD, 11 || SERIAL || PURSE || CTR || BAL || AMOUNT || TERMINAL ||
/// EXPIRY)` — 30 bytes; `balance` is the balance before the load.
pub fn load_mac1_input(load: &LoadContext, balance: Amount) -> Vec<u8> {
    card_session_input(
        0x11,
        &load.serial,
        load.purse,
        load.counter,
        &[
            &balance.to_bytes(),
            &load.amount.to_bytes(),
            &load.terminal.0,
            &Date::optional_to_bcd(load.expiry),
        ],
    )
}

/// Load `MAC2 = MAC(SK_LOAD, 12 || SERIAL || PURSE || CTR || AMOUNT || TERMINAL || EXPIRY ||
/// DATETIME)` — 33 bytes.
pub fn load_mac2_input(load: &LoadContext, datetime: DateTime) -> Vec<u8> {
    card_session_input(
        0x12,
        &load.serial,
        load.purse,
        load.counter,
        &[
            &load.amount.to_bytes(),
            &load.terminal.0,
            &Date::optional_to_bcd(load.expiry),
            &datetime.to_bcd(),
        ],
    )
}

/// What both purchase MACs bind: the card, the purse, the purchase's counter and amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PurchaseContext {
    /// Card serial.
    pub serial: Serial,
    /// The purse debited.
    pub purse: Purse,
    /// `CTR`: the purchase counter of this purchase (from the INITIALIZE PURCHASE response).
    pub counter: u16,
    /// Amount debited.
    pub amount: Amount,
}

impl PurchaseContext {
    /// The context of a purchase from its INITIALIZE PURCHASE exchange.
    pub fn new(
        serial: Serial,
        command: &crate::purse::InitializePurchase,
        response: &crate::purse::InitPurchaseResponse,
    ) -> Self {
        Self {
            serial,
            purse: command.purse,
            counter: response.counter,
            amount: command.amount,
        }
    }
}

/// Purchase `MAC1 = MAC(SK_PURCHASE, 21 || SERIAL || PURSE || CTR || AMOUNT || SAM_ID || SAMSEQ
/// || DATETIME || MCC)` — 35 bytes.
pub fn purchase_mac1_input(
    purchase: &PurchaseContext,
    sam_id: SamId,
    sam_seq: u32,
    datetime: DateTime,
    mcc: Mcc,
) -> Vec<u8> {
    card_session_input(
        0x21,
        &purchase.serial,
        purchase.purse,
        purchase.counter,
        &[
            &purchase.amount.to_bytes(),
            &sam_id.0,
            &sam_seq.to_be_bytes(),
            &datetime.to_bcd(),
            &mcc.to_bcd(),
        ],
    )
}

/// Purchase `MAC2 = MAC(SK_PURCHASE, 22 || SERIAL || PURSE || CTR || AMOUNT || BALANCE_AFTER ||
/// SAMSEQ)` — 24 bytes.
pub fn purchase_mac2_input(
    purchase: &PurchaseContext,
    balance_after: Amount,
    sam_seq: u32,
) -> Vec<u8> {
    card_session_input(
        0x22,
        &purchase.serial,
        purchase.purse,
        purchase.counter,
        &[
            &purchase.amount.to_bytes(),
            &balance_after.to_bytes(),
            &sam_seq.to_be_bytes(),
        ],
    )
}

/// Unconnected-load `AUTH = MAC(SK_UNCONNECTED, 41 || SERIAL || PURSE || CTR || AMOUNT ||
/// EXPIRY)` — 20 bytes.
pub fn unconnected_auth_input(
    serial: &Serial,
    purse: Purse,
    counter: u16,
    amount: Amount,
    expiry: Option<Date>,
) -> Vec<u8> {
    card_session_input(
        0x41,
        serial,
        purse,
        counter,
        &[&amount.to_bytes(), &Date::optional_to_bcd(expiry)],
    )
}

/// Unconnected-load `CONFIRM = MAC(SK_UNCONNECTED, 42 || SERIAL || PURSE || CTR || AMOUNT)` —
/// 16 bytes.
pub fn unconnected_confirm_input(
    serial: &Serial,
    purse: Purse,
    counter: u16,
    amount: Amount,
) -> Vec<u8> {
    card_session_input(0x42, serial, purse, counter, &[&amount.to_bytes()])
}

/// `MAC_A = MAC(SK_ADMIN, CLA || INS || P1 || P2 || DATA)`, `DATA` without `MAC_A` (no Lc).
pub fn admin_mac_input(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    concat(&[&[cla, ins, p1, p2], data])
}

/// `MAC_P = MAC(SK_PERSO_MAC, 84 || 60 || 00 || 00 || C)`, for the purse (`C` 128 bytes) and
/// the transfer card (`C` 32 bytes).
pub fn perso_mac_input(cryptogram: &[u8]) -> Vec<u8> {
    admin_mac_input(CLA_SECURED, Ins::Personalize.code(), 0x00, 0x00, cryptogram)
}

/// `SEAL = MAC(K_SETTLE, 50 || HEADER || RECORDS)`.
pub fn seal_input(header: &BatchHeader, records: &[SettlementRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + BatchHeader::LEN + SettlementRecord::LEN * records.len());
    out.push(0x50);
    out.extend_from_slice(&header.to_bytes());
    for record in records {
        out.extend_from_slice(&record.to_bytes());
    }
    out
}

/// `ACK_SAM = MAC(K_SETTLE, 51 || ACKDATA || SEAL)` — 43 bytes.
pub fn ack_sam_input(ack: &AckData, seal: &[u8; 8]) -> Vec<u8> {
    concat(&[&[0x51], &ack.to_bytes(), seal])
}

/// `ACK_CARD = MAC(K_XFER, 52 || XSERIAL || ACKDATA || SEAL)` — 51 bytes.
pub fn ack_card_input(xserial: &Serial, ack: &AckData, seal: &[u8; 8]) -> Vec<u8> {
    concat(&[&[0x52], &xserial.0, &ack.to_bytes(), seal])
}
