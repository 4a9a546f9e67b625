//! `/metrics`: what the server has done and what it is doing, in Prometheus' text format.
//!
//! Queries are counted when they end (by protocol and outcome: `completed`, `failed`,
//! `cancelled`, or the code they were refused with), with their latency from start to end
//! and the rows and bytes they returned; report runs by outcome. Read at each scrape: the
//! queries running now, each database source's statement latency, errors and slots in use,
//! the policy decision cache's hits and misses, and the open and overdue tasks. Labels are
//! protocols, outcomes and source names only — never a principal, a table or a value.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use tiaokuai_connectors::stats::{BUCKETS, Histogram, HistogramSnapshot};
use tiaokuai_policies::{Action, Caller};

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// The policy object a monitoring principal's `audit` line names to read `/metrics`.
pub const METRICS_OBJECT: &str = "system.metrics";

/// Counts of what has ended.
#[derive(Debug, Default)]
pub struct Telemetry {
    state: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// (protocol, outcome) → queries.
    queries: BTreeMap<(String, String), u64>,
    /// protocol → latency of the queries that ran.
    latency: BTreeMap<String, Histogram>,
    /// protocol → rows, bytes.
    returned: BTreeMap<String, (u64, u64)>,
    /// outcome → report runs.
    report_runs: BTreeMap<String, u64>,
}

impl Telemetry {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A query refused before it ran, with the code it was refused with.
    pub fn refused(&self, protocol: &str, code: &str, report: bool) {
        let mut counts = self.counts();
        *counts
            .queries
            .entry((protocol.to_owned(), code.to_owned()))
            .or_default() += 1;
        if report {
            *counts.report_runs.entry(code.to_owned()).or_default() += 1;
        }
    }

    /// A query whose answer ended.
    pub fn ended(&self, end: &QueryEnd<'_>) {
        let mut counts = self.counts();
        *counts
            .queries
            .entry((end.protocol.to_owned(), end.outcome.to_owned()))
            .or_default() += 1;
        counts
            .latency
            .entry(end.protocol.to_owned())
            .or_default()
            .observe(end.elapsed);
        let returned = counts.returned.entry(end.protocol.to_owned()).or_default();
        returned.0 += end.rows;
        returned.1 += end.bytes;
        if end.report {
            *counts
                .report_runs
                .entry(end.outcome.to_owned())
                .or_default() += 1;
        }
    }
}

/// How one query's answer ended.
#[derive(Debug)]
pub struct QueryEnd<'a> {
    pub protocol: &'a str,
    pub outcome: &'a str,
    pub elapsed: Duration,
    pub rows: u64,
    pub bytes: u64,
    pub report: bool,
}

/// Prometheus label values: `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, snapshot: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, count) in BUCKETS.iter().zip(&snapshot.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
        snapshot.count()
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", snapshot.sum_seconds);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", snapshot.count());
}

