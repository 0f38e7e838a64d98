//! The rate stage: sets each indicator's threat rating, confidence, first and last seen, and
//! turns the rest of the record into attributes. It keeps one invariant: every non-null field of
//! the record ends up somewhere, either in the summary (the key field), the rating or
//! confidence it set, a parsed date, or an attribute (cut to `max_attribute_length` with a
//! visible marker).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use feedpipe_pipeline::Object;
use feedpipe_pipeline::Value;
use feedpipe_pipeline::indicator::SecurityLabel;
use feedpipe_pipeline::{FeedSpec, Indicator, Item, ItemState, Record, Stage};
use simd_json::prelude::*;

use crate::config::{RateConfig, RateConfigError, ResolvedConfig};
use crate::dates::parse_feed_date;
use crate::fields::{message_text, ordered_entries, whole_number};
use crate::hash::HASH_FIELDS;
use crate::key::{KeySource, key_source};
use crate::render::render_value;
use crate::tag::for_each_scalar;
use crate::text::{trim, truncate_with_marker};

/// Sets rating, confidence, dates and attributes on `Indicator` items.
#[derive(Debug)]
pub struct RateStage {
    config: ResolvedConfig,
    default_rating: AtomicU64,
    invalid_severity: AtomicU64,
    invalid_threat_score: AtomicU64,
    unparsable_date: AtomicU64,
    truncated_attribute: AtomicU64,
}

/// Event counts of one batch, added to the stage's atomics once per batch.
#[derive(Default)]
struct BatchCounts {
    default_rating: u64,
    invalid_severity: u64,
    invalid_threat_score: u64,
    unparsable_date: u64,
    truncated_attribute: u64,
}

/// Record fields the stage has already turned into rating, confidence or dates, which are
/// therefore not repeated as attributes.
#[derive(Default)]
struct Consumed {
    popularity: bool,
    threat_score: bool,
    first_seen: bool,
    last_seen: bool,
}

/// The record fields the stage reads by name, found in one pass over the record instead of one
/// search per name. A field is `None` when it is missing or `null`, as [`field`](crate::fields::field) reads it.
#[derive(Default)]
struct KnownFields<'a> {
    severity: Option<&'a Value<'a>>,
    popularity: Option<&'a Value<'a>>,
    threat_score: Option<&'a Value<'a>>,
    first_seen: Option<&'a Value<'a>>,
    last_seen: Option<&'a Value<'a>>,
    category: Option<&'a Value<'a>>,
    threat: Option<&'a Value<'a>>,
    industry: Option<&'a Value<'a>>,
}

impl<'a> KnownFields<'a> {
    fn read(object: &'a Object<'a>) -> Self {
        let mut known = KnownFields::default();
        for (key, value) in object.iter() {
            let slot = match key.as_ref() {
                "severity" => &mut known.severity,
                "popularity" => &mut known.popularity,
                "threat_score" => &mut known.threat_score,
                "first_seen" => &mut known.first_seen,
                "last_seen" => &mut known.last_seen,
                "category" => &mut known.category,
                "threat" => &mut known.threat,
                "industry" => &mut known.industry,
                _ => continue,
            };
            *slot = Some(value).filter(|value| !value.is_null());
        }
        known
    }
}

impl RateStage {
    /// Creates the stage after checking `config`.
    pub fn new(config: RateConfig) -> Result<Self, RateConfigError> {
        Ok(RateStage {
            config: config.resolve()?,
            default_rating: AtomicU64::new(0),
            invalid_severity: AtomicU64::new(0),
            invalid_threat_score: AtomicU64::new(0),
            unparsable_date: AtomicU64::new(0),
            truncated_attribute: AtomicU64::new(0),
        })
    }

    fn rate(
        &self,
        record: &Record,
        source_text: &str,
        indicator: &mut Indicator,
        counts: &mut BatchCounts,
    ) {
        let feed = record.origin.feed;
        let Value::Object(object) = &record.value else {
            // Classify only lets objects through; this keeps the stage total.
            indicator.rating = self.config.config.default_rating;
            indicator.confidence = self.config.default_confidence(feed);
            return;
        };

        let known = KnownFields::read(object);
        let mut consumed = Consumed::default();
        self.set_rating(&known, indicator, &mut consumed, counts);
        self.set_confidence(feed, &known, indicator, &mut consumed, counts);
        indicator.first_seen = seen_date(known.first_seen, &mut consumed.first_seen, counts);
        indicator.last_seen = seen_date(known.last_seen, &mut consumed.last_seen, counts);

        let config = &self.config.config;
        let types = self.config.types;
        for label in &config.security_labels {
            indicator.security_labels.push(SecurityLabel {
                name: label.clone(),
            });
        }
        let text = description(feed, &known);
        self.add_attribute(indicator, counts, types.description, text);
        let text = source_text.to_owned();
        self.add_attribute(indicator, counts, types.source, text);
        self.add_context(feed, object, &consumed, indicator, counts);
    }

