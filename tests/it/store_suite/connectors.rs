//! Connectors: the limit and the one-per-machine rule, lookups, a presence in one write, versions,
//! and reads after writes (the SQLite cache).

use super::*;

pub(super) async fn the_connector_limit_counts_per_tenant_and_a_refusal_stores_nothing(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let limit = 3;
    for (i, id) in ["c1", "c2", "c3"].into_iter().enumerate() {
        let c = connector("tenant-a", id, &format!("HOST-{i}"), T0 + i as i64);
        store
            .insert_connector(&c, &first_history(&c), limit)
            .await
            .unwrap();
    }

    let fourth = connector("tenant-a", "c4", "HOST-4", T0 + 10);
    let e = error_of(
        store
            .insert_connector(&fourth, &first_history(&fourth), limit)
            .await,
    );
    assert!(matches!(e, StoreError::LimitReached(3)), "{e:?}");
    assert_eq!(e.to_string(), "the tenant already has 3 connectors");
    assert_eq!(
        store
            .list_connectors(&"tenant-a".into())
            .await
            .unwrap()
            .len(),
        3
    );
    assert_not_found(store.connector_by_credential("cred-c4").await);
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c4".into())
            .await
            .unwrap(),
        vec![]
    );

    // Another tenant has its own count.
    let elsewhere = connector("tenant-b", "b1", "HOST-4", T0);
    store
        .insert_connector(&elsewhere, &first_history(&elsewhere), limit)
        .await
        .unwrap();

    // A freed place can be taken again.
    store
        .delete_connector(&"tenant-a".into(), &"c2".into())
        .await
        .unwrap();
    store
        .insert_connector(&fourth, &first_history(&fourth), limit)
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list_connectors(&"tenant-a".into())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(listed, ["c1", "c3", "c4"]);

    // The limit is checked before the machine: a full tenant says so even for a taken machine.
    let again = connector("tenant-a", "c5", "HOST-0", T0 + 20);
    let e = error_of(
        store
            .insert_connector(&again, &first_history(&again), limit)
            .await,
    );
    assert!(matches!(e, StoreError::LimitReached(3)), "{e:?}");
}

