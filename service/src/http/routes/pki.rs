//! The third-party CA revocation surface (`PkiConnectorFEService`, api-version `5019-05-05`;
//! docs/behaviour.md, "SCEP and the third-party CA surface"): `POST {pki}/CertificateAuthorityRequests/downloadRevocationRequests` and
//! `…/uploadRevocationResults`, with a token of the tenant. A download is a lease of the tenant's
//! revoke requests with a 60-minute visibility timeout (the docs' cool-down); `requestContext`
//! carries the job id and the lease token. Bodies are parsed leniently: keys in any casing,
//! `errorCode` as a number, a numeric string (Java: `"4004"`) or an enum name (C#:
//! `"CertificateNotFoundError"`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::domain::jobs::MAX_CA_DOWNLOAD;
use crate::domain::JobId;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IntuneCaller};
use crate::http::state::AppState;
use crate::ops::{third_party_ca, Holder, OpsError, Report};

/// The api-version header value of the revocation calls.
const PKI_API_VERSION: &str = "5019-05-05";

/// CARequestErrorCodes (docs/behaviour.md, "SCEP and the third-party CA surface").
const ERROR_CODES: &[(i64, &str)] = &[
    (0, "None"),
    (4000, "NonRetryableServiceException"),
    (4001, "DataSerializationError"),
    (4002, "ParameterDataInvalidError"),
    (4003, "CryptographyError"),
    (4004, "CertificateNotFoundError"),
    (4005, "ConflictError"),
    (4006, "NotSupportedError"),
    (4007, "PayloadTooLargeError"),
    (4100, "RetryableServiceException"),
    (4101, "ServiceUnavailableException"),
    (4102, "ServiceTooBusyException"),
    (4103, "AuthenticationException"),
];

use super::json_field as get;
use crate::http::openapi as doc;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("ParameterDataInvalidError", message)
}

fn check_api_version(headers: &HeaderMap) -> Result<(), ApiError> {
    super::check_api_version(headers, PKI_API_VERSION, "revocation actions")
}

/// The code's (number, name), from any of the three wire forms.
fn error_code(value: Option<&Value>) -> Option<(i64, &'static str)> {
    match value {
        None | Some(Value::Null) => Some((0, "None")),
        Some(Value::Number(n)) => {
            let n = n.as_i64()?;
            ERROR_CODES.iter().find(|(c, _)| *c == n).copied()
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            match s.parse::<i64>() {
                Ok(n) => ERROR_CODES.iter().find(|(c, _)| *c == n).copied(),
                Err(_) => ERROR_CODES
                    .iter()
                    .find(|(_, name)| name.eq_ignore_ascii_case(s))
                    .copied(),
            }
        }
        _ => None,
    }
}

#[utoipa::path(
    post,
    path = "/CertificateAuthorityRequests/downloadRevocationRequests",
    tag = "intune-fe",
    operation_id = "downloadRevocationRequests",
    context_path = wire::scep::PKI_SERVICE_PATH,
    security(("graphToken" = [])),
    params(("api-version" = Option<String>, Header, description = "Absent or `5019-05-05`")),
    request_body(content = doc::RevocationDownloadRequest, description = "Keys in any casing"),
    responses(
        (status = 200, description = "The revocation requests now leased to this CA for 60 minutes", body = doc::RevocationRequests),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn download(
    caller: IntuneCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    check_api_version(&headers)?;
    let parameters = get(&body, "downloadParameters")
        .filter(|p| p.is_object())
        .ok_or_else(|| {
            invalid("the body must be {\"downloadParameters\": {maxRequests, issuerName}}")
        })?;
    let max = get(parameters, "maxRequests")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            invalid("downloadParameters.maxRequests must be a whole number from 1 to 500")
        })?;
    let issuer = match get(parameters, "issuerName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 256 => Some(s.clone()),
        Some(_) => {
            return Err(invalid(
                "downloadParameters.issuerName must be a string of at most 256 characters",
            ))
        }
    };
    let max = crate::http::convert::one_to(
        "ParameterDataInvalidError",
        "downloadParameters.maxRequests",
        max.min(u32::MAX as u64) as u32,
        MAX_CA_DOWNLOAD,
    )?;
    let leased = state
        .ops
        .jobs()
        .ca_download(
            &caller.tenant_id,
            max,
            issuer.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    let value: Vec<Value> = leased
        .iter()
        .map(|leased| {
            let payload: Value = serde_json::from_str(&leased.job.payload).unwrap_or(Value::Null);
            json!({
                "requestContext": format!("{}:{}", leased.job.id, leased.token),
                "serialNumber": payload["serialNumber"],
                "issuerName": payload["issuerName"],
                "caConfiguration": payload["certificationAuthority"],
            })
        })
        .collect();
    Ok(ApiJson(json!({
        "@odata.context": "https://manage.microsoft.com/RACerts/StatelessPkiConnectorService/$metadata#Collection(microsoft.management.services.api.caRevocationRequest)",
        "value": value,
    })))
}

