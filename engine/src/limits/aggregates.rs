//! Aggregates that build one value from many rows: `string_agg` and `array_agg`, capped.
//!
//! What their accumulators hold already counts against the memory pool (DataFusion's
//! aggregate operators reserve what every accumulator reports), so a group that outgrows the
//! pool fails with a 503. The cap adds what the pool does not: no value of one group larger
//! than [`ValueLimits::max_value_bytes`] (a 400), checked on an accumulator as it grows and on
//! every value an aggregate emits.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{
    AggregateFunction, AggregateFunctionParams, WindowFunctionParams,
};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator,
    Operator, ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};

use super::measure::{result_bytes, value_bytes};
use super::values::ValueLimits;

/// The aggregates that are capped.
pub const CAPPED_AGGREGATES: &[&str] = &["string_agg", "array_agg"];

#[derive(Debug)]
pub struct CappedAggregate {
    inner: Arc<AggregateUDF>,
    limits: ValueLimits,
}

impl PartialEq for CappedAggregate {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.limits.max_value_bytes == other.limits.max_value_bytes
    }
}

impl Eq for CappedAggregate {}

impl std::hash::Hash for CappedAggregate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
        self.limits.max_value_bytes.hash(state);
    }
}

impl CappedAggregate {
    pub fn udaf(inner: Arc<AggregateUDF>, limits: ValueLimits) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(CappedAggregate {
            inner,
            limits,
        }))
    }
}

#[warn(clippy::missing_trait_methods)] // delegates, so it implements every method
impl AggregateUDFImpl for CappedAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CappedAccumulator {
            inner: self.inner.inner().accumulator(acc_args)?,
            capped: self.limits.clone(),
            name: self.inner.name().to_owned(),
        }))
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().schema_name(params)
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().human_display(params)
    }

    fn window_function_schema_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner.inner().window_function_schema_name(params)
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().display_name(params)
    }

    fn window_function_display_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner.inner().window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(CappedGroups {
            inner: self.inner.inner().create_groups_accumulator(args)?,
            capped: self.limits.clone(),
            name: self.inner.name().to_owned(),
        }))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CappedAccumulator {
            inner: self.inner.inner().create_sliding_accumulator(args)?,
            capped: self.limits.clone(),
            name: self.inner.name().to_owned(),
        }))
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        let inner = Arc::clone(self.inner.inner()).with_beneficial_ordering(beneficial_ordering)?;
        Ok(inner.map(|inner| {
            Arc::new(CappedAggregate {
                inner: Arc::new(AggregateUDF::new_from_shared_impl(inner)),
                limits: self.limits.clone(),
            }) as Arc<dyn AggregateUDFImpl>
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.inner.inner().simplify()
    }

    fn simplify_expr_op_literal(
        &self,
        agg_function: &AggregateFunction,
        arg: &Expr,
        op: Operator,
        lit: &Expr,
        arg_is_left: bool,
    ) -> Result<Option<Expr>> {
        self.inner
            .inner()
            .simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner.inner().reverse_expr() {
            ReversedUDAF::Reversed(reversed) => {
                ReversedUDAF::Reversed(CappedAggregate::udaf(reversed, self.limits.clone()))
            }
            other => other,
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.inner().return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.inner.inner().is_nullable()
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner.inner().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner.inner().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.inner().default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner.inner().supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.inner.inner().supports_within_group_clause()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner.inner().set_monotonicity(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }
}

struct CappedAccumulator {
    inner: Box<dyn Accumulator>,
    capped: ValueLimits,
    name: String,
}

impl std::fmt::Debug for CappedAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedAccumulator")
            .field("name", &self.name)
            .finish()
    }
}

impl CappedAccumulator {
    /// One group's accumulator holds one value in the making: it may not outgrow the cap.
    fn grown(&self) -> Result<()> {
        self.capped
            .check_value(&self.name, self.inner.size() as u64)
    }
}

#[warn(clippy::missing_trait_methods)]
impl Accumulator for CappedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)?;
        self.grown()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let value = self.inner.evaluate()?;
        let (largest, _) = result_bytes(&datafusion::logical_expr::ColumnarValue::Scalar(
            value.clone(),
        ))?;
        self.capped.check_value(&self.name, largest)?;
        Ok(value)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)?;
        self.grown()
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

struct CappedGroups {
    inner: Box<dyn GroupsAccumulator>,
    capped: ValueLimits,
    name: String,
}

impl std::fmt::Debug for CappedGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedGroups")
            .field("name", &self.name)
            .finish()
    }
}

impl CappedGroups {
    /// Every group's value, as it is emitted.
    fn emitted(&self, values: &ArrayRef) -> Result<()> {
        let largest = (0..values.len())
            .map(|row| value_bytes(values.as_ref(), row))
            .max()
            .unwrap_or(0);
        self.capped.check_value(&self.name, largest)
    }
}

#[warn(clippy::missing_trait_methods)]
impl GroupsAccumulator for CappedGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let values = self.inner.evaluate(emit_to)?;
        self.emitted(&values)?;
        Ok(values)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let state = self.inner.state(emit_to)?;
        if let Some(values) = state.first() {
            self.emitted(values)?;
        }
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}
