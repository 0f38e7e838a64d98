//! Frames the elements of a feed's top-level JSON array without parsing them.
//!
//! The splitter reads into buffers of about `read_buffer_bytes` taken from a [`BufferPool`], and
//! frames are slices of them, so an element is never copied on its way to the parser. The
//! unfinished element at the end of a buffer is carried into the next one. A buffer goes back to
//! the pool once every frame cut from it has been dropped. An element
//! longer than `max_element_bytes` is scanned to its end while its bytes are dropped, and only a
//! short head is kept for the rejects file. It tracks strings and escapes, so brackets,
//! braces and `\"` inside strings never end an element. It does not validate elements: the
//! parser does. Frames carry the byte offset of their first byte in the (decompressed) feed.

use std::io::{self, Read};

use bytes::Bytes;

use crate::pool::BufferPool;

/// Bytes of an oversized element kept for the rejects file.
pub const OVERSIZED_HEAD_BYTES: usize = 1024;

/// Splitter limits.
#[derive(Clone, Copy, Debug)]
pub struct SplitterConfig {
    /// Bytes read from the source into each buffer.
    pub read_buffer_bytes: usize,
    /// Maximum bytes of one element; a longer element is skipped and reported as oversized.
    pub max_element_bytes: usize,
}

impl SplitterConfig {
    /// Returns a pool for the read buffers of splitters with this configuration that keeps up
    /// to `keep` of them. A buffer that had to grow past twice the read size to hold a long
    /// element is not kept.
    pub fn read_pool(&self, keep: usize) -> BufferPool {
        BufferPool::new(keep, 2 * self.buffer_capacity(0))
    }

    /// Returns the capacity of a read buffer that starts with `carried` bytes: room for them and
    /// one read. It is rounded up to a multiple of the read size or of 64 KiB, whichever is
    /// smaller, so that the buffers have one size while the carried bytes vary.
    fn buffer_capacity(&self, carried: usize) -> usize {
        let read = self.read_buffer_bytes.max(1);
        (carried + read).next_multiple_of(read.min(BUFFER_SIZE_STEP))
    }
}

impl Default for SplitterConfig {
    fn default() -> Self {
        SplitterConfig {
            read_buffer_bytes: 256 * 1024,
            max_element_bytes: 1024 * 1024,
        }
    }
}

/// One element of the top-level array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete element and the offset of its first byte.
    Element { offset: u64, bytes: Bytes },
    /// An element longer than the cap: its offset, full length and first bytes.
    Oversized {
        offset: u64,
        length: u64,
        head: Bytes,
    },
}

impl Frame {
    /// Returns the offset of the element's first byte.
    pub fn offset(&self) -> u64 {
        match self {
            Frame::Element { offset, .. } | Frame::Oversized { offset, .. } => *offset,
        }
    }
}

/// A broken feed: the splitter stops at the first of these.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("read failed at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("the feed is empty: expected a JSON array starting with '['")]
    Empty,
    #[error("the feed is not a JSON array: expected '[' at byte {offset}, found {found}")]
    NotAnArray { offset: u64, found: String },
    #[error(
        "the feed ends at byte {offset} inside the top-level array: the file is truncated \
         (no closing ']')"
    )]
    Truncated { offset: u64 },
    #[error(
        "the feed ends at byte {offset} inside {place}the element that starts at byte \
         {element}: the file is truncated, or {cause}",
        place = if *in_string { "a string of " } else { "" },
        cause = if *in_string {
            "a string in that element is not closed"
        } else {
            "that element is not closed"
        }
    )]
    TruncatedElement {
        offset: u64,
        element: u64,
        in_string: bool,
    },
    #[error("unexpected {found} at byte {offset} after the closing ']' of the top-level array")]
    TrailingData { offset: u64, found: String },
    #[error("unexpected {found} at byte {offset}: expected {expected}")]
    Unexpected {
        offset: u64,
        found: String,
        expected: &'static str,
    },
}

