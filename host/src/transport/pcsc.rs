//! The PC/SC transport on the `pcsc` crate (pcsc-lite's pcscd on Linux, WinSCard on Windows).
//!
//! - [`PcscContext`]: one `SCardEstablishContext` per process; reader listing with card state
//!   and ATR ([`PcscContext::readers`]), reader choice, connections, and reader/card events
//!   ([`PcscContext::wait_for_events`]).
//! - [`PcscTransport`]: one card connection (shared, exclusive or direct), reused for every
//!   command (no per-command setup; one receive buffer), with reset, reconnect, escape commands
//!   and reader attributes. [`Transport::transaction`] wraps `SCardBeginTransaction`.
//!
//! PC/SC errors become [`TransportError`]s naming the reader.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Attribute, Card, Context, Disposition, Protocols, ReaderState, Scope, State};

use super::{choose_reader, Protocol, ReaderAttribute, ShareMode, Transport, TransportError};

/// The escape control code of CCID drivers (ccid, acsccid): `SCARD_CTL_CODE(3500)`.
pub fn escape_control_code() -> u32 {
    // DWORD is u64 on 64-bit Linux; the code itself always fits in 32 bits.
    pcsc::ctl_code(3500) as u32
}

/// Maps a PC/SC error of `operation` on `reader` to a [`TransportError`].
pub fn map_error(error: pcsc::Error, reader: &str, operation: &str) -> TransportError {
    use pcsc::Error as E;
    let reader = reader.to_owned();
    match error {
        E::NoService | E::ServiceStopped | E::InvalidHandle => TransportError::NoService {
            detail: error.to_string(),
        },
        E::NoReadersAvailable => TransportError::NoReaders,
        E::UnknownReader | E::ReaderUnavailable => TransportError::ReaderGone { reader },
        E::SharingViolation => TransportError::ReaderBusy { reader },
        E::NoSmartcard if operation == "connect" => TransportError::NoCard { reader },
        E::NoSmartcard | E::RemovedCard => TransportError::CardRemoved { reader },
        E::ResetCard | E::UnpoweredCard => TransportError::CardReset { reader },
        // pcsc-lite's answer when the driver's exchange with the card broke off (vpcd: the
        // card side closed its connection, i.e. the card was pulled mid-command).
        E::NotTransacted | E::CommError | E::CommDataLost if operation == "transmit" => {
            TransportError::ResponseLost { reader, len: 0 }
        }
        E::UnresponsiveCard | E::UnsupportedCard | E::InvalidAtr | E::ProtoMismatch => {
            TransportError::CardMute { reader }
        }
        E::Timeout => TransportError::Timeout {
            operation: format!("{operation} on reader {reader:?}"),
        },
        E::UnsupportedFeature | E::ReaderUnsupported => TransportError::Unsupported {
            reader,
            operation: operation.to_owned(),
            hint: "the reader or its driver does not offer it".to_owned(),
        },
        other => TransportError::Other {
            reader,
            operation: operation.to_owned(),
            detail: format!("{other} ({other:?})"),
        },
    }
}

/// One reader as listed by [`PcscContext::readers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// Position in the list (what `--reader INDEX` refers to).
    pub index: usize,
    /// Reader name.
    pub name: String,
    /// A card is in the reader.
    pub card_present: bool,
    /// The card's ATR (empty without a card).
    pub atr: Vec<u8>,
    /// The card is present but does not answer.
    pub mute: bool,
    /// Another application holds the card exclusively.
    pub exclusive: bool,
    /// Some application is connected to the card.
    pub in_use: bool,
}

impl ReaderInfo {
    fn from_state(index: usize, name: String, state: &ReaderState) -> Self {
        let ev = state.event_state();
        let card_present = ev.contains(State::PRESENT);
        Self {
            index,
            name,
            card_present,
            atr: if card_present {
                state.atr().to_vec()
            } else {
                Vec::new()
            },
            mute: ev.contains(State::MUTE),
            exclusive: ev.contains(State::EXCLUSIVE),
            in_use: ev.contains(State::INUSE),
        }
    }
}

