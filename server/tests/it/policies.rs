//! The policy API: lines and role assignments change what the next query sees.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{self, CHIHUAI_VILLAGE, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

async fn people_server() -> TestServer {
    let server = TestServer::start().await;
    server.load_tree().await;
    let rows = [
        (1, "张三", XIASHAN),
        (2, "李四", CHIHUAI_VILLAGE),
        (3, "王五", XIASHAN),
    ];
    server
        .register_people(
            &rows,
            "330824000000",
            "county.people",
            json!({"name": "sensitive:name"}),
        )
        .await;
    server
}

#[tokio::test]
async fn policy_changes_apply_to_the_next_query() {
    let server = people_server().await;
    let carol = server.principal("carol").await;
    let (status, _) = server.query(&carol, "SELECT id FROM county.people").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let line = server
        .post(ADMIN_TOKEN, "/v1/policies", json!({"role": "dispatcher", "jurisdiction": "*", "object": "county.*", "action": "read"}))
        .await;
    assert_eq!(line.status(), StatusCode::CREATED);
    let line: Value = line.json().await.unwrap();
    assert_eq!(line["effect"], "allow");
    let assignment = server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": "carol", "role": "dispatcher", "jurisdiction": MAJIN}),
        )
        .await;
    assert_eq!(assignment.status(), StatusCode::CREATED);
    let assignment: Value = assignment.json().await.unwrap();

    assert_eq!(
        server
            .rows(&carol, "SELECT id, name FROM county.people ORDER BY id")
            .await,
        vec![json!([1, "张*"]), json!([3, "王*"])]
    );
    let whoami: Value = server.get(&carol, "/v1/whoami").await.json().await.unwrap();
    assert_eq!(
        whoami["roles"],
        json!([{"role": "dispatcher", "jurisdiction": MAJIN}])
    );
    let tables: Value = server.get(&carol, "/v1/tables").await.json().await.unwrap();
    assert_eq!(
        tables
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect::<Vec<_>>(),
        vec![
            json!("county.people"),
            json!("system.access_log"),
            json!("system.jurisdictions")
        ]
    );

    // unmasked names in her township
    let sensitive = server
        .post(ADMIN_TOKEN, "/v1/policies", json!({"role": "dispatcher", "jurisdiction": MAJIN, "object": "county.people.name", "action": "read_sensitive"}))
        .await;
    assert_eq!(sensitive.status(), StatusCode::CREATED);
    assert_eq!(
        server
            .rows(&carol, "SELECT name FROM county.people ORDER BY id")
            .await,
        vec![json!(["张三"]), json!(["王五"])]
    );

    // a deny line overrides
    let deny = server
        .post(ADMIN_TOKEN, "/v1/policies", json!({"role": "dispatcher", "jurisdiction": XIASHAN, "object": "*", "action": "read", "effect": "deny"}))
        .await;
    assert_eq!(deny.status(), StatusCode::CREATED);
    assert_eq!(
        server
            .rows(&carol, "SELECT count(*) FROM county.people")
            .await,
        vec![json!([0])]
    );

    // removing the assignment removes the table
    let id = assignment["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/role-assignments/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = server.query(&carol, "SELECT id FROM county.people").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = line["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/policies/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/policies/{id}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn malformed_policies_are_refused_and_store_nothing() {
    let server = people_server().await;
    let carol = server.principal("carol").await;
    let before = catalog_snapshot(&server).await;
    let before_policies: Value = server
        .get(ADMIN_TOKEN, "/v1/policies")
        .await
        .json()
        .await
        .unwrap();
    for body in [
        json!({"role": "dispatcher", "jurisdiction": "33082411600", "object": "*", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "330824116000 ", "object": "*", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "３３０８２４１１６０００", "object": "*", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "3308241160*", "object": "*", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "*", "object": "county", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "*", "object": "*", "action": "write"}),
        json!({"role": "dispatcher", "jurisdiction": "*", "object": "*", "action": "read", "effect": "maybe"}),
        json!({"role": "Dispatcher", "jurisdiction": "*", "object": "*", "action": "read"}),
        json!({"role": "dispatcher", "jurisdiction": "*", "object": "*"}),
    ] {
        let response = server.post(ADMIN_TOKEN, "/v1/policies", body.clone()).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    for body in [
        json!({"principal": "carol", "role": "dispatcher", "jurisdiction": "330824116000 "}),
        json!({"principal": "carol", "role": "dispatcher", "jurisdiction": "33082411"}),
        json!({"principal": "carol", "role": "dispatcher", "jurisdiction": ""}),
    ] {
        let response = server.post(ADMIN_TOKEN, "/v1/role-assignments", body).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": "nobody", "role": "dispatcher", "jurisdiction": MAJIN}),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // only admin changes policy
    let response = server
        .post(
            &carol,
            "/v1/policies",
            json!({"role": "dispatcher", "jurisdiction": "*", "object": "*", "action": "read"}),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let response = server
        .post(
            &carol,
            "/v1/role-assignments",
            json!({"principal": "carol", "role": "admin", "jurisdiction": "*"}),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_error(
        server.get(&carol, "/v1/policies").await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let after_policies: Value = server
        .get(ADMIN_TOKEN, "/v1/policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after_policies, before_policies);
    assert_eq!(catalog_snapshot(&server).await, before);
    let (status, _) = server.query(&carol, "SELECT id FROM county.people").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_header_or_setting_changes_whose_policy_applies() {
    let server = people_server().await;
    let carol = server.principal("carol").await;
    server.post(ADMIN_TOKEN, "/v1/policies", json!({"role": "dispatcher", "jurisdiction": "*", "object": "county.*", "action": "read"})).await;
    server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": "carol", "role": "dispatcher", "jurisdiction": XIASHAN}),
        )
        .await;
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(&carol)
        .header("x-principal", "admin")
        .header("x-tiaokuai-principal", "admin")
        .json(&json!({"sql": "SELECT count(*) FROM county.people"}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rows"], json!([[2]]));
    let (status, _) = server
        .query(&carol, "SET tiaokuai.principal = 'admin'")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn departments_register_sources_in_their_own_jurisdiction() {
    let server = people_server().await;
    let dept = server.principal("majin_civil").await;
    server
        .post(ADMIN_TOKEN, "/v1/policies", json!({"role": "civil_dept", "jurisdiction": "*", "object": "county.*", "action": "register_source"}))
        .await;
    server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": "majin_civil", "role": "civil_dept", "jurisdiction": MAJIN}),
        )
        .await;
    let folder = server.files().join("subsidies");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    server
        .grant(XIASHAN, "path", folder.to_str().unwrap())
        .await;
    let table = |name: &str| json!({"name": name, "binding": {"column": "village_code"}});
    let before = catalog_snapshot(&server).await;
    for (owner, name) in [
        (CHIHUAI_VILLAGE, "county.subsidies"),
        (XIASHAN, "civil.subsidies"),
        ("330824000000", "county.subsidies"),
    ] {
        let response = server
            .post(
                &dept,
                "/v1/sources",
                fixtures::parquet_source(
                    "subsidies",
                    &fixtures::file_url(&folder),
                    owner,
                    Some(table(name)),
                ),
            )
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    }
    assert_eq!(catalog_snapshot(&server).await, before);
    let response = server
        .post(
            &dept,
            "/v1/sources",
            fixtures::parquet_source(
                "subsidies",
                &fixtures::file_url(&folder),
                XIASHAN,
                Some(table("county.subsidies")),
            ),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap()
    );
}
