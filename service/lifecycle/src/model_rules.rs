//! The naive model of the lifecycle rules, on its own so that two test suites can include it:
//! the crate's model properties (`model.rs`) and the service-level property of the integration
//! tests (`tests/it/service_props.rs`, through `#[path]`).
//!
//! Written from the rule table of docs/behaviour.md ("Releases and the version lifecycle",
//! "Status and its reasons") alone: versions compared as arrays, months added by counting and
//! stepping the day back until the date exists, every threshold spelled out again. It calls none
//! of the crate's rules (no `add_months`, no `lifecycle_dates`, no `Catalog::successor_date`, no
//! severity table); it reads the catalog's release list and uses the crate's types as vocabulary
//! only. Paths go through `intune_mock_lifecycle::` so the file compiles inside the crate (which
//! names itself so under `cfg(test)`) and in a crate that depends on it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use intune_mock_lifecycle::catalog::Catalog;
use intune_mock_lifecycle::connector::{ConnectorFacts, Product, TenantFacts};
use intune_mock_lifecycle::feature::Feature;
use intune_mock_lifecycle::lifecycle::{Operation, ReasonCode, Refusal, Status};

/// Midnight UTC of a literal day.
pub(crate) fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

/// `n` calendar months later: count the months, then step the day back until it exists.
pub(crate) fn months_later(t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    let mut year = t.year();
    let mut month = t.month() + n;
    while month > 12 {
        month -= 12;
        year += 1;
    }
    let mut d = t.day();
    loop {
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, d) {
            return date.and_time(t.time()).and_utc();
        }
        d -= 1;
    }
}

pub(crate) const THRESHOLD: [u32; 4] = [6, 2101, 13, 0];
pub(crate) const REPLACEMENT: [u32; 4] = [6, 2109, 51, 0];

/// Below 6.2101.13.0: the dated legacy rule instead of the 6/18-month rule.
pub(crate) fn is_legacy(v: [u32; 4]) -> bool {
    v < THRESHOLD
}

/// The release day of the earliest release among the higher versions.
pub(crate) fn successor_release(catalog: &Catalog, v: [u32; 4]) -> Option<DateTime<Utc>> {
    let mut best: Option<DateTime<Utc>> = None;
    for r in catalog.releases() {
        if r.version.parts() > v && best.is_none_or(|b| r.released < b) {
            best = Some(r.released);
        }
    }
    best
}

/// The status and the reason codes, in the table's order.
pub(crate) type Answer = (Status, Vec<ReasonCode>);

/// The model's answer.
pub(crate) fn model(
    facts: &ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Answer {
    let v = facts.version.parts();
    let successor = successor_release(catalog, v);
    // (code, is it an error?)
    let mut found: Vec<(ReasonCode, bool)> = Vec::new();
    if let Some(s) = successor.filter(|_| !is_legacy(v)) {
        if now >= months_later(s, 18) {
            found.push((ReasonCode::VersionRetired, true));
        } else if now >= months_later(s, 6) {
            found.push((ReasonCode::VersionOutOfSupport, true));
        } else if now >= s {
            found.push((ReasonCode::VersionDeprecated, false));
        }
    }
    if is_legacy(v) && now >= day(2022, 4, 1) {
        found.push((ReasonCode::LegacyVersion, true));
    }
    if facts.product != Product::CertificateConnector {
        let replaced = catalog
            .releases()
            .iter()
            .find(|r| r.version.parts() == REPLACEMENT);
        if replaced.is_some_and(|r| now >= r.released) {
            found.push((ReasonCode::ProductReplaced, false));
        }
    }
    let contact = facts.last_checkin.unwrap_or(facts.enrolled);
    let inactive = now >= contact + Duration::seconds(3600);
    if inactive {
        found.push((ReasonCode::Inactive, false));
    }
    if let Some(h) = facts.last_health {
        if !inactive && now >= h + Duration::seconds(900) {
            found.push((ReasonCode::HealthUploadFailing, false));
        }
    }
    if tenant
        .newest_connector_version
        .is_some_and(|n| n.parts() > v)
    {
        found.push((ReasonCode::VersionSkew, false));
    }
    if let Some(key) = &tenant.import_key_thumbprint {
        let holds = facts
            .import_key_thumbprint
            .as_ref()
            .is_some_and(|k| k.to_lowercase() == key.to_lowercase());
        if facts.features.contains(Feature::PkcsImport) && !holds {
            found.push((ReasonCode::MissingImportKey, false));
        }
    }
    if facts
        .co_installed
        .iter()
        .any(|p| p == "intune-connector-for-active-directory")
    {
        found.push((ReasonCode::CoInstalledWithAdConnector, false));
    }
    if let Some(s) = successor {
        let days = tenant.rollout_delay_days as i64 + 7;
        if now >= s + Duration::seconds(days * 86_400) {
            found.push((ReasonCode::AutoUpdateBlocked, false));
        }
    }
    found.sort_by_key(|(code, _)| *code);
    let status = if found.iter().any(|(_, error)| *error) {
        Status::Error
    } else if found.is_empty() {
        Status::Healthy
    } else {
        Status::Warning
    };
    (status, found.into_iter().map(|(code, _)| code).collect())
}

/// The model's answer to a connector call.
pub(crate) fn model_refusal(
    catalog: &Catalog,
    facts: &ConnectorFacts,
    operation: Operation,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let v = facts.version.parts();
    if is_legacy(v) {
        return match operation {
            Operation::Revoke if now >= day(2022, 8, 1) => Some(Refusal::LegacyVersionCannotRevoke),
            Operation::Issue if now >= day(2022, 9, 1) => Some(Refusal::LegacyVersionCannotIssue),
            _ => None,
        };
    }
    let retired = successor_release(catalog, v).is_some_and(|s| now >= months_later(s, 18));
    retired.then_some(Refusal::ConnectorVersionRetired)
}

/// Where the model's answer may change while the facts stay: each rule's start, listed again.
pub(crate) fn model_marks(
    facts: &ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
) -> Vec<DateTime<Utc>> {
    let v = facts.version.parts();
    let mut out = vec![day(2022, 4, 1)];
    if let Some(s) = successor_release(catalog, v) {
        out.extend([s, months_later(s, 6), months_later(s, 18)]);
        out.push(s + Duration::days(tenant.rollout_delay_days as i64 + 7));
    }
    for r in catalog.releases() {
        if r.version.parts() == REPLACEMENT {
            out.push(r.released);
        }
    }
    let contact = facts.last_checkin.unwrap_or(facts.enrolled);
    out.push(contact + Duration::hours(1));
    if let Some(h) = facts.last_health {
        out.push(h + Duration::minutes(15));
    }
    out.sort();
    out.dedup();
    out
}
