//! The job workers' rounds: each feature's worker downloads (leases) a batch of its kinds, works
//! each request, and uploads the results in one batch call, writing the kind's events.

use chrono::{DateTime, Utc};
use reqwest::Method;
use wire::jobs::{JobKind, Outcome};

use super::{Connector, WorkSummary};
use crate::client::ClientError;
use crate::events::EventId;
use crate::work::{kind_events, worker_kinds, KindEvents, Notes, Work};

impl Connector {
    /// One round of every feature's worker: download a batch of requests, do the work, upload
    /// the results.
    pub async fn work(&mut self, now: DateTime<Utc>) -> WorkSummary {
        let mut summary = WorkSummary::default();
        if !self.running || self.workbench.is_none() {
            return summary;
        }
        if self.config.crash_after_download {
            let batch = self.workbench.as_ref().map_or(100, |w| w.lease_batch);
            for kind in worker_kinds(&self.config.features) {
                self.download(kind, batch, now, &mut summary).await;
            }
            return summary;
        }
        // One download per worker per poll: requests spread over every capable connector.
        for kind in worker_kinds(&self.config.features) {
            self.work_kind(kind, now, &mut summary).await;
        }
        summary
    }

    /// Downloads and handles one batch of `kind`; returns how many requests came.
    async fn work_kind(
        &mut self,
        kind: JobKind,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) -> usize {
        let events = kind_events(kind);
        let Some(bench) = self.workbench.clone() else {
            return 0;
        };
        let Some((download_id, jobs)) = self.download(kind, bench.lease_batch, now, summary).await
        else {
            return 0;
        };
        let count = jobs.len();
        let mut completions = Vec::with_capacity(count);
        for job in &jobs {
            let mut notes = Notes::default();
            let last = job.attempt >= job.max_attempts;
            let work = bench
                .process(kind, &job.payload, last, now, &mut notes)
                .await;
            for (id, message, data) in notes.events {
                let data = if data.is_null() {
                    serde_json::json!({"requestId": job.id})
                } else {
                    data
                };
                self.event(now, id, &download_id, &message, data);
            }
            let (completion, outcome) =
                self.completion(job, &work, events, &download_id, now, summary);
            let completion = wire::jobs::BatchCompletion {
                job_id: job.id.clone(),
                completion,
            };
            completions.push((completion, outcome));
        }
        self.upload(kind, events, completions, now, summary).await;
        count
    }

    /// The completion a job's work comes to (and its outcome), with its work event.
    fn completion(
        &mut self,
        job: &wire::connector::LeasedJob,
        work: &Work,
        events: KindEvents,
        download_id: &str,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) -> (wire::jobs::CompleteJob, Outcome) {
        let data = serde_json::json!({"requestId": job.id, "attempt": job.attempt});
        let (outcome, id, message) = match work {
            Work::Succeeded(_) => {
                summary.succeeded += 1;
                (
                    Outcome::Succeeded,
                    events.work_ok,
                    format!("request {} done", job.id),
                )
            }
            Work::Retry { code, message } => {
                summary.retried += 1;
                let id = events.work_attempt_failed.unwrap_or(events.work_failed);
                (Outcome::Retry, id, format!("{code}: {message}"))
            }
            Work::Failed { code, message } => {
                summary.failed += 1;
                (
                    Outcome::Failed,
                    events.work_failed,
                    format!("{code}: {message}"),
                )
            }
        };
        self.event(now, id, download_id, &message, data);
        let (result, error_code, error_message) = match work {
            Work::Succeeded(result) => (Some(result.clone()), None, None),
            Work::Retry { code, message } | Work::Failed { code, message } => {
                (None, Some(code.clone()), Some(message.clone()))
            }
        };
        let completion = wire::jobs::CompleteJob {
            lease_token: job.lease_token.clone(),
            outcome: outcome.as_str().to_owned(),
            result,
            error_code,
            error_message,
        };
        (completion, outcome)
    }

