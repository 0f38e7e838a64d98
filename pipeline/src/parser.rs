//! Turns frames into records with simd-json. One `Parser` per worker thread owns a copy of the
//! batch's text and simd-json's `Buffers`. simd-json parses each element in place in that copy
//! and the record's strings borrow it, so parsing allocates only the objects and arrays of the
//! value, never its strings. A frame that is not valid JSON, or that was over the size cap,
//! becomes a rejected item; it never stops the feed.

use std::sync::Arc;

use simd_json::Buffers;
use simd_json::prelude::ValueBuilder;

use crate::catalog::FeedSpec;
use crate::ledger::Reject;
use crate::record::{Item, ItemState, Origin, Record, Value};
use crate::splitter::Frame;

/// Per-thread element parser.
#[derive(Default)]
pub struct Parser {
    buffers: Buffers,
    /// The text of the batch being parsed, which the parsed values borrow.
    text: Vec<u8>,
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// Parses one element from a copy of `bytes`. On failure returns a message naming what is
    /// wrong and the byte offset within the element.
    pub fn parse(&mut self, bytes: &[u8]) -> Result<Value<'_>, String> {
        // simd-json parses in place, so the frame, which is shared and immutable, is copied first.
        self.text.clear();
        self.text.extend_from_slice(bytes);
        parse_in_place(&mut self.text, bytes, &mut self.buffers)
    }

    /// Turns a batch of frames into items: parsed records, or rejected ones for oversized
    /// elements and invalid JSON. The records borrow the parser until its next batch.
    pub fn parse_batch(
        &mut self,
        frames: Vec<Frame>,
        feed: &'static FeedSpec,
        source: &Arc<str>,
        max_element_bytes: usize,
    ) -> Vec<Item<'_>> {
        let Parser { buffers, text } = self;
        text.clear();
        for frame in &frames {
            if let Frame::Element { bytes, .. } = frame {
                text.extend_from_slice(bytes);
            }
        }

        let mut rest = text.as_mut_slice();
        let mut items = Vec::with_capacity(frames.len());
        for frame in frames {
            let item = match frame {
                Frame::Element { offset, bytes } => {
                    let (element, tail) = std::mem::take(&mut rest).split_at_mut(bytes.len());
                    rest = tail;
                    let origin = Origin {
                        feed,
                        source: source.clone(),
                        offset,
                        raw: bytes,
                    };
                    match parse_in_place(element, &origin.raw, buffers) {
                        Ok(value) => Item::new(Record { origin, value }),
                        Err(message) => invalid_json(origin, &message),
                    }
                }
                Frame::Oversized {
                    offset,
                    length,
                    head,
                } => oversized(feed, source, offset, length, head, max_element_bytes),
            };
            items.push(item);
        }
        items
    }
}

/// Parses `bytes`, a copy of `original`, in place; the value's strings borrow them. Error
/// messages quote `original`, because parsing changes the copy.
fn parse_in_place<'a>(
    bytes: &'a mut [u8],
    original: &[u8],
    buffers: &mut Buffers,
) -> Result<Value<'a>, String> {
    let parsed = simd_json::to_borrowed_value_with_buffers(bytes, buffers);
    let mut value = parsed.map_err(|error| {
        if let Some((start, number)) = out_of_range_number(original, error.index()) {
            return format!(
                "number {number} at byte {start} of the element is out of the range of a \
                 64-bit float"
            );
        }
        if inside_string(error.error())
            && let Some((message, position)) = serde_json_error(original)
        {
            return format!("{message} at byte {position} of the element");
        }
        let kind = describe_error(&format!("{:?}", error.error()));
        match error.character() {
            Some(character) => format!(
                "{kind} at byte {} of the element (near {character:?})",
                error.index()
            ),
            None => format!("{kind} at byte {} of the element", error.index()),
        }
    })?;
    merge_duplicate_keys(&mut value);
    Ok(value)
}

/// Checks whether simd-json reports the error at the start of the string or element rather
/// than at the offending byte: errors in strings (control characters, invalid UTF-8 and
/// escapes) and syntax errors.
fn inside_string(error: &simd_json::ErrorType) -> bool {
    use simd_json::ErrorType;
    matches!(
        error,
        ErrorType::Syntax
            | ErrorType::InvalidUtf8
            | ErrorType::InvalidEscape
            | ErrorType::InvalidUnicodeEscape
            | ErrorType::InvalidUnicodeCodepoint
    )
}

