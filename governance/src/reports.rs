//! Saved reports. A report is named by its name in policy lines (`p, official, 330824106200,
//! reports.village_income, run_report`): `manage_report` in the owner's jurisdiction creates, changes
//! and deletes it; `run_report` anywhere runs it, and a jurisdiction parameter may only name a
//! place where the caller holds `run_report` on it. A caller who may do neither is told the
//! report does not exist. A run is a query **as the caller**: the report's SQL reads through
//! the caller's own policy views, so two officials running one report see their own rows.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tiaokuai_catalog::{
    Catalog, JurisdictionCode, NewReport, ReportContent, ReportParameter, ReportRecord,
};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::params::Bindings;
use tiaokuai_engine::{Caller, Engine, EngineError, QueryOutput, Result};
use tiaokuai_policies::Action;
use utoipa::ToSchema;

use crate::parameters;
use crate::runs::{RunLimits, RunStore};

/// `POST /v1/reports`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "reports.village_income_top10",
    "owner": "330824000000",
    "description": "村集体经济收入前十名",
    "sql": "SELECT jurisdiction_code, total_income FROM village.collective_income WHERE year = $year ORDER BY total_income DESC LIMIT 10",
    "parameters": [{"name": "year", "kind": "integer", "default": 2024}]
}))]
pub struct ReportRequest {
    /// How policy lines name the report: `schema.name`, two lowercase identifiers.
    pub name: String,
    /// The jurisdiction that owns the report; changing it needs `manage_report` there.
    #[schema(value_type = String, pattern = r"^\d{12}$")]
    pub owner: String,
    #[serde(default)]
    pub description: String,
    /// One query; parameters appear in it as `$name`.
    pub sql: String,
    #[serde(default)]
    pub parameters: Vec<ReportParameter>,
}

/// `PUT /v1/reports/{id}`: the next version of a report.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportChange {
    /// The version this change was made from; a report changed since is a conflict.
    #[serde(deserialize_with = "version")]
    #[schema(minimum = 1)]
    pub version: u32,
    #[serde(default)]
    pub description: String,
    pub sql: String,
    #[serde(default)]
    pub parameters: Vec<ReportParameter>,
}

/// `POST /v1/reports/{id}/run`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A value for each parameter by name; one left out takes its default.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Runs this version rather than the newest.
    #[serde(default, deserialize_with = "some_version")]
    #[schema(minimum = 1)]
    pub version: Option<u32>,
}

/// A version number: a whole number, however JSON writes it (`2` or `2.0`).
fn version<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => u32::try_from(n).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
            Some(f as u32)
        }
        _ => None,
    };
    whole.ok_or_else(|| {
        serde::de::Error::custom(format!("a version is a whole number, not {number}"))
    })
}

fn some_version<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    version(deserializer).map(Some)
}

/// The reports service.
#[derive(Debug, Clone)]
pub struct Reports {
    engine: Arc<Engine>,
    runs: Option<Arc<RunStore>>,
}

