//! Crash-safe, tamper-evident storage of a [`SamState`].
//!
//! # Files
//!
//! | file (default names, [`StatePaths::in_dir`]) | content |
//! | --- | --- |
//! | `sam-state.json` | `{"format":"epurse-sam-state/1","mac":"..","state":{..}}` |
//! | `sam-state.counter` | `{"format":"epurse-sam-counter/1","sam_id":"..","generation":n,"state_mac":"..","previous_state_mac":".."\|null,"mac":".."}` |
//! | `sam-state.json.lock` | empty; held with `flock` while a process has the state open |
//!
//! Both documents are MAC'd (retail MAC) with the SAM's state key
//! ([`crate::SamFile::state_key`], derived from its settlement key, so another SAM's files fail
//! and nobody without the SAM file can produce a valid one). The state MAC covers the exact
//! bytes of the `"state"` object, which holds the SAM id and the **generation**, a number that
//! grows by one on every save.
//!
//! # Crash safety
//!
//! Every file is written the same way: write a temporary file next to it (`<name>.tmp`),
//! `fsync` it, `rename` it over the old one (atomic on POSIX), `fsync` the directory. A crash
//! at any point leaves either the old or the new file, never a mix; a left-over `.tmp` is
//! deleted when the state is next opened. A save writes the counter file first and then the
//! state file, so the disk is always in one of three situations, all of which open:
//!
//! 1. counter `g`, state `g` (before or after a save);
//! 2. counter `g+1` naming the new state's MAC and the old one's, state still `g`: the crash
//!    came between the two renames. The state is exactly the one the counter names as previous,
//!    so it is the last good state and opens ([`OpenReport::interrupted_save`]);
//! 3. a `.tmp` left behind: ignored and removed.
//!
//! Callers make every change write-ahead: [`crate::SoftwareSam`] acts on a change (returns the
//! DEBIT PURCHASE command, drops an acknowledged batch, ...) only after `save` returned, so
//! losing an interrupted save never loses anything that happened outside the SAM.
//!
//! # Rollback detection, and its limits
//!
//! The counter file is the "second place" for the generation. Opening refuses a state whose
//! generation is below the counter's (restored from a backup, copied back by hand), above it
//! (the counter file was rolled back), or equal to it with other content (a forked state),
//! and any state or counter whose MAC fails. What it cannot see:
//!
//! - **Both files rolled back together** (the whole directory restored from a backup or a disk
//!   snapshot). Put the counter on other storage to narrow this ([`StatePaths`] lets the
//!   counter live anywhere, e.g. a separate volume); only a hardware monotonic counter (a real
//!   SAM, a TPM NV counter) closes it. The back office's duplicate checks per (SAM, sequence),
//!   per (card, counter) and per (SAM, batch number) are the backstop: a rolled-back SAM reuses
//!   sequence and batch numbers, and the bank refuses the duplicates.
//! - **A rollback by exactly one save** that also restores the previous state file byte for
//!   byte looks like situation 2 and opens. That state is still a consistent state the SAM
//!   really had, and write-ahead makes it safe: the one change lost never had an effect
//!   outside the SAM (a lost pending purchase was never sent to a card; a lost journal entry is
//!   still pending and is recovered from the card; a lost acknowledgement leaves the batch held
//!   until the acknowledgement is presented again).
//! - **Whoever holds the SAM file** holds the MAC key and can forge both files; on a POS the SAM
//!   file is as sensitive as the keys in it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use apdu_spec::SamId;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::crypto::{mac_eq, retail_mac_m2, Key16};
use crate::profile::SamFile;
use crate::state::SamState;

/// `"format"` of the state file.
pub const STATE_FORMAT: &str = "epurse-sam-state/1";
/// `"format"` of the counter file.
pub const COUNTER_FORMAT: &str = "epurse-sam-counter/1";

/// Where a SAM's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePaths {
    /// The state file.
    pub state: PathBuf,
    /// The counter file (the second place that keeps the generation).
    pub counter: PathBuf,
}

impl StatePaths {
    /// `sam-state.json` and `sam-state.counter` in `dir`.
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self {
            state: dir.join("sam-state.json"),
            counter: dir.join("sam-state.counter"),
        }
    }

    /// The lock file: the state file's name with `.lock` appended.
    pub fn lock(&self) -> PathBuf {
        with_suffix(&self.state, ".lock")
    }
}

