//! The queue: listing and counting, leases, and leases that run out.

use super::*;

pub(super) async fn jobs_are_listed_and_counted_in_enqueue_order_with_filters(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let failed = JobRow {
        state: JobState::Failed,
        error_code: Some("CaRefused".into()),
        error_message: Some("the CA refused the request".into()),
        completed_ms: Some(T0 + 9),
        ..job("tenant-a", "j-5", "pkcs_import", T0 + 3)
    };
    // Enqueue order is the order of the batch, not of ids or instants.
    store
        .insert_jobs(&[
            JobRow {
                payload: r#"{"subject":"CN=device-0001"}"#.into(),
                ..job("tenant-a", "j-3", "pkcs_create", T0 + 5)
            },
            job("tenant-a", "j-1", "revoke", T0),
            job("tenant-a", "j-2", "pkcs_create", T0),
            failed.clone(),
        ])
        .await
        .unwrap();
    store
        .insert_jobs(&[job("tenant-b", "j-b", "pkcs_create", T0)])
        .await
        .unwrap();

    let list = |kind: Option<&'static str>, state: Option<&'static str>, limit, offset| {
        let store = store.clone();
        async move {
            store
                .list_jobs(
                    &"tenant-a".into(),
                    kind.map(|k| JobKind::parse(k).expect("a job kind")),
                    state.map(|s| JobState::parse(s).expect("a job state")),
                    limit,
                    offset,
                )
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id.into_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, None, 100, 0).await, ["j-3", "j-1", "j-2", "j-5"]);
    assert_eq!(
        list(Some("pkcs_create"), None, 100, 0).await,
        ["j-3", "j-2"]
    );
    assert_eq!(
        list(None, Some("queued"), 100, 0).await,
        ["j-3", "j-1", "j-2"]
    );
    assert_eq!(
        list(Some("pkcs_import"), Some("failed"), 100, 0).await,
        ["j-5"]
    );
    assert_eq!(
        list(Some("revoke"), Some("failed"), 100, 0).await,
        Vec::<String>::new()
    );
    assert_eq!(list(None, None, 2, 1).await, ["j-1", "j-2"]);
    assert_eq!(list(None, None, 100, 4).await, Vec::<String>::new());
    // As SQLite reads them: a negative limit is no limit, a negative offset is none.
    assert_eq!(list(None, None, -1, 2).await, ["j-2", "j-5"]);
    assert_eq!(list(None, None, 1, -3).await, ["j-3"]);

    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), None, None)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), Some(JobKind::PkcsCreate), None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), None, Some(JobState::Failed))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_jobs(
                &"tenant-a".into(),
                Some(JobKind::Revoke),
                Some(JobState::Queued)
            )
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-b".into(), None, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-x".into(), None, None)
            .await
            .unwrap(),
        0
    );

    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j-3".into())
            .await
            .unwrap(),
        JobRow {
            id: "j-3".into(),
            tenant_id: "tenant-a".into(),
            kind: JobKind::PkcsCreate,
            state: JobState::Queued,
            payload: r#"{"subject":"CN=device-0001"}"#.into(),
            attempts: 0,
            max_attempts: 5,
            visible_ms: 1_700_000_000_005,
            lease_token_hash: None,
            lease_connector_id: None,
            lease_expires_ms: None,
            result: None,
            error_code: None,
            error_message: None,
            created_ms: 1_700_000_000_005,
            completed_ms: None,
        }
    );
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j-5".into())
            .await
            .unwrap(),
        failed
    );
    assert_not_found(store.get_job(&"tenant-b".into(), &"j-1".into()).await);
    assert_eq!(store.job_attempts(&"j-1".into()).await.unwrap(), vec![]);

    // A batch with an id already used is refused as a whole.
    assert_conflict(
        store
            .insert_jobs(&[
                job("tenant-a", "j-6", "revoke", T0),
                job("tenant-a", "j-1", "revoke", T0),
            ])
            .await,
    );
    assert_not_found(store.get_job(&"tenant-a".into(), &"j-6".into()).await);
    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), None, None)
            .await
            .unwrap(),
        4
    );
}

