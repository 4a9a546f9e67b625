use super::*;
use crate::rules::Effect;
use tiaokuai_catalog::{Principal, RoleAssignment};

fn caller(name: &str) -> Caller {
    Caller {
        within: None,
        principal: Principal {
            id: name.into(),
            name: name.into(),
            created_at: String::new(),
        },
        roles: Vec::new(),
    }
}

async fn point(text: &str) -> PolicyPoint {
    let file = PolicyFile::parse(text).unwrap();
    PolicyPoint::new(file.rules, file.assignments)
        .await
        .unwrap()
}

fn codes(scope: &Scope) -> Vec<(String, bool)> {
    scope.entries().to_vec()
}

#[tokio::test]
async fn roles_apply_inside_their_jurisdiction() {
    let p = point(crate::DEMO_POLICY).await;
    let xiashan = p
        .decide(&caller("xiashan_official"), "village.residents", &["name"])
        .unwrap();
    assert_eq!(codes(&xiashan.read), vec![("330824116224".into(), true)]);
    assert!(xiashan.read.within(&xiashan.unmasked[0].1));
    let majin = p
        .decide(&caller("majin_dispatcher"), "village.residents", &["name"])
        .unwrap();
    assert_eq!(codes(&majin.read), vec![("330824116".into(), true)]);
    assert!(majin.unmasked[0].1.is_empty());
    let county = p
        .decide(&caller("county_dispatcher"), "village.garden_orders", &[])
        .unwrap();
    assert!(county.read.allows("330824106200"));
    assert!(!county.read.allows("330825106200"));
    // 条: the civil-affairs officer reads residents county-wide, names but not ID numbers
    let civil = p
        .decide(
            &caller("civil_officer"),
            "village.residents",
            &["name", "id_card"],
        )
        .unwrap();
    assert_eq!(codes(&civil.read), vec![("330824".into(), true)]);
    assert_eq!(codes(&civil.unmasked[0].1), vec![("330824".into(), true)]);
    assert!(civil.unmasked[1].1.is_empty());
    // …and nothing it was not granted, or was denied
    assert!(
        !p.decide(&caller("civil_officer"), "village.collective_income", &[])
            .unwrap()
            .visible()
    );
    assert!(
        !p.decide(&caller("civil_officer"), "village.garden_orders", &[])
            .unwrap()
            .visible()
    );
    assert!(
        !p.decide(&caller("nobody"), "village.residents", &[])
            .unwrap()
            .visible()
    );
}

#[tokio::test]
async fn deny_lines_carve_out_of_grants() {
    let p = point(
        "p, dispatcher, *, village.*, read\n\
         p, dispatcher, 330824116000, village.*, read, deny\n\
         g, carol, dispatcher, 330824000000\n\
         g, dave, dispatcher, 330824116224",
    )
    .await;
    let carol = p.scope("carol", "village.residents", Action::Read).unwrap();
    assert!(carol.allows("330824117201"));
    assert!(!carol.allows("330824116224"));
    assert!(!carol.allows("330824116200"));
    let dave = p.scope("dave", "village.residents", Action::Read).unwrap();
    assert!(dave.is_empty());
}

#[tokio::test]
async fn domains_match_by_level_not_by_pattern() {
    let p = point(
        "p, official, *, village.*, read\n\
         p, official2, 330824116200, village.*, read\n\
         g, alice, official, 330824116200\n\
         g, bob, official2, 330824116000",
    )
    .await;
    // a village code ending in zeros is a village, not a township
    let alice = p.scope("alice", "village.t", Action::Read).unwrap();
    assert_eq!(codes(&alice), vec![("330824116200".into(), true)]);
    assert!(!alice.allows("330824116201"));
    assert!(!alice.allows("330824116000"));
    // a grant for one village inside a township role gives that village only
    let bob = p.scope("bob", "village.t", Action::Read).unwrap();
    assert_eq!(codes(&bob), vec![("330824116200".into(), true)]);
}

