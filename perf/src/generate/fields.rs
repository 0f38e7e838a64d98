//! Field writers shared by the record shapes: addresses, hosts, hashes, dates, verdicts and the
//! nested `whois`, `ip_whois`, `files` and `urls` values. Each writer draws from the generator's
//! one random stream, so a record's bytes depend only on the seed and its position in the feed.

use super::json::JsonBuf;
use super::vocab;
use crate::rng::SplitMix64;

/// Documentation IPv4 networks (RFC 5737), as the first three octets.
const IPV4_NETWORKS: [&str; 3] = ["192.0.2.", "198.51.100.", "203.0.113."];

/// Minutes between 1970-01-01 and 2014-01-01, the earliest generated `first_seen`.
const EPOCH_2014_MINUTES: u64 = 16_071 * 24 * 60;

/// Minutes in the span of generated `first_seen` values (twelve years).
const DATE_SPAN_MINUTES: u64 = 12 * 365 * 24 * 60;

/// The state one feed is generated from: the random stream, the record buffer and the counter
/// that cycles through the documentation address ranges.
#[derive(Debug)]
pub struct Synth {
    pub rng: SplitMix64,
    pub buf: JsonBuf,
    address_counter: u64,
}

impl Synth {
    /// Creates the state for a feed generated from `seed`.
    pub fn new(seed: u64) -> Self {
        Synth {
            rng: SplitMix64::new(seed),
            buf: JsonBuf::with_capacity(4096),
            address_counter: 0,
        }
    }

    /// Writes `"key": "value"`.
    pub fn str_field(&mut self, key: &str, value: &str) {
        self.buf.key(key);
        self.buf.string(value);
    }

    /// Writes `"key": value` for an unsigned integer.
    pub fn int_field(&mut self, key: &str, value: u64) {
        self.buf.key(key);
        self.buf.digits(value);
    }

    /// Writes `"key": "<word>"` with a word drawn from `words`.
    pub fn pick_field(&mut self, key: &str, words: &[&str]) {
        let word = *self.rng.pick(words);
        self.str_field(key, word);
    }

    /// Appends the next documentation IPv4 address, cycling through 192.0.2.0/24,
    /// 198.51.100.0/24 and 203.0.113.0/24 host by host (so addresses repeat every 762 draws).
    pub fn raw_ipv4(&mut self) {
        let counter = self.address_counter;
        self.address_counter += 1;
        let network = IPV4_NETWORKS[((counter / 254) % 3) as usize];
        self.buf.raw(network.as_bytes());
        self.buf.digits(1 + counter % 254);
    }

    /// Appends a random address in the documentation network 2001:db8::/32.
    pub fn raw_ipv6(&mut self) {
        let bits = self.rng.next_u64();
        self.buf.raw(b"2001:db8:");
        let groups = [bits >> 48, (bits >> 32) & 0xFFFF, bits & 0xFFFF];
        let mut formatter = String::with_capacity(24);
        for (index, group) in groups.iter().enumerate() {
            if index == 2 {
                formatter.push_str("::");
            } else if index == 1 {
                formatter.push(':');
            }
            formatter.push_str(&format!("{group:x}"));
        }
        self.buf.raw(formatter.as_bytes());
    }

    /// Writes an `ip` value: IPv4 mostly, IPv6 in one record of twenty.
    pub fn ip_value(&mut self) {
        self.buf.begin_string();
        if self.rng.percent(5) {
            self.raw_ipv6();
        } else {
            self.raw_ipv4();
        }
        self.buf.end_string();
    }

