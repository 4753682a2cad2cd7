//! How MCP clients find out how to authenticate: OAuth 2.0 Protected Resource Metadata
//! (RFC 9728) at `/.well-known/oauth-protected-resource<MCP server path>`, naming the
//! resident key manager as the authorization server, and `WWW-Authenticate` challenges that
//! point at it (the MCP authorization spec, 2025-06-18 and later).

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::json;

use crate::compiled::{CompiledConfig, RouteMatch};
use crate::respond;
use crate::stage::Answer;
use crate::stage::target::Target;

/// Where protected resource metadata is served (the resource's path follows).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The URL of the MCP server a request reached under `base_path`.
pub fn resource_url(target: &Target<'_>, secure: bool, base_path: &str) -> String {
    let authority = target
        .routed_host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or(target.host);
    let scheme = if secure { "https" } else { "http" };
    format!(
        "{scheme}://{authority}{base_path}{}",
        gantry_model::mcp::MCP_RESOURCE
    )
}

/// The metadata URL of the resource at `resource_url`.
fn metadata_url(resource_url: &str) -> String {
    match resource_url.find("://").map(|i| i + 3) {
        Some(start) => {
            let path_at = resource_url[start..]
                .find('/')
                .map_or(resource_url.len(), |i| start + i);
            format!(
                "{}{WELL_KNOWN}{}",
                &resource_url[..path_at],
                &resource_url[path_at..]
            )
        }
        None => resource_url.to_owned(),
    }
}

/// The metadata document, when `target` asks for one (`None`: not a metadata path, route
/// as usual); 404 for a path that names no MCP server.
pub fn answer(
    config: &CompiledConfig,
    target: &Target<'_>,
    method: &Method,
    secure: bool,
) -> Option<Answer> {
    let resource_path = target.path.strip_prefix(WELL_KNOWN)?;
    if !resource_path.starts_with('/') {
        return None;
    }
    let base_path = resource_path.strip_suffix(gantry_model::mcp::MCP_RESOURCE)?;
    let entry = match config.route(target.host, resource_path, &Method::POST) {
        RouteMatch::Found { entry, .. } if entry.api.mcp.is_some() => entry,
        _ => return Some(respond::no_route()),
    };
    if !matches!(*method, Method::GET | Method::HEAD) {
        let mut refused = respond::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "405",
            "Method not allowed",
            "Protected resource metadata is read with GET",
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(refused);
    }
    let mcp = entry.api.mcp.as_deref()?;
    let document = json!({
        "resource": resource_url(target, secure, base_path),
        "authorization_servers": config.resident_issuer.as_deref().into_iter().collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "scopes_supported": mcp.scopes,
        "resource_name": &*entry.api.name,
    });
    let mut response = Response::new(respond::full(document.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Some(response)
}

/// A 401 of the authenticate stage with the challenge MCP clients follow: where the
/// resource's metadata is.
pub fn challenge(mut answer: Answer, resource_url: &str) -> Answer {
    if answer.status() != StatusCode::UNAUTHORIZED {
        return answer;
    }
    let invalid = answer
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("invalid_token"));
    let error = if invalid {
        ", error=\"invalid_token\""
    } else {
        ""
    };
    let value = format!(
        "Bearer realm=\"gantry\"{error}, resource_metadata=\"{}\"",
        metadata_url(resource_url)
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        answer.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    answer
}

/// A 403 for a tool whose scopes the token lacks (RFC 6750 `insufficient_scope`).
pub fn insufficient_scope(mut answer: Answer, scopes: &[String], resource_url: &str) -> Answer {
    let value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\"",
        scopes.join(" "),
        metadata_url(resource_url)
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        answer.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_sits_between_host_and_path() {
        assert_eq!(
            metadata_url("https://gw:9095/books/1.0/mcp"),
            "https://gw:9095/.well-known/oauth-protected-resource/books/1.0/mcp"
        );
    }
}
