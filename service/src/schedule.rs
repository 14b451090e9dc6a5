//! When the service's answers to connectors next change by themselves, so a driver of virtual
//! time (the scenario harness) can jump straight there instead of simulating idle polls.
//!
//! Status changes need no entry here: history is reconciled with exact instants whenever it is
//! read. What is listed are instants at which a connector's *calls* get a different answer: a
//! version gate closing (retirement, the legacy dates) and a release becoming available to a
//! tenant (what the auto-update endpoint offers), a lease expiring or a retry backoff ending.

use chrono::{DateTime, Duration, Utc};

use crate::domain::lifecycle;
use crate::ops::{Ops, OpsResult};

/// The earliest such instant strictly after `after`, if any.
pub async fn next_due_after(ops: &Ops, after: DateTime<Utc>) -> OpsResult<Option<DateTime<Utc>>> {
    let catalog = ops.releases().catalog().await?;
    let mut best: Option<DateTime<Utc>> = None;
    let mut consider = |at: DateTime<Utc>| {
        if at > after && best.is_none_or(|b| at < b) {
            best = Some(at);
        }
    };
    for tenant in ops.tenants().list().await? {
        // The gates depend on the version alone: each version present once.
        for version in ops.connectors().versions(&tenant.id).await? {
            lifecycle::refusal_boundaries(&catalog, version)
                .into_iter()
                .for_each(&mut consider);
        }
        let delay = Duration::days(tenant.rollout_delay_days as i64);
        for release in catalog.releases() {
            consider(release.released + delay);
        }
    }
    if let Some(deadline) = ops.jobs().next_deadline(after).await? {
        consider(deadline);
    }
    Ok(best)
}
