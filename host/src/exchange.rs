//! The exchange layer: the one place, below every command, where ISO/IEC 7816 transport-level
//! status words and card resets are handled, and where the APDU trace is written.
//!
//! [`Channel::transmit`] sends one command APDU and returns its complete response:
//!
//! - `61xx`: GET RESPONSE `00 C0 00 00 xx`, chained until the card stops announcing more data;
//!   the pieces are concatenated.
//! - `6Cxx`: the same command resent once with Le = xx.
//! - Extended-length commands are refused unless the transport says the reader takes them (the
//!   contract itself is short-APDU only).
//! - A card reset by another application: for idempotent reads (SELECT, GET STATUS, READ LOG,
//!   GET TRANSACTION PROOF, READ BATCH, READ ACK, ISO reads) the channel reconnects, reselects
//!   the applet that was selected, and sends the command once more. Every other command is
//!   **never** resent: the error is returned (the card's session is lost anyway).
//! - A card removed or mute during a command that changes the card: [`ExchangeError::OutcomeUnknown`]
//!   — the card may have done it, so the caller must recover from the card's evidence
//!   (counters, GET TRANSACTION PROOF) and never simply repeat it.

use std::time::Instant;

use apdu_spec::{Command, ContractCommand, Ins, Response, SpecError, StatusWord};
use thiserror::Error;

use crate::trace;
use crate::transport::{ErrorKind, Transport, TransportError};

/// Most GET RESPONSE rounds for one command (256 × 64 bytes is far above any response).
pub const MAX_GET_RESPONSE_ROUNDS: usize = 64;

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeError {
    /// The transport failed; the command did not reach the card or was a safe read.
    #[error("{command}: {error}")]
    Transport {
        /// The command's name.
        command: String,
        /// What the transport said.
        error: TransportError,
    },
    /// The transport failed while or after the card processed a command that changes it.
    #[error(
        "{command}: {error}; the card may have carried the command out before its response \
         was lost: do not repeat it; recover from the card's counters and GET TRANSACTION PROOF"
    )]
    OutcomeUnknown {
        /// The command's name.
        command: String,
        /// What the transport said.
        error: TransportError,
    },
    /// The bytes are not a command APDU.
    #[error("not a valid command APDU: {reason}")]
    InvalidCommand {
        /// Why.
        reason: String,
    },
    /// An extended-length APDU for a reader that takes short ones only.
    #[error(
        "reader {reader:?} does not take extended-length APDUs: send short APDUs (at most 255 \
         data bytes, Le at most 256)"
    )]
    ExtendedLengthUnsupported {
        /// Reader name.
        reader: String,
    },
    /// The card kept answering `61xx`.
    #[error(
        "{command}: the card kept announcing more data (61xx) after {rounds} GET RESPONSE \
         commands: the card is misbehaving; reinsert it"
    )]
    GetResponseLoop {
        /// The command's name.
        command: String,
        /// Rounds sent.
        rounds: usize,
    },
}

impl ExchangeError {
    /// The transport error underneath, if any.
    pub fn transport_error(&self) -> Option<&TransportError> {
        match self {
            ExchangeError::Transport { error, .. }
            | ExchangeError::OutcomeUnknown { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Which layer the error points at.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExchangeError::Transport { error, .. }
            | ExchangeError::OutcomeUnknown { error, .. } => error.kind(),
            ExchangeError::ExtendedLengthUnsupported { .. } => ErrorKind::Reader,
            ExchangeError::GetResponseLoop { .. } => ErrorKind::Card,
            ExchangeError::InvalidCommand { .. } => ErrorKind::Other,
        }
    }
}

/// Whether resending `command` after a reset is harmless: it only reads.
pub fn is_idempotent(command: &[u8]) -> bool {
    let [cla, ins, ..] = command else {
        return false;
    };
    match Ins::from_header(*cla, *ins) {
        Some(i) => matches!(
            i,
            Ins::Select
                | Ins::GetStatus
                | Ins::ReadLog
                | Ins::GetTransactionProof
                | Ins::ReadBatch
                | Ins::ReadAck
        ),
        // ISO SELECT, READ BINARY, READ RECORD, GET DATA outside the contract.
        None => *cla != 0xFF && matches!(ins, 0xA4 | 0xB0 | 0xB1 | 0xB2 | 0xB3 | 0xCA | 0xCB),
    }
}

/// SELECT by DF name (`xx A4 04 xx Lc AID ...`): the AID.
fn selected_aid(command: &[u8]) -> Option<Vec<u8>> {
    match Command::parse(command) {
        Ok(c) if c.ins_byte() == 0xA4 && c.p1_byte() == 0x04 && !c.data_bytes().is_empty() => {
            Some(c.data_bytes().to_vec())
        }
        _ => None,
    }
}

/// One card, reached through a [`Transport`], with `61xx`/`6Cxx`, reset recovery and the
/// trace handled below every command.
pub struct Channel<T: Transport> {
    transport: T,
    /// AID of the applet selected by the last successful SELECT, for reselection after a reset.
    selected: Option<Vec<u8>>,
}

impl<T: Transport> Channel<T> {
    /// A channel over `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            selected: None,
        }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably (transactions, escape commands).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// AID of the applet the channel believes is selected.
    pub fn selected(&self) -> Option<&[u8]> {
        self.selected.as_deref()
    }

