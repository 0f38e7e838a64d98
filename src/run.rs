//! `feedpipe run`: resolves configuration, sources and the sink, runs the pipeline and reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::sync::atomic::Ordering;

use feedpipe_pipeline::runner::Runner;
use feedpipe_pipeline::source::{Container, FeedSource, resolve};
use feedpipe_pipeline::{Ledger, Sink};
use feedpipe_sink_file::{FileFormat, FileSink};
use feedpipe_sink_null::NullSink;
use feedpipe_sink_threatconnect::ThreatConnectSink;

use crate::cli::RunArgs;
use crate::config::{Config, SinkKind};
use crate::{EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_REJECTS, EXIT_SINK, EXIT_SOURCE, summary};

/// Settings of one run after merging the configuration file and the flags.
struct Settings {
    config: Config,
    feeds: Vec<PathBuf>,
    sink: SinkKind,
    output: PathBuf,
    format: FileFormat,
    rejects: PathBuf,
    summary_json: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> ExitCode {
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    runtime.block_on(execute(&args, settings))
}

fn settings(args: &RunArgs) -> Result<Settings, String> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let feeds = if args.feeds.is_empty() {
        config.run.feeds.clone()
    } else {
        args.feeds.clone()
    };
    if feeds.is_empty() {
        return Err(
            "no feeds given: name feed files or directories, or set `feeds` in [run] of the \
             configuration file"
                .to_owned(),
        );
    }
    let sink = args.sink.or(config.run.sink).unwrap_or_default();
    if args.dry_run && sink != SinkKind::Threatconnect {
        return Err("--dry-run applies to --sink threatconnect only".to_owned());
    }
    let format = args.format.or(config.run.format).unwrap_or_default();
    let output = args
        .output
        .clone()
        .or_else(|| config.run.output.clone())
        .unwrap_or_else(|| {
            let name = match format {
                FileFormat::Jsonl => "indicators.jsonl",
                FileFormat::Csv => "indicators.csv",
            };
            Path::new("feedpipe-output").join(name)
        });
    let rejects = args
        .rejects
        .clone()
        .or_else(|| config.run.rejects.clone())
        .unwrap_or_else(|| default_rejects(&output, sink));
    if rejects.as_os_str() == "-" {
        return Err(
            "the rejects file cannot be standard output ('-'): name a file, such as \
             --rejects rejects.jsonl"
                .to_owned(),
        );
    }
    let summary_json = args
        .summary_json
        .clone()
        .or_else(|| config.run.summary_json.clone());
    Ok(Settings {
        config,
        feeds,
        sink,
        output,
        format,
        rejects,
        summary_json,
    })
}

/// Returns the default rejects file. For the file sink it sits beside the output:
/// `out/indicators.jsonl` gives `out/indicators.rejects.jsonl`, and standard output and other
/// outputs that are not regular files, such as `/dev/null`, give `feedpipe-rejects.jsonl` in
/// the working directory. The null and ThreatConnect sinks write no output file, so their
/// rejects file is named after the sink (`feedpipe-output/threatconnect.rejects.jsonl`, or
/// `threatconnect.rejects.jsonl` in the working directory when the output is not a regular
/// file) and never replaces a file sink's.
fn default_rejects(output: &Path, sink: SinkKind) -> PathBuf {
    let special = output.exists() && !output.is_file();
    let stem = match sink {
        SinkKind::File if output.as_os_str() == "-" || special => {
            return PathBuf::from("feedpipe-rejects.jsonl");
        }
        SinkKind::File => output
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("indicators"),
        SinkKind::Null => "null",
        SinkKind::Threatconnect => "threatconnect",
    };
    let name = format!("{stem}.rejects.jsonl");
    if output.as_os_str() == "-" || special {
        return PathBuf::from(name);
    }
    output.with_file_name(name)
}

