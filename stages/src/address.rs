//! IP addresses in the canonical text form ThreatConnect stores: IPv4 in dotted decimal, IPv6
//! compressed and lower-cased as RFC 5952 prescribes (Rust's `Ipv6Addr` display follows it).

use std::net::{IpAddr, Ipv6Addr};

/// Parses an IPv4 or IPv6 address, also an IPv6 address in brackets (`[2001:db8::1]`), and
/// returns it in canonical text. Returns `None` for anything else, including surrounding
/// spaces and IPv4 forms with leading zeros, which are ambiguous between octal and decimal.
pub fn canonical_ip(text: &str) -> Option<String> {
    if let Some(inner) = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return inner.parse::<Ipv6Addr>().ok().map(|ip| ip.to_string());
    }
    match text.parse::<IpAddr>().ok()? {
        // Rust accepts only canonical dotted decimal for IPv4, so the text is already canonical
        // and need not be formatted again.
        IpAddr::V4(_) => Some(text.to_owned()),
        IpAddr::V6(ip) => Some(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_stays_dotted_decimal() {
        assert_eq!(canonical_ip("1.2.3.4").as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn ipv6_is_compressed_and_lower_case() {
        assert_eq!(
            canonical_ip("2001:0DB8:0000:0000:0000:0000:0000:0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            canonical_ip("2001:0:0:1:0:0:0:1").as_deref(),
            Some("2001:0:0:1::1")
        );
        assert_eq!(
            canonical_ip("[2001:0000:11AA::1234:0000]").as_deref(),
            Some("2001:0:11aa::1234:0")
        );
        assert_eq!(
            canonical_ip("::FFFF:1.2.3.4").as_deref(),
            Some("::ffff:1.2.3.4")
        );
    }

    #[test]
    fn invalid_addresses() {
        for text in [
            "1.2.3",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3.4.5",
            "[1.2.3.4]",
            "2001:db8::1::2",
            "[2001:db8::1",
            "fe80::1%eth0",
            "example.com",
            "203.0.113.44 ",
            " 192.0.2.1",
            "",
        ] {
            assert_eq!(canonical_ip(text), None, "{text}");
        }
    }
}
