//! Value rules for indicator summaries and dates, as ThreatConnect documents them.
//!
//! Each check returns the normalized value that identifies the indicator, or a reason that names
//! the rejected value. Hosts and URL hosts must be ASCII (IDNs as punycode), URL hosts lower-case,
//! file hashes 32, 40 or 64 hex digits.

use std::net::IpAddr;

/// Checks an Address summary and returns the canonical text of the IPv4 or IPv6 address.
pub fn address(value: &str) -> Result<String, String> {
    value
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("Address '{value}' is not a valid IPv4 or IPv6 address"))
}

/// Checks a Host summary and returns it lower-cased.
///
/// The accepted grammar is ASCII letters, digits, `-` and `_` in at least two labels of 1 to 63
/// characters that neither start nor end with `-`, at most 253 characters in all. The top-level
/// label cannot be all digits, so an IPv4 address is not a Host.
pub fn host(value: &str) -> Result<String, String> {
    if !value.is_ascii() {
        return Err(format!(
            "Host '{value}' contains non-ASCII characters; internationalized names must be \
             sent as punycode (xn--)"
        ));
    }
    check_hostname(value).map_err(|reason| format!("Host '{value}' is invalid: {reason}"))?;
    Ok(value.to_ascii_lowercase())
}

fn check_hostname(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("empty host name");
    }
    if value.len() > 253 {
        return Err("longer than 253 characters");
    }

    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err("a host name needs at least two labels");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("each label must be 1 to 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !label.chars().all(allowed) {
            return Err("only letters, digits, '-' and '_' are allowed in labels");
        }
    }

    let top_level = labels[labels.len() - 1];
    if top_level.chars().all(|c| c.is_ascii_digit()) {
        return Err("the top-level label cannot be numeric");
    }
    Ok(())
}

/// Checks a URL summary: a scheme, `://`, and an ASCII lower-case host or IP literal. The URL is
/// its own identity, so it is returned unchanged.
pub fn url(value: &str) -> Result<String, String> {
    let invalid = |reason: &str| format!("URL '{value}' is invalid: {reason}");

    if value.chars().any(char::is_whitespace) {
        return Err(invalid("it contains whitespace"));
    }
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| invalid("it has no protocol (such as http://)"))?;
    let scheme_valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_valid {
        return Err(invalid("the protocol is not valid"));
    }

    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = strip_port(host_and_port);
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    if !host.is_ascii() {
        return Err(invalid(
            "the host contains non-ASCII characters; use punycode (xn--)",
        ));
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(invalid("the host must be lower-case"));
    }

    let is_ip_literal = host.parse::<IpAddr>().is_ok()
        || (host.starts_with('[') && host.ends_with(']'))
            && host[1..host.len() - 1].parse::<IpAddr>().is_ok();
    if !is_ip_literal {
        check_hostname(host).map_err(|reason| invalid(&format!("host '{host}': {reason}")))?;
    }
    Ok(value.to_owned())
}

fn strip_port(host_and_port: &str) -> &str {
    if host_and_port.starts_with('[') {
        return match host_and_port.find(']') {
            Some(end) => &host_and_port[..=end],
            None => host_and_port,
        };
    }
    match host_and_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_and_port,
    }
}

/// The hashes of a File indicator, upper-case hex.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileHashes {
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

impl FileHashes {
    /// Returns the summary `md5 : sha1 : sha256` of the hashes present.
    pub fn summary(&self) -> String {
        [&self.md5, &self.sha1, &self.sha256]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" : ")
    }

    /// Returns the hashes present, in md5, sha1, sha256 order.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        [&self.md5, &self.sha1, &self.sha256]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none() && self.sha256.is_none()
    }

    fn slot(&mut self, length: usize) -> &mut Option<String> {
        match length {
            32 => &mut self.md5,
            40 => &mut self.sha1,
            _ => &mut self.sha256,
        }
    }

    /// Sets one hash, checking that it is hex of the length its field name requires.
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), String> {
        let length = match field {
            "md5" => 32,
            "sha1" => 40,
            _ => 64,
        };
        let hash = hex_hash(value)
            .filter(|hash| hash.len() == length)
            .ok_or_else(|| format!("File {field} '{value}' is not {length} hexadecimal digits"))?;
        *self.slot(length) = Some(hash);
        Ok(())
    }
}

fn hex_hash(value: &str) -> Option<String> {
    let valid_length = matches!(value.len(), 32 | 40 | 64);
    if valid_length && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Some(value.to_ascii_uppercase())
    } else {
        None
    }
}

/// Splits a File summary such as `md5 : sha1 : sha256` (any subset, spaces optional) into hashes
/// classified by length.
pub fn file_summary(value: &str) -> Result<FileHashes, String> {
    let mut hashes = FileHashes::default();
    for part in value.split(':').map(str::trim) {
        let hash = hex_hash(part).ok_or_else(|| {
            format!("File summary '{value}': '{part}' is not a 32, 40 or 64 digit hex hash")
        })?;
        let slot = hashes.slot(hash.len());
        if slot.is_some() {
            return Err(format!(
                "File summary '{value}' contains two hashes of {} digits",
                hash.len()
            ));
        }
        *slot = Some(hash);
    }
    Ok(hashes)
}

