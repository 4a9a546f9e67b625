//! The governance records as tables: `governance.tasks`, `governance.task_events` and
//! `governance.runs`, read from the catalog when a query scans them (they change by the
//! minute, so they are never part of a registry snapshot). Each is bound by its
//! `jurisdiction_code` column, so every caller reads them through its own policy view like
//! any shared table: a township sees its own tasks, and a dashboard computes the 30-minute
//! response rate with plain SQL.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use tiaokuai_catalog::model::Sensitivity;
use tiaokuai_catalog::{Binding, Catalog, Classification, JurisdictionCode};

use crate::registry::{ColumnInfo, TableEntry, TableInfo, TableKind};

pub const TASKS_TABLE: &str = "governance.tasks";
pub const TASK_EVENTS_TABLE: &str = "governance.task_events";
pub const RUNS_TABLE: &str = "governance.runs";

/// The column every governance table is bound by.
const BINDING: &str = "jurisdiction_code";

#[derive(Debug, Clone, Copy)]
enum Records {
    Tasks,
    TaskEvents,
    Runs,
}

/// A table over governance records in the catalog.
#[derive(Debug)]
struct GovernanceTable {
    records: Records,
    schema: SchemaRef,
    catalog: Arc<dyn Catalog>,
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn time(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        nullable,
    )
}

