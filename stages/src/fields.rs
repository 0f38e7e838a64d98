//! Typed reads of record fields. Feed records are loosely typed (a popularity may be a number or
//! a string of digits, a field may be `null`), so every stage reads fields through these helpers,
//! which treat JSON `null` as an absent field everywhere.

use std::borrow::Cow;

use feedpipe_pipeline::Object;
use feedpipe_pipeline::Value;
use simd_json::prelude::*;

/// Returns the field `name` of `object`, or `None` when it is missing or `null`.
pub fn field<'a>(object: &'a Object<'a>, name: &str) -> Option<&'a Value<'a>> {
    object.get(name).filter(|value| !value.is_null())
}

/// Returns a scalar as text: a string as it is, a number or boolean in its JSON form. Returns
/// `None` for `null`, arrays and objects.
pub fn scalar_text<'a>(value: &'a Value<'a>) -> Option<Cow<'a, str>> {
    if let Some(text) = value.as_str() {
        return Some(Cow::Borrowed(text));
    }
    if value.is_null() || value.is_array() || value.is_object() {
        return None;
    }
    Some(Cow::Owned(value.encode()))
}

/// Returns any value as text for a message: a string as it is, anything else as compact JSON.
pub fn message_text<'a>(value: &'a Value<'a>) -> Cow<'a, str> {
    match value.as_str() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(value.encode()),
    }
}

/// Reads a whole number from a JSON integer, a float without a fractional part, or a string of
/// ASCII digits with an optional sign and surrounding spaces. Returns `None` for anything else.
pub fn whole_number(value: &Value) -> Option<i64> {
    if let Some(number) = value.as_i64() {
        return Some(number);
    }
    if value.as_u64().is_some() {
        // Larger than i64::MAX: out of every range the stages accept.
        return None;
    }
    if let Some(number) = value.as_f64() {
        let in_range = number.fract() == 0.0 && number.abs() < 9.0e15;
        return in_range.then_some(number as i64);
    }

    let text = crate::text::trim(value.as_str()?);
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Returns the entries of an object in a stable order: the record's own field order when the
/// object keeps it, else sorted by key.
///
/// simd-json's objects store up to 32 entries as a vector in insertion order and switch to a
/// hash map beyond that, where iteration order is the hash order.
pub fn ordered_entries<'a>(object: &'a Object<'a>) -> OrderedEntries<'a> {
    if object.is_vec() {
        return OrderedEntries::InOrder(object.iter());
    }
    let mut entries: Vec<(&str, &Value)> = object
        .iter()
        .map(|(key, value)| (key.as_ref(), value))
        .collect();
    entries.sort_by(|left, right| left.0.cmp(right.0));
    OrderedEntries::Sorted(entries.into_iter())
}

/// The entries of an object as [`ordered_entries`] returns them; iterating an object that keeps
/// its order allocates nothing.
pub enum OrderedEntries<'a> {
    InOrder(<&'a Object<'a> as IntoIterator>::IntoIter),
    Sorted(std::vec::IntoIter<(&'a str, &'a Value<'a>)>),
}

impl<'a> Iterator for OrderedEntries<'a> {
    type Item = (&'a str, &'a Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            OrderedEntries::InOrder(entries) => {
                entries.next().map(|(key, value)| (key.as_ref(), value))
            }
            OrderedEntries::Sorted(entries) => entries.next(),
        }
    }
}

#[cfg(test)]
pub(crate) fn parse(json: &str) -> Value<'static> {
    let mut bytes = json.as_bytes().to_vec();
    simd_json::to_borrowed_value(&mut bytes)
        .expect("test JSON parses")
        .into_static()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Object<'static> {
        match parse(json) {
            Value::Object(object) => *object,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn field_treats_null_as_missing() {
        let record = object(r#"{"a": null, "b": 1}"#);
        assert!(field(&record, "a").is_none());
        assert!(field(&record, "c").is_none());
        assert!(field(&record, "b").is_some());
    }

    #[test]
    fn scalar_text_of_each_kind() {
        assert_eq!(scalar_text(&parse(r#""x""#)).unwrap(), "x");
        assert_eq!(scalar_text(&parse("42")).unwrap(), "42");
        assert_eq!(scalar_text(&parse("-1.5")).unwrap(), "-1.5");
        assert_eq!(scalar_text(&parse("true")).unwrap(), "true");
        assert!(scalar_text(&parse("null")).is_none());
        assert!(scalar_text(&parse("[1]")).is_none());
        assert!(scalar_text(&parse("{}")).is_none());
    }

    #[test]
    fn whole_number_forms() {
        assert_eq!(whole_number(&parse("3")), Some(3));
        assert_eq!(whole_number(&parse("-2")), Some(-2));
        assert_eq!(whole_number(&parse("4.0")), Some(4));
        assert_eq!(whole_number(&parse(r#""3""#)), Some(3));
        assert_eq!(whole_number(&parse(r#"" 97 ""#)), Some(97));
        assert_eq!(whole_number(&parse(r#""-1""#)), Some(-1));
        assert_eq!(whole_number(&parse("4.5")), None);
        assert_eq!(whole_number(&parse(r#""high""#)), None);
        assert_eq!(whole_number(&parse(r#""3a""#)), None);
        assert_eq!(whole_number(&parse(r#""""#)), None);
        assert_eq!(whole_number(&parse(r#""-""#)), None);
        assert_eq!(whole_number(&parse("18446744073709551615")), None);
        assert_eq!(whole_number(&parse("true")), None);
    }

    #[test]
    fn small_objects_keep_field_order() {
        let record = object(r#"{"z": 1, "a": 2, "m": 3}"#);
        let keys: Vec<&str> = ordered_entries(&record).map(|e| e.0).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn large_objects_sort_by_key() {
        let fields: Vec<String> = (0..40).rev().map(|i| format!("\"f{i:02}\": {i}")).collect();
        let record = object(&format!("{{{}}}", fields.join(", ")));
        let keys: Vec<&str> = ordered_entries(&record).map(|e| e.0).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys.len(), 40);
        assert_eq!(keys, sorted);
    }
}
