//! SCIM 2.0 user management (`/scim2/Users`, `/scim2/Groups`), as WSO2 APIM exposes it
//! for creating publishers and subscribers (RFC 7643 resources, RFC 7644 protocol).
//!
//! Groups are Gantry's roles (`admin`, `Internal/creator`, `Internal/publisher`,
//! `Internal/subscriber`, …): a user's group membership is the role list the REST scopes are
//! derived from. The set of roles is fixed, so groups can be read and their members changed,
//! but new groups cannot be created. Callers need the admin role (`apim:admin` or
//! `apim:admin_operations` with a bearer token). Errors use SCIM's error body.

pub mod groups;
pub mod users;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::rest_scopes;

/// SCIM's media type.
pub const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Routes under `/scim2`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim2/Users", get(users::list).post(users::create))
        .route(
            "/scim2/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/scim2/Groups", get(groups::list).post(groups::create))
        .route(
            "/scim2/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch),
        )
}

/// A SCIM error: `{"schemas": [...Error], "status": "400", "scimType": ..., "detail": ...}`.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    /// 400 `invalidValue` (or another `scimType`).
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// 404 for a resource kind and id.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            scim_type: None,
            detail: format!("{kind} '{id}' not found"),
        }
    }

    /// 409 `uniqueness`.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            scim_type: Some("uniqueness"),
            detail: detail.into(),
        }
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let response = e.into_response();
        Self {
            status: response.status(),
            scim_type: None,
            detail: match response.status() {
                StatusCode::INTERNAL_SERVER_ERROR => "internal error".into(),
                StatusCode::SERVICE_UNAVAILABLE => "the database is unavailable".into(),
                StatusCode::NOT_FOUND => "not found".into(),
                s => s.canonical_reason().unwrap_or("error").into(),
            },
        }
    }
}

impl From<gantry_store::StoreError> for ScimError {
    fn from(e: gantry_store::StoreError) -> Self {
        match e {
            gantry_store::StoreError::Conflict(what) => ScimError::conflict(what),
            other => ApiError::from(other).into(),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        scim_response(self.status, &body)
    }
}

/// A response with SCIM's media type.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// Result alias of the SCIM handlers.
pub type ScimResult<T = Response> = Result<T, ScimError>;

/// Checks that the caller may manage users (admin role and scope).
fn require_admin(user: &AuthUser) -> ScimResult<()> {
    if !user.is_admin() {
        return Err(ApiError::Forbidden("Managing users needs the admin role".into()).into());
    }
    user.require_scope(rest_scopes::ADMIN_OPERATIONS)
        .map_err(ScimError::from)
}

/// `startIndex` (1-based) and `count`, as RFC 7644 §3.4.2.4 defines them.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
}

impl ListQuery {
    /// (offset, limit) for the store; startIndex < 1 counts as 1, count is capped at 1000.
    fn window(&self) -> (i64, i64) {
        let start = self.start_index.unwrap_or(1).max(1);
        let count = self.count.unwrap_or(100).clamp(0, 1000);
        (start - 1, count)
    }

    /// The value of a `filter=<attribute> eq "<value>"` on `attribute` (the only filter
    /// supported); 400 `invalidFilter` for any other expression.
    fn eq_filter(&self, attribute: &str) -> ScimResult<Option<String>> {
        let Some(filter) = self.filter.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let invalid = || {
            ScimError::bad(
                "invalidFilter",
                format!("only '{attribute} eq \"value\"' filters are supported"),
            )
        };
        let mut parts = filter.splitn(3, ' ');
        let (Some(attr), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        if !attr.eq_ignore_ascii_case(attribute) || !op.eq_ignore_ascii_case("eq") {
            return Err(invalid());
        }
        let value = value
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(invalid)?;
        Ok(Some(value.to_owned()))
    }
}

/// RFC 7644 `ListResponse`.
fn list_response(resources: Vec<Value>, total: i64, offset: i64) -> Response {
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": offset + 1,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// One operation of a PatchOp request.
#[derive(Debug, Deserialize)]
pub struct PatchOperation {
    op: String,
    path: Option<String>,
    value: Option<Value>,
}

/// RFC 7644 §3.5.2 `PatchOp` body.
#[derive(Debug, Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    operations: Vec<PatchOperation>,
}

impl PatchRequest {
    fn check(&self) -> ScimResult<()> {
        if !self.schemas.iter().any(|s| s == PATCH_SCHEMA) {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("schemas must contain \"{PATCH_SCHEMA}\""),
            ));
        }
        if let Some(op) = self.operations.iter().find(|o| {
            !matches!(
                o.op.to_ascii_lowercase().as_str(),
                "add" | "replace" | "remove"
            )
        }) {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("op '{}' is not one of add, replace, remove", op.op),
            ));
        }
        Ok(())
    }
}

/// The value inside `attr[value eq "X"]`, for removing one member or role.
fn value_selector<'a>(path: &'a str, attribute: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(attribute)?.strip_prefix('[')?;
    let inner = rest.strip_suffix(']')?.trim();
    let value = inner
        .strip_prefix("value")?
        .trim_start()
        .strip_prefix("eq")?
        .trim();
    value.strip_prefix('"')?.strip_suffix('"')
}

/// The `value`s of a multi-valued attribute (`[{"value": "x"}, …]`, or plain strings).
fn values_of(value: &Value, attribute: &str) -> ScimResult<Vec<String>> {
    let items = value
        .as_array()
        .ok_or_else(|| ScimError::bad("invalidValue", format!("{attribute} must be an array")))?;
    items
        .iter()
        .map(|item| {
            item.get("value")
                .and_then(Value::as_str)
                .or_else(|| item.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ScimError::bad(
                        "invalidValue",
                        format!("each of {attribute} needs a string \"value\""),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_selectors_parse() {
        let q = ListQuery {
            filter: Some("userName eq \"alice\"".into()),
            ..Default::default()
        };
        assert_eq!(q.eq_filter("userName").unwrap().as_deref(), Some("alice"));
        let q = ListQuery {
            filter: Some("userName sw \"a\"".into()),
            ..Default::default()
        };
        assert!(q.eq_filter("userName").is_err());
        assert_eq!(
            value_selector("members[value eq \"abc\"]", "members"),
            Some("abc")
        );
        assert_eq!(value_selector("members", "members"), None);
    }

    #[test]
    fn paging_is_one_based() {
        let q = ListQuery {
            start_index: Some(0),
            count: Some(5000),
            ..Default::default()
        };
        assert_eq!(q.window(), (0, 1000));
    }
}
