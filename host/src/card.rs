//! The read-only card client the field tools use: which epurse applet a card carries (purse
//! or transfer), its FCI, its GET STATUS, and the purse's transaction log. Status words other
//! than success become [`CardError::Status`] with the command's name, never a generic error.
//!
//! The value and issuer commands the teller workflows need (GET CHALLENGE, INITIALIZE / CREDIT
//! LOAD, GET TRANSACTION PROOF, PERSONALIZE and the issuer commands) are methods of the same
//! client, in their own `impl` block.

use apdu_spec::{
    Applet, Challenge, Command, CreditLoad, CreditLoadResponse, Fci, GetChallenge, GetStatus,
    GetTransactionProof, InitLoadResponse, InitializeLoad, LogEntry, Purse, PurseStatus, ReadLog,
    RecordType, Select, SpecError, StatusWord, TransactionProof, TransferStatus,
};
use thiserror::Error;

use crate::exchange::{Channel, ExchangeError};
use crate::transport::{ErrorKind, Transport};

/// Most log entries a purse keeps (SPEC 1.5).
pub const MAX_LOG_ENTRIES: u8 = 16;

/// Why a card operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    /// The exchange failed (transport, reader, card gone).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The card answered with a status word other than success.
    #[error("{command}: the card answered {sw}; {}", sw.host_action())]
    Status {
        /// The command's name.
        command: &'static str,
        /// The status word.
        sw: StatusWord,
    },
    /// The response does not have the contract's layout.
    #[error(
        "{command}: the card's response is not what the epurse contract says ({error}); is this \
         an epurse card of a compatible version?"
    )]
    Malformed {
        /// The command's name.
        command: &'static str,
        /// What is wrong with it.
        error: SpecError,
    },
    /// Neither the purse nor the transfer applet is on the card.
    #[error(
        "no epurse applet on this card (SELECT purse: {purse}; SELECT transfer: {transfer}): is \
         it an epurse card? check that it is inserted the right way"
    )]
    NoApplet {
        /// SW of SELECT purse.
        purse: StatusWord,
        /// SW of SELECT transfer.
        transfer: StatusWord,
    },
}

impl CardError {
    /// Which layer the error points at (`Status`/`Malformed`/`NoApplet` are the card's answer).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CardError::Exchange(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// A selected applet and what its FCI says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The decoded FCI.
    pub fci: Fci,
    /// SELECT answered `6283`: the purse is blocked.
    pub blocked: bool,
}

/// What [`CardClient::identify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardInfo {
    /// A purse card.
    Purse {
        /// Its FCI.
        selection: Selection,
        /// GET STATUS.
        status: PurseStatus,
    },
    /// A transfer card.
    Transfer {
        /// Its FCI.
        selection: Selection,
        /// GET STATUS.
        status: TransferStatus,
    },
}

/// Read-only access to an epurse card over a [`Channel`].
pub struct CardClient<T: Transport> {
    channel: Channel<T>,
}

