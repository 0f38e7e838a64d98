//! Validation of one batch indicator object into the form the store writes.
//!
//! An object passes only when every part of it is valid: its type and summary, rating,
//! confidence, dates, tags, attributes and security labels. The first invalid part is the
//! reason the whole object is rejected, as ThreatConnect reports one error per failing item.

use serde_json::{Map, Value};

use crate::config::AttributeTypes;
use crate::job::{Action, Version};
use crate::values::{self, FileHashes};

/// Maximum tag name length ThreatConnect accepts, in characters.
pub const MAX_TAG_LENGTH: usize = 128;

/// Indicator types the emulator accepts, with the field that may carry the summary.
const INDICATOR_TYPES: [(&str, &str); 10] = [
    ("Address", "ip"),
    ("Host", "hostName"),
    ("URL", "text"),
    ("File", "md5"),
    ("EmailAddress", "address"),
    ("ASN", "AS Number"),
    ("CIDR", "Block"),
    ("Mutex", "Mutex"),
    ("Registry Key", "Key Name"),
    ("User Agent", "User Agent String"),
];

/// Returns the names of the indicator types the emulator accepts.
pub fn indicator_type_names() -> impl Iterator<Item = &'static str> {
    INDICATOR_TYPES.iter().map(|(name, _)| *name)
}

/// An attribute as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttributeValue {
    #[serde(rename = "type")]
    pub attribute_type: String,
    pub value: String,
    pub displayed: bool,
}

/// A security label on an incoming indicator; color and description create a missing label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelValue {
    pub name: String,
    pub creates_label: bool,
}

/// A validated indicator. A `None` list means the object did not carry that field.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingIndicator {
    pub indicator_type: &'static str,
    /// Normalized summary; for File the summary rebuilt from `hashes`.
    pub summary: String,
    pub hashes: Option<FileHashes>,
    pub rating: Option<f64>,
    pub confidence: Option<u8>,
    pub tags: Option<Vec<String>>,
    pub attributes: Option<Vec<AttributeValue>>,
    pub security_labels: Option<Vec<LabelValue>>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// Rules an item is checked against.
pub struct ItemRules<'a> {
    pub attribute_types: &'a AttributeTypes,
    pub action: Action,
    pub version: Version,
}

/// Validates one element of the batch file's `indicator` array.
pub fn validate_indicator(
    item: &Value,
    rules: &ItemRules<'_>,
) -> Result<IncomingIndicator, String> {
    let Value::Object(fields) = item else {
        return Err("Invalid indicator: an indicator must be a JSON object".to_owned());
    };
    let type_name = match fields.get("type") {
        Some(Value::String(name)) => name.as_str(),
        Some(other) => return Err(format!("Invalid indicator: type {other} is not a string")),
        None => return Err("Invalid indicator: the required field 'type' is missing".to_owned()),
    };
    let (indicator_type, summary_field) = INDICATOR_TYPES
        .iter()
        .find(|(name, _)| *name == type_name)
        .copied()
        .ok_or_else(|| format!("Invalid indicator: unknown indicator type '{type_name}'"))?;

    let (summary, hashes) = summary_of(fields, indicator_type, summary_field)
        .map_err(|reason| format!("Invalid indicator: {reason}"))?;
    let mut incoming = IncomingIndicator {
        indicator_type,
        summary,
        hashes,
        rating: None,
        confidence: None,
        tags: None,
        attributes: None,
        security_labels: None,
        first_seen: None,
        last_seen: None,
    };
    if rules.action == Action::Delete {
        return Ok(incoming);
    }

    let invalid = |reason: String| format!("Invalid indicator '{}': {reason}", incoming.summary);
    incoming.rating = rating(fields).map_err(invalid)?;
    incoming.confidence = confidence(fields).map_err(invalid)?;
    incoming.tags = tags(fields).map_err(invalid)?;
    incoming.attributes = attributes(fields, rules.attribute_types).map_err(invalid)?;
    incoming.security_labels = security_labels(fields).map_err(invalid)?;
    let dates = dates(fields).map_err(invalid)?;
    if rules.version == Version::V2 {
        (incoming.first_seen, incoming.last_seen) = dates;
    }
    Ok(incoming)
}

fn text_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(other) => Err(format!("field '{name}' must be a string, not {other}")),
    }
}

fn summary_of(
    fields: &Map<String, Value>,
    indicator_type: &str,
    summary_field: &str,
) -> Result<(String, Option<FileHashes>), String> {
    if indicator_type == "File" {
        return file_summary(fields).map(|hashes| (hashes.summary(), Some(hashes)));
    }

    let summary = match text_field(fields, "summary")? {
        Some(summary) => summary.to_owned(),
        None => composite_summary(fields, indicator_type, summary_field)?,
    };
    let normalized = match indicator_type {
        "Address" => values::address(&summary),
        "Host" => values::host(&summary),
        "URL" => values::url(&summary),
        "EmailAddress" => values::email_address(&summary),
        "ASN" => values::asn(&summary),
        "CIDR" => values::cidr(&summary),
        "Registry Key" => values::registry_key(&summary),
        _ => values::free_text(indicator_type, &summary),
    }?;
    Ok((normalized, None))
}

