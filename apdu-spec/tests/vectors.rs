//! The shared vectors (`apdu-spec/vectors/*.json`, format `epurse-vectors/1`, see
//! `vectors/README.md`) checked against this crate and the `sam` crypto.
//!
//! For every file and every step:
//!
//! 1. the command parses with [`Command::parse`], and the typed command chosen by its
//!    `(CLA, INS)` rebuilds exactly the same bytes — or, if the typed parser refuses it, the card
//!    refused it too (the error vectors carry malformed fields on purpose);
//! 2. the response parses with [`Response::parse`]; on success its data parses with the typed
//!    parser of that command and re-serialises to the same bytes;
//! 3. every value in `derived` is recomputed — session diversifiers with
//!    [`session_diversifier`], MAC/TAC inputs with this crate's builders, keys and MACs with
//!    `sam::diversify` / `sam::retail_mac_m2` — and compared. A `derived` key this test does not
//!    check fails the test, so new generator output cannot pass unnoticed.
//!
//! The test fails (does not skip) when the directory holds no vector file.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::PathBuf;

use apdu_spec::*;
use sam::Key16;
use serde_json::{Map, Value};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn hexu(b: &[u8]) -> String {
    hex::encode_upper(b)
}

fn key(s: &str) -> Key16 {
    Key16::from_slice(&unhex(s)).expect("16-byte key")
}

fn mac(k: &Key16, m: &[u8]) -> [u8; 8] {
    sam::retail_mac_m2(k, m)
}

fn str_of<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {path}"))
}

/// The keys a file's steps are checked with.
struct Keys {
    load: Option<Key16>,
    purchase: Option<Key16>,
    tac: Option<Key16>,
    admin: Option<Key16>,
    transfer: Option<Key16>,
    settlement: Option<Key16>,
    transport: Key16,
    master_tac: Key16,
}

/// The batch object of `transfer.json`.
struct BatchVector {
    bytes: Vec<u8>,
    seal: [u8; 8],
    ack: AckData,
    ack_sam: [u8; 8],
}

/// What the host side knows between steps.
struct Tracker {
    applet: Applet,
    serial: Serial,
    keys: Keys,
    /// The challenge the card holds (consumed by any next command).
    challenge: Option<[u8; 4]>,
    /// The last INITIALIZE LOAD / PURCHASE exchanges (the host keeps them after the card's
    /// session closed, e.g. to build the MAC2 of a CREDIT LOAD the card will refuse).
    last_load: Option<(InitializeLoad, InitLoadResponse)>,
    last_purchase: Option<(InitializePurchase, InitPurchaseResponse)>,
    admin_counter: u16,
    load_counters: [u16; 2],
    purchase_counters: [u16; 2],
    batch: Option<BatchVector>,
}

fn purse_index(p: Purse) -> usize {
    match p {
        Purse::Ecash => 0,
        Purse::Food => 1,
    }
}

/// One step's bookkeeping: which derived keys were checked, and the failures.
struct Step<'a> {
    at: String,
    derived: &'a Map<String, Value>,
    used: BTreeSet<String>,
    errors: &'a mut Vec<String>,
    checks: &'a mut usize,
}