    /// Appends a host name under a reserved example domain.
    pub fn raw_host(&mut self) {
        let word = *self.rng.pick(vocab::WORDS);
        let domain = *self.rng.pick(vocab::DOMAINS);
        let number = self.rng.below(10_000);
        match self.rng.below(4) {
            0 => {
                self.buf.raw(word.as_bytes());
                self.buf.digits(number);
            }
            1 => {
                self.buf.raw(word.as_bytes());
                self.buf.raw(b"-");
                self.buf.digits(number);
                self.buf.raw(b".");
                let second = *self.rng.pick(vocab::WORDS);
                self.buf.raw(second.as_bytes());
            }
            2 => {
                self.buf.raw(b"s");
                self.buf.digits(number);
                self.buf.raw(b".");
                self.buf.raw(word.as_bytes());
            }
            _ => {
                self.buf.raw(word.as_bytes());
                self.buf.raw(b"-");
                self.buf.digits(number);
            }
        }
        self.buf.raw(b".");
        self.buf.raw(domain.as_bytes());
    }

    /// Appends a URL path (without the leading `/`). With `query`, one path in five gets a query
    /// string; masks never get one, because `?` in a mask is a wildcard.
    pub fn raw_path(&mut self, query: bool) {
        if self.rng.percent(40) {
            let word = *self.rng.pick(vocab::WORDS);
            self.buf.raw(word.as_bytes());
            self.buf.raw(b"/");
        }
        let path = *self.rng.pick(vocab::PATHS);
        self.buf.raw(path.as_bytes());
        if query && self.rng.percent(20) {
            self.buf.raw(b"?id=");
            self.buf.digits(self.rng.below(1_000_000));
        }
    }

    /// Writes `"key": "<hex>"` with `bytes` random bytes (MD5 16, SHA1 20, SHA256 32).
    pub fn hex_field(&mut self, key: &str, bytes: usize) {
        self.buf.key(key);
        self.buf.begin_string();
        let rng = &mut self.rng;
        self.buf.hex(|| rng.next_u64(), bytes);
        self.buf.end_string();
    }

    /// Draws a minute in 2014–2025, as minutes since 1970-01-01.
    pub fn draw_minute(&mut self) -> u64 {
        EPOCH_2014_MINUTES + self.rng.below(DATE_SPAN_MINUTES)
    }

    /// Writes `"key": "dd.MM.yyyy HH:mm"` for `minutes` since 1970-01-01.
    pub fn date_time_field(&mut self, key: &str, minutes: u64) {
        self.buf.key(key);
        self.buf.begin_string();
        self.raw_date(minutes / (24 * 60));
        self.buf.raw(b" ");
        self.buf.padded((minutes / 60) % 24, 2);
        self.buf.raw(b":");
        self.buf.padded(minutes % 60, 2);
        self.buf.end_string();
    }

    /// Writes `"key": "dd.MM.yyyy"` for a random day in 2014–2025.
    pub fn date_field(&mut self, key: &str) {
        let day = self.draw_minute() / (24 * 60);
        self.buf.key(key);
        self.buf.begin_string();
        self.raw_date(day);
        self.buf.end_string();
    }

    fn raw_date(&mut self, days: u64) {
        let (year, month, day) = civil_from_days(days);
        self.buf.padded(day, 2);
        self.buf.raw(b".");
        self.buf.padded(month, 2);
        self.buf.raw(b".");
        self.buf.padded(year, 4);
    }

    /// Writes `first_seen`, and `last_seen` on most records: usually after `first_seen`, on a
    /// few records before it, as in real feeds.
    pub fn seen_fields(&mut self) {
        let first = self.draw_minute();
        self.date_time_field("first_seen", first);
        if self.rng.percent(85) {
            let last = if self.rng.percent(2) {
                first.saturating_sub(self.rng.range(1, 60 * 24 * 30))
            } else {
                first + self.rng.below(60 * 24 * 400)
            };
            self.date_time_field("last_seen", last);
        }
    }

    /// Writes `popularity` 1–5; three records in a hundred lack it and one in two hundred
    /// carries 0, which Kaspersky documents as possible.
    pub fn popularity_field(&mut self) {
        let draw = self.rng.below(1000);
        if draw < 30 {
            return;
        }
        let value = if draw < 35 { 0 } else { 1 + draw % 5 };
        self.int_field("popularity", value);
    }

