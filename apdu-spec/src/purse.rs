//! The purse applet (SPEC.md section 2): one typed command per row of the command summary
//! (2.4), the response layouts, GET STATUS (2.5), and [`PurseCommand`], which recognises any
//! purse APDU. SELECT, GET STATUS and GET CHALLENGE are in [`crate::common`].

use crate::apdu::{Command, ContractCommand, Expect, Ins};
use crate::bcd::{Date, DateTime, Mcc, MccAllowlist};
use crate::bytes::{check_no_data, concat, fill, Reader};
use crate::common::{applet_commands, personalize_command, GetChallenge, GetStatus, Select};
use crate::error::{ensure, Result, SpecError};
use crate::mac::admin_mac_input;
use crate::record::{LogEntry, TransactionProof};
use crate::values::{Amount, Lifecycle, PinBlock, Purse, RecordType, SamId, Serial, TerminalId};
use crate::Limits;

/// `ALG` `01`: two-key 3DES with the retail MAC — the only algorithm of the contract.
pub const ALG_3DES_RETAIL_MAC: u8 = 0x01;

fn purse_p1(e: &Expect<'_>) -> Result<Purse> {
    e.p1_as(Purse::try_from)
}

/// `80 INS purse P2 Lc DATA 00`: the shape of the commands of a load or purchase session.
fn session_command<const N: usize>(ins: Ins, purse: Purse, p2: u8, data: [u8; N]) -> Command {
    Command::new(ins)
        .p1(purse.code())
        .p2(p2)
        .fixed_data(data)
        .le(0)
}

/// Checks a [`session_command`] — CLA/INS, P2 (`None`: any value, the key version), Le `00`,
/// P1 a purse, in that order — and returns the purse and a reader over exactly `len` data
/// bytes.
fn parse_session_command<'a>(
    command: &'a Command,
    ins: Ins,
    p2: Option<u8>,
    len: usize,
) -> Result<(Purse, Reader<'a>)> {
    let mut e = Expect::new(command, ins)?;
    if let Some(p2) = p2 {
        e = e.p2(p2)?;
    }
    let e = e.le(Some(0))?;
    let purse = purse_p1(&e)?;
    Ok((purse, e.data(len)?))
}

/// `BAL CTR KV ALG`: the 8 bytes both INITIALIZE responses start with (`ALG` always `01`).
fn init_response_head(balance: Amount, counter: u16, key_version: u8) -> [u8; 8] {
    fill(&[
        &balance.to_bytes(),
        &counter.to_be_bytes(),
        &[key_version, ALG_3DES_RETAIL_MAC],
    ])
}

/// Reads `BAL CTR KV ALG` (see [`init_response_head`]); `ALG` must be `01`.
fn read_init_response_head(r: &mut Reader<'_>) -> Result<(Amount, u16, u8)> {
    let balance = Amount::from_bytes(r.array()?)?;
    let counter = r.u16()?;
    let key_version = r.u8()?;
    let alg = r.u8()?;
    ensure(alg == ALG_3DES_RETAIL_MAC, "ALG", alg, "only 01 is defined")?;
    Ok((balance, counter, key_version))
}

// ---------------------------------------------------------------------------------------------
// Reading the card

/// READ LOG `80 5C index 00 00` → [`LogEntry`]; index 0 is the most recent entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadLog {
    /// Entry index, 0 = most recent.
    pub index: u8,
}

impl ContractCommand for ReadLog {
    const INS: Ins = Ins::ReadLog;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).p1(self.index).le(0)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.p2(0)?.le(Some(0))?;
        e.data(0)?;
        Ok(Self {
            index: command.p1_byte(),
        })
    }
}

/// GET TRANSACTION PROOF `80 5A purse TT 02 CTR 00` → [`TransactionProof`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetTransactionProof {
    /// The purse.
    pub purse: Purse,
    /// Load, purchase or unconnected load.
    pub record_type: RecordType,
    /// The counter of the transaction sought (the `CTR` of its INITIALIZE response).
    pub counter: u16,
}

impl ContractCommand for GetTransactionProof {
    const INS: Ins = Ins::GetTransactionProof;

