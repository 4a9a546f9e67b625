//! No query crashes the server or escapes its limits: deep and long expressions, values whose
//! size the caller chooses, and batches that run long.
//!
//! A stack overflow aborts the whole process, so the deep-expression fuzz test drives the real
//! `tiaokuai` binary, spawned as a process, and checks after every batch of queries that it is
//! still alive and answering.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai::ServerConfig;
use tiaokuai_engine::Engine;
use tiaokuai_engine::config::DEFAULT_MAX_EXPRESSION_DEPTH;
use tiaokuai_engine::limits::runner::QUERY_STACK_BYTES;
use tiaokuai_policies::Caller;

use crate::harness::ADMIN_TOKEN;

/// A statement of one shape, `n` links or levels long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OrConstants,
    OrColumn,
    OrText,
    AndColumn,
    SumConstants,
    SumColumn,
    Concat,
    Casts,
    IsNull,
    Unions,
    Joins,
    Ctes,
    NestedCalls,
    NestedCase,
    NestedParentheses,
    NestedSubqueries,
    Not,
    Negation,
    NestedCasts,
    NestedSubstring,
}

const SHAPES: [Shape; 20] = [
    Shape::OrConstants,
    Shape::OrColumn,
    Shape::OrText,
    Shape::AndColumn,
    Shape::SumConstants,
    Shape::SumColumn,
    Shape::Concat,
    Shape::Casts,
    Shape::IsNull,
    Shape::Unions,
    Shape::Joins,
    Shape::Ctes,
    Shape::NestedCalls,
    Shape::NestedCase,
    Shape::NestedParentheses,
    Shape::NestedSubqueries,
    Shape::Not,
    Shape::Negation,
    Shape::NestedCasts,
    Shape::NestedSubstring,
];

const SERIES: &str = "generate_series(1, 100)";

impl Shape {
    /// The statement, and the one-row, one-column answer it must give when it runs.
    fn sql(self, n: usize) -> (String, Value) {
        let n = n.max(1);
        let repeat = |text: &'static str| vec![text; n];
        match self {
            Shape::OrConstants => (
                format!(
                    "SELECT count(*) FROM (SELECT 1 WHERE {})",
                    repeat("1 = 2").join(" OR ")
                ),
                json!(0),
            ),
            Shape::OrColumn => {
                let terms: Vec<String> = (0..n).map(|i| format!("value = {i}")).collect();
                (
                    format!("SELECT count(*) FROM {SERIES} WHERE {}", terms.join(" OR ")),
                    json!((n - 1).min(100)),
                )
            }
            Shape::OrText => {
                let terms: Vec<String> = (0..n).map(|i| format!("c = '{i}'")).collect();
                (
                    format!(
                        "SELECT count(*) FROM (SELECT CAST(value AS VARCHAR) AS c FROM {SERIES}) WHERE {}",
                        terms.join(" OR ")
                    ),
                    json!((n - 1).min(100)),
                )
            }
            Shape::AndColumn => {
                let terms: Vec<String> = (0..n).map(|i| format!("value <> {i}")).collect();
                (
                    format!(
                        "SELECT count(*) FROM {SERIES} WHERE {}",
                        terms.join(" AND ")
                    ),
                    json!(100 - (n - 1).min(100)),
                )
            }
            Shape::SumConstants => (format!("SELECT {}", repeat("1").join(" + ")), json!(n)),
            Shape::SumColumn => (
                format!("SELECT max({}) FROM {SERIES}", repeat("value").join(" + ")),
                json!(100 * n),
            ),
            Shape::Concat => (
                format!(
                    "SELECT max(length(CAST(value AS VARCHAR) || {})) FROM {SERIES}",
                    repeat("'a'").join(" || ")
                ),
                json!(3 + n),
            ),
            Shape::Casts => (
                format!("SELECT max(value{}) FROM {SERIES}", "::bigint".repeat(n)),
                json!(100),
            ),
            Shape::IsNull => (
                format!(
                    "SELECT count(*) FROM {SERIES} WHERE value{} IS NOT NULL",
                    " IS NULL".repeat(n)
                ),
                json!(100),
            ),
            Shape::Unions => {
                let parts: Vec<String> = (0..n).map(|i| format!("SELECT {i} AS v")).collect();
                (
                    format!("SELECT count(*) FROM ({})", parts.join(" UNION ALL ")),
                    json!(n),
                )
            }
            Shape::Joins => {
                let tables: Vec<String> = (0..n)
                    .map(|i| format!("generate_series(1, 1) AS t{i}"))
                    .collect();
                (
                    format!("SELECT count(*) FROM {}", tables.join(" CROSS JOIN ")),
                    json!(1),
                )
            }
            Shape::Ctes => {
                let mut parts = vec!["c0 AS (SELECT 1 AS a)".to_owned()];
                parts
                    .extend((1..n).map(|i| format!("c{i} AS (SELECT a + 1 AS a FROM c{})", i - 1)));
                (
                    format!("WITH {} SELECT a FROM c{}", parts.join(", "), n - 1),
                    json!(n),
                )
            }
            Shape::NestedCalls => (
                format!(
                    "SELECT max({}value{}) FROM {SERIES}",
                    "abs(".repeat(n),
                    ")".repeat(n)
                ),
                json!(100),
            ),
            Shape::NestedCase => (
                format!(
                    "SELECT max({}value{}) FROM {SERIES}",
                    "CASE WHEN value > 0 THEN ".repeat(n),
                    " END".repeat(n)
                ),
                json!(100),
            ),
            Shape::NestedParentheses => (
                format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
                json!(1),
            ),
            Shape::NestedSubqueries => (
                format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n)),
                json!(1),
            ),
            Shape::Not => (
                format!(
                    "SELECT count(*) FROM {SERIES} WHERE {}value > 50",
                    "NOT ".repeat(2 * (n / 2))
                ),
                json!(50),
            ),
            Shape::Negation => (format!("SELECT {}1", "- ".repeat(2 * (n / 2))), json!(1)),
            Shape::NestedCasts => (
                format!(
                    "SELECT max({}value{}) FROM {SERIES}",
                    "(".repeat(n),
                    " + 1)::bigint".repeat(n)
                ),
                json!(100 + n),
            ),
            Shape::NestedSubstring => (
                format!(
                    "SELECT max({}CAST(value AS VARCHAR){}) FROM {SERIES}",
                    "substring(".repeat(n),
                    ", 1)".repeat(n)
                ),
                json!(99),
            ),
        }
    }
}

