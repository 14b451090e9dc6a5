//! Access tokens (docs/behaviour.md, "Tenants and connectors"): the client-credentials
//! grant issues RS256-signed JWTs with each tenant's signing key, made the first time the tenant
//! needs one and kept in the store, so that every replica on the database signs and verifies
//! with the same key; the tenant's keys as a JWKS; and the check a route makes of a bearer token.
//!
//! Opaque tokens issued before the service signed its tokens (a token that is not three parts
//! joined by dots) are still looked up by their hash, as before, until they expire.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use wire::token::Jwk;

use crate::domain::TenantId;
use crate::identity::{self, jwt, Audience, Refusal, Resource, SigningKey, VerifyingKey};
use crate::ids::secret_hash;
use crate::store::SigningKeyRow;

use super::deps::Deps;
use super::error::{optional, OpsError, OpsResult};

/// Lifetime of a token from the token endpoint, in seconds (its `expires_in`).
pub const TOKEN_LIFETIME_SECONDS: u64 = identity::TOKEN_LIFETIME_SECONDS as u64;

/// The namespace of the apps' service-principal object ids: `oid` is the version 5 (SHA-1)
/// UUID of the client id in it, so it is stable per app and anyone can compute it.
pub const APP_OBJECT_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d0c_5d3e_27a4_4a47_9d3e_1f2a_0b6c_9e11);

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

fn corrupt(e: identity::KeyError) -> OpsError {
    OpsError::Corrupt(e.to_string())
}

/// The object id of the app `client_id`'s service principal (see [`APP_OBJECT_ID_NAMESPACE`]).
pub fn app_object_id(client_id: &str) -> uuid::Uuid {
    let mut input = APP_OBJECT_ID_NAMESPACE.as_bytes().to_vec();
    input.extend_from_slice(client_id.as_bytes());
    let digest = openssl::sha::sha1(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

impl Tokens<'_> {
    /// Client-credentials grant for `audience`: `Ok(None)` when the tenant, client id or secret
    /// does not match.
    pub async fn issue(
        &self,
        tenant_id: &TenantId,
        client_id: &str,
        client_secret: &str,
        audience: &Audience,
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
        let key = self.signing_key(&tenant.id).await?;
        let claims = identity::app_token_claims(
            tenant.id.as_str(),
            client_id,
            &app_object_id(client_id).to_string(),
            audience,
            self.deps.now(),
            URL_SAFE_NO_PAD.encode(self.deps.ids.uuid().as_bytes()),
        );
        Ok(Some(IssuedToken {
            token: key.sign(&claims).map_err(corrupt)?,
            expires_in_seconds: TOKEN_LIFETIME_SECONDS,
        }))
    }

    /// The tenant's signing key, made and stored the first time it is needed. Two replicas
    /// making it at once both use the one stored first.
    async fn signing_key(&self, tenant_id: &TenantId) -> OpsResult<SigningKey> {
        let store = &self.deps.store;
        let row = match optional(store.signing_key(tenant_id).await)? {
            Some(row) => row,
            None => {
                let now = self.deps.now();
                // RSA key generation takes tens of milliseconds: off the request threads.
                let key =
                    tokio::task::spawn_blocking(move || SigningKey::generate(now.timestamp()))
                        .await
                        .map_err(|e| OpsError::Corrupt(format!("making a signing key: {e}")))?
                        .map_err(corrupt)?;
                let row = SigningKeyRow {
                    tenant_id: tenant_id.clone(),
                    kid: key.kid().to_owned(),
                    private_key_pem: key.private_key_pem().map_err(corrupt)?,
                    certificate_pem: key.certificate_pem().map_err(corrupt)?,
                    created_ms: now.timestamp_millis(),
                };
                store.insert_signing_key(&row).await?;
                store.signing_key(tenant_id).await?
            }
        };
        SigningKey::from_pem(&row.private_key_pem, &row.certificate_pem).map_err(corrupt)
    }

    /// Whether the tenant exists (its OpenID configuration is served).
    pub async fn tenant_exists(&self, tenant_id: &TenantId) -> OpsResult<bool> {
        Ok(optional(self.deps.store.get_tenant(tenant_id).await)?.is_some())
    }

    /// The tenant's token-signing keys as its JWKS lists them; `None` when there is no such
    /// tenant. A tenant that has not needed a key yet gets one now, so a verifier that reads the
    /// keys first finds the key of the tokens to come.
    pub async fn keys(&self, tenant_id: &TenantId) -> OpsResult<Option<Vec<Jwk>>> {
        if !self.tenant_exists(tenant_id).await? {
            return Ok(None);
        }
        let key = self.signing_key(tenant_id).await?;
        let verifying =
            VerifyingKey::from_certificate_pem(&key.certificate_pem().map_err(corrupt)?)
                .map_err(corrupt)?;
        Ok(Some(vec![verifying.jwk().map_err(corrupt)?]))
    }

    /// The tenant of a bearer token, if this service issued it, it is valid now and it is for
    /// one of the `wanted` resources (any when empty); else why not. An opaque token from before
    /// the service signed its tokens is taken for any resource until it expires.
    pub async fn check(
        &self,
        token: &str,
        wanted: &[Resource],
    ) -> OpsResult<Result<TenantId, Refusal>> {
        if !jwt::looks_like_jwt(token) {
            let found = self
                .deps
                .store
                .token_tenant(&secret_hash(token), self.deps.now().timestamp_millis())
                .await;
            return Ok(optional(found)?.ok_or(Refusal::NotIssued));
        }
        let read = match jwt::parse(token) {
            Ok(read) => read,
            Err(why) => return Ok(Err(Refusal::Malformed(why))),
        };
        let tenant_id = TenantId::from(read.claims.tid.as_str());
        let kid = read.header.kid.clone().unwrap_or_default();
        let Some(row) = optional(self.deps.store.signing_key(&tenant_id).await)? else {
            return Ok(Err(if self.tenant_exists(&tenant_id).await? {
                Refusal::OtherKey {
                    tenant: tenant_id.into_string(),
                    kid,
                }
            } else {
                Refusal::UnknownTenant(tenant_id.into_string())
            }));
        };
        let key = VerifyingKey::from_certificate_pem(&row.certificate_pem).map_err(corrupt)?;
        if kid != key.kid() {
            return Ok(Err(Refusal::OtherKey {
                tenant: tenant_id.into_string(),
                kid,
            }));
        }
        if !key.verifies(&read) {
            return Ok(Err(Refusal::Signature(tenant_id.into_string())));
        }
        let checked =
            identity::check_claims(&read.claims, tenant_id.as_str(), wanted, self.deps.now());
        Ok(checked.map(|()| tenant_id))
    }

    /// The tenant a bearer token was issued for, if it is one of this service's valid tokens
    /// (for any resource).
    pub async fn tenant_of(&self, token: &str) -> OpsResult<Option<TenantId>> {
        Ok(self.check(token, &[]).await?.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::app_object_id;

    #[test]
    fn an_apps_object_id_is_the_version_5_uuid_of_its_client_id() {
        // Python: uuid.uuid5(uuid.UUID("6d0c5d3e-27a4-4a47-9d3e-1f2a0b6c9e11"), "app-1")
        assert_eq!(
            app_object_id("app-1").to_string(),
            "c38ac843-6018-5952-b44d-fd8aeda56ad5"
        );
    }
}