pub(super) async fn a_lease_takes_ready_jobs_of_its_kinds_oldest_first_up_to_its_max(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    store
        .insert_jobs(&[job("tenant-b", "j-b", "pkcs_create", T0)])
        .await
        .unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "revoke", T0),
            job("tenant-a", "j3", "pkcs_import", T0),
            // Not visible before T0 + 1 minute (a backoff, say).
            JobRow {
                visible_ms: T0 + MINUTE,
                ..job("tenant-a", "j4", "pkcs_create", T0)
            },
            job("tenant-a", "j5", "pkcs_create", T0),
        ])
        .await
        .unwrap();
    let now = T0 + 1000;
    let kinds = ["pkcs_create", "revoke"];

    let first = lease(
        &store,
        "tenant-a",
        "c1",
        &kinds,
        now,
        &tokens(&["t1", "t2"]),
    )
    .await;
    assert_eq!(
        first[0],
        JobRow {
            id: "j1".into(),
            tenant_id: "tenant-a".into(),
            kind: JobKind::PkcsCreate,
            state: JobState::Leased,
            payload: "{}".into(),
            attempts: 1,
            max_attempts: 5,
            visible_ms: 1_700_000_000_000,
            lease_token_hash: Some("t1".into()),
            lease_connector_id: Some("c1".into()),
            lease_expires_ms: Some(1_700_000_301_000),
            result: None,
            error_code: None,
            error_message: None,
            created_ms: 1_700_000_000_000,
            completed_ms: None,
        }
    );
    assert_eq!(ids(&first), ["j1", "j2"]);
    assert_eq!(first[1].lease_token_hash.as_deref(), Some("t2"));
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j2".into())
            .await
            .unwrap(),
        first[1]
    );

    // The rest: j4 is not visible yet, j3 is another kind, j-b another tenant's.
    let second = lease(
        &store,
        "tenant-a",
        "c2",
        &kinds,
        now,
        &tokens(&["t3", "t4", "t5"]),
    )
    .await;
    assert_eq!(ids(&second), ["j5"]);
    assert_eq!(second[0].lease_token_hash.as_deref(), Some("t3"));
    assert_eq!(
        second[0]
            .lease_connector_id
            .as_ref()
            .map(ConnectorId::as_str),
        Some("c2")
    );
    assert_eq!(
        lease(&store, "tenant-a", "c2", &kinds, now, &tokens(&["t6"])).await,
        vec![]
    );

    assert_eq!(
        store.job_attempts(&"j1".into()).await.unwrap(),
        vec![AttemptRow {
            job_id: "j1".into(),
            attempt: 1,
            connector_id: "c1".into(),
            lease_token_hash: "t1".into(),
            leased_ms: 1_700_000_001_000,
            outcome: None,
            error_code: None,
            ended_ms: None,
        }]
    );
    assert_eq!(
        store.attempt_by_token(&"j5".into(), "t3").await.unwrap(),
        AttemptRow {
            job_id: "j5".into(),
            attempt: 1,
            connector_id: "c2".into(),
            lease_token_hash: "t3".into(),
            leased_ms: 1_700_000_001_000,
            outcome: None,
            error_code: None,
            ended_ms: None,
        }
    );
    assert_not_found(store.attempt_by_token(&"j5".into(), "t4").await);
    // A token finds only the attempt of the job it was issued for.
    assert_not_found(store.attempt_by_token(&"j4".into(), "t3").await);

    // j4 from the instant it is visible.
    let later = lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0 + MINUTE,
        &tokens(&["t7"]),
    )
    .await;
    assert_eq!(ids(&later), ["j4"]);

    // No kinds, or no tokens: nothing.
    assert_eq!(
        lease(&store, "tenant-a", "c1", &[], now, &tokens(&["t8"])).await,
        vec![]
    );
    assert_eq!(
        lease(&store, "tenant-a", "c1", &["pkcs_import"], now, &[]).await,
        vec![]
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), None, Some(JobState::Leased))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .get_job(&"tenant-b".into(), &"j-b".into())
            .await
            .unwrap()
            .state
            .as_str(),
        "queued"
    );
}

