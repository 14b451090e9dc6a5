//! Imported user PFX certificates (S/MIME), the way the Intune PFX PowerShell module uploads
//! them (docs/behaviour.md, "Wire shapes"): `POST`, `GET` (list with `$filter`, and one), `PATCH` and `DELETE`
//! on `/beta/deviceManagement/userPfxCertificates`, keys as `/{id}`, `({id})` or `('{id}')`, with a
//! Graph token of the tenant.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::TenantId;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, GraphCaller};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::ops::UserPfx;

const ODATA_TYPE: &str = "#microsoft.graph.userPFXCertificate";
const MAX_TEXT: usize = 256;
const MAX_PFX_BYTES: usize = 64 * 1024;

const PURPOSES: &[&str] = &[
    "unassigned",
    "smimeEncryption",
    "smimeSigning",
    "vpn",
    "wifi",
];
const PADDINGS: &[&str] = &[
    "none",
    "pkcs1",
    "oaepSha1",
    "oaepSha256",
    "oaepSha384",
    "oaepSha512",
];

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalidRequest", message)
}

/// The Graph spelling of an enum value given in any casing.
fn enum_value(
    field: &str,
    value: &str,
    allowed: &[&'static str],
) -> Result<&'static str, ApiError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value.trim()))
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "{field}: `{value}` is not one of {}",
                allowed.join(", ")
            ))
        })
}

fn text(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field}: must be 1 to {MAX_TEXT} printable characters"
        )));
    }
    Ok(value.to_owned())
}

fn date(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|d| crate::clock::truncate_ms(d.with_timezone(&Utc)))
                .map_err(|_| invalid(format!("{field}: `{v}` is not an ISO 8601 date and time")))
        })
        .transpose()
}

/// The user object id the real service would look up by UPN: stable per tenant and UPN, 32 hex
/// digits (the module strips the dashes).
fn user_id(tenant_id: &TenantId, upn: &str) -> String {
    let digest = Sha256::digest(format!("{tenant_id}\n{}", upn.to_ascii_lowercase()));
    crate::ids::hex(&digest[..16])
}

fn view(pfx: &UserPfx) -> Value {
    let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let entity = wire::graph::UserPfxCertificate {
        odata_type: Some(ODATA_TYPE.to_owned()),
        id: Some(pfx.id.clone()),
        thumbprint: pfx.thumbprint.clone(),
        intended_purpose: pfx.intended_purpose.clone(),
        user_principal_name: pfx.user_principal_name.clone(),
        start_date_time: pfx.start.map(stamp),
        expiration_date_time: pfx.expiration.map(stamp),
        provider_name: pfx.provider_name.clone(),
        key_name: pfx.key_name.clone(),
        padding_scheme: pfx.padding_scheme.clone(),
        // Secrets are never read back.
        encrypted_pfx_blob: "AA==".to_owned(),
        encrypted_pfx_password: String::new(),
        created_date_time: Some(stamp(pfx.created)),
        last_modified_date_time: Some(stamp(pfx.modified)),
    };
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

fn with_context(headers: &HeaderMap, mut value: Value, entity: bool) -> Value {
    let base = super::graph::base_url(headers);
    let suffix = if entity { "/$entity" } else { "" };
    if let Value::Object(map) = &mut value {
        map.insert(
            "@odata.context".into(),
            Value::String(format!(
                "{base}/beta/$metadata#deviceManagement/userPfxCertificates{suffix}"
            )),
        );
    }
    value
}

/// Validates an upload body into an imported PFX of `tenant_id` stamped `now`.
fn pfx_from_body(
    tenant_id: &TenantId,
    body: wire::graph::UserPfxCertificate,
    now: DateTime<Utc>,
) -> Result<UserPfx, ApiError> {
    let upn = text("userPrincipalName", &body.user_principal_name)?;
    if !upn.contains('@') {
        return Err(invalid(format!(
            "userPrincipalName: `{upn}` is not a user principal name (user@domain)"
        )));
    }
    let thumbprint = body.thumbprint.trim().to_ascii_lowercase();
    if thumbprint.len() != 40 || !thumbprint.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "thumbprint: `{}` is not 40 hexadecimal digits (a SHA-1 thumbprint)",
            body.thumbprint
        )));
    }
    let purpose = enum_value("intendedPurpose", &body.intended_purpose, PURPOSES)?;
    let padding = match enum_value("paddingScheme", &body.padding_scheme, PADDINGS)? {
        // The module coerces `none` to OAEP SHA-512.
        "none" => "oaepSha512",
        other => other,
    };
    let provider = text("providerName", &body.provider_name)?;
    let key_name = text("keyName", &body.key_name)?;
    let engine = base64::engine::general_purpose::STANDARD;
    let blob = engine
        .decode(body.encrypted_pfx_blob.trim())
        .map_err(|_| invalid("encryptedPfxBlob: not base64".into()))?;
    if blob.is_empty() || blob.len() > MAX_PFX_BYTES {
        return Err(invalid(format!(
            "encryptedPfxBlob: must hold 1 to {MAX_PFX_BYTES} bytes, not {}",
            blob.len()
        )));
    }
    if openssl::pkcs12::Pkcs12::from_der(&blob).is_err() {
        return Err(invalid(
            "encryptedPfxBlob: not a PKCS#12 (PFX) structure".into(),
        ));
    }
    let password = engine
        .decode(body.encrypted_pfx_password.trim())
        .map_err(|_| invalid("encryptedPfxPassword: not base64".into()))?;
    if password.is_empty() || password.len() > 1024 {
        return Err(invalid(
            "encryptedPfxPassword: must hold 1 to 1024 encrypted bytes".into(),
        ));
    }
    Ok(UserPfx {
        tenant_id: tenant_id.clone(),
        id: format!("{}-{thumbprint}", user_id(tenant_id, &upn)),
        user_principal_name: upn,
        thumbprint,
        intended_purpose: purpose.to_owned(),
        padding_scheme: padding.to_owned(),
        provider_name: provider,
        key_name,
        encrypted_pfx_blob: engine.encode(&blob),
        encrypted_pfx_password: engine.encode(&password),
        start: date("startDateTime", body.start_date_time.as_deref())?,
        expiration: date("expirationDateTime", body.expiration_date_time.as_deref())?,
        created: now,
        modified: now,
    })
}

