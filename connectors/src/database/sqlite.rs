//! SQLite files, read directly.
//!
//! The file is opened read-only, so registering a department's database never changes it (no
//! journal-mode pragma, no file created where none was). Values are converted by the declared
//! type of their column, strictly: SQLite lets any column hold any value, and a value that does
//! not fit its column's type fails the query, naming the column, instead of turning into a
//! NULL or a wrong number. A statement that fails part-way fails the query: rows are never
//! silently cut short.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::types::{Skipped, parse_decimal};

const BATCH_ROWS: usize = 8192;

/// Opens a SQLite file for reading; a missing file is an error, not a new empty database.
pub fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    connection
        .busy_timeout(busy_timeout)
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

/// The Arrow type of a declared SQLite column type, following SQLite's affinity rules; `None`
/// for a type tiaokuai cannot read faithfully.
pub fn arrow_type(declared: &str) -> Option<DataType> {
    let upper = declared.to_ascii_uppercase();
    let has = |s: &str| upper.contains(s);
    if has("BOOL") {
        return Some(DataType::Boolean);
    }
    if has("INT") {
        return Some(DataType::Int64);
    }
    if has("CHAR") || has("CLOB") || has("TEXT") || has("JSON") || has("UUID") {
        return Some(DataType::Utf8);
    }
    if has("BLOB") {
        return Some(DataType::Binary);
    }
    if has("REAL") || has("FLOA") || has("DOUB") {
        return Some(DataType::Float64);
    }
    if has("DATETIME") || has("TIMESTAMP") {
        return Some(DataType::Timestamp(TimeUnit::Microsecond, None));
    }
    if has("DATE") {
        return Some(DataType::Date32);
    }
    if has("DECIMAL") || has("NUMERIC") {
        return decimal_type(&upper);
    }
    None
}

/// `DECIMAL(p,s)`: exact numbers need their precision and scale declared.
fn decimal_type(upper: &str) -> Option<DataType> {
    let inside = upper.split_once('(')?.1.split_once(')')?.0;
    let (p, s) = inside.split_once(',').unwrap_or((inside, "0"));
    let precision: u8 = p.trim().parse().ok()?;
    let scale: i8 = s.trim().parse().ok()?;
    ((1..=38).contains(&precision) && scale >= 0 && scale as u8 <= precision)
        .then_some(DataType::Decimal128(precision, scale))
}

