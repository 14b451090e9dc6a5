//! The operator API: tenants, releases, the clock, connector status and history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::IsoDuration;
use crate::http::convert;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Operator, TenantReader};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::registry::invalid;

fn clock_state(state: &AppState) -> wire::admin::ClockState {
    let mode = match state.registry.clock().mode() {
        crate::clock::ClockMode::Real => wire::admin::ClockMode::Real,
        crate::clock::ClockMode::Virtual => wire::admin::ClockMode::Virtual,
    };
    wire::admin::ClockState {
        now: state.registry.now(),
        mode,
    }
}

#[utoipa::path(
    get,
    path = "/admin/clock",
    tag = "operator",
    operation_id = "getClock",
    security(("operatorToken" = [])),
    responses(
        (status = 200, description = "The clock", body = wire::admin::ClockState),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn clock_get(
    _: Operator,
    State(state): State<AppState>,
) -> ApiJson<wire::admin::ClockState> {
    ApiJson(clock_state(&state))
}

#[utoipa::path(
    post,
    path = "/admin/clock",
    tag = "operator",
    operation_id = "changeClock",
    security(("operatorToken" = [])),
    request_body = wire::admin::ClockChange,
    responses(
        (status = 200, description = "The clock after the change", body = wire::admin::ClockState),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn clock_change(
    _: Operator,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::admin::ClockChange>,
) -> Result<ApiJson<wire::admin::ClockState>, ApiError> {
    let clock = state.registry.clock();
    match (body.set, body.advance) {
        (Some(set), None) => {
            let at = convert::instant("set", &set)?;
            clock
                .set(at)
                .map_err(crate::registry::RegistryError::from)?;
            state.registry.publish_clock(false).await?;
        }
        (None, Some(advance)) => {
            let by = IsoDuration::parse(&advance)
                .map_err(|e| invalid("InvalidDuration", format!("advance: {e}")))?;
            clock
                .advance(&by)
                .map_err(crate::registry::RegistryError::from)?;
            state.registry.publish_clock(false).await?;
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalidRequest",
                "give exactly one of `set` (RFC 3339) or `advance` (ISO 8601 duration)",
            ))
        }
    }
    Ok(ApiJson(clock_state(&state)))
}

