//! The store suite: every `Store` method, checked with literal expected values by test functions
//! written once against `Arc<dyn Store>` and run against both backends, as `sqlite::<name>` (a
//! file in a temporary directory) and `postgres::<name>` (a fresh database per test).
//!
//! PostgreSQL tests need `DATABASE_URL=postgres://USER:PASSWORD@HOST/DATABASE`, a database where
//! that user may `CREATE DATABASE` (`.ci/run` starts PostgreSQL and sets it). Each test creates its
//! own database with a unique name and drops it at the end, even when the test fails, so tests run
//! in parallel. Without `DATABASE_URL` they pass after saying why they did not run, except when
//! `CI` is set: there they fail, so CI cannot skip them silently.
//!
//! PostgreSQL also gets what only it promises: two stores (two pools, as two replicas) leasing
//! 2,000 jobs at once never lease one job twice and lose none, and registrations racing through
//! two stores never pass the connector limit or put two connectors on one machine. A last test
//! runs two services over HTTP on one database.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use service::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome};
use service::store::{
    AttemptOutcome, AttemptRow, Completion, ConnectorRow, HealthWrite, HistoryRow, JobRow, JobStat,
    LeaseJobs, PgStore, Reconciled, ReleaseRow, ScepChallengeRow, SqliteStore, Store, StoreError,
    StoreResult, TenantRow, UserPfxRow,
};
use sqlx::{Connection, PgConnection};

// ----- backends -----------------------------------------------------------------------------

/// Runs each named suite function against SQLite (`sqlite::<name>`) and PostgreSQL
/// (`postgres::<name>`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$name(store).await;
                }
            )*
        }

        mod postgres {
            use std::sync::Arc;
            $(
                #[tokio::test]
                async fn $name() {
                    super::on_fresh_pg_database(|url| async move {
                        let store = super::pg_store(&url).await;
                        super::$name(Arc::new(store.clone())).await;
                        store.close().await;
                    })
                    .await;
                }
            )*
        }
    };
}

on_both_backends!(
    tenants_are_listed_in_creation_order_and_found_by_id_and_secrets,
    deleting_a_tenant_removes_everything_it_owns_and_nothing_else,
    the_connector_limit_counts_per_tenant_and_a_refusal_stores_nothing,
    a_machine_has_one_connector_per_tenant_whatever_the_case_of_its_name,
    connectors_are_found_by_credential_and_listed_in_enrolment_order,
    updating_a_connector_writes_its_mutable_fields_only,
    a_read_after_each_write_sees_the_write,
    a_connector_read_after_a_write_has_the_written_columns_and_keeps_the_others,
    a_presence_writes_the_row_the_reconciliation_and_the_health_message,
    connector_versions_are_distinct_per_tenant_in_text_order,
    reconciliation_appends_history_and_moves_each_mark_forward_once,
    deleting_a_connector_keeps_its_history_and_drops_its_health,
    health_messages_are_replaced_by_instant_trimmed_and_listed_oldest_first,
    releases_are_listed_by_release_date_then_version,
    jobs_are_listed_and_counted_in_enqueue_order_with_filters,
    a_lease_takes_ready_jobs_of_its_kinds_oldest_first_up_to_its_max,
    a_lease_passes_over_jobs_handed_back_for_the_import_key_and_filters_by_issuer,
    an_expired_lease_puts_the_job_back_with_its_attempt_counted,
    the_fifth_expired_lease_sends_the_job_to_dead_letter,
    completing_applies_only_with_the_current_token_and_only_once,
    a_batch_of_completions_applies_exactly_those_with_a_current_token,
    cancelling_ends_open_jobs_and_their_leases,
    releasing_a_connectors_leases_queues_its_jobs_at_once,
    the_next_job_deadline_is_the_earliest_expiry_or_backoff_end,
    a_tenant_has_queued_jobs_until_its_queue_runs_dry,
    user_pfx_certificates_are_upserted_listed_and_deleted,
    scep_secrets_challenges_validations_and_notifications,
    tokens_name_their_tenant_until_they_expire,
    the_virtual_clock_is_stored_and_only_a_reset_moves_it_back,
    job_figures_count_every_tenant_by_kind_state_and_outcome,
);

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url)
        .await
        .expect("the SQLite store opens");
    (Arc::new(store), dir)
}

async fn pg_store(url: &str) -> PgStore {
    PgStore::open(url)
        .await
        .expect("the PostgreSQL store opens and migrates")
}

