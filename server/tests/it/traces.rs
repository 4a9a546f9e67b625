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
        self.start_on("127.0.0.1:0".parse().unwrap())
    }

    fn start_on(&self, address: std::net::SocketAddr) -> String {
        self.serve(address, None)
    }

    /// Listens on `address`, over TLS with `identity` (certificate and key, PEM) when given.
    fn serve(&self, address: std::net::SocketAddr, identity: Option<(&[u8], &[u8])>) -> String {
        let incoming = tonic::transport::server::TcpIncoming::bind(address).unwrap();
        let port = incoming.local_addr().unwrap().port();
        let mut server = tonic::transport::Server::builder();
        let url = match identity {
            Some((cert, key)) => {
                let identity = tonic::transport::Identity::from_pem(cert, key);
                server = server
                    .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                    .unwrap();
                format!("https://localhost:{port}")
            }
            None => format!("http://127.0.0.1:{port}"),
        };
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(server.add_service(service).serve_with_incoming(incoming));
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

/// `tiaokuai serve` with a fresh data directory in `dir` and `flags`; what it logged if it
/// does not start.
async fn launch(dir: &std::path::Path, flags: &[&str]) -> Result<ServerProcess, String> {
    let data_dir = dir.to_str().unwrap();
    let mut args = vec!["--data-dir", data_dir];
    args.extend(flags);
    ServerProcess::launch(
        dir,
        &args,
        &[("TIAOKUAI_ADMIN_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(60),
    )
    .await
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
    let server = launch(dir.path(), &["--otlp-endpoint", &endpoint])
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

    // a path with an id is named by its route
    let (status, _) = server
        .send(Method::GET, ADMIN_TOKEN, "/v1/tasks/tsk_none", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !collector
        .spans
        .lock()
        .unwrap()
        .iter()
        .any(|(_, span)| span.name == "GET /v1/tasks/{id}")
    {
        assert!(Instant::now() < deadline, "no span named by the route");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|(_, span)| span.name.contains("tsk_none")),
        "a span is named by the path"
    );

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

/// A collector that is not there costs spans, not queries, and the log says so once; when
/// it comes up, the next spans reach it and the log says that too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_does_not_answer_is_logged_once_and_costs_no_query() {
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{address}");
    let server = launch(dir.path(), &["--otlp-endpoint", &endpoint])
        .await
        .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
    let lost = "traces cannot be sent to the collector";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains(lost) {
        let (status, _, body) = query(&server, "SELECT 1 AS one", None).await;
        assert_eq!((status, &body["rows"]), (StatusCode::OK, &json!([[1]])));
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let collector = Collector::default();
    collector.start_on(address);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, query_id, _) = query(&server, "SELECT 1 AS one", None).await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(700)).await;
        if !collector.of_query(&query_id).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{}", server.log());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("traces reach the collector again") {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.log().matches(lost).count(), 1, "{}", server.log());
}

/// A CA and a certificate it signed for `localhost`, made by `openssl` in `dir`: the paths of
/// the CA's certificate, the server's certificate and its key.
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &key,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tiaokuai test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &key,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    ["ca.pem", "leaf.pem", "leaf.key"].map(|name| dir.join(name))
}

/// An https collector is reached over TLS, its certificate checked against the CA file (the
/// system's roots do not trust it, so without the file nothing reaches it); a CA file that
/// cannot be read, holds no certificate or is given for a plain endpoint stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_collector_is_reached_over_tls_and_a_bad_ca_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = certificates(dir.path());
    let collector = Collector::default();
    let endpoint = collector.serve(
        "127.0.0.1:0".parse().unwrap(),
        Some((
            &std::fs::read(&cert).unwrap(),
            &std::fs::read(&key).unwrap(),
        )),
    );
    let data = tempfile::tempdir().unwrap();
    let start = |endpoint: &str, ca: Option<&std::path::Path>| {
        let mut flags = vec!["--otlp-endpoint".to_owned(), endpoint.to_owned()];
        if let Some(ca) = ca {
            flags.extend(["--otlp-ca-file".to_owned(), ca.to_str().unwrap().to_owned()]);
        }
        let dir = data.path().to_owned();
        async move {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            launch(&dir, &flags).await
        }
    };
    let missing = dir.path().join("absent.pem");
    let refused = start(&endpoint, Some(&missing)).await.err().unwrap();
    assert!(
        refused.contains("the OTLP CA file") && refused.contains("cannot be read"),
        "{refused}"
    );
    let refused = start(&endpoint, Some(&key)).await.err().unwrap();
    assert!(refused.contains("holds no PEM certificate"), "{refused}");
    let plain = endpoint.replace("https:", "http:");
    let refused = start(&plain, Some(&ca)).await.err().unwrap();
    assert!(
        refused.contains("is for an https:// OTLP endpoint"),
        "{refused}"
    );

    // without the CA the collector's certificate is not trusted: nothing reaches it
    let untrusting = start(&endpoint, None)
        .await
        .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
    let (status, untrusted_id, body) = query(&untrusting, "SELECT 1 AS one", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !untrusting
        .log()
        .contains("traces cannot be sent to the collector")
    {
        assert!(Instant::now() < deadline, "{}", untrusting.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(untrusting);

    let server = start(&endpoint, Some(&ca))
        .await
        .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
    let (status, query_id, body) = query(&server, "SELECT 1 AS one", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    collector
        .wait_for(&query_id, &["POST", "query", "plan", "execute"])
        .await;
    let log = server.log();
    assert!(!log.contains("traces cannot be sent"), "{log}");
    assert!(collector.of_query(&untrusted_id).is_empty());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
