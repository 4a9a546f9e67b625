//! Alerts through the real server: each condition on a stored run's result, the tasks it
//! dispatches (exactly those, once), parameterised runs, and a stop between a run and its
//! alerts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, assert_created, assert_error};
use crate::tasks::{Desk, desk, list};

/// People per village from an id on: one row per village.
const COUNT_SQL: &str = "SELECT village_code, count(*) AS people FROM county.people \
                         WHERE id >= $min_id GROUP BY village_code ORDER BY village_code";

async fn report(desk: &Desk) -> String {
    let body = json!({
        "name": "reports.people_count",
        "owner": MAJIN,
        "sql": COUNT_SQL,
        "parameters": [{"name": "min_id", "kind": "integer", "default": 1}],
    });
    let created = assert_created(desk.server.post(&desk.carol, "/v1/reports", body).await).await;
    created["id"].as_str().unwrap().to_owned()
}

fn alert(report: &str, condition: Value) -> Value {
    json!({
        "report": report,
        "name": "人口登记核实",
        "condition": condition,
        "jurisdiction_column": "village_code",
        "jurisdiction": MAJIN,
        "task": {"title": "登记 {people} 人，请核实", "category": "census", "clocks": {"accept_minutes": 45}},
    })
}

async fn make_alert(desk: &Desk, report: &str, condition: Value) -> String {
    let response = desk
        .server
        .post(&desk.carol, "/v1/alerts", alert(report, condition))
        .await;
    assert_created(response).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An alert and its evaluations, as carol reads them.
async fn detail(desk: &Desk, alert: &str) -> Value {
    let response = desk
        .server
        .get(&desk.carol, &format!("/v1/alerts/{alert}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Stores a run of the report as carol: the run.
async fn run(desk: &Desk, report: &str, min_id: i64) -> Value {
    let body = json!({"parameters": {"min_id": min_id}});
    let response = desk
        .server
        .post(&desk.carol, &format!("/v1/reports/{report}/runs"), body)
        .await;
    assert_created(response).await
}

/// The tasks alerts dispatched: (jurisdiction, title), by jurisdiction.
async fn alerted(desk: &Desk) -> Vec<(String, String)> {
    let mut tasks: Vec<_> = list(desk, ADMIN_TOKEN, "")
        .await
        .into_iter()
        .filter(|t| t["origin"] == "alert")
        .map(|t| {
            (
                t["jurisdiction"].as_str().unwrap().to_owned(),
                t["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tasks.sort();
    tasks
}

fn pair(code: &str, title: &str) -> (String, String) {
    (code.to_owned(), title.to_owned())
}

#[tokio::test]
async fn each_condition_dispatches_exactly_its_tasks_on_every_run() {
    let desk = desk().await;
    let report = report(&desk).await;
    // people per village with every id: 霞山村 2, 华山村 1
    let below = make_alert(
        &desk,
        &report,
        json!({"kind": "threshold", "column": "people", "below": 2}),
    )
    .await;
    let first = run(&desk, &report, 1).await;
    assert_eq!(alerted(&desk).await, [pair(HUASHAN, "登记 1 人，请核实")]);
    let task = &list(&desk, &desk.carol, "").await[0];
    assert_eq!(task["run_id"], first["id"]);
    assert_eq!(task["row"], json!({"village_code": HUASHAN, "people": 1}));
    assert_eq!(task["created_by"], "carol");
    assert_eq!(task["accept_due_at"], "2026-12-01T08:45:00.000Z");
    let evaluated = detail(&desk, &below).await;
    assert_eq!(evaluated["evaluations"][0]["fired"], true);
    assert_eq!(evaluated["evaluations"][0]["tasks"][0], task["id"]);
    // a parameterised run is judged too: from id 2 on, each village has 1 person
    run(&desk, &report, 2).await;
    let one = "登记 1 人，请核实";
    assert_eq!(
        alerted(&desk).await,
        [pair(HUASHAN, one), pair(HUASHAN, one), pair(XIASHAN, one)]
    );
    desk.server
        .delete(&desk.carol, &format!("/v1/alerts/{below}"))
        .await;

    // "a village did not report": 霞山村 has no row from id 3 on
    let mut body = alert(&report, json!({"kind": "missing", "level": "village"}));
    body["task"]["title"] = json!("{village_code} 未上报");
    assert_created(desk.server.post(&desk.carol, "/v1/alerts", body).await).await;
    run(&desk, &report, 3).await;
    let missing = alerted(&desk).await;
    assert_eq!(missing.len(), 4, "{missing:?}");
    assert!(
        missing.contains(&pair(XIASHAN, &format!("{XIASHAN} 未上报"))),
        "{missing:?}"
    );
    let alerts: Value = desk
        .server
        .get(&desk.carol, "/v1/alerts")
        .await
        .json()
        .await
        .unwrap();
    for alert in alerts.as_array().unwrap() {
        let id = alert["id"].as_str().unwrap();
        desk.server
            .delete(&desk.carol, &format!("/v1/alerts/{id}"))
            .await;
    }

    // a count of rows: one task about the whole result, to the alert's jurisdiction
    let mut body = alert(&report, json!({"kind": "row_count", "below": 2}));
    body["task"]["title"] = json!("只有 {row_count} 个村上报");
    assert_created(desk.server.post(&desk.carol, "/v1/alerts", body).await).await;
    run(&desk, &report, 1).await;
    assert_eq!(alerted(&desk).await.len(), 4, "two rows is not below two");
    run(&desk, &report, 3).await;
    let counted: Vec<_> = list(&desk, &desk.carol, "")
        .await
        .into_iter()
        .filter(|t| t["jurisdiction"] == MAJIN)
        .collect();
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0]["title"], "只有 1 个村上报");
    assert_eq!(counted[0]["row"], json!({"row_count": 1}));
}

#[tokio::test]
async fn a_change_is_judged_against_the_previous_run_with_the_same_parameters() {
    let desk = desk().await;
    // open tasks per village: a result that changes as work is dispatched
    let body = json!({
        "name": "reports.open_tasks",
        "owner": MAJIN,
        "sql": "SELECT jurisdiction_code, count(*) AS open FROM governance.tasks \
                WHERE status = 'dispatched' AND category = $category GROUP BY jurisdiction_code",
        "parameters": [{"name": "category", "kind": "text", "default": "visit"}],
    });
    let created = assert_created(desk.server.post(&desk.carol, "/v1/reports", body).await).await;
    let report = created["id"].as_str().unwrap().to_owned();
    let watch = json!({
        "report": report,
        "name": "待受理任务激增",
        "condition": {"kind": "change", "column": "open", "more_than": 0.5, "relative": true},
        "jurisdiction": MAJIN,
        "task": {"title": "待受理 {open} 件，请督办", "category": "supervision"},
    });
    assert_created(desk.server.post(&desk.carol, "/v1/alerts", watch).await).await;
    let send = |place: &str| json!({"title": "走访", "category": "visit", "jurisdiction": place});
    let dispatch = |place: &'static str| {
        let body = send(place);
        let server = &desk.server;
        let carol = desk.carol.clone();
        async move { assert_created(server.post(&carol, "/v1/tasks", body).await).await }
    };
    let run_with = |category: &'static str| {
        let body = json!({"parameters": {"category": category}});
        let path = format!("/v1/reports/{report}/runs");
        let server = &desk.server;
        let carol = desk.carol.clone();
        async move { assert_created(server.post(&carol, &path, body).await).await }
    };
    dispatch(XIASHAN).await;
    dispatch(HUASHAN).await;
    run_with("visit").await;
    assert!(alerted(&desk).await.is_empty(), "nothing to compare with");
    // 霞山村 goes from 1 open task to 3 (+200%); 华山村 stays at 1
    dispatch(XIASHAN).await;
    dispatch(XIASHAN).await;
    // another parameter value is another series, with nothing before it
    run_with("census").await;
    assert!(alerted(&desk).await.is_empty());
    run_with("visit").await;
    assert_eq!(alerted(&desk).await, [pair(XIASHAN, "待受理 3 件，请督办")]);
}

#[tokio::test]
async fn an_alert_is_refused_what_its_maker_may_not_do() {
    let desk = desk().await;
    let report = report(&desk).await;
    let cases = [
        (json!({"kind": "row_count"}), "above or below"),
        (
            json!({"kind": "threshold", "column": "people"}),
            "above or below",
        ),
        (
            json!({"kind": "missing", "level": "county"}),
            "village or township",
        ),
        (
            json!({"kind": "change", "column": "people", "more_than": -1}),
            "more_than",
        ),
        (json!({"kind": "sometimes"}), "unknown variant"),
    ];
    for (condition, named) in cases {
        let response = desk
            .server
            .post(&desk.carol, "/v1/alerts", alert(&report, condition.clone()))
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(named), "{condition}: {message}");
    }
    let condition = json!({"kind": "any_rows"});
    // an official who cannot see the report, and a jurisdiction outside carol's dispatch
    let response = desk
        .server
        .post(&desk.alice, "/v1/alerts", alert(&report, condition.clone()))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let mut body = alert(&report, condition.clone());
    body["jurisdiction"] = json!(crate::fixtures::CHIHUAI);
    let response = desk.server.post(&desk.carol, "/v1/alerts", body).await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let mut body = alert(&report, condition);
    body["task"]["title"] = json!(" ");
    let response = desk.server.post(&desk.carol, "/v1/alerts", body).await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    // nobody else sees carol's alerts; a report takes at most 20
    for _ in 0..20 {
        make_alert(&desk, &report, json!({"kind": "any_rows"})).await;
    }
    let over = desk
        .server
        .post(
            &desk.carol,
            "/v1/alerts",
            alert(&report, json!({"kind": "any_rows"})),
        )
        .await;
    let message = assert_error(over, StatusCode::CONFLICT, "conflict").await;
    assert!(message.contains("20 alerts"), "{message}");
    let theirs: Value = desk
        .server
        .get(&desk.alice, "/v1/alerts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
}

#[tokio::test]
async fn an_alert_that_cannot_dispatch_says_why_and_the_run_stands() {
    let desk = desk().await;
    let report = report(&desk).await;
    let alert = make_alert(&desk, &report, json!({"kind": "any_rows"})).await;
    // carol loses dispatch: the alert fires, but may not send its tasks
    let policies: Value = desk
        .server
        .get(ADMIN_TOKEN, "/v1/policies")
        .await
        .json()
        .await
        .unwrap();
    let line = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action"] == "dispatch" && p["role"] == "dispatcher")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = desk
        .server
        .delete(ADMIN_TOKEN, &format!("/v1/policies/{line}"))
        .await;
    assert!(response.status().is_success());
    let stored = run(&desk, &report, 1).await;
    assert_eq!(stored["status"], "succeeded");
    let detail = detail(&desk, &alert).await;
    let evaluation = &detail["evaluations"][0];
    assert_eq!(evaluation["fired"], true);
    assert_eq!(evaluation["tasks"], json!([]));
    assert!(
        evaluation["error"]
            .as_str()
            .unwrap()
            .contains("may not dispatch"),
        "{evaluation}"
    );
    assert!(alerted(&desk).await.is_empty());
}

#[tokio::test]
async fn alerts_a_stop_left_unevaluated_are_evaluated_once_at_the_next_start() {
    let desk = desk().await;
    let report = report(&desk).await;
    let alert = make_alert(&desk, &report, json!({"kind": "any_rows"})).await;
    run(&desk, &report, 1).await;
    assert_eq!(alerted(&desk).await.len(), 2);
    // the state a stop between the run's end and its alerts leaves: a finished run, and
    // neither the evaluation nor its tasks
    let catalog = desk.server.data_dir().join("catalog.db");
    rusqlite::Connection::open(&catalog)
        .unwrap()
        .execute_batch("DELETE FROM alert_evaluations; DELETE FROM task_events; DELETE FROM tasks;")
        .unwrap();
    assert!(alerted(&desk).await.is_empty());
    let clock = desk.clock.clone();
    let server = desk.server;
    let shared = clock.clone();
    let server = server
        .restart_with(move |config| config.clock = shared)
        .await;
    let desk = Desk { server, ..desk };
    assert_eq!(alerted(&desk).await.len(), 2);
    let shared = clock.clone();
    let server = desk
        .server
        .restart_with(move |config| config.clock = shared)
        .await;
    let desk = Desk { server, ..desk };
    assert_eq!(
        alerted(&desk).await.len(),
        2,
        "evaluated once, not at every start"
    );
    let detail = detail(&desk, &alert).await;
    assert_eq!(detail["evaluations"].as_array().unwrap().len(), 1);
}
