//! The server's log and, when an OTLP endpoint is configured, its traces.
//!
//! Every request is a `request` span; a query's spans hang under it (see
//! `tiaokuai_engine::traces`): `query` → `plan`, `execute` → `source query`, each with the
//! query's id. With `--otlp-endpoint` the spans of tiaokuai's own crates go to an OpenTelemetry
//! collector over OTLP/gRPC; without it nothing is exported and no exporter runs.
//!
//! An https collector's certificate is checked against `--otlp-ca-file` or the system's
//! roots.
//!
//! The exporter speaks gRPC through tonic, which needs a Tokio reactor. OpenTelemetry's
//! default batch processor drives its exporter from a thread of its own, where such an
//! exporter fails and every span after it is dropped without a word, so the spans are batched
//! by the processor that runs on the server's runtime instead.
//!
//! A collector that does not answer costs the spans sent meanwhile, never a query; the log
//! says once when spans stop reaching it, and once when they reach it again.
//!
//! A caller's `traceparent` header (W3C Trace Context) makes its request part of the caller's
//! trace. Whether the caller samples its trace does not matter: tiaokuai records every
//! request, so no caller can keep its queries out of the traces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, Request, Response};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tonic::transport::{Certificate, ClientTlsConfig};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The crates whose spans are exported.
const TRACED: [&str; 4] = [
    "tiaokuai",
    "tiaokuai_engine",
    "tiaokuai_connectors",
    "tiaokuai_governance",
];

/// How long the last spans may take to leave at shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter of a server with traces on; [`Traces::shutdown`] sends what is left.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sends the spans still waiting and stops the exporter. The processor answers from the
    /// runtime, so the wait happens off it.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let stopped =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the last spans could not be sent"),
            Err(error) => tracing::warn!(%error, "the trace exporter did not stop"),
        }
    }
}

/// Where traces go: an OTLP/gRPC endpoint, and for an https one the CA to trust.
#[derive(Debug, Clone)]
pub struct Collector {
    pub endpoint: String,
    pub ca_file: Option<std::path::PathBuf>,
}

/// The OTLP/gRPC endpoint, checked and written as `scheme://host[:port]`: `http://` (a
/// collector beside the server) or `https://`, with nothing else (gRPC has no path).
pub fn endpoint(text: &str) -> Result<String, String> {
    // the errors never repeat the URL: it may hold a secret
    let url = url::Url::parse(text).map_err(|e| format!("the OTLP endpoint is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the OTLP endpoint takes no credentials in its URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err("the OTLP endpoint takes no path, query or fragment".to_owned());
    }
    let (scheme, Some(host)) = (url.scheme(), url.host_str()) else {
        return Err("the OTLP endpoint names no host".to_owned());
    };
    if !matches!(scheme, "http" | "https") {
        return Err(format!(
            "the OTLP endpoint is an http:// or https://host:port URL, not {scheme}:"
        ));
    }
    Ok(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The TLS an https collector is reached with: its certificate checked against `ca_file`,
/// or the system's roots. A CA file that cannot be read or holds no certificate stops the
/// start, as does one given for a plain endpoint.
fn tls(collector: &Collector) -> Result<Option<ClientTlsConfig>, String> {
    let https = collector.endpoint.starts_with("https://");
    match (&collector.ca_file, https) {
        (None, false) => Ok(None),
        (Some(_), false) => Err("--otlp-ca-file is for an https:// OTLP endpoint".to_owned()),
        (None, true) => Ok(Some(ClientTlsConfig::new().with_native_roots())),
        (Some(path), true) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("the OTLP CA file {} cannot be read: {e}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "the OTLP CA file {} holds no PEM certificate",
                    path.display()
                ));
            }
            Ok(Some(
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            ))
        }
    }
}

/// Installs the log (stderr, filtered by `log`) and, with a collector, the trace exporter.
/// Must run on the server's runtime.
pub fn init(log: &str, otlp: Option<&Collector>) -> Result<Option<Traces>, String> {
    let filter = EnvFilter::try_new(log).unwrap_or_else(|_| "info".into());
    // the log has events only: a query's id is in each of its lines already
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter_fn(|metadata| metadata.is_event()).and(filter));
    let Some(collector) = otlp else {
        tracing_subscriber::registry()
            .with(fmt)
            .try_init()
            .map_err(|e| e.to_string())?;
        return Ok(None);
    };
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&collector.endpoint)
        .with_timeout(Duration::from_secs(10));
    if let Some(tls) = tls(collector)? {
        builder = builder.with_tls_config(tls);
    }
    let exporter = builder
        .build()
        .map_err(|e| format!("the OTLP exporter cannot be built: {e}"))?;
    let exporter = Watched {
        inner: exporter,
        endpoint: collector.endpoint.clone(),
        failing: AtomicBool::new(false),
    };
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("tiaokuai")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource)
        .build();
    let traced = TRACED.iter().fold(Targets::new(), |targets, crate_name| {
        targets.with_target(*crate_name, LevelFilter::INFO)
    });
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("tiaokuai"))
        .with_filter(traced);
    tracing_subscriber::registry()
        .with(fmt)
        .with(spans)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok(Some(Traces { provider }))
}

/// The span of one request, named by its method and the route the router matched
/// (`POST /v1/reports/{id}/run`) so that no path, with the ids in it, names a span; in the
/// caller's trace when it sent a `traceparent`.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("", |path| path.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        query_id = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let remote = TraceContextPropagator::new().extract(&Headers(request.headers()));
    // a malformed or absent traceparent leaves the request a trace of its own
    let _ = span.set_parent(remote);
    span
}

/// Records the status on the request's span: a 5xx is an error of the server's.
pub fn response_status<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Names a query's id on the span of the request that runs it.
pub fn name_query(query_id: &str) {
    Span::current().record("query_id", query_id);
}

/// An exporter whose failures reach the log: once when spans stop reaching the collector,
/// once when they reach it again.
#[derive(Debug)]
struct Watched<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Watched<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let exported = self.inner.export(batch).await;
        match &exported {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "traces reach the collector again");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        endpoint = %self.endpoint, %error, spans,
                        "traces cannot be sent to the collector; spans are dropped until it answers"
                    );
                }
            }
        }
        exported
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otlp_endpoint_is_an_http_or_https_url_without_credentials() {
        for (given, kept) in [
            ("http://127.0.0.1:4317", "http://127.0.0.1:4317"),
            (
                "https://collector.example:4317/",
                "https://collector.example:4317",
            ),
            (
                "HTTPS://Collector.Example:4317",
                "https://collector.example:4317",
            ),
            ("http://[::1]:4317", "http://[::1]:4317"),
        ] {
            assert_eq!(endpoint(given).as_deref(), Ok(kept));
        }
        for bad in [
            "127.0.0.1:4317",
            "grpc://collector:4317",
            "file:///tmp/spans",
            "http://",
            "http://collector:4317/v1/traces",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
        for secret in [
            "https://user:secret@collector:4317",
            "ftp://user:secret@collector",
        ] {
            let refused = endpoint(secret).unwrap_err();
            assert_eq!(refused, "the OTLP endpoint takes no credentials in its URL");
        }
        for secret in [
            "grpc://collector:4317/x?token=secret",
            "http://collector:4317/#secret",
        ] {
            let refused = endpoint(secret).unwrap_err();
            assert!(!refused.contains("secret"), "{refused}");
        }
    }
}