pub(super) async fn a_machine_has_one_connector_per_tenant_whatever_the_case_of_its_name(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    add_connector(&store, &connector("tenant-a", "c1", "HOST-1", T0)).await;

    let twin = connector("tenant-a", "c2", "host-1", T0 + 1);
    let e = error_of(
        store
            .insert_connector(&twin, &first_history(&twin), 100)
            .await,
    );
    assert!(
        matches!(&e, StoreError::MachineTaken(machine) if machine == "HOST-1"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "machine `HOST-1` already has a connector in this tenant"
    );
    assert_eq!(
        store
            .list_connectors(&"tenant-a".into())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c2".into())
            .await
            .unwrap(),
        vec![]
    );

    // The same machine name in another tenant is another machine.
    add_connector(&store, &connector("tenant-b", "b1", "HOST-1", T0)).await;

    // Uninstalled, the machine may register again.
    store
        .delete_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    add_connector(&store, &twin).await;
    assert_eq!(
        store
            .get_connector(&"tenant-a".into(), &"c2".into())
            .await
            .unwrap()
            .machine_name,
        "host-1"
    );

    // An id or credential already in use is a conflict, and nothing of the call is stored.
    let same_credential = ConnectorRow {
        credential_hash: "cred-c2".into(),
        ..connector("tenant-a", "c3", "HOST-3", T0 + 2)
    };
    assert_conflict(
        store
            .insert_connector(&same_credential, &first_history(&same_credential), 100)
            .await,
    );
    assert_conflict(
        store
            .insert_connector(
                &connector("tenant-a", "b1", "HOST-9", T0 + 3),
                &first_history(&connector("tenant-a", "b1", "HOST-9", T0 + 3)),
                100,
            )
            .await,
    );
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c3".into())
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .list_connectors(&"tenant-a".into())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(super) async fn connectors_are_found_by_credential_and_listed_in_enrolment_order(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let full = ConnectorRow {
        proxy: Some("http://proxy.contoso.com:8080".into()),
        import_key_thumbprint: Some("5F3A".into()),
        auto_update: false,
        co_installed: list("ad-connector"),
        last_checkin_ms: Some(T0 + 5),
        last_health_ms: Some(T0 + 6),
        service_account: "CONTOSO\\svc-connector".into(),
        ..connector("tenant-a", "c-b", "HOST-B", T0 + 10)
    };
    add_connector(&store, &full).await;
    add_connector(&store, &connector("tenant-a", "c-a", "HOST-A", T0 + 10)).await;
    add_connector(&store, &connector("tenant-a", "c-z", "HOST-Z", T0)).await;
    add_connector(&store, &connector("tenant-b", "c-y", "HOST-Y", T0 + 5)).await;

    let in_a: Vec<String> = store
        .list_connectors(&"tenant-a".into())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(in_a, ["c-z", "c-a", "c-b"]);
    let everywhere: Vec<String> = store
        .list_all_connectors()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(everywhere, ["c-z", "c-a", "c-b", "c-y"]);

    assert_eq!(
        store.connector_by_credential("cred-c-b").await.unwrap(),
        ConnectorRow {
            id: "c-b".into(),
            tenant_id: "tenant-a".into(),
            credential_hash: "cred-c-b".into(),
            display_name: "HOST-B connector".into(),
            machine_name: "HOST-B".into(),
            machine_key: "host-b".into(),
            features: features("pkcs,scep"),
            version: "6.2406.0.1001".into(),
            product: "certificate-connector".into(),
            service_account: "CONTOSO\\svc-connector".into(),
            proxy: Some("http://proxy.contoso.com:8080".into()),
            import_key_thumbprint: Some("5F3A".into()),
            auto_update: false,
            co_installed: list("ad-connector"),
            enrolled_ms: 1_700_000_000_010,
            last_checkin_ms: Some(1_700_000_000_005),
            reconciled_ms: 1_700_000_000_010,
            last_status: "healthy".into(),
            last_reasons: list(""),
            seq: 1,
            last_health_ms: Some(1_700_000_000_006),
        }
    );
    assert_eq!(
        store
            .get_connector(&"tenant-a".into(), &"c-a".into())
            .await
            .unwrap(),
        connector("tenant-a", "c-a", "HOST-A", T0 + 10)
    );
    assert_not_found(store.get_connector(&"tenant-b".into(), &"c-a".into()).await);
    assert_not_found(store.connector_by_credential("cred-nobody").await);
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c-b".into())
            .await
            .unwrap(),
        vec![HistoryRow {
            connector_id: "c-b".into(),
            seq: 1,
            at_ms: 1_700_000_000_010,
            status: "healthy".into(),
            reasons: list(""),
        }]
    );
}

pub(super) async fn a_presence_writes_the_row_the_reconciliation_and_the_health_message(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let c1 = connector("tenant-a", "c1", "HOST-1", T0);
    let c2 = connector("tenant-a", "c2", "HOST-2", T0);
    add_connector(&store, &c1).await;
    add_connector(&store, &c2).await;
    // c1 was read (a store may keep it), c2 was not.
    let read = store
        .get_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    let entry = |id: &str, seq: i64, at_ms: i64, status: &str, reasons: &str| HistoryRow {
        connector_id: id.into(),
        seq,
        at_ms,
        status: status.into(),
        reasons: list(reasons),
    };
    let mark = |id: &str, seq: i64, status: &str, entries: Vec<HistoryRow>| Reconciled {
        connector_id: id.into(),
        entries,
        reconciled_ms: T0 + MINUTE,
        last_status: status.into(),
        last_reasons: list(if status == "healthy" { "" } else { "Inactive" }),
        seq,
    };
    store
        .record_presence(
            &ConnectorRow {
                version: "6.2410.0.1000".into(),
                last_checkin_ms: Some(T0 + MINUTE),
                last_health_ms: Some(T0 + MINUTE),
                ..read
            },
            &[
                mark(
                    "c1",
                    2,
                    "warning",
                    vec![entry("c1", 2, T0 + MINUTE, "warning", "Inactive")],
                ),
                mark("c2", 1, "healthy", vec![]),
            ],
            Some(HealthWrite {
                at_ms: T0 + MINUTE,
                body: r#"{"n":1}"#,
                keep_from_ms: 0,
            }),
        )
        .await
        .unwrap();
    let row = store
        .get_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_eq!(
        (
            row.version.as_str(),
            row.last_checkin_ms,
            row.last_health_ms,
            row.reconciled_ms,
            row.last_status.as_str(),
            row.seq,
        ),
        (
            "6.2410.0.1000",
            Some(1_700_000_060_000),
            Some(1_700_000_060_000),
            1_700_000_060_000,
            "warning",
            2
        )
    );
    assert_eq!(
        store
            .get_connector(&"tenant-a".into(), &"c2".into())
            .await
            .unwrap()
            .reconciled_ms,
        1_700_000_060_000
    );
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap(),
        vec![
            first_history(&c1),
            entry("c1", 2, 1_700_000_060_000, "warning", "Inactive")
        ]
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![(1_700_000_060_000, r#"{"n":1}"#.to_owned())]
    );
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.2406.0.1001".to_owned(), "6.2410.0.1000".to_owned()]
    );

    // A connector that was never read is written the same.
    store
        .record_presence(
            &ConnectorRow {
                last_checkin_ms: Some(T0 + 2 * MINUTE),
                ..c2.clone()
            },
            &[],
            Some(HealthWrite {
                at_ms: T0 + 2 * MINUTE,
                body: "{}",
                keep_from_ms: 0,
            }),
        )
        .await
        .unwrap();
    let row = store
        .get_connector(&"tenant-a".into(), &"c2".into())
        .await
        .unwrap();
    assert_eq!(
        (row.last_checkin_ms, row.reconciled_ms),
        (Some(1_700_000_120_000), 1_700_000_060_000)
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c2".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![(1_700_000_120_000, "{}".to_owned())]
    );

    // A connector that is gone: NotFound, and nothing is written.
    let gone = connector("tenant-a", "c9", "HOST-9", T0);
    assert_not_found(
        store
            .record_presence(
                &gone,
                &[mark(
                    "c9",
                    2,
                    "warning",
                    vec![entry("c9", 2, T0, "warning", "Inactive")],
                )],
                Some(HealthWrite {
                    at_ms: T0,
                    body: "{}",
                    keep_from_ms: 0,
                }),
            )
            .await,
    );
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"c9".into())
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"c9".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![]
    );
}

