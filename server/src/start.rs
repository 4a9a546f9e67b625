//! Start-up: the catalog, the bootstrap admin, the engine, the listener.

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tiaokuai_catalog::{Catalog, SqliteCatalog};
use tiaokuai_engine::{Engine, EngineConfig, EngineError};
use tiaokuai_policies::ADMIN_ROLE;
use tokio::net::TcpListener;

use crate::http::{self, AppState, Limits};

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// The catalog file; by default `catalog.db` in the data directory.
    pub catalog: Option<PathBuf>,
    /// The token that authenticates `admin`.
    pub admin_token: Option<String>,
    pub engine: EngineConfig,
    pub limits: Limits,
    /// How long a stored run of a report is kept, and how large its result may be.
    pub runs: tiaokuai_governance::RunLimits,
    /// The time deadlines and escalations keep: the system's, unless a test moves it by hand.
    pub clock: Arc<dyn tiaokuai_governance::Clock>,
    /// How often the audit chain's newest records are signed.
    pub audit_checkpoint_every: std::time::Duration,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let engine = EngineConfig {
            spill_dir: data_dir.join(SPILL_DIR),
            ..EngineConfig::default()
        };
        Self {
            data_dir,
            catalog: None,
            admin_token: None,
            engine,
            limits: Limits::default(),
            runs: tiaokuai_governance::RunLimits::default(),
            clock: Arc::new(tiaokuai_governance::SystemClock),
            audit_checkpoint_every: std::time::Duration::from_secs(10),
        }
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.catalog
            .clone()
            .unwrap_or_else(|| self.data_dir.join(CATALOG_FILE))
    }

    /// The same configuration with every path made absolute, once, against the working
    /// directory at start: the catalog stores absolute file URLs, and a relative data
    /// directory (the default `./data`) must give the same ones wherever they are derived.
    /// Symbolic links are resolved, so that the paths the server keeps private are the real
    /// ones.
    pub fn resolved(&self) -> Result<Self, StartError> {
        let spill_default = self.engine.spill_dir == self.data_dir.join(SPILL_DIR);
        let mut resolved = self.clone();
        resolved.data_dir = absolute(&self.data_dir)?;
        resolved.catalog = self.catalog.as_deref().map(absolute).transpose()?;
        resolved.engine.spill_dir = if spill_default {
            resolved.data_dir.join(SPILL_DIR)
        } else {
            absolute(&self.engine.spill_dir)?
        };
        Ok(resolved)
    }

    /// Paths that no source registered by a non-admin may read: the data directory (keys,
    /// tokens, demo data), the catalog and the spill directory.
    pub fn private_paths(&self) -> Vec<PathBuf> {
        let catalog = self.catalog_path();
        let mut paths = vec![
            self.data_dir.clone(),
            self.engine.spill_dir.clone(),
            catalog.clone(),
        ];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = catalog.as_os_str().to_owned();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
        paths
    }
}

/// The catalog file's name in the data directory.
pub const CATALOG_FILE: &str = "catalog.db";
/// The spill directory's name in the data directory.
pub const SPILL_DIR: &str = "spill";

/// `path` made absolute, with symbolic links resolved as far as the path exists.
fn absolute(path: &Path) -> Result<PathBuf, StartError> {
    let io = |source| StartError::Io {
        path: path.to_owned(),
        source,
    };
    let full = std::path::absolute(path).map_err(io)?;
    // resolve the longest existing ancestor, then append the rest as given
    let mut existing = full.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                let mut resolved = real;
                resolved.extend(rest.iter().rev());
                return Ok(resolved);
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Ok(full),
            },
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog: {0}")]
    Catalog(#[from] tiaokuai_catalog::CatalogError),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("demo: {0}")]
    Demo(String),
    /// A server key file exists but is not a key.
    #[error(
        "{0} is not a 32-byte key; remove it to have a new one made (what it sealed is then lost)"
    )]
    BadKey(PathBuf),
}

