//! Kaspersky URL masks as ThreatConnect indicators. Masks arrive normalized by Kaspersky (no
//! scheme, no `www.`, no port, host lower-cased), but may contain wildcards. A mask becomes:
//!
//! - an Address when its host is an IPv4 or IPv6 address (brackets allowed) and it has no path;
//! - a Host when it is a host name without a path, `host/*`, `*.domain` or `*.domain/*`, named
//!   by the domain in lower-case punycode;
//! - a URL when it has a path or query. `http://` is prefixed unless the mask has an `http://`
//!   or `https://` scheme, and a trailing `/*` is cut to its prefix path. The path and query
//!   keep their case, and spaces and other characters a URL cannot contain are percent-encoded.
//!
//! Any other `*`, and a `?` before the first `/`, is a wildcard that no exact ThreatConnect
//! indicator can express, so such masks are rejected as [`MaskError::Wildcard`]. A port, which
//! normalized masks never carry, makes a URL (`a.example:8080` becomes `http://a.example:8080/`).

use std::fmt::Write;
use std::net::Ipv4Addr;

use feedpipe_pipeline::IndicatorType;
use thiserror::Error;

use crate::address::canonical_ip;

/// Maximum length of a DNS host name in octets, without the trailing dot.
const MAX_HOST_LEN: usize = 253;
/// Maximum length of a DNS label in octets.
const MAX_LABEL_LEN: usize = 63;

/// The indicator a mask becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskIndicator {
    pub indicator_type: IndicatorType,
    pub summary: String,
}

/// Reason a mask cannot become an indicator.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MaskError {
    /// The mask is not a valid host, address or URL. The text explains what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The mask contains a wildcard that only a pattern can express.
    #[error("wildcard pattern")]
    Wildcard,
}

/// Classifies one mask. The caller handles a missing or empty mask.
///
/// The mask is not trimmed: normalized masks carry no surrounding spaces, so a space before the
/// host makes the mask invalid and a trailing one is percent-encoded in a URL.
pub fn classify_mask(mask: &str) -> Result<MaskIndicator, MaskError> {
    let (scheme, rest) = split_scheme(mask)?;

    let (authority, path_and_query) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (authority, leading_wildcard) = match authority.strip_prefix("*.") {
        Some(domain) => (domain, true),
        None => (authority, false),
    };
    if authority.contains(['*', '?']) {
        return Err(MaskError::Wildcard);
    }
    let host = parse_authority(authority)?;

    let host_only = matches!(path_and_query, "" | "/" | "/*");
    if leading_wildcard && !(host_only && host.port.is_none() && host.is_name()) {
        return Err(MaskError::Wildcard);
    }

    if host_only && host.port.is_none() {
        return Ok(match host.name {
            HostName::Ip { text, .. } => indicator(IndicatorType::Address, text),
            HostName::Domain(domain) => indicator(IndicatorType::Host, domain),
        });
    }

    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path = match (query, path.strip_suffix('*')) {
        (None, Some(prefix)) if prefix.ends_with('/') => prefix,
        _ => path,
    };
    if path.contains('*') || query.is_some_and(|query| query.contains('*')) {
        return Err(MaskError::Wildcard);
    }

    let mut url = String::with_capacity(mask.len() + 16);
    url.push_str(scheme.unwrap_or("http"));
    url.push_str("://");
    url.push_str(&host.url_text());
    if path.is_empty() {
        url.push('/');
    } else {
        push_encoded(&mut url, path);
    }
    if let Some(query) = query {
        url.push('?');
        push_encoded(&mut url, query);
    }
    Ok(indicator(IndicatorType::Url, url))
}

fn indicator(indicator_type: IndicatorType, summary: String) -> MaskIndicator {
    MaskIndicator {
        indicator_type,
        summary,
    }
}

/// Splits off an `http://` or `https://` scheme, lower-cased. A `://` after the first `/` is
/// part of the path, not a scheme.
fn split_scheme(mask: &str) -> Result<(Option<&'static str>, &str), MaskError> {
    let Some(colon) = mask.find("://") else {
        return Ok((None, mask));
    };
    let scheme = &mask[..colon];
    if scheme.contains(['/', '?']) {
        return Ok((None, mask));
    }

    let rest = &mask[colon + 3..];
    if scheme.eq_ignore_ascii_case("http") {
        Ok((Some("http"), rest))
    } else if scheme.eq_ignore_ascii_case("https") {
        Ok((Some("https"), rest))
    } else {
        Err(MaskError::Invalid(format!(
            "scheme {scheme:?} is not http or https"
        )))
    }
}

