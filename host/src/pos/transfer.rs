//! The transfer card (SPEC 3): the POS writes the SAM's sealed batch onto it, the settlement
//! station reads the batch, uploads it and writes the bank's acknowledgement back (CLEAR
//! BATCH), and the POS reads the acknowledgement (READ ACK) into the SAM.

use apdu_spec::{
    Applet, Batch, BatchState, ClearBatch, Fci, FinishBatch, GetChallenge, GetStatus, Lifecycle,
    ReadAck, ReadAckResponse, ReadBatch, Select, Serial, StatusWord, TransferStatus, WriteBatch,
};
use backoffice::settlement::{Settlement, UploadOutcome};
use backoffice::Backoffice;
use sam::{AckOutcome, SecurityModule};

use super::PosError;
use crate::card::CardError;
use crate::exchange::Channel;
use crate::transport::Transport;

fn status_error(command: &'static str, sw: StatusWord) -> PosError {
    PosError::Card(CardError::Status { command, sw })
}

fn malformed(command: &'static str, error: apdu_spec::SpecError) -> PosError {
    PosError::Card(CardError::Malformed { command, error })
}

/// What the transfer card says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferCard {
    /// XSERIAL.
    pub xserial: Serial,
    /// GET STATUS.
    pub status: TransferStatus,
}

fn select_transfer<T: Transport>(ch: &mut Channel<T>) -> Result<Fci, PosError> {
    let r = ch
        .send(&Select {
            applet: Applet::Transfer,
        })
        .map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(PosError::Transfer(format!(
            "SELECT transfer applet: the card answered {}; present a transfer card (not a purse card)",
            r.sw
        )));
    }
    Fci::parse(&r.data).map_err(|e| malformed("SELECT", e))
}

fn transfer_status<T: Transport>(ch: &mut Channel<T>) -> Result<TransferStatus, PosError> {
    let r = ch.send(&GetStatus).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(status_error("GET STATUS", r.sw));
    }
    TransferStatus::parse(&r.data).map_err(|e| malformed("GET STATUS", e))
}

/// SELECT and GET STATUS; a blank card is refused.
fn open<T: Transport>(ch: &mut Channel<T>) -> Result<TransferCard, PosError> {
    select_transfer(ch)?;
    let status = transfer_status(ch)?;
    if status.lifecycle != Lifecycle::Active {
        return Err(PosError::Transfer(
            "the transfer card is blank: personalise it at the bank first (epurse backoffice transfer-card-issue)".into(),
        ));
    }
    Ok(TransferCard {
        xserial: status.xserial,
        status,
    })
}

/// READ BATCH of the sealed batch (`length` bytes), in chunks of 240.
pub fn read_batch<T: Transport>(ch: &mut Channel<T>, length: u16) -> Result<Vec<u8>, PosError> {
    let mut out = Vec::with_capacity(usize::from(length));
    while out.len() < usize::from(length) {
        let offset =
            u16::try_from(out.len()).map_err(|_| PosError::Transfer("batch offset".into()))?;
        let r = ch
            .send(&ReadBatch {
                offset,
                max_len: None,
            })
            .map_err(CardError::from)?;
        if !r.sw.is_success() {
            return Err(status_error("READ BATCH", r.sw));
        }
        if r.data.is_empty() {
            return Err(PosError::Transfer(
                "READ BATCH returned no data before the end of the batch; the transfer card is faulty".into(),
            ));
        }
        out.extend_from_slice(&r.data);
    }
    out.truncate(usize::from(length));
    Ok(out)
}

fn read_ack<T: Transport>(ch: &mut Channel<T>) -> Result<Option<ReadAckResponse>, PosError> {
    let r = ch.send(&ReadAck).map_err(CardError::from)?;
    match r.sw {
        StatusWord::Ok => Ok(Some(
            ReadAckResponse::parse(&r.data).map_err(|e| malformed("READ ACK", e))?,
        )),
        StatusWord::NotFound => Ok(None),
        sw => Err(status_error("READ ACK", sw)),
    }
}

