//! The issuer security module against the shared vectors (`apdu-spec/vectors/*.json`, made by
//! an independent reference model and replayed byte for byte by the Java Card applet): the ISM
//! must accept every MAC1 and TAC the card produced, compute exactly the MAC2, issuer commands,
//! personalisation cryptograms and unconnected-load codes the card accepted, and reject any
//! altered value.

use std::path::PathBuf;

use apdu_spec::{
    Challenge, ContractCommand, CreditLoad, CreditLoadResponse, GetTransactionProof,
    InitLoadResponse, InitializeLoad, LoadContext, Mcc, PursePersoData, RecordType, Serial,
    TransactionProof, TransactionRecord, UnblockTarget, UnconnectedLoad, UnconnectedLoadResponse,
};
use backoffice::{CardProfile, IsmError, IssuerSecurityModule, IssuerSession};
use sam::{Key16, KeyName, MasterKeys};
use serde_json::Value;

fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../apdu-spec/vectors")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing {pointer}"))
}

/// The ISM holding the vector's master keys.
fn ism_of(v: &Value) -> (IssuerSecurityModule, Serial, u8) {
    let kv = v["card"]["key_version"].as_u64().unwrap() as u8;
    let keys = MasterKeys::from_fn(kv, |name: KeyName| {
        Key16::from_slice(&unhex(s(v, &format!("/master_keys/{}", name.as_str())))).unwrap()
    });
    let serial: Serial = s(v, "/card/serial").parse().unwrap();
    (IssuerSecurityModule::new(keys).unwrap(), serial, kv)
}

/// One step: name, command, response data, SW, derived values.
type Step = (String, Vec<u8>, Vec<u8>, u16, Value);

/// Every step of a vector.
fn steps(v: &Value) -> Vec<Step> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let response = unhex(s(step, "/response"));
            let (data, sw) = response.split_at(response.len() - 2);
            (
                s(step, "/name").to_owned(),
                unhex(s(step, "/command")),
                data.to_vec(),
                u16::from_be_bytes([sw[0], sw[1]]),
                step["derived"].clone(),
            )
        })
        .collect()
}

#[test]
fn load_vectors_mac1_mac2_and_tac() {
    let mut loads = 0;
    let mut proofs = 0;
    for name in [
        "load-ecash",
        "load-food",
        "admin",
        "purchase-ecash",
        "errors",
    ] {
        let v = vector(name);
        let (ism, serial, kv) = ism_of(&v);
        let all = steps(&v);
        for (i, (step, command, data, sw, derived)) in all.iter().enumerate() {
            if step == "INITIALIZE LOAD" && *sw == 0x9000 && derived.get("mac1_sent").is_none() {
                let init = InitializeLoad::parse(command).unwrap();
                let response = InitLoadResponse::parse(data).unwrap();
                let context = LoadContext::new(serial, &init, &response);
                ism.verify_load_mac1(&context, &response)
                    .unwrap_or_else(|e| panic!("{name} step {i}: {e}"));
                let mut forged = response;
                forged.mac1[0] ^= 0x80;
                assert!(matches!(
                    ism.verify_load_mac1(&context, &forged),
                    Err(IsmError::Mac1Invalid)
                ));
                let mut other_balance = response;
                other_balance.balance = apdu_spec::Amount::new(response.balance.get() + 1).unwrap();
                assert!(ism.verify_load_mac1(&context, &other_balance).is_err());

                let Some((next, credit_cmd, credit_data, credit_sw, credit_derived)) =
                    all.get(i + 1)
                else {
                    continue;
                };
                if next != "CREDIT LOAD" || credit_derived.get("mac2_sent").is_some() {
                    continue;
                }
                let Ok(credit) = CreditLoad::parse(credit_cmd) else {
                    continue; // a malformed DATETIME on purpose (6A80)
                };
                let mac2 = ism.load_mac2(&context, &response, credit.datetime).unwrap();
                assert_eq!(mac2, credit.mac2, "{name} step {}: MAC2", i + 1);
                if *credit_sw != 0x9000 {
                    continue;
                }
                let credited = CreditLoadResponse::parse(credit_data).unwrap();
                let record = TransactionRecord {
                    record_type: RecordType::Load,
                    purse: context.purse,
                    counter: context.counter,
                    amount: context.amount,
                    balance: credited.balance,
                    terminal: context.terminal.0,
                    sam_seq: 0,
                    datetime: credit.datetime,
                    mcc: Mcc::NONE,
                    flags: 0,
                };
                ism.verify_tac(&serial, kv, &record, &credited.tac)
                    .unwrap_or_else(|e| panic!("{name} step {}: {e}", i + 1));
                let mut tac = credited.tac;
                tac[7] ^= 1;
                assert!(matches!(
                    ism.verify_tac(&serial, kv, &record, &tac),
                    Err(IsmError::TacInvalid)
                ));
                loads += 1;
            }
            if step == "GET TRANSACTION PROOF" && *sw == 0x9000 {
                let query = GetTransactionProof::parse(command).unwrap();
                let proof = TransactionProof::parse(data).unwrap();
                assert_eq!(proof.record.counter, query.counter);
                ism.verify_tac(&serial, kv, &proof.record, &proof.tac)
                    .unwrap_or_else(|e| panic!("{name} step {i}: proof TAC: {e}"));
                proofs += 1;
            }
        }
    }
    assert!(loads >= 6, "only {loads} loads checked");
    assert!(proofs >= 3, "only {proofs} proofs checked");
}

