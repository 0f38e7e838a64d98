//! Record values as readable attribute text. A nested object becomes one `key: value` line per
//! field, an array one line per element, and deeper levels are written inline as `{key: value,
//! …}` and `[a, b]`. `null` values and blank strings carry
//! nothing and are skipped at every level. Object fields keep the record's
//! order where simd-json keeps it (see [`ordered_entries`]), so the same record always renders
//! the same text.

use feedpipe_pipeline::Value;
use simd_json::prelude::*;

use crate::fields::ordered_entries;
use crate::text::trim;

/// Renders a field value as attribute text. Returns `None` when nothing is left to show: `null`,
/// an empty or blank string, or an array or object without non-null content.
pub fn render_value(value: &Value) -> Option<String> {
    // A first guess at the length, so that the text is rarely copied to grow.
    let capacity = match value {
        Value::String(text) => text.len(),
        Value::Array(elements) => 128 * elements.len(),
        Value::Object(object) => 32 * object.len(),
        Value::Static(_) => 20,
    };
    let mut out = String::with_capacity(capacity);
    match value {
        Value::Array(elements) => {
            write_joined(&mut out, "\n", elements.iter(), write_line);
        }
        Value::Object(object) => {
            write_joined(&mut out, "\n", ordered_entries(object), write_field);
        }
        scalar => {
            write_scalar(&mut out, scalar);
        }
    }
    (!trim(&out).is_empty()).then_some(out)
}

/// Writes each item that renders to something, with `separator` between them. Every writer
/// either appends its text or leaves `out` as it was, so skipped items leave no separator.
fn write_joined<T>(
    out: &mut String,
    separator: &str,
    items: impl Iterator<Item = T>,
    mut write_item: impl FnMut(&mut String, T) -> bool,
) -> bool {
    let start = out.len();
    for item in items {
        let mark = out.len();
        if mark > start {
            out.push_str(separator);
        }
        if !write_item(out, item) {
            out.truncate(mark);
        }
    }
    out.len() > start
}

/// Writes one array element as a line: an object as `key: value, key: value` without braces.
fn write_line(out: &mut String, value: &Value) -> bool {
    match value {
        Value::Object(object) => write_joined(out, ", ", ordered_entries(object), write_field),
        other => write_inline(out, other),
    }
}

/// Writes `key: value` unless the value renders to nothing.
fn write_field(out: &mut String, (key, value): (&str, &Value)) -> bool {
    let mark = out.len();
    out.push_str(key);
    out.push_str(": ");
    if write_inline(out, value) {
        true
    } else {
        out.truncate(mark);
        false
    }
}

/// Writes a value on one line. Writes nothing for `null` and blank strings.
fn write_inline(out: &mut String, value: &Value) -> bool {
    match value {
        Value::Array(elements) => {
            out.push('[');
            write_joined(out, ", ", elements.iter(), write_inline);
            out.push(']');
            true
        }
        Value::Object(object) => {
            out.push('{');
            write_joined(out, ", ", ordered_entries(object), write_field);
            out.push('}');
            true
        }
        scalar => write_scalar(out, scalar),
    }
}

/// Writes a string, number or boolean; writes nothing for `null` and blank strings.
fn write_scalar(out: &mut String, value: &Value) -> bool {
    if let Some(text) = value.as_str() {
        if trim(text).is_empty() {
            return false;
        }
        out.push_str(text);
        return true;
    }
    if value.is_null() {
        return false;
    }
    if let Some(number) = value.as_i64() {
        out.push_str(itoa::Buffer::new().format(number));
    } else if let Some(number) = value.as_u64() {
        out.push_str(itoa::Buffer::new().format(number));
    } else {
        out.push_str(&value.encode());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse;

    fn render(json: &str) -> Option<String> {
        render_value(&parse(json))
    }

    #[test]
    fn scalars_render_as_text() {
        assert_eq!(render(r#""es""#).unwrap(), "es");
        assert_eq!(render("97").unwrap(), "97");
        assert_eq!(render("1.5").unwrap(), "1.5");
        assert_eq!(render("false").unwrap(), "false");
    }

    #[test]
    fn empty_values_render_nothing() {
        assert_eq!(render("null"), None);
        assert_eq!(render(r#""""#), None);
        assert_eq!(render(r#""  ""#), None);
        assert_eq!(render("[]"), None);
        assert_eq!(render("[null]"), None);
        assert_eq!(render("{}"), None);
        assert_eq!(render(r#"{"a": null}"#), None);
    }

    #[test]
    fn object_renders_key_value_lines() {
        let json = r#"{"net_range": "1.2.3.4 - 1.2.3.6", "net_name": "TEST_LIMITED",
            "descr": null, "country": "NL", "asn": "50580"}"#;
        assert_eq!(
            render(json).unwrap(),
            "net_range: 1.2.3.4 - 1.2.3.6\nnet_name: TEST_LIMITED\ncountry: NL\nasn: 50580"
        );
    }

    #[test]
    fn array_renders_one_element_per_line() {
        let json = r#"[{"MD5": "C912705B4BBB14EC7E78FA8B370532C9", "threat": "HEUR:Trojan.Win32.Generic"},
            {"url": "c2.example.com/gate.php?id=1"}, null, "plain"]"#;
        assert_eq!(
            render(json).unwrap(),
            "MD5: C912705B4BBB14EC7E78FA8B370532C9, threat: HEUR:Trojan.Win32.Generic\n\
             url: c2.example.com/gate.php?id=1\n\
             plain"
        );
    }

    #[test]
    fn deeper_levels_render_inline() {
        let json =
            r#"{"owner": {"name": "Example", "codes": ["A", "B", null]}, "ranges": [[1, 2], {}]}"#;
        assert_eq!(
            render(json).unwrap(),
            "owner: {name: Example, codes: [A, B]}\nranges: [[1, 2], {}]"
        );
    }

    #[test]
    fn blank_strings_are_skipped() {
        assert_eq!(
            render(r#"["Government", "", "  ", "Energy"]"#).unwrap(),
            "Government\nEnergy"
        );
        assert_eq!(render(r#"{"a": "", "b": "x"}"#).unwrap(), "b: x");
        assert_eq!(render(r#"{"a": ["", "y"]}"#).unwrap(), "a: [y]");
    }

    #[test]
    fn field_order_is_record_order() {
        let json = r#"{"z": 1, "a": 2, "m": 3}"#;
        assert_eq!(render(json).unwrap(), "z: 1\na: 2\nm: 3");
    }
}
