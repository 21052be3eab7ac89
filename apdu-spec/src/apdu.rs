//! ISO/IEC 7816-4 short APDU framing: [`Command`] (cases 1–4), [`Response`] (`data || SW`),
//! the contract's instructions ([`Ins`]) and the [`ContractCommand`] trait every typed command
//! implements. Also GET RESPONSE for the transport layer's `61xx` handling.

use core::fmt;

use crate::bytes::Reader;
use crate::error::{Result, SpecError};
use crate::status::StatusWord;
use crate::values::Applet;

/// CLA `00`: ISO inter-industry commands (SELECT, VERIFY, GET CHALLENGE, ...).
pub const CLA_ISO: u8 = 0x00;
/// CLA `80`: proprietary commands.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// CLA `84`: proprietary commands carrying a MAC (issuer commands, PERSONALIZE).
pub const CLA_SECURED: u8 = 0x84;

/// Most data bytes a short command APDU carries.
pub const MAX_SHORT_DATA: usize = 255;

/// Every instruction of the contract, identified by its `(CLA, INS)` pair — INS bytes alone are
/// reused (`84` is GET CHALLENGE under CLA `00` and FINISH BATCH under CLA `80`; `24` is
/// CHANGE PIN and PIN UNBLOCK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ins {
    /// `00 A4` SELECT by AID (both applets).
    Select,
    /// `80 5E` GET STATUS (both applets).
    GetStatus,
    /// `80 5C` READ LOG.
    ReadLog,
    /// `80 50` INITIALIZE LOAD.
    InitializeLoad,
    /// `80 52` CREDIT LOAD.
    CreditLoad,
    /// `80 54` INITIALIZE PURCHASE.
    InitializePurchase,
    /// `80 56` DEBIT PURCHASE.
    DebitPurchase,
    /// `80 5A` GET TRANSACTION PROOF.
    GetTransactionProof,
    /// `80 58` UNCONNECTED LOAD.
    UnconnectedLoad,
    /// `00 20` VERIFY PIN.
    VerifyPin,
    /// `00 24` CHANGE PIN.
    ChangePin,
    /// `00 84` GET CHALLENGE (both applets).
    GetChallenge,
    /// `84 60` PERSONALIZE (both applets).
    Personalize,
    /// `84 1E` APPLICATION BLOCK.
    ApplicationBlock,
    /// `84 18` APPLICATION UNBLOCK.
    ApplicationUnblock,
    /// `84 24` PIN UNBLOCK.
    PinUnblock,
    /// `84 72` SET LIMITS.
    SetLimits,
    /// `80 82` WRITE BATCH.
    WriteBatch,
    /// `80 84` FINISH BATCH.
    FinishBatch,
    /// `80 86` READ BATCH.
    ReadBatch,
    /// `80 88` CLEAR BATCH.
    ClearBatch,
    /// `80 8A` READ ACK.
    ReadAck,
    /// `00 C0` GET RESPONSE (transport layer, T=0).
    GetResponse,
}

