//! How a connector is set up: what it registers with and how often it polls, updates and
//! reports health.

use chrono::Duration;
use wire::connector::Feature;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub name: String,
    pub machine_name: String,
    pub display_name: String,
    pub features: Vec<Feature>,
    pub version: String,
    pub product: Option<String>,
    pub auto_update: bool,
    pub co_installed: Vec<String>,
    pub service_account: Option<String>,
    pub import_key_thumbprint: Option<String>,
    /// The proxy URL the connector is set to use (reported to the service; the client that goes
    /// through it is made with [`crate::client::http_client`]).
    pub proxy: Option<String>,
    pub poll_interval: Duration,
    /// How often an auto-updating connector asks the auto-update service (default one hour).
    pub update_check_interval: Duration,
    /// How often it uploads a health message (default 5 minutes).
    pub health_interval: Duration,
    /// A faulty connector: it dies right after each download and restarts at once, so the
    /// requests it downloads are never worked on.
    pub crash_after_download: bool,
    /// Seeds the correlation ids, so transcripts repeat exactly.
    pub seed: u64,
}

impl ConnectorConfig {
    /// A connector on machine `name` with `features` at `version`; everything else as a fresh
    /// install has it (auto-update on, SYSTEM account, no import key, polls every 30 s, seed 0).
    pub fn new(name: &str, features: &[Feature], version: &str) -> ConnectorConfig {
        ConnectorConfig {
            name: name.to_owned(),
            machine_name: name.to_owned(),
            display_name: name.to_owned(),
            features: features.to_vec(),
            version: version.to_owned(),
            product: None,
            auto_update: true,
            co_installed: Vec::new(),
            service_account: None,
            import_key_thumbprint: None,
            proxy: None,
            poll_interval: Duration::seconds(30),
            update_check_interval: Duration::hours(1),
            health_interval: Duration::minutes(5),
            crash_after_download: false,
            seed: 0,
        }
    }
}

/// The features as the registration and the health message carry them: text on the wire, so
/// that the service can name an unknown one (see `wire::connector::RegisterRequest`).
pub(super) fn feature_names(features: &[Feature]) -> Vec<String> {
    features.iter().map(|f| f.as_str().to_owned()).collect()
}