    /// Writes `"key": "us, de, …"` with 1 to `max` country codes.
    pub fn geo_field(&mut self, key: &str, max: u64) {
        let count = self.rng.range(1, max);
        self.buf.key(key);
        self.buf.begin_string();
        for index in 0..count {
            if index > 0 {
                self.buf.raw(b", ");
            }
            let code = *self.rng.pick(vocab::COUNTRIES);
            self.buf.raw(code.as_bytes());
        }
        self.buf.end_string();
    }

    /// Writes `"IP": "a, b, …"`, the comma-joined resolved addresses of URL feeds.
    pub fn ip_list_field(&mut self) {
        let count = self.rng.range(1, 10);
        self.buf.key("IP");
        self.buf.begin_string();
        for index in 0..count {
            if index > 0 {
                self.buf.raw(b", ");
            }
            self.raw_ipv4();
        }
        self.buf.end_string();
    }

    /// Writes `"key": "<verdict>"` in Kaspersky's `prefix:behaviour.platform.family.modification`
    /// form.
    pub fn verdict_field(&mut self, key: &str, platforms: &[&str]) {
        let prefix = *self.rng.pick(vocab::VERDICT_PREFIXES);
        let behaviour = *self.rng.pick(vocab::BEHAVIOURS);
        let platform = *self.rng.pick(platforms);
        let family = *self.rng.pick(vocab::FAMILIES);
        self.buf.key(key);
        self.buf.begin_string();
        for part in [prefix, behaviour, ".", platform, ".", family, "."] {
            self.buf.raw(part.as_bytes());
        }
        if self.rng.percent(50) {
            self.buf.raw(b"gen");
        } else {
            for _ in 0..self.rng.range(1, 4) {
                self.buf.raw(&[b'a' + self.rng.below(26) as u8]);
            }
        }
        self.buf.end_string();
    }

    /// Writes `"key": [{MD5, SHA1?, SHA256?, threat}, …]` with 1 to `max` file entries.
    pub fn files_field(&mut self, key: &str, max: u64) {
        let count = self.rng.range(1, max);
        self.buf.key(key);
        self.buf.begin_array();
        for _ in 0..count {
            self.buf.element();
            self.buf.begin_object();
            self.hex_field("MD5", 16);
            if self.rng.percent(30) {
                self.hex_field("SHA1", 20);
            }
            if self.rng.percent(60) {
                self.hex_field("SHA256", 32);
            }
            self.verdict_field("threat", vocab::PLATFORMS);
            self.buf.end_object();
        }
        self.buf.end_array();
    }

    /// Writes `"urls": [{"url": …}, …]` with 1 to `max` entries.
    pub fn urls_field(&mut self, max: u64) {
        let count = self.rng.range(1, max);
        self.buf.key("urls");
        self.buf.begin_array();
        for _ in 0..count {
            self.buf.element();
            self.buf.begin_object();
            self.buf.key("url");
            self.buf.begin_string();
            self.raw_host();
            self.buf.raw(b"/");
            self.raw_path(true);
            self.buf.end_string();
            self.buf.end_object();
        }
        self.buf.end_array();
    }

    /// Writes the `whois` object of URL records.
    pub fn whois_field(&mut self) {
        self.buf.key("whois");
        self.buf.begin_object();
        self.buf.key("domain");
        let domain = *self.rng.pick(vocab::DOMAINS);
        self.buf.string(domain);
        self.date_field("created");
        self.date_field("updated");
        self.date_field("expires");
        self.pick_field("name", vocab::ORGS);
        self.pick_field("org", vocab::ORGS);
        let country = self.upper_country();
        self.buf.key("country");
        self.buf.string(&country);
        self.str_field("registrar_name", "Example Registrar LLC");
        self.str_field("registrar_email", "abuse@registrar.example");
        self.buf.key("NS");
        self.buf.begin_string();
        self.buf.raw(b"ns1.");
        self.buf.raw(domain.as_bytes());
        self.buf.raw(b", ns2.");
        self.buf.raw(domain.as_bytes());
        self.buf.end_string();
        self.buf.key("NS_ips");
        self.buf.begin_string();
        self.raw_ipv4();
        self.buf.raw(b", ");
        self.raw_ipv4();
        self.buf.end_string();
        self.buf.end_object();
    }

