//! Dispatch tasks (调度任务): work sent to the jurisdiction that must act, held to the county's
//! response rule.
//!
//! Who may do what follows the policy model:
//! - `dispatch` on `tasks.<category>` in the assignee's jurisdiction creates a task there, and
//!   verifies or returns its resolution;
//! - a principal holding a role in the assignee's jurisdiction or above it (its township, the
//!   county) accepts and resolves it;
//! - a task is shown to those, and to the principal who created it; to anyone else it does not
//!   exist.
//!
//! A task not accepted by its accept deadline is escalated one level up the tree and turns
//! yellow; still not accepted at its red time, it is escalated once more and turns red. Each
//! escalation is made once, whatever restarts or second sweeps happen meanwhile: the catalog
//! makes it only from the level below.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::json::WriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tiaokuai_catalog::{
    Catalog, JurisdictionCode, NewTask, Supervision, TaskClocks, TaskEscalation, TaskEvent,
    TaskOrigin, TaskRecord, TaskStatus, TaskTransition, Urgency, token,
};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::params::Bindings;
use tiaokuai_engine::{Caller, Engine, EngineError, Message, Result};
use tiaokuai_policies::{Action, Scope};
use utoipa::ToSchema;

use crate::clock::{self, Clock, stamp};
use crate::webhooks::{Notifier, holds_role_over};

/// The most tasks one request creates.
pub const MAX_TASKS_PER_REQUEST: usize = 1000;

/// How often due escalations are looked for (sooner when the clock jumps).
pub const ESCALATION_PERIOD: std::time::Duration = std::time::Duration::from_secs(15);

const MAX_TITLE_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 4000;
/// No clock runs longer than a year.
const MAX_CLOCK_MINUTES: u32 = 366 * 24 * 60;

fn general() -> String {
    "general".into()
}

fn jurisdiction_code() -> String {
    "jurisdiction_code".into()
}

/// `POST /v1/tasks`: one task, written by hand.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "核实霞山村独居老人走访情况",
    "detail": "本月走访记录缺失，请于今日内补访并上传记录",
    "category": "visit",
    "jurisdiction": "330824116224",
    "urgency": "urgent"
}))]
pub struct TaskRequest {
    pub title: String,
    #[serde(default)]
    pub detail: String,
    /// A lowercase identifier; policy lines name the task `tasks.<category>`.
    #[serde(default = "general")]
    pub category: String,
    /// The jurisdiction that must act.
    #[schema(value_type = JurisdictionCode)]
    pub jurisdiction: String,
    /// The line department expected to act, if one is.
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub urgency: Urgency,
    /// The time limits; each one left out takes its default (accept in 30 minutes).
    #[serde(default)]
    pub clocks: Option<TaskClocks>,
}

/// `POST /v1/tasks/from-query`: one task for each row of a query's result, assigned to the
/// jurisdiction in the row.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "sql": "SELECT jurisdiction_code, count(*) AS alone FROM village.residents WHERE living_alone GROUP BY jurisdiction_code HAVING count(*) >= $1",
    "params": [30],
    "title": "走访本村 {alone} 位独居老人",
    "category": "visit"
}))]
pub struct TasksFromQuery {
    /// One query, run as the caller.
    pub sql: String,
    /// Values bound to `$1`, `$2`, …
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<Value>,
    /// The column that holds each row's 12-digit division code.
    #[serde(default = "jurisdiction_code")]
    pub jurisdiction_column: String,
    /// The title; `{column}` is replaced by the row's value.
    pub title: String,
    /// The detail; `{column}` is replaced by the row's value.
    #[serde(default)]
    pub detail: String,
    #[serde(default = "general")]
    pub category: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub clocks: Option<TaskClocks>,
}

/// `POST /v1/tasks/{id}/accept|resolve|verify`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskNote {
    /// What the history records with the change.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/tasks/{id}/return`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Why the resolution is not accepted: the assignee is told.
    pub reason: String,
}

/// A change asked of a task.
#[derive(Debug, Clone)]
pub enum TaskAction {
    Accept(TaskNote),
    Resolve(TaskNote),
    Verify(TaskNote),
    Return(ReturnRequest),
}

impl TaskAction {
    fn verb(&self) -> &'static str {
        match self {
            TaskAction::Accept(_) => "accept",
            TaskAction::Resolve(_) => "resolve",
            TaskAction::Verify(_) => "verify",
            TaskAction::Return(_) => "return",
        }
    }
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    /// Tasks assigned inside this jurisdiction.
    pub jurisdiction: Option<JurisdictionCode>,
    /// Only tasks with a clock running late.
    pub overdue: bool,
}

