//! The classify stage: decides each new record's ThreatConnect indicator type and summary from
//! its feed's key field, or rejects the record with a reason naming the field and value. It is
//! the only stage that changes `New` items, and every `New` item leaves it as `Indicator` or
//! `Rejected`.

use std::sync::atomic::{AtomicU64, Ordering};

use feedpipe_pipeline::Object;
use feedpipe_pipeline::Value;
use feedpipe_pipeline::{Indicator, IndicatorType, Item, ItemState, KeyKind, Record, Stage};
use simd_json::prelude::*;
use tracing::debug;

use crate::address::canonical_ip;
use crate::fields::{field, message_text, whole_number};
use crate::hash::hash_summary;
use crate::key::{KeySource, key_source};
use crate::mask::{MaskError, classify_mask};
use crate::reject::ClassifyError;

/// Mask `type` codes seen in published feed records: 1 (a bare domain) and 20 (host and path
/// with a trailing `/*`). Kaspersky documents eight types without publishing the table, so other
/// codes are logged and counted, never rejected.
const KNOWN_MASK_TYPES: &[i64] = &[1, 20];

/// Turns `New` items into `Indicator` or `Rejected` items.
#[derive(Debug, Default)]
pub struct ClassifyStage {
    unknown_mask_type: AtomicU64,
}

impl ClassifyStage {
    pub fn new() -> Self {
        ClassifyStage::default()
    }

    fn classify(&self, record: &Record) -> Result<Indicator, ClassifyError> {
        let Value::Object(object) = &record.value else {
            return Err(ClassifyError::NotAnObject {
                kind: json_kind(&record.value),
                value: record.value.encode(),
            });
        };

        match key_source(record.origin.feed, object) {
            KeySource::Ip => classify_ip(object),
            KeySource::Hashes => match hash_summary(object) {
                Ok(summary) => Ok(Indicator::new(IndicatorType::File, summary)),
                // Mobile Botnet records may carry a mask instead, so the message names it too.
                Err(ClassifyError::MissingField { .. })
                    if record.origin.feed.key == KeyKind::MaskOrHash =>
                {
                    Err(ClassifyError::MissingField {
                        fields: r#""mask", "MD5", "SHA1" or "SHA256""#.to_owned(),
                    })
                }
                Err(error) => Err(error),
            },
            KeySource::Mask(name) => {
                self.check_mask_type(record, object);
                classify_mask_field(object, name)
            }
        }
    }

    fn check_mask_type(&self, record: &Record, object: &Object) {
        let Some(value) = field(object, "type") else {
            return;
        };
        if whole_number(value).is_some_and(|code| KNOWN_MASK_TYPES.contains(&code)) {
            return;
        }
        self.unknown_mask_type.fetch_add(1, Ordering::Relaxed);
        debug!(
            feed = record.origin.feed.name,
            offset = record.origin.offset,
            mask_type = %message_text(value),
            "Record has an unknown mask type; classifying it from the mask alone."
        );
    }
}

impl Stage for ClassifyStage {
    fn name(&self) -> &'static str {
        "classify"
    }

    fn process(&self, batch: &mut [Item]) {
        for item in batch.iter_mut() {
            if !matches!(item.state, ItemState::New) {
                continue;
            }
            item.state = match self.classify(&item.record) {
                Ok(indicator) => ItemState::Indicator(Box::new(indicator)),
                Err(error) => ItemState::Rejected(error.to_reject()),
            };
        }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        vec![(
            "unknown_mask_type".to_owned(),
            self.unknown_mask_type.load(Ordering::Relaxed),
        )]
    }
}

fn classify_ip(object: &Object) -> Result<Indicator, ClassifyError> {
    let value = field(object, "ip").ok_or_else(|| missing(&["ip"]))?;
    let text = message_text(value);
    let canonical =
        value
            .as_str()
            .and_then(canonical_ip)
            .ok_or_else(|| ClassifyError::InvalidIp {
                field: "ip".to_owned(),
                value: text.into_owned(),
            })?;
    Ok(Indicator::new(IndicatorType::Address, canonical))
}

fn classify_mask_field(object: &Object, name: &str) -> Result<Indicator, ClassifyError> {
    let Some(value) = field(object, name) else {
        return Err(missing(&[name]));
    };
    let text = message_text(value);
    if text.is_empty() {
        return Err(missing(&[name]));
    }

    let Some(mask) = value.as_str() else {
        return Err(ClassifyError::InvalidMask {
            field: name.to_owned(),
            value: text.into_owned(),
            reason: "a mask must be a JSON string".to_owned(),
        });
    };
    match classify_mask(mask) {
        Ok(found) => Ok(Indicator::new(found.indicator_type, found.summary)),
        Err(MaskError::Wildcard) => Err(ClassifyError::WildcardMask {
            field: name.to_owned(),
            value: mask.to_owned(),
        }),
        Err(MaskError::Invalid(reason)) => Err(ClassifyError::InvalidMask {
            field: name.to_owned(),
            value: mask.to_owned(),
            reason,
        }),
    }
}

