//! The Kaspersky feed catalog: one table that names every feed feedpipe reads, its Kaspersky feed
//! ID, its file-name prefix, the indicator types it yields, its fixed tags and the record fields
//! that tags are built from. Feed IDs come from the Kaspersky Threat Feed App for ThreatConnect
//! documentation ("Data feeds from Kaspersky"); ID 65 (Botnet C&C URL) comes from the CyberTrace
//! feed-rules documentation. Feeds whose ID Kaspersky does not publish have `id: None`.

use std::fmt;

use crate::indicator::IndicatorType;

/// The field a feed's records are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// An `ip` field holding an IPv4 or IPv6 address.
    Ip,
    /// A `mask` field: a normalized URL mask that becomes an Address, Host or URL.
    Mask,
    /// `MD5`, `SHA1` and `SHA256` fields: a File indicator.
    Hash,
    /// A `mask` when the record has one, else its hashes (Mobile Botnet records come in both shapes).
    MaskOrHash,
}

/// One catalog entry.
#[derive(Debug, PartialEq, Eq)]
pub struct FeedSpec {
    /// Display name, for example `IP Reputation`.
    pub name: &'static str,
    /// Kaspersky feed ID, where Kaspersky publishes one.
    pub id: Option<u32>,
    /// File-name prefix, for example `IP_Reputation_Data_Feed`.
    pub prefix: &'static str,
    /// Field the records are keyed by.
    pub key: KeyKind,
    /// ThreatConnect indicator types the feed yields.
    pub indicator_types: &'static [IndicatorType],
    /// Tags set on every indicator of the feed.
    pub tags: &'static [&'static str],
    /// Record fields whose values become tags; `a/b` is the field `b` of every element of array `a`.
    pub tag_fields: &'static [&'static str],
    /// Prefix of the feed that supersedes this one when a run is given both.
    pub superseded_by: Option<&'static str>,
    /// Whether this is a Kaspersky demo feed.
    pub demo: bool,
}

impl FeedSpec {
    /// Returns the feed ID as text, or `-` where Kaspersky publishes none.
    pub fn id_text(&self) -> String {
        self.id.map_or_else(|| "-".to_owned(), |id| id.to_string())
    }
}

impl fmt::Display for FeedSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

const ADDRESS: &[IndicatorType] = &[IndicatorType::Address];
const FILE: &[IndicatorType] = &[IndicatorType::File];
const FROM_MASK: &[IndicatorType] = &[
    IndicatorType::Address,
    IndicatorType::Host,
    IndicatorType::Url,
];
const FROM_MASK_OR_HASH: &[IndicatorType] = &[
    IndicatorType::Address,
    IndicatorType::Host,
    IndicatorType::Url,
    IndicatorType::File,
];

macro_rules! feed {
    ($name:expr, $id:expr, $prefix:expr, $key:expr, $types:expr, [$($tag:expr),*], [$($field:expr),*]) => {
        feed!($name, $id, $prefix, $key, $types, [$($tag),*], [$($field),*], None, false)
    };
    ($name:expr, $id:expr, $prefix:expr, $key:expr, $types:expr, [$($tag:expr),*], [$($field:expr),*], $superseded_by:expr, $demo:expr) => {
        FeedSpec {
            name: $name,
            id: $id,
            prefix: $prefix,
            key: $key,
            indicator_types: $types,
            tags: &[$($tag),*],
            tag_fields: &[$($field),*],
            superseded_by: $superseded_by,
            demo: $demo,
        }
    };
}

