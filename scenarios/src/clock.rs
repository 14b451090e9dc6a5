//! The `intune-mock` binary's one wall-clock read, for what is about the real moment and never
//! reaches a scenario: the default start of `serve --clock virtual`, and when a run began (the
//! JUnit report's timestamp). Scenarios themselves run on the service's virtual clock
//! (docs/behaviour.md, "Time").

use chrono::{DateTime, Utc};

/// The wall clock, now.
pub fn wall() -> DateTime<Utc> {
    #[allow(clippy::disallowed_methods)] // The one place the binary reads the wall clock.
    Utc::now()
}
