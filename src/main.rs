//! The `feedpipe` command: runs Kaspersky feeds through the pipeline into a sink, prints the
//! feed catalog, and serves a ThreatConnect batch API emulator.
//!
//! Exit status:
//! - 0: the run completed, rejected records included.
//! - 2: bad usage or configuration.
//! - 3: a feed source was broken. That feed stopped early, after everything before the break
//!   was delivered and counted.
//! - 4: the sink failed.
//! - 130: the run was interrupted by Ctrl-C, after the records already read were delivered or
//!   rejected and the summary printed.

mod allocator;
mod cli;
mod config;
mod emulate;
mod run;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, EmulateCommand};

/// Records are allocated on worker threads and freed on the async side. In a profile of that
/// pattern the system allocator spent most of its time in malloc, free and arena locks, so
/// feedpipe uses mimalloc (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

/// Exit status for bad usage or configuration.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status when a feed source was broken.
pub const EXIT_SOURCE: u8 = 3;
/// Exit status when the sink failed.
pub const EXIT_SINK: u8 = 4;
/// Exit status when the rejects file could not be written completely.
pub const EXIT_REJECTS: u8 = 5;
/// Exit status when the run was interrupted (Ctrl-C), as shells report SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Feeds(args) => {
            summary::print_catalog(args.json);
            ExitCode::SUCCESS
        }
        Command::Run(args) => run::run(*args),
        Command::Emulate(EmulateCommand::Threatconnect(args)) => emulate::threatconnect(args),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
