//! Builds a running service from `Settings`: store (migrations run), clock, ids, router, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{ClockSetting, Settings};
use crate::http::{router, AppState};
use crate::ids::IdSource;
use crate::ops::Ops;
use crate::store::{PgStore, SqliteStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("unsupported database URL `{0}`: use sqlite:PATH, sqlite::memory:, or postgres://USER:PASSWORD@HOST/DATABASE")]
    UnsupportedDatabase(String),
    /// `url` has its password masked (see `redact_database_url`).
    #[error("cannot open the database at `{url}`")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
    #[error("cannot start the virtual clock from the database: {0}")]
    Clock(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built service: the listener is bound (port 0 resolved), migrations have run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    /// The HTTPS listener, when [`Application::with_tls`] added one.
    tls: Option<(crate::tls::TlsListener, SocketAddr)>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = open_store(&settings.database_url).await?;
        let clock = match settings.clock {
            ClockSetting::Real => Clock::real(),
            ClockSetting::Virtual { start } => Clock::virtual_at(start),
        };
        let ids = match settings.seed {
            Some(seed) => IdSource::seeded(seed),
            None => IdSource::random(),
        };
        let ops = Arc::new(Ops::new(store, Arc::new(clock), Arc::new(ids)));
        ops.time()
            .start()
            .await
            .map_err(|e| StartupError::Clock(e.to_string()))?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        let state = AppState {
            ops,
            operator_token: settings.operator_token.into(),
            faults: Arc::new(crate::faults::Faults::new(
                settings.seed.unwrap_or_else(rand::random),
            )),
            journal: Arc::new(crate::journal::Journal::new(
                crate::journal::DEFAULT_CAPACITY,
            )),
            limit: settings
                .connector_rate_limit
                .map(|n| Arc::new(crate::limit::ConnectorLimit::new(n))),
            metrics: Arc::new(crate::metrics::Metrics::new()),
        };
        Ok(Application {
            listener,
            local_addr,
            state,
            tls: None,
        })
    }

    /// Adds an HTTPS listener on `listen` (port 0 picks a free port) with `acceptor`'s
    /// certificate, next to the HTTP one; both serve the same router.
    pub async fn with_tls(
        mut self,
        listen: SocketAddr,
        acceptor: crate::tls::TlsAcceptor,
    ) -> Result<Self, StartupError> {
        let bind = |source| StartupError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(bind)?;
        let local_addr = listener.local_addr().map_err(bind)?;
        let listener = crate::tls::TlsListener::new(listener, acceptor).map_err(bind)?;
        self.tls = Some((listener, local_addr));
        Ok(self)
    }

    /// The HTTPS listener's address, if there is one.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(_, addr)| *addr)
    }

    /// `https://{addr}` of the HTTPS listener, if there is one.
    pub fn tls_base_url(&self) -> Option<String> {
        self.tls_local_addr().map(|addr| format!("https://{addr}"))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The service's operations, to call in this process (the scenario harness does).
    pub fn ops(&self) -> Arc<Ops> {
        self.state.ops.clone()
    }

    /// The service's router over this application's state, to call in this process (the
    /// scenario harness's connectors do): what it answers is what the listener answers.
    pub fn router(&self) -> axum::Router {
        router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = router(self.state);
        match self.tls {
            None => {
                axum::serve(self.listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some((tls, _)) => {
                crate::tls::listener::serve_both(self.listener, tls, router, shutdown).await
            }
        }
    }
}

/// Opens the store a database URL names: `sqlite:` (a file, or `sqlite::memory:`) or
/// `postgres://` / `postgresql://`. Migrations have run when it returns.
async fn open_store(url: &str) -> Result<Arc<dyn Store>, StartupError> {
    let failed = |source| StartupError::Store {
        url: redact_database_url(url),
        source,
    };
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url).await.map_err(failed)?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::open(url).await.map_err(failed)?;
        Ok(Arc::new(store))
    } else {
        Err(StartupError::UnsupportedDatabase(redact_database_url(url)))
    }
}

/// `url` with the password of its user info (`scheme://user:password@host…`) replaced by `***`,
/// for logs and error messages. A URL without a password comes back unchanged.
pub fn redact_database_url(url: &str) -> String {
    wire::url::redact_password(url)
}

#[cfg(test)]
mod tests {
    use super::redact_database_url;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redact_database_url("postgres://intune:s3cret@127.0.0.1:5432/intune_mock"),
            "postgres://intune:***@127.0.0.1:5432/intune_mock"
        );
        assert_eq!(
            redact_database_url("postgresql://u:p@ss:w@db.example/x?sslmode=disable"),
            "postgresql://u:***@db.example/x?sslmode=disable"
        );
        assert_eq!(
            redact_database_url("postgres://intune@localhost/intune_mock"),
            "postgres://intune@localhost/intune_mock"
        );
        assert_eq!(
            redact_database_url("sqlite:///var/lib/intune-mock/db.sqlite"),
            "sqlite:///var/lib/intune-mock/db.sqlite"
        );
        assert_eq!(redact_database_url("sqlite::memory:"), "sqlite::memory:");
    }
}
