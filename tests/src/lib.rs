//! End-to-end test harness for epurse: the real PC/SC stack (pcscd + vpcd + the jCardSim virtual
//! card process, `scripts/stack`) and the `epurse` binary.
//!
//! What a test gets from here:
//!
//! - [`ensure_stack`]: the stack is up (the harness runs `scripts/stack start`, which installs
//!   what is missing and is a no-op when everything runs). When it cannot be brought up the test
//!   fails with the reason; it never passes silently.
//! - [`control`]: one command on the virtual card process's control channel
//!   (127.0.0.1:35990, `EPURSE_VCARD_PORT`).
//! - [`SlotLease`]: exclusive use of one reader slot, across the threads of a test binary *and*
//!   across test binaries (an `flock` on `var/stack/slot-N.lock`), with per-test cards created
//!   on demand (`e2e-PID-N`) and the slot's default card (`purse1` / `transfer1`) put back when
//!   the lease ends, whatever the test did (faults, removals).
//! - [`Epurse`]: runs the `epurse` binary (built once per test process with `cargo build -p
//!   host`, or `EPURSE_BIN`) with a timeout, so a hang is a failure and not a stuck suite.
//! - [`pcsc`] helpers ([`connect`], [`transmit`]) and the card-side set-up a test needs that no
//!   CLI command offers yet: [`personalise_purse`] and [`load_purse`] with the development keys.
//!
//! Lock protocol for anyone else driving the stack from tests: take `var/stack/slot-N.lock`
//! with `flock(LOCK_EX)` before touching slot N (inserting, removing, faults, or APDUs that need
//! the card to stay put), and leave the slot's default card inserted when done.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use apdu_spec::{
    load_mac1_input, load_mac2_input, perso_mac_input, session_diversifier, Amount,
    ContractCommand, CreditLoad, CreditLoadResponse, Date, DateTime, Fci, GetChallenge,
    InitLoadResponse, InitializeLoad, KeyBytes, Limits, Mcc, MccAllowlist, PersonalizePurse,
    PinBlock, Purse, PursePersoData, Response, Select, Serial, StatusWord, TerminalId, TxType,
    PURSE_AID,
};
use sam::{KeyName, MasterKeys};

pub use pcsc;

/// The two virtual readers of the stack, by slot index.
pub const READERS: [&str; 2] = ["Virtual PCD 00 00", "Virtual PCD 00 01"];
/// The card `scripts/stack start` puts in each slot.
pub const DEFAULT_CARDS: [&str; 2] = ["purse1", "transfer1"];
/// SELECT of the purse applet (`00 A4 04 00 08 AID 00`).
pub const SELECT_PURSE: &str = "00A4040008F04550555253450100";
/// SELECT of the transfer applet.
pub const SELECT_TRANSFER: &str = "00A4040008F04550555253450200";
/// GET STATUS (both applets).
pub const GET_STATUS: &str = "805E000000";
/// ATR historical bytes of the virtual purse card.
pub const PURSE_HISTORICAL: &str = "EPURSE-P10";
/// ATR historical bytes of the virtual transfer card.
pub const TRANSFER_HISTORICAL: &str = "EPURSE-T10";

/// The ATR the virtual card process gives a card: `3B 8K 80 01 <historical bytes> TCK` (T=1,
/// TCK making the XOR of T0..TCK zero).
pub fn virtual_atr(historical: &str) -> Vec<u8> {
    let mut atr = vec![0x3B, 0x80 | (historical.len() as u8 & 0x0F), 0x80, 0x01];
    atr.extend_from_slice(historical.as_bytes());
    let tck = atr.iter().skip(1).fold(0u8, |x, b| x ^ b);
    atr.push(tck);
    atr
}

/// Prefix of every card the harness creates (`e2e-PID-N`).
pub const TEST_CARD_PREFIX: &str = "e2e-";

/// Everything the harness can fail at. Its `Debug` is its `Display`, so a test returning
/// `Result<(), HarnessError>` prints a readable reason.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stack is not up and could not be brought up.
    #[error("the PC/SC test stack is not available: {0}")]
    Stack(String),
    /// The control channel answered `ERR`, or nothing.
    #[error("control command `{command}` failed: {reply}")]
    Control {
        /// The command line sent.
        command: String,
        /// The reply (or why there was none).
        reply: String,
    },
    /// A PC/SC call failed.
    #[error("PC/SC {what}: {source}")]
    Pcsc {
        /// The call and its reader.
        what: String,
        /// The PC/SC error.
        source: pcsc::Error,
    },
    /// The card answered something a set-up step did not expect.
    #[error("card: {0}")]
    Card(String),
    /// Something did not happen in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The `epurse` binary could not be built or found.
    #[error("epurse binary: {0}")]
    Binary(String),
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The harness's result type.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

// ---- paths -----------------------------------------------------------------------------------

/// The workspace root (the folder with `scripts/` and `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where the stack keeps pid files, logs and the harness's lock files (`EPURSE_STACK_DIR`, as
/// `scripts/stack` reads it, default `var/stack`).
pub fn stack_dir() -> PathBuf {
    match std::env::var_os("EPURSE_STACK_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("var").join("stack"),
    }
}

