//! Report parameters: checking their definitions, and turning a run's values into the typed
//! values the report's `$name` placeholders are bound to.

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, NaiveDate};
use datafusion::common::ScalarValue;
use serde_json::Value;
use tiaokuai_catalog::{JurisdictionCode, ParameterKind, ReportParameter};
use tiaokuai_engine::{EngineError, Result};
use tiaokuai_policies::Scope;

/// The most decimal places a decimal parameter may have.
const MAX_SCALE: usize = 18;

fn bad(message: String) -> EngineError {
    EngineError::BadRequest(message.into())
}

/// Checks a report's parameter list: names are identifiers and unique (as placeholders, a
/// date range's two included), enumerations list their values, and every default fits.
pub fn check_definitions(parameters: &[ReportParameter]) -> Result<()> {
    let mut placeholders = HashSet::new();
    for parameter in parameters {
        let name = &parameter.name;
        let identifier = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !identifier {
            return Err(bad(format!(
                "parameter {name:?}: a name is a lowercase identifier ([a-z_][a-z0-9_]*, at most 63)"
            )));
        }
        for placeholder in placeholders_of(parameter) {
            if !placeholders.insert(placeholder.clone()) {
                return Err(bad(format!(
                    "parameter {name:?}: ${placeholder} is named twice"
                )));
            }
        }
        match (parameter.kind, parameter.values.is_empty()) {
            (ParameterKind::Enumeration, true) => {
                return Err(bad(format!(
                    "parameter {name:?}: an enumeration lists its allowed values"
                )));
            }
            (ParameterKind::Enumeration, false) => {}
            (_, false) => {
                return Err(bad(format!(
                    "parameter {name:?}: only an enumeration lists values"
                )));
            }
            (_, true) => {}
        }
        if let Some(default) = &parameter.default {
            typed(parameter, default, &Scope::all())
                .map_err(|e| bad(format!("the default of {e}")))?;
        }
    }
    Ok(())
}

/// The placeholders a parameter binds: `$name`, or `$name_from` and `$name_to`.
pub fn placeholders_of(parameter: &ReportParameter) -> Vec<String> {
    match parameter.kind {
        ParameterKind::DateRange => vec![
            format!("{}_from", parameter.name),
            format!("{}_to", parameter.name),
        ],
        _ => vec![parameter.name.clone()],
    }
}

/// Typed NULLs for every placeholder: what planning a report's SQL binds, to check it.
pub fn nulls(parameters: &[ReportParameter]) -> BTreeMap<String, ScalarValue> {
    parameters
        .iter()
        .flat_map(|p| {
            let null = match p.kind {
                ParameterKind::Integer => ScalarValue::Int64(None),
                ParameterKind::Decimal => ScalarValue::Decimal128(None, 38, 0),
                ParameterKind::Date | ParameterKind::DateRange => ScalarValue::Date32(None),
                _ => ScalarValue::Utf8(None),
            };
            placeholders_of(p)
                .into_iter()
                .map(move |n| (n, null.clone()))
        })
        .collect()
}

/// The values a run binds: each given value checked against its parameter, a default for
/// each one not given. A jurisdiction must lie inside `scope`, where the caller may run the
/// report. An error names the parameter.
pub fn bind(
    parameters: &[ReportParameter],
    given: &serde_json::Map<String, Value>,
    scope: &Scope,
) -> Result<BTreeMap<String, ScalarValue>> {
    for name in given.keys() {
        if !parameters.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
            return Err(bad(format!(
                "the report has no parameter {name:?} (its parameters: {known:?})"
            )));
        }
    }
    let mut bound = BTreeMap::new();
    for parameter in parameters {
        let value = value_of(parameter, given)
            .ok_or_else(|| bad(format!("parameter {:?} needs a value", parameter.name)))?;
        let values = typed(parameter, value, scope)?;
        bound.extend(placeholders_of(parameter).into_iter().zip(values));
    }
    Ok(bound)
}

/// The value a run uses for a parameter: the one given, or else its default.
fn value_of<'a>(
    parameter: &'a ReportParameter,
    given: &'a serde_json::Map<String, Value>,
) -> Option<&'a Value> {
    given.get(&parameter.name).or(parameter.default.as_ref())
}

/// The values a run uses, by parameter name: each given one, the default of each left out.
pub fn effective(
    parameters: &[ReportParameter],
    given: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    parameters
        .iter()
        .filter_map(|p| Some((p.name.clone(), value_of(p, given)?.clone())))
        .collect()
}

