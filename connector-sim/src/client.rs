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

/// An HTTP proxy between the connector and the service (the connector's proxy setting), with
/// optional basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// `http://host:port`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret: never in logs.
        f.debug_struct("ProxySettings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The connector's HTTP client: through `proxy` when one is set, otherwise straight to the
/// service (proxy variables of the environment are ignored, so tests stay on loopback).
pub fn http_client(proxy: Option<&ProxySettings>) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30));
    if let Some(p) = proxy {
        let mut route = reqwest::Proxy::all(&p.url)
            .map_err(|e| ClientError::Transport(format!("proxy `{}`: {e}", p.url)))?;
        if let Some(user) = &p.username {
            route = route.basic_auth(user, p.password.as_deref().unwrap_or(""));
        }
        builder = builder.proxy(route);
    }
    builder
        .build()
        .map_err(|e| ClientError::Transport(format!("cannot build the HTTP client: {e}")))
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
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            // An error answer whose body cannot be read (a proxy's 407 page, say) is still that
            // error.
            Err(e) if !status.is_success() => {
                return Err(ClientError::Http {
                    status: status.as_u16(),
                    code: String::new(),
                    message: format!("(the body could not be read: {e})"),
                })
            }
            Err(e) => return Err(ClientError::Transport(e.to_string())),
        };
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