pub(super) async fn connector_versions_are_distinct_per_tenant_in_text_order(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        Vec::<String>::new()
    );
    for (id, machine, version) in [
        ("c1", "HOST-1", "6.2406.0.1001"),
        ("c2", "HOST-2", "6.10.0.0"),
        ("c3", "HOST-3", "6.2406.0.1001"),
    ] {
        add_connector(
            &store,
            &ConnectorRow {
                version: version.into(),
                ..connector("tenant-a", id, machine, T0)
            },
        )
        .await;
    }
    add_connector(
        &store,
        &ConnectorRow {
            version: "7.0.0.0".into(),
            ..connector("tenant-b", "c4", "HOST-4", T0)
        },
    )
    .await;
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.10.0.0".to_owned(), "6.2406.0.1001".to_owned()]
    );
    assert_eq!(
        store.connector_versions(&"tenant-b".into()).await.unwrap(),
        vec!["7.0.0.0".to_owned()]
    );
}

/// The version connector `c1` of tenant-a authenticates as, and the tenant's connector versions.
async fn versions_seen(store: &Arc<dyn Store>) -> (String, Vec<String>) {
    (
        store
            .connector_by_credential("cred-c1")
            .await
            .unwrap()
            .version,
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
    )
}

/// The SQLite store keeps tenants, connectors by credential, connector versions and the release
/// catalog in memory:
/// each read here comes after a read that filled that memory, then a write.
pub(super) async fn a_read_after_each_write_sees_the_write(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let c1 = connector("tenant-a", "c1", "HOST-1", T0);
    add_connector(&store, &c1).await;

    assert_eq!(
        store
            .get_tenant(&"tenant-a".into())
            .await
            .unwrap()
            .import_key_thumbprint,
        None
    );
    store
        .set_tenant_import_key(&"tenant-a".into(), Some("AB12"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_tenant(&"tenant-a".into())
            .await
            .unwrap()
            .import_key_thumbprint
            .as_deref(),
        Some("AB12")
    );

    assert_eq!(
        versions_seen(&store).await,
        ("6.2406.0.1001".to_owned(), vec!["6.2406.0.1001".to_owned()])
    );
    store
        .update_connector(&ConnectorRow {
            version: "6.2406.0.2002".into(),
            ..c1.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        versions_seen(&store).await,
        ("6.2406.0.2002".to_owned(), vec!["6.2406.0.2002".to_owned()])
    );
    store
        .record_reconciled(
            &"tenant-a".into(),
            &[Reconciled {
                connector_id: "c1".into(),
                entries: vec![],
                reconciled_ms: T0 + MINUTE,
                last_status: "warning".into(),
                last_reasons: list("VersionLegacy"),
                seq: 2,
            }],
        )
        .await
        .unwrap();
    let reconciled = store.connector_by_credential("cred-c1").await.unwrap();
    assert_eq!(
        (
            reconciled.last_status.as_str(),
            joined(&reconciled.last_reasons).as_str(),
            reconciled.seq
        ),
        ("warning", "VersionLegacy", 2)
    );
    store
        .delete_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_not_found(store.connector_by_credential("cred-c1").await);
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        Vec::<String>::new()
    );

    let c2 = connector("tenant-a", "c2", "HOST-2", T0);
    add_connector(&store, &c2).await;
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.2406.0.1001".to_owned()]
    );
    assert_eq!(
        store.connector_by_credential("cred-c2").await.unwrap().id,
        "c2"
    );
    store.delete_tenant(&"tenant-a".into()).await.unwrap();
    assert_not_found(store.connector_by_credential("cred-c2").await);
    assert_not_found(store.get_tenant(&"tenant-a".into()).await);
}

