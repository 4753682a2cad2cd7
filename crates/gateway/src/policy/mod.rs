//! Operation policies (WSO2 4.x) at the gateway. Each kind is one module: `headers`, `uri`
//! (query, path, method), `transform` (JSON ↔ XML), `callout` (interceptor service); the
//! JSON-schema validator is `gantry_model::json_schema`. A [`Chain`] is the gateway's,
//! the API's and the operation's policies in that order, compiled once per configuration
//! version; `run` applies it to a request, a response or a gateway-made error (fault).
//! Only chains with a body policy buffer a body; the others stream as before.

pub mod callout;
pub mod headers;
pub mod run;
pub mod transform;
pub mod uri;

use std::sync::Arc;

use bytes::Bytes;
use gantry_model::ApiPolicies;
use gantry_model::json_schema::JsonSchema;
use gantry_model::operation_policy::{Flow, check_attached};
use gantry_model::policy_action::{MockResponse, PolicyAction};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::compiled::upstream::UpstreamPool;
use crate::respond::{self, Body};
use headers::HeaderOp;
use uri::UriOp;

/// One step of a request or response flow, in the order it was attached.
#[derive(Debug)]
pub enum Step {
    /// A header change.
    Header(HeaderOp),
    /// A change to the request line.
    Uri(UriOp),
    /// `jsonToXML` with this root element.
    JsonToXml(Box<str>),
    /// `xmlToJson`.
    XmlToJson,
    /// `jsonSchemaValidator`.
    Validate(Box<JsonSchema>),
    /// `callInterceptorService`.
    CallOut(Box<callout::CallOut>),
}

impl Step {
    fn touches_body(&self) -> bool {
        match self {
            Step::JsonToXml(_) | Step::XmlToJson | Step::Validate(_) => true,
            Step::CallOut(call) => call.body,
            Step::Header(_) | Step::Uri(_) => false,
        }
    }
}

