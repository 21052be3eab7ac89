//! A scripted [`Transport`] for tests: it replays recorded exchanges byte for byte.
//!
//! Each [`Step`] says what the code under test must send next (an APDU, an escape command, an
//! attribute read, a reset or reconnect) and what comes back (bytes or a [`TransportError`]).
//! Anything else is a mismatch: the call fails with [`TransportError::Other`] and
//! [`MockTransport::finish`] reports it, so a test sees both the failure and its cause.
//!
//! ```
//! use host::transport::{mock::MockTransport, Transport};
//!
//! let mut card = MockTransport::new("Mock Reader 00 00")
//!     .expect_apdu("80 5E 00 00 00", "6985");
//! assert_eq!(card.transmit(&[0x80, 0x5E, 0, 0, 0]).unwrap(), [0x69, 0x85]);
//! card.finish().unwrap();
//! ```

use std::collections::VecDeque;

use super::{Protocol, ReaderAttribute, Transport, TransportError};

/// One expected call and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `transmit(command)` → `reply`.
    Transmit {
        /// The exact command bytes.
        command: Vec<u8>,
        /// Response bytes or an error.
        reply: Result<Vec<u8>, TransportError>,
    },
    /// `control(code, data)` → `reply`.
    Control {
        /// Control code.
        code: u32,
        /// The exact data bytes.
        data: Vec<u8>,
        /// Response bytes or an error.
        reply: Result<Vec<u8>, TransportError>,
    },
    /// `attribute(attribute)` → `reply`.
    Attribute {
        /// The attribute.
        attribute: ReaderAttribute,
        /// Its value or an error.
        reply: Result<Vec<u8>, TransportError>,
    },
    /// `reset()` → `reply`.
    Reset {
        /// Success or an error.
        reply: Result<(), TransportError>,
    },
    /// `reconnect()` → `reply`.
    Reconnect {
        /// Success or an error.
        reply: Result<(), TransportError>,
    },
}

/// A transport that replays a script of [`Step`]s.
#[derive(Debug, Clone)]
pub struct MockTransport {
    reader: String,
    atr: Vec<u8>,
    protocol: Option<Protocol>,
    has_card: bool,
    extended: bool,
    steps: VecDeque<Step>,
    mismatches: Vec<String>,
    sent: Vec<Vec<u8>>,
    transactions: usize,
}

fn hex_bytes(text: &str) -> Vec<u8> {
    // Scripts in tests are literals; a typo is a bug in the test, reported as an empty APDU
    // that can never match.
    sam::parse_hex(text).unwrap_or_default()
}

impl MockTransport {
    /// A T=1 card in `reader` with the virtual cards' ATR and an empty script.
    pub fn new(reader: &str) -> Self {
        Self {
            reader: reader.to_owned(),
            atr: hex_bytes("3B8A80014550555253452D50313073"),
            protocol: Some(Protocol::T1),
            has_card: true,
            extended: false,
            steps: VecDeque::new(),
            mismatches: Vec::new(),
            sent: Vec::new(),
            transactions: 0,
        }
    }

    /// Sets the ATR.
    pub fn with_atr(mut self, atr: &[u8]) -> Self {
        self.atr = atr.to_vec();
        self
    }

    /// Sets the protocol.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// A direct connection to the reader, no card.
    pub fn without_card(mut self) -> Self {
        self.has_card = false;
        self.protocol = Some(Protocol::Raw);
        self.atr.clear();
        self
    }

    /// Lets the reader take extended-length APDUs.
    pub fn with_extended_length(mut self) -> Self {
        self.extended = true;
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push_back(step);
        self
    }

    /// Expects the APDU `command` (hex) and answers `response` (hex).
    pub fn expect_apdu(self, command: &str, response: &str) -> Self {
        self.step(Step::Transmit {
            command: hex_bytes(command),
            reply: Ok(hex_bytes(response)),
        })
    }

    /// Expects the APDU `command` (hex) and fails it with `error`.
    pub fn expect_apdu_error(self, command: &str, error: TransportError) -> Self {
        self.step(Step::Transmit {
            command: hex_bytes(command),
            reply: Err(error),
        })
    }

    /// Expects the escape command `data` (hex) under `code` and answers `response` (hex).
    pub fn expect_control(self, code: u32, data: &str, response: &str) -> Self {
        self.step(Step::Control {
            code,
            data: hex_bytes(data),
            reply: Ok(hex_bytes(response)),
        })
    }

    /// Expects a reconnect that succeeds.
    pub fn expect_reconnect(self) -> Self {
        self.step(Step::Reconnect { reply: Ok(()) })
    }

