//! The issuer master-key file, format `epurse-master-keys/1`.
//!
//! ```json
//! { "format": "epurse-master-keys/1",
//!   "comment": "optional free text",
//!   "key_version": 1,
//!   "keys": { "load":     { "key": "32 hex digits", "kcv": "6 hex digits" },
//!             "purchase": { ... }, "tac": { ... }, "admin": { ... },
//!             "transfer": { ... }, "settlement": { ... }, "transport": { ... } } }
//! ```
//!
//! Every key comes with its KCV as written in the key ceremony record; a key whose KCV does
//! not match is refused, so a mistyped digit is caught when the file is loaded rather than
//! when the first card fails to verify. All seven keys are required and nothing else is
//! accepted, so a misspelt name cannot be silently ignored.

use core::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{mac_eq, parse_hex, CryptoError, Key16};

/// The value of the `"format"` field this module reads and writes.
pub const FORMAT: &str = "epurse-master-keys/1";

/// The issuer master keys, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyName {
    /// Load MACs between card and back office (`K_LOAD` master).
    Load,
    /// Purchase MACs between card and SAM (`K_PURCHASE` master, also held by SAMs).
    Purchase,
    /// The card's transaction proof (`K_TAC` master; back office only).
    Tac,
    /// Issuer commands: block, unblock, PIN unblock, limits (`K_ADMIN` master).
    Admin,
    /// Transfer-card keys.
    Transfer,
    /// SAM settlement keys (diversified by SAM id).
    Settlement,
    /// Personalisation transport key.
    Transport,
}

impl KeyName {
    /// All key names, in file order.
    pub const ALL: [KeyName; 7] = [
        KeyName::Load,
        KeyName::Purchase,
        KeyName::Tac,
        KeyName::Admin,
        KeyName::Transfer,
        KeyName::Settlement,
        KeyName::Transport,
    ];

    /// The name used in the key file.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyName::Load => "load",
            KeyName::Purchase => "purchase",
            KeyName::Tac => "tac",
            KeyName::Admin => "admin",
            KeyName::Transfer => "transfer",
            KeyName::Settlement => "settlement",
            KeyName::Transport => "transport",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyName {
    type Err = KeyFileError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyName::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| KeyFileError::UnknownKey { name: s.to_owned() })
    }
}

/// What can be wrong with a key file. Messages name the file field or key at fault.
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read key file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write key file {}: {source}", path.display())]
    Unwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("key file is not valid JSON: {0}")]
    BadJson(#[source] serde_json::Error),

    #[error("key file must be a JSON object with \"format\", \"key_version\" and \"keys\"")]
    NotAnObject,

    #[error("key file has no \"{field}\" field")]
    MissingField { field: &'static str },

    #[error(
        "unexpected field \"{field}\" in the key file; allowed: format, comment, key_version, keys"
    )]
    UnknownField { field: String },

    #[error("field \"{field}\" must be {expected}")]
    BadField {
        field: &'static str,
        expected: &'static str,
    },

    #[error("unknown key file format {found}; expected \"{FORMAT}\"")]
    UnknownFormat { found: String },

    #[error("\"key_version\" must be an integer from 0 to 255, got {found}")]
    BadKeyVersion { found: String },

    #[error("key \"{name}\" is missing; the file must hold load, purchase, tac, admin, transfer, settlement and transport")]
    MissingKey { name: KeyName },

    #[error("unknown key \"{name}\"; expected one of load, purchase, tac, admin, transfer, settlement, transport")]
    UnknownKey { name: String },

    #[error("key \"{name}\": expected {{\"key\": \"<32 hex digits>\", \"kcv\": \"<6 hex digits>\"}}: {problem}")]
    BadKeyEntry {
        name: KeyName,
        problem: &'static str,
    },

    #[error("bad hex in key \"{name}\": {source}")]
    BadKeyHex {
        name: KeyName,
        #[source]
        source: CryptoError,
    },

    #[error("key \"{name}\" must be 16 bytes (32 hex digits), got {got} bytes")]
    BadKeyLength { name: KeyName, got: usize },

    #[error("key \"{name}\": KCV {found:?} is not 3 bytes (6 hex digits)")]
    BadKcv { name: KeyName, found: String },

    #[error("key \"{name}\": KCV mismatch: file says {file}, key gives {computed} — the key or its KCV was mistyped; check the key ceremony record")]
    KcvMismatch {
        name: KeyName,
        file: String,
        computed: String,
    },
}

