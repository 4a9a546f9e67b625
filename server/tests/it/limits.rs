//! No query crashes the server or escapes its limits: deep and long expressions, values whose
//! size the caller chooses, and batches that run long.
//!
//! A stack overflow aborts the whole process, so the deep-expression fuzz test drives the real
//! `tiaokuai` binary, spawned as a process, and checks after every batch of queries that it is
//! still alive and answering.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
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

    fn refused_for_casts(&self) -> bool {
        matches!(self, Answer::Error(StatusCode::BAD_REQUEST, code, message)
            if code == "bad_request" && message.contains("casts of computed values"))
    }

    fn refused_by_parser(&self) -> bool {
        matches!(self, Answer::Error(StatusCode::BAD_REQUEST, code, message)
            if code == "invalid_sql" && message.contains("RecursionLimitExceeded"))
    }
}

async fn engine_answer(engine: &Engine, admin: &Caller, sql: &str) -> Answer {
    use futures::TryStreamExt;
    let output = match engine.query(admin, sql, &[]).await {
        Ok(output) => output,
        Err(error) => {
            let (status, code) = tiaokuai::http::error::status_of(&error);
            return Answer::Error(status, code.to_owned(), error.to_string());
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
    let state = tiaokuai::open(&config).await.unwrap();
    let engine: Arc<Engine> = state.engine.clone();
    let admin = Caller::named(engine.catalog(), "admin").unwrap().unwrap();
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
