//! The store's rows: what each table holds, as domain types (see `columns` for how each sits in
//! its TEXT column), and the arguments of the queue's two busiest calls.

use super::columns;
use crate::domain::jobs::AttemptEnd;
use crate::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome, TenantId};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRow {
    pub id: TenantId,
    pub display_name: String,
    pub rollout_delay_days: i64,
    pub enrollment_secret_hash: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub import_key_thumbprint: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectorRow {
    pub id: ConnectorId,
    pub tenant_id: TenantId,
    pub credential_hash: String,
    pub display_name: String,
    pub machine_name: String,
    pub machine_key: String,
    #[sqlx(try_from = "columns::Column<FeatureSet>")]
    pub features: FeatureSet,
    pub version: String,
    pub product: String,
    pub service_account: String,
    pub proxy: Option<String>,
    pub import_key_thumbprint: Option<String>,
    pub auto_update: bool,
    /// Products sharing the machine (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub co_installed: Vec<String>,
    pub enrolled_ms: i64,
    pub last_checkin_ms: Option<i64>,
    pub reconciled_ms: i64,
    pub last_status: String,
    /// Reason codes of the last status (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub last_reasons: Vec<String>,
    pub seq: i64,
    /// The last health upload.
    pub last_health_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReleaseRow {
    pub version: String,
    pub released_ms: i64,
    pub published_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub connector_id: ConnectorId,
    pub seq: i64,
    pub at_ms: i64,
    pub status: String,
    /// Reason codes (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub reasons: Vec<String>,
}

/// What `reconcile` writes for one connector: new history rows and its new bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub connector_id: ConnectorId,
    pub entries: Vec<HistoryRow>,
    pub reconciled_ms: i64,
    pub last_status: String,
    pub last_reasons: Vec<String>,
    pub seq: i64,
}

/// A health message to keep (see [`super::Store::insert_health`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthWrite<'a> {
    pub at_ms: i64,
    pub body: &'a str,
    /// Messages of the connector older than this go.
    pub keep_from_ms: i64,
}

/// How many jobs of one kind are in one state, and when the oldest of them was created.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobStat {
    #[sqlx(try_from = "columns::Column<JobKind>")]
    pub kind: JobKind,
    pub state: JobState,
    pub count: i64,
    pub oldest_created_ms: i64,
}

/// A job. (Also read from JSON: the SQLite store hands many rows over as one JSON array, with
/// the same parsing of each column.)
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct JobRow {
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub id: JobId,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub tenant_id: TenantId,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    #[sqlx(try_from = "columns::Column<JobKind>")]
    pub kind: JobKind,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub state: JobState,
    /// JSON text.
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub visible_ms: i64,
    pub lease_token_hash: Option<String>,
    /// The lease holder: a connector, or a third-party CA (`third-party-ca:{clientId}`).
    #[serde(deserialize_with = "columns::serde_columns::optional")]
    pub lease_connector_id: Option<ConnectorId>,
    pub lease_expires_ms: Option<i64>,
    /// JSON text.
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserPfxRow {
    pub tenant_id: TenantId,
    /// `{userId without dashes}-{thumbprint lower-case}`.
    pub id: String,
    pub user_principal_name: String,
    pub thumbprint: String,
    pub intended_purpose: String,
    pub padding_scheme: String,
    pub provider_name: String,
    pub key_name: String,
    /// Base64 PFX bytes.
    pub encrypted_pfx_blob: String,
    /// Base64 password encrypted to the tenant's import key.
    pub encrypted_pfx_password: String,
    pub start_ms: Option<i64>,
    pub expiration_ms: Option<i64>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A tenant's token-signing key (see `crate::identity::jwt`): the RSA key as PKCS#8 PEM and its
/// self-signed certificate, whose thumbprint is `kid`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub tenant_id: TenantId,
    pub kid: String,
    pub private_key_pem: String,
    pub certificate_pem: String,
    pub created_ms: i64,
}

/// A SCEP challenge issued to a device targeted by a SCEP profile (see `crate::scep`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScepChallengeRow {
    pub tenant_id: TenantId,
    pub id: String,
    pub device_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    /// JSON array of `{"type", "value"}`.
    pub subject_alt_names: String,
    /// Comma-separated key usage names.
    pub key_usage: String,
    pub key_size: i64,
    /// Comma-separated dotted OIDs.
    pub extended_key_usage: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
    pub targeted: bool,
    pub transaction_id: Option<String>,
    pub last_code: Option<String>,
    pub notification_kind: Option<String>,
    /// JSON text.
    pub notification: Option<String>,
    pub notified_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub job_id: JobId,
    pub attempt: i64,
    /// The lease holder (see [`JobRow::lease_connector_id`]).
    pub connector_id: ConnectorId,
    pub lease_token_hash: String,
    pub leased_ms: i64,
    /// `None` while the attempt's lease is open.
    pub outcome: Option<AttemptEnd>,
    pub error_code: Option<String>,
    pub ended_ms: Option<i64>,
}

