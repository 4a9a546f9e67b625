//! The `tiaokuai serve` process killed (SIGKILL) in the middle of governance work, and started
//! again: no escalation is made twice or lost, no run is left "running", and the audit chain
//! verifies. And the process asked to stop (SIGTERM): it lets what runs finish, takes nothing
//! new, signs the whole audit chain and exits 0.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tiaokuai_catalog::jurisdiction::RawJurisdiction;
use tiaokuai_catalog::{
    Catalog, JurisdictionCode, NewTask, SqliteCatalog, TaskClocks, TaskOrigin, Urgency,
};

use crate::fixtures::{self, COUNTY, XIASHAN};
use crate::harness::ADMIN_TOKEN;
use crate::process::{ServerProcess, command};

/// `tiaokuai audit verify` on a data directory: whether it found the chain intact, and what
/// it printed.
fn verify_chain(dir: &std::path::Path) -> (bool, String) {
    let output = command(dir)
        .args(["audit", "verify", "--data-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

const TASKS: usize = 3000;

fn stamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A data directory whose catalog holds the small tree and `TASKS` tasks dispatched two hours
/// ago and never accepted: each is due for both its escalations.
async fn overdue_tasks(dir: &std::path::Path) {
    let catalog = SqliteCatalog::open(&dir.join("catalog.db")).unwrap();
    let tree: Vec<RawJurisdiction> = serde_json::from_value::<Vec<Value>>(fixtures::tree())
        .unwrap()
        .into_iter()
        .map(|node| RawJurisdiction {
            code: node["code"].as_str().unwrap().into(),
            name: node["name"].as_str().unwrap().into(),
            level: node["level"].as_str().unwrap().into(),
            parent: node["parent"].as_str().map(Into::into),
        })
        .collect();
    {
        catalog.upsert_jurisdictions(&tree, "admin").await.unwrap();
        let dispatched = chrono::Utc::now() - chrono::Duration::hours(2);
        let tasks = (0..TASKS)
            .map(|n| NewTask {
                id: format!("task_{n:06}"),
                title: format!("任务 {n}"),
                detail: String::new(),
                category: "visit".into(),
                jurisdiction: JurisdictionCode::parse(XIASHAN).unwrap(),
                department: None,
                urgency: Urgency::Normal,
                clocks: TaskClocks::default(),
                origin: TaskOrigin::Manual,
                run_id: None,
                row: None,
                origin_key: None,
                created_by: "admin".into(),
                created_at: stamp(dispatched),
                accept_due_at: stamp(dispatched + chrono::Duration::minutes(30)),
                red_at: stamp(dispatched + chrono::Duration::minutes(60)),
            })
            .collect();
        catalog.insert_tasks(tasks).await.unwrap();
    }
}

fn escalations(dir: &std::path::Path) -> (usize, Vec<(String, i64)>) {
    let db = rusqlite::Connection::open(dir.join("catalog.db")).unwrap();
    let total: i64 = db
        .query_row(
            "SELECT count(*) FROM task_events WHERE action = 'escalate'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let wrong = db
        .prepare(
            "SELECT id, n FROM (
                 SELECT t.id, t.supervision,
                        (SELECT count(*) FROM task_events e WHERE e.task_id = t.id AND e.action = 'escalate') AS n
                 FROM tasks t)
             WHERE n <> 2 OR supervision <> 2",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    (total as usize, wrong)
}

async fn launch(dir: &std::path::Path) -> ServerProcess {
    let data_dir = dir.to_str().unwrap();
    ServerProcess::launch(
        dir,
        &["--data-dir", data_dir],
        &[
            ("TIAOKUAI_ADMIN_TOKEN", ADMIN_TOKEN),
            ("TIAOKUAI_LOG", "info"),
        ],
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|log| panic!("the server did not start:\n{log}"))
}

#[tokio::test]
async fn a_server_killed_while_escalating_escalates_each_task_once_per_level() {
    let dir = tempfile::tempdir().unwrap();
    overdue_tasks(dir.path()).await;
    let server = launch(dir.path()).await;
    // kill it as soon as escalations have begun
    let deadline = Instant::now() + Duration::from_secs(60);
    while escalations(dir.path()).0 == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let log = server.stop();
    let (at_kill, _) = escalations(dir.path());
    assert!(at_kill > 0, "no escalation began:\n{log}");
    eprintln!("killed after {at_kill} of {} escalations", 2 * TASKS);
    let (intact, report) = verify_chain(dir.path());
    assert!(intact && report.contains("is intact"), "{report}");

    let server = launch(dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (total, wrong) = escalations(dir.path());
        if wrong.is_empty() {
            assert_eq!(total, 2 * TASKS, "each task escalated exactly twice");
            break;
        }
        assert!(
            total <= 2 * TASKS,
            "an escalation was made twice: {total} for {TASKS} tasks"
        );
        assert!(
            Instant::now() < deadline,
            "not done: {:?}",
            &wrong[..3.min(wrong.len())]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // and the tasks still read as red, escalated to the county
    let (status, body) = server
        .send(
            Method::POST,
            ADMIN_TOKEN,
            "/v1/query",
            Some(&json!({"sql": "SELECT supervision, escalated_to, count(*) FROM governance.tasks GROUP BY 1, 2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["rows"], json!([["red", COUNTY, TASKS]]));
}

#[tokio::test]
async fn a_server_killed_during_a_stored_run_marks_it_failed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = launch(dir.path()).await;
    let (status, _) = server
        .send(
            Method::POST,
            ADMIN_TOKEN,
            "/v1/jurisdictions",
            Some(&fixtures::tree()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let slow = json!({
        "name": "reports.slow",
        "owner": COUNTY,
        "sql": "SELECT count(*) AS n FROM generate_series(1, 100000000000)",
    });
    let (status, created) = server
        .send(Method::POST, ADMIN_TOKEN, "/v1/reports", Some(&slow))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let report: Value = serde_json::from_str(&created).unwrap();
    let id = report["id"].as_str().unwrap().to_owned();
    let url = format!("{}/v1/reports/{id}/runs", server.url);
    let running = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({}))
            .send()
            .await;
    });
    let db = dir.path().join("catalog.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM report_runs WHERE status = 'running'",
                [],
                |row| row.get(0),
            )
            .unwrap_or(0);
        if count == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    running.abort();

    let server = launch(dir.path()).await;
    let (status, runs) = server
        .send(
            Method::GET,
            ADMIN_TOKEN,
            &format!("/v1/reports/{id}/runs"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let runs: Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"].as_str().unwrap().contains("interrupted"),
        "{runs}"
    );
    let partial = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "partial"));
    assert!(!partial, "the interrupted result is removed");
    // the schedule of work goes on: another run of another report succeeds
    let quick = json!({"name": "reports.quick", "owner": COUNTY, "sql": "SELECT 1 AS one"});
    let (_, created) = server
        .send(Method::POST, ADMIN_TOKEN, "/v1/reports", Some(&quick))
        .await;
    let quick: Value = serde_json::from_str(&created).unwrap();
    let path = format!("/v1/reports/{}/runs", quick["id"].as_str().unwrap());
    let (status, run) = server
        .send(Method::POST, ADMIN_TOKEN, &path, Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
}

#[tokio::test]
async fn a_server_asked_to_stop_lets_running_queries_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = launch(dir.path()).await;
    let url = format!("{}/v1/query", server.url);
    let sql = "SELECT count(*) AS n FROM generate_series(1, 200000000)";
    let running = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"sql": sql}))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // nothing new is taken meanwhile
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(fresh.is_err(), "a new connection was taken: {fresh:?}");
    // the query that was running finishes with its answer
    let (status, answer) = running.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains("200000000"), "{answer}");
    let (exit, log) = server
        .exited(Duration::from_secs(30))
        .await
        .expect("the server exits once its requests are done");
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(log.contains("stopping"), "{log}");
    // the last records are signed before the process exits
    let (intact, report) = verify_chain(dir.path());
    assert!(intact, "{report}");
    assert!(!report.contains("not yet signed"), "{report}");
    // and nothing listens any more
    let refused = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .send()
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_server_asked_to_stop_cuts_what_outlasts_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let mut server = ServerProcess::launch(
        dir.path(),
        &["--data-dir", &data_dir, "--shutdown-grace-secs", "1"],
        &[("TIAOKUAI_ADMIN_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
    let url = format!("{}/v1/query", server.url);
    let endless = "SELECT count(*) FROM generate_series(1, 100000000000)";
    let running = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"sql": endless}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    let (exit, log) = server
        .exited(Duration::from_secs(20))
        .await
        .expect("the server exits when its grace period ends");
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert!(log.contains("grace period ended"), "{log}");
    // the cut query's client sees its connection end without an answer
    let cut = match running.await.unwrap() {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(cut, "the query outlasting the grace period was answered");
}

/// Killed while sources are registered and queries run: the chain verifies, and the next
/// start goes on with it.
#[tokio::test]
async fn a_server_killed_while_registering_and_querying_leaves_a_verifiable_chain() {
    let dir = tempfile::tempdir().unwrap();
    let server = launch(dir.path()).await;
    let files = tempfile::tempdir().unwrap();
    fixtures::write_parquet(
        &files.path().join("people").join("part-0.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    let url = fixtures::file_url(&files.path().join("people"));
    let base = server.url.clone();
    let busy = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for n in 0.. {
            let source = fixtures::parquet_source(&format!("people_{n}"), &url, COUNTY, None);
            let register = client
                .post(format!("{base}/v1/sources"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&source)
                .send();
            let query = client
                .post(format!("{base}/v1/query"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"sql": "SELECT count(*) FROM generate_series(1, 1000000)"}))
                .send();
            let (registered, queried) = tokio::join!(register, query);
            if registered.is_err() || queried.is_err() {
                return n;
            }
        }
        unreachable!()
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = server.stop();
    let rounds = busy.await.unwrap();
    assert!(rounds > 0, "nothing ran before the kill:\n{log}");
    let (intact, report) = verify_chain(dir.path());
    assert!(intact && report.contains("is intact"), "{report}");
    // started again, the server signs what the killed one left unsigned
    let mut server = launch(dir.path()).await;
    std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    let (exit, log) = server.exited(Duration::from_secs(30)).await.unwrap();
    assert!(exit.success(), "{log}");
    let (intact, report) = verify_chain(dir.path());
    assert!(intact && !report.contains("not yet signed"), "{report}");
}
