//! PostgreSQL only: several replicas on one database.

use super::*;

/// Two stores (two pools, as two replicas), eight tasks leasing up to 7 jobs at a time from 2,000
/// jobs and completing them: every job is leased exactly once, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_lease_each_of_2000_jobs_exactly_once() {
    on_fresh_pg_database(|url| async move {
        let replicas = [
            Arc::new(pg_store(&url).await),
            Arc::new(pg_store(&url).await),
        ];
        let store: Arc<dyn Store> = replicas[0].clone();
        store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
        let jobs: Vec<JobRow> = (0..2000)
            .map(|n| job("tenant-a", &format!("j{n:04}"), "pkcs_create", T0))
            .collect();
        store.insert_jobs(&jobs).await.unwrap();

        let mut workers = Vec::new();
        for worker in 0..8 {
            let replica: Arc<dyn Store> = replicas[worker % 2].clone();
            workers.push(tokio::spawn(async move {
                let connector = format!("c{worker}");
                let mut leased = Vec::new();
                for round in 0.. {
                    let batch: Vec<String> =
                        (0..7).map(|i| format!("t{worker}-{round}-{i}")).collect();
                    let got = replica
                        .lease_jobs(&LeaseJobs {
                            tenant_id: &"tenant-a".into(),
                            connector_id: &connector.as_str().into(),
                            kinds: &[JobKind::PkcsCreate],
                            now_ms: T0,
                            lease_expires_ms: T0 + 60 * MINUTE,
                            token_hashes: &batch,
                            skip_missing_import_key: false,
                            issuer_name: None,
                        })
                        .await
                        .unwrap_or_else(|e| panic!("{connector}'s lease failed: {e:?}"));
                    // Nothing left that is not being leased by someone else right now.
                    if got.is_empty() {
                        break;
                    }
                    for job in got {
                        let token = job.lease_token_hash.clone().unwrap();
                        let completed = replica
                            .complete_job(&succeeded(&job.id, &token, T0 + 1))
                            .await
                            .unwrap();
                        assert!(
                            completed,
                            "{connector} lost job {} to another lease before completing it",
                            job.id
                        );
                        leased.push(job.id);
                    }
                }
                (worker % 2, leased)
            }));
        }

        let mut times_leased: BTreeMap<String, u32> = BTreeMap::new();
        let mut per_replica = [0usize; 2];
        for worker in workers {
            let (replica, leased) = worker.await.unwrap();
            per_replica[replica] += leased.len();
            for id in leased {
                *times_leased.entry(id.into_string()).or_default() += 1;
            }
        }
        let twice: Vec<&String> = times_leased
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(twice, Vec::<&String>::new(), "jobs leased more than once");
        assert_eq!(times_leased.len(), 2000, "jobs never leased");
        assert!(
            per_replica[0] > 0 && per_replica[1] > 0,
            "both replicas leased: {per_replica:?}"
        );
        assert_eq!(
            store
                .count_jobs(&"tenant-a".into(), None, Some(JobState::Succeeded))
                .await
                .unwrap(),
            2000
        );
        let attempts: BTreeSet<i64> = store
            .list_jobs(&"tenant-a".into(), None, None, -1, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.attempts)
            .collect();
        assert_eq!(attempts, BTreeSet::from([1]));
        for replica in replicas {
            replica.close().await;
        }
    })
    .await;
}

/// Thirty registrations racing through two stores into a tenant with a limit of 20, then ten
/// racing for one machine: exactly 20, then exactly one, get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_never_pass_the_connector_limit_or_share_a_machine() {
    on_fresh_pg_database(|url| async move {
        let replicas = [
            Arc::new(pg_store(&url).await),
            Arc::new(pg_store(&url).await),
        ];
        let store: Arc<dyn Store> = replicas[0].clone();
        store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
        store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();

        let race = |tenant_id: &'static str, machines: Vec<String>, limit: u32| {
            let handles: Vec<_> = machines
                .into_iter()
                .enumerate()
                .map(|(n, machine)| {
                    let replica: Arc<dyn Store> = replicas[n % 2].clone();
                    tokio::spawn(async move {
                        let c = connector(tenant_id, &format!("{tenant_id}-c{n}"), &machine, T0);
                        replica
                            .insert_connector(&c, &first_history(&c), limit)
                            .await
                    })
                })
                .collect();
            async move {
                let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
                for handle in handles {
                    let outcome = match handle.await.unwrap() {
                        Ok(()) => "stored".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    *outcomes.entry(outcome).or_default() += 1;
                }
                outcomes
            }
        };

        let limit_race = race(
            "tenant-a",
            (0..30).map(|n| format!("HOST-{n}")).collect(),
            20,
        )
        .await;
        assert_eq!(
            limit_race,
            BTreeMap::from([
                ("stored".to_owned(), 20),
                ("the tenant already has 20 connectors".to_owned(), 10),
            ])
        );
        assert_eq!(
            store
                .list_connectors(&"tenant-a".into())
                .await
                .unwrap()
                .len(),
            20
        );

        let machine_race = race(
            "tenant-b",
            (0..10)
                .map(|n| if n % 2 == 0 { "SRV-1" } else { "srv-1" }.to_owned())
                .collect(),
            100,
        )
        .await;
        assert_eq!(machine_race.get("stored"), Some(&1), "{machine_race:?}");
        let taken = machine_race
            .iter()
            .filter(|(outcome, _)| {
                outcome.starts_with("machine `")
                    && outcome.ends_with("` already has a connector in this tenant")
            })
            .map(|(_, n)| n)
            .sum::<u32>();
        assert_eq!(taken, 9, "{machine_race:?}");
        assert_eq!(
            store
                .list_connectors(&"tenant-b".into())
                .await
                .unwrap()
                .len(),
            1
        );
        for replica in replicas {
            replica.close().await;
        }
    })
    .await;
}