/// Checks an ASN summary: only the form `ASN12345`.
pub fn asn(value: &str) -> Result<String, String> {
    match value.strip_prefix("ASN") {
        Some(digits) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
            Ok(value.to_owned())
        }
        _ => Err(format!("ASN '{value}' must have the form ASN12345")),
    }
}

/// Checks a CIDR summary. IPv6 blocks must be written out in full, without `::`, without leading
/// zeros in a group (`0` rather than `0000`).
pub fn cidr(value: &str) -> Result<String, String> {
    let invalid = |reason: &str| format!("CIDR '{value}' is invalid: {reason}");
    let (address, prefix) = value
        .split_once('/')
        .ok_or_else(|| invalid("the /prefix is missing"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| invalid("the prefix is not a number"))?;

    if address.contains(':') {
        if address.contains("::") {
            return Err(invalid("IPv6 blocks cannot use :: compression"));
        }
        let groups: Vec<&str> = address.split(':').collect();
        let group_valid = |group: &&str| {
            (1..=4).contains(&group.len())
                && group.chars().all(|c| c.is_ascii_hexdigit())
                && !(group.len() > 1 && group.starts_with('0'))
        };
        if groups.len() != 8 || !groups.iter().all(group_valid) {
            return Err(invalid(
                "IPv6 blocks need eight groups of hex digits without leading zeros",
            ));
        }
        if prefix > 128 {
            return Err(invalid("the prefix is larger than 128"));
        }
        return Ok(value.to_ascii_lowercase());
    }

    address
        .parse::<std::net::Ipv4Addr>()
        .map_err(|_| invalid("the address is not a valid IPv4 or IPv6 address"))?;
    if prefix > 32 {
        return Err(invalid("the prefix is larger than 32"));
    }
    Ok(value.to_owned())
}

/// Checks an EmailAddress summary: a non-empty local part and a valid host name.
pub fn email_address(value: &str) -> Result<String, String> {
    let (local, domain) = value
        .rsplit_once('@')
        .ok_or_else(|| format!("EmailAddress '{value}' has no '@'"))?;
    if local.is_empty() || local.chars().any(char::is_whitespace) {
        return Err(format!("EmailAddress '{value}' has an invalid local part"));
    }
    if !domain.is_ascii() {
        return Err(format!(
            "EmailAddress '{value}' has a non-ASCII domain; use punycode"
        ));
    }
    check_hostname(domain).map_err(|reason| format!("EmailAddress '{value}': {reason}"))?;
    Ok(value.to_ascii_lowercase())
}

const REGISTRY_HIVES: [&str; 9] = [
    "HKEY_CLASSES_ROOT",
    "HKEY_CURRENT_CONFIG",
    "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER_LOCAL_SETTINGS",
    "HKEY_LOCAL_MACHINE",
    "HKEY_PERFORMANCE_DATA",
    "HKEY_PERFORMANCE_NLSTEXT",
    "HKEY_PERFORMANCE_TEXT",
    "HKEY_USERS",
];

/// Checks a Registry Key summary (`Key Name : Value Name : Value Type`): the key name must start
/// with a full hive name such as `HKEY_LOCAL_MACHINE`.
pub fn registry_key(value: &str) -> Result<String, String> {
    let key_name = value.split(" : ").next().unwrap_or_default();
    let hive = key_name.split('\\').next().unwrap_or_default();
    if REGISTRY_HIVES.contains(&hive) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "Registry Key '{value}' must start with a full hive name such as HKEY_LOCAL_MACHINE"
        ))
    }
}

/// Checks a free-text summary (Mutex, User Agent): it must not be blank.
pub fn free_text(type_name: &str, value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("{type_name} summary is empty"))
    } else {
        Ok(value.to_owned())
    }
}

/// Checks an ISO 8601 date-time such as `2023-08-25T18:23:43Z`: date, `T`, time with optional
/// fraction, and `Z` or a `±HH:MM` offset. A bare date `2023-08-25` is accepted too.
pub fn date_time(field: &str, value: &str) -> Result<(), String> {
    if is_date_time(value) {
        Ok(())
    } else {
        Err(format!(
            "{field} '{value}' is not an ISO 8601 date-time such as 2023-08-25T18:23:43Z"
        ))
    }
}