    /// Expects a reset that succeeds.
    pub fn expect_reset(self) -> Self {
        self.step(Step::Reset { reply: Ok(()) })
    }

    /// Every command sent so far, in order.
    pub fn sent(&self) -> &[Vec<u8>] {
        &self.sent
    }

    /// How many transactions were started.
    pub fn transactions(&self) -> usize {
        self.transactions
    }

    /// Steps not yet used.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }

    /// `Ok` when every step was used and nothing unexpected happened; otherwise what went wrong.
    pub fn finish(&self) -> Result<(), String> {
        let mut problems = self.mismatches.clone();
        if !self.steps.is_empty() {
            problems.push(format!(
                "{} step(s) never used: {:?}",
                self.steps.len(),
                self.steps
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Replays the next step when `take` accepts it (returning the step's reply, or the step
    /// back when it is not the one expected); otherwise records a mismatch naming `got` and
    /// leaves the steps as they were.
    fn next_reply<R>(
        &mut self,
        got: impl FnOnce() -> String,
        take: impl FnOnce(Step) -> Result<Result<R, TransportError>, Step>,
    ) -> Result<R, TransportError> {
        match self.steps.pop_front().map(take) {
            Some(Ok(reply)) => reply,
            Some(Err(step)) => {
                self.steps.push_front(step);
                Err(self.mismatch(got()))
            }
            None => Err(self.mismatch(got())),
        }
    }

    fn mismatch(&mut self, got: String) -> TransportError {
        let expected = self
            .steps
            .front()
            .map_or_else(|| "nothing more".to_owned(), describe);
        let text = format!("mock: expected {expected}, got {got}");
        self.mismatches.push(text.clone());
        TransportError::Other {
            reader: self.reader.clone(),
            operation: "mock exchange".to_owned(),
            detail: text,
        }
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Transmit { command, .. } => format!("APDU {}", hex::encode_upper(command)),
        Step::Control { code, data, .. } => {
            format!("escape {code:#X} {}", hex::encode_upper(data))
        }
        Step::Attribute { attribute, .. } => format!("attribute {attribute:?}"),
        Step::Reset { .. } => "reset".to_owned(),
        Step::Reconnect { .. } => "reconnect".to_owned(),
    }
}

impl Transport for MockTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.push(command.to_vec());
        self.next_reply(
            || format!("APDU {}", hex::encode_upper(command)),
            |step| match step {
                Step::Transmit { command: c, reply } if c == command => Ok(reply),
                other => Err(other),
            },
        )
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.next_reply(
            || "reset".to_owned(),
            |step| match step {
                Step::Reset { reply } => Ok(reply),
                other => Err(other),
            },
        )
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.next_reply(
            || "reconnect".to_owned(),
            |step| match step {
                Step::Reconnect { reply } => Ok(reply),
                other => Err(other),
            },
        )
    }

    fn reader_name(&self) -> &str {
        &self.reader
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    fn has_card(&self) -> bool {
        self.has_card
    }

    fn supports_extended_length(&self) -> bool {
        self.extended
    }

    fn control(&mut self, code: u32, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.next_reply(
            || format!("escape {code:#X} {}", hex::encode_upper(data)),
            |step| match step {
                Step::Control {
                    code: c,
                    data: d,
                    reply,
                } if c == code && d == data => Ok(reply),
                other => Err(other),
            },
        )
    }

    fn attribute(&mut self, attribute: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
        self.next_reply(
            || format!("attribute {attribute:?}"),
            |step| match step {
                Step::Attribute {
                    attribute: a,
                    reply,
                } if a == attribute => Ok(reply),
                other => Err(other),
            },
        )
    }

    fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError> {
        self.transactions += 1;
        Ok(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_and_reports_mismatches() {
        let mut m = MockTransport::new("R")
            .expect_apdu("00A4040008F04550555253450100", "9000")
            .expect_apdu_error(
                "805E000000",
                TransportError::CardRemoved { reader: "R".into() },
            );
        assert_eq!(
            m.transmit(&hex_bytes("00A4040008F04550555253450100"))
                .unwrap(),
            [0x90, 0x00]
        );
        assert_eq!(
            m.transmit(&hex_bytes("805E000000")).unwrap_err(),
            TransportError::CardRemoved { reader: "R".into() }
        );
        m.finish().unwrap();
        let err = m.transmit(&[0x00]).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected nothing more, got APDU 00"),
            "{err}"
        );
        assert!(m.finish().is_err());
        assert_eq!(m.sent().len(), 3);
    }

    #[test]
    fn unused_steps_fail_finish() {
        let m = MockTransport::new("R").expect_reconnect();
        assert!(m.finish().unwrap_err().contains("never used"));
    }
}
