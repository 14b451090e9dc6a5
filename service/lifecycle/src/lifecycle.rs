//! The version lifecycle and the status an admin sees, and the calls the service refuses because
//! of a connector's version (docs/behaviour.md, "Releases and the version lifecycle" and "Status
//! and its reasons").
//!
//! Every boundary is inclusive of its start: at `S(v)` exactly the connector is deprecated, at
//! `last check-in + 1 h` exactly it is inactive.

use chrono::{DateTime, Duration, Utc};

use super::calendar::add_months;
use super::catalog::{midnight_utc, Catalog, PRODUCT_REPLACEMENT_VERSION};
use super::connector::{ConnectorFacts, TenantFacts, AD_CONNECTOR};
use super::feature::Feature;
use super::version::Version;

/// Versions below this are the legacy connectors of the docs' "Important" note, of this product
/// and of both legacy products. The dated legacy rule governs them instead of the release policy.
pub const LEGACY_THRESHOLD: Version = Version::new(6, 2101, 13, 0);
/// A version is supported this many calendar months after its successor's release…
pub const SUPPORT_MONTHS: u32 = 6;
/// …and functions this many.
pub const FUNCTION_MONTHS: u32 = 18;

/// Whether the 6/18-month release policy governs `version`: it is the Certificate Connector's
/// policy for its releases, and the docs date the end of the versions below [`LEGACY_THRESHOLD`]
/// separately (Error from 2022-04-01, no revocation from 2022-08-01, no issuance from
/// 2022-09-01), so it does not apply to them.
///
/// ```
/// use intune_mock_lifecycle::{lifecycle::release_policy_applies, Version};
///
/// assert!(release_policy_applies(Version::new(6, 2101, 13, 0)));
/// assert!(!release_policy_applies(Version::new(6, 2008, 60, 607)));
/// ```
pub fn release_policy_applies(version: Version) -> bool {
    version >= LEGACY_THRESHOLD
}

/// A legacy version shows Error from this instant (2022-04-01T00:00:00Z).
pub fn legacy_error_from() -> DateTime<Utc> {
    midnight_utc(2022, 4, 1)
}
/// A legacy version's revocation is refused from this instant (2022-08-01T00:00:00Z).
pub fn legacy_no_revoke_from() -> DateTime<Utc> {
    midnight_utc(2022, 8, 1)
}
/// A legacy version's issuance, SCEP validation included, is refused from this instant
/// (2022-09-01T00:00:00Z).
pub fn legacy_no_issue_from() -> DateTime<Utc> {
    midnight_utc(2022, 9, 1)
}
/// A connector without contact for this long is `Inactive`.
pub fn inactive_after() -> Duration {
    Duration::hours(1)
}
/// A connector still on its version this long after a newer one became available to its tenant
/// is `AutoUpdateBlocked`.
pub fn auto_update_grace() -> Duration {
    Duration::days(7)
}
/// A connector uploads health every 5 minutes; three missed uploads while it is active make
/// `HealthUploadFailing`.
pub fn health_interval() -> Duration {
    Duration::minutes(5)
}
/// See [`health_interval`].
pub fn health_failing_after() -> Duration {
    health_interval() * 3
}

/// The status an admin sees: the worst of the reasons' severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Healthy,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }

    pub fn parse(input: &str) -> Option<Status> {
        match input {
            "healthy" => Some(Status::Healthy),
            "warning" => Some(Status::Warning),
            "error" => Some(Status::Error),
            _ => None,
        }
    }
}

/// How bad one reason is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn status(&self) -> Status {
        match self {
            Severity::Warning => Status::Warning,
            Severity::Error => Status::Error,
        }
    }
}

