//! The audit trail of queries: one record per query (`query`), written once the query is
//! planned and started or refused, and before any row leaves the server; then one more when
//! its answer ends (`query.end`) — completed with its rows, bytes and duration, failed with
//! the reason, or cancelled because the client went away or stopped reading. An error after
//! the first batch cannot change the answer's status any more, so that record (and the log)
//! is where such a failure leaves its trace.
//!
//! A query whose record cannot be written is refused (`audit_unavailable`): its answer is
//! dropped unread, which cancels it, so nothing is ever returned unaudited. What a record
//! keeps of the SQL text and of error messages has ID and phone numbers taken out
//! ([`redact`]); the SQL hash is of that redacted text, so it cannot be used to test guesses
//! of a number either.

pub mod access_log;
pub mod receipts;
pub mod redact;

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use serde_json::json;
use sha2::{Digest, Sha256};
use tiaokuai_catalog::Catalog;
use tiaokuai_policies::{Caller, Scope};
use tokio::time::Instant;

use crate::engine::{Engine, QueryOutput};
use crate::error::{EngineError, Result};
use crate::params::Bindings;

/// SQL longer than this is cut in the audit record.
const SQL_RECORDED: usize = 4096;

/// What a query's audit record names it by, where it came from and how its answer is
/// encoded.
#[derive(Debug, Clone, Copy)]
pub struct QueryTrace<'a> {
    /// The id the caller is told (`X-Query-Id`).
    pub query_id: &'a str,
    /// The answer's format, e.g. `json`.
    pub format: &'a str,
    /// How the query came: `http`, or `schedule` for a run the server starts itself.
    pub protocol: &'a str,
    /// The client's address, where there is a client.
    pub client: Option<&'a str>,
}

