//! Policy views: a table as one principal may see it.
//!
//! A [`PolicyTable`] stands in the caller's catalog for a registered table. Its scan plans, below
//! a [`BarrierExec`], the base table's scan, the principal's row filter on the jurisdiction
//! binding (a range or an equality, which Parquet statistics, partition pruning and union
//! member pruning all use), and the masks, directly above the scan. Every expression of the user's
//! query (WHERE, JOIN, GROUP BY, ORDER BY, functions, aggregates) sees only what comes out
//! of the barrier: the visible rows, with masked values.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Column;
use datafusion::datasource::{TableType, provider_as_source};
use datafusion::error::Result as DfResult;
use datafusion::functions::expr_fn::character_length;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF, lit, when};
use datafusion::physical_plan::ExecutionPlan;
use tiaokuai_catalog::Binding;
use tiaokuai_catalog::model::Sensitivity;
use tiaokuai_connectors::database::PolicyFence;
use tiaokuai_policies::{Scope, TableDecision};

use crate::barrier::BarrierExec;
use crate::error::{EngineError, Result};
use crate::masks;
use crate::registry::TableEntry;
use crate::schema::is_text;

/// A registered table as one principal sees it.
#[derive(Debug)]
pub struct PolicyTable {
    table: String,
    /// The caller's rows, in words, for its EXPLAIN.
    rows: String,
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    row_filter: Option<Expr>,
    /// One expression per column: the column itself, or its mask, named as the column.
    outputs: Vec<Expr>,
    /// For a database table, the view as a fenced logical plan, which the planner inlines:
    /// the database can then evaluate the caller's own predicates, joins and aggregates on the
    /// visible rows (the fence keeps them out of the view itself).
    fenced: Option<LogicalPlan>,
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Whether the code in `code` lies under `prefix`, as a predicate a remote database and
/// Parquet statistics can use: equality for a village, a range of 12-character codes above.
fn under(code: &Expr, prefix: &str) -> Expr {
    match prefix.len() {
        0 => lit(true),
        12 => code.clone().eq(lit(prefix)),
        _ => code
            .clone()
            .gt_eq(lit(format!("{prefix:0<12}")))
            .and(code.clone().lt_eq(lit(format!("{prefix:9<12}"))))
            .and(character_length(code.clone()).eq(lit(12i32))),
    }
}

/// The rows of `scope`, as a predicate on the code column; `None` when every row is in scope.
pub fn scope_predicate(code: &Expr, scope: &Scope) -> DfResult<Option<Expr>> {
    if scope.is_all() {
        return Ok(None);
    }
    let entries = scope.entries();
    if entries.iter().all(|(_, allowed)| *allowed) {
        let any = entries
            .iter()
            .map(|(prefix, _)| under(code, prefix))
            .reduce(Expr::or);
        return Ok(Some(any.unwrap_or_else(|| lit(false))));
    }
    // the deepest prefix decides: test them deepest first
    let mut entries = entries.iter();
    let Some((prefix, allowed)) = entries.next() else {
        return Ok(Some(lit(false)));
    };
    let mut case = when(under(code, prefix), lit(*allowed));
    for (prefix, allowed) in entries {
        case = case.when(under(code, prefix), lit(*allowed));
    }
    Ok(Some(case.otherwise(lit(false))?))
}

/// A scope as the jurisdictions it allows, widest first, and those carved out of them:
/// `330824116000 except 330824116200`. Only the caller's own grants appear.
fn describe(scope: &Scope) -> String {
    let code = |prefix: &str| {
        if prefix.is_empty() {
            "every jurisdiction".to_owned()
        } else {
            format!("{prefix:0<12}")
        }
    };
    let mut allowed = Vec::new();
    let mut excluded = Vec::new();
    for (prefix, allow) in scope.entries().iter().rev() {
        if *allow {
            allowed.push(code(prefix));
        } else {
            excluded.push(code(prefix));
        }
    }
    let mut text = allowed.join(", ");
    if !excluded.is_empty() {
        text.push_str(" except ");
        text.push_str(&excluded.join(", "));
    }
    text
}

impl PolicyTable {
    /// The view of `entry` under `decision`; `None` if nothing of it is visible. An
    /// inconsistent policy (a binding column that is gone, a mask that does not fit) is an
    /// error: the query fails rather than running unfiltered.
    pub fn build(
        entry: &TableEntry,
        decision: &TableDecision,
        hash: &Arc<ScalarUDF>,
    ) -> Result<Option<Self>> {
        if !decision.visible() {
            return Ok(None);
        }
        let table = &entry.info.name;
        let base = entry.provider.schema();
        let fail = |why: String| {
            EngineError::Internal(format!("the policy of {table} cannot be applied: {why}").into())
        };
        let code_column = match &entry.info.binding {
            Some(Binding::Column { column: name }) | Some(Binding::Union { union: name }) => {
                let field = base
                    .field_with_name(name)
                    .map_err(|_| fail(format!("binding column {name:?} is missing")))?;
                if !is_text(field.data_type()) {
                    return Err(fail(format!("binding column {name:?} is not text")));
                }
                Some(column(name))
            }
            Some(Binding::Fixed { fixed }) => {
                if !decision.read.allows(fixed.as_str()) {
                    return Ok(None);
                }
                None
            }
            None => return Err(fail("the table has no jurisdiction binding".into())),
        };
        let fixed = match &entry.info.binding {
            Some(Binding::Fixed { fixed }) => Some(fixed.as_str()),
            _ => None,
        };
        let row_filter = match &code_column {
            Some(code) => scope_predicate(code, &decision.read)?,
            None => None,
        };
        let mut fields = Vec::with_capacity(base.fields().len());
        let mut outputs = Vec::with_capacity(base.fields().len());
        for field in base.fields() {
            let name = field.name();
            let info = entry.info.columns.iter().find(|c| &c.name == name);
            let sensitive =
                info.is_some_and(|c| c.classification.sensitivity == Sensitivity::Sensitive);
            let unmasked = decision
                .unmasked
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, s)| s);
            let output = match (sensitive, unmasked) {
                (false, _) => None,
                (true, None) => {
                    return Err(fail(format!("no decision for sensitive column {name:?}")));
                }
                (true, Some(unmasked)) => {
                    let pii = info.and_then(|c| c.classification.pii);
                    let masked = masks::mask(column(name), field.data_type(), pii, hash)?;
                    match (fixed, &code_column) {
                        (Some(code), _) if unmasked.allows(code) => None,
                        (Some(_), _) => Some(masked),
                        (None, _) if decision.read.within(unmasked) => None,
                        (None, Some(code)) => match scope_predicate(code, unmasked)? {
                            Some(shown) if !unmasked.is_empty() => {
                                Some(when(shown, column(name)).otherwise(masked)?)
                            }
                            _ => Some(masked),
                        },
                        (None, None) => Some(masked),
                    }
                }
            };
            match output {
                None => {
                    fields.push(field.as_ref().clone());
                    outputs.push(column(name));
                }
                Some(masked) => {
                    fields.push(Field::new(name, field.data_type().clone(), true));
                    outputs.push(masked.alias(name));
                }
            }
        }
        let rows = match fixed {
            Some(code) => code.to_owned(),
            None => describe(&decision.read),
        };
        let mut view = Self {
            table: table.clone(),
            rows,
            inner: entry.provider.clone(),
            schema: Arc::new(Schema::new(fields)),
            row_filter,
            outputs,
            fenced: None,
        };
        if entry.remote {
            view.fenced = Some(view.fenced_plan(None)?);
        }
        Ok(Some(view))
    }

    /// Scan, row filter and masks, as one plan.
    fn view_plan(&self, projection: Option<&Vec<usize>>) -> DfResult<LogicalPlan> {
        let mut plan =
            LogicalPlanBuilder::scan("base", provider_as_source(self.inner.clone()), None)?;
        if let Some(filter) = &self.row_filter {
            plan = plan.filter(filter.clone())?;
        }
        let outputs: Vec<Expr> = match projection {
            Some(indices) => indices.iter().map(|i| self.outputs[*i].clone()).collect(),
            None => self.outputs.clone(),
        };
        plan.project(outputs)?.build()
    }

    fn fenced_plan(&self, projection: Option<&Vec<usize>>) -> Result<LogicalPlan> {
        let plan = self.view_plan(projection).map_err(|e| {
            EngineError::Internal(format!("the view of {}: {e}", self.table).into())
        })?;
        Ok(PolicyFence::plan(plan))
    }
}

