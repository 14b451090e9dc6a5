//! `intune-mock connector`: one simulated connector against a service, on the service's clock
//! (virtual or real, read from its answers), as a process a person watches and restarts (docs/behaviour.md, "The simulated connector").
//!
//! It says who it is on standard output once, then writes one line per event on standard error;
//! `--log-dir` keeps the two channels as files, `--state-dir` lets a restart go on as the same
//! connector. Every folder is tried before the connector registers, so bad input changes
//! nothing at the service.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use connector_sim::events::{EventLog, LogSettings, Record};
use connector_sim::state::StateDir;
use connector_sim::{Connector, ConnectorConfig};
use wire::connector::Feature;

mod crl;
mod file;
mod scep;

/// The embedded CA's name in the CA directory (`host\Name`) and its common name.
const CA: (&str, &str) = ("ca01.contoso.com\\Contoso Issuing CA", "Contoso Issuing CA");

#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, env = "INTUNE_MOCK_ENROLLMENT_SECRET")]
    pub enrollment_secret: String,
    /// The connector's settings as TOML (machine, display_name, features, version, product,
    /// auto_update, co_installed, service_account, import_key_thumbprint, poll_seconds, proxy,
    /// proxy_user, and [log] with dir, debug, max_bytes, archives). Flags given on the command
    /// line override the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The machine's name (required here or in --config).
    #[arg(long)]
    pub machine: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Comma-separated: pkcs, pkcs_import, scep, revocation [default: pkcs].
    #[arg(long, value_delimiter = ',', value_parser = feature)]
    pub features: Option<Vec<Feature>>,
    /// [default: 6.2510.3.2002]
    #[arg(long)]
    pub version: Option<String>,
    /// Seconds between polls [default: 30].
    #[arg(long)]
    pub poll_seconds: Option<u32>,
    /// Reach the service through this HTTP proxy (`http://host:port`).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Basic-authentication user for the proxy.
    #[arg(long)]
    pub proxy_user: Option<String>,
    #[arg(long, env = "INTUNE_MOCK_PROXY_PASSWORD", hide_env_values = true)]
    pub proxy_password: Option<String>,
    /// Do not print the event lines on standard error (the registration line still goes to
    /// standard output).
    #[arg(long)]
    pub quiet: bool,
    /// Keep the Admin and Operational channels as JSON-lines files in DIR (Admin.jsonl,
    /// Operational.jsonl; 50 MB each, then archived, the newest 10 archives kept).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Add Debug records (one per call to the service) to the log.
    #[arg(long)]
    pub log_debug: bool,
    /// Keep the connector's id, credential, CA key and version in DIR: started again with the
    /// same DIR (even after a crash), it goes on as the same connector instead of registering.
    /// The CA's CRL is written there as crl.pem after each revocation (else in --log-dir;
    /// without either folder, no CRL is written).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve the NDES-like SCEP endpoint on ADDR (`127.0.0.1:0` picks a port; needs the scep
    /// feature). Its URL is printed, and the CA certificate is written as ca.pem in the state
    /// folder, else the log folder (one of them is needed).
    #[arg(long, value_name = "ADDR")]
    pub scep_listen: Option<std::net::SocketAddr>,
}

