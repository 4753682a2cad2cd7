//! Logging and tracing set-up shared by every Gantry process: structured `tracing` events to
//! stderr, human-readable or JSON, with the level from `GANTRY_LOG` / `RUST_LOG` or the
//! default; and, when an OTLP endpoint is configured, request spans exported as OpenTelemetry
//! traces (W3C Trace Context propagated, see [`trace`]).
//!
//! [`metrics`] holds the Prometheus registry both planes expose on `/metrics`.
#![forbid(unsafe_code)]

pub mod access;
pub mod buffered;
pub mod metrics;
pub mod trace;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (for log shippers).
    Json,
}

/// Where traces go.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`.
    pub endpoint: String,
    /// `service.name` of the spans (`gantry-gateway`, …).
    pub service_name: String,
}

/// Keeps the trace exporter alive; [`TelemetryGuard::shutdown`] flushes it.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    logs: Option<buffered::Flusher>,
}

impl TelemetryGuard {
    /// Flushes pending spans and stops the exporter.
    pub fn shutdown(mut self) {
        if let Some(mut logs) = self.logs.take() {
            logs.stop();
        }
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. `default_filter` applies when neither `GANTRY_LOG` nor
/// `RUST_LOG` is set (e.g. `"info"`). With `otlp`, spans of target [`trace::TARGET`] are
/// exported (call from inside the tokio runtime: the exporter's gRPC channel lives there).
pub fn init(
    format: LogFormat,
    default_filter: &str,
    otlp: Option<&OtlpSettings>,
) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let spec = std::env::var("GANTRY_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or_else(|| default_filter.to_owned());
    let filter = EnvFilter::new(&spec);
    let (writer, flusher) = buffered::BufferedStderr::start();
    let access_writer = writer.clone();
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            // Colour codes only for a person at a terminal, not in files or log shippers
            // (and they cost a measurable share of every access-log line).
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(writer)
            .boxed(),
    };
    let mut provider = None;
    let traces = otlp.and_then(|settings| match exporter(settings) {
        Ok(p) => {
            let tracer = p.tracer(settings.service_name.clone());
            provider = Some(p);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(Targets::new().with_target(trace::TARGET, tracing::Level::INFO)),
            )
        }
        Err(error) => {
            eprintln!(
                "gantry: tracing disabled: cannot set up the OTLP exporter for {}: {error}",
                settings.endpoint
            );
            None
        }
    });
    trace::set_enabled(traces.is_some());
    // Request spans exist for the trace exporter only: log lines never print them, so they
    // are filtered out of the log layer and, without an exporter, not created at all.
    let not_trace_spans = tracing_subscriber::filter::filter_fn(|m| m.target() != trace::TARGET);
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter).with_filter(not_trace_spans))
        .with(traces)
        .try_init()
        .is_ok();
    if installed {
        access::install(
            access_writer,
            format == LogFormat::Json,
            access::wanted_by(&spec),
        );
    }
    TelemetryGuard {
        provider,
        // A second init (tests) keeps the first subscriber; its writer is not ours to stop.
        logs: installed.then_some(flusher),
    }
}

fn exporter(settings: &OtlpSettings) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