/// The control channel's address (`EPURSE_VCARD_PORT`, default 35990).
pub fn control_addr() -> SocketAddr {
    let port = std::env::var("EPURSE_VCARD_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(35990);
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---- file locks ------------------------------------------------------------------------------

/// An exclusive `flock` on a file, released on drop (the descriptor closes). Locks taken through
/// separate opens conflict, so this excludes other threads of this process as well as other
/// processes.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Waits up to `patience` for the lock on `path` (created when missing). The holder writes
    /// its pid and what it is doing into the file, so a timeout can say who holds it.
    pub fn exclusive(path: &Path, purpose: &str, patience: Duration) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io(format!("opening {}", path.display())))?;
        let deadline = Instant::now() + patience;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(HarnessError::Io {
                    what: format!("flock {}", path.display()),
                    source: err,
                });
            }
            if Instant::now() >= deadline {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                return Err(HarnessError::Timeout(format!(
                    "{} is still locked after {} s by: {} (a stuck test? look for that pid)",
                    path.display(),
                    patience.as_secs(),
                    holder.trim()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
        // Best effort: the note only helps a timeout message.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {} ({purpose})", std::process::id());
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // Closing the descriptor releases the lock; unlocking first only makes it prompt.
        // SAFETY: as in `exclusive`.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

// ---- control channel -------------------------------------------------------------------------

/// Sends one command line to the virtual card process and returns the text after `OK `.
/// `ERR ...` and a silent or closed channel are errors.
pub fn control(command: &str) -> Result<String> {
    let fail = |reply: String| HarnessError::Control {
        command: command.to_string(),
        reply,
    };
    let addr = control_addr();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| {
        fail(format!(
            "cannot connect to {addr} ({e}); is the stack running? (scripts/stack status)"
        ))
    })?;
    // `wait` commands block up to their own timeout (at most 20 s from this harness).
    let _ = stream.set_read_timeout(Some(Duration::from_secs(70)));
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| fail(format!("write: {e}")))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| fail(format!("read: {e}")))?;
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("OK") {
        Ok(rest.trim_start().to_string())
    } else if line.is_empty() {
        Err(fail("no reply (connection closed)".into()))
    } else {
        Err(fail(line.to_string()))
    }
}

/// One slot as `list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    /// The card in the slot, if any.
    pub card: Option<String>,
    /// `empty`, `connecting`, `connected` or `present`.
    pub state: String,
    /// The armed fault, if any (e.g. `drop-command:2`).
    pub fault: Option<String>,
}

/// The control channel's `list`: the slots and the wallet (`name`, `kind`, slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    /// Slot 0, 1, ...
    pub slots: Vec<SlotView>,
    /// Every card: name, kind, and the slot it is in.
    pub cards: Vec<(String, String, Option<usize>)>,
}

impl Wallet {
    /// Parses `slot0=purse1/present slot1=-/empty cards=purse1:purse@0,spare:purse@-`.
    pub fn parse(text: &str) -> Result<Wallet> {
        let bad = || HarnessError::Card(format!("unexpected `list` reply: {text}"));
        let mut slots = Vec::new();
        let mut cards = Vec::new();
        // A fault's description has spaces ("drop-command:2(1 to go)"): a word that does not
        // start a new `slotN=` or `cards=` field belongs to the previous one.
        let starts_field = |w: &str| {
            w.starts_with("cards=")
                || w.strip_prefix("slot")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        };
        let mut fields: Vec<String> = Vec::new();
        for word in text.split_whitespace() {
            match fields.last_mut() {
                Some(last) if !starts_field(word) => {
                    last.push(' ');
                    last.push_str(word);
                }
                _ => fields.push(word.to_string()),
            }
        }
        for field in &fields {
            if let Some(list) = field.strip_prefix("cards=") {
                if list == "-" {
                    continue;
                }
                for entry in list.split(',') {
                    let mut parts = entry.split(':');
                    let name = parts.next().ok_or_else(bad)?;
                    let rest = parts.next().ok_or_else(bad)?;
                    let (kind, at) = rest.split_once('@').ok_or_else(bad)?;
                    let slot = if at == "-" {
                        None
                    } else {
                        Some(at.parse::<usize>().map_err(|_| bad())?)
                    };
                    cards.push((name.to_string(), kind.to_string(), slot));
                }
            } else if let Some(rest) = field.strip_prefix("slot") {
                let (_, view) = rest.split_once('=').ok_or_else(bad)?;
                let mut parts = view.splitn(3, '/');
                let card = parts.next().ok_or_else(bad)?;
                let state = parts.next().ok_or_else(bad)?;
                let fault = parts
                    .next()
                    .map(|f| f.strip_prefix("fault:").unwrap_or(f).to_string());
                slots.push(SlotView {
                    card: (card != "-").then(|| card.to_string()),
                    state: state.to_string(),
                    fault,
                });
            }
        }
        if slots.is_empty() {
            return Err(bad());
        }
        Ok(Wallet { slots, cards })
    }

    /// The current wallet.
    pub fn fetch() -> Result<Wallet> {
        Wallet::parse(&control("list")?)
    }
}

// ---- the stack -------------------------------------------------------------------------------

