//! The PC/SC stack itself, through the real `pcsc` crate and pcscd: both virtual readers with
//! their cards and ATRs, the applets answering, personalisation and a load end to end, insert
//! and remove events, and every fault injection of the virtual card process ending in a
//! specific PC/SC outcome, with the card's value where the fault says it must be.
//!
//! Slots are leased in ascending order when a test needs both (no deadlock between tests).

use std::time::{Duration, Instant};

use apdu_spec::{
    tac_input, Applet, ContractCommand, Fci, GetTransactionProof, Lifecycle, LogEntry, Purse,
    ReadLog, RecordType, Response, StatusWord, TransactionProof,
};
use epurse_tests::pcsc::{self, Error as PcscError};
use epurse_tests::*;
use sam::KeyName;

#[test]
fn both_virtual_readers_are_listed_with_their_cards_and_atrs() -> Result<()> {
    let slot0 = SlotLease::acquire(0)?;
    let slot1 = SlotLease::acquire(1)?;
    let ctx = pcsc_context()?;
    let readers: Vec<String> = ctx
        .list_readers_owned()
        .map_err(|source| HarnessError::Pcsc {
            what: "list readers".into(),
            source,
        })?
        .into_iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    for (lease, historical) in [(&slot0, PURSE_HISTORICAL), (&slot1, TRANSFER_HISTORICAL)] {
        assert!(
            readers.iter().any(|r| r == lease.reader()),
            "pcscd lists {readers:?}, not \"{}\"",
            lease.reader()
        );
        let state = wait_reader(&ctx, lease.reader(), true, Duration::from_secs(5))?;
        assert_eq!(
            hex::encode_upper(state.atr()),
            hex::encode_upper(virtual_atr(historical)),
            "ATR in the reader state of \"{}\"",
            lease.reader()
        );
        let card = connect(&ctx, lease.reader())?;
        assert_eq!(
            atr_of(&card)?,
            virtual_atr(historical),
            "ATR of the connected card"
        );
    }
    Ok(())
}

#[test]
fn a_fresh_purse_card_is_blank_and_answers_select_and_get_status() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    lease.insert_new_card(CardKind::Purse)?;
    let ctx = pcsc_context()?;
    let card = connect(&ctx, lease.reader())?;
    let response = transmit_hex(&card, SELECT_PURSE)?;
    assert_eq!(response.sw, StatusWord::Ok);
    let fci = Fci::parse(&response.data).map_err(|e| HarnessError::Card(e.to_string()))?;
    assert_eq!(fci.applet, Applet::Purse);
    assert_eq!(fci.lifecycle, Lifecycle::Blank);
    assert_eq!(fci.version, (1, 0));
    assert!(fci.serial.is_zero(), "a BLANK card has serial 00..00");
    let status = purse_status(&card)?;
    assert_eq!(status.lifecycle, Lifecycle::Blank);
    // An unknown AID is refused by the card runtime, not by our applet.
    let unknown = transmit_hex(&card, "00A4040008F04550555253459900")?;
    assert_eq!(sw_hex(unknown.sw), "6A82");
    Ok(())
}

#[test]
fn the_transfer_card_in_slot_1_answers_select() -> Result<()> {
    let lease = SlotLease::acquire(1)?;
    let ctx = pcsc_context()?;
    let card = connect(&ctx, lease.reader())?;
    let response = transmit_hex(&card, SELECT_TRANSFER)?;
    assert_eq!(
        response.sw,
        StatusWord::Ok,
        "SELECT transfer on {:?}",
        lease.default_card()
    );
    let fci = Fci::parse(&response.data).map_err(|e| HarnessError::Card(e.to_string()))?;
    assert_eq!(fci.applet, Applet::Transfer);
    assert!(
        fci.capacity.is_some_and(|c| c >= 8192),
        "capacity {:?}",
        fci.capacity
    );
    // The purse applet is not on a transfer card.
    assert_eq!(sw_hex(transmit_hex(&card, SELECT_PURSE)?.sw), "6A82");
    Ok(())
}

