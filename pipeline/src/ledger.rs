//! Outcome accounting. Every record read ends in exactly one outcome (delivered, rejected or
//! filtered), and `read = delivered + rejected + filtered` holds per source once a run is over.
//! Rejected records are written to the rejects file (JSONL) with their feed, source, byte offset,
//! reason and original text.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::catalog::FeedSpec;
use crate::record::Origin;

/// At most this many bytes of an element's text go to the rejects file.
pub const MAX_REJECT_RECORD_BYTES: usize = 64 * 1024;

/// Why a record was rejected: a short, stable `code` counted in the summary (for example
/// `invalid_ip`) and a message that names the field and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub code: String,
    pub message: String,
}

impl Reject {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Reject {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Per-source counts.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SourceSummary {
    pub feed: String,
    pub feed_id: Option<u32>,
    pub source: String,
    pub read: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub filtered: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub filtered_by_reason: BTreeMap<String, u64>,
    /// Set when the source stopped early (broken file); the counts cover what came before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The reason the source was read in an unusual way, such as a superseded feed read because
    /// the feed that supersedes it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl SourceSummary {
    /// Checks that every record read has exactly one outcome.
    pub fn balanced(&self) -> bool {
        self.read == self.delivered + self.rejected + self.filtered
    }
}

/// The end-of-run summary, also written by `--summary-json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub sources: Vec<SourceSummary>,
    pub read: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub filtered: u64,
    /// Sink-specific figures (jobs submitted, retries, bytes written, …).
    pub sink: BTreeMap<String, serde_json::Value>,
    /// Stage event counts, keyed `stage.event` (for example `rate.default_rating`).
    pub stages: BTreeMap<String, u64>,
}

struct Inner {
    sources: BTreeMap<Arc<str>, SourceSummary>,
    order: Vec<Arc<str>>,
    rejects: Option<BufWriter<File>>,
    /// The first failure to write the rejects file, after which nothing more is written to it.
    rejects_failure: Option<RejectsFailure>,
    sink: BTreeMap<String, serde_json::Value>,
    stages: BTreeMap<String, u64>,
}

/// The cause of an incomplete rejects file, and the number of rejected records missing from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectsFailure {
    pub error: String,
    /// Rejected records not written because they came after the failure. Records still
    /// buffered when it happened may be missing as well.
    pub missing: u64,
}

/// Thread-safe accounting for one run. Counting takes a lock per call, so callers count per
/// batch, not per record, where they can.
pub struct Ledger {
    inner: Mutex<Inner>,
}