    /// Writes the `ip_whois` object of IP Reputation records.
    pub fn ip_whois_field(&mut self) {
        let network = IPV4_NETWORKS[self.rng.below(3) as usize];
        let number = self.rng.below(1000);
        self.buf.key("ip_whois");
        self.buf.begin_object();
        self.buf.key("net_range");
        self.buf.string_parts(&[network, "0 - ", network, "255"]);
        self.buf.key("net_name");
        self.buf.begin_string();
        self.buf.raw(b"EXAMPLE-NET-");
        self.buf.digits(number);
        self.buf.end_string();
        self.pick_field("descr", vocab::ORGS);
        self.date_field("created");
        self.date_field("updated");
        let country = self.upper_country();
        self.str_field("country", &country);
        self.pick_field("contact_owner_name", vocab::ORGS);
        self.buf.key("contact_owner_code");
        self.buf.begin_string();
        self.buf.raw(b"ORG-EX");
        self.buf.digits(number);
        self.buf.raw(b"-RIPE");
        self.buf.end_string();
        // 64496–64511 are the ASNs reserved for documentation (RFC 5398).
        self.buf.key("asn");
        self.buf.begin_string();
        self.buf.digits(64_496 + self.rng.below(16));
        self.buf.end_string();
        self.buf.end_object();
    }

    fn upper_country(&mut self) -> String {
        self.rng.pick(vocab::COUNTRIES).to_ascii_uppercase()
    }
}

/// Converts days since 1970-01-01 into a (year, month, day) date of the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for non-negative day numbers).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(16_071), (2014, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
    }

    #[test]
    fn date_time_format() {
        let mut synth = Synth::new(1);
        synth.buf.start_element(0);
        synth.buf.begin_object();
        // 2015-01-21 00:00 and 2016-05-20 03:48, the dates of a published IP Reputation record.
        synth.date_time_field("first_seen", 16_456 * 1440);
        synth.date_time_field("last_seen", 16_941 * 1440 + 3 * 60 + 48);
        synth.buf.end_object();
        let text = String::from_utf8(synth.buf.as_bytes().to_vec()).unwrap();
        assert!(
            text.contains("\"first_seen\": \"21.01.2015 00:00\""),
            "{text}"
        );
        assert!(
            text.contains("\"last_seen\": \"20.05.2016 03:48\""),
            "{text}"
        );
    }

    #[test]
    fn addresses_stay_in_documentation_ranges() {
        let mut synth = Synth::new(9);
        for _ in 0..2000 {
            synth.buf.start_element(0);
            synth.ip_value();
            let text = String::from_utf8(synth.buf.as_bytes().to_vec()).unwrap();
            let address: std::net::IpAddr = text.trim().trim_matches('"').parse().unwrap();
            let documented = match address {
                std::net::IpAddr::V4(v4) => {
                    let [a, b, c, _] = v4.octets();
                    matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
                }
                std::net::IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
            };
            assert!(documented, "{address} is outside the documentation ranges");
        }
    }

    #[test]
    fn ipv4_cycles_through_all_three_networks() {
        let mut synth = Synth::new(0);
        synth.buf.start_element(0);
        for _ in 0..762 {
            synth.raw_ipv4();
            synth.buf.raw(b" ");
        }
        let text = String::from_utf8(synth.buf.as_bytes().to_vec()).unwrap();
        assert!(text.contains("192.0.2.1 "));
        assert!(text.contains("198.51.100.254 "));
        assert!(text.contains("203.0.113.17 "));
        assert!(!text.contains(".0 ") && !text.contains(".255 "));
    }
}
