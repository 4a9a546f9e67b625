//! The demo's governance beyond reports: an alert on the visit coverage that sends a visit
//! task to each village below target, a daily schedule fanned out over the townships, and a
//! few days of dispatch work with a task in every state, played through the tasks service on a
//! clock that starts three days before the build.

use std::sync::Arc;

use chrono::Duration;
use tiaokuai_catalog::{AlertCondition, AlertTask, FanOut, JurisdictionCode, ReportRecord};
use tiaokuai_engine::{Caller, Engine};
use tiaokuai_governance::alerts::Alerts;
use tiaokuai_governance::schedules::Schedules;
use tiaokuai_governance::tasks::Tasks;
use tiaokuai_governance::{
    AlertRequest, Clock, ManualClock, Reports, ReturnRequest, ScheduleRequest, SystemClock,
    TaskAction, TaskNote, TaskRequest,
};

use crate::start::StartError;

const COUNTY: &str = "330824000000";

async fn principal(engine: &Engine, name: &str) -> Result<Caller, StartError> {
    Caller::named(&**engine.catalog(), name)
        .await?
        .ok_or_else(|| StartError::Demo(format!("the demo principal {name} is missing")))
}

fn code(text: &str) -> JurisdictionCode {
    JurisdictionCode::parse(text).expect("a demo division code")
}