pub(super) async fn a_lease_passes_over_jobs_handed_back_for_the_import_key_and_filters_by_issuer(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[job("tenant-a", "imp", "pkcs_import", T0)])
        .await
        .unwrap();
    let leased = lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_import"],
        T0,
        &tokens(&["t1"]),
    )
    .await;
    assert_eq!(ids(&leased), ["imp"]);
    // c1 lacks the tenant's import key and hands the job back.
    let handed_back = store
        .complete_job(&Completion {
            job_id: &"imp".into(),
            token_hash: "t1",
            now_ms: T0 + 1,
            new_state: JobState::Queued,
            attempt_outcome: Outcome::Retry,
            visible_ms: T0 + 1,
            result: None,
            error_code: Some("MissingImportKey"),
            error_message: Some("the connector does not hold the tenant's import key"),
        })
        .await
        .unwrap();
    assert!(handed_back);

    let skipping = |connector_id: &'static str, token: &'static str| {
        let store = store.clone();
        async move {
            store
                .lease_jobs(&LeaseJobs {
                    tenant_id: &"tenant-a".into(),
                    connector_id: &connector_id.into(),
                    kinds: &[JobKind::PkcsImport],
                    now_ms: T0 + 2,
                    lease_expires_ms: T0 + 5 * MINUTE,
                    token_hashes: &[token.to_owned()],
                    skip_missing_import_key: true,
                    issuer_name: None,
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(skipping("c1", "t2").await, vec![]);
    let other = skipping("c2", "t3").await;
    assert_eq!(ids(&other), ["imp"]);
    assert_eq!(other[0].attempts, 2);

    store
        .insert_jobs(&[
            JobRow {
                payload: r#"{"serialNumber":"01","issuerName":"CN=Contoso Root"}"#.into(),
                ..job("tenant-a", "r1", "revoke", T0)
            },
            JobRow {
                payload: r#"{"serialNumber":"02","issuerName":"CN=Fabrikam"}"#.into(),
                ..job("tenant-a", "r2", "revoke", T0)
            },
            JobRow {
                payload: r#"{"serialNumber":"03"}"#.into(),
                ..job("tenant-a", "r3", "revoke", T0)
            },
        ])
        .await
        .unwrap();
    let by_issuer = store
        .lease_jobs(&LeaseJobs {
            tenant_id: &"tenant-a".into(),
            connector_id: &"ca".into(),
            kinds: &[JobKind::Revoke],
            now_ms: T0 + 2,
            lease_expires_ms: T0 + 60 * MINUTE,
            token_hashes: &tokens(&["t4", "t5", "t6"]),
            skip_missing_import_key: false,
            issuer_name: Some("cn=FABRIKAM"),
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_issuer), ["r2"]);
    let any_issuer = lease(
        &store,
        "tenant-a",
        "ca",
        &["revoke"],
        T0 + 2,
        &tokens(&["t7", "t8", "t9"]),
    )
    .await;
    assert_eq!(ids(&any_issuer), ["r1", "r3"]);
}

pub(super) async fn an_expired_lease_puts_the_job_back_with_its_attempt_counted(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    store
        .insert_jobs(&[job("tenant-a", "j1", "pkcs_create", T0)])
        .await
        .unwrap();
    // Leased at T0 until T0 + 5 minutes.
    lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0,
        &tokens(&["t1"]),
    )
    .await;
    let expiry = T0 + 5 * MINUTE;

    assert_eq!(
        store
            .expire_leases(Some(&"tenant-a".into()), expiry - 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .expire_leases(Some(&"tenant-b".into()), expiry)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j1".into())
            .await
            .unwrap()
            .state
            .as_str(),
        "leased"
    );
    assert_eq!(
        store
            .expire_leases(Some(&"tenant-a".into()), expiry)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.expire_leases(None, expiry).await.unwrap(), 0);

    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j1".into())
            .await
            .unwrap(),
        JobRow {
            id: "j1".into(),
            tenant_id: "tenant-a".into(),
            kind: JobKind::PkcsCreate,
            state: JobState::Queued,
            payload: "{}".into(),
            attempts: 1,
            max_attempts: 5,
            visible_ms: 1_700_000_300_000,
            lease_token_hash: None,
            lease_connector_id: None,
            lease_expires_ms: None,
            result: None,
            error_code: Some("LeaseExpired".into()),
            error_message: Some(
                "the lease of attempt 1 expired before the job was completed".into()
            ),
            created_ms: 1_700_000_000_000,
            completed_ms: None,
        }
    );
    let attempts = store.job_attempts(&"j1".into()).await.unwrap();
    assert_eq!(
        (
            attempts[0].outcome.map(|o| o.as_str()),
            attempts[0].ended_ms
        ),
        (Some("expired"), Some(1_700_000_300_000))
    );
    // The old token has lost the job.
    assert!(!store
        .complete_job(&succeeded(&"j1".into(), "t1", expiry))
        .await
        .unwrap());

    // Redelivered: attempt 2.
    let again = lease(
        &store,
        "tenant-a",
        "c2",
        &["pkcs_create"],
        expiry,
        &tokens(&["t2"]),
    )
    .await;
    assert_eq!(
        (
            ids(&again),
            again[0].attempts,
            again[0].error_code.as_deref()
        ),
        (vec!["j1"], 2, Some("LeaseExpired"))
    );
    // A lease call expires the tenant's overdue leases itself before it picks jobs.
    let third = lease(
        &store,
        "tenant-a",
        "c3",
        &["pkcs_create"],
        expiry + 5 * MINUTE,
        &tokens(&["t3"]),
    )
    .await;
    assert_eq!((ids(&third), third[0].attempts), (vec!["j1"], 3));
    let attempts: Vec<(i64, String, Option<String>, Option<i64>)> = store
        .job_attempts(&"j1".into())
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            let outcome = a.outcome.map(|o| o.as_str().to_owned());
            (a.attempt, a.connector_id.into_string(), outcome, a.ended_ms)
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            (
                1,
                "c1".into(),
                Some("expired".into()),
                Some(1_700_000_300_000)
            ),
            (
                2,
                "c2".into(),
                Some("expired".into()),
                Some(1_700_000_600_000)
            ),
            (3, "c3".into(), None, None),
        ]
    );
}

