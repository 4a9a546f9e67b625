//! Writing a logical sub-plan as SQL for one database, or declining to.
//!
//! tiaokuai writes remote SQL itself, for a deliberately small set of constructs, each only
//! where the database computes exactly what DataFusion computes locally. Everything else
//! answers `None` and runs locally. The rules that matter:
//!
//! - Text is compared, ordered and grouped by bytes, as DataFusion does: PostgreSQL gets
//!   `COLLATE "C"` for ordering, MySQL compares `BINARY` values of the UTF-8 text (its default
//!   collations ignore case, accents and trailing spaces) and groups them, SQLite gets
//!   `COLLATE BINARY`. MySQL never applies a `LIKE` with `_` (which would match one byte there).
//! - Nothing whose overflow, rounding, NULL or time-zone rules differ is pushed: no arithmetic,
//!   no division, no floats, no timestamps, no `avg`, no `NOT IN`/`INTERSECT`/`EXCEPT`, no
//!   string functions (their case mappings differ).
//! - An ordered fragment is always the outermost `SELECT`: an order inside a derived table is
//!   not an order. `LIMIT` without `ORDER BY` may pick any rows, as locally.
//! - Every string literal is written so that the database reads back the same characters
//!   (`E'…'` for PostgreSQL backslashes); a literal MySQL could misread (backslash, double
//!   quote) is not pushed.
//! - A policy fence (the caller's visible rows, with masks) becomes a derived table the
//!   database may not merge with or push predicates into (`OFFSET 0`, `LIMIT -1`, MySQL's
//!   maximal `LIMIT`), so the caller's predicates run only on visible rows there too.
//!
//! Every fragment's output columns are named `c0, c1, …` in the order of its plan's schema.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::NullEquality;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, Alias, InList, Like, ScalarFunction};
use datafusion::logical_expr::logical_plan::{FetchType, SkipType};
use datafusion::logical_expr::{
    Aggregate, Between, BinaryExpr, Case, Cast, Expr, ExprSchemable, Filter, Join, JoinType, Limit,
    LogicalPlan, Operator, Projection, Sort, SortExpr, TableScan,
};

use super::spec::DatabaseKind;
use crate::error::{ConnectorError, Result};

/// A table inside a database: `schema.table` or `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteName {
    pub schema: Option<String>,
    pub table: String,
}

fn valid_identifier(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 128
        && !part
            .chars()
            .any(|c| c.is_control() || matches!(c, '"' | '`' | '\'' | '\\' | '.'))
}

impl RemoteName {
    pub fn parse(kind: DatabaseKind, text: &str) -> Result<Self> {
        let (schema, table) = match text.split_once('.') {
            Some((schema, table)) => (Some(schema.to_owned()), table.to_owned()),
            None => (None, text.to_owned()),
        };
        let parts_ok = valid_identifier(&table) && schema.as_deref().is_none_or(valid_identifier);
        if !parts_ok {
            return Err(ConnectorError::invalid(format!(
                "remote table {text:?}: give \"table\" or \"schema.table\", without quotes, dots or backslashes inside names"
            )));
        }
        if kind == DatabaseKind::Sqlite && schema.is_some() {
            return Err(ConnectorError::invalid(format!(
                "remote table {text:?}: a SQLite table is named without a schema"
            )));
        }
        Ok(Self { schema, table })
    }

    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }

    fn sql(&self, kind: DatabaseKind) -> String {
        let mut out = String::new();
        if let Some(schema) = &self.schema {
            out.push_str(&ident(kind, schema));
            out.push('.');
        }
        out.push_str(&ident(kind, &self.table));
        out
    }
}

