//! The end of a lease: completions (one and many), cancellation, release at uninstall, and the
//! deadlines that wake the queue.

use super::*;

pub(super) async fn a_batch_of_completions_applies_exactly_those_with_a_current_token(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "revoke", T0),
            job("tenant-a", "j2", "revoke", T0),
            job("tenant-a", "j3", "revoke", T0),
        ])
        .await
        .unwrap();
    let leased = lease(
        &store,
        "tenant-a",
        "c1",
        &["revoke"],
        T0,
        &tokens(&["t1", "t2", "t3"]),
    )
    .await;
    assert_eq!(ids(&leased), ["j1", "j2", "j3"]);

    // All current: all applied.
    assert_eq!(
        store
            .complete_jobs(&[succeeded(&"j1".into(), "t1", T0 + 1000)])
            .await
            .unwrap(),
        [true]
    );
    // One stale (j1 is done), one wrong (t9), one current: only the current one applies, and
    // the others change nothing.
    assert_eq!(
        store
            .complete_jobs(&[
                succeeded(&"j1".into(), "t1", T0 + 2000),
                succeeded(&"j2".into(), "t9", T0 + 2000),
                succeeded(&"j3".into(), "t3", T0 + 2000),
            ])
            .await
            .unwrap(),
        [false, false, true]
    );
    let mut states: Vec<(String, String, Option<i64>)> = store
        .get_jobs(
            &"tenant-a".into(),
            &[&"j1".into(), &"j2".into(), &"j3".into()],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|j| {
            (
                j.id.into_string(),
                j.state.as_str().to_owned(),
                j.completed_ms,
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (
                "j1".to_owned(),
                "succeeded".to_owned(),
                Some(1_700_000_001_000)
            ),
            ("j2".to_owned(), "leased".to_owned(), None),
            (
                "j3".to_owned(),
                "succeeded".to_owned(),
                Some(1_700_000_002_000)
            ),
        ]
    );
    assert_eq!(
        store
            .attempt_by_token(&"j2".into(), "t2")
            .await
            .unwrap()
            .outcome,
        None
    );
    assert_eq!(
        store
            .attempt_by_token(&"j3".into(), "t3")
            .await
            .unwrap()
            .outcome
            .map(|o| o.as_str()),
        Some("succeeded")
    );
}

