//! [`Admission`]: how many queries may run at once — per principal, and per role group with a
//! bounded queue.
//!
//! A query is running from the moment it is admitted until its answer stream is dropped: when
//! its last batch has been taken, when its client went away, or when its response was cut
//! because the client stopped reading.
//!
//! - **Per principal**: past its limit a principal's next query is refused at once (429
//!   `overloaded`), so a caller that opens answers it does not read cannot hold more than its
//!   share of the server.
//! - **Per role group**: each caller belongs to one group — the first of its roles (in name
//!   order) that has a limit of its own, else `default`; admin is never held. A group runs at
//!   most `running` queries; the next ones wait in its queue, in order, up to `queued` of them
//!   and no longer than the query's time limit; past that they are refused (429, with
//!   `Retry-After`). One group's burst therefore waits in its own queue, never in front of
//!   another group's queries.
//! - **Per query, per role group**: a group may also bound each of its queries' time (below
//!   the server's own limit) and memory (a share of the server's pool: past it, sorts and
//!   aggregations spill and the rest fail their query with `resources_exhausted`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tiaokuai_policies::Caller;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{EngineError, Result};

/// The group of callers none of whose roles has a limit of its own.
pub const DEFAULT_GROUP: &str = "default";

/// How many queries of one role group may run and wait at once, and how long and how much
/// memory each of them may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimit {
    pub running: usize,
    pub queued: usize,
    /// Time limit of each query, where it is below the server's.
    pub timeout: Option<Duration>,
    /// Memory each query may hold, in bytes, within the server's shared pool.
    pub memory: Option<usize>,
}

impl GroupLimit {
    /// `running` at once and `queued` waiting, each query under the server's own limits.
    pub fn new(running: usize, queued: usize) -> Self {
        Self {
            running,
            queued,
            timeout: None,
            memory: None,
        }
    }

    /// A role group from `ROLE=RUNNING:QUEUED[,timeout=SECS][,memory=MB]`, as the command
    /// line gives it.
    pub fn parse_role(text: &str) -> Result<(String, GroupLimit), String> {
        let usage = || {
            format!(
                "ROLE=RUNNING:QUEUED[,timeout=SECS][,memory=MB], e.g. dashboard=4:16,timeout=30,\
                 memory=512; not {text:?}"
            )
        };
        let (role, limits) = text.split_once('=').ok_or_else(usage)?;
        let mut parts = limits.split(',');
        let (running, queued) = parts
            .next()
            .and_then(|p| p.split_once(':'))
            .ok_or_else(usage)?;
        let running: usize = running.parse().ok().filter(|n| *n > 0).ok_or_else(usage)?;
        let queued: usize = queued.parse().map_err(|_| usage())?;
        if role.is_empty() {
            return Err(usage());
        }
        let mut limit = GroupLimit::new(running, queued);
        for part in parts {
            let (name, value) = part.split_once('=').ok_or_else(usage)?;
            let value: u64 = value.parse().ok().filter(|n| *n > 0).ok_or_else(usage)?;
            match name {
                "timeout" if limit.timeout.is_none() => {
                    limit.timeout = Some(Duration::from_secs(value));
                }
                "memory" if limit.memory.is_none() => {
                    let bytes = value.checked_mul(1 << 20).ok_or_else(usage)?;
                    limit.memory = Some(usize::try_from(bytes).map_err(|_| usage())?);
                }
                _ => return Err(usage()),
            }
        }
        Ok((role.to_owned(), limit))
    }
}

impl Default for GroupLimit {
    fn default() -> Self {
        Self::new(16, 64)
    }
}

/// A caller's role group, as admission found it: where its queries take their turn, and
/// what each of them may take.
#[derive(Debug, Clone)]
pub struct RoleGroup(Arc<Group>);

impl RoleGroup {
    pub fn name(&self) -> &Arc<str> {
        &self.0.name
    }

    /// Time limit of each of the group's queries, where it is below the server's.
    pub fn timeout(&self) -> Option<Duration> {
        self.0.limit.timeout
    }

    /// Memory each of the group's queries may hold, in bytes.
    pub fn memory(&self) -> Option<usize> {
        self.0.limit.memory
    }
}

#[derive(Debug)]
struct Group {
    name: Arc<str>,
    limit: GroupLimit,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Group {
    fn new(name: &str, limit: GroupLimit) -> Arc<Self> {
        let limit = GroupLimit {
            running: limit.running.max(1),
            ..limit
        };
        Arc::new(Self {
            name: name.into(),
            limit,
            slots: Arc::new(Semaphore::new(limit.running)),
            waiting: AtomicUsize::new(0),
        })
    }
}

/// Running queries per principal and per role group, and their limits.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    running: Mutex<HashMap<String, usize>>,
    /// By role name; the default group under [`DEFAULT_GROUP`].
    groups: HashMap<String, Arc<Group>>,
}

