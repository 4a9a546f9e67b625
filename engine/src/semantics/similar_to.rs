//! `SIMILAR TO` as SQL reads it.
//!
//! DataFusion 55 hands a `SIMILAR TO` pattern to its regular-expression match unchanged: `%`
//! and `_` are then literal characters and the match is not anchored, so
//! `name SIMILAR TO '(Zhang|Lu)%'` matches nothing and `'abc' SIMILAR TO 'b'` is TRUE
//! (apache/datafusion#22263). Here each constant pattern is translated, as PostgreSQL does,
//! into a regular expression matched against the whole value: `%` is any text, `_` any one
//! character, `|`, `*`, `+`, `?`, `{m,n}`, parentheses and bracket expressions keep their
//! meaning, everything else (`.`, `^`, `$` included) stands for itself, and the escape
//! character (`\` unless `ESCAPE` names another) makes the next character literal.
//! What the two regular-expression dialects could read differently is refused with a clear
//! error instead: POSIX classes such as `[[:alpha:]]`, escapes before letters or digits (which
//! PostgreSQL reads as class shorthands such as `\d`), escapes inside brackets, and a
//! quantifier that follows no atom.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, not_impl_err, plan_err};
use datafusion::logical_expr::expr::{Cast, Like, TryCast};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, lit};

/// Rewrites every `SIMILAR TO` in `expr` into a regular-expression match.
pub fn rewrite(expr: Expr) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| match e {
        Expr::SimilarTo(like) => Ok(Transformed::yes(regex_match(like)?)),
        other => Ok(Transformed::no(other)),
    })
}

fn regex_match(like: Like) -> Result<Expr> {
    let Like {
        negated,
        expr,
        pattern,
        escape_char,
        case_insensitive,
    } = like;
    // the pattern may arrive cast to the compared value's string type
    let (value, retyped) = match *pattern {
        Expr::Literal(value, _) => (value, None),
        Expr::Cast(Cast { expr, field }) => match *expr {
            Expr::Literal(value, _) => (value, Some(field.data_type().clone())),
            _ => return not_constant(),
        },
        Expr::TryCast(TryCast { expr, field }) => match *expr {
            Expr::Literal(value, _) => (value, Some(field.data_type().clone())),
            _ => return not_constant(),
        },
        _ => return not_constant(),
    };
    let text = match &value {
        ScalarValue::Utf8(text) | ScalarValue::LargeUtf8(text) | ScalarValue::Utf8View(text) => {
            text.as_deref()
        }
        ScalarValue::Null => None,
        other => return plan_err!("a SIMILAR TO pattern is text, not {}", other.data_type()),
    };
    // a NULL pattern matches nothing and fails nothing: the answer is UNKNOWN
    let Some(text) = text else {
        return Ok(lit(ScalarValue::Boolean(None)));
    };
    let regex = match translate(text, escape_char.unwrap_or('\\')) {
        Ok(regex) => regex,
        Err(reason) => return plan_err!("SIMILAR TO pattern {text:?}: {reason}"),
    };
    let typed = match &value {
        ScalarValue::LargeUtf8(_) => ScalarValue::LargeUtf8(Some(regex)),
        ScalarValue::Utf8View(_) => ScalarValue::Utf8View(Some(regex)),
        _ => ScalarValue::Utf8(Some(regex)),
    };
    let pattern = match retyped {
        Some(data_type) => datafusion::logical_expr::cast(lit(typed), data_type),
        None => lit(typed),
    };
    let op = match (negated, case_insensitive) {
        (false, false) => Operator::RegexMatch,
        (true, false) => Operator::RegexNotMatch,
        (false, true) => Operator::RegexIMatch,
        (true, true) => Operator::RegexNotIMatch,
    };
    Ok(Expr::BinaryExpr(BinaryExpr::new(
        expr,
        op,
        Box::new(pattern),
    )))
}

