//! Generated paths through the gateway's path handling (canonical form, routing, loose
//! readings), built from the words of an API's templates with escapes, case, `;` parameters,
//! dots, spaces, NUL and separators mixed in. Two invariants: routing the path the upstream
//! receives yields the operation chosen; and no reading a lenient upstream might make of it
//! lands on an operation better protected than the one that admitted it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use gantry_gateway::canonical_path::canonicalize;
use gantry_gateway::compiled::{CompiledConfig, RouteMatch};
use gantry_model::snapshot::DeployedApi;
use gantry_model::{
    ApiContext, ApiName, ApiVersion, AuthType, Endpoint, EndpointConfig, GatewaySnapshot, HttpVerb,
    LifecycleState, Operation, ResourceTarget,
};
use http::Method;
use proptest::prelude::*;

/// The API's GET operations, in order: (template, auth type, scopes).
const OPERATIONS: &[(&str, AuthType, &[&str])] = &[
    ("/*", AuthType::None, &[]),
    ("/admin", AuthType::Any, &[]),
    ("/admin/*", AuthType::Any, &["admin"]),
    ("/items/{id}", AuthType::None, &[]),
    ("/items/{id}/secret", AuthType::Application, &["secret"]),
    ("/Reports/{year}", AuthType::Any, &[]),
    ("/files/v1.0/{name}", AuthType::None, &[]),
    ("/files/v1.0/{name}/raw", AuthType::Any, &["files"]),
    ("/a;b", AuthType::Any, &[]),
];

fn config() -> CompiledConfig {
    let api = DeployedApi {
        api_id: "props".into(),
        revision_id: "r1".into(),
        name: ApiName::parse("Props").unwrap(),
        context: ApiContext::parse("/ctx").unwrap(),
        version: ApiVersion::parse("1.0.0").unwrap(),
        vhost: "localhost".into(),
        is_default_version: true,
        cors_configuration: Default::default(),
        lifecycle: LifecycleState::Published,
        api_type: "HTTP".into(),
        authorization_header: "Authorization".into(),
        security_scheme: vec!["oauth2".into()],
        gateway: Default::default(),
        endpoint_config: EndpointConfig {
            endpoint_type: "http".into(),
            production_endpoints: Some(
                Endpoint {
                    url: "http://127.0.0.1:1/base/".into(),
                    config: None,
                }
                .into(),
            ),
            sandbox_endpoints: None,
            ..Default::default()
        },
        operations: OPERATIONS
            .iter()
            .map(|(target, auth_type, scopes)| Operation {
                id: None,
                target: ResourceTarget::parse(target).unwrap(),
                verb: HttpVerb::Get,
                auth_type: *auth_type,
                throttling_policy: "Unlimited".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                operation_policies: Default::default(),
            })
            .collect(),
        client_certificates: vec![],
    };
    CompiledConfig::compile(&GatewaySnapshot {
        environment: "Default".into(),
        version: 1,
        apis: vec![api],
        ..Default::default()
    })
    .unwrap()
}

/// What the gateway does with `GET raw`.
#[derive(Debug)]
enum Decision {
    /// 400 (canonical form or loose reading), 404 or 405: nothing forwarded.
    Refused,
    /// Forwarded as `upstream_path`, admitted as `operation` (its rate-limit key,
    /// `GET <template>`).
    Forwarded {
        canonical: String,
        base: String,
        operation: String,
        upstream_path: String,
    },
}

