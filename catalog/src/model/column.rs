//! Pinned columns and their types, in the catalog's own stable form.
//!
//! A pinned schema must read back the same after Arrow is upgraded, so a column's type is
//! stored as a [`ColumnType`]: a tagged JSON object the catalog defines (`{"name": "decimal",
//! "precision": 14, "scale": 2}`), not Arrow's text form, which changes between Arrow
//! releases. This is column type format 1; a change to it comes with a catalog migration.
//! Rows written before the format (Arrow's text only) are read once by the migration that
//! rewrites them ([`ColumnDef::from_legacy`]).
//!
//! The API shows each column both ways: `data_type` in Arrow's text form, for people, and
//! `type` in the stable form, for programs.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, IntervalUnit, TimeUnit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::CatalogError;

/// The unit of a time, timestamp or duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeResolution {
    S,
    Ms,
    Us,
    Ns,
}

/// The unit of an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntervalResolution {
    YearMonth,
    DayTime,
    MonthDayNano,
}

/// A field inside a nested type (a list's items, a struct's members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ColumnField {
    pub name: String,
    #[serde(rename = "type")]
    #[schema(no_recursion)]
    pub column_type: ColumnType,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A column's type, as the catalog stores it (format 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ColumnType {
    Null,
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float16,
    Float32,
    Float64,
    /// A decimal of `bits` (32, 64, 128 or 256) bits.
    Decimal {
        bits: u16,
        precision: u8,
        scale: i8,
    },
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    FixedSizeBinary {
        width: i32,
    },
    Date32,
    Date64,
    Time32 {
        unit: TimeResolution,
    },
    Time64 {
        unit: TimeResolution,
    },
    Timestamp {
        unit: TimeResolution,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    Duration {
        unit: TimeResolution,
    },
    Interval {
        unit: IntervalResolution,
    },
    List {
        #[schema(no_recursion)]
        item: Box<ColumnField>,
    },
    LargeList {
        #[schema(no_recursion)]
        item: Box<ColumnField>,
    },
    FixedSizeList {
        #[schema(no_recursion)]
        item: Box<ColumnField>,
        size: i32,
    },
    Struct {
        #[schema(no_recursion)]
        fields: Vec<ColumnField>,
    },
    Map {
        #[schema(no_recursion)]
        entries: Box<ColumnField>,
        sorted: bool,
    },
    Dictionary {
        #[schema(no_recursion)]
        key: Box<ColumnType>,
        #[schema(no_recursion)]
        value: Box<ColumnType>,
    },
}

impl ColumnType {
    /// Whether the type holds text (division codes, masked personal data).
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            ColumnType::Utf8 | ColumnType::LargeUtf8 | ColumnType::Utf8View
        )
    }
}

impl From<TimeUnit> for TimeResolution {
    fn from(unit: TimeUnit) -> Self {
        match unit {
            TimeUnit::Second => TimeResolution::S,
            TimeUnit::Millisecond => TimeResolution::Ms,
            TimeUnit::Microsecond => TimeResolution::Us,
            TimeUnit::Nanosecond => TimeResolution::Ns,
        }
    }
}

impl From<TimeResolution> for TimeUnit {
    fn from(unit: TimeResolution) -> Self {
        match unit {
            TimeResolution::S => TimeUnit::Second,
            TimeResolution::Ms => TimeUnit::Millisecond,
            TimeResolution::Us => TimeUnit::Microsecond,
            TimeResolution::Ns => TimeUnit::Nanosecond,
        }
    }
}

impl From<IntervalUnit> for IntervalResolution {
    fn from(unit: IntervalUnit) -> Self {
        match unit {
            IntervalUnit::YearMonth => IntervalResolution::YearMonth,
            IntervalUnit::DayTime => IntervalResolution::DayTime,
            IntervalUnit::MonthDayNano => IntervalResolution::MonthDayNano,
        }
    }
}

impl From<IntervalResolution> for IntervalUnit {
    fn from(unit: IntervalResolution) -> Self {
        match unit {
            IntervalResolution::YearMonth => IntervalUnit::YearMonth,
            IntervalResolution::DayTime => IntervalUnit::DayTime,
            IntervalResolution::MonthDayNano => IntervalUnit::MonthDayNano,
        }
    }
}

impl TryFrom<&Field> for ColumnField {
    type Error = CatalogError;

