//! One SQL dialect per database: everything the pushdown writes differently for each kind of
//! database, behind one interface that the database-independent writer ([`super::writer`])
//! asks. A dialect answers for one construct at a time, and answers `None` (or `false`) where
//! its database would compute something other than DataFusion: that construct then runs
//! locally, over rows the database sends.
//!
//! # A new dialect's checklist
//!
//! Adding a database (a PostgreSQL-compatible one such as openGauss or KingbaseES, or Dameng)
//! is one file here with a unit type implementing [`Dialect`], plus its place in
//! [`super::spec::DatabaseKind`] (its name, URL scheme and [`dialect`](super::spec::DatabaseKind::dialect)),
//! its connection pool in `open.rs` and its run of the differential corpus. The rule for every
//! method: **the database computes exactly what DataFusion computes, or the construct stays
//! local.** "Exactly" includes NULLs, text comparison by bytes (no collation, no case folding, no
//! padding), overflow, rounding and time zones. When in doubt, decline: a declined construct
//! costs rows sent, a wrong one costs a wrong answer.
//!
//! The methods, and what each must guarantee:
//!
//! - [`label`](Dialect::label): the database's name in messages.
//! - [`identifier`](Dialect::identifier): a quoted identifier that names exactly `name`,
//!   whatever it holds (its quote characters doubled).
//! - [`schemas`](Dialect::schemas): whether a table is named `schema.table`.
//! - [`columns_query`](Dialect::columns_query): the statement that lists a table's columns and
//!   their declared types, as text, in column order; `None` where the connector reads the
//!   schema otherwise (SQLite files are read directly).
//! - [`column`](Dialect::column): how a column is read so that its values are what DataFusion
//!   sees (PostgreSQL's blank-padded `character(n)` is read as `text`).
//! - [`string`](Dialect::string), [`boolean`](Dialect::boolean), [`date`](Dialect::date),
//!   [`decimal`](Dialect::decimal): literals that the database reads back as the very same value
//!   and type, whatever its settings (`standard_conforming_strings`, `NO_BACKSLASH_ESCAPES`);
//!   `None` for a literal it could misread.
//! - [`compares`](Dialect::compares): whether `=`, `<>`, `<`, `<=`, `>`, `>=` on a family of
//!   values give DataFusion's answer (SQLite keeps dates as text and decimals as floating point).
//! - [`compare_text`](Dialect::compare_text): a text comparison by UTF-8 bytes.
//! - [`sorts`](Dialect::sorts), [`text_sort_key`](Dialect::text_sort_key),
//!   [`sort_key`](Dialect::sort_key): ordering as DataFusion orders, text by bytes, with `NULLS
//!   FIRST`/`LAST` as asked (emulated where the database lacks the clause).
//! - [`text_group`](Dialect::text_group): grouping text by bytes, and selecting the group's text.
//! - [`count_distinct_text`](Dialect::count_distinct_text),
//!   [`min_max_text`](Dialect::min_max_text): distinct counts and extremes of text by bytes.
//! - [`sum_integers`](Dialect::sum_integers): an exact sum of integers that arrives whole, or an
//!   error on overflow; never a wrapped or floating-point sum.
//! - [`sum_decimals`](Dialect::sum_decimals): an exact sum of decimals, or `None`.
//! - [`char_length`](Dialect::char_length), [`substr`](Dialect::substr),
//!   [`concat`](Dialect::concat): lengths and positions in characters, not bytes.
//! - [`like`](Dialect::like): a case-sensitive `LIKE` that matches one character per `_`.
//! - [`full_join`](Dialect::full_join): whether the database has `FULL JOIN`.
//! - [`offset_only`](Dialect::offset_only): an offset without a limit.
//! - [`fence`](Dialect::fence): the clause that makes a derived table a policy fence (see
//!   [`super::fence`]): one the database's planner neither merges into the query around it nor
//!   pushes that query's predicates into, so that the caller's predicates only ever see the rows
//!   and masked values the policy lets through. Check it in the database's planner's own
//!   documentation, and with `EXPLAIN` on a fenced query; nothing else here is as important.
//!
//! What the writer assumes of every database, without asking: `SELECT … FROM (…) q` derived
//! tables, `AS` aliases, `count(*)`, `count`, `min` and `max` of integers, decimals and dates,
//! `count(DISTINCT …)` of non-text values, `IS [NOT] NULL`, `AND`/`OR`/`NOT`, searched `CASE`,
//! `COALESCE`, inner, left and right joins with `ON`, `GROUP BY`, `ORDER BY`, `LIMIT n` and
//! `LIMIT n OFFSET m`, integer literals and `NULL`. A database that differs in one of these
//! needs a new method here first.
//!
//! The differential test to add: register the database in `engine/tests/it/differential.rs`
//! (a scratch database, the corpus's tables loaded through its own dialect of
//! `differential_data.rs`, a schema of its own in `KINDS` and in the `MIXES`), so that all 177
//! queries run on it, alone and mixed with the other kinds, and must agree with Parquet read by
//! DataFusion itself; give it its statements in the corpus's `KEPT_LOCAL`; add its expected
//! statements to `connectors/src/database/tests.rs`; and run a source of it through the
//! server's end-to-end pushdown test (`server/tests/it/database_sources.rs`).

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use datafusion::arrow::datatypes::DataType;

