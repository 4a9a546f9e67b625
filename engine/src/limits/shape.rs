//! How big a statement's plans will be, bounded on its syntax tree before anything plans it.
//!
//! Every pass DataFusion makes over its trees (planning, analysis, optimisation, physical
//! planning, execution, and dropping them) recurses once per level, and some passes cost more
//! than one visit per node. Measured on DataFusion 55 (see the README's "Limits"), four
//! dimensions need a bound of their own:
//!
//! - **Depth.** The parser stops at 50 levels of recursion (parentheses, calls, CASE,
//!   subqueries) but builds chains without recursing: `a OR b OR …`, `a + a + …`,
//!   `x::int::int …`, `SELECT … UNION SELECT …`, `x[1][1] …`. Each link is one more level of
//!   every tree built from it. Counted: every expression inside another; every query; every
//!   set operation of a query's body; every relation after the first in a FROM clause (one more
//!   join each); every CTE of a WITH clause (a CTE may read the one before it); every field
//!   access in a chain. A flat list stays one level: `x IN (1, 2, …)`, the arms of one CASE, the
//!   arguments of one call, the columns of a SELECT, the rows of VALUES. The bound is the
//!   engine's `max_expression_depth`; the query threads' stacks
//!   ([`super::runner::QUERY_STACK_BYTES`]) hold many times what it allows.
//! - **Relations**, after CTEs are expanded: DataFusion inlines a CTE at every reference, so
//!   `WITH c1 AS (SELECT … FROM c0 a, c0 b), c2 AS (… c1 a, c1 b) …` doubles the plan with
//!   every CTE, and planning a join costs more than linear in the joins before it.
//! - **Subqueries inside expressions, nested.** DataFusion's plan invariant check visits a
//!   nested subquery once through the plan and once through the expression that holds it,
//!   so n levels cost 2^n visits.
//! - **Casts of computed values, nested.** Its physical `CAST` asks its input for its type and
//!   nullability separately, so `CAST(CAST(x + 1 AS …) + 1 AS …)` costs 2^n steps.
//!
//! Also `CUBE`, which makes 2^n grouping sets, takes at most 12 columns, as in PostgreSQL.
//!
//! One bound comes before parsing, on the tokens ([`check_text`]): sqlparser 0.62 parses some
//! keywords followed by a bracket (`CAST(`, `POSITION(`, `SUBSTRING(`, `NOT(`, `ARRAY[` …) as
//! special expressions, and when the inside fails it parses it all again as a function call,
//! so n nested ones that fail cost 2^n to 3^n: 16 nested `POSITION(` took 41 s in a release
//! build. They nest at most [`MAX_NESTED_SPECIAL_BRACKETS`] deep.
//! Each bound is refused with a 400 that names it. The walk stops as soon as a bound is
//! passed, so it never recurses deeper than the bound itself.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement};
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectNamePart, Query, Select, SetExpr, TableFactor, Visit, Visitor,
};

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{EngineError, Result};

/// `CUBE` of n columns makes 2^n grouping sets; PostgreSQL allows 12, and so do we.
pub const MAX_CUBE_COLUMNS: usize = 12;
/// Casts of computed values nested inside each other on one path: 2^16 planning steps is
/// well under a second, and more than any real query nests.
pub const MAX_NESTED_CASTS: usize = 16;
/// Subqueries nested inside expressions on one path (`(SELECT … WHERE x IN (SELECT …))`).
pub const MAX_NESTED_SUBQUERIES: usize = 12;
/// Table references in the whole statement once every CTE reference is expanded.
pub const MAX_RELATIONS: u64 = 256;
/// Brackets opened right after a keyword that sqlparser parses twice on failure, nested
/// inside each other: 8 nested `POSITION(` parse in 8 ms in a release build.
pub const MAX_NESTED_SPECIAL_BRACKETS: usize = 8;

/// The keywords that sqlparser 0.62 parses as a special expression and, when that fails,
/// again as an identifier or a function call (found by timing each keyword of
/// `Parser::parse_expr_prefix_by_reserved_word` nested with a failing inside).
const BACKTRACKING_KEYWORDS: &[Keyword] = &[
    Keyword::ARRAY,
    Keyword::CASE,
    Keyword::CAST,
    Keyword::CEIL,
    Keyword::CONVERT,
    Keyword::CURRENT_CATALOG,
    Keyword::CURRENT_DATE,
    Keyword::CURRENT_TIME,
    Keyword::CURRENT_TIMESTAMP,
    Keyword::CURRENT_USER,
    Keyword::FLOOR,
    Keyword::LOCALTIME,
    Keyword::LOCALTIMESTAMP,
    Keyword::NOT,
    Keyword::OVERLAY,
    Keyword::POSITION,
    Keyword::SAFE_CAST,
    Keyword::SESSION_USER,
    Keyword::SUBSTR,
    Keyword::SUBSTRING,
    Keyword::TRY_CAST,
    Keyword::TRY_CONVERT,
    Keyword::USER,
];

