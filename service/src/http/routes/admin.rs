//! The operator API: tenants, releases, the clock, connector status and history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::{ConnectorId, IsoDuration, TenantId};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Operator, TenantReader};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::http::{convert, render};
use crate::ops::invalid;

fn clock_state(state: &AppState) -> wire::admin::ClockState {
    let mode = match state.ops.time().mode() {
        crate::clock::ClockMode::Real => wire::admin::ClockMode::Real,
        crate::clock::ClockMode::Virtual => wire::admin::ClockMode::Virtual,
    };
    wire::admin::ClockState {
        now: state.ops.now(),
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
    let time = state.ops.time();
    match (body.set, body.advance) {
        (Some(set), None) => {
            let at = convert::instant("set", &set)?;
            time.set(at).await?;
        }
        (None, Some(advance)) => {
            let by = IsoDuration::parse(&advance)
                .map_err(|e| invalid("InvalidDuration", format!("advance: {e}")))?;
            time.advance(&by).await?;
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
    let tenant_id = body.tenant_id.as_deref().map(TenantId::from);
    let tenants_removed = state
        .ops
        .tenants()
        .reset(tenant_id.as_ref(), clock)
        .await
        .map_err(|e| match (e, &body.tenant_id) {
            (crate::ops::OpsError::NotFound(_), Some(id)) => {
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
        clock: state.ops.now(),
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
        .ops
        .tenants()
        .create(&body.display_name, body.rollout_delay_days)
        .await?;
    let mut tenant = render::tenant(&created.tenant);
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
    let tenants = state.ops.tenants().list().await?;
    Ok(ApiJson(wire::admin::Collection {
        value: tenants.iter().map(render::tenant).collect(),
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
    let tenant_id = TenantId::from(tenant_id);
    reader.check(&tenant_id)?;
    Ok(ApiJson(render::tenant(
        &state.ops.tenants().get(&tenant_id).await?,
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
    let tenant_id = TenantId::from(tenant_id);
    state.ops.tenants().delete(&tenant_id).await?;
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
    let tenant_id = TenantId::from(tenant_id);
    let thumbprint = convert::thumbprint(body.thumbprint.as_deref().unwrap_or_default())?;
    let tenant = state
        .ops
        .tenants()
        .set_import_key(&tenant_id, thumbprint)
        .await?;
    Ok(ApiJson(render::tenant(&tenant)))
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
    let tenant_id = TenantId::from(tenant_id);
    reader.check(&tenant_id)?;
    let now = state.ops.now();
    let connectors = state.ops.connectors().list_with_status(&tenant_id).await?;
    Ok(ApiJson(wire::admin::Collection {
        value: connectors
            .iter()
            .map(|c| render::connector_view(&c.connector, &c.evaluation, now))
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
    let (tenant_id, connector_id) = (TenantId::from(tenant_id), ConnectorId::from(connector_id));
    reader.check(&tenant_id)?;
    let c = state
        .ops
        .connectors()
        .status(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(render::connector_view(
        &c.connector,
        &c.evaluation,
        state.ops.now(),
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
    let (tenant_id, connector_id) = (TenantId::from(tenant_id), ConnectorId::from(connector_id));
    reader.check(&tenant_id)?;
    let c = state
        .ops
        .connectors()
        .status(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(render::connector_status(
        c.connector.id.as_str(),
        &c.evaluation,
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
    let (tenant_id, connector_id) = (TenantId::from(tenant_id), ConnectorId::from(connector_id));
    reader.check(&tenant_id)?;
    let changes = state
        .ops
        .connectors()
        .history(&tenant_id, &connector_id)
        .await?;
    Ok(ApiJson(wire::admin::Collection {
        value: changes.iter().map(render::history).collect(),
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
    let catalog = state.ops.releases().catalog().await?;
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
    state.ops.releases().publish(version, released).await?;
    let release = wire::admin::Release {
        version: version.to_string(),
        released_date_time: released,
        source: "published".to_owned(),
    };
    Ok((StatusCode::CREATED, ApiJson(release)).into_response())
}
