//! The one error type of the operations. `http::error` maps each variant to a status and a wire
//! code; a variant says what went wrong in the caller's terms, never how the store failed.

use crate::clock::ClockError;
use crate::domain::connector::CONNECTOR_LIMIT;
use crate::domain::lifecycle::Refusal;
use crate::domain::Version;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Bad input: `code` is the wire error code, `message` names the field and the problem.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the tenant already has {CONNECTOR_LIMIT} connectors, the most a tenant may have")]
    LimitReached,
    #[error("machine `{0}` already has a connector in this tenant; uninstall it first")]
    MachineTaken(String),
    #[error("version {0} is already in the release catalog")]
    DuplicateRelease(Version),
    #[error("{}", refusal_message(*.0, .1))]
    Refused(Refusal, Version),
    #[error("{0}")]
    LeaseLost(String),
    #[error("job {0} is leased by another connector")]
    NotLeaseHolder(String),
    #[error("{0}")]
    AlreadyCompleted(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FeatureNotInstalled(String),
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// A connector already holds the most waiting leases it may.
    #[error("{0}")]
    TooManyWaits(String),
    /// An idempotency key already used for another request.
    #[error("{0}")]
    KeyReused(String),
    /// A revoke by profile asked for more certificates than are left to name.
    #[error("{0}")]
    NothingToRevoke(String),
    /// A job with no device key the service made.
    #[error("{0}")]
    NoDeviceKey(String),
    /// Something stored does not read back (a row this service did not write).
    #[error("internal error: {0}")]
    Corrupt(String),
    #[error("storage failed")]
    Store(#[source] StoreError),
}

pub type OpsResult<T> = Result<T, OpsError>;

fn refusal_message(refusal: Refusal, version: &Version) -> String {
    match refusal {
        Refusal::ConnectorVersionRetired => format!(
            "connector version {version} has been out of support for more than 12 months and no longer functions; update the connector"
        ),
        Refusal::LegacyVersionCannotRevoke => {
            format!("connector version {version} is earlier than 6.2101.13.0 and cannot revoke certificates from 2022-08-01")
        }
        Refusal::LegacyVersionCannotIssue => {
            format!("connector version {version} is earlier than 6.2101.13.0 and cannot issue certificates from 2022-09-01")
        }
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => OpsError::NotFound("resource"),
            StoreError::LimitReached(_) => OpsError::LimitReached,
            StoreError::MachineTaken(m) => OpsError::MachineTaken(m),
            other => OpsError::Store(other),
        }
    }
}

/// Bad input: `code` is the wire error code, `message` names the field and the problem.
pub fn invalid(code: &'static str, message: impl Into<String>) -> OpsError {
    OpsError::Invalid {
        code,
        message: message.into(),
    }
}

/// Maps a store `NotFound` to `OpsError::NotFound(what)`, anything else as it is.
pub(crate) fn missing(what: &'static str) -> impl Fn(StoreError) -> OpsError {
    move |e| match e {
        StoreError::NotFound => OpsError::NotFound(what),
        other => other.into(),
    }
}

/// A store answer where `NotFound` means "there is none" (`Ok(None)`).
pub(crate) fn optional<T>(result: Result<T, StoreError>) -> OpsResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
