//! Builds a running service from `Settings`: store (migrations run), clock, ids, router, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{ClockSetting, Settings};
use crate::http::{router, AppState};
use crate::ids::IdSource;
use crate::registry::Registry;
use crate::store::{SqliteStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("unsupported database URL `{0}`: this build supports sqlite: URLs (PostgreSQL support is planned)")]
    UnsupportedDatabase(String),
    #[error("cannot open the database at `{url}`")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
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
        let registry = Arc::new(Registry::new(store, Arc::new(clock), Arc::new(ids)));
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
            registry,
            operator_token: settings.operator_token.into(),
            faults: Arc::new(crate::faults::Faults::new(
                settings.seed.unwrap_or_else(rand::random),
            )),
            journal: Arc::new(crate::journal::Journal::new(
                crate::journal::DEFAULT_CAPACITY,
            )),
        };
        Ok(Application {
            listener,
            local_addr,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.state.registry.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn open_store(url: &str) -> Result<Arc<dyn Store>, StartupError> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url)
            .await
            .map_err(|source| StartupError::Store {
                url: url.to_owned(),
                source,
            })?;
        Ok(Arc::new(store))
    } else {
        Err(StartupError::UnsupportedDatabase(url.to_owned()))
    }
}
