//! A pretty-printing JSON writer for generated records. It appends to one reused byte buffer and
//! lays records out the way Kaspersky's feed files are laid out: two spaces per level, one member
//! per line, `"key": value`. Every string it writes is escaped, so the output is valid JSON
//! whatever the vocabulary holds.

/// A JSON text under construction, nested `depth` levels inside the feed's top-level array.
#[derive(Debug, Default)]
pub struct JsonBuf {
    out: Vec<u8>,
    depth: usize,
    /// True while the innermost open container has no member yet.
    empty: bool,
}

impl JsonBuf {
    /// Creates an empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        JsonBuf {
            out: Vec::with_capacity(capacity),
            depth: 0,
            empty: true,
        }
    }

    /// Returns the text written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Clears the text and positions the writer inside the top-level array, before its
    /// element number `index` (so that element 0 gets no leading comma).
    pub fn start_element(&mut self, index: u64) {
        self.out.clear();
        self.depth = 1;
        self.empty = index == 0;
        self.separate();
    }

    /// Writes the separator and indentation that come before a member or array element.
    fn separate(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.out.push(b'\n');
        self.indent();
        self.empty = false;
    }

    fn indent(&mut self) {
        const SPACES: &[u8] = b"                                ";
        let width = (self.depth * 2).min(SPACES.len());
        self.out.extend_from_slice(&SPACES[..width]);
    }

    /// Opens an object as the current value.
    pub fn begin_object(&mut self) {
        self.out.push(b'{');
        self.depth += 1;
        self.empty = true;
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) {
        self.close(b'}');
    }

    /// Opens an array as the current value.
    pub fn begin_array(&mut self) {
        self.out.push(b'[');
        self.depth += 1;
        self.empty = true;
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.close(b']');
    }

    fn close(&mut self, bracket: u8) {
        self.depth -= 1;
        if !self.empty {
            self.out.push(b'\n');
            self.indent();
        }
        self.out.push(bracket);
        self.empty = false;
    }

    /// Starts an array element; the caller writes its value next.
    pub fn element(&mut self) {
        self.separate();
    }

    /// Starts an object member; the caller writes its value next.
    pub fn key(&mut self, key: &str) {
        self.separate();
        self.string(key);
        self.out.extend_from_slice(b": ");
    }

    /// Writes a string value, escaped.
    pub fn string(&mut self, value: &str) {
        self.out.push(b'"');
        write_escaped(&mut self.out, value.as_bytes());
        self.out.push(b'"');
    }

    /// Writes a string value from parts, without building it first.
    pub fn string_parts(&mut self, parts: &[&str]) {
        self.out.push(b'"');
        for part in parts {
            write_escaped(&mut self.out, part.as_bytes());
        }
        self.out.push(b'"');
    }

    /// Writes a string value whose content the caller writes with [`JsonBuf::raw`] and closes
    /// with [`JsonBuf::end_string`]. The caller guarantees the content needs no escaping.
    pub fn begin_string(&mut self) {
        self.out.push(b'"');
    }

    /// Closes a string opened with [`JsonBuf::begin_string`].
    pub fn end_string(&mut self) {
        self.out.push(b'"');
    }

    /// Appends bytes as they are; they must be valid JSON where they land.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Appends a number's decimal digits.
    pub fn digits(&mut self, value: u64) {
        let mut formatter = itoa::Buffer::new();
        self.out
            .extend_from_slice(formatter.format(value).as_bytes());
    }

    /// Appends `value` as exactly `width` decimal digits, zero-padded (`value` must fit).
    pub fn padded(&mut self, value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut rest = value;
        for slot in digits[..width].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.out.extend_from_slice(&digits[..width]);
    }

    /// Appends `count` random bytes as upper-case hex digits.
    pub fn hex(&mut self, mut next_u64: impl FnMut() -> u64, count: usize) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut left = count;
        while left > 0 {
            let bits = next_u64();
            let take = left.min(8);
            for byte in bits.to_le_bytes()[..take].iter() {
                self.out.push(HEX[usize::from(byte >> 4)]);
                self.out.push(HEX[usize::from(byte & 0x0F)]);
            }
            left -= take;
        }
    }
}

/// Appends `text` to `out` with the escapes JSON requires (quote, backslash, control characters).
fn write_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (index, &byte) in text.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => {
                out.extend_from_slice(&text[start..index]);
                out.extend_from_slice(format!("\\u{byte:04x}").as_bytes());
                start = index + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&text[start..index]);
        out.extend_from_slice(escape);
        start = index + 1;
    }
    out.extend_from_slice(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(index: u64, build: impl FnOnce(&mut JsonBuf)) -> String {
        let mut buf = JsonBuf::with_capacity(64);
        buf.start_element(index);
        build(&mut buf);
        String::from_utf8(buf.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn nested_layout() {
        let text = element(0, |buf| {
            buf.begin_object();
            buf.key("ip");
            buf.string("192.0.2.1");
            buf.key("files");
            buf.begin_array();
            buf.element();
            buf.begin_object();
            buf.key("MD5");
            buf.string("AB");
            buf.end_object();
            buf.end_array();
            buf.key("empty");
            buf.begin_object();
            buf.end_object();
            buf.end_object();
        });
        let expected = "\n  {\n    \"ip\": \"192.0.2.1\",\n    \"files\": [\n      {\n        \"MD5\": \"AB\"\n      }\n    ],\n    \"empty\": {}\n  }";
        assert_eq!(text, expected);
    }

    #[test]
    fn later_elements_start_with_comma() {
        let text = element(3, |buf| {
            buf.begin_object();
            buf.end_object();
        });
        assert_eq!(text, ",\n  {}");
    }

    #[test]
    fn strings_are_escaped() {
        let text = element(0, |buf| buf.string("a \"b\" \\ c\n\u{1}é"));
        let parsed: String = serde_json::from_str(text.trim_start()).unwrap();
        assert_eq!(parsed, "a \"b\" \\ c\n\u{1}é");
    }

    #[test]
    fn padded_digits() {
        let text = element(0, |buf| {
            buf.padded(7, 2);
            buf.padded(2025, 4);
            buf.padded(0, 3);
        });
        assert_eq!(text.trim_start(), "072025000");
    }

    #[test]
    fn hex_length() {
        let mut counter = 0u64;
        let text = element(0, |buf| {
            buf.hex(
                || {
                    counter += 1;
                    counter
                },
                20,
            )
        });
        let hex = text.trim_start();
        assert_eq!(hex.len(), 40);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
