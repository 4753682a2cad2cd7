//! "Try it" in the developer portal: the control plane calls the API through the gateway
//! on the user's behalf (server side, so the API's CORS settings do not matter) and shows
//! the status and body. Only the configured gateway is ever called, and only under the
//! API's own context and version: the user picks the operation and the rest of the path.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Method, Request, header};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::PortalError;
use super::devportal::{load_visible, render_api_page};
use super::session::{Portal, UserForm};
use crate::AppState;

/// How long a call may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a response body shown.
const MAX_SHOWN: usize = 64 * 1024;

/// The console's form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TryForm {
    /// `VERB target` of one of the API's operations.
    #[serde(default)]
    pub operation: String,
    /// The path after the API's context and version, e.g. `/order/42`.
    #[serde(default)]
    pub path: String,
    /// The access token sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token: String,
    /// A JSON request body (for POST, PUT, PATCH).
    #[serde(default)]
    pub body: String,
}

/// What the gateway answered (or why it could not be asked).
#[derive(Debug, Clone, Default)]
pub struct TryResult {
    /// `GET http://gateway/ctx/1.0.0/path`.
    pub request: String,
    /// The status code, 0 when no answer came.
    pub status: u16,
    /// `200 OK`.
    pub status_line: String,
    /// The response content type.
    pub content_type: String,
    /// The response body as text (truncated).
    pub body: String,
    /// Why no answer came.
    pub error: Option<String>,
    /// Milliseconds the call took.
    pub elapsed_ms: u128,
}

/// The base URL callers use for an API deployed with `vhost` behind `gateway`: the gateway's
/// scheme and port, the vhost as host (gateways route by `Host`).
pub fn public_base(gateway: &str, vhost: &str) -> String {
    match gateway.parse::<axum::http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            match uri.port_u16() {
                Some(port) => format!("{scheme}://{vhost}:{port}"),
                None => format!("{scheme}://{vhost}"),
            }
        }
        Err(_) => gateway.to_owned(),
    }
}

/// The vhost of the API's first deployment, if it is deployed.
pub(super) async fn deployed_vhost(
    state: &AppState,
    api_id: &str,
) -> Result<Option<String>, PortalError> {
    Ok(gantry_store::apis::list_deployments(state.store(), api_id)
        .await?
        .into_iter()
        .next()
        .map(|d| d.vhost))
}

/// Why `path` cannot be appended to the API's base path, if it cannot.
fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("The path must start with '/'.");
    }
    if path.len() > 2048 {
        return Some("The path is too long.");
    }
    if path.contains("..") || path.contains("//") {
        return Some("The path must not contain '..' or '//'.");
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains('#') {
        return Some("The path may contain visible ASCII characters only (no spaces, no '#').");
    }
    None
}

pub(super) async fn try_it(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<TryForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = load_visible(&state, &api_id, &user).await?;
    let form = TryForm {
        token: form.token.trim().to_owned(),
        path: form.path.trim().to_owned(),
        ..form
    };
    let vhost = deployed_vhost(&state, &api.id).await?;
    let result = call(&state, &api, vhost.as_deref(), &form).await;
    render_api_page(&state, &user, &api, None, Some(form), Some(result)).await
}

async fn call(
    state: &AppState,
    api: &gantry_model::Api,
    vhost: Option<&str>,
    form: &TryForm,
) -> TryResult {
    let fail = |error: String| TryResult {
        error: Some(error),
        ..TryResult::default()
    };
    let Some(gateway) = state.gateway_base_url() else {
        return fail(
            "This control plane does not know its gateway's URL (start it with --gateway-url)."
                .into(),
        );
    };
    if !gateway.starts_with("http://") {
        return fail(format!(
            "Try it calls gateways over plain HTTP; {gateway} is not an http:// URL."
        ));
    }
    let Some(vhost) = vhost else {
        return fail("The API is not deployed to a gateway environment yet.".into());
    };
    let Some(operation) = api
        .operations
        .iter()
        .find(|op| format!("{} {}", op.verb.as_str(), op.target.as_str()) == form.operation)
    else {
        return fail("Pick one of the API's operations.".into());
    };
    if let Some(problem) = path_problem(&form.path) {
        return fail(problem.into());
    }
    if !form.token.bytes().all(|b| b.is_ascii_graphic()) {
        return fail("The access token must be one word of visible characters.".into());
    }
    let url = format!(
        "{gateway}{}/{}{}",
        api.context.as_str(),
        api.version.as_str(),
        form.path
    );
    let method = Method::from_bytes(operation.verb.as_str().as_bytes()).unwrap_or(Method::GET);
    let request_line = format!(
        "{method} {}{}/{}{}",
        public_base(gateway, vhost),
        api.context.as_str(),
        api.version.as_str(),
        form.path
    );
    // Connect to the configured gateway, but name the API's vhost: gateways route by Host.
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(&url)
        .header(header::HOST, vhost);
    if !form.token.is_empty() {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", form.token));
    }
    let sends_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let body = if sends_body && !form.body.trim().is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        Body::from(form.body.clone())
    } else {
        Body::empty()
    };
    let request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return fail(format!("The request could not be built: {e}")),
    };
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let response = match tokio::time::timeout(TIMEOUT, client.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return TryResult {
                request: request_line,
                ..fail(format!("The gateway could not be reached: {e}"))
            };
        }
        Err(_) => {
            return TryResult {
                request: request_line,
                ..fail(format!(
                    "The gateway did not answer within {} s.",
                    TIMEOUT.as_secs()
                ))
            };
        }
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = match tokio::time::timeout(
        TIMEOUT,
        axum::body::to_bytes(Body::new(response.into_body()), 4 * MAX_SHOWN),
    )
    .await
    {
        Ok(Ok(b)) => b,
        _ => axum::body::Bytes::from_static(b"(the body was too large or did not arrive in time)"),
    };
    let mut body = String::from_utf8_lossy(&bytes).into_owned();
    if body.len() > MAX_SHOWN {
        let mut cut = MAX_SHOWN;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("\n… (truncated)");
    }
    if content_type.contains("json")
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&body)
        && let Ok(pretty) = serde_json::to_string_pretty(&value)
    {
        body = pretty;
    }
    TryResult {
        request: request_line,
        status: status.as_u16(),
        status_line: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        ),
        content_type,
        body,
        error: None,
        elapsed_ms: started.elapsed().as_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_name_the_vhost() {
        assert_eq!(
            public_base("http://127.0.0.1:9090", "localhost"),
            "http://localhost:9090"
        );
        assert_eq!(
            public_base("http://gw.internal", "api.example.com"),
            "http://api.example.com"
        );
    }

    #[test]
    fn paths_stay_under_the_api() {
        assert!(path_problem("/order/42?x=1").is_none());
        for bad in ["order", "/../admin", "//evil.example/x", "/a b", "/a#b"] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }
}
