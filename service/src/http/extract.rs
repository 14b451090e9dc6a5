//! Extractors: `ApiJson` (our rejection format) and the three kinds of caller identity.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use crate::store::{ConnectorRow, TenantRow};

/// JSON in and out; a malformed body is a 400 (or 413/415) in the Graph envelope that says what
/// was wrong and where.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The bytes are kept to look for repeated keys, which `T` (a map, a `Value`) may not see.
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(JsonRejection::BytesRejection(e)))?;
        let mut again = Request::new(axum::body::Body::from(bytes.clone()));
        *again.headers_mut() = headers;
        let value = match axum::Json::<T>::from_request(again, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        serde_json::from_slice::<UniqueKeys>(&bytes).map_err(|e| {
            ApiError::bad_request("invalidRequest", format!("the body is not valid JSON: {e}"))
        })?;
        Ok(ApiJson(value))
    }
}

/// Deserializes any JSON and fails on an object that names a key twice (which copy would win
/// is up to the reader, so the body is refused).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` is given twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
            "the request body must be JSON with Content-Type: application/json",
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalidRequest",
            format!("the JSON body does not fit: {}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "invalidRequest",
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "requestTooLarge",
                format!(
                    "the request body is larger than {} bytes",
                    super::BODY_LIMIT_BYTES
                ),
            )
        }
        other => ApiError::bad_request("invalidRequest", other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

pub(crate) fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get("authorization").ok_or_else(|| {
        ApiError::unauthenticated(
            "the Authorization header is missing; send `Authorization: Bearer <token>`",
        )
    })?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("the Authorization header is not text"))?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(token.trim())
}

/// The operator (admin API) identity: the operator token, compared in constant time.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if bool::from(token.as_bytes().ct_eq(state.operator_token.as_bytes())) {
            Ok(Operator)
        } else {
            Err(ApiError::unauthenticated("the operator token is not valid"))
        }
    }
}

/// A connector identified by its credential. Uninstalled connectors' credentials stop working.
#[derive(Debug, Clone)]
pub struct ConnectorCaller(pub ConnectorRow);

impl FromRequestParts<AppState> for ConnectorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        match state.registry.connector_by_credential(token).await? {
            Some(row) => {
                if let Some(limit) = &state.limit {
                    limit.check(&row.id).map_err(|seconds| {
                        let mut error = ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "TooManyRequests",
                            format!(
                                "this connector made more than {} requests a second; try again in {seconds} s",
                                limit.per_second()
                            ),
                        );
                        error.retry_after = Some(seconds);
                        error
                    })?;
                }
                Ok(ConnectorCaller(row))
            }
            None => Err(ApiError::unauthenticated(
                "the connector credential is not valid (is the connector uninstalled?)",
            )),
        }
    }
}

/// A tenant identified by its enrollment secret (registration only).
#[derive(Debug, Clone)]
pub struct Enrollment(pub TenantRow);

impl FromRequestParts<AppState> for Enrollment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        match state.registry.tenant_by_enrollment_secret(token).await {
            Ok(tenant) => Ok(Enrollment(tenant)),
            Err(crate::registry::RegistryError::NotFound(_)) => Err(ApiError::unauthenticated(
                "the enrollment secret is not valid",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The tenant of a Graph token from the token endpoint.
#[derive(Debug, Clone)]
pub struct GraphCaller {
    pub tenant_id: String,
}

impl FromRequestParts<AppState> for GraphCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).map_err(|e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                e.message,
            )
        })?;
        match state.registry.token_tenant(token).await? {
            Some(tenant_id) => Ok(GraphCaller { tenant_id }),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "the access token is not valid or has expired",
            )),
        }
    }
}

/// Read access to one tenant's connectors: the operator, or a Graph token of that tenant.
#[derive(Debug, Clone)]
pub enum TenantReader {
    Operator,
    Tenant(String),
}

impl TenantReader {
    pub fn check(&self, tenant_id: &str) -> Result<(), ApiError> {
        match self {
            TenantReader::Operator => Ok(()),
            TenantReader::Tenant(own) if own == tenant_id => Ok(()),
            TenantReader::Tenant(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "accessDenied",
                "the token belongs to another tenant",
            )),
        }
    }
}

impl FromRequestParts<AppState> for TenantReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if bool::from(token.as_bytes().ct_eq(state.operator_token.as_bytes())) {
            return Ok(TenantReader::Operator);
        }
        match state.registry.token_tenant(token).await? {
            Some(tenant_id) => Ok(TenantReader::Tenant(tenant_id)),
            None => Err(ApiError::unauthenticated(
                "neither the operator token nor a valid tenant access token",
            )),
        }
    }
}
