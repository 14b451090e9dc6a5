//! The world a scenario runs in: a fresh service (in-memory SQLite, virtual clock at `start`,
//! seeded ids), the scenario's simulated connectors, its PKI and SCEP devices, and the virtual
//! clock that moves through them. The steps (`crate::steps`) act on it.
//!
//! Time moves only through `advance`/`at` steps, via [`World::drive_to`]: it jumps from one
//! instant at which a connector's calls get a different answer (`service::schedule`) to the next,
//! and at each hop every connector whose poll grid has a point in the skipped span polls once
//! (a coalesced poll). Just before such an instant the connectors poll once more, so the service
//! sees them present up to the boundary. Idle polls in between cost nothing. Between boundaries
//! the clock also stops where a connector that may find work (one that is "hungry": work was
//! enqueued, or its last poll found some) polls; there only the hungry connectors poll. A
//! connector stops being hungry when its poll finds nothing, and so do all of a tenant's
//! connectors once, after one of them worked, the tenant has no queued job left.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use reqwest::Method;

use super::profiles;
use crate::harness::{spawn_app_with_catalog, TestApp};
use crate::spec::setup::{ConnectorSpec, TenantSpec};
use service::domain::catalog::CatalogChoice;

/// Which connectors poll in a round (see [`World::poll_round`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Every running connector with a poll due: before a boundary and at the end of a span.
    All,
    /// Only the connectors that may find work: a hop made because work is waiting.
    Hungry,
}

/// What a step did when it did not simply succeed.
pub(crate) enum StepError {
    /// An expectation did not hold; the scenario goes on.
    Mismatch {
        message: String,
        expected: Option<String>,
        actual: Option<String>,
    },
    /// The file parsed but is wrong at run time (e.g. `at` earlier than the clock).
    Invalid(String),
    /// The step asks for something the harness cannot do yet.
    NotSupported(&'static str),
    /// The harness failed.
    Harness(anyhow::Error),
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> Self {
        StepError::Harness(e)
    }
}

/// An expectation that did not hold: what, the value the file states, the value seen.
pub(crate) fn mismatch(
    message: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> StepError {
    StepError::Mismatch {
        message: message.into(),
        expected: Some(expected.into()),
        actual: Some(actual.into()),
    }
}

/// A bound on clock stops in one `advance`/`at` (jobs that never settle would loop forever).
const MAX_HOPS: usize = 1_000_000;

/// A scenario's running service and connectors, and what the steps so far have made.
pub(crate) struct World {
    pub(crate) app: TestApp,
    seed: u64,
    pub(crate) tenants: BTreeMap<String, wire::admin::Tenant>,
    pub(crate) connectors: BTreeMap<String, Connector>,
    /// Connector name → tenant name.
    pub(crate) tenant_of: BTreeMap<String, String>,
    installs: u64,
    pub(crate) transcript: Vec<String>,
    /// CAs, device and tenant keys: made only for scenarios that queue jobs or touch a CA.
    pub(crate) pki: Option<profiles::Pki>,
    /// Connectors that may find work at their next poll (something was queued, a lease ran
    /// out, a backoff ended, or their last download was not empty). Only these make the
    /// clock stop at their poll instants; the others' idle polls are coalesced.
    pub(crate) hungry: BTreeSet<String>,
    /// SCEP targets by name: the profile and the challenge the service issued for it.
    pub(crate) scep_targets: BTreeMap<String, ScepTarget>,
    /// Each connector's SCEP endpoint, set up at its first `scep_enroll`.
    scep_endpoints: BTreeMap<String, std::sync::Arc<connector_sim::scep::ScepEndpoint>>,
    /// Where SCEP spools and connector log files live (removed with the world).
    spool_root: Option<tempfile::TempDir>,
    /// How the connectors reach the service.
    transport: Transport,
    /// Catalog events of connectors already uninstalled.
    pub(crate) emitted: BTreeSet<(u16, String, String, String)>,
    /// The channel files of the connectors so far, with `run --keep-logs` (`None` without).
    pub(crate) kept_logs: Option<super::kept::KeptLogs>,
}

/// The catalog events a connector wrote: (id, name, channel, task category).
pub(crate) fn emitted(connector: &Connector) -> BTreeSet<(u16, String, String, String)> {
    let log = connector.log();
    let distinct: BTreeSet<(u16, &str, &str, &str)> = log
        .records()
        .iter()
        .filter(|r| r.event_id != 0)
        .map(|r| (r.event_id, r.name, r.channel.as_str(), r.task))
        .collect();
    distinct
        .into_iter()
        .map(|(id, name, channel, task)| (id, name.to_owned(), channel.to_owned(), task.to_owned()))
        .collect()
}

/// How the simulated connectors of a run reach the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// They call the service's router in the process: the same middleware, extractors and
    /// handlers, and the same bytes, without TCP and HTTP/1.1 encoding (the fastest).
    #[default]
    InProcess,
    /// They send HTTP/1.1 to the service's loopback port, as a connector process does.
    Http,
}

/// A device targeted by a SCEP profile: the profile, the challenge's id and blob, its key pair.
pub(crate) struct ScepTarget {
    pub(crate) spec: profiles::ScepTargetSpec,
    pub(crate) id: String,
    pub(crate) challenge: String,
    pub(crate) key: openssl::pkey::PKey<openssl::pkey::Private>,
    /// The transaction of the device's last `scep_enroll` (what a `scep_poll` asks about).
    pub(crate) last_transaction: Option<String>,
}

/// A 40-hex-digit thumbprint, fixed by the seed and the tenant's name.
fn import_key_thumbprint(seed: u64, tenant: &str) -> String {
    let mut state = seed ^ 0x5EED_1234_ABCD_0001;
    for b in tenant.bytes() {
        state = (state ^ b as u64).wrapping_mul(0x100_0000_01B3);
    }
    (0..5)
        .map(|i| format!("{:08x}", (state.rotate_left(i * 13) as u32)))
        .collect()
}

pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// What a scenario's PKI must hold: the most any of its steps needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PkiNeed {
    /// No PKI: no step queues requests, touches a CA or enrolls a device.
    None,
    /// The two CAs, a device key certificate, and each tenant's recrypt key.
    Cas,
    /// That and each tenant's PFX-import key (RSA-2048, slow to make): a `pkcs_import` is queued.
    ImportKeys,
}

