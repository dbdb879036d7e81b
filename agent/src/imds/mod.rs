//! The instance-metadata (IMDS) client every part of the agent uses: IMDSv2 session
//! tokens cached and refreshed before expiry, retries with backoff inside a deadline,
//! IMDSv1 fallback only where allowed, and the SDKs' `AWS_EC2_METADATA_*` settings.
//! It never logs tokens or user data.
//!
//! (Skeleton: the contract below is what the rest of the agent codes against.)

use crate::context::Context;

/// Errors from talking to the metadata service.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The client is not built yet.
    #[error("the IMDS client is not implemented yet")]
    Unimplemented,
}

/// A cheaply clonable IMDS client (clones share the token cache and counters).
#[derive(Clone, Debug, Default)]
pub struct ImdsClient {}

impl ImdsClient {
    /// A client configured from the environment and profile as the SDKs configure theirs.
    pub fn from_context(_ctx: &Context) -> Result<Self, ImdsError> {
        Err(ImdsError::Unimplemented)
    }

    /// A client for an explicit endpoint (`http://127.0.0.1:1338`).
    pub fn with_endpoint(_ctx: &Context, _endpoint: &str) -> Result<Self, ImdsError> {
        Err(ImdsError::Unimplemented)
    }

    /// GET a path (`/latest/meta-data/instance-id`); `Ok(None)` on 404.
    pub async fn get(&self, _path: &str) -> Result<Option<Vec<u8>>, ImdsError> {
        Err(ImdsError::Unimplemented)
    }

    /// The raw user-data bytes, `Ok(None)` when the instance has none.
    pub async fn user_data(&self) -> Result<Option<Vec<u8>>, ImdsError> {
        self.get("/latest/user-data").await
    }
}
