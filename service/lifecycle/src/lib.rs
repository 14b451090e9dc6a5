//! The rules of the Certificate Connector for Microsoft Intune's version lifecycle, as pure
//! functions (docs/behaviour.md, "Releases and the version lifecycle").
//!
//! Invariant: nothing here does IO, is async, reads the clock, or knows serde, sqlx or axum.
//! Every function that depends on time takes `now` as an argument.
//!
#![doc = include_str!("../README.md")]

pub mod calendar;
pub mod catalog;
pub mod connector;
pub mod feature;
pub mod lifecycle;
pub mod reconcile;
pub mod routing;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;
pub mod version;

pub use calendar::{add_months, IsoDuration};
pub use catalog::{Catalog, CatalogChoice, Provenance, Release};
pub use connector::{ConnectorFacts, Product, TenantFacts};
pub use feature::{Feature, FeatureSet};
pub use lifecycle::{evaluate, Evaluation, Operation, ReasonCode, Refusal, Severity, Status};
pub use routing::JobKind;
pub use version::Version;

#[cfg(test)]
mod model;
#[cfg(test)]
mod model_rules;
// The model (`model_rules.rs`) names the crate by its package name, so that the integration
// tests can include the same file.
#[cfg(test)]
extern crate self as intune_mock_lifecycle;
#[cfg(test)]
mod tests;
