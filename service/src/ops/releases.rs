//! The release catalog (docs/behaviour.md, "Releases and the version lifecycle"): the shipped
//! releases and the ones an operator publishes.

use chrono::{DateTime, Utc};

use crate::domain::catalog::CatalogError;
use crate::domain::{Catalog, Version};
use crate::store::{ReleaseRow, StoreError};

use super::deps::Deps;
use super::error::{OpsError, OpsResult};
use super::status::Facts;
use super::views::Tenant;

/// The catalog's operations.
pub struct Releases<'a> {
    pub(super) deps: &'a Deps,
    pub(super) facts: &'a Facts,
}

impl Releases<'_> {
    pub async fn catalog(&self) -> OpsResult<Catalog> {
        self.deps.catalog().await
    }

    /// Publishes a release. History of every tenant is reconciled first, so that the new release
    /// only changes statuses from its own date (or from now, when it is back-dated).
    pub async fn publish(&self, version: Version, released: DateTime<Utc>) -> OpsResult<()> {
        let history = self.facts.lock(self.deps).await;
        let catalog = self.deps.catalog().await?;
        catalog
            .check_new(version)
            .map_err(|CatalogError::Duplicate(v)| OpsError::DuplicateRelease(v))?;
        let now = self.deps.now();
        for row in self.deps.store.list_tenants().await? {
            let tenant: Tenant = super::rows::tenant(row);
            history.reconcile(&tenant, now).await?;
        }
        let row = ReleaseRow {
            version: version.to_string(),
            released_ms: released.timestamp_millis(),
            published_ms: now.timestamp_millis(),
        };
        self.deps
            .store
            .insert_release(&row)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => OpsError::DuplicateRelease(version),
                other => other.into(),
            })
    }
}
