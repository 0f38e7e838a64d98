//! Runs the sample feeds in `examples/feeds/` through the real source, splitter and parser, then
//! classify, tag and rate, and checks every record against the outcome `examples/README.md`
//! documents for it: indicator type, summary, rating, confidence and tags, or the reject code.
//! Each file is checked on its own, so feed precedence (a runner concern) plays no part. Every
//! delivered record is also checked for fields that no part of its indicator keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use feedpipe_pipeline::parser::Parser;
use feedpipe_pipeline::source::{FeedSource, resolve};
use feedpipe_pipeline::splitter::{Splitter, SplitterConfig};
use feedpipe_pipeline::{Item, ItemState};
use feedpipe_stages::{RateConfig, standard_stages};

mod common;
use common::assert_no_field_lost;

/// Threat rating and confidence the README calls `default`: the `RateConfig` defaults.
const DEFAULT_RATING: u8 = 3;
const DEFAULT_CONFIDENCE: u8 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Indicator {
        indicator_type: String,
        summary: String,
        rating: u8,
        confidence: u8,
        /// Tags after the feed's fixed tags.
        tags: Vec<String>,
    },
    Rejected(String),
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Parses the per-record expectations: `### `file`` headings followed by numbered lines.
fn documented_outcomes(readme: &str) -> BTreeMap<String, Vec<Outcome>> {
    let section = readme
        .split_once("## Expected outcome per record")
        .expect("README has the per-record section")
        .1;
    let section = section.split("\n## ").next().unwrap_or(section);

    let mut outcomes: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = Some(heading.trim_matches('`').to_owned());
            continue;
        }
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let file = current.clone().expect("record line under a file heading");
        let records = outcomes.entry(file).or_default();
        assert_eq!(
            records.len() + 1,
            number.parse::<usize>().unwrap(),
            "{line}"
        );
        records.push(parse_outcome(rest));
    }
    outcomes
}

fn parse_outcome(line: &str) -> Outcome {
    if let Some(rest) = line.strip_prefix("rejected `") {
        let code = rest.split('`').next().unwrap();
        return Outcome::Rejected(code.to_owned());
    }

    let (indicator_type, rest) = line.split_once(" `").expect("type then summary");
    let (summary, rest) = rest.split_once('`').expect("closing backtick");
    let head = rest.split("; ").next().unwrap();
    let mut rating = None;
    let mut confidence = None;
    let mut tags = Vec::new();
    for part in head.trim_start_matches(", ").split(", ") {
        if let Some(value) = part.strip_prefix("rating ") {
            rating = Some(value.parse().unwrap_or(DEFAULT_RATING));
        } else if let Some(value) = part.strip_prefix("confidence ") {
            confidence = Some(value.parse().unwrap_or(DEFAULT_CONFIDENCE));
        }
    }
    if let Some((_, listed)) = head.split_once(", tags ") {
        tags = listed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
    }
    Outcome::Indicator {
        indicator_type: indicator_type.to_owned(),
        summary: summary.to_owned(),
        rating: rating.unwrap_or_else(|| panic!("no rating in {line}")),
        confidence: confidence.unwrap_or_else(|| panic!("no confidence in {line}")),
        tags,
    }
}

fn run_source(source: &FeedSource) -> Vec<Item<'static>> {
    let config = SplitterConfig::default();
    let frames = source
        .with_reader(|reader| {
            let mut splitter = Splitter::new(reader, config);
            let mut frames = Vec::new();
            while let Some(frame) = splitter.next_frame().expect("sample frames are valid") {
                frames.push(frame);
            }
            frames
        })
        .expect("sample source opens");
    let mut parser = Parser::new();
    let mut items: Vec<Item<'static>> = parser
        .parse_batch(frames, source.feed, &source.name, config.max_element_bytes)
        .into_iter()
        .map(Item::into_static)
        .collect();

    for stage in standard_stages(RateConfig::default()).unwrap() {
        stage.process(&mut items);
    }
    items
}

fn produced_outcome(item: &Item<'_>) -> Outcome {
    match &item.state {
        ItemState::Indicator(indicator) => {
            let fixed = item.record.origin.feed.tags.len();
            Outcome::Indicator {
                indicator_type: indicator.indicator_type.to_string(),
                summary: indicator.summary.clone(),
                rating: indicator.rating,
                confidence: indicator.confidence,
                tags: indicator.tags[fixed..]
                    .iter()
                    .map(|tag| tag.name.to_string())
                    .collect(),
            }
        }
        ItemState::Rejected(reject) => Outcome::Rejected(reject.code.clone()),
        other => panic!("unexpected state {other:?}"),
    }
}

#[test]
fn example_records_match_documented_outcomes() {
    let dir = examples_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("examples README");
    let documented = documented_outcomes(&readme);
    let sources = resolve(&[dir.join("feeds")], None).expect("sample directory resolves");
    assert_eq!(sources.len(), documented.len());

    let mut checked = 0;
    let mut mismatches = Vec::new();
    for source in &sources {
        // A zip source is named `archive.zip:entry.json`; the README names the archive.
        let path = match source.name.find(".zip:") {
            Some(at) => &source.name[..at + ".zip".len()],
            None => &source.name,
        };
        let file = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let expected = documented
            .get(&file)
            .unwrap_or_else(|| panic!("{file} is not documented"));

        let items = run_source(source);
        assert_eq!(items.len(), expected.len(), "record count of {file}");
        for (index, (item, expected)) in items.iter().zip(expected).enumerate() {
            let record = index + 1;
            let produced = produced_outcome(item);
            if let ItemState::Indicator(indicator) = &item.state {
                assert_no_field_lost(&item.record.value, indicator);
            }
            if produced != *expected {
                mismatches.push(format!(
                    "{file} record {record}:\n  documented {expected:?}\n  produced   {produced:?}"
                ));
            }
            checked += 1;
        }
    }

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(checked, 184);
}