/// Writes `bytes` with WRITE BATCH chunks from offset 0 and FINISH BATCH. Every chunk names its
/// offset, so a chunk whose answer was lost is simply written again.
fn write_batch<T: Transport>(ch: &mut Channel<T>, bytes: &[u8]) -> Result<(), PosError> {
    let chunks = WriteBatch::split(bytes)
        .map_err(|e| PosError::Transfer(format!("cannot split the batch: {e}")))?;
    for chunk in &chunks {
        let mut tries = 0;
        loop {
            tries += 1;
            match ch.send(chunk) {
                Ok(r) if r.sw.is_success() => break,
                Ok(r) if r.sw == StatusWord::NoSpace => {
                    return Err(PosError::Transfer(
                        "the batch does not fit this transfer card (6A84); use a card with a larger capacity".into(),
                    ))
                }
                Ok(r) => return Err(status_error("WRITE BATCH", r.sw)),
                // Resend-safe: the same bytes at the same offset.
                Err(e) if tries < 2 && e.transport_error().is_some() => {
                    // One reconnect and resend; if the reader cannot even reconnect, the
                    // original failure is the one to report.
                    if ch.transport_mut().reconnect().is_err() {
                        return Err(CardError::from(e).into());
                    }
                    select_transfer(ch)?;
                    continue;
                }
                Err(e) => return Err(CardError::from(e).into()),
            }
        }
    }
    let length = u16::try_from(bytes.len())
        .map_err(|_| PosError::Transfer("batch longer than 65535 bytes".into()))?;
    let r = ch.send(&FinishBatch { length }).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(status_error("FINISH BATCH", r.sw));
    }
    Ok(())
}

/// What `epurse pos transfer` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    /// The transfer card.
    pub xserial: Serial,
    /// An acknowledgement found on the card and applied first.
    pub acknowledged: Option<AckOutcome>,
    /// The batch now on the card (None: nothing to transfer).
    pub batch: Option<Batch>,
    /// Whether the card already held this very batch.
    pub already_on_card: bool,
    /// Sealed batches still waiting for a transfer card after this one.
    pub waiting: usize,
}

/// `epurse pos transfer`: applies an acknowledgement the card carries, seals the SAM's open
/// records (at most what the card holds) and writes the oldest unacknowledged batch.
pub fn transfer<T: Transport, S: SecurityModule + ?Sized>(
    ch: &mut Channel<T>,
    sam: &mut S,
    datetime: apdu_spec::DateTime,
) -> Result<TransferReport, PosError> {
    let card = open(ch)?;
    let mut acknowledged = None;
    if card.status.batch_state == BatchState::Acked {
        if let Some(ack) = read_ack(ch)? {
            if ack.ack.sam_id == sam.profile().sam_id {
                acknowledged = Some(sam.acknowledge(&ack)?);
            }
        }
    }
    let batches = sam.unacknowledged_batches();
    if card.status.batch_state == BatchState::Sealed {
        let held = read_batch(ch, card.status.length)?;
        if let Some(b) = batches.iter().find(|b| b.to_bytes() == held) {
            return Ok(TransferReport {
                xserial: card.xserial,
                acknowledged,
                batch: Some(b.clone()),
                already_on_card: true,
                waiting: batches.len() - 1,
            });
        }
        return Err(PosError::Transfer(
            "the transfer card holds another batch that is not settled yet; take it to the settlement station (epurse settle upload) or use another transfer card".into(),
        ));
    }
    let capacity = usize::from(card.status.capacity);
    let max = sam::batch::max_records(capacity);
    if max == 0 {
        return Err(PosError::Transfer(format!(
            "the transfer card holds only {capacity} bytes, too few for one record"
        )));
    }
    sam.seal_batch(datetime, Some(max))?;
    let batches = sam.unacknowledged_batches();
    let Some(batch) = batches
        .iter()
        .find(|b| b.to_bytes().len() <= capacity)
        .cloned()
    else {
        return Ok(TransferReport {
            xserial: card.xserial,
            acknowledged,
            batch: None,
            already_on_card: false,
            waiting: batches.len(),
        });
    };
    let bytes = batch.to_bytes();
    write_batch(ch, &bytes)?;
    // Read it back: what the settlement station will read is what the SAM sealed.
    let status = transfer_status(ch)?;
    let written = read_batch(ch, status.length)?;
    if written != bytes {
        return Err(PosError::Transfer(
            "the batch read back from the transfer card differs from the SAM's; run epurse pos transfer again".into(),
        ));
    }
    Ok(TransferReport {
        xserial: card.xserial,
        acknowledged,
        batch: Some(batch),
        already_on_card: false,
        waiting: batches.len() - 1,
    })
}

/// What `epurse pos ack` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReport {
    /// The transfer card.
    pub xserial: Serial,
    /// The SAM's outcome.
    pub outcome: AckOutcome,
}

