//! The HTTP client of the connector API. Every call carries a `client-request-id` (the
//! correlation id the connector logs too).

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status and (usually) a Graph error envelope.
    #[error("HTTP {status} {code}: {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the service: {0}")]
    Transport(String),
    #[error("the service's answer does not parse: {0}")]
    Decode(String),
}

impl ClientError {
    /// The HTTP status, if the service answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Http { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceClient {
    base_url: String,
    http: reqwest::Client,
}

impl ServiceClient {
    pub fn new(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        ServiceClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request; `Ok(None)` for an empty success body.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        correlation_id: &str,
        body: Option<&B>,
    ) -> Result<Option<T>, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(bearer)
            .header("client-request-id", correlation_id);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(error_from(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClientError::Decode(e.to_string()))
    }
}

fn error_from(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<wire::error::ErrorEnvelope>(bytes) {
        Ok(envelope) => ClientError::Http {
            status: status.as_u16(),
            code: envelope.error.code,
            message: envelope.error.message,
        },
        Err(_) => ClientError::Http {
            status: status.as_u16(),
            code: String::new(),
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
        },
    }
}
