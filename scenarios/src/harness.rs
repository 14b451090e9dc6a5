//! `spawn_app`: a real service on a loopback port with an in-memory SQLite database, a virtual
//! clock and seeded ids, plus typed helpers for the operator API. The scenario runner and the
//! integration tests both build their worlds on it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use service::config::{ClockSetting, Settings};
use service::domain::catalog::CatalogChoice;
use service::ops::Ops;
use service::startup::Application;

/// The operator token of every harness service (it only ever listens on loopback).
pub const OPERATOR_TOKEN: &str = "harness-operator-token";

/// A running service owned by a test or a scenario; dropping it stops the server.
#[derive(Debug)]
pub struct TestApp {
    pub base_url: String,
    /// `https://127.0.0.1:PORT` when [`spawn_app_with_tls`] added an HTTPS listener.
    pub tls_base_url: Option<String>,
    /// The service's operations, in this process.
    pub ops: Arc<Ops>,
    pub http: reqwest::Client,
    /// The service's router, for clients in this process (see `ServiceClient::in_process`).
    pub router: axum::Router,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// An HTTP answer as the harness sees it: status and parsed JSON (Null when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    /// The Graph error code, if the body is an error envelope.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(|v| v.as_str())
    }

    pub fn parse<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        Ok(serde_json::from_value(self.body.clone())?)
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

pub async fn spawn_app(start: DateTime<Utc>, seed: u64) -> anyhow::Result<TestApp> {
    spawn_app_on(start, seed, "sqlite::memory:").await
}

/// [`spawn_app`] evaluating against the shipped catalog `catalog` (`run --catalog`).
pub async fn spawn_app_with_catalog(
    start: DateTime<Utc>,
    seed: u64,
    catalog: CatalogChoice,
) -> anyhow::Result<TestApp> {
    spawn_app_with(Settings {
        catalog,
        ..in_memory_settings(start, seed, "sqlite::memory:")?
    })
    .await
}

/// The settings of [`spawn_app_on`].
fn in_memory_settings(
    start: DateTime<Utc>,
    seed: u64,
    database_url: &str,
) -> anyhow::Result<Settings> {
    Ok(Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: database_url.to_owned(),
        clock: ClockSetting::Virtual { start },
        operator_token: OPERATOR_TOKEN.to_owned(),
        seed: Some(seed),
        connector_rate_limit: None,
        stored_clock: Default::default(),
        catalog: Default::default(),
        limits: Default::default(),
    })
}

/// [`spawn_app`] on the database at `database_url` (an SQLite file, say).
pub async fn spawn_app_on(
    start: DateTime<Utc>,
    seed: u64,
    database_url: &str,
) -> anyhow::Result<TestApp> {
    spawn_app_with(in_memory_settings(start, seed, database_url)?).await
}

/// A service built from `settings` (listen on 127.0.0.1:0 to get a free port).
pub async fn spawn_app_with(settings: Settings) -> anyhow::Result<TestApp> {
    start(Application::build(settings).await?)
}

/// [`spawn_app`] with an HTTPS listener on a free loopback port as well, with `acceptor`'s
/// certificate (the same router on both).
pub async fn spawn_app_with_tls(
    start_at: DateTime<Utc>,
    seed: u64,
    acceptor: service::tls::TlsAcceptor,
) -> anyhow::Result<TestApp> {
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: "sqlite::memory:".to_owned(),
        clock: ClockSetting::Virtual { start: start_at },
        operator_token: OPERATOR_TOKEN.to_owned(),
        seed: Some(seed),
        connector_rate_limit: None,
        stored_clock: Default::default(),
        catalog: Default::default(),
        limits: Default::default(),
    };
    let app = Application::build(settings)
        .await?
        .with_tls("127.0.0.1:0".parse()?, acceptor)
        .await?;
    start(app)
}

fn start(app: Application) -> anyhow::Result<TestApp> {
    let base_url = app.base_url();
    let tls_base_url = app.tls_base_url();
    let ops = app.ops();
    let router = app.router();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Ok(TestApp {
        base_url,
        tls_base_url,
        ops,
        http: http_client(),
        router,
        shutdown: Some(tx),
        server: Some(server),
    })
}

impl TestApp {
    /// One request with a bearer token; the body is JSON when given.
    pub async fn request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok(Answer { status, body })
    }

    /// A call that must answer `expected`, its answer read into `T` as a client with the wire
    /// types reads it (`serde::de::IgnoredAny` reads it through): no JSON tree is built, and
    /// the body is shown only in the error when the status is another.
    pub async fn call_as<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: &B,
        expected: u16,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(bearer)
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        anyhow::ensure!(
            status == expected,
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn admin<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<Answer> {
        self.request(method, path, Some(OPERATOR_TOKEN), body).await
    }

    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Answer> {
        self.admin::<()>(Method::GET, path, None).await
    }

    pub async fn create_tenant(
        &self,
        display_name: &str,
        rollout_delay_days: Option<u32>,
    ) -> anyhow::Result<wire::admin::Tenant> {
        let body = wire::admin::CreateTenant {
            display_name: display_name.to_owned(),
            rollout_delay_days,
        };
        let answer = self
            .admin(Method::POST, "/admin/tenants", Some(&body))
            .await?;
        anyhow::ensure!(
            answer.status == 201,
            "creating tenant `{display_name}` answered {}: {}",
            answer.status,
            answer.body
        );
        answer.parse()
    }

    /// A Graph token for the tenant from the token endpoint.
    pub async fn graph_token(&self, tenant: &wire::admin::Tenant) -> anyhow::Result<String> {
        let secret = tenant.client_secret.as_deref().unwrap_or_default();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", tenant.client_id.as_str()),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let response = self
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", self.base_url, tenant.id))
            .form(&form)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "token endpoint answered {}",
            response.status()
        );
        let token: wire::token::TokenResponse = response.json().await?;
        Ok(token.access_token)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.ops.now()
    }

    /// Moves the virtual clock (in process; the same as `POST /admin/clock`).
    pub fn set_clock(&self, to: DateTime<Utc>) -> anyhow::Result<()> {
        self.ops.clock().set(to)?;
        Ok(())
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
