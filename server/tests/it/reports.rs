//! Saved reports through the real server: runs as the caller, typed parameters, versions and
//! who may see, change and run a report.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai_catalog::{Catalog, SqliteCatalog};

use crate::fixtures::{CHIHUAI, CHIHUAI_VILLAGE, COUNTY, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error};

const REPORT_SQL: &str =
    "SELECT id, name FROM county.people WHERE id >= $min_id AND village_code = $place ORDER BY id";

/// A county table of people in two townships; carol, an official, reads and runs reports in
/// 马金镇; dave, a resident of a 池淮镇 village, reads there but runs no reports; erin may
/// manage reports named `reports.*` for the county.
async fn server() -> (TestServer, String, String, String) {
    let server = TestServer::start().await;
    server.load_tree().await;
    let rows = [
        (1, "张三", XIASHAN),
        (2, "李四", CHIHUAI_VILLAGE),
        (3, "王五", XIASHAN),
        (4, "赵六", CHIHUAI_VILLAGE),
    ];
    server
        .register_people(&rows, COUNTY, "county.people", json!({}))
        .await;
    let may = [("read", "county.*"), ("run_report", "reports.*")];
    let carol = server.role_holder("carol", "official", MAJIN, &may).await;
    let dave = server
        .role_holder("dave", "resident", CHIHUAI_VILLAGE, &[("read", "county.*")])
        .await;
    let erin = server
        .role_holder(
            "erin",
            "analyst",
            COUNTY,
            &[("manage_report", "reports.*"), ("read", "county.*")],
        )
        .await;
    (server, carol, dave, erin)
}

fn report(name: &str) -> Value {
    json!({
        "name": name,
        "owner": COUNTY,
        "description": "people from an id on, in one place",
        "sql": REPORT_SQL,
        "parameters": [
            {"name": "min_id", "kind": "integer", "default": 1},
            {"name": "place", "kind": "jurisdiction", "label": "township or village"},
        ],
    })
}

