//! Connector versions: four dot-separated numeric parts, ordered part by part. The type lives in
//! the lifecycle crate (`intune-mock-lifecycle`), whose rules order versions; the connector reads
//! the versions the service offers it with it.

pub use lifecycle::version::{Version, VersionParseError};