#[test]
fn personalisation_and_loads_work_end_to_end_through_pcscd() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (_ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    let fci = select_purse(&card)?;
    assert_eq!(fci.lifecycle, Lifecycle::Active);
    assert_eq!(fci.serial, profile.serial);
    assert_eq!(fci.key_version, Some(keys.key_version()));

    let first = load_purse(&card, &keys, &profile.serial, Purse::Ecash, 1250)?;
    assert_eq!((first.balance.get(), first.counter), (1250, 1));
    let second = load_purse(&card, &keys, &profile.serial, Purse::Food, 500)?;
    assert_eq!((second.balance.get(), second.counter), (500, 1));

    let status = purse_status(&card)?;
    assert_eq!(status.ecash.balance.get(), 1250);
    assert_eq!(status.ecash.load_counter, 1);
    assert_eq!(status.food.balance.get(), 500);
    assert_eq!(status.serial, profile.serial);

    // The log holds both loads, newest first, each with the TAC the card returned.
    let newest = read_log(&card, 0)?.expect("log entry 0");
    assert_eq!(newest.record.purse, Purse::Food);
    assert_eq!(newest.record.amount.get(), 500);
    assert_eq!(newest.tac, second.tac);
    let older = read_log(&card, 1)?.expect("log entry 1");
    assert_eq!(older.record.record_type, RecordType::Load);
    assert_eq!(older.record.amount.get(), 1250);
    assert_eq!(older.record.terminal, TEST_TERMINAL);
    assert_eq!(older.tac, first.tac);
    assert!(read_log(&card, 2)?.is_none(), "only two entries");
    // The TAC is genuine: the back office's K_TAC verifies it.
    assert_tac_genuine(&keys, &profile, &older.record, &older.tac);
    Ok(())
}

fn read_log(card: &pcsc::Card, index: u8) -> Result<Option<LogEntry>> {
    let raw =
        transmit(card, &ReadLog { index }.to_bytes()).map_err(|source| HarnessError::Pcsc {
            what: "READ LOG".into(),
            source,
        })?;
    let response = Response::parse(&raw).map_err(|e| HarnessError::Card(e.to_string()))?;
    match sw_hex(response.sw).as_str() {
        "9000" => LogEntry::parse(&response.data)
            .map(Some)
            .map_err(|e| HarnessError::Card(e.to_string())),
        "6A83" => Ok(None),
        other => Err(HarnessError::Card(format!(
            "READ LOG {index} answered {other}"
        ))),
    }
}

fn assert_tac_genuine(
    keys: &sam::MasterKeys,
    profile: &PurseProfile,
    record: &apdu_spec::TransactionRecord,
    tac: &[u8; 8],
) {
    let k_tac = sam::diversify(keys.get(KeyName::Tac), &profile.serial.0);
    let expected = sam::retail_mac_m2(&k_tac, &tac_input(&profile.serial, record));
    assert!(
        sam::mac_eq(&expected, tac),
        "TAC does not verify under K_TAC"
    );
}

#[test]
fn removal_and_insertion_reach_pcsc_clients_as_events() -> Result<()> {
    let lease = SlotLease::acquire(0)?;
    let ctx = pcsc_context()?;
    wait_reader(&ctx, lease.reader(), true, Duration::from_secs(5))?;

    let removed_at = Instant::now();
    lease.remove()?;
    wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
    let removal_seen = removed_at.elapsed();
    assert!(
        matches!(
            ctx.connect(
                &reader_cstring(lease.reader()),
                pcsc::ShareMode::Shared,
                pcsc::Protocols::ANY
            ),
            Err(PcscError::NoSmartcard)
        ),
        "connect to an empty reader must say: no smart card"
    );

    let name = lease
        .default_card()
        .expect("slot 0 has a default card")
        .to_string();
    control(&format!("insert {name} 0"))?;
    let state = wait_reader(&ctx, lease.reader(), true, Duration::from_secs(10))?;
    assert_eq!(state.atr(), virtual_atr(PURSE_HISTORICAL).as_slice());
    let card = connect(&ctx, lease.reader())?;
    assert_eq!(transmit_hex(&card, SELECT_PURSE)?.sw, StatusWord::Ok);
    // pcscd polls vpcd about every 400 ms.
    assert!(
        removal_seen < Duration::from_secs(2),
        "removal seen after {removal_seen:?}"
    );
    Ok(())
}

