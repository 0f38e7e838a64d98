//! Throughput of each stage over batches of generated records: IP Reputation (addresses), a
//! URL feed (mask classification) and a hash feed.

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedpipe_pipeline::{Item, Stage};
use feedpipe_stages::{ClassifyStage, RateConfig, RateStage, TagStage};

use common::{Corpus, RECORDS};

/// Records per `process` call, the runner's default batch size.
const BATCH_RECORDS: usize = 1024;

const FEEDS: [(&str, &str); 3] = [
    ("ip_reputation", "IP Reputation"),
    ("malicious_url", "Malicious URL"),
    ("malicious_hash", "Malicious Hash"),
];

fn run_stage(stage: &dyn Stage, items: &mut [Item]) {
    for batch in items.chunks_mut(BATCH_RECORDS) {
        stage.process(batch);
    }
}

fn classify(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("classify");
    let stage = ClassifyStage::new();
    for (label, feed) in FEEDS {
        let corpus = Corpus::new(feed, RECORDS);
        group.throughput(Throughput::Bytes(corpus.element_bytes()));
        group.bench_function(label, |bencher| {
            bencher.iter_batched_ref(
                || corpus.items(),
                |items| run_stage(&stage, items),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn tag(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("tag");
    let classify = ClassifyStage::new();
    let stage = TagStage::new();
    for (label, feed) in FEEDS {
        let corpus = Corpus::new(feed, RECORDS);
        group.throughput(Throughput::Bytes(corpus.element_bytes()));
        group.bench_function(label, |bencher| {
            bencher.iter_batched_ref(
                || {
                    let mut items = corpus.items();
                    run_stage(&classify, &mut items);
                    items
                },
                |items| run_stage(&stage, items),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn rate(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("rate");
    let classify = ClassifyStage::new();
    let tag = TagStage::new();
    let stage = RateStage::new(RateConfig::default()).expect("default rate configuration");
    for (label, feed) in FEEDS {
        let corpus = Corpus::new(feed, RECORDS);
        group.throughput(Throughput::Bytes(corpus.element_bytes()));
        group.bench_function(label, |bencher| {
            bencher.iter_batched_ref(
                || {
                    let mut items = corpus.items();
                    run_stage(&classify, &mut items);
                    run_stage(&tag, &mut items);
                    items
                },
                |items| run_stage(&stage, items),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = classify, tag, rate
}
criterion_main!(benches);