#[utoipa::path(
    post,
    path = "/CertificateAuthorityRequests/uploadRevocationResults",
    tag = "intune-fe",
    operation_id = "uploadRevocationResults",
    context_path = wire::scep::PKI_SERVICE_PATH,
    security(("graphToken" = [])),
    params(("api-version" = Option<String>, Header, description = "Absent or `5019-05-05`")),
    request_body(content = doc::RevocationUploadRequest, description = "Keys in any casing; checked whole before any result is applied"),
    responses(
        (status = 200, description = "Whether every result was applied", body = doc::RevocationUploaded),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn upload(
    caller: IntuneCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    check_api_version(&headers)?;
    let results = get(&body, "results")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the body must be {\"results\": [{requestContext, succeeded, errorCode, errorMessage}]}"))?;
    if results.len() > MAX_CA_DOWNLOAD as usize {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            format!("at most {MAX_CA_DOWNLOAD} results per upload"),
        ));
    }
    // Validate every entry before changing anything.
    let mut parsed = Vec::with_capacity(results.len());
    for (i, result) in results.iter().enumerate() {
        let context = get(result, "requestContext")
            .and_then(Value::as_str)
            .and_then(|c| c.split_once(':'))
            .ok_or_else(|| {
                invalid(format!(
                    "results[{i}].requestContext is missing or not one this service handed out"
                ))
            })?;
        let succeeded = match get(result, "succeeded") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            _ => {
                return Err(invalid(format!(
                    "results[{i}].succeeded must be true or false"
                )))
            }
        };
        let (code, name) = error_code(get(result, "errorCode")).ok_or_else(|| {
            invalid(format!(
                "results[{i}].errorCode is not a CARequestErrorCodes value (a number such as 4004, \"4004\", or a name such as \"CertificateNotFoundError\")"
            ))
        })?;
        if succeeded != (code == 0) {
            return Err(invalid(format!(
                "results[{i}]: succeeded is {succeeded} but errorCode is {name} ({code})"
            )));
        }
        let message = get(result, "errorMessage")
            .and_then(Value::as_str)
            .map(|m| m.chars().take(1024).collect::<String>());
        parsed.push((
            JobId::from(context.0),
            context.1.to_owned(),
            code,
            name,
            message,
        ));
    }
    let tenant = state.ops.tenants().get(&caller.tenant_id).await?;
    let holder_id = third_party_ca(&tenant);
    let holder = Holder {
        tenant_id: &caller.tenant_id,
        id: &holder_id,
    };
    let jobs = state.ops.jobs();
    // Every context must still be this CA's lease (or one it already answered) before any
    // result is applied: otherwise the upload is refused whole.
    for (job_id, token, ..) in &parsed {
        if !jobs.lease_is_held(&holder, job_id, token).await? {
            return Ok(ApiJson(json!({ "value": false })));
        }
    }
    let mut all = true;
    for (job_id, token, code, name, message) in parsed {
        let report = if code == 0 {
            Report::Succeeded {
                result: json!({"revokedBy": "thirdPartyCa"}).to_string(),
            }
        } else if code >= 4100 {
            Report::Retry {
                code: Some(name.to_owned()),
                message,
            }
        } else {
            Report::Failed {
                code: name.to_owned(),
                message,
            }
        };
        // A lease lost in between (or an answer that contradicts an earlier one) changes
        // nothing and makes the answer false; anything else is a real failure.
        match jobs.complete(&holder, &job_id, &token, &report).await {
            Ok(_) => {}
            Err(
                OpsError::LeaseLost(_)
                | OpsError::NotFound(_)
                | OpsError::NotLeaseHolder(_)
                | OpsError::AlreadyCompleted(_),
            ) => all = false,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ApiJson(json!({ "value": all })))
}
