//! One installed connector: registration, polling, reconfiguration, uninstall.
//!
//! Time is always passed in (`now`): the harness passes virtual time, the real-time loop passes
//! the wall clock. Polls sit on a fixed grid (`installed + k × poll_interval`); the harness asks
//! [`Connector::poll_due`] and calls [`Connector::poll`] once for any number of grid points it
//! skipped while nothing could change (DESIGN §3.7). Such a coalesced check-in tells the service
//! the connector has been polling without a gap since its last successful check-in.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::{ClientError, ServiceClient};
use crate::events::{Channel, EventId, EventLog, LogSettings, SharedLog};
use crate::scep::{ScepEndpoint, ScepIdentity};
use crate::work::{kind_events, worker_kinds, Notes, Work, Workbench};

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
    /// The proxy URL the connector is set to use (reported to the service; the client that goes
    /// through it is made with [`crate::client::http_client`]).
    pub proxy: Option<String>,
    pub poll_interval: Duration,
    /// How often an auto-updating connector asks the auto-update service (default one hour).
    pub update_check_interval: Duration,
    /// How often it uploads a health message (default 5 minutes).
    pub health_interval: Duration,
    /// A faulty connector: it dies right after each download and restarts at once, so the
    /// requests it downloads are never worked on.
    pub crash_after_download: bool,
    /// Seeds the correlation ids, so transcripts repeat exactly.
    pub seed: u64,
}

impl ConnectorConfig {
    /// A connector on machine `name` with `features` at `version`; everything else as a fresh
    /// install has it (auto-update on, SYSTEM account, no import key, polls every 30 s, seed 0).
    pub fn new(name: &str, features: &[&str], version: &str) -> ConnectorConfig {
        ConnectorConfig {
            name: name.to_owned(),
            machine_name: name.to_owned(),
            display_name: name.to_owned(),
            features: features.iter().map(|f| f.to_string()).collect(),
            version: version.to_owned(),
            product: None,
            auto_update: true,
            co_installed: Vec::new(),
            service_account: None,
            import_key_thumbprint: None,
            proxy: None,
            poll_interval: Duration::seconds(30),
            update_check_interval: Duration::hours(1),
            health_interval: Duration::minutes(5),
            crash_after_download: false,
            seed: 0,
        }
    }
}

/// Correlation ids: GUID-shaped, from a counter through splitmix64 (deterministic per seed).
#[derive(Debug, Clone)]
pub(crate) struct Correlation {
    state: u64,
}