impl Ledger {
    /// Creates a ledger writing rejects to `rejects_path`, or to nowhere when `None`.
    pub fn new(rejects_path: Option<&Path>) -> io::Result<Self> {
        let rejects = match rejects_path {
            Some(path) => Some(BufWriter::new(File::create(path)?)),
            None => None,
        };
        Ok(Ledger {
            inner: Mutex::new(Inner {
                sources: BTreeMap::new(),
                order: Vec::new(),
                rejects,
                rejects_failure: None,
                sink: BTreeMap::new(),
                stages: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts `count` records read from a source.
    pub fn add_read(&self, feed: &'static FeedSpec, source: &Arc<str>, count: u64) {
        metrics::counter!(RECORDS_READ, "feed" => feed.name).increment(count);
        let mut inner = self.lock();
        inner.entry(feed, source).read += count;
    }

    /// Counts records delivered.
    pub fn add_delivered<'a>(&self, origins: impl IntoIterator<Item = &'a Origin>) {
        let mut inner = self.lock();
        // Deliveries come in runs from one source, so each run is counted with one lookup.
        let mut run: Option<(&Origin, u64)> = None;
        let flush = |inner: &mut Inner, (first, count): (&Origin, u64)| {
            inner.entry(first.feed, &first.source).delivered += count;
            count_outcome(first.feed, "delivered", "", count);
        };
        for origin in origins {
            run = match run {
                Some((first, count))
                    if std::ptr::eq(first.feed, origin.feed)
                        && Arc::ptr_eq(&first.source, &origin.source) =>
                {
                    Some((first, count + 1))
                }
                Some(done) => {
                    flush(&mut inner, done);
                    Some((origin, 1))
                }
                None => Some((origin, 1)),
            };
        }
        if let Some(done) = run {
            flush(&mut inner, done);
        }
    }

    /// Counts `count` records of a source filtered for `reason`.
    pub fn add_filtered(
        &self,
        feed: &'static FeedSpec,
        source: &Arc<str>,
        reason: &str,
        count: u64,
    ) {
        count_outcome(feed, "filtered", reason, count);
        let mut inner = self.lock();
        let entry = inner.entry(feed, source);
        entry.filtered += count;
        *entry
            .filtered_by_reason
            .entry(reason.to_owned())
            .or_default() += count;
    }

    /// Counts a rejected record and writes it to the rejects file. Returns the error of the
    /// first write that fails. After it the ledger writes nothing more to the file and counts
    /// the records missing from it (see [`Ledger::rejects_failure`]).
    pub fn add_rejected(&self, origin: &Origin, reject: &Reject) -> io::Result<()> {
        count_outcome(origin.feed, "rejected", &reject.code, 1);
        let mut inner = self.lock();
        let entry = inner.entry(origin.feed, &origin.source);
        entry.rejected += 1;
        *entry
            .rejected_by_reason
            .entry(reject.code.clone())
            .or_default() += 1;
        if let Some(failure) = inner.rejects_failure.as_mut() {
            failure.missing += 1;
            return Ok(());
        }
        let written = match inner.rejects.as_mut() {
            Some(writer) => write_reject(writer, origin, reject),
            None => Ok(()),
        };
        if let Err(error) = &written {
            inner.fail_rejects(error, 1);
        }
        written
    }

    /// Returns why the rejects file is incomplete, if writing it failed.
    pub fn rejects_failure(&self) -> Option<RejectsFailure> {
        self.lock().rejects_failure.clone()
    }

    /// Notes that a source stopped early with `message`.
    pub fn set_error(&self, feed: &'static FeedSpec, source: &Arc<str>, message: String) {
        let mut inner = self.lock();
        inner.entry(feed, source).error = Some(message);
    }

    /// Records a note on how a source was read, shown with its summary row.
    pub fn set_note(&self, feed: &'static FeedSpec, source: &Arc<str>, note: String) {
        let mut inner = self.lock();
        inner.entry(feed, source).note = Some(note);
    }

    /// Stores a sink figure for the summary.
    pub fn set_sink_stat(&self, key: &str, value: serde_json::Value) {
        self.lock().sink.insert(key.to_owned(), value);
    }

    /// Stores a stage event count for the summary.
    pub fn set_stage_counter(&self, key: String, value: u64) {
        self.lock().stages.insert(key, value);
    }

    /// Flushes the rejects file. A failure is also kept for [`Ledger::rejects_failure`]; the
    /// records still buffered at that point are not counted as missing, because the buffer
    /// may have been partly written.
    pub fn flush(&self) -> io::Result<()> {
        let mut inner = self.lock();
        let flushed = match inner.rejects.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        };
        if let Err(error) = &flushed {
            inner.fail_rejects(error, 0);
        }
        flushed
    }

    /// Returns the counts so far, per source in the order sources were first seen.
    pub fn summary(&self) -> Summary {
        let inner = self.lock();
        let mut summary = Summary {
            sink: inner.sink.clone(),
            stages: inner.stages.clone(),
            ..Summary::default()
        };
        for key in &inner.order {
            let source = inner.sources[key].clone();
            summary.read += source.read;
            summary.delivered += source.delivered;
            summary.rejected += source.rejected;
            summary.filtered += source.filtered;
            summary.sources.push(source);
        }
        summary
    }
}

impl Inner {
    /// Stops writing the rejects file after `error`, keeping the first failure.
    fn fail_rejects(&mut self, error: &io::Error, missing: u64) {
        self.rejects = None;
        let failure = self.rejects_failure.get_or_insert(RejectsFailure {
            error: error.to_string(),
            missing: 0,
        });
        failure.missing += missing;
    }

    fn entry(&mut self, feed: &'static FeedSpec, source: &Arc<str>) -> &mut SourceSummary {
        if !self.sources.contains_key(source) {
            self.order.push(source.clone());
            self.sources.insert(
                source.clone(),
                SourceSummary {
                    feed: feed.name.to_owned(),
                    feed_id: feed.id,
                    source: source.to_string(),
                    ..SourceSummary::default()
                },
            );
        }
        self.sources
            .get_mut(source)
            .expect("entry was just inserted")
    }
}

/// Records read, labelled by feed.
pub const RECORDS_READ: &str = "feedpipe_pipeline_records_read_total";
/// Record outcomes, labelled by feed, outcome and reason.
pub const RECORDS_OUTCOME: &str = "feedpipe_pipeline_records_total";

fn count_outcome(feed: &'static FeedSpec, outcome: &'static str, reason: &str, count: u64) {
    metrics::counter!(
        RECORDS_OUTCOME,
        "feed" => feed.name,
        "outcome" => outcome,
        "reason" => reason.to_owned()
    )
    .increment(count);
}

#[derive(Serialize)]
struct RejectLine<'a> {
    feed: &'a str,
    file: &'a str,
    offset: u64,
    code: &'a str,
    reason: &'a str,
    record: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    record_truncated: bool,
}

fn write_reject(writer: &mut impl Write, origin: &Origin, reject: &Reject) -> io::Result<()> {
    let truncated = origin.raw.len() > MAX_REJECT_RECORD_BYTES;
    let raw = &origin.raw[..origin.raw.len().min(MAX_REJECT_RECORD_BYTES)];
    let text = String::from_utf8_lossy(raw);
    let line = RejectLine {
        feed: origin.feed.name,
        file: &origin.source,
        offset: origin.offset,
        code: &reject.code,
        reason: &reject.message,
        record: &text,
        record_truncated: truncated,
    };
    serde_json::to_writer(&mut *writer, &line)?;
    writer.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::catalog::FEEDS;

    #[test]
    fn counts_balance_and_rejects_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        let ledger = Ledger::new(Some(&path)).unwrap();
        let feed = &FEEDS[0];
        let source: Arc<str> = Arc::from("feed.json");
        let origin = |offset| Origin {
            feed,
            source: source.clone(),
            offset,
            raw: Bytes::from_static(b"{\"ip\":\"x\"}"),
        };
        ledger.add_read(feed, &source, 4);
        ledger.add_delivered([&origin(1), &origin(2)]);
        ledger
            .add_rejected(&origin(3), &Reject::new("invalid_ip", "invalid ip \"x\""))
            .unwrap();
        ledger.add_filtered(feed, &source, "superseded", 1);
        ledger.flush().unwrap();

        let summary = ledger.summary();
        assert_eq!(summary.sources.len(), 1);
        assert!(summary.sources[0].balanced());
        assert_eq!(summary.sources[0].rejected_by_reason["invalid_ip"], 1);

        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["offset"], 3);
        assert_eq!(line["file"], "feed.json");
        assert_eq!(line["record"], "{\"ip\":\"x\"}");
        assert_eq!(line["reason"], "invalid ip \"x\"");
    }

    #[test]
    fn deliveries_count_per_source_in_mixed_runs() {
        let ledger = Ledger::new(None).unwrap();
        let sources: [Arc<str>; 2] = [Arc::from("a.json"), Arc::from("b.json")];
        let origin = |index: usize, feed| Origin {
            feed,
            source: sources[index].clone(),
            offset: 0,
            raw: Bytes::new(),
        };
        let (ip, url) = (&FEEDS[0], &FEEDS[1]);
        let batch = [
            origin(0, ip),
            origin(0, ip),
            origin(1, url),
            origin(0, ip),
            origin(1, url),
            origin(1, url),
        ];
        ledger.add_delivered(&batch);
        // The same source name behind another pointer is still the same source.
        ledger.add_delivered([&Origin {
            source: Arc::from("a.json"),
            ..origin(0, ip)
        }]);

        let summary = ledger.summary();
        let delivered: Vec<(&str, u64)> = summary
            .sources
            .iter()
            .map(|source| (source.source.as_str(), source.delivered))
            .collect();
        assert_eq!(delivered, [("a.json", 4), ("b.json", 3)]);
    }
}