    fn to_command(&self) -> Command {
        Command::new(Self::INS)
            .p1(self.purse.code())
            .p2(self.record_type.code())
            .fixed_data(self.counter.to_be_bytes())
            .le(0)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.le(Some(0))?;
        let purse = purse_p1(&e)?;
        let record_type = e.p2_as(RecordType::try_from)?;
        let counter = e.data(2)?.u16()?;
        Ok(Self {
            purse,
            record_type,
            counter,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Load (2.6)

/// INITIALIZE LOAD `80 50 purse KV 0E AMOUNT TERMINAL EXPIRY 00` → [`InitLoadResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitializeLoad {
    /// The purse to load.
    pub purse: Purse,
    /// Key version the back office will use; 0 accepts the card's.
    pub key_version: u8,
    /// Amount to load.
    pub amount: Amount,
    /// The teller station.
    pub terminal: TerminalId,
    /// Food-Voucher expiry; `None` (`00`×4) for e-Cash.
    pub expiry: Option<Date>,
}

impl ContractCommand for InitializeLoad {
    const INS: Ins = Ins::InitializeLoad;

    fn to_command(&self) -> Command {
        session_command(
            Self::INS,
            self.purse,
            self.key_version,
            fill::<14>(&[
                &self.amount.to_bytes(),
                &self.terminal.0,
                &Date::optional_to_bcd(self.expiry),
            ]),
        )
    }

    fn from_command(command: &Command) -> Result<Self> {
        let (purse, mut r) = parse_session_command(command, Self::INS, None, 14)?;
        Ok(Self {
            purse,
            key_version: command.p2_byte(),
            amount: Amount::from_bytes(r.array()?)?,
            terminal: TerminalId(r.array()?),
            expiry: Date::parse_optional(r.array()?)?,
        })
    }
}

/// INITIALIZE LOAD response: `BAL CTR KV ALG RND MAC1` (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitLoadResponse {
    /// Balance before the load.
    pub balance: Amount,
    /// `CTR`: the load counter this load will use (counter + 1).
    pub counter: u16,
    /// The card's key version.
    pub key_version: u8,
    /// The card random of this load session.
    pub rnd: [u8; 4],
    /// `MAC1`, checked by the back office.
    pub mac1: [u8; 8],
}

impl InitLoadResponse {
    /// Wire size.
    pub const LEN: usize = 20;

    /// The 20 wire bytes (`ALG` is always `01`).
    pub fn to_bytes(&self) -> [u8; 20] {
        fill(&[
            &init_response_head(self.balance, self.counter, self.key_version),
            &self.rnd,
            &self.mac1,
        ])
    }

    /// From the 20 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "INITIALIZE LOAD response")?;
        let (balance, counter, key_version) = read_init_response_head(&mut r)?;
        Ok(Self {
            balance,
            counter,
            key_version,
            rnd: r.array()?,
            mac1: r.array()?,
        })
    }
}

/// CREDIT LOAD `80 52 purse 00 0F DATETIME MAC2 00` → [`CreditLoadResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CreditLoad {
    /// The purse of the open load session.
    pub purse: Purse,
    /// Date and time of the load (from the back office).
    pub datetime: DateTime,
    /// `MAC2` from the back office.
    pub mac2: [u8; 8],
}

impl ContractCommand for CreditLoad {
    const INS: Ins = Ins::CreditLoad;

    fn to_command(&self) -> Command {
        session_command(
            Self::INS,
            self.purse,
            0,
            fill::<15>(&[&self.datetime.to_bcd(), &self.mac2]),
        )
    }

    fn from_command(command: &Command) -> Result<Self> {
        let (purse, mut r) = parse_session_command(command, Self::INS, Some(0), 15)?;
        Ok(Self {
            purse,
            datetime: DateTime::from_bcd(r.array()?)?,
            mac2: r.array()?,
        })
    }
}

/// CREDIT LOAD response: `BAL TAC` (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CreditLoadResponse {
    /// Balance after the load.
    pub balance: Amount,
    /// TAC over the load's record.
    pub tac: [u8; 8],
}

impl CreditLoadResponse {
    /// Wire size.
    pub const LEN: usize = 12;

    /// The 12 wire bytes.
    pub fn to_bytes(&self) -> [u8; 12] {
        fill(&[&self.balance.to_bytes(), &self.tac])
    }

