//! The request journal: the last requests the service answered (capped; the oldest go first),
//! with the `client-request-id` a connector also writes in its event log, so the two can be
//! joined (`GET /admin/journal?correlationId=…`).

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Entries kept by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub client_request_id: Option<String>,
    pub request_id: Option<String>,
    pub duration_micros: u64,
}

#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<Entry>>,
}

impl Journal {
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every entry; answers how many there were.
    pub fn clear(&self) -> usize {
        let mut entries = self.entries();
        let n = entries.len();
        entries.clear();
        n
    }

    pub fn record(&self, entry: Entry) {
        let mut entries = self.entries();
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// Entries (oldest first) whose client-request-id is `correlation_id` and whose path contains
    /// `route` (case-insensitive), at most `limit` of the newest.
    pub fn find(
        &self,
        correlation_id: Option<&str>,
        route: Option<&str>,
        limit: usize,
    ) -> Vec<Entry> {
        let route = route.map(str::to_ascii_lowercase);
        let entries = self.entries();
        let mut found: Vec<Entry> = entries
            .iter()
            .rev()
            .filter(|e| correlation_id.is_none_or(|c| e.client_request_id.as_deref() == Some(c)))
            .filter(|e| {
                route
                    .as_deref()
                    .is_none_or(|r| e.path.to_ascii_lowercase().contains(r))
            })
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        found
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32, correlation: &str) -> Entry {
        Entry {
            at: DateTime::from_timestamp(1_772_323_200 + n as i64, 0).unwrap(),
            method: "POST".into(),
            path: format!("/connector/v1/checkin/{n}"),
            status: 200,
            client_request_id: Some(correlation.into()),
            request_id: None,
            duration_micros: 1,
        }
    }

    #[test]
    fn the_oldest_entries_go_first_and_filters_combine() {
        let journal = Journal::new(3);
        for n in 0..5 {
            journal.record(entry(n, if n % 2 == 0 { "even" } else { "odd" }));
        }
        assert_eq!(journal.len(), 3);
        let paths = |found: Vec<Entry>| found.into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(
            paths(journal.find(None, None, 10)),
            [
                "/connector/v1/checkin/2",
                "/connector/v1/checkin/3",
                "/connector/v1/checkin/4"
            ]
        );
        assert_eq!(
            paths(journal.find(Some("even"), None, 10)),
            ["/connector/v1/checkin/2", "/connector/v1/checkin/4"]
        );
        assert_eq!(
            paths(journal.find(Some("even"), Some("CHECKIN/4"), 10)),
            ["/connector/v1/checkin/4"]
        );
        assert_eq!(
            paths(journal.find(None, None, 1)),
            ["/connector/v1/checkin/4"]
        );
    }
}
