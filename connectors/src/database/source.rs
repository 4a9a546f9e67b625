//! One registered database: its connection pool (opened on first use, one per source, shared
//! by all its tables), a cap on the queries it runs at once (and each principal's share of
//! it), the time limits, and how its last statement went. Opening is [`super::open`]'s,
//! reading a table's columns [`super::table_schema`]'s, running a statement
//! [`super::statement`]'s.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tokio::sync::{OnceCell, Semaphore};

use super::name::RemoteName;
use super::open::{self, Backend};
use super::spec::{DatabaseKind, DatabaseSpec};
use super::statement;
use super::table_schema::{self, RemoteSchema};
use super::types::conform;
use crate::error::ConnectorError;

/// A database source. Cheap to create: nothing connects until the first query.
pub struct DatabaseSource {
    spec: DatabaseSpec,
    backend: OnceCell<Backend>,
    permits: Arc<Semaphore>,
    /// Each principal's share of the permits, made on its first statement.
    shares: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    state: std::sync::Mutex<SourceState>,
    stats: SourceStats,
}

/// What the source's statements have cost since it was opened, for `/metrics`.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// From the statement's start to its last row or its error.
    pub latency: crate::stats::Histogram,
    pub errors: std::sync::atomic::AtomicU64,
}

/// Who a statement runs for (the principal), as the engine puts it in a session's config.
/// A source gives one principal at most half its slots (at least one), so that one caller —
/// say one that opened answers it does not read — cannot take a whole source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester(pub String);

/// The query a statement runs for, as the engine puts it in a session's config once the
/// query is planned: each statement becomes a span under `span` (its `execute`), with the
/// query's id, so a trace follows one query into every source it reads.
#[derive(Debug, Clone)]
pub struct QuerySpan {
    pub query_id: String,
    pub span: tracing::Span,
}

/// How the source's last statement went, for `GET /v1/sources/{id}`.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SourceState {
    /// `unknown` (nothing ran yet), `ok` or `unavailable`.
    #[schema(value_type = String, schema_with = state_status_schema)]
    pub status: &'static str,
    /// RFC 3339 time of the last statement's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Statements running now.
    pub running: usize,
}

fn state_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["unknown", "ok", "unavailable"]))
        .build()
}

impl fmt::Debug for DatabaseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSource")
            .field("name", &self.spec.name)
            .field("kind", &self.spec.kind)
            .finish()
    }
}

impl DatabaseSource {
    pub fn new(spec: DatabaseSpec) -> Self {
        let permits = Arc::new(Semaphore::new(spec.limits.max_concurrent_queries));
        Self {
            spec,
            backend: OnceCell::new(),
            permits,
            shares: std::sync::Mutex::default(),
            state: std::sync::Mutex::new(SourceState {
                status: "unknown",
                ..SourceState::default()
            }),
            stats: SourceStats::default(),
        }
    }

    /// What the source's statements have cost so far.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// The most statements that run at once.
    pub fn max_concurrent(&self) -> usize {
        self.spec.limits.max_concurrent_queries
    }

    /// How the last statement went and how many run now.
    pub fn state(&self) -> SourceState {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        state.running = self.spec.limits.max_concurrent_queries - self.permits.available_permits();
        state
    }

    fn record(&self, outcome: Result<(), &DataFusionError>, started: Instant) {
        self.stats.latency.observe(started.elapsed());
        if outcome.is_err() {
            self.stats
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        match outcome {
            Ok(()) => {
                state.status = "ok";
                state.message = None;
            }
            Err(error) => {
                state.status = "unavailable";
                state.message = Some(self.message_of(error));
            }
        }
    }

    /// What a failed statement's error says, without the source's secrets.
    fn message_of(&self, error: &DataFusionError) -> String {
        let message = match error {
            DataFusionError::External(inner) => inner.to_string(),
            other => other.to_string(),
        };
        self.spec.redact(&message)
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// How many of this source's slots one principal may hold at once.
    pub fn share(&self) -> usize {
        (self.spec.limits.max_concurrent_queries / 2).max(1)
    }

    /// The principal's share of the slots; shares nobody holds are dropped on the way.
    fn share_of(&self, requester: &Requester) -> Arc<Semaphore> {
        let share = self.share();
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        shares.retain(|principal, permits| {
            principal == &requester.0
                || Arc::strong_count(permits) > 1
                || permits.available_permits() < share
        });
        shares
            .entry(requester.0.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(share)))
            .clone()
    }

    pub fn kind(&self) -> DatabaseKind {
        self.spec.kind
    }

    fn unavailable(&self, message: impl fmt::Display) -> ConnectorError {
        self.spec.unavailable(message)
    }

    /// The source opened, on its first use, within the connect time limit.
    async fn backend(&self) -> Result<&Backend, ConnectorError> {
        let limit = self.spec.limits.connect_timeout;
        let opened = tokio::time::timeout(
            limit,
            self.backend.get_or_try_init(|| open::open(&self.spec)),
        );
        match opened.await {
            Ok(result) => result,
            Err(_) => Err(self.unavailable(format!("it did not answer within {limit:?}"))),
        }
    }

    /// Connects and reads a table's columns. Columns of types tiaokuai cannot map are left out
    /// and listed.
    pub async fn table_schema(&self, remote: &str) -> Result<RemoteSchema, ConnectorError> {
        let started = Instant::now();
        let reference = RemoteName::parse(self.spec.kind, remote)?;
        let limit = self.spec.limits.connect_timeout + self.spec.limits.query_timeout;
        let work = async {
            let backend = self.backend().await?;
            table_schema::read(&self.spec, backend, &reference, remote).await
        };
        let found = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| self.unavailable(format!("it did not answer within {limit:?}")))??;
        tracing::debug!(source = %self.spec.name, table = remote, elapsed = ?started.elapsed(), "read a table's schema");
        Ok(found)
    }