/// One admitted query; dropping it ends the query's turn.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    principal: String,
    _slot: Option<OwnedSemaphorePermit>,
}

/// Leaves the queue however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// At most `limit` running queries per principal (at least one), every caller in the
    /// default group.
    pub fn new(limit: usize) -> Arc<Self> {
        Self::with_groups(limit, GroupLimit::default(), &[])
    }

    /// At most `limit` running queries per principal; the role groups `roles`, and `default`
    /// for every other caller.
    pub fn with_groups(
        limit: usize,
        default: GroupLimit,
        roles: &[(String, GroupLimit)],
    ) -> Arc<Self> {
        let mut groups: HashMap<String, Arc<Group>> = roles
            .iter()
            .map(|(role, limit)| (role.clone(), Group::new(role, *limit)))
            .collect();
        groups.insert(DEFAULT_GROUP.to_owned(), Group::new(DEFAULT_GROUP, default));
        Arc::new(Self {
            limit: limit.max(1),
            running: Mutex::default(),
            groups,
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The role group `caller`'s queries are held in: that of the first of its roles, by
    /// name, that has one, else the default group. Admin is in none.
    pub fn group_of(&self, caller: &Caller) -> Option<RoleGroup> {
        if caller.is_admin() {
            return None;
        }
        let mut roles: Vec<&str> = caller.roles.iter().map(|r| r.role.as_str()).collect();
        roles.sort_unstable();
        roles
            .into_iter()
            .find_map(|role| self.groups.get(role))
            .or_else(|| self.groups.get(DEFAULT_GROUP))
            .map(|group| RoleGroup(Arc::clone(group)))
    }

    /// Admits one more query of `principal`, in `group` (see [`Admission::group_of`]): at once
    /// if the principal and the group have room, after waiting in the group's queue (until
    /// `deadline`) if only the group is full.
    pub async fn admit(
        self: &Arc<Self>,
        principal: &str,
        group: Option<&RoleGroup>,
        deadline: Instant,
    ) -> Result<Ticket> {
        let mut ticket = self.admit_principal(principal)?;
        let Some(RoleGroup(group)) = group else {
            return Ok(ticket);
        };
        if let Ok(slot) = group.slots.clone().try_acquire_owned() {
            ticket._slot = Some(slot);
            return Ok(ticket);
        }
        let full = || {
            EngineError::Overloaded(
                format!(
                    "the {} group already runs {} queries and has {} waiting, the most it may; \
                     try again shortly",
                    group.name, group.limit.running, group.limit.queued
                )
                .into(),
            )
        };
        if group.waiting.fetch_add(1, Ordering::Relaxed) >= group.limit.queued {
            group.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(full());
        }
        let _waiting = Waiting(&group.waiting);
        match tokio::time::timeout_at(deadline, group.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => {
                ticket._slot = Some(slot);
                Ok(ticket)
            }
            _ => Err(full()),
        }
    }

    /// Admits one more query of `principal`, or refuses it when its limit is full.
    fn admit_principal(self: &Arc<Self>, principal: &str) -> Result<Ticket> {
        let mut running = self.running();
        let count = running.entry(principal.to_owned()).or_default();
        if *count >= self.limit {
            return Err(EngineError::Overloaded(
                format!(
                    "{principal} already runs {} queries, the most one principal may run at once; \
                 wait for one to finish (or read its answer) and try again",
                    self.limit
                )
                .into(),
            ));
        }
        *count += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            principal: principal.to_owned(),
            _slot: None,
        })
    }

    /// How many queries `principal` runs now.
    pub fn running_for(&self, principal: &str) -> usize {
        self.running().get(principal).copied().unwrap_or(0)
    }

    /// How many queries run now, of every principal.
    pub fn running_total(&self) -> usize {
        self.running().values().sum()
    }

    /// How many queries wait in a group's queue, by group.
    pub fn queued(&self) -> Vec<(String, usize)> {
        let mut queued: Vec<(String, usize)> = self
            .groups
            .values()
            .map(|g| (g.name.to_string(), g.waiting.load(Ordering::Relaxed)))
            .collect();
        queued.sort();
        queued
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut running = self.admission.running();
        if let Some(count) = running.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tiaokuai_catalog::{Principal, RoleAssignment};

    fn caller(name: &str, role: &str) -> Caller {
        Caller {
            principal: Principal {
                id: format!("prn_{name}"),
                name: name.to_owned(),
                created_at: String::new(),
            },
            roles: vec![RoleAssignment {
                id: format!("ra_{name}"),
                principal: name.to_owned(),
                role: role.to_owned(),
                jurisdiction: "330824000000".to_owned(),
            }],
            within: None,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// Admits `caller` in its group, waiting until `deadline`.
    async fn admit_by(
        admission: &Arc<Admission>,
        caller: &Caller,
        deadline: Instant,
    ) -> Result<Ticket> {
        let group = admission.group_of(caller);
        admission
            .admit(caller.name(), group.as_ref(), deadline)
            .await
    }

    #[tokio::test]
    async fn a_principal_runs_at_most_its_limit_and_others_are_not_affected() {
        let admission = Admission::new(2);
        let (alice, bob) = (caller("alice", "reader"), caller("bob", "reader"));
        let first = admit_by(&admission, &alice, soon()).await.unwrap();
        let second = admit_by(&admission, &alice, soon()).await.unwrap();
        assert!(matches!(
            admit_by(&admission, &alice, soon()).await,
            Err(EngineError::Overloaded(_))
        ));
        let bob_ticket = admit_by(&admission, &bob, soon()).await.unwrap();
        assert_eq!(admission.running_for("alice"), 2);
        drop(first);
        let third = admit_by(&admission, &alice, soon()).await.unwrap();
        drop((second, third, bob_ticket));
        assert_eq!(admission.running_for("alice"), 0);
        assert_eq!(admission.running_for("bob"), 0);
        assert!(admission.running().is_empty());
    }

    #[test]
    fn a_role_group_is_read_from_the_command_line() {
        assert_eq!(
            GroupLimit::parse_role("dashboard=4:16"),
            Ok(("dashboard".to_owned(), GroupLimit::new(4, 16)))
        );
        let (role, limit) = GroupLimit::parse_role("dashboard=4:0,memory=512,timeout=30").unwrap();
        assert_eq!(role, "dashboard");
        assert_eq!(
            limit,
            GroupLimit {
                running: 4,
                queued: 0,
                timeout: Some(Duration::from_secs(30)),
                memory: Some(512 << 20),
            }
        );
        for bad in [
            "dashboard",
            "=4:16",
            "dashboard=0:16",
            "dashboard=4",
            "dashboard=4:16,",
            "dashboard=4:16,timeout=0",
            "dashboard=4:16,timeout=-1",
            "dashboard=4:16,memory=lots",
            "dashboard=4:16,memory=18446744073709551615",
            "dashboard=4:16,timeout=3,timeout=4",
            "dashboard=4:16,threads=2",
        ] {
            let error = GroupLimit::parse_role(bad).unwrap_err();
            assert!(
                error.starts_with("ROLE=RUNNING:QUEUED[,timeout=SECS][,memory=MB]"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn a_caller_gets_the_time_and_memory_limits_of_its_group() {
        let mut dashboards = GroupLimit::new(1, 1);
        dashboards.timeout = Some(Duration::from_secs(7));
        dashboards.memory = Some(1 << 20);
        let admission = Admission::with_groups(
            10,
            GroupLimit::default(),
            &[("dashboard".into(), dashboards)],
        );
        let group = admission.group_of(&caller("a", "dashboard")).unwrap();
        assert_eq!(
            (&**group.name(), group.timeout(), group.memory()),
            ("dashboard", Some(Duration::from_secs(7)), Some(1 << 20))
        );
        let group = admission.group_of(&caller("b", "reader")).unwrap();
        assert_eq!(
            (&**group.name(), group.timeout(), group.memory()),
            (DEFAULT_GROUP, None, None)
        );
        let mut admin = caller("admin", "admin");
        admin.roles[0].jurisdiction = "*".into();
        assert!(admission.group_of(&admin).is_none());
    }

    #[tokio::test]
    async fn a_full_group_queues_then_refuses_and_other_groups_go_on() {
        let dashboards = GroupLimit::new(1, 1);
        let admission = Admission::with_groups(
            10,
            GroupLimit::default(),
            &[("dashboard".into(), dashboards)],
        );
        let (a, b, c) = (
            caller("a", "dashboard"),
            caller("b", "dashboard"),
            caller("c", "dashboard"),
        );
        let running = admit_by(&admission, &a, soon()).await.unwrap();
        let queued = {
            let admission = admission.clone();
            tokio::spawn(async move { admit_by(&admission, &b, soon()).await })
        };
        while admission.queued().iter().all(|(_, n)| *n == 0) {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            admit_by(&admission, &c, soon()).await,
            Err(EngineError::Overloaded(_))
        ));
        // another group is not held by the dashboards' burst
        let reader = admit_by(&admission, &caller("r", "reader"), soon())
            .await
            .unwrap();
        drop(running);
        let admitted = queued.await.unwrap().unwrap();
        assert!(admission.queued().iter().all(|(_, n)| *n == 0));
        // a wait ends at the deadline
        let late = admit_by(&admission, &c, Instant::now() + Duration::from_millis(20)).await;
        assert!(matches!(late, Err(EngineError::Overloaded(_))));
        drop((admitted, reader));
        assert_eq!(admission.running_total(), 0);
    }
}