impl SplitError {
    /// Returns the byte offset the error names, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            SplitError::Empty => None,
            SplitError::Io { offset, .. }
            | SplitError::NotAnArray { offset, .. }
            | SplitError::Truncated { offset }
            | SplitError::TruncatedElement { offset, .. }
            | SplitError::TrailingData { offset, .. }
            | SplitError::Unexpected { offset, .. } => Some(*offset),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    BeforeElement { first: bool },
    InElement,
    AfterElement,
    AfterEnd,
    Done,
}

/// Scan state of the element being framed. Indices are into `Splitter::buf`.
#[derive(Debug, Default)]
struct ElementScan {
    start: usize,
    scanned: usize,
    offset: u64,
    depth: u32,
    in_string: bool,
    escape: bool,
    container: bool,
    /// The element's opening and closing bracket (`{` and `}`, or `[` and `]`), the only bytes
    /// that change the depth. Inside a valid object every `[` has its `]`, so counting braces
    /// alone finds the object's end. An element with stray brackets therefore ends at its
    /// closing brace and fails to parse alone, instead of swallowing the elements after it.
    open: u8,
    close: u8,
    /// Set once the element is over the cap: the head kept for the rejects file.
    oversized: Option<Bytes>,
}

/// The array splitter over any byte reader.
pub struct Splitter<R> {
    reader: R,
    config: SplitterConfig,
    pool: BufferPool,
    /// Bytes read from the source and not yet passed. Frames are slices of it.
    buf: Window,
    /// Absolute offset of `buf[0]`.
    base: u64,
    pos: usize,
    eof: bool,
    state: State,
    element: ElementScan,
}

/// Largest step to which read buffer sizes are rounded up.
const BUFFER_SIZE_STEP: usize = 64 * 1024;

/// Read buffers a splitter keeps for reuse when it is not given a pool.
const DEFAULT_POOLED_BUFFERS: usize = 8;

impl<R: Read> Splitter<R> {
    pub fn new(reader: R, config: SplitterConfig) -> Self {
        let pool = config.read_pool(DEFAULT_POOLED_BUFFERS);
        Self::with_pool(reader, config, pool)
    }

    /// Creates a splitter that takes its read buffers from `pool`.
    pub fn with_pool(reader: R, config: SplitterConfig, pool: BufferPool) -> Self {
        Splitter {
            reader,
            config: SplitterConfig {
                read_buffer_bytes: config.read_buffer_bytes.max(1),
                max_element_bytes: config.max_element_bytes.max(1),
            },
            pool,
            buf: Window::Open(Vec::new()),
            base: 0,
            pos: 0,
            eof: false,
            state: State::Start,
            element: ElementScan::default(),
        }
    }