/// `DATABASE_URL` when it names a PostgreSQL server; `None` when a person asked to skip the
/// PostgreSQL tests (`INTUNE_MOCK_SKIP=postgres`: recorded as skipped). Without a server the test
/// fails, saying what to install and set (tests/run starts a private PostgreSQL and sets it).
fn pg_admin_url() -> Option<String> {
    use crate::support::{missing, skip_requested, Need};
    if skip_requested(Need::Postgres) {
        return None;
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Some(url);
    }
    if url.is_empty() {
        missing(Need::Postgres, "DATABASE_URL is not set")
    }
    missing(
        Need::Postgres,
        &format!(
            "DATABASE_URL `{}` is not a postgres:// URL",
            service::startup::redact_database_url(&url)
        ),
    )
}

/// `admin_url` pointing at database `name` instead (same server, user, password and options).
fn url_for_database(admin_url: &str, name: &str) -> String {
    let authority_start = admin_url.find("://").expect("a URL with a scheme") + 3;
    let path_start = admin_url[authority_start..]
        .find(['/', '?'])
        .map_or(admin_url.len(), |i| authority_start + i);
    let rest = &admin_url[path_start..];
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    format!("{}/{name}{query}", &admin_url[..path_start])
}

/// Creates a database with a unique name on the `DATABASE_URL` server, runs `test` with its URL,
/// and drops the database (closing any connection still open) whether `test` passed or panicked.
pub(crate) async fn on_fresh_pg_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    static N_DATABASES: AtomicU32 = AtomicU32::new(0);
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    #[allow(clippy::disallowed_methods)] // Only to keep database names of separate runs apart.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system clock is after 1970")
        .subsec_nanos();
    let name = format!(
        "intune_mock_test_{}_{}_{nanos}",
        std::process::id(),
        N_DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "cannot connect to DATABASE_URL `{}`: {e}",
            service::startup::redact_database_url(&admin_url)
        )
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    // In its own task so that a failing assertion comes back here as a JoinError.
    let outcome = tokio::spawn(test(url_for_database(&admin_url, &name))).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot drop the test database {name}: {e}"));
    let _ = admin.close().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the test task did not finish: {e}"),
        }
    }
}

// ----- rows ---------------------------------------------------------------------------------

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

