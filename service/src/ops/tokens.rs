//! Graph tokens from the token endpoint (client-credentials grant): issued to a tenant's app
//! registration, stored as hashes, valid for an hour.

use chrono::Duration;

use crate::domain::TenantId;
use crate::ids::secret_hash;

use super::deps::Deps;
use super::error::{optional, OpsResult};

/// Lifetime of a Graph token from the token endpoint.
pub const TOKEN_LIFETIME_SECONDS: u64 = 3600;

/// A token just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in_seconds: u64,
}

/// The tokens' operations.
pub struct Tokens<'a> {
    pub(super) deps: &'a Deps,
}

impl Tokens<'_> {
    /// Client-credentials grant: `Ok(None)` when the tenant, client id or secret does not match.
    pub async fn issue(
        &self,
        tenant_id: &TenantId,
        client_id: &str,
        client_secret: &str,
    ) -> OpsResult<Option<IssuedToken>> {
        let store = &self.deps.store;
        let Some(tenant) = optional(store.tenant_by_client_id(client_id).await)? else {
            return Ok(None);
        };
        let hash_matches = subtle::ConstantTimeEq::ct_eq(
            secret_hash(client_secret).as_bytes(),
            tenant.client_secret_hash.as_bytes(),
        );
        if tenant.id != *tenant_id || !bool::from(hash_matches) {
            return Ok(None);
        }
        let token = self.deps.ids.secret("tok");
        let now = self.deps.now();
        let expires = now + Duration::seconds(TOKEN_LIFETIME_SECONDS as i64);
        store
            .insert_token(
                &secret_hash(&token),
                &tenant.id,
                now.timestamp_millis(),
                expires.timestamp_millis(),
            )
            .await?;
        Ok(Some(IssuedToken {
            token,
            expires_in_seconds: TOKEN_LIFETIME_SECONDS,
        }))
    }

    /// The tenant a bearer token was issued for, if it is known and not expired.
    pub async fn tenant_of(&self, token: &str) -> OpsResult<Option<TenantId>> {
        let found = self
            .deps
            .store
            .token_tenant(&secret_hash(token), self.deps.now().timestamp_millis())
            .await;
        optional(found)
    }
}
