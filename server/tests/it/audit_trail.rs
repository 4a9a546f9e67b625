//! How a query's answer ended is in the audit trail, beside the record of its start: completed
//! with its rows, failed after its first batch (when its status can no longer say so), or
//! cancelled because the client went away. Each wait is bounded only so that a failing test
//! ends; nothing is timed.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai_catalog::{Catalog, SqliteCatalog};

use crate::database_fixtures::{Link, Proxy, TestDb};
use crate::fixtures::{CHIHUAI_VILLAGE, COUNTY, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer};

const ROWS: i64 = 200_000;
const BOUND: Duration = Duration::from_secs(60);

/// The `query.end` record of `query_id`, once the server has written it.
async fn end_of(server: &TestServer, query_id: &str) -> Value {
    let catalog = SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let events = catalog.audit_events(1000).await.unwrap();
        let started = events
            .iter()
            .find(|e| e.action == "query" && e.target == query_id);
        let ended = events
            .iter()
            .find(|e| e.action == "query.end" && e.target == query_id);
        if let (Some(started), Some(ended)) = (started, ended) {
            assert_eq!(started.detail["outcome"], "started", "{:?}", started.detail);
            assert_eq!(ended.principal, "admin");
            return ended.detail.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end recorded for {query_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A large PostgreSQL table, reached through a proxy that can cut the link.
async fn big_source(test: &str) -> Option<(TestDb, Proxy, TestServer)> {
    let db = TestDb::postgres(test).await?;
    db.execute(&[
        "CREATE TABLE big (id BIGINT PRIMARY KEY, village_code VARCHAR(12) NOT NULL, note VARCHAR(100))",
        &format!("INSERT INTO big SELECT g, '{XIASHAN}', repeat('x', 80) FROM generate_series(1, {ROWS}) g"),
    ])
    .await;
    let proxy = Proxy::start(db.address());
    let mut through = db.url();
    through.set_port(Some(proxy.address.port())).unwrap();
    through
        .set_host(Some(&proxy.address.ip().to_string()))
        .unwrap();
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register(json!({"name": "big_db", "kind": "postgres", "url": through.as_str(), "owner": COUNTY,
            "options": {"sslmode": "disable", "connect_timeout_ms": 2000, "query_timeout_ms": 30000},
            "tables": [{"name": "civil.big", "remote": "public.big", "binding": {"column": "village_code"}}]}))
        .await;
    Some((db, proxy, server))
}

async fn open(server: &TestServer, sql: &str) -> (String, reqwest::Response) {
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "application/x-ndjson")
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let query_id = response.headers()["x-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (query_id, response)
}

#[tokio::test]
async fn a_completed_answer_records_its_rows() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[
                (1, "张三", XIASHAN),
                (2, "李四", XIASHAN),
                (3, "王五", XIASHAN),
            ],
            XIASHAN,
            "village.people",
            json!({}),
        )
        .await;
    let (query_id, response) = open(&server, "SELECT * FROM village.people").await;
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 3);
    let end = end_of(&server, &query_id).await;
    assert_eq!(
        (&end["outcome"], &end["rows"]),
        (&json!("completed"), &json!(3)),
        "{end}"
    );
    assert!(end["bytes"].as_u64().unwrap() > 0, "{end}");
    assert!(end["duration_ms"].is_u64(), "{end}");
}

/// The records of one query: its `query` record and its `query.end` record, if any.
async fn records_of(server: &TestServer, query_id: &str) -> (Vec<Value>, Vec<Value>) {
    let catalog = SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    let events = catalog.audit_events(10_000).await.unwrap();
    let of = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.target == query_id)
            .map(|e| {
                let mut detail = e.detail.clone();
                detail["principal"] = json!(e.principal);
                detail
            })
            .collect::<Vec<_>>()
    };
    (of("query"), of("query.end"))
}

