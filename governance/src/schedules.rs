//! Schedules: a report stored on a cron expression in an IANA time zone (Asia/Shanghai unless
//! told), as a named principal, optionally once for each township (or village) under a
//! jurisdiction, each run narrowed to it so that each township's result holds its own rows.
//!
//! A tick is claimed by moving the schedule's next tick past now before it runs, so a tick
//! runs once however many sweeps see it, and the ticks a stopped server missed run as one.
//! A tick whose run fails (a report that no longer plans, a source that is down) records the
//! failure on the schedule and the run; the next tick runs as usual.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};
use tiaokuai_catalog::{
    Catalog, FanOut, JurisdictionCode, Level, NewSchedule, ScheduleOutcome, ScheduleRecord, token,
};
use tiaokuai_engine::{Caller, EngineError, Result};
use tiaokuai_policies::Action;
use utoipa::ToSchema;

use crate::alerts::Alerts;
use crate::clock::{self, Clock, parse_stamp, stamp};
use crate::parameters;
use crate::reports::Reports;
use crate::webhooks::Notifier;

/// The time zone of a schedule that names none: the county's.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// How often due ticks are looked for (sooner when the clock jumps).
pub const TICK_PERIOD: std::time::Duration = std::time::Duration::from_secs(15);

/// The next tick of a schedule that is stopped (text order is time order).
const NEVER: &str = "9999-12-31T23:59:59.999Z";

/// The most schedules one principal (other than admin) may keep: each tick costs a run per
/// jurisdiction of its fan-out.
pub const MAX_SCHEDULES_PER_PRINCIPAL: usize = 20;

/// The shortest time between two ticks a schedule may ask for.
const MIN_INTERVAL_SECS: i64 = 60;

fn shanghai() -> String {
    DEFAULT_TIME_ZONE.into()
}

/// `POST /v1/schedules`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "report": "rep_…",
    "name": "每日走访覆盖率（分乡镇）",
    "cron": "0 8 * * *",
    "time_zone": "Asia/Shanghai",
    "parameters": {"period": {"from": "2024-01-01", "to": "2024-12-31"}},
    "fan_out": {"level": "township", "under": "330824000000"}
}))]
pub struct ScheduleRequest {
    /// The report's id.
    pub report: String,
    pub name: String,
    /// Five fields (minute hour day month weekday), or six with seconds first; at most one
    /// tick a minute.
    pub cron: String,
    /// An IANA time zone the cron expression is read in.
    #[serde(default = "shanghai")]
    pub time_zone: String,
    /// The principal each run runs as; the caller, unless admin names another.
    #[serde(default)]
    pub run_as: Option<String>,
    /// The parameter values of every run.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Runs once for each jurisdiction of a level, each narrowed to it.
    #[serde(default)]
    pub fan_out: Option<FanOut>,
}

/// A schedule as it is shown: with how long ago its last full success was.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleView {
    #[serde(flatten)]
    pub schedule: ScheduleRecord,
    /// Seconds since the last tick whose every run succeeded; absent if none has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_age_seconds: Option<i64>,
    /// The last tick failed.
    pub failing: bool,
}

/// The schedules service.
#[derive(Debug)]
pub struct Schedules {
    reports: Reports,
    alerts: Alerts,
    clock: Arc<dyn Clock>,
    notifier: Option<Arc<Notifier>>,
}

fn bad(text: String) -> EngineError {
    EngineError::BadRequest(text.into())
}

/// The cron expression and time zone, read.
fn timing(cron: &str, time_zone: &str) -> Result<(Cron, Tz)> {
    let parsed = Cron::from_str(cron).map_err(|e| bad(format!("cron: {cron:?}: {e}")))?;
    let zone = Tz::from_str(time_zone).map_err(|_| {
        bad(format!(
            "time_zone: {time_zone:?} is not an IANA time zone (Asia/Shanghai, say)"
        ))
    })?;
    Ok((parsed, zone))
}

/// The first tick after `after`.
fn next_tick(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let local = after.with_timezone(&zone);
    cron.find_next_occurrence(&local, false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad(format!("cron: no tick follows {after}: {e}")))
}

impl Schedules {
    pub fn new(reports: Reports, alerts: Alerts, clock: Arc<dyn Clock>) -> Self {
        Self {
            reports,
            alerts,
            clock,
            notifier: None,
        }
    }

    /// The same service, telling `notifier` of failed ticks.
    pub fn notifying(self, notifier: Arc<Notifier>) -> Self {
        Self {
            notifier: Some(notifier),
            ..self
        }
    }

