//! The installed connector: its registration, its identity towards the service and its SCEP
//! module, its event log, starting and stopping, check-ins, reconfiguration and uninstall.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use reqwest::Method;

use super::ConnectorConfig;
use crate::client::{ClientError, ServiceClient};
use crate::correlation::Correlation;
use crate::events::{Channel, EventId, EventLog, LogSettings, SharedLog};
use crate::scep::{ScepEndpoint, ScepIdentity};
use crate::work::{worker_kinds, Workbench};

#[derive(Debug)]
pub struct Connector {
    pub(super) config: ConnectorConfig,
    pub(super) client: ServiceClient,
    pub(super) connector_id: String,
    pub(super) credential: String,
    pub(super) version: String,
    pub(super) installed_at: DateTime<Utc>,
    pub(super) next_poll: DateTime<Utc>,
    /// When an auto-updating connector next asks the auto-update service.
    pub(super) next_update_check: DateTime<Utc>,
    /// When the next health message is due; the last successful upload; failed attempts in a
    /// row; how many log records the last message counted.
    pub(super) next_health: DateTime<Utc>,
    pub(super) health_since: Option<DateTime<Utc>>,
    pub(super) health_failures: u32,
    pub(super) health_cursor: usize,
    /// The last successful check-in, if every poll since then succeeded (or was coalesced).
    pub(super) continuous_since: Option<DateTime<Utc>>,
    pub(super) running: bool,
    pub(super) correlation: Correlation,
    pub(super) log: SharedLog,
    pub(super) workbench: Option<Workbench>,
    pub(super) scep: Option<Arc<ScepEndpoint>>,
}

/// What one round of the job workers did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkSummary {
    pub leased: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub retried: usize,
    /// Download or upload calls the service refused or did not answer.
    pub call_errors: usize,
}

/// What a connector that registered earlier needs to go on as itself (docs/behaviour.md, "The
/// simulated connector": `--state-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub connector_id: String,
    pub credential: String,
    /// The version it runs (it may have updated itself since it registered).
    pub version: String,
    /// When it registered: its polls stay on the grid that started then.
    pub enrolled: DateTime<Utc>,
}