pub(super) async fn connector(args: ConnectorArgs) -> anyhow::Result<()> {
    // Listening first: a SIGTERM that comes while the connector registers still stops it well.
    let stop = crate::signals::stop_signal();
    let file = match &args.config {
        Some(path) => file::read(path)?,
        None => file::ConnectorFile::default(),
    };
    let config = config(&args, &file)?;
    let log = event_log(&args, &file)?;
    let log_dir = log.dir().map(std::path::Path::to_path_buf);
    let state = match &args.state_dir {
        Some(dir) => Some(StateDir::open(dir)?),
        None => None,
    };
    let saved = match &state {
        Some(state) => state.load()?,
        None => None,
    };
    let features = config
        .features
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let proxy = config
        .proxy
        .clone()
        .map(|url| connector_sim::ProxySettings {
            url,
            username: args.proxy_user.clone().or(file.proxy_user.clone()),
            password: args.proxy_password.clone(),
        });
    let http = connector_sim::http_client(proxy.as_ref())?;
    let client = connector_sim::ServiceClient::new(args.url.clone(), http);
    // Bound before registering: a port in use changes nothing at the service.
    let scep = match args.scep_listen {
        Some(addr) => Some(scep::Listening::bind(
            addr,
            &config,
            state.as_ref().map(|s| s.path()),
            log.dir(),
        )?),
        None => None,
    };
    // The service's clock, virtual or real: what the connector registers and logs by.
    let now = client
        .service_time()
        .await
        .with_context(|| format!("cannot reach the service at {}", args.url))?;
    let (mut connector, view, resumed) = match saved {
        Some(registered) => {
            let id = registered.connector_id.clone();
            let (connector, view) = Connector::resume(config, client, registered, now, log)
                .await
                .with_context(|| format!("cannot start again as connector {id}"))?;
            (connector, view, true)
        }
        None => {
            let mut connector =
                Connector::install_with_log(config, client, &args.enrollment_secret, now, log)
                    .await
                    .context("cannot register the connector")?;
            let view = connector
                .view()
                .await
                .context("cannot read the connector back from the service")?;
            (connector, view, false)
        }
    };
    if let Some(state) = &state {
        state.save(&connector.registered())?;
    }
    let mut line = format!(
        "registered as {} in tenant {} (features {features}, version {})",
        connector.id(),
        view.tenant_id,
        connector.version()
    );
    if let (true, Some(state)) = (resumed, &state) {
        line.push_str(&format!(
            "; started again from {}",
            state.registration_file().display()
        ));
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    // The CA and the SCEP endpoint issue on the wall clock: a SCEP client and `openssl verify`
    // check what they get against this machine's clock, whatever the service's says.
    let (cas, ca) = certificate_authorities(state.as_ref(), connector_sim::clock::wall())?;
    let mut crl = crl::CrlFile::new(state.as_ref().map(StateDir::path), log_dir.as_deref(), ca);
    if let Some(scep) = scep {
        let spool = state.as_ref().map(StateDir::spool_dir);
        let line = scep.serve(&mut connector, cas.clone(), spool).await?;
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    connector.set_workbench(connector_sim::Workbench::new(cas));
    let stop = async move {
        stop.await;
    };
    connector_sim::run_realtime(&mut connector, stop, |connector| {
        save(state.as_ref(), connector);
        if let Some(crl) = &mut crl {
            crl.refresh();
        }
    })
    .await;
    save(state.as_ref(), &connector);
    if let Some(crl) = &mut crl {
        crl.refresh();
    }
    Ok(())
}

/// The connector's log: files in `--log-dir` (tried now, before anything registers), and an
/// echo of each record on standard error unless `--quiet`.
fn event_log(args: &ConnectorArgs, file: &file::ConnectorFile) -> anyhow::Result<EventLog> {
    let defaults = LogSettings::default();
    let log = file.log.as_ref();
    let settings = LogSettings {
        dir: args.log_dir.clone().or(log.and_then(|l| l.dir.clone())),
        debug: args.log_debug || log.and_then(|l| l.debug).unwrap_or(false),
        max_bytes: log.and_then(|l| l.max_bytes).unwrap_or(defaults.max_bytes),
        max_archives: log
            .and_then(|l| l.archives)
            .unwrap_or(defaults.max_archives),
    };
    let mut log = EventLog::new(settings, "")?;
    if !args.quiet {
        log.set_echo(Arc::new(|record: &Record| {
            // A closed standard error is no reason to stop the connector.
            let _ = writeln!(std::io::stderr(), "{}", record.line());
        }));
    }
    Ok(log)
}

/// A `--features` item, by the service's own names (an unknown one is refused before anything
/// is sent, with the list of the four).
fn feature(name: &str) -> Result<Feature, String> {
    service::domain::Feature::parse(name)
        .map(Into::into)
        .map_err(|e| e.to_string())
}

/// The connector's settings: a flag, else the file's value, else the default.
fn config(args: &ConnectorArgs, file: &file::ConnectorFile) -> anyhow::Result<ConnectorConfig> {
    let machine = args
        .machine
        .clone()
        .or(file.machine.clone())
        .context("the machine's name is missing: give --machine or `machine` in --config")?;
    let poll_seconds = args.poll_seconds.or(file.poll_seconds).unwrap_or(30);
    Ok(ConnectorConfig {
        name: machine.clone(),
        display_name: args
            .display_name
            .clone()
            .or(file.display_name.clone())
            .unwrap_or_else(|| machine.clone()),
        machine_name: machine,
        features: args
            .features
            .clone()
            .or(file.features.clone())
            .unwrap_or_else(|| vec![Feature::Pkcs]),
        version: args
            .version
            .clone()
            .or(file.version.clone())
            .unwrap_or_else(|| "6.2510.3.2002".to_owned()),
        product: file.product.clone(),
        auto_update: file.auto_update.unwrap_or(true),
        co_installed: file.co_installed.clone().unwrap_or_default(),
        service_account: file.service_account.clone(),
        import_key_thumbprint: file.import_key_thumbprint.clone(),
        proxy: args.proxy.clone().or(file.proxy.clone()),
        poll_interval: chrono::Duration::seconds(i64::from(poll_seconds.max(1))),
        update_check_interval: chrono::Duration::hours(1),
        health_interval: chrono::Duration::minutes(5),
        crash_after_download: false,
        seed: u64::from(std::process::id()),
    })
}

/// The machine's CA: an embedded Enterprise-CA-like issuer under the default profile's name,
/// with the key kept in the state folder when there is one.
fn certificate_authorities(
    state: Option<&StateDir>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(connector_sim::ca::CaDirectory, connector_sim::ca::SharedCa)> {
    let (name, common_name) = CA;
    let ca = match state {
        Some(state) => connector_sim::pki::CertificateAuthority::with_key(
            name,
            common_name,
            state.ca_key()?,
            now,
        )?,
        None => connector_sim::pki::CertificateAuthority::new(name, common_name, now)?,
    };
    let cas = connector_sim::ca::CaDirectory::new();
    let shared = cas.add_embedded(ca);
    Ok((cas, shared))
}

/// Saves what a restart needs (the version changes when the connector updates itself); a
/// failure is reported and the connector goes on.
fn save(state: Option<&StateDir>, connector: &Connector) {
    if let Some(state) = state {
        if let Err(e) = state.save(&connector.registered()) {
            tracing::warn!(error = %e, "cannot save the connector's state");
        }
    }
}
