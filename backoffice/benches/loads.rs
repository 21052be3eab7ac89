//! Load authorisations per second on the embedded ledger: one complete connected load per
//! iteration — the card's INITIALIZE LOAD (software card), `begin_load` (MAC1, checks,
//! reservation, MAC2), the card's CREDIT LOAD, `complete_load` (TAC, pending → float) — on a
//! WAL SQLite file with `synchronous=FULL`, so each of the two money transactions is durable.
//!
//! `cargo bench -p backoffice --bench loads`; criterion prints the time per load and the
//! throughput in loads per second ("elem/s").

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use apdu_spec::Purse;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::{Bench, SoftCard};

const AMOUNT: u32 = 100; // 1.00 per load

fn loads(c: &mut Criterion) {
    let mut bench = Bench::new();
    let customer = bench.customer("Bench", i64::MAX / 4, 0);
    let mut card: SoftCard = bench.issue(customer);

    let mut group = c.benchmark_group("backoffice");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("load begin+complete (SQLite WAL, synchronous=FULL)", |b| {
        b.iter(|| {
            // A card holds at most 1000.00 e-Cash and counts 65535 loads: take a fresh one.
            if card.ecash.balance + AMOUNT > 100_000 || card.ecash.load_counter >= 65_000 {
                card = bench.issue(customer);
            }
            card.load(&mut bench.bo, Purse::Ecash, AMOUNT, None)
                .expect("load");
        })
    });
    group.finish();

    let report = bench.bo.audit().expect("audit");
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    eprintln!(
        "after the bench: {} loads completed, audit clean",
        report.totals.loads_completed
    );
}

criterion_group!(benches, loads);
criterion_main!(benches);