/// What a client sees of an APDU whose command or response the fault drops: no R-APDU at all.
/// vpcd hands pcscd an empty answer when the card's connection closes mid-exchange (seen as
/// `Ok([])`), or pcscd already knows the card is gone.
fn assert_no_response(outcome: &Result<Vec<u8>, PcscError>, what: &str) {
    match outcome {
        Ok(bytes) => assert!(
            bytes.len() < 2,
            "{what}: expected no response, got {}",
            hex::encode_upper(bytes)
        ),
        Err(e) => assert!(
            matches!(
                e,
                PcscError::NotTransacted
                    | PcscError::RemovedCard
                    | PcscError::ResetCard
                    | PcscError::CommError
                    | PcscError::NoSmartcard
                    | PcscError::UnresponsiveCard
            ),
            "{what}: unexpected PC/SC error {e:?}"
        ),
    }
}

/// After a fault without re-insertion: the reader goes empty, the old handle says so with
/// `RemovedCard`, and a new connection says there is no card.
fn assert_card_pulled(ctx: &pcsc::Context, card: &pcsc::Card, reader: &str) -> Result<()> {
    wait_reader(ctx, reader, false, Duration::from_secs(5))?;
    let again = transmit(card, &hex::decode(SELECT_PURSE).expect("hex"));
    assert!(
        matches!(
            again,
            Err(PcscError::RemovedCard | PcscError::NotTransacted)
        ),
        "old handle after the pull: {again:?}"
    );
    assert!(matches!(
        ctx.connect(
            &reader_cstring(reader),
            pcsc::ShareMode::Shared,
            pcsc::Protocols::ANY
        ),
        Err(PcscError::NoSmartcard)
    ));
    Ok(())
}

fn proof(
    card: &pcsc::Card,
    purse: Purse,
    counter: u16,
) -> Result<(String, Option<TransactionProof>)> {
    let command = GetTransactionProof {
        purse,
        record_type: RecordType::Load,
        counter,
    };
    let raw = transmit(card, &command.to_bytes()).map_err(|source| HarnessError::Pcsc {
        what: "GET TRANSACTION PROOF".into(),
        source,
    })?;
    let response = Response::parse(&raw).map_err(|e| HarnessError::Card(e.to_string()))?;
    let parsed = if response.sw.is_success() {
        Some(
            TransactionProof::parse(&response.data)
                .map_err(|e| HarnessError::Card(e.to_string()))?,
        )
    } else {
        None
    };
    Ok((sw_hex(response.sw), parsed))
}

/// INITIALIZE LOAD of 10.00 e-Cash, then the CREDIT LOAD with a valid MAC2 sent through the
/// armed fault (k = 1). Returns what the client saw of the CREDIT LOAD.
fn credit_load_through_fault(
    lease: &mut SlotLease,
    card: &pcsc::Card,
    keys: &sam::MasterKeys,
    profile: &PurseProfile,
    fault: &str,
    reinsert: Option<Duration>,
) -> Result<Result<Vec<u8>, PcscError>> {
    use apdu_spec::{
        load_mac2_input, session_diversifier, Amount, CreditLoad, Date, DateTime, InitLoadResponse,
        InitializeLoad, LoadContext, TerminalId, TxType,
    };
    let spec = |e: apdu_spec::SpecError| HarnessError::Card(e.to_string());
    select_purse(card)?;
    let init = InitializeLoad {
        purse: Purse::Ecash,
        key_version: 0,
        amount: Amount::new(1000).map_err(spec)?,
        terminal: TerminalId(TEST_TERMINAL),
        expiry: None,
    };
    let response = transmit_hex(card, &hex::encode(init.to_bytes()))?;
    let response = InitLoadResponse::parse(&response.data).map_err(spec)?;
    let k_load = sam::diversify(keys.get(KeyName::Load), &profile.serial.0);
    let sk = sam::diversify(
        &k_load,
        &session_diversifier(
            response.rnd,
            response.counter,
            TxType::Load,
            Purse::Ecash.code(),
        ),
    );
    let datetime = DateTime::new(Date::new(2025, 6, 2).map_err(spec)?, 9, 0, 0).map_err(spec)?;
    let ctx = LoadContext::new(profile.serial, &init, &response);
    let credit = CreditLoad {
        purse: Purse::Ecash,
        datetime,
        mac2: sam::retail_mac_m2(&sk, &load_mac2_input(&ctx, datetime)),
    };
    lease.arm_fault(fault, 1, reinsert)?;
    Ok(transmit(card, &credit.to_bytes()))
}

