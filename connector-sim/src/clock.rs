//! The connector's one wall-clock read. Everything else takes time as a parameter (`now`) or
//! reads a [`Clock`] it was given: the harness passes its virtual clock, the real-time driver
//! [`wall`] (docs/behaviour.md, "Time").

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A clock read for each request (the SCEP endpoint's: the service's virtual clock in the
/// harness).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock, now.
pub fn wall() -> DateTime<Utc> {
    #[allow(clippy::disallowed_methods)] // The one place the connector reads the wall clock.
    Utc::now()
}
