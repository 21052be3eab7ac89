//! The SAM file (`epurse-sam/1`): issue from the master keys, round trip, every refusal, and
//! no key material in errors or `Debug`.

mod common;

use apdu_spec::SamId;
use common::TestDir;
use sam::batch::settlement_key;
use sam::{KeyName, MasterKeys, MerchantId, SamFile, SamFileError};
use serde_json::Value;

fn issued() -> SamFile {
    common::sam_file().with_comment("test SAM")
}

fn json() -> Value {
    serde_json::from_str(&issued().to_json()).unwrap()
}

fn parse(v: &Value) -> Result<SamFile, SamFileError> {
    SamFile::parse(&v.to_string())
}

#[test]
fn issue_and_round_trip() {
    let keys = common::dev_keys();
    let file = issued();
    assert_eq!(file.purchase_master(), keys.get(KeyName::Purchase));
    assert_eq!(
        file.settlement_key(),
        &settlement_key(keys.get(KeyName::Settlement), common::SAM_ID)
    );
    let v = json();
    assert_eq!(v["format"], "epurse-sam/1");
    assert_eq!(v["sam_id"], "534D00000001");
    assert_eq!(v["merchant"]["mcc"], "5411");
    assert_eq!(v["keys"]["purchase_master"]["kcv"], "FB0975");

    let back = SamFile::parse(&file.to_json()).unwrap();
    assert_eq!(back.profile(), file.profile());
    assert_eq!(back.settlement_key(), file.settlement_key());
    assert_eq!(back.purchase_master(), file.purchase_master());
    assert_eq!(back.comment(), Some("test SAM"));

    let dir = TestDir::new("samfile");
    let path = dir.0.join("sam.json");
    file.save_new(&path).unwrap();
    assert_eq!(SamFile::load(&path).unwrap().profile(), file.profile());
    assert!(matches!(
        file.save_new(&path),
        Err(SamFileError::Unwritable { .. })
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "SAM file readable by others: {mode:o}");
    }
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let file = issued();
    let debug = format!("{file:?}");
    assert!(debug.contains("KCV=FB0975"));
    assert!(!debug.contains("00112233445566778899AABBCCDDEEFF"));

    let mut v = json();
    v["keys"]["settlement"]["kcv"] = "000000".into();
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        SamFileError::KcvMismatch {
            field: "keys.settlement",
            ..
        }
    ));
    let text = err.to_string();
    let key_hex = v["keys"]["settlement"]["key"].as_str().unwrap();
    assert!(!text.contains(key_hex), "{text}");
}

#[test]
fn every_bad_field_is_refused() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("format", Box::new(|v| v["format"] = "epurse-sam/2".into())),
        ("sam_id", Box::new(|v| v["sam_id"] = "534D0000".into())),
        (
            "sam_id zero",
            Box::new(|v| v["sam_id"] = "000000000000".into()),
        ),
        ("mcc", Box::new(|v| v["merchant"]["mcc"] = "54A1".into())),
        (
            "merchant id",
            Box::new(|v| v["merchant"]["id"] = "M 0001".into()),
        ),
        (
            "merchant id empty",
            Box::new(|v| v["merchant"]["id"] = "".into()),
        ),
        (
            "merchant name",
            Box::new(|v| v["merchant"]["name"] = "Bad\nName".into()),
        ),
        ("key version", Box::new(|v| v["key_version"] = 0.into())),
        (
            "key version 255",
            Box::new(|v| v["key_version"] = 255.into()),
        ),
        (
            "key version 256",
            Box::new(|v| v["key_version"] = 256.into()),
        ),
        (
            "short key",
            Box::new(|v| v["keys"]["purchase_master"]["key"] = "0011".into()),
        ),
        (
            "not hex",
            Box::new(|v| v["keys"]["purchase_master"]["key"] = "ZZ".repeat(16).into()),
        ),
        (
            "bad kcv",
            Box::new(|v| v["keys"]["purchase_master"]["kcv"] = "FB09".into()),
        ),
        (
            "kcv mismatch",
            Box::new(|v| v["keys"]["purchase_master"]["kcv"] = "FB0976".into()),
        ),
        ("unknown field", Box::new(|v| v["extra"] = 1.into())),
        (
            "unknown key",
            Box::new(|v| v["keys"]["tac"] = v["keys"]["settlement"].clone()),
        ),
        (
            "missing key",
            Box::new(|v| {
                v["keys"].as_object_mut().unwrap().remove("settlement");
            }),
        ),
        (
            "missing merchant",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("merchant");
            }),
        ),
        (
            "food not bool",
            Box::new(|v| v["merchant"]["food"] = "yes".into()),
        ),
    ];
    for (what, edit) in cases {
        let mut v = json();
        edit(&mut v);
        assert!(parse(&v).is_err(), "{what} was accepted");
    }
    assert!(matches!(
        SamFile::parse("not json"),
        Err(SamFileError::BadJson(_))
    ));
    assert!(matches!(
        SamFile::load("/nonexistent/sam.json"),
        Err(SamFileError::Unreadable { .. })
    ));
}

#[test]
fn issuing_checks_the_profile_and_key_version() {
    let keys = common::dev_keys();
    let mut profile = common::profile(SamId([0; 6]), "5411", true);
    assert!(SamFile::issue(&keys, profile.clone()).is_err());
    profile.sam_id = common::SAM_ID;
    profile.key_version = 2;
    assert!(matches!(
        SamFile::issue(&keys, profile),
        Err(SamFileError::KeyVersionMismatch {
            profile: 2,
            master: 1
        })
    ));
    assert!(MerchantId::new("x".repeat(33)).is_err());
    assert!(MerchantId::new("M-01_a.b").is_ok());
    // Different SAM ids get different settlement and state keys.
    let a = common::sam_file_for(SamId([1, 0, 0, 0, 0, 1]), "5411");
    let b = common::sam_file_for(SamId([1, 0, 0, 0, 0, 2]), "5411");
    assert_ne!(a.settlement_key(), b.settlement_key());
    assert_ne!(a.state_key(), b.state_key());
    assert_ne!(&a.state_key(), a.settlement_key());
    let _: &MasterKeys = &keys;
}
