//! ThreatConnect's job error records (`GET /v2/batch/{id}/errors`) and their matching to the
//! job's deliveries.
//!
//! An error record is `{"errorReason": …, "errorSource": …}`, where the source names the
//! failing item: an indicator object, that object as JSON text, or free text that contains the
//! indicator's summary. Errors identify indicators by type and summary, so a record is matched
//! to the first not yet rejected job entry with that type and summary; File indicators also
//! match on any one of their hashes, and free text matches on any whitespace- or
//! punctuation-separated word that equals a summary. Each entry is rejected at most once, so a
//! second error on the same indicator (a tag and an attribute, say) does not count it twice.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use feedpipe_pipeline::IndicatorType;
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::batcher::JobEntry;

/// Messages that mean the whole job failed, not one item.
pub const CRITICAL_MESSAGES: [&str; 2] = [
    "Encountered an unexpected Exception while processing batch job",
    "would exceed the number of allowed indicators",
];

/// One record of a job's error list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BatchErrorRecord {
    #[serde(rename = "errorReason", default)]
    pub reason: String,
    #[serde(rename = "errorSource", default)]
    pub source: ErrorSource,
}

impl BatchErrorRecord {
    /// Returns whether the record reports a job-fatal failure.
    pub fn is_critical(&self) -> bool {
        let source = match &self.source {
            ErrorSource::Text(text) => text.as_str(),
            _ => "",
        };
        CRITICAL_MESSAGES
            .iter()
            .any(|message| self.reason.contains(message) || source.contains(message))
    }
}

/// The `errorSource` of an error record, reduced to what matching reads. An indicator object
/// keeps only its type and the fields that can name it, so the rest of the indicator (its
/// attributes, tags and so on) is skipped while parsing instead of being built and dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ErrorSource {
    /// An indicator object.
    Object(SourceFields),
    /// Text: the indicator as JSON text, or a message that names it.
    Text(String),
    /// `null`, a number, a boolean or an array, which name no indicator.
    #[default]
    Other,
}

/// The string fields of an indicator object that name its type and the indicator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceFields {
    /// `type`, or `indicatorType` when `type` is missing.
    pub indicator_type: Option<String>,
    /// The fields of [`SOURCE_NAME_FIELDS`], in that order.
    pub names: [Option<String>; SOURCE_NAME_FIELDS.len()],
}

/// Fields of an indicator object that may hold its summary, in the order they are tried.
pub const SOURCE_NAME_FIELDS: [&str; 7] =
    ["summary", "ip", "hostName", "text", "md5", "sha1", "sha256"];