/// A card or reader event seen by [`PcscContext::wait_for_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card was inserted.
    CardInserted {
        /// Reader name.
        reader: String,
        /// The card's ATR.
        atr: Vec<u8>,
    },
    /// A card was removed.
    CardRemoved {
        /// Reader name.
        reader: String,
    },
    /// A reader appeared.
    ReaderAdded {
        /// Reader name.
        reader: String,
    },
    /// A reader disappeared.
    ReaderRemoved {
        /// Reader name.
        reader: String,
    },
}

/// The readers being watched by [`PcscContext::wait_for_events`]: their last known state.
pub struct Watch {
    states: Vec<ReaderState>,
    /// Whether the service supports the PnP pseudo-reader (new/removed readers).
    pnp: bool,
}

impl Watch {
    /// The current readers (names and state), as of the last wait.
    pub fn readers(&self) -> Vec<ReaderInfo> {
        self.states
            .iter()
            .filter(|s| s.name() != pcsc::PNP_NOTIFICATION())
            .enumerate()
            .map(|(i, s)| ReaderInfo::from_state(i, s.name().to_string_lossy().into_owned(), s))
            .collect()
    }
}

/// A PC/SC context: the connection to the smart-card service.
#[derive(Clone)]
pub struct PcscContext {
    ctx: Context,
}

impl PcscContext {
    /// Connects to the service (`SCardEstablishContext`, user scope).
    pub fn establish() -> Result<Self, TransportError> {
        Context::establish(Scope::User)
            .map(|ctx| Self { ctx })
            .map_err(|e| map_error(e, "", "establish a PC/SC context"))
    }

    /// Reader names, in the service's order; empty when there is none.
    pub fn reader_names(&self) -> Result<Vec<String>, TransportError> {
        match self.ctx.list_readers_owned() {
            Ok(names) => Ok(names
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect()),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => Err(map_error(e, "", "list readers")),
        }
    }

    /// Every reader with its card state and ATR (one `SCardGetStatusChange` without waiting).
    pub fn readers(&self) -> Result<Vec<ReaderInfo>, TransportError> {
        let names = self.reader_names()?;
        self.states_of(names)
    }

