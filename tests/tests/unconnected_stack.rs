//! Unconnected mode end to end (issue 5 item 8): `epurse teller load --unconnected` and
//! `epurse pocket` run as child processes and are driven through their prompts, the code one
//! prints being typed into the other, against a virtual card behind pcscd and vpcd. A typo
//! (bad check digit) is caught before anything reaches the card and costs no try; a wrong code
//! with a valid check digit costs one (`63C2`); the right code loads the card, its code
//! completes the load in the back office, and `epurse audit` is clean.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use epurse_tests::*;
use serde_json::Value;

/// An installation home (ledger + dev master keys) in a fresh temporary directory.
struct Home(InstallHome);

impl Home {
    fn new() -> Result<Home> {
        InstallHome::new("unconnected").map(Home)
    }

    fn json(&self, args: &[&str]) -> Value {
        self.0.json(args)
    }
}

impl std::ops::Deref for Home {
    type Target = InstallHome;
    fn deref(&self) -> &InstallHome {
        &self.0
    }
}

/// The Damm table (a published constant), to make a wrong code that still has a valid check
/// digit — the kind of error only the card can catch.
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

fn digits(code: &str) -> Vec<u8> {
    code.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn text(d: &[u8]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// Another 9-digit code with a valid check digit (first digit changed, check digit redone).
fn wrong_but_well_formed(code: &str) -> String {
    let mut d = digits(code);
    d[0] = (d[0] + 1) % 10;
    d[8] = d[..8]
        .iter()
        .fold(0u8, |i, &x| DAMM[usize::from(i)][usize::from(x)]);
    text(&d)
}

/// The same code with one digit mistyped: its check digit no longer matches.
fn typo(code: &str) -> String {
    let mut d = digits(code);
    d[4] = (d[4] + 3) % 10;
    text(&d)
}

/// The code after `label` in `output`.
fn code_after(output: &str, label: &str) -> Option<String> {
    output.lines().find_map(|l| {
        l.find(label)
            .map(|i| l[i + label.len()..].trim().to_owned())
    })
}

fn attempts_left(home: &Home, reader: &str) -> i64 {
    home.json(&["card", "info", "--reader", reader])["unconnected"]["attempts_left"]
        .as_i64()
        .expect("attempts_left")
}

#[test]
fn teller_and_pocket_reader_exchange_codes_through_their_prompts() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    slot.insert_new_card(CardKind::Purse)?;
    let reader = slot.reader();
    let customer = home.json(&["customer", "create", "Pocket Test"])["customer"]
        .as_i64()
        .expect("customer id")
        .to_string();
    home.json(&[
        "deposit",
        "--customer",
        &customer,
        "--purse",
        "ecash",
        "--amount",
        "500.00",
        "--reference",
        "UC-1",
    ]);
    let issued = home.json(&[
        "card",
        "issue",
        "--customer",
        &customer,
        "--pin",
        "1234",
        "--reader",
        reader,
    ]);
    let serial = issued["serial"].as_str().expect("serial").to_owned();
    assert_eq!(attempts_left(&home, reader), 3);

    // The teller: reserve, print the code, wait at the prompt for the card's code.
    let mut teller = Command::new(epurse_bin()?)
        .args([
            "teller",
            "load",
            "--unconnected",
            "--card",
            &serial,
            "--purse",
            "ecash",
            "--amount",
            "150.00",
        ])
        .env("EPURSE_HOME", home.dir())
        .env("EPURSE_DB", home.dir().join("backoffice.db"))
        .env("EPURSE_KEYS", home.dir().join("master-keys.json"))
        .env_remove("EPURSE_READER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::Card(format!("spawn epurse teller: {e}")))?;
    let mut teller_out = BufReader::new(teller.stdout.take().expect("stdout"));
    let mut head = String::new();
    let auth = loop {
        let mut line = String::new();
        if teller_out.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = teller.kill();
            let mut err = String::new();
            let _ = teller.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("the teller ended before printing a code:\n{head}\n{err}");
        }
        head += &line;
        if let Some(code) = code_after(&line, "Code for the pocket reader:") {
            break code;
        }
    };
    assert!(head.contains(&serial), "{head}");
    assert_eq!(digits(&auth).len(), 9, "{auth}");

    // The pocket reader, first with a typo (caught, nothing sent) and then a wrong code with a
    // valid check digit (sent, the card counts a try).
    let wrong = home
        .cmd(&["pocket", "--reader", reader])
        .stdin(format!(
            "ecash\n150.00\n{}\n{}\n",
            typo(&auth),
            wrong_but_well_formed(&auth)
        ))
        .run()
        .expect("epurse pocket runs");
    wrong.assert_code(24);
    assert!(wrong.stdout.contains("typing error"), "{wrong}");
    assert!(wrong.stderr.contains("63C2"), "{wrong}");
    assert!(wrong.stderr.contains("2 tries left"), "{wrong}");
    assert_eq!(
        attempts_left(&home, reader),
        2,
        "the typo must not cost a try"
    );

    // A typo given as --code is refused before the card is touched.
    home.cmd(&[
        "pocket",
        "--reader",
        reader,
        "--purse",
        "ecash",
        "--amount",
        "150.00",
        "--code",
        &typo(&auth),
    ])
    .run()
    .expect("epurse pocket runs")
    .assert_code(2);
    assert_eq!(attempts_left(&home, reader), 2);

    // The right code, typed with dashes: the card loads and shows its code.
    let loaded = home
        .cmd(&["pocket", "--reader", reader])
        .stdin(format!("ecash\n150.00\n{}\n", auth.replace(' ', "-")))
        .run()
        .expect("epurse pocket runs");
    loaded.assert_success();
    let confirm = code_after(&loaded.stdout, "Code for the bank:")
        .unwrap_or_else(|| panic!("no code for the bank:\n{loaded}"));
    assert_eq!(
        attempts_left(&home, reader),
        3,
        "a right code resets the tries"
    );

    // Back to the teller: a typo first (asked again), then the card's code.
    {
        let stdin = teller.stdin.as_mut().expect("stdin");
        write!(stdin, "{}\n{confirm}\n", typo(&confirm))
            .map_err(|e| HarnessError::Card(format!("type into the teller: {e}")))?;
    }
    drop(teller.stdin.take());
    let mut rest = String::new();
    teller_out
        .read_to_string(&mut rest)
        .map_err(|e| HarnessError::Card(e.to_string()))?;
    let mut err = String::new();
    let _ = teller.stderr.take().map(|mut e| e.read_to_string(&mut err));
    let status = teller
        .wait()
        .map_err(|e| HarnessError::Card(e.to_string()))?;
    assert!(status.success(), "teller failed:\n{head}{rest}\n{err}");
    assert!(rest.contains("typing error"), "{rest}");
    assert!(rest.contains("CONFIRMED"), "{rest}");

    // Card and account moved by the same amount; the ledger is clean.
    let info = home.json(&["card", "info", "--reader", reader]);
    assert_eq!(info["purses"]["ecash"]["balance"], 15_000);
    assert_eq!(info["purses"]["ecash"]["load_counter"], 1);
    let balance = home.json(&["balance", "--customer", &customer]);
    assert_eq!(balance["ecash"], 35_000);
    let audit = home.run(&["--json", "audit"]);
    let v: Value = audit.json();
    assert!(
        audit.success() && v["clean"] == Value::Bool(true),
        "audit must be clean:\n{audit}"
    );
    Ok(())
}

#[test]
fn an_unconfirmed_load_is_settled_from_the_cards_log_at_the_next_teller() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let home = Home::new()?;
    slot.insert_new_card(CardKind::Purse)?;
    let reader = slot.reader();
    let customer = home.json(&["customer", "create", "Pocket Recovery"])["customer"]
        .as_i64()
        .expect("customer id")
        .to_string();
    home.json(&[
        "deposit",
        "--customer",
        &customer,
        "--purse",
        "ecash",
        "--amount",
        "100.00",
        "--reference",
        "UC-2",
    ]);
    let serial = home.json(&[
        "card",
        "issue",
        "--customer",
        &customer,
        "--pin",
        "1234",
        "--reader",
        reader,
    ])["serial"]
        .as_str()
        .expect("serial")
        .to_owned();
    let reserve = |amount: &str| {
        let out = home
            .cmd(&[
                "teller",
                "load",
                "--unconnected",
                "--card",
                &serial,
                "--purse",
                "ecash",
                "--amount",
                amount,
            ])
            .stdin("")
            .run()
            .expect("epurse teller runs");
        // No code typed back: the load stays pending (exit 25).
        out.assert_code(25);
        code_after(&out.stdout, "Code for the pocket reader:")
            .unwrap_or_else(|| panic!("no code:\n{out}"))
    };

    // Loaded on the card, its code never reported: the TT 04 entry completes it.
    let code = reserve("20.00");
    home.cmd(&[
        "pocket", "--reader", reader, "--purse", "ecash", "--amount", "20.00", "--code", &code,
    ])
    .run()
    .expect("epurse pocket runs")
    .assert_success();
    let v = home.json(&["teller", "recover", "--unconnected", "--reader", reader]);
    assert_eq!(v["recovered"][0]["outcome"], "completed", "{v}");
    assert_eq!(v["unsettled"], 0);

    // Not typed yet: the code still works on the card, so recovery keeps the funds reserved
    // (exit 25, unsettled) instead of releasing them; typed later, it completes.
    let code = reserve("10.00");
    let out = home.run(&[
        "--json",
        "teller",
        "recover",
        "--unconnected",
        "--reader",
        reader,
    ]);
    out.assert_code(25);
    let v: Value = out.json();
    assert_eq!(v["recovered"][0]["outcome"], "unsettled", "{v}");
    assert!(
        v["recovered"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("has not been used")),
        "{v}"
    );
    let balance = home.json(&["balance", "--customer", &customer]);
    assert_eq!(balance["ecash"], 7_000, "10.00 stays reserved");
    home.cmd(&[
        "pocket", "--reader", reader, "--purse", "ecash", "--amount", "10.00", "--code", &code,
    ])
    .run()
    .expect("epurse pocket runs")
    .assert_success();
    let v = home.json(&["teller", "recover", "--unconnected", "--reader", reader]);
    assert_eq!(v["recovered"][0]["outcome"], "completed", "{v}");
    assert_eq!(v["unsettled"], 0);

    let balance = home.json(&["balance", "--customer", &customer]);
    assert_eq!(balance["ecash"], 7_000);
    let info = home.json(&["card", "info", "--reader", reader]);
    assert_eq!(info["purses"]["ecash"]["balance"], 3_000);
    let audit = home.run(&["--json", "audit"]);
    let a: Value = audit.json();
    assert!(
        audit.success() && a["clean"] == Value::Bool(true),
        "audit must be clean:\n{audit}"
    );
    Ok(())
}