/// What an answer was: the single value, or the error's status, code and message.
#[derive(Debug)]
enum Answer {
    Value(Value),
    Error(StatusCode, String, String),
}

impl Answer {
    fn refused_for_depth(&self) -> bool {
        matches!(self, Answer::Error(StatusCode::BAD_REQUEST, code, message)
            if code == "bad_request" && message.contains("levels deep"))
    }
}

async fn engine_answer(engine: &Engine, admin: &Caller, sql: &str) -> Answer {
    use futures::TryStreamExt;
    let output = match engine.query(admin, sql, &[]).await {
        Ok(output) => output,
        Err(error) => {
            let status = tiaokuai::http::ApiError::from(error.clone()).status;
            return Answer::Error(status, error.code().to_owned(), error.to_string());
        }
    };
    let batches: Vec<datafusion::arrow::array::RecordBatch> =
        output.stream.try_collect().await.unwrap();
    let batch = &batches[0];
    let column = batch.column(0);
    let value = datafusion::arrow::util::display::array_value_to_string(column, 0).unwrap();
    Answer::Value(serde_json::from_str(&value).unwrap_or(Value::String(value)))
}

/// Whether the statement guard lets `sql` through (parsed and checked on a thread with the
/// query threads' stack: parsing alone recurses deeply in a debug build).
fn allowed(sql: String, admin: Caller) -> bool {
    std::thread::Builder::new()
        .stack_size(QUERY_STACK_BYTES)
        .spawn(move || {
            let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
            tiaokuai_engine::statement::parse_one(&sql, &dialect).is_ok_and(|statement| {
                tiaokuai_engine::statement::check(&statement, &admin, DEFAULT_MAX_EXPRESSION_DEPTH)
                    .is_ok()
            })
        })
        .unwrap()
        .join()
        .unwrap()
}

