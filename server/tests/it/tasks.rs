//! Dispatch tasks through the real server: who may send, accept, resolve and verify them, their
//! history, tasks from a query's rows, and escalation driven by a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai_governance::ManualClock;

use crate::fixtures::{CHIHUAI_VILLAGE, COUNTY, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error};

pub struct Desk {
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    /// A dispatcher of 马金镇, who also writes and runs reports there.
    pub carol: String,
    /// An official of 霞山村.
    pub alice: String,
    /// A resident of a 池淮镇 village.
    pub dave: String,
}

/// A server on a clock standing at 2026-12-01 08:00 UTC, with the small tree, a county table
/// of people in two 马金镇 villages, and three principals.
pub async fn desk() -> Desk {
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
    ));
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| config.clock = shared).await;
    server.load_tree().await;
    let rows = [
        (1, "张三", XIASHAN),
        (2, "李四", XIASHAN),
        (3, "王五", HUASHAN),
    ];
    server
        .register_people(&rows, COUNTY, "county.people", json!({}))
        .await;
    let carol = server
        .role_holder(
            "carol",
            "dispatcher",
            MAJIN,
            &[
                ("dispatch", "tasks.*"),
                ("read", "county.*"),
                ("read", "governance.*"),
                ("run_report", "reports.*"),
                ("manage_report", "reports.*"),
            ],
        )
        .await;
    let alice = server
        .role_holder(
            "alice",
            "village_official",
            XIASHAN,
            &[("read", "county.*"), ("read", "governance.*")],
        )
        .await;
    let dave = server
        .role_holder("dave", "resident", CHIHUAI_VILLAGE, &[("read", "county.*")])
        .await;
    Desk {
        server,
        clock,
        carol,
        alice,
        dave,
    }
}

fn visit(jurisdiction: &str) -> Value {
    json!({
        "title": "核实独居老人走访情况",
        "detail": "本月走访记录缺失",
        "category": "visit",
        "jurisdiction": jurisdiction,
        "urgency": "urgent",
    })
}

async fn dispatch(desk: &Desk, body: Value) -> Value {
    assert_created(desk.server.post(&desk.carol, "/v1/tasks", body).await).await
}

async fn act(desk: &Desk, token: &str, id: &str, action: &str, body: Value) -> (StatusCode, Value) {
    let response = desk
        .server
        .post(token, &format!("/v1/tasks/{id}/{action}"), body)
        .await;
    (response.status(), response.json().await.unwrap())
}

