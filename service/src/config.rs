//! Settings for one service instance, resolved once by the binary and passed to `Application`.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum ClockSetting {
    Real,
    Virtual { start: DateTime<Utc> },
}

/// What a virtual clock does at start when the database already holds one (a restart, or a
/// replica joining) (docs/behaviour.md, "Time").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoredClock {
    /// Continue from the stored instant, earlier or later than the start (no start was asked
    /// for; the start is then only the clock of a fresh database).
    #[default]
    Continue,
    /// A start was asked for: a stored instant that differs from it is an error, never applied
    /// in silence.
    MatchStart,
    /// Move the clock to the start whatever is stored (`serve --reset-clock`); back only on a
    /// database without tenants.
    ResetToStart,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `sqlite:///path/file.db`, `sqlite:file.db` or `sqlite::memory:`.
    pub database_url: String,
    pub clock: ClockSetting,
    /// What the virtual clock does with the instant a database already holds.
    pub stored_clock: StoredClock,
    pub operator_token: String,
    /// Seed for ids and secrets; `None` means random.
    pub seed: Option<u64>,
    /// Requests a second each connector credential may make (bursts of twice that); past it the
    /// service answers 429 with `Retry-After`. `None`: no limit.
    pub connector_rate_limit: Option<std::num::NonZeroU32>,
    /// The listener's connection limit, read timeouts and shutdown grace.
    pub limits: listen::Limits,
    /// The shipped release catalog the rules evaluate against, before any published release
    /// (docs/behaviour.md, "Releases and the version lifecycle").
    pub catalog: crate::domain::catalog::CatalogChoice,
}
