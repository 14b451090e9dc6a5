//! Generators for property tests (feature `proptest`): versions, release histories, instants biased
//! to the ones where the rules turn, and connector fleets, so that tooling built on top of the
//! lifecycle can be property-tested against the crate.
//!
//! Uniform instants almost never land on a boundary (one draw in 86,400 hits a given day's
//! midnight to the second), so [`instant_near`] draws mostly from the boundaries of a history:
//! each one, one second before and after, month ends and leap days.
//!
//! ```
//! use intune_mock_lifecycle::lifecycle::{phase, Phase};
//! use intune_mock_lifecycle::strategies::{instant_near, release_history, version};
//! use proptest::prelude::*;
//!
//! let cases = (release_history(), version()).prop_flat_map(|(history, v)| {
//!     let near = instant_near(&history.catalog(), v);
//!     (Just(history), Just(v), near)
//! });
//! proptest!(|((history, v, now) in cases)| {
//!     let catalog = history.catalog();
//!     // A retired version never comes back.
//!     if phase(&catalog, v, now) == Phase::Retired {
//!         let later = now + chrono::Duration::days(400);
//!         prop_assert_eq!(phase(&catalog, v, later), Phase::Retired);
//!     }
//! });
//! ```

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use proptest::prelude::*;

use crate::calendar::add_months;
use crate::catalog::{midnight_utc, Catalog, CatalogChoice, PRODUCT_REPLACEMENT_VERSION, SHIPPED};
use crate::connector::{ConnectorFacts, Product, TenantFacts, MAX_ROLLOUT_DELAY_DAYS};
use crate::feature::{Feature, FeatureSet};
use crate::lifecycle::{
    auto_update_grace, legacy_error_from, legacy_no_issue_from, legacy_no_revoke_from,
    FUNCTION_MONTHS, LEGACY_THRESHOLD, SUPPORT_MONTHS,
};
use crate::version::Version;

/// The first and last instants [`instant`] draws from: 2019-01-01 and 2031-01-01 (UTC).
pub const RANGE: (i64, i64) = (1_546_300_800, 1_924_992_000);

/// A release history: a shipped catalog and the releases published on top of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub choice: CatalogChoice,
    /// Published releases, in the order they were published (a higher version may come out
    /// before a lower one, and a release may be dated years after the shipped ones).
    pub published: Vec<(Version, DateTime<Utc>)>,
}

impl History {
    /// The catalog this history describes.
    pub fn catalog(&self) -> Catalog {
        Catalog::shipped_from(self.choice).with_published(self.published.iter().copied())
    }
}

/// Any instant in [`RANGE`], to the second.
pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (RANGE.0..RANGE.1).prop_map(|s| Utc.timestamp_opt(s, 0).single().unwrap_or_default())
}

/// Versions that matter to the rules: shipped ones, their neighbours, legacy ones (below
/// 6.2101.13.0, the threshold itself included) and arbitrary four-part versions.
pub fn version() -> impl Strategy<Value = Version> {
    let shipped: Vec<Version> = SHIPPED.iter().map(|e| e.version).collect();
    let neighbours: Vec<Version> = SHIPPED
        .iter()
        .flat_map(|e| {
            let [a, b, c, d] = e.version.parts();
            [
                Version::new(a, b, c, d.saturating_sub(1)),
                Version::new(a, b, c, d + 1),
            ]
        })
        .collect();
    prop_oneof![
        3 => proptest::sample::select(shipped),
        1 => proptest::sample::select(neighbours),
        2 => legacy_version(),
        1 => Just(LEGACY_THRESHOLD),
        2 => (6u32..7, 1900u32..2800, 0u32..300, 0u32..3000)
            .prop_map(|(a, b, c, d)| Version::new(a, b, c, d)),
    ]
}

/// A version below 6.2101.13.0: the legacy products' releases and the versions just below the
/// threshold.
pub fn legacy_version() -> impl Strategy<Value = Version> {
    prop_oneof![
        proptest::sample::select(vec![
            Version::new(6, 1904, 0, 401),
            Version::new(6, 1904, 1, 0),
            Version::new(6, 2008, 60, 607),
            Version::new(6, 2009, 2, 0),
            Version::new(6, 2101, 12, 9999),
        ]),
        (1900u32..2101, 0u32..100, 0u32..1000).prop_map(|(b, c, d)| Version::new(6, b, c, d)),
    ]
}

/// A release date: a shipped one, a month end, a leap day or any day of [`RANGE`], at midnight
/// or at an arbitrary second.
fn release_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        3 => instant().prop_map(|t| midnight_utc(t.year(), t.month(), t.day())),
        1 => instant(),
        1 => month_end(),
        1 => leap_day(),
    ]
}

/// Release histories: either shipped catalog with up to six releases published on top, dated
/// anywhere in [`RANGE`] (so some come out long after the versions around them, some before a
/// lower version).
pub fn release_history() -> impl Strategy<Value = History> {
    let choice = prop_oneof![Just(CatalogChoice::Extended), Just(CatalogChoice::Docs)];
    (
        choice,
        proptest::collection::vec((version(), release_instant()), 0..6),
    )
        .prop_map(|(choice, published)| History { choice, published })
}

