//! `/metrics` in the Prometheus (OpenMetrics) text format: requests by route, method and status,
//! request latency by route, SCEP validations by answer code — counted as they happen — and, read
//! through the operations at each scrape, jobs by kind and state, the queue depth and the
//! age of the oldest queued job, expired leases, dead letters, connectors by status and the
//! service's clock. Labels carry route templates, kinds, states and codes only: no tenant or
//! connector ids, so a scrape shows nothing of any tenant.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry as Prometheus;

use crate::domain::{AttemptEnd, JobState, Status};
use crate::ops::{Ops, OpsResult};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … about 6.6 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 9))
}

/// The service's metrics; one per running service (no process-wide recorder, so several
/// services in one test process keep their own figures).
pub struct Metrics {
    prometheus: Mutex<Prometheus>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    scep_validations: Family<CodeLabels, Counter>,
    jobs: Family<JobLabels, Gauge>,
    queue_depth: Family<KindLabels, Gauge>,
    oldest_queued_age: Family<KindLabels, Gauge>,
    leases_expired: Gauge,
    dead_letters: Gauge,
    connectors: Family<StatusLabels, Gauge>,
    clock: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            prometheus: Mutex::new(Prometheus::with_prefix("intune_mock")),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            scep_validations: Family::default(),
            jobs: Family::default(),
            queue_depth: Family::default(),
            oldest_queued_age: Family::default(),
            leases_expired: Gauge::default(),
            dead_letters: Gauge::default(),
            connectors: Family::default(),
            clock: Gauge::default(),
        };
        {
            let mut p = m.registry();
            p.register(
                "http_requests",
                "Requests answered, by method, route template and status",
                m.requests.clone(),
            );
            p.register(
                "http_request_duration_seconds",
                "Time to answer a request, by route template",
                m.latency.clone(),
            );
            p.register(
                "scep_validations",
                "ScepActions/validateRequest answers, by code",
                m.scep_validations.clone(),
            );
            p.register("jobs", "Jobs by kind and state", m.jobs.clone());
            p.register(
                "queue_depth",
                "Jobs waiting to be leased, by kind",
                m.queue_depth.clone(),
            );
            p.register(
                "queue_oldest_age_seconds",
                "Age of the oldest job waiting to be leased, by kind (service clock)",
                m.oldest_queued_age.clone(),
            );
            p.register(
                "leases_expired",
                "Leases that ran out before their job was completed",
                m.leases_expired.clone(),
            );
            p.register(
                "dead_letters",
                "Jobs in dead letter",
                m.dead_letters.clone(),
            );
            p.register(
                "connectors",
                "Connectors by status (healthy, warning, error)",
                m.connectors.clone(),
            );
            p.register(
                "clock_seconds",
                "The service's clock (virtual or real), seconds since 1970",
                m.clock.clone(),
            );
        }
        m
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Prometheus> {
        self.prometheus.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One answered request: `route` is the matched route template (`unmatched` otherwise).
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// One validateRequest answer.
    pub fn scep_validation(&self, code: &str) {
        self.scep_validations
            .get_or_create(&CodeLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// Reads the figures kept in the store through `ops`, then writes every metric.
    pub async fn render(&self, ops: &Ops) -> OpsResult<String> {
        let now = ops.now();
        let stats = ops.jobs().counts().await?;
        let ends = ops.jobs().attempt_ends().await?;
        let mut by_status: std::collections::BTreeMap<&'static str, i64> =
            [Status::Healthy, Status::Warning, Status::Error]
                .iter()
                .map(|s| (s.as_str(), 0))
                .collect();
        for tenant in ops.tenants().list().await? {
            for connector in ops.connectors().list_with_status(&tenant.id).await? {
                *by_status
                    .entry(connector.evaluation.status.as_str())
                    .or_default() += 1;
            }
        }

        self.jobs.clear();
        self.queue_depth.clear();
        self.oldest_queued_age.clear();
        let mut dead = 0;
        for stat in &stats {
            self.jobs
                .get_or_create(&JobLabels {
                    kind: stat.kind.as_str().to_owned(),
                    state: stat.state.as_str().to_owned(),
                })
                .set(stat.count);
            match stat.state {
                JobState::Queued => {
                    let kind = KindLabels {
                        kind: stat.kind.as_str().to_owned(),
                    };
                    self.queue_depth.get_or_create(&kind).set(stat.count);
                    let age_ms = (now - stat.oldest_created).num_milliseconds();
                    self.oldest_queued_age
                        .get_or_create(&kind)
                        .set(age_ms.max(0) / 1000);
                }
                JobState::DeadLetter => dead += stat.count,
                _ => {}
            }
        }
        self.dead_letters.set(dead);
        self.leases_expired.set(
            ends.iter()
                .filter(|(end, _)| *end == AttemptEnd::Expired)
                .map(|(_, n)| *n)
                .sum(),
        );
        self.connectors.clear();
        for (status, n) in by_status {
            self.connectors
                .get_or_create(&StatusLabels {
                    status: status.to_owned(),
                })
                .set(n);
        }
        self.clock.set(now.timestamp());

        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry());
        Ok(text)
    }
}
