//! Policies and role assignments: stored in the catalog, loaded into the policy point, and
//! changed only by `admin`. A change applies to every query that starts after its request
//! returns.

use serde::Deserialize;
use tiaokuai_catalog::{Catalog, PolicyRecord, RoleAssignment};
use tiaokuai_policies::point::PolicyError;
use tiaokuai_policies::rules::{Assignment, PolicyFile, validate_jurisdiction};
use tiaokuai_policies::{Action, Caller, Effect, PolicyRule};
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// `POST /v1/policies`. The schema says what validation accepts of each field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// 1 to 64 characters of a-z, 0-9, `_`, `.`, `-`.
    #[schema(pattern = r"^[a-z0-9_.-]{1,64}$(?!\n)", examples("village_official"))]
    pub role: String,
    /// `*` or a 12-digit division code.
    #[schema(pattern = r"^(\*|(0[1-9]|[1-9][0-9])[0-9]{10})$(?!\n)", examples("*"))]
    pub jurisdiction: String,
    /// `*`, `schema.*`, `schema.table`, `schema.table.*` or `schema.table.column`.
    #[schema(
        pattern = r"^(\*|[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?\.([a-z_][a-z0-9_]*|\*))$(?!\n)",
        examples("village.*")
    )]
    pub object: String,
    #[schema(schema_with = action_schema, examples("read"))]
    pub action: String,
    #[serde(default = "allow")]
    #[schema(schema_with = effect_schema)]
    pub effect: String,
}

fn action_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(tiaokuai_policies::rules::ACTIONS.map(Action::as_str)))
        .build()
}

fn effect_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some([Effect::Allow, Effect::Deny].map(Effect::as_str)))
        .default(Some(Effect::Allow.as_str().into()))
        .build()
}

fn allow() -> String {
    "allow".into()
}

/// `POST /v1/role-assignments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentRequest {
    /// A principal's name.
    #[schema(pattern = r"^[a-z0-9_.-]{1,64}$(?!\n)", examples("xiashan_official"))]
    pub principal: String,
    /// 1 to 64 characters of a-z, 0-9 and `_`.
    #[schema(pattern = r"^[a-z0-9_]{1,64}$(?!\n)", examples("village_official"))]
    pub role: String,
    /// `*` or a 12-digit division code.
    #[schema(
        pattern = r"^(\*|(0[1-9]|[1-9][0-9])[0-9]{10})$(?!\n)",
        examples("330824116224")
    )]
    pub jurisdiction: String,
}

pub(crate) fn failed(error: PolicyError) -> EngineError {
    match error {
        PolicyError::Invalid(message) => EngineError::BadRequest(message.into()),
        other => EngineError::Internal(other.to_string().into()),
    }
}

fn rule_of(record: &PolicyRecord) -> std::result::Result<PolicyRule, PolicyError> {
    let rule = PolicyRule {
        role: record.role.clone(),
        jurisdiction: record.jurisdiction.clone(),
        object: record.object.clone(),
        action: record.action.parse()?,
        effect: record.effect.parse()?,
    };
    rule.validate()?;
    Ok(rule)
}

fn record_of(rule: &PolicyRule) -> PolicyRecord {
    PolicyRecord {
        id: String::new(),
        role: rule.role.clone(),
        jurisdiction: rule.jurisdiction.clone(),
        object: rule.object.clone(),
        action: rule.action.as_str().to_owned(),
        effect: rule.effect.as_str().to_owned(),
    }
}

/// The stored policy. A stored line that no longer validates stops the load: skipping it could
/// drop a deny line and widen someone's access.
pub(crate) async fn stored(catalog: &dyn Catalog) -> Result<(Vec<PolicyRule>, Vec<Assignment>)> {
    let rules = catalog
        .policies()
        .await?
        .iter()
        .map(|record| {
            rule_of(record).map_err(|e| {
                EngineError::Internal(format!("stored policy {} is invalid: {e}", record.id).into())
            })
        })
        .collect::<Result<_>>()?;
    let assignments = catalog
        .role_assignments()
        .await?
        .into_iter()
        .map(|a| Assignment {
            principal: a.principal,
            role: a.role,
            jurisdiction: a.jurisdiction,
        })
        .collect();
    Ok((rules, assignments))
}