/// A tenant's rollout delay in days: the default 7 most often, 0, a few weeks, or up to the
/// maximum.
pub fn rollout_delay_days() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(7u32),
        1 => Just(0u32),
        2 => 1u32..60,
        1 => 0u32..=MAX_ROLLOUT_DELAY_DAYS,
    ]
}

/// The last instant of a month in [`RANGE`] (23:59:59 of its last day) or its first (midnight).
pub fn month_end() -> impl Strategy<Value = DateTime<Utc>> {
    (2019i32..2031, 1u32..=12, any::<bool>()).prop_map(|(y, m, first)| {
        let next = add_months(midnight_utc(y, m, 1), 1);
        if first {
            next
        } else {
            next - Duration::seconds(1)
        }
    })
}

/// Midnight of a leap day (2020, 2024, 2028) or of the day after, give or take a second.
pub fn leap_day() -> impl Strategy<Value = DateTime<Utc>> {
    (
        proptest::sample::select(vec![2020, 2024, 2028]),
        any::<bool>(),
        -1i64..=1,
    )
        .prop_map(|(y, after, s)| {
            let day = if after {
                midnight_utc(y, 3, 1)
            } else {
                midnight_utc(y, 2, 29)
            };
            day + Duration::seconds(s)
        })
}

/// Every instant at which the version rules may turn for `version` in `catalog`: every
/// release's date, its 6- and 18-month marks and the first day a tenant sees it (0 to 60 days
/// later) plus the auto-update grace, the legacy dates and the legacy products' replacement.
pub fn boundaries(catalog: &Catalog, version: Version) -> Vec<DateTime<Utc>> {
    let mut out = vec![
        legacy_error_from(),
        legacy_no_revoke_from(),
        legacy_no_issue_from(),
    ];
    out.extend(catalog.release_date(PRODUCT_REPLACEMENT_VERSION));
    for r in catalog.releases() {
        out.push(r.released);
        out.push(add_months(r.released, SUPPORT_MONTHS));
        out.push(add_months(r.released, FUNCTION_MONTHS));
        out.push(r.released + Duration::days(7) + auto_update_grace());
    }
    if let Some(own) = catalog.release_date(version) {
        out.push(own);
    }
    out.sort();
    out.dedup();
    out
}

/// Instants biased to where the rules turn for `version` in `catalog`: one of [`boundaries`],
/// one second before or after it, a month end, a leap day, or any instant of [`RANGE`].
pub fn instant_near(catalog: &Catalog, version: Version) -> BoxedStrategy<DateTime<Utc>> {
    let marks = boundaries(catalog, version);
    let near =
        (proptest::sample::select(marks), -1i64..=1).prop_map(|(b, s)| b + Duration::seconds(s));
    prop_oneof![
        6 => near,
        1 => month_end(),
        1 => leap_day(),
        2 => instant(),
    ]
    .boxed()
}

/// A product: mostly the Certificate Connector, sometimes one of the two legacy products.
pub fn product() -> impl Strategy<Value = Product> {
    prop_oneof![
        4 => Just(Product::CertificateConnector),
        1 => Just(Product::PfxCertificateConnector),
        1 => Just(Product::IntuneConnector),
    ]
}

/// A non-empty feature set.
pub fn features() -> impl Strategy<Value = FeatureSet> {
    proptest::sample::subsequence(Feature::ALL.to_vec(), 1..=4)
        .prop_map(|fs| FeatureSet::from_features(fs).unwrap_or(FeatureSet::of(Feature::Pkcs)))
}

/// One connector's facts: a [`version`], a [`product`], enrolled and last seen somewhere in
/// [`RANGE`] (or never checked in), sometimes with a health upload.
pub fn connector() -> impl Strategy<Value = ConnectorFacts> {
    (
        version(),
        product(),
        features(),
        instant(),
        proptest::option::weighted(0.8, 0i64..(4 * 365 * 86_400)),
        proptest::option::weighted(0.5, 0i64..7_200),
        proptest::option::of(proptest::sample::select(vec![
            "intune-connector-for-active-directory",
            "ndes",
        ])),
    )
        .prop_map(|(version, product, features, enrolled, seen, health, co)| {
            let last_checkin = seen.map(|s| enrolled + Duration::seconds(s));
            ConnectorFacts {
                version,
                product,
                features,
                import_key_thumbprint: None,
                co_installed: co.map(|p| vec![p.to_owned()]).unwrap_or_default(),
                enrolled,
                last_checkin,
                last_health: health
                    .map(|h| last_checkin.unwrap_or(enrolled) - Duration::seconds(h)),
            }
        })
}

/// A tenant's fleet: up to `max` connectors and the tenant facts that follow from them (the
/// newest version among them, a [`rollout_delay_days`]).
pub fn fleet(max: usize) -> impl Strategy<Value = (TenantFacts, Vec<ConnectorFacts>)> {
    (
        rollout_delay_days(),
        proptest::collection::vec(connector(), 1..=max.max(1)),
    )
        .prop_map(|(rollout_delay_days, connectors)| {
            let tenant = TenantFacts {
                rollout_delay_days,
                import_key_thumbprint: None,
                newest_connector_version: connectors.iter().map(|c| c.version).max(),
            };
            (tenant, connectors)
        })
}
