//! MySQL and MariaDB: text compared, ordered and grouped as the `BINARY` value of its UTF-8
//! bytes (the default collations ignore case, accents and trailing spaces), no `NULLS FIRST`,
//! no `FULL JOIN`, and the largest `LIMIT` as the policy fence.

use super::{Dialect, Family, LikePiece, direction, quoted};

#[derive(Debug)]
pub struct Mysql;

/// The largest row count MySQL's `LIMIT` takes: no limit at all.
const NO_LIMIT: &str = "18446744073709551615";

/// The UTF-8 bytes of a MySQL text value, compared without collation or padding.
fn bytes(sql: &str) -> String {
    format!("CAST(CONVERT({sql} USING utf8mb4) AS BINARY)")
}

/// Bytes taken by [`bytes`] as UTF-8 text again, so that what is computed on them above (a
/// length, say) counts characters, not bytes.
fn text(bytes: &str) -> String {
    format!("CONVERT({bytes} USING utf8mb4)")
}

impl Dialect for Mysql {
    fn label(&self) -> &'static str {
        "MySQL"
    }

    fn identifier(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn schemas(&self) -> bool {
        true
    }

    fn columns_query(&self, schema: Option<&str>, table: &str) -> Option<String> {
        Some(format!(
            "SELECT CAST(column_name AS CHAR(64)), CAST(column_type AS CHAR(255)) FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
            schema.map_or_else(|| "DATABASE()".to_owned(), quoted),
            quoted(table)
        ))
    }

    fn column(&self, name: &str, _remote_type: Option<&str>) -> String {
        self.identifier(name)
    }

    /// The MySQL reader strips every double quote from the statement, and backslashes are
    /// escapes unless the server says otherwise: such text is not written at all (nor a NUL,
    /// which a `LIKE` pattern could hold).
    fn string(&self, text: &str) -> Option<String> {
        (!text.contains(['"', '\\', '\0'])).then(|| quoted(text))
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value { "TRUE" } else { "FALSE" }
    }

    fn date(&self, iso: &str) -> Option<String> {
        Some(format!("DATE '{iso}'"))
    }

    fn decimal(&self, number: &str, precision: u8, scale: i8) -> Option<String> {
        Some(format!("CAST('{number}' AS DECIMAL({precision},{scale}))"))
    }

    fn compares(&self, _family: Family) -> bool {
        true
    }

    fn compare_text(&self, left: &str, symbol: &str, right: &str) -> String {
        format!("({} {symbol} {})", bytes(left), bytes(right))
    }

    fn sorts(&self, _family: Family) -> bool {
        true
    }

    fn text_sort_key(&self, sql: &str) -> String {
        bytes(sql)
    }

    /// MySQL has no `NULLS FIRST`/`LAST`: the key sorts on "is null" first.
    fn sort_key(&self, sql: &str, ascending: bool, nulls_first: bool) -> String {
        format!(
            "({sql}) IS NULL {}, {sql} {}",
            if nulls_first { "DESC" } else { "ASC" },
            direction(ascending)
        )
    }

    /// The collations group 'Li' with 'li' and 'a' with 'a ': the bytes are grouped, and
    /// selected as text again.
    fn text_group(&self, sql: &str) -> (String, String) {
        (text(&bytes(sql)), bytes(sql))
    }

    fn count_distinct_text(&self, sql: &str) -> Option<String> {
        Some(format!("count(DISTINCT {})", bytes(sql)))
    }

    fn min_max_text(&self, function: &str, sql: &str) -> Option<String> {
        Some(text(&format!("{function}({})", bytes(sql))))
    }

    /// MySQL sums integers into a decimal.
    fn sum_integers(&self, sql: &str) -> String {
        format!("sum({sql})")
    }

    fn sum_decimals(&self, sql: &str) -> Option<String> {
        Some(format!("sum({sql})"))
    }

    fn char_length(&self, text: &str) -> String {
        format!("CHAR_LENGTH({text})")
    }

    fn substr(&self, text: &str, start: u64, length: u64) -> String {
        format!("SUBSTRING({text}, {start}, {length})")
    }

    fn concat(&self, parts: &[String]) -> String {
        format!("CONCAT({})", parts.join(", "))
    }

    /// `LIKE` on bytes: `%` is safe on UTF-8, `_` would match one byte; escapes and quotes are
    /// not written for MySQL at all.
    fn like(&self, subject: &str, pattern: &str, pieces: &[LikePiece]) -> Option<String> {
        if pieces.iter().any(|p| {
            matches!(p, LikePiece::One)
                || matches!(p, LikePiece::Char(c) if *c == '\\' || *c == '"')
        }) || pattern.contains('\\')
        {
            return None;
        }
        Some(format!(
            "{} LIKE {}",
            bytes(subject),
            bytes(&self.string(pattern)?)
        ))
    }

    fn full_join(&self) -> bool {
        false
    }

    fn offset_only(&self, skip: usize) -> String {
        format!("LIMIT {NO_LIMIT} OFFSET {skip}")
    }

    /// A derived table with a `LIMIT` is neither merged into the outer query nor given its
    /// conditions, in MySQL and in MariaDB.
    fn fence(&self) -> String {
        format!("LIMIT {NO_LIMIT}")
    }
}
