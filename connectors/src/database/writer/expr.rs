//! Expressions inside a written `SELECT`: columns, literals, comparisons, boolean logic,
//! `CASE`, `LIKE` and the few functions every database computes as DataFusion does.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{Alias, InList, Like, ScalarFunction};
use datafusion::logical_expr::{Between, BinaryExpr, Case, Cast, Expr, ExprSchemable, Operator};

use super::{Scope, Writer};
use crate::database::dialect::{Family, LikePiece};

impl Writer<'_> {
    pub(super) fn type_family(&self, expr: &Expr, scope: &Scope) -> Option<Family> {
        Family::of(&expr.get_type(&scope.schema).ok()?)
    }

    /// `left op right`, comparing text by bytes.
    pub(super) fn compare(
        &self,
        left: &Expr,
        op: Operator,
        right: &Expr,
        scope: &Scope,
    ) -> Option<String> {
        let family = self.type_family(left, scope)?;
        if self.type_family(right, scope)? != family {
            return None;
        }
        if family == Family::Boolean && !matches!(op, Operator::Eq | Operator::NotEq) {
            return None;
        }
        if !self.dialect.compares(family) {
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
        Some(match family {
            Family::Text => self.dialect.compare_text(&l, symbol, &r),
            _ => format!("({l} {symbol} {r})"),
        })
    }

    pub(super) fn expr(&self, expr: &Expr, scope: &Scope) -> Option<String> {
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
                let from = Family::of(&inner.get_type(&scope.schema).ok()?)?;
                match (from, Family::of(field.data_type())?) {
                    // widening an integer or changing a string's representation keeps its
                    // value: the database's own value is the same
                    (Family::Integer, Family::Integer) | (Family::Text, Family::Text) => {
                        self.expr(inner, scope)
                    }
                    _ => None,
                }
            }
            Expr::ScalarFunction(function) => self.function(function, scope),
            _ => None,
        }
    }

    fn function(&self, function: &ScalarFunction, scope: &Scope) -> Option<String> {
        let ScalarFunction { func, args } = function;
        match (func.name(), args.as_slice()) {
            ("character_length" | "char_length" | "length", [arg])
                if self.type_family(arg, scope)? == Family::Text =>
            {
                Some(self.dialect.char_length(&self.expr(arg, scope)?))
            }
            // the pieces the masks are made of: character positions and lengths given as
            // literals, which every database counts alike
            ("substr", [text, start, length]) if self.type_family(text, scope)? == Family::Text => {
                let (Some(start), Some(length)) = (positive(start), positive(length)) else {
                    return None;
                };
                if start == 0 {
                    return None;
                }
                let text = self.expr(text, scope)?;
                Some(self.dialect.substr(&text, start, length))
            }
            // DataFusion's concat skips NULLs (and gives '' for none), as COALESCE does
            ("concat", parts) if !parts.is_empty() => {
                let parts = parts
                    .iter()
                    .map(|p| {
                        (self.type_family(p, scope)? == Family::Text)
                            .then(|| Some(format!("COALESCE({}, '')", self.expr(p, scope)?)))?
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(self.dialect.concat(&parts))
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
        let test = self.dialect.like(&subject, pattern, &pieces)?;
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
        self.dialect.string(text)
    }

    fn literal(&self, value: &ScalarValue) -> Option<String> {
        if value.is_null() {
            // typed by its context (a CASE branch, a comparison that is NULL anyway)
            return Family::of(&value.data_type()).map(|_| "NULL".to_owned());
        }
        match value {
            ScalarValue::Int8(Some(v)) => Some(v.to_string()),
            ScalarValue::Int16(Some(v)) => Some(v.to_string()),
            ScalarValue::Int32(Some(v)) => Some(v.to_string()),
            ScalarValue::Int64(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt8(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt16(Some(v)) => Some(v.to_string()),
            ScalarValue::UInt32(Some(v)) => Some(v.to_string()),
            ScalarValue::Boolean(Some(v)) => Some(self.dialect.boolean(*v).to_owned()),
            ScalarValue::Date32(Some(_)) => self.dialect.date(&value.to_string()),
            ScalarValue::Decimal128(Some(_), p, s) => {
                self.dialect.decimal(&value.to_string(), *p, *s)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::dialect::Dialect;
    use crate::database::dialect::sqlite::Sqlite;

    #[test]
    fn like_patterns() {
        assert_eq!(
            Sqlite
                .like("s", "", &like_pieces(r"a\_b%[x]?*_").unwrap())
                .as_deref(),
            Some("s GLOB 'a_b*[[]x][?][*]?'")
        );
        assert!(like_pieces(r"a\").is_none());
        assert!(like_pieces(r"a\b").is_none());
    }
}
