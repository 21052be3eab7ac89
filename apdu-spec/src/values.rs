//! Domain values of the contract (SPEC.md "Conventions", 1.2, 2.1, 2.2, 2.10, 2.11, 3):
//! purses, transaction types, amounts, identifiers, lifecycle and batch states, AIDs, PIN blocks,
//! limits and raw key bytes.

use core::fmt;
use core::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bytes::{hex_upper, parse_hex_array, Reader};
use crate::error::{ensure, Result, SpecError};

macro_rules! byte_enum {
    ($(#[$meta:meta])* $name:ident, $err:ident, { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire byte.
            pub fn code(self) -> u8 {
                self as u8
            }
        }

        impl TryFrom<u8> for $name {
            type Error = SpecError;

            fn try_from(code: u8) -> Result<Self> {
                match code {
                    $($value => Ok($name::$variant),)+
                    other => Err(SpecError::$err(other)),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value as u8
            }
        }
    };
}

byte_enum!(
    /// `PURSE` (P): which of the card's two purses.
    Purse, UnknownPurse, {
        /// `01`: e-Cash, spendable anywhere.
        Ecash = 0x01,
        /// `02`: Food-Voucher, food merchants only, until its expiry date.
        Food = 0x02,
    }
);

byte_enum!(
    /// `TT`, the transaction type byte of session-key diversifiers (SPEC 1.3).
    TxType, UnknownTxType, {
        /// `01`: load.
        Load = 0x01,
        /// `02`: purchase.
        Purchase = 0x02,
        /// `03`: issuer (admin) command MAC.
        Issuer = 0x03,
        /// `04`: unconnected load.
        UnconnectedLoad = 0x04,
        /// `05`: personalisation MAC.
        PersoMac = 0x05,
        /// `06`: personalisation encryption.
        PersoEnc = 0x06,
        /// `07`: issuer (admin) encryption.
        AdminEnc = 0x07,
    }
);

byte_enum!(
    /// The `TT` of a transaction record (SPEC 1.5) and of GET TRANSACTION PROOF's P2: the three
    /// transaction types that move value.
    RecordType, UnknownTxType, {
        /// `01`: load (connected).
        Load = 0x01,
        /// `02`: purchase.
        Purchase = 0x02,
        /// `04`: unconnected load.
        UnconnectedLoad = 0x04,
    }
);

impl From<RecordType> for TxType {
    fn from(value: RecordType) -> TxType {
        match value {
            RecordType::Load => TxType::Load,
            RecordType::Purchase => TxType::Purchase,
            RecordType::UnconnectedLoad => TxType::UnconnectedLoad,
        }
    }
}

byte_enum!(
    /// Lifecycle state of a purse or transfer card (SPEC 2.2, 3).
    Lifecycle, UnknownLifecycle, {
        /// `01`: installed, awaiting personalisation under the transport key.
        Blank = 0x01,
        /// `02`: personalised, in service.
        Active = 0x02,
        /// `03`: blocked by the issuer (purse only); value stays on the card.
        Blocked = 0x03,
    }
);

byte_enum!(
    /// State of the transfer card's batch (SPEC 3).
    BatchState, UnknownBatchState, {
        /// `00`: no batch.
        Empty = 0x00,
        /// `01`: a batch is being written.
        Writing = 0x01,
        /// `02`: a complete batch is held.
        Sealed = 0x02,
        /// `03`: batch dropped, acknowledgement kept for the POS.
        Acked = 0x03,
    }
);

/// An amount in minor units (paise for INR), at most `0x7FFFFFFF` so that
/// `balance + amount` never overflows 32 bits. Balances and limits are amounts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u32);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// The contract maximum, `0x7FFFFFFF`.
    pub const MAX: Amount = Amount(0x7FFF_FFFF);

    /// An amount, refused above `0x7FFFFFFF`.
    pub fn new(minor_units: u32) -> Result<Self> {
        if minor_units > Self::MAX.0 {
            return Err(SpecError::AmountTooLarge(minor_units));
        }
        Ok(Self(minor_units))
    }

    /// The value in minor units.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The 4 wire bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// From the 4 wire bytes.
    pub fn from_bytes(bytes: [u8; 4]) -> Result<Self> {
        Self::new(u32::from_be_bytes(bytes))
    }

    /// Sum, `None` above the contract maximum.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Self::new(self.0.checked_add(other.0)?).ok()
    }

    /// Difference, `None` below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

impl TryFrom<u32> for Amount {
    type Error = SpecError;

    fn try_from(minor_units: u32) -> Result<Self> {
        Self::new(minor_units)
    }
}

impl From<Amount> for u32 {
    fn from(amount: Amount) -> u32 {
        amount.0
    }
}

