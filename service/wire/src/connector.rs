//! Connector API bodies: registration, check-in and self-management.
//!
//! The real connector's own protocol is not public (docs/behaviour.md, "Wire shapes"); this one is
//! ours.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a connector installs, and so which kinds of jobs it may lease.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Pkcs,
    PkcsImport,
    Scep,
    Revocation,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::Pkcs,
        Feature::PkcsImport,
        Feature::Scep,
        Feature::Revocation,
    ];

    /// The name on the wire (as serde writes it), for the request fields that travel as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Pkcs => "pkcs",
            Feature::PkcsImport => "pkcs_import",
            Feature::Scep => "scep",
            Feature::Revocation => "revocation",
        }
    }
}

crate::jobs::display_as_str!(Feature);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    pub machine_name: String,
    pub display_name: String,
    // Text, not `Feature`s: an unknown feature is answered 400 `UnknownFeature` and an empty
    // list 400 `EmptyFeatures` (serde would refuse the body as `invalidRequest`); likewise in
    // the reconfiguration, the lease's `kinds` and the health message. Clients write `as_str`.
    pub features: Vec<String>,
    #[schema(
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
        example = "6.2406.0.1001"
    )]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_installed_products: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_key_thumbprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub connector_id: String,
    pub credential: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckinRequest {
    #[schema(
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
        example = "6.2406.0.1001"
    )]
    pub version: String,
    /// Set by a simulated connector whose idle polls were coalesced (docs/behaviour.md, "Time"): it
    /// has polled without interruption since this instant, so the service sees no gap in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinResponse {
    pub connector_id: String,
    pub server_date_time: DateTime<Utc>,
}

/// `PATCH /connector/v1/self`: reconfigure. Absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconfigureRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// `""` removes the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// `""` removes the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_key_thumbprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_installed_products: Option<Vec<String>>,
}

/// `POST /connector/v1/jobs/lease`: up to `max` jobs of `kinds` (default: every kind the
/// connector's features allow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    pub max: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// How long the leased jobs stay invisible to others (default 300 s, at most 12 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 43200)]
    pub visibility_timeout_seconds: Option<u32>,
}

/// One leased job: invisible to other connectors until `leaseExpiresDateTime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeasedJob {
    pub id: String,
    pub kind: crate::jobs::JobKind,
    pub lease_token: String,
    pub attempt: u32,
    /// After this many attempts a job that asks for `retry` goes to dead letter.
    pub max_attempts: u32,
    pub lease_expires_date_time: DateTime<Utc>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseResponse {
    pub jobs: Vec<LeasedJob>,
}

/// `GET /autoupdate/v1/latest` (connector credential): which version the connector may install
/// now — the newest release available to its tenant (release date + the tenant's rollout delay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInfo {
    pub current_version: String,
    /// The newest version available to the tenant now (absent when none is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    pub update_available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date_time: Option<DateTime<Utc>>,
    /// When `latestVersion` became available to this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_date_time: Option<DateTime<Utc>>,
}

/// `POST /connector/v1/health`: the connector's health message (every 5 minutes by default).
/// It counts as a check-in too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthMessage {
    #[schema(
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
        example = "6.2406.0.1001"
    )]
    pub version: String,
    pub features: Vec<String>,
    pub enrolled_date_time: DateTime<Utc>,
    pub import_key_configured: bool,
    /// Requests handled since the previous message: `pkcsSuccess`, `pkcsFailure`,
    /// `pkcsImportSuccess`, …, `revokeSuccess`, `scepFailure`.
    #[serde(default)]
    pub counters: std::collections::BTreeMap<String, u64>,
    /// As in a check-in: polled without a gap since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_since: Option<DateTime<Utc>>,
    /// Health messages went through without a gap since then (a coalesced upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploading_since: Option<DateTime<Utc>>,
}

/// The health counters a connector reports, per area: `{area}Success` and `{area}Failure`.
pub const HEALTH_AREAS: [&str; 5] = ["pkcs", "pkcsRecrypt", "pkcsImport", "revoke", "scep"];

/// The lifecycle crate's feature as the wire spells it (one exhaustive match: a new feature on
/// either side is a compile error here). The service's `http::closed_sets` tests hold the names
/// equal.
impl From<lifecycle::Feature> for Feature {
    fn from(feature: lifecycle::Feature) -> Self {
        match feature {
            lifecycle::Feature::Pkcs => Self::Pkcs,
            lifecycle::Feature::PkcsImport => Self::PkcsImport,
            lifecycle::Feature::Scep => Self::Scep,
            lifecycle::Feature::Revocation => Self::Revocation,
        }
    }
}