/// One parameter's value, typed: one scalar per placeholder.
fn typed(parameter: &ReportParameter, value: &Value, scope: &Scope) -> Result<Vec<ScalarValue>> {
    let name = &parameter.name;
    let wrong = |expected: &str| bad(format!("parameter {name:?} is {expected}, not {value}"));
    let text = || value.as_str().ok_or_else(|| wrong("text"));
    Ok(match parameter.kind {
        ParameterKind::Text => vec![ScalarValue::Utf8(Some(text()?.to_owned()))],
        ParameterKind::Integer => {
            vec![ScalarValue::Int64(Some(
                value.as_i64().ok_or_else(|| wrong("an integer"))?,
            ))]
        }
        ParameterKind::Decimal => vec![decimal(value).ok_or_else(|| wrong("a decimal number"))?],
        ParameterKind::Date => {
            let day = value.as_str().and_then(date);
            vec![day.ok_or_else(|| wrong("a date (YYYY-MM-DD)"))?]
        }
        ParameterKind::DateRange => {
            let range = || -> Option<(ScalarValue, ScalarValue, bool)> {
                let from = value.get("from")?.as_str()?;
                let to = value.get("to")?.as_str()?;
                let ordered = from <= to;
                Some((date(from)?, date(to)?, ordered))
            };
            let (from, to, ordered) = range().ok_or_else(|| {
                wrong(r#"a date range ({"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"})"#)
            })?;
            if !ordered {
                return Err(bad(format!(
                    "parameter {name:?}: the range ends before it starts"
                )));
            }
            vec![from, to]
        }
        ParameterKind::Jurisdiction => {
            let code = JurisdictionCode::parse(text()?)
                .map_err(|e| bad(format!("parameter {name:?}: {e}")))?;
            if !scope.allows(code.as_str()) {
                return Err(EngineError::PermissionDenied(
                    format!(
                        "parameter {name:?}: {code} lies outside where you may run this report"
                    )
                    .into(),
                ));
            }
            vec![ScalarValue::Utf8(Some(code.to_string()))]
        }
        ParameterKind::Enumeration => {
            let chosen = text()?;
            if !parameter.values.iter().any(|v| v == chosen) {
                return Err(bad(format!(
                    "parameter {name:?} is one of {:?}, not {chosen:?}",
                    parameter.values
                )));
            }
            vec![ScalarValue::Utf8(Some(chosen.to_owned()))]
        }
    })
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn date(text: &str) -> Option<ScalarValue> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let days = day.num_days_from_ce() - epoch.num_days_from_ce();
    Some(ScalarValue::Date32(Some(days)))
}

/// A JSON number or a numeric string as an exact decimal: `12.50` is 1250 at scale 2.
fn decimal(value: &Value) -> Option<ScalarValue> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !plain(whole) || !plain(fraction) || fraction.len() > MAX_SCALE {
        return None;
    }
    let unscaled: i128 = format!("{whole}{fraction}").parse().ok()?;
    if unscaled >= 10i128.pow(38) {
        return None;
    }
    let unscaled = if negative { -unscaled } else { unscaled };
    Some(ScalarValue::Decimal128(
        Some(unscaled),
        38,
        fraction.len() as i8,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parameter(name: &str, kind: ParameterKind) -> ReportParameter {
        ReportParameter {
            name: name.into(),
            kind,
            label: None,
            values: Vec::new(),
            default: None,
        }
    }

    fn given(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn values_are_typed_as_their_parameters_say() {
        let parameters = vec![
            parameter("year", ParameterKind::Integer),
            parameter("target", ParameterKind::Decimal),
            parameter("day", ParameterKind::Date),
            parameter("period", ParameterKind::DateRange),
            parameter("village", ParameterKind::Jurisdiction),
        ];
        let bound = bind(
            &parameters,
            &given(json!({
                "year": 2024,
                "target": "12.50",
                "day": "2024-03-01",
                "period": {"from": "2024-01-01", "to": "2024-12-31"},
                "village": "330824106200",
            })),
            &Scope::all(),
        )
        .unwrap();
        assert_eq!(bound["year"], ScalarValue::Int64(Some(2024)));
        assert_eq!(bound["target"], ScalarValue::Decimal128(Some(1250), 38, 2));
        assert_eq!(bound["day"], ScalarValue::Date32(Some(19783)));
        assert_eq!(bound["period_from"], ScalarValue::Date32(Some(19723)));
        assert_eq!(bound["period_to"], ScalarValue::Date32(Some(20088)));
        assert_eq!(
            bound["village"],
            ScalarValue::Utf8(Some("330824106200".into()))
        );
    }

    #[test]
    fn a_wrong_value_names_its_parameter() {
        let parameters = vec![parameter("year", ParameterKind::Integer)];
        for (value, expected) in [
            (json!({"year": "2024"}), "parameter \"year\" is an integer"),
            (json!({}), "parameter \"year\" needs a value"),
            (json!({"year": 1, "yaer": 2}), "no parameter \"yaer\""),
        ] {
            let error = bind(&parameters, &given(value), &Scope::all()).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
        let range = vec![parameter("period", ParameterKind::DateRange)];
        let backwards = json!({"period": {"from": "2024-12-31", "to": "2024-01-01"}});
        let error = bind(&range, &given(backwards), &Scope::all()).unwrap_err();
        assert!(
            error.to_string().contains("ends before it starts"),
            "{error}"
        );
        for bad_decimal in [json!("1e5"), json!("1.2.3"), json!(".5"), json!(true)] {
            assert!(decimal(&bad_decimal).is_none(), "{bad_decimal}");
        }
    }

    #[test]
    fn a_jurisdiction_outside_the_callers_scope_is_refused() {
        let parameters = vec![parameter("village", ParameterKind::Jurisdiction)];
        let township = Scope::from_decisions([("330824106".to_owned(), true)]);
        assert!(
            bind(
                &parameters,
                &given(json!({"village": "330824106200"})),
                &township
            )
            .is_ok()
        );
        let error = bind(
            &parameters,
            &given(json!({"village": "330824116224"})),
            &township,
        )
        .unwrap_err();
        assert!(matches!(error, EngineError::PermissionDenied(_)), "{error}");
    }

    #[test]
    fn definitions_are_checked_before_they_are_stored() {
        let mut choice = parameter("level", ParameterKind::Enumeration);
        assert!(check_definitions(std::slice::from_ref(&choice)).is_err());
        choice.values = vec!["township".into(), "village".into()];
        choice.default = Some(json!("county"));
        let error = check_definitions(std::slice::from_ref(&choice)).unwrap_err();
        assert!(error.to_string().contains("the default of"), "{error}");
        choice.default = Some(json!("village"));
        assert!(check_definitions(&[choice]).is_ok());

        let twice = [
            parameter("period", ParameterKind::DateRange),
            parameter("period_from", ParameterKind::Date),
        ];
        assert!(check_definitions(&twice).is_err());
        assert!(check_definitions(&[parameter("Year", ParameterKind::Integer)]).is_err());
    }
}
