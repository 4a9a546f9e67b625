//! The queries running now (`GET /v1/queries`), and cancelling one (`DELETE
//! /v1/queries/{id}`). A query is listed from the moment it is asked until its answer ends;
//! admin sees and may cancel every query, everyone else its own. Cancelling stops the query
//! wherever it is — planning, computing its first batch, or streaming — and releases what it
//! holds (its sources' connections, its memory, its place under its limits).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tiaokuai_policies::Caller;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::error::{EngineError, Result};

/// SQL text longer than this is cut in the listing.
pub const SQL_SHOWN: usize = 1024;

/// A running query as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunningQuery {
    /// The query's id (its `X-Query-Id`).
    pub id: String,
    pub principal: String,
    pub protocol: String,
    /// The SQL text, with ID and phone numbers taken out, cut at 1 KiB.
    pub sql: String,
    /// When it was asked (RFC 3339 UTC).
    pub started_at: String,
}

#[derive(Debug)]
struct Entry {
    query: RunningQuery,
    cancel: CancellationToken,
}

/// The queries running now.
#[derive(Debug, Default)]
pub struct Running {
    queries: Mutex<HashMap<String, Entry>>,
}

/// A query's place in the list; dropping it takes the query off.
#[derive(Debug)]
pub struct Listed {
    running: Arc<Running>,
    id: String,
    pub cancel: CancellationToken,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.running.queries().remove(&self.id);
    }
}

impl Running {
    fn queries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.queries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists a query until the returned guard is dropped; `sql` is its text as listed, with ID
    /// and phone numbers taken out and cut at [`SQL_SHOWN`] bytes.
    pub fn list(self: &Arc<Self>, id: &str, principal: &str, protocol: &str, sql: &str) -> Listed {
        let cancel = CancellationToken::new();
        let query = RunningQuery {
            id: id.to_owned(),
            principal: principal.to_owned(),
            protocol: protocol.to_owned(),
            sql: sql.to_owned(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        self.queries().insert(
            id.to_owned(),
            Entry {
                query,
                cancel: cancel.clone(),
            },
        );
        Listed {
            running: Arc::clone(self),
            id: id.to_owned(),
            cancel,
        }
    }

    /// The running queries `caller` may see, oldest first.
    pub fn visible(&self, caller: &Caller) -> Vec<RunningQuery> {
        let mut queries: Vec<RunningQuery> = self
            .queries()
            .values()
            .filter(|e| caller.is_admin() || e.query.principal == caller.name())
            .map(|e| e.query.clone())
            .collect();
        queries.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        queries
    }

    /// Cancels a query `caller` may see; one it may not is not found.
    pub fn cancel(&self, caller: &Caller, id: &str) -> Result<()> {
        let queries = self.queries();
        match queries.get(id) {
            Some(entry) if caller.is_admin() || entry.query.principal == caller.name() => {
                tracing::info!(query_id = %id, by = %caller.name(), "query cancelled");
                entry.cancel.cancel();
                Ok(())
            }
            _ => Err(EngineError::NotFound(format!("running query {id}").into())),
        }
    }
}

impl crate::engine::Engine {
    /// The running queries `caller` may see.
    pub fn running_queries(&self, caller: &Caller) -> Vec<RunningQuery> {
        self.running.visible(caller)
    }

    /// Cancels a running query `caller` may see.
    pub fn cancel_query(&self, caller: &Caller, id: &str) -> Result<()> {
        self.running.cancel(caller, id)
    }
}