/// Why a SAM state cannot be created, opened or saved. Each message says what to do.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Another process has this SAM state open.
    #[error("the SAM state {} is in use by another process (lock {} is held); close the other POS first", state.display(), lock.display())]
    Locked {
        /// The state file.
        state: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// Creating a state where one exists.
    #[error("a SAM state already exists at {}; open it instead of creating a new one (a new state would restart the SAM's sequence numbers)", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// No state at all.
    #[error("no SAM state at {}; initialise the SAM first", path.display())]
    NotFound {
        /// The state file looked for.
        path: PathBuf,
    },
    /// A state without its counter file.
    #[error("the SAM state {} exists but its counter file {} is missing; the state may have been copied or restored from elsewhere — refusing to start (restore the counter file, or have the bank re-issue the SAM)", state.display(), counter.display())]
    CounterMissing {
        /// The state file.
        state: PathBuf,
        /// The missing counter file.
        counter: PathBuf,
    },
    /// A counter file without its state.
    #[error("the SAM counter file {} exists but the state {} is missing; the state was deleted — refusing to start with an empty SAM (restore the state file, or have the bank re-issue the SAM; if initialising the SAM was interrupted, initialise it again)", counter.display(), state.display())]
    StateMissing {
        /// The missing state file.
        state: PathBuf,
        /// The counter file.
        counter: PathBuf,
    },
    /// A file that does not parse.
    #[error("the SAM {what} {} is corrupt ({reason}); refusing to start — restore it from the last good copy or have the bank re-issue the SAM", path.display())]
    Corrupt {
        /// "state file" or "counter file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file of another SAM.
    #[error("the SAM {what} {} belongs to SAM {found}, not to this SAM {expected}; use the SAM file that goes with it", path.display())]
    Foreign {
        /// "state file" or "counter file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// This SAM.
        expected: SamId,
        /// The SAM named in the file.
        found: SamId,
    },
    /// A MAC that does not verify.
    #[error("the SAM {what} {} fails its MAC check: it was edited or damaged; refusing to start", path.display())]
    BadMac {
        /// "state file" or "counter file".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A state older than the counter says.
    #[error("the SAM state {} is generation {state_generation} but the counter file says {counter_generation}: the state was rolled back (restored from an older copy); refusing to start, as an old state would reuse sequence numbers and resurrect settled batches", path.display())]
    RolledBack {
        /// The state file.
        path: PathBuf,
        /// Generation of the state file.
        state_generation: u64,
        /// Generation in the counter file.
        counter_generation: u64,
    },
    /// A counter file older than the state.
    #[error("the SAM counter file {} says generation {counter_generation} but the state is generation {state_generation}: the counter file was rolled back; refusing to start", path.display())]
    CounterRolledBack {
        /// The counter file.
        path: PathBuf,
        /// Generation of the state file.
        state_generation: u64,
        /// Generation in the counter file.
        counter_generation: u64,
    },
    /// A state with the counter's generation but other content.
    #[error("the SAM state {} is generation {generation} but not the state the counter file recorded for it: the state was replaced; refusing to start", path.display())]
    Diverged {
        /// The state file.
        path: PathBuf,
        /// The generation.
        generation: u64,
    },
    /// A state whose MAC verifies but whose content breaks an invariant (a software bug).
    #[error("the SAM state {} breaks an invariant ({reason}); refusing to start — report this", path.display())]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Which invariant.
        reason: String,
    },
}

/// What opening a state found besides the state itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// The generation opened.
    pub generation: u64,
    /// The last save was interrupted between the counter and the state (situation 2 of the
    /// module docs); the last good state was opened.
    pub interrupted_save: bool,
    /// Temporary files of interrupted saves that were removed.
    pub removed_temp_files: Vec<PathBuf>,
}

/// An open, locked SAM state on disk.
#[derive(Debug)]
pub struct StateStore {
    paths: StatePaths,
    sam_id: SamId,
    key: Key16,
    generation: u64,
    state_mac: Option<[u8; 8]>,
    _lock: File,
}

impl StateStore {
    /// Creates the files for a new state and saves `state` as generation 1. Refused if a state
    /// exists, or a counter file other than the one a creation interrupted before its state
    /// was written leaves (this SAM's, generation 1).
    pub fn create(
        paths: StatePaths,
        sam_file: &SamFile,
        state: &mut SamState,
    ) -> Result<Self, StoreError> {
        let lock = lock(&paths)?;
        let sam_id = sam_file.profile().sam_id;
        let key = sam_file.state_key();
        if exists(&paths.state)? {
            return Err(StoreError::AlreadyExists { path: paths.state });
        }
        if exists(&paths.counter)? {
            // Only the counter of a creation interrupted before its state was written (this
            // SAM's, generation 1, no previous state) may be replaced.
            let counter = read_counter(&paths.counter, sam_id, &key)?;
            if counter.generation != 1 || counter.previous_state_mac.is_some() {
                return Err(StoreError::AlreadyExists {
                    path: paths.counter,
                });
            }
        }
        let mut store = Self {
            sam_id,
            key,
            paths,
            generation: 0,
            state_mac: None,
            _lock: lock,
        };
        state.generation = 0;
        store.save(state)?;
        Ok(store)
    }

