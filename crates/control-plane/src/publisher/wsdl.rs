//! SOAP pass-through APIs from WSDL 1.1 documents: `POST /apis/validate-wsdl`,
//! `POST /apis/import-wsdl`, `GET|PUT /apis/{apiId}/wsdl`.
//!
//! The operations of the document's SOAP bindings (1.1 and 1.2) become the API's operations
//! (`POST /<operation name>`) and their `soapAction`s the gateway's routing table
//! (`soapActions`); the first SOAP port's address is the endpoint. A WSDL is read from an
//! uploaded file only: the control plane does not fetch URLs. `SOAPTOREST` is not built.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gantry_store::definitions;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde_json::{Map, Value, json};

use super::apis::load;
use super::openapi::{
    Described, create_with_definition, invalid_report, properties_of, read_upload,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Scoped;
use crate::rejection::MultipartForm;
use crate::rest_scopes;

const WSDL: &[u8] = b"http://schemas.xmlsoap.org/wsdl/";
const SOAP11: &[u8] = b"http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12: &[u8] = b"http://schemas.xmlsoap.org/wsdl/soap12/";

/// What Gantry reads from a WSDL 1.1 document.
#[derive(Debug, Default)]
pub struct Wsdl {
    /// `definitions@name`, or the first service's name.
    pub name: Option<String>,
    /// SOAP ports: (port name, address location).
    pub endpoints: Vec<(String, String)>,
    /// Operations of the SOAP bindings, in document order: (name, soapAction).
    pub operations: Vec<(String, String)>,
}

impl Wsdl {
    /// Parses a WSDL 1.1 document; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the WSDL is empty".into());
        }
        let mut reader = quick_xml::reader::NsReader::from_str(text);
        reader.config_mut().trim_text(true);
        let mut wsdl = Wsdl::default();
        // The elements open around the current one: (namespace, local name).
        let mut open: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut soap_binding = false;
        let mut operation: Option<String> = None;
        let mut port: Option<String> = None;
        loop {
            let (namespace, event) = reader
                .read_resolved_event()
                .map_err(|e| format!("not well-formed XML: {e}"))?;
            let namespace = match namespace {
                ResolveResult::Bound(ns) => ns.into_inner().as_bytes().to_vec(),
                _ => Vec::new(),
            };
            let (element, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    if let Some((ns, local)) = open.pop() {
                        match (ns.as_slice(), local.as_slice()) {
                            (WSDL, b"binding") => soap_binding = false,
                            (WSDL, b"operation") => operation = None,
                            (WSDL, b"port") => port = None,
                            _ => {}
                        }
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let local = element.local_name().into_inner().as_bytes().to_vec();
            let attribute = |name: &str| -> Option<String> {
                element
                    .try_get_attribute(name)
                    .ok()
                    .flatten()
                    .and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
            };
            if open.is_empty() && (namespace.as_slice(), local.as_slice()) != (WSDL, b"definitions")
            {
                return Err("the root element is not a WSDL 1.1 <definitions>".into());
            }
            let parent = open.last().map(|(ns, l)| (ns.as_slice(), l.as_slice()));
            let soap = namespace == SOAP11 || namespace == SOAP12;
            match (namespace.as_slice(), local.as_slice(), parent) {
                (WSDL, b"definitions", None) => wsdl.name = attribute("name"),
                (WSDL, b"service", _) if wsdl.name.is_none() => wsdl.name = attribute("name"),
                (_, b"binding", Some((WSDL, b"binding"))) if soap => soap_binding = true,
                (WSDL, b"operation", Some((WSDL, b"binding"))) if soap_binding => {
                    operation = attribute("name");
                }
                (_, b"operation", Some((WSDL, b"operation"))) if soap => {
                    if let Some(name) = &operation
                        && !wsdl.operations.iter().any(|(n, _)| n == name)
                    {
                        let action = attribute("soapAction").unwrap_or_default();
                        wsdl.operations.push((name.clone(), action));
                    }
                }
                (WSDL, b"port", Some((WSDL, b"service"))) => port = attribute("name"),
                (_, b"address", Some((WSDL, b"port"))) if soap => {
                    if let (Some(port), Some(location)) = (&port, attribute("location")) {
                        wsdl.endpoints.push((port.clone(), location));
                    }
                }
                _ => {}
            }
            if !empty {
                open.push((namespace, local));
            }
        }
        if open.is_empty() && wsdl.name.is_none() && wsdl.operations.is_empty() {
            return Err("the document has no WSDL 1.1 <definitions>".into());
        }
        if wsdl.operations.is_empty() {
            return Err("no SOAP binding with operations (WSDL 1.1 soap or soap12 binding)".into());
        }
        if let Some((name, _)) = wsdl
            .operations
            .iter()
            .find(|(n, _)| gantry_model::ResourceTarget::parse(&format!("/{n}")).is_err())
        {
            return Err(format!("operation name '{name}' cannot be an API resource"));
        }
        Ok(wsdl)
    }

    /// WSO2 `operations` entries: `POST /<name>` per operation.
    fn api_operations(&self) -> Vec<Value> {
        self.operations
            .iter()
            .map(|(name, _)| json!({"target": format!("/{name}"), "verb": "POST"}))
            .collect()
    }

    /// `soapActions`: operation target → action, for operations that name one.
    fn actions(&self) -> Map<String, Value> {
        self.operations
            .iter()
            .filter(|(_, action)| !action.is_empty())
            .map(|(name, action)| (format!("/{name}"), json!(action)))
            .collect()
    }
}

fn wsdl_of(definition: Option<&str>) -> ApiResult<(String, Wsdl)> {
    let text = definition
        .ok_or_else(|| ApiError::BadRequest("file: a WSDL document is required".into()))?;
    let wsdl = Wsdl::parse(text).map_err(|e| ApiError::BadRequest(format!("Invalid WSDL: {e}")))?;
    Ok((text.to_owned(), wsdl))
}

/// `POST /apis/validate-wsdl`: WSO2's `WSDLValidationResponse`.
pub(crate) async fn validate(
    _: Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let upload = read_upload(multipart, &["file"]).await?;
    Ok(axum::Json(
        match Wsdl::parse(upload.definition.as_deref().unwrap_or_default()) {
            Ok(wsdl) => json!({
                "isValid": true,
                "wsdlInfo": {
                    "version": "1.1",
                    "endpoints": wsdl.endpoints.iter()
                        .map(|(name, location)| json!({"name": name, "location": location}))
                        .collect::<Vec<_>>(),
                },
                "errors": [],
            }),
            Err(reason) => invalid_report("Invalid WSDL", reason),
        },
    ))
}

/// `POST /apis/import-wsdl`: creates a SOAP pass-through API (state CREATED) from a WSDL
/// file and the `additionalProperties` API object.
pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(multipart, &["file"]).await?;
    if upload
        .implementation_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("SOAP"))
    {
        return Err(ApiError::BadRequest(
            "implementationType: only SOAP (pass-through) is supported; SOAPTOREST is not built"
                .into(),
        ));
    }
    let (text, wsdl) = wsdl_of(upload.definition.as_deref())?;
    let mut properties = properties_of(
        &upload,
        Described {
            name: wsdl.name.as_deref(),
            endpoint: wsdl
                .endpoints
                .first()
                .map(|(_, location)| location.as_str()),
            ..Described::default()
        },
    );
    match properties.get("type").and_then(Value::as_str) {
        None | Some("SOAP") => {}
        Some("SOAPTOREST") => {
            return Err(ApiError::BadRequest(
                "type: SOAPTOREST is not supported; import the WSDL as a SOAP pass-through API"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "type: a WSDL makes a SOAP API, not {other}"
            )));
        }
    }
    properties.insert("type".into(), json!("SOAP"));
    properties.insert("operations".into(), json!(wsdl.api_operations()));
    properties.insert("soapActions".into(), Value::Object(wsdl.actions()));
    create_with_definition(&state, &user.username, properties, &json!(text)).await
}

