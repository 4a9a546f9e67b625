//! [`Engine`]: queries, and the tables they read.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;
use tiaokuai_catalog::Catalog;
use tiaokuai_connectors::database::Requester;
use tiaokuai_connectors::secret::SealKey;
use tiaokuai_policies::{Caller, PolicyPoint};
use tokio::time::Instant;
use tracing::Instrument;

use crate::admission::Admission;
use crate::admission::RoleGroup;
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::limits::memory::QueryPool;
use crate::limits::runner::QueryRuntime;
use crate::limits::values::QueryValues;
use crate::masks::KeyedHash;
use crate::params::Bindings;
use crate::registry::{CatalogSnapshot, TableInfo, TableRegistry};
use crate::session::{CATALOG_NAME, CallerCatalogs, CallerView, DEFAULT_SCHEMA};
use crate::traces::QuerySpans;
use crate::{explain, limits, metadata, params, policy, statement, verify};

/// The query engine. One per server; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) base: SessionState,
    registry: RwLock<Arc<TableRegistry>>,
    /// `governance.*`: read from the catalog at each scan, the same in every registry.
    governance_tables: Vec<crate::registry::TableEntry>,
    /// One registry rebuild at a time, from reading the catalog to installing the result.
    registry_reloads: tokio::sync::Mutex<()>,
    pub(crate) policies: Arc<PolicyPoint>,
    mask_hash: Arc<ScalarUDF>,
    table_functions: Arc<BTreeSet<String>>,
    pub(crate) seal_key: Option<SealKey>,
    pub(crate) admission: Arc<Admission>,
    pub(crate) telemetry: Arc<crate::telemetry::Telemetry>,
    pub(crate) running: Arc<crate::running::Running>,
    pub(crate) config: EngineConfig,
    runner: QueryRuntime,
    /// The audit records of answers that ended, being written.
    pub(crate) audit_writes: tokio_util::task::TaskTracker,
}

/// A running query. Its first batch has already been computed, so errors that happen while a
/// query starts (planning, a missing source, a timeout, a memory limit) arrive as an `Err` from
/// [`Engine::query`] rather than in the middle of a response.
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
}

