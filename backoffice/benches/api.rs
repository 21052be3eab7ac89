//! Load authorisations per second through the HTTP API on loopback, with concurrent clients.
//!
//! One authorisation = `POST /v1/loads` (MAC1, checks, reservation, MAC2) and
//! `POST /v1/loads/{id}/complete` (TAC, pending → float), each over HTTPS (rustls, pinned dev
//! certificate, keep-alive) with a bearer token and an idempotency key, each one durable
//! SQLite transaction (WAL, `synchronous=FULL`) plus its idempotency record. Every client
//! thread has its own customer and software card (a card has one load in flight at a time);
//! the card's own work is not timed. After the run the ledger is audited.
//!
//! `cargo bench -p backoffice --bench api -- [--clients N] [--loads N] [--workers N]`
//! (defaults 8 clients × 50 loads, 4 server workers); `scripts/bench-api` wraps it.
//! Prints throughput and p50/p99/max latency of one authorisation (begin + complete).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use apdu_spec::Purse;
use backoffice::api::{tls, ApiServer, ApiStore, ServerOptions, TlsSource};
use backoffice::client::{BackofficeClient, IdempotencyKey, Trust};
use backoffice::Config;
use support::{Bench, SoftCard, T0};

const AMOUNT: u32 = 100; // 1.00 per load

struct Settings {
    clients: usize,
    loads: usize,
    workers: usize,
}

fn settings() -> Settings {
    let mut s = Settings {
        clients: 8,
        loads: 50,
        workers: 4,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || -> usize {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .unwrap_or_else(|| {
                    eprintln!("bench api: {} needs a positive number", args[i]);
                    std::process::exit(2)
                })
        };
        match args[i].as_str() {
            "--clients" => s.clients = value(),
            "--loads" => s.loads = value(),
            "--workers" => s.workers = value(),
            // cargo bench passes --bench; anything else is ignored like criterion would.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    s
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let s = settings();
    let mut bench = Bench::new();
    let token = ApiStore::open(&bench.path())
        .expect("API tables")
        .add_station("BENCH", T0)
        .expect("station")
        .token;
    let server = ApiServer::start(ServerOptions {
        ledger: bench.path(),
        ism: bench.ism.clone(),
        config: Config::default(),
        clock: bench.clock.clone(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        tls: TlsSource::Dev {
            dir: bench.dir.path().to_path_buf(),
        },
        workers: s.workers,
        stop_on_signal: false,
    })
    .expect("server");
    let url = format!("https://{}", server.local_addr());
    let cert = tls::dev_paths(bench.dir.path()).0;

    // One funded customer and one issued card per client.
    let cards: Vec<SoftCard> = (0..s.clients)
        .map(|i| {
            let customer = bench.customer(&format!("Bench {i}"), i64::MAX / 64, 0);
            bench.issue(customer)
        })
        .collect();

    let barrier = Arc::new(Barrier::new(s.clients + 1));
    let threads: Vec<_> = cards
        .into_iter()
        .map(|mut card| {
            let client =
                BackofficeClient::new(&url, &token, Trust::pinned_file(&cert).expect("cert"))
                    .expect("client");
            let barrier = barrier.clone();
            let loads = s.loads;
            std::thread::spawn(move || {
                client.health().expect("warm-up connection");
                barrier.wait();
                let mut latencies = Vec::with_capacity(loads);
                for _ in 0..loads {
                    let exchange = card
                        .initialize_load(Purse::Ecash, AMOUNT, None)
                        .expect("INITIALIZE LOAD");
                    let request = card.request(exchange);
                    let started = Instant::now();
                    let auth = client
                        .begin_load(&request, &IdempotencyKey::new())
                        .expect("begin_load");
                    let begin = started.elapsed();
                    let response = card.credit_load(&auth.credit_load).expect("CREDIT LOAD");
                    let resumed = Instant::now();
                    client
                        .complete_load(auth.load_id, &response, &IdempotencyKey::new())
                        .expect("complete_load");
                    latencies.push(begin + resumed.elapsed());
                }
                latencies
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();

    let report = bench.bo.audit().expect("audit");
    assert!(report.is_clean(), "audit: {:?}", report.discrepancies);
    let total = latencies.len();
    assert_eq!(report.totals.loads_completed as usize, total);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "api load authorisations (begin+complete over HTTPS, {} clients x {} loads, {} server workers)",
        s.clients, s.loads, s.workers
    );
    println!(
        "  {total} authorisations in {:.2} s: {rate:.1} authorisations/s",
        elapsed.as_secs_f64()
    );
    println!(
        "  latency per authorisation: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
    );
    println!(
        "  audit clean: {} loads completed",
        report.totals.loads_completed
    );
    println!(
        "BENCH_API {{\"clients\":{},\"loads\":{},\"workers\":{},\"total\":{total},\"seconds\":{:.3},\"per_second\":{rate:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        s.clients,
        s.loads,
        s.workers,
        elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
    );
    server.shutdown().expect("shutdown");
}
