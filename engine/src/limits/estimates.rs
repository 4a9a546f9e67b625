//! Which of DataFusion 55's functions are capped, and how big their values will be.
//!
//! Each estimate reads a call's arguments and returns an upper bound, per row, of what the
//! value will take (bytes, offsets, nested values). The list was made by going through every
//! scalar function the session registers (`datafusion::functions`, `functions_nested`) and
//! asking whether the caller can make its output larger than its inputs by more than a small
//! constant factor:
//!
//! - sized by a number the caller gives: `repeat`, `lpad`, `rpad`, `array_repeat`,
//!   `array_resize`, `range`, `generate_series`;
//! - multiplied by a second input: `replace`, `regexp_replace`, `array_replace*` (every match
//!   becomes the replacement), `array_to_string`, `concat_ws` (a separator per element),
//!   `to_char` (a format string expands), `string_to_array` (an element per character);
//! - sums of their inputs, which nested subqueries or a chain of CTEs double at every level:
//!   `concat`, `overlay`, `make_array`, `array_concat`, `array_append`, `array_prepend`,
//!   `array_union`, and `||` (see [`super::concatenation`]);
//! - a bounded factor that nesting compounds: `encode` (hex doubles), `translate` (a character
//!   may become a 4-byte one);
//! - work, not size: `levenshtein` costs the product of its inputs' lengths in one batch, so
//!   it is bounded by [`LEVENSHTEIN_WORK`].
//!
//! Not capped, because their output is at most a small constant factor of their input and
//! does not grow when nested: case mappings (`upper`, `lower`, `initcap`: at most 3×, once),
//! everything that shrinks or keeps size (`substr`, `left`, `right`, `trim`s, `reverse`,
//! `split_part`, `array_slice`, `array_sort`, `array_distinct`, `flatten`, set operations
//! other than union, `array_remove*`, `map_*`), fixed-size results (`to_hex`, hashes,
//! `md5`, `uuid`, `chr`, numbers, dates, booleans), and `decode` (shrinks). The table
//! functions `generate_series` and `range` stream their rows in batches of the session's batch
//! size, so their memory is one batch; their time is the query's deadline.

use crate::error::{EngineError, Result};
use crate::limits::measure::Arg;

/// The values one call will make: the largest, and all of them together, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    pub largest: u64,
    pub total: u64,
}

/// An estimate: the call's arguments and its rows (1 for a constant call).
pub type Estimate = fn(&[Arg], usize) -> Result<Demand>;

/// Most character comparisons `levenshtein` may make in one batch: under a second of work in
/// a release build, so that one batch cannot hold a query thread long past the deadline.
pub const LEVENSHTEIN_WORK: u64 = 1 << 28;

/// What a value takes besides its bytes: offsets, views, validity.
const OVERHEAD: u64 = 16;
/// The longest text of a number, date or timestamp, which `array_to_string` writes out.
const LONGEST_SCALAR_TEXT: u64 = 48;

/// Every capped function, by DataFusion's name for it.
pub const CAPPED: &[(&str, Estimate)] = &[
    ("repeat", repeat),
    ("lpad", pad),
    ("rpad", pad),
    ("replace", replace),
    ("regexp_replace", regexp_replace),
    ("translate", translate),
    ("overlay", sum_of_arguments),
    ("concat", sum_of_arguments),
    ("concat_ws", concat_ws),
    ("encode", encode),
    ("to_char", to_char),
    ("levenshtein", levenshtein),
    ("array_to_string", array_to_string),
    ("string_to_array", string_to_array),
    ("array_repeat", array_repeat),
    ("array_resize", array_resize),
    ("range", range),
    ("generate_series", generate_series),
    ("make_array", sum_of_arguments),
    ("array_concat", sum_of_arguments),
    ("array_append", sum_of_arguments),
    ("array_prepend", sum_of_arguments),
    ("array_union", sum_of_arguments),
    ("array_replace", array_replace),
    ("array_replace_n", array_replace),
    ("array_replace_all", array_replace),
];