fn decide(config: &CompiledConfig, raw: &str) -> Decision {
    let Ok(canonical) = canonicalize(raw) else {
        return Decision::Refused;
    };
    let RouteMatch::Found { entry, operation } =
        config.route("localhost", &canonical, &Method::GET)
    else {
        return Decision::Refused;
    };
    if entry
        .check_loose_readings(&canonical, &Method::GET, operation)
        .is_err()
    {
        return Decision::Refused;
    }
    // As `Proxy` builds it: the upstream's base path, then the rest after the API's.
    let remainder = &canonical[entry.base_path.len()..];
    let target = format!("/base{remainder}");
    let uri = http::Uri::builder()
        .scheme("http")
        .authority("127.0.0.1:1")
        .path_and_query(target.as_str())
        .build()
        .unwrap();
    Decision::Forwarded {
        canonical: canonical.to_string(),
        base: entry.base_path.to_string(),
        operation: operation.key.to_string(),
        upstream_path: uri.path().to_owned(),
    }
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The protection of the operation with this key (`GET <template>`).
fn protection(key: &str) -> (AuthType, Vec<&'static str>) {
    let (_, auth, scopes) = OPERATIONS
        .iter()
        .find(|(t, _, _)| key == format!("GET {t}"))
        .unwrap();
    (*auth, scopes.to_vec())
}

/// Whether a caller admitted as `chosen` would be admitted to `other` too.
fn admits(chosen: &(AuthType, Vec<&str>), other: &(AuthType, Vec<&str>)) -> bool {
    match (chosen.0, other.0) {
        (_, AuthType::None) => true,
        (AuthType::None, _) => false,
        (c, o) => (o == AuthType::Any || c == o) && other.1.iter().all(|s| chosen.1.contains(s)),
    }
}

/// The operations a lenient upstream serving the API's templates could run for the path it
/// received (`upstream_path`, after `/base`): it decodes once as it should, and then maybe
/// again, folds case or not, cuts at `?`, `#` or NUL or not, drops `;` parameters or not,
/// drops trailing dots and spaces or not, reads `\` as `/` or not, resolves `.` and `..`
/// (`..;` too when it drops parameters) or not; it merges empty segments.
/// Only operations whose match is unambiguous are named (the most specific template wins in
/// any router), as their keys.
fn lenient_operations(upstream_path: &str) -> Vec<&'static str> {
    let once = percent_decode(upstream_path.trim_start_matches("/base").as_bytes());
    let mut found = Vec::new();
    for bits in 0u32..128 {
        let on = |bit: u32| bits & (1 << bit) != 0;
        let mut bytes = if on(0) {
            percent_decode(&once)
        } else {
            once.clone()
        };
        if on(1) {
            bytes.make_ascii_lowercase();
        }
        if on(2)
            && let Some(at) = bytes.iter().position(|b| matches!(b, b'?' | b'#' | 0))
        {
            bytes.truncate(at);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = if on(5) { text.replace('\\', "/") } else { text };
        let mut segments: Vec<&str> = Vec::new();
        for segment in text.split('/') {
            let segment = match segment.split_once(';') {
                Some((name, _)) if on(3) => name,
                _ => segment,
            };
            match segment {
                "." if on(6) => {}
                ".." if on(6) => {
                    segments.pop();
                }
                _ if on(4) => segments.push(segment.trim_end_matches(['.', ' '])),
                _ => segments.push(segment),
            }
        }
        segments.retain(|s| !s.is_empty());
        let key = match segments.as_slice() {
            ["admin"] => "GET /admin",
            ["admin", _, ..] => "GET /admin/*",
            ["items", _, "secret"] => "GET /items/{id}/secret",
            ["items", _] => "GET /items/{id}",
            [r, _] if r.eq_ignore_ascii_case("reports") && on(1) => "GET /Reports/{year}",
            ["Reports", _] => "GET /Reports/{year}",
            ["files", "v1.0", _, "raw"] => "GET /files/v1.0/{name}/raw",
            ["files", "v1.0", _] => "GET /files/v1.0/{name}",
            ["a;b"] => "GET /a;b",
            _ => continue,
        };
        if !found.contains(&key) {
            found.push(key);
        }
    }
    found
}

const WORDS: &[&str] = &[
    "admin",
    "ADMIN",
    "items",
    "secret",
    "Reports",
    "reports",
    "files",
    "v1.0",
    "raw",
    "a;b",
    "a",
    "x",
    "42",
    "public",
    "administrator",
    "secrets",
];

const SUFFIXES: &[&str] = &[
    ";x=1", ";", "%3B", "%3b", "%253B", ".", "..", "%2e", "%2E", "%252e", " ", "%20", "%2520",
    "%00", "%2500", "%0a", "\\", "%5C", "%5c", "%255c", "/", "%2F", "%2f", "%252F", "?", "#",
    "%3F", "%253F", "%23", "~", "%7E", "\"", "{", "|", "é", "%C3%A9", "%c3%a9", "%", "%4",
];

const WHOLE_SEGMENTS: &[&str] = &[
    ".",
    "..",
    "...",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "..;",
    "%2e%2e;",
    "..;x=1",
    "..%3B",
    "%252e%252e",
    "",
    " ",
    "%20",
    ";x",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Upper-case the letter at this index.
    Upper(usize),
    /// Percent-encode the byte at this index, hex in upper case or not.
    Encode(usize, bool),
    /// Percent-encode it twice.
    EncodeTwice(usize),
    /// Append this.
    Append(&'static str),
}

fn apply(word: &str, mutations: &[Mutation]) -> String {
    let mut bytes = word.as_bytes().to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::Upper(i) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = bytes[i].to_ascii_uppercase();
            }
            Mutation::Encode(i, upper) if !bytes.is_empty() => {
                let i = i % bytes.len();
                let escape = if *upper {
                    format!("%{:02X}", bytes[i])
                } else {
                    format!("%{:02x}", bytes[i])
                };
                bytes.splice(i..=i, escape.into_bytes());
            }
            Mutation::EncodeTwice(i) if !bytes.is_empty() => {
                let i = i % bytes.len();
                let escape = format!("%25{:02x}", bytes[i]);
                bytes.splice(i..=i, escape.into_bytes());
            }
            Mutation::Append(suffix) => bytes.extend_from_slice(suffix.as_bytes()),
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (0usize..16).prop_map(Mutation::Upper),
        3 => (0usize..16, any::<bool>()).prop_map(|(i, u)| Mutation::Encode(i, u)),
        1 => (0usize..16).prop_map(Mutation::EncodeTwice),
        3 => prop::sample::select(SUFFIXES).prop_map(Mutation::Append),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (
            prop::sample::select(WORDS),
            prop::collection::vec(mutation(), 0..3)
        )
            .prop_map(|(word, mutations)| apply(word, &mutations)),
        1 => prop::sample::select(WHOLE_SEGMENTS).prop_map(str::to_owned),
    ]
}

