//! Tenants: listing, lookups, the import key, and a deletion that takes everything the tenant owns.

use super::*;

pub(super) async fn tenants_are_listed_in_creation_order_and_found_by_id_and_secrets(
    store: Arc<dyn Store>,
) {
    // Ties on the creation instant go by id in byte order (`B` before `b`), whatever the
    // database's collation.
    store
        .insert_tenant(&tenant("tenant-b", T0 + 1000))
        .await
        .unwrap();
    store
        .insert_tenant(&tenant("tenant-B", T0 + 1000))
        .await
        .unwrap();
    store.insert_tenant(&tenant("tenant-c", T0)).await.unwrap();
    let listed: Vec<String> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.into_string())
        .collect();
    assert_eq!(listed, ["tenant-c", "tenant-B", "tenant-b"]);

    assert_eq!(
        store.get_tenant(&"tenant-B".into()).await.unwrap(),
        TenantRow {
            id: "tenant-B".into(),
            display_name: "Display tenant-B".into(),
            rollout_delay_days: 7,
            enrollment_secret_hash: "enroll-tenant-B".into(),
            client_id: "client-tenant-B".into(),
            client_secret_hash: "client-secret-tenant-B".into(),
            import_key_thumbprint: None,
            created_ms: 1_700_000_001_000,
        }
    );
    assert_eq!(
        store
            .tenant_by_enrollment_hash("enroll-tenant-b")
            .await
            .unwrap()
            .id,
        "tenant-b"
    );
    assert_eq!(
        store
            .tenant_by_client_id("client-tenant-c")
            .await
            .unwrap()
            .id,
        "tenant-c"
    );
    assert_not_found(store.get_tenant(&"tenant-x".into()).await);
    assert_not_found(store.tenant_by_enrollment_hash("enroll-tenant-x").await);
    assert_not_found(store.tenant_by_client_id("client-tenant-x").await);

    // Same id, or another tenant's enrollment secret or client id: refused, nothing stored.
    assert_conflict(store.insert_tenant(&tenant("tenant-b", T0)).await);
    let mut same_secret = tenant("tenant-d", T0);
    same_secret.enrollment_secret_hash = "enroll-tenant-b".into();
    assert_conflict(store.insert_tenant(&same_secret).await);
    let mut same_client = tenant("tenant-e", T0);
    same_client.client_id = "client-tenant-b".into();
    assert_conflict(store.insert_tenant(&same_client).await);
    assert_eq!(store.list_tenants().await.unwrap().len(), 3);

    store
        .set_tenant_import_key(&"tenant-c".into(), Some("5F3A"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_tenant(&"tenant-c".into())
            .await
            .unwrap()
            .import_key_thumbprint,
        Some("5F3A".into())
    );
    store
        .set_tenant_import_key(&"tenant-c".into(), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_tenant(&"tenant-c".into())
            .await
            .unwrap()
            .import_key_thumbprint,
        None
    );
    assert_not_found(
        store
            .set_tenant_import_key(&"tenant-x".into(), Some("5F3A"))
            .await,
    );
}

