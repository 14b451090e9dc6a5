//! `/healthz`, `/readyz` and the JSON answers for unknown routes and methods.

use axum::http::{Method, StatusCode, Uri};

use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::openapi as doc;

/// `GET /metrics` (no credential: the figures name no tenant): Prometheus / OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Request, SCEP, job, queue and connector figures", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 400, response = doc::BadRequest),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<crate::http::state::AppState>,
) -> Result<axum::response::Response, crate::http::error::ApiError> {
    use axum::response::IntoResponse;
    let text = state.metrics.render(&state.ops).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Counts every answered request by method, matched route template and status, with its
/// latency.
pub async fn track(
    axum::extract::State(state): axum::extract::State<crate::http::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The service is alive", body = doc::Probe, example = json!({"status": "alive"})),
        (status = 400, response = doc::BadRequest),
    )
)]
pub async fn healthz() -> ApiJson<serde_json::Value> {
    ApiJson(serde_json::json!({ "status": "alive" }))
}

/// The service is built only after migrations ran and the listener is bound, so answering at all
/// means ready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    operation_id = "readyz",
    responses(
        (status = 200, description = "The service is ready", body = doc::Probe, example = json!({"status": "ready"})),
        (status = 400, response = doc::BadRequest),
    )
)]
pub async fn readyz() -> ApiJson<serde_json::Value> {
    ApiJson(serde_json::json!({ "status": "ready" }))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "methodNotAllowed",
        format!("{} is not allowed on {}", method, uri.path()),
    )
}