fn stack_answers() -> std::result::Result<(), String> {
    let wallet = Wallet::fetch().map_err(|e| e.to_string())?;
    if wallet.slots.len() < READERS.len() {
        return Err(format!(
            "the virtual card process has {} slots, the tests need {}",
            wallet.slots.len(),
            READERS.len()
        ));
    }
    let ctx = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| format!("pcscd does not answer: {e}"))?;
    let readers = ctx
        .list_readers_owned()
        .map_err(|e| format!("pcscd lists no readers: {e}"))?;
    for want in READERS {
        if !readers.iter().any(|r| r.to_bytes() == want.as_bytes()) {
            return Err(format!("pcscd does not list the reader \"{want}\""));
        }
    }
    Ok(())
}

/// Makes sure pcscd, vpcd and the virtual card process run, starting them with
/// `scripts/stack start` when they do not (once per process; concurrent test binaries take a
/// lock so that only one starts it). The outcome is remembered: after a failure every later
/// test fails at once with the same reason.
pub fn ensure_stack() -> Result<()> {
    static STACK: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    STACK
        .get_or_init(bring_up_stack)
        .clone()
        .map_err(HarnessError::Stack)
}

fn bring_up_stack() -> std::result::Result<(), String> {
    if stack_answers().is_ok() {
        return Ok(());
    }
    let _lock = FileLock::exclusive(
        &stack_dir().join("harness-start.lock"),
        "starting the stack",
        Duration::from_secs(900),
    )
    .map_err(|e| e.to_string())?;
    let why = match stack_answers() {
        Ok(()) => return Ok(()),
        Err(why) => why,
    };
    let script = workspace_root().join("scripts").join("stack");
    eprintln!("epurse-tests: the stack is not up ({why}); running scripts/stack start");
    let out = Command::new(&script)
        .arg("start")
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`scripts/stack start` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // start waits for both cards; pcscd's reader list is the last thing to check.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match stack_answers() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("after `scripts/stack start`: {e}"))
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

// ---- slot leases -----------------------------------------------------------------------------

/// The kinds of card the virtual card process makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// A purse card (BLANK, the default transport key), as `purse1`.
    Purse,
    /// A transfer card (BLANK), as `transfer1`.
    Transfer,
}

impl CardKind {
    fn name(self) -> &'static str {
        match self {
            CardKind::Purse => "purse",
            CardKind::Transfer => "transfer",
        }
    }
}

static CARD_COUNTER: AtomicU32 = AtomicU32::new(0);

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Exclusive use of one reader slot for one test. Dropping it clears any fault, puts the slot's
/// default card back (present to PC/SC clients again) and deletes the cards the test created.
#[derive(Debug)]
pub struct SlotLease {
    index: usize,
    default_card: Option<String>,
    created: Vec<String>,
    reinsert_pending_until: Option<Instant>,
    _lock: FileLock,
}

impl SlotLease {
    /// Waits (up to 25 minutes) for slot `index`, then makes sure it holds its default card,
    /// present and without a fault. The tests of one binary run in parallel threads and queue
    /// here one after another, so the wait covers a whole binary's stack tests; it only guards
    /// against a holder that is stuck (every `epurse` run has its own timeout).
    pub fn acquire(index: usize) -> Result<SlotLease> {
        ensure_stack()?;
        if index >= READERS.len() {
            return Err(HarnessError::Card(format!("there is no slot {index}")));
        }
        let lock = FileLock::exclusive(
            &stack_dir().join(format!("slot-{index}.lock")),
            &format!("e2e test lease of slot {index}"),
            Duration::from_secs(1500),
        )?;
        let wallet = Wallet::fetch()?;
        let current = wallet.slots.get(index).and_then(|s| s.card.clone());
        let default_card = match current {
            Some(name) if !name.starts_with(TEST_CARD_PREFIX) => Some(name),
            _ => {
                let conventional = DEFAULT_CARDS[index];
                wallet
                    .cards
                    .iter()
                    .any(|(n, _, slot)| {
                        n == conventional && (slot.is_none() || *slot == Some(index))
                    })
                    .then(|| conventional.to_string())
            }
        };
        let mut lease = SlotLease {
            index,
            default_card,
            created: Vec::new(),
            reinsert_pending_until: None,
            _lock: lock,
        };
        lease.restore()?;
        lease.delete_orphans(&wallet);
        Ok(lease)
    }