    /// From the 12 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "CREDIT LOAD response")?;
        Ok(Self {
            balance: Amount::from_bytes(r.array()?)?,
            tac: r.array()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Purchase (2.7)

/// INITIALIZE PURCHASE `80 54 purse KV 0A AMOUNT SAM_ID 00` → [`InitPurchaseResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitializePurchase {
    /// The purse to debit.
    pub purse: Purse,
    /// Key version the SAM will use; 0 accepts the card's.
    pub key_version: u8,
    /// Amount to debit.
    pub amount: Amount,
    /// The merchant's SAM.
    pub sam_id: SamId,
}

impl ContractCommand for InitializePurchase {
    const INS: Ins = Ins::InitializePurchase;

    fn to_command(&self) -> Command {
        session_command(
            Self::INS,
            self.purse,
            self.key_version,
            fill::<10>(&[&self.amount.to_bytes(), &self.sam_id.0]),
        )
    }

    fn from_command(command: &Command) -> Result<Self> {
        let (purse, mut r) = parse_session_command(command, Self::INS, None, 10)?;
        Ok(Self {
            purse,
            key_version: command.p2_byte(),
            amount: Amount::from_bytes(r.array()?)?,
            sam_id: SamId(r.array()?),
        })
    }
}

/// INITIALIZE PURCHASE response: `BAL CTR KV ALG RND` (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitPurchaseResponse {
    /// Balance before the purchase.
    pub balance: Amount,
    /// `CTR`: the purchase counter this purchase will use.
    pub counter: u16,
    /// The card's key version.
    pub key_version: u8,
    /// The card random of this purchase session.
    pub rnd: [u8; 4],
}

impl InitPurchaseResponse {
    /// Wire size.
    pub const LEN: usize = 12;

    /// The 12 wire bytes (`ALG` is always `01`).
    pub fn to_bytes(&self) -> [u8; 12] {
        fill(&[
            &init_response_head(self.balance, self.counter, self.key_version),
            &self.rnd,
        ])
    }

    /// From the 12 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "INITIALIZE PURCHASE response")?;
        let (balance, counter, key_version) = read_init_response_head(&mut r)?;
        Ok(Self {
            balance,
            counter,
            key_version,
            rnd: r.array()?,
        })
    }
}

/// DEBIT PURCHASE `80 56 purse 00 15 SAMSEQ DATETIME MCC MAC1 00` → [`DebitPurchaseResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DebitPurchase {
    /// The purse of the open purchase session.
    pub purse: Purse,
    /// The SAM's sequence number for this purchase.
    pub sam_seq: u32,
    /// Date and time from the SAM.
    pub datetime: DateTime,
    /// The merchant's category.
    pub mcc: Mcc,
    /// `MAC1` from the SAM.
    pub mac1: [u8; 8],
}

impl ContractCommand for DebitPurchase {
    const INS: Ins = Ins::DebitPurchase;

    fn to_command(&self) -> Command {
        session_command(
            Self::INS,
            self.purse,
            0,
            fill::<21>(&[
                &self.sam_seq.to_be_bytes(),
                &self.datetime.to_bcd(),
                &self.mcc.to_bcd(),
                &self.mac1,
            ]),
        )
    }

    fn from_command(command: &Command) -> Result<Self> {
        let (purse, mut r) = parse_session_command(command, Self::INS, Some(0), 21)?;
        Ok(Self {
            purse,
            sam_seq: r.u32()?,
            datetime: DateTime::from_bcd(r.array()?)?,
            mcc: Mcc::from_bcd(r.array()?)?,
            mac1: r.array()?,
        })
    }
}

/// DEBIT PURCHASE response: `BAL MAC2 TAC` (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DebitPurchaseResponse {
    /// Balance after the purchase.
    pub balance: Amount,
    /// `MAC2`, checked by the SAM.
    pub mac2: [u8; 8],
    /// TAC over the purchase's record, checked by the back office.
    pub tac: [u8; 8],
}

impl DebitPurchaseResponse {
    /// Wire size.
    pub const LEN: usize = 20;

    /// The 20 wire bytes.
    pub fn to_bytes(&self) -> [u8; 20] {
        fill(&[&self.balance.to_bytes(), &self.mac2, &self.tac])
    }

