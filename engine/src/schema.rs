//! Pinned schemas: Arrow schemas as the catalog stores them, and back.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tiaokuai_catalog::ColumnDef;

use crate::error::{EngineError, Result};

/// The catalog form of a schema. A type the catalog cannot pin is the registrant's to fix.
pub fn to_columns(schema: &Schema) -> Result<Vec<ColumnDef>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            ColumnDef::from_field(f).map_err(|e| EngineError::BadRequest(e.to_string().into()))
        })
        .collect()
}

/// The Arrow form of a stored schema.
pub fn to_schema(columns: &[ColumnDef]) -> Result<SchemaRef> {
    Ok(Arc::new(Schema::new(
        columns
            .iter()
            .map(ColumnDef::to_field)
            .collect::<Vec<Field>>(),
    )))
}

/// The Arrow type of one stored column.
pub fn column_type(column: &ColumnDef) -> Result<DataType> {
    Ok(column.arrow_type())
}

/// Whether a column holds text (division codes, masked personal data).
pub fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn stored_types_round_trip() {
        let schema = Schema::new(vec![
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
        ]);
        assert_eq!(
            to_schema(&to_columns(&schema).unwrap()).unwrap().as_ref(),
            &schema
        );
    }
}