/// Refuses SQL text that nests backtracking keyword brackets too deep, before it is parsed.
/// Text that does not tokenize is left to the parser, which reports it.
pub fn check_text(sql: &str, dialect: &dyn Dialect) -> Result<()> {
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return Ok(());
    };
    let mut open: Vec<bool> = Vec::new();
    let mut special = 0usize;
    let mut after_keyword = false;
    for token in &tokens {
        match token {
            Token::Whitespace(_) => continue,
            Token::LParen | Token::LBracket => {
                open.push(after_keyword);
                if after_keyword {
                    special += 1;
                    if special > MAX_NESTED_SPECIAL_BRACKETS {
                        return Err(EngineError::BadRequest(format!(
                            "the statement nests more than {MAX_NESTED_SPECIAL_BRACKETS} of CAST(, POSITION(, SUBSTRING(, NOT(, ARRAY[ and the like inside each other; the limit is {MAX_NESTED_SPECIAL_BRACKETS}"
                        ).into()));
                    }
                }
            }
            Token::RParen | Token::RBracket => special -= usize::from(open.pop() == Some(true)),
            _ => {}
        }
        after_keyword = matches!(token, Token::Word(word)
            if word.quote_style.is_none() && BACKTRACKING_KEYWORDS.contains(&word.keyword));
    }
    Ok(())
}

/// Refuses a statement past any of the bounds; `max_depth` is the depth bound.
pub fn check(statement: &Statement, max_depth: usize) -> Result<()> {
    let mut shape = Shape::new(max_depth);
    let verdict = match statement {
        Statement::Statement(inner) => inner.visit(&mut shape),
        Statement::Explain(explain) => return check(&explain.statement, max_depth),
        Statement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => query.visit(&mut shape),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        Statement::CreateExternalTable(_) | Statement::Reset(_) => ControlFlow::Continue(()),
    };
    match verdict {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(refusal) => Err(refusal),
    }
}

/// What an open node added, to take it off again on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Levels(usize),
    Cast,
    Subquery,
}

struct Shape {
    max_depth: usize,
    /// Levels above the node being visited.
    depth: usize,
    frames: Vec<Frame>,
    casts: usize,
    subqueries: usize,
    /// Relations counted so far in each open query (innermost last).
    relations: Vec<u64>,
    /// The expanded relations of each CTE defined so far, by lowercased name.
    ctes: HashMap<String, u64>,
    /// The CTE bodies of the open queries, by address, with their names: a CTE's relations
    /// count where it is referenced, not where it is defined.
    cte_bodies: HashMap<usize, String>,
}

fn refuse(message: String) -> ControlFlow<EngineError> {
    ControlFlow::Break(EngineError::BadRequest(message.into()))
}

impl Shape {
    fn new(max_depth: usize) -> Self {
        Self {
            max_depth,
            depth: 0,
            frames: Vec::new(),
            casts: 0,
            subqueries: 0,
            relations: vec![0],
            ctes: HashMap::new(),
            cte_bodies: HashMap::new(),
        }
    }

    fn enter(&mut self, frame: Frame) -> ControlFlow<EngineError> {
        self.frames.push(frame);
        match frame {
            Frame::Levels(levels) => self.depth += levels,
            Frame::Cast => {
                self.depth += 1;
                self.casts += 1;
                if self.casts > MAX_NESTED_CASTS {
                    return refuse(format!(
                        "the statement nests casts of computed values more than {MAX_NESTED_CASTS} deep; the limit is {MAX_NESTED_CASTS}"
                    ));
                }
            }
            Frame::Subquery => {
                self.depth += 1;
                self.subqueries += 1;
                if self.subqueries > MAX_NESTED_SUBQUERIES {
                    return refuse(format!(
                        "the statement nests subqueries inside expressions more than {MAX_NESTED_SUBQUERIES} deep; the limit is {MAX_NESTED_SUBQUERIES}"
                    ));
                }
            }
        }
        if self.depth > self.max_depth {
            return refuse(format!(
                "the statement nests more than {max} levels deep; the limit is {max} (each \
                 expression inside another, subquery, set operation, join, WITH clause and field \
                 access counts a level; a list such as IN (…) counts one)",
                max = self.max_depth
            ));
        }
        ControlFlow::Continue(())
    }

