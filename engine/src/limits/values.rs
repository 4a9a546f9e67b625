//! Values whose size the caller chooses: the per-value cap, their memory in the query memory
//! pool, and what a query may fold into constants while it is planned.
//!
//! A capped function reserves what its result will take in the engine's memory pool *before*
//! computing it (for a batch of results of [`RESERVE_BYTES`] or more), and the reservation is
//! then owned by the result's buffers: it is released when the last batch holding them is
//! dropped, so values that live on (sorted, aggregated, buffered) keep counting.
//!
//! Constant calls are a case of their own. DataFusion folds a constant call into a literal while
//! it plans, and expands a literal to one copy per row of every batch it is used in, outside
//! any reservation: `repeat('x', 16000000)` beside 8192 rows would be 128 GiB. So while a query
//! is planned, a capped function folds only small results ([`FOLD_VALUE_BYTES`], and
//! [`FOLD_QUERY_BYTES`] per query); larger constants are computed while the query runs, where
//! the capped function itself expands them to the batch's rows, against the pool.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use datafusion::arrow::array::{Array, ArrayData, ArrayRef, make_array};
use datafusion::arrow::buffer::Buffer;
use datafusion::common::DataFusionError;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::execution::session_state::SessionState;

use crate::error::EngineError;

/// Largest result of one constant call folded while a query is planned, in bytes.
pub const FOLD_VALUE_BYTES: usize = 256;
/// What all constant calls of one query may fold together while it is planned, in bytes:
/// DataFusion copies a folded constant into every row of a batch, so this times the batch
/// size (8192 rows) bounds the memory those copies take in one batch.
pub const FOLD_QUERY_BYTES: usize = 4 << 10;
/// A constant result smaller than this, times the batch's rows, is left for DataFusion to copy
/// into the rows; a larger one is expanded by the capped function, against the pool.
pub const EXPAND_BYTES: u64 = 64 << 10;
/// A batch of results smaller than this is not reserved: like every batch DataFusion streams,
/// it is too small to matter, and masks (built of `concat`) run on every restricted query.
pub const RESERVE_BYTES: u64 = 1 << 20;

/// The engine-wide side of the caps: the per-value limit and the pool values count against.
#[derive(Debug, Clone)]
pub struct ValueLimits {
    pub max_value_bytes: u64,
    pub pool: Arc<dyn MemoryPool>,
}

impl ValueLimits {
    /// The limits inside one query: its values count in the query's own pool (see
    /// [`QueryValues::install`]), or the engine's outside a query.
    pub fn for_query(&self, options: &ConfigOptions) -> ValueLimits {
        let pool = options
            .extensions
            .get::<QueryValues>()
            .and_then(|values| values.0.pool.clone());
        match pool {
            Some(pool) => ValueLimits {
                max_value_bytes: self.max_value_bytes,
                pool,
            },
            None => self.clone(),
        }
    }

    /// Refuses a value larger than the cap: the caller asked for it, so this is a 400.
    pub fn check_value(&self, function: &str, bytes: u64) -> Result<(), DataFusionError> {
        if bytes <= self.max_value_bytes {
            return Ok(());
        }
        Err(EngineError::BadRequest(
            format!(
                "{function} would make a value of {bytes} bytes; the limit is {} bytes per value",
                self.max_value_bytes
            )
            .into(),
        )
        .into())
    }

    /// Reserves `bytes` in the pool for `function`'s results, as [`Self::reserve`] does, or
    /// nothing for fewer than [`RESERVE_BYTES`].
    pub fn reserve_large(
        &self,
        function: &str,
        bytes: u64,
    ) -> Result<Option<MemoryReservation>, DataFusionError> {
        if bytes < RESERVE_BYTES {
            return Ok(None);
        }
        self.reserve(function, bytes).map(Some)
    }

