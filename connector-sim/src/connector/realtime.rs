//! The real-time driver: one connector against a running service, as `intune-mock connector`
//! runs it, until it is told to stop.
//!
//! Time is the service's: each instant the connector works with is the `Date` of the service's
//! latest answer ([`Connector::service_now`]), so a connector follows a virtual clock that is
//! frozen, set or advanced by months as it follows a real one. Polls are spaced on the wall
//! clock (one poll interval at most), so a frozen service clock does not stop the connector.

use chrono::{DateTime, Utc};

use super::Connector;
use crate::clock::wall;

impl Connector {
    /// The service's clock as of its latest answer; the wall clock before any answer.
    pub fn service_now(&self) -> DateTime<Utc> {
        self.client.service_date().unwrap_or_else(wall)
    }
}

/// Polls `connector` on its grid on the wall clock (each poll, then each worker's round) until
/// `shutdown` resolves; `after_poll` is called after each poll's work (the command saves the
/// connector's state there). Errors are logged and polling goes on, as the real service does.
///
/// Stopping: no poll and no download starts once `shutdown` has resolved. A poll already under
/// way is finished first, its results uploaded (every call ends within the client's 30-second
/// timeout); a result that cannot be uploaded leaves its lease to expire, as after a crash. Then
/// the connector writes event 0002 (service stopped).
pub async fn run_realtime(
    connector: &mut Connector,
    shutdown: impl std::future::Future<Output = ()>,
    mut after_poll: impl FnMut(&Connector),
) {
    tokio::pin!(shutdown);
    loop {
        let interval = connector.config.poll_interval;
        let due = connector
            .next_poll()
            .unwrap_or_else(|| connector.service_now() + interval);
        // Until the next poll by the service's clock, but never longer than one interval of
        // wall time: a frozen clock still sees the connector poll, a clock set back too.
        let wait = (due - connector.service_now())
            .min(interval)
            .to_std()
            .unwrap_or_default();
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
        // The service's time now, not as of the last answer: after a jump of the clock the poll
        // is at the new instant, so its health message (due by then) goes first and claims the
        // uploads it kept up, as a connector that lived through the span would have.
        let _ = connector.client.service_time().await;
        let now = connector.service_now();
        if let Err(e) = connector.poll(now).await {
            tracing::warn!(error = %e, "check-in failed; will try again");
        }
        // Told to stop during the poll: no download starts.
        let stopping = tokio::select! {
            biased;
            _ = &mut shutdown => true,
            _ = std::future::ready(()) => false,
        };
        if stopping {
            after_poll(connector);
            break;
        }
        let done = connector.work(connector.service_now()).await;
        if done.leased > 0 {
            tracing::info!(
                leased = done.leased,
                succeeded = done.succeeded,
                failed = done.failed,
                retried = done.retried,
                "handled requests"
            );
        }
        after_poll(connector);
    }
    connector.stop(connector.service_now());
}