    /// Opens, checks and locks an existing state (see the module docs for every refusal).
    pub fn open(
        paths: StatePaths,
        sam_file: &SamFile,
    ) -> Result<(Self, SamState, OpenReport), StoreError> {
        let lock = lock(&paths)?;
        let mut report = OpenReport::default();
        for path in [&paths.state, &paths.counter] {
            let tmp = temp_path(path);
            match fs::remove_file(&tmp) {
                Ok(()) => report.removed_temp_files.push(tmp),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(io_error("remove", &tmp, source)),
            }
        }
        match (exists(&paths.state)?, exists(&paths.counter)?) {
            (false, false) => return Err(StoreError::NotFound { path: paths.state }),
            (true, false) => {
                return Err(StoreError::CounterMissing {
                    state: paths.state,
                    counter: paths.counter,
                })
            }
            (false, true) => {
                return Err(StoreError::StateMissing {
                    state: paths.state,
                    counter: paths.counter,
                })
            }
            (true, true) => {}
        }

        let sam_id = sam_file.profile().sam_id;
        let key = sam_file.state_key();
        let counter = read_counter(&paths.counter, sam_id, &key)?;

        let text = read(&paths.state)?;
        let corrupt = |reason: String| StoreError::Corrupt {
            what: "state file",
            path: paths.state.clone(),
            reason,
        };
        let envelope: StateEnvelope<'_> =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if envelope.format != STATE_FORMAT {
            return Err(corrupt(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                envelope.format
            )));
        }
        let raw = envelope.state.get();
        let (found, generation) = SamState::peek(raw).map_err(corrupt)?;
        if found != sam_id {
            return Err(StoreError::Foreign {
                what: "state file",
                path: paths.state,
                expected: sam_id,
                found,
            });
        }
        let mac = parse_mac(envelope.mac)
            .ok_or_else(|| corrupt("\"mac\" is not 16 hex digits".into()))?;
        if !mac_eq(&state_mac(&key, raw), &mac) {
            return Err(StoreError::BadMac {
                what: "state file",
                path: paths.state,
            });
        }

        if generation == counter.generation {
            if !mac_eq(&mac, &counter.state_mac) {
                return Err(StoreError::Diverged {
                    path: paths.state,
                    generation,
                });
            }
        } else if generation.checked_add(1) == Some(counter.generation)
            && counter
                .previous_state_mac
                .is_some_and(|previous| mac_eq(&mac, &previous))
        {
            report.interrupted_save = true;
        } else if generation < counter.generation {
            return Err(StoreError::RolledBack {
                path: paths.state,
                state_generation: generation,
                counter_generation: counter.generation,
            });
        } else {
            return Err(StoreError::CounterRolledBack {
                path: paths.counter,
                state_generation: generation,
                counter_generation: counter.generation,
            });
        }

        let state = SamState::from_json(raw).map_err(corrupt)?;
        state
            .validate(sam_file.settlement_key())
            .map_err(|reason| StoreError::Invalid {
                path: paths.state.clone(),
                reason,
            })?;
        report.generation = generation;
        let store = Self {
            paths,
            sam_id,
            key,
            generation,
            state_mac: Some(mac),
            _lock: lock,
        };
        Ok((store, state, report))
    }

    /// Saves `state` as the next generation (setting its `generation`): counter file first,
    /// then the state file, each written to a temporary file, fsynced, renamed into place and
    /// the directory fsynced. When this returns `Ok` the state is durable.
    ///
    /// After an error the disk holds either the previous or this state, both valid; the
    /// caller must not save again from the same process (reopen instead), as it cannot know
    /// which one.
    pub fn save(&mut self, state: &mut SamState) -> Result<(), StoreError> {
        let generation = self.generation + 1;
        state.generation = generation;
        let json = state.to_json();
        let mac = state_mac(&self.key, &json);

        let counter = CounterRecord {
            generation,
            state_mac: mac,
            previous_state_mac: self.state_mac,
        };
        write_atomic(
            &self.paths.counter,
            counter.to_text(self.sam_id, &self.key).as_bytes(),
        )?;
        let text = format!(
            "{{\"format\":\"{STATE_FORMAT}\",\"mac\":\"{}\",\"state\":{json}}}\n",
            hex::encode_upper(mac)
        );
        write_atomic(&self.paths.state, text.as_bytes())?;
        self.generation = generation;
        self.state_mac = Some(mac);
        Ok(())
    }

    /// The files.
    pub fn paths(&self) -> &StatePaths {
        &self.paths
    }

    /// The generation on disk.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateEnvelope<'a> {
    format: String,
    mac: String,
    #[serde(borrow)]
    state: &'a RawValue,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterDoc {
    format: String,
    sam_id: String,
    generation: u64,
    state_mac: String,
    previous_state_mac: Option<String>,
    mac: String,
}

