//! What a scenario sets up before its first step: tenants and connectors. A connector's keys are
//! the same in `[[connector]]` and in an `install` step, and so are their checks.

use service::domain::{Feature, Version};

use super::values::{features, interval, one_of, service_account, DurationSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub name: String,
    pub rollout_delay_days: u32,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSpec {
    pub name: String,
    pub tenant: String,
    pub machine: String,
    pub display_name: String,
    pub features: Vec<Feature>,
    pub version: String,
    pub product: String,
    pub auto_update: bool,
    pub co_installed: Vec<String>,
    pub service_account: String,
    /// Holds the tenant's PFX-import key.
    pub import_key: bool,
    pub poll_interval: DurationSpec,
    /// How often an auto-updating connector asks the auto-update service (default PT1H).
    pub update_check_interval: DurationSpec,
    /// A faulty connector: its service dies right after each download and restarts, so what
    /// it downloads is never worked on (the leases run out).
    pub crash_after_download: bool,
    /// The event log in files: size limit per channel file, archives kept, Debug records.
    pub log: Option<LogSpec>,
    pub line: usize,
}

impl ConnectorSpec {
    /// The features by name (`pkcs+scep` in the transcript).
    pub fn feature_names(&self) -> Vec<String> {
        self.features
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect()
    }
}

/// A connector whose event log goes to files (`log_max_bytes`, `log_archives`, `log_debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub max_bytes: u64,
    pub archives: usize,
    pub debug: bool,
}

pub const PRODUCTS: &[&str] = &[
    "certificate-connector",
    "pfx-certificate-connector",
    "intune-connector",
];
pub const CO_INSTALLED: &[&str] = &["intune-connector-for-active-directory", "ndes", "adcs"];

/// Declares a TOML table with a connector's keys followed by `extra` keys, and `connector()`,
/// which splits off the connector's part as a [`RawConnector`]. The keys are listed once here;
/// their order is the order of serde's "expected one of" message, and the struct's name is in
/// its "expected struct" message.
macro_rules! connector_keys {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($extra:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            pub name: String,
            pub tenant: String,
            pub machine: Option<String>,
            pub display_name: Option<String>,
            pub features: Vec<String>,
            pub version: String,
            pub product: Option<String>,
            pub auto_update: Option<bool>,
            pub co_installed: Option<Vec<String>>,
            pub service_account: Option<String>,
            pub import_key: Option<bool>,
            pub poll_interval: Option<String>,
            pub update_check_interval: Option<String>,
            pub crash_after_download: Option<bool>,
            pub log_max_bytes: Option<u64>,
            pub log_archives: Option<usize>,
            pub log_debug: Option<bool>,
            $(pub $extra: $ty,)*
        }

        #[allow(dead_code)]
        impl $name {
            /// The connector's part of these keys.
            pub fn connector(self) -> RawConnector {
                RawConnector {
                    name: self.name,
                    tenant: self.tenant,
                    machine: self.machine,
                    display_name: self.display_name,
                    features: self.features,
                    version: self.version,
                    product: self.product,
                    auto_update: self.auto_update,
                    co_installed: self.co_installed,
                    service_account: self.service_account,
                    import_key: self.import_key,
                    poll_interval: self.poll_interval,
                    update_check_interval: self.update_check_interval,
                    crash_after_download: self.crash_after_download,
                    log_max_bytes: self.log_max_bytes,
                    log_archives: self.log_archives,
                    log_debug: self.log_debug,
                }
            }
        }
    };
}
pub(crate) use connector_keys;

connector_keys! {
    /// A `[[connector]]` table.
    pub struct RawConnector {}
}

impl RawConnector {
    /// The connector these keys describe, checked in a fixed order (name, version, product,
    /// co-installed products, poll interval, features, account, file log, update-check
    /// interval) so that a file with several mistakes is told about the same one each time.
    pub fn check(self, line: usize) -> Result<ConnectorSpec, String> {
        if self.name.trim().is_empty() {
            return Err("a connector needs a non-empty name".into());
        }
        Version::parse(&self.version).map_err(|e| e.to_string())?;
        let product = self
            .product
            .unwrap_or_else(|| "certificate-connector".into());
        one_of("product", &product, PRODUCTS)?;
        let co_installed = self.co_installed.unwrap_or_default();
        for item in &co_installed {
            one_of("co_installed", item, CO_INSTALLED)?;
        }
        let poll_interval = interval("poll_interval", self.poll_interval.as_deref(), "PT30S")?;
        let features = features(&self.features)?;
        let service_account = service_account(self.service_account)?;
        let log = log_spec(self.log_max_bytes, self.log_archives, self.log_debug)?;
        let update_check_interval = interval(
            "update_check_interval",
            self.update_check_interval.as_deref(),
            "PT1H",
        )?;
        Ok(ConnectorSpec {
            machine: self.machine.unwrap_or_else(|| self.name.clone()),
            display_name: self.display_name.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            tenant: self.tenant,
            features,
            version: self.version,
            product,
            auto_update: self.auto_update.unwrap_or(true),
            co_installed,
            service_account,
            import_key: self.import_key.unwrap_or(false),
            poll_interval,
            update_check_interval,
            crash_after_download: self.crash_after_download.unwrap_or(false),
            log,
            line,
        })
    }
}

/// The file log of a connector, if any of its keys is given.
fn log_spec(
    max_bytes: Option<u64>,
    archives: Option<usize>,
    debug: Option<bool>,
) -> Result<Option<LogSpec>, String> {
    if max_bytes.is_none() && archives.is_none() && debug.is_none() {
        return Ok(None);
    }
    let max_bytes = max_bytes.unwrap_or(50 * 1024 * 1024);
    if max_bytes < 1024 {
        return Err(format!("log_max_bytes {max_bytes} is below 1024"));
    }
    let archives = archives.unwrap_or(10);
    if archives == 0 || archives > 1000 {
        return Err(format!("log_archives {archives} must be from 1 to 1000"));
    }
    Ok(Some(LogSpec {
        max_bytes,
        archives,
        debug: debug.unwrap_or(false),
    }))
}