    fn try_from(field: &Field) -> Result<Self, CatalogError> {
        Ok(ColumnField {
            name: field.name().clone(),
            column_type: field.data_type().try_into()?,
            nullable: field.is_nullable(),
            metadata: field
                .metadata()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

impl From<&ColumnField> for Field {
    fn from(field: &ColumnField) -> Self {
        Field::new(
            &field.name,
            DataType::from(&field.column_type),
            field.nullable,
        )
        .with_metadata(field.metadata.clone().into_iter().collect())
    }
}

fn field_of(field: &Field) -> Result<Box<ColumnField>, CatalogError> {
    Ok(Box::new(field.try_into()?))
}

impl TryFrom<&DataType> for ColumnType {
    type Error = CatalogError;

    /// The stored form of an Arrow type; the few Arrow types a source cannot be pinned with
    /// (views of lists, unions, run-end encoding) are refused by name.
    fn try_from(data_type: &DataType) -> Result<Self, CatalogError> {
        let decimal = |bits, precision, scale| ColumnType::Decimal {
            bits,
            precision,
            scale,
        };
        Ok(match data_type {
            DataType::Null => ColumnType::Null,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Int8 => ColumnType::Int8,
            DataType::Int16 => ColumnType::Int16,
            DataType::Int32 => ColumnType::Int32,
            DataType::Int64 => ColumnType::Int64,
            DataType::UInt8 => ColumnType::Uint8,
            DataType::UInt16 => ColumnType::Uint16,
            DataType::UInt32 => ColumnType::Uint32,
            DataType::UInt64 => ColumnType::Uint64,
            DataType::Float16 => ColumnType::Float16,
            DataType::Float32 => ColumnType::Float32,
            DataType::Float64 => ColumnType::Float64,
            DataType::Decimal32(p, s) => decimal(32, *p, *s),
            DataType::Decimal64(p, s) => decimal(64, *p, *s),
            DataType::Decimal128(p, s) => decimal(128, *p, *s),
            DataType::Decimal256(p, s) => decimal(256, *p, *s),
            DataType::Utf8 => ColumnType::Utf8,
            DataType::LargeUtf8 => ColumnType::LargeUtf8,
            DataType::Utf8View => ColumnType::Utf8View,
            DataType::Binary => ColumnType::Binary,
            DataType::LargeBinary => ColumnType::LargeBinary,
            DataType::BinaryView => ColumnType::BinaryView,
            DataType::FixedSizeBinary(width) => ColumnType::FixedSizeBinary { width: *width },
            DataType::Date32 => ColumnType::Date32,
            DataType::Date64 => ColumnType::Date64,
            DataType::Time32(unit) => ColumnType::Time32 {
                unit: (*unit).into(),
            },
            DataType::Time64(unit) => ColumnType::Time64 {
                unit: (*unit).into(),
            },
            DataType::Timestamp(unit, zone) => ColumnType::Timestamp {
                unit: (*unit).into(),
                zone: zone.as_deref().map(str::to_owned),
            },
            DataType::Duration(unit) => ColumnType::Duration {
                unit: (*unit).into(),
            },
            DataType::Interval(unit) => ColumnType::Interval {
                unit: (*unit).into(),
            },
            DataType::List(item) => ColumnType::List {
                item: field_of(item)?,
            },
            DataType::LargeList(item) => ColumnType::LargeList {
                item: field_of(item)?,
            },
            DataType::FixedSizeList(item, size) => ColumnType::FixedSizeList {
                item: field_of(item)?,
                size: *size,
            },
            DataType::Struct(fields) => ColumnType::Struct {
                fields: fields
                    .iter()
                    .map(|f| ColumnField::try_from(f.as_ref()))
                    .collect::<Result<_, _>>()?,
            },
            DataType::Map(entries, sorted) => ColumnType::Map {
                entries: field_of(entries)?,
                sorted: *sorted,
            },
            DataType::Dictionary(key, value) => ColumnType::Dictionary {
                key: Box::new(key.as_ref().try_into()?),
                value: Box::new(value.as_ref().try_into()?),
            },
            other => {
                return Err(CatalogError::invalid(format!(
                    "a column of type {other} cannot be pinned"
                )));
            }
        })
    }
}

impl From<&ColumnType> for DataType {
    fn from(column_type: &ColumnType) -> Self {
        let field = |f: &ColumnField| Arc::new(Field::from(f));
        match column_type {
            ColumnType::Null => DataType::Null,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Int8 => DataType::Int8,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Uint8 => DataType::UInt8,
            ColumnType::Uint16 => DataType::UInt16,
            ColumnType::Uint32 => DataType::UInt32,
            ColumnType::Uint64 => DataType::UInt64,
            ColumnType::Float16 => DataType::Float16,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal {
                bits,
                precision,
                scale,
            } => match bits {
                32 => DataType::Decimal32(*precision, *scale),
                64 => DataType::Decimal64(*precision, *scale),
                256 => DataType::Decimal256(*precision, *scale),
                _ => DataType::Decimal128(*precision, *scale),
            },
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::LargeUtf8 => DataType::LargeUtf8,
            ColumnType::Utf8View => DataType::Utf8View,
            ColumnType::Binary => DataType::Binary,
            ColumnType::LargeBinary => DataType::LargeBinary,
            ColumnType::BinaryView => DataType::BinaryView,
            ColumnType::FixedSizeBinary { width } => DataType::FixedSizeBinary(*width),
            ColumnType::Date32 => DataType::Date32,
            ColumnType::Date64 => DataType::Date64,
            ColumnType::Time32 { unit } => DataType::Time32((*unit).into()),
            ColumnType::Time64 { unit } => DataType::Time64((*unit).into()),
            ColumnType::Timestamp { unit, zone } => {
                DataType::Timestamp((*unit).into(), zone.as_deref().map(Arc::from))
            }
            ColumnType::Duration { unit } => DataType::Duration((*unit).into()),
            ColumnType::Interval { unit } => DataType::Interval((*unit).into()),
            ColumnType::List { item } => DataType::List(field(item)),
            ColumnType::LargeList { item } => DataType::LargeList(field(item)),
            ColumnType::FixedSizeList { item, size } => DataType::FixedSizeList(field(item), *size),
            ColumnType::Struct { fields } => {
                DataType::Struct(fields.iter().map(field).collect::<Fields>())
            }
            ColumnType::Map { entries, sorted } => DataType::Map(field(entries), *sorted),
            ColumnType::Dictionary { key, value } => DataType::Dictionary(
                Box::new(key.as_ref().into()),
                Box::new(value.as_ref().into()),
            ),
        }
    }
}

/// A column of a pinned schema.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
pub struct ColumnDef {
    pub name: String,
    /// The type in Arrow's text form (`Utf8`, `Int64`, `Timestamp(µs, "UTC")`), for people.
    #[schema(value_type = String)]
    pub data_type: DataTypeText,
    pub nullable: bool,
    /// The type in the catalog's stable form, for programs.
    #[schema(rename = "type")]
    pub column_type: ColumnType,
}

/// A column type's text form: derived from the stored type, never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTypeText(String);

impl std::ops::Deref for DataTypeText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DataTypeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ColumnDef {
    pub fn new(name: impl Into<String>, column_type: ColumnType, nullable: bool) -> Self {
        let data_type = DataTypeText(DataType::from(&column_type).to_string());
        Self {
            name: name.into(),
            data_type,
            nullable,
            column_type,
        }
    }

    /// The catalog form of an Arrow field.
    pub fn from_field(field: &Field) -> Result<Self, CatalogError> {
        let column_type = ColumnType::try_from(field.data_type()).map_err(|_| {
            CatalogError::invalid(format!(
                "column {:?} has type {}, which cannot be pinned",
                field.name(),
                field.data_type()
            ))
        })?;
        Ok(Self::new(field.name(), column_type, field.is_nullable()))
    }

    /// The Arrow form of this column.
    pub fn to_field(&self) -> Field {
        Field::new(&self.name, self.arrow_type(), self.nullable)
    }

    pub fn arrow_type(&self) -> DataType {
        DataType::from(&self.column_type)
    }

    /// A column as rows written before column type format 1 hold it: the type only in the
    /// text form of the Arrow release that wrote it, which this release still reads.
    pub fn from_legacy(name: &str, data_type: &str, nullable: bool) -> Result<Self, CatalogError> {
        let parsed = DataType::from_str(data_type).map_err(|e| {
            CatalogError::Corrupt(format!(
                "stored type {data_type:?} of column {name:?} does not parse: {e}"
            ))
        })?;
        let column_type = ColumnType::try_from(&parsed)
            .map_err(|e| CatalogError::Corrupt(format!("column {name:?}: {e}")))?;
        Ok(Self::new(name, column_type, nullable))
    }
}

#[derive(Serialize)]
struct ColumnOut<'a> {
    name: &'a str,
    data_type: &'a str,
    nullable: bool,
    #[serde(rename = "type")]
    column_type: &'a ColumnType,
}

impl Serialize for ColumnDef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ColumnOut {
            name: &self.name,
            data_type: &self.data_type,
            nullable: self.nullable,
            column_type: &self.column_type,
        }
        .serialize(serializer)
    }
}

/// A stored column: format 1 has `type`; an older row has only `data_type`.
#[derive(Deserialize)]
struct ColumnIn {
    name: String,
    #[serde(default)]
    data_type: Option<String>,
    nullable: bool,
    #[serde(default, rename = "type")]
    column_type: Option<ColumnType>,
}

impl<'de> Deserialize<'de> for ColumnDef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = ColumnIn::deserialize(deserializer)?;
        match (stored.column_type, stored.data_type) {
            (Some(column_type), _) => Ok(ColumnDef::new(stored.name, column_type, stored.nullable)),
            (None, Some(text)) => ColumnDef::from_legacy(&stored.name, &text, stored.nullable)
                .map_err(serde::de::Error::custom),
            (None, None) => Err(serde::de::Error::custom(format!(
                "column {:?} has no type",
                stored.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Schema;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Utf8, false),
            Field::new("b", DataType::Int64, true),
            Field::new("c", DataType::Decimal128(14, 2), true),
            Field::new("d", DataType::Date32, true),
            Field::new(
                "e",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("f", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("g", DataType::Boolean, true),
            Field::new("h", DataType::Float64, true),
            Field::new("i", DataType::Utf8View, true),
            Field::new(
                "j",
                DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new(
                "k",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
            Field::new(
                "l",
                DataType::Struct(Fields::from(vec![
                    Field::new("x", DataType::Float32, false)
                        .with_metadata([("PARQUET:field_id".to_owned(), "7".to_owned())].into()),
                    Field::new("y", DataType::Interval(IntervalUnit::MonthDayNano), true),
                ])),
                true,
            ),
            Field::new("m", DataType::Decimal256(60, -3), true),
            Field::new("n", DataType::Time64(TimeUnit::Nanosecond), true),
        ])
    }

    #[test]
    fn pinned_columns_read_back_as_the_same_arrow_fields() {
        for field in schema().fields() {
            let column = ColumnDef::from_field(field).unwrap();
            let stored = serde_json::to_string(&column).unwrap();
            let back: ColumnDef = serde_json::from_str(&stored).unwrap();
            assert_eq!(back.to_field(), *field.as_ref(), "{stored}");
            assert_eq!(&*back.data_type, field.data_type().to_string());
        }
    }

    #[test]
    fn the_stored_form_is_the_catalogs_own() {
        let column = ColumnDef::from_field(&Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("Asia/Shanghai".into())),
            true,
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&column.column_type).unwrap(),
            serde_json::json!({"name": "timestamp", "unit": "us", "zone": "Asia/Shanghai"})
        );
        let decimal = ColumnDef::from_field(&Field::new("x", DataType::Decimal128(14, 2), true));
        assert_eq!(
            serde_json::to_value(&decimal.unwrap().column_type).unwrap(),
            serde_json::json!({"name": "decimal", "bits": 128, "precision": 14, "scale": 2})
        );
    }

    #[test]
    fn rows_written_before_the_format_are_read_from_their_text() {
        // the text form drops nothing but cannot be read back with nested field metadata
        // (a Parquet field id), one reason it is no longer what is stored
        let schema = schema();
        let readable = schema.fields().iter().filter(|f| f.name() != "l");
        for field in readable {
            let legacy = serde_json::json!({
                "name": field.name(),
                "data_type": field.data_type().to_string(),
                "nullable": field.is_nullable(),
            });
            let column: ColumnDef = serde_json::from_value(legacy).unwrap();
            assert_eq!(column.to_field(), *field.as_ref());
        }
        let broken = serde_json::json!({"name": "a", "data_type": "Utf9", "nullable": true});
        assert!(serde_json::from_value::<ColumnDef>(broken).is_err());
    }

    #[test]
    fn a_type_that_cannot_be_pinned_is_refused_by_name() {
        let view = DataType::ListView(Arc::new(Field::new("item", DataType::Int32, true)));
        let error = ColumnDef::from_field(&Field::new("v", view, true)).unwrap_err();
        assert!(error.to_string().contains("\"v\""), "{error}");
    }
}
