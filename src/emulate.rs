//! `feedpipe emulate threatconnect`: serves the ThreatConnect batch API emulator until the
//! process is interrupted.

use std::process::ExitCode;

use feedpipe_tc_emulator::{Emulator, EmulatorConfig, Secret};

use crate::EXIT_CONFIG;
use crate::cli::EmulateThreatConnectArgs;

pub fn threatconnect(args: EmulateThreatConnectArgs) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match load(path) {
            Ok(config) => config,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => EmulatorConfig::default(),
    };
    if !args.owners.is_empty() {
        config.owners = args.owners.clone();
    }
    if let Ok(access_id) = std::env::var("FEEDPIPE_TC_ACCESS_ID") {
        config.credentials.access_id = access_id;
    }
    if let Ok(secret_key) = std::env::var("FEEDPIPE_TC_SECRET_KEY") {
        config.credentials.secret_key = Secret::new(secret_key);
    }
    if let Ok(token) = std::env::var("FEEDPIPE_TC_API_TOKEN") {
        config.credentials.token = Some(Secret::new(token));
    }

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
    runtime.block_on(async move {
        let owners = config.owners.join(", ");
        let (address, handle) = match Emulator::bind(config, args.listen).await {
            Ok(bound) => bound,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        eprintln!(
            "ThreatConnect emulator listening: API base URL http://{address}/api, owners: {owners}. \
             Press Ctrl-C to stop."
        );
        wait_for_stop().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn load(path: &std::path::Path) -> Result<EmulatorConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    toml::from_str(&text)
        .map_err(|error| format!("invalid emulator configuration {}: {error}", path.display()))
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
