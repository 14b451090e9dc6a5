//! `POST /{tenantId}/oauth2/v2.0/token`: the OAuth2 client-credentials grant, as MSAL sends it
//! (form body; client id and secret in the form or in HTTP Basic; any scope).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::http::extract::ApiJson;
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

pub async fn token_issue(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: Vec<(String, String)> = match serde_urlencoded::from_str(&body) {
        Ok(f) => f,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            )
        }
    };
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
    let (client_id, client_secret) = match (
        field("client_id"),
        field("client_secret"),
        basic_credentials(&headers),
    ) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some(pair)) => pair,
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id and client_secret are missing (form fields or HTTP Basic)",
            )
        }
    };
    match state
        .registry
        .issue_token(&tenant_id, &client_id, &client_secret)
        .await
    {
        Ok(Some((token, expires_in))) => ApiJson(wire::token::TokenResponse {
            token_type: "Bearer".to_owned(),
            expires_in,
            ext_expires_in: expires_in,
            access_token: token,
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
