//! MCP tools made from OpenAPI operations: the tool's name (the `operationId`, or verb and
//! path), its description, and the `inputSchema` built from the operation's parameters
//! (path, query, header) and JSON request body (argument `requestBody`), with the
//! document's local `$ref`s inlined. Pure functions over the parsed document.

use gantry_model::mcp::{
    McpTool, ParameterLocation, REQUEST_BODY_ARGUMENT, ToolBackend, ToolParameter, is_tool_name,
};
use gantry_model::{AuthType, HttpVerb, InvalidField, ResourceTarget};
use serde_json::{Map, Value, json};

/// How deep `$ref`s are followed (a cycle ends in an open schema).
const MAX_REF_DEPTH: usize = 8;

/// One operation of a document a tool is made from, as the publisher chose it.
#[derive(Debug, Clone)]
pub struct ToolChoice {
    /// The operation's path in the document.
    pub target: String,
    /// Its verb.
    pub verb: HttpVerb,
    /// The tool's name; the operation's `operationId` (or `verb_path`) when `None`.
    pub name: Option<String>,
    /// The tool's description; the operation's summary or description when `None`.
    pub description: Option<String>,
    /// Scopes; the operation's `security` scopes when `None`.
    pub scopes: Option<Vec<String>>,
    /// Throttling policy; `Unlimited` when `None`.
    pub throttling_policy: Option<String>,
    /// Auth type; the document's `x-auth-type` or `Any` when `None`.
    pub auth_type: Option<AuthType>,
}

/// Every operation of `document` (its `paths`), as choices with nothing set.
pub fn all_operations(document: &Value) -> Vec<ToolChoice> {
    let mut out = Vec::new();
    for (path, item) in document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for verb in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(verb).is_some()
                && !path.contains('*')
                && let Some(verb) = HttpVerb::parse(verb)
            {
                out.push(ToolChoice {
                    target: path.clone(),
                    verb,
                    name: None,
                    description: None,
                    scopes: None,
                    throttling_policy: None,
                    auth_type: None,
                });
            }
        }
    }
    out
}

/// The tool for `choice` in `document`; the error names the operation (`operations[i]`).
pub fn tool(document: &Value, choice: &ToolChoice, at: &str) -> Result<McpTool, InvalidField> {
    let verb = choice.verb.as_str().to_ascii_lowercase();
    let item = document
        .get("paths")
        .and_then(|p| p.get(&choice.target))
        .and_then(Value::as_object);
    let Some(op) = item.and_then(|i| i.get(&verb)).and_then(Value::as_object) else {
        return Err(InvalidField::new(
            format!("{at}.backendOperation"),
            format!(
                "{} {} is not an operation of the API's definition",
                choice.verb.as_str(),
                choice.target
            ),
        ));
    };
    let target = ResourceTarget::parse(&choice.target)
        .map_err(|e| InvalidField::new(format!("{at}.backendOperation.target"), e.reason))?;
    let swagger2 = document.get("swagger").is_some();
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut parameters = Vec::new();
    let declared = item
        .and_then(|i| i.get("parameters"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    let mut body = None;
    for raw in declared {
        let p = inline(document, raw, 0);
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let location = match location {
            "path" => ParameterLocation::Path,
            "query" => ParameterLocation::Query,
            "header" => ParameterLocation::Header,
            "body" if swagger2 => {
                body = Some((
                    p.get("schema").cloned().unwrap_or(json!({})),
                    p.get("required").and_then(Value::as_bool).unwrap_or(false),
                ));
                continue;
            }
            _ => continue,
        };
        if name == REQUEST_BODY_ARGUMENT
            || parameters.iter().any(|q: &ToolParameter| q.name == name)
        {
            continue;
        }
        let mut schema = if swagger2 {
            let mut s = Map::new();
            for key in [
                "type", "items", "enum", "format", "minimum", "maximum", "pattern",
            ] {
                if let Some(v) = p.get(key) {
                    s.insert(key.into(), v.clone());
                }
            }
            Value::Object(s)
        } else {
            p.get("schema")
                .cloned()
                .unwrap_or(json!({"type": "string"}))
        };
        if let (Some(description), Value::Object(s)) = (p.get("description"), &mut schema) {
            s.entry("description").or_insert(description.clone());
        }
        if location == ParameterLocation::Path
            || p.get("required").and_then(Value::as_bool) == Some(true)
        {
            required.push(json!(name));
        }
        properties.insert(name.to_owned(), schema);
        parameters.push(ToolParameter {
            name: name.to_owned(),
            location,
        });
    }
    if !swagger2 && let Some(request_body) = op.get("requestBody") {
        let request_body = inline(document, request_body, 0);
        let content = request_body.get("content").and_then(Value::as_object);
        let schema = content
            .and_then(|c| c.get("application/json").or_else(|| c.values().next()))
            .and_then(|m| m.get("schema"))
            .cloned()
            .unwrap_or(json!({}));
        body = Some((
            schema,
            request_body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ));
    }
    // A path parameter the document forgot is still an argument the call needs.
    for name in target
        .as_str()
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    {
        if !parameters.iter().any(|p| p.name == name) {
            properties.insert(name.to_owned(), json!({"type": "string"}));
            required.push(json!(name));
            parameters.push(ToolParameter {
                name: name.to_owned(),
                location: ParameterLocation::Path,
            });
        }
    }
    let has_body = body.is_some();
    if let Some((schema, needed)) = body {
        properties.insert(REQUEST_BODY_ARGUMENT.into(), inline(document, &schema, 0));
        if needed {
            required.push(json!(REQUEST_BODY_ARGUMENT));
        }
    }
    for schema in properties.values_mut() {
        *schema = inline(document, schema, 0);
    }
    let mut input_schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        input_schema["required"] = Value::Array(required);
    }
    let name = match &choice.name {
        Some(name) => name.clone(),
        None => default_name(
            op.get("operationId").and_then(Value::as_str),
            &verb,
            &choice.target,
        ),
    };
    if !is_tool_name(&name) {
        return Err(InvalidField::new(
            format!("{at}.target"),
            format!("'{name}' is not a tool name (1-128 of letters, digits, '_', '-', '.')"),
        ));
    }
    let text = |key: &str| op.get(key).and_then(Value::as_str).map(str::to_owned);
    let scopes = choice.scopes.clone().unwrap_or_else(|| {
        op.get("security")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|r| r.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    });
    let auth_type =
        choice
            .auth_type
            .unwrap_or(match op.get("x-auth-type").and_then(Value::as_str) {
                Some("None") => AuthType::None,
                Some("Application") => AuthType::Application,
                Some("Application User") => AuthType::ApplicationUser,
                _ => AuthType::Any,
            });
    Ok(McpTool {
        name,
        description: choice
            .description
            .clone()
            .or_else(|| text("summary"))
            .or_else(|| text("description")),
        input_schema,
        auth_type,
        throttling_policy: choice
            .throttling_policy
            .clone()
            .unwrap_or_else(|| "Unlimited".to_owned()),
        scopes,
        backend: Some(ToolBackend {
            verb: choice.verb,
            target,
            parameters,
            body: has_body,
        }),
    })
}

/// `operationId` when it is a tool name, else `verb_path` with the path's odd characters
/// turned into `_` (`get_orders_orderId`).
fn default_name(operation_id: Option<&str>, verb: &str, path: &str) -> String {
    if let Some(id) = operation_id.filter(|id| is_tool_name(id)) {
        return id.to_owned();
    }
    let mut name = verb.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        name.push('_');
        name.extend(segment.chars().filter(|c| *c != '{' && *c != '}').map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        }));
    }
    name.truncate(128);
    name
}

