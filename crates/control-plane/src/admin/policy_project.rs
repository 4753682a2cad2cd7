//! `GET /throttling/policies/export` and `POST /throttling/policies/import` (WSO2 4.7 admin):
//! one throttling policy as WSO2's `ExportThrottlePolicy` document, `{type: throttling
//! policy, subtype, version, data}`, where `data` is the policy as the Admin REST API shows
//! it. Subtypes: `subscription`, `application`, `advanced` and `custom rule` (WSO2's query
//! `type` names them `sub`, `app`, `api`, `global`). An import goes through the same
//! validation as `POST /throttling/policies/{level}`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gantry_store::custom_rules;
use gantry_store::policies::{self, PolicyLevel};
use serde::Deserialize;
use serde_json::{Value, json};

use super::custom_rules::{RuleRequest, rule_json};
use super::policies::{PolicyRequest, create_policy, policy_json, update_policy};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::project::{FORMAT_VERSION, Format, parse_document};
use crate::publisher::export::file_safe;
use crate::rejection::{MultipartForm, required_part};
use crate::rest_scopes;

/// Largest policy file accepted.
pub const MAX_UPLOAD_BYTES: usize = 256 * 1024;

/// The `type` of an exported policy document (WSO2 4.x's exporter).
pub const DOCUMENT_TYPE: &str = "throttling policy";

/// A kind of throttling policy as export and import know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Level(PolicyLevel),
    Custom,
}

impl Kind {
    /// WSO2's query `type` (`sub`, `app`, `api`, `global`), or the subtype's own name.
    fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "sub" | "subscription" => Some(Kind::Level(PolicyLevel::Subscription)),
            "app" | "application" => Some(Kind::Level(PolicyLevel::Application)),
            "api" | "advanced" => Some(Kind::Level(PolicyLevel::Api)),
            "global" | "custom" | "custom rule" => Some(Kind::Custom),
            _ => None,
        }
    }

    fn subtype(self) -> &'static str {
        match self {
            Kind::Level(PolicyLevel::Subscription) => "subscription",
            Kind::Level(PolicyLevel::Application) => "application",
            Kind::Level(PolicyLevel::Api) => "advanced",
            Kind::Custom => "custom rule",
        }
    }
}

const KINDS: [Kind; 4] = [
    Kind::Level(PolicyLevel::Subscription),
    Kind::Level(PolicyLevel::Application),
    Kind::Level(PolicyLevel::Api),
    Kind::Custom,
];

/// The query of `GET /throttling/policies/export`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportQuery {
    policy_id: Option<String>,
    name: Option<String>,
    /// apictl sends the name as `policyName` too.
    policy_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    format: Option<String>,
}

