//! Throughput of the output encoders on classified, tagged and rated IP Reputation indicators: the
//! ThreatConnect batch object (serde_json of `Indicator`, which the ThreatConnect sink and the
//! JSONL file sink write) and the file sink's CSV row.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedpipe_pipeline::{Delivery, ItemState, Stage};
use feedpipe_sink_file::write_csv_row;
use feedpipe_stages::{ClassifyStage, RateConfig, RateStage, TagStage};

use common::{Corpus, RECORDS};

fn deliveries(corpus: &Corpus) -> Vec<Delivery> {
    let mut items = corpus.items();
    ClassifyStage::new().process(&mut items);
    TagStage::new().process(&mut items);
    RateStage::new(RateConfig::default())
        .expect("default rate configuration")
        .process(&mut items);
    items
        .into_iter()
        .filter_map(|item| match item.state {
            ItemState::Indicator(indicator) => Some(Delivery::new(item.record.origin, *indicator)),
            _ => None,
        })
        .collect()
}

fn encode(criterion: &mut Criterion) {
    let corpus = Corpus::new("IP Reputation", RECORDS);
    let deliveries = deliveries(&corpus);
    assert!(deliveries.len() as u64 > RECORDS * 9 / 10);
    let mut group = criterion.benchmark_group("encode");
    group.throughput(Throughput::Bytes(corpus.element_bytes()));

    let mut out = Vec::with_capacity(corpus.text.len());
    group.bench_function("threatconnect_json", |bencher| {
        bencher.iter(|| {
            out.clear();
            for delivery in &deliveries {
                serde_json::to_writer(&mut out, &delivery.indicator).unwrap();
                out.push(b'\n');
            }
        })
    });

    group.bench_function("csv", |bencher| {
        bencher.iter(|| {
            out.clear();
            let mut writer = csv::Writer::from_writer(&mut out);
            for delivery in &deliveries {
                write_csv_row(&mut writer, delivery).unwrap();
            }
            writer.flush().unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = encode
}
criterion_main!(benches);