#[utoipa::path(
    post,
    path = "/beta/deviceManagement/userPfxCertificates",
    tag = "graph",
    operation_id = "createUserPfxCertificate",
    security(("graphToken" = [])),
    request_body = wire::graph::UserPfxCertificate,
    responses(
        (status = 201, description = "The imported certificate (without its PFX or password)", body = doc::GraphEntity<wire::graph::UserPfxCertificate>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_create(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<wire::graph::UserPfxCertificate>,
) -> Result<Response, ApiError> {
    let now = crate::clock::truncate_ms(state.ops.now());
    let pfx = pfx_from_body(&caller.tenant_id, body, now)?;
    let pfx = state.ops.pfx().import(pfx).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(with_context(&headers, view(&pfx), true)),
    )
        .into_response())
}

/// `PATCH …/userPfxCertificates({id})` (the module's `Import -IsUpdate`): the whole entity again;
/// its user and thumbprint must name the entity patched. Answers 204 as Graph does.
#[utoipa::path(
    patch,
    path = "/beta/deviceManagement/userPfxCertificates/{id}",
    tag = "graph",
    operation_id = "updateUserPfxCertificate",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The certificate's id: `{id}`, `({id})` or `('{id}')`")),
    request_body = wire::graph::UserPfxCertificate,
    responses(
        (status = 204, description = "The certificate is replaced"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_patch(
    caller: GraphCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<wire::graph::UserPfxCertificate>,
) -> Result<StatusCode, ApiError> {
    let id = key(&id);
    let existing = state.ops.pfx().get(&caller.tenant_id, id).await?;
    let now = crate::clock::truncate_ms(state.ops.now());
    let mut pfx = pfx_from_body(&caller.tenant_id, body, now)?;
    if pfx.id != existing.id {
        return Err(invalid(format!(
            "userPrincipalName and thumbprint name `{}`, not the entity `{id}` being patched",
            pfx.id
        )));
    }
    pfx.created = existing.created;
    state.ops.pfx().update(pfx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/userPfxCertificates`, with the module's `$filter` on `userPrincipalName` and
/// `thumbprint` (`tolower(…)` accepted; both compare without regard to case).
#[utoipa::path(
    get,
    path = "/beta/deviceManagement/userPfxCertificates",
    tag = "graph",
    operation_id = "listUserPfxCertificates",
    security(("graphToken" = [])),
    params(doc::PfxQuery),
    responses(
        (status = 200, description = "The tenant's imported certificates", body = wire::graph::GraphCollection<wire::graph::UserPfxCertificate>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_list(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<ApiJson<Value>, ApiError> {
    crate::http::routes::graph::reject_repeated_options(&query)?;
    let mut filters = Vec::new();
    for (name, value) in &query {
        match name.as_str() {
            "$filter" => {
                filters = crate::http::routes::graph::parse_filter(
                    value,
                    &["userPrincipalName", "thumbprint"],
                )?
            }
            other if other.starts_with('$') => {
                return Err(invalid(format!(
                    "the query option `{other}` is not supported on userPfxCertificates"
                )))
            }
            _ => {}
        }
    }
    let imported = state.ops.pfx().list(&caller.tenant_id).await?;
    let value: Vec<Value> = imported
        .iter()
        .filter(|row| {
            filters.iter().all(|(prop, value)| {
                let have = if prop == "thumbprint" {
                    &row.thumbprint
                } else {
                    &row.user_principal_name
                };
                have.eq_ignore_ascii_case(value)
            })
        })
        .map(view)
        .collect();
    Ok(ApiJson(with_context(
        &headers,
        serde_json::json!({ "value": value }),
        false,
    )))
}

/// `…/deviceManagement/userPfxCertificates({id})` and `…('{id}')`: OData key syntax in the
/// same path segment as the entity set. Other `deviceManagement` segments are not routes.
fn keyed_segment(segment: &str) -> Result<String, ApiError> {
    segment
        .strip_prefix("userPfxCertificates(")
        .filter(|rest| rest.ends_with(')'))
        .map(|rest| format!("({rest}"))
        .ok_or_else(|| {
            ApiError::not_found(format!("no route for /beta/deviceManagement/{segment}"))
        })
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/{keyed}",
    tag = "graph",
    operation_id = "getUserPfxCertificateByKey",
    security(("graphToken" = [])),
    params(("keyed" = String, Path, description = "`userPfxCertificates({id})` or `userPfxCertificates('{id}')` (OData key syntax); any other segment is 404", pattern = r"^userPfxCertificates\(.*\)$")),
    responses(
        (status = 200, description = "The certificate", body = doc::GraphEntity<wire::graph::UserPfxCertificate>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_keyed_get(
    caller: GraphCaller,
    state: State<AppState>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Result<ApiJson<Value>, ApiError> {
    pfx_get(caller, state, headers, Path(keyed_segment(&segment)?)).await
}

#[utoipa::path(
    patch,
    path = "/beta/deviceManagement/{keyed}",
    tag = "graph",
    operation_id = "updateUserPfxCertificateByKey",
    security(("graphToken" = [])),
    params(("keyed" = String, Path, description = "`userPfxCertificates({id})` or `userPfxCertificates('{id}')` (OData key syntax); any other segment is 404", pattern = r"^userPfxCertificates\(.*\)$")),
    request_body = wire::graph::UserPfxCertificate,
    responses(
        (status = 204, description = "The certificate is replaced"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_keyed_patch(
    caller: GraphCaller,
    state: State<AppState>,
    Path(segment): Path<String>,
    body: ApiJson<wire::graph::UserPfxCertificate>,
) -> Result<StatusCode, ApiError> {
    pfx_patch(caller, state, Path(keyed_segment(&segment)?), body).await
}

#[utoipa::path(
    delete,
    path = "/beta/deviceManagement/{keyed}",
    tag = "graph",
    operation_id = "deleteUserPfxCertificateByKey",
    security(("graphToken" = [])),
    params(("keyed" = String, Path, description = "`userPfxCertificates({id})` or `userPfxCertificates('{id}')` (OData key syntax); any other segment is 404", pattern = r"^userPfxCertificates\(.*\)$")),
    responses(
        (status = 204, description = "The certificate is gone"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_keyed_delete(
    caller: GraphCaller,
    state: State<AppState>,
    Path(segment): Path<String>,
) -> Result<StatusCode, ApiError> {
    pfx_delete(caller, state, Path(keyed_segment(&segment)?)).await
}

/// The key as the module writes it: `{id}`, `({id})` or `('{id}')`.
fn key(raw: &str) -> &str {
    raw.trim_start_matches('(')
        .trim_end_matches(')')
        .trim_matches('\'')
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/userPfxCertificates/{id}",
    tag = "graph",
    operation_id = "getUserPfxCertificate",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The certificate's id: `{id}`, `({id})` or `('{id}')`")),
    responses(
        (status = 200, description = "The certificate", body = doc::GraphEntity<wire::graph::UserPfxCertificate>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_get(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let pfx = state.ops.pfx().get(&caller.tenant_id, key(&id)).await?;
    Ok(ApiJson(with_context(&headers, view(&pfx), true)))
}

#[utoipa::path(
    delete,
    path = "/beta/deviceManagement/userPfxCertificates/{id}",
    tag = "graph",
    operation_id = "deleteUserPfxCertificate",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The certificate's id: `{id}`, `({id})` or `('{id}')`")),
    responses(
        (status = 204, description = "The certificate is gone"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn pfx_delete(
    caller: GraphCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.ops.pfx().delete(&caller.tenant_id, key(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