impl fmt::Display for Amount {
    /// Minor units; formatting as `12.50` belongs to the edge (CLI, API).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Wire size.
            pub const LEN: usize = $len;

            /// The wire bytes.
            pub fn to_bytes(&self) -> [u8; $len] {
                self.0
            }

            /// From a slice of exactly the wire size.
            pub fn parse(bytes: &[u8]) -> Result<Self> {
                Ok(Self(Reader::exact(bytes, $len, $what)?.array()?))
            }

            /// Whether every byte is zero (e.g. the serial of a BLANK card).
            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|&b| b == 0)
            }
        }

        impl fmt::Display for $name {
            /// Upper-case hex.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                hex_upper(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = SpecError;

            /// Hex, exactly twice the wire size in digits.
            fn from_str(s: &str) -> Result<Self> {
                parse_hex_array(s, $what).map(Self)
            }
        }
    };
}

id_type!(
    /// A card's 8-byte serial number (`SERIAL` of a purse card, `XSERIAL` of a transfer card).
    Serial, 8, "SERIAL"
);
id_type!(
    /// A SAM's 6-byte identifier.
    SamId, 6, "SAM_ID"
);
id_type!(
    /// A load terminal's (teller station's) 6-byte identifier.
    TerminalId, 6, "TERMINAL"
);

/// Which applet an AID names (SPEC 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Applet {
    /// Purse applet, AID `F0 45 50 55 52 53 45 01`.
    Purse,
    /// Transfer applet, AID `F0 45 50 55 52 53 45 02`.
    Transfer,
}

/// Package AID: `F0` then ASCII "EPURSE".
pub const PACKAGE_AID: [u8; 7] = [0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45];
/// Purse applet AID.
pub const PURSE_AID: [u8; 8] = [0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45, 0x01];
/// Transfer applet AID.
pub const TRANSFER_AID: [u8; 8] = [0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45, 0x02];

impl Applet {
    /// The applet's 8-byte AID.
    pub fn aid(self) -> [u8; 8] {
        match self {
            Applet::Purse => PURSE_AID,
            Applet::Transfer => TRANSFER_AID,
        }
    }

    /// The applet an AID names.
    pub fn from_aid(aid: &[u8]) -> Result<Self> {
        if aid == PURSE_AID {
            Ok(Applet::Purse)
        } else if aid == TRANSFER_AID {
            Ok(Applet::Transfer)
        } else {
            Err(SpecError::UnknownAid(aid.to_vec()))
        }
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Applet::Purse => "purse applet",
            Applet::Transfer => "transfer applet",
        }
    }
}

/// The purse FCI's capability byte (tag `C4`, SPEC 2.3). Unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u8);

impl Capabilities {
    /// Bit 0: e-Cash purse.
    pub const ECASH: u8 = 0x01;
    /// Bit 1: Food-Voucher purse.
    pub const FOOD: u8 = 0x02;
    /// Bit 2: unconnected loading available.
    pub const UNCONNECTED: u8 = 0x04;
    /// Bit 3: cardholder PIN set.
    pub const PIN_SET: u8 = 0x08;

    /// Has an e-Cash purse.
    pub fn ecash(self) -> bool {
        self.0 & Self::ECASH != 0
    }

    /// Has a Food-Voucher purse.
    pub fn food(self) -> bool {
        self.0 & Self::FOOD != 0
    }

    /// Unconnected loading is available.
    pub fn unconnected_loading(self) -> bool {
        self.0 & Self::UNCONNECTED != 0
    }

    /// A cardholder PIN is set.
    pub fn pin_set(self) -> bool {
        self.0 & Self::PIN_SET != 0
    }
}

/// An ISO 9564 format-2 PIN block (SPEC 2.10): `2N`, then N PIN digits (4..=8) as BCD nibbles,
/// filled with `F` to 8 bytes.
///
/// The PIN is secret: `Debug` is redacted, the bytes are wiped on drop, and errors never
/// include digits.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PinBlock([u8; 8]);

impl PinBlock {
    /// Wire size.
    pub const LEN: usize = 8;

    /// From a PIN of 4..=8 decimal digits.
    pub fn from_digits(pin: &str) -> Result<Self> {
        let digits = pin.as_bytes();
        if !(4..=8).contains(&digits.len()) {
            return Err(SpecError::BadPin {
                reason: "a PIN has 4 to 8 digits",
            });
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(SpecError::BadPin {
                reason: "a PIN has decimal digits only",
            });
        }
        let mut block = [0xFFu8; 8];
        let mut nibbles = [0x0Fu8; 14];
        for (n, d) in nibbles.iter_mut().zip(digits) {
            *n = d - b'0';
        }
        block[0] = 0x20 | digits.len() as u8;
        for (byte, pair) in block[1..].iter_mut().zip(nibbles.chunks_exact(2)) {
            if let [hi, lo] = pair {
                *byte = (hi << 4) | lo;
            }
        }
        nibbles.zeroize();
        Ok(Self(block))
    }

