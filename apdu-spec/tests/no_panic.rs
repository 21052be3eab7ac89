//! Property test: no parser panics on any input. Fixed-seed xorshift so failures reproduce;
//! inputs are random bytes of random length, plus mutations of valid messages (which reach
//! deeper into the parsers than pure noise does). Every accepted input must re-serialise to
//! itself where the type has an exact wire form.

use apdu_spec::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Feeds `input` to every parser of the crate; checks re-serialisation of what is accepted.
fn feed_all(input: &[u8]) {
    if let Ok(c) = Command::parse(input) {
        assert_eq!(c.to_bytes(), input);
        if let Ok(p) = PurseCommand::from_command(&c) {
            assert_eq!(p.to_command(), c);
            let _ = PurseResponse::parse(&p, input);
        }
        if let Ok(t) = TransferCommand::from_command(&c) {
            assert_eq!(t.to_command(), c);
            let _ = TransferResponse::parse(&t, input);
        }
        let _ = GetResponse::from_command(&c);
    }
    if let Ok(r) = Response::parse(input) {
        assert_eq!(r.to_bytes(), input);
    }
    macro_rules! exact {
        ($($t:ty),+) => {$(
            if let Ok(v) = <$t>::parse(input) {
                assert_eq!(&v.to_bytes()[..], input, stringify!($t));
            }
        )+};
    }
    exact!(
        InitLoadResponse,
        CreditLoadResponse,
        InitPurchaseResponse,
        DebitPurchaseResponse,
        UnconnectedLoadResponse,
        Challenge,
        PurseStatus,
        TransferStatus,
        TransactionRecord,
        LogEntry,
        TransactionProof,
        SettlementRecord,
        BatchHeader,
        Batch,
        AckData,
        ReadAckResponse,
        Limits,
        MccAllowlist,
        Serial,
        SamId,
        TerminalId
    );
    if let Ok(pd) = PursePersoData::parse(input) {
        assert_eq!(&pd.to_bytes()[..], input);
    }
    if let Ok(pd) = TransferPersoData::parse(input) {
        assert_eq!(&pd.to_bytes()[..], input);
    }
    if let Ok(p) = PinBlock::parse(input) {
        assert_eq!(&p.as_bytes()[..], input);
    }
    if let Ok(fci) = Fci::parse(input) {
        // unknown tags are dropped, so compare values, not bytes
        assert_eq!(Fci::parse(&fci.to_bytes()), Ok(fci));
    }
    if let Ok(d) = Date::parse(input) {
        assert_eq!(&d.to_bcd()[..], input);
    }
    if let Ok(d) = DateTime::parse(input) {
        assert_eq!(&d.to_bcd()[..], input);
    }
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = text.parse::<Date>();
        let _ = text.parse::<DateTime>();
        let _ = text.parse::<Mcc>();
        let _ = text.parse::<Serial>();
        let _ = PinBlock::from_digits(text);
    }
    let _ = Applet::from_aid(input);
    if let [a, b, ..] = input {
        let _ = StatusWord::from_bytes(*a, *b).to_string();
    }
}

/// Valid messages to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let hex = |s: &str| hex::decode(s.replace(' ', "")).unwrap();
    vec![
        hex("80 50 02 01 0E 000004E2 54454C4C5231 20261231 00"),
        hex("80 56 02 00 15 0000002A 20261123143000 5411 A1A2A3A4A5A6A7A8 00"),
        hex("00 20 00 80 08 241234FFFFFFFFFF"),
        hex("84 24 00 01 10 E1E2E3E4E5E6E7E8 AAAAAAAAAAAAAAAA"),
        hex("84 72 00 00 20 000F4240 00030D40 0007A120 000186A0 0000C350 00004E20 AAAAAAAAAAAAAAAA"),
        hex("6F 23 84 08 F045505552534501 A5 17 C1 08 4550000000000001 C2 02 0100 C3 01 02 C4 01 0F C5 01 01"),
        hex("02 01 0007 000004E2 00001388 53414D303031 0000002A 20261123143000 5411 01 7777777777777777"),
        hex("01 53414D303031 00000005 20261123143000 00000001 00000000000004E2 00000000 0000000000000000 0000002A 0000002A \
             4550000000000001 02 01 0007 000004E2 00001388 53414D303031 0000002A 20261123143000 5411 01 7777777777777777 5E5E5E5E5E5E5E5E"),
        hex("53414D303031 00000005 00 00000000000004E2 00000001 00000000 20261124090000 5A5A5A5A5A5A5A5A"),
        {
            let mut status = vec![0u8; 81];
            status[0] = 2;
            status
        },
    ]
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..12_000 {
        let len = rng.below(300);
        let input = rng.bytes(len);
        feed_all(&input);
    }
}

#[test]
fn mutated_valid_messages_never_panic() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let seeds = seeds();
    for seed in &seeds {
        feed_all(seed);
    }
    for _ in 0..12_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(3) {
            match rng.below(4) {
                0 if !input.is_empty() => {
                    let i = rng.below(input.len());
                    input[i] = rng.next() as u8;
                }
                1 if !input.is_empty() => {
                    let keep = rng.below(input.len());
                    input.truncate(keep);
                }
                2 => input.push(rng.next() as u8),
                _ if !input.is_empty() => {
                    let i = rng.below(input.len());
                    input[i] ^= 1 << rng.below(8);
                }
                _ => {}
            }
        }
        feed_all(&input);
    }
}

/// Deeply nested constructed TLVs must not blow the stack.
#[test]
fn nested_tlv_is_refused_without_panic() {
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend([0x6F, 0x80]);
    }
    assert!(Fci::parse(&deep).is_err());
    let mut nested = vec![0x6F, 0x7E];
    for _ in 0..63 {
        nested.extend([0xA5, 0x7C]);
    }
    assert!(Fci::parse(&nested).is_err());
}