impl Correlation {
    pub(crate) fn seeded(seed: u64) -> Correlation {
        Correlation { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn next_id(&mut self) -> String {
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
    /// When an auto-updating connector next asks the auto-update service.
    next_update_check: DateTime<Utc>,
    /// When the next health message is due; the last successful upload; failed attempts in a
    /// row; how many log records the last message counted.
    next_health: DateTime<Utc>,
    health_since: Option<DateTime<Utc>>,
    health_failures: u32,
    health_cursor: usize,
    /// The last successful check-in, if every poll since then succeeded (or was coalesced).
    continuous_since: Option<DateTime<Utc>>,
    running: bool,
    correlation: Correlation,
    log: SharedLog,
    workbench: Option<Workbench>,
    scep: Option<Arc<ScepEndpoint>>,
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
        let mut connector = Connector {
            version: config.version.clone(),
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
            installed_at: now,
            continuous_since: None,
            running: true,
            correlation,
            log: Arc::new(Mutex::new(
                EventLog::new(LogSettings::default(), "")
                    .map_err(|e| ClientError::Transport(e.to_string()))?,
            )),
            workbench: None,
            scep: None,
        };
        let id = connector.connector_id.clone();
        connector.log_mut().set_connector_id(id);
        connector.event(
            now,
            EventId::ConnectorServiceStarted,
            "",
            "The Certificate Connector service started.",
            serde_json::json!({"version": connector.version}),
        );
        connector.log_configuration(now);
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

    /// The event log (every record is also kept in memory). Shared with the SCEP module, so
    /// hold the guard only briefly.
    pub fn log(&self) -> MutexGuard<'_, EventLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log_mut(&mut self) -> MutexGuard<'_, EventLog> {
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
    fn debug_call<T>(
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
    fn log_configuration(&mut self, now: DateTime<Utc>) {
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

    /// Asks the auto-update service for a newer version available to the tenant and installs
    /// it: the connector keeps its id, credential, features, keys and queue work; the new
    /// version is what its next check-in reports. True when it updated.
    pub async fn check_update(&mut self, now: DateTime<Utc>) -> bool {
        let correlation_id = self.correlation.next_id();
        let answer: Result<Option<wire::connector::UpdateInfo>, ClientError> = self
            .client
            .send::<(), _>(
                Method::GET,
                "/autoupdate/v1/latest",
                &self.credential,
                &correlation_id,
                None,
            )
            .await;
        self.debug_call(
            now,
            "GET",
            "/autoupdate/v1/latest",
            &correlation_id,
            &answer,
        );
        match answer {
            Ok(Some(info)) => match info.latest_version.filter(|_| info.update_available) {
                Some(latest) => {
                    if let Err(refusal) = offered_version(&self.version, &latest) {
                        self.event(
                            now,
                            EventId::AutoUpdateCheckFailed,
                            &correlation_id,
                            &format!("The auto-update service offered {refusal}; the connector keeps version {} and will ask again.", self.version),
                            serde_json::json!({"error": refusal, "offered": latest}),
                        );
                        return false;
                    }
                    let from = std::mem::replace(&mut self.version, latest.clone());
                    self.event(
                        now,
                        EventId::AutoUpdateInstalled,
                        &correlation_id,
                        &format!("Updated the connector from {from} to {latest}."),
                        serde_json::json!({"from": from, "to": latest, "availableDateTime": info.available_date_time}),
                    );
                    true
                }
                None => false,
            },
            Ok(None) => false,
            Err(e) => {
                self.event(
                    now,
                    EventId::AutoUpdateCheckFailed,
                    &correlation_id,
                    &format!("Could not reach the auto-update service: {e}; will try again."),
                    serde_json::json!({"error": e.to_string(), "status": e.status()}),
                );
                false
            }
        }
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
        if self.config.auto_update && now >= self.next_update_check {
            self.check_update(now).await;
            self.next_update_check = now + self.config.update_check_interval;
        }
        // A health message that went through is this poll's check-in too (the service records
        // it as one); only a poll without one checks in on its own.
        let uploaded = now >= self.next_health && self.upload_health(now).await;
        let checked_in = if uploaded {
            Ok(())
        } else {
            self.checkin(now).await
        };
        if let Some(scep) = &self.scep {
            scep.drain(now).await;
        }
        checked_in
    }

    /// Uploads a health message now (it also counts as a check-in): version, features, enrolled
    /// date, whether the import key is configured, and the requests handled since the last
    /// message (counted from the Admin log). 5000 on success; 5001 for a failed attempt (tried
    /// again at the next poll); 5002 when three attempts in a row failed (that message is given
    /// up).
    pub async fn upload_health(&mut self, now: DateTime<Utc>) -> bool {
        let (counters, cursor) = {
            let log = self.log();
            let records = log.records();
            let mut counters = std::collections::BTreeMap::new();
            for record in &records[self.health_cursor.min(records.len())..] {
                let Some(id) = EventId::from_number(record.event_id) else {
                    continue;
                };
                let key = match id {
                    EventId::PkcsRequestSuccess => "pkcsSuccess",
                    EventId::PkcsRequestFailure => "pkcsFailure",
                    EventId::PkcsRecryptRequestSuccess => "pkcsRecryptSuccess",
                    EventId::PkcsRecryptRequestFailure => "pkcsRecryptFailure",
                    EventId::PkcsImportRequestSuccess => "pkcsImportSuccess",
                    EventId::PkcsImportRequestFailure => "pkcsImportFailure",
                    EventId::RevokeRequestSuccess => "revokeSuccess",
                    EventId::RevokeRequestFailure => "revokeFailure",
                    EventId::ScepRequestSuccess => "scepSuccess",
                    EventId::ScepRequestIssuedFailure | EventId::ScepRequestUploadFailure => {
                        "scepFailure"
                    }
                    _ => continue,
                };
                *counters.entry(key.to_owned()).or_insert(0u64) += 1;
            }
            (counters, records.len())
        };
        let message = wire::connector::HealthMessage {
            version: self.version.clone(),
            features: self.config.features.clone(),
            enrolled_date_time: self.installed_at,
            import_key_configured: self.config.import_key_thumbprint.is_some(),
            counters,
            active_since: self.continuous_since,
            uploading_since: self.health_since,
        };
        let correlation_id = self.correlation.next_id();
        let outcome: Result<Option<serde_json::Value>, ClientError> = self
            .client
            .send(
                Method::POST,
                "/connector/v1/health",
                &self.credential,
                &correlation_id,
                Some(&message),
            )
            .await;
        self.debug_call(
            now,
            "POST",
            "/connector/v1/health",
            &correlation_id,
            &outcome,
        );
        match outcome {
            Ok(_) => {
                self.health_since = Some(now);
                self.health_failures = 0;
                self.health_cursor = cursor;
                self.continuous_since = Some(now);
                self.next_health = now + self.config.health_interval;
                self.event(
                    now,
                    EventId::HealthMessageUploadSuccess,
                    &correlation_id,
                    "Uploaded a health message to Intune.",
                    serde_json::to_value(&message.counters).unwrap_or_default(),
                );
                true
            }
            Err(e) => {
                self.health_since = None;
                self.health_failures += 1;
                if self.health_failures >= 3 {
                    self.health_failures = 0;
                    self.health_cursor = cursor;
                    self.next_health = now + self.config.health_interval;
                    self.event(
                        now,
                        EventId::HealthMessageUploadFailure,
                        &correlation_id,
                        &format!("Failed to upload a health message to Intune three times: {e}; it is dropped."),
                        serde_json::json!({"error": e.to_string(), "status": e.status()}),
                    );
                } else {
                    self.event(
                        now,
                        EventId::HealthMessageUploadFailedAttempt,
                        &correlation_id,
                        &format!("Failed to upload a health message to Intune: {e}; will try again."),
                        serde_json::json!({"error": e.to_string(), "status": e.status(), "attempt": self.health_failures}),
                    );
                }
                false
            }
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
            .client
            .send(
                Method::POST,
                "/connector/v1/checkin",
                &self.credential,
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

    /// One round of every feature's worker: download a batch of requests, do the work, upload
    /// the results.
    pub async fn work(&mut self, now: DateTime<Utc>) -> WorkSummary {
        let mut summary = WorkSummary::default();
        if !self.running || self.workbench.is_none() {
            return summary;
        }
        if self.config.crash_after_download {
            let batch = self.workbench.as_ref().map_or(100, |w| w.lease_batch);
            for kind in worker_kinds(&self.config.features) {
                self.download(kind, batch, now, &mut summary).await;
            }
            return summary;
        }
        // One download per worker per poll: requests spread over every capable connector.
        for kind in worker_kinds(&self.config.features) {
            self.work_kind(kind, now, &mut summary).await;
        }
        summary
    }

    /// Downloads and handles one batch of `kind`; returns how many requests came.
    async fn work_kind(
        &mut self,
        kind: &'static str,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) -> usize {
        let Some(events) = kind_events(kind) else {
            return 0;
        };
        let Some(bench) = self.workbench.clone() else {
            return 0;
        };
        let Some((download_id, jobs)) = self.download(kind, bench.lease_batch, now, summary).await
        else {
            return 0;
        };
        let count = jobs.len();
        let mut completions = Vec::with_capacity(count);
        let mut outcomes = Vec::with_capacity(count);
        for job in &jobs {
            let mut notes = Notes::default();
            let last = job.attempt >= job.max_attempts;
            let work = bench
                .process(kind, &job.payload, last, now, &mut notes)
                .await;
            for (id, message, data) in notes.events {
                let data = if data.is_null() {
                    serde_json::json!({"requestId": job.id})
                } else {
                    data
                };
                self.event(now, id, &download_id, &message, data);
            }
            let data = serde_json::json!({"requestId": job.id, "attempt": job.attempt});
            let completion = match &work {
                Work::Succeeded(result) => {
                    summary.succeeded += 1;
                    self.event(
                        now,
                        events.work_ok,
                        &download_id,
                        &format!("request {} done", job.id),
                        data,
                    );
                    wire::jobs::CompleteJob {
                        lease_token: job.lease_token.clone(),
                        outcome: "succeeded".into(),
                        result: Some(result.clone()),
                        error_code: None,
                        error_message: None,
                    }
                }
                Work::Retry { code, message } => {
                    summary.retried += 1;
                    let id = events.work_attempt_failed.unwrap_or(events.work_failed);
                    self.event(now, id, &download_id, &format!("{code}: {message}"), data);
                    wire::jobs::CompleteJob {
                        lease_token: job.lease_token.clone(),
                        outcome: "retry".into(),
                        result: None,
                        error_code: Some(code.clone()),
                        error_message: Some(message.clone()),
                    }
                }
                Work::Failed { code, message } => {
                    summary.failed += 1;
                    self.event(
                        now,
                        events.work_failed,
                        &download_id,
                        &format!("{code}: {message}"),
                        data,
                    );
                    wire::jobs::CompleteJob {
                        lease_token: job.lease_token.clone(),
                        outcome: "failed".into(),
                        result: None,
                        error_code: Some(code.clone()),
                        error_message: Some(message.clone()),
                    }
                }
            };
            outcomes.push((job.id.clone(), completion.outcome.clone()));
            completions.push(wire::jobs::BatchCompletion {
                job_id: job.id.clone(),
                completion,
            });
        }
        let upload_id = self.correlation.next_id();
        let body = wire::jobs::CompleteBatch { completions };
        let uploaded: Result<
            Option<wire::admin::Collection<wire::jobs::BatchCompletionResult>>,
            ClientError,
        > = self
            .client
            .send(
                Method::POST,
                "/connector/v1/jobs/complete",
                &self.credential,
                &upload_id,
                Some(&body),
            )
            .await;
        match uploaded {
            Ok(answers) => {
                let answers = answers.map(|c| c.value).unwrap_or_default();
                self.event(
                    now,
                    events.upload_ok,
                    &upload_id,
                    &format!("uploaded {count} result(s)"),
                    serde_json::json!({"kind": kind, "count": count}),
                );
                for (job_id, outcome) in outcomes {
                    let accepted = answers
                        .iter()
                        .find(|a| a.job_id == job_id)
                        .is_some_and(|a| a.completed.is_some());
                    let data = serde_json::json!({"requestId": job_id, "outcome": outcome});
                    if !accepted {
                        summary.call_errors += 1;
                        self.event(
                            now,
                            events.upload_failed,
                            &upload_id,
                            &format!("the result of {job_id} was not accepted"),
                            data,
                        );
                        continue;
                    }
                    self.event(
                        now,
                        events.uploaded_one,
                        &upload_id,
                        &format!("uploaded the result of {job_id}"),
                        data.clone(),
                    );
                    match (outcome.as_str(), events.admin_ok, events.admin_failed) {
                        ("succeeded", Some(ok), _) => self.event(
                            now,
                            ok,
                            &upload_id,
                            &format!("request {job_id} fulfilled"),
                            data,
                        ),
                        ("failed", _, Some(failed)) => self.event(
                            now,
                            failed,
                            &upload_id,
                            &format!("request {job_id} failed"),
                            data,
                        ),
                        _ => {}
                    }
                }
            }
            Err(e) => {
                summary.call_errors += 1;
                let data =
                    serde_json::json!({"kind": kind, "count": count, "error": e.to_string()});
                self.event(
                    now,
                    events.upload_failed,
                    &upload_id,
                    &e.to_string(),
                    data.clone(),
                );
                if let Some(admin) = events.admin_failed {
                    self.event(now, admin, &upload_id, &e.to_string(), data);
                }
            }
        }
        count
    }

    /// Downloads (leases) up to `max` requests of `kind`, writing the download events. `None`
    /// when nothing came (or the call failed, which is logged).
    async fn download(
        &mut self,
        kind: &'static str,
        max: u32,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) -> Option<(String, Vec<wire::connector::LeasedJob>)> {
        let events = kind_events(kind)?;
        let download_id = self.correlation.next_id();
        let request = wire::connector::LeaseRequest {
            kinds: Some(vec![kind.to_owned()]),
            max: max.max(1),
            wait_ms: None,
            visibility_timeout_seconds: None,
        };
        let answer: Result<Option<wire::connector::LeaseResponse>, ClientError> = self
            .client
            .send(
                Method::POST,
                "/connector/v1/jobs/lease",
                &self.credential,
                &download_id,
                Some(&request),
            )
            .await;
        let jobs = match answer {
            Ok(answer) => answer.map(|a| a.jobs).unwrap_or_default(),
            Err(e) => {
                summary.call_errors += 1;
                let data = serde_json::json!({"kind": kind, "error": e.to_string()});
                self.event(
                    now,
                    events.download_failed,
                    &download_id,
                    &e.to_string(),
                    data.clone(),
                );
                if let Some(admin) = events.admin_download_failed {
                    self.event(now, admin, &download_id, &e.to_string(), data);
                }
                return None;
            }
        };
        if jobs.is_empty() {
            return None;
        }
        summary.leased += jobs.len();
        let message = format!("downloaded {} request(s)", jobs.len());
        let data = serde_json::json!({"kind": kind, "count": jobs.len()});
        self.event(
            now,
            events.download_ok,
            &download_id,
            &message,
            data.clone(),
        );
        if let Some(admin) = events.admin_download_ok {
            self.event(now, admin, &download_id, &message, data);
        }
        for job in &jobs {
            self.event(
                now,
                events.downloaded_one,
                &download_id,
                &format!("request {} (attempt {})", job.id, job.attempt),
                serde_json::json!({"requestId": job.id, "attempt": job.attempt}),
            );
        }
        Some((download_id, jobs))
    }

    /// The machine dies right after downloading: each worker downloads one batch, nothing is
    /// worked on or uploaded (the leases run out on the service), and polling stops. Returns how
    /// many requests were abandoned.
    pub async fn crash(&mut self, now: DateTime<Utc>) -> usize {
        let mut summary = WorkSummary::default();
        let batch = self.workbench.as_ref().map_or(100, |w| w.lease_batch);
        if self.running {
            for kind in worker_kinds(&self.config.features) {
                self.download(kind, batch, now, &mut summary).await;
            }
        }
        self.stop(now);
        summary.leased
    }

    /// Writes a catalog event; a log that cannot be written is reported on the tracing log (the
    /// record stays in memory).
    fn event(
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

    /// Reconfigures without a restart (features, account, key, …).
    pub async fn reconfigure(
        &mut self,
        change: &wire::connector::ReconfigureRequest,
        now: DateTime<Utc>,
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
    workbench: Option<Workbench>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    #[allow(clippy::disallowed_methods)] // The real-time driver reads the wall clock by definition.
    let wall = Utc::now;
    let mut connector = Connector::install(config, client, enrollment_secret, wall()).await?;
    tracing::info!(connector_id = connector.id(), "connector installed");
    if let Some(workbench) = workbench {
        connector.set_workbench(workbench);
    }
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
                let done = connector.work(wall()).await;
                if done.leased > 0 {
                    tracing::info!(
                        leased = done.leased,
                        succeeded = done.succeeded,
                        failed = done.failed,
                        retried = done.retried,
                        "handled requests"
                    );
                }
            }
        }
    }
}

/// Checks a version the auto-update service offers: four numeric parts and newer than the
/// installed one. The refusal says what was wrong.
fn offered_version(installed: &str, offered: &str) -> Result<(), String> {
    let offered_v = wire::version::Version::parse(offered)
        .map_err(|e| format!("a version that does not parse ({e})"))?;
    match wire::version::Version::parse(installed) {
        Ok(current) if offered_v <= current => Err(format!(
            "version {offered}, which is not newer than the installed {installed}"
        )),
        _ => Ok(()),
    }
}
