//! `feedpipe-perf`: generates synthetic feeds for benchmarks and profiling runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use feedpipe_perf::generate::write_feed_file;
use feedpipe_pipeline::FeedCatalog;

#[derive(Parser)]
#[command(
    name = "feedpipe-perf",
    about = "feedpipe benchmark and profiling tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a synthetic feed: the same feed, record count and seed give a byte-identical file.
    Generate {
        /// Feed name, file-name prefix or Kaspersky feed ID (for example `IP Reputation` or 68).
        #[arg(long)]
        feed: String,
        /// Number of records.
        #[arg(long)]
        records: u64,
        /// Output file; a name ending in `.gz` is gzip-compressed.
        #[arg(long)]
        output: PathBuf,
        /// Seed of the random stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate {
            feed,
            records,
            output,
            seed,
        } => generate(&feed, records, &output, seed),
    }
}

fn generate(feed: &str, records: u64, output: &Path, seed: u64) -> anyhow::Result<()> {
    let catalog = FeedCatalog;
    let Some(spec) = catalog.lookup(feed) else {
        bail!(
            "unknown feed {feed:?}: give a feed name, ID or one of these prefixes: {}",
            catalog.prefixes()
        );
    };

    let started = Instant::now();
    let bytes = write_feed_file(spec, records, seed, output)
        .with_context(|| format!("generating {records} {} records", spec.name))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "Wrote {records} {} records, {bytes} bytes uncompressed, to {} in {seconds:.2} s ({:.0} MB/s).",
        spec.name,
        output.display(),
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}
