//! File sources on a real HTTP file server that answers range requests (axum + `ServeDir`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::RANGE;
use axum::middleware::{self, Next};
use axum::response::Response;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower_http::services::ServeDir;

use crate::fixtures::{self, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

/// What the file server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    ranges: AtomicUsize,
    /// GETs without a `Range` header: whole files downloaded.
    whole_gets: AtomicUsize,
}

/// A folder served over HTTP on a loopback port.
struct FileServer {
    url: String,
    dir: TempDir,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(seen): State<Arc<Seen>>, request: Request, next: Next) -> Response {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    if request.headers().contains_key(RANGE) {
        seen.ranges.fetch_add(1, Ordering::SeqCst);
    } else if request.method() == Method::GET {
        seen.whole_gets.fetch_add(1, Ordering::SeqCst);
    }
    next.run(request).await
}

impl FileServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .fallback_service(ServeDir::new(dir.path()))
            .layer(middleware::from_fn_with_state(seen.clone(), count));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            dir,
            seen,
            task,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    fn write_parquet(&self, name: &str, rows: &[(i64, &str, &str)]) {
        fixtures::write_parquet(&self.path(name), &fixtures::people(rows));
    }

    fn ranges(&self) -> usize {
        self.seen.ranges.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }

    fn whole_gets(&self) -> usize {
        self.seen.whole_gets.load(Ordering::SeqCst)
    }
}

fn http_source(name: &str, url: &str, table: Value) -> Value {
    json!({"name": name, "kind": "parquet", "url": url, "owner": MAJIN, "tables": [table]})
}

async fn started() -> (TestServer, FileServer) {
    let server = TestServer::start().await;
    server.load_tree().await;
    (server, FileServer::start().await)
}

#[tokio::test]
async fn the_file_server_answers_ranges() {
    // the fixture itself: a ranged GET gets 206 and exactly the bytes asked for
    let files = FileServer::start().await;
    std::fs::write(files.path("x.bin"), b"0123456789").unwrap();
    let response = reqwest::Client::new()
        .get(files.url("x.bin"))
        .header("Range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"2345");
    assert_eq!(files.ranges(), 1);
}

#[tokio::test]
async fn single_parquet_file_url() {
    let (server, files) = started().await;
    files.write_parquet(
        "xiashan.parquet",
        &[
            (1, "张三", XIASHAN),
            (2, "李四", XIASHAN),
            (3, "王五", XIASHAN),
        ],
    );
    // a neighbour on the same server that the source must not read
    files.write_parquet("huashan.parquet", &[(9, "吴十", HUASHAN)]);

    let created = server
        .register(http_source(
            "xiashan_http_people",
            &files.url("xiashan.parquet"),
            json!({"name": "web.xiashan", "binding": {"fixed": XIASHAN}}),
        ))
        .await;
    let columns: Vec<&str> = created["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "name", "village_code"]);

    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, village_code FROM web.xiashan ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([
            [1, "张三", XIASHAN],
            [2, "李四", XIASHAN],
            [3, "王五", XIASHAN]
        ])
    );
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT name FROM web.xiashan WHERE id = 2")
        .await;
    assert_eq!(Value::Array(rows), json!([["李四"]]));
}

#[tokio::test]
async fn reads_use_range_requests() {
    let (server, files) = started().await;
    // enough rows that the file is worth reading in parts
    let names: Vec<String> = (0..2000).map(|i| format!("村民{i}")).collect();
    let rows: Vec<(i64, &str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (i as i64, name.as_str(), XIASHAN))
        .collect();
    files.write_parquet("big.parquet", &rows);

    server
        .register(http_source(
            "xiashan_http_big",
            &files.url("big.parquet"),
            json!({"name": "web.big", "binding": {"column": "village_code"}}),
        ))
        .await;
    let after_registration = files.ranges();
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT count(*), min(id), max(id), max(name) FROM web.big",
        )
        .await;
    assert_eq!(Value::Array(rows), json!([[2000, 0, 1999, "村民999"]]));
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT name FROM web.big WHERE id = 1234")
        .await;
    assert_eq!(Value::Array(rows), json!([["村民1234"]]));
    assert!(files.requests() > 0);
    assert!(
        files.ranges() > after_registration,
        "queries sent no Range request ({} of {} requests had one)",
        files.ranges(),
        files.requests()
    );
    // and no file was downloaded whole
    assert_eq!(
        files.whole_gets(),
        0,
        "{} GETs without a Range header",
        files.whole_gets()
    );
}