impl Ins {
    /// Every instruction.
    pub const ALL: &'static [Ins] = &[
        Ins::Select,
        Ins::GetStatus,
        Ins::ReadLog,
        Ins::InitializeLoad,
        Ins::CreditLoad,
        Ins::InitializePurchase,
        Ins::DebitPurchase,
        Ins::GetTransactionProof,
        Ins::UnconnectedLoad,
        Ins::VerifyPin,
        Ins::ChangePin,
        Ins::GetChallenge,
        Ins::Personalize,
        Ins::ApplicationBlock,
        Ins::ApplicationUnblock,
        Ins::PinUnblock,
        Ins::SetLimits,
        Ins::WriteBatch,
        Ins::FinishBatch,
        Ins::ReadBatch,
        Ins::ClearBatch,
        Ins::ReadAck,
        Ins::GetResponse,
    ];

    /// `(CLA, INS)` bytes.
    pub fn header(self) -> (u8, u8) {
        match self {
            Ins::Select => (CLA_ISO, 0xA4),
            Ins::GetStatus => (CLA_PROPRIETARY, 0x5E),
            Ins::ReadLog => (CLA_PROPRIETARY, 0x5C),
            Ins::InitializeLoad => (CLA_PROPRIETARY, 0x50),
            Ins::CreditLoad => (CLA_PROPRIETARY, 0x52),
            Ins::InitializePurchase => (CLA_PROPRIETARY, 0x54),
            Ins::DebitPurchase => (CLA_PROPRIETARY, 0x56),
            Ins::GetTransactionProof => (CLA_PROPRIETARY, 0x5A),
            Ins::UnconnectedLoad => (CLA_PROPRIETARY, 0x58),
            Ins::VerifyPin => (CLA_ISO, 0x20),
            Ins::ChangePin => (CLA_ISO, 0x24),
            Ins::GetChallenge => (CLA_ISO, 0x84),
            Ins::Personalize => (CLA_SECURED, 0x60),
            Ins::ApplicationBlock => (CLA_SECURED, 0x1E),
            Ins::ApplicationUnblock => (CLA_SECURED, 0x18),
            Ins::PinUnblock => (CLA_SECURED, 0x24),
            Ins::SetLimits => (CLA_SECURED, 0x72),
            Ins::WriteBatch => (CLA_PROPRIETARY, 0x82),
            Ins::FinishBatch => (CLA_PROPRIETARY, 0x84),
            Ins::ReadBatch => (CLA_PROPRIETARY, 0x86),
            Ins::ClearBatch => (CLA_PROPRIETARY, 0x88),
            Ins::ReadAck => (CLA_PROPRIETARY, 0x8A),
            Ins::GetResponse => (CLA_ISO, 0xC0),
        }
    }

    /// The CLA byte.
    pub fn cla(self) -> u8 {
        self.header().0
    }

    /// The INS byte.
    pub fn code(self) -> u8 {
        self.header().1
    }

    /// The instruction of a `(CLA, INS)` pair, if the contract has one.
    pub fn from_header(cla: u8, ins: u8) -> Option<Ins> {
        Ins::ALL.iter().copied().find(|i| i.header() == (cla, ins))
    }

    /// Whether `applet` implements this instruction (GET RESPONSE belongs to the transport).
    pub fn is_for(self, applet: Applet) -> bool {
        match self {
            Ins::Select
            | Ins::GetStatus
            | Ins::GetChallenge
            | Ins::Personalize
            | Ins::GetResponse => true,
            Ins::WriteBatch
            | Ins::FinishBatch
            | Ins::ReadBatch
            | Ins::ClearBatch
            | Ins::ReadAck => applet == Applet::Transfer,
            _ => applet == Applet::Purse,
        }
    }

    /// The SPEC's command name.
    pub fn name(self) -> &'static str {
        match self {
            Ins::Select => "SELECT",
            Ins::GetStatus => "GET STATUS",
            Ins::ReadLog => "READ LOG",
            Ins::InitializeLoad => "INITIALIZE LOAD",
            Ins::CreditLoad => "CREDIT LOAD",
            Ins::InitializePurchase => "INITIALIZE PURCHASE",
            Ins::DebitPurchase => "DEBIT PURCHASE",
            Ins::GetTransactionProof => "GET TRANSACTION PROOF",
            Ins::UnconnectedLoad => "UNCONNECTED LOAD",
            Ins::VerifyPin => "VERIFY PIN",
            Ins::ChangePin => "CHANGE PIN",
            Ins::GetChallenge => "GET CHALLENGE",
            Ins::Personalize => "PERSONALIZE",
            Ins::ApplicationBlock => "APPLICATION BLOCK",
            Ins::ApplicationUnblock => "APPLICATION UNBLOCK",
            Ins::PinUnblock => "PIN UNBLOCK",
            Ins::SetLimits => "SET LIMITS",
            Ins::WriteBatch => "WRITE BATCH",
            Ins::FinishBatch => "FINISH BATCH",
            Ins::ReadBatch => "READ BATCH",
            Ins::ClearBatch => "CLEAR BATCH",
            Ins::ReadAck => "READ ACK",
            Ins::GetResponse => "GET RESPONSE",
        }
    }

    /// Whether the command data carries a cleartext PIN block (redacted in traces).
    pub fn carries_pin(self) -> bool {
        matches!(self, Ins::VerifyPin | Ins::ChangePin)
    }
}

