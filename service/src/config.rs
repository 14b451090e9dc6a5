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
}
