//! ACS readers, recognised by name: firmware version, LEDs and buzzer.
//!
//! | model | firmware | LED | buzzer |
//! | --- | --- | --- | --- |
//! | ACR122U | pseudo-APDU `FF 00 48 00 00` → ASCII (e.g. `ACR122U207`) | `FF 00 40 P2 04 T1 T2 N L` | the same command, LEDs unchanged, linked to the buzzer |
//! | ACR1252U | escape `E0 00 00 18 00` → `E1 00 00 00 LEN ASCII` | escape `E0 00 00 29 01 BITS` (bit 0 red, bit 1 green) | escape `E0 00 00 28 01 T` (T × 10 ms) |
//! | ACR38U, ACR39U | the driver's `SCARD_ATTR_VENDOR_IFD_VERSION` (USB bcdDevice) | not host-controlled | none |
//!
//! Pseudo-APDUs (class `FF`) go to the card connection when there is one, and otherwise
//! through the escape channel (`SCardControl` with `SCARD_CTL_CODE(3500)`, a direct
//! connection); escape commands always go through the escape channel. Every operation a model
//! (or a non-ACS reader such as the virtual one) lacks fails with
//! [`TransportError::Unsupported`] saying so.

use crate::transport::pcsc::escape_control_code;
use crate::transport::{ReaderAttribute, Transport, TransportError};

/// The ACS reader models this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcsModel {
    /// ACR38U (contact, CCID).
    Acr38u,
    /// ACR39U (contact, CCID).
    Acr39u,
    /// ACR122U (contactless, PN532 based).
    Acr122u,
    /// ACR1252U (contactless + SAM slot).
    Acr1252u,
}

impl AcsModel {
    /// The model a PC/SC reader name belongs to, e.g. `ACS ACR122U PICC Interface 00 00`,
    /// `ACS ACR39U ICC Reader 00 00`, `ACS ACR 38U-CCID 00 00`,
    /// `ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00`.
    pub fn from_reader_name(name: &str) -> Option<Self> {
        let n: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if n.contains("ACR1252") {
            Some(AcsModel::Acr1252u)
        } else if n.contains("ACR122") {
            Some(AcsModel::Acr122u)
        } else if n.contains("ACR39U") || n.contains("ACR39T") || n.contains("ACR39K") {
            Some(AcsModel::Acr39u)
        } else if n.contains("ACR38") {
            Some(AcsModel::Acr38u)
        } else {
            None
        }
    }

    /// Marketing name.
    pub fn name(self) -> &'static str {
        match self {
            AcsModel::Acr38u => "ACR38U",
            AcsModel::Acr39u => "ACR39U",
            AcsModel::Acr122u => "ACR122U",
            AcsModel::Acr1252u => "ACR1252U",
        }
    }

    /// Whether the host can switch its LEDs.
    pub fn has_led_control(self) -> bool {
        matches!(self, AcsModel::Acr122u | AcsModel::Acr1252u)
    }

    /// Whether it has a buzzer.
    pub fn has_buzzer(self) -> bool {
        matches!(self, AcsModel::Acr122u | AcsModel::Acr1252u)
    }
}

/// LED state (`None` = leave unchanged when setting; as reported when reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leds {
    /// Red LED on.
    pub red: Option<bool>,
    /// Green LED on.
    pub green: Option<bool>,
}

fn unsupported(reader: &str, operation: &str, hint: &str) -> TransportError {
    TransportError::Unsupported {
        reader: reader.to_owned(),
        operation: operation.to_owned(),
        hint: hint.to_owned(),
    }
}

fn bad_reply(reader: &str, operation: &str, reply: &[u8]) -> TransportError {
    TransportError::Other {
        reader: reader.to_owned(),
        operation: operation.to_owned(),
        detail: format!(
            "unexpected reply {} (not what the ACS reference manual describes)",
            hex::encode_upper(reply)
        ),
    }
}

