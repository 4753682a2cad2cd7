//! Policies on the upstream request line: `addQueryParam`, `removeQueryParam`,
//! `rewriteResourcePath` (the resource path after the endpoint's base path) and
//! `changeHTTPMethod`. They edit the absolute URI mediate built; the endpoint's base path
//! is kept, so retries on another member still find the resource path after it.

use http::Uri;

/// One prepared change to the request line.
#[derive(Debug, Clone)]
pub enum UriOp {
    /// Append `name=value` (both percent-encoded) to the query.
    AddQuery(Box<str>),
    /// Remove every `name` / `name=…` pair (the name compared as sent, and percent-encoded).
    RemoveQuery(Box<str>),
    /// Replace the resource path; keep the query or not.
    Path { path: Box<str>, keep_query: bool },
    /// Send with this method.
    Method(http::Method),
}

/// Percent-encodes a query component: everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl UriOp {
    /// An `addQueryParam`.
    pub fn add_query(name: &str, value: &str) -> Self {
        Self::AddQuery(format!("{}={}", encode(name), encode(value)).into())
    }

    /// A `removeQueryParam`.
    pub fn remove_query(name: &str) -> Self {
        Self::RemoveQuery(encode(name).into())
    }

    /// A `changeHTTPMethod`; `None` for a method `http` does not take (never: the model
    /// allows the standard ones only).
    pub fn method(method: &str) -> Option<Self> {
        http::Method::from_bytes(method.as_bytes())
            .ok()
            .map(Self::Method)
    }

    /// Applies the change to `method` and `uri`, whose first `base_len` path bytes are the
    /// endpoint's base path.
    pub fn apply(&self, method: &mut http::Method, uri: &mut Uri, base_len: usize) {
        let (path, query) = split(uri);
        let (path, query): (String, Option<String>) = match self {
            UriOp::Method(m) => {
                *method = m.clone();
                return;
            }
            UriOp::AddQuery(pair) => (
                path.to_owned(),
                Some(match query {
                    Some(q) if !q.is_empty() => format!("{q}&{pair}"),
                    _ => pair.to_string(),
                }),
            ),
            UriOp::RemoveQuery(name) => (
                path.to_owned(),
                query.and_then(|q| {
                    let kept: Vec<&str> = q
                        .split('&')
                        .filter(|pair| pair.split('=').next() != Some(name))
                        .collect();
                    (!kept.is_empty()).then(|| kept.join("&"))
                }),
            ),
            UriOp::Path {
                path: resource,
                keep_query,
            } => {
                let base = path.get(..base_len.min(path.len())).unwrap_or_default();
                let base = base.strip_suffix('/').unwrap_or(base);
                (
                    format!("{base}{resource}"),
                    query.filter(|_| *keep_query).map(str::to_owned),
                )
            }
        };
        let mut target = path;
        if let Some(query) = query {
            target.push('?');
            target.push_str(&query);
        }
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = target.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(rebuilt) = Uri::from_parts(parts) {
                *uri = rebuilt;
            }
        }
    }
}

fn split(uri: &Uri) -> (&str, Option<&str>) {
    (uri.path(), uri.query())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(ops: &[UriOp], uri: &str, base_len: usize) -> (http::Method, String) {
        let mut method = http::Method::GET;
        let mut uri: Uri = uri.parse().unwrap();
        for op in ops {
            op.apply(&mut method, &mut uri, base_len);
        }
        (method, uri.to_string())
    }

    #[test]
    fn query_path_and_method_change_in_order() {
        let (method, uri) = run(
            &[
                UriOp::add_query("added", "a b&c"),
                UriOp::remove_query("drop"),
                UriOp::Path {
                    path: "/v2/items".into(),
                    keep_query: true,
                },
                UriOp::method("POST").unwrap(),
            ],
            "http://up:80/base/orders/1?drop=1&keep=2&drop",
            5,
        );
        assert_eq!(method, http::Method::POST);
        assert_eq!(uri, "http://up:80/base/v2/items?keep=2&added=a%20b%26c");
        let (_, uri) = run(
            &[UriOp::Path {
                path: "/x".into(),
                keep_query: false,
            }],
            "http://up/orders?a=1",
            0,
        );
        assert_eq!(uri, "http://up/x");
        let (_, uri) = run(&[UriOp::remove_query("a")], "http://up/o?a=1", 0);
        assert_eq!(uri, "http://up/o");
    }
}
