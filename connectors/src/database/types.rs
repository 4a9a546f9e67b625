//! Types shared by the database readers: columns left out, exact decimals, and casting what a
//! database sends to the pinned schema.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::FormatOptions;
use serde::{Deserialize, Serialize};

/// A remote column tiaokuai does not serve, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub column: String,
    pub remote_type: String,
    pub reason: String,
}

/// Parses `text` as a decimal of `precision` and `scale` exactly; `None` if it has more
/// fractional digits than the scale or more digits than the precision.
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    let scale = usize::try_from(scale).ok()?;
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
        || fraction.len() > scale
    {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() + scale > usize::from(precision) {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        value = value * 10 + i128::from(b - b'0');
    }
    value *= 10i128.pow((scale - fraction.len()) as u32);
    Some(if negative { -value } else { value })
}

/// Casts a batch a database sent to the schema tiaokuai expects. A value that does not fit
/// (an overflowing sum, a decimal too wide) is an error, never a NULL or a wrapped number.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    if batch.num_columns() != schema.fields().len() {
        return Err(format!(
            "the database returned {} columns, {} were expected",
            batch.num_columns(),
            schema.fields().len()
        ));
    }
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast_with_options(column, field.data_type(), &options).map_err(|e| {
                    format!(
                        "column {:?} ({} from the database, {} expected): {e}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    )
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.5", 8, 2), Some(1250));
        assert_eq!(parse_decimal("-0.01", 8, 2), Some(-1));
        assert_eq!(parse_decimal("1e3", 8, 2), None);
        assert_eq!(parse_decimal("1.005", 8, 2), None);
        assert_eq!(parse_decimal("1234567", 8, 2), None);
        assert_eq!(parse_decimal("123456.00", 8, 2), Some(12_345_600));
    }
}
