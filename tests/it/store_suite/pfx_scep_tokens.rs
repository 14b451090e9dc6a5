//! Imported PFXs, SCEP secrets, challenges, validations and notifications, tokens and the
//! tenants' token-signing keys.

use super::*;

pub(super) async fn user_pfx_certificates_are_upserted_listed_and_deleted(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    store
        .upsert_user_pfx(&user_pfx("tenant-a", "pfx-b", T0))
        .await
        .unwrap();
    store
        .upsert_user_pfx(&user_pfx("tenant-a", "pfx-B", T0))
        .await
        .unwrap();
    store
        .upsert_user_pfx(&user_pfx("tenant-b", "pfx-b", T0))
        .await
        .unwrap();

    let listed: Vec<String> = store
        .list_user_pfx(&"tenant-a".into())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["pfx-B", "pfx-b"]);
    assert_eq!(
        store
            .get_user_pfx(&"tenant-a".into(), "pfx-b")
            .await
            .unwrap(),
        UserPfxRow {
            tenant_id: "tenant-a".into(),
            id: "pfx-b".into(),
            user_principal_name: "user@contoso.com".into(),
            thumbprint: "0a1b2c".into(),
            intended_purpose: "smimeEncryption".into(),
            padding_scheme: "oaepSha512".into(),
            provider_name: "Microsoft Software Key Storage Provider".into(),
            key_name: "PfxImportKey".into(),
            encrypted_pfx_blob: "UEZY".into(),
            encrypted_pfx_password: "cGFzcw==".into(),
            start_ms: Some(1_700_000_000_000),
            expiration_ms: None,
            created_ms: 1_700_000_000_000,
            modified_ms: 1_700_000_000_000,
        }
    );

    // The same id again replaces everything but the creation instant.
    let replacement = UserPfxRow {
        user_principal_name: "other@contoso.com".into(),
        thumbprint: "ffee".into(),
        intended_purpose: "smimeSigning".into(),
        padding_scheme: "pkcs1".into(),
        provider_name: "Other KSP".into(),
        key_name: "OtherKey".into(),
        encrypted_pfx_blob: "QkxPQg==".into(),
        encrypted_pfx_password: "cHc=".into(),
        start_ms: None,
        expiration_ms: Some(T0 + 365 * 24 * 60 * MINUTE),
        modified_ms: T0 + MINUTE,
        ..user_pfx("tenant-a", "pfx-b", T0 + MINUTE)
    };
    store.upsert_user_pfx(&replacement).await.unwrap();
    assert_eq!(
        store
            .get_user_pfx(&"tenant-a".into(), "pfx-b")
            .await
            .unwrap(),
        UserPfxRow {
            created_ms: 1_700_000_000_000,
            ..replacement
        }
    );
    assert_eq!(
        store.list_user_pfx(&"tenant-a".into()).await.unwrap().len(),
        2
    );

    store
        .delete_user_pfx(&"tenant-a".into(), "pfx-b")
        .await
        .unwrap();
    assert_not_found(store.get_user_pfx(&"tenant-a".into(), "pfx-b").await);
    assert_not_found(store.delete_user_pfx(&"tenant-a".into(), "pfx-b").await);
    assert_eq!(
        store
            .get_user_pfx(&"tenant-b".into(), "pfx-b")
            .await
            .unwrap(),
        user_pfx("tenant-b", "pfx-b", T0)
    );
}