impl<T: Transport> CardClient<T> {
    /// A client over `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            channel: Channel::new(transport),
        }
    }

    /// The channel underneath.
    pub fn channel(&mut self) -> &mut Channel<T> {
        &mut self.channel
    }

    /// SELECTs `applet`; `Err(Status)` with the SW when it is not there.
    pub fn select(&mut self, applet: Applet) -> Result<Selection, CardError> {
        const CMD: &str = "SELECT";
        let r = self.channel.send(&Select { applet })?;
        let blocked = match r.sw {
            StatusWord::Ok => false,
            StatusWord::SelectedBlocked => true,
            sw => return Err(CardError::Status { command: CMD, sw }),
        };
        let fci = Fci::parse(&r.data).map_err(|error| CardError::Malformed {
            command: CMD,
            error,
        })?;
        if fci.applet != applet {
            return Err(CardError::Malformed {
                command: CMD,
                error: SpecError::UnknownAid(applet.aid().to_vec()),
            });
        }
        Ok(Selection { fci, blocked })
    }

    fn get_status_data(&mut self) -> Result<Vec<u8>, CardError> {
        let r = self.channel.send(&GetStatus)?;
        match r.sw {
            StatusWord::Ok => Ok(r.data),
            sw => Err(CardError::Status {
                command: "GET STATUS",
                sw,
            }),
        }
    }

    /// GET STATUS of the selected purse applet.
    pub fn purse_status(&mut self) -> Result<PurseStatus, CardError> {
        let data = self.get_status_data()?;
        PurseStatus::parse(&data).map_err(|error| CardError::Malformed {
            command: "GET STATUS",
            error,
        })
    }

    /// GET STATUS of the selected transfer applet.
    pub fn transfer_status(&mut self) -> Result<TransferStatus, CardError> {
        let data = self.get_status_data()?;
        TransferStatus::parse(&data).map_err(|error| CardError::Malformed {
            command: "GET STATUS",
            error,
        })
    }

    /// Selects the purse applet, or else the transfer applet, and reads its status.
    pub fn identify(&mut self) -> Result<CardInfo, CardError> {
        match self.select(Applet::Purse) {
            Ok(selection) => {
                let status = self.purse_status()?;
                Ok(CardInfo::Purse { selection, status })
            }
            Err(CardError::Status { sw: purse, .. }) => match self.select(Applet::Transfer) {
                Ok(selection) => {
                    let status = self.transfer_status()?;
                    Ok(CardInfo::Transfer { selection, status })
                }
                Err(CardError::Status { sw: transfer, .. }) => {
                    Err(CardError::NoApplet { purse, transfer })
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// READ LOG of the selected purse, most recent first, until the card says there are no
    /// more entries (`6A83`) or 16 entries were read.
    pub fn read_log(&mut self) -> Result<Vec<LogEntry>, CardError> {
        const CMD: &str = "READ LOG";
        let mut entries = Vec::new();
        for index in 0..MAX_LOG_ENTRIES {
            let r = self.channel.send(&ReadLog { index })?;
            match r.sw {
                StatusWord::Ok => entries.push(LogEntry::parse(&r.data).map_err(|error| {
                    CardError::Malformed {
                        command: CMD,
                        error,
                    }
                })?),
                StatusWord::NoRecord => break,
                sw => return Err(CardError::Status { command: CMD, sw }),
            }
        }
        Ok(entries)
    }
}

/// The value and issuer commands of a purse card (loads, recovery evidence, personalisation,
/// issuer commands). Each returns the card's refusal as [`CardError::Status`] with its status
/// word, so a workflow can tell a definitive refusal from a lost exchange
/// ([`CardError::Exchange`], e.g. [`ExchangeError::OutcomeUnknown`]).
impl<T: Transport> CardClient<T> {
    /// GET CHALLENGE: the card's random for the next (personalisation or issuer) command.
    pub fn get_challenge(&mut self) -> Result<Challenge, CardError> {
        const CMD: &str = "GET CHALLENGE";
        let r = self.channel.send(&GetChallenge)?;
        match r.sw {
            StatusWord::Ok => Challenge::parse(&r.data).map_err(|error| CardError::Malformed {
                command: CMD,
                error,
            }),
            sw => Err(CardError::Status { command: CMD, sw }),
        }
    }

    /// INITIALIZE LOAD on the selected purse applet.
    pub fn initialize_load(
        &mut self,
        command: &InitializeLoad,
    ) -> Result<InitLoadResponse, CardError> {
        const CMD: &str = "INITIALIZE LOAD";
        let r = self.channel.send(command)?;
        match r.sw {
            StatusWord::Ok => {
                InitLoadResponse::parse(&r.data).map_err(|error| CardError::Malformed {
                    command: CMD,
                    error,
                })
            }
            sw => Err(CardError::Status { command: CMD, sw }),
        }
    }

    /// CREDIT LOAD (the back office's MAC2) in the load session INITIALIZE LOAD opened.
    pub fn credit_load(&mut self, command: &CreditLoad) -> Result<CreditLoadResponse, CardError> {
        const CMD: &str = "CREDIT LOAD";
        let r = self.channel.send(command)?;
        match r.sw {
            StatusWord::Ok => {
                CreditLoadResponse::parse(&r.data).map_err(|error| CardError::Malformed {
                    command: CMD,
                    error,
                })
            }
            sw => Err(CardError::Status { command: CMD, sw }),
        }
    }

    /// GET TRANSACTION PROOF: the log entry of the `record_type` transaction of `purse` with
    /// counter `counter`, or `None` when the card's log does not hold it (`6A88`).
    pub fn transaction_proof(
        &mut self,
        purse: Purse,
        record_type: RecordType,
        counter: u16,
    ) -> Result<Option<TransactionProof>, CardError> {
        const CMD: &str = "GET TRANSACTION PROOF";
        let r = self.channel.send(&GetTransactionProof {
            purse,
            record_type,
            counter,
        })?;
        match r.sw {
            StatusWord::Ok => {
                TransactionProof::parse(&r.data)
                    .map(Some)
                    .map_err(|error| CardError::Malformed {
                        command: CMD,
                        error,
                    })
            }
            StatusWord::NotFound => Ok(None),
            sw => Err(CardError::Status { command: CMD, sw }),
        }
    }

    /// Sends a command that answers no data (PERSONALIZE, the issuer commands), named
    /// `name` in errors; `9000` is success, any other status word is [`CardError::Status`].
    pub fn command_without_data(
        &mut self,
        name: &'static str,
        command: &Command,
    ) -> Result<(), CardError> {
        let r = self.channel.exchange(command)?;
        match r.sw {
            StatusWord::Ok => Ok(()),
            sw => Err(CardError::Status { command: name, sw }),
        }
    }
}

/// UNCONNECTED LOAD (SPEC 2.12), the pocket reader's one value command.
impl<T: Transport> CardClient<T> {
    /// UNCONNECTED LOAD on the selected purse applet: the card checks `AUTH` and, when right,
    /// credits the purse and answers its balance and `code8(CONFIRM)`. A wrong code is
    /// [`CardError::Status`] with `63Cx` (x tries left), a disabled mode `9408`.
    pub fn unconnected_load(
        &mut self,
        command: &apdu_spec::UnconnectedLoad,
    ) -> Result<apdu_spec::UnconnectedLoadResponse, CardError> {
        const CMD: &str = "UNCONNECTED LOAD";
        let r = self.channel.send(command)?;
        match r.sw {
            StatusWord::Ok => apdu_spec::UnconnectedLoadResponse::parse(&r.data).map_err(|error| {
                CardError::Malformed {
                    command: CMD,
                    error,
                }
            }),
            sw => Err(CardError::Status { command: CMD, sw }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mock::MockTransport;
    use crate::transport::TransportError;
    use apdu_spec::{BatchState, Capabilities, Lifecycle, Serial};

    const SELECT_PURSE: &str = "00A4040008F04550555253450100";
    const SELECT_TRANSFER: &str = "00A4040008F04550555253450200";

    fn purse_fci(lifecycle: Lifecycle) -> String {
        let fci = Fci {
            applet: Applet::Purse,
            serial: Serial([1, 2, 3, 4, 5, 6, 7, 8]),
            version: (1, 0),
            lifecycle,
            capabilities: Some(Capabilities(0x0F)),
            key_version: Some(1),
            batch_state: None,
            capacity: None,
        };
        hex::encode_upper(fci.to_bytes())
    }

    fn status_hex() -> String {
        // 81 bytes: ACTIVE, KV 1, PIN 3/3, UC 3/3, admin 0, no-PIN 5000, UC max 2000,
        // e-Cash balance 1250 ctrs 1/0 max 100000/20000, food 0, 1 MCC 5411, serial.
        let mut s = String::new();
        s += "02 01 03 03 03 03 0000 00001388 000007D0";
        s += "000004E2 0001 0000 000186A0 00004E20 00000000";
        s += "00000000 0000 0000 000186A0 00004E20 00000000";
        s += "01 5411 0000 0000 0000 0000 0000 0000 0000";
        s += "0102030405060708";
        s.replace(' ', "")
    }

    #[test]
    fn identifies_a_purse_card() {
        let mut c = CardClient::new(
            MockTransport::new("R")
                .expect_apdu(
                    SELECT_PURSE,
                    &format!("{}9000", purse_fci(Lifecycle::Active)),
                )
                .expect_apdu("805E000000", &format!("{}9000", status_hex())),
        );
        match c.identify().unwrap() {
            CardInfo::Purse { selection, status } => {
                assert!(!selection.blocked);
                assert_eq!(selection.fci.serial.to_string(), "0102030405060708");
                assert_eq!(status.ecash.balance.get(), 1250);
                assert_eq!(status.no_pin_limit.get(), 5000);
                assert_eq!(status.food_mccs.count(), 1);
            }
            other => panic!("{other:?}"),
        }
        c.channel().transport().finish().unwrap();
    }

    #[test]
    fn blocked_purse_is_reported_as_blocked() {
        let mut c = CardClient::new(MockTransport::new("R").expect_apdu(
            SELECT_PURSE,
            &format!("{}6283", purse_fci(Lifecycle::Blocked)),
        ));
        let s = c.select(Applet::Purse).unwrap();
        assert!(s.blocked);
        assert_eq!(s.fci.lifecycle, Lifecycle::Blocked);
    }

    #[test]
    fn falls_back_to_the_transfer_applet() {
        let fci = Fci {
            applet: Applet::Transfer,
            serial: Serial([9; 8]),
            version: (1, 0),
            lifecycle: Lifecycle::Active,
            capabilities: None,
            key_version: None,
            batch_state: Some(BatchState::Sealed),
            capacity: Some(8192),
        };
        let status = TransferStatus {
            lifecycle: Lifecycle::Active,
            batch_state: BatchState::Sealed,
            capacity: 8192,
            length: 154,
            xserial: Serial([9; 8]),
        };
        let mut c = CardClient::new(
            MockTransport::new("R")
                .expect_apdu(SELECT_PURSE, "6A82")
                .expect_apdu(
                    SELECT_TRANSFER,
                    &format!("{}9000", hex::encode(fci.to_bytes())),
                )
                .expect_apdu(
                    "805E000000",
                    &format!("{}9000", hex::encode(status.to_bytes())),
                ),
        );
        match c.identify().unwrap() {
            CardInfo::Transfer { status: s, .. } => assert_eq!(s, status),
            other => panic!("{other:?}"),
        }
        c.channel().transport().finish().unwrap();
    }

    #[test]
    fn no_applet_and_malformed_answers() {
        let mut c = CardClient::new(
            MockTransport::new("R")
                .expect_apdu(SELECT_PURSE, "6A82")
                .expect_apdu(SELECT_TRANSFER, "6A82"),
        );
        let e = c.identify().unwrap_err();
        assert_eq!(
            e,
            CardError::NoApplet {
                purse: StatusWord::AppletNotFound,
                transfer: StatusWord::AppletNotFound
            }
        );
        assert!(e.to_string().contains("no epurse applet"));

        let mut c = CardClient::new(
            MockTransport::new("R")
                .expect_apdu(
                    SELECT_PURSE,
                    &format!("{}9000", purse_fci(Lifecycle::Active)),
                )
                .expect_apdu("805E000000", "02019000"),
        );
        assert!(matches!(
            c.identify(),
            Err(CardError::Malformed {
                command: "GET STATUS",
                ..
            })
        ));
    }

    #[test]
    fn reads_the_log_until_no_record() {
        let rec = "02 01 0001 000001F4 000004E2 53414D303031 00000001 20261123143000 5411 00";
        let entry = format!("{rec} 1122334455667788 9000").replace(' ', "");
        let mut c = CardClient::new(
            MockTransport::new("R")
                .expect_apdu("805C000000", &entry)
                .expect_apdu("805C010000", "6A83"),
        );
        let log = c.read_log().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].record.amount.get(), 500);
        c.channel().transport().finish().unwrap();

        let mut c = CardClient::new(MockTransport::new("R").expect_apdu("805C000000", "6985"));
        let e = c.read_log().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("READ LOG: the card answered 6985"),
            "{e}"
        );
    }

    #[test]
    fn removal_is_passed_up_with_its_kind() {
        let mut c = CardClient::new(MockTransport::new("R").expect_apdu_error(
            SELECT_PURSE,
            TransportError::CardRemoved { reader: "R".into() },
        ));
        let e = c.identify().unwrap_err();
        assert_eq!(e.kind(), Some(ErrorKind::Card));
    }
}
