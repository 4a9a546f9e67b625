//! [`Admission`]: how many queries one principal may have running at once.
//!
//! A query is running from the moment it is admitted until its answer stream is dropped: when
//! its last batch has been taken, when its client went away, or when its response was cut
//! because the client stopped reading. Past the limit a query is refused at once (429
//! `overloaded`) rather than queued, so that one caller's backlog never waits in front of
//! everyone else's, and a caller that opens answers it does not read cannot hold more than its
//! share of the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{EngineError, Result};

/// Running queries per principal, and the limit.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    running: Mutex<HashMap<String, usize>>,
}

/// One admitted query; dropping it ends the query's turn.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    principal: String,
}

impl Admission {
    /// At most `limit` running queries per principal (at least one).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            running: Mutex::default(),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits one more query of `principal`, or refuses it when its limit is full.
    pub fn admit(self: &Arc<Self>, principal: &str) -> Result<Ticket> {
        let mut running = self.running();
        let count = running.entry(principal.to_owned()).or_default();
        if *count >= self.limit {
            return Err(EngineError::Overloaded(
                format!(
                    "{principal} already runs {} queries, the most one principal may run at once; \
                 wait for one to finish (or read its answer) and try again",
                    self.limit
                )
                .into(),
            ));
        }
        *count += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            principal: principal.to_owned(),
        })
    }

    /// How many queries run now, of every principal.
    pub fn running_total(&self) -> usize {
        self.running().values().sum()
    }

    /// How many queries wait for a place (none: past its limit a query is refused).
    pub fn queued_total(&self) -> usize {
        0
    }

    /// How many queries `principal` runs now.
    pub fn running_for(&self, principal: &str) -> usize {
        self.running().get(principal).copied().unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut running = self.admission.running();
        if let Some(count) = running.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_runs_at_most_its_limit_and_others_are_not_affected() {
        let admission = Admission::new(2);
        let first = admission.admit("alice").unwrap();
        let second = admission.admit("alice").unwrap();
        assert!(matches!(
            admission.admit("alice"),
            Err(EngineError::Overloaded(_))
        ));
        let bob = admission.admit("bob").unwrap();
        assert_eq!(admission.running_for("alice"), 2);
        drop(first);
        let third = admission.admit("alice").unwrap();
        drop((second, third, bob));
        assert_eq!(admission.running_for("alice"), 0);
        assert_eq!(admission.running_for("bob"), 0);
        assert!(admission.running().is_empty());
    }
}