impl Reports {
    /// Reports without stored runs (what building the demo needs).
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine, runs: None }
    }

    /// Reports whose runs are stored in `runs_dir`, within `limits`; runs a stop interrupted
    /// are marked failed.
    pub async fn open(engine: Arc<Engine>, runs_dir: PathBuf, limits: RunLimits) -> Result<Self> {
        let store = RunStore::open(runs_dir, limits, &**engine.catalog()).await?;
        Ok(Self {
            engine,
            runs: Some(Arc::new(store)),
        })
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub(crate) fn run_store(&self) -> Result<&RunStore> {
        self.runs.as_deref().ok_or_else(|| {
            EngineError::Internal("this service was opened without a runs folder".into())
        })
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.engine.catalog()
    }

    /// Refused unless the caller may change reports of this name in `owner`'s jurisdiction.
    fn require_manage(&self, caller: &Caller, name: &str, owner: &JurisdictionCode) -> Result<()> {
        if self
            .engine
            .allows(caller, name, Action::ManageReport, owner)?
        {
            return Ok(());
        }
        Err(EngineError::PermissionDenied(
            format!("{} may not manage report {name} in {owner}", caller.name()).into(),
        ))
    }

    /// Whether the caller may change the report with this id (false if there is none): what
    /// lets it manage the report's alerts and schedules too.
    pub(crate) async fn manages(&self, caller: &Caller, report_id: &str) -> Result<bool> {
        match self.catalog().report(report_id, None).await? {
            Some(report) => {
                self.engine
                    .allows(caller, &report.name, Action::ManageReport, &report.owner)
            }
            None => Ok(false),
        }
    }

    /// Whether the caller may see the report at all: run it somewhere, or manage it.
    fn may_see(&self, caller: &Caller, report: &ReportRecord) -> Result<bool> {
        let runs = !self
            .engine
            .scope(caller, &report.name, Action::RunReport)?
            .is_empty();
        Ok(runs
            || self
                .engine
                .allows(caller, &report.name, Action::ManageReport, &report.owner)?)
    }

    /// The report, if it exists and the caller may see it; "not found" otherwise, alike.
    pub(crate) async fn visible(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<u32>,
    ) -> Result<ReportRecord> {
        let missing = || EngineError::NotFound(format!("report {id:?}").into());
        let report = self.catalog().report(id, version).await?;
        let latest = match (&report, version) {
            (Some(_), None) | (None, _) => report.clone(),
            (Some(_), Some(_)) => self.catalog().report(id, None).await?,
        };
        match (report, latest) {
            (Some(report), Some(latest)) if self.may_see(caller, &latest)? => Ok(report),
            _ => Err(missing()),
        }
    }

    /// Checks a definition: its parameters, that the SQL is one query, and that it plans as
    /// the caller with every placeholder a parameter of the report.
    async fn check(&self, caller: &Caller, content: &ReportContent) -> Result<()> {
        parameters::check_definitions(&content.parameters)?;
        let statement = tiaokuai_engine::statement::parse_one(
            &content.sql,
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
        )?;
        let is_query = matches!(
            &statement,
            datafusion::sql::parser::Statement::Statement(inner)
                if matches!(inner.as_ref(), datafusion::sql::sqlparser::ast::Statement::Query(_))
        );
        if !is_query {
            return Err(EngineError::BadRequest(
                "a report's SQL is one query (SELECT, WITH or VALUES)".into(),
            ));
        }
        // EXPLAIN plans the query without running it, through the caller's own views
        let bindings = Bindings::Named(parameters::nulls(&content.parameters));
        let explain = format!("EXPLAIN {}", content.sql);
        let planned = self.engine.query_bound(caller, &explain, bindings).await;
        planned.map(drop).map_err(|error| match error {
            EngineError::InvalidSql(m) => {
                EngineError::InvalidSql(format!("the report's SQL does not plan: {m}").into())
            }
            EngineError::NotFound(m) => EngineError::BadRequest(
                format!("the report's SQL does not plan: {m} not found").into(),
            ),
            other => other,
        })
    }

    pub async fn create(&self, caller: &Caller, request: ReportRequest) -> Result<ReportRecord> {
        tiaokuai_catalog::store::validate_report_name(&request.name)?;
        let owner = JurisdictionCode::parse(&request.owner)
            .map_err(|e| EngineError::BadRequest(format!("owner: {e}").into()))?;
        self.require_manage(caller, &request.name, &owner)?;
        if !self.catalog().has_jurisdiction(&owner).await? {
            return Err(EngineError::BadRequest(
                format!("owner: {owner} is not in the jurisdiction tree").into(),
            ));
        }
        let content = ReportContent {
            description: request.description,
            sql: request.sql,
            parameters: request.parameters,
        };
        self.check(caller, &content).await?;
        let new = NewReport {
            name: request.name,
            owner,
            content,
            created_by: caller.name().to_owned(),
        };
        Ok(self.catalog().insert_report(new).await?)
    }

    /// The reports the caller may run or manage, at their newest versions.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<ReportRecord>> {
        let mut seen = Vec::new();
        for report in self.catalog().reports().await? {
            if self.may_see(caller, &report)? {
                seen.push(report);
            }
        }
        Ok(seen)
    }

    pub async fn get(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<u32>,
    ) -> Result<ReportRecord> {
        self.visible(caller, id, version).await
    }

    /// Every version, oldest first.
    pub async fn versions(&self, caller: &Caller, id: &str) -> Result<Vec<ReportRecord>> {
        self.visible(caller, id, None).await?;
        Ok(self.catalog().report_versions(id).await?)
    }

    /// Stores the next version, after checking it as a new report is checked.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        change: ReportChange,
    ) -> Result<ReportRecord> {
        let current = self.visible(caller, id, None).await?;
        self.require_manage(caller, &current.name, &current.owner)?;
        let content = ReportContent {
            description: change.description,
            sql: change.sql,
            parameters: change.parameters,
        };
        self.check(caller, &content).await?;
        for schedule in self.catalog().schedules().await? {
            if schedule.report_id != current.id {
                continue;
            }
            let everywhere = tiaokuai_policies::Scope::all();
            if let Err(error) =
                parameters::bind(&content.parameters, &schedule.parameters, &everywhere)
            {
                return Err(EngineError::Conflict(
                    format!(
                        "schedule {} ({}) runs the report with parameters the change no longer takes: {error}",
                        schedule.id, schedule.name
                    )
                    .into(),
                ));
            }
        }
        Ok(self
            .catalog()
            .update_report(id, change.version, content, caller.name())
            .await?)
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let current = self.visible(caller, id, None).await?;
        self.require_manage(caller, &current.name, &current.owner)?;
        Ok(self.catalog().delete_report(id, caller.name()).await?)
    }

    /// Runs a report as the caller, audited like a query and naming the report and version.
    pub async fn run(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        id: &str,
        request: RunRequest,
    ) -> Result<QueryOutput> {
        let report = self.visible(caller, id, request.version).await?;
        self.run_version(caller, trace, &report, &request.parameters)
            .await
    }

    /// Runs a report version the caller may see, with `given` parameter values.
    pub(crate) async fn run_version(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        report: &ReportRecord,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<QueryOutput> {
        let scope = self.engine.scope(caller, &report.name, Action::RunReport)?;
        if scope.is_empty() {
            return Err(EngineError::PermissionDenied(
                format!("{} may not run report {}", caller.name(), report.name).into(),
            ));
        }
        let values = parameters::bind(&report.parameters, given, &scope)?;
        let context = json!({"report": report.id, "report_version": report.version});
        self.engine
            .audited_query_bound(caller, trace, &report.sql, Bindings::Named(values), context)
            .await
    }
}
