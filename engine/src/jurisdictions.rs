//! The jurisdiction tree: read by every caller, changed by admin.

use tiaokuai_catalog::jurisdiction::{Jurisdiction, RawJurisdiction};
use tiaokuai_policies::Caller;

use crate::engine::Engine;
use crate::error::Result;
use crate::permission::require_admin;

impl Engine {
    /// The jurisdiction tree, which every caller may read.
    pub async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>> {
        Ok(self.catalog.jurisdictions().await?)
    }

    /// Adds or updates jurisdiction nodes; `system.jurisdictions` shows them to the next query.
    pub async fn upsert_jurisdictions(
        &self,
        caller: &Caller,
        batch: &[RawJurisdiction],
    ) -> Result<usize> {
        require_admin(caller, "changing the jurisdiction tree")?;
        let count = self
            .catalog
            .upsert_jurisdictions(batch, caller.name())
            .await?;
        self.reload().await?;
        Ok(count)
    }
}
