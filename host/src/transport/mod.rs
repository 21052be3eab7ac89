//! The transport: raw APDU bytes to a card and response bytes back, behind the small
//! [`Transport`] trait. Nothing above this module knows which reader, driver or daemon it talks
//! to.
//!
//! - [`pcsc`]: the PC/SC implementation (pcscd on Linux, the `pcsc` crate): context, reader
//!   listing with card state and ATR, shared or exclusive connections, transactions, T=0/T=1,
//!   reset and reconnect, reader escape commands and attributes.
//! - [`mock`]: a scripted transport replaying byte-exact exchanges, for unit tests.
//!
//! Errors are [`TransportError`]: one variant per situation a caller handles differently (no
//! service, no reader, no card, card removed, card reset, ...), each with what to do in its
//! message. `61xx`/`6Cxx` handling, retries after a reset and the APDU trace live one layer up,
//! in [`crate::exchange`].

use core::fmt;

use thiserror::Error;

pub mod mock;
pub mod pcsc;

/// The transmission protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// T=0, character-oriented (the reader turns `61xx`/`6Cxx` into GET RESPONSE / resend).
    T0,
    /// T=1, block-oriented.
    T1,
    /// Raw (direct) exchanges, e.g. a connection to the reader without a card.
    Raw,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::T0 => "T=0",
            Protocol::T1 => "T=1",
            Protocol::Raw => "raw",
        })
    }
}

/// How a connection shares the card with other applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ShareMode {
    /// Other applications may use the card between our commands (use transactions for
    /// multi-command sequences).
    #[default]
    Shared,
    /// No other application may connect while we hold the card.
    Exclusive,
    /// A connection to the reader itself, no card needed (escape commands, attributes).
    Direct,
}

/// Reader attributes a transport may report (PC/SC `SCardGetAttrib`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderAttribute {
    /// Vendor name (ASCII).
    VendorName,
    /// Vendor-defined reader type (ASCII).
    VendorIfdType,
    /// Reader firmware version, 4 bytes little-endian `0xMMmmbbbb` (CCID: the USB bcdDevice).
    VendorIfdVersion,
    /// Reader serial number (ASCII).
    VendorIfdSerialNo,
    /// Largest command the reader accepts (bytes, 4 bytes little-endian).
    MaxInput,
}

/// Which layer a [`TransportError`] points at; the CLI maps it to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The smart-card service (pcscd) is missing or unreachable.
    Service,
    /// No reader, the wrong reader, or a reader that went away or is busy.
    Reader,
    /// No card, or the card went away, was reset or does not answer.
    Card,
    /// Anything else.
    Other,
}

/// Why a transport operation failed, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// pcscd is not running or not reachable.
    #[error(
        "the smart-card service (pcscd) is not running or not reachable ({detail}): start it \
         (`scripts/stack start` for the virtual readers, `systemctl start pcscd` for real ones)"
    )]
    NoService {
        /// What PC/SC said.
        detail: String,
    },
    /// The service runs but has no reader.
    #[error(
        "no smart-card reader is connected: plug in a reader (or `scripts/stack start` for the \
         virtual ones) and check `epurse doctor`"
    )]
    NoReaders,
    /// `--reader` matched no reader.
    #[error(
        "no reader matches {wanted:?} (readers: {}): pass --reader INDEX or part of a name \
         from `epurse reader list`",
        list_names(available)
    )]
    ReaderNotFound {
        /// What was asked for.
        wanted: String,
        /// The readers there are.
        available: Vec<String>,
    },
    /// `--reader` matched several readers.
    #[error(
        "{wanted:?} matches several readers ({}): use the index from `epurse reader list` or a \
         longer part of the name",
        list_names(matches)
    )]
    ReaderAmbiguous {
        /// What was asked for.
        wanted: String,
        /// The readers it matches.
        matches: Vec<String>,
    },
    /// The reader disappeared (unplugged, driver gone).
    #[error(
        "reader {reader:?} is gone (unplugged, or its driver stopped): reconnect it and retry"
    )]
    ReaderGone {
        /// Reader name.
        reader: String,
    },
    /// Another application holds the card or reader exclusively.
    #[error(
        "reader {reader:?} is in exclusive use by another application: close it (e.g. a running \
         `scriptor` or wallet software) and retry"
    )]
    ReaderBusy {
        /// Reader name.
        reader: String,
    },
    /// No card in the reader.
    #[error("no card in reader {reader:?}: insert a card and retry")]
    NoCard {
        /// Reader name.
        reader: String,
    },
    /// The card was removed (possibly in the middle of a command).
    #[error("the card was removed from reader {reader:?}: reinsert it")]
    CardRemoved {
        /// Reader name.
        reader: String,
    },
    /// The card was reset by another application or by the reader; its session state (selected
    /// applet, open load/purchase session, verified PIN) is gone.
    #[error(
        "the card in reader {reader:?} was reset by another application or the reader: its \
         session state is lost; reconnect and start again from SELECT"
    )]
    CardReset {
        /// Reader name.
        reader: String,
    },
    /// A command got no complete response (fewer than the 2 status bytes): the card was most
    /// likely pulled out while it worked (the vpcd driver reports it this way).
    #[error(
        "the response of the card in reader {reader:?} was lost ({len} byte(s) received, the card \
         was probably removed during the command): reinsert it"
    )]
    ResponseLost {
        /// Reader name.
        reader: String,
        /// Bytes received.
        len: usize,
    },
    /// The card does not answer (mute, badly inserted, unsupported).
    #[error(
        "the card in reader {reader:?} does not answer: reinsert it (chip first, contacts up); if \
         it persists the card or the reader contacts may be faulty"
    )]
    CardMute {
        /// Reader name.
        reader: String,
    },
    /// The reader (or this transport) cannot do the operation.
    #[error("{operation} is not supported by reader {reader:?}: {hint}")]
    Unsupported {
        /// Reader name.
        reader: String,
        /// What was attempted.
        operation: String,
        /// What to do instead.
        hint: String,
    },
    /// A wait ran out.
    #[error("timed out waiting for {operation}")]
    Timeout {
        /// What was waited for.
        operation: String,
    },
    /// Any other failure, with PC/SC's own words.
    #[error("{operation} failed on reader {reader:?}: {detail}")]
    Other {
        /// Reader name (empty when not about one reader).
        reader: String,
        /// What was attempted.
        operation: String,
        /// The underlying error.
        detail: String,
    },
}

fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl TransportError {
    /// Which layer the error points at.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransportError::NoService { .. } => ErrorKind::Service,
            TransportError::NoReaders
            | TransportError::ReaderNotFound { .. }
            | TransportError::ReaderAmbiguous { .. }
            | TransportError::ReaderGone { .. }
            | TransportError::ReaderBusy { .. }
            | TransportError::Unsupported { .. } => ErrorKind::Reader,
            TransportError::NoCard { .. }
            | TransportError::CardRemoved { .. }
            | TransportError::CardReset { .. }
            | TransportError::ResponseLost { .. }
            | TransportError::CardMute { .. } => ErrorKind::Card,
            TransportError::Timeout { .. } | TransportError::Other { .. } => ErrorKind::Other,
        }
    }

    /// Whether a command that failed this way may have reached the card (its outcome is then
    /// unknown). A reset is reported by PC/SC before the command is sent; a removal or a mute
    /// card may happen after the card has processed it.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            TransportError::CardRemoved { .. }
                | TransportError::ResponseLost { .. }
                | TransportError::CardMute { .. }
                | TransportError::ReaderGone { .. }
                | TransportError::NoService { .. }
                | TransportError::Other { .. }
                | TransportError::Timeout { .. }
        )
    }
}

/// A connection to one card (or, in [`ShareMode::Direct`], to one reader).
///
/// Implementations send exactly the bytes given and return exactly the bytes received; they do
/// not interpret status words (that is [`crate::exchange::Channel`]'s job).
pub trait Transport {
    /// Sends one command APDU and returns the response APDU (data and SW1 SW2).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Resets the card (warm reset) and reconnects; all card session state is lost.
    fn reset(&mut self) -> Result<(), TransportError>;

    /// Re-establishes the connection after the card was reset by someone else, or removed and
    /// reinserted, without resetting it again. Updates the ATR and protocol.
    fn reconnect(&mut self) -> Result<(), TransportError>;

    /// The reader's name.
    fn reader_name(&self) -> &str;

    /// The card's ATR (empty for a direct connection to the reader).
    fn atr(&self) -> &[u8];

    /// The protocol in use, if a card is connected.
    fn protocol(&self) -> Option<Protocol>;

    /// Whether a card is connected (false for a direct connection to the reader).
    fn has_card(&self) -> bool {
        true
    }

    /// Whether the reader accepts extended-length APDUs (the contract itself never needs them).
    fn supports_extended_length(&self) -> bool {
        false
    }

    /// Sends a reader escape command (PC/SC `SCardControl`) with the given control code.
    fn control(&mut self, code: u32, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        let _ = (code, data);
        Err(TransportError::Unsupported {
            reader: self.reader_name().to_owned(),
            operation: "an escape command".to_owned(),
            hint: "this transport has no escape channel".to_owned(),
        })
    }

    /// Reads a reader attribute (PC/SC `SCardGetAttrib`).
    fn attribute(&mut self, attribute: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Unsupported {
            reader: self.reader_name().to_owned(),
            operation: format!("reading the {attribute:?} attribute"),
            hint: "this transport reports no reader attributes".to_owned(),
        })
    }

    /// Starts a transaction: until the returned transport is dropped, no other application
    /// can use the card between our commands (use it around INITIALIZE → CREDIT LOAD and the
    /// like). Transports without concurrent users return themselves.
    fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError>;
}

