//! The audit chain's signing on the server side, and its offline check.
//!
//! The server signs the chain's newest records with its audit key every few seconds, and once
//! more when it stops (after the answers still ending have written their records), and keeps
//! the newest checkpoint beside the key as the head. The key is `audit.key` in the data
//! directory (made on first start, readable only by the server's user); its public half is
//! written to `audit.pub` for whoever verifies. [`verify`] is `tiaokuai audit verify`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tiaokuai_catalog::Catalog;
use tiaokuai_catalog::chain::{self, AuditKey, AuditPublicKey, Checkpoint, Verification};
use tiaokuai_engine::Engine;

use crate::start::StartError;

/// The signing key's file in the data directory.
pub const KEY_FILE: &str = "audit.key";
/// Its public half, for verifiers.
pub const PUBLIC_KEY_FILE: &str = "audit.pub";
/// The newest checkpoint this server signed.
pub const HEAD_FILE: &str = "audit.head.json";

/// Signs the audit chain of one catalog.
#[derive(Debug)]
pub struct Signer {
    engine: Arc<Engine>,
    key: AuditKey,
    head: PathBuf,
}

impl Signer {
    /// The signer with the key in `data_dir`, made if there is none.
    pub fn open(data_dir: &Path, engine: Arc<Engine>) -> Result<Self, StartError> {
        let key = AuditKey::load_or_create(&data_dir.join(KEY_FILE))?;
        let public = data_dir.join(PUBLIC_KEY_FILE);
        let text = format!("{}\n", key.public().to_hex());
        if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&public, text).map_err(|source| StartError::Io {
                path: public.clone(),
                source,
            })?;
        }
        Ok(Self {
            engine,
            key,
            head: data_dir.join(HEAD_FILE),
        })
    }

    /// Signs the records written since the last checkpoint, if there are any.
    pub async fn sign(&self) -> Result<Option<Checkpoint>, tiaokuai_catalog::CatalogError> {
        let signed = chain::checkpoint(&**self.engine.catalog(), &self.key).await?;
        if let Some(checkpoint) = &signed {
            chain::write_head(&self.head, checkpoint)?;
        }
        Ok(signed)
    }

    /// Signs every `period`, for as long as the process runs.
    pub fn every(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let signer = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = signer.sign().await {
                    tracing::error!(%error, "the audit chain could not be signed");
                }
            }
        })
    }

    /// The last signature before the server stops: once the records of answers still ending
    /// are written.
    pub async fn close(&self) {
        self.engine.flush_audit().await;
        match self.sign().await {
            Ok(Some(checkpoint)) => {
                tracing::info!(
                    checkpoint = checkpoint.number,
                    record = checkpoint.to_seq,
                    "audit chain signed"
                );
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "the audit chain could not be signed"),
        }
    }
}

/// Verifies the chain of the catalog at `catalog`, read-only, against `keys` (the data
/// directory's `audit.pub` if none is given) and the head in the data directory, if any.
pub async fn verify(
    catalog: &Path,
    data_dir: &Path,
    keys: &[String],
) -> Result<Verification, String> {
    let store =
        tiaokuai_catalog::SqliteCatalog::open_read_only(catalog).map_err(|e| e.to_string())?;
    let mut public = Vec::new();
    if keys.is_empty() {
        let path = data_dir.join(PUBLIC_KEY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (the server makes the audit key on its first start); \
                 or name the audit public key with --public-key",
                path.display()
            )
        })?;
        public.push(AuditPublicKey::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    for key in keys {
        let text = match std::fs::read_to_string(key) {
            Ok(text) => text,
            Err(_) => key.clone(),
        };
        public.push(AuditPublicKey::parse(&text).map_err(|e| e.to_string())?);
    }
    let head = chain::read_head(&data_dir.join(HEAD_FILE)).map_err(|e| e.to_string())?;
    let store: &dyn Catalog = &store;
    chain::verify(store, public, head)
        .await
        .map_err(|e| e.to_string())
}
