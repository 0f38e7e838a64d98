//! `feedpipe run`: resolves configuration, sources and the sink, runs the pipeline and reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use feedpipe_pipeline::runner::Runner;
use feedpipe_pipeline::source::resolve;
use feedpipe_pipeline::{Ledger, Sink};
use feedpipe_sink_file::{FileFormat, FileSink};
use feedpipe_sink_null::NullSink;
use feedpipe_sink_threatconnect::ThreatConnectSink;

use crate::cli::RunArgs;
use crate::config::{Config, SinkKind};
use crate::{EXIT_CONFIG, EXIT_SINK, EXIT_SOURCE, summary};

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
        .unwrap_or_else(|| default_rejects(&output));
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

/// Places the rejects file beside the output: `out/indicators.jsonl` gives
/// `out/indicators.rejects.jsonl`. Standard output and other outputs that are not regular
/// files, such as `/dev/null`, give `feedpipe-rejects.jsonl` in the working directory.
fn default_rejects(output: &Path) -> PathBuf {
    let special = output.exists() && !output.is_file();
    if output.as_os_str() == "-" || special {
        return PathBuf::from("feedpipe-rejects.jsonl");
    }
    let stem = output
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("indicators");
    output.with_file_name(format!("{stem}.rejects.jsonl"))
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
    let result = runner.run(&sources, sink.as_mut()).await;
    if let Err(error) = ledger.flush() {
        eprintln!("error: writing the rejects file failed: {error}");
    }

    let report = summary::Report::new(ledger.summary(), &settings.rejects);
    eprint!("{}", report.to_table());
    if let Some(path) = &settings.summary_json
        && let Err(error) = report.write_json(path)
    {
        eprintln!(
            "error: cannot write the summary to {}: {error}",
            path.display()
        );
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

    match result {
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_SINK)
        }
        Ok(outcome) if !outcome.source_errors.is_empty() => {
            for message in &outcome.source_errors {
                eprintln!("error: {message}");
            }
            ExitCode::from(EXIT_SOURCE)
        }
        Ok(_) => ExitCode::SUCCESS,
    }
}
