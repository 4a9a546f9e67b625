//! Policy changes are atomic: queries run from several tasks while other tasks grant and revoke
//! access through the API, and no answer ever reflects a grant revoked before the query
//! started (nor misses one made before it started and revoked after it ended).
//!
//! The principal always reads one village's row; each toggled grant adds rows it could not
//! see otherwise, a different number for each grant, so every answer tells which grants it was
//! computed under. Each toggler records when its requests were sent and when they returned;
//! a query is checked against the windows in which a grant was certainly absent (from a
//! revocation's return to the next grant's sending) or certainly present.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai::ServerConfig;
use tiaokuai_policies::Caller;

use crate::fixtures::{CHIHUAI_VILLAGE, HUASHAN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer};

/// Rows per village: each grant's rows are a bit of the count.
const ALWAYS: i64 = 1; // 霞山村, held throughout
const BY_ASSIGNMENT: i64 = 2; // 华山村, through a role assignment that is made and revoked
const BY_LINE: i64 = 4; // 池淮村, through a policy line that is added and revoked
const CYCLES: usize = 12;
const QUERY_TASKS: usize = 3;

/// One change request: sent and returned.
#[derive(Debug, Clone, Copy)]
struct Change {
    granted: bool,
    sent: Instant,
    returned: Instant,
}

/// One answer: when it was asked, when it was complete, what it counted.
#[derive(Debug, Clone, Copy)]
struct Answer {
    asked: Instant,
    answered: Instant,
    count: i64,
}

/// Whether the grant was certainly absent, or certainly present, for the whole of the query:
/// `Some(false)` inside a window from a revocation's return to the next grant's sending,
/// `Some(true)` inside one from a grant's return to the next revocation's sending.
fn certainly(changes: &[Change], answer: &Answer) -> Option<bool> {
    for (i, change) in changes.iter().enumerate() {
        let next_sent = changes.get(i + 1).map(|c| c.sent);
        let inside =
            change.returned <= answer.asked && next_sent.is_none_or(|sent| answer.answered <= sent);
        if inside {
            return Some(change.granted);
        }
    }
    None
}

/// Many principals and lines besides the ones that change, so that a reload takes a while and
/// concurrent ones overlap (as they would in a county's real policy).
fn filler() -> String {
    let mut text = String::from("p, filler, *, county.*, read\n");
    for i in 0..100 {
        text.push_str(&format!("p, filler_{i}, *, other_{i}.*, read\n"));
        text.push_str(&format!("g, filler_user_{i}, filler, {XIASHAN}\n"));
        text.push_str(&format!("g, filler_user_{i}, filler_{i}, {HUASHAN}\n"));
    }
    text
}

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.admin_token = Some(crate::harness::ADMIN_TOKEN.into());
    config.engine.max_queries_per_principal = QUERY_TASKS * 2;
    {
        let engine = tiaokuai::open_engine(&config).await.unwrap();
        let admin = Caller::named(&**engine.catalog(), "admin")
            .await
            .unwrap()
            .unwrap();
        engine.import_policy(&admin, &filler()).await.unwrap();
    }
    let server = TestServer::serve(dir, &config).await;
    server.load_tree().await;
    let mut rows = Vec::new();
    let mut id = 0;
    for (village, count) in [
        (XIASHAN, ALWAYS),
        (HUASHAN, BY_ASSIGNMENT),
        (CHIHUAI_VILLAGE, BY_LINE),
    ] {
        for _ in 0..count {
            id += 1;
            rows.push((id, "居民", village));
        }
    }
    server
        .register_people(&rows, "330824000000", "county.people", json!({}))
        .await;
    server
}

