//! Edge cases and error paths of `sam::crypto`: padding, alignment, hex, Debug, zeroize, mac_eq.

use sam::crypto::{
    adjust_odd_parity, cbc_decrypt, cbc_encrypt, mac_eq, pad_m2, parse_hex, retail_mac,
    retail_mac_m2, unpad_m2, CryptoError, Key16, Padding,
};
use zeroize::ZeroizeOnDrop;

const KEY_HEX: &str = "0123456789ABCDEFFEDCBA9876543210";

fn key() -> Key16 {
    Key16::from_hex(KEY_HEX).unwrap()
}

#[test]
fn pad_m2_lengths() {
    assert_eq!(pad_m2(b""), vec![0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(pad_m2(&[1; 7]), vec![1, 1, 1, 1, 1, 1, 1, 0x80]);
    let eight = pad_m2(&[1; 8]);
    assert_eq!(
        eight.len(),
        16,
        "a full block still gets a whole padding block"
    );
    assert_eq!(&eight[8..], &[0x80, 0, 0, 0, 0, 0, 0, 0]);
    let nine = pad_m2(&[1; 9]);
    assert_eq!(nine.len(), 16);
    assert_eq!(&nine[8..], &[1, 0x80, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn unpad_m2_roundtrip_for_all_short_lengths() {
    for len in 0..=33usize {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(37) | 1).collect();
        assert_eq!(unpad_m2(&pad_m2(&data)).unwrap(), &data[..], "len {len}");
    }
    // Data that itself ends in 80 00 survives, since the padding is always added.
    let tricky = [0x80, 0x00];
    assert_eq!(unpad_m2(&pad_m2(&tricky)).unwrap(), &tricky);
}

#[test]
fn unpad_m2_rejects_malformed() {
    assert_eq!(unpad_m2(&[]), Err(CryptoError::NotBlockAligned { len: 0 }));
    assert_eq!(
        unpad_m2(&[0x80; 7]),
        Err(CryptoError::NotBlockAligned { len: 7 })
    );
    assert!(matches!(
        unpad_m2(&[0; 8]),
        Err(CryptoError::BadPadding { .. })
    ));
    assert!(matches!(
        unpad_m2(&[1, 2, 3, 4, 5, 6, 7, 0x81]),
        Err(CryptoError::BadPadding { .. })
    ));
    assert!(matches!(
        unpad_m2(&[1, 2, 3, 0x80, 5, 0, 0, 0]),
        Err(CryptoError::BadPadding { .. })
    ));
    // The marker must be in the last block.
    let mut marker_too_early = vec![0u8; 16];
    marker_too_early[7] = 0x80;
    assert!(matches!(
        unpad_m2(&marker_too_early),
        Err(CryptoError::BadPadding { .. })
    ));
}

#[test]
fn unpadded_mac_needs_nonempty_whole_blocks() {
    let k = key();
    for len in [0usize, 1, 7, 9, 15, 17] {
        assert_eq!(
            retail_mac(&k, &vec![0; len], Padding::None),
            Err(CryptoError::NotBlockAligned { len }),
            "len {len}"
        );
    }
    assert!(retail_mac(&k, &[0; 8], Padding::None).is_ok());
    assert!(retail_mac(&k, &[0; 16], Padding::None).is_ok());
}

#[test]
fn method2_mac_equals_unpadded_mac_of_padded_data() {
    let k = key();
    for len in 0..=40usize {
        let data: Vec<u8> = (0..len as u8).collect();
        let expect = retail_mac(&k, &pad_m2(&data), Padding::None).unwrap();
        assert_eq!(
            retail_mac(&k, &data, Padding::Method2).unwrap(),
            expect,
            "len {len}"
        );
        assert_eq!(retail_mac_m2(&k, &data), expect, "len {len}");
    }
    assert_eq!(Padding::default(), Padding::Method2);
}

#[test]
fn cbc_needs_whole_blocks() {
    let k = key();
    assert_eq!(
        cbc_encrypt(&k, [0; 8], &[0; 9]),
        Err(CryptoError::NotBlockAligned { len: 9 })
    );
    assert_eq!(
        cbc_decrypt(&k, [0; 8], &[0; 7]),
        Err(CryptoError::NotBlockAligned { len: 7 })
    );
}

#[test]
fn key_from_hex_errors() {
    assert_eq!(
        Key16::from_hex("0123456789ABCDEFFEDCBA98765432").unwrap_err(),
        CryptoError::WrongKeyLength {
            expected: 16,
            got: 15
        }
    );
    assert_eq!(
        Key16::from_hex("0123456789ABCDEFFEDCBA98765432")
            .unwrap_err()
            .to_string(),
        "key must be 16 bytes (32 hex digits), got 15 bytes"
    );
    assert!(matches!(
        Key16::from_hex("0123456789ABCDEFFEDCBA987654321G"),
        Err(CryptoError::BadHexChar {
            found: 'G',
            position: 31
        })
    ));
    assert_eq!(
        Key16::from_hex("0123456789ABCDEFFEDCBA987654321").unwrap_err(),
        CryptoError::OddHexDigits { digits: 31 }
    );
    assert_eq!(
        Key16::from_slice(&[0; 24]).unwrap_err(),
        CryptoError::WrongKeyLength {
            expected: 16,
            got: 24
        }
    );
    // Case and separators do not matter.
    assert_eq!(Key16::from_hex(&KEY_HEX.to_lowercase()).unwrap(), key());
    assert_eq!(
        Key16::from_hex("01234567 89ABCDEF:FEDCBA98 76543210").unwrap(),
        key()
    );
    assert_eq!(parse_hex("0a 0B").unwrap(), vec![0x0A, 0x0B]);
}

#[test]
fn debug_shows_kcv_never_key_bytes() {
    let k = key();
    let shown = format!("{k:?}");
    assert_eq!(shown, format!("Key16(KCV={})", k.kcv_hex()));
    let pretty = format!("{k:#?}");
    for text in [&shown, &pretty] {
        assert!(!text.to_uppercase().contains(KEY_HEX), "{text}");
        assert!(
            !text.to_uppercase().contains(&KEY_HEX[..16]),
            "K1 leaked: {text}"
        );
        assert!(
            !text.to_uppercase().contains(&KEY_HEX[16..]),
            "K2 leaked: {text}"
        );
        assert!(!text.contains("[1, 35, 69"), "raw bytes leaked: {text}");
    }
}

#[test]
fn key_is_zeroize_on_drop_and_clone_not_copy() {
    fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<Key16>();
    let a = key();
    let b = a.clone();
    assert_eq!(a, b);
    assert_ne!(a, Key16::from_bytes([0; 16]));
}

#[test]
fn odd_parity_adjustment() {
    let mut bytes = [0x00, 0x01, 0xFE, 0xFF, 0x80, 0x7F];
    adjust_odd_parity(&mut bytes);
    assert_eq!(bytes, [0x01, 0x01, 0xFE, 0xFE, 0x80, 0x7F]);
}

#[test]
fn mac_eq_is_plain_equality() {
    assert!(mac_eq(&[1, 2, 3, 4, 5, 6, 7, 8], &[1, 2, 3, 4, 5, 6, 7, 8]));
    assert!(!mac_eq(
        &[1, 2, 3, 4, 5, 6, 7, 8],
        &[1, 2, 3, 4, 5, 6, 7, 9]
    ));
    assert!(!mac_eq(&[1, 2, 3, 4, 5, 6, 7, 8], &[1, 2, 3, 4]));
    assert!(mac_eq(&[], &[]));
}

#[test]
fn errors_are_operator_readable() {
    assert_eq!(
        CryptoError::NotBlockAligned { len: 15 }.to_string(),
        "data is 15 bytes; expected a non-empty multiple of the 8-byte DES block"
    );
}
