//! Operator API bodies: tenants, releases, the clock, connector status and history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenant {
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_delay_days: Option<u32>,
}

/// A tenant as `POST /admin/tenants` answers it. The three secrets are shown only in that answer;
/// listings leave them out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    pub rollout_delay_days: u32,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub created_date_time: DateTime<Utc>,
    /// SHA-1 thumbprint of the tenant's current PFX-import key, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_key_thumbprint: Option<String>,
}

/// `PUT /admin/tenants/{id}/import-key`: `null` or `""` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetImportKey {
    pub thumbprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Collection<T> {
    pub value: Vec<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    Real,
    Virtual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClockState {
    pub now: DateTime<Utc>,
    pub mode: ClockMode,
}

/// `POST /admin/reset`: everything (no `tenantId`) or one tenant. `clock` (RFC 3339, only with
/// everything and a virtual clock) sets the clock to any instant, earlier ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub clock: Option<String>,
}

/// What a reset removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetDone {
    pub tenants_removed: usize,
    pub fault_rules_removed: usize,
    pub journal_entries_removed: usize,
    pub clock: DateTime<Utc>,
}

/// `POST /admin/clock`: exactly one of `set` (RFC 3339) or `advance` (ISO 8601 duration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Duration, example = "P30D")]
    pub advance: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub version: String,
    pub released_date_time: DateTime<Utc>,
    /// `shipped` for the catalog from the docs, `published` for releases an operator added.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRelease {
    #[schema(
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
        example = "6.2406.0.1001"
    )]
    pub version: String,
    /// RFC 3339; a bare date `YYYY-MM-DD` means midnight UTC.
    pub released_date_time: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Warning,
    Error,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub code: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    pub connector_id: String,
    pub status: Status,
    pub reasons: Vec<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_ends_date_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_ends_date_time: Option<DateTime<Utc>>,
}

/// One recorded status change, at the exact instant the rules say it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub date_time: DateTime<Utc>,
    pub status: Status,
    pub reasons: Vec<String>,
}

/// A connector as the operator sees it: everything the service knows, plus its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorView {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub machine_name: String,
    pub features: Vec<crate::connector::Feature>,
    pub version: String,
    pub product: String,
    pub service_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_key_thumbprint: Option<String>,
    pub auto_update: bool,
    pub co_installed_products: Vec<String>,
    pub enrolled_date_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkin_date_time: Option<DateTime<Utc>>,
    /// Graph `ndesConnectorState`: `none`, `active` or `inactive`.
    pub state: String,
    pub status: ConnectorStatus,
}

/// `POST /admin/faults`: from now on, requests whose path contains `route` (`*`: every
/// non-operator route) answer `status` (with `Retry-After` for 429/503) or are delayed by
/// `delayMs` first — for `count` requests, for `durationSeconds` of virtual time, or until
/// cleared; each matching request is hit with `probability` (drawn from the service's seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateFault {
    pub route: String,
    /// Only calls made with a credential of this tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Only calls made with this connector's credential.
    #[serde(default)]
    pub connector_id: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `true`: close the connection without an answer.
    #[serde(default)]
    pub drop: Option<bool>,
    #[serde(default)]
    pub retry_after_seconds: Option<u32>,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
}

/// A fault rule as `GET /admin/faults` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultView {
    pub id: String,
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The connection is closed without an answer.
    #[serde(default)]
    pub drop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
    /// Requests it will still hit (absent: no count limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_date_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Requests it has hit so far.
    pub hits: u64,
}