/// What a world starts with.
pub(crate) struct Setup<'a> {
    /// The scenario's name (for the transcript).
    pub name: &'a str,
    pub start: DateTime<Utc>,
    pub tenants: &'a [TenantSpec],
    /// Installed at `start`.
    pub connectors: &'a [ConnectorSpec],
    pub pki: PkiNeed,
    /// Keep every connector's channel files for the outcome (`run --keep-logs`).
    pub keep_logs: bool,
    /// The shipped catalog the service evaluates against (`run --catalog`).
    pub catalog: CatalogChoice,
}

impl World {
    /// With `run --keep-logs`, moves `connector`'s channel files into the kept logs (when it is
    /// uninstalled, and at the end of the scenario).
    pub(crate) fn keep_log(&mut self, name: &str, connector: &Connector) -> anyhow::Result<()> {
        match &mut self.kept_logs {
            Some(kept) => super::kept::keep(kept, name, connector),
            None => Ok(()),
        }
    }

    pub(crate) async fn build(
        setup: Setup<'_>,
        seed: u64,
        transport: Transport,
    ) -> anyhow::Result<World> {
        let app = spawn_app_with_catalog(setup.start, seed, setup.catalog).await?;
        let mut world = World {
            app,
            seed,
            transport,
            tenants: BTreeMap::new(),
            connectors: BTreeMap::new(),
            tenant_of: BTreeMap::new(),
            installs: 0,
            transcript: vec![],
            pki: None,
            hungry: BTreeSet::new(),
            scep_targets: BTreeMap::new(),
            scep_endpoints: BTreeMap::new(),
            spool_root: None,
            emitted: BTreeSet::new(),
            kept_logs: setup.keep_logs.then(Default::default),
        };
        world.log(format!(
            "scenario `{}` seed {seed} starts at {}",
            setup.name,
            stamp(setup.start)
        ));
        for tenant in setup.tenants {
            let mut created = world
                .app
                .create_tenant(&tenant.name, Some(tenant.rollout_delay_days))
                .await?;
            // Every tenant has a PFX-import key; connectors hold it when they say `import_key = true`.
            let thumbprint = import_key_thumbprint(seed, &tenant.name);
            let body = wire::admin::SetImportKey {
                thumbprint: Some(thumbprint.clone()),
            };
            let answer = world
                .app
                .admin(
                    Method::PUT,
                    &format!("/admin/tenants/{}/import-key", created.id),
                    Some(&body),
                )
                .await?;
            anyhow::ensure!(
                answer.status == 200,
                "setting the import key of `{}` answered {}: {}",
                tenant.name,
                answer.status,
                answer.body
            );
            created.import_key_thumbprint = Some(thumbprint);
            world.log(format!(
                "tenant {} (rollout delay {} days)",
                tenant.name, tenant.rollout_delay_days
            ));
            world.tenants.insert(tenant.name.clone(), created);
        }
        if setup.pki > PkiNeed::None {
            let tenants: Vec<(String, String)> = world
                .tenants
                .iter()
                .map(|(name, t)| {
                    (
                        name.clone(),
                        t.import_key_thumbprint.clone().unwrap_or_default(),
                    )
                })
                .collect();
            world.pki = Some(
                profiles::Pki::new(
                    setup.start,
                    world.app.http.clone(),
                    &tenants,
                    setup.pki == PkiNeed::ImportKeys,
                )
                .await?,
            );
        }
        for connector in setup.connectors {
            world.install(connector).await.map_err(|e| {
                anyhow::anyhow!("installing connector `{}` at start: {e}", connector.name)
            })?;
        }
        Ok(world)
    }

