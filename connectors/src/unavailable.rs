//! [`UnavailableTable`]: a registered source that cannot be opened (its secret is gone, its
//! options no longer parse) still answers, with its pinned schema, by failing each scan with
//! `source unavailable` naming it, instead of vanishing from the catalog.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::ConnectorError;

#[derive(Debug)]
pub struct UnavailableTable {
    source_name: String,
    schema: SchemaRef,
    reason: String,
}

impl UnavailableTable {
    pub fn new(source_name: &str, schema: SchemaRef, reason: impl ToString) -> Self {
        Self {
            source_name: source_name.to_owned(),
            schema,
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl TableProvider for UnavailableTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(ConnectorError::unavailable(
            &self.source_name,
            format!("it cannot be opened: {}", self.reason),
        )
        .into())
    }
}
