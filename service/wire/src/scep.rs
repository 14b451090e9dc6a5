//! The Intune SCEP validation surface (`ScepRequestValidationFEService`, api-version
//! `2018-02-20`; docs/behaviour.md, "Wire shapes"). Keys are camelCase; clients differ in null
//! handling and `\/` escapes, so every field is optional on the way in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The service's path prefix for the SCEP validation calls (as discovery will list it).
pub const SCEP_SERVICE_PATH: &str =
    "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService";

/// `POST {scep}/ScepActions/validateRequest` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidateRequest {
    pub request: ScepRequest,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScepRequest {
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Base64 of the DER PKCS#10.
    #[serde(default)]
    pub certificate_request: Option<String>,
    #[serde(default)]
    pub caller_info: Option<String>,
}

/// Every business answer is HTTP 200 with both keys, strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScepAnswer {
    pub code: String,
    pub error_description: String,
}

/// The service's path prefix for the revocation calls (as discovery will list it).
pub const PKI_SERVICE_PATH: &str =
    "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService";

/// The api-version header value of the SCEP calls.
pub const SCEP_API_VERSION: &str = "2018-02-20";

/// A subject alternative name a SCEP profile asks for (`dns`, `email`, `uri`, `upn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SanSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// `POST /admin/tenants/{tid}/scep/challenges`: a device is targeted by a SCEP profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateScepChallenge {
    pub device_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub subject_alternative_names: Vec<SanSpec>,
    /// Key usage names (`digitalSignature`, `keyEncipherment`, …); empty: not checked.
    #[serde(default)]
    pub key_usage: Vec<String>,
    /// RSA modulus or EC field size in bits.
    pub key_size: u32,
    /// Dotted EKU OIDs; empty: not checked.
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    /// Default 60.
    #[serde(default)]
    pub validity_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScepNotificationView {
    pub kind: String,
    pub date_time: chrono::DateTime<chrono::Utc>,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScepChallengeView {
    pub id: String,
    /// The blob for the device's challengePassword; only in the creation answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub subject: String,
    pub subject_alternative_names: Vec<SanSpec>,
    pub key_usage: Vec<String>,
    pub key_size: u32,
    pub extended_key_usage: Vec<String>,
    pub issued_date_time: chrono::DateTime<chrono::Utc>,
    pub expires_date_time: chrono::DateTime<chrono::Utc>,
    pub targeted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<ScepNotificationView>,
}

/// One endpoint of `GET /v1.0/servicePrincipals/appId=…/endpoints` (Graph `endpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    pub id: String,
    pub capability: String,
    pub provider_id: String,
    pub provider_name: String,
    pub provider_resource_id: String,
    pub uri: String,
}