struct CounterRecord {
    generation: u64,
    state_mac: [u8; 8],
    previous_state_mac: Option<[u8; 8]>,
}

impl CounterRecord {
    fn mac(&self, sam_id: SamId, key: &Key16) -> [u8; 8] {
        let mut input = Vec::with_capacity(64);
        input.extend_from_slice(COUNTER_FORMAT.as_bytes());
        input.push(0);
        input.extend_from_slice(&sam_id.0);
        input.extend_from_slice(&self.generation.to_be_bytes());
        input.extend_from_slice(&self.state_mac);
        match self.previous_state_mac {
            Some(previous) => {
                input.push(1);
                input.extend_from_slice(&previous);
            }
            None => input.push(0),
        }
        retail_mac_m2(key, &input)
    }

    fn to_text(&self, sam_id: SamId, key: &Key16) -> String {
        let doc = CounterDoc {
            format: COUNTER_FORMAT.into(),
            sam_id: sam_id.to_string(),
            generation: self.generation,
            state_mac: hex::encode_upper(self.state_mac),
            previous_state_mac: self.previous_state_mac.map(hex::encode_upper),
            mac: hex::encode_upper(self.mac(sam_id, key)),
        };
        match serde_json::to_string(&doc) {
            Ok(mut text) => {
                text.push('\n');
                text
            }
            // Strings and integers always serialise.
            Err(e) => unreachable!("serialising the SAM counter failed: {e}"),
        }
    }
}

fn read_counter(path: &Path, sam_id: SamId, key: &Key16) -> Result<CounterRecord, StoreError> {
    let text = read(path)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "counter file",
        path: path.to_owned(),
        reason,
    };
    let doc: CounterDoc = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if doc.format != COUNTER_FORMAT {
        return Err(corrupt(format!(
            "format {:?}, expected {COUNTER_FORMAT:?}",
            doc.format
        )));
    }
    let found: SamId = doc
        .sam_id
        .parse()
        .map_err(|_| corrupt(format!("sam_id {:?} is not 12 hex digits", doc.sam_id)))?;
    if found != sam_id {
        return Err(StoreError::Foreign {
            what: "counter file",
            path: path.to_owned(),
            expected: sam_id,
            found,
        });
    }
    let mac_field = |name: &str, text: String| {
        parse_mac(text).ok_or_else(|| corrupt(format!("\"{name}\" is not 16 hex digits")))
    };
    let record = CounterRecord {
        generation: doc.generation,
        state_mac: mac_field("state_mac", doc.state_mac)?,
        previous_state_mac: doc
            .previous_state_mac
            .map(|m| mac_field("previous_state_mac", m))
            .transpose()?,
    };
    let mac = mac_field("mac", doc.mac)?;
    if !mac_eq(&record.mac(sam_id, key), &mac) {
        return Err(StoreError::BadMac {
            what: "counter file",
            path: path.to_owned(),
        });
    }
    Ok(record)
}

fn state_mac(key: &Key16, state_json: &str) -> [u8; 8] {
    let mut input = Vec::with_capacity(STATE_FORMAT.len() + 1 + state_json.len());
    input.extend_from_slice(STATE_FORMAT.as_bytes());
    input.push(0);
    input.extend_from_slice(state_json.as_bytes());
    retail_mac_m2(key, &input)
}

fn parse_mac(text: String) -> Option<[u8; 8]> {
    hex::decode(text).ok()?.try_into().ok()
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn temp_path(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    path.try_exists()
        .map_err(|source| io_error("look for", path, source))
}

fn read(path: &Path) -> Result<String, StoreError> {
    fs::read_to_string(path).map_err(|source| io_error("read", path, source))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Temp file, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|source| io_error("create", &tmp, source))?;
    file.write_all(bytes)
        .map_err(|source| io_error("write", &tmp, source))?;
    file.sync_all()
        .map_err(|source| io_error("fsync", &tmp, source))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|source| io_error("rename into place", path, source))?;
    sync_dir(parent_dir(path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_error("fsync directory", dir, source))
    }
    #[cfg(not(unix))]
    {
        // Directory handles cannot be fsynced portably; NTFS journals renames itself.
        let _ = dir;
        Ok(())
    }
}

/// Opens (creating if needed) and exclusively locks the lock file, without waiting.
fn lock(paths: &StatePaths) -> Result<File, StoreError> {
    let path = paths.lock();
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| io_error("open lock file", &path, source))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock(2) on a file descriptor we own and keep open for as long as the
        // returned `File` lives; it touches no memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                StoreError::Locked {
                    state: paths.state.clone(),
                    lock: path,
                }
            } else {
                io_error("lock", &path, err)
            });
        }
    }
    Ok(file)
}