impl<'de> Deserialize<'de> for ErrorSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = ErrorSource;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an indicator object, a string or null")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Text(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorSource, A::Error> {
        let mut fields = SourceFields::default();
        let mut alternative_type = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "type" => &mut fields.indicator_type,
                "indicatorType" => &mut alternative_type,
                name => match SOURCE_NAME_FIELDS.iter().position(|field| *field == name) {
                    Some(index) => &mut fields.names[index],
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            // The naming fields are few and short, so they are read whole, and only a string counts.
            *slot = match map.next_value::<serde_json::Value>()? {
                serde_json::Value::String(text) => Some(text),
                _ => None,
            };
        }
        if fields.indicator_type.is_none() {
            fields.indicator_type = alternative_type;
        }
        Ok(ErrorSource::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<ErrorSource, A::Error> {
        while sequence.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ErrorSource::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ErrorSource, E> {
        Ok(ErrorSource::Other)
    }
}

/// Decodes an `/errors` body: a JSON array, gzip-compressed or not (the server sends gzip but
/// proxies and clients may already have decompressed it).
pub fn parse_error_list(body: &[u8]) -> Result<Vec<BatchErrorRecord>, String> {
    let mut text = Vec::new();
    let bytes = if body.starts_with(&[0x1f, 0x8b]) {
        GzDecoder::new(body)
            .read_to_end(&mut text)
            .map_err(|error| format!("invalid gzip data: {error}"))?;
        &text[..]
    } else {
        body
    };
    serde_json::from_slice(bytes).map_err(|error| format!("invalid JSON error list: {error}"))
}

/// The outcome of matching a job's error records.
#[derive(Debug, Default, PartialEq)]
pub struct ErrorMatches {
    /// Entry index and ThreatConnect's reason, one per rejected entry.
    pub rejected: Vec<(usize, String)>,
    /// Reasons of records that named no entry of the job.
    pub unmatched: Vec<String>,
    /// Records about an entry that an earlier record already rejected.
    pub repeated: usize,
}

/// Matches error records to job entries.
pub fn match_errors(entries: &[JobEntry], errors: &[BatchErrorRecord]) -> ErrorMatches {
    if errors.is_empty() {
        // Most jobs complete without errors, and indexing every summary would copy them all.
        return ErrorMatches::default();
    }
    let index = EntryIndex::new(entries);
    let mut taken = vec![false; entries.len()];
    let mut matches = ErrorMatches::default();

    for error in errors {
        let candidates = index.candidates(error);
        if candidates.is_empty() {
            matches.unmatched.push(error.reason.clone());
            continue;
        }
        match candidates.iter().copied().find(|&entry| !taken[entry]) {
            Some(entry) => {
                taken[entry] = true;
                matches.rejected.push((entry, reason_text(error)));
            }
            None => matches.repeated += 1,
        }
    }
    matches
}

fn reason_text(error: &BatchErrorRecord) -> String {
    if error.reason.trim().is_empty() {
        "ThreatConnect reported an error without a reason".to_owned()
    } else {
        error.reason.trim().to_owned()
    }
}

/// Lookup of entries by (type, summary), by lower-cased summary, and by single File hash.
struct EntryIndex {
    by_key: HashMap<(IndicatorType, String), Vec<usize>>,
}

impl EntryIndex {
    fn new(entries: &[JobEntry]) -> Self {
        let mut by_key: HashMap<(IndicatorType, String), Vec<usize>> = HashMap::new();
        for (position, entry) in entries.iter().enumerate() {
            for key in keys_of(entry.indicator_type, &entry.summary) {
                let list = by_key.entry((entry.indicator_type, key)).or_default();
                if list.last() != Some(&position) {
                    list.push(position);
                }
            }
        }
        EntryIndex { by_key }
    }

    fn lookup(&self, indicator_type: Option<IndicatorType>, summary: &str) -> Vec<usize> {
        let types: &[IndicatorType] = match &indicator_type {
            Some(known) => std::slice::from_ref(known),
            None => &[
                IndicatorType::Address,
                IndicatorType::Host,
                IndicatorType::Url,
                IndicatorType::File,
            ],
        };
        let mut found = Vec::new();
        for &candidate_type in types {
            for key in keys_of(candidate_type, summary) {
                if let Some(list) = self.by_key.get(&(candidate_type, key)) {
                    for &entry in list {
                        if !found.contains(&entry) {
                            found.push(entry);
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }

    fn candidates(&self, error: &BatchErrorRecord) -> Vec<usize> {
        match &error.source {
            ErrorSource::Object(fields) => self.candidates_in_object(fields),
            ErrorSource::Text(text) => {
                if let Ok(ErrorSource::Object(fields)) = serde_json::from_str(text) {
                    return self.candidates_in_object(&fields);
                }
                let found = self.candidates_in_text(text);
                if found.is_empty() {
                    self.candidates_in_text(&error.reason)
                } else {
                    found
                }
            }
            _ => self.candidates_in_text(&error.reason),
        }
    }

    fn candidates_in_object(&self, fields: &SourceFields) -> Vec<usize> {
        let indicator_type = fields.indicator_type.as_deref().and_then(parse_type);
        for summary in fields.names.iter().flatten() {
            let found = self.lookup(indicator_type, summary);
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    fn candidates_in_text(&self, text: &str) -> Vec<usize> {
        let words = text.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | ',' | ';' | '[' | ']' | '{' | '}' | '(' | ')' | '<' | '>'
                )
        });
        for word in words {
            let word = word.trim_end_matches(['.', ':']);
            if word.is_empty() {
                continue;
            }
            let found = self.lookup(None, word);
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }
}

fn parse_type(name: &str) -> Option<IndicatorType> {
    match name {
        "Address" => Some(IndicatorType::Address),
        "Host" => Some(IndicatorType::Host),
        "URL" => Some(IndicatorType::Url),
        "File" => Some(IndicatorType::File),
        _ => None,
    }
}

/// Returns the lookup keys of a summary: itself, its lower-case form, and for File each hash.
fn keys_of(indicator_type: IndicatorType, summary: &str) -> Vec<String> {
    let summary = summary.trim();
    let mut keys = vec![summary.to_owned()];
    let lower = summary.to_lowercase();
    if lower != summary {
        keys.push(lower);
    }
    if indicator_type == IndicatorType::File {
        for hash in summary
            .split(':')
            .map(str::trim)
            .filter(|hash| !hash.is_empty())
        {
            let hash = hash.to_lowercase();
            if !keys.contains(&hash) {
                keys.push(hash);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use feedpipe_pipeline::catalog::FEEDS;
    use feedpipe_pipeline::record::Origin;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use serde_json::json;

    use super::*;

    fn entry(offset: u64, indicator_type: IndicatorType, summary: &str) -> JobEntry {
        JobEntry {
            origin: Origin {
                feed: &FEEDS[0],
                source: Arc::from("feed.json"),
                offset,
                raw: Bytes::new(),
            },
            indicator_type,
            summary: summary.to_owned(),
        }
    }

    fn record(reason: &str, source: serde_json::Value) -> BatchErrorRecord {
        BatchErrorRecord {
            reason: reason.to_owned(),
            source: serde_json::from_value(source).unwrap(),
        }
    }

    fn entries() -> Vec<JobEntry> {
        vec![
            entry(0, IndicatorType::Host, "good.example"),
            entry(1, IndicatorType::Host, "bad.example"),
            entry(2, IndicatorType::Url, "http://bad.example/Path"),
            entry(
                3,
                IndicatorType::File,
                "905AD8176A569A36421BF54C04BA7F95 : a52b6986d68cdfac53aa740566cbeade4452124e",
            ),
            entry(4, IndicatorType::Address, "192.0.2.1"),
        ]
    }

    #[test]
    fn object_source_matched_by_type_and_summary() {
        let errors = [record(
            "Invalid host name",
            json!({"type": "Host", "summary": "bad.example", "rating": 3}),
        )];
        let matches = match_errors(&entries(), &errors);
        assert_eq!(matches.rejected, vec![(1, "Invalid host name".to_owned())]);
        assert!(matches.unmatched.is_empty());
    }

    #[test]
    fn json_text_source_matched() {
        let source = json!({"type": "URL", "summary": "http://bad.example/Path"}).to_string();
        let errors = [record("URL host must be lower case", json!(source))];
        let matches = match_errors(&entries(), &errors);
        assert_eq!(matches.rejected[0].0, 2);
    }

    #[test]
    fn file_matched_by_single_hash() {
        let errors = [record(
            "Hash collision",
            json!({"type": "File", "md5": "905ad8176a569a36421bf54c04ba7f95"}),
        )];
        let matches = match_errors(&entries(), &errors);
        assert_eq!(matches.rejected[0].0, 3);
    }

    #[test]
    fn free_text_source_matched() {
        let errors = [record(
            "Invalid address",
            json!("Address 192.0.2.1: not accepted"),
        )];
        let matches = match_errors(&entries(), &errors);
        assert_eq!(matches.rejected, vec![(4, "Invalid address".to_owned())]);
    }

    #[test]
    fn duplicates_matched_once_each() {
        let entries = vec![
            entry(0, IndicatorType::Host, "dup.example"),
            entry(1, IndicatorType::Host, "dup.example"),
        ];
        let source = json!({"type": "Host", "summary": "dup.example"});
        let errors = [
            record("first", source.clone()),
            record("second", source.clone()),
            record("third", source),
        ];
        let matches = match_errors(&entries, &errors);
        assert_eq!(
            matches.rejected,
            vec![(0, "first".to_owned()), (1, "second".to_owned())]
        );
        assert_eq!(matches.repeated, 1);
    }

    #[test]
    fn whole_indicator_source_matched() {
        let source = json!({
            "indicatorType": "Address",
            "rating": 3,
            "summary": 5,
            "tag": [{"name": "Kaspersky"}, {"name": "192.0.2.9"}],
            "attribute": [{"type": "Source", "value": {"nested": ["x", null, true]}}],
            "ip": "192.0.2.1",
            "hostName": null
        });
        let errors = [record("Invalid attribute", source.clone())];
        let matches = match_errors(&entries(), &errors);
        assert_eq!(matches.rejected, vec![(4, "Invalid attribute".to_owned())]);

        let parsed: ErrorSource = serde_json::from_value(source).unwrap();
        let ErrorSource::Object(fields) = parsed else {
            panic!("an object source reads as an object");
        };
        assert_eq!(fields.indicator_type.as_deref(), Some("Address"));
        assert_eq!(fields.names[0], None, "a number is no summary");
        assert_eq!(fields.names[1].as_deref(), Some("192.0.2.1"));
        assert_eq!(fields.names[2], None);
    }

    #[test]
    fn source_kinds_parsed() {
        let parse =
            |value: serde_json::Value| serde_json::from_value::<ErrorSource>(value).unwrap();
        assert_eq!(parse(json!("text")), ErrorSource::Text("text".to_owned()));
        for other in [
            json!(null),
            json!(7),
            json!(-1),
            json!(1.5),
            json!(false),
            json!([1, {}]),
        ] {
            assert_eq!(parse(other.clone()), ErrorSource::Other, "{other}");
        }
        let typed = parse(json!({"type": "Host", "indicatorType": "URL"}));
        let ErrorSource::Object(fields) = typed else {
            panic!("an object source reads as an object");
        };
        assert_eq!(fields.indicator_type.as_deref(), Some("Host"), "type wins");
    }

    #[test]
    fn unknown_source_left_unmatched() {
        let errors = [record(
            "Invalid indicator",
            json!({"type": "Host", "summary": "elsewhere.example"}),
        )];
        let matches = match_errors(&entries(), &errors);
        assert!(matches.rejected.is_empty());
        assert_eq!(matches.unmatched, vec!["Invalid indicator".to_owned()]);
    }

    #[test]
    fn type_mismatch_not_matched() {
        let errors = [record(
            "x",
            json!({"type": "URL", "summary": "bad.example"}),
        )];
        assert!(match_errors(&entries(), &errors).rejected.is_empty());
    }

    #[test]
    fn gzip_and_plain_lists_parsed() {
        let text =
            br#"[{"errorReason":"Invalid tag","errorSource":{"type":"Host","summary":"a"}}]"#;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(text).unwrap();
        let gzipped = encoder.finish().unwrap();
        let from_gzip = parse_error_list(&gzipped).unwrap();
        let from_plain = parse_error_list(text).unwrap();
        assert_eq!(from_gzip, from_plain);
        assert_eq!(from_gzip[0].reason, "Invalid tag");
        assert!(parse_error_list(b"not json").is_err());
    }

    #[test]
    fn critical_messages_detected() {
        let fatal = record(
            "Encountered an unexpected Exception while processing batch job. Last known JSON \
             path: '$.indicator[3]'",
            json!(null),
        );
        assert!(fatal.is_critical());
        let limit = record(
            "x",
            json!("Batch would exceed the number of allowed indicators"),
        );
        assert!(limit.is_critical());
        assert!(!record("Invalid host", json!(null)).is_critical());
    }
}