    /// Reserves `bytes` in the pool for `function`'s results: past the pool's free memory, a
    /// `ResourcesExhausted` error (503), before anything is allocated.
    pub fn reserve(
        &self,
        function: &str,
        bytes: u64,
    ) -> Result<MemoryReservation, DataFusionError> {
        let reservation = MemoryConsumer::new(format!("{function} values")).register(&self.pool);
        reservation.try_grow(usize::try_from(bytes).unwrap_or(usize::MAX))?;
        Ok(reservation)
    }
}

/// Hands `reservation` to the buffers of `array`: the memory stays counted until the array
/// (every copy of it, every slice) is dropped. The reservation is first fitted to what the
/// array really takes.
pub fn owned_by(
    array: ArrayRef,
    reservation: MemoryReservation,
) -> Result<ArrayRef, DataFusionError> {
    reservation.resize(array.get_array_memory_size());
    let holder = Arc::new(reservation);
    let data = hold(array.to_data(), &holder)?;
    Ok(make_array(data))
}

fn hold(data: ArrayData, holder: &Arc<MemoryReservation>) -> Result<ArrayData, DataFusionError> {
    let buffers = data
        .buffers()
        .iter()
        .map(|buffer| {
            Buffer::from(bytes::Bytes::from_owner(Held {
                buffer: buffer.clone(),
                _reservation: holder.clone(),
            }))
        })
        .collect();
    let children = data
        .child_data()
        .iter()
        .map(|child| hold(child.clone(), holder))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(data
        .into_builder()
        .buffers(buffers)
        .child_data(children)
        .build()?)
}

/// A buffer and the reservation that counts it.
struct Held {
    buffer: Buffer,
    _reservation: Arc<MemoryReservation>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_slice()
    }
}

/// One query's state, carried in its session configuration so that the functions it calls
/// can find it (DataFusion hands every function the configuration, and nothing else).
#[derive(Debug, Clone, Default)]
pub struct QueryValues(Arc<QueryValuesState>);

#[derive(Debug, Default)]
struct QueryValuesState {
    executing: AtomicBool,
    folded: AtomicUsize,
    /// The pool the query reserves its memory in: its own (see [`super::memory`]) where its
    /// role group bounds it.
    pool: Option<Arc<dyn MemoryPool>>,
}

impl QueryValues {
    /// Gives a query's session its own state; it starts out planning. Its functions' values
    /// count in the session's pool, as its operators' memory does.
    pub fn install(state: &mut SessionState) {
        let values = QueryValues(Arc::new(QueryValuesState {
            pool: Some(state.runtime_env().memory_pool.clone()),
            ..QueryValuesState::default()
        }));
        state.config_mut().options_mut().extensions.insert(values);
    }

    /// Marks the query as running: from now on constant calls are computed, not folded.
    pub fn executing(state: &SessionState) {
        if let Some(values) = state.config_options().extensions.get::<QueryValues>() {
            values.0.executing.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a constant result of `bytes` may be folded now. Outside a query (no state) and
    /// once the query runs, nothing is folded here; the capped function computes instead.
    pub fn may_fold(options: &ConfigOptions, bytes: u64) -> bool {
        let Some(values) = options.extensions.get::<QueryValues>() else {
            return false;
        };
        if values.0.executing.load(Ordering::Relaxed) || bytes > FOLD_VALUE_BYTES as u64 {
            return false;
        }
        let bytes = bytes as usize;
        values
            .0
            .folded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |folded| {
                (folded + bytes <= FOLD_QUERY_BYTES).then_some(folded + bytes)
            })
            .is_ok()
    }

    /// Whether the query is still being planned (or there is no query: a plan built outside
    /// one, which never runs).
    pub fn planning(options: &ConfigOptions) -> bool {
        options
            .extensions
            .get::<QueryValues>()
            .is_some_and(|values| !values.0.executing.load(Ordering::Relaxed))
    }
}

impl ConfigExtension for QueryValues {
    const PREFIX: &'static str = "tiaokuai_query_values";
}

impl ExtensionOptions for QueryValues {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    /// Shares the state on purpose: DataFusion clones a query's configuration into its plans
    /// and tasks, and they must all see the same query.
    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> datafusion::common::Result<()> {
        Err(DataFusionError::Configuration(format!(
            "{key} is not a setting"
        )))
    }