fn schema_of(records: Records) -> SchemaRef {
    let fields = match records {
        Records::Tasks => vec![
            text("id", false),
            text("title", false),
            text("detail", false),
            text("category", false),
            text(BINDING, false),
            text("department", true),
            text("urgency", false),
            text("status", false),
            text("origin", false),
            text("run_id", true),
            text("created_by", false),
            time("created_at", false),
            Field::new("accept_minutes", DataType::Int32, false),
            time("accept_due_at", false),
            time("red_at", false),
            time("accepted_at", true),
            time("handle_due_at", true),
            time("resolved_at", true),
            time("verify_due_at", true),
            time("verified_at", true),
            text("supervision", false),
            text("escalated_to", true),
            Field::new("escalated", DataType::Boolean, false),
        ],
        Records::TaskEvents => vec![
            Field::new("seq", DataType::Int64, false),
            text("task_id", false),
            text(BINDING, false),
            time("at", false),
            text("by", false),
            text("action", false),
            text("from_status", true),
            text("to_status", false),
            text("note", true),
            text("escalated_to", true),
        ],
        Records::Runs => vec![
            text("id", false),
            text("report_id", false),
            text("report_name", false),
            Field::new("report_version", DataType::Int32, false),
            text(BINDING, false),
            text("principal", false),
            text("schedule_id", true),
            text("parameters", false),
            text("status", false),
            time("started_at", false),
            time("finished_at", true),
            Field::new("row_count", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
            text("error", true),
        ],
    };
    Arc::new(Schema::new(fields))
}

fn strings<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn times<'a>(
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<ArrayRef, DataFusionError> {
    let text = StringArray::from_iter(values);
    let to = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Ok(cast(&text, &to)?)
}

fn failed(error: tiaokuai_catalog::CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl GovernanceTable {
    async fn batch(&self) -> Result<RecordBatch, DataFusionError> {
        let columns = match self.records {
            Records::Tasks => self.tasks().await?,
            Records::TaskEvents => self.task_events().await?,
            Records::Runs => self.runs().await?,
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    async fn tasks(&self) -> Result<Vec<ArrayRef>, DataFusionError> {
        let tasks = self.catalog.tasks().await.map_err(failed)?;
        let some = |f: fn(&tiaokuai_catalog::TaskRecord) -> &str| {
            strings(tasks.iter().map(|t| Some(f(t))))
        };
        let maybe =
            |f: fn(&tiaokuai_catalog::TaskRecord) -> Option<&str>| strings(tasks.iter().map(f));
        Ok(vec![
            some(|t| &t.id),
            some(|t| &t.title),
            some(|t| &t.detail),
            some(|t| &t.category),
            some(|t| t.jurisdiction.as_str()),
            maybe(|t| t.department.as_deref()),
            some(|t| t.urgency.as_str()),
            some(|t| t.status.as_str()),
            some(|t| t.origin.as_str()),
            maybe(|t| t.run_id.as_deref()),
            some(|t| &t.created_by),
            times(tasks.iter().map(|t| Some(t.created_at.as_str())))?,
            Arc::new(Int32Array::from_iter_values(tasks.iter().map(|t| {
                i32::try_from(t.clocks.accept_minutes).unwrap_or(i32::MAX)
            }))),
            times(tasks.iter().map(|t| Some(t.accept_due_at.as_str())))?,
            times(tasks.iter().map(|t| Some(t.red_at.as_str())))?,
            times(tasks.iter().map(|t| t.accepted_at.as_deref()))?,
            times(tasks.iter().map(|t| t.handle_due_at.as_deref()))?,
            times(tasks.iter().map(|t| t.resolved_at.as_deref()))?,
            times(tasks.iter().map(|t| t.verify_due_at.as_deref()))?,
            times(tasks.iter().map(|t| t.verified_at.as_deref()))?,
            some(|t| t.supervision.as_str()),
            maybe(|t| t.escalated_to.as_ref().map(JurisdictionCode::as_str)),
            Arc::new(BooleanArray::from_iter(
                tasks.iter().map(|t| Some(t.supervision.level() > 0)),
            )),
        ])
    }

    async fn task_events(&self) -> Result<Vec<ArrayRef>, DataFusionError> {
        // each event comes with its task's jurisdiction, which it is read under
        let events = self.catalog.all_task_events().await.map_err(failed)?;
        let events: Vec<_> = events
            .iter()
            .map(|(place, e)| (e, place.as_str()))
            .collect();
        Ok(vec![
            Arc::new(Int64Array::from_iter_values(
                events.iter().map(|(e, _)| e.seq),
            )),
            strings(events.iter().map(|(e, _)| Some(e.task_id.as_str()))),
            strings(events.iter().map(|(_, place)| Some(*place))),
            times(events.iter().map(|(e, _)| Some(e.at.as_str())))?,
            strings(events.iter().map(|(e, _)| Some(e.by.as_str()))),
            strings(events.iter().map(|(e, _)| Some(e.action.as_str()))),
            strings(
                events
                    .iter()
                    .map(|(e, _)| e.from_status.map(|s| s.as_str())),
            ),
            strings(events.iter().map(|(e, _)| Some(e.to_status.as_str()))),
            strings(events.iter().map(|(e, _)| e.note.as_deref())),
            strings(
                events
                    .iter()
                    .map(|(e, _)| e.escalated_to.as_ref().map(JurisdictionCode::as_str)),
            ),
        ])
    }

    async fn runs(&self) -> Result<Vec<ArrayRef>, DataFusionError> {
        let reports = self.catalog.reports().await.map_err(failed)?;
        let reports: HashMap<&str, (&str, &str)> = reports
            .iter()
            .map(|r| (r.id.as_str(), (r.name.as_str(), r.owner.as_str())))
            .collect();
        let runs = self.catalog.all_runs().await.map_err(failed)?;
        // a run of a deleted report has no owner to be read under: it is left out
        let runs: Vec<_> = runs
            .iter()
            .filter_map(|r| reports.get(r.report_id.as_str()).map(|report| (r, *report)))
            .collect();
        let parameters: Vec<String> = runs
            .iter()
            .map(|(r, _)| serde_json::Value::Object(r.parameters.clone()).to_string())
            .collect();
        let count = |v: Option<u64>| v.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        Ok(vec![
            strings(runs.iter().map(|(r, _)| Some(r.id.as_str()))),
            strings(runs.iter().map(|(r, _)| Some(r.report_id.as_str()))),
            strings(runs.iter().map(|(_, (name, _))| Some(*name))),
            Arc::new(Int32Array::from_iter_values(runs.iter().map(|(r, _)| {
                i32::try_from(r.report_version).unwrap_or(i32::MAX)
            }))),
            // a fanned-out run belongs to the jurisdiction it was narrowed to
            strings(runs.iter().map(|(r, (_, owner))| {
                Some(r.scope.as_ref().map_or(*owner, JurisdictionCode::as_str))
            })),
            strings(runs.iter().map(|(r, _)| Some(r.principal.as_str()))),
            strings(runs.iter().map(|(r, _)| r.schedule_id.as_deref())),
            strings(parameters.iter().map(|p| Some(p.as_str()))),
            strings(runs.iter().map(|(r, _)| Some(r.status.as_str()))),
            times(runs.iter().map(|(r, _)| Some(r.started_at.as_str())))?,
            times(runs.iter().map(|(r, _)| r.finished_at.as_deref()))?,
            Arc::new(Int64Array::from_iter(
                runs.iter().map(|(r, _)| count(r.row_count)),
            )),
            Arc::new(Int64Array::from_iter(
                runs.iter().map(|(r, _)| count(r.bytes)),
            )),
            strings(runs.iter().map(|(r, _)| r.error.as_deref())),
        ])
    }
}

#[async_trait]
impl TableProvider for GovernanceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        scan_batch(self.batch().await?, state, projection, filters, limit).await
    }
}

/// Scans one batch read for this scan, as a table of the batch's schema would be scanned.
pub(crate) async fn scan_batch(
    batch: RecordBatch,
    state: &dyn Session,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    MemTable::try_new(batch.schema(), vec![vec![batch]])?
        .scan(state, projection, filters, limit)
        .await
}

/// The governance tables over `catalog`, to be served beside the registered ones.
pub fn tables(catalog: &Arc<dyn Catalog>) -> Vec<TableEntry> {
    [
        (TASKS_TABLE, Records::Tasks),
        (TASK_EVENTS_TABLE, Records::TaskEvents),
        (RUNS_TABLE, Records::Runs),
    ]
    .into_iter()
    .map(|(name, records)| {
        let schema = schema_of(records);
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                classification: Classification {
                    sensitivity: Sensitivity::Internal,
                    pii: None,
                },
            })
            .collect();
        let provider = GovernanceTable {
            records,
            schema,
            catalog: catalog.clone(),
        };
        TableEntry {
            info: TableInfo {
                name: name.to_owned(),
                kind: TableKind::System,
                columns,
                binding: Some(Binding::Column {
                    column: BINDING.to_owned(),
                }),
                id: None,
            },
            provider: Arc::new(provider),
            remote: false,
        }
    })
    .collect()
}
