//! Runs feeds through the pipeline: worker threads take turns splitting the next batch of
//! frames off the feed, parse it and run the stages on it, and the async side hands the
//! indicators to the sink in feed order.
//!
//! Batches are numbered as they are split, and each worker takes the next one when it is free,
//! so a worker that gets less CPU time does not hold the others back. The async side puts the
//! finished batches back in feed order, so output order equals feed order whatever the number
//! of workers. A worker takes a permit for every batch and the async side returns it when the
//! batch has reached the sink, so a slow sink stops the workers and memory stays within
//! `batches in flight × batch bytes` however long the feed is.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::mpsc;

use crate::catalog::FeedSpec;
use crate::ledger::Ledger;
use crate::parser::Parser;
use crate::pool::{BufferPool, VecPool};
use crate::profile::{Profile, Stopwatch};
use crate::record::{Item, ItemState};
use crate::sink::{Delivery, Encoder, Sink, SinkError};
use crate::source::{FeedSource, superseded};
use crate::splitter::{Frame, Splitter, SplitterConfig};
use crate::stage::Stage;

/// Pipeline sizing. The peak memory of the pipeline itself is about
/// `workers × channel_capacity + 1` batches of at most `batch_bytes` raw bytes each (plus their
/// parsed form and encoding), one copy of a batch's text per worker, which the parsed values
/// borrow, one read buffer and one element.
#[derive(Clone, Copy, Debug)]
pub struct RunnerConfig {
    /// Records per batch.
    pub batch_records: usize,
    /// Raw bytes per batch; a batch closes at whichever limit comes first.
    pub batch_bytes: usize,
    /// Batches per worker in flight between the feed and the sink; with one more for the sink,
    /// `workers × channel_capacity + 1` in all.
    pub channel_capacity: usize,
    /// Worker threads that parse and run the stages.
    pub workers: usize,
    pub splitter: SplitterConfig,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_records: 512,
            batch_bytes: 1024 * 1024,
            channel_capacity: 1,
            workers: std::thread::available_parallelism().map_or(2, |count| count.get()),
            splitter: SplitterConfig::default(),
        }
    }
}

/// The result of a run whose sink did not fail.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// One message per feed that stopped early because its source was broken.
    pub source_errors: Vec<String>,
    /// Whether the run stopped early because [`Runner::stop_handle`] was set.
    pub interrupted: bool,
}

/// Reject code of records read but never handed to the sink because the run stopped.
pub const NOT_SENT: &str = "not_sent";

/// Runs sources through the stages into one sink.
pub struct Runner {
    config: RunnerConfig,
    stages: Arc<Vec<Box<dyn Stage>>>,
    ledger: Arc<Ledger>,
    profile: Arc<Profile>,
    stop: Arc<AtomicBool>,
}

