//! Builds a running service from `Settings`: the SQLite file's lock, the store (migrations run),
//! clock, ids, router, listener; and runs it until a shutdown, then drains and closes the store.

use std::future::Future;
use std::io::{Read as _, Seek as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Another process holds the SQLite file's lock (docs/behaviour.md, "Storage").
    #[error("the SQLite database {} is in use by another intune-mock serve ({}): an SQLite file serves one process at a time. Stop that process or give this one another --database-url; several replicas on one database is what PostgreSQL is for (--database-url postgres://USER:PASSWORD@HOST/DATABASE)", .database.display(), holder(*.pid, .lock))]
    DatabaseInUse {
        database: PathBuf,
        lock: PathBuf,
        /// The holder's process id, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    #[error("cannot lock the SQLite database {}: cannot open {}", .database.display(), .lock.display())]
    Lock {
        database: PathBuf,
        lock: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the virtual clock: {0}")]
    Clock(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn holder(pid: Option<u32>, lock: &Path) -> String {
    match pid {
        Some(pid) => format!("pid {pid}, holder of {}", lock.display()),
        None => format!("holder of {}; its pid cannot be read there", lock.display()),
    }
}

/// A built service: the listener is bound (port 0 resolved), migrations have run, and an SQLite
/// file is locked for this process until the service stops.
#[derive(Debug)]
pub struct Application {
    listener: listen::Listener,
    state: AppState,
    store: Arc<dyn Store>,
    lock: Option<DatabaseLock>,
    /// The HTTPS listener, when [`Application::with_tls`] added one.
    tls: Option<(listen::Listener<crate::tls::TlsAcceptor>, SocketAddr)>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let lock = DatabaseLock::take(&settings.database_url)?;
        let clock = match settings.clock {
            ClockSetting::Real => Clock::real(),
            ClockSetting::Virtual { start } => {
                crate::clock::in_range(start, || {
                    format!(
                        "start {}",
                        start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    )
                })
                .map_err(|e| StartupError::Clock(e.to_string()))?;
                Clock::virtual_at(start)
            }
        };
        let store = open_store(&settings.database_url).await?;
        let ids = match settings.seed {
            Some(seed) => IdSource::seeded(seed),
            None => IdSource::random(),
        };
        let ops = Arc::new(
            Ops::new(store.clone(), Arc::new(clock), Arc::new(ids)).with_catalog(settings.catalog),
        );
        ops.time()
            .start(settings.stored_clock)
            .await
            .map_err(|e| StartupError::Clock(e.to_string()))?;
        let listener = listen::Listener::bind(settings.listen, settings.limits)
            .await
            .map_err(|source| StartupError::Bind {
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
            state,
            store,
            lock,
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
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(bind)?;
        let local_addr = listener.local_addr().map_err(bind)?;
        // The same limits as the HTTP listener's, each listener counting its own connections.
        let listener = listen::Listener::from_tcp(listener, self.listener.limits())
            .map_err(bind)?
            .with_acceptor(acceptor);
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
        self.listener.local_addr()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The listener's limits in force (the connection limit fitted to the file limit).
    pub fn limits(&self) -> listen::Limits {
        self.listener.limits()
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

    /// Serves until `shutdown` resolves; then stops accepting, ends the waiting leases (they
    /// answer what they have), answers the requests in flight within the grace period, closes
    /// the store and lets go of the SQLite file.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ops = self.state.ops.clone();
        let shutdown = async move {
            shutdown.await;
            ops.jobs().stop_waiting();
        };
        let router = router(self.state);
        match self.tls {
            None => {
                self.listener.serve(router, shutdown).await?;
            }
            // With HTTPS both listeners run until the one shutdown, each with its own limits.
            Some((tls, _)) => {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown.await;
                    let _ = stop.send(true);
                });
                let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                let secure_router = crate::tls::listener::https(router.clone());
                let (plain, secure) = tokio::join!(
                    self.listener.serve(router, until_stopped(stopped.clone())),
                    tls.serve(secure_router, until_stopped(stopped)),
                );
                plain?;
                secure?;
            }
        }
        self.store.close().await;
        drop(self.lock);
        Ok(())
    }
}

/// An exclusive, non-blocking `flock` of `file`: `Ok(false)` when another process holds it. The
/// lock goes with the process (a `kill -9` lets go of it too).
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> std::io::Result<bool> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "file locks are taken on Unix only",
    ))
}

/// The lock that keeps a second process off an SQLite file: an exclusive lock on
/// `<database>.lock` (not on the database itself, which SQLite locks its own way), held for as
/// long as the service runs, with the holder's pid written in it for the next one to name.
#[derive(Debug)]
struct DatabaseLock {
    _file: std::fs::File,
}

impl DatabaseLock {
    /// Locks the SQLite file `url` names; `None` for an in-memory database or another backend.
    fn take(url: &str) -> Result<Option<DatabaseLock>, StartupError> {
        if !url.starts_with("sqlite:") {
            return Ok(None);
        }
        let Some(database) = crate::store::sqlite_file(url) else {
            return Ok(None);
        };
        let mut name = database.clone().into_os_string();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let opened = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock);
        let mut file = match opened {
            Ok(file) => file,
            Err(source) => {
                return Err(StartupError::Lock {
                    database,
                    lock,
                    source,
                })
            }
        };
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StartupError::DatabaseInUse {
                    database,
                    lock,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(e) => {
                // A file system without locks: the service runs, unguarded.
                tracing::warn!(error = %e, "cannot lock {}: make sure no other process uses {}", lock.display(), database.display());
                return Ok(None);
            }
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write this process's id into {}", lock.display());
        }
        Ok(Some(DatabaseLock { _file: file }))
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
