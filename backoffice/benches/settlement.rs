//! Settlement verification of a 100 000-record batch at the back office: parse, seal, every
//! TAC under the card's `K_TAC`, duplicate checks per (card, counter) and per (SAM, sequence),
//! float checks, the crediting transfer and one row per record — one durable SQLite commit.
//!
//! Set-up (not measured): 100 cards issued and loaded, each with 1 000 purchases of 0.01 made
//! by one SAM, sealed into one batch; the ledger file is copied fresh for every iteration, so
//! each upload is a first settlement (not a replay).
//!
//! Besides criterion's records/s (`settlement/verify_100k`), the bench prints the raw 3DES
//! block rate measured here the same way as `sam`'s `crypto/tdes_block`, and the ratio of the
//! two: each record costs two TAC 3DES derivations per new card plus a 6-block retail MAC.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use apdu_spec::{
    tac_input, Date, DateTime, Mcc, Purse, RecordType, Serial, SettlementRecord, TransactionRecord,
};
use backoffice::settlement::{SamIssueRequest, UploadOutcome};
use backoffice::{Backoffice, Config};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sam::KeyName;
use support::*;

const CARDS: usize = 100;
const PER_CARD: usize = 1_000;
const RECORDS: usize = CARDS * PER_CARD;

fn tdes_blocks_per_second() -> f64 {
    let key = sam::Key16::from_bytes(
        *b"\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10",
    );
    let mut block = [0u8; 8];
    let n = 2_000_000u32;
    let start = Instant::now();
    for _ in 0..n {
        block = sam::encrypt_block(&key, black_box(block));
    }
    black_box(block);
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn settlement(c: &mut Criterion) {
    let mut bench = Bench::new();
    let keys = master_keys();
    let file = bench
        .bo
        .sam_issue(&SamIssueRequest {
            merchant_id: "M-BENCH".into(),
            merchant_name: "Bench Mart".into(),
            mcc: Mcc::new(5411).expect("mcc"),
            food: true,
        })
        .expect("SAM issue");
    let sam_id = file.profile().sam_id;
    let datetime = DateTime::new(Date::new(2026, 3, 15).expect("date"), 12, 0, 0).expect("dt");
    let mut records = Vec::with_capacity(RECORDS);
    let mut seq = 0u32;
    for i in 0..CARDS {
        let customer = bench.customer(&format!("C{i}"), 50_000, 0);
        let mut card = bench.issue(customer);
        card.load(&mut bench.bo, Purse::Ecash, 50_000, None)
            .expect("load");
        let k_tac = sam::diversify(keys.get(KeyName::Tac), &card.serial.0);
        let mut balance = 50_000u32;
        for counter in 1..=PER_CARD as u16 {
            balance -= 1;
            seq += 1;
            let record = TransactionRecord {
                record_type: RecordType::Purchase,
                purse: Purse::Ecash,
                counter,
                amount: amount(1),
                balance: amount(balance),
                terminal: sam_id.0,
                sam_seq: seq,
                datetime,
                mcc: file.profile().mcc,
                flags: 0,
            };
            records.push(SettlementRecord {
                serial: card.serial,
                record,
                tac: sam::retail_mac_m2(&k_tac, &tac_input(&card.serial, &record)),
            });
        }
    }
    // Interleave the cards as a real day would (still in SAM sequence order after re-sequencing).
    records.sort_by_key(|r| (r.record.counter, r.serial.0));
    for (i, r) in records.iter_mut().enumerate() {
        let serial: Serial = r.serial;
        r.record.sam_seq = i as u32 + 1;
        let k_tac = sam::diversify(keys.get(KeyName::Tac), &serial.0);
        r.tac = sam::retail_mac_m2(&k_tac, &tac_input(&serial, &r.record));
    }
    let batch =
        sam::batch::seal_batch(file.settlement_key(), sam_id, 1, datetime, records).expect("seal");
    let bytes = batch.to_bytes();
    let template = bench.path();
    drop(bench.bo);
    let xserial = Serial([0x58, 0x46, 0, 0, 0, 0, 0, 1]);

    // One untimed run to report the outcome and check it settles everything.
    let run_once = |dir: &tempfile::TempDir| -> (Backoffice, Duration) {
        let path = dir.path().join("ledger.db");
        std::fs::copy(&template, &path).expect("copy ledger");
        let bo = Backoffice::open_with_clock(
            &path,
            bench.ism.clone(),
            &Config::default(),
            bench.clock.clone(),
        )
        .expect("open copy");
        (bo, Duration::ZERO)
    };
    {
        let dir = tempfile::tempdir().expect("dir");
        let (mut bo, _) = run_once(&dir);
        let start = Instant::now();
        match bo.upload_batch(&bytes, xserial).expect("upload") {
            UploadOutcome::Settled(s) => {
                assert_eq!(s.accepted as usize, RECORDS, "every record accepted");
                let secs = start.elapsed().as_secs_f64();
                let rate = RECORDS as f64 / secs;
                let tdes = tdes_blocks_per_second();
                println!(
                    "settlement of {RECORDS} records: {secs:.2} s, {rate:.0} records/s; 3DES {tdes:.0} blocks/s; ratio records/s ÷ 3DES blocks/s = {:.4} ({:.1} block-equivalents per record)",
                    rate / tdes,
                    tdes / rate
                );
            }
            UploadOutcome::Rejected(r) => panic!("batch refused: {r}"),
        }
        assert!(bo.audit().expect("audit").is_clean());
    }

    let mut group = c.benchmark_group("settlement");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("verify_100k", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("dir");
                let (bo, _) = run_once(&dir);
                (dir, bo)
            },
            |(dir, mut bo)| {
                let outcome = bo.upload_batch(black_box(&bytes), xserial).expect("upload");
                black_box(outcome);
                (dir, bo)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, settlement);
criterion_main!(benches);
