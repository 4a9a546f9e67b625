//! What the pushdown sends to each kind of database, and what it keeps local, read from the
//! optimized plans of real queries. Planning never connects, so no database is needed here;
//! the answers themselves are compared across databases by the engine's differential corpus.
//!
//! Each assertion compares the whole of every statement a database would receive with the
//! text written here: a change to the writer or to a dialect shows in these strings, and is
//! reviewed as such.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{SessionContext, col, lit};
use serde_json::Map;

use super::spec::{DatabaseKind, DatabaseSpec};
use super::{DatabaseSource, PolicyFence, RemoteName, RemoteTable, optimizer_rules};

const KINDS: [DatabaseKind; 3] = [
    DatabaseKind::Postgres,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
];

/// Tables `t` and `u` of one source of `kind`, whose columns have the given database types.
fn context_with(kind: DatabaseKind, remote_types: &BTreeMap<String, String>) -> SessionContext {
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
        let provider = RemoteTable::provider(source.clone(), name, schema.clone(), remote_types);
        context.register_table(table, provider).unwrap();
    }
    context
}

fn context(kind: DatabaseKind) -> SessionContext {
    context_with(kind, &BTreeMap::new())
}

/// The statements the database would receive for an optimized plan, in plan order.
fn statements(plan: &datafusion::logical_expr::LogicalPlan) -> Vec<String> {
    plan.display_indent()
        .to_string()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("RemoteQuery: source=s sql="))
        .map(str::to_owned)
        .collect()
}

/// The statements the database would receive for `sql`.
async fn remote_in(context: SessionContext, sql: &str) -> Vec<String> {
    let plan = context
        .sql(sql)
        .await
        .unwrap()
        .into_optimized_plan()
        .unwrap();
    statements(&plan)
}

async fn remote(kind: DatabaseKind, sql: &str) -> Vec<String> {
    remote_in(context(kind), sql).await
}

/// Asserts that for `sql` the database receives exactly `expected`, statement for statement.
async fn assert_sent(kind: DatabaseKind, sql: &str, expected: &[&str]) {
    let statements = remote(kind, sql).await;
    assert_eq!(statements, expected, "{kind:?}: {sql}");
}

/// Asserts that for `sql` the database receives exactly `expected` (the scans of what runs
/// locally), none of which holds one of `needles`.
async fn assert_kept_local(kind: DatabaseKind, sql: &str, expected: &[&str], needles: &[&str]) {
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
    assert_eq!(statements, expected, "{kind:?}: {sql}");
}