/// Every feed feedpipe reads, in the order `feedpipe feeds` prints them.
pub static FEEDS: &[FeedSpec] = &[
    feed!(
        "IP Reputation",
        Some(68),
        "IP_Reputation_Data_Feed",
        KeyKind::Ip,
        ADDRESS,
        ["Kaspersky", "IP_Reputation"],
        ["category", "files/threat"]
    ),
    feed!(
        "Ransomware URL",
        Some(99),
        "Ransomware_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Ransomware_URL"],
        ["files/threat"]
    ),
    feed!(
        "Mobile Botnet",
        Some(139),
        "Mobile_Botnet_Data_Feed",
        KeyKind::MaskOrHash,
        FROM_MASK_OR_HASH,
        ["Kaspersky", "Mobile_Botnet"],
        ["category", "threat"]
    ),
    feed!(
        "Malicious Hash",
        Some(66),
        "Malicious_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "Malicious_Hash"],
        ["threat", "file_type"]
    ),
    feed!(
        "Mobile Malicious Hash",
        Some(67),
        "Mobile_Malicious_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "Malicious_Hash"],
        ["threat"]
    ),
    feed!(
        "Malicious URL Exact",
        Some(117),
        "Malicious_URL_Exact_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Malicious_URL_Exact"],
        ["category", "files/threat"]
    ),
    feed!(
        "Phishing URL Exact",
        Some(116),
        "Phishing_URL_Exact_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Phishing_URL_Exact"],
        ["industry"]
    ),
    feed!(
        "ICS Hash",
        Some(141),
        "ICS_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "ICS_Hash"],
        ["file_type", "threat"]
    ),
    feed!(
        "IoT URL",
        Some(126),
        "IoT_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "IOT_URL"],
        ["files/threat"]
    ),
    feed!(
        "APT Hash",
        Some(89),
        "APT_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "APT_Hash"],
        []
    ),
    feed!(
        "APT IP",
        Some(90),
        "APT_IP_Data_Feed",
        KeyKind::Ip,
        ADDRESS,
        ["Kaspersky", "APT_IP"],
        []
    ),
    feed!(
        "APT URL",
        Some(91),
        "APT_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "APT_URL"],
        []
    ),
    feed!(
        "Vulnerability",
        Some(137),
        "Vulnerability_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "Vulnerability"],
        ["exploits/threat"],
        Some("ICS_Vulnerability_Data_Feed"),
        false
    ),
    feed!(
        "ICS Vulnerability",
        Some(151),
        "ICS_Vulnerability_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "ICS_Vulnerability"],
        ["exploits/threat"]
    ),
    feed!(
        "Botnet C&C URL Exact",
        Some(115),
        "Botnet_CnC_URL_Exact_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Botnet_CnC_URL_Exact"],
        ["threat"]
    ),
    feed!(
        "Malicious URL",
        None,
        "Malicious_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Malicious_URL"],
        ["category", "files/threat"],
        Some("Malicious_URL_Exact_Data_Feed"),
        false
    ),
    feed!(
        "Phishing URL",
        None,
        "Phishing_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Phishing_URL"],
        ["industry"],
        Some("Phishing_URL_Exact_Data_Feed"),
        false
    ),
    feed!(
        "Botnet C&C URL",
        Some(65),
        "Botnet_CnC_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Botnet_CnC_URL"],
        ["threat"],
        Some("Botnet_CnC_URL_Exact_Data_Feed"),
        false
    ),
    feed!(
        "Demo IP Reputation",
        None,
        "Demo_IP_Reputation_Data_Feed",
        KeyKind::Ip,
        ADDRESS,
        ["Kaspersky", "Demo_IP_Reputation"],
        ["category", "files/threat"],
        None,
        true
    ),
    feed!(
        "Demo Botnet C&C URL",
        None,
        "Demo_Botnet_CnC_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Demo_Botnet_CnC_URL"],
        ["threat"],
        None,
        true
    ),
    feed!(
        "Demo Malicious Hash",
        None,
        "Demo_Malicious_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "Demo_Malicious_Hash"],
        ["threat", "file_type"],
        None,
        true
    ),
    feed!(
        "Demo APT Hash",
        None,
        "Demo_APT_Hash_Data_Feed",
        KeyKind::Hash,
        FILE,
        ["Kaspersky", "Demo_APT_Hash"],
        [],
        None,
        true
    ),
    feed!(
        "Demo APT IP",
        None,
        "Demo_APT_IP_Data_Feed",
        KeyKind::Ip,
        ADDRESS,
        ["Kaspersky", "Demo_APT_IP"],
        [],
        None,
        true
    ),
    feed!(
        "Demo APT URL",
        None,
        "Demo_APT_URL_Data_Feed",
        KeyKind::Mask,
        FROM_MASK,
        ["Kaspersky", "Demo_APT_URL"],
        [],
        None,
        true
    ),
];

/// Lookups over [`FEEDS`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedCatalog;

