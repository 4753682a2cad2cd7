//! How a lenient upstream might read a canonical path: escapes decoded twice, letter case
//! folded, `;` parameters, trailing dots, spaces and `/` dropped. Compiled only for APIs whose
//! operations differ in protection; a request whose reading names a better-protected operation
//! than the one it matched is refused (`PathRefusal::AmbiguousResource`).

use std::collections::HashMap;

use gantry_model::{AuthType, Operation};
use http::Method;

use super::template::method_of;
use crate::canonical_path::PathRefusal;

/// The API's templates with their static segments in lower case, and the protection of
/// every operation on each.
pub struct LooseRoutes {
    router: matchit::Router<usize>,
    /// By router value: the operations whose template folds to that pattern.
    entries: Vec<Vec<Folded>>,
}

/// An operation on a folded pattern.
struct Folded {
    method: Method,
    /// The pattern before folding: the strict router keeps the first operation per method
    /// and pattern, and so does this table.
    pattern: Box<str>,
    protection: Protection,
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
    /// The table of an API with these operations; `None` when every operation is protected
    /// alike (no reading can reach anything better protected).
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
        let mut entries: Vec<Vec<Folded>> = Vec::new();
        for op in operations {
            let method = method_of(op.verb);
            for pattern in strict_patterns(op.target.as_str()) {
                let folded = pattern.to_ascii_lowercase();
                let i = *index.entry(folded).or_insert_with(|| {
                    entries.push(Vec::new());
                    entries.len() - 1
                });
                if entries[i]
                    .iter()
                    .any(|f| f.method == method && *f.pattern == *pattern)
                {
                    continue;
                }
                entries[i].push(Folded {
                    method: method.clone(),
                    pattern: pattern.into_boxed_str(),
                    protection: protection(op),
                });
            }
        }
        let mut router = matchit::Router::new();
        for (pattern, i) in index {
            // Folded patterns are shaped like the strict router's own (a case-folded copy of
            // them), so they go in as those did; one that still conflicts is left out rather
            // than failing a configuration the strict router accepts.
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
        let stronger = |reading: &str| {
            self.router.at(reading).is_ok_and(|found| {
                self.entries[*found.value]
                    .iter()
                    .any(|f| f.method == *method && !f.protection.implied_by(auth_type, scopes))
            })
        };
        let refused = if is_its_only_reading(remainder) {
            // Most requests: the path is its own reading, routed without a copy.
            stronger(if remainder.is_empty() { "/" } else { remainder })
        } else {
            loose_readings(remainder).iter().any(|r| stronger(r))
        };
        if refused {
            Err(PathRefusal::AmbiguousResource)
        } else {
            Ok(())
        }
    }
}

/// A path with no upper case, escape, `;`, or trailing `.`, space or `/` on a segment reads
/// only as itself.
fn is_its_only_reading(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes
        .iter()
        .all(|b| !b.is_ascii_uppercase() && !matches!(b, b'%' | b';'))
        && path
            .split('/')
            .skip(1)
            .all(|s| !s.is_empty() && !s.ends_with(['.', ' ']))
}

fn sorted(scopes: &[String]) -> Box<[String]> {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    scopes.into_boxed_slice()
}

/// The strict router's patterns for a template (`template::patterns_for`), relative to the
/// API's base path: parameters positional, a trailing `/*` also matching the bare prefix and
/// the prefix with a `/`; the base itself reads as `/`.
fn strict_patterns(target: &str) -> Vec<String> {
    let mut patterns: Vec<String> = super::template::patterns_for("", target)
        .into_iter()
        .map(|p| if p.is_empty() { "/".to_owned() } else { p })
        .collect();
    patterns.dedup();
    patterns
}

/// What an upstream does with a segment's trailing dots and spaces (Windows drops them).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trim {
    /// Kept.
    No,
    /// Dropped; a segment left empty is kept as it was.
    KeepEmptied,
    /// Dropped; a segment left empty disappears (`//` merged).
    DropEmptied,
}