#[async_trait]
impl TableProvider for PolicyTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.fenced.as_ref().map(Cow::Borrowed)
    }

    /// User filters are never pushed into the view: they run above the barrier, on visible rows.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = self.view_plan(projection)?;
        let physical = state.create_physical_plan(&plan).await?;
        Ok(Arc::new(
            BarrierExec::new(self.table.clone(), physical).with_rows(self.rows.clone()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ColumnInfo, TableInfo, TableKind};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::datasource::MemTable;
    use tiaokuai_catalog::Classification;

    fn entry(binding: Binding, columns: &[(&str, DataType, &str)]) -> TableEntry {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, t, _)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        TableEntry {
            info: TableInfo {
                name: "civil.t".into(),
                kind: TableKind::Source,
                columns: columns
                    .iter()
                    .map(|(n, t, c)| ColumnInfo {
                        name: (*n).into(),
                        data_type: t.to_string(),
                        classification: c.parse::<Classification>().unwrap(),
                    })
                    .collect(),
                binding: Some(binding),
                id: None,
            },
            provider: Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap()),
            remote: false,
        }
    }

    fn decision(read: Scope, unmasked: &[(&str, Scope)]) -> TableDecision {
        TableDecision {
            read,
            unmasked: unmasked
                .iter()
                .map(|(c, s)| ((*c).into(), s.clone()))
                .collect(),
        }
    }

    #[test]
    fn an_inconsistent_policy_fails_closed() {
        let hash = crate::masks::KeyedHash::udf(b"k");
        let majin = scope(&[("330824116", true)]);
        // the binding column is gone
        let gone = entry(
            Binding::Column {
                column: "village_code".into(),
            },
            &[("id", DataType::Int64, "public")],
        );
        assert!(PolicyTable::build(&gone, &decision(majin.clone(), &[]), &hash).is_err());
        // the binding column is not text
        let number = entry(
            Binding::Column {
                column: "code".into(),
            },
            &[("code", DataType::Int64, "public")],
        );
        assert!(PolicyTable::build(&number, &decision(majin.clone(), &[]), &hash).is_err());
        // a sensitive column with no decision
        let text = entry(
            Binding::Column {
                column: "code".into(),
            },
            &[
                ("code", DataType::Utf8, "public"),
                ("phone", DataType::Utf8, "sensitive:phone"),
            ],
        );
        assert!(PolicyTable::build(&text, &decision(majin.clone(), &[]), &hash).is_err());
        let built = PolicyTable::build(&text, &decision(majin, &[("phone", Scope::none())]), &hash)
            .unwrap();
        assert!(built.unwrap().row_filter.is_some());
        // nothing visible: no view at all
        assert!(
            PolicyTable::build(&text, &decision(Scope::none(), &[]), &hash)
                .unwrap()
                .is_none()
        );
    }

    fn scope(entries: &[(&str, bool)]) -> Scope {
        Scope::from_decisions(entries.iter().map(|(p, a)| ((*p).to_owned(), *a)))
    }

    #[test]
    fn predicates_by_level() {
        let code = column("village_code");
        let text = |s: &Scope| scope_predicate(&code, s).unwrap().map(|e| e.to_string());
        assert_eq!(text(&Scope::all()), None);
        assert_eq!(text(&Scope::none()).as_deref(), Some("Boolean(false)"));
        assert_eq!(
            text(&scope(&[("330824116224", true)])).as_deref(),
            Some("village_code = Utf8(\"330824116224\")")
        );
        let township = text(&scope(&[("330824116", true)])).unwrap();
        assert!(
            township.contains("village_code >= Utf8(\"330824116000\")"),
            "{township}"
        );
        assert!(
            township.contains("village_code <= Utf8(\"330824116999\")"),
            "{township}"
        );
        let carved = text(&scope(&[("330824", true), ("330824116", false)])).unwrap();
        assert!(carved.starts_with("CASE WHEN"), "{carved}");
    }
}