    /// The slot number.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The PC/SC name of the slot's reader.
    pub fn reader(&self) -> &'static str {
        READERS[self.index]
    }

    /// The card the slot held when the lease began (`purse1` / `transfer1` normally).
    pub fn default_card(&self) -> Option<&str> {
        self.default_card.as_deref()
    }

    /// Creates a fresh card of `kind` (a unique `e2e-PID-N` name), takes out whatever is in the
    /// slot, inserts the new card and waits until PC/SC clients can use it. Returns its name.
    pub fn insert_new_card(&mut self, kind: CardKind) -> Result<String> {
        let name = format!(
            "{TEST_CARD_PREFIX}{}-{}",
            std::process::id(),
            CARD_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let reply = control(&format!("create {name} {}", kind.name()))?;
        self.created.push(name.clone());
        if reply.contains("without applet") {
            return Err(HarnessError::Card(format!(
                "the virtual card process made {name} {reply}; build the applets (mvn -q -f applet/pom.xml compile) and restart the stack"
            )));
        }
        self.remove()?;
        control(&format!("insert {name} {}", self.index))?;
        self.wait_present()?;
        Ok(name)
    }

    /// Takes the card out of the slot (no-op when empty).
    pub fn remove(&self) -> Result<()> {
        control(&format!("remove {}", self.index)).map(drop)
    }

    /// Inserts a card of the wallet into the (empty) slot and waits until it is present.
    pub fn insert(&self, name: &str) -> Result<()> {
        control(&format!("insert {name} {}", self.index))?;
        self.wait_present()
    }

    /// Waits (up to 20 s each) until vpcd has read the card's ATR and then until pcscd itself
    /// reports the card present: only then can PC/SC clients connect. The first is not enough
    /// on its own: vpcd's presence poll reads the ATR before pcscd has powered the card up and
    /// published it, and a connect in that window fails with "no smart card".
    pub fn wait_present(&self) -> Result<()> {
        control(&format!("wait {} present 20000", self.index))?;
        wait_reader(
            &pcsc_context()?,
            self.reader(),
            true,
            Duration::from_secs(20),
        )
        .map(drop)
    }

    /// Waits (up to 20 s each) until the slot is empty and pcscd has seen the card leave.
    pub fn wait_empty(&self) -> Result<()> {
        control(&format!("wait {} empty 20000", self.index))?;
        wait_reader(
            &pcsc_context()?,
            self.reader(),
            false,
            Duration::from_secs(20),
        )
        .map(drop)
    }

    /// Arms a one-shot fault on the slot: `kind` is `drop-command` or `drop-response`, firing at
    /// the `k`-th APDU from now, with the card put back after `reinsert` when given.
    pub fn arm_fault(&mut self, kind: &str, k: u32, reinsert: Option<Duration>) -> Result<()> {
        let mut line = format!("fault {} {kind} {k}", self.index);
        if let Some(after) = reinsert {
            line.push_str(&format!(" reinsert {}", after.as_millis()));
            // Until it has fired and the timer has run, the card may come back on its own.
            self.reinsert_pending_until = Some(Instant::now() + Duration::from_secs(30));
        }
        control(&line).map(drop)
    }

    /// The slot as `list` shows it now.
    pub fn view(&self) -> Result<SlotView> {
        let wallet = Wallet::fetch()?;
        wallet
            .slots
            .get(self.index)
            .cloned()
            .ok_or_else(|| HarnessError::Card(format!("`list` shows no slot {}", self.index)))
    }

    /// Clears the fault, waits for a fault's re-insertion when one may be pending, and puts the
    /// default card back present.
    fn restore(&mut self) -> Result<()> {
        control(&format!("fault {} clear", self.index))?;
        if let Some(until) = self.reinsert_pending_until.take() {
            // The re-insert fires `reinsert` ms after the fault; the slot becomes "present"
            // when it has. Wait for that (or the deadline) so that the timer cannot put the test
            // card back after we restored the default one.
            while Instant::now() < until {
                let view = self.view()?;
                let fault_gone = view.fault.is_none();
                let test_card_back = view.card.as_deref().is_some_and(|c| {
                    c.starts_with(TEST_CARD_PREFIX) || Some(c) == self.default_card()
                });
                if fault_gone && test_card_back {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        let view = self.view()?;
        if view.card != self.default_card {
            self.remove()?;
            if let Some(name) = self.default_card.clone() {
                self.insert(&name)?;
            }
        } else if view.card.is_some() && view.state != "present" {
            self.wait_present()?;
        }
        for name in std::mem::take(&mut self.created) {
            // A card still in a slot cannot be deleted; it is not (we just restored the slot).
            let _ = control(&format!("delete {name}"));
        }
        Ok(())
    }

    /// Deletes test cards left behind by test processes that died before their lease ended.
    fn delete_orphans(&self, wallet: &Wallet) {
        for (name, _, slot) in &wallet.cards {
            let Some(rest) = name.strip_prefix(TEST_CARD_PREFIX) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if slot.is_none() && pid.is_some_and(|p| p != std::process::id() && !pid_alive(p)) {
                let _ = control(&format!("delete {name}"));
            }
        }
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            // Not a panic inside a drop (it could abort a panicking test); the next lease
            // restores again, and says so if it cannot.
            eprintln!(
                "epurse-tests: could not restore slot {} to {:?}: {e}",
                self.index, self.default_card
            );
        }
    }
}

// ---- the epurse binary -----------------------------------------------------------------------

/// The finished run of one `epurse` command.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time of the process.
    pub elapsed: Duration,
}

impl CliOutput {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole output unless the command succeeded (test helper).
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Panics with the whole output unless the command failed with `code` (test helper).
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self}");
        self
    }

    /// Parses standard output as JSON, panicking with the output when it is not.
    #[track_caller]
    pub fn json<T: std::str::FromStr>(&self) -> T
    where
        T::Err: fmt::Display,
    {
        match self.stdout.parse::<T>() {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e}):\n{self}"),
        }
    }
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "$ epurse {}   (exit {:?}, {} ms)",
            self.args.join(" "),
            self.code,
            self.elapsed.as_millis()
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// The directory cargo puts this build's binaries in (`target/debug`), from the test binary's
/// own path (`target/debug/deps/NAME-HASH`), so `CARGO_TARGET_DIR` and profiles just work.
fn target_profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? == "deps" {
        deps.parent().map(Path::to_path_buf)
    } else {
        Some(deps.to_path_buf())
    }
}

