//! Configuration of the rate stage: default rating and confidence, and the ThreatConnect
//! attribute type names context fields are written under. Every key is optional; a TOML table
//! such as
//!
//! ```toml
//! default_rating = 2
//! feed_confidence = { "APT IP" = 90, "Demo_IP_Reputation_Data_Feed" = 20 }
//! attribute_types = { ip_whois = "Kaspersky IP WhoIs" }
//! ```
//!
//! overrides only the keys it names. Unknown keys are an error, so a misspelt key cannot be
//! ignored silently.

use std::collections::BTreeMap;

use feedpipe_pipeline::{FeedCatalog, FeedSpec};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::text::TRUNCATION_MARKER;

/// Default attribute type for each known context field, after the names Kaspersky's Threat Feed
/// App for ThreatConnect uses where it has one (`ip_whois` → "IP WhoIs", `files` → "Files", and so
/// on). `RateConfig::attribute_types` overrides or extends this table.
pub const DEFAULT_ATTRIBUTE_TYPES: &[(&str, &str)] = &[
    ("ip_whois", "IP WhoIs"),
    ("files", "Files"),
    ("urls", "Urls"),
    ("IP", "IP"),
    ("whois", "Whois"),
    ("detection_date", "Detection date"),
    ("publication_name", "Publication name"),
    ("api_publication_id", "Publication id"),
    ("actors", "Actors"),
    ("industries", "Industries"),
    ("geo", "Geo"),
    ("users_geo", "Users Geo"),
    ("ip_geo", "IP Geo"),
    ("category", "Category"),
    ("threat", "Threat"),
    ("industry", "Industry"),
    ("file_type", "File Type"),
    ("file_size", "File Size"),
    ("exploits", "Exploits"),
    ("domains", "Domains"),
    ("severity", "Severity"),
    ("cve", "CVE"),
    ("id", "Kaspersky Record ID"),
    ("type", "Kaspersky Mask Type"),
    ("popularity", "Popularity"),
    ("threat_score", "Threat Score"),
];

/// Settings of the rate stage, loadable from a TOML table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Threat rating (0 to 5) for records whose `popularity` is missing or outside 1 to 5 and
    /// that carry no valid `severity`. Default: 3.
    pub default_rating: u8,

    /// Confidence (0 to 100) for records without a valid `threat_score`. Default: 100, the value
    /// Kaspersky's own integrations use for its feeds.
    pub default_confidence: u8,

    /// Per-feed confidence (0 to 100) that replaces `default_confidence`, keyed by feed name
    /// (`"APT IP"`), file-name prefix (`"APT_IP_Data_Feed"`) or feed ID (`"90"`). Default: empty.
    pub feed_confidence: BTreeMap<String, u8>,

    /// Maximum length of an attribute value in characters. Longer values are cut and end with
    /// the marker `… [truncated]`, which counts toward the limit. Default: 500, ThreatConnect's
    /// `maxSize` for many attribute types.
    pub max_attribute_length: usize,

    /// Attribute type per record field, overriding or extending the built-in names (for
    /// example `ip_whois = "IP WhoIs"`). Default: empty, so the built-in names apply.
    pub attribute_types: BTreeMap<String, String>,

    /// Attribute type for fields without a type name; the value reads `field: value`.
    /// Default: "Additional Analysis and Context".
    pub fallback_attribute_type: String,

    /// Attribute type of the summary built from category, threat and industry.
    /// Default: "Description".
    pub description_attribute_type: String,

    /// Attribute type naming the feed, its ID and the source file. Default: "Source".
    pub source_attribute_type: String,

    /// Attribute type holding the original Kaspersky mask of mask feeds. Default: "Kaspersky Mask".
    pub mask_attribute_type: String,

    /// Attribute type holding a `first_seen` that is not a recognized date, as written.
    /// Default: "First Seen".
    pub first_seen_attribute_type: String,

    /// Attribute type holding a `last_seen` that is not a recognized date, as written.
    /// Default: "Last Seen".
    pub last_seen_attribute_type: String,
    /// Security labels set on every indicator, such as `TLP:AMBER` for licensed feed data.
    /// Each must exist in the ThreatConnect instance. Default: none.
    pub security_labels: Vec<String>,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            default_rating: 3,
            default_confidence: 100,
            feed_confidence: BTreeMap::new(),
            max_attribute_length: 500,
            attribute_types: BTreeMap::new(),
            fallback_attribute_type: DEFAULT_FALLBACK_TYPE.to_owned(),
            description_attribute_type: DEFAULT_DESCRIPTION_TYPE.to_owned(),
            source_attribute_type: DEFAULT_SOURCE_TYPE.to_owned(),
            mask_attribute_type: DEFAULT_MASK_TYPE.to_owned(),
            first_seen_attribute_type: DEFAULT_FIRST_SEEN_TYPE.to_owned(),
            last_seen_attribute_type: DEFAULT_LAST_SEEN_TYPE.to_owned(),
            security_labels: Vec::new(),
        }
    }
}

