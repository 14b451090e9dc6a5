//! The rules of the mock Intune cloud, as pure functions (docs/behaviour.md).
//!
//! Invariant: nothing here does IO, is async, reads the clock, or knows serde, sqlx or axum.
//! Every function that depends on time takes `now` as an argument.
//!
//! The rules about versions and their lifecycle (versions, calendar months, the catalog, the
//! lifecycle and its status reasons, history reconciliation, features, job routing) live in the
//! `intune-mock-lifecycle` crate so that other projects can depend on them without the service;
//! they are re-exported here under the same paths. The queue's rules (`jobs`) and the typed ids
//! (`ids`) are the service's own.

pub mod ids;
pub mod jobs;

pub use ::lifecycle::{
    calendar, catalog, connector, feature, lifecycle, reconcile, routing, version,
};

pub use ::lifecycle::{
    add_months, evaluate, Catalog, ConnectorFacts, Evaluation, Feature, FeatureSet, IsoDuration,
    JobKind, Operation, Product, ReasonCode, Refusal, Release, Severity, Status, TenantFacts,
    Version,
};
pub use ids::{ConnectorId, JobId, TenantId};
pub use jobs::{AttemptEnd, JobState, Outcome};
