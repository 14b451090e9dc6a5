//! The connector's event log: every event the docs list (ID, name, channel, task category), and
//! a JSON-lines sink per channel with the docs' size limit and automatic archiving.
//!
//! The connector writes events by [`EventId`]; a record carries the event's number, as the log
//! file and scenario files do. Record fields: `time, channel, level, event_id, name, task,
//! connector_id, correlation_id, message, data` (docs/behaviour.md, "Event log"). When a channel file would pass its size limit it is renamed to
//! `Archive-<Channel>-<UTC timestamp>.jsonl` and a new file starts; at most `max_archives` are kept.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Channel {
    Admin,
    Operational,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Admin => "Admin",
            Channel::Operational => "Operational",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    Information,
    Warning,
    Error,
    Debug,
}

/// One event the docs define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDef {
    pub id: EventId,
    pub name: &'static str,
    pub channel: Channel,
    /// The task category (the docs' section the event is listed under).
    pub task: &'static str,
    pub level: Level,
    pub description: &'static str,
}

use Channel::{Admin, Operational};
use Level::{Error, Information as Info, Warning as Warn};

/// Writes [`EventId`], its [`EventId::def`] and [`CATALOG`] from one list, so the three cannot
/// disagree. An entry is `Variant = id [as "Name"], channel, "task", level, "description"`; the
/// name is the variant's unless given.
macro_rules! catalog {
    ($($variant:ident = $id:literal $(as $name:literal)?, $channel:ident, $task:literal, $level:ident, $description:literal;)*) => {
        /// An event ID of the catalog: the only IDs the connector writes. Scenario files name
        /// events by number; [`EventId::from_number`] reads one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum EventId {
            $($variant = $id,)*
        }

        impl EventId {
            /// The event with this number, if the catalog has one.
            pub const fn from_number(number: u16) -> Option<EventId> {
                match number {
                    $($id => Some(EventId::$variant),)*
                    _ => None,
                }
            }

            /// The catalog's entry for this event.
            pub const fn def(self) -> &'static EventDef {
                match self {
                    $(EventId::$variant => &EventDef {
                        id: EventId::$variant,
                        name: catalog!(@name $variant $($name)?),
                        channel: $channel,
                        task: $task,
                        level: $level,
                        description: $description,
                    },)*
                }
            }
        }

        /// Every event ID listed in the product documentation, with the docs' own names
        /// (including `ScrepRequestSuccess` for 4000, as the docs spell it), and the general
        /// events of the 0001–0999 range ("not associated with any specific scenario"), which
        /// the docs do not list one by one: their names are this project's.
        pub const CATALOG: &[EventDef] = &[$(*EventId::$variant.def(),)*];
    };
    (@name $variant:ident $name:literal) => { $name };
    (@name $variant:ident) => { stringify!($variant) };
}

impl EventId {
    /// The number the log writes and scenario files use.
    pub const fn number(self) -> u16 {
        self as u16
    }
}