    fn states_of(&self, names: Vec<String>) -> Result<Vec<ReaderInfo>, TransportError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut states = names
            .iter()
            .map(|n| Ok(ReaderState::new(cstring(n)?, State::UNAWARE)))
            .collect::<Result<Vec<_>, TransportError>>()?;
        self.ctx
            .get_status_change(Duration::ZERO, &mut states)
            .map_err(|e| map_error(e, "", "read the reader states"))?;
        Ok(names
            .into_iter()
            .zip(states.iter())
            .enumerate()
            .map(|(i, (name, state))| ReaderInfo::from_state(i, name, state))
            .collect())
    }

    /// Picks a reader by `--reader` (index or part of the name); without a choice, the first
    /// reader holding a card, else the first reader. See [`choose_reader`].
    pub fn choose(&self, choice: Option<&str>) -> Result<ReaderInfo, TransportError> {
        let readers = self.readers()?;
        let names: Vec<String> = readers.iter().map(|r| r.name.clone()).collect();
        let i = choose_reader(&names, choice, |i| readers[i].card_present)?;
        Ok(readers[i].clone())
    }

    /// Connects to the card in `reader` (T=0 or T=1, whichever the card and reader agree on).
    pub fn connect(&self, reader: &str, share: ShareMode) -> Result<PcscTransport, TransportError> {
        PcscTransport::connect(self.ctx.clone(), reader, share)
    }

    /// Starts watching every reader (and, where the service supports it, reader arrivals).
    pub fn watch(&self) -> Result<Watch, TransportError> {
        let names = self.reader_names()?;
        let mut states = names
            .iter()
            .map(|n| Ok(ReaderState::new(cstring(n)?, State::UNAWARE)))
            .collect::<Result<Vec<_>, TransportError>>()?;
        states.push(ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        let mut pnp = true;
        if let Err(e) = self.ctx.get_status_change(Duration::ZERO, &mut states) {
            if e != pcsc::Error::Timeout {
                // Some services refuse the PnP pseudo-reader: watch the readers alone.
                states.pop();
                pnp = false;
                if !states.is_empty() {
                    self.ctx
                        .get_status_change(Duration::ZERO, &mut states)
                        .map_err(|e| map_error(e, "", "read the reader states"))?;
                }
            }
        }
        for s in &mut states {
            s.sync_current_state();
        }
        Ok(Watch { states, pnp })
    }

    /// Waits until at least one event happens or `timeout` passes (`None`: forever); returns
    /// the events in order (empty on timeout).
    pub fn wait_for_events(
        &self,
        watch: &mut Watch,
        timeout: Option<Duration>,
    ) -> Result<Vec<ReaderEvent>, TransportError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(Vec::new());
                    }
                    Some(d - now)
                }
                None => None,
            };
            if watch.states.is_empty() {
                // Nothing to watch and no PnP: poll for readers appearing.
                std::thread::sleep(
                    remaining
                        .unwrap_or(Duration::from_millis(500))
                        .min(Duration::from_millis(500)),
                );
                let names = self.reader_names()?;
                if names.is_empty() {
                    continue;
                }
                *watch = self.watch()?;
                return Ok(names
                    .into_iter()
                    .map(|reader| ReaderEvent::ReaderAdded { reader })
                    .collect());
            }
            match self.ctx.get_status_change(remaining, &mut watch.states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Ok(Vec::new()),
                Err(e) => return Err(map_error(e, "", "wait for reader events")),
            }
            let mut events = Vec::new();
            let mut readers_changed = false;
            for s in &mut watch.states {
                let ev = s.event_state();
                if !ev.contains(State::CHANGED) {
                    continue;
                }
                if s.name() == pcsc::PNP_NOTIFICATION() {
                    readers_changed = true;
                    s.sync_current_state();
                    continue;
                }
                let name = s.name().to_string_lossy().into_owned();
                let before = s.current_state();
                let was = before.contains(State::PRESENT);
                let is = ev.contains(State::PRESENT);
                let gone = ev.contains(State::UNKNOWN) || ev.contains(State::UNAVAILABLE);
                // pcsc-lite counts insertions and removals in the high 16 bits; a quick
                // remove-and-reinsert between two waits shows only as a count change.
                let count_before = (before.bits() >> 16) & 0xFFFF;
                let quick_swap = was && is && u64::from(s.event_count()) > count_before + 1;
                if gone {
                    readers_changed = true;
                } else if was && !is {
                    events.push(ReaderEvent::CardRemoved { reader: name });
                } else if !was && is {
                    events.push(ReaderEvent::CardInserted {
                        reader: name,
                        atr: s.atr().to_vec(),
                    });
                } else if quick_swap {
                    events.push(ReaderEvent::CardRemoved {
                        reader: name.clone(),
                    });
                    events.push(ReaderEvent::CardInserted {
                        reader: name,
                        atr: s.atr().to_vec(),
                    });
                }
                s.sync_current_state();
            }
            if readers_changed {
                let old: Vec<String> = watch.readers().into_iter().map(|r| r.name).collect();
                let old_present: Vec<bool> = watch
                    .readers()
                    .into_iter()
                    .map(|r| r.card_present)
                    .collect();
                let new_watch = self.watch()?;
                let new: Vec<ReaderInfo> = new_watch.readers();
                for (name, present) in old.iter().zip(old_present) {
                    if !new.iter().any(|r| &r.name == name) {
                        if present {
                            events.push(ReaderEvent::CardRemoved {
                                reader: name.clone(),
                            });
                        }
                        events.push(ReaderEvent::ReaderRemoved {
                            reader: name.clone(),
                        });
                    }
                }
                for r in &new {
                    if !old.contains(&r.name) {
                        events.push(ReaderEvent::ReaderAdded {
                            reader: r.name.clone(),
                        });
                        if r.card_present {
                            events.push(ReaderEvent::CardInserted {
                                reader: r.name.clone(),
                                atr: r.atr.clone(),
                            });
                        }
                    }
                }
                *watch = new_watch;
            }
            if !events.is_empty() {
                return Ok(events);
            }
            if !watch.pnp && watch.states.is_empty() {
                continue;
            }
        }
    }
}

