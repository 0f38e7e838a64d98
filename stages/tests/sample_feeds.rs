//! Runs classify, tag and rate over published Kaspersky sample records and checks the outcomes
//! the mapping rules demand. The samples live outside the repository, so the directory is taken
//! from `FEEDPIPE_PUBLIC_FEEDS`, else from a `shared/feeds` directory beside the crate or one of
//! its parents. The test is skipped with a message when there is none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{FeedCatalog, Indicator, IndicatorType, Item, ItemState, Record, Value};
use feedpipe_stages::{RateConfig, standard_stages};
use simd_json::prelude::*;

mod common;
use common::assert_no_field_lost;

/// Returns `FEEDPIPE_PUBLIC_FEEDS` when set, else the first `shared/feeds` directory found beside
/// the crate or one of its parent directories.
fn sample_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FEEDPIPE_PUBLIC_FEEDS") {
        return Some(PathBuf::from(dir)).filter(|dir| dir.is_dir());
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|ancestor| ancestor.join("shared").join("feeds"))
        .find(|dir| dir.is_dir())
}

/// Reads every `*.json` sample, detects its feed from the file name and runs the standard
/// stages over its records. Returns (file name, record, final state) triples.
fn run_samples(dir: &Path) -> Vec<(String, Value<'static>, ItemState)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("sample directory is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();

    let stages = standard_stages(RateConfig::default()).expect("default config is valid");
    let mut results = Vec::new();
    for path in paths {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let feed = FeedCatalog
            .detect(&file_name)
            .unwrap_or_else(|| panic!("no feed for {file_name}"));
        let mut bytes = std::fs::read(&path).expect("sample is readable");
        let document = simd_json::to_borrowed_value(&mut bytes)
            .expect("sample is valid JSON")
            .into_static();
        let Value::Array(records) = document else {
            panic!("{file_name} is not a JSON array");
        };

        let source: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let mut batch: Vec<Item<'_>> = records
            .iter()
            .map(|value| {
                Item::new(Record {
                    origin: Origin {
                        feed,
                        source: Arc::clone(&source),
                        offset: 0,
                        raw: Bytes::from(value.encode()),
                    },
                    value: value.clone(),
                })
            })
            .collect();
        for stage in &stages {
            stage.process(&mut batch);
        }
        for (record, item) in records.iter().zip(batch) {
            results.push((file_name.clone(), record.clone(), item.state));
        }
    }
    results
}

fn indicator<'a>(state: &'a ItemState, record: &Value) -> &'a Indicator {
    match state {
        ItemState::Indicator(indicator) => indicator,
        other => panic!("{}: expected an indicator, got {other:?}", record.encode()),
    }
}

fn attribute<'a>(indicator: &'a Indicator, attribute_type: &str) -> Option<&'a str> {
    indicator
        .attributes
        .iter()
        .find(|attribute| attribute.attribute_type == attribute_type)
        .map(|attribute| attribute.value.as_str())
}

#[test]
fn sample_records_follow_mapping_rules() {
    let Some(dir) = sample_dir() else {
        println!("Skipped: no sample feed directory; set FEEDPIPE_PUBLIC_FEEDS to run it.");
        return;
    };
    let results = run_samples(&dir);
    assert!(
        !results.is_empty(),
        "no sample records in {}",
        dir.display()
    );

    let mut ip_reputation = 0;
    let mut phishing = 0;
    for (file_name, record, state) in &results {
        if file_name.starts_with("IP_Reputation_Data_Feed") {
            check_ip_reputation(record, indicator(state, record));
            ip_reputation += 1;
        } else if file_name.starts_with("Phishing_URL_Data_Feed") {
            check_phishing(record, indicator(state, record));
            phishing += 1;
        }
    }
    println!("Checked {ip_reputation} IP Reputation and {phishing} Phishing URL records.");
}

fn check_ip_reputation(record: &Value, indicator: &Indicator) {
    let ip = record.get_str("ip").unwrap();
    let popularity = record.get_i64("popularity").unwrap();
    let threat_score = record.get_i64("threat_score").unwrap();

    assert_eq!(indicator.indicator_type, IndicatorType::Address, "{ip}");
    assert_eq!(indicator.summary, ip);
    assert_eq!(i64::from(indicator.rating), 6 - popularity, "{ip}");
    assert_eq!(i64::from(indicator.confidence), threat_score, "{ip}");

    let tags: Vec<&str> = indicator.tags.iter().map(|tag| tag.name.as_ref()).collect();
    let category = record.get_str("category").unwrap();
    assert_eq!(tags, ["Kaspersky", "IP_Reputation", category], "{ip}");

    assert!(indicator.first_seen.is_some(), "{ip}");
    assert_eq!(
        indicator.last_seen.is_some(),
        record.get("last_seen").is_some(),
        "{ip}"
    );
    assert_eq!(
        attribute(indicator, "Description"),
        Some(format!("Kaspersky IP Reputation: {category}").as_str())
    );
    let source = attribute(indicator, "Source").unwrap();
    assert!(
        source.ends_with("file IP_Reputation_Data_Feed_200516_1445.json"),
        "{source}"
    );
    assert_eq!(attribute(indicator, "IP Geo"), record.get_str("ip_geo"));
    assert_eq!(
        attribute(indicator, "Users Geo"),
        record.get_str("users_geo")
    );
    if let Some(whois) = record.get("ip_whois") {
        let rendered = attribute(indicator, "IP WhoIs").unwrap();
        let country = whois.get_str("country").unwrap();
        assert!(
            rendered.contains(&format!("country: {country}")),
            "{rendered}"
        );
    }
    assert_no_field_lost(record, indicator);
}

fn check_phishing(record: &Value, indicator: &Indicator) {
    assert_eq!(indicator.indicator_type, IndicatorType::Url);
    assert_eq!(
        indicator.summary,
        "http://abid-sh84.github.io/netflixclone/"
    );
    assert_eq!(indicator.rating, 5);
    assert_eq!(indicator.confidence, 100);
    assert_eq!(
        indicator.first_seen.as_deref(),
        Some("2024-05-19T08:32:00Z")
    );
    assert_eq!(indicator.last_seen, None);

    let tags: Vec<&str> = indicator.tags.iter().map(|tag| tag.name.as_ref()).collect();
    assert_eq!(tags, ["Kaspersky", "Phishing_URL", "E-shop"]);
    assert_eq!(
        attribute(indicator, "Kaspersky Mask"),
        Some("abid-sh84.github.io/netflixclone/*")
    );
    assert_eq!(
        attribute(indicator, "Kaspersky Record ID"),
        Some("107722881")
    );
    assert_eq!(attribute(indicator, "Kaspersky Mask Type"), Some("20"));
    let whois = attribute(indicator, "Whois").unwrap();
    assert!(
        whois.starts_with("domain: github.io\ncreated: 08.03.2013"),
        "{whois}"
    );
    assert!(whois.contains("org: GitHub, Inc."), "{whois}");
    assert_no_field_lost(record, indicator);
}
