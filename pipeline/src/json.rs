//! The compact JSON form of an [`Indicator`], written directly into a byte buffer. It is the
//! same text `serde_json::to_writer` produces for the indicator's serde form, byte for byte.
//! It checks strings for characters to escape eight bytes at a time, because checking them is
//! most of the cost of encoding a rated indicator and few bytes need escaping.

use crate::indicator::Indicator;

/// Appends `indicator` as a compact JSON object.
pub fn write_indicator(out: &mut Vec<u8>, indicator: &Indicator) {
    out.extend_from_slice(b"{\"type\":");
    write_str(out, indicator.indicator_type.as_str());
    out.extend_from_slice(b",\"summary\":");
    write_str(out, &indicator.summary);
    out.extend_from_slice(b",\"rating\":");
    write_u8(out, indicator.rating);
    out.extend_from_slice(b",\"confidence\":");
    write_u8(out, indicator.confidence);

    out.extend_from_slice(b",\"tag\":");
    write_names(out, indicator.tags.iter().map(|tag| tag.name.as_ref()));
    out.extend_from_slice(b",\"attribute\":[");
    for (index, attribute) in indicator.attributes.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":");
        write_str(out, &attribute.attribute_type);
        out.extend_from_slice(b",\"value\":");
        write_str(out, &attribute.value);
        out.push(b'}');
    }
    out.push(b']');

    if !indicator.security_labels.is_empty() {
        out.extend_from_slice(b",\"securityLabel\":");
        let labels = indicator.security_labels.iter();
        write_names(out, labels.map(|label| label.name.as_str()));
    }
    if let Some(first_seen) = &indicator.first_seen {
        out.extend_from_slice(b",\"firstSeen\":");
        write_str(out, first_seen);
    }
    if let Some(last_seen) = &indicator.last_seen {
        out.extend_from_slice(b",\"lastSeen\":");
        write_str(out, last_seen);
    }
    out.push(b'}');
}

/// Appends `[{"name":…},…]`, the form of tags and security labels.
fn write_names<'a>(out: &mut Vec<u8>, names: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (index, name) in names.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_str(out, name);
        out.push(b'}');
    }
    out.push(b']');
}

fn write_u8(out: &mut Vec<u8>, value: u8) {
    if value >= 100 {
        out.push(b'0' + value / 100);
    }
    if value >= 10 {
        out.push(b'0' + value / 10 % 10);
    }
    out.push(b'0' + value % 10);
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it. `"` and `\` get a
/// backslash, and control characters get a short escape where JSON has one, else `\u00XX`.
/// Every other character is written as it is. Text between two escaped bytes is copied whole.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(index) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..index]);
        write_escape(out, bytes[index]);
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Returns the position of the first byte at or after `from` that needs escaping, checking
/// sixteen bytes at a time. The last part of a string of 16 bytes or more is checked as the
/// string's last 16 bytes, ignoring the bytes already checked. A shorter string is checked in
/// two overlapping words of eight bytes, or byte by byte below eight bytes.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(block) = bytes.get(at..at + 16) {
        let mask = escape_mask(block.try_into().expect("a block is 16 bytes"));
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    if at == bytes.len() {
        return None;
    }
    if let Some(start) = bytes.len().checked_sub(16) {
        let block = bytes[start..].try_into().expect("a block is 16 bytes");
        let mask = escape_mask(block) >> (at - start);
        return (mask != 0).then(|| at + mask.trailing_zeros() as usize);
    }

    let rest = &bytes[at..];
    let first_flagged = |flags: u64| (flags.trailing_zeros() / 8) as usize;
    if rest.len() >= 8 {
        let head = escape_flags(&rest[..8]);
        if head != 0 {
            return Some(at + first_flagged(head));
        }
        // The bytes the two words share are clean, so the tail's lowest flag is a true one.
        let tail_start = rest.len() - 8;
        let tail = escape_flags(&rest[tail_start..]);
        return (tail != 0).then(|| at + tail_start + first_flagged(tail));
    }
    rest.iter()
        .position(|&byte| needs_escape(byte))
        .map(|offset| at + offset)
}

/// Checks whether JSON needs `byte` escaped: `"`, `\` and control characters below 0x20.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Returns a mask with bit `i` set where byte `i` of `block` needs escaping, with SSE2, which
/// every x86_64 processor has.
#[cfg(target_arch = "x86_64")]
fn escape_mask(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics run on every x86_64
    // processor, and `block` is 16 readable bytes, which `_mm_loadu_si128` reads at any
    // alignment.
    let mask = unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
        // A byte is below 0x20 exactly when the unsigned minimum of it and 0x1f is itself.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, _mm_set1_epi8(0x1f)), bytes);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
    };
    mask as u32
}

#[cfg(not(target_arch = "x86_64"))]
fn escape_mask(block: &[u8; 16]) -> u32 {
    escape_mask_portable(block)
}