#[test]
fn drop_command_without_reinsert_loses_the_credit_load_before_the_card() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    load_purse(&card, &keys, &profile.serial, Purse::Ecash, 2000)?;
    let name = lease.view()?.card.expect("test card inserted");

    let outcome =
        credit_load_through_fault(&mut lease, &card, &keys, &profile, "drop-command", None)?;
    assert_no_response(&outcome, "CREDIT LOAD with drop-command");
    assert_card_pulled(&ctx, &card, lease.reader())?;
    assert!(lease.view()?.card.is_none(), "the card stays out");

    // Put it back by hand: the card never saw the CREDIT LOAD, so nothing was credited and
    // there is no proof for load counter 2 (the host releases the reserved funds).
    lease.insert(&name)?;
    let card = connect(&ctx, lease.reader())?;
    select_purse(&card)?;
    let status = purse_status(&card)?;
    assert_eq!(
        (status.ecash.balance.get(), status.ecash.load_counter),
        (2000, 1)
    );
    assert_eq!(proof(&card, Purse::Ecash, 2)?.0, "6A88");
    Ok(())
}

#[test]
fn drop_response_with_reinsert_keeps_the_credit_and_its_proof() -> Result<()> {
    let keys = dev_keys()?;
    let mut lease = SlotLease::acquire(0)?;
    let (ctx, card, profile) = new_active_purse(&mut lease, &keys)?;
    load_purse(&card, &keys, &profile.serial, Purse::Ecash, 2000)?;

    let outcome = credit_load_through_fault(
        &mut lease,
        &card,
        &keys,
        &profile,
        "drop-response",
        Some(Duration::from_millis(200)),
    )?;
    assert_no_response(&outcome, "CREDIT LOAD with drop-response");
    // The card comes back by itself (after the slot's minimum absence): PC/SC sees it leave
    // and return.
    wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
    wait_reader(&ctx, lease.reader(), true, Duration::from_secs(10))?;
    let card = connect(&ctx, lease.reader())?;
    select_purse(&card)?;
    // The card processed the command before the response was lost: credited, counter moved,
    // and the proof lets the back office complete the load instead of guessing.
    let status = purse_status(&card)?;
    assert_eq!(
        (status.ecash.balance.get(), status.ecash.load_counter),
        (3000, 2)
    );
    let (sw, found) = proof(&card, Purse::Ecash, 2)?;
    assert_eq!(sw, "9000");
    let found = found.expect("proof");
    assert_eq!(
        (found.record.amount.get(), found.record.balance.get()),
        (1000, 3000)
    );
    assert_tac_genuine(&keys, &profile, &found.record, &found.tac);
    Ok(())
}

#[test]
fn drop_command_with_reinsert_on_select_then_the_card_answers_again() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    let ctx = pcsc_context()?;
    let card = connect(&ctx, lease.reader())?;
    assert_eq!(transmit_hex(&card, SELECT_PURSE)?.sw, StatusWord::Ok);
    lease.arm_fault("drop-command", 2, Some(Duration::from_millis(100)))?;
    let select = hex::decode(SELECT_PURSE).expect("hex");
    let first = transmit(&card, &select).expect("the first APDU passes");
    assert_eq!(&first[first.len() - 2..], [0x90, 0x00]);
    let second = transmit(&card, &select);
    assert_no_response(&second, "second SELECT with drop-command 2");
    wait_reader(&ctx, lease.reader(), false, Duration::from_secs(5))?;
    wait_reader(&ctx, lease.reader(), true, Duration::from_secs(10))?;
    let card = connect(&ctx, lease.reader())?;
    assert_eq!(transmit_hex(&card, SELECT_PURSE)?.sw, StatusWord::Ok);
    assert!(lease.view()?.fault.is_none(), "a fault fires once");
    Ok(())
}

#[test]
fn drop_response_without_reinsert_on_select_leaves_the_reader_empty() -> Result<()> {
    let mut lease = SlotLease::acquire(0)?;
    let ctx = pcsc_context()?;
    let card = connect(&ctx, lease.reader())?;
    lease.arm_fault("drop-response", 1, None)?;
    let outcome = transmit(&card, &hex::decode(SELECT_PURSE).expect("hex"));
    assert_no_response(&outcome, "SELECT with drop-response 1");
    assert_card_pulled(&ctx, &card, lease.reader())?;
    let stats = control("stats")?;
    assert!(stats.contains("slot0.faults="), "stats: {stats}");
    Ok(())
    // The lease puts the default card back.
}
