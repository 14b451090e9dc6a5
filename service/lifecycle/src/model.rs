//! An independent model of the lifecycle rules, and properties that the crate agrees with it.
//!
//! The model is written from the rule table of docs/behaviour.md ("Releases and the version
//! lifecycle", "Status and its reasons") alone, deliberately naive: versions compared as arrays,
//! months added by counting and stepping the day back until the date exists, every threshold
//! spelled out again here. It calls nothing of the crate's rules (no `add_months`, no
//! `lifecycle_dates`, no `Catalog::successor_date`, no severity table): it reads the catalog's
//! release list and uses the crate's types as vocabulary only.
//!
//! The generated cases are release histories (published releases on top of either shipped
//! catalog), connectors of every product and instants biased to the boundaries
//! (`strategies::instant_near`). `PROPTEST_CASES` sets how many (256 by default).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use proptest::prelude::*;

use crate::catalog::Catalog;
use crate::connector::{ConnectorFacts, Product, TenantFacts};
use crate::feature::Feature;
use crate::lifecycle::{evaluate, refusal, transitions, Operation, ReasonCode, Refusal, Status};
use crate::strategies::{self, History};

/// Midnight UTC of a literal day.
fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

/// `n` calendar months later: count the months, then step the day back until it exists.
fn months_later(t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
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

const THRESHOLD: [u32; 4] = [6, 2101, 13, 0];
const REPLACEMENT: [u32; 4] = [6, 2109, 51, 0];

/// Below 6.2101.13.0: the dated legacy rule instead of the 6/18-month rule.
fn is_legacy(v: [u32; 4]) -> bool {
    v < THRESHOLD
}

/// The release day of the earliest release among the higher versions.
fn successor_release(catalog: &Catalog, v: [u32; 4]) -> Option<DateTime<Utc>> {
    let mut best: Option<DateTime<Utc>> = None;
    for r in catalog.releases() {
        if r.version.parts() > v && best.is_none_or(|b| r.released < b) {
            best = Some(r.released);
        }
    }
    best
}

/// The status and the reason codes, in the table's order.
type Answer = (Status, Vec<ReasonCode>);

/// The model's answer.
fn model(
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
fn model_refusal(
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
fn model_marks(
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

/// One generated case: a history, a connector of a tenant, and two instants near its boundaries.
#[derive(Debug, Clone)]
struct Case {
    history: History,
    facts: ConnectorFacts,
    tenant: TenantFacts,
    a: DateTime<Utc>,
    b: DateTime<Utc>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        strategies::release_history(),
        strategies::connector(),
        strategies::rollout_delay_days(),
        proptest::option::of(strategies::version()),
    )
        .prop_flat_map(|(history, facts, delay, newest)| {
            let catalog = history.catalog();
            let near = strategies::instant_near(&catalog, facts.version);
            let tenant = TenantFacts {
                rollout_delay_days: delay,
                import_key_thumbprint: None,
                newest_connector_version: newest,
            };
            (Just(history), Just(facts), Just(tenant), near.clone(), near)
        })
        .prop_map(|(history, facts, tenant, a, b)| Case {
            history,
            facts,
            tenant,
            a,
            b,
        })
}

proptest! {
    #[test]
    fn evaluate_agrees_with_the_model(c in case()) {
        let catalog = c.history.catalog();
        for now in [c.a, c.b] {
            let e = evaluate(&c.facts, &c.tenant, &catalog, now);
            prop_assert_eq!((e.status, e.codes()), model(&c.facts, &c.tenant, &catalog, now), "at {}", now);
        }
    }

    #[test]
    fn refusals_agree_with_the_model(c in case()) {
        let catalog = c.history.catalog();
        for operation in [Operation::Checkin, Operation::Reconfigure, Operation::HealthUpload, Operation::Issue, Operation::Revoke] {
            prop_assert_eq!(
                refusal(&catalog, c.facts.version, operation, c.a),
                model_refusal(&catalog, &c.facts, operation, c.a),
                "{:?} at {}", operation, c.a
            );
        }
    }

    #[test]
    fn transitions_agree_with_the_model(c in case()) {
        let catalog = c.history.catalog();
        let (from, to) = if c.a <= c.b { (c.a, c.b) } else { (c.b, c.a) };
        let got: Vec<(DateTime<Utc>, Answer)> =
            transitions(&c.facts, &c.tenant, &catalog, from, to)
                .into_iter()
                .map(|(at, e)| (at, (e.status, e.codes())))
                .collect();
        let mut expected = vec![(from, model(&c.facts, &c.tenant, &catalog, from))];
        for mark in model_marks(&c.facts, &c.tenant, &catalog) {
            if mark > from && mark <= to {
                let now = model(&c.facts, &c.tenant, &catalog, mark);
                if expected.last().is_none_or(|(_, last)| *last != now) {
                    expected.push((mark, now));
                }
            }
        }
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn the_model_reads_the_docs_worked_example_and_the_legacy_dates_literally() {
    let catalog = Catalog::shipped();
    let facts = ConnectorFacts {
        version: crate::Version::new(6, 2202, 38, 0),
        product: Product::CertificateConnector,
        features: crate::FeatureSet::of(Feature::Pkcs),
        import_key_thumbprint: None,
        co_installed: vec![],
        enrolled: day(2022, 3, 10),
        last_checkin: Some(day(2030, 1, 1)),
        last_health: None,
    };
    let tenant = TenantFacts {
        rollout_delay_days: 7,
        import_key_thumbprint: None,
        newest_connector_version: None,
    };
    let second = Duration::seconds(1);
    let at = |t| model(&facts, &tenant, &catalog, t).1;
    assert_eq!(at(day(2022, 5, 4) - second), []);
    assert_eq!(at(day(2022, 5, 4)), [ReasonCode::VersionDeprecated]);
    assert_eq!(
        at(day(2022, 11, 4)),
        [
            ReasonCode::VersionOutOfSupport,
            ReasonCode::AutoUpdateBlocked
        ]
    );
    assert_eq!(
        at(day(2023, 11, 4)),
        [ReasonCode::VersionRetired, ReasonCode::AutoUpdateBlocked]
    );
    assert_eq!(months_later(day(2022, 8, 31), 6), day(2023, 2, 28));
    assert_eq!(months_later(day(2023, 8, 31), 6), day(2024, 2, 29));
}
