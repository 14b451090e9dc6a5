//! The SCEP notification spool: a success or failure notification Intune did not take is written
//! to disk (one JSON file each, written to a temporary name and renamed, so a crash leaves either
//! the old file or the new one) and sent again with backoff until Intune takes it.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spooled {
    /// `success` or `failure`.
    pub kind: String,
    pub transaction_id: String,
    /// The body's `notification` object, as it will be sent.
    pub notification: serde_json::Value,
    pub attempts: u32,
    pub next_attempt_date_time: DateTime<Utc>,
    pub correlation_id: String,
}

/// First retry after one minute, doubling, at most an hour apart.
pub fn backoff(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.saturating_sub(1).min(6);
    Duration::minutes(minutes.min(60))
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
}

/// A file of the spool, and what it holds (`None`: it does not parse; it is kept aside).
pub type Entry = (PathBuf, Option<Spooled>);

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes (or rewrites) the entry for `item`. Its file name comes from the kind, the
    /// transaction and the notification's own correlation id, so two notifications never share
    /// a file and a rewrite (after a failed retry) replaces only its own. The bytes reach the
    /// disk (`sync_all`) before the rename makes them visible.
    pub fn save(&self, item: &Spooled) -> std::io::Result<PathBuf> {
        use std::io::Write as _;
        fs::create_dir_all(&self.dir)?;
        let safe = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(80)
                .collect()
        };
        let name = format!(
            "{}-{}-{}.json",
            item.kind,
            safe(&item.transaction_id),
            safe(&item.correlation_id)
        );
        let path = self.dir.join(&name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec_pretty(item).map_err(std::io::Error::other)?;
        let mut file = fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, &path)?;
        Ok(path)
    }

    /// Every entry, oldest due first. A file that does not parse as a notification is renamed
    /// `*.bad-N` (kept, not retried) and listed with `None`; a file that cannot be read now (or
    /// vanished meanwhile) is skipped and looked at again next time.
    pub fn entries(&self) -> std::io::Result<Vec<Entry>> {
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in listing {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            match serde_json::from_slice::<Spooled>(&bytes) {
                Ok(item) => out.push((path, Some(item))),
                Err(_) => {
                    let mut n = 1;
                    let mut bad = path.with_extension(format!("json.bad-{n}"));
                    while bad.exists() {
                        n += 1;
                        bad = path.with_extension(format!("json.bad-{n}"));
                    }
                    match fs::rename(&path, &bad) {
                        Ok(()) => out.push((bad, None)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            let key = |e: &Entry| e.1.as_ref().map(|s| s.next_attempt_date_time);
            key(a).cmp(&key(b)).then_with(|| a.0.cmp(&b.0))
        });
        Ok(out)
    }

    /// How many notifications wait.
    pub fn len(&self) -> usize {
        self.entries()
            .map(|e| e.iter().filter(|(_, s)| s.is_some()).count())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn remove(&self, path: &Path) -> std::io::Result<()> {
        fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(tx: &str, at: DateTime<Utc>) -> Spooled {
        Spooled {
            kind: "success".into(),
            transaction_id: tx.into(),
            notification: serde_json::json!({"transactionId": tx}),
            attempts: 1,
            next_attempt_date_time: at,
            correlation_id: "c".into(),
        }
    }

    #[test]
    fn backoff_doubles_from_one_minute_to_an_hour() {
        let minutes: Vec<i64> = (1..=9).map(|a| backoff(a).num_minutes()).collect();
        assert_eq!(minutes, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn entries_come_back_in_due_order_and_a_rewrite_replaces_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        let t = |m| Utc.with_ymd_and_hms(2025, 3, 1, 10, m, 0).unwrap();
        spool.save(&item("b/2", t(5))).unwrap();
        spool.save(&item("a 1", t(1))).unwrap();
        let mut again = item("b/2", t(0));
        again.attempts = 2;
        spool.save(&again).unwrap();
        // Another notification of the same transaction and kind has a file of its own.
        let mut other = item("b/2", t(9));
        other.correlation_id = "d".into();
        spool.save(&other).unwrap();
        let entries = spool.entries().unwrap();
        let txs: Vec<(String, u32)> = entries
            .iter()
            .map(|(_, s)| {
                let s = s.as_ref().unwrap();
                (s.transaction_id.clone(), s.attempts)
            })
            .collect();
        assert_eq!(
            txs,
            vec![
                ("b/2".to_string(), 2),
                ("a 1".to_string(), 1),
                ("b/2".to_string(), 1)
            ]
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_kept_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        fs::write(dir.path().join("success-x.json"), b"{not json").unwrap();
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].1.is_none());
        assert!(dir.path().join("success-x.json.bad-1").exists());
        assert_eq!(spool.len(), 0);
    }

    #[test]
    fn a_spool_path_that_is_a_file_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("spool");
        fs::write(&blocked, b"a file, not a folder").unwrap();
        let spool = Spool::new(&blocked);
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
        assert!(spool.save(&item("x", t)).is_err());
    }
}
