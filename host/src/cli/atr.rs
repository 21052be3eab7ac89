//! `epurse atr decode HEX`: ISO/IEC 7816-3 decoding of an ATR typed or pasted by a technician.

use clap::Subcommand;
use serde::Serialize;

use super::{hex_arg, to_json, CliError, Global};
use crate::atr::{di_from_code, fi_from_code, Atr, Convention, InterfaceGroup, Tck};

/// `epurse atr ...`
#[derive(Debug, Subcommand)]
pub enum AtrCmd {
    /// Decode an ATR: TS, T0, interface bytes, Fi/Di, protocols, historical bytes, TCK.
    Decode {
        /// The ATR in hex (spaces and colons allowed, e.g. "3B 8A 80 01 ...").
        #[arg(value_name = "HEX")]
        atr: String,
    },
}

#[derive(Serialize)]
struct GroupJson {
    index: usize,
    protocol: u8,
    ta: Option<String>,
    tb: Option<String>,
    tc: Option<String>,
    td: Option<String>,
}

#[derive(Serialize)]
struct AtrJson {
    atr: String,
    convention: Convention,
    t0: String,
    interface: Vec<GroupJson>,
    protocols: Vec<u8>,
    fi: Option<u16>,
    di: Option<u8>,
    f_max_mhz: Option<f32>,
    historical: String,
    historical_ascii: Option<String>,
    tck: Option<Tck>,
}

fn b(v: Option<u8>) -> Option<String> {
    v.map(|x| format!("{x:02X}"))
}

fn group_json(g: &InterfaceGroup) -> GroupJson {
    GroupJson {
        index: g.index,
        protocol: g.protocol,
        ta: b(g.ta),
        tb: b(g.tb),
        tc: b(g.tc),
        td: b(g.td),
    }
}

/// The JSON document for a decoded ATR.
fn json(a: &Atr) -> Result<String, CliError> {
    let (fi, di) = a.fi_di_codes();
    let hist = &a.historical;
    to_json(&AtrJson {
        atr: hex::encode_upper(a.as_bytes()),
        convention: a.convention,
        t0: format!("{:02X}", a.t0),
        interface: a.groups.iter().map(group_json).collect(),
        protocols: a.protocols(),
        fi: fi_from_code(fi).map(|f| f.0),
        di: di_from_code(di),
        f_max_mhz: fi_from_code(fi).map(|f| f.1),
        historical: hex::encode_upper(hist),
        historical_ascii: (!hist.is_empty() && hist.iter().all(|c| (0x20..0x7F).contains(c)))
            .then(|| String::from_utf8_lossy(hist).into_owned()),
        tck: a.tck,
    })
}

/// Runs one `epurse atr` command and returns what to print.
pub fn run(cmd: &AtrCmd, global: &Global) -> Result<String, CliError> {
    match cmd {
        AtrCmd::Decode { atr } => {
            let bytes = hex_arg("the ATR", atr)?;
            let decoded = Atr::parse(&bytes).map_err(|e| {
                CliError::Usage(format!(
                    "not an ATR: {e} (give the whole ATR as `epurse reader list` shows it)"
                ))
            })?;
            if global.json {
                json(&decoded)
            } else {
                Ok(decoded.describe().join("\n"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_text_and_json() {
        let cmd = AtrCmd::Decode {
            atr: "3B 8A 80 01 45 50 55 52 53 45 2D 50 31 30 73".into(),
        };
        let text = run(&cmd, &Global::default()).unwrap();
        assert!(text.contains("protocols T=0, T=1"), "{text}");
        let json = run(
            &cmd,
            &Global {
                json: true,
                ..Global::default()
            },
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["protocols"], serde_json::json!([0, 1]));
        assert_eq!(v["historical_ascii"], "EPURSE-P10");
        assert_eq!(v["tck"]["valid"], true);
        assert_eq!(v["convention"], "direct");
        assert_eq!(v["interface"][0]["td"], "80");
        assert_eq!(v["fi"], 372);
    }

    #[test]
    fn bad_input_is_usage() {
        for bad in ["zz", "3C00", "3B8A80"] {
            let e = run(&AtrCmd::Decode { atr: bad.into() }, &Global::default()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }
}
