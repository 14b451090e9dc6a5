//! Jobs by profile (docs/behaviour.md, "Request queues and routing"): `count` jobs whose payloads
//! the service makes as the scenario harness does (`crate::profiles`), and the device key it
//! made for them.
//!
//! `pkcs_create` jobs are encrypted to the caller's device key certificate, or to one P-256
//! device key the service makes for the call and keeps with the jobs (one transaction), so the
//! caller can open the PFX with their own tools. `revoke` jobs name certificates this tenant's
//! succeeded `pkcs_create` jobs were issued at the profile's CA, newest first, each named by at
//! most one live revoke job. Under an idempotency key the *request* is fingerprinted (its
//! generated keys and picks differ from call to call), and a retry answers the stored jobs.

use std::collections::HashSet;

use crate::domain::{JobId, JobKind, JobState, TenantId};
use crate::ids::secret_hash;
use crate::profiles::{self, Profile};
use crate::store::EnqueueKeyRow;

use super::error::{invalid, missing, OpsError, OpsResult};
use super::jobs::{Written, KEY_KEPT};
use super::rows;
use super::views::{Job, NewJob};
use super::Jobs;

/// What a profile request asks for (checked by `http::convert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRequest {
    pub kind: ProfileKind,
    pub profile: Profile,
    /// 1 to `MAX_ENQUEUE_BATCH`.
    pub count: u32,
}

/// The kinds a profile can make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileKind {
    /// The device key certificate (PEM) the caller sent, else `None`: the service makes one.
    PkcsCreate {
        device_key_certificate: Option<String>,
    },
    Revoke,
}

impl ProfileRequest {
    fn job_kind(&self) -> JobKind {
        match self.kind {
            ProfileKind::PkcsCreate { .. } => JobKind::PkcsCreate,
            ProfileKind::Revoke => JobKind::Revoke,
        }
    }

    /// A digest of the request itself: two calls under one key must be the same request.
    fn fingerprint(&self) -> String {
        let certificate = match &self.kind {
            ProfileKind::PkcsCreate {
                device_key_certificate: Some(pem),
            } => pem.trim(),
            _ => "",
        };
        secret_hash(&format!(
            "profile\n{}\n{}\n{}\n{certificate}",
            self.job_kind().as_str(),
            self.profile.as_str(),
            self.count
        ))
    }
}

/// Makes a job's canonical payload from its JSON (the checks of the payload form).
pub type Canonical<'a> = &'a (dyn Fn(JobKind, serde_json::Value) -> OpsResult<NewJob> + Sync);