pub(super) async fn a_connector_read_after_a_write_has_the_written_columns_and_keeps_the_others(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let c1 = connector("tenant-a", "c1", "HOST-1", T0);
    add_connector(&store, &c1).await;
    // Read once by each key (a store may keep what it read).
    let read = store
        .get_connector(&"tenant-a".into(), &"c1".into())
        .await
        .unwrap();
    assert_eq!(read.last_checkin_ms, None);
    store.connector_by_credential("cred-c1").await.unwrap();
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.2406.0.1001".to_owned()]
    );

    store
        .record_reconciled(
            &"tenant-a".into(),
            &[Reconciled {
                connector_id: "c1".into(),
                entries: vec![],
                reconciled_ms: T0 + MINUTE,
                last_status: "warning".into(),
                last_reasons: list("Inactive"),
                seq: 2,
            }],
        )
        .await
        .unwrap();
    // A check-in written from the row read before the reconciliation: it sets its own columns
    // and leaves the reconciliation's alone.
    store
        .update_connector(&ConnectorRow {
            last_checkin_ms: Some(T0 + 2 * MINUTE),
            last_health_ms: Some(T0 + 2 * MINUTE),
            ..read.clone()
        })
        .await
        .unwrap();
    // An older reconciliation changes nothing.
    store
        .record_reconciled(
            &"tenant-a".into(),
            &[Reconciled {
                connector_id: "c1".into(),
                entries: vec![],
                reconciled_ms: T0 + 30_000,
                last_status: "healthy".into(),
                last_reasons: list(""),
                seq: 1,
            }],
        )
        .await
        .unwrap();
    for row in [
        store
            .get_connector(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap(),
        store.connector_by_credential("cred-c1").await.unwrap(),
    ] {
        assert_eq!(
            (
                row.last_checkin_ms,
                row.last_health_ms,
                row.reconciled_ms,
                row.last_status.as_str(),
                joined(&row.last_reasons).as_str(),
                row.seq,
                row.version.as_str(),
            ),
            (
                Some(1_700_000_120_000),
                Some(1_700_000_120_000),
                1_700_000_060_000,
                "warning",
                "Inactive",
                2,
                "6.2406.0.1001"
            )
        );
    }
    // Same version: the tenant's versions are as before; a new one replaces it.
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.2406.0.1001".to_owned()]
    );
    store
        .update_connector(&ConnectorRow {
            version: "6.2510.3.2002".into(),
            ..store
                .get_connector(&"tenant-a".into(), &"c1".into())
                .await
                .unwrap()
        })
        .await
        .unwrap();
    assert_eq!(
        store.connector_versions(&"tenant-a".into()).await.unwrap(),
        vec!["6.2510.3.2002".to_owned()]
    );
    assert_eq!(
        store
            .get_connector(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap()
            .version,
        "6.2510.3.2002"
    );
}

