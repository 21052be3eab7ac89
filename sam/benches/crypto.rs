//! Throughput of the 3DES core: `scripts/bench-crypto` runs this and compares the raw block
//! rate with OpenSSL's.
//!
//! Group/bench ids are read by that script from `target/criterion/.../estimates.json`:
//! `crypto/retail_mac_32B`, `crypto/diversify`, `crypto/tdes_block`.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sam::crypto::{diversify, encrypt_block, retail_mac_m2, Key16};

fn crypto(c: &mut Criterion) {
    let key =
        Key16::from_bytes(*b"\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10");
    let mut group = c.benchmark_group("crypto");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));

    let message = [0x5Au8; 32];
    group.bench_function("retail_mac_32B", |b| {
        b.iter(|| retail_mac_m2(&key, black_box(&message)))
    });

    let diversifier = [0x00, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78];
    group.bench_function("diversify", |b| {
        b.iter(|| diversify(&key, black_box(&diversifier)))
    });

    let mut block = [0u8; 8];
    group.bench_function("tdes_block", |b| {
        b.iter(|| {
            block = encrypt_block(&key, black_box(block));
            block
        })
    });
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