fn composite_summary(
    fields: &Map<String, Value>,
    indicator_type: &str,
    summary_field: &str,
) -> Result<String, String> {
    let missing =
        || format!("{indicator_type} indicator has neither 'summary' nor '{summary_field}'");
    let value = text_field(fields, summary_field)?.ok_or_else(missing)?;
    if indicator_type != "Registry Key" {
        return Ok(value.to_owned());
    }

    // A Registry Key summary is `Key Name : Value Name : Value Type`; an empty value name is " ".
    let value_name = text_field(fields, "Value Name")?.unwrap_or(" ");
    let value_type = text_field(fields, "Value Type")?.unwrap_or("REG_NONE");
    Ok(format!("{value} : {value_name} : {value_type}"))
}

/// Reads File hashes: the `md5`/`sha1`/`sha256` fields when any is present, else the summary.
fn file_summary(fields: &Map<String, Value>) -> Result<FileHashes, String> {
    let mut hashes = FileHashes::default();
    for field in ["md5", "sha1", "sha256"] {
        if let Some(value) = text_field(fields, field)? {
            hashes.set(field, value)?;
        }
    }
    if !hashes.is_empty() {
        return Ok(hashes);
    }
    let summary = text_field(fields, "summary")?
        .ok_or("File indicator has neither 'summary' nor a md5, sha1 or sha256 field")?;
    values::file_summary(summary)
}

fn rating(fields: &Map<String, Value>) -> Result<Option<f64>, String> {
    match fields.get("rating") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(rating) if (0.0..=5.0).contains(&rating) => Ok(Some(rating)),
            _ => Err(format!("rating {number} is outside 0 to 5")),
        },
        Some(other) => Err(format!("rating {other} is not a number")),
    }
}

fn confidence(fields: &Map<String, Value>) -> Result<Option<u8>, String> {
    let number = match fields.get("confidence") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number,
        Some(other) => return Err(format!("confidence {other} is not a number")),
    };
    let whole = number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|value| value.fract() == 0.0)
                .map(|v| v as i64)
        })
        .ok_or_else(|| format!("confidence {number} is not an integer"))?;
    if !(0..=100).contains(&whole) {
        return Err(format!("confidence {number} is outside 0 to 100"));
    }
    Ok(Some(whole as u8))
}

