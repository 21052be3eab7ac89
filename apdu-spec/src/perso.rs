//! Personalisation data `PD` (SPEC.md 2.13 purse, 3.2 transfer), the plaintext that PERSONALIZE
//! carries encrypted. Keys are raw [`KeyBytes`] here (no crypto in this crate); `Debug` redacts
//! them and the PIN, and `to_bytes` returns a buffer that wipes itself.

use zeroize::Zeroizing;

use crate::bcd::MccAllowlist;
use crate::bytes::Reader;
use crate::error::{ensure, Result};
use crate::values::{KeyBytes, Limits, PinBlock, Serial};

fn check_serial(serial: &Serial) -> Result<()> {
    ensure(!serial.is_zero(), "PD SERIAL", 0u8, "all zero")
}

fn check_key_version(kv: u8) -> Result<()> {
    ensure(kv != 0x00 && kv != 0xFF, "PD KV", kv, "not 01..FE")
}

fn check_1_to_15(value: u8, field: &'static str) -> Result<()> {
    ensure((1..=15).contains(&value), field, value, "not 1..15")
}

/// The purse card's personalisation data (124 bytes before padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PursePersoData {
    /// The card serial (not all zero).
    pub serial: Serial,
    /// Key version `01`..`FE`.
    pub key_version: u8,
    /// `K_LOAD`.
    pub k_load: KeyBytes,
    /// `K_PURCHASE`.
    pub k_purchase: KeyBytes,
    /// `K_TAC`.
    pub k_tac: KeyBytes,
    /// `K_ADMIN`.
    pub k_admin: KeyBytes,
    /// Limits, as in SET LIMITS.
    pub limits: Limits,
    /// The initial cardholder PIN.
    pub pin: PinBlock,
    /// PIN try limit (1..=15).
    pub pin_try_limit: u8,
    /// `UC_LIMIT` (1..=15).
    pub uc_limit: u8,
    /// The food purse's merchant categories.
    pub food_mccs: MccAllowlist,
}

impl PursePersoData {
    /// Wire size before padding.
    pub const LEN: usize = 124;

    /// Checks the rules the card applies (`6A80`).
    pub fn validate(&self) -> Result<()> {
        check_serial(&self.serial)?;
        check_key_version(self.key_version)?;
        self.limits.validate()?;
        check_1_to_15(self.pin_try_limit, "PD PIN try limit")?;
        check_1_to_15(self.uc_limit, "PD UC_LIMIT")
    }

    /// The 124 plaintext bytes (secret; wiped on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(Self::LEN));
        out.extend_from_slice(&self.serial.0);
        out.push(self.key_version);
        for key in [&self.k_load, &self.k_purchase, &self.k_tac, &self.k_admin] {
            out.extend_from_slice(key.expose());
        }
        out.extend_from_slice(&self.limits.to_bytes());
        out.extend_from_slice(self.pin.as_bytes());
        out.push(self.pin_try_limit);
        out.push(self.uc_limit);
        out.extend_from_slice(&self.food_mccs.to_bytes());
        out
    }

    /// From the 124 plaintext bytes (padding already removed), validated.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "purse PD")?;
        let pd = Self {
            serial: Serial(r.array()?),
            key_version: r.u8()?,
            k_load: KeyBytes::new(r.array()?),
            k_purchase: KeyBytes::new(r.array()?),
            k_tac: KeyBytes::new(r.array()?),
            k_admin: KeyBytes::new(r.array()?),
            limits: Limits::parse(r.bytes(Limits::LEN)?)?,
            pin: PinBlock::parse(r.bytes(PinBlock::LEN)?)?,
            pin_try_limit: r.u8()?,
            uc_limit: r.u8()?,
            food_mccs: MccAllowlist::parse(r.bytes(MccAllowlist::LEN)?)?,
        };
        pd.validate()?;
        Ok(pd)
    }
}

/// The transfer card's personalisation data: `XSERIAL KV K_XFER` (25 bytes before padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPersoData {
    /// The transfer card's serial (not all zero).
    pub xserial: Serial,
    /// Key version `01`..`FE`.
    pub key_version: u8,
    /// `K_XFER`.
    pub k_xfer: KeyBytes,
}

impl TransferPersoData {
    /// Wire size before padding.
    pub const LEN: usize = 25;

    /// Checks the serial and key version.
    pub fn validate(&self) -> Result<()> {
        check_serial(&self.xserial)?;
        check_key_version(self.key_version)
    }