/// A complete set of issuer master keys of one key version.
#[derive(Clone)]
pub struct MasterKeys {
    key_version: u8,
    comment: Option<String>,
    /// Indexed by `KeyName as usize`.
    keys: [Key16; 7],
}

impl MasterKeys {
    /// Builds a key set from a function giving each key (e.g. from a key ceremony tool).
    pub fn from_fn(key_version: u8, mut key: impl FnMut(KeyName) -> Key16) -> Self {
        MasterKeys {
            key_version,
            comment: None,
            keys: core::array::from_fn(|i| key(KeyName::ALL[i])),
        }
    }

    /// Sets the free-text `"comment"` written to the file.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Reads and checks a key file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|source| KeyFileError::Unreadable {
                path: path.to_owned(),
                source,
            })?;
        MasterKeys::parse(&text)
    }

    /// Parses and checks the text of a key file.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut root: Value = serde_json::from_str(text).map_err(KeyFileError::BadJson)?;
        let result = match root.as_object() {
            Some(object) => parse_root(object),
            None => Err(KeyFileError::NotAnObject),
        };
        wipe_strings(&mut root);
        result
    }

    /// The key of the given role.
    pub fn get(&self, name: KeyName) -> &Key16 {
        &self.keys[name.index()]
    }

    /// The issuer key version these keys belong to (cards report it in their responses).
    pub fn key_version(&self) -> u8 {
        self.key_version
    }

    /// The file's free-text comment, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The key file text, with every KCV computed from its key. Wiped when dropped.
    pub fn to_json(&self) -> Zeroizing<String> {
        let hex: [Zeroizing<String>; 7] = core::array::from_fn(|i| {
            Zeroizing::new(hex::encode_upper(self.keys[i].expose_secret()))
        });
        let kcv: [String; 7] = core::array::from_fn(|i| self.keys[i].kcv_hex());
        let entry = |name: KeyName| EntryOut {
            key: &hex[name.index()],
            kcv: &kcv[name.index()],
        };
        let file = FileOut {
            format: FORMAT,
            comment: self.comment.as_deref(),
            key_version: self.key_version,
            keys: KeysOut {
                load: entry(KeyName::Load),
                purchase: entry(KeyName::Purchase),
                tac: entry(KeyName::Tac),
                admin: entry(KeyName::Admin),
                transfer: entry(KeyName::Transfer),
                settlement: entry(KeyName::Settlement),
                transport: entry(KeyName::Transport),
            },
        };
        let mut text = match serde_json::to_string_pretty(&file) {
            Ok(text) => text,
            // Serialising plain strings and integers into a String cannot fail.
            Err(e) => unreachable!("serialising a key file failed: {e}"),
        };
        text.push('\n');
        Zeroizing::new(text)
    }

    /// Writes the keys to a new file (an existing file is never overwritten). On Unix the
    /// file is created readable by its owner only.
    pub fn save_new(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        let path = path.as_ref();
        write_new_private(path, self.to_json().as_bytes()).map_err(|source| {
            KeyFileError::Unwritable {
                path: path.to_owned(),
                source,
            }
        })
    }
}

impl fmt::Debug for MasterKeys {
    /// Names and KCVs only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("MasterKeys");
        s.field("key_version", &self.key_version);
        for name in KeyName::ALL {
            s.field(name.as_str(), self.get(name));
        }
        s.finish()
    }
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    key_version: u8,
    keys: KeysOut<'a>,
}

#[derive(Serialize)]
struct KeysOut<'a> {
    load: EntryOut<'a>,
    purchase: EntryOut<'a>,
    tac: EntryOut<'a>,
    admin: EntryOut<'a>,
    transfer: EntryOut<'a>,
    settlement: EntryOut<'a>,
    transport: EntryOut<'a>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    key: &'a str,
    kcv: &'a str,
}

