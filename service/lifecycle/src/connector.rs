//! What the rules need to know about a connector and its tenant, as plain values, and the
//! tenant's limits (docs/behaviour.md, "Tenants and connectors").

use chrono::{DateTime, Utc};

use super::feature::FeatureSet;
use super::version::Version;

/// At most this many connectors per tenant.
pub const CONNECTOR_LIMIT: u32 = 100;
/// Days between a release and its offer to a tenant's connectors, unless the tenant says.
pub const DEFAULT_ROLLOUT_DELAY_DAYS: u32 = 7;
pub const MAX_ROLLOUT_DELAY_DAYS: u32 = 3650;

/// The installed product. The two legacy products are accepted so lifecycle scenarios can model
/// fleets that still run them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    CertificateConnector,
    PfxCertificateConnector,
    IntuneConnector,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown product `{0}`; the products are certificate-connector, pfx-certificate-connector and intune-connector")]
pub struct ProductError(pub String);

impl Product {
    pub fn parse(input: &str) -> Result<Self, ProductError> {
        match input {
            "certificate-connector" => Ok(Product::CertificateConnector),
            "pfx-certificate-connector" => Ok(Product::PfxCertificateConnector),
            "intune-connector" => Ok(Product::IntuneConnector),
            other => Err(ProductError(other.to_owned())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Product::CertificateConnector => "certificate-connector",
            Product::PfxCertificateConnector => "pfx-certificate-connector",
            Product::IntuneConnector => "intune-connector",
        }
    }

    pub fn is_legacy(&self) -> bool {
        !matches!(self, Product::CertificateConnector)
    }
}

/// Products that may share a machine with a connector. Only the AD connector draws a warning.
pub const CO_INSTALLED_PRODUCTS: &[&str] =
    &["intune-connector-for-active-directory", "ndes", "adcs"];
pub const AD_CONNECTOR: &str = "intune-connector-for-active-directory";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown co-installed product `{0}`; known ones are intune-connector-for-active-directory, ndes and adcs")]
pub struct CoInstalledError(pub String);

pub fn parse_co_installed(items: &[String]) -> Result<Vec<String>, CoInstalledError> {
    let mut out = Vec::new();
    for item in items {
        let lower = item.to_ascii_lowercase();
        if !CO_INSTALLED_PRODUCTS.contains(&lower.as_str()) {
            return Err(CoInstalledError(item.clone()));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out.sort();
    Ok(out)
}

/// One connector's facts, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorFacts {
    pub version: Version,
    pub product: Product,
    pub features: FeatureSet,
    pub import_key_thumbprint: Option<String>,
    pub co_installed: Vec<String>,
    pub enrolled: DateTime<Utc>,
    pub last_checkin: Option<DateTime<Utc>>,
    /// The last health upload (`None`: it never uploaded one).
    pub last_health: Option<DateTime<Utc>>,
}

/// What the rules need from the connector's tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFacts {
    pub rollout_delay_days: u32,
    /// Thumbprint of the tenant's current PFX-import key, if the tenant has one.
    pub import_key_thumbprint: Option<String>,
    /// The newest version present among the tenant's connectors.
    pub newest_connector_version: Option<Version>,
}
