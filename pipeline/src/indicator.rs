//! ThreatConnect indicators as the batch API takes them. The serde form of [`Indicator`] is the
//! exact object the ThreatConnect sink sends and the JSONL file sink writes, so both sinks agree
//! by construction.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// ThreatConnect indicator types that Kaspersky feeds map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IndicatorType {
    Address,
    Host,
    #[serde(rename = "URL")]
    Url,
    File,
}

impl IndicatorType {
    /// Returns the type name ThreatConnect uses.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Address => "Address",
            IndicatorType::Host => "Host",
            IndicatorType::Url => "URL",
            IndicatorType::File => "File",
        }
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tag, serialized as `{"name": …}`. Fixed tag names such as "Kaspersky" are borrowed, not
/// copied into every indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: Cow<'static, str>,
}

/// An attribute, serialized as `{"type": …, "value": …}`. The type name is borrowed from the
/// configuration rather than copied into every indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    #[serde(rename = "type")]
    pub attribute_type: Cow<'static, str>,
    pub value: String,
}

/// A security label such as `TLP:AMBER`, serialized as `{"name": …}`. The label must exist in
/// the ThreatConnect instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityLabel {
    pub name: String,
}

/// One ThreatConnect batch indicator object.
///
/// `summary` is the canonical value: an IP address, a punycode host, a URL with scheme, or the
/// file hashes joined as `md5 : sha1 : sha256` (any subset, in that order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    #[serde(rename = "type")]
    pub indicator_type: IndicatorType,
    pub summary: String,
    /// Threat rating, 0 to 5.
    pub rating: u8,
    /// Confidence, 0 to 100.
    pub confidence: u8,
    #[serde(rename = "tag", default)]
    pub tags: Vec<Tag>,
    #[serde(rename = "attribute", default)]
    pub attributes: Vec<Attribute>,
    /// Security labels (handling instructions such as TLP) of the indicator.
    #[serde(
        rename = "securityLabel",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security_labels: Vec<SecurityLabel>,
    /// First seen, ISO 8601 UTC (`2015-01-21T00:00:00Z`).
    #[serde(rename = "firstSeen", skip_serializing_if = "Option::is_none", default)]
    pub first_seen: Option<String>,
    /// Last seen, ISO 8601 UTC.
    #[serde(rename = "lastSeen", skip_serializing_if = "Option::is_none", default)]
    pub last_seen: Option<String>,
}

impl Indicator {
    /// Creates an indicator with its type and summary; later stages fill in the rest.
    pub fn new(indicator_type: IndicatorType, summary: impl Into<String>) -> Self {
        Indicator {
            indicator_type,
            summary: summary.into(),
            rating: 0,
            confidence: 0,
            // Typical indicators carry a few tags and about a dozen attributes; reserving that
            // avoids regrowing the vectors for every record.
            tags: Vec::with_capacity(4),
            attributes: Vec::with_capacity(12),
            security_labels: Vec::new(),
            first_seen: None,
            last_seen: None,
        }
    }

    /// Adds a tag unless the indicator already has one that differs at most in letter case,
    /// because ThreatConnect treats such tags as one (the first spelling is kept).
    pub fn add_tag(&mut self, name: impl Into<Cow<'static, str>>) {
        let name = name.into();
        if !self.tags.iter().any(|tag| same_tag(&tag.name, &name)) {
            self.tags.push(Tag { name });
        }
    }

    /// Drops everything but the type and summary, once a sink's encoding carries the rest.
    pub fn clear_body(&mut self) {
        self.tags = Vec::new();
        self.attributes = Vec::new();
        self.security_labels = Vec::new();
        self.first_seen = None;
        self.last_seen = None;
    }

    /// Adds an attribute.
    pub fn add_attribute(
        &mut self,
        attribute_type: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) {
        self.attributes.push(Attribute {
            attribute_type: attribute_type.into(),
            value: value.into(),
        });
    }
}

/// Compares tag names without regard to letter case.
fn same_tag(left: &str, right: &str) -> bool {
    // An ASCII character lower-cases to one ASCII character, so two names whose first (or last)
    // characters are both ASCII and differ in more than case differ in any case. This settles
    // most comparisons without reading the rest of either name.
    let differs = |left: Option<&u8>, right: Option<&u8>| match (left, right) {
        (Some(left), Some(right)) => {
            left.is_ascii() && right.is_ascii() && !left.eq_ignore_ascii_case(right)
        }
        _ => false,
    };
    let (left_bytes, right_bytes) = (left.as_bytes(), right.as_bytes());
    if differs(left_bytes.first(), right_bytes.first())
        || differs(left_bytes.last(), right_bytes.last())
    {
        return false;
    }
    if left.is_ascii() && right.is_ascii() {
        return left.eq_ignore_ascii_case(right);
    }
    left.chars()
        .flat_map(char::to_lowercase)
        .eq(right.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_differing_in_case_are_one_tag() {
        let mut indicator = Indicator::new(IndicatorType::Host, "example.com");
        indicator.add_tag("Mobile_Botnet");
        indicator.add_tag("mobile_botnet");
        indicator.add_tag("MALWARE-ESPAÑOL");
        indicator.add_tag("malware-español");
        indicator.add_tag("malware-espanol");
        let names: Vec<&str> = indicator.tags.iter().map(|tag| tag.name.as_ref()).collect();
        assert_eq!(
            names,
            ["Mobile_Botnet", "MALWARE-ESPAÑOL", "malware-espanol"]
        );
    }

    #[test]
    fn tag_case_compare_edges() {
        // The Kelvin sign (U+212A) lower-cases to an ASCII `k`.
        assert!(same_tag("\u{212A}aspersky", "kaspersky"));
        assert!(same_tag("kaspersky", "\u{212A}aspersky"));
        assert!(same_tag("Phishin\u{212A}", "phishink"));
        assert!(same_tag("", ""));
        assert!(!same_tag("", "a"));
        assert!(!same_tag("Kaspersky", "kaspersky_"));
        assert!(!same_tag("Kaspersky", "Gaspersky"));
        assert!(!same_tag("Kaspersky", "Kaspersk\u{212A}x"));
        assert!(same_tag("ÉTAT", "état"));
        assert!(!same_tag("ÉTAT", "étaT2"));
    }

    #[test]
    fn serializes_as_batch_object() {
        let mut indicator = Indicator::new(IndicatorType::Url, "http://example.com/a");
        indicator.rating = 5;
        indicator.confidence = 97;
        indicator.add_tag("Kaspersky");
        indicator.add_tag("Kaspersky");
        indicator.add_attribute("Description", "text");
        let json = serde_json::to_string(&indicator).unwrap();
        assert_eq!(
            json,
            r#"{"type":"URL","summary":"http://example.com/a","rating":5,"confidence":97,"tag":[{"name":"Kaspersky"}],"attribute":[{"type":"Description","value":"text"}]}"#
        );
    }
}
