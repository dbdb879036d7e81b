//! imds-mock: a faithful EC2 instance-metadata server (IMDSv1 and IMDSv2), with the
//! instance-profile credentials, events and control API tests need. It stands apart from
//! the agent: the agent may embed it (`--local`, `try`) through [`spawn`], never the
//! other way round.
//!
//! Layout: [`config`] (what to pretend), [`state`] (shared runtime state), [`tree`] (the
//! metadata tree and listing rules), [`token`] (IMDSv2 tokens), [`creds`] (credentials and
//! rotation), [`runtime`] (events, public IP), [`server`] (the HTTP rules, `router` and
//! `serve`), [`control`] (the `/_mock/` API).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod container;
pub mod control;
pub mod creds;
mod fsutil;
pub mod identity;
pub mod keys;
pub mod runtime;
pub mod server;
pub mod sigv4;
pub mod state;
pub mod sts;
pub mod token;
pub mod tree;

use std::net::SocketAddr;

pub use config::{Config, ConfigError, HttpTokens, MetadataOptions, Toggle};
pub use server::{router, serve};
pub use state::{RequestCounts, State, StateError};

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    #[error("cannot set up the token key")]
    TokenKey(#[from] token::TokenKeyError),
    #[error("cannot listen on {addr}; is another server using it?")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A mock serving in the background of the current tokio runtime.
#[derive(Debug)]
pub struct RunningMock {
    addr: SocketAddr,
    state: State,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningMock {
    /// The bound address (the real port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state, to change the instance while it serves.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Stop accepting, finish in-flight requests, and wait for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "mock server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "mock server task failed"),
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Validate `config`, bind `config.listen` and serve in the background.
pub async fn spawn(config: Config) -> Result<RunningMock, MockError> {
    let listen = config.listen.clone();
    let state = State::new(config)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| MockError::Bind {
            addr: listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| MockError::Bind {
        addr: listen,
        source,
    })?;
    Ok(spawn_on(listener, addr, state))
}

/// Serve an existing state on an already bound listener in the background.
pub fn spawn_on(listener: tokio::net::TcpListener, addr: SocketAddr, state: State) -> RunningMock {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    RunningMock {
        addr,
        state,
        stop: Some(stop),
        task,
    }
}
