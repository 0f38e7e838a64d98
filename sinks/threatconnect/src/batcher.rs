//! Groups deliveries into batch jobs bounded by indicator count and by upload bytes.
//!
//! Each indicator is encoded once, as its compact batch JSON object, and
//! appended to the job's upload body `{"indicator":[…]}`. A job never contains more than the
//! configured indicator count, and its whole body never exceeds the byte limit, which is the
//! configured `max_job_bytes` or the lower limit a ThreatConnect server stated in a "File size
//! greater than allowable limit" response. An indicator too large for any job is rejected at once.
//!
//! A job keeps, per indicator, only the origin and the type and summary (to match
//! ThreatConnect's error records to deliveries), not the whole indicator.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use feedpipe_pipeline::ledger::Reject;
use feedpipe_pipeline::pool::BufferPool;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{Delivery, IndicatorType};

const BODY_PREFIX: &[u8] = b"{\"indicator\":[";
const BODY_SUFFIX: &[u8] = b"]}";

/// Room reserved for the first job's body, before any job has shown how large one gets.
const FIRST_BODY_BYTES: usize = 1 << 20;

/// Encodes an indicator as its batch JSON object; the workers run it in parallel, so the sink
/// only copies the bytes into a job body.
#[derive(Clone, Copy, Debug, Default)]
pub struct IndicatorEncoder;

impl feedpipe_pipeline::Encoder for IndicatorEncoder {
    fn encode(&self, delivery: &Delivery, out: &mut Vec<u8>) -> std::io::Result<()> {
        feedpipe_pipeline::json::write_indicator(out, &delivery.indicator);
        Ok(())
    }
}

/// The part of a delivery a job keeps: its origin, type and summary.
#[derive(Clone, Debug)]
pub struct JobEntry {
    pub origin: Origin,
    pub indicator_type: IndicatorType,
    pub summary: String,
}

/// The indicators of one job and its encoded upload body.
#[derive(Clone, Debug)]
pub struct JobPayload {
    pub entries: Vec<JobEntry>,
    body: Bytes,
    /// Byte range of each indicator object inside `body`, in entry order.
    items: Vec<Range<usize>>,
}

impl JobPayload {
    /// Returns the upload body, `{"indicator":[…]}`.
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn byte_len(&self) -> usize {
        self.body.len()
    }

    /// Splits the job into two jobs of half the indicators each (the first half gets the
    /// smaller share when the count is odd). Needs at least two indicators.
    pub fn split_halves(self) -> (JobPayload, JobPayload) {
        assert!(self.len() >= 2, "a job of one indicator cannot be split");
        let middle = self.len() / 2;
        // Each half is sized exactly, so that a split job takes no more than twice its size.
        let half = |ranges: &[Range<usize>]| {
            let items: usize = ranges.iter().map(|range| range.len() + 1).sum();
            JobBuilder::with_capacity(ranges.len(), BODY_PREFIX.len() + items + BODY_SUFFIX.len())
        };
        let mut first = half(&self.items[..middle]);
        let mut second = half(&self.items[middle..]);
        for (index, (entry, range)) in self.entries.into_iter().zip(self.items).enumerate() {
            let target = if index < middle {
                &mut first
            } else {
                &mut second
            };
            target.push(entry, &self.body[range]);
        }
        (first.finish(None), second.finish(None))
    }
}

/// The unfinished job.
#[derive(Default)]
struct JobBuilder {
    entries: Vec<JobEntry>,
    body: Vec<u8>,
    items: Vec<Range<usize>>,
    /// Copies of the entries' original element texts, one buffer per job instead of one
    /// allocation per indicator. Each entry gets its slice when the job is finished.
    texts: Vec<u8>,
    /// Range of each entry's text in `texts`, in entry order. Empty when the entries already
    /// have their own texts, as the halves of a split job do.
    text_ranges: Vec<Range<usize>>,
}

/// Pools of the large buffers of finished jobs, which later jobs fill again.
struct JobPools {
    bodies: BufferPool,
    texts: BufferPool,
}

/// Sizes of the last finished job, from which the next job's buffers are sized.
#[derive(Clone, Copy)]
struct JobSizes {
    body: usize,
    texts: usize,
    indicators: usize,
}

impl JobBuilder {
    fn with_capacity(indicators: usize, bytes: usize) -> Self {
        JobBuilder {
            entries: Vec::with_capacity(indicators),
            body: Vec::with_capacity(bytes),
            items: Vec::with_capacity(indicators),
            ..JobBuilder::default()
        }
    }

    /// Returns the body size after appending an item of `item_len` bytes.
    fn size_with(&self, item_len: usize) -> usize {
        let current = if self.body.is_empty() {
            BODY_PREFIX.len()
        } else {
            self.body.len() + 1
        };
        current + item_len + BODY_SUFFIX.len()
    }

