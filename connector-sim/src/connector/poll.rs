//! Polling on the grid `installed + k × poll_interval`: the harness asks
//! [`Connector::poll_due`] and calls [`Connector::poll`] once for any number of grid points it
//! skipped while nothing could change (docs/behaviour.md, "Time"); such a coalesced check-in
//! tells the service the connector has been polling without a gap since its last successful
//! check-in. A poll also asks the auto-update service and uploads the health message when due.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;

use super::Connector;
use crate::client::ClientError;
use crate::events::EventId;

impl Connector {
    /// The next grid instant at which this connector polls, if it is running.
    pub fn next_poll(&self) -> Option<DateTime<Utc>> {
        self.running.then_some(self.next_poll)
    }

    /// True when at least one poll falls in `(last poll, now]`.
    pub fn poll_due(&self, now: DateTime<Utc>) -> bool {
        self.running && self.next_poll <= now
    }

    /// The last grid instant at or before `limit` at which this connector polls, if a poll is
    /// due by then: where a coalesced poll for the span up to `limit` belongs.
    pub fn poll_point(&self, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.poll_due(limit) {
            return None;
        }
        let interval_ms = self.config.poll_interval.num_milliseconds().max(1);
        let elapsed_ms = (limit - self.installed_at).num_milliseconds().max(0);
        let point =
            self.installed_at + Duration::milliseconds(elapsed_ms / interval_ms * interval_ms);
        Some(point.max(self.next_poll))
    }

