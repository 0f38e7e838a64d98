//! Checks shared by the integration tests.

use feedpipe_pipeline::{Indicator, IndicatorType, Value};
use feedpipe_stages::text::TRUNCATION_MARKER;
use simd_json::prelude::*;

const FALLBACK_TYPE: &str = "Additional Analysis and Context";

/// Checks that every non-null, non-blank field of `record` shows up in the summary, the
/// rating, the confidence, a parsed date or an attribute.
pub fn assert_no_field_lost(record: &Value, indicator: &Indicator) {
    let object = record.as_object().expect("record is an object");
    for (name, value) in object.iter() {
        let expected = expected_texts(value);
        if expected.is_empty() {
            continue;
        }
        let in_attribute = indicator
            .attributes
            .iter()
            .any(|attribute| attribute_keeps(attribute, name, &expected));
        assert!(
            used_by_indicator(name, value, indicator) || in_attribute,
            "field {name} of {} is lost: {indicator:#?}",
            record.encode()
        );
    }
}

/// Checks whether a field went into the summary, rating, confidence or a date.
fn used_by_indicator(name: &str, value: &Value, indicator: &Indicator) -> bool {
    let number = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()));
    match name {
        "ip" => indicator.indicator_type == IndicatorType::Address,
        "MD5" | "SHA1" | "SHA256" => value
            .as_str()
            .is_some_and(|hash| indicator.summary.contains(&hash.to_lowercase())),
        "popularity" => number.is_some_and(|popularity| {
            (1..=5).contains(&popularity) && i64::from(indicator.rating) == 6 - popularity
        }),
        "threat_score" => number.is_some_and(|score| i64::from(indicator.confidence) == score),
        "first_seen" => indicator.first_seen.is_some(),
        "last_seen" => indicator.last_seen.is_some(),
        _ => false,
    }
}

/// Checks whether an attribute contains the field's texts. An attribute cut to the length limit
/// needs to contain only some of them, and a fallback attribute must start with the field name.
fn attribute_keeps(
    attribute: &feedpipe_pipeline::Attribute,
    name: &str,
    expected: &[String],
) -> bool {
    let found = expected
        .iter()
        .filter(|text| attribute.value.contains(text.as_str()))
        .count();
    let truncated = attribute.value.ends_with(TRUNCATION_MARKER);
    let complete = found == expected.len() || (truncated && found > 0);
    let named = attribute.attribute_type != FALLBACK_TYPE
        || attribute.value.starts_with(&format!("{name}:"));
    complete && named
}

/// Lists the texts a rendering of `value` must contain: every non-blank scalar, with its key
/// for object fields.
fn expected_texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(elements) => elements.iter().flat_map(expected_texts).collect(),
        Value::Object(object) => object
            .iter()
            .flat_map(|(key, inner)| {
                if inner.is_array() || inner.is_object() {
                    expected_texts(inner)
                } else {
                    expected_texts(inner)
                        .into_iter()
                        .map(|text| format!("{key}: {text}"))
                        .collect()
                }
            })
            .collect(),
        _ if value.is_null() => Vec::new(),
        _ => match value.as_str() {
            Some(text) if text.trim().is_empty() => Vec::new(),
            Some(text) => vec![text.to_owned()],
            None => vec![value.encode()],
        },
    }
}
