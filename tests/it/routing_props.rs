//! Property: under random connector sets (two tenants, random features), random crashes (leases
//! abandoned until they expire) and reconfigurations, every job ends completed exactly once or in
//! dead letter, and only ever by a connector of its own tenant that had the feature when it leased.
//!
//! Drives the service's operations in process (no HTTP) so a case costs milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use service::clock::Clock;
use service::domain::{FeatureSet, JobId, JobKind, JobState, TenantId, Version};
use service::ids::IdSource;
use service::ops::{
    Connector, Holder, Lease, NewConnector, NewJob, Ops, Reconfigure, Report, UserPfx,
};
use service::store::SqliteStore;

use crate::support::at;

const FEATURES: [&str; 4] = ["pkcs", "pkcs_import", "scep", "revocation"];

#[derive(Debug, Clone)]
enum Action {
    /// Connector `i` leases up to `max` and completes them (or crashes and abandons them).
    Work {
        connector: usize,
        max: u32,
        crash: bool,
    },
    /// Connector `i` changes its features.
    Reconfigure { connector: usize, features: u8 },
    /// Time passes (leases may expire).
    Advance { seconds: i64 },
}

fn feature_set(mask: u8) -> Vec<String> {
    let mut out: Vec<String> = FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, f)| f.to_string())
        .collect();
    if out.is_empty() {
        out.push("scep".into());
    }
    out
}

fn actions() -> impl Strategy<Value = Vec<Action>> {
    let action = prop_oneof![
        6 => (0usize..6, 1u32..20, proptest::bool::weighted(0.2)).prop_map(|(connector, max, crash)| Action::Work { connector, max, crash }),
        1 => (0usize..6, 0u8..16).prop_map(|(connector, features)| Action::Reconfigure { connector, features }),
        1 => (1i64..400).prop_map(|seconds| Action::Advance { seconds }),
    ];
    proptest::collection::vec(action, 1..60)
}

fn job(kind: JobKind) -> NewJob {
    // The queue stores the payload as given (shape validation lives at the HTTP edge); an
    // import job must name an uploaded PFX of its tenant, which `run_case` uploads as `pfx-1`.
    let payload = match kind {
        JobKind::PkcsImport => r#"{"userPfxCertificateId":"pfx-1"}"#,
        _ => "{}",
    };
    NewJob {
        kind,
        payload: payload.to_owned(),
    }
}

