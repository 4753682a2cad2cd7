//! Which subscriber callbacks the WebSub hub calls. A callback is a URL a subscribing
//! application chooses, and the hub makes the gateway send requests to it (verifications,
//! deliveries): without a check that is a server-side request forgery hole into the
//! gateway's own network — loopback admin ports, RFC 1918 services, the cloud metadata
//! endpoint at 169.254.169.254.
//!
//! So the hub calls `http`/`https` callbacks on public addresses only: the host (an IP
//! literal, or every address its name resolves to) must not be loopback, private (RFC 1918,
//! `fc00::/7`), link-local (`169.254.0.0/16`, `fe80::/10`), unspecified, multicast,
//! broadcast, shared (`100.64.0.0/10`) or reserved. It is checked when the subscription is
//! asked for (refused with 400 and the reason), and again on every call: names resolve
//! through [`PublicOnly`], so a connection only ever goes to an address that was checked
//! (a name re-pointed at a private address after subscribing — DNS rebinding — fails).
//!
//! Tests and labs whose subscribers run on the gateway's own host or network set
//! `--websub-allow-private-callbacks` (`GANTRY_WEBSUB_ALLOW_PRIVATE_CALLBACKS=true`): then no
//! address is refused.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;

/// How long the hub waits for a callback's name to resolve when a subscription is asked for.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The kind of address `ip` is when the hub must not call it; `None` for a public address.
pub fn refused_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        "an unspecified"
    } else if ip.is_loopback() {
        "a loopback"
    } else if ip.is_private() {
        "a private"
    } else if ip.is_link_local() {
        "a link-local"
    } else if ip.is_broadcast() {
        "a broadcast"
    } else if ip.is_multicast() {
        "a multicast"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a shared (carrier-grade NAT)"
    } else if a >= 240 {
        "a reserved"
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) or behind the well-known NAT64
    // prefix (`64:ff9b::10.0.0.1`) reaches the IPv4 address: judged as that.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(if ip.is_unspecified() {
        "an unspecified"
    } else if ip.is_loopback() {
        "a loopback"
    } else if ip.is_unique_local() {
        "a private (unique local)"
    } else if ip.is_unicast_link_local() {
        "a link-local"
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        "a site-local"
    } else if ip.is_multicast() {
        "a multicast"
    } else {
        return None;
    })
}

/// The IP literal of `uri`'s host, when it is one (`[::1]` without its brackets).
fn literal(uri: &Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Why the hub will not call `uri`, read from the URI alone: not `http`/`https`, no host,
/// or an IP literal the hub does not call (unless `allow_private`).
pub fn refused_uri(uri: &Uri, allow_private: bool) -> Option<String> {
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Some("hub.callback must be an http:// or https:// URL".to_owned());
    }
    if allow_private {
        return None;
    }
    let kind = refused_kind(literal(uri)?)?;
    Some(format!(
        "hub.callback is {kind} address; the hub calls callbacks on public addresses only"
    ))
}

/// Checks `uri` as [`refused_uri`] does and, for a name, every address it resolves to now;
/// the reason when the hub will not call it.
pub async fn check(uri: &Uri, allow_private: bool) -> Result<(), String> {
    if let Some(reason) = refused_uri(uri, allow_private) {
        return Err(reason);
    }
    if allow_private || literal(uri).is_some() {
        return Ok(());
    }
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("hub.callback's host '{host}' did not resolve in time"))?
        .map_err(|_| format!("hub.callback's host '{host}' does not resolve"))?;
    let addresses: Vec<SocketAddr> = resolved.collect();
    if addresses.is_empty() {
        return Err(format!("hub.callback's host '{host}' does not resolve"));
    }
    match addresses.iter().find_map(|a| refused_kind(a.ip())) {
        Some(kind) => Err(format!(
            "hub.callback's host '{host}' resolves to {kind} address; the hub calls callbacks on public addresses only"
        )),
        None => Ok(()),
    }
}

/// The hub's resolver: a name's addresses, refused as a whole when any of them is one the
/// hub does not call (unless `allow_private`). The connector connects only to what this
/// gives, so the addresses checked are the addresses called.
#[derive(Clone, Default)]
pub struct PublicOnly {
    /// Every address is allowed (`--websub-allow-private-callbacks`), shared with the hub.
    pub allow_private: Arc<AtomicBool>,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private.load(Ordering::Relaxed);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private
                && let Some(kind) = addresses.iter().find_map(|a| refused_kind(a.ip()))
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "'{host}' resolves to {kind} address, which the WebSub hub does not call"
                    ),
                ));
            }
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        refused_kind(ip.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_refused_and_public_ones_are_not() {
        for (ip, expected) in [
            ("127.0.0.1", "a loopback"),
            ("127.5.6.7", "a loopback"),
            ("10.1.2.3", "a private"),
            ("172.16.0.1", "a private"),
            ("172.31.255.255", "a private"),
            ("192.168.1.1", "a private"),
            ("169.254.169.254", "a link-local"),
            ("0.0.0.0", "an unspecified"),
            ("0.1.2.3", "an unspecified"),
            ("255.255.255.255", "a broadcast"),
            ("224.0.0.1", "a multicast"),
            ("100.64.0.1", "a shared (carrier-grade NAT)"),
            ("240.0.0.1", "a reserved"),
            ("::1", "a loopback"),
            ("::", "an unspecified"),
            ("fc00::1", "a private (unique local)"),
            ("fd12:3456::1", "a private (unique local)"),
            ("fe80::1", "a link-local"),
            ("ff02::1", "a multicast"),
            ("::ffff:127.0.0.1", "a loopback"),
            ("::ffff:169.254.169.254", "a link-local"),
            ("64:ff9b::10.0.0.1", "a private"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::1.1.1.1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn uris_are_judged_by_scheme_and_literal_host() {
        let refused = |uri: &str, allow| refused_uri(&uri.parse().unwrap(), allow);
        assert!(
            refused("ftp://example.com/", false)
                .unwrap()
                .contains("http://")
        );
        assert!(
            refused("http://169.254.169.254/latest/meta-data", false)
                .unwrap()
                .contains("link-local")
        );
        assert!(
            refused("http://[::1]:8080/cb", false)
                .unwrap()
                .contains("loopback")
        );
        assert!(refused("https://203.0.113.7/cb", false).is_none());
        assert!(refused("http://127.0.0.1/cb", true).is_none());
        assert!(refused("ftp://127.0.0.1/cb", true).is_some());
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let localhost: Uri = "http://localhost:9/cb".parse().unwrap();
        let reason = check(&localhost, false).await.unwrap_err();
        assert!(reason.contains("loopback"), "{reason}");
        assert!(check(&localhost, true).await.is_ok());
        let nowhere: Uri = "http://no-such-host.invalid/cb".parse().unwrap();
        let reason = check(&nowhere, false).await.unwrap_err();
        assert!(reason.contains("does not resolve"), "{reason}");
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_a_non_public_address() {
        use tower::ServiceExt as _;
        let name: Name = "localhost".parse().unwrap();
        let refused = PublicOnly::default()
            .oneshot(name.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        let allowed: Vec<_> = PublicOnly {
            allow_private: Arc::new(AtomicBool::new(true)),
        }
        .oneshot(name)
        .await
        .unwrap()
        .collect();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }
}
