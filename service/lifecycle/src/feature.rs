//! Connector features: the closed set a connector installs, and the non-empty set it holds.

use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Pkcs,
    PkcsImport,
    Scep,
    Revocation,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    #[error("unknown feature `{0}`; the features are pkcs, pkcs_import, scep and revocation")]
    Unknown(String),
    #[error("a connector needs at least one feature (pkcs, pkcs_import, scep, revocation)")]
    Empty,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::Pkcs,
        Feature::PkcsImport,
        Feature::Scep,
        Feature::Revocation,
    ];

    pub fn parse(input: &str) -> Result<Self, FeatureError> {
        match input {
            "pkcs" => Ok(Feature::Pkcs),
            "pkcs_import" => Ok(Feature::PkcsImport),
            "scep" => Ok(Feature::Scep),
            "revocation" => Ok(Feature::Revocation),
            other => Err(FeatureError::Unknown(other.to_owned())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Feature::Pkcs => "pkcs",
            Feature::PkcsImport => "pkcs_import",
            Feature::Scep => "scep",
            Feature::Revocation => "revocation",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of features, kept in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeatureSet(BTreeSet<Feature>);

impl FeatureSet {
    /// The set of one feature.
    pub fn of(feature: Feature) -> Self {
        FeatureSet(BTreeSet::from([feature]))
    }

    /// The set of these features, or `None` for none.
    pub fn from_features(features: impl IntoIterator<Item = Feature>) -> Option<Self> {
        let set: BTreeSet<Feature> = features.into_iter().collect();
        (!set.is_empty()).then_some(FeatureSet(set))
    }

    /// Reads feature names (`pkcs`, `pkcs_import`, `scep`, `revocation`); at least one.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, FeatureError> {
        let set = items
            .iter()
            .map(|s| Feature::parse(s.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(FeatureError::Empty);
        }
        Ok(FeatureSet(set))
    }

    pub fn contains(&self, feature: Feature) -> bool {
        self.0.contains(&feature)
    }

    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        self.0.iter().copied()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(|f| f.as_str().to_owned()).collect()
    }
}
