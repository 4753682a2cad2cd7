//! Small pieces of the WSO2 wire format shared by the REST modules: timestamps, paging and
//! list envelopes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Epoch milliseconds as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `limit` / `offset` query parameters, WSO2 defaults (25, 0).
#[derive(Debug, Deserialize, Default)]
pub struct Paging {
    limit: Option<i64>,
    offset: Option<i64>,
    /// A search (`query=name:pizza tag:food`), where the resource supports one.
    pub query: Option<String>,
    /// `sortBy`, where the resource supports it.
    #[serde(rename = "sortBy")]
    pub sort_by: Option<String>,
    /// `sortOrder` (`asc`/`desc`), where the resource supports it.
    #[serde(rename = "sortOrder")]
    pub sort_order: Option<String>,
}

impl Paging {
    /// Validated (offset, limit).
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        resolve_paging(self.limit, self.offset, ("limit", "offset"))
    }
}

/// Validated (offset, limit) from the query parameters named `names` (WSO2 defaults 25, 0;
/// `limit` 1 to 1000, `offset` not negative).
pub fn resolve_paging(
    limit: Option<i64>,
    offset: Option<i64>,
    names: (&str, &str),
) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(25);
    let offset = offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "{}: must be between 1 and 1000",
            names.0
        )));
    }
    if offset < 0 {
        return Err(ApiError::BadRequest(format!(
            "{}: must not be negative",
            names.1
        )));
    }
    Ok((offset, limit))
}

/// WSO2's list envelope: `{count, list, pagination{offset, limit, total, next, previous}}`.
pub fn list_envelope<T: Serialize>(
    items: Vec<T>,
    offset: i64,
    limit: i64,
    total: i64,
    path: &str,
) -> Value {
    let link = |o: i64| format!("{path}?limit={limit}&offset={o}");
    let next = if offset + limit < total {
        link(offset + limit)
    } else {
        String::new()
    };
    let previous = if offset > 0 {
        link((offset - limit).max(0))
    } else {
        String::new()
    };
    json!({
        "count": items.len(),
        "list": items,
        "pagination": { "offset": offset, "limit": limit, "total": total, "next": next, "previous": previous },
    })
}

/// A list envelope without paging: `{count, list}`.
pub fn plain_list<T: Serialize>(items: Vec<T>) -> Value {
    json!({ "count": items.len(), "list": items })
}

/// WSO2's list envelope for a list served whole (no paging parameters): `count`, `list`
/// and a `pagination` block describing the one page.
pub fn whole_list<T: Serialize>(items: Vec<T>) -> Value {
    let total = items.len();
    json!({
        "count": total,
        "list": items,
        "pagination": {"offset": 0, "limit": total, "total": total, "next": "", "previous": ""},
    })
}

/// One page of `items` (already filtered) and the total, for lists filtered in memory.
pub fn page_of<T>(items: Vec<T>, offset: i64, limit: i64) -> (Vec<T>, i64) {
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let page = items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    (page, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn paging_links() {
        let v = list_envelope(vec![1, 2], 2, 2, 5, "/apis");
        assert_eq!(v["pagination"]["next"], "/apis?limit=2&offset=4");
        assert_eq!(v["pagination"]["previous"], "/apis?limit=2&offset=0");
        assert!(
            Paging {
                limit: Some(0),
                ..Paging::default()
            }
            .resolve()
            .is_err()
        );
    }
}
