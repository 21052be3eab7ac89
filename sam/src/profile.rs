//! The SAM file (format `epurse-sam/1`): what the back office issues to one merchant terminal
//! (`epurse backoffice sam-issue`) — the merchant profile and the SAM's two keys.
//!
//! ```json
//! { "format": "epurse-sam/1",
//!   "comment": "optional free text",
//!   "sam_id": "534D00000001",
//!   "merchant": { "id": "M-0001", "name": "Corner Grocery", "mcc": "5411", "food": true },
//!   "key_version": 1,
//!   "keys": { "purchase_master": { "key": "<32 hex>", "kcv": "<6 hex>" },
//!             "settlement":      { "key": "<32 hex>", "kcv": "<6 hex>" } } }
//! ```
//!
//! - `purchase_master` is the issuer's `MK_PURCHASE` (SPEC 1.2): like a payment PSAM, the SAM
//!   derives each card's `K_PURCHASE` from it and the card serial.
//! - `settlement` is the SAM's own `K_SETTLE = EMVA(MK_SETTLEMENT, SAM_ID || 00 00)`; the SAM
//!   never sees `MK_SETTLEMENT` (nor `MK_TAC`, so it cannot forge settlement records).
//! - `key_version` is the issuer key generation of `purchase_master` (P2 of INITIALIZE
//!   PURCHASE; the card reports its own in the response).
//! - `merchant.food` says whether the bank classes the merchant as a food merchant (the POS then
//!   offers the Food-Voucher purse); the card still checks the MCC against its own allowlist.
//!
//! Loading checks every field and both KCVs; unknown fields are refused. Keys are wiped on
//! drop and never printed (`Debug` shows KCVs only), and the file is written owner-only.

use core::fmt;
use std::io;
use std::path::{Path, PathBuf};

use apdu_spec::{Mcc, SamId};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::batch::settlement_key;
use crate::crypto::{diversify, Key16};
use crate::keyfile::{key_with_kcv, write_new_private, KeyKcvProblem, KeyName, MasterKeys};

/// The value of the `"format"` field of a SAM file.
pub const SAM_FILE_FORMAT: &str = "epurse-sam/1";

/// Longest merchant id.
pub const MERCHANT_ID_MAX: usize = 32;
/// Longest merchant name.
pub const MERCHANT_NAME_MAX: usize = 64;

