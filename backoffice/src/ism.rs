//! The issuer security module (ISM): the only place in the system that holds the issuer master
//! keys (SPEC 1.2). It derives card and session keys on demand, checks what cards send (load
//! MAC1, TACs, unconnected-load confirmations) and computes what cards check (load MAC2,
//! issuer-command MACs, personalisation cryptograms, unconnected-load codes).
//!
//! Keys never leave it: there is no getter for a master or card key, `Debug` shows only the key
//! version, errors never carry key bytes or MAC values, and derived keys ([`sam::Key16`]) wipe
//! themselves when dropped at the end of each call. MAC inputs are built with the contract's
//! builders (`apdu_spec::mac`), so the card and the back office hash the same bytes.

use core::fmt;
use std::path::Path;

use apdu_spec::{
    load_mac1_input, load_mac2_input, perso_mac_input, session_diversifier, tac_input,
    unconnected_auth_input, unconnected_confirm_input, Amount, ApplicationBlock,
    ApplicationUnblock, Challenge, ContractCommand, Date, DateTime, InitLoadResponse,
    IssuerCommand, KeyBytes, Limits, LoadContext, MccAllowlist, PersonalizePurse, PinBlock,
    PinUnblock, Purse, PursePersoData, Serial, SetLimits, SpecError, TransactionRecord, TxType,
    UnblockTarget,
};
use sam::{KeyFileError, KeyName, MasterKeys};
use thiserror::Error;
use zeroize::Zeroizing;