impl<'a> QueryTrace<'a> {
    /// A query the server runs itself (a scheduled run), with no client.
    pub fn internal(query_id: &'a str, format: &'a str, protocol: &'a str) -> Self {
        Self {
            query_id,
            format,
            protocol,
            client: None,
        }
    }
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
        let started = Instant::now();
        let policy_version = self.policy_version();
        // redacted whole, then cut: a number cut in two would no longer be recognised
        let redacted = redact::redact(sql);
        let listed = self.running.list(
            trace.query_id,
            caller.name(),
            trace.protocol,
            redact::cut(&redacted, crate::running::SQL_SHOWN),
        );
        let cancelled = listed.cancel.clone();
        let span = crate::traces::query_span(trace.query_id, caller.name(), trace.protocol);
        let named = Arc::default();
        // the query's span is never entered, so that it ends when its answer does (and after
        // its children), not when its start was last polled
        let audited = crate::engine::Audited {
            query_id: trace.query_id,
            span: &span,
            named: &named,
        };
        let started_query = self.run_query(caller, sql, bindings, Some(audited));
        // cancelling drops the query's start, which stops its work on the query threads
        let outcome = tokio::select! {
            outcome = started_query => outcome,
            () = cancelled.cancelled() => Err(EngineError::Cancelled(
                "the query was cancelled before its answer began".into(),
            )),
        };
        let recorded = redact::cut(&redacted, SQL_RECORDED);
        let mut detail = json!({
            "sql": recorded,
            "sql_hash": hex::encode(Sha256::digest(recorded.as_bytes())),
            "statement": statement_kind(sql),
            "format": trace.format,
            "protocol": trace.protocol,
            "client": trace.client,
            "roles": caller
                .roles
                .iter()
                .map(|r| format!("{}@{}", r.role, r.jurisdiction))
                .collect::<Vec<_>>(),
            "within": caller.within.as_ref().map(|code| code.as_str()),
            "tables": self.reads_of(caller, sql, named.get()),
            "policy_version": policy_version,
            "outcome": outcome.as_ref().map_or_else(EngineError::code, |_| "started"),
        });
        if let Err(error) = &outcome {
            detail["reason"] = json!(redact::redact(&error.public_message()));
        }
        let report = context.get("report").is_some();
        if let (Some(detail), serde_json::Value::Object(context)) =
            (detail.as_object_mut(), context)
        {
            detail.extend(context);
        }
        if let Err(error) = self.record_query(caller, trace.query_id, detail).await {
            tracing::error!(query_id = %trace.query_id, %error, "the query is refused: its audit record could not be written");
            crate::traces::ended(
                &span,
                "audit_unavailable",
                Some("the audit trail cannot be written"),
            );
            // dropping the answer unread cancels the query
            drop(outcome);
            self.telemetry
                .refused(trace.protocol, "audit_unavailable", report);
            return Err(EngineError::AuditUnavailable(
                "the query was not run: the audit trail cannot be written now; try again later"
                    .into(),
            ));
        }
        let output = match outcome {
            Ok(output) => output,
            Err(error) => {
                self.telemetry.refused(trace.protocol, error.code(), report);
                let message = redact::redact(&error.public_message());
                crate::traces::ended(&span, error.code(), Some(&message));
                return Err(error);
            }
        };
        let end = End {
            span,
            telemetry: self.telemetry.clone(),
            protocol: trace.protocol.to_owned(),
            report,
            catalog: self.catalog.clone(),
            principal: caller.name().to_owned(),
            query_id: trace.query_id.to_owned(),
            started,
            writes: self.audit_writes.clone(),
        };
        Ok(QueryOutput {
            schema: output.schema.clone(),
            stream: Box::pin(Traced {
                cancelled: Box::pin(listed.cancel.clone().cancelled_owned()),
                _listed: listed,
                inner: output.stream,
                rows: 0,
                bytes: 0,
                end: Some(end),
            }),
        })
    }

    /// What a query read, for its audit record: each table it names that the caller may
    /// see, where its rows were read (`*` for everywhere, `-code` for a jurisdiction taken
    /// out) and which of its columns were masked somewhere in that.
    ///
    /// The tables are those the query's run found in it (`named`); a query refused before it
    /// was parsed there (overloaded, say) is parsed here for them.
    fn reads_of(
        &self,
        caller: &Caller,
        sql: &str,
        named: Option<&Option<BTreeSet<String>>>,
    ) -> Vec<serde_json::Value> {
        let named = match named {
            Some(named) => named.clone(),
            None => crate::statement::tables_named(sql),
        };
        let Some(tables) = named else {
            return Vec::new();
        };
        let registry = self.registry();
        let policy = self.policies.snapshot();
        tables
            .into_iter()
            .filter_map(|name| {
                let entry = registry.get(&name)?;
                if caller.is_admin() || name == tiaokuai_policies::JURISDICTIONS_TABLE {
                    return Some(json!({"table": name, "rows": ["*"], "masked": []}));
                }
                let sensitive = crate::permission::sensitive_columns(entry);
                let decision = policy.decide(caller, &name, &sensitive).ok()?;
                if !decision.visible() {
                    return None;
                }
                let masked: Vec<&str> = decision
                    .unmasked
                    .iter()
                    .filter(|(_, unmasked)| !decision.read.within(unmasked))
                    .map(|(column, _)| column.as_str())
                    .collect();
                Some(json!({"table": name, "rows": scope_text(&decision.read), "masked": masked}))
            })
            .collect()
    }

    /// Waits for the audit records of answers that have ended to be written.
    pub async fn flush_audit(&self) {
        self.audit_writes.close();
        self.audit_writes.wait().await;
        self.audit_writes.reopen();
    }
}

/// A scope as audit records and access receipts write it: allowed prefixes padded to
/// jurisdiction codes, excluded ones with `-` before them, `*` for everywhere.
pub fn scope_text(scope: &Scope) -> Vec<String> {
    scope
        .entries()
        .iter()
        .map(|(prefix, allowed)| {
            let code = if prefix.is_empty() {
                "*".to_owned()
            } else {
                format!("{prefix:0<12}")
            };
            if *allowed { code } else { format!("-{code}") }
        })
        .collect()
}

