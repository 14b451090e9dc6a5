//! What the operations take and answer: plain values with typed ids, domain types and instants.
//! Store rows stay inside `ops` (read and written in `ops::rows`); `http` turns these into wire
//! bodies and wire bodies into the `New…` values here.

use chrono::{DateTime, Utc};

use crate::domain::connector::Product;
use crate::domain::{
    AttemptEnd, ConnectorFacts, ConnectorId, Evaluation, FeatureSet, JobId, JobKind, JobState,
    Outcome, ReasonCode, Status, TenantId, Version,
};

/// A tenant (its secrets are stored as hashes only; see [`CreatedTenant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub rollout_delay_days: u32,
    /// The app registration a third-party CA or Graph client authenticates as.
    pub client_id: String,
    /// The tenant's current PFX-import key.
    pub import_key_thumbprint: Option<String>,
    pub created: DateTime<Utc>,
}

/// A freshly created tenant with its secrets, shown this once.
#[derive(Debug, Clone)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub enrollment_secret: String,
    pub client_secret: String,
}

/// An installed connector: who it is, and the facts its status is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: ConnectorId,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub machine_name: String,
    pub service_account: String,
    pub proxy: Option<String>,
    pub auto_update: bool,
    pub facts: ConnectorFacts,
}

/// A connector with its status now (history reconciled up to now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorStatus {
    pub connector: Connector,
    pub evaluation: Evaluation,
}

/// One entry of a connector's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub status: Status,
    pub reasons: Vec<ReasonCode>,
}

/// A validated registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnector {
    pub machine_name: String,
    pub display_name: String,
    pub features: FeatureSet,
    pub version: Version,
    pub product: Product,
    pub service_account: String,
    pub co_installed: Vec<String>,
    pub auto_update: bool,
    pub proxy: Option<String>,
    pub import_key_thumbprint: Option<String>,
}

/// A registered connector with its own credential, shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub connector: Connector,
    pub credential: String,
}

/// A validated reconfiguration; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigure {
    pub display_name: Option<String>,
    pub features: Option<FeatureSet>,
    pub service_account: Option<String>,
    pub proxy: Option<Option<String>>,
    pub import_key_thumbprint: Option<Option<String>>,
    pub auto_update: Option<bool>,
    pub co_installed: Option<Vec<String>>,
}

/// A connector's health message as kept (its body is the message as uploaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthMessage {
    pub at: DateTime<Utc>,
    pub body: String,
}

/// What the auto-update service offers a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOffer {
    /// The version the connector runs.
    pub current: Version,
    /// The newest release available to its tenant now, if any.
    pub latest: Option<Offered>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub version: Version,
    pub released: DateTime<Utc>,
    /// Release date plus the tenant's rollout delay.
    pub available: DateTime<Utc>,
}

/// A validated job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    /// Canonical JSON of the validated payload (a `pkcs_import` job's names an imported PFX,
    /// which must exist when the job is enqueued).
    pub payload: String,
}

/// A job of a tenant's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: JobKind,
    pub state: JobState,
    /// JSON text.
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// JSON text.
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    /// Who holds the current lease: a connector, or a third-party CA (see [`Holder`]).
    pub leased_by: Option<ConnectorId>,
    pub lease_expires: Option<DateTime<Utc>>,
}

/// One lease of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: i64,
    /// A connector, or a third-party CA (see [`Holder`]).
    pub holder: ConnectorId,
    pub leased: DateTime<Utc>,
    /// How it ended (`None`: it has not).
    pub outcome: Option<AttemptEnd>,
    pub error_code: Option<String>,
    pub ended: Option<DateTime<Utc>>,
}

/// A job handed out by a lease, with the token that completes it (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    pub job: Job,
    pub token: String,
    /// For a `pkcs_import` job, the imported PFX it names (handed only to the lease holder;
    /// `None` when it was deleted since the job was queued: the connector then fails the job).
    pub user_pfx: Option<UserPfx>,
}

/// What a lease asks for (validated at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Only these kinds (`None`: every kind the connector's features allow).
    pub kinds: Option<Vec<JobKind>>,
    pub max: u32,
    pub visibility_seconds: u32,
}

/// What a lease holder reports for a job, with what the report carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Succeeded {
        /// JSON text.
        result: String,
    },
    Failed {
        code: String,
        message: Option<String>,
    },
    Retry {
        code: Option<String>,
        message: Option<String>,
    },
}

impl Report {
    pub fn outcome(&self) -> Outcome {
        match self {
            Report::Succeeded { .. } => Outcome::Succeeded,
            Report::Failed { .. } => Outcome::Failed,
            Report::Retry { .. } => Outcome::Retry,
        }
    }
}

/// The stable answer to a completion (a repeat gets the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedJob {
    pub job_id: JobId,
    pub attempt: i64,
    pub outcome: Outcome,
    pub state: JobState,
}

/// One entry of a batch completion.
#[derive(Debug, Clone)]
pub struct BatchCompletion {
    pub job_id: JobId,
    pub token: String,
    pub report: Report,
}

/// Who holds a lease: a connector, or a tenant's third-party CA, which holds its leases under
/// the connector id `third-party-ca:{clientId}` (see `ops::third_party_ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    pub tenant_id: &'a TenantId,
    pub id: &'a ConnectorId,
}

impl<'a> Holder<'a> {
    pub fn connector(connector: &'a Connector) -> Self {
        Holder {
            tenant_id: &connector.tenant_id,
            id: &connector.id,
        }
    }
}

/// Jobs of every tenant of one kind in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: JobKind,
    pub state: JobState,
    pub count: i64,
    /// When the oldest of them was queued.
    pub oldest_created: DateTime<Utc>,
}

/// An imported user PFX certificate (S/MIME).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPfx {
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
    pub start: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// What a SCEP profile asks of a targeted device's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScepChallenge {
    pub device_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub subject_alt_names: Vec<crate::scep::San>,
    pub key_usage: Vec<String>,
    pub key_size: i64,
    pub extended_key_usage: Vec<String>,
    pub validity_minutes: i64,
}

/// A SCEP challenge issued to a targeted device, with the last verdict on a request under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepChallenge {
    pub id: String,
    pub device_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub subject_alt_names: Vec<crate::scep::San>,
    pub key_usage: Vec<String>,
    pub key_size: i64,
    pub extended_key_usage: Vec<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub targeted: bool,
    pub transaction_id: Option<String>,
    pub last_code: Option<String>,
    pub notification: Option<ScepNotification>,
}

/// Which notification a CA (or a connector's SCEP module) sends after a validated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    Success,
    Failure,
}

impl NotificationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            NotificationKind::Success => "success",
            NotificationKind::Failure => "failure",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [NotificationKind::Success, NotificationKind::Failure]
            .into_iter()
            .find(|k| k.as_str() == input)
    }
}

/// A success or failure notification recorded on a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepNotification {
    pub kind: NotificationKind,
    pub at: DateTime<Utc>,
    /// JSON text of the notification as sent.
    pub body: String,
}

/// An issued challenge with the blob the device puts in its request, shown this once.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    pub challenge: ScepChallenge,
    pub blob: String,
}
