//! Entra ID's discovery for each tenant, as MSAL reads it before it asks for a token
//! (docs/behaviour.md, "Tenants and connectors"): `GET
//! /{tenantId}/v2.0/.well-known/openid-configuration` and the tenant's signing keys, `GET
//! /{tenantId}/discovery/v2.0/keys`. No credential: both are public at Entra ID too. The URLs in
//! the configuration are this service's own origin as the request reached it (`https` on the
//! TLS listener), so MSAL's token request comes back to the same listener. An unknown tenant is
//! 400 `invalid_tenant`, as Entra ID answers (a 5xx would be retried by the clients).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use wire::token::{Jwks, OpenIdConfiguration, TokenError};

use crate::domain::TenantId;
use crate::http::extract::ApiJson;
use crate::http::openapi as doc;
use crate::http::state::AppState;

fn oauth_bad_request(error: &str, description: String) -> Response {
    let body = TokenError {
        error: error.to_owned(),
        error_description: description,
    };
    (StatusCode::BAD_REQUEST, ApiJson(body)).into_response()
}

/// The tenant in the path, or the 400 that says the path does not decode.
fn path_tenant(tenant_id: Result<Path<String>, PathRejection>) -> Result<TenantId, Box<Response>> {
    match tenant_id {
        Ok(Path(tenant_id)) => Ok(TenantId::from(tenant_id)),
        Err(rejection) => Err(Box::new(oauth_bad_request(
            "invalid_request",
            format!("the tenant in the path: {}", rejection.body_text()),
        ))),
    }
}

/// Entra ID's answer for a tenant it does not know.
fn unknown_tenant(tenant_id: &TenantId) -> Response {
    oauth_bad_request(
        "invalid_tenant",
        format!(
            "AADSTS90002: Tenant '{tenant_id}' not found. Check to make sure you have the correct \
             tenant ID: this service knows the tenants of POST /admin/tenants."
        ),
    )
}

/// The configuration of `tenant_id` for clients that reached the service at `base`.
fn configuration(base: &str, tenant_id: &TenantId) -> OpenIdConfiguration {
    let at = |path: &str| format!("{base}/{tenant_id}/{path}");
    let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    OpenIdConfiguration {
        issuer: at("v2.0"),
        // MSAL requires it; a client-credentials client never calls it (the service does not
        // serve it).
        authorization_endpoint: at("oauth2/v2.0/authorize"),
        token_endpoint: at("oauth2/v2.0/token"),
        token_endpoint_auth_methods_supported: list(&["client_secret_post", "client_secret_basic"]),
        jwks_uri: at("discovery/v2.0/keys"),
        grant_types_supported: list(&["client_credentials"]),
        response_types_supported: list(&["token"]),
        subject_types_supported: list(&["pairwise"]),
        id_token_signing_alg_values_supported: list(&[crate::identity::jwt::ALGORITHM]),
        scopes_supported: list(&[
            crate::identity::Resource::Graph.scope(),
            crate::identity::Resource::Intune.scope(),
        ]),
        request_uri_parameter_supported: false,
    }
}

#[utoipa::path(
    get,
    path = "/{tenant_id}/v2.0/.well-known/openid-configuration",
    tag = "token",
    operation_id = "openidConfiguration",
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's OpenID Provider configuration, with this service's own origin in its URLs", body = OpenIdConfiguration),
        (status = 400, description = "Not a tenant of this service (`invalid_tenant`), or a path that does not decode (`invalid_request`; a query string that does not decode answers the Graph envelope)", body = doc::TokenBadRequest),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn openid_configuration(
    State(state): State<AppState>,
    tenant_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let tenant_id = match path_tenant(tenant_id) {
        Ok(tenant_id) => tenant_id,
        Err(refused) => return *refused,
    };
    match state.ops.tokens().tenant_exists(&tenant_id).await {
        Ok(true) => {
            let base = super::graph::base_url(&headers);
            ApiJson(configuration(&base, &tenant_id)).into_response()
        }
        Ok(false) => unknown_tenant(&tenant_id),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/{tenant_id}/discovery/v2.0/keys",
    tag = "token",
    operation_id = "signingKeys",
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The keys the tenant's tokens are signed with (a JWKS; `kid` = `x5t`, the certificate's SHA-1 thumbprint)", body = Jwks),
        (status = 400, description = "Not a tenant of this service (`invalid_tenant`), or a path that does not decode (`invalid_request`; a query string that does not decode answers the Graph envelope)", body = doc::TokenBadRequest),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn signing_keys(
    State(state): State<AppState>,
    tenant_id: Result<Path<String>, PathRejection>,
) -> Response {
    let tenant_id = match path_tenant(tenant_id) {
        Ok(tenant_id) => tenant_id,
        Err(refused) => return *refused,
    };
    match state.ops.tokens().keys(&tenant_id).await {
        Ok(Some(keys)) => ApiJson(Jwks { keys }).into_response(),
        Ok(None) => unknown_tenant(&tenant_id),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}