    /// From 8 wire bytes, checked as the card checks them (`6A80` otherwise).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let block: [u8; 8] = Reader::exact(bytes, Self::LEN, "PINBLOCK")?.array()?;
        let len = match block.first() {
            Some(&b) if b >> 4 == 2 && (4..=8).contains(&(b & 0x0F)) => usize::from(b & 0x0F),
            _ => {
                return Err(SpecError::BadPin {
                    reason: "first byte must be 2N with N = 4..8",
                })
            }
        };
        let nibbles = block.iter().skip(1).flat_map(|b| [b >> 4, b & 0x0F]);
        for (i, nibble) in nibbles.enumerate() {
            if i < len && nibble > 9 {
                return Err(SpecError::BadPin {
                    reason: "PIN digit not decimal",
                });
            }
            if i >= len && nibble != 0x0F {
                return Err(SpecError::BadPin {
                    reason: "filler nibble not F",
                });
            }
        }
        Ok(Self(block))
    }

    /// Number of PIN digits.
    pub fn pin_len(&self) -> usize {
        usize::from(self.0[0] & 0x0F)
    }

    /// The 8 wire bytes (secret).
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Debug for PinBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinBlock(<redacted>)")
    }
}

/// Raw bytes of a 16-byte 3DES key as carried in personalisation data. No crypto here: the
/// `sam` crate turns these into keys. `Debug` is redacted; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct KeyBytes([u8; 16]);

impl KeyBytes {
    /// Wraps key bytes.
    pub fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The key bytes (secret).
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(<redacted>)")
    }
}

/// The card's limits, 24 bytes (SET LIMITS, personalisation data offset 73; SPEC 2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Limits {
    /// e-Cash maximum balance.
    pub ecash_max_balance: Amount,
    /// e-Cash maximum single transaction.
    pub ecash_max_amount: Amount,
    /// Food-Voucher maximum balance.
    pub food_max_balance: Amount,
    /// Food-Voucher maximum single transaction.
    pub food_max_amount: Amount,
    /// Purchases above this amount need the cardholder PIN.
    pub no_pin_limit: Amount,
    /// Maximum amount of one unconnected load (`UC_MAX`).
    pub uc_max: Amount,
}

impl Limits {
    /// Wire size.
    pub const LEN: usize = 24;

    /// The rules the card enforces (`6A80`): each ≤ `7FFFFFFF` (by type) and
    /// `MAX_AMOUNT ≤ MAX_BALANCE` for both purses.
    pub fn validate(&self) -> Result<()> {
        for (field, amount, balance) in [
            (
                "e-Cash MAX_AMOUNT",
                self.ecash_max_amount,
                self.ecash_max_balance,
            ),
            (
                "Food MAX_AMOUNT",
                self.food_max_amount,
                self.food_max_balance,
            ),
        ] {
            ensure(amount <= balance, field, amount.get(), "above MAX_BALANCE")?;
        }
        Ok(())
    }

