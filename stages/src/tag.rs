//! The tag stage: gives each indicator its feed's fixed tags, then one tag per value of the
//! feed's tag fields. Tags are trimmed, never empty, unique per indicator and at most
//! [`MAX_TAG_CHARS`] characters long, the ThreatConnect limit.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use feedpipe_pipeline::{Indicator, Item, ItemState, Object, Stage, Value};

use crate::fields::{field, scalar_text};
use crate::text::prefix_chars;

/// Maximum tag length in characters that ThreatConnect accepts.
pub const MAX_TAG_CHARS: usize = 128;

/// Adds the catalog tags and the tag-field values to `Indicator` items.
#[derive(Debug, Default)]
pub struct TagStage {
    truncated_tag: AtomicU64,
}

impl TagStage {
    pub fn new() -> Self {
        TagStage::default()
    }
}

impl Stage for TagStage {
    fn name(&self) -> &'static str {
        "tag"
    }

    fn process(&self, batch: &mut [Item]) {
        let mut truncated = 0;

        for item in batch.iter_mut() {
            let feed = item.record.origin.feed;
            let ItemState::Indicator(indicator) = &mut item.state else {
                continue;
            };

            for tag in feed.tags {
                indicator.add_tag(*tag);
            }
            let Value::Object(record) = &item.record.value else {
                continue;
            };
            for path in feed.tag_fields {
                for_each_tag_value(record, path, &mut |value| {
                    truncated += u64::from(add_tag(indicator, &value));
                });
            }
        }

        if truncated > 0 {
            self.truncated_tag.fetch_add(truncated, Ordering::Relaxed);
        }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        vec![(
            "truncated_tag".to_owned(),
            self.truncated_tag.load(Ordering::Relaxed),
        )]
    }
}

/// Adds one tag value, trimmed and cut to [`MAX_TAG_CHARS`] characters. An empty value adds
/// nothing. Returns whether the value was cut.
fn add_tag(indicator: &mut Indicator, value: &str) -> bool {
    let trimmed = crate::text::trim(value);
    if trimmed.is_empty() {
        return false;
    }

    let tag = prefix_chars(trimmed, MAX_TAG_CHARS).trim_end();
    indicator.add_tag(tag.to_owned());
    tag.len() < trimmed.len()
}

/// Calls `visit` with each text value at a tag-field path, in record order. `a/b` is the field
/// `b` of every element of the array `a` (a lone object in `a` counts as one element). A value
/// that is an array gives each of its scalar elements. Numbers and booleans become their JSON
/// text; objects and `null` give nothing. String values borrow the record.
pub fn for_each_tag_value<'a>(
    record: &'a Object<'a>,
    path: &str,
    visit: &mut impl FnMut(Cow<'a, str>),
) {
    match path.split_once('/') {
        None => {
            if let Some(value) = field(record, path) {
                for_each_scalar(value, visit);
            }
        }
        Some((outer, inner)) => {
            let elements: &[Value] = match field(record, outer) {
                Some(Value::Array(elements)) => elements,
                Some(lone @ Value::Object(_)) => std::slice::from_ref(lone),
                _ => &[],
            };
            for element in elements {
                if let Value::Object(nested) = element {
                    for_each_tag_value(nested, inner, visit);
                }
            }
        }
    }
}

/// Calls `visit` with the text of a scalar value, or of each scalar element of an array.
pub(crate) fn for_each_scalar<'a>(value: &'a Value<'a>, visit: &mut impl FnMut(Cow<'a, str>)) {
    match value {
        Value::Array(elements) => elements.iter().filter_map(scalar_text).for_each(visit),
        _ => scalar_text(value).into_iter().for_each(visit),
    }
}

#[cfg(test)]
mod tests {
    use feedpipe_pipeline::IndicatorType;

    use super::*;
    use crate::testing::item;

    fn tags(feed: &str, json: &str) -> Vec<String> {
        let stage = TagStage::new();
        let mut record = item(feed, json);
        record.state = ItemState::Indicator(Box::new(Indicator::new(
            IndicatorType::Address,
            "192.0.2.1",
        )));
        let mut batch = [record];
        stage.process(&mut batch);
        let [only] = batch;
        match only.state {
            ItemState::Indicator(indicator) => indicator
                .tags
                .into_iter()
                .map(|tag| tag.name.into_owned())
                .collect(),
            other => panic!("expected an indicator, got {other:?}"),
        }
    }

