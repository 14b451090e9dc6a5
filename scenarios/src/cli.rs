//! The subcommands of `intune-mock`: `run`, `serve`, `connector`, `status`, `completions`.
//!
//! Errors are printed once, with their cause chain, and mapped to documented exit codes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

pub use crate::run::{exit_code, RunArgs};

#[derive(Debug, Parser)]
#[command(
    name = "intune-mock",
    version,
    about = "A local, deterministic stand-in for the Intune cloud side of the Certificate Connector for Microsoft Intune."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files (default: the bundled conformance suite) and report a verdict.
    #[command(
        after_help = "Examples:\n  intune-mock run\n  intune-mock run scenarios/conformance/lifecycle-docs-example.toml --seed 7\n  intune-mock run my-scenarios/ --jobs 2 --junit report.xml --json report.json\n\nExit codes: 0 all passed, 1 an expectation failed, 2 an invalid scenario file, 3 the harness failed."
    )]
    Run(RunArgs),
    /// Run the mock Intune service.
    #[command(
        after_help = "Examples:\n  intune-mock serve\n  intune-mock serve --clock virtual --start 2022-05-01T00:00:00Z --listen 127.0.0.1:0"
    )]
    Serve(ServeArgs),
    /// Run one simulated connector against a service, on the wall clock.
    #[command(
        after_help = "Example:\n  intune-mock connector --url http://127.0.0.1:8080 --enrollment-secret enr_… --machine SRV01 --features pkcs,scep"
    )]
    Connector(ConnectorArgs),
    /// Print a tenant's connectors and their status.
    #[command(
        after_help = "Examples:\n  intune-mock status --url http://127.0.0.1:8080 --tenant <id> --client-id <id> --client-secret <secret>\n  intune-mock status --url http://127.0.0.1:8080 --tenant <id> --client-id <id> --client-secret <secret> --json\n\nThe table is coloured on a terminal unless NO_COLOR is set. --json prints {\"format\": \"intune-mock-status/1\", \"tenantId\", \"connectors\": [...]}, each connector as GET /admin/tenants/{id}/connectors lists it."
    )]
    Status(StatusArgs),
    /// Print a shell completion script to standard output.
    #[command(
        after_help = "Examples:\n  intune-mock completions bash > ~/.local/share/bash-completion/completions/intune-mock\n  intune-mock completions zsh > ~/.zfunc/_intune-mock\n  intune-mock completions fish > ~/.config/fish/completions/intune-mock.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL: `sqlite:PATH`, `sqlite::memory:`, or `postgres://USER:PASSWORD@HOST/DATABASE`
    /// (several replicas may share one PostgreSQL database). Default: an SQLite file in the data dir.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Folder for the default SQLite file. Default: $XDG_DATA_HOME/intune-mock or ~/.local/share/intune-mock.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `real` (wall clock) or `virtual` (frozen until set or advanced through /admin/clock).
    #[arg(long, value_parser = ["real", "virtual"], default_value = "real")]
    pub clock: String,
    /// Start of the virtual clock (RFC 3339). Default: now.
    #[arg(long)]
    pub start: Option<DateTime<Utc>>,
    /// Operator token for /admin routes. Default: generated and printed.
    #[arg(long, env = "INTUNE_MOCK_OPERATOR_TOKEN")]
    pub operator_token: Option<String>,
    /// Requests a second each connector may make (bursts of twice that); past it, 429 with
    /// Retry-After. 0: no limit.
    #[arg(long, default_value_t = 100)]
    pub connector_rate_limit: u32,
}