impl Engine {
    /// The metrics text, for admin and for principals that may `audit` `system.metrics`
    /// everywhere (a monitoring system's principal).
    pub async fn metrics(&self, caller: &Caller) -> Result<String> {
        if !caller.is_admin() && !self.scope(caller, METRICS_OBJECT, Action::Audit)?.is_all() {
            return Err(EngineError::PermissionDenied(
                format!(
                    "{} may not read the metrics; it needs `audit` on {METRICS_OBJECT} everywhere",
                    caller.name()
                )
                .into(),
            ));
        }
        let mut out = String::new();
        {
            let counts = self.telemetry.counts();
            header(
                &mut out,
                "tiaokuai_queries_total",
                "counter",
                "Queries that ended, by protocol and outcome (completed, failed, cancelled, or the code a refusal carried).",
            );
            for ((protocol, outcome), n) in &counts.queries {
                let _ = writeln!(
                    out,
                    "tiaokuai_queries_total{{protocol=\"{}\",outcome=\"{}\"}} {n}",
                    label(protocol),
                    label(outcome)
                );
            }
            header(
                &mut out,
                "tiaokuai_query_duration_seconds",
                "histogram",
                "Time from a query's start to the end of its answer.",
            );
            for (protocol, latency) in &counts.latency {
                let labels = format!("protocol=\"{}\"", label(protocol));
                histogram(
                    &mut out,
                    "tiaokuai_query_duration_seconds",
                    &labels,
                    &latency.snapshot(),
                );
            }
            header(
                &mut out,
                "tiaokuai_rows_returned_total",
                "counter",
                "Rows the answers returned.",
            );
            for (protocol, (rows, _)) in &counts.returned {
                let _ = writeln!(
                    out,
                    "tiaokuai_rows_returned_total{{protocol=\"{}\"}} {rows}",
                    label(protocol)
                );
            }
            header(
                &mut out,
                "tiaokuai_bytes_returned_total",
                "counter",
                "Bytes (Arrow size) the answers returned.",
            );
            for (protocol, (_, bytes)) in &counts.returned {
                let _ = writeln!(
                    out,
                    "tiaokuai_bytes_returned_total{{protocol=\"{}\"}} {bytes}",
                    label(protocol)
                );
            }
            header(
                &mut out,
                "tiaokuai_report_runs_total",
                "counter",
                "Runs of saved reports, by outcome.",
            );
            for (outcome, n) in &counts.report_runs {
                let _ = writeln!(
                    out,
                    "tiaokuai_report_runs_total{{outcome=\"{}\"}} {n}",
                    label(outcome)
                );
            }
        }
        header(
            &mut out,
            "tiaokuai_queries_running",
            "gauge",
            "Queries admitted whose answers have not ended.",
        );
        let _ = writeln!(
            out,
            "tiaokuai_queries_running {}",
            self.admission.running_total()
        );
        header(
            &mut out,
            "tiaokuai_queries_queued",
            "gauge",
            "Queries waiting in their role group's queue.",
        );
        for (group, queued) in self.admission.queued() {
            let _ = writeln!(
                out,
                "tiaokuai_queries_queued{{group=\"{}\"}} {queued}",
                label(&group)
            );
        }

        let registry = self.registry();
        header(
            &mut out,
            "tiaokuai_source_statement_duration_seconds",
            "histogram",
            "Time a database source's statements took, start to last row or error.",
        );
        let sources: Vec<_> = registry.databases().collect();
        for source in &sources {
            let labels = format!("source=\"{}\"", label(source.name()));
            histogram(
                &mut out,
                "tiaokuai_source_statement_duration_seconds",
                &labels,
                &source.stats().latency.snapshot(),
            );
        }
        header(
            &mut out,
            "tiaokuai_source_errors_total",
            "counter",
            "Statements of a database source that failed.",
        );
        for source in &sources {
            let errors = source
                .stats()
                .errors
                .load(std::sync::atomic::Ordering::Relaxed);
            let _ = writeln!(
                out,
                "tiaokuai_source_errors_total{{source=\"{}\"}} {errors}",
                label(source.name())
            );
        }
        header(
            &mut out,
            "tiaokuai_source_slots_in_use",
            "gauge",
            "Statements a database source runs now.",
        );
        header(
            &mut out,
            "tiaokuai_source_slots",
            "gauge",
            "Statements a database source may run at once.",
        );
        for source in &sources {
            let name = label(source.name());
            let _ = writeln!(
                out,
                "tiaokuai_source_slots_in_use{{source=\"{name}\"}} {}",
                source.state().running
            );
            let _ = writeln!(
                out,
                "tiaokuai_source_slots{{source=\"{name}\"}} {}",
                source.max_concurrent()
            );
        }
        header(
            &mut out,
            "tiaokuai_source_up",
            "gauge",
            "1 if a database source's last statement succeeded (or none ran yet), 0 if it failed.",
        );
        for source in &sources {
            let up = u8::from(source.state().status != "unavailable");
            let _ = writeln!(
                out,
                "tiaokuai_source_up{{source=\"{}\"}} {up}",
                label(source.name())
            );
        }

        let (hits, misses) = self.policies.cache_hits_and_misses();
        header(
            &mut out,
            "tiaokuai_policy_cache_lookups_total",
            "counter",
            "Policy decisions looked up, answered from the cache (hit) or compiled (miss).",
        );
        let _ = writeln!(
            out,
            "tiaokuai_policy_cache_lookups_total{{result=\"hit\"}} {hits}"
        );
        let _ = writeln!(
            out,
            "tiaokuai_policy_cache_lookups_total{{result=\"miss\"}} {misses}"
        );

        let (open, overdue) = self.catalog.task_counts().await?;
        header(
            &mut out,
            "tiaokuai_tasks_open",
            "gauge",
            "Dispatch tasks not yet verified.",
        );
        let _ = writeln!(out, "tiaokuai_tasks_open {open}");
        header(
            &mut out,
            "tiaokuai_tasks_overdue",
            "gauge",
            "Open tasks past the deadline of the step they wait for.",
        );
        let _ = writeln!(out, "tiaokuai_tasks_overdue {overdue}");
        Ok(out)
    }
}
