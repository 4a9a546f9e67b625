//! `/metrics`, read by Prometheus' own text parser (the `prometheus_client` Python package):
//! every family parses, and the numbers follow what the server did.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::{COUNTY, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error};

/// A sample's name and sorted labels.
type Key = (String, Vec<(String, String)>);
/// Samples by name and labels.
type Samples = HashMap<Key, f64>;

/// The samples of a metrics text as Prometheus' parser reads them: (name, labels) → value.
/// `None` when the parser is not installed and this is not CI.
async fn parse(text: &str) -> Option<Samples> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, sorted(s.labels.items()), s.value])
print(json.dumps(out))
"#;
    let mut child = match tokio::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => panic!("python3: {error}"),
    };
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stderr.contains("No module named 'prometheus_client'") {
            assert!(
                std::env::var_os("CI").is_none(),
                "prometheus_client is not installed, but CI is (`python3 -m pip install prometheus-client`)"
            );
            println!("metrics test skipped: prometheus_client is not installed");
            return None;
        }
        panic!("the Prometheus parser refused the text: {stderr}\n{text}");
    }
    let samples: Vec<(Key, f64)> =
        serde_json::from_slice::<Vec<(String, Vec<(String, String)>, f64)>>(&output.stdout)
            .unwrap()
            .into_iter()
            .map(|(name, labels, value)| ((name, labels), value))
            .collect();
    Some(samples.into_iter().collect())
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    *samples
        .get(&(name.to_owned(), labels.clone()))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

