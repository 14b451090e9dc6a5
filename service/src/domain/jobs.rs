//! The queue's rules as values (docs/behaviour.md, "Request queues and routing"): the states a
//! job passes through, what a connector reports for a leased job, which state a report leads to,
//! when a retried job may be leased again, and how a completion is answered.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// How many leases a job gets before it goes to dead letter.
pub const MAX_ATTEMPTS: i64 = 5;
/// The most jobs one lease call may ask for.
pub const MAX_LEASE_BATCH: u32 = 100;
/// The most jobs one enqueue call may carry.
pub const MAX_ENQUEUE_BATCH: usize = 1000;
/// How long a lease hides its jobs when the connector does not say.
pub const DEFAULT_VISIBILITY_SECONDS: u32 = 300;
pub const MAX_VISIBILITY_SECONDS: u32 = 12 * 3600;
/// The most revocation requests one third-party CA download may ask for.
pub const MAX_CA_DOWNLOAD: u32 = 500;

/// How long a third-party CA's download holds its revocation requests (the docs' cool-down):
/// they are not handed out again for that long unless a result is uploaded.
pub fn ca_download_visibility() -> Duration {
    Duration::minutes(60)
}

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

/// How an attempt (one lease of a job) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptEnd {
    /// The holder reported this.
    Reported(Outcome),
    /// The lease ran out.
    Expired,
    /// The job was cancelled while leased.
    Cancelled,
    /// The connector was uninstalled while holding the lease.
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "attempt outcome `{0}` is not one of succeeded, failed, retry, expired, cancelled, released"
)]
pub struct AttemptEndError(pub String);

impl AttemptEnd {
    pub fn parse(input: &str) -> Result<Self, AttemptEndError> {
        match input {
            "expired" => Ok(AttemptEnd::Expired),
            "cancelled" => Ok(AttemptEnd::Cancelled),
            "released" => Ok(AttemptEnd::Released),
            other => Outcome::parse(other)
                .map(AttemptEnd::Reported)
                .map_err(|_| AttemptEndError(other.to_owned())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptEnd::Reported(outcome) => outcome.as_str(),
            AttemptEnd::Expired => "expired",
            AttemptEnd::Cancelled => "cancelled",
            AttemptEnd::Released => "released",
        }
    }
}

impl fmt::Display for AttemptEnd {
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

/// What a completion needs to know of the job it names, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLease<'a> {
    pub state: JobState,
    /// The hash of the current lease's token (`None`: not leased).
    pub token_hash: Option<&'a str>,
    /// Who holds the current lease.
    pub holder: Option<&'a str>,
    /// Leases so far, the current one included.
    pub attempts: i64,
    pub max_attempts: i64,
}

/// The write that completes a job whose current lease the token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedWrite {
    pub attempt: i64,
    pub state: JobState,
    /// When the job may be leased again (a retry waits out its backoff).
    pub visible: DateTime<Utc>,
}

/// What to do with a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionPlan {
    /// The token holds the job's current lease: write this.
    Write(PlannedWrite),
    /// The token holds the current lease, but for someone else.
    NotLeaseHolder,
    /// The token does not hold the current lease: the answer comes from the attempt it was
    /// issued for (see [`answer_again`]).
    FromHistory,
}

/// How `holder` completing `job` with the lease token hashed `token_hash` and `outcome` at `now`
/// goes.
pub fn plan_completion(
    job: &HeldLease<'_>,
    holder: &str,
    token_hash: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> CompletionPlan {
    if job.state != JobState::Leased || job.token_hash != Some(token_hash) {
        return CompletionPlan::FromHistory;
    }
    if job.holder != Some(holder) {
        return CompletionPlan::NotLeaseHolder;
    }
    let state = completed_state(outcome, job.attempts, job.max_attempts);
    let visible = match (outcome, state) {
        (Outcome::Retry, JobState::Queued) => now + retry_backoff(job.attempts),
        _ => now,
    };
    CompletionPlan::Write(PlannedWrite {
        attempt: job.attempts,
        state,
        visible,
    })
}

/// The answer to a completion whose token no longer holds the job's lease, from the attempt
/// the token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// A repeat of the completion that ended the attempt: the same answer as then.
    Same { state: JobState },
    /// The attempt is someone else's.
    NotLeaseHolder,
    /// The attempt was completed with another outcome.
    AlreadyCompleted(Outcome),
    /// The lease ended without a report (`None`: it is simply no longer current).
    LeaseEnded(Option<AttemptEnd>),
}

