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

use tiaokuai_catalog::{Catalog, CatalogError, JurisdictionCode, Principal, RoleAssignment};

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
    /// When set, everything the principal may do is held inside this jurisdiction: a
    /// scheduled run fanned out over the townships runs as its principal narrowed to one of
    /// them, so that each township's result holds its own rows only.
    pub within: Option<JurisdictionCode>,
}

impl Caller {
    /// The principal with the roles the catalog gives it now.
    pub async fn of(catalog: &dyn Catalog, principal: Principal) -> Result<Self, CatalogError> {
        let roles = catalog.roles_of(&principal.id).await?;
        Ok(Self {
            principal,
            roles,
            within: None,
        })
    }

    /// The same principal, held inside `jurisdiction` (inside its current narrowing, if it
    /// has one: narrowing only ever takes away).
    pub fn narrowed_to(&self, jurisdiction: &JurisdictionCode) -> Caller {
        let within = match &self.within {
            Some(held) if !held.covers(jurisdiction) && !jurisdiction.covers(held) => {
                // disjoint: nothing is left; a code no jurisdiction has keeps it so
                Some(JurisdictionCode::parse("999999999999").expect("a valid code"))
            }
            Some(held) if held.covers(jurisdiction) => Some(jurisdiction.clone()),
            Some(held) => Some(held.clone()),
            None => Some(jurisdiction.clone()),
        };
        Caller {
            within,
            ..self.clone()
        }
    }

    /// Holds the admin role, narrowed or not.
    pub fn holds_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.role == ADMIN_ROLE && r.jurisdiction == "*")
    }

    /// The principal of that name, if there is one, with its roles.
    pub async fn named(catalog: &dyn Catalog, name: &str) -> Result<Option<Self>, CatalogError> {
        match catalog.principal_by_name(name).await? {
            Some(principal) => Ok(Some(Self::of(catalog, principal).await?)),
            None => Ok(None),
        }
    }

    /// Holds `admin` in `*` and is not narrowed: reads every row unmasked and administers
    /// everything. Narrowed, admin reads everything inside its jurisdiction through the
    /// policy views, and administers nothing.
    pub fn is_admin(&self) -> bool {
        self.holds_admin() && self.within.is_none()
    }

    pub fn name(&self) -> &str {
        &self.principal.name
    }
}
