//! The Intune SCEP surface (docs/behaviour.md, "SCEP and the third-party CA surface"): service
//! discovery, and
//! `POST {scep}/ScepActions/{validateRequest,successNotification,failureNotification}` for a
//! third-party CA (a token of the tenant for the Intune API) or a connector's SCEP module (its credential: only with
//! the `scep` feature, 403 `FeatureNotInstalled` otherwise, and not on a legacy or retired
//! version). Bodies are parsed leniently (camelCase or PascalCase keys, explicit nulls, `\/`);
//! every business answer is 200 `{"code", "errorDescription"}`. Also the operator's side: a
//! device targeted by a SCEP profile gets a challenge, which can be un-targeted.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use wire::scep::{
    CreateScepChallenge, ScepAnswer, ScepChallengeView, ScepNotificationView, ServiceEndpoint,
};

use crate::domain::{TenantId, Version};
use crate::http::error::ApiError;
use crate::http::extract::{bearer, ApiJson, Operator};
use crate::http::state::AppState;
use crate::identity::Refusal;
use crate::ops::{Connector, NewScepChallenge, NotificationKind, ScepChallenge};

/// Who calls the SCEP actions: a third-party CA with a tenant token, or a connector.
pub struct ScepCaller {
    tenant_id: TenantId,
    connector: Option<Connector>,
}

impl FromRequestParts<AppState> for ScepCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if let Some(connector) = state.ops.connectors().by_credential(token).await? {
            return Ok(ScepCaller {
                tenant_id: connector.tenant_id.clone(),
                connector: Some(connector),
            });
        }
        let checked = state
            .ops
            .tokens()
            .check(token, crate::http::extract::INTUNE_FE_AUDIENCES)
            .await?;
        match checked {
            Ok(tenant_id) => Ok(ScepCaller {
                tenant_id,
                connector: None,
            }),
            Err(Refusal::NotIssued) => Err(ApiError::unauthenticated(
                "neither a connector credential nor a valid access token of a tenant",
            )),
            Err(refusal) => Err(ApiError::unauthenticated(format!(
                "neither a connector credential nor a valid access token of a tenant: {refusal}"
            ))),
        }
    }
}

fn answer(code: &str, description: impl Into<String>) -> ApiJson<ScepAnswer> {
    ApiJson(ScepAnswer {
        code: code.to_owned(),
        error_description: description.into(),
    })
}

use super::json_field as get;
use crate::http::openapi as doc;

fn text(value: &Value, key: &str) -> Option<String> {
    get(value, key).and_then(Value::as_str).map(str::to_owned)
}

fn check_api_version(headers: &HeaderMap) -> Result<(), ApiError> {
    super::check_api_version(headers, wire::scep::SCEP_API_VERSION, "SCEP actions")
}

async fn gate(state: &AppState, caller: &ScepCaller) -> Result<Option<Version>, ApiError> {
    match &caller.connector {
        None => Ok(None),
        Some(connector) => {
            state.ops.connectors().scep_gate(connector).await?;
            Ok(Some(connector.facts.version))
        }
    }
}

#[utoipa::path(
    post,
    path = "/ScepActions/validateRequest",
    tag = "intune-fe",
    operation_id = "scepValidateRequest",
    context_path = wire::scep::SCEP_SERVICE_PATH,
    security(("connectorCredential" = []), ("graphToken" = [])),
    params(("api-version" = Option<String>, Header, description = "Absent or `2018-02-20`")),
    request_body(content = wire::scep::ValidateRequest, description = "Keys in any casing; explicit nulls and `\\/` are taken"),
    responses(
        (status = 200, description = "The verdict (every business answer is 200)", body = wire::scep::ScepAnswer),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn validate_request(
    caller: ScepCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    let answered = validate(caller, &state, &headers, &body).await;
    if let Ok(ApiJson(answer)) = &answered {
        state.metrics.scep_validation(&answer.code);
    }
    answered
}

async fn validate(
    caller: ScepCaller,
    state: &AppState,
    headers: &HeaderMap,
    body: &Value,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    check_api_version(headers)?;
    let version = gate(state, &caller).await?;
    let Some(request) = get(body, "request").filter(|r| r.is_object()) else {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            "the body must be {\"request\": {transactionId, certificateRequest, callerInfo}}",
        ));
    };
    let Some(transaction_id) = text(request, "transactionId").filter(|t| !t.trim().is_empty())
    else {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            "request.transactionId is missing or empty",
        ));
    };
    let Some(encoded) = text(request, "certificateRequest") else {
        return Ok(answer(
            "CertificateRequestDecodingFailed",
            "request.certificateRequest is missing",
        ));
    };
    let cleaned: String = encoded.split_whitespace().collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(cleaned) else {
        return Ok(answer(
            "CertificateRequestDecodingFailed",
            "request.certificateRequest is not base64",
        ));
    };
    let verdict = state
        .ops
        .scep()
        .validate(&caller.tenant_id, version, &transaction_id, &der)
        .await?;
    Ok(answer(verdict.code, verdict.description))
}

