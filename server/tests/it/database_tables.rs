//! Database sources beside file sources: union members of every kind, columns whose types do
//! not map, and a query that outlives the deletion of its source.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::database_fixtures::TestDb;
use crate::fixtures::{self, CHIHUAI_VILLAGE, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer};

fn server_options() -> Value {
    json!({"sslmode": "disable", "connect_timeout_ms": 5000, "query_timeout_ms": 30000})
}

/// A one-table database source whose table is bound to one village.
fn member_source(name: &str, kind: &str, url: &str, village: &str, remote: &str) -> Value {
    let mut body = json!({"name": name, "kind": kind, "url": url, "owner": village,
        "tables": [{"name": format!("members.{name}"), "remote": remote, "binding": {"fixed": village}}]});
    if kind != "sqlite" {
        body["options"] = server_options();
    }
    body
}

const PEOPLE: &str =
    "CREATE TABLE people (id BIGINT NOT NULL, name TEXT, village_code TEXT NOT NULL)";

#[tokio::test]
async fn a_union_dataset_spans_files_and_databases() {
    let Some(pg) = TestDb::postgres("union_pg").await else {
        return;
    };
    let server = TestServer::start().await;
    server.load_tree().await;
    // 下山村 keeps Parquet files, 华山村 a PostgreSQL table, 池淮村 a SQLite file
    let folder = server.files().join("xiashan");
    fixtures::write_parquet(
        &folder.join("part-0.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN), (2, "李四", XIASHAN)]),
    );
    let files = server
        .register(fixtures::parquet_source(
            "people_xiashan",
            &fixtures::file_url(&folder),
            XIASHAN,
            None,
        ))
        .await;
    pg.execute(&[
        PEOPLE,
        "INSERT INTO people VALUES (3, '王五', '330824116200'), (4, '赵六', '330824116200'), (5, NULL, '330824116200')",
    ])
    .await;
    let postgres = server
        .register(member_source(
            "people_huashan",
            "postgres",
            pg.url().as_str(),
            HUASHAN,
            "public.people",
        ))
        .await;
    let lite_path = server.files().join("chihuai.db");
    let lite = rusqlite::Connection::open(&lite_path).unwrap();
    lite.execute_batch(&format!(
        "{PEOPLE}; INSERT INTO people VALUES (6, '钱七', '330824117201');"
    ))
    .unwrap();
    drop(lite);
    let sqlite = server
        .register(member_source(
            "people_chihuai",
            "sqlite",
            &fixtures::file_url(&lite_path),
            CHIHUAI_VILLAGE,
            "people",
        ))
        .await;
    let members: Vec<Value> = [
        (&files, XIASHAN),
        (&postgres, HUASHAN),
        (&sqlite, CHIHUAI_VILLAGE),
    ]
    .iter()
    .map(|(source, code)| json!({"source": source["id"], "jurisdiction": code}))
    .collect();
    let created = server
        .post(
            ADMIN_TOKEN,
            "/v1/datasets",
            json!({"name": "village.people", "members": members}),
        )
        .await;
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "{}",
        created.text().await.unwrap()
    );

    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT jurisdiction_code, count(*), count(name) FROM village.people GROUP BY jurisdiction_code ORDER BY jurisdiction_code",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!([HUASHAN, 3, 2]),
            json!([XIASHAN, 2, 2]),
            json!([CHIHUAI_VILLAGE, 1, 1])
        ]
    );
    // a township's members only, whatever they are stored in
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!(
                "SELECT id FROM village.people WHERE jurisdiction_code LIKE '{}%' ORDER BY id",
                &MAJIN[..9]
            ),
        )
        .await;
    assert_eq!(
        rows,
        vec![json!([1]), json!([2]), json!([3]), json!([4]), json!([5])]
    );
}

#[tokio::test]
async fn columns_of_unmapped_types_are_left_out_not_the_table() {
    let (Some(pg), Some(my)) = (
        TestDb::postgres("unmapped_pg").await,
        TestDb::mysql("unmapped_my").await,
    ) else {
        return;
    };
    let server = TestServer::start().await;
    server.load_tree().await;
    pg.execute(&[
        "CREATE TABLE things (id bigint, village_code text, doc jsonb, address inet, note character(6))",
        "INSERT INTO things VALUES (1, '330824116224', '{\"a\": 1}', '10.0.0.1', 'ab')",
    ])
    .await;
    my.execute(&[
        "CREATE TABLE things (id BIGINT, village_code VARCHAR(12), flags BIT(8), done TINYINT(1))",
        "INSERT INTO things VALUES (1, '330824116224', b'101', 1)",
    ])
    .await;
    for (name, kind, url) in [
        ("things_pg", "postgres", pg.url().to_string()),
        ("things_my", "mysql", my.url().to_string()),
    ] {
        let body = json!({"name": name, "kind": kind, "url": url, "owner": MAJIN, "options": server_options(),
            "tables": [{"name": format!("t.{name}"), "remote": "things", "binding": {"column": "village_code"}}]});
        let created = server.register(body).await;
        let table = &created["tables"][0];
        let skipped: Vec<&str> = table["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["column"].as_str().unwrap())
            .collect();
        let served: Vec<&str> = table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let check: Value = server.check(created["id"].as_str().unwrap()).await;
        assert_eq!(check["status"], "ok", "{check}");
        match kind {
            "postgres" => {
                assert_eq!(skipped, ["doc", "address"]);
                assert_eq!(served, ["id", "village_code", "note"]);
                // character(n) arrives as PostgreSQL compares it: without its padding
                let rows = server
                    .rows(
                        ADMIN_TOKEN,
                        "SELECT id, note, length(note) FROM t.things_pg WHERE note = 'ab'",
                    )
                    .await;
                assert_eq!(rows, vec![json!([1, "ab", 2])]);
            }
            _ => {
                assert_eq!(skipped, ["flags"]);
                assert_eq!(served, ["id", "village_code", "done"]);
                let rows = server
                    .rows(ADMIN_TOKEN, "SELECT id, done FROM t.things_my WHERE done")
                    .await;
                assert_eq!(rows, vec![json!([1, true])]);
            }
        }
        let message = check["message"].as_str().unwrap_or_default();
        assert!(skipped.iter().all(|c| message.contains(c)), "{check}");
    }
}

#[tokio::test]
async fn a_running_query_keeps_its_source_when_it_is_deleted() {
    let Some(pg) = TestDb::postgres("running").await else {
        return;
    };
    let server = TestServer::start().await;
    server.load_tree().await;
    pg.execute(&[
        PEOPLE,
        "INSERT INTO people SELECT n, 'p' || n, '330824116224' FROM generate_series(1, 200000) AS n",
    ])
    .await;
    let body = json!({"name": "big", "kind": "postgres", "url": pg.url().to_string(), "owner": MAJIN,
        "options": server_options(),
        "tables": [{"name": "t.big", "remote": "public.people", "binding": {"column": "village_code"}}]});
    let id = server.register(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut response = reqwest::Client::new()
        .post(format!("{}/v1/query?format=csv", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"sql": "SELECT id, name FROM t.big"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.chunk().await.unwrap().unwrap().to_vec();
    // the source goes while its rows are still streaming
    let deleted = server
        .delete(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), 200_001, "header and every row");
    let (status, _) = server
        .query(ADMIN_TOKEN, "SELECT count(*) FROM t.big")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