fn user_pfx(tenant_id: &TenantId) -> UserPfx {
    UserPfx {
        tenant_id: tenant_id.clone(),
        id: "pfx-1".into(),
        user_principal_name: "user@contoso.com".into(),
        thumbprint: "00".into(),
        intended_purpose: "smimeEncryption".into(),
        padding_scheme: "oaepSha512".into(),
        provider_name: "Microsoft Software Key Storage Provider".into(),
        key_name: "PfxImportKey".into(),
        encrypted_pfx_blob: "AA==".into(),
        encrypted_pfx_password: "AA==".into(),
        start: None,
        expiration: None,
        created: DateTime::<Utc>::UNIX_EPOCH,
        modified: DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// Connector `i` leases up to `max` jobs; returns (job id, holder, kind, token) for each.
async fn work(
    ops: &Ops,
    connectors: &[Connector],
    i: usize,
    max: u32,
    crash: bool,
) -> (Vec<(String, Connector, JobKind, String)>, bool) {
    let connector = connectors[i % connectors.len()].clone();
    let lease = Lease {
        kinds: None,
        max,
        visibility_seconds: 60,
    };
    let leased = ops.jobs().lease(&connector, lease).await.unwrap();
    let done = leased
        .into_iter()
        .map(|leased| {
            (
                leased.job.id.to_string(),
                connector.clone(),
                leased.job.kind,
                leased.token,
            )
        })
        .collect();
    (done, crash)
}

async fn run_case(
    masks: Vec<u8>,
    jobs_per_tenant: Vec<(u8, u8)>,
    steps: Vec<Action>,
) -> Result<(), TestCaseError> {
    let store = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
    let clock = Arc::new(Clock::virtual_at(at("2024-10-01T00:00:00Z")));
    let ops = Ops::new(store, clock.clone(), Arc::new(IdSource::seeded(5)));
    let tenants = [
        ops.tenants().create("A", None).await.unwrap().tenant,
        ops.tenants().create("B", None).await.unwrap().tenant,
    ];

    let mut connectors: Vec<Connector> = Vec::new();
    for (i, mask) in masks.iter().enumerate() {
        let tenant = &tenants[i % 2];
        let new = NewConnector {
            machine_name: format!("SRV{i}"),
            display_name: format!("SRV{i}"),
            features: FeatureSet::parse(&feature_set(*mask)).unwrap(),
            version: Version::parse("6.2406.0.1001").unwrap(),
            product: service::domain::Product::CertificateConnector,
            service_account: "SYSTEM".into(),
            co_installed: vec![],
            auto_update: true,
            proxy: None,
            import_key_thumbprint: None,
        };
        connectors.push(
            ops.connectors()
                .register(tenant, new)
                .await
                .unwrap()
                .connector,
        );
    }
    let mut job_tenant: BTreeMap<String, usize> = BTreeMap::new();
    for (t, (pkcs, revoke)) in jobs_per_tenant.iter().enumerate() {
        let mut batch: Vec<NewJob> = (0..*pkcs).map(|_| job(JobKind::PkcsCreate)).collect();
        batch.extend((0..*revoke).map(|_| job(JobKind::Revoke)));
        batch.push(job(JobKind::PkcsImport));
        ops.pfx().import(user_pfx(&tenants[t].id)).await.unwrap();
        for job in ops.jobs().enqueue(&tenants[t].id, batch).await.unwrap() {
            job_tenant.insert(job.id.into_string(), t);
        }
    }

    let mut completed: BTreeSet<String> = BTreeSet::new();
    for step in steps {
        match step {
            Action::Work {
                connector,
                max,
                crash,
            } => {
                let (leased, crash) = work(&ops, &connectors, connector, max, crash).await;
                for (job_id, holder, kind, token) in leased {
                    let features: Vec<String> = holder.facts.features.to_strings();
                    prop_assert!(
                        features.contains(&kind.feature().as_str().to_owned()),
                        "{} leased by a connector without {}",
                        job_id,
                        kind.feature()
                    );
                    let tenant_index = tenants
                        .iter()
                        .position(|t| t.id == holder.tenant_id)
                        .unwrap();
                    prop_assert_eq!(
                        job_tenant[&job_id],
                        tenant_index,
                        "job leased across tenants"
                    );
                    prop_assert!(
                        !completed.contains(&job_id),
                        "a completed job was leased again"
                    );
                    if crash {
                        continue;
                    }
                    let answer = ops
                        .jobs()
                        .complete(
                            &Holder::connector(&holder),
                            &JobId::from(job_id.as_str()),
                            &token,
                            &Report::Succeeded {
                                result: "{}".into(),
                            },
                        )
                        .await;
                    prop_assert!(answer.is_ok(), "completion refused: {:?}", answer);
                    prop_assert!(completed.insert(job_id.clone()), "completed twice");
                }
            }
            Action::Reconfigure {
                connector,
                features,
            } => {
                let index = connector % connectors.len();
                let change = Reconfigure {
                    features: Some(FeatureSet::parse(&feature_set(features)).unwrap()),
                    ..Reconfigure::default()
                };
                connectors[index] = ops
                    .connectors()
                    .reconfigure(&connectors[index], change)
                    .await
                    .unwrap();
            }
            Action::Advance { seconds } => {
                clock.set(clock.now() + Duration::seconds(seconds)).unwrap();
            }
        }
    }
    // Drain: every connector of each tenant gets every feature and works until the queues empty.
    clock.set(clock.now() + Duration::hours(1)).unwrap();
    for connector in connectors.iter_mut() {
        let change = Reconfigure {
            features: Some(FeatureSet::parse(&feature_set(0b1111)).unwrap()),
            ..Reconfigure::default()
        };
        *connector = ops
            .connectors()
            .reconfigure(connector, change)
            .await
            .unwrap();
    }
    for _ in 0..50 {
        let mut any = false;
        for i in 0..connectors.len() {
            let (leased, _) = work(&ops, &connectors, i, 100, false).await;
            for (job_id, holder, _, token) in leased {
                any = true;
                prop_assert_eq!(
                    job_tenant[&job_id],
                    tenants
                        .iter()
                        .position(|t| t.id == holder.tenant_id)
                        .unwrap()
                );
                ops.jobs()
                    .complete(
                        &Holder::connector(&holder),
                        &JobId::from(job_id.as_str()),
                        &token,
                        &Report::Succeeded {
                            result: "{}".into(),
                        },
                    )
                    .await
                    .unwrap();
                prop_assert!(completed.insert(job_id.clone()), "completed twice");
            }
        }
        if !any {
            break;
        }
    }
    for (t, tenant) in tenants.iter().enumerate() {
        let (jobs, _) = ops
            .jobs()
            .list(&tenant.id, None, None, 1000, 0)
            .await
            .unwrap();
        for row in jobs {
            let id = row.id.as_str();
            prop_assert_eq!(job_tenant[id], t);
            let ended_well = (row.state == JobState::Succeeded && completed.contains(id))
                || row.state == JobState::DeadLetter;
            prop_assert!(
                ended_well,
                "job {} ended {} (completed: {})",
                row.id,
                row.state,
                completed.contains(id)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_job_is_handled_once_by_a_capable_connector_of_its_tenant(
        masks in proptest::collection::vec(0u8..16, 2..6),
        jobs in proptest::collection::vec((0u8..30, 0u8..10), 2..=2),
        steps in actions(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(masks, jobs, steps))?;
    }
}