pub(super) async fn deleting_a_tenant_removes_everything_it_owns_and_nothing_else(
    store: Arc<dyn Store>,
) {
    for (t, created) in [("tenant-a", T0), ("tenant-b", T0 + 1)] {
        store.insert_tenant(&tenant(t, created)).await.unwrap();
        let c = connector(t, &format!("{t}-c1"), "HOST-1", T0);
        add_connector(&store, &c).await;
        store
            .record_reconciled(
                &t.into(),
                &[Reconciled {
                    connector_id: c.id.clone(),
                    entries: vec![HistoryRow {
                        connector_id: c.id.clone(),
                        seq: 2,
                        at_ms: T0 + MINUTE,
                        status: "warning".into(),
                        reasons: list("Inactive"),
                    }],
                    reconciled_ms: T0 + MINUTE,
                    last_status: "warning".into(),
                    last_reasons: list("Inactive"),
                    seq: 2,
                }],
            )
            .await
            .unwrap();
        store
            .insert_health(&t.into(), &c.id, T0, r#"{"n":1}"#, 0)
            .await
            .unwrap();
        store
            .insert_jobs(&[job(t, &format!("{t}-j1"), "pkcs_create", T0)])
            .await
            .unwrap();
        let token = format!("{t}-lease");
        let leased = lease(&store, t, c.id.as_str(), &["pkcs_create"], T0, &[token]).await;
        assert_eq!(leased.len(), 1);
        store
            .insert_token(&format!("{t}-token"), &t.into(), T0, T0 + 60 * MINUTE)
            .await
            .unwrap();
        store
            .upsert_user_pfx(&user_pfx(t, "pfx-1", T0))
            .await
            .unwrap();
        store.insert_scep_secret(&t.into(), "secret").await.unwrap();
        store
            .insert_scep_challenge(&scep_challenge(t, "ch-1"))
            .await
            .unwrap();
        store
            .record_scep_validation(&t.into(), "ch-1", "tx-1", "Success", T0)
            .await
            .unwrap();
    }

    store.delete_tenant(&"tenant-a".into()).await.unwrap();

    assert_not_found(store.get_tenant(&"tenant-a".into()).await);
    assert_eq!(
        store.list_connectors(&"tenant-a".into()).await.unwrap(),
        vec![]
    );
    assert_not_found(store.connector_by_credential("cred-tenant-a-c1").await);
    assert_eq!(
        store
            .list_history(&"tenant-a".into(), &"tenant-a-c1".into())
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .list_health(&"tenant-a".into(), &"tenant-a-c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![]
    );
    assert_not_found(
        store
            .get_job(&"tenant-a".into(), &"tenant-a-j1".into())
            .await,
    );
    assert_eq!(
        store.job_attempts(&"tenant-a-j1".into()).await.unwrap(),
        vec![]
    );
    assert_not_found(
        store
            .attempt_by_token(&"tenant-a-j1".into(), "tenant-a-lease")
            .await,
    );
    assert_not_found(store.token_tenant("tenant-a-token", T0).await);
    assert_eq!(
        store.list_user_pfx(&"tenant-a".into()).await.unwrap(),
        vec![]
    );
    assert_not_found(store.scep_secret(&"tenant-a".into()).await);
    assert_not_found(store.get_scep_challenge(&"tenant-a".into(), "ch-1").await);
    assert_not_found(store.scep_validation(&"tenant-a".into(), "tx-1").await);

    // The other tenant keeps all of its own.
    let remaining: Vec<String> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.into_string())
        .collect();
    assert_eq!(remaining, ["tenant-b"]);
    let all: Vec<String> = store
        .list_all_connectors()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(all, ["tenant-b-c1"]);
    assert_eq!(
        store
            .list_history(&"tenant-b".into(), &"tenant-b-c1".into())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .list_health(&"tenant-b".into(), &"tenant-b-c1".into(), 0, i64::MAX)
            .await
            .unwrap(),
        vec![(T0, r#"{"n":1}"#.to_owned())]
    );
    assert_eq!(
        store
            .get_job(&"tenant-b".into(), &"tenant-b-j1".into())
            .await
            .unwrap()
            .state
            .as_str(),
        "leased"
    );
    assert_eq!(
        store
            .job_attempts(&"tenant-b-j1".into())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.token_tenant("tenant-b-token", T0).await.unwrap(),
        "tenant-b"
    );
    assert_eq!(
        store.list_user_pfx(&"tenant-b".into()).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.scep_secret(&"tenant-b".into()).await.unwrap(),
        "secret"
    );
    assert_eq!(
        store
            .scep_validation(&"tenant-b".into(), "tx-1")
            .await
            .unwrap(),
        ("ch-1".to_owned(), "Success".to_owned())
    );

    assert_not_found(store.delete_tenant(&"tenant-a".into()).await);
}