fn tenant(id: &str, created_ms: i64) -> TenantRow {
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

fn connector(tenant_id: &str, id: &str, machine: &str, enrolled_ms: i64) -> ConnectorRow {
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

fn first_history(c: &ConnectorRow) -> HistoryRow {
    HistoryRow {
        connector_id: c.id.clone(),
        seq: 1,
        at_ms: c.enrolled_ms,
        status: "healthy".to_owned(),
        reasons: list(""),
    }
}

/// Inserts `c` (with its first history row) under the production limit of 100.
async fn add_connector(store: &Arc<dyn Store>, c: &ConnectorRow) {
    store
        .insert_connector(c, &first_history(c), 100)
        .await
        .unwrap_or_else(|e| panic!("connector {} is stored: {e:?}", c.id));
}

fn job(tenant_id: &str, id: &str, kind: &str, created_ms: i64) -> JobRow {
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
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A list column as it is stored (its items joined by commas).
fn joined(items: &[String]) -> String {
    items.join(",")
}

/// A feature set written as it is stored (`pkcs,scep`).
fn features(text: &str) -> FeatureSet {
    FeatureSet::parse(&list(text)).expect("known features")
}

/// Job kinds by their names.
fn kinds_of(names: &[&str]) -> Vec<JobKind> {
    names
        .iter()
        .map(|n| JobKind::parse(n).expect("a job kind"))
        .collect()
}

fn tokens(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Leases up to `token_hashes.len()` jobs of `kinds` for `connector_id` at `now_ms`, for 5 minutes.
async fn lease(
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

fn ids(jobs: &[JobRow]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

fn succeeded<'a>(job_id: &'a JobId, token_hash: &'a str, now_ms: i64) -> Completion<'a> {
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

fn user_pfx(tenant_id: &str, id: &str, created_ms: i64) -> UserPfxRow {
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

fn scep_challenge(tenant_id: &str, id: &str) -> ScepChallengeRow {
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
type AttemptEnd = (i64, Option<String>, Option<String>, Option<i64>);

/// The error of `result`, which must have failed.
fn error_of<T: std::fmt::Debug>(result: StoreResult<T>) -> StoreError {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(e) => e,
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>) {
    let e = error_of(result);
    assert!(
        matches!(e, StoreError::NotFound),
        "expected NotFound: {e:?}"
    );
}

fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>) {
    let e = error_of(result);
    assert!(
        matches!(e, StoreError::Conflict(_)),
        "expected Conflict: {e:?}"
    );
}

// ----- tenants ------------------------------------------------------------------------------

async fn tenants_are_listed_in_creation_order_and_found_by_id_and_secrets(store: Arc<dyn Store>) {
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

async fn deleting_a_tenant_removes_everything_it_owns_and_nothing_else(store: Arc<dyn Store>) {
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

// ----- connectors ---------------------------------------------------------------------------

async fn the_connector_limit_counts_per_tenant_and_a_refusal_stores_nothing(store: Arc<dyn Store>) {
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

async fn a_machine_has_one_connector_per_tenant_whatever_the_case_of_its_name(
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

async fn connectors_are_found_by_credential_and_listed_in_enrolment_order(store: Arc<dyn Store>) {
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

async fn a_presence_writes_the_row_the_reconciliation_and_the_health_message(
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

async fn connector_versions_are_distinct_per_tenant_in_text_order(store: Arc<dyn Store>) {
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
async fn a_read_after_each_write_sees_the_write(store: Arc<dyn Store>) {
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

async fn a_connector_read_after_a_write_has_the_written_columns_and_keeps_the_others(
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

async fn updating_a_connector_writes_its_mutable_fields_only(store: Arc<dyn Store>) {
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

async fn reconciliation_appends_history_and_moves_each_mark_forward_once(store: Arc<dyn Store>) {
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

async fn deleting_a_connector_keeps_its_history_and_drops_its_health(store: Arc<dyn Store>) {
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

async fn health_messages_are_replaced_by_instant_trimmed_and_listed_oldest_first(
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

async fn releases_are_listed_by_release_date_then_version(store: Arc<dyn Store>) {
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

// ----- jobs ---------------------------------------------------------------------------------

async fn jobs_are_listed_and_counted_in_enqueue_order_with_filters(store: Arc<dyn Store>) {
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

async fn a_lease_takes_ready_jobs_of_its_kinds_oldest_first_up_to_its_max(store: Arc<dyn Store>) {
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

async fn a_lease_passes_over_jobs_handed_back_for_the_import_key_and_filters_by_issuer(
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

async fn an_expired_lease_puts_the_job_back_with_its_attempt_counted(store: Arc<dyn Store>) {
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

async fn the_fifth_expired_lease_sends_the_job_to_dead_letter(store: Arc<dyn Store>) {
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

async fn a_batch_of_completions_applies_exactly_those_with_a_current_token(store: Arc<dyn Store>) {
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

async fn completing_applies_only_with_the_current_token_and_only_once(store: Arc<dyn Store>) {
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
            outcome: Some(AttemptOutcome::Succeeded),
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
    let outcomes: Vec<AttemptEnd> = store
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

async fn cancelling_ends_open_jobs_and_their_leases(store: Arc<dyn Store>) {
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

async fn releasing_a_connectors_leases_queues_its_jobs_at_once(store: Arc<dyn Store>) {
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

async fn the_next_job_deadline_is_the_earliest_expiry_or_backoff_end(store: Arc<dyn Store>) {
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

async fn a_tenant_has_queued_jobs_until_its_queue_runs_dry(store: Arc<dyn Store>) {
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

// ----- user PFX, SCEP, tokens ---------------------------------------------------------------

async fn user_pfx_certificates_are_upserted_listed_and_deleted(store: Arc<dyn Store>) {
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

async fn scep_secrets_challenges_validations_and_notifications(store: Arc<dyn Store>) {
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

async fn tokens_name_their_tenant_until_they_expire(store: Arc<dyn Store>) {
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

// ----- stored values that do not parse ------------------------------------------------------

/// A raw connection to a store's database, to write what the store itself never would.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(PgConnection),
}

impl Raw {
    async fn execute(&mut self, sql: &str) {
        let done = match self {
            Raw::Sqlite(conn) => sqlx::query(sql)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(conn) => sqlx::query(sql)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()),
        };
        assert_eq!(done.unwrap_or_else(|e| panic!("{sql}: {e}")), 1, "{sql}");
    }
}

#[tokio::test]
async fn sqlite_a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url)
        .await
        .expect("the SQLite store opens");
    let raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
        Arc::new(store),
        Raw::Sqlite(raw),
    )
    .await;
}

#[tokio::test]
async fn postgres_a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it() {
    on_fresh_pg_database(|url| async move {
        let store = pg_store(&url).await;
        let raw = PgConnection::connect(&url).await.unwrap();
        a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
            Arc::new(store.clone()),
            Raw::Postgres(raw),
        )
        .await;
        store.close().await;
    })
    .await;
}

/// The stored text of a job kind, a connector's features and an attempt's outcome is parsed on
/// every read: a value the domain does not know is `Corrupt`, naming the value (and, where the
/// driver reports it, the column), on every read that meets it.
async fn a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
    store: Arc<dyn Store>,
    mut raw: Raw,
) {
    let corrupt = |what: &str, result: Result<String, StoreError>, words: &[&str]| match result {
        Err(StoreError::Corrupt(message)) => {
            for word in words {
                assert!(
                    message.contains(word),
                    "{what}: `{word}` not in `{message}`"
                );
            }
        }
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    };
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let c = connector("tenant-a", "c1", "HOST-1", T0);
    add_connector(&store, &c).await;
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "revoke", T0),
        ])
        .await
        .unwrap();
    lease(&store, "tenant-a", "c1", &["revoke"], T0, &tokens(&["t2"])).await;
    store
        .complete_job(&succeeded(&"j2".into(), "t2", T0 + 1))
        .await
        .unwrap();

    raw.execute("UPDATE jobs SET kind = 'pkcs_bogus' WHERE id = 'j1'")
        .await;
    raw.execute("UPDATE connectors SET features = 'pkcs,telepathy' WHERE id = 'c1'")
        .await;
    raw.execute("UPDATE job_attempts SET outcome = 'vanished' WHERE job_id = 'j2'")
        .await;

    let (t, j1) = (&"tenant-a".into(), &"j1".into());
    fn debug<T: std::fmt::Debug>(result: StoreResult<T>) -> StoreResult<String> {
        result.map(|v| format!("{v:?}"))
    }
    corrupt(
        "get_job",
        debug(store.get_job(t, j1).await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "get_jobs",
        debug(store.get_jobs(t, &[j1]).await),
        &["pkcs_bogus"],
    );
    corrupt(
        "list_jobs",
        debug(store.list_jobs(t, None, None, -1, 0).await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "job_stats",
        debug(store.job_stats().await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "get_connector",
        debug(store.get_connector(t, &"c1".into()).await),
        &["features", "telepathy"],
    );
    corrupt(
        "connector_by_credential",
        debug(store.connector_by_credential("cred-c1").await),
        &["features", "telepathy"],
    );
    corrupt(
        "job_attempts",
        debug(store.job_attempts(&"j2".into()).await),
        &["outcome", "vanished"],
    );
    corrupt(
        "attempt_outcomes",
        debug(store.attempt_outcomes().await),
        &["vanished"],
    );
    // What parses is read as before.
    assert_eq!(
        store.get_job(t, &"j2".into()).await.unwrap().state.as_str(),
        "succeeded"
    );
}

// ----- PostgreSQL only: several replicas on one database ------------------------------------

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

async fn the_virtual_clock_is_stored_and_only_a_reset_moves_it_back(store: Arc<dyn Store>) {
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

async fn job_figures_count_every_tenant_by_kind_state_and_outcome(store: Arc<dyn Store>) {
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
        vec![(AttemptOutcome::Expired, 1)]
    );
}

/// An in-memory database lives in SQLite's `memdb` VFS, whose size limit is 1 GiB unless SQLite is
/// built with another (`.cargo/config.toml`): past it every write would fail with "database or
/// disk is full". 1,100 health messages of 1 MiB each take it past 1 GiB, and every one is kept.
#[tokio::test]
async fn an_in_memory_database_grows_past_one_gib() {
    let store = SqliteStore::open("sqlite::memory:")
        .await
        .expect("the in-memory store opens");
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let body = "x".repeat(1 << 20);
    for i in 0..1_100 {
        store
            .insert_health(&"tenant-a".into(), &"c1".into(), T0 + i, &body, 0)
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let kept = store
        .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1_100);
    assert!(kept.iter().all(|(_, b)| b.len() == 1 << 20));
}