    /// Sets the rating from a valid `severity`, else 6 − `popularity`, else the configured default.
    fn set_rating(
        &self,
        known: &KnownFields<'_>,
        indicator: &mut Indicator,
        consumed: &mut Consumed,
        counts: &mut BatchCounts,
    ) {
        let severity = known.severity;
        let from_severity = severity.and_then(severity_rating);
        if severity.is_some() && from_severity.is_none() {
            counts.invalid_severity += 1;
        }
        if let Some(rating) = from_severity {
            indicator.rating = rating;
            return;
        }

        let popularity = known
            .popularity
            .and_then(whole_number)
            .filter(|popularity| (1..=5).contains(popularity));
        match popularity {
            Some(popularity) => {
                indicator.rating = u8::try_from(6 - popularity).unwrap_or(0);
                consumed.popularity = true;
            }
            None => {
                indicator.rating = self.config.config.default_rating;
                counts.default_rating += 1;
            }
        }
    }

    /// Sets the confidence from a `threat_score` of 0 to 100, else the feed's configured default.
    fn set_confidence(
        &self,
        feed: &FeedSpec,
        known: &KnownFields<'_>,
        indicator: &mut Indicator,
        consumed: &mut Consumed,
        counts: &mut BatchCounts,
    ) {
        indicator.confidence = self.config.default_confidence(feed);
        let Some(value) = known.threat_score else {
            return;
        };

        let score = score_number(value)
            .filter(|score| (0..=100).contains(score))
            .and_then(|score| u8::try_from(score).ok());
        match score {
            Some(score) => {
                indicator.confidence = score;
                consumed.threat_score = true;
            }
            None => counts.invalid_threat_score += 1,
        }
    }

    /// Adds one attribute per remaining record field, in record order.
    fn add_context(
        &self,
        feed: &FeedSpec,
        object: &Object,
        consumed: &Consumed,
        indicator: &mut Indicator,
        counts: &mut BatchCounts,
    ) {
        let types = self.config.types;
        let key = key_source(feed, object);

        for (name, value) in ordered_entries(object) {
            if value.is_null() || is_summary_field(key, name) {
                continue;
            }
            let skip = match name {
                "popularity" => consumed.popularity,
                "threat_score" => consumed.threat_score,
                "first_seen" => consumed.first_seen,
                "last_seen" => consumed.last_seen,
                _ => false,
            };
            if skip {
                continue;
            }

            let is_mask = matches!(key, KeySource::Mask(mask) if mask == name);
            let special_type = match name {
                _ if is_mask => Some(types.mask),
                "first_seen" => Some(types.first_seen),
                "last_seen" => Some(types.last_seen),
                _ => None,
            };
            if let Some(attribute_type) = special_type {
                let original = message_text(value);
                if !trim(&original).is_empty() {
                    self.add_attribute(indicator, counts, attribute_type, original.into_owned());
                }
                continue;
            }

            let Some(rendered) = render_value(value) else {
                continue;
            };
            match self.config.attribute_types.get(name) {
                Some(attribute_type) => {
                    self.add_attribute(indicator, counts, attribute_type, rendered)
                }
                None => {
                    let separator = if rendered.contains('\n') { ":\n" } else { ": " };
                    let text = format!("{name}{separator}{rendered}");
                    self.add_attribute(indicator, counts, types.fallback, text);
                }
            }
        }
    }

    fn add_attribute(
        &self,
        indicator: &mut Indicator,
        counts: &mut BatchCounts,
        attribute_type: &'static str,
        value: String,
    ) {
        match truncate_with_marker(&value, self.config.config.max_attribute_length) {
            Some(cut) => {
                counts.truncated_attribute += 1;
                indicator.add_attribute(attribute_type, cut);
            }
            None => indicator.add_attribute(attribute_type, value),
        }
    }
}