    /// Resets the card (warm reset); all card session state is lost.
    pub fn reset(&mut self) -> Result<(), ExchangeError> {
        self.selected = None;
        log::debug!(target: "apdu", "reset {}", self.transport.reader_name());
        self.transport
            .reset()
            .map_err(|error| ExchangeError::Transport {
                command: "reset".to_owned(),
                error,
            })
    }

    /// Sends a typed contract command.
    pub fn send<C: ContractCommand>(&mut self, command: &C) -> Result<Response, ExchangeError> {
        self.transmit(&command.to_bytes())
    }

    /// Sends a [`Command`].
    pub fn exchange(&mut self, command: &Command) -> Result<Response, ExchangeError> {
        self.transmit(&command.to_bytes())
    }

    /// Sends one command APDU (raw bytes) and returns the complete response.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Response, ExchangeError> {
        match Command::parse(command) {
            Ok(_) => {}
            Err(SpecError::ExtendedLength) if command.len() >= 7 => {
                if !self.transport.supports_extended_length() {
                    return Err(ExchangeError::ExtendedLengthUnsupported {
                        reader: self.transport.reader_name().to_owned(),
                    });
                }
            }
            Err(e) => {
                return Err(ExchangeError::InvalidCommand {
                    reason: e.to_string(),
                })
            }
        }
        let idempotent = is_idempotent(command);
        let result = self.transmit_chained(command, idempotent);
        let result = match result {
            Err(Failure::Reset(_)) if idempotent => {
                log::debug!(
                    target: "apdu",
                    "card in {} was reset; reconnecting and sending {} again",
                    self.transport.reader_name(),
                    trace::command_name(command)
                );
                self.recover_after_reset(command)
                    .and_then(|()| self.transmit_chained(command, idempotent))
            }
            other => other,
        };
        match result {
            Ok(response) => {
                self.note_selection(command, response.sw);
                Ok(response)
            }
            Err(Failure::Reset(error)) => {
                // Not resent: make the channel usable again and report.
                self.selected = None;
                let _ = self.transport.reconnect();
                Err(ExchangeError::Transport {
                    command: trace::command_name(command),
                    error,
                })
            }
            Err(Failure::Exchange(e)) => {
                if e.transport_error().is_some() {
                    self.selected = None;
                }
                Err(e)
            }
        }
    }

    fn note_selection(&mut self, command: &[u8], sw: StatusWord) {
        if let Some(aid) = selected_aid(command) {
            let sw1 = u16::from(sw) >> 8;
            self.selected = (sw.is_success() || sw1 == 0x62 || sw1 == 0x63).then_some(aid);
        }
    }

    /// Reconnects after a reset and reselects the applet that was selected (unless the command
    /// is itself a SELECT).
    fn recover_after_reset(&mut self, command: &[u8]) -> Result<(), Failure> {
        let name = trace::command_name(command);
        self.transport.reconnect().map_err(|error| {
            Failure::Exchange(ExchangeError::Transport {
                command: name.clone(),
                error,
            })
        })?;
        let Some(aid) = self.selected.take() else {
            return Ok(());
        };
        if selected_aid(command).is_some() {
            return Ok(());
        }
        let select = Command::raw(0x00, 0xA4, 0x04, 0x00)
            .data(aid.clone())
            .map_err(|e| {
                Failure::Exchange(ExchangeError::InvalidCommand {
                    reason: e.to_string(),
                })
            })?
            .le(0)
            .to_bytes();
        let response = self.transmit_chained(&select, true).map_err(|f| match f {
            Failure::Reset(error) => Failure::Exchange(ExchangeError::Transport {
                command: name.clone(),
                error,
            }),
            other => other,
        })?;
        let sw1 = u16::from(response.sw) >> 8;
        if response.sw.is_success() || sw1 == 0x62 {
            self.selected = Some(aid);
            Ok(())
        } else {
            // The applet is gone after the reset (another card?): report the reset.
            Err(Failure::Exchange(ExchangeError::Transport {
                command: name,
                error: TransportError::CardReset {
                    reader: self.transport.reader_name().to_owned(),
                },
            }))
        }
    }

    /// One physical transmit with the trace; errors classified for `command`.
    fn raw(
        &mut self,
        logical: &[u8],
        bytes: &[u8],
        idempotent: bool,
        after_processing: bool,
    ) -> Result<Vec<u8>, Failure> {
        let tracing = log::log_enabled!(target: "apdu", log::Level::Debug);
        if tracing {
            log::debug!(target: "apdu", "{}", trace::command_line(bytes));
        }
        let started = tracing.then(Instant::now);
        let result = self.transport.transmit(bytes).and_then(|response| {
            if response.len() < 2 {
                Err(TransportError::ResponseLost {
                    reader: self.transport.reader_name().to_owned(),
                    len: response.len(),
                })
            } else {
                Ok(response)
            }
        });
        match result {
            Ok(response) => {
                if let Some(t) = started {
                    let partial = bytes != logical
                        || response.get(response.len().wrapping_sub(2)) == Some(&0x61);
                    log::debug!(
                        target: "apdu",
                        "{}  [{:.3} ms]",
                        trace::response_line(logical, &response, partial),
                        t.elapsed().as_secs_f64() * 1e3
                    );
                }
                Ok(response)
            }
            Err(error) => {
                log::debug!(target: "apdu", "! {}: {error}", trace::command_name(bytes));
                let command = trace::command_name(logical);
                if matches!(error, TransportError::CardReset { .. }) && !after_processing {
                    return Err(Failure::Reset(error));
                }
                let unknown = !idempotent && (after_processing || error.outcome_unknown());
                Err(Failure::Exchange(if unknown {
                    ExchangeError::OutcomeUnknown { command, error }
                } else if matches!(error, TransportError::CardReset { .. }) && idempotent {
                    // A reset while fetching the rest of a read: start the read again.
                    return Err(Failure::Reset(error));
                } else {
                    ExchangeError::Transport { command, error }
                }))
            }
        }
    }

    /// The command, its `6Cxx` resend and its `61xx` GET RESPONSE chain.
    fn transmit_chained(&mut self, command: &[u8], idempotent: bool) -> Result<Response, Failure> {
        let mut response = self.raw(command, command, idempotent, false)?;
        let mut sw = sw_of(&response);

        if let StatusWord::WrongLe(le) = sw {
            if let Ok(c) = Command::parse(command) {
                let resend = c.le(le).to_bytes();
                response = self.raw(command, &resend, idempotent, false)?;
                sw = sw_of(&response);
            }
        }

        let mut data = strip_sw(response);
        let mut rounds = 0;
        let cla = get_response_cla(command.first().copied().unwrap_or(0));
        while let StatusWord::MoreData(n) = sw {
            if rounds == MAX_GET_RESPONSE_ROUNDS {
                return Err(Failure::Exchange(ExchangeError::GetResponseLoop {
                    command: trace::command_name(command),
                    rounds,
                }));
            }
            rounds += 1;
            let mut get = [cla, 0xC0, 0x00, 0x00, n];
            let mut piece = self.raw(command, &get, idempotent, true)?;
            if let StatusWord::WrongLe(le) = sw_of(&piece) {
                get[4] = le;
                piece = self.raw(command, &get, idempotent, true)?;
            }
            sw = sw_of(&piece);
            data.extend_from_slice(&strip_sw(piece));
        }
        Ok(Response { data, sw })
    }
}

