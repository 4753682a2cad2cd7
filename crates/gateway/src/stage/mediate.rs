//! The mediate stage: the request head the upstream receives. Removes what is for this hop
//! or for the gateway alone (hop-by-hop headers, the client's credentials, a forged backend
//! JWT), adds what the upstream is owed (its `Host`, the forwarding headers, the gateway's
//! backend JWT, trace context). The policies run after it (`policy::run::request`).

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::compiled::ApiEntry;
use crate::hop_by_hop::strip_hop_by_hop;

/// What the gateway decided about the upstream request before mediating it.
pub struct Mediation<'a> {
    /// The API called.
    pub api: &'a ApiEntry,
    /// The backend JWT to send, when the API asks for one.
    pub assertion: Option<HeaderValue>,
    /// The upstream's `Host`.
    pub upstream_host: HeaderValue,
    /// The upstream request goes out over HTTP/2.
    pub http2: bool,
    /// A gRPC call.
    pub grpc: bool,
    /// The protocol of a WebSocket handshake to pass on (`stage::websocket::asked`).
    pub websocket: Option<HeaderValue>,
    /// The authority the request was routed on (`X-Forwarded-Host`, `Forwarded: host=`).
    pub routed_host: Option<HeaderValue>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client connected over TLS.
    pub secure: bool,
}

/// Rewrites the head of the client's request, `parts`, into the upstream's, to be sent to
/// `uri`. Returns the client's side of a WebSocket upgrade when one is passed on.
pub fn prepare(
    parts: &mut Parts,
    uri: http::Uri,
    m: Mediation<'_>,
) -> Option<hyper::upgrade::OnUpgrade> {
    strip_hop_by_hop(&mut parts.headers);
    if m.grpc {
        // Hop-by-hop, but gRPC servers want to know the client takes trailers.
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let client_upgrade = match m.websocket {
        Some(protocol) => {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        }
        None => None,
    };
    parts.headers.remove(&m.api.authorization_header);
    if let Some(key_in) = &m.api.api_key {
        parts.headers.remove(&key_in.header);
    }
    // A client cannot forge the gateway's assertion.
    parts.headers.remove(crate::backend_jwt::HEADER);
    if let Some(assertion) = m.assertion {
        parts.headers.insert(crate::backend_jwt::HEADER, assertion);
    }
    parts.headers.insert(header::HOST, m.upstream_host);
    let peer_ip = IpText::of(m.peer.ip());
    append_forwarded_for(&mut parts.headers, &peer_ip);
    parts.headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if m.secure { "https" } else { "http" }),
    );
    append_forwarded(
        &mut parts.headers,
        &peer_ip,
        m.secure,
        m.routed_host.as_ref(),
    );
    if let Some(host) = m.routed_host {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if gantry_telemetry::trace::enabled() {
        gantry_telemetry::trace::inject(&tracing::Span::current().context(), &mut parts.headers);
    }
    parts.uri = uri;
    let downstream_version = parts.version;
    parts.version = if m.http2 {
        http::Version::HTTP_2
    } else {
        http::Version::HTTP_11
    };
    if downstream_version == http::Version::HTTP_2 && !m.http2 {
        join_cookies(&mut parts.headers);
    }
    client_upgrade
}

fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::COOKIE).iter();
    if values.next().is_none() || values.next().is_none() {
        return;
    }
    let joined = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, ip: &IpText) {
    let name = HeaderName::from_static("x-forwarded-for");
    let value = match headers.get(&name) {
        Some(existing) => {
            let mut joined = Vec::with_capacity(existing.len() + 2 + ip.as_str().len());
            joined.extend_from_slice(existing.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(ip.as_str().as_bytes());
            HeaderValue::from_bytes(&joined)
        }
        None => HeaderValue::from_str(ip.as_str()),
    };
    if let Ok(v) = value {
        headers.insert(name, v);
    }
}

/// An IP address as text in a stack buffer (the longest IPv6 text is 45 bytes): the
/// forwarding headers of every request need it, and `to_string` allocated each time.
struct IpText {
    buf: [u8; 48],
    len: usize,
    v6: bool,
}

impl IpText {
    fn of(ip: std::net::IpAddr) -> Self {
        use std::io::Write as _;
        let mut buf = [0u8; 48];
        if let std::net::IpAddr::V4(v4) = ip {
            // Dotted decimal by hand: `Display` for an address costs as much as the rest
            // of the forwarding headers together.
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            return Self {
                buf,
                len,
                v6: false,
            };
        }
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{ip}");
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        Self { buf, len, v6: true }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Appends this hop's element to `Forwarded` (RFC 7239), as `X-Forwarded-For` is appended:
/// `for=` the peer (IPv6 quoted and bracketed), `proto=`, and `host=` the authority routed on
/// (quoted unless it is a token; left out when it is not visible ASCII).
fn append_forwarded(
    headers: &mut HeaderMap,
    ip: &IpText,
    secure: bool,
    host: Option<&HeaderValue>,
) {
    let existing = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok());
    let mut value = String::with_capacity(existing.map_or(0, str::len) + 96);
    if let Some(existing) = existing {
        value.push_str(existing);
        value.push_str(", ");
    }
    if ip.v6 {
        value.push_str("for=\"[");
        value.push_str(ip.as_str());
        value.push_str("]\"");
    } else {
        value.push_str("for=");
        value.push_str(ip.as_str());
    }
    value.push_str(if secure {
        ";proto=https"
    } else {
        ";proto=http"
    });
    if let Some(host) = host.and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty()) {
        let token = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        value.push_str(";host=");
        if token {
            value.push_str(host);
        } else {
            value.push('"');
            for c in host.chars() {
                if c == '"' || c == '\\' {
                    value.push('\\');
                }
                value.push(c);
            }
            value.push('"');
        }
    }
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::FORWARDED, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "2001:db8::7",
            "::ffff:10.0.0.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn forwarded_is_appended_with_ipv6_and_host_quoted() {
        let mut h = HeaderMap::new();
        let v4: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        append_forwarded(
            &mut h,
            &IpText::of(v4.ip()),
            false,
            Some(&HeaderValue::from_static("api.example")),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=10.1.2.3;proto=http;host=api.example"
        );

        let v6: SocketAddr = "[2001:db8::7]:443".parse().unwrap();
        append_forwarded(
            &mut h,
            &IpText::of(v6.ip()),
            true,
            Some(&HeaderValue::from_static("localhost:9090")),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=10.1.2.3;proto=http;host=api.example, for=\"[2001:db8::7]\";proto=https;host=\"localhost:9090\""
        );
        assert_eq!(h.get_all(header::FORWARDED).iter().count(), 1);

        let mut h = HeaderMap::new();
        append_forwarded(&mut h, &IpText::of(v4.ip()), false, None);
        assert_eq!(h[header::FORWARDED], "for=10.1.2.3;proto=http");
    }

    #[test]
    fn split_http2_cookies_are_joined_for_http1() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; b=2");
        let mut one = HeaderMap::new();
        one.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        join_cookies(&mut one);
        assert_eq!(one[header::COOKIE], "a=1");
    }
}
