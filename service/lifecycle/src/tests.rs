//! Unit and property tests of the domain rules. Expected dates and codes are written literally.

use chrono::{DateTime, Datelike, Duration, Utc};
use proptest::prelude::*;

use super::calendar::{add_months, IsoDuration};
use super::catalog::Catalog;
use super::connector::{ConnectorFacts, Product, TenantFacts};
use super::feature::FeatureSet;
use super::lifecycle::{evaluate, phase, refusal, transitions, Operation, Phase, Refusal, Status};
use super::strategies;
use super::version::Version;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn facts(version: &str, checked_in: DateTime<Utc>) -> ConnectorFacts {
    ConnectorFacts {
        version: v(version),
        product: Product::CertificateConnector,
        features: FeatureSet::parse(&["pkcs"]).unwrap(),
        import_key_thumbprint: None,
        co_installed: vec![],
        enrolled: at("2019-01-01T00:00:00Z"),
        last_checkin: Some(checked_in),
        last_health: None,
    }
}

fn tenant(newest: &str) -> TenantFacts {
    TenantFacts {
        rollout_delay_days: 7,
        import_key_thumbprint: None,
        newest_connector_version: Some(v(newest)),
    }
}

/// Status and reason codes of a connector that checked in at `now`.
fn status_at(version: &str, now: &str) -> (Status, Vec<&'static str>) {
    let now = at(now);
    let e = evaluate(
        &facts(version, now),
        &tenant(version),
        &Catalog::shipped(),
        now,
    );
    (
        e.status,
        e.reasons.iter().map(|r| r.code.as_str()).collect(),
    )
}