/// [`Again`] for `holder` reporting `outcome` on an attempt held by `attempt_holder` that ended
/// as `ended`, of a job with `max_attempts`.
pub fn answer_again(
    attempt_holder: &str,
    attempt: i64,
    ended: Option<AttemptEnd>,
    holder: &str,
    outcome: Outcome,
    max_attempts: i64,
) -> Again {
    if attempt_holder != holder {
        return Again::NotLeaseHolder;
    }
    match ended {
        Some(AttemptEnd::Reported(previous)) if previous == outcome => Again::Same {
            state: completed_state(previous, attempt, max_attempts),
        },
        Some(AttemptEnd::Reported(previous)) => Again::AlreadyCompleted(previous),
        other => Again::LeaseEnded(other),
    }
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

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn leased<'a>(attempts: i64) -> HeldLease<'a> {
        HeldLease {
            state: JobState::Leased,
            token_hash: Some("hash-1"),
            holder: Some("connector-1"),
            attempts,
            max_attempts: 5,
        }
    }

    #[test]
    fn a_completion_with_the_current_token_is_written_and_a_retry_waits_its_backoff() {
        let now = at("2024-10-01T12:00:00Z");
        assert_eq!(
            plan_completion(&leased(1), "connector-1", "hash-1", Outcome::Succeeded, now),
            CompletionPlan::Write(PlannedWrite {
                attempt: 1,
                state: JobState::Succeeded,
                visible: at("2024-10-01T12:00:00Z"),
            })
        );
        assert_eq!(
            plan_completion(&leased(3), "connector-1", "hash-1", Outcome::Retry, now),
            CompletionPlan::Write(PlannedWrite {
                attempt: 3,
                state: JobState::Queued,
                visible: at("2024-10-01T12:02:00Z"),
            })
        );
        assert_eq!(
            plan_completion(&leased(5), "connector-1", "hash-1", Outcome::Retry, now),
            CompletionPlan::Write(PlannedWrite {
                attempt: 5,
                state: JobState::DeadLetter,
                visible: at("2024-10-01T12:00:00Z"),
            })
        );
    }

    #[test]
    fn a_token_that_does_not_hold_the_lease_is_answered_from_history() {
        let now = at("2024-10-01T12:00:00Z");
        assert_eq!(
            plan_completion(&leased(1), "connector-2", "hash-1", Outcome::Failed, now),
            CompletionPlan::NotLeaseHolder
        );
        assert_eq!(
            plan_completion(&leased(1), "connector-1", "hash-0", Outcome::Failed, now),
            CompletionPlan::FromHistory
        );
        let done = HeldLease {
            state: JobState::Succeeded,
            ..leased(1)
        };
        assert_eq!(
            plan_completion(&done, "connector-1", "hash-1", Outcome::Succeeded, now),
            CompletionPlan::FromHistory
        );
    }

    #[test]
    fn a_repeat_answers_the_same_and_anything_else_is_refused() {
        let succeeded = Some(AttemptEnd::Reported(Outcome::Succeeded));
        let retried = Some(AttemptEnd::Reported(Outcome::Retry));
        assert_eq!(
            answer_again("c1", 2, succeeded, "c1", Outcome::Succeeded, 5),
            Again::Same {
                state: JobState::Succeeded
            }
        );
        assert_eq!(
            answer_again("c1", 4, retried, "c1", Outcome::Retry, 5),
            Again::Same {
                state: JobState::Queued
            }
        );
        assert_eq!(
            answer_again(
                "c1",
                5,
                Some(AttemptEnd::Reported(Outcome::Retry)),
                "c1",
                Outcome::Retry,
                5
            ),
            Again::Same {
                state: JobState::DeadLetter
            }
        );
        assert_eq!(
            answer_again("c1", 2, succeeded, "c1", Outcome::Failed, 5),
            Again::AlreadyCompleted(Outcome::Succeeded)
        );
        assert_eq!(
            answer_again("c1", 2, succeeded, "c2", Outcome::Succeeded, 5),
            Again::NotLeaseHolder
        );
        assert_eq!(
            answer_again(
                "c1",
                2,
                Some(AttemptEnd::Expired),
                "c1",
                Outcome::Succeeded,
                5
            ),
            Again::LeaseEnded(Some(AttemptEnd::Expired))
        );
        assert_eq!(
            answer_again("c1", 2, None, "c1", Outcome::Succeeded, 5),
            Again::LeaseEnded(None)
        );
    }

    #[test]
    fn attempt_ends_read_back_their_spelling() {
        for end in [
            AttemptEnd::Reported(Outcome::Succeeded),
            AttemptEnd::Reported(Outcome::Failed),
            AttemptEnd::Reported(Outcome::Retry),
            AttemptEnd::Expired,
            AttemptEnd::Cancelled,
            AttemptEnd::Released,
        ] {
            assert_eq!(AttemptEnd::parse(end.as_str()), Ok(end));
        }
        assert_eq!(
            AttemptEnd::parse("lost").unwrap_err().to_string(),
            "attempt outcome `lost` is not one of succeeded, failed, retry, expired, cancelled, released"
        );
    }
}
