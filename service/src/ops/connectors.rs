//! Connectors (docs/behaviour.md, "Tenants and connectors", "Status and its reasons", "Updates
//! and rollout"): register, check in and upload health, reconfigure, uninstall, the version
//! gates, the update offer, and each connector's status and history.
//!
//! Every operation that changes a connector's facts, or reads a status, holds the facts lock
//! and reconciles history first (see `ops::status`). A check-in may carry `activeSince` (a
//! coalesced run of polls): presence is then continuous and no false `Inactive` is recorded.

use chrono::{DateTime, Duration, Utc};

use crate::domain::connector::CONNECTOR_LIMIT;
use crate::domain::lifecycle::{self, Operation};
use crate::domain::reconcile::{Presence, Snapshot};
use crate::domain::{ConnectorId, Feature, TenantId, Version};
use crate::ids::secret_hash;
use crate::store::{ConnectorRow, HealthWrite, HistoryRow};

use super::deps::Deps;
use super::error::{invalid, missing, optional, OpsError, OpsResult};
use super::rows;
use super::status::{Arrival, Facts};
use super::views::{
    Connector, ConnectorStatus, HealthMessage, NewConnector, Offered, Reconfigure, Registered,
    StatusChange, Tenant, UpdateOffer,
};

/// Health messages are kept this long.
fn health_kept() -> Duration {
    Duration::days(7)
}

/// The connectors' operations.
pub struct Connectors<'a> {
    pub(super) deps: &'a Deps,
    pub(super) facts: &'a Facts,
}

