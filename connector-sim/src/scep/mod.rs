//! The connector's SCEP module: an NDES-like SCEP endpoint (RFC 8894) in front of a CA that asks
//! Intune to validate each request (`ScepActions/validateRequest`), issues on `Success`, answers
//! with a CertRep, and tells Intune what happened (`successNotification` /
//! `failureNotification`). A notification Intune does not take is spooled to disk and retried
//! ([`ScepEndpoint::drain`]). Events 4000–4010 as the docs name them.
//!
//! [`http::router`] serves it on `/certsrv/mscep/mscep.dll` (NDES), `…/pkiclient.exe` and
//! `/scep` (micromdm's path); [`ScepEndpoint::pki_operation`] is the same work without HTTP.

mod endpoint;
pub mod http;
mod intune;
pub mod message;
pub mod spool;

pub use endpoint::{Outcome, ScepEndpoint, ScepIdentity, ScepSettings};
pub(crate) use intune::{caller_info, scep_action, validate_request};