    pub(crate) fn log(&mut self, line: String) {
        self.transcript
            .push(format!("[{}] {line}", stamp(self.app.now())));
    }

    pub(crate) fn tenant(&self, name: &str) -> Result<&wire::admin::Tenant, StepError> {
        self.tenants
            .get(name)
            .ok_or_else(|| StepError::Invalid(format!("unknown tenant `{name}`")))
    }

    pub(crate) fn connector(&self, name: &str) -> Result<&Connector, StepError> {
        self.connectors.get(name).ok_or_else(|| {
            StepError::Invalid(format!("connector `{name}` is not installed at this point"))
        })
    }

    pub(crate) fn connector_mut(&mut self, name: &str) -> Result<&mut Connector, StepError> {
        self.connectors.get_mut(name).ok_or_else(|| {
            StepError::Invalid(format!("connector `{name}` is not installed at this point"))
        })
    }

    pub(crate) fn connector_tenant(&self, name: &str) -> Result<&wire::admin::Tenant, StepError> {
        let tenant = self.tenant_of.get(name).ok_or_else(|| {
            StepError::Invalid(format!("connector `{name}` is not installed at this point"))
        })?;
        self.tenant(tenant)
    }

    pub(crate) async fn install(
        &mut self,
        spec: &ConnectorSpec,
    ) -> Result<(), connector_sim::ClientError> {
        let tenant = self.tenants.get(&spec.tenant).cloned().ok_or_else(|| {
            connector_sim::ClientError::Transport(format!("unknown tenant `{}`", spec.tenant))
        })?;
        self.installs += 1;
        let config = ConnectorConfig {
            name: spec.name.clone(),
            machine_name: spec.machine.clone(),
            display_name: spec.display_name.clone(),
            features: spec.features.iter().map(|&f| f.into()).collect(),
            version: spec.version.clone(),
            product: Some(spec.product.clone()),
            auto_update: spec.auto_update,
            co_installed: spec.co_installed.clone(),
            service_account: Some(spec.service_account.clone()),
            proxy: None,
            import_key_thumbprint: if spec.import_key {
                tenant.import_key_thumbprint.clone()
            } else {
                None
            },
            poll_interval: Duration::milliseconds(spec.poll_interval.millis.max(1000)),
            update_check_interval: Duration::milliseconds(
                spec.update_check_interval.millis.max(1000),
            ),
            health_interval: Duration::minutes(5),
            crash_after_download: spec.crash_after_download,
            seed: self
                .seed
                .wrapping_mul(0x100_0000_01B3)
                .wrapping_add(self.installs),
        };
        let client = match self.transport {
            Transport::InProcess => {
                ServiceClient::in_process(self.app.base_url.clone(), self.app.router.clone())
            }
            Transport::Http => ServiceClient::new(self.app.base_url.clone(), self.app.http.clone()),
        };
        let secret = tenant.enrollment_secret.clone().unwrap_or_default();
        let mut connector = Connector::install(config, client, &secret, self.app.now()).await?;
        if let Some(log) = &spec.log {
            let dir = self
                .scratch()
                .map_err(|e| connector_sim::ClientError::Transport(e.to_string()))?
                .join("logs")
                .join(&spec.name);
            connector.set_log_settings(connector_sim::events::LogSettings {
                dir: Some(dir),
                max_bytes: log.max_bytes,
                max_archives: log.archives,
                debug: log.debug,
            })?;
        }
        if let Some(pki) = &self.pki {
            connector.set_workbench(pki.workbench(&spec.tenant, spec.import_key));
        }
        self.hungry.insert(spec.name.clone());
        self.log(format!(
            "installed {} on {} ({}, {})",
            spec.name,
            spec.machine,
            spec.version,
            spec.feature_names().join("+")
        ));
        self.connectors.insert(spec.name.clone(), connector);
        self.tenant_of
            .insert(spec.name.clone(), spec.tenant.clone());
        Ok(())
    }

