//! The one check of admin-only actions, for every service of the engine.

use tiaokuai_catalog::JurisdictionCode;
use tiaokuai_policies::{Action, Caller, Scope};

use crate::engine::Engine;
use crate::error::{EngineError, Message, Result};

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

impl Engine {
    /// Whether the caller may do a non-read action on `object` inside a jurisdiction, under
    /// the policy installed now. Admin may do everything.
    pub fn allows(
        &self,
        caller: &Caller,
        object: &str,
        action: Action,
        jurisdiction: &JurisdictionCode,
    ) -> Result<bool> {
        if caller.is_admin() {
            return Ok(true);
        }
        self.policies
            .allows(caller, object, action, jurisdiction)
            .map_err(|e| EngineError::Internal(Message::caused_by("a policy check failed", e)))
    }

    /// The version of the policy installed now.
    pub fn policy_version(&self) -> u64 {
        self.policies.version()
    }

    /// Where the caller may do `action` on `object`: every jurisdiction for admin.
    pub fn scope(&self, caller: &Caller, object: &str, action: Action) -> Result<Scope> {
        if caller.is_admin() {
            return Ok(Scope::all());
        }
        self.policies
            .snapshot()
            .scope_of(caller, object, action)
            .map_err(|e| EngineError::Internal(Message::caused_by("a policy check failed", e)))
    }
}