    /// From the 20 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "DEBIT PURCHASE response")?;
        Ok(Self {
            balance: Amount::from_bytes(r.array()?)?,
            mac2: r.array()?,
            tac: r.array()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Unconnected load (2.12)

/// UNCONNECTED LOAD `80 58 purse 00 13 AMOUNT EXPIRY DATETIME AUTH 00` →
/// [`UnconnectedLoadResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnconnectedLoad {
    /// The purse to load.
    pub purse: Purse,
    /// Amount to load.
    pub amount: Amount,
    /// Food-Voucher expiry; `None` for e-Cash.
    pub expiry: Option<Date>,
    /// Date and time from the pocket reader.
    pub datetime: DateTime,
    /// The authorisation code typed by the cardholder, as the `u32` `code8(AUTH)`.
    pub auth_code: u32,
}

impl ContractCommand for UnconnectedLoad {
    const INS: Ins = Ins::UnconnectedLoad;

    fn to_command(&self) -> Command {
        session_command(
            Self::INS,
            self.purse,
            0,
            fill::<19>(&[
                &self.amount.to_bytes(),
                &Date::optional_to_bcd(self.expiry),
                &self.datetime.to_bcd(),
                &self.auth_code.to_be_bytes(),
            ]),
        )
    }

    fn from_command(command: &Command) -> Result<Self> {
        let (purse, mut r) = parse_session_command(command, Self::INS, Some(0), 19)?;
        Ok(Self {
            purse,
            amount: Amount::from_bytes(r.array()?)?,
            expiry: Date::parse_optional(r.array()?)?,
            datetime: DateTime::from_bcd(r.array()?)?,
            auth_code: r.u32()?,
        })
    }
}

/// UNCONNECTED LOAD response: `BAL CONFIRM` (8 bytes), `CONFIRM` being `code8(CONFIRM MAC)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnconnectedLoadResponse {
    /// Balance after the load.
    pub balance: Amount,
    /// The confirmation code for the cardholder to report (below 100 000 000).
    pub confirm_code: u32,
}

impl UnconnectedLoadResponse {
    /// Wire size.
    pub const LEN: usize = 8;

    /// The 8 wire bytes.
    pub fn to_bytes(&self) -> [u8; 8] {
        fill(&[&self.balance.to_bytes(), &self.confirm_code.to_be_bytes()])
    }

    /// From the 8 wire bytes; a code of 9 digits or more is refused (`code8` is below 10^8).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "UNCONNECTED LOAD response")?;
        let balance = Amount::from_bytes(r.array()?)?;
        let confirm_code = r.u32()?;
        ensure(
            confirm_code < crate::mac::CODE8_MODULUS,
            "CONFIRM",
            confirm_code,
            "not an 8-digit code",
        )?;
        Ok(Self {
            balance,
            confirm_code,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// PIN (2.10)

/// VERIFY PIN `00 20 00 80 08 PINBLOCK`, or without data (`00 20 00 80`) to ask whether the PIN
/// is verified in this card session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPin {
    /// The PIN block; `None` asks for the verification state.
    pub pin: Option<PinBlock>,
}

impl ContractCommand for VerifyPin {
    const INS: Ins = Ins::VerifyPin;

    fn to_command(&self) -> Command {
        let command = Command::new(Self::INS).p2(0x80);
        match &self.pin {
            Some(pin) => command.fixed_data(*pin.as_bytes()),
            None => command,
        }
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?
            .p1p2(0x00, 0x80)?
            .le(None)?;
        match e.raw_data() {
            [] => Ok(Self { pin: None }),
            data => Ok(Self {
                pin: Some(PinBlock::parse(data)?),
            }),
        }
    }
}

/// CHANGE PIN `00 24 00 80 10 OLD NEW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePin {
    /// The current PIN.
    pub old: PinBlock,
    /// The new PIN.
    pub new: PinBlock,
}

impl ContractCommand for ChangePin {
    const INS: Ins = Ins::ChangePin;

