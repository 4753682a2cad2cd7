//! The Publisher's "Policies" page: the operation policies attached to an API and to each of
//! its operations, per flow and in order, with forms to attach a built-in policy (with its
//! parameters), move one up and remove one. Each form edits the stored API's REST body and
//! saves it through `service::apis::update`, so the REST validation applies and its message
//! is shown; like any edit it changes the working copy until a new revision is deployed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gantry_model::Api;
use gantry_model::operation_policy::{Flow, builtins};
use serde_json::{Map, Value, json};

use super::publisher::CREATE;
use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, PortalError, render, render_status, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::publisher::apis::ApiRequest;
use crate::publisher::apis::may_manage;
use crate::service::apis;

const FLOWS: [Flow; 3] = [Flow::Request, Flow::Response, Flow::Fault];

/// One attached policy, as the page lists it.
struct Row {
    index: usize,
    name: String,
    parameters: String,
}

/// The policies of one flow at one attachment point.
struct FlowRows {
    flow: &'static str,
    rows: Vec<Row>,
}

/// The API itself (`api`) or one of its operations (`op:<i>`).
struct Point {
    key: String,
    label: String,
    flows: Vec<FlowRows>,
}

/// A built-in policy offered by the attach form.
struct PolicyOption {
    name: String,
    display: String,
    flows: String,
    parameters: String,
}

/// What the attach form holds.
#[derive(Default)]
struct AttachForm {
    point: String,
    flow: String,
    policy: String,
    position: String,
    parameters: String,
}

#[derive(Template)]
#[template(path = "portal/publisher_policies.html")]
struct PoliciesPage {
    nav: Nav,
    api_id: String,
    name: String,
    version: String,
    etag: String,
    points: Vec<Point>,
    options: Vec<PolicyOption>,
    form: AttachForm,
    error: Option<String>,
}

