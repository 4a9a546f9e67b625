//! Principals, their tokens, and who a presented token is: the catalog calls behind
//! authentication and `/v1/principals`, `/v1/tokens`, checked here rather than in handlers.

use tiaokuai_catalog::{Principal, TokenInfo};
use tiaokuai_policies::Caller;

use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// The caller a bearer token stands for, with the roles it holds now; `None` for a token
    /// that is unknown or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        match self.catalog.authenticate(token).await? {
            Some(principal) => Ok(Some(Caller::of(&*self.catalog, principal).await?)),
            None => Ok(None),
        }
    }

    /// Whether the catalog answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.catalog.ping().await?)
    }

    pub async fn principals(&self, caller: &Caller) -> Result<Vec<Principal>> {
        self.require_admin(caller, "listing principals")?;
        Ok(self.catalog.principals().await?)
    }

    pub async fn create_principal(&self, caller: &Caller, name: &str) -> Result<Principal> {
        self.require_admin(caller, "creating principals")?;
        Ok(self.catalog.create_principal(name, caller.name()).await?)
    }

    /// Issues a token for a principal: the token is returned here once and stored hashed.
    pub async fn issue_token(
        &self,
        caller: &Caller,
        principal: &str,
    ) -> Result<(TokenInfo, String)> {
        self.require_admin(caller, "issuing tokens")?;
        Ok(self.catalog.issue_token(principal, caller.name()).await?)
    }

    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>> {
        self.require_admin(caller, "listing tokens")?;
        Ok(self.catalog.tokens().await?)
    }

    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<()> {
        self.require_admin(caller, "revoking tokens")?;
        Ok(self.catalog.revoke_token(id, caller.name()).await?)
    }

    /// Records a query in the audit trail, named by its query id.
    pub async fn record_query(
        &self,
        caller: &Caller,
        query_id: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        Ok(self
            .catalog
            .record(caller.name(), "query", query_id, detail)
            .await?)
    }
}