#[tokio::test]
async fn metrics_parse_and_follow_what_the_server_did() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(&[(1, "张三", XIASHAN)], COUNTY, "village.people", json!({}))
        .await;
    let reader = server
        .role_holder(
            "xiashan_reader",
            "reader",
            XIASHAN,
            &[("read", "village.people")],
        )
        .await;
    for _ in 0..3 {
        server.rows(&reader, "SELECT * FROM village.people").await;
    }
    let (status, _) = server.query(&reader, "SELECT * FROM village.nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .query(&reader, "SELECT no_such FROM village.people")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // who may read them: admin, and a monitoring principal; not a village official
    let response = server.get(&reader, "/metrics").await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let monitor = server
        .role_holder("prometheus", "monitor", "*", &[("audit", "system.metrics")])
        .await;
    let response = server.get(&monitor, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let Some(samples) = parse(&text).await else {
        return;
    };
    let completed = sample(
        &samples,
        "tiaokuai_queries_total",
        &[("protocol", "http"), ("outcome", "completed")],
    );
    assert!(completed >= 3.0, "{text}");
    assert_eq!(
        sample(
            &samples,
            "tiaokuai_queries_total",
            &[("protocol", "http"), ("outcome", "not_found")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &samples,
            "tiaokuai_queries_total",
            &[("protocol", "http"), ("outcome", "invalid_sql")]
        ),
        1.0
    );
    let count = sample(
        &samples,
        "tiaokuai_query_duration_seconds_count",
        &[("protocol", "http")],
    );
    assert_eq!(count, completed);
    assert_eq!(
        sample(
            &samples,
            "tiaokuai_query_duration_seconds_bucket",
            &[("protocol", "http"), ("le", "+Inf")]
        ),
        count
    );
    assert!(
        sample(
            &samples,
            "tiaokuai_rows_returned_total",
            &[("protocol", "http")]
        ) >= 3.0
    );
    assert!(
        sample(
            &samples,
            "tiaokuai_bytes_returned_total",
            &[("protocol", "http")]
        ) > 0.0
    );
    assert_eq!(sample(&samples, "tiaokuai_queries_running", &[]), 0.0);
    assert!(
        sample(
            &samples,
            "tiaokuai_policy_cache_lookups_total",
            &[("result", "hit")]
        ) > 0.0
    );
    assert_eq!(sample(&samples, "tiaokuai_tasks_open", &[]), 0.0);
    assert_eq!(sample(&samples, "tiaokuai_tasks_overdue", &[]), 0.0);
    // no principal, table or value is a label
    for forbidden in ["xiashan_reader", "village.people", "张三"] {
        assert!(!text.contains(forbidden), "{forbidden} in the metrics");
    }
}

/// A database source's statements, its errors and its slots, and the open tasks.
#[tokio::test]
async fn sources_and_tasks_are_in_the_metrics() {
    let Some(db) = crate::database_fixtures::TestDb::postgres("metrics_source").await else {
        return;
    };
    db.execute(&[
        "CREATE TABLE people (id BIGINT PRIMARY KEY, village_code VARCHAR(12) NOT NULL)",
        &format!("INSERT INTO people VALUES (1, '{XIASHAN}')"),
    ])
    .await;
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register(json!({"name": "metrics_db", "kind": "postgres", "url": db.url().as_str(), "owner": COUNTY,
            "options": {"sslmode": "disable"},
            "tables": [{"name": "civil.people", "remote": "public.people", "binding": {"column": "village_code"}}]}))
        .await;
    server.rows(ADMIN_TOKEN, "SELECT * FROM civil.people").await;
    let response = server
        .post(ADMIN_TOKEN, "/v1/tasks", json!({"title": "核实", "detail": "", "category": "visit", "jurisdiction": XIASHAN, "urgency": "urgent"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = metrics_text(&server).await;
    let Some(samples) = parse(&text).await else {
        return;
    };
    let source = [("source", "metrics_db")];
    assert!(
        sample(
            &samples,
            "tiaokuai_source_statement_duration_seconds_count",
            &source
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&samples, "tiaokuai_source_errors_total", &source),
        0.0
    );
    assert_eq!(
        sample(&samples, "tiaokuai_source_slots_in_use", &source),
        0.0
    );
    assert!(sample(&samples, "tiaokuai_source_slots", &source) >= 1.0);
    assert_eq!(sample(&samples, "tiaokuai_source_up", &source), 1.0);
    assert_eq!(sample(&samples, "tiaokuai_tasks_open", &[]), 1.0);
    assert_eq!(sample(&samples, "tiaokuai_tasks_overdue", &[]), 0.0);
}

/// The metrics text, as admin reads it.
async fn metrics_text(server: &TestServer) -> String {
    server
        .get(ADMIN_TOKEN, "/metrics")
        .await
        .text()
        .await
        .unwrap()
}

/// Sends `sql` as `token` from a task of its own: the status, `Retry-After` and body.
fn send_query(
    server: &TestServer,
    token: &str,
    sql: &str,
) -> tokio::task::JoinHandle<(StatusCode, Option<String>, serde_json::Value)> {
    let request = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(token)
        .json(&json!({ "sql": sql }));
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry, response.json().await.unwrap())
    })
}

/// A burst of one role group's queries above its limit: one runs, one waits, the rest are
/// refused with 429 and `Retry-After` (never a 5xx), and another group's query is answered
/// while the burst holds its own group.
#[tokio::test]
async fn a_burst_above_a_role_limit_gets_429s_and_other_roles_go_on() {
    let dashboards = tiaokuai_engine::admission::GroupLimit::new(1, 1);
    let server = TestServer::start_with(|config| {
        config.engine.role_groups = vec![("dashboard".to_owned(), dashboards)];
    })
    .await;
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(
            server
                .role_holder(&format!("board_{n}"), "dashboard", COUNTY, &[])
                .await,
        );
    }
    let reader = server
        .role_holder("village_reader", "reader", XIASHAN, &[])
        .await;
    let slow = "SELECT count(*) FROM generate_series(1, 50000000)";
    let burst: Vec<_> = tokens
        .iter()
        .chain(tokens.iter())
        .map(|token| send_query(&server, token, slow))
        .collect();
    // once the dashboards' queue holds one, a reader's query is answered all the same
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = metrics_text(&server).await;
        if text.contains("tiaokuai_queries_queued{group=\"dashboard\"} 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing queued:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, body) = server.query(&reader, "SELECT 1 AS one").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // answered while the burst still holds its group, not after it
    let running: Vec<serde_json::Value> = server
        .get(ADMIN_TOKEN, "/v1/queries")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        running
            .iter()
            .any(|q| q["principal"].as_str().unwrap().starts_with("board_")),
        "{running:?}"
    );
    let mut answered = 0;
    let mut refused = 0;
    for query in burst {
        let (status, retry, _) = query.await.unwrap();
        match status {
            StatusCode::OK => answered += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(retry.as_deref(), Some("1"));
            }
            other => panic!("a burst query got {other}"),
        }
    }
    assert!(answered >= 2, "{answered} answered");
    assert!(refused >= 1, "{refused} refused");
    assert_eq!(answered + refused, 8);
}