#[tokio::test]
async fn objects_match_tables_and_columns() {
    let p = point(
        "p, r, *, village.residents, read\n\
         p, r, *, village.residents.phone, read_sensitive\n\
         g, alice, r, 330824116224",
    )
    .await;
    assert!(
        p.scope("alice", "village.residents", Action::Read)
            .unwrap()
            .allows("330824116224")
    );
    assert!(
        p.scope("alice", "village.residents_archive", Action::Read)
            .unwrap()
            .is_empty()
    );
    assert!(
        p.scope("alice", "village.residents.phone", Action::ReadSensitive)
            .unwrap()
            .allows("330824116224")
    );
    assert!(
        p.scope("alice", "village.residents.id_card", Action::ReadSensitive)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_reload_changes_the_next_decision() {
    let p = point("p, r, *, village.*, read\ng, alice, r, 330824116224").await;
    assert!(
        p.decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
    p.reload(
        vec![PolicyRule {
            role: "r".into(),
            jurisdiction: "*".into(),
            object: "village.*".into(),
            action: Action::Read,
            effect: Effect::Deny,
        }],
        vec![Assignment {
            principal: "alice".into(),
            role: "r".into(),
            jurisdiction: "330824116224".into(),
        }],
    )
    .await
    .unwrap();
    assert!(
        !p.decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
}

#[tokio::test]
async fn admin_sees_everything() {
    let p = point("").await;
    let admin = Caller {
        within: None,
        principal: Principal {
            id: "a".into(),
            name: "admin".into(),
            created_at: String::new(),
        },
        roles: vec![RoleAssignment {
            id: "r".into(),
            principal: "admin".into(),
            role: "admin".into(),
            jurisdiction: "*".into(),
        }],
    };
    assert!(
        p.decide(&admin, "anything.at_all", &[])
            .unwrap()
            .read
            .is_all()
    );
}

fn rule(role: &str, object: &str) -> PolicyRule {
    PolicyRule {
        role: role.into(),
        jurisdiction: "*".into(),
        object: object.into(),
        action: Action::Read,
        effect: Effect::Allow,
    }
}

fn assignment(principal: &str, role: &str, jurisdiction: &str) -> Assignment {
    Assignment {
        principal: principal.into(),
        role: role.into(),
        jurisdiction: jurisdiction.into(),
    }
}

#[tokio::test]
async fn a_decision_computed_before_a_revocation_is_never_served_after_it() {
    let p = point("p, r, *, village.*, read\ng, alice, r, 330824116224").await;
    let before = p.snapshot();
    assert_eq!(before.version(), 1);
    // the revocation is installed while a query still plans on the version before it
    let version = p
        .reload(Vec::new(), vec![assignment("alice", "r", "330824116224")])
        .await
        .unwrap();
    assert_eq!(version, 2);
    // that query decides (and caches) from the version it started with…
    assert!(
        before
            .decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
    // …which is never served to anyone deciding from the installed version
    assert!(
        !p.decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
    assert!(
        !p.snapshot()
            .decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
    // nor does the late decision evict the current one
    assert!(
        before
            .decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
    assert!(
        !p.decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
}

#[test]
fn the_cache_serves_an_entry_only_for_its_own_version_and_columns() {
    let cache = cache::DecisionCache::default();
    let shown = Arc::new(TableDecision {
        read: Scope::all(),
        unmasked: vec![("name".into(), Scope::all())],
    });
    let hidden = Arc::new(TableDecision {
        read: Scope::none(),
        unmasked: Vec::new(),
    });
    cache.put(3, "alice", "village.t", &["name"], shown.clone());
    assert_eq!(
        cache.get(3, "alice", "village.t", &["name"]),
        Some(shown.clone())
    );
    // another version, other columns, another principal or table: no entry
    assert_eq!(cache.get(4, "alice", "village.t", &["name"]), None);
    assert_eq!(cache.get(2, "alice", "village.t", &["name"]), None);
    assert_eq!(cache.get(3, "alice", "village.t", &[]), None);
    assert_eq!(cache.get(3, "alice", "village.t", &["name", "phone"]), None);
    assert_eq!(cache.get(3, "bob", "village.t", &["name"]), None);
    assert_eq!(cache.get(3, "alice", "village.u", &["name"]), None);
    // a newer version replaces it; an older one stored late does not
    cache.put(4, "alice", "village.t", &[], hidden.clone());
    cache.put(3, "alice", "village.t", &["name"], shown.clone());
    assert_eq!(
        cache.get(4, "alice", "village.t", &[]),
        Some(hidden.clone())
    );
    assert_eq!(cache.get(3, "alice", "village.t", &["name"]), None);
    // entries older than an installed version are dropped
    cache.put(2, "bob", "village.t", &[], shown);
    cache.retain_from(4);
    assert_eq!(cache.get(2, "bob", "village.t", &[]), None);
    assert_eq!(cache.get(4, "alice", "village.t", &[]), Some(hidden));
}

#[tokio::test]
async fn reloads_take_turns_and_versions_only_grow() {
    let p = Arc::new(point("").await);
    // a reload that has read the stored policy holds its turn: another one waits for it
    let first = p.begin_reload().await;
    let waiting = {
        let p = p.clone();
        tokio::spawn(async move {
            p.reload(
                vec![rule("r", "village.*")],
                vec![assignment("alice", "r", "330824116224")],
            )
            .await
            .unwrap()
        })
    };
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    assert_eq!(first.install(Vec::new(), Vec::new()).await.unwrap(), 2);
    assert_eq!(waiting.await.unwrap(), 3);
    assert_eq!(p.version(), 3);
    assert!(
        p.decide(&caller("alice"), "village.t", &[])
            .unwrap()
            .visible()
    );
}

#[tokio::test]
async fn a_narrowed_caller_decides_inside_its_jurisdiction_only() {
    let p = point(crate::DEMO_POLICY).await;
    let majin = JurisdictionCode::parse("330824116000").unwrap();
    let county = caller("county_dispatcher");
    let narrowed = county.narrowed_to(&majin);
    let decision = p.decide(&narrowed, "village.residents", &["name"]).unwrap();
    assert_eq!(codes(&decision.read), vec![("330824116".into(), true)]);
    // the principal's own decision is what the cache keeps, untouched by the narrowing
    let whole = p.decide(&county, "village.residents", &["name"]).unwrap();
    assert_eq!(codes(&whole.read), vec![("330824".into(), true)]);
    let again = p.decide(&narrowed, "village.residents", &["name"]).unwrap();
    assert_eq!(codes(&again.read), vec![("330824116".into(), true)]);
    // narrowing only takes away: outside the principal's own scope nothing appears
    let xiashan = caller("xiashan_official").narrowed_to(&majin);
    let decision = p.decide(&xiashan, "village.residents", &[]).unwrap();
    assert_eq!(codes(&decision.read), vec![("330824116224".into(), true)]);
    let chihuai = JurisdictionCode::parse("330824117000").unwrap();
    let elsewhere = caller("xiashan_official").narrowed_to(&chihuai);
    assert!(
        !p.decide(&elsewhere, "village.residents", &[])
            .unwrap()
            .visible()
    );
    // and a narrowing inside a narrowing stays inside both
    let both = narrowed.narrowed_to(&chihuai);
    assert!(!p.decide(&both, "village.residents", &[]).unwrap().visible());
    let snapshot = p.snapshot();
    let dispatch = snapshot
        .scope_of(&narrowed, "tasks.visit", Action::Dispatch)
        .unwrap();
    assert!(dispatch.allows("330824116224") && !dispatch.allows("330824117201"));
}
