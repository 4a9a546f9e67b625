//! [`PolicyPoint`]: Casbin's enforcer over the stored policy, and decisions compiled from it.
//!
//! `enforce` answers one (principal, jurisdiction, object, action) question by evaluating every
//! policy line it holds, which takes about 100 ms at ten thousand lines. So each principal gets
//! an enforcer of its own over only the lines of the roles it holds, and the query path never
//! calls it: each principal's decision for a table is compiled once per policy version and
//! cached, so a query pays a hash lookup.
//!
//! Compiling a scope: the jurisdictions where a principal's answer can change are the domains of
//! its role assignments and the domains of policy lines inside them. Every code is covered by
//! a chain of those candidates, and the answer for the code is the answer at the deepest one,
//! so enforcing once per candidate yields the whole scope.
//!
//! Changes are atomic: each installed policy has a version, reloads run one at a time (the
//! caller reads the stored policy inside its turn, so a reload never installs a state older
//! than the one before it), and a [`PolicySnapshot`] decides every table of one query from one
//! version. Cached decisions are keyed by that version ([`cache`]).

mod cache;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};
use tiaokuai_catalog::JurisdictionCode;

use crate::rules::{Action, Assignment, PolicyFile, PolicyRule};
use crate::scope::Scope;
use crate::{Caller, MODEL};
use cache::DecisionCache;

/// What went wrong with a policy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// A malformed policy line, assignment or file.
    #[error("{0}")]
    Invalid(String),
    /// Casbin failed to load or evaluate the policy: the decision fails closed.
    #[error("policy evaluation failed: {0}")]
    Enforcer(String),
}

/// A principal's decision for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDecision {
    /// Where the principal may read rows; empty = the table does not exist for it.
    pub read: Scope,
    /// Per sensitive column, where its values are shown unmasked.
    pub unmasked: Vec<(String, Scope)>,
}

impl TableDecision {
    pub fn visible(&self) -> bool {
        !self.read.is_empty()
    }
}

/// The scope prefix of a domain: `*` is everywhere.
fn prefix_of(domain: &str) -> Option<String> {
    if domain == "*" {
        return Some(String::new());
    }
    JurisdictionCode::parse(domain)
        .ok()
        .map(|code| code.scope_prefix().to_owned())
}

/// The domain Casbin is asked about for a candidate prefix.
fn domain_of(prefix: &str) -> String {
    if prefix.is_empty() {
        "*".to_owned()
    } else {
        format!("{prefix:0<12}")
    }
}

/// Level-aware coverage of one domain by another; `*` covers everything and is covered only
/// by itself. Malformed codes cover nothing and are covered by nothing.
fn covers(outer: &str, inner: &str) -> bool {
    if outer == "*" {
        return true;
    }
    match (
        JurisdictionCode::parse(outer),
        JurisdictionCode::parse(inner),
    ) {
        (Ok(outer), Ok(inner)) => outer.covers(&inner),
        _ => false,
    }
}

/// Casbin's role manager asks (request domain, domain of the link).
fn role_domain_matches(request: &str, assigned: &str) -> bool {
    covers(assigned, request)
}

fn jurisdiction_match(request: Dynamic, policy: Dynamic) -> Dynamic {
    let request = request.into_string().unwrap_or_default();
    let policy = policy.into_string().unwrap_or_default();
    Dynamic::from_bool(covers(&policy, &request))
}

/// The loaded policy of one version.
struct Loaded {
    /// Increases by one with every install.
    version: u64,
    /// One enforcer per principal that holds a role, over only the lines that can apply to it:
    /// its own role assignments and the policy lines of the roles it holds. Roles do not
    /// inherit from roles, so no other line can ever match its requests.
    enforcers: HashMap<String, Enforcer>,
    rules: Vec<PolicyRule>,
    assignments: Vec<Assignment>,
}

/// The policy point.
pub struct PolicyPoint {
    loaded: RwLock<Arc<Loaded>>,
    decisions: Arc<DecisionCache>,
    /// One reload at a time, from reading the stored policy to installing it.
    reloads: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PolicyPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPoint")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// One installed version of the policy, held fixed: every decision made through it comes from
/// that version, whatever is installed meanwhile.
#[derive(Clone)]
pub struct PolicySnapshot {
    loaded: Arc<Loaded>,
    decisions: Arc<DecisionCache>,
}

impl std::fmt::Debug for PolicySnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySnapshot")
            .field("version", &self.loaded.version)
            .finish_non_exhaustive()
    }
}

/// A reload's turn: no other reload reads or installs until it ends. Read the stored policy
/// while holding it, then [`Reload::install`] what was read.
pub struct Reload<'a> {
    point: &'a PolicyPoint,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

/// Principals and roles share one namespace in Casbin, where a subject trivially "has" a role of
/// its own name. Principals are therefore given to Casbin as `principal:<name>`, which no role
/// name (an identifier without `:`) can equal.
pub fn subject(principal: &str) -> String {
    format!("principal:{principal}")
}

