//! Status history, computed: from a connector's facts and where its history stands, every status
//! change up to an instant, each at its exact instant (docs/behaviour.md, "Status and its
//! reasons").
//!
//! History is reconciled lazily: before the service changes a fact a status depends on, and
//! before it reads a status, it calls [`reconcile`] with the facts that held until then, so a
//! change lands at its boundary however far the clock jumped. A check-in or a health message
//! changes facts at the instant it arrives, and may claim the connector was there since earlier
//! ([`Presence`]); [`segments`] cuts the span where the facts changed.

use chrono::{DateTime, Utc};

use super::catalog::Catalog;
use super::connector::{ConnectorFacts, TenantFacts};
use super::lifecycle::{self, Evaluation, ReasonCode, Status};

/// What a check-in or a health message arriving at the end of the span says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    /// The connector polled without a gap since then (a simulated connector's coalesced polls).
    pub active_since: Option<DateTime<Utc>>,
    /// Set for a health message: `Some(since)` when uploads succeeded without a gap since then,
    /// `None` inside when that is not claimed.
    pub health: Option<Option<DateTime<Utc>>>,
}

/// A status as history records it: the status and its reason codes, in the evaluation's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub status: Status,
    pub reasons: Vec<ReasonCode>,
}

impl Snapshot {
    pub fn of(evaluation: &Evaluation) -> Self {
        Snapshot {
            status: evaluation.status,
            reasons: evaluation.codes(),
        }
    }
}

/// One status change: the `seq`-th entry of the connector's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub snapshot: Snapshot,
}

/// Where a connector's history stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// History is complete up to this instant.
    pub until: DateTime<Utc>,
    /// The last entry (`None`: nothing readable is recorded, so the next evaluation is a change).
    pub last: Option<Snapshot>,
    /// The last entry's sequence number.
    pub seq: i64,
}

/// A span of time over which a connector's facts were constant, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub facts: ConnectorFacts,
}

/// What [`reconcile`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// The new entries, oldest first, numbered on from the recorded `seq`.
    pub changes: Vec<Change>,
    /// Where history stands afterwards: complete up to the end of the span.
    pub recorded: Recorded,
    /// The status at the end of the span, with the facts that hold then.
    pub evaluation: Evaluation,
}

fn segment(from: DateTime<Utc>, to: DateTime<Utc>, facts: ConnectorFacts) -> Segment {
    Segment { from, to, facts }
}

/// The spans of constant facts from `from` to `to`, oldest first, when a check-in or health
/// message (`presence`) arrives at `to` (or nothing arrives: `None`). The last span ends at `to`.
pub fn segments(
    facts: ConnectorFacts,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    presence: Option<Presence>,
) -> Vec<Segment> {
    let (mut before, end) = split(facts, from, to, presence);
    before.push(end);
    before
}

/// [`segments`] as the spans before the last one, and the last one (so it cannot be missing).
fn split(
    facts: ConnectorFacts,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    presence: Option<Presence>,
) -> (Vec<Segment>, Segment) {
    let last_health = facts.last_health;
    let (mut before, mut end) = match presence {
        None => (Vec::new(), segment(from, to, facts)),
        Some(p) => {
            let last_contact = facts.last_checkin.unwrap_or(facts.enrolled);
            let present = ConnectorFacts {
                last_checkin: Some(to),
                ..facts.clone()
            };
            match p.active_since {
                // Polled without a gap since before the inactivity threshold: present throughout.
                Some(since) if since <= last_contact + lifecycle::inactive_after() => {
                    (Vec::new(), segment(from, to, present))
                }
                // Absent for a while, then polling without a gap since `since`.
                Some(since) if since > from && since <= to => {
                    let back = ConnectorFacts {
                        last_checkin: Some(since),
                        ..facts.clone()
                    };
                    (vec![segment(from, since, facts)], segment(since, to, back))
                }
                _ => (vec![segment(from, to, facts)], segment(to, to, present)),
            }
        }
    };
    if let Some(health_since) = presence.and_then(|p| p.health) {
        let continuous = match (health_since, last_health) {
            (Some(since), Some(last)) => since <= last + lifecycle::health_failing_after(),
            _ => false,
        };
        if continuous {
            for s in before.iter_mut().chain(std::iter::once(&mut end)) {
                s.facts.last_health = Some(to);
            }
        } else {
            let uploaded = ConnectorFacts {
                last_health: Some(to),
                ..end.facts.clone()
            };
            before.push(end);
            end = segment(to, to, uploaded);
        }
    }
    (before, end)
}