fn request_path() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "/ctx/1.0.0",
                "/ctx/1.0.0",
                "/ctx/1.0.0",
                "/ctx",
                "/CTX/1.0.0",
            ][..],
        ),
        prop::collection::vec(segment(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(base, segments, trailing)| {
            let mut path = base.to_owned();
            for segment in segments {
                path.push('/');
                path.push_str(&segment);
            }
            if trailing {
                path.push('/');
            }
            path
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn the_upstream_gets_the_path_routed_and_no_lenient_reading_reaches_a_stronger_operation(
        generated in request_path()
    ) {
        // Only what `http` accepts reaches the gateway, and the path ends at `?` or `#`.
        let Ok(target) = http::uri::PathAndQuery::try_from(generated.as_str()) else {
            return Ok(());
        };
        let raw = target.path();
        let config = config();

        if let Ok(canonical) = canonicalize(raw) {
            // Canonical is a fixed point, and names the bytes the client named.
            prop_assert!(matches!(canonicalize(&canonical), Ok(Cow::Borrowed(c)) if c == canonical));
            prop_assert_eq!(
                percent_decode(canonical.as_bytes()),
                percent_decode(raw.as_bytes()),
                "{} → {}", raw, canonical
            );
        }

        let Decision::Forwarded { canonical, base, operation, upstream_path } =
            decide(&config, raw)
        else {
            return Ok(());
        };
        // The path the upstream receives, put back under the API's base path, is canonical
        // as it is and routes to the same operation.
        let again = format!("{base}{}", upstream_path.trim_start_matches("/base"));
        prop_assert_eq!(&again, &canonical);
        match decide(&config, &again) {
            Decision::Forwarded { operation: again, .. } => prop_assert_eq!(&again, &operation),
            refused => prop_assert!(false, "{} forwarded, {} then {:?}", raw, again, refused),
        }
        // No lenient reading of what the upstream received runs an operation that the
        // caller was not admitted to.
        let admitted = protection(&operation);
        for other in lenient_operations(&upstream_path) {
            prop_assert!(
                admits(&admitted, &protection(other)),
                "{} was admitted as {} but an upstream may run {} for {}",
                raw, operation, other, upstream_path
            );
        }
    }
}

#[test]
fn the_common_path_is_borrowed() {
    let path = "/ctx/1.0.0/items/42";
    assert!(matches!(canonicalize(path), Ok(Cow::Borrowed(p)) if p == path));
}
