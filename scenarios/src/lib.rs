//! Scenario model, runner and reports, and the pieces of the `intune-mock` binary.
//!
//! - `spec`: the scenario file format (TOML) and its validation, with file:line errors.
//! - `harness`: `spawn_app`, a real service on loopback with a virtual clock.
//! - `cli`: the subcommands of `intune-mock`.

pub mod cli;
pub mod harness;
