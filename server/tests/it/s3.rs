//! File sources on a real S3-compatible server (moto in server mode).
//!
//! The endpoint comes from `TIAOKUAI_TEST_S3_ENDPOINT` (e.g. `http://127.0.0.1:5055`). Without
//! it the tests are skipped locally and fail under CI. To run them locally:
//!
//! ```text
//! moto_server -H 127.0.0.1 -p 5055 &
//! export TIAOKUAI_TEST_S3_ENDPOINT=http://127.0.0.1:5055
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{self, CHIHUAI, CHIHUAI_VILLAGE, COUNTY, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error, catalog_snapshot};

const ENDPOINT_VAR: &str = "TIAOKUAI_TEST_S3_ENDPOINT";

/// The dummy secret access key every test stores in a file; moto accepts any signature, and
/// the tests check that this value never comes back in a response.
const SECRET: &str = "tk-dummy-s3-secret-Zq8vW3xK1pLm";

/// The S3 endpoint, or `None` (after saying so) when the tests are to be skipped.
fn endpoint() -> Option<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(value) if !value.trim().is_empty() => {
            Some(value.trim().trim_end_matches('/').to_owned())
        }
        _ if std::env::var_os("CI").is_some() => panic!(
            "{ENDPOINT_VAR} is not set, but CI is: the S3 tests need a running S3-compatible server \
             (start `moto_server -H 127.0.0.1 -p 5055` and set {ENDPOINT_VAR}=http://127.0.0.1:5055)"
        ),
        _ => {
            println!(
                "S3 tests skipped: {ENDPOINT_VAR} is not set (start `moto_server -H 127.0.0.1 -p 5055` \
                 and export {ENDPOINT_VAR}=http://127.0.0.1:5055 to run them)"
            );
            None
        }
    }
}

/// A bucket of its own for one test, created on the S3 server.
struct Bucket {
    endpoint: String,
    name: String,
    store: AmazonS3,
}

impl Bucket {
    async fn create(endpoint: &str, test: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "tk-{}-{}-{}-{nanos}",
            test.replace('_', "-"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        assert!(name.len() <= 63, "bucket name too long: {name}");
        let response = reqwest::Client::new()
            .put(format!("{endpoint}/{name}"))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
        let store = Self::store(endpoint, &name);
        Self {
            endpoint: endpoint.to_owned(),
            name,
            store,
        }
    }

    fn store(endpoint: &str, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap()
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .unwrap();
    }

    async fn delete(&self, key: &str) {
        self.store.delete(&ObjectPath::from(key)).await.unwrap();
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// Options that reach the test server with dummy credentials.
    fn options(&self) -> Value {
        json!({"endpoint": self.endpoint, "region": "us-east-1", "access_key_id": "test", "allow_http": true})
    }
}

/// What most S3 tests start from: a bucket of their own, a server with the small tree, and
/// the secret's reference; `None` when the S3 tests are skipped.
struct S3Test {
    bucket: Bucket,
    server: TestServer,
    secret: String,
}

impl S3Test {
    async fn start(test: &str) -> Option<Self> {
        let endpoint = endpoint()?;
        let bucket = Bucket::create(&endpoint, test).await;
        let server = TestServer::start().await;
        server.load_tree().await;
        let secret = secret_file(&server);
        Some(Self {
            bucket,
            server,
            secret,
        })
    }
}

/// Writes the dummy secret to a file and returns its reference, `file:/abs/path`.
fn secret_file(server: &TestServer) -> String {
    let path = server.files().join("s3-secret-key");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    assert!(path.is_absolute());
    format!("file:{}", path.display())
}

/// A source body for an S3 location, with the bucket's options and a secret reference.
fn s3_source(
    name: &str,
    kind: &str,
    url: &str,
    options: Value,
    secret: &str,
    table: Value,
) -> Value {
    json!({
        "name": name,
        "kind": kind,
        "url": url,
        "owner": MAJIN,
        "options": options,
        "secret": secret,
        "tables": [table],
    })
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} contains the secret: {text}");
}

#[tokio::test]
async fn parquet_prefix_with_several_files() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("prefix").await
    else {
        return;
    };
    let batches = [
        fixtures::people(&[(1, "张三", XIASHAN), (2, "李四", XIASHAN)]),
        fixtures::people(&[(3, "王五", HUASHAN)]),
        fixtures::people(&[(4, "赵六", XIASHAN), (5, "钱七", HUASHAN)]),
    ];
    for (i, batch) in batches.iter().enumerate() {
        bucket
            .put(
                &format!("people/part-{i}.parquet"),
                fixtures::parquet_bytes(batch),
            )
            .await;
    }
    // neither a file beside the prefix nor one of another extension is part of the source
    bucket.put("people/README.txt", b"not data".to_vec()).await;
    bucket
        .put(
            "people-old/part-9.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(9, "旧", XIASHAN)])),
        )
        .await;