    /// Tells the webhooks, and so the schedule's owner, that a tick failed.
    async fn tell_failed(&self, schedule: &ScheduleRecord, outcome: &ScheduleOutcome) {
        let (Some(notifier), Some(error)) = (&self.notifier, &outcome.error) else {
            return;
        };
        let owner = match self.catalog().report(&schedule.report_id, None).await {
            Ok(Some(report)) => report.owner,
            _ => return,
        };
        let text = format!("【定时报表失败】{}：{error}", schedule.name);
        let payload = serde_json::json!({
            "event": "run.failed",
            "msgtype": "text",
            "text": {"content": text},
            "schedule": {
                "id": schedule.id,
                "name": schedule.name,
                "report_id": schedule.report_id,
                "owner": schedule.created_by,
                "run_as": schedule.run_as,
            },
            "error": error,
            "runs": outcome.runs,
            "at": outcome.at,
        });
        notifier.notify("run.failed", &[&owner], payload).await;
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.reports.engine().catalog()
    }

    fn view(&self, schedule: ScheduleRecord) -> ScheduleView {
        let now = self.clock.now();
        let last_success_age_seconds = schedule
            .last_success_at
            .as_deref()
            .and_then(parse_stamp)
            .map(|at| (now - at).num_seconds().max(0));
        ScheduleView {
            failing: schedule.last_error.is_some(),
            last_success_age_seconds,
            schedule,
        }
    }

    /// The jurisdictions a fan-out runs for, inside where `runner` may run the report.
    async fn targets(
        &self,
        runner: &Caller,
        report_name: &str,
        fan_out: &FanOut,
    ) -> Result<Vec<JurisdictionCode>> {
        let level: Level = fan_out.level.parse().map_err(|_| {
            bad(format!(
                "fan_out.level: township or village, not {:?}",
                fan_out.level
            ))
        })?;
        if !matches!(level, Level::Township | Level::Village) {
            return Err(bad(format!(
                "fan_out.level: township or village, not {:?}",
                fan_out.level
            )));
        }
        let scope = self
            .reports
            .engine()
            .scope(runner, report_name, Action::RunReport)?;
        Ok(self
            .catalog()
            .jurisdictions()
            .await?
            .into_iter()
            .filter(|node| {
                node.level == level
                    && fan_out.under.covers(&node.code)
                    && scope.allows(node.code.as_str())
            })
            .map(|node| node.code)
            .collect())
    }

    pub async fn create(&self, caller: &Caller, request: ScheduleRequest) -> Result<ScheduleView> {
        let report = self.reports.visible(caller, &request.report, None).await?;
        if request.name.trim().is_empty() || request.name.chars().count() > 200 {
            return Err(bad("name: from 1 to 200 characters".into()));
        }
        let (cron, zone) = timing(&request.cron, &request.time_zone)?;
        let now = self.clock.now();
        // a schedule may not tick more than once a minute
        let mut tick = next_tick(&cron, zone, now)?;
        for _ in 0..5 {
            let following = next_tick(&cron, zone, tick)?;
            if (following - tick).num_seconds() < MIN_INTERVAL_SECS {
                return Err(bad(format!(
                    "cron: {:?} ticks more than once a minute",
                    request.cron
                )));
            }
            tick = following;
        }
        if !caller.is_admin() {
            let kept = self
                .catalog()
                .schedules()
                .await?
                .iter()
                .filter(|s| s.created_by == caller.name())
                .count();
            if kept >= MAX_SCHEDULES_PER_PRINCIPAL {
                return Err(EngineError::Conflict(
                    format!(
                        "{} keeps {kept} schedules, the most a principal may; delete one first",
                        caller.name()
                    )
                    .into(),
                ));
            }
        }
        let run_as = request.run_as.unwrap_or_else(|| caller.name().to_owned());
        if run_as != caller.name() && !caller.is_admin() {
            return Err(EngineError::PermissionDenied(
                format!(
                    "{} may schedule runs as itself only; admin schedules runs as another principal",
                    caller.name()
                )
                .into(),
            ));
        }
        let runner = Caller::named(&**self.catalog(), &run_as)
            .await?
            .ok_or_else(|| bad(format!("run_as: there is no principal {run_as:?}")))?;
        let scope = self
            .reports
            .engine()
            .scope(&runner, &report.name, Action::RunReport)?;
        if scope.is_empty() {
            return Err(EngineError::PermissionDenied(
                format!("{run_as} may not run report {}", report.name).into(),
            ));
        }
        parameters::bind(&report.parameters, &request.parameters, &scope)?;
        if let Some(fan_out) = &request.fan_out
            && self
                .targets(&runner, &report.name, fan_out)
                .await?
                .is_empty()
        {
            return Err(bad(format!(
                "fan_out: {run_as} may run the report in no {} under {}",
                fan_out.level, fan_out.under
            )));
        }
        let new = NewSchedule {
            id: token::new_id("sch"),
            report_id: report.id,
            name: request.name,
            cron: request.cron,
            time_zone: request.time_zone,
            run_as,
            parameters: request.parameters,
            fan_out: request.fan_out,
            created_by: caller.name().to_owned(),
            next_run_at: stamp(next_tick(&cron, zone, now)?),
        };
        Ok(self.view(self.catalog().insert_schedule(new).await?))
    }