/// `epurse pos ack`: READ ACK from the transfer card into the SAM (dropping the batch).
pub fn acknowledge<T: Transport, S: SecurityModule + ?Sized>(
    ch: &mut Channel<T>,
    sam: &mut S,
) -> Result<AckReport, PosError> {
    let card = open(ch)?;
    let Some(ack) = read_ack(ch)? else {
        return Err(PosError::Transfer(format!(
            "the transfer card carries no acknowledgement (batch state {:?}); upload it at the settlement station first (epurse settle upload)",
            card.status.batch_state
        )));
    };
    let outcome = sam.acknowledge(&ack)?;
    Ok(AckReport {
        xserial: card.xserial,
        outcome,
    })
}

/// What `epurse settle upload` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The transfer card.
    pub xserial: Serial,
    /// The back office's settlement.
    pub settlement: Settlement,
}

/// `epurse settle upload`: reads the sealed batch, hands it to the back office, and writes the
/// acknowledgement back (CLEAR BATCH). Safe to run again after any interruption: the back
/// office settles each (SAM, batch number) once and returns the same acknowledgement.
pub fn upload<T: Transport>(
    ch: &mut Channel<T>,
    bo: &mut Backoffice,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<UploadReport, PosError> {
    let (xserial, bytes) = read_sealed_batch(ch, progress)?;
    let settlement = match bo.upload_batch(&bytes, xserial)? {
        UploadOutcome::Settled(s) => s,
        UploadOutcome::Rejected(r) => return Err(PosError::BatchRejected(r)),
    };
    write_acknowledgement(ch, &settlement.clear)?;
    Ok(UploadReport {
        xserial,
        settlement,
    })
}

/// The first half of [`upload`] (for a remote back office): reads the transfer card's sealed
/// batch, returning the card's serial and the batch bytes.
pub fn read_sealed_batch<T: Transport>(
    ch: &mut Channel<T>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Serial, Vec<u8>), PosError> {
    let card = open(ch)?;
    match card.status.batch_state {
        BatchState::Sealed => {}
        BatchState::Acked => {
            return Err(PosError::Transfer(
                "this transfer card was already uploaded and carries the acknowledgement: take it to the POS (epurse pos ack)".into(),
            ))
        }
        state => {
            return Err(PosError::Transfer(format!(
                "the transfer card holds no sealed batch (state {state:?}); write one at the POS (epurse pos transfer)"
            )))
        }
    }
    let total = usize::from(card.status.length);
    let mut bytes = Vec::with_capacity(total);
    while bytes.len() < total {
        let offset = u16::try_from(bytes.len()).map_err(|_| PosError::Transfer("offset".into()))?;
        let r = ch
            .send(&ReadBatch {
                offset,
                max_len: None,
            })
            .map_err(CardError::from)?;
        if !r.sw.is_success() || r.data.is_empty() {
            return Err(status_error("READ BATCH", r.sw));
        }
        bytes.extend_from_slice(&r.data);
        progress(bytes.len().min(total), total);
    }
    bytes.truncate(total);
    Ok((card.xserial, bytes))
}

/// The second half of [`upload`]: writes the bank's acknowledgement (CLEAR BATCH) to the
/// transfer card.
pub fn write_acknowledgement<T: Transport>(
    ch: &mut Channel<T>,
    command: &ClearBatch,
) -> Result<(), PosError> {
    clear(ch, command)
}

fn clear<T: Transport>(ch: &mut Channel<T>, command: &ClearBatch) -> Result<(), PosError> {
    let r = ch.send(command).map_err(CardError::from)?;
    match r.sw {
        StatusWord::Ok => Ok(()),
        StatusWord::MacInvalid => Err(PosError::Transfer(
            "the transfer card rejected the acknowledgement (9302): it was not personalised by this bank's keys".into(),
        )),
        sw => Err(status_error("CLEAR BATCH", sw)),
    }
}

/// Personalises a blank transfer card with a new serial from the back office.
pub fn personalise_transfer_card<T: Transport>(
    ch: &mut Channel<T>,
    bo: &mut Backoffice,
) -> Result<Serial, PosError> {
    let fci = select_transfer(ch)?;
    if fci.lifecycle != Lifecycle::Blank {
        return Err(PosError::Transfer(format!(
            "the transfer card is already personalised (serial {}); nothing to do",
            fci.serial
        )));
    }
    let r = ch.send(&GetChallenge).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(status_error("GET CHALLENGE", r.sw));
    }
    let challenge =
        apdu_spec::Challenge::parse(&r.data).map_err(|e| malformed("GET CHALLENGE", e))?;
    let xserial = bo.allocate_transfer_serial()?;
    let command = bo.personalize_transfer_card(xserial, challenge)?;
    let r = ch.send(&command).map_err(CardError::from)?;
    if !r.sw.is_success() {
        return Err(status_error("PERSONALIZE", r.sw));
    }
    Ok(xserial)
}