pub(super) async fn the_fifth_expired_lease_sends_the_job_to_dead_letter(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j5", "pkcs_create", T0),
            JobRow {
                max_attempts: 1,
                ..job("tenant-a", "j1", "revoke", T0)
            },
        ])
        .await
        .unwrap();
    let mut now = T0;
    for attempt in 1..=5 {
        let leased = lease(
            &store,
            "tenant-a",
            "c1",
            &["pkcs_create", "revoke"],
            now,
            &[format!("a{attempt}"), format!("b{attempt}")],
        )
        .await;
        let expected: Vec<&str> = if attempt == 1 {
            vec!["j5", "j1"]
        } else {
            vec!["j5"]
        };
        assert_eq!(ids(&leased), expected, "attempt {attempt}");
        now += 5 * MINUTE;
        let ended = store.expire_leases(None, now).await.unwrap();
        assert_eq!(ended, if attempt == 1 { 2 } else { 1 }, "attempt {attempt}");
        let state = store
            .get_job(&"tenant-a".into(), &"j5".into())
            .await
            .unwrap()
            .state;
        assert_eq!(
            state.as_str(),
            if attempt < 5 { "queued" } else { "dead_letter" }
        );
    }

    let dead = store
        .get_job(&"tenant-a".into(), &"j5".into())
        .await
        .unwrap();
    assert_eq!(
        (
            dead.state.as_str(),
            dead.attempts,
            dead.completed_ms,
            dead.error_code.as_deref(),
            dead.error_message.as_deref(),
        ),
        (
            "dead_letter",
            5,
            Some(1_700_001_500_000),
            Some("LeaseExpired"),
            Some("the lease of attempt 5 expired before the job was completed"),
        )
    );
    let one_shot = store
        .get_job(&"tenant-a".into(), &"j1".into())
        .await
        .unwrap();
    assert_eq!(
        (
            one_shot.state.as_str(),
            one_shot.attempts,
            one_shot.completed_ms
        ),
        ("dead_letter", 1, Some(1_700_000_300_000))
    );
    assert_eq!(store.job_attempts(&"j5".into()).await.unwrap().len(), 5);
    assert_eq!(
        lease(
            &store,
            "tenant-a",
            "c1",
            &["pkcs_create", "revoke"],
            now,
            &tokens(&["z"])
        )
        .await,
        vec![]
    );
    assert_eq!(
        store
            .count_jobs(&"tenant-a".into(), None, Some(JobState::DeadLetter))
            .await
            .unwrap(),
        2
    );
}

