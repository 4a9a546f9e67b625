//! The physical planner: DataFusion's, plus the plan nodes of database pushdown (statements a
//! database runs) and of policy fences (planned as a [`BarrierExec`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use tiaokuai_connectors::database::{PolicyFence, RemotePlanner};

use crate::barrier::BarrierExec;

#[derive(Debug, Default)]
pub struct Planner;

#[async_trait]
impl QueryPlanner for Planner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(RemotePlanner),
            Arc::new(FencePlanner),
        ])
        .create_physical_plan(logical_plan, session_state)
        .await
    }
}

/// A policy fence runs locally as a barrier: nothing above it is evaluated below it.
#[derive(Debug)]
struct FencePlanner;

#[async_trait]
impl ExtensionPlanner for FencePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<PolicyFence>().is_none() {
            return Ok(None);
        }
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal("a fence has one input".into()));
        };
        Ok(Some(Arc::new(BarrierExec::new(
            "policy fence".into(),
            input.clone(),
        ))))
    }
}