#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, env = "INTUNE_MOCK_ENROLLMENT_SECRET")]
    pub enrollment_secret: String,
    #[arg(long)]
    pub machine: String,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Comma-separated: pkcs, pkcs_import, scep, revocation.
    #[arg(long, value_delimiter = ',', default_value = "pkcs", value_parser = feature)]
    pub features: Vec<wire::connector::Feature>,
    #[arg(long, default_value = "6.2510.3.2002")]
    pub version: String,
    /// Seconds between polls.
    #[arg(long, default_value_t = 30)]
    pub poll_seconds: u32,
    /// Reach the service through this HTTP proxy (`http://host:port`).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Basic-authentication user for the proxy.
    #[arg(long, requires = "proxy")]
    pub proxy_user: Option<String>,
    #[arg(
        long,
        env = "INTUNE_MOCK_PROXY_PASSWORD",
        requires = "proxy_user",
        hide_env_values = true
    )]
    pub proxy_password: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub client_id: String,
    #[arg(long, env = "INTUNE_MOCK_CLIENT_SECRET")]
    pub client_secret: String,
    /// Print a JSON document (format `intune-mock-status/1`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = crate::output::Stdout::new();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "intune-mock", &mut script);
        // Written whole: a reader that stops early (`| head`) is not an error.
        return match out.write_all(&script).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::from(exit_code::PASSED),
            Err(e) => {
                let error = anyhow::Error::new(e).context("cannot write the completion script");
                eprint!("{}", crate::output::error_report(&error));
                ExitCode::from(exit_code::HARNESS_FAILED)
            }
        };
    }
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let error = anyhow::Error::new(e).context("cannot start the async runtime");
            eprint!("{}", crate::output::error_report(&error));
            return ExitCode::from(exit_code::HARNESS_FAILED);
        }
    };
    let colour = crate::output::stdout_colour();
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => crate::run::run(args, &mut out, colour).await,
            Command::Serve(args) => serve(args, &mut out).await.map(|_| exit_code::PASSED),
            Command::Connector(args) => connector(args).await.map(|_| exit_code::PASSED),
            Command::Status(args) => status(args, &mut out, colour)
                .await
                .map(|_| exit_code::PASSED),
            Command::Completions { .. } => Ok(exit_code::PASSED),
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // The one place an error is printed: nothing below logs it as well.
            eprint!("{}", crate::output::error_report(&e));
            ExitCode::from(exit_code::HARNESS_FAILED)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("INTUNE_MOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("intune-mock")
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            let dir = args.data_dir.unwrap_or_else(default_data_dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
            format!("sqlite://{}", dir.join("intune-mock.db").display())
        }
    };
    // A virtual clock starts at the moment the service does, unless told otherwise.
    let start = args.start.unwrap_or_else(crate::clock::wall);
    let clock = match args.clock.as_str() {
        "virtual" => service::config::ClockSetting::Virtual { start },
        _ => service::config::ClockSetting::Real,
    };
    let generated = args.operator_token.is_none();
    let operator_token = args
        .operator_token
        .unwrap_or_else(|| service::ids::IdSource::random().secret("op"));
    let settings = service::config::Settings {
        listen: args.listen,
        database_url: database_url.clone(),
        clock,
        operator_token: operator_token.clone(),
        seed: None,
        connector_rate_limit: std::num::NonZeroU32::new(args.connector_rate_limit),
    };
    let app = service::startup::Application::build(settings).await?;
    let mut banner = format!(
        "intune-mock listening on {}\ndatabase: {}\n",
        app.base_url(),
        service::startup::redact_database_url(&database_url)
    );
    if generated {
        banner.push_str(&format!("operator token: {operator_token}\n"));
    }
    // A reader that has gone (`| head -1`) does not stop the service.
    out.write_all(banner.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    app.run_until_stopped(shutdown_signal())
        .await
        .context("the server failed")?;
    Ok(())
}