/// A quoted identifier.
pub fn ident(kind: DatabaseKind, name: &str) -> String {
    match kind {
        DatabaseKind::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The statement that lists a table's columns and their database types.
pub fn columns_query(kind: DatabaseKind, name: &RemoteName) -> String {
    match kind {
        DatabaseKind::Postgres => format!(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
            quote(name.schema.as_deref().unwrap_or("public")),
            quote(&name.table)
        ),
        _ => format!(
            "SELECT CAST(column_name AS CHAR(64)), CAST(column_type AS CHAR(255)) FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
            name.schema
                .as_deref()
                .map_or_else(|| "DATABASE()".to_owned(), quote),
            quote(&name.table)
        ),
    }
}

/// How a table's column is read: its quoted name, or for PostgreSQL's blank-padded
/// `character(n)` the text value, whose comparisons then mean the same as DataFusion's.
pub fn column_select(kind: DatabaseKind, name: &str, remote_type: Option<&str>) -> String {
    match (kind, remote_type) {
        (DatabaseKind::Postgres, Some("character")) => {
            format!("CAST({} AS text)", ident(kind, name))
        }
        _ => ident(kind, name),
    }
}

/// `SELECT` of the given column expressions of a table, named `c0, c1, …`; with no column,
/// one placeholder so the statement still counts rows.
pub fn scan_statement(kind: DatabaseKind, name: &RemoteName, columns: &[&str]) -> String {
    let items = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS c{i}"))
        .collect();
    format!("SELECT {} FROM {}", select_list(items), name.sql(kind))
}

fn select_list(items: Vec<String>) -> String {
    if items.is_empty() {
        "1 AS c_rows".to_owned()
    } else {
        items.join(", ")
    }
}

/// What the writer needs to know about the plan's leaves.
pub trait Leaves {
    /// For a scan of this database's table: its remote name and how each of the table's
    /// fields is selected (see [`column_select`]), in field order.
    fn table(&self, scan: &TableScan) -> Option<(RemoteName, Vec<String>)>;

    /// For a policy fence: its input.
    fn fence<'a>(&self, plan: &'a LogicalPlan) -> Option<&'a LogicalPlan>;
}

/// One written fragment.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub sql: String,
    /// For a fragment that ends in `ORDER BY`, its parts: nothing may wrap it in another
    /// `SELECT`, but a projection or a limit above it joins the same `SELECT`.
    pub ordered: Option<Ordered>,
}

/// `SELECT items FROM (inner) q ORDER BY keys LIMIT … OFFSET …`.
#[derive(Debug, Clone)]
pub struct Ordered {
    items: Vec<String>,
    inner: String,
    keys: String,
    skip: usize,
    fetch: Option<usize>,
}

impl Fragment {
    fn plain(sql: String) -> Self {
        Self { sql, ordered: None }
    }
}

/// Writes SQL for `kind`.
pub struct Writer<'a> {
    pub kind: DatabaseKind,
    pub leaves: &'a dyn Leaves,
}

/// How columns of the input(s) are named inside a `SELECT`.
struct Scope<'a> {
    inputs: Vec<(&'a DFSchema, &'static str)>,
    schema: DFSchema,
}

impl<'a> Scope<'a> {
    fn one(schema: &'a DFSchema) -> Self {
        Self {
            inputs: vec![(schema, "q")],
            schema: schema.clone(),
        }
    }

    fn two(left: &'a DFSchema, right: &'a DFSchema) -> Option<Self> {
        Some(Self {
            inputs: vec![(left, "l"), (right, "r")],
            schema: left.join(right).ok()?,
        })
    }

    fn column(&self, column: &Column) -> Option<String> {
        self.inputs.iter().find_map(|(schema, alias)| {
            schema
                .maybe_index_of_column(column)
                .map(|i| format!("{alias}.c{i}"))
        })
    }
}

/// Families of types that compare alike everywhere tiaokuai pushes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Integer,
    Text,
    Date,
    Decimal,
    Boolean,
}

fn family(data_type: &DataType) -> Option<Family> {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Some(Family::Integer),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Family::Text),
        DataType::Date32 => Some(Family::Date),
        DataType::Decimal128(_, _) => Some(Family::Decimal),
        DataType::Boolean => Some(Family::Boolean),
        _ => None,
    }
}

