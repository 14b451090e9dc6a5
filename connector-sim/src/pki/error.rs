//! Why a CA did not do what was asked, and the error code a connector reports for it.

/// Why a CA did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaError {
    /// The CA cannot be reached (down, network); the request may be tried again.
    #[error("certification authority `{0}` is unavailable")]
    Unavailable(String),
    #[error("certification authority `{0}` is not known to this connector")]
    UnknownCa(String),
    #[error("template `{template}` is not published by `{ca}`")]
    TemplateNotFound { ca: String, template: String },
    #[error("the request was denied: {0}")]
    Denied(String),
    #[error("certificate with serial number {0} was not issued by this CA")]
    UnknownSerial(String),
    #[error("crypto error: {0}")]
    Crypto(String),
}

impl CaError {
    /// The error code a connector reports to the service.
    pub fn code(&self) -> &'static str {
        match self {
            CaError::Unavailable(_) => "CaUnavailable",
            CaError::UnknownCa(_) => "UnknownCertificationAuthority",
            CaError::TemplateNotFound { .. } => "TemplateNotFound",
            CaError::Denied(_) => "RequestDenied",
            CaError::UnknownSerial(_) => "CertificateNotFound",
            CaError::Crypto(_) => "CryptoError",
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, CaError::Unavailable(_))
    }
}

impl From<openssl::error::ErrorStack> for CaError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        CaError::Crypto(e.to_string())
    }
}

impl From<asn1::DerError> for CaError {
    fn from(e: asn1::DerError) -> Self {
        CaError::Crypto(e.to_string())
    }
}
