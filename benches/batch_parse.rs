//! Micro-benchmark of reading and checking a batch file (`bank transfer --batch`): 10,000
//! lines — ten times the largest batch — of CSV with quoted memos, and of JSON Lines. Every
//! line goes through the wire contract's checks, as in the CLI.
//!
//!   cargo bench -p bank --bench batch_parse

use std::hint::black_box;
use std::time::Duration;

use bank::batch_file::{Rules, parse};
use bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: usize = 10_000;

fn csv() -> String {
    let mut text = String::from("to,amount,memo,currency\n");
    for i in 0..LINES {
        text.push_str(&format!(
            "payee{}.example,{}.{:02},\"invoice {i}, \"\"December\"\"\",USD\n",
            i % 700,
            i % 9000 + 1,
            i % 100
        ));
    }
    text
}

fn jsonl() -> String {
    let mut text = String::new();
    for i in 0..LINES {
        text.push_str(&format!(
            "{{\"to\":\"payee{}.example\",\"amount\":\"{}.{:02}\",\"memo\":\"invoice {i}, December\"}}\n",
            i % 700,
            i % 9000 + 1,
            i % 100
        ));
    }
    text
}

fn parsing(c: &mut Criterion) {
    let rules = Rules {
        default_currency: "USD",
        limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR,
        max_payments: LINES,
    };
    let mut group = c.benchmark_group("batch file, 10,000 lines");
    for (name, text) in [("csv", csv()), ("jsonl", jsonl())] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let file = parse(black_box(text.as_bytes()), None, &rules).expect("valid");
                black_box(file.batch.len())
            })
        });
    }
    group.finish();
    // What the confirmation adds: the canonical form's digest, for the reference.
    let file = parse(csv().as_bytes(), None, &rules).expect("valid");
    c.bench_function("batch of 10,000: reference", |b| {
        b.iter(|| black_box(file.batch.reference()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = parsing
}
criterion_main!(benches);