/// An invalid [`RateConfig`] value.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RateConfigError {
    #[error("[stages.rate] security_labels holds an empty label name {0:?}")]
    SecurityLabel(String),
    #[error("invalid default_rating {0}: a threat rating is 0 to 5")]
    DefaultRating(u8),

    #[error("invalid default_confidence {0}: a confidence is 0 to 100")]
    DefaultConfidence(u8),

    #[error("invalid feed_confidence {value} for feed {feed:?}: a confidence is 0 to 100")]
    FeedConfidence { feed: String, value: u8 },

    #[error(
        "unknown feed {feed:?} in feed_confidence: use a feed name, ID or one of the prefixes \
         {known}"
    )]
    UnknownFeed { feed: String, known: String },

    #[error(
        "invalid max_attribute_length {value}: it must be at least {minimum} characters to fit \
         the truncation marker and some text"
    )]
    AttributeLength { value: usize, minimum: usize },

    #[error("empty attribute type name for {key}")]
    EmptyTypeName { key: String },
}

/// A checked [`RateConfig`] with its feed keys resolved against the catalog.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedConfig {
    pub config: RateConfig,
    pub feed_confidence: Vec<(&'static FeedSpec, u8)>,
    /// Attribute type per record field, looked up once per field of every record.
    pub attribute_types: foldhash::HashMap<String, &'static str>,
    pub types: TypeNames,
}

/// The attribute type names of [`RateConfig`] as strings every indicator can borrow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypeNames {
    pub fallback: &'static str,
    pub description: &'static str,
    pub source: &'static str,
    pub mask: &'static str,
    pub first_seen: &'static str,
    pub last_seen: &'static str,
}

/// The built-in attribute type names of [`RateConfig::default`].
const DEFAULT_FALLBACK_TYPE: &str = "Additional Analysis and Context";
const DEFAULT_DESCRIPTION_TYPE: &str = "Description";
const DEFAULT_SOURCE_TYPE: &str = "Source";
const DEFAULT_MASK_TYPE: &str = "Kaspersky Mask";
const DEFAULT_FIRST_SEEN_TYPE: &str = "First Seen";
const DEFAULT_LAST_SEEN_TYPE: &str = "Last Seen";

/// Returns `name` as a string that lives as long as the process. A built-in name is returned as
/// it is. Any other is leaked once, when a stage is built, so that every indicator can borrow it
/// instead of copying it.
fn lasting(name: &str) -> &'static str {
    let built_in = [
        DEFAULT_FALLBACK_TYPE,
        DEFAULT_DESCRIPTION_TYPE,
        DEFAULT_SOURCE_TYPE,
        DEFAULT_MASK_TYPE,
        DEFAULT_FIRST_SEEN_TYPE,
        DEFAULT_LAST_SEEN_TYPE,
    ];
    built_in
        .into_iter()
        .chain(DEFAULT_ATTRIBUTE_TYPES.iter().map(|(_, name)| *name))
        .find(|known| *known == name)
        .unwrap_or_else(|| Box::leak(name.into()))
}

impl RateConfig {
    /// Returns the smallest allowed `max_attribute_length`: the truncation marker plus ten
    /// characters of text.
    pub fn min_attribute_length() -> usize {
        TRUNCATION_MARKER.chars().count() + 10
    }

