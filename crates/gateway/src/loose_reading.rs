//! How a lenient upstream might read a canonical path (letter case folded, `;` parameters and
//! trailing `.`/space dropped, escapes decoded twice). Compiled only for APIs whose operations
//! differ in protection; after routing, a request whose loose reading names a more protected
//! operation than the one it matched is refused (`PathRefusal::AmbiguousResource`).

use std::collections::HashMap;

use gantry_model::{AuthType, HttpVerb, Operation};
use http::Method;

use crate::canonical_path::PathRefusal;

/// The loosened templates of one API, with the protection of every operation on each.
pub struct LooseRoutes {
    router: matchit::Router<usize>,
    /// By router value: (method, protection) of each operation whose template loosens to it.
    entries: Vec<Vec<(Method, Protection)>>,
}

/// What a caller must show to reach an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Protection {
    auth_type: AuthType,
    scopes: Box<[String]>,
}

impl Protection {
    /// Whether every caller admitted to an operation of `auth_type` and `scopes` would also
    /// be admitted here.
    fn implied_by(&self, auth_type: AuthType, scopes: &[String]) -> bool {
        let caller_kind_ok = match (auth_type, self.auth_type) {
            (_, AuthType::None) => true,
            (AuthType::None, _) => false,
            (_, AuthType::Any) => true,
            (c, s) => c == s,
        };
        caller_kind_ok
            && (self.auth_type == AuthType::None || self.scopes.iter().all(|s| scopes.contains(s)))
    }
}

impl LooseRoutes {
    /// The loose table of an API with these operations; `None` when every operation has
    /// the same protection (a loose reading cannot reach anything better protected).
    pub fn compile(operations: &[Operation]) -> Option<Box<Self>> {
        let protection = |op: &Operation| Protection {
            auth_type: op.auth_type,
            scopes: sorted(&op.scopes),
        };
        let first = protection(operations.first()?);
        if operations.iter().all(|op| protection(op) == first) {
            return None;
        }
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut entries: Vec<Vec<(Method, Protection)>> = Vec::new();
        for op in operations {
            for pattern in loose_patterns(op.target.as_str()) {
                let i = *index.entry(pattern).or_insert_with(|| {
                    entries.push(Vec::new());
                    entries.len() - 1
                });
                entries[i].push((verb_method(op.verb), protection(op)));
            }
        }
        let mut router = matchit::Router::new();
        for (pattern, i) in index {
            // Loosened templates are shaped like the router's own (static segments,
            // positional parameters, a final catch-all); one that still conflicts is left
            // out rather than failing a configuration the strict router accepts.
            let _ = router.insert(pattern, i);
        }
        Some(Box::new(Self { router, entries }))
    }

    /// `Err(AmbiguousResource)` when `remainder` (the canonical path after the API's base
    /// path), read loosely, lands on an operation for `method` that the matched operation
    /// (`auth_type`, `scopes`) does not imply.
    pub fn check(
        &self,
        remainder: &str,
        method: &Method,
        auth_type: AuthType,
        scopes: &[String],
    ) -> Result<(), PathRefusal> {
        let reading = loose_reading(remainder);
        let Ok(found) = self.router.at(&reading) else {
            return Ok(());
        };
        let stronger = self.entries[*found.value]
            .iter()
            .any(|(m, p)| m == method && !p.implied_by(auth_type, scopes));
        if stronger {
            Err(PathRefusal::AmbiguousResource)
        } else {
            Ok(())
        }
    }
}

fn sorted(scopes: &[String]) -> Box<[String]> {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    scopes.into_boxed_slice()
}

fn verb_method(verb: HttpVerb) -> Method {
    match verb {
        HttpVerb::Get => Method::GET,
        HttpVerb::Post => Method::POST,
        HttpVerb::Put => Method::PUT,
        HttpVerb::Delete => Method::DELETE,
        HttpVerb::Patch => Method::PATCH,
        HttpVerb::Head => Method::HEAD,
        HttpVerb::Options => Method::OPTIONS,
    }
}

/// One segment read loosely: cut at `;`, lower case, trailing dots and spaces dropped.
fn loosen_segment(segment: &str, out: &mut String) {
    let name = segment.split(';').next().unwrap_or_default();
    let name = name.trim_end_matches(['.', ' ']);
    if name.is_empty() {
        return;
    }
    out.push('/');
    out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
}