pub(crate) async fn export(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::PolicyImportExport>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    // JSON unless asked otherwise: WSO2 answers this operation with a JSON document.
    let format = match query.format.as_deref() {
        None => Format::Json,
        given => Format::from_query(given).map_err(ApiError::BadRequest)?,
    };
    let kinds: Vec<Kind> = match query.kind.as_deref() {
        None => KINDS.to_vec(),
        Some(raw) => vec![Kind::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!("type: '{raw}' is not one of sub, app, api, global"))
        })?],
    };
    let name = query.name.as_deref().or(query.policy_name.as_deref());
    if name.is_none() && query.policy_id.is_none() {
        return Err(ApiError::BadRequest(
            "name: name the policy by name (and type) or by policyId".into(),
        ));
    }
    let matches = |id: &str, policy_name: &str| {
        query.policy_id.as_deref().is_none_or(|want| want == id)
            && name.is_none_or(|want| want == policy_name)
    };
    let mut found: Option<(Kind, Value)> = None;
    for kind in kinds {
        let hit = match kind {
            Kind::Level(level) => policies::list(state.store(), level)
                .await?
                .iter()
                .find(|p| matches(&p.id, &p.name))
                .map(|p| policy_json(level, p)),
            Kind::Custom => custom_rules::list(state.store())
                .await?
                .iter()
                .find(|r| matches(&r.id, &r.rule.name))
                .map(rule_json),
        };
        if let Some(data) = hit {
            found = Some((kind, data));
            break;
        }
    }
    let (kind, data) = found.ok_or_else(|| {
        ApiError::NotFound(format!(
            "Requested throttling policy '{}' not found",
            name.or(query.policy_id.as_deref()).unwrap_or_default()
        ))
    })?;
    let file_name = format!(
        "{}.{}",
        file_safe(data["policyName"].as_str().unwrap_or("policy")),
        format.extension()
    );
    let document = json!({
        "type": DOCUMENT_TYPE,
        "subtype": kind.subtype(),
        "version": FORMAT_VERSION,
        "data": data,
    });
    let mut response = format.write(&document).into_response();
    let content_type = match format {
        Format::Json => "application/json",
        Format::Yaml => "application/yaml",
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The query of `POST /throttling/policies/import`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportQuery {
    #[serde(default)]
    overwrite: bool,
}

pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::PolicyImportExport>,
    QueryParams(query): QueryParams<ImportQuery>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<Response> {
    let (file_name, bytes) = required_part(&mut multipart, "file", "the policy file").await?;
    let file_name = file_name.unwrap_or_else(|| "policy.yaml".to_owned());
    // A file named .json is JSON; anything else is read as YAML (JSON is YAML too).
    let document = parse_document(&file_name, &bytes)
        .map_err(|e| ApiError::BadRequest(format!("file: {e}")))?;
    match document.get("type").and_then(Value::as_str) {
        Some(DOCUMENT_TYPE | "rate-limiting policy") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "file: type '{other}' is not supported; only '{DOCUMENT_TYPE}' documents import here"
            )));
        }
        None => {
            return Err(ApiError::BadRequest(format!(
                "file: 'type' is required ('{DOCUMENT_TYPE}')"
            )));
        }
    }
    let subtype = document
        .get("subtype")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = Kind::parse(subtype).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "file: subtype '{subtype}' is not one of subscription, application, advanced, custom rule"
        ))
    })?;
    let data = match document.get("data") {
        Some(data @ Value::Object(_)) => data.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "file: 'data' (the policy) is required and must be an object".into(),
            ));
        }
    };
    let name = data
        .get("policyName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let invalid = |e: serde_json::Error| ApiError::BadRequest(format!("file: data: {e}"));
    let (action, body) = match kind {
        Kind::Level(level) => {
            let request: PolicyRequest = serde_json::from_value(data).map_err(invalid)?;
            match policies::find(state.store(), level, &name).await? {
                Some(current) if query.overwrite => {
                    let policy =
                        update_policy(&state, level, &current.id, request, &user.username).await?;
                    ("UPDATED", policy_json(level, &policy))
                }
                Some(_) => return Err(exists(&name)),
                None => {
                    let policy = create_policy(&state, level, request, &user.username).await?;
                    ("CREATED", policy_json(level, &policy))
                }
            }
        }
        Kind::Custom => {
            let request: RuleRequest = serde_json::from_value(data).map_err(invalid)?;
            let (rule, description) = request.into_rule()?;
            let current = custom_rules::list(state.store())
                .await?
                .into_iter()
                .find(|r| r.rule.name == rule.name);
            let (action, stored) = match current {
                Some(current) if query.overwrite => {
                    custom_rules::update(state.store(), &current.id, &rule, &description).await?;
                    let stored = custom_rules::get(state.store(), &current.id).await?;
                    ("UPDATED", stored)
                }
                Some(_) => return Err(exists(&rule.name)),
                None => (
                    "CREATED",
                    custom_rules::create(state.store(), &rule, &description).await?,
                ),
            };
            state.sync_environments().await?;
            (action, rule_json(&stored))
        }
    };
    tracing::info!(subtype = kind.subtype(), %name, action, by = %user.username, "throttling policy imported");
    Ok(axum::Json(json!({
        "message": format!("Successfully imported {} Throttling Policy : {name}", kind.subtype()),
        "action": action,
        "subtype": kind.subtype(),
        "policy": body,
    }))
    .into_response())
}

fn exists(name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "A throttling policy named '{name}' already exists; import with overwrite=true to update it"
    ))
}
