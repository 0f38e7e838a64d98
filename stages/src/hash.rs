//! File hashes: the `MD5`, `SHA1` and `SHA256` fields of hash feeds become one File indicator
//! whose summary lists every hash the record carries, lower-cased, as `md5 : sha1 : sha256`.
//! A hash of the wrong length or with a non-hex digit rejects the whole record, because a File
//! indicator with one wrong hash would merge unrelated files in ThreatConnect.

use feedpipe_pipeline::Object;
use simd_json::prelude::*;

use crate::fields::{field, message_text};
use crate::reject::ClassifyError;

/// The hash fields in summary order, with the number of hex digits each holds. The names are
/// case-sensitive, as in the feeds.
pub const HASH_FIELDS: [(&str, usize); 3] = [("MD5", 32), ("SHA1", 40), ("SHA256", 64)];

/// Checks whether the record has at least one hash field that is neither `null` nor empty.
pub fn has_hash(record: &Object) -> bool {
    HASH_FIELDS
        .iter()
        .any(|(name, _)| field(record, name).is_some_and(|value| !is_blank(value)))
}

/// Builds the File summary from the record's hashes. A `null` or empty hash field counts as
/// absent; a record without any hash is rejected as `missing_field`.
pub fn hash_summary(record: &Object) -> Result<String, ClassifyError> {
    let mut hashes: Vec<String> = Vec::with_capacity(HASH_FIELDS.len());

    for (name, digits) in HASH_FIELDS {
        let Some(value) = field(record, name) else {
            continue;
        };
        if is_blank(value) {
            continue;
        }

        let invalid = || ClassifyError::InvalidHash {
            field: name.to_owned(),
            value: message_text(value).into_owned(),
            digits,
        };
        let text = value.as_str().ok_or_else(invalid)?;
        if text.len() != digits || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        hashes.push(text.to_ascii_lowercase());
    }

    if hashes.is_empty() {
        return Err(ClassifyError::MissingField {
            fields: r#""MD5", "SHA1" or "SHA256""#.to_owned(),
        });
    }
    Ok(hashes.join(" : "))
}

/// Checks whether a hash field contains the empty string, which counts as an absent hash. Spaces
/// are not trimmed, so `" "` is an invalid hash.
fn is_blank(value: &feedpipe_pipeline::Value) -> bool {
    value.as_str().is_some_and(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse;

    const MD5: &str = "C912705B4BBB14EC7E78FA8B370532C9";
    const SHA1: &str = "A9993E364706816ABA3E25717850C26C9CD0D89D";
    const SHA256: &str = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";

    fn summary(json: &str) -> Result<String, ClassifyError> {
        match parse(json) {
            feedpipe_pipeline::Value::Object(record) => hash_summary(&record),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn all_hashes_in_order_lower_case() {
        let json = format!(r#"{{"SHA256": "{SHA256}", "MD5": "{MD5}", "SHA1": "{SHA1}"}}"#);
        assert_eq!(
            summary(&json).unwrap(),
            format!(
                "{} : {} : {}",
                MD5.to_lowercase(),
                SHA1.to_lowercase(),
                SHA256.to_lowercase()
            )
        );
    }

    #[test]
    fn lower_case_input_is_kept() {
        let json = format!(r#"{{"MD5": "{}"}}"#, MD5.to_lowercase());
        assert_eq!(summary(&json).unwrap(), MD5.to_lowercase());
    }

    #[test]
    fn subset_of_hashes() {
        let json = format!(r#"{{"MD5": "{MD5}", "SHA256": "{SHA256}"}}"#);
        assert_eq!(
            summary(&json).unwrap(),
            format!("{} : {}", MD5.to_lowercase(), SHA256.to_lowercase())
        );
        let json = format!(r#"{{"SHA1": "{SHA1}"}}"#);
        assert_eq!(summary(&json).unwrap(), SHA1.to_lowercase());
    }

    #[test]
    fn null_and_empty_hashes_are_absent() {
        let json = format!(r#"{{"MD5": null, "SHA1": "", "SHA256": "{SHA256}"}}"#);
        assert_eq!(summary(&json).unwrap(), SHA256.to_lowercase());
    }

    #[test]
    fn no_hash_is_missing_field() {
        let error = summary(r#"{"MD5": null, "threat": "x"}"#).unwrap_err();
        assert_eq!(error.code(), "missing_field");
        assert!(error.to_string().contains(r#""MD5", "SHA1" or "SHA256""#));
    }

    #[test]
    fn keys_are_case_sensitive() {
        let json = format!(r#"{{"md5": "{MD5}"}}"#);
        assert_eq!(summary(&json).unwrap_err().code(), "missing_field");
    }

    #[test]
    fn wrong_length_is_rejected() {
        let json = format!(r#"{{"MD5": "{}"}}"#, &MD5[..31]);
        let error = summary(&json).unwrap_err();
        assert_eq!(error.code(), "invalid_hash");
        assert_eq!(
            error.to_string(),
            format!(
                "invalid hash \"{}\" in field \"MD5\": expected 32 hexadecimal digits",
                &MD5[..31]
            )
        );
        // An MD5 in the SHA1 field has the wrong length for it.
        let json = format!(r#"{{"SHA1": "{MD5}"}}"#);
        assert!(summary(&json).unwrap_err().to_string().contains("\"SHA1\""));
    }

    #[test]
    fn non_hex_is_rejected() {
        let bad = format!("{}Z", &MD5[..31]);
        let json = format!(r#"{{"MD5": "{bad}", "SHA256": "{SHA256}"}}"#);
        let error = summary(&json).unwrap_err();
        assert_eq!(error.code(), "invalid_hash");
        assert!(error.to_string().contains(&bad));
    }

    #[test]
    fn hashes_are_not_trimmed() {
        let json = format!(r#"{{"MD5": " {MD5}"}}"#);
        assert_eq!(summary(&json).unwrap_err().code(), "invalid_hash");
        assert_eq!(
            summary(r#"{"MD5": " "}"#).unwrap_err().code(),
            "invalid_hash"
        );
    }

    #[test]
    fn non_string_hash_is_rejected() {
        let error = summary(r#"{"MD5": 12345}"#).unwrap_err();
        assert_eq!(error.code(), "invalid_hash");
        assert!(error.to_string().contains(r#""12345""#));
    }

    #[test]
    fn has_hash_ignores_blank_fields() {
        let record = |json: &str| match parse(json) {
            feedpipe_pipeline::Value::Object(record) => record,
            other => panic!("not an object: {other:?}"),
        };
        assert!(!has_hash(&record(r#"{"MD5": "", "SHA1": null}"#)));
        assert!(has_hash(&record(&format!(r#"{{"MD5": "{MD5}"}}"#))));
    }
}