    fn to_command(&self) -> Command {
        Command::new(Self::INS)
            .p2(0x80)
            .fixed_data(fill::<16>(&[self.old.as_bytes(), self.new.as_bytes()]))
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?
            .p1p2(0x00, 0x80)?
            .le(None)?;
        let mut r = e.data(16)?;
        Ok(Self {
            old: PinBlock::parse(r.bytes(8)?)?,
            new: PinBlock::parse(r.bytes(8)?)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Personalisation (2.13)

personalize_command!(
    /// PERSONALIZE (purse) `84 60 00 00 88 C(128) MAC_P(8)`; `C` encrypts the 124-byte
    /// [`crate::PursePersoData`] padded to 128.
    PersonalizePurse, cryptogram: 128
);

// ---------------------------------------------------------------------------------------------
// Issuer commands (2.11)

/// An issuer command: its data ends with `MAC_A = MAC(SK_ADMIN, CLA INS P1 P2 DATA)` over the
/// data without `MAC_A` (SPEC 1.9). Build it with any `MAC_A` (e.g. zeros), take
/// [`IssuerCommand::mac_input`], MAC it, then set the real `MAC_A`.
pub trait IssuerCommand: ContractCommand {
    /// The exact bytes `MAC_A` is computed over.
    fn mac_input(&self) -> Vec<u8> {
        let command = self.to_command();
        let data = command.data_bytes();
        let without_mac = data.get(..data.len().saturating_sub(8)).unwrap_or_default();
        admin_mac_input(
            command.cla_byte(),
            command.ins_byte(),
            command.p1_byte(),
            command.p2_byte(),
            without_mac,
        )
    }
}

/// APPLICATION BLOCK `84 1E 00 00 08 MAC_A`: lifecycle → BLOCKED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationBlock {
    /// `MAC_A`.
    pub mac_a: [u8; 8],
}

impl ContractCommand for ApplicationBlock {
    const INS: Ins = Ins::ApplicationBlock;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).fixed_data(self.mac_a)
    }

    fn from_command(command: &Command) -> Result<Self> {
        Ok(Self {
            mac_a: Expect::data_only(command, Self::INS, 8)?.array()?,
        })
    }
}

impl IssuerCommand for ApplicationBlock {}

/// What APPLICATION UNBLOCK re-enables (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnblockTarget {
    /// P1 `00`: lifecycle BLOCKED → ACTIVE.
    Card = 0x00,
    /// P1 `01`: unconnected-load attempts reset to `UC_LIMIT`.
    UnconnectedLoading = 0x01,
}

impl TryFrom<u8> for UnblockTarget {
    type Error = SpecError;

    fn try_from(p1: u8) -> Result<Self> {
        match p1 {
            0x00 => Ok(UnblockTarget::Card),
            0x01 => Ok(UnblockTarget::UnconnectedLoading),
            other => Err(SpecError::BadValue {
                field: "APPLICATION UNBLOCK P1",
                value: other.into(),
                reason: "not 00 or 01",
            }),
        }
    }
}

/// APPLICATION UNBLOCK `84 18 what 00 08 MAC_A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationUnblock {
    /// The card, or unconnected loading.
    pub target: UnblockTarget,
    /// `MAC_A`.
    pub mac_a: [u8; 8],
}

impl ContractCommand for ApplicationUnblock {
    const INS: Ins = Ins::ApplicationUnblock;

    fn to_command(&self) -> Command {
        Command::new(Self::INS)
            .p1(self.target as u8)
            .fixed_data(self.mac_a)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.p2(0)?.le(None)?;
        let target = e.p1_as(UnblockTarget::try_from)?;
        Ok(Self {
            target,
            mac_a: e.data(8)?.array()?,
        })
    }
}

impl IssuerCommand for ApplicationUnblock {}

/// PIN UNBLOCK `84 24 00 mode`: mode `00` resets the try counter (data `MAC_A`); mode `01` also
/// sets a new PIN (data `3DES_SK_ADMIN_ENC(PINBLOCK) MAC_A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinUnblock {
    /// The new PIN block encrypted under `SK_ADMIN_ENC`, or `None` for a reset only.
    pub encrypted_pin: Option<[u8; 8]>,
    /// `MAC_A`.
    pub mac_a: [u8; 8],
}

impl ContractCommand for PinUnblock {
    const INS: Ins = Ins::PinUnblock;

    fn to_command(&self) -> Command {
        match self.encrypted_pin {
            None => Command::new(Self::INS).fixed_data(self.mac_a),
            Some(enc) => Command::new(Self::INS)
                .p2(0x01)
                .fixed_data(fill::<16>(&[&enc, &self.mac_a])),
        }
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.le(None)?;
        match (command.p1_byte(), command.p2_byte()) {
            (0x00, 0x00) => Ok(Self {
                encrypted_pin: None,
                mac_a: e.data(8)?.array()?,
            }),
            (0x00, 0x01) => {
                let mut r = e.data(16)?;
                Ok(Self {
                    encrypted_pin: Some(r.array()?),
                    mac_a: r.array()?,
                })
            }
            (p1, p2) => Err(SpecError::BadP1P2 {
                command: Self::INS.name(),
                p1,
                p2,
            }),
        }
    }
}

impl IssuerCommand for PinUnblock {}