async fn query_id_of(server: &TestServer, token: &str, sql: &str) -> (StatusCode, String) {
    let response = server.post(token, "/v1/query", json!({ "sql": sql })).await;
    let status = response.status();
    let id = response.headers()["x-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.text().await;
    (status, id)
}

/// A scripted mix of allowed, refused and failed queries, EXPLAIN among them: each leaves
/// exactly one record saying who asked, from where, what it read under which scope and masks,
/// and how it went; and each query that ran, one record of how it ended.
#[tokio::test]
async fn every_query_leaves_one_record_of_what_it_read_and_how_it_went() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[(1, "张三", XIASHAN), (2, "李四", CHIHUAI_VILLAGE)],
            COUNTY,
            "village.people",
            json!({"name": "sensitive"}),
        )
        .await;
    let reader = server
        .role_holder(
            "xiashan_reader",
            "reader",
            XIASHAN,
            &[("read", "village.people")],
        )
        .await;
    let mix: [(&str, StatusCode, &str); 6] = [
        (
            "SELECT id, name FROM village.people",
            StatusCode::OK,
            "started",
        ),
        (
            "EXPLAIN SELECT id FROM village.people",
            StatusCode::OK,
            "started",
        ),
        (
            "CREATE TABLE village.copy AS SELECT 1",
            StatusCode::FORBIDDEN,
            "permission_denied",
        ),
        (
            "SELECT no_such_column FROM village.people",
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        (
            "SELECT * FROM village.nowhere",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "SELECT id / (id - id) FROM village.people",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    let mut ids = Vec::new();
    for (sql, status, outcome) in mix {
        let (got, id) = query_id_of(&server, &reader, sql).await;
        assert_eq!(got, status, "{sql}");
        ids.push((id, sql, outcome));
    }
    for (id, sql, outcome) in &ids {
        let (started, _) = records_of(&server, id).await;
        assert_eq!(started.len(), 1, "{sql}: {started:?}");
        let record = &started[0];
        assert_eq!(record["outcome"], *outcome, "{sql}: {record}");
        assert_eq!(record["principal"], "xiashan_reader");
        assert_eq!(record["protocol"], "http");
        assert!(
            record["client"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{record}"
        );
        assert_eq!(record["roles"], json!([format!("reader@{XIASHAN}")]));
        assert!(record["policy_version"].is_u64(), "{record}");
        assert_eq!(record["sql"], *sql);
        assert_eq!(record["sql_hash"].as_str().unwrap().len(), 64);
        if *outcome != "started" {
            assert!(!record["reason"].as_str().unwrap().is_empty(), "{record}");
        }
    }
    // what the first query read: the reader's village only, the name masked
    let (first, _) = records_of(&server, &ids[0].0).await;
    assert_eq!(first[0]["statement"], "SELECT");
    assert_eq!(
        first[0]["tables"],
        json!([{"table": "village.people", "rows": [XIASHAN], "masked": ["name"]}])
    );
    let (explain, _) = records_of(&server, &ids[1].0).await;
    assert_eq!(explain[0]["statement"], "EXPLAIN");
    // the two that ran each end once
    for (id, _, _) in &ids[..2] {
        end_of_any(&server, id).await;
        let (_, ended) = records_of(&server, id).await;
        assert_eq!(ended.len(), 1);
    }
    for (id, sql, _) in &ids[2..] {
        let (_, ended) = records_of(&server, id).await;
        assert!(ended.is_empty(), "{sql}: a refused query has no end");
    }
}

async fn end_of_any(server: &TestServer, query_id: &str) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while records_of(server, query_id).await.1.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end for {query_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// ID and phone numbers given as literals are not in the audit store, nor anywhere in the
/// catalog's files.
#[tokio::test]
async fn no_id_or_phone_number_reaches_the_audit_store() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[(1, "张三", XIASHAN)],
            XIASHAN,
            "village.people",
            json!({}),
        )
        .await;
    let (id_number, phone) = ("33082419900307123X", "13957012345");
    let sql = format!(
        "SELECT * FROM village.people WHERE name = '{id_number}' OR name = '{phone}' OR id = 330824199003071234 OR name = CAST(1 / 0 AS VARCHAR) || '{phone}'"
    );
    let (_, first) = query_id_of(&server, ADMIN_TOKEN, &sql).await;
    let (_, second) = query_id_of(
        &server,
        ADMIN_TOKEN,
        &format!("SELECT CAST('{id_number}' AS INT)"),
    )
    .await;
    // an ID number across the byte where a long SQL text is cut (4096): its first 16 digits
    // stand before the cut
    let (straddling, prefix) = ("330824198812250017", "3308241988122500");
    let pad = "x".repeat(4080 - "SELECT '".len() - "' AS pad, '".len());
    let long = format!("SELECT '{pad}' AS pad, '{straddling}' AS id");
    assert_eq!(long.find(straddling), Some(4080));
    let (status, third) = query_id_of(&server, ADMIN_TOKEN, &long).await;
    assert_eq!(status, StatusCode::OK);
    let (started, _) = records_of(&server, &third).await;
    let kept = started[0]["sql"].as_str().unwrap();
    assert!(
        kept.len() <= 4096 && kept.ends_with("' AS pad, '[ID redacted]' A"),
        "{kept}"
    );
    for id in [&first, &second] {
        let (started, _) = records_of(&server, id).await;
        assert_eq!(started.len(), 1);
        assert!(
            started[0]["sql"]
                .as_str()
                .unwrap()
                .contains("[ID redacted]"),
            "{}",
            started[0]
        );
    }
    let (first_record, _) = records_of(&server, &first).await;
    assert!(
        first_record[0]["sql"]
            .as_str()
            .unwrap()
            .contains("[phone redacted]")
    );
    let (second_record, _) = records_of(&server, &second).await;
    assert!(
        second_record[0]["reason"]
            .as_str()
            .unwrap()
            .contains("[ID redacted]"),
        "{}",
        second_record[0]
    );
    // every byte the catalog keeps: the database and its write-ahead log
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("catalog.db")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for secret in [id_number, phone, "330824199003071234", prefix] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in {}",
                path.display()
            );
        }
    }
}