/// The demand of `rows` values of `bytes(row)` each.
fn each(rows: usize, bytes: impl Fn(usize) -> u64) -> Demand {
    let mut demand = Demand::default();
    for row in 0..rows {
        let value = bytes(row).saturating_add(OVERHEAD);
        demand.largest = demand.largest.max(value);
        demand.total = demand.total.saturating_add(value);
    }
    demand
}

fn count(arg: Option<&Arg>, row: usize) -> u64 {
    arg.and_then(|a| a.int(row))
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// The most bytes one character of `text` takes: 1 if it is ASCII, else 4.
fn widest_char(text: Option<&[u8]>) -> u64 {
    if text.is_none_or(|t| t.is_ascii()) {
        1
    } else {
        4
    }
}

fn repeat(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        args[0].len(r).saturating_mul(count(args.get(1), r))
    }))
}

/// `lpad(text, n [, fill])`: n characters, the padding's widest.
fn pad(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let fill = args.get(2).map_or(Some(&b" "[..]), |f| f.bytes(r));
        let width = widest_char(fill).max(widest_char(args[0].bytes(r)));
        args[0]
            .len(r)
            .saturating_add(count(args.get(1), r).saturating_mul(width))
    }))
}

/// `replace(text, from, to)`: every occurrence of `from` becomes `to`.
fn replace(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let (Some(text), Some(from), Some(to)) =
            (args[0].text(r), args[1].text(r), args[2].text(r))
        else {
            return args[0].len(r);
        };
        if to.len() <= from.len() {
            return text.len() as u64;
        }
        // an empty pattern matches between every two characters, as in str::replace
        let matches = text.matches(from).count() as u64;
        (text.len() as u64).saturating_add(matches.saturating_mul((to.len() - from.len()) as u64))
    }))
}

/// `regexp_replace(text, pattern, replacement [, flags])`: with `g` every match (at most one per
/// character, plus one) becomes the replacement, whose group references copy matched text
/// (matches do not overlap, so each reference copies at most the whole text once).
fn regexp_replace(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let text = args[0].len(r);
        let Some(replacement) = args.get(2).and_then(|a| a.bytes(r)) else {
            return text;
        };
        let global = args
            .get(3)
            .and_then(|a| a.bytes(r))
            .is_some_and(|flags| flags.contains(&b'g'));
        let matches = if global {
            args[0].text(r).map_or(text, |t| t.chars().count() as u64) + 1
        } else {
            1
        };
        let references = replacement
            .iter()
            .filter(|&&b| b == b'$' || b == b'\\')
            .count() as u64;
        text.saturating_add(matches.saturating_mul(replacement.len() as u64))
            .saturating_add(references.saturating_mul(text))
    }))
}

/// `translate(text, from, to)`: one character for one, at most the widest of `to`.
fn translate(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let to = args.get(2).and_then(|a| a.bytes(r));
        args[0].len(r).saturating_mul(widest_char(to))
    }))
}

pub fn sum_of_arguments(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        args.iter()
            .map(|a| a.value_bytes(r))
            .fold(0, u64::saturating_add)
    }))
}

/// `concat_ws(separator, text, …)`: the texts, and a separator between each two.
fn concat_ws(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let separators = args.len().saturating_sub(2) as u64;
        args[1..].iter().map(|a| a.value_bytes(r)).fold(
            args[0].len(r).saturating_mul(separators),
            u64::saturating_add,
        )
    }))
}

/// `encode(bytes, format)`: hex doubles, base64 takes 4 bytes for 3.
fn encode(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        args[0].len(r).saturating_mul(2).saturating_add(4)
    }))
}

/// `to_char(value, format)`: each 2-character specifier writes at most 32 characters.
fn to_char(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let format = args.get(1).map_or(0, |f| f.len(r));
        format.saturating_mul(16).saturating_add(64)
    }))
}