/// `path` as lenient upstreams read it, each reading distinct: escapes decoded (twice) and
/// letter case folded; cut at a decoded `?`, `#` or NUL or not; `;` parameters dropped or
/// not; trailing dots and spaces of a segment kept or dropped; empty segments and a trailing
/// `/` dropped.
pub fn loose_readings(path: &str) -> Vec<String> {
    let once = percent_decode(path.as_bytes());
    let mut twice = percent_decode(&once);
    twice.make_ascii_lowercase();
    let cut = twice
        .iter()
        .position(|b| matches!(b, b'?' | b'#' | 0))
        .unwrap_or(twice.len());
    let mut readings: Vec<String> = Vec::with_capacity(2);
    for decoded in [&twice[..], &twice[..cut]] {
        let decoded = String::from_utf8_lossy(decoded);
        for params in [false, true] {
            for trim in [Trim::No, Trim::KeepEmptied, Trim::DropEmptied] {
                let mut out = String::with_capacity(decoded.len() + 1);
                for segment in decoded.split(['/', '\\']) {
                    let name = match segment.split_once(';') {
                        Some((name, _)) if params => name,
                        _ => segment,
                    };
                    let trimmed = name.trim_end_matches(['.', ' ']);
                    let name = match trim {
                        Trim::No => name,
                        Trim::KeepEmptied if trimmed.is_empty() => name,
                        Trim::KeepEmptied | Trim::DropEmptied => trimmed,
                    };
                    if !name.is_empty() {
                        out.push('/');
                        out.push_str(name);
                    }
                }
                if out.is_empty() {
                    out.push('/');
                }
                if !readings.contains(&out) {
                    readings.push(out);
                }
            }
        }
    }
    readings
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
    use gantry_model::HttpVerb;
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

    #[test]
    fn readings_fold_case_params_trailing_dots_and_double_escapes() {
        for (path, reading) in [
            ("/ADMIN", "/admin"),
            ("/admin/", "/admin"),
            ("/admin.", "/admin"),
            ("/admin;x=1", "/admin"),
            ("/admin;x=1", "/admin;x=1"),
            ("/admin%3Bx", "/admin"),
            ("/%2561dmin", "/admin"),
            ("/admin%3Fx", "/admin"),
            ("/Admin. /X;a/", "/admin/x"),
            ("/items/%20/secret", "/items/secret"),
            ("/items/%20/secret", "/items/ /secret"),
            ("/", "/"),
        ] {
            let readings = loose_readings(path);
            assert!(
                readings.iter().any(|r| r == reading),
                "{path}: {readings:?}"
            );
        }
        assert_eq!(loose_readings("/plain/path"), ["/plain/path"]);
        assert!(is_its_only_reading("/plain/path"));
        for path in ["/Plain", "/a;b", "/a%41", "/a/", "/a.", "/a /b"] {
            assert!(!is_its_only_reading(path), "{path}");
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
        let open = |path: &str| loose.check(path, &Method::GET, AuthType::None, &[]);
        let read = ["read".to_owned()];
        for path in [
            "/ADMIN",
            "/admin.",
            "/admin;x",
            "/Admin/",
            "/%2561dmin",
            "/items/%20/secret.",
        ] {
            assert_eq!(open(path), Err(PathRefusal::AmbiguousResource), "{path}");
        }
        assert!(open("/other").is_ok());
        assert!(open("/administrator").is_ok());
        assert!(
            loose
                .check("/ADMIN", &Method::POST, AuthType::None, &[])
                .is_ok()
        );
        assert!(
            loose
                .check("/items/1", &Method::GET, AuthType::Any, &read)
                .is_ok()
        );
        assert_eq!(
            loose.check("/items/1/secret", &Method::GET, AuthType::Any, &read),
            Err(PathRefusal::AmbiguousResource)
        );
        let admin = ["admin".to_owned(), "read".to_owned()];
        assert!(
            loose
                .check("/items/1/secret", &Method::GET, AuthType::Any, &admin)
                .is_ok()
        );
    }

    #[test]
    fn an_exact_operation_is_not_refused_for_its_wildcard_sibling() {
        // `/orders` (any token) and `/orders/*` (scope `admin`) share the pattern `/orders`
        // in the strict router, which keeps the first: so does this table.
        let ops = [
            op("/orders", HttpVerb::Get, AuthType::Any, &[]),
            op("/orders/*", HttpVerb::Get, AuthType::Any, &["admin"]),
        ];
        let loose = LooseRoutes::compile(&ops).unwrap();
        let any = |path: &str| loose.check(path, &Method::GET, AuthType::Any, &[]);
        assert!(any("/orders").is_ok());
        assert!(any("/orders.").is_ok());
        assert_eq!(any("/orders/x"), Err(PathRefusal::AmbiguousResource));
    }
}
