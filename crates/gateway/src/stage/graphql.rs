//! The GraphQL stage, for `type: GRAPHQL` APIs only: right after routing, the request's
//! document (`POST` JSON `{query, operationName, variables}` or `application/graphql`, or
//! `GET ?query=`) is read and parsed once (`gantry_graphql`); the operation entries of the
//! root fields it touches replace the route's, so authenticate and authorise see the
//! strictest of them; after authorisation each further field is checked and counted, and the
//! depth and complexity against the caller's subscription tier. Refusals of the document
//! itself are GraphQL error bodies (`{"errors":[{"message": …}]}`). WebSocket handshakes
//! pass on; their `subscribe` messages are checked by `graphql_ws`.

use bytes::Bytes;
use gantry_graphql::{Analysis, OperationKind, analyze};
use gantry_model::AuthType;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use super::Answer;
use super::authenticate::Authenticated;
use super::limit::Limiters;
use super::route::Routed;
use crate::compiled::graphql::GraphQlApi;
use crate::compiled::limits::GraphQlLimits;
use crate::compiled::{CompiledConfig, OperationEntry};
use crate::credential::Caller;
use crate::metrics::Outcome;
use crate::policy::run::RequestBody;
use crate::respond;

/// The largest GraphQL request body read (a document and its variables).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// WSO2's error codes for a query over its tier's depth or complexity.
const QUERY_TOO_DEEP: u32 = 900820;
const QUERY_TOO_COMPLEX: u32 = 900821;

/// A GraphQL request, read: what its document selects.
pub struct Selected {
    /// The document's analysis (kind, root fields, depth, complexity).
    pub analysis: Analysis,
    /// The request body, read (sent upstream as it came).
    pub body: Bytes,
}

/// For a GraphQL API, reads and analyses the request's document and routes it to the
/// strictest operation it touches; other requests (and WebSocket handshakes) pass on with
/// their body unread.
pub async fn read<'c>(
    routed: Routed<'c>,
    request: &Request<()>,
    body: &mut Incoming,
    websocket: bool,
    outcome: &mut Outcome,
) -> Result<(Routed<'c>, Option<Selected>), Answer> {
    let graphql: Option<&'c GraphQlApi> = routed.entry.api.graphql.as_deref();
    let (Some(graphql), false) = (graphql, websocket) else {
        return Ok((routed, None));
    };
    let (document, body) = match *request.method() {
        Method::GET => (from_query(request.uri().query())?, Bytes::new()),
        Method::POST => {
            let body = Limited::new(body, MAX_DOCUMENT_BYTES)
                .collect()
                .await
                .map_err(|_| {
                    error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!(
                            "The GraphQL request is unreadable or larger than {MAX_DOCUMENT_BYTES} bytes"
                        ),
                        None,
                    )
                })?
                .to_bytes();
            (from_body(request.headers(), &body)?, body)
        }
        _ => {
            return Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Use POST or GET",
                None,
            ));
        }
    };
    let analysis = analyze(
        &document.query,
        document.operation_name.as_deref(),
        &graphql.schema,
        &|type_name, field| graphql.cost(type_name, field),
    )
    .map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string(), None))?;
    if analysis.kind == OperationKind::Mutation && request.method() == Method::GET {
        // GET must be safe (GraphQL over HTTP): a mutation in a link is not run.
        return Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Mutations are sent with POST",
            None,
        ));
    }
    if analysis.kind == OperationKind::Subscription {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Subscriptions are served over WebSocket (graphql-transport-ws)",
            None,
        ));
    }
    if analysis.introspection && !graphql.introspection {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Introspection is disabled for this API",
            None,
        ));
    }
    let operations = root_operations(graphql, &analysis);
    let routed = Routed {
        operation: strictest(&operations).unwrap_or(routed.operation),
        ..routed
    };
    outcome.operation = Some(crate::metrics::Name(routed.operation.key.clone()));
    Ok((routed, Some(Selected { analysis, body })))
}