/// The WSDL stored for a SOAP API, as text.
async fn stored_wsdl(state: &AppState, api_id: &str) -> ApiResult<String> {
    let api = load(state, api_id).await?;
    if api.api_type != "SOAP" {
        return Err(ApiError::NotFound(format!(
            "API {api_id} is a {} API: it has no WSDL",
            api.api_type
        )));
    }
    let stored = definitions::get(state.store(), &api.id).await?;
    stored
        .and_then(|text| serde_json::from_str::<String>(&text).ok())
        .ok_or_else(|| ApiError::NotFound(format!("API {api_id} has no WSDL")))
}

/// `GET /apis/{apiId}/wsdl`: the document, `text/xml`.
pub(crate) async fn get_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<Response> {
    let text = stored_wsdl(&state, &api_id).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        text,
    )
        .into_response())
}

/// `PUT /apis/{apiId}/wsdl` (multipart `file`): replaces the document, the operations and
/// their actions.
pub(crate) async fn put_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    stored_wsdl(&state, &api_id).await?;
    let upload = read_upload(multipart, &["file"]).await?;
    let (text, wsdl) = wsdl_of(upload.definition.as_deref())?;
    let current = load(&state, &api_id).await?;
    let mut body = serde_json::to_value(&current).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["soapActions"] = Value::Object(wsdl.actions());
    super::openapi::replace_api(&state, &current, body, &wsdl.api_operations(), &json!(text))
        .await?;
    Ok(axum::Json(json!({"operations": wsdl.operations.len()})))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const QUOTES: &str = r#"<?xml version="1.0"?>
