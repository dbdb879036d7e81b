//! Reading an HTTP answer's body with a cap. A metadata service, a container endpoint or
//! an STS endpoint that answers without end (or simply too much) must not grow strap's
//! memory until the kernel kills it: the body is read a chunk at a time and refused as
//! soon as it passes the cap. This module only reads; callers say what the cap is and
//! what passing it means.

use bytes::Bytes;

/// Why a capped body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body passed the cap; nothing past it was read.
    #[error("the answer is larger than {max} bytes")]
    TooLarge { max: usize },
    /// Reading the body failed.
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// The body of `resp`, at most `max` bytes (checked against `Content-Length` first).
pub async fn body(mut resp: reqwest::Response, max: usize) -> Result<Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge { max });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge { max });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// [`body`] as text (invalid UTF-8 replaced).
pub async fn text(resp: reqwest::Response, max: usize) -> Result<String, BodyError> {
    let bytes = body(resp, max).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