/// The closed set of status reasons (docs/behaviour.md, "Status and its reasons"), in the order
/// they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    VersionDeprecated,
    VersionOutOfSupport,
    VersionRetired,
    LegacyVersion,
    ProductReplaced,
    Inactive,
    VersionSkew,
    MissingImportKey,
    CoInstalledWithAdConnector,
    HealthUploadFailing,
    AutoUpdateBlocked,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 11] = [
        ReasonCode::VersionDeprecated,
        ReasonCode::VersionOutOfSupport,
        ReasonCode::VersionRetired,
        ReasonCode::LegacyVersion,
        ReasonCode::ProductReplaced,
        ReasonCode::Inactive,
        ReasonCode::VersionSkew,
        ReasonCode::MissingImportKey,
        ReasonCode::CoInstalledWithAdConnector,
        ReasonCode::HealthUploadFailing,
        ReasonCode::AutoUpdateBlocked,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ReasonCode::VersionDeprecated => "VersionDeprecated",
            ReasonCode::VersionOutOfSupport => "VersionOutOfSupport",
            ReasonCode::VersionRetired => "VersionRetired",
            ReasonCode::LegacyVersion => "LegacyVersion",
            ReasonCode::ProductReplaced => "ProductReplaced",
            ReasonCode::Inactive => "Inactive",
            ReasonCode::VersionSkew => "VersionSkew",
            ReasonCode::MissingImportKey => "MissingImportKey",
            ReasonCode::CoInstalledWithAdConnector => "CoInstalledWithAdConnector",
            ReasonCode::HealthUploadFailing => "HealthUploadFailing",
            ReasonCode::AutoUpdateBlocked => "AutoUpdateBlocked",
        }
    }

    pub fn parse(input: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|c| c.as_str() == input)
    }

    pub fn severity(&self) -> Severity {
        match self {
            ReasonCode::VersionOutOfSupport
            | ReasonCode::VersionRetired
            | ReasonCode::LegacyVersion => Severity::Error,
            // A warning, so that the docs' April 2022 Error date holds for the legacy products
            // (docs/behaviour.md, "Releases and the version lifecycle").
            _ => Severity::Warning,
        }
    }
}

/// One reason of a status, with the span it holds over when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub message: String,
}

/// A connector's status at one instant, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub status: Status,
    /// Sorted by code, each code at most once.
    pub reasons: Vec<Reason>,
    /// `S(v) + 6 months`, once the successor is released (release-policy versions only).
    pub support_ends: Option<DateTime<Utc>>,
    /// `S(v) + 18 months`, once the successor is released (release-policy versions only).
    pub function_ends: Option<DateTime<Utc>>,
}

impl Evaluation {
    /// The reasons' codes, in order.
    pub fn codes(&self) -> Vec<ReasonCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }
}

/// The three dates the release policy of a version turns on, once a newer version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleDates {
    /// The first version released after this one (the earliest release among higher versions).
    pub successor: Version,
    /// `S(v)`: the successor's release.
    pub deprecated_from: DateTime<Utc>,
    /// `S(v) + 6 calendar months`.
    pub support_ends: DateTime<Utc>,
    /// `S(v) + 18 calendar months`: the service refuses the version's calls from then on.
    pub function_ends: DateTime<Utc>,
}

/// The release-policy dates of `version` in `catalog`: `None` while no higher version is in the
/// catalog, and for a version the policy does not govern ([`release_policy_applies`]).
///
/// The docs' worked example: 6.2203.12.0, released 2022-05-04, deprecates 6.2202.38.0 from that
/// day; it is out of support from 2022-11-04 and stops functioning from 2023-11-04.
///
/// ```
/// use intune_mock_lifecycle::{catalog::midnight_utc, lifecycle::lifecycle_dates, Catalog, Version};
///
/// let dates = lifecycle_dates(&Catalog::shipped(), Version::new(6, 2202, 38, 0)).unwrap();
/// assert_eq!(dates.successor, Version::new(6, 2203, 12, 0));
/// assert_eq!(dates.deprecated_from, midnight_utc(2022, 5, 4));
/// assert_eq!(dates.support_ends, midnight_utc(2022, 11, 4));
/// assert_eq!(dates.function_ends, midnight_utc(2023, 11, 4));
/// assert_eq!(lifecycle_dates(&Catalog::shipped(), Version::new(6, 2008, 60, 607)), None);
/// ```
pub fn lifecycle_dates(catalog: &Catalog, version: Version) -> Option<LifecycleDates> {
    if !release_policy_applies(version) {
        return None;
    }
    let successor = catalog
        .releases()
        .iter()
        .filter(|r| r.version > version)
        .min_by_key(|r| (r.released, r.version))?;
    Some(LifecycleDates {
        successor: successor.version,
        deprecated_from: successor.released,
        support_ends: add_months(successor.released, SUPPORT_MONTHS),
        function_ends: add_months(successor.released, FUNCTION_MONTHS),
    })
}