/// Returns the same mask as [`escape_mask`], one byte at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn escape_mask_portable(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .filter(|(_, byte)| needs_escape(**byte))
        .fold(0, |mask, (index, _)| mask | 1 << index)
}

/// Appends the escape of a byte for which [`needs_escape`] is true.
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let letter = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', letter]);
}

/// Returns a word whose high bits are set for bytes of the eight-byte `chunk` that are `"`,
/// `\` or below 0x20, possibly with false positives above a true one. It is zero exactly when
/// no byte needs escaping, and its lowest set bit always marks a byte that does.
fn escape_flags(chunk: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut bytes = [0; 8];
    bytes.copy_from_slice(chunk);
    let word = u64::from_le_bytes(bytes);
    // `x - ONES` sets a byte's high bit where that byte of `x` is zero (or borrows from a zero
    // byte below it). Masking with `!word` drops bytes at or above 0x80, which never need
    // escaping and never equal any of the searched values.
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20);
    (quote | backslash | control) & !word & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{IndicatorType, SecurityLabel};

    fn serde_form(indicator: &Indicator) -> String {
        serde_json::to_string(indicator).unwrap()
    }

    /// Checks that [`write_str`] writes `text` as serde_json does.
    fn assert_written_as_serde_json(text: &str) {
        let mut out = Vec::new();
        write_str(&mut out, text);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(text).unwrap(),
            "{text:?}"
        );
    }

    fn ours(indicator: &Indicator) -> String {
        let mut out = Vec::new();
        write_indicator(&mut out, indicator);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_string_escapes_as_serde_json_does() {
        let mut samples: Vec<String> = (0u8..0x80)
            .map(|byte| char::from(byte).to_string())
            .collect();
        samples.extend(
            [
                "",
                "plain text of more than eight bytes",
                "Sample \"Quoted\" Hosting",
                "C:\\Windows\\system32\\drivers",
                "line one\nline two\r\n\ttabbed",
                "Société Exemple SARL – ☃ 日本語 𝄞",
                "\u{7f}\u{80}\u{ff}\u{2028}\u{2029}",
                "ends with a quote\"",
                "12345678\"",
                "1234567\"8",
                "\u{1}\u{1f}\u{0}\u{8}\u{c}",
            ]
            .map(str::to_owned),
        );
        // Every byte value at every position of a word.
        for byte in 0u8..0x80 {
            for at in 0..9 {
                let mut text = "abcdefghi".to_owned();
                text.insert(at, char::from(byte));
                samples.push(text);
            }
        }

        for text in samples {
            assert_written_as_serde_json(&text);
        }
    }

    #[test]
    fn both_block_checks_agree() {
        for byte in 0..=u8::MAX {
            for at in 0..16 {
                let mut block = [b'a'; 16];
                block[at] = byte;
                block[15 - at] = byte.wrapping_add(0x5c);
                assert_eq!(
                    escape_mask(&block),
                    escape_mask_portable(&block),
                    "{block:?}"
                );
            }
        }
    }

    #[test]
    fn strings_with_many_escapes_match_serde_json() {
        // 20,000 strings of up to 40 bytes drawn from a few plain and escaped bytes, picked by a
        // fixed linear congruential sequence.
        let alphabet = [b'a', b'"', b'\\', b'\n', 0x01, b' ', 0x7f, b'z'];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let length = (state >> 58) as usize % 41;
            let text: String = (0..length)
                .map(|index| char::from(alphabet[(state >> (3 * index % 57)) as usize & 7]))
                .collect();
            assert_written_as_serde_json(&text);
        }
    }

    #[test]
    fn indicators_match_their_serde_form() {
        let mut bare = Indicator::new(IndicatorType::Url, "http://example.com/a?b=\"c\"");
        bare.rating = 0;
        bare.confidence = 100;
        assert_eq!(ours(&bare), serde_form(&bare));

        let mut full = Indicator::new(IndicatorType::File, "d41d8cd98f00b204e9800998ecf8427e");
        full.rating = 5;
        full.confidence = 7;
        full.add_tag("Kaspersky");
        full.add_tag("Malicious Hash");
        full.add_attribute("Description", "Kaspersky: Trojan.Win32\\Agent \"x\"");
        full.add_attribute("IP WhoIs", "net_name: A\ncountry: PL");
        full.security_labels.push(SecurityLabel {
            name: "TLP:AMBER".to_owned(),
        });
        full.first_seen = Some("2019-05-01T07:02:00Z".to_owned());
        full.last_seen = Some("2020-04-16T05:34:00Z".to_owned());
        assert_eq!(ours(&full), serde_form(&full));

        for rating in [0, 9, 10, 99, 100, 255] {
            full.confidence = rating;
            assert_eq!(ours(&full), serde_form(&full));
        }
        full.first_seen = None;
        full.security_labels.clear();
        assert_eq!(ours(&full), serde_form(&full));
    }
}
