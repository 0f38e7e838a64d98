//! The TOML configuration file. Every key is optional; command-line flags override the file.
//! Relative paths are taken from the working directory.

use std::path::{Path, PathBuf};

use feedpipe_pipeline::runner::RunnerConfig;
use feedpipe_pipeline::splitter::SplitterConfig;
use feedpipe_sink_file::FileFormat;
use feedpipe_sink_threatconnect::ThreatConnectSinkConfig;
use feedpipe_stages::RateConfig;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub run: RunSection,
    pub pipeline: PipelineSection,
    pub stages: StagesSection,
    pub sink: SinkSection,
}

/// The sink a run writes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// JSONL or CSV file (`--output`, `--format`).
    #[default]
    File,
    /// Count indicators as delivered and drop them (profiling).
    Null,
    /// ThreatConnect v2 batch API.
    Threatconnect,
}

/// `[run]`: what to read and where results go.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// Feed files or directories read when the command line names none.
    pub feeds: Vec<PathBuf>,
    /// Feed name or ID for every input, overriding file-name detection.
    pub feed: Option<String>,
    /// Sink; default `file`.
    pub sink: Option<SinkKind>,
    /// File sink output; default `feedpipe-output/indicators.jsonl` (`.csv` for CSV).
    pub output: Option<PathBuf>,
    /// File sink format; default `jsonl`.
    pub format: Option<FileFormat>,
    /// Rejects file; default beside the output, `<output stem>.rejects.jsonl` for the file sink
    /// and `null.rejects.jsonl` or `threatconnect.rejects.jsonl` for the other sinks.
    pub rejects: Option<PathBuf>,
    /// Path of the run summary as JSON; default none.
    pub summary_json: Option<PathBuf>,
}

/// `[pipeline]`: sizing of the pipeline. Peak memory is about `workers × channel_capacity + 1`
/// batches of `batch_bytes` (plus their parsed form and encoding), one more batch of text per
/// worker, plus the sink's in-flight requests.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSection {
    /// Records per batch; default 512.
    pub batch_records: usize,
    /// Raw bytes per batch; default 1048576 (1 MiB).
    pub batch_bytes: usize,
    /// Batches per worker in flight between the feed and the sink, which with one for the sink
    /// makes `workers × channel_capacity + 1`; default 1.
    pub channel_capacity: usize,
    /// Worker threads for parsing and stages; default: the number of CPU cores.
    pub workers: Option<usize>,
    /// Bytes per read from the source; default 262144 (256 KiB).
    pub read_buffer_bytes: usize,
    /// Maximum bytes of one feed element; longer elements are rejected; default 1048576 (1 MiB).
    pub max_element_bytes: usize,
}

impl Default for PipelineSection {
    fn default() -> Self {
        let runner = RunnerConfig::default();
        PipelineSection {
            batch_records: runner.batch_records,
            batch_bytes: runner.batch_bytes,
            channel_capacity: runner.channel_capacity,
            workers: None,
            read_buffer_bytes: runner.splitter.read_buffer_bytes,
            max_element_bytes: runner.splitter.max_element_bytes,
        }
    }
}

impl PipelineSection {
    /// Returns the runner configuration, checking that every size is positive and within its
    /// upper bound.
    pub fn runner_config(&self) -> Result<RunnerConfig, String> {
        // Each size, its upper bound, and the command-line flag that also sets it.
        let checks = [
            ("batch_records", self.batch_records, MAX_BATCH_RECORDS, None),
            ("batch_bytes", self.batch_bytes, MAX_BUFFER_BYTES, None),
            (
                "channel_capacity",
                self.channel_capacity,
                MAX_CHANNEL_CAPACITY,
                None,
            ),
            (
                "read_buffer_bytes",
                self.read_buffer_bytes,
                MAX_READ_BUFFER_BYTES,
                None,
            ),
            (
                "max_element_bytes",
                self.max_element_bytes,
                MAX_BUFFER_BYTES,
                Some("--max-element-bytes"),
            ),
            (
                "workers",
                self.workers.unwrap_or(1),
                MAX_WORKERS,
                Some("--workers"),
            ),
        ];
        for (name, value, max, flag) in checks {
            let setting = match flag {
                Some(flag) => format!("{flag} ([pipeline] {name})"),
                None => format!("[pipeline] {name}"),
            };
            if value == 0 {
                return Err(format!("{setting} must be at least 1, not 0"));
            }
            if value > max {
                return Err(format!("{setting} must be at most {max}, not {value}"));
            }
        }
        Ok(RunnerConfig {
            batch_records: self.batch_records,
            batch_bytes: self.batch_bytes,
            channel_capacity: self.channel_capacity,
            workers: self
                .workers
                .unwrap_or_else(|| RunnerConfig::default().workers),
            splitter: SplitterConfig {
                read_buffer_bytes: self.read_buffer_bytes,
                max_element_bytes: self.max_element_bytes,
            },
        })
    }
}

