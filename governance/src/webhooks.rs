//! Notifications: outbound webhooks (a 浙政钉/DingTalk-style robot URL, or any HTTP endpoint)
//! told when a task is dispatched or escalated and when a scheduled run fails.
//!
//! A webhook is registered like a source: admin may name any host; anyone else only the hosts
//! admin has granted to the webhook's jurisdiction, checked again at every delivery and at
//! every DNS answer, with no proxy and no redirect. Each delivery is stored before it is sent
//! and signed with the webhook's own key (HMAC-SHA256 over `<unix time>.<body>`, in
//! `X-Tiaokuai-Signature: t=<unix time>,v1=<hex>`); an endpoint that is down or slow is tried
//! again with growing waits, and after the last attempt the delivery is listed as failed. No
//! delivery, however it goes, changes the task or run it is about.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tiaokuai_catalog::{
    Catalog, DeliveryAttempt, DeliveryRecord, DeliveryStatus, JurisdictionCode, NewDelivery,
    NewWebhook, TaskRecord, WebhookRecord, token,
};
use tiaokuai_engine::{Caller, Engine, EngineError, Result};
use utoipa::ToSchema;

use crate::clock::{self, Clock, stamp};

/// What a webhook may be told of.
pub const EVENTS: [&str; 3] = ["task.dispatched", "task.escalated", "run.failed"];

/// How often due deliveries are looked for (sooner when the clock jumps).
pub const DELIVERY_PERIOD: Duration = Duration::from_secs(5);

/// How long an endpoint has to answer one attempt.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The waits before the second, third, … attempt; after the last, the delivery has failed.
const BACKOFF_SECS: [i64; 5] = [30, 120, 600, 1800, 7200];

/// The most deliveries a read of a webhook lists (the newest).
pub const MAX_LISTED_DELIVERIES: usize = 200;

/// How long a delivery that ended (delivered or failed) is kept.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

/// The most webhooks one principal (other than admin) may keep.
pub const MAX_WEBHOOKS_PER_PRINCIPAL: usize = 20;

/// Deliveries attempted at once.
const CONCURRENT_DELIVERIES: usize = 4;

fn every_event() -> Vec<String> {
    EVENTS.iter().map(|e| (*e).to_owned()).collect()
}

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "马金镇调度群机器人",
    "url": "https://oapi.dingtalk.com/robot/send?access_token=…",
    "jurisdiction": "330824116000",
    "events": ["task.dispatched", "task.escalated"]
}))]
pub struct WebhookRequest {
    pub name: String,
    /// An `http://` or `https://` URL; a non-admin's must be on a host admin has granted to the
    /// jurisdiction.
    pub url: String,
    /// Events about this jurisdiction, or below it, are delivered.
    #[schema(value_type = String)]
    pub jurisdiction: String,
    /// Some of `task.dispatched`, `task.escalated`, `run.failed`; all of them if left out.
    #[serde(default = "every_event")]
    pub events: Vec<String>,
}

/// A webhook as it is made: with its signing key, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookRecord,
    /// The key every delivery is signed with; it is not shown again.
    pub secret: String,
}

/// A webhook with its deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDetail {
    #[serde(flatten)]
    pub webhook: WebhookRecord,
    /// Newest first.
    pub deliveries: Vec<DeliveryRecord>,
}

/// The notifications service.
#[derive(Debug)]
pub struct Notifier {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    /// Wakes the deliveries when something is queued.
    queued: Arc<tokio::sync::Notify>,
}

fn bad(text: String) -> EngineError {
    EngineError::BadRequest(text.into())
}

/// Whether the caller holds a role in `code` or above it.
pub(crate) fn holds_role_over(caller: &Caller, code: &JurisdictionCode) -> bool {
    caller.is_admin()
        || caller.roles.iter().any(|role| {
            role.jurisdiction == "*"
                || JurisdictionCode::parse(&role.jurisdiction).is_ok_and(|held| held.covers(code))
        })
}

/// The signature header of `body` sent at `unix` with `secret`.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{unix}.").as_bytes());
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a task event says: the task, and a text a chat robot shows as it is.
fn task_payload(event: &str, task: &TaskRecord, text: String) -> Value {
    json!({
        "event": event,
        "msgtype": "text",
        "text": {"content": text},
        "task": {
            "id": task.id,
            "title": task.title,
            "detail": task.detail,
            "category": task.category,
            "jurisdiction": task.jurisdiction,
            "urgency": task.urgency,
            "status": task.status,
            "accept_due_at": task.accept_due_at,
            "supervision": task.supervision,
            "escalated_to": task.escalated_to,
            "created_by": task.created_by,
        },
    })
}

