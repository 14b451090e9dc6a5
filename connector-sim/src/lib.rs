//! A simulated Certificate Connector for Microsoft Intune.
//!
//! It talks to the mock service only over HTTP (it does not link the service: a real connector
//! cannot link the cloud). The harness drives it on virtual time through [`Connector::poll`];
//! `intune-mock connector` drives it on real time through [`run_realtime`].

pub mod ca;
pub mod client;
pub mod clock;
pub mod connector;
mod correlation;
pub mod events;
pub mod pki;
pub mod scep;
pub mod state;
pub mod work;

pub use client::{http_client, ClientError, ProxySettings, ServiceClient};
pub use connector::{run_realtime, Connector, ConnectorConfig, Registered, WorkSummary};
pub use work::Workbench;