pub(super) async fn updating_a_connector_writes_its_mutable_fields_only(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let original = connector("tenant-a", "c1", "HOST-1", T0);
    add_connector(&store, &original).await;

    let changed = ConnectorRow {
        // Mutable: written.
        display_name: "Renamed".into(),
        features: features("revocation"),
        version: "6.2406.0.2002".into(),
        product: "pfx-certificate-connector".into(),
        service_account: "CONTOSO\\svc".into(),
        proxy: Some("http://proxy:3128".into()),
        import_key_thumbprint: Some("AB12".into()),
        auto_update: false,
        co_installed: list("ad-connector"),
        last_checkin_ms: Some(T0 + MINUTE),
        last_health_ms: Some(T0 + 2 * MINUTE),
        // Fixed at registration, or owned by reconciliation: ignored.
        credential_hash: "cred-other".into(),
        machine_name: "OTHER".into(),
        machine_key: "other".into(),
        enrolled_ms: T0 + 99,
        reconciled_ms: T0 + 99,
        last_status: "error".into(),
        last_reasons: list("VersionRetired"),
        seq: 9,
        ..original.clone()
    };
    store.update_connector(&changed).await.unwrap();
    assert_eq!(
        store
            .get_connector(&"tenant-a".into(), &"c1".into())
            .await
            .unwrap(),
        ConnectorRow {
            id: "c1".into(),
            tenant_id: "tenant-a".into(),
            credential_hash: "cred-c1".into(),
            display_name: "Renamed".into(),
            machine_name: "HOST-1".into(),
            machine_key: "host-1".into(),
            features: features("revocation"),
            version: "6.2406.0.2002".into(),
            product: "pfx-certificate-connector".into(),
            service_account: "CONTOSO\\svc".into(),
            proxy: Some("http://proxy:3128".into()),
            import_key_thumbprint: Some("AB12".into()),
            auto_update: false,
            co_installed: list("ad-connector"),
            enrolled_ms: 1_700_000_000_000,
            last_checkin_ms: Some(1_700_000_060_000),
            reconciled_ms: 1_700_000_000_000,
            last_status: "healthy".into(),
            last_reasons: list(""),
            seq: 1,
            last_health_ms: Some(1_700_000_120_000),
        }
    );

    assert_not_found(
        store
            .update_connector(&ConnectorRow {
                id: "c9".into(),
                ..changed.clone()
            })
            .await,
    );
    assert_not_found(
        store
            .update_connector(&ConnectorRow {
                tenant_id: "tenant-b".into(),
                ..changed
            })
            .await,
    );
}
