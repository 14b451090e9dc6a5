//! The mock Intune cloud service.
//!
//! - `domain`: the rules, pure (no IO, no clock, no serde).
//! - `ops`: the operations, one module per subject; they answer views, never rows.
//! - `store`: the only SQL; never reads the clock.
//! - `http`: the only code that knows axum and status codes, and the only one that builds wire
//!   bodies.
//! - `clock`, `ids`: the injected sources of time and identity.
//! - `identity`: the signed access tokens and the resources they are for (pure); `tls`: the
//!   HTTPS listener's certificates and acceptor.
//! - `startup`: builds an [`startup::Application`] from [`config::Settings`].

pub mod clock;
pub mod config;
pub mod domain;
pub mod faults;
pub mod http;
pub mod identity;
pub mod ids;
pub mod journal;
pub mod limit;
pub mod metrics;
pub mod ops;
pub mod profiles;
pub mod scep;
pub mod schedule;
pub mod startup;
pub mod store;
pub mod tls;