pub(super) async fn scep_secrets_challenges_validations_and_notifications(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();

    assert_not_found(store.scep_secret(&"tenant-a".into()).await);
    store
        .insert_scep_secret(&"tenant-a".into(), "first")
        .await
        .unwrap();
    store
        .insert_scep_secret(&"tenant-a".into(), "second")
        .await
        .unwrap();
    assert_eq!(
        store.scep_secret(&"tenant-a".into()).await.unwrap(),
        "first"
    );
    assert_not_found(store.scep_secret(&"tenant-b".into()).await);

    store
        .insert_scep_challenge(&scep_challenge("tenant-a", "ch-1"))
        .await
        .unwrap();
    store
        .insert_scep_challenge(&ScepChallengeRow {
            user_id: Some("user-1".into()),
            ..scep_challenge("tenant-a", "ch-2")
        })
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_scep_challenge(&scep_challenge("tenant-a", "ch-1"))
            .await,
    );
    assert_eq!(
        store
            .get_scep_challenge(&"tenant-a".into(), "ch-1")
            .await
            .unwrap(),
        ScepChallengeRow {
            tenant_id: "tenant-a".into(),
            id: "ch-1".into(),
            device_id: "device-0001".into(),
            user_id: None,
            subject: "CN=device-0001".into(),
            subject_alt_names: r#"[{"type":"dnsName","value":"device-0001.contoso.com"}]"#.into(),
            key_usage: "digitalSignature,keyEncipherment".into(),
            key_size: 2048,
            extended_key_usage: "1.3.6.1.5.5.7.3.2".into(),
            issued_ms: 1_700_000_000_000,
            expires_ms: 1_700_003_600_000,
            targeted: true,
            transaction_id: None,
            last_code: None,
            notification_kind: None,
            notification: None,
            notified_ms: None,
        }
    );
    assert_not_found(store.get_scep_challenge(&"tenant-b".into(), "ch-1").await);

    store
        .set_scep_targeted(&"tenant-a".into(), "ch-1", false)
        .await
        .unwrap();
    assert!(
        !store
            .get_scep_challenge(&"tenant-a".into(), "ch-1")
            .await
            .unwrap()
            .targeted
    );
    store
        .set_scep_targeted(&"tenant-a".into(), "ch-1", true)
        .await
        .unwrap();
    assert!(
        store
            .get_scep_challenge(&"tenant-a".into(), "ch-1")
            .await
            .unwrap()
            .targeted
    );
    assert_not_found(
        store
            .set_scep_targeted(&"tenant-a".into(), "ch-9", false)
            .await,
    );
    assert_not_found(
        store
            .set_scep_targeted(&"tenant-b".into(), "ch-1", false)
            .await,
    );

    assert_not_found(store.scep_validation(&"tenant-a".into(), "tx-1").await);
    store
        .record_scep_validation(&"tenant-a".into(), "ch-1", "tx-1", "Success", T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .scep_validation(&"tenant-a".into(), "tx-1")
            .await
            .unwrap(),
        ("ch-1".to_owned(), "Success".to_owned())
    );
    let ch1 = store
        .get_scep_challenge(&"tenant-a".into(), "ch-1")
        .await
        .unwrap();
    assert_eq!(
        (ch1.transaction_id.as_deref(), ch1.last_code.as_deref()),
        (Some("tx-1"), Some("Success"))
    );
    // The same transaction again replaces its verdict; the earlier challenge keeps its own.
    store
        .record_scep_validation(
            &"tenant-a".into(),
            "ch-2",
            "tx-1",
            "ChallengeExpired",
            T0 + 2,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .scep_validation(&"tenant-a".into(), "tx-1")
            .await
            .unwrap(),
        ("ch-2".to_owned(), "ChallengeExpired".to_owned())
    );
    let ch2 = store
        .get_scep_challenge(&"tenant-a".into(), "ch-2")
        .await
        .unwrap();
    assert_eq!(
        (ch2.transaction_id.as_deref(), ch2.last_code.as_deref()),
        (Some("tx-1"), Some("ChallengeExpired"))
    );
    assert_eq!(
        store
            .get_scep_challenge(&"tenant-a".into(), "ch-1")
            .await
            .unwrap()
            .last_code
            .as_deref(),
        Some("Success")
    );
    assert_not_found(store.scep_validation(&"tenant-b".into(), "tx-1").await);

    store
        .record_scep_notification(
            &"tenant-a".into(),
            "ch-1",
            "success",
            r#"{"certificateThumbprint":"AB"}"#,
            T0 + 3,
        )
        .await
        .unwrap();
    let notified = store
        .get_scep_challenge(&"tenant-a".into(), "ch-1")
        .await
        .unwrap();
    assert_eq!(
        (
            notified.notification_kind.as_deref(),
            notified.notification.as_deref(),
            notified.notified_ms,
        ),
        (
            Some("success"),
            Some(r#"{"certificateThumbprint":"AB"}"#),
            Some(1_700_000_000_003),
        )
    );
    assert_eq!(
        store
            .get_scep_challenge(&"tenant-a".into(), "ch-2")
            .await
            .unwrap()
            .notification_kind,
        None
    );
}

pub(super) async fn tokens_name_their_tenant_until_they_expire(store: Arc<dyn Store>) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    store.insert_tenant(&tenant("tenant-b", T0)).await.unwrap();
    let hour = 60 * MINUTE;
    store
        .insert_token("tk-1", &"tenant-a".into(), T0, T0 + hour)
        .await
        .unwrap();
    store
        .insert_token("tk-2", &"tenant-b".into(), T0, T0 + 2 * hour)
        .await
        .unwrap();

    assert_eq!(
        store.token_tenant("tk-1", T0 + hour - 1).await.unwrap(),
        "tenant-a"
    );
    assert_not_found(store.token_tenant("tk-1", T0 + hour).await);
    assert_eq!(
        store.token_tenant("tk-2", T0 + hour).await.unwrap(),
        "tenant-b"
    );
    assert_not_found(store.token_tenant("tk-x", T0).await);

    // Storing a token drops the ones expired by then: tk-1 is gone even for an earlier instant.
    store
        .insert_token("tk-3", &"tenant-a".into(), T0 + hour, T0 + 2 * hour)
        .await
        .unwrap();
    assert_not_found(store.token_tenant("tk-1", T0).await);
    assert_eq!(store.token_tenant("tk-2", T0).await.unwrap(), "tenant-b");
    assert_eq!(
        store.token_tenant("tk-3", T0 + hour).await.unwrap(),
        "tenant-a"
    );
    assert_conflict(
        store
            .insert_token("tk-3", &"tenant-b".into(), T0 + hour, T0 + 3 * hour)
            .await,
    );
}

pub(super) async fn a_tenants_signing_key_is_stored_once_and_goes_with_its_tenant(
    store: Arc<dyn Store>,
) {
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let key = |tenant_id: &str, kid: &str| SigningKeyRow {
        tenant_id: tenant_id.into(),
        kid: kid.into(),
        private_key_pem: format!("key {kid}"),
        certificate_pem: format!("certificate {kid}"),
        created_ms: T0,
    };
    assert_not_found(store.signing_key(&"tenant-a".into()).await);
    store
        .insert_signing_key(&key("tenant-a", "k1"))
        .await
        .unwrap();
    // Another replica's key, made at the same time: the first one stored stays.
    store
        .insert_signing_key(&key("tenant-a", "k2"))
        .await
        .unwrap();
    assert_eq!(
        store.signing_key(&"tenant-a".into()).await.unwrap(),
        key("tenant-a", "k1")
    );
    // No key without its tenant, and the key goes with it.
    assert!(store
        .insert_signing_key(&key("tenant-x", "k3"))
        .await
        .is_err());
    store.delete_tenant(&"tenant-a".into()).await.unwrap();
    assert_not_found(store.signing_key(&"tenant-a".into()).await);
}
