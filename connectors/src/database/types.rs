//! Types shared by the database readers: columns left out, exact decimals, and casting what a
//! database sends to the pinned schema.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
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
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
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

/// The Arrow type of a MySQL/MariaDB column type (`SHOW COLUMNS` text, e.g. `int(11) unsigned`),
/// as its rows are read; `None` for a type tiaokuai does not read (bit fields, geometry).
/// `tinyint(1)` is MySQL's BOOLEAN.
pub fn mysql_type(declared: &str) -> Option<DataType> {
    let t = declared.trim().to_ascii_lowercase();
    let unsigned = t.contains("unsigned");
    let starts = |p: &str| t.starts_with(p);
    let integer = |signed: DataType, unsigned_type: DataType| {
        Some(if unsigned { unsigned_type } else { signed })
    };
    if starts("tinyint(1)") && !unsigned {
        return Some(DataType::Boolean);
    }
    if starts("bool") {
        return Some(DataType::Boolean);
    }
    if starts("decimal") || starts("numeric") || starts("dec(") || starts("fixed") {
        let inside = t.split_once('(')?.1.split_once(')')?.0;
        let (p, s) = inside.split_once(',').unwrap_or((inside, "0"));
        let (p, s): (u8, i8) = (p.trim().parse().ok()?, s.trim().parse().ok()?);
        return (p <= 38).then_some(DataType::Decimal128(p, s));
    }
    if starts("tinyint") {
        return integer(DataType::Int8, DataType::UInt8);
    }
    if starts("smallint") || starts("year") {
        return integer(DataType::Int16, DataType::UInt16);
    }
    if starts("mediumint") || starts("int") {
        return integer(DataType::Int32, DataType::UInt32);
    }
    if starts("bigint") {
        return integer(DataType::Int64, DataType::UInt64);
    }
    if starts("float") {
        return Some(DataType::Float32);
    }
    if starts("double") || starts("real") {
        return Some(DataType::Float64);
    }
    if starts("datetime") || starts("timestamp") {
        return Some(DataType::Timestamp(TimeUnit::Microsecond, None));
    }
    if starts("date") {
        return Some(DataType::Date32);
    }
    if starts("time") {
        return Some(DataType::Time64(TimeUnit::Nanosecond));
    }
    let text = [
        "char",
        "varchar",
        "tinytext",
        "text",
        "mediumtext",
        "longtext",
        "enum",
        "set",
        "json",
    ];
    if text.iter().any(|p| starts(p)) {
        return Some(DataType::Utf8);
    }
    let bytes = [
        "binary",
        "varbinary",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
    ];
    if bytes.iter().any(|p| starts(p)) {
        return Some(DataType::Binary);
    }
    None
}

/// The type tiaokuai serves for a type a reader produces: one kind of text (enums and large
/// text become `Utf8`), one kind of bytes.
pub fn served_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Dictionary(_, value)
            if matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8) =>
        {
            DataType::Utf8
        }
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
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
    fn mysql_types() {
        assert_eq!(mysql_type("int(11) unsigned"), Some(DataType::UInt32));
        assert_eq!(mysql_type("tinyint(1)"), Some(DataType::Boolean));
        assert_eq!(mysql_type("year(4)"), Some(DataType::Int16));
        assert_eq!(
            mysql_type("decimal(12,2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(
            mysql_type("datetime(3)"),
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(mysql_type("enum('ok','sad')"), Some(DataType::Utf8));
        assert_eq!(mysql_type("bit(8)"), None);
        assert_eq!(mysql_type("point"), None);
    }

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