    let created = server
        .register(s3_source(
            "majin_s3_people",
            "parquet",
            &bucket.url("people/"),
            bucket.options(),
            &secret,
            json!({"name": "s3.people", "binding": {"column": "village_code"}}),
        ))
        .await;
    assert!(
        created["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{created}"
    );
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
            "SELECT id, name, village_code FROM s3.people ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([
            [1, "张三", XIASHAN],
            [2, "李四", XIASHAN],
            [3, "王五", HUASHAN],
            [4, "赵六", XIASHAN],
            [5, "钱七", HUASHAN],
        ])
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!("SELECT count(*) FROM s3.people WHERE village_code = '{HUASHAN}'"),
        )
        .await;
    assert_eq!(Value::Array(rows), json!([[2]]));
}

#[tokio::test]
async fn hive_partitions_are_columns_and_filter() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("hive").await
    else {
        return;
    };
    let parts = [
        (
            MAJIN,
            XIASHAN,
            fixtures::people(&[(1, "张三", XIASHAN), (2, "李四", XIASHAN)]),
        ),
        (MAJIN, HUASHAN, fixtures::people(&[(3, "王五", HUASHAN)])),
        (
            CHIHUAI,
            CHIHUAI_VILLAGE,
            fixtures::people(&[(4, "赵六", CHIHUAI_VILLAGE)]),
        ),
    ];
    for (township, village, batch) in &parts {
        bucket
            .put(
                &format!("households/township={township}/village={village}/part-0.parquet"),
                fixtures::parquet_bytes(batch),
            )
            .await;
    }

    let mut options = bucket.options();
    options["partition_columns"] = json!(["township", "village"]);
    let mut body = s3_source(
        "county_s3_households",
        "parquet",
        &bucket.url("households/"),
        options,
        &secret,
        json!({"name": "s3.households", "binding": {"column": "village"}}),
    );
    body["owner"] = json!(COUNTY);
    let created = server.register(body).await;
    let columns: Vec<&str> = created["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["id", "name", "village_code", "township", "village"]
    );

    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, township, village FROM s3.households ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([
            [1, "张三", MAJIN, XIASHAN],
            [2, "李四", MAJIN, XIASHAN],
            [3, "王五", MAJIN, HUASHAN],
            [4, "赵六", CHIHUAI, CHIHUAI_VILLAGE],
        ])
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!(
                "SELECT id, name, village FROM s3.households WHERE township = '{MAJIN}' ORDER BY id"
            ),
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([
            [1, "张三", XIASHAN],
            [2, "李四", XIASHAN],
            [3, "王五", HUASHAN]
        ])
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!(
                "SELECT id, name FROM s3.households WHERE village = '{CHIHUAI_VILLAGE}' ORDER BY id"
            ),
        )
        .await;
    assert_eq!(Value::Array(rows), json!([[4, "赵六"]]));
}

