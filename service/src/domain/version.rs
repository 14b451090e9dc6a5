//! Connector versions: four dot-separated numeric parts, ordered part by part. The type lives in
//! the wire crate so the connector can check the versions the service offers it.

pub use wire::version::{Version, VersionParseError};