/// Path of the `epurse` binary: `EPURSE_BIN` when set; otherwise `cargo build -p host --bin
/// epurse` runs once per test process (a no-op when it is fresh) and the binary next to this
/// test's build is used.
pub fn epurse_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("EPURSE_BIN").filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(bin);
            return if bin.is_file() {
                Ok(bin)
            } else {
                Err(format!("EPURSE_BIN={} is not a file", bin.display()))
            };
        }
        let dir = target_profile_dir().ok_or("cannot tell where cargo put this test binary")?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(&cargo);
        build
            .args(["build", "--quiet", "-p", "host", "--bin", "epurse"])
            .current_dir(workspace_root())
            .stdin(Stdio::null());
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let out = build
            .output()
            .map_err(|e| format!("cannot run {cargo:?} build: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`cargo build -p host --bin epurse` failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let bin = dir.join("epurse");
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("built, but {} is not there", bin.display()))
        }
    })
    .clone()
    .map_err(HarnessError::Binary)
}

/// Builder for one `epurse` run: arguments, environment, standard input and a timeout.
#[derive(Debug, Clone)]
pub struct Epurse {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Epurse {
    /// `epurse ARGS...` with `EPURSE_READER` unset and a 30 s timeout.
    pub fn new<I, S>(args: I) -> Epurse
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Epurse {
            args: args.into_iter().map(|a| a.as_ref().to_string()).collect(),
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: &str, value: &str) -> Epurse {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Feeds `input` on standard input (default: none, stdin is /dev/null).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Epurse {
        self.stdin = Some(input.into());
        self
    }

    /// Kills the process and fails after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Epurse {
        self.timeout = timeout;
        self
    }

    /// Runs it to completion (or the timeout, which is an error carrying what it printed).
    pub fn run(&self) -> Result<CliOutput> {
        let bin = epurse_bin()?;
        let mut cmd = Command::new(&bin);
        cmd.args(&self.args)
            .env_remove("EPURSE_READER")
            .env_remove("RUST_LOG")
            .current_dir(workspace_root())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(io(format!("starting {}", bin.display())))?;
        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = reader_thread(child.stdout.take());
        let stderr = reader_thread(child.stderr.take());
        let status: Option<ExitStatus> = loop {
            match child.try_wait().map_err(io("waiting for epurse"))? {
                Some(status) => break Some(status),
                None if start.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => thread::sleep(Duration::from_millis(5)),
            }
        };
        let elapsed = start.elapsed();
        let out = CliOutput {
            args: self.args.clone(),
            code: status.and_then(|s| s.code()),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            elapsed,
        };
        if status.is_none() {
            return Err(HarnessError::Timeout(format!(
                "epurse did not finish within {} s (a hang); killed it.\n{out}",
                self.timeout.as_secs()
            )));
        }
        Ok(out)
    }
}

fn reader_thread<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// `epurse ARGS...` with the defaults of [`Epurse::new`].
pub fn epurse<I, S>(args: I) -> Result<CliOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Epurse::new(args).run()
}

// ---- PC/SC helpers ---------------------------------------------------------------------------

/// A PC/SC context (user scope).
pub fn pcsc_context() -> Result<pcsc::Context> {
    pcsc::Context::establish(pcsc::Scope::User).map_err(|source| HarnessError::Pcsc {
        what: "establish context".into(),
        source,
    })
}

/// The reader name as PC/SC wants it.
pub fn reader_cstring(reader: &str) -> CString {
    // Reader names never hold NUL; an impossible one maps to a name no reader has.
    CString::new(reader).unwrap_or_default()
}

/// Connects (shared, T=0 or T=1) to the card in `reader`, retrying for up to 5 s while the card
/// is still arriving (just inserted or re-inserted).
pub fn connect(ctx: &pcsc::Context, reader: &str) -> Result<pcsc::Card> {
    let name = reader_cstring(reader);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ctx.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => return Ok(card),
            Err(
                e @ (pcsc::Error::NoSmartcard
                | pcsc::Error::RemovedCard
                | pcsc::Error::ResetCard
                | pcsc::Error::UnpoweredCard
                | pcsc::Error::UnresponsiveCard),
            ) if Instant::now() < deadline => {
                let _ = e;
                thread::sleep(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(HarnessError::Pcsc {
                    what: format!("connect to \"{reader}\""),
                    source,
                })
            }
        }
    }
}

/// Sends one APDU and returns the whole response (`data || SW1 SW2`).
pub fn transmit(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    card.transmit(apdu, &mut buf).map(<[u8]>::to_vec)
}

