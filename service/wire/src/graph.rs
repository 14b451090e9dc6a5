//! Microsoft Graph (beta) shapes: `ndesConnector`, `certificateConnectorDetails`, collections.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A Graph collection page: `@odata.context`, optional `@odata.count`, `value`, optional
/// `@odata.nextLink` (absolute URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GraphCollection<T> {
    #[serde(rename = "@odata.context")]
    pub odata_context: String,
    #[serde(
        rename = "@odata.count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_count: Option<u64>,
    pub value: Vec<T>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_next_link: Option<String>,
}

/// `#microsoft.graph.ndesConnector` (docs/behaviour.md, "Wire shapes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NdesConnector {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub last_connection_date_time: Option<DateTime<Utc>>,
    /// `none`, `active` or `inactive`.
    pub state: String,
    pub display_name: String,
    pub machine_name: String,
    pub enrolled_date_time: DateTime<Utc>,
    pub role_scope_tag_ids: Vec<String>,
    pub connector_version: String,
}

/// `#microsoft.graph.certificateConnectorDetails` (docs/behaviour.md, "Wire shapes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateConnectorDetails {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub connector_name: String,
    pub machine_name: String,
    pub enrollment_date_time: DateTime<Utc>,
    pub last_checkin_date_time: Option<DateTime<Utc>>,
    pub connector_version: String,
}

pub const NDES_CONNECTOR_TYPE: &str = "#microsoft.graph.ndesConnector";
pub const CERTIFICATE_CONNECTOR_DETAILS_TYPE: &str = "#microsoft.graph.certificateConnectorDetails";

/// `userPFXCertificate` (docs/behaviour.md, "Wire shapes"): an imported user PFX (S/MIME). In
/// requests the enums are accepted in any casing (the PowerShell module sends PascalCase); answers
/// use Graph's camelCase, and never carry the PFX or its password back (`"AA=="` and `""`
/// placeholders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPfxCertificate {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub thumbprint: String,
    #[serde(default)]
    pub intended_purpose: String,
    #[serde(default)]
    pub user_principal_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    #[serde(default)]
    pub provider_name: String,
    #[serde(default)]
    pub key_name: String,
    #[serde(default)]
    pub padding_scheme: String,
    #[serde(default)]
    pub encrypted_pfx_blob: String,
    #[serde(default)]
    pub encrypted_pfx_password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}
