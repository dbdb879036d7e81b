//! The control API under `/_mock/` (a prefix real IMDS never serves), JSON in and out: it
//! changes the running mock the way the EC2 API changes an instance (attach a role, modify
//! metadata options, stop/start, launch), schedules notices, injects faults and reports
//! request counts. Each route is a thin call to a [`State`] method. It is reachable even
//! when `HttpEndpoint` is disabled and is not counted as metadata traffic.
// Routes return `Result<Response, Response>` so `?` turns a refusal into its answer; the
// size of the error variant does not matter on this cold path.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use serde::Deserialize;
use serde_json::json;

use crate::config::{Fault, MetadataOptionsPatch};
use crate::response::{respond, ResponseBody};
use crate::state::State;

/// The prefix of the mock's control API, a path real IMDS never serves.
pub const CONTROL_PREFIX: &str = "/_mock/";

/// Largest control request body accepted.
pub const MAX_CONTROL_BODY: usize = 64 * 1024;

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    respond(status, Some("application/json"), body)
}

fn ok(value: serde_json::Value) -> Response<ResponseBody> {
    json_response(StatusCode::OK, &value)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<ResponseBody> {
    json_response(status, &json!({ "error": message.to_string() }))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response<ResponseBody>> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid JSON body at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpotBody {
    #[serde(default = "terminate")]
    action: String,
    #[serde(default)]
    delay_secs: u64,
}

fn terminate() -> String {
    "terminate".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayBody {
    #[serde(default)]
    delay_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    #[serde(default = "event_code")]
    code: String,
    #[serde(default = "event_description")]
    description: String,
    #[serde(default = "event_not_before")]
    not_before_secs: u64,
    #[serde(default = "event_window")]
    window_secs: u64,
}

fn event_code() -> String {
    "system-reboot".into()
}
fn event_description() -> String {
    "scheduled reboot".into()
}
fn event_not_before() -> u64 {
    7 * 24 * 3600
}
fn event_window() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialErrorBody {
    #[serde(default = "assume_role_unauthorized")]
    code: String,
}

fn assume_role_unauthorized() -> String {
    "AssumeRoleUnauthorizedAccess".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_secs: i64,
}

/// Answer a request under [`CONTROL_PREFIX`].
pub async fn handle<B>(state: &State, req: Request<B>) -> Response<ResponseBody>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    if let Err(refusal) = browser_guard(&parts.method, &parts.headers) {
        return refusal;
    }
    let body: Bytes = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the request body (limit {MAX_CONTROL_BODY} bytes): {e}"),
            )
        }
    };
    let route = parts
        .uri
        .path()
        .strip_prefix(CONTROL_PREFIX)
        .unwrap_or_default()
        .trim_end_matches('/');
    match route_request(state, &parts.method, route, &body) {
        Ok(resp) | Err(resp) => resp,
    }
}

/// The control API changes the mock, so no web page may drive it (the classic CSRF on a
/// server on 127.0.0.1): a request a browser marks as coming from another origin
/// (`Origin` naming another host than the request's, or `Sec-Fetch-Site` other than
/// `same-origin`/`none`) is refused, and so is a `POST` with one of the bodies a page can
/// send without a preflight (`text/plain`, a form). `curl`, the SDKs and scripts send
/// neither header; a JSON body needs `Content-Type: application/json` or none.
fn browser_guard(method: &Method, headers: &http::HeaderMap) -> Result<(), Response<ResponseBody>> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("a {site} request from a browser may not change the mock (Sec-Fetch-Site: {site})"),
            ));
        }
    }
    if let Some(origin) = text("origin") {
        let from = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
        if text("host").as_deref() != Some(from) {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("a request from another origin ({origin}) may not change the mock"),
            ));
        }
    }
    if method == Method::POST {
        if let Some(kind) = text("content-type") {
            let mime = kind
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if matches!(
                mime.as_str(),
                "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
            ) {
                return Err(error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("a POST with Content-Type {mime} is refused (any web page can send one); send JSON with Content-Type: application/json, or no body"),
                ));
            }
        }
    }
    Ok(())
}