/// `value` with local `$ref`s (`#/components/...`, `#/definitions/...`) replaced by what
/// they point at, `depth` deep at most.
fn inline(document: &Value, value: &Value, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                if depth >= MAX_REF_DEPTH {
                    return json!({});
                }
                return reference
                    .strip_prefix('#')
                    .and_then(|pointer| document.pointer(pointer))
                    .map_or_else(|| json!({}), |target| inline(document, target, depth + 1));
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline(document, v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline(document, v, depth)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({
            "openapi": "3.0.1",
            "info": {"title": "Orders", "version": "1"},
            "paths": {
                "/orders/{orderId}": {
                    "parameters": [{"name": "orderId", "in": "path", "required": true,
                        "schema": {"type": "integer"}}],
                    "get": {"operationId": "getOrder", "summary": "One order",
                        "parameters": [{"name": "expand", "in": "query", "schema": {"type": "boolean"}},
                                       {"name": "X-Tenant", "in": "header", "required": true, "schema": {"type": "string"}}],
                        "security": [{"default": ["orders:read"]}]},
                    "put": {"requestBody": {"required": true, "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/Order"}}}}}
                }
            },
            "components": {"schemas": {"Order": {"type": "object",
                "properties": {"qty": {"type": "integer"}}, "required": ["qty"]}}}
        })
    }

    fn choice(target: &str, verb: HttpVerb) -> ToolChoice {
        all_operations(&document())
            .into_iter()
            .find(|c| c.target == target && c.verb == verb)
            .unwrap()
    }

    #[test]
    fn parameters_and_body_become_the_input_schema() {
        let doc = document();
        let get = tool(
            &doc,
            &choice("/orders/{orderId}", HttpVerb::Get),
            "operations[0]",
        )
        .unwrap();
        assert_eq!(get.name, "getOrder");
        assert_eq!(get.description.as_deref(), Some("One order"));
        assert_eq!(get.scopes, ["orders:read"]);
        assert_eq!(get.input_schema["properties"]["orderId"]["type"], "integer");
        assert_eq!(get.input_schema["required"], json!(["orderId", "X-Tenant"]));
        let backend = get.backend.unwrap();
        assert!(!backend.body);
        assert_eq!(backend.parameters.len(), 3);
        let put = tool(
            &doc,
            &choice("/orders/{orderId}", HttpVerb::Put),
            "operations[1]",
        )
        .unwrap();
        assert_eq!(put.name, "put_orders_orderId");
        assert_eq!(
            put.input_schema["properties"]["requestBody"]["required"],
            json!(["qty"])
        );
        assert_eq!(
            put.input_schema["required"],
            json!(["orderId", "requestBody"])
        );
        assert!(put.backend.unwrap().body);
    }

    #[test]
    fn an_operation_the_document_lacks_is_named() {
        let doc = document();
        let e = tool(
            &doc,
            &choice("/orders/{orderId}", HttpVerb::Get).with_verb(HttpVerb::Delete),
            "operations[3]",
        )
        .unwrap_err();
        assert_eq!(e.field, "operations[3].backendOperation");
    }

    impl ToolChoice {
        fn with_verb(mut self, verb: HttpVerb) -> Self {
            self.verb = verb;
            self
        }
    }
}