    /// Returns the next frame, `None` after the closing `]` and trailing whitespace, or the
    /// error that stops the feed. After an error or `None`, every later call returns `None`.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SplitError> {
        let result = self.advance();
        if !matches!(result, Ok(Some(_))) {
            self.state = State::Done;
        }
        result
    }

    fn advance(&mut self) -> Result<Option<Frame>, SplitError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => {
                    self.skip_bom()?;
                    let Some(byte) = self.next_non_whitespace()? else {
                        return Err(SplitError::Empty);
                    };
                    if byte != b'[' {
                        return Err(SplitError::NotAnArray {
                            offset: self.offset_at(self.pos),
                            found: describe(byte),
                        });
                    }
                    self.pos += 1;
                    self.state = State::BeforeElement { first: true };
                }
                State::BeforeElement { first } => {
                    let Some(byte) = self.next_non_whitespace()? else {
                        return Err(self.truncated());
                    };
                    match byte {
                        b']' if first => {
                            self.pos += 1;
                            self.state = State::AfterEnd;
                        }
                        b']' | b',' => {
                            return Err(SplitError::Unexpected {
                                offset: self.offset_at(self.pos),
                                found: describe(byte),
                                expected: "an array element",
                            });
                        }
                        _ => {
                            self.element = ElementScan {
                                start: self.pos,
                                scanned: self.pos,
                                offset: self.offset_at(self.pos),
                                container: byte == b'{' || byte == b'[',
                                open: byte,
                                close: if byte == b'[' { b']' } else { b'}' },
                                ..ElementScan::default()
                            };
                            self.state = State::InElement;
                        }
                    }
                }
                State::InElement => {
                    if let Some(frame) = self.scan_element()? {
                        self.state = State::AfterElement;
                        return Ok(Some(frame));
                    }
                }
                State::AfterElement => {
                    let Some(byte) = self.next_non_whitespace()? else {
                        return Err(self.truncated());
                    };
                    match byte {
                        b',' => {
                            self.pos += 1;
                            self.state = State::BeforeElement { first: false };
                        }
                        b']' => {
                            self.pos += 1;
                            self.state = State::AfterEnd;
                        }
                        _ => {
                            return Err(SplitError::Unexpected {
                                offset: self.offset_at(self.pos),
                                found: describe(byte),
                                expected: "',' or ']' after an array element",
                            });
                        }
                    }
                }
                State::AfterEnd => {
                    return match self.next_non_whitespace()? {
                        None => Ok(None),
                        Some(byte) => Err(SplitError::TrailingData {
                            offset: self.offset_at(self.pos),
                            found: describe(byte),
                        }),
                    };
                }
            }
        }
    }

    fn truncated(&self) -> SplitError {
        SplitError::Truncated {
            offset: self.offset_at(self.buf.len()),
        }
    }

    fn offset_at(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    /// Skips a UTF-8 byte order mark at the very start of the feed.
    fn skip_bom(&mut self) -> Result<(), SplitError> {
        while self.buf.len() < 3 && !self.eof {
            self.fill(0)?;
        }
        if self.base == 0 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        }
        Ok(())
    }

    /// Moves `pos` to the next non-whitespace byte and returns it, reading as needed.
    fn next_non_whitespace(&mut self) -> Result<Option<u8>, SplitError> {
        loop {
            while self.pos < self.buf.len() {
                let byte = self.buf[self.pos];
                if !is_whitespace(byte) {
                    return Ok(Some(byte));
                }
                self.pos += 1;
            }
            if self.eof {
                return Ok(None);
            }
            let keep = self.pos;
            self.fill(keep)?;
        }
    }

    /// Scans the current element; returns its frame once its last byte is in the buffer.
    fn scan_element(&mut self) -> Result<Option<Frame>, SplitError> {
        loop {
            if let Some(end) = self.scan_available() {
                return Ok(Some(self.finish_element(end)));
            }
            if self.eof {
                if !self.element.container && !self.element.in_string {
                    // A scalar element is complete at the end of input; what follows is the
                    // missing `]`, which the caller reports as truncation.
                    let end = self.buf.len();
                    return Ok(Some(self.finish_element(end)));
                }
                return Err(SplitError::TruncatedElement {
                    offset: self.offset_at(self.buf.len()),
                    element: self.element.offset,
                    in_string: self.element.in_string,
                });
            }
            self.check_oversized();
            let keep = if self.element.oversized.is_some() {
                self.element.scanned
            } else {
                self.element.start
            };
            self.fill(keep)?;
        }
    }

    /// Scans from `element.scanned` to the end of the buffer; returns the index one past the
    /// element's last byte when it ends in the buffer.
    fn scan_available(&mut self) -> Option<usize> {
        let scan = &mut self.element;
        let bytes = &self.buf[..];
        let mut index = scan.scanned;
        if !scan.container && index == scan.start && bytes.get(index) == Some(&b'"') {
            scan.in_string = true;
            index += 1;
        }
        while index < bytes.len() {
            if scan.escape {
                scan.escape = false;
                index += 1;
                continue;
            }
            if scan.in_string {
                match memchr::memchr2(b'"', b'\\', &bytes[index..]) {
                    None => index = bytes.len(),
                    Some(found) => {
                        index += found;
                        if bytes[index] == b'\\' {
                            scan.escape = true;
                        } else {
                            scan.in_string = false;
                            if !scan.container {
                                scan.scanned = index + 1;
                                return Some(index + 1);
                            }
                        }
                        index += 1;
                    }
                }
                continue;
            }
            let byte = bytes[index];
            if !scan.container {
                if byte == b',' || byte == b']' || is_whitespace(byte) {
                    scan.scanned = index;
                    return Some(index);
                }
                index += 1;
                continue;
            }
            // Outside strings only quotes and the element's own brackets matter, so memchr jumps
            // over the keys' indentation, numbers and punctuation in between.
            match memchr::memchr3(b'"', scan.open, scan.close, &bytes[index..]) {
                None => index = bytes.len(),
                Some(found) => {
                    index += found;
                    let byte = bytes[index];
                    if byte == b'"' {
                        scan.in_string = true;
                    } else if byte == scan.open {
                        scan.depth += 1;
                    } else {
                        scan.depth = scan.depth.saturating_sub(1);
                        if scan.depth == 0 {
                            scan.scanned = index + 1;
                            return Some(index + 1);
                        }
                    }
                    index += 1;
                }
            }
        }
        scan.scanned = index;
        None
    }

    /// Switches the element to skip mode once it is longer than the cap.
    fn check_oversized(&mut self) {
        let scan = &mut self.element;
        if scan.oversized.is_some() {
            return;
        }
        let length = scan.scanned - scan.start;
        if length > self.config.max_element_bytes {
            let head_end = scan.start + length.min(OVERSIZED_HEAD_BYTES);
            let head = Bytes::copy_from_slice(&self.buf[scan.start..head_end]);
            scan.oversized = Some(head);
        }
    }

    fn finish_element(&mut self, end: usize) -> Frame {
        self.pos = end;
        let scan = &mut self.element;
        if scan.oversized.is_none() && end - scan.start > self.config.max_element_bytes {
            let head_end = scan.start + (end - scan.start).min(OVERSIZED_HEAD_BYTES);
            scan.oversized = Some(Bytes::copy_from_slice(&self.buf[scan.start..head_end]));
        }
        match scan.oversized.take() {
            Some(head) => Frame::Oversized {
                offset: scan.offset,
                length: self.base + end as u64 - scan.offset,
                head,
            },
            None => {
                let start = scan.start;
                Frame::Element {
                    offset: scan.offset,
                    bytes: self.shared().slice(start..end),
                }
            }
        }
    }

    /// Returns the current buffer as [`Bytes`] that frames can share, freezing it on the first
    /// call after a read. A buffer less than half full, as after a short read from a pipe or a
    /// slowly arriving feed, is copied into an allocation of its own size. The buffer then goes
    /// straight back to the pool, so that a few records do not keep a whole read buffer each
    /// while they travel to the sink.
    fn shared(&mut self) -> &Bytes {
        if let Window::Open(buffer) = &mut self.buf {
            let buffer = std::mem::take(buffer);
            let bytes = if buffer.len() * 2 >= buffer.capacity() {
                self.pool.freeze(buffer)
            } else {
                let bytes = Bytes::copy_from_slice(&buffer);
                self.pool.give_back(buffer);
                bytes
            };
            self.buf = Window::Shared(bytes);
        }
        match &self.buf {
            Window::Shared(bytes) => bytes,
            Window::Open(_) => unreachable!("the buffer was frozen above"),
        }
    }

    /// Drops the bytes before `keep` and reads more input.
    fn fill(&mut self, keep: usize) -> Result<(), SplitError> {
        let keep = keep.min(self.buf.len());
        let mut next = match std::mem::replace(&mut self.buf, Window::Open(Vec::new())) {
            // Frames point into a shared buffer, so the bytes from `keep` on move to a new one.
            Window::Shared(bytes) => {
                let carried = &bytes[keep..];
                let mut next = self.pool.take(self.config.buffer_capacity(carried.len()));
                next.extend_from_slice(carried);
                next
            }
            Window::Open(buffer) if buffer.capacity() == 0 => {
                self.pool.take(self.config.buffer_capacity(0))
            }
            // No frame points into a buffer that is still open, so it grows in place. An
            // element longer than a read is therefore copied about as often as its buffer
            // doubles, not once per read.
            Window::Open(mut buffer) => {
                buffer.drain(..keep);
                buffer
            }
        };
        self.base += keep as u64;
        self.pos -= keep.min(self.pos);
        let scan = &mut self.element;
        scan.start = scan.start.saturating_sub(keep);
        scan.scanned = scan.scanned.saturating_sub(keep);

        let filled = next.len();
        next.resize(filled + self.config.read_buffer_bytes, 0);
        let read = loop {
            match self.reader.read(&mut next[filled..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    next.truncate(filled);
                    self.buf = Window::Open(next);
                    return Err(SplitError::Io {
                        offset: self.offset_at(filled),
                        source,
                    });
                }
            }
        };
        next.truncate(filled + read);
        if read == 0 {
            self.eof = true;
        }
        self.buf = Window::Open(next);
        Ok(())
    }
}