#[rustfmt::skip]
catalog! {
    ConnectorServiceStarted = 1, Operational, "General", Info, "The Certificate Connector service started.";
    ConnectorServiceStopped = 2, Operational, "General", Info, "The Certificate Connector service stopped.";
    ConnectorConfiguration = 3, Operational, "General", Info, "The connector's configuration, logged at start and on each change.";
    AutoUpdateInstalled = 10, Operational, "General", Info, "Installed a newer connector version from the auto-update service.";
    AutoUpdateCheckFailed = 11, Operational, "General", Warn, "Could not reach the auto-update service; will try again.";
    PkcsRequestSuccess = 1000, Admin, "PKCS", Info, "Successfully uploaded a PKCS Request to Intune.";
    PkcsRequestFailure = 1001, Admin, "PKCS", Error, "Failed to fulfill or upload a PKCS Request to Intune.";
    PkcsRecryptRequestSuccess = 1200, Admin, "PKCS", Info, "Successfully processed PKCS Reencrypt request.";
    PkcsRecryptRequestFailure = 1201, Admin, "PKCS", Error, "Failed to process PKCS Reencrypt request.";
    PkcsDownloadSuccess = 1002, Operational, "PKCS", Info, "Successfully downloaded PKCS requests from Intune.";
    PkcsDownloadFailure = 1003, Operational, "PKCS", Error, "Failed to download PKCS requests from Intune.";
    PkcsDownloadedRequest = 1020, Operational, "PKCS", Info, "Successfully downloaded PKCS request from Intune";
    PkcsDigiCertRequest = 1032, Operational, "PKCS", Info, "Successfully downloaded a PKCS request for DigiCert CA from Intune.";
    PkcsIssuedSuccess = 1050, Operational, "PKCS", Info, "Successfully issued a PKCS certificate.";
    PkcsIssuedFailedAttempt = 1051, Operational, "PKCS", Warn, "Failed to issue a PKCS certificate, will try again.";
    PkcsIssuedFailure = 1052, Operational, "PKCS", Error, "Failed to issue a PKCS certificate.";
    PkcsUploadSuccess = 1100, Operational, "PKCS", Info, "Successfully uploaded PKCS request results to Intune.";
    PkcsUploadFailure = 1101, Operational, "PKCS", Error, "Failed to upload PKCS request results to Intune.";
    PkcsUploadedRequest = 1102, Operational, "PKCS", Info, "Successfully uploaded PKCS request to Intune.";
    PkcsRecryptDownloadSuccess = 1202, Operational, "PKCS", Info, "Successfully downloaded PKCS Reencrypt requests.";
    PkcsRecryptDownloadFailure = 1203, Operational, "PKCS", Error, "Failed to download PKCS Reencrypt requests.";
    PkcsRecryptDownloadedRequest = 1220, Operational, "PKCS", Info, "Successfully downloaded a PKCS Reencrypt request.";
    PkcsRecryptReencryptSuccess = 1250, Operational, "PKCS", Info, "Successfully re-encrypted PKCS certificate payload.";
    PkcsRecryptDecryptSuccess = 1251, Operational, "PKCS", Info, "Successfully decrypted PKCS certificate payload.";
    PkcsRecryptDecryptFailure = 1252, Operational, "PKCS", Error, "Failed to decrypt PKCS certificate payload.";
    PkcsRecryptReencryptFailure = 1253, Operational, "PKCS", Error, "Failed to re-encrypt PKCS certificate payload.";
    PkcsRecryptUploadSuccess = 1300, Operational, "PKCS", Info, "Successfully uploaded PKCS Reencrypt request results to Intune.";
    PkcsRecryptUploadFailure = 1301, Operational, "PKCS", Error, "Failed to upload PKCS Reencrypt request results to Intune.";
    PkcsRecryptUploadedRequest = 1302, Operational, "PKCS", Info, "Successfully uploaded a PKCS Reencrypt request to Intune.";
    PkcsImportRequestSuccess = 2000, Admin, "PKCS Import", Info, "Successfully downloaded PKCS Import requests from Intune.";
    PkcsImportRequestFailure = 2001, Admin, "PKCS Import", Error, "Failed to process a PKCS Import request from Intune.";
    PkcsImportDownloadSuccess = 2202, Operational, "PKCS Import", Info, "Successfully downloaded PKCS Import requests from Intune.";
    PkcsImportDownloadFailure = 2203, Operational, "PKCS Import", Error, "Failed to download PKCS Import requests from Intune.";
    PkcsImportDownloadedRequest = 2020, Operational, "PKCS Import", Info, "Successfully downloaded a PKCS Import request from Intune.";
    PkcsImportReencryptSuccess = 2050, Operational, "PKCS Import", Info, "Successfully re-encrypted a PKCS Import certificate.";
    PkcsImportReencryptFailedAttempt = 2051, Operational, "PKCS Import", Warn, "Failed to re-encrypt a PKCS Import certificate, will try again.";
    PkcsImportReencryptFailure = 2052, Operational, "PKCS Import", Error, "Failed to re-encrypt an imported certificate.";
    PkcsImportUploadSuccess = 2100, Operational, "PKCS Import", Info, "Successfully uploaded PKCS Import request results to Intune.";
    PkcsImportUploadFailure = 2101, Operational, "PKCS Import", Error, "Failed to upload PKCS request results to Intune.";
    PkcsImportUploadedRequest = 2102, Operational, "PKCS Import", Info, "Successfully uploaded a PKCS Import request to Intune.";
    RevokeRequestSuccess = 3000, Admin, "Revocation", Info, "Successfully downloaded Revocation requests from Intune.";
    RevokeRequestFailure = 3001, Admin, "Revocation", Error, "A failure occurred when downloading Revocation requests from Intune.";
    RevokeDownloadSuccess = 3002, Operational, "Revocation", Info, "Successfully downloaded Revocation requests from Intune.";
    RevokeDownloadFailure = 3003, Operational, "Revocation", Error, "A failure occurred when downloading Revocation requests from Intune.";
    RevokeDownloadedRequest = 3020, Operational, "Revocation", Info, "Details of a single downloaded request from Intune";
    RevokeDigicertRequest = 3032, Operational, "Revocation", Info, "Received revoke request from Intune and forwarding request to Digicert for fulfillment of request.";
    RevokeSuccess = 3050, Operational, "Revocation", Info, "Successfully revoked certificate.";
    RevokeFailure = 3051, Operational, "Revocation", Error, "A failure occurred while revoking a certificate.";
    RevokeFailedAttempt = 3052, Operational, "Revocation", Warn, "Failed to revoke a certificate, will try again.";
    RevokeUploadSuccess = 3100, Operational, "Revocation", Info, "Successfully uploaded Revocation request results to Intune.";
    RevokeUploadFailure = 3101, Operational, "Revocation", Error, "Failed to upload Revocation request results to Intune.";
    RevokeUploadedRequest = 3102, Operational, "Revocation", Info, "Successfully uploaded Revocation request to Intune.";
    ScepRequestSuccess = 4000 as "ScrepRequestSuccess", Admin, "SCEP", Info, "Successfully processed a SCEP request and notified Intune.";
    ScepRequestIssuedFailure = 4001, Admin, "SCEP", Error, "Failed to process a SCEP request and notified Intune.";
    ScepRequestUploadFailure = 4002, Admin, "SCEP", Error, "Successfully processed SCEP request but failed to notify Intune.";
    ScepRequestReceived = 4003, Operational, "SCEP", Info, "Successfully received a SCEP request from a device.";
    ScepVerifySuccess = 4004, Operational, "SCEP", Info, "Successfully verified a SCEP request with Intune.";
    ScepVerifyFailure = 4005, Operational, "SCEP", Error, "Failed to verify a SCEP request with Intune.";
    ScepIssuedSuccess = 4006, Operational, "SCEP", Info, "Successfully issued certificate for a SCEP request.";
    ScepIssuedFailure = 4007, Operational, "SCEP", Error, "Failed to issue certificate for SCEP request.";
    ScepNotifySuccess = 4008, Operational, "SCEP", Info, "Successfully notified Intune of the result for a SCEP request.";
    ScepNotifyAttemptFailed = 4009, Operational, "SCEP", Warn, "Failed to notify Intune of the result of a SCEP request, will try again.";
    ScepNotifySaveToDiskFailed = 4010, Operational, "SCEP", Error, "Failed to write notification to disk and cannot notify Intune of the request status.";
    HealthMessageUploadSuccess = 5000, Operational, "Connector Health", Info, "Successfully uploaded health messages to Intune.";
    HealthMessageUploadFailedAttempt = 5001, Operational, "Connector Health", Warn, "Failed to upload health messages to Intune, will try again.";
    HealthMessageUploadFailure = 5002, Operational, "Connector Health", Error, "Failed to upload health messages to Intune.";
}

