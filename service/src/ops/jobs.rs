//! Request queues (docs/behaviour.md, "Request queues and routing"): enqueue, lease, complete,
//! list and cancel; and a third-party CA's revocation download, which is a lease too.
//!
//! Jobs of a tenant go to any connector of that tenant whose features allow the kind. A lease
//! hides the job until it expires and hands out a token (only its hash is stored); completion is
//! a conditional update on that token, so a stale token changes nothing, and a repeat of the same
//! completion answers the same (the rules are `domain::jobs`). Expired leases are reclaimed
//! lazily, inside the next lease or read.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::domain::jobs::{
    answer_again, ca_download_visibility, plan_completion, Again, CompletionPlan, PlannedWrite,
    MAX_ENQUEUE_BATCH,
};
use crate::domain::lifecycle::Operation;
use crate::domain::routing::leasable_kinds;
use crate::domain::{AttemptEnd, ConnectorId, JobId, JobKind, JobState, Outcome, TenantId};
use crate::ids::secret_hash;
use crate::store::{DeviceKeyRow, EnqueueKeyRow, JobRow, LeaseJobs};

use super::deps::Deps;
use super::error::{invalid, missing, optional, OpsError, OpsResult};
use super::rows;
use super::views::{
    Attempt, BatchCompletion, CompletedJob, Connector, Holder, Job, JobCount, Lease, LeasedJob,
    NewJob, Report, Tenant, UserPfx,
};

/// The lease holder id of a tenant's third-party CA: the app registration of its client id.
pub fn third_party_ca(tenant: &Tenant) -> ConnectorId {
    format!("third-party-ca:{}", tenant.client_id).into()
}

/// The queues' operations.
pub struct Jobs<'a> {
    pub(super) deps: &'a Deps,
}