<wsdl:definitions name="StockQuote" targetNamespace="urn:quotes"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/">
  <wsdl:portType name="Quotes"><wsdl:operation name="GetQuote"/><wsdl:operation name="GetHistory"/></wsdl:portType>
  <wsdl:binding name="QuotesSoap" type="tns:Quotes">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetQuote"><soap:operation soapAction="urn:quotes/GetQuote"/></wsdl:operation>
    <wsdl:operation name="GetHistory"><soap:operation soapAction="urn:quotes/GetHistory"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="QuotesSoap12" type="tns:Quotes">
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetQuote"><soap12:operation soapAction="urn:quotes/GetQuote"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="QuoteService">
    <wsdl:port name="QuotesSoap" binding="tns:QuotesSoap"><soap:address location="http://quotes.example/soap"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#;

    #[test]
    fn reads_operations_actions_and_endpoints_of_the_soap_bindings() {
        let wsdl = Wsdl::parse(QUOTES).unwrap();
        assert_eq!(wsdl.name.as_deref(), Some("StockQuote"));
        assert_eq!(
            wsdl.operations,
            [
                ("GetQuote".to_owned(), "urn:quotes/GetQuote".to_owned()),
                ("GetHistory".to_owned(), "urn:quotes/GetHistory".to_owned()),
            ]
        );
        assert_eq!(
            wsdl.endpoints,
            [(
                "QuotesSoap".to_owned(),
                "http://quotes.example/soap".to_owned()
            )]
        );
        assert_eq!(wsdl.actions()["/GetHistory"], "urn:quotes/GetHistory");
    }

    #[test]
    fn invalid_documents_say_why() {
        assert!(Wsdl::parse("").unwrap_err().contains("empty"));
        let broken = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><b></definitions>"#;
        assert!(Wsdl::parse(broken).unwrap_err().contains("XML"));
        assert!(Wsdl::parse("<html/>").unwrap_err().contains("definitions"));
        let no_binding = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="x"/>"#;
        assert!(
            Wsdl::parse(no_binding)
                .unwrap_err()
                .contains("no SOAP binding")
        );
    }
}
