//! The service's operations: tenants, releases, connector registration and life, status,
//! tokens. Handlers and the in-process harness call these; they combine the store, the pure rules
//! and the clock.
//!
//! Status history is reconciled lazily: before any change to a tenant's facts, and before any
//! read, the history of the affected connectors is brought up to `now` with the facts that held
//! until then. `domain::lifecycle::transitions` puts every change at its exact boundary instant,
//! however far the clock jumped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::{from_millis, Clock, ClockError};
use crate::domain::catalog::CatalogError;
use crate::domain::connector::{parse_co_installed, Product};
use crate::domain::lifecycle::{self, Evaluation, Operation, Refusal};
use crate::domain::{
    Catalog, ConnectorFacts, ConnectorId, FeatureSet, JobId, JobKind, JobState, TenantFacts,
    TenantId, Version,
};
use crate::ids::{secret_hash, IdSource};
use crate::store::{
    ConnectorRow, HealthWrite, HistoryRow, Reconciled, ReleaseRow, Store, StoreError, TenantRow,
};

/// At most this many connectors per tenant (DESIGN §3.1).
pub const CONNECTOR_LIMIT: u32 = 100;
/// Lifetime of a Graph token from the token endpoint.
pub const TOKEN_LIFETIME_SECONDS: u64 = 3600;
pub const DEFAULT_ROLLOUT_DELAY_DAYS: u32 = 7;
pub const MAX_ROLLOUT_DELAY_DAYS: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Bad input: `code` is the wire error code, `message` names the field and the problem.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the tenant already has {CONNECTOR_LIMIT} connectors, the most a tenant may have")]
    LimitReached,
    #[error("machine `{0}` already has a connector in this tenant; uninstall it first")]
    MachineTaken(String),
    #[error("version {0} is already in the release catalog")]
    DuplicateRelease(Version),
    #[error("{}", refusal_message(*.0, .1))]
    Refused(Refusal, Version),
    #[error("{0}")]
    LeaseLost(String),
    #[error("job {0} is leased by another connector")]
    NotLeaseHolder(String),
    #[error("{0}")]
    AlreadyCompleted(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FeatureNotInstalled(String),
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error("internal error: {0}")]
    Corrupt(String),
    #[error("storage failed")]
    Store(#[source] StoreError),
}

fn refusal_message(refusal: Refusal, version: &Version) -> String {
    match refusal {
        Refusal::ConnectorVersionRetired => format!(
            "connector version {version} has been out of support for more than 12 months and no longer functions; update the connector"
        ),
        Refusal::LegacyVersionCannotRevoke => {
            format!("connector version {version} is earlier than 6.2101.13.0 and cannot revoke certificates from 2022-08-01")
        }
        Refusal::LegacyVersionCannotIssue => {
            format!("connector version {version} is earlier than 6.2101.13.0 and cannot issue certificates from 2022-09-01")
        }
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => RegistryError::NotFound("resource"),
            StoreError::LimitReached(_) => RegistryError::LimitReached,
            StoreError::MachineTaken(m) => RegistryError::MachineTaken(m),
            other => RegistryError::Store(other),
        }
    }
}

pub type RegistryResult<T> = Result<T, RegistryError>;

pub fn invalid(code: &'static str, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        code,
        message: message.into(),
    }
}

/// A validated registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnector {
    pub machine_name: String,
    pub display_name: String,
    pub features: FeatureSet,
    pub version: Version,
    pub product: Product,
    pub service_account: String,
    pub co_installed: Vec<String>,
    pub auto_update: bool,
    pub proxy: Option<String>,
    pub import_key_thumbprint: Option<String>,
}

/// A validated reconfiguration; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigure {
    pub display_name: Option<String>,
    pub features: Option<FeatureSet>,
    pub service_account: Option<String>,
    pub proxy: Option<Option<String>>,
    pub import_key_thumbprint: Option<Option<String>>,
    pub auto_update: Option<bool>,
    pub co_installed: Option<Vec<String>>,
}

/// A freshly created tenant with its secrets (shown once).
#[derive(Debug, Clone)]
pub struct CreatedTenant {
    pub row: TenantRow,
    pub enrollment_secret: String,
    pub client_secret: String,
}

/// How a check-in extends the connector's presence (see `wire::connector::CheckinRequest`).
#[derive(Debug, Clone, Copy)]
struct Presence<'a> {
    connector_id: &'a str,
    active_since: Option<DateTime<Utc>>,
    /// Set for a health upload: `Some(since)` when uploads succeeded without a gap since then
    /// (a simulated connector's coalesced uploads), `None` inside when that is not claimed.
    health: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug)]
pub struct Registry {
    store: Arc<dyn Store>,
    clock: Arc<Clock>,
    ids: Arc<IdSource>,
    /// Serialises "reconcile history, then change facts" sequences: two of them interleaved
    /// would record the same history entry twice or write back a stale connector row.
    facts: tokio::sync::Mutex<()>,
}

pub fn graph_state(last_checkin: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
    match last_checkin {
        None => "none",
        Some(at) if now - at < lifecycle::inactive_after() => "active",
        Some(_) => "inactive",
    }
}

/// Pairs each leased row with the lease token whose hash it holds.
fn with_tokens(
    rows: Vec<crate::store::JobRow>,
    tokens: &[String],
    hashes: &[String],
) -> Vec<(crate::store::JobRow, String)> {
    rows.into_iter()
        .map(|row| {
            let token = hashes
                .iter()
                .position(|h| Some(h) == row.lease_token_hash.as_ref())
                .and_then(|i| tokens.get(i))
                .cloned()
                .unwrap_or_default();
            (row, token)
        })
        .collect()
}

/// Maps a store `NotFound` to `RegistryError::NotFound(what)`, anything else as it is.
fn missing(what: &'static str) -> impl Fn(StoreError) -> RegistryError {
    move |e| match e {
        StoreError::NotFound => RegistryError::NotFound(what),
        other => other.into(),
    }
}

/// Parses a stored row back into the facts the rules need.
pub fn connector_facts(row: &ConnectorRow) -> RegistryResult<ConnectorFacts> {
    let corrupt = |what: &str| {
        RegistryError::Corrupt(format!(
            "connector {} has a stored {what} that does not parse",
            row.id
        ))
    };
    Ok(ConnectorFacts {
        version: Version::parse(&row.version).map_err(|_| corrupt("version"))?,
        product: Product::parse(&row.product).map_err(|_| corrupt("product"))?,
        features: row.features.clone(),
        import_key_thumbprint: row.import_key_thumbprint.clone(),
        co_installed: row.co_installed.clone(),
        enrolled: from_millis(row.enrolled_ms),
        last_checkin: row.last_checkin_ms.map(from_millis),
        last_health: row.last_health_ms.map(from_millis),
    })
}

