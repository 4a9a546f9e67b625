//! What the pushdown sends to each kind of database, and what it keeps local, read from the
//! optimized plans of real queries. Planning never connects, so no database is needed here;
//! the answers themselves are compared across databases by the engine's differential corpus.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use serde_json::Map;

use super::spec::{DatabaseKind, DatabaseSpec};
use super::{DatabaseSource, RemoteName, RemoteTable, optimizer_rules};

const KINDS: [DatabaseKind; 3] = [
    DatabaseKind::Postgres,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
];

fn context(kind: DatabaseKind) -> SessionContext {
    let url = match kind {
        DatabaseKind::Postgres => "postgres://u@127.0.0.1:1/db",
        DatabaseKind::Mysql => "mysql://u@127.0.0.1:1/db",
        DatabaseKind::Sqlite => "file:///nonexistent/t.db",
    };
    let spec = DatabaseSpec::parse("s", kind, url, &Map::new(), None, None).unwrap();
    let source = Arc::new(DatabaseSource::new(spec));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("age", DataType::Int32, true),
        Field::new("day", DataType::Date32, true),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("score", DataType::Float64, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_optimizer_rules(optimizer_rules())
        .build();
    let context = SessionContext::new_with_state(state);
    for table in ["t", "u"] {
        let name = RemoteName::parse(kind, table).unwrap();
        let provider =
            RemoteTable::provider(source.clone(), name, schema.clone(), &BTreeMap::new());
        context.register_table(table, provider).unwrap();
    }
    context
}

/// The statements the database would receive for `sql`.
async fn remote(kind: DatabaseKind, sql: &str) -> Vec<String> {
    let plan = context(kind)
        .sql(sql)
        .await
        .unwrap()
        .into_optimized_plan()
        .unwrap();
    plan.display_indent()
        .to_string()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("RemoteQuery: source=s sql="))
        .map(str::to_owned)
        .collect()
}

async fn assert_pushed(kind: DatabaseKind, sql: &str, needles: &[&str]) {
    let statements = remote(kind, sql).await;
    assert!(
        statements
            .iter()
            .any(|s| needles.iter().all(|n| s.contains(n))),
        "{kind:?}: {sql}\nno statement holds {needles:?}: {statements:#?}"
    );
}

async fn assert_kept_local(kind: DatabaseKind, sql: &str, needles: &[&str]) {
    let statements = remote(kind, sql).await;
    assert!(!statements.is_empty(), "{kind:?}: {sql}: nothing read");
    for statement in &statements {
        for needle in needles {
            assert!(
                !statement.contains(needle),
                "{kind:?}: {sql}\n{needle:?} was sent: {statement}"
            );
        }
    }
}

#[tokio::test]
async fn filters_aggregates_and_top_n_go_to_the_database() {
    for kind in KINDS {
        let sql = "SELECT id FROM t WHERE age > 80 AND id IN (1, 2, 3) ORDER BY id LIMIT 5";
        assert_pushed(kind, sql, &["> 80", "ORDER BY", "LIMIT 5"]).await;
        assert_pushed(
            kind,
            "SELECT age, count(*), max(id) FROM t GROUP BY age",
            &["count(*)", "GROUP BY"],
        )
        .await;
        assert_pushed(
            kind,
            "SELECT t.id FROM t JOIN u ON t.id = u.id WHERE u.age < 3",
            &["JOIN", "< 3"],
        )
        .await;
    }
}

#[tokio::test]
async fn text_is_compared_by_bytes_everywhere() {
    let sql = "SELECT id FROM t WHERE name >= 'li' ORDER BY name, id LIMIT 3";
    assert_pushed(DatabaseKind::Postgres, sql, &["COLLATE \"C\"", "LIMIT 3"]).await;
    assert_pushed(
        DatabaseKind::Mysql,
        sql,
        &["AS BINARY", "IS NULL", "LIMIT 3"],
    )
    .await;
    assert_pushed(DatabaseKind::Sqlite, sql, &["COLLATE BINARY", "LIMIT 3"]).await;
    // MySQL's collations would put 'Li', 'li' and 'li ' in one group: it groups the bytes
    let grouped = "SELECT name, count(*), count(DISTINCT name), max(name) FROM t GROUP BY name";
    assert_pushed(
        DatabaseKind::Postgres,
        grouped,
        &["GROUP BY", "COLLATE \"C\""],
    )
    .await;
    assert_pushed(
        DatabaseKind::Mysql,
        grouped,
        &["GROUP BY CAST(CONVERT(", "CONVERT(max(CAST("],
    )
    .await;
    assert_pushed(
        DatabaseKind::Sqlite,
        "SELECT name, count(*) FROM t GROUP BY name",
        &["GROUP BY q.c0 COLLATE BINARY"],
    )
    .await;
}

