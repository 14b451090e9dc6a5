//! The HTTP client of the connector API. Every call carries a `client-request-id` (the
//! correlation id the connector logs too).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
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
        // A new connection for each call: forward proxies such as tinyproxy close the client's
        // connection after each exchange, and a call that reused it raced that close and failed
        // with "error sending request" (seen under load in CI). .NET's handler, which the real
        // connector uses, retries such a call instead.
        builder = builder.proxy(route).pool_max_idle_per_host(0);
    }
    builder
        .build()
        .map_err(|e| ClientError::Transport(format!("cannot build the HTTP client: {e}")))
}

/// How long a call may take before it fails (reqwest's timeout on the HTTP transport).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How the client reaches the service.
#[derive(Debug, Clone)]
enum Transport {
    /// HTTP/1.1 over TCP, through the proxy the client was built with, if any.
    Http(reqwest::Client),
    /// The service's router called in this process: the same middleware, extractors and
    /// handlers, and the same bytes in and out, without the TCP connection and the HTTP/1.1
    /// encoding. The scenario harness's connectors use it (a real connector process cannot).
    InProcess(axum::Router),
}

#[derive(Debug, Clone)]
pub struct ServiceClient {
    base_url: String,
    transport: Transport,
    /// The service's clock as the `Date` of its latest answer (shared by the clones).
    service_date: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl ServiceClient {
    pub fn new(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        ServiceClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            transport: Transport::Http(http),
            service_date: Arc::default(),
        }
    }

    /// A client that calls `router` (the service's, in this process) instead of going over TCP
    /// to `base_url`, which it still reports as the service's address and sends as `Host`.
    pub fn in_process(base_url: impl Into<String>, router: axum::Router) -> Self {
        ServiceClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            transport: Transport::InProcess(router),
            service_date: Arc::default(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The service's clock at its latest answer (its `Date` header), if any answer had one.
    pub fn service_date(&self) -> Option<DateTime<Utc>> {
        *self.service_date.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the service for `GET /healthz` (no credential) and returns the `Date` of its answer:
    /// the service's clock, virtual or real.
    pub async fn service_time(&self) -> Result<DateTime<Utc>, ClientError> {
        let _: Option<serde_json::Value> = self
            .send::<(), _>(Method::GET, "/healthz", "", "", None)
            .await?;
        self.service_date().ok_or_else(|| {
            ClientError::Decode("the service's answer has no Date header".to_owned())
        })
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
        // One request, whichever transport carries it.
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header("client-request-id", correlation_id);
        if !bearer.is_empty() {
            request = request.header(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {bearer}"),
            );
        }
        if body.is_some() {
            request = request.header(axum::http::header::CONTENT_TYPE, "application/json");
        }
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Transport(format!("cannot encode the request: {e}")))?;
        let request = request
            .body(body.unwrap_or_default())
            .map_err(|e| ClientError::Transport(format!("cannot build the request: {e}")))?;
        let (status, date, bytes) = match &self.transport {
            Transport::Http(http) => over_http(http, request).await?,
            Transport::InProcess(router) => {
                tokio::time::timeout(CALL_TIMEOUT, in_this_process(router, request))
                    .await
                    .map_err(|_| ClientError::Transport("operation timed out".to_owned()))??
            }
        };
        if let Some(date) = date {
            *self.service_date.lock().unwrap_or_else(|p| p.into_inner()) = Some(date);
        }
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

/// What came back: the status, the `Date` header, the body.
type Answer = (StatusCode, Option<DateTime<Utc>>, Vec<u8>);

/// A `Date` header's instant (IMF-fixdate is RFC 2822's form with `GMT`).
fn date_of(headers: &axum::http::HeaderMap) -> Option<DateTime<Utc>> {
    let text = headers.get(axum::http::header::DATE)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

async fn over_http(
    http: &reqwest::Client,
    request: axum::http::Request<Vec<u8>>,
) -> Result<Answer, ClientError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| ClientError::Transport(format!("cannot build the request: {e}")))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    let status = response.status();
    let date = date_of(response.headers());
    match response.bytes().await {
        Ok(bytes) => Ok((status, date, bytes.to_vec())),
        Err(e) if !status.is_success() => Err(unreadable(status, e)),
        Err(e) => Err(ClientError::Transport(e.to_string())),
    }
}

async fn in_this_process(
    router: &axum::Router,
    request: axum::http::Request<Vec<u8>>,
) -> Result<Answer, ClientError> {
    use tower::ServiceExt;
    let (mut parts, body) = request.into_parts();
    // What an HTTP client sends: the service's address as `Host`.
    if let Some(host) = parts
        .uri
        .authority()
        .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(axum::http::header::HOST, host);
    }
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body));
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let date = date_of(response.headers());
    match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(bytes) => Ok((status, date, bytes.to_vec())),
        Err(e) if !status.is_success() => Err(unreadable(status, e)),
        // A dropped connection: the service stopped in the middle of its answer.
        Err(e) => Err(ClientError::Transport(format!(
            "the connection was closed before the answer was complete: {e}"
        ))),
    }
}

/// An error answer whose body cannot be read (a proxy's 407 page, say) is still that error.
fn unreadable(status: StatusCode, error: impl std::fmt::Display) -> ClientError {
    ClientError::Http {
        status: status.as_u16(),
        code: String::new(),
        message: format!("(the body could not be read: {error})"),
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
