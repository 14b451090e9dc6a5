//! One installed connector: registration, polling, the job workers, reconfiguration,
//! uninstall.
//!
//! Time is always passed in (`now`): the harness passes virtual time, the real-time loop
//! ([`run_realtime`]) the wall clock.

mod config;
mod instance;
mod jobs;
mod poll;
mod realtime;
mod resume;

pub use config::ConnectorConfig;
pub use instance::{Connector, Registered, WorkSummary};
pub use realtime::run_realtime;
