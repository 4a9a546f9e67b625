//! Binding `$1, $2, …` server-side. Values travel as typed scalars into the plan; nothing is
//! ever spliced into SQL text.

use std::collections::{BTreeMap, HashMap};

use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use serde_json::Value;

use crate::error::{EngineError, Result};

/// The scalar a JSON parameter stands for: integers as Int64, other numbers as Float64,
/// strings as Utf8, booleans, and null.
fn scalar(index: usize, value: &Value) -> Result<ScalarValue> {
    Ok(match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int64(Some(i)),
            None => ScalarValue::Float64(n.as_f64()),
        },
        Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Array(_) | Value::Object(_) => {
            return Err(EngineError::BadRequest(
                format!(
                    "parameter ${} must be a string, number, boolean or null",
                    index + 1
                )
                .into(),
            ));
        }
    })
}

/// The values a statement's placeholders take.
#[derive(Debug, Clone)]
pub enum Bindings {
    /// `$1, $2, …` from JSON values, as `/v1/query` takes them.
    Positional(Vec<Value>),
    /// `$name` from typed values, as a saved report binds its parameters.
    Named(BTreeMap<String, ScalarValue>),
}

impl Bindings {
    pub fn none() -> Self {
        Bindings::Positional(Vec::new())
    }
}

/// Binds the values into the plan, casting each to the type the query expects at its
/// placeholder (so `age > $1` compares with an integer of the column's width).
pub fn bind(plan: LogicalPlan, bindings: &Bindings) -> Result<LogicalPlan> {
    match bindings {
        Bindings::Positional(params) => bind_positional(plan, params),
        Bindings::Named(values) => bind_named(plan, values),
    }
}

/// Binds `$name` placeholders: every placeholder needs a value, every value a placeholder.
fn bind_named(plan: LogicalPlan, values: &BTreeMap<String, ScalarValue>) -> Result<LogicalPlan> {
    let expected = plan.get_parameter_types()?;
    if expected.is_empty() && values.is_empty() {
        return Ok(plan);
    }
    let mut bound = HashMap::new();
    for (placeholder, data_type) in &expected {
        let name = placeholder.trim_start_matches('$');
        let value = values.get(name).ok_or_else(|| {
            EngineError::BadRequest(
                format!("the query uses {placeholder}, which has no value").into(),
            )
        })?;
        let value = match data_type {
            Some(data_type) if !value.is_null() => value.cast_to(data_type).map_err(|_| {
                EngineError::BadRequest(
                    format!("parameter {placeholder} ({value}) cannot be used as {data_type}")
                        .into(),
                )
            })?,
            Some(data_type) => ScalarValue::try_from(data_type).unwrap_or(ScalarValue::Null),
            None => value.clone(),
        };
        bound.insert(name.to_owned(), value);
    }
    Ok(plan.with_param_values(ParamValues::from(bound))?)
}

fn bind_positional(plan: LogicalPlan, params: &[Value]) -> Result<LogicalPlan> {
    let expected = plan.get_parameter_types()?;
    if params.is_empty() && expected.is_empty() {
        return Ok(plan);
    }
    if expected.len() != params.len()
        || (1..=params.len()).any(|i| !expected.contains_key(&format!("${i}")))
    {
        return Err(EngineError::BadRequest(
            format!(
                "the query has {} parameter(s) ($1…${}) but {} value(s) were given",
                expected.len(),
                expected.len(),
                params.len()
            )
            .into(),
        ));
    }
    let values = params
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let value = scalar(index, value)?;
            match expected.get(&format!("${}", index + 1)).cloned().flatten() {
                Some(data_type) if !value.is_null() => value.cast_to(&data_type).map_err(|_| {
                    EngineError::BadRequest(
                        format!(
                            "parameter ${} ({value}) cannot be used as {data_type}",
                            index + 1
                        )
                        .into(),
                    )
                }),
                Some(data_type) => {
                    Ok(ScalarValue::try_from(&data_type).unwrap_or(ScalarValue::Null))
                }
                None => Ok(value),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(plan.with_param_values(ParamValues::from(values))?)
}
