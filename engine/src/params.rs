//! Binding `$1, $2, …` server-side. Values travel as typed scalars into the plan; nothing is
//! ever spliced into SQL text.

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

/// Binds the parameters into the plan, casting each to the type the query expects at its
/// placeholder (so `age > $1` compares with an integer of the column's width).
pub fn bind(plan: LogicalPlan, params: &[Value]) -> Result<LogicalPlan> {
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
