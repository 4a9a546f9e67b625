//! OpenTelemetry traces, received by a real OTLP/gRPC collector endpoint on loopback: the
//! server process sends the spans of a query that reads a PostgreSQL source — the request,
//! the query, its planning and execution, and the statement the source ran — in one trace,
//! each with the query's id, and nothing of its SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::database_fixtures::TestDb;
use crate::fixtures::MAJIN;
use crate::harness::ADMIN_TOKEN;
use crate::process::ServerProcess;

/// Every span exported to it, with the service that sent it.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| text(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Listens on a loopback port: the endpoint URL.
    fn start(&self) -> String {
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}", incoming.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        url
    }

    /// The spans received so far whose `query_id` is `query_id`.
    fn of_query(&self, query_id: &str) -> Vec<(String, Span)> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, span)| text(&span.attributes, "query_id").as_deref() == Some(query_id))
            .cloned()
            .collect()
    }

    /// Waits (at most a minute) until the spans of `query_id` include every name in `names`.
    async fn wait_for(&self, query_id: &str, names: &[&str]) -> Vec<(String, Span)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.of_query(query_id);
            if names
                .iter()
                .all(|name| spans.iter().any(|(_, span)| span.name.starts_with(name)))
            {
                return spans;
            }
            let seen: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
            assert!(
                Instant::now() < deadline,
                "spans of {query_id} received: {seen:?}; wanted {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(text) => Some(text.clone()),
        AnyValue::IntValue(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn named<'a>(spans: &'a [(String, Span)], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.name.starts_with(name))
        .collect();
    assert_eq!(found.len(), 1, "one {name} span, not {}", found.len());
    found[0]
}

async fn query(
    server: &ServerProcess,
    sql: &str,
    traceparent: Option<&str>,
) -> (StatusCode, String, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "sql": sql }));
    if let Some(parent) = traceparent {
        request = request.header("traceparent", parent);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let id = response.headers()["x-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, id, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_traced_across_its_database_source() {
    let Some(db) = TestDb::postgres("otlp_trace").await else {
        return;
    };
    db.execute(&[
        "CREATE TABLE public.visits (id BIGINT PRIMARY KEY, village_code TEXT, note TEXT)",
        "INSERT INTO public.visits SELECT n, '330824116224', 'visit ' || n FROM generate_series(1, 50) n",
    ])
    .await;
    let collector = Collector::default();
    let endpoint = collector.start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let server = ServerProcess::launch(
        dir.path(),
        &["--data-dir", &data_dir, "--otlp-endpoint", &endpoint],
        &[("TIAOKUAI_ADMIN_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
    let (status, body) = server
        .send(
            Method::POST,
            ADMIN_TOKEN,
            "/v1/jurisdictions",
            Some(&crate::fixtures::tree()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let source = json!({
        "name": "visits_pg", "kind": "postgres", "url": db.url().as_str(), "owner": MAJIN,
        "options": {"sslmode": "disable"},
        "tables": [{"name": "health.visits", "remote": "public.visits",
                    "binding": {"column": "village_code"}}],
    });
    let (status, body) = server
        .send(Method::POST, ADMIN_TOKEN, "/v1/sources", Some(&source))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // a literal that looks like an ID number: it must reach no span
    let sql = "SELECT count(*) AS n FROM health.visits WHERE note <> '330824199001011234'";
    let (status, query_id, body) = query(&server, sql, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[50]]));
    let spans = collector
        .wait_for(&query_id, &["POST", "query", "plan", "execute", "postgres"])
        .await;
    for (service, span) in &spans {
        assert_eq!(service, "tiaokuai");
        let attributes = format!("{:?}", span.attributes);
        assert!(!attributes.contains("330824199001011234"), "{attributes}");
        assert!(!attributes.contains("SELECT"), "{attributes}");
    }
    let (request, whole) = (named(&spans, "POST"), named(&spans, "query"));
    let (plan, execute, statement) = (
        named(&spans, "plan"),
        named(&spans, "execute"),
        named(&spans, "postgres"),
    );
    assert_eq!(request.name, "POST /v1/query");
    assert_eq!(
        text(&request.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    // one trace; request → query → plan, execute → the source's statement
    let trace = &request.trace_id;
    assert!(spans.iter().all(|(_, span)| &span.trace_id == trace));
    let parents: HashMap<&str, &[u8]> = HashMap::from([
        ("query", request.span_id.as_slice()),
        ("plan", whole.span_id.as_slice()),
        ("execute", whole.span_id.as_slice()),
        ("postgres", execute.span_id.as_slice()),
    ]);
    for (name, span) in [
        ("query", whole),
        ("plan", plan),
        ("execute", execute),
        ("postgres", statement),
    ] {
        assert_eq!(span.parent_span_id, parents[name], "the parent of {name}");
    }
    assert_eq!(statement.name, "postgres visits_pg");
    assert_eq!(
        text(&statement.attributes, "source").as_deref(),
        Some("visits_pg")
    );
    assert_eq!(
        text(&statement.attributes, "db.response.returned_rows").as_deref(),
        Some("1")
    );
    assert_eq!(
        text(&whole.attributes, "outcome").as_deref(),
        Some("completed")
    );
    assert_eq!(
        text(&whole.attributes, "principal").as_deref(),
        Some("admin")
    );
    // the statement ran while the query executed, and the query ended after it
    assert!(statement.start_time_unix_nano >= execute.start_time_unix_nano);
    assert!(whole.end_time_unix_nano >= statement.end_time_unix_nano);
    assert!(plan.end_time_unix_nano <= execute.start_time_unix_nano);

    // a refused query is traced with its error
    let (status, refused_id, body) = query(&server, "SELECT * FROM health.nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let spans = collector.wait_for(&refused_id, &["POST", "query"]).await;
    let whole = named(&spans, "query");
    assert_eq!(
        text(&whole.attributes, "outcome").as_deref(),
        Some("not_found")
    );
    assert_eq!(
        whole.status.as_ref().map(|s| s.code),
        Some(2),
        "an error status"
    );

    // a caller's trace context joins its request to the caller's trace, and a caller that
    // does not sample its own trace does not keep its query out of tiaokuai's
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{caller_trace}-00f067aa0ba902b7-00");
    let (status, joined_id, body) = query(&server, "SELECT 1 AS one", Some(&parent)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spans = collector.wait_for(&joined_id, &["POST", "query"]).await;
    let request = named(&spans, "POST");
    assert_eq!(hex(&request.trace_id), caller_trace);
    assert_eq!(hex(&request.parent_span_id), "00f067aa0ba902b7");
    drop(server);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
