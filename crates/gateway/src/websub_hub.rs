//! The WebSub hub of the gateway's WebSub APIs (W3C WebSub): who subscribed to which topic,
//! the verification of a subscriber's intent, and the delivery of each event to every
//! subscriber, signed (`X-Hub-Signature: sha256=…` with the subscriber's `hub.secret`),
//! retried with backoff and the subscriber dropped after the last failed try.
//!
//! The subscriptions live in this gateway process: per gateway, not shared by an
//! environment's gateways, and gone on restart (subscribers renew, as WebSub leases expect).
//!
//! Callbacks are called on public addresses only (`websub_callback`): every call checks an
//! IP literal, and names resolve through `websub_callback::PublicOnly`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::BodyExt as _;

use crate::upstream_client::{UpstreamBody, UpstreamClients};
use crate::websub_callback::{self, PublicOnly};

/// The client the hub calls callbacks with: HTTP/1.1, names resolved to public addresses only.
type CallbackClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<PublicOnly>>,
    UpstreamBody,
>;

/// Delivery attempts before a subscriber is dropped.
pub const DELIVERY_ATTEMPTS: u32 = 4;
/// The wait before the second attempt; doubled before each next one.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// Time allowed for a callback's answer (verification or delivery).
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// A lease asked for longer (or not at all) gets this one.
pub const MAX_LEASE: Duration = Duration::from_secs(10 * 24 * 3600);

/// One verified subscription to a topic.
#[derive(Clone)]
pub struct Subscriber {
    /// Where events are delivered.
    pub callback: Uri,
    /// The HMAC key of `hub.secret`, when the subscriber gave one.
    secret: Option<Arc<aws_lc_rs::hmac::Key>>,
    /// The application that subscribed (its subscription tier counts deliveries).
    pub application: Arc<str>,
    expires: Instant,
}

/// A subscription request, before its intent is verified.
pub struct Intent {
    /// `subscribe` or not (`unsubscribe`).
    pub subscribe: bool,
    /// The API and topic (as the hub keys it).
    pub api: Arc<str>,
    /// The topic as the subscriber wrote it (echoed in the verification).
    pub topic: String,
    /// The subscriber's callback.
    pub callback: Uri,
    /// `hub.secret`.
    pub secret: Option<String>,
    /// The lease granted.
    pub lease: Duration,
    /// The subscribing application.
    pub application: Arc<str>,
}

/// Verified subscribers by (API id, topic).
type Subscriptions = HashMap<(Arc<str>, String), Vec<Subscriber>>;

/// The hub: subscribers by (API, topic), and the tasks verifying and delivering.
pub struct Hub {
    subscribers: Mutex<Subscriptions>,
    client: CallbackClient,
    /// Callbacks on any address are called (`--websub-allow-private-callbacks`); the
    /// client's resolver reads it too.
    allow_private: Arc<AtomicBool>,
    tasks: tokio_util::task::TaskTracker,
    stop: tokio_util::sync::CancellationToken,
}

impl Hub {
    /// A hub calling subscribers over the TLS configuration of `clients`, on public
    /// addresses only (until [`Hub::allow_private`]); its tasks are tracked on `tasks` and
    /// end when `stop` is cancelled.
    pub fn new(
        clients: &UpstreamClients,
        tasks: tokio_util::task::TaskTracker,
        stop: tokio_util::sync::CancellationToken,
    ) -> Arc<Self> {
        let resolver = PublicOnly::default();
        Arc::new(Self {
            subscribers: Mutex::default(),
            allow_private: resolver.allow_private.clone(),
            client: clients.http1_resolving_with(resolver),
            tasks,
            stop,
        })
    }

    /// Lets the hub call callbacks on loopback, private, link-local and other non-public
    /// addresses (tests, labs), or not.
    pub fn allow_private(&self, allow: bool) {
        self.allow_private.store(allow, Ordering::Relaxed);
    }

    fn private_allowed(&self) -> bool {
        self.allow_private.load(Ordering::Relaxed)
    }

    /// Why the hub will not call `callback`, when it will not: checked when a subscription
    /// is asked for (the name resolved now; each later call checks again).
    pub async fn refused_callback(&self, callback: &Uri) -> Option<String> {
        websub_callback::check(callback, self.private_allowed())
            .await
            .err()
    }

