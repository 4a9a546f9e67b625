//! Who may do what: the Casbin policy point and the decisions compiled from it.
//!
//! - [`rules`]: policy lines and role assignments, validated, and their CSV form.
//! - [`scope`]: a set of jurisdictions, as the deepest-prefix-decides list the engine turns
//!   into a row filter.
//! - [`point`]: [`PolicyPoint`], the Casbin enforcer (`policies/model.conf`) and the per-principal
//!   decision cache, rebuilt whenever a policy or role assignment changes.
//! - [`Caller`]: an authenticated principal with its role assignments.

pub mod point;
pub mod rules;
pub mod scope;

pub use point::{PolicyError, PolicyPoint, PolicySnapshot, TableDecision};
pub use rules::{Action, Effect, PolicyRule};
pub use scope::Scope;

use tiaokuai_catalog::{Catalog, CatalogError, Principal, RoleAssignment};

/// The table every principal may read.
pub const JURISDICTIONS_TABLE: &str = "system.jurisdictions";

/// The role that may do everything, in every jurisdiction.
pub const ADMIN_ROLE: &str = "admin";

/// The Casbin model, also shipped as `policies/model.conf`.
pub const MODEL: &str = include_str!("../model.conf");

/// The demo's policy, also shipped as `policies/demo.csv`.
pub const DEMO_POLICY: &str = include_str!("../demo.csv");

/// An authenticated principal and what it holds.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub roles: Vec<RoleAssignment>,
}

impl Caller {
    /// The principal with the roles the catalog gives it now.
    pub async fn of(catalog: &dyn Catalog, principal: Principal) -> Result<Self, CatalogError> {
        let roles = catalog.roles_of(&principal.id).await?;
        Ok(Self { principal, roles })
    }

    /// The principal of that name, if there is one, with its roles.
    pub async fn named(catalog: &dyn Catalog, name: &str) -> Result<Option<Self>, CatalogError> {
        match catalog.principal_by_name(name).await? {
            Some(principal) => Ok(Some(Self::of(catalog, principal).await?)),
            None => Ok(None),
        }
    }

    /// Holds `admin` in `*`: reads every row unmasked and administers everything.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.role == ADMIN_ROLE && r.jurisdiction == "*")
    }

    pub fn name(&self) -> &str {
        &self.principal.name
    }
}
