//! Decision lookup on the query path versus evaluating the policy with Casbin.
//!
//! `cargo bench -p tiaokuai-benches --bench decisions`

use casbin::CoreApi;
use criterion::{Criterion, criterion_group, criterion_main};
use tiaokuai_catalog::Principal;
use tiaokuai_policies::point::{enforcer, subject};
use tiaokuai_policies::{Action, Caller, PolicyPoint};

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (rules, assignments) = tiaokuai_benches::large_policy(10_000);
    let lines = rules.len();
    let full = runtime
        .block_on(enforcer(rules.clone(), assignments.clone()))
        .expect("policy loads");
    let village = tiaokuai_benches::villages()[100].to_string();
    let loading = std::time::Instant::now();
    let point = runtime
        .block_on(PolicyPoint::new(rules, assignments))
        .expect("policy loads");
    println!(
        "loading the policy point (one enforcer per principal): {:?}",
        loading.elapsed()
    );
    let caller = Caller {
        within: None,
        principal: Principal {
            id: "p".into(),
            name: "official100".into(),
            created_at: String::new(),
        },
        roles: Vec::new(),
    };
    let sensitive = ["name", "id_card", "phone"];
    let warm = point
        .decide(&caller, "village.table_4", &sensitive)
        .expect("decides");
    assert!(warm.visible());

    let mut group = c.benchmark_group(format!("decision, {lines} policy lines, 269 villages"));
    group.bench_function("cached decision lookup (query path)", |b| {
        b.iter(|| {
            point
                .decide(&caller, "village.table_4", &sensitive)
                .expect("decides")
        })
    });
    group.bench_function("peer: Casbin enforce over every line, one request", |b| {
        let sub = subject("official100");
        b.iter(|| {
            full.enforce((sub.as_str(), village.as_str(), "village.table_4", "read"))
                .expect("enforces")
        })
    });
    group.bench_function("one scope, uncached (the principal's own enforcer)", |b| {
        b.iter(|| {
            point
                .scope("official100", "village.table_4", Action::Read)
                .expect("scope")
        })
    });
    group.sample_size(10);
    group.bench_function(
        "compile a table decision (read + 3 sensitive columns)",
        |b| {
            b.iter(|| {
                point.forget();
                point
                    .decide(&caller, "village.table_4", &sensitive)
                    .expect("decides")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
