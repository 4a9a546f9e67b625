//! The audit trail of queries: one record when a query is admitted or refused (`query`), and
//! one when its answer ends (`query.end`) — completed with its row count, failed with the
//! reason, or cancelled because the client went away or stopped reading. An error after the
//! first batch cannot change the answer's status any more, so this record (and the log) is
//! where such a failure leaves its trace.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use serde_json::json;
use tiaokuai_catalog::Catalog;
use tiaokuai_policies::Caller;

use crate::engine::{Engine, QueryOutput};
use crate::error::{EngineError, Result};
use crate::params::Bindings;

/// SQL longer than this is cut in the audit record.
const SQL_RECORDED: usize = 4096;

/// What a query's audit record names it by and how its answer is encoded.
#[derive(Debug, Clone, Copy)]
pub struct QueryTrace<'a> {
    /// The id the caller is told (`X-Query-Id`).
    pub query_id: &'a str,
    /// The answer's format, e.g. `json`.
    pub format: &'a str,
}

impl Engine {
    /// Runs a query as [`Engine::query`] does, recording it in the audit trail when it is
    /// admitted or refused, and again when its answer ends.
    pub async fn audited_query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        sql: &str,
        params: &[serde_json::Value],
    ) -> Result<QueryOutput> {
        let bindings = Bindings::Positional(params.to_vec());
        self.audited_query_bound(caller, trace, sql, bindings, json!({}))
            .await
    }

    /// Runs a query with its placeholders bound to `bindings`, recorded as
    /// [`Engine::audited_query`] records it, with `context` (a report and its version, say)
    /// added to the first record.
    pub async fn audited_query_bound(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        sql: &str,
        bindings: Bindings,
        context: serde_json::Value,
    ) -> Result<QueryOutput> {
        let outcome = self.query_bound(caller, sql, bindings).await;
        let mut detail = json!({
            "sql": cut(sql),
            "format": trace.format,
            "outcome": outcome.as_ref().map_or_else(EngineError::code, |_| "started"),
        });
        if let (Some(detail), serde_json::Value::Object(context)) =
            (detail.as_object_mut(), context)
        {
            detail.extend(context);
        }
        if let Err(error) = self.record_query(caller, trace.query_id, detail).await {
            tracing::warn!(query_id = %trace.query_id, %error, "the query's audit record could not be written");
        }
        let output = outcome?;
        let end = End {
            catalog: self.catalog.clone(),
            principal: caller.name().to_owned(),
            query_id: trace.query_id.to_owned(),
        };
        Ok(QueryOutput {
            schema: output.schema.clone(),
            stream: Box::pin(Traced {
                inner: output.stream,
                rows: 0,
                end: Some(end),
            }),
        })
    }
}

fn cut(sql: &str) -> &str {
    let mut end = sql.len().min(SQL_RECORDED);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    &sql[..end]
}

/// Writes the `query.end` record.
struct End {
    catalog: Arc<dyn Catalog>,
    principal: String,
    query_id: String,
}

impl End {
    fn record(self, rows: u64, failure: Option<&DataFusionError>, cancelled: bool) {
        let outcome = match (failure, cancelled) {
            (Some(_), _) => "failed",
            (None, true) => "cancelled",
            (None, false) => "completed",
        };
        let mut detail = json!({"outcome": outcome, "rows": rows});
        if let Some(error) = failure {
            let error = crate::error::classify(error);
            tracing::warn!(query_id = %self.query_id, code = error.code(), %error, rows, "the query failed after its answer began");
            detail["error"] = json!({"code": error.code(), "message": error.public_message()});
        } else if cancelled {
            tracing::info!(query_id = %self.query_id, rows, "the query was cancelled before its answer ended");
        }
        // a stream may end where no runtime runs (dropped at shutdown): then only the log says
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(query_id = %self.query_id, outcome, "the query's end could not be recorded: no runtime");
            return;
        };
        runtime.spawn(async move {
            if let Err(error) = self
                .catalog
                .record(&self.principal, "query.end", &self.query_id, detail)
                .await
            {
                tracing::warn!(query_id = %self.query_id, %error, "the query's end could not be recorded");
            }
        });
    }
}

/// A query's stream that records how it ended: at its last batch, at its first error, or when
/// it is dropped before either.
struct Traced {
    inner: SendableRecordBatchStream,
    rows: u64,
    end: Option<End>,
}

impl Stream for Traced {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => self.rows += batch.num_rows() as u64,
            Poll::Ready(Some(Err(error))) => {
                if let Some(end) = self.end.take() {
                    end.record(self.rows, Some(error), false);
                }
            }
            Poll::Ready(None) => {
                if let Some(end) = self.end.take() {
                    end.record(self.rows, None, false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for Traced {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end.record(self.rows, None, true);
        }
    }
}
