//! Throughput of the array splitter and the simd-json element parser on a generated IP
//! Reputation feed.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedpipe_pipeline::parser::Parser;
use feedpipe_pipeline::splitter::{Splitter, SplitterConfig};

use common::{Corpus, RECORDS};

fn split(criterion: &mut Criterion) {
    let corpus = Corpus::new("IP Reputation", RECORDS);
    let mut group = criterion.benchmark_group("split");
    group.throughput(Throughput::Bytes(corpus.text.len() as u64));
    group.bench_function("ip_reputation", |bencher| {
        bencher.iter(|| {
            let mut splitter = Splitter::new(&corpus.text[..], SplitterConfig::default());
            let mut frames = 0u64;
            while let Some(frame) = splitter.next_frame().unwrap() {
                black_box(&frame);
                frames += 1;
            }
            assert_eq!(frames, RECORDS);
        })
    });
    group.finish();
}

fn parse(criterion: &mut Criterion) {
    let corpus = Corpus::new("IP Reputation", RECORDS);
    let mut group = criterion.benchmark_group("parse");
    group.throughput(Throughput::Bytes(corpus.element_bytes()));
    let mut parser = Parser::new();
    group.bench_function("ip_reputation", |bencher| {
        bencher.iter(|| {
            for (_, bytes) in &corpus.frames {
                black_box(parser.parse(bytes).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = split, parse
}
criterion_main!(benches);