impl FeedCatalog {
    /// Returns every catalog entry.
    pub fn all(&self) -> &'static [FeedSpec] {
        FEEDS
    }

    /// Finds the feed a file belongs to from its file name, by the longest matching prefix.
    /// The prefix must be followed by the end of the stem, `_` or `.` so that
    /// `Malicious_URL_Data_Feed` never claims `Malicious_URL_Data_Feeds_old.json`.
    pub fn detect(&self, file_name: &str) -> Option<&'static FeedSpec> {
        FEEDS
            .iter()
            .filter(|spec| {
                file_name.strip_prefix(spec.prefix).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with('_') || rest.starts_with('.')
                })
            })
            .max_by_key(|spec| spec.prefix.len())
    }

    /// Finds a feed by its display name, its file-name prefix or its numeric ID, ignoring case,
    /// spaces and underscores in names.
    pub fn lookup(&self, name_or_id: &str) -> Option<&'static FeedSpec> {
        let wanted = name_or_id.trim();
        if let Ok(id) = wanted.parse::<u32>() {
            return FEEDS.iter().find(|spec| spec.id == Some(id));
        }
        let wanted = squash(wanted);
        FEEDS
            .iter()
            .find(|spec| squash(spec.name) == wanted || squash(spec.prefix) == wanted)
    }

    /// Lists the known file-name prefixes, for error messages.
    pub fn prefixes(&self) -> String {
        FEEDS
            .iter()
            .map(|spec| spec.prefix)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Lower-cases a name and drops spaces, underscores and `&`, so that `Botnet C&C URL`,
/// `botnet_cnc_url` and `Botnet_CnC_URL_Data_Feed` can be compared.
fn squash(name: &str) -> String {
    let lowered: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '&' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    let lowered = lowered.replace("cnc", "cc");
    lowered
        .strip_suffix("datafeed")
        .unwrap_or(&lowered)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_prefix() {
        let catalog = FeedCatalog;
        let spec = catalog
            .detect("IP_Reputation_Data_Feed_200516_1445.json")
            .unwrap();
        assert_eq!(spec.id, Some(68));
        assert_eq!(
            catalog
                .detect("Demo_IP_Reputation_Data_Feed.json")
                .unwrap()
                .name,
            "Demo IP Reputation"
        );
        assert_eq!(
            catalog
                .detect("Malicious_URL_Exact_Data_Feed_250101_0000.json.gz")
                .unwrap()
                .id,
            Some(117)
        );
        assert_eq!(
            catalog
                .detect("ICS_Vulnerability_Data_Feed.zip")
                .unwrap()
                .id,
            Some(151)
        );
        assert_eq!(
            catalog
                .detect("Mobile_Malicious_Hash_Data_Feed_1.json")
                .unwrap()
                .id,
            Some(67)
        );
    }

    #[test]
    fn detect_rejects_unknown_names() {
        let catalog = FeedCatalog;
        assert!(catalog.detect("feed.json").is_none());
        assert!(catalog.detect("IP_Reputation_Data_Feeds.json").is_none());
    }

    #[test]
    fn lookup_by_name_prefix_or_id() {
        let catalog = FeedCatalog;
        assert_eq!(catalog.lookup("115").unwrap().name, "Botnet C&C URL Exact");
        assert_eq!(catalog.lookup("65").unwrap().name, "Botnet C&C URL");
        assert_eq!(catalog.lookup("botnet c&c url").unwrap().id, Some(65));
        assert_eq!(
            catalog.lookup("Botnet_CnC_URL_Data_Feed").unwrap().id,
            Some(65)
        );
        assert_eq!(catalog.lookup("ip reputation").unwrap().id, Some(68));
        assert!(catalog.lookup("9999").is_none());
        assert!(catalog.lookup("no such feed").is_none());
    }

    #[test]
    fn catalog_is_consistent() {
        for spec in FEEDS {
            assert_eq!(spec.tags[0], "Kaspersky", "{}", spec.name);
            if let Some(prefix) = spec.superseded_by {
                assert!(
                    FEEDS.iter().any(|other| other.prefix == prefix),
                    "{} is superseded by an unknown prefix {prefix}",
                    spec.name
                );
            }
            let ids = FEEDS
                .iter()
                .filter(|other| spec.id.is_some() && other.id == spec.id);
            assert_eq!(
                ids.count(),
                if spec.id.is_some() { 1 } else { 0 },
                "{}",
                spec.name
            );
        }
        assert_eq!(FEEDS.len(), 24);
    }
}