async fn notify(
    caller: ScepCaller,
    state: AppState,
    headers: HeaderMap,
    body: Value,
    kind: NotificationKind,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    check_api_version(&headers)?;
    gate(&state, &caller).await?;
    let Some(notification) = get(&body, "notification").filter(|n| n.is_object()) else {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            "the body must be {\"notification\": {…}}",
        ));
    };
    let Some(transaction_id) = text(notification, "transactionId") else {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            "notification.transactionId is missing",
        ));
    };
    if kind == NotificationKind::Failure {
        // Java sends hResult sign-extended (-2147418113), C# unsigned (2147549183); both fine.
        let hresult = get(notification, "hResult");
        let valid = match hresult {
            Some(Value::Number(n)) => n.as_i64().is_some() || n.as_u64().is_some(),
            Some(Value::String(s)) => s.trim().parse::<i64>().is_ok(),
            _ => false,
        };
        if !valid {
            return Err(ApiError::bad_request(
                "InvalidRequest",
                "notification.hResult must be an integer",
            ));
        }
        if text(notification, "errorDescription").is_some_and(|d| d.chars().count() > 255) {
            return Err(ApiError::bad_request(
                "InvalidRequest",
                "notification.errorDescription holds at most 255 characters",
            ));
        }
    }
    let validated = state
        .ops
        .scep()
        .notify(
            &caller.tenant_id,
            kind,
            &transaction_id,
            &notification.to_string(),
        )
        .await?;
    match validated {
        None => Ok(answer(
            "Unknown",
            format!("no request was validated under transactionId `{transaction_id}`"),
        )),
        Some(code) if kind == NotificationKind::Success && code != "Success" => Ok(answer(
            "Unknown",
            format!("the request under transactionId `{transaction_id}` was refused ({code}); no certificate should have been issued"),
        )),
        Some(_) => Ok(answer("Success", "")),
    }
}

