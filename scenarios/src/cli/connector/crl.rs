//! The CA's CRL as `crl.pem` beside `ca.pem` (the state folder, else the log folder), refreshed
//! after each round of work that revoked something, so `openssl crl -in crl.pem -noout -text`
//! lists what the connector revoked (docs/behaviour.md, "The simulated connector"). Without
//! either folder nothing is written.

use std::path::{Path, PathBuf};

use connector_sim::ca::SharedCa;

/// Where the CRL goes and what was written there last.
pub struct CrlFile {
    path: PathBuf,
    ca: SharedCa,
    written: Option<Vec<u8>>,
}

impl CrlFile {
    /// `None` without a folder to write in.
    pub fn new(state_dir: Option<&Path>, log_dir: Option<&Path>, ca: SharedCa) -> Option<Self> {
        let dir = state_dir.or(log_dir)?;
        Some(CrlFile {
            path: dir.join("crl.pem"),
            ca,
            written: None,
        })
    }

    /// Publishes the CA's revocations since the last look and writes the CRL when it changed
    /// (whole: a temporary file, then a rename). A failure is reported and the connector goes
    /// on.
    pub fn refresh(&mut self) {
        let pem = {
            let mut ca = self.ca.lock().unwrap_or_else(|p| p.into_inner());
            match ca.crl() {
                Ok(Some(crl)) => crl.to_pem(),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot publish the CA's CRL");
                    return;
                }
            }
        };
        let pem = match pem {
            Ok(pem) => pem,
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the CA's CRL as PEM");
                return;
            }
        };
        if self.written.as_ref() == Some(&pem) {
            return;
        }
        let temporary = self.path.with_extension("pem.tmp");
        match std::fs::write(&temporary, &pem)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
        {
            Ok(()) => self.written = Some(pem),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot write the CRL")
            }
        }
    }
}
