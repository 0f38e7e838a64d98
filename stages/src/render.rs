//! Record values as readable attribute text. A nested object becomes one `key: value` line per
//! field, an array one line per element, and deeper levels are written inline as `{key: value,
//! …}` and `[a, b]`. `null` values and blank strings carry
//! nothing and are skipped at every level. Object fields keep the record's
//! order where simd-json keeps it (see [`ordered_entries`]), so the same record always renders
//! the same text.

use simd_json::OwnedValue;

use crate::fields::{ordered_entries, scalar_text};

/// Renders a field value as attribute text. Returns `None` when nothing is left to show: `null`,
/// an empty or blank string, or an array or object without non-null content.
pub fn render_value(value: &OwnedValue) -> Option<String> {
    let text = match value {
        OwnedValue::Array(elements) => {
            let lines: Vec<String> = elements.iter().filter_map(render_line).collect();
            lines.join("\n")
        }
        OwnedValue::Object(object) => {
            let lines: Vec<String> = ordered_entries(object)
                .into_iter()
                .filter_map(|(key, value)| {
                    render_inline(value).map(|text| format!("{key}: {text}"))
                })
                .collect();
            lines.join("\n")
        }
        scalar => scalar_text(scalar)?.into_owned(),
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Renders one array element as a line: an object as `key: value, key: value` without braces.
fn render_line(value: &OwnedValue) -> Option<String> {
    match value {
        OwnedValue::Object(object) => {
            let fields = inline_fields(object);
            (!fields.is_empty()).then(|| fields.join(", "))
        }
        other => render_inline(other),
    }
}

/// Renders a value on one line. Returns `None` for `null` and blank strings.
fn render_inline(value: &OwnedValue) -> Option<String> {
    match value {
        OwnedValue::Array(elements) => {
            let items: Vec<String> = elements.iter().filter_map(render_inline).collect();
            Some(format!("[{}]", items.join(", ")))
        }
        OwnedValue::Object(object) => Some(format!("{{{}}}", inline_fields(object).join(", "))),
        scalar => scalar_text(scalar)
            .filter(|text| !text.trim().is_empty())
            .map(|text| text.into_owned()),
    }
}

fn inline_fields(object: &simd_json::owned::Object) -> Vec<String> {
    ordered_entries(object)
        .into_iter()
        .filter_map(|(key, value)| render_inline(value).map(|text| format!("{key}: {text}")))
        .collect()
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
