//! Webhooks: HTTP endpoints told of dispatch, escalation and failed runs, and each delivery
//! made to them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jurisdiction::JurisdictionCode;

/// A webhook to be stored.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: String,
    pub name: String,
    pub url: String,
    /// Events about this jurisdiction and below are delivered.
    pub jurisdiction: JurisdictionCode,
    pub events: Vec<String>,
    /// The signing key, sealed.
    pub secret: String,
    /// Held to the hosts admin granted the jurisdiction (registered by a non-admin).
    pub confined: bool,
    pub created_by: String,
}

/// A stored webhook; its signing key is never shown after it is made, nor the values in its
/// URL's query (a chat robot's URL carries its access token there).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookRecord {
    pub id: String,
    pub name: String,
    /// The target, with every query value shown as `…`.
    pub url: String,
    /// The whole target URL; never shown.
    #[serde(skip)]
    pub target: String,
    pub jurisdiction: JurisdictionCode,
    pub events: Vec<String>,
    pub confined: bool,
    pub created_by: String,
    pub created_at: String,
    #[serde(skip)]
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }
}

/// A delivery to be made.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub payload: serde_json::Value,
    pub created_at: String,
}

/// One event for one webhook, and how its delivery went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: String,
    /// When the next attempt is due (pending), or the last was made.
    pub next_attempt_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub enum DeliveryAttempt {
    Delivered {
        at: String,
    },
    /// Tried again at `next`.
    Retry {
        error: String,
        next: String,
    },
    /// No attempt is left.
    Failed {
        at: String,
        error: String,
    },
}

/// A URL as it may be shown: every query value replaced by `…`.
pub fn redacted_url(url: &str) -> String {
    match url.split_once('?') {
        None => url.to_owned(),
        Some((base, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, _)) => (query, "#…"),
                None => (query, ""),
            };
            let shown: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}=…"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}{fragment}", shown.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_not_shown() {
        let shown =
            super::redacted_url("https://oapi.dingtalk.com/robot/send?access_token=abc123&x=1");
        assert_eq!(
            shown,
            "https://oapi.dingtalk.com/robot/send?access_token=…&x=…"
        );
        assert_eq!(super::redacted_url("http://h/hook"), "http://h/hook");
    }
}