/// The catalog's entry for event number `id`, if it has one.
pub fn lookup(id: u16) -> Option<&'static EventDef> {
    EventId::from_number(id).map(EventId::def)
}

/// One written record. It is kept compact, because a long scenario keeps millions of them in
/// memory: the name and task category are the catalog's own text, the connector id is shared by
/// the log's records, and `data` is kept as the JSON text written to the channel file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub channel: Channel,
    pub level: Level,
    pub event_id: u16,
    pub name: &'static str,
    pub task: &'static str,
    #[serde(serialize_with = "as_str")]
    pub connector_id: Arc<str>,
    pub correlation_id: Option<String>,
    pub message: String,
    #[serde(serialize_with = "as_raw_json")]
    data: Box<str>,
}

impl Record {
    /// The record's `data` object.
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_default()
    }

    /// The record as one line for a person watching: time, channel, event ID (four digits, as
    /// the docs write them), name and message, e.g.
    /// `2026-03-01T10:00:00.000Z Operational 0001 ConnectorServiceStarted: The Certificate Connector service started.`
    pub fn line(&self) -> String {
        format!(
            "{} {} {:04} {}: {}",
            self.time
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.channel.as_str(),
            self.event_id,
            self.name,
            self.message
        )
    }
}

fn as_str<S: serde::Serializer>(text: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(text)
}