    /// Uploads a batch's completions in one call and writes the upload events: the batch's,
    /// then each result's (and the Admin channel's fulfilled or failed).
    async fn upload(
        &mut self,
        kind: JobKind,
        events: KindEvents,
        completions: Vec<(wire::jobs::BatchCompletion, Outcome)>,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) {
        let count = completions.len();
        let (completions, outcomes): (Vec<_>, Vec<_>) = completions
            .into_iter()
            .map(|(c, outcome)| {
                let job_id = c.job_id.clone();
                (c, (job_id, outcome))
            })
            .unzip();
        let upload_id = self.correlation.next_id();
        let body = wire::jobs::CompleteBatch { completions };
        let uploaded: Result<
            Option<wire::admin::Collection<wire::jobs::BatchCompletionResult>>,
            ClientError,
        > = self
            .call(
                Method::POST,
                "/connector/v1/jobs/complete",
                &upload_id,
                Some(&body),
            )
            .await;
        let answers = match uploaded {
            Ok(answers) => answers.map(|c| c.value).unwrap_or_default(),
            Err(e) => {
                let data =
                    serde_json::json!({"kind": kind, "count": count, "error": e.to_string()});
                let ids = (events.upload_failed, events.admin_failed);
                self.call_failed(now, summary, ids, &upload_id, &e, data);
                return;
            }
        };
        self.event(
            now,
            events.upload_ok,
            &upload_id,
            &format!("uploaded {count} result(s)"),
            serde_json::json!({"kind": kind, "count": count}),
        );
        for (job_id, outcome) in outcomes {
            let accepted = answers
                .iter()
                .find(|a| a.job_id == job_id)
                .is_some_and(|a| a.completed.is_some());
            let data = serde_json::json!({"requestId": job_id, "outcome": outcome});
            if !accepted {
                summary.call_errors += 1;
                self.event(
                    now,
                    events.upload_failed,
                    &upload_id,
                    &format!("the result of {job_id} was not accepted"),
                    data,
                );
                continue;
            }
            self.event(
                now,
                events.uploaded_one,
                &upload_id,
                &format!("uploaded the result of {job_id}"),
                data.clone(),
            );
            let admin = match (outcome, events.admin_ok, events.admin_failed) {
                (Outcome::Succeeded, Some(ok), _) => {
                    Some((ok, format!("request {job_id} fulfilled")))
                }
                (Outcome::Failed, _, Some(failed)) => {
                    Some((failed, format!("request {job_id} failed")))
                }
                _ => None,
            };
            if let Some((id, message)) = admin {
                self.event(now, id, &upload_id, &message, data);
            }
        }
    }

    /// Downloads (leases) up to `max` requests of `kind`, writing the download events. `None`
    /// when nothing came (or the call failed, which is logged).
    pub(super) async fn download(
        &mut self,
        kind: JobKind,
        max: u32,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
    ) -> Option<(String, Vec<wire::connector::LeasedJob>)> {
        let events = kind_events(kind);
        let download_id = self.correlation.next_id();
        let request = wire::connector::LeaseRequest {
            kinds: Some(vec![kind.as_str().to_owned()]),
            max: max.max(1),
            wait_ms: None,
            visibility_timeout_seconds: None,
        };
        let answer: Result<Option<wire::connector::LeaseResponse>, ClientError> = self
            .call(
                Method::POST,
                "/connector/v1/jobs/lease",
                &download_id,
                Some(&request),
            )
            .await;
        let jobs = match answer {
            Ok(answer) => answer.map(|a| a.jobs).unwrap_or_default(),
            Err(e) => {
                let data = serde_json::json!({"kind": kind, "error": e.to_string()});
                let ids = (events.download_failed, events.admin_download_failed);
                self.call_failed(now, summary, ids, &download_id, &e, data);
                return None;
            }
        };
        if jobs.is_empty() {
            return None;
        }
        summary.leased += jobs.len();
        let message = format!("downloaded {} request(s)", jobs.len());
        let data = serde_json::json!({"kind": kind, "count": jobs.len()});
        self.event(
            now,
            events.download_ok,
            &download_id,
            &message,
            data.clone(),
        );
        if let Some(admin) = events.admin_download_ok {
            self.event(now, admin, &download_id, &message, data);
        }
        for job in &jobs {
            self.event(
                now,
                events.downloaded_one,
                &download_id,
                &format!("request {} (attempt {})", job.id, job.attempt),
                serde_json::json!({"requestId": job.id, "attempt": job.attempt}),
            );
        }
        Some((download_id, jobs))
    }

    /// A download or upload call the service refused or did not answer: counted, and written
    /// to the Operational channel and, when the kind has one, to the Admin channel.
    fn call_failed(
        &mut self,
        now: DateTime<Utc>,
        summary: &mut WorkSummary,
        (operational, admin): (EventId, Option<EventId>),
        correlation_id: &str,
        error: &ClientError,
        data: serde_json::Value,
    ) {
        summary.call_errors += 1;
        let message = error.to_string();
        self.event(now, operational, correlation_id, &message, data.clone());
        if let Some(admin) = admin {
            self.event(now, admin, correlation_id, &message, data);
        }
    }

    /// The machine dies right after downloading: each worker downloads one batch, nothing is
    /// worked on or uploaded (the leases run out on the service), and polling stops. Returns how
    /// many requests were abandoned.
    pub async fn crash(&mut self, now: DateTime<Utc>) -> usize {
        let mut summary = WorkSummary::default();
        let batch = self.workbench.as_ref().map_or(100, |w| w.lease_batch);
        if self.running {
            for kind in worker_kinds(&self.config.features) {
                self.download(kind, batch, now, &mut summary).await;
            }
        }
        self.stop(now);
        summary.leased
    }
}