/// `POST /admin/reset` (empty body, `{}`, `{"tenantId": …}` or `{"clock": …}`): removes every
/// tenant with everything it holds, the fault rules and the journal (or one tenant only), without
/// a restart. The releases and the operator token stay.
#[utoipa::path(
    post,
    path = "/admin/reset",
    tag = "operator",
    operation_id = "reset",
    security(("operatorToken" = [])),
    request_body(content = Option<wire::admin::Reset>, description = "Empty or `{}`: everything; `{\"tenantId\": …}`: one tenant; `{\"clock\": …}`: also set a virtual clock", content_type = "application/json"),
    responses(
        (status = 200, description = "What the reset removed", body = wire::admin::ResetDone),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn reset(
    _: Operator,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<ApiJson<wire::admin::ResetDone>, ApiError> {
    let body: wire::admin::Reset = if body.iter().all(u8::is_ascii_whitespace) {
        wire::admin::Reset {
            tenant_id: None,
            clock: None,
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalidRequest", format!("the reset body: {e}")))?
    };
    let clock = match &body.clock {
        Some(text) if body.tenant_id.is_none() => Some(convert::instant("clock", text)?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalidRequest",
                "clock: the clock is shared by every tenant; it can be set only when everything is reset (no tenantId)",
            ))
        }
        None => None,
    };
    let tenants_removed = state
        .registry
        .reset(body.tenant_id.as_deref(), clock)
        .await
        .map_err(|e| match (e, &body.tenant_id) {
            (crate::registry::RegistryError::NotFound(_), Some(id)) => {
                ApiError::not_found(format!("tenantId: tenant `{id}` not found"))
            }
            (e, _) => e.into(),
        })?;
    let (fault_rules_removed, journal_entries_removed) = if body.tenant_id.is_none() {
        (state.faults.clear(), state.journal.clear())
    } else {
        (0, 0)
    };
    Ok(ApiJson(wire::admin::ResetDone {
        tenants_removed,
        fault_rules_removed,
        journal_entries_removed,
        clock: state.registry.now(),
    }))
}

#[utoipa::path(
    post,
    path = "/admin/tenants",
    tag = "operator",
    operation_id = "createTenant",
    security(("operatorToken" = [])),
    request_body = wire::admin::CreateTenant,
    responses(
        (status = 201, description = "The tenant, with its secrets (shown only here)", body = wire::admin::Tenant),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn tenants_create(
    _: Operator,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::admin::CreateTenant>,
) -> Result<Response, ApiError> {
    let created = state
        .registry
        .create_tenant(&body.display_name, body.rollout_delay_days)
        .await?;
    let mut tenant = convert::tenant(&created.row);
    tenant.enrollment_secret = Some(created.enrollment_secret);
    tenant.client_secret = Some(created.client_secret);
    Ok((StatusCode::CREATED, ApiJson(tenant)).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/tenants",
    tag = "operator",
    operation_id = "listTenants",
    security(("operatorToken" = [])),
    responses(
        (status = 200, description = "Every tenant (without secrets)", body = wire::admin::Collection<wire::admin::Tenant>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn tenants_list(
    _: Operator,
    State(state): State<AppState>,
) -> Result<ApiJson<wire::admin::Collection<wire::admin::Tenant>>, ApiError> {
    let rows = state.registry.list_tenants().await?;
    Ok(ApiJson(wire::admin::Collection {
        value: rows.iter().map(convert::tenant).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}",
    tag = "operator",
    operation_id = "getTenant",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant (without secrets)", body = wire::admin::Tenant),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn tenants_get(
    reader: TenantReader,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> Result<ApiJson<wire::admin::Tenant>, ApiError> {
    reader.check(&tenant_id)?;
    Ok(ApiJson(convert::tenant(
        &state.registry.tenant(&tenant_id).await?,
    )))
}

#[utoipa::path(
    delete,
    path = "/admin/tenants/{tenant_id}",
    tag = "operator",
    operation_id = "deleteTenant",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 204, description = "The tenant and everything it held are gone"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn tenants_delete(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.delete_tenant(&tenant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/admin/tenants/{tenant_id}/import-key",
    tag = "operator",
    operation_id = "setImportKey",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    request_body = wire::admin::SetImportKey,
    responses(
        (status = 200, description = "The tenant with its import key", body = wire::admin::Tenant),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn tenants_set_import_key(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<wire::admin::SetImportKey>,
) -> Result<ApiJson<wire::admin::Tenant>, ApiError> {
    let thumbprint = convert::thumbprint(body.thumbprint.as_deref().unwrap_or_default())?;
    Ok(ApiJson(convert::tenant(
        &state
            .registry
            .set_import_key(&tenant_id, thumbprint)
            .await?,
    )))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/connectors",
    tag = "operator",
    operation_id = "listConnectors",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's connectors with their status", body = wire::admin::Collection<wire::admin::ConnectorView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_list(
    reader: TenantReader,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> Result<ApiJson<wire::admin::Collection<wire::admin::ConnectorView>>, ApiError> {
    reader.check(&tenant_id)?;
    let now = state.registry.now();
    let rows = state.registry.connectors_with_status(&tenant_id).await?;
    Ok(ApiJson(wire::admin::Collection {
        value: rows
            .iter()
            .map(|(row, ev)| convert::connector_view(row, ev, now))
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/connectors/{connector_id}",
    tag = "operator",
    operation_id = "getConnector",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("connector_id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector with its status", body = wire::admin::ConnectorView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_get(
    reader: TenantReader,
    State(state): State<AppState>,
    Path((tenant_id, connector_id)): Path<(String, String)>,
) -> Result<ApiJson<wire::admin::ConnectorView>, ApiError> {
    reader.check(&tenant_id)?;
    let (row, evaluation) = state
        .registry
        .connector_status(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(convert::connector_view(
        &row,
        &evaluation,
        state.registry.now(),
    )))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/connectors/{connector_id}/status",
    tag = "operator",
    operation_id = "getConnectorStatus",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("connector_id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector's status and its reasons with their dates", body = wire::admin::ConnectorStatus),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_status(
    reader: TenantReader,
    State(state): State<AppState>,
    Path((tenant_id, connector_id)): Path<(String, String)>,
) -> Result<ApiJson<wire::admin::ConnectorStatus>, ApiError> {
    reader.check(&tenant_id)?;
    let (row, evaluation) = state
        .registry
        .connector_status(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(convert::connector_status(
        row.id.as_str(),
        &evaluation,
    )))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/connectors/{connector_id}/history",
    tag = "operator",
    operation_id = "getConnectorHistory",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("connector_id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "Every status change at its instant", body = wire::admin::Collection<wire::admin::StatusChange>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connectors_history(
    reader: TenantReader,
    State(state): State<AppState>,
    Path((tenant_id, connector_id)): Path<(String, String)>,
) -> Result<ApiJson<wire::admin::Collection<wire::admin::StatusChange>>, ApiError> {
    reader.check(&tenant_id)?;
    let rows = state
        .registry
        .connector_history(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(wire::admin::Collection {
        value: rows.iter().map(convert::history).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/releases",
    tag = "operator",
    operation_id = "listReleases",
    security(("operatorToken" = [])),
    responses(
        (status = 200, description = "The release catalog, oldest first", body = wire::admin::Collection<wire::admin::Release>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn releases_list(
    _: Operator,
    State(state): State<AppState>,
) -> Result<ApiJson<wire::admin::Collection<wire::admin::Release>>, ApiError> {
    let catalog = state.registry.catalog().await?;
    let mut releases: Vec<_> = catalog.releases().to_vec();
    releases.sort_by_key(|r| (r.released, r.version));
    Ok(ApiJson(wire::admin::Collection {
        value: releases
            .iter()
            .map(|r| wire::admin::Release {
                version: r.version.to_string(),
                released_date_time: r.released,
                source: if r.shipped { "shipped" } else { "published" }.to_owned(),
            })
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/admin/releases",
    tag = "operator",
    operation_id = "publishRelease",
    security(("operatorToken" = [])),
    request_body = wire::admin::PublishRelease,
    responses(
        (status = 201, description = "The published release", body = wire::admin::Release),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn releases_publish(
    _: Operator,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::admin::PublishRelease>,
) -> Result<Response, ApiError> {
    let version = convert::version("version", &body.version)?;
    let released = convert::instant("releasedDateTime", &body.released_date_time)?;
    state.registry.publish_release(version, released).await?;
    let release = wire::admin::Release {
        version: version.to_string(),
        released_date_time: released,
        source: "published".to_owned(),
    };
    Ok((StatusCode::CREATED, ApiJson(release)).into_response())
}
