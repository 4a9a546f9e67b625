//! `a || b || …` on text, computed by a capped function.
//!
//! DataFusion computes `||` on text as an operator, which no function wrapper reaches, and a
//! chain of CTEs `c || c` doubles a value at every step. The analyzer rule of
//! [`super::rule`] turns each chain of `||` into one call of [`StringConcat`] (capped like the
//! functions of [`super::estimates`]), with the operator's meaning: NULL if any operand is
//! NULL, otherwise the operands one after the other. One call for the whole chain keeps a chain
//! of hundreds of `||` as flat as the SQL wrote it.

use datafusion::arrow::array::{
    ArrayRef, BinaryViewBuilder, GenericBinaryBuilder, GenericStringBuilder, StringViewBuilder,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::measure::Arg;

/// `string_concat(a, b, …)`: what `a || b || …` means on text or bytes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StringConcat {
    target: DataType,
    signature: Signature,
}

impl StringConcat {
    pub fn new(target: DataType) -> Self {
        Self {
            target,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// The type of its result.
    pub fn target(&self) -> &DataType {
        &self.target
    }
}

impl ScalarUDFImpl for StringConcat {
    fn name(&self) -> &str {
        "string_concat"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let constant = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if constant { 1 } else { args.number_rows };
        let operands = args
            .args
            .iter()
            .map(Arg::new)
            .collect::<crate::Result<Vec<_>>>()?;
        let joined = |row: usize| -> Option<Vec<u8>> {
            let mut value = Vec::new();
            for operand in &operands {
                value.extend_from_slice(operand.bytes(row)?);
            }
            Some(value)
        };
        let array: ArrayRef = match &self.target {
            DataType::Utf8 => strings::<i32>(rows, joined)?,
            DataType::LargeUtf8 => strings::<i64>(rows, joined)?,
            DataType::Utf8View => {
                let mut builder = StringViewBuilder::with_capacity(rows);
                for row in 0..rows {
                    match joined(row).map(String::from_utf8) {
                        Some(Ok(text)) => builder.append_value(text),
                        Some(Err(_)) => return exec_err!("|| made text that is not UTF-8"),
                        None => builder.append_null(),
                    }
                }
                std::sync::Arc::new(builder.finish())
            }
            DataType::Binary => binaries::<i32>(rows, joined),
            DataType::LargeBinary => binaries::<i64>(rows, joined),
            DataType::BinaryView => {
                let mut builder = BinaryViewBuilder::with_capacity(rows);
                for row in 0..rows {
                    builder.append_option(joined(row));
                }
                std::sync::Arc::new(builder.finish())
            }
            other => return exec_err!("|| of {other} is not text"),
        };
        Ok(if constant {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

fn strings<O: datafusion::arrow::array::OffsetSizeTrait>(
    rows: usize,
    joined: impl Fn(usize) -> Option<Vec<u8>>,
) -> Result<ArrayRef> {
    let mut builder = GenericStringBuilder::<O>::with_capacity(rows, 0);
    for row in 0..rows {
        match joined(row).map(String::from_utf8) {
            Some(Ok(text)) => builder.append_value(text),
            Some(Err(_)) => return exec_err!("|| made text that is not UTF-8"),
            None => builder.append_null(),
        }
    }
    Ok(std::sync::Arc::new(builder.finish()))
}

fn binaries<O: datafusion::arrow::array::OffsetSizeTrait>(
    rows: usize,
    joined: impl Fn(usize) -> Option<Vec<u8>>,
) -> ArrayRef {
    let mut builder = GenericBinaryBuilder::<O>::with_capacity(rows, 0);
    for row in 0..rows {
        builder.append_option(joined(row));
    }
    std::sync::Arc::new(builder.finish())
}