fn model_of(t: &dyn Transport, operation: &str) -> Result<AcsModel, TransportError> {
    AcsModel::from_reader_name(t.reader_name()).ok_or_else(|| {
        unsupported(
            t.reader_name(),
            operation,
            "it is not an ACS reader this tool knows (ACR38U, ACR39U, ACR122U, ACR1252U); the \
             virtual readers have no firmware, LEDs or buzzer",
        )
    })
}

/// Sends a class-FF pseudo-APDU: over the card connection if there is one, else as an escape.
fn pseudo_apdu(t: &mut dyn Transport, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
    if t.has_card() {
        t.transmit(apdu)
    } else {
        t.control(escape_control_code(), apdu)
    }
}

/// ACR1252U escape: `E0 00 00 INS LEN DATA` → `E1 00 00 00 LEN DATA`; returns DATA.
fn escape_e0(
    t: &mut dyn Transport,
    ins: u8,
    data: &[u8],
    operation: &str,
) -> Result<Vec<u8>, TransportError> {
    let mut command = vec![0xE0, 0x00, 0x00, ins, data.len() as u8];
    command.extend_from_slice(data);
    let reply = t.control(escape_control_code(), &command)?;
    match reply.as_slice() {
        [0xE1, 0x00, 0x00, 0x00, len, rest @ ..] if usize::from(*len) == rest.len() => {
            Ok(rest.to_vec())
        }
        _ => Err(bad_reply(t.reader_name(), operation, &reply)),
    }
}

fn ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect::<String>()
        .trim_end_matches(['.', ' '])
        .to_owned()
}

/// The reader's firmware version, as the reader states it.
pub fn firmware_version(t: &mut dyn Transport) -> Result<String, TransportError> {
    const OP: &str = "reading the firmware version";
    match model_of(t, OP)? {
        AcsModel::Acr122u => {
            let reply = pseudo_apdu(t, &[0xFF, 0x00, 0x48, 0x00, 0x00])?;
            // The firmware answers the ASCII version without a status word; some versions append
            // 90 00, and an error is 63 00.
            let text = match reply.as_slice() {
                [0x63, 0x00] | [] => return Err(bad_reply(t.reader_name(), OP, &reply)),
                [rest @ .., 0x90, 0x00] if !rest.is_empty() => rest,
                all => all,
            };
            Ok(ascii(text))
        }
        AcsModel::Acr1252u => {
            let data = escape_e0(t, 0x18, &[], OP)?;
            Ok(ascii(&data))
        }
        AcsModel::Acr38u | AcsModel::Acr39u => {
            let v = t.attribute(ReaderAttribute::VendorIfdVersion)?;
            let b: [u8; 4] = v
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad_reply(t.reader_name(), OP, &v))?;
            // 0xMMmmbbbb, little-endian.
            let x = u32::from_le_bytes(b);
            Ok(format!(
                "{}.{:02} (build {})",
                x >> 24,
                (x >> 16) & 0xFF,
                x & 0xFFFF
            ))
        }
    }
}

/// Sets the LEDs (`None` leaves a LED as it is); returns the state the reader reports after.
pub fn set_leds(t: &mut dyn Transport, leds: Leds) -> Result<Leds, TransportError> {
    const OP: &str = "LED control";
    match model_of(t, OP)? {
        AcsModel::Acr122u => {
            // P2: bit 0 final red, bit 1 final green, bit 2 red mask, bit 3 green mask; no
            // blinking (T1 = T2 = repetitions = 0), buzzer not linked.
            let mut p2 = 0u8;
            if let Some(on) = leds.red {
                p2 |= 0x04 | u8::from(on);
            }
            if let Some(on) = leds.green {
                p2 |= 0x08 | (u8::from(on) << 1);
            }
            let reply = pseudo_apdu(t, &[0xFF, 0x00, 0x40, p2, 0x04, 0x00, 0x00, 0x00, 0x00])?;
            match reply.as_slice() {
                [0x90, state] => Ok(Leds {
                    red: Some(state & 0x01 != 0),
                    green: Some(state & 0x02 != 0),
                }),
                _ => Err(bad_reply(t.reader_name(), OP, &reply)),
            }
        }
        AcsModel::Acr1252u => {
            // The command sets both LEDs: read the current state for a LED left unchanged.
            let mut bits = if leds.red.is_none() || leds.green.is_none() {
                let current = escape_e0(t, 0x29, &[], OP)?;
                *current
                    .first()
                    .ok_or_else(|| bad_reply(t.reader_name(), OP, &current))?
            } else {
                0
            };
            for (on, bit) in [(leds.red, 0x01u8), (leds.green, 0x02)] {
                match on {
                    Some(true) => bits |= bit,
                    Some(false) => bits &= !bit,
                    None => {}
                }
            }
            let state = escape_e0(t, 0x29, &[bits & 0x03], OP)?;
            let s = *state
                .first()
                .ok_or_else(|| bad_reply(t.reader_name(), OP, &state))?;
            Ok(Leds {
                red: Some(s & 0x01 != 0),
                green: Some(s & 0x02 != 0),
            })
        }
        model => Err(unsupported(
            t.reader_name(),
            OP,
            &format!(
                "the {} drives its LED itself; the host cannot switch it",
                model.name()
            ),
        )),
    }
}

