//! Record shapes: which fields a record of each kind of feed carries, and how often. A feed's
//! shape follows from its catalog entry (its key field and its name), so every catalog feed can
//! be generated, including feeds added later with a known key kind.

use feedpipe_pipeline::{FeedSpec, KeyKind};

use super::fields::Synth;
use super::vocab;

/// The kind of record a feed holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// IP Reputation: `ip`, score, category, geo, `ip_whois` on about half, `files` on some.
    IpReputation,
    /// URL-mask feeds; the flavour adds the feed's own context fields.
    Url(UrlFlavour),
    /// Malicious, Mobile and ICS hash feeds: hashes, verdict, file type, URLs.
    Hash(HashFlavour),
    /// APT IP, APT URL and APT Hash: the key plus publication fields.
    Apt(KeyKind),
    /// Vulnerability and ICS Vulnerability: a hash with severity, CVE and exploits.
    Vulnerability,
    /// Mobile Botnet: mostly mask records with C&C context, some hash-keyed records.
    MobileBotnet,
}

/// The context fields of a URL-mask feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlFlavour {
    /// Malicious URL: `category` and `files`.
    Malicious,
    /// Phishing URL: `industry`, stolen data type, targeted organisation.
    Phishing,
    /// Botnet C&C URL: `threat` and the bots' `urls`.
    Botnet,
    /// Ransomware and IoT URL: `files` with their verdicts.
    Files,
}

/// The verdict platforms of a hash feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFlavour {
    Desktop,
    Mobile,
    Ics,
}

impl Shape {
    /// Returns the shape of a catalog feed's records.
    pub fn of(spec: &FeedSpec) -> Shape {
        let prefix = spec.prefix;
        if prefix.contains("APT_") {
            let key = match spec.key {
                KeyKind::MaskOrHash => KeyKind::Mask,
                key => key,
            };
            return Shape::Apt(key);
        }
        if prefix.contains("Vulnerability") {
            return Shape::Vulnerability;
        }
        match spec.key {
            KeyKind::Ip => Shape::IpReputation,
            KeyKind::MaskOrHash => Shape::MobileBotnet,
            KeyKind::Hash if prefix.contains("Mobile") => Shape::Hash(HashFlavour::Mobile),
            KeyKind::Hash if prefix.contains("ICS") => Shape::Hash(HashFlavour::Ics),
            KeyKind::Hash => Shape::Hash(HashFlavour::Desktop),
            KeyKind::Mask if prefix.contains("Phishing") => Shape::Url(UrlFlavour::Phishing),
            KeyKind::Mask if prefix.contains("Botnet") => Shape::Url(UrlFlavour::Botnet),
            KeyKind::Mask if prefix.contains("Malicious") => Shape::Url(UrlFlavour::Malicious),
            KeyKind::Mask => Shape::Url(UrlFlavour::Files),
        }
    }

    /// Writes record number `index` as one object into `synth.buf`.
    pub fn write_record(self, synth: &mut Synth, index: u64) {
        synth.buf.begin_object();
        synth.int_field("id", 100_000_000 + index * 7);
        match self {
            Shape::IpReputation => ip_reputation(synth),
            Shape::Url(flavour) => url(synth, flavour),
            Shape::Hash(flavour) => hash(synth, flavour),
            Shape::Apt(key) => apt(synth, key),
            Shape::Vulnerability => vulnerability(synth),
            Shape::MobileBotnet => mobile_botnet(synth),
        }
        synth.buf.end_object();
    }
}

fn ip_reputation(synth: &mut Synth) {
    synth.buf.key("ip");
    synth.ip_value();
    let score = synth.rng.range(50, 100);
    synth.int_field("threat_score", score);
    synth.pick_field("category", vocab::IP_CATEGORIES);
    synth.seen_fields();
    synth.popularity_field();
    synth.pick_field("ip_geo", vocab::COUNTRIES);
    if synth.rng.percent(70) {
        synth.geo_field("users_geo", 10);
    }
    if synth.rng.percent(50) {
        synth.ip_whois_field();
    }
    if synth.rng.percent(20) {
        synth.files_field("files", 3);
    }
}