/// The alert and the schedule on the visit coverage report.
pub async fn watch(
    engine: &Arc<Engine>,
    admin: &Caller,
    coverage: &ReportRecord,
) -> Result<(), StartError> {
    let reports = Reports::new(engine.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tasks = Arc::new(Tasks::new(engine.clone(), clock.clone()));
    let alerts = Alerts::new(reports.clone(), tasks);
    let civil = principal(engine, "civil_officer").await?;
    let alert = AlertRequest {
        report: coverage.id.clone(),
        name: "走访覆盖率低于六成的村".into(),
        condition: AlertCondition::Threshold {
            column: "coverage".into(),
            above: None,
            below: Some(0.6),
        },
        jurisdiction_column: "village_code".into(),
        jurisdiction: COUNTY.into(),
        task: AlertTask {
            title: "独居老人走访覆盖率仅 {coverage}，请安排补访".into(),
            detail: "{elderly_alone} 位独居老人中已走访 {visited} 位".into(),
            category: "visit".into(),
            urgency: tiaokuai_catalog::Urgency::Urgent,
            clocks: Default::default(),
        },
    };
    alerts.create(&civil, alert).await?;
    let schedules = Schedules::new(reports, alerts, clock);
    let daily = ScheduleRequest {
        report: coverage.id.clone(),
        name: "每日独居老人走访覆盖率（分乡镇）".into(),
        cron: "0 8 * * *".into(),
        time_zone: tiaokuai_governance::schedules::DEFAULT_TIME_ZONE.into(),
        run_as: Some("county_dispatcher".into()),
        parameters: Default::default(),
        fan_out: Some(FanOut {
            level: "township".into(),
            under: code(COUNTY),
        }),
    };
    schedules.create(admin, daily).await?;
    Ok(())
}

fn task(title: &str, category: &str, jurisdiction: &str) -> TaskRequest {
    TaskRequest {
        title: title.into(),
        detail: String::new(),
        category: category.into(),
        jurisdiction: jurisdiction.into(),
        department: None,
        urgency: Default::default(),
        clocks: None,
    }
}

fn note(text: &str) -> TaskNote {
    TaskNote {
        note: Some(text.into()),
    }
}

/// Three days of dispatch work, ending at the build: a task verified, returned, resolved,
/// accepted, escalated to red, and one just dispatched.
pub async fn history(engine: &Arc<Engine>) -> Result<(), StartError> {
    let start = chrono::Utc::now() - Duration::days(3);
    let clock = Arc::new(ManualClock::at(start));
    let tasks = Tasks::new(engine.clone(), clock.clone());
    let majin = principal(engine, "majin_dispatcher").await?;
    let county = principal(engine, "county_dispatcher").await?;
    let civil = principal(engine, "civil_officer").await?;
    let xiashan = principal(engine, "xiashan_official").await?;
    let at = |offset: Duration| {
        let target = start + offset;
        let now = clock.now();
        if target > now {
            clock.advance(target - now);
        }
    };
    let id = |task: tiaokuai_catalog::TaskRecord| task.id;

    // three days ago: 霞山村 checks its visit records, on time, and the township verifies
    at(Duration::zero());
    let verified = id(tasks
        .create(
            &majin,
            task("核查霞山村独居老人走访记录", "visit", "330824116224"),
        )
        .await?);
    at(Duration::minutes(12));
    tasks
        .act(
            &xiashan,
            &verified,
            TaskAction::Accept(note("已安排网格员")),
        )
        .await?;
    at(Duration::days(1));
    tasks
        .act(
            &xiashan,
            &verified,
            TaskAction::Resolve(note("走访记录已补齐")),
        )
        .await?;
    at(Duration::days(1) + Duration::hours(2));
    tasks
        .act(&majin, &verified, TaskAction::Verify(note("核实无误")))
        .await?;

    // two days ago: the county sends 霞山村 to clear its river; the work comes back
    at(Duration::days(1) + Duration::hours(3));
    let returned = id(tasks
        .create(&county, task("清理霞山村河道垃圾", "river", "330824116224"))
        .await?);
    at(Duration::days(1) + Duration::hours(3) + Duration::minutes(5));
    tasks
        .act(&xiashan, &returned, TaskAction::Accept(TaskNote::default()))
        .await?;
    at(Duration::days(2));
    tasks
        .act(&xiashan, &returned, TaskAction::Resolve(note("已清理")))
        .await?;
    at(Duration::days(2) + Duration::hours(1));
    let reason = ReturnRequest {
        reason: "下游仍有漂浮物，请复查".into(),
    };
    tasks
        .act(&county, &returned, TaskAction::Return(reason))
        .await?;

    // yesterday: civil affairs asks 上街村 for visits; nobody there answers in time, so the
    // task goes up to 马金镇, which takes it and reports back
    at(Duration::days(2) + Duration::hours(2));
    let resolved = id(tasks
        .create(&civil, task("补访上街村独居老人", "visit", "330824116201"))
        .await?);
    at(Duration::days(2) + Duration::hours(2) + Duration::minutes(31));
    tasks.escalate_due().await?;
    at(Duration::days(2) + Duration::hours(2) + Duration::minutes(40));
    tasks
        .act(&majin, &resolved, TaskAction::Accept(note("镇里派人前往")))
        .await?;
    at(Duration::days(3) - Duration::hours(2));
    tasks
        .act(&majin, &resolved, TaskAction::Resolve(note("已补访 6 位")))
        .await?;

    // this morning: the county checks 滩头村's subsidy list; in hand
    at(Duration::days(3) - Duration::hours(5));
    let accepted = id(tasks
        .create(
            &county,
            task("核实滩头村低保户信息", "census", "330824117201"),
        )
        .await?);
    at(Duration::days(3) - Duration::hours(5) + Duration::minutes(20));
    tasks
        .act(&county, &accepted, TaskAction::Accept(TaskNote::default()))
        .await?;

    // two hours ago: 星田村 is asked to check its ponds, and nobody has answered: yellow at
    // 30 minutes (马金镇), red at an hour (the county)
    at(Duration::days(3) - Duration::hours(2));
    let mut urgent = task("排查星田村山塘水库隐患", "safety", "330824116202");
    urgent.urgency = tiaokuai_catalog::Urgency::Urgent;
    tasks.create(&majin, urgent).await?;
    at(Duration::days(3) - Duration::hours(2) + Duration::minutes(31));
    tasks.escalate_due().await?;
    at(Duration::days(3) - Duration::hours(2) + Duration::minutes(61));
    tasks.escalate_due().await?;

    // ten minutes ago: 霞山村 is asked for its income ledger; the clock is running
    at(Duration::days(3) - Duration::minutes(10));
    tasks
        .create(
            &majin,
            task("核对霞山村集体经济收入台账", "income", "330824116224"),
        )
        .await?;
    Ok(())
}