fn cstring(name: &str) -> Result<CString, TransportError> {
    CString::new(name).map_err(|_| TransportError::ReaderNotFound {
        wanted: name.to_owned(),
        available: Vec::new(),
    })
}

fn pcsc_share(share: ShareMode) -> pcsc::ShareMode {
    match share {
        ShareMode::Shared => pcsc::ShareMode::Shared,
        ShareMode::Exclusive => pcsc::ShareMode::Exclusive,
        ShareMode::Direct => pcsc::ShareMode::Direct,
    }
}

fn protocols_for(share: ShareMode) -> Protocols {
    match share {
        // A direct connection negotiates nothing.
        ShareMode::Direct => Protocols::UNDEFINED,
        _ => Protocols::T0 | Protocols::T1,
    }
}

fn our_protocol(p: Option<pcsc::Protocol>) -> Option<Protocol> {
    p.map(|p| match p {
        pcsc::Protocol::T0 => Protocol::T0,
        pcsc::Protocol::T1 => Protocol::T1,
        pcsc::Protocol::RAW => Protocol::Raw,
    })
}

/// Short APDU buffer (256 data + SW) and extended (65536 + SW).
const SHORT_RESPONSE: usize = pcsc::MAX_BUFFER_SIZE;
const EXTENDED_RESPONSE: usize = pcsc::MAX_BUFFER_SIZE_EXTENDED;
/// A reader whose `MAXINPUT` exceeds a short APDU (4 + 1 + 255 + 1) accepts extended ones.
const SHORT_COMMAND_MAX: usize = 261;

/// A connection to the card in one PC/SC reader.
pub struct PcscTransport {
    ctx: Context,
    card: Option<Card>,
    reader: String,
    reader_c: CString,
    share: ShareMode,
    atr: Vec<u8>,
    protocol: Option<Protocol>,
    extended: bool,
    buf: Vec<u8>,
}

impl PcscTransport {
    fn connect(ctx: Context, reader: &str, share: ShareMode) -> Result<Self, TransportError> {
        let reader_c = cstring(reader)?;
        let card = ctx
            .connect(&reader_c, pcsc_share(share), protocols_for(share))
            .map_err(|e| map_error(e, reader, "connect"))?;
        let mut t = Self {
            ctx,
            card: Some(card),
            reader: reader.to_owned(),
            reader_c,
            share,
            atr: Vec::new(),
            protocol: None,
            extended: false,
            buf: vec![0; SHORT_RESPONSE],
        };
        t.refresh_status()?;
        Ok(t)
    }

    /// The share mode of this connection.
    pub fn share_mode(&self) -> ShareMode {
        self.share
    }

    fn card(&self) -> Result<&Card, TransportError> {
        connected(self.card.as_ref(), &self.reader)
    }

    /// Reads ATR, protocol and (once) whether the reader takes extended APDUs.
    fn refresh_status(&mut self) -> Result<(), TransportError> {
        let card = connected(self.card.as_ref(), &self.reader)?;
        if self.share == ShareMode::Direct {
            self.protocol = Some(Protocol::Raw);
            self.atr.clear();
            return Ok(());
        }
        let status = card
            .status2_owned()
            .map_err(|e| map_error(e, &self.reader, "read the card status"))?;
        self.atr = status.atr().to_vec();
        self.protocol = our_protocol(status.protocol2());
        self.extended = card
            .get_attribute_owned(Attribute::Maxinput)
            .ok()
            .and_then(|v| le_u32(&v))
            .is_some_and(|max| max as usize > SHORT_COMMAND_MAX);
        let want = if self.extended {
            EXTENDED_RESPONSE
        } else {
            SHORT_RESPONSE
        };
        if self.buf.len() != want {
            self.buf = vec![0; want];
        }
        Ok(())
    }