impl Notifier {
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>) -> Self {
        Self {
            engine,
            clock,
            queued: Arc::default(),
        }
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.engine.catalog()
    }

    pub async fn create(&self, caller: &Caller, request: WebhookRequest) -> Result<CreatedWebhook> {
        if request.name.trim().is_empty() || request.name.chars().count() > 200 {
            return Err(bad("name: from 1 to 200 characters".into()));
        }
        let url = url::Url::parse(&request.url).map_err(|e| bad(format!("url: {e}")))?;
        let code = JurisdictionCode::parse(&request.jurisdiction)
            .map_err(|e| bad(format!("jurisdiction: {e}")))?;
        if !self.catalog().has_jurisdiction(&code).await? {
            return Err(bad(format!(
                "jurisdiction: {code} is not in the jurisdiction tree"
            )));
        }
        let mut events = BTreeSet::new();
        for event in &request.events {
            if !EVENTS.contains(&event.as_str()) {
                return Err(bad(format!(
                    "events: {event:?} is not one of {}",
                    EVENTS.join(", ")
                )));
            }
            events.insert(event.clone());
        }
        if events.is_empty() {
            return Err(bad("events: at least one".into()));
        }
        if !holds_role_over(caller, &code) {
            return Err(EngineError::PermissionDenied(
                format!(
                    "{} holds no role in {code} or above it, so may not be told of its events",
                    caller.name()
                )
                .into(),
            ));
        }
        self.engine.check_outbound(caller, &code, &url).await?;
        if !caller.is_admin() {
            let kept = self.list(caller).await?.len();
            if kept >= MAX_WEBHOOKS_PER_PRINCIPAL {
                return Err(EngineError::Conflict(
                    format!(
                        "{} keeps {kept} webhooks, the most a principal may; delete one first",
                        caller.name()
                    )
                    .into(),
                ));
            }
        }
        let secret = format!("whsec_{}", &token::generate()[3..]);
        let new = NewWebhook {
            id: token::new_id("wh"),
            name: request.name,
            url: url.to_string(),
            jurisdiction: code,
            events: events.into_iter().collect(),
            secret: self.engine.seal_secret(&secret)?,
            confined: !caller.is_admin(),
            created_by: caller.name().to_owned(),
        };
        let webhook = self.catalog().insert_webhook(new).await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    fn may_manage(caller: &Caller, webhook: &WebhookRecord) -> bool {
        caller.is_admin() || webhook.created_by == caller.name()
    }

    /// The webhooks the caller made (every one, for admin).
    pub async fn list(&self, caller: &Caller) -> Result<Vec<WebhookRecord>> {
        Ok(self
            .catalog()
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| Self::may_manage(caller, w))
            .collect())
    }

    async fn managed(&self, caller: &Caller, id: &str) -> Result<WebhookRecord> {
        match self.catalog().webhook(id).await? {
            Some(webhook) if Self::may_manage(caller, &webhook) => Ok(webhook),
            _ => Err(EngineError::NotFound(format!("webhook {id:?}").into())),
        }
    }

    /// A webhook and its deliveries (only those in `status`, if given).
    pub async fn get(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<DeliveryStatus>,
    ) -> Result<WebhookDetail> {
        let webhook = self.managed(caller, id).await?;
        let deliveries = self
            .catalog()
            .deliveries(id, status, MAX_LISTED_DELIVERIES)
            .await?;
        Ok(WebhookDetail {
            webhook,
            deliveries,
        })
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        self.managed(caller, id).await?;
        Ok(self.catalog().delete_webhook(id, caller.name()).await?)
    }

    /// Queues `payload` for every webhook told of `event` in any of `about`. A failure is
    /// logged, never passed on: telling is not the work it tells of.
    pub async fn notify(&self, event: &str, about: &[&JurisdictionCode], payload: Value) {
        let queued = async {
            let now = stamp(self.clock.now());
            let deliveries: Vec<NewDelivery> = self
                .catalog()
                .webhooks()
                .await?
                .into_iter()
                .filter(|w| w.events.iter().any(|e| e == event))
                .filter(|w| about.iter().any(|code| w.jurisdiction.covers(code)))
                .map(|w| NewDelivery {
                    id: token::new_id("dlv"),
                    webhook_id: w.id,
                    event: event.to_owned(),
                    payload: payload.clone(),
                    created_at: now.clone(),
                })
                .collect();
            if !deliveries.is_empty() {
                self.catalog().enqueue_deliveries(deliveries).await?;
                self.queued.notify_one();
            }
            Ok::<_, EngineError>(())
        }
        .await;
        if let Err(error) = queued {
            tracing::warn!(event, %error, "a notification could not be queued");
        }
    }

    /// Tells of tasks just dispatched.
    pub async fn dispatched(&self, tasks: &[TaskRecord]) {
        for task in tasks {
            let text = format!(
                "【调度任务】{}（{}），请于 {} 前受理",
                task.title, task.jurisdiction, task.accept_due_at
            );
            let payload = task_payload("task.dispatched", task, text);
            self.notify("task.dispatched", &[&task.jurisdiction], payload)
                .await;
        }
    }

    /// Tells of a task just escalated, to its jurisdiction and to where it went.
    pub async fn escalated(&self, task: &TaskRecord) {
        let to = task
            .escalated_to
            .as_ref()
            .map(JurisdictionCode::as_str)
            .unwrap_or("—");
        let text = format!(
            "【督办·{}】{}（{}）超时未受理，已上报 {to}",
            task.supervision.as_str(),
            task.title,
            task.jurisdiction
        );
        let payload = task_payload("task.escalated", task, text);
        let mut about = vec![&task.jurisdiction];
        about.extend(task.escalated_to.as_ref());
        self.notify("task.escalated", &about, payload).await;
    }

    /// Attempts every delivery that is due; returns how many were attempted. Deliveries that
    /// ended more than [`DELIVERY_RETENTION_DAYS`] ago are deleted on the way.
    pub async fn deliver_due(&self) -> Result<usize> {
        let now = self.clock.now();
        let kept = now - chrono::Duration::days(DELIVERY_RETENTION_DAYS);
        self.catalog().expire_deliveries(&stamp(kept)).await?;
        let due = self.catalog().due_deliveries(&stamp(now), 100).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENT_DELIVERIES, |delivery| async move {
                if let Err(error) = self.attempt(&delivery).await {
                    tracing::warn!(delivery = %delivery.id, %error, "a delivery could not be recorded");
                }
            })
            .await;
        Ok(count)
    }

    async fn attempt(&self, delivery: &DeliveryRecord) -> Result<()> {
        let Some(webhook) = self.catalog().webhook(&delivery.webhook_id).await? else {
            return Ok(());
        };
        let sent = async {
            let url = url::Url::parse(&webhook.target).map_err(|e| format!("url: {e}"))?;
            let secret = self
                .engine
                .unseal_secret(&webhook.secret)
                .map_err(|e| e.public_message())?;
            let body = serde_json::to_vec(&delivery.payload).map_err(|e| e.to_string())?;
            let unix = self.clock.now().timestamp();
            let headers = [
                ("x-tiaokuai-event", delivery.event.clone()),
                ("x-tiaokuai-delivery", delivery.id.clone()),
                ("x-tiaokuai-signature", signature(&secret, unix, &body)),
            ];
            let confined = webhook.confined.then_some(&webhook.jurisdiction);
            let status = self
                .engine
                .post_outbound(confined, &url, &headers, body, DELIVERY_TIMEOUT)
                .await?;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("the endpoint answered {status}"))
            }
        }
        .await;
        let now = self.clock.now();
        let attempt = match sent {
            Ok(()) => DeliveryAttempt::Delivered { at: stamp(now) },
            Err(error) => match BACKOFF_SECS.get(delivery.attempts as usize) {
                Some(wait) => DeliveryAttempt::Retry {
                    error,
                    next: stamp(now + chrono::Duration::seconds(*wait)),
                },
                None => {
                    tracing::warn!(delivery = %delivery.id, webhook = %webhook.id, %error, "a delivery failed for good");
                    DeliveryAttempt::Failed {
                        at: stamp(now),
                        error,
                    }
                }
            },
        };
        Ok(self.catalog().record_attempt(&delivery.id, attempt).await?)
    }

    /// Delivers what is due every [`DELIVERY_PERIOD`], whenever something is queued and
    /// whenever the clock jumps, for as long as the service lives.
    pub fn watch(notifier: &Arc<Notifier>) -> tokio::task::JoinHandle<()> {
        let clock = notifier.clock.clone();
        let woken = Some(notifier.queued.clone());
        clock::every(
            notifier,
            &*clock,
            DELIVERY_PERIOD,
            woken,
            "due deliveries",
            |n| async move { n.deliver_due().await },
        )
    }
}
