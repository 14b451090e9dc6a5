//! The Graph error envelope, used on Graph, connector and operator routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `TenantConnectorLimitReached` or `invalidRequest`.
    pub code: String,
    /// What was wrong, for a person: names the field or value at fault.
    pub message: String,
    #[serde(rename = "innerError")]
    pub inner_error: InnerError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InnerError {
    pub date: String,
    #[serde(rename = "request-id")]
    pub request_id: String,
    #[serde(rename = "client-request-id")]
    pub client_request_id: String,
}