impl Runner {
    pub fn new(config: RunnerConfig, stages: Vec<Box<dyn Stage>>, ledger: Arc<Ledger>) -> Self {
        let names: Vec<&'static str> = stages.iter().map(|stage| stage.name()).collect();
        Runner {
            config,
            stages: Arc::new(stages),
            ledger,
            profile: Arc::new(Profile::new(&names)),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Returns the flag that stops the run: once set, the reader stops at the next batch, the
    /// records already read still go through the stages to the sink, and later feeds are not
    /// read. A signal handler sets it on Ctrl-C.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Runs every source in order, then finishes the sink. A broken source stops only its own
    /// feed. A failing sink stops the run: the records already read are counted as rejected
    /// (`not_sent`) so that the counts still add up, and the sink's error is returned.
    pub async fn run(
        &self,
        sources: &[FeedSource],
        sink: &mut dyn Sink,
    ) -> Result<RunOutcome, SinkError> {
        let mut outcome = RunOutcome::default();
        let superseded_by = superseded(sources);
        // Superseding feeds are read first, so that a feed whose superseding feed ended early
        // can be read in its place.
        let (plain, replaceable): (Vec<usize>, Vec<usize>) =
            (0..sources.len()).partition(|&index| superseded_by[index].is_none());
        let mut broken: Vec<&'static str> = Vec::new();
        for index in plain.into_iter().chain(replaceable) {
            let source = &sources[index];
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let started = Instant::now();
            tracing::info!(feed = source.feed.name, source = %source.name, "Reading feed.");
            // Registers the source, so that a feed without records still gets its summary row.
            self.ledger.add_read(source.feed, &source.name, 0);
            // The feed that supersedes this one, unless it stopped early.
            let mut winner = superseded_by[index];
            if let Some(broken_winner) = winner.filter(|winner| broken.contains(&winner.prefix)) {
                winner = None;
                tracing::warn!(
                    feed = source.feed.name,
                    source = %source.name,
                    superseded_by = broken_winner.name,
                    "Reading feed after all: the feed that supersedes it ended early."
                );
                let note = format!("read because {} stopped early", broken_winner.name);
                self.ledger.set_note(source.feed, &source.name, note);
            }
            let result = match winner {
                Some(winner) => self.count_superseded(source, winner).await,
                None => match self.run_source(source, sink).await {
                    Ok(result) => result,
                    Err(error) => {
                        self.stop.store(true, Ordering::Relaxed);
                        // The sink may still have work to account for, such as jobs in flight.
                        let _ = sink.finish(&self.ledger).await;
                        self.collect_stage_counters();
                        return Err(error);
                    }
                },
            };
            if let Err(message) = result {
                let message = format!("{} feed {}: {message}", source.feed.name, source.name);
                tracing::error!(feed = source.feed.name, source = %source.name, error = %message, "Feed stopped early.");
                self.ledger
                    .set_error(source.feed, &source.name, message.clone());
                outcome.source_errors.push(message);
                broken.push(source.feed.prefix);
            }
            tracing::info!(
                feed = source.feed.name,
                source = %source.name,
                seconds = started.elapsed().as_secs_f64(),
                "Finished reading feed."
            );
        }

        let started = Instant::now();
        let finished = sink.finish(&self.ledger).await;
        self.profile.sink.add_busy(started.elapsed());
        self.collect_stage_counters();
        finished?;
        outcome.interrupted = self.stop.load(Ordering::Relaxed);
        Ok(outcome)
    }

    fn collect_stage_counters(&self) {
        for stage in self.stages.iter() {
            for (event, count) in stage.counters() {
                self.ledger
                    .set_stage_counter(format!("{}.{event}", stage.name()), count);
            }
        }
    }

    /// Counts the records of a feed that another feed of the run supersedes, as filtered.
    async fn count_superseded(
        &self,
        source: &FeedSource,
        winner: &'static FeedSpec,
    ) -> Result<(), String> {
        tracing::info!(
            feed = source.feed.name,
            source = %source.name,
            superseded_by = winner.name,
            "Skipping feed: superseded by another feed of this run."
        );
        let reason = format!("superseded by {}", winner.name);
        let source = source.clone();
        let config = self.config.splitter;
        let ledger = self.ledger.clone();
        let counted = tokio::task::spawn_blocking(move || {
            source.with_reader(|reader| {
                let mut count = 0;
                let mut result = Ok(());
                for frame in Splitter::new(reader, config) {
                    match frame {
                        Ok(_) => count += 1,
                        Err(error) => {
                            result = Err(error.to_string());
                            break;
                        }
                    }
                }
                ledger.add_read(source.feed, &source.name, count);
                ledger.add_filtered(source.feed, &source.name, &reason, count);
                result
            })
        })
        .await
        .map_err(|error| format!("reader thread failed: {error}"))?;
        counted.map_err(|error| error.to_string())?
    }

    /// Runs one feed. The outer error is a sink failure; the inner one a broken source.
    async fn run_source(
        &self,
        source: &FeedSource,
        sink: &mut dyn Sink,
    ) -> Result<Result<(), String>, SinkError> {
        let workers = self.config.workers.max(1);
        let capacity = self.config.channel_capacity.max(1);

        let (out_tx, mut from_workers) = mpsc::unbounded_channel::<Numbered<Vec<Delivery>>>();
        // Batches between the splitter and the sink: `capacity` per worker and one for the sink.
        let in_flight = workers * capacity + 1;
        let (permits, returned) = sync_channel::<()>(in_flight);
        let pools = Pools::new(&self.config, in_flight);
        let reading = {
            let worker = Worker {
                source: source.clone(),
                stages: self.stages.clone(),
                encoder: sink.encoder(),
                ledger: self.ledger.clone(),
                profile: self.profile.clone(),
                config: self.config,
                stop: self.stop.clone(),
                pools: pools.clone(),
            };
            tokio::task::spawn_blocking(move || worker.run_all(workers, &permits, &out_tx))
        };

        // Batches that arrived before the one the sink needs next, by number.
        let mut waiting: BTreeMap<u64, Vec<Delivery>> = BTreeMap::new();
        let mut next = 0;
        let mut failure = None;
        loop {
            let waited = Instant::now();
            let received = from_workers.recv().await;
            self.profile.sink.add_wait(waited.elapsed());
            let finished = match received {
                Some(Numbered { number, batch }) => {
                    waiting.insert(number, batch);
                    false
                }
                // Every worker has stopped. Anything still waiting follows a batch a failed
                // worker lost, and goes to the sink in order all the same.
                None => true,
            };
            loop {
                let batch = if finished {
                    waiting.pop_first().map(|(_, batch)| batch)
                } else {
                    waiting.remove(&next)
                };
                let Some(batch) = batch else {
                    break;
                };
                next += 1;
                let emptied = self.deliver(batch, sink, &mut failure).await;
                pools.deliveries.give_back(emptied);
                // The batch has left the pipeline, so a worker may split another.
                let _ = returned.try_recv();
            }
            if finished {
                break;
            }
        }
        drop(from_workers);
        drop(returned);

        let read = match reading.await {
            Ok(result) => result,
            Err(error) => Err(format!("worker thread failed: {error}")),
        };
        match failure {
            Some(error) => Err(error),
            None => Ok(read),
        }
    }

    /// Hands one batch to the sink, or, once the sink has failed, counts it as not sent.
    /// Returns the batch's vector with what the sink left in it.
    async fn deliver(
        &self,
        mut batch: Vec<Delivery>,
        sink: &mut dyn Sink,
        failure: &mut Option<SinkError>,
    ) -> Vec<Delivery> {
        if batch.is_empty() {
            return batch;
        }
        if failure.is_some() {
            // The sink failed: the rest of what was read is accounted for, not sent.
            let reject = crate::ledger::Reject::new(
                NOT_SENT,
                "not sent: the run stopped because the sink failed",
            );
            for delivery in &batch {
                self.reject(&delivery.origin, &reject);
            }
            return batch;
        }
        let started = Instant::now();
        let count = batch.len() as u64;
        let sent = sink.send(&mut batch, &self.ledger).await;
        self.profile.sink.add_busy(started.elapsed());
        self.profile.sink.add_volume(count, 0);
        if let Err(error) = sent {
            self.stop.store(true, Ordering::Relaxed);
            *failure = Some(error);
        }
        batch
    }

    fn reject(&self, origin: &crate::record::Origin, reject: &crate::ledger::Reject) {
        if let Err(error) = self.ledger.add_rejected(origin, reject) {
            tracing::error!(%error, "Writing the rejects file failed.");
        }
    }
}

/// Records a worker parses, stages and encodes at a time. A chunk's text, parsed values,
/// indicators and encodings take a few hundred KB, which a core's cache keeps between the steps,
/// where a whole batch of 512 records did not. 128 ran faster than 32, 64 or 512 in the
/// file-sink and null-sink runs of docs/benchmarks.md.
const CHUNK_RECORDS: usize = 128;

/// A batch and its place in the feed.
struct Numbered<T> {
    number: u64,
    batch: T,
}

/// The feed's splitter, which the workers take batches from in turn.
struct SharedReader<'r> {
    splitter: Splitter<&'r mut (dyn Read + Send)>,
    /// Number of the next batch.
    next: u64,
    /// The outcome of reading once it has ended: `Ok` at the end of the feed, else the reason it
    /// stopped.
    ended: Option<Result<(), String>>,
}

/// Splits, parses and runs the stages on batches of one feed. Every worker thread takes the
/// next batch from the shared splitter and works on it, so the bytes it just framed are still
/// in its core's cache when it parses them.
struct Worker {
    source: FeedSource,
    stages: Arc<Vec<Box<dyn Stage>>>,
    encoder: Option<Arc<dyn Encoder>>,
    ledger: Arc<Ledger>,
    profile: Arc<Profile>,
    config: RunnerConfig,
    stop: Arc<AtomicBool>,
    pools: Pools,
}

/// The buffers that go around a feed's run: the splitter's read buffers, the encodings and the
/// vectors of deliveries.
#[derive(Clone)]
struct Pools {
    reads: BufferPool,
    encodings: BufferPool,
    deliveries: Arc<VecPool<Delivery>>,
}

impl Pools {
    /// Creates pools that keep as many buffers as `in_flight` batches can use at once, plus
    /// the ones being filled.
    fn new(config: &RunnerConfig, in_flight: usize) -> Self {
        let read_bytes = config.splitter.read_buffer_bytes.max(1);
        let reads_per_batch = config.batch_bytes.div_ceil(read_bytes) + 1;
        let chunks_per_batch = config.batch_records.div_ceil(CHUNK_RECORDS);
        Pools {
            reads: config.splitter.read_pool(in_flight * reads_per_batch + 1),
            encodings: BufferPool::new(
                in_flight * chunks_per_batch + config.workers,
                2 * config.batch_bytes,
            ),
            deliveries: Arc::new(VecPool::new(in_flight + 1, config.batch_records)),
        }
    }
}

impl Worker {
    /// Opens the source and works on it with `workers` threads, this one included, until the
    /// feed ends or breaks. Returns how reading ended.
    fn run_all(
        self,
        workers: usize,
        permits: &SyncSender<()>,
        out: &mpsc::UnboundedSender<Numbered<Vec<Delivery>>>,
    ) -> Result<(), String> {
        let opened = self.source.with_reader_until(Some(&self.stop), |reader| {
            let shared = Mutex::new(SharedReader {
                splitter: Splitter::with_pool(
                    reader,
                    self.config.splitter,
                    self.pools.reads.clone(),
                ),
                next: 0,
                ended: None,
            });
            std::thread::scope(|scope| {
                for _ in 1..workers {
                    scope.spawn(|| self.run(&shared, permits, out));
                }
                self.run(&shared, permits, out);
            });
            let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
            shared.ended.unwrap_or(Ok(()))
        });
        match opened {
            Ok(result) => result,
            Err(error) => Err(error.to_string()),
        }
    }

