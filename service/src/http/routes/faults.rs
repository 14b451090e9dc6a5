//! `POST/GET/DELETE /admin/faults[/{id}]` (operator) and the middleware that applies the rules
//! to every other request (see [`crate::faults`]); the request journal (`GET /admin/journal`)
//! and the middleware that fills it (see [`crate::journal`]).

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::clock::from_millis;
use crate::faults::{Caller, Effect, Rule};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Operator};
use crate::http::openapi as doc;
use crate::http::state::AppState;

fn view(rule: &Rule) -> wire::admin::FaultView {
    let (status, retry_after_seconds, delay_ms) = match rule.effect {
        Effect::Status {
            status,
            retry_after,
        } => (Some(status), retry_after, None),
        Effect::Delay { ms } => (None, None, Some(ms)),
        Effect::Drop => (None, None, None),
    };
    wire::admin::FaultView {
        id: rule.id.clone(),
        route: rule.route.clone(),
        tenant_id: rule.tenant.clone(),
        connector_id: rule.connector.clone(),
        status,
        delay_ms,
        drop: rule.effect == Effect::Drop,
        retry_after_seconds,
        remaining: rule.remaining,
        until_date_time: rule.until_ms.map(from_millis),
        probability: rule.probability,
        hits: rule.hits,
    }
}

