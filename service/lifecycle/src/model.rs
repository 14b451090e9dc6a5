//! An independent model of the lifecycle rules, and properties that the crate agrees with it.
//!
//! The model itself is `model_rules.rs` (naive, written from the rule table alone; see there); the
//! integration tests include the same file for the service-level property.
//!
//! The generated cases are release histories (published releases on top of either shipped
//! catalog), connectors of every product and instants biased to the boundaries
//! (`strategies::instant_near`). `PROPTEST_CASES` sets how many (256 by default).

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use crate::catalog::Catalog;
use crate::connector::{ConnectorFacts, Product, TenantFacts};
use crate::feature::Feature;
use crate::lifecycle::{evaluate, refusal, transitions, Operation, ReasonCode};
use crate::model_rules::{day, model, model_marks, model_refusal, months_later, Answer};
use crate::strategies::{self, History};

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