#[tokio::test]
async fn csv_source() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("csv").await
    else {
        return;
    };
    bucket
        .put(
            "registry/a.csv",
            "id,name,age\n1,张三,70\n2,李四,81\n".as_bytes().to_vec(),
        )
        .await;
    bucket
        .put(
            "registry/b.csv",
            "id,name,age\n3,王五,66\n".as_bytes().to_vec(),
        )
        .await;

    server
        .register(s3_source(
            "xiashan_s3_elderly",
            "csv",
            &bucket.url("registry/"),
            bucket.options(),
            &secret,
            json!({"name": "s3.elderly", "binding": {"fixed": XIASHAN}}),
        ))
        .await;
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, age FROM s3.elderly ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([[1, "张三", 70], [2, "李四", 81], [3, "王五", 66]])
    );
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT name FROM s3.elderly WHERE age > 69 ORDER BY id",
        )
        .await;
    assert_eq!(Value::Array(rows), json!([["张三"], ["李四"]]));
}

#[tokio::test]
async fn single_object_url() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("single").await
    else {
        return;
    };
    let batch = fixtures::people(&[(7, "孙八", XIASHAN), (8, "周九", XIASHAN)]);
    bucket
        .put(
            "exports/2024/xiashan.parquet",
            fixtures::parquet_bytes(&batch),
        )
        .await;
    // a neighbour that a single-object source must not read
    bucket
        .put(
            "exports/2024/huashan.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(9, "吴十", HUASHAN)])),
        )
        .await;

    server
        .register(s3_source(
            "xiashan_s3_single",
            "parquet",
            &bucket.url("exports/2024/xiashan.parquet"),
            bucket.options(),
            &secret,
            json!({"name": "s3.xiashan", "binding": {"fixed": XIASHAN}}),
        ))
        .await;
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, village_code FROM s3.xiashan ORDER BY id",
        )
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([[7, "孙八", XIASHAN], [8, "周九", XIASHAN]])
    );
}

/// Runs `sql`, which must fail with 502 `source_unavailable` naming `source`, without the secret.
async fn assert_unavailable(server: &TestServer, sql: &str, source: &str) {
    let response = server
        .post(ADMIN_TOKEN, "/v1/query", json!({"sql": sql}))
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_no_secret("the failing query's error", &text);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "source_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(source), "{message}");
}

/// Posts a registration that must fail with 400 `bad_request`, leaving the catalog as it was;
/// returns the message.
async fn rejected(server: &TestServer, body: Value) -> String {
    let before = catalog_snapshot(server).await;
    let response = server.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_no_secret("the error", &message);
    assert_eq!(
        catalog_snapshot(server).await,
        before,
        "{body} changed the catalog"
    );
    message
}

#[tokio::test]
async fn bucket_that_does_not_exist_is_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("nobucket").await
    else {
        return;
    };
    let missing = format!("{}-missing", bucket.name);
    let message = rejected(
        &server,
        s3_source(
            "majin_s3_missing_bucket",
            "parquet",
            &format!("s3://{missing}/people/"),
            bucket.options(),
            &secret,
            json!({"name": "s3.people", "binding": {"column": "village_code"}}),
        ),
    )
    .await;
    assert!(message.contains(&missing), "{message}");
}

#[tokio::test]
async fn prefix_with_no_files_is_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("empty").await
    else {
        return;
    };
    // the bucket holds something, but not under the prefix, and nothing with the extension
    bucket
        .put(
            "other/part-0.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    bucket
        .put("people/notes.txt", b"no data here".to_vec())
        .await;
    for prefix in ["nothing/", "people/"] {
        let message = rejected(
            &server,
            s3_source(
                "majin_s3_empty",
                "parquet",
                &bucket.url(prefix),
                bucket.options(),
                &secret,
                json!({"name": "s3.people", "binding": {"column": "village_code"}}),
            ),
        )
        .await;
        assert!(message.contains("no Parquet files"), "{prefix}: {message}");
    }
}

#[tokio::test]
async fn object_that_is_not_parquet_is_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("notparquet").await
    else {
        return;
    };
    bucket
        .put(
            "people/part-0.parquet",
            b"id,name\n1,not parquet at all\n".to_vec(),
        )
        .await;
    for url in [bucket.url("people/part-0.parquet"), bucket.url("people/")] {
        let message = rejected(
            &server,
            s3_source(
                "majin_s3_garbage",
                "parquet",
                &url,
                bucket.options(),
                &secret,
                json!({"name": "s3.people", "binding": {"column": "village_code"}}),
            ),
        )
        .await;
        assert!(message.contains("Parquet"), "{url}: {message}");
    }
}