impl Jobs<'_> {
    /// Queues `jobs` in the tenant's queue, in order. A `pkcs_import` job must name an imported
    /// PFX of the tenant.
    pub async fn enqueue(&self, tenant_id: &TenantId, jobs: Vec<NewJob>) -> OpsResult<Vec<Job>> {
        self.check_batch(tenant_id, &jobs).await?;
        match self.write(tenant_id, jobs, None, None).await? {
            Written::Jobs(jobs) => Ok(jobs),
            Written::KeyTaken(_) => Err(OpsError::Corrupt("an enqueue without a key".into())),
        }
    }

    /// Writes checked new jobs, each with a new id, queued now, in one transaction with the
    /// device key the service made for them (PEM, if it made one) and the idempotency key's
    /// claim (key, fingerprint), if there is one; wakes the tenant's waiting leases.
    pub(super) async fn write(
        &self,
        tenant_id: &TenantId,
        jobs: Vec<NewJob>,
        device_key: Option<&str>,
        claim: Option<(&str, &str)>,
    ) -> OpsResult<Written> {
        let new = self.rows_for(tenant_id, jobs);
        let keys: Vec<DeviceKeyRow> = device_key
            .map(|pem| {
                new.iter()
                    .map(|job| DeviceKeyRow {
                        job_id: job.id.clone(),
                        tenant_id: tenant_id.clone(),
                        private_key_pem: pem.to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let store = &self.deps.store;
        if let Some((key, fingerprint)) = claim {
            let claim = EnqueueKeyRow {
                tenant_id: tenant_id.clone(),
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
                job_ids: new.iter().map(|job| job.id.clone()).collect(),
                created_ms: self.deps.now().timestamp_millis(),
            };
            let kept_from_ms = (self.deps.now() - KEY_KEPT).timestamp_millis();
            if let Some(stored) = store
                .insert_jobs_keyed(&new, &keys, &claim, kept_from_ms)
                .await?
            {
                // A call with the same key got there first.
                return Ok(Written::KeyTaken(stored));
            }
        } else {
            store.insert_jobs_holding(&new, &keys).await?;
        }
        self.deps.waits.wake(tenant_id);
        Ok(Written::Jobs(new.into_iter().map(rows::job).collect()))
    }

    /// [`Jobs::enqueue`] under an idempotency key (docs/behaviour.md, "Request queues and
    /// routing"): the first call with `key` queues the jobs, and the key is stored in the same
    /// transaction; a retry within [`KEY_KEPT`] with the same jobs answers what the first call
    /// answered and creates nothing; the same key with other jobs is [`OpsError::KeyReused`].
    pub async fn enqueue_once(
        &self,
        tenant_id: &TenantId,
        jobs: Vec<NewJob>,
        key: &str,
    ) -> OpsResult<Vec<Job>> {
        let fingerprint = fingerprint(&jobs);
        let kept_from_ms = (self.deps.now() - KEY_KEPT).timestamp_millis();
        let store = &self.deps.store;
        self.deps.tenant_row(tenant_id).await?;
        if let Some(stored) = store.enqueue_key(tenant_id, key, kept_from_ms).await? {
            return replay(tenant_id, stored, &fingerprint, jobs);
        }
        self.check_batch(tenant_id, &jobs).await?;
        match self
            .write(tenant_id, jobs.clone(), None, Some((key, &fingerprint)))
            .await?
        {
            Written::Jobs(jobs) => Ok(jobs),
            Written::KeyTaken(stored) => replay(tenant_id, stored, &fingerprint, jobs),
        }
    }

    /// Refuses a batch that is empty or too large, or a `pkcs_import` job whose PFX the tenant
    /// does not hold.
    pub(super) async fn check_batch(&self, tenant_id: &TenantId, jobs: &[NewJob]) -> OpsResult<()> {
        if jobs.is_empty() || jobs.len() > MAX_ENQUEUE_BATCH {
            return Err(invalid(
                "InvalidField",
                format!(
                    "a batch holds 1 to {MAX_ENQUEUE_BATCH} jobs, not {}",
                    jobs.len()
                ),
            ));
        }
        self.deps.tenant_row(tenant_id).await?;
        let store = &self.deps.store;
        for (i, job) in jobs.iter().enumerate() {
            if job.kind != JobKind::PkcsImport {
                continue;
            }
            let id = rows::user_pfx_id(&job.payload).unwrap_or_default();
            if optional(store.get_user_pfx(tenant_id, &id).await)?.is_none() {
                return Err(invalid(
                    "UnknownUserPfxCertificate",
                    format!("jobs[{i}].payload.userPfxCertificateId: no imported PFX `{id}` in this tenant; upload it to /beta/deviceManagement/userPfxCertificates first"),
                ));
            }
        }
        Ok(())
    }

    /// The rows of new jobs, queued now, each with a new id.
    fn rows_for(&self, tenant_id: &TenantId, jobs: Vec<NewJob>) -> Vec<JobRow> {
        let now_ms = self.deps.now().timestamp_millis();
        let ids = &self.deps.ids;
        jobs.into_iter()
            .map(|job| {
                let id = JobId::from(ids.uuid_v7(now_ms).to_string());
                rows::new_job(id, tenant_id, job, now_ms)
            })
            .collect()
    }

    /// Leases jobs for a connector: only its tenant's jobs, only kinds its features allow. The
    /// version gates apply to every kind asked for. Answers each job with its lease token.
    pub async fn lease(&self, connector: &Connector, lease: Lease) -> OpsResult<Vec<LeasedJob>> {
        self.lease_or_wait(connector, lease, std::time::Duration::ZERO)
            .await
    }

    /// [`Jobs::lease`]; when it finds nothing, waits up to `wait` of wall time (at most
    /// [`MAX_WAIT`](super::MAX_WAIT)) for something to change in the tenant's queue (an
    /// enqueue, a move of the virtual clock) and looks again, until it finds jobs or the wait
    /// ends; a last look at the end. A connector waits in at most
    /// [`MAX_WAITING_LEASES`](super::MAX_WAITING_LEASES) leases at once (more is
    /// [`OpsError::TooManyWaits`]); a stopping service ends every wait (docs/behaviour.md,
    /// "Request queues and routing").
    pub async fn lease_or_wait(
        &self,
        connector: &Connector,
        lease: Lease,
        wait: std::time::Duration,
    ) -> OpsResult<Vec<LeasedJob>> {
        let asked = self.lease_kinds(connector, &lease).await?;
        let waits = &self.deps.waits;
        let woken = waits.of(&connector.tenant_id);
        let deadline = tokio::time::sleep(wait.min(super::MAX_WAIT));
        let mut deadline = std::pin::pin!(deadline);
        let mut slot = None;
        loop {
            // Listening before the look, so an enqueue in between is not missed.
            let notified = woken.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let found = self.take(connector, &lease, &asked).await?;
            if !found.is_empty() || wait.is_zero() || waits.stopping() {
                return Ok(found);
            }
            if slot.is_none() {
                slot = Some(waits.enter(&connector.id).ok_or_else(|| {
                    OpsError::TooManyWaits(format!(
                        "connector {} already waits in {} leases, the most it may; lease without waitMs, or wait for one of them to answer",
                        connector.id,
                        super::MAX_WAITING_LEASES
                    ))
                })?);
            }
            let recheck = async {
                if self.deps.store.shared() {
                    tokio::time::sleep(super::wait::SHARED_RECHECK).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = recheck => {}
                () = waits.stopped() => return Ok(Vec::new()),
                () = &mut deadline => return self.take(connector, &lease, &asked).await,
            }
        }
    }

    /// Ends every waiting lease (they answer what they have) and lets no lease wait from now on:
    /// the service is stopping.
    pub fn stop_waiting(&self) {
        self.deps.waits.stop();
    }

    /// What a lease of `connector` may take: the kinds it asks for (each one its features must
    /// allow) after the version gates, and whether jobs it handed back for lack of the tenant's
    /// import key are skipped.
    async fn lease_kinds(&self, connector: &Connector, lease: &Lease) -> OpsResult<LeaseKinds> {
        let facts = &connector.facts;
        let allowed = leasable_kinds(&facts.features);
        let kinds = match &lease.kinds {
            None => allowed,
            Some(asked) => {
                let mut kinds = Vec::with_capacity(asked.len());
                for &kind in asked {
                    if !allowed.contains(&kind) {
                        return Err(invalid(
                            "FeatureNotInstalled",
                            format!("kinds: `{}` needs the {} feature, which this connector does not have", kind.as_str(), kind.feature()),
                        ));
                    }
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                }
                kinds
            }
        };
        let gates = std::iter::once(Operation::Checkin).chain(kinds.iter().map(|k| k.operation()));
        self.deps.gates(facts.version, gates).await?;
        let tenant = self.deps.tenant(&connector.tenant_id).await?;
        let holds_import_key = match (&tenant.import_key_thumbprint, &facts.import_key_thumbprint) {
            (Some(tenant_key), Some(own)) => own.eq_ignore_ascii_case(tenant_key),
            _ => false,
        };
        Ok(LeaseKinds {
            kinds,
            skip_missing_import_key: !holds_import_key,
        })
    }

    /// One look at the queue for [`Jobs::lease_or_wait`].
    async fn take(
        &self,
        connector: &Connector,
        lease: &Lease,
        asked: &LeaseKinds,
    ) -> OpsResult<Vec<LeasedJob>> {
        let expires = Duration::seconds(lease.visibility_seconds as i64);
        let leased = self
            .lease_jobs(
                &Holder::connector(connector),
                &asked.kinds,
                lease.max,
                expires,
                asked.skip_missing_import_key,
                None,
            )
            .await?;
        let mut out = Vec::with_capacity(leased.len());
        for (job, token) in leased {
            let user_pfx = match job.kind {
                JobKind::PkcsImport => self.user_pfx_of(&job).await?,
                _ => None,
            };
            out.push(LeasedJob {
                job,
                token,
                user_pfx,
            });
        }
        Ok(out)
    }

    /// `CertificateAuthorityRequests/downloadRevocationRequests` for a tenant's third-party CA:
    /// up to `max` revoke requests (optionally of one issuer), not handed out again for 60
    /// minutes unless a result is uploaded.
    pub async fn ca_download(
        &self,
        tenant_id: &TenantId,
        max: u32,
        issuer_name: Option<&str>,
    ) -> OpsResult<Vec<LeasedJob>> {
        let tenant = self.deps.tenant(tenant_id).await?;
        let holder_id = third_party_ca(&tenant);
        let holder = Holder {
            tenant_id,
            id: &holder_id,
        };
        let leased = self
            .lease_jobs(
                &holder,
                &[JobKind::Revoke],
                max,
                ca_download_visibility(),
                false,
                issuer_name,
            )
            .await?;
        Ok(leased
            .into_iter()
            .map(|(job, token)| LeasedJob {
                job,
                token,
                user_pfx: None,
            })
            .collect())
    }

    /// One lease in the store: up to `max` ready jobs of `kinds` for `holder`, each with the
    /// token whose hash it now holds.
    async fn lease_jobs(
        &self,
        holder: &Holder<'_>,
        kinds: &[JobKind],
        max: u32,
        visibility: Duration,
        skip_missing_import_key: bool,
        issuer_name: Option<&str>,
    ) -> OpsResult<Vec<(Job, String)>> {
        let now = self.deps.now();
        let tokens: Vec<String> = (0..max).map(|_| self.deps.ids.secret("lease")).collect();
        let hashes: Vec<String> = tokens.iter().map(|t| secret_hash(t)).collect();
        let leased = self
            .deps
            .store
            .lease_jobs(&LeaseJobs {
                tenant_id: holder.tenant_id,
                connector_id: holder.id,
                kinds,
                now_ms: now.timestamp_millis(),
                lease_expires_ms: (now + visibility).timestamp_millis(),
                token_hashes: &hashes,
                skip_missing_import_key,
                issuer_name,
            })
            .await?;
        Ok(leased
            .into_iter()
            .map(|row| {
                // Pairs the row with the token whose hash it holds.
                let token = hashes
                    .iter()
                    .position(|h| Some(h) == row.lease_token_hash.as_ref())
                    .and_then(|i| tokens.get(i))
                    .cloned()
                    .unwrap_or_default();
                (rows::job(row), token)
            })
            .collect())
    }

    /// The imported PFX a leased `pkcs_import` job names (the blob and the encrypted password
    /// are handed only to the lease holder, never to admin views); `None` when it was deleted
    /// since the job was queued.
    async fn user_pfx_of(&self, job: &Job) -> OpsResult<Option<UserPfx>> {
        let id = rows::user_pfx_id(&job.payload).unwrap_or_default();
        let found = self.deps.store.get_user_pfx(&job.tenant_id, &id).await;
        Ok(optional(found)?.map(rows::user_pfx))
    }

    /// Completes a leased job. A repeat of the same completion with the same token answers the
    /// same; a token whose lease ended (expired and re-leased, cancelled) is `LeaseLost`.
    pub async fn complete(
        &self,
        holder: &Holder<'_>,
        job_id: &JobId,
        token: &str,
        report: &Report,
    ) -> OpsResult<CompletedJob> {
        let job = self
            .deps
            .store
            .get_job(holder.tenant_id, job_id)
            .await
            .map_err(missing("job"))?;
        let token_hash = secret_hash(token);
        let now = self.deps.now();
        let lease = rows::held_lease(&job);
        match plan_completion(
            &lease,
            holder.id.as_str(),
            &token_hash,
            report.outcome(),
            now,
        ) {
            CompletionPlan::Write(write) => {
                let completion = rows::completion(&job.id, &token_hash, report, &write, now);
                if self.deps.store.complete_job(&completion).await? {
                    return Ok(answer(&job.id, report.outcome(), &write));
                }
                // The lease ended between the read and the write: most often a completion with
                // the same token got there first (a race of two uploads), which the attempt
                // shows; otherwise it ran out or was cancelled.
                self.completed_before(holder, &job, &token_hash, report.outcome())
                    .await
            }
            CompletionPlan::NotLeaseHolder => Err(OpsError::NotLeaseHolder(job.id.into_string())),
            CompletionPlan::FromHistory => {
                self.completed_before(holder, &job, &token_hash, report.outcome())
                    .await
            }
        }
    }

    /// Would [`Jobs::complete`] find `token` holding (or having held) `job_id` for `holder`?
    /// Lets a batch be checked whole before any of it is applied.
    pub async fn lease_is_held(
        &self,
        holder: &Holder<'_>,
        job_id: &JobId,
        token: &str,
    ) -> OpsResult<bool> {
        let store = &self.deps.store;
        let found = store.get_job(holder.tenant_id, job_id).await;
        let Some(job) = optional(found)? else {
            return Ok(false);
        };
        let token_hash = secret_hash(token);
        let lease = rows::held_lease(&job);
        if lease.state == JobState::Leased && lease.token_hash == Some(token_hash.as_str()) {
            return Ok(lease.holder == Some(holder.id.as_str()));
        }
        let found = store.attempt_by_token(job_id, &token_hash).await;
        Ok(optional(found)?.is_some_and(|a| a.connector_id == *holder.id && a.outcome.is_some()))
    }

    /// Completes a batch of one lease holder's jobs: every completion whose token holds its
    /// job's current lease is written in one transaction, and the others (a repeat, a stale
    /// token, a job named twice) are answered one by one afterwards. Each entry gets the answer
    /// it would have had alone, in order; a backend failure fails the batch and writes nothing.
    pub async fn complete_many(
        &self,
        holder: &Holder<'_>,
        entries: Vec<BatchCompletion>,
    ) -> OpsResult<Vec<OpsResult<CompletedJob>>> {
        let ids: Vec<&JobId> = entries.iter().map(|e| &e.job_id).collect();
        let jobs: HashMap<JobId, JobRow> = self
            .deps
            .store
            .get_jobs(holder.tenant_id, &ids)
            .await?
            .into_iter()
            .map(|job| (job.id.clone(), job))
            .collect();
        let now = self.deps.now();
        let hashes: Vec<String> = entries.iter().map(|e| secret_hash(&e.token)).collect();
        let mut answers: Vec<Option<OpsResult<CompletedJob>>> =
            entries.iter().map(|_| None).collect();
        let mut writes: Vec<(usize, PlannedWrite)> = Vec::new();
        let mut written: HashSet<&JobId> = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let Some(job) = jobs.get(&entry.job_id) else {
                answers[i] = Some(Err(OpsError::NotFound("job")));
                continue;
            };
            if written.contains(&job.id) {
                continue;
            }
            let lease = rows::held_lease(job);
            let outcome = entry.report.outcome();
            match plan_completion(&lease, holder.id.as_str(), &hashes[i], outcome, now) {
                CompletionPlan::Write(write) => {
                    written.insert(&job.id);
                    writes.push((i, write));
                }
                CompletionPlan::NotLeaseHolder => {
                    answers[i] = Some(Err(OpsError::NotLeaseHolder(job.id.to_string())))
                }
                CompletionPlan::FromHistory => {}
            }
        }
        let completions: Vec<_> = writes
            .iter()
            .map(|(i, write)| {
                let entry = &entries[*i];
                rows::completion(&entry.job_id, &hashes[*i], &entry.report, write, now)
            })
            .collect();
        let applied = self.deps.store.complete_jobs(&completions).await?;
        for ((i, write), applied) in writes.iter().zip(applied) {
            // One not applied lost a race (see `complete`): answered one by one below.
            if applied {
                let entry = &entries[*i];
                let outcome = entry.report.outcome();
                answers[*i] = Some(Ok(answer(&entry.job_id, outcome, write)));
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        for (entry, answer) in entries.iter().zip(answers) {
            out.push(match answer {
                Some(answer) => answer,
                None => {
                    self.complete(holder, &entry.job_id, &entry.token, &entry.report)
                        .await
                }
            });
        }
        Ok(out)
    }

    /// The answer for a token that does not hold the job's current lease: the same answer as
    /// before for a repeat of a completion, `LeaseLost` or `AlreadyCompleted` otherwise.
    async fn completed_before(
        &self,
        holder: &Holder<'_>,
        job: &JobRow,
        token_hash: &str,
        outcome: Outcome,
    ) -> OpsResult<CompletedJob> {
        let job_id = &job.id;
        let found = self.deps.store.attempt_by_token(job_id, token_hash).await;
        let Some(attempt) = optional(found)? else {
            return Err(OpsError::LeaseLost(format!(
                "the lease token does not hold job {job_id}"
            )));
        };
        let ended = attempt.outcome;
        let number = attempt.attempt;
        match answer_again(
            attempt.connector_id.as_str(),
            number,
            ended,
            holder.id.as_str(),
            outcome,
            job.max_attempts,
        ) {
            Again::Same { state } => Ok(CompletedJob {
                job_id: job_id.clone(),
                attempt: number,
                outcome,
                state,
            }),
            Again::NotLeaseHolder => Err(OpsError::NotLeaseHolder(job_id.to_string())),
            Again::AlreadyCompleted(previous) => Err(OpsError::AlreadyCompleted(format!(
                "attempt {number} of job {job_id} was already completed as `{previous}`"
            ))),
            Again::LeaseEnded(Some(end)) => Err(OpsError::LeaseLost(format!(
                "the lease of attempt {number} of job {job_id} {end}"
            ))),
            Again::LeaseEnded(None) => Err(OpsError::LeaseLost(format!(
                "the lease of attempt {number} of job {job_id} is no longer current"
            ))),
        }
    }

    /// A page of the tenant's jobs in enqueue order (optionally of one kind and state), and how
    /// many match in all. Expired leases are put back first.
    pub async fn list(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
        top: i64,
        skip: i64,
    ) -> OpsResult<(Vec<Job>, i64)> {
        self.deps.tenant_row(tenant_id).await?;
        let store = &self.deps.store;
        store
            .expire_leases(Some(tenant_id), self.deps.now().timestamp_millis())
            .await?;
        let found = store.list_jobs(tenant_id, kind, state, top, skip).await?;
        let total = store.count_jobs(tenant_id, kind, state).await?;
        Ok((found.into_iter().map(rows::job).collect(), total))
    }

    /// Whether a lease by one of the tenant's connectors could find work now: a job is queued,
    /// once the tenant's leases that ran out are back in the queue. (`true` also while the
    /// only queued jobs wait out a retry backoff.)
    pub async fn has_queued(&self, tenant_id: &TenantId) -> OpsResult<bool> {
        let store = &self.deps.store;
        store
            .expire_leases(Some(tenant_id), self.deps.now().timestamp_millis())
            .await?;
        Ok(store.has_queued_jobs(tenant_id).await?)
    }

    /// A job with its attempts (expired leases put back first).
    pub async fn get(&self, tenant_id: &TenantId, id: &JobId) -> OpsResult<(Job, Vec<Attempt>)> {
        let store = &self.deps.store;
        store
            .expire_leases(Some(tenant_id), self.deps.now().timestamp_millis())
            .await?;
        let job = store.get_job(tenant_id, id).await.map_err(missing("job"))?;
        let attempts = store.job_attempts(id).await?;
        Ok((
            rows::job(job),
            attempts.into_iter().map(rows::attempt).collect(),
        ))
    }

    /// Cancels a job that has not finished.
    pub async fn cancel(&self, tenant_id: &TenantId, id: &JobId) -> OpsResult<Job> {
        let (job, _) = self.get(tenant_id, id).await?;
        let cancelled = self
            .deps
            .store
            .cancel_job(tenant_id, id, self.deps.now().timestamp_millis())
            .await?;
        if !cancelled {
            return Err(OpsError::AlreadyCompleted(format!(
                "job {id} is already {}",
                job.state
            )));
        }
        Ok(self.get(tenant_id, id).await?.0)
    }

    /// The earliest instant after `after` at which a lease expires or a retry backoff ends.
    pub async fn next_deadline(&self, after: DateTime<Utc>) -> OpsResult<Option<DateTime<Utc>>> {
        let found = self
            .deps
            .store
            .next_job_deadline(after.timestamp_millis())
            .await?;
        Ok(found.map(crate::clock::from_millis))
    }

    /// Jobs of every tenant by kind and state (expired leases put back first).
    pub async fn counts(&self) -> OpsResult<Vec<JobCount>> {
        let store = &self.deps.store;
        store
            .expire_leases(None, self.deps.now().timestamp_millis())
            .await?;
        let stats = store.job_stats().await?;
        Ok(stats.into_iter().map(rows::job_count).collect())
    }

    /// Ended attempts of every tenant by how they ended.
    pub async fn attempt_ends(&self) -> OpsResult<Vec<(AttemptEnd, i64)>> {
        Ok(self.deps.store.attempt_outcomes().await?)
    }
}

/// The answer to a planned completion the store applied.
fn answer(job_id: &JobId, outcome: Outcome, write: &PlannedWrite) -> CompletedJob {
    CompletedJob {
        job_id: job_id.clone(),
        attempt: write.attempt,
        outcome,
        state: write.state,
    }
}

/// What a lease may take (see [`Jobs::lease_kinds`]).
struct LeaseKinds {
    kinds: Vec<JobKind>,
    skip_missing_import_key: bool,
}

/// What [`Jobs::write`] did.
pub(super) enum Written {
    /// The jobs as created.
    Jobs(Vec<Job>),
    /// Nothing: the tenant held the idempotency key already (a call with it got there first).
    KeyTaken(EnqueueKeyRow),
}

/// How long an enqueue's idempotency key is kept, on the service clock.
pub const KEY_KEPT: Duration = Duration::hours(24);

/// A digest of a batch of new jobs (kind and canonical payload of each, in order): two calls
/// with the same key must carry the same batch.
pub(super) fn fingerprint(jobs: &[NewJob]) -> String {
    let mut text = String::new();
    for job in jobs {
        text.push_str(job.kind.as_str());
        text.push('\n');
        text.push_str(&job.payload);
        text.push('\n');
    }
    secret_hash(&text)
}

/// The first answer again for a retry under a stored key: the jobs as the first call created
/// them (the retry's jobs are the first call's, the fingerprint says so, with the stored ids and
/// instant); another batch under the same key is [`OpsError::KeyReused`].
fn replay(
    tenant_id: &TenantId,
    stored: EnqueueKeyRow,
    fingerprint: &str,
    jobs: Vec<NewJob>,
) -> OpsResult<Vec<Job>> {
    let at = crate::clock::from_millis(stored.created_ms)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if stored.fingerprint != fingerprint || stored.job_ids.len() != jobs.len() {
        return Err(OpsError::KeyReused(format!(
            "Idempotency-Key `{}` was used at {at} for another batch ({} jobs); a retry must send the same jobs, and a new batch needs a new key",
            stored.key,
            stored.job_ids.len()
        )));
    }
    Ok(stored
        .job_ids
        .into_iter()
        .zip(jobs)
        .map(|(id, job)| rows::job(rows::new_job(id, tenant_id, job, stored.created_ms)))
        .collect())
}