/// SET LIMITS `84 72 00 00 20 LIMITS(24) MAC_A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetLimits {
    /// The new limits.
    pub limits: Limits,
    /// `MAC_A`.
    pub mac_a: [u8; 8],
}

impl ContractCommand for SetLimits {
    const INS: Ins = Ins::SetLimits;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).fixed_data(fill::<32>(&[&self.limits.to_bytes(), &self.mac_a]))
    }

    fn from_command(command: &Command) -> Result<Self> {
        let mut r = Expect::data_only(command, Self::INS, 32)?;
        Ok(Self {
            limits: Limits::parse(r.bytes(Limits::LEN)?)?,
            mac_a: r.array()?,
        })
    }
}

impl IssuerCommand for SetLimits {}

// ---------------------------------------------------------------------------------------------
// GET STATUS (2.5)

/// One purse's block of GET STATUS (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PurseBlock {
    /// Balance.
    pub balance: Amount,
    /// Completed loads (connected and unconnected).
    pub load_counter: u16,
    /// Completed purchases.
    pub purchase_counter: u16,
    /// Maximum balance.
    pub max_balance: Amount,
    /// Maximum single transaction.
    pub max_amount: Amount,
    /// Food-Voucher expiry; `None` for e-Cash and a food purse never loaded.
    pub expiry: Option<Date>,
}

impl PurseBlock {
    /// Wire size.
    pub const LEN: usize = 20;

    fn write(&self) -> [u8; 20] {
        fill(&[
            &self.balance.to_bytes(),
            &self.load_counter.to_be_bytes(),
            &self.purchase_counter.to_be_bytes(),
            &self.max_balance.to_bytes(),
            &self.max_amount.to_bytes(),
            &Date::optional_to_bcd(self.expiry),
        ])
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            balance: Amount::from_bytes(r.array()?)?,
            load_counter: r.u16()?,
            purchase_counter: r.u16()?,
            max_balance: Amount::from_bytes(r.array()?)?,
            max_amount: Amount::from_bytes(r.array()?)?,
            expiry: Date::parse_optional(r.array()?)?,
        })
    }
}

/// The purse GET STATUS response (81 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurseStatus {
    /// Lifecycle state.
    pub lifecycle: Lifecycle,
    /// Key version (0 while BLANK).
    pub key_version: u8,
    /// PIN tries remaining (0 = PIN blocked).
    pub pin_tries_left: u8,
    /// PIN try limit.
    pub pin_try_limit: u8,
    /// Unconnected-load attempts remaining (0 = unconnected loading disabled).
    pub uc_attempts_left: u8,
    /// Unconnected-load attempt limit (`UC_LIMIT`).
    pub uc_limit: u8,
    /// Admin counter.
    pub admin_counter: u16,
    /// Purchases above this need the PIN.
    pub no_pin_limit: Amount,
    /// `UC_MAX`.
    pub uc_max: Amount,
    /// The e-Cash purse.
    pub ecash: PurseBlock,
    /// The Food-Voucher purse.
    pub food: PurseBlock,
    /// The food purse's merchant categories.
    pub food_mccs: MccAllowlist,
    /// The card serial (zero while BLANK).
    pub serial: Serial,
}

impl PurseStatus {
    /// Wire size.
    pub const LEN: usize = 81;

    /// One purse's block.
    pub fn purse(&self, purse: Purse) -> &PurseBlock {
        match purse {
            Purse::Ecash => &self.ecash,
            Purse::Food => &self.food,
        }
    }

