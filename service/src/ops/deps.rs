//! What the operations of every subject share: the store, the clock and the id source, and the
//! reads several subjects need (the catalog, a tenant, the version gates), and the leases waiting
//! for work.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::catalog::CatalogChoice;
use crate::domain::lifecycle::{self, Operation};
use crate::domain::{Catalog, TenantId, Version};
use crate::ids::IdSource;
use crate::store::{Store, TenantRow};

use super::error::{missing, OpsError, OpsResult};
use super::rows;
use super::views::Tenant;
use super::wait::Waits;

#[derive(Debug)]
pub(crate) struct Deps {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) ids: Arc<IdSource>,
    /// The leases waiting for work (`wait`).
    pub(crate) waits: Waits,
    /// Which shipped catalog the published releases are added to.
    pub(crate) catalog: CatalogChoice,
}

impl Deps {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The shipped releases (of the chosen catalog) and the published ones.
    pub(crate) async fn catalog(&self) -> OpsResult<Catalog> {
        rows::catalog(self.catalog, self.store.list_releases().await?)
    }

    pub(crate) async fn tenant_row(&self, id: &TenantId) -> OpsResult<TenantRow> {
        self.store.get_tenant(id).await.map_err(missing("tenant"))
    }

    pub(crate) async fn tenant(&self, id: &TenantId) -> OpsResult<Tenant> {
        Ok(rows::tenant(self.tenant_row(id).await?))
    }

    /// Refuses a call that a connector at `version` may no longer make: the first of
    /// `operations` that a gate closes, with one read of the catalog.
    pub(crate) async fn gates(
        &self,
        version: Version,
        operations: impl IntoIterator<Item = Operation>,
    ) -> OpsResult<()> {
        let catalog = self.catalog().await?;
        let now = self.now();
        for operation in operations {
            if let Some(refusal) = lifecycle::refusal(&catalog, version, operation, now) {
                return Err(OpsError::Refused(refusal, version));
            }
        }
        Ok(())
    }
}
