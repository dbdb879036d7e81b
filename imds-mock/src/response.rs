//! The answers' shape, shared by the server and the control API: the body type and
//! [`respond`], which sets the headers every IMDS answer carries. It imports neither.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{Response, StatusCode};
use http_body_util::Full;

/// The response body type.
pub type ResponseBody = Full<Bytes>;

/// Build a response with IMDS's common headers.
pub fn respond(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("EC2ws"));
    if let Some(ct) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}