/// A Casbin enforcer over the model and the given lines, with tiaokuai's jurisdiction matching.
pub async fn enforcer(
    rules: Vec<PolicyRule>,
    assignments: Vec<Assignment>,
) -> Result<Enforcer, PolicyError> {
    let namespaced = assignments
        .into_iter()
        .map(|a| Assignment {
            principal: subject(&a.principal),
            ..a
        })
        .collect();
    let text = PolicyFile {
        rules,
        assignments: namespaced,
    }
    .to_string();
    let model = DefaultModel::from_str(MODEL)
        .await
        .map_err(|e| PolicyError::Enforcer(e.to_string()))?;
    let mut enforcer = Enforcer::new(model, StringAdapter::new(text))
        .await
        .map_err(|e| PolicyError::Enforcer(e.to_string()))?;
    enforcer.add_function(
        "jurisdictionMatch",
        OperatorFunction::Arg2(jurisdiction_match),
    );
    enforcer
        .get_role_manager()
        .write()
        .matching_fn(None, Some(role_domain_matches));
    Ok(enforcer)
}

async fn load(rules: Vec<PolicyRule>, assignments: Vec<Assignment>) -> Result<Loaded, PolicyError> {
    let mut by_role: HashMap<&str, Vec<&PolicyRule>> = HashMap::new();
    for rule in &rules {
        by_role.entry(rule.role.as_str()).or_default().push(rule);
    }
    let mut by_principal: HashMap<&str, Vec<&Assignment>> = HashMap::new();
    for assignment in &assignments {
        by_principal
            .entry(assignment.principal.as_str())
            .or_default()
            .push(assignment);
    }
    let mut enforcers = HashMap::with_capacity(by_principal.len());
    for (principal, held) in by_principal {
        let roles: BTreeSet<&str> = held.iter().map(|a| a.role.as_str()).collect();
        let lines = roles
            .iter()
            .flat_map(|r| by_role.get(r).into_iter().flatten())
            .map(|r| (*r).clone())
            .collect();
        let held = held.into_iter().cloned().collect();
        enforcers.insert(principal.to_owned(), enforcer(lines, held).await?);
    }
    Ok(Loaded {
        version: 0,
        enforcers,
        rules,
        assignments,
    })
}

impl Reload<'_> {
    /// Installs the policy as the next version and returns that version. Decisions of older
    /// versions are never served again; a query planning on an older snapshot keeps it.
    pub async fn install(
        self,
        rules: Vec<PolicyRule>,
        assignments: Vec<Assignment>,
    ) -> Result<u64, PolicyError> {
        let mut loaded = load(rules, assignments).await?;
        let version = {
            let mut slot = self.point.loaded.write().unwrap_or_else(|p| p.into_inner());
            loaded.version = slot.version + 1;
            *slot = Arc::new(loaded);
            slot.version
        };
        self.point.decisions.retain_from(version);
        Ok(version)
    }
}

impl PolicyPoint {
    /// A policy point over the given lines, as version 1.
    pub async fn new(
        rules: Vec<PolicyRule>,
        assignments: Vec<Assignment>,
    ) -> Result<Self, PolicyError> {
        let mut loaded = load(rules, assignments).await?;
        loaded.version = 1;
        Ok(Self {
            loaded: RwLock::new(Arc::new(loaded)),
            decisions: Arc::default(),
            reloads: tokio::sync::Mutex::new(()),
        })
    }

    /// Waits for this reload's turn.
    pub async fn begin_reload(&self) -> Reload<'_> {
        Reload {
            point: self,
            _turn: self.reloads.lock().await,
        }
    }

    /// Replaces the policy (in its turn); the next decision sees the change.
    pub async fn reload(
        &self,
        rules: Vec<PolicyRule>,
        assignments: Vec<Assignment>,
    ) -> Result<u64, PolicyError> {
        self.begin_reload().await.install(rules, assignments).await
    }

    /// Drops cached decisions, to free them. Correctness never depends on it: an entry is
    /// served only for its own version and the same sensitive columns.
    pub fn forget(&self) {
        self.decisions.clear();
    }

    /// The installed version.
    pub fn version(&self) -> u64 {
        self.snapshot().loaded.version
    }

    /// Decision lookups answered from the cache, and those that compiled a decision.
    pub fn cache_hits_and_misses(&self) -> (u64, u64) {
        self.decisions.hits_and_misses()
    }

    /// The installed version, held fixed for as long as the snapshot lives.
    pub fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot {
            loaded: self
                .loaded
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            decisions: self.decisions.clone(),
        }
    }

    /// Where `principal` may do `action` on `object`, under the installed version.
    pub fn scope(
        &self,
        principal: &str,
        object: &str,
        action: Action,
    ) -> Result<Scope, PolicyError> {
        self.snapshot().scope(principal, object, action)
    }

    /// The caller's decision for a table, under the installed version.
    pub fn decide(
        &self,
        caller: &Caller,
        table: &str,
        sensitive: &[&str],
    ) -> Result<Arc<TableDecision>, PolicyError> {
        self.snapshot().decide(caller, table, sensitive)
    }

    /// Whether the caller may do a non-read action inside a jurisdiction, under the installed
    /// version.
    pub fn allows(
        &self,
        caller: &Caller,
        object: &str,
        action: Action,
        jurisdiction: &JurisdictionCode,
    ) -> Result<bool, PolicyError> {
        self.snapshot().allows(caller, object, action, jurisdiction)
    }
}

