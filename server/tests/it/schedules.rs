//! Schedules through the real server, driven by a clock the test moves: time zones, a fan-out
//! over townships with each run narrowed, missed ticks, failures that are visible and do not
//! stop the schedule, and what a schedule may not be.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai_governance::ManualClock;

use crate::fixtures::{CHIHUAI, CHIHUAI_VILLAGE, COUNTY, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error};

struct County {
    server: TestServer,
    clock: Arc<ManualClock>,
    report: String,
    /// An analyst of the county, who runs reports county-wide.
    zoe: String,
    /// A dispatcher of 马金镇.
    carol: String,
}

/// People in both townships, a report counting them per village, and a clock standing at
/// 2026-12-01 08:00 UTC (16:00 in Asia/Shanghai).
async fn county() -> County {
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
    ));
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| config.clock = shared).await;
    server.load_tree().await;
    let rows = [
        (1, "张三", XIASHAN),
        (2, "李四", HUASHAN),
        (3, "王五", CHIHUAI_VILLAGE),
        (4, "赵六", CHIHUAI_VILLAGE),
    ];
    server
        .register_people(&rows, COUNTY, "county.people", json!({}))
        .await;
    let may = [("read", "county.*"), ("run_report", "reports.*")];
    let zoe = server.role_holder("zoe", "analyst", COUNTY, &may).await;
    let carol = server.role_holder("carol", "official", MAJIN, &may).await;
    let body = json!({
        "name": "reports.people_by_village",
        "owner": COUNTY,
        "sql": "SELECT village_code, count(*) AS people FROM county.people \
                WHERE id >= $min_id GROUP BY village_code ORDER BY village_code",
        "parameters": [{"name": "min_id", "kind": "integer", "default": 1}],
    });
    let created = assert_created(server.post(ADMIN_TOKEN, "/v1/reports", body).await).await;
    County {
        server,
        clock,
        report: created["id"].as_str().unwrap().to_owned(),
        zoe,
        carol,
    }
}

fn daily(report: &str) -> Value {
    json!({
        "report": report,
        "name": "每日人口（分乡镇）",
        "cron": "0 8 * * *",
        "fan_out": {"level": "township", "under": COUNTY},
    })
}