#[tokio::test]
async fn missing_credentials_are_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("nocreds").await
    else {
        return;
    };
    bucket
        .put(
            "people/part-0.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    let table = json!({"name": "s3.people", "binding": {"column": "village_code"}});
    let base = json!({"name": "majin_s3_nocreds", "kind": "parquet", "url": bucket.url("people/"), "owner": MAJIN, "tables": [table]});

    // neither access_key_id nor a secret
    let mut body = base.clone();
    body["options"] =
        json!({"endpoint": bucket.endpoint, "region": "us-east-1", "allow_http": true});
    let message = rejected(&server, body).await;
    assert!(message.contains("access_key_id"), "{message}");

    // access_key_id without a secret
    let mut body = base.clone();
    body["options"] = bucket.options();
    rejected(&server, body).await;

    // a secret without access_key_id
    let mut body = base.clone();
    body["options"] =
        json!({"endpoint": bucket.endpoint, "region": "us-east-1", "allow_http": true});
    body["secret"] = json!(secret);
    rejected(&server, body).await;

    // skip_signature: false is no credential either
    let mut body = base.clone();
    body["options"] = json!({"endpoint": bucket.endpoint, "region": "us-east-1", "allow_http": true, "skip_signature": false});
    rejected(&server, body).await;

    // with both, the same source registers
    let mut body = base.clone();
    body["options"] = bucket.options();
    body["secret"] = json!(secret);
    server.register(body).await;
}

