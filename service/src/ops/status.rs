//! Status history kept current (docs/behaviour.md, "Status and its reasons"): the facts lock and
//! lazy reconciliation.
//!
//! Before any change to a fact a connector's status depends on (its own row, its tenant's
//! import key, the release catalog) and before any read of a status, the history of the
//! connectors concerned is brought up to now with the facts that held until then
//! (`domain::reconcile` computes it; this module reads the rows and writes the result).
//!
//! [`Facts`] serialises those "reconcile, then change facts" sequences within this process: two
//! of them interleaved would record the same entry twice or write back a stale connector row.
//! Reconciling needs a [`History`], which only [`Facts::lock`] hands out. Across replicas on one
//! database, `Store::record_reconciled` is idempotent instead (the same span computes the same
//! entries from the same facts).

use chrono::{DateTime, Utc};

use crate::domain::reconcile::{self, Presence};
use crate::domain::{ConnectorId, Evaluation};
use crate::store::{self, ConnectorRow};

use super::deps::Deps;
use super::error::OpsResult;
use super::rows;
use super::views::Tenant;

/// The facts lock (one per process).
#[derive(Debug, Default)]
pub(crate) struct Facts(tokio::sync::Mutex<()>);

impl Facts {
    /// Waits for the lock; reconciliation is possible through the answer until it is dropped.
    pub(crate) async fn lock<'a>(&'a self, deps: &'a Deps) -> History<'a> {
        History {
            deps,
            _held: self.0.lock().await,
        }
    }
}

/// A connector's check-in or health message arriving now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    pub connector_id: &'a ConnectorId,
    pub presence: Presence,
}

/// Reconciliation of status history, while the facts lock is held.
pub(crate) struct History<'a> {
    deps: &'a Deps,
    _held: tokio::sync::MutexGuard<'a, ()>,
}

/// A connector row with its status now.
pub(crate) type Evaluated = (ConnectorRow, Evaluation);

impl History<'_> {
    /// Brings the history of every connector of `tenant` up to `now`, and answers each with its
    /// status now.
    pub(crate) async fn reconcile(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> OpsResult<Vec<Evaluated>> {
        let (written, evaluated) = self.reconciliation(tenant, now, None, None).await?;
        if !written.is_empty() {
            self.deps
                .store
                .record_reconciled(&tenant.id, &written)
                .await?;
        }
        Ok(evaluated)
    }

    /// What reconciling `tenant`'s connectors up to `now` writes (new history rows and marks),
    /// and each one's status now, without writing it: of every connector, or of `only` (a row
    /// read under this lock), with `arrival` at `now`.
    pub(crate) async fn reconciliation(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
        only: Option<&ConnectorRow>,
        arrival: Option<Arrival<'_>>,
    ) -> OpsResult<(Vec<store::Reconciled>, Vec<Evaluated>)> {
        let store = &self.deps.store;
        let catalog = self.deps.catalog().await?;
        // One connector's reconciliation needs its own row and the tenant's newest version, not
        // every row of the tenant.
        let (connectors, tenant_facts) = match only {
            Some(row) => {
                let versions = store.connector_versions(&tenant.id).await?;
                let facts = rows::tenant_facts(tenant, versions.iter().map(String::as_str));
                (vec![row.clone()], facts)
            }
            None => {
                let connectors = store.list_connectors(&tenant.id).await?;
                let facts =
                    rows::tenant_facts(tenant, connectors.iter().map(|r| r.version.as_str()));
                (connectors, facts)
            }
        };
        let now_ms = now.timestamp_millis();
        let mut written = Vec::new();
        let mut evaluated = Vec::with_capacity(connectors.len());
        for row in connectors {
            let presence = arrival
                .filter(|a| *a.connector_id == row.id)
                .map(|a| a.presence);
            let r = reconcile::reconcile(
                rows::connector_facts(&row)?,
                &tenant_facts,
                &catalog,
                &rows::recorded(&row),
                now,
                presence,
            );
            if !r.changes.is_empty() || row.reconciled_ms != now_ms {
                let (last_status, last_reasons) = rows::snapshot_text(r.recorded.last.as_ref());
                written.push(store::Reconciled {
                    connector_id: row.id.clone(),
                    entries: r
                        .changes
                        .iter()
                        .map(|c| rows::history_row(&row.id, c))
                        .collect(),
                    reconciled_ms: now_ms,
                    last_status,
                    last_reasons,
                    seq: r.recorded.seq,
                });
            }
            evaluated.push((row, r.evaluation));
        }
        Ok((written, evaluated))
    }
}
