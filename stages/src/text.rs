//! Character-based text limits shared by the stages. ThreatConnect counts tag and attribute
//! lengths in characters, so every cut here lands on a `char` boundary and never splits a
//! multibyte character.

/// Marker appended to an attribute value that was cut to its limit.
pub const TRUNCATION_MARKER: &str = "… [truncated]";

/// At most this many characters of a value are quoted in a reject message.
const MAX_QUOTED_CHARS: usize = 200;

/// Trims whitespace from both ends as `str::trim` does, returning at once when the text starts
/// and ends with a visible ASCII character, as almost every feed value does.
pub fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Returns the first `max_chars` characters of `text`, or all of it when it is shorter.
pub fn prefix_chars(text: &str, max_chars: usize) -> &str {
    // A character takes at least one byte, so text of at most `max_chars` bytes fits.
    if text.len() <= max_chars {
        return text;
    }
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Cuts `text` to at most `max_chars` characters, ending the cut text with
/// [`TRUNCATION_MARKER`] so that the result, marker included, fits the limit.
/// Returns `None` when `text` already fits.
///
/// `max_chars` must be larger than the marker; `RateConfig` checks this for the attribute
/// limit.
pub fn truncate_with_marker(text: &str, max_chars: usize) -> Option<String> {
    if text.len() <= max_chars || text.chars().count() <= max_chars {
        return None;
    }

    let marker_chars = TRUNCATION_MARKER.chars().count();
    let head = prefix_chars(text, max_chars.saturating_sub(marker_chars));
    let mut cut = String::with_capacity(head.len() + TRUNCATION_MARKER.len());
    cut.push_str(head);
    cut.push_str(TRUNCATION_MARKER);
    Some(cut)
}

/// Quotes a value for a reject message, escaping quotes and control characters and cutting
/// very long values so that a message stays one readable line.
pub fn quoted(value: &str) -> String {
    let preview = prefix_chars(value, MAX_QUOTED_CHARS);
    if preview.len() < value.len() {
        format!("{preview:?}…")
    } else {
        format!("{preview:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_matches_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta b\n",
            "\u{a0}x\u{a0}",
            "x\u{2003}",
            "日本",
            " 日本 ",
            "a\u{85}",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn prefix_chars_counts_characters() {
        assert_eq!(prefix_chars("ESPAÑOL", 5), "ESPAÑ");
        assert_eq!(prefix_chars("日本語", 2), "日本");
        assert_eq!(prefix_chars("abc", 10), "abc");
        assert_eq!(prefix_chars("abc", 0), "");
    }

    #[test]
    fn truncate_keeps_short_text() {
        assert_eq!(truncate_with_marker("short", 5), None);
        assert_eq!(truncate_with_marker("ÑÑÑÑÑ", 5), None);
    }

    #[test]
    fn truncate_fits_marker_inside_limit() {
        let text = "Ñ".repeat(600);
        let cut = truncate_with_marker(&text, 500).unwrap();
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(cut.starts_with("ÑÑÑ"));
        let text_chars = 500 - TRUNCATION_MARKER.chars().count();
        assert_eq!(
            cut.trim_end_matches(TRUNCATION_MARKER).chars().count(),
            text_chars
        );
    }

    #[test]
    fn quoted_escapes_and_cuts() {
        assert_eq!(quoted("1.2.3"), "\"1.2.3\"");
        assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quoted("bücher"), "\"bücher\"");
        let long = "x".repeat(300);
        let preview = quoted(&long);
        assert!(preview.ends_with("\"…"));
        assert_eq!(preview.chars().count(), 200 + 3);
    }
}
