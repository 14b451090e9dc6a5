//! Tenants (docs/behaviour.md, "Tenants and connectors"): create, read, delete, reset, and the
//! tenant's PFX-import key.

use chrono::{DateTime, Utc};

use crate::domain::connector::{DEFAULT_ROLLOUT_DELAY_DAYS, MAX_ROLLOUT_DELAY_DAYS};
use crate::domain::TenantId;
use crate::ids::secret_hash;
use crate::store::{StoreError, TenantRow};

use super::deps::Deps;
use super::error::{invalid, missing, optional, OpsResult};
use super::rows;
use super::status::Facts;
use super::time::Time;
use super::views::{CreatedTenant, Tenant};

/// The tenants' operations.
pub struct Tenants<'a> {
    pub(super) deps: &'a Deps,
    pub(super) facts: &'a Facts,
}

impl Tenants<'_> {
    pub async fn create(
        &self,
        display_name: &str,
        rollout_delay_days: Option<u32>,
    ) -> OpsResult<CreatedTenant> {
        let display_name = display_name.trim();
        if display_name.is_empty()
            || display_name.chars().count() > 256
            || display_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "InvalidField",
                "displayName must be 1 to 256 printable characters",
            ));
        }
        let delay = rollout_delay_days.unwrap_or(DEFAULT_ROLLOUT_DELAY_DAYS);
        if delay > MAX_ROLLOUT_DELAY_DAYS {
            return Err(invalid(
                "InvalidField",
                format!("rolloutDelayDays must be from 0 to {MAX_ROLLOUT_DELAY_DAYS}, not {delay}"),
            ));
        }
        let ids = &self.deps.ids;
        let enrollment_secret = ids.secret("enr");
        let client_secret = ids.secret("cs");
        let row = TenantRow {
            id: ids.uuid().to_string().into(),
            display_name: display_name.to_owned(),
            rollout_delay_days: delay as i64,
            enrollment_secret_hash: secret_hash(&enrollment_secret),
            client_id: ids.uuid().to_string(),
            client_secret_hash: secret_hash(&client_secret),
            import_key_thumbprint: None,
            created_ms: self.deps.now().timestamp_millis(),
        };
        self.deps.store.insert_tenant(&row).await?;
        Ok(CreatedTenant {
            tenant: rows::tenant(row),
            enrollment_secret,
            client_secret,
        })
    }

    pub async fn list(&self) -> OpsResult<Vec<Tenant>> {
        let tenants = self.deps.store.list_tenants().await?;
        Ok(tenants.into_iter().map(rows::tenant).collect())
    }

    pub async fn get(&self, id: &TenantId) -> OpsResult<Tenant> {
        self.deps.tenant(id).await
    }

    /// The tenant whose enrollment secret this is, if any.
    pub async fn by_enrollment_secret(&self, secret: &str) -> OpsResult<Option<Tenant>> {
        let found = self
            .deps
            .store
            .tenant_by_enrollment_hash(&secret_hash(secret))
            .await;
        Ok(optional(found)?.map(rows::tenant))
    }

    /// Removes the tenant with everything it holds.
    pub async fn delete(&self, id: &TenantId) -> OpsResult<()> {
        self.deps
            .store
            .delete_tenant(id)
            .await
            .map_err(missing("tenant"))
    }

    /// Removes one tenant with everything it holds, or every tenant; with every tenant gone a
    /// virtual clock may be set to any instant, earlier ones included. Answers how many tenants
    /// were removed. Releases (shipped and published) stay.
    pub async fn reset(
        &self,
        tenant_id: Option<&TenantId>,
        clock: Option<DateTime<Utc>>,
    ) -> OpsResult<usize> {
        let _history = self.facts.lock(self.deps).await;
        let ids: Vec<TenantId> = match tenant_id {
            Some(id) => vec![self.deps.tenant_row(id).await?.id],
            None => {
                let tenants = self.deps.store.list_tenants().await?;
                tenants.into_iter().map(|t| t.id).collect()
            }
        };
        if let Some(to) = clock {
            Time { deps: self.deps }.reset_to(to).await?;
        }
        for id in &ids {
            match self.deps.store.delete_tenant(id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ids.len())
    }

    /// Sets (or clears) the thumbprint of the tenant's current PFX-import key. Connectors with
    /// `pkcs_import` that do not hold it show `MissingImportKey` from now on.
    pub async fn set_import_key(
        &self,
        tenant_id: &TenantId,
        thumbprint: Option<String>,
    ) -> OpsResult<Tenant> {
        let history = self.facts.lock(self.deps).await;
        let tenant = self.deps.tenant(tenant_id).await?;
        history.reconcile(&tenant, self.deps.now()).await?;
        self.deps
            .store
            .set_tenant_import_key(tenant_id, thumbprint.as_deref())
            .await?;
        self.deps.tenant(tenant_id).await
    }
}