fn reason_key(evaluation: &Evaluation) -> (String, Vec<String>) {
    let codes = evaluation
        .reasons
        .iter()
        .map(|r| r.code.as_str().to_owned())
        .collect();
    (evaluation.status.as_str().to_owned(), codes)
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, clock: Arc<Clock>, ids: Arc<IdSource>) -> Self {
        Registry {
            store,
            clock,
            ids,
            facts: tokio::sync::Mutex::new(()),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn ids(&self) -> &IdSource {
        &self.ids
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A virtual clock follows the one stored in a database that other processes share: it moves
    /// to the stored instant when that is later. A no-op for a real clock or a private store.
    pub async fn sync_clock(&self) -> RegistryResult<()> {
        if self.clock.mode() != crate::clock::ClockMode::Virtual || !self.store.shared() {
            return Ok(());
        }
        self.adopt_stored_clock().await
    }

    async fn adopt_stored_clock(&self) -> RegistryResult<()> {
        if let Some(ms) = self.store.clock_ms().await? {
            let stored = from_millis(ms);
            if stored > self.clock.now() {
                self.clock.set(stored)?;
            }
        }
        Ok(())
    }

    /// Stores a virtual clock after it was set or advanced (`backwards`: a reset moved it back),
    /// so other processes on the database and a restart follow it. A later instant stored by
    /// another process meanwhile wins. Answers the clock's instant.
    pub async fn publish_clock(&self, backwards: bool) -> RegistryResult<DateTime<Utc>> {
        if self.clock.mode() != crate::clock::ClockMode::Virtual {
            return Ok(self.now());
        }
        let stored = self
            .store
            .store_clock_ms(self.now().timestamp_millis(), backwards)
            .await?;
        let stored = from_millis(stored);
        if stored > self.clock.now() {
            self.clock.set(stored)?;
        }
        Ok(self.now())
    }

    /// At start: a virtual clock continues from the stored one when that is later than its start
    /// (a restart, or a replica joining), and stores itself.
    pub async fn start_clock(&self) -> RegistryResult<()> {
        if self.clock.mode() != crate::clock::ClockMode::Virtual {
            return Ok(());
        }
        self.adopt_stored_clock().await?;
        self.publish_clock(false).await?;
        Ok(())
    }

    // ----- releases -------------------------------------------------------------------------

    pub async fn catalog(&self) -> RegistryResult<Catalog> {
        let published = self.store.list_releases().await?;
        let mut extra = Vec::with_capacity(published.len());
        for row in published {
            let version = Version::parse(&row.version)
                .map_err(|_| RegistryError::Corrupt(format!("release {}", row.version)))?;
            extra.push((version, from_millis(row.released_ms)));
        }
        Ok(Catalog::shipped().with_published(extra))
    }

    /// Publishes a release. History of every tenant is reconciled first, so that the new release
    /// only changes statuses from its own date (or from now, when it is back-dated).
    pub async fn publish_release(
        &self,
        version: Version,
        released: DateTime<Utc>,
    ) -> RegistryResult<()> {
        let _facts = self.facts.lock().await;
        let catalog = self.catalog().await?;
        catalog
            .check_new(version)
            .map_err(|CatalogError::Duplicate(v)| RegistryError::DuplicateRelease(v))?;
        let now = self.now();
        for tenant in self.store.list_tenants().await? {
            self.reconcile(&tenant, now, None, None).await?;
        }
        let row = ReleaseRow {
            version: version.to_string(),
            released_ms: released.timestamp_millis(),
            published_ms: now.timestamp_millis(),
        };
        self.store.insert_release(&row).await.map_err(|e| match e {
            StoreError::Conflict(_) => RegistryError::DuplicateRelease(version),
            other => other.into(),
        })
    }

    // ----- tenants --------------------------------------------------------------------------

    pub async fn create_tenant(
        &self,
        display_name: &str,
        rollout_delay_days: Option<u32>,
    ) -> RegistryResult<CreatedTenant> {
        let display_name = display_name.trim();
        if display_name.is_empty()
            || display_name.chars().count() > 256
            || display_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "InvalidField",
                "displayName must be 1 to 256 printable characters",
            ));
        }
        let delay = rollout_delay_days.unwrap_or(DEFAULT_ROLLOUT_DELAY_DAYS);
        if delay > MAX_ROLLOUT_DELAY_DAYS {
            return Err(invalid(
                "InvalidField",
                format!("rolloutDelayDays must be from 0 to {MAX_ROLLOUT_DELAY_DAYS}, not {delay}"),
            ));
        }
        let enrollment_secret = self.ids.secret("enr");
        let client_secret = self.ids.secret("cs");
        let row = TenantRow {
            id: self.ids.uuid().to_string().into(),
            display_name: display_name.to_owned(),
            rollout_delay_days: delay as i64,
            enrollment_secret_hash: secret_hash(&enrollment_secret),
            client_id: self.ids.uuid().to_string(),
            client_secret_hash: secret_hash(&client_secret),
            import_key_thumbprint: None,
            created_ms: self.now().timestamp_millis(),
        };
        self.store.insert_tenant(&row).await?;
        Ok(CreatedTenant {
            row,
            enrollment_secret,
            client_secret,
        })
    }

    pub async fn list_tenants(&self) -> RegistryResult<Vec<TenantRow>> {
        Ok(self.store.list_tenants().await?)
    }

    pub async fn tenant(&self, id: &str) -> RegistryResult<TenantRow> {
        self.store
            .get_tenant(&id.into())
            .await
            .map_err(missing("tenant"))
    }

    pub async fn delete_tenant(&self, id: &str) -> RegistryResult<()> {
        self.store
            .delete_tenant(&id.into())
            .await
            .map_err(missing("tenant"))
    }

    /// Removes one tenant with everything it holds, or every tenant; with every tenant gone a
    /// virtual clock may be set to any instant, earlier ones included. Answers how many tenants
    /// were removed. Releases (shipped and published) stay.
    pub async fn reset(
        &self,
        tenant_id: Option<&str>,
        clock: Option<DateTime<Utc>>,
    ) -> RegistryResult<usize> {
        let _facts = self.facts.lock().await;
        let ids: Vec<TenantId> = match tenant_id {
            Some(id) => vec![self.tenant(id).await?.id],
            None => self
                .store
                .list_tenants()
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        };
        if let Some(to) = clock {
            self.clock.reset_to(to)?;
            self.publish_clock(true).await?;
        }
        for id in &ids {
            match self.store.delete_tenant(id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ids.len())
    }

    /// Sets (or clears) the thumbprint of the tenant's current PFX-import key. Connectors with
    /// `pkcs_import` that do not hold it show `MissingImportKey` from now on.
    pub async fn set_import_key(
        &self,
        tenant_id: &str,
        thumbprint: Option<String>,
    ) -> RegistryResult<TenantRow> {
        let _facts = self.facts.lock().await;
        let tenant = self.tenant(tenant_id).await?;
        self.reconcile(&tenant, self.now(), None, None).await?;
        self.store
            .set_tenant_import_key(&tenant_id.into(), thumbprint.as_deref())
            .await?;
        self.tenant(tenant_id).await
    }

    pub async fn tenant_by_enrollment_secret(&self, secret: &str) -> RegistryResult<TenantRow> {
        self.store
            .tenant_by_enrollment_hash(&secret_hash(secret))
            .await
            .map_err(missing("tenant"))
    }

    // ----- tokens ---------------------------------------------------------------------------

    /// Client-credentials grant: `Ok(None)` when the tenant, client id or secret does not match.
    pub async fn issue_token(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> RegistryResult<Option<(String, u64)>> {
        let tenant = match self.store.tenant_by_client_id(client_id).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let hash_matches = subtle::ConstantTimeEq::ct_eq(
            secret_hash(client_secret).as_bytes(),
            tenant.client_secret_hash.as_bytes(),
        );
        if tenant.id != tenant_id || !bool::from(hash_matches) {
            return Ok(None);
        }
        let token = self.ids.secret("tok");
        let now = self.now();
        let expires = now + Duration::seconds(TOKEN_LIFETIME_SECONDS as i64);
        self.store
            .insert_token(
                &secret_hash(&token),
                &tenant.id,
                now.timestamp_millis(),
                expires.timestamp_millis(),
            )
            .await?;
        Ok(Some((token, TOKEN_LIFETIME_SECONDS)))
    }

    /// The tenant a bearer token was issued for, if it is known and not expired.
    pub async fn token_tenant(&self, token: &str) -> RegistryResult<Option<String>> {
        match self
            .store
            .token_tenant(&secret_hash(token), self.now().timestamp_millis())
            .await
        {
            Ok(t) => Ok(Some(t.into_string())),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    // ----- connectors -----------------------------------------------------------------------

    pub async fn connector_by_credential(
        &self,
        credential: &str,
    ) -> RegistryResult<Option<ConnectorRow>> {
        match self
            .store
            .connector_by_credential(&secret_hash(credential))
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn tenant_facts<'v>(
        tenant: &TenantRow,
        versions: impl IntoIterator<Item = &'v str>,
    ) -> TenantFacts {
        TenantFacts {
            rollout_delay_days: tenant
                .rollout_delay_days
                .clamp(0, MAX_ROLLOUT_DELAY_DAYS as i64) as u32,
            import_key_thumbprint: tenant.import_key_thumbprint.clone(),
            newest_connector_version: versions
                .into_iter()
                .filter_map(|v| Version::parse(v).ok())
                .max(),
        }
    }

    /// Brings the status history of a tenant's connectors (or only `only`, a row read under the
    /// `facts` lock) up to `now`.
    async fn reconcile(
        &self,
        tenant: &TenantRow,
        now: DateTime<Utc>,
        only: Option<&ConnectorRow>,
        presence: Option<Presence<'_>>,
    ) -> RegistryResult<Vec<(ConnectorRow, Evaluation)>> {
        let (written, evaluated) = self.reconciliation(tenant, now, only, presence).await?;
        if !written.is_empty() {
            self.store.record_reconciled(&tenant.id, &written).await?;
        }
        Ok(evaluated)
    }

    /// What [`Registry::reconcile`] writes (history rows and marks), and each connector's
    /// evaluation now, without writing it.
    async fn reconciliation(
        &self,
        tenant: &TenantRow,
        now: DateTime<Utc>,
        only: Option<&ConnectorRow>,
        presence: Option<Presence<'_>>,
    ) -> RegistryResult<(Vec<Reconciled>, Vec<(ConnectorRow, Evaluation)>)> {
        let catalog = self.catalog().await?;
        // One connector's reconciliation needs its own row and the tenant's newest version, not
        // every row of the tenant.
        let (rows, tenant_facts) = match only {
            Some(row) => {
                let versions = self.store.connector_versions(&tenant.id).await?;
                let facts = Self::tenant_facts(tenant, versions.iter().map(String::as_str));
                (vec![row.clone()], facts)
            }
            None => {
                let rows = self.store.list_connectors(&tenant.id).await?;
                let facts = Self::tenant_facts(tenant, rows.iter().map(|r| r.version.as_str()));
                (rows, facts)
            }
        };
        let mut written = Vec::new();
        let mut evaluated = Vec::new();
        for row in rows {
            let facts = connector_facts(&row)?;
            let from = from_millis(row.reconciled_ms);
            // Segments of time over which the facts were constant.
            let mut segments = vec![];
            match presence.filter(|p| row.id == p.connector_id) {
                Some(p) => {
                    let last_contact = facts.last_checkin.unwrap_or(facts.enrolled);
                    let present = ConnectorFacts {
                        last_checkin: Some(now),
                        ..facts.clone()
                    };
                    match p.active_since {
                        // Polled without a gap since before the inactivity threshold: present throughout.
                        Some(since) if since <= last_contact + lifecycle::inactive_after() => {
                            segments.push((from, now, present))
                        }
                        Some(since) if since > from && since <= now => {
                            segments.push((from, since, facts.clone()));
                            segments.push((
                                since,
                                now,
                                ConnectorFacts {
                                    last_checkin: Some(since),
                                    ..facts
                                },
                            ));
                        }
                        _ => {
                            segments.push((from, now, facts));
                            segments.push((now, now, present));
                        }
                    }
                }
                None => segments.push((from, now, facts)),
            }
            if let Some(health_since) = presence
                .filter(|p| row.id == p.connector_id)
                .and_then(|p| p.health)
            {
                let last_health = row.last_health_ms.map(from_millis);
                let continuous = match (health_since, last_health) {
                    (Some(since), Some(last)) => since <= last + lifecycle::health_failing_after(),
                    _ => false,
                };
                if continuous {
                    for segment in segments.iter_mut() {
                        segment.2.last_health = Some(now);
                    }
                } else if let Some(last) = segments.last().map(|s| s.2.clone()) {
                    segments.push((
                        now,
                        now,
                        ConnectorFacts {
                            last_health: Some(now),
                            ..last
                        },
                    ));
                }
            }
            let initial = (row.last_status.clone(), row.last_reasons.clone());
            let mut last = initial.clone();
            let mut seq = row.seq;
            let mut entries = Vec::new();
            for (seg_from, seg_to, seg_facts) in &segments {
                for (at, evaluation) in
                    lifecycle::transitions(seg_facts, &tenant_facts, &catalog, *seg_from, *seg_to)
                {
                    let key = reason_key(&evaluation);
                    // Two changes at one instant (a check-in arriving exactly at a boundary) are
                    // one change: the later state is the state at that instant.
                    if key != last
                        && entries
                            .last()
                            .is_some_and(|e: &HistoryRow| e.at_ms == at.timestamp_millis())
                    {
                        entries.pop();
                        seq -= 1;
                        last = entries
                            .last()
                            .map(|e| (e.status.clone(), e.reasons.clone()))
                            .unwrap_or_else(|| initial.clone());
                    }
                    if key != last {
                        seq += 1;
                        entries.push(HistoryRow {
                            connector_id: row.id.clone(),
                            seq,
                            at_ms: at.timestamp_millis(),
                            status: key.0.clone(),
                            reasons: key.1.clone(),
                        });
                        last = key;
                    }
                }
            }
            let current_facts = segments
                .last()
                .map(|s| &s.2)
                .ok_or_else(|| RegistryError::Corrupt("no segment".into()))?;
            let evaluation = lifecycle::evaluate(current_facts, &tenant_facts, &catalog, now);
            if !entries.is_empty() || row.reconciled_ms != now.timestamp_millis() {
                written.push(Reconciled {
                    connector_id: row.id.clone(),
                    entries,
                    reconciled_ms: now.timestamp_millis(),
                    last_status: last.0,
                    last_reasons: last.1,
                    seq,
                });
            }
            evaluated.push((row, evaluation));
        }
        Ok((written, evaluated))
    }

    pub async fn register(
        &self,
        tenant: &TenantRow,
        new: NewConnector,
    ) -> RegistryResult<(ConnectorRow, String)> {
        let _facts = self.facts.lock().await;
        let now = self.now();
        let catalog = self.catalog().await?;
        if let Some(refusal) = lifecycle::refusal(&catalog, new.version, Operation::Checkin, now) {
            return Err(RegistryError::Refused(refusal, new.version));
        }
        let mut rows = self.store.list_connectors(&tenant.id).await?;
        if rows.len() >= CONNECTOR_LIMIT as usize {
            return Err(RegistryError::LimitReached);
        }
        let machine_key = new.machine_name.to_lowercase();
        if let Some(taken) = rows.iter().find(|r| r.machine_key == machine_key) {
            return Err(RegistryError::MachineTaken(taken.machine_name.clone()));
        }
        self.reconcile(tenant, now, None, None).await?;
        let credential = self.ids.secret("cred");
        let mut row = ConnectorRow {
            id: self.ids.uuid().to_string().into(),
            tenant_id: tenant.id.clone(),
            credential_hash: secret_hash(&credential),
            display_name: new.display_name,
            machine_name: new.machine_name,
            machine_key,
            features: new.features,
            version: new.version.to_string(),
            product: new.product.as_str().to_owned(),
            service_account: new.service_account,
            proxy: new.proxy,
            import_key_thumbprint: new.import_key_thumbprint,
            auto_update: new.auto_update,
            co_installed: new.co_installed,
            enrolled_ms: now.timestamp_millis(),
            last_checkin_ms: None,
            reconciled_ms: now.timestamp_millis(),
            last_status: String::new(),
            last_reasons: Vec::new(),
            seq: 1,
            last_health_ms: None,
        };
        rows.push(row.clone());
        let evaluation = lifecycle::evaluate(
            &connector_facts(&row)?,
            &Self::tenant_facts(tenant, rows.iter().map(|r| r.version.as_str())),
            &catalog,
            now,
        );
        let (status, reasons) = reason_key(&evaluation);
        row.last_status = status.clone();
        row.last_reasons = reasons.clone();
        let first = HistoryRow {
            connector_id: row.id.clone(),
            seq: 1,
            at_ms: now.timestamp_millis(),
            status,
            reasons,
        };
        self.store
            .insert_connector(&row, &first, CONNECTOR_LIMIT)
            .await?;
        Ok((row, credential))
    }

    /// Records a check-in. The reported version becomes the connector's version (that is how an
    /// update is reported). A retired version is refused and the check-in is not recorded.
    pub async fn checkin(
        &self,
        connector: &ConnectorRow,
        version: Version,
        active_since: Option<DateTime<Utc>>,
    ) -> RegistryResult<()> {
        self.present(connector, version, active_since, None).await
    }

    /// A health message: it counts as a check-in (with the same `activeSince` claim) and as a
    /// health upload (`health_since`: uploads continuous since then). Kept 7 days.
    pub async fn record_health(
        &self,
        connector: &ConnectorRow,
        version: Version,
        active_since: Option<DateTime<Utc>>,
        health_since: Option<DateTime<Utc>>,
        body: &str,
    ) -> RegistryResult<()> {
        self.present(connector, version, active_since, Some((health_since, body)))
            .await
    }

    /// A connector shows it is there: a check-in, or a health message (`health`: uploads
    /// continuous since then, and the message to keep).
    async fn present(
        &self,
        connector: &ConnectorRow,
        version: Version,
        active_since: Option<DateTime<Utc>>,
        health: Option<(Option<DateTime<Utc>>, &str)>,
    ) -> RegistryResult<()> {
        let now = self.now();
        for (field, since) in [
            ("activeSince", active_since),
            ("uploadingSince", health.and_then(|(since, _)| since)),
        ] {
            if let Some(since) = since.filter(|s| *s > now) {
                return Err(invalid(
                    "InvalidField",
                    format!(
                        "{field} {} is in the future (now is {})",
                        since.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                ));
            }
        }
        self.gate(version, Operation::Checkin).await?;
        let _facts = self.facts.lock().await;
        let connector = &self.current(connector).await?;
        let tenant = self.tenant(connector.tenant_id.as_str()).await?;
        let version_changed = connector.version != version.to_string();
        let presence = Presence {
            connector_id: connector.id.as_str(),
            active_since,
            health: health.map(|(since, _)| since),
        };
        // A new version changes every connector's skew; otherwise only this one's presence changes.
        let only = (!version_changed).then_some(connector);
        let (reconciled, _) = self
            .reconciliation(&tenant, now, only, Some(presence))
            .await?;
        let mut updated = connector.clone();
        updated.version = version.to_string();
        updated.last_checkin_ms = Some(now.timestamp_millis());
        if health.is_some() {
            updated.last_health_ms = Some(now.timestamp_millis());
        }
        let health = health.map(|(_, body)| HealthWrite {
            at_ms: now.timestamp_millis(),
            body,
            keep_from_ms: (now - chrono::Duration::days(7)).timestamp_millis(),
        });
        self.store
            .record_presence(&updated, &reconciled, health)
            .await?;
        Ok(())
    }

    /// The connector's health messages between two instants, oldest first.
    pub async fn health_messages(
        &self,
        tenant_id: &str,
        connector_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> RegistryResult<Vec<(DateTime<Utc>, String)>> {
        Ok(self
            .store
            .list_health(
                &tenant_id.into(),
                &connector_id.into(),
                from.timestamp_millis(),
                to.timestamp_millis(),
            )
            .await?
            .into_iter()
            .map(|(at, body)| (from_millis(at), body))
            .collect())
    }

    /// What the auto-update service offers `connector` now: the newest release available to its
    /// tenant (release date + rollout delay), its release date and when it became available.
    /// No version gate: updating is how a retired connector gets back.
    pub async fn update_offer(
        &self,
        connector: &ConnectorRow,
    ) -> RegistryResult<(Version, Option<(Version, DateTime<Utc>, DateTime<Utc>)>)> {
        let connector = self.current(connector).await?;
        let tenant = self.tenant(connector.tenant_id.as_str()).await?;
        let current = Version::parse(&connector.version)
            .map_err(|e| RegistryError::Corrupt(format!("stored version: {e}")))?;
        let catalog = self.catalog().await?;
        let delay = tenant.rollout_delay_days.max(0) as u32;
        let offer = catalog
            .newest_available(self.now(), delay)
            .and_then(|latest| {
                let released = catalog.release_date(latest)?;
                Some((
                    latest,
                    released,
                    released + chrono::Duration::days(delay as i64),
                ))
            });
        Ok((current, offer))
    }

    /// The connector as stored now (the caller's copy may predate a concurrent change).
    async fn current(&self, connector: &ConnectorRow) -> RegistryResult<ConnectorRow> {
        self.store
            .get_connector(&connector.tenant_id, &connector.id)
            .await
            .map_err(missing("connector"))
    }

    /// Refuses a call that the connector's version may no longer make.
    pub async fn gate(&self, version: Version, operation: Operation) -> RegistryResult<()> {
        self.gates(version, [operation]).await
    }

    /// [`Registry::gate`] for several operations, in order, with one read of the catalog.
    pub async fn gates(
        &self,
        version: Version,
        operations: impl IntoIterator<Item = Operation>,
    ) -> RegistryResult<()> {
        let catalog = self.catalog().await?;
        let now = self.now();
        for operation in operations {
            if let Some(refusal) = lifecycle::refusal(&catalog, version, operation, now) {
                return Err(RegistryError::Refused(refusal, version));
            }
        }
        Ok(())
    }

    /// May this connector make SCEP validation calls now? Only with the `scep` feature (SCEP goes
    /// only to the connectors that have it), and not on a legacy or retired version.
    pub async fn scep_gate(&self, connector: &ConnectorRow) -> RegistryResult<()> {
        let connector = self.current(connector).await?;
        let facts = connector_facts(&connector)?;
        if !facts.features.contains(crate::domain::Feature::Scep) {
            return Err(RegistryError::FeatureNotInstalled(format!(
                "connector {} does not have the scep feature; SCEP validation goes only to connectors with it",
                connector.id
            )));
        }
        self.gates(facts.version, [Operation::Checkin, Operation::Issue])
            .await
    }

    pub async fn reconfigure(
        &self,
        connector: &ConnectorRow,
        change: Reconfigure,
    ) -> RegistryResult<ConnectorRow> {
        let version = Version::parse(&connector.version)
            .map_err(|_| RegistryError::Corrupt("version".into()))?;
        self.gate(version, Operation::Reconfigure).await?;
        let _facts = self.facts.lock().await;
        let connector = &self.current(connector).await?;
        let tenant = self.tenant(connector.tenant_id.as_str()).await?;
        self.reconcile(&tenant, self.now(), None, None).await?;
        let mut updated = connector.clone();
        if let Some(name) = change.display_name {
            updated.display_name = name;
        }
        if let Some(features) = change.features {
            updated.features = features;
        }
        if let Some(account) = change.service_account {
            updated.service_account = account;
        }
        if let Some(proxy) = change.proxy {
            updated.proxy = proxy;
        }
        if let Some(key) = change.import_key_thumbprint {
            updated.import_key_thumbprint = key;
        }
        if let Some(auto_update) = change.auto_update {
            updated.auto_update = auto_update;
        }
        if let Some(products) = change.co_installed {
            updated.co_installed = parse_co_installed(&products)
                .map_err(|e| invalid("InvalidField", e.to_string()))?;
        }
        self.store.update_connector(&updated).await?;
        Ok(updated)
    }

    pub async fn uninstall(&self, connector: &ConnectorRow) -> RegistryResult<()> {
        let _facts = self.facts.lock().await;
        let tenant = self.tenant(connector.tenant_id.as_str()).await?;
        self.reconcile(&tenant, self.now(), None, None).await?;
        self.store
            .release_connector_leases(&connector.id, self.now().timestamp_millis())
            .await?;
        self.store
            .delete_connector(&connector.tenant_id, &connector.id)
            .await?;
        Ok(())
    }

    /// All of a tenant's connectors with their status now, history reconciled.
    pub async fn connectors_with_status(
        &self,
        tenant_id: &str,
    ) -> RegistryResult<Vec<(ConnectorRow, Evaluation)>> {
        let _facts = self.facts.lock().await;
        let tenant = self.tenant(tenant_id).await?;
        self.reconcile(&tenant, self.now(), None, None).await
    }

    pub async fn connector_status(
        &self,
        tenant_id: &str,
        connector_id: &str,
    ) -> RegistryResult<(ConnectorRow, Evaluation)> {
        let _facts = self.facts.lock().await;
        let tenant = self.tenant(tenant_id).await?;
        self.reconcile(&tenant, self.now(), None, None)
            .await?
            .into_iter()
            .find(|(row, _)| row.id == connector_id)
            .ok_or(RegistryError::NotFound("connector"))
    }

    pub async fn connector_history(
        &self,
        tenant_id: &str,
        connector_id: &str,
    ) -> RegistryResult<Vec<HistoryRow>> {
        let _facts = self.facts.lock().await;
        let tenant = self.tenant(tenant_id).await?;
        self.reconcile(&tenant, self.now(), None, None).await?;
        let rows = self
            .store
            .list_history(&tenant_id.into(), &connector_id.into())
            .await?;
        if rows.is_empty() {
            return Err(RegistryError::NotFound("connector"));
        }
        Ok(rows)
    }

    pub async fn list_connector_rows(&self, tenant_id: &str) -> RegistryResult<Vec<ConnectorRow>> {
        Ok(self.store.list_connectors(&tenant_id.into()).await?)
    }

    /// The distinct versions of the tenant's connectors, in text order.
    pub async fn connector_versions(&self, tenant_id: &str) -> RegistryResult<Vec<String>> {
        Ok(self.store.connector_versions(&tenant_id.into()).await?)
    }

    /// Jobs of every tenant by kind and state (expired leases put back first).
    pub async fn job_stats(&self) -> RegistryResult<Vec<crate::store::JobStat>> {
        self.store
            .expire_leases(None, self.now().timestamp_millis())
            .await?;
        Ok(self.store.job_stats().await?)
    }

    /// Ended attempts of every tenant by outcome.
    pub async fn attempt_outcomes(
        &self,
    ) -> RegistryResult<Vec<(crate::store::AttemptOutcome, i64)>> {
        Ok(self.store.attempt_outcomes().await?)
    }

    pub async fn list_tenant_rows(&self) -> RegistryResult<Vec<TenantRow>> {
        Ok(self.store.list_tenants().await?)
    }
}

/// The most jobs one lease call may ask for.
pub const MAX_LEASE_BATCH: u32 = 100;
/// The most jobs one enqueue call may carry.
pub const MAX_ENQUEUE_BATCH: usize = 1000;
/// Attempts before a job goes to dead letter (DESIGN §3.4).
pub use crate::domain::jobs::{retry_backoff, MAX_ATTEMPTS};
pub const DEFAULT_VISIBILITY_SECONDS: u32 = 300;
pub const MAX_VISIBILITY_SECONDS: u32 = 12 * 3600;

/// A validated job to enqueue.
/// What a SCEP profile asks of a targeted device's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScepChallenge {
    pub device_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub subject_alt_names: Vec<crate::scep::San>,
    pub key_usage: Vec<String>,
    pub key_size: i64,
    pub extended_key_usage: Vec<String>,
    pub validity_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: crate::domain::JobKind,
    /// Canonical JSON of the validated payload.
    pub payload: String,
}

/// Who holds a lease: a connector, or a third-party CA app (`third-party-ca:{clientId}`).
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub tenant_id: &'a TenantId,
    pub id: &'a ConnectorId,
}

/// The lease holder id of a tenant's third-party CA (the app registration of its client id).
/// At most this many revocation requests per third-party CA download (intune-wire.md §1.6).
pub const MAX_CA_DOWNLOAD: u32 = 500;

pub fn third_party_ca_holder(client_id: &str) -> String {
    format!("third-party-ca:{client_id}")
}

/// What a connector reports for a leased job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        result: String,
    },
    Failed {
        code: String,
        message: Option<String>,
    },
    Retry {
        code: Option<String>,
        message: Option<String>,
    },
}

impl Outcome {
    pub fn kind(&self) -> crate::domain::Outcome {
        match self {
            Outcome::Succeeded { .. } => crate::domain::Outcome::Succeeded,
            Outcome::Failed { .. } => crate::domain::Outcome::Failed,
            Outcome::Retry { .. } => crate::domain::Outcome::Retry,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// The stable answer to a completion (the same for a repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedJob {
    pub job_id: String,
    pub attempt: i64,
    pub outcome: String,
    pub state: String,
}

use crate::domain::jobs::completed_state;

/// One entry of [`Registry::complete_many`].
#[derive(Debug, Clone)]
pub struct BatchCompletion {
    pub job_id: String,
    pub token: String,
    pub outcome: Outcome,
}

/// The write that completes a job whose current lease the token holds.
#[derive(Debug, Clone, Copy)]
struct PlannedWrite {
    attempt: i64,
    new_state: JobState,
    now_ms: i64,
    visible_ms: i64,
}

impl PlannedWrite {
    fn completion<'a>(
        &self,
        job_id: &'a JobId,
        token_hash: &'a str,
        outcome: &'a Outcome,
    ) -> crate::store::Completion<'a> {
        let (result, error_code, error_message) = match outcome {
            Outcome::Succeeded { result } => (Some(result.as_str()), None, None),
            Outcome::Failed { code, message } => (None, Some(code.as_str()), message.as_deref()),
            Outcome::Retry { code, message } => (None, code.as_deref(), message.as_deref()),
        };
        crate::store::Completion {
            job_id,
            token_hash,
            now_ms: self.now_ms,
            new_state: self.new_state,
            attempt_outcome: outcome.kind(),
            visible_ms: self.visible_ms,
            result,
            error_code,
            error_message,
        }
    }

    /// The answer once the store said whether the write was applied.
    fn answer(
        &self,
        job_id: &str,
        outcome: &Outcome,
        applied: bool,
    ) -> RegistryResult<CompletedJob> {
        if !applied {
            return Err(RegistryError::LeaseLost(format!(
                "the lease of job {job_id} ended while completing it"
            )));
        }
        Ok(CompletedJob {
            job_id: job_id.to_owned(),
            attempt: self.attempt,
            outcome: outcome.name().to_owned(),
            state: self.new_state.as_str().to_owned(),
        })
    }
}

/// Does `token_hash` hold `job`'s current lease? Then the write that completes it (`Some`);
/// `None` when the answer must come from the attempt history (a repeat, a stale token).
fn completion_plan(
    job: &crate::store::JobRow,
    holder: &Holder<'_>,
    token_hash: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> RegistryResult<Option<PlannedWrite>> {
    if job.state != JobState::Leased || job.lease_token_hash.as_deref() != Some(token_hash) {
        return Ok(None);
    }
    if job.lease_connector_id.as_ref() != Some(holder.id) {
        return Err(RegistryError::NotLeaseHolder(job.id.to_string()));
    }
    let new_state = completed_state(outcome.kind(), job.attempts, job.max_attempts);
    let visible = match (outcome, new_state) {
        (Outcome::Retry { .. }, JobState::Queued) => now + retry_backoff(job.attempts),
        _ => now,
    };
    Ok(Some(PlannedWrite {
        attempt: job.attempts,
        new_state,
        now_ms: now.timestamp_millis(),
        visible_ms: visible.timestamp_millis(),
    }))
}

impl Registry {
    pub async fn enqueue(
        &self,
        tenant_id: &str,
        jobs: Vec<NewJob>,
    ) -> RegistryResult<Vec<crate::store::JobRow>> {
        if jobs.is_empty() || jobs.len() > MAX_ENQUEUE_BATCH {
            return Err(invalid(
                "InvalidField",
                format!(
                    "a batch holds 1 to {MAX_ENQUEUE_BATCH} jobs, not {}",
                    jobs.len()
                ),
            ));
        }
        self.tenant(tenant_id).await?;
        for (i, job) in jobs.iter().enumerate() {
            if job.kind != crate::domain::JobKind::PkcsImport {
                continue;
            }
            let id = serde_json::from_str::<serde_json::Value>(&job.payload)
                .ok()
                .and_then(|p| p["userPfxCertificateId"].as_str().map(str::to_owned))
                .unwrap_or_default();
            match self.store.get_user_pfx(&tenant_id.into(), &id).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    return Err(invalid(
                        "UnknownUserPfxCertificate",
                        format!("jobs[{i}].payload.userPfxCertificateId: no imported PFX `{id}` in this tenant; upload it to /beta/deviceManagement/userPfxCertificates first"),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = self.now().timestamp_millis();
        let rows: Vec<crate::store::JobRow> = jobs
            .into_iter()
            .map(|job| crate::store::JobRow {
                id: self.ids.uuid_v7(now).to_string().into(),
                tenant_id: tenant_id.into(),
                kind: job.kind,
                state: JobState::Queued,
                payload: job.payload,
                attempts: 0,
                max_attempts: MAX_ATTEMPTS,
                visible_ms: now,
                lease_token_hash: None,
                lease_connector_id: None,
                lease_expires_ms: None,
                result: None,
                error_code: None,
                error_message: None,
                created_ms: now,
                completed_ms: None,
            })
            .collect();
        self.store.insert_jobs(&rows).await?;
        Ok(rows)
    }

    /// Leases jobs for a connector: only its tenant's jobs, only kinds its features allow. The
    /// version gates apply to every kind asked for. Returns each job with its lease token.
    pub async fn lease(
        &self,
        connector: &ConnectorRow,
        kinds: Option<Vec<String>>,
        max: u32,
        visibility_seconds: Option<u32>,
    ) -> RegistryResult<Vec<(crate::store::JobRow, String)>> {
        use crate::domain::routing::{leasable_kinds, JobKind};
        if max == 0 || max > MAX_LEASE_BATCH {
            return Err(invalid(
                "InvalidField",
                format!("max must be from 1 to {MAX_LEASE_BATCH}, not {max}"),
            ));
        }
        let visibility = visibility_seconds.unwrap_or(DEFAULT_VISIBILITY_SECONDS);
        if visibility == 0 || visibility > MAX_VISIBILITY_SECONDS {
            return Err(invalid("InvalidField", format!("visibilityTimeoutSeconds must be from 1 to {MAX_VISIBILITY_SECONDS}, not {visibility}")));
        }
        let facts = connector_facts(connector)?;
        let allowed = leasable_kinds(&facts.features);
        let kinds = match kinds {
            None => allowed.clone(),
            Some(names) => {
                let mut out = Vec::new();
                for name in &names {
                    let kind = JobKind::parse(name)
                        .map_err(|e| invalid("UnknownJobKind", format!("kinds: {e}")))?;
                    if !allowed.contains(&kind) {
                        return Err(invalid(
                            "FeatureNotInstalled",
                            format!("kinds: `{name}` needs the {} feature, which this connector does not have", kind.feature()),
                        ));
                    }
                    if !out.contains(&kind) {
                        out.push(kind);
                    }
                }
                out
            }
        };
        self.gates(
            facts.version,
            std::iter::once(Operation::Checkin).chain(kinds.iter().map(|k| k.operation())),
        )
        .await?;
        let now = self.now();
        let tokens: Vec<String> = (0..max).map(|_| self.ids.secret("lease")).collect();
        let hashes: Vec<String> = tokens.iter().map(|t| secret_hash(t)).collect();
        let tenant = self.tenant(connector.tenant_id.as_str()).await?;
        let holds_import_key = tenant.import_key_thumbprint.is_some()
            && connector
                .import_key_thumbprint
                .as_deref()
                .map(str::to_ascii_lowercase)
                == tenant
                    .import_key_thumbprint
                    .as_deref()
                    .map(str::to_ascii_lowercase);
        let leased = self
            .store
            .lease_jobs(&crate::store::LeaseJobs {
                tenant_id: &connector.tenant_id,
                connector_id: &connector.id,
                kinds: &kinds,
                now_ms: now.timestamp_millis(),
                lease_expires_ms: (now + Duration::seconds(visibility as i64)).timestamp_millis(),
                token_hashes: &hashes,
                skip_missing_import_key: !holds_import_key,
                issuer_name: None,
            })
            .await?;
        let mut leased = leased;
        for row in leased.iter_mut().filter(|r| r.kind == JobKind::PkcsImport) {
            self.attach_user_pfx(row).await?;
        }
        Ok(with_tokens(leased, &tokens, &hashes))
    }

    /// `CertificateAuthorityRequests/downloadRevocationRequests` for a tenant's third-party CA:
    /// up to `max` revoke requests (optionally of one issuer), not handed out again for 60
    /// minutes unless a result is uploaded (a lease with a 60-minute visibility timeout).
    pub async fn ca_download_revocations(
        &self,
        tenant_id: &str,
        max: u32,
        issuer_name: Option<&str>,
    ) -> RegistryResult<Vec<(crate::store::JobRow, String)>> {
        if max == 0 || max > MAX_CA_DOWNLOAD {
            return Err(invalid(
                "ParameterDataInvalidError",
                format!(
                    "downloadParameters.maxRequests must be from 1 to {MAX_CA_DOWNLOAD}, not {max}"
                ),
            ));
        }
        let tenant = self.tenant(tenant_id).await?;
        let holder = ConnectorId::from(third_party_ca_holder(&tenant.client_id));
        let now = self.now();
        let tokens: Vec<String> = (0..max).map(|_| self.ids.secret("lease")).collect();
        let hashes: Vec<String> = tokens.iter().map(|t| secret_hash(t)).collect();
        let leased = self
            .store
            .lease_jobs(&crate::store::LeaseJobs {
                tenant_id: &tenant.id,
                connector_id: &holder,
                kinds: &[JobKind::Revoke],
                now_ms: now.timestamp_millis(),
                lease_expires_ms: (now + Duration::minutes(60)).timestamp_millis(),
                token_hashes: &hashes,
                skip_missing_import_key: false,
                issuer_name,
            })
            .await?;
        Ok(with_tokens(leased, &tokens, &hashes))
    }

    /// Gives a leased `pkcs_import` job the imported PFX it names (the blob and the encrypted
    /// password are handed only to the connector holding the lease, never to admin views).
    async fn attach_user_pfx(&self, row: &mut crate::store::JobRow) -> RegistryResult<()> {
        let mut payload: serde_json::Value = serde_json::from_str(&row.payload)
            .map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        let id = payload["userPfxCertificateId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match self.store.get_user_pfx(&row.tenant_id, &id).await {
            Ok(pfx) => {
                payload["userPfxCertificate"] = serde_json::json!({
                    "id": pfx.id,
                    "userPrincipalName": pfx.user_principal_name,
                    "thumbprint": pfx.thumbprint,
                    "intendedPurpose": pfx.intended_purpose,
                    "providerName": pfx.provider_name,
                    "keyName": pfx.key_name,
                    "paddingScheme": pfx.padding_scheme,
                    "encryptedPfxBlob": pfx.encrypted_pfx_blob,
                    "encryptedPfxPassword": pfx.encrypted_pfx_password,
                });
            }
            // Deleted since it was enqueued: the connector fails the job.
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        row.payload = payload.to_string();
        Ok(())
    }

    /// Stores an imported user PFX (`POST /beta/deviceManagement/userPfxCertificates`).
    pub async fn import_user_pfx(
        &self,
        tenant_id: &str,
        pfx: crate::store::UserPfxRow,
    ) -> RegistryResult<crate::store::UserPfxRow> {
        self.tenant(tenant_id).await?;
        match self.store.get_user_pfx(&tenant_id.into(), &pfx.id).await {
            Ok(_) => {
                return Err(RegistryError::AlreadyExists(format!(
                    "userPfxCertificate `{}` already exists; PATCH it to update",
                    pfx.id
                )))
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.store.upsert_user_pfx(&pfx).await?;
        Ok(pfx)
    }

    // ----- SCEP -----------------------------------------------------------------------------

    /// "A device is targeted by a SCEP profile": stores what its request must match and returns
    /// the challenge blob the device will put in its CSR.
    pub async fn issue_scep_challenge(
        &self,
        tenant_id: &str,
        profile: NewScepChallenge,
    ) -> RegistryResult<(crate::store::ScepChallengeRow, String)> {
        let tenant = self.tenant(tenant_id).await?;
        let now = self.now().timestamp_millis();
        let id = self.ids.uuid().to_string();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&self.ids.uuid().as_bytes()[..12]);
        let row = crate::store::ScepChallengeRow {
            tenant_id: tenant.id.clone(),
            id: id.clone(),
            device_id: profile.device_id,
            user_id: profile.user_id,
            subject: profile.subject,
            subject_alt_names: serde_json::to_string(&profile.subject_alt_names)
                .unwrap_or_else(|_| "[]".into()),
            key_usage: profile.key_usage.join(","),
            key_size: profile.key_size,
            extended_key_usage: profile.extended_key_usage.join(","),
            issued_ms: now,
            expires_ms: now + profile.validity_minutes * 60_000,
            targeted: true,
            transaction_id: None,
            last_code: None,
            notification_kind: None,
            notification: None,
            notified_ms: None,
        };
        let secret = self.scep_secret(&tenant.id).await?;
        let blob = crate::scep::encode_challenge(
            &tenant,
            &secret,
            &id,
            row.issued_ms,
            row.expires_ms,
            nonce,
        )
        .map_err(|e| RegistryError::Corrupt(format!("cannot seal a challenge: {e}")))?;
        self.store.insert_scep_challenge(&row).await?;
        Ok((row, blob))
    }

    /// The tenant's challenge secret, made (once, from the id source) the first time it is needed.
    async fn scep_secret(&self, tenant_id: &TenantId) -> RegistryResult<String> {
        match self.store.scep_secret(tenant_id).await {
            Ok(secret) => Ok(secret),
            Err(StoreError::NotFound) => {
                self.store
                    .insert_scep_secret(tenant_id, &self.ids.secret("scep"))
                    .await?;
                Ok(self.store.scep_secret(tenant_id).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn scep_challenge(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> RegistryResult<crate::store::ScepChallengeRow> {
        self.store
            .get_scep_challenge(&tenant_id.into(), id)
            .await
            .map_err(missing("SCEP challenge"))
    }

    /// The profile no longer targets the device (retargeted or removed).
    pub async fn untarget_scep_challenge(&self, tenant_id: &str, id: &str) -> RegistryResult<()> {
        self.store
            .set_scep_targeted(&tenant_id.into(), id, false)
            .await
            .map_err(missing("SCEP challenge"))
    }

    /// `ScepActions/validateRequest`: the verdict on a device's request. `connector_version`:
    /// the calling connector's version (a third-party CA has none).
    pub async fn scep_validate(
        &self,
        tenant_id: &str,
        connector_version: Option<Version>,
        transaction_id: &str,
        csr_der: &[u8],
    ) -> RegistryResult<crate::scep::Verdict> {
        let tenant = self.tenant(tenant_id).await?;
        let now = self.now().timestamp_millis();
        let secret = self.scep_secret(&tenant.id).await?;
        let verdict = match crate::scep::challenge_of(&tenant, &secret, csr_der, now) {
            Err(v) => v,
            Ok(id) => match self.store.get_scep_challenge(&tenant.id, &id).await {
                // The stored expiry holds too, whatever the blob says.
                Ok(row) if row.targeted && now >= row.expires_ms => crate::scep::Verdict {
                    code: "ChallengeExpired",
                    description: "the challenge has expired".into(),
                    challenge_id: Some(id),
                },
                Ok(row) if row.targeted => {
                    let allow_list_from = Version::parse(crate::scep::EXTENSION_ALLOW_LIST_FROM)
                        .map_err(|_| RegistryError::Corrupt("allow-list version".into()))?;
                    let enforce = connector_version.is_some_and(|v| v >= allow_list_from);
                    crate::scep::check_request(&row, csr_der, enforce)
                }
                Ok(_) | Err(StoreError::NotFound) => crate::scep::Verdict {
                    code: "ScepProfileNoLongerTargetedToTheClient",
                    description:
                        "the SCEP profile behind this challenge no longer targets the device".into(),
                    challenge_id: Some(id),
                },
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(id) = &verdict.challenge_id {
            self.store
                .record_scep_validation(&tenant.id, id, transaction_id, verdict.code, now)
                .await?;
        }
        Ok(verdict)
    }

    /// `ScepActions/successNotification` / `failureNotification`: recorded on the challenge the
    /// request under `transaction_id` named. The answer: `None` when no request was validated
    /// under that transaction, else the code that validation got (a success notification for a
    /// refused request is recorded but is not a `Success`).
    pub async fn scep_notify(
        &self,
        tenant_id: &str,
        kind: &str,
        transaction_id: &str,
        body: &str,
    ) -> RegistryResult<Option<String>> {
        let tenant_id = TenantId::from(tenant_id);
        match self.store.scep_validation(&tenant_id, transaction_id).await {
            Ok((challenge_id, code)) => {
                let now = self.now().timestamp_millis();
                self.store
                    .record_scep_notification(&tenant_id, &challenge_id, kind, body, now)
                    .await?;
                Ok(Some(code))
            }
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces an imported user PFX (`PATCH`); it must exist.
    pub async fn update_user_pfx(
        &self,
        tenant_id: &str,
        pfx: crate::store::UserPfxRow,
    ) -> RegistryResult<crate::store::UserPfxRow> {
        self.user_pfx(tenant_id, &pfx.id).await?;
        self.store.upsert_user_pfx(&pfx).await?;
        Ok(pfx)
    }

    pub async fn user_pfx_list(
        &self,
        tenant_id: &str,
    ) -> RegistryResult<Vec<crate::store::UserPfxRow>> {
        Ok(self.store.list_user_pfx(&tenant_id.into()).await?)
    }

    pub async fn user_pfx(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> RegistryResult<crate::store::UserPfxRow> {
        self.store
            .get_user_pfx(&tenant_id.into(), id)
            .await
            .map_err(missing("userPfxCertificate"))
    }

    pub async fn delete_user_pfx(&self, tenant_id: &str, id: &str) -> RegistryResult<()> {
        self.store
            .delete_user_pfx(&tenant_id.into(), id)
            .await
            .map_err(missing("userPfxCertificate"))
    }

    /// Completes a leased job. A repeat of the same completion with the same token answers the
    /// same; a token whose lease ended (expired and re-leased, cancelled) is `LeaseLost`.
    pub async fn complete(
        &self,
        connector: &ConnectorRow,
        job_id: &str,
        token: &str,
        outcome: Outcome,
    ) -> RegistryResult<CompletedJob> {
        self.complete_as(
            &Holder {
                tenant_id: &connector.tenant_id,
                id: &connector.id,
            },
            job_id,
            token,
            outcome,
        )
        .await
    }

    /// Would [`Registry::complete_as`] find `token` holding (or having held) `job_id` for
    /// `holder`? Lets a batch be checked whole before any of it is applied.
    pub async fn lease_is_held(
        &self,
        holder: &Holder<'_>,
        job_id: &str,
        token: &str,
    ) -> RegistryResult<bool> {
        let job_id = &JobId::from(job_id);
        let job = match self.store.get_job(holder.tenant_id, job_id).await {
            Ok(job) => job,
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let token_hash = secret_hash(token);
        if job.state == JobState::Leased
            && job.lease_token_hash.as_deref() == Some(token_hash.as_str())
        {
            return Ok(job.lease_connector_id.as_ref() == Some(holder.id));
        }
        match self.store.attempt_by_token(job_id, &token_hash).await {
            Ok(a) => Ok(a.connector_id == *holder.id && a.outcome.is_some()),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Registry::complete`] for any lease holder (a connector, or a third-party CA).
    pub async fn complete_as(
        &self,
        holder: &Holder<'_>,
        job_id: &str,
        token: &str,
        outcome: Outcome,
    ) -> RegistryResult<CompletedJob> {
        let job = self
            .store
            .get_job(holder.tenant_id, &job_id.into())
            .await
            .map_err(missing("job"))?;
        let token_hash = secret_hash(token);
        match completion_plan(&job, holder, &token_hash, &outcome, self.now())? {
            Some(write) => {
                let applied = self
                    .store
                    .complete_job(&write.completion(&job.id, &token_hash, &outcome))
                    .await?;
                write.answer(job.id.as_str(), &outcome, applied)
            }
            None => {
                self.completed_before(holder, &job, &token_hash, &outcome)
                    .await
            }
        }
    }

    /// Completes a batch of one lease holder's jobs: every completion whose token holds its
    /// job's current lease is written in one transaction, and the others (a repeat, a stale
    /// token, a job named twice) are answered one by one afterwards. Each entry gets the answer
    /// it would have had alone, in order; a backend failure fails the batch and writes nothing.
    pub async fn complete_many(
        &self,
        holder: &Holder<'_>,
        entries: Vec<BatchCompletion>,
    ) -> RegistryResult<Vec<RegistryResult<CompletedJob>>> {
        let ids: Vec<JobId> = entries.iter().map(|e| e.job_id.as_str().into()).collect();
        let ids: Vec<&JobId> = ids.iter().collect();
        let jobs: HashMap<JobId, crate::store::JobRow> = self
            .store
            .get_jobs(holder.tenant_id, &ids)
            .await?
            .into_iter()
            .map(|job| (job.id.clone(), job))
            .collect();
        let now = self.now();
        let hashes: Vec<String> = entries.iter().map(|e| secret_hash(&e.token)).collect();
        let mut answers: Vec<Option<RegistryResult<CompletedJob>>> =
            entries.iter().map(|_| None).collect();
        let mut writes: Vec<(usize, PlannedWrite)> = Vec::new();
        let mut written: HashSet<&str> = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let Some(job) = jobs.get(ids[i]) else {
                answers[i] = Some(Err(RegistryError::NotFound("job")));
                continue;
            };
            if written.contains(job.id.as_str()) {
                continue;
            }
            match completion_plan(job, holder, &hashes[i], &entry.outcome, now) {
                Ok(Some(write)) => {
                    written.insert(job.id.as_str());
                    writes.push((i, write));
                }
                Ok(None) => {}
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let completions: Vec<crate::store::Completion<'_>> = writes
            .iter()
            .map(|(i, write)| write.completion(ids[*i], &hashes[*i], &entries[*i].outcome))
            .collect();
        let applied = self.store.complete_jobs(&completions).await?;
        for ((i, write), applied) in writes.iter().zip(applied) {
            answers[*i] = Some(write.answer(&entries[*i].job_id, &entries[*i].outcome, applied));
        }
        let mut out = Vec::with_capacity(entries.len());
        for (entry, answer) in entries.iter().zip(answers) {
            out.push(match answer {
                Some(answer) => answer,
                None => {
                    self.complete_as(holder, &entry.job_id, &entry.token, entry.outcome.clone())
                        .await
                }
            });
        }
        Ok(out)
    }

    /// The answer for a token that does not hold the job's current lease: the same answer as
    /// before for a repeat of a completion, `LeaseLost` or `AlreadyCompleted` otherwise.
    async fn completed_before(
        &self,
        holder: &Holder<'_>,
        job: &crate::store::JobRow,
        token_hash: &str,
        outcome: &Outcome,
    ) -> RegistryResult<CompletedJob> {
        let job_id = job.id.as_str();
        let attempt = match self.store.attempt_by_token(&job.id, token_hash).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => {
                return Err(RegistryError::LeaseLost(format!(
                    "the lease token does not hold job {job_id}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if attempt.connector_id != *holder.id {
            return Err(RegistryError::NotLeaseHolder(job_id.to_owned()));
        }
        match attempt.outcome {
            Some(previous) if previous.reported() == Some(outcome.kind()) => Ok(CompletedJob {
                job_id: job_id.to_owned(),
                attempt: attempt.attempt,
                outcome: previous.as_str().to_owned(),
                state: completed_state(outcome.kind(), attempt.attempt, job.max_attempts)
                    .as_str()
                    .to_owned(),
            }),
            Some(previous) if previous.reported().is_some() => {
                Err(RegistryError::AlreadyCompleted(format!(
                    "attempt {} of job {job_id} was already completed as `{previous}`",
                    attempt.attempt
                )))
            }
            Some(ended) => Err(RegistryError::LeaseLost(format!(
                "the lease of attempt {} of job {job_id} {ended}",
                attempt.attempt
            ))),
            None => Err(RegistryError::LeaseLost(format!(
                "the lease of attempt {} of job {job_id} is no longer current",
                attempt.attempt
            ))),
        }
    }

    pub async fn jobs(
        &self,
        tenant_id: &str,
        kind: Option<&str>,
        state: Option<&str>,
        top: i64,
        skip: i64,
    ) -> RegistryResult<(Vec<crate::store::JobRow>, i64)> {
        let kind = kind
            .map(JobKind::parse)
            .transpose()
            .map_err(|e| invalid("UnknownJobKind", format!("kind: {e}")))?;
        let state = state
            .map(JobState::parse)
            .transpose()
            .map_err(|e| invalid("InvalidField", e.to_string()))?;
        let tenant_id = &self.tenant(tenant_id).await?.id;
        self.store
            .expire_leases(Some(tenant_id), self.now().timestamp_millis())
            .await?;
        let rows = self
            .store
            .list_jobs(tenant_id, kind, state, top, skip)
            .await?;
        let total = self.store.count_jobs(tenant_id, kind, state).await?;
        Ok((rows, total))
    }

    /// Whether a lease by one of the tenant's connectors could find work now: a job is queued,
    /// once the tenant's leases that ran out are back in the queue. (`true` also while the
    /// only queued jobs wait out a retry backoff.)
    pub async fn has_queued_jobs(&self, tenant_id: &str) -> RegistryResult<bool> {
        let tenant_id = &TenantId::from(tenant_id);
        self.store
            .expire_leases(Some(tenant_id), self.now().timestamp_millis())
            .await?;
        Ok(self.store.has_queued_jobs(tenant_id).await?)
    }

    pub async fn job(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> RegistryResult<(crate::store::JobRow, Vec<crate::store::AttemptRow>)> {
        let (tenant_id, id) = (&TenantId::from(tenant_id), &JobId::from(id));
        self.store
            .expire_leases(Some(tenant_id), self.now().timestamp_millis())
            .await?;
        let job = self
            .store
            .get_job(tenant_id, id)
            .await
            .map_err(missing("job"))?;
        let attempts = self.store.job_attempts(id).await?;
        Ok((job, attempts))
    }

    pub async fn cancel_job(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> RegistryResult<crate::store::JobRow> {
        let (job, _) = self.job(tenant_id, id).await?;
        if !self
            .store
            .cancel_job(&tenant_id.into(), &id.into(), self.now().timestamp_millis())
            .await?
        {
            return Err(RegistryError::AlreadyCompleted(format!(
                "job {id} is already {}",
                job.state
            )));
        }
        Ok(self.job(tenant_id, id).await?.0)
    }

    /// The earliest instant after `after` at which a lease expires or a retry backoff ends.
    pub async fn next_job_deadline(
        &self,
        after: DateTime<Utc>,
    ) -> RegistryResult<Option<DateTime<Utc>>> {
        Ok(self
            .store
            .next_job_deadline(after.timestamp_millis())
            .await?
            .map(from_millis))
    }
}