enum HostName {
    Ip { text: String, v6: bool },
    Domain(String),
}

struct Host<'a> {
    name: HostName,
    port: Option<&'a str>,
}

impl Host<'_> {
    fn is_name(&self) -> bool {
        matches!(self.name, HostName::Domain(_))
    }

    /// Returns the host as it appears in a URL: IPv6 in brackets, with the port if any.
    fn url_text(&self) -> String {
        let mut text = match &self.name {
            HostName::Ip { text, v6: true } => format!("[{text}]"),
            HostName::Ip { text, v6: false } | HostName::Domain(text) => text.clone(),
        };
        if let Some(port) = self.port {
            text.push(':');
            text.push_str(port);
        }
        text
    }
}

/// Parses `host`, `host:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 address.
fn parse_authority(authority: &str) -> Result<Host<'_>, MaskError> {
    if authority.is_empty() {
        return Err(MaskError::Invalid("no host before the path".to_owned()));
    }

    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| MaskError::Invalid("unclosed '[' in the host".to_owned()))?;
        let text = canonical_ip(&authority[..=close]).ok_or_else(|| {
            MaskError::Invalid(format!(
                "{:?} is not a valid IPv6 address",
                &authority[..=close]
            ))
        })?;
        let port = parse_port(&authority[close + 1..])?;
        return Ok(Host {
            name: HostName::Ip { text, v6: true },
            port,
        });
    }

    if authority.matches(':').count() >= 2 {
        let text = canonical_ip(authority).ok_or_else(|| {
            MaskError::Invalid(format!("{authority:?} is not a valid IPv6 address"))
        })?;
        return Ok(Host {
            name: HostName::Ip { text, v6: true },
            port: None,
        });
    }

    let (host, port) = match authority.find(':') {
        Some(colon) => (&authority[..colon], parse_port(&authority[colon..])?),
        None => (authority, None),
    };
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host {
            name: HostName::Ip {
                text: ip.to_string(),
                v6: false,
            },
            port,
        });
    }
    Ok(Host {
        name: HostName::Domain(normalize_domain(host)?),
        port,
    })
}

/// Checks a `:port` suffix (or an empty one) and returns the port digits.
fn parse_port(suffix: &str) -> Result<Option<&str>, MaskError> {
    if suffix.is_empty() {
        return Ok(None);
    }
    let digits = suffix.strip_prefix(':').unwrap_or(suffix);
    let valid = suffix.starts_with(':')
        && !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && digits.parse::<u16>().is_ok_and(|port| port > 0);
    if valid {
        Ok(Some(digits))
    } else {
        Err(MaskError::Invalid(format!(
            "{suffix:?} after the host is not a port"
        )))
    }
}

/// Converts a host name to lower-case punycode and checks its labels: letters, digits, `-` and
/// `_` (common in real host names although DNS host-name rules forbid it), at most 63 octets per
/// label and 253 in all. A trailing dot is dropped.
fn normalize_domain(host: &str) -> Result<String, MaskError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(MaskError::Invalid("empty host name".to_owned()));
    }
    if let Some(bad) = host
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(MaskError::Invalid(format!(
            "host {host:?} contains {bad:?}, which a host name cannot hold"
        )));
    }

    let ascii = idna::domain_to_ascii(host)
        .map_err(|_| {
            MaskError::Invalid(format!(
                "host {host:?} is not a valid internationalized domain name"
            ))
        })?
        .to_ascii_lowercase();

    if ascii.len() > MAX_HOST_LEN {
        return Err(MaskError::Invalid(format!(
            "host name is {} octets long, more than {MAX_HOST_LEN}",
            ascii.len()
        )));
    }
    for label in ascii.split('.') {
        check_label(label, &ascii)?;
    }
    if ascii
        .split('.')
        .all(|label| label.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return Err(MaskError::Invalid(format!(
            "host {host:?} is all digits but not a valid IPv4 address"
        )));
    }
    Ok(ascii)
}

fn check_label(label: &str, host: &str) -> Result<(), MaskError> {
    if label.is_empty() {
        return Err(MaskError::Invalid(format!(
            "host {host:?} has an empty label"
        )));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(MaskError::Invalid(format!(
            "label {label:?} is longer than {MAX_LABEL_LEN} octets"
        )));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(MaskError::Invalid(format!(
            "label {label:?} contains {bad:?}, which a host name cannot hold"
        )));
    }
    Ok(())
}