/// A task with its history.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: TaskRecord,
    /// Every change, oldest first.
    pub history: Vec<TaskEvent>,
}

/// The tasks service.
#[derive(Debug)]
pub struct Tasks {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    notifier: Option<Arc<Notifier>>,
}

fn bad(text: String) -> EngineError {
    EngineError::BadRequest(text.into())
}

fn identifier(what: &str, text: &str) -> Result<()> {
    let mut chars = text.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first && rest && text.len() <= 40 {
        return Ok(());
    }
    Err(bad(format!(
        "{what}: a lowercase identifier of at most 40 characters, not {text:?}"
    )))
}

fn text(what: &str, value: &str, most: usize) -> Result<()> {
    if value.chars().count() > most {
        return Err(bad(format!("{what}: at most {most} characters")));
    }
    Ok(())
}

/// Checks what every new task says, whichever way it is created.
pub(crate) fn check_fields(
    title: &str,
    detail: &str,
    category: &str,
    department: Option<&str>,
    clocks: &TaskClocks,
) -> Result<()> {
    if title.trim().is_empty() {
        return Err(bad("title: a task needs a title".into()));
    }
    text("title", title, MAX_TITLE_CHARS)?;
    text("detail", detail, MAX_TEXT_CHARS)?;
    identifier("category", category)?;
    if let Some(department) = department {
        identifier("department", department)?;
    }
    let minutes = [
        ("accept_minutes", clocks.accept_minutes),
        ("red_after_minutes", clocks.red_after_minutes),
        ("handle_minutes", clocks.handle_minutes),
        ("verify_minutes", clocks.verify_minutes),
    ];
    for (name, value) in minutes {
        if !(1..=MAX_CLOCK_MINUTES).contains(&value) {
            return Err(bad(format!(
                "clocks.{name}: from 1 to {MAX_CLOCK_MINUTES} minutes, not {value}"
            )));
        }
    }
    Ok(())
}

fn after(time: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    time + chrono::Duration::minutes(i64::from(minutes))
}