/// A short command APDU: `CLA INS P1 P2 [Lc data] [Le]`.
///
/// Built with [`Command::new`] (or [`Command::raw`]) and the chained setters; the data setter
/// refuses more than 255 bytes, so [`Command::to_bytes`] always produces a valid short APDU.
/// `Debug` redacts the data of VERIFY PIN and CHANGE PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    le: Option<u8>,
}

impl Command {
    /// A command for a contract instruction (CLA and INS from [`Ins`]), P1 = P2 = `00`, no data,
    /// no Le.
    pub fn new(ins: Ins) -> Self {
        let (cla, code) = ins.header();
        Self::raw(cla, code, 0, 0)
    }

    /// A command from arbitrary header bytes (tests of refusals, other applets).
    pub fn raw(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets CLA.
    pub fn cla(mut self, cla: u8) -> Self {
        self.cla = cla;
        self
    }

    /// Sets P1.
    pub fn p1(mut self, p1: u8) -> Self {
        self.p1 = p1;
        self
    }

    /// Sets P2.
    pub fn p2(mut self, p2: u8) -> Self {
        self.p2 = p2;
        self
    }

    /// Sets P1 P2 from a big-endian `u16` (transfer-card offsets).
    pub fn p1p2(self, p1p2: u16) -> Self {
        let [p1, p2] = p1p2.to_be_bytes();
        self.p1(p1).p2(p2)
    }

    /// Sets the command data; at most 255 bytes (empty means "no data").
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Result<Self> {
        let data = data.into();
        if data.len() > MAX_SHORT_DATA {
            return Err(SpecError::DataTooLong { got: data.len() });
        }
        self.data = data;
        Ok(self)
    }

    /// Sets data whose size is known at compile time to fit (`N ≤ 255`).
    pub(crate) fn fixed_data<const N: usize>(mut self, data: [u8; N]) -> Self {
        let () = AssertShort::<N>::OK;
        self.data = data.to_vec();
        self
    }

    /// Sets the raw Le byte (`00` means up to 256 bytes).
    pub fn le(mut self, le: u8) -> Self {
        self.le = Some(le);
        self
    }

    /// Removes Le.
    pub fn without_le(mut self) -> Self {
        self.le = None;
        self
    }

    /// CLA byte.
    pub fn cla_byte(&self) -> u8 {
        self.cla
    }

    /// INS byte.
    pub fn ins_byte(&self) -> u8 {
        self.ins
    }

    /// The contract instruction of this command, if any.
    pub fn instruction(&self) -> Option<Ins> {
        Ins::from_header(self.cla, self.ins)
    }

    /// P1.
    pub fn p1_byte(&self) -> u8 {
        self.p1
    }

    /// P2.
    pub fn p2_byte(&self) -> u8 {
        self.p2
    }

    /// P1 P2 as a big-endian `u16`.
    pub fn p1p2_value(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }

    /// Command data (empty if none).
    pub fn data_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The raw Le byte, if present.
    pub fn le_byte(&self) -> Option<u8> {
        self.le
    }

    /// Response bytes asked for: Le, with `00` meaning 256.
    pub fn expected_len(&self) -> Option<usize> {
        self.le
            .map(|le| if le == 0 { 256 } else { usize::from(le) })
    }

    /// The ISO 7816-4 case: 1 (header), 2 (Le), 3 (data), 4 (data and Le).
    pub fn case(&self) -> u8 {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        }
    }

    /// The APDU bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.data.len());
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            // The setters keep data at 255 bytes or fewer.
            out.push(self.data.len().min(MAX_SHORT_DATA) as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        out
    }