#[test]
fn the_docs_worked_example_walks_from_healthy_to_retired_on_the_literal_dates() {
    assert_eq!(
        status_at("6.2202.38.0", "2022-05-03T23:59:59Z"),
        (Status::Healthy, vec![])
    );
    assert_eq!(
        status_at("6.2202.38.0", "2022-05-04T00:00:00Z"),
        (Status::Warning, vec!["VersionDeprecated"])
    );
    assert_eq!(
        status_at("6.2202.38.0", "2022-11-03T23:59:59Z"),
        (
            Status::Warning,
            vec!["VersionDeprecated", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        status_at("6.2202.38.0", "2022-11-04T00:00:00Z"),
        (
            Status::Error,
            vec!["VersionOutOfSupport", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        status_at("6.2202.38.0", "2023-11-03T23:59:59Z"),
        (
            Status::Error,
            vec!["VersionOutOfSupport", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        status_at("6.2202.38.0", "2023-11-04T00:00:00Z"),
        (Status::Error, vec!["VersionRetired", "AutoUpdateBlocked"])
    );

    let now = at("2022-05-04T00:00:00Z");
    let e = evaluate(
        &facts("6.2202.38.0", now),
        &tenant("6.2202.38.0"),
        &Catalog::shipped(),
        now,
    );
    assert_eq!(e.reasons[0].since, Some(at("2022-05-04T00:00:00Z")));
    assert_eq!(e.reasons[0].until, Some(at("2022-11-04T00:00:00Z")));
    assert_eq!(e.support_ends, Some(at("2022-11-04T00:00:00Z")));
    assert_eq!(e.function_ends, Some(at("2023-11-04T00:00:00Z")));

    let catalog = Catalog::shipped();
    assert_eq!(
        refusal(
            &catalog,
            v("6.2202.38.0"),
            Operation::Checkin,
            at("2023-11-03T23:59:59Z")
        ),
        None
    );
    let refused = refusal(
        &catalog,
        v("6.2202.38.0"),
        Operation::Checkin,
        at("2023-11-04T00:00:00Z"),
    );
    assert_eq!(refused, Some(Refusal::ConnectorVersionRetired));
    assert_eq!(refused.map(|r| r.code()), Some("ConnectorVersionRetired"));
}

#[test]
fn the_legacy_rule_turns_on_in_april_august_and_september_2022() {
    let catalog = Catalog::shipped();
    let legacy = "6.2008.60.607";
    // At most a warning before April 2022: the 6/18-month rule does not apply below 6.2101.13.0.
    assert_eq!(
        status_at(legacy, "2022-03-31T23:59:59Z"),
        (Status::Warning, vec!["AutoUpdateBlocked"])
    );
    let april = status_at(legacy, "2022-04-01T00:00:00Z");
    assert_eq!(april.0, Status::Error);
    assert!(april.1.contains(&"LegacyVersion"));
    assert_eq!(
        refusal(
            &catalog,
            v(legacy),
            Operation::Revoke,
            at("2022-07-31T23:59:59Z")
        ),
        None
    );
    assert_eq!(
        refusal(
            &catalog,
            v(legacy),
            Operation::Revoke,
            at("2022-08-01T00:00:00Z")
        ),
        Some(Refusal::LegacyVersionCannotRevoke)
    );
    assert_eq!(
        refusal(
            &catalog,
            v(legacy),
            Operation::Issue,
            at("2022-08-31T23:59:59Z")
        ),
        None
    );
    assert_eq!(
        refusal(
            &catalog,
            v(legacy),
            Operation::Issue,
            at("2022-09-01T00:00:00Z")
        ),
        Some(Refusal::LegacyVersionCannotIssue)
    );
    assert_eq!(
        refusal(
            &catalog,
            v(legacy),
            Operation::Checkin,
            at("2022-09-01T00:00:00Z")
        ),
        None
    );
    assert!(!status_at("6.2101.13.0", "2022-06-01T00:00:00Z")
        .1
        .contains(&"LegacyVersion"));
    assert_eq!(
        refusal(
            &catalog,
            v("6.2101.13.0"),
            Operation::Issue,
            at("2022-09-01T00:00:00Z")
        ),
        None
    );
}

#[test]
fn legacy_products_are_replaced_from_the_release_of_6_2109_51_0() {
    let catalog = Catalog::shipped();
    let mut old = facts("6.2101.16.0", at("2021-09-23T00:00:00Z"));
    old.product = Product::PfxCertificateConnector;
    let codes = |now: &str| -> Vec<&'static str> {
        let now = at(now);
        let mut f = old.clone();
        f.last_checkin = Some(now);
        evaluate(&f, &tenant("6.2101.16.0"), &catalog, now)
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect()
    };
    assert!(!codes("2021-09-22T23:59:59Z").contains(&"ProductReplaced"));
    assert!(codes("2021-09-23T00:00:00Z").contains(&"ProductReplaced"));
}

#[test]
fn a_legacy_product_below_the_threshold_is_a_warning_until_april_2022_and_never_retires() {
    let catalog = Catalog::shipped();
    let mut old = facts("6.2008.60.607", at("2021-09-23T00:00:00Z"));
    old.product = Product::PfxCertificateConnector;
    let status = |now: &str| -> (Status, Vec<&'static str>) {
        let now = at(now);
        let mut f = old.clone();
        f.last_checkin = Some(now);
        let e = evaluate(&f, &tenant("6.2008.60.607"), &catalog, now);
        (
            e.status,
            e.reasons.iter().map(|r| r.code.as_str()).collect(),
        )
    };
    assert_eq!(
        status("2021-09-23T00:00:00Z"),
        (
            Status::Warning,
            vec!["ProductReplaced", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        status("2022-03-31T23:59:59Z"),
        (
            Status::Warning,
            vec!["ProductReplaced", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        status("2022-04-01T00:00:00Z"),
        (
            Status::Error,
            vec!["LegacyVersion", "ProductReplaced", "AutoUpdateBlocked"]
        )
    );
    // 18 months after 6.2107.45.0 (2021-07-29): the release policy would retire it; the docs'
    // dated rule governs it instead, which refuses revocation and issuance only.
    assert_eq!(
        status("2023-01-29T00:00:00Z"),
        (
            Status::Error,
            vec!["LegacyVersion", "ProductReplaced", "AutoUpdateBlocked"]
        )
    );
    assert_eq!(
        refusal(
            &catalog,
            v("6.2008.60.607"),
            Operation::Checkin,
            at("2023-01-29T00:00:00Z")
        ),
        None
    );
}

#[test]
fn calendar_months_clamp_to_the_last_day_of_a_shorter_month() {
    assert_eq!(
        add_months(at("2022-08-31T00:00:00Z"), 6),
        at("2023-02-28T00:00:00Z")
    );
    assert_eq!(
        add_months(at("2024-01-31T12:30:00Z"), 1),
        at("2024-02-29T12:30:00Z")
    );
    assert_eq!(
        add_months(at("2022-08-31T00:00:00Z"), 18),
        at("2024-02-29T00:00:00Z")
    );
    assert_eq!(
        add_months(at("2022-05-04T00:00:00Z"), 18),
        at("2023-11-04T00:00:00Z")
    );

    let catalog =
        Catalog::shipped().with_published([(v("6.2600.0.0"), at("2026-08-31T00:00:00Z"))]);
    let now = at("2026-09-01T00:00:00Z");
    let e = evaluate(
        &facts("6.2510.3.2002", now),
        &tenant("6.2510.3.2002"),
        &catalog,
        now,
    );
    assert_eq!(e.support_ends, Some(at("2027-02-28T00:00:00Z")));
    assert_eq!(e.function_ends, Some(at("2028-02-29T00:00:00Z")));
}

#[test]
fn iso_durations_split_into_months_and_milliseconds() {
    let d = |t: &str| IsoDuration::parse(t).map(|d| (d.months, d.millis));
    assert_eq!(d("P6M"), Ok((6, 0)));
    assert_eq!(d("P1Y6M"), Ok((18, 0)));
    assert_eq!(d("P3D"), Ok((0, 259_200_000)));
    assert_eq!(d("PT30S"), Ok((0, 30_000)));
    assert_eq!(d("PT0.5S"), Ok((0, 500)));
    assert_eq!(d("P1W"), Ok((0, 604_800_000)));
    assert_eq!(d("P1DT2H3M"), Ok((0, 93_780_000)));
    for bad in [
        "6M", "P", "PT", "P1.5M", "P6M6M", "P-1D", "6 months", "", "P1H", "PT1D", "P5",
    ] {
        assert!(IsoDuration::parse(bad).is_err(), "`{bad}` should not parse");
    }
}

#[test]
fn malformed_versions_are_refused_and_order_is_numeric() {
    for bad in [
        "6.22",
        "6.x.1.0",
        "6.2202.38",
        "6.2202.38.0.1",
        "",
        "6..1.0",
        "+6.1.1.1",
        " 6.1.1.1",
        "6.1.1.2147483648",
    ] {
        assert!(Version::parse(bad).is_err(), "`{bad}` should not parse");
    }
    assert!(v("6.2406.0.1001") < v("6.2406.0.2002"));
    assert!(v("6.9.0.0") < v("6.10.0.0"));
    assert_eq!(v("6.2406.0.1001").to_string(), "6.2406.0.1001");
}

#[test]
fn inactive_starts_exactly_one_hour_after_the_last_contact() {
    let catalog = Catalog::shipped();
    let mut f = facts("6.2510.3.2002", at("2026-06-01T10:00:00Z"));
    let codes = |f: &ConnectorFacts, now: &str| -> Vec<&'static str> {
        evaluate(f, &tenant("6.2510.3.2002"), &catalog, at(now))
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect()
    };
    assert_eq!(codes(&f, "2026-06-01T10:59:59Z"), Vec::<&str>::new());
    assert_eq!(codes(&f, "2026-06-01T11:00:00Z"), vec!["Inactive"]);
    f.last_checkin = None;
    f.enrolled = at("2026-06-01T08:00:00Z");
    assert_eq!(codes(&f, "2026-06-01T09:00:00Z"), vec!["Inactive"]);
}

#[test]
fn health_upload_failing_starts_15_minutes_after_the_last_upload_while_active() {
    let catalog = Catalog::shipped();
    let mut f = facts("6.2510.3.2002", at("2026-06-01T10:50:00Z"));
    f.last_health = Some(at("2026-06-01T10:00:00Z"));
    let codes = |f: &ConnectorFacts, now: &str| -> Vec<&'static str> {
        evaluate(f, &tenant("6.2510.3.2002"), &catalog, at(now))
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect()
    };
    assert_eq!(codes(&f, "2026-06-01T10:14:59Z"), Vec::<&str>::new());
    assert_eq!(
        codes(&f, "2026-06-01T10:15:00Z"),
        vec!["HealthUploadFailing"]
    );
    assert_eq!(
        codes(&f, "2026-06-01T11:49:59Z"),
        vec!["HealthUploadFailing"]
    );
    // Once it is inactive, Inactive says it all.
    assert_eq!(codes(&f, "2026-06-01T11:50:00Z"), vec!["Inactive"]);
    let eval = evaluate(
        &f,
        &tenant("6.2510.3.2002"),
        &catalog,
        at("2026-06-01T10:30:00Z"),
    );
    assert_eq!(eval.status, Status::Warning);
    assert_eq!(eval.reasons[0].since, Some(at("2026-06-01T10:15:00Z")));
    // A connector that never uploaded health is not judged on it.
    f.last_health = None;
    assert_eq!(codes(&f, "2026-06-01T11:00:00Z"), Vec::<&str>::new());
    let boundaries = crate::lifecycle::boundaries(
        &facts("6.2510.3.2002", at("2026-06-01T10:50:00Z")),
        &tenant("6.2510.3.2002"),
        &catalog,
    );
    assert!(!boundaries.contains(&at("2026-06-01T10:15:00Z")));
    f.last_health = Some(at("2026-06-01T10:00:00Z"));
    assert!(
        crate::lifecycle::boundaries(&f, &tenant("6.2510.3.2002"), &catalog)
            .contains(&at("2026-06-01T10:15:00Z"))
    );
}

#[test]
fn skew_import_key_and_co_install_warnings() {
    let catalog = Catalog::shipped();
    let now = at("2026-03-01T00:00:00Z");
    let base = facts("6.2510.3.2002", now);
    let codes = |f: &ConnectorFacts, t: &TenantFacts| -> Vec<&'static str> {
        evaluate(f, t, &catalog, now)
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect()
    };
    let mut skewed = tenant("6.2510.3.2002");
    skewed.newest_connector_version = Some(v("6.2600.0.0"));
    assert_eq!(codes(&base, &skewed), vec!["VersionSkew"]);

    let key = "ab".repeat(20);
    let mut with_key = tenant("6.2510.3.2002");
    with_key.import_key_thumbprint = Some(key.clone());
    let mut importer = base.clone();
    importer.features = FeatureSet::parse(&["pkcs_import"]).unwrap();
    assert_eq!(codes(&importer, &with_key), vec!["MissingImportKey"]);
    importer.import_key_thumbprint = Some(key.to_uppercase());
    assert_eq!(codes(&importer, &with_key), Vec::<&str>::new());
    assert_eq!(
        codes(&base, &with_key),
        Vec::<&str>::new(),
        "no pkcs_import, no warning"
    );

    let mut beside_ad = base.clone();
    beside_ad.co_installed = vec!["intune-connector-for-active-directory".into()];
    assert_eq!(
        codes(&beside_ad, &tenant("6.2510.3.2002")),
        vec!["CoInstalledWithAdConnector"]
    );
}

#[test]
fn transitions_land_on_the_exact_boundaries_of_the_docs_example() {
    let f = facts("6.2202.38.0", at("2030-01-01T00:00:00Z"));
    let got: Vec<(DateTime<Utc>, Vec<&'static str>)> = transitions(
        &f,
        &tenant("6.2202.38.0"),
        &Catalog::shipped(),
        at("2022-05-01T00:00:00Z"),
        at("2024-01-01T00:00:00Z"),
    )
    .into_iter()
    .map(|(t, e)| (t, e.reasons.iter().map(|r| r.code.as_str()).collect()))
    .collect();
    assert_eq!(
        got,
        vec![
            (at("2022-05-01T00:00:00Z"), vec![]),
            (at("2022-05-04T00:00:00Z"), vec!["VersionDeprecated"]),
            (
                at("2022-05-18T00:00:00Z"),
                vec!["VersionDeprecated", "AutoUpdateBlocked"]
            ),
            (
                at("2022-11-04T00:00:00Z"),
                vec!["VersionOutOfSupport", "AutoUpdateBlocked"]
            ),
            (
                at("2023-11-04T00:00:00Z"),
                vec!["VersionRetired", "AutoUpdateBlocked"]
            ),
        ]
    );
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    strategies::instant()
}

fn any_version() -> impl Strategy<Value = Version> {
    strategies::version()
}

/// A generated release history and one of its releases at or above 6.2101.13.0 (the release
/// policy's versions), with an instant from its release to just before its successor's.
fn release_before_its_successor() -> impl Strategy<Value = (Catalog, Version, DateTime<Utc>)> {
    strategies::release_history()
        .prop_flat_map(|history| {
            let catalog = history.catalog();
            let governed: Vec<Version> = catalog
                .releases()
                .iter()
                .map(|r| r.version)
                .filter(|v| *v >= Version::new(6, 2101, 13, 0))
                .collect();
            (Just(catalog), proptest::sample::select(governed))
        })
        .prop_flat_map(|(catalog, version)| {
            let released = catalog.release_date(version).unwrap_or_default();
            let next = catalog
                .releases()
                .iter()
                .filter(|r| r.version > version)
                .map(|r| r.released)
                .min()
                .unwrap_or(released + Duration::days(3650));
            let span = (next - released).num_seconds().max(1);
            let offset = prop_oneof![Just(0i64), Just(span - 1), 0..span];
            (
                Just(catalog),
                Just(version),
                offset.prop_map(move |s| released + Duration::seconds(s)),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn status_never_improves_as_time_passes(version in any_version(), a in instant(), b in instant()) {
        let (t1, t2) = if a <= b { (a, b) } else { (b, a) };
        let catalog = Catalog::shipped();
        let far = at("2040-01-01T00:00:00Z");
        let f = facts(&version.to_string(), far);
        let t = tenant(&version.to_string());
        prop_assert!(evaluate(&f, &t, &catalog, t1).status <= evaluate(&f, &t, &catalog, t2).status);
        prop_assert!(phase(&catalog, version, t1) <= phase(&catalog, version, t2));
    }

    #[test]
    fn the_newest_released_version_is_healthy_until_a_newer_one_comes_out((catalog, version, now) in release_before_its_successor()) {
        // Only a release that is the newest one out at `now` (a higher version may have been
        // released earlier: then this one is deprecated from its own release day).
        let newer_out = catalog.releases().iter().any(|r| r.version > version && r.released <= now);
        prop_assume!(!newer_out);
        let f = facts(&version.to_string(), now);
        let e = evaluate(&f, &tenant(&version.to_string()), &catalog, now);
        prop_assert_eq!(e.status, Status::Healthy, "{:?}", e.codes());
        prop_assert_eq!(phase(&catalog, version, now), Phase::Current);
    }

    #[test]
    fn version_order_is_numeric_part_by_part(a in proptest::array::uniform4(0u32..=i32::MAX as u32), b in proptest::array::uniform4(0u32..=i32::MAX as u32)) {
        let text = |p: [u32; 4]| format!("{}.{}.{}.{}", p[0], p[1], p[2], p[3]);
        let va = Version::parse(&text(a)).unwrap();
        let vb = Version::parse(&text(b)).unwrap();
        prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        prop_assert_eq!(Version::parse(&va.to_string()).unwrap(), va);
    }

    #[test]
    fn adding_months_is_monotonic_and_clamps_the_day(d1 in instant(), d2 in instant(), n1 in 0u32..240, n2 in 0u32..240) {
        let (lo, hi) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        prop_assert!(add_months(lo, n1) <= add_months(hi, n1));
        let (m1, m2) = if n1 <= n2 { (n1, n2) } else { (n2, n1) };
        prop_assert!(add_months(lo, m1) <= add_months(lo, m2));
        let result = add_months(lo, n1);
        let months = lo.year() * 12 + lo.month0() as i32 + n1 as i32;
        prop_assert_eq!(result.year() * 12 + result.month0() as i32, months);
        prop_assert!(result.day() == lo.day() || (result.day() < lo.day() && (result + Duration::days(1)).day() == 1));
        prop_assert_eq!(result.time(), lo.time());
    }

    #[test]
    fn transitions_are_ordered_changes_that_end_at_the_status_of_the_end(version in any_version(), a in instant(), b in instant()) {
        let (from, to) = if a <= b { (a, b) } else { (b, a) };
        let catalog = Catalog::shipped();
        let f = facts(&version.to_string(), at("2040-01-01T00:00:00Z"));
        let t = tenant(&version.to_string());
        let list = transitions(&f, &t, &catalog, from, to);
        prop_assert_eq!(list[0].0, from);
        for pair in list.windows(2) {
            prop_assert!(pair[0].0 < pair[1].0);
            prop_assert!(pair[0].1.status != pair[1].1.status || pair[0].1.codes() != pair[1].1.codes());
        }
        let end = evaluate(&f, &t, &catalog, to);
        let last = &list[list.len() - 1].1;
        prop_assert_eq!((last.status, last.codes()), (end.status, end.codes()));
    }

    #[test]
    fn in_a_fleet_exactly_the_connectors_behind_the_newest_show_version_skew((tenant, fleet) in strategies::fleet(8), now in instant()) {
        let catalog = Catalog::shipped();
        let newest = fleet.iter().map(|c| c.version).max();
        for c in &fleet {
            let e = evaluate(c, &tenant, &catalog, now);
            let skew = e.codes().contains(&super::lifecycle::ReasonCode::VersionSkew);
            prop_assert_eq!(skew, Some(c.version) < newest, "{} in {:?}", c.version, newest);
        }
    }
}