impl Connectors<'_> {
    /// The connector this credential belongs to (none once it is uninstalled).
    pub async fn by_credential(&self, credential: &str) -> OpsResult<Option<Connector>> {
        let found = self
            .deps
            .store
            .connector_by_credential(&secret_hash(credential))
            .await;
        optional(found)?.map(rows::connector).transpose()
    }

    /// Registers a connector in `tenant` and answers it with its own credential. Refused for a
    /// retired version, past the per-tenant limit, or on a machine that already has one.
    pub async fn register(&self, tenant: &Tenant, new: NewConnector) -> OpsResult<Registered> {
        let history = self.facts.lock(self.deps).await;
        let now = self.deps.now();
        let catalog = self.deps.catalog().await?;
        if let Some(refusal) = lifecycle::refusal(&catalog, new.version, Operation::Checkin, now) {
            return Err(OpsError::Refused(refusal, new.version));
        }
        let store = &self.deps.store;
        let mut connectors = store.list_connectors(&tenant.id).await?;
        if connectors.len() >= CONNECTOR_LIMIT as usize {
            return Err(OpsError::LimitReached);
        }
        let machine_key = new.machine_name.to_lowercase();
        if let Some(taken) = connectors.iter().find(|r| r.machine_key == machine_key) {
            return Err(OpsError::MachineTaken(taken.machine_name.clone()));
        }
        history.reconcile(tenant, now).await?;
        let credential = self.deps.ids.secret("cred");
        let id = ConnectorId::from(self.deps.ids.uuid().to_string());
        let mut row = rows::new_connector(id, tenant, secret_hash(&credential), new, now);
        connectors.push(row.clone());
        let evaluation = lifecycle::evaluate(
            &rows::connector_facts(&row)?,
            &rows::tenant_facts(tenant, connectors.iter().map(|r| r.version.as_str())),
            &catalog,
            now,
        );
        (row.last_status, row.last_reasons) = rows::snapshot_text(Some(&Snapshot::of(&evaluation)));
        let first = HistoryRow {
            connector_id: row.id.clone(),
            seq: 1,
            at_ms: now.timestamp_millis(),
            status: row.last_status.clone(),
            reasons: row.last_reasons.clone(),
        };
        store
            .insert_connector(&row, &first, CONNECTOR_LIMIT)
            .await?;
        Ok(Registered {
            connector: rows::connector(row)?,
            credential,
        })
    }

    /// Records a check-in. The reported version becomes the connector's version (that is how an
    /// update is reported). A retired version is refused and the check-in is not recorded.
    pub async fn checkin(
        &self,
        connector: &Connector,
        version: Version,
        active_since: Option<DateTime<Utc>>,
    ) -> OpsResult<()> {
        self.present(connector, version, active_since, None).await
    }

    /// A health message: it counts as a check-in (with the same `activeSince` claim) and as a
    /// health upload (`health_since`: uploads continuous since then). Kept 7 days.
    pub async fn record_health(
        &self,
        connector: &Connector,
        version: Version,
        active_since: Option<DateTime<Utc>>,
        health_since: Option<DateTime<Utc>>,
        body: &str,
    ) -> OpsResult<()> {
        self.present(connector, version, active_since, Some((health_since, body)))
            .await
    }

    /// A connector shows it is there: a check-in, or a health message (`health`: uploads
    /// continuous since then, and the message to keep).
    async fn present(
        &self,
        connector: &Connector,
        version: Version,
        active_since: Option<DateTime<Utc>>,
        health: Option<(Option<DateTime<Utc>>, &str)>,
    ) -> OpsResult<()> {
        let now = self.deps.now();
        for (field, since) in [
            ("activeSince", active_since),
            ("uploadingSince", health.and_then(|(since, _)| since)),
        ] {
            if let Some(since) = since.filter(|s| *s > now) {
                return Err(invalid(
                    "InvalidField",
                    format!(
                        "{field} {} is in the future (now is {})",
                        since.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                ));
            }
        }
        self.gate(version, Operation::Checkin).await?;
        let history = self.facts.lock(self.deps).await;
        let row = &self.current(connector).await?;
        let tenant = self.deps.tenant(&connector.tenant_id).await?;
        let arrival = Arrival {
            connector_id: &row.id,
            presence: Presence {
                active_since,
                health: health.map(|(since, _)| since),
            },
        };
        // A new version changes every connector's skew; otherwise only this one's presence changes.
        let version_changed = row.version != version.to_string();
        let only = (!version_changed).then_some(row);
        let (reconciled, _) = history
            .reconciliation(&tenant, now, only, Some(arrival))
            .await?;
        let updated = rows::present(row, version, now, health.is_some());
        let health = health.map(|(_, body)| HealthWrite {
            at_ms: now.timestamp_millis(),
            body,
            keep_from_ms: (now - health_kept()).timestamp_millis(),
        });
        self.deps
            .store
            .record_presence(&updated, &reconciled, health)
            .await?;
        Ok(())
    }

    /// The connector's health messages between two instants, oldest first.
    pub async fn health_messages(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> OpsResult<Vec<HealthMessage>> {
        let messages = self
            .deps
            .store
            .list_health(
                tenant_id,
                connector_id,
                from.timestamp_millis(),
                to.timestamp_millis(),
            )
            .await?;
        Ok(messages
            .into_iter()
            .map(|(at, body)| HealthMessage {
                at: crate::clock::from_millis(at),
                body,
            })
            .collect())
    }

    /// What the auto-update service offers `connector` now: the newest release available to its
    /// tenant (release date + rollout delay), its release date and when it became available.
    /// No version gate: updating is how a retired connector gets back.
    pub async fn update_offer(&self, connector: &Connector) -> OpsResult<UpdateOffer> {
        let row = self.current(connector).await?;
        let tenant = self.deps.tenant(&connector.tenant_id).await?;
        let current = rows::connector_facts(&row)?.version;
        let catalog = self.deps.catalog().await?;
        let delay = tenant.rollout_delay_days;
        let latest = catalog
            .newest_available(self.deps.now(), delay)
            .and_then(|version| {
                let released = catalog.release_date(version)?;
                Some(Offered {
                    version,
                    released,
                    available: released + Duration::days(delay as i64),
                })
            });
        Ok(UpdateOffer { current, latest })
    }

    /// The connector as stored now (the caller's copy may predate a concurrent change).
    async fn current(&self, connector: &Connector) -> OpsResult<ConnectorRow> {
        self.deps
            .store
            .get_connector(&connector.tenant_id, &connector.id)
            .await
            .map_err(missing("connector"))
    }

    /// Refuses a call that a connector at `version` may no longer make.
    pub async fn gate(&self, version: Version, operation: Operation) -> OpsResult<()> {
        self.deps.gates(version, [operation]).await
    }

    /// May this connector make SCEP validation calls now? Only with the `scep` feature (SCEP goes
    /// only to the connectors that have it), and not on a legacy or retired version.
    pub async fn scep_gate(&self, connector: &Connector) -> OpsResult<()> {
        let row = self.current(connector).await?;
        let facts = rows::connector_facts(&row)?;
        if !facts.features.contains(Feature::Scep) {
            return Err(OpsError::FeatureNotInstalled(format!(
                "connector {} does not have the scep feature; SCEP validation goes only to connectors with it",
                row.id
            )));
        }
        self.deps
            .gates(facts.version, [Operation::Checkin, Operation::Issue])
            .await
    }

    /// Changes what the connector reports about itself; answers it as changed.
    pub async fn reconfigure(
        &self,
        connector: &Connector,
        change: Reconfigure,
    ) -> OpsResult<Connector> {
        self.gate(connector.facts.version, Operation::Reconfigure)
            .await?;
        let history = self.facts.lock(self.deps).await;
        let row = self.current(connector).await?;
        let tenant = self.deps.tenant(&connector.tenant_id).await?;
        history.reconcile(&tenant, self.deps.now()).await?;
        let updated = rows::reconfigured(row, change)?;
        self.deps.store.update_connector(&updated).await?;
        rows::connector(updated)
    }

    /// Uninstalls the connector: its credential stops working and its leases go back to the
    /// queue. Works at any version (it is how a retired connector is replaced).
    pub async fn uninstall(&self, connector: &Connector) -> OpsResult<()> {
        let history = self.facts.lock(self.deps).await;
        let tenant = self.deps.tenant(&connector.tenant_id).await?;
        history.reconcile(&tenant, self.deps.now()).await?;
        let store = &self.deps.store;
        store
            .release_connector_leases(&connector.id, self.deps.now().timestamp_millis())
            .await?;
        store
            .delete_connector(&connector.tenant_id, &connector.id)
            .await?;
        Ok(())
    }

    /// The tenant's connectors as stored (no status).
    pub async fn list(&self, tenant_id: &TenantId) -> OpsResult<Vec<Connector>> {
        let found = self.deps.store.list_connectors(tenant_id).await?;
        found.into_iter().map(rows::connector).collect()
    }

    /// The distinct versions the tenant's connectors run.
    pub async fn versions(&self, tenant_id: &TenantId) -> OpsResult<Vec<Version>> {
        let found = self.deps.store.connector_versions(tenant_id).await?;
        Ok(found
            .iter()
            .filter_map(|v| Version::parse(v).ok())
            .collect())
    }

    /// All of a tenant's connectors with their status now, history reconciled.
    pub async fn list_with_status(&self, tenant_id: &TenantId) -> OpsResult<Vec<ConnectorStatus>> {
        let history = self.facts.lock(self.deps).await;
        let tenant = self.deps.tenant(tenant_id).await?;
        let evaluated = history.reconcile(&tenant, self.deps.now()).await?;
        evaluated
            .into_iter()
            .map(|(row, evaluation)| {
                Ok(ConnectorStatus {
                    connector: rows::connector(row)?,
                    evaluation,
                })
            })
            .collect()
    }

    /// One connector with its status now, history reconciled.
    pub async fn status(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> OpsResult<ConnectorStatus> {
        let history = self.facts.lock(self.deps).await;
        let tenant = self.deps.tenant(tenant_id).await?;
        let evaluated = history.reconcile(&tenant, self.deps.now()).await?;
        let (row, evaluation) = evaluated
            .into_iter()
            .find(|(row, _)| row.id == *connector_id)
            .ok_or(OpsError::NotFound("connector"))?;
        Ok(ConnectorStatus {
            connector: rows::connector(row)?,
            evaluation,
        })
    }

    /// Every status change of the connector at its instant, oldest first.
    pub async fn history(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> OpsResult<Vec<StatusChange>> {
        let history = self.facts.lock(self.deps).await;
        let tenant = self.deps.tenant(tenant_id).await?;
        history.reconcile(&tenant, self.deps.now()).await?;
        let entries = self
            .deps
            .store
            .list_history(tenant_id, connector_id)
            .await?;
        if entries.is_empty() {
            return Err(OpsError::NotFound("connector"));
        }
        entries.into_iter().map(rows::status_change).collect()
    }
}
