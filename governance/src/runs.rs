//! Stored runs: a report run whose result is kept, as Parquet in the server's runs folder with
//! its SHA-256, to be fetched later in any format. A run is recorded when it starts and when
//! it ends, and never changes after; a run that a stopping server interrupts is marked failed
//! when the server starts again. Only the principal who ran it (and admin) may see a run or
//! its result, since its rows are what that principal's policy gave; a run a schedule narrowed
//! to one township is also shown to whoever there would get every row of it anyway.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tiaokuai_catalog::{Catalog, NewRun, ReportRecord, RunOutcome, RunRecord, RunStatus, token};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::{Caller, EngineError, Message, QueryOutput, Result};
use tiaokuai_policies::Action;
use tokio::io::AsyncReadExt;

use crate::reports::{Reports, RunRequest};

/// What stored runs may take.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// How long a finished run is kept.
    pub retention: std::time::Duration,
    /// The largest result a run may store; a larger one fails the run.
    pub max_result_bytes: u64,
}

impl Default for RunLimits {
    /// 90 days, 256 MiB.
    fn default() -> Self {
        Self {
            retention: std::time::Duration::from_secs(90 * 86_400),
            max_result_bytes: 256 << 20,
        }
    }
}

/// The error a run interrupted by a stopping server is marked with.
const INTERRUPTED: &str = "interrupted: the server stopped while the run was in progress";

/// The runs folder: one `<run id>.parquet` a finished run, `.partial` while it is written.
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
    limits: RunLimits,
}

fn io(what: &str, error: std::io::Error) -> EngineError {
    EngineError::Internal(Message::caused_by(format!("runs: {what}"), error))
}

impl RunStore {
    /// Opens the folder, and marks failed every run a stop interrupted, removing its partial
    /// result.
    pub async fn open(dir: PathBuf, limits: RunLimits, catalog: &dyn Catalog) -> Result<Self> {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("creating the runs folder", e))?;
        let interrupted = catalog.fail_running_runs(INTERRUPTED).await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "runs interrupted by the last stop are marked failed"
            );
        }
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| io("listing the runs folder", e))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io("listing the runs folder", e))?
        {
            if entry.path().extension().is_some_and(|e| e == "partial") {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        let store = Self { dir, limits };
        store.expire(catalog).await?;
        Ok(store)
    }

    /// Deletes the runs that finished longer than the retention ago, with their results.
    pub async fn expire(&self, catalog: &dyn Catalog) -> Result<usize> {
        let kept =
            chrono::Duration::from_std(self.limits.retention).unwrap_or(chrono::Duration::MAX);
        let before = chrono::Utc::now()
            .checked_sub_signed(kept)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let before = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let files = catalog.expire_runs(&before).await?;
        for file in &files {
            if let Err(error) = tokio::fs::remove_file(self.path(file)).await
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%file, %error, "an expired run's result could not be removed");
            }
        }
        if !files.is_empty() {
            tracing::info!(
                expired = files.len(),
                "runs past their retention are deleted"
            );
        }
        Ok(files.len())
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// Writes a query's answer as Parquet to `path`, up to `max_bytes`: its rows and bytes.
async fn write(output: QueryOutput, path: &Path, max_bytes: u64) -> Result<(u64, u64)> {
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io("creating a result file", e))?;
    let failed = |e: datafusion::parquet::errors::ParquetError| {
        EngineError::Internal(Message::caused_by("runs: writing a result", e))
    };
    let mut writer =
        AsyncArrowWriter::try_new(file, output.schema.clone(), None).map_err(failed)?;
    let mut rows = 0u64;
    let mut stream = output.stream;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(EngineError::from)?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await.map_err(failed)?;
        if writer.bytes_written() as u64 + writer.in_progress_size() as u64 > max_bytes {
            return Err(EngineError::ResourcesExhausted(
                format!("the run's result is over {max_bytes} bytes, the most a run stores").into(),
            ));
        }
    }
    writer.close().await.map_err(failed)?;
    let bytes = tokio::fs::metadata(path)
        .await
        .map_err(|e| io("reading a result's size", e))?
        .len();
    Ok((rows, bytes))
}

async fn sha256(path: &Path) -> Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io("opening a result", e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|e| io("reading a result", e))?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

impl Reports {
    /// Runs a report as the caller and stores its result: the finished run.
    pub async fn store_run(
        &self,
        caller: &Caller,
        id: &str,
        request: RunRequest,
    ) -> Result<RunRecord> {
        let report = self.visible(caller, id, request.version).await?;
        let run_id = token::new_id("run");
        self.store_run_of(caller, &report, &request.parameters, None, run_id)
            .await
    }