#[utoipa::path(
    post,
    path = "/admin/faults",
    tag = "operator",
    operation_id = "createFault",
    security(("operatorToken" = [])),
    request_body = wire::admin::CreateFault,
    responses(
        (status = 201, description = "The rule", body = wire::admin::FaultView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::admin::CreateFault>,
) -> Result<Response, ApiError> {
    let effect = match (body.status, body.delay_ms, body.drop.unwrap_or(false)) {
        (Some(status), None, false) => Effect::Status {
            status,
            retry_after: body
                .retry_after_seconds
                .or(matches!(status, 429 | 503).then_some(1)),
        },
        (None, Some(ms), false) => Effect::Delay { ms },
        (None, None, true) => Effect::Drop,
        _ => return Err(ApiError::bad_request(
            "InvalidFault",
            "give exactly one of `status` (an HTTP error status), `delayMs` or `\"drop\": true`",
        )),
    };
    for (field, value) in [
        ("tenantId", &body.tenant_id),
        ("connectorId", &body.connector_id),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 128 || v.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(
                "InvalidFault",
                format!("{field}: must hold 1 to 128 printable characters"),
            ));
        }
    }
    if body.route.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "InvalidFault",
            "route: must not hold control characters (no request path does)",
        ));
    }
    let now_ms = state.ops.now().timestamp_millis();
    let until_ms = match body.duration_seconds {
        Some(0) => {
            return Err(ApiError::bad_request(
                "InvalidFault",
                "durationSeconds: must be at least 1",
            ))
        }
        Some(s) => Some(now_ms.saturating_add(s.min(100 * 365 * 86_400) as i64 * 1000)),
        None => None,
    };
    let rule = Rule {
        id: state.ops.ids().uuid().to_string(),
        route: body.route,
        tenant: body.tenant_id,
        connector: body.connector_id,
        effect,
        remaining: body.count,
        until_ms,
        probability: body.probability,
        hits: 0,
    };
    let rule = state
        .faults
        .add(rule)
        .map_err(|e| ApiError::bad_request("InvalidFault", e.to_string()))?;
    Ok((StatusCode::CREATED, ApiJson(view(&rule))).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/faults",
    tag = "operator",
    operation_id = "listFaults",
    security(("operatorToken" = [])),
    responses(
        (status = 200, description = "The rules still in force", body = wire::admin::Collection<wire::admin::FaultView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn list(
    _: Operator,
    State(state): State<AppState>,
) -> ApiJson<wire::admin::Collection<wire::admin::FaultView>> {
    let now_ms = state.ops.now().timestamp_millis();
    ApiJson(wire::admin::Collection {
        value: state.faults.list(now_ms).iter().map(view).collect(),
    })
}

#[utoipa::path(
    delete,
    path = "/admin/faults",
    tag = "operator",
    operation_id = "clearFaults",
    security(("operatorToken" = [])),
    responses(
        (status = 204, description = "Every rule is gone"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn clear(_: Operator, State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

#[utoipa::path(
    delete,
    path = "/admin/faults/{id}",
    tag = "operator",
    operation_id = "removeFault",
    security(("operatorToken" = [])),
    params(("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "The rule is gone"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn remove(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.faults.remove(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("fault rule `{id}` not found")))
    }
}

/// Who calls, by the request's bearer credential: a connector's credential, a Graph token or
/// an enrollment secret. Looked up only while a rule names a tenant or a connector.
async fn caller(state: &AppState, authorization: Option<String>) -> Option<Caller> {
    let authorization = authorization?;
    let token = authorization.strip_prefix("Bearer ")?.trim();
    if token.is_empty() || token.len() > 4096 {
        return None;
    }
    if let Ok(Some(connector)) = state.ops.connectors().by_credential(token).await {
        return Some(Caller {
            tenant_id: connector.tenant_id.into_string(),
            connector_id: Some(connector.id.into_string()),
        });
    }
    if let Ok(Some(tenant_id)) = state.ops.tokens().tenant_of(token).await {
        return Some(Caller {
            tenant_id: tenant_id.into_string(),
            connector_id: None,
        });
    }
    let tenant = state
        .ops
        .tenants()
        .by_enrollment_secret(token)
        .await
        .ok()??;
    Some(Caller {
        tenant_id: tenant.id.into_string(),
        connector_id: None,
    })
}

/// A response body that fails at once: hyper then closes the connection without finishing
/// the answer, which the client sees as a dropped connection.
struct Severed;

impl http_body::Body for Severed {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "a fault rule dropped the connection",
        ))))
    }
}

/// Brings a virtual clock up to the one stored in a shared database before the request is
/// served, so that replicas answer at the same instant.
pub async fn clock_sync(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(e) = state.ops.time().sync().await {
        return ApiError::from(e).into_response();
    }
    next.run(request).await
}

/// Applies the fault rules before a request reaches its handler.
pub async fn inject(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let now_ms = state.ops.now().timestamp_millis();
    let who = if state.faults.needs_caller(now_ms) {
        let authorization = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        caller(&state, authorization).await
    } else {
        None
    };
    match state
        .faults
        .decide(request.uri().path(), who.as_ref(), now_ms)
    {
        None => next.run(request).await,
        Some(Effect::Delay { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(Effect::Drop) => Response::new(axum::body::Body::new(Severed)),
        Some(Effect::Status {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut error = ApiError::new(
                status,
                "InjectedFault",
                format!(
                    "a fault rule answered {} for {}",
                    status.as_u16(),
                    request.uri().path()
                ),
            );
            error.retry_after = retry_after;
            error.into_response()
        }
    }
}

/// Records every answered request but the probes and the journal itself in the journal.
pub async fn journal(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/healthz" || path == "/readyz" || path.starts_with("/admin/journal") {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned);
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.journal.record(crate::journal::Entry {
        at: state.ops.now(),
        method,
        path,
        status: response.status().as_u16(),
        client_request_id,
        request_id: response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        duration_micros: started.elapsed().as_micros().min(u64::MAX as u128) as u64,
    });
    response
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    /// Only requests that sent this `client-request-id` (at most 128 characters).
    #[param(max_length = 128)]
    correlation_id: Option<String>,
    /// Only requests whose path contains this text, without regard to case (at most 256
    /// characters).
    #[param(max_length = 256)]
    route: Option<String>,
    /// At most this many entries, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /admin/journal?correlationId=…&route=…&limit=…` (limit 1–1000, default 100).
#[utoipa::path(
    get,
    path = "/admin/journal",
    tag = "operator",
    operation_id = "listJournal",
    security(("operatorToken" = [])),
    params(JournalQuery),
    responses(
        (status = 200, description = "The newest matching requests, oldest first", body = wire::admin::Collection<doc::JournalEntry>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn journal_list(
    _: Operator,
    State(state): State<AppState>,
    query: Result<axum::extract::Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let axum::extract::Query(query) = query.map_err(|e| {
        ApiError::bad_request("InvalidQuery", format!("journal query: {}", e.body_text()))
    })?;
    // Only ids of at most 128 characters are journaled; routes are matched like fault routes.
    if query.correlation_id.as_ref().is_some_and(|c| c.len() > 128) {
        return Err(ApiError::bad_request(
            "InvalidQuery",
            "correlationId holds at most 128 characters (longer ids are not journaled)",
        ));
    }
    if query.route.as_ref().is_some_and(|r| r.len() > 256) {
        return Err(ApiError::bad_request(
            "InvalidQuery",
            "route holds at most 256 characters",
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "InvalidQuery",
            "limit must be from 1 to 1000",
        ));
    }
    let entries = state.journal.find(
        query.correlation_id.as_deref(),
        query.route.as_deref(),
        limit,
    );
    let value: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "dateTime": e.at,
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "clientRequestId": e.client_request_id,
                "requestId": e.request_id,
                "durationMicroseconds": e.duration_micros,
            })
        })
        .collect();
    Ok(ApiJson(serde_json::json!({ "value": value })))
}
