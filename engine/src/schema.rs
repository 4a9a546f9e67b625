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

    #[test]
    fn a_schema_reads_back_and_one_that_cannot_be_pinned_is_the_registrants_to_fix() {
        let schema = Schema::new(vec![
            Field::new("code", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]);
        let columns = to_columns(&schema).unwrap();
        assert_eq!(to_schema(&columns).unwrap().as_ref(), &schema);

        let item = Arc::new(Field::new("item", DataType::Int32, true));
        let views = Schema::new(vec![Field::new("v", DataType::ListView(item), true)]);
        assert!(matches!(
            to_columns(&views),
            Err(EngineError::BadRequest(_))
        ));
    }
}