    /// Installs `count` copies (`name-1`… on `machine-1`…) or one; with `expect_error`, the
    /// install must be refused with that code and nothing is added.
    pub(crate) fn scratch(&mut self) -> anyhow::Result<std::path::PathBuf> {
        if self.spool_root.is_none() {
            self.spool_root = Some(tempfile::tempdir()?);
        }
        Ok(self
            .spool_root
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_default())
    }

    /// The connector's SCEP endpoint, set up on first use: an RA certificate from the embedded
    /// CA, the `IntuneDevice` template, a spool folder of its own.
    pub(crate) async fn scep_endpoint(
        &mut self,
        name: &str,
    ) -> Result<std::sync::Arc<connector_sim::scep::ScepEndpoint>, StepError> {
        use connector_sim::scep::{ScepEndpoint, ScepSettings};
        if let Some(endpoint) = self.scep_endpoints.get(name) {
            return Ok(endpoint.clone());
        }
        let pki = self
            .pki
            .as_ref()
            .ok_or_else(|| StepError::Harness(anyhow::anyhow!("the scenario has no PKI")))?;
        let cas = pki.cas.clone();
        let spool_dir = self.scratch()?.join(name);
        let ops = self.app.ops.clone();
        let identity = self.connector(name)?.scep_identity();
        let endpoint = ScepEndpoint::new(
            ScepSettings {
                ca: profiles::EMBEDDED_CA.to_owned(),
                template: "IntuneDevice".to_owned(),
                validity_days: 365,
                spool_dir,
            },
            identity,
            cas,
            std::sync::Arc::new(move || ops.now()),
        )
        .await
        .map_err(|e| StepError::Harness(anyhow::anyhow!("setting up the SCEP endpoint: {e}")))?;
        let endpoint = std::sync::Arc::new(endpoint);
        self.connector_mut(name)?
            .set_scep_endpoint(endpoint.clone());
        self.scep_endpoints
            .insert(name.to_owned(), endpoint.clone());
        Ok(endpoint)
    }

