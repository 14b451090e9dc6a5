//! The real-time driver: one connector on the wall clock ([`crate::clock`]).

use super::{Connector, ConnectorConfig};
use crate::client::{ClientError, ServiceClient};
use crate::work::Workbench;

/// Runs one connector on the wall clock until `shutdown` resolves: install, then poll on the
/// interval. Errors are logged and polling goes on, as the real service does.
pub async fn run_realtime(
    config: ConnectorConfig,
    client: ServiceClient,
    enrollment_secret: &str,
    workbench: Option<Workbench>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    let wall = crate::clock::wall;
    let mut connector = Connector::install(config, client, enrollment_secret, wall()).await?;
    tracing::info!(connector_id = connector.id(), "connector installed");
    if let Some(workbench) = workbench {
        connector.set_workbench(workbench);
    }
    let period = connector
        .config
        .poll_interval
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(30));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(period) => {
                if let Err(e) = connector.poll(wall()).await {
                    tracing::warn!(error = %e, "check-in failed; will try again");
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
            }
        }
    }
}
