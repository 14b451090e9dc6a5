//! Status history, health messages and releases.

use super::*;

pub(super) async fn reconciliation_appends_history_and_moves_each_mark_forward_once(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    add_connector(&store, &connector("tenant-a", "c1", "HOST-1", T0)).await;
    add_connector(&store, &connector("tenant-a", "c2", "HOST-2", T0)).await;
    let entry =
        |connector_id: &str, seq: i64, at_ms: i64, status: &str, reasons: &str| HistoryRow {
            connector_id: connector_id.into(),
            seq,
            at_ms,
            status: status.into(),
            reasons: list(reasons),
        };

    store
        .record_reconciled(
            &"tenant-a".into(),
            &[
                Reconciled {
                    connector_id: "c1".into(),
                    entries: vec![
                        entry("c1", 2, T0 + MINUTE, "warning", "VersionDeprecated"),
                        entry(
                            "c1",
                            3,
                            T0 + 2 * MINUTE,
                            "error",
                            "Inactive,VersionOutOfSupport",
                        ),
                    ],
                    reconciled_ms: T0 + 3 * MINUTE,
                    last_status: "error".into(),
                    last_reasons: list("Inactive,VersionOutOfSupport"),
                    seq: 3,
                },
                Reconciled {
                    connector_id: "c2".into(),
                    entries: vec![],
                    reconciled_ms: T0 + 3 * MINUTE,
                    last_status: "healthy".into(),
                    last_reasons: list(""),
                    seq: 1,
                },
            ],
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap(),
        vec![
            entry("c1", 1, 1_700_000_000_000, "healthy", ""),
            entry("c1", 2, 1_700_000_060_000, "warning", "VersionDeprecated"),
            entry(
                "c1",
                3,
                1_700_000_120_000,
                "error",
                "Inactive,VersionOutOfSupport"
            ),
        ]
    );
    let c1 = store
        .get_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_eq!(
        (
            c1.reconciled_ms,
            c1.last_status.as_str(),
            joined(&c1.last_reasons).as_str(),
            c1.seq
        ),
        (
            1_700_000_180_000,
            "error",
            "Inactive,VersionOutOfSupport",
            3
        )
    );
    let c2 = store
        .get_connector(&"tenant-a".into(), &"c2".into())
        .await
        .unwrap();
    assert_eq!(
        (c2.reconciled_ms, c2.last_status.as_str(), c2.seq),
        (1_700_000_180_000, "healthy", 1)
    );

    // Another replica records the same span again, and c1's mark as it was one minute earlier:
    // the entry already recorded is kept as it was, c2's new entry and mark are recorded, and
    // c1's mark does not move back.
    store
        .record_reconciled(
            &"tenant-a".into(),
            &[
                Reconciled {
                    connector_id: "c2".into(),
                    entries: vec![entry("c2", 2, T0 + 4 * MINUTE, "warning", "Inactive")],
                    reconciled_ms: T0 + 4 * MINUTE,
                    last_status: "warning".into(),
                    last_reasons: list("Inactive"),
                    seq: 2,
                },
                Reconciled {
                    connector_id: "c1".into(),
                    entries: vec![entry("c1", 3, T0 + 2 * MINUTE, "error", "Inactive")],
                    reconciled_ms: T0 + 2 * MINUTE,
                    last_status: "error".into(),
                    last_reasons: list("Inactive"),
                    seq: 3,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap()[2],
        entry(
            "c1",
            3,
            1_700_000_120_000,
            "error",
            "Inactive,VersionOutOfSupport"
        )
    );
    let c1 = store
        .get_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_eq!(
        (c1.reconciled_ms, joined(&c1.last_reasons).as_str(), c1.seq),
        (1_700_000_180_000, "Inactive,VersionOutOfSupport", 3)
    );
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c2".into())
            .await
            .unwrap(),
        vec![
            entry("c2", 1, 1_700_000_000_000, "healthy", ""),
            entry("c2", 2, 1_700_000_240_000, "warning", "Inactive"),
        ]
    );
    let c2 = store
        .get_connector(&"tenant-a".into(), &"c2".into())
        .await
        .unwrap();
    assert_eq!(
        (c2.reconciled_ms, c2.last_status.as_str(), c2.seq),
        (1_700_000_240_000, "warning", 2)
    );
    // History is read per tenant.
    assert_eq!(
        store
            .list_history(&"tenant-b".into(), &"c1".into())
            .await
            .unwrap(),
        vec![]
    );
}

pub(super) async fn deleting_a_connector_keeps_its_history_and_drops_its_health(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    add_connector(&store, &connector("tenant-a", "c1", "HOST-1", T0)).await;
    store
        .insert_health(&"tenant-a".into(), &"c1".into(), T0, "{}", 0)
        .await
        .unwrap();
    store
        .insert_health(&"tenant-a".into(), &"c1".into(), T0 + 5 * MINUTE, "{}", 0)
        .await
        .unwrap();

    // Another tenant cannot delete it.
    assert_not_found(
        store
            .delete_connector(&"tenant-b".into(), &"c1".into())
            .await,
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        2
    );

    store
        .delete_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_not_found(store.get_connector(&"tenant-a".into(), &"c1".into()).await);
    assert_not_found(store.connector_by_credential("cred-c1").await);
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap(),
        vec![HistoryRow {
            connector_id: "c1".into(),
            seq: 1,
            at_ms: 1_700_000_000_000,
            status: "healthy".into(),
            reasons: list(""),
        }]
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![]
    );
    assert_not_found(
        store
            .delete_connector(&"tenant-a".into(), &"c1".into())
            .await,
    );
}

