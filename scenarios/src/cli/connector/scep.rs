//! `intune-mock connector --scep-listen ADDR`: the connector's NDES-like SCEP endpoint on a
//! port of its own, for SCEP clients (docs/behaviour.md, "The simulated connector"). The port is
//! bound before the connector registers; the CA certificate is written as `ca.pem` where a
//! client can read it, so `openssl verify -CAfile` can check what it was issued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use connector_sim::ca::CaDirectory;
use connector_sim::scep::{ScepEndpoint, ScepSettings};
use connector_sim::{Connector, ConnectorConfig};
use wire::connector::Feature;

/// A bound port, and where the CA certificate goes.
pub struct Listening {
    listener: std::net::TcpListener,
    ca_file: PathBuf,
    /// Which folder that is, for the printed line.
    ca_folder: &'static str,
}

impl Listening {
    /// Checks what the endpoint needs and binds `addr`; nothing is registered yet.
    pub fn bind(
        addr: std::net::SocketAddr,
        config: &ConnectorConfig,
        state_dir: Option<&Path>,
        log_dir: Option<&Path>,
    ) -> anyhow::Result<Listening> {
        anyhow::ensure!(
            config.features.contains(&Feature::Scep),
            "--scep-listen needs the scep feature (--features …,scep)"
        );
        let (dir, ca_folder) = match (state_dir, log_dir) {
            (Some(dir), _) => (dir, "state folder"),
            (None, Some(dir)) => (dir, "log folder"),
            (None, None) => anyhow::bail!(
                "--scep-listen needs --state-dir or --log-dir: the CA certificate is written there"
            ),
        };
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} for the SCEP endpoint"))?;
        listener
            .set_nonblocking(true)
            .with_context(|| format!("cannot listen on {addr} for the SCEP endpoint"))?;
        Ok(Listening {
            listener,
            ca_file: dir.join("ca.pem"),
            ca_folder,
        })
    }

    /// Sets the endpoint up for `connector` (RA certificates from the embedded CA, the
    /// `IntuneDevice` template, `spool` for undelivered notifications), writes `ca.pem`, and
    /// serves it. Returns the line to print.
    pub async fn serve(
        self,
        connector: &mut Connector,
        cas: CaDirectory,
        spool: Option<PathBuf>,
    ) -> anyhow::Result<String> {
        let spool_dir = spool.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("intune-mock-scep-spool-{}", std::process::id()))
        });
        let endpoint = ScepEndpoint::new(
            ScepSettings {
                ca: super::CA.0.to_owned(),
                template: "IntuneDevice".to_owned(),
                validity_days: 365,
                spool_dir,
            },
            connector.scep_identity(),
            cas,
            Arc::new(connector_sim::clock::wall),
        )
        .await
        .context("cannot set up the SCEP endpoint")?;
        let pem = endpoint.ca_certificate().to_pem()?;
        // Written whole (a temporary file, then a rename) and readable by any user: it is public.
        let temporary = self.ca_file.with_extension("pem.tmp");
        std::fs::write(&temporary, &pem)
            .and_then(|()| std::fs::rename(&temporary, &self.ca_file))
            .with_context(|| format!("cannot write {}", self.ca_file.display()))?;
        let endpoint = Arc::new(endpoint);
        connector.set_scep_endpoint(endpoint.clone());
        let bound = self.listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let app = connector_sim::scep::http::router(endpoint);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the SCEP endpoint stopped");
            }
        });
        Ok(format!(
            "SCEP endpoint at http://{bound}/certsrv/mscep/mscep.dll; CA certificate in {} (the {})",
            self.ca_file.display(),
            self.ca_folder
        ))
    }
}