impl PolicySnapshot {
    /// The version every decision of this snapshot comes from.
    pub fn version(&self) -> u64 {
        self.loaded.version
    }

    /// Where `principal` may do `action` on `object`.
    pub fn scope(
        &self,
        principal: &str,
        object: &str,
        action: Action,
    ) -> Result<Scope, PolicyError> {
        let loaded = &self.loaded;
        let held: Vec<&Assignment> = loaded
            .assignments
            .iter()
            .filter(|a| a.principal == principal)
            .collect();
        let grants: BTreeSet<String> = held
            .iter()
            .filter_map(|a| prefix_of(&a.jurisdiction))
            .collect();
        let Some(enforcer) = loaded
            .enforcers
            .get(principal)
            .filter(|_| !grants.is_empty())
        else {
            return Ok(Scope::none());
        };
        let roles: BTreeSet<&str> = held.iter().map(|a| a.role.as_str()).collect();
        let mut candidates = grants.clone();
        for rule in loaded
            .rules
            .iter()
            .filter(|r| roles.contains(r.role.as_str()) && r.action == action)
        {
            if let Some(prefix) = prefix_of(&rule.jurisdiction)
                && grants.iter().any(|g| prefix.starts_with(g.as_str()))
            {
                candidates.insert(prefix);
            }
        }
        let mut decisions = Vec::with_capacity(candidates.len());
        for prefix in candidates {
            let allowed = enforcer
                .enforce((
                    subject(principal).as_str(),
                    domain_of(&prefix).as_str(),
                    object,
                    action.as_str(),
                ))
                .map_err(|e| PolicyError::Enforcer(e.to_string()))?;
            decisions.push((prefix, allowed));
        }
        Ok(Scope::from_decisions(decisions))
    }

    /// Where the caller may do `action` on `object`: everything for admin, and only inside
    /// its jurisdiction for a narrowed caller.
    pub fn scope_of(
        &self,
        caller: &Caller,
        object: &str,
        action: Action,
    ) -> Result<Scope, PolicyError> {
        let scope = if caller.holds_admin() {
            Scope::all()
        } else {
            self.scope(caller.name(), object, action)?
        };
        Ok(match &caller.within {
            Some(within) => scope.narrowed(within.scope_prefix()),
            None => scope,
        })
    }

    /// The caller's decision for a table and its sensitive columns, compiled once per policy
    /// version. `admin` reads everything unmasked. A narrowed caller's decision is its
    /// principal's, narrowed (and never cached: the cache is by principal).
    pub fn decide(
        &self,
        caller: &Caller,
        table: &str,
        sensitive: &[&str],
    ) -> Result<Arc<TableDecision>, PolicyError> {
        if let Some(within) = &caller.within {
            let whole = Caller {
                within: None,
                ..caller.clone()
            };
            let decision = self.decide(&whole, table, sensitive)?;
            let prefix = within.scope_prefix();
            return Ok(Arc::new(TableDecision {
                read: decision.read.narrowed(prefix),
                unmasked: decision
                    .unmasked
                    .iter()
                    .map(|(column, scope)| (column.clone(), scope.narrowed(prefix)))
                    .collect(),
            }));
        }
        if caller.is_admin() {
            return Ok(Arc::new(TableDecision {
                read: Scope::all(),
                unmasked: sensitive
                    .iter()
                    .map(|c| ((*c).to_owned(), Scope::all()))
                    .collect(),
            }));
        }
        let principal = caller.name();
        let version = self.loaded.version;
        if let Some(found) = self.decisions.get(version, principal, table, sensitive) {
            return Ok(found);
        }
        let read = self.scope(principal, table, Action::Read)?;
        let mut unmasked = Vec::with_capacity(sensitive.len());
        if !read.is_empty() {
            for column in sensitive {
                let scope = self.scope(
                    principal,
                    &format!("{table}.{column}"),
                    Action::ReadSensitive,
                )?;
                unmasked.push(((*column).to_owned(), scope));
            }
        }
        let decision = Arc::new(TableDecision { read, unmasked });
        self.decisions
            .put(version, principal, table, sensitive, decision.clone());
        Ok(decision)
    }

    /// Whether the caller may do a non-read action inside a jurisdiction.
    pub fn allows(
        &self,
        caller: &Caller,
        object: &str,
        action: Action,
        jurisdiction: &JurisdictionCode,
    ) -> Result<bool, PolicyError> {
        if caller.is_admin() {
            return Ok(true);
        }
        Ok(self
            .scope_of(caller, object, action)?
            .allows(jurisdiction.as_str()))
    }
}

#[cfg(test)]
mod tests;