/// What the ISM refuses. No variant carries key material or MAC bytes.
#[derive(Debug, Error)]
pub enum IsmError {
    /// The key file could not be read or failed its checks (KCVs included).
    #[error("cannot load the issuer master keys: {0}")]
    KeyFile(#[from] KeyFileError),
    /// The key file's key version cannot be given to cards.
    #[error("the master key file has key version {0:#04X}; cards use 0x01..=0xFE, so fix \"key_version\" in the key file")]
    BadKeyVersion(u8),
    /// A card (or request) names a key generation this ISM does not hold.
    #[error("key version {requested:#04X} is not held by this back office (it holds {held:#04X}); load the matching master-key file")]
    UnknownKeyVersion {
        /// The key version asked for.
        requested: u8,
        /// The key version held.
        held: u8,
    },
    /// The card's load MAC1 does not verify.
    #[error("load MAC1 does not verify: the INITIALIZE LOAD response was not produced by this card with these keys (wrong card or key version, corrupted or forged data)")]
    Mac1Invalid,
    /// A TAC does not verify.
    #[error("TAC does not verify: the transaction record was not signed by this card (wrong data or forgery)")]
    TacInvalid,
    /// An unconnected-load confirmation code does not verify.
    #[error("the unconnected-load confirmation code is wrong: check the digits the cardholder read from the pocket reader")]
    ConfirmInvalid,
    /// The card's admin counter is at `FFFF`: no issuer command can be accepted any more.
    #[error("the card's admin counter is exhausted (FFFF): the card must be replaced")]
    AdminCounterExhausted,
    /// A block operation was given data of the wrong size (a bug, reported rather than
    /// panicking).
    #[error("cryptographic operation failed: {0}")]
    Crypto(#[from] sam::CryptoError),
    /// Personalisation data or limits break a rule the card enforces.
    #[error("invalid card data: {0}")]
    InvalidCardData(#[from] SpecError),
}

/// The card-side facts an issuer command is bound to (SPEC 1.9): which card, the random of the
/// GET CHALLENGE sent just before, and the card's current admin counter (from GET STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerSession {
    /// The card serial.
    pub serial: Serial,
    /// The card's key version.
    pub key_version: u8,
    /// The GET CHALLENGE response sent right before the command.
    pub challenge: Challenge,
    /// The card's admin counter now; the command uses `ACTR = admin_counter + 1`.
    pub admin_counter: u16,
}

/// What a purse card is personalised with besides its keys (SPEC 2.13): the ISM adds the serial,
/// the key version and the four diversified keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardProfile {
    /// Limits, as in SET LIMITS.
    pub limits: Limits,
    /// The initial cardholder PIN (never stored by the back office).
    pub pin: PinBlock,
    /// PIN try limit, 1..=15.
    pub pin_try_limit: u8,
    /// Unconnected-load attempt limit (`UC_LIMIT`), 1..=15.
    pub uc_limit: u8,
    /// Merchant categories the Food-Voucher purse may be spent at.
    pub food_mccs: MccAllowlist,
}

/// The issuer security module. Cheap to share (`Arc`); every method takes `&self`.
pub struct IssuerSecurityModule {
    keys: MasterKeys,
}

impl fmt::Debug for IssuerSecurityModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSecurityModule")
            .field("key_version", &self.keys.key_version())
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl IssuerSecurityModule {
    /// Loads the master keys from a key file (`epurse-master-keys/1`); every key's KCV is checked
    /// against the file, so a mistyped key is refused here and not at the first card.
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self, IsmError> {
        Self::new(MasterKeys::load(path)?)
    }

    /// Takes already checked master keys (e.g. parsed from text).
    pub fn new(keys: MasterKeys) -> Result<Self, IsmError> {
        let kv = keys.key_version();
        if kv == 0x00 || kv == 0xFF {
            return Err(IsmError::BadKeyVersion(kv));
        }
        Ok(Self { keys })
    }

    /// The key version of the held master keys (written into every card personalised here).
    pub fn key_version(&self) -> u8 {
        self.keys.key_version()
    }

    /// The key check value of each master key, for operators to compare with the key ceremony
    /// record. A KCV does not reveal the key.
    pub fn key_check_values(&self) -> Vec<(KeyName, String)> {
        KeyName::ALL
            .into_iter()
            .map(|name| (name, self.keys.get(name).kcv_hex()))
            .collect()
    }

    fn check_version(&self, key_version: u8) -> Result<(), IsmError> {
        let held = self.keys.key_version();
        if key_version != held {
            return Err(IsmError::UnknownKeyVersion {
                requested: key_version,
                held,
            });
        }
        Ok(())
    }

    /// `EMVA(MK, SERIAL)` (SPEC 1.2).
    fn card_key(&self, master: KeyName, serial: &Serial) -> sam::Key16 {
        sam::diversify(self.keys.get(master), &serial.0)
    }

    /// `EMVA(K, RND || CTR || TT || X)` (SPEC 1.3).
    fn session_key(
        card_key: &sam::Key16,
        rnd: [u8; 4],
        counter: u16,
        tx_type: TxType,
        x: u8,
    ) -> sam::Key16 {
        sam::diversify(card_key, &session_diversifier(rnd, counter, tx_type, x))
    }

    fn load_session_key(
        &self,
        load: &LoadContext,
        key_version: u8,
        rnd: [u8; 4],
    ) -> Result<sam::Key16, IsmError> {
        self.check_version(key_version)?;
        let k_load = self.card_key(KeyName::Load, &load.serial);
        Ok(Self::session_key(
            &k_load,
            rnd,
            load.counter,
            TxType::Load,
            load.purse.code(),
        ))
    }

    /// Checks the card's load `MAC1` (SPEC 1.6) over the INITIALIZE LOAD exchange.
    pub fn verify_load_mac1(
        &self,
        load: &LoadContext,
        response: &InitLoadResponse,
    ) -> Result<(), IsmError> {
        let sk = self.load_session_key(load, response.key_version, response.rnd)?;
        let expected = sam::retail_mac_m2(&sk, &load_mac1_input(load, response.balance));
        if sam::mac_eq(&expected, &response.mac1) && load.counter == response.counter {
            Ok(())
        } else {
            Err(IsmError::Mac1Invalid)
        }
    }

    /// Computes the load `MAC2` (SPEC 1.6) the card checks in CREDIT LOAD.
    pub fn load_mac2(
        &self,
        load: &LoadContext,
        response: &InitLoadResponse,
        datetime: DateTime,
    ) -> Result<[u8; 8], IsmError> {
        let sk = self.load_session_key(load, response.key_version, response.rnd)?;
        Ok(sam::retail_mac_m2(&sk, &load_mac2_input(load, datetime)))
    }

    /// Checks a TAC (SPEC 1.5) over a transaction record of the card `serial`.
    pub fn verify_tac(
        &self,
        serial: &Serial,
        key_version: u8,
        record: &TransactionRecord,
        tac: &[u8; 8],
    ) -> Result<(), IsmError> {
        self.check_version(key_version)?;
        let k_tac = self.card_key(KeyName::Tac, serial);
        let expected = sam::retail_mac_m2(&k_tac, &tac_input(serial, record));
        if sam::mac_eq(&expected, tac) {
            Ok(())
        } else {
            Err(IsmError::TacInvalid)
        }
    }

    /// `MAC_A` (SPEC 1.9) of an issuer command, over the command as built (its own `MAC_A`
    /// field is excluded from the input).
    pub fn issuer_mac<C: IssuerCommand>(
        &self,
        session: &IssuerSession,
        command: &C,
    ) -> Result<[u8; 8], IsmError> {
        let sk = self.admin_session_key(session, C::INS.code(), TxType::Issuer)?;
        Ok(sam::retail_mac_m2(&sk, &command.mac_input()))
    }

    fn admin_session_key(
        &self,
        session: &IssuerSession,
        ins: u8,
        tx_type: TxType,
    ) -> Result<sam::Key16, IsmError> {
        self.check_version(session.key_version)?;
        let actr = session
            .admin_counter
            .checked_add(1)
            .ok_or(IsmError::AdminCounterExhausted)?;
        let k_admin = self.card_key(KeyName::Admin, &session.serial);
        Ok(Self::session_key(
            &k_admin,
            session.challenge.0,
            actr,
            tx_type,
            ins,
        ))
    }

    /// APPLICATION BLOCK with its `MAC_A`.
    pub fn application_block(&self, session: &IssuerSession) -> Result<ApplicationBlock, IsmError> {
        let mut command = ApplicationBlock { mac_a: [0; 8] };
        command.mac_a = self.issuer_mac(session, &command)?;
        Ok(command)
    }

    /// APPLICATION UNBLOCK (the card, or unconnected loading) with its `MAC_A`.
    pub fn application_unblock(
        &self,
        session: &IssuerSession,
        target: UnblockTarget,
    ) -> Result<ApplicationUnblock, IsmError> {
        let mut command = ApplicationUnblock {
            target,
            mac_a: [0; 8],
        };
        command.mac_a = self.issuer_mac(session, &command)?;
        Ok(command)
    }

    /// PIN UNBLOCK: resets the try counter, and with `new_pin` also sets a new PIN, encrypted
    /// under `SK_ADMIN_ENC` (SPEC 1.9, 2.11).
    pub fn pin_unblock(
        &self,
        session: &IssuerSession,
        new_pin: Option<&PinBlock>,
    ) -> Result<PinUnblock, IsmError> {
        let encrypted_pin = match new_pin {
            None => None,
            Some(pin) => {
                let sk_enc =
                    self.admin_session_key(session, PinUnblock::INS.code(), TxType::AdminEnc)?;
                Some(sam::encrypt_block(&sk_enc, *pin.as_bytes()))
            }
        };
        let mut command = PinUnblock {
            encrypted_pin,
            mac_a: [0; 8],
        };
        command.mac_a = self.issuer_mac(session, &command)?;
        Ok(command)
    }

    /// SET LIMITS with its `MAC_A`; limits the card would refuse (`6A80`) are refused here.
    pub fn set_limits(
        &self,
        session: &IssuerSession,
        limits: Limits,
    ) -> Result<SetLimits, IsmError> {
        limits.validate()?;
        let mut command = SetLimits {
            limits,
            mac_a: [0; 8],
        };
        command.mac_a = self.issuer_mac(session, &command)?;
        Ok(command)
    }

    /// The PERSONALIZE command for a blank purse card (SPEC 1.10, 2.13): the card keys are
    /// diversified from the masters with `serial`, the personalisation data is encrypted under
    /// `SK_PERSO_ENC` and MACed under `SK_PERSO_MAC`, both from the transport key and the
    /// card's GET CHALLENGE random. The plaintext never leaves this function.
    pub fn personalize_purse(
        &self,
        serial: Serial,
        profile: &CardProfile,
        challenge: Challenge,
    ) -> Result<PersonalizePurse, IsmError> {
        let key_bytes = |name| KeyBytes::new(*self.card_key(name, &serial).expose_secret());
        let pd = PursePersoData {
            serial,
            key_version: self.key_version(),
            k_load: key_bytes(KeyName::Load),
            k_purchase: key_bytes(KeyName::Purchase),
            k_tac: key_bytes(KeyName::Tac),
            k_admin: key_bytes(KeyName::Admin),
            limits: profile.limits,
            pin: profile.pin.clone(),
            pin_try_limit: profile.pin_try_limit,
            uc_limit: profile.uc_limit,
            food_mccs: profile.food_mccs.clone(),
        };
        pd.validate()?;
        let padded = Zeroizing::new(sam::pad_m2(&pd.to_bytes()));
        let transport = self.keys.get(KeyName::Transport);
        let sk_enc = Self::session_key(transport, challenge.0, 0, TxType::PersoEnc, 0);
        let sk_mac = Self::session_key(transport, challenge.0, 0, TxType::PersoMac, 0);
        let encrypted = Zeroizing::new(sam::cbc_encrypt(&sk_enc, [0; 8], &padded)?);
        // 124 bytes of PD pad to exactly 128 (SPEC 2.13).
        let cryptogram: [u8; 128] =
            encrypted
                .as_slice()
                .try_into()
                .map_err(|_| sam::CryptoError::NotBlockAligned {
                    len: encrypted.len(),
                })?;
        let mac_p = sam::retail_mac_m2(&sk_mac, &perso_mac_input(&cryptogram));
        Ok(PersonalizePurse { cryptogram, mac_p })
    }

    fn unconnected_session_key(
        &self,
        serial: &Serial,
        key_version: u8,
        purse: Purse,
        counter: u16,
    ) -> Result<sam::Key16, IsmError> {
        self.check_version(key_version)?;
        let k_load = self.card_key(KeyName::Load, serial);
        Ok(Self::session_key(
            &k_load,
            [0; 4],
            counter,
            TxType::UnconnectedLoad,
            purse.code(),
        ))
    }

    /// The unconnected-load authorisation code `code8(AUTH)` (SPEC 1.8) for the load with
    /// counter `counter` (the purse's load counter + 1).
    pub fn unconnected_auth_code(
        &self,
        serial: &Serial,
        key_version: u8,
        purse: Purse,
        counter: u16,
        amount: Amount,
        expiry: Option<Date>,
    ) -> Result<u32, IsmError> {
        let sk = self.unconnected_session_key(serial, key_version, purse, counter)?;
        let mac = sam::retail_mac_m2(
            &sk,
            &unconnected_auth_input(serial, purse, counter, amount, expiry),
        );
        Ok(apdu_spec::code8(&mac))
    }

    /// Checks the card's unconnected-load confirmation code `code8(CONFIRM)` (SPEC 1.8).
    pub fn verify_unconnected_confirm(
        &self,
        serial: &Serial,
        key_version: u8,
        purse: Purse,
        counter: u16,
        amount: Amount,
        confirm_code: u32,
    ) -> Result<(), IsmError> {
        let sk = self.unconnected_session_key(serial, key_version, purse, counter)?;
        let mac = sam::retail_mac_m2(
            &sk,
            &unconnected_confirm_input(serial, purse, counter, amount),
        );
        let expected = apdu_spec::code8(&mac);
        if sam::mac_eq(&expected.to_be_bytes(), &confirm_code.to_be_bytes()) {
            Ok(())
        } else {
            Err(IsmError::ConfirmInvalid)
        }
    }
}

/// Settlement side of the ISM (issue 6): SAM files, batch seals, acknowledgements and
/// transfer-card personalisation. `MK_SETTLEMENT` and `MK_TRANSFER` never leave the ISM; only
/// a SAM's own diversified `K_SETTLE` goes into its SAM file.
impl IssuerSecurityModule {
    /// Issues a SAM file for `profile` (`MK_PURCHASE` and the SAM's `K_SETTLE`).
    pub fn issue_sam_file(
        &self,
        profile: sam::MerchantProfile,
    ) -> Result<sam::SamFile, sam::SamFileError> {
        sam::SamFile::issue(&self.keys, profile)
    }

