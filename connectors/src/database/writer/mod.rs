//! Writing a logical sub-plan as SQL for one database, or declining to.
//!
//! tiaokuai writes remote SQL itself, for a deliberately small set of constructs, each only
//! where the database computes exactly what DataFusion computes locally. Everything else
//! answers `None` and runs locally. The writer knows no database: what differs between them
//! it asks the source's [`Dialect`]. The rules that matter:
//!
//! - Text is compared, ordered and grouped by bytes, as DataFusion does (each dialect says how).
//! - Nothing whose overflow, rounding, NULL or time-zone rules differ is pushed: no arithmetic,
//!   no division, no floats, no timestamps, no `avg`, no `NOT IN`/`INTERSECT`/`EXCEPT`, no
//!   string functions (their case mappings differ).
//! - An ordered fragment is always the outermost `SELECT`: an order inside a derived table is
//!   not an order. `LIMIT` without `ORDER BY` may pick any rows, as locally.
//! - Every string literal is written so that the database reads back the same characters, or
//!   not pushed.
//! - A policy fence becomes a derived table the database may not merge with or push predicates
//!   into ([`super::fence`]), so the caller's predicates run only on visible rows there too.
//!
//! Every fragment's output columns are named `c0, c1, …` in the order of its plan's schema.
//! [`expr`] writes the expressions inside them.

mod expr;

use datafusion::common::{Column, DFSchema, NullEquality};
use datafusion::logical_expr::expr::{AggregateFunction, Alias, Cast};
use datafusion::logical_expr::logical_plan::{FetchType, SkipType};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, Join, JoinType, Limit, LogicalPlan, Operator, Projection, Sort,
    SortExpr, TableScan,
};

use datafusion::arrow::datatypes::DataType;

use super::dialect::{Dialect, Family};
use super::fence;
use super::name::RemoteName;

/// `SELECT` of the given column expressions of a table, named `c0, c1, …`; with no column,
/// one placeholder so the statement still counts rows.
pub fn scan_statement(dialect: &dyn Dialect, name: &RemoteName, columns: &[&str]) -> String {
    let items = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS c{i}"))
        .collect();
    format!("SELECT {} FROM {}", select_list(items), name.sql(dialect))
}

fn select_list(items: Vec<String>) -> String {
    if items.is_empty() {
        "1 AS c_rows".to_owned()
    } else {
        items.join(", ")
    }
}

/// The clause that skips `skip` rows and keeps at most `fetch` of the rest, with its leading
/// space; empty for neither.
pub fn limit_clause(dialect: &dyn Dialect, skip: usize, fetch: Option<usize>) -> String {
    match (fetch, skip) {
        (Some(fetch), 0) => format!(" LIMIT {fetch}"),
        (Some(fetch), skip) => format!(" LIMIT {fetch} OFFSET {skip}"),
        (None, 0) => String::new(),
        (None, skip) => format!(" {}", dialect.offset_only(skip)),
    }
}

/// What the writer needs to know about the plan's leaves.
pub trait Leaves {
    /// For a scan of this database's table: its remote name and how each of the table's
    /// fields is selected (see [`Dialect::column`]), in field order.
    fn table(&self, scan: &TableScan) -> Option<(RemoteName, Vec<String>)>;
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

/// Writes SQL in one database's dialect.
pub struct Writer<'a> {
    pub dialect: &'a dyn Dialect,
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

impl Writer<'_> {
    /// The SQL of `plan`, or `None` if some part of it must run locally.
    pub fn plan(&self, plan: &LogicalPlan) -> Option<Fragment> {
        if let Some(input) = fence::fence_input(plan) {
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
            self.dialect,
            &name,
            &projected,
        )))
    }

    fn fence(&self, plan: &LogicalPlan, input: &LogicalPlan) -> Option<Fragment> {
        let inner = self.input(input)?;
        let width = plan.schema().fields().len();
        Some(Fragment::plain(fence::statement(
            self.dialect,
            &select_list(Self::columns("q", width)),
            &inner,
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
            let (item, key) = match self.type_family(group, &scope)? {
                Family::Text => self.dialect.text_group(&sql),
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
            return Some(self.dialect.sum_integers(&self.expr(inner, scope)?));
        }
        let family = self.type_family(argument, scope)?;
        let sql = self.expr(argument, scope)?;
        match (name, params.distinct, family) {
            ("count", false, _) => Some(format!("count({sql})")),
            ("count", true, Family::Text) => self.dialect.count_distinct_text(&sql),
            ("count", true, _) => Some(format!("count(DISTINCT {sql})")),
            // the database's exact sum comes back as a decimal and is cast to DataFusion's
            // type with overflow checked
            ("sum", false, Family::Integer) => Some(self.dialect.sum_integers(&sql)),
            ("sum", false, Family::Decimal) => self.dialect.sum_decimals(&sql),
            ("min" | "max", false, Family::Integer | Family::Decimal | Family::Date) => {
                Some(format!("{name}({sql})"))
            }
            ("min" | "max", false, Family::Text) => self.dialect.min_max_text(name, &sql),
            _ => None,
        }
    }

    fn sort_keys(&self, exprs: &[SortExpr], scope: &Scope) -> Option<String> {
        let keys = exprs
            .iter()
            .map(|sort| {
                let family = self.type_family(&sort.expr, scope)?;
                if !self.dialect.sorts(family) {
                    return None;
                }
                let sql = self.expr(&sort.expr, scope)?;
                let sql = match family {
                    Family::Text => self.dialect.text_sort_key(&sql),
                    _ => sql,
                };
                Some(self.dialect.sort_key(&sql, sort.asc, sort.nulls_first))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(keys.join(", "))
    }

    fn ordered(&self, ordered: Ordered) -> Fragment {
        let sql = format!(
            "SELECT {} FROM ({}) q ORDER BY {}{}",
            select_list(ordered.items.clone()),
            ordered.inner,
            ordered.keys,
            limit_clause(self.dialect, ordered.skip, ordered.fetch)
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
            limit_clause(self.dialect, skip, fetch)
        )))
    }

    fn join(&self, join: &Join) -> Option<Fragment> {
        let kind = match join.join_type {
            JoinType::Inner => "JOIN",
            JoinType::Left => "LEFT JOIN",
            JoinType::Right => "RIGHT JOIN",
            JoinType::Full if self.dialect.full_join() => "FULL JOIN",
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
}
