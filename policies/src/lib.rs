//! Who may do what.
//!
//! A [`Caller`] is an authenticated principal with its role assignments. This crate answers the
//! questions the engine and server ask before acting: may this caller administer the system,
//! may it read this table. Today only `admin` (the `admin` role in every jurisdiction, `*`)
//! reads registered tables; everyone reads the jurisdiction tree.

use tiaokuai_catalog::{Principal, RoleAssignment};

/// The table every principal may read.
pub const JURISDICTIONS_TABLE: &str = "system.jurisdictions";

/// The role that may do everything, in every jurisdiction.
pub const ADMIN_ROLE: &str = "admin";

/// An authenticated principal and what it holds.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub roles: Vec<RoleAssignment>,
}

impl Caller {
    /// Holds `admin` in `*`.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.role == ADMIN_ROLE && r.jurisdiction == "*")
    }

    /// Whether this caller may read the named table at all.
    pub fn may_read_table(&self, table: &str) -> bool {
        table == JURISDICTIONS_TABLE || self.is_admin()
    }

    pub fn name(&self) -> &str {
        &self.principal.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[(&str, &str)]) -> Caller {
        Caller {
            principal: Principal {
                id: "prn_1".into(),
                name: "p".into(),
                created_at: String::new(),
            },
            roles: roles
                .iter()
                .map(|(role, jurisdiction)| RoleAssignment {
                    id: "ra".into(),
                    principal: "p".into(),
                    role: (*role).into(),
                    jurisdiction: (*jurisdiction).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn only_admin_everywhere_reads_tables() {
        assert!(caller(&[("admin", "*")]).may_read_table("village.residents"));
        assert!(!caller(&[("admin", "330824000000")]).may_read_table("village.residents"));
        assert!(!caller(&[("dispatcher", "*")]).may_read_table("village.residents"));
        assert!(caller(&[]).may_read_table(JURISDICTIONS_TABLE));
    }
}