/// Two services on one PostgreSQL database: a connector registered through one leases, through
/// the other, the job enqueued through the first, and completes it there.
#[tokio::test]
async fn postgres_two_services_share_tenants_connectors_and_jobs() {
    use reqwest::Method;
    use serde_json::json;

    on_fresh_pg_database(|url| async move {
        let start = crate::support::at("2024-10-01T00:00:00Z");
        // Different seeds: the two replicas must not mint the same ids.
        let first = scenarios::harness::spawn_app_on(start, 21, &url).await.unwrap();
        let second = scenarios::harness::spawn_app_on(start, 22, &url).await.unwrap();
        let tenant = first.create_tenant("Contoso", None).await.unwrap();

        let registered = second
            .request(
                Method::POST,
                "/connector/v1/register",
                tenant.enrollment_secret.as_deref(),
                Some(&json!({"machineName": "SRV01", "displayName": "SRV01", "features": ["revocation"], "version": "6.2406.0.1001"})),
            )
            .await
            .unwrap();
        assert_eq!(registered.status, 201, "{}", registered.body);
        let credential = registered.body["credential"].as_str().unwrap().to_owned();
        let again = first
            .request(
                Method::POST,
                "/connector/v1/register",
                tenant.enrollment_secret.as_deref(),
                Some(&json!({"machineName": "srv01", "displayName": "again", "features": ["revocation"], "version": "6.2406.0.1001"})),
            )
            .await
            .unwrap();
        assert_eq!(again.status, 409, "{}", again.body);
        assert_eq!(again.error_code(), Some("MachineAlreadyHasConnector"));

        let enqueued = first
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/jobs", tenant.id),
                Some(&json!({"kind": "revoke", "payload": {"serialNumber": "01", "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}})),
            )
            .await
            .unwrap();
        assert_eq!(enqueued.status, 201, "{}", enqueued.body);
        let job_id = enqueued.body["value"][0]["id"].as_str().unwrap().to_owned();

        let leased = second
            .request(
                Method::POST,
                "/connector/v1/jobs/lease",
                Some(&credential),
                Some(&json!({"max": 10})),
            )
            .await
            .unwrap();
        assert_eq!(leased.status, 200, "{}", leased.body);
        assert_eq!(leased.body["jobs"].as_array().unwrap().len(), 1);
        assert_eq!(leased.body["jobs"][0]["attempt"], 1);
        let token = leased.body["jobs"][0]["leaseToken"].as_str().unwrap().to_owned();
        let none_left = first
            .request(
                Method::POST,
                "/connector/v1/jobs/lease",
                Some(&credential),
                Some(&json!({"max": 10})),
            )
            .await
            .unwrap();
        assert_eq!(none_left.body["jobs"], json!([]));

        let done = first
            .request(
                Method::POST,
                &format!("/connector/v1/jobs/{job_id}/complete"),
                Some(&credential),
                Some(&json!({"leaseToken": token, "outcome": "succeeded", "result": {"revoked": true}})),
            )
            .await
            .unwrap();
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(
            done.body,
            json!({"jobId": job_id, "attempt": 1, "outcome": "succeeded", "state": "succeeded"})
        );
        let job = second
            .admin_get(&format!("/admin/tenants/{}/jobs/{job_id}", tenant.id))
            .await
            .unwrap();
        assert_eq!(job.body["state"], "succeeded", "{}", job.body);
        first.stop().await;
        second.stop().await;
    })
    .await;
}