    /// Checks a batch's `SEAL` under `K_SETTLE` of the SAM its header names.
    pub fn verify_batch_seal(
        &self,
        batch: &apdu_spec::Batch,
    ) -> Result<(), sam::batch::BatchError> {
        let k_settle =
            sam::batch::settlement_key(self.keys.get(KeyName::Settlement), batch.header.sam_id);
        sam::batch::verify_seal(&k_settle, batch)
    }

    /// The CLEAR BATCH command (`ACKDATA ACK_SAM ACK_CARD`) for `batch` on transfer card
    /// `xserial`.
    pub fn acknowledge_batch(
        &self,
        batch: &apdu_spec::Batch,
        xserial: Serial,
        ack: apdu_spec::AckData,
    ) -> apdu_spec::ClearBatch {
        let k_settle =
            sam::batch::settlement_key(self.keys.get(KeyName::Settlement), batch.header.sam_id);
        let k_xfer = sam::batch::transfer_card_key(self.keys.get(KeyName::Transfer), xserial);
        sam::batch::clear_batch_command(&k_settle, &k_xfer, xserial, batch, ack)
    }

    /// The PERSONALIZE command for a blank transfer card (SPEC 3.2): `XSERIAL KV K_XFER`
    /// encrypted and MACed under the transport key's session keys for `challenge`.
    pub fn personalize_transfer(
        &self,
        xserial: Serial,
        challenge: Challenge,
    ) -> Result<apdu_spec::PersonalizeTransfer, IsmError> {
        let k_xfer = sam::batch::transfer_card_key(self.keys.get(KeyName::Transfer), xserial);
        let pd = apdu_spec::TransferPersoData {
            xserial,
            key_version: self.key_version(),
            k_xfer: KeyBytes::new(*k_xfer.expose_secret()),
        };
        pd.validate()?;
        let padded = Zeroizing::new(sam::pad_m2(&pd.to_bytes()));
        let transport = self.keys.get(KeyName::Transport);
        let sk_enc = Self::session_key(transport, challenge.0, 0, TxType::PersoEnc, 0);
        let sk_mac = Self::session_key(transport, challenge.0, 0, TxType::PersoMac, 0);
        let encrypted = Zeroizing::new(sam::cbc_encrypt(&sk_enc, [0; 8], &padded)?);
        let cryptogram: [u8; 32] =
            encrypted
                .as_slice()
                .try_into()
                .map_err(|_| sam::CryptoError::NotBlockAligned {
                    len: encrypted.len(),
                })?;
        let mac_p = sam::retail_mac_m2(&sk_mac, &perso_mac_input(&cryptogram));
        Ok(apdu_spec::PersonalizeTransfer { cryptogram, mac_p })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apdu_spec::{InitializeLoad, TerminalId};
    use sam::Key16;

    const DEV_KEYS: &str = include_str!("../../keys/dev-master-keys.json");

    fn ism() -> IssuerSecurityModule {
        IssuerSecurityModule::new(MasterKeys::parse(DEV_KEYS).unwrap()).unwrap()
    }

    #[test]
    fn debug_and_errors_never_show_keys() {
        let ism = ism();
        let text = format!("{ism:?}");
        assert_eq!(
            text,
            "IssuerSecurityModule { key_version: 1, keys: \"<redacted>\" }"
        );
        for key in ["0123456789ABCDEF", "0123456789abcdef", "08D7B4"] {
            assert!(!text.contains(key));
        }
        let kcvs = ism.key_check_values();
        assert_eq!(kcvs.len(), 7);
        assert_eq!(kcvs[0], (KeyName::Load, "08D7B4".to_owned()));
    }

    #[test]
    fn refuses_unusable_key_versions() {
        for kv in [0u8, 0xFF] {
            let keys = MasterKeys::from_fn(kv, |_| Key16::from_bytes([0x11; 16]));
            assert!(matches!(
                IssuerSecurityModule::new(keys),
                Err(IsmError::BadKeyVersion(v)) if v == kv
            ));
        }
    }

    #[test]
    fn key_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let err = IssuerSecurityModule::from_key_file(&missing).unwrap_err();
        assert!(err
            .to_string()
            .contains("cannot load the issuer master keys"));
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, DEV_KEYS.replace("\"08D7B4\"", "\"08D7B5\"")).unwrap();
        let err = IssuerSecurityModule::from_key_file(&bad).unwrap_err();
        assert!(matches!(
            err,
            IsmError::KeyFile(KeyFileError::KcvMismatch { .. })
        ));
        assert!(!err.to_string().contains("0123456789ABCDEF"));
        let good = dir.path().join("good.json");
        std::fs::write(&good, DEV_KEYS).unwrap();
        assert_eq!(
            IssuerSecurityModule::from_key_file(&good)
                .unwrap()
                .key_version(),
            1
        );
    }

    #[test]
    fn wrong_key_version_is_refused() {
        let ism = ism();
        let serial = Serial([0x45, 0x50, 0, 0, 0, 0, 0, 9]);
        let command = InitializeLoad {
            purse: Purse::Ecash,
            key_version: 0,
            amount: Amount::new(100).unwrap(),
            terminal: TerminalId(*b"TLR001"),
            expiry: None,
        };
        let response = InitLoadResponse {
            balance: Amount::ZERO,
            counter: 1,
            key_version: 2,
            rnd: [1, 2, 3, 4],
            mac1: [0; 8],
        };
        let load = LoadContext::new(serial, &command, &response);
        assert!(matches!(
            ism.verify_load_mac1(&load, &response),
            Err(IsmError::UnknownKeyVersion {
                requested: 2,
                held: 1
            })
        ));
        let session = IssuerSession {
            serial,
            key_version: 1,
            challenge: Challenge([0; 4]),
            admin_counter: 0xFFFF,
        };
        assert!(matches!(
            ism.application_block(&session),
            Err(IsmError::AdminCounterExhausted)
        ));
    }
}