pub async fn task(desk: &Desk, token: &str, id: &str) -> Value {
    let response = desk.server.get(token, &format!("/v1/tasks/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn list(desk: &Desk, token: &str, query: &str) -> Vec<Value> {
    let response = desk.server.get(token, &format!("/v1/tasks{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn actions(task: &Value) -> Vec<String> {
    task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until `task` satisfies `done`, or fails after ten seconds.
async fn until(desk: &Desk, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let task = task(desk, ADMIN_TOKEN, id).await;
        if done(&task) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "task {id} never got there: {}",
        task(desk, ADMIN_TOKEN, id).await
    );
}

#[tokio::test]
async fn a_task_goes_from_dispatch_to_verification_and_keeps_its_history() {
    let desk = desk().await;
    let created = dispatch(&desk, visit(XIASHAN)).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "dispatched");
    assert_eq!(created["accept_due_at"], "2026-12-01T08:30:00.000Z");
    assert_eq!(created["red_at"], "2026-12-01T09:00:00.000Z");
    assert_eq!(created["supervision"], "none");
    assert_eq!(created["created_by"], "carol");

    // a resident of another township does not see it, nor may accept it
    let hidden = desk
        .server
        .get(&desk.dave, &format!("/v1/tasks/{id}"))
        .await;
    assert_error(hidden, StatusCode::NOT_FOUND, "not_found").await;
    assert!(list(&desk, &desk.dave, "").await.is_empty());
    let (status, body) = act(&desk, &desk.dave, id, "accept", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // the village's official accepts and resolves it; a second resolution is a conflict
    desk.clock.advance(chrono::Duration::minutes(10));
    let (status, accepted) = act(&desk, &desk.alice, id, "accept", json!({"note": "马上去"})).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["accepted_at"], "2026-12-01T08:10:00.000Z");
    assert_eq!(accepted["handle_due_at"], "2026-12-02T08:10:00.000Z");
    let (status, _) = act(&desk, &desk.alice, id, "accept", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, resolved) = act(&desk, &desk.alice, id, "resolve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    let (status, twice) = act(&desk, &desk.alice, id, "resolve", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    assert!(
        twice["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is resolved"),
        "{twice}"
    );

    // the official may not verify their own work; the dispatcher returns it with a reason
    let (status, _) = act(&desk, &desk.alice, id, "verify", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = act(&desk, &desk.carol, id, "return", json!({"reason": " "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, returned) = act(
        &desk,
        &desk.carol,
        id,
        "return",
        json!({"reason": "缺少走访照片"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{returned}");
    assert_eq!(returned["status"], "returned");
    let (status, _) = act(
        &desk,
        &desk.alice,
        id,
        "resolve",
        json!({"note": "已补照片"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, verified) = act(&desk, &desk.carol, id, "verify", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "verified");

    let done = task(&desk, &desk.alice, id).await;
    assert_eq!(
        actions(&done),
        [
            "dispatch", "accept", "resolve", "return", "resolve", "verify"
        ]
    );
    let history = done["history"].as_array().unwrap();
    let by: Vec<_> = history.iter().map(|e| e["by"].as_str().unwrap()).collect();
    assert_eq!(by, ["carol", "alice", "alice", "carol", "alice", "carol"]);
    assert_eq!(history[1]["note"], "马上去");
    assert_eq!(history[3]["note"], "缺少走访照片");
    assert_eq!(history[3]["from_status"], "resolved");
    assert_eq!(history[3]["to_status"], "returned");

    // lists: by status, and by the jurisdiction assigned
    assert_eq!(list(&desk, &desk.carol, "?status=verified").await.len(), 1);
    assert!(
        list(&desk, &desk.carol, "?status=dispatched")
            .await
            .is_empty()
    );
    assert_eq!(
        list(&desk, &desk.alice, &format!("?jurisdiction={MAJIN}"))
            .await
            .len(),
        1
    );
    let wrong = desk.server.get(&desk.carol, "/v1/tasks?status=open").await;
    assert_error(wrong, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn a_task_is_dispatched_only_where_the_dispatcher_may_and_only_when_it_is_whole() {
    let desk = desk().await;
    let outside = desk
        .server
        .post(&desk.carol, "/v1/tasks", visit(CHIHUAI_VILLAGE))
        .await;
    assert_error(outside, StatusCode::FORBIDDEN, "permission_denied").await;
    let by_official = desk
        .server
        .post(&desk.alice, "/v1/tasks", visit(XIASHAN))
        .await;
    assert_error(by_official, StatusCode::FORBIDDEN, "permission_denied").await;
    let cases = [
        (json!({"title": " "}), "title"),
        (json!({"category": "Visit!"}), "category"),
        (json!({"department": "民政"}), "department"),
        (
            json!({"clocks": {"accept_minutes": 0}}),
            "clocks.accept_minutes",
        ),
        (json!({"jurisdiction": "330824999999"}), "jurisdiction"),
        (json!({"jurisdiction": "3308"}), "jurisdiction"),
        (
            json!({"urgency": "whenever"}),
            "`whenever`, expected one of `normal`",
        ),
        (json!({"owner": "carol"}), "owner"),
    ];
    for (change, named) in cases {
        let mut body = visit(XIASHAN);
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let response = desk
            .server
            .post(&desk.carol, "/v1/tasks", body.clone())
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(named), "{body}: {message}");
    }
    assert!(list(&desk, ADMIN_TOKEN, "").await.is_empty());
}

#[tokio::test]
async fn tasks_from_a_query_go_to_the_jurisdiction_of_each_row() {
    let desk = desk().await;
    let body = json!({
        "sql": "SELECT village_code AS jurisdiction_code, count(*) AS people, min(name) AS first \
                FROM county.people WHERE id >= $1 GROUP BY village_code ORDER BY village_code",
        "params": [1],
        "title": "登记 {people} 人 ({first})",
        "detail": "from {jurisdiction_code}",
        "category": "census",
        "clocks": {"accept_minutes": 60},
    });
    let response = desk
        .server
        .post(&desk.carol, "/v1/tasks/from-query", body)
        .await;
    let created = assert_created(response).await;
    let created = created.as_array().unwrap();
    let summary: Vec<_> = created
        .iter()
        .map(|t| {
            (
                t["jurisdiction"].as_str().unwrap(),
                t["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(HUASHAN, "登记 1 人 (王五)"), (XIASHAN, "登记 2 人 (张三)")]
    );
    assert!(created.iter().all(|t| t["origin"] == "query"));
    assert_eq!(created[1]["row"]["people"], 2);
    assert_eq!(created[1]["detail"], format!("from {XIASHAN}"));
    assert_eq!(created[1]["accept_due_at"], "2026-12-01T09:00:00.000Z");
    // the official of 霞山村 sees its own task only
    let own = list(&desk, &desk.alice, "").await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["jurisdiction"], XIASHAN);

    // a row outside the dispatcher's jurisdiction refuses the whole request
    let refused = [
        (
            json!({"sql": format!("SELECT village_code AS jurisdiction_code FROM county.people UNION ALL SELECT '{CHIHUAI_VILLAGE}'"), "title": "t"}),
            StatusCode::FORBIDDEN,
            "tasks.general",
        ),
        (
            json!({"sql": "SELECT village_code FROM county.people", "title": "t"}),
            StatusCode::BAD_REQUEST,
            "jurisdiction_column",
        ),
        (
            json!({"sql": "SELECT village_code AS jurisdiction_code FROM county.people", "title": "{nobody}"}),
            StatusCode::BAD_REQUEST,
            "{nobody}",
        ),
        (
            json!({"sql": "SELECT '3308' AS jurisdiction_code", "title": "t"}),
            StatusCode::BAD_REQUEST,
            "row 1",
        ),
        (
            json!({"sql": "SELECT 1 AS jurisdiction_code", "title": "t"}),
            StatusCode::BAD_REQUEST,
            "division code",
        ),
        (
            json!({"sql": "SELECT * FROM county.nothing", "title": "t"}),
            StatusCode::NOT_FOUND,
            "county.nothing",
        ),
        (
            json!({"sql": "SELECT village_code AS jurisdiction_code FROM county.people CROSS JOIN generate_series(1, 400)", "title": "t"}),
            StatusCode::BAD_REQUEST,
            "1000",
        ),
    ];
    for (body, status, named) in refused {
        let response = desk
            .server
            .post(&desk.carol, "/v1/tasks/from-query", body.clone())
            .await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(list(&desk, ADMIN_TOKEN, "").await.len(), 2);
}

#[tokio::test]
async fn a_task_not_accepted_in_time_escalates_once_per_level() {
    let desk = desk().await;
    let late = dispatch(&desk, visit(XIASHAN)).await;
    let late = late["id"].as_str().unwrap().to_owned();
    let on_time = dispatch(&desk, visit(HUASHAN)).await;
    let on_time = on_time["id"].as_str().unwrap().to_owned();
    desk.clock.advance(chrono::Duration::minutes(10));
    let (status, _) = act(&desk, ADMIN_TOKEN, &on_time, "accept", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    desk.clock.advance(chrono::Duration::minutes(19));
    assert!(list(&desk, &desk.carol, "?overdue=true").await.is_empty());
    desk.clock.advance(chrono::Duration::minutes(2));
    let yellow = until(&desk, &late, |t| t["supervision"] == "yellow").await;
    assert_eq!(yellow["escalated_to"], MAJIN);
    assert_eq!(yellow["status"], "dispatched");
    assert_eq!(yellow["overdue"], json!(["accept"]));
    let overdue = list(&desk, &desk.carol, "?overdue=true").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["id"], late.as_str());

    desk.clock.advance(chrono::Duration::minutes(30));
    let red = until(&desk, &late, |t| t["supervision"] == "red").await;
    assert_eq!(red["escalated_to"], COUNTY);
    let escalations: Vec<_> = red["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "escalate")
        .map(|e| (e["escalated_to"].clone(), e["by"].clone()))
        .collect();
    assert_eq!(
        escalations,
        [
            (json!(MAJIN), json!("tiaokuai")),
            (json!(COUNTY), json!("tiaokuai"))
        ]
    );

    // however long it waits, and across a restart, it escalates no further; and a task
    // accepted in time never escalated at all
    desk.clock.advance(chrono::Duration::hours(5));
    let clock = desk.clock.clone();
    let server = desk
        .server
        .restart_with(move |config| config.clock = clock.clone())
        .await;
    let desk = Desk { server, ..desk };
    desk.clock.advance(chrono::Duration::hours(5));
    // the sweep at start and the one the jump wakes have both run once this answers
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = task(&desk, ADMIN_TOKEN, &late).await;
    assert_eq!(actions(&after), ["dispatch", "escalate", "escalate"]);
    let accepted = task(&desk, ADMIN_TOKEN, &on_time).await;
    assert_eq!(accepted["supervision"], "none");
    assert_eq!(actions(&accepted), ["dispatch", "accept"]);
}

#[tokio::test]
async fn a_task_overdue_for_both_levels_while_the_server_was_down_takes_both_once() {
    let desk = desk().await;
    let id = dispatch(&desk, visit(XIASHAN)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // the server stops, and starts again two hours later
    let later = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
    ));
    let shared = later.clone();
    let server = desk
        .server
        .restart_with(move |config| config.clock = shared)
        .await;
    let desk = Desk {
        server,
        clock: later,
        ..desk
    };
    let red = until(&desk, &id, |t| t["supervision"] == "red").await;
    assert_eq!(actions(&red), ["dispatch", "escalate", "escalate"]);
    assert_eq!(red["escalated_to"], COUNTY);
}

/// `tiaokuai task …` as `token`: whether it succeeded, and what it printed.
async fn cli(desk: &Desk, token: &str, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tiaokuai"))
        .arg("task")
        .args(["--server", &desk.server.url, "--token", token])
        .args(args)
        .env("TIAOKUAI_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let printed = if output.status.success() {
        text(&output.stdout)
    } else {
        text(&output.stderr)
    };
    (output.status.success(), printed)
}

#[tokio::test]
async fn the_command_line_sends_and_tracks_a_task() {
    let desk = desk().await;
    let (ok, sent) = cli(
        &desk,
        &desk.carol,
        &[
            "send",
            "--jurisdiction",
            XIASHAN,
            "--title",
            "清理河道垃圾",
            "--category",
            "river",
        ],
    )
    .await;
    assert!(ok, "{sent}");
    let id = sent.split('\t').next().unwrap().to_owned();
    assert!(id.starts_with("task_"), "{sent}");
    assert!(
        sent.contains("dispatched") && sent.contains("清理河道垃圾"),
        "{sent}"
    );

    let (ok, listed) = cli(&desk, &desk.alice, &["list", "--status", "dispatched"]).await;
    assert!(ok, "{listed}");
    assert!(listed.starts_with(&id), "{listed}");
    let (ok, accepted) = cli(&desk, &desk.alice, &["accept", &id, "--note", "收到"]).await;
    assert!(ok && accepted.contains("accepted"), "{accepted}");
    let (ok, refused) = cli(&desk, &desk.alice, &["accept", &id]).await;
    assert!(!ok && refused.contains("409"), "{refused}");
    let (ok, _) = cli(&desk, &desk.alice, &["resolve", &id]).await;
    assert!(ok);
    let (ok, returned) = cli(&desk, &desk.carol, &["return", &id, "--reason", "还有残留"]).await;
    assert!(ok && returned.contains("returned"), "{returned}");
    let (ok, _) = cli(&desk, &desk.alice, &["resolve", &id]).await;
    assert!(ok);
    let (ok, verified) = cli(&desk, &desk.carol, &["verify", &id]).await;
    assert!(ok && verified.contains("verified"), "{verified}");
    let (ok, shown) = cli(&desk, &desk.alice, &["show", &id]).await;
    assert!(ok, "{shown}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["history"].as_array().unwrap().len(), 6);
    let (ok, hidden) = cli(&desk, &desk.dave, &["show", &id]).await;
    assert!(!ok && hidden.contains("404"), "{hidden}");
}

#[tokio::test]
async fn the_response_rate_is_plain_sql_under_each_callers_policy() {
    let desk = desk().await;
    let on_time = dispatch(&desk, visit(XIASHAN)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let late = dispatch(&desk, visit(HUASHAN)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    desk.clock.advance(chrono::Duration::minutes(20));
    let (status, _) = act(&desk, &desk.alice, &on_time, "accept", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    desk.clock.advance(chrono::Duration::minutes(20));
    until(&desk, &late, |t| t["supervision"] == "yellow").await;
    let (status, _) = act(&desk, &desk.carol, &late, "accept", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let rate = "SELECT jurisdiction_code, count(*) AS tasks, \
                sum(CASE WHEN accepted_at <= accept_due_at THEN 1 ELSE 0 END) AS on_time, \
                bool_or(escalated) AS escalated \
                FROM governance.tasks GROUP BY jurisdiction_code ORDER BY jurisdiction_code";
    assert_eq!(
        desk.server.rows(&desk.carol, rate).await,
        [json!([HUASHAN, 1, 0, true]), json!([XIASHAN, 1, 1, false])]
    );
    // the village's official sees its own village only, in every governance table
    assert_eq!(
        desk.server.rows(&desk.alice, rate).await,
        [json!([XIASHAN, 1, 1, false])]
    );
    let history = "SELECT task_id, action, by FROM governance.task_events ORDER BY seq";
    let events = desk.server.rows(&desk.alice, history).await;
    assert_eq!(
        events,
        [
            json!([on_time, "dispatch", "carol"]),
            json!([on_time, "accept", "alice"])
        ]
    );
    assert_eq!(desk.server.rows(&desk.carol, history).await.len(), 5);
    assert!(
        desk.server
            .rows(&desk.carol, "SELECT * FROM governance.runs")
            .await
            .is_empty()
    );
    // a principal without read on them does not see them at all
    let (status, body) = desk
        .server
        .query(&desk.dave, "SELECT count(*) FROM governance.tasks")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
