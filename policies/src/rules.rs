//! Policy lines and role assignments, and their CSV form (`p, …` and `g, …` lines, as Casbin
//! writes them), for keeping policy in version control.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tiaokuai_catalog::JurisdictionCode;

use crate::point::PolicyError;

/// What a policy line permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    ReadSensitive,
    RegisterSource,
    RunReport,
    ManageReport,
    Dispatch,
    Audit,
    Admin,
}

pub const ACTIONS: [Action; 8] = [
    Action::Read,
    Action::ReadSensitive,
    Action::RegisterSource,
    Action::RunReport,
    Action::ManageReport,
    Action::Dispatch,
    Action::Audit,
    Action::Admin,
];

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::ReadSensitive => "read_sensitive",
            Action::RegisterSource => "register_source",
            Action::RunReport => "run_report",
            Action::ManageReport => "manage_report",
            Action::Dispatch => "dispatch",
            Action::Audit => "audit",
            Action::Admin => "admin",
        }
    }
}

impl FromStr for Action {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, PolicyError> {
        ACTIONS
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                PolicyError::Invalid(format!(
                    "unknown action {s:?}: expected one of {}",
                    ACTIONS.map(Action::as_str).join(", ")
                ))
            })
    }
}

/// Allow or deny; a deny line overrides every allow line it meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

impl FromStr for Effect {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            other => Err(PolicyError::Invalid(format!(
                "unknown effect {other:?}: expected allow or deny"
            ))),
        }
    }
}

/// One `p` line: `role` may (or may not) do `action` on `object` inside `jurisdiction`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyRule {
    /// A role (policy lines grant roles; principals hold roles through assignments).
    pub role: String,
    /// A 12-digit code or `*`.
    pub jurisdiction: String,
    /// `*`, `schema.*`, `schema.table`, or for read_sensitive `schema.table.column`.
    pub object: String,
    pub action: Action,
    pub effect: Effect,
}

fn identifier(text: &str, what: &str) -> Result<(), PolicyError> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(PolicyError::Invalid(format!(
            "{what} {text:?} must be 1 to 64 characters of a-z, 0-9, '_', '.', '-'"
        )))
    }
}

/// `*` or an exact 12-ASCII-digit code: nothing is trimmed, padded or converted.
pub fn validate_jurisdiction(text: &str) -> Result<(), PolicyError> {
    if text == "*" {
        return Ok(());
    }
    JurisdictionCode::parse(text)
        .map(|_| ())
        .map_err(|e| PolicyError::Invalid(e.to_string()))
}

/// `*`, or dot-separated lowercase identifiers, the last of which may be `*`.
fn validate_object(text: &str) -> Result<(), PolicyError> {
    if text == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = text.split('.').collect();
    let ident = |p: &str| {
        let mut chars = p.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let (last, rest) = parts.split_last().expect("split yields at least one part");
    let ok = (2..=3).contains(&parts.len())
        && rest.iter().all(|p| ident(p))
        && (ident(last) || *last == "*");
    if ok {
        Ok(())
    } else {
        Err(PolicyError::Invalid(format!(
            "object {text:?} must be *, schema.*, schema.table, schema.table.* or schema.table.column"
        )))
    }
}

impl PolicyRule {
    pub fn validate(&self) -> Result<(), PolicyError> {
        identifier(&self.role, "role")?;
        validate_jurisdiction(&self.jurisdiction)?;
        validate_object(&self.object)
    }
}

/// One `g` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub principal: String,
    pub role: String,
    pub jurisdiction: String,
}

impl Assignment {
    pub fn validate(&self) -> Result<(), PolicyError> {
        identifier(&self.principal, "principal")?;
        identifier(&self.role, "role")?;
        validate_jurisdiction(&self.jurisdiction)
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFile {
    pub rules: Vec<PolicyRule>,
    pub assignments: Vec<Assignment>,
}

impl PolicyFile {
    /// Parses `p` and `g` lines; `#` starts a comment line. Every line is validated, and the
    /// first error names its line.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut file = PolicyFile::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let at = |e: PolicyError| PolicyError::Invalid(format!("line {}: {e}", index + 1));
            match fields.as_slice() {
                ["p", role, jurisdiction, object, action, rest @ ..] if rest.len() <= 1 => {
                    let rule = PolicyRule {
                        role: (*role).to_owned(),
                        jurisdiction: (*jurisdiction).to_owned(),
                        object: (*object).to_owned(),
                        action: action.parse().map_err(at)?,
                        effect: rest
                            .first()
                            .map_or(Ok(Effect::Allow), |e| e.parse())
                            .map_err(at)?,
                    };
                    rule.validate().map_err(at)?;
                    file.rules.push(rule);
                }
                ["g", principal, role, jurisdiction] => {
                    let assignment = Assignment {
                        principal: (*principal).to_owned(),
                        role: (*role).to_owned(),
                        jurisdiction: (*jurisdiction).to_owned(),
                    };
                    assignment.validate().map_err(at)?;
                    file.assignments.push(assignment);
                }
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "line {}: expected `p, role, jurisdiction, object, action[, effect]` or `g, principal, role, jurisdiction`",
                        index + 1
                    )));
                }
            }
        }
        Ok(file)
    }
}

impl fmt::Display for PolicyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            writeln!(
                f,
                "p, {}, {}, {}, {}, {}",
                r.role,
                r.jurisdiction,
                r.object,
                r.action.as_str(),
                r.effect.as_str()
            )?;
        }
        for g in &self.assignments {
            writeln!(f, "g, {}, {}, {}", g.principal, g.role, g.jurisdiction)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policy_parses_and_round_trips() {
        let file = PolicyFile::parse(crate::DEMO_POLICY).unwrap();
        assert!(file.rules.len() >= 8);
        assert_eq!(file.assignments.len(), 5);
        assert_eq!(PolicyFile::parse(&file.to_string()).unwrap(), file);
    }

    #[test]
    fn malformed_lines_are_rejected_with_their_number() {
        for bad in [
            "p, role, 33082411622, village.*, read",
            "p, role, ３３０８２４１１６２２４, village.*, read",
            "p, role, 330824116224 x, village.*, read",
            "p, role, *, village.*, write",
            "p, role, *, village.*, read, maybe",
            "p, role, *, Village.*, read",
            "p, role, *, village, read",
            "p, role, *, village.residents.name.x, read",
            "g, alice, role",
            "g, Alice, role, *",
            "x, a, b, c",
        ] {
            let error = PolicyFile::parse(&format!("# header\n{bad}")).unwrap_err();
            assert!(error.to_string().contains("line 2"), "{bad}: {error}");
        }
    }
}