pub(super) async fn completing_applies_only_with_the_current_token_and_only_once(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "pkcs_create", T0),
        ])
        .await
        .unwrap();
    lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0,
        &tokens(&["t1", "t2"]),
    )
    .await;

    // Success with the right token.
    assert!(!store
        .complete_job(&succeeded(&"j1".into(), "t2", T0 + 1000))
        .await
        .unwrap());
    assert!(store
        .complete_job(&succeeded(&"j1".into(), "t1", T0 + 1000))
        .await
        .unwrap());
    let done = store
        .get_job(&"tenant-a".into(), &"j1".into())
        .await
        .unwrap();
    assert_eq!(
        done,
        JobRow {
            id: "j1".into(),
            tenant_id: "tenant-a".into(),
            kind: JobKind::PkcsCreate,
            state: JobState::Succeeded,
            payload: "{}".into(),
            attempts: 1,
            max_attempts: 5,
            visible_ms: 1_700_000_001_000,
            lease_token_hash: None,
            lease_connector_id: None,
            lease_expires_ms: None,
            result: Some(r#"{"pfx":"AA=="}"#.into()),
            error_code: None,
            error_message: None,
            created_ms: 1_700_000_000_000,
            completed_ms: Some(1_700_000_001_000),
        }
    );
    assert_eq!(
        store.attempt_by_token(&"j1".into(), "t1").await.unwrap(),
        AttemptRow {
            job_id: "j1".into(),
            attempt: 1,
            connector_id: "c1".into(),
            lease_token_hash: "t1".into(),
            leased_ms: 1_700_000_000_000,
            outcome: Some(AttemptEnd::Reported(Outcome::Succeeded)),
            error_code: None,
            ended_ms: Some(1_700_000_001_000),
        }
    );
    // A repeat changes nothing.
    assert!(!store
        .complete_job(&succeeded(&"j1".into(), "t1", T0 + 2000))
        .await
        .unwrap());
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j1".into())
            .await
            .unwrap(),
        done
    );

    // Retry: back in the queue after the backoff, the result so far kept.
    let retry = Completion {
        job_id: &"j2".into(),
        token_hash: "t2",
        now_ms: T0 + 1000,
        new_state: JobState::Queued,
        attempt_outcome: Outcome::Retry,
        visible_ms: T0 + 1000 + MINUTE,
        result: Some(r#"{"partial":true}"#),
        error_code: Some("CaUnavailable"),
        error_message: Some("the CA did not answer"),
    };
    assert!(store.complete_job(&retry).await.unwrap());
    let queued = store
        .get_job(&"tenant-a".into(), &"j2".into())
        .await
        .unwrap();
    assert_eq!(
        (
            queued.state.as_str(),
            queued.visible_ms,
            queued.completed_ms,
            queued.error_code.as_deref(),
            queued.lease_token_hash.as_deref(),
        ),
        (
            "queued",
            1_700_000_061_000,
            None,
            Some("CaUnavailable"),
            None
        )
    );
    assert_eq!(
        lease(
            &store,
            "tenant-a",
            "c1",
            &["pkcs_create"],
            T0 + 1000 + MINUTE - 1,
            &tokens(&["t3"])
        )
        .await,
        vec![]
    );
    let again = lease(
        &store,
        "tenant-a",
        "c2",
        &["pkcs_create"],
        T0 + 1000 + MINUTE,
        &tokens(&["t4"]),
    )
    .await;
    assert_eq!((ids(&again), again[0].attempts), (vec!["j2"], 2));

    // The first attempt's token no longer holds the job.
    assert!(!store
        .complete_job(&succeeded(&"j2".into(), "t2", T0 + 2 * MINUTE))
        .await
        .unwrap());
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"j2".into())
            .await
            .unwrap()
            .lease_token_hash
            .as_deref(),
        Some("t4")
    );
    // A terminal failure; `result: None` keeps the earlier result.
    let failure = Completion {
        job_id: &"j2".into(),
        token_hash: "t4",
        now_ms: T0 + 3 * MINUTE,
        new_state: JobState::Failed,
        attempt_outcome: Outcome::Failed,
        visible_ms: T0 + 3 * MINUTE,
        result: None,
        error_code: Some("CaRefused"),
        error_message: Some("the CA refused the request"),
    };
    assert!(store.complete_job(&failure).await.unwrap());
    let failed = store
        .get_job(&"tenant-a".into(), &"j2".into())
        .await
        .unwrap();
    assert_eq!(
        (
            failed.state.as_str(),
            failed.result.as_deref(),
            failed.error_code.as_deref(),
            failed.error_message.as_deref(),
            failed.completed_ms,
        ),
        (
            "failed",
            Some(r#"{"partial":true}"#),
            Some("CaRefused"),
            Some("the CA refused the request"),
            Some(1_700_000_180_000),
        )
    );
    let outcomes: Vec<AttemptSummary> = store
        .job_attempts(&"j2".into())
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            let outcome = a.outcome.map(|o| o.as_str().to_owned());
            (a.attempt, outcome, a.error_code, a.ended_ms)
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (
                1,
                Some("retry".into()),
                Some("CaUnavailable".into()),
                Some(1_700_000_001_000)
            ),
            (
                2,
                Some("failed".into()),
                Some("CaRefused".into()),
                Some(1_700_000_180_000)
            ),
        ]
    );
    assert!(!store.complete_job(&failure).await.unwrap());
}

