//! Batch throughput: sealing and verifying a 100 000-record batch (4.8 MB), the size of a busy
//! merchant's month. Criterion reports records per second (`Throughput::Elements`).
//!
//! Ids: `batch/seal_100k` (header + seal over the records), `batch/verify_100k` (parse the
//! bytes, check header against records, verify the seal) — what a settlement station or the
//! back office does before looking at any TAC.

use std::time::Duration;

use apdu_spec::{
    Amount, DateTime, Purse, RecordType, SamId, Serial, SettlementRecord, TransactionRecord,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sam::batch::{parse_batch, seal_batch, verify_seal};
use sam::Key16;

const RECORDS: usize = 100_000;

fn records(sam_id: SamId) -> Vec<SettlementRecord> {
    let datetime: DateTime = "2026-11-20T10:00:00".parse().expect("date-time");
    (0..RECORDS)
        .map(|i| {
            let n = i as u32;
            SettlementRecord {
                serial: Serial([0x45, 0x50, 0, 0, 0, 0, (n >> 8) as u8, n as u8]),
                record: TransactionRecord {
                    record_type: RecordType::Purchase,
                    purse: if i % 4 == 0 {
                        Purse::Food
                    } else {
                        Purse::Ecash
                    },
                    counter: (n % 60_000) as u16 + 1,
                    amount: Amount::new(100 + n % 10_000).expect("amount"),
                    balance: Amount::new(50_000).expect("amount"),
                    terminal: sam_id.0,
                    sam_seq: n + 1,
                    datetime,
                    mcc: "5411".parse().expect("mcc"),
                    flags: 0,
                },
                tac: [n as u8; 8],
            }
        })
        .collect()
}

fn batch(c: &mut Criterion) {
    let sam_id = SamId([0x53, 0x4D, 0, 0, 0, 1]);
    let key =
        Key16::from_bytes(*b"\xAE\x4F\xA8\xB0\x57\xC2\x2F\xE3\xFD\x85\x83\x5D\xDC\x70\xD6\x92");
    let datetime: DateTime = "2026-11-20T22:00:00".parse().expect("date-time");
    let records = records(sam_id);
    let sealed = seal_batch(&key, sam_id, 1, datetime, records.clone()).expect("seal 100k records");
    let bytes = sealed.to_bytes();

    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(RECORDS as u64));

    group.bench_function("seal_100k", |b| {
        b.iter_batched(
            || records.clone(),
            |records| seal_batch(&key, sam_id, 1, datetime, black_box(records)).expect("seal"),
            criterion::BatchSize::LargeInput,
        )
    });
    group.bench_function("verify_100k", |b| {
        b.iter(|| {
            let batch = parse_batch(black_box(&bytes)).expect("parse");
            verify_seal(&key, &batch).expect("seal verifies");
            batch.records.len()
        })
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
