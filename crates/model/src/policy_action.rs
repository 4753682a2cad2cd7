//! What an attached built-in policy does, parsed once from its `parameters`: the control
//! plane parses to validate, the gateway to compile. Parameters are read as WSO2 sends them
//! (strings, numbers or booleans); errors name `parameters.<name>`.

use crate::json_schema::JsonSchema;
use crate::{InvalidField, PolicyRef};

/// A built-in policy, resolved.
#[derive(Debug, Clone)]
pub enum PolicyAction {
    /// Replace the header's values with one (`addHeader`, `setHeader`).
    SetHeader { name: String, value: String },
    /// Add a value, keeping the others (`appendHeader`).
    AppendHeader { name: String, value: String },
    /// Remove the header (`removeHeader`).
    RemoveHeader { name: String },
    /// Move the header's values to another name (`renameHeader`).
    RenameHeader { from: String, to: String },
    /// Add a query parameter (`addQueryParam`).
    AddQueryParam { name: String, value: String },
    /// Remove every occurrence of a query parameter (`removeQueryParam`).
    RemoveQueryParam { name: String },
    /// Send the request with another method (`changeHTTPMethod`).
    ChangeMethod { method: String },
    /// Replace the resource path (`rewriteResourcePath`).
    RewritePath { path: String, keep_query: bool },
    /// Send the request to another backend (`setBackendEndpoint`).
    SetEndpoint { url: String, timeout_ms: u64 },
    /// Convert a JSON body to XML under `root` (`jsonToXML`).
    JsonToXml { root: String },
    /// Convert an XML body to JSON (`xmlToJson`).
    XmlToJson,
    /// Refuse a request body the schema does not accept (`jsonSchemaValidator`).
    ValidateSchema { schema: Box<JsonSchema> },
    /// Refuse a request body over this many bytes (`bodySizeLimit`).
    BodySizeLimit { max_bytes: u64 },
    /// Answer with a fixed response (`mockResponse`).
    Mock(MockResponse),
    /// Ask an external service (`callInterceptorService`).
    CallOut(CallOut),
}

/// A fixed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockResponse {
    /// Status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// An interceptor service call (Choreo Connect's model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOut {
    /// The service's base URL; `/api/v1/handle-request` or `/api/v1/handle-response` is
    /// appended.
    pub url: String,
    /// Send the headers.
    pub headers: bool,
    /// Send the body (base64); the body is buffered for it.
    pub body: bool,
    /// Send the invocation context (method, path, API, …).
    pub context: bool,
    /// Give up after this long.
    pub timeout_ms: u64,
    /// When the service fails: go on unchanged (`true`) or answer 503/504.
    pub fail_open: bool,
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(&b))
}

fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

struct Params<'a>(&'a PolicyRef);

