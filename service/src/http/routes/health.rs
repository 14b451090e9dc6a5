//! `/healthz`, `/readyz` and the JSON answers for unknown routes and methods.

use axum::http::{Method, StatusCode, Uri};

use crate::http::error::ApiError;
use crate::http::extract::ApiJson;

pub async fn healthz() -> ApiJson<serde_json::Value> {
    ApiJson(serde_json::json!({ "status": "alive" }))
}

/// The service is built only after migrations ran and the listener is bound, so answering at all
/// means ready.
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