/// Returns serde_json's description and byte position of the first error in `element`, or
/// `None` when serde_json reads it without error. serde_json reports a line and a column
/// counted in bytes from 1.
fn serde_json_error(element: &[u8]) -> Option<(String, usize)> {
    let error = serde_json::from_slice::<serde_json::Value>(element).err()?;
    let line_start: usize = element
        .split_inclusive(|&byte| byte == b'\n')
        .take(error.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let position = (line_start + error.column()).saturating_sub(1);
    let position = position.min(element.len());
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(message, _)| message);
    // serde_json names a bad `\u` escape where it stopped reading, up to six bytes past the
    // escape, and calls any unpaired surrogate a leading one. The escape itself is named here.
    if message.contains("escape") || message.contains("surrogate") {
        let searched = &element[position.saturating_sub(6)..(position + 1).min(element.len())];
        if let Some(at) = searched.windows(2).rposition(|pair| pair == b"\\u") {
            let message =
                "invalid \\u escape: not four hex digits, or a surrogate without its pair";
            return Some((message.to_owned(), position.saturating_sub(6) + at));
        }
    }
    Some((message.to_owned(), position))
}

fn invalid_json(origin: Origin, message: &str) -> Item<'static> {
    let offset = origin.offset;
    rejected(
        origin,
        Reject::new(
            "invalid_json",
            format!("invalid JSON in the element at byte {offset}: {message}"),
        ),
    )
}

fn oversized(
    feed: &'static FeedSpec,
    source: &Arc<str>,
    offset: u64,
    length: u64,
    head: bytes::Bytes,
    max_element_bytes: usize,
) -> Item<'static> {
    let kept_note = if (head.len() as u64) < length {
        format!("; the record text holds its first {} bytes", head.len())
    } else {
        String::new()
    };
    let origin = Origin {
        feed,
        source: source.clone(),
        offset,
        raw: head,
    };
    rejected(
        origin,
        Reject::new(
            "oversized_element",
            format!(
                "the element at byte {offset} is {length} bytes long, over the maximum element \
                 size of {max_element_bytes} bytes{kept_note}"
            ),
        ),
    )
}

/// Keeps one entry per key in every object of `value`: the value of the last copy, at the
/// place of the first, as Python's `json` and jq read such objects. simd-json keeps every copy
/// of a key in objects of up to 32 entries, and a lookup would find the first.
fn merge_duplicate_keys(value: &mut Value<'_>) {
    let is_container = |value: &Value<'_>| matches!(value, Value::Object(_) | Value::Array(_));
    match value {
        Value::Object(object) => {
            for nested in object.values_mut().filter(|nested| is_container(nested)) {
                merge_duplicate_keys(nested);
            }
            if has_duplicate_keys(object) {
                let entries = std::mem::take(&mut **object);
                let mut merged = crate::record::Object::with_capacity_and_hasher(
                    entries.len(),
                    Default::default(),
                );
                for (key, nested) in entries {
                    merged.insert(key, nested);
                }
                **object = merged;
            }
        }
        Value::Array(elements) => elements
            .iter_mut()
            .filter(|element| is_container(element))
            .for_each(merge_duplicate_keys),
        Value::Static(_) | Value::String(_) => {}
    }
}

/// Checks whether two keys of `object` are equal. Only keys whose length matches an earlier
/// key's (modulo 64) are compared, so objects without repeats rarely compare any.
fn has_duplicate_keys(object: &crate::record::Object<'_>) -> bool {
    let mut lengths = 0u64;
    for (index, key) in object.keys().enumerate() {
        let bit = 1u64 << (key.len() % 64);
        if lengths & bit != 0 && object.keys().take(index).any(|earlier| earlier == key) {
            return true;
        }
        lengths |= bit;
    }
    false
}

/// Returns the start and text of the number around `index` of `element` when it is valid JSON
/// but too large for a 64-bit float, such as `1e400`, which simd-json reports as an invalid
/// number.
fn out_of_range_number(element: &[u8], index: usize) -> Option<(usize, &str)> {
    let in_number = |byte: &u8| matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E');
    let before = element.get(..index)?;
    let start = index
        - before
            .iter()
            .rev()
            .take_while(|byte| in_number(byte))
            .count();
    let length = element[start..]
        .iter()
        .take_while(|byte| in_number(byte))
        .count();
    let number = std::str::from_utf8(&element[start..start + length]).ok()?;
    let too_large = number.parse::<f64>().is_ok_and(f64::is_infinite);
    (too_large && is_json_number(number)).then_some((start, number))
}

/// Checks `text` against the JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
/// ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let digits =
        |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = text.strip_prefix('-').unwrap_or(text);
    let integer = digits(rest);
    if integer == 0 || (integer > 1 && rest.starts_with('0')) {
        return false;
    }
    let mut rest = &rest[integer..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = digits(fraction);
        if length == 0 {
            return false;
        }
        rest = &fraction[length..];
    }
    if let Some(exponent) = rest.strip_prefix(['e', 'E']) {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        let length = digits(exponent);
        if length == 0 {
            return false;
        }
        rest = &exponent[length..];
    }
    rest.is_empty()
}

