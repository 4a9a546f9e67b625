//! Rounding as PostgreSQL rounds.
//!
//! - `round(x)` of a double (or real) rounds half to even, as PostgreSQL's
//!   `round(double precision)` does; DataFusion rounds half away from zero. Decimals keep
//!   rounding half away from zero, as PostgreSQL's `numeric` does, and so does `round(x, d)`
//!   of a double, which PostgreSQL does not have (its users cast to `numeric`, which rounds
//!   half away from zero).
//! - A cast of a decimal or a double to an integer type rounds, as PostgreSQL's does (a
//!   decimal half away from zero, a double half to even), where DataFusion truncates.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::kernels::arity::unary;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature,
};

/// `round`, with PostgreSQL's rounding of doubles; every other form is DataFusion's own.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Round {
    datafusion: Arc<ScalarUDF>,
}

impl Round {
    /// The function, registered in place of DataFusion's `round`.
    pub fn udf() -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(Self {
            datafusion: datafusion::functions::math::round(),
        }))
    }
}

impl ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        "round"
    }

    fn signature(&self) -> &Signature {
        self.datafusion.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.datafusion.return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.datafusion.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.datafusion.is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return self.datafusion.invoke_with_args(args);
        };
        Ok(match value {
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float64(v.map(f64::round_ties_even)))
            }
            ColumnarValue::Scalar(ScalarValue::Float32(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float32(v.map(f32::round_ties_even)))
            }
            ColumnarValue::Array(array) if array.data_type() == &DataType::Float64 => {
                let rounded = unary::<_, _, Float64Type>(
                    array.as_primitive::<Float64Type>(),
                    f64::round_ties_even,
                );
                ColumnarValue::Array(Arc::new(rounded))
            }
            ColumnarValue::Array(array) if array.data_type() == &DataType::Float32 => {
                let rounded = unary::<_, _, Float32Type>(
                    array.as_primitive::<Float32Type>(),
                    f32::round_ties_even,
                );
                ColumnarValue::Array(Arc::new(rounded))
            }
            _ => return self.datafusion.invoke_with_args(args),
        })
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.datafusion.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.datafusion.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.datafusion.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.datafusion.documentation()
    }
}

/// Rewrites every cast of a decimal or a double to an integer type in `expr` (whose columns
/// `schema` holds) into a cast of its rounded value.
pub fn integer_casts(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| {
        let (inner, target) = match &e {
            Expr::Cast(Cast { expr, field }) => (expr.as_ref(), field.data_type()),
            Expr::TryCast(TryCast { expr, field }) => (expr.as_ref(), field.data_type()),
            _ => return Ok(Transformed::no(e)),
        };
        if !target.is_integer() || is_rounded(inner) {
            return Ok(Transformed::no(e));
        }
        let rounds = match inner.get_type(schema) {
            Ok(DataType::Float16 | DataType::Float32 | DataType::Float64) => true,
            Ok(
                DataType::Decimal32(_, scale)
                | DataType::Decimal64(_, scale)
                | DataType::Decimal128(_, scale)
                | DataType::Decimal256(_, scale),
            ) => scale > 0,
            // a type not known here (an outer column of a subquery) is left as it is
            _ => false,
        };
        if !rounds {
            return Ok(Transformed::no(e));
        }
        let round = |inner: Box<Expr>| {
            Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(
                Round::udf(),
                vec![*inner],
            )))
        };
        Ok(Transformed::yes(match e {
            Expr::Cast(Cast { expr, field }) => Expr::Cast(Cast {
                expr: round(expr),
                field,
            }),
            Expr::TryCast(TryCast { expr, field }) => Expr::TryCast(TryCast {
                expr: round(expr),
                field,
            }),
            other => other,
        }))
    })
}

/// `round(x)` already: its cast has nothing left to round.
fn is_rounded(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == "round" && f.args.len() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::Field;

    fn round(values: Vec<Option<f64>>) -> Vec<Option<f64>> {
        let udf = Round::udf();
        let field = Arc::new(Field::new("x", DataType::Float64, true));
        let args = ScalarFunctionArgs {
            number_rows: values.len(),
            args: vec![ColumnarValue::Array(Arc::new(Float64Array::from(values)))],
            arg_fields: vec![field.clone()],
            return_field: field,
            config_options: Arc::default(),
        };
        let ColumnarValue::Array(out) = udf.invoke_with_args(args).unwrap() else {
            panic!("an array in, an array out")
        };
        out.as_primitive::<Float64Type>().iter().collect()
    }

    #[test]
    fn doubles_round_half_to_even() {
        // PostgreSQL 15: round(x::double precision) for each x
        assert_eq!(
            round(vec![
                Some(0.5),
                Some(1.5),
                Some(2.5),
                Some(-2.5),
                Some(2.6),
                None
            ]),
            vec![Some(0.0), Some(2.0), Some(2.0), Some(-2.0), Some(3.0), None]
        );
    }
}
