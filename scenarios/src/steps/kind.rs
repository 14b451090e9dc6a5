//! What a step kind is made of ([`StepKind`]), and what its check may know of the file above it
//! ([`Check`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::runner::world::{PkiNeed, StepError, World};

/// One step kind: the TOML shape under its key, the checked value a scenario holds, the check
/// between the two, and what the step does when the scenario runs.
pub(crate) trait StepKind {
    /// The value under the step's key, as serde reads it. Its type name appears in serde's
    /// messages ("expected struct RawExpectJobs"), its field order in "expected one of".
    type Raw: DeserializeOwned;
    /// The checked value that [`crate::steps::Action`] holds.
    type Spec;

    /// Checks `raw` against the file so far; the message of an error is prefixed with the step's
    /// key where it names a field (`enqueue: count must be …`). The caller adds `file:line`.
    fn check(raw: Self::Raw, cx: &mut Check) -> Result<Self::Spec, String>;

    /// Does the step; `Ok` is the transcript's line for it.
    async fn run(spec: &Self::Spec, world: &mut World) -> Result<String, StepError>;

    /// What the scenario's PKI must hold for this step (the CAs and keys are made once, at the
    /// start, only for scenarios that use them).
    fn pki(_spec: &Self::Spec) -> PkiNeed {
        PkiNeed::None
    }
}

/// What the checks know while reading the steps in order: the declared tenants, the connectors
/// installed at this point, the SCEP targets made so far, and the line of the step at hand.
pub struct Check {
    start: DateTime<Utc>,
    line: usize,
    tenants: BTreeSet<String>,
    installed: BTreeSet<String>,
    targets: BTreeSet<String>,
}

impl Check {
    pub fn new(start: DateTime<Utc>, tenants: BTreeSet<String>) -> Self {
        Check {
            start,
            line: 0,
            tenants,
            installed: BTreeSet::new(),
            targets: BTreeSet::new(),
        }
    }

    /// The scenario's `start`.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The line of the step being checked (where its messages point).
    pub fn line(&self) -> usize {
        self.line
    }

    pub(crate) fn set_line(&mut self, line: usize) {
        self.line = line;
    }

    pub fn tenant(&self, name: &str) -> Result<(), String> {
        if self.tenants.contains(name) {
            Ok(())
        } else {
            Err(format!(
                "unknown tenant `{name}`; declare it with [[tenant]]"
            ))
        }
    }

    /// `name` is installed at this step.
    pub fn installed(&self, name: &str) -> Result<(), String> {
        if self.installed.contains(name) {
            Ok(())
        } else {
            Err(format!("connector `{name}` is not installed at this step"))
        }
    }

    /// Records an install; false when `name` is installed already.
    pub fn install(&mut self, name: &str) -> bool {
        self.installed.insert(name.to_owned())
    }

    pub fn uninstall(&mut self, name: &str) {
        self.installed.remove(name);
    }

    /// A `scep_target` of this name came before this step (`key`: the step's key, for the
    /// message).
    pub fn target(&self, key: &str, name: &str) -> Result<(), String> {
        if self.targets.contains(name) {
            Ok(())
        } else {
            Err(format!("{key}: no scep_target `{name}` before this step"))
        }
    }

    /// Records a `scep_target`; false when the name is taken.
    pub fn add_target(&mut self, name: &str) -> bool {
        self.targets.insert(name.to_owned())
    }
}