async fn connector(args: ConnectorArgs) -> anyhow::Result<()> {
    let config = connector_sim::ConnectorConfig {
        name: args.machine.clone(),
        display_name: args.display_name.unwrap_or_else(|| args.machine.clone()),
        machine_name: args.machine,
        features: args.features,
        version: args.version,
        product: None,
        auto_update: true,
        co_installed: vec![],
        service_account: None,
        import_key_thumbprint: None,
        proxy: args.proxy.clone(),
        poll_interval: chrono::Duration::seconds(args.poll_seconds.max(1) as i64),
        update_check_interval: chrono::Duration::hours(1),
        health_interval: chrono::Duration::minutes(5),
        crash_after_download: false,
        seed: std::process::id() as u64,
    };
    // The machine's CA: an embedded Enterprise-CA-like issuer under the default profile's name.
    // A real-time connector's CA starts now, by the connector's clock.
    let now = connector_sim::clock::wall();
    let cas = connector_sim::ca::CaDirectory::new();
    cas.add_embedded(connector_sim::pki::CertificateAuthority::new(
        "ca01.contoso.com\\Contoso Issuing CA",
        "Contoso Issuing CA",
        now,
    )?);
    let workbench = connector_sim::Workbench::new(cas);
    let proxy = args.proxy.map(|url| connector_sim::ProxySettings {
        url,
        username: args.proxy_user,
        password: args.proxy_password,
    });
    let http = connector_sim::http_client(proxy.as_ref())?;
    let client = connector_sim::ServiceClient::new(args.url, http);
    connector_sim::run_realtime(
        config,
        client,
        &args.enrollment_secret,
        Some(workbench),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// `intune-mock status --json`: a tenant's connectors as `GET /admin/tenants/{id}/connectors`
/// lists them (each with its status), under a format name that changes only when a field's
/// meaning does.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport<'a> {
    /// Always `intune-mock-status/1`.
    pub format: &'static str,
    pub tenant_id: &'a str,
    pub connectors: &'a [wire::admin::ConnectorView],
}

async fn status(args: StatusArgs, out: &mut dyn Write, colour: bool) -> anyhow::Result<()> {
    let http = crate::harness::http_client();
    let base = args.url.trim_end_matches('/');
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", args.client_id.as_str()),
        ("client_secret", args.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let token_url = format!("{base}/{}/oauth2/v2.0/token", args.tenant);
    let response = http
        .post(&token_url)
        .form(&form)
        .send()
        .await
        .with_context(|| format!("cannot reach the service at {base}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("the token endpoint refused the client credentials ({status}): {text}");
    }
    let token: wire::token::TokenResponse = response
        .json()
        .await
        .context("the token answer does not parse")?;
    let response = http
        .get(format!("{base}/admin/tenants/{}/connectors", args.tenant))
        .bearer_auth(&token.access_token)
        .send()
        .await
        .with_context(|| format!("cannot reach the service at {base}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("listing connectors failed ({status}): {text}");
    }
    let list: wire::admin::Collection<wire::admin::ConnectorView> = response
        .json()
        .await
        .context("the connector list does not parse")?;
    let text = if args.json {
        let report = StatusReport {
            format: "intune-mock-status/1",
            tenant_id: &args.tenant,
            connectors: &list.value,
        };
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        status_table(&list.value, colour)
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(())
}

/// A `--features` item, by the service's own names (an unknown one is refused before anything
/// is sent, with the list of the four).
fn feature(name: &str) -> Result<wire::connector::Feature, String> {
    service::domain::Feature::parse(name)
        .map(Into::into)
        .map_err(|e| e.to_string())
}

fn day(at: Option<DateTime<Utc>>) -> String {
    at.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// An aligned table of connectors; `colour`: the header bold, the status green, yellow or red.
pub fn status_table(connectors: &[wire::admin::ConnectorView], colour: bool) -> String {
    use crate::output::{Table, BAD, GOOD, PLAIN, WARNING};
    let mut table = Table::new(&[
        "NAME",
        "MACHINE",
        "VERSION",
        "FEATURES",
        "STATE",
        "STATUS",
        "REASONS",
        "SUPPORT ENDS",
        "FUNCTION ENDS",
    ]);
    for c in connectors {
        let reasons: Vec<&str> = c.status.reasons.iter().map(|r| r.code.as_str()).collect();
        let status = format!("{:?}", c.status.status).to_lowercase();
        let style = match c.status.status {
            wire::admin::Status::Healthy => GOOD,
            wire::admin::Status::Warning => WARNING,
            wire::admin::Status::Error => BAD,
        };
        table.styled_row(vec![
            (c.display_name.clone(), PLAIN),
            (c.machine_name.clone(), PLAIN),
            (c.version.clone(), PLAIN),
            (
                c.features
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                PLAIN,
            ),
            (c.state.clone(), PLAIN),
            (status, style),
            (
                if reasons.is_empty() {
                    "-".to_owned()
                } else {
                    reasons.join(",")
                },
                PLAIN,
            ),
            (day(c.status.support_ends_date_time), PLAIN),
            (day(c.status.function_ends_date_time), PLAIN),
        ]);
    }
    table.render(colour)
}
