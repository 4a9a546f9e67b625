//! The one check of admin-only actions, for every service of the engine.

use tiaokuai_policies::Caller;

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Refuses anyone but admin `what`.
pub fn require_admin(caller: &Caller, what: &str) -> Result<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(EngineError::PermissionDenied(
            format!("{what} is reserved for admin").into(),
        ))
    }
}

impl Engine {
    /// Catalog changes that need admin and no engine work: principals and tokens.
    pub fn require_admin(&self, caller: &Caller, what: &str) -> Result<()> {
        require_admin(caller, what)
    }
}
