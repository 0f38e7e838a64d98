//! The HTTP server: binding, the accept loop, and the handle that inspects and stops it.
//!
//! The server runs while its [`EmulatorHandle`] lives. Shutting down stops accepting, lets open
//! connections finish their current request for up to five seconds, and aborts background jobs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::EmulatorConfig;
use crate::faults::FaultPlan;
use crate::job::JobView;
use crate::routes;
use crate::state::{RequestRecord, Shared};
use crate::store::StoredIndicator;

/// How long open connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Emulator start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("binding the ThreatConnect emulator to {addr} failed: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("reading the emulator's bound address failed: {0}")]
    LocalAddr(std::io::Error),
}

/// Entry points that start the ThreatConnect batch API emulator.
pub struct Emulator;

impl Emulator {
    /// Binds to `addr` and starts serving in the background. Returns the bound address (useful
    /// with port 0) and the handle that inspects and stops the emulator.
    pub async fn bind(
        config: EmulatorConfig,
        addr: SocketAddr,
    ) -> Result<(SocketAddr, EmulatorHandle), EmulatorError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(EmulatorError::LocalAddr)?;
        let shared = Arc::new(Shared::new(config));
        let (shutdown, shutdown_signal) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_signal));
        tracing::info!(address = %local_addr, "ThreatConnect emulator listening.");

        let handle = EmulatorHandle {
            local_addr,
            shared,
            shutdown,
            task,
        };
        Ok((local_addr, handle))
    }

    /// Binds to 127.0.0.1 on a free port; for tests in the same process.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::bind(config, addr).await.map(|(_, handle)| handle)
    }

    /// Serves on `addr` until `shutdown` completes, then stops gracefully.
    pub async fn serve(
        config: EmulatorConfig,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EmulatorError> {
        let (_, handle) = Self::bind(config, addr).await?;
        shutdown.await;
        handle.shutdown().await;
        Ok(())
    }
}

/// A running emulator. Dropping it stops the server as `shutdown` does, without waiting.
pub struct EmulatorHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl EmulatorHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns the API base URL a client is configured with, such as `http://127.0.0.1:8443/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.local_addr)
    }

    /// Returns every stored indicator in creation order.
    pub fn indicators(&self) -> Vec<StoredIndicator> {
        self.shared.indicators()
    }

    /// Returns every job in creation order.
    pub fn jobs(&self) -> Vec<JobView> {
        self.shared.jobs()
    }

    /// Returns the API requests received so far, oldest first (at most the last 10,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Returns the current fault plan with the uses left on each rule.
    pub fn faults(&self) -> FaultPlan {
        self.shared.lock().faults.clone()
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.lock().faults = plan;
    }

    /// Forgets all jobs, indicators and requests, and restores the configured faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(self) {
        // Send fails only when every receiver is gone, that is when the accept loop has ended.
        let _ = self.shutdown.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "ThreatConnect emulator task failed.");
        }
        tracing::info!(address = %self.local_addr, "ThreatConnect emulator stopped.");
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let connection = serve_connection(stream, Arc::clone(&shared), shutdown.clone());
                    connections.spawn(connection);
                }
                Err(error) => {
                    // Typically too many open files; pausing lets connections close first.
                    tracing::warn!(%error, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }

    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "Closing connections that did not finish in time."
        );
        connections.abort_all();
    }
    shared.abort_jobs();
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| routes::handle(Arc::clone(&shared), request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);

    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "Connection ended with an error.");
    }
}