    /// The 24 wire bytes.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        let fields = [
            self.ecash_max_balance,
            self.ecash_max_amount,
            self.food_max_balance,
            self.food_max_amount,
            self.no_pin_limit,
            self.uc_max,
        ];
        for (chunk, amount) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&amount.to_bytes());
        }
        out
    }

    /// From the 24 wire bytes, validated.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "LIMITS")?;
        let limits = Self {
            ecash_max_balance: Amount::from_bytes(r.array()?)?,
            ecash_max_amount: Amount::from_bytes(r.array()?)?,
            food_max_balance: Amount::from_bytes(r.array()?)?,
            food_max_amount: Amount::from_bytes(r.array()?)?,
            no_pin_limit: Amount::from_bytes(r.array()?)?,
            uc_max: Amount::from_bytes(r.array()?)?,
        };
        limits.validate()?;
        Ok(limits)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Limits that pass [`Limits::validate`], shared by the unit tests of this crate.
    pub(crate) fn sample_limits() -> Limits {
        let a = |v| Amount::new(v).unwrap();
        Limits {
            ecash_max_balance: a(1_000_000),
            ecash_max_amount: a(200_000),
            food_max_balance: a(500_000),
            food_max_amount: a(100_000),
            no_pin_limit: a(50_000),
            uc_max: a(20_000),
        }
    }

    #[test]
    fn byte_enums_round_trip_and_refuse_unknown() {
        for b in 0..=255u8 {
            if let Ok(p) = Purse::try_from(b) {
                assert_eq!(p.code(), b);
            }
            if let Ok(t) = TxType::try_from(b) {
                assert_eq!(u8::from(t), b);
            }
        }
        assert_eq!(Purse::try_from(0), Err(SpecError::UnknownPurse(0)));
        assert_eq!(Purse::try_from(3), Err(SpecError::UnknownPurse(3)));
        assert_eq!(RecordType::try_from(3), Err(SpecError::UnknownTxType(3)));
        assert_eq!(Lifecycle::try_from(4), Err(SpecError::UnknownLifecycle(4)));
        assert_eq!(
            BatchState::try_from(4),
            Err(SpecError::UnknownBatchState(4))
        );
        assert_eq!(TxType::ALL.len(), 7);
        assert_eq!(
            TxType::from(RecordType::UnconnectedLoad),
            TxType::UnconnectedLoad
        );
    }

    #[test]
    fn amount_bounds() {
        assert!(Amount::new(0x7FFF_FFFF).is_ok());
        assert_eq!(
            Amount::new(0x8000_0000),
            Err(SpecError::AmountTooLarge(0x8000_0000))
        );
        assert!(Amount::from_bytes([0xFF; 4]).is_err());
        assert_eq!(Amount::new(1250).unwrap().to_bytes(), [0, 0, 0x04, 0xE2]);
        assert_eq!(Amount::MAX.checked_add(Amount::new(1).unwrap()), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::new(1).unwrap()), None);
    }

    #[test]
    fn identifiers() {
        let s: Serial = "4550000000000001".parse().unwrap();
        assert_eq!(s.0, [0x45, 0x50, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.to_string(), "4550000000000001");
        assert_eq!(format!("{s:?}"), "Serial(4550000000000001)");
        assert!("45500000000000".parse::<Serial>().is_err());
        assert!("45500000000000zz".parse::<Serial>().is_err());
        assert!(SamId::parse(&[1, 2, 3, 4, 5]).is_err());
        assert!(Serial::default().is_zero());
        assert_eq!(Applet::from_aid(&PURSE_AID), Ok(Applet::Purse));
        assert_eq!(Applet::from_aid(&TRANSFER_AID), Ok(Applet::Transfer));
        assert!(Applet::from_aid(&PACKAGE_AID).is_err());
    }

    #[test]
    fn pin_block_from_digits_and_parse() {
        let p = PinBlock::from_digits("1234").unwrap();
        assert_eq!(
            p.as_bytes(),
            &[0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(PinBlock::parse(p.as_bytes()).unwrap(), p);
        let p8 = PinBlock::from_digits("98765432").unwrap();
        assert_eq!(
            p8.as_bytes(),
            &[0x28, 0x98, 0x76, 0x54, 0x32, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(p8.pin_len(), 8);
        let p5 = PinBlock::from_digits("12345").unwrap();
        assert_eq!(
            p5.as_bytes(),
            &[0x25, 0x12, 0x34, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        for bad in ["123", "123456789", "12a4", "", "12 34"] {
            assert!(PinBlock::from_digits(bad).is_err());
        }
        for bad in [
            [0x23, 0x12, 0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // length 3
            [0x29, 0x12, 0x34, 0x56, 0x78, 0x9F, 0xFF, 0xFF], // length 9
            [0x14, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // format 1
            [0x24, 0x12, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // digit A
            [0x24, 0x12, 0x34, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF], // filler E
            [0x25, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // 5th digit is F
        ] {
            assert!(PinBlock::parse(&bad).is_err(), "{bad:02X?}");
        }
        assert!(PinBlock::parse(&[0x24, 0x12, 0x34]).is_err());
        assert_eq!(format!("{p:?}"), "PinBlock(<redacted>)");
        let err = PinBlock::from_digits("12a4").unwrap_err().to_string();
        assert!(!err.contains("12a4"));
    }

    #[test]
    fn key_bytes_debug_is_redacted() {
        let k = KeyBytes::new([0x40; 16]);
        assert_eq!(format!("{k:?}"), "KeyBytes(<redacted>)");
    }

    #[test]
    fn limits_round_trip_and_rules() {
        let a = |v| Amount::new(v).unwrap();
        let limits = sample_limits();
        let bytes = limits.to_bytes();
        assert_eq!(
            &bytes[..8],
            &[0x00, 0x0F, 0x42, 0x40, 0x00, 0x03, 0x0D, 0x40]
        );
        assert_eq!(Limits::parse(&bytes).unwrap(), limits);
        let bad = Limits {
            food_max_amount: a(500_001),
            ..limits
        };
        assert!(bad.validate().is_err());
        assert!(Limits::parse(&bad.to_bytes()).is_err());
        let mut too_big = bytes;
        too_big[20] = 0x80;
        assert_eq!(
            Limits::parse(&too_big),
            Err(SpecError::AmountTooLarge(0x8000_4E20))
        );
        assert!(Limits::parse(&bytes[..23]).is_err());
    }
}