impl Params<'_> {
    fn field(name: &str) -> String {
        format!("parameters.{name}")
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, InvalidField> {
        match self.0.parameters.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
            Some(serde_json::Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(InvalidField::new(Self::field(name), "must be a string")),
        }
    }

    fn text(&self, name: &str) -> Result<String, InvalidField> {
        self.opt_text(name)?
            .ok_or_else(|| InvalidField::new(Self::field(name), "is required (a string)"))
    }

    fn header_name(&self, name: &str) -> Result<String, InvalidField> {
        let value = self.text(name)?;
        if is_header_name(&value) {
            Ok(value)
        } else {
            Err(InvalidField::new(
                Self::field(name),
                format!("'{value}' is not a header name"),
            ))
        }
    }

    fn header_value(&self, name: &str) -> Result<String, InvalidField> {
        let value = self.text(name)?;
        if is_header_value(&value) {
            Ok(value)
        } else {
            Err(InvalidField::new(
                Self::field(name),
                "must be visible ASCII",
            ))
        }
    }

    fn number(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, InvalidField> {
        let Some(raw) = self.opt_text(name)? else {
            return Ok(default);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                InvalidField::new(
                    Self::field(name),
                    format!(
                        "must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, InvalidField> {
        match self.opt_text(name)?.as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(InvalidField::new(
                Self::field(name),
                "must be true or false",
            )),
        }
    }

    fn url(&self, name: &str) -> Result<String, InvalidField> {
        let url = self.text(name)?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(rest)
                if !rest.is_empty()
                    && !rest.starts_with('/')
                    && !url.contains(char::is_whitespace) =>
            {
                Ok(url)
            }
            _ => Err(InvalidField::new(
                Self::field(name),
                format!("'{url}' is not an http:// or https:// URL"),
            )),
        }
    }

    /// A JSON parameter: an object or array, or a string holding one.
    fn json(&self, name: &str) -> Result<Option<serde_json::Value>, InvalidField> {
        match self.0.parameters.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| InvalidField::new(Self::field(name), format!("is not JSON: {e}"))),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

impl PolicyAction {
    /// What `policy` does, or why it is not a built-in policy with valid parameters.
    pub fn parse(policy: &PolicyRef) -> Result<Self, InvalidField> {
        let p = Params(policy);
        Ok(match policy.policy_name.as_str() {
            "addHeader" | "setHeader" => PolicyAction::SetHeader {
                name: p.header_name("headerName")?,
                value: p.header_value("headerValue")?,
            },
            "appendHeader" => PolicyAction::AppendHeader {
                name: p.header_name("headerName")?,
                value: p.header_value("headerValue")?,
            },
            "removeHeader" => PolicyAction::RemoveHeader {
                name: p.header_name("headerName")?,
            },
            "renameHeader" => PolicyAction::RenameHeader {
                from: p.header_name("currentHeaderName")?,
                to: p.header_name("newHeaderName")?,
            },
            "addQueryParam" => PolicyAction::AddQueryParam {
                name: nonempty(p.text("paramKey")?, "paramKey")?,
                value: p.text("paramValue")?,
            },
            "removeQueryParam" => PolicyAction::RemoveQueryParam {
                name: nonempty(p.text("paramKey")?, "paramKey")?,
            },
            "changeHTTPMethod" => {
                let method = p.text("updatedMethod")?;
                if !matches!(
                    method.as_str(),
                    "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
                ) {
                    return Err(InvalidField::new(
                        "parameters.updatedMethod",
                        format!(
                            "'{method}' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
                        ),
                    ));
                }
                PolicyAction::ChangeMethod { method }
            }
            "rewriteResourcePath" => {
                let path = p.text("resourcePath")?;
                if !path.starts_with('/')
                    || path
                        .bytes()
                        .any(|b| b <= b' ' || b == b'?' || b == b'#' || b == 0x7f || b == b'\\')
                    || path.split('/').any(|s| s == "." || s == "..")
                {
                    return Err(InvalidField::new(
                        "parameters.resourcePath",
                        format!(
                            "'{path}' is not a path starting with '/' (no spaces, '?', '#', '\\' or dot segments)"
                        ),
                    ));
                }
                PolicyAction::RewritePath {
                    path,
                    keep_query: p.flag("includeQueryParams", true)?,
                }
            }
            "setBackendEndpoint" => PolicyAction::SetEndpoint {
                url: p.url("endpointUrl")?,
                timeout_ms: p.number("timeout", 60_000, 1..=600_000)?,
            },
            "jsonToXML" => {
                let root = p
                    .opt_text("rootElement")?
                    .unwrap_or_else(|| "jsonObject".to_owned());
                if !is_xml_name(&root) {
                    return Err(InvalidField::new(
                        "parameters.rootElement",
                        format!("'{root}' is not an XML element name"),
                    ));
                }
                PolicyAction::JsonToXml { root }
            }
            "xmlToJson" => PolicyAction::XmlToJson,
            "jsonSchemaValidator" => {
                let schema = p
                    .json("schema")?
                    .ok_or_else(|| InvalidField::new("parameters.schema", "is required"))?;
                PolicyAction::ValidateSchema {
                    schema: Box::new(
                        JsonSchema::compile(&schema).map_err(|e| e.within("parameters.schema"))?,
                    ),
                }
            }
            "bodySizeLimit" => PolicyAction::BodySizeLimit {
                max_bytes: p.number("maxSizeBytes", 0, 0..=(1 << 40))?,
            },
            "mockResponse" => {
                let headers = match p.json("headers")? {
                    None => Vec::new(),
                    Some(serde_json::Value::Object(map)) => map
                        .into_iter()
                        .map(|(name, value)| {
                            let value = match value {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            if is_header_name(&name) && is_header_value(&value) {
                                Ok((name, value))
                            } else {
                                Err(InvalidField::new(
                                    "parameters.headers",
                                    format!(
                                        "'{name}' is not a header name with a visible ASCII value"
                                    ),
                                ))
                            }
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(InvalidField::new(
                            "parameters.headers",
                            "must be a JSON object of header names and values",
                        ));
                    }
                };
                let content_type = p
                    .opt_text("contentType")?
                    .unwrap_or_else(|| "application/json".to_owned());
                if !is_header_value(&content_type) {
                    return Err(InvalidField::new(
                        "parameters.contentType",
                        "must be visible ASCII",
                    ));
                }
                PolicyAction::Mock(MockResponse {
                    status: u16::try_from(p.number("statusCode", 200, 200..=599)?).unwrap_or(200),
                    headers,
                    content_type,
                    body: p.opt_text("body")?.unwrap_or_default(),
                })
            }
            "callInterceptorService" => {
                let includes = p.opt_text("includes")?.unwrap_or_else(|| {
                    "request_headers,response_headers,invocation_context".to_owned()
                });
                let mut call = CallOut {
                    url: p
                        .url("interceptorServiceURL")?
                        .trim_end_matches('/')
                        .to_owned(),
                    headers: false,
                    body: false,
                    context: false,
                    timeout_ms: p.number("timeout", 5_000, 1..=60_000)?,
                    fail_open: match p.opt_text("failureMode")?.as_deref() {
                        None | Some("failClosed") => false,
                        Some("failOpen") => true,
                        Some(other) => {
                            return Err(InvalidField::new(
                                "parameters.failureMode",
                                format!("'{other}' is not one of failOpen, failClosed"),
                            ));
                        }
                    },
                };
                for part in includes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match part {
                        "request_headers" | "response_headers" => call.headers = true,
                        "request_body" | "response_body" => call.body = true,
                        "invocation_context" => call.context = true,
                        "request_trailers" | "response_trailers" => {}
                        other => {
                            return Err(InvalidField::new(
                                "parameters.includes",
                                format!(
                                    "'{other}' is not one of request_headers, request_body, response_headers, response_body, invocation_context"
                                ),
                            ));
                        }
                    }
                }
                PolicyAction::CallOut(call)
            }
            other => {
                return Err(InvalidField::new(
                    "policyName",
                    format!(
                        "'{other}' is not a policy the gateway runs; GET /operation-policies lists them"
                    ),
                ));
            }
        })
    }

    /// Whether the policy reads or replaces the message body (only these buffer it).
    pub fn touches_body(&self) -> bool {
        match self {
            PolicyAction::JsonToXml { .. }
            | PolicyAction::XmlToJson
            | PolicyAction::ValidateSchema { .. } => true,
            PolicyAction::CallOut(call) => call.body,
            _ => false,
        }
    }
}

/// An XML element name without a prefix (letters, digits, `_`, `-`, `.`; not starting with
/// a digit, `-` or `.`).
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn nonempty(value: String, name: &str) -> Result<String, InvalidField> {
    if value.is_empty() {
        Err(InvalidField::new(
            format!("parameters.{name}"),
            "must not be empty",
        ))
    } else {
        Ok(value)
    }
}
