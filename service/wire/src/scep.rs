//! The Intune SCEP validation surface (`ScepRequestValidationFEService`, api-version
//! `2018-02-20`; intune-wire.md §1.5). Keys are camelCase; clients differ in null handling and
//! `\/` escapes, so every field is optional on the way in.

use serde::{Deserialize, Serialize};

/// The service's path prefix for the SCEP validation calls (as discovery will list it).
pub const SCEP_SERVICE_PATH: &str =
    "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService";

/// `POST {scep}/ScepActions/validateRequest` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRequest {
    pub request: ScepRequest,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScepAnswer {
    pub code: String,
    pub error_description: String,
}
