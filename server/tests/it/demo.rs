//! The 开化县 demo answers cross-village queries.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai::demo;

use crate::harness::TestServer;
use crate::process::{self, ServerProcess};

#[tokio::test]
async fn the_demo_answers_cross_village_queries() {
    let server = TestServer::start().await;
    let engine = tiaokuai::open_engine(&tiaokuai::ServerConfig::new(
        server.data_dir().join("demo-dir"),
    ))
    .await
    .unwrap();
    let catalog = engine.catalog();
    let caller = tiaokuai_policies::Caller::named(&**catalog, "admin")
        .await
        .unwrap()
        .unwrap();
    let data_dir = server.data_dir().join("demo-dir");
    let tokens = demo::build(&data_dir, &engine, &caller).await.unwrap();
    assert_eq!(tokens.len(), 5);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join(demo::TOKENS_FILE)).unwrap())
            .unwrap();
    assert_eq!(written.as_object().unwrap().len(), 5);
    // building twice is refused rather than mixing data
    assert!(demo::build(&data_dir, &engine, &caller).await.is_err());
    drop(engine);

    let mut config = tiaokuai::ServerConfig::new(&data_dir);
    config.admin_token = Some(crate::harness::ADMIN_TOKEN.into());
    let served = TestServer::serve(tempfile::tempdir().unwrap(), &config).await;
    let admin = &tokens["admin"];
    let rows = served
        .rows(admin, "SELECT j.name, count(*) FROM village.residents r JOIN system.jurisdictions j ON r.jurisdiction_code = j.code GROUP BY j.name")
        .await;
    assert_eq!(rows.len(), 269);
    let rows = served
        .rows(
            admin,
            "SELECT count(*) FROM system.jurisdictions WHERE level = 'township'",
        )
        .await;
    assert_eq!(rows, vec![json!([14])]);
    // every resident's ID number carries the county's prefix and its owner's birth date
    let rows = served
        .rows(admin, "SELECT count(*) FROM village.residents WHERE substr(id_card, 1, 6) <> '330824' OR substr(id_card, 7, 8) <> replace(CAST(birth_date AS VARCHAR), '-', '')")
        .await;
    assert_eq!(rows, vec![json!([0])]);
    let rows = served.rows(admin, "SELECT count(DISTINCT jurisdiction_code) FROM village.garden_orders WHERE jurisdiction_code LIKE '330824116%'").await;
    assert_eq!(rows, vec![json!([37])]);
    for (name, token) in &tokens {
        let whoami: Value = served.get(token, "/v1/whoami").await.json().await.unwrap();
        assert_eq!(&whoami["principal"], name);
    }

    // the same question, answered for each principal by role and jurisdiction
    let count = "SELECT count(*), count(DISTINCT jurisdiction_code) FROM village.residents";
    let all = served.rows(admin, count).await;
    let majin_total = served
        .rows(
            admin,
            "SELECT count(*) FROM village.residents WHERE jurisdiction_code LIKE '330824116%'",
        )
        .await;
    let xiashan_total = served
        .rows(
            admin,
            "SELECT count(*) FROM village.residents WHERE jurisdiction_code = '330824116224'",
        )
        .await;
    assert_eq!(all[0][1], json!(269));
    assert_eq!(served.rows(&tokens["county_dispatcher"], count).await, all);
    assert_eq!(served.rows(&tokens["civil_officer"], count).await, all);
    assert_eq!(
        served.rows(&tokens["majin_dispatcher"], count).await,
        vec![json!([majin_total[0][0], 37])]
    );
    assert_eq!(
        served.rows(&tokens["xiashan_official"], count).await,
        vec![json!([xiashan_total[0][0], 1])]
    );

    let person = "SELECT name, id_card, phone FROM village.residents WHERE jurisdiction_code = '330824116224' AND phone IS NOT NULL ORDER BY resident_id LIMIT 1";
    let plain = served.rows(admin, person).await[0].clone();
    let (name, id_card, phone) = (
        plain[0].as_str().unwrap(),
        plain[1].as_str().unwrap(),
        plain[2].as_str().unwrap(),
    );
    let masked_name = format!("{}*", name.chars().next().unwrap());
    let masked_id = format!("{}********{}", &id_card[..6], &id_card[14..]);
    let masked_phone = format!("{}****{}", &phone[..3], &phone[7..]);
    assert_eq!(
        served.rows(&tokens["xiashan_official"], person).await,
        vec![json!([name, id_card, phone])]
    );
    assert_eq!(
        served.rows(&tokens["civil_officer"], person).await,
        vec![json!([name, masked_id, phone])]
    );
    assert_eq!(
        served.rows(&tokens["majin_dispatcher"], person).await,
        vec![json!([masked_name, masked_id, masked_phone])]
    );
    assert_eq!(
        served.rows(&tokens["county_dispatcher"], person).await,
        vec![json!([masked_name, masked_id, masked_phone])]
    );

    // 条 and 块: the civil-affairs officer does not see the garden orders it was denied
    let (status, _) = served
        .query(
            &tokens["civil_officer"],
            "SELECT count(*) FROM village.garden_orders",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = served
        .query(
            &tokens["xiashan_official"],
            "SELECT count(*) FROM village.garden_orders",
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // the saved reports: one ranking, run by each principal over their own villages
    let reports: Value = served.get(admin, "/v1/reports").await.json().await.unwrap();
    let ranking = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "reports.village_income_ranking")
        .expect("the ranking report");
    let path = format!("/v1/reports/{}/run", ranking["id"].as_str().unwrap());
    let mut ranked = Vec::new();
    for who in ["admin", "majin_dispatcher", "xiashan_official"] {
        let response = served
            .post(&tokens[who], &path, json!({"parameters": {"year": 2024}}))
            .await;
        let body: Value = response.json().await.unwrap();
        ranked.push(
            body["rows"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| panic!("{body}")),
        );
    }
    let [everyone, majin, xiashan] = <[Vec<Value>; 3]>::try_from(ranked).unwrap();
    assert_eq!(everyone.len(), 269);
    assert_eq!(majin.len(), 37);
    assert!(
        majin
            .iter()
            .all(|r| r[2].as_str().unwrap().starts_with("330824116"))
    );
    assert_eq!(xiashan.len(), 1);
    assert_eq!(
        (&xiashan[0][0], &xiashan[0][2]),
        (&json!(1), &json!("330824116224"))
    );

    // dispatch work in every state; each principal sees its own
    let statuses = |tasks: &Value| {
        let mut statuses: Vec<String> = tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["status"].as_str().unwrap().to_owned())
            .collect();
        statuses.sort();
        statuses
    };
    let all: Value = served.get(admin, "/v1/tasks").await.json().await.unwrap();
    assert_eq!(
        statuses(&all),
        [
            "accepted",
            "dispatched",
            "dispatched",
            "resolved",
            "returned",
            "verified"
        ]
    );
    let red = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["supervision"] == "red")
        .expect("a task escalated to red");
    assert_eq!(red["escalated_to"], "330824000000");
    let own: Value = served
        .get(&tokens["xiashan_official"], "/v1/tasks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&own), ["dispatched", "returned", "verified"]);
    let majin: Value = served
        .get(&tokens["majin_dispatcher"], "/v1/tasks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(majin.as_array().unwrap().len(), 5, "all but 池淮镇's");

    // the response rate, as plain SQL through each principal's policy
    let rate = served
        .rows(
            &tokens["majin_dispatcher"],
            "SELECT count(*), sum(CASE WHEN accepted_at <= accept_due_at THEN 1 ELSE 0 END) FROM governance.tasks",
        )
        .await;
    assert_eq!(rate, [json!([5, 2])]);

    // the alert dispatches a visit to each village below 60% in the fourth quarter
    let coverage = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "reports.elderly_visit_coverage")
        .expect("the coverage report");
    let path = format!("/v1/reports/{}/runs", coverage["id"].as_str().unwrap());
    let quarter = json!({"parameters": {"period": {"from": "2024-10-01", "to": "2024-12-31"}}});
    let response = served.post(&tokens["civil_officer"], &path, quarter).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let run: Value = response.json().await.unwrap();
    let low = served
        .rows(
            &tokens["civil_officer"],
            &format!(
                "SELECT count(*) FROM governance.tasks WHERE origin = 'alert' AND run_id = '{}'",
                run["id"].as_str().unwrap()
            ),
        )
        .await;
    let result: Value = served
        .get(
            &tokens["civil_officer"],
            &format!(
                "/v1/runs/{}/result?format=json",
                run["id"].as_str().unwrap()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let below = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row[3].as_f64().unwrap() < 0.6)
        .count();
    assert!((1..269).contains(&below), "{below} villages below target");
    assert_eq!(low, [json!([below])]);
    // each run records how fresh what it read was, and only of what its principal reads
    let kinds: Vec<(String, String)> = run["freshness"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["table"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("civil.elderly_alone".into(), "database".into()),
            ("civil.visits".into(), "database".into())
        ]
    );
    let path = format!("/v1/reports/{}/runs", ranking["id"].as_str().unwrap());
    let response = served
        .post(&tokens["xiashan_official"], &path, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let own: Value = response.json().await.unwrap();
    let income = own["freshness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["table"] == "village.collective_income")
        .unwrap_or_else(|| panic!("{own}"));
    assert_eq!(income["kind"], "files");
    assert_eq!(income["sources"], 1, "only 霞山村's member: {income}");
    assert!(income["files"].as_u64().unwrap() >= 1);
    assert!(income["last_modified"].as_str().unwrap().ends_with('Z'));
    let schedules: Value = served
        .get(admin, "/v1/schedules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(schedules[0]["fan_out"]["level"], "township");
    assert_eq!(schedules[0]["run_as"], "county_dispatcher");
}

/// The README's first command, as a newcomer runs it: no `--data-dir` (so `./data`, relative),
/// in an empty working directory; then again after a restart.
#[tokio::test]
async fn serve_demo_in_an_empty_working_directory_serves_and_serves_again() {
    let cwd = tempfile::tempdir().unwrap();
    let env = [("TIAOKUAI_ADMIN_TOKEN", "change-me")];
    let patience = std::time::Duration::from_secs(300);
    let sql = "SELECT count(DISTINCT jurisdiction_code) FROM village.residents";
    for round in ["first start", "restart"] {
        let server = ServerProcess::launch(cwd.path(), &["--demo"], &env, patience)
            .await
            .unwrap_or_else(|e| panic!("{round}: {e}"));
        let rows = query_rows(&server.url, "change-me", sql).await;
        assert_eq!(rows, vec![json!([269])], "{round}");
        // the civil-affairs database, registered by a file URL under the relative data dir
        let rows = query_rows(
            &server.url,
            "change-me",
            "SELECT count(*) > 0 FROM civil.elderly_alone",
        )
        .await;
        assert_eq!(rows, vec![json!([true])], "{round}");
        server.stop();
    }
    let data = cwd.path().join("data");
    assert!(data.join(demo::TOKENS_FILE).exists());
    assert!(!data.join(".demo-build").exists());
}

/// A demo build cut short leaves no half-built data directory behind it: the next start
/// removes what was left and builds the demo again.
#[tokio::test]
async fn a_demo_build_killed_part_way_is_rebuilt_by_the_next_start() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = process::command(cwd.path())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("TIAOKUAI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill it as soon as the build has begun writing village files
    let villages = cwd.path().join("data/.demo-build/demo/villages");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !villages.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(villages.exists(), "the build never started");
    assert!(!cwd.path().join("data").join(demo::TOKENS_FILE).exists());

    let env = [("TIAOKUAI_ADMIN_TOKEN", "change-me")];
    let patience = std::time::Duration::from_secs(300);
    let server = ServerProcess::launch(cwd.path(), &["--demo"], &env, patience)
        .await
        .unwrap();
    let rows = query_rows(
        &server.url,
        "change-me",
        "SELECT count(DISTINCT jurisdiction_code) FROM village.residents",
    )
    .await;
    assert_eq!(rows, vec![json!([269])]);
    server.stop();
    assert!(!cwd.path().join("data/.demo-build").exists());
}

/// `--demo` never mixes itself into a data directory that holds something else, and leaves it
/// as it was.
#[tokio::test]
async fn serve_demo_refuses_a_data_directory_that_holds_something_else() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "mine").unwrap();
    let error = ServerProcess::launch(
        cwd.path(),
        &["--demo"],
        &[],
        std::time::Duration::from_secs(60),
    )
    .await
    .err()
    .expect("refused");
    assert!(error.contains("is not empty"), "{error}");
    let left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("notes.txt")]);
}

async fn query_rows(url: &str, token: &str, sql: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/query"))
        .bearer_auth(token)
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{sql}: {body}");
    body["rows"].as_array().unwrap().clone()
}
