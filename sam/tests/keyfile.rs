//! The master-key file: the dev file, round trips and every error case.

use std::path::PathBuf;

use sam::keyfile::{KeyFileError, KeyName, MasterKeys, FORMAT};
use sam::Key16;
use serde_json::{json, Value};

fn dev_key_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../keys/dev-master-keys.json"
    ))
}

/// The dev key file as JSON, to be broken in one place by each test.
fn dev_json() -> Value {
    let text = std::fs::read_to_string(dev_key_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn parse(v: &Value) -> Result<MasterKeys, KeyFileError> {
    MasterKeys::parse(&v.to_string())
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sam-keyfile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn dev_keys_load() {
    let keys = MasterKeys::load(dev_key_path()).unwrap();
    assert_eq!(keys.key_version(), 1);
    assert_eq!(
        keys.comment(),
        Some("DEVELOPMENT KEYS - never use in production")
    );
    let expect = [
        (KeyName::Load, "0123456789ABCDEFFEDCBA9876543210", "08D7B4"),
        (
            KeyName::Purchase,
            "00112233445566778899AABBCCDDEEFF",
            "FB0975",
        ),
        (KeyName::Tac, "1032547698BADCFE0123456789ABCDEF", "77C58C"),
        (KeyName::Admin, "2B7E151628AED2A6ABF7158809CF4F3C", "86A5F0"),
        (
            KeyName::Transfer,
            "4A4B4C4D4E4F50515253545556575859",
            "569898",
        ),
        (
            KeyName::Settlement,
            "5A5B5C5D5E5F60616263646566676869",
            "CD9A68",
        ),
        (
            KeyName::Transport,
            "404142434445464748494A4B4C4D4E4F",
            "8BAF47",
        ),
    ];
    for (name, key, kcv) in expect {
        assert_eq!(
            hex::encode_upper(keys.get(name).expose_secret()),
            key,
            "{name}"
        );
        assert_eq!(keys.get(name).kcv_hex(), kcv, "{name}");
    }
}

#[test]
fn debug_shows_names_and_kcvs_only() {
    let keys = MasterKeys::load(dev_key_path()).unwrap();
    let shown = format!("{keys:?}");
    for name in KeyName::ALL {
        assert!(shown.contains(name.as_str()), "{shown}");
        assert!(shown.contains(&keys.get(name).kcv_hex()), "{shown}");
        let key_hex = hex::encode_upper(keys.get(name).expose_secret());
        assert!(
            !shown.to_uppercase().contains(&key_hex[..12]),
            "key bytes in {shown}"
        );
    }
}

#[test]
fn to_json_round_trips_and_save_never_overwrites() {
    let keys = MasterKeys::load(dev_key_path()).unwrap();
    let again = MasterKeys::parse(&keys.to_json()).unwrap();
    for name in KeyName::ALL {
        assert_eq!(keys.get(name), again.get(name));
    }
    assert_eq!(again.key_version(), 1);
    assert_eq!(again.comment(), keys.comment());

    let fresh = MasterKeys::from_fn(7, |name| {
        Key16::from_bytes([name as u8 * 17 + 1; 16].map(|b| b ^ 0x5A))
    })
    .with_comment("test");
    let path = temp_path("new-keys.json");
    fresh.save_new(&path).unwrap();
    let loaded = MasterKeys::load(&path).unwrap();
    assert_eq!(loaded.key_version(), 7);
    for name in KeyName::ALL {
        assert_eq!(loaded.get(name), fresh.get(name));
    }
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["format"], FORMAT);
    assert_eq!(
        written["keys"]["tac"]["kcv"],
        fresh.get(KeyName::Tac).kcv_hex()
    );

    let err = fresh.save_new(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Unwritable { .. }), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unreadable_file() {
    let err = MasterKeys::load("/nonexistent/epurse/keys.json").unwrap_err();
    assert!(matches!(err, KeyFileError::Unreadable { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot read key file /nonexistent/epurse/keys.json:"),
        "{msg}"
    );
}

#[test]
fn bad_json() {
    let err = MasterKeys::parse("{ \"format\": ").unwrap_err();
    assert!(matches!(err, KeyFileError::BadJson(_)));
    assert!(
        err.to_string().starts_with("key file is not valid JSON: "),
        "{err}"
    );
    assert!(matches!(
        MasterKeys::parse("[1, 2]"),
        Err(KeyFileError::NotAnObject)
    ));
}

#[test]
fn unknown_or_missing_format() {
    let mut v = dev_json();
    v["format"] = json!("epurse-master-keys/2");
    let err = parse(&v).unwrap_err();
    assert!(matches!(err, KeyFileError::UnknownFormat { .. }));
    assert_eq!(
        err.to_string(),
        "unknown key file format \"epurse-master-keys/2\"; expected \"epurse-master-keys/1\""
    );

    let mut v = dev_json();
    v.as_object_mut().unwrap().remove("format");
    let err = parse(&v).unwrap_err();
    assert!(
        matches!(err, KeyFileError::MissingField { field: "format" }),
        "{err}"
    );
}

#[test]
fn unknown_top_level_field_and_bad_fields() {
    let mut v = dev_json();
    v["comments"] = json!("typo");
    let err = parse(&v).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::UnknownField { field } if field == "comments"),
        "{err}"
    );

    let mut v = dev_json();
    v["key_version"] = json!(256);
    let err = parse(&v).unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"key_version\" must be an integer from 0 to 255, got 256"
    );

    let mut v = dev_json();
    v["key_version"] = json!("1");
    assert!(matches!(parse(&v), Err(KeyFileError::BadKeyVersion { .. })));

    let mut v = dev_json();
    v.as_object_mut().unwrap().remove("key_version");
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::MissingField {
            field: "key_version"
        })
    ));

    let mut v = dev_json();
    v["comment"] = json!(3);
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::BadField {
            field: "comment",
            ..
        })
    ));

    let mut v = dev_json();
    v["keys"] = json!([]);
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::BadField { field: "keys", .. })
    ));
}