    /// Parses a short command APDU (cases 1–4).
    ///
    /// Refuses fewer than 4 bytes, an Lc that does not match the body, and extended-length
    /// encodings (an Lc byte `00` followed by more bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::at_least(bytes, 4, "command APDU")?;
        let [cla, ins, p1, p2] = r.array()?;
        let body = r.rest();
        let (data, le) = match body {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(*le)),
            [0, ..] => return Err(SpecError::ExtendedLength),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len() {
                    n if n == lc => (rest.to_vec(), None),
                    n if n == lc + 1 => {
                        let (data, le) = rest.split_at(lc);
                        (data.to_vec(), le.first().copied())
                    }
                    n => return Err(SpecError::LcMismatch { lc, body: n }),
                }
            }
        };
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        })
    }
}

/// Compile-time check that a fixed data size fits a short APDU.
struct AssertShort<const N: usize>;

impl<const N: usize> AssertShort<N> {
    const OK: () = assert!(
        N >= 1 && N <= MAX_SHORT_DATA,
        "short APDU data is 1..=255 bytes"
    );
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}",
            self.cla, self.ins, self.p1, self.p2
        )?;
        if !self.data.is_empty() {
            write!(f, " Lc={:02X} ", self.data.len())?;
            if self.instruction().is_some_and(Ins::carries_pin) {
                f.write_str("<redacted>")?;
            } else {
                for b in &self.data {
                    write!(f, "{b:02X}")?;
                }
            }
        }
        if let Some(le) = self.le {
            write!(f, " Le={le:02X}")?;
        }
        f.write_str(")")
    }
}

/// A response APDU: `data || SW1 SW2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// The status word.
    pub sw: StatusWord,
}

impl Response {
    /// Splits raw response bytes (at least the 2 SW bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: StatusWord::from_bytes(*sw1, *sw2),
            }),
            _ => Err(SpecError::TooShort {
                what: "response APDU",
                expected: 2,
                got: bytes.len(),
            }),
        }
    }

    /// `data || SW`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// The data when the SW is `9000`; otherwise the status word itself, unchanged.
    pub fn success_data(&self) -> core::result::Result<&[u8], StatusWord> {
        if self.sw.is_success() {
            Ok(&self.data)
        } else {
            Err(self.sw)
        }
    }
}

/// A command of the contract with a typed form: built from its fields with
/// [`ContractCommand::to_command`], recovered from an APDU with
/// [`ContractCommand::from_command`]; the two are exact inverses on valid APDUs.
pub trait ContractCommand: Sized {
    /// The instruction this type encodes.
    const INS: Ins;

    /// The APDU.
    fn to_command(&self) -> Command;

    /// The typed command from an APDU, checking CLA/INS, P1/P2, data layout and Le.
    fn from_command(command: &Command) -> Result<Self>;

    /// The APDU bytes.
    fn to_bytes(&self) -> Vec<u8> {
        self.to_command().to_bytes()
    }

    /// Parses APDU bytes directly.
    fn parse(bytes: &[u8]) -> Result<Self> {
        Self::from_command(&Command::parse(bytes)?)
    }
}

/// Shared checks for `from_command` implementations.
pub(crate) struct Expect<'a> {
    command: &'a Command,
    ins: Ins,
}

impl<'a> Expect<'a> {
    /// Checks CLA and INS.
    pub(crate) fn new(command: &'a Command, ins: Ins) -> Result<Self> {
        if (command.cla, command.ins) != ins.header() {
            return Err(SpecError::WrongCommand {
                command: ins.name(),
                cla: command.cla,
                ins: command.ins,
            });
        }
        Ok(Self { command, ins })
    }