/// The body to send upstream: the one a GraphQL request's document was read from, or the
/// client's, still streaming.
pub fn body(body: Incoming, read: Option<Bytes>, limit: u64) -> RequestBody {
    match read {
        Some(bytes) => RequestBody::Made(bytes),
        None => RequestBody::Client { body, limit },
    }
}

/// How long the body the limits see is: a GraphQL document's as read, else as declared.
pub fn body_length(selected: Option<&Selected>, body: &Incoming) -> Option<u64> {
    match selected {
        Some(selected) => Some(selected.body.len() as u64),
        None => hyper::body::Body::size_hint(body).exact(),
    }
}

/// The operations of the root fields `analysis` selects (introspection fields have none).
fn root_operations<'c>(graphql: &'c GraphQlApi, analysis: &Analysis) -> Vec<&'c OperationEntry> {
    analysis
        .root_fields
        .iter()
        .filter_map(|field| graphql.operation(analysis.kind, field))
        .collect()
}

/// The operation that decides authentication: the first that needs a credential, else the
/// first (all open).
fn strictest<'c>(operations: &[&'c OperationEntry]) -> Option<&'c OperationEntry> {
    operations
        .iter()
        .find(|op| op.auth_type != AuthType::None)
        .or(operations.first())
        .copied()
}

/// After authorisation of the route's operation (nothing to do for other requests): every
/// other root field is authorised and counted against its own limit, and the document's
/// depth and complexity are held against the caller's subscription tier. The root fields'
/// operations are those of the revision that serves the call (a canary's may differ from
/// the one `read` routed by).
pub async fn check(
    config: &CompiledConfig,
    routed: &Routed<'_>,
    selected: Option<&Selected>,
    who: &Authenticated,
    limits: &Limiters,
    outcome: &mut Outcome,
) -> Result<(), Answer> {
    let Some(selected) = selected else {
        return Ok(());
    };
    let operations = routed
        .api
        .graphql
        .as_deref()
        .map(|graphql| root_operations(graphql, &selected.analysis))
        .unwrap_or_default();
    let others = operations
        .iter()
        .filter(|op| !std::ptr::eq(**op, routed.operation));
    let anonymous = who.caller.is_none() && who.certificate.is_none();
    if anonymous && operations.iter().any(|op| op.auth_type != AuthType::None) {
        // Only when a canary's root fields ask more than the revision `read` routed by.
        let denied = crate::authn::denial::missing_credentials();
        outcome.failure = Some(denied.reason());
        return Err(denied.into_response());
    }
    if let Some(caller) = &who.caller {
        for op in others.clone() {
            super::authorise::operation_allows(op, caller).map_err(|denied| {
                outcome.failure = Some(denied.reason());
                denied.into_response()
            })?;
        }
        let tier = tier_limits(config, routed, caller);
        within_limits(&selected.analysis, tier.as_deref()).map_err(|refusal| {
            outcome.failure = Some("graphql limit");
            refusal.into_response()
        })?;
    }
    for op in others {
        limits.admit_operation(&routed.api, op, outcome).await?;
    }
    Ok(())
}

/// The GraphQL limits of `caller`'s subscription to `routed`'s API.
pub fn tier_limits(
    config: &CompiledConfig,
    routed: &Routed<'_>,
    caller: &Caller,
) -> Option<std::sync::Arc<GraphQlLimits>> {
    config
        .subscriptions
        .get(&(caller.application_id.clone(), routed.api.id.clone()))
        .and_then(|s| s.graphql.clone())
}

/// A document over its tier's depth or complexity.
pub struct Refusal {
    /// WSO2's code.
    pub code: u32,
    /// What was exceeded, and the limit.
    pub message: String,
}

