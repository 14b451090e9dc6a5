//! Serde types of every HTTP body intune-mock speaks, in both directions.
//!
//! This is the only crate with protocol `Serialize`/`Deserialize`. The service converts these to
//! its domain types at the HTTP edge; the simulated connector and the scenario harness use them as
//! clients. A change here is a protocol change: it needs a CHANGELOG entry and a round-trip test.
//!
//! Field names follow the real wire (camelCase for Intune/Graph, snake_case for OAuth) and are
//! pinned with `serde(rename…)`, never derived from Rust names by accident.

pub mod admin;
pub mod connector;
pub mod error;
pub mod graph;
pub mod jobs;
pub mod scep;
pub mod token;
pub mod url;
pub mod version;

pub use chrono::{DateTime, Utc};