pub(crate) fn create_dir(path: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(path).map_err(|source| StartError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Opens the catalog file, creating the data directory if needed.
pub fn open_catalog(config: &ServerConfig) -> Result<Arc<dyn Catalog>, StartError> {
    let config = &config.resolved()?;
    create_dir(&config.data_dir)?;
    crate::demo::recover(&config.data_dir)?;
    let path = config.catalog_path();
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    Ok(Arc::new(SqliteCatalog::open(&path)?))
}

/// Makes `admin` exist, hold the admin role everywhere, and answer to the bootstrap token.
pub async fn bootstrap_admin(catalog: &dyn Catalog, token: Option<&str>) -> Result<(), StartError> {
    let admin = catalog.ensure_principal("admin").await?;
    catalog
        .assign_role("admin", ADMIN_ROLE, "*", "system")
        .await?;
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        catalog.set_bootstrap_token(&admin.id, token).await?;
    }
    Ok(())
}

/// A server key in `<data-dir>/<name>`, made with 256 random bits on first start and readable
/// only by the server's user: `mask.key` for the keyed-hash mask, `secret.key` for sealing
/// secrets given inline.
fn server_key(data_dir: &Path, name: &str) -> Result<Vec<u8>, StartError> {
    let path = data_dir.join(name);
    let io = |source| StartError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(key) if key.len() == 32 => return Ok(key),
        Ok(_) => return Err(StartError::BadKey(path)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    let mut key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path).map_err(io)?, &key).map_err(io)?;
    Ok(key)
}

/// The folder of stored run results, inside the data directory (so no source may read it).
pub const RUNS_DIR: &str = "runs";

/// Opens everything the API needs.
pub async fn open(config: &ServerConfig) -> Result<AppState, StartError> {
    let engine = open_engine(config).await?;
    let data_dir = config.resolved()?.data_dir;
    let signer = Arc::new(crate::audit::Signer::open(&data_dir, engine.clone())?);
    signer.every(
        config
            .audit_checkpoint_every
            .max(std::time::Duration::from_millis(100)),
    );
    let runs = data_dir.join(RUNS_DIR);
    let clock = config.clock.clone();
    let governance = tiaokuai_governance::Service::open(engine.clone(), runs, config.runs, clock);
    let governance = Arc::new(governance.await?);
    let mut state = AppState::new(engine, governance, config.limits.clone());
    state.audit = Some(signer);
    Ok(state)
}

/// Opens the catalog and builds the engine over it, with the server's keys.
pub async fn open_engine(config: &ServerConfig) -> Result<Arc<Engine>, StartError> {
    let config = &config.resolved()?;
    let catalog = open_catalog(config)?;
    bootstrap_admin(&*catalog, config.admin_token.as_deref()).await?;
    create_dir(&config.engine.spill_dir)?;
    let mut engine_config = config.engine.clone();
    if engine_config.mask_key.is_empty() {
        engine_config.mask_key = server_key(&config.data_dir, "mask.key")?;
    }
    engine_config.private_paths = config.private_paths();
    if engine_config.secret_key.is_empty() {
        engine_config.secret_key = server_key(&config.data_dir, "secret.key")?;
    }
    Ok(Arc::new(Engine::new(catalog, engine_config).await?))
}

/// Serves the API on `listener` until the process is asked to stop (SIGTERM or Ctrl-C): then
/// no new connection is taken, and the requests running have `grace` to finish before the
/// server stops anyway. Whatever they wrote to the catalog is written already (each change is
/// its own transaction), and a run cut short is marked failed at the next start. Last, the
/// audit records of the answers that ended are written and the chain is signed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        stop_requested().await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "stopping: no new connections; running requests may finish"
        );
        let _ = stopping.send(());
    };
    let audit = state.audit.clone();
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    let served = tokio::select! {
        served = server => served,
        () = async {
            if stopped.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!("the grace period ended with requests still running; they are cut");
            Ok(())
        }
    };
    if let Some(audit) = audit {
        audit.close().await;
    }
    served
}

/// Resolves when the process is asked to stop.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(error) => tracing::warn!(%error, "SIGTERM cannot be handled; Ctrl-C still stops"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
