//! The SOAP stage (after route, for `SOAP` APIs): the request's action — SOAP 1.1's
//! `SOAPAction` header, SOAP 1.2's `action` parameter of `application/soap+xml` — picks
//! the operation the later stages authenticate, authorise and limit; the call goes to the
//! service's endpoint as it came. The gateway's own refusals of a SOAP call are SOAP faults
//! of the caller's SOAP version ([`fault`]), with the HTTP status kept.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::Answer;
use super::route::Routed;
use crate::metrics::{Name, Outcome};
use crate::respond::{self, Body, Generated};

/// The SOAP version of a call, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// `text/xml` with `SOAPAction`.
    V11,
    /// `application/soap+xml`.
    V12,
}

/// For a SOAP API: the operation of the request's action in `routed` (and the caller's SOAP
/// version in `version`); 400 (a fault) without a known action. Other APIs pass untouched.
pub fn dispatch<'c>(
    routed: &mut Routed<'c>,
    headers: &HeaderMap,
    version: &mut Option<SoapVersion>,
    outcome: &mut Outcome,
) -> Result<(), Answer> {
    let entry: &'c crate::compiled::RouteEntry = routed.entry;
    let Some(actions) = entry.api.soap.as_deref() else {
        return Ok(());
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (soap, action) = if content_type
        .to_ascii_lowercase()
        .starts_with("application/soap+xml")
    {
        (SoapVersion::V12, parameter(content_type, "action"))
    } else {
        let action = headers
            .get("soapaction")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().trim_matches('"').to_owned());
        (SoapVersion::V11, action)
    };
    *version = Some(soap);
    let Some(action) = action.filter(|a| !a.is_empty()) else {
        return Err(respond::error(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            "A SOAP call names its operation: SOAPAction (SOAP 1.1) or the action parameter of application/soap+xml (SOAP 1.2)",
        ));
    };
    let Some(operation) = actions.operation(&action) else {
        return Err(respond::error(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            &format!("The service has no operation for the action '{action}'"),
        ));
    };
    routed.operation = operation;
    outcome.operation = Some(Name(operation.key.clone()));
    Ok(())
}

/// The value of `name` among the `;` parameters of a content type, unquoted.
fn parameter(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// A gateway-made error as a SOAP fault of `version` (`Client`/`Sender` for 4xx,
/// `Server`/`Receiver` otherwise), the HTTP status and other headers kept. Upstream
/// responses pass unchanged.
pub fn fault(version: SoapVersion, response: Response<Body>) -> Response<Body> {
    let Some(Generated(message)) = response.extensions().get::<Generated>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let client = parts.status.is_client_error();
    let text = escape(&message);
    let (content_type, body) = match version {
        SoapVersion::V11 => (
            "text/xml; charset=utf-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
                 <soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
                 <soap:Fault><faultcode>soap:{}</faultcode><faultstring>{text}</faultstring>\
                 <detail><status>{}</status></detail></soap:Fault></soap:Body></soap:Envelope>",
                if client { "Client" } else { "Server" },
                parts.status.as_u16()
            ),
        ),
        SoapVersion::V12 => (
            "application/soap+xml; charset=utf-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
                 <env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body>\
                 <env:Fault><env:Code><env:Value>env:{}</env:Value></env:Code>\
                 <env:Reason><env:Text xml:lang=\"en\">{text}</env:Text></env:Reason>\
                 <env:Detail><status>{}</status></env:Detail></env:Fault></env:Body></env:Envelope>",
                if client { "Sender" } else { "Receiver" },
                parts.status.as_u16()
            ),
        ),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, respond::full(body))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soap_12_action_is_a_content_type_parameter() {
        let ct = "application/soap+xml; charset=utf-8; action=\"urn:quotes/GetQuote\"";
        assert_eq!(
            parameter(ct, "action").as_deref(),
            Some("urn:quotes/GetQuote")
        );
        assert_eq!(parameter("text/xml", "action"), None);
    }

    #[test]
    fn gateway_errors_become_faults_of_the_callers_version() {
        let refusal = || {
            respond::error(
                StatusCode::UNAUTHORIZED,
                "900902",
                "Missing Credentials",
                "a <token>",
            )
        };
        let v11 = fault(SoapVersion::V11, refusal());
        assert_eq!(v11.status(), StatusCode::UNAUTHORIZED);
        assert!(
            v11.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/xml")
        );
        let v12 = fault(SoapVersion::V12, refusal());
        assert!(
            v12.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/soap+xml")
        );
        assert_eq!(
            escape("a <token> & \"x\""),
            "a &lt;token&gt; &amp; &quot;x&quot;"
        );
    }
}
