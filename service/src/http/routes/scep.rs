//! The Intune SCEP validation surface a connector's SCEP module calls (intune-wire.md §1.5):
//! `POST {scep}/ScepActions/validateRequest`. Only connectors with the `scep` feature may call it
//! (403 `FeatureNotInstalled` otherwise), and not on a legacy or retired version.
//!
//! What is checked so far: the request decodes as a DER PKCS#10 (`CertificateRequestDecodingFailed`)
//! and carries a challengePassword attribute (`ChallengePasswordMissing`). Challenges are issued
//! by the service's SCEP profile targeting, which does not exist yet, so no challenge decodes:
//! a request with one answers `ChallengeDecodingError`, never `Success`.

use axum::extract::State;
use base64::Engine as _;
use wire::scep::{ScepAnswer, ValidateRequest};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ConnectorCaller};
use crate::http::state::AppState;

/// DER of the OID 1.2.840.113549.1.9.7 (PKCS#9 challengePassword), tag and length included.
const CHALLENGE_PASSWORD_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x07,
];

fn answer(code: &str, description: impl Into<String>) -> ApiJson<ScepAnswer> {
    ApiJson(ScepAnswer {
        code: code.to_owned(),
        error_description: description.into(),
    })
}

/// The business verdict on a request body (always HTTP 200).
pub fn verdict(request: &wire::scep::ScepRequest) -> (&'static str, String) {
    let Some(encoded) = request.certificate_request.as_deref() else {
        return (
            "CertificateRequestDecodingFailed",
            "request.certificateRequest is missing".into(),
        );
    };
    let cleaned: String = encoded.split_whitespace().collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(cleaned) else {
        return (
            "CertificateRequestDecodingFailed",
            "request.certificateRequest is not base64".into(),
        );
    };
    if openssl::x509::X509Req::from_der(&der).is_err() {
        return (
            "CertificateRequestDecodingFailed",
            "request.certificateRequest is not a DER PKCS#10 certificate request".into(),
        );
    }
    if !der
        .windows(CHALLENGE_PASSWORD_OID.len())
        .any(|w| w == CHALLENGE_PASSWORD_OID)
    {
        return (
            "ChallengePasswordMissing",
            "the certificate request has no challengePassword attribute".into(),
        );
    }
    (
        "ChallengeDecodingError",
        "the challenge password is not a challenge this service issued".into(),
    )
}

pub async fn validate_request(
    ConnectorCaller(row): ConnectorCaller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ValidateRequest>,
) -> Result<ApiJson<ScepAnswer>, ApiError> {
    state.registry.scep_gate(&row).await?;
    let (code, description) = verdict(&body.request);
    Ok(answer(code, description))
}