fn not_constant() -> Result<Expr> {
    not_impl_err!("SIMILAR TO takes a constant pattern (or a parameter) here")
}

/// The regular expression (in the syntax of the `regex` crate, which DataFusion's `~` runs)
/// that matches a whole value exactly when the SQL pattern does; or why the pattern is refused.
pub fn translate(pattern: &str, escape: char) -> std::result::Result<String, String> {
    // `s`: `%` and `_` match line breaks too, as in PostgreSQL
    let mut out = String::from("(?s)^(?:");
    let mut chars = pattern.chars().peekable();
    let mut open_groups = 0_usize;
    // what a quantifier may follow: an atom, or a quantifier once (`*?`, lazy)
    let mut after = After::Start;
    while let Some(c) = chars.next() {
        if c == escape {
            let Some(next) = chars.next() else {
                return Err(format!("it ends in its escape character {escape:?}"));
            };
            if next.is_ascii_alphanumeric() {
                return Err(format!(
                    "{escape}{next} would mean different things here and in PostgreSQL; write the character itself"
                ));
            }
            if next == '"' {
                return Err(format!(
                    "{escape}\" separates the parts of SUBSTRING … SIMILAR, not of a SIMILAR TO pattern"
                ));
            }
            literal(&mut out, next);
            after = After::Atom;
            continue;
        }
        match c {
            '%' => {
                out.push_str(".*");
                after = After::Quantifier;
            }
            '_' => {
                out.push('.');
                after = After::Atom;
            }
            '(' => {
                out.push_str("(?:");
                open_groups += 1;
                after = After::Start;
            }
            ')' => {
                if open_groups == 0 {
                    return Err("it closes a parenthesis it did not open".into());
                }
                open_groups -= 1;
                out.push(')');
                after = After::Atom;
            }
            '|' => {
                out.push('|');
                after = After::Start;
            }
            '*' | '+' | '?' | '{' => {
                let quantifier = if c == '{' {
                    bounds(&mut chars)?
                } else {
                    c.to_string()
                };
                after = match (after, quantifier.as_str()) {
                    (After::Atom, _) => After::Quantifier,
                    (After::Quantifier, "?") => After::Lazy,
                    _ => {
                        return Err(format!(
                            "the quantifier {quantifier} follows nothing it could repeat"
                        ));
                    }
                };
                out.push_str(&quantifier);
            }
            '[' => {
                bracket(&mut chars, &mut out, escape)?;
                after = After::Atom;
            }
            other => {
                literal(&mut out, other);
                after = After::Atom;
            }
        }
    }
    if open_groups > 0 {
        return Err("it leaves a parenthesis open".into());
    }
    out.push_str(")$");
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The start, `(` or `|`: nothing to repeat.
    Start,
    Atom,
    Quantifier,
    /// A lazy quantifier (`*?`), which nothing may follow as a quantifier.
    Lazy,
}

/// One character that stands for itself: ASCII punctuation and spaces written as `\x{…}`,
/// which the regex crate reads as that character inside and outside brackets.
fn literal(out: &mut String, c: char) {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// `{m}`, `{m,}` or `{m,n}` after its `{`.
fn bounds(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> std::result::Result<String, String> {
    let mut text = String::new();
    for c in chars.by_ref() {
        if c == '}' {
            let valid = match text.split_once(',') {
                None => number(&text).is_some(),
                Some((low, "")) => number(low).is_some(),
                Some((low, high)) => {
                    matches!((number(low), number(high)), (Some(l), Some(h)) if l <= h)
                }
            };
            if !valid {
                break;
            }
            return Ok(format!("{{{text}}}"));
        }
        text.push(c);
    }
    Err(
        "a brace is a bound, {m}, {m,} or {m,n} with m ≤ n ≤ 255; write a literal brace escaped"
            .into(),
    )
}

/// A repetition count as PostgreSQL accepts it (at most 255).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 3 {
        return None;
    }
    text.parse().ok().filter(|n| *n <= 255)
}