    async fn open_stream(
        &self,
        statement: String,
        schema: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream, ConnectorError> {
        statement::run(&self.spec, self.backend().await?, statement, schema).await
    }

    /// Runs a statement and streams its rows cast to `schema`. The query waits for one of the
    /// source's permits and holds it until its last row (or until its stream is dropped); a
    /// statement run for a principal first waits for a place in that principal's share. The
    /// whole of it, waiting included, is bounded by the source's query time limit. Run for a
    /// traced query (`parent`), the statement is a `source query` span of it, from its start
    /// to its last row, with the rows it returned and, if it failed, why; the span carries
    /// neither the statement nor its values.
    pub fn query(
        self: &Arc<Self>,
        statement: String,
        schema: SchemaRef,
        requester: Option<&Requester>,
        parent: Option<&QuerySpan>,
    ) -> SendableRecordBatchStream {
        let span = parent.map_or_else(tracing::Span::none, |parent| {
            tracing::info_span!(
                parent: &parent.span,
                "source query",
                otel.name = %format!("{} {}", self.spec.kind.name(), self.spec.name),
                otel.kind = "client",
                query_id = %parent.query_id,
                source = %self.spec.name,
                db.system.name = self.spec.kind.name(),
                db.response.returned_rows = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                otel.status_message = tracing::field::Empty,
            )
        });
        let source = Arc::clone(self);
        let expected = schema.clone();
        let limit = self.spec.limits.query_timeout;
        let recorder = Arc::clone(self);
        let share = requester.map(|r| self.share_of(r));
        let stream = async_stream::stream! {
            let deadline = tokio::time::Instant::now() + limit;
            let timed_out = || -> DataFusionError {
                source.unavailable(format!("the query did not finish within {limit:?}")).into()
            };
            // a principal's own queries queue behind each other, not in front of everyone's
            let held_share = match share {
                Some(share) => match tokio::time::timeout_at(deadline, share.acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    Ok(Err(_)) => { yield Err(source.unavailable("the source is closing").into()); return; }
                    Err(_) => { yield Err(timed_out()); return; }
                },
                None => None,
            };
            let permit = match tokio::time::timeout_at(deadline, source.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => { yield Err(source.unavailable("the source is closing").into()); return; }
                Err(_) => { yield Err(timed_out()); return; }
            };
            let opened = tokio::time::timeout_at(deadline, source.open_stream(statement, Some(expected.clone()))).await;
            let mut rows = match opened {
                Ok(Ok(rows)) => rows,
                Ok(Err(error)) => { yield Err(error.into()); return; }
                Err(_) => { yield Err(timed_out()); return; }
            };
            loop {
                match tokio::time::timeout_at(deadline, rows.next()).await {
                    Ok(Some(Ok(batch))) => {
                        match conform(&batch, &expected) {
                            Ok(batch) => yield Ok(batch),
                            Err(message) => { yield Err(source.unavailable(message).into()); return; }
                        }
                    }
                    Ok(Some(Err(error))) => { yield Err(source.unavailable(error).into()); return; }
                    Ok(None) => break,
                    Err(_) => { yield Err(timed_out()); return; }
                }
            }
            drop(permit);
            drop(held_share);
        };
        // the source's state (and the statement's span) follows the outcome of each statement;
        // the span has one owner, so it ends at the statement's error or last row
        let started = Instant::now();
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let span = Arc::new(std::sync::Mutex::new(Some(span)));
        let take = |span: &std::sync::Mutex<Option<tracing::Span>>| {
            span.lock().unwrap_or_else(|p| p.into_inner()).take()
        };
        let (seen, counted, traced) = (Arc::clone(&failed), Arc::clone(&rows), Arc::clone(&span));
        let stream = stream.map(move |item: Result<RecordBatch, DataFusionError>| {
            match &item {
                Ok(batch) => {
                    counted.fetch_add(
                        batch.num_rows() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                Err(error) => {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    recorder.record(Err(error), started);
                    if let Some(span) = take(&traced) {
                        span.record("otel.status_code", "ERROR");
                        span.record("otel.status_message", recorder.message_of(error).as_str());
                    }
                }
            }
            item
        });
        let recorder = Arc::clone(self);
        let stream = stream.chain(futures::stream::poll_fn(move |_| {
            if !failed.load(std::sync::atomic::Ordering::Relaxed) {
                recorder.record(Ok(()), started);
            }
            if let Some(span) = take(&span) {
                span.record("otel.status_code", "OK");
                span.record(
                    "db.response.returned_rows",
                    rows.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
            std::task::Poll::Ready(None)
        }));
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }

    /// Connects and runs a trivial statement: whether the source answers, and how fast.
    pub async fn ping(self: &Arc<Self>) -> Result<Duration, ConnectorError> {
        let started = Instant::now();
        let schema = Arc::new(Schema::new(vec![Field::new("one", DataType::Int64, true)]));
        let mut rows = self.query("SELECT 1".to_owned(), schema, None, None);
        while let Some(batch) = rows.next().await {
            batch.map_err(|e| self.unavailable(e))?;
        }
        Ok(started.elapsed())
    }
}