/// The largest `n` of a shape that the depth bound (or the parser's own recursion limit) lets
/// through, found by bisection on the statement guard alone.
fn largest_allowed(admin: &Caller, shape: Shape) -> usize {
    let (mut low, mut high) = (1, DEFAULT_MAX_EXPRESSION_DEPTH + 10);
    while low < high {
        let middle = (low + high).div_ceil(2);
        if allowed(shape.sql(middle).0, admin.clone()) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    low
}

/// The largest statement of every shape that the bound allows is planned, optimised and run to
/// the right answer, on stacks it fills to less than a quarter. Run in a debug build by
/// `cargo test`, and in a release build by `cargo test --release`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_allowed_statements_run_within_a_quarter_of_the_query_stack() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    let engine: Arc<Engine> = tiaokuai::open_engine(&config).await.unwrap();
    let admin = Caller::named(&**engine.catalog(), "admin")
        .await
        .unwrap()
        .unwrap();
    for shape in SHAPES {
        let n = largest_allowed(&admin, shape);
        let (sql, expected) = shape.sql(n);
        let started = std::time::Instant::now();
        let answer = engine_answer(&engine, &admin, &sql).await;
        let elapsed = started.elapsed();
        let high_water = engine.query_stack_high_water().unwrap();
        eprintln!(
            "{shape:?}: n = {n}, {} bytes of SQL, {elapsed:?}, stack high water {} KiB",
            sql.len(),
            high_water >> 10
        );
        match answer {
            Answer::Value(value) => assert_eq!(value, expected, "{shape:?} at {n}"),
            other => panic!("{shape:?} at {n}: {other:?}"),
        }
        assert!(
            high_water < QUERY_STACK_BYTES / 4,
            "{shape:?} at {n} used {high_water} bytes of a {QUERY_STACK_BYTES}-byte stack"
        );
    }
    // the longest SQL the server accepts, in the shape with the most levels per byte, is
    // parsed, refused and dropped within the same stack
    let longest = format!("SELECT {}", vec!["1"; (256 << 10) / 2 - 8].join("+"));
    let answer = engine_answer(&engine, &admin, &longest).await;
    assert!(answer.refused_for_depth(), "{answer:?}");
    let high_water = engine.query_stack_high_water().unwrap();
    eprintln!(
        "a refused chain of {} bytes: stack high water {} KiB",
        longest.len(),
        high_water >> 10
    );
    assert!(high_water < QUERY_STACK_BYTES / 4);
}

/// The real `tiaokuai` binary, serving on a loopback port it picked itself, with its log kept.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `tiaokuai serve` with `flags` on a fresh data directory.
    fn start(flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tiaokuai"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("TIAOKUAI_DATA_DIR", dir.path())
            .env("TIAOKUAI_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("TIAOKUAI_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(address) = line.split("address=").nth(1) {
                    let _ =
                        address_tx.send(address.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", log.lock().unwrap()));
        Self {
            child,
            url: format!("http://{address}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap(),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The most memory the process has held (VmHWM), in bytes.
    fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib << 10
    }

    /// `POST /v1/query` as admin: the status and the body.
    async fn query(&self, sql: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/v1/query", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"sql": sql}))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no answer to {}: {e}\n{}",
                    &sql[..sql.len().min(200)],
                    self.log()
                )
            });
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The process is alive, `/healthz` answers and so does a plain query.
    async fn assert_serving(&mut self, after: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited after {after}:\n{}",
            self.log()
        );
        let health = self
            .client
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK, "after {after}");
        let (status, body) = self.query("SELECT 40 + 2 AS answer").await;
        assert_eq!(
            (status, &body["rows"]),
            (StatusCode::OK, &json!([[42]])),
            "after {after}: {body}"
        );
    }
}

/// The single value of a JSON answer.
fn value(body: &Value) -> Value {
    body["rows"][0][0].clone()
}

/// `admin` as the statement guard sees it: the admin role everywhere.
fn admin_caller() -> Caller {
    Caller {
        within: None,
        principal: tiaokuai_catalog::Principal {
            id: "prn_admin".into(),
            name: "admin".into(),
            created_at: String::new(),
        },
        roles: vec![tiaokuai_catalog::RoleAssignment {
            id: "ra_admin".into(),
            principal: "admin".into(),
            role: "admin".into(),
            jurisdiction: "*".into(),
        }],
    }
}

