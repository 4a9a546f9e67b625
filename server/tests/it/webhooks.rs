//! Webhooks through the real server and a receiver on loopback: signed deliveries of dispatch
//! and escalation, only for the webhook's jurisdiction, retries while the receiver is down
//! (with no effect on the task), the list of failed deliveries, and hosts confined to grants.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{CHIHUAI, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, assert_created, assert_error};
use crate::tasks::{Desk, desk, task};

/// What a receiver was sent: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// An HTTP endpoint that records what it is sent and answers with the status it is set to.
struct Receiver {
    url: String,
    port: u16,
    received: Received,
    answer: Arc<AtomicU16>,
    /// Seconds it waits before answering.
    delay: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver() -> Receiver {
    let received: Received = Arc::default();
    let answer = Arc::new(AtomicU16::new(200));
    let delay = Arc::new(AtomicU16::new(0));
    let (log, status, wait) = (received.clone(), answer.clone(), delay.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (log, status, wait) = (log.clone(), status.clone(), wait.clone());
            async move {
                log.lock().unwrap().push((headers, body.to_vec()));
                let seconds = wait.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(u64::from(seconds))).await;
                StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        port,
        received,
        answer,
        delay,
        task,
    }
}

impl Receiver {
    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits until `n` requests have arrived, or fails after ten seconds.
    async fn until(&self, n: usize) -> Vec<(HeaderMap, Value)> {
        for _ in 0..500 {
            if self.count() >= n {
                return self
                    .received
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(h, b)| (h.clone(), serde_json::from_slice(b).unwrap()))
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} requests arrived, not {n}", self.count());
    }
}

/// Checks a delivery's signature as a receiver would, with the webhook's key.
fn signed_by(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers["x-tiaokuai-signature"].to_str().unwrap();
    let unix: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    header == tiaokuai_governance::webhooks::signature(secret, unix, body)
}

async fn webhook(desk: &Desk, token: &str, url: &str, jurisdiction: &str) -> reqwest::Response {
    let body = json!({"name": "调度群", "url": url, "jurisdiction": jurisdiction});
    desk.server.post(token, "/v1/webhooks", body).await
}

async fn dispatch(desk: &Desk, jurisdiction: &str) -> String {
    let body = json!({"title": "核查", "category": "visit", "jurisdiction": jurisdiction});
    let created = assert_created(desk.server.post(&desk.carol, "/v1/tasks", body).await).await;
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn deliveries_are_signed_and_go_to_the_webhooks_of_the_tasks_jurisdiction() {
    let desk = desk().await;
    let majin = receiver().await;
    let chihuai = receiver().await;
    // a chat robot's URL carries its access token in the query: it is never shown
    let robot = format!("{}?access_token=robot-token-1234", majin.url);
    let created = assert_created(webhook(&desk, ADMIN_TOKEN, &robot, MAJIN).await).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["url"], format!("{}?access_token=…", majin.url));
    assert_created(webhook(&desk, ADMIN_TOKEN, &chihuai.url, CHIHUAI).await).await;
    // the key is shown once: never in a list or a read
    let listed = desk
        .server
        .get(ADMIN_TOKEN, "/v1/webhooks")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && !listed.contains("secret"),
        "{listed}"
    );

    let id = dispatch(&desk, XIASHAN).await;
    let got = majin.until(1).await;
    let (headers, payload) = &got[0];
    assert_eq!(headers["x-tiaokuai-event"], "task.dispatched");
    assert_eq!(payload["task"]["id"], id.as_str());
    assert_eq!(payload["msgtype"], "text");
    assert!(
        payload["text"]["content"]
            .as_str()
            .unwrap()
            .contains("核查")
    );
    let raw = majin.received.lock().unwrap()[0].1.clone();
    assert!(signed_by(&secret, headers, &raw), "the signature checks");
    assert!(!signed_by("whsec_other", headers, &raw));

    // not accepted in time: the escalation is told too
    desk.clock.advance(chrono::Duration::minutes(31));
    let got = majin.until(2).await;
    assert_eq!(got[1].0["x-tiaokuai-event"], "task.escalated");
    assert_eq!(got[1].1["task"]["supervision"], "yellow");
    // 池淮镇's endpoint heard of none of it
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(chihuai.count(), 0);
}

