//! imds-mock: a faithful EC2 instance-metadata server (IMDSv1 and IMDSv2), with the
//! instance-profile credentials, events and control API tests need, plus STS and the
//! container-credential endpoints on the same port. It stands apart from
//! the agent: the agent may embed it (`--local`, `try`) through [`spawn`], never the
//! other way round.
//!
//! Layout: [`config`] (what to pretend), [`state`] (shared runtime state), [`tree`] (the
//! metadata tree and listing rules), [`token`] (IMDSv2 tokens), [`creds`] (credentials and
//! rotation), [`runtime`] (events, public IP), [`server`] (the HTTP rules, `router` and
//! `serve`), [`control`] (the `/_mock/` API, which the server calls), [`response`] (the
//! body type and common headers both answer with); [`sts`], [`sigv4`], [`container`] and
//! [`identity`] are pure modules the server calls, meeting the issuing side in [`keys`];
//! `sts` calls `sigv4`, and both answer with [`sts_error`]. Imports only point down.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod container;
pub mod control;
pub mod creds;
mod fsutil;
pub mod identity;
pub mod keys;
pub mod response;
pub mod runtime;
pub mod server;
pub mod sigv4;
pub mod state;
pub mod sts;
pub mod sts_error;
#[cfg(test)]
pub(crate) mod test_store;
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
    addr_ipv6: Option<SocketAddr>,
    state: State,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningMock {
    /// The bound address (the real port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound IPv6 address, when `listen_ipv6` was set.
    pub fn addr_ipv6(&self) -> Option<SocketAddr> {
        self.addr_ipv6
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
            let _ = stop.send(true);
        }
        for task in std::mem::take(&mut self.tasks) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "mock server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "mock server task failed"),
            }
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

async fn bind(addr: &str) -> Result<(tokio::net::TcpListener, SocketAddr), MockError> {
    let err = |source| MockError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// Validate `config`, bind `config.listen` (and `config.listen_ipv6`) and serve in the
/// background.
pub async fn spawn(config: Config) -> Result<RunningMock, MockError> {
    let listen = config.listen.clone();
    let listen_ipv6 = config.listen_ipv6.clone();
    let state = State::new(config)?;
    let (listener, addr) = bind(&listen).await?;
    let mut mock = spawn_on(listener, addr, state);
    if let Some(v6) = listen_ipv6 {
        let (listener, addr) = bind(&v6).await?;
        mock.addr_ipv6 = Some(addr);
        mock.serve_also(listener);
    }
    Ok(mock)
}

/// Serve an existing state on an already bound listener in the background.
pub fn spawn_on(listener: tokio::net::TcpListener, addr: SocketAddr, state: State) -> RunningMock {
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut mock = RunningMock {
        addr,
        addr_ipv6: None,
        state,
        stop: Some(stop),
        tasks: Vec::new(),
    };
    mock.serve_also(listener);
    mock
}

impl RunningMock {
    /// Serve the same state on one more listener, stopped with the others.
    fn serve_also(&mut self, listener: tokio::net::TcpListener) {
        let Some(stop) = &self.stop else { return };
        let mut stopped = stop.subscribe();
        self.tasks.push(tokio::spawn(serve(
            listener,
            self.state.clone(),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )));
    }
}