    /// A command with P1 = P2 = `00`, no Le and exactly `len` data bytes (case 3): a reader
    /// over the data.
    pub(crate) fn data_only(command: &'a Command, ins: Ins, len: usize) -> Result<Reader<'a>> {
        Self::new(command, ins)?.p1p2(0, 0)?.le(None)?.data(len)
    }

    /// A command with P1 = P2 = `00`, no data and Le exactly `le` (case 2).
    pub(crate) fn le_only(command: &Command, ins: Ins, le: u8) -> Result<()> {
        Expect::new(command, ins)?
            .p1p2(0, 0)?
            .le(Some(le))?
            .data(0)
            .map(drop)
    }

    fn bad_p1p2(&self) -> SpecError {
        SpecError::BadP1P2 {
            command: self.ins.name(),
            p1: self.command.p1,
            p2: self.command.p2,
        }
    }

    /// Requires exactly these P1 and P2.
    pub(crate) fn p1p2(self, p1: u8, p2: u8) -> Result<Self> {
        if (self.command.p1, self.command.p2) != (p1, p2) {
            return Err(self.bad_p1p2());
        }
        Ok(self)
    }

    /// Requires this P2 (P1 is checked by the caller).
    pub(crate) fn p2(self, p2: u8) -> Result<Self> {
        if self.command.p2 != p2 {
            return Err(self.bad_p1p2());
        }
        Ok(self)
    }

    /// P1 converted by `f`; a conversion failure is reported as a P1/P2 error.
    pub(crate) fn p1_as<T>(&self, f: impl FnOnce(u8) -> Result<T>) -> Result<T> {
        f(self.command.p1).map_err(|_| self.bad_p1p2())
    }

    /// P2 converted by `f`; a conversion failure is reported as a P1/P2 error.
    pub(crate) fn p2_as<T>(&self, f: impl FnOnce(u8) -> Result<T>) -> Result<T> {
        f(self.command.p2).map_err(|_| self.bad_p1p2())
    }

    /// Requires Le to be exactly `le` (`None`: absent).
    pub(crate) fn le(self, le: Option<u8>) -> Result<Self> {
        if self.command.le != le {
            return Err(SpecError::BadLe {
                command: self.ins.name(),
                got: self.command.le,
            });
        }
        Ok(self)
    }

    /// Requires exactly `len` data bytes and returns a reader over them.
    pub(crate) fn data(&self, len: usize) -> Result<Reader<'a>> {
        Reader::exact(&self.command.data, len, self.ins.name())
    }

    /// The data bytes, any length.
    pub(crate) fn raw_data(&self) -> &'a [u8] {
        &self.command.data
    }
}

/// GET RESPONSE `00 C0 00 00 xx`: fetches `xx` bytes announced by `61xx` (`00` = 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetResponse {
    /// The Le byte (SW2 of the `61xx`).
    pub le: u8,
}

