//! The stored virtual clock and the figures for /metrics.

use super::*;

pub(super) async fn the_virtual_clock_is_stored_and_only_a_reset_moves_it_back(
    store: Arc<dyn Store>,
) {
    assert_eq!(store.clock_ms().await.unwrap(), None);
    assert_eq!(store.store_clock_ms(T0, false).await.unwrap(), T0);
    assert_eq!(
        store.store_clock_ms(T0 + MINUTE, false).await.unwrap(),
        T0 + MINUTE
    );
    // An earlier instant (another process behind) leaves the later one.
    assert_eq!(store.store_clock_ms(T0, false).await.unwrap(), T0 + MINUTE);
    assert_eq!(store.clock_ms().await.unwrap(), Some(T0 + MINUTE));
    // A reset may move it back.
    assert_eq!(
        store.store_clock_ms(T0 - MINUTE, true).await.unwrap(),
        T0 - MINUTE
    );
    assert_eq!(store.clock_ms().await.unwrap(), Some(T0 - MINUTE));
}

pub(super) async fn job_figures_count_every_tenant_by_kind_state_and_outcome(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "pkcs_create", T0 + MINUTE),
            job("tenant-b", "j3", "pkcs_create", T0 + 2 * MINUTE),
            job("tenant-b", "j4", "revoke", T0 + 3 * MINUTE),
        ])
        .await
        .unwrap();
    assert_eq!(store.attempt_outcomes().await.unwrap(), vec![]);
    // j1 is leased and its lease runs out: back in the queue, one expired attempt.
    lease(
        &store,
        "tenant-a",
        "c1",
        &["pkcs_create"],
        T0,
        &tokens(&["t1"]),
    )
    .await;
    store.expire_leases(None, T0 + 5 * MINUTE).await.unwrap();
    let stat = |kind: JobKind, state: JobState, count: i64, oldest_created_ms: i64| JobStat {
        kind,
        state,
        count,
        oldest_created_ms,
    };
    assert_eq!(
        store.job_stats().await.unwrap(),
        vec![
            stat(JobKind::PkcsCreate, JobState::Queued, 3, 1_700_000_000_000),
            stat(JobKind::Revoke, JobState::Queued, 1, 1_700_000_180_000),
        ]
    );
    assert_eq!(
        store.attempt_outcomes().await.unwrap(),
        vec![(AttemptEnd::Expired, 1)]
    );
}
