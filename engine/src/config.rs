//! Engine limits and tuning.

use std::path::PathBuf;
use std::time::Duration;

/// How the engine runs queries.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Wall-clock limit of one query, from planning to the last batch.
    pub query_timeout: Duration,
    /// Memory shared by all running queries; operators that can spill do so past it, the
    /// others fail their query with a clear error.
    pub memory_limit: usize,
    /// Where spilled data goes.
    pub spill_dir: PathBuf,
    /// Parallelism of one query (DataFusion target partitions).
    pub target_partitions: usize,
    /// How long a folder's file listing is reused before it is listed again: files added to a
    /// source show up within this time. Zero lists on every query.
    pub listing_cache_ttl: Duration,
    /// Key of the keyed-hash mask. Keep it secret and stable: masked values are comparable
    /// across queries only under the same key.
    pub mask_key: Vec<u8>,
    /// Key (32 bytes) that seals secrets given inline; without it only references are accepted.
    pub secret_key: Vec<u8>,
    /// The server's own files (data directory, catalog, spill directory): no source a
    /// non-admin registers may read them, whatever is granted.
    pub private_paths: Vec<PathBuf>,
    /// Queries one principal may have running at once (from admission until its answer stream
    /// is dropped); past it a query is refused as overloaded.
    pub max_queries_per_principal: usize,
    /// Queries the callers in no role group of their own may run and queue at once (see
    /// [`crate::admission`]).
    pub default_group: crate::admission::GroupLimit,
    /// Role groups with limits of their own, by role name.
    pub role_groups: Vec<(String, crate::admission::GroupLimit)>,
    /// How many levels a statement may nest (see [`crate::limits::shape`]): past it, `400`.
    pub max_expression_depth: usize,
    /// Largest value (text, binary or list) a function whose output size the caller chooses
    /// may produce, in bytes (see [`crate::limits::capped`]): past it, `400`.
    pub max_value_bytes: usize,
}

/// The default of [`EngineConfig::max_expression_depth`]: a dashboard's few hundred ORed
/// terms or a UNION of every village fit, the query threads' stacks hold it nine times over,
/// and the deepest statement it allows plans in about 2 s in a debug build.
pub const DEFAULT_MAX_EXPRESSION_DEPTH: usize = 500;

/// The most [`EngineConfig::max_expression_depth`] may be: the query threads' stacks were
/// measured to hold this depth with room to spare (see the README's "Limits").
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// The default of [`EngineConfig::max_value_bytes`].
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 << 20;

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(300),
            memory_limit: 4 << 30,
            spill_dir: std::env::temp_dir(),
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            listing_cache_ttl: Duration::from_secs(30),
            mask_key: Vec::new(),
            secret_key: Vec::new(),
            private_paths: Vec::new(),
            max_queries_per_principal: 4,
            default_group: crate::admission::GroupLimit::default(),
            role_groups: Vec::new(),
            max_expression_depth: DEFAULT_MAX_EXPRESSION_DEPTH,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}