/// Sounds the buzzer for about `millis` milliseconds.
pub fn beep(t: &mut dyn Transport, millis: u32) -> Result<(), TransportError> {
    const OP: &str = "buzzer control";
    match model_of(t, OP)? {
        AcsModel::Acr122u => {
            // LEDs untouched (P2 00), T1 in 100 ms units, one repetition, buzzer during T1.
            let t1 = millis.div_ceil(100).clamp(1, 255) as u8;
            let reply = pseudo_apdu(t, &[0xFF, 0x00, 0x40, 0x00, 0x04, t1, 0x00, 0x01, 0x01])?;
            match reply.as_slice() {
                [0x90, _] => Ok(()),
                _ => Err(bad_reply(t.reader_name(), OP, &reply)),
            }
        }
        AcsModel::Acr1252u => {
            let units = millis.div_ceil(10).clamp(1, 255) as u8;
            escape_e0(t, 0x28, &[units], OP).map(|_| ())
        }
        model => Err(unsupported(
            t.reader_name(),
            OP,
            &format!("the {} has no buzzer", model.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mock::{MockTransport, Step};

    const ACR122U: &str = "ACS ACR122U PICC Interface 00 00";
    const ACR1252U: &str = "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00";
    const ACR39U: &str = "ACS ACR39U ICC Reader 00 00";
    const ACR38U: &str = "ACS ACR 38U-CCID 00 00";

    fn esc() -> u32 {
        escape_control_code()
    }

    fn leds(red: Option<bool>, green: Option<bool>) -> Leds {
        Leds { red, green }
    }

    #[test]
    fn models_by_name() {
        assert_eq!(AcsModel::from_reader_name(ACR122U), Some(AcsModel::Acr122u));
        assert_eq!(
            AcsModel::from_reader_name(ACR1252U),
            Some(AcsModel::Acr1252u)
        );
        assert_eq!(AcsModel::from_reader_name(ACR39U), Some(AcsModel::Acr39u));
        assert_eq!(AcsModel::from_reader_name(ACR38U), Some(AcsModel::Acr38u));
        assert_eq!(
            AcsModel::from_reader_name("ACS ACR38U-CCID 01 00"),
            Some(AcsModel::Acr38u)
        );
        assert_eq!(AcsModel::from_reader_name("Virtual PCD 00 00"), None);
        assert_eq!(
            AcsModel::from_reader_name("Gemalto PC Twin Reader 00 00"),
            None
        );
    }

    #[test]
    fn acr122u_recorded_exchanges_over_the_card() {
        // Firmware "ACR122U207", then red on / green off, then green off alone, then a 300 ms beep.
        let mut t = MockTransport::new(ACR122U)
            .expect_apdu("FF00480000", "41435231323255323037")
            .expect_apdu("FF00400D0400000000", "9001")
            .expect_apdu("FF0040080400000000", "9000")
            .expect_apdu("FF00400004 03 00 01 01", "9000");
        assert_eq!(firmware_version(&mut t).unwrap(), "ACR122U207");
        let now = set_leds(&mut t, leds(Some(true), Some(false))).unwrap();
        assert_eq!(now, leds(Some(true), Some(false)));
        let now = set_leds(&mut t, leds(None, Some(false))).unwrap();
        assert_eq!(now, leds(Some(false), Some(false)));
        beep(&mut t, 300).unwrap();
        t.finish().unwrap();
    }

    #[test]
    fn acr122u_beep_and_firmware_via_escape_without_card() {
        let mut t = MockTransport::new(ACR122U)
            .without_card()
            .expect_control(esc(), "FF00480000", "414352313232553230379000")
            .expect_control(esc(), "FF00400004030001 01", "9000");
        assert_eq!(firmware_version(&mut t).unwrap(), "ACR122U207");
        beep(&mut t, 250).unwrap();
        t.finish().unwrap();
    }

    #[test]
    fn acr122u_error_reply() {
        let mut t = MockTransport::new(ACR122U).expect_apdu("FF00480000", "6300");
        let e = firmware_version(&mut t).unwrap_err();
        assert!(e.to_string().contains("unexpected reply 6300"), "{e}");
    }

    #[test]
    fn acr1252u_recorded_escapes() {
        let mut t = MockTransport::new(ACR1252U)
            .expect_control(
                esc(),
                "E000001800",
                "E10000000F4143523132353255 5F563230322E32",
            )
            .expect_control(esc(), "E000002900", "E10000000102")
            .expect_control(esc(), "E00000290103", "E10000000103")
            .expect_control(esc(), "E00000290100", "E10000000100")
            .expect_control(esc(), "E00000280114", "E10000000100");
        assert_eq!(firmware_version(&mut t).unwrap(), "ACR1252U_V202.2");
        // Red on, green unchanged (was on).
        let now = set_leds(&mut t, leds(Some(true), None)).unwrap();
        assert_eq!(now, leds(Some(true), Some(true)));
        // Both off: no read needed.
        let now = set_leds(&mut t, leds(Some(false), Some(false))).unwrap();
        assert_eq!(now, leds(Some(false), Some(false)));
        beep(&mut t, 200).unwrap();
        t.finish().unwrap();
    }

    #[test]
    fn acr1252u_malformed_escape_reply() {
        let mut t =
            MockTransport::new(ACR1252U).expect_control(esc(), "E000001800", "E1000000FF41");
        assert!(matches!(
            firmware_version(&mut t),
            Err(TransportError::Other { .. })
        ));
    }

    #[test]
    fn acr39u_and_acr38u_firmware_from_the_driver_and_no_leds() {
        let mut t = MockTransport::new(ACR39U).step(Step::Attribute {
            attribute: ReaderAttribute::VendorIfdVersion,
            reply: Ok(vec![0x00, 0x00, 0x01, 0x02]),
        });
        assert_eq!(firmware_version(&mut t).unwrap(), "2.01 (build 0)");
        let e = set_leds(&mut t, leds(Some(true), None)).unwrap_err();
        assert!(
            e.to_string().contains("the ACR39U drives its LED itself"),
            "{e}"
        );
        t.finish().unwrap();
        let mut t = MockTransport::new(ACR38U);
        let e = beep(&mut t, 100).unwrap_err();
        assert!(e.to_string().contains("the ACR38U has no buzzer"), "{e}");
        assert!(matches!(e, TransportError::Unsupported { .. }));
        t.finish().unwrap();
    }

    #[test]
    fn virtual_reader_says_not_supported() {
        let mut t = MockTransport::new("Virtual PCD 00 00");
        for e in [
            firmware_version(&mut t).unwrap_err(),
            set_leds(&mut t, Leds::default()).unwrap_err(),
            beep(&mut t, 100).unwrap_err(),
        ] {
            assert!(matches!(e, TransportError::Unsupported { .. }), "{e}");
            assert!(
                e.to_string().contains("virtual readers have no firmware"),
                "{e}"
            );
        }
        // Nothing was sent to the card.
        assert!(t.sent().is_empty());
        t.finish().unwrap();
    }
}