    fn leave(&mut self) -> ControlFlow<EngineError> {
        match self.frames.pop() {
            Some(Frame::Levels(levels)) => self.depth -= levels,
            Some(Frame::Cast) => {
                self.depth -= 1;
                self.casts -= 1;
            }
            Some(Frame::Subquery) => {
                self.depth -= 1;
                self.subqueries -= 1;
            }
            None => {}
        }
        ControlFlow::Continue(())
    }

    fn count_relations(&mut self, relations: u64) -> ControlFlow<EngineError> {
        let open = self
            .relations
            .last_mut()
            .expect("the statement's own count");
        *open = open.saturating_add(relations);
        if *open > MAX_RELATIONS {
            return refuse(format!(
                "the statement reads more than {MAX_RELATIONS} tables once its WITH clauses are \
                 expanded (each reference to a CTE reads everything the CTE reads); the limit is \
                 {MAX_RELATIONS}"
            ));
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for Shape {
    type Break = EngineError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<EngineError> {
        let ctes = query
            .with
            .as_ref()
            .map_or(&[][..], |with| &with.cte_tables[..]);
        for cte in ctes {
            let address = std::ptr::from_ref(cte.query.as_ref()) as usize;
            self.cte_bodies
                .insert(address, cte.alias.name.value.to_lowercase());
        }
        self.relations.push(0);
        self.enter(Frame::Levels(
            1 + ctes.len() + set_operation_depth(&query.body),
        ))
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<EngineError> {
        let relations = self.relations.pop().unwrap_or(0);
        let address = std::ptr::from_ref(query) as usize;
        self.leave()?;
        match self.cte_bodies.remove(&address) {
            Some(name) => {
                self.ctes.insert(name, relations);
                ControlFlow::Continue(())
            }
            None => self.count_relations(relations),
        }
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<EngineError> {
        let relations: usize = select.from.iter().map(|from| 1 + from.joins.len()).sum();
        self.enter(Frame::Levels(relations.saturating_sub(1)))
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<EngineError> {
        self.leave()
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<EngineError> {
        match factor {
            TableFactor::Table { name, .. } => {
                let cte = match name.0.as_slice() {
                    [ObjectNamePart::Identifier(only)] => {
                        self.ctes.get(&only.value.to_lowercase()).copied()
                    }
                    _ => None,
                };
                self.count_relations(cte.unwrap_or(1))
            }
            TableFactor::Function { .. } | TableFactor::UNNEST { .. } => self.count_relations(1),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<EngineError> {
        let frame = match expr {
            Expr::CompoundIdentifier(parts) => Frame::Levels(parts.len()),
            Expr::CompoundFieldAccess { access_chain, .. } => Frame::Levels(1 + access_chain.len()),
            Expr::Cast { expr, .. } if casts_computed_value(expr) => Frame::Cast,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Frame::Subquery,
            Expr::Cube(sets) if sets.len() > MAX_CUBE_COLUMNS => {
                return refuse(format!(
                    "CUBE of {n} columns makes 2^{n} grouping sets; CUBE takes at most \
                     {MAX_CUBE_COLUMNS} columns",
                    n = sets.len()
                ));
            }
            _ => Frame::Levels(1),
        };
        self.enter(frame)
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<EngineError> {
        self.leave()
    }
}

/// Whether a cast's operand is computed: not a column, a constant or another cast.
fn casts_computed_value(mut operand: &Expr) -> bool {
    while let Expr::Nested(inner) = operand {
        operand = inner;
    }
    !matches!(
        operand,
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) | Expr::Cast { .. }
    )
}

/// The longest chain of set operations in a query body, walked without recursion (a chain of
/// thousands of UNIONs is flat text). Nested queries count for themselves when visited.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(body, 0usize)];
    while let Some((node, level)) = pending.pop() {
        deepest = deepest.max(level);
        if let SetExpr::SetOperation { left, right, .. } = node {
            pending.push((left, level + 1));
            pending.push((right, level + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::parse_one;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    /// Runs `check` on a thread with the query threads' stack, as the engine does: parsing
    /// and dropping long chains recurse deeper than a test thread's stack holds in a debug
    /// build.
    fn verdict(sql: &str, max_depth: usize) -> Result<()> {
        let sql = sql.to_owned();
        std::thread::Builder::new()
            .stack_size(crate::limits::runner::QUERY_STACK_BYTES)
            .spawn(move || check(&parse_one(&sql, &GenericDialect {})?, max_depth))
            .unwrap()
            .join()
            .unwrap()
    }

    /// The smallest depth bound that lets `sql` through.
    fn depth(sql: &str) -> usize {
        let (mut low, mut high) = (0, 100_000);
        while low < high {
            let middle = (low + high) / 2;
            match verdict(sql, middle) {
                Ok(()) => high = middle,
                Err(EngineError::BadRequest(m)) if m.contains("levels deep") => low = middle + 1,
                Err(other) => panic!("{sql}: {other}"),
            }
        }
        low
    }

    fn refused(sql: &str, max_depth: usize, needle: &str) -> bool {
        matches!(verdict(sql, max_depth), Err(EngineError::BadRequest(m)) if m.contains(needle))
    }

    #[test]
    fn chains_count_one_level_per_link() {
        let ors = |n: usize| format!("SELECT 1 WHERE {}", vec!["1 = 2"; n].join(" OR "));
        assert_eq!(depth(&ors(101)), depth(&ors(1)) + 100);
        let sum = |n: usize| format!("SELECT {}", vec!["1"; n].join(" + "));
        assert_eq!(depth(&sum(51)), depth(&sum(1)) + 50);
        let casts = |n: usize| format!("SELECT 1{}", "::bigint".repeat(n));
        assert_eq!(depth(&casts(40)), depth(&casts(0)) + 40);
        let unions = |n: usize| vec!["SELECT 1"; n].join(" UNION ALL ");
        assert_eq!(depth(&unions(31)), depth(&unions(1)) + 30);
        let joins = |n: usize| {
            let tables: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            format!("SELECT 1 FROM {}", tables.join(" CROSS JOIN "))
        };
        assert_eq!(depth(&joins(21)), depth(&joins(1)) + 20);
        let ctes = |n: usize| {
            let mut parts = vec!["c0 AS (SELECT 1 a)".to_owned()];
            parts.extend((1..n).map(|i| format!("c{i} AS (SELECT a FROM c{})", i - 1)));
            format!("WITH {} SELECT * FROM c{}", parts.join(", "), n - 1)
        };
        assert!(depth(&ctes(21)) >= depth(&ctes(1)) + 20);
        assert!(depth("SELECT a[1][1][1][1][1] FROM t") >= depth("SELECT a FROM t") + 5);
    }

    #[test]
    fn lists_count_one_level() {
        let list: Vec<String> = (0..5000).map(|i| format!("'v{i}'")).collect();
        let in_list = format!("SELECT 1 FROM t WHERE c IN ({})", list.join(", "));
        assert_eq!(depth(&in_list), depth("SELECT 1 FROM t WHERE c IN ('v')"));
        let columns: Vec<String> = (0..5000).map(|i| format!("c{i}")).collect();
        assert_eq!(
            depth(&format!("SELECT {} FROM t", columns.join(", "))),
            depth("SELECT c FROM t")
        );
        let arms: Vec<String> = (0..500).map(|i| format!("WHEN c = {i} THEN {i}")).collect();
        assert_eq!(
            depth(&format!("SELECT CASE {} END FROM t", arms.join(" "))),
            depth("SELECT CASE WHEN c = 0 THEN 0 END FROM t")
        );
    }

    #[test]
    fn the_depth_bound_refuses_past_it_and_only_past_it() {
        let ors = |n: usize| format!("SELECT 1 WHERE {}", vec!["1 = 2"; n].join(" OR "));
        let at = depth(&ors(300));
        assert!(verdict(&ors(300), at).is_ok());
        assert!(refused(&ors(301), at, &format!("the limit is {at}")));
        // a chain far past the bound is refused without walking all of it
        assert!(refused(&ors(50_000), at, "levels deep"));
        assert!(refused(&format!("EXPLAIN {}", ors(301)), at, "levels deep"));
    }

    #[test]
    fn casts_of_computed_values_nest_at_most_16_deep() {
        // CAST( nests at most 8 deep (see below); `::` reaches this bound
        let nested = |n: usize| {
            format!(
                "SELECT {}value{} FROM t",
                "(".repeat(n),
                " + 1)::bigint".repeat(n)
            )
        };
        assert!(verdict(&nested(16), 1000).is_ok());
        assert!(refused(&nested(17), 1000, "casts of computed values"));
        // casts of columns, constants and casts are not nested casts
        let chain = format!("SELECT value{} FROM t", "::bigint".repeat(40));
        assert!(verdict(&chain, 1000).is_ok());
    }

    #[test]
    fn subqueries_in_expressions_nest_at_most_12_deep() {
        let nested = |n: usize| format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n));
        assert!(verdict(&nested(12), 1000).is_ok());
        assert!(refused(&nested(13), 1000, "subqueries inside expressions"));
        let exists = |n: usize| {
            format!(
                "SELECT 1 WHERE {}true{}",
                "EXISTS (SELECT 1 WHERE ".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(refused(&exists(13), 1000, "subqueries inside expressions"));
        // derived tables are plan children, not expressions
        let derived = |n: usize| {
            format!(
                "SELECT * FROM {}(SELECT 1 a) t{}",
                "(SELECT * FROM ".repeat(n),
                ") t".repeat(n)
            )
        };
        let verdict = verdict(&derived(14), 1000);
        assert!(verdict.is_ok(), "{verdict:?}");
    }

    #[test]
    fn relations_count_every_expanded_reference() {
        let joins = |n: usize| {
            let tables: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            format!("SELECT 1 FROM {}", tables.join(", "))
        };
        assert!(verdict(&joins(MAX_RELATIONS as usize), 1000).is_ok());
        assert!(refused(&joins(MAX_RELATIONS as usize + 1), 1000, "tables"));
        // each CTE reads the one before it twice: 2^9 = 512 tables
        let doubling = |n: usize| {
            let mut parts = vec!["c0 AS (SELECT 1 a FROM t)".to_owned()];
            parts.extend(
                (1..n).map(|i| format!("c{i} AS (SELECT x.a FROM c{p} x, c{p} y)", p = i - 1)),
            );
            format!("WITH {} SELECT * FROM c{}", parts.join(", "), n - 1)
        };
        assert!(verdict(&doubling(9), 1000).is_ok());
        assert!(refused(
            &doubling(10),
            1000,
            "once its WITH clauses are expanded"
        ));
        // a CTE that is never read costs nothing
        let unused = format!("WITH u AS ({}) SELECT 1", joins(MAX_RELATIONS as usize));
        assert!(verdict(&unused, 1000).is_ok());
    }

    #[test]
    fn backtracking_keyword_brackets_nest_at_most_8_deep() {
        let nested = |word: &str, n: usize| {
            format!("SELECT {}1,{}", format!("{word}(").repeat(n), ")".repeat(n))
        };
        for word in ["CAST", "POSITION", "substring", "NOT"] {
            assert!(
                check_text(&nested(word, 8), &GenericDialect {}).is_ok(),
                "{word}"
            );
            assert!(
                matches!(check_text(&nested(word, 9), &GenericDialect {}), Err(EngineError::BadRequest(m)) if m.contains("the limit is 8")),
                "{word}"
            );
        }
        let arrays = format!("SELECT {}1{}", "ARRAY[".repeat(9), "]".repeat(9));
        assert!(check_text(&arrays, &GenericDialect {}).is_err());
        // plain parentheses, function calls, quoted names and keywords as text are not special
        let parentheses = format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40));
        assert!(check_text(&parentheses, &GenericDialect {}).is_ok());
        let calls = format!("SELECT {}1{}", "abs(".repeat(40), ")".repeat(40));
        assert!(check_text(&calls, &GenericDialect {}).is_ok());
        let quoted = format!("SELECT {}1{}", "\"cast\"(".repeat(12), ")".repeat(12));
        assert!(check_text(&quoted, &GenericDialect {}).is_ok());
        let text = format!("SELECT '{}'", "CAST(".repeat(20));
        assert!(check_text(&text, &GenericDialect {}).is_ok());
        // refused before the parser, which would take hours on this
        assert!(matches!(
            parse_one(&nested("POSITION", 30), &GenericDialect {}),
            Err(EngineError::BadRequest(_))
        ));
    }

    #[test]
    fn cube_is_bounded_like_postgresql() {
        let cube = |n: usize| {
            let columns: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            format!(
                "SELECT count(*) FROM t GROUP BY CUBE({})",
                columns.join(", ")
            )
        };
        assert!(verdict(&cube(12), 1000).is_ok());
        assert!(refused(&cube(13), 1000, "CUBE takes at most 12 columns"));
    }
}