/// Appends a path or query, percent-encoding what a URL cannot contain literally: spaces,
/// control characters, non-ASCII characters (as UTF-8 octets), `"`, `<`, `>`, `` ` ``, `#`
/// (normalized masks have no fragment, so a `#` is part of the path) and a `%` that does not
/// start a `%XX` escape. Letters keep their case and valid escapes are kept as they are.
fn push_encoded(url: &mut String, text: &str) {
    for (at, c) in text.char_indices() {
        let needs_escape = match c {
            '%' => !starts_with_escape(&text[at..]),
            ' ' | '"' | '<' | '>' | '`' | '#' => true,
            _ => c.is_control() || !c.is_ascii(),
        };
        if !needs_escape {
            url.push(c);
            continue;
        }
        let mut octets = [0u8; 4];
        for octet in c.encode_utf8(&mut octets).bytes() {
            // `fmt::Write` for `String` never returns an error.
            let _ = write!(url, "%{octet:02X}");
        }
    }
}

/// Checks whether `text` starts with a `%XX` escape.
fn starts_with_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 3 && bytes[1].is_ascii_hexdigit() && bytes[2].is_ascii_hexdigit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(mask: &str) -> (IndicatorType, String) {
        let indicator = classify_mask(mask).unwrap_or_else(|error| panic!("{mask}: {error}"));
        (indicator.indicator_type, indicator.summary)
    }

    fn host(summary: &str) -> (IndicatorType, String) {
        (IndicatorType::Host, summary.to_owned())
    }

    fn url(summary: &str) -> (IndicatorType, String) {
        (IndicatorType::Url, summary.to_owned())
    }

    fn address(summary: &str) -> (IndicatorType, String) {
        (IndicatorType::Address, summary.to_owned())
    }

    fn invalid_reason(mask: &str) -> String {
        match classify_mask(mask) {
            Err(MaskError::Invalid(reason)) => reason,
            other => panic!("{mask}: expected an invalid mask, got {other:?}"),
        }
    }

    #[test]
    fn ip_masks_are_addresses() {
        assert_eq!(ok("192.0.2.1"), address("192.0.2.1"));
        assert_eq!(ok("2001:DB8:0:0::1"), address("2001:db8::1"));
        assert_eq!(ok("[2001:0db8::0001]"), address("2001:db8::1"));
        assert_eq!(ok("192.0.2.1/*"), address("192.0.2.1"));
    }

    #[test]
    fn ip_with_path_is_url() {
        assert_eq!(ok("192.0.2.1/a.exe"), url("http://192.0.2.1/a.exe"));
        assert_eq!(ok("[2001:DB8::1]/x"), url("http://[2001:db8::1]/x"));
        assert_eq!(ok("2001:db8::1/x"), url("http://[2001:db8::1]/x"));
    }

    #[test]
    fn plain_host_is_host() {
        assert_eq!(ok("corona-propusk.ru"), host("corona-propusk.ru"));
        assert_eq!(ok("Example.COM"), host("example.com"));
        assert_eq!(ok("example.com."), host("example.com"));
        assert_eq!(ok("example.com/"), host("example.com"));
        assert_eq!(ok("my_host.example.com"), host("my_host.example.com"));
    }

    #[test]
    fn idn_host_becomes_punycode() {
        assert_eq!(ok("bücher.example"), host("xn--bcher-kva.example"));
        assert_eq!(ok("BÜCHER.example"), host("xn--bcher-kva.example"));
        assert_eq!(
            ok("пример.рф/путь"),
            url("http://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C")
        );
    }

    #[test]
    fn host_wildcards_become_hosts() {
        assert_eq!(ok("example.com/*"), host("example.com"));
        assert_eq!(ok("*.example.com"), host("example.com"));
        assert_eq!(ok("*.Example.com/*"), host("example.com"));
    }

    #[test]
    fn path_masks_become_urls() {
        assert_eq!(
            ok("abid-sh84.github.io/netflixclone/*"),
            url("http://abid-sh84.github.io/netflixclone/")
        );
        assert_eq!(ok("a.example/x/*"), url("http://a.example/x/"));
        assert_eq!(
            ok("c2.example.com/gate.php"),
            url("http://c2.example.com/gate.php")
        );
        assert_eq!(
            ok("e593461621ee0f9134c632d00bf108fd.com/.i"),
            url("http://e593461621ee0f9134c632d00bf108fd.com/.i")
        );
    }

    #[test]
    fn url_keeps_path_case_and_lowers_host() {
        assert_eq!(
            ok("WWW2.Example.COM/Login/Index.PHP?User=ABC"),
            url("http://www2.example.com/Login/Index.PHP?User=ABC")
        );
    }

    #[test]
    fn existing_scheme_is_kept() {
        assert_eq!(ok("https://a.example/x"), url("https://a.example/x"));
        assert_eq!(ok("HTTP://A.example/x"), url("http://a.example/x"));
        assert_eq!(ok("https://a.example"), host("a.example"));
        assert!(invalid_reason("ftp://a.example/x").contains("\"ftp\""));
    }

    #[test]
    fn query_after_slash_is_query() {
        assert_eq!(
            ok("example.com/?q=hello world"),
            url("http://example.com/?q=hello%20world")
        );
        assert_eq!(ok("a.example/p?x=1?y=2"), url("http://a.example/p?x=1?y=2"));
        assert_eq!(
            ok("a.example/r?u=http://b.example/"),
            url("http://a.example/r?u=http://b.example/")
        );
    }

    #[test]
    fn question_mark_in_host_is_wildcard() {
        assert_eq!(classify_mask("exampl?.com"), Err(MaskError::Wildcard));
        assert_eq!(classify_mask("example.com?q=1"), Err(MaskError::Wildcard));
    }

    #[test]
    fn other_wildcards_are_rejected() {
        for mask in [
            "a*.example.com",
            "www.*.example.com",
            "example.*",
            "*",
            "*.example.com/login",
            "a.example/x*",
            "a.example/*/x",
            "a.example/x/**",
            "a.example/x?id=*",
            "a.example/x?q=1/*",
            "*.192.0.2.1",
        ] {
            assert_eq!(classify_mask(mask), Err(MaskError::Wildcard), "{mask}");
        }
    }

    #[test]
    fn spaces_and_controls_are_encoded() {
        assert_eq!(ok("a.example/a b"), url("http://a.example/a%20b"));
        assert_eq!(ok("a.example/x "), url("http://a.example/x%20"));
        assert!(invalid_reason(" a.example").contains("' '"));
        assert_eq!(ok("a.example/a\tb\u{7f}"), url("http://a.example/a%09b%7F"));
        assert_eq!(
            ok("a.example/\"<x>\""),
            url("http://a.example/%22%3Cx%3E%22")
        );
        assert_eq!(ok("a.example/%41b"), url("http://a.example/%41b"));
        assert_eq!(ok("a.example/ñ"), url("http://a.example/%C3%B1"));
        assert_eq!(ok("a.example/a#b"), url("http://a.example/a%23b"));
        assert_eq!(ok("a.example/100%"), url("http://a.example/100%25"));
        assert_eq!(ok("a.example/%zz%4"), url("http://a.example/%25zz%254"));
        assert_eq!(ok("a.example/x?q=%2B"), url("http://a.example/x?q=%2B"));
    }

    #[test]
    fn ports_make_urls() {
        assert_eq!(ok("a.example:8080/x"), url("http://a.example:8080/x"));
        assert_eq!(ok("a.example:8080"), url("http://a.example:8080/"));
        assert_eq!(ok("[2001:db8::1]:443/x"), url("http://[2001:db8::1]:443/x"));
        assert!(invalid_reason("a.example:http/x").contains("not a port"));
        assert!(invalid_reason("a.example:0").contains("not a port"));
        assert!(invalid_reason("a.example:70000").contains("not a port"));
    }

    #[test]
    fn invalid_hosts_are_rejected() {
        assert!(invalid_reason("a@b.example").contains("'@'"));
        assert!(invalid_reason("a b.example").contains("' '"));
        assert!(invalid_reason("a..example").contains("empty label"));
        assert!(invalid_reason("/path").contains("no host"));
        assert!(invalid_reason("1.2.3").contains("IPv4"));
        assert!(invalid_reason("999.1.1.1/x").contains("IPv4"));
        assert!(invalid_reason("[2001:db8::zz]").contains("IPv6"));
        assert!(invalid_reason("[2001:db8::1").contains("'['"));
        assert!(invalid_reason("2001:db8:::1").contains("IPv6"));
        let long_label = format!("{}.example", "a".repeat(64));
        assert!(invalid_reason(&long_label).contains("63"));
        let long_host = format!("{}example", "abcdefghi.".repeat(26));
        assert!(invalid_reason(&long_host).contains("253"));
    }
}