/// A query whose audit record cannot be written is refused, and returns nothing.
#[tokio::test]
async fn a_query_that_cannot_be_audited_is_refused_with_503() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[(1, "张三", XIASHAN)],
            XIASHAN,
            "village.people",
            json!({}),
        )
        .await;
    let catalog = rusqlite::Connection::open(server.data_dir().join("catalog.db")).unwrap();
    catalog
        .execute_batch(
            "CREATE TRIGGER audit_full BEFORE INSERT ON audit_events WHEN NEW.action = 'query' \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/query",
            json!({"sql": "SELECT name FROM village.people"}),
        )
        .await;
    let message = crate::harness::assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
    )
    .await;
    assert!(message.contains("audit"), "{message}");
    assert!(!message.contains("张三"));
    catalog.execute_batch("DROP TRIGGER audit_full").unwrap();
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT name FROM village.people")
        .await;
    assert_eq!(rows, vec![json!(["张三"])]);
}

/// The database dies in the middle of the answer: the client sees a cut body, and the audit
/// trail says the query failed, naming the source, after how many rows.
#[tokio::test]
async fn a_source_failing_after_the_first_batch_is_recorded_as_a_failure() {
    let Some((_db, proxy, server)) = big_source("audit_failing").await else {
        return;
    };
    let (query_id, response) = open(&server, "SELECT id, note FROM civil.big").await;
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("a first chunk").expect("readable");
    assert!(!first.is_empty());
    proxy.set(Link::Down);
    let mut cut = false;
    let read_all = async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                cut = true;
                break;
            }
        }
    };
    tokio::time::timeout(BOUND, read_all).await.unwrap();
    assert!(cut, "the answer ended as if it were complete");
    let end = end_of(&server, &query_id).await;
    assert_eq!(end["outcome"], "failed", "{end}");
    assert_eq!(end["error"]["code"], "source_unavailable", "{end}");
    assert!(
        end["error"]["message"].as_str().unwrap().contains("big_db"),
        "{end}"
    );
    let rows = end["rows"].as_i64().unwrap();
    assert!(rows > 0 && rows < ROWS, "{end}");
}

/// The client goes away in the middle of the answer: the query is cancelled, and recorded so.
#[tokio::test]
async fn a_client_that_goes_away_leaves_a_cancelled_query() {
    let Some((_db, _proxy, server)) = big_source("audit_cancelled").await else {
        return;
    };
    let (query_id, response) = open(&server, "SELECT id, note FROM civil.big").await;
    let mut body = response.bytes_stream();
    body.next().await.expect("a first chunk").expect("readable");
    drop(body);
    let end = end_of(&server, &query_id).await;
    assert_eq!(end["outcome"], "cancelled", "{end}");
    let rows = end["rows"].as_i64().unwrap();
    assert!(rows < ROWS, "{end}");
}