/// The readable columns of `table` and the ones left out.
pub fn table_schema(
    connection: &Connection,
    table: &str,
) -> Result<(Schema, Vec<Skipped>), String> {
    let mut statement = connection
        .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info(?1)")
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([table], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    let mut fields = Vec::new();
    let mut skipped = Vec::new();
    for row in rows {
        let (name, declared, not_null) = row.map_err(|e| e.to_string())?;
        match arrow_type(&declared) {
            Some(data_type) => fields.push(Field::new(name, data_type, !not_null)),
            None => skipped.push(Skipped {
                column: name,
                remote_type: declared,
                reason: "SQLite type without a faithful Arrow type".into(),
            }),
        }
    }
    if fields.is_empty() && skipped.is_empty() {
        return Err(format!("table {table:?} does not exist"));
    }
    Ok((Schema::new(fields), skipped))
}

/// The schema rows are read in for an expected schema: SQLite has one integer and one real
/// type, so narrower numbers are read wide and cast afterwards (with overflow checked).
pub fn reading_schema(expected: &Schema) -> SchemaRef {
    let fields: Vec<Field> = expected
        .fields()
        .iter()
        .map(|f| {
            let data_type = match f.data_type() {
                t if t.is_integer() => DataType::Int64,
                t if t.is_floating() => DataType::Float64,
                DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, None),
                DataType::Boolean
                | DataType::Binary
                | DataType::Date32
                | DataType::Decimal128(_, _) => f.data_type().clone(),
                _ => DataType::Utf8,
            };
            Field::new(f.name(), data_type, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Runs `sql` and sends its rows, `schema`'s columns in order, a batch at a time. Stops when
/// the receiver is gone.
pub fn run(
    connection: &Connection,
    sql: &str,
    schema: &SchemaRef,
    send: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<(), String> {
    let mut statement = connection.prepare(sql).map_err(|e| e.to_string())?;
    if statement.column_count() != schema.fields().len() {
        return Err(format!(
            "the statement returns {} columns, {} were expected",
            statement.column_count(),
            schema.fields().len()
        ));
    }
    let mut rows = statement.raw_query();
    let mut builders = new_builders(schema);
    let mut count = 0;
    // an error while stepping (overflow, a busy file, a corrupt page) ends the query with
    // that error: the rows so far are not an answer
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        for (index, builder) in builders.iter_mut().enumerate() {
            let value = row.get_ref(index).map_err(|e| e.to_string())?;
            append(builder, schema.field(index), value)?;
        }
        count += 1;
        if count == BATCH_ROWS {
            if !send(finish(schema, &mut builders)?) {
                return Ok(());
            }
            count = 0;
        }
    }
    if count > 0 {
        send(finish(schema, &mut builders)?);
    }
    Ok(())
}

enum Column {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder, u8, i8),
}

fn new_builders(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Boolean => Column::Bool(BooleanBuilder::new()),
            DataType::Int64 => Column::Int(Int64Builder::new()),
            DataType::Float64 => Column::Float(Float64Builder::new()),
            DataType::Binary => Column::Bytes(BinaryBuilder::new()),
            DataType::Date32 => Column::Date(Date32Builder::new()),
            DataType::Timestamp(_, _) => Column::Time(TimestampMicrosecondBuilder::new()),
            DataType::Decimal128(p, s) => Column::Decimal(Decimal128Builder::new(), *p, *s),
            _ => Column::Text(StringBuilder::new()),
        })
        .collect()
}

fn finish(schema: &SchemaRef, builders: &mut [Column]) -> Result<RecordBatch, String> {
    let arrays: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| -> ArrayRef {
            match b {
                Column::Bool(b) => Arc::new(b.finish()),
                Column::Int(b) => Arc::new(b.finish()),
                Column::Float(b) => Arc::new(b.finish()),
                Column::Text(b) => Arc::new(b.finish()),
                Column::Bytes(b) => Arc::new(b.finish()),
                Column::Date(b) => Arc::new(b.finish()),
                Column::Time(b) => Arc::new(b.finish()),
                Column::Decimal(b, p, s) => {
                    let array = b.finish();
                    Arc::new(
                        array
                            .with_precision_and_scale(*p, *s)
                            .expect("checked type"),
                    )
                }
            }
        })
        .collect();
    // nullability comes from the declaration; the batch carries the pinned schema
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

fn mismatch(field: &Field, value: ValueRef<'_>) -> String {
    let kind = match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    format!(
        "column {:?} is declared {} but holds {kind}",
        field.name(),
        field.data_type()
    )
}

fn text<'a>(field: &Field, bytes: &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(bytes)
        .map_err(|_| format!("column {:?} holds text that is not UTF-8", field.name()))
}