#[tokio::test]
async fn secret_never_appears_in_responses() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("secret").await
    else {
        return;
    };
    let keys = ["people/part-0.parquet", "people/part-1.parquet"];
    bucket
        .put(
            keys[0],
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    bucket
        .put(
            keys[1],
            fixtures::parquet_bytes(&fixtures::people(&[(2, "李四", HUASHAN)])),
        )
        .await;

    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/sources",
            s3_source(
                "majin_s3_secret",
                "parquet",
                &bucket.url("people/"),
                bucket.options(),
                &secret,
                json!({"name": "s3.people", "binding": {"column": "village_code"}}),
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    assert_no_secret("the register response", &text);
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap();

    let listed = server.get(ADMIN_TOKEN, "/v1/sources").await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_no_secret("GET /v1/sources", &listed.text().await.unwrap());
    let one = server.get(ADMIN_TOKEN, &format!("/v1/sources/{id}")).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert_no_secret("GET /v1/sources/{id}", &one.text().await.unwrap());
    let tables = server.get(ADMIN_TOKEN, "/v1/tables").await;
    assert_no_secret("GET /v1/tables", &tables.text().await.unwrap());

    let rows = server
        .rows(ADMIN_TOKEN, "SELECT id FROM s3.people ORDER BY id")
        .await;
    assert_eq!(Value::Array(rows), json!([[1], [2]]));

    // the files vanish: the query fails naming the source, and still without the secret
    for key in keys {
        bucket.delete(key).await;
    }
    assert_unavailable(&server, "SELECT id FROM s3.people", "majin_s3_secret").await;
}

#[tokio::test]
async fn prefix_url_without_trailing_slash_is_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("noslash").await
    else {
        return;
    };
    bucket
        .put(
            "people/part-0.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    bucket
        .put(
            "people/part-1.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(2, "李四", XIASHAN)])),
        )
        .await;
    // `s3://bucket/people` names an object `people`, which does not exist: like a missing file,
    // it must be refused at registration rather than accepted and then never answer
    rejected(
        &server,
        s3_source(
            "majin_s3_noslash",
            "parquet",
            &bucket.url("people"),
            bucket.options(),
            &secret,
            json!({"name": "s3.people", "binding": {"column": "village_code"}}),
        ),
    )
    .await;
}

#[tokio::test]
async fn unreachable_endpoint_is_rejected() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("down").await
    else {
        return;
    };
    bucket
        .put(
            "people/part-0.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    // nothing listens on port 1
    let mut options = bucket.options();
    options["endpoint"] = json!("http://127.0.0.1:1");
    let started = std::time::Instant::now();
    rejected(
        &server,
        s3_source(
            "majin_s3_down",
            "parquet",
            &bucket.url("people/"),
            options,
            &secret,
            json!({"name": "s3.people", "binding": {"column": "village_code"}}),
        ),
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_buckets_with_the_same_prefix_stay_apart() {
    let Some(endpoint) = endpoint() else { return };
    let a = Bucket::create(&endpoint, "apart-a").await;
    let b = Bucket::create(&endpoint, "apart-b").await;
    a.put(
        "people/part-0.parquet",
        fixtures::parquet_bytes(&fixtures::people(&[
            (1, "张三", XIASHAN),
            (2, "李四", XIASHAN),
        ])),
    )
    .await;
    b.put(
        "people/part-0.parquet",
        fixtures::parquet_bytes(&fixtures::people(&[(7, "孙八", HUASHAN)])),
    )
    .await;
    b.put(
        "people/part-1.parquet",
        fixtures::parquet_bytes(&fixtures::people(&[
            (8, "周九", HUASHAN),
            (9, "吴十", HUASHAN),
        ])),
    )
    .await;

    let server = TestServer::start().await;
    server.load_tree().await;
    let secret = secret_file(&server);
    let table = |name: &str| json!({"name": name, "binding": {"column": "village_code"}});
    server
        .register(s3_source(
            "majin_s3_a",
            "parquet",
            &a.url("people/"),
            a.options(),
            &secret,
            table("s3.a"),
        ))
        .await;
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT id, name FROM s3.a ORDER BY id")
        .await;
    assert_eq!(Value::Array(rows), json!([[1, "张三"], [2, "李四"]]));

    server
        .register(s3_source(
            "majin_s3_b",
            "parquet",
            &b.url("people/"),
            b.options(),
            &secret,
            table("s3.b"),
        ))
        .await;
    let rows = server.rows(ADMIN_TOKEN, "SELECT count(*) FROM s3.b").await;
    assert_eq!(Value::Array(rows), json!([[3]]));
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT id, name FROM s3.b ORDER BY id")
        .await;
    assert_eq!(
        Value::Array(rows),
        json!([[7, "孙八"], [8, "周九"], [9, "吴十"]])
    );
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT id FROM s3.a ORDER BY id")
        .await;
    assert_eq!(Value::Array(rows), json!([[1], [2]]));

    // a source with the same prefix on an endpoint where nothing listens must not register on
    // the strength of what another source's store once listed
    let mut down = b.options();
    down["endpoint"] = json!("http://127.0.0.1:1");
    rejected(
        &server,
        s3_source(
            "majin_s3_down",
            "parquet",
            &b.url("people/"),
            down,
            &secret,
            table("s3.down"),
        ),
    )
    .await;
}

#[tokio::test]
async fn unreadable_secret_after_registration_is_source_unavailable() {
    let Some(S3Test {
        bucket,
        server,
        secret,
    }) = S3Test::start("lostsecret").await
    else {
        return;
    };
    bucket
        .put(
            "people/part-0.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    server
        .register(s3_source(
            "majin_s3_lostsecret",
            "parquet",
            &bucket.url("people/"),
            bucket.options(),
            &secret,
            json!({"name": "s3.people", "binding": {"column": "village_code"}}),
        ))
        .await;
    assert_eq!(
        Value::Array(server.rows(ADMIN_TOKEN, "SELECT id FROM s3.people").await),
        json!([[1]])
    );

    std::fs::remove_file(secret.strip_prefix("file:").unwrap()).unwrap();
    // any catalog change rebuilds the served tables (as a restart would)
    let response = server
        .post(ADMIN_TOKEN, "/v1/jurisdictions", fixtures::tree())
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_unavailable(&server, "SELECT id FROM s3.people", "majin_s3_lostsecret").await;
}

/// A secret given inline is sealed with the server's key before it is stored: it works, it never
/// comes back, it is not in the catalog's files, and it survives a restart.
#[tokio::test]
async fn inline_secret_is_sealed_at_rest() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::create(&endpoint, "inline").await;
    bucket
        .put(
            "people/a.parquet",
            fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
        )
        .await;
    let inline = "inline-secret-Hq3xR9-未加密";
    let server = TestServer::start().await;
    server.load_tree().await;
    let created = server
        .register(s3_source(
            "inline",
            "parquet",
            &bucket.url("people/"),
            bucket.options(),
            inline,
            json!({"name": "s3.inline", "binding": {"fixed": XIASHAN}}),
        ))
        .await;
    assert_no_secret("the registration answer", &created.to_string());
    let listed = server
        .get(ADMIN_TOKEN, "/v1/sources")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(inline), "{listed}");
    assert_eq!(
        server.rows(ADMIN_TOKEN, "SELECT id FROM s3.inline").await,
        vec![json!([1])]
    );
    for file in ["catalog.db", "catalog.db-wal"] {
        let bytes = std::fs::read(server.data_dir().join(file)).unwrap_or_default();
        let found = bytes.windows(inline.len()).any(|w| w == inline.as_bytes());
        assert!(!found, "the inline secret is stored in clear in {file}");
    }
    // the sealed secret opens again after a restart, with the key kept in the data directory
    let again = server.restart().await;
    assert_eq!(
        again.rows(ADMIN_TOKEN, "SELECT id FROM s3.inline").await,
        vec![json!([1])]
    );
}

/// A department's S3 source reaches only its granted bucket prefix, through its granted
/// endpoint, with the secret from its granted folder; revoking the endpoint cuts it off.
#[tokio::test]
async fn a_department_reads_only_its_granted_prefix_through_its_granted_endpoint() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::create(&endpoint, "confined").await;
    for key in ["people/part-0.parquet", "other/part-0.parquet"] {
        bucket
            .put(
                key,
                fixtures::parquet_bytes(&fixtures::people(&[(1, "张三", XIASHAN)])),
            )
            .await;
    }
    let server = TestServer::start().await;
    server.load_tree().await;
    let dept = server
        .role_holder(
            "majin_s3",
            "s3_dept",
            MAJIN,
            &[("register_source", "s3.*"), ("read", "s3.*")],
        )
        .await;
    let secret = secret_file(&server);
    let endpoint_host = url::Url::parse(&endpoint).unwrap();
    let host = format!(
        "{}:{}",
        endpoint_host.host_str().unwrap(),
        endpoint_host.port_or_known_default().unwrap()
    );
    server.grant(MAJIN, "s3", &bucket.url("people/")).await;
    server
        .grant(MAJIN, "secret_file", server.files().to_str().unwrap())
        .await;
    let body = |prefix: &str, table: &str| {
        s3_source(
            "majin_s3",
            "parquet",
            &bucket.url(prefix),
            bucket.options(),
            &secret,
            json!({"name": table, "binding": {"column": "village_code"}}),
        )
    };
    // the endpoint is not granted yet
    let response = server
        .post(&dept, "/v1/sources", body("people/", "s3.people"))
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let endpoint_grant = server.grant(MAJIN, "host", &host).await;
    let response = server
        .post(&dept, "/v1/sources", body("other/", "s3.other"))
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_created(
        server
            .post(&dept, "/v1/sources", body("people/", "s3.people"))
            .await,
    )
    .await;
    assert_eq!(
        server.rows(&dept, "SELECT count(*) FROM s3.people").await,
        vec![json!([1])]
    );
    let id = endpoint_grant["id"].as_str().unwrap();
    let response = server
        .delete(ADMIN_TOKEN, &format!("/v1/grants/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = server.query(&dept, "SELECT count(*) FROM s3.people").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_no_secret("the answer", &body.to_string());
}