/// The splitter's current buffer: open while bytes are read into it, shared once a frame has
/// been cut from it.
enum Window {
    Open(Vec<u8>),
    Shared(Bytes),
}

impl std::ops::Deref for Window {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Window::Open(buffer) => buffer,
            Window::Shared(bytes) => bytes,
        }
    }
}

impl<R> Drop for Splitter<R> {
    fn drop(&mut self) {
        if let Window::Open(buffer) = &mut self.buf {
            self.pool.give_back(std::mem::take(buffer));
        }
    }
}

impl<R: Read> Iterator for Splitter<R> {
    type Item = Result<Frame, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

/// Describes a byte for an error message: the character where printable, else its hex value.
fn describe(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `chunk` bytes per read.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let count = self.chunk.min(out.len()).min(self.data.len());
            out[..count].copy_from_slice(&self.data[..count]);
            self.data = &self.data[count..];
            Ok(count)
        }
    }

    fn split_with(data: &[u8], read: usize, cap: usize) -> (Vec<Frame>, Option<SplitError>) {
        let config = SplitterConfig {
            read_buffer_bytes: read,
            max_element_bytes: cap,
        };
        let mut splitter = Splitter::new(Chunked { data, chunk: read }, config);
        let mut frames = Vec::new();
        loop {
            match splitter.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return (frames, None),
                Err(error) => {
                    assert!(splitter.next_frame().unwrap().is_none());
                    return (frames, Some(error));
                }
            }
        }
    }

    fn split(data: &str) -> (Vec<Frame>, Option<SplitError>) {
        split_with(data.as_bytes(), 64 * 1024, 1024 * 1024)
    }

    fn elements(frames: &[Frame]) -> Vec<(u64, String)> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Element { offset, bytes } => {
                    (*offset, String::from_utf8(bytes.to_vec()).unwrap())
                }
                Frame::Oversized { offset, length, .. } => (*offset, format!("<{length}>")),
            })
            .collect()
    }

    #[test]
    fn frames_objects_with_offsets() {
        let (frames, error) = split(r#"[{"a":1},{"b":2}]"#);
        assert!(error.is_none());
        assert_eq!(
            elements(&frames),
            [(1, r#"{"a":1}"#.to_owned()), (9, r#"{"b":2}"#.to_owned())]
        );
    }

    #[test]
    fn accepts_bom_and_surrounding_whitespace() {
        let text = "\u{feff}\n  [\n  {\"a\": 1} ,\n\t{\"b\": 2}\r\n]\n\n";
        let (frames, error) = split(text);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            elements(&frames),
            [(10, "{\"a\": 1}".to_owned()), (22, "{\"b\": 2}".to_owned())]
        );
    }

    #[test]
    fn strings_hide_brackets_and_escapes() {
        let first = r#"{"s":"}]{[,","q":"a\"}b","b":"c:\\","n":{"x":[1,{"y":"]"}]}}"#;
        let second = r#"{"t":"\\\"]"}"#;
        let text = format!("[{first},{second}]");
        let (frames, error) = split(&text);
        assert!(error.is_none());
        let got = elements(&frames);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, first);
        assert_eq!(got[1].1, second);
    }

    #[test]
    fn empty_array_has_no_frames() {
        for text in ["[]", " [ ] ", "\u{feff}[]\n"] {
            let (frames, error) = split(text);
            assert!(frames.is_empty(), "{text:?}");
            assert!(error.is_none(), "{text:?}");
        }
    }

    #[test]
    fn empty_document_is_an_error() {
        for text in ["", "   \n", "\u{feff}"] {
            let (_, error) = split(text);
            assert!(
                matches!(error, Some(SplitError::Empty)),
                "{text:?}: {error:?}"
            );
        }
    }

    #[test]
    fn object_document_is_not_an_array() {
        let (frames, error) = split("\n{\"ip\": \"192.0.2.1\"}");
        assert!(frames.is_empty());
        match error {
            Some(SplitError::NotAnArray { offset, found }) => {
                assert_eq!(offset, 1);
                assert_eq!(found, "'{'");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_array_keeps_earlier_frames() {
        let text = r#"[{"a":1},{"b":"#;
        let (frames, error) = split(text);
        assert_eq!(elements(&frames), [(1, r#"{"a":1}"#.to_owned())]);
        match error {
            Some(SplitError::TruncatedElement {
                offset,
                element,
                in_string,
            }) => {
                assert_eq!(offset, text.len() as u64);
                assert_eq!(element, 9);
                assert!(!in_string);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unclosed_string_names_its_element() {
        let text = r#"[{"a":1},{"ip":"1.2.3.4","c":"abc}]"#;
        let (frames, error) = split(text);
        assert_eq!(frames.len(), 1);
        let error = error.expect("the split fails");
        assert!(
            matches!(
                error,
                SplitError::TruncatedElement {
                    element: 9,
                    in_string: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the feed ends at byte 35 inside a string of the element that starts at byte 9: the \
             file is truncated, or a string in that element is not closed"
        );
    }

    #[test]
    fn missing_closing_bracket_is_truncation() {
        for text in [r#"[{"a":1}"#, r#"[{"a":1},"#, "[{\"a\":1}\n\n", "[1"] {
            let (frames, error) = split(text);
            assert_eq!(frames.len(), 1, "{text:?}");
            assert!(
                matches!(error, Some(SplitError::Truncated { .. })),
                "{text:?}: {error:?}"
            );
        }
    }

    #[test]
    fn text_after_closing_bracket_is_an_error() {
        let (frames, error) = split("[{\"a\":1}]\n garbage");
        assert_eq!(frames.len(), 1);
        match error {
            Some(SplitError::TrailingData { offset, found }) => {
                assert_eq!(offset, 11);
                assert_eq!(found, "'g'");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_comma_and_trailing_comma_are_errors() {
        let (frames, error) = split(r#"[{"a":1} {"b":2}]"#);
        assert_eq!(frames.len(), 1);
        assert!(matches!(
            error,
            Some(SplitError::Unexpected { offset: 9, .. })
        ));

        let (frames, error) = split(r#"[{"a":1},]"#);
        assert_eq!(frames.len(), 1);
        assert!(matches!(
            error,
            Some(SplitError::Unexpected { offset: 9, .. })
        ));

        let (frames, error) = split(r#"[,{"a":1}]"#);
        assert!(frames.is_empty());
        assert!(matches!(
            error,
            Some(SplitError::Unexpected { offset: 1, .. })
        ));
    }

    #[test]
    fn stray_bracket_ends_at_the_closing_brace() {
        let (frames, error) = split(r#"[{"a": [}, {"b": 2}, [1, [2], {"c": "]"}]]"#);
        assert!(error.is_none(), "{error:?}");
        let got: Vec<String> = elements(&frames)
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(
            got,
            [r#"{"a": [}"#, r#"{"b": 2}"#, r#"[1, [2], {"c": "]"}]"#]
        );
    }

    #[test]
    fn scalar_elements_are_framed() {
        let (frames, error) = split(r#"[1, "x,]", true ,null,-2.5e3]"#);
        assert!(error.is_none());
        let got: Vec<String> = elements(&frames)
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(got, ["1", "\"x,]\"", "true", "null", "-2.5e3"]);
    }

    #[test]
    fn oversized_element_is_skipped_and_reported() {
        let big = format!(r#"{{"pad":"{}","x":{{"y":"}}"}}}}"#, "z".repeat(300));
        let text = format!(r#"[{{"a":1}},{big},{{"b":2}}]"#);
        for read in [1, 7, 64, 4096] {
            let (frames, error) = split_with(text.as_bytes(), read, 100);
            assert!(error.is_none(), "read {read}: {error:?}");
            assert_eq!(frames.len(), 3, "read {read}");
            match &frames[1] {
                Frame::Oversized {
                    offset,
                    length,
                    head,
                } => {
                    assert_eq!(*offset, 9, "read {read}");
                    assert_eq!(*length, big.len() as u64, "read {read}");
                    assert!(big.as_bytes().starts_with(head), "read {read}");
                    assert!(!head.is_empty());
                }
                other => panic!("read {read}: expected oversized, got {other:?}"),
            }
            assert_eq!(
                elements(&frames[2..]),
                [(10 + big.len() as u64, r#"{"b":2}"#.to_owned())],
                "read {read}"
            );
        }
    }

    #[test]
    fn oversized_unclosed_element_is_truncation() {
        let text = format!(r#"[{{"a":1}},{{"pad":"{}"#, "z".repeat(500));
        let (frames, error) = split_with(text.as_bytes(), 16, 100);
        assert_eq!(frames.len(), 1);
        assert!(matches!(
            error,
            Some(SplitError::TruncatedElement {
                element: 9,
                in_string: true,
                ..
            })
        ));
    }

    #[test]
    fn every_read_boundary_gives_the_same_frames() {
        let text = concat!(
            "\u{feff} [\n",
            r#"  {"ip": "192.0.2.1", "s": "a\"b\\", "n": [1, {"k": "]}"}]},"#,
            "\n",
            r#"  {"mask": "example.com/*", "w": {"NS": "a, b"}}, "#,
            r#""text with \\\" escapes", 42 ,"#,
            r#"{"u": "ÑAÑ", "e": ""}"#,
            "\n]\n"
        );
        let (expected, error) = split_with(text.as_bytes(), 1 << 16, 1 << 20);
        assert!(error.is_none());
        assert_eq!(expected.len(), 5);
        for read in 1..=text.len() {
            let (frames, error) = split_with(text.as_bytes(), read, 1 << 20);
            assert!(error.is_none(), "read {read}: {error:?}");
            assert_eq!(frames, expected, "read {read}");
        }
    }

    #[test]
    fn read_errors_name_the_offset() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk gone"));
                }
                let data = b"[{\"a\":1},";
                let count = data.len().min(out.len());
                out[..count].copy_from_slice(&data[..count]);
                self.0 -= 1;
                Ok(count)
            }
        }
        let mut splitter = Splitter::new(Failing(1), SplitterConfig::default());
        assert!(matches!(splitter.next_frame(), Ok(Some(_))));
        let error = splitter.next_frame().unwrap_err();
        assert!(
            matches!(error, SplitError::Io { offset: 9, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("disk gone"));
    }

    /// Returns a feed of `count` records, each with its own `id`, and the records.
    fn numbered_feed(count: usize) -> (Vec<u8>, Vec<String>) {
        let records: Vec<String> = (0..count)
            .map(|index| format!(r#"{{"id":{index},"ip":"198.51.100.{}"}}"#, index % 250))
            .collect();
        (format!("[{}]", records.join(",")).into_bytes(), records)
    }

    /// Returns a splitter with reads of 1 KiB over `data`, whose reader returns at most `chunk`
    /// bytes per read, and the pool that keeps up to `keep` of its buffers.
    fn pooled_splitter(
        data: &[u8],
        chunk: usize,
        keep: usize,
    ) -> (Splitter<Chunked<'_>>, BufferPool) {
        let config = SplitterConfig {
            read_buffer_bytes: 1024,
            max_element_bytes: 1 << 20,
        };
        let pool = config.read_pool(keep);
        let splitter = Splitter::with_pool(Chunked { data, chunk }, config, pool.clone());
        (splitter, pool)
    }

    #[test]
    fn read_buffers_reused_frames_intact() {
        let (feed, records) = numbered_feed(3000);
        let (mut splitter, pool) = pooled_splitter(&feed, usize::MAX, 4);
        // A consumer that keeps the last 50 frames, as batches in flight do.
        let mut window = std::collections::VecDeque::new();
        let mut index = 0;
        while let Some(frame) = splitter.next_frame().unwrap() {
            let Frame::Element { bytes, .. } = &frame else {
                panic!("unexpected {frame:?}");
            };
            assert_eq!(&bytes[..], records[index].as_bytes());
            window.push_back((index, frame));
            if window.len() > 50 {
                window.pop_front();
            }
            index += 1;
        }

        assert_eq!(index, records.len());
        // The frames still kept were cut from buffers that had been used before. Their text
        // matches the feed.
        for (index, frame) in &window {
            let Frame::Element { bytes, .. } = frame else {
                unreachable!()
            };
            assert_eq!(&bytes[..], records[*index].as_bytes());
        }
        // About 100 buffers' worth of feed went through no more buffers than the consumer kept
        // at once plus the one being read into.
        assert!(feed.len() > 95 * 1024);
        assert!(
            pool.allocated() <= 4,
            "{} buffers allocated",
            pool.allocated()
        );
        drop(window);
        drop(splitter);
        assert_eq!(pool.available(), pool.allocated(), "every buffer came back");
    }

    #[test]
    fn short_read_copied_buffer_reused() {
        let (feed, records) = numbered_feed(20);
        // Reads of 100 bytes, under half of a buffer, as from a pipe fed slowly.
        let (mut splitter, pool) = pooled_splitter(&feed, 100, 4);
        let mut frames = Vec::new();
        while let Some(frame) = splitter.next_frame().unwrap() {
            frames.push(frame);
            // Every frame so far is kept, yet the read buffer is back in the pool.
            assert_eq!(pool.available(), 1);
        }
        assert_eq!(pool.allocated(), 1);
        let texts: Vec<String> = elements(&frames)
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(texts, records);
    }

    #[test]
    fn long_element_grows_one_buffer() {
        let text = "x".repeat(100_000);
        let feed = format!(r#"[{{"ip":"192.0.2.1","whois":"{text}"}},{{"ip":"192.0.2.2"}}]"#);
        // A pool that keeps nothing counts every buffer a read needs.
        let (mut splitter, pool) = pooled_splitter(feed.as_bytes(), usize::MAX, 0);
        let first = splitter.next_frame().unwrap().unwrap();
        let Frame::Element { bytes, .. } = &first else {
            panic!("unexpected {first:?}");
        };
        assert!(bytes.ends_with(format!(r#"{text}"}}"#).as_bytes()));

        // The element took about 100 reads. It was read into one growing buffer instead of
        // being carried into a new buffer at every read.
        assert_eq!(pool.allocated(), 1);
        assert!(splitter.next_frame().unwrap().is_some());
        assert!(splitter.next_frame().unwrap().is_none());
    }
}