/// Upper bound of `workers`: each worker is a thread, and more threads than this only add
/// memory and scheduling cost.
pub const MAX_WORKERS: usize = 256;

/// Upper bound of `batch_records`. Every batch reserves room for this many records up front.
pub const MAX_BATCH_RECORDS: usize = 1_000_000;

/// Upper bound of `channel_capacity`. The runner sets up room for `workers × channel_capacity
/// + 1` batches when a feed starts.
pub const MAX_CHANNEL_CAPACITY: usize = 1024;

/// Upper bound of `read_buffer_bytes` (64 MiB). Every read takes a buffer of this size.
pub const MAX_READ_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// Upper bound of `batch_bytes` and `max_element_bytes` (1 GiB): a batch and an element are held
/// in memory whole.
pub const MAX_BUFFER_BYTES: usize = 1024 * 1024 * 1024;

/// `[stages]`: stage settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StagesSection {
    /// `[stages.rate]`: threat rating, confidence and context attributes.
    pub rate: RateConfig,
}

/// `[sink]`: per-sink settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkSection {
    /// `[sink.threatconnect]`: the ThreatConnect batch sink.
    pub threatconnect: ThreatConnectSinkConfig,
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read configuration {}: {error}", path.display()))?;
        toml::from_str(&text)
            .map_err(|error| format!("invalid configuration {}: {error}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/feedpipe.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.run.feeds, [PathBuf::from("examples/feeds")]);
        assert_eq!(config.run.sink, Some(SinkKind::File));
        assert_eq!(config.pipeline.max_element_bytes, 1048576);
        assert_eq!(config.stages.rate.default_rating, 3);
        assert_eq!(config.sink.threatconnect.max_indicators_per_job, 5000);
        assert!(config.pipeline.runner_config().is_ok());
    }

    #[test]
    fn unknown_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[pipeline]\nbatch_record = 10\n").unwrap();
        let message = Config::load(&path).unwrap_err();
        assert!(message.contains("batch_record"), "{message}");
    }

    #[test]
    fn zero_sizes_are_rejected() {
        let pipeline = PipelineSection {
            batch_records: 0,
            ..PipelineSection::default()
        };
        let message = pipeline.runner_config().unwrap_err();
        assert_eq!(
            message,
            "[pipeline] batch_records must be at least 1, not 0"
        );

        let pipeline = PipelineSection {
            workers: Some(0),
            ..PipelineSection::default()
        };
        let message = pipeline.runner_config().unwrap_err();
        assert_eq!(
            message,
            "--workers ([pipeline] workers) must be at least 1, not 0"
        );
    }

    /// Accessor of one size setting of a `[pipeline]` section.
    type Setting = fn(&mut PipelineSection) -> &mut usize;

    #[test]
    fn oversized_settings_are_rejected() {
        let huge = 1usize << 40;
        let settings: [(&str, Setting); 5] = [
            ("batch_records", |pipeline| &mut pipeline.batch_records),
            ("batch_bytes", |pipeline| &mut pipeline.batch_bytes),
            ("channel_capacity", |pipeline| {
                &mut pipeline.channel_capacity
            }),
            ("read_buffer_bytes", |pipeline| {
                &mut pipeline.read_buffer_bytes
            }),
            ("max_element_bytes", |pipeline| {
                &mut pipeline.max_element_bytes
            }),
        ];
        for (name, setting) in settings {
            let mut pipeline = PipelineSection::default();
            *setting(&mut pipeline) = huge;
            let message = pipeline.runner_config().unwrap_err();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(&format!("not {huge}")), "{message}");
        }

        let at_bounds = PipelineSection {
            channel_capacity: MAX_CHANNEL_CAPACITY,
            read_buffer_bytes: MAX_READ_BUFFER_BYTES,
            ..PipelineSection::default()
        };
        assert!(at_bounds.runner_config().is_ok());
    }
}
