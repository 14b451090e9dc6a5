//! Job queues: operators enqueue, list, read and cancel; connectors lease and complete.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::{JobId, JobKind, JobState, TenantId};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ConnectorCaller, Operator, TenantReader};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::http::{convert, render};
use crate::ops::{BatchCompletion, Holder};

/// The header that makes an enqueue idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The most entries one batch completion may carry.
pub const MAX_COMPLETE_BATCH: usize = 100;

#[utoipa::path(
    post,
    path = "/admin/tenants/{tenant_id}/jobs",
    tag = "operator",
    operation_id = "enqueueJobs",
    security(("operatorToken" = [])),
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a retry with the same key (kept 24 hours of the service clock) and the same jobs answers the first answer and creates nothing; other jobs under the same key are 422"),
    ),
    request_body = wire::jobs::EnqueueBody,
    responses(
        (status = 201, description = "The queued jobs (a retry under the same Idempotency-Key: the first call's)", body = wire::admin::Collection<wire::jobs::JobView>),
        (status = 409, response = doc::Conflict),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_enqueue(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<wire::jobs::EnqueueBody>,
) -> Result<Response, ApiError> {
    let key = convert::idempotency_key(headers.get(IDEMPOTENCY_KEY))?;
    let tenant_id = TenantId::from(tenant_id);
    let jobs = match body {
        wire::jobs::EnqueueBody::Batch { jobs } => jobs,
        wire::jobs::EnqueueBody::One(job) => vec![job],
        wire::jobs::EnqueueBody::Profile(request) => {
            let request = convert::profile_request(request)?;
            let queued = state
                .ops
                .jobs()
                .enqueue_by_profile(&tenant_id, &request, key, &convert::profile_job)
                .await?;
            return Ok(created(&queued));
        }
    };
    let jobs = jobs
        .into_iter()
        .enumerate()
        .map(|(i, j)| convert::new_job(i, j))
        .collect::<Result<Vec<_>, _>>()?;
    let queued = match key {
        Some(key) => state.ops.jobs().enqueue_once(&tenant_id, jobs, key).await?,
        None => state.ops.jobs().enqueue(&tenant_id, jobs).await?,
    };
    Ok(created(&queued))
}

/// 201 with the queued jobs.
fn created(queued: &[crate::ops::Job]) -> Response {
    let value = queued.iter().map(|j| render::job_view(j, &[])).collect();
    (
        StatusCode::CREATED,
        ApiJson(wire::admin::Collection { value }),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/jobs/{job_id}/device-key",
    tag = "operator",
    operation_id = "getJobDeviceKey",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The PKCS#8 private key (PEM) of the device key the service made for a pkcs_create job enqueued by profile without a deviceKeyCertificate: it opens the job's `result.encryptedPassword`", content_type = "application/x-pem-file", body = String),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_device_key(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant_id, job_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (tenant_id, job_id) = (TenantId::from(tenant_id), JobId::from(job_id));
    let pem = state.ops.jobs().device_key(&tenant_id, &job_id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
        pem,
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Only jobs of this kind (`pkcs_create`, `pkcs_recrypt`, `pkcs_import`, `revoke`).
    kind: Option<String>,
    /// Only jobs in this state.
    #[param(inline, value_type = Option<crate::http::openapi::JobState>)]
    state: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    top: Option<i64>,
    /// Jobs to skip.
    #[param(minimum = 0)]
    skip: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/jobs",
    tag = "operator",
    operation_id = "listJobs",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), JobQuery),
    responses(
        (status = 200, description = "One page of the tenant's jobs and the count of every match", body = doc::JobPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_list(
    reader: TenantReader,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let tenant_id = TenantId::from(tenant_id);
    reader.check(&tenant_id)?;
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request("InvalidQuery", format!("jobs query: {}", e.body_text()))
    })?;
    let kind = query
        .kind
        .as_deref()
        .map(JobKind::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("UnknownJobKind", format!("kind: {e}")))?;
    let job_state = query
        .state
        .as_deref()
        .map(JobState::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("InvalidField", e.to_string()))?;
    let top = query.top.unwrap_or(100);
    if !(1..=1000).contains(&top) || query.skip.is_some_and(|s| s < 0) {
        return Err(ApiError::bad_request(
            "InvalidField",
            "top must be from 1 to 1000 and skip at least 0",
        ));
    }
    let (jobs, total) = state
        .ops
        .jobs()
        .list(&tenant_id, kind, job_state, top, query.skip.unwrap_or(0))
        .await?;
    let value: Vec<_> = jobs.iter().map(|j| render::job_view(j, &[])).collect();
    Ok(ApiJson(
        serde_json::json!({ "count": total, "value": value }),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/jobs/{job_id}",
    tag = "operator",
    operation_id = "getJob",
    security(("operatorToken" = []), ("graphToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job with its attempts", body = wire::jobs::JobView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_get(
    reader: TenantReader,
    State(state): State<AppState>,
    Path((tenant_id, job_id)): Path<(String, String)>,
) -> Result<ApiJson<wire::jobs::JobView>, ApiError> {
    let (tenant_id, job_id) = (TenantId::from(tenant_id), JobId::from(job_id));
    reader.check(&tenant_id)?;
    let (job, attempts) = state.ops.jobs().get(&tenant_id, &job_id).await?;
    Ok(ApiJson(render::job_view(&job, &attempts)))
}

#[utoipa::path(
    post,
    path = "/admin/tenants/{tenant_id}/jobs/{job_id}/cancel",
    tag = "operator",
    operation_id = "cancelJob",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The cancelled job", body = wire::jobs::JobView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_cancel(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant_id, job_id)): Path<(String, String)>,
) -> Result<ApiJson<wire::jobs::JobView>, ApiError> {
    let (tenant_id, job_id) = (TenantId::from(tenant_id), JobId::from(job_id));
    let job = state.ops.jobs().cancel(&tenant_id, &job_id).await?;
    Ok(ApiJson(render::job_view(&job, &[])))
}

#[utoipa::path(
    post,
    path = "/connector/v1/jobs/lease",
    tag = "connector",
    operation_id = "leaseJobs",
    security(("connectorCredential" = [])),
    request_body = wire::connector::LeaseRequest,
    responses(
        (status = 200, description = "The leased jobs (possibly none)", body = wire::connector::LeaseResponse),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_lease(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::connector::LeaseRequest>,
) -> Result<ApiJson<wire::connector::LeaseResponse>, ApiError> {
    let wait = convert::lease_wait(body.wait_ms)?;
    let lease = convert::lease(body)?;
    let leased = state
        .ops
        .jobs()
        .lease_or_wait(&connector, lease, wait)
        .await?;
    Ok(ApiJson(wire::connector::LeaseResponse {
        jobs: leased.into_iter().map(render::leased_job).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/connector/v1/jobs/{job_id}/complete",
    tag = "connector",
    operation_id = "completeJob",
    security(("connectorCredential" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    request_body = wire::jobs::CompleteJob,
    responses(
        (status = 200, description = "The completion (a repeat gets the same answer)", body = wire::jobs::Completed),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_complete(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    Path(job_id): Path<String>,
    ApiJson(body): ApiJson<wire::jobs::CompleteJob>,
) -> Result<ApiJson<wire::jobs::Completed>, ApiError> {
    let report = convert::report(&body)?;
    let done = state
        .ops
        .jobs()
        .complete(
            &Holder::connector(&connector),
            &JobId::from(job_id),
            &body.lease_token,
            &report,
        )
        .await?;
    Ok(ApiJson(render::completed(&done)))
}

/// Completes many jobs; each entry gets the answer it would have had alone.
#[utoipa::path(
    post,
    path = "/connector/v1/jobs/complete",
    tag = "connector",
    operation_id = "completeJobs",
    security(("connectorCredential" = [])),
    request_body = wire::jobs::CompleteBatch,
    responses(
        (status = 200, description = "Each entry's answer, as it would have been alone", body = wire::admin::Collection<wire::jobs::BatchCompletionResult>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn jobs_complete_batch(
    ConnectorCaller(connector): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::jobs::CompleteBatch>,
) -> Result<ApiJson<wire::admin::Collection<wire::jobs::BatchCompletionResult>>, ApiError> {
    if body.completions.is_empty() || body.completions.len() > MAX_COMPLETE_BATCH {
        return Err(ApiError::bad_request(
            "InvalidField",
            format!(
                "completions holds 1 to {MAX_COMPLETE_BATCH} entries, not {}",
                body.completions.len()
            ),
        ));
    }
    // Entries that parse go to the queue as one batch; the others answer in their place.
    let mut answers: Vec<Option<Result<_, ApiError>>> = Vec::with_capacity(body.completions.len());
    let mut batch = Vec::with_capacity(body.completions.len());
    for entry in &body.completions {
        match convert::report(&entry.completion) {
            Ok(report) => {
                answers.push(None);
                batch.push(BatchCompletion {
                    job_id: JobId::from(entry.job_id.as_str()),
                    token: entry.completion.lease_token.clone(),
                    report,
                });
            }
            Err(e) => answers.push(Some(Err(ApiError::from(e)))),
        }
    }
    let mut done = state
        .ops
        .jobs()
        .complete_many(&Holder::connector(&connector), batch)
        .await?
        .into_iter();
    let mut value = Vec::with_capacity(body.completions.len());
    for (entry, answer) in body.completions.into_iter().zip(answers) {
        let answer = match answer {
            Some(answer) => answer,
            None => done.next().map_or_else(
                || {
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "a batch completion went unanswered",
                    ))
                },
                |answer| answer.map_err(ApiError::from),
            ),
        };
        value.push(match answer {
            Ok(done) => wire::jobs::BatchCompletionResult {
                job_id: entry.job_id,
                status: 200,
                completed: Some(render::completed(&done)),
                error: None,
            },
            Err(e) => wire::jobs::BatchCompletionResult {
                job_id: entry.job_id,
                status: e.status.as_u16(),
                completed: None,
                error: Some(wire::error::ErrorBody {
                    code: e.code,
                    message: e.message,
                    inner_error: wire::error::InnerError {
                        date: String::new(),
                        request_id: String::new(),
                        client_request_id: String::new(),
                    },
                }),
            },
        });
    }
    Ok(ApiJson(wire::admin::Collection { value }))
}
