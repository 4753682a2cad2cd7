//! The one form of a request path the gateway routes on and forwards (RFC 3986 §6.2.2):
//! escaped unreserved characters decoded, other escapes in upper-case hex, and no segment an
//! upstream could read as a step up or sideways. `Proxy` calls [`canonicalize`] before routing.

use std::borrow::Cow;

use http::{Response, StatusCode};

use crate::respond::{self, Body};

/// Why a request path is refused (400). No legitimate client sends any of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// Not an absolute path (`*`, an empty path).
    #[error("The request target is not an absolute path")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("The request path has a '%' that is not followed by two hex digits")]
    MalformedEscape,
    /// `%2F` or `%5C`: a separator the router and the upstream would count differently.
    #[error("The request path contains an encoded '/' or '\\'")]
    EncodedSeparator,
    /// A control character, encoded (`%00`, `%0A`, `%7F`, …) or not.
    #[error("The request path contains a control character")]
    ControlCharacter,
    /// A backslash, which some upstreams read as `/`.
    #[error("The request path contains a '\\'")]
    Backslash,
    /// A segment of dots only (`.`, `..`, `...`), also spelled `%2e`, or followed by `;`
    /// parameters (`..;`).
    #[error("The request path contains a '.' or '..' segment")]
    DotSegment,
    /// `//`, or a segment of parameters only (`/;x/`).
    #[error("The request path contains an empty segment")]
    EmptySegment,
    /// A character encoded twice (`%252F`) that changes the path's shape when decoded twice:
    /// `/`, `\`, `.`, `;`, `?`, `#`, `%` or a control character.
    #[error("The request path contains a separator or dot encoded twice")]
    DoubleEncoded,
    /// Read loosely (case, trailing `/` or `.`, `;` parameters, decoded twice), the path
    /// names an operation of the API with stronger protection than the one it matched.
    #[error(
        "The request path could name a more protected resource of this API when read loosely \
         (letter case, a trailing '/' or '.', ';' parameters, escapes): send its exact form"
    )]
    AmbiguousResource,
}

impl PathRefusal {
    /// 400 in the gateway's error shape.
    pub fn into_response(self) -> Response<Body> {
        respond::error(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            &self.to_string(),
        )
    }
}

/// The canonical form of `raw` (a request's path, without query), borrowed when `raw` is
/// already canonical; or why it is refused. Canonicalising a canonical path returns it as is.
pub fn canonicalize(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    match plain(raw.as_bytes()) {
        Some(Ok(())) => Ok(Cow::Borrowed(raw)),
        Some(Err(refusal)) => Err(refusal),
        None => canonicalize_escaped(raw),
    }
}

/// The common case in one scan: a path of unreserved characters, sub-delims other than `;`,
/// `:`, `@` and `/`. `None` when it has anything else (`%`, `;`, characters to escape, …).
fn plain(bytes: &[u8]) -> Option<Result<(), PathRefusal>> {
    if bytes.first() != Some(&b'/') {
        return Some(Err(PathRefusal::NotAbsolute));
    }
    // Units in the current segment, and whether all of them are dots.
    let (mut units, mut dots) = (0u32, true);
    for &b in &bytes[1..] {
        match b {
            b'/' => {
                if units == 0 {
                    return Some(Err(PathRefusal::EmptySegment));
                }
                if dots {
                    return Some(Err(PathRefusal::DotSegment));
                }
                (units, dots) = (0, true);
            }
            b'.' => units += 1,
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'~'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b'='
            | b':'
            | b'@' => (units, dots) = (units + 1, false),
            _ => return None,
        }
    }
    if units > 0 && dots {
        return Some(Err(PathRefusal::DotSegment));
    }
    Some(Ok(()))
}

