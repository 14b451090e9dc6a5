//! The HTTP surface: the only code that knows axum and status codes.
//!
//! `router(state)` is the testable unit. Every response passes through `error::envelope`, which
//! echoes `client-request-id`, sets `request-id`, and turns an `ApiError` into the Graph error
//! envelope with those ids.

pub mod closed_sets;
pub mod convert;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod render;
mod routes;
pub mod state;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use state::AppState;

/// Largest request body accepted (413 above it).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    use routes::{faults, health, web};
    let router = service_routes(Router::new());
    let router = operator_routes(router);
    let router = connector_routes(router);
    let router = scep_routes(router);
    let router = jobs_routes(router);
    graph_routes(router)
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::clock_sync,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::envelope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::journal,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::track,
        ))
        // The operator's web page: outside the API's middleware (see `routes::web`).
        .route("/", get(web::page_show).post(web::page_sign_in))
        .with_state(state)
}

/// Probes, metrics, the OpenAPI document, fault rules and the request journal.
fn service_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::{faults, health};
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/admin/faults",
            get(faults::list).post(faults::create).delete(faults::clear),
        )
        .route("/admin/faults/{id}", axum::routing::delete(faults::remove))
        .route("/admin/journal", get(faults::journal_list))
}

/// The operator API: reset, the clock, tenants, connectors' status and history, releases.
fn operator_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::admin;
    router
        .route("/admin/reset", post(admin::reset))
        .route(
            "/admin/clock",
            get(admin::clock_get).post(admin::clock_change),
        )
        .route(
            "/admin/tenants",
            get(admin::tenants_list).post(admin::tenants_create),
        )
        .route(
            "/admin/tenants/{tenant_id}",
            get(admin::tenants_get).delete(admin::tenants_delete),
        )
        .route(
            "/admin/tenants/{tenant_id}/import-key",
            axum::routing::put(admin::tenants_set_import_key),
        )
        .route(
            "/admin/tenants/{tenant_id}/connectors",
            get(admin::connectors_list),
        )
        .route(
            "/admin/tenants/{tenant_id}/connectors/{connector_id}",
            get(admin::connectors_get),
        )
        .route(
            "/admin/tenants/{tenant_id}/connectors/{connector_id}/status",
            get(admin::connectors_status),
        )
        .route(
            "/admin/tenants/{tenant_id}/connectors/{connector_id}/history",
            get(admin::connectors_history),
        )
        .route(
            "/admin/releases",
            get(admin::releases_list).post(admin::releases_publish),
        )
}

/// The connector API: registration, check-in, health, self-service and auto-update.
fn connector_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::connector;
    router
        .route(
            "/connector/v1/register",
            post(connector::connectors_register),
        )
        .route("/connector/v1/checkin", post(connector::connectors_checkin))
        .route("/autoupdate/v1/latest", get(connector::update_latest))
        .route("/connector/v1/health", post(connector::health_upload))
        .route(
            "/connector/v1/self",
            get(connector::self_get)
                .patch(connector::self_reconfigure)
                .delete(connector::self_uninstall),
        )
}

/// The Intune FE surface for SCEP and third-party CAs, and the operator's SCEP challenges.
fn scep_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::{pki, scep};
    router
        .route(
            &format!(
                "{}/ScepActions/validateRequest",
                wire::scep::SCEP_SERVICE_PATH
            ),
            post(scep::validate_request),
        )
        .route(
            &format!(
                "{}/ScepActions/successNotification",
                wire::scep::SCEP_SERVICE_PATH
            ),
            post(scep::success_notification),
        )
        .route(
            &format!(
                "{}/ScepActions/failureNotification",
                wire::scep::SCEP_SERVICE_PATH
            ),
            post(scep::failure_notification),
        )
        .route(
            &format!(
                "{}/CertificateAuthorityRequests/downloadRevocationRequests",
                wire::scep::PKI_SERVICE_PATH
            ),
            post(pki::download),
        )
        .route(
            &format!(
                "{}/CertificateAuthorityRequests/uploadRevocationResults",
                wire::scep::PKI_SERVICE_PATH
            ),
            post(pki::upload),
        )
        .route(
            "/v1.0/servicePrincipals/{key}/endpoints",
            get(scep::discovery),
        )
        .route(
            "/admin/tenants/{tenant_id}/scep/challenges",
            post(scep::challenges_create),
        )
        .route(
            "/admin/tenants/{tenant_id}/scep/challenges/{id}",
            get(scep::challenges_get).delete(scep::challenges_untarget),
        )
}

/// Request queues: the operator's side and the connectors' lease and completion.
fn jobs_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::jobs;
    router
        .route("/connector/v1/jobs/lease", post(jobs::jobs_lease))
        .route(
            "/connector/v1/jobs/complete",
            post(jobs::jobs_complete_batch),
        )
        .route(
            "/connector/v1/jobs/{job_id}/complete",
            post(jobs::jobs_complete),
        )
        .route(
            "/admin/tenants/{tenant_id}/jobs",
            get(jobs::jobs_list).post(jobs::jobs_enqueue),
        )
        .route(
            "/admin/tenants/{tenant_id}/jobs/{job_id}",
            get(jobs::jobs_get),
        )
        .route(
            "/admin/tenants/{tenant_id}/jobs/{job_id}/cancel",
            post(jobs::jobs_cancel),
        )
        .route(
            "/admin/tenants/{tenant_id}/jobs/{job_id}/device-key",
            get(jobs::jobs_device_key),
        )
}

/// The Graph surface, its token endpoint and the tenants' OpenID discovery.
fn graph_routes(router: Router<AppState>) -> Router<AppState> {
    use routes::{graph, identity, pfx, token};
    router
        .route("/{tenant_id}/oauth2/v2.0/token", post(token::token_issue))
        .route(
            "/{tenant_id}/v2.0/.well-known/openid-configuration",
            get(identity::openid_configuration),
        )
        .route(
            "/{tenant_id}/discovery/v2.0/keys",
            get(identity::signing_keys),
        )
        .route(
            "/beta/deviceManagement/ndesConnectors",
            get(graph::ndes_list),
        )
        .route(
            "/beta/deviceManagement/ndesConnectors/{id}",
            get(graph::ndes_get),
        )
        .route(
            "/beta/deviceManagement/certificateConnectorDetails",
            get(graph::details_list),
        )
        .route(
            "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetrics",
            post(graph::details_health_metrics),
        )
        .route(
            "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetricTimeSeries",
            post(graph::details_health_time_series),
        )
        .route(
            "/beta/deviceManagement/connectorStatus",
            get(graph::connector_status),
        )
        .route(
            "/beta/deviceManagement/certificateConnectorDetails/{id}",
            get(graph::details_get),
        )
        .route(
            "/beta/deviceManagement/userPfxCertificates",
            get(pfx::pfx_list).post(pfx::pfx_create),
        )
        .route(
            "/beta/deviceManagement/userPfxCertificates/{id}",
            get(pfx::pfx_get)
                .patch(pfx::pfx_patch)
                .delete(pfx::pfx_delete),
        )
        .route(
            "/beta/deviceManagement/{keyed}",
            get(pfx::pfx_keyed_get)
                .patch(pfx::pfx_keyed_patch)
                .delete(pfx::pfx_keyed_delete),
        )
}