#[tokio::test]
async fn like_patterns_are_translated_or_kept() {
    let sql = "SELECT id FROM t WHERE name LIKE 'a\\_b%'";
    assert_pushed(
        DatabaseKind::Postgres,
        sql,
        &["LIKE E'a\\\\_b%' ESCAPE E'\\\\'"],
    )
    .await;
    assert_pushed(DatabaseKind::Sqlite, sql, &["GLOB 'a_b*'"]).await;
    // MySQL's LIKE on bytes: '_' would match one byte of a Chinese character
    assert_kept_local(
        DatabaseKind::Mysql,
        "SELECT id FROM t WHERE name LIKE '张_'",
        &["LIKE"],
    )
    .await;
    assert_pushed(
        DatabaseKind::Mysql,
        "SELECT id FROM t WHERE name LIKE '张%'",
        &["LIKE"],
    )
    .await;
    for kind in KINDS {
        assert_kept_local(
            kind,
            "SELECT id FROM t WHERE name ILIKE 'a%'",
            &["LIKE", "GLOB"],
        )
        .await;
    }
}

#[tokio::test]
async fn what_databases_compute_differently_stays_local() {
    for kind in KINDS {
        for (sql, needle) in [
            ("SELECT age / 10 FROM t", "/"),
            ("SELECT id FROM t WHERE age % 7 = 1", "%"),
            ("SELECT id + 1 FROM t", "+"),
            ("SELECT id FROM t WHERE score > 1.5", "1.5"),
            ("SELECT name || 'x' FROM t", "||"),
            ("SELECT upper(name) FROM t", "upper"),
            ("SELECT avg(age) FROM t", "avg"),
            (
                "SELECT id FROM t WHERE at > TIMESTAMP '2024-01-01 00:00:00'",
                "2024",
            ),
            (
                "SELECT id FROM t WHERE id NOT IN (SELECT id FROM u WHERE age > 3)",
                "EXISTS",
            ),
            ("SELECT id FROM t INTERSECT SELECT id FROM u", "INTERSECT"),
            ("SELECT id FROM t EXCEPT ALL SELECT id FROM u", "EXCEPT"),
            ("SELECT id FROM t UNION SELECT id FROM u", "UNION"),
            ("SELECT round(score) FROM t", "round"),
        ] {
            assert_kept_local(kind, sql, &[needle]).await;
        }
    }
}

#[tokio::test]
async fn literals_arrive_as_written() {
    let sql = "SELECT id FROM t WHERE name = 'O''Brien\\ ı LIMIT 1'";
    assert_pushed(DatabaseKind::Postgres, sql, &["E'O''Brien\\\\ ı LIMIT 1'"]).await;
    assert_pushed(DatabaseKind::Sqlite, sql, &["'O''Brien\\ ı LIMIT 1'"]).await;
    // MySQL reads backslashes as escapes (and its reader drops double quotes)
    assert_kept_local(DatabaseKind::Mysql, sql, &["Brien"]).await;
    assert_kept_local(
        DatabaseKind::Mysql,
        "SELECT id FROM t WHERE name = 'say \"hi\"'",
        &["hi"],
    )
    .await;
    // dates and decimals are typed; SQLite keeps both as text or floating point
    let typed = "SELECT id FROM t WHERE day < DATE '1950-01-01' AND amount > 1000.50";
    assert_pushed(
        DatabaseKind::Postgres,
        typed,
        &["DATE '1950-01-01'", "NUMERIC(10,2)"],
    )
    .await;
    assert_pushed(
        DatabaseKind::Mysql,
        typed,
        &["DATE '1950-01-01'", "DECIMAL(10,2)"],
    )
    .await;
    assert_kept_local(DatabaseKind::Sqlite, typed, &["1950", "1000"]).await;
}

#[tokio::test]
async fn sums_are_exact_or_refused() {
    assert_pushed(
        DatabaseKind::Postgres,
        "SELECT sum(id) FROM t",
        &["CAST(sum("],
    )
    .await;
    assert_pushed(DatabaseKind::Mysql, "SELECT sum(id) FROM t", &["sum("]).await;
    assert_pushed(
        DatabaseKind::Postgres,
        "SELECT sum(amount) FROM t",
        &["sum("],
    )
    .await;
    // SQLite keeps decimals as floating point
    assert_kept_local(DatabaseKind::Sqlite, "SELECT sum(amount) FROM t", &["sum("]).await;
}