impl Refusal {
    /// The 400 answer with a GraphQL error body.
    pub fn into_response(self) -> Answer {
        error(StatusCode::BAD_REQUEST, &self.message, Some(self.code))
    }
}

/// Whether `analysis` is within `limits` (none: anything is).
pub fn within_limits(analysis: &Analysis, limits: Option<&GraphQlLimits>) -> Result<(), Refusal> {
    let Some(limits) = limits else {
        return Ok(());
    };
    if let Some(max) = limits.max_depth
        && analysis.depth > max
    {
        return Err(Refusal {
            code: QUERY_TOO_DEEP,
            message: format!(
                "QUERY TOO DEEP: the query's depth is {}, the maximum query depth of tier {} is {max}",
                analysis.depth, limits.tier
            ),
        });
    }
    if let Some(max) = limits.max_complexity
        && analysis.complexity > u64::from(max)
    {
        return Err(Refusal {
            code: QUERY_TOO_COMPLEX,
            message: format!(
                "QUERY TOO COMPLEX: the query's complexity is {}, the maximum query complexity of tier {} is {max}",
                analysis.complexity, limits.tier
            ),
        });
    }
    Ok(())
}

/// A GraphQL request's document and operation name.
#[derive(Debug)]
struct Document {
    query: String,
    operation_name: Option<String>,
}

fn from_query(query: Option<&str>) -> Result<Document, Answer> {
    let mut document = None;
    let mut operation_name = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "query" => document = Some(value.into_owned()),
            "operationName" => operation_name = Some(value.into_owned()),
            _ => {}
        }
    }
    let query = document.ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "A GraphQL GET request needs a 'query' parameter",
            None,
        )
    })?;
    Ok(Document {
        query,
        operation_name,
    })
}

fn from_body(headers: &http::HeaderMap, body: &[u8]) -> Result<Document, Answer> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() == Some("application/graphql") {
        let query = String::from_utf8(body.to_vec())
            .map_err(|_| error(StatusCode::BAD_REQUEST, "The document is not UTF-8", None))?;
        return Ok(Document {
            query,
            operation_name: None,
        });
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        query: Option<String>,
        operation_name: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("The request body is not a GraphQL JSON request: {e}"),
            None,
        )
    })?;
    let query = parsed.query.ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "The request body has no 'query'",
            None,
        )
    })?;
    Ok(Document {
        query,
        operation_name: parsed.operation_name,
    })
}

