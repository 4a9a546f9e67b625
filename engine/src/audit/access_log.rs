//! `system.access_log`: the access receipts of [`super::receipts`] as a table, one row per
//! query and table read, so that a village official can ask in SQL who read their village's
//! data, when, and for which report. Each caller's SQL reads its own receipts only: the table
//! resolves, per caller, to a provider that chooses them as `GET /v1/audit` does, at scan time.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use serde_json::Value;
use tiaokuai_catalog::model::Sensitivity;
use tiaokuai_catalog::{Catalog, Classification};
use tiaokuai_policies::{Caller, PolicySnapshot};

use super::receipts::{AuditEntry, AuditFilter, MAX_LIMIT, Receipts};
use crate::registry::{ColumnInfo, TableEntry, TableInfo, TableKind, TableRegistry};

pub const ACCESS_LOG_TABLE: &str = "system.access_log";

/// Pages of [`Receipts::page`] one scan reads at most: the newest 5,000 receipts the caller
/// may see, among at most the newest 100,000 records (each page reads at most 20,000), so
/// that no caller's `SELECT` on the table costs more catalog reads than that.
const MAX_PAGES: usize = 5;

fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let number = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text("query_id", false),
        text("principal", false),
        text("roles", false),
        text("protocol", true),
        text("client", true),
        text("statement", true),
        text("report", true),
        text("table_name", true),
        text("row_scope", true),
        text("masked_columns", true),
        text("outcome", false),
        number("rows"),
        number("bytes"),
        number("duration_ms"),
        text("sql_hash", true),
    ]))
}

/// The table as the registry lists it.
pub fn entry(catalog: &Arc<dyn Catalog>) -> TableEntry {
    let schema = schema();
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
    TableEntry {
        info: TableInfo {
            name: ACCESS_LOG_TABLE.to_owned(),
            kind: TableKind::System,
            columns,
            binding: None,
            id: None,
        },
        provider: Arc::new(AccessLog {
            schema,
            catalog: catalog.clone(),
            reader: None,
        }),
        remote: false,
    }
}

/// The receipts of one caller. The registry's own provider has no reader: every caller's
/// SQL, admin's too, reads through [`AccessLog::for_caller`], and a scan without a reader
/// reads nothing.
#[derive(Debug)]
pub struct AccessLog {
    schema: SchemaRef,
    catalog: Arc<dyn Catalog>,
    reader: Option<Reader>,
}

#[derive(Debug)]
struct Reader {
    caller: Arc<Caller>,
    registry: Arc<TableRegistry>,
    policy: PolicySnapshot,
}

impl AccessLog {
    /// `caller`'s view of the table, decided by the tables and policy its query started with.
    pub fn for_caller(
        base: &TableEntry,
        caller: Arc<Caller>,
        registry: Arc<TableRegistry>,
        policy: PolicySnapshot,
    ) -> Option<Self> {
        let any: &dyn std::any::Any = base.provider.as_ref();
        let base = any.downcast_ref::<AccessLog>()?;
        Some(Self {
            schema: base.schema.clone(),
            catalog: base.catalog.clone(),
            reader: Some(Reader {
                caller,
                registry,
                policy,
            }),
        })
    }

    async fn receipts(&self) -> crate::error::Result<Vec<AuditEntry>> {
        let Some(reader) = &self.reader else {
            return Err(crate::error::EngineError::Internal(
                "system.access_log was scanned without a caller".into(),
            ));
        };
        let caller = &*reader.caller;
        let receipts = Receipts {
            catalog: &*self.catalog,
            registry: &reader.registry,
            policy: &reader.policy,
        };
        let mut entries = Vec::new();
        let mut before = None;
        for _ in 0..MAX_PAGES {
            let filter = AuditFilter {
                action: Some("query".to_owned()),
                before,
                limit: MAX_LIMIT,
                ..AuditFilter::default()
            };
            let page = receipts.page(caller, filter).await?;
            entries.extend(page.entries);
            match page.next_before {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        Ok(entries)
    }

    async fn batch(&self) -> datafusion::error::Result<RecordBatch> {
        let entries = self
            .receipts()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut rows = Rows::default();
        for entry in &entries {
            let tables = entry.detail["tables"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if tables.is_empty() {
                rows.push(entry, None);
            }
            for table in &tables {
                rows.push(entry, Some(table));
            }
        }
        rows.batch(self.schema.clone())
    }
}

/// The table's columns as they fill.
#[derive(Default)]
struct Rows {
    seq: Vec<i64>,
    text: [Vec<Option<String>>; 13],
    numbers: [Vec<Option<i64>>; 3],
}

fn joined(value: &Value) -> Option<String> {
    let items: Vec<&str> = value.as_array()?.iter().filter_map(Value::as_str).collect();
    Some(items.join(","))
}

fn text_of(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

impl Rows {
    fn push(&mut self, entry: &AuditEntry, table: Option<&Value>) {
        let detail = &entry.detail;
        let end = entry.end.as_ref();
        let outcome = end
            .and_then(|end| end["outcome"].as_str())
            .or_else(|| detail["outcome"].as_str())
            .unwrap_or("unknown");
        self.seq.push(entry.seq);
        let texts = [
            Some(entry.at.clone()),
            Some(entry.target.clone()),
            Some(entry.principal.clone()),
            joined(&detail["roles"]).or(Some(String::new())),
            text_of(&detail["protocol"]),
            text_of(&detail["client"]),
            text_of(&detail["statement"]),
            text_of(&detail["report"]),
            table.and_then(|t| text_of(&t["table"])),
            table.and_then(|t| joined(&t["rows"])),
            table.and_then(|t| joined(&t["masked"])),
            Some(outcome.to_owned()),
            text_of(&detail["sql_hash"]),
        ];
        for (column, value) in self.text.iter_mut().zip(texts) {
            column.push(value);
        }
        let numbers = ["rows", "bytes", "duration_ms"].map(|key| end.and_then(|e| e[key].as_i64()));
        for (column, value) in self.numbers.iter_mut().zip(numbers) {
            column.push(value);
        }
    }

    fn batch(self, schema: SchemaRef) -> datafusion::error::Result<RecordBatch> {
        let [
            at,
            query_id,
            principal,
            roles,
            protocol,
            client,
            statement,
            report,
            table,
            scope,
            masked,
            outcome,
            sql_hash,
        ] = self.text;
        let strings = |values: Vec<Option<String>>| Arc::new(StringArray::from(values)) as ArrayRef;
        let at = cast(
            &StringArray::from(at),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )?;
        let [rows, bytes, duration] = self.numbers;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.seq)),
            at,
            strings(query_id),
            strings(principal),
            strings(roles),
            strings(protocol),
            strings(client),
            strings(statement),
            strings(report),
            strings(table),
            strings(scope),
            strings(masked),
            strings(outcome),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(Int64Array::from(duration)),
            strings(sql_hash),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

#[async_trait]
impl TableProvider for AccessLog {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch().await?;
        crate::governance_tables::scan_batch(batch, state, projection, filters, limit).await
    }
}