    /// Performs the polls due by `now` as one coalesced poll, and moves to the next grid point.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<(), ClientError> {
        let interval_ms = self.config.poll_interval.num_milliseconds().max(1);
        let elapsed_ms = (now - self.installed_at).num_milliseconds().max(0);
        self.next_poll = self.installed_at
            + Duration::milliseconds((elapsed_ms / interval_ms + 1) * interval_ms);
        if self.config.auto_update && now >= self.next_update_check {
            self.check_update(now).await;
            self.next_update_check = now + self.config.update_check_interval;
        }
        // A health message that went through is this poll's check-in too (the service records
        // it as one); only a poll without one checks in on its own.
        let uploaded = now >= self.next_health && self.upload_health(now).await;
        let checked_in = if uploaded {
            Ok(())
        } else {
            self.checkin(now).await
        };
        if let Some(scep) = &self.scep {
            scep.drain(now).await;
        }
        checked_in
    }

    /// Asks the auto-update service for a newer version available to the tenant and installs
    /// it: the connector keeps its id, credential, features, keys and queue work; the new
    /// version is what its next check-in reports. True when it updated.
    pub async fn check_update(&mut self, now: DateTime<Utc>) -> bool {
        let correlation_id = self.correlation.next_id();
        let answer: Result<Option<wire::connector::UpdateInfo>, ClientError> = self
            .call::<(), _>(Method::GET, "/autoupdate/v1/latest", &correlation_id, None)
            .await;
        self.debug_call(
            now,
            "GET",
            "/autoupdate/v1/latest",
            &correlation_id,
            &answer,
        );
        match answer {
            Ok(Some(info)) => match info.latest_version.filter(|_| info.update_available) {
                Some(latest) => {
                    if let Err(refusal) = offered_version(&self.version, &latest) {
                        self.event(
                            now,
                            EventId::AutoUpdateCheckFailed,
                            &correlation_id,
                            &format!("The auto-update service offered {refusal}; the connector keeps version {} and will ask again.", self.version),
                            serde_json::json!({"error": refusal, "offered": latest}),
                        );
                        return false;
                    }
                    let from = std::mem::replace(&mut self.version, latest.clone());
                    self.event(
                        now,
                        EventId::AutoUpdateInstalled,
                        &correlation_id,
                        &format!("Updated the connector from {from} to {latest}."),
                        serde_json::json!({"from": from, "to": latest, "availableDateTime": info.available_date_time}),
                    );
                    true
                }
                None => false,
            },
            Ok(None) => false,
            Err(e) => {
                self.event(
                    now,
                    EventId::AutoUpdateCheckFailed,
                    &correlation_id,
                    &format!("Could not reach the auto-update service: {e}; will try again."),
                    serde_json::json!({"error": e.to_string(), "status": e.status()}),
                );
                false
            }
        }
    }

    /// Uploads a health message now (it also counts as a check-in): version, features, enrolled
    /// date, whether the import key is configured, and the requests handled since the last
    /// message (counted from the Admin log). 5000 on success; 5001 for a failed attempt (tried
    /// again at the next poll); 5002 when three attempts in a row failed (that message is given
    /// up).
    pub async fn upload_health(&mut self, now: DateTime<Utc>) -> bool {
        let (counters, cursor) = {
            let log = self.log();
            let records = log.records();
            let mut counters = std::collections::BTreeMap::new();
            for record in &records[self.health_cursor.min(records.len())..] {
                let Some(id) = EventId::from_number(record.event_id) else {
                    continue;
                };
                let key = match id {
                    EventId::PkcsRequestSuccess => "pkcsSuccess",
                    EventId::PkcsRequestFailure => "pkcsFailure",
                    EventId::PkcsRecryptRequestSuccess => "pkcsRecryptSuccess",
                    EventId::PkcsRecryptRequestFailure => "pkcsRecryptFailure",
                    EventId::PkcsImportRequestSuccess => "pkcsImportSuccess",
                    EventId::PkcsImportRequestFailure => "pkcsImportFailure",
                    EventId::RevokeRequestSuccess => "revokeSuccess",
                    EventId::RevokeRequestFailure => "revokeFailure",
                    EventId::ScepRequestSuccess => "scepSuccess",
                    EventId::ScepRequestIssuedFailure | EventId::ScepRequestUploadFailure => {
                        "scepFailure"
                    }
                    _ => continue,
                };
                *counters.entry(key.to_owned()).or_insert(0u64) += 1;
            }
            (counters, records.len())
        };
        let message = wire::connector::HealthMessage {
            version: self.version.clone(),
            features: super::config::feature_names(&self.config.features),
            enrolled_date_time: self.installed_at,
            import_key_configured: self.config.import_key_thumbprint.is_some(),
            counters,
            active_since: self.continuous_since,
            uploading_since: self.health_since,
        };
        let correlation_id = self.correlation.next_id();
        let outcome: Result<Option<serde_json::Value>, ClientError> = self
            .call(
                Method::POST,
                "/connector/v1/health",
                &correlation_id,
                Some(&message),
            )
            .await;
        self.debug_call(
            now,
            "POST",
            "/connector/v1/health",
            &correlation_id,
            &outcome,
        );
        match outcome {
            Ok(_) => {
                self.health_since = Some(now);
                self.health_failures = 0;
                self.health_cursor = cursor;
                self.continuous_since = Some(now);
                self.next_health = now + self.config.health_interval;
                self.event(
                    now,
                    EventId::HealthMessageUploadSuccess,
                    &correlation_id,
                    "Uploaded a health message to Intune.",
                    serde_json::to_value(&message.counters).unwrap_or_default(),
                );
                true
            }
            Err(e) => {
                self.health_since = None;
                self.health_failures += 1;
                if self.health_failures >= 3 {
                    self.health_failures = 0;
                    self.health_cursor = cursor;
                    self.next_health = now + self.config.health_interval;
                    self.event(
                        now,
                        EventId::HealthMessageUploadFailure,
                        &correlation_id,
                        &format!("Failed to upload a health message to Intune three times: {e}; it is dropped."),
                        serde_json::json!({"error": e.to_string(), "status": e.status()}),
                    );
                } else {
                    self.event(
                        now,
                        EventId::HealthMessageUploadFailedAttempt,
                        &correlation_id,
                        &format!("Failed to upload a health message to Intune: {e}; will try again."),
                        serde_json::json!({"error": e.to_string(), "status": e.status(), "attempt": self.health_failures}),
                    );
                }
                false
            }
        }
    }
}

/// Checks a version the auto-update service offers: four numeric parts and newer than the
/// installed one. The refusal says what was wrong.
fn offered_version(installed: &str, offered: &str) -> Result<(), String> {
    let offered_v = wire::version::Version::parse(offered)
        .map_err(|e| format!("a version that does not parse ({e})"))?;
    match wire::version::Version::parse(installed) {
        Ok(current) if offered_v <= current => Err(format!(
            "version {offered}, which is not newer than the installed {installed}"
        )),
        _ => Ok(()),
    }
}
