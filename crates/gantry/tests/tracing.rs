//! OpenTelemetry: with an OTLP endpoint configured, the gateway exports a span per request
//! as a child of the caller's W3C `traceparent`, and passes its own span to the upstream.
//! The collector is a real OTLP/gRPC TraceService run by the test.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_testkit::{EchoUpstream, GantryUp, eventually};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// (trace id, parent span id, span name, service name) of each span received.
type ReceivedSpan = (String, String, String, String);

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push((
                        hex(&span.trace_id),
                        hex(&span.parent_span_id),
                        span.name,
                        service.clone(),
                    ));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_spans_continue_the_callers_trace_and_reach_the_collector() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });

    let upstream = EchoUpstream::start().await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[
            ("GANTRY_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let rest = up.rest();
    rest.deployed_api(
        "Traced",
        "/traced",
        &upstream.url(),
        json!([{"target": "/x", "verb": "GET", "authType": "None"}]),
    )
    .await;

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let r = up
        .gw_client()
        .get(up.gw_url("/traced/1.0.0/x"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    let forwarded = seen["headers"]["traceparent"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = forwarded.split('-').collect();
    assert_eq!(parts[1], trace_id, "same trace upstream");
    assert_ne!(
        parts[2], caller_span,
        "the upstream's parent is the gateway's span"
    );

    let exported = eventually(Duration::from_secs(15), || async {
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|(t, parent, _, _)| t == trace_id && parent == caller_span)
    })
    .await;
    assert!(
        exported,
        "spans received: {:?}",
        collector.spans.lock().unwrap()
    );
    let spans = collector.spans.lock().unwrap();
    let (_, _, name, service) = spans.iter().find(|(t, _, _, _)| t == trace_id).unwrap();
    assert_eq!(name, "gateway request");
    assert!(service.contains("gantry"), "{service}");
}
