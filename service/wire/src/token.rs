//! Entra ID's side of the wire, as the mock serves it: the OAuth2 client-credentials token
//! response of `/{tenantId}/oauth2/v2.0/token`, the access token's JOSE header and claims (an
//! app-only Graph token, version 1.0), the tenant's OpenID configuration and its keys (JWKS).

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

/// The JOSE header of an access token: `{"typ":"JWT","alg":"RS256","x5t","kid"}` (Entra ID's
/// order; `x5t` and `kid` are both the signing certificate's SHA-1 thumbprint in base64url).
/// Entra ID also writes a `nonce` into Graph tokens, which makes them unverifiable by standard
/// JWT libraries; the mock does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtHeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// The claims of an app-only access token in Entra ID's version 1.0 form, the form Microsoft
/// Graph's tokens take: `appid`/`appidacr` (not v2's `azp`), `roles` (no `scp`), `idtyp` `app`,
/// `oid` = `sub` (the app's service principal), times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub appidacr: String,
    pub idp: String,
    pub idtyp: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

/// One key of a JWKS (RFC 7517), as Entra ID's `discovery/v2.0/keys` lists it: an RSA key for
/// signatures, `kid` = `x5t`, modulus and exponent in base64url, and its certificate in `x5c`
/// (standard base64 of the DER, not base64url). No `alg`, as Entra ID writes none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub x5t: String,
    pub n: String,
    pub e: String,
    pub x5c: Vec<String>,
}

/// `{"keys": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A tenant's OpenID Provider configuration (`/{tenantId}/v2.0/.well-known/openid-configuration`).
/// MSAL reads `authorization_endpoint` and `token_endpoint` (both required, both https, the
/// token endpoint's first path segment being the tenant); the rest follows Entra ID's document
/// where it is true of the mock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub request_uri_parameter_supported: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_identity_bodies_keep_their_wire_names_both_ways() {
        let key = json!({"kty": "RSA", "use": "sig", "kid": "k1", "x5t": "k1", "n": "AQAB",
            "e": "AQAB", "x5c": ["MIIB"]});
        let jwks: Jwks = serde_json::from_value(json!({ "keys": [key.clone()] })).unwrap();
        assert_eq!(jwks.keys[0].use_, "sig");
        assert_eq!(
            serde_json::to_value(&jwks).unwrap(),
            json!({ "keys": [key] })
        );

        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": "k1", "kid": "k1"});
        let parsed: JwtHeader = serde_json::from_value(header).unwrap();
        // Entra ID's order, which the encoded header keeps.
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"{"typ":"JWT","alg":"RS256","x5t":"k1","kid":"k1"}"#
        );
        // A header of someone else's token may lack everything but `alg`.
        let bare: JwtHeader = serde_json::from_value(json!({"alg": "none"})).unwrap();
        assert_eq!(bare.kid, None);

        let claims = json!({"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/t/",
            "iat": 1, "nbf": 1, "exp": 2, "appid": "a", "appidacr": "1", "idp": "https://sts.windows.net/t/",
            "idtyp": "app", "oid": "o", "roles": ["r"], "sub": "o", "tid": "t", "uti": "u", "ver": "1.0"});
        let parsed: AccessTokenClaims = serde_json::from_value(claims.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), claims);
    }
}