    /// Verifies `intent` with its callback (a `GET` with `hub.challenge`, which the callback
    /// must echo with a 2xx), then records or removes the subscription; in the background.
    pub fn verify(self: &Arc<Self>, intent: Intent, topic_key: String) {
        let hub = self.clone();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = hub.verify_now(intent, topic_key) => {}
                () = stop.cancelled() => {}
            }
        });
    }

    async fn verify_now(&self, intent: Intent, topic_key: String) {
        let challenge = random_token();
        let mode = if intent.subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        let query = form_urlencoded(&[
            ("hub.mode", mode),
            ("hub.topic", &intent.topic),
            ("hub.challenge", &challenge),
            ("hub.lease_seconds", &intent.lease.as_secs().to_string()),
        ]);
        let uri = with_query(&intent.callback, &query);
        let confirmed = match uri {
            Some(uri) => match self.call(Method::GET, uri, Vec::new(), Bytes::new()).await {
                Some((status, body)) => status.is_success() && body == challenge.as_bytes(),
                None => false,
            },
            None => false,
        };
        if !confirmed {
            tracing::info!(api = %intent.api, topic = %intent.topic, callback = %intent.callback, mode, "WebSub intent not verified");
            return;
        }
        let mut table = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let list = table.entry((intent.api.clone(), topic_key)).or_default();
        list.retain(|s| s.callback != intent.callback);
        if intent.subscribe {
            list.push(Subscriber {
                callback: intent.callback.clone(),
                secret: intent.secret.as_deref().map(|s| {
                    Arc::new(aws_lc_rs::hmac::Key::new(
                        aws_lc_rs::hmac::HMAC_SHA256,
                        s.as_bytes(),
                    ))
                }),
                application: intent.application.clone(),
                expires: Instant::now() + intent.lease,
            });
        }
        tracing::info!(api = %intent.api, topic = %intent.topic, callback = %intent.callback, mode, "WebSub intent verified");
    }

    /// The live subscribers of `topic_key` on `api` (expired leases are forgotten).
    pub fn subscribers(&self, api: &Arc<str>, topic_key: &str) -> Vec<Subscriber> {
        let mut table = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(list) = table.get_mut(&(api.clone(), topic_key.to_owned())) else {
            return Vec::new();
        };
        let now = Instant::now();
        list.retain(|s| s.expires > now);
        list.clone()
    }

    /// Delivers `event` (with `content_type`) to `to` in the background, signed with its
    /// secret, retried with backoff; after [`DELIVERY_ATTEMPTS`] failures (or a `410 Gone`)
    /// the subscriber is dropped.
    pub fn deliver(
        self: &Arc<Self>,
        api: Arc<str>,
        topic_key: String,
        links: HeaderValue,
        to: Subscriber,
        event: Bytes,
        content_type: Option<HeaderValue>,
    ) {
        let hub = self.clone();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut headers = vec![(header::LINK, links)];
            if let Some(content_type) = content_type {
                headers.push((header::CONTENT_TYPE, content_type));
            }
            if let Some(key) = &to.secret {
                let tag = aws_lc_rs::hmac::sign(key, &event);
                if let Ok(v) = HeaderValue::from_str(&format!("sha256={}", hex(tag.as_ref()))) {
                    headers.push((http::HeaderName::from_static("x-hub-signature"), v));
                }
            }
            let mut wait = FIRST_RETRY;
            for attempt in 1..=DELIVERY_ATTEMPTS {
                let sent = tokio::select! {
                    sent = hub.call(Method::POST, to.callback.clone(), headers.clone(), event.clone()) => sent,
                    () = stop.cancelled() => return,
                };
                match sent {
                    Some((status, _)) if status.is_success() => return,
                    Some((status, _)) if status == http::StatusCode::GONE => break,
                    _ if attempt == DELIVERY_ATTEMPTS => break,
                    _ => {
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = stop.cancelled() => return,
                        }
                        wait *= 2;
                    }
                }
            }
            tracing::warn!(%api, topic = %topic_key, callback = %to.callback, "WebSub subscriber dropped after failed deliveries");
            hub.remove(&api, &topic_key, &to.callback);
        });
    }

    fn remove(&self, api: &Arc<str>, topic_key: &str, callback: &Uri) {
        let mut table = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = table.get_mut(&(api.clone(), topic_key.to_owned())) {
            list.retain(|s| &s.callback != callback);
        }
    }

    /// One exchange with a callback: (status, body up to 64 KiB), `None` when it failed or
    /// took longer than [`CALLBACK_TIMEOUT`].
    async fn call(
        &self,
        method: Method,
        uri: Uri,
        headers: Vec<(http::HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Option<(http::StatusCode, Bytes)> {
        if let Some(reason) = websub_callback::refused_uri(&uri, self.private_allowed()) {
            tracing::warn!(callback = %uri, %reason, "WebSub callback not called");
            return None;
        }
        let mut request = Request::new(UpstreamBody::Right(http_body_util::Full::new(body)));
        *request.method_mut() = method;
        if let Some(authority) = uri.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            request.headers_mut().insert(header::HOST, host);
        }
        *request.uri_mut() = uri;
        for (name, value) in headers {
            request.headers_mut().insert(name, value);
        }
        let exchange = async {
            let response = match self.client.request(request).await {
                Ok(response) => response,
                Err(error) => {
                    // A name that resolves to an address the hub does not call ends here.
                    tracing::info!(error = ?error, "WebSub callback call failed");
                    return None;
                }
            };
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await
                .ok()?
                .to_bytes();
            Some((status, body))
        };
        tokio::time::timeout(CALLBACK_TIMEOUT, exchange)
            .await
            .ok()
            .flatten()
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    let escape = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `uri` with `query` added to its own.
fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let joined = if path.contains('?') {
        format!("{path}&{query}")
    } else {
        format!("{path}?{query}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(joined.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs; `None` when an
/// escape is broken or the text is not UTF-8.
pub fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let decode = |s: &str| -> Option<String> {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forms_round_trip_and_queries_join() {
        let encoded = form_urlencoded(&[("hub.topic", "/orders"), ("x", "a b&c")]);
        assert_eq!(encoded, "hub.topic=%2Forders&x=a%20b%26c");
        let pairs = form_pairs(encoded.as_bytes()).unwrap();
        assert_eq!(pairs[0], ("hub.topic".into(), "/orders".into()));
        assert_eq!(pairs[1], ("x".into(), "a b&c".into()));
        assert!(form_pairs(b"a=%zz").is_none());
        let uri: Uri = "http://cb.example/hook?id=1".parse().unwrap();
        assert_eq!(
            with_query(&uri, "hub.mode=subscribe").unwrap().to_string(),
            "http://cb.example/hook?id=1&hub.mode=subscribe"
        );
    }

    /// A callback server on 127.0.0.1 answering `200 ok` and counting its connections.
    async fn callback_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                });
            }
        });
        (port, accepted)
    }

    fn hub(allow_private: bool) -> Arc<Hub> {
        let hub = Hub::new(
            &UpstreamClients::new(&crate::upstream_client::UpstreamTls::default()),
            tokio_util::task::TaskTracker::new(),
            tokio_util::sync::CancellationToken::new(),
        );
        hub.allow_private(allow_private);
        hub
    }

    #[tokio::test]
    async fn callbacks_on_loopback_are_not_called_unless_the_operator_allows_them() {
        let (port, accepted) = callback_server().await;
        // An IP literal and a name resolving to loopback: refused at call time, whatever
        // was checked when the subscription was asked for (a name may be re-pointed).
        for uri in [
            format!("http://127.0.0.1:{port}/cb"),
            format!("http://localhost:{port}/cb"),
            format!("http://[::ffff:127.0.0.1]:{port}/cb"),
        ] {
            let sent = hub(false)
                .call(Method::GET, uri.parse().unwrap(), Vec::new(), Bytes::new())
                .await;
            assert!(sent.is_none(), "{uri} was called");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
        let uri: Uri = format!("http://localhost:{port}/cb").parse().unwrap();
        assert!(hub(false).refused_callback(&uri).await.is_some());
        let allowed = hub(true);
        assert!(allowed.refused_callback(&uri).await.is_none());
        let (status, body) = allowed
            .call(Method::GET, uri, Vec::new(), Bytes::new())
            .await
            .unwrap();
        assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