async fn created(server: &TestServer, path: &str, body: Value) -> String {
    let response = server.post(ADMIN_TOKEN, path, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// Grants and revokes `CYCLES` times, pausing between changes so that queries fall inside the
/// windows; records every change.
async fn toggle(
    server: Arc<TestServer>,
    path: &'static str,
    grant: Value,
    log: Arc<Mutex<Vec<Change>>>,
    pause: Duration,
) {
    for _ in 0..CYCLES {
        let sent = Instant::now();
        let id = created(&server, path, grant.clone()).await;
        log.lock().unwrap().push(Change {
            granted: true,
            sent,
            returned: Instant::now(),
        });
        tokio::time::sleep(pause).await;
        let sent = Instant::now();
        let response = server.delete(ADMIN_TOKEN, &format!("{path}/{id}")).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        log.lock().unwrap().push(Change {
            granted: false,
            sent,
            returned: Instant::now(),
        });
        tokio::time::sleep(pause).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_reflects_a_revoked_grant() {
    let server = Arc::new(server().await);
    created(
        &server,
        "/v1/policies",
        json!({"role": "reader", "jurisdiction": "*", "object": "county.*", "action": "read"}),
    )
    .await;
    let carol = server.principal("carol").await;
    for (role, village) in [("reader", XIASHAN), ("extra", CHIHUAI_VILLAGE)] {
        created(
            &server,
            "/v1/role-assignments",
            json!({"principal": "carol", "role": role, "jurisdiction": village}),
        )
        .await;
    }
    let sql = "SELECT count(*) FROM county.people";
    assert_eq!(server.rows(&carol, sql).await, vec![json!([ALWAYS])]);

    let assignment_log = Arc::new(Mutex::new(Vec::new()));
    let line_log = Arc::new(Mutex::new(Vec::new()));
    let togglers = [
        tokio::spawn(toggle(
            server.clone(),
            "/v1/role-assignments",
            json!({"principal": "carol", "role": "reader", "jurisdiction": HUASHAN}),
            assignment_log.clone(),
            Duration::from_millis(200),
        )),
        tokio::spawn(toggle(
            server.clone(),
            "/v1/policies",
            json!({"role": "extra", "jurisdiction": "*", "object": "county.*", "action": "read"}),
            line_log.clone(),
            Duration::from_millis(260),
        )),
    ];
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut askers = Vec::new();
    for _ in 0..QUERY_TASKS {
        let (server, carol, done) = (server.clone(), carol.clone(), done.clone());
        askers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let asked = Instant::now();
                let (status, body) = server.query(&carol, sql).await;
                let answered = Instant::now();
                let count = match status {
                    StatusCode::OK => body["rows"][0][0].as_i64().unwrap(),
                    other => panic!("{sql} answered {other}: {body}"),
                };
                answers.push(Answer {
                    asked,
                    answered,
                    count,
                });
            }
            answers
        }));
    }
    for toggler in togglers {
        tokio::time::timeout(Duration::from_secs(300), toggler)
            .await
            .expect("the policy changes did not finish")
            .unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for asker in askers {
        answers.extend(asker.await.unwrap());
    }

    let grants = [
        (
            BY_ASSIGNMENT,
            assignment_log.lock().unwrap().clone(),
            "the role assignment in 华山村",
        ),
        (
            BY_LINE,
            line_log.lock().unwrap().clone(),
            "the policy line of the role held in 池淮村",
        ),
    ];
    let (mut absent, mut present) = (0, 0);
    let mut violations = Vec::new();
    for answer in &answers {
        assert!(
            answer.count & ALWAYS == ALWAYS && answer.count <= ALWAYS + BY_ASSIGNMENT + BY_LINE,
            "an answer no policy state gives: {answer:?}"
        );
        for (bit, changes, what) in &grants {
            let shown = answer.count & bit == *bit;
            match certainly(changes, answer) {
                Some(false) => {
                    absent += 1;
                    if shown {
                        violations.push(format!(
                            "{what} was revoked before the query, yet it counted {}",
                            answer.count
                        ));
                    }
                }
                Some(true) => {
                    present += 1;
                    if !shown {
                        violations.push(format!(
                            "{what} was granted before the query, yet it counted {}",
                            answer.count
                        ));
                    }
                }
                None => {}
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} of {} answers:\n{}",
        violations.len(),
        answers.len(),
        violations.join("\n")
    );
    // the windows were really exercised, both ways
    assert!(
        absent >= 20 && present >= 20,
        "too few answers inside the windows: {absent} after revocations, {present} after grants, of {}",
        answers.len()
    );
}