/// A role group's own time and memory limits bound each of its queries: a dashboard's
/// long query stops at the group's 1 s with a 504 naming it, its memory-hungry ones (an
/// aggregate, a function's value) fail alone with `resources_exhausted` naming the group; a
/// reader (default group) runs the memory-hungry one, and the dashboard's small queries are
/// answered after both.
#[tokio::test]
async fn a_role_group_bounds_the_time_and_memory_of_each_query() {
    let mut dashboards = tiaokuai_engine::admission::GroupLimit::new(4, 4);
    dashboards.timeout = Some(std::time::Duration::from_secs(1));
    dashboards.memory = Some(1 << 20);
    let server = TestServer::start_with(|config| {
        config.engine.role_groups = vec![("dashboard".to_owned(), dashboards)];
    })
    .await;
    let board = server.role_holder("board", "dashboard", COUNTY, &[]).await;
    let reader = server
        .role_holder("village_reader", "reader", XIASHAN, &[])
        .await;
    let started = std::time::Instant::now();
    let (status, body) = server
        .query(
            &board,
            "SELECT count(*) FROM generate_series(1, 100000000000)",
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1s"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // 2 million values held by one aggregate: 16 MB, past the dashboards' 1 MiB a query
    let hungry = "SELECT cardinality(array_agg(value)) AS n FROM generate_series(1, 2000000)";
    let (status, body) = server.query(&board, hungry).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "resources_exhausted", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the 1 MiB each query of the dashboard group may hold"),
        "{message}"
    );
    // a value a function makes counts against the same limit, before it is made
    let (status, body) = server
        .query(&board, "SELECT length(repeat('x', 3000000)) AS n")
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("repeat values wanted"), "{message}");
    assert!(message.contains("dashboard group"), "{message}");
    let (status, body) = server.query(&reader, hungry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[2000000]]));
    let (status, body) = server
        .query(&board, "SELECT count(*) AS n FROM generate_series(1, 1000)")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[1000]]));
}

/// A principal lists its running queries and cancels one; another principal sees none of
/// them and cannot cancel them; admin sees all. The cancelled query's client gets `409
/// cancelled` and the audit trail says it was cancelled.
#[tokio::test]
async fn running_queries_are_listed_and_cancelled_by_their_owner_or_admin() {
    let server = TestServer::start().await;
    let alice = server.role_holder("alice", "reader", XIASHAN, &[]).await;
    let bob = server.role_holder("bob", "reader", XIASHAN, &[]).await;
    let slow = "SELECT count(*) FROM generate_series(1, 100000000000)";
    let running = send_query(&server, &alice, slow);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let listed = loop {
        let listed: Vec<serde_json::Value> = server
            .get(&alice, "/v1/queries")
            .await
            .json()
            .await
            .unwrap();
        if !listed.is_empty() {
            break listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the query was never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["principal"], "alice");
    assert_eq!(listed[0]["sql"], slow);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let others: Vec<serde_json::Value> =
        server.get(&bob, "/v1/queries").await.json().await.unwrap();
    assert!(others.is_empty());
    let all: Vec<serde_json::Value> = server
        .get(ADMIN_TOKEN, "/v1/queries")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let response = server.delete(&bob, &format!("/v1/queries/{id}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = server.delete(&alice, &format!("/v1/queries/{id}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, body) = running.await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cancelled");
    let listed: Vec<serde_json::Value> = server
        .get(&alice, "/v1/queries")
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
    let response = server.delete(&alice, &format!("/v1/queries/{id}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let trail: Vec<serde_json::Value> = server
        .get(&alice, "/v1/audit?action=query")
        .await
        .json()
        .await
        .unwrap();
    let record = trail.iter().find(|e| e["target"] == id.as_str()).unwrap();
    assert_eq!(record["detail"]["outcome"], "cancelled");
}