/// The matchit patterns of a resource template read loosely (parameters positional, a
/// trailing `/*` also matching the bare prefix, as `routes::patterns_for` does).
fn loose_patterns(target: &str) -> Vec<String> {
    let mut out = String::with_capacity(target.len());
    let mut params = 0;
    let mut wildcard = false;
    for segment in target.split('/').skip(1) {
        if segment == "*" {
            wildcard = true;
            break;
        }
        if segment.starts_with('{') {
            out.push_str(&format!("/{{p{params}}}"));
            params += 1;
        } else {
            loosen_segment(segment, &mut out);
        }
    }
    if wildcard {
        let bare = if out.is_empty() {
            "/".to_owned()
        } else {
            out.clone()
        };
        vec![format!("{out}/{{*rest}}"), bare]
    } else if out.is_empty() {
        vec!["/".to_owned()]
    } else {
        vec![out]
    }
}

/// `path` as the loosest upstream reads it: escapes decoded (twice), cut at a decoded `?`,
/// `#` or NUL, then every segment loosened; empty segments merged.
pub fn loose_reading(path: &str) -> String {
    let once = percent_decode(path.as_bytes());
    let twice = percent_decode(&once);
    let cut = twice
        .iter()
        .position(|b| matches!(b, b'?' | b'#' | 0))
        .unwrap_or(twice.len());
    let decoded = String::from_utf8_lossy(&twice[..cut]);
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split(['/', '\\']) {
        loosen_segment(segment, &mut out);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            // Two hex digits: at most 0xff.
            out.push((hi << 4 | lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::ResourceTarget;

    fn op(target: &str, verb: HttpVerb, auth_type: AuthType, scopes: &[&str]) -> Operation {
        Operation {
            id: None,
            target: ResourceTarget::parse(target).unwrap(),
            verb,
            auth_type,
            throttling_policy: "Unlimited".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            operation_policies: Default::default(),
        }
    }

    fn chosen(auth_type: AuthType, scopes: &[&str]) -> (AuthType, Vec<String>) {
        (auth_type, scopes.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn readings_fold_case_params_trailing_dots_and_double_escapes() {
        for (path, reading) in [
            ("/ADMIN", "/admin"),
            ("/admin/", "/admin"),
            ("/admin.", "/admin"),
            ("/admin;x=1", "/admin"),
            ("/admin%3Bx", "/admin"),
            ("/%2561dmin", "/admin"),
            ("/admin%3Fx", "/admin"),
            ("/Admin. /X;a/", "/admin/x"),
            ("/", "/"),
        ] {
            assert_eq!(loose_reading(path), reading, "{path}");
        }
    }

    #[test]
    fn uniform_protection_compiles_to_nothing() {
        let ops = [
            op("/a", HttpVerb::Get, AuthType::Any, &["x"]),
            op("/b/*", HttpVerb::Post, AuthType::Any, &["x"]),
        ];
        assert!(LooseRoutes::compile(&ops).is_none());
    }

    #[test]
    fn a_loose_reading_of_a_stronger_operation_is_refused() {
        let ops = [
            op("/*", HttpVerb::Get, AuthType::None, &[]),
            op("/admin", HttpVerb::Get, AuthType::Any, &[]),
            op("/items/{id}", HttpVerb::Get, AuthType::Any, &["read"]),
            op(
                "/items/{id}/Secret",
                HttpVerb::Get,
                AuthType::Any,
                &["read", "admin"],
            ),
        ];
        let loose = LooseRoutes::compile(&ops).unwrap();
        let open = chosen(AuthType::None, &[]);
        let read = chosen(AuthType::Any, &["read"]);
        for path in ["/ADMIN", "/admin.", "/admin;x", "/Admin/", "/%2561dmin"] {
            assert_eq!(
                loose.check(path, &Method::GET, open.0, &open.1),
                Err(PathRefusal::AmbiguousResource),
                "{path}"
            );
        }
        assert!(loose.check("/other", &Method::GET, open.0, &open.1).is_ok());
        assert!(
            loose
                .check("/ADMIN", &Method::POST, open.0, &open.1)
                .is_ok()
        );
        assert!(
            loose
                .check("/items/1", &Method::GET, read.0, &read.1)
                .is_ok()
        );
        assert_eq!(
            loose.check("/items/1/secret", &Method::GET, read.0, &read.1),
            Err(PathRefusal::AmbiguousResource)
        );
        let admin = chosen(AuthType::Any, &["admin", "read"]);
        assert!(
            loose
                .check("/items/1/secret", &Method::GET, admin.0, &admin.1)
                .is_ok()
        );
    }
}