#[utoipa::path(
    post,
    path = "/ScepActions/successNotification",
    tag = "intune-fe",
    operation_id = "scepSuccessNotification",
    context_path = wire::scep::SCEP_SERVICE_PATH,
    security(("connectorCredential" = []), ("graphToken" = [])),
    params(("api-version" = Option<String>, Header, description = "Absent or `2018-02-20`")),
    request_body = doc::ScepNotificationRequest,
    responses(
        (status = 200, description = "`Success`, or `Unknown` for a transaction that was not validated (or was refused)", body = wire::scep::ScepAnswer),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn success_notification(
    caller: ScepCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    notify(caller, state, headers, body, NotificationKind::Success).await
}

#[utoipa::path(
    post,
    path = "/ScepActions/failureNotification",
    tag = "intune-fe",
    operation_id = "scepFailureNotification",
    context_path = wire::scep::SCEP_SERVICE_PATH,
    security(("connectorCredential" = []), ("graphToken" = [])),
    params(("api-version" = Option<String>, Header, description = "Absent or `2018-02-20`")),
    request_body = doc::ScepNotificationRequest,
    responses(
        (status = 200, description = "`Success`, or `Unknown` for a transaction that was not validated", body = wire::scep::ScepAnswer),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn failure_notification(
    caller: ScepCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    notify(caller, state, headers, body, NotificationKind::Failure).await
}

/// `GET /v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints`: the
/// Intune service principal's endpoints, pointing at this service.
#[utoipa::path(
    get,
    path = "/v1.0/servicePrincipals/{key}/endpoints",
    tag = "intune-fe",
    operation_id = "listServicePrincipalEndpoints",
    security(("graphToken" = [])),
    params(("key" = String, Path, description = "`appId=0000000a-0000-0000-c000-000000000000` (Microsoft Intune API); any other is 404")),
    responses(
        (status = 200, description = "The Intune FE endpoints, pointing at this service", body = wire::graph::GraphCollection<wire::scep::ServiceEndpoint>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn discovery(
    _caller: crate::http::extract::GraphCaller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<ApiJson<Value>, ApiError> {
    let app_id = key
        .strip_prefix("appId=")
        .map(|k| k.trim_matches('\''))
        .unwrap_or_default();
    if !app_id.eq_ignore_ascii_case("0000000a-0000-0000-c000-000000000000") {
        return Err(ApiError::not_found(format!(
            "servicePrincipal `{key}` is not known here; only appId=0000000a-0000-0000-c000-000000000000 (Microsoft Intune API)"
        )));
    }
    let base = super::graph::base_url(&headers);
    let endpoint = |id: &str, name: &str, path: &str| ServiceEndpoint {
        id: id.to_owned(),
        capability: name.to_owned(),
        provider_id: "0000000a-0000-0000-c000-000000000000".to_owned(),
        provider_name: name.to_owned(),
        provider_resource_id: "0000000a-0000-0000-c000-000000000000".to_owned(),
        uri: format!("{base}{path}"),
    };
    Ok(ApiJson(serde_json::json!({
        "@odata.context": format!("{base}/v1.0/$metadata#servicePrincipals('appId%3D0000000a-0000-0000-c000-000000000000')/endpoints"),
        "value": [
            endpoint("8ad9e1a2-0001-4c3b-9a53-000000000001", "ScepRequestValidationFEService", wire::scep::SCEP_SERVICE_PATH),
            endpoint("8ad9e1a2-0002-4c3b-9a53-000000000002", "PkiConnectorFEService", wire::scep::PKI_SERVICE_PATH),
        ],
    })))
}

// ----- operator: SCEP profile targeting ---------------------------------------------------------

fn view(c: ScepChallenge, challenge: Option<String>) -> ScepChallengeView {
    ScepChallengeView {
        id: c.id,
        challenge,
        device_id: c.device_id,
        user_id: c.user_id,
        subject: c.subject,
        subject_alternative_names: c
            .subject_alt_names
            .into_iter()
            .map(|san| wire::scep::SanSpec {
                kind: san.kind,
                value: san.value,
            })
            .collect(),
        key_usage: c.key_usage,
        key_size: c.key_size.clamp(0, u32::MAX as i64) as u32,
        extended_key_usage: c.extended_key_usage,
        issued_date_time: c.issued,
        expires_date_time: c.expires,
        targeted: c.targeted,
        transaction_id: c.transaction_id,
        last_code: c.last_code,
        notification: c.notification.map(|n| ScepNotificationView {
            kind: n.kind.as_str().to_owned(),
            date_time: n.at,
            body: serde_json::from_str(&n.body).unwrap_or(Value::Null),
        }),
    }
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("InvalidField", format!("{field}: {message}"))
}

fn validate_challenge(body: CreateScepChallenge) -> Result<NewScepChallenge, ApiError> {
    let short = |field: &str, value: &str| -> Result<String, ApiError> {
        let value = value.trim();
        if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
            return Err(invalid(field, "must be 1 to 256 printable characters"));
        }
        Ok(value.to_owned())
    };
    let device_id = short("deviceId", &body.device_id)?;
    let user_id = body
        .user_id
        .as_deref()
        .map(|u| short("userId", u))
        .transpose()?;
    let subject = short("subject", &body.subject)?;
    if !subject.contains('=') {
        return Err(invalid(
            "subject",
            format!("`{subject}` is not a distinguished name (CN=…)"),
        ));
    }
    let mut sans = Vec::new();
    for (i, san) in body.subject_alternative_names.iter().enumerate() {
        let kind = san.kind.to_ascii_lowercase();
        if !["dns", "email", "uri", "upn"].contains(&kind.as_str()) {
            return Err(invalid(
                &format!("subjectAlternativeNames[{i}].type"),
                format!("`{}` is not one of dns, email, uri, upn", san.kind),
            ));
        }
        sans.push(crate::scep::San {
            kind,
            value: short(&format!("subjectAlternativeNames[{i}].value"), &san.value)?,
        });
    }
    for (i, usage) in body.key_usage.iter().enumerate() {
        if !crate::scep::KEY_USAGES.contains(&usage.as_str()) {
            return Err(invalid(
                &format!("keyUsage[{i}]"),
                format!(
                    "`{usage}` is not one of {}",
                    crate::scep::KEY_USAGES.join(", ")
                ),
            ));
        }
    }
    for (i, oid) in body.extended_key_usage.iter().enumerate() {
        let dotted = oid.split('.').count() >= 2
            && oid
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !dotted {
            return Err(invalid(
                &format!("extendedKeyUsage[{i}]"),
                format!("`{oid}` is not a dotted OID"),
            ));
        }
    }
    if !(256..=16384).contains(&body.key_size) {
        return Err(invalid(
            "keySize",
            format!("must be from 256 to 16384 bits, not {}", body.key_size),
        ));
    }
    let validity = body.validity_minutes.unwrap_or(60);
    if validity == 0 || validity > 60 * 24 * 365 {
        return Err(invalid(
            "validityMinutes",
            format!("must be from 1 to 525600, not {validity}"),
        ));
    }
    Ok(NewScepChallenge {
        device_id,
        user_id,
        subject,
        subject_alt_names: sans,
        key_usage: body.key_usage,
        key_size: body.key_size as i64,
        extended_key_usage: body.extended_key_usage,
        validity_minutes: validity as i64,
    })
}

#[utoipa::path(
    post,
    path = "/admin/tenants/{tenant_id}/scep/challenges",
    tag = "operator",
    operation_id = "createScepChallenge",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    request_body = wire::scep::CreateScepChallenge,
    responses(
        (status = 201, description = "The challenge, with the blob for the device (shown only here)", body = wire::scep::ScepChallengeView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn challenges_create(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<CreateScepChallenge>,
) -> Result<Response, ApiError> {
    let profile = validate_challenge(body)?;
    let issued = state
        .ops
        .scep()
        .issue_challenge(&TenantId::from(tenant_id), profile)
        .await?;
    let body = view(issued.challenge, Some(issued.blob));
    Ok((StatusCode::CREATED, ApiJson(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/tenants/{tenant_id}/scep/challenges/{id}",
    tag = "operator",
    operation_id = "getScepChallenge",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("id" = String, Path, description = "The challenge's id")),
    responses(
        (status = 200, description = "The challenge, its last verdict and notification", body = wire::scep::ScepChallengeView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn challenges_get(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant_id, id)): Path<(String, String)>,
) -> Result<ApiJson<ScepChallengeView>, ApiError> {
    let challenge = state
        .ops
        .scep()
        .challenge(&TenantId::from(tenant_id), &id)
        .await?;
    Ok(ApiJson(view(challenge, None)))
}

/// The profile is retargeted or removed: the device's next validation is
/// `ScepProfileNoLongerTargetedToTheClient`.
#[utoipa::path(
    delete,
    path = "/admin/tenants/{tenant_id}/scep/challenges/{id}",
    tag = "operator",
    operation_id = "untargetScepChallenge",
    security(("operatorToken" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id"), ("id" = String, Path, description = "The challenge's id")),
    responses(
        (status = 204, description = "The device is no longer targeted"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn challenges_untarget(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .ops
        .scep()
        .untarget(&TenantId::from(tenant_id), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
