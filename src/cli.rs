//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::SinkKind;

/// feedpipe streams Kaspersky Threat Intelligence Data Feeds into ThreatConnect indicators.
#[derive(Debug, Parser)]
#[command(name = "feedpipe", version, about)]
pub struct Cli {
    /// Log more: -v for progress, -vv for debugging. RUST_LOG overrides this.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read feeds, classify, tag and rate their records, and deliver the indicators to a sink.
    Run(Box<RunArgs>),
    /// Print the feed catalog: name, Kaspersky feed ID, file prefix, indicator types, tags and
    /// tag fields.
    Feeds(FeedsArgs),
    /// Serve an emulator of a remote service, for trying a configuration without it.
    #[command(subcommand)]
    Emulate(EmulateCommand),
}

#[derive(Debug, Subcommand)]
pub enum EmulateCommand {
    /// Serve an emulator of ThreatConnect's v2 batch API on a local address until interrupted.
    /// It accepts the credentials in FEEDPIPE_TC_ACCESS_ID, FEEDPIPE_TC_SECRET_KEY and
    /// FEEDPIPE_TC_API_TOKEN where set, else those of its configuration file, else access ID
    /// `emulator`, secret key `emulator-secret-key` and token `emulator-token`.
    Threatconnect(EmulateThreatConnectArgs),
}

#[derive(Debug, Args)]
pub struct EmulateThreatConnectArgs {
    /// Address to listen on; the API base URL is http://ADDRESS/api.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,

    /// Emulator configuration (TOML): credentials, owners, limits, attribute types, faults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Owner that jobs may write to; repeat for several. [default: Emulator Org]
    #[arg(long = "owner", value_name = "NAME")]
    pub owners: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FeedsArgs {
    /// Print the catalog as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Feed files (.json, .json.gz, .zip holding one feed), directories of feed files, or `-`
    /// for standard input, plain or gzip (needs --feed). Default: `feeds` from the configuration file.
    #[arg(value_name = "FEED")]
    pub feeds: Vec<PathBuf>,

    /// TOML configuration file; flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Sink the indicators are delivered to. [default: file, or `sink` from the configuration
    /// file]
    #[arg(long, value_enum, value_name = "SINK")]
    pub sink: Option<SinkKind>,

    /// File sink output path, or `-` for standard output.
    /// [default: feedpipe-output/indicators.jsonl, or .csv with --format csv]
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// File sink format: `jsonl` (one ThreatConnect batch indicator object per line) or `csv`.
    /// [default: jsonl]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<feedpipe_sink_file::FileFormat>,

    /// Rejects file (JSONL: feed, file, byte offset, reason, original record).
    /// [default: beside the output, <output stem>.rejects.jsonl, or null.rejects.jsonl and
    /// threatconnect.rejects.jsonl there for those sinks; when the output is standard output or
    /// not a regular file, feedpipe-rejects.jsonl (or the sink's name) in the working directory]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,

    /// Also write the run summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Treat every input as this feed (catalog name, file prefix or Kaspersky feed ID) instead
    /// of recognising it from its file name.
    #[arg(long, value_name = "NAME|ID")]
    pub feed: Option<String>,

    /// Maximum bytes of one feed element, at most 1 GiB; longer elements are rejected.
    /// [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_element_bytes: Option<usize>,

    /// Worker threads for parsing and stages, at most 256. [default: number of CPU cores]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// ThreatConnect API base URL, such as https://tc.example.org/api; overrides
    /// [sink.threatconnect] api_url.
    #[arg(long, value_name = "URL")]
    pub tc_url: Option<String>,

    /// ThreatConnect owner (organization or source) the indicators are written to; overrides
    /// [sink.threatconnect] owner.
    #[arg(long, value_name = "NAME")]
    pub tc_owner: Option<String>,

    /// With --sink threatconnect: write the job files that would be submitted into the
    /// directory [sink.threatconnect] dry_run_dir (default threatconnect-jobs) and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a profile of the run on stderr: per part, busy and waiting seconds, records and MB
    /// per second, share of CPU time, and peak memory.
    #[arg(long)]
    pub profile: bool,

    /// Also write the profile as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub profile_json: Option<PathBuf>,
}