/// Implements `Transport` for a pointer type by forwarding every method to `**self`.
macro_rules! forward_transport {
    ($($target:ty),+) => {$(
        impl<T: Transport + ?Sized> Transport for $target {
            fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
                (**self).transmit(command)
            }
            fn reset(&mut self) -> Result<(), TransportError> {
                (**self).reset()
            }
            fn reconnect(&mut self) -> Result<(), TransportError> {
                (**self).reconnect()
            }
            fn reader_name(&self) -> &str {
                (**self).reader_name()
            }
            fn atr(&self) -> &[u8] {
                (**self).atr()
            }
            fn protocol(&self) -> Option<Protocol> {
                (**self).protocol()
            }
            fn has_card(&self) -> bool {
                (**self).has_card()
            }
            fn supports_extended_length(&self) -> bool {
                (**self).supports_extended_length()
            }
            fn control(&mut self, code: u32, data: &[u8]) -> Result<Vec<u8>, TransportError> {
                (**self).control(code, data)
            }
            fn attribute(&mut self, attribute: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
                (**self).attribute(attribute)
            }
            fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError> {
                (**self).transaction()
            }
        }
    )+};
}

forward_transport!(&mut T, Box<T>);

/// Picks a reader from `names` by `choice`: an index (`0`, `1`, ...) or a case-insensitive part
/// of a name (an exact name always wins). Without a choice: the first reader for which
/// `has_card` is true, else the first reader.
pub fn choose_reader(
    names: &[String],
    choice: Option<&str>,
    has_card: impl Fn(usize) -> bool,
) -> Result<usize, TransportError> {
    if names.is_empty() {
        return Err(TransportError::NoReaders);
    }
    let Some(choice) = choice.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok((0..names.len()).find(|&i| has_card(i)).unwrap_or(0));
    };
    if let Ok(index) = choice.parse::<usize>() {
        if index < names.len() {
            return Ok(index);
        }
        return Err(TransportError::ReaderNotFound {
            wanted: choice.to_owned(),
            available: names.to_vec(),
        });
    }
    if let Some(i) = names.iter().position(|n| n == choice) {
        return Ok(i);
    }
    let wanted = choice.to_lowercase();
    let matches: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.to_lowercase().contains(&wanted))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(TransportError::ReaderNotFound {
            wanted: choice.to_owned(),
            available: names.to_vec(),
        }),
        many => Err(TransportError::ReaderAmbiguous {
            wanted: choice.to_owned(),
            matches: many.iter().map(|&i| names[i].clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "Virtual PCD 00 00".to_owned(),
            "Virtual PCD 00 01".to_owned(),
            "ACS ACR39U ICC Reader 01 00".to_owned(),
        ]
    }

    #[test]
    fn choose_by_index_name_and_default() {
        let n = names();
        assert_eq!(choose_reader(&n, Some("1"), |_| false).unwrap(), 1);
        assert_eq!(choose_reader(&n, Some("acr39"), |_| false).unwrap(), 2);
        assert_eq!(
            choose_reader(&n, Some("Virtual PCD 00 01"), |_| false).unwrap(),
            1
        );
        assert_eq!(choose_reader(&n, Some(" 00 00"), |_| false).unwrap(), 0);
        assert_eq!(choose_reader(&n, None, |i| i == 2).unwrap(), 2);
        assert_eq!(choose_reader(&n, None, |_| false).unwrap(), 0);
        assert_eq!(choose_reader(&n, Some(""), |i| i == 1).unwrap(), 1);
    }

    #[test]
    fn choose_errors_say_what_exists() {
        let n = names();
        let e = choose_reader(&n, Some("7"), |_| true).unwrap_err();
        assert!(matches!(e, TransportError::ReaderNotFound { .. }));
        let text = e.to_string();
        assert!(
            text.contains("1: Virtual PCD 00 01") && text.contains("--reader"),
            "{text}"
        );
        let e = choose_reader(&n, Some("virtual"), |_| true).unwrap_err();
        assert!(
            matches!(e, TransportError::ReaderAmbiguous { ref matches, .. } if matches.len() == 2)
        );
        assert_eq!(e.kind(), ErrorKind::Reader);
        assert_eq!(
            choose_reader(&[], Some("0"), |_| true).unwrap_err(),
            TransportError::NoReaders
        );
    }

    #[test]
    fn kinds_and_outcomes() {
        let r = || "R".to_owned();
        assert_eq!(
            TransportError::NoService { detail: "x".into() }.kind(),
            ErrorKind::Service
        );
        assert_eq!(
            TransportError::NoCard { reader: r() }.kind(),
            ErrorKind::Card
        );
        assert!(TransportError::CardRemoved { reader: r() }.outcome_unknown());
        assert!(!TransportError::CardReset { reader: r() }.outcome_unknown());
        assert!(!TransportError::NoCard { reader: r() }.outcome_unknown());
    }
}