fn parse_root(root: &Map<String, Value>) -> Result<MasterKeys, KeyFileError> {
    if let Some(field) = root
        .keys()
        .find(|k| !matches!(k.as_str(), "format" | "comment" | "key_version" | "keys"))
    {
        return Err(KeyFileError::UnknownField {
            field: field.clone(),
        });
    }

    match root.get("format") {
        None => return Err(KeyFileError::MissingField { field: "format" }),
        Some(Value::String(s)) if s == FORMAT => {}
        Some(other) => {
            return Err(KeyFileError::UnknownFormat {
                found: other.to_string(),
            })
        }
    }

    let comment = match root.get("comment") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(KeyFileError::BadField {
                field: "comment",
                expected: "a string",
            })
        }
    };

    let key_version = match root.get("key_version") {
        None => {
            return Err(KeyFileError::MissingField {
                field: "key_version",
            })
        }
        Some(v) => v
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| KeyFileError::BadKeyVersion {
                found: v.to_string(),
            })?,
    };

    let keys = match root.get("keys") {
        None => return Err(KeyFileError::MissingField { field: "keys" }),
        Some(Value::Object(keys)) => keys,
        Some(_) => {
            return Err(KeyFileError::BadField {
                field: "keys",
                expected: "an object mapping key names to {\"key\", \"kcv\"}",
            })
        }
    };
    if let Some(unknown) = keys.keys().find(|k| k.parse::<KeyName>().is_err()) {
        return Err(KeyFileError::UnknownKey {
            name: unknown.clone(),
        });
    }

    let mut parsed = Vec::with_capacity(KeyName::ALL.len());
    for name in KeyName::ALL {
        let entry = keys
            .get(name.as_str())
            .ok_or(KeyFileError::MissingKey { name })?;
        parsed.push(parse_entry(name, entry)?);
    }
    // Exactly one key per name was pushed, in `KeyName::ALL` (= index) order.
    let keys: [Key16; 7] = parsed.try_into().map_err(|_| KeyFileError::MissingKey {
        name: KeyName::Load,
    })?;
    Ok(MasterKeys {
        key_version,
        comment,
        keys,
    })
}

fn parse_entry(name: KeyName, entry: &Value) -> Result<Key16, KeyFileError> {
    let bad = |problem| KeyFileError::BadKeyEntry { name, problem };
    let entry = entry.as_object().ok_or(bad("the entry is not an object"))?;
    if entry.keys().any(|k| k != "key" && k != "kcv") {
        return Err(bad("it has fields other than \"key\" and \"kcv\""));
    }
    let key_hex = match entry.get("key") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("\"key\" is not a string")),
        None => return Err(bad("\"key\" is missing")),
    };
    let kcv_hex = match entry.get("kcv") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("\"kcv\" is not a string")),
        None => return Err(bad("\"kcv\" is missing")),
    };

    key_with_kcv(key_hex, kcv_hex).map_err(|problem| match problem {
        KeyKcvProblem::KeyHex(source) => KeyFileError::BadKeyHex { name, source },
        KeyKcvProblem::KeyLength(got) => KeyFileError::BadKeyLength { name, got },
        KeyKcvProblem::BadKcv => KeyFileError::BadKcv {
            name,
            found: kcv_hex.clone(),
        },
        KeyKcvProblem::KcvMismatch { file, computed } => KeyFileError::KcvMismatch {
            name,
            file,
            computed,
        },
    })
}

/// Why a key written with its KCV (both as hex text) was refused; each file format maps
/// this onto its own error.
pub(crate) enum KeyKcvProblem {
    /// The key is not hex.
    KeyHex(CryptoError),
    /// The key is not 16 bytes; the length it has.
    KeyLength(usize),
    /// The KCV is not 3 bytes of hex.
    BadKcv,
    /// The KCV does not match the key (both as upper-case hex).
    KcvMismatch { file: String, computed: String },
}

/// Parses a 16-byte key and checks it against its 3-byte KCV; the key bytes are wiped
/// from every temporary buffer.
pub(crate) fn key_with_kcv(key_hex: &str, kcv_hex: &str) -> Result<Key16, KeyKcvProblem> {
    let mut bytes = parse_hex(key_hex).map_err(KeyKcvProblem::KeyHex)?;
    let key = Key16::from_slice(&bytes);
    let got = bytes.len();
    bytes.zeroize();
    let key = key.map_err(|_| KeyKcvProblem::KeyLength(got))?;

    let kcv = match parse_hex(kcv_hex) {
        Ok(kcv) if kcv.len() == 3 => kcv,
        _ => return Err(KeyKcvProblem::BadKcv),
    };
    if !mac_eq(&kcv, &key.kcv()) {
        return Err(KeyKcvProblem::KcvMismatch {
            file: hex::encode_upper(&kcv),
            computed: key.kcv_hex(),
        });
    }
    Ok(key)
}

/// Writes `contents` to a new file at `path` (never overwriting one) and syncs it; on Unix
/// the file is created readable by its owner only.
pub(crate) fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Overwrites every string in a parsed JSON document (the key hex lives in them).
fn wipe_strings(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_strings),
        Value::Object(map) => map.values_mut().for_each(wipe_strings),
        _ => {}
    }
}
