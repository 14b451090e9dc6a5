//! The closed sets the domain and the wire share (job kinds, job states, outcomes, attempt
//! outcomes, features): one exhaustive `From` per set, domain to wire, so a new variant on either
//! side is a compile error here and nowhere else. The spellings are the same on both sides (the
//! store keeps the domain's `as_str`, the wire the serde name), which the test below holds.
//!
//! Job kinds and features are the lifecycle crate's (`intune-mock-lifecycle`): the orphan rule
//! refuses a `From` between two foreign types here, so those two live in `wire` (which depends on
//! that crate for `Version`), and the tests below hold them like the others.
//!
//! The way in stays text for the request fields whose refusal names the field (`UnknownJobKind`,
//! `UnknownFeature`, …): `convert` reads those with the domain's `parse`.

use crate::domain::{AttemptEnd, JobState, Outcome};

impl From<JobState> for wire::jobs::JobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => Self::Queued,
            JobState::Leased => Self::Leased,
            JobState::Succeeded => Self::Succeeded,
            JobState::Failed => Self::Failed,
            JobState::DeadLetter => Self::DeadLetter,
            JobState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<Outcome> for wire::jobs::Outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Succeeded => Self::Succeeded,
            Outcome::Failed => Self::Failed,
            Outcome::Retry => Self::Retry,
        }
    }
}

impl From<AttemptEnd> for wire::jobs::AttemptOutcome {
    fn from(end: AttemptEnd) -> Self {
        match end {
            AttemptEnd::Reported(Outcome::Succeeded) => Self::Succeeded,
            AttemptEnd::Reported(Outcome::Failed) => Self::Failed,
            AttemptEnd::Reported(Outcome::Retry) => Self::Retry,
            AttemptEnd::Expired => Self::Expired,
            AttemptEnd::Cancelled => Self::Cancelled,
            AttemptEnd::Released => Self::Released,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Feature, JobKind};

    #[test]
    fn each_value_has_the_same_name_in_the_store_and_on_the_wire() {
        for kind in JobKind::ALL {
            assert_eq!(wire::jobs::JobKind::from(kind).as_str(), kind.as_str());
        }
        for state in JobState::ALL {
            assert_eq!(wire::jobs::JobState::from(state).as_str(), state.as_str());
        }
        for outcome in Outcome::ALL {
            assert_eq!(
                wire::jobs::Outcome::from(outcome).as_str(),
                outcome.as_str()
            );
        }
        let ends = Outcome::ALL.map(AttemptEnd::Reported).into_iter().chain([
            AttemptEnd::Expired,
            AttemptEnd::Cancelled,
            AttemptEnd::Released,
        ]);
        for end in ends {
            assert_eq!(wire::jobs::AttemptOutcome::from(end).as_str(), end.as_str());
        }
        for feature in Feature::ALL {
            assert_eq!(
                wire::connector::Feature::from(feature).as_str(),
                feature.as_str()
            );
        }
    }

    #[test]
    fn every_wire_value_comes_from_one_domain_value() {
        let kinds: Vec<_> = JobKind::ALL.map(wire::jobs::JobKind::from).into();
        assert_eq!(kinds, wire::jobs::JobKind::ALL);
        let states: Vec<_> = JobState::ALL.map(wire::jobs::JobState::from).into();
        assert_eq!(states, wire::jobs::JobState::ALL);
        let outcomes: Vec<_> = Outcome::ALL.map(wire::jobs::Outcome::from).into();
        assert_eq!(outcomes, wire::jobs::Outcome::ALL);
        let features: Vec<_> = Feature::ALL.map(wire::connector::Feature::from).into();
        assert_eq!(features, wire::connector::Feature::ALL);
    }
}
