//! SOAP pass-through APIs through the real `gantry up`: an API imported from a WSDL, SOAP
//! 1.1 and 1.2 calls routed by their action to a test upstream, per-operation scopes, and
//! the gateway's refusals answered as SOAP faults.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gantry_testkit::GantryUp;
use http::{Request, Response};
use hyper::body::Incoming;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

/// A SOAP service: answers every call with an envelope naming the action it got, and keeps
/// (path, SOAPAction header, content type) of each.
struct SoapService {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<(String, String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SoapService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SoapService {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let record = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r: Request<Incoming>| {
                        let header = |name: &str| {
                            r.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let call = (
                            r.uri().path().to_owned(),
                            header("soapaction"),
                            header("content-type"),
                        );
                        record.lock().unwrap().push(call.clone());
                        async move {
                            let body = format!(
                                "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><Result>{}|{}</Result></soap:Body></soap:Envelope>",
                                call.1, call.2
                            );
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-type", "text/xml")
                                    .body(http_body_util::Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, calls, task }
    }
}

fn wsdl(location: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<wsdl:definitions name="StockQuote" targetNamespace="urn:quotes"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:tns="urn:quotes"
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
    <wsdl:operation name="GetHistory"><soap12:operation soapAction="urn:quotes/GetHistory"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="QuoteService">
    <wsdl:port name="QuotesSoap" binding="tns:QuotesSoap"><soap:address location="{location}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#
    )
}

const ENVELOPE_11: &str = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><GetQuote><symbol>GNTR</symbol></GetQuote></soap:Body></soap:Envelope>";
const ENVELOPE_12: &str = "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body><GetQuote><symbol>GNTR</symbol></GetQuote></env:Body></env:Envelope>";

#[tokio::test]
async fn wsdl_import_and_soap_calls_routed_by_action_with_faults_for_refusals() {
    let service = SoapService::start().await;
    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let document = wsdl(&format!("http://{}/soap/quotes", service.addr));

    // Validation and import (the file is uploaded: URLs are not fetched).
    let (status, report) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/validate-wsdl"),
            &[("file", &document)],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["isValid"], true, "{report}");
    assert_eq!(report["wsdlInfo"]["endpoints"][0]["name"], "QuotesSoap");
    let (status, report) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/validate-wsdl"),
            &[("file", "<definitions/>")],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["isValid"], false, "{report}");
    let (status, refused) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/import-wsdl"),
            &[("url", "http://example.com/q?wsdl")],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["description"].as_str().unwrap().starts_with("url"),
        "{refused}"
    );
    let (status, refused) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/import-wsdl"),
            &[("file", &document), ("implementationType", "SOAPTOREST")],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["description"]
            .as_str()
            .unwrap()
            .contains("SOAPTOREST"),
        "{refused}"
    );
    let (status, api) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/import-wsdl"),
            &[
                ("file", &document),
                ("implementationType", "SOAP"),
                (
                    "additionalProperties",
                    r#"{"context": "/quotes", "version": "1.0.0", "policies": ["Unlimited"]}"#,
                ),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["type"], "SOAP");
    assert_eq!(api["name"], "StockQuote");
    assert_eq!(api["soapActions"]["/GetHistory"], "urn:quotes/GetHistory");
    let id = api["id"].as_str().unwrap().to_owned();
    let served_wsdl = rest
        .request(Method::GET, &format!("{PUB}/apis/{id}/wsdl"))
        .send()
        .await
        .unwrap();
    assert_eq!(served_wsdl.status(), 200);
    assert!(
        served_wsdl
            .text()
            .await
            .unwrap()
            .contains("urn:quotes/GetHistory")
    );

    // GetHistory needs a scope.
    let mut body = api.clone();
    body["operations"][1]["scopes"] = json!(["quotes:history"]);
    assert_eq!(body["operations"][1]["target"], "/GetHistory");
    let (status, updated) = rest.put(&format!("{PUB}/apis/{id}"), body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    rest.publish_and_deploy(&id, &["Default"]).await;
    let token = rest.subscribed_token("Broker", &[&id], "Unlimited").await;

    let gw = up.gw_client();
    let call = |version: u8, action: &str, token: Option<&str>| {
        let mut request = gw.post(up.gw_url("/quotes/1.0.0"));
        request = if version == 11 {
            request
                .header("content-type", "text/xml; charset=utf-8")
                .header("soapaction", format!("\"{action}\""))
                .body(ENVELOPE_11)
        } else {
            request
                .header(
                    "content-type",
                    format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
                )
                .body(ENVELOPE_12)
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        call(11, "urn:quotes/GetQuote", Some(&token))
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    assert!(served, "the SOAP API is served");
    // SOAP 1.1 and 1.2 reach the service URL with their action.
    let answer = call(11, "urn:quotes/GetQuote", Some(&token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains("<Result>\"urn:quotes/GetQuote\"|text/xml"),
        "{answer}"
    );
    let response = call(12, "urn:quotes/GetQuote", Some(&token)).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.text().await.unwrap();
    assert!(
        answer.contains("action=\"urn:quotes/GetQuote\""),
        "{answer}"
    );
    let calls = service.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|c| c.0 == "/soap/quotes"), "{calls:?}");

    // Refusals are SOAP faults of the caller's version, with the HTTP status.
    let fault = call(11, "urn:quotes/GetQuote", None).await.unwrap();
    assert_eq!(fault.status(), 401);
    assert!(
        fault.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let text = fault.text().await.unwrap();
    assert!(
        text.contains("<faultcode>soap:Client</faultcode>"),
        "{text}"
    );
    let fault = call(11, "urn:quotes/GetHistory", Some(&token))
        .await
        .unwrap();
    assert_eq!(fault.status(), 403, "GetHistory needs quotes:history");
    let fault = call(12, "urn:quotes/GetHistory", Some(&token))
        .await
        .unwrap();
    assert_eq!(fault.status(), 403);
    assert!(
        fault.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/soap+xml")
    );
    let text = fault.text().await.unwrap();
    assert!(
        text.contains("<env:Value>env:Sender</env:Value>") && text.contains("quotes:history"),
        "{text}"
    );
    let fault = call(11, "urn:quotes/Nope", Some(&token)).await.unwrap();
    assert_eq!(fault.status(), 400);
    assert!(fault.text().await.unwrap().contains("urn:quotes/Nope"));
    assert_eq!(
        service.calls.lock().unwrap().len(),
        calls.len(),
        "no refused call reached the service"
    );
}