pub(super) async fn device_keys_are_written_with_their_jobs_and_go_with_them(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let key = |job: &str| DeviceKeyRow {
        job_id: job.into(),
        tenant_id: "tenant-a".into(),
        private_key_pem: "-----BEGIN PRIVATE KEY-----\nKEY-1\n".into(),
    };
    let held = |tenant: &'static str, job: &'static str| {
        let store = store.clone();
        async move { store.device_key(&tenant.into(), &job.into()).await.unwrap() }
    };
    store
        .insert_jobs_holding(
            &[
                job("tenant-a", "j-1", "pkcs_create", T0),
                job("tenant-a", "j-2", "pkcs_create", T0),
            ],
            &[key("j-1"), key("j-2")],
        )
        .await
        .unwrap();
    store
        .insert_jobs(&[job("tenant-a", "j-3", "pkcs_create", T0)])
        .await
        .unwrap();
    let pem = Some("-----BEGIN PRIVATE KEY-----\nKEY-1\n".to_owned());
    assert_eq!(held("tenant-a", "j-1").await, pem);
    assert_eq!(held("tenant-a", "j-2").await, pem);
    assert_eq!(held("tenant-a", "j-3").await, None);
    assert_eq!(held("tenant-b", "j-1").await, None);

    // A key for a job the batch does not hold: nothing of the batch is written.
    assert!(store
        .insert_jobs_holding(
            &[job("tenant-a", "j-4", "pkcs_create", T0)],
            &[key("j-4"), key("no-such-job")],
        )
        .await
        .is_err());
    assert_not_found(store.get_job(&"tenant-a".into(), &"j-4".into()).await);
    assert_eq!(held("tenant-a", "j-4").await, None);

    // Under an idempotency key: written with the claim; a second claim writes neither.
    let claim = |job: &str| EnqueueKeyRow {
        tenant_id: "tenant-a".into(),
        key: "order-7".into(),
        fingerprint: "f".into(),
        job_ids: vec![job.into()],
        created_ms: T0,
    };
    let first = store
        .insert_jobs_keyed(
            &[job("tenant-a", "j-5", "pkcs_create", T0)],
            &[key("j-5")],
            &claim("j-5"),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(first, None);
    assert_eq!(held("tenant-a", "j-5").await, pem);
    let again = store
        .insert_jobs_keyed(
            &[job("tenant-a", "j-6", "pkcs_create", T0)],
            &[key("j-6")],
            &claim("j-6"),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(again.map(|k| k.job_ids), Some(vec![JobId::from("j-5")]));
    assert_eq!(held("tenant-a", "j-6").await, None);

    store.delete_tenant(&"tenant-a".into()).await.unwrap();
    assert_eq!(held("tenant-a", "j-1").await, None);
}
