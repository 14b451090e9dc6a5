//! `POST /{tenantId}/oauth2/v2.0/token`: the OAuth2 client-credentials grant, as MSAL and
//! azure-identity send it (form body; client id and secret in the form or in HTTP Basic; one
//! `{resource}/.default` scope; other fields such as `client_info` and `claims` are read and
//! ignored). The answer is an RS256-signed JWT for the resource (docs/behaviour.md, "Tenants and connectors").

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::http::extract::ApiJson;
use crate::http::openapi as doc;
use crate::http::state::AppState;

fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let body = wire::token::TokenError {
        error: error.to_owned(),
        error_description: description.into(),
    };
    (status, ApiJson(body)).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The longest parameter value taken.
const MAX_PARAMETER: usize = 4096;

#[utoipa::path(
    post,
    path = "/{tenant_id}/oauth2/v2.0/token",
    tag = "token",
    operation_id = "issueToken",
    security((), ("clientSecretBasic" = [])),
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    request_body(content = doc::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An RS256-signed access token (a JWT) for the resource the scope names: Microsoft Graph or the Intune API", body = wire::token::TokenResponse),
        (status = 400, description = "The request is not valid (OAuth2 `invalid_request`, `unsupported_grant_type`, `invalid_scope`, `invalid_resource`; a query string that does not decode answers the Graph envelope)", body = doc::TokenBadRequest),
        (status = 401, description = "No client credentials, or not the tenant's (`invalid_client`)", body = wire::token::TokenError),
        (status = 413, description = "The form is larger than 1 MiB", body = wire::token::TokenError),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn token_issue(
    State(state): State<AppState>,
    tenant_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let tenant_id = match tenant_id {
        Ok(Path(tenant_id)) => tenant_id,
        Err(rejection) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("the tenant in the path: {}", rejection.body_text()),
            )
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return oauth_error(rejection.status(), "invalid_request", rejection.body_text())
        }
    };
    let form: Vec<(String, String)> = match std::str::from_utf8(&body)
        .ok()
        .and_then(|text| serde_urlencoded::from_str(text).ok())
    {
        Some(f) => f,
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded UTF-8 text",
            )
        }
    };
    // RFC 6749 §3.1: parameters must not be repeated; values are short printable text.
    for (i, (name, value)) in form.iter().enumerate() {
        if form[..i].iter().any(|(earlier, _)| earlier == name) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("the parameter `{name}` is repeated"),
            );
        }
        if name.chars().any(char::is_control) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a parameter name holds control characters",
            );
        }
        if value.len() > MAX_PARAMETER || value.chars().any(char::is_control) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "the parameter `{name}` must be at most {MAX_PARAMETER} bytes of printable text"
                ),
            );
        }
    }
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type `{other}` is not supported; use client_credentials"),
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            )
        }
    }
    let own_host = headers.get("host").and_then(|h| h.to_str().ok());
    let (client_id, client_secret) = match (
        field("client_id"),
        field("client_secret"),
        basic_credentials(&headers),
    ) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some(pair)) => pair,
        // RFC 6749 §5.2: no client authentication is `invalid_client`, 401.
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_id and client_secret are missing (form fields or HTTP Basic)",
            )
        }
    };
    let audience = match crate::identity::audience_of_scope(field("scope").as_deref(), own_host) {
        Ok(audience) => audience,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, e.code(), e.to_string()),
    };
    match state
        .ops
        .tokens()
        .issue(
            &crate::domain::TenantId::from(tenant_id),
            &client_id,
            &client_secret,
            &audience,
        )
        .await
    {
        Ok(Some(issued)) => ApiJson(wire::token::TokenResponse {
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in_seconds,
            ext_expires_in: issued.expires_in_seconds,
            access_token: issued.token,
        })
        .into_response(),
        Ok(None) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the tenant, client_id or client_secret is not valid",
        ),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}