/// Writes a `mask` and its `type`. Most masks are a host or a host with a path; some are
/// `host/*`, `*.host` or an address; about one in twenty-five has a wildcard inside a label or
/// path, which ThreatConnect cannot take. The `type` is 1 for masks without a path and 20 for
/// masks with one, the only two codes seen in published records.
fn mask_fields(synth: &mut Synth) {
    let form = synth.rng.below(100);
    synth.buf.key("mask");
    synth.buf.begin_string();
    let mask_type = match form {
        0..=44 => {
            synth.raw_host();
            1
        }
        45..=79 => {
            synth.raw_host();
            synth.buf.raw(b"/");
            synth.raw_path(false);
            20
        }
        80..=87 => {
            synth.raw_host();
            synth.buf.raw(b"/*");
            20
        }
        88..=92 => {
            synth.buf.raw(b"*.");
            synth.raw_host();
            1
        }
        93..=95 => {
            synth.raw_ipv4();
            if form == 95 {
                synth.buf.raw(b"/");
                synth.raw_path(false);
                20
            } else {
                1
            }
        }
        96..=97 => {
            synth.raw_host();
            synth.buf.raw(b"/files/*.exe");
            20
        }
        _ => {
            synth.buf.raw(b"upd?te");
            synth.buf.digits(synth.rng.below(100));
            synth.buf.raw(b".example.com/*/panel");
            20
        }
    };
    synth.buf.end_string();
    synth.int_field("type", mask_type);
}

fn url(synth: &mut Synth, flavour: UrlFlavour) {
    mask_fields(synth);
    synth.seen_fields();
    synth.popularity_field();
    if synth.rng.percent(80) {
        synth.geo_field("geo", 10);
    }
    if synth.rng.percent(75) {
        synth.ip_list_field();
    }
    match flavour {
        UrlFlavour::Malicious => {
            synth.pick_field("category", vocab::URL_CATEGORIES);
            if synth.rng.percent(40) {
                synth.files_field("files", 3);
            }
        }
        UrlFlavour::Phishing => {
            synth.pick_field("industry", vocab::INDUSTRIES);
            synth.pick_field("stolen_data_type", vocab::STOLEN_DATA);
            synth.pick_field("targeted_organization", vocab::ORGANIZATIONS);
            synth.str_field("attack_type", "Phishing");
        }
        UrlFlavour::Botnet => {
            synth.verdict_field("threat", vocab::PLATFORMS);
            if synth.rng.percent(60) {
                synth.urls_field(5);
            }
        }
        UrlFlavour::Files => {
            if synth.rng.percent(70) {
                synth.files_field("files", 3);
            }
        }
    }
    if synth.rng.percent(60) {
        synth.whois_field();
    }
}

/// Writes the hash keys: MD5 always, SHA1 and SHA256 on most records.
fn hash_keys(synth: &mut Synth) {
    synth.hex_field("MD5", 16);
    if synth.rng.percent(70) {
        synth.hex_field("SHA1", 20);
    }
    if synth.rng.percent(85) {
        synth.hex_field("SHA256", 32);
    }
}

fn hash(synth: &mut Synth, flavour: HashFlavour) {
    hash_keys(synth);
    match flavour {
        HashFlavour::Desktop => {
            synth.verdict_field("threat", vocab::PLATFORMS);
            synth.pick_field("file_type", vocab::FILE_TYPES);
        }
        HashFlavour::Mobile => {
            synth.verdict_field("threat", &["AndroidOS", "iPhoneOS"]);
            synth.str_field("file_type", "APK");
        }
        HashFlavour::Ics => {
            synth.verdict_field("threat", vocab::PLATFORMS);
            synth.pick_field("file_type", vocab::FILE_TYPES);
        }
    }
    let size = synth.rng.range(1_024, 20_000_000);
    synth.int_field("file_size", size);
    synth.seen_fields();
    synth.popularity_field();
    if synth.rng.percent(80) {
        synth.geo_field("geo", 10);
    }
    if synth.rng.percent(50) {
        synth.urls_field(3);
    }
}

