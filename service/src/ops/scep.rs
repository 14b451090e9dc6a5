//! SCEP challenges and request validation (docs/behaviour.md, "SCEP and the third-party CA
//! surface"): a device targeted by a SCEP profile gets a challenge; a connector's SCEP module or
//! a third-party CA asks whether a request under it may be issued, then notifies the outcome.
//! The challenge blob and the request checks are `crate::scep` (pure).

use crate::domain::{TenantId, Version};
use crate::scep::Verdict;

use super::deps::Deps;
use super::error::{missing, optional, OpsError, OpsResult};
use super::rows;
use super::views::{IssuedChallenge, NewScepChallenge, NotificationKind, ScepChallenge};

/// The SCEP operations.
pub struct Scep<'a> {
    pub(super) deps: &'a Deps,
}

impl Scep<'_> {
    /// "A device is targeted by a SCEP profile": stores what its request must match and answers
    /// the challenge blob the device will put in its request.
    pub async fn issue_challenge(
        &self,
        tenant_id: &TenantId,
        profile: NewScepChallenge,
    ) -> OpsResult<IssuedChallenge> {
        let tenant = self.deps.tenant_row(tenant_id).await?;
        let now_ms = self.deps.now().timestamp_millis();
        let ids = &self.deps.ids;
        let id = ids.uuid().to_string();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&ids.uuid().as_bytes()[..12]);
        let row = rows::new_scep_challenge(tenant_id, id, profile, now_ms);
        let secret = self.secret(tenant_id).await?;
        let blob = crate::scep::encode_challenge(
            &tenant,
            &secret,
            &row.id,
            row.issued_ms,
            row.expires_ms,
            nonce,
        )
        .map_err(|e| OpsError::Corrupt(format!("cannot seal a challenge: {e}")))?;
        self.deps.store.insert_scep_challenge(&row).await?;
        Ok(IssuedChallenge {
            challenge: rows::scep_challenge(row)?,
            blob,
        })
    }

    /// The tenant's challenge secret, made (once, from the id source) the first time it is needed.
    async fn secret(&self, tenant_id: &TenantId) -> OpsResult<String> {
        let store = &self.deps.store;
        if let Some(secret) = optional(store.scep_secret(tenant_id).await)? {
            return Ok(secret);
        }
        store
            .insert_scep_secret(tenant_id, &self.deps.ids.secret("scep"))
            .await?;
        Ok(store.scep_secret(tenant_id).await?)
    }

    pub async fn challenge(&self, tenant_id: &TenantId, id: &str) -> OpsResult<ScepChallenge> {
        let row = self
            .deps
            .store
            .get_scep_challenge(tenant_id, id)
            .await
            .map_err(missing("SCEP challenge"))?;
        rows::scep_challenge(row)
    }

    /// The profile no longer targets the device (retargeted or removed).
    pub async fn untarget(&self, tenant_id: &TenantId, id: &str) -> OpsResult<()> {
        self.deps
            .store
            .set_scep_targeted(tenant_id, id, false)
            .await
            .map_err(missing("SCEP challenge"))
    }

    /// `ScepActions/validateRequest`: the verdict on a device's request. `connector_version`:
    /// the calling connector's version (a third-party CA has none).
    pub async fn validate(
        &self,
        tenant_id: &TenantId,
        connector_version: Option<Version>,
        transaction_id: &str,
        csr_der: &[u8],
    ) -> OpsResult<Verdict> {
        let tenant = self.deps.tenant_row(tenant_id).await?;
        let now = self.deps.now().timestamp_millis();
        let secret = self.secret(tenant_id).await?;
        let store = &self.deps.store;
        let verdict = match crate::scep::challenge_of(&tenant, &secret, csr_der, now) {
            Err(v) => v,
            Ok(id) => match optional(store.get_scep_challenge(tenant_id, &id).await)? {
                // The stored expiry holds too, whatever the blob says.
                Some(row) if row.targeted && now >= row.expires_ms => Verdict {
                    code: "ChallengeExpired",
                    description: "the challenge has expired".into(),
                    challenge_id: Some(id),
                },
                Some(row) if row.targeted => {
                    let allow_list_from = Version::parse(crate::scep::EXTENSION_ALLOW_LIST_FROM)
                        .map_err(|_| OpsError::Corrupt("allow-list version".into()))?;
                    let enforce = connector_version.is_some_and(|v| v >= allow_list_from);
                    crate::scep::check_request(&row, csr_der, enforce)
                }
                Some(_) | None => Verdict {
                    code: "ScepProfileNoLongerTargetedToTheClient",
                    description:
                        "the SCEP profile behind this challenge no longer targets the device".into(),
                    challenge_id: Some(id),
                },
            },
        };
        if let Some(id) = &verdict.challenge_id {
            store
                .record_scep_validation(tenant_id, id, transaction_id, verdict.code, now)
                .await?;
        }
        Ok(verdict)
    }

    /// `ScepActions/successNotification` / `failureNotification`: recorded on the challenge the
    /// request under `transaction_id` named. The answer: `None` when no request was validated
    /// under that transaction, else the code that validation got (a success notification for a
    /// refused request is recorded but is not a `Success`).
    pub async fn notify(
        &self,
        tenant_id: &TenantId,
        kind: NotificationKind,
        transaction_id: &str,
        body: &str,
    ) -> OpsResult<Option<String>> {
        let store = &self.deps.store;
        let found = store.scep_validation(tenant_id, transaction_id).await;
        let Some((challenge_id, code)) = optional(found)? else {
            return Ok(None);
        };
        let now = self.deps.now().timestamp_millis();
        store
            .record_scep_notification(tenant_id, &challenge_id, kind.as_str(), body, now)
            .await?;
        Ok(Some(code))
    }
}
