//! Scenario model, runner and reports, and the pieces of the `intune-mock` binary.
//!
//! - `spec`: the scenario file format (TOML): the top level, and its validation with file:line
//!   errors.
//! - `steps`: the step kinds, one module each (TOML shape, check, run), registered in one list.
//! - `harness`: `spawn_app`, a real service on loopback with a virtual clock.
//! - `runner`: runs one scenario against a fresh service (`runner::world`: the service, the
//!   connectors and the clock the steps act on); `run`: the `run` subcommand and its exit codes;
//!   `lanes`: the threads `run` runs scenarios on.
//! - `report`: summary table, failure details, JSON and JUnit reports (and the JSON report's
//!   schema).
//! - `output`: aligned tables, colour only on a terminal, standard output that survives a closed
//!   pipe, errors with their cause chain.
//! - `cli`: the subcommands of `intune-mock`; `clock`: its one wall-clock read; `signals`: the
//!   SIGTERM and SIGINT that stop them.

pub mod cli;
pub mod clock;
pub mod harness;
pub mod lanes;
pub mod output;
pub mod report;
pub mod run;
pub mod runner;
pub mod signals;
pub mod spec;
pub mod steps;