    /// Takes batches and works on them until the feed ends.
    fn run(
        &self,
        shared: &Mutex<SharedReader<'_>>,
        permits: &SyncSender<()>,
        out: &mpsc::UnboundedSender<Numbered<Vec<Delivery>>>,
    ) {
        let mut parser = Parser::new();
        // Every record's origin contains the source name. A copy of the name per worker keeps
        // the workers from updating one shared reference count for every record.
        let source_name: Arc<str> = Arc::from(&*self.source.name);
        loop {
            // A full set of batches in flight means the sink is behind: wait for it.
            let waited = Instant::now();
            if permits.send(()).is_err() {
                return;
            }
            self.profile.read.add_wait(waited.elapsed());

            let waited = Instant::now();
            let taken = {
                let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
                self.profile.parse.add_wait(waited.elapsed());
                self.take_batch(&mut shared)
            };
            let Some(Numbered { number, batch }) = taken else {
                return;
            };

            let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.process(&mut parser, &source_name, batch)
            }));
            let deliveries = match processed {
                Ok(deliveries) => deliveries,
                Err(panic) => {
                    // The sink waits for batches in order, so the lost batch is sent empty and
                    // the other workers stop. The panic then fails the feed. NOTE: the lost
                    // batch's records stay counted as read with no outcome, so the feed's
                    // counts do not balance; its error in the summary says why.
                    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    shared.ended = Some(Err(format!("a worker failed on batch {number}")));
                    drop(shared);
                    let _ = out.send(Numbered {
                        number,
                        batch: Vec::new(),
                    });
                    std::panic::resume_unwind(panic);
                }
            };
            let finished = Numbered {
                number,
                batch: deliveries,
            };
            if out.send(finished).is_err() {
                return;
            }
        }
    }

    /// Splits the next batch off the feed. Returns `None` once the feed has ended, broken or
    /// been stopped, and records which in `shared.ended`.
    fn take_batch(&self, shared: &mut SharedReader<'_>) -> Option<Numbered<Vec<Frame>>> {
        if shared.ended.is_some() {
            return None;
        }
        let started = Stopwatch::start();
        let mut batch = Vec::with_capacity(self.config.batch_records);
        let mut bytes = 0;
        if self.stop.load(Ordering::Relaxed) {
            shared.ended = Some(Err(
                "stopped: the run was interrupted or its sink failed".to_owned()
            ));
        }
        while shared.ended.is_none()
            && batch.len() < self.config.batch_records
            && bytes < self.config.batch_bytes
        {
            match shared.splitter.next_frame() {
                Ok(Some(frame)) => {
                    bytes += match &frame {
                        Frame::Element { bytes, .. } => bytes.len(),
                        Frame::Oversized { head, .. } => head.len(),
                    };
                    batch.push(frame);
                }
                Ok(None) => shared.ended = Some(Ok(())),
                Err(error) => shared.ended = Some(Err(error.to_string())),
            }
        }
        self.profile.read.add_busy(started.elapsed());
        self.profile
            .read
            .add_volume(batch.len() as u64, bytes as u64);
        if batch.is_empty() {
            return None;
        }
        let number = shared.next;
        shared.next += 1;
        Some(Numbered { number, batch })
    }

    /// Parses a batch, runs the stages and encodes the indicators. The batch is worked on in
    /// chunks of [`CHUNK_RECORDS`], each parsed, staged and encoded before the next, so that a
    /// record's text, parsed value and indicator are still in the CPU cache when the next step
    /// reads them.
    fn process(
        &self,
        parser: &mut Parser,
        source_name: &Arc<str>,
        mut batch: Vec<Frame>,
    ) -> Vec<Delivery> {
        let feed = self.source.feed;
        self.ledger
            .add_read(feed, &self.source.name, batch.len() as u64);

        let mut deliveries = self.pools.deliveries.take(batch.len());
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(CHUNK_RECORDS));
            let chunk = std::mem::replace(&mut batch, rest);
            let first = deliveries.len();
            self.process_chunk(parser, source_name, chunk, &mut deliveries);
            if let Some(encoder) = &self.encoder {
                let encoded = &mut deliveries[first..];
                self.profile
                    .encode
                    .time(|| encode_all(encoder.as_ref(), encoded, &self.pools.encodings));
                self.profile.encode.add_volume(encoded.len() as u64, 0);
            }
        }
        deliveries
    }

    /// Parses a chunk of frames and runs the stages on it. Appends the indicators to
    /// `deliveries` and counts the other records in the ledger.
    fn process_chunk(
        &self,
        parser: &mut Parser,
        source_name: &Arc<str>,
        chunk: Vec<Frame>,
        deliveries: &mut Vec<Delivery>,
    ) {
        let feed = self.source.feed;
        let count = chunk.len() as u64;
        let bytes: u64 = chunk
            .iter()
            .map(|frame| match frame {
                Frame::Element { bytes, .. } => bytes.len() as u64,
                Frame::Oversized { length, .. } => *length,
            })
            .sum();

        let mut items: Vec<Item<'_>> = self.profile.parse.time(|| {
            let max_element_bytes = self.config.splitter.max_element_bytes;
            parser.parse_batch(chunk, feed, source_name, max_element_bytes)
        });
        self.profile.parse.add_volume(count, bytes);

        for (stage, (_, timer)) in self.stages.iter().zip(&self.profile.stages) {
            timer.time(|| stage.process(&mut items));
            timer.add_volume(count, bytes);
        }

        for item in items {
            let origin = item.record.origin;
            match item.state {
                ItemState::Indicator(indicator) => {
                    deliveries.push(Delivery::new(origin, *indicator));
                }
                ItemState::Rejected(reject) => {
                    if let Err(error) = self.ledger.add_rejected(&origin, &reject) {
                        tracing::error!(%error, "Writing the rejects file failed.");
                    }
                }
                ItemState::Filtered(reason) => {
                    self.ledger.add_filtered(feed, &origin.source, &reason, 1);
                }
                ItemState::New => {
                    let reject = crate::ledger::Reject::new(
                        "unclassified",
                        "no stage classified this record",
                    );
                    if let Err(error) = self.ledger.add_rejected(&origin, &reject) {
                        tracing::error!(%error, "Writing the rejects file failed.");
                    }
                }
            }
        }
    }
}