impl ContractCommand for GetResponse {
    const INS: Ins = Ins::GetResponse;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).le(self.le)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?.p1p2(0, 0)?;
        e.data(0)?;
        match command.le {
            Some(le) => Ok(Self { le }),
            None => Err(SpecError::BadLe {
                command: Self::INS.name(),
                got: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_pairs_are_unique() {
        for (i, a) in Ins::ALL.iter().enumerate() {
            assert_eq!(Ins::from_header(a.cla(), a.code()), Some(*a));
            assert!(Ins::ALL
                .iter()
                .skip(i + 1)
                .all(|b| b.header() != a.header()));
        }
        assert_eq!(Ins::from_header(0x00, 0x84), Some(Ins::GetChallenge));
        assert_eq!(Ins::from_header(0x80, 0x84), Some(Ins::FinishBatch));
        assert_eq!(Ins::from_header(0x80, 0x00), None);
        assert!(Ins::ReadBatch.is_for(Applet::Transfer) && !Ins::ReadBatch.is_for(Applet::Purse));
        assert!(Ins::ReadLog.is_for(Applet::Purse) && !Ins::ReadLog.is_for(Applet::Transfer));
    }

    #[test]
    fn four_cases_round_trip() {
        let case1 = Command::raw(0x80, 0x5E, 0, 0);
        assert_eq!(case1.to_bytes(), [0x80, 0x5E, 0, 0]);
        assert_eq!(case1.case(), 1);
        let case2 = Command::new(Ins::GetStatus).le(0);
        assert_eq!(case2.to_bytes(), [0x80, 0x5E, 0, 0, 0]);
        assert_eq!(case2.case(), 2);
        assert_eq!(case2.expected_len(), Some(256));
        let case3 = Command::new(Ins::FinishBatch).data([0x01, 0x00]).unwrap();
        assert_eq!(case3.to_bytes(), [0x80, 0x84, 0, 0, 2, 1, 0]);
        assert_eq!(case3.case(), 3);
        let case4 = Command::new(Ins::GetTransactionProof)
            .p1(1)
            .p2(2)
            .data([0, 5])
            .unwrap()
            .le(0);
        assert_eq!(case4.to_bytes(), [0x80, 0x5A, 1, 2, 2, 0, 5, 0]);
        assert_eq!(case4.case(), 4);
        for c in [case1, case2, case3, case4] {
            assert_eq!(Command::parse(&c.to_bytes()).unwrap(), c);
        }
        let max = Command::new(Ins::WriteBatch)
            .data(vec![0xAA; 255])
            .unwrap()
            .le(0);
        assert_eq!(Command::parse(&max.to_bytes()).unwrap(), max);
    }

    #[test]
    fn malformed_commands() {
        assert_eq!(
            Command::parse(&[0x80, 0x5E, 0]),
            Err(SpecError::TooShort {
                what: "command APDU",
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            Command::parse(&[]).unwrap_err(),
            SpecError::TooShort {
                what: "command APDU",
                expected: 4,
                got: 0
            }
        );
        assert_eq!(
            Command::parse(&[0x80, 0x84, 0, 0, 3, 1, 0]),
            Err(SpecError::LcMismatch { lc: 3, body: 2 })
        );
        assert_eq!(
            Command::parse(&[0x80, 0x84, 0, 0, 1, 1, 0, 0]),
            Err(SpecError::LcMismatch { lc: 1, body: 3 })
        );
        assert_eq!(
            Command::parse(&[0x80, 0x84, 0, 0, 0, 0, 2, 1, 0]),
            Err(SpecError::ExtendedLength)
        );
        assert_eq!(
            Command::parse(&[0x80, 0x84, 0, 0, 0, 0, 0]),
            Err(SpecError::ExtendedLength)
        );
        assert_eq!(
            Command::new(Ins::WriteBatch).data(vec![0; 256]),
            Err(SpecError::DataTooLong { got: 256 })
        );
    }

    #[test]
    fn debug_redacts_pins() {
        let verify = Command::new(Ins::VerifyPin)
            .p2(0x80)
            .data([0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .unwrap();
        let text = format!("{verify:?}");
        assert!(
            text.contains("<redacted>") && !text.contains("1234"),
            "{text}"
        );
        let other = Command::new(Ins::FinishBatch).data([0x12, 0x34]).unwrap();
        assert!(format!("{other:?}").contains("1234"));
    }

    #[test]
    fn responses() {
        let r = Response::parse(&[0x01, 0x02, 0x90, 0x00]).unwrap();
        assert_eq!(r.data, [1, 2]);
        assert_eq!(r.sw, StatusWord::Ok);
        assert_eq!(r.to_bytes(), [1, 2, 0x90, 0x00]);
        assert_eq!(r.success_data(), Ok(&[1u8, 2][..]));
        let e = Response::parse(&[0x69, 0x85]).unwrap();
        assert!(e.data.is_empty());
        assert_eq!(e.success_data(), Err(StatusWord::ConditionsNotSatisfied));
        assert!(Response::parse(&[0x90]).is_err());
        assert!(Response::parse(&[]).is_err());
    }

    #[test]
    fn get_response() {
        let g = GetResponse { le: 0x14 };
        assert_eq!(g.to_bytes(), [0x00, 0xC0, 0x00, 0x00, 0x14]);
        assert_eq!(
            GetResponse::parse(&[0x00, 0xC0, 0x00, 0x00, 0x14]).unwrap(),
            g
        );
        assert!(GetResponse::parse(&[0x00, 0xC0, 0x00, 0x00]).is_err());
        assert!(GetResponse::parse(&[0x00, 0xC0, 0x01, 0x00, 0x14]).is_err());
        assert!(GetResponse::parse(&[0x80, 0xC0, 0x00, 0x00, 0x14]).is_err());
    }
}