    /// A device enrolls through the connector's SCEP endpoint; what came of it must be `expect`.
    pub(crate) async fn drive_to(&mut self, target: DateTime<Utc>) -> Result<(), StepError> {
        let mut hops = 0usize;
        loop {
            let now = self.app.now();
            let due = service::schedule::next_due_after(&self.app.ops, now)
                .await
                .map_err(|e| StepError::Harness(e.into()))?;
            // A connector that may find work polls on its own grid, one instant at a time.
            let work_due = self
                .connectors
                .iter()
                .filter(|(name, c)| c.can_work() && self.hungry.contains(*name))
                .filter_map(|(_, c)| c.next_poll())
                .filter(|at| *at >= now && *at <= target)
                .min();
            if let Some(at) = work_due.filter(|w| due.is_none_or(|d| *w < d)) {
                self.poll_round(at, Round::Hungry).await?;
                self.app.set_clock(at)?;
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "more than {MAX_HOPS} clock stops while advancing to {}: the jobs never settle",
                        stamp(target)
                    )));
                }
                continue;
            }
            match due.filter(|d| *d <= target) {
                Some(boundary) => {
                    // Polls before the boundary still get the old answers.
                    self.poll_round(boundary - Duration::milliseconds(1), Round::All)
                        .await?;
                    self.app.set_clock(boundary)?;
                    // A lease ran out or a backoff ended: anyone may find work now.
                    self.hungry.extend(self.connectors.keys().cloned());
                    hops += 1;
                }
                None => {
                    self.poll_round(target, Round::All).await?;
                    self.app.set_clock(target)?;
                    break;
                }
            }
        }
        if hops > 0 {
            self.log(format!(
                "clock at {} after {hops} boundaries",
                stamp(target)
            ));
        }
        Ok(())
    }

    /// The connector's workers run once; a connector that found nothing stops being hungry.
    pub(crate) async fn work(&mut self, name: &str, at: DateTime<Utc>) {
        let Some(connector) = self.connectors.get_mut(name) else {
            return;
        };
        let summary = connector.work(at).await;
        // A download the service refused is tried again at the next poll.
        if summary.leased == 0 && summary.call_errors == 0 {
            self.hungry.remove(name);
        } else {
            self.log(format!(
                "{name} handled {} request(s): {} succeeded, {} failed, {} to retry",
                summary.leased, summary.succeeded, summary.failed, summary.retried
            ));
        }
        // Once the tenant's queue is empty, none of its connectors can find work until
        // something is queued, a lease runs out or a backoff ends (each makes them hungry
        // again): their polls until then are idle, and coalesced.
        let Some(tenant) = self.tenant_of.get(name).cloned() else {
            return;
        };
        let Ok(tenant_id) = self.tenant(&tenant).map(|t| t.id.clone()) else {
            return;
        };
        let tenant_id = service::domain::TenantId::from(tenant_id);
        match self.app.ops.jobs().has_queued(&tenant_id).await {
            Ok(false) => {
                let before = self.hungry.len();
                let tenant_of = &self.tenant_of;
                self.hungry
                    .retain(|other| tenant_of.get(other) != Some(&tenant));
                if self.hungry.len() < before {
                    self.log(format!(
                        "{tenant}'s queue is empty: its connectors stop looking for work"
                    ));
                }
            }
            Ok(true) => {}
            Err(e) => self.log(format!("could not look at {tenant}'s queue: {e}")),
        }
    }

    /// Each running connector with a poll due by `limit` polls once, at its last grid instant
    /// up to `limit`, in time order (the clock moves to each instant in turn). In a
    /// [`Round::Hungry`] round only the connectors that may find work poll: for the others the
    /// poll would be idle, and it is coalesced into their next poll (which reports them active
    /// since before, so the service sees them present throughout).
    async fn poll_round(&mut self, limit: DateTime<Utc>, round: Round) -> Result<(), StepError> {
        let mut points: Vec<(DateTime<Utc>, String)> = self
            .connectors
            .iter()
            .filter(|(name, _)| round == Round::All || self.hungry.contains(*name))
            .filter_map(|(name, c)| c.poll_point(limit).map(|p| (p, name.clone())))
            .collect();
        points.sort();
        for (point, name) in points {
            // A connector that stopped being hungry in this round (its tenant's queue ran dry)
            // has an idle poll here, coalesced like the others'.
            if round == Round::Hungry && !self.hungry.contains(&name) {
                continue;
            }
            let at = point.max(self.app.now());
            self.app.set_clock(at)?;
            if let Some(connector) = self.connectors.get_mut(&name) {
                if let Err(e) = connector.poll(at).await {
                    self.log(format!("{name} poll failed: {e}"));
                }
            }
            if self.hungry.contains(&name) {
                self.work(&name, at).await;
            }
        }
        Ok(())
    }
}
