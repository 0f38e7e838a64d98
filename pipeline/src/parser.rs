//! Turns frames into records with simd-json. One `Parser` per worker thread owns the scratch
//! buffer and simd-json's `Buffers`, so parsing allocates only for the parsed value itself.
//! A frame that is not valid JSON, or that was over the size cap, becomes a rejected item; it
//! never stops the feed.

use std::sync::Arc;

use simd_json::prelude::ValueBuilder;
use simd_json::{Buffers, OwnedValue};

use crate::catalog::FeedSpec;
use crate::ledger::Reject;
use crate::record::{Item, ItemState, Origin, Record};
use crate::splitter::Frame;

/// Per-thread element parser.
#[derive(Default)]
pub struct Parser {
    buffers: Buffers,
    scratch: Vec<u8>,
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// Parses one element. On failure returns a message naming what is wrong and the byte
    /// offset within the element.
    pub fn parse(&mut self, bytes: &[u8]) -> Result<OwnedValue, String> {
        // simd-json parses in place, so the frame, which is shared and immutable, is copied into
        // the reused scratch buffer first.
        self.scratch.clear();
        self.scratch.extend_from_slice(bytes);
        simd_json::owned::to_value_with_buffers(&mut self.scratch, &mut self.buffers).map_err(
            |error| match error.character() {
                Some(character) => format!(
                    "{:?} at byte {} of the element (near {character:?})",
                    error.error(),
                    error.index()
                ),
                None => format!(
                    "{:?} at byte {} of the element",
                    error.error(),
                    error.index()
                ),
            },
        )
    }

    /// Turns a frame into an item: a parsed record, or a rejected one for an oversized element
    /// or invalid JSON.
    pub fn parse_frame(
        &mut self,
        frame: Frame,
        feed: &'static FeedSpec,
        source: &Arc<str>,
        max_element_bytes: usize,
    ) -> Item {
        match frame {
            Frame::Element { offset, bytes } => {
                let parsed = self.parse(&bytes);
                let origin = Origin {
                    feed,
                    source: source.clone(),
                    offset,
                    raw: bytes,
                };
                match parsed {
                    Ok(value) => Item::new(Record { origin, value }),
                    Err(message) => rejected(
                        origin,
                        Reject::new(
                            "invalid_json",
                            format!("invalid JSON in the element at byte {offset}: {message}"),
                        ),
                    ),
                }
            }
            Frame::Oversized {
                offset,
                length,
                head,
            } => {
                let kept_note = if (head.len() as u64) < length {
                    format!("; the record text holds its first {} bytes", head.len())
                } else {
                    String::new()
                };
                let origin = Origin {
                    feed,
                    source: source.clone(),
                    offset,
                    raw: head,
                };
                rejected(
                    origin,
                    Reject::new(
                        "oversized_element",
                        format!(
                            "the element at byte {offset} is {length} bytes long, over the \
                             maximum element size of {max_element_bytes} bytes{kept_note}"
                        ),
                    ),
                )
            }
        }
    }
}

fn rejected(origin: Origin, reject: Reject) -> Item {
    Item {
        record: Record {
            origin,
            value: OwnedValue::null(),
        },
        state: ItemState::Rejected(reject),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use simd_json::prelude::*;

    use super::*;
    use crate::catalog::FEEDS;

    #[test]
    fn parses_and_keeps_unknown_fields() {
        let mut parser = Parser::new();
        let value = parser
            .parse(br#"{"ip":"192.0.2.1","stolen_data_type":"email_address","n":{"a":[1,2]}}"#)
            .unwrap();
        assert_eq!(value.get_str("ip"), Some("192.0.2.1"));
        assert_eq!(value.get_str("stolen_data_type"), Some("email_address"));
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["ip", "stolen_data_type", "n"]);
    }

    #[test]
    fn invalid_json_becomes_a_reject_with_offset() {
        let mut parser = Parser::new();
        let source: Arc<str> = Arc::from("IP_Reputation_Data_Feed.json");
        let frame = Frame::Element {
            offset: 120,
            bytes: Bytes::from_static(br#"{"ip": 1.2.3}"#),
        };
        let item = parser.parse_frame(frame, &FEEDS[0], &source, 1024);
        match item.state {
            ItemState::Rejected(reject) => {
                assert_eq!(reject.code, "invalid_json");
                assert!(reject.message.contains("at byte 120"), "{}", reject.message);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(item.record.origin.offset, 120);
        assert_eq!(&item.record.origin.raw[..], br#"{"ip": 1.2.3}"#);
    }

    #[test]
    fn oversized_frame_becomes_a_reject() {
        let mut parser = Parser::new();
        let source: Arc<str> = Arc::from("f.json");
        let frame = Frame::Oversized {
            offset: 7,
            length: 5000,
            head: Bytes::from_static(b"{\"pad\":\"zzz"),
        };
        let item = parser.parse_frame(frame, &FEEDS[0], &source, 1024);
        match item.state {
            ItemState::Rejected(reject) => {
                assert_eq!(reject.code, "oversized_element");
                assert!(reject.message.contains("5000 bytes"), "{}", reject.message);
                assert!(reject.message.contains("1024 bytes"), "{}", reject.message);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn buffers_are_reused_across_elements() {
        let mut parser = Parser::new();
        for index in 0..100 {
            let text = format!(r#"{{"ip":"192.0.2.{index}","popularity":{}}}"#, index % 5);
            let value = parser.parse(text.as_bytes()).unwrap();
            assert_eq!(value.get_u64("popularity"), Some(index % 5));
        }
    }
}
