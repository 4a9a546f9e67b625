//! The time governance keeps: deadlines, escalations and schedules read it from a [`Clock`], so
//! that a test moves time on instead of waiting for it.

use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;

/// A source of the current time.
pub trait Clock: std::fmt::Debug + Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Changes whenever time jumps (a clock that is moved by hand); `None` for a clock that
    /// only runs.
    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        None
    }
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is moved.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    jumps: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn at(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
            jumps: watch::Sender::new(start),
        }
    }

    /// Moves the clock on by `by`, waking whatever waits on it.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
        self.jumps.send_replace(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        Some(self.jumps.subscribe())
    }
}

/// A time as the catalog stores it: RFC 3339 in UTC with milliseconds, so that text order is
/// time order.
pub fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored time; `None` for text that is not one.
pub fn parse_stamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Waits `period`, or less if the clock jumps meanwhile.
pub async fn tick(jumps: &mut Option<watch::Receiver<DateTime<Utc>>>, period: std::time::Duration) {
    match jumps {
        Some(jumps) => {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                changed = jumps.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(period).await;
                    }
                }
            }
        }
        None => tokio::time::sleep(period).await,
    }
}
