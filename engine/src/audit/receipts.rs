//! Access receipts: the audit trail as each caller may see it (`GET /v1/audit`,
//! `system.access_log`).
//!
//! - `admin` sees every record.
//! - An auditor (the `audit` action on `system.access_log`) sees, inside the jurisdictions it audits, every
//!   query that read rows there or was asked by a principal holding a role there; one who
//!   audits everywhere also sees the changes to the catalog.
//! - Everyone else sees the receipts of their own data: each query, by anyone, that read rows
//!   of a table where the caller itself may read it — who read their village's data, when, by
//!   which protocol, for which report — and their own queries. A receipt of someone else's
//!   query names the tables and scopes that concern the caller only, and leaves out the SQL
//!   text, the client address and the reason (which could quote values of other places); the
//!   SQL hash still tells two queries apart.
//!
//! A query's end (`query.end`: rows, bytes, duration, final outcome) is folded into its record.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use tiaokuai_catalog::{AuditEvent, Catalog, JurisdictionCode};
use tiaokuai_policies::{Action, Caller, PolicySnapshot, Scope};
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Message, Result};
use crate::registry::TableRegistry;

/// The policy object an auditor's `audit` lines name (or `*`, or `system.*`).
pub const AUDIT_OBJECT: &str = super::access_log::ACCESS_LOG_TABLE;
/// Records one request may list at most.
pub const MAX_LIMIT: usize = 1000;
/// Records one request reads at most while looking for ones the caller may see; past them
/// the page ends early and says where to go on.
const MAX_SCANNED: usize = 20_000;
const SCAN_PAGE: usize = 500;

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub principal: Option<String>,
    /// Only queries that read this table.
    pub table: Option<String>,
    /// `query`, or an action such as `source.create`.
    pub action: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only records numbered before this one: the paging cursor.
    pub before: Option<i64>,
    pub limit: usize,
}

/// One audit record as the caller may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// The record's number in the chain; page on with `before`.
    pub seq: i64,
    pub at: String,
    pub principal: String,
    pub action: String,
    /// The query id, or what the change was made to.
    pub target: String,
    /// What the record says (for a query: protocol, client, statement, sql, sql_hash, tables
    /// with their row scopes and masked columns, policy_version, outcome, reason, report).
    #[schema(value_type = Object)]
    pub detail: Value,
    /// How a query's answer ended: outcome, rows, bytes, duration_ms.
    #[schema(value_type = Option<Object>)]
    pub end: Option<Value>,
}

/// A page of records, newest first, and where the next page starts.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for older records; `None` when there are none.
    pub next_before: Option<i64>,
}

/// How much of the trail a caller may see.
enum Viewer {
    Everything,
    Auditor(Scope),
    Owner,
}

/// A scope as audit records write it (see [`super::scope_text`]).
fn parse_scope(texts: &Value) -> Scope {
    let entries = texts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|text| {
            let (code, allowed) = match text.strip_prefix('-') {
                Some(code) => (code, false),
                None => (text, true),
            };
            if code == "*" {
                return Some((String::new(), allowed));
            }
            let code = JurisdictionCode::parse(code).ok()?;
            Some((code.scope_prefix().to_owned(), allowed))
        });
    Scope::from_decisions(entries)
}

/// The jurisdiction of a `role@jurisdiction` text, as a scope.
fn role_scope(text: &str) -> Scope {
    match text.rsplit_once('@') {
        Some((_, "*")) => Scope::all(),
        Some((_, code)) => parse_scope(&serde_json::json!([code])),
        None => Scope::none(),
    }
}

impl Engine {
    /// The audit records `caller` may see, newest first, that match `filter`.
    pub async fn audit(&self, caller: &Caller, filter: AuditFilter) -> Result<AuditPage> {
        let registry = self.registry();
        let policy = self.policies.snapshot();
        let receipts = Receipts {
            catalog: &*self.catalog,
            registry: &registry,
            policy: &policy,
        };
        receipts.page(caller, filter).await
    }
}

/// What choosing a caller's receipts reads: the trail, and the tables and policy the query
/// asking for them started with.
pub(crate) struct Receipts<'a> {
    pub catalog: &'a dyn Catalog,
    pub registry: &'a TableRegistry,
    pub policy: &'a PolicySnapshot,
}

