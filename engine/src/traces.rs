//! The spans of a query, which an OpenTelemetry layer turns into a trace:
//!
//! ```text
//! request (the server's)
//! └── query                 admission to the answer's end: outcome, rows, bytes
//!     ├── plan              parse, check, plan
//!     └── execute           start to the last batch
//!         └── source query  each statement a database source runs for the query
//! ```
//!
//! A span ends when its last handle and its last child are gone: `query` and `execute` are
//! never entered (OpenTelemetry would end them when last left), so they end with the answer.
//! Each carries the query's id (`query_id`, the `X-Query-Id` its caller is told). None carries
//! SQL text, a parameter or a value read: the audit trail is where a query's SQL is kept, with
//! its personal data taken out.

use std::sync::Arc;

use datafusion::execution::session_state::SessionState;
use tiaokuai_connectors::database::QuerySpan;
use tracing::Span;

/// The spans of one query, under its `query` span.
#[derive(Debug)]
pub(crate) struct QuerySpans {
    query_id: Option<String>,
    parent: Span,
}

impl QuerySpans {
    /// The spans of a query with an id, under its span; a query without one is not traced.
    pub(crate) fn new(query: Option<(&str, &Span)>) -> Self {
        match query {
            Some((query_id, parent)) => Self {
                query_id: Some(query_id.to_owned()),
                parent: parent.clone(),
            },
            None => Self {
                query_id: None,
                parent: Span::none(),
            },
        }
    }

    /// The query's parsing, checks and planning.
    pub(crate) fn plan(&self) -> Span {
        match &self.query_id {
            Some(id) => tracing::info_span!(parent: &self.parent, "plan", query_id = %id),
            None => Span::none(),
        }
    }

    /// The query's execution, until its answer ends; the database sources the query reads
    /// find it in the session's config and make their statements its children.
    pub(crate) fn execute(self, state: &mut SessionState) -> Span {
        let Some(query_id) = self.query_id else {
            return Span::none();
        };
        let span = tracing::info_span!(parent: &self.parent, "execute", query_id = %query_id);
        state.config_mut().set_extension(Arc::new(QuerySpan {
            query_id,
            span: span.clone(),
        }));
        span
    }
}

/// The span of a whole query, from its admission to the end of its answer; its outcome and
/// size are recorded when the answer ends.
pub(crate) fn query_span(query_id: &str, principal: &str, protocol: &str) -> Span {
    tracing::info_span!(
        "query",
        query_id = %query_id,
        principal = %principal,
        protocol = %protocol,
        outcome = tracing::field::Empty,
        rows = tracing::field::Empty,
        bytes = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
    )
}

/// Records how a query ended on its span: `completed`, `cancelled`, `failed` or the code of
/// the error that refused it.
pub(crate) fn ended(span: &Span, outcome: &str, failure: Option<&str>) {
    span.record("outcome", outcome);
    match failure {
        Some(message) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_message", message);
        }
        None => {
            span.record("otel.status_code", "OK");
        }
    }
}