impl Connector {
    /// Registers with the tenant's enrollment secret and checks in once; the event log is kept
    /// in memory.
    pub async fn install(
        config: ConnectorConfig,
        client: ServiceClient,
        enrollment_secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ClientError> {
        let log = EventLog::new(LogSettings::default(), "")
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Self::install_with_log(config, client, enrollment_secret, now, log).await
    }

    /// Registers with the tenant's enrollment secret and checks in once, writing `log` from
    /// the first event on (its files, when it has a folder, hold the start and configuration
    /// events too).
    pub async fn install_with_log(
        config: ConnectorConfig,
        client: ServiceClient,
        enrollment_secret: &str,
        now: DateTime<Utc>,
        log: EventLog,
    ) -> Result<Self, ClientError> {
        let mut correlation = Correlation::seeded(config.seed);
        let request = wire::connector::RegisterRequest {
            machine_name: config.machine_name.clone(),
            display_name: config.display_name.clone(),
            features: super::config::feature_names(&config.features),
            version: config.version.clone(),
            product: config.product.clone(),
            service_account: config.service_account.clone(),
            co_installed_products: (!config.co_installed.is_empty())
                .then(|| config.co_installed.clone()),
            auto_update: Some(config.auto_update),
            proxy: config.proxy.as_deref().map(wire::url::redact_password),
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
        let registered = Registered {
            connector_id: registered.connector_id,
            credential: registered.credential,
            version: config.version.clone(),
            enrolled: now,
        };
        let mut connector = Self::assemble(config, client, registered, correlation, log, now);
        connector.started(now);
        // The first check-in right after installation; a refusal leaves the connector installed.
        let _ = connector.checkin(now).await;
        Ok(connector)
    }

    /// The connector `registered` describes, running, with `log` as its event log.
    pub(super) fn assemble(
        config: ConnectorConfig,
        client: ServiceClient,
        registered: Registered,
        correlation: Correlation,
        mut log: EventLog,
        now: DateTime<Utc>,
    ) -> Connector {
        log.set_connector_id(registered.connector_id.clone());
        Connector {
            version: registered.version,
            next_poll: now + config.poll_interval,
            next_update_check: now,
            next_health: now,
            health_since: None,
            health_failures: 0,
            health_cursor: 0,
            config,
            client,
            connector_id: registered.connector_id,
            credential: registered.credential,
            installed_at: registered.enrolled,
            continuous_since: None,
            running: true,
            correlation,
            log: Arc::new(Mutex::new(log)),
            workbench: None,
            scep: None,
        }
    }

    /// Events 0001 (started) and 0003 (the configuration).
    pub(super) fn started(&mut self, now: DateTime<Utc>) {
        self.event(
            now,
            EventId::ConnectorServiceStarted,
            "",
            "The Certificate Connector service started.",
            serde_json::json!({"version": self.version}),
        );
        self.log_configuration(now);
    }

    /// What a restart needs to go on as this connector: its id, credential, version and
    /// enrollment date (the credential is a secret: keep it where only the connector reads it).
    pub fn registered(&self) -> Registered {
        Registered {
            connector_id: self.connector_id.clone(),
            credential: self.credential.clone(),
            version: self.version.clone(),
            enrolled: self.installed_at,
        }
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

    /// The event log (every record is also kept in memory). Shared with the SCEP module, so
    /// hold the guard only briefly.
    pub fn log(&self) -> MutexGuard<'_, EventLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn log_mut(&mut self) -> MutexGuard<'_, EventLog> {
        self.log()
    }

    /// What the SCEP module calls Intune as, and the log it writes to.
    pub fn scep_identity(&self) -> ScepIdentity {
        ScepIdentity {
            client: self.client.clone(),
            credential: self.credential.clone(),
            version: self.version.clone(),
            log: self.log.clone(),
            seed: self.config.seed,
        }
    }

    /// Attaches the SCEP module: its spooled notifications are retried at each poll.
    pub fn set_scep_endpoint(&mut self, endpoint: Arc<ScepEndpoint>) {
        self.scep = Some(endpoint);
    }

    pub fn scep_endpoint(&self) -> Option<&Arc<ScepEndpoint>> {
        self.scep.as_ref()
    }

    /// Writes the event log to files from now on (`Admin.jsonl`, `Operational.jsonl`).
    pub fn set_log_settings(&mut self, settings: LogSettings) -> Result<(), ClientError> {
        let log = EventLog::new(settings, self.connector_id.clone())
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let mut current = self.log_mut();
        let earlier = std::mem::replace(&mut *current, log);
        current.adopt(earlier);
        Ok(())
    }

    /// Gives the connector what it needs to process jobs; without it, polls only check in.
    pub fn set_workbench(&mut self, mut workbench: Workbench) {
        workbench.account = Some(self.account());
        self.workbench = Some(workbench);
    }

    /// The account the CA sees: the service account, or the machine account for SYSTEM.
    pub fn account(&self) -> String {
        match self.config.service_account.as_deref() {
            None => format!("{}$", self.config.machine_name),
            Some(a) if a.eq_ignore_ascii_case("SYSTEM") => format!("{}$", self.config.machine_name),
            Some(a) => a.to_owned(),
        }
    }

    pub fn workbench_mut(&mut self) -> Option<&mut Workbench> {
        self.workbench.as_mut()
    }

    /// Has it job workers at all: a workbench and a feature with queued kinds?
    pub fn can_work(&self) -> bool {
        self.workbench.is_some() && !worker_kinds(&self.config.features).is_empty()
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops polling (the machine is off or the service stopped); the registration stays.
    pub fn stop(&mut self, now: DateTime<Utc>) {
        if self.running {
            self.event(
                now,
                EventId::ConnectorServiceStopped,
                "",
                "The Certificate Connector service stopped.",
                serde_json::Value::Null,
            );
        }
        self.running = false;
        self.continuous_since = None;
        self.health_since = None;
    }

    /// Resumes polling from `now`.
    pub fn start(&mut self, now: DateTime<Utc>) {
        if !self.running {
            self.event(
                now,
                EventId::ConnectorServiceStarted,
                "",
                "The Certificate Connector service started.",
                serde_json::json!({"version": self.version}),
            );
        }
        self.running = true;
        self.next_poll = now;
        self.next_update_check = self.next_update_check.min(now);
    }

    /// A Debug record about one call to the service (written only at the debug level).
    pub(super) fn debug_call<T>(
        &mut self,
        now: DateTime<Utc>,
        method: &str,
        path: &str,
        correlation_id: &str,
        outcome: &Result<T, ClientError>,
    ) {
        let (result, status) = match outcome {
            Ok(_) => ("ok".to_owned(), None),
            Err(e) => (e.to_string(), e.status()),
        };
        let message = format!("{method} {path}: {result}");
        let data = serde_json::json!({"method": method, "path": path, "status": status});
        if let Err(e) = self.log_mut().debug(
            now,
            Channel::Operational,
            Some(correlation_id),
            message,
            data,
        ) {
            tracing::warn!(error = %e, "cannot write the event log");
        }
    }

    /// Event 0003: the configuration as it is now (no secrets: the credential is not in it).
    pub(super) fn log_configuration(&mut self, now: DateTime<Utc>) {
        let c = &self.config;
        let data = serde_json::json!({
            "machineName": c.machine_name,
            "displayName": c.display_name,
            "features": c.features,
            "version": self.version,
            "product": c.product,
            "autoUpdate": c.auto_update,
            "serviceAccount": c.service_account.as_deref().unwrap_or("SYSTEM"),
            "importKeyThumbprint": c.import_key_thumbprint,
            "proxy": c.proxy.as_deref().map(wire::url::redact_password),
            "pollIntervalSeconds": c.poll_interval.num_seconds(),
            "updateCheckIntervalSeconds": c.update_check_interval.num_seconds(),
            "service": self.client.base_url(),
        });
        self.event(
            now,
            EventId::ConnectorConfiguration,
            "",
            "The connector's configuration.",
            data,
        );
    }

    /// A call to the service with the connector's credential.
    pub(super) async fn call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        correlation_id: &str,
        body: Option<&B>,
    ) -> Result<Option<T>, ClientError> {
        self.client
            .send(method, path, &self.credential, correlation_id, body)
            .await
    }

    /// Writes a catalog event; a log that cannot be written is reported on the tracing log (the
    /// record stays in memory).
    pub(super) fn event(
        &mut self,
        now: DateTime<Utc>,
        id: EventId,
        correlation_id: &str,
        message: &str,
        data: serde_json::Value,
    ) {
        let correlation = Some(correlation_id).filter(|c| !c.is_empty());
        if let Err(e) = self.log_mut().emit(now, id, correlation, message, data) {
            tracing::warn!(error = %e, event_id = id.number(), "cannot write the event log");
        }
    }

    /// One check-in now.
    pub async fn checkin(&mut self, now: DateTime<Utc>) -> Result<(), ClientError> {
        let request = wire::connector::CheckinRequest {
            version: self.version.clone(),
            active_since: self.continuous_since,
        };
        let correlation_id = self.correlation.next_id();
        let outcome: Result<Option<wire::connector::CheckinResponse>, ClientError> = self
            .call(
                Method::POST,
                "/connector/v1/checkin",
                &correlation_id,
                Some(&request),
            )
            .await;
        self.debug_call(
            now,
            "POST",
            "/connector/v1/checkin",
            &correlation_id,
            &outcome,
        );
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
            .call(
                Method::POST,
                "/connector/v1/jobs/lease",
                &correlation_id,
                Some(&request),
            )
            .await?;
        answer.ok_or_else(|| ClientError::Decode("empty lease answer".into()))
    }

    /// The SCEP module's validation call for a device's certificate request (DER PKCS#10):
    /// `POST {scep}/ScepActions/validateRequest` with the connector's credential.
    pub async fn scep_validate(
        &mut self,
        transaction_id: &str,
        certificate_request_der: &[u8],
    ) -> Result<wire::scep::ScepAnswer, ClientError> {
        use base64::Engine as _;
        let request = crate::scep::validate_request(
            transaction_id,
            &base64::engine::general_purpose::STANDARD.encode(certificate_request_der),
            &crate::scep::caller_info(&self.version),
        );
        let correlation_id = self.correlation.next_id();
        crate::scep::scep_action(
            &self.client,
            &self.credential,
            &correlation_id,
            "validateRequest",
            &request,
        )
        .await
    }

    /// Reconfigures without a restart (features, account, key, …).
    pub async fn reconfigure(
        &mut self,
        change: &wire::connector::ReconfigureRequest,
        now: DateTime<Utc>,
    ) -> Result<wire::admin::ConnectorView, ClientError> {
        let correlation_id = self.correlation.next_id();
        let view: Option<wire::admin::ConnectorView> = self
            .call(
                Method::PATCH,
                "/connector/v1/self",
                &correlation_id,
                Some(change),
            )
            .await?;
        let view = view.ok_or_else(|| ClientError::Decode("empty reconfigure answer".into()))?;
        self.config.features = view.features.clone();
        if let Some(account) = &change.service_account {
            self.config.service_account = Some(account.clone());
            let account = self.account();
            if let Some(workbench) = self.workbench.as_mut() {
                workbench.account = Some(account);
            }
        }
        if let Some(name) = &change.display_name {
            self.config.display_name = name.clone();
        }
        if let Some(auto_update) = change.auto_update {
            self.config.auto_update = auto_update;
        }
        if let Some(thumbprint) = &change.import_key_thumbprint {
            self.config.import_key_thumbprint = Some(thumbprint.clone()).filter(|t| !t.is_empty());
        }
        self.log_configuration(now);
        Ok(view)
    }

    /// Uninstalls: the service forgets the connector and its credential stops working.
    pub async fn uninstall(mut self) -> Result<(), ClientError> {
        let correlation_id = self.correlation.next_id();
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            "/connector/v1/self",
            &correlation_id,
            None,
        )
        .await?;
        Ok(())
    }
}
