//! The world a scenario runs in: its service, its connectors and PKI, and the virtual clock that
//! moves through them (the runner's module doc says how).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use reqwest::Method;

use crate::harness::{spawn_app, TestApp};
use crate::spec::{Action, ConnectorSpec, Scenario, Step};

use super::{expect, profiles};

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
    Mismatch {
        message: String,
        expected: Option<String>,
        actual: Option<String>,
    },
    Invalid(String),
    NotSupported(&'static str),
    Harness(anyhow::Error),
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> Self {
        StepError::Harness(e)
    }
}

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

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) seed: u64,
    pub(crate) tenants: BTreeMap<String, wire::admin::Tenant>,
    pub(crate) connectors: BTreeMap<String, Connector>,
    /// Connector name → tenant name.
    pub(crate) tenant_of: BTreeMap<String, String>,
    pub(crate) installs: u64,
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
    pub(crate) scep_endpoints: BTreeMap<String, std::sync::Arc<connector_sim::scep::ScepEndpoint>>,
    /// Where SCEP spools and connector log files live (removed with the world).
    pub(crate) spool_root: Option<tempfile::TempDir>,
    /// How the connectors reach the service.
    pub(crate) transport: Transport,
    /// Catalog events of connectors already uninstalled.
    pub(crate) emitted: BTreeSet<(u16, String, String, String)>,
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
    spec: crate::spec::ScepTargetSpec,
    id: String,
    challenge: String,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    /// The transaction of the device's last `scep_enroll` (what a `scep_poll` asks about).
    last_transaction: Option<String>,
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