/// Encodes every delivery into one shared buffer and gives each its slice of it, keeping only
/// the type and summary of an encoded indicator. A delivery that fails to encode keeps
/// `encoded: None` and its whole indicator, and the sink encodes it and reports the error.
fn encode_all(encoder: &dyn Encoder, deliveries: &mut [Delivery], pool: &BufferPool) {
    let mut buffer = pool.take(0);
    let mut ends = Vec::with_capacity(deliveries.len());
    for (index, delivery) in deliveries.iter().enumerate() {
        let start = buffer.len();
        if encoder.encode(delivery, &mut buffer).is_err() {
            buffer.truncate(start);
            ends.push(None);
        } else {
            ends.push(Some((start, buffer.len())));
        }
        if index == 0 {
            // Size the buffer from the first encoding, with room for longer ones, so that it
            // is rarely copied to grow. A pooled buffer keeps what it grew to.
            buffer.reserve(buffer.len() * deliveries.len() * 5 / 4);
        }
    }
    let buffer = pool.freeze(buffer);
    for (delivery, range) in deliveries.iter_mut().zip(ends) {
        if let Some((start, end)) = range {
            delivery.encoded = Some(buffer.slice(start..end));
            // The encoding stands for the whole indicator from here on; its parts are freed on
            // this thread rather than on the sink's.
            delivery.indicator.clear_body();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use async_trait::async_trait;
    use simd_json::prelude::*;

    use super::*;
    use crate::indicator::{Indicator, IndicatorType};
    use crate::ledger::Reject;
    use crate::source::resolve;

    /// Accepts records with a string `ip`, rejects the rest.
    struct IpOnly;

    impl Stage for IpOnly {
        fn name(&self) -> &'static str {
            "ip-only"
        }

        fn process(&self, batch: &mut [Item<'_>]) {
            for item in batch {
                if !matches!(item.state, ItemState::New) {
                    continue;
                }
                item.state = match item.record.value.get_str("ip") {
                    Some(ip) => {
                        ItemState::Indicator(Box::new(Indicator::new(IndicatorType::Address, ip)))
                    }
                    None => ItemState::Rejected(Reject::new("missing_field", "no ip")),
                };
            }
        }
    }

    /// Writes the summary, and fails on summaries that start with `bad`.
    struct SummaryEncoder;

    impl Encoder for SummaryEncoder {
        fn encode(&self, delivery: &Delivery, out: &mut Vec<u8>) -> std::io::Result<()> {
            let summary = &delivery.indicator.summary;
            if summary.starts_with("bad") {
                return Err(std::io::Error::other("cannot encode"));
            }
            out.extend_from_slice(summary.as_bytes());
            Ok(())
        }
    }

    #[test]
    fn encoded_deliveries_keep_only_type_and_summary() {
        let origin = crate::record::Origin {
            feed: &crate::catalog::FEEDS[0],
            source: Arc::from("f.json"),
            offset: 0,
            raw: bytes::Bytes::new(),
        };
        let mut deliveries: Vec<Delivery> = ["a.example", "bad.example", "c.example"]
            .into_iter()
            .map(|summary| {
                let mut indicator = Indicator::new(IndicatorType::Host, summary);
                indicator.add_tag("Kaspersky");
                indicator.add_attribute("Source", "Kaspersky");
                indicator.first_seen = Some("2020-01-01T00:00:00Z".to_owned());
                Delivery::new(origin.clone(), indicator)
            })
            .collect();

        encode_all(
            &SummaryEncoder,
            &mut deliveries,
            &BufferPool::new(1, 1 << 20),
        );

        let encoded: Vec<Option<&[u8]>> = deliveries
            .iter()
            .map(|delivery| delivery.encoded.as_deref())
            .collect();
        assert_eq!(
            encoded,
            [Some(&b"a.example"[..]), None, Some(&b"c.example"[..])]
        );
        for delivery in [&deliveries[0], &deliveries[2]] {
            let indicator = &delivery.indicator;
            assert_eq!(indicator.indicator_type, IndicatorType::Host);
            assert!(indicator.tags.is_empty());
            assert!(indicator.attributes.is_empty());
            assert_eq!(indicator.first_seen, None);
        }
        // The sink encodes a failed delivery itself and needs all of it for that.
        let kept = &deliveries[1].indicator;
        assert_eq!((kept.tags.len(), kept.attributes.len()), (1, 1));
        assert!(kept.first_seen.is_some());
    }

    /// Keeps what it receives; fails on the `fail_at`-th batch when set.
    #[derive(Default)]
    struct Collect {
        summaries: Vec<String>,
        batches: usize,
        fail_at: Option<usize>,
        /// Set on the second batch, as a Ctrl-C handler would.
        stop_at_second: Option<Arc<AtomicBool>>,
    }

    #[async_trait]
    impl Sink for Collect {
        fn name(&self) -> &'static str {
            "collect"
        }

        async fn send(
            &mut self,
            batch: &mut Vec<Delivery>,
            ledger: &Ledger,
        ) -> Result<(), SinkError> {
            self.batches += 1;
            if self.batches == 2
                && let Some(stop) = &self.stop_at_second
            {
                stop.store(true, Ordering::Relaxed);
            }
            if self.fail_at == Some(self.batches) {
                let reject = Reject::new("sink_failed", "refused");
                for delivery in batch.iter() {
                    ledger.add_rejected(&delivery.origin, &reject).unwrap();
                }
                return Err(SinkError::new("collect", "refused"));
            }
            ledger.add_delivered(batch.iter().map(|delivery| &delivery.origin));
            self.summaries
                .extend(batch.drain(..).map(|delivery| delivery.indicator.summary));
            Ok(())
        }

        async fn finish(&mut self, _ledger: &Ledger) -> Result<(), SinkError> {
            Ok(())
        }
    }

    fn write_feed(dir: &std::path::Path, name: &str, count: usize, tail: &str) -> PathBuf {
        let mut text = String::from("[\n");
        for index in 0..count {
            if index > 0 {
                text.push_str(",\n");
            }
            if index % 10 == 9 {
                text.push_str(r#"{"mask": "no ip here"}"#);
            } else {
                text.push_str(&format!(
                    r#"{{"ip": "198.51.100.{}", "n": {index}}}"#,
                    index % 250
                ));
            }
        }
        text.push_str(tail);
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn small_config(workers: usize) -> RunnerConfig {
        RunnerConfig {
            batch_records: 7,
            batch_bytes: 1 << 20,
            channel_capacity: 1,
            workers,
            splitter: SplitterConfig {
                read_buffer_bytes: 100,
                max_element_bytes: 1024,
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn output_keeps_feed_order_and_counts_balance() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 500, "\n]\n");
        let sources = resolve(&[path], None).unwrap();
        for workers in [1, 2, 3] {
            let ledger = Arc::new(Ledger::new(None).unwrap());
            let runner = Runner::new(
                small_config(workers),
                vec![Box::new(IpOnly)],
                ledger.clone(),
            );
            let mut sink = Collect::default();
            let outcome = runner.run(&sources, &mut sink).await.unwrap();
            assert!(outcome.source_errors.is_empty());

            let expected: Vec<String> = (0..500)
                .filter(|index| index % 10 != 9)
                .map(|index| format!("198.51.100.{}", index % 250))
                .collect();
            assert_eq!(sink.summaries, expected, "workers {workers}");

            let summary = ledger.summary();
            assert_eq!(summary.read, 500);
            assert_eq!(summary.delivered, 450);
            assert_eq!(summary.rejected, 50);
            assert!(summary.sources[0].balanced());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_larger_than_a_chunk_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 1000, "\n]\n");
        let sources = resolve(&[path], None).unwrap();
        let config = RunnerConfig {
            batch_records: CHUNK_RECORDS * 2 + 44,
            ..small_config(2)
        };
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(config, vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect::default();
        runner.run(&sources, &mut sink).await.unwrap();

        let expected: Vec<String> = (0..1000)
            .filter(|index| index % 10 != 9)
            .map(|index| format!("198.51.100.{}", index % 250))
            .collect();
        assert_eq!(sink.summaries, expected);
        let summary = ledger.summary();
        assert_eq!(summary.delivered, 900);
        assert_eq!(summary.rejected, 100);
        assert!(summary.sources[0].balanced());
    }

    /// Sleeps on batches holding a record whose `n` is a multiple of 30, so that later batches
    /// finish first.
    struct SlowSometimes;

    impl Stage for SlowSometimes {
        fn name(&self) -> &'static str {
            "slow-sometimes"
        }

        fn process(&self, batch: &mut [Item<'_>]) {
            let slow = batch
                .iter()
                .any(|item| item.record.value.get_u64("n").is_some_and(|n| n % 30 == 0));
            if slow {
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_finishing_out_of_order_keep_feed_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 400, "\n]\n");
        let sources = resolve(&[path], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(
            small_config(4),
            vec![Box::new(SlowSometimes), Box::new(IpOnly)],
            ledger.clone(),
        );
        let mut sink = Collect::default();
        runner.run(&sources, &mut sink).await.unwrap();

        let expected: Vec<String> = (0..400)
            .filter(|index| index % 10 != 9)
            .map(|index| format!("198.51.100.{}", index % 250))
            .collect();
        assert_eq!(sink.summaries, expected);
        assert!(ledger.summary().sources[0].balanced());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncated_feed_delivers_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(
            dir.path(),
            "IP_Reputation_Data_Feed_1.json",
            40,
            ",\n{\"ip\": \"19",
        );
        let sources = resolve(&[path], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(small_config(2), vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect::default();
        let outcome = runner.run(&sources, &mut sink).await.unwrap();

        assert_eq!(outcome.source_errors.len(), 1);
        assert!(
            outcome.source_errors[0].contains("truncated"),
            "{:?}",
            outcome.source_errors
        );
        assert_eq!(sink.summaries.len(), 36);
        let summary = ledger.summary();
        assert_eq!(summary.read, 40);
        assert!(summary.sources[0].balanced());
        assert!(summary.sources[0].error.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn superseded_feed_is_counted_filtered() {
        let dir = tempfile::tempdir().unwrap();
        write_feed(dir.path(), "Malicious_URL_Data_Feed_1.json", 30, "]");
        write_feed(dir.path(), "Malicious_URL_Exact_Data_Feed_1.json", 20, "]");
        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(small_config(2), vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect::default();
        runner.run(&sources, &mut sink).await.unwrap();

        let summary = ledger.summary();
        // The Exact feed is read first, though it comes second in the directory.
        let exact = &summary.sources[0];
        assert_eq!(exact.feed, "Malicious URL Exact");
        assert_eq!(exact.delivered, 18);
        let ordinary = &summary.sources[1];
        assert_eq!(ordinary.feed, "Malicious URL");
        assert!(ordinary.note.is_none());
        assert_eq!(ordinary.read, 30);
        assert_eq!(ordinary.filtered, 30);
        assert_eq!(
            ordinary.filtered_by_reason["superseded by Malicious URL Exact"],
            30
        );
        assert!(summary.sources.iter().all(|source| source.balanced()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broken_exact_feed_keeps_ordinary_feed() {
        let dir = tempfile::tempdir().unwrap();
        write_feed(dir.path(), "Malicious_URL_Data_Feed_1.json", 30, "]");
        // Cut off inside the array: the Exact feed ends early with an error.
        write_feed(
            dir.path(),
            "Malicious_URL_Exact_Data_Feed_1.json",
            20,
            ",\n{\"ip\": ",
        );
        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(small_config(2), vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect::default();
        let outcome = runner.run(&sources, &mut sink).await.unwrap();

        assert_eq!(
            outcome.source_errors.len(),
            1,
            "{:?}",
            outcome.source_errors
        );
        let summary = ledger.summary();
        let exact = &summary.sources[0];
        assert_eq!(exact.feed, "Malicious URL Exact");
        assert!(exact.error.is_some());
        let ordinary = &summary.sources[1];
        assert_eq!(ordinary.feed, "Malicious URL");
        assert_eq!(
            ordinary.note.as_deref(),
            Some("read because Malicious URL Exact stopped early")
        );
        assert_eq!(ordinary.read, 30);
        assert_eq!(ordinary.filtered, 0);
        assert_eq!(ordinary.delivered, 27);
        assert!(summary.sources.iter().all(|source| source.balanced()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_sink_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 2000, "]");
        let sources = resolve(&[path], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(small_config(2), vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect {
            fail_at: Some(3),
            ..Collect::default()
        };
        let error = runner.run(&sources, &mut sink).await.unwrap_err();
        assert!(error.to_string().contains("refused"));
        assert_eq!(sink.summaries.len(), 13);

        let summary = ledger.summary();
        assert!(summary.sources[0].balanced(), "{:?}", summary.sources[0]);
        assert!(summary.read < 2000, "the reader stops after the failure");
        assert_eq!(summary.sources[0].rejected_by_reason["sink_failed"], 6);
        let not_sent = summary.sources[0].rejected_by_reason.get(NOT_SENT);
        let missing = summary.sources[0].rejected_by_reason.get("missing_field");
        assert_eq!(
            summary.rejected,
            6 + not_sent.copied().unwrap_or(0) + missing.copied().unwrap_or(0)
        );
    }

    /// Panics on the record whose `n` is 100.
    struct PanicOnce;

    impl Stage for PanicOnce {
        fn name(&self) -> &'static str {
            "panic-once"
        }

        fn process(&self, batch: &mut [Item<'_>]) {
            let hit = batch
                .iter()
                .any(|item| item.record.value.get_u64("n") == Some(100));
            assert!(!hit, "stage failed on record 100");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn panicking_stage_fails_the_feed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 2000, "\n]\n");
        let sources = resolve(&[path], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(
            small_config(2),
            vec![Box::new(PanicOnce), Box::new(IpOnly)],
            ledger.clone(),
        );
        let mut sink = Collect::default();
        let run = runner.run(&sources, &mut sink);
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .expect("the run ends instead of waiting for the lost batch")
            .unwrap();
        assert_eq!(outcome.source_errors.len(), 1);
        assert!(
            outcome.source_errors[0].contains("worker thread failed"),
            "{:?}",
            outcome.source_errors
        );
        // Records before the failed batch were delivered in order.
        assert!(sink.summaries.starts_with(&["198.51.100.0".to_owned()]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_handle_ends_the_run_with_balanced_counts() {
        let dir = tempfile::tempdir().unwrap();
        write_feed(dir.path(), "APT_IP_Data_Feed_1.json", 3000, "]");
        write_feed(dir.path(), "IP_Reputation_Data_Feed_1.json", 3000, "]");
        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        let ledger = Arc::new(Ledger::new(None).unwrap());
        let runner = Runner::new(small_config(2), vec![Box::new(IpOnly)], ledger.clone());
        let mut sink = Collect {
            stop_at_second: Some(runner.stop_handle()),
            ..Collect::default()
        };
        let outcome = runner.run(&sources, &mut sink).await.unwrap();

        assert!(outcome.interrupted);
        let summary = ledger.summary();
        assert_eq!(summary.sources.len(), 1, "the second feed is not read");
        assert!(summary.read > 0);
        assert!(summary.read < 3000, "the reader stops early");
        assert!(summary.sources[0].balanced(), "{:?}", summary.sources[0]);
        assert_eq!(sink.summaries.len() as u64, summary.delivered);
        assert!(summary.sources[0].error.is_some());
    }
}