pub(super) async fn cancelling_ends_open_jobs_and_their_leases(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "leased", "revoke", T0),
            job("tenant-a", "queued", "pkcs_create", T0),
        ])
        .await
        .unwrap();
    lease(&store, "tenant-a", "c1", &["revoke"], T0, &tokens(&["t1"])).await;

    // Another tenant cannot cancel it.
    assert!(!store
        .cancel_job(&"tenant-b".into(), &"queued".into(), T0 + 1)
        .await
        .unwrap());
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"queued".into())
            .await
            .unwrap()
            .state
            .as_str(),
        "queued"
    );

    assert!(store
        .cancel_job(&"tenant-a".into(), &"queued".into(), T0 + 1)
        .await
        .unwrap());
    let cancelled = store
        .get_job(&"tenant-a".into(), &"queued".into())
        .await
        .unwrap();
    assert_eq!(
        (cancelled.state.as_str(), cancelled.completed_ms),
        ("cancelled", Some(1_700_000_000_001))
    );

    assert!(store
        .cancel_job(&"tenant-a".into(), &"leased".into(), T0 + 2)
        .await
        .unwrap());
    let cancelled = store
        .get_job(&"tenant-a".into(), &"leased".into())
        .await
        .unwrap();
    assert_eq!(
        (
            cancelled.state.as_str(),
            cancelled.completed_ms,
            cancelled.lease_token_hash.as_deref(),
            cancelled
                .lease_connector_id
                .as_ref()
                .map(ConnectorId::as_str),
            cancelled.lease_expires_ms,
            cancelled.attempts,
        ),
        ("cancelled", Some(1_700_000_000_002), None, None, None, 1)
    );
    let attempt = store
        .attempt_by_token(&"leased".into(), "t1")
        .await
        .unwrap();
    assert_eq!(
        (attempt.outcome.map(|o| o.as_str()), attempt.ended_ms),
        (Some("cancelled"), Some(1_700_000_000_002))
    );
    // Its connector can no longer complete it, and it cannot be cancelled twice.
    assert!(!store
        .complete_job(&succeeded(&"leased".into(), "t1", T0 + 3))
        .await
        .unwrap());
    assert!(!store
        .cancel_job(&"tenant-a".into(), &"leased".into(), T0 + 4)
        .await
        .unwrap());
    assert!(!store
        .cancel_job(&"tenant-a".into(), &"nothing".into(), T0 + 4)
        .await
        .unwrap());
    assert_eq!(
        store
            .get_job(&"tenant-a".into(), &"leased".into())
            .await
            .unwrap()
            .completed_ms,
        Some(1_700_000_000_002)
    );
}

pub(super) async fn releasing_a_connectors_leases_queues_its_jobs_at_once(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "pkcs_create", T0),
            job("tenant-a", "j3", "pkcs_create", T0),
        ])
        .await
        .unwrap();
    lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0,
        &tokens(&["t1", "t2"]),
    )
    .await;
    lease(
        &store,
        "tenant-a",
        "c2",
        &["pkcs_create"],
        T0,
        &tokens(&["t3"]),
    )
    .await;

    assert_eq!(
        store
            .release_connector_leases(&"c1".into(), T0 + 5000)
            .await
            .unwrap(),
        2
    );
    let released = store
        .get_job(&"tenant-a".into(), &"j1".into())
        .await
        .unwrap();
    assert_eq!(
        (
            released.state.as_str(),
            released.visible_ms,
            released.attempts,
            released.lease_token_hash.as_deref(),
            released
                .lease_connector_id
                .as_ref()
                .map(ConnectorId::as_str),
            released.lease_expires_ms,
            released.error_code.as_deref(),
        ),
        ("queued", 1_700_000_005_000, 1, None, None, None, None)
    );
    let attempt = store.attempt_by_token(&"j2".into(), "t2").await.unwrap();
    assert_eq!(
        (attempt.outcome.map(|o| o.as_str()), attempt.ended_ms),
        (Some("released"), Some(1_700_000_005_000))
    );
    // The other connector keeps its lease.
    let kept = store
        .get_job(&"tenant-a".into(), &"j3".into())
        .await
        .unwrap();
    assert_eq!(
        (kept.state.as_str(), kept.lease_token_hash.as_deref()),
        ("leased", Some("t3"))
    );
    assert!(!store
        .complete_job(&succeeded(&"j1".into(), "t1", T0 + 6000))
        .await
        .unwrap());
    assert_eq!(
        store
            .release_connector_leases(&"c1".into(), T0 + 6000)
            .await
            .unwrap(),
        0
    );

    let redelivered = lease(
        &store,
        "tenant-a",
        "c2",
        &["pkcs_create"],
        T0 + 5000,
        &tokens(&["t4", "t5", "t6"]),
    )
    .await;
    assert_eq!(ids(&redelivered), ["j1", "j2"]);
    assert_eq!(redelivered[0].attempts, 2);
}

