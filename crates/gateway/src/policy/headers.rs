//! Header policies (`addHeader`/`setHeader`, `appendHeader`, `removeHeader`, `renameHeader`):
//! compiled into prepared header names and values, so applying them on the request path only
//! inserts, moves and removes headers. Used by every flow (request, response, fault).

use http::{HeaderMap, HeaderName, HeaderValue};

/// One prepared header change.
#[derive(Debug, Clone)]
pub enum HeaderOp {
    /// Replace every value of the header with this one.
    Set(HeaderName, HeaderValue),
    /// Add a value.
    Append(HeaderName, HeaderValue),
    /// Remove the header.
    Remove(HeaderName),
    /// Move every value of the first header to the second (replacing its values).
    Rename(HeaderName, HeaderName),
}

fn name(n: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header '{n}': {e}"))
}

fn value(v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|e| format!("header value '{v}': {e}"))
}

impl HeaderOp {
    /// Prepares a set.
    pub fn set(n: &str, v: &str) -> Result<Self, String> {
        Ok(Self::Set(name(n)?, value(v)?))
    }

    /// Prepares an append.
    pub fn append(n: &str, v: &str) -> Result<Self, String> {
        Ok(Self::Append(name(n)?, value(v)?))
    }

    /// Prepares a removal.
    pub fn remove(n: &str) -> Result<Self, String> {
        Ok(Self::Remove(name(n)?))
    }

    /// Prepares a rename.
    pub fn rename(from: &str, to: &str) -> Result<Self, String> {
        Ok(Self::Rename(name(from)?, name(to)?))
    }

    /// Applies the change to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        match self {
            HeaderOp::Set(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            HeaderOp::Append(name, value) => {
                headers.append(name.clone(), value.clone());
            }
            HeaderOp::Remove(name) => {
                headers.remove(name);
            }
            HeaderOp::Rename(from, to) => {
                if from == to {
                    return;
                }
                let values: Vec<HeaderValue> = match headers.entry(from.clone()) {
                    http::header::Entry::Occupied(entry) => entry.remove_entry_mult().1.collect(),
                    http::header::Entry::Vacant(_) => return,
                };
                headers.remove(to);
                for value in values {
                    headers.append(to.clone(), value);
                }
            }
        }
    }
}

/// Applies `ops` to `headers`, in order.
pub fn apply(ops: &[HeaderOp], headers: &mut HeaderMap) {
    for op in ops {
        op.apply(headers);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_ops_apply_in_order() {
        let ops = [
            HeaderOp::set("X-Env", "prod").unwrap(),
            HeaderOp::append("X-Tag", "b").unwrap(),
            HeaderOp::remove("X-Debug").unwrap(),
            HeaderOp::rename("X-Old", "X-New").unwrap(),
        ];
        let mut headers = HeaderMap::new();
        headers.insert("x-env", HeaderValue::from_static("client"));
        headers.insert("x-tag", HeaderValue::from_static("a"));
        headers.insert("x-debug", HeaderValue::from_static("1"));
        headers.append("x-old", HeaderValue::from_static("1"));
        headers.append("x-old", HeaderValue::from_static("2"));
        headers.insert("x-new", HeaderValue::from_static("stale"));
        apply(&ops, &mut headers);
        assert_eq!(headers["x-env"], "prod");
        assert_eq!(headers.get_all("x-tag").iter().count(), 2);
        assert!(!headers.contains_key("x-debug"));
        assert!(!headers.contains_key("x-old"));
        let renamed: Vec<_> = headers.get_all("x-new").iter().collect();
        assert_eq!(renamed, ["1", "2"]);
    }
}
