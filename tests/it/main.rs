//! Black-box HTTP integration tests for intune-mock: one test binary.
//!
//! Every test starts its own service on a loopback port through
//! `scenarios::harness::spawn_app` (in-memory SQLite, virtual clock, seeded ids), talks to it only
//! over HTTP, and drops it at the end. Expected values are written literally.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The lifecycle model (service/lifecycle/src/model_rules.rs, included by service_props.rs) names
// the crate by its package name.
extern crate lifecycle as intune_mock_lifecycle;

mod admin;
mod browser;
mod catalog_choice;
mod cli;
mod cli_suite;
mod client_fixtures;
mod conformance_matrix;
mod connector_bad_input;
mod connector_client;
mod connector_command;
mod crash_safety;
mod faults;
mod graph;
mod graph_sdk;
mod hardening;
mod hardening_process;
mod health;
mod hostile_input;
mod identity;
mod jobs;
mod jobs_by_profile;
mod journal;
mod keep_logs;
mod lifecycle_cli;
mod lifecycle_http;
mod limits;
mod metrics;
mod openapi;
mod pkcs;
mod proxy;
mod readme;
mod readme_tour;
mod registration;
mod reports;
mod routing_props;
mod scenario_runs;
mod scep;
mod scep_endpoint;
mod security;
mod service_props;
mod store_suite;
mod support;
mod web_page;
mod web_timeline;
