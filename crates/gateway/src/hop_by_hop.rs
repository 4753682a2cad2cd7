//! Hop-by-hop headers (RFC 9110 §7.6.1): the ones that describe one connection, removed from
//! every request the gateway forwards and every response it relays.

use http::header::{self, HeaderMap, HeaderName};

const HOP_COUNT: usize = 9;
/// In the order `strip_hop_by_hop` numbers them.
static HOP_BY_HOP: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    // The h2c upgrade's settings (RFC 7540 §3.2.1): for this hop only.
    HeaderName::from_static("http2-settings"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names the message has (a handful) finds which hop-by-hop headers
    // are there; most messages have none, or only `Connection`, and a hashed remove for
    // each of the nine names cost more than the rest of the header handling.
    let mut present = [false; HOP_COUNT];
    let mut any = false;
    for name in headers.keys() {
        // Lower-case names, compared as text: `HeaderName` equality against each of the
        // nine, for every header, cost as much as the removes it replaced.
        let i = match name.as_str() {
            "connection" => 0,
            "http2-settings" => 1,
            "proxy-authorization" => 2,
            "te" => 3,
            "trailer" => 4,
            "transfer-encoding" => 5,
            "upgrade" => 6,
            "keep-alive" => 7,
            "proxy-connection" => 8,
            _ => continue,
        };
        present[i] = true;
        any = true;
    }
    if !any {
        return;
    }
    // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    if present[0] {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .filter(|name| !HOP_BY_HOP.contains(name))
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_connection_named_and_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            "http2-settings",
            HeaderValue::from_static("AAMAAABkAAQAAP__"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));

        // Each hop-by-hop header alone, and with the others.
        let mut all = HeaderMap::new();
        for name in &HOP_BY_HOP {
            let mut one = HeaderMap::new();
            one.insert(name.clone(), HeaderValue::from_static("x"));
            one.insert("x-kept", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut one);
            assert_eq!(one.keys().collect::<Vec<_>>(), ["x-kept"], "{name}");
            all.insert(name.clone(), HeaderValue::from_static("x"));
        }
        strip_hop_by_hop(&mut all);
        assert!(all.is_empty());
    }
}
