//! Settings for one service instance, resolved once by the binary and passed to `Application`.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum ClockSetting {
    Real,
    Virtual { start: DateTime<Utc> },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `sqlite:///path/file.db`, `sqlite:file.db` or `sqlite::memory:`.
    pub database_url: String,
    pub clock: ClockSetting,
    pub operator_token: String,
    /// Seed for ids and secrets; `None` means random.
    pub seed: Option<u64>,
    /// Requests a second each connector credential may make (bursts of twice that); past it the
    /// service answers 429 with `Retry-After`. `None`: no limit.
    pub connector_rate_limit: Option<std::num::NonZeroU32>,
}
