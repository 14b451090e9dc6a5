//! The SQLite store's cache of the rows nearly every connector call reads: the release catalog,
//! tenants by id, connectors (by id and by credential) and each tenant's connector versions.
//!
//! Invariant: a cached row is the database's row. This process is the database's only user (its
//! one connection), and every fill, write-through and invalidation happens while the store's
//! connection is locked, so the cache can never hold a row older than the database's. A write to
//! a cached row takes it out first and puts it back, with exactly the columns the write set, only
//! once the write succeeded (a failed write leaves the row out, to be read again).

use std::collections::HashMap;

use crate::domain::{ConnectorId, TenantId};
use crate::store::rows::{ConnectorRow, Reconciled, ReleaseRow, TenantRow};

#[derive(Debug, Default)]
pub(super) struct Cache {
    pub releases: Option<Vec<ReleaseRow>>,
    pub tenants: HashMap<TenantId, TenantRow>,
    /// Connectors by (tenant id, connector id).
    connectors: HashMap<(TenantId, ConnectorId), ConnectorRow>,
    /// The key of `connectors` for each cached connector's credential hash (each connector call
    /// authenticates with one).
    by_credential: HashMap<String, (TenantId, ConnectorId)>,
    /// The distinct versions of each tenant's connectors; a write that can change a version
    /// (insert, a version update, delete) drops the tenant's entry.
    pub versions: HashMap<TenantId, Vec<String>>,
}

impl Cache {
    pub fn connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> Option<&ConnectorRow> {
        self.connectors.get(&(tenant_id.clone(), id.clone()))
    }

    pub fn connector_by_credential(&self, hash: &str) -> Option<&ConnectorRow> {
        self.by_credential
            .get(hash)
            .and_then(|key| self.connectors.get(key))
    }

    pub fn keep_connector(&mut self, row: ConnectorRow) {
        let key = (row.tenant_id.clone(), row.id.clone());
        self.by_credential
            .insert(row.credential_hash.clone(), key.clone());
        self.connectors.insert(key, row);
    }

    /// Takes the connector's row out (the caller puts it back once a write succeeded).
    pub fn take_connector(
        &mut self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> Option<ConnectorRow> {
        let row = self.connectors.remove(&(tenant_id.clone(), id.clone()))?;
        self.by_credential.remove(&row.credential_hash);
        Some(row)
    }

    /// Before a write of `c` (as `update_connector` writes it): takes its row out, and drops the
    /// tenant's versions unless the write keeps the version.
    pub fn before_connector_write(&mut self, c: &ConnectorRow) -> Option<ConnectorRow> {
        let cached = self.take_connector(&c.tenant_id, &c.id);
        if cached.as_ref().is_none_or(|row| row.version != c.version) {
            self.versions.remove(&c.tenant_id);
        }
        cached
    }

    /// The cached rows of the connectors `reconciled` names (taken out, to go back reconciled).
    pub fn take_reconciled(
        &mut self,
        tenant_id: &TenantId,
        reconciled: &[Reconciled],
    ) -> Vec<ConnectorRow> {
        reconciled
            .iter()
            .filter_map(|r| self.take_connector(tenant_id, &r.connector_id))
            .collect()
    }

    /// A tenant is gone, or its connectors changed in a way the cache does not follow: its
    /// connectors (they go with it, `ON DELETE CASCADE`) and versions are dropped.
    pub fn forget_tenant(&mut self, tenant_id: &TenantId) {
        self.tenants.remove(tenant_id);
        self.connectors.retain(|(tenant, _), _| tenant != tenant_id);
        self.by_credential
            .retain(|_, (tenant, _)| tenant != tenant_id);
        self.versions.remove(tenant_id);
    }
}

/// A cached row after `update_connector`'s statement: exactly the columns it sets.
pub(super) fn apply_connector_update(row: &mut ConnectorRow, c: &ConnectorRow) {
    row.display_name.clone_from(&c.display_name);
    row.features.clone_from(&c.features);
    row.version.clone_from(&c.version);
    row.product.clone_from(&c.product);
    row.service_account.clone_from(&c.service_account);
    row.proxy.clone_from(&c.proxy);
    row.import_key_thumbprint
        .clone_from(&c.import_key_thumbprint);
    row.auto_update = c.auto_update;
    row.co_installed.clone_from(&c.co_installed);
    row.last_checkin_ms = c.last_checkin_ms;
    row.last_health_ms = c.last_health_ms;
}

/// A cached row after the marks of `reconciled`, under their own condition (the cached row is
/// the database's, so the condition comes out as the database's did).
pub(super) fn apply_reconciled(row: &mut ConnectorRow, reconciled: &[Reconciled]) {
    for r in reconciled.iter().filter(|r| r.connector_id == row.id) {
        if row.seq < r.seq || (row.seq == r.seq && row.reconciled_ms <= r.reconciled_ms) {
            row.reconciled_ms = r.reconciled_ms;
            row.last_status.clone_from(&r.last_status);
            row.last_reasons.clone_from(&r.last_reasons);
            row.seq = r.seq;
        }
    }
}
