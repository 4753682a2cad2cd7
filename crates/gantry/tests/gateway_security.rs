//! The gateway under attack: request smuggling and header-syntax tricks over raw TCP
//! (test-catalogue H1–H23), and forged, mislabelled or malformed JWTs (J1–J36 where
//! `auth.rs`'s unit tests and `end_to_end.rs` do not already cover them). Each runs against
//! the real `gantry up` binary, a counting echo upstream and a stand-in identity provider
//! whose signing keys the test holds, so it can mint any token it likes. What matters in
//! every case: a clear 4xx, and the upstream sees exactly the requests it should.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use gantry_keys::{SigningAlgorithm, SigningKey};
use gantry_testkit::idp::FakeIdp;
use gantry_testkit::raw;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const ADM: &str = "/api/am/admin/v4";
const DEV: &str = "/api/am/devportal/v3";
const CLIENT: &str = "sec-client";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A gateway with one API, `/sec/1.0.0`: `/pub/*` open (no token), `/admin/*` protected,
/// backend JWT on; an application subscribed to it whose client `sec-client` is an
/// external IdP's, and the IdP's two signing keys (ES256 to mint with, RS256 to confuse).
struct Fixture {
    up: GantryUp,
    upstream: EchoUpstream,
    idp: FakeIdp,
    es: SigningKey,
    rsa: SigningKey,
}

