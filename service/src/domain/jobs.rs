//! The queue's rules as values: the states a job passes through, what a connector reports for a
//! leased job, which state a report leads to, and when a retried job may be leased again.

use std::fmt;

use chrono::Duration;

/// How many leases a job gets before it goes to dead letter.
pub const MAX_ATTEMPTS: i64 = 5;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobState {
    /// Waiting for a connector (or back after a retry or an expired lease).
    Queued,
    /// Handed to a connector, invisible to others until the lease ends.
    Leased,
    Succeeded,
    /// Failed for good (the connector said so).
    Failed,
    /// Out of attempts.
    DeadLetter,
    /// Cancelled by the operator before it finished.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state `{0}` is not one of queued, leased, succeeded, failed, dead_letter, cancelled")]
pub struct JobStateError(pub String);

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Leased,
        JobState::Succeeded,
        JobState::Failed,
        JobState::DeadLetter,
        JobState::Cancelled,
    ];

    pub fn parse(input: &str) -> Result<Self, JobStateError> {
        JobState::ALL
            .into_iter()
            .find(|s| s.as_str() == input)
            .ok_or_else(|| JobStateError(input.to_owned()))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Leased => "leased",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::DeadLetter => "dead_letter",
            JobState::Cancelled => "cancelled",
        }
    }

    /// A job in this state will not change again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::DeadLetter | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a connector (or a third-party CA) reports for a job it leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Succeeded,
    /// Terminal failure.
    Failed,
    /// Try again later (after [`retry_backoff`]).
    Retry,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome `{0}` is not one of succeeded, failed, retry")]
pub struct OutcomeError(pub String);

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Succeeded, Outcome::Failed, Outcome::Retry];

    pub fn parse(input: &str) -> Result<Self, OutcomeError> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == input)
            .ok_or_else(|| OutcomeError(input.to_owned()))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Retry => "retry",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state a job goes to when `outcome` is reported for its `attempt`-th lease.
pub fn completed_state(outcome: Outcome, attempt: i64, max_attempts: i64) -> JobState {
    match outcome {
        Outcome::Succeeded => JobState::Succeeded,
        Outcome::Failed => JobState::Failed,
        Outcome::Retry if attempt >= max_attempts => JobState::DeadLetter,
        Outcome::Retry => JobState::Queued,
    }
}

/// Backoff before a job that asked for `retry` may be leased again: 30 s doubling per attempt,
/// at most an hour.
pub fn retry_backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 8) - 1;
    Duration::seconds((30i64 << exponent).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_leads_to_its_state_and_the_fifth_retry_to_dead_letter() {
        assert_eq!(
            completed_state(Outcome::Succeeded, 5, 5),
            JobState::Succeeded
        );
        assert_eq!(completed_state(Outcome::Failed, 1, 5), JobState::Failed);
        assert_eq!(completed_state(Outcome::Retry, 4, 5), JobState::Queued);
        assert_eq!(completed_state(Outcome::Retry, 5, 5), JobState::DeadLetter);
        assert_eq!(completed_state(Outcome::Retry, 6, 5), JobState::DeadLetter);
    }

    #[test]
    fn retry_backoff_doubles_from_30_seconds_to_an_hour() {
        let seconds: Vec<i64> = (0..=9).map(|a| retry_backoff(a).num_seconds()).collect();
        assert_eq!(seconds, [30, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn states_and_outcomes_read_back_their_spelling() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Ok(state));
        }
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Ok(outcome));
        }
        assert_eq!(
            JobState::parse("done").unwrap_err().to_string(),
            "state `done` is not one of queued, leased, succeeded, failed, dead_letter, cancelled"
        );
    }
}
