//! The FCI returned by SELECT (SPEC.md 2.3 purse, 3 transfer), BER-TLV decoded with the
//! `iso7816-tlv` crate:
//!
//! ```text
//! 6F L  84 08 AID
//!       A5 L  C1 08 SERIAL  C2 02 VERSION  C3 01 LIFECYCLE
//!             C4 01 CAPABILITIES  C5 01 KV          (purse)
//!             C6 01 BATCH_STATE   C7 02 CAPACITY    (transfer)
//! ```
//!
//! `84`, `C1`, `C2` and `C3` are mandatory; unknown tags (inside `A5` as the SPEC requires, and
//! beside it) are ignored; the first occurrence of a known tag wins.

use iso7816_tlv::ber::{Tlv, Value};

use crate::bytes::Reader;
use crate::error::{Result, SpecError};
use crate::values::{Applet, BatchState, Capabilities, Lifecycle, Serial};

const TAG_FCI: u8 = 0x6F;
const TAG_AID: u8 = 0x84;
const TAG_PROPRIETARY: u8 = 0xA5;
const TAG_SERIAL: u8 = 0xC1;
const TAG_VERSION: u8 = 0xC2;
const TAG_LIFECYCLE: u8 = 0xC3;
const TAG_CAPABILITIES: u8 = 0xC4;
const TAG_KEY_VERSION: u8 = 0xC5;
const TAG_BATCH_STATE: u8 = 0xC6;
const TAG_CAPACITY: u8 = 0xC7;

/// Largest response the contract allows; also bounds the TLV parser's recursion on hostile
/// input.
const MAX_FCI_LEN: usize = 256;

/// A decoded FCI of either applet. Purse-only and transfer-only fields are `None` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fci {
    /// Which applet answered (from tag `84`).
    pub applet: Applet,
    /// `C1`: the card serial (`SERIAL` or `XSERIAL`); zero while BLANK.
    pub serial: Serial,
    /// `C2`: applet version (major, minor).
    pub version: (u8, u8),
    /// `C3`: lifecycle state.
    pub lifecycle: Lifecycle,
    /// `C4` (purse): capabilities.
    pub capabilities: Option<Capabilities>,
    /// `C5` (purse): key version, 0 while BLANK.
    pub key_version: Option<u8>,
    /// `C6` (transfer): batch state.
    pub batch_state: Option<BatchState>,
    /// `C7` (transfer): largest batch in bytes the card holds.
    pub capacity: Option<u16>,
}

fn tag_byte(tlv: &Tlv) -> Option<u8> {
    match tlv.tag().to_bytes() {
        [b] => Some(*b),
        _ => None,
    }
}

fn tag_value(tlv: &Tlv) -> u64 {
    tlv.tag()
        .to_bytes()
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn children<'a>(tlv: &'a Tlv, what: &'static str) -> Result<&'a [Tlv]> {
    match tlv.value() {
        Value::Constructed(items) => Ok(items),
        Value::Primitive(_) => Err(SpecError::Tlv {
            what,
            source_text: "template is not constructed".into(),
        }),
    }
}

/// The value of the first primitive child with `tag`.
fn find(items: &[Tlv], tag: u8) -> Option<&[u8]> {
    items
        .iter()
        .find(|t| tag_byte(t) == Some(tag))
        .and_then(|t| match t.value() {
            Value::Primitive(v) => Some(v.as_slice()),
            Value::Constructed(_) => None,
        })
}

fn mandatory<'a>(items: &'a [Tlv], tag: u8, within: &'static str) -> Result<&'a [u8]> {
    find(items, tag).ok_or(SpecError::MissingTag { tag, within })
}

fn one_byte(value: &[u8], what: &'static str) -> Result<u8> {
    Reader::exact(value, 1, what)?.u8()
}

/// One primitive TLV with a short (< 128 bytes) value.
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, value.len() as u8];
    out.extend_from_slice(value);
    out
}