impl Step<'_> {
    fn fail(&mut self, msg: impl AsRef<str>) {
        self.errors.push(format!("{}: {}", self.at, msg.as_ref()));
    }

    fn has(&self, k: &str) -> bool {
        self.derived.contains_key(k)
    }

    /// A derived hex value (marked as checked by the caller's use of it).
    fn get(&mut self, k: &str) -> Option<Vec<u8>> {
        let v = self.derived.get(k)?;
        self.used.insert(k.to_string());
        match v.as_str() {
            Some(s) => Some(unhex(s)),
            None => {
                self.fail(format!("derived {k} is not a hex string"));
                None
            }
        }
    }

    fn get_array<const N: usize>(&mut self, k: &str) -> Option<[u8; N]> {
        let v = self.get(k)?;
        match v.try_into() {
            Ok(a) => Some(a),
            Err(v) => {
                self.fail(format!("derived {k} has {} bytes, expected {N}", v.len()));
                None
            }
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, what: &str, expected: T, actual: T) {
        *self.checks += 1;
        if expected != actual {
            self.fail(format!("{what}: expected {expected:?}, got {actual:?}"));
        }
    }

    /// Compares derived `k` (if present) with what this crate / `sam` computes.
    fn check(&mut self, k: &str, computed: &[u8]) {
        if let Some(v) = self.get(k) {
            *self.checks += 1;
            if v != computed {
                self.fail(format!(
                    "derived {k}: vector {} / computed {}",
                    hexu(&v),
                    hexu(computed)
                ));
            }
        }
    }

    /// Compares a derived text value (not hex), e.g. the 8 decimal digits of a code.
    fn check_text(&mut self, k: &str, computed: &str) {
        let Some(v) = self.derived.get(k) else { return };
        self.used.insert(k.to_string());
        *self.checks += 1;
        if v.as_str() != Some(computed) {
            self.fail(format!("derived {k}: vector {v} / computed {computed}"));
        }
    }

    /// The MAC a command carries: the right one, or `<k>_sent` when a wrong one was sent on
    /// purpose (which must then differ from the right one).
    fn check_sent(&mut self, k: &str, right: &[u8], carried: &[u8]) {
        let sent_key = format!("{k}_sent");
        match self.get(&sent_key) {
            Some(sent) => {
                self.eq(
                    &format!("{sent_key} carried by the command"),
                    hexu(&sent),
                    hexu(carried),
                );
                if sent == right {
                    self.fail(format!("{sent_key} equals the right {k}"));
                }
            }
            None => self.eq(
                &format!("{k} carried by the command"),
                hexu(right),
                hexu(carried),
            ),
        }
    }

    /// The challenge a MAC was built with: the outstanding one, or zeros (`note_challenge`).
    fn challenge(&mut self, outstanding: Option<[u8; 4]>) -> [u8; 4] {
        let used = if self.derived.contains_key("note_challenge") {
            self.used.insert("note_challenge".into());
            if outstanding.is_some() {
                self.fail("note_challenge, but a challenge was outstanding");
            }
            [0; 4]
        } else {
            match outstanding {
                Some(c) => c,
                None => {
                    self.fail("MAC built without an outstanding challenge and no note_challenge");
                    [0; 4]
                }
            }
        };
        self.check("challenge", &used);
        used
    }

    /// `session_diversifier` / `session_key` (or the `enc_` pair) of `k`; returns the key.
    fn session(&mut self, prefix: &str, k: &Key16, div: [u8; 8]) -> Key16 {
        self.check(&format!("{prefix}session_diversifier"), &div);
        let sk = sam::diversify(k, &div);
        self.check(&format!("{prefix}session_key"), sk.expose_secret());
        sk
    }

    /// `rec` / `tac_input` / `tac` of a record, the TAC recomputed with `K_TAC`.
    fn record(
        &mut self,
        serial: &Serial,
        k_tac: Option<&Key16>,
        rec: &TransactionRecord,
        card_tac: &[u8; 8],
    ) {
        self.check("rec", &rec.to_bytes());
        let input = tac_input(serial, rec);
        self.check("tac_input", &input);
        self.check("tac", card_tac);
        if let Some(k) = k_tac {
            self.eq(
                "TAC = MAC(K_TAC, 13 || SERIAL || REC)",
                hexu(&mac(k, &input)),
                hexu(card_tac),
            );
        }
    }

    /// The `rec_*` fields of READ LOG / proof steps.
    fn record_fields(&mut self, r: &TransactionRecord) {
        let fields: [(&str, Vec<u8>); 10] = [
            ("rec_tt", vec![r.record_type.code()]),
            ("rec_purse", vec![r.purse.code()]),
            ("rec_ctr", r.counter.to_be_bytes().to_vec()),
            ("rec_amount", r.amount.to_bytes().to_vec()),
            ("rec_balance", r.balance.to_bytes().to_vec()),
            ("rec_terminal", r.terminal.to_vec()),
            ("rec_samseq", r.sam_seq.to_be_bytes().to_vec()),
            ("rec_datetime", r.datetime.to_bcd().to_vec()),
            ("rec_mcc", r.mcc.to_bcd().to_vec()),
            ("rec_flags", vec![r.flags]),
        ];
        for (k, v) in fields {
            self.check(k, &v);
        }
    }

    /// Every derived key must have been checked.
    fn finish(self) {
        let unchecked: Vec<_> = self
            .derived
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect();
        if !unchecked.is_empty() {
            self.errors.push(format!(
                "{}: derived keys not checked: {unchecked:?}",
                self.at
            ));
        }
    }
}

enum Typed {
    Purse(PurseCommand),
    Transfer(TransferCommand),
}

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn shared_vectors() {
    let files = vector_files();
    assert!(
        !files.is_empty(),
        "no vector files in apdu-spec/vectors: the shared vectors are missing"
    );

    let mut errors = Vec::new();
    let mut checks = 0usize;
    let mut steps = 0usize;
    let mut refused = 0usize;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read vector file");
        let v: Value = serde_json::from_str(&text).expect("vector file is JSON");
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("?")
            .to_string();
        assert_eq!(str_of(&v, "/format"), "epurse-vectors/1", "{file}");
        let mut tracker = tracker_for(&v, &file, &mut errors, &mut checks);
        let list = v
            .pointer("/steps")
            .and_then(Value::as_array)
            .expect("steps");
        assert!(!list.is_empty(), "{file}: no steps");
        let empty = Map::new();
        for (i, s) in list.iter().enumerate() {
            steps += 1;
            let name = str_of(s, "/name");
            let derived = s
                .get("derived")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let mut step = Step {
                at: format!("{file} step {i} ({name})"),
                derived,
                used: BTreeSet::new(),
                errors: &mut errors,
                checks: &mut checks,
            };
            if !replay_step(
                &mut tracker,
                &mut step,
                name,
                &unhex(str_of(s, "/command")),
                &unhex(str_of(s, "/response")),
            ) {
                refused += 1;
            }
            step.finish();
        }
    }
    eprintln!(
        "shared vectors: {} files, {steps} steps, {checks} values compared, {refused} commands refused by the typed parsers (all refused by the card too)",
        files.len()
    );
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Reads the keys and the card, and checks the card keys and the batch object.
fn tracker_for(v: &Value, file: &str, errors: &mut Vec<String>, checks: &mut usize) -> Tracker {
    let mut fail = |m: String| errors.push(format!("{file}: {m}"));
    let applet = match str_of(v, "/card/applet") {
        "purse" => Applet::Purse,
        "transfer" => Applet::Transfer,
        other => panic!("{file}: unknown applet {other}"),
    };
    if unhex(str_of(v, "/card/aid")) != applet.aid() {
        fail("card.aid is not the applet's AID".into());
    }
    let serial: Serial = str_of(v, "/card/serial").parse().expect("serial");
    let master = |n: &str| key(str_of(v, &format!("/master_keys/{n}")));
    let transport = key(str_of(v, "/card/install_transport_key"));
    // Each card key is EMVA(MK, serial) with the KCV the file states.
    let mut card_key = |n: &str, mk: &str| -> Option<Key16> {
        let hex = v.pointer(&format!("/card/card_keys/{n}"))?.as_str()?;
        let k = key(hex);
        let derived = sam::diversify(&master(mk), &serial.0);
        *checks += 2;
        if derived.expose_secret() != k.expose_secret() {
            fail(format!("card key {n} is not EMVA(MK_{mk}, SERIAL)"));
        }
        if v.pointer(&format!("/card/card_key_kcvs/{n}"))
            .and_then(Value::as_str)
            != Some(&k.kcv_hex())
        {
            fail(format!("KCV of card key {n}"));
        }
        Some(k)
    };
    let keys = Keys {
        load: card_key("load", "load"),
        purchase: card_key("purchase", "purchase"),
        tac: card_key("tac", "tac"),
        admin: card_key("admin", "admin"),
        transfer: card_key("transfer", "transfer"),
        settlement: None,
        transport,
        master_tac: master("tac"),
    };
    let mut tracker = Tracker {
        applet,
        serial,
        keys,
        challenge: None,
        last_load: None,
        last_purchase: None,
        admin_counter: 0,
        load_counters: [0; 2],
        purchase_counters: [0; 2],
        batch: None,
    };
    if let Some(sam_id) = v.pointer("/sam/sam_id").and_then(Value::as_str) {
        let sam_id: SamId = sam_id.parse().expect("sam_id");
        let mut d = [0u8; 8];
        d[..6].copy_from_slice(&sam_id.0);
        let k = key(str_of(v, "/sam/settlement_key"));
        *checks += 1;
        if sam::diversify(&master("settlement"), &d).expose_secret() != k.expose_secret() {
            fail("sam.settlement_key is not EMVA(MK_SETTLEMENT, SAM_ID || 0000)".into());
        }
        let _: Mcc = str_of(v, "/sam/mcc").parse().expect("sam.mcc");
        tracker.keys.settlement = Some(k);
    }
    if let Some(b) = v.get("batch") {
        tracker.batch = Some(check_batch(b, &tracker, &mut fail, checks));
    }
    tracker
}