/// [`transmit`] with a hex APDU, as a typed [`Response`].
pub fn transmit_hex(card: &pcsc::Card, apdu_hex: &str) -> Result<Response> {
    let apdu = hex::decode(apdu_hex)
        .map_err(|e| HarnessError::Card(format!("bad hex APDU {apdu_hex}: {e}")))?;
    let raw = transmit(card, &apdu).map_err(|source| HarnessError::Pcsc {
        what: format!("transmit {apdu_hex}"),
        source,
    })?;
    Response::parse(&raw).map_err(|e| HarnessError::Card(format!("response to {apdu_hex}: {e}")))
}

/// Sends a contract command and returns its data, or an error naming the status word.
fn exchange(card: &pcsc::Card, what: &str, apdu: &[u8]) -> Result<Vec<u8>> {
    let raw = transmit(card, apdu).map_err(|source| HarnessError::Pcsc {
        what: what.to_string(),
        source,
    })?;
    let response = Response::parse(&raw).map_err(|e| HarnessError::Card(format!("{what}: {e}")))?;
    match response.success_data() {
        Ok(data) => Ok(data.to_vec()),
        Err(sw) => Err(HarnessError::Card(format!(
            "{what} answered {:04X} ({})",
            u16::from_be_bytes(sw.to_bytes()),
            sw.name()
        ))),
    }
}

/// The ATR of the card in `reader`, from PC/SC.
pub fn atr_of(card: &pcsc::Card) -> Result<Vec<u8>> {
    card.status2_owned()
        .map(|s| s.atr().to_vec())
        .map_err(|source| HarnessError::Pcsc {
            what: "status".into(),
            source,
        })
}

// ---- card set-up: personalisation and loads with the development keys --------------------------

/// The development master keys (`keys/dev-master-keys.json`).
pub fn dev_keys() -> Result<MasterKeys> {
    let path = workspace_root().join("keys").join("dev-master-keys.json");
    MasterKeys::load(&path)
        .map_err(|e| HarnessError::Card(format!("cannot load {}: {e}", path.display())))
}

fn card_key(keys: &MasterKeys, name: KeyName, serial: &Serial) -> sam::Key16 {
    sam::diversify(keys.get(name), &serial.0)
}

/// What [`personalise_purse`] writes besides the keys.
#[derive(Debug, Clone)]
pub struct PurseProfile {
    /// Card serial.
    pub serial: Serial,
    /// Cardholder PIN (digits).
    pub pin: String,
    /// Limits (minor units).
    pub limits: Limits,
}

impl PurseProfile {
    /// A test profile with `serial`: PIN 1234, e-Cash and Food up to 1000.00 (500.00 per
    /// transaction), no-PIN limit 50.00, unconnected loads up to 200.00.
    pub fn test(serial: [u8; 8]) -> Result<PurseProfile> {
        let amount = |v| Amount::new(v).map_err(|e| HarnessError::Card(e.to_string()));
        Ok(PurseProfile {
            serial: Serial(serial),
            pin: "1234".into(),
            limits: Limits {
                ecash_max_balance: amount(100_000)?,
                ecash_max_amount: amount(50_000)?,
                food_max_balance: amount(100_000)?,
                food_max_amount: amount(50_000)?,
                no_pin_limit: amount(5_000)?,
                uc_max: amount(20_000)?,
            },
        })
    }
}

/// Personalises a BLANK purse card (selected or not) with keys diversified from `keys` for the
/// profile's serial, under the transport key (SPEC 1.10, 2.13). The card is ACTIVE after it.
pub fn personalise_purse(
    card: &pcsc::Card,
    keys: &MasterKeys,
    profile: &PurseProfile,
) -> Result<()> {
    let spec = |e: apdu_spec::SpecError| HarnessError::Card(e.to_string());
    exchange(
        card,
        "SELECT purse",
        &Select {
            applet: apdu_spec::Applet::Purse,
        }
        .to_bytes(),
    )?;
    let challenge = exchange(card, "GET CHALLENGE", &GetChallenge.to_bytes())?;
    let rnd: [u8; 4] = challenge
        .as_slice()
        .try_into()
        .map_err(|_| HarnessError::Card(format!("GET CHALLENGE gave {} bytes", challenge.len())))?;
    let transport = keys.get(KeyName::Transport);
    let sk_mac = sam::diversify(transport, &session_diversifier(rnd, 0, TxType::PersoMac, 0));
    let sk_enc = sam::diversify(transport, &session_diversifier(rnd, 0, TxType::PersoEnc, 0));
    let key = |name| KeyBytes::new(*card_key(keys, name, &profile.serial).expose_secret());
    let pd = PursePersoData {
        serial: profile.serial,
        key_version: keys.key_version(),
        k_load: key(KeyName::Load),
        k_purchase: key(KeyName::Purchase),
        k_tac: key(KeyName::Tac),
        k_admin: key(KeyName::Admin),
        limits: profile.limits,
        pin: PinBlock::from_digits(&profile.pin).map_err(spec)?,
        pin_try_limit: 3,
        uc_limit: 3,
        food_mccs: MccAllowlist::new(&[
            Mcc::new(5411).map_err(spec)?,
            Mcc::new(5812).map_err(spec)?,
        ])
        .map_err(spec)?,
    };
    pd.validate().map_err(spec)?;
    let padded = sam::pad_m2(&pd.to_bytes());
    let c = sam::cbc_encrypt(&sk_enc, [0; 8], &padded)
        .map_err(|e| HarnessError::Card(format!("encrypting PD: {e}")))?;
    let cryptogram: [u8; 128] = c
        .as_slice()
        .try_into()
        .map_err(|_| HarnessError::Card(format!("PD cryptogram has {} bytes, not 128", c.len())))?;
    let mac_p = sam::retail_mac_m2(&sk_mac, &perso_mac_input(&cryptogram));
    exchange(
        card,
        "PERSONALIZE",
        &PersonalizePurse { cryptogram, mac_p }.to_bytes(),
    )?;
    Ok(())
}