impl World {
    pub(crate) async fn build(
        scenario: &Scenario,
        seed: u64,
        transport: Transport,
    ) -> anyhow::Result<World> {
        let app = spawn_app(scenario.start, seed).await?;
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
        };
        world.log(format!(
            "scenario `{}` seed {seed} starts at {}",
            scenario.name,
            stamp(scenario.start)
        ));
        for tenant in &scenario.tenants {
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
        let needs_pki = scenario.steps.iter().any(|s| {
            matches!(
                s.action,
                Action::Enqueue(_) | Action::SetCa(_) | Action::Crash(_) | Action::ScepEnroll(_)
            )
        });
        if needs_pki {
            let import_keys = scenario
                .steps
                .iter()
                .any(|s| matches!(&s.action, Action::Enqueue(e) if e.kind == "pkcs_import"));
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
                    scenario.start,
                    world.app.http.clone(),
                    &tenants,
                    import_keys,
                )
                .await?,
            );
        }
        for connector in &scenario.connectors {
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
            features: spec.features.clone(),
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
            spec.features.join("+")
        ));
        self.connectors.insert(spec.name.clone(), connector);
        self.tenant_of
            .insert(spec.name.clone(), spec.tenant.clone());
        Ok(())
    }

    /// Installs `count` copies (`name-1`… on `machine-1`…) or one; with `expect_error`, the
    /// install must be refused with that code and nothing is added.
    pub(crate) async fn install_many(
        &mut self,
        base: &ConnectorSpec,
        count: Option<u32>,
        expect_error: Option<&str>,
    ) -> Result<String, StepError> {
        let specs: Vec<ConnectorSpec> = match count {
            None => vec![base.clone()],
            Some(n) => (1..=n)
                .map(|i| ConnectorSpec {
                    name: format!("{}-{i}", base.name),
                    machine: format!("{}-{i}", base.machine),
                    display_name: format!("{}-{i}", base.display_name),
                    ..base.clone()
                })
                .collect(),
        };
        for spec in &specs {
            match (self.install(spec).await, expect_error) {
                (Ok(()), None) => {}
                (Ok(()), Some(code)) => {
                    return Err(mismatch(
                        format!("installing `{}` was expected to be refused", spec.name),
                        code.to_owned(),
                        "installed (201)",
                    ))
                }
                (Err(e), Some(code)) if e.code() == Some(code) => {
                    self.log(format!("install of {} refused as expected: {e}", spec.name));
                }
                (Err(e), Some(code)) => {
                    return Err(mismatch(
                        format!("installing `{}` was refused differently", spec.name),
                        code.to_owned(),
                        e.to_string(),
                    ))
                }
                (Err(e), None) => {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "installing `{}` failed: {e}",
                        spec.name
                    )))
                }
            }
        }
        Ok(match (count, expect_error) {
            (_, Some(code)) => format!("{} refused with {code}", base.name),
            (Some(n), None) => {
                format!("{n} connectors {}-1…{}-{n} installed", base.name, base.name)
            }
            (None, None) => format!("{} installed", base.name),
        })
    }

    pub(crate) async fn reconfigure(
        &mut self,
        name: &str,
        change: wire::connector::ReconfigureRequest,
        expect_error: Option<&str>,
    ) -> Result<String, StepError> {
        let now = self.app.now();
        let outcome = self.connector_mut(name)?.reconfigure(&change, now).await;
        match (outcome, expect_error) {
            (Ok(view), None) => Ok(format!(
                "{name} reconfigured: features {}",
                view.features.join("+")
            )),
            (Ok(_), Some(code)) => Err(mismatch(
                format!("reconfiguring `{name}` was expected to be refused"),
                code.to_owned(),
                "accepted (200)",
            )),
            (Err(e), Some(code)) if e.code() == Some(code) => {
                Ok(format!("{name} reconfigure refused as expected: {e}"))
            }
            (Err(e), Some(code)) => Err(mismatch(
                format!("reconfiguring `{name}` was refused differently"),
                code.to_owned(),
                e.to_string(),
            )),
            (Err(e), None) => Err(StepError::Harness(anyhow::anyhow!(
                "reconfiguring `{name}` failed: {e}"
            ))),
        }
    }

    /// Enqueues `count` jobs with the profile's payloads, in batches of 1,000. `pkcs_import`
    /// jobs first upload their user PFX through Graph, as the PowerShell module does.
    /// The operator targets a device with a SCEP profile; the challenge is kept by name.
    pub(crate) async fn scep_target(
        &mut self,
        spec: &crate::spec::ScepTargetSpec,
    ) -> Result<String, StepError> {
        let tenant = self.tenant(&spec.tenant)?.id.clone();
        let body = wire::scep::CreateScepChallenge {
            device_id: spec.name.clone(),
            user_id: None,
            subject: spec.subject.clone(),
            subject_alternative_names: spec
                .subject_alternative_names
                .iter()
                .map(|(kind, value)| wire::scep::SanSpec {
                    kind: kind.clone(),
                    value: value.clone(),
                })
                .collect(),
            key_usage: spec.key_usage.clone(),
            key_size: spec.key_size,
            extended_key_usage: spec.extended_key_usage.clone(),
            validity_minutes: Some(spec.validity_minutes),
        };
        let answer = self
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{tenant}/scep/challenges"),
                Some(&body),
            )
            .await?;
        if answer.status != 201 {
            return Err(StepError::Invalid(format!(
                "scep_target `{}` was refused ({}): {}",
                spec.name, answer.status, answer.body
            )));
        }
        let id = answer.body["id"].as_str().unwrap_or_default().to_owned();
        let challenge = answer.body["challenge"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expires = answer.body["expiresDateTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The device's key pair, made once (RSA key generation is slow).
        let key = connector_sim::pki::KeyPool::new()
            .generate(if spec.key_size == 2048 {
                connector_sim::pki::KeyAlgorithm::Rsa2048
            } else {
                connector_sim::pki::KeyAlgorithm::P256
            })
            .map_err(anyhow::Error::from)?;
        self.scep_targets.insert(
            spec.name.clone(),
            ScepTarget {
                spec: spec.clone(),
                id,
                challenge,
                key,
                last_transaction: None,
            },
        );
        Ok(format!(
            "{} targeted by a SCEP profile; challenge expires {expires}",
            spec.name
        ))
    }

    /// The world's scratch folder (made on first use, removed with the world).
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
        let registry = self.app.registry.clone();
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
            std::sync::Arc::new(move || registry.now()),
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
    pub(crate) async fn scep_enroll(
        &mut self,
        spec: &crate::spec::ScepEnrollSpec,
    ) -> Result<String, StepError> {
        use connector_sim::scep::message::MessageType;
        let now = self.app.now();
        let target = self
            .scep_targets
            .get(&spec.target)
            .ok_or_else(|| StepError::Invalid(format!("no scep_target `{}`", spec.target)))?;
        let challenge = spec.challenge.as_deref().unwrap_or(&target.challenge);
        let csr =
            profiles::scep_request(&target.spec, &target.key, challenge, spec.spoil.as_deref())?;
        let transaction_id = format!("{}-{}", spec.target, now.timestamp_millis());
        if let Some(target) = self.scep_targets.get_mut(&spec.target) {
            target.last_transaction = Some(transaction_id.clone());
        }
        let (actual, detail) = self
            .scep_message(
                &spec.connector,
                &spec.target,
                MessageType::PkcsReq,
                &csr,
                &transaction_id,
            )
            .await?;
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP enrollment of `{}` through {} came out otherwise: {detail}",
                    spec.target, spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} enrolled through {}: {detail}",
            spec.target, spec.connector
        ))
    }

    /// The device polls (CertPoll) under its last enrollment's transaction.
    pub(crate) async fn scep_poll(
        &mut self,
        spec: &crate::spec::ScepPollSpec,
    ) -> Result<String, StepError> {
        use connector_sim::scep::message::MessageType;
        let transaction_id = self
            .scep_targets
            .get(&spec.target)
            .and_then(|t| t.last_transaction.clone())
            .ok_or_else(|| {
                StepError::Invalid(format!(
                    "scep_poll: `{}` has not enrolled yet (no scep_enroll before this step)",
                    spec.target
                ))
            })?;
        // messageData of a CertPoll: IssuerAndSubject; the endpoint goes by the transaction.
        let subject = openssl::x509::X509Name::builder()
            .and_then(|mut b| {
                b.append_entry_by_text("CN", &spec.target)?;
                Ok(b.build())
            })
            .and_then(|n| n.to_der())
            .map_err(anyhow::Error::from)?;
        let (actual, detail) = self
            .scep_message(
                &spec.connector,
                &spec.target,
                MessageType::CertPoll,
                &subject,
                &transaction_id,
            )
            .await?;
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP poll of `{}` through {} came out otherwise: {detail}",
                    spec.target, spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} polled {}: {detail}",
            spec.target, spec.connector
        ))
    }

    /// Sends one device pkiMessage (RSA-2048 signer, AES-256-CBC, SHA-256) to the connector's
    /// endpoint; returns what came of it (`issued`, `pending`, `failed` or the refusing code) and
    /// a detail, after checking that the CertRep's pkiStatus says the same.
    pub(crate) async fn scep_message(
        &mut self,
        connector: &str,
        target_name: &str,
        message_type: connector_sim::scep::message::MessageType,
        content: &[u8],
        transaction_id: &str,
    ) -> Result<(String, String), StepError> {
        use connector_sim::scep::message::{self, ClientRequest, ContentCipher, Digest};
        use connector_sim::scep::Outcome as Enrolled;
        let endpoint = self.scep_endpoint(connector).await?;
        let target = self
            .scep_targets
            .get(target_name)
            .ok_or_else(|| StepError::Invalid(format!("no scep_target `{target_name}`")))?;
        if target.spec.key_size != 2048 {
            return Err(StepError::Invalid(format!(
                "SCEP devices sign with RSA; scep_target `{target_name}` has key_size {}",
                target.spec.key_size
            )));
        }
        let now = self.app.now();
        let signer = connector_sim::pki::self_signed(&target.key, "SCEP SIGNER", now)
            .map_err(anyhow::Error::from)?;
        let body = ClientRequest {
            message_type,
            content,
            transaction_id,
            signer: &signer,
            signer_key: &target.key,
            ra: endpoint.ra_certificate(),
            cipher: ContentCipher::Aes256Cbc,
            digest: Digest::Sha256,
        }
        .build()
        .map_err(|e| StepError::Harness(anyhow::anyhow!("building the pkiMessage: {e}")))?;
        let reply = endpoint.pki_operation(&body).await.map_err(|e| {
            StepError::Harness(anyhow::anyhow!(
                "the SCEP endpoint refused the message: {e}"
            ))
        })?;
        let rep = message::read_cert_rep(&reply)
            .map_err(|e| StepError::Harness(anyhow::anyhow!("the CertRep does not read: {e}")))?;
        let (actual, detail) = match endpoint.last_outcome() {
            Some(Enrolled::Issued { serial }) => {
                ("issued".to_owned(), format!("certificate {serial}"))
            }
            Some(Enrolled::Refused { code }) => (code.clone(), format!("refused: {code}")),
            Some(Enrolled::Failed { reason }) => ("failed".to_owned(), reason),
            Some(Enrolled::Pending { reason }) => ("pending".to_owned(), reason),
            None => ("nothing".to_owned(), "no outcome".to_owned()),
        };
        let status = match actual.as_str() {
            "issued" => "0",
            "pending" => "3",
            _ => "2",
        };
        if rep.status != status {
            return Err(mismatch(
                format!("the CertRep's pkiStatus for `{target_name}` ({detail})"),
                status,
                rep.status,
            ));
        }
        Ok((actual, detail))
    }

    /// Puts a file where the connector's SCEP spool folder was: later writes fail (4010). Only an
    /// empty spool can be blocked, so nothing waiting is lost.
    pub(crate) async fn block_spool(&mut self, name: &str) -> Result<String, StepError> {
        let endpoint = self.scep_endpoint(name).await?;
        let dir = endpoint.spool().dir().to_owned();
        if !endpoint.spool().is_empty() {
            return Err(StepError::Invalid(format!(
                "block_spool: {name}'s spool still holds notifications; block it when it is empty"
            )));
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(anyhow::Error::from)?;
        }
        std::fs::write(&dir, b"not a folder: block_spool").map_err(anyhow::Error::from)?;
        Ok(format!("{name}'s SCEP spool cannot be written"))
    }

    /// Adds a fault rule on the service (`target = "service"`: every connector-facing route).
    pub(crate) async fn fault(
        &mut self,
        spec: &crate::spec::FaultSpec,
    ) -> Result<String, StepError> {
        let route = if spec.target == "service" {
            "*"
        } else {
            spec.target.as_str()
        };
        let now = self.app.now();
        let millis = |d: &crate::spec::DurationSpec| {
            let end = service::domain::IsoDuration {
                months: d.months,
                millis: d.millis,
            }
            .add_to(now);
            Some((end - now).num_milliseconds())
        };
        let duration_seconds = match &spec.duration {
            Some(d) => Some(
                millis(d).filter(|ms| *ms >= 1000).ok_or_else(|| {
                    StepError::Invalid("fault: duration must be at least one second".into())
                })? / 1000,
            ),
            None => None,
        };
        let delay_ms = match &spec.delay {
            Some(d) => Some(
                millis(d)
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| StepError::Invalid("fault: delay must be positive".into()))?,
            ),
            None => None,
        };
        let tenant_id = match &spec.tenant {
            Some(name) => Some(self.tenant(name)?.id.clone()),
            None => None,
        };
        let connector_id = match &spec.connector {
            Some(name) => Some(self.connector(name)?.id().to_owned()),
            None => None,
        };
        let body = serde_json::json!({
            "route": route,
            "tenantId": tenant_id,
            "connectorId": connector_id,
            "drop": (spec.kind.as_deref() == Some("drop")).then_some(true),
            "status": spec.status,
            "delayMs": delay_ms,
            "count": spec.count,
            "durationSeconds": duration_seconds,
            "probability": spec.probability,
        });
        let answer = self
            .app
            .admin(Method::POST, "/admin/faults", Some(&body))
            .await?;
        if answer.status != 201 {
            return Err(StepError::Invalid(format!(
                "fault: the service refused the rule ({}): {}",
                answer.status, answer.body
            )));
        }
        Ok(format!("fault on `{route}`: {body}"))
    }

    /// The connector's SCEP module sends a device's CSR for validation; the answer's code (or the
    /// refusal's error code) must be the one expected.
    pub(crate) async fn scep_validate(
        &mut self,
        spec: &crate::spec::ScepValidateSpec,
    ) -> Result<String, StepError> {
        use connector_sim::pki;
        let der = match &spec.target {
            None => {
                let key = pki::KeyPool::new()
                    .generate(pki::KeyAlgorithm::P256)
                    .map_err(anyhow::Error::from)?;
                pki::certificate_request_with_challenge(
                    &key,
                    "CN=scep-device-0001",
                    spec.challenge.as_deref(),
                    vec![],
                )
                .map_err(anyhow::Error::from)?
            }
            Some(name) => {
                let target = self
                    .scep_targets
                    .get(name)
                    .ok_or_else(|| StepError::Invalid(format!("no scep_target `{name}`")))?;
                profiles::scep_request(
                    &target.spec,
                    &target.key,
                    &target.challenge,
                    spec.spoil.as_deref(),
                )?
            }
        };
        let transaction_id = format!("scep-{}", spec.connector);
        let connector = self.connector_mut(&spec.connector)?;
        let actual = match connector.scep_validate(&transaction_id, &der).await {
            Ok(answer) => answer.code,
            Err(connector_sim::ClientError::Http { code, .. }) if !code.is_empty() => code,
            Err(e) => return Err(StepError::Harness(anyhow::anyhow!("validateRequest: {e}"))),
        };
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP validation by {} answered otherwise",
                    spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} validated a SCEP request: {actual}",
            spec.connector
        ))
    }

    pub(crate) async fn enqueue(
        &mut self,
        spec: &crate::spec::EnqueueSpec,
    ) -> Result<String, StepError> {
        let profile = spec.profile.clone().unwrap_or_else(|| "default".to_owned());
        let tenant = self.tenant(&spec.tenant)?.clone();
        let now = self.app.now();
        let token = if spec.kind == "pkcs_import" {
            Some(self.app.graph_token(&tenant).await?)
        } else {
            None
        };
        let pki = self
            .pki
            .as_ref()
            .ok_or_else(|| StepError::Harness(anyhow::anyhow!("the scenario has no PKI")))?;
        let mut jobs = Vec::new();
        for index in 1..=spec.count {
            let mut pfx_id = None;
            if let Some(token) = &token {
                let body = pki.user_pfx_upload(&spec.tenant, &profile, index, now)?;
                let answer = self
                    .app
                    .request(
                        Method::POST,
                        "/beta/deviceManagement/userPfxCertificates",
                        Some(token),
                        Some(&body),
                    )
                    .await?;
                if answer.status != 201 {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "uploading the user PFX answered {}: {}",
                        answer.status,
                        answer.body
                    )));
                }
                pfx_id = answer.body["id"].as_str().map(str::to_owned);
            }
            jobs.push(wire::jobs::EnqueueJob {
                kind: spec.kind.clone(),
                payload: pki.payload(
                    &spec.tenant,
                    &spec.kind,
                    &profile,
                    index,
                    now,
                    pfx_id.as_deref(),
                )?,
            });
        }
        #[derive(serde::Serialize)]
        struct Batch<'a> {
            jobs: &'a [wire::jobs::EnqueueJob],
        }
        for batch in jobs.chunks(1000) {
            let _: serde::de::IgnoredAny = self
                .app
                .call_as(
                    Method::POST,
                    &format!("/admin/tenants/{}/jobs", tenant.id),
                    crate::harness::OPERATOR_TOKEN,
                    &Batch { jobs: batch },
                    201,
                )
                .await
                .map_err(|e| StepError::Harness(e.context("enqueueing")))?;
        }
        self.hungry.extend(self.connectors.keys().cloned());
        Ok(format!(
            "{} {} jobs ({profile}) enqueued for {}",
            spec.count, spec.kind, spec.tenant
        ))
    }

    /// Moves the virtual clock to `target`, firing what is due on the way (see the module doc).
    pub(crate) async fn drive_to(&mut self, target: DateTime<Utc>) -> Result<(), StepError> {
        let mut hops = 0usize;
        loop {
            let now = self.app.now();
            let due = service::schedule::next_due_after(&self.app.registry, now)
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
        match self.app.registry.has_queued_jobs(&tenant_id).await {
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

    pub(crate) async fn step(&mut self, step: &Step) -> Result<String, StepError> {
        match &step.action {
            Action::Advance(duration) => {
                let target = service::domain::IsoDuration {
                    months: duration.months,
                    millis: duration.millis,
                }
                .add_to(self.app.now());
                self.drive_to(target).await?;
                Ok(format!("{} → {}", duration.text, stamp(target)))
            }
            Action::At(target) => {
                let now = self.app.now();
                if *target < now {
                    return Err(StepError::Invalid(format!(
                        "`at` {} is earlier than the clock ({})",
                        stamp(*target),
                        stamp(now)
                    )));
                }
                self.drive_to(*target).await?;
                Ok(stamp(*target))
            }
            Action::Install(install) => {
                self.install_many(
                    &install.connector,
                    install.count,
                    install.expect_error.as_deref(),
                )
                .await
            }
            Action::Reconfigure(r) => {
                let tenant_key = self
                    .tenant_of
                    .get(&r.connector)
                    .and_then(|t| self.tenants.get(t))
                    .and_then(|t| t.import_key_thumbprint.clone());
                let change = wire::connector::ReconfigureRequest {
                    display_name: r.display_name.clone(),
                    features: r.features.clone(),
                    service_account: r.service_account.clone(),
                    proxy: None,
                    import_key_thumbprint: r.import_key.map(|holds| {
                        if holds {
                            tenant_key.unwrap_or_default()
                        } else {
                            String::new()
                        }
                    }),
                    auto_update: r.auto_update,
                    co_installed_products: r.co_installed.clone(),
                };
                let answer = self
                    .reconfigure(&r.connector, change, r.expect_error.as_deref())
                    .await;
                if let (Some(holds), Some(pki)) = (r.import_key, &self.pki) {
                    let key = if holds {
                        self.tenant_of
                            .get(&r.connector)
                            .and_then(|t| pki.import_key(t))
                    } else {
                        None
                    };
                    if let Some(bench) = self
                        .connectors
                        .get_mut(&r.connector)
                        .and_then(|c| c.workbench_mut())
                    {
                        bench.import_key = key;
                    }
                }
                self.hungry.insert(r.connector.clone());
                answer
            }
            Action::Uninstall(name) => {
                let connector = self.connectors.remove(name).ok_or_else(|| {
                    StepError::Invalid(format!("connector `{name}` is not installed"))
                })?;
                self.emitted.extend(emitted(&connector));
                connector.uninstall().await.map_err(|e| {
                    StepError::Harness(anyhow::anyhow!("uninstalling `{name}`: {e}"))
                })?;
                Ok(format!("{name} uninstalled"))
            }
            Action::Stop(name) => {
                let now = self.app.now();
                self.connector_mut(name)?.stop(now);
                Ok(format!("{name} stopped"))
            }
            Action::StartConnector(name) => {
                let now = self.app.now();
                let connector = self.connector_mut(name)?;
                connector.start(now);
                let polled = connector.poll(now).await;
                self.hungry.insert(name.clone());
                self.work(name, now).await;
                Ok(match polled {
                    Ok(()) => format!("{name} started"),
                    Err(e) => format!("{name} started; first poll failed: {e}"),
                })
            }
            Action::PublishRelease(release) => {
                let body = wire::admin::PublishRelease {
                    version: release.version.clone(),
                    released_date_time: stamp(release.date),
                };
                let answer = self
                    .app
                    .admin(Method::POST, "/admin/releases", Some(&body))
                    .await?;
                if answer.status != 201 {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "publishing {} answered {}: {}",
                        release.version,
                        answer.status,
                        answer.body
                    )));
                }
                Ok(format!(
                    "{} released {}",
                    release.version,
                    stamp(release.date)
                ))
            }
            Action::ExpectStatus(expectation) => expect::status(self, expectation).await,
            Action::ExpectGraph(expectation) => expect::graph(self, expectation).await,
            Action::ExpectHttp(expectation) => expect::http(self, expectation).await,
            Action::ExpectHistory(expectation) => expect::history(self, expectation).await,
            Action::Enqueue(enqueue) => self.enqueue(enqueue).await,
            Action::Fault(spec) => self.fault(spec).await,
            Action::ScepEnroll(spec) => self.scep_enroll(spec).await,
            Action::ScepPoll(spec) => self.scep_poll(spec).await,
            Action::BlockSpool(name) => self.block_spool(name).await,
            Action::ExpectLog(expectation) => expect::log_files(self, expectation),
            Action::ExpectSpool(expectation) => {
                let endpoint = self.scep_endpoint(&expectation.connector).await?;
                let count = endpoint.spool().len();
                if count != expectation.count as usize {
                    return Err(mismatch(
                        format!("notifications in {}'s SCEP spool", expectation.connector),
                        expectation.count.to_string(),
                        count.to_string(),
                    ));
                }
                Ok(format!(
                    "{} notification(s) wait in {}'s spool",
                    count, expectation.connector
                ))
            }
            Action::ScepValidate(spec) => self.scep_validate(spec).await,
            Action::ScepTarget(spec) => self.scep_target(spec).await,
            Action::ScepUntarget(name) => {
                let target = self
                    .scep_targets
                    .get(name)
                    .ok_or_else(|| StepError::Invalid(format!("no scep_target `{name}`")))?;
                let id = target.id.clone();
                let tenant = self.tenant(&target.spec.tenant)?.id.clone();
                let answer = self
                    .app
                    .admin::<()>(
                        Method::DELETE,
                        &format!("/admin/tenants/{tenant}/scep/challenges/{id}"),
                        None,
                    )
                    .await?;
                if answer.status != 204 {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "un-targeting `{name}` answered {}: {}",
                        answer.status,
                        answer.body
                    )));
                }
                Ok(format!("the SCEP profile no longer targets `{name}`"))
            }
            Action::ExpectJobs(expectation) => expect::jobs(self, expectation).await,
            Action::ExpectEvents(expectation) => expect::events(self, expectation),
            Action::Crash(name) => {
                let now = self.app.now();
                let abandoned = self.connector_mut(name)?.crash(now).await;
                self.hungry.remove(name);
                Ok(format!(
                    "{name} crashed after downloading {abandoned} request(s)"
                ))
            }
            Action::SetCa(set) => {
                let ca = self
                    .pki
                    .as_ref()
                    .and_then(|p| p.ca(&set.ca))
                    .ok_or_else(|| StepError::Invalid(format!("no CA `{}`", set.ca)))?;
                let mut said = Vec::new();
                {
                    let mut ca = ca.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(available) = set.available {
                        ca.available = available;
                        said.push(if available { "up" } else { "down" }.to_owned());
                    }
                    for account in &set.deny_enroll {
                        ca.set_enroll_permission(account, false);
                        said.push(format!("{account} may not enroll"));
                    }
                    for account in &set.allow_enroll {
                        ca.set_enroll_permission(account, true);
                        said.push(format!("{account} may enroll"));
                    }
                }
                if set.available == Some(true) || !set.allow_enroll.is_empty() {
                    self.hungry.extend(self.connectors.keys().cloned());
                }
                Ok(format!("CA `{}`: {}", set.ca, said.join(", ")))
            }
        }
    }
}