fn is_date_time(value: &str) -> bool {
    let bytes = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range.clone())
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let number =
        |range: std::ops::Range<usize>| -> u32 { value[range].parse().unwrap_or(u32::MAX) };

    let date_valid = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && (1..=12).contains(&number(5..7))
        && (1..=31).contains(&number(8..10));
    if !date_valid {
        return false;
    }
    if bytes.len() == 10 {
        return true;
    }

    let time_valid = bytes.get(10) == Some(&b'T')
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19)
        && number(11..13) < 24
        && number(14..16) < 60
        && number(17..19) < 61;
    if !time_valid {
        return false;
    }

    let mut rest = &value[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return false;
        }
        rest = &fraction[length..];
    }
    match rest.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_canonical_forms() {
        assert_eq!(address("192.0.2.1").unwrap(), "192.0.2.1");
        assert_eq!(address("2001:DB8:0:0::1").unwrap(), "2001:db8::1");
        assert!(address("192.0.2.256").is_err());
        assert!(address("01.2.3.4").is_err());
        assert!(address("example.com").is_err());
    }

    #[test]
    fn host_rules() {
        assert_eq!(host("Example.COM").unwrap(), "example.com");
        assert!(host("xn--sterreich-z7a.icom.museum").is_ok());
        let error = host("österreich.icom.museum").unwrap_err();
        assert!(error.contains("punycode"), "{error}");
        assert!(host("localhost").is_err());
        assert!(host("192.0.2.1").is_err());
        assert!(host("*.example.com").is_err());
        assert!(host("-bad.example.com").is_err());
        assert!(host("example.com.").is_err());
        assert!(host("_dmarc.example.com").is_ok());
    }

    #[test]
    fn url_rules() {
        assert!(url("http://example.com/a/B?q=1").is_ok());
        assert!(url("https://user@example.com:8443/x").is_ok());
        assert!(url("http://192.0.2.1/x").is_ok());
        assert!(url("http://[2001:db8::1]:80/x").is_ok());
        let error = url("http://EXAMPLE.com/a").unwrap_err();
        assert!(error.contains("lower-case"), "{error}");
        assert!(url("example.com/a").unwrap_err().contains("protocol"));
        assert!(url("http://bücher.de/").unwrap_err().contains("punycode"));
        assert!(url("http:///path").is_err());
    }

    #[test]
    fn file_summary_forms() {
        let md5 = "905ad8176a569a36421bf54c04ba7f95";
        let sha1 = "a52b6986d68cdfac53aa740566cbeade4452124e";
        let hashes = file_summary(&format!("{md5} : {sha1}")).unwrap();
        assert_eq!(
            hashes.md5.as_deref(),
            Some("905AD8176A569A36421BF54C04BA7F95")
        );
        assert_eq!(
            hashes.sha1.as_deref(),
            Some("A52B6986D68CDFAC53AA740566CBEADE4452124E")
        );
        assert_eq!(hashes.sha256, None);
        assert!(file_summary(&format!("{md5}:{sha1}")).is_ok());
        assert!(file_summary(&format!("{md5} : {md5}")).is_err());
        assert!(file_summary("abc").is_err());
        assert!(file_summary(&"g".repeat(32)).is_err());
    }

    #[test]
    fn file_hash_field_length() {
        let mut hashes = FileHashes::default();
        assert!(hashes.set("md5", &"a".repeat(32)).is_ok());
        assert!(hashes.set("sha1", &"a".repeat(32)).is_err());
        assert!(hashes.set("sha256", &"b".repeat(64)).is_ok());
        assert_eq!(
            hashes.summary(),
            format!("{} : {}", "A".repeat(32), "B".repeat(64))
        );
    }

    #[test]
    fn asn_and_cidr_rules() {
        assert!(asn("ASN12345").is_ok());
        for bad in ["12345", "AS12345", "AS 12345", "ASN 12345", "ASN"] {
            assert!(asn(bad).is_err(), "{bad}");
        }
        assert!(cidr("192.0.2.0/24").is_ok());
        assert!(cidr("abc:def:10:0:0:0:0:0/48").is_ok());
        assert!(cidr("abc:def:10::/48").is_err());
        assert!(cidr("abc:def:0010:0:0:0:0:0/48").is_err());
        assert!(cidr("192.0.2.0/33").is_err());
    }

    #[test]
    fn registry_and_email_rules() {
        assert!(registry_key("HKEY_LOCAL_MACHINE\\Software\\X : Run : REG_SZ").is_ok());
        assert!(registry_key("HKLM\\Software\\X").is_err());
        assert!(email_address("a@example.com").is_ok());
        assert!(email_address("example.com").is_err());
    }

    #[test]
    fn date_time_forms() {
        for good in [
            "2023-08-25T18:23:43Z",
            "2023-08-25T18:23:43.120Z",
            "2023-08-25T18:23:43+02:00",
            "2023-08-25",
        ] {
            assert!(date_time("firstSeen", good).is_ok(), "{good}");
        }
        for bad in [
            "25.08.2023 18:23",
            "2023-13-01T00:00:00Z",
            "2023-08-25T18:23Z",
            "",
        ] {
            assert!(date_time("firstSeen", bad).is_err(), "{bad}");
        }
    }
}
