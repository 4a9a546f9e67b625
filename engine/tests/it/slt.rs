//! A small sqllogictest-style runner for the attack files.
//!
//! ```text
//! # comment
//! query [rowsort] as <principal>
//! <sql, one or more lines>
//! ----
//! <expected rows: values separated by " | ", NULL for null>
//!
//! error <EngineError variant> as <principal>
//! <sql>
//!
//! explain as <principal>
//! <sql>
//! ----
//! + <text the EXPLAIN output must contain>
//! - <text it must not contain>
//!
//! policy
//! <p and g lines that replace the whole policy>
//!
//! policy invalid
//! <lines that must be refused, leaving the policy as it was>
//! ```
//!
//! Expected output is written by the runner itself: run with `TIAOKUAI_SLT_COMPLETE=1` to
//! rewrite every `query` record's rows from the actual answers (then review the diff).

use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;

#[derive(Debug)]
enum Record {
    Query {
        sort: bool,
        principal: String,
        sql: String,
        expected: Vec<String>,
    },
    Error {
        variant: String,
        principal: String,
        sql: String,
    },
    Explain {
        principal: String,
        sql: String,
        checks: Vec<String>,
    },
    Policy {
        text: String,
        invalid: bool,
    },
    Comment(String),
}

fn parse(text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut block = |stop_at_dashes: bool| {
            let mut body = Vec::new();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() || (stop_at_dashes && next.trim() == "----") {
                    break;
                }
                body.push(lines.next().unwrap().to_owned());
            }
            body
        };
        match words.as_slice() {
            [] => {}
            [first, ..] if first.starts_with('#') => records.push(Record::Comment(line.to_owned())),
            ["query", rest @ ..] => {
                let (sort, rest) = match rest {
                    ["rowsort", rest @ ..] => (true, rest),
                    rest => (false, rest),
                };
                let ["as", principal] = rest else {
                    panic!("bad query header: {line}")
                };
                let sql = block(true).join("\n");
                let mut expected = Vec::new();
                if lines.peek().map(|l| l.trim()) == Some("----") {
                    lines.next();
                    while let Some(next) = lines.peek() {
                        if next.trim().is_empty() {
                            break;
                        }
                        expected.push(lines.next().unwrap().to_owned());
                    }
                }
                records.push(Record::Query {
                    sort,
                    principal: (*principal).to_owned(),
                    sql,
                    expected,
                });
            }
            ["error", variant, "as", principal] => {
                let sql = block(false).join("\n");
                records.push(Record::Error {
                    variant: (*variant).to_owned(),
                    principal: (*principal).to_owned(),
                    sql,
                });
            }
            ["explain", "as", principal] => {
                let sql = block(true).join("\n");
                assert_eq!(
                    lines.next().map(str::trim),
                    Some("----"),
                    "explain needs ---- and checks"
                );
                let mut checks = Vec::new();
                while let Some(next) = lines.peek() {
                    if next.trim().is_empty() {
                        break;
                    }
                    checks.push(lines.next().unwrap().to_owned());
                }
                records.push(Record::Explain {
                    principal: (*principal).to_owned(),
                    sql,
                    checks,
                });
            }
            ["policy"] => records.push(Record::Policy {
                text: block(false).join("\n"),
                invalid: false,
            }),
            ["policy", "invalid"] => records.push(Record::Policy {
                text: block(false).join("\n"),
                invalid: true,
            }),
            _ => panic!("unrecognised line: {line}"),
        }
    }
    records
}

fn render(batches: &[RecordBatch]) -> Vec<String> {
    render_with(
        batches,
        &FormatOptions::default().with_null("NULL"),
        |_, row, formatter| formatter.value(row).to_string(),
    )
}

/// Each row as its cells joined by ` | `, every cell written by `cell`.
pub fn render_with(
    batches: &[RecordBatch],
    options: &FormatOptions<'_>,
    cell: impl Fn(&dyn Array, usize, &ArrayFormatter) -> String,
) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| cell(column.as_ref(), row, formatter))
                .collect();
            rows.push(cells.join(" | "));
        }
    }
    rows
}