impl Fci {
    /// Decodes the FCI bytes (SELECT response data).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FCI_LEN {
            return Err(SpecError::LengthOutOfRange {
                what: "FCI",
                min: 0,
                max: MAX_FCI_LEN,
                got: bytes.len(),
            });
        }
        let top = Tlv::from_bytes(bytes).map_err(|e| SpecError::Tlv {
            what: "FCI",
            source_text: e.to_string(),
        })?;
        if tag_byte(&top) != Some(TAG_FCI) {
            return Err(SpecError::BadTag {
                what: "FCI",
                expected: TAG_FCI,
                got: tag_value(&top),
            });
        }
        let fci = children(&top, "FCI template 6F")?;
        let aid = mandatory(fci, TAG_AID, "FCI template 6F")?;
        let applet = Applet::from_aid(aid)?;
        let proprietary = fci
            .iter()
            .find(|t| tag_byte(t) == Some(TAG_PROPRIETARY))
            .ok_or(SpecError::MissingTag {
                tag: TAG_PROPRIETARY,
                within: "FCI template 6F",
            })?;
        let items = children(proprietary, "FCI proprietary template A5")?;
        const A5: &str = "FCI proprietary template A5";

        let serial = Serial::parse(mandatory(items, TAG_SERIAL, A5)?)?;
        let [major, minor]: [u8; 2] =
            Reader::exact(mandatory(items, TAG_VERSION, A5)?, 2, "FCI version C2")?.array()?;
        let lifecycle = Lifecycle::try_from(one_byte(
            mandatory(items, TAG_LIFECYCLE, A5)?,
            "FCI lifecycle C3",
        )?)?;
        let capabilities = find(items, TAG_CAPABILITIES)
            .map(|v| one_byte(v, "FCI capabilities C4").map(Capabilities))
            .transpose()?;
        let key_version = find(items, TAG_KEY_VERSION)
            .map(|v| one_byte(v, "FCI key version C5"))
            .transpose()?;
        let batch_state = find(items, TAG_BATCH_STATE)
            .map(|v| one_byte(v, "FCI batch state C6").and_then(BatchState::try_from))
            .transpose()?;
        let capacity = find(items, TAG_CAPACITY)
            .map(|v| Reader::exact(v, 2, "FCI capacity C7").and_then(|mut r| r.u16()))
            .transpose()?;
        Ok(Self {
            applet,
            serial,
            version: (major, minor),
            lifecycle,
            capabilities,
            key_version,
            batch_state,
            capacity,
        })
    }

    /// Encodes the FCI, tags in SPEC order, optional tags only when present.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut proprietary = Vec::new();
        proprietary.extend(tlv(TAG_SERIAL, &self.serial.0));
        proprietary.extend(tlv(TAG_VERSION, &[self.version.0, self.version.1]));
        proprietary.extend(tlv(TAG_LIFECYCLE, &[self.lifecycle.code()]));
        if let Some(c) = self.capabilities {
            proprietary.extend(tlv(TAG_CAPABILITIES, &[c.0]));
        }
        if let Some(kv) = self.key_version {
            proprietary.extend(tlv(TAG_KEY_VERSION, &[kv]));
        }
        if let Some(s) = self.batch_state {
            proprietary.extend(tlv(TAG_BATCH_STATE, &[s.code()]));
        }
        if let Some(c) = self.capacity {
            proprietary.extend(tlv(TAG_CAPACITY, &c.to_be_bytes()));
        }
        let mut body = tlv(TAG_AID, &self.applet.aid());
        body.extend(tlv(TAG_PROPRIETARY, &proprietary));
        tlv(TAG_FCI, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A purse FCI written out by hand from SPEC 2.3.
    const PURSE_FCI: [u8; 37] = [
        0x6F, 0x23, //
        0x84, 0x08, 0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45, 0x01, //
        0xA5, 0x17, //
        0xC1, 0x08, 0x45, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0xC2, 0x02, 0x01, 0x00, //
        0xC3, 0x01, 0x02, //
        0xC4, 0x01, 0x0F, //
        0xC5, 0x01, 0x01,
    ];

    fn purse_fci() -> Fci {
        Fci {
            applet: Applet::Purse,
            serial: Serial([0x45, 0x50, 0, 0, 0, 0, 0, 1]),
            version: (1, 0),
            lifecycle: Lifecycle::Active,
            capabilities: Some(Capabilities(0x0F)),
            key_version: Some(1),
            batch_state: None,
            capacity: None,
        }
    }

    #[test]
    fn purse_fci_both_ways() {
        assert_eq!(Fci::parse(&PURSE_FCI).unwrap(), purse_fci());
        assert_eq!(purse_fci().to_bytes(), PURSE_FCI);
        let caps = purse_fci().capabilities.unwrap();
        assert!(caps.ecash() && caps.food() && caps.unconnected_loading() && caps.pin_set());
    }

    #[test]
    fn transfer_fci_both_ways() {
        let fci = Fci {
            applet: Applet::Transfer,
            serial: Serial([0x58, 0, 0, 0, 0, 0, 0, 9]),
            version: (1, 0),
            lifecycle: Lifecycle::Active,
            capabilities: None,
            key_version: None,
            batch_state: Some(BatchState::Sealed),
            capacity: Some(0x2000),
        };
        let bytes = fci.to_bytes();
        assert_eq!(
            bytes,
            [
                0x6F, 0x24, 0x84, 0x08, 0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45, 0x02, 0xA5, 0x18,
                0xC1, 0x08, 0x58, 0, 0, 0, 0, 0, 0, 9, 0xC2, 0x02, 0x01, 0x00, 0xC3, 0x01, 0x02,
                0xC6, 0x01, 0x02, 0xC7, 0x02, 0x20, 0x00
            ]
        );
        assert_eq!(Fci::parse(&bytes).unwrap(), fci);
    }

    /// Rebuilds the purse FCI with the A5 body replaced.
    fn with_a5(a5: &[u8]) -> Vec<u8> {
        let mut body = tlv(TAG_AID, &crate::values::PURSE_AID);
        body.extend(tlv(TAG_PROPRIETARY, a5));
        tlv(TAG_FCI, &body)
    }

    #[test]
    fn unknown_tags_are_ignored() {
        let mut a5 = PURSE_FCI[14..].to_vec();
        a5.extend([0xDF, 0x20, 0x02, 0xAA, 0xBB]); // unknown two-byte tag
        a5.extend([0xC8, 0x01, 0x00]); // unknown one-byte tag
        assert_eq!(Fci::parse(&with_a5(&a5)).unwrap(), purse_fci());
    }

    #[test]
    fn missing_mandatory_tags_are_refused() {
        let full = PURSE_FCI[14..].to_vec();
        // remove C1 (bytes 0..10), C2 (10..14), C3 (14..17) in turn
        for (range, tag) in [(0..10, 0xC1), (10..14, 0xC2), (14..17, 0xC3)] {
            let mut a5 = full.clone();
            a5.drain(range);
            assert_eq!(
                Fci::parse(&with_a5(&a5)),
                Err(SpecError::MissingTag {
                    tag,
                    within: "FCI proprietary template A5"
                })
            );
        }
        let no_aid = tlv(TAG_FCI, &tlv(TAG_PROPRIETARY, &full));
        assert_eq!(
            Fci::parse(&no_aid),
            Err(SpecError::MissingTag {
                tag: 0x84,
                within: "FCI template 6F"
            })
        );
        let no_a5 = tlv(TAG_FCI, &tlv(TAG_AID, &crate::values::PURSE_AID));
        assert!(matches!(
            Fci::parse(&no_a5),
            Err(SpecError::MissingTag { tag: 0xA5, .. })
        ));
    }

    #[test]
    fn malformed_fci_is_refused() {
        let mut wrong_top = PURSE_FCI;
        wrong_top[0] = 0x70;
        assert!(matches!(
            Fci::parse(&wrong_top),
            Err(SpecError::BadTag {
                expected: 0x6F,
                got: 0x70,
                ..
            })
        ));
        assert!(matches!(
            Fci::parse(&PURSE_FCI[..20]),
            Err(SpecError::Tlv { .. })
        ));
        let mut trailing = PURSE_FCI.to_vec();
        trailing.push(0x00);
        assert!(matches!(Fci::parse(&trailing), Err(SpecError::Tlv { .. })));
        assert!(Fci::parse(&[]).is_err());
        let mut short_serial = PURSE_FCI[14..].to_vec();
        short_serial[1] = 0x07;
        short_serial.remove(2);
        assert!(matches!(
            Fci::parse(&with_a5(&short_serial)),
            Err(SpecError::TooShort { .. })
        ));
        let mut bad_lifecycle = PURSE_FCI;
        bad_lifecycle[30] = 0x07;
        assert_eq!(
            Fci::parse(&bad_lifecycle),
            Err(SpecError::UnknownLifecycle(7))
        );
        let mut other_aid = PURSE_FCI;
        other_aid[11] = 0x03;
        assert!(matches!(
            Fci::parse(&other_aid),
            Err(SpecError::UnknownAid(_))
        ));
        assert!(Fci::parse(&vec![0x6F; 300]).is_err());
    }
}