impl Receipts<'_> {
    /// The audit records `caller` may see, newest first, that match `filter`.
    pub async fn page(&self, caller: &Caller, filter: AuditFilter) -> Result<AuditPage> {
        let viewer = self.viewer(caller)?;
        let limit = filter.limit.clamp(1, MAX_LIMIT);
        let mut entries = Vec::new();
        let mut before = filter.before;
        let mut scanned = 0;
        let next_before = loop {
            let page = self
                .catalog
                .audit_page(before, SCAN_PAGE, &["query.end"])
                .await?;
            let exhausted = page.len() < SCAN_PAGE;
            for event in page {
                scanned += 1;
                before = Some(event.id);
                if filter.since.as_ref().is_some_and(|since| event.at < *since) {
                    return self.with_ends(entries, None).await;
                }
                if let Some(entry) = self.receipt(caller, &viewer, &filter, event) {
                    entries.push(entry);
                    if entries.len() == limit {
                        break;
                    }
                }
            }
            if entries.len() == limit || scanned >= MAX_SCANNED {
                break before.filter(|seq| *seq > 1);
            }
            if exhausted {
                break None;
            }
        };
        self.with_ends(entries, next_before).await
    }

    fn viewer(&self, caller: &Caller) -> Result<Viewer> {
        if caller.is_admin() {
            return Ok(Viewer::Everything);
        }
        let scope = self
            .policy
            .scope_of(caller, AUDIT_OBJECT, Action::Audit)
            .map_err(|e| EngineError::Internal(Message::caused_by("a policy check failed", e)))?;
        Ok(if scope.is_empty() {
            Viewer::Owner
        } else {
            Viewer::Auditor(scope)
        })
    }

    /// The record as `caller` may see it, if it may and the record matches `filter`.
    fn receipt(
        &self,
        caller: &Caller,
        viewer: &Viewer,
        filter: &AuditFilter,
        event: AuditEvent,
    ) -> Option<AuditEntry> {
        if filter
            .principal
            .as_ref()
            .is_some_and(|p| *p != event.principal)
            || filter.action.as_ref().is_some_and(|a| *a != event.action)
        {
            return None;
        }
        let tables: Vec<Value> = event.detail["tables"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(table) = &filter.table
            && !tables.iter().any(|t| t["table"] == table.as_str())
        {
            return None;
        }
        let own = event.principal == caller.name();
        // a change recorded without detail lists an empty one
        let mut detail = match event.detail {
            Value::Null => Value::Object(serde_json::Map::new()),
            detail => detail,
        };
        match viewer {
            Viewer::Everything => {}
            Viewer::Auditor(scope) => {
                let read_there = tables
                    .iter()
                    .any(|t| parse_scope(&t["rows"]).overlaps(scope));
                let held_there = detail["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|role| role_scope(role).overlaps(scope));
                let everywhere = scope.is_all();
                if !(own || read_there || held_there || everywhere) {
                    return None;
                }
            }
            Viewer::Owner => {
                if event.action != "query" && !own {
                    return None;
                }
                if !own {
                    let mine: Vec<Value> = tables
                        .into_iter()
                        .filter(|t| {
                            let Some(name) = t["table"].as_str() else {
                                return false;
                            };
                            let Some(entry) = self.registry.get(name) else {
                                return false;
                            };
                            let sensitive = crate::permission::sensitive_columns(entry);
                            self.policy
                                .decide(caller, name, &sensitive)
                                .is_ok_and(|d| d.read.overlaps(&parse_scope(&t["rows"])))
                        })
                        .collect();
                    if mine.is_empty() {
                        return None;
                    }
                    detail["tables"] = Value::Array(mine);
                    if let Some(fields) = detail.as_object_mut() {
                        for private in ["sql", "client", "reason", "within"] {
                            fields.remove(private);
                        }
                    }
                }
            }
        }
        Some(AuditEntry {
            seq: event.id,
            at: event.at,
            principal: event.principal,
            action: event.action,
            target: event.target,
            detail,
            end: None,
        })
    }

    /// Folds each query's end into its entry.
    async fn with_ends(
        &self,
        mut entries: Vec<AuditEntry>,
        next_before: Option<i64>,
    ) -> Result<AuditPage> {
        let queries: Vec<String> = entries
            .iter()
            .filter(|e| e.action == "query")
            .map(|e| e.target.clone())
            .collect();
        if !queries.is_empty() {
            let ends: HashMap<(String, String), Value> = self
                .catalog
                .audit_events_of("query.end", &queries)
                .await?
                .into_iter()
                .map(|end| ((end.target, end.principal), end.detail))
                .collect();
            for entry in entries.iter_mut().filter(|e| e.action == "query") {
                let key = (entry.target.clone(), entry.principal.clone());
                entry.end = ends.get(&key).cloned();
            }
        }
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
}