    /// The 81 wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        concat(&[
            &[
                self.lifecycle.code(),
                self.key_version,
                self.pin_tries_left,
                self.pin_try_limit,
                self.uc_attempts_left,
                self.uc_limit,
            ],
            &self.admin_counter.to_be_bytes(),
            &self.no_pin_limit.to_bytes(),
            &self.uc_max.to_bytes(),
            &self.ecash.write(),
            &self.food.write(),
            &self.food_mccs.to_bytes(),
            &self.serial.0,
        ])
    }

    /// From the 81 wire bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "purse GET STATUS response")?;
        Ok(Self {
            lifecycle: Lifecycle::try_from(r.u8()?)?,
            key_version: r.u8()?,
            pin_tries_left: r.u8()?,
            pin_try_limit: r.u8()?,
            uc_attempts_left: r.u8()?,
            uc_limit: r.u8()?,
            admin_counter: r.u16()?,
            no_pin_limit: Amount::from_bytes(r.array()?)?,
            uc_max: Amount::from_bytes(r.array()?)?,
            ecash: PurseBlock::read(&mut r)?,
            food: PurseBlock::read(&mut r)?,
            food_mccs: MccAllowlist::parse(r.bytes(MccAllowlist::LEN)?)?,
            serial: Serial(r.array()?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Any purse command

applet_commands!(
    /// Any command of the purse applet, recognised by its `(CLA, INS)`.
    PurseCommand, "purse applet", {
        Select(Select),
        GetStatus(GetStatus),
        ReadLog(ReadLog),
        InitializeLoad(InitializeLoad),
        CreditLoad(CreditLoad),
        InitializePurchase(InitializePurchase),
        DebitPurchase(DebitPurchase),
        GetTransactionProof(GetTransactionProof),
        UnconnectedLoad(UnconnectedLoad),
        VerifyPin(VerifyPin),
        ChangePin(ChangePin),
        GetChallenge(GetChallenge),
        Personalize(PersonalizePurse),
        ApplicationBlock(ApplicationBlock),
        ApplicationUnblock(ApplicationUnblock),
        PinUnblock(PinUnblock),
        SetLimits(SetLimits),
    }
);

/// A parsed purse response body, chosen by the command it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum PurseResponse {
    /// Commands without response data (VERIFY PIN, issuer commands, PERSONALIZE).
    Empty,
    Fci(crate::Fci),
    Status(PurseStatus),
    LogEntry(LogEntry),
    InitLoad(InitLoadResponse),
    CreditLoad(CreditLoadResponse),
    InitPurchase(InitPurchaseResponse),
    DebitPurchase(DebitPurchaseResponse),
    Proof(TransactionProof),
    UnconnectedLoad(UnconnectedLoadResponse),
    Challenge(crate::Challenge),
}

impl PurseResponse {
    /// Parses the response data of `command` (call only for `9000`, or `6283` after SELECT).
    pub fn parse(command: &PurseCommand, data: &[u8]) -> Result<Self> {
        Ok(match command {
            PurseCommand::Select(_) => Self::Fci(crate::Fci::parse(data)?),
            PurseCommand::GetStatus(_) => Self::Status(PurseStatus::parse(data)?),
            PurseCommand::ReadLog(_) => Self::LogEntry(LogEntry::parse(data)?),
            PurseCommand::InitializeLoad(_) => Self::InitLoad(InitLoadResponse::parse(data)?),
            PurseCommand::CreditLoad(_) => Self::CreditLoad(CreditLoadResponse::parse(data)?),
            PurseCommand::InitializePurchase(_) => {
                Self::InitPurchase(InitPurchaseResponse::parse(data)?)
            }
            PurseCommand::DebitPurchase(_) => {
                Self::DebitPurchase(DebitPurchaseResponse::parse(data)?)
            }
            PurseCommand::GetTransactionProof(_) => Self::Proof(TransactionProof::parse(data)?),
            PurseCommand::UnconnectedLoad(_) => {
                Self::UnconnectedLoad(UnconnectedLoadResponse::parse(data)?)
            }
            PurseCommand::GetChallenge(_) => Self::Challenge(crate::Challenge::parse(data)?),
            PurseCommand::VerifyPin(_)
            | PurseCommand::ChangePin(_)
            | PurseCommand::Personalize(_)
            | PurseCommand::ApplicationBlock(_)
            | PurseCommand::ApplicationUnblock(_)
            | PurseCommand::PinUnblock(_)
            | PurseCommand::SetLimits(_) => {
                check_no_data(data)?;
                Self::Empty
            }
        })
    }

    /// The response data bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Empty => Vec::new(),
            Self::Fci(r) => r.to_bytes(),
            Self::Status(r) => r.to_bytes(),
            Self::LogEntry(r) => r.to_bytes(),
            Self::InitLoad(r) => r.to_bytes().to_vec(),
            Self::CreditLoad(r) => r.to_bytes().to_vec(),
            Self::InitPurchase(r) => r.to_bytes().to_vec(),
            Self::DebitPurchase(r) => r.to_bytes().to_vec(),
            Self::Proof(r) => r.to_bytes(),
            Self::UnconnectedLoad(r) => r.to_bytes().to_vec(),
            Self::Challenge(r) => r.to_bytes().to_vec(),
        }
    }
}
