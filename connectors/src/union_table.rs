//! Union datasets: "the same table × N villages" as one logical table.
//!
//! Every member is a table of the same schema whose rows all belong to one jurisdiction. The
//! union exposes the members' columns after an added, non-null `jurisdiction_code` column that
//! holds each member's code. A filter on that column is evaluated once per member at planning
//! time, and a member it excludes is never scanned: its files are not even listed.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use futures::{StreamExt, TryStreamExt};

/// How many members are opened at the same time.
const OPEN_AT_ONCE: usize = 16;

/// The column a union dataset adds.
pub const JURISDICTION_COLUMN: &str = "jurisdiction_code";

/// One member of a union.
#[derive(Debug, Clone)]
pub struct UnionMember {
    pub jurisdiction: String,
    pub provider: Arc<dyn TableProvider>,
}

/// A union dataset as a table.
#[derive(Debug)]
pub struct UnionTable {
    schema: SchemaRef,
    members: Vec<UnionMember>,
}

impl UnionTable {
    /// `member_schema` is the schema every member shares; members must already be checked to
    /// have it.
    pub fn new(member_schema: &Schema, members: Vec<UnionMember>) -> Self {
        let mut fields = vec![Arc::new(Field::new(
            JURISDICTION_COLUMN,
            DataType::Utf8,
            false,
        ))];
        fields.extend(member_schema.fields().iter().cloned());
        Self {
            schema: Arc::new(Schema::new(fields)),
            members,
        }
    }

    /// Members whose code passes every filter that mentions only the jurisdiction column.
    fn surviving_members(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> DfResult<Vec<&UnionMember>> {
        let codes =
            StringArray::from_iter_values(self.members.iter().map(|m| m.jurisdiction.as_str()));
        let code_schema = Arc::new(Schema::new(vec![Field::new(
            JURISDICTION_COLUMN,
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(code_schema.clone(), vec![Arc::new(codes)])?;
        let df_schema = DFSchema::try_from(code_schema.as_ref().clone())?;
        let mut keep = vec![true; self.members.len()];
        for filter in filters.iter().filter(|f| only_jurisdiction(f)) {
            let predicate =
                state.create_physical_expr(unnormalize_col(filter.clone()), &df_schema)?;
            let result = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(result) = result.as_any().downcast_ref::<BooleanArray>() else {
                continue;
            };
            for (index, kept) in keep.iter_mut().enumerate() {
                // NULL means "not known to match": the row filter above would drop it anyway
                *kept &= result.is_valid(index) && result.value(index);
            }
        }
        Ok(self
            .members
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(m, _)| m)
            .collect())
    }
}

/// Whether a filter mentions the jurisdiction column and nothing else.
fn only_jurisdiction(filter: &Expr) -> bool {
    let columns = filter.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == JURISDICTION_COLUMN)
}

fn mentions_jurisdiction(filter: &Expr) -> bool {
    filter
        .column_refs()
        .iter()
        .any(|c| c.name == JURISDICTION_COLUMN)
}

#[async_trait]
impl TableProvider for UnionTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter is taken as a hint (`Inexact`: DataFusion still applies it): filters on the
    /// jurisdiction column prune members, the others go on to the members' own pruning
    /// (partitions, Parquet statistics).
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&projection)?);
        let members = self.surviving_members(state, filters)?;
        if members.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // member column indices are the union's minus one (the added column comes first)
        let member_projection: Vec<usize> = projection
            .iter()
            .filter(|i| **i > 0)
            .map(|i| i - 1)
            .collect();
        let member_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| !mentions_jurisdiction(f))
            .map(|f| unnormalize_col(f.clone()))
            .collect();
        // members are opened several at a time: each scan lists its own location, and a union
        // of many villages on a remote store would otherwise pay its round trips one by one
        let opening: Vec<_> = members
            .iter()
            .map(|member| {
                let provider = Arc::clone(&member.provider);
                let (projection, filters) = (member_projection.clone(), member_filters.clone());
                async move {
                    provider
                        .scan(state, Some(&projection), &filters, limit)
                        .await
                }
            })
            .collect();
        let scans: Vec<Arc<dyn ExecutionPlan>> = futures::stream::iter(opening)
            .buffered(OPEN_AT_ONCE)
            .try_collect()
            .await?;
        let mut inputs = Vec::with_capacity(members.len());
        for (member, scan) in members.iter().zip(scans) {
            let mut next_member_column = 0;
            let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = projection
                .iter()
                .map(|&index| {
                    let name = self.schema.field(index).name().clone();
                    if index == 0 {
                        let code = ScalarValue::Utf8(Some(member.jurisdiction.clone()));
                        Ok((Arc::new(Literal::new(code)) as Arc<dyn PhysicalExpr>, name))
                    } else {
                        let column: Arc<dyn PhysicalExpr> =
                            Arc::new(Column::new(&name, next_member_column));
                        let found = scan.schema().field(next_member_column).data_type().clone();
                        next_member_column += 1;
                        // members stored differently (a database's text beside Parquet's string
                        // views) are read as the union's type
                        let wanted = self.schema.field(index).data_type();
                        if &found == wanted {
                            Ok((column, name))
                        } else {
                            Ok((
                                Arc::new(CastExpr::new(column, wanted.clone(), None))
                                    as Arc<dyn PhysicalExpr>,
                                name,
                            ))
                        }
                    }
                })
                .collect::<DfResult<_>>()?;
            inputs.push(Arc::new(ProjectionExec::try_new(exprs, scan)?) as Arc<dyn ExecutionPlan>);
        }
        UnionExec::try_new(inputs)
    }
}