/// Families of types that compare alike everywhere tiaokuai pushes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Integer,
    Text,
    Date,
    Decimal,
    Boolean,
}

impl Family {
    /// The family of an Arrow type; `None` for types never pushed (floats, timestamps, …).
    pub fn of(data_type: &DataType) -> Option<Self> {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => Some(Self::Integer),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Self::Text),
            DataType::Date32 => Some(Self::Date),
            DataType::Decimal128(_, _) => Some(Self::Decimal),
            DataType::Boolean => Some(Self::Boolean),
            _ => None,
        }
    }
}

/// One piece of a `LIKE` pattern, as DataFusion reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum LikePiece {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    Char(char),
}

/// A standard SQL string literal: the text in single quotes, its single quotes doubled.
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A standard SQL identifier: the name in double quotes, its double quotes doubled.
pub fn double_quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `sql ASC|DESC NULLS FIRST|LAST`, for databases that have the standard clause.
pub fn nulls_placed(sql: &str, ascending: bool, nulls_first: bool) -> String {
    format!(
        "{sql} {} NULLS {}",
        direction(ascending),
        if nulls_first { "FIRST" } else { "LAST" }
    )
}

pub fn direction(ascending: bool) -> &'static str {
    if ascending { "ASC" } else { "DESC" }
}

/// How one database writes what the pushdown sends it. Arguments named `sql` (and `left`,
/// `right`, `subject`, `text`) are SQL expressions the writer has already written; every method
/// answers with SQL, or declines with `None` / `false`. See the module's checklist.
pub trait Dialect: Send + Sync + std::fmt::Debug {
    /// The database's name in messages ("PostgreSQL").
    fn label(&self) -> &'static str;

    /// `name` as a quoted identifier.
    fn identifier(&self, name: &str) -> String;

    /// Whether a table may be named `schema.table`.
    fn schemas(&self) -> bool;

    /// The statement listing `table`'s columns and their types, both as text, in order; `None`
    /// where schemas are not read through SQL.
    fn columns_query(&self, schema: Option<&str>, table: &str) -> Option<String>;

    /// How the column `name`, of the database type `remote_type`, is selected.
    fn column(&self, name: &str, remote_type: Option<&str>) -> String;

    /// A string literal that reads back as `text` (which holds no NUL); `None` if it could be
    /// misread.
    fn string(&self, text: &str) -> Option<String>;

    fn boolean(&self, value: bool) -> &'static str;

    /// A date literal of `iso` (`YYYY-MM-DD`), or `None` where dates are not compared.
    fn date(&self, iso: &str) -> Option<String>;

    /// An exact decimal literal of `number` with DataFusion's precision and scale, or `None`.
    fn decimal(&self, number: &str, precision: u8, scale: i8) -> Option<String>;

    /// Whether comparisons of values of `family` give DataFusion's answer.
    fn compares(&self, family: Family) -> bool;

    /// `left symbol right` for text, compared by bytes; `symbol` is one of `=`, `<>`, `<`,
    /// `<=`, `>`, `>=`. The answer is parenthesised.
    fn compare_text(&self, left: &str, symbol: &str, right: &str) -> String;

    /// Whether ordering by values of `family` is DataFusion's order.
    fn sorts(&self, family: Family) -> bool;

    /// A text sort key that orders by bytes.
    fn text_sort_key(&self, sql: &str) -> String;

    /// One `ORDER BY` key, with its direction and where its NULLs go.
    fn sort_key(&self, sql: &str, ascending: bool, nulls_first: bool) -> String;

    /// For a text grouping key: what is selected for the group, and what is grouped by.
    fn text_group(&self, sql: &str) -> (String, String);

    /// `count(DISTINCT sql)` of text, distinct by bytes; `None` if it cannot be.
    fn count_distinct_text(&self, sql: &str) -> Option<String>;

    /// `min(sql)` or `max(sql)` (`function` names which) of text by bytes, as text.
    fn min_max_text(&self, function: &str, sql: &str) -> Option<String>;

    /// The exact sum of integers, arriving as a whole decimal (or an overflow error).
    fn sum_integers(&self, sql: &str) -> String;

    /// The exact sum of decimals, or `None`.
    fn sum_decimals(&self, sql: &str) -> Option<String>;

    /// The length of text in characters.
    fn char_length(&self, text: &str) -> String;

    /// `length` characters of text from the 1-based character position `start`.
    fn substr(&self, text: &str, start: u64, length: u64) -> String;

    /// The parts (text that is never NULL) joined.
    fn concat(&self, parts: &[String]) -> String;

    /// `subject LIKE pattern`, case-sensitive, given the pattern as written and as read; not
    /// parenthesised. `None` for a pattern the database would match differently.
    fn like(&self, subject: &str, pattern: &str, pieces: &[LikePiece]) -> Option<String>;

    /// Whether the database has `FULL JOIN`.
    fn full_join(&self) -> bool;

    /// The clause that skips `skip` rows without limiting the rest.
    fn offset_only(&self, skip: usize) -> String;

    /// The clause that closes a policy fence's derived table (see the checklist).
    fn fence(&self) -> String;
}
