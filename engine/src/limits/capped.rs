//! Functions whose output size the caller chooses, wrapped so that they check the size they
//! are asked for before they allocate it.
//!
//! A [`Capped`] function is DataFusion's own function with an estimate in front: from the
//! arguments of a call it computes (an upper bound of) the bytes of every value the call will
//! make. A value over [`ValueLimits::max_value_bytes`] is refused with a 400; the batch's total
//! is reserved in the memory pool first (503 when it does not fit), and the reservation then
//! belongs to the result (see [`super::values`]). A constant call computes its one value and
//! copies it into the batch's rows itself, against the pool, or not at all while the query is
//! planned if the value is large. Everything else is DataFusion's: the
//! wrapper delegates every other method, so types, simplification, names and pushdown stay
//! as they were. The list of wrapped functions, and why each one, is in [`super::estimates`].

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ExprSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping,
};

use super::estimates::{Demand, Estimate};
use super::measure::{Arg, result_bytes};
use super::values::{EXPAND_BYTES, QueryValues, ValueLimits, expand, owned_by};

/// A DataFusion function with a size check in front.
#[derive(Debug)]
pub struct Capped {
    inner: Arc<ScalarUDF>,
    estimate: Estimate,
    limits: ValueLimits,
}

impl PartialEq for Capped {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.limits.max_value_bytes == other.limits.max_value_bytes
    }
}

impl Eq for Capped {}

impl std::hash::Hash for Capped {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
        self.limits.max_value_bytes.hash(state);
    }
}

impl Capped {
    pub fn udf(inner: Arc<ScalarUDF>, estimate: Estimate, limits: ValueLimits) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Capped {
            inner,
            estimate,
            limits,
        }))
    }

    /// Whether `udf` is already a capped function.
    pub fn is_capped(udf: &ScalarUDF) -> bool {
        Self::inner_of(udf).is_some()
    }

    /// The function a capped `udf` wraps.
    pub fn inner_of(udf: &ScalarUDF) -> Option<&Arc<ScalarUDF>> {
        udf.inner().downcast_ref::<Capped>().map(|c| &c.inner)
    }

    /// The capped version in `capped` of `func`, when `func` is one of DataFusion's own
    /// copies of a capped function: its planner and simplifier build some calls themselves
    /// (`[…]` literals, `||` on arrays, `concat` merging its literals).
    pub fn version_of(func: &ScalarUDF, capped: &[Arc<ScalarUDF>]) -> Option<Arc<ScalarUDF>> {
        if Self::is_capped(func) {
            return None;
        }
        capped.iter().find(|c| c.name() == func.name()).cloned()
    }

    /// `expr` with every uncapped call that has a version in `capped` replaced by it.
    pub fn recap(expr: Expr, capped: &[Arc<ScalarUDF>]) -> Result<Transformed<Expr>> {
        expr.transform_up(|e| match e {
            Expr::ScalarFunction(ScalarFunction { func, args }) => {
                match Self::version_of(&func, capped) {
                    Some(func) => Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args,
                    }))),
                    None => Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args,
                    }))),
                }
            }
            other => Ok(Transformed::no(other)),
        })
    }

    fn demand(&self, args: &[ColumnarValue], rows: usize) -> Result<Demand> {
        let measured = args
            .iter()
            .map(Arg::new)
            .collect::<crate::Result<Vec<_>>>()?;
        Ok((self.estimate)(&measured, rows)?)
    }
}

#[warn(clippy::missing_trait_methods)] // delegates, so it implements every method
impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.inner().display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name().to_owned();
        let limits = self.limits.for_query(&args.config_options);
        let constant = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = args.number_rows;
        let demand = self.demand(&args.args, if constant { 1 } else { rows })?;
        limits.check_value(&name, demand.largest)?;
        if constant {
            if QueryValues::planning(&args.config_options) {
                if !QueryValues::may_fold(&args.config_options, demand.largest) {
                    // not an error the caller sees: the planner keeps the call, which then
                    // runs per batch, counted against the pool
                    return Err(datafusion::error::DataFusionError::Execution(format!(
                        "{name}: a constant this large is computed when the query runs"
                    )));
                }
                return self.inner.invoke_with_args(args);
            }
            // one value, whatever the batch's rows: some of DataFusion's functions copy
            // constant arguments into every row before computing
            let reservation = limits.reserve_large(&name, demand.largest)?;
            let value = match self.inner.invoke_with_args(ScalarFunctionArgs {
                number_rows: 1,
                ..args
            })? {
                ColumnarValue::Scalar(value) => value,
                ColumnarValue::Array(array) => ScalarValue::try_from_array(&array, 0)?,
            };
            let (largest, _) = result_bytes(&ColumnarValue::Scalar(value.clone()))?;
            limits.check_value(&name, largest)?;
            drop(reservation);
            if largest.saturating_mul(rows as u64) <= EXPAND_BYTES {
                return Ok(ColumnarValue::Scalar(value));
            }
            return Ok(ColumnarValue::Array(expand(
                &limits, &name, &value, largest, rows,
            )?));
        }
        let reservation = limits.reserve_large(&name, demand.total)?;
        let result = self.inner.invoke_with_args(args)?;
        // the estimates are upper bounds; this only guards against one that is not
        let (largest, _) = result_bytes(&result)?;
        limits.check_value(&name, largest)?;
        Ok(match (result, reservation) {
            (ColumnarValue::Array(array), Some(reservation)) => {
                ColumnarValue::Array(owned_by(array, reservation)?)
            }
            (result, _) => result,
        })
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Capped {
            inner: Arc::new(inner),
            estimate: self.estimate,
            limits: self.limits.clone(),
        }))
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // a simplification may call DataFusion's own copy of this function; keep it capped
        Ok(match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                let me = Arc::new(ScalarUDF::new_from_impl(Capped {
                    inner: self.inner.clone(),
                    estimate: self.estimate,
                    limits: self.limits.clone(),
                }));
                ExprSimplifyResult::Simplified(Capped::recap(expr, &[me])?.data)
            }
            original => original,
        })
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.inner().preimage(args, lit_expr, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.placement(args)
    }
}