/// The statement's first keyword, e.g. `SELECT`, `WITH`, `EXPLAIN`.
fn statement_kind(sql: &str) -> String {
    let word: String = sql
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .take(16)
        .collect();
    if word.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        word.to_ascii_uppercase()
    }
}

/// Writes the `query.end` record.
struct End {
    /// The query's span, which ends here too.
    span: tracing::Span,
    telemetry: Arc<crate::telemetry::Telemetry>,
    protocol: String,
    report: bool,
    catalog: Arc<dyn Catalog>,
    principal: String,
    query_id: String,
    started: Instant,
    writes: tokio_util::task::TaskTracker,
}

impl End {
    fn record(mut self, rows: u64, bytes: u64, failure: Option<&DataFusionError>, cancelled: bool) {
        let outcome = match (failure, cancelled) {
            (Some(_), _) => "failed",
            (None, true) => "cancelled",
            (None, false) => "completed",
        };
        let elapsed = self.started.elapsed();
        self.telemetry.ended(&crate::telemetry::QueryEnd {
            protocol: &self.protocol,
            outcome,
            elapsed,
            rows,
            bytes,
            report: self.report,
        });
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let mut detail =
            json!({"outcome": outcome, "rows": rows, "bytes": bytes, "duration_ms": duration_ms});
        let mut failed = None;
        if let Some(error) = failure {
            let error = crate::error::classify(error);
            tracing::warn!(query_id = %self.query_id, code = error.code(), %error, rows, "the query failed after its answer began");
            let message = redact::redact(&error.public_message());
            detail["error"] = json!({ "code": error.code(), "message": message });
            failed = Some(message);
        } else if cancelled {
            tracing::info!(query_id = %self.query_id, rows, "the query was cancelled before its answer ended");
        }
        // the query's span ends with its answer, not with the write of its record
        let span = std::mem::replace(&mut self.span, tracing::Span::none());
        span.record("rows", rows);
        span.record("bytes", bytes);
        crate::traces::ended(&span, outcome, failed.as_deref());
        drop(span);
        // a stream may end where no runtime runs (dropped at shutdown): then only the log says
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(query_id = %self.query_id, outcome, "the query's end could not be recorded: no runtime");
            return;
        };
        let writes = self.writes.clone();
        writes.spawn_on(async move {
            if let Err(error) = self
                .catalog
                .record(&self.principal, "query.end", &self.query_id, detail)
                .await
            {
                tracing::warn!(query_id = %self.query_id, %error, "the query's end could not be recorded");
            }
        }, &runtime);
    }
}

/// A query's stream that records how it ended: at its last batch, at its first error, or when
/// it is dropped before either.
struct Traced {
    /// Resolves when the query is cancelled (`DELETE /v1/queries/{id}`).
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    _listed: crate::running::Listed,
    inner: SendableRecordBatchStream,
    rows: u64,
    /// The Arrow size of the batches returned.
    bytes: u64,
    end: Option<End>,
}

impl Stream for Traced {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            let Some(end) = self.end.take() else {
                return Poll::Ready(None);
            };
            end.record(self.rows, self.bytes, None, true);
            // an error, so that the answer reads as cut, never as complete
            let error = EngineError::Cancelled("the query was cancelled".into());
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows() as u64;
                self.bytes += batch.get_array_memory_size() as u64;
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(end) = self.end.take() {
                    end.record(self.rows, self.bytes, Some(error), false);
                }
            }
            Poll::Ready(None) => {
                if let Some(end) = self.end.take() {
                    end.record(self.rows, self.bytes, None, false);
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
            end.record(self.rows, self.bytes, None, true);
        }
    }
}