/// What a completed load left on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReceipt {
    /// Balance after the load.
    pub balance: Amount,
    /// The load counter it used.
    pub counter: u16,
    /// The card's TAC over the load.
    pub tac: [u8; 8],
}

/// The terminal id the harness loads from.
pub const TEST_TERMINAL: [u8; 6] = *b"E2E001";

/// A complete connected load (SELECT, INITIALIZE LOAD, MAC1 checked, CREDIT LOAD with MAC2) of
/// `amount` minor units into `purse` of a personalised card, as the back office would do it.
/// A Food-Voucher load gets expiry 2099-12-31.
pub fn load_purse(
    card: &pcsc::Card,
    keys: &MasterKeys,
    serial: &Serial,
    purse: Purse,
    amount: u32,
) -> Result<LoadReceipt> {
    let spec = |e: apdu_spec::SpecError| HarnessError::Card(e.to_string());
    exchange(
        card,
        "SELECT purse",
        &Select {
            applet: apdu_spec::Applet::Purse,
        }
        .to_bytes(),
    )?;
    let init = InitializeLoad {
        purse,
        key_version: 0,
        amount: Amount::new(amount).map_err(spec)?,
        terminal: TerminalId(TEST_TERMINAL),
        expiry: match purse {
            Purse::Ecash => None,
            Purse::Food => Some(Date::new(2099, 12, 31).map_err(spec)?),
        },
    };
    let data = exchange(card, "INITIALIZE LOAD", &init.to_bytes())?;
    let response = InitLoadResponse::parse(&data).map_err(spec)?;
    let ctx = apdu_spec::LoadContext::new(*serial, &init, &response);
    let k_load = card_key(keys, KeyName::Load, serial);
    let sk = sam::diversify(
        &k_load,
        &session_diversifier(response.rnd, response.counter, TxType::Load, purse.code()),
    );
    let mac1 = sam::retail_mac_m2(&sk, &load_mac1_input(&ctx, response.balance));
    if !sam::mac_eq(&mac1, &response.mac1) {
        return Err(HarnessError::Card(
            "INITIALIZE LOAD MAC1 does not verify with the development keys (card personalised with other keys?)".into(),
        ));
    }
    let datetime = DateTime::new(Date::new(2025, 6, 1).map_err(spec)?, 10, 30, 0).map_err(spec)?;
    let mac2 = sam::retail_mac_m2(&sk, &load_mac2_input(&ctx, datetime));
    let data = exchange(
        card,
        "CREDIT LOAD",
        &CreditLoad {
            purse,
            datetime,
            mac2,
        }
        .to_bytes(),
    )?;
    let credited = CreditLoadResponse::parse(&data).map_err(spec)?;
    Ok(LoadReceipt {
        balance: credited.balance,
        counter: response.counter,
        tac: credited.tac,
    })
}

/// SELECTs the purse applet and decodes its FCI.
pub fn select_purse(card: &pcsc::Card) -> Result<Fci> {
    let data = exchange(
        card,
        "SELECT purse",
        &Select {
            applet: apdu_spec::Applet::Purse,
        }
        .to_bytes(),
    )?;
    Fci::parse(&data).map_err(|e| HarnessError::Card(format!("purse FCI: {e}")))
}

/// The hex of the purse AID (upper case), as `card info --json` must report it.
pub fn purse_aid_hex() -> String {
    hex::encode_upper(PURSE_AID)
}

/// The status word's 4 hex digits, upper case.
pub fn sw_hex(sw: StatusWord) -> String {
    hex::encode_upper(sw.to_bytes())
}

/// A lock for tests in one binary that must not overlap for reasons outside the slots (e.g.
/// timing measurements).
pub fn process_mutex() -> &'static Mutex<()> {
    static M: Mutex<()> = Mutex::new(());
    &M
}

/// GET STATUS of the (selected) purse applet, decoded.
pub fn purse_status(card: &pcsc::Card) -> Result<apdu_spec::PurseStatus> {
    let data = exchange(card, "GET STATUS", &apdu_spec::GetStatus.to_bytes())?;
    apdu_spec::PurseStatus::parse(&data).map_err(|e| HarnessError::Card(format!("GET STATUS: {e}")))
}

/// A serial no other test card of this run has: `E2` || pid (4 bytes) || a counter (3 bytes).
pub fn unique_serial() -> [u8; 8] {
    static N: AtomicU32 = AtomicU32::new(1);
    let pid = std::process::id().to_be_bytes();
    let n = N.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    [0xE2, pid[0], pid[1], pid[2], pid[3], n[1], n[2], n[3]]
}