impl Stage for RateStage {
    fn name(&self) -> &'static str {
        "rate"
    }

    fn process(&self, batch: &mut [Item]) {
        let mut counts = BatchCounts::default();
        // A batch nearly always comes from one source, so its Source text is built once.
        let mut cached: Option<(&FeedSpec, std::sync::Arc<str>, String)> = None;
        for item in batch.iter_mut() {
            if let ItemState::Indicator(indicator) = &mut item.state {
                let origin = &item.record.origin;
                let fresh = cached.as_ref().is_none_or(|(feed, name, _)| {
                    !std::ptr::eq(*feed, origin.feed) || **name != *origin.source
                });
                if fresh {
                    let text = source(origin.feed, &origin.source);
                    cached = Some((origin.feed, origin.source.clone(), text));
                }
                let source_text = cached.as_ref().map_or("", |(_, _, text)| text.as_str());
                self.rate(&item.record, source_text, indicator, &mut counts);
            }
        }

        let add = |counter: &AtomicU64, count: u64| {
            if count > 0 {
                counter.fetch_add(count, Ordering::Relaxed);
            }
        };
        add(&self.default_rating, counts.default_rating);
        add(&self.invalid_severity, counts.invalid_severity);
        add(&self.invalid_threat_score, counts.invalid_threat_score);
        add(&self.unparsable_date, counts.unparsable_date);
        add(&self.truncated_attribute, counts.truncated_attribute);
    }

    fn counters(&self) -> Vec<(String, u64)> {
        [
            ("default_rating", &self.default_rating),
            ("invalid_severity", &self.invalid_severity),
            ("invalid_threat_score", &self.invalid_threat_score),
            ("unparsable_date", &self.unparsable_date),
            ("truncated_attribute", &self.truncated_attribute),
        ]
        .into_iter()
        .map(|(name, counter)| (name.to_owned(), counter.load(Ordering::Relaxed)))
        .collect()
    }
}

/// Reads a `threat_score`: a whole number, or a fractional one (a number or a numeric string)
/// rounded to the nearest whole score, because ThreatConnect's confidence is an integer.
fn score_number(value: &Value) -> Option<i64> {
    if let Some(score) = whole_number(value) {
        return Some(score);
    }
    let number = match value.as_str() {
        Some(text) => text.trim().parse::<f64>().ok()?,
        None => value.as_f64()?,
    };
    (number.is_finite() && number.abs() < 1.0e6).then(|| number.round() as i64)
}

/// Maps a severity name (any case) to its threat rating, as Kaspersky's ThreatConnect app does:
/// Low 1, Medium 2, Warning 3, High 4, Critical 5.
fn severity_rating(value: &Value) -> Option<u8> {
    let name = value.as_str()?.trim().to_ascii_lowercase();
    match name.as_str() {
        "low" => Some(1),
        "medium" => Some(2),
        "warning" => Some(3),
        "high" => Some(4),
        "critical" => Some(5),
        _ => None,
    }
}

/// Parses a `first_seen` or `last_seen` field. Sets `consumed` when the date parsed, and counts
/// a present field that did not, whose original text then becomes an attribute. A blank string
/// counts as absent.
fn seen_date(
    value: Option<&Value>,
    consumed: &mut bool,
    counts: &mut BatchCounts,
) -> Option<String> {
    let value = value?;
    if value.as_str().is_some_and(|text| trim(text).is_empty()) {
        return None;
    }
    let parsed = value.as_str().and_then(parse_feed_date);
    *consumed = parsed.is_some();
    if parsed.is_none() {
        counts.unparsable_date += 1;
    }
    parsed
}

/// Checks whether `name` is a key field whose value is the indicator summary itself.
fn is_summary_field(key: KeySource, name: &str) -> bool {
    match key {
        KeySource::Ip => name == "ip",
        KeySource::Hashes => HASH_FIELDS.iter().any(|(hash, _)| *hash == name),
        KeySource::Mask(_) => false,
    }
}

/// Builds the Description text: the feed name, then the record's category, threat and industry,
/// each value once.
fn description(feed: &FeedSpec, known: &KnownFields<'_>) -> String {
    /// Number of parts whose places are kept on the stack. Later parts go to a vector.
    const INLINE_PARTS: usize = 6;

    let mut text = String::with_capacity(64);
    text.push_str("Kaspersky ");
    text.push_str(feed.name);
    // Where each part written so far lies in `text`, to leave out repeated values.
    let mut inline = [(0, 0); INLINE_PARTS];
    let mut spilled: Vec<(usize, usize)> = Vec::new();
    let mut count = 0;
    let fields = [
        (known.category, ""),
        (known.threat, ""),
        (known.industry, "industry "),
    ];
    for (value, prefix) in fields {
        let Some(value) = value else {
            continue;
        };
        for_each_scalar(value, &mut |value| {
            let trimmed = trim(&value);
            if trimmed.is_empty() {
                return;
            }
            let mut parts = inline[..count.min(INLINE_PARTS)].iter().chain(&spilled);
            if parts.any(|&(start, end)| same_text(&text[start..end], prefix, trimmed)) {
                return;
            }
            text.push_str(if count == 0 { ": " } else { ", " });
            let start = text.len();
            text.push_str(prefix);
            text.push_str(trimmed);
            match inline.get_mut(count) {
                Some(place) => *place = (start, text.len()),
                None => spilled.push((start, text.len())),
            }
            count += 1;
        });
    }
    text
}

