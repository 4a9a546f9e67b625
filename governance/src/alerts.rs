//! Alerts: conditions evaluated on the result of every stored run of a report, whatever its
//! parameters, which dispatch tasks when they hold.
//!
//! An alert dispatches as the principal who made it, who must hold `dispatch` on
//! `tasks.<category>` wherever its tasks go; if it no longer does, the evaluation records why
//! and dispatches nothing. Each alert is evaluated once per run, and the evaluation and its
//! tasks are stored together: a run whose alerts a stop interrupted is evaluated when the
//! server starts again, and a task is never dispatched twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tiaokuai_catalog::{
    AlertCondition, AlertEvaluation, AlertRecord, AlertTask, Catalog, JurisdictionCode, Level,
    NewAlert, RunRecord, RunStatus, TaskOrigin, token,
};
use tiaokuai_engine::{Caller, EngineError, Result};
use utoipa::ToSchema;

use crate::clock::stamp;
use crate::reports::Reports;
use crate::tasks::{self, MAX_TASKS_PER_REQUEST, Tasks};

/// The most alerts one report may have: each judges every stored run of it.
pub const MAX_ALERTS_PER_REPORT: usize = 20;

/// The most rows of a run's result an alert reads.
pub const MAX_EVALUATED_ROWS: usize = 100_000;

fn jurisdiction_code() -> String {
    "jurisdiction_code".into()
}

/// `POST /v1/alerts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "report": "rep_…",
    "name": "走访覆盖率低于八成的村",
    "condition": {"kind": "threshold", "column": "coverage", "below": 0.8},
    "jurisdiction_column": "village_code",
    "jurisdiction": "330824000000",
    "task": {"title": "独居老人走访覆盖率 {coverage}，请补访", "category": "visit", "urgency": "urgent"}
}))]
pub struct AlertRequest {
    /// The report's id.
    pub report: String,
    pub name: String,
    pub condition: AlertCondition,
    /// The column of the result that holds each row's 12-digit division code.
    #[serde(default = "jurisdiction_code")]
    pub jurisdiction_column: String,
    /// Where a task about the whole result goes, and what `missing` looks under.
    #[schema(value_type = String)]
    pub jurisdiction: String,
    pub task: AlertTask,
}

/// An alert with what its runs came to.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertRecord,
    /// Newest first.
    pub evaluations: Vec<AlertEvaluation>,
}

/// The alerts service.
#[derive(Debug, Clone)]
pub struct Alerts {
    reports: Reports,
    tasks: Arc<Tasks>,
}

fn bad(text: String) -> EngineError {
    EngineError::BadRequest(text.into())
}

/// A number in a result's cell: a JSON number, or text that reads as one (decimals).
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn check_condition(condition: &AlertCondition) -> Result<()> {
    let finite = |what: &str, v: Option<f64>| match v {
        Some(v) if !v.is_finite() => Err(bad(format!("condition.{what}: a finite number"))),
        _ => Ok(()),
    };
    match condition {
        AlertCondition::AnyRows => Ok(()),
        AlertCondition::RowCount { above, below } => {
            if above.is_none() && below.is_none() {
                return Err(bad("condition: row_count needs above or below".into()));
            }
            Ok(())
        }
        AlertCondition::Threshold {
            column,
            above,
            below,
        } => {
            if column.is_empty() {
                return Err(bad("condition.column: the column to watch".into()));
            }
            if above.is_none() && below.is_none() {
                return Err(bad("condition: threshold needs above or below".into()));
            }
            finite("above", *above)?;
            finite("below", *below)
        }
        AlertCondition::Change {
            column, more_than, ..
        } => {
            if column.is_empty() {
                return Err(bad("condition.column: the column to watch".into()));
            }
            if !more_than.is_finite() || *more_than < 0.0 {
                return Err(bad(
                    "condition.more_than: a finite number, zero or more".into()
                ));
            }
            Ok(())
        }
        AlertCondition::Missing { level, .. } => match level.as_str() {
            "village" | "township" => Ok(()),
            other => Err(bad(format!(
                "condition.level: village or township, not {other:?}"
            ))),
        },
    }
}

impl Alerts {
    pub fn new(reports: Reports, tasks: Arc<Tasks>) -> Self {
        Self { reports, tasks }
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.reports.engine().catalog()
    }

    /// Whether the caller may see and delete the alert: its maker, admin, or whoever manages
    /// its report.
    async fn may_manage(&self, caller: &Caller, alert: &AlertRecord) -> Result<bool> {
        if caller.is_admin() || alert.created_by == caller.name() {
            return Ok(true);
        }
        self.reports.manages(caller, &alert.report_id).await
    }