fn apt(synth: &mut Synth, key: KeyKind) {
    match key {
        KeyKind::Ip => {
            synth.buf.key("ip");
            synth.ip_value();
        }
        KeyKind::Hash => hash_keys(synth),
        KeyKind::Mask | KeyKind::MaskOrHash => {
            synth.buf.key("mask");
            synth.buf.begin_string();
            synth.raw_host();
            synth.buf.end_string();
            synth.int_field("type", 1);
        }
    }
    synth.date_field("detection_date");
    synth.pick_field("publication_name", vocab::PUBLICATIONS);
    synth.buf.key("api_publication_id");
    synth.buf.begin_string();
    let rng = &mut synth.rng;
    synth.buf.hex(|| rng.next_u64(), 4);
    synth.buf.end_string();
    let first = *synth.rng.pick(vocab::ACTORS);
    if synth.rng.percent(30) {
        let second = *synth.rng.pick(vocab::ACTORS);
        synth.buf.key("actors");
        synth.buf.string_parts(&[first, ", ", second]);
    } else {
        synth.str_field("actors", first);
    }
    let industry = *synth.rng.pick(vocab::INDUSTRIES);
    let other = *synth.rng.pick(vocab::INDUSTRIES);
    synth.buf.key("industries");
    synth.buf.string_parts(&[industry, ", ", other]);
    synth.geo_field("geo", 4);
}

fn vulnerability(synth: &mut Synth) {
    hash_keys(synth);
    synth.pick_field("severity", vocab::SEVERITIES);
    synth.buf.key("cve");
    synth.buf.begin_string();
    synth.buf.raw(b"CVE-");
    synth.buf.digits(synth.rng.range(2014, 2025));
    synth.buf.raw(b"-");
    synth.buf.digits(synth.rng.range(1000, 49_999));
    synth.buf.end_string();
    synth.pick_field("product", vocab::PRODUCTS);
    synth.files_field("exploits", 3);
    synth.seen_fields();
    synth.popularity_field();
}

fn mobile_botnet(synth: &mut Synth) {
    if synth.rng.percent(75) {
        mask_fields(synth);
        synth.pick_field("category", vocab::MOBILE_CATEGORIES);
    } else {
        synth.hex_field("MD5", 16);
    }
    synth.verdict_field("threat", &["AndroidOS"]);
    synth.seen_fields();
    synth.popularity_field();
    if synth.rng.percent(60) {
        synth.geo_field("geo", 6);
    }
    if synth.rng.percent(50) {
        synth.urls_field(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedpipe_pipeline::FeedCatalog;

    #[test]
    fn shapes_of_catalog_feeds() {
        let catalog = FeedCatalog;
        let shape = |name: &str| Shape::of(catalog.lookup(name).unwrap());
        assert_eq!(shape("68"), Shape::IpReputation);
        assert_eq!(shape("Demo IP Reputation"), Shape::IpReputation);
        assert_eq!(shape("90"), Shape::Apt(KeyKind::Ip));
        assert_eq!(shape("91"), Shape::Apt(KeyKind::Mask));
        assert_eq!(shape("89"), Shape::Apt(KeyKind::Hash));
        assert_eq!(shape("137"), Shape::Vulnerability);
        assert_eq!(shape("151"), Shape::Vulnerability);
        assert_eq!(shape("139"), Shape::MobileBotnet);
        assert_eq!(shape("67"), Shape::Hash(HashFlavour::Mobile));
        assert_eq!(shape("141"), Shape::Hash(HashFlavour::Ics));
        assert_eq!(shape("66"), Shape::Hash(HashFlavour::Desktop));
        assert_eq!(shape("116"), Shape::Url(UrlFlavour::Phishing));
        assert_eq!(shape("65"), Shape::Url(UrlFlavour::Botnet));
        assert_eq!(shape("117"), Shape::Url(UrlFlavour::Malicious));
        assert_eq!(shape("99"), Shape::Url(UrlFlavour::Files));
        assert_eq!(shape("126"), Shape::Url(UrlFlavour::Files));
    }
}
