//! The OAuth2 client-credentials token response of `/{tenantId}/oauth2/v2.0/token`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    pub ext_expires_in: u64,
    pub access_token: String,
}

/// The OAuth2 error body (`{"error","error_description"}`), as Entra ID answers a bad request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenError {
    pub error: String,
    pub error_description: String,
}
