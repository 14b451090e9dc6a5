//! `serve`'s HTTPS options: `--tls` (a local CA kept in the data dir's `tls/` folder, whose
//! `ca.pem` clients trust), `--tls-cert`/`--tls-key` (the user's own), `--tls-listen`,
//! `--tls-name`. HTTP on `--listen` stays; HTTPS listens beside it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use service::startup::Application;
use service::tls::{local_ca, ServerName, TlsAcceptor};

#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Also serve HTTPS (on --tls-listen), with a certificate of a local CA made once in the
    /// data dir's tls/ folder; prints the CA file to trust.
    #[arg(long)]
    pub tls: bool,
    /// Address of the HTTPS listener (with --tls or --tls-cert); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first) instead of
    /// the local CA's.
    #[arg(long, requires = "tls_key", conflicts_with = "tls")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Another DNS name or IP address for the local CA's server certificate (repeatable); it
    /// always has localhost, 127.0.0.1, ::1 and the listen addresses.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    pub tls_names: Vec<String>,
}

/// `app` with its HTTPS listener when the options ask for one, and the banner lines that say
/// where it listens and which CA file to trust.
pub(super) async fn enable(
    args: &TlsArgs,
    app: Application,
    data_dir: &Path,
) -> anyhow::Result<(Application, String)> {
    let (acceptor, ca_file) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (TlsAcceptor::from_pem_files(cert, key)?, None),
        _ if args.tls => {
            let mut names = Vec::new();
            for name in &args.tls_names {
                names
                    .push(ServerName::parse(name).map_err(|e| anyhow::anyhow!("--tls-name: {e}"))?);
            }
            for ip in [app.local_addr().ip(), args.tls_listen.ip()] {
                if !ip.is_unspecified() {
                    names.push(ServerName::Ip(ip));
                }
            }
            // Clients check the certificates against their own clock: the real one.
            let now = service::clock::Clock::real().now();
            let dir = data_dir.join("tls");
            let local = local_ca::ensure(&dir, &names, now)
                .with_context(|| format!("cannot set up the local CA in {}", dir.display()))?;
            (local.acceptor()?, Some(local.ca_file))
        }
        _ => return Ok((app, String::new())),
    };
    let app = app.with_tls(args.tls_listen, acceptor).await?;
    let mut banner = format!(
        "intune-mock listening on {}\n",
        app.tls_base_url().unwrap_or_default()
    );
    if let Some(ca_file) = ca_file {
        banner.push_str(&format!("CA file: {}\n", ca_file.display()));
    }
    Ok((app, banner))
}