/// Waits until the server has recorded `attempts` attempts of the webhook's first delivery
/// (an attempt is recorded after the receiver has answered it, or the delivery timed out), or
/// fails after thirty seconds.
async fn recorded(desk: &Desk, hook: &str, attempts: usize) {
    for _ in 0..1500 {
        let found: Value = desk
            .server
            .get(ADMIN_TOKEN, &format!("/v1/webhooks/{hook}"))
            .await
            .json()
            .await
            .unwrap();
        let deliveries = found["deliveries"].as_array().unwrap();
        if deliveries.last().is_some_and(|d| d["attempts"] == attempts) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("attempt {attempts} was never recorded");
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_retried_and_then_listed_as_failed() {
    let desk = desk().await;
    let down = receiver().await;
    down.answer.store(503, Ordering::SeqCst);
    let created = assert_created(webhook(&desk, ADMIN_TOKEN, &down.url, MAJIN).await).await;
    let hook = created["id"].as_str().unwrap().to_owned();
    let id = dispatch(&desk, XIASHAN).await;
    down.until(1).await;
    // the task is untouched by its failing notification
    let (status, accepted) = {
        let response = desk
            .server
            .post(&desk.alice, &format!("/v1/tasks/{id}/accept"), json!({}))
            .await;
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{accepted}");
    // each retry waits longer; after the sixth attempt the delivery has failed
    recorded(&desk, &hook, 1).await;
    for attempt in 2..=6 {
        desk.clock.advance(chrono::Duration::hours(3));
        down.until(attempt).await;
        recorded(&desk, &hook, attempt).await;
    }
    let path = format!("/v1/webhooks/{hook}?status=failed");
    let mut failed = Value::Null;
    for _ in 0..500 {
        failed = desk
            .server
            .get(ADMIN_TOKEN, &path)
            .await
            .json()
            .await
            .unwrap();
        if failed["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = &failed["deliveries"][0];
    assert_eq!(delivery["status"], "failed", "{failed}");
    assert_eq!(delivery["attempts"], 6);
    assert_eq!(delivery["last_error"], "the endpoint answered 503");
    desk.clock.advance(chrono::Duration::hours(3));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(down.count(), 6, "a failed delivery is not tried again");
    assert_eq!(task(&desk, ADMIN_TOKEN, &id).await["status"], "accepted");
    // an ended delivery is kept 30 days, then deleted
    desk.clock.advance(chrono::Duration::days(31));
    for _ in 0..500 {
        let found: Value = desk
            .server
            .get(ADMIN_TOKEN, &path)
            .await
            .json()
            .await
            .unwrap();
        if found["deliveries"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expired: Value = desk
        .server
        .get(ADMIN_TOKEN, &path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["deliveries"], json!([]), "{expired}");

    // back up: the next event is delivered at once
    down.answer.store(200, Ordering::SeqCst);
    dispatch(&desk, XIASHAN).await;
    down.until(7).await;
    let delivered = format!("/v1/webhooks/{hook}?status=delivered");
    for _ in 0..500 {
        let found: Value = desk
            .server
            .get(ADMIN_TOKEN, &delivered)
            .await
            .json()
            .await
            .unwrap();
        if found["deliveries"].as_array().is_some_and(|d| d.len() == 1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the delivery was never recorded as delivered");
}

#[tokio::test]
async fn a_webhook_is_confined_to_the_hosts_admin_grants() {
    let desk = desk().await;
    let hook = receiver().await;
    // a dispatcher may not point the server at loopback, nor anywhere not granted
    let refused = webhook(&desk, &desk.carol, &hook.url, MAJIN).await;
    assert_error(refused, StatusCode::FORBIDDEN, "permission_denied").await;
    let elsewhere = webhook(&desk, &desk.carol, "https://hooks.example.org/x", MAJIN).await;
    assert_error(elsewhere, StatusCode::FORBIDDEN, "permission_denied").await;
    // nor be told of a jurisdiction it holds no role in
    desk.server
        .grant(CHIHUAI, "host", &format!("127.0.0.1:{}", hook.port))
        .await;
    let foreign = webhook(&desk, &desk.carol, &hook.url, CHIHUAI).await;
    assert_error(foreign, StatusCode::FORBIDDEN, "permission_denied").await;
    let cases = [
        ("ftp://127.0.0.1/x", "url"),
        ("http://user:pass@127.0.0.1/x", "credentials"),
        ("not a url", "url"),
    ];
    for (url, named) in cases {
        let response = webhook(&desk, ADMIN_TOKEN, url, MAJIN).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(named), "{url}: {message}");
        assert!(!message.contains("pass"), "{message}");
    }
    let body =
        json!({"name": "n", "url": hook.url, "jurisdiction": MAJIN, "events": ["task.done"]});
    let response = desk.server.post(ADMIN_TOKEN, "/v1/webhooks", body).await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;

    // granted, it is registered, confined, and delivered to
    desk.server
        .grant(MAJIN, "host", &format!("127.0.0.1:{}", hook.port))
        .await;
    let created = assert_created(webhook(&desk, &desk.carol, &hook.url, MAJIN).await).await;
    assert_eq!(created["confined"], true);
    dispatch(&desk, XIASHAN).await;
    hook.until(1).await;
    // a principal keeps at most 20 webhooks
    for _ in 1..20 {
        assert_created(webhook(&desk, &desk.carol, &hook.url, MAJIN).await).await;
    }
    let over = webhook(&desk, &desk.carol, &hook.url, MAJIN).await;
    let message = assert_error(over, StatusCode::CONFLICT, "conflict").await;
    assert!(message.contains("20 webhooks"), "{message}");
    // others do not see carol's webhooks
    let theirs: Value = desk
        .server
        .get(&desk.alice, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
}

#[tokio::test]
async fn an_endpoint_too_slow_to_answer_is_retried_and_the_task_goes_on() {
    let desk = desk().await;
    let slow = receiver().await;
    slow.delay.store(15, Ordering::SeqCst);
    let created = assert_created(webhook(&desk, ADMIN_TOKEN, &slow.url, MAJIN).await).await;
    let hook = created["id"].as_str().unwrap().to_owned();
    let id = dispatch(&desk, XIASHAN).await;
    slow.until(1).await;
    // the task is handled while its delivery hangs
    let response = desk
        .server
        .post(&desk.alice, &format!("/v1/tasks/{id}/accept"), json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // after the delivery's 10 s the attempt is given up and a retry is due
    recorded(&desk, &hook, 1).await;
    let found: Value = desk
        .server
        .get(ADMIN_TOKEN, &format!("/v1/webhooks/{hook}"))
        .await
        .json()
        .await
        .unwrap();
    let delivery = &found["deliveries"][0];
    assert_eq!(delivery["status"], "pending", "{found}");
    let error = delivery["last_error"].as_str().unwrap();
    assert!(error.contains("did not answer within 10 s"), "{error}");
    slow.delay.store(0, Ordering::SeqCst);
    desk.clock.advance(chrono::Duration::minutes(1));
    slow.until(2).await;
    recorded(&desk, &hook, 2).await;
}