/// The full rules, for a path with escapes, `;` or characters to escape.
fn canonicalize_escaped(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotAbsolute);
    }
    let mut out: Option<String> = None;
    let mut segment = Segment::default();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        match class(b) {
            Class::Literal => {
                if let Some(out) = &mut out {
                    out.push(char::from(b));
                }
                segment.unit(b, false)?;
                i += 1;
            }
            Class::Slash => {
                segment.end(false)?;
                segment = Segment::default();
                if let Some(out) = &mut out {
                    out.push('/');
                }
                i += 1;
            }
            Class::Percent => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathRefusal::MalformedEscape);
                };
                let v = hi << 4 | lo;
                if is_unreserved(v) {
                    start(&mut out, raw, i).push(char::from(v));
                    segment.unit(v, false)?;
                } else {
                    match v {
                        b'/' | b'\\' => return Err(PathRefusal::EncodedSeparator),
                        v if v < 0x20 || v == 0x7f => return Err(PathRefusal::ControlCharacter),
                        _ => {}
                    }
                    let lower = bytes[i + 1..i + 3].iter().any(u8::is_ascii_lowercase);
                    if lower {
                        push_escape(start(&mut out, raw, i), v);
                    } else if let Some(out) = &mut out {
                        push_escape(out, v);
                    }
                    segment.unit(v, true)?;
                }
                i += 3;
            }
            Class::Encode => {
                push_escape(start(&mut out, raw, i), b);
                segment.unit(b, true)?;
                i += 1;
            }
            Class::Backslash => return Err(PathRefusal::Backslash),
            Class::Control => return Err(PathRefusal::ControlCharacter),
        }
    }
    segment.end(true)?;
    Ok(match out {
        Some(out) => Cow::Owned(out),
        None => Cow::Borrowed(raw),
    })
}

/// The output, started with the part of `raw` before `at` (all of it canonical so far).
fn start<'a>(out: &'a mut Option<String>, raw: &str, at: usize) -> &'a mut String {
    out.get_or_insert_with(|| {
        let mut s = String::with_capacity(raw.len() + 16);
        s.push_str(&raw[..at]);
        s
    })
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

enum Class {
    /// Kept as it is: unreserved, sub-delims, `:`, `@`.
    Literal,
    Slash,
    Percent,
    /// Allowed by `http` but not by RFC 3986 in a path (`"`, `{`, `|`, non-ASCII, …):
    /// percent-encoded.
    Encode,
    Backslash,
    Control,
}

fn class(b: u8) -> Class {
    match b {
        b'/' => Class::Slash,
        b'%' => Class::Percent,
        b'\\' => Class::Backslash,
        0x00..=0x1f | 0x7f => Class::Control,
        b if is_unreserved(b) => Class::Literal,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':'
        | b'@' => Class::Literal,
        _ => Class::Encode,
    }
}

/// ALPHA / DIGIT / `-` / `.` / `_` / `~` (RFC 3986 §2.3).
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One segment of the canonical path as it is written, checked as servlet containers and
/// double-decoding upstreams would read it.
#[derive(Default)]
struct Segment {
    /// Units (characters or escapes) in the segment.
    units: u32,
    /// Units before the first `;` (literal or `%3B`): the name a servlet container uses.
    name: u32,
    /// Every unit of the name so far is a `.` (read once decoded).
    dots: bool,
    in_params: bool,
    /// After `%25`: 1 waits for the first hex digit, 2 (with `nibble`) for the second.
    double: u8,
    nibble: u8,
}

impl Segment {
    /// One more unit: `b`, `escaped` when it stays percent-encoded.
    fn unit(&mut self, b: u8, escaped: bool) -> Result<(), PathRefusal> {
        // `%25` then two hex digits: what an upstream decoding twice reads.
        match (self.double, hex(b).filter(|_| !escaped)) {
            (1, Some(h)) => {
                self.double = 2;
                self.nibble = h;
            }
            (2, Some(h)) => {
                self.double = 0;
                let twice = self.nibble << 4 | h;
                if matches!(twice, b'/' | b'\\' | b'.' | b';' | b'?' | b'#' | b'%')
                    || twice < 0x20
                    || twice == 0x7f
                {
                    return Err(PathRefusal::DoubleEncoded);
                }
            }
            _ => self.double = u8::from(escaped && b == b'%'),
        }
        if self.units == 0 {
            self.dots = true;
        }
        self.units += 1;
        if !self.in_params {
            if b == b';' {
                self.in_params = true;
            } else {
                self.name += 1;
                self.dots &= b == b'.';
            }
        }
        Ok(())
    }