async fn execute(args: &RunArgs, settings: Settings) -> ExitCode {
    let feed = args.feed.as_deref().or(settings.config.run.feed.as_deref());
    let sources = match resolve(&settings.feeds, feed) {
        Ok(sources) => sources,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(message) = check_outputs(args, &settings, &sources) {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }

    let mut pipeline = settings.config.pipeline;
    if let Some(bytes) = args.max_element_bytes {
        pipeline.max_element_bytes = bytes;
    }
    if let Some(workers) = args.workers {
        pipeline.workers = Some(workers);
    }
    let runner_config = match pipeline.runner_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let stages = match feedpipe_stages::standard_stages(settings.config.stages.rate) {
        Ok(stages) => stages,
        Err(message) => {
            eprintln!("error: invalid [stages.rate] configuration: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    if let Some(parent) = settings
        .rejects
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        && let Err(error) = std::fs::create_dir_all(parent)
    {
        eprintln!("error: cannot create {}: {error}", parent.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let ledger = match Ledger::new(Some(&settings.rejects)) {
        Ok(ledger) => Arc::new(ledger),
        Err(error) => {
            eprintln!(
                "error: cannot create the rejects file {}: {error}",
                settings.rejects.display()
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    let mut sink: Box<dyn Sink> = match settings.sink {
        SinkKind::File => match FileSink::create(&settings.output, settings.format) {
            Ok(sink) => Box::new(sink),
            Err(error) => {
                eprintln!(
                    "error: cannot create the output file {}: {error}",
                    settings.output.display()
                );
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        SinkKind::Null => Box::new(NullSink::default()),
        SinkKind::Threatconnect => {
            let mut config = settings.config.sink.threatconnect;
            if let Some(url) = &args.tc_url {
                config.api_url = url.clone();
            }
            if let Some(owner) = &args.tc_owner {
                config.owner = owner.clone();
            }
            if args.dry_run {
                config.dry_run = true;
            }
            match ThreatConnectSink::new(config) {
                Ok(sink) => Box::new(sink),
                Err(error) => {
                    eprintln!("error: invalid ThreatConnect sink configuration: {error}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
        }
    };

    let runner = Runner::new(runner_config, stages, ledger.clone());
    let stop = runner.stop_handle();
    tokio::spawn(async move {
        if interrupted().await {
            eprintln!(
                "interrupted: finishing the records already read; press Ctrl-C again to quit \
                 at once"
            );
            stop.store(true, Ordering::Relaxed);
            if interrupted().await {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    let result = runner.run(&sources, sink.as_mut()).await;
    // A failure here is reported with the others below.
    let _ = ledger.flush();
    let rejects_failure = ledger.rejects_failure();

    let report = summary::Report::new(ledger.summary(), &settings.rejects);
    eprint!("{}", report.to_table());
    let mut report_failed = false;
    if let Some(path) = &settings.summary_json
        && let Err(error) = report.write_json(path)
    {
        eprintln!(
            "error: cannot write the summary to {}: {error}",
            path.display()
        );
        report_failed = true;
    }
    if args.profile || args.profile_json.is_some() {
        let profile = runner.profile().report();
        if args.profile {
            eprint!("{}", profile.to_table());
        }
        if let Some(path) = &args.profile_json {
            let written = serde_json::to_vec_pretty(&profile)
                .map_err(std::io::Error::other)
                .and_then(|json| std::fs::write(path, json));
            if let Err(error) = written {
                eprintln!(
                    "error: cannot write the profile to {}: {error}",
                    path.display()
                );
            }
        }
    }

    if let Some(failure) = &rejects_failure {
        let lost = match failure.missing {
            0 => "rejected records buffered before the failure may be missing from it".to_owned(),
            missing => format!(
                "{missing} rejected records after the failure are not in it, and records \
                 buffered before it may be missing too"
            ),
        };
        eprintln!(
            "error: writing the rejects file {} failed ({}): {lost}; the summary counts them all",
            settings.rejects.display(),
            failure.error,
        );
    }
    match result {
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_SINK)
        }
        Ok(outcome) if outcome.interrupted => {
            eprintln!("error: the run was interrupted; the summary covers what was read");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Ok(_) if rejects_failure.is_some() => ExitCode::from(EXIT_REJECTS),
        Ok(outcome) if !outcome.source_errors.is_empty() => {
            for message in &outcome.source_errors {
                eprintln!("error: {message}");
            }
            ExitCode::from(EXIT_SOURCE)
        }
        Ok(_) if report_failed => ExitCode::from(EXIT_CONFIG),
        Ok(_) => ExitCode::SUCCESS,
    }
}

/// Waits for Ctrl-C or, on Unix, SIGTERM, the signal service managers and container runtimes
/// send to stop a program. Returns `false` if no signal can be received.
async fn interrupted() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.is_ok(),
            received = terminate.recv() => received.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Checks, before anything is written, that no output file is also an input feed or another
/// output, and that the summary file can be created.
fn check_outputs(
    args: &RunArgs,
    settings: &Settings,
    sources: &[FeedSource],
) -> Result<(), String> {
    let mut outputs: Vec<(&str, &Path)> = vec![("rejects file", settings.rejects.as_path())];
    if settings.sink == SinkKind::File && settings.output.as_os_str() != "-" {
        outputs.push(("output file", settings.output.as_path()));
    }
    if let Some(path) = &settings.summary_json {
        outputs.push(("summary file", path));
    }
    if let Some(path) = &args.profile_json {
        outputs.push(("profile file", path));
    }

    let inputs: Vec<PathBuf> = sources
        .iter()
        .filter_map(|source| match &source.container {
            Container::Plain(path) | Container::Gzip(path) | Container::Zip(path) => {
                Some(absolute(path))
            }
            Container::Stdin => None,
        })
        .collect();
    for (index, (role, path)) in outputs.iter().enumerate() {
        let resolved = absolute(path);
        if inputs.contains(&resolved) {
            return Err(format!(
                "the {role} {} is also an input feed; choose another path",
                path.display()
            ));
        }
        for (other_role, other) in &outputs[..index] {
            if absolute(other) == resolved {
                return Err(format!(
                    "the {role} and the {other_role} are the same file {}; choose two paths",
                    path.display()
                ));
            }
        }
        if path.is_dir() {
            return Err(format!("the {role} {} is a directory", path.display()));
        }
    }

    if let Some(path) = &settings.summary_json {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        // Opened without truncating, and removed again when it is new, so that a run that
        // quits at once leaves neither an empty summary nor an emptied earlier one.
        let existed = path.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|error| {
                format!("cannot create the summary file {}: {error}", path.display())
            })?;
        if !existed {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// Returns a path made absolute and, where it exists, with symbolic links resolved, so that two
/// spellings of one file compare equal.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty());
    let parent = match parent {
        Some(parent) => std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned()),
        None => std::env::current_dir().unwrap_or_default(),
    };
    match path.file_name() {
        Some(name) => parent.join(name),
        None => parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rejects_per_sink() {
        let output = Path::new("out/indicators.jsonl");
        let cases = [
            (output, SinkKind::File, "out/indicators.rejects.jsonl"),
            (output, SinkKind::Null, "out/null.rejects.jsonl"),
            (
                output,
                SinkKind::Threatconnect,
                "out/threatconnect.rejects.jsonl",
            ),
            (Path::new("-"), SinkKind::File, "feedpipe-rejects.jsonl"),
            (Path::new("-"), SinkKind::Null, "null.rejects.jsonl"),
            (
                Path::new("/dev/null"),
                SinkKind::File,
                "feedpipe-rejects.jsonl",
            ),
            (
                Path::new("/dev/null"),
                SinkKind::Threatconnect,
                "threatconnect.rejects.jsonl",
            ),
        ];
        for (output, sink, expected) in cases {
            assert_eq!(
                default_rejects(output, sink),
                PathBuf::from(expected),
                "{output:?} {sink:?}"
            );
        }
    }
}