fn rows(policies: &gantry_model::ApiPolicies) -> Vec<FlowRows> {
    FLOWS
        .iter()
        .map(|flow| FlowRows {
            flow: flow.as_str(),
            rows: policies
                .flow(*flow)
                .iter()
                .enumerate()
                .map(|(index, p)| Row {
                    index,
                    name: p.policy_name.clone(),
                    parameters: p
                        .parameters
                        .iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => format!("{k}={s}"),
                            other => format!("{k}={other}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
        })
        .collect()
}

fn page(user: &SignedIn, api: &Api, form: AttachForm, error: Option<String>) -> PoliciesPage {
    let mut points = vec![Point {
        key: "api".into(),
        label: "Every operation (API level)".into(),
        flows: rows(&api.gateway.api_policies),
    }];
    for (i, op) in api.operations.iter().enumerate() {
        points.push(Point {
            key: format!("op:{i}"),
            label: format!("{} {}", op.verb.as_str(), op.target.as_str()),
            flows: rows(&op.operation_policies),
        });
    }
    PoliciesPage {
        nav: Nav::new(Portal::Publisher, user),
        api_id: api.id.clone(),
        name: api.name.as_str().to_owned(),
        version: api.version.as_str().to_owned(),
        etag: apis::etag(api),
        points,
        options: builtins()
            .iter()
            .map(|s| PolicyOption {
                name: s.name.clone(),
                display: s.display_name.clone(),
                flows: s
                    .applicable_flows
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                parameters: s
                    .policy_attributes
                    .iter()
                    .map(|a| {
                        if a.required {
                            format!("{} ({}, required)", a.name, a.kind)
                        } else {
                            format!("{} ({})", a.name, a.kind)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect(),
        form,
        error,
    }
}

/// The API, when `user` may manage it in the Publisher (publisher access control, as the
/// REST resources under `/apis/{apiId}`); else 404, as for an API that does not exist.
async fn managed(state: &AppState, user: &SignedIn, api_id: &str) -> Result<Api, PortalError> {
    let api = apis::load(state, api_id).await?;
    if may_manage(&api.provider, &api.details, &user.username, &user.roles) {
        Ok(api)
    } else {
        Err(PortalError::NotFound(format!("API {api_id} was not found")))
    }
}

pub(super) async fn policies_page(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Changing an API's policies")?;
    let api = managed(&state, &user, &api_id).await?;
    render(&page(&user, &api, AttachForm::default(), None))
}

/// The flow's list at `point` in the API's REST body, created when missing.
fn flow_list<'a>(
    body: &'a mut Value,
    point: &str,
    flow: &str,
) -> Result<&'a mut Vec<Value>, String> {
    if !matches!(flow, "request" | "response" | "fault") {
        return Err(format!("'{flow}' is not a flow"));
    }
    let holder = match point {
        "api" => body,
        other => {
            let i = other
                .strip_prefix("op:")
                .and_then(|i| i.parse::<usize>().ok())
                .ok_or_else(|| format!("'{other}' is not an operation"))?;
            body.get_mut("operations")
                .and_then(Value::as_array_mut)
                .and_then(|ops| ops.get_mut(i))
                .ok_or_else(|| format!("the API has no operation {i}"))?
        }
    };
    let key = if point == "api" {
        "apiPolicies"
    } else {
        "operationPolicies"
    };
    let fields = holder.as_object_mut().ok_or("the API could not be read")?;
    let policies = fields.entry(key).or_insert_with(|| json!({}));
    if !policies.is_object() {
        *policies = json!({});
    }
    let list = policies
        .as_object_mut()
        .ok_or("the API could not be read")?
        .entry(flow)
        .or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut()
        .ok_or_else(|| "the API could not be read".to_owned())
}

/// `name=value` lines into a parameters object.
fn parameters(text: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("'{line}' is not name=value"))?;
        out.insert(
            name.trim().to_owned(),
            Value::String(value.trim().to_owned()),
        );
    }
    Ok(out)
}

/// One change the page's forms ask for.
enum Edit<'a> {
    Attach {
        policy: &'a str,
        position: Option<usize>,
        parameters: Map<String, Value>,
    },
    MoveUp(usize),
    Remove(usize),
}

fn apply(body: &mut Value, point: &str, flow: &str, edit: Edit<'_>) -> Result<(), String> {
    let list = flow_list(body, point, flow)?;
    match edit {
        Edit::Attach {
            policy,
            position,
            parameters,
        } => {
            let at = position.map_or(list.len(), |p| p.saturating_sub(1).min(list.len()));
            list.insert(
                at,
                json!({"policyName": policy, "policyVersion": "v1", "parameters": parameters}),
            );
        }
        Edit::MoveUp(i) if i > 0 && i < list.len() => list.swap(i - 1, i),
        Edit::MoveUp(_) => {}
        Edit::Remove(i) if i < list.len() => {
            list.remove(i);
        }
        Edit::Remove(i) => return Err(format!("there is no policy {} to remove", i + 1)),
    }
    Ok(())
}

/// `POST /publisher/apis/{id}/policies`: `action` is `attach`, `up` or `remove`.
pub(super) async fn change_policies(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Changing an API's policies")?;
    let current = managed(&state, &user, &api_id).await?;
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let input = AttachForm {
        point: value("point"),
        flow: value("flow"),
        policy: value("policy"),
        position: value("position"),
        parameters: value("parameters"),
    };
    let index = || {
        value("index")
            .parse::<usize>()
            .map_err(|_| "index: not a number".to_owned())
    };
    let mut body =
        serde_json::to_value(&current).map_err(|e| PortalError::Internal(e.to_string()))?;
    let edited = match value("action").as_str() {
        "attach" => parameters(&input.parameters)
            .and_then(|parameters| {
                let position = match input.position.as_str() {
                    "" => None,
                    p => Some(
                        p.parse::<usize>()
                            .map_err(|_| format!("position: '{p}' is not a number"))?,
                    ),
                };
                Ok(Edit::Attach {
                    policy: &input.policy,
                    position,
                    parameters,
                })
            })
            .and_then(|edit| apply(&mut body, &input.point, &input.flow, edit)),
        "up" => index().and_then(|i| apply(&mut body, &input.point, &input.flow, Edit::MoveUp(i))),
        "remove" => {
            index().and_then(|i| apply(&mut body, &input.point, &input.flow, Edit::Remove(i)))
        }
        other => Err(format!("'{other}' is not an action")),
    };
    let error = match edited {
        Err(reason) => reason,
        Ok(()) => {
            let request: ApiRequest = serde_json::from_value(body)
                .map_err(|e| PortalError::BadRequest(format!("The form could not be read: {e}")))?;
            let etag = value("etag");
            match apis::update(
                &state,
                &current.id,
                request,
                Some(etag.as_str()).filter(|t| !t.is_empty()),
            )
            .await
            {
                Ok(api) => {
                    return see_other(
                        &user,
                        &format!("/publisher/apis/{}/policies", api.id),
                        "Policies saved. This changed the working copy only: create a new revision and deploy it for gateways to apply them.",
                    )
                    .await;
                }
                Err(ApiError::PreconditionFailed(_)) | Err(ApiError::Conflict(_)) => {
                    "Someone else changed this API since you opened the page; look again and retry."
                        .to_owned()
                }
                Err(ApiError::BadRequest(message)) => message,
                Err(other) => return Err(other.into()),
            }
        }
    };
    let form = if value("action") == "attach" {
        input
    } else {
        AttachForm::default()
    };
    render_status(
        StatusCode::BAD_REQUEST,
        &page(&user, &current, form, Some(error)),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn edits_attach_in_place_move_up_and_remove() {
        let mut body = json!({"operations": [{"target": "/a", "verb": "GET"}]});
        let attach = |body: &mut Value, point, name: &str, position| {
            apply(
                body,
                point,
                "request",
                Edit::Attach {
                    policy: name,
                    position,
                    parameters: parameters("headerName = X-A\nheaderValue=1").unwrap(),
                },
            )
            .unwrap();
        };
        attach(&mut body, "api", "addHeader", None);
        attach(&mut body, "op:0", "addHeader", None);
        attach(&mut body, "op:0", "removeHeader", Some(1));
        let names = |body: &Value| -> Vec<String> {
            body["operations"][0]["operationPolicies"]["request"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["policyName"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&body), ["removeHeader", "addHeader"]);
        assert_eq!(
            body["apiPolicies"]["request"][0]["parameters"]["headerName"],
            "X-A"
        );
        apply(&mut body, "op:0", "request", Edit::MoveUp(1)).unwrap();
        assert_eq!(names(&body), ["addHeader", "removeHeader"]);
        apply(&mut body, "op:0", "request", Edit::Remove(0)).unwrap();
        assert_eq!(names(&body), ["removeHeader"]);
        assert!(apply(&mut body, "op:3", "request", Edit::Remove(0)).is_err());
        assert!(apply(&mut body, "api", "sideways", Edit::Remove(0)).is_err());
        assert!(parameters("no equals sign").is_err());
    }
}
