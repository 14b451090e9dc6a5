//! `intune-mock serve`: the mock service on a listener, until SIGTERM or SIGINT (Ctrl-C); then it
//! stops accepting, answers what is in flight within the grace period, closes the store and exits 0
//! (docs/behaviour.md, "Errors and limits").

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Start of the virtual clock (RFC 3339), at most 9999-12-31T23:59:59Z. Default: now, or,
    /// on a database that holds a virtual clock, the stored instant. Given on such a database, it
    /// must be the stored instant (a restart never moves the clock in silence): add
    /// --reset-clock to move the stored clock to it.
    #[arg(long)]
    pub start: Option<DateTime<Utc>>,
    /// Move the database's virtual clock to --start (default: now) whatever it holds; back in
    /// time only on a database without tenants.
    #[arg(long)]
    pub reset_clock: bool,
    /// Operator token for /admin routes. Default: generated and printed.
    #[arg(long, env = "INTUNE_MOCK_OPERATOR_TOKEN")]
    pub operator_token: Option<String>,
    /// Requests a second each connector may make (bursts of twice that); past it, 429 with
    /// Retry-After. 0: no limit.
    #[arg(long, default_value_t = 100)]
    pub connector_rate_limit: u32,
    /// Connections served at once; past it, new connections wait to be accepted while the open
    /// ones are served. The soft file limit is raised to fit (or this lowered, with a warning).
    #[arg(long, default_value_t = listen::Limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's head (line and headers).
    #[arg(long, default_value_t = listen::Limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    pub header_read_timeout: u64,
    /// Seconds a client may take to send a request's body, from the end of its head.
    #[arg(long, default_value_t = listen::Limits::DEFAULT_BODY_READ_TIMEOUT.as_secs())]
    pub body_read_timeout: u64,
    /// Seconds a kept-alive connection may stay silent between requests.
    #[arg(long, default_value_t = listen::Limits::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,
    /// Seconds a SIGTERM or SIGINT waits for the requests in flight before it cuts them.
    #[arg(long, default_value_t = listen::Limits::DEFAULT_GRACE.as_secs())]
    pub shutdown_grace: u64,
    /// The release catalog the rules evaluate against: docs (only what the product documentation
    /// lists) or extended (with the public release history).
    #[arg(long, default_value = "extended", value_parser = super::lifecycle::parse_catalog)]
    pub catalog: service::domain::catalog::CatalogChoice,
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

impl ServeArgs {
    fn limits(&self) -> anyhow::Result<listen::Limits> {
        for (flag, value) in [
            ("--max-connections", self.max_connections as u64),
            ("--header-read-timeout", self.header_read_timeout),
            ("--body-read-timeout", self.body_read_timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            anyhow::ensure!(value > 0, "{flag} must be at least 1");
        }
        Ok(listen::Limits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            body_read_timeout: Duration::from_secs(self.body_read_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            grace: Duration::from_secs(self.shutdown_grace),
        })
    }
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("intune-mock")
}

/// Serves until a stop signal; answers the exit code: 0 after a graceful stop,
/// [`DATABASE_IN_USE`](crate::run::exit_code::DATABASE_IN_USE) when another process holds the
/// SQLite file.
pub(super) async fn serve(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let limits = args.limits()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
            format!("sqlite://{}", data_dir.join("intune-mock.db").display())
        }
    };
    let stored_clock = match (args.reset_clock, args.start) {
        (true, _) => service::config::StoredClock::ResetToStart,
        (false, Some(_)) => service::config::StoredClock::MatchStart,
        (false, None) => service::config::StoredClock::Continue,
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
        stored_clock,
        limits,
        catalog: args.catalog,
    };
    let app = match service::startup::Application::build(settings).await {
        Ok(app) => app,
        Err(e @ service::startup::StartupError::DatabaseInUse { .. }) => {
            eprint!("{}", crate::output::error_report(&anyhow::Error::new(e)));
            return Ok(crate::run::exit_code::DATABASE_IN_USE);
        }
        Err(e) => return Err(e.into()),
    };
    let (app, https) = super::tls::enable(&args.tls, app, &data_dir).await?;
    let mut banner = format!(
        "intune-mock listening on {}\n{https}database: {}\n",
        app.base_url(),
        service::startup::redact_database_url(&database_url)
    );
    if generated {
        banner.push_str(&format!("operator token: {operator_token}\n"));
    }
    // Installed before the banner: a SIGTERM right after it is a graceful stop too.
    let stop = crate::signals::stop_signal();
    // A reader that has gone (`| head -1`) does not stop the service.
    out.write_all(banner.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    app.run_until_stopped(async move {
        let signal = stop.await;
        tracing::info!(%signal, "stopping");
    })
    .await
    .context("the server failed")?;
    Ok(crate::run::exit_code::PASSED)
}