    fn push(&mut self, entry: JobEntry, item: &[u8]) {
        if self.body.is_empty() {
            self.body.extend_from_slice(BODY_PREFIX);
        } else {
            self.body.push(b',');
        }
        let start = self.body.len();
        self.body.extend_from_slice(item);
        self.items.push(start..self.body.len());
        self.entries.push(entry);
    }

    /// Copies an entry's original element text, for the entry pushed next.
    fn push_text(&mut self, text: &[u8]) {
        let start = self.texts.len();
        self.texts.extend_from_slice(text);
        self.text_ranges.push(start..self.texts.len());
    }

    /// Closes the body and gives each entry its text. Buffers from `pools` return to them when
    /// the job drops its last slice of them.
    fn finish(mut self, pools: Option<&JobPools>) -> JobPayload {
        if self.body.is_empty() {
            self.body.extend_from_slice(BODY_PREFIX);
        }
        self.body.extend_from_slice(BODY_SUFFIX);
        let (body, texts) = match pools {
            Some(pools) => (
                pools.bodies.freeze(self.body),
                pools.texts.freeze(self.texts),
            ),
            None => (Bytes::from(self.body), Bytes::from(self.texts)),
        };
        for (entry, range) in self.entries.iter_mut().zip(self.text_ranges) {
            entry.origin.raw = texts.slice(range);
        }
        JobPayload {
            entries: self.entries,
            body,
            items: self.items,
        }
    }
}

/// Accumulates deliveries into jobs.
pub struct Batcher {
    max_indicators: usize,
    max_bytes: Arc<AtomicUsize>,
    current: JobBuilder,
    pools: JobPools,
    /// Sizes of the last finished job, `None` before the first.
    last: Option<JobSizes>,
}

impl Batcher {
    /// Creates a batcher that keeps the buffers of up to `kept_jobs` finished jobs for reuse.
    /// The job tasks share `max_bytes` and lower it when the server states a smaller upload
    /// limit.
    pub fn new(max_indicators: usize, max_bytes: Arc<AtomicUsize>, kept_jobs: usize) -> Self {
        let limit = max_bytes.load(Ordering::Relaxed);
        Batcher {
            max_indicators,
            max_bytes,
            current: JobBuilder::default(),
            pools: JobPools {
                bodies: BufferPool::new(kept_jobs, limit),
                texts: BufferPool::new(kept_jobs, limit),
            },
            last: None,
        }
    }

    /// Adds one delivery; a job that became full is appended to `ready`. An indicator that
    /// alone exceeds the byte limit is returned as rejected.
    pub fn push(
        &mut self,
        delivery: Delivery,
        ready: &mut Vec<JobPayload>,
    ) -> Result<(), Box<(Origin, Reject)>> {
        let Delivery {
            mut origin,
            indicator,
            encoded,
        } = delivery;
        let item = encoded.unwrap_or_else(|| {
            let mut out = Vec::new();
            feedpipe_pipeline::json::write_indicator(&mut out, &indicator);
            Bytes::from(out)
        });

        let max_bytes = self.max_bytes.load(Ordering::Relaxed);
        let alone = BODY_PREFIX.len() + item.len() + BODY_SUFFIX.len();
        if alone > max_bytes {
            let reject = Reject::new(
                "too_large",
                format!(
                    "indicator {:?} encodes to {alone} bytes, above the job limit of {max_bytes} \
                     bytes",
                    indicator.summary
                ),
            );
            return Err(Box::new((origin, reject)));
        }

        if !self.current.entries.is_empty() && self.current.size_with(item.len()) > max_bytes {
            ready.push(self.take());
        }
        if self.current.entries.is_empty() {
            self.start_job();
        }
        // The element text is a slice of the splitter's read buffer. A copy lets that buffer go
        // while the job waits for ThreatConnect, so a job keeps only its own records.
        self.current.push_text(&origin.raw);
        origin.raw = Bytes::new();
        let entry = JobEntry {
            origin,
            indicator_type: indicator.indicator_type,
            summary: indicator.summary,
        };
        self.current.push(entry, &item);
        if self.current.entries.len() >= self.max_indicators {
            ready.push(self.take());
        }
        Ok(())
    }

    /// Returns the partly filled job, if any.
    pub fn flush(&mut self) -> Option<JobPayload> {
        if self.current.entries.is_empty() {
            None
        } else {
            Some(self.take())
        }
    }

    /// Number of indicators waiting in the unfinished job.
    pub fn pending(&self) -> usize {
        self.current.entries.len()
    }

    fn take(&mut self) -> JobPayload {
        let full = std::mem::take(&mut self.current);
        let texts = full.texts.len();
        let payload = full.finish(Some(&self.pools));
        self.last = Some(JobSizes {
            body: payload.byte_len(),
            texts,
            indicators: payload.len(),
        });
        payload
    }

