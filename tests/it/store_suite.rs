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
//!
//! This file holds the backends (the macro that runs each suite function on both, and the
//! PostgreSQL databases per test); the suite functions are in `store_suite/`, one file per
//! subject, with the rows they share in `store_suite/rows.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use service::domain::jobs::AttemptEnd;
use service::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome};
use service::store::{
    AttemptRow, Completion, ConnectorRow, DeviceKeyRow, EnqueueKeyRow, HealthWrite, HistoryRow,
    JobRow, JobStat, LeaseJobs, PgStore, Reconciled, ReleaseRow, ScepChallengeRow, SigningKeyRow,
    SqliteStore, Store, StoreError, StoreResult, TenantRow, UserPfxRow,
};
use sqlx::{Connection, PgConnection};

mod clock_figures;
mod completion;
mod connectors;
mod corrupt;
mod history;
mod memory;
mod migrations;
mod pfx_scep_tokens;
mod queue;
mod replicas;
mod rows;
mod tenants;

// The suite functions, for the backends below, and the shared rows, for every subject.
use clock_figures::*;
use completion::*;
use connectors::*;
use history::*;
use pfx_scep_tokens::*;
use queue::*;
use rows::*;
use tenants::*;

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
    device_keys_are_written_with_their_jobs_and_go_with_them,
    user_pfx_certificates_are_upserted_listed_and_deleted,
    scep_secrets_challenges_validations_and_notifications,
    tokens_name_their_tenant_until_they_expire,
    a_tenants_signing_key_is_stored_once_and_goes_with_its_tenant,
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