#[test]
fn missing_key() {
    let mut v = dev_json();
    v["keys"].as_object_mut().unwrap().remove("tac");
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        KeyFileError::MissingKey { name: KeyName::Tac }
    ));
    assert!(
        err.to_string().starts_with("key \"tac\" is missing"),
        "{err}"
    );
}

#[test]
fn unknown_key() {
    let mut v = dev_json();
    v["keys"]["pin"] = json!({"key": "00112233445566778899AABBCCDDEEFF", "kcv": "FB0975"});
    let err = parse(&v).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::UnknownKey { name } if name == "pin"),
        "{err}"
    );
}

#[test]
fn bad_hex_in_key() {
    let mut v = dev_json();
    v["keys"]["load"]["key"] = json!("0123456789ABCDEFFEDCBA987654321Z");
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        KeyFileError::BadKeyHex {
            name: KeyName::Load,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "bad hex in key \"load\": invalid hex character 'Z' at position 31"
    );
}

#[test]
fn wrong_key_length() {
    let mut v = dev_json();
    v["keys"]["admin"]["key"] = json!("0123456789ABCDEF");
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        KeyFileError::BadKeyLength {
            name: KeyName::Admin,
            got: 8
        }
    ));
    assert_eq!(
        err.to_string(),
        "key \"admin\" must be 16 bytes (32 hex digits), got 8 bytes"
    );
}

#[test]
fn kcv_mismatch() {
    let mut v = dev_json();
    v["keys"]["load"]["kcv"] = json!("123456");
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        KeyFileError::KcvMismatch {
            name: KeyName::Load,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "key \"load\": KCV mismatch: file says 123456, key gives 08D7B4 — the key or its KCV \
         was mistyped; check the key ceremony record"
    );
    // A single mistyped key digit is caught the same way (a digit that changes key bits:
    // a slip in a parity bit only, like ..EEFF -> ..EEFE, leaves the DES key and KCV as is).
    let mut v = dev_json();
    v["keys"]["purchase"]["key"] = json!("10112233445566778899AABBCCDDEEFF");
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::KcvMismatch {
            name: KeyName::Purchase,
            ..
        })
    ));
    // Lower-case KCVs are fine.
    let mut v = dev_json();
    v["keys"]["load"]["kcv"] = json!("08d7b4");
    assert!(parse(&v).is_ok());
}

#[test]
fn bad_kcv_and_bad_entries() {
    let mut v = dev_json();
    v["keys"]["tac"]["kcv"] = json!("77C5");
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::BadKcv {
            name: KeyName::Tac,
            ..
        })
    ));

    let mut v = dev_json();
    v["keys"]["tac"].as_object_mut().unwrap().remove("kcv");
    let err = parse(&v).unwrap_err();
    assert!(matches!(
        err,
        KeyFileError::BadKeyEntry {
            name: KeyName::Tac,
            ..
        }
    ));
    assert!(err.to_string().contains("\"kcv\" is missing"), "{err}");

    let mut v = dev_json();
    v["keys"]["tac"] = json!("1032547698BADCFE0123456789ABCDEF");
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::BadKeyEntry {
            name: KeyName::Tac,
            ..
        })
    ));

    let mut v = dev_json();
    v["keys"]["tac"]["kvc"] = json!("77C58C");
    assert!(matches!(
        parse(&v),
        Err(KeyFileError::BadKeyEntry {
            name: KeyName::Tac,
            ..
        })
    ));
}

#[test]
fn key_names_round_trip() {
    for name in KeyName::ALL {
        assert_eq!(name.as_str().parse::<KeyName>().unwrap(), name);
        assert_eq!(name.to_string(), name.as_str());
    }
    assert!("Load".parse::<KeyName>().is_err());
}