    /// Sizes the unfinished job's buffers for a job like the last one, so that they are not
    /// grown by doubling, which would leave a trail of freed blocks behind every job.
    fn start_job(&mut self) {
        let (indicators, texts) = match self.last {
            Some(last) => (last.indicators.min(self.max_indicators), last.texts),
            None => (0, 0),
        };
        let body = self.fresh_body();
        let job = &mut self.current;
        job.body = body;
        job.entries.reserve_exact(indicators);
        job.items.reserve_exact(indicators);
        job.text_ranges.reserve_exact(indicators);
        job.texts = self.pools.texts.take(texts + texts / 8);
    }

    /// Returns an empty body with room for a job like the last one, within the byte limit, so
    /// that it is rarely reallocated while it fills. A pooled body much larger than that, kept
    /// from before the server lowered the limit, is freed instead of pinning its memory.
    fn fresh_body(&self) -> Vec<u8> {
        let limit = self.max_bytes.load(Ordering::Relaxed);
        let expected = match self.last {
            Some(last) => last.body + last.body / 8,
            None => FIRST_BODY_BYTES,
        };
        let capacity = expected.min(limit);
        let body = self.pools.bodies.take(capacity);
        if body.capacity() > capacity + capacity / 2 {
            return Vec::with_capacity(capacity);
        }
        body
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use feedpipe_pipeline::Indicator;
    use feedpipe_pipeline::catalog::FEEDS;

    use super::*;

    pub(crate) fn delivery(offset: u64, summary: &str) -> Delivery {
        let mut indicator = Indicator::new(IndicatorType::Host, summary);
        indicator.rating = 3;
        indicator.confidence = 80;
        indicator.add_tag("Kaspersky");
        Delivery {
            origin: Origin {
                feed: &FEEDS[0],
                source: Arc::from("feed.json"),
                offset,
                raw: Bytes::from(format!("{{\"mask\":\"{summary}\"}}")),
            },
            indicator,
            encoded: None,
        }
    }

    fn batcher(count: usize, bytes: usize) -> Batcher {
        Batcher::new(count, Arc::new(AtomicUsize::new(bytes)), 2)
    }

    /// Pushes hosts `{prefix}{index}.example` for each index of `indexes`.
    fn push_hosts(
        batcher: &mut Batcher,
        indexes: Range<u64>,
        prefix: &str,
        ready: &mut Vec<JobPayload>,
    ) {
        for index in indexes {
            let host = format!("{prefix}{index}.example");
            batcher.push(delivery(index, &host), ready).unwrap();
        }
    }

    fn parse(payload: &JobPayload) -> Vec<serde_json::Value> {
        let value: serde_json::Value = serde_json::from_slice(&payload.body()).unwrap();
        value["indicator"].as_array().unwrap().clone()
    }

    #[test]
    fn jobs_bounded_by_count() {
        let mut batcher = batcher(3, 1_000_000);
        let mut ready = Vec::new();
        push_hosts(&mut batcher, 0..7, "host", &mut ready);
        assert_eq!(ready.len(), 2);
        assert_eq!(ready[0].len(), 3);
        assert_eq!(ready[1].len(), 3);
        assert_eq!(batcher.pending(), 1);
        let last = batcher.flush().unwrap();
        assert_eq!(last.len(), 1);
        assert!(batcher.flush().is_none());
        assert_eq!(parse(&ready[1])[0]["summary"], "host3.example");
    }

    #[test]
    fn jobs_bounded_by_bytes() {
        let item_len = serde_json::to_vec(
            &serde_json::to_value(&delivery(0, "h00.example").indicator).unwrap(),
        )
        .unwrap()
        .len();
        // Room for exactly two items: prefix + item + ',' + item + suffix.
        let limit = BODY_PREFIX.len() + 2 * item_len + 1 + BODY_SUFFIX.len();
        let mut batcher = batcher(100, limit);
        let mut ready = Vec::new();
        for index in 0..5 {
            batcher
                .push(delivery(index, &format!("h{index:02}.example")), &mut ready)
                .unwrap();
        }
        assert_eq!(ready.len(), 2);
        for payload in &ready {
            assert_eq!(payload.len(), 2);
            assert_eq!(payload.byte_len(), limit);
            assert_eq!(parse(payload).len(), 2);
        }
    }

    #[test]
    fn body_is_indicator_value() {
        let mut batcher = batcher(10, 1_000_000);
        let mut ready = Vec::new();
        let sent = delivery(0, "a.example");
        let expected = serde_json::to_value(&sent.indicator).unwrap();
        batcher.push(sent, &mut ready).unwrap();
        let payload = batcher.flush().unwrap();
        assert_eq!(parse(&payload), vec![expected]);
        assert_eq!(payload.entries[0].summary, "a.example");
        assert_eq!(payload.entries[0].origin.offset, 0);
    }

    #[test]
    fn oversized_indicator_rejected() {
        let mut batcher = batcher(10, 64);
        let mut ready = Vec::new();
        let rejected = batcher
            .push(
                delivery(9, "a-very-long-host-name-for-this-test.example"),
                &mut ready,
            )
            .unwrap_err();
        assert_eq!(rejected.0.offset, 9);
        assert_eq!(rejected.1.code, "too_large");
        assert!(
            rejected
                .1
                .message
                .contains("above the job limit of 64 bytes")
        );
        assert!(batcher.flush().is_none());
    }

    #[test]
    fn lowered_limit_applies_to_next_push() {
        let limit = Arc::new(AtomicUsize::new(1_000_000));
        let mut batcher = Batcher::new(100, limit.clone(), 2);
        let mut ready = Vec::new();
        batcher.push(delivery(0, "a.example"), &mut ready).unwrap();
        limit.store(BODY_PREFIX.len() + 120, Ordering::Relaxed);
        batcher.push(delivery(1, "b.example"), &mut ready).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].len(), 1);
    }

    #[test]
    fn entries_keep_element_text() {
        let mut batcher = batcher(2, 1_000_000);
        let mut ready = Vec::new();
        push_hosts(&mut batcher, 0..3, "t", &mut ready);
        let last = batcher.flush().unwrap();
        let texts: Vec<&[u8]> = ready[0]
            .entries
            .iter()
            .chain(&last.entries)
            .map(|entry| &entry.origin.raw[..])
            .collect();
        assert_eq!(
            texts,
            [
                &b"{\"mask\":\"t0.example\"}"[..],
                b"{\"mask\":\"t1.example\"}",
                b"{\"mask\":\"t2.example\"}",
            ]
        );
    }

    #[test]
    fn finished_body_is_reused() {
        // The first body is sized by a guess, later ones by the job before them.
        let mut batcher = batcher(3, 1_000_000);
        let mut ready = Vec::new();
        push_hosts(&mut batcher, 0..6, "r", &mut ready);
        let second = ready.pop().unwrap();
        drop(ready.pop().unwrap());
        let address = second.body.as_ptr();
        let bytes = second.byte_len();
        assert_eq!(
            batcher.current.body.capacity(),
            0,
            "no body before the next job"
        );

        drop(second);
        assert_eq!(batcher.pools.bodies.available(), 2, "both bodies came back");
        batcher.push(delivery(6, "r6.example"), &mut ready).unwrap();
        assert_eq!(
            batcher.pools.bodies.available(),
            1,
            "one body was taken again"
        );
        assert_eq!(batcher.current.body.as_ptr(), address);
        assert!(batcher.current.body.capacity() >= bytes);
    }

    #[test]
    fn body_follows_lowered_limit() {
        let limit = Arc::new(AtomicUsize::new(1_000_000));
        let mut batcher = Batcher::new(3, limit.clone(), 2);
        let mut ready = Vec::new();
        push_hosts(&mut batcher, 0..3, "l", &mut ready);
        assert_eq!(batcher.pools.bodies.available(), 0);
        drop(ready.pop().unwrap());
        assert_eq!(
            batcher.pools.bodies.available(),
            1,
            "the first body is kept"
        );

        let lowered = BODY_PREFIX.len() + 400;
        limit.store(lowered, Ordering::Relaxed);
        batcher.push(delivery(3, "l3.example"), &mut ready).unwrap();
        let capacity = batcher.current.body.capacity();
        assert!(capacity >= 200, "room for a job like the last: {capacity}");
        assert!(capacity <= lowered, "within the lowered limit: {capacity}");
    }

    #[test]
    fn split_halves_keeps_order_and_bytes() {
        let mut batcher = batcher(100, 1_000_000);
        let mut ready = Vec::new();
        push_hosts(&mut batcher, 0..5, "s", &mut ready);
        let payload = batcher.flush().unwrap();
        let all = parse(&payload);
        let (first, second) = payload.split_halves();
        assert_eq!(first.len(), 2);
        assert_eq!(second.len(), 3);
        let mut rejoined = parse(&first);
        rejoined.extend(parse(&second));
        assert_eq!(rejoined, all);
        let offsets: Vec<u64> = first
            .entries
            .iter()
            .chain(&second.entries)
            .map(|entry| entry.origin.offset)
            .collect();
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        let (one, two) = first.split_halves();
        assert_eq!((one.len(), two.len()), (1, 1));
        assert_eq!(parse(&two)[0]["summary"], "s1.example");
    }
}