/// `transfer.json`'s batch: sources, header, records, seal, acknowledgement.
fn check_batch(
    b: &Value,
    t: &Tracker,
    fail: &mut impl FnMut(String),
    checks: &mut usize,
) -> BatchVector {
    let mut eq = |what: &str, a: Vec<u8>, c: Vec<u8>| {
        *checks += 1;
        if a != c {
            fail(format!(
                "batch {what}: vector {} / computed {}",
                hexu(&a),
                hexu(&c)
            ));
        }
    };
    let get = |k: &str| unhex(str_of(b, &format!("/{k}")));
    let bytes = get("batch");
    let batch = Batch::parse(&bytes).expect("batch parses");
    eq("re-serialised", bytes.clone(), batch.to_bytes());
    eq("header", get("header"), batch.header.to_bytes().to_vec());
    let records = b.get("records").and_then(Value::as_array).expect("records");
    eq(
        "record count",
        vec![records.len() as u8],
        vec![batch.records.len() as u8],
    );
    for (i, (r, parsed)) in records.iter().zip(&batch.records).enumerate() {
        let raw = unhex(r.as_str().expect("record hex"));
        eq(&format!("record {i}"), raw.clone(), parsed.to_bytes());
        eq(
            &format!("record {i} parse"),
            raw,
            SettlementRecord::parse(&parsed.to_bytes())
                .expect("record")
                .to_bytes(),
        );
    }
    let sources = b.get("source").and_then(Value::as_array).expect("source");
    for (i, (s, parsed)) in sources.iter().zip(&batch.records).enumerate() {
        let serial: Serial = str_of(s, "/serial").parse().expect("serial");
        let tac_key = key(str_of(s, "/tac_key"));
        eq(
            &format!("source {i} tac_key = EMVA(MK_TAC, serial)"),
            tac_key.expose_secret().to_vec(),
            sam::diversify(&t.keys.master_tac, &serial.0)
                .expose_secret()
                .to_vec(),
        );
        let rec = TransactionRecord::parse(&unhex(str_of(s, "/rec"))).expect("source rec");
        let tac = mac(&tac_key, &tac_input(&serial, &rec));
        eq(
            &format!("source {i} tac"),
            unhex(str_of(s, "/tac")),
            tac.to_vec(),
        );
        eq(
            &format!("source {i} in the batch"),
            parsed.to_bytes(),
            SettlementRecord {
                serial,
                record: rec,
                tac,
            }
            .to_bytes(),
        );
        eq(
            &format!("source {i} TAC over settlement record"),
            tac.to_vec(),
            mac(&tac_key, &settlement_tac_input(parsed)).to_vec(),
        );
    }
    let seal_in = seal_input(&batch.header, &batch.records);
    eq("seal_input", get("seal_input"), seal_in.clone());
    let settle = t
        .keys
        .settlement
        .as_ref()
        .expect("transfer.json has a SAM settlement key");
    eq("seal", get("seal"), mac(settle, &seal_in).to_vec());
    eq("seal in the batch", get("seal"), batch.seal.to_vec());
    let ack = AckData::parse(&get("ack_data")).expect("ack_data");
    eq("ack_data", get("ack_data"), ack.to_bytes().to_vec());
    let sam_in = ack_sam_input(&ack, &batch.seal);
    eq("ack_sam_input", get("ack_sam_input"), sam_in.clone());
    eq("ack_sam", get("ack_sam"), mac(settle, &sam_in).to_vec());
    let card_in = ack_card_input(&t.serial, &ack, &batch.seal);
    eq("ack_card_input", get("ack_card_input"), card_in.clone());
    let k_xfer = t.keys.transfer.as_ref().expect("transfer card key");
    eq("ack_card", get("ack_card"), mac(k_xfer, &card_in).to_vec());
    BatchVector {
        bytes,
        seal: batch.seal,
        ack,
        ack_sam: get("ack_sam").try_into().expect("8 bytes"),
    }
}