/// The data owner's view: a village official lists who read its village's data (over HTTP
/// and in SQL), without the SQL or address of anyone else, and nothing of other villages'; an
/// auditor sees what was read and done in the jurisdictions it audits; pages follow.
#[tokio::test]
async fn a_village_official_lists_who_read_its_data() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[(1, "张三", XIASHAN), (2, "李四", CHIHUAI_VILLAGE)],
            COUNTY,
            "village.people",
            json!({}),
        )
        .await;
    let read = [("read", "village.people")];
    let dispatcher = server
        .role_holder("county_dispatcher", "dispatcher", COUNTY, &read)
        .await;
    let xiashan = server
        .role_holder("xiashan_official", "official", XIASHAN, &read)
        .await;
    let chihuai = server
        .role_holder("chihuai_official", "official", CHIHUAI_VILLAGE, &[])
        .await;
    let auditor = server
        .role_holder(
            "majin_auditor",
            "auditor",
            MAJIN,
            &[("audit", "system.access_log")],
        )
        .await;
    let (_, by_dispatcher) =
        query_id_of(&server, &dispatcher, "SELECT count(*) FROM village.people").await;
    let (_, by_chihuai) =
        query_id_of(&server, &chihuai, "SELECT count(*) FROM village.people").await;
    let (_, by_xiashan) = query_id_of(&server, &xiashan, "SELECT name FROM village.people").await;
    end_of_any(&server, &by_dispatcher).await;
    end_of_any(&server, &by_xiashan).await;

    let list = |token: String, query: &'static str| {
        let server = &server;
        async move {
            let response = server.get(&token, &format!("/v1/audit{query}")).await;
            assert_eq!(response.status(), StatusCode::OK);
            let next = response
                .headers()
                .get("x-next-before")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Vec<Value> = response.json().await.unwrap();
            (body, next)
        }
    };
    let (seen, _) = list(xiashan.clone(), "?action=query").await;
    let targets: Vec<&str> = seen.iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert!(targets.contains(&by_dispatcher.as_str()), "{seen:?}");
    assert!(targets.contains(&by_xiashan.as_str()), "{seen:?}");
    assert!(!targets.contains(&by_chihuai.as_str()), "{seen:?}");
    let theirs = seen
        .iter()
        .find(|e| e["target"] == by_dispatcher.as_str())
        .unwrap();
    assert_eq!(theirs["principal"], "county_dispatcher");
    assert!(theirs["detail"].get("sql").is_none(), "{theirs}");
    assert!(theirs["detail"].get("client").is_none(), "{theirs}");
    assert_eq!(theirs["detail"]["tables"][0]["rows"], json!([COUNTY]));
    assert_eq!(theirs["end"]["outcome"], "completed");
    assert_eq!(theirs["end"]["rows"], 1);
    let mine = seen
        .iter()
        .find(|e| e["target"] == by_xiashan.as_str())
        .unwrap();
    assert_eq!(mine["detail"]["sql"], "SELECT name FROM village.people");
    // and the changes to the catalog are not the official's to see
    assert!(seen.iter().all(|e| e["action"] == "query"));
    let (everything, _) = list(xiashan.clone(), "").await;
    assert!(
        everything.iter().all(|e| e["action"] == "query"),
        "{everything:?}"
    );

    // the same receipts in SQL
    let rows = server
        .rows(
            &xiashan,
            "SELECT principal, table_name, row_scope, outcome, rows FROM system.access_log ORDER BY seq",
        )
        .await;
    assert!(
        rows.contains(&json!([
            "county_dispatcher",
            "village.people",
            COUNTY,
            "completed",
            1
        ])),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r[0] != "chihuai_official"), "{rows:?}");
    // admin reads every receipt in SQL
    let every = server
        .rows(
            ADMIN_TOKEN,
            "SELECT principal FROM system.access_log WHERE principal = 'chihuai_official'",
        )
        .await;
    assert_eq!(every.len(), 1, "{every:?}");

    // the township's auditor sees the dispatcher's and Xiashan's queries, not Chihuai's
    let (audited, _) = list(auditor.clone(), "?action=query").await;
    let targets: Vec<&str> = audited
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert!(targets.contains(&by_dispatcher.as_str()) && targets.contains(&by_xiashan.as_str()));
    assert!(!targets.contains(&by_chihuai.as_str()), "{audited:?}");
    let theirs = audited
        .iter()
        .find(|e| e["target"] == by_dispatcher.as_str())
        .unwrap();
    assert!(
        theirs["detail"]["sql"].is_string(),
        "an auditor sees the SQL: {theirs}"
    );

    // admin pages through everything, newest first
    let (first, next) = list(ADMIN_TOKEN.to_owned(), "?limit=2").await;
    assert_eq!(first.len(), 2);
    let next = next.expect("more records follow");
    let (second, _) = list(
        ADMIN_TOKEN.to_owned(),
        Box::leak(format!("?limit=2&before={next}").into_boxed_str()),
    )
    .await;
    assert!(second[0]["seq"].as_i64().unwrap() < first[1]["seq"].as_i64().unwrap());
    let (by_principal, _) = list(ADMIN_TOKEN.to_owned(), "?principal=chihuai_official").await;
    assert!(
        by_principal
            .iter()
            .all(|e| e["principal"] == "chihuai_official")
            && !by_principal.is_empty()
    );

    for bad in [
        "?limit=0",
        "?limit=1001",
        "?before=abc",
        "?before=-3",
        "?since=yesterday",
    ] {
        let response = server.get(ADMIN_TOKEN, &format!("/v1/audit{bad}")).await;
        crate::harness::assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}