pub(super) async fn health_messages_are_replaced_by_instant_trimmed_and_listed_oldest_first(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let five = 5 * MINUTE;
    for (at, body) in [(T0 + five, "n2"), (T0, "n1"), (T0 + 2 * five, "n3")] {
        store
            .insert_health(&"tenant-a".into(), &"c1".into(), at, body, 0)
            .await
            .unwrap();
    }
    store
        .insert_health(&"tenant-a".into(), &"c2".into(), T0, "other", 0)
        .await
        .unwrap();
    let all = |rows: &[(i64, &str)]| -> Vec<(i64, String)> {
        rows.iter().map(|(at, b)| (*at, (*b).to_owned())).collect()
    };
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), T0, T0 + 2 * five)
            .await
            .unwrap(),
        all(&[
            (1_700_000_000_000, "n1"),
            (1_700_000_300_000, "n2"),
            (1_700_000_600_000, "n3")
        ])
    );
    // Both ends are inclusive.
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), T0 + 1, T0 + 2 * five - 1)
            .await
            .unwrap(),
        all(&[(1_700_000_300_000, "n2")])
    );

    // The same instant again replaces the message.
    store
        .insert_health(&"tenant-a".into(), &"c1".into(), T0 + five, "n2-again", 0)
        .await
        .unwrap();
    // A new message drops the connector's messages older than `keep_from_ms`, and only its own.
    store
        .insert_health(
            &"tenant-a".into(),
            &"c1".into(),
            T0 + 3 * five,
            "n4",
            T0 + five,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        all(&[
            (1_700_000_300_000, "n2-again"),
            (1_700_000_600_000, "n3"),
            (1_700_000_900_000, "n4")
        ])
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c2".into(), 0, i64::MAX)
            .await
            .unwrap(),
        all(&[(1_700_000_000_000, "other")])
    );
    assert_eq!(
        store
            .list_health(&"tenant-b".into(), &"c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![]
    );
}

pub(super) async fn releases_are_listed_by_release_date_then_version(store: Arc<dyn Store>) {
    assert_eq!(store.list_releases().await.unwrap(), vec![]);
    let release = |version: &str, released_ms: i64| ReleaseRow {
        version: version.into(),
        released_ms,
        published_ms: T0,
    };
    store
        .insert_release(&release("6.2406.0.2002", T0 + 2))
        .await
        .unwrap();
    store
        .insert_release(&release("6.9.0.0", T0 + 1))
        .await
        .unwrap();
    store
        .insert_release(&release("6.10.0.0", T0 + 1))
        .await
        .unwrap();
    store
        .insert_release(&release("6.2107.45.0", T0))
        .await
        .unwrap();
    // Ties go by the version text in byte order, not numerically.
    assert_eq!(
        store.list_releases().await.unwrap(),
        vec![
            release("6.2107.45.0", 1_700_000_000_000),
            release("6.10.0.0", 1_700_000_000_001),
            release("6.9.0.0", 1_700_000_000_001),
            release("6.2406.0.2002", 1_700_000_000_002),
        ]
    );
    assert_conflict(store.insert_release(&release("6.9.0.0", T0 + 5)).await);
    assert_eq!(store.list_releases().await.unwrap().len(), 4);
}