/// Where a release-policy version stands in its lifecycle at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// No newer version released yet, or a version the release policy does not govern.
    Current,
    Deprecated,
    OutOfSupport,
    Retired,
}

/// The phase of `version` at `now` under the release policy (a legacy version is `Current`
/// here: the legacy rule's dates are [`legacy_error_from`] and its neighbours).
pub fn phase(catalog: &Catalog, version: Version, now: DateTime<Utc>) -> Phase {
    match lifecycle_dates(catalog, version) {
        None => Phase::Current,
        Some(d) if now >= d.function_ends => Phase::Retired,
        Some(d) if now >= d.support_ends => Phase::OutOfSupport,
        Some(d) if now >= d.deprecated_from => Phase::Deprecated,
        Some(_) => Phase::Current,
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The status of one connector at `now`: the worst of its reasons.
///
/// ```
/// use intune_mock_lifecycle::{
///     catalog::midnight_utc, evaluate, Catalog, ConnectorFacts, FeatureSet, Product, ReasonCode,
///     Status, TenantFacts, Version,
/// };
///
/// let now = midnight_utc(2022, 11, 4);
/// let facts = ConnectorFacts {
///     version: Version::new(6, 2202, 38, 0),
///     product: Product::CertificateConnector,
///     features: FeatureSet::parse(&["pkcs"]).unwrap(),
///     import_key_thumbprint: None,
///     co_installed: vec![],
///     enrolled: midnight_utc(2022, 3, 10),
///     last_checkin: Some(now),
///     last_health: None,
/// };
/// let tenant = TenantFacts {
///     rollout_delay_days: 7,
///     import_key_thumbprint: None,
///     newest_connector_version: None,
/// };
/// let evaluation = evaluate(&facts, &tenant, &Catalog::shipped(), now);
/// assert_eq!(evaluation.status, Status::Error);
/// assert!(evaluation.codes().contains(&ReasonCode::VersionOutOfSupport));
/// assert_eq!(evaluation.function_ends, Some(midnight_utc(2023, 11, 4)));
/// ```
pub fn evaluate(
    facts: &ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Evaluation {
    let mut reasons = Vec::new();
    let dates = lifecycle_dates(catalog, facts.version).filter(|d| now >= d.deprecated_from);
    if let Some(d) = &dates {
        reasons.push(version_reason(facts.version, d, now));
    }
    product_reasons(facts, catalog, now, &mut reasons);
    presence_reasons(facts, now, &mut reasons);
    tenant_reasons(facts, tenant, &mut reasons);
    reasons.extend(auto_update_reason(facts.version, tenant, catalog, now));
    reasons.sort_by_key(|r| r.code);
    let status = reasons
        .iter()
        .map(|r| r.code.severity().status())
        .max()
        .unwrap_or(Status::Healthy);
    Evaluation {
        status,
        reasons,
        support_ends: dates.map(|d| d.support_ends),
        function_ends: dates.map(|d| d.function_ends),
    }
}

/// Deprecated, out of support or retired, once the successor of `version` is out (`now` is at
/// or after `d.deprecated_from`).
fn version_reason(version: Version, d: &LifecycleDates, now: DateTime<Utc>) -> Reason {
    let (code, since, until, message) = if now >= d.function_ends {
        (
            ReasonCode::VersionRetired,
            d.function_ends,
            None,
            format!(
                "Version {version} stopped functioning on {}, 18 months after {} was released; the service refuses its calls. Update the connector.",
                day(d.function_ends),
                d.successor
            ),
        )
    } else if now >= d.support_ends {
        (
            ReasonCode::VersionOutOfSupport,
            d.support_ends,
            Some(d.function_ends),
            format!(
                "Version {version} is out of support since {}; it keeps functioning until {}. Update the connector.",
                day(d.support_ends),
                day(d.function_ends)
            ),
        )
    } else {
        (
            ReasonCode::VersionDeprecated,
            d.deprecated_from,
            Some(d.support_ends),
            format!(
                "Version {version} is deprecated since {} was released on {}; support ends on {}.",
                d.successor,
                day(d.deprecated_from),
                day(d.support_ends)
            ),
        )
    };
    Reason {
        code,
        since: Some(since),
        until,
        message,
    }
}

/// A legacy version (Error from 2022-04-01), and a legacy product once it was replaced (a
/// warning from the release of 6.2109.51.0).
fn product_reasons(
    facts: &ConnectorFacts,
    catalog: &Catalog,
    now: DateTime<Utc>,
    reasons: &mut Vec<Reason>,
) {
    let version = facts.version;
    if version < LEGACY_THRESHOLD && now >= legacy_error_from() {
        reasons.push(Reason {
            code: ReasonCode::LegacyVersion,
            since: Some(legacy_error_from()),
            until: None,
            message: format!(
                "Version {version} is earlier than {LEGACY_THRESHOLD}: revocation is refused from 2022-08-01 and issuance from 2022-09-01."
            ),
        });
    }
    if facts.product.is_legacy() {
        if let Some(replaced) = catalog
            .release_date(PRODUCT_REPLACEMENT_VERSION)
            .filter(|d| now >= *d)
        {
            reasons.push(Reason {
                code: ReasonCode::ProductReplaced,
                since: Some(replaced),
                until: None,
                message: format!(
                    "The {} product is no longer supported since {PRODUCT_REPLACEMENT_VERSION} of the Certificate Connector was released on {}.",
                    facts.product.as_str(),
                    day(replaced)
                ),
            });
        }
    }
}

/// Inactive an hour after the last contact; failing health uploads while active.
fn presence_reasons(facts: &ConnectorFacts, now: DateTime<Utc>, reasons: &mut Vec<Reason>) {
    let last_contact = facts.last_checkin.unwrap_or(facts.enrolled);
    let inactive_from = last_contact + inactive_after();
    if now >= inactive_from {
        reasons.push(Reason {
            code: ReasonCode::Inactive,
            since: Some(inactive_from),
            until: None,
            message: format!(
                "No check-in for more than an hour; the last contact was at {}.",
                last_contact.to_rfc3339()
            ),
        });
    }
    // Only a connector that has uploaded health at all is judged (older tooling that checks in
    // through the API without health uploads is not flagged).
    if let Some(last_health) = facts.last_health {
        let failing_from = last_health + health_failing_after();
        if now >= failing_from && now < inactive_from {
            reasons.push(Reason {
                code: ReasonCode::HealthUploadFailing,
                since: Some(failing_from),
                until: None,
                message: format!(
                    "No health message since {} although the connector is active (one is due every 5 minutes).",
                    last_health.to_rfc3339()
                ),
            });
        }
    }
}

/// What the connector lacks next to its tenant and machine: the tenant's newest version, the
/// tenant's import key, a machine without the AD connector.
fn tenant_reasons(facts: &ConnectorFacts, tenant: &TenantFacts, reasons: &mut Vec<Reason>) {
    let version = facts.version;
    if let Some(newest) = tenant.newest_connector_version.filter(|n| *n > version) {
        reasons.push(Reason {
            code: ReasonCode::VersionSkew,
            since: None,
            until: None,
            message: format!("Version {version} is behind {newest}, which another connector of the tenant runs; all instances should be at the same version."),
        });
    }
    if facts.features.contains(Feature::PkcsImport) {
        if let Some(tenant_key) = &tenant.import_key_thumbprint {
            let holds = facts
                .import_key_thumbprint
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(tenant_key));
            if !holds {
                reasons.push(Reason {
                    code: ReasonCode::MissingImportKey,
                    since: None,
                    until: None,
                    message: format!("The connector has pkcs_import but does not hold the tenant's PFX-import key {tenant_key}."),
                });
            }
        }
    }
    if facts.co_installed.iter().any(|p| p == AD_CONNECTOR) {
        reasons.push(Reason {
            code: ReasonCode::CoInstalledWithAdConnector,
            since: None,
            until: None,
            message: "The Intune Connector for Active Directory is installed on the same machine; the certificate connector should not be.".to_owned(),
        });
    }
}

/// Still on `version` a week after a newer one became available to the tenant.
fn auto_update_reason(
    version: Version,
    tenant: &TenantFacts,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Option<Reason> {
    let available = catalog.first_newer_available(version, tenant.rollout_delay_days)?;
    let blocked_from = available + auto_update_grace();
    (now >= blocked_from).then(|| Reason {
        code: ReasonCode::AutoUpdateBlocked,
        since: Some(blocked_from),
        until: None,
        message: format!(
            "A newer version has been available to this tenant since {} but the connector still runs {version}.",
            available.to_rfc3339()
        ),
    })
}

/// Every instant at which `evaluate` may change its answer while the facts stay as they are.
pub fn boundaries(
    facts: &ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if let Some(d) = lifecycle_dates(catalog, facts.version) {
        out.extend([d.deprecated_from, d.support_ends, d.function_ends]);
    }
    if facts.version < LEGACY_THRESHOLD {
        out.push(legacy_error_from());
    }
    if facts.product.is_legacy() {
        out.extend(catalog.release_date(PRODUCT_REPLACEMENT_VERSION));
    }
    out.push(facts.last_checkin.unwrap_or(facts.enrolled) + inactive_after());
    if let Some(last_health) = facts.last_health {
        out.push(last_health + health_failing_after());
    }
    if let Some(available) = catalog.first_newer_available(facts.version, tenant.rollout_delay_days)
    {
        out.push(available + auto_update_grace());
    }
    out.sort();
    out.dedup();
    out
}

/// The status changes over `(from, to]`, each at its exact instant, plus the evaluation at `from`
/// first. The caller drops the first entry when it equals what it last recorded.
pub fn transitions(
    facts: &ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Evaluation)> {
    let mut out: Vec<(DateTime<Utc>, Evaluation)> =
        vec![(from, evaluate(facts, tenant, catalog, from))];
    for at in boundaries(facts, tenant, catalog)
        .into_iter()
        .filter(|b| *b > from && *b <= to)
    {
        let evaluation = evaluate(facts, tenant, catalog, at);
        let changed = out.last().is_none_or(|(_, prev)| {
            prev.status != evaluation.status || prev.codes() != evaluation.codes()
        });
        if changed {
            out.push((at, evaluation));
        }
    }
    out
}

/// What a connector call asks the service to do, for the version gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Checkin,
    Reconfigure,
    HealthUpload,
    /// PKCS create/recrypt, PKCS import, SCEP validation.
    Issue,
    /// Taking a revocation job.
    Revoke,
}

/// Why the service refuses a connector call (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConnectorVersionRetired,
    LegacyVersionCannotRevoke,
    LegacyVersionCannotIssue,
}

impl Refusal {
    /// The error code the service answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ConnectorVersionRetired => "ConnectorVersionRetired",
            Refusal::LegacyVersionCannotRevoke => "LegacyVersionCannotRevoke",
            Refusal::LegacyVersionCannotIssue => "LegacyVersionCannotIssue",
        }
    }
}

