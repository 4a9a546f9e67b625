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

impl Engine {
    /// Whether `viewer` may read every row and every unmasked value that `sql` gives
    /// `runner`: for each table it names, the viewer may read wherever the runner may, and
    /// sees unmasked every sensitive column wherever the runner does. A result the runner got
    /// may then be shown to the viewer, since its own policy would give it all of it. A table
    /// the statement names that does not exist, or a statement that does not parse, answers
    /// no.
    pub fn sees_at_least(&self, viewer: &Caller, runner: &Caller, sql: &str) -> Result<bool> {
        if viewer.is_admin() {
            return Ok(true);
        }
        let Some(tables) = crate::statement::tables_named(sql) else {
            return Ok(false);
        };
        let registry = self.registry();
        let policy = self.policies.snapshot();
        let failed = |e| EngineError::Internal(Message::caused_by("a policy check failed", e));
        for name in tables {
            if name == tiaokuai_policies::JURISDICTIONS_TABLE {
                continue;
            }
            let Some(entry) = registry.get(&name) else {
                return Ok(false);
            };
            let sensitive = sensitive_columns(entry);
            let ran = policy.decide(runner, &name, &sensitive).map_err(failed)?;
            let seen = policy.decide(viewer, &name, &sensitive).map_err(failed)?;
            if !ran.read.within(&seen.read) {
                return Ok(false);
            }
            for (column, unmasked) in &ran.unmasked {
                let shown = seen
                    .unmasked
                    .iter()
                    .find(|(c, _)| c == column)
                    .map(|(_, scope)| scope);
                // where the runner saw the column unmasked, inside what it read
                if !shown.is_some_and(|scope| unmasked.within_where(scope, &ran.read)) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

/// The names of a table's sensitive columns, which policy masks.
pub(crate) fn sensitive_columns(entry: &crate::registry::TableEntry) -> Vec<&str> {
    entry
        .info
        .columns
        .iter()
        .filter(|c| c.classification.sensitivity == tiaokuai_catalog::model::Sensitivity::Sensitive)
        .map(|c| c.name.as_str())
        .collect()
}
