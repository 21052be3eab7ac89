//! A remote teller station (`--backoffice URL`) against `epurse backoffice serve --dev-tls`
//! running as its own process on a loopback port, with a virtual card through pcscd and vpcd:
//! customer, deposit, issue and load over HTTPS; the server killed mid-load (after the card
//! credited, before the back office recorded it), restarted, and the load recovered from the
//! card; the ledger's audit clean and the card and account moved by the same amount.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use epurse_tests::*;
use serde_json::Value;

fn harness(what: impl std::fmt::Display) -> HarnessError {
    HarnessError::Card(what.to_string())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "epurse-remote-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(harness)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `epurse backoffice serve --dev-tls` on a free loopback port, killed on drop.
struct Server {
    child: Child,
    url: String,
    certificate: PathBuf,
}

impl Server {
    fn start(home: &Path) -> Result<Server> {
        let mut child = Command::new(epurse_bin()?)
            .args([
                "--json",
                "backoffice",
                "serve",
                "--dev-tls",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("EPURSE_DB", home.join("backoffice.db"))
            .env("EPURSE_KEYS", home.join("master-keys.json"))
            .env_remove("EPURSE_BACKOFFICE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| harness(format!("spawn epurse backoffice serve: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(harness)?;
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(harness(format!("serve printed {line:?}: {e}")));
            }
        };
        Ok(Server {
            url: v["url"].as_str().expect("url").to_owned(),
            certificate: PathBuf::from(v["certificate"].as_str().expect("certificate")),
            child,
        })
    }

    /// Kills the server process (no graceful shutdown: a crash).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The back-office machine's home (ledger + dev keys) and a station home with neither.
struct Site {
    office: TempDir,
    station: TempDir,
    token: String,
}

impl Site {
    fn new() -> Result<Site> {
        let office = TempDir::new("office")?;
        std::fs::copy(
            workspace_root().join("keys/dev-master-keys.json"),
            office.0.join("master-keys.json"),
        )
        .map_err(|e| harness(format!("copy dev keys: {e}")))?;
        let station = TempDir::new("station")?;
        let out = Self::office_cmd(
            &office.0,
            &["--json", "backoffice", "token", "add", "STATION-R1"],
        )
        .run()?;
        out.assert_success();
        let v: Value = out.json();
        Ok(Site {
            token: v["token"].as_str().expect("token").to_owned(),
            office,
            station,
        })
    }

    fn office_cmd(dir: &Path, args: &[&str]) -> Epurse {
        Epurse::new(args)
            .env("EPURSE_HOME", &dir.to_string_lossy())
            .env("EPURSE_DB", &dir.join("backoffice.db").to_string_lossy())
            .env(
                "EPURSE_KEYS",
                &dir.join("master-keys.json").to_string_lossy(),
            )
            .timeout(Duration::from_secs(60))
    }

    /// A command on the back-office machine (the ledger file itself).
    fn office(&self, args: &[&str]) -> CliOutput {
        Self::office_cmd(&self.office.0, args)
            .run()
            .expect("epurse runs")
    }

    /// A command on the station: no ledger, no keys, only the URL, token and certificate.
    fn station(&self, server: &Server, args: &[&str]) -> CliOutput {
        let dir = &self.station.0;
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        Epurse::new(all)
            .env("EPURSE_HOME", &dir.to_string_lossy())
            .env(
                "EPURSE_DB",
                &dir.join("must-not-exist.db").to_string_lossy(),
            )
            .env("EPURSE_KEYS", &dir.join("no-keys.json").to_string_lossy())
            .env("EPURSE_BACKOFFICE", &server.url)
            .env("EPURSE_TOKEN", &self.token)
            .env("EPURSE_CA", &server.certificate.to_string_lossy())
            .timeout(Duration::from_secs(60))
            .run()
            .expect("epurse runs")
    }

    fn station_ok(&self, server: &Server, args: &[&str]) -> Value {
        let out = self.station(server, args);
        out.assert_success();
        out.json()
    }
}

#[test]
fn a_remote_station_issues_and_loads_and_a_server_crash_mid_load_is_recovered() -> Result<()> {
    let mut slot = SlotLease::acquire(0)?;
    let site = Site::new()?;
    let mut server = Server::start(&site.office.0)?;
    let reader = slot.reader();

    // Customer, deposit, issue and a load, all through the API.
    let c = site.station_ok(&server, &["customer", "create", "Remote Ravi"])["customer"]
        .as_i64()
        .expect("customer id");
    let cs = c.to_string();
    site.station_ok(
        &server,
        &[
            "deposit",
            "--customer",
            &cs,
            "--purse",
            "ecash",
            "--amount",
            "100.00",
            "--reference",
            "REMOTE-1",
        ],
    );
    slot.insert_new_card(CardKind::Purse)?;
    let issued = site.station_ok(
        &server,
        &[
            "card",
            "issue",
            "--customer",
            &cs,
            "--pin",
            "1234",
            "--reader",
            reader,
        ],
    );
    assert_eq!(issued["status"], "active", "{issued}");
    let load = site.station_ok(
        &server,
        &[
            "teller", "load", "--purse", "ecash", "--amount", "25.00", "--reader", reader,
        ],
    );
    assert_eq!(load["amount"], 2_500, "{load}");

    // A refusal comes back whole: same exit code as with the embedded ledger (20:
    // insufficient funds, see `epurse --help`).
    let refused = site.station(
        &server,
        &[
            "teller", "load", "--purse", "ecash", "--amount", "90.00", "--reader", reader,
        ],
    );
    assert!(!refused.success(), "{refused}");
    let embedded_code = Site::office_cmd(
        &site.office.0,
        &[
            "teller", "load", "--purse", "ecash", "--amount", "90.00", "--reader", reader,
        ],
    )
    .run()?;
    assert_eq!(
        refused.code, embedded_code.code,
        "{refused}\n{embedded_code}"
    );

    // The station pauses after CREDIT LOAD (the card has the value); the server dies then.
    let mut teller = Command::new(epurse_bin()?)
        .args([
            "teller", "load", "--purse", "ecash", "--amount", "10.00", "--reader", reader,
        ])
        .env("EPURSE_HOME", &site.station.0)
        .env("EPURSE_DB", site.station.0.join("must-not-exist.db"))
        .env("EPURSE_KEYS", site.station.0.join("no-keys.json"))
        .env("EPURSE_BACKOFFICE", &server.url)
        .env("EPURSE_TOKEN", &site.token)
        .env("EPURSE_CA", &server.certificate)
        .env("EPURSE_TEST_PAUSE_AT", "after_credit_load")
        .env("EPURSE_TEST_PAUSE_MS", "3000")
        .env_remove("EPURSE_READER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| harness(format!("spawn epurse teller load: {e}")))?;
    let mut lines = BufReader::new(teller.stderr.take().expect("piped")).lines();
    let paused = lines
        .by_ref()
        .map_while(|l| l.ok())
        .any(|l| l.contains("paused at after_credit_load"));
    assert!(paused, "the load must reach after_credit_load");
    server.kill();
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let status = teller.wait().map_err(harness)?;
    // Exit 25: the load is left pending for recovery, nothing lost.
    assert_eq!(status.code(), Some(25), "teller load: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("cannot be reached") || l.contains("recover")),
        "{rest:?}"
    );

    // The ledger, read directly: one pending load, audit clean.
    let audit = site.office(&["--json", "audit"]);
    let v: Value = audit.json();
    assert!(audit.success(), "{audit}");
    assert_eq!(v["totals"]["loads_pending"], 1, "{v}");

    // Restarted (on a new port); the station recovers from the card: completed.
    let server = Server::start(&site.office.0)?;
    let rec = site.station_ok(&server, &["teller", "recover", "--reader", reader]);
    assert_eq!(rec["recovered"][0]["outcome"], "completed", "{rec}");
    let balance = site.station_ok(&server, &["balance", "--customer", &cs]);
    assert_eq!(balance["ecash"], 10_000 - 2_500 - 1_000, "{balance}");
    let info = site.station_ok(&server, &["card", "info", "--reader", reader]);
    assert_eq!(info["purses"]["ecash"]["balance"], 3_500, "{info}");

    let audit = site.office(&["--json", "audit"]);
    let v: Value = audit.json();
    assert!(
        audit.success() && v["clean"] == Value::Bool(true),
        "audit must be clean:\n{audit}"
    );
    assert_eq!(
        (
            v["totals"]["loads_pending"].clone(),
            v["totals"]["float_ecash"].clone()
        ),
        (Value::from(0), Value::from(3_500))
    );
    // The station never created a ledger of its own.
    assert!(!site.station.0.join("must-not-exist.db").exists());
    Ok(())
}

#[test]
fn sales_in_a_sam_are_audited_in_transit_until_settled_through_the_remote_back_office() -> Result<()>
{
    let mut slot = SlotLease::acquire(0)?;
    let site = Site::new()?;
    let server = Server::start(&site.office.0)?;
    let reader = slot.reader();
    let sam_dir = site.office.0.join("sam-remote");
    let sam = sam_dir.to_string_lossy().into_owned();

    let c = site.station_ok(&server, &["customer", "create", "Remote Rina"])["customer"]
        .as_i64()
        .expect("customer id");
    let cs = c.to_string();
    site.station_ok(
        &server,
        &[
            "deposit",
            "--customer",
            &cs,
            "--purse",
            "ecash",
            "--amount",
            "40.00",
            "--reference",
            "REMOTE-2",
        ],
    );
    let purse = slot.insert_new_card(CardKind::Purse)?;
    site.station_ok(
        &server,
        &[
            "card",
            "issue",
            "--customer",
            &cs,
            "--pin",
            "1234",
            "--reader",
            reader,
        ],
    );
    site.station_ok(
        &server,
        &[
            "teller", "load", "--purse", "ecash", "--amount", "40.00", "--reader", reader,
        ],
    );
    site.office(&[
        "backoffice",
        "sam-issue",
        "--merchant-id",
        "M-REMOTE",
        "--name",
        "Remote Books",
        "--mcc",
        "5942",
        "--sam",
        &sam,
    ])
    .assert_success();
    let sale = site.office(&[
        "--json", "pos", "sale", "--amount", "5.00", "--purse", "ecash", "--sam", &sam, "--reader",
        reader,
    ]);
    sale.assert_success();

    // The sale is in the SAM's open journal: the bank cannot know it, the SAM audit can.
    let audit_sam = || {
        let out = site.office(&["--json", "audit", "--sam", &sam]);
        let v: Value = out.json();
        assert!(
            out.success() && v["clean"] == Value::Bool(true),
            "audit must be clean:\n{out}"
        );
        v
    };
    let v = audit_sam();
    assert_eq!(v["sam"]["open"]["ecash"], 500, "{v}");
    assert_eq!(v["sam"]["in_transit"]["ecash"], 500, "{v}");
    assert_eq!(v["settlement"]["batches_settled"], 0, "{v}");
    assert_eq!(v["settlement"]["merchants"], 1, "{v}");

    // Sealed onto a transfer card: unacknowledged, still in transit.
    slot.insert_new_card(CardKind::Transfer)?;
    site.office(&["backoffice", "transfer-card-issue", "--reader", reader])
        .assert_success();
    site.office(&[
        "--json", "pos", "transfer", "--sam", &sam, "--reader", reader,
    ])
    .assert_success();
    let v = audit_sam();
    assert_eq!(
        (
            v["sam"]["open"]["ecash"].clone(),
            v["sam"]["unacknowledged"]["ecash"].clone(),
            v["sam"]["in_transit"]["ecash"].clone()
        ),
        (Value::from(0), Value::from(500), Value::from(500)),
        "{v}"
    );

    // Uploaded by the station through the API: settled at the bank, acknowledgement on the
    // card; until the POS reads it, the SAM still holds the batch as settled-awaiting-ack.
    let up = site.station_ok(&server, &["settle", "upload", "--reader", reader]);
    assert_eq!(
        (up["credited"].as_i64(), up["rejected"].as_i64()),
        (Some(500), Some(0)),
        "{up}"
    );
    let again = site.station(&server, &["settle", "upload", "--reader", reader]);
    assert_eq!(again.code, Some(36), "{again}");
    let v = audit_sam();
    assert_eq!(v["sam"]["settled_awaiting_ack"]["ecash"], 500, "{v}");
    assert_eq!(v["sam"]["in_transit"]["ecash"], 0, "{v}");
    assert_eq!(
        (
            v["settlement"]["batches_settled"].clone(),
            v["settlement"]["credited"].clone()
        ),
        (Value::from(1), Value::from(500)),
        "{v}"
    );

    site.office(&["--json", "pos", "ack", "--sam", &sam, "--reader", reader])
        .assert_success();
    let v = audit_sam();
    assert_eq!(v["sam"]["settled_awaiting_ack"]["ecash"], 0, "{v}");
    assert_eq!(v["totals"]["merchants"], 500, "{v}");
    slot.remove()?;
    slot.insert(&purse)?;
    Ok(())
}