fn route_request(
    state: &State,
    method: &Method,
    route: &str,
    body: &[u8],
) -> Result<Response<ResponseBody>, Response<ResponseBody>> {
    let bad = |e: crate::state::StateError| error(StatusCode::BAD_REQUEST, e);
    if let ("DELETE", Some(id)) = (method.as_str(), route.strip_prefix("network-interfaces/")) {
        state
            .detach_interface(id)
            .map_err(|e| error(StatusCode::CONFLICT, e))?;
        return Ok(ok(json!({ "detached": id })));
    }
    let resp = match (method.as_str(), route) {
        ("GET", "state") => ok(json!({
            "instance_id": state.instance_id(),
            "metadata_options": state.options(),
            "role": state.config().role,
            "runtime": state.runtime(),
            "requests": state.counts(),
            "now": crate::creds::timestamp(state.now()),
        })),
        ("GET", "requests") => ok(json!(state.counts())),
        ("GET", "config") => ok(serde_json::to_value(state.config()).unwrap_or_default()),
        ("GET", "identity-certificate") => match state.identity_certificate() {
            Ok(pem) => respond(StatusCode::OK, Some("application/x-pem-file"), pem),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        ("GET", "container") => {
            let c = state.config().container;
            ok(json!({
                "relative_uri": format!("/v2/credentials/{}", c.credential_id),
                "full_uri_path": crate::container::EKS_PATH,
                "authorization_token": c.authorization_token,
                "role": c.role,
            }))
        }
        ("GET", "metadata-options") => ok(json!(state.options())),
        ("PUT", "metadata-options") => {
            let patch: MetadataOptionsPatch = parse(body)?;
            ok(json!(state.modify_options(patch).map_err(bad)?))
        }
        ("PUT", "role") => {
            let b: RoleBody = parse(body)?;
            state.set_role(b.role.clone()).map_err(bad)?;
            ok(json!({ "role": b.role }))
        }
        ("DELETE", "role") => {
            state.set_role(None).map_err(bad)?;
            ok(json!({ "role": null }))
        }
        ("PUT", "user-data") => {
            state.set_user_data(Some(body.to_vec())).map_err(bad)?;
            ok(json!({ "user_data_bytes": body.len() }))
        }
        ("DELETE", "user-data") => {
            state.set_user_data(None).map_err(bad)?;
            ok(json!({ "user_data_bytes": null }))
        }
        ("PUT", "tags") => {
            let tags: BTreeMap<String, String> = parse(body)?;
            state.set_tags(tags.clone()).map_err(bad)?;
            ok(json!(tags))
        }
        ("POST", "spot") => {
            let b: SpotBody = parse(body)?;
            state.schedule_spot(&b.action, b.delay_secs).map_err(bad)?;
            ok(json!({ "spot": state.runtime().spot }))
        }
        ("POST", "rebalance") => {
            let b: DelayBody = parse(body)?;
            state.schedule_rebalance(b.delay_secs);
            ok(json!({ "rebalance_at": state.runtime().rebalance_at }))
        }
        ("POST", "events") => {
            let b: EventBody = parse(body)?;
            let id =
                state.schedule_event(&b.code, &b.description, b.not_before_secs, b.window_secs);
            ok(json!({ "event_id": id }))
        }
        ("POST", "stop") => {
            state.stop().map_err(|e| error(StatusCode::CONFLICT, e))?;
            ok(json!({ "state": "stopped" }))
        }
        ("POST", "start") => {
            state.start().map_err(|e| error(StatusCode::CONFLICT, e))?;
            ok(json!({ "state": "running", "public_ip": state.runtime().public_ip }))
        }
        ("POST", "launch") => ok(json!({ "instance_id": state.launch_new_instance() })),
        ("PUT", "faults") => {
            let faults: Vec<Fault> = parse(body)?;
            state.set_faults(faults).map_err(bad)?;
            ok(json!({ "faults": state.config().faults }))
        }
        ("DELETE", "faults") => {
            state.set_faults(Vec::new()).map_err(bad)?;
            ok(json!({ "faults": [] }))
        }
        ("PUT", "credential-error") => {
            let b: CredentialErrorBody = parse(body)?;
            state
                .set_credential_error(Some(b.code.clone()))
                .map_err(bad)?;
            ok(json!({ "credential_error": b.code }))
        }
        ("DELETE", "credential-error") => {
            state.set_credential_error(None).map_err(bad)?;
            ok(json!({ "credential_error": null }))
        }
        ("GET", "network-interfaces") => {
            let cfg = state.config();
            let rt = state.runtime();
            let now = state.now();
            let mut list = vec![json!({
                "mac": cfg.mac, "interface_id": cfg.interface_id, "device_number": 0,
                "network_card": cfg.network_card, "state": "attached", "primary": true,
            })];
            for i in &cfg.network_interfaces {
                list.push(
                    json!({"mac": i.mac, "interface_id": i.id(), "device_number": i.device_number,
                    "network_card": i.network_card, "state": "attached"}),
                );
            }
            for a in &rt.attached {
                let i = &a.config;
                list.push(
                    json!({"mac": i.mac, "interface_id": i.id(), "device_number": i.device_number,
                    "network_card": i.network_card,
                    "state": if a.visible_at <= now { "attached" } else { "propagating" },
                    "visible_at": crate::creds::timestamp(a.visible_at)}),
                );
            }
            ok(json!(list))
        }
        ("POST", "network-interfaces") => {
            let iface: crate::config::InterfaceConfig = parse(body)?;
            let id = iface.id();
            let visible_at = state.attach_interface(iface).map_err(bad)?;
            ok(json!({"interface_id": id, "visible_at": crate::creds::timestamp(visible_at)}))
        }
        ("PUT", "throttle") => {
            let t: crate::config::Throttle = parse(body)?;
            state.set_throttle(Some(t)).map_err(bad)?;
            ok(json!({ "throttle": t }))
        }
        ("PUT", "interface-throttle") => {
            let t: crate::config::Throttle = parse(body)?;
            state.set_interface_throttle(Some(t)).map_err(bad)?;
            ok(json!({ "interface_throttle": t }))
        }
        ("DELETE", "interface-throttle") => {
            state.set_interface_throttle(None).map_err(bad)?;
            ok(json!({ "interface_throttle": null }))
        }
        ("DELETE", "throttle") => {
            state.set_throttle(None).map_err(bad)?;
            ok(json!({ "throttle": null }))
        }
        ("POST", "clock") => {
            let b: ClockBody = parse(body)?;
            state.advance_clock(b.advance_secs);
            ok(json!({ "now": crate::creds::timestamp(state.now()) }))
        }
        ("POST", "rotate-credentials") => {
            state.rotate_credentials();
            ok(json!({ "rotated": true }))
        }
        ("DELETE", r) if r.starts_with("events/") => {
            let id = r.trim_start_matches("events/");
            state
                .cancel_event(id)
                .map_err(|e| error(StatusCode::NOT_FOUND, e))?;
            ok(json!({ "canceled": id }))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no control route {method} {CONTROL_PREFIX}{route}"),
        ),
    };
    Ok(resp)
}