fn write_back(records: &[Record]) -> String {
    let mut out = String::new();
    for record in records {
        match record {
            Record::Comment(line) => {
                writeln!(out, "{line}").unwrap();
                continue;
            }
            Record::Query {
                sort,
                principal,
                sql,
                expected,
            } => {
                writeln!(
                    out,
                    "query {}as {principal}\n{sql}\n----",
                    if *sort { "rowsort " } else { "" }
                )
                .unwrap();
                for row in expected {
                    writeln!(out, "{row}").unwrap();
                }
            }
            Record::Error {
                variant,
                principal,
                sql,
            } => writeln!(out, "error {variant} as {principal}\n{sql}").unwrap(),
            Record::Explain {
                principal,
                sql,
                checks,
            } => writeln!(
                out,
                "explain as {principal}\n{sql}\n----\n{}",
                checks.join("\n")
            )
            .unwrap(),
            Record::Policy { text, invalid } => writeln!(
                out,
                "policy{}\n{text}",
                if *invalid { " invalid" } else { "" }
            )
            .unwrap(),
        }
        out.push('\n');
    }
    out
}

/// Runs one file against a fresh world; returns the failures (empty when all pass).
pub async fn run(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut records = parse(&text);
    let complete = std::env::var_os("TIAOKUAI_SLT_COMPLETE").is_some();
    let world = crate::fixture::world().await;
    let admin = world.caller("admin").await;
    let mut failures = Vec::new();
    for record in &mut records {
        match record {
            Record::Comment(_) => {}
            Record::Policy {
                text,
                invalid: false,
            } => world.engine.import_policy(&admin, text).await.unwrap(),
            Record::Policy {
                text,
                invalid: true,
            } => {
                let before = world.engine.export_policy().await.unwrap();
                if world.engine.import_policy(&admin, text).await.is_ok() {
                    failures.push(format!(
                        "{}: policy accepted but should be refused:\n{text}",
                        path.display()
                    ));
                }
                if world.engine.export_policy().await.unwrap() != before {
                    failures.push(format!(
                        "{}: a refused policy changed the stored policy",
                        path.display()
                    ));
                }
            }
            Record::Explain {
                principal,
                sql,
                checks,
            } => {
                let caller = world.caller(principal).await;
                let output = world
                    .engine
                    .query(&caller, sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
                let batches: Vec<RecordBatch> = output.stream.try_collect().await.unwrap();
                let text = render(&batches).join("\n");
                for check in checks.iter() {
                    let (wanted, needle) = match check.split_at(2) {
                        ("+ ", needle) => (true, needle),
                        ("- ", needle) => (false, needle),
                        _ => panic!("explain checks start with '+ ' or '- ': {check}"),
                    };
                    if text.contains(needle) != wanted {
                        failures.push(format!(
                            "{}: as {principal}\n{sql}\ncheck failed: {check}\noutput:\n{text}",
                            path.display()
                        ));
                    }
                }
            }
            Record::Query {
                sort,
                principal,
                sql,
                expected,
            } => {
                let caller = world.caller(principal).await;
                let actual = match world.engine.query(&caller, sql, &[]).await {
                    Ok(output) => {
                        let batches: Vec<RecordBatch> =
                            output.stream.try_collect().await.unwrap_or_else(|e| {
                                panic!(
                                    "{}: {sql} as {principal}: failed mid-stream: {e}",
                                    path.display()
                                )
                            });
                        let mut rows = render(&batches);
                        if *sort {
                            rows.sort();
                        }
                        rows
                    }
                    Err(error) => vec![format!("ERROR {error:?}")],
                };
                if complete {
                    *expected = actual;
                } else if *expected != actual {
                    failures.push(format!(
                        "{}: as {principal}\n{sql}\nexpected:\n  {}\nactual:\n  {}",
                        path.display(),
                        expected.join("\n  "),
                        actual.join("\n  ")
                    ));
                }
            }
            Record::Error {
                variant,
                principal,
                sql,
            } => {
                let caller = world.caller(principal).await;
                let outcome = match world.engine.query(&caller, sql, &[]).await {
                    Ok(output) => match output.stream.try_collect::<Vec<RecordBatch>>().await {
                        Ok(batches) => format!("rows {:?}", render(&batches)),
                        Err(e) => format!("mid-stream {e}"),
                    },
                    Err(error) => format!("{error:?}"),
                };
                if !outcome.starts_with(&format!("{variant}(")) {
                    failures.push(format!(
                        "{}: as {principal}\n{sql}\nexpected error {variant}, got {outcome}",
                        path.display()
                    ));
                }
            }
        }
    }
    if complete {
        std::fs::write(path, write_back(&records)).unwrap();
    }
    failures
}
