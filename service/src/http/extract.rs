//! Extractors: `ApiJson` (our rejection format) and the kinds of caller identity: the operator,
//! a connector, an enrollment, a tenant's token for Graph or for the Intune API, a tenant reader.

use std::borrow::Cow;
use std::collections::HashSet;

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
use crate::domain::TenantId;
use crate::identity::{Refusal, Resource};
use crate::ops::{Connector, Tenant};

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
        // Keys are borrowed from the body where they can be (no escapes). An object has a few
        // keys, which a list compares faster than a hash set hashes them; past
        // `LIST_KEYS_UP_TO` they go into a set.
        const LIST_KEYS_UP_TO: usize = 16;
        let mut listed: Vec<Cow<'de, str>> = Vec::new();
        let mut hashed: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let repeated = if listed.len() < LIST_KEYS_UP_TO {
                let repeated = listed.contains(&key);
                if !repeated {
                    listed.push(key.clone());
                }
                repeated
            } else {
                if hashed.is_empty() {
                    hashed.extend(listed.iter().cloned());
                }
                !hashed.insert(key.clone())
            };
            if repeated {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` is given twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// An object key, borrowed from the body unless it holds an escape.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
    fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
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
pub struct ConnectorCaller(pub Connector);

impl FromRequestParts<AppState> for ConnectorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        match state.ops.connectors().by_credential(token).await? {
            Some(connector) => {
                if let Some(limit) = &state.limit {
                    limit.check(connector.id.as_str()).map_err(|seconds| {
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
                Ok(ConnectorCaller(connector))
            }
            None => Err(ApiError::unauthenticated(
                "the connector credential is not valid (is the connector uninstalled?)",
            )),
        }
    }
}

/// A tenant identified by its enrollment secret (registration only).
#[derive(Debug, Clone)]
pub struct Enrollment(pub Tenant);

impl FromRequestParts<AppState> for Enrollment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        match state.ops.tenants().by_enrollment_secret(token).await? {
            Some(tenant) => Ok(Enrollment(tenant)),
            None => Err(ApiError::unauthenticated(
                "the enrollment secret is not valid",
            )),
        }
    }
}

/// The tenant of a token from the token endpoint for `wanted`, or the 401 that says why the
/// token is refused (`InvalidAuthenticationToken`, Graph's code for a bad token).
async fn tenant_token(
    parts: &Parts,
    state: &AppState,
    wanted: &[Resource],
) -> Result<TenantId, ApiError> {
    let refused = |message: String| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = bearer(parts).map_err(|e| refused(e.message))?;
    state
        .ops
        .tokens()
        .check(token, wanted)
        .await?
        .map_err(|refusal| refused(refusal.to_string()))
}

/// The tenant of a Graph token from the token endpoint: signed by the tenant's key, for
/// Microsoft Graph, valid at the service's time (docs/behaviour.md, "Tenants and connectors").
#[derive(Debug, Clone)]
pub struct GraphCaller {
    pub tenant_id: TenantId,
}

impl FromRequestParts<AppState> for GraphCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tenant_id = tenant_token(parts, state, &[Resource::Graph]).await?;
        Ok(GraphCaller { tenant_id })
    }
}

/// What the Intune FE routes take: a token for the Intune API (Microsoft's CA libraries ask for
/// the scope `https://api.manage.microsoft.com//.default`) or, as the mock took before it
/// signed its tokens, one for Microsoft Graph (docs/behaviour.md, "SCEP and the third-party CA
/// surface").
pub(crate) const INTUNE_FE_AUDIENCES: &[Resource] = &[Resource::Intune, Resource::Graph];

/// The tenant of a token for the Intune FE routes a third-party CA calls (see
/// [`INTUNE_FE_AUDIENCES`]).
#[derive(Debug, Clone)]
pub struct IntuneCaller {
    pub tenant_id: TenantId,
}

impl FromRequestParts<AppState> for IntuneCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tenant_id = tenant_token(parts, state, INTUNE_FE_AUDIENCES).await?;
        Ok(IntuneCaller { tenant_id })
    }
}

/// Read access to one tenant's connectors: the operator, or a Graph token of that tenant.
#[derive(Debug, Clone)]
pub enum TenantReader {
    Operator,
    Tenant(TenantId),
}

impl TenantReader {
    pub fn check(&self, tenant_id: &TenantId) -> Result<(), ApiError> {
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
        match state.ops.tokens().check(token, &[Resource::Graph]).await? {
            Ok(tenant_id) => Ok(TenantReader::Tenant(tenant_id)),
            Err(Refusal::NotIssued) => Err(ApiError::unauthenticated(
                "neither the operator token nor a valid tenant access token",
            )),
            Err(refusal) => Err(ApiError::unauthenticated(format!(
                "neither the operator token nor a valid tenant access token: {refusal}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UniqueKeys;

    fn check(body: &str) -> Result<(), String> {
        serde_json::from_str::<UniqueKeys>(body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn object(keys: &[String]) -> String {
        let members: Vec<String> = keys.iter().map(|k| format!("\"{k}\": {{}}")).collect();
        format!("{{{}}}", members.join(", "))
    }

    #[test]
    fn a_key_given_twice_anywhere_is_refused_and_names_the_key() {
        assert_eq!(
            check(r#"{"a": 1, "b": [1, {"c": null}], "d": "a"}"#),
            Ok(())
        );
        for (body, error) in [
            (
                r#"{"a": 1, "a": 2}"#,
                "the key `a` is given twice at line 1 column 12",
            ),
            (
                r#"{"outer": {"a": true, "b": false, "a": true}}"#,
                "the key `a` is given twice at line 1 column 37",
            ),
            (
                r#"[{"a": 1}, {"b": 1, "a": 1, "b": 2}]"#,
                "the key `b` is given twice at line 1 column 31",
            ),
            // The same key, once written with an escape.
            (
                r#"{"a\u0062": 1, "ab": 2}"#,
                "the key `ab` is given twice at line 1 column 19",
            ),
        ] {
            assert_eq!(check(body), Err(error.to_owned()), "{body}");
        }
    }

    #[test]
    fn large_objects_are_checked_past_the_listed_keys() {
        let mut keys: Vec<String> = (0..40).map(|i| format!("key{i:02}")).collect();
        assert_eq!(check(&object(&keys)), Ok(()));
        // A repeat of the first key, the seventeenth and the last, each after forty others.
        for repeated in ["key00", "key16", "key39"] {
            keys.push(repeated.to_owned());
            assert_eq!(
                check(&object(&keys)),
                Err(format!(
                    "the key `{repeated}` is given twice at line 1 column 528"
                )),
            );
            keys.pop();
        }
    }
}