/// Writes JSON text as it is (it was written by `serde_json` from a value).
fn as_raw_json<S: serde::Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue =
        serde_json::from_str(text).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

/// The compact JSON text of an event's data.
fn json_text(data: &serde_json::Value) -> Box<str> {
    serde_json::to_string(data)
        .unwrap_or_else(|_| "null".to_owned())
        .into_boxed_str()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Folder for `Admin.jsonl`, `Operational.jsonl` and archives; `None` keeps records in memory only.
    pub dir: Option<PathBuf>,
    /// Size limit of one channel file in bytes (the docs' default: 50 MB).
    pub max_bytes: u64,
    pub max_archives: usize,
    /// Adds Debug records.
    pub debug: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            dir: None,
            max_bytes: 50 * 1024 * 1024,
            max_archives: 10,
            debug: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot write the event log in {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A log shared by a connector and its SCEP module.
pub type SharedLog = std::sync::Arc<std::sync::Mutex<EventLog>>;

/// Called with each record as it is written (`intune-mock connector` prints one line per event
/// on standard error with it).
pub type Echo = Arc<dyn Fn(&Record) + Send + Sync>;

/// The event log of one connector: every record is kept in memory (for the harness) and, when a
/// folder is set, appended to its channel file.
pub struct EventLog {
    settings: LogSettings,
    connector_id: Arc<str>,
    records: Vec<Record>,
    echo: Option<Echo>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("settings", &self.settings)
            .field("connector_id", &self.connector_id)
            .field("records", &self.records.len())
            .field("echo", &self.echo.is_some())
            .finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

impl EventLog {
    /// A log with `settings`. With a folder, the folder is made and tried now (a file created
    /// and removed in it, and the channel files that exist opened for appending), so a folder
    /// that cannot be written is an error before anything is logged (and before a connector
    /// registers).
    pub fn new(settings: LogSettings, connector_id: impl Into<String>) -> Result<Self, LogError> {
        if let Some(dir) = &settings.dir {
            fs::create_dir_all(dir).map_err(io(dir))?;
            let probe = dir.join(format!(".write-test-{}", std::process::id()));
            File::create(&probe).map_err(io(dir))?;
            fs::remove_file(&probe).map_err(io(dir))?;
            for channel in [Channel::Admin, Channel::Operational] {
                let path = dir.join(format!("{}.jsonl", channel.as_str()));
                if path.exists() {
                    OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .map_err(io(&path))?;
                }
            }
        }
        Ok(EventLog {
            settings,
            connector_id: Arc::from(connector_id.into()),
            records: Vec::new(),
            echo: None,
        })
    }

    pub fn set_connector_id(&mut self, id: impl Into<String>) {
        self.connector_id = Arc::from(id.into());
    }

    /// Calls `echo` with every record written from now on.
    pub fn set_echo(&mut self, echo: Echo) {
        self.echo = Some(echo);
    }

    /// Takes over the in-memory records and the echo of an earlier log (when the log moves to
    /// files).
    pub fn adopt(&mut self, earlier: EventLog) {
        let mut records = earlier.records;
        records.append(&mut self.records);
        self.records = records;
        if self.echo.is_none() {
            self.echo = earlier.echo;
        }
    }

    /// The folder the channel files go to (`None`: in memory only).
    pub fn dir(&self) -> Option<&Path> {
        self.settings.dir.as_deref()
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// How many records with event number `event_id` (and `channel`, if given) were written
    /// (scenario files count by number; Debug records carry 0).
    pub fn count(&self, event_id: u16, channel: Option<Channel>) -> usize {
        self.records
            .iter()
            .filter(|r| r.event_id == event_id && channel.is_none_or(|c| r.channel == c))
            .count()
    }

    /// Writes a catalog event.
    pub fn emit(
        &mut self,
        at: DateTime<Utc>,
        event_id: EventId,
        correlation_id: Option<&str>,
        message: impl Into<String>,
        data: serde_json::Value,
    ) -> Result<(), LogError> {
        let def = event_id.def();
        let record = Record {
            time: at,
            channel: def.channel,
            level: def.level,
            event_id: event_id.number(),
            name: def.name,
            task: def.task,
            connector_id: self.connector_id.clone(),
            correlation_id: correlation_id.map(str::to_owned),
            message: message.into(),
            data: json_text(&data),
        };
        self.write(record)
    }

    /// A Debug record (only at the debug level).
    pub fn debug(
        &mut self,
        at: DateTime<Utc>,
        channel: Channel,
        correlation_id: Option<&str>,
        message: impl Into<String>,
        data: serde_json::Value,
    ) -> Result<(), LogError> {
        if !self.settings.debug {
            return Ok(());
        }
        let record = Record {
            time: at,
            channel,
            level: Level::Debug,
            event_id: 0,
            name: "Debug",
            task: "Debug",
            connector_id: self.connector_id.clone(),
            correlation_id: correlation_id.map(str::to_owned),
            message: message.into(),
            data: json_text(&data),
        };
        self.write(record)
    }

    fn write(&mut self, record: Record) -> Result<(), LogError> {
        if let Some(dir) = self.settings.dir.clone() {
            let mut line = serde_json::to_vec(&record).unwrap_or_default();
            line.push(b'\n');
            let path = dir.join(format!("{}.jsonl", record.channel.as_str()));
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size > 0 && size + line.len() as u64 > self.settings.max_bytes {
                self.archive(&dir, record.channel, &path, record.time)?;
            }
            let mut file: File = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            file.write_all(&line).map_err(io(&path))?;
        }
        if let Some(echo) = &self.echo {
            echo(&record);
        }
        self.records.push(record);
        Ok(())
    }

    /// Renames the full channel file to `Archive-<Channel>-<UTC timestamp>.jsonl` and drops the
    /// oldest archives beyond the limit.
    fn archive(
        &self,
        dir: &Path,
        channel: Channel,
        path: &Path,
        at: DateTime<Utc>,
    ) -> Result<(), LogError> {
        let stamp = at.format("%Y%m%dT%H%M%S%3fZ");
        let mut target = dir.join(format!("Archive-{}-{stamp}.jsonl", channel.as_str()));
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("Archive-{}-{stamp}-{n}.jsonl", channel.as_str()));
            n += 1;
        }
        fs::rename(path, &target).map_err(io(path))?;
        let prefix = format!("Archive-{}-", channel.as_str());
        let mut archives: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect();
        archives.sort();
        while archives.len() > self.settings.max_archives {
            let oldest = archives.remove(0);
            fs::remove_file(&oldest).map_err(io(&oldest))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_catalog_holds_every_documented_event_once_with_its_channel_and_task() {
        assert_eq!(CATALOG.len(), 66);
        let mut ids: Vec<u16> = CATALOG.iter().map(|e| e.id.number()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 66);
        let screp = lookup(4000).unwrap();
        assert_eq!(
            (screp.name, screp.channel, screp.task),
            ("ScrepRequestSuccess", Channel::Admin, "SCEP")
        );
        let import = lookup(2202).unwrap();
        assert_eq!(
            (import.name, import.channel, import.task),
            (
                "PkcsImportDownloadSuccess",
                Channel::Operational,
                "PKCS Import"
            )
        );
        let health = lookup(5001).unwrap();
        assert_eq!(
            (health.name, health.channel, health.task),
            (
                "HealthMessageUploadFailedAttempt",
                Channel::Operational,
                "Connector Health"
            )
        );
        assert!(lookup(4011).is_none());
    }

    #[test]
    fn an_event_id_is_its_catalog_number_both_ways() {
        assert_eq!(EventId::AutoUpdateCheckFailed.number(), 11);
        assert_eq!(
            EventId::from_number(1000),
            Some(EventId::PkcsRequestSuccess)
        );
        assert_eq!(
            EventId::from_number(4000),
            Some(EventId::ScepRequestSuccess)
        );
        assert_eq!(
            EventId::ScepRequestSuccess.def().name,
            "ScrepRequestSuccess"
        );
        assert_eq!(
            EventId::HealthMessageUploadFailure.def().level,
            Level::Error
        );
        for def in CATALOG {
            assert_eq!(EventId::from_number(def.id.number()), Some(def.id));
            assert_eq!(def.id.def(), def);
        }
        assert_eq!(EventId::from_number(0), None);
    }

    #[test]
    fn a_full_channel_file_is_archived_and_no_record_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LogSettings {
            dir: Some(dir.path().to_owned()),
            max_bytes: 2_000,
            max_archives: 100,
            debug: false,
        };
        let mut log = EventLog::new(settings, "c-1").unwrap();
        for i in 0..60 {
            let at = Utc.with_ymd_and_hms(2024, 10, 1, 0, 0, i).unwrap();
            log.emit(
                at,
                EventId::PkcsDownloadSuccess,
                Some("corr"),
                "downloaded",
                serde_json::json!({"n": i}),
            )
            .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.len() > 2, "{names:?}");
        assert!(names
            .iter()
            .filter(|n| *n != "Operational.jsonl")
            .all(|n| n.starts_with("Archive-Operational-2024100")));
        let mut lines = 0;
        for name in &names {
            let text = fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.len() <= 2_000, "{name} is {} bytes", text.len());
            lines += text.lines().count();
        }
        assert_eq!(lines, 60);
        assert_eq!(log.count(1002, Some(Channel::Operational)), 60);
    }

    #[test]
    fn an_unknown_event_id_is_refused_and_debug_records_need_the_debug_level() {
        let mut log = EventLog::new(LogSettings::default(), "c-1").unwrap();
        let at = Utc.with_ymd_and_hms(2024, 10, 1, 0, 0, 0).unwrap();
        // `emit` takes an EventId, so an ID outside the catalog cannot be written; a number
        // from a scenario file is looked up.
        assert_eq!(EventId::from_number(999), None);
        assert!(lookup(999).is_none());
        log.debug(
            at,
            Channel::Operational,
            None,
            "hidden",
            serde_json::Value::Null,
        )
        .unwrap();
        assert!(log.records().is_empty());
    }
}
