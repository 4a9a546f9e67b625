//! The time governance keeps: deadlines, escalations and schedules read it from a [`Clock`], so
//! that a test moves time on instead of waiting for it.

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::{Notify, watch};

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

/// Does `work` on a service every `period`, whenever the clock jumps and whenever `woken` is
/// notified, for as long as the service lives: the loop holds it weakly, and ends once its
/// last owner lets it go. A failure is logged and the work is tried again at the next turn.
pub fn every<T, F, Fut>(
    service: &Arc<T>,
    clock: &dyn Clock,
    period: std::time::Duration,
    woken: Option<Arc<Notify>>,
    what: &'static str,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = tiaokuai_engine::Result<usize>> + Send,
{
    let service = Arc::downgrade(service);
    let mut jumps = clock.jumps();
    tokio::spawn(async move {
        loop {
            {
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(error) = work(service).await {
                    tracing::warn!(%error, "{what} could not be done; trying again");
                }
            }
            match &woken {
                Some(woken) => {
                    tokio::select! {
                        _ = tick(&mut jumps, period) => {}
                        _ = woken.notified() => {}
                    }
                }
                None => tick(&mut jumps, period).await,
            }
        }
    })
}
