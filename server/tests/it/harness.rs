//! A real tiaokuai server bound to port 0, and a client for it.

use std::path::{Path, PathBuf};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tiaokuai::{ServerConfig, http};

pub const ADMIN_TOKEN: &str = "tk_test_admin_bootstrap_token_0123456789";

pub struct TestServer {
    pub url: String,
    /// The data directory.
    pub dir: TempDir,
    /// Test files, outside the data directory (which no department may read).
    scratch: TempDir,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on a fresh data directory, after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path());
        config.admin_token = Some(ADMIN_TOKEN.into());
        adjust(&mut config);
        Self::serve(dir, &config).await
    }

    /// Stops this server and starts a new one on the same data directory.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Stops this server and starts a new one on the same data directory, after `adjust` has
    /// changed its configuration.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let scratch = std::mem::replace(&mut self.scratch, tempfile::tempdir().unwrap());
        drop(self);
        let mut config = ServerConfig::new(dir.path());
        config.admin_token = Some(ADMIN_TOKEN.into());
        adjust(&mut config);
        let mut server = Self::serve(dir, &config).await;
        server.scratch = scratch;
        server
    }

    /// Starts a server on an existing data directory.
    pub async fn serve(dir: TempDir, config: &ServerConfig) -> Self {
        let state = tiaokuai::open(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let app =
                http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            dir,
            scratch: tempfile::tempdir().unwrap(),
            client: reqwest::Client::new(),
            task,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A folder for test files, outside the data directory.
    pub fn files(&self) -> PathBuf {
        let path = self.scratch.path().join("files");
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Grants `location` of `kind` to `jurisdiction` as admin; returns the grant.
    pub async fn grant(&self, jurisdiction: &str, kind: &str, location: &str) -> Value {
        let response = self
            .post(
                ADMIN_TOKEN,
                "/v1/grants",
                json!({"jurisdiction": jurisdiction, "kind": kind, "location": location}),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, token: &str, path: &str) -> Response {
        self.client
            .delete(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/query` in JSON; returns the status and the parsed body.
    /// `POST /v1/sources/{id}/check` as admin: its report.
    pub async fn check(&self, id: &str) -> Value {
        let response = self
            .post(
                ADMIN_TOKEN,
                &format!("/v1/sources/{id}/check"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn query(&self, token: &str, sql: &str) -> (StatusCode, Value) {
        self.query_params(token, sql, json!([])).await
    }

    pub async fn query_params(&self, token: &str, sql: &str, params: Value) -> (StatusCode, Value) {
        let response = self
            .post(token, "/v1/query", json!({"sql": sql, "params": params}))
            .await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The rows of a successful JSON query.
    pub async fn rows(&self, token: &str, sql: &str) -> Vec<Value> {
        let (status, body) = self.query(token, sql).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {body}");
        body["rows"].as_array().unwrap().clone()
    }

    /// Registers a source as admin, asserting success; returns the created object.
    pub async fn register(&self, body: Value) -> Value {
        let response = self.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
        let status = response.status();
        let created: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}: {created}");
        created
    }

    /// Loads a small tree (county 开化县, townships 马金镇 and 池淮镇, four villages, one of them
    /// with a code ending in zeros) as admin.
    pub async fn load_tree(&self) {
        let response = self
            .post(ADMIN_TOKEN, "/v1/jurisdictions", crate::fixtures::tree())
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }

    /// A principal holding `role` in `jurisdiction`, where the role may do each `(action,
    /// object)`; returns its token.
    pub async fn role_holder(
        &self,
        principal: &str,
        role: &str,
        jurisdiction: &str,
        may: &[(&str, &str)],
    ) -> String {
        for (action, object) in may {
            let response = self
                .post(
                    ADMIN_TOKEN,
                    "/v1/policies",
                    json!({"role": role, "jurisdiction": "*", "object": object, "action": action}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        let token = self.principal(principal).await;
        let response = self
            .post(
                ADMIN_TOKEN,
                "/v1/role-assignments",
                json!({"principal": principal, "role": role, "jurisdiction": jurisdiction}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        token
    }

    /// Creates a principal with a token and returns the token.
    pub async fn principal(&self, name: &str) -> String {
        let response = self
            .post(ADMIN_TOKEN, "/v1/principals", json!({"name": name}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let response = self
            .post(ADMIN_TOKEN, "/v1/tokens", json!({"principal": name}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

/// Asserts an API error: status and code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// Asserts `201 Created`; returns the created object.
pub async fn assert_created(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Posts a registration as `token` that must be refused with `status` and `code`, leaving the
/// catalog as it was; returns the message.
pub async fn refused(
    server: &TestServer,
    token: &str,
    body: &Value,
    status: StatusCode,
    code: &str,
) -> String {
    let before = catalog_snapshot(server).await;
    let response = server.post(token, "/v1/sources", body.clone()).await;
    let message = assert_error(response, status, code).await;
    assert_eq!(
        catalog_snapshot(server).await,
        before,
        "{body} changed the catalog"
    );
    message
}

/// The catalog's observable state, to show that a rejected request changed nothing.
pub async fn catalog_snapshot(server: &TestServer) -> Value {
    let mut snapshot = json!({});
    for path in [
        "/v1/sources",
        "/v1/datasets",
        "/v1/jurisdictions",
        "/v1/principals",
        "/v1/tables",
    ] {
        let body: Value = server.get(ADMIN_TOKEN, path).await.json().await.unwrap();
        snapshot[path] = body;
    }
    snapshot
}

impl TestServer {
    /// Writes `rows` as the Parquet source `people` owned by `owner` and registers it as
    /// `table`, bound by its `village_code` column, with `classification`.
    pub async fn register_people(
        &self,
        rows: &[(i64, &str, &str)],
        owner: &str,
        table: &str,
        classification: Value,
    ) {
        let folder = self.files().join("people");
        crate::fixtures::write_parquet(
            &folder.join("part-0.parquet"),
            &crate::fixtures::people(rows),
        );
        let binding = json!({"name": table, "binding": {"column": "village_code"}, "classification": classification});
        self.register(crate::fixtures::parquet_source(
            "people",
            &crate::fixtures::file_url(&folder),
            owner,
            Some(binding),
        ))
        .await;
    }
}