    async fn may_manage(&self, caller: &Caller, schedule: &ScheduleRecord) -> Result<bool> {
        if caller.is_admin()
            || schedule.created_by == caller.name()
            || schedule.run_as == caller.name()
        {
            return Ok(true);
        }
        self.reports.manages(caller, &schedule.report_id).await
    }

    /// The schedules the caller made, runs as, or whose report it manages.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<ScheduleView>> {
        let mut shown = Vec::new();
        for schedule in self.catalog().schedules().await? {
            if self.may_manage(caller, &schedule).await? {
                shown.push(self.view(schedule));
            }
        }
        Ok(shown)
    }

    async fn managed(&self, caller: &Caller, id: &str) -> Result<ScheduleRecord> {
        match self.catalog().schedule(id).await? {
            Some(schedule) if self.may_manage(caller, &schedule).await? => Ok(schedule),
            _ => Err(EngineError::NotFound(format!("schedule {id:?}").into())),
        }
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<ScheduleView> {
        Ok(self.view(self.managed(caller, id).await?))
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        self.managed(caller, id).await?;
        Ok(self.catalog().delete_schedule(id, caller.name()).await?)
    }

    /// Runs every tick that is due now; returns how many ticks ran.
    pub async fn tick_due(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut ran = 0;
        for schedule in self.catalog().due_schedules(&stamp(now)).await? {
            let next = timing(&schedule.cron, &schedule.time_zone)
                .and_then(|(cron, zone)| next_tick(&cron, zone, now));
            let next = match next {
                Ok(next) => next,
                Err(error) => {
                    // a stored schedule that no longer reads is stopped, visibly
                    tracing::warn!(schedule = %schedule.id, %error, "a schedule cannot be read; it is stopped");
                    let outcome = ScheduleOutcome {
                        at: stamp(now),
                        runs: Vec::new(),
                        error: Some(error.public_message()),
                    };
                    self.catalog().finish_tick(&schedule.id, outcome).await?;
                    self.catalog()
                        .claim_tick(&schedule.id, &schedule.next_run_at, NEVER)
                        .await?;
                    continue;
                }
            };
            // whoever moves the tick on runs it; missed ticks are one, at the first sweep
            if !self
                .catalog()
                .claim_tick(&schedule.id, &schedule.next_run_at, &stamp(next))
                .await?
            {
                continue;
            }
            let outcome = self.run(&schedule, now).await;
            if let Some(error) = &outcome.error {
                tracing::warn!(
                    schedule = %schedule.id,
                    owner = %schedule.created_by,
                    %error,
                    "a scheduled run failed"
                );
                self.tell_failed(&schedule, &outcome).await;
            }
            self.catalog().finish_tick(&schedule.id, outcome).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// One tick: a run, or one run per jurisdiction of the fan-out.
    async fn run(&self, schedule: &ScheduleRecord, now: DateTime<Utc>) -> ScheduleOutcome {
        let mut outcome = ScheduleOutcome {
            at: stamp(now),
            runs: Vec::new(),
            error: None,
        };
        let prepared = async {
            let report = self
                .catalog()
                .report(&schedule.report_id, None)
                .await?
                .ok_or_else(|| EngineError::NotFound("the schedule's report is gone".into()))?;
            let runner = Caller::named(&**self.catalog(), &schedule.run_as)
                .await?
                .ok_or_else(|| {
                    EngineError::PermissionDenied(
                        format!("the principal {} is gone", schedule.run_as).into(),
                    )
                })?;
            let callers = match &schedule.fan_out {
                Some(fan_out) => self
                    .targets(&runner, &report.name, fan_out)
                    .await?
                    .iter()
                    .map(|code| runner.narrowed_to(code))
                    .collect(),
                None => vec![runner],
            };
            Ok::<_, EngineError>((report, callers))
        }
        .await;
        let (report, callers) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                outcome.error = Some(error.public_message());
                return outcome;
            }
        };
        for caller in callers {
            let run_id = token::new_id("run");
            outcome.runs.push(run_id.clone());
            let stored = self
                .reports
                .store_run_of(
                    &caller,
                    &report,
                    &schedule.parameters,
                    Some(&schedule.id),
                    run_id,
                )
                .await;
            match stored {
                Ok(run) => {
                    self.alerts.evaluate(&run).await;
                }
                Err(error) => {
                    let place = caller
                        .within
                        .as_ref()
                        .map(|code| format!(" for {code}"))
                        .unwrap_or_default();
                    outcome.error.get_or_insert_with(|| {
                        format!("the run{place} failed: {}", error.public_message())
                    });
                }
            }
        }
        outcome
    }

    /// Runs due ticks every [`TICK_PERIOD`] (and whenever the clock jumps) for as long as the
    /// service lives.
    pub fn watch(schedules: &Arc<Schedules>) -> tokio::task::JoinHandle<()> {
        let clock = schedules.clock.clone();
        clock::every(
            schedules,
            &*clock,
            TICK_PERIOD,
            None,
            "due schedules",
            |s| async move { s.tick_due().await },
        )
    }
}