/// A random expression of random shape and size, whose answer is not known in advance:
/// nested and chained operators, calls, CASE, casts and subqueries mixed at random.
fn random_expression(rng: &mut ChaCha8Rng, budget: &mut usize) -> String {
    if *budget == 0 || rng.random_range(0..10) == 0 {
        return match rng.random_range(0..4) {
            0 => "value".to_owned(),
            1 => rng.random_range(0..100).to_string(),
            2 => "'x'".to_owned(),
            _ => "NULL".to_owned(),
        };
    }
    *budget -= 1;
    let inner = |rng: &mut ChaCha8Rng, budget: &mut usize| random_expression(rng, budget);
    match rng.random_range(0..12) {
        0 => format!("({} OR {})", inner(rng, budget), inner(rng, budget)),
        1 => format!("{} AND {}", inner(rng, budget), inner(rng, budget)),
        2 => format!("{} + {}", inner(rng, budget), inner(rng, budget)),
        3 => format!("{} || {}", inner(rng, budget), inner(rng, budget)),
        4 => format!("NOT {}", inner(rng, budget)),
        5 => format!("abs({})", inner(rng, budget)),
        6 => format!("CAST({} AS BIGINT)", inner(rng, budget)),
        7 => format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            inner(rng, budget),
            inner(rng, budget),
            inner(rng, budget)
        ),
        8 => format!("(SELECT {})", inner(rng, budget)),
        9 => format!("{}::bigint", inner(rng, budget)),
        10 => format!("coalesce({}, {})", inner(rng, budget), inner(rng, budget)),
        _ => format!("({} = {})", inner(rng, budget), inner(rng, budget)),
    }
}

/// Deep and long statements of every shape, random but seeded, sent to the real binary: each
/// is refused with a 400 that names the limit, or runs to its right answer; after every batch
/// the process is alive and serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_long_statements_never_stop_the_server() {
    let mut server = Server::start(&[]);
    let admin = admin_caller();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let bound = DEFAULT_MAX_EXPRESSION_DEPTH;
    let (mut refused, mut answered) = (0, 0);
    for batch in 0..6 {
        for _ in 0..20 {
            let shape = SHAPES[rng.random_range(0..SHAPES.len())];
            let n = match rng.random_range(0..3) {
                0 => rng.random_range(1..=bound / 2),
                1 => rng.random_range(bound - 5..=bound + 5),
                _ => rng.random_range(bound..=bound * 40),
            };
            let (sql, expected) = shape.sql(n);
            if sql.len() > 250 << 10 {
                continue;
            }
            let (status, body) = server.query(&sql).await;
            if allowed(sql.clone(), admin.clone()) {
                assert_eq!(status, StatusCode::OK, "{shape:?} at {n}: {body}");
                assert_eq!(value(&body), expected, "{shape:?} at {n}");
                answered += 1;
            } else {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{shape:?} at {n}: {body}");
                let code = body["error"]["code"].as_str().unwrap();
                let message = body["error"]["message"].as_str().unwrap();
                // our bounds name themselves; past its recursion limit sqlparser sometimes
                // reports the token where it stopped instead
                assert!(
                    (code == "bad_request" && message.contains("the limit is"))
                        || (code == "invalid_sql" && !message.is_empty()),
                    "{shape:?} at {n}: {body}"
                );
                refused += 1;
            }
        }
        for _ in 0..10 {
            let mut budget = rng.random_range(1..400);
            let sql = format!(
                "SELECT {} FROM generate_series(1, 3)",
                random_expression(&mut rng, &mut budget)
            );
            let (status, body) = server.query(&sql).await;
            // random expressions are often ill-typed: any clear answer will do, never a crash
            assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "{sql}: {status} {body}"
            );
            if status == StatusCode::BAD_REQUEST {
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                );
            }
        }
        server.assert_serving(&format!("batch {batch}")).await;
    }
    assert!(
        refused >= 20 && answered >= 20,
        "{refused} refused, {answered} answered"
    );
}