    fn reconnect_with(&mut self, disposition: Disposition) -> Result<(), TransportError> {
        let operation = if disposition == Disposition::ResetCard {
            "reset"
        } else {
            "reconnect"
        };
        let result = match self.card.as_mut() {
            Some(card) => card.reconnect(
                pcsc_share(self.share),
                protocols_for(self.share),
                disposition,
            ),
            None => Err(pcsc::Error::InvalidHandle),
        };
        if let Err(e) = result {
            // After a removal the old handle is dead: connect afresh (a new card may be there).
            if matches!(
                e,
                pcsc::Error::RemovedCard | pcsc::Error::InvalidHandle | pcsc::Error::NoSmartcard
            ) {
                self.card = None;
                let card = self
                    .ctx
                    .connect(
                        &self.reader_c,
                        pcsc_share(self.share),
                        protocols_for(self.share),
                    )
                    .map_err(|e| map_error(e, &self.reader, "connect"))?;
                self.card = Some(card);
            } else {
                return Err(map_error(e, &self.reader, operation));
            }
        }
        self.refresh_status()
    }
}

fn le_u32(v: &[u8]) -> Option<u32> {
    let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn pcsc_attribute(a: ReaderAttribute) -> Attribute {
    match a {
        ReaderAttribute::VendorName => Attribute::VendorName,
        ReaderAttribute::VendorIfdType => Attribute::VendorIfdType,
        ReaderAttribute::VendorIfdVersion => Attribute::VendorIfdVersion,
        ReaderAttribute::VendorIfdSerialNo => Attribute::VendorIfdSerialNo,
        ReaderAttribute::MaxInput => Attribute::Maxinput,
    }
}

fn transmit_on(
    card: &Card,
    reader: &str,
    command: &[u8],
    buf: &mut [u8],
) -> Result<Vec<u8>, TransportError> {
    let response = card
        .transmit(command, buf)
        .map(<[u8]>::to_vec)
        .map_err(|e| map_error(e, reader, "transmit"))?;
    if response.len() < 2 {
        // Some drivers (vpcd among them) report a card that went away mid-command as an empty
        // response: ask the service whether the card is still there.
        card.status2_owned()
            .map_err(|e| map_error(e, reader, "transmit"))?;
        log::debug!(target: "apdu", "{reader}: {} byte response, card still present", response.len());
    }
    Ok(response)
}

fn control_on(
    card: &Card,
    reader: &str,
    code: u32,
    data: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let mut buf = [0u8; 1024];
    card.control(code.into(), data, &mut buf)
        .map(<[u8]>::to_vec)
        .map_err(|e| match map_error(e, reader, "escape command") {
            TransportError::Other { detail, .. } => TransportError::Unsupported {
                reader: reader.to_owned(),
                operation: "escape command".to_owned(),
                hint: format!(
                    "the driver refused it ({detail}); escape commands need the vendor's driver \
                     (e.g. acsccid) or ifdDriverOptions 0x0001 in the ccid driver's Info.plist"
                ),
            },
            other => other,
        })
}

fn attribute_on(card: &Card, reader: &str, a: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
    card.get_attribute_owned(pcsc_attribute(a))
        .map_err(|e| match e {
            pcsc::Error::UnsupportedFeature
            | pcsc::Error::InvalidParameter
            | pcsc::Error::NotTransacted
            | pcsc::Error::InsufficientBuffer => TransportError::Unsupported {
                reader: reader.to_owned(),
                operation: format!("reading the {a:?} attribute"),
                hint: "the reader's driver does not report it".to_owned(),
            },
            other => map_error(other, reader, "read a reader attribute"),
        })
}

/// The card of a connection (`as_ref`/`as_mut` of the option), or `CardRemoved` for `reader`
/// when the connection has none.
fn connected<C>(card: Option<C>, reader: &str) -> Result<C, TransportError> {
    card.ok_or_else(|| TransportError::CardRemoved {
        reader: reader.to_owned(),
    })
}

impl Transport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = connected(self.card.as_ref(), &self.reader)?;
        transmit_on(card, &self.reader, command, &mut self.buf)
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::ResetCard)
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::LeaveCard)
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
        self.share != ShareMode::Direct
    }

    fn supports_extended_length(&self) -> bool {
        self.extended
    }

    fn control(&mut self, code: u32, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        control_on(self.card()?, &self.reader, code, data)
    }

    fn attribute(&mut self, attribute: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
        attribute_on(self.card()?, &self.reader, attribute)
    }

    fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError> {
        let reader = self.reader.as_str();
        let card = connected(self.card.as_mut(), reader)?;
        let tx = card
            .transaction()
            .map_err(|e| map_error(e, reader, "begin a transaction"))?;
        Ok(Box::new(PcscTransaction {
            tx,
            reader,
            share: self.share,
            atr: &mut self.atr,
            protocol: &mut self.protocol,
            extended: self.extended,
            buf: &mut self.buf,
        }))
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        // Leave the card as it is (the pcsc crate's default would reset it): another tool or the
        // next command line may continue with the same card session.
        if let Some(card) = self.card.take() {
            let _ = card.disconnect(Disposition::LeaveCard);
        }
    }
}