    /// The segment ends (at a `/`, or at the end of the path when `last`).
    fn end(&self, last: bool) -> Result<(), PathRefusal> {
        if self.units == 0 {
            return if last {
                Ok(())
            } else {
                Err(PathRefusal::EmptySegment)
            };
        }
        if self.name == 0 {
            return Err(PathRefusal::EmptySegment);
        }
        if self.dots {
            return Err(PathRefusal::DotSegment);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn canonical(raw: &str) -> String {
        canonicalize(raw).unwrap().into_owned()
    }

    #[test]
    fn canonical_ascii_paths_are_borrowed_unchanged() {
        for path in [
            "/",
            "/a/b",
            "/a/b/",
            "/a/b.json",
            "/a/...x",
            "/a/..b",
            "/a/b;v=1",
            "/a/%20b",
            "/a/%2520b",
            "/a/b%3B",
            "/sec/1.0.0/pub/x",
            "/a:b@c!$&'()*+,=~_-",
        ] {
            assert!(
                matches!(canonicalize(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        assert_eq!(canonical("/ctx/1.0.0/%61dmin"), "/ctx/1.0.0/admin");
        assert_eq!(canonical("/adm%69n"), "/admin");
        assert_eq!(canonical("/adm%49N"), "/admIN");
        assert_eq!(canonical("/%7e%2D%5f"), "/~-_");
        assert_eq!(canonical("/a%3bx"), "/a%3Bx");
        assert_eq!(canonical("/a%c3%a9"), "/a%C3%A9");
        assert_eq!(canonical("/a%2561dmin"), "/a%2561dmin");
        assert_eq!(canonical("/a\"{b}|"), "/a%22%7Bb%7D%7C");
        assert_eq!(canonical("/caf\u{e9}"), "/caf%C3%A9");
        assert_eq!(canonical("/a%2Eb"), "/a.b");
    }

    #[test]
    fn refuses_path_tricks() {
        use PathRefusal::*;
        for (bad, why) in [
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/..", DotSegment),
            ("/a/.../b", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/%2E/b", DotSegment),
            ("/a/.%2e", DotSegment),
            ("/..;/admin", DotSegment),
            ("/%2e%2e;/admin", DotSegment),
            ("/..;jsessionid=1/admin", DotSegment),
            ("/.;x/admin", DotSegment),
            ("/..%3B/admin", DotSegment),
            ("/..%3b/admin", DotSegment),
            ("/a//b", EmptySegment),
            ("//admin", EmptySegment),
            ("/a/;x/b", EmptySegment),
            ("/a/%3Bx", EmptySegment),
            ("/a%2fb", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a\\b", Backslash),
            ("\\admin", NotAbsolute),
            ("*", NotAbsolute),
            ("", NotAbsolute),
            ("/a/..%252fb", DoubleEncoded),
            ("/a%252Fb", DoubleEncoded),
            ("/a/%252e%252e/b", DoubleEncoded),
            ("/a%255cb", DoubleEncoded),
            ("/admin%253Bx", DoubleEncoded),
            ("/admin%253fx", DoubleEncoded),
            ("/admin%2500", DoubleEncoded),
            ("/a%25%32%65", DoubleEncoded),
            ("/admin%00", ControlCharacter),
            ("/admin%0a", ControlCharacter),
            ("/admin%7F", ControlCharacter),
            ("/admin\u{1}", ControlCharacter),
            ("/a%", MalformedEscape),
            ("/a%4", MalformedEscape),
            ("/a%zz", MalformedEscape),
        ] {
            assert_eq!(canonicalize(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn canonicalising_twice_changes_nothing() {
        for raw in ["/%61dmin", "/a%3bx", "/a\"b", "/x%c3%a9/y", "/a%25%34%31"] {
            let once = canonical(raw);
            assert!(
                matches!(canonicalize(&once), Ok(Cow::Borrowed(p)) if p == once),
                "{raw} → {once}"
            );
        }
    }

    /// Pieces of paths: plain characters and the first few that leave the one-scan case.
    const PIECES: &[&str] = &[
        "/", ".", "a", "Z", "9", "-", "~", ":", "@", "!", "=", ";", "%2e", "%41", "\\",
    ];

    proptest::proptest! {
        #[test]
        fn the_one_scan_for_plain_paths_agrees_with_the_full_rules(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..12)
        ) {
            let path = pieces.concat();
            if let Some(plain) = plain(path.as_bytes()) {
                let full = canonicalize_escaped(&path).map(|_| ());
                proptest::prop_assert_eq!(plain, full, "{}", path);
            }
        }
    }

    #[test]
    fn refusals_are_400_in_the_gateway_error_shape() {
        let response = PathRefusal::DotSegment.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
