//! [`DecisionCache`]: compiled decisions, each keyed by the policy version it was computed from.
//!
//! A decision is a function of the policy version, the principal, the table and the table's
//! sensitive columns. The cache serves an entry only to a lookup of the same version and the
//! same columns, so a decision computed from version N — however late it is stored — is never
//! served once N+1 is installed, and a decision compiled for a table's old classification is
//! never served for its new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::TableDecision;

#[derive(Debug)]
struct Entry {
    version: u64,
    sensitive: Vec<String>,
    decision: Arc<TableDecision>,
}

/// Decisions by (principal, table), one entry each: the newest version stored.
#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: Mutex<HashMap<(String, String), Entry>>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl DecisionCache {
    /// Lookups answered from the cache, and lookups that had to compile a decision.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decision stored for exactly this version and these sensitive columns.
    pub fn get(
        &self,
        version: u64,
        principal: &str,
        table: &str,
        sensitive: &[&str],
    ) -> Option<Arc<TableDecision>> {
        let entries = self.entries();
        let found = entries
            .get(&(principal.to_owned(), table.to_owned()))
            .filter(|entry| {
                entry.version == version
                    && entry
                        .sensitive
                        .iter()
                        .map(String::as_str)
                        .eq(sensitive.iter().copied())
            })
            .map(|entry| entry.decision.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        found
    }

    /// Stores a decision computed from `version`, unless one from a newer version is already
    /// there (a query still planning on an older version must not evict the current entry).
    pub fn put(
        &self,
        version: u64,
        principal: &str,
        table: &str,
        sensitive: &[&str],
        decision: Arc<TableDecision>,
    ) {
        let mut entries = self.entries();
        let key = (principal.to_owned(), table.to_owned());
        if entries.get(&key).is_some_and(|e| e.version > version) {
            return;
        }
        entries.insert(
            key,
            Entry {
                version,
                sensitive: sensitive.iter().map(|c| (*c).to_owned()).collect(),
                decision,
            },
        );
    }

    /// Drops every entry older than `version`: they can never be served again.
    pub fn retain_from(&self, version: u64) {
        self.entries().retain(|_, e| e.version >= version);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries().clear();
    }
}