#[tokio::test]
async fn filters_aggregates_and_top_n_go_to_the_database() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let top = "SELECT id FROM t WHERE age > 80 AND id IN (1, 2, 3) ORDER BY id LIMIT 5";
    let grouped = "SELECT age, count(*), max(id) FROM t GROUP BY age";
    let joined = "SELECT t.id FROM t JOIN u ON t.id = u.id WHERE u.age < 3";
    assert_sent(Postgres, top, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q WHERE ((q.c1 > 80) AND (((q.c0 = 1) OR (q.c0 = 2)) OR (q.c0 = 3)))) q) q ORDER BY q.c0 ASC NULLS LAST LIMIT 5"#]).await;
    assert_sent(Mysql, top, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `id` AS c0, `age` AS c1 FROM `t`) q WHERE ((q.c1 > 80) AND (((q.c0 = 1) OR (q.c0 = 2)) OR (q.c0 = 3)))) q) q ORDER BY (q.c0) IS NULL ASC, q.c0 ASC LIMIT 5"#]).await;
    assert_sent(Sqlite, top, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q WHERE ((q.c1 > 80) AND (((q.c0 = 1) OR (q.c0 = 2)) OR (q.c0 = 3)))) q) q ORDER BY q.c0 ASC NULLS LAST LIMIT 5"#]).await;
    assert_sent(Postgres, grouped, &[r#"SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c1 AS c0, count(*) AS c1, max(q.c0) AS c2 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q GROUP BY q.c1) q"#]).await;
    assert_sent(Mysql, grouped, &[r#"SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c1 AS c0, count(*) AS c1, max(q.c0) AS c2 FROM (SELECT `id` AS c0, `age` AS c1 FROM `t`) q GROUP BY q.c1) q"#]).await;
    assert_sent(Sqlite, grouped, &[r#"SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c1 AS c0, count(*) AS c1, max(q.c0) AS c2 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q GROUP BY q.c1) q"#]).await;
    assert_sent(Postgres, joined, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c2 AS c1 FROM (SELECT l.c0 AS c0, r.c0 AS c1, r.c1 AS c2 FROM (SELECT "id" AS c0 FROM "t") l JOIN (SELECT "id" AS c0, "age" AS c1 FROM "u") r ON (l.c0 = r.c0)) q) q WHERE (q.c1 < 3)) q"#]).await;
    assert_sent(Mysql, joined, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c2 AS c1 FROM (SELECT l.c0 AS c0, r.c0 AS c1, r.c1 AS c2 FROM (SELECT `id` AS c0 FROM `t`) l JOIN (SELECT `id` AS c0, `age` AS c1 FROM `u`) r ON (l.c0 = r.c0)) q) q WHERE (q.c1 < 3)) q"#]).await;
    assert_sent(Sqlite, joined, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c2 AS c1 FROM (SELECT l.c0 AS c0, r.c0 AS c1, r.c1 AS c2 FROM (SELECT "id" AS c0 FROM "t") l JOIN (SELECT "id" AS c0, "age" AS c1 FROM "u") r ON (l.c0 = r.c0)) q) q WHERE (q.c1 < 3)) q"#]).await;
}

#[tokio::test]
async fn offsets_without_a_limit_are_written_for_each_database() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let ordered = "SELECT id FROM t ORDER BY id OFFSET 2";
    assert_sent(Postgres, ordered, &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q ORDER BY q.c0 ASC NULLS LAST OFFSET 2"#]).await;
    assert_sent(Mysql, ordered, &[r#"SELECT q.c0 AS c0 FROM (SELECT `id` AS c0 FROM `t`) q ORDER BY (q.c0) IS NULL ASC, q.c0 ASC LIMIT 18446744073709551615 OFFSET 2"#]).await;
    assert_sent(Sqlite, ordered, &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q ORDER BY q.c0 ASC NULLS LAST LIMIT -1 OFFSET 2"#]).await;
    let unordered = "SELECT id FROM t OFFSET 2";
    assert_sent(
        Postgres,
        unordered,
        &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q OFFSET 2"#],
    )
    .await;
    assert_sent(Mysql, unordered, &[r#"SELECT q.c0 AS c0 FROM (SELECT `id` AS c0 FROM `t`) q LIMIT 18446744073709551615 OFFSET 2"#]).await;
    assert_sent(
        Sqlite,
        unordered,
        &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q LIMIT -1 OFFSET 2"#],
    )
    .await;
    let both = "SELECT id FROM t ORDER BY id LIMIT 4 OFFSET 2";
    assert_sent(Postgres, both, &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q ORDER BY q.c0 ASC NULLS LAST LIMIT 4 OFFSET 2"#]).await;
    assert_sent(Mysql, both, &[r#"SELECT q.c0 AS c0 FROM (SELECT `id` AS c0 FROM `t`) q ORDER BY (q.c0) IS NULL ASC, q.c0 ASC LIMIT 4 OFFSET 2"#]).await;
    assert_sent(Sqlite, both, &[r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q ORDER BY q.c0 ASC NULLS LAST LIMIT 4 OFFSET 2"#]).await;
}

/// The caller's predicate stays above the fence, which each database receives as a derived
/// table it may not merge: `OFFSET 0`, MySQL's maximal `LIMIT`, SQLite's `LIMIT -1`.
#[tokio::test]
async fn a_policy_fence_is_a_derived_table_the_database_cannot_merge() {
    let expected = [
        (
            DatabaseKind::Postgres,
            [
                r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q OFFSET 0) q WHERE (q.c1 > 3)) q"#,
            ],
        ),
        (
            DatabaseKind::Mysql,
            [
                r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `id` AS c0, `age` AS c1 FROM `t`) q LIMIT 18446744073709551615) q WHERE (q.c1 > 3)) q"#,
            ],
        ),
        (
            DatabaseKind::Sqlite,
            [
                r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q LIMIT -1) q WHERE (q.c1 > 3)) q"#,
            ],
        ),
    ];
    for (kind, expected) in expected {
        let context = context(kind);
        let scan = context.table("t").await.unwrap().into_unoptimized_plan();
        let plan = LogicalPlanBuilder::from(PolicyFence::plan(scan))
            .filter(col("age").gt(lit(3)))
            .unwrap()
            .project(vec![col("id")])
            .unwrap()
            .build()
            .unwrap();
        let plan = context.state().optimize(&plan).unwrap();
        assert_eq!(statements(&plan), expected, "{kind:?}");
    }
}

#[tokio::test]
async fn text_is_compared_by_bytes_everywhere() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let sql = "SELECT id FROM t WHERE name >= 'li' ORDER BY name, id LIMIT 3";
    assert_sent(Postgres, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 >= 'li' COLLATE "C")) q ORDER BY q.c1 COLLATE "C" ASC NULLS LAST, q.c0 ASC NULLS LAST LIMIT 3"#]).await;
    assert_sent(Mysql, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `id` AS c0, `name` AS c1 FROM `t`) q WHERE (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) >= CAST(CONVERT('li' USING utf8mb4) AS BINARY))) q ORDER BY (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY)) IS NULL ASC, CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) ASC, (q.c0) IS NULL ASC, q.c0 ASC LIMIT 3"#]).await;
    assert_sent(Sqlite, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 >= 'li' COLLATE BINARY)) q ORDER BY q.c1 COLLATE BINARY ASC NULLS LAST, q.c0 ASC NULLS LAST LIMIT 3"#]).await;
    // MySQL's collations would put 'Li', 'li' and 'li ' in one group: it groups the bytes
    let grouped = "SELECT name, count(*), count(DISTINCT name), max(name) FROM t GROUP BY name";
    assert_sent(Postgres, grouped, &[r#"SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2, q.c3 AS c3 FROM (SELECT q.c0 AS c0, count(*) AS c1, count(DISTINCT q.c0) AS c2, max(q.c0 COLLATE "C") AS c3 FROM (SELECT "name" AS c0 FROM "t") q GROUP BY q.c0) q"#]).await;
    assert_sent(Mysql, grouped, &[r#"SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2, q.c3 AS c3 FROM (SELECT CONVERT(CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY) USING utf8mb4) AS c0, count(*) AS c1, count(DISTINCT CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) AS c2, CONVERT(max(CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) USING utf8mb4) AS c3 FROM (SELECT `name` AS c0 FROM `t`) q GROUP BY CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) q"#]).await;
    // SQLite has no byte-wise distinct count or text maximum that is surely DataFusion's
    assert_kept_local(
        Sqlite,
        grouped,
        &[r#"SELECT "name" AS c0 FROM "t""#],
        &["GROUP BY"],
    )
    .await;
    let counted = "SELECT name, count(*) FROM t GROUP BY name";
    assert_sent(Postgres, counted, &[r#"SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, count(*) AS c1 FROM (SELECT "name" AS c0 FROM "t") q GROUP BY q.c0) q"#]).await;
    assert_sent(Mysql, counted, &[r#"SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT CONVERT(CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY) USING utf8mb4) AS c0, count(*) AS c1 FROM (SELECT `name` AS c0 FROM `t`) q GROUP BY CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) q"#]).await;
    assert_sent(Sqlite, counted, &[r#"SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, count(*) AS c1 FROM (SELECT "name" AS c0 FROM "t") q GROUP BY q.c0 COLLATE BINARY) q"#]).await;
    let distinct =
        "SELECT count(DISTINCT name), min(name), min(day), max(amount), count(DISTINCT age) FROM t";
    assert_sent(Postgres, distinct, &[r#"SELECT count(DISTINCT q.c0) AS c0, min(q.c0 COLLATE "C") AS c1, min(q.c2) AS c2, max(q.c3) AS c3, count(DISTINCT q.c1) AS c4 FROM (SELECT "name" AS c0, "age" AS c1, "day" AS c2, "amount" AS c3 FROM "t") q"#]).await;
    assert_sent(Mysql, distinct, &[r#"SELECT count(DISTINCT CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) AS c0, CONVERT(min(CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) USING utf8mb4) AS c1, min(q.c2) AS c2, max(q.c3) AS c3, count(DISTINCT q.c1) AS c4 FROM (SELECT `name` AS c0, `age` AS c1, `day` AS c2, `amount` AS c3 FROM `t`) q"#]).await;
    assert_kept_local(
        Sqlite,
        distinct,
        &[r#"SELECT "name" AS c0, "age" AS c1, "day" AS c2, "amount" AS c3 FROM "t""#],
        &["count", "min"],
    )
    .await;
}

#[tokio::test]
async fn like_patterns_are_translated_or_kept() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let sql = "SELECT id FROM t WHERE name LIKE 'a\\_b%'";
    assert_sent(Postgres, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 LIKE E'a\\_b%' ESCAPE E'\\')) q"#]).await;
    assert_sent(Sqlite, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 GLOB 'a_b*')) q"#]).await;
    // MySQL is given no pattern with a backslash
    assert_kept_local(
        Mysql,
        sql,
        &[r#"SELECT `id` AS c0, `name` AS c1 FROM `t`"#],
        &["LIKE"],
    )
    .await;
    // MySQL's LIKE on bytes: '_' would match one byte of a Chinese character
    let one = "SELECT id FROM t WHERE name LIKE '张_'";
    assert_sent(Postgres, one, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 LIKE '张_' ESCAPE E'\\')) q"#]).await;
    assert_kept_local(
        Mysql,
        one,
        &[r#"SELECT `id` AS c0, `name` AS c1 FROM `t`"#],
        &["LIKE"],
    )
    .await;
    assert_sent(Sqlite, one, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 GLOB '张?')) q"#]).await;
    let any = "SELECT id FROM t WHERE name LIKE '张%'";
    assert_sent(Postgres, any, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 LIKE '张%' ESCAPE E'\\')) q"#]).await;
    assert_sent(Mysql, any, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `id` AS c0, `name` AS c1 FROM `t`) q WHERE (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) LIKE CAST(CONVERT('张%' USING utf8mb4) AS BINARY))) q"#]).await;
    assert_sent(Sqlite, any, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 GLOB '张*')) q"#]).await;
    let negated = "SELECT id FROM t WHERE name NOT LIKE 'a%' AND NOT (age IN (1, 2))";
    assert_sent(Postgres, negated, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT "id" AS c0, "name" AS c1, "age" AS c2 FROM "t") q WHERE ((NOT (q.c1 LIKE 'a%' ESCAPE E'\\')) AND ((q.c2 <> 1) AND (q.c2 <> 2)))) q"#]).await;
    assert_sent(Mysql, negated, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT `id` AS c0, `name` AS c1, `age` AS c2 FROM `t`) q WHERE ((NOT (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) LIKE CAST(CONVERT('a%' USING utf8mb4) AS BINARY))) AND ((q.c2 <> 1) AND (q.c2 <> 2)))) q"#]).await;
    assert_sent(Sqlite, negated, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT "id" AS c0, "name" AS c1, "age" AS c2 FROM "t") q WHERE ((NOT (q.c1 GLOB 'a*')) AND ((q.c2 <> 1) AND (q.c2 <> 2)))) q"#]).await;
    let ilike = "SELECT id FROM t WHERE name ILIKE 'a%'";
    assert_kept_local(
        Postgres,
        ilike,
        &[r#"SELECT "id" AS c0, "name" AS c1 FROM "t""#],
        &["LIKE", "GLOB"],
    )
    .await;
    assert_kept_local(
        Mysql,
        ilike,
        &[r#"SELECT `id` AS c0, `name` AS c1 FROM `t`"#],
        &["LIKE", "GLOB"],
    )
    .await;
    assert_kept_local(
        Sqlite,
        ilike,
        &[r#"SELECT "id" AS c0, "name" AS c1 FROM "t""#],
        &["LIKE", "GLOB"],
    )
    .await;
}

#[tokio::test]
async fn functions_cases_and_outer_joins_are_written_for_each_database() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let functions = "SELECT substr(name, 1, 1), char_length(name), concat(name, name) FROM t WHERE name IS NOT NULL";
    assert_sent(Postgres, functions, &[r#"SELECT substr(q.c0, 1, 1) AS c0, char_length(q.c0) AS c1, (COALESCE(q.c0, '') || COALESCE(q.c0, '')) AS c2 FROM (SELECT q.c0 AS c0 FROM (SELECT "name" AS c0 FROM "t") q WHERE (q.c0 IS NOT NULL)) q"#]).await;
    assert_sent(Mysql, functions, &[r#"SELECT SUBSTRING(q.c0, 1, 1) AS c0, CHAR_LENGTH(q.c0) AS c1, CONCAT(COALESCE(q.c0, ''), COALESCE(q.c0, '')) AS c2 FROM (SELECT q.c0 AS c0 FROM (SELECT `name` AS c0 FROM `t`) q WHERE (q.c0 IS NOT NULL)) q"#]).await;
    assert_sent(Sqlite, functions, &[r#"SELECT substr(q.c0, 1, 1) AS c0, length(q.c0) AS c1, (COALESCE(q.c0, '') || COALESCE(q.c0, '')) AS c2 FROM (SELECT q.c0 AS c0 FROM (SELECT "name" AS c0 FROM "t") q WHERE (q.c0 IS NOT NULL)) q"#]).await;
    let case = "SELECT CASE WHEN age > 3 THEN name ELSE 'x' END FROM t WHERE age BETWEEN 1 AND 5";
    assert_sent(Postgres, case, &[r#"SELECT CASE WHEN (q.c1 > 3) THEN q.c0 ELSE 'x' END AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "name" AS c0, "age" AS c1 FROM "t") q WHERE ((q.c1 >= 1) AND (q.c1 <= 5))) q"#]).await;
    assert_sent(Mysql, case, &[r#"SELECT CASE WHEN (q.c1 > 3) THEN q.c0 ELSE 'x' END AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `name` AS c0, `age` AS c1 FROM `t`) q WHERE ((q.c1 >= 1) AND (q.c1 <= 5))) q"#]).await;
    assert_sent(Sqlite, case, &[r#"SELECT CASE WHEN (q.c1 > 3) THEN q.c0 ELSE 'x' END AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "name" AS c0, "age" AS c1 FROM "t") q WHERE ((q.c1 >= 1) AND (q.c1 <= 5))) q"#]).await;
    let booleans = "SELECT id, (age > 3) = (id < 2) FROM t";
    assert_sent(Postgres, booleans, &[r#"SELECT q.c0 AS c0, ((q.c1 > 3) = (q.c0 < 2)) AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q"#]).await;
    assert_sent(Mysql, booleans, &[r#"SELECT q.c0 AS c0, ((q.c1 > 3) = (q.c0 < 2)) AS c1 FROM (SELECT `id` AS c0, `age` AS c1 FROM `t`) q"#]).await;
    assert_sent(Sqlite, booleans, &[r#"SELECT q.c0 AS c0, ((q.c1 > 3) = (q.c0 < 2)) AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "t") q"#]).await;
    // MySQL has no FULL JOIN: both sides are read and joined locally
    let full = "SELECT t.id, u.id FROM t FULL JOIN u ON t.id = u.id";
    assert_sent(Postgres, full, &[r#"SELECT l.c0 AS c0, r.c0 AS c1 FROM (SELECT "id" AS c0 FROM "t") l FULL JOIN (SELECT "id" AS c0 FROM "u") r ON (l.c0 = r.c0)"#]).await;
    assert_kept_local(
        Mysql,
        full,
        &[
            r#"SELECT `id` AS c0 FROM `t`"#,
            r#"SELECT `id` AS c0 FROM `u`"#,
        ],
        &["JOIN"],
    )
    .await;
    assert_sent(Sqlite, full, &[r#"SELECT l.c0 AS c0, r.c0 AS c1 FROM (SELECT "id" AS c0 FROM "t") l FULL JOIN (SELECT "id" AS c0 FROM "u") r ON (l.c0 = r.c0)"#]).await;
}

/// PostgreSQL's blank-padded `character(n)` is read as text, whose comparisons are then
/// DataFusion's; other kinds read their columns as they are.
#[tokio::test]
async fn blank_padded_columns_are_read_as_text() {
    let types = BTreeMap::from([("name".to_owned(), "character".to_owned())]);
    let sql = "SELECT name FROM t";
    let expected = [
        (
            DatabaseKind::Postgres,
            r#"SELECT CAST("name" AS text) AS c0 FROM "t""#,
        ),
        (DatabaseKind::Mysql, r#"SELECT `name` AS c0 FROM `t`"#),
        (DatabaseKind::Sqlite, r#"SELECT "name" AS c0 FROM "t""#),
    ];
    for (kind, expected) in expected {
        let statements = remote_in(context_with(kind, &types), sql).await;
        assert_eq!(statements, [expected], "{kind:?}");
    }
}

#[tokio::test]
async fn what_databases_compute_differently_stays_local() {
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
        let expected = kept_local_scans(sql);
        for kind in KINDS {
            let expected = expected
                .iter()
                .map(|s| in_dialect(kind, s))
                .collect::<Vec<_>>();
            let expected = expected.iter().map(String::as_str).collect::<Vec<_>>();
            assert_kept_local(kind, sql, &expected, &[needle]).await;
        }
    }
}

/// The statements of [`what_databases_compute_differently_stays_local`], as PostgreSQL and
/// SQLite receive them.
fn kept_local_scans(sql: &str) -> &'static [&'static str] {
    match sql {
        "SELECT age / 10 FROM t" => &[r#"SELECT "age" AS c0 FROM "t""#],
        "SELECT id FROM t WHERE age % 7 = 1" => &[r#"SELECT "id" AS c0, "age" AS c1 FROM "t""#],
        "SELECT id + 1 FROM t" => &[r#"SELECT "id" AS c0 FROM "t""#],
        "SELECT id FROM t WHERE score > 1.5" => &[r#"SELECT "id" AS c0, "score" AS c1 FROM "t""#],
        "SELECT name || 'x' FROM t" => &[r#"SELECT "name" AS c0 FROM "t""#],
        "SELECT upper(name) FROM t" => &[r#"SELECT "name" AS c0 FROM "t""#],
        "SELECT avg(age) FROM t" => &[r#"SELECT "age" AS c0 FROM "t""#],
        "SELECT id FROM t WHERE at > TIMESTAMP '2024-01-01 00:00:00'" => {
            &[r#"SELECT "id" AS c0, "at" AS c1 FROM "t""#]
        }
        "SELECT id FROM t WHERE id NOT IN (SELECT id FROM u WHERE age > 3)" => &[
            r#"SELECT "id" AS c0 FROM "t""#,
            r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "age" AS c1 FROM "u") q WHERE (q.c1 > 3)) q"#,
        ],
        "SELECT id FROM t INTERSECT SELECT id FROM u" => &[
            r#"SELECT q.c0 AS c0 FROM (SELECT "id" AS c0 FROM "t") q GROUP BY q.c0"#,
            r#"SELECT "id" AS c0 FROM "u""#,
        ],
        "SELECT id FROM t EXCEPT ALL SELECT id FROM u" => &[
            r#"SELECT "id" AS c0 FROM "t""#,
            r#"SELECT "id" AS c0 FROM "u""#,
        ],
        "SELECT id FROM t UNION SELECT id FROM u" => &[
            r#"SELECT "id" AS c0 FROM "t""#,
            r#"SELECT "id" AS c0 FROM "u""#,
        ],
        "SELECT round(score) FROM t" => &[r#"SELECT "score" AS c0 FROM "t""#],
        other => panic!("no statements written down for {other:?}"),
    }
}

/// A statement as written for PostgreSQL and SQLite, in `kind`'s identifier quotes (for the
/// statements above, which quote nothing else).
fn in_dialect(kind: DatabaseKind, statement: &str) -> String {
    match kind {
        DatabaseKind::Mysql => statement.replace('"', "`"),
        _ => statement.to_owned(),
    }
}

#[tokio::test]
async fn literals_arrive_as_written() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let sql = "SELECT id FROM t WHERE name = 'O''Brien\\ ı LIMIT 1'";
    assert_sent(Postgres, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 = E'O''Brien\\ ı LIMIT 1')) q"#]).await;
    assert_sent(Sqlite, sql, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 = 'O''Brien\ ı LIMIT 1' COLLATE BINARY)) q"#]).await;
    // MySQL reads backslashes as escapes (and its reader drops double quotes)
    assert_kept_local(
        Mysql,
        sql,
        &[r#"SELECT `id` AS c0, `name` AS c1 FROM `t`"#],
        &["Brien"],
    )
    .await;
    let quoted = "SELECT id FROM t WHERE name = 'say \"hi\"'";
    assert_sent(Postgres, quoted, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 = 'say "hi"')) q"#]).await;
    assert_kept_local(
        Mysql,
        quoted,
        &[r#"SELECT `id` AS c0, `name` AS c1 FROM `t`"#],
        &["hi"],
    )
    .await;
    assert_sent(Sqlite, quoted, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "id" AS c0, "name" AS c1 FROM "t") q WHERE (q.c1 = 'say "hi"' COLLATE BINARY)) q"#]).await;
    // dates and decimals are typed; SQLite keeps both as text or floating point
    let typed = "SELECT id FROM t WHERE day < DATE '1950-01-01' AND amount > 1000.50";
    assert_sent(Postgres, typed, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT "id" AS c0, "day" AS c1, "amount" AS c2 FROM "t") q WHERE ((q.c1 < DATE '1950-01-01') AND (q.c2 > CAST('1000.50' AS NUMERIC(10,2))))) q"#]).await;
    assert_sent(Mysql, typed, &[r#"SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT `id` AS c0, `day` AS c1, `amount` AS c2 FROM `t`) q WHERE ((q.c1 < DATE '1950-01-01') AND (q.c2 > CAST('1000.50' AS DECIMAL(10,2))))) q"#]).await;
    assert_kept_local(
        Sqlite,
        typed,
        &[r#"SELECT "id" AS c0, "day" AS c1, "amount" AS c2 FROM "t""#],
        &["1950", "1000"],
    )
    .await;
}

#[tokio::test]
async fn sums_are_exact_or_refused() {
    use DatabaseKind::{Mysql, Postgres, Sqlite};
    let integers = "SELECT sum(id) FROM t";
    assert_sent(
        Postgres,
        integers,
        &[r#"SELECT CAST(sum(q.c0) AS NUMERIC(38,0)) AS c0 FROM (SELECT "id" AS c0 FROM "t") q"#],
    )
    .await;
    assert_sent(
        Mysql,
        integers,
        &[r#"SELECT sum(q.c0) AS c0 FROM (SELECT `id` AS c0 FROM `t`) q"#],
    )
    .await;
    // SQLite stops with an overflow error rather than wrapping
    assert_sent(
        Sqlite,
        integers,
        &[r#"SELECT sum(q.c0) AS c0 FROM (SELECT "id" AS c0 FROM "t") q"#],
    )
    .await;
    let decimals = "SELECT sum(amount) FROM t";
    assert_sent(
        Postgres,
        decimals,
        &[r#"SELECT sum(q.c0) AS c0 FROM (SELECT "amount" AS c0 FROM "t") q"#],
    )
    .await;
    assert_sent(
        Mysql,
        decimals,
        &[r#"SELECT sum(q.c0) AS c0 FROM (SELECT `amount` AS c0 FROM `t`) q"#],
    )
    .await;
    // SQLite keeps decimals as floating point
    assert_kept_local(
        Sqlite,
        decimals,
        &[r#"SELECT "amount" AS c0 FROM "t""#],
        &["sum("],
    )
    .await;
}
