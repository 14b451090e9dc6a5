//! One installed connector: registration, polling, reconfiguration, uninstall.
//!
//! Time is always passed in (`now`): the harness passes virtual time, the real-time loop passes
//! the wall clock. Polls sit on a fixed grid (`installed + k × poll_interval`); the harness asks
//! [`Connector::poll_due`] and calls [`Connector::poll`] once for any number of grid points it
//! skipped while nothing could change (DESIGN §3.7). Such a coalesced check-in tells the service
//! the connector has been polling without a gap since its last successful check-in.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;

use crate::client::{ClientError, ServiceClient};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub name: String,
    pub machine_name: String,
    pub display_name: String,
    pub features: Vec<String>,
    pub version: String,
    pub product: Option<String>,
    pub auto_update: bool,
    pub co_installed: Vec<String>,
    pub service_account: Option<String>,
    pub import_key_thumbprint: Option<String>,
    pub poll_interval: Duration,
    /// Seeds the correlation ids, so transcripts repeat exactly.
    pub seed: u64,
}

/// Correlation ids: GUID-shaped, from a counter through splitmix64 (deterministic per seed).
#[derive(Debug, Clone)]
struct Correlation {
    state: u64,
}

impl Correlation {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_id(&mut self) -> String {
        let high = self.next_u64().to_be_bytes();
        let low = self.next_u64().to_be_bytes();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high);
        bytes[8..].copy_from_slice(&low);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

#[derive(Debug)]
pub struct Connector {
    config: ConnectorConfig,
    client: ServiceClient,
    connector_id: String,
    credential: String,
    version: String,
    installed_at: DateTime<Utc>,
    next_poll: DateTime<Utc>,
    /// The last successful check-in, if every poll since then succeeded (or was coalesced).
    continuous_since: Option<DateTime<Utc>>,
    running: bool,
    correlation: Correlation,
}

impl Connector {
    /// Registers with the tenant's enrollment secret and checks in once.
    pub async fn install(
        config: ConnectorConfig,
        client: ServiceClient,
        enrollment_secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ClientError> {
        let mut correlation = Correlation { state: config.seed };
        let request = wire::connector::RegisterRequest {
            machine_name: config.machine_name.clone(),
            display_name: config.display_name.clone(),
            features: config.features.clone(),
            version: config.version.clone(),
            product: config.product.clone(),
            service_account: config.service_account.clone(),
            co_installed_products: (!config.co_installed.is_empty())
                .then(|| config.co_installed.clone()),
            auto_update: Some(config.auto_update),
            proxy: None,
            import_key_thumbprint: config.import_key_thumbprint.clone(),
        };
        let registered: Option<wire::connector::RegisterResponse> = client
            .send(
                Method::POST,
                "/connector/v1/register",
                enrollment_secret,
                &correlation.next_id(),
                Some(&request),
            )
            .await?;
        let registered =
            registered.ok_or_else(|| ClientError::Decode("empty registration answer".into()))?;
        let mut connector = Connector {
            version: config.version.clone(),
            next_poll: now + config.poll_interval,
            config,
            client,
            connector_id: registered.connector_id,
            credential: registered.credential,
            installed_at: now,
            continuous_since: None,
            running: true,
            correlation,
        };
        // The first check-in right after installation; a refusal leaves the connector installed.
        let _ = connector.checkin(now).await;
        Ok(connector)
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn id(&self) -> &str {
        &self.connector_id
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops polling (the machine is off or the service stopped); the registration stays.
    pub fn stop(&mut self) {
        self.running = false;
        self.continuous_since = None;
    }

    /// Resumes polling from `now`.
    pub fn start(&mut self, now: DateTime<Utc>) {
        self.running = true;
        self.next_poll = now;
    }

    /// The next grid instant at which this connector polls, if it is running.
    pub fn next_poll(&self) -> Option<DateTime<Utc>> {
        self.running.then_some(self.next_poll)
    }

    /// True when at least one poll falls in `(last poll, now]`.
    pub fn poll_due(&self, now: DateTime<Utc>) -> bool {
        self.running && self.next_poll <= now
    }

    /// The last grid instant at or before `limit` at which this connector polls, if a poll is
    /// due by then: where a coalesced poll for the span up to `limit` belongs.
    pub fn poll_point(&self, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.poll_due(limit) {
            return None;
        }
        let interval_ms = self.config.poll_interval.num_milliseconds().max(1);
        let elapsed_ms = (limit - self.installed_at).num_milliseconds().max(0);
        let point =
            self.installed_at + Duration::milliseconds(elapsed_ms / interval_ms * interval_ms);
        Some(point.max(self.next_poll))
    }

    /// Performs the polls due by `now` as one coalesced poll, and moves to the next grid point.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<(), ClientError> {
        let interval_ms = self.config.poll_interval.num_milliseconds().max(1);
        let elapsed_ms = (now - self.installed_at).num_milliseconds().max(0);
        self.next_poll = self.installed_at
            + Duration::milliseconds((elapsed_ms / interval_ms + 1) * interval_ms);
        self.checkin(now).await
    }

    /// One check-in now.
    pub async fn checkin(&mut self, now: DateTime<Utc>) -> Result<(), ClientError> {
        let request = wire::connector::CheckinRequest {
            version: self.version.clone(),
            active_since: self.continuous_since,
        };
        let correlation_id = self.correlation.next_id();
        let outcome: Result<Option<wire::connector::CheckinResponse>, ClientError> = self
            .client
            .send(
                Method::POST,
                "/connector/v1/checkin",
                &self.credential,
                &correlation_id,
                Some(&request),
            )
            .await;
        match outcome {
            Ok(_) => {
                self.continuous_since = Some(now);
                Ok(())
            }
            Err(e) => {
                self.continuous_since = None;
                Err(e)
            }
        }
    }

    /// Asks for jobs of every kind the connector's features allow (one worker per feature in
    /// the real product; one call here).
    pub async fn lease(&mut self, max: u32) -> Result<wire::connector::LeaseResponse, ClientError> {
        let request = wire::connector::LeaseRequest {
            kinds: None,
            max,
            wait_ms: None,
            visibility_timeout_seconds: None,
        };
        let correlation_id = self.correlation.next_id();
        let answer: Option<wire::connector::LeaseResponse> = self
            .client
            .send(
                Method::POST,
                "/connector/v1/jobs/lease",
                &self.credential,
                &correlation_id,
                Some(&request),
            )
            .await?;
        answer.ok_or_else(|| ClientError::Decode("empty lease answer".into()))
    }

    /// Reconfigures without a restart (features, account, key, …).
    pub async fn reconfigure(
        &mut self,
        change: &wire::connector::ReconfigureRequest,
    ) -> Result<wire::admin::ConnectorView, ClientError> {
        let correlation_id = self.correlation.next_id();
        let view: Option<wire::admin::ConnectorView> = self
            .client
            .send(
                Method::PATCH,
                "/connector/v1/self",
                &self.credential,
                &correlation_id,
                Some(change),
            )
            .await?;
        let view = view.ok_or_else(|| ClientError::Decode("empty reconfigure answer".into()))?;
        self.config.features = view.features.clone();
        Ok(view)
    }

    /// Uninstalls: the service forgets the connector and its credential stops working.
    pub async fn uninstall(mut self) -> Result<(), ClientError> {
        let correlation_id = self.correlation.next_id();
        self.client
            .send::<(), serde_json::Value>(
                Method::DELETE,
                "/connector/v1/self",
                &self.credential,
                &correlation_id,
                None,
            )
            .await?;
        Ok(())
    }
}

/// Runs one connector on the wall clock until `shutdown` resolves: install, then poll on the
/// interval. Errors are logged and polling goes on, as the real service does.
pub async fn run_realtime(
    config: ConnectorConfig,
    client: ServiceClient,
    enrollment_secret: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    #[allow(clippy::disallowed_methods)] // The real-time driver reads the wall clock by definition.
    let wall = Utc::now;
    let mut connector = Connector::install(config, client, enrollment_secret, wall()).await?;
    tracing::info!(connector_id = connector.id(), "connector installed");
    let period = connector
        .config
        .poll_interval
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(30));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(period) => {
                if let Err(e) = connector.poll(wall()).await {
                    tracing::warn!(error = %e, "check-in failed; will try again");
                }
            }
        }
    }
}