/// What is wrong with a SAM file or a merchant profile. Messages name the field at fault and
/// never contain key material.
#[derive(Debug, Error)]
pub enum SamFileError {
    /// The file cannot be read.
    #[error("cannot read SAM file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file cannot be written.
    #[error("cannot write SAM file {}: {source} (an existing SAM file is never overwritten)", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not JSON of the expected shape (missing, unknown or mistyped field).
    #[error("SAM file is not a valid {SAM_FILE_FORMAT} document: {0}")]
    BadJson(#[source] serde_json::Error),
    /// Another `"format"`.
    #[error("unknown SAM file format {found:?}; expected \"{SAM_FILE_FORMAT}\"")]
    UnknownFormat {
        /// The format found.
        found: String,
    },
    /// A field whose value is not acceptable.
    #[error("SAM file field \"{field}\": {problem}")]
    BadField {
        /// The field (dotted path).
        field: &'static str,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// A key whose KCV does not match.
    #[error("SAM file key \"{field}\": KCV mismatch: file says {file}, key gives {computed}; the file is damaged or was edited — ask the back office to issue it again")]
    KcvMismatch {
        /// The key field.
        field: &'static str,
        /// KCV in the file.
        file: String,
        /// KCV of the key.
        computed: String,
    },
    /// Issuing for a key version other than the master keys'.
    #[error("profile asks for key version {profile}, the master keys are version {master}")]
    KeyVersionMismatch {
        /// Key version in the profile.
        profile: u8,
        /// Key version of the master-key file.
        master: u8,
    },
}

/// A merchant's identifier at the bank: 1 to 32 characters `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MerchantId(String);

impl MerchantId {
    /// Checks and wraps a merchant id.
    pub fn new(id: impl Into<String>) -> Result<Self, SamFileError> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > MERCHANT_ID_MAX || !id.chars().all(allowed) {
            return Err(SamFileError::BadField {
                field: "merchant.id",
                problem: format!(
                    "{id:?} is not 1 to {MERCHANT_ID_MAX} characters of A-Z a-z 0-9 . _ -"
                ),
            });
        }
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who the SAM belongs to and how it identifies itself to cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantProfile {
    /// The SAM's 6-byte identifier (`SAM_ID`, SPEC 3.1), not all zero.
    pub sam_id: SamId,
    /// The merchant's id at the bank.
    pub merchant_id: MerchantId,
    /// The merchant's name for receipts (at most 64 characters, no control characters).
    pub merchant_name: String,
    /// Merchant category code sent in every DEBIT PURCHASE.
    pub mcc: Mcc,
    /// Whether the bank classes the merchant as a food merchant.
    pub food_merchant: bool,
    /// The issuer key version of the purchase master key (`01`..`FE`).
    pub key_version: u8,
}

impl MerchantProfile {
    /// Checks the fields that have rules beyond their types.
    pub fn validate(&self) -> Result<(), SamFileError> {
        if self.sam_id.is_zero() {
            return Err(SamFileError::BadField {
                field: "sam_id",
                problem: "all zero; a SAM id has at least one non-zero byte".into(),
            });
        }
        if self.merchant_name.chars().count() > MERCHANT_NAME_MAX
            || self.merchant_name.chars().any(char::is_control)
        {
            return Err(SamFileError::BadField {
                field: "merchant.name",
                problem: format!(
                    "at most {MERCHANT_NAME_MAX} characters without control characters"
                ),
            });
        }
        if !(0x01..=0xFE).contains(&self.key_version) {
            return Err(SamFileError::BadField {
                field: "key_version",
                problem: format!("{} is not 1..254", self.key_version),
            });
        }
        Ok(())
    }
}

/// A SAM's profile and keys, as issued by the back office.
#[derive(Clone)]
pub struct SamFile {
    profile: MerchantProfile,
    comment: Option<String>,
    purchase_master: Key16,
    settlement_key: Key16,
}

impl SamFile {
    /// Issues a SAM file from the issuer's master keys (back office only): copies
    /// `MK_PURCHASE` and derives `K_SETTLE` for the profile's SAM id.
    pub fn issue(master: &MasterKeys, profile: MerchantProfile) -> Result<Self, SamFileError> {
        profile.validate()?;
        if profile.key_version != master.key_version() {
            return Err(SamFileError::KeyVersionMismatch {
                profile: profile.key_version,
                master: master.key_version(),
            });
        }
        let settlement = settlement_key(master.get(KeyName::Settlement), profile.sam_id);
        Ok(Self {
            profile,
            comment: None,
            purchase_master: master.get(KeyName::Purchase).clone(),
            settlement_key: settlement,
        })
    }

    /// A SAM file from its parts (a key ceremony tool, tests).
    pub fn from_parts(
        profile: MerchantProfile,
        purchase_master: Key16,
        settlement_key: Key16,
    ) -> Result<Self, SamFileError> {
        profile.validate()?;
        Ok(Self {
            profile,
            comment: None,
            purchase_master,
            settlement_key,
        })
    }

    /// Sets the free-text `"comment"`.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Reads and checks a SAM file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SamFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|source| SamFileError::Unreadable {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text)
    }

    /// Parses and checks the text of a SAM file.
    pub fn parse(text: &str) -> Result<Self, SamFileError> {
        let doc: FileDoc = serde_json::from_str(text).map_err(SamFileError::BadJson)?;
        if doc.format != SAM_FILE_FORMAT {
            return Err(SamFileError::UnknownFormat { found: doc.format });
        }
        let sam_id: SamId = doc.sam_id.parse().map_err(|_| SamFileError::BadField {
            field: "sam_id",
            problem: format!("{:?} is not 12 hex digits", doc.sam_id),
        })?;
        let mcc: Mcc = doc
            .merchant
            .mcc
            .parse()
            .map_err(|_| SamFileError::BadField {
                field: "merchant.mcc",
                problem: format!("{:?} is not 4 decimal digits", doc.merchant.mcc),
            })?;
        let profile = MerchantProfile {
            sam_id,
            merchant_id: MerchantId::new(doc.merchant.id.clone())?,
            merchant_name: doc.merchant.name.clone(),
            mcc,
            food_merchant: doc.merchant.food,
            key_version: doc.key_version,
        };
        profile.validate()?;
        Ok(Self {
            profile,
            comment: doc.comment.clone(),
            purchase_master: doc.keys.purchase_master.key("keys.purchase_master")?,
            settlement_key: doc.keys.settlement.key("keys.settlement")?,
        })
    }

    /// The file text, with each KCV computed from its key. Wiped when dropped.
    pub fn to_json(&self) -> Zeroizing<String> {
        let entry = |key: &Key16| KeyEntry {
            key: hex::encode_upper(key.expose_secret()),
            kcv: key.kcv_hex(),
        };
        let doc = FileDoc {
            format: SAM_FILE_FORMAT.into(),
            comment: self.comment.clone(),
            sam_id: self.profile.sam_id.to_string(),
            merchant: MerchantDoc {
                id: self.profile.merchant_id.to_string(),
                name: self.profile.merchant_name.clone(),
                mcc: self.profile.mcc.to_string(),
                food: self.profile.food_merchant,
            },
            key_version: self.profile.key_version,
            keys: KeysDoc {
                purchase_master: entry(&self.purchase_master),
                settlement: entry(&self.settlement_key),
            },
        };
        let mut text = match serde_json::to_string_pretty(&doc) {
            Ok(text) => text,
            // Strings, booleans and integers always serialise.
            Err(e) => unreachable!("serialising a SAM file failed: {e}"),
        };
        text.push('\n');
        Zeroizing::new(text)
    }

    /// Writes the file, refusing to overwrite an existing one; owner-only on Unix.
    pub fn save_new(&self, path: impl AsRef<Path>) -> Result<(), SamFileError> {
        let path = path.as_ref();
        write_new_private(path, self.to_json().as_bytes()).map_err(|source| {
            SamFileError::Unwritable {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// The merchant profile.
    pub fn profile(&self) -> &MerchantProfile {
        &self.profile
    }

    /// The free-text comment, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// `MK_PURCHASE`.
    pub fn purchase_master(&self) -> &Key16 {
        &self.purchase_master
    }

    /// `K_SETTLE` of this SAM.
    pub fn settlement_key(&self) -> &Key16 {
        &self.settlement_key
    }

    /// The key that MACs this SAM's state files: `EMVA(K_SETTLE, "SAMSTATE")`. Derived, so it
    /// is bound to this SAM and never appears in any file; a different diversifier and message
    /// prefixes keep it apart from seals and acknowledgements.
    pub fn state_key(&self) -> Key16 {
        diversify(&self.settlement_key, b"SAMSTATE")
    }
}

impl fmt::Debug for SamFile {
    /// Profile and KCVs only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamFile")
            .field("profile", &self.profile)
            .field("purchase_master", &self.purchase_master)
            .field("settlement_key", &self.settlement_key)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    sam_id: String,
    merchant: MerchantDoc,
    key_version: u8,
    keys: KeysDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantDoc {
    id: String,
    #[serde(default)]
    name: String,
    mcc: String,
    food: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysDoc {
    purchase_master: KeyEntry,
    settlement: KeyEntry,
}

/// One key and its KCV as hex text; the text is wiped when the entry is dropped.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    key: String,
    kcv: String,
}

impl KeyEntry {
    fn key(&self, field: &'static str) -> Result<Key16, SamFileError> {
        key_with_kcv(&self.key, &self.kcv).map_err(|problem| {
            let problem = match problem {
                KeyKcvProblem::KeyHex(e) => format!("key is not hex ({e})"),
                KeyKcvProblem::KeyLength(got) => {
                    format!("key must be 16 bytes (32 hex digits), got {got} bytes")
                }
                KeyKcvProblem::BadKcv => format!("kcv {:?} is not 6 hex digits", self.kcv),
                KeyKcvProblem::KcvMismatch { file, computed } => {
                    return SamFileError::KcvMismatch {
                        field,
                        file,
                        computed,
                    }
                }
            };
            SamFileError::BadField { field, problem }
        })
    }
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}
