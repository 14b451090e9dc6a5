//! The connector API: register with the enrollment secret, then check in, reconfigure and
//! uninstall with the connector's own credential.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::lifecycle::Operation;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ConnectorCaller, Enrollment};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::http::{convert, render};

#[utoipa::path(
    post,
    path = "/connector/v1/register",
    tag = "connector",
    operation_id = "registerConnector",
    security(("enrollmentSecret" = [])),
    request_body = wire::connector::RegisterRequest,
    responses(
        (status = 201, description = "The connector's id and its own credential (shown only here)", body = wire::connector::RegisterResponse),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_register(
    Enrollment(tenant): Enrollment,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::connector::RegisterRequest>,
) -> Result<Response, ApiError> {
    let new = convert::register(body)?;
    let registered = state.ops.connectors().register(&tenant, new).await?;
    let body = wire::connector::RegisterResponse {
        connector_id: registered.connector.id.into_string(),
        credential: registered.credential,
    };
    Ok((StatusCode::CREATED, ApiJson(body)).into_response())
}

#[utoipa::path(
    post,
    path = "/connector/v1/checkin",
    tag = "connector",
    operation_id = "checkin",
    security(("connectorCredential" = [])),
    request_body = wire::connector::CheckinRequest,
    responses(
        (status = 200, description = "The check-in is recorded", body = wire::connector::CheckinResponse),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_checkin(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::connector::CheckinRequest>,
) -> Result<ApiJson<wire::connector::CheckinResponse>, ApiError> {
    let version = convert::version("version", &body.version)?;
    state
        .ops
        .connectors()
        .checkin(&connector, version, body.active_since)
        .await?;
    Ok(ApiJson(wire::connector::CheckinResponse {
        connector_id: connector.id.into_string(),
        server_date_time: state.ops.now(),
    }))
}

#[utoipa::path(
    get,
    path = "/connector/v1/self",
    tag = "connector",
    operation_id = "getSelf",
    security(("connectorCredential" = [])),
    responses(
        (status = 200, description = "The calling connector with its status", body = wire::admin::ConnectorView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn self_get(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
) -> Result<ApiJson<wire::admin::ConnectorView>, ApiError> {
    let connectors = state.ops.connectors();
    connectors
        .gate(connector.facts.version, Operation::Checkin)
        .await?;
    let c = connectors
        .status(&connector.tenant_id, &connector.id)
        .await?;
    Ok(ApiJson(render::connector_view(
        &c.connector,
        &c.evaluation,
        state.ops.now(),
    )))
}

#[utoipa::path(
    patch,
    path = "/connector/v1/self",
    tag = "connector",
    operation_id = "reconfigureSelf",
    security(("connectorCredential" = [])),
    request_body = wire::connector::ReconfigureRequest,
    responses(
        (status = 200, description = "The connector as reconfigured", body = wire::admin::ConnectorView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn self_reconfigure(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::connector::ReconfigureRequest>,
) -> Result<ApiJson<wire::admin::ConnectorView>, ApiError> {
    let change = convert::reconfigure(body)?;
    let connectors = state.ops.connectors();
    let updated = connectors.reconfigure(&connector, change).await?;
    let c = connectors.status(&updated.tenant_id, &updated.id).await?;
    Ok(ApiJson(render::connector_view(
        &c.connector,
        &c.evaluation,
        state.ops.now(),
    )))
}

/// Uninstall works at any version: it is how a retired connector is replaced.
#[utoipa::path(
    delete,
    path = "/connector/v1/self",
    tag = "connector",
    operation_id = "uninstallSelf",
    security(("connectorCredential" = [])),
    responses(
        (status = 204, description = "The connector is uninstalled; its credential stops working"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn self_uninstall(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state.ops.connectors().uninstall(&connector).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /autoupdate/v1/latest`: the auto-update service (the docs' autoupdate.msappproxy.net).
#[utoipa::path(
    get,
    path = "/autoupdate/v1/latest",
    tag = "connector",
    operation_id = "latestUpdate",
    security(("connectorCredential" = [])),
    responses(
        (status = 200, description = "The version the connector may install now", body = wire::connector::UpdateInfo),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn update_latest(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
) -> Result<ApiJson<wire::connector::UpdateInfo>, ApiError> {
    let offer = state.ops.connectors().update_offer(&connector).await?;
    let latest = offer.latest;
    Ok(ApiJson(wire::connector::UpdateInfo {
        current_version: offer.current.to_string(),
        latest_version: latest.map(|o| o.version.to_string()),
        update_available: latest.is_some_and(|o| o.version > offer.current),
        release_date_time: latest.map(|o| o.released),
        available_date_time: latest.map(|o| o.available),
    }))
}

/// `POST /connector/v1/health`: a health message (also a check-in).
#[utoipa::path(
    post,
    path = "/connector/v1/health",
    tag = "connector",
    operation_id = "uploadHealth",
    security(("connectorCredential" = [])),
    request_body = wire::connector::HealthMessage,
    responses(
        (status = 204, description = "The health message is recorded (a check-in too)"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn health_upload(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::connector::HealthMessage>,
) -> Result<StatusCode, ApiError> {
    let version = convert::version("version", &body.version)?;
    if let Some(unknown) = body
        .features
        .iter()
        .find(|f| crate::domain::Feature::parse(f).is_err())
    {
        return Err(ApiError::bad_request(
            "UnknownFeature",
            format!("features: `{unknown}` is not pkcs, pkcs_import, scep or revocation"),
        ));
    }
    if body.counters.len() > 64 {
        return Err(ApiError::bad_request(
            "InvalidField",
            "counters holds at most 64 entries",
        ));
    }
    if let Some(name) = body.counters.keys().find(|k| k.is_empty() || k.len() > 64) {
        return Err(ApiError::bad_request(
            "InvalidField",
            format!("counters: name `{name}` must hold 1 to 64 characters"),
        ));
    }
    let text = serde_json::to_string(&body).unwrap_or_default();
    state
        .ops
        .connectors()
        .record_health(
            &connector,
            version,
            body.active_since,
            body.uploading_since,
            &text,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