/// Checks whether `written` is `prefix` followed by `value`.
fn same_text(written: &str, prefix: &str, value: &str) -> bool {
    written.len() == prefix.len() + value.len()
        && written.starts_with(prefix)
        && written.ends_with(value)
}

/// Builds the Source text: the feed, its Kaspersky feed ID where one is published, and the name
/// of the file the record came from.
fn source(feed: &FeedSpec, source: &str) -> String {
    let file = if source == "-" {
        "standard input".to_owned()
    } else {
        Path::new(source).file_name().map_or_else(
            || source.to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    };
    match feed.id {
        Some(id) => format!(
            "Kaspersky {} Data Feed (feed ID {id}), file {file}",
            feed.name
        ),
        None => format!("Kaspersky {} Data Feed, file {file}", feed.name),
    }
}

#[cfg(test)]
mod tests {
    use feedpipe_pipeline::IndicatorType;

    use super::*;
    use crate::testing::item;
    use crate::text::TRUNCATION_MARKER;

    fn rate_with(config: RateConfig, feed: &str, json: &str) -> (Indicator, Vec<(String, u64)>) {
        let stage = RateStage::new(config).unwrap();
        let mut record = item(feed, json);
        record.state = ItemState::Indicator(Box::new(Indicator::new(
            IndicatorType::Address,
            "192.0.2.1",
        )));
        let mut batch = [record];
        stage.process(&mut batch);
        let counters = stage.counters();
        let [only] = batch;
        match only.state {
            ItemState::Indicator(indicator) => (*indicator, counters),
            other => panic!("expected an indicator, got {other:?}"),
        }
    }

    fn rate(feed: &str, json: &str) -> Indicator {
        rate_with(RateConfig::default(), feed, json).0
    }

    fn counter(counters: &[(String, u64)], name: &str) -> u64 {
        counters
            .iter()
            .find(|(counter, _)| counter == name)
            .map(|(_, count)| *count)
            .unwrap_or_else(|| panic!("no counter {name}"))
    }

    fn attribute<'a>(indicator: &'a Indicator, attribute_type: &str) -> Option<&'a str> {
        indicator
            .attributes
            .iter()
            .find(|attribute| attribute.attribute_type == attribute_type)
            .map(|attribute| attribute.value.as_str())
    }

    #[test]
    fn known_fields_read_as_field_does() {
        let value = crate::fields::parse(
            r#"{"popularity": null, "popularity": 2, "threat_score": 7, "threat_score": 9,
                "category": ["a", "b"], "severity": "high", "first_seen": "x", "ip": "1.2.3.4"}"#,
        );
        let object = value.as_object().unwrap();
        let known = KnownFields::read(object);
        for (name, read) in [
            ("popularity", known.popularity),
            ("threat_score", known.threat_score),
            ("category", known.category),
            ("severity", known.severity),
            ("first_seen", known.first_seen),
            ("last_seen", known.last_seen),
            ("threat", known.threat),
            ("industry", known.industry),
        ] {
            assert_eq!(read, crate::fields::field(object, name), "{name}");
        }
        // The parser keeps the last of duplicate keys.
        assert_eq!(known.threat_score.and_then(|score| score.as_u64()), Some(9));
        assert_eq!(known.popularity.and_then(|score| score.as_u64()), Some(2));
    }

    #[test]
    fn rating_from_popularity() {
        for (popularity, rating) in [("1", 5), ("2", 4), ("3", 3), ("4", 2), ("5", 1)] {
            let json = format!(r#"{{"ip": "1.2.3.4", "popularity": {popularity}}}"#);
            let indicator = rate("IP Reputation", &json);
            assert_eq!(indicator.rating, rating, "popularity {popularity}");
            assert_eq!(attribute(&indicator, "Popularity"), None);
        }
    }

    #[test]
    fn popularity_as_digit_string() {
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "popularity": "3"}"#);
        assert_eq!(indicator.rating, 3);
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "popularity": "1"}"#);
        assert_eq!(indicator.rating, 5);
    }

    #[test]
    fn invalid_popularity_gives_default_rating() {
        let config = RateConfig {
            default_rating: 2,
            ..RateConfig::default()
        };
        for popularity in ["0", "6", "-1", r#""high""#, r#""""#, "2.5", "[1]"] {
            let json = format!(r#"{{"ip": "1.2.3.4", "popularity": {popularity}}}"#);
            let (indicator, counters) = rate_with(config.clone(), "IP Reputation", &json);
            assert_eq!(indicator.rating, 2, "popularity {popularity}");
            assert_eq!(counter(&counters, "default_rating"), 1, "{popularity}");
        }
    }

    #[test]
    fn invalid_popularity_is_kept_as_attribute() {
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "popularity": 0}"#);
        assert_eq!(attribute(&indicator, "Popularity"), Some("0"));
    }

    #[test]
    fn missing_popularity_gives_default_rating() {
        let (indicator, counters) =
            rate_with(RateConfig::default(), "APT IP", r#"{"ip": "1.2.3.4"}"#);
        assert_eq!(indicator.rating, 3);
        assert_eq!(counter(&counters, "default_rating"), 1);
    }

    #[test]
    fn severity_takes_precedence() {
        for (severity, rating) in [
            ("Low", 1),
            ("medium", 2),
            ("WARNING", 3),
            ("High", 4),
            (" critical ", 5),
        ] {
            let json = format!(r#"{{"MD5": "x", "severity": "{severity}", "popularity": 5}}"#);
            let (indicator, counters) = rate_with(RateConfig::default(), "Vulnerability", &json);
            assert_eq!(indicator.rating, rating, "{severity}");
            assert_eq!(counter(&counters, "default_rating"), 0);
            assert_eq!(attribute(&indicator, "Severity"), Some(severity));
            assert_eq!(attribute(&indicator, "Popularity"), Some("5"));
        }
    }

    #[test]
    fn invalid_severity_falls_back_to_popularity() {
        let json = r#"{"MD5": "x", "severity": "Severe", "popularity": 2}"#;
        let (indicator, counters) = rate_with(RateConfig::default(), "Vulnerability", json);
        assert_eq!(indicator.rating, 4);
        assert_eq!(counter(&counters, "invalid_severity"), 1);
        assert_eq!(attribute(&indicator, "Severity"), Some("Severe"));
    }

    #[test]
    fn confidence_from_threat_score() {
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "threat_score": 97}"#);
        assert_eq!(indicator.confidence, 97);
        assert_eq!(attribute(&indicator, "Threat Score"), None);
        let indicator = rate(
            "IP Reputation",
            r#"{"ip": "1.2.3.4", "threat_score": "74"}"#,
        );
        assert_eq!(indicator.confidence, 74);
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "threat_score": 0}"#);
        assert_eq!(indicator.confidence, 0);
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4", "threat_score": 100}"#);
        assert_eq!(indicator.confidence, 100);
    }

    #[test]
    fn invalid_threat_score_gives_default() {
        let mut config = RateConfig {
            default_confidence: 80,
            ..RateConfig::default()
        };
        config.feed_confidence.insert("APT IP".to_owned(), 60);
        for score in ["101", "-5", r#""high""#, "100.6"] {
            let json = format!(r#"{{"ip": "1.2.3.4", "threat_score": {score}}}"#);
            let (indicator, counters) = rate_with(config.clone(), "IP Reputation", &json);
            assert_eq!(indicator.confidence, 80, "{score}");
            assert_eq!(counter(&counters, "invalid_threat_score"), 1, "{score}");
            let kept_score = attribute(&indicator, "Threat Score").unwrap();
            assert_eq!(kept_score, score.trim_matches('"'));

            let (indicator, _) = rate_with(config.clone(), "APT IP", &json);
            assert_eq!(indicator.confidence, 60, "{score}");
        }
    }

    #[test]
    fn missing_threat_score_uses_feed_default() {
        let mut config = RateConfig::default();
        config
            .feed_confidence
            .insert("APT_IP_Data_Feed".to_owned(), 90);
        let (indicator, counters) = rate_with(config.clone(), "APT IP", r#"{"ip": "1.2.3.4"}"#);
        assert_eq!(indicator.confidence, 90);
        assert_eq!(counter(&counters, "invalid_threat_score"), 0);
        let (indicator, _) = rate_with(config, "IP Reputation", r#"{"ip": "1.2.3.4"}"#);
        assert_eq!(indicator.confidence, 100);
    }

    #[test]
    fn dates_in_every_form() {
        for (text, iso) in [
            ("21.01.2015 00:00", "2015-01-21T00:00:00Z"),
            ("08.03.2013", "2013-03-08T00:00:00Z"),
            ("2026-04-21T10:00:00.000Z", "2026-04-21T10:00:00Z"),
            ("4/26/2014 6:00:00 PM", "2014-04-26T18:00:00Z"),
        ] {
            let json =
                format!(r#"{{"ip": "1.2.3.4", "first_seen": "{text}", "last_seen": "{text}"}}"#);
            let (indicator, counters) = rate_with(RateConfig::default(), "IP Reputation", &json);
            assert_eq!(indicator.first_seen.as_deref(), Some(iso), "{text}");
            assert_eq!(indicator.last_seen.as_deref(), Some(iso), "{text}");
            assert_eq!(attribute(&indicator, "First Seen"), None);
            assert_eq!(attribute(&indicator, "Last Seen"), None);
            assert_eq!(counter(&counters, "unparsable_date"), 0);
        }
    }

    #[test]
    fn unparsable_dates_become_attributes() {
        let json = r#"{"ip": "1.2.3.4", "first_seen": "31.02.2024 10:00", "last_seen": "soon"}"#;
        let (indicator, counters) = rate_with(RateConfig::default(), "IP Reputation", json);
        assert_eq!(indicator.first_seen, None);
        assert_eq!(indicator.last_seen, None);
        assert_eq!(
            attribute(&indicator, "First Seen"),
            Some("31.02.2024 10:00")
        );
        assert_eq!(attribute(&indicator, "Last Seen"), Some("soon"));
        assert_eq!(counter(&counters, "unparsable_date"), 2);
    }

    #[test]
    fn blank_dates_count_as_absent() {
        let json = r#"{"ip": "1.2.3.4", "first_seen": "", "last_seen": " "}"#;
        let (indicator, counters) = rate_with(RateConfig::default(), "IP Reputation", json);
        assert_eq!(indicator.first_seen, None);
        assert_eq!(indicator.last_seen, None);
        assert_eq!(attribute(&indicator, "First Seen"), None);
        assert_eq!(attribute(&indicator, "Last Seen"), None);
        assert_eq!(counter(&counters, "unparsable_date"), 0);
    }

    #[test]
    fn date_attribute_types_are_configurable() {
        let config = RateConfig {
            first_seen_attribute_type: "Kaspersky First Seen".to_owned(),
            last_seen_attribute_type: "Kaspersky Last Seen".to_owned(),
            ..RateConfig::default()
        };
        let json = r#"{"ip": "1.2.3.4", "first_seen": 20150121, "last_seen": "20.05.2016 03:48"}"#;
        let (indicator, _) = rate_with(config, "IP Reputation", json);
        assert_eq!(
            attribute(&indicator, "Kaspersky First Seen"),
            Some("20150121")
        );
        assert_eq!(attribute(&indicator, "Kaspersky Last Seen"), None);
        assert_eq!(indicator.last_seen.as_deref(), Some("2016-05-20T03:48:00Z"));
    }

    #[test]
    fn fractional_threat_score_is_rounded() {
        for (score, expected) in [("85.7", 86), ("\"85.5\"", 86), ("0.4", 0), ("99.5", 100)] {
            let json = format!(r#"{{"ip": "1.2.3.4", "threat_score": {score}}}"#);
            assert_eq!(rate("IP Reputation", &json).confidence, expected, "{score}");
        }
        let json = r#"{"ip": "1.2.3.4", "threat_score": "high"}"#;
        assert_eq!(rate("IP Reputation", json).confidence, 100);
        let json = r#"{"ip": "1.2.3.4", "threat_score": 100.6}"#;
        assert_eq!(
            rate("IP Reputation", json).confidence,
            100,
            "101 is out of range"
        );
    }

    #[test]
    fn security_labels_from_config() {
        let indicator = rate("IP Reputation", r#"{"ip": "1.2.3.4"}"#);
        assert!(indicator.security_labels.is_empty());

        let config = RateConfig {
            security_labels: vec!["TLP:AMBER".to_owned()],
            ..RateConfig::default()
        };
        let (indicator, _) = rate_with(config, "IP Reputation", r#"{"ip": "1.2.3.4"}"#);
        let names: Vec<&str> = indicator
            .security_labels
            .iter()
            .map(|label| label.name.as_str())
            .collect();
        assert_eq!(names, ["TLP:AMBER"]);
        let json = serde_json::to_value(&indicator).unwrap();
        assert_eq!(json["securityLabel"][0]["name"], "TLP:AMBER");

        let config = RateConfig {
            security_labels: vec![" ".to_owned()],
            ..RateConfig::default()
        };
        assert!(RateStage::new(config).is_err());
    }

    #[test]
    fn description_and_source() {
        let indicator = rate(
            "IP Reputation",
            r#"{"ip": "1.2.3.4", "category": "malware", "files": [{"threat": "T"}]}"#,
        );
        assert_eq!(
            attribute(&indicator, "Description"),
            Some("Kaspersky IP Reputation: malware")
        );
        assert_eq!(
            attribute(&indicator, "Source"),
            Some(
                "Kaspersky IP Reputation Data Feed (feed ID 68), file IP_Reputation_Data_Feed_240519_0832.json"
            )
        );

        let indicator = rate(
            "Phishing URL",
            r#"{"mask": "a.example/x", "industry": "E-shop"}"#,
        );
        assert_eq!(
            attribute(&indicator, "Description"),
            Some("Kaspersky Phishing URL: industry E-shop")
        );
        assert_eq!(
            attribute(&indicator, "Source"),
            Some("Kaspersky Phishing URL Data Feed, file Phishing_URL_Data_Feed_240519_0832.json")
        );

        let indicator = rate("APT Hash", r#"{"MD5": "x"}"#);
        assert_eq!(
            attribute(&indicator, "Description"),
            Some("Kaspersky APT Hash")
        );
    }

    #[test]
    fn description_names_each_value_once() {
        let indicator = rate(
            "Malicious Hash",
            r#"{"MD5": "x", "category": [" a ", "b", "a"], "threat": ["b", "c", "d", "e", "f",
                "g", "c", "g", "industry h", ""], "industry": ["h", "i", "b"]}"#,
        );
        assert_eq!(
            attribute(&indicator, "Description"),
            Some(
                "Kaspersky Malicious Hash: a, b, c, d, e, f, g, industry h, industry i, industry b"
            )
        );
    }

    #[test]
    fn source_names_standard_input() {
        assert_eq!(
            source(crate::testing::feed("APT IP"), "-"),
            "Kaspersky APT IP Data Feed (feed ID 90), file standard input"
        );
        assert_eq!(
            source(
                crate::testing::feed("APT IP"),
                "feeds/APT_IP_Data_Feed.json"
            ),
            "Kaspersky APT IP Data Feed (feed ID 90), file APT_IP_Data_Feed.json"
        );
    }

    #[test]
    fn original_mask_is_kept() {
        let indicator = rate(
            "Phishing URL",
            r#"{"mask": "abid-sh84.github.io/netflixclone/*", "type": 20}"#,
        );
        assert_eq!(
            attribute(&indicator, "Kaspersky Mask"),
            Some("abid-sh84.github.io/netflixclone/*")
        );
        assert_eq!(attribute(&indicator, "Kaspersky Mask Type"), Some("20"));

        let indicator = rate("IoT URL", r#"{"url": "e5934616.com/.i"}"#);
        assert_eq!(
            attribute(&indicator, "Kaspersky Mask"),
            Some("e5934616.com/.i")
        );
    }

    #[test]
    fn key_fields_are_not_repeated() {
        let indicator = rate(
            "IP Reputation",
            r#"{"ip": "1.2.3.4", "popularity": 1, "threat_score": 90}"#,
        );
        assert_eq!(indicator.attributes.len(), 2, "{:?}", indicator.attributes);

        let indicator = rate(
            "Malicious Hash",
            r#"{"MD5": "a", "SHA1": "b", "SHA256": null, "file_size": 245760}"#,
        );
        let types: Vec<&str> = indicator
            .attributes
            .iter()
            .map(|attribute| attribute.attribute_type.as_ref())
            .collect();
        assert_eq!(types, ["Description", "Source", "File Size"]);
    }

    #[test]
    fn mobile_botnet_mask_keeps_hashes() {
        let indicator = rate(
            "Mobile Botnet",
            r#"{"mask": "c2.example/gate", "MD5": "001F6251169E6916C455495050A3FB8D"}"#,
        );
        assert_eq!(
            attribute(&indicator, "Kaspersky Mask"),
            Some("c2.example/gate")
        );
        assert_eq!(
            attribute(&indicator, "Additional Analysis and Context"),
            Some("MD5: 001F6251169E6916C455495050A3FB8D")
        );
    }

    #[test]
    fn known_fields_use_their_types() {
        let json = r#"{"ip": "1.2.3.5", "ip_geo": "es", "users_geo": "us",
            "ip_whois": {"net_range": "1.2.3.4 - 1.2.3.6", "country": "NL", "asn": "50580"},
            "files": [{"MD5": "C912705B4BBB14EC7E78FA8B370532C9", "threat": "HEUR:Trojan.Win32.Generic"}]}"#;
        let indicator = rate("IP Reputation", json);
        assert_eq!(attribute(&indicator, "IP Geo"), Some("es"));
        assert_eq!(attribute(&indicator, "Users Geo"), Some("us"));
        assert_eq!(
            attribute(&indicator, "IP WhoIs"),
            Some("net_range: 1.2.3.4 - 1.2.3.6\ncountry: NL\nasn: 50580")
        );
        assert_eq!(
            attribute(&indicator, "Files"),
            Some("MD5: C912705B4BBB14EC7E78FA8B370532C9, threat: HEUR:Trojan.Win32.Generic")
        );
    }

    #[test]
    fn attribute_types_are_configurable() {
        let mut config = RateConfig::default();
        config
            .attribute_types
            .insert("ip_whois".to_owned(), "Network Owner".to_owned());
        config
            .attribute_types
            .insert("attack_type".to_owned(), "Attack Type".to_owned());
        let json = r#"{"ip": "1.2.3.4", "ip_whois": {"asn": "1"}, "attack_type": "Phishing"}"#;
        let (indicator, _) = rate_with(config, "IP Reputation", json);
        assert_eq!(attribute(&indicator, "Network Owner"), Some("asn: 1"));
        assert_eq!(attribute(&indicator, "Attack Type"), Some("Phishing"));
        assert_eq!(attribute(&indicator, "IP WhoIs"), None);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let json = r#"{"mask": "a.example/x", "stolen_data_type": "email_address",
            "targeted_organization": "Netflix Inc", "extra": {"a": 1, "b": [1, 2]},
            "empty": "", "nothing": null}"#;
        let indicator = rate("Phishing URL", json);
        let context: Vec<&str> = indicator
            .attributes
            .iter()
            .filter(|attribute| attribute.attribute_type == "Additional Analysis and Context")
            .map(|attribute| attribute.value.as_str())
            .collect();
        assert_eq!(
            context,
            [
                "stolen_data_type: email_address",
                "targeted_organization: Netflix Inc",
                "extra:\na: 1\nb: [1, 2]"
            ]
        );
    }

    #[test]
    fn long_attributes_are_cut_with_marker() {
        let config = RateConfig {
            max_attribute_length: 40,
            ..RateConfig::default()
        };
        let long = "ÑS".repeat(100);
        let json = format!(r#"{{"ip": "1.2.3.4", "ip_geo": "{long}", "users_geo": "us"}}"#);
        let (indicator, counters) = rate_with(config, "IP Reputation", &json);
        let cut = attribute(&indicator, "IP Geo").unwrap();
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with(TRUNCATION_MARKER), "{cut}");
        assert!(long.starts_with(cut.trim_end_matches(TRUNCATION_MARKER)));
        assert_eq!(attribute(&indicator, "Users Geo"), Some("us"));
        // The Source text is longer than 40 characters as well.
        assert_eq!(counter(&counters, "truncated_attribute"), 2);
    }

    #[test]
    fn default_limit_is_500_characters() {
        let long = "x".repeat(600);
        let json = format!(r#"{{"ip": "1.2.3.4", "whois": "{long}"}}"#);
        let indicator = rate("IP Reputation", &json);
        let cut = attribute(&indicator, "Whois").unwrap();
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn invalid_config_is_rejected() {
        let config = RateConfig {
            default_rating: 9,
            ..RateConfig::default()
        };
        assert!(RateStage::new(config).is_err());
    }

    #[test]
    fn non_indicator_items_are_untouched() {
        let stage = RateStage::new(RateConfig::default()).unwrap();
        let mut batch = [item(
            "IP Reputation",
            r#"{"ip": "1.2.3.4", "popularity": 9}"#,
        )];
        stage.process(&mut batch);
        assert!(matches!(batch[0].state, ItemState::New));
        assert_eq!(counter(&stage.counters(), "default_rating"), 0);
    }
}
