//! SQLite: text under `COLLATE BINARY`, `LIKE` as a case-sensitive `GLOB`, booleans as 1 and
//! 0, and nothing pushed whose values it keeps as text or floating point (dates, decimals);
//! `LIMIT -1` is the policy fence.

use super::{Dialect, Family, LikePiece, double_quoted, nulls_placed, quoted};

#[derive(Debug)]
pub struct Sqlite;

/// The GLOB pattern (case-sensitive, one character per `?`) of a LIKE pattern.
fn glob(pieces: &[LikePiece]) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            LikePiece::Any => "*".to_owned(),
            LikePiece::One => "?".to_owned(),
            LikePiece::Char(c @ ('*' | '?' | '[')) => format!("[{c}]"),
            LikePiece::Char(c) => c.to_string(),
        })
        .collect()
}

impl Dialect for Sqlite {
    fn label(&self) -> &'static str {
        "SQLite"
    }

    fn identifier(&self, name: &str) -> String {
        double_quoted(name)
    }

    fn schemas(&self) -> bool {
        false
    }

    /// SQLite files are read directly, schemas included.
    fn columns_query(&self, _schema: Option<&str>, _table: &str) -> Option<String> {
        None
    }

    fn column(&self, name: &str, _remote_type: Option<&str>) -> String {
        self.identifier(name)
    }

    fn string(&self, text: &str) -> Option<String> {
        Some(quoted(text))
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value { "1" } else { "0" }
    }

    /// Dates are text in SQLite: their comparisons are not DataFusion's.
    fn date(&self, _iso: &str) -> Option<String> {
        None
    }

    /// Decimals are floating point in SQLite.
    fn decimal(&self, _number: &str, _precision: u8, _scale: i8) -> Option<String> {
        None
    }

    fn compares(&self, family: Family) -> bool {
        !matches!(family, Family::Date | Family::Decimal)
    }

    fn compare_text(&self, left: &str, symbol: &str, right: &str) -> String {
        format!("({left} {symbol} {right} COLLATE BINARY)")
    }

    fn sorts(&self, family: Family) -> bool {
        family != Family::Decimal
    }

    fn text_sort_key(&self, sql: &str) -> String {
        format!("{sql} COLLATE BINARY")
    }

    fn sort_key(&self, sql: &str, ascending: bool, nulls_first: bool) -> String {
        nulls_placed(sql, ascending, nulls_first)
    }

    fn text_group(&self, sql: &str) -> (String, String) {
        (sql.to_owned(), format!("{sql} COLLATE BINARY"))
    }

    fn count_distinct_text(&self, _sql: &str) -> Option<String> {
        None
    }

    fn min_max_text(&self, _function: &str, _sql: &str) -> Option<String> {
        None
    }

    /// SQLite stops with an overflow error rather than wrapping.
    fn sum_integers(&self, sql: &str) -> String {
        format!("sum({sql})")
    }

    /// Decimals are floating point in SQLite: their sums are not exact.
    fn sum_decimals(&self, _sql: &str) -> Option<String> {
        None
    }

    fn char_length(&self, text: &str) -> String {
        format!("length({text})")
    }

    fn substr(&self, text: &str, start: u64, length: u64) -> String {
        format!("substr({text}, {start}, {length})")
    }

    fn concat(&self, parts: &[String]) -> String {
        format!("({})", parts.join(" || "))
    }

    /// SQLite's `LIKE` ignores ASCII case: its `GLOB` matches the same pattern with case.
    fn like(&self, subject: &str, _pattern: &str, pieces: &[LikePiece]) -> Option<String> {
        Some(format!("{subject} GLOB {}", quoted(&glob(pieces))))
    }

    fn full_join(&self) -> bool {
        true
    }

    fn offset_only(&self, skip: usize) -> String {
        format!("LIMIT -1 OFFSET {skip}")
    }

    /// SQLite neither flattens a subquery with a `LIMIT` into an outer query that filters or
    /// joins it, nor pushes the outer `WHERE` into it.
    fn fence(&self) -> String {
        "LIMIT -1".to_owned()
    }
}