/// `template` with every `{column}` replaced by the row's value.
pub(crate) fn render(what: &str, template: &str, row: &Map<String, Value>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after_open = &rest[open + 1..];
        let name = after_open
            .find('}')
            .map(|close| &after_open[..close])
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
            });
        match name {
            Some(name) => {
                match row.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None if row.contains_key(name) => {}
                    Some(other) => out.push_str(&other.to_string()),
                    None => {
                        return Err(bad(format!(
                            "{what}: {{{name}}} names no column of the query's result"
                        )));
                    }
                }
                rest = &after_open[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after_open;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Tasks {
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>) -> Self {
        Self {
            engine,
            clock,
            notifier: None,
        }
    }

    /// The same service, telling `notifier` of what it dispatches and escalates.
    pub fn notifying(self, notifier: Arc<Notifier>) -> Self {
        Self {
            notifier: Some(notifier),
            ..self
        }
    }

    /// Tells the webhooks of tasks just dispatched.
    pub(crate) async fn tell_dispatched(&self, tasks: &[TaskRecord]) {
        if let Some(notifier) = &self.notifier {
            notifier.dispatched(tasks).await;
        }
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.engine.catalog()
    }

    /// The time the service keeps.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn may_dispatch(
        &self,
        caller: &Caller,
        category: &str,
        jurisdiction: &JurisdictionCode,
    ) -> Result<bool> {
        Ok(self
            .dispatch_scope(caller, category)?
            .allows(jurisdiction.as_str()))
    }

    /// Where the caller may dispatch tasks of `category`: decided once for many places.
    pub(crate) fn dispatch_scope(&self, caller: &Caller, category: &str) -> Result<Scope> {
        self.engine
            .scope(caller, &format!("tasks.{category}"), Action::Dispatch)
    }

    /// Whether the caller holds a role in the task's jurisdiction or above it.
    fn in_line(caller: &Caller, task: &TaskRecord) -> bool {
        holds_role_over(caller, &task.jurisdiction)
    }

    fn visible(&self, caller: &Caller, task: &TaskRecord) -> Result<bool> {
        Ok(Self::in_line(caller, task)
            || task.created_by == caller.name()
            || self.may_dispatch(caller, &task.category, &task.jurisdiction)?)
    }

    /// The clocks of a task running late at `now`.
    fn overdue(task: &mut TaskRecord, now: &str) {
        let late = |due: Option<&String>| due.is_some_and(|due| due.as_str() < now);
        let clock = match task.status {
            TaskStatus::Dispatched => late(Some(&task.accept_due_at)).then_some("accept"),
            TaskStatus::Accepted | TaskStatus::Returned => {
                late(task.handle_due_at.as_ref()).then_some("handle")
            }
            TaskStatus::Resolved => late(task.verify_due_at.as_ref()).then_some("verify"),
            TaskStatus::Verified => None,
        };
        task.overdue = clock.into_iter().map(str::to_owned).collect();
    }

    fn shown(&self, mut task: TaskRecord) -> TaskRecord {
        Self::overdue(&mut task, &stamp(self.clock.now()));
        task
    }

    /// A new task for `jurisdiction`, dispatched now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_task(
        &self,
        caller: &Caller,
        title: String,
        detail: String,
        category: &str,
        jurisdiction: JurisdictionCode,
        department: Option<String>,
        urgency: Urgency,
        clocks: TaskClocks,
        origin: (TaskOrigin, Option<String>, Option<Map<String, Value>>),
    ) -> NewTask {
        let now = self.clock.now();
        let accept_due = after(now, clocks.accept_minutes);
        let (origin, run_id, row) = origin;
        NewTask {
            id: token::new_id("task"),
            title,
            detail,
            category: category.to_owned(),
            jurisdiction,
            department,
            urgency,
            clocks,
            origin,
            run_id,
            row,
            origin_key: None,
            created_by: caller.name().to_owned(),
            created_at: stamp(now),
            accept_due_at: stamp(accept_due),
            red_at: stamp(after(accept_due, clocks.red_after_minutes)),
        }
    }

    async fn assignee(&self, text: &str) -> Result<JurisdictionCode> {
        let code = JurisdictionCode::parse(text).map_err(|e| bad(format!("jurisdiction: {e}")))?;
        if !self.catalog().has_jurisdiction(&code).await? {
            return Err(bad(format!(
                "jurisdiction: {code} is not in the jurisdiction tree"
            )));
        }
        Ok(code)
    }

    pub(crate) fn refuse_dispatch(
        caller: &Caller,
        category: &str,
        code: &JurisdictionCode,
    ) -> EngineError {
        EngineError::PermissionDenied(
            format!(
                "{} may not dispatch tasks.{category} to {code}",
                caller.name()
            )
            .into(),
        )
    }

    /// Dispatches one task written by hand.
    pub async fn create(&self, caller: &Caller, request: TaskRequest) -> Result<TaskRecord> {
        let clocks = request.clocks.unwrap_or_default();
        check_fields(
            &request.title,
            &request.detail,
            &request.category,
            request.department.as_deref(),
            &clocks,
        )?;
        let code = self.assignee(&request.jurisdiction).await?;
        if !self.may_dispatch(caller, &request.category, &code)? {
            return Err(Self::refuse_dispatch(caller, &request.category, &code));
        }
        let task = self.new_task(
            caller,
            request.title,
            request.detail,
            &request.category,
            code,
            request.department,
            request.urgency,
            clocks,
            (TaskOrigin::Manual, None, None),
        );
        let stored = self.catalog().insert_tasks(vec![task]).await?;
        let task = stored
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::Internal("a task just stored is gone".into()))?;
        tracing::info!(task = %task.id, jurisdiction = %task.jurisdiction, "task dispatched");
        self.tell_dispatched(std::slice::from_ref(&task)).await;
        Ok(self.shown(task))
    }

    /// Runs a query as the caller and dispatches one task for each row of its result, to the
    /// row's jurisdiction: all of them, or none if any row cannot be dispatched.
    pub async fn create_from_query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        request: TasksFromQuery,
    ) -> Result<Vec<TaskRecord>> {
        let clocks = request.clocks.unwrap_or_default();
        check_fields(
            &request.title,
            &request.detail,
            &request.category,
            request.department.as_deref(),
            &clocks,
        )?;
        let context = json!({"purpose": "tasks"});
        let bindings = Bindings::Positional(request.params.clone());
        let output = self
            .engine
            .audited_query_bound(caller, trace, &request.sql, bindings, context)
            .await?;
        let rows = collect_rows(output, MAX_TASKS_PER_REQUEST).await?;
        let tree: BTreeSet<String> = self
            .catalog()
            .jurisdictions()
            .await?
            .into_iter()
            .map(|j| j.code.as_str().to_owned())
            .collect();
        let column = &request.jurisdiction_column;
        let dispatches = self.dispatch_scope(caller, &request.category)?;
        let mut tasks = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            let code = row_code(&row, column, index, "the query's result")?;
            if !tree.contains(code.as_str()) {
                return Err(bad(format!(
                    "row {}: {code} is not in the jurisdiction tree",
                    index + 1
                )));
            }
            if !dispatches.allows(code.as_str()) {
                return Err(Self::refuse_dispatch(caller, &request.category, &code));
            }
            let title = render("title", &request.title, &row)?;
            let detail = render("detail", &request.detail, &row)?;
            check_fields(&title, &detail, &request.category, None, &clocks)?;
            tasks.push(self.new_task(
                caller,
                title,
                detail,
                &request.category,
                code,
                request.department.clone(),
                request.urgency,
                clocks,
                (TaskOrigin::Query, None, Some(row)),
            ));
        }
        let stored = self.catalog().insert_tasks(tasks).await?;
        tracing::info!(tasks = stored.len(), "tasks dispatched from a query");
        self.tell_dispatched(&stored).await;
        Ok(stored.into_iter().map(|t| self.shown(t)).collect())
    }

    /// The tasks the caller may see, newest first.
    pub async fn list(&self, caller: &Caller, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        let now = stamp(self.clock.now());
        let mut shown = Vec::new();
        // where the caller dispatches, once per category rather than once per task
        let mut dispatches: BTreeMap<String, Scope> = BTreeMap::new();
        for mut task in self.catalog().tasks().await? {
            if filter.status.is_some_and(|s| s != task.status)
                || filter
                    .jurisdiction
                    .as_ref()
                    .is_some_and(|j| !j.covers(&task.jurisdiction))
            {
                continue;
            }
            let visible = Self::in_line(caller, &task) || task.created_by == caller.name() || {
                let scope = match dispatches.get(&task.category) {
                    Some(scope) => scope,
                    None => {
                        let scope = self.dispatch_scope(caller, &task.category)?;
                        dispatches.entry(task.category.clone()).or_insert(scope)
                    }
                };
                scope.allows(task.jurisdiction.as_str())
            };
            if !visible {
                continue;
            }
            Self::overdue(&mut task, &now);
            if filter.overdue && task.overdue.is_empty() {
                continue;
            }
            shown.push(task);
        }
        Ok(shown)
    }

    async fn existing(&self, id: &str) -> Result<TaskRecord> {
        self.catalog()
            .task(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("task {id:?}").into()))
    }

    /// A task the caller may see, with its history; "not found" otherwise, alike.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<TaskDetail> {
        let task = self.existing(id).await?;
        if !self.visible(caller, &task)? {
            return Err(EngineError::NotFound(format!("task {id:?}").into()));
        }
        let history = self.catalog().task_events(id).await?;
        Ok(TaskDetail {
            task: self.shown(task),
            history,
        })
    }

    /// Accepts, resolves, verifies or returns a task, if the caller may and the task stands
    /// where that change starts from (else a conflict).
    pub async fn act(&self, caller: &Caller, id: &str, action: TaskAction) -> Result<TaskRecord> {
        let task = self.existing(id).await?;
        let verb = action.verb();
        let allowed = match action {
            TaskAction::Accept(_) | TaskAction::Resolve(_) => Self::in_line(caller, &task),
            TaskAction::Verify(_) | TaskAction::Return(_) => {
                self.may_dispatch(caller, &task.category, &task.jurisdiction)?
            }
        };
        if !allowed {
            return Err(EngineError::PermissionDenied(
                format!("{} may not {verb} task {id:?}", caller.name()).into(),
            ));
        }
        let now = self.clock.now();
        let clocks = task.clocks;
        let (from, to, note, due) = match action {
            TaskAction::Accept(n) => (
                vec![TaskStatus::Dispatched],
                TaskStatus::Accepted,
                n.note,
                Some(after(now, clocks.handle_minutes)),
            ),
            TaskAction::Resolve(n) => (
                vec![TaskStatus::Accepted, TaskStatus::Returned],
                TaskStatus::Resolved,
                n.note,
                Some(after(now, clocks.verify_minutes)),
            ),
            TaskAction::Verify(n) => (
                vec![TaskStatus::Resolved],
                TaskStatus::Verified,
                n.note,
                None,
            ),
            TaskAction::Return(r) => {
                if r.reason.trim().is_empty() {
                    return Err(bad("reason: a return says why".into()));
                }
                (
                    vec![TaskStatus::Resolved],
                    TaskStatus::Returned,
                    Some(r.reason),
                    Some(after(now, clocks.handle_minutes)),
                )
            }
        };
        if let Some(note) = &note {
            text("note", note, MAX_TEXT_CHARS)?;
        }
        let change = TaskTransition {
            action: verb,
            from,
            to,
            at: stamp(now),
            by: caller.name().to_owned(),
            note,
            due_at: due.map(stamp),
        };
        let task = self.catalog().transition_task(id, change).await?;
        tracing::info!(task = %id, status = task.status.as_str(), by = caller.name(), "task changed");
        Ok(self.shown(task))
    }

    /// The jurisdiction `levels` steps above `code` that is in `tree`, or the highest one on
    /// the way.
    fn above(
        tree: &BTreeSet<String>,
        code: &JurisdictionCode,
        levels: usize,
    ) -> Option<JurisdictionCode> {
        let mut found = None;
        let mut at = code.clone();
        for _ in 0..levels {
            let Some(parent) = at.parent().filter(|p| tree.contains(p.as_str())) else {
                break;
            };
            found = Some(parent.clone());
            at = parent;
        }
        found
    }

    /// Escalates every task whose next escalation is due now; returns how many were.
    pub async fn escalate_due(&self) -> Result<usize> {
        let mut escalated = 0;
        // a task overdue for both levels (a server stopped for an hour) takes both in turn
        for _ in 0..2 {
            let now = self.clock.now();
            let due = self.catalog().due_escalations(&stamp(now)).await?;
            if due.is_empty() {
                break;
            }
            let tree: BTreeSet<String> = self
                .catalog()
                .jurisdictions()
                .await?
                .into_iter()
                .map(|j| j.code.as_str().to_owned())
                .collect();
            for task in due {
                let to = match task.supervision {
                    Supervision::None => Supervision::Yellow,
                    _ => Supervision::Red,
                };
                let target = Self::above(&tree, &task.jurisdiction, usize::from(to.level()));
                let escalation = TaskEscalation {
                    to,
                    escalated_to: target.clone(),
                    at: stamp(now),
                };
                if let Some(task) = self.catalog().escalate_task(&task.id, escalation).await? {
                    escalated += 1;
                    tracing::warn!(
                        task = %task.id,
                        jurisdiction = %task.jurisdiction,
                        escalated_to = ?target.as_ref().map(JurisdictionCode::as_str),
                        supervision = to.as_str(),
                        "a task was not accepted in time and is escalated"
                    );
                    if let Some(notifier) = &self.notifier {
                        notifier.escalated(&task).await;
                    }
                }
            }
        }
        Ok(escalated)
    }

    /// Looks for due escalations every [`ESCALATION_PERIOD`] (and whenever the clock jumps)
    /// for as long as the service lives.
    pub fn watch(tasks: &Arc<Tasks>) -> tokio::task::JoinHandle<()> {
        let clock = tasks.clock.clone();
        clock::every(
            tasks,
            &*clock,
            ESCALATION_PERIOD,
            None,
            "due escalations",
            |t| async move { t.escalate_due().await },
        )
    }
}