/// Brings a connector's history from `recorded.until` up to `to`: every status change in
/// between at its exact instant, with `presence` arriving at `to` (see [`segments`]). Two
/// changes at one instant (a check-in arriving exactly at a boundary) are one change: the later
/// state is the state at that instant.
pub fn reconcile(
    facts: ConnectorFacts,
    tenant: &TenantFacts,
    catalog: &Catalog,
    recorded: &Recorded,
    to: DateTime<Utc>,
    presence: Option<Presence>,
) -> Reconciliation {
    let (before, end) = split(facts, recorded.until, to, presence);
    let mut last = recorded.last.clone();
    let mut seq = recorded.seq;
    let mut changes: Vec<Change> = Vec::new();
    for s in before.iter().chain(std::iter::once(&end)) {
        for (at, evaluation) in lifecycle::transitions(&s.facts, tenant, catalog, s.from, s.to) {
            let snapshot = Snapshot::of(&evaluation);
            if last.as_ref() == Some(&snapshot) {
                continue;
            }
            // Stored instants are whole milliseconds: two changes within one are one change.
            let same_instant = changes
                .last()
                .is_some_and(|c| c.at.timestamp_millis() == at.timestamp_millis());
            if same_instant {
                changes.pop();
                seq -= 1;
                last = match changes.last() {
                    Some(c) => Some(c.snapshot.clone()),
                    None => recorded.last.clone(),
                };
                if last.as_ref() == Some(&snapshot) {
                    continue;
                }
            }
            seq += 1;
            last = Some(snapshot.clone());
            changes.push(Change { seq, at, snapshot });
        }
    }
    Reconciliation {
        changes,
        recorded: Recorded {
            until: to,
            last,
            seq,
        },
        evaluation: lifecycle::evaluate(&end.facts, tenant, catalog, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FeatureSet, Product, Version};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn facts(version: &str, last_checkin: &str) -> ConnectorFacts {
        ConnectorFacts {
            version: Version::parse(version).unwrap(),
            product: Product::CertificateConnector,
            features: FeatureSet::parse(&["pkcs"]).unwrap(),
            import_key_thumbprint: None,
            co_installed: vec![],
            enrolled: at("2022-01-01T00:00:00Z"),
            last_checkin: Some(at(last_checkin)),
            last_health: None,
        }
    }

    fn tenant(version: &str) -> TenantFacts {
        TenantFacts {
            rollout_delay_days: 7,
            import_key_thumbprint: None,
            newest_connector_version: Some(Version::parse(version).unwrap()),
        }
    }

    fn healthy() -> Snapshot {
        Snapshot {
            status: Status::Healthy,
            reasons: vec![],
        }
    }

    fn recorded(until: &str) -> Recorded {
        Recorded {
            until: at(until),
            last: Some(healthy()),
            seq: 1,
        }
    }

    /// Each change as (seq, instant, status, codes).
    fn changes(r: &Reconciliation) -> Changes {
        r.changes
            .iter()
            .map(|c| {
                (
                    c.seq,
                    c.at.to_rfc3339(),
                    c.snapshot.status.as_str(),
                    c.snapshot.reasons.iter().map(|r| r.as_str()).collect(),
                )
            })
            .collect()
    }

    fn run(
        facts: ConnectorFacts,
        recorded: &Recorded,
        to: &str,
        presence: Option<Presence>,
    ) -> Reconciliation {
        let version = facts.version.to_string();
        reconcile(
            facts,
            &tenant(&version),
            &Catalog::shipped(),
            recorded,
            at(to),
            presence,
        )
    }

    #[test]
    fn the_docs_worked_example_is_recorded_on_its_literal_dates() {
        // 6.2202.38.0, polling without a gap, while 6.2203.12.0 comes out on 2022-05-04.
        let r = run(
            facts("6.2202.38.0", "2022-05-01T00:00:00Z"),
            &recorded("2022-05-01T00:00:00Z"),
            "2023-12-01T00:00:00Z",
            Some(Presence {
                active_since: Some(at("2022-05-01T00:00:00Z")),
                health: None,
            }),
        );
        assert_eq!(
            changes(&r),
            vec![
                (
                    2,
                    "2022-05-04T00:00:00+00:00".into(),
                    "warning",
                    vec!["VersionDeprecated"]
                ),
                // Available to the tenant 7 days after release, blocked 7 days after that.
                (
                    3,
                    "2022-05-18T00:00:00+00:00".into(),
                    "warning",
                    vec!["VersionDeprecated", "AutoUpdateBlocked"]
                ),
                (
                    4,
                    "2022-11-04T00:00:00+00:00".into(),
                    "error",
                    vec!["VersionOutOfSupport", "AutoUpdateBlocked"]
                ),
                (
                    5,
                    "2023-11-04T00:00:00+00:00".into(),
                    "error",
                    vec!["VersionRetired", "AutoUpdateBlocked"]
                ),
            ]
        );
        assert_eq!(r.recorded.seq, 5);
        assert_eq!(r.recorded.last, Some(r.changes[3].snapshot.clone()));
        assert_eq!(r.recorded.until, at("2023-12-01T00:00:00Z"));
        assert_eq!(r.evaluation.status, Status::Error);
        assert_eq!(r.evaluation.function_ends, Some(at("2023-11-04T00:00:00Z")));
    }

    #[test]
    fn without_a_check_in_the_connector_is_inactive_one_hour_after_its_last() {
        let r = run(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            &recorded("2024-10-01T00:00:00Z"),
            "2024-10-01T05:00:00Z",
            None,
        );
        assert_eq!(
            changes(&r),
            vec![(
                2,
                "2024-10-01T01:00:00+00:00".into(),
                "warning",
                vec!["Inactive"]
            )]
        );
        assert_eq!(r.recorded.seq, 2);
    }

    type Changes = Vec<(i64, String, &'static str, Vec<&'static str>)>;

    /// Inactive from 01:00 on 2024-10-01 (an hour after a check-in at midnight), healthy again
    /// at `back`.
    fn inactive_from_one_until(back: &str) -> Changes {
        vec![
            (
                2,
                "2024-10-01T01:00:00+00:00".into(),
                "warning",
                vec!["Inactive"],
            ),
            (3, back.into(), "healthy", vec![]),
        ]
    }

    #[test]
    fn a_check_in_after_a_gap_ends_the_inactivity_when_it_arrives() {
        let r = run(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            &recorded("2024-10-01T00:00:00Z"),
            "2024-10-01T05:00:00Z",
            Some(Presence::default()),
        );
        assert_eq!(
            changes(&r),
            inactive_from_one_until("2024-10-01T05:00:00+00:00")
        );
        assert_eq!(r.evaluation.status, Status::Healthy);
    }

    #[test]
    fn polling_since_after_a_gap_ends_the_inactivity_at_its_start() {
        let r = run(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            &recorded("2024-10-01T00:30:00Z"),
            "2024-10-01T02:30:00Z",
            Some(Presence {
                active_since: Some(at("2024-10-01T02:00:00Z")),
                health: None,
            }),
        );
        assert_eq!(
            changes(&r),
            inactive_from_one_until("2024-10-01T02:00:00+00:00")
        );
    }

    #[test]
    fn a_check_in_exactly_at_the_inactivity_boundary_records_nothing() {
        let r = run(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            &recorded("2024-10-01T00:00:00Z"),
            "2024-10-01T01:00:00Z",
            Some(Presence::default()),
        );
        assert_eq!(changes(&r), vec![]);
        assert_eq!((r.recorded.seq, r.recorded.last), (1, Some(healthy())));
    }

    #[test]
    fn a_gap_in_health_uploads_shows_until_the_next_upload() {
        let mut f = facts("6.2406.0.1001", "2024-10-01T00:00:00Z");
        f.last_health = Some(at("2024-10-01T00:00:00Z"));
        let gap = run(
            f.clone(),
            &recorded("2024-10-01T00:00:00Z"),
            "2024-10-01T00:40:00Z",
            Some(Presence {
                active_since: Some(at("2024-10-01T00:00:00Z")),
                health: Some(None),
            }),
        );
        assert_eq!(
            changes(&gap),
            vec![
                (
                    2,
                    "2024-10-01T00:15:00+00:00".into(),
                    "warning",
                    vec!["HealthUploadFailing"]
                ),
                (3, "2024-10-01T00:40:00+00:00".into(), "healthy", vec![]),
            ]
        );
        // Uploads claimed continuous since the last one: no gap to record.
        let continuous = run(
            f,
            &recorded("2024-10-01T00:00:00Z"),
            "2024-10-01T00:40:00Z",
            Some(Presence {
                active_since: Some(at("2024-10-01T00:00:00Z")),
                health: Some(Some(at("2024-10-01T00:05:00Z"))),
            }),
        );
        assert_eq!(changes(&continuous), vec![]);
    }

    #[test]
    fn a_history_with_nothing_readable_records_the_status_at_its_start() {
        let r = run(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            &Recorded {
                until: at("2024-10-01T00:10:00Z"),
                last: None,
                seq: 7,
            },
            "2024-10-01T00:20:00Z",
            None,
        );
        assert_eq!(
            changes(&r),
            vec![(8, "2024-10-01T00:10:00+00:00".into(), "healthy", vec![])]
        );
    }

    #[test]
    fn segments_cut_the_span_where_the_facts_change() {
        let spans: Vec<(String, String, Option<String>)> = segments(
            facts("6.2406.0.1001", "2024-10-01T00:00:00Z"),
            at("2024-10-01T00:30:00Z"),
            at("2024-10-01T02:30:00Z"),
            Some(Presence {
                active_since: Some(at("2024-10-01T02:00:00Z")),
                health: Some(None),
            }),
        )
        .into_iter()
        .map(|s| {
            (
                s.from.to_rfc3339(),
                s.to.to_rfc3339(),
                s.facts.last_health.map(|h| h.to_rfc3339()),
            )
        })
        .collect();
        assert_eq!(
            spans,
            vec![
                (
                    "2024-10-01T00:30:00+00:00".into(),
                    "2024-10-01T02:00:00+00:00".into(),
                    None
                ),
                (
                    "2024-10-01T02:00:00+00:00".into(),
                    "2024-10-01T02:30:00+00:00".into(),
                    None
                ),
                (
                    "2024-10-01T02:30:00+00:00".into(),
                    "2024-10-01T02:30:00+00:00".into(),
                    Some("2024-10-01T02:30:00+00:00".into())
                ),
            ]
        );
    }
}