/// Inserts a fresh purse card in the leased slot, personalises it with the development keys
/// ([`PurseProfile::test`], a [`unique_serial`]) and returns a connection to it with its
/// profile. The card is ACTIVE with zero balances.
pub fn new_active_purse(
    lease: &mut SlotLease,
    keys: &MasterKeys,
) -> Result<(pcsc::Context, pcsc::Card, PurseProfile)> {
    lease.insert_new_card(CardKind::Purse)?;
    let profile = PurseProfile::test(unique_serial())?;
    let ctx = pcsc_context()?;
    let card = connect(&ctx, lease.reader())?;
    personalise_purse(&card, keys, &profile)?;
    Ok((ctx, card, profile))
}

/// Waits until PC/SC reports `reader` with a card present (`present = true`) or empty, for at
/// most `timeout`, using `SCardGetStatusChange`; returns the final reader state (ATR included).
pub fn wait_reader(
    ctx: &pcsc::Context,
    reader: &str,
    present: bool,
    timeout: Duration,
) -> Result<pcsc::ReaderState> {
    let mut states = [pcsc::ReaderState::new(
        reader_cstring(reader),
        pcsc::State::UNAWARE,
    )];
    let deadline = Instant::now() + timeout;
    loop {
        match ctx.get_status_change(
            Some(deadline.saturating_duration_since(Instant::now())),
            &mut states,
        ) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(source) => {
                return Err(HarnessError::Pcsc {
                    what: format!("get_status_change on \"{reader}\""),
                    source,
                })
            }
        }
        let event = states[0].event_state();
        let is_present = event.contains(pcsc::State::PRESENT);
        let is_empty = event.contains(pcsc::State::EMPTY);
        if (present && is_present && !event.contains(pcsc::State::MUTE)) || (!present && is_empty) {
            let [state] = states;
            return Ok(state);
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout(format!(
                "\"{reader}\" did not become {} within {} ms (last state {event:?})",
                if present { "present" } else { "empty" },
                timeout.as_millis()
            )));
        }
        states[0].sync_current_state();
    }
}

/// An installation home for the `epurse` workflows (the embedded ledger, the development master
/// keys, SAM directories) in a fresh temporary directory, removed on drop. Commands run with
/// `EPURSE_HOME`, `EPURSE_DB` and `EPURSE_KEYS` pointing into it, so tests share nothing.
pub struct InstallHome {
    dir: PathBuf,
}

impl InstallHome {
    /// A new home named after `tag` (the test file), with a copy of `keys/dev-master-keys.json`.
    pub fn new(tag: &str) -> Result<InstallHome> {
        static HOMES: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "epurse-{tag}-{}-{}",
            std::process::id(),
            HOMES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| HarnessError::Card(format!("create {}: {e}", dir.display())))?;
        std::fs::copy(
            workspace_root().join("keys/dev-master-keys.json"),
            dir.join("master-keys.json"),
        )
        .map_err(|e| HarnessError::Card(format!("copy dev keys: {e}")))?;
        Ok(InstallHome { dir })
    }

    /// The home directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `epurse ARGS` in this home (60 s timeout).
    pub fn cmd(&self, args: &[&str]) -> Epurse {
        Epurse::new(args)
            .env("EPURSE_HOME", &self.dir.to_string_lossy())
            .env(
                "EPURSE_DB",
                &self.dir.join("backoffice.db").to_string_lossy(),
            )
            .env(
                "EPURSE_KEYS",
                &self.dir.join("master-keys.json").to_string_lossy(),
            )
            .timeout(Duration::from_secs(60))
    }

    /// Runs `epurse ARGS`, panicking only when the binary cannot be run at all.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> CliOutput {
        self.cmd(args).run().expect("epurse runs")
    }

    /// `epurse --json ARGS`, asserting success, parsed.
    #[track_caller]
    pub fn json<T: std::str::FromStr>(&self, args: &[&str]) -> T
    where
        T::Err: fmt::Display,
    {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        out.assert_success();
        out.json()
    }
}

impl Drop for InstallHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_parses_the_list_reply() {
        let w = Wallet::parse(
            "slot0=purse1/present slot1=-/empty/fault:drop-command:2(1 to go) cards=purse1:purse@0,e2e-7-0:purse@-,t:transfer@-:no-applet",
        )
        .expect("parses");
        assert_eq!(
            w.slots,
            vec![
                SlotView {
                    card: Some("purse1".into()),
                    state: "present".into(),
                    fault: None
                },
                SlotView {
                    card: None,
                    state: "empty".into(),
                    fault: Some("drop-command:2(1 to go)".into())
                },
            ]
        );
        assert_eq!(w.cards[0], ("purse1".into(), "purse".into(), Some(0)));
        assert_eq!(w.cards[1], ("e2e-7-0".into(), "purse".into(), None));
        assert_eq!(w.cards[2].0, "t");
    }

    #[test]
    fn wallet_refuses_a_reply_without_slots() {
        assert!(Wallet::parse("pong").is_err());
        assert!(Wallet::parse("slot0=x/present cards=broken").is_err());
    }

    #[test]
    fn unique_serials_differ_and_are_not_zero() {
        let (a, b) = (unique_serial(), unique_serial());
        assert_ne!(a, b);
        assert_ne!(a, [0; 8]);
    }
}