    pub async fn create(&self, caller: &Caller, request: AlertRequest) -> Result<AlertRecord> {
        let report = self.reports.visible(caller, &request.report, None).await?;
        if request.name.trim().is_empty() || request.name.chars().count() > 200 {
            return Err(bad("name: from 1 to 200 characters".into()));
        }
        check_condition(&request.condition)?;
        if request.jurisdiction_column.is_empty() {
            return Err(bad(
                "jurisdiction_column: the column of division codes".into()
            ));
        }
        let code = JurisdictionCode::parse(&request.jurisdiction)
            .map_err(|e| bad(format!("jurisdiction: {e}")))?;
        if !self.catalog().has_jurisdiction(&code).await? {
            return Err(bad(format!(
                "jurisdiction: {code} is not in the jurisdiction tree"
            )));
        }
        if let AlertCondition::Missing {
            under: Some(under), ..
        } = &request.condition
            && !code.covers(under)
        {
            return Err(bad(format!(
                "condition.under: {under} is not inside the alert's jurisdiction {code}"
            )));
        }
        let task = &request.task;
        tasks::check_fields(
            &task.title,
            &task.detail,
            &task.category,
            None,
            &task.clocks,
        )?;
        if !self.tasks.may_dispatch(caller, &task.category, &code)? {
            return Err(Tasks::refuse_dispatch(caller, &task.category, &code));
        }
        let kept = self.catalog().alerts(Some(&report.id)).await?.len();
        if kept >= MAX_ALERTS_PER_REPORT {
            return Err(EngineError::Conflict(
                format!(
                    "report {} has {kept} alerts, the most a report may",
                    report.name
                )
                .into(),
            ));
        }
        let new = NewAlert {
            id: token::new_id("alert"),
            report_id: report.id,
            name: request.name,
            condition: request.condition,
            jurisdiction_column: request.jurisdiction_column,
            jurisdiction: code,
            task: request.task,
            created_by: caller.name().to_owned(),
        };
        Ok(self.catalog().insert_alert(new).await?)
    }