impl Writer<'_> {
    /// The SQL of `plan`, or `None` if some part of it must run locally.
    pub fn plan(&self, plan: &LogicalPlan) -> Option<Fragment> {
        if let Some(input) = self.leaves.fence(plan) {
            return self.fence(plan, input);
        }
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::SubqueryAlias(alias) => self.plan(&alias.input),
            LogicalPlan::Projection(projection) => self.projection(projection),
            LogicalPlan::Filter(filter) => self.filter(filter),
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Sort(sort) => self.sort(sort),
            LogicalPlan::Limit(limit) => self.limit(limit),
            LogicalPlan::Join(join) => self.join(join),
            _ => None,
        }
    }

    /// The SQL of an input that another `SELECT` wraps; an ordered input cannot be wrapped.
    fn input(&self, plan: &LogicalPlan) -> Option<String> {
        let fragment = self.plan(plan)?;
        fragment.ordered.is_none().then_some(fragment.sql)
    }

    fn columns(scope_alias: &str, width: usize) -> Vec<String> {
        (0..width)
            .map(|i| format!("{scope_alias}.c{i} AS c{i}"))
            .collect()
    }

    fn scan(&self, scan: &TableScan) -> Option<Fragment> {
        if !scan.filters.is_empty() || scan.fetch.is_some() {
            return None;
        }
        let (name, columns) = self.leaves.table(scan)?;
        let projected: Vec<&str> = match &scan.projection {
            Some(indices) => indices
                .iter()
                .map(|i| columns.get(*i).map(String::as_str))
                .collect::<Option<_>>()?,
            None => columns.iter().map(String::as_str).collect(),
        };
        Some(Fragment::plain(scan_statement(
            self.kind, &name, &projected,
        )))
    }

    fn fence(&self, plan: &LogicalPlan, input: &LogicalPlan) -> Option<Fragment> {
        let inner = self.input(input)?;
        let width = plan.schema().fields().len();
        let fence = match self.kind {
            DatabaseKind::Postgres => "OFFSET 0",
            DatabaseKind::Mysql => "LIMIT 18446744073709551615",
            DatabaseKind::Sqlite => "LIMIT -1",
        };
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({inner}) q {fence}",
            select_list(Self::columns("q", width))
        )))
    }

    fn projection(&self, projection: &Projection) -> Option<Fragment> {
        let input = self.plan(&projection.input)?;
        let scope = Scope::one(projection.input.schema());
        let items = projection
            .expr
            .iter()
            .enumerate()
            .map(|(i, e)| Some(format!("{} AS c{i}", self.expr(e, &scope)?)))
            .collect::<Option<Vec<_>>>()?;
        // the ordered input's columns are the ones its ORDER BY sees: the projection joins it
        if let Some(ordered) = input.ordered {
            return Some(self.ordered(Ordered { items, ..ordered }));
        }
        let inner = input.sql;
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({inner}) q",
            select_list(items)
        )))
    }

    fn filter(&self, filter: &Filter) -> Option<Fragment> {
        let inner = self.input(&filter.input)?;
        let scope = Scope::one(filter.input.schema());
        let predicate = self.expr(&filter.predicate, &scope)?;
        let width = filter.input.schema().fields().len();
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({inner}) q WHERE {predicate}",
            select_list(Self::columns("q", width))
        )))
    }

    fn aggregate(&self, aggregate: &Aggregate) -> Option<Fragment> {
        let inner = self.input(&aggregate.input)?;
        let scope = Scope::one(aggregate.input.schema());
        let mut items = Vec::new();
        let mut keys = Vec::new();
        for group in &aggregate.group_expr {
            // a constant key (decorrelated subqueries group by `true`) is not valid SQL
            // everywhere, and dropping it would turn no rows into one
            let bare = match group {
                Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
                other => other,
            };
            if matches!(bare, Expr::GroupingSet(_) | Expr::Literal(..)) {
                return None;
            }
            let sql = self.expr(group, &scope)?;
            let (item, key) = match (self.type_family(group, &scope)?, self.kind) {
                (Family::Text, DatabaseKind::Sqlite) => {
                    (sql.clone(), format!("{sql} COLLATE BINARY"))
                }
                // MySQL's collations group 'Li' with 'li' and 'a' with 'a ': group the bytes,
                // and select them as text again
                (Family::Text, DatabaseKind::Mysql) => {
                    (mysql_text(&mysql_bytes(&sql)), mysql_bytes(&sql))
                }
                _ => (sql.clone(), sql),
            };
            items.push(item);
            keys.push(key);
        }
        for aggregate_expr in &aggregate.aggr_expr {
            items.push(self.aggregate_expr(aggregate_expr, &scope)?);
        }
        let items = items
            .into_iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS c{i}"))
            .collect();
        let group_by = if keys.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", keys.join(", "))
        };
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({inner}) q{group_by}",
            select_list(items)
        )))
    }

    fn aggregate_expr(&self, expr: &Expr, scope: &Scope) -> Option<String> {
        let expr = match expr {
            Expr::Alias(Alias { expr, .. }) => expr,
            other => other,
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
            return None;
        };
        if params.filter.is_some() || !params.order_by.is_empty() || params.null_treatment.is_some()
        {
            return None;
        }
        let name = func.name();
        let [argument] = params.args.as_slice() else {
            return None;
        };
        if name == "count"
            && !params.distinct
            && let Expr::Literal(value, _) = argument
            && !value.is_null()
        {
            return Some("count(*)".to_owned());
        }
        // an integer sum widened to an exact decimal (see the engine's checked integers)
        if name == "sum"
            && !params.distinct
            && let Expr::Cast(Cast { expr: inner, field }) = argument
            && *field.data_type() == DataType::Decimal128(38, 0)
            && self.type_family(inner, scope)? == Family::Integer
        {
            return Some(self.exact_sum(&self.expr(inner, scope)?));
        }
        let family = self.type_family(argument, scope)?;
        let sql = self.expr(argument, scope)?;
        match (name, params.distinct, family) {
            ("count", false, _) => Some(format!("count({sql})")),
            ("count", true, Family::Text) => match self.kind {
                DatabaseKind::Postgres => Some(format!("count(DISTINCT {sql})")),
                DatabaseKind::Mysql => Some(format!("count(DISTINCT {})", mysql_bytes(&sql))),
                DatabaseKind::Sqlite => None,
            },
            ("count", true, _) => Some(format!("count(DISTINCT {sql})")),
            // the database's exact sum comes back as a decimal and is cast to DataFusion's
            // type with overflow checked; SQLite stops with an overflow error
            ("sum", false, Family::Integer) => Some(self.exact_sum(&sql)),
            // SQLite keeps decimals as floating point: its sums are not exact
            ("sum", false, Family::Decimal) if self.kind != DatabaseKind::Sqlite => {
                Some(format!("sum({sql})"))
            }
            ("min" | "max", false, Family::Integer | Family::Decimal | Family::Date) => {
                Some(format!("{name}({sql})"))
            }
            ("min" | "max", false, Family::Text) => match self.kind {
                DatabaseKind::Postgres => Some(format!("{name}({sql} COLLATE \"C\")")),
                DatabaseKind::Mysql => Some(mysql_text(&format!("{name}({})", mysql_bytes(&sql)))),
                DatabaseKind::Sqlite => None,
            },
            _ => None,
        }
    }

    /// The exact sum of integers: PostgreSQL and MySQL sum into decimals (PostgreSQL's untyped
    /// numeric is given a scale of 0 so that it arrives whole); SQLite stops with an error.
    fn exact_sum(&self, sql: &str) -> String {
        match self.kind {
            DatabaseKind::Postgres => format!("CAST(sum({sql}) AS NUMERIC(38,0))"),
            _ => format!("sum({sql})"),
        }
    }

    fn sort_keys(&self, exprs: &[SortExpr], scope: &Scope) -> Option<String> {
        let keys = exprs
            .iter()
            .map(|sort| {
                let family = self.type_family(&sort.expr, scope)?;
                if family == Family::Decimal && self.kind == DatabaseKind::Sqlite {
                    return None;
                }
                let sql = self.expr(&sort.expr, scope)?;
                let sql = match (family, self.kind) {
                    (Family::Text, DatabaseKind::Postgres) => format!("{sql} COLLATE \"C\""),
                    (Family::Text, DatabaseKind::Sqlite) => format!("{sql} COLLATE BINARY"),
                    (Family::Text, DatabaseKind::Mysql) => mysql_bytes(&sql),
                    _ => sql,
                };
                let direction = if sort.asc { "ASC" } else { "DESC" };
                Some(match self.kind {
                    // MySQL has no NULLS FIRST/LAST: sort on "is null" first
                    DatabaseKind::Mysql => format!(
                        "({sql}) IS NULL {}, {sql} {direction}",
                        if sort.nulls_first { "DESC" } else { "ASC" }
                    ),
                    _ => format!(
                        "{sql} {direction} NULLS {}",
                        if sort.nulls_first { "FIRST" } else { "LAST" }
                    ),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(keys.join(", "))
    }

    fn limit_clause(&self, skip: usize, fetch: Option<usize>) -> String {
        match (fetch, skip) {
            (Some(fetch), 0) => format!(" LIMIT {fetch}"),
            (Some(fetch), skip) => format!(" LIMIT {fetch} OFFSET {skip}"),
            (None, 0) => String::new(),
            (None, skip) => match self.kind {
                DatabaseKind::Postgres => format!(" OFFSET {skip}"),
                DatabaseKind::Mysql => format!(" LIMIT 18446744073709551615 OFFSET {skip}"),
                DatabaseKind::Sqlite => format!(" LIMIT -1 OFFSET {skip}"),
            },
        }
    }

    fn ordered(&self, ordered: Ordered) -> Fragment {
        let sql = format!(
            "SELECT {} FROM ({}) q ORDER BY {}{}",
            select_list(ordered.items.clone()),
            ordered.inner,
            ordered.keys,
            self.limit_clause(ordered.skip, ordered.fetch)
        );
        Fragment {
            sql,
            ordered: Some(ordered),
        }
    }

    fn sort(&self, sort: &Sort) -> Option<Fragment> {
        let inner = self.input(&sort.input)?;
        let scope = Scope::one(sort.input.schema());
        let keys = self.sort_keys(&sort.expr, &scope)?;
        let width = sort.input.schema().fields().len();
        Some(self.ordered(Ordered {
            items: Self::columns("q", width),
            inner,
            keys,
            skip: 0,
            fetch: sort.fetch,
        }))
    }

    fn limit(&self, limit: &Limit) -> Option<Fragment> {
        let SkipType::Literal(skip) = limit.get_skip_type().ok()? else {
            return None;
        };
        let FetchType::Literal(fetch) = limit.get_fetch_type().ok()? else {
            return None;
        };
        let input = self.plan(&limit.input)?;
        if let Some(ordered) = input.ordered {
            // the limit applies to the ordered rows that the input's own bounds leave
            let fetch = match (ordered.fetch, fetch) {
                (None, fetch) => fetch,
                (Some(before), None) => Some(before.saturating_sub(skip)),
                (Some(before), Some(fetch)) => Some(before.saturating_sub(skip).min(fetch)),
            };
            return Some(self.ordered(Ordered {
                skip: ordered.skip + skip,
                fetch,
                ..ordered
            }));
        }
        let width = limit.input.schema().fields().len();
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({}) q{}",
            select_list(Self::columns("q", width)),
            input.sql,
            self.limit_clause(skip, fetch)
        )))
    }

    fn join(&self, join: &Join) -> Option<Fragment> {
        let kind = match join.join_type {
            JoinType::Inner => "JOIN",
            JoinType::Left => "LEFT JOIN",
            JoinType::Right => "RIGHT JOIN",
            JoinType::Full if self.kind != DatabaseKind::Mysql => "FULL JOIN",
            _ => return None,
        };
        if join.null_equality != NullEquality::NullEqualsNothing {
            return None;
        }
        let left = self.input(&join.left)?;
        let right = self.input(&join.right)?;
        let scope = Scope::two(join.left.schema(), join.right.schema())?;
        let mut conditions = Vec::new();
        for (l, r) in &join.on {
            conditions.push(self.compare(l, Operator::Eq, r, &scope)?);
        }
        if let Some(filter) = &join.filter {
            conditions.push(self.expr(filter, &scope)?);
        }
        if conditions.is_empty() {
            conditions.push("1 = 1".to_owned());
        }
        let left_width = join.left.schema().fields().len();
        let right_width = join.right.schema().fields().len();
        let items = (0..left_width)
            .map(|i| format!("l.c{i} AS c{i}"))
            .chain((0..right_width).map(|i| format!("r.c{i} AS c{}", left_width + i)))
            .collect();
        Some(Fragment::plain(format!(
            "SELECT {} FROM ({left}) l {kind} ({right}) r ON {}",
            select_list(items),
            conditions.join(" AND ")
        )))
    }

    fn type_family(&self, expr: &Expr, scope: &Scope) -> Option<Family> {
        family(&expr.get_type(&scope.schema).ok()?)
    }

    /// `left op right`, comparing text by bytes.
    fn compare(&self, left: &Expr, op: Operator, right: &Expr, scope: &Scope) -> Option<String> {
        let family = self.type_family(left, scope)?;
        if self.type_family(right, scope)? != family {
            return None;
        }
        if family == Family::Boolean && !matches!(op, Operator::Eq | Operator::NotEq) {
            return None;
        }
        if self.kind == DatabaseKind::Sqlite && matches!(family, Family::Date | Family::Decimal) {
            // SQLite keeps these as text or floating point: its comparisons are not ours
            return None;
        }
        let l = self.expr(left, scope)?;
        let r = self.expr(right, scope)?;
        let symbol = match op {
            Operator::Eq => "=",
            Operator::NotEq => "<>",
            Operator::Lt => "<",
            Operator::LtEq => "<=",
            Operator::Gt => ">",
            Operator::GtEq => ">=",
            _ => return None,
        };
        Some(match (family, self.kind) {
            (Family::Text, DatabaseKind::Postgres)
                if !matches!(op, Operator::Eq | Operator::NotEq) =>
            {
                format!("({l} {symbol} {r} COLLATE \"C\")")
            }
            (Family::Text, DatabaseKind::Mysql) => {
                format!("({} {symbol} {})", mysql_bytes(&l), mysql_bytes(&r))
            }
            (Family::Text, DatabaseKind::Sqlite) => format!("({l} {symbol} {r} COLLATE BINARY)"),
            _ => format!("({l} {symbol} {r})"),
        })
    }

    fn expr(&self, expr: &Expr, scope: &Scope) -> Option<String> {
        match expr {
            Expr::Column(column) => scope.column(column),
            Expr::Alias(Alias { expr, .. }) => self.expr(expr, scope),
            Expr::Literal(value, _) => self.literal(value),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => {
                    if self.type_family(left, scope)? != Family::Boolean
                        || self.type_family(right, scope)? != Family::Boolean
                    {
                        return None;
                    }
                    let word = if *op == Operator::And { "AND" } else { "OR" };
                    Some(format!(
                        "({} {word} {})",
                        self.expr(left, scope)?,
                        self.expr(right, scope)?
                    ))
                }
                _ => self.compare(left, *op, right, scope),
            },
            Expr::Not(inner) => (self.type_family(inner, scope)? == Family::Boolean)
                .then(|| Some(format!("(NOT {})", self.expr(inner, scope)?)))?,
            Expr::IsNull(inner) => Some(format!("({} IS NULL)", self.expr(inner, scope)?)),
            Expr::IsNotNull(inner) => Some(format!("({} IS NOT NULL)", self.expr(inner, scope)?)),
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let inside = format!(
                    "({} AND {})",
                    self.compare(expr, Operator::GtEq, low, scope)?,
                    self.compare(expr, Operator::LtEq, high, scope)?
                );
                Some(if *negated {
                    format!("(NOT {inside})")
                } else {
                    inside
                })
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) => {
                if list.is_empty()
                    || list
                        .iter()
                        .any(|e| !matches!(e, Expr::Literal(v, _) if !v.is_null()))
                {
                    return None;
                }
                let any = list
                    .iter()
                    .map(|item| self.compare(expr, Operator::Eq, item, scope))
                    .collect::<Option<Vec<_>>>()?
                    .join(" OR ");
                Some(if *negated {
                    format!("(NOT ({any}))")
                } else {
                    format!("({any})")
                })
            }
            Expr::Like(like) => self.like(like, scope),
            Expr::Case(case) => self.case(case, scope),
            Expr::Cast(Cast { expr: inner, field }) => {
                let from = family(&inner.get_type(&scope.schema).ok()?)?;
                match (from, family(field.data_type())?) {
                    // widening an integer or changing a string's representation keeps its
                    // value: the database's own value is the same
                    (Family::Integer, Family::Integer) | (Family::Text, Family::Text) => {
                        self.expr(inner, scope)
                    }
                    _ => None,
                }
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) => {
                match (func.name(), args.as_slice()) {
                    ("character_length" | "char_length" | "length", [arg])
                        if self.type_family(arg, scope)? == Family::Text =>
                    {
                        let arg = self.expr(arg, scope)?;
                        Some(match self.kind {
                            DatabaseKind::Postgres => format!("char_length({arg})"),
                            DatabaseKind::Mysql => format!("CHAR_LENGTH({arg})"),
                            DatabaseKind::Sqlite => format!("length({arg})"),
                        })
                    }
                    // the pieces the masks are made of: character positions and lengths
                    // given as literals, which every database counts alike
                    ("substr", [text, start, length])
                        if self.type_family(text, scope)? == Family::Text =>
                    {
                        let (Some(start), Some(length)) = (positive(start), positive(length))
                        else {
                            return None;
                        };
                        if start == 0 {
                            return None;
                        }
                        let text = self.expr(text, scope)?;
                        Some(match self.kind {
                            DatabaseKind::Mysql => format!("SUBSTRING({text}, {start}, {length})"),
                            _ => format!("substr({text}, {start}, {length})"),
                        })
                    }
                    // DataFusion's concat skips NULLs (and gives '' for none), as COALESCE does
                    ("concat", parts) if !parts.is_empty() => {
                        let parts = parts
                            .iter()
                            .map(|p| {
                                (self.type_family(p, scope)? == Family::Text).then(|| {
                                    Some(format!("COALESCE({}, '')", self.expr(p, scope)?))
                                })?
                            })
                            .collect::<Option<Vec<_>>>()?;
                        Some(match self.kind {
                            DatabaseKind::Mysql => format!("CONCAT({})", parts.join(", ")),
                            _ => format!("({})", parts.join(" || ")),
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn case(&self, case: &Case, scope: &Scope) -> Option<String> {
        if case.expr.is_some() {
            return None;
        }
        let mut out = String::from("CASE");
        for (when, then) in &case.when_then_expr {
            if self.type_family(when, scope)? != Family::Boolean {
                return None;
            }
            self.type_family(then, scope)?;
            out.push_str(&format!(
                " WHEN {} THEN {}",
                self.expr(when, scope)?,
                self.expr(then, scope)?
            ));
        }
        if let Some(otherwise) = &case.else_expr {
            out.push_str(&format!(" ELSE {}", self.expr(otherwise, scope)?));
        }
        out.push_str(" END");
        Some(out)
    }

    fn like(&self, like: &Like, scope: &Scope) -> Option<String> {
        if like.case_insensitive || like.escape_char.is_some() {
            return None;
        }
        if self.type_family(&like.expr, scope)? != Family::Text {
            return None;
        }
        let Expr::Literal(pattern, _) = like.pattern.as_ref() else {
            return None;
        };
        let pattern = text_value(pattern)?;
        let pieces = like_pieces(pattern)?;
        let subject = self.expr(&like.expr, scope)?;
        let test = match self.kind {
            DatabaseKind::Postgres => {
                format!("{subject} LIKE {} ESCAPE E'\\\\'", pg_string(pattern))
            }
            DatabaseKind::Mysql => {
                // byte-wise LIKE: '%' is safe on UTF-8, '_' would match one byte; escapes and
                // quotes are not written for MySQL at all
                if pieces.iter().any(|p| {
                    matches!(p, LikePiece::One)
                        || matches!(p, LikePiece::Char(c) if *c == '\\' || *c == '"')
                }) || pattern.contains('\\')
                {
                    return None;
                }
                format!(
                    "{} LIKE {}",
                    mysql_bytes(&subject),
                    mysql_bytes(&self.literal_text(pattern)?)
                )
            }
            DatabaseKind::Sqlite => format!("{subject} GLOB {}", quote(&glob(&pieces))),
        };
        Some(if like.negated {
            format!("(NOT ({test}))")
        } else {
            format!("({test})")
        })
    }

    fn literal_text(&self, text: &str) -> Option<String> {
        if text.contains('\0') {
            return None;
        }
        match self.kind {
            DatabaseKind::Postgres => Some(pg_string(text)),
            // the MySQL reader strips every double quote from the statement, and backslashes
            // are escapes unless the server says otherwise
            DatabaseKind::Mysql if text.contains(['"', '\\']) => None,
            _ => Some(quote(text)),
        }
    }

    fn literal(&self, value: &ScalarValue) -> Option<String> {
        if value.is_null() {
            // typed by its context (a CASE branch, a comparison that is NULL anyway)
            return family(&value.data_type()).map(|_| "NULL".to_owned());
        }
        match value {
            ScalarValue::Int8(Some(v)) => Some(v.to_string()),
            ScalarValue::Int16(Some(v)) => Some(v.to_string()),
            ScalarValue::Int32(Some(v)) => Some(v.to_string()),
            ScalarValue::Int64(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt8(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt16(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt32(Some(v)) => Some(v.to_string()),
            ScalarValue::Boolean(Some(v)) => Some(match (self.kind, v) {
                (DatabaseKind::Sqlite, true) => "1".to_owned(),
                (DatabaseKind::Sqlite, false) => "0".to_owned(),
                (_, true) => "TRUE".to_owned(),
                (_, false) => "FALSE".to_owned(),
            }),
            ScalarValue::Date32(Some(_)) if self.kind != DatabaseKind::Sqlite => {
                Some(format!("DATE '{value}'"))
            }
            ScalarValue::Decimal128(Some(_), p, s) if self.kind != DatabaseKind::Sqlite => {
                let number = value.to_string();
                let target = match self.kind {
                    DatabaseKind::Postgres => "NUMERIC",
                    _ => "DECIMAL",
                };
                Some(format!("CAST('{number}' AS {target}({p},{s}))"))
            }
            other => text_value(other).and_then(|t| self.literal_text(t)),
        }
    }
}

/// A non-negative integer literal.
fn positive(expr: &Expr) -> Option<u64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let number = match value {
        ScalarValue::Int64(Some(v)) => *v,
        ScalarValue::Int32(Some(v)) => i64::from(*v),
        _ => return None,
    };
    u64::try_from(number).ok()
}

fn text_value(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// A PostgreSQL string literal that means the same whatever `standard_conforming_strings` is.
fn pg_string(text: &str) -> String {
    if text.contains('\\') {
        format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        quote(text)
    }
}

/// The UTF-8 bytes of a MySQL text value, compared without collation or padding.
fn mysql_bytes(sql: &str) -> String {
    format!("CAST(CONVERT({sql} USING utf8mb4) AS BINARY)")
}

/// Bytes taken by [`mysql_bytes`] as UTF-8 text again, so that what is computed on them above
/// (a length, say) counts characters, not bytes.
fn mysql_text(bytes: &str) -> String {
    format!("CONVERT({bytes} USING utf8mb4)")
}

#[derive(Debug, PartialEq, Eq)]
enum LikePiece {
    Any,
    One,
    Char(char),
}

/// A LIKE pattern as DataFusion reads it (`\` escapes `%`, `_` and itself); `None` for a
/// pattern whose reading could differ elsewhere (a dangling or needless escape).
fn like_pieces(pattern: &str) -> Option<Vec<LikePiece>> {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            '%' => LikePiece::Any,
            '_' => LikePiece::One,
            '\\' => match chars.next()? {
                escaped @ ('%' | '_' | '\\') => LikePiece::Char(escaped),
                _ => return None,
            },
            other => LikePiece::Char(other),
        });
    }
    Some(pieces)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert_eq!(
            glob(&like_pieces(r"a\_b%[x]?*_").unwrap()),
            "a_b*[[]x][?][*]?"
        );
        assert!(like_pieces(r"a\").is_none());
        assert!(like_pieces(r"a\b").is_none());
        assert_eq!(pg_string(r"a\b'c"), r"E'a\\b''c'");
        assert_eq!(pg_string("张三"), "'张三'");
    }

    #[test]
    fn remote_names() {
        let name = RemoteName::parse(DatabaseKind::Postgres, "public.people").unwrap();
        assert_eq!(name.sql(DatabaseKind::Postgres), "\"public\".\"people\"");
        assert_eq!(
            RemoteName::parse(DatabaseKind::Mysql, "people")
                .unwrap()
                .sql(DatabaseKind::Mysql),
            "`people`"
        );
        assert!(RemoteName::parse(DatabaseKind::Postgres, "a\".b").is_err());
        assert!(RemoteName::parse(DatabaseKind::Sqlite, "main.t").is_err());
        assert!(RemoteName::parse(DatabaseKind::Postgres, "").is_err());
    }
}