#[tokio::test]
async fn explicit_list_of_files() {
    let (server, files) = started().await;
    files.write_parquet("2022/people.parquet", &[(1, "张三", XIASHAN)]);
    files.write_parquet(
        "2023/people.parquet",
        &[(2, "李四", HUASHAN), (3, "王五", XIASHAN)],
    );
    files.write_parquet("2024/people.parquet", &[(4, "赵六", HUASHAN)]);
    // not listed, so not read
    files.write_parquet("2025/people.parquet", &[(5, "钱七", XIASHAN)]);

    let mut body = http_source(
        "majin_http_people",
        &files.url("2022/people.parquet"),
        json!({"name": "web.people", "binding": {"column": "village_code"}}),
    );
    body["options"] =
        json!({"files": [files.url("2023/people.parquet"), files.url("2024/people.parquet")]});
    server.register(body).await;

    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, village_code FROM web.people ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([
            [1, "张三", XIASHAN],
            [2, "李四", HUASHAN],
            [3, "王五", XIASHAN],
            [4, "赵六", HUASHAN]
        ])
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!("SELECT id FROM web.people WHERE village_code = '{HUASHAN}' ORDER BY id"),
        )
        .await;
    assert_eq!(Value::Array(rows), json!([[2], [4]]));
}

/// Posts a registration that must fail with 400 `bad_request`, leaving the catalog as it was.
async fn rejected(server: &TestServer, body: Value) -> String {
    let before = catalog_snapshot(server).await;
    let response = server.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(
        catalog_snapshot(server).await,
        before,
        "{body} changed the catalog"
    );
    message
}

#[tokio::test]
async fn folder_url_is_rejected() {
    let (server, files) = started().await;
    files.write_parquet("people/part-0.parquet", &[(1, "张三", XIASHAN)]);
    let table = json!({"name": "web.people", "binding": {"column": "village_code"}});
    let message = rejected(
        &server,
        http_source("majin_http_folder", &files.url("people/"), table.clone()),
    )
    .await;
    assert!(message.contains("folder"), "{message}");

    // a folder among the listed files is no better
    let mut body = http_source(
        "majin_http_folder",
        &files.url("people/part-0.parquet"),
        table,
    );
    body["options"] = json!({"files": [files.url("people/")]});
    rejected(&server, body).await;
}

#[tokio::test]
async fn missing_file_is_rejected_at_registration() {
    let (server, files) = started().await;
    files.write_parquet("present.parquet", &[(1, "张三", XIASHAN)]);
    let table = json!({"name": "web.people", "binding": {"column": "village_code"}});
    let message = rejected(
        &server,
        http_source(
            "majin_http_missing",
            &files.url("absent.parquet"),
            table.clone(),
        ),
    )
    .await;
    assert!(message.contains("absent.parquet"), "{message}");

    // one missing file in the list is enough
    let mut body = http_source("majin_http_missing", &files.url("present.parquet"), table);
    body["options"] = json!({"files": [files.url("absent.parquet")]});
    rejected(&server, body).await;
}

#[tokio::test]
async fn file_that_is_not_parquet_is_rejected() {
    let (server, files) = started().await;
    std::fs::write(files.path("garbage.parquet"), b"id,name\n1,not parquet\n").unwrap();
    let message = rejected(
        &server,
        http_source(
            "majin_http_garbage",
            &files.url("garbage.parquet"),
            json!({"name": "web.people", "binding": {"column": "village_code"}}),
        ),
    )
    .await;
    assert!(message.contains("Parquet"), "{message}");
}

#[tokio::test]
async fn vanished_file_is_source_unavailable() {
    let (server, files) = started().await;
    files.write_parquet("xiashan.parquet", &[(1, "张三", XIASHAN)]);
    server
        .register(http_source(
            "xiashan_http_vanishing",
            &files.url("xiashan.parquet"),
            json!({"name": "web.vanishing", "binding": {"fixed": XIASHAN}}),
        ))
        .await;
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT id, name FROM web.vanishing")
        .await;
    assert_eq!(Value::Array(rows), json!([[1, "张三"]]));

    std::fs::remove_file(files.path("xiashan.parquet")).unwrap();
    let (status, body) = server
        .query(ADMIN_TOKEN, "SELECT id, name FROM web.vanishing")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "source_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("xiashan_http_vanishing"), "{message}");

    // the file comes back: so does the table
    files.write_parquet(
        "xiashan.parquet",
        &[(2, "李四", XIASHAN), (3, "王五", XIASHAN)],
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name FROM web.vanishing ORDER BY id",
        )
        .await;
    assert_eq!(Value::Array(rows), json!([[2, "李四"], [3, "王五"]]));
}
