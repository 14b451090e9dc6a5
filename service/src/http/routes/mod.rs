//! One file per resource; handlers are named `resource_action`.

pub mod admin;
pub mod connector;
pub mod graph;
pub mod health;
pub mod jobs;
pub mod pfx;
pub mod pki;
pub mod scep;
pub mod token;