    /// Checks every value and resolves the feed keys of `feed_confidence`.
    pub(crate) fn resolve(self) -> Result<ResolvedConfig, RateConfigError> {
        if self.default_rating > 5 {
            return Err(RateConfigError::DefaultRating(self.default_rating));
        }
        if self.default_confidence > 100 {
            return Err(RateConfigError::DefaultConfidence(self.default_confidence));
        }
        if let Some(label) = self
            .security_labels
            .iter()
            .find(|label| label.trim().is_empty())
        {
            return Err(RateConfigError::SecurityLabel(label.clone()));
        }
        let minimum = RateConfig::min_attribute_length();
        if self.max_attribute_length < minimum {
            return Err(RateConfigError::AttributeLength {
                value: self.max_attribute_length,
                minimum,
            });
        }

        let mut feed_confidence = Vec::with_capacity(self.feed_confidence.len());
        for (feed, &value) in &self.feed_confidence {
            let spec = FeedCatalog
                .lookup(feed)
                .ok_or_else(|| RateConfigError::UnknownFeed {
                    feed: feed.clone(),
                    known: FeedCatalog.prefixes(),
                })?;
            if value > 100 {
                return Err(RateConfigError::FeedConfidence {
                    feed: feed.clone(),
                    value,
                });
            }
            feed_confidence.push((spec, value));
        }

        let named = [
            ("fallback_attribute_type", &self.fallback_attribute_type),
            (
                "description_attribute_type",
                &self.description_attribute_type,
            ),
            ("source_attribute_type", &self.source_attribute_type),
            ("mask_attribute_type", &self.mask_attribute_type),
            ("first_seen_attribute_type", &self.first_seen_attribute_type),
            ("last_seen_attribute_type", &self.last_seen_attribute_type),
        ];
        for (key, name) in named {
            if name.trim().is_empty() {
                return Err(RateConfigError::EmptyTypeName {
                    key: key.to_owned(),
                });
            }
        }

        let mut attribute_types: foldhash::HashMap<String, &'static str> = DEFAULT_ATTRIBUTE_TYPES
            .iter()
            .map(|(field, name)| ((*field).to_owned(), *name))
            .collect();
        for (field, name) in &self.attribute_types {
            if name.trim().is_empty() {
                return Err(RateConfigError::EmptyTypeName {
                    key: format!("attribute_types.{field}"),
                });
            }
            attribute_types.insert(field.clone(), lasting(name));
        }

        let types = TypeNames {
            fallback: lasting(&self.fallback_attribute_type),
            description: lasting(&self.description_attribute_type),
            source: lasting(&self.source_attribute_type),
            mask: lasting(&self.mask_attribute_type),
            first_seen: lasting(&self.first_seen_attribute_type),
            last_seen: lasting(&self.last_seen_attribute_type),
        };
        Ok(ResolvedConfig {
            config: self,
            feed_confidence,
            attribute_types,
            types,
        })
    }
}