/// Every function whose output size the caller chooses refuses a value past the cap (400) or
/// a batch past the memory pool (503) before allocating it: the process never holds more than
/// 1 GiB, against `--memory-limit-mb 256`, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_sized_values_are_refused_before_they_are_allocated() {
    let mut server = Server::start(&["--memory-limit-mb", "256"]);
    let too_large = |function: &'static str| (StatusCode::BAD_REQUEST, "bad_request", function);
    let exhausted = (
        StatusCode::SERVICE_UNAVAILABLE,
        "resources_exhausted",
        "memory",
    );
    let cases: Vec<(&str, (StatusCode, &str, &str))> = vec![
        (
            "SELECT length(repeat(arrow_cast('x','LargeUtf8'), 3000000000))",
            too_large(
                "repeat would make a value of 3000000016 bytes; the limit is 16777216 bytes per value",
            ),
        ),
        (
            "SELECT length(repeat('x', 2000000000))",
            too_large("repeat"),
        ),
        (
            "SELECT cardinality(array_repeat(1, 300000000))",
            too_large("array_repeat"),
        ),
        ("SELECT length(lpad('x', 100000000))", too_large("lpad")),
        (
            "SELECT length(rpad('x', 100000000, 'yz'))",
            too_large("rpad"),
        ),
        (
            "SELECT cardinality(range(1, 1000000000))",
            too_large("range"),
        ),
        (
            "SELECT cardinality(generate_series(1, 1000000000))",
            too_large("generate_series"),
        ),
        (
            "SELECT cardinality(array_resize([1], 100000000))",
            too_large("array_resize"),
        ),
        (
            "SELECT length(replace(repeat('x', 1000000), 'x', repeat('y', 1000)))",
            too_large("replace"),
        ),
        (
            "SELECT length(regexp_replace(repeat('x', 1000000), 'x', repeat('y', 100), 'g'))",
            too_large("regexp_replace"),
        ),
        (
            "SELECT length(translate(repeat('x', 16000000), 'x', '鬼'))",
            too_large("translate"),
        ),
        (
            "SELECT length(concat(repeat('x', 10000000), repeat('y', 10000000)))",
            too_large("concat"),
        ),
        (
            "SELECT length(concat_ws(repeat(',', 5000000), 'a', 'b', 'c', 'd', 'e'))",
            too_large("concat_ws"),
        ),
        (
            "SELECT length(repeat('x', 10000000) || repeat('y', 10000000))",
            too_large("string_concat"),
        ),
        (
            "SELECT length(overlay(repeat('x', 10000000) placing repeat('y', 10000000) from 1 for 0))",
            too_large("overlay"),
        ),
        (
            "SELECT length(encode(repeat('x', 10000000), 'hex'))",
            too_large("encode"),
        ),
        (
            "SELECT length(to_char(DATE '2024-01-01', repeat('%Y', 2000000)))",
            too_large("to_char"),
        ),
        (
            "SELECT length(array_to_string(range(1, 100000), repeat(',', 1000)))",
            too_large("array_to_string"),
        ),
        (
            "SELECT cardinality(string_to_array(repeat('x', 4000000), NULL))",
            too_large("string_to_array"),
        ),
        (
            "SELECT cardinality(make_array(repeat('x', 10000000), repeat('x', 10000000)))",
            too_large("make_array"),
        ),
        (
            "SELECT cardinality(array_repeat(1, 1500000) || array_repeat(2, 1500000))",
            too_large("array_concat"),
        ),
        (
            "SELECT cardinality(array_replace_all(array_repeat('x', 100000), 'x', repeat('y', 1000)))",
            too_large("array_replace_all"),
        ),
        (
            "SELECT levenshtein(repeat('a', 40000), repeat('b', 40000))",
            too_large("levenshtein"),
        ),
        (
            "SELECT length(string_agg(repeat('x', 1000000), ',')) FROM generate_series(1, 100)",
            too_large("string_agg"),
        ),
        (
            "SELECT cardinality(array_agg(repeat('x', 1000000))) FROM generate_series(1, 100)",
            too_large("array_agg"),
        ),
        // each value is allowed, the batch is not: 100 values of 16 MB, 1000 of 1 MB
        (
            "SELECT length(repeat('x', 16000000)) FROM generate_series(1, 100)",
            exhausted,
        ),
        (
            "SELECT sum(length(repeat('x', 1000000))) FROM generate_series(1, 1000)",
            exhausted,
        ),
        // one constant copied into every row of a batch: 8192 rows of 100 kB
        (
            "SELECT length(repeat('x', 100000)) FROM generate_series(1, 100000)",
            exhausted,
        ),
        // doubling through a chain of CTEs: stopped at the cap, wherever it is reached
        (
            "WITH a AS (SELECT repeat('x', 1000) AS s), b AS (SELECT s || s AS s FROM a), c AS (SELECT s || s AS s FROM b), d AS (SELECT s || s AS s FROM c), e AS (SELECT s || s AS s FROM d), f AS (SELECT s || s AS s FROM e), g AS (SELECT s || s AS s FROM f), h AS (SELECT s || s AS s FROM g), i AS (SELECT s || s AS s FROM h), j AS (SELECT s || s AS s FROM i), k AS (SELECT s || s AS s FROM j), l AS (SELECT s || s AS s FROM k), m AS (SELECT s || s AS s FROM l), n AS (SELECT s || s AS s FROM m), o AS (SELECT s || s AS s FROM n), p AS (SELECT s || s AS s FROM o) SELECT length(s) FROM p",
            too_large("string_concat"),
        ),
    ];
    for (sql, (status, code, needle)) in &cases {
        let (actual, body) = server.query(sql).await;
        assert_eq!(actual, *status, "{sql}: {body}");
        assert_eq!(body["error"]["code"], *code, "{sql}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{sql}: {message}");
    }
    // what stays under the caps is answered
    for (sql, expected) in [
        ("SELECT length(repeat('x', 1000000))", json!(1000000)),
        ("SELECT cardinality(range(1, 1000))", json!(999)),
        ("SELECT lpad('7', 12, '0')", json!("000000000007")),
        ("SELECT 'a' || 'b' || 'c'", json!("abc")),
        ("SELECT 'a' || NULL || 'c'", Value::Null),
        (
            "SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 1000)",
            json!(1000999),
        ),
        (
            "SELECT sum(length(repeat('x', 100))) FROM generate_series(1, 100000)",
            json!(10000000),
        ),
        // a constant past the folding limit, computed per batch and copied into its rows
        (
            "SELECT sum(length(repeat('x', 10000))) FROM generate_series(1, 20)",
            json!(200000),
        ),
        (
            "SELECT count(DISTINCT repeat('ab', 300)) FROM generate_series(1, 5)",
            json!(1),
        ),
        // a capped function over one that reads the query's start time
        ("SELECT length(to_char(now(), '%Y'))", json!(4)),
    ] {
        let (status, body) = server.query(sql).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {body}");
        assert_eq!(value(&body), expected, "{sql}");
    }
    server.assert_serving("the caller-sized values").await;
    let peak = server.peak_memory();
    assert!(peak < 1 << 30, "the server held {peak} bytes");
}

