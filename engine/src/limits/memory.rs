//! One query's share of the engine's memory pool.
//!
//! A role group may bound the memory each of its queries holds (`--role-limit
//! ROLE=…,memory=MB`). The query then plans and runs against a [`QueryPool`]: every
//! reservation still counts in the shared pool, as any query's does, and is also counted
//! against the query's own limit. A reservation past either is refused with
//! `ResourcesExhausted`, which operators that can spill (sorts, aggregations, joins) answer by
//! spilling, and every other one by failing its query alone.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// A query's memory: reserved in the shared pool, and at most `limit` bytes of it.
#[derive(Debug)]
pub struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    reserved: AtomicUsize,
    /// Whose limit it is, for the error: the caller's role group.
    group: Arc<str>,
}

impl QueryPool {
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize, group: Arc<str>) -> Self {
        Self {
            shared,
            limit,
            reserved: AtomicUsize::new(0),
            group,
        }
    }

    fn exhausted(&self, reservation: &MemoryReservation, additional: usize) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "{} wanted {additional} more bytes past the {} MiB each query of the {} group may \
             hold",
            reservation.consumer().name(),
            self.limit >> 20,
            self.group
        ))
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query pool of the {} group ({} of {} bytes) in {}",
            self.group,
            self.reserved(),
            self.limit,
            self.shared
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.shared.grow(reservation, additional);
        self.reserved.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.shared.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let grown = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |reserved| {
                reserved
                    .checked_add(additional)
                    .filter(|total| *total <= self.limit)
            });
        if grown.is_err() {
            return Err(self.exhausted(reservation, additional));
        }
        if let Err(error) = self.shared.try_grow(reservation, additional) {
            self.reserved.fetch_sub(additional, Ordering::Relaxed);
            return Err(error);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    fn pools(
        shared_bytes: usize,
        query_bytes: usize,
    ) -> (Arc<dyn MemoryPool>, Arc<dyn MemoryPool>) {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(shared_bytes));
        let query: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(
            shared.clone(),
            query_bytes,
            "dashboard".into(),
        ));
        (shared, query)
    }

    #[test]
    fn a_query_holds_at_most_its_limit_and_it_counts_in_the_shared_pool() {
        let (shared, query) = pools(10 << 20, 2 << 20);
        let sort = MemoryConsumer::new("sort").register(&query);
        sort.try_grow(1 << 20).unwrap();
        assert_eq!((query.reserved(), shared.reserved()), (1 << 20, 1 << 20));
        let error = sort.try_grow(2 << 20).unwrap_err();
        assert!(matches!(error, DataFusionError::ResourcesExhausted(_)));
        assert_eq!(
            error.to_string(),
            "Resources exhausted: sort wanted 2097152 more bytes past the 2 MiB each query of the \
             dashboard group may hold"
        );
        // nothing of the refused reservation stays counted anywhere
        assert_eq!((query.reserved(), shared.reserved()), (1 << 20, 1 << 20));
        drop(sort);
        assert_eq!((query.reserved(), shared.reserved()), (0, 0));
    }

    #[test]
    fn the_shared_pool_still_bounds_a_query_under_its_own_limit() {
        let (shared, query) = pools(1 << 20, 8 << 20);
        let other = MemoryConsumer::new("another query").register(&shared);
        other.try_grow(1 << 19).unwrap();
        let sort = MemoryConsumer::new("sort").register(&query);
        let error = sort.try_grow(1 << 20).unwrap_err();
        assert!(matches!(error, DataFusionError::ResourcesExhausted(_)));
        assert_eq!(query.reserved(), 0);
        assert_eq!(shared.reserved(), 1 << 19);
    }

    #[test]
    fn infallible_growth_is_counted_and_given_back() {
        let (shared, query) = pools(1 << 20, 1 << 20);
        let batch = MemoryConsumer::new("batch").register(&query);
        batch.grow(3 << 20);
        assert_eq!((query.reserved(), shared.reserved()), (3 << 20, 3 << 20));
        assert!(batch.try_grow(1).is_err());
        batch.shrink(3 << 20);
        assert_eq!((query.reserved(), shared.reserved()), (0, 0));
    }
}