/// A PC/SC transaction (`SCardBeginTransaction` … `SCardEndTransaction`), ended on drop.
struct PcscTransaction<'a> {
    tx: pcsc::Transaction<'a>,
    reader: &'a str,
    share: ShareMode,
    atr: &'a mut Vec<u8>,
    protocol: &'a mut Option<Protocol>,
    extended: bool,
    buf: &'a mut Vec<u8>,
}

impl PcscTransaction<'_> {
    fn reconnect_with(&mut self, disposition: Disposition) -> Result<(), TransportError> {
        self.tx
            .reconnect(
                pcsc_share(self.share),
                protocols_for(self.share),
                disposition,
            )
            .map_err(|e| map_error(e, self.reader, "reconnect"))?;
        let status = self
            .tx
            .status2_owned()
            .map_err(|e| map_error(e, self.reader, "read the card status"))?;
        *self.atr = status.atr().to_vec();
        *self.protocol = our_protocol(status.protocol2());
        Ok(())
    }
}

impl Transport for PcscTransaction<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        transmit_on(&self.tx, self.reader, command, self.buf)
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::ResetCard)
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::LeaveCard)
    }

    fn reader_name(&self) -> &str {
        self.reader
    }

    fn atr(&self) -> &[u8] {
        self.atr
    }

    fn protocol(&self) -> Option<Protocol> {
        *self.protocol
    }

    fn supports_extended_length(&self) -> bool {
        self.extended
    }

    fn control(&mut self, code: u32, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        control_on(&self.tx, self.reader, code, data)
    }

    fn attribute(&mut self, attribute: ReaderAttribute) -> Result<Vec<u8>, TransportError> {
        attribute_on(&self.tx, self.reader, attribute)
    }

    fn transaction(&mut self) -> Result<Box<dyn Transport + '_>, TransportError> {
        // Already inside one.
        Ok(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_mapping() {
        use pcsc::Error as E;
        use TransportError as T;
        assert!(matches!(
            map_error(E::NoService, "", "x"),
            T::NoService { .. }
        ));
        type Expected = fn(String) -> TransportError;
        #[rustfmt::skip]
        let cases: [(pcsc::Error, &str, Expected); 7] = [
            (E::NoSmartcard, "connect", |reader| T::NoCard { reader }),
            (E::NoSmartcard, "transmit", |reader| T::CardRemoved { reader }),
            (E::RemovedCard, "transmit", |reader| T::CardRemoved { reader }),
            (E::ResetCard, "transmit", |reader| T::CardReset { reader }),
            (E::ReaderUnavailable, "transmit", |reader| T::ReaderGone { reader }),
            (E::SharingViolation, "connect", |reader| T::ReaderBusy { reader }),
            (E::NotTransacted, "transmit", |reader| T::ResponseLost { reader, len: 0 }),
        ];
        for (error, operation, expected) in cases {
            assert_eq!(
                map_error(error, "R", operation),
                expected("R".into()),
                "{error:?} during {operation}"
            );
        }
        assert!(matches!(
            map_error(E::CommError, "R", "connect"),
            T::Other { .. }
        ));
    }

    #[test]
    fn escape_code_is_the_ccid_one() {
        // pcsc-lite: SCARD_CTL_CODE(code) = 0x42000000 + code.
        #[cfg(not(target_os = "windows"))]
        assert_eq!(escape_control_code(), 0x4200_0000 + 3500);
    }
}