/// The deadline holds: a query streaming forever is stopped with a 504, and so is one whose
/// single batch is still being computed (in a debug build the largest levenshtein the work
/// bound allows takes longer than the deadline; in a release build the bound keeps it
/// shorter, and it is answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_a_query_even_inside_one_batch() {
    let mut server = Server::start(&["--query-timeout-secs", "2"]);
    let (status, body) = server
        .query("SELECT count(*) FROM generate_series(1, 100000000000)")
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    let (status, body) = server
        .query("SELECT levenshtein(repeat('a', 16000), repeat('b', 16000))")
        .await;
    if cfg!(debug_assertions) {
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    } else {
        assert_eq!(
            (status, value(&body)),
            (StatusCode::OK, json!(16000)),
            "{body}"
        );
    }
    // the query gets the cap's error at once
    let (status, body) = server
        .query("SELECT length(repeat(arrow_cast('x','LargeUtf8'), 3000000000))")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    server.assert_serving("the timeouts").await;
}

/// A panic inside DataFusion fails its query with a 500 whose message says nothing of it; the
/// panic is in the log and the server keeps serving. DataFusion 55's `array_position`
/// subtracts 1 from the start position unchecked: with overflow checks (debug builds) that
/// panics, in a release build it wraps and the position is refused as out of bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_query_alone() {
    let mut server = Server::start(&[]);
    let (status, body) = server
        .query("SELECT array_position([1, 2], 1, -9223372036854775808)")
        .await;
    if cfg!(debug_assertions) {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(
            body,
            json!({"error": {"code": "internal", "message": "internal error; the details are in the server log"}})
        );
        let log = server.log();
        assert!(log.contains("a query panicked; it fails alone"), "{log}");
        assert!(log.contains("attempt to subtract with overflow"), "{log}");
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    server.assert_serving("the panic").await;
}

/// The bounds are the server's flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bounds_follow_the_flags() {
    let mut server = Server::start(&["--max-expression-depth", "50", "--max-value-bytes", "1000"]);
    let (sql, _) = Shape::OrColumn.sql(60);
    let (status, body) = server.query(&sql).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nests more than 50 levels deep; the limit is 50"),
        "{body}"
    );
    let (sql, expected) = Shape::OrColumn.sql(40);
    let (status, body) = server.query(&sql).await;
    assert_eq!((status, value(&body)), (StatusCode::OK, expected), "{body}");
    let (status, body) = server.query("SELECT repeat('x', 2000)").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("the limit is 1000 bytes per value"),
        "{body}"
    );
    let (status, body) = server.query("SELECT length(repeat('x', 900))").await;
    assert_eq!(
        (status, value(&body)),
        (StatusCode::OK, json!(900)),
        "{body}"
    );
    server.assert_serving("the flags").await;
    // a bound past what the stacks were measured for does not start
    let refused = Command::new(env!("CARGO_BIN_EXE_tiaokuai"))
        .args(["serve", "--max-expression-depth", "100000"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("max-expression-depth"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
