//! The key fields of a record: the fields whose values make up the indicator's summary. Classify
//! reads them to build the indicator, and rate reads the same decision so that it neither repeats
//! the key as a context attribute nor drops the original mask.

use feedpipe_pipeline::Object;
use feedpipe_pipeline::{FeedSpec, KeyKind};
use simd_json::prelude::*;

use crate::fields::field;

/// File-name prefix of the IoT URL feed, whose records may carry a `url` field in place of a
/// `mask`.
const IOT_URL_PREFIX: &str = "IoT_URL_Data_Feed";

/// Source of a record's indicator value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The `ip` field.
    Ip,
    /// The `MD5`, `SHA1` and `SHA256` fields.
    Hashes,
    /// A URL mask in the named field (`mask`, or `url` for IoT URL records without a mask).
    Mask(&'static str),
}

/// Decides which fields of `record` hold its indicator value.
pub fn key_source(feed: &FeedSpec, record: &Object) -> KeySource {
    match feed.key {
        KeyKind::Ip => KeySource::Ip,
        KeyKind::Hash => KeySource::Hashes,
        KeyKind::Mask => {
            if !is_present(record, "mask")
                && feed.prefix == IOT_URL_PREFIX
                && is_present(record, "url")
            {
                KeySource::Mask("url")
            } else {
                KeySource::Mask("mask")
            }
        }
        KeyKind::MaskOrHash => {
            if is_present(record, "mask") {
                KeySource::Mask("mask")
            } else {
                KeySource::Hashes
            }
        }
    }
}

/// Checks whether the field contains something other than `null` or the empty string.
pub fn is_present(record: &Object, name: &str) -> bool {
    field(record, name).is_some_and(|value| value.as_str() != Some(""))
}

#[cfg(test)]
mod tests {
    use feedpipe_pipeline::FeedCatalog;

    use super::*;
    use crate::fields::parse;

    fn source(feed: &str, json: &str) -> KeySource {
        let spec = FeedCatalog.lookup(feed).expect("known feed");
        match parse(json) {
            feedpipe_pipeline::Value::Object(record) => key_source(spec, &record),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn fixed_keys() {
        assert_eq!(
            source("IP Reputation", r#"{"ip": "1.2.3.4"}"#),
            KeySource::Ip
        );
        assert_eq!(
            source("Malicious Hash", r#"{"MD5": "x"}"#),
            KeySource::Hashes
        );
        assert_eq!(
            source("Phishing URL", r#"{"url": "a.example"}"#),
            KeySource::Mask("mask")
        );
    }

    #[test]
    fn iot_falls_back_to_url() {
        assert_eq!(
            source("IoT URL", r#"{"url": "a.example/x"}"#),
            KeySource::Mask("url")
        );
        assert_eq!(
            source("IoT URL", r#"{"mask": "a.example/x", "url": "b.example"}"#),
            KeySource::Mask("mask")
        );
        assert_eq!(
            source("IoT URL", r#"{"mask": null}"#),
            KeySource::Mask("mask")
        );
    }

    #[test]
    fn mobile_botnet_uses_mask_else_hashes() {
        assert_eq!(
            source("Mobile Botnet", r#"{"mask": "a.example", "MD5": "x"}"#),
            KeySource::Mask("mask")
        );
        assert_eq!(
            source("Mobile Botnet", r#"{"mask": "", "MD5": "x"}"#),
            KeySource::Hashes
        );
        assert_eq!(
            source("Mobile Botnet", r#"{"MD5": "x"}"#),
            KeySource::Hashes
        );
    }
}