/// A GraphQL error response: `{"errors":[{"message": …, "extensions": {"code": …}}]}`.
pub fn error(status: StatusCode, message: &str, code: Option<u32>) -> Answer {
    let mut error = serde_json::json!({ "message": message });
    if let Some(code) = code {
        error["extensions"] = serde_json::json!({ "code": code });
    }
    let body = serde_json::json!({ "errors": [error] });
    let mut response = Response::new(respond::full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn analysis(depth: u32, complexity: u64) -> Analysis {
        Analysis {
            kind: OperationKind::Query,
            root_fields: vec!["a".into()],
            depth,
            complexity,
            introspection: false,
        }
    }

    /// A GraphQL API revision whose root field `hello` takes callers of `auth`.
    fn revision(revision: &str, auth: &str) -> serde_json::Value {
        serde_json::json!({
            "api_id": "books", "revision_id": revision, "name": "Books", "context": "/books",
            "version": "1.0.0", "vhost": "localhost", "lifecycle": "PUBLISHED",
            "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "http",
                "production_endpoints": {"url": "http://127.0.0.1:1/graphql"}},
            "operations": [{"target": "/", "verb": "POST",
                "authType": "Application & Application User", "throttlingPolicy": "Unlimited"}],
            "gateway": {"graphql": {"schema": "type Query { hello: String }",
                "operations": [{"target": "hello", "verb": "QUERY", "authType": auth}]}},
        })
    }

    #[tokio::test]
    async fn a_canary_revision_is_checked_by_its_own_root_fields() {
        let snapshot: gantry_model::GatewaySnapshot = serde_json::from_value(serde_json::json!({
            "environment": "e", "version": 1, "apis": [revision("r1", "None")],
            "applications": [], "key_mappings": [], "subscriptions": [], "issuers": [],
            "canaries": [{"api_id": "books", "weight": 50,
                          "revision": revision("r2", "Application")}],
        }))
        .unwrap();
        let traffic = crate::traffic::TrafficRegistry::default();
        let config = CompiledConfig::compile_counting(&snapshot, &traffic).unwrap();
        let limits = Limiters::new(std::sync::Arc::new(crate::metrics::GatewayMetrics::new(
            "e",
        )));
        let anonymous = Authenticated::default();
        let routed = |matched| match matched {
            crate::compiled::router::RouteMatch::Found { entry, operation } => Routed {
                entry,
                operation,
                api: entry.api.clone(),
            },
            _ => panic!("POST /books/1.0.0/ is routed"),
        };
        let stable = routed(config.route("localhost", "/books/1.0.0/", &Method::POST));
        let graphql = stable.entry.api.graphql.as_deref().unwrap();
        let analysis = analyze("{ hello }", None, &graphql.schema, &|_, _| 1).unwrap();
        let selected = Selected {
            analysis,
            body: Bytes::new(),
        };
        let mut outcome = Outcome::default();
        // The stable revision's `hello` is open: nothing to refuse.
        let stable = Routed {
            operation: strictest(&root_operations(graphql, &selected.analysis)).unwrap(),
            ..stable
        };
        check(
            &config,
            &stable,
            Some(&selected),
            &anonymous,
            &limits,
            &mut outcome,
        )
        .await
        .unwrap();
        // The canary's asks for an application: an anonymous call it serves is refused.
        let canaries = config.canaries.as_deref().unwrap();
        let canary = routed(canaries.route("localhost", "/books/1.0.0/", &Method::POST));
        let refused = check(
            &config,
            &canary,
            Some(&selected),
            &anonymous,
            &limits,
            &mut outcome,
        )
        .await
        .unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(outcome.failure, Some("missing_credentials"));
        // Other requests pass.
        check(&config, &canary, None, &anonymous, &limits, &mut outcome)
            .await
            .unwrap();
    }

    #[test]
    fn depth_and_complexity_are_held_against_the_tier() {
        let gold = GraphQlLimits {
            tier: "Gold".into(),
            max_depth: Some(3),
            max_complexity: Some(10),
        };
        assert!(within_limits(&analysis(3, 10), Some(&gold)).is_ok());
        let deep = within_limits(&analysis(4, 1), Some(&gold)).err().unwrap();
        assert_eq!(deep.code, QUERY_TOO_DEEP);
        assert!(deep.message.contains("depth is 4") && deep.message.contains("is 3"));
        let complex = within_limits(&analysis(1, 11), Some(&gold)).err().unwrap();
        assert_eq!(complex.code, QUERY_TOO_COMPLEX);
        assert!(within_limits(&analysis(99, 999), None).is_ok());
    }

    #[test]
    fn reads_get_and_post_documents() {
        let get = from_query(Some("query=%7B%20a%20%7D&operationName=Q")).unwrap();
        assert_eq!(get.query, "{ a }");
        assert_eq!(get.operation_name.as_deref(), Some("Q"));
        assert!(from_query(Some("x=1")).is_err());
        let json = from_body(
            &http::HeaderMap::new(),
            br#"{"query":"{ a }","variables":{}}"#,
        )
        .unwrap();
        assert_eq!(json.query, "{ a }");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/graphql"),
        );
        assert_eq!(from_body(&headers, b"{ b }").unwrap().query, "{ b }");
        assert_eq!(
            from_body(&http::HeaderMap::new(), b"not json")
                .unwrap_err()
                .status(),
            StatusCode::BAD_REQUEST
        );
    }
}