/// The policies one operation runs, compiled.
pub struct Chain {
    /// Request flow steps.
    pub request: Box<[Step]>,
    /// Response flow steps.
    pub response: Box<[Step]>,
    /// Fault flow: header changes on gateway-made errors.
    pub fault: Box<[HeaderOp]>,
    /// Some request step reads or replaces the body.
    pub request_body: bool,
    /// Some response step reads or replaces the body.
    pub response_body: bool,
    /// `mockResponse`: answered instead of calling the backend.
    pub mock: Option<MockResponse>,
    /// `setBackendEndpoint`: where requests go instead of the API's endpoint.
    pub endpoint: Option<Box<UpstreamPool>>,
    /// `bodySizeLimit`: the smallest one attached.
    pub body_limit: Option<u64>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("request", &self.request)
            .field("response", &self.response)
            .field("fault", &self.fault)
            .field("mock", &self.mock)
            .field("endpoint", &self.endpoint.is_some())
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl Chain {
    /// Compiles `levels` (gateway, API, operation) in order; `None` when there is no policy
    /// at all, so such operations cost nothing on the request path.
    pub fn compile(levels: &[&ApiPolicies]) -> Result<Option<Arc<Self>>, String> {
        if levels.iter().all(|l| l.is_empty()) {
            return Ok(None);
        }
        let mut chain = Chain {
            request: Box::default(),
            response: Box::default(),
            fault: Box::default(),
            request_body: false,
            response_body: false,
            mock: None,
            endpoint: None,
            body_limit: None,
        };
        let mut request = Vec::new();
        let mut response = Vec::new();
        let mut fault = Vec::new();
        for flow in [Flow::Request, Flow::Response, Flow::Fault] {
            for policy in levels.iter().flat_map(|l| l.flow(flow)) {
                let named = |e: &dyn std::fmt::Display| {
                    format!("{} policy '{}': {e}", flow.as_str(), policy.policy_name)
                };
                check_attached(policy, flow).map_err(|e| named(&e))?;
                let action = PolicyAction::parse(policy).map_err(|e| named(&e))?;
                let steps = match flow {
                    Flow::Request => &mut request,
                    Flow::Response => &mut response,
                    Flow::Fault => {
                        match header_op(&action).map_err(|e| named(&e))? {
                            Some(op) => fault.push(op),
                            None => return Err(named(&"not a fault-flow policy")),
                        }
                        continue;
                    }
                };
                if let Some(op) = header_op(&action).map_err(|e| named(&e))? {
                    steps.push(Step::Header(op));
                    continue;
                }
                match action {
                    PolicyAction::AddQueryParam { name, value } => {
                        steps.push(Step::Uri(UriOp::add_query(&name, &value)));
                    }
                    PolicyAction::RemoveQueryParam { name } => {
                        steps.push(Step::Uri(UriOp::remove_query(&name)));
                    }
                    PolicyAction::ChangeMethod { method } => steps.push(Step::Uri(
                        UriOp::method(&method).ok_or_else(|| named(&"not a method"))?,
                    )),
                    PolicyAction::RewritePath { path, keep_query } => {
                        steps.push(Step::Uri(UriOp::Path {
                            path: path.into(),
                            keep_query,
                        }));
                    }
                    PolicyAction::SetEndpoint { url, timeout_ms } => {
                        chain.endpoint =
                            Some(Box::new(endpoint(&url, timeout_ms).map_err(|e| named(&e))?));
                    }
                    PolicyAction::JsonToXml { root } => steps.push(Step::JsonToXml(root.into())),
                    PolicyAction::XmlToJson => steps.push(Step::XmlToJson),
                    PolicyAction::ValidateSchema { schema } => steps.push(Step::Validate(schema)),
                    PolicyAction::BodySizeLimit { max_bytes } => {
                        chain.body_limit =
                            Some(chain.body_limit.map_or(max_bytes, |b| b.min(max_bytes)));
                    }
                    PolicyAction::Mock(mock) => {
                        chain.mock.get_or_insert(mock);
                    }
                    PolicyAction::CallOut(call) => steps.push(Step::CallOut(Box::new(
                        callout::CallOut::compile(&call).map_err(|e| named(&e))?,
                    ))),
                    PolicyAction::SetHeader { .. }
                    | PolicyAction::AppendHeader { .. }
                    | PolicyAction::RemoveHeader { .. }
                    | PolicyAction::RenameHeader { .. } => {}
                }
            }
        }
        chain.request_body = request.iter().any(Step::touches_body);
        chain.response_body = response.iter().any(Step::touches_body);
        chain.request = request.into_boxed_slice();
        chain.response = response.into_boxed_slice();
        chain.fault = fault.into_boxed_slice();
        Ok(Some(Arc::new(chain)))
    }

    /// The mock response, when the chain has one.
    pub fn mock_response(&self) -> Option<Response<Body>> {
        let mock = self.mock.as_ref()?;
        let mut response = Response::new(respond::full(Bytes::from(mock.body.clone())));
        *response.status_mut() = StatusCode::from_u16(mock.status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&mock.content_type) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        for (name, value) in &mock.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        Some(response)
    }
}

/// The header change an action makes, if it is a header policy.
fn header_op(action: &PolicyAction) -> Result<Option<HeaderOp>, String> {
    Ok(Some(match action {
        PolicyAction::SetHeader { name, value } => HeaderOp::set(name, value)?,
        PolicyAction::AppendHeader { name, value } => HeaderOp::append(name, value)?,
        PolicyAction::RemoveHeader { name } => HeaderOp::remove(name)?,
        PolicyAction::RenameHeader { from, to } => HeaderOp::rename(from, to)?,
        _ => return Ok(None),
    }))
}

/// The pool of a `setBackendEndpoint` URL.
fn endpoint(url: &str, timeout_ms: u64) -> Result<UpstreamPool, String> {
    let endpoint = gantry_model::Endpoint {
        url: url.to_owned(),
        config: Some(gantry_model::api::EndpointSettings {
            action_duration: Some(timeout_ms),
        }),
    };
    UpstreamPool::compile(&Default::default(), &endpoint.into(), &[])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policies(json: serde_json::Value) -> ApiPolicies {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_body_policies_buffer_and_levels_run_in_order() {
        let header = |v: &str| serde_json::json!({"policyName": "addHeader", "parameters": {"headerName": "X-L", "headerValue": v}});
        let gateway = policies(serde_json::json!({"request": [header("gateway")]}));
        let api = policies(serde_json::json!({"request": [header("api")],
            "response": [header("api")], "fault": [header("api")]}));
        let op = policies(serde_json::json!({"request": [header("op"),
            {"policyName": "addQueryParam", "parameters": {"paramKey": "a", "paramValue": "b"}}]}));
        let chain = Chain::compile(&[&gateway, &api, &op]).unwrap().unwrap();
        assert!(
            !chain.request_body && !chain.response_body,
            "headers and query stream"
        );
        let mut headers = http::HeaderMap::new();
        for step in chain.request.iter() {
            if let Step::Header(op) = step {
                op.apply(&mut headers);
            }
        }
        assert_eq!(headers["x-l"], "op", "gateway, then API, then operation");
        assert_eq!(chain.fault.len(), 1);

        let body = policies(serde_json::json!({"request": [{"policyName": "jsonToXML"}]}));
        assert!(Chain::compile(&[&body]).unwrap().unwrap().request_body);
        assert!(
            Chain::compile(&[&ApiPolicies::default()])
                .unwrap()
                .is_none()
        );
        let wrong_flow = policies(serde_json::json!({"fault": [{"policyName": "jsonToXML"}]}));
        assert!(
            Chain::compile(&[&wrong_flow])
                .unwrap_err()
                .contains("fault policy 'jsonToXML'")
        );
    }
}
