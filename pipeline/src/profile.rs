//! Timing of a run, per part: where the CPU time goes and how long each part waited. Reading
//! waits for the sink to make room for another batch, parsing waits for another worker to
//! finish splitting, and the sink waits for the next batch. Parts add their nanoseconds to
//! atomics once per batch, never per record, so profiling costs next to nothing and is always
//! on. The workers measure busy time as the CPU time of their own thread, so a part that waited
//! for a core is not counted as busy. The sink runs on the async runtime and measures wall time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Accumulated time of one part of the pipeline.
#[derive(Debug, Default)]
pub struct PartTimer {
    busy_nanos: AtomicU64,
    wait_nanos: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl PartTimer {
    /// Adds time spent working.
    pub fn add_busy(&self, elapsed: Duration) {
        self.busy_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds time spent blocked on a full or empty channel.
    pub fn add_wait(&self, elapsed: Duration) {
        self.wait_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds the records and bytes a part handled.
    pub fn add_volume(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Runs `work`, adding the CPU time it took on this thread as busy time.
    pub fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        let started = Stopwatch::start();
        let result = work();
        self.add_busy(started.elapsed());
        result
    }

    fn report(&self, name: &str, wall: Duration, total_busy: u64) -> PartReport {
        let busy = self.busy_nanos.load(Ordering::Relaxed);
        let records = self.records.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let busy_seconds = busy as f64 / 1e9;
        let per_second = |count: u64| {
            if busy_seconds > 0.0 {
                count as f64 / busy_seconds
            } else {
                0.0
            }
        };
        PartReport {
            part: name.to_owned(),
            busy_seconds,
            wait_seconds: self.wait_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            records,
            bytes,
            records_per_busy_second: per_second(records),
            megabytes_per_busy_second: per_second(bytes) / 1e6,
            cpu_share: if total_busy > 0 {
                busy as f64 / total_busy as f64
            } else {
                0.0
            },
            wall_seconds: wall.as_secs_f64(),
        }
    }
}

/// Timers for every part of a run. Stage timers are named after the stages.
#[derive(Debug)]
pub struct Profile {
    started: Instant,
    pub read: PartTimer,
    pub parse: PartTimer,
    pub stages: Vec<(&'static str, PartTimer)>,
    /// Encoding for the sink on the workers, when the sink has an encoder.
    pub encode: PartTimer,
    pub sink: PartTimer,
}

impl Profile {
    pub fn new(stage_names: &[&'static str]) -> Self {
        Profile {
            started: Instant::now(),
            read: PartTimer::default(),
            parse: PartTimer::default(),
            stages: stage_names
                .iter()
                .map(|name| (*name, PartTimer::default()))
                .collect(),
            encode: PartTimer::default(),
            sink: PartTimer::default(),
        }
    }

    /// Returns the report so far.
    pub fn report(&self) -> ProfileReport {
        let wall = self.started.elapsed();
        let mut parts: Vec<(String, &PartTimer)> = vec![
            ("read+split".to_owned(), &self.read),
            ("parse".to_owned(), &self.parse),
        ];
        for (name, timer) in &self.stages {
            parts.push((format!("stage {name}"), timer));
        }
        parts.push(("encode".to_owned(), &self.encode));
        parts.push(("sink".to_owned(), &self.sink));
        let total_busy: u64 = parts
            .iter()
            .map(|(_, timer)| timer.busy_nanos.load(Ordering::Relaxed))
            .sum();
        let records = self.read.records.load(Ordering::Relaxed);
        let bytes = self.read.bytes.load(Ordering::Relaxed);
        let wall_seconds = wall.as_secs_f64();
        ProfileReport {
            wall_seconds,
            records,
            bytes,
            records_per_second: records as f64 / wall_seconds.max(1e-9),
            megabytes_per_second: bytes as f64 / 1e6 / wall_seconds.max(1e-9),
            cpu_seconds: total_busy as f64 / 1e9,
            peak_rss_bytes: peak_rss_bytes(),
            parts: parts
                .iter()
                .map(|(name, timer)| timer.report(name, wall, total_busy))
                .collect(),
        }
    }
}

/// One part's figures. Rates are per second of that part's own busy time.
#[derive(Clone, Debug, Serialize)]
pub struct PartReport {
    pub part: String,
    pub busy_seconds: f64,
    pub wait_seconds: f64,
    pub records: u64,
    pub bytes: u64,
    pub records_per_busy_second: f64,
    pub megabytes_per_busy_second: f64,
    pub cpu_share: f64,
    pub wall_seconds: f64,
}

/// A whole run's profile.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub wall_seconds: f64,
    pub records: u64,
    pub bytes: u64,
    pub records_per_second: f64,
    pub megabytes_per_second: f64,
    /// Sum of every part's busy time; above `wall_seconds` when parts ran in parallel.
    pub cpu_seconds: f64,
    /// Peak resident set size from `/proc/self/status` (`VmHWM`), where available.
    pub peak_rss_bytes: Option<u64>,
    pub parts: Vec<PartReport>,
}

impl ProfileReport {
    /// Renders the report as a text table.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>10} {:>10} {:>12} {:>10} {:>8}\n",
            "part", "busy s", "wait s", "records/s", "MB/s", "CPU %"
        );
        for part in &self.parts {
            out.push_str(&format!(
                "{:<16} {:>10.3} {:>10.3} {:>12.0} {:>10.1} {:>8.1}\n",
                part.part,
                part.busy_seconds,
                part.wait_seconds,
                part.records_per_busy_second,
                part.megabytes_per_busy_second,
                part.cpu_share * 100.0
            ));
        }
        out.push_str(&format!(
            "run: {} records, {:.1} MB in {:.3} s wall: {:.0} records/s, {:.1} MB/s; \
             CPU {:.3} s; peak RSS {}\n",
            self.records,
            self.bytes as f64 / 1e6,
            self.wall_seconds,
            self.records_per_second,
            self.megabytes_per_second,
            self.cpu_seconds,
            self.peak_rss_bytes.map_or_else(
                || "unknown".to_owned(),
                |rss| format!("{:.1} MiB", rss as f64 / 1048576.0)
            ),
        ));
        out
    }
}

/// Measures the CPU time of the calling thread where the platform reports it, else wall time.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    cpu: Option<Duration>,
    wall: Instant,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch {
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// Returns the thread's CPU time since `start`, or the wall time where CPU time is not
    /// available. Call it on the thread that started the stopwatch.
    pub fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }
}

/// Returns the CPU time the calling thread has used, on Unix systems.
#[cfg(unix)]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec for the call to fill in, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every supported Unix provides.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    if status != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(time.tv_sec).ok()?,
        u32::try_from(time.tv_nsec).ok()?,
    ))
}

/// Returns `None`: thread CPU time is read only on Unix systems.
#[cfg(not(unix))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Reads the peak resident set size of this process on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwatch_counts_cpu_not_sleep() {
        let stopwatch = Stopwatch::start();
        std::thread::sleep(Duration::from_millis(50));
        let mut sum = 0u64;
        for index in 0..2_000_000u64 {
            sum = sum.wrapping_add(index * index);
        }
        std::hint::black_box(sum);
        let elapsed = stopwatch.elapsed();
        if thread_cpu_time().is_some() {
            assert!(
                elapsed < Duration::from_millis(50),
                "sleep counted: {elapsed:?}"
            );
        }
        assert!(elapsed > Duration::ZERO);
    }
}