/// Turns a simd-json error kind such as `InvalidNumber` or `ExpectedObjectColon` into words
/// (`invalid number`, `expected object colon`).
fn describe_error(kind: &str) -> String {
    let name = kind.split('(').next().unwrap_or(kind);
    let mut words = String::new();
    for character in name.chars() {
        if character.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(character.to_ascii_lowercase());
    }
    match words.as_str() {
        "syntax" => "syntax error".to_owned(),
        "internal error" => "malformed JSON".to_owned(),
        _ => words,
    }
}

fn rejected(origin: Origin, reject: Reject) -> Item<'static> {
    Item {
        record: Record {
            origin,
            value: Value::null(),
        },
        state: ItemState::Rejected(reject),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use simd_json::prelude::*;

    use super::*;
    use crate::catalog::FEEDS;

    /// Returns the keys of an object value in order.
    fn object_keys<'a>(value: &'a Value<'_>) -> Vec<&'a str> {
        let object = value.as_object().expect("an object");
        object.keys().map(|key| key.as_ref()).collect()
    }

    #[test]
    fn parses_and_keeps_unknown_fields() {
        let mut parser = Parser::new();
        let value = parser
            .parse(br#"{"ip":"192.0.2.1","stolen_data_type":"email_address","n":{"a":[1,2]}}"#)
            .unwrap();
        assert_eq!(value.get_str("ip"), Some("192.0.2.1"));
        assert_eq!(value.get_str("stolen_data_type"), Some("email_address"));
        assert_eq!(object_keys(&value), ["ip", "stolen_data_type", "n"]);
    }

    #[test]
    fn invalid_json_becomes_a_reject_with_offset() {
        let mut parser = Parser::new();
        let source: Arc<str> = Arc::from("IP_Reputation_Data_Feed.json");
        let frame = Frame::Element {
            offset: 120,
            bytes: Bytes::from_static(br#"{"ip": 1.2.3}"#),
        };
        let item = parser
            .parse_batch(vec![frame], &FEEDS[0], &source, 1024)
            .pop()
            .unwrap();
        match item.state {
            ItemState::Rejected(reject) => {
                assert_eq!(reject.code, "invalid_json");
                assert!(reject.message.contains("at byte 120"), "{}", reject.message);
                assert!(
                    reject.message.contains("invalid number"),
                    "{}",
                    reject.message
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(item.record.origin.offset, 120);
        assert_eq!(&item.record.origin.raw[..], br#"{"ip": 1.2.3}"#);
    }

    #[test]
    fn oversized_frame_becomes_a_reject() {
        let mut parser = Parser::new();
        let source: Arc<str> = Arc::from("f.json");
        let frame = Frame::Oversized {
            offset: 7,
            length: 5000,
            head: Bytes::from_static(b"{\"pad\":\"zzz"),
        };
        let item = parser
            .parse_batch(vec![frame], &FEEDS[0], &source, 1024)
            .pop()
            .unwrap();
        match item.state {
            ItemState::Rejected(reject) => {
                assert_eq!(reject.code, "oversized_element");
                assert!(reject.message.contains("5000 bytes"), "{}", reject.message);
                assert!(reject.message.contains("1024 bytes"), "{}", reject.message);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn batch_values_borrow_their_own_element() {
        let mut parser = Parser::new();
        let source: Arc<str> = Arc::from("f.json");
        let texts = [
            r#"{"ip":"192.0.2.1","note":"a\"b"}"#,
            r#"{"ip": 1.2.3}"#,
            r#"{"ip":"192.0.2.3","note":"\u00e9t\u00e9"}"#,
        ];
        let mut frames: Vec<Frame> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| Frame::Element {
                offset: index as u64 * 100,
                bytes: Bytes::from_static(text.as_bytes()),
            })
            .collect();
        frames.insert(
            1,
            Frame::Oversized {
                offset: 50,
                length: 5000,
                head: Bytes::from_static(b"{"),
            },
        );
        let items = parser.parse_batch(frames, &FEEDS[0], &source, 1024);
        let offsets: Vec<u64> = items.iter().map(|item| item.record.origin.offset).collect();
        assert_eq!(offsets, [0, 50, 100, 200]);
        assert_eq!(items[0].record.value.get_str("note"), Some("a\"b"));
        assert!(matches!(&items[1].state, ItemState::Rejected(r) if r.code == "oversized_element"));
        assert!(matches!(&items[2].state, ItemState::Rejected(r) if r.code == "invalid_json"));
        assert_eq!(items[3].record.value.get_str("ip"), Some("192.0.2.3"));
        assert_eq!(items[3].record.value.get_str("note"), Some("été"));
        // The raw text stays as it was in the feed, whatever the in-place parse did to the copy.
        assert_eq!(&items[3].record.origin.raw[..], texts[2].as_bytes());
    }

    #[test]
    fn duplicate_keys_keep_last_value() {
        let mut parser = Parser::new();
        let value = parser
            .parse(br#"{"a":1,"b":{"x":1,"x":2},"a":3,"c":[{"y":1,"y":"z"}]}"#)
            .unwrap();
        assert_eq!(object_keys(&value), ["a", "b", "c"]);
        assert_eq!(value.get_u64("a"), Some(3));
        assert_eq!(value.get("b").and_then(|b| b.get_u64("x")), Some(2));
        let element = &value.get("c").and_then(|c| c.as_array()).unwrap()[0];
        assert_eq!(element.get_str("y"), Some("z"));
        assert_eq!(element.as_object().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_keys_in_wide_objects() {
        // Objects of 20, 32, 33 and 40 keys, each with one key repeated at a given place. Past
        // 32 keys simd-json builds a hash map and merges repeats itself.
        for (width, first, repeat) in [(20, 3, 19), (32, 0, 31), (33, 5, 32), (40, 34, 39)] {
            let mut fields: Vec<String> = (0..width)
                .map(|index| format!("\"k{index}\":{index}"))
                .collect();
            fields[repeat] = format!("\"k{first}\":\"last\"");
            let text = format!("{{{}}}", fields.join(","));
            let mut parser = Parser::new();
            let value = parser.parse(text.as_bytes()).unwrap();
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), width - 1, "{text}");
            assert_eq!(
                value.get_str(format!("k{first}").as_str()),
                Some("last"),
                "{text}"
            );
        }
    }

    #[test]
    fn equal_length_keys_stay_distinct() {
        // Keys of the same length are compared, and different ones are kept.
        let mut parser = Parser::new();
        let value = parser.parse(br#"{"ab1c":1,"ab2c":2,"ab1c":3}"#).unwrap();
        assert_eq!(object_keys(&value), ["ab1c", "ab2c"]);
        assert_eq!(value.get_u64("ab1c"), Some(3));
        assert_eq!(value.get_u64("ab2c"), Some(2));
        let mut other = Parser::new();
        let value = other.parse(br#"{"ab1c":1,"ab2c":2}"#).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 2);
    }

    #[test]
    fn string_errors_name_the_byte() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"{\"ip\": \"192.0.2.4\", \"category\": \"raw \x01 control\"}",
                "control character (\\u0000-\\u001F) found while parsing a string at byte 37",
            ),
            (
                b"{\"ip\": \"192.0.2.4\",\n  \"category\": \"bad \xff here\"}",
                "invalid unicode code point at byte 39",
            ),
            (b"{\"a\": \"\\q\"}", "invalid escape at byte 8"),
            (
                b"{\"a\": \"x\\udc00\"}",
                "invalid \\u escape: not four hex digits, or a surrogate without its pair at byte 8",
            ),
            (
                b"{\"a\": \"x\\u12G4\"}",
                "invalid \\u escape: not four hex digits, or a surrogate without its pair at byte 8",
            ),
            (
                b"{\"a\": \"x\\ud800 y\"}",
                "invalid \\u escape: not four hex digits, or a surrogate without its pair at byte 8",
            ),
        ];
        for (text, expected) in cases {
            let mut parser = Parser::new();
            let error = parser.parse(text).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn numbers_beyond_f64_name_the_value() {
        let mut parser = Parser::new();
        let error = parser
            .parse(br#"{"ip":"192.0.2.1","popularity":1e400}"#)
            .unwrap_err();
        assert_eq!(
            error,
            "number 1e400 at byte 31 of the element is out of the range of a 64-bit float"
        );
        let error = parser.parse(br#"{"n":-2.5E+999}"#).unwrap_err();
        assert!(error.starts_with("number -2.5E+999 at byte 5"), "{error}");
    }

    #[test]
    fn malformed_numbers_stay_invalid() {
        let mut parser = Parser::new();
        for text in [
            &br#"{"n":01e400}"#[..],
            br#"{"n":1.e400}"#,
            br#"{"n":1.2.3}"#,
        ] {
            let error = parser.parse(text).unwrap_err();
            assert!(error.starts_with("invalid number"), "{error}");
        }
    }

    #[test]
    fn json_number_grammar() {
        for text in ["0", "-0", "12", "1.5", "1e5", "1E+5", "-1.25e-3"] {
            assert!(is_json_number(text), "{text}");
        }
        for text in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", "1.2.3", "1ee5",
        ] {
            assert!(!is_json_number(text), "{text}");
        }
    }

    #[test]
    fn buffers_are_reused_across_elements() {
        let mut parser = Parser::new();
        for index in 0..100 {
            let text = format!(r#"{{"ip":"192.0.2.{index}","popularity":{}}}"#, index % 5);
            let value = parser.parse(text.as_bytes()).unwrap();
            assert_eq!(value.get_u64("popularity"), Some(index % 5));
        }
    }
}