#[test]
fn admin_vectors_issuer_commands() {
    let v = vector("admin");
    let (ism, serial, kv) = ism_of(&v);
    let mut checked = 0;
    for (i, (step, command, _data, _sw, derived)) in steps(&v).iter().enumerate() {
        let Some(actr) = derived.get("admin_counter").and_then(Value::as_str) else {
            continue;
        };
        if derived.get("mac_a_sent").is_some() {
            continue;
        }
        let actr = u16::from_str_radix(actr, 16).unwrap();
        let challenge: [u8; 4] = unhex(s(derived, "/challenge")).try_into().unwrap();
        let session = IssuerSession {
            serial,
            key_version: kv,
            challenge: Challenge(challenge),
            admin_counter: actr - 1,
        };
        let built = match command[1] {
            0x1E => ism.application_block(&session).unwrap().to_bytes(),
            0x18 => {
                let target = UnblockTarget::try_from(command[2]).unwrap();
                ism.application_unblock(&session, target)
                    .unwrap()
                    .to_bytes()
            }
            0x24 => {
                let pin = derived
                    .get("pinblock")
                    .and_then(Value::as_str)
                    .map(|p| apdu_spec::PinBlock::parse(&unhex(p)).unwrap());
                ism.pin_unblock(&session, pin.as_ref()).unwrap().to_bytes()
            }
            0x72 => {
                let limits = apdu_spec::Limits::parse(&command[5..29]);
                match limits {
                    Ok(limits) => ism.set_limits(&session, limits).unwrap().to_bytes(),
                    // The card refuses these limits (6A80); the ISM refuses to sign them.
                    Err(_) => continue,
                }
            }
            other => panic!("step {i}: unexpected INS {other:02X}"),
        };
        assert_eq!(
            hex::encode_upper(&built),
            hex::encode_upper(command),
            "admin step {i} ({step})"
        );
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} issuer commands checked");
}

#[test]
fn personalisation_vectors_cryptogram_and_mac() {
    let mut checked = 0;
    for name in ["load-ecash", "personalize", "admin", "unconnected-load"] {
        let v = vector(name);
        let (ism, _, _) = ism_of(&v);
        for (i, (step, command, _data, _sw, derived)) in steps(&v).iter().enumerate() {
            if step != "PERSONALIZE" || derived.get("mac_p_sent").is_some() {
                continue;
            }
            let Ok(pd) = PursePersoData::parse(&unhex(s(derived, "/pd"))) else {
                continue; // invalid PD on purpose: the ISM never builds one
            };
            if s(derived, "/pd_padded") != format!("{}80000000", s(derived, "/pd")) {
                continue; // bad padding on purpose
            }
            let challenge: [u8; 4] = unhex(s(derived, "/challenge")).try_into().unwrap();
            let profile = CardProfile {
                limits: pd.limits,
                pin: pd.pin.clone(),
                pin_try_limit: pd.pin_try_limit,
                uc_limit: pd.uc_limit,
                food_mccs: pd.food_mccs.clone(),
            };
            let built = ism
                .personalize_purse(pd.serial, &profile, Challenge(challenge))
                .unwrap();
            assert_eq!(
                hex::encode_upper(built.to_bytes()),
                hex::encode_upper(command),
                "{name} step {i}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} personalisations checked");
}

#[test]
fn personalisation_refuses_what_the_card_refuses() {
    let v = vector("load-ecash");
    let (ism, serial, _) = ism_of(&v);
    let pd = PursePersoData::parse(&unhex(s(&v, "/steps/2/derived/pd"))).unwrap();
    let mut profile = CardProfile {
        limits: pd.limits,
        pin: pd.pin.clone(),
        pin_try_limit: 0,
        uc_limit: 3,
        food_mccs: pd.food_mccs.clone(),
    };
    assert!(matches!(
        ism.personalize_purse(serial, &profile, Challenge([1, 2, 3, 4])),
        Err(IsmError::InvalidCardData(_))
    ));
    profile.pin_try_limit = 3;
    assert!(ism
        .personalize_purse(Serial([0; 8]), &profile, Challenge([1, 2, 3, 4]))
        .is_err());
    profile.limits.food_max_amount = apdu_spec::Amount::new(400_000).unwrap();
    assert!(ism
        .personalize_purse(serial, &profile, Challenge([1, 2, 3, 4]))
        .is_err());
}

#[test]
fn unconnected_load_vectors_codes() {
    let v = vector("unconnected-load");
    let (ism, serial, kv) = ism_of(&v);
    let mut auths = 0;
    let mut confirms = 0;
    for (i, (step, command, data, sw, derived)) in steps(&v).iter().enumerate() {
        if step != "UNCONNECTED LOAD" {
            continue;
        }
        let load = UnconnectedLoad::parse(command).unwrap();
        let ctr = u16::from_str_radix(s(derived, "/ctr"), 16).unwrap();
        let expected = u32::from_str_radix(s(derived, "/auth_code"), 16).unwrap();
        let code = ism
            .unconnected_auth_code(&serial, kv, load.purse, ctr, load.amount, load.expiry)
            .unwrap();
        assert_eq!(code, expected, "step {i}");
        auths += 1;
        if *sw == 0x9000 {
            let response = UnconnectedLoadResponse::parse(data).unwrap();
            ism.verify_unconnected_confirm(
                &serial,
                kv,
                load.purse,
                ctr,
                load.amount,
                response.confirm_code,
            )
            .unwrap_or_else(|e| panic!("step {i}: {e}"));
            assert!(matches!(
                ism.verify_unconnected_confirm(
                    &serial,
                    kv,
                    load.purse,
                    ctr,
                    load.amount,
                    (response.confirm_code + 1) % 100_000_000
                ),
                Err(IsmError::ConfirmInvalid)
            ));
            confirms += 1;
        }
    }
    assert!(
        auths >= 3 && confirms >= 2,
        "{auths} auths, {confirms} confirms"
    );
}