/// `levenshtein(a, b)` makes a number, but compares every character of `a` with every one of
/// `b`: the batch's comparisons are bounded, so that one batch cannot outlast the deadline.
fn levenshtein(args: &[Arg], rows: usize) -> Result<Demand> {
    let mut work: u64 = 0;
    for row in 0..rows {
        work = work.saturating_add(args[0].len(row).saturating_mul(args[1].len(row)));
    }
    if work > LEVENSHTEIN_WORK {
        return Err(EngineError::BadRequest(format!(
            "levenshtein on values this long needs {work} character comparisons in one batch; the limit is {LEVENSHTEIN_WORK}"
        ).into()));
    }
    Ok(each(rows, |_| 8))
}

/// `array_to_string(list, separator [, null_text])`: every value written out, with a separator
/// (or the null text) for each.
fn array_to_string(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let leaves = args[0].leaves(r);
        let per_leaf = LONGEST_SCALAR_TEXT
            .saturating_add(args.get(1).map_or(0, |a| a.len(r)))
            .saturating_add(args.get(2).map_or(0, |a| a.len(r)));
        args[0]
            .value_bytes(r)
            .saturating_add(leaves.saturating_mul(per_leaf))
    }))
}

/// `string_to_array(text, delimiter)`: at most one element per character, each with its
/// offset and validity.
fn string_to_array(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let text = args[0].len(r);
        text.saturating_add(text.saturating_add(1).saturating_mul(OVERHEAD))
    }))
}

/// `array_repeat(value, n)`: n copies.
fn array_repeat(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        args[0]
            .value_bytes(r)
            .max(1)
            .saturating_mul(count(args.get(1), r))
    }))
}

/// `array_resize(list, n [, fill])`: n elements, each at most the largest of an element and
/// the fill value.
fn array_resize(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let list = args[0].value_bytes(r);
        let element = list / args[0].list_len(r).max(1);
        let fill = args.get(2).map_or(0, |a| a.value_bytes(r));
        list.saturating_add(
            count(args.get(1), r).saturating_mul(element.max(fill).saturating_add(1)),
        )
    }))
}

/// `array_replace*(list, from, to [, n])`: every element may become `to`.
fn array_replace(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        let to = args.get(2).map_or(0, |a| a.value_bytes(r));
        args[0]
            .value_bytes(r)
            .saturating_add(args[0].list_len(r).saturating_mul(to))
    }))
}

fn range(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        series_length(args, r, false).saturating_mul(8)
    }))
}

fn generate_series(args: &[Arg], rows: usize) -> Result<Demand> {
    Ok(each(rows, |r| {
        series_length(args, r, true).saturating_mul(8)
    }))
}

/// How many elements `range`/`generate_series` makes for one row: integers `(stop)`,
/// `(start, stop)`, `(start, stop, step)`, or dates and timestamps with an interval step.
fn series_length(args: &[Arg], row: usize, inclusive: bool) -> u64 {
    let Some((start, stop, step)) = bounds(args, row) else {
        return 0;
    };
    if step == 0 {
        // DataFusion refuses a zero step
        return 0;
    }
    let (low, high, step) = if step > 0 {
        (start, stop, step)
    } else {
        (stop, start, -step)
    };
    if high < low {
        return 0;
    }
    let span = (high - low) as u128;
    let length = span / step as u128 + u128::from(inclusive) + 1;
    u64::try_from(length).unwrap_or(u64::MAX)
}

/// Start, stop and the smallest step of a series, in one unit (integers, or nanoseconds).
fn bounds(args: &[Arg], row: usize) -> Option<(i128, i128, i128)> {
    if let Some(stop) = args.first().and_then(|a| a.int(row))
        && args.len() == 1
    {
        return Some((0, i128::from(stop), 1));
    }
    if let (Some(start), Some(stop)) = (
        args.first().and_then(|a| a.int(row)),
        args.get(1).and_then(|a| a.int(row)),
    ) {
        let step = args.get(2).map_or(Some(1), |a| a.int(row))?;
        return Some((i128::from(start), i128::from(stop), i128::from(step)));
    }
    let start = args.first()?.instant_nanos(row)?;
    let stop = args.get(1)?.instant_nanos(row)?;
    let step = args.get(2)?.shortest_interval_nanos(row)?;
    Some((start, stop, step))
}