    /// Nothing to list: the state is not a setting (and stays out of `SHOW ALL`).
    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

/// The array of `rows` copies of a constant result, counted against the pool.
pub fn expand(
    limits: &ValueLimits,
    function: &str,
    value: &datafusion::common::ScalarValue,
    bytes_each: u64,
    rows: usize,
) -> Result<ArrayRef, DataFusionError> {
    let reservation = limits.reserve(function, bytes_each.saturating_mul(rows as u64))?;
    let array = value.to_array_of_size(rows)?;
    debug_assert_eq!(array.len(), rows);
    owned_by(array, reservation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    fn limits(pool_bytes: usize) -> ValueLimits {
        ValueLimits {
            max_value_bytes: 1 << 20,
            pool: Arc::new(GreedyMemoryPool::new(pool_bytes)),
        }
    }

    #[test]
    fn a_reservation_lives_as_long_as_the_values_it_counts() {
        let limits = limits(1 << 30);
        let reservation = limits.reserve("repeat", 4096).unwrap();
        let array: ArrayRef = Arc::new(StringArray::from(vec!["x".repeat(1000); 3]));
        // fitted to what the values take
        let size = array.get_array_memory_size();
        let counted = owned_by(array, reservation).unwrap();
        assert_eq!(limits.pool.reserved(), size);
        let slice = counted.slice(1, 1);
        drop(counted);
        // a slice keeps the buffers, and so the reservation
        assert_eq!(limits.pool.reserved(), size);
        assert_eq!(
            slice
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "x".repeat(1000)
        );
        drop(slice);
        assert_eq!(limits.pool.reserved(), 0);
    }

    #[test]
    fn past_the_pool_a_reservation_is_refused_before_anything_is_allocated() {
        let limits = limits(1 << 20);
        let error = limits.reserve("repeat", 2 << 20).unwrap_err();
        assert!(
            matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)),
            "{error}"
        );
        assert_eq!(limits.pool.reserved(), 0);
    }

    #[test]
    fn a_value_past_the_cap_is_the_callers_error() {
        let limits = limits(1 << 30);
        assert!(limits.check_value("repeat", 1 << 20).is_ok());
        let error = limits.check_value("repeat", (1 << 20) + 1).unwrap_err();
        assert!(
            matches!(crate::error::classify(&error), EngineError::BadRequest(m)
                if m == "repeat would make a value of 1048577 bytes; the limit is 1048576 bytes per value")
        );
    }

    #[test]
    fn a_query_folds_only_small_constants_and_only_while_it_is_planned() {
        let mut options = ConfigOptions::default();
        options.extensions.insert(QueryValues::default());
        assert!(QueryValues::planning(&options));
        assert!(QueryValues::may_fold(&options, FOLD_VALUE_BYTES as u64));
        assert!(!QueryValues::may_fold(
            &options,
            FOLD_VALUE_BYTES as u64 + 1
        ));
        // the query's budget runs out
        let mut folded = FOLD_VALUE_BYTES;
        while folded + FOLD_VALUE_BYTES <= FOLD_QUERY_BYTES {
            assert!(QueryValues::may_fold(&options, FOLD_VALUE_BYTES as u64));
            folded += FOLD_VALUE_BYTES;
        }
        assert!(!QueryValues::may_fold(&options, FOLD_VALUE_BYTES as u64));
        // a clone of the configuration is the same query
        let values = options.extensions.get::<QueryValues>().unwrap().clone();
        values.0.executing.store(true, Ordering::Relaxed);
        assert!(!QueryValues::planning(&options));
        // without a query nothing is folded and nothing counts as planning
        let bare = ConfigOptions::default();
        assert!(!QueryValues::planning(&bare));
        assert!(!QueryValues::may_fold(&bare, 1));
    }
}