/// Checks one step; returns `false` when the typed parser refused the command.
fn replay_step(
    t: &mut Tracker,
    s: &mut Step<'_>,
    name: &str,
    cmd_bytes: &[u8],
    resp_bytes: &[u8],
) -> bool {
    // 1. framing
    let command = match Command::parse(cmd_bytes) {
        Ok(c) => c,
        Err(e) => {
            s.fail(format!("Command::parse: {e}"));
            return true;
        }
    };
    s.eq(
        "command re-serialised",
        hexu(cmd_bytes),
        hexu(&command.to_bytes()),
    );
    let response = match Response::parse(resp_bytes) {
        Ok(r) => r,
        Err(e) => {
            s.fail(format!("Response::parse: {e}"));
            return true;
        }
    };
    s.eq(
        "response re-serialised",
        hexu(resp_bytes),
        hexu(&response.to_bytes()),
    );
    let ins = command.instruction();
    if let Some(ins) = ins {
        s.eq("step name", ins.name(), name);
    }
    let ok = response.sw.is_success()
        || (response.sw == StatusWord::SelectedBlocked && ins == Some(Ins::Select));
    if !ok && !response.data.is_empty() {
        s.fail(format!("data with SW {}", response.sw));
    }

    // 2. typed command and response
    let typed = match t.applet {
        Applet::Purse => PurseCommand::from_command(&command).map(Typed::Purse),
        Applet::Transfer => TransferCommand::from_command(&command).map(Typed::Transfer),
    };
    let typed = match typed {
        Ok(typed) => {
            let rebuilt = match &typed {
                Typed::Purse(c) => c.to_command(),
                Typed::Transfer(c) => c.to_command(),
            };
            s.eq(
                "typed command rebuilt",
                hexu(cmd_bytes),
                hexu(&rebuilt.to_bytes()),
            );
            if ok {
                let reserialised = match &typed {
                    Typed::Purse(c) => {
                        PurseResponse::parse(c, &response.data).map(|r| r.to_bytes())
                    }
                    Typed::Transfer(c) => {
                        TransferResponse::parse(c, &response.data).map(|r| r.to_bytes())
                    }
                };
                match reserialised {
                    Ok(bytes) => s.eq(
                        "typed response re-serialised",
                        hexu(&response.data),
                        hexu(&bytes),
                    ),
                    Err(e) => s.fail(format!(
                        "typed response parser refused the card's answer: {e}"
                    )),
                }
            }
            Some(typed)
        }
        Err(e) => {
            if ok {
                s.fail(format!(
                    "typed parser refused a command the card accepted: {e}"
                ));
            } else {
                eprintln!(
                    "  {}: typed parser refused ({e}); card answered {}",
                    s.at, response.sw
                );
            }
            None
        }
    };
    let accepted = typed.is_some();

    // 3. derived values and host state
    let outstanding = t.challenge.take();
    let data = response.data.as_slice();
    match (ins, typed) {
        (Some(Ins::Select), _) => {
            if ok {
                match Fci::parse(data) {
                    Ok(fci) => {
                        s.eq("FCI applet", t.applet, fci.applet);
                        if !fci.serial.is_zero() {
                            s.eq("FCI serial", t.serial, fci.serial);
                        }
                    }
                    Err(e) => s.fail(format!("FCI: {e}")),
                }
            }
        }
        (Some(Ins::GetChallenge), _) => {
            if ok {
                if let Ok(c) = Challenge::parse(data) {
                    s.check("card_random", &c.0);
                    t.challenge = Some(c.0);
                }
            }
        }
        (Some(Ins::GetStatus), _) => {
            if ok {
                check_status(t, s, data);
            }
        }
        (Some(Ins::Personalize), _) => personalize(t, s, &command, outstanding, ok, response.sw),
        (
            Some(
                i @ (Ins::ApplicationBlock
                | Ins::ApplicationUnblock
                | Ins::PinUnblock
                | Ins::SetLimits),
            ),
            typed,
        ) => issuer(t, s, i, &command, typed, outstanding, ok),
        (Some(Ins::VerifyPin), _) => s.check("pinblock", command.data_bytes()),
        (Some(Ins::ChangePin), _) => {
            let d = command.data_bytes();
            s.check("old_pinblock", d.get(..8).unwrap_or_default());
            s.check("new_pinblock", d.get(8..).unwrap_or_default());
        }
        (_, Some(Typed::Purse(c))) => purse_step(t, s, c, data, ok),
        (_, Some(Typed::Transfer(c))) => transfer_step(t, s, c, data, ok),
        (_, None) => fallback(t, s, &command),
    }
    accepted
}

