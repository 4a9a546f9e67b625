//! Registration as a department would use it and an outsider would probe it: a registrant
//! reaches only the folders, buckets, hosts and secret namespaces admin granted to the owner
//! jurisdiction, every table of a request needs its permission, and no answer tells a
//! registrant of a table or source it cannot see.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{self, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error, refused};
use crate::peers::{Answer, HttpPeer, PostgresPeer};
use crate::process::ServerProcess;

/// Every refusal of a location ends like this, whether the location exists or not.
const OUT_OF_REACH: &str = "is not among the locations admin has granted to 330824116224";

/// A department of 霞山村 that may register and read `xiashan.*` tables; returns its token.
async fn xiashan_department(server: &TestServer) -> String {
    server.load_tree().await;
    server
        .role_holder(
            "xiashan_system",
            "xiashan_dept",
            XIASHAN,
            &[("register_source", "xiashan.*"), ("read", "xiashan.*")],
        )
        .await
}

fn people_table(name: &str) -> Value {
    json!({"name": name, "binding": {"column": "village_code"}})
}

async fn out_of_reach(server: &TestServer, token: &str, body: &Value) -> String {
    let message = refused(
        server,
        token,
        body,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert!(message.ends_with(OUT_OF_REACH), "{body}: {message}");
    for hint in ["exist", "No such", "not found", "denied (os"] {
        assert!(!message.contains(hint), "{message}");
    }
    message
}

async fn count(server: &TestServer, token: &str, table: &str) -> i64 {
    let rows = server
        .rows(token, &format!("SELECT count(*) FROM {table}"))
        .await;
    rows[0][0].as_i64().unwrap()
}

#[tokio::test]
async fn a_department_reads_files_only_inside_its_granted_folders() {
    let server = TestServer::start_with(|config| {
        // every query lists the folder again, so a file added later would be seen at once
        config.engine.listing_cache_ttl = Duration::ZERO;
    })
    .await;
    let dept = xiashan_department(&server).await;
    let root = server.files().join("xiashan");
    let own = root.join("own");
    let other = server.files().join("other");
    let people = fixtures::people(&[(1, "张三", XIASHAN), (2, "李四", XIASHAN)]);
    fixtures::write_parquet(&own.join("a.parquet"), &people);
    fixtures::write_parquet(&other.join("b.parquet"), &people);
    // the server's own data: a village's files in the data directory
    let private = server.data_dir().join("demo").join("villages");
    fixtures::write_parquet(
        &private.join("c.parquet"),
        &fixtures::people(&[
            (3, "王五", XIASHAN),
            (4, "赵六", XIASHAN),
            (5, "钱七", XIASHAN),
        ]),
    );
    let source = |name: &str, url: &str| {
        fixtures::parquet_source(name, url, XIASHAN, Some(people_table("xiashan.people")))
    };

    // nothing granted yet: even its own folder is out of reach
    out_of_reach(&server, &dept, &source("own", &fixtures::file_url(&own))).await;
    server.grant(XIASHAN, "path", root.to_str().unwrap()).await;
    std::os::unix::fs::symlink(&other, root.join("link")).unwrap();
    let data_dir = server.data_dir();
    for url in [
        fixtures::file_url(&other),
        format!("{}nowhere/", fixtures::file_url(&server.files())),
        format!("{}../other/", fixtures::file_url(&root)),
        format!("file://{}/../other/", root.display()),
        format!("file://localhost{}/", other.display()),
        format!("{}link/", fixtures::file_url(&root)),
        fixtures::file_url(data_dir),
        fixtures::file_url(&data_dir.join("catalog.db")),
        fixtures::file_url(&data_dir.join("secret.key")),
        fixtures::file_url(&private),
        "file:///etc/".to_owned(),
    ] {
        out_of_reach(&server, &dept, &source("probe", &url)).await;
    }
    // a grant of everything still leaves the server's own files out
    let everything = server.grant(XIASHAN, "path", "/").await;
    for url in [fixtures::file_url(data_dir), fixtures::file_url(&private)] {
        out_of_reach(&server, &dept, &source("probe", &url)).await;
    }
    let response = server
        .delete(
            ADMIN_TOKEN,
            &format!("/v1/grants/{}", everything["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // its own folder
    assert_created(
        server
            .post(
                &dept,
                "/v1/sources",
                source("own", &fixtures::file_url(&own)),
            )
            .await,
    )
    .await;
    assert_eq!(count(&server, &dept, "xiashan.people").await, 2);

    // links added after registration lead nowhere; a real file added is read at once
    std::os::unix::fs::symlink(private.join("c.parquet"), own.join("stolen.parquet")).unwrap();
    std::os::unix::fs::symlink(&private, own.join("stolen")).unwrap();
    std::os::unix::fs::symlink(other.join("b.parquet"), own.join("neighbour.parquet")).unwrap();
    assert_eq!(count(&server, &dept, "xiashan.people").await, 2);
    fixtures::write_parquet(
        &own.join("d.parquet"),
        &fixtures::people(&[(6, "孙八", XIASHAN)]),
    );
    assert_eq!(count(&server, &dept, "xiashan.people").await, 3);

    // revoking the grant cuts the source off at the next query
    let grants: Value = server
        .get(ADMIN_TOKEN, "/v1/grants")
        .await
        .json()
        .await
        .unwrap();
    let id = grants[0]["id"].as_str().unwrap();
    let response = server
        .delete(ADMIN_TOKEN, &format!("/v1/grants/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = server
        .query(&dept, "SELECT count(*) FROM xiashan.people")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "source_unavailable");

    // admin is not confined
    server
        .register(fixtures::parquet_source(
            "admin_private",
            &fixtures::file_url(&private),
            XIASHAN,
            Some(people_table("xiashan.archive")),
        ))
        .await;
    assert_eq!(count(&server, ADMIN_TOKEN, "xiashan.archive").await, 3);
}

#[tokio::test]
async fn a_department_connects_only_to_granted_hosts_and_addresses() {
    let server = TestServer::start().await;
    let dept = xiashan_department(&server).await;
    let csv = "id,name,village_code\n1,张三,330824116224\n";
    let files = HttpPeer::start(Answer::Body(csv)).await;
    let elsewhere = HttpPeer::start(Answer::Body(csv)).await;
    let redirect = HttpPeer::start(Answer::Redirect(elsewhere.url("people.csv"))).await;
    let csv_source = |name: &str, url: &str| {
        json!({"name": name, "kind": "csv", "url": url, "owner": XIASHAN,
               "options": {"column_types": {"village_code": "Utf8"}},
               "tables": [people_table("xiashan.households")]})
    };
    let port = files.addr.port();

    // not granted: refused before anything is sent
    out_of_reach(&server, &dept, &csv_source("h", &files.url("people.csv"))).await;
    // granted by name, but the name leads to the server's own loopback
    server
        .grant(XIASHAN, "host", &format!("localhost:{port}"))
        .await;
    out_of_reach(
        &server,
        &dept,
        &csv_source("h", &format!("http://localhost:{port}/people.csv")),
    )
    .await;
    assert!(files.received.is_empty(), "{:?}", files.received.entries());

    // every address, except the server's own and metadata services
    server.grant(XIASHAN, "host", "0.0.0.0/0").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/iam.csv".to_owned(),
        "http://100.100.100.200/latest/meta-data.csv".to_owned(),
        format!("http://127.0.0.1:{port}/people.csv"),
        format!("http://[::1]:{port}/people.csv"),
        format!("http://[::ffff:127.0.0.1]:{port}/people.csv"),
        format!("http://0.0.0.0:{port}/people.csv"),
    ] {
        out_of_reach(&server, &dept, &csv_source("h", &url)).await;
    }
    assert!(files.received.is_empty(), "{:?}", files.received.entries());

    // the address itself, granted
    server
        .grant(XIASHAN, "host", &format!("127.0.0.1:{port}"))
        .await;
    assert_created(
        server
            .post(
                &dept,
                "/v1/sources",
                csv_source("h", &files.url("people.csv")),
            )
            .await,
    )
    .await;
    assert_eq!(count(&server, &dept, "xiashan.households").await, 1);
    assert!(!files.received.is_empty());

    // a granted host that redirects elsewhere is not followed there
    server
        .grant(
            XIASHAN,
            "host",
            &format!("127.0.0.1:{}", redirect.addr.port()),
        )
        .await;
    let mut body = csv_source("r", &redirect.url("people.csv"));
    body["tables"] = json!([people_table("xiashan.redirected")]);
    let response = server.post(&dept, "/v1/sources", body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!redirect.received.is_empty());
    assert!(
        elsewhere.received.is_empty(),
        "{:?}",
        elsewhere.received.entries()
    );

    // an S3 endpoint is a host like any other, and the bucket a location of its own
    let s3 = |bucket: &str, endpoint: &str| {
        json!({"name": "s", "kind": "parquet", "url": format!("s3://{bucket}/people/"), "owner": XIASHAN,
               "options": {"endpoint": endpoint, "region": "us-east-1", "access_key_id": "x"},
               "secret": "an inline secret",
               "tables": [people_table("xiashan.s3")]})
    };
    out_of_reach(
        &server,
        &dept,
        &s3("xiashan", &format!("http://{}", elsewhere.addr)),
    )
    .await;
    server.grant(XIASHAN, "s3", "s3://xiashan/").await;
    out_of_reach(
        &server,
        &dept,
        &s3("xiashan", &format!("http://{}", elsewhere.addr)),
    )
    .await;
    out_of_reach(
        &server,
        &dept,
        &s3("majin", &format!("http://{}", files.addr)),
    )
    .await;
    assert!(
        elsewhere.received.is_empty(),
        "{:?}",
        elsewhere.received.entries()
    );
}

/// The server's own secrets never leave for a host the registrant chose. Run as a process,
/// so that its environment holds the operator's secrets, with a PostgreSQL server of the
/// test's own that asks for passwords in clear text and records them.
#[tokio::test]
async fn secret_references_never_send_the_servers_own_secrets() {
    let data = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("xiashan.pw"), "granted-file-pw\n").unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let admin = "tk_registration_admin_token_0123456789abcdef";
    let server = ServerProcess::launch(
        data.path(),
        &["--data-dir", &data_dir],
        &[
            ("TIAOKUAI_ADMIN_TOKEN", admin),
            ("TIAOKUAI_LOG", "debug"),
            ("OPERATOR_DB_PASSWORD", "operator-own-pw"),
            ("XIASHAN_DB_PASSWORD", "granted-env-pw"),
        ],
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let send = async |token: &str, method: Method, path: &str, body: Value| {
        server.send(method, token, path, Some(&body)).await
    };
    let (status, text) = send(admin, Method::POST, "/v1/jurisdictions", fixtures::tree()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    send(admin, Method::POST, "/v1/policies", json!({"role": "dept", "jurisdiction": "*", "object": "xiashan.*", "action": "register_source"})).await;
    send(
        admin,
        Method::POST,
        "/v1/principals",
        json!({"name": "xiashan_system"}),
    )
    .await;
    send(
        admin,
        Method::POST,
        "/v1/role-assignments",
        json!({"principal": "xiashan_system", "role": "dept", "jurisdiction": XIASHAN}),
    )
    .await;
    let (_, text) = send(
        admin,
        Method::POST,
        "/v1/tokens",
        json!({"principal": "xiashan_system"}),
    )
    .await;
    let dept: Value = serde_json::from_str(&text).unwrap();
    let dept = dept["token"].as_str().unwrap().to_owned();

    // the department's "own" database server, which it may reach
    let peer = PostgresPeer::start().await;
    let host = format!("127.0.0.1:{}", peer.addr.port());
    for (kind, location) in [
        ("host", host.as_str()),
        ("env", "XIASHAN_"),
        ("secret_file", secrets.path().to_str().unwrap()),
    ] {
        let (status, text) = send(
            admin,
            Method::POST,
            "/v1/grants",
            json!({"jurisdiction": XIASHAN, "kind": kind, "location": location}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
    }
    let register = |secret: &str| {
        json!({"name": "pg", "kind": "postgres", "owner": XIASHAN, "secret": secret,
               "url": format!("postgres://reader@{host}/civil"),
               "options": {"sslmode": "disable", "connect_timeout_ms": 2000},
               "tables": [{"name": "xiashan.elderly", "remote": "elderly", "binding": {"column": "village_code"}}]})
    };

    let mut refusals = Vec::new();
    for secret in [
        "env:TIAOKUAI_ADMIN_TOKEN".to_owned(),
        "env:OPERATOR_DB_PASSWORD".to_owned(),
        "env:XIASHAN_DB_PASSWORD_MISSING".to_owned(),
        format!("file:{data_dir}/secret.key"),
        format!("file:{data_dir}/mask.key"),
        "file:/etc/passwd".to_owned(),
        format!("file:{}/missing.pw", secrets.path().display()),
        "enc:v1:c2VhbGVkIGJ5IHNvbWVvbmUgZWxzZQ==".to_owned(),
    ] {
        let (status, text) = send(&dept, Method::POST, "/v1/sources", register(&secret)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{secret}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        refusals.push(body["error"]["message"].as_str().unwrap().to_owned());
    }
    assert!(
        refusals.iter().all(|m| m == &refusals[0]),
        "one answer for a refused, missing or unreadable reference: {refusals:?}"
    );
    assert!(peer.received.is_empty(), "{:?}", peer.received.entries());

    // what the department may send: its own secret inline, or one in its granted namespaces
    for (secret, sent) in [
        ("the department's own pw", "the department's own pw"),
        ("env:XIASHAN_DB_PASSWORD", "granted-env-pw"),
        (
            &*format!("file:{}/xiashan.pw", secrets.path().display()),
            "granted-file-pw",
        ),
    ] {
        let (status, text) = send(&dept, Method::POST, "/v1/sources", register(secret)).await;
        // the peer refuses every login, so the registration fails as a bad source
        assert_eq!(status, StatusCode::BAD_REQUEST, "{secret}: {text}");
        assert!(!text.contains(sent), "{text}");
        assert!(
            peer.received.contains(&format!("password: {sent}")),
            "{secret}: {:?}",
            peer.received.entries()
        );
    }
    let admin_key = std::fs::read(data.path().join("secret.key")).unwrap();
    let log = server.stop();
    for secret in [
        admin,
        "operator-own-pw",
        "granted-env-pw",
        "granted-file-pw",
        "the department's own pw",
    ] {
        assert!(
            !peer.received.contains(admin) && !peer.received.contains("operator-own-pw"),
            "{:?}",
            peer.received.entries()
        );
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }
    assert!(!peer.received.contains(&String::from_utf8_lossy(&admin_key)));
}

#[tokio::test]
async fn every_table_of_a_registration_needs_its_permission() {
    let server = TestServer::start().await;
    let dept = xiashan_department(&server).await;
    let root = server.files().join("xiashan");
    std::fs::create_dir_all(&root).unwrap();
    server.grant(XIASHAN, "path", root.to_str().unwrap()).await;
    let db = root.join("records.db");
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE a (id INTEGER, village_code TEXT);
             CREATE TABLE b (id INTEGER, village_code TEXT);
             INSERT INTO a VALUES (1, '330824116224');
             INSERT INTO b VALUES (2, '330824116224');",
        )
        .unwrap();
    drop(connection);
    let body = |tables: &[(&str, &str)]| {
        json!({"name": "records", "kind": "sqlite", "owner": XIASHAN,
               "url": fixtures::file_url(&db),
               "tables": tables.iter().map(|(name, remote)| json!({"name": name, "remote": remote, "binding": {"column": "village_code"}})).collect::<Vec<_>>()})
    };
    // the first table is its own; the second one is not
    for second in ["village.anything", "majin.records", "civil.elderly"] {
        let message = refused(
            &server,
            &dept,
            &body(&[("xiashan.a", "a"), (second, "b")]),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
        assert!(message.contains(second), "{message}");
    }
    // and in the owner's jurisdiction only
    let mut elsewhere = body(&[("xiashan.a", "a")]);
    elsewhere["owner"] = json!(MAJIN);
    refused(
        &server,
        &dept,
        &elsewhere,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_created(
        server
            .post(
                &dept,
                "/v1/sources",
                body(&[("xiashan.a", "a"), ("xiashan.b", "b")]),
            )
            .await,
    )
    .await;
    assert_eq!(count(&server, &dept, "xiashan.b").await, 1);
}

#[tokio::test]
async fn names_the_registrant_cannot_see_answer_as_names_it_may_not_use() {
    let server = TestServer::start().await;
    let dept = xiashan_department(&server).await;
    let root = server.files().join("xiashan");
    server.grant(XIASHAN, "path", root.to_str().unwrap()).await;
    fixtures::write_parquet(
        &root.join("a/a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    let url = fixtures::file_url(&root.join("a"));
    // admin's own table and source, in the department's namespace but hidden from it
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/policies",
            json!({"role": "xiashan_dept", "jurisdiction": "*", "object": "xiashan.hidden", "action": "read", "effect": "deny"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    server
        .register(fixtures::parquet_source(
            "xiashan_archive",
            &url,
            XIASHAN,
            Some(people_table("xiashan.hidden")),
        ))
        .await;
    let (status, _) = server.query(&dept, "SELECT * FROM xiashan.hidden").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the table is hidden from it");

    // a hidden table's name is refused as a name it may not register at all: no 409
    let taken = refused(
        &server,
        &dept,
        &fixtures::parquet_source("mine", &url, XIASHAN, Some(people_table("xiashan.hidden"))),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let forbidden = refused(
        &server,
        &dept,
        &fixtures::parquet_source("mine", &url, XIASHAN, Some(people_table("village.other"))),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_eq!(
        taken.replace("xiashan.hidden", "T"),
        forbidden.replace("village.other", "T")
    );

    // another registrant's source name is none of its business
    assert_created(
        server
            .post(
                &dept,
                "/v1/sources",
                fixtures::parquet_source(
                    "xiashan_archive",
                    &url,
                    XIASHAN,
                    Some(people_table("xiashan.people")),
                ),
            )
            .await,
    )
    .await;
    // its own names conflict as usual, and so does a table it can see
    refused(
        &server,
        &dept,
        &fixtures::parquet_source(
            "xiashan_archive",
            &url,
            XIASHAN,
            Some(people_table("xiashan.more")),
        ),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    refused(
        &server,
        &dept,
        &fixtures::parquet_source(
            "another",
            &url,
            XIASHAN,
            Some(people_table("xiashan.people")),
        ),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn grants_are_admins_to_give_and_checked_when_given() {
    let server = TestServer::start().await;
    let dept = xiashan_department(&server).await;
    let body = |kind: &str, location: &str| json!({"jurisdiction": XIASHAN, "kind": kind, "location": location});
    let response = server
        .post(&dept, "/v1/grants", body("path", "/srv/"))
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let response = server.get(&dept, "/v1/grants").await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    for (kind, location) in [
        ("path", "relative/"),
        ("path", "/srv/../etc/"),
        ("env", "TIAOKUAI_"),
        ("env", "lowercase_"),
        ("host", "10.0.0.1/8"),
        ("host", "db:99999"),
        ("s3", "https://bucket/"),
        ("folder", "/srv/"),
    ] {
        let response = server
            .post(ADMIN_TOKEN, "/v1/grants", body(kind, location))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/grants",
            json!({"jurisdiction": "330824999999", "kind": "path", "location": "/srv/"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let stored = server
        .grant(XIASHAN, "host", "DB.Xiashan.Example:5432")
        .await;
    assert_eq!(stored["location"], "db.xiashan.example:5432");
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/grants",
            body("host", "db.xiashan.example:5432"),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    let response = server
        .delete(
            &dept,
            &format!("/v1/grants/{}", stored["id"].as_str().unwrap()),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let response = server.delete(ADMIN_TOKEN, "/v1/grants/gr_nothing").await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}