impl Fixture {
    async fn start() -> Self {
        let upstream = EchoUpstream::start().await;
        let es = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let rsa = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
        let jwks = json!({"keys": [
            serde_json::to_value(es.public_jwk()).unwrap(),
            serde_json::to_value(rsa.public_jwk()).unwrap(),
        ]});
        let idp = FakeIdp::start(jwks).await;
        let up = GantryUp::start_with(BIN, false).await;
        let admin = up.rest();
        let (status, km) = admin
            .post(
                &format!("{ADM}/key-managers"),
                json!({"name": "Sec IdP", "type": "KeyCloak",
                       "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{km}");
        let (status, api) = admin
            .post(
                "/api/am/publisher/v4/apis",
                json!({"name": "Sec", "context": "/sec", "version": "1.0.0",
                    "policies": ["Gold"], "enableBackendJwt": true,
                    "endpointConfig": {"endpoint_type": "http",
                        "production_endpoints": {"url": format!("{}/backend/", upstream.url())}},
                    "operations": [
                        {"target": "/pub/*", "verb": "GET", "authType": "None"},
                        {"target": "/pub/*", "verb": "POST", "authType": "None"},
                        {"target": "/admin/*", "verb": "GET"},
                        {"target": "/admin/*", "verb": "POST"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let api_id = api["id"].as_str().unwrap().to_owned();
        admin.publish_and_deploy(&api_id, &["Default"]).await;
        let app_id = admin.application("sec-app").await;
        let (status, sub) = admin
            .post(
                &format!("{DEV}/subscriptions"),
                json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sub}");
        let (status, mapped) = admin
            .post(
                &format!("{DEV}/applications/{app_id}/map-keys"),
                json!({"consumerKey": CLIENT, "keyType": "PRODUCTION", "keyManager": "Sec IdP"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{mapped}");
        let fixture = Self {
            up,
            upstream,
            idp,
            es,
            rsa,
        };
        let good = fixture.token(&fixture.claims());
        assert!(
            fixture
                .up
                .eventually_gw_status("/sec/1.0.0/admin/x", &good, 200)
                .await,
            "the baseline token (J1) is accepted"
        );
        fixture
    }

    /// The baseline claims (J1); every attack mutates one thing.
    fn claims(&self) -> Value {
        let now = gantry_keys::token::now_secs();
        json!({"iss": self.idp.issuer(), "sub": "user-1", "azp": CLIENT, "exp": now + 300,
               "iat": now, "jti": format!("jti-{now}-{}", rand_suffix()), "scope": "default"})
    }

    fn es_header(&self) -> Value {
        json!({"alg": "ES256", "typ": "JWT", "kid": self.es.kid()})
    }

    /// Signs `claims` with the IdP's ES256 key under its usual header.
    fn token(&self, claims: &Value) -> String {
        self.token_with_header(&self.es_header(), claims)
    }

    /// Signs `header`.`claims` with the IdP's ES256 key, whatever the header says.
    fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let key = jsonwebtoken::EncodingKey::from_ec_der(self.es.pkcs8());
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::ES256)
                .unwrap();
        format!("{message}.{signature}")
    }

    /// `GET path` with `Authorization: Bearer token`: the status, and whether the
    /// upstream was reached.
    async fn call(&self, path: &str, token: &str) -> (u16, bool) {
        let before = self.upstream.hits();
        let status = self.up.gw_status(path, token).await;
        (status, self.upstream.hits() > before)
    }

    /// Sends raw bytes to the gateway; the whole reply, and how many requests the
    /// upstream received meanwhile.
    async fn raw(&self, request: &str) -> (String, usize) {
        let before = self.upstream.hits();
        let reply = raw::exchange(self.up.gw_port, request).await;
        // Give a request that was (wrongly) forwarded time to arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        (reply, self.upstream.hits() - before)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish()
}

fn status_of(reply: &str) -> u16 {
    reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every status line in a reply (pipelined responses).
fn statuses(reply: &str) -> Vec<u16> {
    reply
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| reply[i + 9..].get(..3)?.parse().ok())
        .collect()
}

/// The echo upstream's JSON description in a reply.
fn echoed(reply: &str) -> Value {
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_and_malformed_framing_are_refused_and_never_reach_the_upstream_twice() {
    let f = Fixture::start().await;
    let smuggled = "GET /sec/1.0.0/admin/x HTTP/1.1\r\nHost: localhost\r\n\r\n";

    // H1 CL.TE and H2 TE.CL: either refused, or framed by Transfer-Encoding with the
    // leftover bytes parsed as a second request of the client (then 401: no token). The
    // upstream never receives more than the one open request.
    for request in [
        format!(
            "POST /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
            smuggled.len()
        ),
    ] {
        let (reply, forwarded) = f.raw(&request).await;
        let seen = statuses(&reply);
        assert!(forwarded <= 1, "{request:?}: upstream saw {forwarded}");
        assert!(
            seen.iter().all(|s| *s != 200) || seen.iter().filter(|s| **s == 200).count() == 1,
            "{request:?}: {reply}"
        );
        assert!(
            !seen.iter().skip(1).any(|s| *s == 200),
            "a smuggled request was served: {reply}"
        );
        if seen.first() == Some(&200) {
            // Forwarded framed one way only: the upstream never gets both headers.
            let echo = echoed(&reply);
            assert!(
                echo["headers"].get("transfer-encoding").is_none()
                    || echo["headers"].get("content-length").is_none(),
                "{echo}"
            );
        }
    }

    // H3 obfuscated Transfer-Encoding, H4 conflicting Content-Length, H5 invalid
    // Content-Length, H7 obs-fold, H8 space before the colon, H9 bare CR and NUL: 400,
    // nothing forwarded.
    let head = "POST /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\n";
    for (name, headers, body) in [
        (
            "H3 xchunked",
            "Transfer-Encoding: xchunked\r\n",
            "0\r\n\r\n",
        ),
        (
            "H3 chunked not last",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
            "0\r\n\r\n",
        ),
        (
            "H3 space before colon",
            "Transfer-Encoding : chunked\r\n",
            "0\r\n\r\n",
        ),
        (
            "H4 two lengths",
            "Content-Length: 0\r\nContent-Length: 5\r\n",
            "hello",
        ),
        ("H5 plus", "Content-Length: +5\r\n", "hello"),
        ("H5 negative", "Content-Length: -1\r\n", "hello"),
        ("H5 hex", "Content-Length: 0x5\r\n", "hello"),
        ("H5 list", "Content-Length: 5,6\r\n", "hello"),
        (
            "H5 overflow",
            "Content-Length: 99999999999999999999\r\n",
            "hello",
        ),
        ("H7 obs-fold", "X-A: a\r\n b\r\nContent-Length: 0\r\n", ""),
        ("H8 space before colon", "Content-Length : 5\r\n", "hello"),
        ("H9 bare CR", "X-A: a\rb\r\nContent-Length: 0\r\n", ""),
        ("H9 NUL", "X-A: a\0b\r\nContent-Length: 0\r\n", ""),
    ] {
        let (reply, forwarded) = f.raw(&format!("{head}{headers}\r\n{body}")).await;
        assert_eq!(status_of(&reply), 400, "{name}: {reply}");
        assert_eq!(forwarded, 0, "{name}: forwarded");
    }

    // H4: the same length twice is one length.
    let (reply, forwarded) = f
        .raw(&format!(
            "{head}Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        ))
        .await;
    if status_of(&reply) == 200 {
        assert_eq!(forwarded, 1);
        let echo = echoed(&reply);
        assert_eq!(echo["bodyLength"], 5, "{echo}");
        assert_eq!(echo["headers"]["content-length"], "5", "{echo}");
    } else {
        assert_eq!(status_of(&reply), 400, "{reply}");
    }

    // H11 pipelining: the second request carries no token and is judged on its own.
    let (reply, forwarded) = f
        .raw(
            "GET /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\n\r\nGET /sec/1.0.0/admin/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(statuses(&reply), [200, 401], "{reply}");
    assert_eq!(forwarded, 1);

    // H23: TRACE and CONNECT are never proxied.
    for request in [
        "TRACE /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nConnection: close\r\n\r\n",
    ] {
        let (reply, forwarded) = f.raw(request).await;
        assert_eq!(status_of(&reply), 405, "{request}: {reply}");
        assert_eq!(forwarded, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_spoofed_forwarding_headers_host_and_path_tricks_are_handled() {
    let f = Fixture::start().await;
    let port = f.up.gw_port;
    let token = f.token(&f.claims());

    // H18: everything hop-by-hop is dropped, including headers the client names in
    // Connection; naming the token's header there does not skip authentication, and the
    // gateway's own headers cannot be stripped that way.
    let (reply, forwarded) = f
        .raw(&format!(
            "GET /sec/1.0.0/admin/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Connection: close, X-Secret, Authorization, X-Forwarded-For, X-JWT-Assertion, Forwarded\r\n\
             X-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
             Trailer: X-T\r\nUpgrade: foo/2\r\nProxy-Authorization: Basic eDp5\r\n\r\n"
        ))
        .await;
    assert_eq!(status_of(&reply), 200, "{reply}");
    assert_eq!(forwarded, 1);
    let echo = echoed(&reply);
    for dropped in [
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "authorization",
    ] {
        assert!(echo["headers"].get(dropped).is_none(), "{dropped}: {echo}");
    }
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1", "{echo}");
    assert!(echo["headers"]["x-jwt-assertion"].is_string(), "{echo}");
    assert!(echo["headers"]["forwarded"].is_string(), "{echo}");

    // The same without a token: 401, not forwarded.
    let (reply, forwarded) = f
        .raw("GET /sec/1.0.0/admin/x HTTP/1.1\r\nHost: localhost\r\nConnection: close, Authorization\r\n\r\n")
        .await;
    assert_eq!((status_of(&reply), forwarded), (401, 0), "{reply}");

    // H19: spoofed forwarding and identity headers reach the upstream only as the
    // gateway rewrites them: XFF and Forwarded get this hop appended, Proto and Host are
    // replaced, a forged X-JWT-Assertion is replaced by the gateway's (or removed).
    let forged_assertion = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(r#"{"sub":"admin"}"#)
    );
    let spoof = |path: &str, auth: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{auth}X-Forwarded-For: 1.2.3.4\r\n\
             X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n\
             Forwarded: for=1.2.3.4;proto=https\r\nX-JWT-Assertion: {forged_assertion}\r\n\
             Connection: close\r\n\r\n"
        )
    };
    let (reply, _) = f
        .raw(&spoof(
            "/sec/1.0.0/admin/x",
            &format!("Authorization: Bearer {token}\r\n"),
        ))
        .await;
    assert_eq!(status_of(&reply), 200, "{reply}");
    let headers = &echoed(&reply)["headers"];
    assert_eq!(headers["x-forwarded-for"], "1.2.3.4, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], format!("localhost:{port}"));
    assert_eq!(
        headers["forwarded"],
        format!("for=1.2.3.4;proto=https, for=127.0.0.1;proto=http;host=\"localhost:{port}\"")
    );
    let assertion = headers["x-jwt-assertion"].as_str().unwrap();
    assert_ne!(assertion, forged_assertion);
    assert!(
        assertion
            .split('.')
            .nth(2)
            .is_some_and(|sig| !sig.is_empty()),
        "the gateway's own, signed: {assertion}"
    );
    let (reply, _) = f.raw(&spoof("/sec/1.0.0/pub/x", "")).await;
    assert_eq!(status_of(&reply), 200, "{reply}");
    assert!(echoed(&reply)["headers"].get("x-jwt-assertion").is_none());

    // H20: Host must be one host[:port]; the request target's authority wins over Host.
    for (name, request) in [
        ("missing", "GET /sec/1.0.0/pub/x HTTP/1.1\r\nConnection: close\r\n\r\n".to_owned()),
        (
            "two",
            "GET /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\nConnection: close\r\n\r\n".to_owned(),
        ),
        (
            "userinfo",
            "GET /sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost:80@evil\r\nConnection: close\r\n\r\n".to_owned(),
        ),
    ] {
        let (reply, forwarded) = f.raw(&request).await;
        assert_eq!((status_of(&reply), forwarded), (400, 0), "{name}: {reply}");
    }
    let (reply, forwarded) = f
        .raw(&format!(
            "GET http://localhost:{port}/sec/1.0.0/pub/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!((status_of(&reply), forwarded), (200, 1), "{reply}");
    let (reply, forwarded) = f
        .raw("GET http://evil.example/sec/1.0.0/pub/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!((status_of(&reply), forwarded), (404, 0), "{reply}");
    let (reply, forwarded) = f
        .raw("GET /sec/1.0.0/pub/x HTTP/1.1\r\nHost: unknown.example\r\nX-Forwarded-Host: localhost\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(
        (status_of(&reply), forwarded),
        (404, 0),
        "X-Forwarded-Host never routes: {reply}"
    );

    // H21: path tricks aimed at the protected resource never reach it unauthenticated.
    for trick in [
        "/sec/1.0.0/pub/../admin/x",
        "/sec/1.0.0/pub/%2e%2e/admin/x",
        "/sec/1.0.0/pub/%2E%2E%2Fadmin/x",
        "/sec/1.0.0/pub/..%2fadmin/x",
        "/sec/1.0.0/pub/..%252fadmin/x",
        "/sec/1.0.0/pub/%252e%252e/admin/x",
        "/sec/1.0.0//admin/x",
        "/sec/1.0.0/admin//x",
        "/sec/1.0.0/ADMIN/x",
        "/sec/1.0.0/admin/x;jsessionid=1",
        "/sec/1.0.0/pub;/../admin/x",
        "/sec/1.0.0/admin%00/x",
        "/sec/1.0.0/pub/%00/../admin/x",
        "/sec/1.0.0/%61dmin/x",
        "/sec/1.0.0/admin%2fx",
        "/sec/1.0.0/admin/./x",
    ] {
        let (reply, forwarded) = f.raw(&raw::get(trick)).await;
        let status = status_of(&reply);
        assert!(
            matches!(status, 400 | 401 | 404),
            "{trick}: {status} {reply}"
        );
        assert_eq!(forwarded, 0, "{trick} reached the upstream");
    }

    // H22: routing looks at the path only, never the query or a fragment.
    let (reply, forwarded) = f.raw(&raw::get("/sec/1.0.0/admin/x?x=/pub")).await;
    assert_eq!((status_of(&reply), forwarded), (401, 0), "{reply}");
    let (reply, forwarded) = f.raw(&raw::get("/sec/1.0.0/pub/x?/../admin/x")).await;
    assert_eq!((status_of(&reply), forwarded), (200, 1), "{reply}");
    assert_eq!(echoed(&reply)["path"], "/backend/pub/x");
    let (reply, forwarded) = f.raw(&raw::get("/sec/1.0.0/admin/x#/pub/x")).await;
    assert!(status_of(&reply) != 200 && forwarded == 0, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_mislabelled_and_malformed_tokens_are_refused() {
    let f = Fixture::start().await;
    let path = "/sec/1.0.0/admin/x";
    let attacker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let attacker_url = format!("http://{}", attacker.local_addr().unwrap());
    let attacker_key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let claims = f.claims();
    let good = f.token(&claims);
    let parts: Vec<&str> = good.split('.').collect();
    let payload = parts[1];

    let mut refused: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, token: String| refused.push((name.to_owned(), token));

    // J2 alg none in its spellings, empty and kept signature; missing alg.
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let header = b64(json!({"alg": alg, "typ": "JWT", "kid": f.es.kid()}).to_string());
        add(&format!("alg {alg:?}"), format!("{header}.{payload}."));
        add(
            &format!("alg {alg:?} + signature"),
            format!("{header}.{payload}.{}", parts[2]),
        );
    }
    let no_alg = b64(json!({"typ": "JWT", "kid": f.es.kid()}).to_string());
    add("no alg", format!("{no_alg}.{payload}.{}", parts[2]));
    // J3 signature stripped; J4 payload changed under the old signature.
    add("stripped", format!("{}.{payload}.", parts[0]));
    add("two segments", format!("{}.{payload}", parts[0]));
    let mut forged = claims.clone();
    forged["sub"] = json!("admin");
    add(
        "payload swapped",
        format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]),
    );
    // J5/J6 HS256 keyed with the RSA key's public material, under the RSA key's kid;
    // J9 HS256 with an empty secret.
    let rsa_jwk = f.rsa.public_jwk();
    let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": f.rsa.kid()});
    let n_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(rsa_jwk.n.as_deref().unwrap())
        .unwrap();
    for (name, secret) in [
        ("HS256 with n", n_bytes.clone()),
        ("HS256 with the JWK", serde_json::to_vec(&rsa_jwk).unwrap()),
        ("HS256 with n text", rsa_jwk.n.clone().unwrap().into_bytes()),
        ("HS256 empty", Vec::new()),
    ] {
        let message = format!("{}.{payload}", b64(hs_header.to_string()));
        let sig = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        add(name, format!("{message}.{sig}"));
    }
    // J7 another algorithm than the key's for a pinned kid.
    for alg in ["RS512", "PS256", "ES384", "EdDSA"] {
        let header = b64(json!({"alg": alg, "typ": "JWT", "kid": f.es.kid()}).to_string());
        add(
            &format!("alg {alg} on the ES256 key"),
            format!("{header}.{payload}.{}", parts[2]),
        );
    }
    // J8 psychic signature: r = s = 0.
    add(
        "zero ECDSA signature",
        format!("{}.{payload}.{}", parts[0], b64([0u8; 64])),
    );
    // J11/J12/J13 kid injection and unknown kids (signed by the real key).
    for kid in [
        json!("../../../../../../dev/null"),
        json!("' UNION SELECT 'x'--"),
        json!("$(id)"),
        json!(format!("{attacker_url}/k")),
        json!("\u{0000}"),
        json!(42),
        json!({"a": 1}),
        json!(["x"]),
        json!("random-unknown-kid"),
    ] {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        add(&format!("kid {kid}"), f.token_with_header(&header, &claims));
    }
    // J14/J15/J16 jku, x5u and an embedded jwk naming the attacker's key, signed by it.
    let attacker_jwk = serde_json::to_value(attacker_key.public_jwk()).unwrap();
    for (name, extra) in [
        ("jku", json!({"jku": format!("{attacker_url}/jwks.json")})),
        ("x5u", json!({"x5u": format!("{attacker_url}/cert.pem")})),
        ("jwk", json!({"jwk": attacker_jwk})),
        ("x5c", json!({"x5c": ["MIIB"]})),
    ] {
        let mut header = json!({"alg": "ES256", "typ": "JWT", "kid": attacker_key.kid()});
        header
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_ec_der(attacker_key.pkcs8()),
            jsonwebtoken::Algorithm::ES256,
        )
        .unwrap();
        add(&format!("{name} header"), format!("{message}.{sig}"));
        // And the same header on a token the real key signed: the URL is still not read.
        let mut real = f.es_header();
        real.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let with_url = f.token_with_header(&real, &claims);
        if name == "jku" || name == "x5u" {
            // Valid otherwise: accepted or refused, but the URL is never fetched (below).
            let (status, _) = f.call(path, &with_url).await;
            assert!(status == 200 || status == 401, "{name}: {status}");
        }
    }
    // RFC 7515 crit: an extension the gateway does not understand.
    let mut crit = f.es_header();
    crit["crit"] = json!(["http://example.com/must-understand"]);
    crit["http://example.com/must-understand"] = json!("yes");
    add("crit", f.token_with_header(&crit, &claims));
    // J17 no exp; J18 expired beyond the 30 s leeway; J19 nbf beyond it; J20 odd dates.
    let now = gantry_keys::token::now_secs();
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        match value {
            Value::Null => {
                c.as_object_mut().unwrap().remove(field);
            }
            v => c[field] = v,
        }
        f.token(&c)
    };
    add("no exp", with("exp", Value::Null));
    add("expired", with("exp", json!(now - 45)));
    add("nbf ahead", with("nbf", json!(now + 45)));
    add(
        "exp as string",
        with("exp", json!(format!("{}", now + 300))),
    );
    add("exp negative", with("exp", json!(-1)));
    add("exp huge", with("exp", json!(1e300)));
    // J22 the issuer, not quite.
    for iss in [
        format!("{}/", f.idp.issuer()),
        f.idp.issuer().to_uppercase(),
        "http://other.example/realms/corp".to_owned(),
    ] {
        add(&format!("iss {iss}"), with("iss", json!(iss)));
    }
    add("no iss", with("iss", Value::Null));
    // J26 malformed encodings.
    add("padded", format!("{good}=="));
    add("four segments", format!("{good}.x"));
    add("JWE shape", format!("{}.a.b.c.d", parts[0]));
    add(
        "bad base64",
        format!("{}.{payload}!.{}", parts[0], parts[2]),
    );
    add(
        "invalid utf-8",
        format!("{}.{}.{}", parts[0], b64([0xff, 0xfe, b'{']), parts[2]),
    );

    for (name, token) in &refused {
        let (status, forwarded) = f.call(path, token).await;
        assert_eq!(status, 401, "{name}: {token}");
        assert!(!forwarded, "{name} reached the upstream");
    }

    // J18/J19: inside the leeway is still accepted (the boundary's other side).
    for (name, token) in [
        ("exp within leeway", with("exp", json!(now - 15))),
        ("nbf within leeway", with("nbf", json!(now + 15))),
    ] {
        assert_eq!(f.call(path, &token).await.0, 200, "{name}");
    }

    // J27: `bearer` in lower case is accepted; two Authorization headers are not.
    let lower =
        f.up.gw_client()
            .get(f.up.gw_url(path))
            .header("authorization", format!("bearer {good}"))
            .send()
            .await
            .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);
    let before = f.upstream.hits();
    let twice =
        f.up.gw_client()
            .get(f.up.gw_url(path))
            .header("authorization", format!("Bearer {good}"))
            .header("authorization", "Bearer other")
            .send()
            .await
            .unwrap();
    assert_eq!(twice.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(f.upstream.hits(), before);

    // J25 oversized tokens: refused quickly with a 4xx, never a 5xx.
    for size in [8 * 1024, 64 * 1024, 1024 * 1024] {
        let huge = format!("{}.{}.{}", parts[0], "A".repeat(size), parts[2]);
        let started = std::time::Instant::now();
        let response =
            f.up.gw_client()
                .get(f.up.gw_url(path))
                .bearer_auth(&huge)
                .send()
                .await;
        if let Ok(response) = response {
            let status = response.status().as_u16();
            assert!((400..500).contains(&status), "{size}: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{size}");
    }

    // J14/J15: nothing ever connected to the attacker's URLs.
    let connected = tokio::time::timeout(Duration::from_millis(200), attacker.accept()).await;
    assert!(connected.is_err(), "the gateway fetched an attacker URL");
    // Still healthy after all that.
    assert_eq!(f.call(path, &f.token(&f.claims())).await.0, 200);
}