fn append(column: &mut Column, field: &Field, value: ValueRef<'_>) -> Result<(), String> {
    if matches!(value, ValueRef::Null) {
        match column {
            Column::Bool(b) => b.append_null(),
            Column::Int(b) => b.append_null(),
            Column::Float(b) => b.append_null(),
            Column::Text(b) => b.append_null(),
            Column::Bytes(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Decimal(b, _, _) => b.append_null(),
        }
        return Ok(());
    }
    match (column, value) {
        (Column::Bool(b), ValueRef::Integer(i @ (0 | 1))) => b.append_value(i == 1),
        (Column::Int(b), ValueRef::Integer(i)) => b.append_value(i),
        (Column::Float(b), ValueRef::Real(f)) => b.append_value(f),
        (Column::Float(b), ValueRef::Integer(i)) => b.append_value(i as f64),
        (Column::Text(b), ValueRef::Text(t)) => b.append_value(text(field, t)?),
        (Column::Bytes(b), ValueRef::Blob(x)) => b.append_value(x),
        (Column::Date(b), ValueRef::Text(t)) => b.append_value(parse_date(field, text(field, t)?)?),
        (Column::Time(b), ValueRef::Text(t)) => {
            b.append_value(parse_timestamp(field, text(field, t)?)?)
        }
        (Column::Decimal(b, p, s), value) => {
            let repr = match value {
                ValueRef::Integer(i) => i.to_string(),
                // the shortest text that reads back as the same double
                ValueRef::Real(f) => format!("{f:?}"),
                ValueRef::Text(t) => text(field, t)?.to_owned(),
                other => return Err(mismatch(field, other)),
            };
            let parsed = parse_decimal(&repr, *p, *s).ok_or_else(|| {
                format!(
                    "column {:?} holds {repr:?}, which is not a DECIMAL({p},{s})",
                    field.name()
                )
            })?;
            b.append_value(parsed);
        }
        (_, other) => return Err(mismatch(field, other)),
    }
    Ok(())
}

fn parse_date(field: &Field, value: &str) -> Result<i32, String> {
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        format!(
            "column {:?} holds {value:?}, which is not a date (YYYY-MM-DD)",
            field.name()
        )
    })?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Ok((date - epoch).num_days() as i32)
}

fn parse_timestamp(field: &Field, value: &str) -> Result<i64, String> {
    let parsed = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
    ]
    .iter()
    .find_map(|format| {
        chrono::NaiveDateTime::parse_from_str(value, format)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(value, format)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    })
    .ok_or_else(|| {
        format!(
            "column {:?} holds {value:?}, which is not a timestamp",
            field.name()
        )
    })?;
    Ok(parsed.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        assert_eq!(arrow_type("INTEGER"), Some(DataType::Int64));
        assert_eq!(arrow_type("varchar(20)"), Some(DataType::Utf8));
        assert_eq!(
            arrow_type("DECIMAL(12, 2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(arrow_type("NUMERIC"), None);
        assert_eq!(arrow_type(""), None);
        assert_eq!(arrow_type("DATE"), Some(DataType::Date32));
        assert_eq!(arrow_type("boolean"), Some(DataType::Boolean));
    }

    #[test]
    fn strict_values_and_errors_mid_statement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER, amount DECIMAL(8,2), day DATE, note TEXT);
             INSERT INTO t VALUES (1, 12.5, '2024-01-02', '张三'), (2, NULL, NULL, NULL),
                                  (9223372036854775807, 1, '2024-01-03', 'x');",
        )
        .unwrap();
        drop(c);
        let c = open(&path, Duration::from_secs(1)).unwrap();
        let (schema, skipped) = table_schema(&c, "t").unwrap();
        assert!(skipped.is_empty());
        let schema = Arc::new(schema);
        let mut batches = Vec::new();
        run(
            &c,
            "SELECT id, amount, day, note FROM t WHERE id < 3",
            &schema,
            &mut |b| {
                batches.push(b);
                true
            },
        )
        .unwrap();
        assert_eq!(batches[0].num_rows(), 2);
        // SUM overflows at the third row: the statement fails instead of answering short
        let sum = Arc::new(Schema::new(vec![Field::new("s", DataType::Int64, true)]));
        let error = run(&c, "SELECT sum(id) FROM t", &sum, &mut |_| true).unwrap_err();
        assert!(error.contains("overflow"), "{error}");
        assert!(table_schema(&c, "missing").is_err());
        assert!(open(&dir.path().join("none.db"), Duration::from_secs(1)).is_err());
    }
}