/// A device key the service made for a job enqueued by profile (docs/behaviour.md, "Request
/// queues and routing"): the PKCS#8 private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeyRow {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    pub private_key_pem: String,
}

/// An idempotency key of an enqueue (docs/behaviour.md, "Request queues and routing"): what the
/// first request with it asked for and what it created, to answer its retries the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueKeyRow {
    pub tenant_id: TenantId,
    pub key: String,
    /// A digest of the request's jobs (kind and payload of each, in order).
    pub fingerprint: String,
    /// The jobs it created, in order.
    pub job_ids: Vec<JobId>,
    pub created_ms: i64,
}

impl EnqueueKeyRow {
    /// `job_ids` as stored: a JSON array of text.
    pub(crate) fn job_ids_json(&self) -> String {
        let ids: Vec<&str> = self.job_ids.iter().map(JobId::as_str).collect();
        serde_json::Value::from(ids).to_string()
    }

    /// The row read back from its columns.
    pub(crate) fn from_columns(
        tenant_id: &TenantId,
        key: &str,
        (fingerprint, job_ids, created_ms): (String, String, i64),
    ) -> Result<Self, super::StoreError> {
        let ids: Vec<String> = serde_json::from_str(&job_ids).map_err(|e| {
            super::StoreError::Corrupt(format!("enqueue_keys.job_ids of key `{key}`: {e}"))
        })?;
        Ok(EnqueueKeyRow {
            tenant_id: tenant_id.clone(),
            key: key.to_owned(),
            fingerprint,
            job_ids: ids.into_iter().map(JobId::from).collect(),
            created_ms,
        })
    }
}

/// A lease call: up to `token_hashes.len()` ready jobs of `kinds`, oldest first.
#[derive(Debug, Clone)]
pub struct LeaseJobs<'a> {
    pub tenant_id: &'a TenantId,
    /// The lease holder (see [`JobRow::lease_connector_id`]).
    pub connector_id: &'a ConnectorId,
    pub kinds: &'a [JobKind],
    pub now_ms: i64,
    pub lease_expires_ms: i64,
    pub token_hashes: &'a [String],
    /// Skip jobs this connector handed back because it lacks the tenant's import key.
    pub skip_missing_import_key: bool,
    /// Only jobs whose payload's `issuerName` is this (case-insensitive).
    pub issuer_name: Option<&'a str>,
}

/// The end of one attempt: the job's new state and fields, applied only if `token_hash` still
/// holds the job's current lease.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub job_id: &'a JobId,
    pub token_hash: &'a str,
    pub now_ms: i64,
    /// `Succeeded`, `Failed`, `Queued` (retry) or `DeadLetter`.
    pub new_state: JobState,
    pub attempt_outcome: Outcome,
    pub visible_ms: i64,
    pub result: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// The completions a batch writes: the first one naming each job, by position. A later one
/// naming the same job finds the lease gone (as it would one call later) and is not written.
pub(crate) fn first_per_job(completions: &[Completion<'_>]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    (0..completions.len())
        .filter(|&i| seen.insert(completions[i].job_id))
        .collect()
}

/// Puts leased rows (from an `UPDATE … RETURNING`, which has no order) in the order of `ids`, the
/// order the lease chose them in (oldest first).
pub(crate) fn in_lease_order(rows: &mut [JobRow], ids: &[&str]) {
    let position: std::collections::HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|row| position.get(row.id.as_str()).copied());
}

impl Completion<'_> {
    /// Whether this completion ends the job (sets `completed_ms`).
    pub(crate) fn finishes(&self) -> bool {
        matches!(
            self.new_state,
            JobState::Succeeded | JobState::Failed | JobState::DeadLetter
        )
    }
}