    /// Runs a report version as the caller (narrowed, for a fanned-out schedule) and stores
    /// its result as run `run_id`; a run that fails is recorded as failed under that id.
    pub(crate) async fn store_run_of(
        &self,
        caller: &Caller,
        report: &ReportRecord,
        given: &serde_json::Map<String, serde_json::Value>,
        schedule_id: Option<&str>,
        run_id: String,
    ) -> Result<RunRecord> {
        let store = self.run_store()?;
        let protocol = if schedule_id.is_some() {
            "schedule"
        } else {
            "http"
        };
        let trace = QueryTrace::internal(&run_id, "parquet", protocol);
        let parameters = crate::parameters::effective(&report.parameters, given);
        let policy_version = self.engine().policy_version();
        let catalog = self.engine().catalog();
        let freshness = self.engine().freshness(caller, &report.sql).await;
        catalog
            .insert_run(NewRun {
                id: run_id.clone(),
                report_id: report.id.clone(),
                report_version: report.version,
                parameters,
                principal: caller.name().to_owned(),
                policy_version,
                schedule_id: schedule_id.map(str::to_owned),
                scope: caller.within.clone(),
                freshness,
            })
            .await?;
        let output = match self.run_version(caller, trace, report, given).await {
            Ok(output) => output,
            Err(error) => return Err(self.failed(&run_id, error).await),
        };
        let partial = store.path(&format!("{run_id}.partial"));
        let file = format!("{run_id}.parquet");
        let written = match write(output, &partial, store.limits.max_result_bytes).await {
            Ok((rows, bytes)) => tokio::fs::rename(&partial, store.path(&file))
                .await
                .map_err(|e| io("keeping a result", e))
                .map(|()| (rows, bytes)),
            Err(error) => Err(error),
        };
        let outcome = match written {
            Ok((row_count, bytes)) => match sha256(&store.path(&file)).await {
                Ok(sha256) => Ok(RunOutcome::Succeeded {
                    row_count,
                    bytes,
                    result: file,
                    sha256,
                }),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match outcome {
            Ok(outcome) => {
                let finished = catalog.finish_run(&run_id, outcome).await?;
                if let Err(error) = store.expire(&**catalog).await {
                    tracing::warn!(%error, "expired runs could not be deleted");
                }
                Ok(finished)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(self.failed(&run_id, error).await)
            }
        }
    }

    /// Records a run as failed with what its caller is told; returns the error.
    async fn failed(&self, run_id: &str, error: EngineError) -> EngineError {
        let failed = RunOutcome::Failed {
            error: error.public_message(),
        };
        if let Err(record) = self.engine().catalog().finish_run(run_id, failed).await {
            tracing::warn!(run = %run_id, error = %record, "a failed run could not be recorded");
        }
        error
    }

    /// Whether the caller may read a stored run: its principal and admin may; so may, for a
    /// run a schedule narrowed to one jurisdiction, whoever may run the report there and whose
    /// own policy gives it every row and unmasked value the run's principal got there (under
    /// the policy the run was decided by: after a policy change, only the principal and admin).
    async fn may_read_run(&self, caller: &Caller, run: &RunRecord) -> Result<bool> {
        if caller.is_admin() || run.principal == caller.name() {
            return Ok(true);
        }
        let Some(scope) = &run.scope else {
            return Ok(false);
        };
        let engine = self.engine();
        if run.policy_version != engine.policy_version() {
            return Ok(false);
        }
        let catalog = engine.catalog();
        let Some(report) = catalog
            .report(&run.report_id, Some(run.report_version))
            .await?
        else {
            return Ok(false);
        };
        if !engine
            .scope(caller, &report.name, Action::RunReport)?
            .allows(scope.as_str())
        {
            return Ok(false);
        }
        let Some(runner) = Caller::named(&**catalog, &run.principal).await? else {
            return Ok(false);
        };
        engine.sees_at_least(caller, &runner.narrowed_to(scope), &report.sql)
    }

    /// A stored run, if the caller may read it; "not found" otherwise, alike.
    pub async fn stored_run(&self, caller: &Caller, run_id: &str) -> Result<RunRecord> {
        let run = self.engine().catalog().run(run_id).await?;
        match run {
            Some(run) if self.may_read_run(caller, &run).await? => Ok(run),
            _ => Err(EngineError::NotFound(format!("run {run_id:?}").into())),
        }
    }

    /// The runs of a report the caller may read (every run, for admin), newest first.
    pub async fn stored_runs(&self, caller: &Caller, id: &str) -> Result<Vec<RunRecord>> {
        self.visible(caller, id, None).await?;
        let mut readable = Vec::new();
        for run in self.engine().catalog().runs_of(id).await? {
            if self.may_read_run(caller, &run).await? {
                readable.push(run);
            }
        }
        Ok(readable)
    }

    /// A finished run's stored result, as a stream of its rows.
    pub async fn run_result(&self, caller: &Caller, run_id: &str) -> Result<QueryOutput> {
        let run = self.stored_run(caller, run_id).await?;
        self.open_result(&run).await
    }

    /// The stored result of a run, whoever asks: for governance's own reading of it.
    pub(crate) async fn open_result(&self, run: &RunRecord) -> Result<QueryOutput> {
        let store = self.run_store()?;
        let run_id = &run.id;
        let file = match (run.status, &run.result) {
            (RunStatus::Succeeded, Some(file)) => file.clone(),
            (RunStatus::Running, _) => {
                return Err(EngineError::Conflict(
                    format!("run {run_id:?} has not finished").into(),
                ));
            }
            _ => {
                return Err(EngineError::Conflict(
                    format!("run {run_id:?} failed and has no result").into(),
                ));
            }
        };
        let opened = tokio::fs::File::open(store.path(&file))
            .await
            .map_err(|e| io("opening a result", e))?;
        let builder = ParquetRecordBatchStreamBuilder::new(opened)
            .await
            .map_err(|e| EngineError::Internal(Message::caused_by("runs: reading a result", e)))?;
        let schema: SchemaRef = builder.schema().clone();
        let stream = builder
            .build()
            .map_err(|e| EngineError::Internal(Message::caused_by("runs: reading a result", e)))?
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)));
        Ok(QueryOutput {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        })
    }
}
