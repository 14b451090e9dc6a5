//! `ApiError` and the response middleware that wraps every error in the Graph envelope.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use crate::ops::OpsError;

/// An error answer: status, wire code and a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `Retry-After` seconds (a 429 without it says 1).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "itemNotFound", message)
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match &e {
            OpsError::Invalid { code, message } => ApiError::bad_request(*code, message.clone()),
            OpsError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            OpsError::LimitReached => ApiError::new(
                StatusCode::CONFLICT,
                "TenantConnectorLimitReached",
                e.to_string(),
            ),
            OpsError::MachineTaken(_) => ApiError::new(
                StatusCode::CONFLICT,
                "MachineAlreadyHasConnector",
                e.to_string(),
            ),
            OpsError::DuplicateRelease(_) => {
                ApiError::new(StatusCode::CONFLICT, "ReleaseAlreadyExists", e.to_string())
            }
            OpsError::LeaseLost(_) => {
                ApiError::new(StatusCode::CONFLICT, "LeaseLost", e.to_string())
            }
            OpsError::NotLeaseHolder(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "NotLeaseHolder", e.to_string())
            }
            OpsError::AlreadyCompleted(_) => {
                ApiError::new(StatusCode::CONFLICT, "AlreadyCompleted", e.to_string())
            }
            OpsError::FeatureNotInstalled(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "FeatureNotInstalled", e.to_string())
            }
            OpsError::AlreadyExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "AlreadyExists", e.to_string())
            }
            OpsError::Refused(refusal, _) => {
                ApiError::new(StatusCode::FORBIDDEN, refusal.code(), e.to_string())
            }
            OpsError::Clock(clock) => {
                use crate::clock::ClockError;
                let (status, code) = match clock {
                    ClockError::NotVirtual => (StatusCode::CONFLICT, "ClockNotVirtual"),
                    ClockError::Backwards { .. } | ClockError::ResetBackwards { .. } => {
                        (StatusCode::CONFLICT, "ClockBackwards")
                    }
                    ClockError::OutOfRange { .. } => (StatusCode::BAD_REQUEST, "ClockOutOfRange"),
                    ClockError::StoredDiffers { .. } => (StatusCode::CONFLICT, "ClockDiffers"),
                };
                ApiError::new(status, code, e.to_string())
            }
            OpsError::TooManyWaits(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyWaitingLeases",
                e.to_string(),
            ),
            OpsError::KeyReused(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IdempotencyKeyReused",
                e.to_string(),
            ),
            OpsError::NothingToRevoke(_) => ApiError::new(
                StatusCode::CONFLICT,
                "NotEnoughCertificatesToRevoke",
                e.to_string(),
            ),
            OpsError::NoDeviceKey(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "DeviceKeyNotHeld", e.to_string())
            }
            OpsError::Corrupt(_) | OpsError::Store(_) => {
                // The cause chain is logged once here; the client sees nothing internal.
                tracing::error!(error = ?e, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    "the service failed to process the request",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Do the query's percent-escapes decode to UTF-8 (`%FF`, `%C3` alone and the like do not)?
/// Other text is taken as it stands, as form decoding does.
fn query_is_utf8(query: &str) -> bool {
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// An error answer that is not JSON (an extractor's rejection: a path parameter that is not
/// UTF-8, a query that does not deserialize, a body that is not text) as an `ApiError` with the
/// rejection's text; 5xx say nothing of it.
async fn plain_error(response: &mut Response) -> Option<ApiError> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return None;
    }
    let body = std::mem::replace(response.body_mut(), Body::empty());
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "itemNotFound",
        StatusCode::METHOD_NOT_ALLOWED => "methodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "requestTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupportedMediaType",
        s if s.is_server_error() => "generalException",
        _ => "invalidRequest",
    };
    let message = if status.is_server_error() || text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_owned()
    } else {
        text
    };
    Some(ApiError::new(status, code, message))
}

/// Echoes `client-request-id`, sets `request-id`, and writes the error envelope of an `ApiError`.
/// An instant as HTTP's `Date` writes it (IMF-fixdate, RFC 9110 section 5.6.7).
pub fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

pub async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_default();
    let request_id = state.ops.ids().uuid().to_string();
    let mut response = match request.uri().query() {
        Some(query) if !query_is_utf8(query) => ApiError::bad_request(
            "invalidRequest",
            "the query string is not valid: a percent-encoded sequence is not UTF-8",
        )
        .into_response(),
        _ => next.run(request).await,
    };
    if response.extensions().get::<ApiError>().is_none() {
        if let Some(error) = plain_error(&mut response).await {
            response.extensions_mut().insert(error);
        }
    }
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        let retry_after = error.retry_after;
        let body = wire::error::ErrorEnvelope {
            error: wire::error::ErrorBody {
                code: error.code,
                message: error.message,
                inner_error: wire::error::InnerError {
                    date: state
                        .ops
                        .now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    request_id: request_id.clone(),
                    client_request_id: client_request_id.clone(),
                },
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let status = response.status();
        response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .unwrap_or_else(|_| status.into_response());
        if let Some(seconds) =
            retry_after.or((status == StatusCode::TOO_MANY_REQUESTS).then_some(1))
        {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    // The service's own time, virtual or real (HTTP's `Date`): a client such as the command-line
    // connector reads the service's clock from any answer (docs/behaviour.md, "Time").
    if let Ok(v) = HeaderValue::from_str(&http_date(state.ops.now())) {
        response.headers_mut().insert(axum::http::header::DATE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&client_request_id) {
        if !client_request_id.is_empty() {
            response.headers_mut().insert("client-request-id", v);
        }
    }
    response
}
