//! Rows and helpers the suite functions share: literal rows, the lease and completion calls they
//! repeat, and the assertions on errors.

use super::*;

/// 2023-11-14T22:13:20Z.
pub(super) const T0: i64 = 1_700_000_000_000;
pub(super) const MINUTE: i64 = 60_000;

pub(super) fn tenant(id: &str, created_ms: i64) -> TenantRow {
    TenantRow {
        id: id.into(),
        display_name: format!("Display {id}"),
        rollout_delay_days: 7,
        enrollment_secret_hash: format!("enroll-{id}"),
        client_id: format!("client-{id}"),
        client_secret_hash: format!("client-secret-{id}"),
        import_key_thumbprint: None,
        created_ms,
    }
}

pub(super) fn connector(
    tenant_id: &str,
    id: &str,
    machine: &str,
    enrolled_ms: i64,
) -> ConnectorRow {
    ConnectorRow {
        id: id.into(),
        tenant_id: tenant_id.into(),
        credential_hash: format!("cred-{id}"),
        display_name: format!("{machine} connector"),
        machine_name: machine.to_owned(),
        machine_key: machine.to_lowercase(),
        features: features("pkcs,scep"),
        version: "6.2406.0.1001".to_owned(),
        product: "certificate-connector".to_owned(),
        service_account: "SYSTEM".to_owned(),
        proxy: None,
        import_key_thumbprint: None,
        auto_update: true,
        co_installed: list(""),
        enrolled_ms,
        last_checkin_ms: None,
        reconciled_ms: enrolled_ms,
        last_status: "healthy".to_owned(),
        last_reasons: list(""),
        seq: 1,
        last_health_ms: None,
    }
}

pub(super) fn first_history(c: &ConnectorRow) -> HistoryRow {
    HistoryRow {
        connector_id: c.id.clone(),
        seq: 1,
        at_ms: c.enrolled_ms,
        status: "healthy".to_owned(),
        reasons: list(""),
    }
}

/// Inserts `c` (with its first history row) under the production limit of 100.
pub(super) async fn add_connector(store: &Arc<dyn Store>, c: &ConnectorRow) {
    store
        .insert_connector(c, &first_history(c), 100)
        .await
        .unwrap_or_else(|e| panic!("connector {} is stored: {e:?}", c.id));
}

pub(super) fn job(tenant_id: &str, id: &str, kind: &str, created_ms: i64) -> JobRow {
    JobRow {
        id: id.into(),
        tenant_id: tenant_id.into(),
        kind: JobKind::parse(kind).expect("a job kind"),
        state: JobState::Queued,
        payload: "{}".to_owned(),
        attempts: 0,
        max_attempts: 5,
        visible_ms: created_ms,
        lease_token_hash: None,
        lease_connector_id: None,
        lease_expires_ms: None,
        result: None,
        error_code: None,
        error_message: None,
        created_ms,
        completed_ms: None,
    }
}

/// A list column's items as the store's row has them: `text` split at its commas.
pub(super) fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A list column as it is stored (its items joined by commas).
pub(super) fn joined(items: &[String]) -> String {
    items.join(",")
}

/// A feature set written as it is stored (`pkcs,scep`).
pub(super) fn features(text: &str) -> FeatureSet {
    FeatureSet::parse(&list(text)).expect("known features")
}

/// Job kinds by their names.
pub(super) fn kinds_of(names: &[&str]) -> Vec<JobKind> {
    names
        .iter()
        .map(|n| JobKind::parse(n).expect("a job kind"))
        .collect()
}

pub(super) fn tokens(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Leases up to `token_hashes.len()` jobs of `kinds` for `connector_id` at `now_ms`, for 5 minutes.
pub(super) async fn lease(
    store: &Arc<dyn Store>,
    tenant_id: &str,
    connector_id: &str,
    kinds: &[&str],
    now_ms: i64,
    token_hashes: &[String],
) -> Vec<JobRow> {
    store
        .lease_jobs(&LeaseJobs {
            tenant_id: &tenant_id.into(),
            connector_id: &connector_id.into(),
            kinds: &kinds_of(kinds),
            now_ms,
            lease_expires_ms: now_ms + 5 * MINUTE,
            token_hashes,
            skip_missing_import_key: false,
            issuer_name: None,
        })
        .await
        .expect("the lease succeeds")
}

pub(super) fn ids(jobs: &[JobRow]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

pub(super) fn succeeded<'a>(job_id: &'a JobId, token_hash: &'a str, now_ms: i64) -> Completion<'a> {
    Completion {
        job_id,
        token_hash,
        now_ms,
        new_state: JobState::Succeeded,
        attempt_outcome: Outcome::Succeeded,
        visible_ms: now_ms,
        result: Some(r#"{"pfx":"AA=="}"#),
        error_code: None,
        error_message: None,
    }
}

pub(super) fn user_pfx(tenant_id: &str, id: &str, created_ms: i64) -> UserPfxRow {
    UserPfxRow {
        tenant_id: tenant_id.into(),
        id: id.to_owned(),
        user_principal_name: "user@contoso.com".to_owned(),
        thumbprint: "0a1b2c".to_owned(),
        intended_purpose: "smimeEncryption".to_owned(),
        padding_scheme: "oaepSha512".to_owned(),
        provider_name: "Microsoft Software Key Storage Provider".to_owned(),
        key_name: "PfxImportKey".to_owned(),
        encrypted_pfx_blob: "UEZY".to_owned(),
        encrypted_pfx_password: "cGFzcw==".to_owned(),
        start_ms: Some(T0),
        expiration_ms: None,
        created_ms,
        modified_ms: created_ms,
    }
}

pub(super) fn scep_challenge(tenant_id: &str, id: &str) -> ScepChallengeRow {
    ScepChallengeRow {
        tenant_id: tenant_id.into(),
        id: id.to_owned(),
        device_id: "device-0001".to_owned(),
        user_id: None,
        subject: "CN=device-0001".to_owned(),
        subject_alt_names: r#"[{"type":"dnsName","value":"device-0001.contoso.com"}]"#.to_owned(),
        key_usage: "digitalSignature,keyEncipherment".to_owned(),
        key_size: 2048,
        extended_key_usage: "1.3.6.1.5.5.7.3.2".to_owned(),
        issued_ms: T0,
        expires_ms: T0 + 60 * MINUTE,
        targeted: true,
        transaction_id: None,
        last_code: None,
        notification_kind: None,
        notification: None,
        notified_ms: None,
    }
}

/// An attempt's number, outcome, error code and end.
pub(super) type AttemptSummary = (i64, Option<String>, Option<String>, Option<i64>);

/// The error of `result`, which must have failed.
pub(super) fn error_of<T: std::fmt::Debug>(result: StoreResult<T>) -> StoreError {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(e) => e,
    }
}

pub(super) fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>) {
    let e = error_of(result);
    assert!(
        matches!(e, StoreError::NotFound),
        "expected NotFound: {e:?}"
    );
}

pub(super) fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>) {
    let e = error_of(result);
    assert!(
        matches!(e, StoreError::Conflict(_)),
        "expected Conflict: {e:?}"
    );
}