pub(super) async fn the_next_job_deadline_is_the_earliest_expiry_or_backoff_end(
    store: Arc<dyn Store>,
) {
    assert_eq!(store.next_job_deadline(T0).await.unwrap(), None);
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store
        .insert_jobs(&[
            // Leased below until T0 + 5 minutes.
            job("tenant-a", "j1", "revoke", T0),
            // In a backoff until T0 + 2 minutes.
            JobRow {
                visible_ms: T0 + 2 * MINUTE,
                ..job("tenant-a", "j2", "pkcs_create", T0)
            },
            // Ready already.
            job("tenant-a", "j3", "pkcs_import", T0),
            // Finished: never a deadline, whatever its instants say.
            JobRow {
                state: JobState::Succeeded,
                visible_ms: T0 + MINUTE,
                completed_ms: Some(T0),
                ..job("tenant-a", "j4", "pkcs_create", T0)
            },
        ])
        .await
        .unwrap();
    lease(&store, "tenant-a", "c1", &["revoke"], T0, &tokens(&["t1"])).await;

    assert_eq!(
        store.next_job_deadline(T0).await.unwrap(),
        Some(1_700_000_120_000)
    );
    // Strictly after the given instant.
    assert_eq!(
        store.next_job_deadline(T0 + 2 * MINUTE).await.unwrap(),
        Some(1_700_000_300_000)
    );
    assert_eq!(
        store.next_job_deadline(T0 + 5 * MINUTE).await.unwrap(),
        None
    );
}

pub(super) async fn a_tenant_has_queued_jobs_until_its_queue_runs_dry(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    assert!(!store.has_queued_jobs(&"tenant-a".into()).await.unwrap());
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "revoke", T0),
            // In a retry backoff until T0 + 2 minutes: queued all the same.
            JobRow {
                visible_ms: T0 + 2 * MINUTE,
                ..job("tenant-a", "j2", "pkcs_create", T0)
            },
        ])
        .await
        .unwrap();
    assert!(store.has_queued_jobs(&"tenant-a".into()).await.unwrap());
    assert!(!store.has_queued_jobs(&"tenant-b".into()).await.unwrap());

    let first = lease(&store, "tenant-a", "c1", &["revoke"], T0, &tokens(&["t1"])).await;
    assert_eq!(ids(&first), ["j1"]);
    // j2 waits out its backoff.
    assert!(store.has_queued_jobs(&"tenant-a".into()).await.unwrap());
    let second = lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0 + 2 * MINUTE,
        &tokens(&["t2"]),
    )
    .await;
    assert_eq!(ids(&second), ["j2"]);
    // Both leased: nothing is queued.
    assert!(!store.has_queued_jobs(&"tenant-a".into()).await.unwrap());
    // A lease that ran out puts its job back in the queue once leases are expired.
    store
        .expire_leases(Some(&"tenant-a".into()), T0 + 5 * MINUTE)
        .await
        .unwrap();
    assert!(store.has_queued_jobs(&"tenant-a".into()).await.unwrap());
    assert!(!store.has_queued_jobs(&"tenant-b".into()).await.unwrap());
}