    #[test]
    fn catalog_tags_come_first() {
        assert_eq!(
            tags("APT IP", r#"{"ip": "192.0.2.1", "category": "ignored"}"#),
            ["Kaspersky", "APT_IP"]
        );
    }

    #[test]
    fn plain_fields_become_tags() {
        assert_eq!(
            tags(
                "IP Reputation",
                r#"{"ip": "1.2.3.4", "category": " malware-ESPAÑOL "}"#
            ),
            ["Kaspersky", "IP_Reputation", "malware-ESPAÑOL"]
        );
        assert_eq!(
            tags(
                "Malicious Hash",
                r#"{"threat": "HEUR:Trojan.Win32.Generic", "file_type": "PE"}"#
            ),
            [
                "Kaspersky",
                "Malicious_Hash",
                "HEUR:Trojan.Win32.Generic",
                "PE"
            ]
        );
    }

    #[test]
    fn nested_files_threat() {
        let json = r#"{"ip": "1.2.3.4", "category": "malware", "files": [
            {"MD5": "a", "threat": "Trojan.Win32.A"},
            {"MD5": "b", "threat": "Trojan.Win32.B"},
            {"MD5": "c", "threat": "Trojan.Win32.A"},
            {"MD5": "d"},
            {"MD5": "e", "threat": null},
            "not an object"
        ]}"#;
        assert_eq!(
            tags("IP Reputation", json),
            [
                "Kaspersky",
                "IP_Reputation",
                "malware",
                "Trojan.Win32.A",
                "Trojan.Win32.B"
            ]
        );
    }

    #[test]
    fn nested_exploits_threat() {
        let json = r#"{"MD5": "x", "exploits": [
            {"MD5": "a", "threat": "Exploit.MSOffice.CVE-2017-11882.gen"},
            {"MD5": "b", "threat": ["Exploit.Win32.A", "Exploit.Win32.B"]}
        ]}"#;
        assert_eq!(
            tags("Vulnerability", json),
            [
                "Kaspersky",
                "Vulnerability",
                "Exploit.MSOffice.CVE-2017-11882.gen",
                "Exploit.Win32.A",
                "Exploit.Win32.B"
            ]
        );
    }

    #[test]
    fn nested_path_accepts_lone_object() {
        let json = r#"{"files": {"threat": "Trojan.Win32.A"}}"#;
        assert_eq!(
            tags("Ransomware URL", json),
            ["Kaspersky", "Ransomware_URL", "Trojan.Win32.A"]
        );
    }

    #[test]
    fn arrays_and_numbers() {
        let json = r#"{"mask": "a.example", "category": ["phishing", "", "  ", 7], "threat": 42}"#;
        assert_eq!(
            tags("Mobile Botnet", json),
            ["Kaspersky", "Mobile_Botnet", "phishing", "7", "42"]
        );
    }

    #[test]
    fn empty_missing_and_null_fields_add_nothing() {
        let json = r#"{"mask": "a.example", "category": "", "threat": null}"#;
        assert_eq!(tags("Mobile Botnet", json), ["Kaspersky", "Mobile_Botnet"]);
        let json = r#"{"mask": "a.example", "category": {"nested": "x"}}"#;
        assert_eq!(tags("Mobile Botnet", json), ["Kaspersky", "Mobile_Botnet"]);
    }

    #[test]
    fn duplicates_are_removed() {
        let json = r#"{"mask": "a.example", "category": "Kaspersky", "threat": "Kaspersky"}"#;
        assert_eq!(tags("Mobile Botnet", json), ["Kaspersky", "Mobile_Botnet"]);
    }

    #[test]
    fn long_tags_cut_on_char_boundary() {
        let long = "Ñ".repeat(200);
        let json = format!(r#"{{"mask": "a.example", "category": "{long}"}}"#);
        let tags = tags("Mobile Botnet", &json);
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[2].chars().count(), MAX_TAG_CHARS);
        assert_eq!(tags[2], "Ñ".repeat(MAX_TAG_CHARS));

        let mixed = format!("malware-ESPAÑOL-{}", "日本語".repeat(50));
        let json = format!(r#"{{"mask": "a.example", "category": "{mixed}"}}"#);
        let tags = self::tags("Mobile Botnet", &json);
        assert_eq!(tags[2].chars().count(), MAX_TAG_CHARS);
        assert!(tags[2].starts_with("malware-ESPAÑOL-日本語"));
        assert!(mixed.starts_with(&tags[2]));
    }

    #[test]
    fn exact_limit_is_kept() {
        let exact = "é".repeat(MAX_TAG_CHARS);
        let json = format!(r#"{{"mask": "a.example", "category": "{exact}"}}"#);
        assert_eq!(tags("Mobile Botnet", &json)[2], exact);
    }

    #[test]
    fn cut_tags_are_counted() {
        let stage = TagStage::new();
        let long = "x".repeat(MAX_TAG_CHARS + 1);
        let json = format!(r#"{{"mask": "a.example", "category": "{long}", "threat": "short"}}"#);
        let mut record = item("Mobile Botnet", &json);
        record.state =
            ItemState::Indicator(Box::new(Indicator::new(IndicatorType::Host, "a.example")));
        let mut batch = [record];
        stage.process(&mut batch);
        assert_eq!(stage.counters(), vec![("truncated_tag".to_owned(), 1)]);
    }

    #[test]
    fn non_indicator_items_are_untouched() {
        let stage = TagStage::new();
        let mut batch = [item("IP Reputation", r#"{"ip": "1.2.3.4"}"#)];
        stage.process(&mut batch);
        assert!(matches!(batch[0].state, ItemState::New));
    }
}