/// A bracket expression after its `[`: a set of characters and ranges, negated by a leading
/// `^`, in which a leading `]` stands for itself.
fn bracket(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
    escape: char,
) -> std::result::Result<(), String> {
    out.push('[');
    if chars.peek() == Some(&'^') {
        chars.next();
        out.push('^');
    }
    let mut first = true;
    loop {
        let Some(c) = chars.next() else {
            return Err("it leaves a bracket expression [ open".into());
        };
        if c == ']' && !first {
            break;
        }
        first = false;
        if c == escape {
            return Err(format!(
                "an escape character {escape:?} inside brackets is read differently by PostgreSQL; put the character in the brackets as it is"
            ));
        }
        if c == '[' && matches!(chars.peek(), Some(':' | '.' | '=')) {
            return Err(
                "character classes such as [[:alpha:]] depend on PostgreSQL's locale and are not supported; list the characters or ranges".into(),
            );
        }
        // a range: a character, '-', and a character other than the closing bracket
        if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            match ahead.peek() {
                Some(']') | None => {}
                Some(&high) => {
                    if high == escape || high == '[' {
                        return Err("a range in brackets ends in a plain character".into());
                    }
                    if high < c {
                        return Err(format!("the range {c}-{high} runs backwards"));
                    }
                    chars.next();
                    chars.next();
                    literal(out, c);
                    out.push('-');
                    literal(out, high);
                    continue;
                }
            }
        }
        literal(out, c);
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::translate;

    /// Whether `text` matches the translated pattern, as DataFusion's `~` runs it.
    fn matches(pattern: &str, text: &str) -> bool {
        let regex = translate(pattern, '\\').unwrap();
        let array = datafusion::arrow::array::StringArray::from(vec![text]);
        datafusion::arrow::compute::regexp_is_match_scalar(&array, &regex, None)
            .unwrap()
            .value(0)
    }

    #[test]
    fn patterns_mean_what_sql_says() {
        // each answer is PostgreSQL 15's
        for (pattern, text, expected) in [
            ("(Zhang|Lu)%", "Zhang San", true),
            ("(Zhang|Lu)%", "Lu Xun", true),
            ("(Zhang|Lu)%", "Li Lu", false),
            ("b", "abc", false),
            ("a.c", "abc", false),
            ("a.c", "a.c", true),
            ("a_c", "abc", true),
            ("a%c", "a\nb\nc", true),
            ("[a-c]+", "abcab", true),
            ("[^a-c]", "d", true),
            ("[^a-c]", "a", false),
            ("[]a]", "]", true),
            ("a{2,3}", "aaa", true),
            ("a{2,3}", "aaaa", false),
            ("a\\+", "a+", true),
            ("a\\%", "a%", true),
            ("a\\%", "ab", false),
            ("$^", "$^", true),
            ("张%", "张三", true),
            ("_", "张", true),
            ("(|x)y", "y", true),
            ("a*?b", "aab", true),
            ("%", "", true),
        ] {
            assert_eq!(
                matches(pattern, text),
                expected,
                "{text:?} SIMILAR TO {pattern:?}"
            );
        }
    }

    #[test]
    fn refuses_what_could_be_read_differently() {
        for pattern in [
            "\\d",
            "a\\",
            "[[:alpha:]]",
            "[a\\]]",
            "[z-a]",
            "*a",
            "a**",
            "(a",
            "a)",
            "a{",
            "a{x}",
            "a{3,2}",
            "a{256}",
            "[abc",
            "%*",
            "\\\"a\\\"",
        ] {
            assert!(translate(pattern, '\\').is_err(), "{pattern:?}");
        }
        // another escape character makes the backslash an ordinary one
        assert_eq!(
            translate("a\\b#%", '#').unwrap(),
            "(?s)^(?:a\\x{5C}b\\x{25})$"
        );
    }
}