impl Engine {
    /// Reloads the policy point from the catalog. Reloads take turns and each reads the
    /// catalog inside its turn, so two concurrent changes can never end with the older state
    /// installed; a change's request returns only once a version holding it is installed.
    pub async fn reload_policy(&self) -> Result<()> {
        let turn = self.policies.begin_reload().await;
        let (rules, assignments) = stored(&*self.catalog).await?;
        turn.install(rules, assignments).await.map_err(failed)?;
        Ok(())
    }

    pub async fn policies(&self, caller: &Caller) -> Result<Vec<PolicyRecord>> {
        self.require_admin(caller, "reading policies")?;
        Ok(self.catalog.policies().await?)
    }

    pub async fn add_policy(
        &self,
        caller: &Caller,
        request: PolicyRequest,
    ) -> Result<PolicyRecord> {
        self.require_admin(caller, "changing policies")?;
        let rule = PolicyRule {
            role: request.role,
            jurisdiction: request.jurisdiction,
            object: request.object,
            action: request.action.parse::<Action>().map_err(failed)?,
            effect: request.effect.parse::<Effect>().map_err(failed)?,
        };
        rule.validate().map_err(failed)?;
        let stored = self
            .catalog
            .insert_policy(record_of(&rule), caller.name())
            .await?;
        self.reload_policy().await?;
        Ok(stored)
    }

    pub async fn delete_policy(&self, caller: &Caller, id: &str) -> Result<()> {
        self.require_admin(caller, "changing policies")?;
        self.catalog.delete_policy(id, caller.name()).await?;
        self.reload_policy().await
    }

    pub async fn role_assignments(&self, caller: &Caller) -> Result<Vec<RoleAssignment>> {
        self.require_admin(caller, "reading role assignments")?;
        Ok(self.catalog.role_assignments().await?)
    }

    pub async fn assign_role(
        &self,
        caller: &Caller,
        request: RoleAssignmentRequest,
    ) -> Result<RoleAssignment> {
        self.require_admin(caller, "assigning roles")?;
        let assignment = Assignment {
            principal: request.principal,
            role: request.role,
            jurisdiction: request.jurisdiction,
        };
        assignment.validate().map_err(failed)?;
        validate_jurisdiction(&assignment.jurisdiction).map_err(failed)?;
        let stored = self
            .catalog
            .assign_role(
                &assignment.principal,
                &assignment.role,
                &assignment.jurisdiction,
                caller.name(),
            )
            .await?;
        self.reload_policy().await?;
        Ok(stored)
    }

    pub async fn unassign_role(&self, caller: &Caller, id: &str) -> Result<()> {
        self.require_admin(caller, "assigning roles")?;
        self.catalog
            .delete_role_assignment(id, caller.name())
            .await?;
        self.reload_policy().await
    }

    /// Replaces the whole policy with a file of `p` and `g` lines (the bootstrap admin stays).
    pub async fn import_policy(&self, caller: &Caller, text: &str) -> Result<()> {
        self.require_admin(caller, "importing policies")?;
        let file = PolicyFile::parse(text).map_err(failed)?;
        let lines = file.rules.iter().map(record_of).collect();
        let assignments = file
            .assignments
            .into_iter()
            .map(|a| (a.principal, a.role, a.jurisdiction))
            .collect();
        self.catalog
            .replace_policy(lines, assignments, caller.name())
            .await?;
        self.reload_policy().await
    }

    /// The whole policy as a file of `p` and `g` lines.
    pub async fn export_policy(&self) -> Result<String> {
        let (rules, assignments) = stored(&*self.catalog).await?;
        Ok(PolicyFile { rules, assignments }.to_string())
    }
}