fn object_list<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<&'a Map<String, Value>>>, String> {
    let items = match fields.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("field '{name}' must be an array, not {other}")),
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(object) => Ok(object),
            other => Err(format!(
                "each '{name}' entry must be an object, not {other}"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn tags(fields: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    let Some(entries) = object_list(fields, "tag")? else {
        return Ok(None);
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let name = text_field(entry, "name")?.ok_or("a tag has no 'name'")?;
        if name.trim().is_empty() {
            return Err("a tag name is empty".to_owned());
        }
        let length = name.chars().count();
        if length > MAX_TAG_LENGTH {
            return Err(format!(
                "tag '{name}' is {length} characters long; the maximum is {MAX_TAG_LENGTH}"
            ));
        }
        if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    Ok(Some(names))
}

fn attributes(
    fields: &Map<String, Value>,
    types: &AttributeTypes,
) -> Result<Option<Vec<AttributeValue>>, String> {
    let listed = object_list(fields, "attribute")?;
    let description = text_field(fields, "description")?;
    if listed.is_none() && description.is_none() {
        return Ok(None);
    }

    let mut attributes = Vec::new();
    for entry in listed.unwrap_or_default() {
        let attribute_type = text_field(entry, "type")?.ok_or("an attribute has no 'type'")?;
        let value = text_field(entry, "value")?
            .ok_or_else(|| format!("attribute '{attribute_type}' has no 'value'"))?;
        let displayed = match entry.get("displayed") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                return Err(format!(
                    "attribute 'displayed' {other} is not true or false"
                ));
            }
        };
        attributes.push(attribute(types, attribute_type, value, displayed)?);
    }
    if let Some(text) = description {
        attributes.push(attribute(types, "Description", text, false)?);
    }
    Ok(Some(attributes))
}

fn attribute(
    types: &AttributeTypes,
    attribute_type: &str,
    value: &str,
    displayed: bool,
) -> Result<AttributeValue, String> {
    let max_size = types
        .max_size(attribute_type)
        .ok_or_else(|| format!("attribute type '{attribute_type}' does not exist"))?;
    if value.trim().is_empty() {
        return Err(format!("attribute '{attribute_type}' has an empty value"));
    }
    let length = value.chars().count();
    if length > max_size {
        return Err(format!(
            "attribute '{attribute_type}' value is {length} characters long; \
             the maximum for this type is {max_size}"
        ));
    }
    Ok(AttributeValue {
        attribute_type: attribute_type.to_owned(),
        value: value.to_owned(),
        displayed,
    })
}

fn security_labels(fields: &Map<String, Value>) -> Result<Option<Vec<LabelValue>>, String> {
    let Some(entries) = object_list(fields, "securityLabel")? else {
        return Ok(None);
    };
    let mut labels = Vec::new();
    for entry in entries {
        let name = text_field(entry, "name")?.ok_or("a security label has no 'name'")?;
        let color = text_field(entry, "color")?;
        let description = text_field(entry, "description")?;
        labels.push(LabelValue {
            name: name.to_owned(),
            creates_label: color.is_some() && description.is_some(),
        });
    }
    Ok(Some(labels))
}

type SeenDates = (Option<String>, Option<String>);

fn dates(fields: &Map<String, Value>) -> Result<SeenDates, String> {
    for field in [
        "externalDateAdded",
        "externalDateExpires",
        "externalLastModified",
    ] {
        if let Some(value) = text_field(fields, field)? {
            values::date_time(field, value)?;
        }
    }
    let first_seen = text_field(fields, "firstSeen")?;
    let last_seen = text_field(fields, "lastSeen")?;
    for (field, value) in [("firstSeen", first_seen), ("lastSeen", last_seen)] {
        if let Some(value) = value {
            values::date_time(field, value)?;
        }
    }
    Ok((first_seen.map(str::to_owned), last_seen.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(item: Value) -> Result<IncomingIndicator, String> {
        let types = AttributeTypes::default();
        let rules = ItemRules {
            attribute_types: &types,
            action: Action::Create,
            version: Version::V2,
        };
        validate_indicator(&item, &rules)
    }

    #[test]
    fn full_indicator_passes() {
        let incoming = check(json!({
            "type": "Host", "summary": "Bad.Example.com", "rating": 3.0, "confidence": 60,
            "tag": [{"name": "Kaspersky"}, {"name": "kaspersky"}],
            "attribute": [{"type": "Source", "value": "feed", "displayed": true}],
            "description": "C2 host",
            "firstSeen": "2023-08-25T18:23:43Z",
        }))
        .unwrap();
        assert_eq!(incoming.summary, "bad.example.com");
        assert_eq!(incoming.rating, Some(3.0));
        assert_eq!(incoming.confidence, Some(60));
        assert_eq!(incoming.tags, Some(vec!["Kaspersky".to_owned()]));
        let attributes = incoming.attributes.unwrap();
        assert_eq!(attributes.len(), 2);
        assert_eq!(attributes[1].attribute_type, "Description");
        assert_eq!(incoming.first_seen.as_deref(), Some("2023-08-25T18:23:43Z"));
    }

    #[test]
    fn type_specific_summary_fields() {
        let address = check(json!({"type": "Address", "ip": "192.0.2.1"})).unwrap();
        assert_eq!(address.summary, "192.0.2.1");
        let md5 = "905ad8176a569a36421bf54c04ba7f95";
        let file = check(json!({"type": "File", "summary": "ignored", "md5": md5})).unwrap();
        assert_eq!(file.summary, md5.to_ascii_uppercase());
    }

    #[test]
    fn each_rule_rejects() {
        let cases = [
            (json!({"summary": "a.example"}), "'type' is missing"),
            (
                json!({"type": "Ship", "summary": "x"}),
                "unknown indicator type 'Ship'",
            ),
            (json!({"type": "Host"}), "neither 'summary' nor 'hostName'"),
            (
                json!({"type": "Host", "summary": "a.example", "rating": 6}),
                "outside 0 to 5",
            ),
            (
                json!({"type": "Host", "summary": "a.example", "confidence": 50.5}),
                "not an integer",
            ),
            (
                json!({"type": "Host", "summary": "a.example", "confidence": 101}),
                "outside 0 to 100",
            ),
            (
                json!({"type": "Host", "summary": "a.example", "tag": [{"name": "t".repeat(129)}]}),
                "129 characters long",
            ),
            (
                json!({"type": "Host", "summary": "a.example",
                       "attribute": [{"type": "Colour", "value": "red"}]}),
                "attribute type 'Colour' does not exist",
            ),
            (
                json!({"type": "Host", "summary": "a.example",
                       "attribute": [{"type": "Source", "value": "s".repeat(501)}]}),
                "the maximum for this type is 500",
            ),
            (
                json!({"type": "Host", "summary": "a.example", "lastSeen": "yesterday"}),
                "lastSeen 'yesterday'",
            ),
        ];
        for (item, expected) in cases {
            let error = check(item.clone()).unwrap_err();
            assert!(error.contains(expected), "{item}: {error}");
        }
    }

    #[test]
    fn delete_checks_only_identity() {
        let types = AttributeTypes::default();
        let rules = ItemRules {
            attribute_types: &types,
            action: Action::Delete,
            version: Version::V2,
        };
        let item = json!({"type": "Host", "summary": "a.example", "rating": 9});
        assert!(validate_indicator(&item, &rules).is_ok());
    }
}