/// The division code in a result row's `column`; `result` says whose rows they are.
pub(crate) fn row_code(
    row: &Map<String, Value>,
    column: &str,
    index: usize,
    result: &str,
) -> Result<JurisdictionCode> {
    match row.get(column) {
        Some(Value::String(text)) => JurisdictionCode::parse(text)
            .map_err(|e| bad(format!("row {}: {column}: {e}", index + 1))),
        Some(_) => Err(bad(format!(
            "row {}: {column} is not a 12-digit division code",
            index + 1
        ))),
        None => Err(bad(format!(
            "{result} has no column {column:?}; name the column of division codes in jurisdiction_column"
        ))),
    }
}

/// A query's rows as JSON objects, refusing more than `most`.
pub(crate) async fn collect_rows(
    output: tiaokuai_engine::QueryOutput,
    most: usize,
) -> Result<Vec<Map<String, Value>>> {
    let mut stream = output.stream;
    // a null is written as one, so that a template naming its column finds it
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    let mut count = 0usize;
    let failed = |e| EngineError::Internal(Message::caused_by("tasks: reading a query's rows", e));
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(EngineError::from)?;
        count += batch.num_rows();
        if count > most {
            return Err(bad(format!(
                "the query gives more than {most} rows; one request dispatches at most {most} tasks"
            )));
        }
        writer.write(&batch).map_err(failed)?;
    }
    writer.finish().map_err(failed)?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::Internal(Message::caused_by("tasks: reading a query's rows", e)))
}
