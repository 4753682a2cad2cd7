//! Stage 1, the request target: what is asked for, before any lookup. Refuses methods the
//! gateway never proxies, paths the router and the upstream could read differently, and
//! hosts that are not `host[:port]`; hands on the host and the canonical path, which is both
//! what the router matches and what the upstream receives (`canonical_path`).

use std::borrow::Cow;

use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode};

use super::Answer;
use crate::respond;

/// The host and path a request is routed by (and, for the path, forwarded with).
pub struct Target<'r> {
    /// `host[:port]` from the request target's authority or the one `Host` header.
    pub host: &'r str,
    /// The canonical request path (borrowed when the client sent it canonical).
    pub path: Cow<'r, str>,
    /// The authority routed on, for `X-Forwarded-Host` and `Forwarded: host=`.
    pub routed_host: Option<HeaderValue>,
}

/// Reads and checks the target of `request`.
pub fn read<B>(request: &Request<B>) -> Result<Target<'_>, Answer> {
    if matches!(*request.method(), Method::TRACE | Method::CONNECT) {
        // Never proxied: TRACE reflects credentials, CONNECT would open a tunnel.
        let mut response = respond::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "405",
            "Method not allowed",
            &format!("The gateway does not serve {}", request.method()),
        );
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),
        );
        return Err(response);
    }
    // Routed on and forwarded in one form, so the upstream acts on what was matched.
    let path = crate::canonical_path::canonicalize(request.uri().path())
        .map_err(|refusal| refusal.into_response())?;
    let host = request_host(request).map_err(bad_request)?;
    let routed_host = routed_host(request, host);
    Ok(Target {
        host,
        path,
        routed_host,
    })
}

fn bad_request(problem: &str) -> Answer {
    respond::error(StatusCode::BAD_REQUEST, "400", "Bad Request", problem)
}

/// The host a request is routed by: the target's authority when it has one (absolute-form
/// or HTTP/2 `:authority`, which RFC 9112 §3.2.2 says wins over `Host`), else its one
/// `Host` header. Two `Host` headers, none on HTTP/1.1, or one that is not `host[:port]`
/// (userinfo, spaces, …) is a 400 (RFC 9112 §3.2).
fn request_host<B>(request: &Request<B>) -> Result<&str, &'static str> {
    let host = match request.uri().authority() {
        Some(authority) => authority.as_str(),
        None => {
            let mut hosts = request.headers().get_all(header::HOST).iter();
            match (hosts.next(), hosts.next()) {
                (Some(_), Some(_)) => return Err("The request has more than one Host header"),
                (Some(host), None) => host
                    .to_str()
                    .map_err(|_| "The Host header is not a host name")?,
                (None, _) if request.version() == http::Version::HTTP_11 => {
                    return Err("The request has no Host header");
                }
                (None, _) => "",
            }
        }
    };
    if is_host_and_port(host) || host.is_empty() {
        Ok(host)
    } else {
        Err("The Host header is not a host name")
    }
}

/// The authority `host` the request was routed on, for `X-Forwarded-Host` and `Forwarded:
/// host=`: the `Host` header itself (no copy) when routing read it, the target's authority
/// (absolute form, HTTP/2 `:authority`) otherwise.
fn routed_host<B>(request: &Request<B>, host: &str) -> Option<HeaderValue> {
    match request.uri().authority() {
        None => request.headers().get(header::HOST).cloned(),
        Some(_) => HeaderValue::from_str(host).ok(),
    }
    .filter(|h| !h.is_empty())
}

/// `name[:port]` or `[v6]:port`, nothing else (no userinfo, no spaces).
fn is_host_and_port(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, port))
                if !v6.is_empty()
                    && v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                ("v6", port)
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, &host[name.len()..][..port.len() + 1]),
            None => (host, ""),
        }
    };
    let port_ok = port.is_empty()
        || (port.len() > 1
            && port.starts_with(':')
            && port.len() <= 6
            && port[1..].bytes().all(|b| b.is_ascii_digit()));
    !name.is_empty()
        && port_ok
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_name_and_port_only() {
        for good in [
            "localhost",
            "localhost:9090",
            "api.example.com",
            "[::1]:9090",
            "[::1]",
            "127.0.0.1:80",
        ] {
            assert!(is_host_and_port(good), "{good}");
        }
        for bad in [
            "localhost:80@evil",
            "a b",
            "evil/x",
            "host:",
            "host:99999999",
            "[::1",
            "user@host",
            "h:x",
            "::1",
            "[]",
        ] {
            assert!(!is_host_and_port(bad), "{bad}");
        }
    }
}
