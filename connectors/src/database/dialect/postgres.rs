//! PostgreSQL: text ordered under `COLLATE "C"`, string literals that mean the same whatever
//! `standard_conforming_strings` is, and `OFFSET 0` as the policy fence.

use super::{Dialect, Family, LikePiece, double_quoted, nulls_placed, quoted};

#[derive(Debug)]
pub struct Postgres;

/// A PostgreSQL string literal that means the same whatever `standard_conforming_strings` is.
fn string_literal(text: &str) -> String {
    if text.contains('\\') {
        format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        quoted(text)
    }
}

impl Dialect for Postgres {
    fn label(&self) -> &'static str {
        "PostgreSQL"
    }

    fn identifier(&self, name: &str) -> String {
        double_quoted(name)
    }

    fn schemas(&self) -> bool {
        true
    }

    fn columns_query(&self, schema: Option<&str>, table: &str) -> Option<String> {
        Some(format!(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
            quoted(schema.unwrap_or("public")),
            quoted(table)
        ))
    }

    /// A blank-padded `character(n)` is read as its text value, whose comparisons then mean
    /// the same as DataFusion's.
    fn column(&self, name: &str, remote_type: Option<&str>) -> String {
        match remote_type {
            Some("character") => format!("CAST({} AS text)", self.identifier(name)),
            _ => self.identifier(name),
        }
    }

    fn string(&self, text: &str) -> Option<String> {
        Some(string_literal(text))
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value { "TRUE" } else { "FALSE" }
    }

    fn date(&self, iso: &str) -> Option<String> {
        Some(format!("DATE '{iso}'"))
    }

    fn decimal(&self, number: &str, precision: u8, scale: i8) -> Option<String> {
        Some(format!("CAST('{number}' AS NUMERIC({precision},{scale}))"))
    }

    fn compares(&self, _family: Family) -> bool {
        true
    }

    /// Equality is by bytes under any deterministic collation; ordering needs `"C"`.
    fn compare_text(&self, left: &str, symbol: &str, right: &str) -> String {
        if matches!(symbol, "=" | "<>") {
            format!("({left} {symbol} {right})")
        } else {
            format!("({left} {symbol} {right} COLLATE \"C\")")
        }
    }

    fn sorts(&self, _family: Family) -> bool {
        true
    }

    fn text_sort_key(&self, sql: &str) -> String {
        format!("{sql} COLLATE \"C\"")
    }

    fn sort_key(&self, sql: &str, ascending: bool, nulls_first: bool) -> String {
        nulls_placed(sql, ascending, nulls_first)
    }

    fn text_group(&self, sql: &str) -> (String, String) {
        (sql.to_owned(), sql.to_owned())
    }

    fn count_distinct_text(&self, sql: &str) -> Option<String> {
        Some(format!("count(DISTINCT {sql})"))
    }

    fn min_max_text(&self, function: &str, sql: &str) -> Option<String> {
        Some(format!("{function}({sql} COLLATE \"C\")"))
    }

    /// The sum of integers is an untyped numeric: a scale of 0 makes it arrive whole.
    fn sum_integers(&self, sql: &str) -> String {
        format!("CAST(sum({sql}) AS NUMERIC(38,0))")
    }

    fn sum_decimals(&self, sql: &str) -> Option<String> {
        Some(format!("sum({sql})"))
    }

    fn char_length(&self, text: &str) -> String {
        format!("char_length({text})")
    }

    fn substr(&self, text: &str, start: u64, length: u64) -> String {
        format!("substr({text}, {start}, {length})")
    }

    fn concat(&self, parts: &[String]) -> String {
        format!("({})", parts.join(" || "))
    }

    /// The pattern as written, with DataFusion's escape character named.
    fn like(&self, subject: &str, pattern: &str, _pieces: &[LikePiece]) -> Option<String> {
        Some(format!(
            "{subject} LIKE {} ESCAPE E'\\\\'",
            string_literal(pattern)
        ))
    }

    fn full_join(&self) -> bool {
        true
    }

    fn offset_only(&self, skip: usize) -> String {
        format!("OFFSET {skip}")
    }

    /// PostgreSQL never flattens a subquery with `OFFSET` (even 0) into its parent, nor
    /// pushes the parent's quals into it.
    fn fence(&self) -> String {
        "OFFSET 0".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals() {
        assert_eq!(string_literal(r"a\b'c"), r"E'a\\b''c'");
        assert_eq!(string_literal("张三"), "'张三'");
    }
}
