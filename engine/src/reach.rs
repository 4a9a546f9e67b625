//! Grants, and the [`Confinement`] of sources registered by non-admins.
//!
//! A department that may register sources names locations the server will open. Admin grants
//! each jurisdiction the folders, buckets, hosts and secret namespaces its departments may
//! use (`/v1/grants`); a source registered by anyone but admin is confined to its owner's
//! grants at registration and on every use afterwards, so revoking a grant takes effect at
//! the next query.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tiaokuai_catalog::{Catalog, GrantRecord, JurisdictionCode, SourceRecord};
use tiaokuai_connectors::reach::{Grant, Reach};
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Message, Result};

/// `POST /v1/grants`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The jurisdiction whose sources may use the location.
    #[schema(value_type = JurisdictionCode)]
    pub jurisdiction: String,
    /// `path` (a local folder), `s3` (a bucket or prefix), `host` (`host` or `host:port`),
    /// `env` (a prefix of environment variable names) or `secret_file` (a folder of secret files).
    #[schema(schema_with = grant_kind_schema)]
    pub kind: String,
    pub location: String,
}

fn grant_kind_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["path", "s3", "host", "env", "secret_file"]))
        .build()
}

/// What confined sources may reach: admin's grants, and the server's own paths, which no
/// grant opens.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    grants: Vec<GrantRecord>,
    private: Vec<PathBuf>,
}

impl Confinement {
    pub fn new(grants: Vec<GrantRecord>, private: &[PathBuf]) -> Self {
        Self {
            grants,
            private: private.to_vec(),
        }
    }

    pub async fn load(catalog: &dyn Catalog, private: &[PathBuf]) -> Result<Self> {
        Ok(Self::new(catalog.grants().await?, private))
    }

    /// What sources owned by `owner` may reach. A stored grant that no longer parses is left
    /// out (and logged): it can only narrow what is reachable.
    pub fn reach(&self, owner: &JurisdictionCode) -> Arc<Reach> {
        let grants = self
            .grants
            .iter()
            .filter(|g| g.jurisdiction == *owner)
            .filter_map(|g| match Grant::parse(&g.kind, &g.location) {
                Ok(grant) => Some(grant),
                Err(error) => {
                    tracing::warn!(grant = %g.id, %error, "stored grant ignored");
                    None
                }
            })
            .collect();
        Arc::new(Reach::new(owner.as_str(), grants, &self.private))
    }

    /// The reach a stored source is held to, its stored secret checked against it; `None`
    /// for a source admin registered.
    pub fn of(&self, source: &SourceRecord) -> Result<Option<Arc<Reach>>> {
        if !source.confined {
            return Ok(None);
        }
        let reach = self.reach(&source.owner);
        if let Some(secret) = &source.secret {
            reach.stored_secret(secret)?;
        }
        Ok(Some(reach))
    }
}

impl Engine {
    pub(crate) async fn confinement(&self) -> Result<Confinement> {
        Confinement::load(&*self.catalog, &self.config.private_paths).await
    }

    pub async fn grants(&self, caller: &Caller) -> Result<Vec<GrantRecord>> {
        self.require_admin(caller, "reading grants")?;
        Ok(self.catalog.grants().await?)
    }

    /// Grants a location or secret namespace to a jurisdiction.
    pub async fn add_grant(&self, caller: &Caller, request: GrantRequest) -> Result<GrantRecord> {
        self.require_admin(caller, "granting locations")?;
        let jurisdiction = JurisdictionCode::parse(&request.jurisdiction)
            .map_err(|e| EngineError::BadRequest(format!("jurisdiction: {e}").into()))?;
        let grant = Grant::parse(&request.kind, &request.location)
            .map_err(|e| EngineError::BadRequest(e.into()))?;
        let stored = self
            .catalog
            .insert_grant(
                &jurisdiction,
                grant.kind(),
                &grant.location(),
                caller.name(),
            )
            .await?;
        self.reload().await?;
        Ok(stored)
    }

    /// Revokes a grant; the sources that relied on it fail from the next query on.
    pub async fn delete_grant(&self, caller: &Caller, id: &str) -> Result<()> {
        self.require_admin(caller, "revoking grants")?;
        self.catalog.delete_grant(id, caller.name()).await?;
        self.reload().await
    }
}

impl Engine {
    /// Checks that a principal may have the server call `url` on its behalf (a webhook): admin
    /// anywhere, anyone else only inside the hosts admin has granted to `owner`.
    pub async fn check_outbound(
        &self,
        caller: &Caller,
        owner: &JurisdictionCode,
        url: &url::Url,
    ) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(EngineError::BadRequest(
                "url: an http:// or https:// URL with a host".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EngineError::BadRequest(
                "url: credentials do not belong in the URL; the server signs every delivery".into(),
            ));
        }
        if caller.is_admin() {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        self.confinement()
            .await?
            .reach(owner)
            .host(host, port)
            .map_err(|e| EngineError::PermissionDenied(e.to_string().into()))
    }

    /// Sends a POST the server makes on its own behalf; `confined_to` holds it to the hosts
    /// granted to a jurisdiction (for a target a non-admin registered). Answers the status.
    pub async fn post_outbound(
        &self,
        confined_to: Option<&JurisdictionCode>,
        url: &url::Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: std::time::Duration,
    ) -> std::result::Result<u16, String> {
        let reach = match confined_to {
            Some(owner) => Some(
                self.confinement()
                    .await
                    .map_err(|e| e.public_message())?
                    .reach(owner),
            ),
            None => None,
        };
        tiaokuai_connectors::reach::http::post(reach, url, headers, body, timeout).await
    }

    /// Seals a secret the server keeps for itself (a webhook's signing key).
    pub fn seal_secret(&self, plain: &str) -> Result<String> {
        let key = self.seal_key.as_ref().ok_or_else(|| {
            EngineError::Internal("the server has no key to seal secrets with".into())
        })?;
        Ok(tiaokuai_connectors::secret::seal(key, plain))
    }

    /// Unseals a secret [`Engine::seal_secret`] sealed.
    pub fn unseal_secret(&self, sealed: &str) -> Result<String> {
        if !sealed.starts_with(tiaokuai_connectors::secret::SEALED) {
            return Err(EngineError::Internal("a kept secret is not sealed".into()));
        }
        tiaokuai_connectors::secret::resolve(sealed, self.seal_key.as_ref())
            .map_err(|e| EngineError::Internal(Message::caused_by("unsealing a kept secret", e)))
    }
}
