//! The real-time driver: one connector on the wall clock ([`crate::clock`]), as `intune-mock
//! connector` runs it, until it is told to stop.

use super::Connector;
use crate::clock::wall;

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
        let due = connector
            .next_poll()
            .unwrap_or_else(|| wall() + connector.config.poll_interval);
        let wait = (due - wall()).to_std().unwrap_or_default();
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = wall();
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
        let done = connector.work(wall()).await;
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
    connector.stop(wall());
}