impl ResolvedConfig {
    /// Returns the confidence for records of `feed` without a valid `threat_score`.
    pub fn default_confidence(&self, feed: &FeedSpec) -> u8 {
        self.feed_confidence
            .iter()
            .find(|(spec, _)| spec.prefix == feed.prefix)
            .map_or(self.config.default_confidence, |(_, value)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::feed;

    #[test]
    fn defaults() {
        let config = RateConfig::default();
        assert_eq!(config.default_rating, 3);
        assert_eq!(config.default_confidence, 100);
        assert_eq!(config.max_attribute_length, 500);
        assert_eq!(config.first_seen_attribute_type, "First Seen");
        assert_eq!(config.last_seen_attribute_type, "Last Seen");
        assert_eq!(
            config.fallback_attribute_type,
            "Additional Analysis and Context"
        );
    }

    #[test]
    fn empty_toml_gives_defaults() {
        let config: RateConfig = toml::from_str("").unwrap();
        assert_eq!(config, RateConfig::default());
    }

    #[test]
    fn toml_overrides_named_keys() {
        let config: RateConfig = toml::from_str(
            r#"
            default_rating = 2
            max_attribute_length = 1000
            feed_confidence = { "APT IP" = 90 }
            [attribute_types]
            ip_whois = "Kaspersky IP WhoIs"
            "#,
        )
        .unwrap();
        assert_eq!(config.default_rating, 2);
        assert_eq!(config.default_confidence, 100);
        assert_eq!(config.max_attribute_length, 1000);
        assert_eq!(config.feed_confidence["APT IP"], 90);
        assert_eq!(config.attribute_types["ip_whois"], "Kaspersky IP WhoIs");
    }

    #[test]
    fn unknown_toml_key_is_error() {
        let error = toml::from_str::<RateConfig>("default_ratting = 2").unwrap_err();
        assert!(error.to_string().contains("default_ratting"), "{error}");
    }

    #[test]
    fn out_of_range_values_are_errors() {
        let config = RateConfig {
            default_rating: 6,
            ..RateConfig::default()
        };
        assert_eq!(
            config.resolve().unwrap_err(),
            RateConfigError::DefaultRating(6)
        );

        let config = RateConfig {
            default_confidence: 101,
            ..RateConfig::default()
        };
        assert_eq!(
            config.resolve().unwrap_err(),
            RateConfigError::DefaultConfidence(101)
        );

        let config = RateConfig {
            max_attribute_length: 5,
            ..RateConfig::default()
        };
        assert!(matches!(
            config.resolve().unwrap_err(),
            RateConfigError::AttributeLength { value: 5, .. }
        ));

        let mut config = RateConfig::default();
        config.feed_confidence.insert("APT IP".to_owned(), 150);
        assert!(matches!(
            config.resolve().unwrap_err(),
            RateConfigError::FeedConfidence { value: 150, .. }
        ));
    }

    #[test]
    fn unknown_feed_lists_prefixes() {
        let mut config = RateConfig::default();
        config.feed_confidence.insert("No Such Feed".to_owned(), 50);
        let error = config.resolve().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("\"No Such Feed\""), "{message}");
        assert!(message.contains("IP_Reputation_Data_Feed"), "{message}");
    }

    #[test]
    fn empty_type_name_is_error() {
        let mut config = RateConfig::default();
        config
            .attribute_types
            .insert("whois".to_owned(), " ".to_owned());
        assert_eq!(
            config.resolve().unwrap_err(),
            RateConfigError::EmptyTypeName {
                key: "attribute_types.whois".to_owned()
            }
        );
        let config = RateConfig {
            source_attribute_type: String::new(),
            ..RateConfig::default()
        };
        assert!(matches!(
            config.resolve().unwrap_err(),
            RateConfigError::EmptyTypeName { .. }
        ));
    }

    #[test]
    fn feed_confidence_by_name_prefix_or_id() {
        let mut config = RateConfig::default();
        config.feed_confidence.insert("APT IP".to_owned(), 90);
        config
            .feed_confidence
            .insert("Demo_IP_Reputation_Data_Feed".to_owned(), 20);
        config.feed_confidence.insert("116".to_owned(), 70);
        let resolved = config.resolve().unwrap();
        assert_eq!(resolved.default_confidence(feed("APT IP")), 90);
        assert_eq!(resolved.default_confidence(feed("Demo IP Reputation")), 20);
        assert_eq!(resolved.default_confidence(feed("Phishing URL Exact")), 70);
        assert_eq!(resolved.default_confidence(feed("IP Reputation")), 100);
    }

    #[test]
    fn attribute_types_merge_over_defaults() {
        let mut config = RateConfig::default();
        config
            .attribute_types
            .insert("ip_whois".to_owned(), "Custom WhoIs".to_owned());
        config
            .attribute_types
            .insert("stolen_data_type".to_owned(), "Stolen Data".to_owned());
        let resolved = config.resolve().unwrap();
        assert_eq!(resolved.attribute_types["ip_whois"], "Custom WhoIs");
        assert_eq!(resolved.attribute_types["stolen_data_type"], "Stolen Data");
        assert_eq!(resolved.attribute_types["files"], "Files");
    }
}
