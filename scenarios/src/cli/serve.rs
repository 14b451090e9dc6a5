//! `intune-mock serve`: the mock service on a listener, until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL: `sqlite:PATH`, `sqlite::memory:`, or `postgres://USER:PASSWORD@HOST/DATABASE`
    /// (several replicas may share one PostgreSQL database). Default: an SQLite file in the data dir.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Folder for the default SQLite file and the local CA of --tls (tls/). Default: $XDG_DATA_HOME/intune-mock or ~/.local/share/intune-mock.
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
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("intune-mock")
}

pub(super) async fn serve(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
            format!("sqlite://{}", data_dir.join("intune-mock.db").display())
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
    let (app, https) = super::tls::enable(&args.tls, app, &data_dir).await?;
    let mut banner = format!(
        "intune-mock listening on {}\n{https}database: {}\n",
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
    app.run_until_stopped(super::shutdown_signal())
        .await
        .context("the server failed")?;
    Ok(())
}
