//! The statement guard: what a request may ask, checked on the parsed SQL before planning.
//!
//! A request carries exactly one statement, nesting no deeper than the engine's bound (see
//! [`crate::limits::shape`]). Only `admin` may run anything but a query (DDL,
//! DML, COPY, CREATE EXTERNAL TABLE, SET, PREPARE …). No caller may read files by URL
//! (`SELECT * FROM 'file.parquet'`) or through a table function that reads files; the engine never
//! enables URL tables, and this guard turns such a reference into a clear 403 instead of a
//! confusing "not found".

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{self, ObjectName, TableFactor, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::Dialect;

use crate::error::{EngineError, Result};
use tiaokuai_policies::Caller;

/// Table functions that read no stored data.
const SAFE_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// The tables one statement names, as `schema.table`: `None` if it does not parse or names a
/// table without its schema (which no catalog of this server holds).
pub fn tables_named(sql: &str) -> Option<std::collections::BTreeSet<String>> {
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    tables_of(&parse_one(sql, &dialect).ok()?)
}

/// The tables a parsed statement names, as [`tables_named`] gives them.
pub fn tables_of(statement: &Statement) -> Option<std::collections::BTreeSet<String>> {
    let (tables, _) = datafusion::sql::resolve::resolve_table_references(statement, true).ok()?;
    tables
        .iter()
        .map(|t| t.schema().map(|schema| format!("{schema}.{}", t.table())))
        .collect()
}

/// Parses `sql` into its single statement.
pub fn parse_one(sql: &str, dialect: &dyn Dialect) -> Result<Statement> {
    if sql.trim().is_empty() {
        return Err(EngineError::BadRequest("the SQL text is empty".into()));
    }
    crate::limits::shape::check_text(sql, dialect)?;
    let mut statements = DFParser::parse_sql_with_dialect(sql, dialect)
        .map_err(|e| EngineError::InvalidSql(e.strip_backtrace().into()))?;
    match statements.len() {
        0 => Err(EngineError::BadRequest(
            "the SQL text holds no statement".into(),
        )),
        1 => Ok(statements.pop_front().expect("one statement")),
        n => Err(EngineError::BadRequest(
            format!("the SQL text holds {n} statements; send one statement per request").into(),
        )),
    }
}

/// Rejects what the caller may not run, and statements nesting deeper than `max_depth`.
pub fn check(statement: &Statement, caller: &Caller, max_depth: usize) -> Result<()> {
    crate::limits::shape::check(statement, max_depth)?;
    check_kind(statement, caller)
}

fn check_kind(statement: &Statement, caller: &Caller) -> Result<()> {
    let inner = match statement {
        // EXPLAIN ANALYZE reports the row counts of the scans below the policy filter
        Statement::Explain(explain) if explain.options.analyze && !caller.is_admin() => {
            return Err(EngineError::PermissionDenied(
                "EXPLAIN ANALYZE is reserved for admin: it reports row counts before the policy filter".into(),
            ));
        }
        Statement::Explain(explain) => return check_kind(&explain.statement, caller),
        Statement::Statement(inner) => inner,
        _ if caller.is_admin() => return Ok(()),
        other => return Err(denied_kind(caller, kind_name(other))),
    };
    check_relations(inner)?;
    if caller.is_admin() {
        return Ok(());
    }
    match inner.as_ref() {
        ast::Statement::Query(_)
        | ast::Statement::ShowTables { .. }
        | ast::Statement::ShowColumns { .. }
        | ast::Statement::ExplainTable { .. } => Ok(()),
        other => Err(denied_kind(caller, sql_kind(other))),
    }
}

fn denied_kind(caller: &Caller, kind: String) -> EngineError {
    EngineError::PermissionDenied(
        format!(
            "{kind} statements are reserved for admin; {} may only run queries",
            caller.name()
        )
        .into(),
    )
}

fn kind_name(statement: &Statement) -> String {
    match statement {
        Statement::Statement(inner) => sql_kind(inner),
        Statement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".into(),
        Statement::CopyTo(_) => "COPY".into(),
        Statement::Explain(_) => "EXPLAIN".into(),
        Statement::Reset(_) => "RESET".into(),
    }
}

/// The statement's leading keywords, for messages (`INSERT`, `CREATE TABLE`, `SET`).
fn sql_kind(statement: &ast::Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if matches!(*first, "CREATE" | "DROP" | "ALTER") => {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_owned(),
        [] => "this".into(),
    }
}

/// Rejects URL tables and file-reading table functions anywhere in the statement.
fn check_relations(statement: &ast::Statement) -> Result<()> {
    struct Relations;
    impl Visitor for Relations {
        type Break = EngineError;

        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<EngineError> {
            let verdict = match factor {
                TableFactor::Table {
                    name,
                    args: Some(_),
                    ..
                }
                | TableFactor::Function { name, .. } => table_function(name),
                TableFactor::Table {
                    name, args: None, ..
                } => url_table(name),
                _ => Ok(()),
            };
            match verdict {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }

        fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<EngineError> {
            match duplicate_counting_set_operation(&query.body) {
                Some(operation) => ControlFlow::Break(EngineError::BadRequest(format!(
                    "{operation} ALL is not supported: this engine version counts its duplicate rows wrongly; use {operation} (without ALL) or a join"
                ).into())),
                None => ControlFlow::Continue(()),
            }
        }
    }
    match statement.visit(&mut Relations) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `INTERSECT ALL` or `EXCEPT ALL` anywhere in a query body: DataFusion 55 answers them with
/// wrong duplicate counts, so they are refused rather than answered wrongly.
fn duplicate_counting_set_operation(body: &ast::SetExpr) -> Option<&'static str> {
    match body {
        ast::SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => {
            let all = matches!(
                set_quantifier,
                ast::SetQuantifier::All | ast::SetQuantifier::AllByName
            );
            match op {
                ast::SetOperator::Intersect if all => Some("INTERSECT"),
                ast::SetOperator::Except | ast::SetOperator::Minus if all => Some("EXCEPT"),
                _ => duplicate_counting_set_operation(left)
                    .or_else(|| duplicate_counting_set_operation(right)),
            }
        }
        ast::SetExpr::Query(query) => duplicate_counting_set_operation(&query.body),
        _ => None,
    }
}

fn table_function(name: &ObjectName) -> Result<()> {
    let text = name.to_string().to_ascii_lowercase();
    if SAFE_TABLE_FUNCTIONS.contains(&text.as_str()) {
        Ok(())
    } else {
        Err(EngineError::PermissionDenied(format!(
            "table function {text} is not available: data is read only through registered sources"
        ).into()))
    }
}

/// A one-part table name that looks like a path or URL is an attempt to read a file directly.
fn url_table(name: &ObjectName) -> Result<()> {
    let [part] = name.0.as_slice() else {
        return Ok(());
    };
    let text = part.to_string();
    let looks_like_file = text.contains('/')
        || text.contains('\\')
        || text.contains("://")
        || [".parquet", ".csv", ".json", ".arrow", ".avro", ".ndjson"]
            .iter()
            .any(|ext| {
                text.to_ascii_lowercase()
                    .trim_end_matches(['\'', '"', '`'])
                    .ends_with(ext)
            });
    if looks_like_file {
        Err(EngineError::PermissionDenied(format!(
            "reading files by URL ({text}) is not allowed: data is read only through registered sources"
        ).into()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use tiaokuai_catalog::{Principal, RoleAssignment};

    fn caller(admin: bool) -> Caller {
        Caller {
            within: None,
            principal: Principal {
                id: "p".into(),
                name: "alice".into(),
                created_at: String::new(),
            },
            roles: admin
                .then(|| RoleAssignment {
                    id: "r".into(),
                    principal: "alice".into(),
                    role: "admin".into(),
                    jurisdiction: "*".into(),
                })
                .into_iter()
                .collect(),
        }
    }

    fn verdict(sql: &str, admin: bool) -> Result<()> {
        check(&parse_one(sql, &GenericDialect {})?, &caller(admin), 1000)
    }

    #[test]
    fn one_statement_per_request() {
        assert!(matches!(
            parse_one("", &GenericDialect {}),
            Err(EngineError::BadRequest(_))
        ));
        assert!(matches!(
            parse_one("  ;", &GenericDialect {}),
            Err(EngineError::BadRequest(_)) | Err(EngineError::InvalidSql(_))
        ));
        assert!(matches!(
            parse_one("SELECT 1; SELECT 2", &GenericDialect {}),
            Err(EngineError::BadRequest(_))
        ));
        assert!(matches!(
            parse_one("SELEC 1", &GenericDialect {}),
            Err(EngineError::InvalidSql(_))
        ));
    }

    #[test]
    fn set_operations_that_count_duplicates_wrongly_are_refused() {
        for sql in [
            "SELECT 1 INTERSECT ALL SELECT 1",
            "SELECT 1 EXCEPT ALL SELECT 2",
            "SELECT * FROM (SELECT 1 UNION SELECT 2 EXCEPT ALL SELECT 2) t",
            "SELECT 1 WHERE 1 IN (SELECT 1 INTERSECT ALL SELECT 1)",
        ] {
            for admin in [false, true] {
                assert!(
                    matches!(verdict(sql, admin), Err(EngineError::BadRequest(_))),
                    "{sql}"
                );
            }
        }
        assert!(verdict("SELECT 1 INTERSECT SELECT 1 UNION ALL SELECT 2", false).is_ok());
    }

    #[test]
    fn non_admins_only_query() {
        assert!(verdict("SELECT 1", false).is_ok());
        assert!(verdict("EXPLAIN SELECT 1", false).is_ok());
        for sql in [
            "CREATE TABLE t (a INT)",
            "CREATE VIEW v AS SELECT 1",
            "DROP TABLE village.residents",
            "INSERT INTO village.residents VALUES (1)",
            "DELETE FROM village.residents",
            "UPDATE village.residents SET name = 'x'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'",
            "SET datafusion.execution.batch_size = 1",
            "PREPARE p AS SELECT 1",
            "EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'",
        ] {
            assert!(
                matches!(verdict(sql, false), Err(EngineError::PermissionDenied(_))),
                "{sql} allowed"
            );
            assert!(verdict(sql, true).is_ok(), "{sql} denied to admin");
        }
    }

    #[test]
    fn files_are_never_read_by_url() {
        for sql in [
            "SELECT * FROM 'data/x.parquet'",
            "SELECT * FROM \"/etc/passwd\"",
            "SELECT * FROM 's3://bucket/x.csv'",
            "SELECT * FROM (SELECT * FROM 'x.parquet') t",
            "SELECT * FROM read_parquet('x.parquet')",
            "SELECT * FROM read_csv('/etc/passwd')",
        ] {
            assert!(
                matches!(verdict(sql, false), Err(EngineError::PermissionDenied(_))),
                "{sql} allowed"
            );
            assert!(
                matches!(verdict(sql, true), Err(EngineError::PermissionDenied(_))),
                "{sql} allowed to admin"
            );
        }
        assert!(verdict("SELECT * FROM generate_series(1, 3)", false).is_ok());
        assert!(
            verdict(
                "SELECT * FROM village.residents r JOIN system.jurisdictions j ON true",
                false
            )
            .is_ok()
        );
    }
}