/// Steps whose command the typed parser refused (malformed on purpose, e.g. an MCC that is not
/// BCD or hour 25): the session key comes from the tracked INITIALIZE exchange, the MAC input is
/// this crate's builder output up to the malformed fields, which are compared with the raw
/// command bytes, and the MAC is recomputed over the derived input.
fn fallback(t: &Tracker, s: &mut Step<'_>, command: &Command) {
    let raw = command.data_bytes();
    let (k, div, prefix, tail, carried, mac_name) = match command.instruction() {
        Some(Ins::CreditLoad) if s.has("mac2_input") => {
            let Some((ic, ir)) = t.last_load.as_ref() else {
                return s.fail("CREDIT LOAD without a load");
            };
            let ctx = LoadContext::new(t.serial, ic, ir);
            let any_time: DateTime = "2000-01-01T00:00:00".parse().expect("date");
            let full = load_mac2_input(&ctx, any_time);
            (
                t.keys.load.as_ref(),
                session_diversifier(ir.rnd, ir.counter, TxType::Load, ic.purse.code()),
                full[..full.len() - 7].to_vec(),
                raw.get(..7).unwrap_or_default().to_vec(),
                raw.get(7..15).unwrap_or_default().to_vec(),
                "mac2",
            )
        }
        Some(Ins::DebitPurchase) if s.has("mac1_input") => {
            let Some((ic, ir)) = t.last_purchase.as_ref() else {
                return s.fail("DEBIT PURCHASE without a purchase");
            };
            let ctx = PurchaseContext::new(t.serial, ic, ir);
            let any_time: DateTime = "2000-01-01T00:00:00".parse().expect("date");
            let full = purchase_mac1_input(&ctx, ic.sam_id, 0, any_time, Mcc::NONE);
            s.check("samseq", raw.get(..4).unwrap_or_default());
            (
                t.keys.purchase.as_ref(),
                session_diversifier(ir.rnd, ir.counter, TxType::Purchase, ic.purse.code()),
                full[..full.len() - 13].to_vec(),
                raw.get(..13).unwrap_or_default().to_vec(),
                raw.get(13..21).unwrap_or_default().to_vec(),
                "mac1",
            )
        }
        _ => return,
    };
    let Some(k) = k.cloned() else {
        return s.fail("no card key");
    };
    let sk = s.session("", &k, div);
    let input_key = format!("{mac_name}_input");
    let Some(input) = s.get(&input_key) else {
        return;
    };
    s.eq(
        &format!("{input_key} up to the refused fields"),
        hexu(&prefix),
        hexu(input.get(..prefix.len()).unwrap_or_default()),
    );
    s.eq(
        &format!("{input_key} refused fields = command bytes"),
        hexu(&tail),
        hexu(input.get(prefix.len()..).unwrap_or_default()),
    );
    let m = mac(&sk, &input);
    s.check(mac_name, &m);
    s.check_sent(mac_name, &m, &carried);
}