impl std::fmt::Debug for QueryOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryOutput")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the shared runtime and loads every table and the policy from the catalog.
    pub async fn new(catalog: Arc<dyn Catalog>, config: EngineConfig) -> Result<Self> {
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(config.memory_limit),
            NonZeroUsize::new(5).expect("non-zero"),
        );
        let mut runtime = RuntimeEnvBuilder::new();
        // DataFusion keeps file listings forever by default; sources gain files, so they expire
        runtime = if config.listing_cache_ttl.is_zero() {
            runtime.with_object_list_cache_limit(0)
        } else {
            runtime.with_object_list_cache_ttl(Some(config.listing_cache_ttl))
        };
        let runtime = runtime
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![config.spill_dir.clone()])),
            )
            .build_arc()?;
        let session_config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            .with_target_partitions(config.target_partitions.max(1))
            // 2.5 is a decimal, as in PostgreSQL, not a double
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
        let mut base = SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime)
            .with_default_features()
            // sub-plans over one database go to it, where that gives the same answer
            .with_optimizer_rules(tiaokuai_connectors::database::optimizer_rules())
            .with_query_planner(Arc::new(crate::planner::Planner))
            .with_analyzer_rule(Arc::new(crate::checked::CheckedIntegers))
            .with_analyzer_rule(Arc::new(crate::semantics::SqlSemantics))
            .build();
        crate::semantics::register_functions(&mut base)?;
        limits::install(&mut base, config.max_value_bytes as u64)?;
        let seal_key = match config.secret_key.as_slice() {
            [] => None,
            bytes => Some(SealKey::new(bytes)?),
        };
        let snapshot = CatalogSnapshot::load(&*catalog).await?;
        let mut governance_tables = crate::governance_tables::tables(&catalog);
        governance_tables.push(crate::audit::access_log::entry(&catalog));
        let registry = TableRegistry::build(
            &snapshot,
            base.runtime_env(),
            seal_key.as_ref(),
            &config.private_paths,
            None,
        )?
        .serving(&governance_tables);
        let (rules, assignments) = policy::stored(&*catalog).await?;
        let policies = PolicyPoint::new(rules, assignments)
            .await
            .map_err(policy::failed)?;
        let table_functions = Arc::new(base.table_functions().keys().cloned().collect());
        Ok(Self {
            catalog,
            table_functions,
            base,
            registry: RwLock::new(Arc::new(registry)),
            governance_tables,
            registry_reloads: tokio::sync::Mutex::new(()),
            policies: Arc::new(policies),
            mask_hash: KeyedHash::udf(&config.mask_key),
            seal_key,
            admission: Admission::with_groups(
                config.max_queries_per_principal,
                config.default_group,
                &config.role_groups,
            ),
            telemetry: Arc::default(),
            running: Arc::default(),
            runner: QueryRuntime::new(config.target_partitions)?,
            audit_writes: tokio_util::task::TaskTracker::new(),
            config,
        })
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    pub(crate) fn registry(&self) -> Arc<TableRegistry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rebuilds the served tables from the catalog; queries already running keep theirs.
    /// Rebuilds take turns and read the catalog inside their turn, so a slow rebuild never
    /// installs an older state over a newer one.
    pub async fn reload(&self) -> Result<()> {
        let _turn = self.registry_reloads.lock().await;
        let previous = self.registry();
        let snapshot = CatalogSnapshot::load(&*self.catalog).await?;
        let fresh = Arc::new(
            TableRegistry::build(
                &snapshot,
                self.base.runtime_env(),
                self.seal_key.as_ref(),
                &self.config.private_paths,
                Some(&previous),
            )?
            .serving(&self.governance_tables),
        );
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        // cached decisions name the sensitive columns they were compiled for, so none is
        // served for a changed table; this only frees them
        self.policies.forget();
        Ok(())
    }

    pub(crate) fn view_for(&self, caller: &Caller) -> CallerView {
        CallerView {
            registry: self.registry(),
            caller: Arc::new(caller.clone()),
            policy: self.policies.snapshot(),
            mask_hash: self.mask_hash.clone(),
            table_functions: self.table_functions.clone(),
        }
    }

    /// The most stack a query thread has used, in bytes (see [`QueryRuntime::stack_high_water`]).
    pub fn query_stack_high_water(&self) -> Option<usize> {
        self.runner.stack_high_water()
    }

    /// The live state of a database source: its last statement's outcome and how many run.
    pub fn source_state(&self, id: &str) -> Option<tiaokuai_connectors::database::SourceState> {
        self.registry().database(id).map(|d| d.state())
    }

    /// The tables the caller may read.
    pub fn tables_for(&self, caller: &Caller) -> Vec<TableInfo> {
        let view = self.view_for(caller);
        view.registry
            .entries()
            .filter(|entry| view.visible(entry))
            .map(|entry| entry.info.clone())
            .collect()
    }

    /// A session whose catalog holds only what this caller may read, and which names the
    /// caller to the database sources it reads (they share their slots among principals).
    /// Under a memory limit of the caller's group, the query reserves its memory through a
    /// pool of its own within the shared one.
    fn session_for(&self, view: CallerView, group: Option<&RoleGroup>) -> Result<SessionState> {
        let requester = Requester(view.caller.name().to_owned());
        let catalogs = CallerCatalogs::new(view);
        let config = self
            .base
            .config()
            .clone()
            .with_extension(Arc::new(requester));
        let mut builder = SessionStateBuilder::new_from_existing(self.base.clone())
            .with_config(config)
            .with_catalog_list(Arc::new(catalogs));
        if let Some((memory, group)) = group.and_then(|g| g.memory().map(|m| (m, g))) {
            let shared = self.base.runtime_env();
            let pool = QueryPool::new(shared.memory_pool.clone(), memory, group.name().clone());
            let runtime = RuntimeEnvBuilder::from_runtime_env(shared)
                .with_memory_pool(Arc::new(pool))
                .build_arc()?;
            builder = builder.with_runtime_env(runtime);
        }
        Ok(builder.build())
    }

    /// Runs one SQL statement for a caller, with `params` bound to `$1…`. The query counts
    /// against the caller's limit of running queries until its stream is dropped.
    pub async fn query(
        &self,
        caller: &Caller,
        sql: &str,
        params: &[serde_json::Value],
    ) -> Result<QueryOutput> {
        self.query_bound(caller, sql, Bindings::Positional(params.to_vec()))
            .await
    }

    /// Runs one SQL statement for a caller with its placeholders bound to `bindings`.
    pub async fn query_bound(
        &self,
        caller: &Caller,
        sql: &str,
        bindings: Bindings,
    ) -> Result<QueryOutput> {
        self.run_query(caller, sql, bindings, None).await
    }

    /// Runs a statement as [`Engine::query_bound`] does. An audited query is traced: its
    /// `plan` and `execute` spans (and its sources' statements under `execute`) carry its id,
    /// under the span the call runs in; and the tables it names are told once it is parsed.
    pub(crate) async fn run_query(
        &self,
        caller: &Caller,
        sql: &str,
        bindings: Bindings,
        audited: Option<Audited<'_>>,
    ) -> Result<QueryOutput> {
        // a role group may give its queries less time than the server's limit
        let group = self.admission.group_of(caller);
        let timeout = group
            .as_ref()
            .and_then(RoleGroup::timeout)
            .map_or(self.config.query_timeout, |t| {
                t.min(self.config.query_timeout)
            });
        let deadline = Instant::now() + timeout;
        let ticket = self
            .admission
            .admit(caller.name(), group.as_ref(), deadline)
            .await?;
        let view = self.view_for(caller);
        let registry = view.registry.clone();
        let mut state = self.session_for(view, group.as_ref())?;
        // before the start is marked, which keeps the configuration the query's expressions see
        QueryValues::install(&mut state);
        // now() and current_date are read from the query's start
        state.mark_start_execution();
        let restricted = (!caller.is_admin()).then_some(registry);
        let (sql, params, caller) = (sql.to_owned(), bindings, caller.clone());
        let max_depth = self.config.max_expression_depth;
        let spans = QuerySpans::new(audited.map(|a| (a.query_id, a.span)));
        let named = audited.map(|a| a.named.clone());
        // parsing, planning and execution all run on the query threads (see limits::runner)
        let work = async move {
            let planned = async {
                let parsed = statement::parse_one(&sql, &GenericDialect {});
                if let Some(named) = named {
                    let _ = named.set(parsed.as_ref().ok().and_then(statement::tables_of));
                }
                let statement = parsed?;
                statement::check(&statement, &caller, max_depth)?;
                Self::plan(state, statement, &params, restricted).await
            }
            .instrument(spans.plan())
            .await?;
            Ok(match planned {
                Planned::Answered(schema, stream) => (schema, stream),
                Planned::Physical(state, physical) => Self::execute(*state, physical, spans)?,
            })
        };
        let (schema, stream) = self.runner.run(deadline, timeout, work).await?;
        // the stream holds the caller's ticket: dropping it ends the query's turn
        let body = stream.map(move |batch| {
            let _running = &ticket;
            batch
        });
        Ok(QueryOutput {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, body)),
        })
    }

    /// Plans a statement; a restricted caller's EXPLAIN is answered here.
    async fn plan(
        state: SessionState,
        statement: Statement,
        params: &Bindings,
        restricted: Option<Arc<TableRegistry>>,
    ) -> Result<Planned> {
        if let (Some(registry), Statement::Explain(explain)) = (&restricted, &statement) {
            // a restricted caller's EXPLAIN prints nothing from below the policy barriers
            let answer = explain::sealed(&state, explain, params, |plan| {
                restricted_plan(plan, registry)
            })
            .await?;
            let schema = answer.schema();
            let stream =
                RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(answer)]));
            return Ok(Planned::Answered(schema, Box::pin(stream)));
        }
        let plan = state.statement_to_plan(statement).await?;
        if let Some(registry) = restricted {
            restricted_plan(&plan, &registry)?;
        }
        let plan = params::bind(plan, params)?;
        let physical = state.create_physical_plan(&plan).await?;
        Ok(Planned::Physical(Box::new(state), physical))
    }

    /// Starts a planned query.
    fn execute(
        mut state: SessionState,
        physical: Arc<dyn ExecutionPlan>,
        spans: QuerySpans,
    ) -> Result<(SchemaRef, SendableRecordBatchStream)> {
        let schema = physical.schema();
        QueryValues::executing(&state);
        // the sources' statements are spans of the query's `execute`, which ends with its answer
        let executing = spans.execute(&mut state);
        let stream = execute_stream(physical, state.task_ctx())?;
        // the span lasts as long as the query's stream (its sources hold it too, as their
        // statements' parent), so it ends when the answer's last batch has been taken
        let stream = stream.map(move |batch| {
            let _span = &executing;
            batch
        });
        Ok((
            schema.clone(),
            Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        ))
    }
}

/// What an audited query is named by, and where it tells the tables it names (as
/// [`statement::tables_of`] gives them) once it is parsed on its own threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Audited<'a> {
    pub query_id: &'a str,
    /// The query's span, the parent of its `plan` and `execute`.
    pub span: &'a tracing::Span,
    pub named: &'a Arc<std::sync::OnceLock<Option<BTreeSet<String>>>>,
}

/// A planned statement: its physical plan, or (a restricted caller's EXPLAIN) its answer.
enum Planned {
    Physical(Box<SessionState>, Arc<dyn ExecutionPlan>),
    Answered(SchemaRef, SendableRecordBatchStream),
}

/// What a restricted caller's plan may not do: read a base table past its view, change
/// anything, or read the server's settings.
fn restricted_plan(plan: &LogicalPlan, registry: &TableRegistry) -> Result<()> {
    verify::no_base_tables(plan, registry)?;
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| EngineError::PermissionDenied(e.strip_backtrace().into()))?;
    metadata::no_server_settings(plan)
}
