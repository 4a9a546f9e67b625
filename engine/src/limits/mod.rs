//! What keeps one query inside the server's limits, whatever its SQL.
//!
//! - [`shape`]: statements whose plans would nest too deep or grow too large are refused
//!   before planning.
//! - [`runner`]: queries run on threads of their own with stacks that hold the deepest
//!   statement allowed; the deadline holds and a panic fails only its query.
//! - [`capped`], [`estimates`], [`aggregates`], [`concatenation`]: functions whose output size
//!   the caller chooses check it before they allocate, against a per-value cap and the memory
//!   pool; [`values`] holds the cap, the accounting and what a query may fold while planned;
//!   [`rule`] makes calls that bypass the registry capped too; [`measure`] sizes values.
//! - [`memory`]: a role group's queries each hold at most their share of the memory pool.

pub mod aggregates;
pub mod capped;
pub mod concatenation;
pub mod estimates;
pub mod measure;
pub mod memory;
pub mod rule;
pub mod runner;
pub mod shape;
pub mod values;

use std::sync::Arc;

use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;

use crate::error::{EngineError, Result};
use aggregates::{CAPPED_AGGREGATES, CappedAggregate};
use capped::Capped;
use estimates::CAPPED;
use values::ValueLimits;

/// Replaces the caller-sized functions of `state` with capped ones, each value at most
/// `max_value_bytes` and all of them counted against the state's memory pool.
pub fn install(state: &mut SessionState, max_value_bytes: u64) -> Result<()> {
    let limits = ValueLimits {
        max_value_bytes,
        pool: state.runtime_env().memory_pool.clone(),
    };
    let mut capped = Vec::new();
    for (name, estimate) in CAPPED {
        let original = registered(state.scalar_functions().get(*name), name)?;
        let udf = Capped::udf(original, *estimate, limits.clone());
        state.register_udf(udf.clone())?;
        capped.push(udf);
    }
    for name in CAPPED_AGGREGATES {
        let original = registered(state.aggregate_functions().get(*name), name)?;
        state.register_udaf(CappedAggregate::udaf(original, limits.clone()))?;
    }
    state.add_analyzer_rule(Arc::new(rule::CapValues::new(capped, limits)));
    Ok(())
}

/// A function the caps expect DataFusion to have: one that is missing (renamed in a new
/// version) must not silently go uncapped.
fn registered<T>(function: Option<&Arc<T>>, name: &str) -> Result<Arc<T>> {
    function.cloned().ok_or_else(|| {
        EngineError::Internal(format!("the capped function {name} is not registered").into())
    })
}