    /// The alerts the caller may manage.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<AlertRecord>> {
        let mut shown = Vec::new();
        for alert in self.catalog().alerts(None).await? {
            if self.may_manage(caller, &alert).await? {
                shown.push(alert);
            }
        }
        Ok(shown)
    }

    async fn managed(&self, caller: &Caller, id: &str) -> Result<AlertRecord> {
        match self.catalog().alert(id).await? {
            Some(alert) if self.may_manage(caller, &alert).await? => Ok(alert),
            _ => Err(EngineError::NotFound(format!("alert {id:?}").into())),
        }
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<AlertDetail> {
        let alert = self.managed(caller, id).await?;
        let evaluations = self.catalog().alert_evaluations(id).await?;
        Ok(AlertDetail { alert, evaluations })
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        self.managed(caller, id).await?;
        Ok(self.catalog().delete_alert(id, caller.name()).await?)
    }

    /// Evaluates every alert of the run's report on it, once each; returns the evaluations
    /// made now.
    pub async fn evaluate(&self, run: &RunRecord) -> Vec<AlertEvaluation> {
        if run.status != RunStatus::Succeeded {
            return Vec::new();
        }
        let alerts = match self.catalog().alerts(Some(&run.report_id)).await {
            Ok(alerts) => alerts,
            Err(error) => {
                tracing::warn!(run = %run.id, %error, "the run's alerts could not be read");
                return Vec::new();
            }
        };
        let mut made = Vec::new();
        // the run's result, read once for all its alerts, when the first one needs it
        let mut rows: Option<Result<Vec<Map<String, Value>>>> = None;
        for alert in alerts {
            // an alert made after the run judges later runs only
            let after = run
                .finished_at
                .as_deref()
                .is_some_and(|finished| finished >= alert.created_at.as_str());
            if !after {
                continue;
            }
            match self.evaluate_one(&alert, run, &mut rows).await {
                Ok(Some(evaluation)) => made.push(evaluation),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(alert = %alert.id, run = %run.id, %error, "an alert could not be evaluated; it is tried again at the next start");
                }
            }
        }
        made
    }

    /// Evaluates the alerts of every run that ended without them (a stop in between).
    pub async fn recover(&self) -> Result<usize> {
        let watched: std::collections::BTreeSet<String> = self
            .catalog()
            .alerts(None)
            .await?
            .into_iter()
            .map(|alert| alert.report_id)
            .collect();
        let mut recovered = 0;
        for run in self.catalog().all_runs().await? {
            // only the runs an alert may judge: succeeded, of a report with alerts
            if run.status == RunStatus::Succeeded && watched.contains(&run.report_id) {
                recovered += self.evaluate(&run).await.len();
            }
        }
        if recovered > 0 {
            tracing::info!(recovered, "alerts a stop interrupted are evaluated");
        }
        Ok(recovered)
    }

    async fn evaluate_one(
        &self,
        alert: &AlertRecord,
        run: &RunRecord,
        rows: &mut Option<Result<Vec<Map<String, Value>>>>,
    ) -> Result<Option<AlertEvaluation>> {
        if self.catalog().alert_evaluated(&alert.id, &run.id).await? {
            return Ok(None);
        }
        if rows.is_none() {
            *rows = Some(self.rows(run).await);
        }
        let rows = match rows {
            Some(Ok(rows)) => Ok(rows.as_slice()),
            Some(Err(error)) => Err(error.clone()),
            None => unreachable!("read just above"),
        };
        let mut evaluation = AlertEvaluation {
            alert_id: alert.id.clone(),
            run_id: run.id.clone(),
            at: stamp(self.tasks.now()),
            fired: false,
            tasks: Vec::new(),
            error: None,
        };
        let judged = match rows {
            Ok(rows) => self.judge(alert, run, rows).await,
            Err(error) => Err(error),
        };
        let dispatched = match judged {
            Ok(targets) => {
                evaluation.fired = !targets.is_empty();
                match self.dispatch(alert, run, targets).await {
                    Ok(tasks) => tasks,
                    Err(error) => {
                        evaluation.error = Some(error.public_message());
                        Vec::new()
                    }
                }
            }
            Err(error) => {
                evaluation.error = Some(error.public_message());
                Vec::new()
            }
        };
        let recorded = self
            .catalog()
            .record_evaluation(evaluation, dispatched)
            .await?;
        let Some((evaluation, tasks)) = recorded else {
            return Ok(None);
        };
        if evaluation.fired {
            tracing::warn!(alert = %alert.id, run = %run.id, tasks = tasks.len(), "an alert fired");
        }
        self.tasks.tell_dispatched(&tasks).await;
        Ok(Some(evaluation))
    }

    async fn rows(&self, run: &RunRecord) -> Result<Vec<Map<String, Value>>> {
        let output = self.reports.open_result(run).await?;
        tasks::collect_rows(output, MAX_EVALUATED_ROWS)
            .await
            .map_err(|error| match error {
                EngineError::BadRequest(_) => bad(format!(
                    "the run's result has more than {MAX_EVALUATED_ROWS} rows, the most an alert reads"
                )),
                other => other,
            })
    }

    fn code_of(
        alert: &AlertRecord,
        row: &Map<String, Value>,
        index: usize,
    ) -> Result<JurisdictionCode> {
        tasks::row_code(row, &alert.jurisdiction_column, index, "the run's result")
    }

    /// Where the alert's tasks go for this run (whose result is `rows`), each with the row it
    /// is about.
    async fn judge(
        &self,
        alert: &AlertRecord,
        run: &RunRecord,
        rows: &[Map<String, Value>],
    ) -> Result<Vec<(JurisdictionCode, Option<Map<String, Value>>)>> {
        let each_row = |keep: &dyn Fn(&Map<String, Value>) -> Result<bool>| {
            let mut targets = Vec::new();
            for (index, row) in rows.iter().enumerate() {
                if keep(row)? {
                    targets.push((Self::code_of(alert, row, index)?, Some(row.clone())));
                }
            }
            Ok::<_, EngineError>(targets)
        };
        match &alert.condition {
            AlertCondition::AnyRows => each_row(&|_| Ok(true)),
            AlertCondition::RowCount { above, below } => {
                let count = rows.len() as u64;
                let fires = above.is_some_and(|n| count > n) || below.is_some_and(|n| count < n);
                let mut summary = Map::new();
                summary.insert("row_count".into(), json!(count));
                Ok(if fires {
                    vec![(alert.jurisdiction.clone(), Some(summary))]
                } else {
                    Vec::new()
                })
            }
            AlertCondition::Threshold {
                column,
                above,
                below,
            } => each_row(&|row| {
                let value = number(row.get(column)).ok_or_else(|| {
                    bad(format!(
                        "the run's result has no number in column {column:?}"
                    ))
                })?;
                Ok(above.is_some_and(|n| value > n) || below.is_some_and(|n| value < n))
            }),
            AlertCondition::Change {
                column,
                more_than,
                relative,
            } => {
                let Some(previous) = self.previous(run).await? else {
                    return Ok(Vec::new());
                };
                let before_rows = self.rows(&previous).await?;
                let mut before = BTreeMap::new();
                for (index, row) in before_rows.iter().enumerate() {
                    let code = Self::code_of(alert, row, index)?;
                    if let Some(value) = number(row.get(column)) {
                        before.insert(code.as_str().to_owned(), value);
                    }
                }
                each_row(&|row| {
                    let Some(now) = number(row.get(column)) else {
                        return Ok(false);
                    };
                    let Some(Value::String(code)) = row.get(&alert.jurisdiction_column) else {
                        return Ok(false);
                    };
                    let Some(then) = before.get(code) else {
                        return Ok(false);
                    };
                    let moved = (now - then).abs();
                    Ok(if *relative {
                        *then != 0.0 && moved / then.abs() > *more_than
                    } else {
                        moved > *more_than
                    })
                })
            }
            AlertCondition::Missing { level, under } => {
                let level: Level = level
                    .parse()
                    .map_err(|e: tiaokuai_catalog::CatalogError| bad(e.to_string()))?;
                let under = under.as_ref().unwrap_or(&alert.jurisdiction);
                let mut present = std::collections::BTreeSet::new();
                for (index, row) in rows.iter().enumerate() {
                    present.insert(Self::code_of(alert, row, index)?.as_str().to_owned());
                }
                let owner = self.owner(alert).await?;
                // only where the alert's maker may send the task
                let dispatches = self.tasks.dispatch_scope(&owner, &alert.task.category)?;
                let targets = self
                    .catalog()
                    .jurisdictions()
                    .await?
                    .into_iter()
                    .filter(|node| {
                        node.level == level
                            && under.covers(&node.code)
                            && !present.contains(node.code.as_str())
                            && dispatches.allows(node.code.as_str())
                    })
                    .map(|node| (node.code, None))
                    .collect();
                Ok(targets)
            }
        }
    }

    /// The newest successful run before `run` of the same report, by the same principal with
    /// the same parameters.
    async fn previous(&self, run: &RunRecord) -> Result<Option<RunRecord>> {
        let runs = self.catalog().runs_of(&run.report_id).await?;
        Ok(runs.into_iter().find(|other| {
            other.id != run.id
                && other.status == RunStatus::Succeeded
                && other.principal == run.principal
                && other.parameters == run.parameters
                && other.started_at < run.started_at
        }))
    }

    async fn owner(&self, alert: &AlertRecord) -> Result<Caller> {
        Caller::named(&**self.catalog(), &alert.created_by)
            .await?
            .ok_or_else(|| {
                EngineError::PermissionDenied(
                    format!("the alert's maker {} no longer exists", alert.created_by).into(),
                )
            })
    }

    /// The tasks for the targets, dispatched as the alert's maker: all of them, or an error
    /// naming the first place it may not send to.
    async fn dispatch(
        &self,
        alert: &AlertRecord,
        run: &RunRecord,
        targets: Vec<(JurisdictionCode, Option<Map<String, Value>>)>,
    ) -> Result<Vec<tiaokuai_catalog::NewTask>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        if targets.len() > MAX_TASKS_PER_REQUEST {
            return Err(bad(format!(
                "the alert would dispatch {} tasks; one run dispatches at most {MAX_TASKS_PER_REQUEST}",
                targets.len()
            )));
        }
        let owner = self.owner(alert).await?;
        let task = &alert.task;
        let dispatches = self.tasks.dispatch_scope(&owner, &task.category)?;
        let mut made = Vec::with_capacity(targets.len());
        for (index, (code, row)) in targets.into_iter().enumerate() {
            if !dispatches.allows(code.as_str()) {
                return Err(Tasks::refuse_dispatch(&owner, &task.category, &code));
            }
            let mut values = row.clone().unwrap_or_default();
            values
                .entry(alert.jurisdiction_column.clone())
                .or_insert_with(|| Value::String(code.as_str().to_owned()));
            let title = tasks::render("task.title", &task.title, &values)?;
            let detail = tasks::render("task.detail", &task.detail, &values)?;
            tasks::check_fields(&title, &detail, &task.category, None, &task.clocks)?;
            let mut new = self.tasks.new_task(
                &owner,
                title,
                detail,
                &task.category,
                code,
                None,
                task.urgency,
                task.clocks,
                (TaskOrigin::Alert, Some(run.id.clone()), row),
            );
            new.origin_key = Some(format!("{}/{}/{index}", alert.id, run.id));
            made.push(new);
        }
        Ok(made)
    }
}
