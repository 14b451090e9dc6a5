//! Imported user PFX certificates (S/MIME), as the Intune PFX PowerShell module uploads them;
//! a `pkcs_import` job names one, and its lease hands it to the connector.

use crate::domain::TenantId;

use super::deps::Deps;
use super::error::{missing, optional, OpsError, OpsResult};
use super::rows;
use super::views::UserPfx;

/// The imported PFX operations.
pub struct Pfx<'a> {
    pub(super) deps: &'a Deps,
}

impl Pfx<'_> {
    /// Stores a new imported PFX of its tenant; one with the same id already there is a conflict.
    pub async fn import(&self, pfx: UserPfx) -> OpsResult<UserPfx> {
        self.deps.tenant_row(&pfx.tenant_id).await?;
        let store = &self.deps.store;
        let found = store.get_user_pfx(&pfx.tenant_id, &pfx.id).await;
        if optional(found)?.is_some() {
            return Err(OpsError::AlreadyExists(format!(
                "userPfxCertificate `{}` already exists; PATCH it to update",
                pfx.id
            )));
        }
        self.store(pfx).await
    }

    /// Replaces an imported PFX; it must exist.
    pub async fn update(&self, pfx: UserPfx) -> OpsResult<UserPfx> {
        self.get(&pfx.tenant_id, &pfx.id).await?;
        self.store(pfx).await
    }

    async fn store(&self, pfx: UserPfx) -> OpsResult<UserPfx> {
        let row = rows::user_pfx_row(pfx);
        self.deps.store.upsert_user_pfx(&row).await?;
        Ok(rows::user_pfx(row))
    }

    pub async fn list(&self, tenant_id: &TenantId) -> OpsResult<Vec<UserPfx>> {
        let found = self.deps.store.list_user_pfx(tenant_id).await?;
        Ok(found.into_iter().map(rows::user_pfx).collect())
    }

    pub async fn get(&self, tenant_id: &TenantId, id: &str) -> OpsResult<UserPfx> {
        let row = self
            .deps
            .store
            .get_user_pfx(tenant_id, id)
            .await
            .map_err(missing("userPfxCertificate"))?;
        Ok(rows::user_pfx(row))
    }

    pub async fn delete(&self, tenant_id: &TenantId, id: &str) -> OpsResult<()> {
        self.deps
            .store
            .delete_user_pfx(tenant_id, id)
            .await
            .map_err(missing("userPfxCertificate"))
    }
}
