//! The APDU trace: one line per command and per response, with secrets redacted.
//!
//! What is secret is decided per instruction from the contract (`apdu_spec::Ins`): PIN blocks
//! (VERIFY / CHANGE PIN, PIN UNBLOCK), personalisation cryptograms, and every MAC, TAC, seal,
//! acknowledgement MAC and unconnected-load code; the rest of the data (amounts, counters,
//! dates, serials, randoms) is shown, because that is what a technician needs to read a trace.
//! Commands outside the contract are shown in full except ISO PIN commands (INS 20, 24, 2C)
//! and commands whose class byte announces secure messaging, whose data are hidden.
//!
//! Lines are logged with the `log` crate at debug level under the target `apdu`; the CLI's
//! `-v` turns them on. Building a line costs nothing unless that level is enabled.

use apdu_spec::{Command, Ins, StatusWord};

/// Which part of a command's or response's data is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Nothing.
    None,
    /// All of it; names what it is.
    All(&'static str),
    /// The last `n` bytes; names what they are.
    Tail(usize, &'static str),
}

/// The contract instruction of a command's header, if any.
fn instruction(command: &[u8]) -> Option<Ins> {
    match command {
        [cla, ins, ..] => Ins::from_header(*cla, *ins),
        _ => None,
    }
}

/// What is secret in the data of `command`.
pub fn command_secret(command: &[u8]) -> Secret {
    match instruction(command) {
        Some(ins) => match ins {
            Ins::VerifyPin | Ins::ChangePin => Secret::All("PIN block"),
            Ins::PinUnblock => Secret::All("PIN block and MAC_A"),
            Ins::Personalize => Secret::All("personalisation cryptogram and MAC_P"),
            Ins::CreditLoad => Secret::Tail(8, "MAC2"),
            Ins::DebitPurchase => Secret::Tail(8, "MAC1"),
            Ins::UnconnectedLoad => Secret::Tail(4, "AUTH code"),
            Ins::ApplicationBlock | Ins::ApplicationUnblock | Ins::SetLimits => {
                Secret::Tail(8, "MAC_A")
            }
            Ins::ClearBatch => Secret::Tail(16, "ACK_SAM and ACK_CARD"),
            Ins::WriteBatch => Secret::All("batch chunk (records, TACs, seal)"),
            _ => Secret::None,
        },
        None => match command {
            [0xFF, ..] => Secret::None, // reader pseudo-APDUs
            [_, 0x20 | 0x21 | 0x24 | 0x2C, ..] => Secret::All("PIN data"),
            [cla, ..] if cla & 0x0C != 0 => Secret::All("secure-messaging data"),
            _ => Secret::None,
        },
    }
}

/// What is secret in the response data of `command`.
pub fn response_secret(command: &[u8]) -> Secret {
    match instruction(command) {
        Some(Ins::InitializeLoad) => Secret::Tail(8, "MAC1"),
        Some(Ins::CreditLoad) => Secret::Tail(8, "TAC"),
        Some(Ins::DebitPurchase) => Secret::Tail(16, "MAC2 and TAC"),
        Some(Ins::GetTransactionProof) => Secret::Tail(16, "TAC and MAC2"),
        Some(Ins::ReadLog) => Secret::Tail(8, "TAC"),
        Some(Ins::UnconnectedLoad) => Secret::Tail(4, "CONFIRM code"),
        Some(Ins::ReadAck) => Secret::Tail(8, "ACK_SAM"),
        Some(Ins::ReadBatch) => Secret::All("batch data (records, TACs, seal)"),
        Some(_) => Secret::None,
        None => match command {
            [cla, ..] if *cla != 0xFF && cla & 0x0C != 0 => Secret::All("secure-messaging data"),
            _ => Secret::None,
        },
    }
}

fn spaced(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// `data` as hex with the secret part replaced by `<N bytes NAME redacted>`.
pub fn redact(data: &[u8], secret: Secret) -> String {
    let hidden = |n: usize, what: &str| format!("<{n} bytes {what} redacted>");
    match secret {
        Secret::None => spaced(data),
        _ if data.is_empty() => String::new(),
        Secret::All(what) => hidden(data.len(), what),
        Secret::Tail(n, what) if data.len() <= n => hidden(data.len(), what),
        Secret::Tail(n, what) => {
            let (shown, secret) = data.split_at(data.len() - n);
            format!("{} {}", spaced(shown), hidden(secret.len(), what))
        }
    }
}

/// The name of a command for messages: the contract's name, or `CLA xx INS yy`.
pub fn command_name(command: &[u8]) -> String {
    match (instruction(command), command) {
        (Some(ins), _) => ins.name().to_owned(),
        (None, [0xFF, ..]) => "reader pseudo-APDU".to_owned(),
        (None, [_, 0xA4, ..]) => "SELECT".to_owned(),
        (None, [_, 0xC0, ..]) => "GET RESPONSE".to_owned(),
        (None, [cla, ins, ..]) => format!("CLA {cla:02X} INS {ins:02X}"),
        (None, _) => "APDU".to_owned(),
    }
}

/// One trace line for a command: header, Lc, data (redacted), Le, and the command's name.
pub fn command_line(command: &[u8]) -> String {
    let name = command_name(command);
    let secret = command_secret(command);
    match Command::parse(command) {
        Ok(c) => {
            let mut line = format!(
                "> {:02X} {:02X} {:02X} {:02X}",
                c.cla_byte(),
                c.ins_byte(),
                c.p1_byte(),
                c.p2_byte()
            );
            if !c.data_bytes().is_empty() {
                line.push_str(&format!(
                    " {:02X} {}",
                    c.data_bytes().len(),
                    redact(c.data_bytes(), secret)
                ));
            }
            if let Some(le) = c.le_byte() {
                line.push_str(&format!(" {le:02X}"));
            }
            line.push_str(&format!("  ({name})"));
            line
        }
        // Not a short APDU (extended length or malformed): header in clear, body per secret.
        Err(_) => {
            let (header, body) = command.split_at(command.len().min(4));
            let body = match secret {
                Secret::None => spaced(body),
                _ if body.is_empty() => String::new(),
                _ => format!("<{} bytes redacted>", body.len()),
            };
            format!("> {} {}  ({name})", spaced(header), body)
        }
    }
}

/// One trace line for a response to `command`; `partial` for a piece of a chained response
/// (61xx / GET RESPONSE), whose secret part cannot be located and is hidden whole.
pub fn response_line(command: &[u8], response: &[u8], partial: bool) -> String {
    let Some((data, sw)) = response.len().checked_sub(2).map(|n| response.split_at(n)) else {
        return format!("< {} (no status word)", spaced(response));
    };
    let sw = StatusWord::from_bytes(sw[0], sw[1]);
    let secret = match response_secret(command) {
        Secret::Tail(_, what) if partial => Secret::All(what),
        s => s,
    };
    let data = redact(data, secret);
    let sep = if data.is_empty() { "" } else { " " };
    format!("< {data}{sep}{:04X} {}", u16::from(sw), sw_text(sw))
}

/// A status word as `NAME: meaning`, e.g. `CONDITIONS: conditions of use not satisfied...`.
pub fn sw_text(sw: StatusWord) -> String {
    match sw {
        StatusWord::Unknown(v) => iso_meaning(v),
        other => format!("{}: {}", other.name(), other.meaning()),
    }
}

/// ISO/IEC 7816-4 meaning of status words the contract does not define (for raw APDUs).
pub fn iso_meaning(sw: u16) -> String {
    let [sw1, sw2] = sw.to_be_bytes();
    let text = match (sw1, sw2) {
        (0x62, 0x00) => "warning: no information given, state unchanged",
        (0x62, 0x81) => "warning: part of returned data may be corrupted",
        (0x62, 0x82) => "warning: end of file or record reached before reading Ne bytes",
        (0x62, _) => "warning: state of non-volatile memory unchanged",
        (0x63, 0x00) => "warning: verification failed / no information given",
        (0x63, _) => "warning: state of non-volatile memory changed",
        (0x64, _) => "execution error: state of non-volatile memory unchanged",
        (0x65, _) => "execution error: state of non-volatile memory changed",
        (0x67, 0x00) => "wrong length",
        (0x68, 0x81) => "logical channel not supported",
        (0x68, 0x82) => "secure messaging not supported",
        (0x68, _) => "functions in CLA not supported",
        (0x69, 0x81) => "command incompatible with file structure",
        (0x69, 0x82) => "security status not satisfied",
        (0x69, 0x83) => "authentication method blocked",
        (0x69, 0x84) => "reference data not usable",
        (0x69, 0x86) => "command not allowed (no current EF)",
        (0x69, 0x87) => "expected secure messaging data objects missing",
        (0x69, 0x88) => "incorrect secure messaging data objects",
        (0x69, _) => "command not allowed",
        (0x6A, 0x81) => "function not supported",
        (0x6A, 0x82) => "file or application not found",
        (0x6A, 0x87) => "Nc inconsistent with P1-P2",
        (0x6A, _) => "wrong parameters P1-P2",
        (0x6B, 0x00) => "wrong parameters P1-P2",
        (0x6D, 0x00) => "instruction code not supported or invalid",
        (0x6E, 0x00) => "class not supported",
        (0x6F, 0x00) => "no precise diagnosis",
        (0x90, 0x00) => "success",
        _ => "not an ISO/IEC 7816-4 status word",
    };
    format!("{text} (ISO/IEC 7816-4)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        sam::parse_hex(s).unwrap()
    }

    #[test]
    fn pins_are_never_shown() {
        let verify = h("00 20 00 80 08 24 12 34 FF FF FF FF FF");
        let line = command_line(&verify);
        assert_eq!(
            line,
            "> 00 20 00 80 08 <8 bytes PIN block redacted>  (VERIFY PIN)"
        );
        let change = h("00 24 00 80 10 24 12 34 FF FF FF FF FF 24 56 78 FF FF FF FF FF");
        let line = command_line(&change);
        assert!(!line.contains("1234") && !line.contains("5678"), "{line}");
        assert!(line.contains("<16 bytes PIN block redacted>"), "{line}");
        // An ISO VERIFY of another applet (CLA 00, INS 20 is the contract's; CLA 80 is not).
        let other = h("80 20 00 01 04 31 32 33 34");
        assert_eq!(
            command_line(&other),
            "> 80 20 00 01 04 <4 bytes PIN data redacted>  (CLA 80 INS 20)"
        );
    }

    #[test]
    fn keys_and_macs_are_redacted_amounts_are_not() {
        let perso = {
            let mut v = h("84 60 00 00 88");
            v.extend([0xAB; 136]);
            v
        };
        let line = command_line(&perso);
        assert!(!line.contains("ABAB"), "{line}");
        assert!(line.contains("<136 bytes personalisation cryptogram and MAC_P redacted>"));

        // DEBIT PURCHASE: SAMSEQ DATETIME MCC shown, MAC1 hidden.
        let debit = h("80 56 01 00 15 00000007 20261123143000 5411 1122334455667788 00");
        let line = command_line(&debit);
        assert_eq!(
            line,
            "> 80 56 01 00 15 00000007202611231430005411 <8 bytes MAC1 redacted> 00  (DEBIT PURCHASE)"
        );
        // Its response: balance shown, MAC2 and TAC hidden.
        let resp = h("000003E8 1111111111111111 2222222222222222 9000");
        let line = response_line(&debit, &resp, false);
        assert_eq!(
            line,
            "< 000003E8 <16 bytes MAC2 and TAC redacted> 9000 OK: success"
        );
        assert!(!line.contains("1111") && !line.contains("2222"));

        // INITIALIZE LOAD response: MAC1 hidden, random shown.
        let init = h("80 50 01 00 0E 000003E8 5445524D3031 00000000 00");
        let resp = h("00000000 0001 01 01 A1B2C3D4 9999999999999999 9000");
        let line = response_line(&init, &resp, false);
        assert!(
            line.starts_with("< 0000000000010101A1B2C3D4 <8 bytes MAC1 redacted> 9000"),
            "{line}"
        );

        // A chained piece of a READ LOG response is hidden whole.
        let read_log = h("80 5C 00 00 00");
        let line = response_line(&read_log, &h("0102030405 6128"), true);
        assert_eq!(
            line,
            "< <5 bytes TAC redacted> 6128 MORE DATA: more data: response bytes waiting (T=0)"
        );
        // Issuer commands: MAC_A.
        let block = h("84 1E 00 00 08 0102030405060708");
        assert_eq!(
            command_line(&block),
            "> 84 1E 00 00 08 <8 bytes MAC_A redacted>  (APPLICATION BLOCK)"
        );
        let clear = {
            let mut v = h("80 88 00 00 32");
            v.extend([0x11; 34]);
            v.extend([0xEE; 16]);
            v
        };
        let line = command_line(&clear);
        assert!(
            line.contains("<16 bytes ACK_SAM and ACK_CARD redacted>") && !line.contains("EEEE")
        );
        let uc = h("80 58 01 00 13 00000064 00000000 20261123143000 01020304 00");
        assert!(command_line(&uc).contains("<4 bytes AUTH code redacted>"));
    }

    #[test]
    fn plain_commands_in_full() {
        let select = h("00 A4 04 00 08 F045505552534501 00");
        assert_eq!(
            command_line(&select),
            "> 00 A4 04 00 08 F045505552534501 00  (SELECT)"
        );
        assert_eq!(
            response_line(&select, &h("6A82"), false),
            format!("< 6A82 {}", sw_text(StatusWord::AppletNotFound))
        );
        assert_eq!(
            command_line(&h("FF 00 48 00 00")),
            "> FF 00 48 00 00  (reader pseudo-APDU)"
        );
        assert_eq!(
            response_line(&h("80 5E 00 00 00"), &h("90"), false),
            "< 90 (no status word)"
        );
        // Extended length: header only in clear when secret.
        let ext_verify = h("00 20 00 80 00 00 08 2412 34FF FFFF FFFF");
        assert_eq!(
            command_line(&ext_verify),
            "> 00200080 <11 bytes redacted>  (VERIFY PIN)"
        );
        assert_eq!(
            iso_meaning(0x6982),
            "security status not satisfied (ISO/IEC 7816-4)"
        );
        assert_eq!(
            sw_text(StatusWord::Unknown(0x6982)),
            "security status not satisfied (ISO/IEC 7816-4)"
        );
    }

    #[test]
    fn every_contract_command_with_secret_data_is_listed() {
        // The instructions whose command data carry a PIN, key or MAC.
        for ins in Ins::ALL {
            let (cla, code) = ins.header();
            let secret = command_secret(&[cla, code, 0, 0]);
            let expect_secret = matches!(
                ins,
                Ins::VerifyPin
                    | Ins::ChangePin
                    | Ins::PinUnblock
                    | Ins::Personalize
                    | Ins::CreditLoad
                    | Ins::DebitPurchase
                    | Ins::UnconnectedLoad
                    | Ins::ApplicationBlock
                    | Ins::ApplicationUnblock
                    | Ins::SetLimits
                    | Ins::ClearBatch
                    | Ins::WriteBatch
            );
            assert_eq!(secret != Secret::None, expect_secret, "{ins:?}");
            if ins.carries_pin() {
                assert!(matches!(secret, Secret::All(_)), "{ins:?}");
            }
        }
    }
}