    /// The 25 plaintext bytes (secret; wiped on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(Self::LEN));
        out.extend_from_slice(&self.xserial.0);
        out.push(self.key_version);
        out.extend_from_slice(self.k_xfer.expose());
        out
    }

    /// From the 25 plaintext bytes, validated.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::exact(bytes, Self::LEN, "transfer PD")?;
        let pd = Self {
            xserial: Serial(r.array()?),
            key_version: r.u8()?,
            k_xfer: KeyBytes::new(r.array()?),
        };
        pd.validate()?;
        Ok(pd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bcd::Mcc;
    use crate::values::tests::sample_limits;

    pub(crate) fn sample() -> PursePersoData {
        PursePersoData {
            serial: Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]),
            key_version: 1,
            k_load: KeyBytes::new([0x11; 16]),
            k_purchase: KeyBytes::new([0x22; 16]),
            k_tac: KeyBytes::new([0x33; 16]),
            k_admin: KeyBytes::new([0x44; 16]),
            limits: sample_limits(),
            pin: PinBlock::from_digits("1234").unwrap(),
            pin_try_limit: 3,
            uc_limit: 3,
            food_mccs: MccAllowlist::new(&[Mcc::new(5411).unwrap()]).unwrap(),
        }
    }

    #[test]
    fn purse_pd_layout_both_ways() {
        let pd = sample();
        let bytes = pd.to_bytes();
        assert_eq!(bytes.len(), 124);
        assert_eq!(&bytes[..9], &[0x45, 0x50, 0, 0, 0, 0, 0, 1, 0x01]);
        assert_eq!(&bytes[9..25], &[0x11; 16]);
        assert_eq!(&bytes[57..73], &[0x44; 16]);
        assert_eq!(&bytes[73..77], &[0x00, 0x0F, 0x42, 0x40]);
        assert_eq!(
            &bytes[97..105],
            &[0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(&bytes[105..110], &[3, 3, 1, 0x54, 0x11]);
        assert!(bytes[110..].iter().all(|&b| b == 0));
        assert_eq!(PursePersoData::parse(&bytes).unwrap(), pd);
    }

    #[test]
    fn purse_pd_refusals() {
        let good = sample().to_bytes();
        let with = |i: usize, v: u8| {
            let mut b = good.to_vec();
            b[i] = v;
            PursePersoData::parse(&b)
        };
        let mut zero_serial = good.to_vec();
        zero_serial[..8].fill(0);
        assert!(PursePersoData::parse(&zero_serial).is_err());
        assert!(with(8, 0x00).is_err());
        assert!(with(8, 0xFF).is_err());
        assert!(with(8, 0xFE).is_ok());
        assert!(with(97, 0x23).is_err()); // bad PIN block
        assert!(with(105, 0).is_err());
        assert!(with(105, 16).is_err());
        assert!(with(106, 0).is_err());
        assert!(with(107, 9).is_err());
        assert!(with(77, 0x7F).is_err()); // e-Cash MAX_AMOUNT above MAX_BALANCE
        assert!(PursePersoData::parse(&good[..123]).is_err());
    }

    #[test]
    fn debug_redacts_keys_and_pin() {
        let text = format!("{:?}", sample());
        assert!(text.contains("KeyBytes(<redacted>)") && text.contains("PinBlock(<redacted>)"));
        assert!(!text.contains("17, 17") && !text.contains("0x11") && !text.contains("[17"));
    }

    #[test]
    fn transfer_pd_both_ways() {
        let pd = TransferPersoData {
            xserial: Serial([0x58, 0, 0, 0, 0, 0, 0, 9]),
            key_version: 2,
            k_xfer: KeyBytes::new([0x55; 16]),
        };
        let bytes = pd.to_bytes();
        assert_eq!(&bytes[..9], &[0x58, 0, 0, 0, 0, 0, 0, 9, 2]);
        assert_eq!(&bytes[9..], &[0x55; 16]);
        assert_eq!(TransferPersoData::parse(&bytes).unwrap(), pd);
        assert!(TransferPersoData::parse(&bytes[..24]).is_err());
        let mut zero_kv = bytes.to_vec();
        zero_kv[8] = 0;
        assert!(TransferPersoData::parse(&zero_kv).is_err());
        assert!(!format!("{pd:?}").contains("85"));
    }
}