async fn run(server: &TestServer, token: &str, id: &str, parameters: Value) -> (StatusCode, Value) {
    let response = server
        .post(
            token,
            &format!("/v1/reports/{id}/run"),
            json!({"parameters": parameters}),
        )
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn one_report_runs_as_each_caller_with_its_own_rows() {
    let (server, carol, dave, erin) = server().await;
    let frank = server.role_holder("frank", "official", CHIHUAI, &[]).await;
    let everyone = json!({
        "name": "reports.people_all",
        "owner": COUNTY,
        "sql": "SELECT id, name FROM county.people WHERE id >= $min_id ORDER BY id",
        "parameters": [{"name": "min_id", "kind": "integer", "default": 1}],
    });
    let created = assert_created(server.post(&erin, "/v1/reports", everyone).await).await;
    assert_eq!(created["version"], 1);
    let all = created["id"].as_str().unwrap();

    // the same report gives each official the rows of their own township
    let (status, body) = run(&server, &carol, all, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));
    let (_, body) = run(&server, &frank, all, json!({})).await;
    assert_eq!(body["rows"], json!([[2, "李四"], [4, "赵六"]]));
    let (_, body) = run(&server, ADMIN_TOKEN, all, json!({"min_id": 2})).await;
    assert_eq!(body["rows"], json!([[2, "李四"], [3, "王五"], [4, "赵六"]]));

    // a jurisdiction parameter takes a place where the caller may run the report
    let created = assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_by_place"))
            .await,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let (status, body) = run(&server, &carol, id, json!({"place": XIASHAN})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));
    let (status, body) = run(&server, &carol, id, json!({"place": COUNTY})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = run(&server, ADMIN_TOKEN, id, json!({"place": "330824"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a code is 12 digits: {body}"
    );
    let (_, body) = run(&server, ADMIN_TOKEN, id, json!({"place": CHIHUAI_VILLAGE})).await;
    assert_eq!(body["rows"], json!([[2, "李四"], [4, "赵六"]]));

    // dave holds no run_report: the report does not exist for him
    let (status, body) = run(&server, &dave, id, json!({"place": CHIHUAI_VILLAGE})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let listed: Value = server.get(&dave, "/v1/reports").await.json().await.unwrap();
    assert_eq!(listed, json!([]));
    let listed: Value = server
        .get(&carol, "/v1/reports")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["name"])
        .collect();
    assert_eq!(names, ["reports.people_all", "reports.people_by_place"]);

    // each run is audited as a query naming the report and its version
    let response = server
        .post(
            &carol,
            &format!("/v1/reports/{id}/run"),
            json!({"parameters": {"place": XIASHAN}}),
        )
        .await;
    let query_id = response.headers()["x-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let catalog = SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    let events = catalog.audit_events(1000).await.unwrap();
    let record = events
        .iter()
        .find(|e| e.action == "query" && e.target == query_id)
        .expect("the run's audit record");
    assert_eq!(record.principal, "carol");
    assert_eq!(record.detail["report"], id);
    assert_eq!(record.detail["report_version"], 1);
    assert_eq!(record.detail["outcome"], "started");
}

#[tokio::test]
async fn parameters_are_typed_and_bound_never_spliced() {
    let (server, carol, _, erin) = server().await;
    let created = assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_typed"))
            .await,
    )
    .await;
    let id = created["id"].as_str().unwrap();

    for (parameters, status, needle) in [
        (
            json!({"place": MAJIN, "min_id": "1"}),
            StatusCode::BAD_REQUEST,
            "\"min_id\" is an integer",
        ),
        (
            json!({}),
            StatusCode::BAD_REQUEST,
            "\"place\" needs a value",
        ),
        (
            json!({"place": MAJIN, "village": MAJIN}),
            StatusCode::BAD_REQUEST,
            "no parameter \"village\"",
        ),
        // outside where carol may run the report
        (
            json!({"place": CHIHUAI_VILLAGE}),
            StatusCode::FORBIDDEN,
            "outside",
        ),
        // text that would change the query if it were spliced in is only a value
        (
            json!({"place": "330824116224' OR '1'='1"}),
            StatusCode::BAD_REQUEST,
            "place",
        ),
    ] {
        let (got, body) = run(&server, &carol, id, parameters.clone()).await;
        assert_eq!(got, status, "{parameters}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{parameters}: {message}");
    }

    // an enumeration and a text parameter: a hostile text matches nothing
    let text_report = json!({
        "name": "reports.people_named",
        "owner": COUNTY,
        "sql": "SELECT id FROM county.people WHERE name = $who ORDER BY id",
        "parameters": [{"name": "who", "kind": "text"}],
    });
    let created = assert_created(server.post(&erin, "/v1/reports", text_report).await).await;
    let named = created["id"].as_str().unwrap();
    let (status, body) = run(&server, &carol, named, json!({"who": "张三' OR '1'='1"})).await;
    assert_eq!(
        (status, &body["rows"]),
        (StatusCode::OK, &json!([])),
        "{body}"
    );
    let (_, body) = run(&server, &carol, named, json!({"who": "张三"})).await;
    assert_eq!(body["rows"], json!([[1]]));

    // every format of /v1/query
    let response = server
        .client
        .post(format!("{}/v1/reports/{named}/run?format=csv", server.url))
        .bearer_auth(&carol)
        .json(&json!({"parameters": {"who": "张三"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "id\n1\n");
}

#[tokio::test]
async fn a_report_is_checked_before_it_is_stored_and_keeps_its_versions() {
    let (server, carol, _, erin) = server().await;
    let with = |name: &str, sql: &str, parameters: Value| {
        let mut body = report(name);
        body["sql"] = json!(sql);
        body["parameters"] = parameters;
        body
    };
    let min_id = json!([{"name": "min_id", "kind": "integer"}]);
    let mut refused = vec![
        // SQL that does not plan
        (
            &erin,
            with(
                "reports.people_bad",
                "SELECT nothing FROM county.people WHERE id > $min_id",
                min_id.clone(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
            "does not plan",
        ),
        // a placeholder that is no parameter
        (
            &erin,
            with("reports.people_undeclared", REPORT_SQL, min_id),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "$place",
        ),
        // a report's SQL is held to the size of a query's
        (
            &erin,
            with(
                "reports.people_huge",
                &format!("{REPORT_SQL} {}", "-".repeat(300 << 10)),
                json!([]),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the limit is",
        ),
        (
            &erin,
            with("reports.people_drop", "DROP TABLE county.people", json!([])),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "one query",
        ),
        // carol may run reports.* but not manage them; erin may not manage other names
        (
            &carol,
            report("reports.people_mine"),
            StatusCode::FORBIDDEN,
            "permission_denied",
            "manage",
        ),
        (
            &erin,
            report("reports_budget.by_place"),
            StatusCode::FORBIDDEN,
            "permission_denied",
            "manage",
        ),
    ];
    for name in [
        "people",
        "reports.People",
        "a.b.c",
        "reports.x; DROP",
        "报表.收入",
    ] {
        refused.push((
            &erin,
            report(name),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "schema.name",
        ));
    }
    for (token, body, status, code, needle) in refused {
        let message =
            assert_error(server.post(token, "/v1/reports", body).await, status, code).await;
        assert!(message.contains(needle), "{message}");
    }

    let created = assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_versions"))
            .await,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_error(
        server
            .post(&erin, "/v1/reports", report("reports.people_versions"))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let change = json!({
        "version": 1,
        "description": "only the first two",
        "sql": "SELECT id FROM county.people WHERE village_code = $place ORDER BY id LIMIT 1",
        "parameters": [{"name": "place", "kind": "jurisdiction"}],
    });
    let put = |token: &str, body: Value| {
        server
            .client
            .put(format!("{}/v1/reports/{id}", server.url))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    assert_error(
        put(&carol, change.clone()).await.unwrap(),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let updated: Value = put(&erin, change.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["version"], 2, "{updated}");
    // a change made from an older version is refused, not merged
    assert_error(
        put(&erin, change.clone()).await.unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let mut broken = change.clone();
    broken["version"] = json!(2);
    broken["sql"] = json!("SELECT id FROM county.nothing WHERE village_code = $place");
    assert_error(
        put(&erin, broken).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    let versions: Value = server
        .get(&carol, &format!("/v1/reports/{id}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    assert_eq!(versions[0]["sql"], REPORT_SQL);
    let first: Value = server
        .get(&carol, &format!("/v1/reports/{id}?version=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["version"], 1);

    // the newest version runs by default, an older one when asked for
    let (_, body) = run(&server, &carol, &id, json!({"place": XIASHAN})).await;
    assert_eq!(body["rows"], json!([[1]]));
    let response = server
        .post(
            &carol,
            &format!("/v1/reports/{id}/run"),
            json!({"version": 1, "parameters": {"place": XIASHAN}}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));

    assert_error(
        server.delete(&carol, &format!("/v1/reports/{id}")).await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_eq!(
        server
            .delete(&erin, &format!("/v1/reports/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        server.get(&erin, &format!("/v1/reports/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn reports_survive_a_restart() {
    let (server, carol, _, erin) = server().await;
    let created = assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_kept"))
            .await,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let server = server.restart().await;
    let (status, body) = run(&server, &carol, &id, json!({"place": XIASHAN})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));
}

/// `tiaokuai report list|show|run`, the command an official runs, against the real server.
#[tokio::test]
async fn the_command_line_lists_shows_and_runs_reports() {
    let (server, carol, _, erin) = server().await;
    assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_by_place"))
            .await,
    )
    .await;
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tiaokuai"));
        command
            .arg("report")
            .args(["--server", &server.url, "--token", &carol])
            .args(args)
            .env("TIAOKUAI_LOG", "warn");
        async move {
            let output = command.output().await.unwrap();
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (
                output.status.success(),
                text(&output.stdout),
                text(&output.stderr),
            )
        }
    };
    let (ok, listed, error) = cli(&["list"]).await;
    assert!(ok, "{error}");
    assert!(
        listed.starts_with("reports.people_by_place\trep_"),
        "{listed}"
    );
    let (ok, shown, _) = cli(&["show", "reports.people_by_place"]).await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["sql"], REPORT_SQL);
    let place = format!("place={XIASHAN}");
    let (ok, csv, error) = cli(&[
        "run",
        "reports.people_by_place",
        "--param",
        &place,
        "--param",
        "min_id=2",
        "--format",
        "csv",
    ])
    .await;
    assert!(ok, "{error}");
    assert_eq!(csv.trim_end(), "id,name\n3,王五");
    let (ok, _, error) = cli(&["run", "reports.people_by_place", "--param", "min_id=2"]).await;
    assert!(!ok);
    assert!(error.contains("\"place\" needs a value"), "{error}");
}

/// A stored run keeps its result, for the principal who ran it (and admin) only.
#[tokio::test]
async fn a_stored_run_keeps_its_result_for_its_principal() {
    use sha2::Digest;
    let (server, carol, _, erin) = server().await;
    let frank = server.role_holder("frank", "official", CHIHUAI, &[]).await;
    let created = assert_created(
        server
            .post(&erin, "/v1/reports", report("reports.people_by_place"))
            .await,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let runs = format!("/v1/reports/{id}/runs");
    let run = assert_created(
        server
            .post(&carol, &runs, json!({"parameters": {"place": XIASHAN}}))
            .await,
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["row_count"], 2);
    assert_eq!(run["principal"], "carol");
    assert_eq!(run["report_version"], 1);
    // the values it used, defaults included
    assert_eq!(run["parameters"], json!({"min_id": 1, "place": XIASHAN}));
    let run_id = run["id"].as_str().unwrap();

    let result = |token: &str, format: &str| {
        server
            .client
            .get(format!(
                "{}/v1/runs/{run_id}/result?format={format}",
                server.url
            ))
            .bearer_auth(token.to_owned())
            .send()
    };
    let body: Value = result(&carol, "json").await.unwrap().json().await.unwrap();
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));
    let parquet = result(&carol, "parquet")
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stored = std::fs::read(
        server
            .data_dir()
            .join("runs")
            .join(format!("{run_id}.parquet")),
    )
    .unwrap();
    let hex = |bytes: &[u8]| {
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(run["sha256"], hex(&stored));
    assert!(!parquet.is_empty());

    // another official, even one who may run the report, learns nothing of carol's run
    for path in [
        format!("/v1/runs/{run_id}"),
        format!("/v1/runs/{run_id}/result"),
    ] {
        assert_error(
            server.get(&frank, &path).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let franks: Value = server.get(&frank, &runs).await.json().await.unwrap();
    assert_eq!(franks, json!([]));
    let admins: Value = server.get(ADMIN_TOKEN, &runs).await.json().await.unwrap();
    assert_eq!(admins.as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .get(ADMIN_TOKEN, &format!("/v1/runs/{run_id}"))
            .await
            .status(),
        StatusCode::OK
    );

    // a run that fails is recorded as failed, with what its caller was told
    let response = server
        .post(&carol, &runs, json!({"parameters": {"place": COUNTY}}))
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let listed: Value = server.get(&carol, &runs).await.json().await.unwrap();
    let failed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("the failed run");
    assert!(
        failed["error"].as_str().unwrap().contains("outside"),
        "{failed}"
    );
    let failed_id = failed["id"].as_str().unwrap();
    assert_error(
        server
            .get(&carol, &format!("/v1/runs/{failed_id}/result"))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // the stored result survives a restart unchanged, and no run is left running
    let catalog = SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    catalog
        .insert_run(tiaokuai_catalog::NewRun {
            id: "run_interrupted".into(),
            report_id: id.to_owned(),
            report_version: 1,
            parameters: Default::default(),
            principal: "carol".into(),
            policy_version: 0,
            schedule_id: None,
            scope: None,
            freshness: Vec::new(),
        })
        .await
        .unwrap();
    drop(catalog);
    let server = server.restart().await;
    let body: Value = server
        .get(&carol, &format!("/v1/runs/{run_id}/result"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["rows"], json!([[1, "张三"], [3, "王五"]]));
    let interrupted: Value = server
        .get(&carol, "/v1/runs/run_interrupted")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(interrupted["status"], "failed", "{interrupted}");
    assert!(
        interrupted["error"]
            .as_str()
            .unwrap()
            .starts_with("interrupted")
    );
}

/// A stored result is held to its limit: a larger one fails the run, and leaves no file.
#[tokio::test]
async fn a_stored_result_over_its_limit_fails_the_run() {
    let server = TestServer::start_with(|config| config.runs.max_result_bytes = 64 << 10).await;
    server.load_tree().await;
    let big = json!({
        "name": "reports.big",
        "owner": COUNTY,
        "sql": "SELECT value, md5(CAST(value AS VARCHAR)) AS filler FROM generate_series(1, 100000) WHERE value <= $rows",
        "parameters": [{"name": "rows", "kind": "integer"}],
    });
    let created = assert_created(server.post(ADMIN_TOKEN, "/v1/reports", big).await).await;
    let runs = format!("/v1/reports/{}/runs", created["id"].as_str().unwrap());
    let small = assert_created(
        server
            .post(ADMIN_TOKEN, &runs, json!({"parameters": {"rows": 10}}))
            .await,
    )
    .await;
    assert_eq!(small["status"], "succeeded");
    let message = assert_error(
        server
            .post(ADMIN_TOKEN, &runs, json!({"parameters": {"rows": 50000}}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "resources_exhausted",
    )
    .await;
    assert!(message.contains("65536 bytes"), "{message}");
    let listed: Value = server.get(ADMIN_TOKEN, &runs).await.json().await.unwrap();
    let failed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("the failed run");
    let files: Vec<_> = std::fs::read_dir(server.data_dir().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "only the small run's result: {files:?}");
    assert!(
        !files[0]
            .to_string_lossy()
            .contains(failed["id"].as_str().unwrap())
    );
}