/// The version gates: a retired version may do nothing but uninstall; a legacy version (below
/// [`LEGACY_THRESHOLD`], which the release policy does not govern, so it never retires) loses
/// revocation from 2022-08-01 and issuance from 2022-09-01.
///
/// ```
/// use intune_mock_lifecycle::{catalog::midnight_utc, lifecycle::refusal, Catalog, Operation, Refusal, Version};
///
/// let legacy = Version::new(6, 2008, 60, 607);
/// let catalog = Catalog::shipped();
/// let second_before = midnight_utc(2022, 9, 1) - chrono::Duration::seconds(1);
/// assert_eq!(refusal(&catalog, legacy, Operation::Issue, second_before), None);
/// assert_eq!(
///     refusal(&catalog, legacy, Operation::Issue, midnight_utc(2022, 9, 1)),
///     Some(Refusal::LegacyVersionCannotIssue)
/// );
/// ```
pub fn refusal(
    catalog: &Catalog,
    version: Version,
    operation: Operation,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    if phase(catalog, version, now) == Phase::Retired {
        return Some(Refusal::ConnectorVersionRetired);
    }
    if version < LEGACY_THRESHOLD {
        match operation {
            Operation::Revoke if now >= legacy_no_revoke_from() => {
                return Some(Refusal::LegacyVersionCannotRevoke)
            }
            Operation::Issue if now >= legacy_no_issue_from() => {
                return Some(Refusal::LegacyVersionCannotIssue)
            }
            _ => {}
        }
    }
    None
}

/// Instants at which `refusal` may change for this version (for the scheduler).
pub fn refusal_boundaries(catalog: &Catalog, version: Version) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if let Some(d) = lifecycle_dates(catalog, version) {
        out.push(d.function_ends);
    }
    if version < LEGACY_THRESHOLD {
        out.extend([legacy_no_revoke_from(), legacy_no_issue_from()]);
    }
    out
}