async fn schedule(county: &County, token: &str, id: &str) -> Value {
    let response = county
        .server
        .get(token, &format!("/v1/schedules/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Waits until the schedule's last tick is at `at`, or fails after ten seconds.
async fn ticked(county: &County, id: &str, at: &str) -> Value {
    for _ in 0..500 {
        let found = schedule(county, ADMIN_TOKEN, id).await;
        if found["last_run_at"] == at {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "never ticked at {at}: {}",
        schedule(county, ADMIN_TOKEN, id).await
    );
}

async fn rows_of(county: &County, token: &str, run: &str) -> Value {
    let response = county
        .server
        .get(token, &format!("/v1/runs/{run}/result?format=json"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["rows"].clone()
}

#[tokio::test]
async fn a_fanned_out_schedule_runs_once_for_each_township_each_with_its_own_rows() {
    let county = county().await;
    let response = county
        .server
        .post(&county.zoe, "/v1/schedules", daily(&county.report))
        .await;
    let created = assert_created(response).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // 08:00 in Shanghai is midnight UTC; 16:00 there has passed today's
    assert_eq!(created["next_run_at"], "2026-12-02T00:00:00.000Z");
    assert_eq!(created["time_zone"], "Asia/Shanghai");
    assert_eq!(created["run_as"], "zoe");
    assert_eq!(created["failing"], false);

    county.clock.advance(chrono::Duration::hours(16));
    let after = ticked(&county, &id, "2026-12-02T00:00:00.000Z").await;
    assert_eq!(after["next_run_at"], "2026-12-03T00:00:00.000Z");
    assert_eq!(after["failing"], false, "{after}");
    assert_eq!(after["last_success_age_seconds"], 0);
    let runs = after["last_runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2, "one run for each of the two townships");
    let mut scoped = Vec::new();
    for run in &runs {
        let run = run.as_str().unwrap();
        let record: Value = county
            .server
            .get(&county.zoe, &format!("/v1/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(record["schedule_id"], id.as_str());
        assert_eq!(record["status"], "succeeded", "{record}");
        scoped.push((
            record["scope"].as_str().unwrap().to_owned(),
            rows_of(&county, &county.zoe, run).await,
        ));
    }
    scoped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        scoped,
        [
            (MAJIN.to_owned(), json!([[HUASHAN, 1], [XIASHAN, 1]])),
            (CHIHUAI.to_owned(), json!([[CHIHUAI_VILLAGE, 2]])),
        ]
    );
    // 马金镇's official reads 马金镇's run, whose every row its own policy gives it, and not
    // 池淮镇's
    let mut readable = Vec::new();
    for run in &runs {
        let run = run.as_str().unwrap();
        let response = county
            .server
            .get(&county.carol, &format!("/v1/runs/{run}"))
            .await;
        if response.status() == StatusCode::OK {
            let record: Value = response.json().await.unwrap();
            assert_eq!(record["scope"], MAJIN);
            assert_eq!(
                rows_of(&county, &county.carol, run).await,
                json!([[HUASHAN, 1], [XIASHAN, 1]])
            );
            readable.push(run.to_owned());
        } else {
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    assert_eq!(readable.len(), 1);
    let listed: Value = county
        .server
        .get(
            &county.carol,
            &format!("/v1/reports/{}/runs", county.report),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], readable[0].as_str());

    // governance.runs puts each run in its township: 马金镇's official sees its own
    let sql = "SELECT jurisdiction_code FROM governance.runs";
    let response = county
        .server
        .post(
            ADMIN_TOKEN,
            "/v1/policies",
            json!({"role": "official", "jurisdiction": "*", "object": "governance.*", "action": "read"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        county.server.rows(&county.carol, sql).await,
        [json!([MAJIN])]
    );

    // three days without the server's attention: the missed ticks run once, not three times
    county.clock.advance(chrono::Duration::days(3));
    let later = ticked(&county, &id, "2026-12-05T00:00:00.000Z").await;
    assert_eq!(later["next_run_at"], "2026-12-06T00:00:00.000Z");
    let all: Value = county
        .server
        .get(&county.zoe, &format!("/v1/reports/{}/runs", county.report))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
    // and a restart on the same clock runs nothing more
    let clock = county.clock.clone();
    let server = county
        .server
        .restart_with(move |config| config.clock = clock)
        .await;
    let county = County { server, ..county };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Value = county
        .server
        .get(&county.zoe, &format!("/v1/reports/{}/runs", county.report))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_failed_tick_is_visible_and_the_next_one_runs_as_usual() {
    let county = county().await;
    let mut body = daily(&county.report);
    body.as_object_mut().unwrap().remove("fan_out");
    body["cron"] = json!("0 * * * *");
    body["time_zone"] = json!("UTC");
    let created =
        assert_created(county.server.post(&county.zoe, "/v1/schedules", body).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["next_run_at"], "2026-12-01T09:00:00.000Z");
    // the source goes away between ticks
    let file = county.server.files().join("people").join("part-0.parquet");
    let kept = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    county.clock.advance(chrono::Duration::hours(1));
    let failed = ticked(&county, &id, "2026-12-01T09:00:00.000Z").await;
    assert_eq!(failed["failing"], true, "{failed}");
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("people"),
        "the error names the source: {error}"
    );
    assert!(failed.get("last_success_at").is_none());
    let run = failed["last_runs"][0].as_str().unwrap();
    let record: Value = county
        .server
        .get(&county.zoe, &format!("/v1/runs/{run}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "failed");
    // it comes back, and so does the schedule
    std::fs::write(&file, kept).unwrap();
    county.clock.advance(chrono::Duration::hours(1));
    let recovered = ticked(&county, &id, "2026-12-01T10:00:00.000Z").await;
    assert_eq!(recovered["failing"], false, "{recovered}");
    assert_eq!(recovered["last_success_at"], "2026-12-01T10:00:00.000Z");
    county.clock.advance(chrono::Duration::minutes(30));
    let aged = schedule(&county, &county.zoe, &id).await;
    assert_eq!(aged["last_success_age_seconds"], 1800);
}

#[tokio::test]
async fn a_schedule_is_refused_what_it_may_not_be() {
    let county = county().await;
    let cases = [
        (
            json!({"cron": "every morning"}),
            StatusCode::BAD_REQUEST,
            "cron",
        ),
        (
            json!({"cron": "0 8 31 2 *"}),
            StatusCode::BAD_REQUEST,
            "cron",
        ),
        (
            json!({"cron": "* * * * * *"}),
            StatusCode::BAD_REQUEST,
            "more than once a minute",
        ),
        (
            json!({"time_zone": "Mars/Olympus"}),
            StatusCode::BAD_REQUEST,
            "time_zone",
        ),
        (
            json!({"parameters": {"max_id": 3}}),
            StatusCode::BAD_REQUEST,
            "max_id",
        ),
        (
            json!({"parameters": {"min_id": "three"}}),
            StatusCode::BAD_REQUEST,
            "min_id",
        ),
        (
            json!({"fan_out": {"level": "county", "under": COUNTY}}),
            StatusCode::BAD_REQUEST,
            "fan_out.level",
        ),
        (
            json!({"run_as": "carol"}),
            StatusCode::FORBIDDEN,
            "as itself only",
        ),
        (
            json!({"report": "rep_none"}),
            StatusCode::NOT_FOUND,
            "rep_none",
        ),
        (json!({"name": ""}), StatusCode::BAD_REQUEST, "name"),
    ];
    for (change, status, named) in cases {
        let mut body = daily(&county.report);
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let response = county
            .server
            .post(&county.zoe, "/v1/schedules", body.clone())
            .await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    // a principal who may run the report only in 马金镇 fans out over 马金镇 alone
    let created = assert_created(
        county
            .server
            .post(&county.carol, "/v1/schedules", daily(&county.report))
            .await,
    )
    .await;
    assert_eq!(created["run_as"], "carol");
    // a principal keeps at most 20 schedules (each tick costs a run per township); admin more
    for _ in 1..20 {
        let response = county
            .server
            .post(&county.carol, "/v1/schedules", daily(&county.report))
            .await;
        assert_created(response).await;
    }
    let over = county
        .server
        .post(&county.carol, "/v1/schedules", daily(&county.report))
        .await;
    let message = assert_error(over, StatusCode::CONFLICT, "conflict").await;
    assert!(message.contains("20 schedules"), "{message}");
    // admin may schedule as another principal; nobody else sees the schedules of others
    let mut body = daily(&county.report);
    body["run_as"] = json!("zoe");
    assert_created(county.server.post(ADMIN_TOKEN, "/v1/schedules", body).await).await;
    let theirs: Value = county
        .server
        .get(&county.carol, "/v1/schedules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.as_array().unwrap().len(), 20);
    let id = theirs[0]["id"].as_str().unwrap();
    let other = county
        .server
        .get(&county.zoe, &format!("/v1/schedules/{id}"))
        .await;
    assert_error(other, StatusCode::NOT_FOUND, "not_found").await;

    // a change to the report that its schedules' values no longer fit is refused
    let change = json!({
        "version": 1,
        "sql": "SELECT village_code FROM county.people WHERE id >= $from_id",
        "parameters": [{"name": "from_id", "kind": "integer"}],
    });
    let response = county
        .server
        .client
        .put(format!(
            "{}/v1/reports/{}",
            county.server.url, county.report
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&change)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, StatusCode::CONFLICT, "conflict").await;
    assert!(message.contains("no longer takes"), "{message}");
}

#[tokio::test]
async fn a_township_official_reads_a_narrowed_run_only_if_its_own_policy_unmasks_as_much() {
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
    ));
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| config.clock = shared).await;
    server.load_tree().await;
    let rows = [(1, "张三", XIASHAN), (2, "王五", CHIHUAI_VILLAGE)];
    server
        .register_people(
            &rows,
            COUNTY,
            "county.people",
            json!({"name": "sensitive:name"}),
        )
        .await;
    let zoe = server
        .role_holder(
            "zoe",
            "analyst",
            COUNTY,
            &[
                ("read", "county.*"),
                ("read_sensitive", "county.people.name"),
                ("run_report", "reports.*"),
            ],
        )
        .await;
    let may = [("read", "county.*"), ("run_report", "reports.*")];
    let carol = server.role_holder("carol", "official", MAJIN, &may).await;
    let body = json!({
        "name": "reports.names",
        "owner": COUNTY,
        "sql": "SELECT village_code, name FROM county.people ORDER BY village_code",
    });
    let created = assert_created(server.post(ADMIN_TOKEN, "/v1/reports", body).await).await;
    let report = created["id"].as_str().unwrap().to_owned();
    let hourly = json!({
        "report": report,
        "name": "hourly names",
        "cron": "0 * * * *",
        "time_zone": "UTC",
        "fan_out": {"level": "township", "under": COUNTY},
    });
    let created = assert_created(server.post(&zoe, "/v1/schedules", hourly).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let county = County {
        server,
        clock,
        report,
        zoe,
        carol,
    };
    county.clock.advance(chrono::Duration::hours(1));
    let first = ticked(&county, &id, "2026-12-01T09:00:00.000Z").await;
    let mut majin = None;
    for run in first["last_runs"].as_array().unwrap() {
        let run = run.as_str().unwrap();
        let record: Value = county
            .server
            .get(&county.zoe, &format!("/v1/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        if record["scope"] == MAJIN {
            majin = Some(run.to_owned());
        }
    }
    let majin = majin.unwrap();
    // zoe saw 张三's name unmasked; carol's own policy would mask it: the run is not hers
    assert_eq!(
        rows_of(&county, &county.zoe, &majin).await,
        json!([[XIASHAN, "张三"]])
    );
    let refused = county
        .server
        .get(&county.carol, &format!("/v1/runs/{majin}"))
        .await;
    assert_error(refused, StatusCode::NOT_FOUND, "not_found").await;
    // once carol may see names, the next tick's run is hers to read (not the one decided
    // under the older policy)
    let response = county
        .server
        .post(
            ADMIN_TOKEN,
            "/v1/policies",
            json!({"role": "official", "jurisdiction": "*", "object": "county.people.name", "action": "read_sensitive"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let older = county
        .server
        .get(&county.carol, &format!("/v1/runs/{majin}"))
        .await;
    assert_error(older, StatusCode::NOT_FOUND, "not_found").await;
    county.clock.advance(chrono::Duration::hours(1));
    let second = ticked(&county, &id, "2026-12-01T10:00:00.000Z").await;
    let readable: Vec<String> = {
        let mut readable = Vec::new();
        for run in second["last_runs"].as_array().unwrap() {
            let run = run.as_str().unwrap();
            let response = county
                .server
                .get(&county.carol, &format!("/v1/runs/{run}"))
                .await;
            if response.status() == StatusCode::OK {
                readable.push(run.to_owned());
            }
        }
        readable
    };
    assert_eq!(readable.len(), 1, "马金镇's run only");
    assert_eq!(
        rows_of(&county, &county.carol, &readable[0]).await,
        json!([[XIASHAN, "张三"]])
    );
}