impl Jobs<'_> {
    /// Queues the jobs `request` describes (see the module's note), optionally under an
    /// idempotency key. Nothing is written when anything is refused.
    pub async fn enqueue_by_profile(
        &self,
        tenant_id: &TenantId,
        request: &ProfileRequest,
        key: Option<&str>,
        canonical: Canonical<'_>,
    ) -> OpsResult<Vec<Job>> {
        self.deps.tenant_row(tenant_id).await?;
        let fingerprint = request.fingerprint();
        if let Some(key) = key {
            let kept_from_ms = (self.deps.now() - KEY_KEPT).timestamp_millis();
            let stored = self
                .deps
                .store
                .enqueue_key(tenant_id, key, kept_from_ms)
                .await?;
            if let Some(stored) = stored {
                return self.replay_stored(tenant_id, stored, &fingerprint).await;
            }
        }
        let (jobs, device_key) = match &request.kind {
            ProfileKind::PkcsCreate {
                device_key_certificate,
            } => self.pkcs_create_jobs(request, device_key_certificate.as_deref(), canonical)?,
            ProfileKind::Revoke => (self.revoke_jobs(tenant_id, request, canonical).await?, None),
        };
        self.check_batch(tenant_id, &jobs).await?;
        let claim = key.map(|key| (key, fingerprint.as_str()));
        match self
            .write(tenant_id, jobs, device_key.as_deref(), claim)
            .await?
        {
            Written::Jobs(jobs) => Ok(jobs),
            Written::KeyTaken(stored) => self.replay_stored(tenant_id, stored, &fingerprint).await,
        }
    }

    /// The private key (PKCS#8 PEM) the service made for the tenant's job `id`.
    pub async fn device_key(&self, tenant_id: &TenantId, id: &JobId) -> OpsResult<String> {
        self.deps
            .store
            .get_job(tenant_id, id)
            .await
            .map_err(missing("job"))?;
        self.deps.store.device_key(tenant_id, id).await?.ok_or_else(|| {
            OpsError::NoDeviceKey(format!(
                "job {id} has no device key the service made: only pkcs_create jobs enqueued by profile without a deviceKeyCertificate have one (with a deviceKeyCertificate, the caller holds the key)"
            ))
        })
    }

    /// `count` pkcs_create jobs, and the private key (PEM) the service made when the caller sent
    /// no certificate.
    fn pkcs_create_jobs(
        &self,
        request: &ProfileRequest,
        certificate: Option<&str>,
        canonical: Canonical<'_>,
    ) -> OpsResult<(Vec<NewJob>, Option<String>)> {
        let crypto =
            |e: openssl::error::ErrorStack| OpsError::Corrupt(format!("making a device key: {e}"));
        let (certificate, private_key) = match certificate {
            Some(pem) => (pem.to_owned(), None),
            None => {
                let (key, certificate) = profiles::device_key(self.deps.now()).map_err(crypto)?;
                let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
                (
                    text(certificate.to_pem().map_err(crypto)?),
                    Some(text(key.private_key_to_pem_pkcs8().map_err(crypto)?)),
                )
            }
        };
        let jobs = (1..=request.count)
            .map(|index| {
                let payload = profiles::pkcs_create_payload(request.profile, index, &certificate);
                canonical(JobKind::PkcsCreate, payload)
            })
            .collect::<OpsResult<Vec<_>>>()?;
        Ok((jobs, private_key))
    }

    /// `count` revoke jobs naming the newest certificates of the profile's CA that the tenant's
    /// succeeded pkcs_create jobs were issued and no queued, leased or succeeded revoke job
    /// names; fewer left is [`OpsError::NothingToRevoke`].
    async fn revoke_jobs(
        &self,
        tenant_id: &TenantId,
        request: &ProfileRequest,
        canonical: Canonical<'_>,
    ) -> OpsResult<Vec<NewJob>> {
        let ca = request.profile.certification_authority();
        let store = &self.deps.store;
        let revokes = store
            .list_jobs(tenant_id, Some(JobKind::Revoke), None, -1, -1)
            .await?;
        let named: HashSet<(String, String)> = revokes
            .iter()
            .filter(|job| {
                matches!(
                    job.state,
                    JobState::Queued | JobState::Leased | JobState::Succeeded
                )
            })
            .filter_map(|job| rows::revoke_target(&job.payload))
            .map(|(ca, serial)| (ca.to_ascii_lowercase(), serial_key(&serial)))
            .collect();
        let mut issued = store
            .list_jobs(
                tenant_id,
                Some(JobKind::PkcsCreate),
                Some(JobState::Succeeded),
                -1,
                -1,
            )
            .await?;
        // Newest first: by completion, then by enqueue order.
        issued.reverse();
        issued.sort_by_key(|job| std::cmp::Reverse(job.completed_ms));
        let mut picked = Vec::new();
        for job in &issued {
            let Some((job_ca, serial, issuer)) =
                rows::issued_certificate(&job.payload, job.result.as_deref())
            else {
                continue;
            };
            if !job_ca.eq_ignore_ascii_case(ca)
                || named.contains(&(job_ca.to_ascii_lowercase(), serial_key(&serial)))
            {
                continue;
            }
            picked.push(profiles::revoke_payload(&job_ca, &serial, &issuer));
            if picked.len() == request.count as usize {
                break;
            }
        }
        if picked.len() < request.count as usize {
            return Err(OpsError::NothingToRevoke(format!(
                "count: {} revoke jobs asked for, but {} certificates issued at `{ca}` (profile `{}`) by this tenant's succeeded pkcs_create jobs are left that no revoke job names yet",
                request.count,
                picked.len(),
                request.profile
            )));
        }
        picked
            .into_iter()
            .map(|payload| canonical(JobKind::Revoke, payload))
            .collect()
    }

    /// The first answer again for a retry under a stored key: the stored jobs as they were
    /// created (queued, at the first call's instant). Another request under the key is
    /// [`OpsError::KeyReused`].
    async fn replay_stored(
        &self,
        tenant_id: &TenantId,
        stored: EnqueueKeyRow,
        fingerprint: &str,
    ) -> OpsResult<Vec<Job>> {
        if stored.fingerprint != fingerprint {
            let at = crate::clock::from_millis(stored.created_ms)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            return Err(OpsError::KeyReused(format!(
                "Idempotency-Key `{}` was used at {at} for another request ({} jobs); a retry must send the same request, and a new one needs a new key",
                stored.key,
                stored.job_ids.len()
            )));
        }
        let mut jobs = Vec::with_capacity(stored.job_ids.len());
        for id in stored.job_ids {
            let row = self
                .deps
                .store
                .get_job(tenant_id, &id)
                .await
                .map_err(missing("job"))?;
            let job = NewJob {
                kind: row.kind,
                payload: row.payload,
            };
            jobs.push(rows::job(rows::new_job(
                id,
                tenant_id,
                job,
                stored.created_ms,
            )));
        }
        Ok(jobs)
    }
}

/// A serial number as compared: upper-case hexadecimal without leading zeros.
fn serial_key(serial: &str) -> String {
    serial.trim().trim_start_matches('0').to_ascii_uppercase()
}

/// The refusal of a profile request of a kind the service cannot make payloads for.
pub fn kind_not_by_profile(kind: JobKind) -> OpsError {
    let why = match kind {
        JobKind::PkcsRecrypt => "the PFX must be escrowed to the tenant's recrypt key, which only its connectors hold",
        JobKind::PkcsImport => "the user PFX must be uploaded encrypted to the tenant's import key, of which the service holds only the thumbprint",
        JobKind::PkcsCreate | JobKind::Revoke => "",
    };
    invalid(
        "KindNotByProfile",
        format!(
            "kind: `{}` cannot be enqueued by profile: {why}; send the full payload form instead ({{\"kind\": \"{}\", \"payload\": {{…}}}})",
            kind.as_str(),
            kind.as_str()
        ),
    )
}
