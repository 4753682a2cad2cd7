//! WSO2 accepts an API's handle, `provider-name-version` (`admin-PizzaShackAPI-1.0.0`),
//! wherever an `apiId` goes: in the path of the Publisher's and the Developer Portal's
//! `/apis/{apiId}/…` resources and in `apiId=` query parameters. This layer runs before
//! routing and puts the API's id in place of a handle, so every handler sees ids only.
//! Ids (UUIDs) and the literal resource names (`change-lifecycle`, `copy-api`, …) are left
//! alone without a lookup: a handle has at least two `-` and is not shaped like a UUID.

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Path prefixes whose next segment is an `apiId`.
const API_PATHS: [&str; 3] = [
    "/api/am/publisher/v4/apis/",
    "/api/am/devportal/v3/apis/",
    "/api/am/devportal/v2/apis/",
];

/// Rewrites a handle in the request's path or `apiId=` query parameter to the API's id.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(uri) = rewritten(&state, request.uri()).await {
        *request.uri_mut() = uri;
    }
    next.run(request).await
}

async fn rewritten(state: &AppState, uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let query = uri.query();
    let mut new_path = None;
    if let Some(prefix) = API_PATHS.iter().find(|p| path.starts_with(*p)) {
        let rest = &path[prefix.len()..];
        let (segment, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(id) = id_of(state, segment).await {
            new_path = Some(format!("{prefix}{id}{tail}"));
        }
    }
    let mut new_query = None;
    if let Some(query) = query.filter(|q| q.contains("apiId=")) {
        let mut changed = false;
        let mut parts = Vec::new();
        for pair in query.split('&') {
            match pair.strip_prefix("apiId=") {
                Some(value) => match id_of(state, value).await {
                    Some(id) => {
                        changed = true;
                        parts.push(format!("apiId={id}"));
                    }
                    None => parts.push(pair.to_owned()),
                },
                None => parts.push(pair.to_owned()),
            }
        }
        if changed {
            new_query = Some(parts.join("&"));
        }
    }
    if new_path.is_none() && new_query.is_none() {
        return None;
    }
    let path = new_path.as_deref().unwrap_or(path);
    let path_and_query = match new_query.as_deref().or(query) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The id of the API `raw` (percent-encoded) names, when it is a handle of a stored API.
async fn id_of(state: &AppState, raw: &str) -> Option<String> {
    if !could_be_handle(raw) {
        return None;
    }
    let handle = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    gantry_store::apis::id_of_handle(state.store(), &handle)
        .await
        .ok()
        .flatten()
}

/// At least `provider-name-version`, and not a UUID.
fn could_be_handle(segment: &str) -> bool {
    !is_uuid(segment) && segment.matches('-').count() >= 2
}

/// Shaped like the UUIDs Gantry gives its objects (`8-4-4-4-12` hex digits).
pub(crate) fn is_uuid(segment: &str) -> bool {
    segment.len() == 36
        && segment.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::could_be_handle;

    #[test]
    fn only_handles_are_looked_up() {
        assert!(could_be_handle("admin-PizzaShackAPI-1.0.0"));
        assert!(could_be_handle("admin-Pizza%20Shack-1.0.0"));
        assert!(!could_be_handle("0c0ffee0-0000-4000-8000-000000000000"));
        assert!(!could_be_handle("change-lifecycle"));
        assert!(!could_be_handle("copy-api"));
    }
}