/// GET RESPONSE keeps the logical-channel bits of the command's class.
fn get_response_cla(cla: u8) -> u8 {
    if cla == 0xFF {
        0x00
    } else if cla & 0x40 != 0 {
        0x40 | (cla & 0x0F)
    } else {
        cla & 0x03
    }
}

enum Failure {
    /// PC/SC reported a reset before the command reached the card.
    Reset(TransportError),
    Exchange(ExchangeError),
}

fn sw_of(response: &[u8]) -> StatusWord {
    match response {
        [.., sw1, sw2] => StatusWord::from_bytes(*sw1, *sw2),
        _ => StatusWord::Unknown(0),
    }
}

fn strip_sw(mut response: Vec<u8>) -> Vec<u8> {
    response.truncate(response.len().saturating_sub(2));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mock::MockTransport;
    use apdu_spec::{Applet, GetStatus, Select};

    const SELECT: &str = "00A4040008F04550555253450100";
    const R: &str = "Mock Reader 00 00";
    const CREDIT: &str = "80 52 01 00 0F 20261123143000 1122334455667788 00";
    const DEBIT: &str = "80 56 01 00 15 00000007 20261123143000 5411 1122334455667788 00";

    fn removed() -> TransportError {
        TransportError::CardRemoved { reader: R.into() }
    }

    fn reset() -> TransportError {
        TransportError::CardReset { reader: R.into() }
    }

    fn h(s: &str) -> Vec<u8> {
        sam::parse_hex(s).unwrap()
    }

    #[test]
    fn get_response_chain_is_followed_and_joined() {
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu("805E000000", "6151")
                .expect_apdu("00C0000051", &format!("{}6110", "AA".repeat(0x40)))
                .expect_apdu("00C0000010", &format!("{}9000", "BB".repeat(0x11))),
        );
        let r = ch.send(&GetStatus).unwrap();
        assert_eq!(r.sw, StatusWord::Ok);
        assert_eq!(r.data.len(), 0x40 + 0x11);
        assert_eq!(&r.data[..0x40], &[0xAA; 0x40][..]);
        ch.transport().finish().unwrap();
    }

    #[test]
    fn wrong_le_is_resent_once() {
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu("0084000000", "6C04")
                .expect_apdu("0084000004", "010203049000"),
        );
        let r = ch.transmit(&h("0084000000")).unwrap();
        assert_eq!(
            (r.data.as_slice(), r.sw),
            (&[1u8, 2, 3, 4][..], StatusWord::Ok)
        );
        ch.transport().finish().unwrap();

        // A second 6Cxx is returned, not chased.
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu("805E000000", "6C51")
                .expect_apdu("805E000051", "6C50"),
        );
        assert_eq!(
            ch.transmit(&h("805E000000")).unwrap().sw,
            StatusWord::WrongLe(0x50)
        );
        ch.transport().finish().unwrap();
    }

    #[test]
    fn wrong_le_then_more_data() {
        // A T=0 reader: 6Cxx on the first try, then 61xx on the resend.
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu("805C000000", "6C28")
                .expect_apdu("805C000028", "6128")
                .expect_apdu("00C0000028", &format!("{}9000", "CC".repeat(40))),
        );
        let r = ch.transmit(&h("805C000000")).unwrap();
        assert_eq!((r.data.len(), r.sw), (40, StatusWord::Ok));
        ch.transport().finish().unwrap();
    }

    #[test]
    fn endless_more_data_is_an_error() {
        let mut m = MockTransport::new(R).expect_apdu("805E000000", "6101");
        for _ in 0..MAX_GET_RESPONSE_ROUNDS {
            m = m.expect_apdu("00C0000001", "006101");
        }
        let mut ch = Channel::new(m);
        let e = ch.send(&GetStatus).unwrap_err();
        assert!(
            matches!(e, ExchangeError::GetResponseLoop { rounds: 64, .. }),
            "{e}"
        );
        ch.transport().finish().unwrap();
    }

    #[test]
    fn removal_during_a_read_is_a_plain_card_error() {
        let mut ch = Channel::new(MockTransport::new(R).expect_apdu_error("805E000000", removed()));
        let e = ch.send(&GetStatus).unwrap_err();
        assert_eq!(
            e,
            ExchangeError::Transport {
                command: "GET STATUS".into(),
                error: removed()
            }
        );
        assert_eq!(e.kind(), ErrorKind::Card);
        assert!(e.to_string().contains("reinsert it"), "{e}");
        ch.transport().finish().unwrap();
    }

    #[test]
    fn removal_during_a_value_command_has_unknown_outcome() {
        let credit = h(CREDIT);
        let mut ch = Channel::new(MockTransport::new(R).expect_apdu_error(CREDIT, removed()));
        let e = ch.transmit(&credit).unwrap_err();
        assert!(
            matches!(e, ExchangeError::OutcomeUnknown { ref command, .. } if command == "CREDIT LOAD"),
            "{e:?}"
        );
        assert!(e.to_string().contains("do not repeat it"), "{e}");
        ch.transport().finish().unwrap();
    }

    #[test]
    fn lost_response_of_a_value_command_has_unknown_outcome() {
        let mut ch = Channel::new(MockTransport::new(R).expect_apdu(DEBIT, ""));
        let e = ch.transmit(&h(DEBIT)).unwrap_err();
        assert!(
            matches!(
                e,
                ExchangeError::OutcomeUnknown {
                    error: TransportError::ResponseLost { len: 0, .. },
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::Card);
        ch.transport().finish().unwrap();
    }

    #[test]
    fn removal_mid_get_response_of_a_value_command_is_unknown_too() {
        // DEBIT PURCHASE processed (61 14), the card is pulled before GET RESPONSE.
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu(DEBIT, "6114")
                .expect_apdu_error("00C0000014", removed()),
        );
        let e = ch.transmit(&h(DEBIT)).unwrap_err();
        assert!(matches!(e, ExchangeError::OutcomeUnknown { .. }), "{e:?}");
        ch.transport().finish().unwrap();
    }

    #[test]
    fn reset_before_a_read_reconnects_reselects_and_retries_once() {
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu(SELECT, "6F009000")
                .expect_apdu_error("805E000000", reset())
                .expect_reconnect()
                .expect_apdu(SELECT, "6F009000")
                .expect_apdu("805E000000", "01029000"),
        );
        ch.send(&Select {
            applet: Applet::Purse,
        })
        .unwrap();
        assert_eq!(ch.selected(), Some(&apdu_spec::PURSE_AID[..]));
        let r = ch.send(&GetStatus).unwrap();
        assert_eq!(r.data, [1, 2]);
        ch.transport().finish().unwrap();
    }

    #[test]
    fn reset_before_a_value_command_is_never_resent() {
        let debit = h(DEBIT);
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu(SELECT, "6F009000")
                .expect_apdu_error(DEBIT, reset())
                .expect_reconnect(),
        );
        ch.send(&Select {
            applet: Applet::Purse,
        })
        .unwrap();
        let e = ch.transmit(&debit).unwrap_err();
        assert_eq!(
            e,
            ExchangeError::Transport {
                command: "DEBIT PURCHASE".into(),
                error: reset()
            }
        );
        assert!(e.to_string().contains("start again from SELECT"), "{e}");
        assert_eq!(ch.selected(), None);
        // Exactly one DEBIT PURCHASE went out.
        assert_eq!(
            ch.transport()
                .sent()
                .iter()
                .filter(|c| c[1] == 0x56)
                .count(),
            1
        );
        ch.transport().finish().unwrap();
    }

    #[test]
    fn reset_then_applet_missing_reports_the_reset() {
        let mut ch = Channel::new(
            MockTransport::new(R)
                .expect_apdu(SELECT, "6F009000")
                .expect_apdu_error("805C000000", reset())
                .expect_reconnect()
                .expect_apdu(SELECT, "6A82"),
        );
        ch.send(&Select {
            applet: Applet::Purse,
        })
        .unwrap();
        let e = ch.transmit(&h("805C000000")).unwrap_err();
        assert!(
            matches!(
                e,
                ExchangeError::Transport {
                    error: TransportError::CardReset { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        ch.transport().finish().unwrap();
    }

    #[test]
    fn extended_length_only_where_the_reader_allows() {
        let ext = h("80820000000003AABBCC");
        let mut ch = Channel::new(MockTransport::new(R));
        assert!(matches!(
            ch.transmit(&ext).unwrap_err(),
            ExchangeError::ExtendedLengthUnsupported { .. }
        ));
        let mut ch = Channel::new(
            MockTransport::new(R)
                .with_extended_length()
                .expect_apdu("80820000000003AABBCC", "9000"),
        );
        assert_eq!(ch.transmit(&ext).unwrap().sw, StatusWord::Ok);
        ch.transport().finish().unwrap();
    }

    #[test]
    fn invalid_and_short_responses() {
        let mut ch = Channel::new(MockTransport::new(R).expect_apdu("805E000000", "90"));
        assert!(matches!(
            ch.transmit(&[0x80, 0x5E]).unwrap_err(),
            ExchangeError::InvalidCommand { .. }
        ));
        assert!(matches!(
            ch.transmit(&h("805E000000")).unwrap_err(),
            ExchangeError::Transport {
                error: TransportError::ResponseLost { len: 1, .. },
                ..
            }
        ));
        ch.transport().finish().unwrap();
    }

    #[test]
    fn idempotency_table() {
        assert!(is_idempotent(&h(SELECT)));
        assert!(is_idempotent(&h("805E000000")));
        assert!(is_idempotent(&h("805C000000")));
        assert!(is_idempotent(&h("00B0000010")));
        assert!(!is_idempotent(&h("8056010000")));
        assert!(!is_idempotent(&h("8052010000")));
        assert!(!is_idempotent(&h("0084000004")));
        assert!(!is_idempotent(&h("FF00480000")));
        assert!(!is_idempotent(&[]));
        assert_eq!(get_response_cla(0x80), 0x00);
        assert_eq!(get_response_cla(0x01), 0x01);
        assert_eq!(get_response_cla(0x45), 0x45);
    }
}