fn missing(fields: &[&str]) -> ClassifyError {
    let quoted: Vec<String> = fields.iter().map(|name| format!("{name:?}")).collect();
    ClassifyError::MissingField {
        fields: quoted.join(" or "),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Object(_) => "object",
        Value::Static(_) if value.is_null() => "null",
        Value::Static(_) if value.is_bool() => "boolean",
        Value::Static(_) => "number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::item;

    fn run(feed: &str, json: &str) -> ItemState {
        let stage = ClassifyStage::new();
        let mut batch = [item(feed, json)];
        stage.process(&mut batch);
        let [only] = batch;
        only.state
    }

    fn indicator(feed: &str, json: &str) -> (IndicatorType, String) {
        match run(feed, json) {
            ItemState::Indicator(indicator) => (indicator.indicator_type, indicator.summary),
            other => panic!("{json}: expected an indicator, got {other:?}"),
        }
    }

    fn rejected(feed: &str, json: &str) -> (String, String) {
        match run(feed, json) {
            ItemState::Rejected(reject) => (reject.code, reject.message),
            other => panic!("{json}: expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn ipv4_record_is_address() {
        assert_eq!(
            indicator("IP Reputation", r#"{"ip": "1.2.3.4", "popularity": 1}"#),
            (IndicatorType::Address, "1.2.3.4".to_owned())
        );
    }

    #[test]
    fn ipv6_record_is_compressed() {
        assert_eq!(
            indicator("APT IP", r#"{"ip": "2001:0DB8:0:0:0:0:0:0001"}"#),
            (IndicatorType::Address, "2001:db8::1".to_owned())
        );
        assert_eq!(
            indicator("APT IP", r#"{"ip": "[2001:db8::ABCD]"}"#),
            (IndicatorType::Address, "2001:db8::abcd".to_owned())
        );
    }

    #[test]
    fn invalid_ip_names_field_and_value() {
        assert_eq!(
            rejected("IP Reputation", r#"{"ip": "1.2.3"}"#),
            (
                "invalid_ip".to_owned(),
                r#"invalid IP address "1.2.3" in field "ip""#.to_owned()
            )
        );
        assert_eq!(
            rejected("IP Reputation", r#"{"ip": 16909060}"#).1,
            r#"invalid IP address "16909060" in field "ip""#
        );
        assert_eq!(
            rejected("IP Reputation", r#"{"ip": "example.com"}"#).0,
            "invalid_ip"
        );
    }

    #[test]
    fn missing_ip_is_missing_field() {
        for json in [r#"{"category": "spam"}"#, r#"{"ip": null}"#] {
            let (code, message) = rejected("IP Reputation", json);
            assert_eq!(code, "missing_field", "{json}");
            assert!(message.contains(r#""ip""#), "{message}");
        }
    }

    #[test]
    fn ip_is_not_trimmed() {
        assert_eq!(
            rejected("Demo APT IP", r#"{"ip": "203.0.113.44 "}"#),
            (
                "invalid_ip".to_owned(),
                r#"invalid IP address "203.0.113.44 " in field "ip""#.to_owned()
            )
        );
        assert_eq!(
            rejected("APT IP", r#"{"ip": ""}"#),
            (
                "invalid_ip".to_owned(),
                r#"invalid IP address "" in field "ip""#.to_owned()
            )
        );
    }

    #[test]
    fn non_object_records_are_rejected() {
        for (json, kind) in [
            ("[1, 2]", "array"),
            (r#""1.2.3.4""#, "string"),
            ("42", "number"),
            ("null", "null"),
            ("true", "boolean"),
        ] {
            let (code, message) = rejected("IP Reputation", json);
            assert_eq!(code, "not_an_object", "{json}");
            assert!(message.contains(kind), "{message}");
            assert!(message.starts_with("record \""), "{message}");
        }
    }

    #[test]
    fn not_an_object_message_shows_value() {
        let (_, message) = rejected("IP Reputation", r#"["1.2.3.4"]"#);
        assert_eq!(
            message,
            r#"record "[\"1.2.3.4\"]" is a JSON array, expected an object with a key field"#
        );
    }

    #[test]
    fn hash_record_is_file() {
        assert_eq!(
            indicator(
                "Malicious Hash",
                r#"{"MD5": "C912705B4BBB14EC7E78FA8B370532C9", "threat": "x"}"#
            ),
            (
                IndicatorType::File,
                "c912705b4bbb14ec7e78fa8b370532c9".to_owned()
            )
        );
        assert_eq!(
            rejected("Malicious Hash", r#"{"MD5": "C912705B"}"#).0,
            "invalid_hash"
        );
        assert_eq!(
            rejected("APT Hash", r#"{"threat": "x"}"#).0,
            "missing_field"
        );
    }

    #[test]
    fn mask_records_by_form() {
        assert_eq!(
            indicator(
                "Phishing URL",
                r#"{"id": 107722881, "type": 20, "mask": "abid-sh84.github.io/netflixclone/*"}"#
            ),
            (
                IndicatorType::Url,
                "http://abid-sh84.github.io/netflixclone/".to_owned()
            )
        );
        assert_eq!(
            indicator(
                "Malicious URL",
                r#"{"type": 1, "mask": "corona-propusk.ru"}"#
            ),
            (IndicatorType::Host, "corona-propusk.ru".to_owned())
        );
        assert_eq!(
            indicator("Botnet C&C URL", r#"{"mask": "192.0.2.7"}"#),
            (IndicatorType::Address, "192.0.2.7".to_owned())
        );
    }

    #[test]
    fn wildcard_mask_is_rejected_with_reason() {
        let (code, message) = rejected("Malicious URL", r#"{"mask": "a*.example.com/x"}"#);
        assert_eq!(code, "wildcard_mask");
        assert_eq!(
            message,
            "mask \"a*.example.com/x\" in field \"mask\" is a wildcard pattern that \
             ThreatConnect cannot hold as an indicator"
        );
    }

    #[test]
    fn invalid_mask_names_field_and_value() {
        let (code, message) = rejected("Malicious URL", r#"{"mask": "a!b.example"}"#);
        assert_eq!(code, "invalid_mask");
        assert!(
            message.starts_with(r#"invalid mask "a!b.example" in field "mask": "#),
            "{message}"
        );
        let (code, message) = rejected("Malicious URL", r#"{"mask": 7}"#);
        assert_eq!(code, "invalid_mask");
        assert!(message.contains("JSON string"), "{message}");
    }

    #[test]
    fn empty_mask_is_missing_field() {
        for json in [r#"{"mask": ""}"#, r#"{"mask": null}"#, r#"{"type": 1}"#] {
            let (code, message) = rejected("APT URL", json);
            assert_eq!(code, "missing_field", "{json}");
            assert!(message.contains(r#""mask""#), "{message}");
        }
    }

    #[test]
    fn iot_url_reads_url_field() {
        assert_eq!(
            indicator("IoT URL", r#"{"url": "e5934616.com/.i"}"#),
            (IndicatorType::Url, "http://e5934616.com/.i".to_owned())
        );
        let (code, message) = rejected("IoT URL", r#"{"url": "x*.example/a"}"#);
        assert_eq!(code, "wildcard_mask");
        assert!(message.contains(r#"in field "url""#), "{message}");
    }

    #[test]
    fn mobile_botnet_takes_mask_or_hash() {
        assert_eq!(
            indicator("Mobile Botnet", r#"{"mask": "c2.example/gate"}"#),
            (IndicatorType::Url, "http://c2.example/gate".to_owned())
        );
        assert_eq!(
            indicator(
                "Mobile Botnet",
                r#"{"MD5": "001F6251169E6916C455495050A3FB8D", "threat": "x"}"#
            ),
            (
                IndicatorType::File,
                "001f6251169e6916c455495050a3fb8d".to_owned()
            )
        );
        let (code, message) = rejected("Mobile Botnet", r#"{"threat": "x"}"#);
        assert_eq!(code, "missing_field");
        assert!(message.contains(r#""mask", "MD5""#), "{message}");
        let (_, message) = rejected("Malicious Hash", r#"{"threat": "x"}"#);
        assert!(!message.contains("mask"), "{message}");
    }

    #[test]
    fn unknown_mask_type_is_counted_not_rejected() {
        let stage = ClassifyStage::new();
        let mut batch = [
            item("Malicious URL", r#"{"type": 7, "mask": "a.example"}"#),
            item("Malicious URL", r#"{"type": 1, "mask": "b.example"}"#),
            item(
                "Malicious URL",
                r#"{"type": "20", "mask": "c.example/x/*"}"#,
            ),
        ];
        stage.process(&mut batch);
        assert!(
            batch
                .iter()
                .all(|item| matches!(item.state, ItemState::Indicator(_)))
        );
        assert_eq!(stage.counters(), vec![("unknown_mask_type".to_owned(), 1)]);
    }

    #[test]
    fn only_new_items_are_classified() {
        let stage = ClassifyStage::new();
        let mut done = item("IP Reputation", r#"{"ip": "1.2.3"}"#);
        done.state = ItemState::Filtered("superseded".to_owned());
        let mut batch = [done];
        stage.process(&mut batch);
        assert!(matches!(batch[0].state, ItemState::Filtered(_)));
    }
}
