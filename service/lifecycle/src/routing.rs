//! Job kinds and the feature each needs (docs/behaviour.md, "Request queues and routing").

use super::feature::{Feature, FeatureSet};
use super::lifecycle::Operation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    PkcsCreate,
    PkcsRecrypt,
    PkcsImport,
    Revoke,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job kind `{0}`; the kinds are pkcs_create, pkcs_recrypt, pkcs_import and revoke")]
pub struct JobKindError(pub String);

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::PkcsCreate,
        JobKind::PkcsRecrypt,
        JobKind::PkcsImport,
        JobKind::Revoke,
    ];

    pub fn parse(input: &str) -> Result<Self, JobKindError> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == input)
            .ok_or_else(|| JobKindError(input.to_owned()))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            JobKind::PkcsCreate => "pkcs_create",
            JobKind::PkcsRecrypt => "pkcs_recrypt",
            JobKind::PkcsImport => "pkcs_import",
            JobKind::Revoke => "revoke",
        }
    }

    /// The feature a connector needs to receive this kind.
    pub fn feature(&self) -> Feature {
        match self {
            JobKind::PkcsCreate | JobKind::PkcsRecrypt => Feature::Pkcs,
            JobKind::PkcsImport => Feature::PkcsImport,
            JobKind::Revoke => Feature::Revocation,
        }
    }

    /// The version gate that applies to leasing this kind.
    pub fn operation(&self) -> Operation {
        match self {
            JobKind::Revoke => Operation::Revoke,
            _ => Operation::Issue,
        }
    }
}

/// The kinds a connector with `features` may lease.
pub fn leasable_kinds(features: &FeatureSet) -> Vec<JobKind> {
    JobKind::ALL
        .into_iter()
        .filter(|k| features.contains(k.feature()))
        .collect()
}