fn check_status(t: &mut Tracker, s: &mut Step<'_>, data: &[u8]) {
    let fields: Vec<(String, Vec<u8>)> = match t.applet {
        Applet::Purse => {
            let Ok(st) = PurseStatus::parse(data) else {
                return s.fail("purse status");
            };
            t.admin_counter = st.admin_counter;
            for p in [Purse::Ecash, Purse::Food] {
                t.load_counters[purse_index(p)] = st.purse(p).load_counter;
                t.purchase_counters[purse_index(p)] = st.purse(p).purchase_counter;
            }
            let mut f = vec![
                ("lifecycle", vec![st.lifecycle.code()]),
                ("key_version", vec![st.key_version]),
                ("pin_tries", vec![st.pin_tries_left]),
                ("pin_try_limit", vec![st.pin_try_limit]),
                ("uc_attempts", vec![st.uc_attempts_left]),
                ("uc_limit", vec![st.uc_limit]),
                ("admin_counter", st.admin_counter.to_be_bytes().to_vec()),
                ("no_pin_limit", st.no_pin_limit.to_bytes().to_vec()),
                ("uc_max", st.uc_max.to_bytes().to_vec()),
            ];
            let mut blocks = Vec::new();
            for (prefix, b) in [("ecash", &st.ecash), ("food", &st.food)] {
                let block: [(&str, Vec<u8>); 6] = [
                    ("balance", b.balance.to_bytes().to_vec()),
                    ("load_counter", b.load_counter.to_be_bytes().to_vec()),
                    (
                        "purchase_counter",
                        b.purchase_counter.to_be_bytes().to_vec(),
                    ),
                    ("max_balance", b.max_balance.to_bytes().to_vec()),
                    ("max_amount", b.max_amount.to_bytes().to_vec()),
                    ("expiry", Date::optional_to_bcd(b.expiry).to_vec()),
                ];
                for (k, v) in block {
                    blocks.push((format!("{prefix}_{k}"), v));
                }
            }
            let mccs = st.food_mccs.to_bytes();
            f.push(("food_mcc_count", vec![mccs[0]]));
            f.push(("food_mccs", mccs[1..].to_vec()));
            f.push(("serial", st.serial.0.to_vec()));
            f.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .chain(blocks)
                .collect()
        }
        Applet::Transfer => {
            let Ok(st) = TransferStatus::parse(data) else {
                return s.fail("transfer status");
            };
            [
                ("lifecycle", vec![st.lifecycle.code()]),
                ("batch_state", vec![st.batch_state.code()]),
                ("capacity", st.capacity.to_be_bytes().to_vec()),
                ("length", st.length.to_be_bytes().to_vec()),
                ("xserial", st.xserial.0.to_vec()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        }
    };
    let Some(status) = s.derived.get("status").and_then(Value::as_object) else {
        return;
    };
    s.used.insert("status".into());
    for k in status.keys() {
        if !fields.iter().any(|(f, _)| f == k) {
            s.fail(format!("derived status.{k} not checked"));
        }
    }
    for (k, v) in fields {
        match status.get(&k).and_then(Value::as_str) {
            Some(hex) => s.eq(&format!("status.{k}"), hex.to_string(), hexu(&v)),
            None => s.fail(format!("derived status.{k} missing")),
        }
    }
}

fn personalize(
    t: &mut Tracker,
    s: &mut Step<'_>,
    command: &Command,
    outstanding: Option<[u8; 4]>,
    ok: bool,
    sw: StatusWord,
) {
    if !s.has("pd") {
        return;
    }
    let chal = s.challenge(outstanding);
    let transport = t.keys.transport.clone();
    let sk_mac = s.session(
        "",
        &transport,
        session_diversifier(chal, 0, TxType::PersoMac, 0),
    );
    let sk_enc = s.session(
        "enc_",
        &transport,
        session_diversifier(chal, 0, TxType::PersoEnc, 0),
    );
    let Some(pd) = s.get("pd") else { return };
    let Some(padded) = s.get("pd_padded") else {
        return;
    };
    if padded != sam::pad_m2(&pd) {
        // the bad-padding vector: the card must refuse it with 6A80
        s.eq("SW of a PD with bad padding", StatusWord::BadData, sw);
        s.eq(
            "bad padding keeps PD",
            hexu(&pd),
            hexu(padded.get(..pd.len()).unwrap_or_default()),
        );
    }
    let c = sam::cbc_encrypt(&sk_enc, [0; 8], &padded).expect("block aligned");
    s.check("cryptogram", &c);
    let d = command.data_bytes();
    let (carried_c, carried_mac) = d.split_at(d.len().saturating_sub(8));
    s.eq(
        "cryptogram carried by the command",
        hexu(&c),
        hexu(carried_c),
    );
    let input = perso_mac_input(&c);
    s.check("mac_p_input", &input);
    let mac_p = mac(&sk_mac, &input);
    s.check("mac_p", &mac_p);
    s.check_sent("mac_p", &mac_p, carried_mac);

    // The PD layout: parses (or the card refused it), re-serialises, and names the card's keys.
    match t.applet {
        Applet::Purse => match PursePersoData::parse(&pd) {
            Ok(p) => {
                s.eq("PD re-serialised", hexu(&pd), hexu(&p.to_bytes()));
                if ok {
                    s.eq("PD serial", t.serial, p.serial);
                    for (n, k, card) in [
                        ("K_LOAD", &p.k_load, &t.keys.load),
                        ("K_PURCHASE", &p.k_purchase, &t.keys.purchase),
                        ("K_TAC", &p.k_tac, &t.keys.tac),
                        ("K_ADMIN", &p.k_admin, &t.keys.admin),
                    ] {
                        let card = card.as_ref().map(|c| hexu(c.expose_secret()));
                        s.eq(&format!("PD {n}"), card, Some(hexu(k.expose())));
                    }
                }
            }
            Err(e) => {
                if ok {
                    s.fail(format!(
                        "PursePersoData refused the PD the card accepted: {e}"
                    ));
                }
            }
        },
        Applet::Transfer => match TransferPersoData::parse(&pd) {
            Ok(p) => {
                s.eq("PD re-serialised", hexu(&pd), hexu(&p.to_bytes()));
                let card = t.keys.transfer.as_ref().map(|c| hexu(c.expose_secret()));
                s.eq("PD K_XFER", card, Some(hexu(p.k_xfer.expose())));
            }
            Err(e) => {
                if ok {
                    s.fail(format!(
                        "TransferPersoData refused the PD the card accepted: {e}"
                    ));
                }
            }
        },
    }
    if ok {
        t.admin_counter = 0;
        t.load_counters = [0; 2];
        t.purchase_counters = [0; 2];
    }
}

fn issuer(
    t: &mut Tracker,
    s: &mut Step<'_>,
    ins: Ins,
    command: &Command,
    typed: Option<Typed>,
    outstanding: Option<[u8; 4]>,
    ok: bool,
) {
    let d = command.data_bytes();
    let (body, carried_mac) = d.split_at(d.len().saturating_sub(8));
    if ins == Ins::SetLimits {
        s.check("limits", body);
    }
    if !s.has("mac_a_input") {
        return;
    }
    let actr = t.admin_counter.wrapping_add(1);
    s.check("admin_counter", &actr.to_be_bytes());
    let chal = s.challenge(outstanding);
    let Some(k_admin) = t.keys.admin.clone() else {
        return s.fail("no K_ADMIN");
    };
    let sk = s.session(
        "",
        &k_admin,
        session_diversifier(chal, actr, TxType::Issuer, ins.code()),
    );
    let input = admin_mac_input(
        command.cla_byte(),
        command.ins_byte(),
        command.p1_byte(),
        command.p2_byte(),
        body,
    );
    s.check("mac_a_input", &input);
    if let Some(Typed::Purse(c)) = &typed {
        let typed_input = match c {
            PurseCommand::ApplicationBlock(c) => c.mac_input(),
            PurseCommand::ApplicationUnblock(c) => c.mac_input(),
            PurseCommand::PinUnblock(c) => c.mac_input(),
            PurseCommand::SetLimits(c) => c.mac_input(),
            _ => Vec::new(),
        };
        s.eq("IssuerCommand::mac_input", hexu(&input), hexu(&typed_input));
    }
    let mac_a = mac(&sk, &input);
    s.check("mac_a", &mac_a);
    s.check_sent("mac_a", &mac_a, carried_mac);
    if ins == Ins::PinUnblock && command.p2_byte() == 0x01 {
        let sk_enc = s.session(
            "enc_",
            &k_admin,
            session_diversifier(chal, actr, TxType::AdminEnc, ins.code()),
        );
        if let Some(pb) = s.get_array::<8>("pinblock") {
            if let Err(e) = PinBlock::parse(&pb) {
                s.fail(format!("derived pinblock: {e}"));
            }
            let enc = sam::encrypt_block(&sk_enc, pb);
            s.check("enc_pinblock", &enc);
            s.eq(
                "ENC(PINBLOCK) carried by the command",
                hexu(&enc),
                hexu(body),
            );
        }
    }
    if ok {
        t.admin_counter = actr;
    }
}

fn purse_step(t: &mut Tracker, s: &mut Step<'_>, c: PurseCommand, data: &[u8], ok: bool) {
    let serial = t.serial;
    match c {
        PurseCommand::InitializeLoad(c) => {
            if !ok {
                return;
            }
            let Ok(r) = InitLoadResponse::parse(data) else {
                return;
            };
            s.check("card_random", &r.rnd);
            s.check("ctr", &r.counter.to_be_bytes());
            s.check("balance_before", &r.balance.to_bytes());
            s.eq(
                "load CTR = load counter + 1",
                t.load_counters[purse_index(c.purse)] + 1,
                r.counter,
            );
            let Some(k) = t.keys.load.clone() else {
                return s.fail("no K_LOAD");
            };
            let sk = s.session(
                "",
                &k,
                session_diversifier(r.rnd, r.counter, TxType::Load, c.purse.code()),
            );
            let input = load_mac1_input(&LoadContext::new(serial, &c, &r), r.balance);
            s.check("mac1_input", &input);
            let mac1 = mac(&sk, &input);
            s.check("mac1", &mac1);
            s.eq("MAC1 returned by the card", hexu(&mac1), hexu(&r.mac1));
            t.last_load = Some((c, r));
        }
        PurseCommand::CreditLoad(c) => {
            if !s.has("mac2_input") {
                return;
            }
            let Some((ic, ir)) = t.last_load else {
                return s.fail("CREDIT LOAD MAC2 without a load");
            };
            let Some(k) = t.keys.load.clone() else {
                return s.fail("no K_LOAD");
            };
            let sk = s.session(
                "",
                &k,
                session_diversifier(ir.rnd, ir.counter, TxType::Load, ic.purse.code()),
            );
            let ctx = LoadContext::new(serial, &ic, &ir);
            let input = load_mac2_input(&ctx, c.datetime);
            s.check("mac2_input", &input);
            let mac2 = mac(&sk, &input);
            s.check("mac2", &mac2);
            s.check_sent("mac2", &mac2, &c.mac2);
            if ok {
                let Ok(r) = CreditLoadResponse::parse(data) else {
                    return;
                };
                s.check("balance_after", &r.balance.to_bytes());
                let rec = TransactionRecord {
                    record_type: RecordType::Load,
                    purse: ic.purse,
                    counter: ir.counter,
                    amount: ic.amount,
                    balance: r.balance,
                    terminal: ic.terminal.0,
                    sam_seq: 0,
                    datetime: c.datetime,
                    mcc: Mcc::NONE,
                    flags: 0,
                };
                s.record(&serial, t.keys.tac.as_ref(), &rec, &r.tac);
                t.load_counters[purse_index(ic.purse)] = ir.counter;
            }
        }
        PurseCommand::InitializePurchase(c) => {
            if !ok {
                return;
            }
            let Ok(r) = InitPurchaseResponse::parse(data) else {
                return;
            };
            s.check("card_random", &r.rnd);
            s.check("ctr", &r.counter.to_be_bytes());
            s.check("balance_before", &r.balance.to_bytes());
            s.eq(
                "purchase CTR = purchase counter + 1",
                t.purchase_counters[purse_index(c.purse)] + 1,
                r.counter,
            );
            let Some(k) = t.keys.purchase.clone() else {
                return s.fail("no K_PURCHASE");
            };
            s.session(
                "",
                &k,
                session_diversifier(r.rnd, r.counter, TxType::Purchase, c.purse.code()),
            );
            t.last_purchase = Some((c, r));
        }
        PurseCommand::DebitPurchase(c) => {
            if !s.has("mac1_input") {
                return;
            }
            let Some((ic, ir)) = t.last_purchase else {
                return s.fail("DEBIT PURCHASE without a purchase");
            };
            let Some(k) = t.keys.purchase.clone() else {
                return s.fail("no K_PURCHASE");
            };
            let sk = s.session(
                "",
                &k,
                session_diversifier(ir.rnd, ir.counter, TxType::Purchase, ic.purse.code()),
            );
            s.check("samseq", &c.sam_seq.to_be_bytes());
            let ctx = PurchaseContext::new(serial, &ic, &ir);
            let input = purchase_mac1_input(&ctx, ic.sam_id, c.sam_seq, c.datetime, c.mcc);
            s.check("mac1_input", &input);
            let mac1 = mac(&sk, &input);
            s.check("mac1", &mac1);
            s.check_sent("mac1", &mac1, &c.mac1);
            if ok {
                let Ok(r) = DebitPurchaseResponse::parse(data) else {
                    return;
                };
                s.check("balance_after", &r.balance.to_bytes());
                let input = purchase_mac2_input(&ctx, r.balance, c.sam_seq);
                s.check("mac2_input", &input);
                let mac2 = mac(&sk, &input);
                s.check("mac2", &mac2);
                s.eq("MAC2 returned by the card", hexu(&mac2), hexu(&r.mac2));
                // FLAGS depends on the card's PIN state: taken from the card's REC.
                let flags = s
                    .derived
                    .get("rec")
                    .and_then(Value::as_str)
                    .map(unhex)
                    .and_then(|r| r.last().copied())
                    .unwrap_or(0);
                let rec = TransactionRecord {
                    record_type: RecordType::Purchase,
                    purse: ic.purse,
                    counter: ir.counter,
                    amount: ic.amount,
                    balance: r.balance,
                    terminal: ic.sam_id.0,
                    sam_seq: c.sam_seq,
                    datetime: c.datetime,
                    mcc: c.mcc,
                    flags,
                };
                s.record(&serial, t.keys.tac.as_ref(), &rec, &r.tac);
                t.purchase_counters[purse_index(ic.purse)] = ir.counter;
            }
        }
        PurseCommand::GetTransactionProof(c) => {
            if !ok {
                return;
            }
            let Ok(p) = TransactionProof::parse(data) else {
                return;
            };
            s.eq("proof purse", c.purse, p.record.purse);
            s.eq("proof TT", c.record_type, p.record.record_type);
            s.eq("proof CTR", c.counter, p.record.counter);
            s.record_fields(&p.record);
            s.record(&serial, t.keys.tac.as_ref(), &p.record, &p.tac);
            s.check("mac2", &p.mac2);
        }
        PurseCommand::ReadLog(_) => {
            if !ok {
                return;
            }
            let Ok(e) = LogEntry::parse(data) else { return };
            s.record_fields(&e.record);
            s.record(&serial, t.keys.tac.as_ref(), &e.record, &e.tac);
        }
        PurseCommand::UnconnectedLoad(c) => {
            if !s.has("auth_input") {
                return;
            }
            let ctr = t.load_counters[purse_index(c.purse)] + 1;
            s.check("ctr", &ctr.to_be_bytes());
            let Some(k) = t.keys.load.clone() else {
                return s.fail("no K_LOAD");
            };
            let sk = s.session(
                "",
                &k,
                session_diversifier([0; 4], ctr, TxType::UnconnectedLoad, c.purse.code()),
            );
            let input = unconnected_auth_input(&serial, c.purse, ctr, c.amount, c.expiry);
            s.check("auth_input", &input);
            let auth = mac(&sk, &input);
            s.check("auth", &auth);
            let code = code8(&auth);
            s.check("auth_code", &code.to_be_bytes());
            s.check_text("auth_code_decimal", &format!("{code:08}"));
            s.check_sent("auth_code", &code.to_be_bytes(), &c.auth_code.to_be_bytes());
            let input = unconnected_confirm_input(&serial, c.purse, ctr, c.amount);
            s.check("confirm_input", &input);
            let confirm = mac(&sk, &input);
            s.check("confirm", &confirm);
            let confirm_code = code8(&confirm);
            s.check("confirm_code", &confirm_code.to_be_bytes());
            s.check_text("confirm_code_decimal", &format!("{confirm_code:08}"));
            if ok {
                let Ok(r) = UnconnectedLoadResponse::parse(data) else {
                    return;
                };
                s.eq(
                    "CONFIRM code returned by the card",
                    confirm_code,
                    r.confirm_code,
                );
                s.check("balance_after", &r.balance.to_bytes());
                let rec = TransactionRecord {
                    record_type: RecordType::UnconnectedLoad,
                    purse: c.purse,
                    counter: ctr,
                    amount: c.amount,
                    balance: r.balance,
                    terminal: [0; 6],
                    sam_seq: 0,
                    datetime: c.datetime,
                    mcc: Mcc::NONE,
                    flags: 0,
                };
                let tac = s.get_array::<8>("tac").unwrap_or_default();
                s.record(&serial, t.keys.tac.as_ref(), &rec, &tac);
                t.load_counters[purse_index(c.purse)] = ctr;
            }
        }
        _ => {}
    }
}

fn transfer_step(t: &mut Tracker, s: &mut Step<'_>, c: TransferCommand, data: &[u8], ok: bool) {
    let Some(batch) = t.batch.as_ref() else {
        return;
    };
    match c {
        TransferCommand::WriteBatch(w) if ok => {
            let at = usize::from(w.offset());
            let expected = batch
                .bytes
                .get(at..at + w.chunk().len())
                .unwrap_or_default();
            s.eq(
                "WRITE BATCH chunk is the batch's bytes at its offset",
                hexu(expected),
                hexu(w.chunk()),
            );
        }
        TransferCommand::FinishBatch(f) if ok => {
            s.eq(
                "FINISH BATCH length",
                batch.bytes.len(),
                usize::from(f.length),
            );
        }
        TransferCommand::ReadBatch(r) if ok => {
            let at = usize::from(r.offset);
            let expected = batch.bytes.get(at..at + data.len()).unwrap_or_default();
            s.eq("READ BATCH chunk", hexu(expected), hexu(data));
            let max = r
                .max_len
                .map_or(240, usize::from)
                .min(batch.bytes.len() - at);
            s.eq(
                "READ BATCH length = min(Le, 240, length - offset)",
                max,
                data.len(),
            );
        }
        TransferCommand::ReadAck(_) if ok => {
            if let Ok(r) = ReadAckResponse::parse(data) {
                s.eq("READ ACK ACKDATA", batch.ack, r.ack);
                s.eq("READ ACK ACK_SAM", batch.ack_sam, r.ack_sam);
            }
        }
        TransferCommand::ClearBatch(c) => {
            s.check("ack_data", &c.ack.to_bytes());
            let seal = batch.seal;
            let card_in = ack_card_input(&t.serial, &c.ack, &seal);
            s.check("ack_card_input", &card_in);
            let k_xfer = t.keys.transfer.as_ref().expect("K_XFER");
            let ack_card = mac(k_xfer, &card_in);
            s.check("ack_card", &ack_card);
            if s.has("ack_card") {
                s.check_sent("ack_card", &ack_card, &c.ack_card);
            }
            let sam_in = ack_sam_input(&c.ack, &seal);
            s.check("ack_sam_input", &sam_in);
            if let Some(k) = t.keys.settlement.as_ref() {
                let ack_sam = mac(k, &sam_in);
                s.check("ack_sam", &ack_sam);
                if s.has("ack_sam_input") {
                    s.eq(
                        "ACK_SAM carried by the command",
                        hexu(&ack_sam),
                        hexu(&c.ack_sam),
                    );
                }
            }
        }
        _ => {}
    }
}
