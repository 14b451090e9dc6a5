//! The scenario file format (TOML) and its validation.
//!
//! Parsing is strict: unknown keys, bad values and dangling references are errors that name the
//! file and line. Versions, durations, features and reason codes are checked with the same parsers
//! the service uses, so a scenario cannot say something the service would not understand; the
//! *expected values* stay what the file says. The format is documented in `scenarios/README.md`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use service::domain::{Feature, IsoDuration, ReasonCode, Version};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub tenants: Vec<TenantSpec>,
    pub connectors: Vec<ConnectorSpec>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub name: String,
    pub rollout_delay_days: u32,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationSpec {
    pub text: String,
    pub months: u32,
    pub millis: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSpec {
    pub name: String,
    pub tenant: String,
    pub machine: String,
    pub display_name: String,
    pub features: Vec<String>,
    pub version: String,
    pub product: String,
    pub auto_update: bool,
    pub co_installed: Vec<String>,
    pub service_account: String,
    /// Holds the tenant's PFX-import key.
    pub import_key: bool,
    pub poll_interval: DurationSpec,
    /// How often an auto-updating connector asks the auto-update service (default PT1H).
    pub update_check_interval: DurationSpec,
    /// A faulty connector: its service dies right after each download and restarts, so what
    /// it downloads is never worked on (the leases run out).
    pub crash_after_download: bool,
    /// The event log in files: size limit per channel file, archives kept, Debug records.
    pub log: Option<LogSpec>,
    pub line: usize,
}

/// A connector whose event log goes to files (`log_max_bytes`, `log_archives`, `log_debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub max_bytes: u64,
    pub archives: usize,
    pub debug: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: usize,
    pub note: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSpec {
    pub connector: ConnectorSpec,
    pub count: Option<u32>,
    pub expect_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconfigureSpec {
    pub connector: String,
    pub features: Option<Vec<String>>,
    pub service_account: Option<String>,
    pub display_name: Option<String>,
    pub import_key: Option<bool>,
    pub auto_update: Option<bool>,
    pub co_installed: Option<Vec<String>>,
    pub expect_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSpec {
    pub version: String,
    pub date: DateTime<Utc>,
}

/// Makes a certification authority reachable or not (`ca` is a name of [`CA_NAMES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCaSpec {
    pub ca: String,
    pub available: Option<bool>,
    /// Accounts that lose / get the Enroll permission on the CA's templates (embedded CA only).
    pub deny_enroll: Vec<String>,
    pub allow_enroll: Vec<String>,
}

/// The certification authorities every scenario has: an embedded Microsoft-CA-like issuer and
/// a DigiCert-like CA service reached over HTTP.
pub const CA_NAMES: &[&str] = &["ca01.contoso.com\\Contoso Issuing CA", "DigiCert"];

/// The built-in enqueue profiles.
pub const PROFILES: &[&str] = &["default", "digicert", "rsa2048", "wrong_key"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueSpec {
    pub tenant: String,
    pub kind: String,
    pub count: u32,
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub target: String,
    /// Only the calls of this tenant (its connectors, its Graph tokens).
    pub tenant: Option<String>,
    /// Only the calls of this connector.
    pub connector: Option<String>,
    pub kind: Option<String>,
    pub status: Option<u16>,
    pub probability: Option<f64>,
    pub count: Option<u32>,
    pub duration: Option<DurationSpec>,
    pub delay: Option<DurationSpec>,
}

/// A device enrolls through the connector's SCEP endpoint (PKCSReq, RSA-2048, AES-256/SHA-256):
/// with `target`'s profile and challenge (or `challenge` instead), spoiled as `spoil` says.
/// `expect`: `issued`, `pending` (the CA could not be reached), `failed` (Intune could not be
/// asked or the CA failed) or the validation code that refused it (`ChallengeExpired`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepEnrollSpec {
    pub connector: String,
    pub target: String,
    pub challenge: Option<String>,
    pub spoil: Option<String>,
    pub expect: String,
}

/// The device of `target` polls (CertPoll) for the request its last `scep_enroll` left PENDING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepPollSpec {
    pub connector: String,
    pub target: String,
    pub expect: String,
}

/// A connector's event-log files: `archives` archived files of `channel` (exactly), at least
/// `debug_min` Debug records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectLog {
    pub connector: String,
    pub channel: String,
    pub archives: Option<u32>,
    pub debug_min: Option<u32>,
}

/// How many notifications wait in a connector's SCEP spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectSpool {
    pub connector: String,
    pub count: u32,
}

/// A connector's SCEP module asks the service to validate a device's certificate request: a
/// P-256 CSR with `challenge` as its challengePassword (none when absent). `expect` is the code
/// of the answer: a SCEP wire code (`ChallengePasswordMissing`, …) or the error code of a refusal
/// (`FeatureNotInstalled`, `LegacyVersionCannotIssue`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepValidateSpec {
    pub connector: String,
    pub challenge: Option<String>,
    /// A `scep_target` name: the CSR then carries that challenge and matches its profile, except
    /// for what `spoil` names.
    pub target: Option<String>,
    pub spoil: Option<String>,
    pub expect: String,
}

/// What a CSR may get wrong on purpose in `scep_validate`.
pub const SPOILS: &[&str] = &[
    "subject",
    "san",
    "key_usage",
    "key_size",
    "eku",
    "extension",
];

/// "A device is targeted by a SCEP profile": the service issues a challenge for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepTargetSpec {
    pub name: String,
    pub tenant: String,
    pub subject: String,
    /// `(type, value)`, type `dns`, `email`, `uri` or `upn`.
    pub subject_alternative_names: Vec<(String, String)>,
    pub key_usage: Vec<String>,
    pub key_size: u32,
    pub extended_key_usage: Vec<String>,
    pub validity_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectStatus {
    pub connector: String,
    pub status: String,
    pub reasons: Option<Vec<String>>,
    pub support_ends: Option<DateTime<Utc>>,
    pub function_ends: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectGraph {
    pub tenant: String,
    pub path: String,
    pub pointer: String,
    pub equals: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectHttp {
    pub connector: String,
    pub call: String,
    pub status: u16,
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectJobs {
    pub tenant: String,
    pub kind: Option<String>,
    pub state: String,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectEvents {
    pub connector: String,
    pub event_id: u32,
    pub channel: Option<String>,
    pub count: Option<u32>,
    pub min: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub status: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectHistory {
    pub connector: String,
    pub entries: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Advance(DurationSpec),
    At(DateTime<Utc>),
    Install(Box<InstallSpec>),
    Reconfigure(ReconfigureSpec),
    Uninstall(String),
    Stop(String),
    StartConnector(String),
    Crash(String),
    SetCa(SetCaSpec),
    PublishRelease(ReleaseSpec),
    Enqueue(EnqueueSpec),
    Fault(FaultSpec),
    ScepEnroll(ScepEnrollSpec),
    ScepPoll(ScepPollSpec),
    ScepValidate(ScepValidateSpec),
    ScepTarget(ScepTargetSpec),
    ScepUntarget(String),
    /// The connector's SCEP spool folder cannot be written any more (a file takes its place).
    BlockSpool(String),
    ExpectSpool(ExpectSpool),
    ExpectLog(ExpectLog),
    ExpectStatus(ExpectStatus),
    ExpectGraph(ExpectGraph),
    ExpectHttp(ExpectHttp),
    ExpectJobs(ExpectJobs),
    ExpectEvents(ExpectEvents),
    ExpectHistory(ExpectHistory),
}

impl Action {
    /// The TOML key of this action.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Action::Advance(_) => "advance",
            Action::At(_) => "at",
            Action::Install(_) => "install",
            Action::Reconfigure(_) => "reconfigure",
            Action::Uninstall(_) => "uninstall",
            Action::Stop(_) => "stop",
            Action::StartConnector(_) => "start_connector",
            Action::Crash(_) => "crash",
            Action::SetCa(_) => "set_ca",
            Action::PublishRelease(_) => "publish_release",
            Action::Enqueue(_) => "enqueue",
            Action::Fault(_) => "fault",
            Action::ScepEnroll(_) => "scep_enroll",
            Action::ScepPoll(_) => "scep_poll",
            Action::ScepValidate(_) => "scep_validate",
            Action::ScepTarget(_) => "scep_target",
            Action::ScepUntarget(_) => "scep_untarget",
            Action::BlockSpool(_) => "block_spool",
            Action::ExpectSpool(_) => "expect_spool",
            Action::ExpectLog(_) => "expect_log",
            Action::ExpectStatus(_) => "expect_status",
            Action::ExpectGraph(_) => "expect_graph",
            Action::ExpectHttp(_) => "expect_http",
            Action::ExpectJobs(_) => "expect_jobs",
            Action::ExpectEvents(_) => "expect_events",
            Action::ExpectHistory(_) => "expect_history",
        }
    }
}

// ----- raw TOML shapes ------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    description: Option<String>,
    seed: Option<u64>,
    start: toml::Value,
    #[serde(default)]
    tenant: Vec<RawTenant>,
    #[serde(default)]
    connector: Vec<RawConnector>,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    rollout_delay_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnector {
    name: String,
    tenant: String,
    machine: Option<String>,
    display_name: Option<String>,
    features: Vec<String>,
    version: String,
    product: Option<String>,
    auto_update: Option<bool>,
    co_installed: Option<Vec<String>>,
    service_account: Option<String>,
    import_key: Option<bool>,
    poll_interval: Option<String>,
    update_check_interval: Option<String>,
    crash_after_download: Option<bool>,
    log_max_bytes: Option<u64>,
    log_archives: Option<usize>,
    log_debug: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstall {
    name: String,
    tenant: String,
    machine: Option<String>,
    display_name: Option<String>,
    features: Vec<String>,
    version: String,
    product: Option<String>,
    auto_update: Option<bool>,
    co_installed: Option<Vec<String>>,
    service_account: Option<String>,
    import_key: Option<bool>,
    poll_interval: Option<String>,
    update_check_interval: Option<String>,
    crash_after_download: Option<bool>,
    log_max_bytes: Option<u64>,
    log_archives: Option<usize>,
    log_debug: Option<bool>,
    count: Option<u32>,
    expect_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconfigure {
    connector: String,
    features: Option<Vec<String>>,
    service_account: Option<String>,
    display_name: Option<String>,
    import_key: Option<bool>,
    auto_update: Option<bool>,
    co_installed: Option<Vec<String>>,
    expect_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    version: String,
    date: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetCa {
    ca: String,
    available: Option<bool>,
    #[serde(default)]
    deny_enroll: Vec<String>,
    #[serde(default)]
    allow_enroll: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnqueue {
    tenant: String,
    kind: String,
    count: u32,
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    target: String,
    tenant: Option<String>,
    connector: Option<String>,
    kind: Option<String>,
    status: Option<u16>,
    probability: Option<f64>,
    count: Option<u32>,
    duration: Option<String>,
    delay: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScepValidate {
    connector: String,
    challenge: Option<String>,
    target: Option<String>,
    spoil: Option<String>,
    expect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSan {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScepTarget {
    name: String,
    tenant: String,
    subject: String,
    #[serde(default)]
    subject_alternative_names: Vec<RawSan>,
    #[serde(default)]
    key_usage: Vec<String>,
    key_size: u32,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    validity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScep {
    connector: String,
    target: String,
    challenge: Option<String>,
    spoil: Option<String>,
    expect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScepPoll {
    connector: String,
    target: String,
    expect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectLog {
    connector: String,
    channel: String,
    archives: Option<u32>,
    debug_min: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectSpool {
    connector: String,
    count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectStatus {
    connector: String,
    status: String,
    reasons: Option<Vec<String>>,
    support_ends: Option<toml::Value>,
    function_ends: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectGraph {
    tenant: String,
    path: String,
    pointer: String,
    equals: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectHttp {
    connector: String,
    call: String,
    status: u16,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectJobs {
    tenant: String,
    kind: Option<String>,
    state: String,
    count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectEvents {
    connector: String,
    event_id: u32,
    channel: Option<String>,
    count: Option<u32>,
    min: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistoryEntry {
    at: toml::Value,
    status: String,
    reasons: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectHistory {
    connector: String,
    entries: Vec<RawHistoryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    note: Option<String>,
    advance: Option<String>,
    at: Option<toml::Value>,
    install: Option<RawInstall>,
    reconfigure: Option<RawReconfigure>,
    uninstall: Option<String>,
    stop: Option<String>,
    start_connector: Option<String>,
    crash: Option<String>,
    set_ca: Option<RawSetCa>,
    publish_release: Option<RawRelease>,
    enqueue: Option<RawEnqueue>,
    fault: Option<RawFault>,
    scep_enroll: Option<RawScep>,
    scep_poll: Option<RawScepPoll>,
    scep_validate: Option<RawScepValidate>,
    scep_target: Option<RawScepTarget>,
    scep_untarget: Option<String>,
    block_spool: Option<String>,
    expect_spool: Option<RawExpectSpool>,
    expect_log: Option<RawExpectLog>,
    expect_status: Option<RawExpectStatus>,
    expect_graph: Option<RawExpectGraph>,
    expect_http: Option<RawExpectHttp>,
    expect_jobs: Option<RawExpectJobs>,
    expect_events: Option<RawExpectEvents>,
    expect_history: Option<RawExpectHistory>,
}

impl RawStep {
    /// The key of the first action present (for locating its line).
    fn key(&self) -> &'static str {
        let present = [
            (self.advance.is_some(), "advance"),
            (self.at.is_some(), "at"),
            (self.install.is_some(), "install"),
            (self.reconfigure.is_some(), "reconfigure"),
            (self.uninstall.is_some(), "uninstall"),
            (self.stop.is_some(), "stop"),
            (self.start_connector.is_some(), "start_connector"),
            (self.crash.is_some(), "crash"),
            (self.set_ca.is_some(), "set_ca"),
            (self.publish_release.is_some(), "publish_release"),
            (self.enqueue.is_some(), "enqueue"),
            (self.fault.is_some(), "fault"),
            (self.scep_enroll.is_some(), "scep_enroll"),
            (self.scep_poll.is_some(), "scep_poll"),
            (self.scep_validate.is_some(), "scep_validate"),
            (self.scep_target.is_some(), "scep_target"),
            (self.scep_untarget.is_some(), "scep_untarget"),
            (self.block_spool.is_some(), "block_spool"),
            (self.expect_spool.is_some(), "expect_spool"),
            (self.expect_log.is_some(), "expect_log"),
            (self.expect_status.is_some(), "expect_status"),
            (self.expect_graph.is_some(), "expect_graph"),
            (self.expect_http.is_some(), "expect_http"),
            (self.expect_jobs.is_some(), "expect_jobs"),
            (self.expect_events.is_some(), "expect_events"),
            (self.expect_history.is_some(), "expect_history"),
        ];
        present
            .iter()
            .find(|(p, _)| *p)
            .map(|(_, k)| *k)
            .unwrap_or("")
    }
}

// ----- parsing --------------------------------------------------------------------------------

pub fn parse_file(path: &Path) -> Result<Scenario, SpecError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: label.clone(),
        line: None,
        message: format!("cannot read the file: {e}"),
    })?;
    parse_str(&label, &text)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Lines of the headers `[[name]]`, in order (the k-th table of that array starts there).
fn header_lines(text: &str, name: &str) -> Vec<usize> {
    let header = format!("[[{name}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let compact: String = l
                .split('#')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            compact == header
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The line of `key` inside the step whose header is at `header` (`key = …` or `[step.key]`),
/// or the header itself.
fn key_line(text: &str, header: usize, key: &str) -> usize {
    let table = format!("[step.{key}]");
    text.lines()
        .enumerate()
        .skip(header)
        .take_while(|(_, l)| !l.trim_start().starts_with("[["))
        .find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(&table)
                || t.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(header)
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.to_owned(),
            line: Some(line),
            message: message.into(),
        }
    }
}

/// An RFC 3339 instant (string or TOML date-time with offset); a bare date is midnight UTC when
/// `date_ok`.
fn instant(value: &toml::Value, date_ok: bool) -> Result<DateTime<Utc>, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => {
            return Err(format!(
                "expected an RFC 3339 date-time string like \"2022-05-04T00:00:00Z\", found {}",
                other.type_str()
            ))
        }
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(at.with_timezone(&Utc));
    }
    if date_ok {
        if let Some(at) = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(at.and_utc());
        }
    }
    Err(format!(
        "`{text}` is not an RFC 3339 date-time like 2022-05-04T00:00:00Z"
    ))
}

fn duration(text: &str) -> Result<DurationSpec, String> {
    let parsed = IsoDuration::parse(text).map_err(|e| e.to_string())?;
    Ok(DurationSpec {
        text: text.to_owned(),
        months: parsed.months,
        millis: parsed.millis,
    })
}

fn features(items: &[String]) -> Result<Vec<String>, String> {
    if items.is_empty() {
        return Err("features must not be empty (pkcs, pkcs_import, scep, revocation)".into());
    }
    for item in items {
        Feature::parse(item).map_err(|e| e.to_string())?;
    }
    Ok(items.to_vec())
}

const PRODUCTS: &[&str] = &[
    "certificate-connector",
    "pfx-certificate-connector",
    "intune-connector",
];
const CO_INSTALLED: &[&str] = &["intune-connector-for-active-directory", "ndes", "adcs"];
const STATUSES: &[&str] = &["healthy", "warning", "error"];
/// What came of a SCEP enrollment or poll, besides a refusing validation code.
const ENROLL_OUTCOMES: &[&str] = &["issued", "pending", "failed"];
/// What a `fault` step does to matching requests.
const FAULT_KINDS: &[&str] = &["status", "delay", "drop"];
/// What a SCEP validation can answer: the 25 wire codes (intune-wire.md §1.5) and the refusals.
pub const SCEP_VALIDATE_CODES: &[&str] = &[
    "Unknown",
    "Success",
    "CertificateRequestDecodingFailed",
    "ChallengePasswordMissing",
    "ChallengeDeserializationError",
    "ChallengeDecryptionError",
    "ChallengeDecodingError",
    "ChallengeInvalidTimestamp",
    "ChallengeExpired",
    "SubjectNameMissing",
    "SubjectNameMismatch",
    "SubjectAltNameMissing",
    "SubjectAltNameMismatch",
    "KeyUsageMismatch",
    "KeyLengthMismatch",
    "EnhancedKeyUsageMissing",
    "EnhancedKeyUsageMismatch",
    "AadKeyIdentifierListMissing",
    "RegisteredKeyMismatch",
    "SigningCertThumbprintMismatch",
    "ScepProfileNoLongerTargetedToTheClient",
    "SignatureValidationFailed",
    "BadCertificateRequestIdInChallenge",
    "BadDeviceIdInChallenge",
    "BadUserIdInChallenge",
    "FeatureNotInstalled",
    "LegacyVersionCannotIssue",
    "ConnectorVersionRetired",
];

const JOB_KINDS: &[&str] = &["pkcs_create", "pkcs_recrypt", "pkcs_import", "revoke"];
const CALLS: &[&str] = &["checkin", "lease", "health", "update_check"];

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{field} `{value}` is not one of {}",
            allowed.join(", ")
        ))
    }
}

fn reasons(items: &[String]) -> Result<Vec<String>, String> {
    for item in items {
        if ReasonCode::parse(item).is_none() {
            let known: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
            return Err(format!(
                "unknown reason `{item}`; reasons are {}",
                known.join(", ")
            ));
        }
    }
    Ok(items.to_vec())
}

fn service_account(value: Option<String>) -> Result<String, String> {
    match value {
        None => Ok("SYSTEM".into()),
        Some(v) if v == "SYSTEM" => Ok(v),
        Some(v) => match v.split_once('\\') {
            Some((d, u)) if !d.is_empty() && !u.is_empty() && !u.contains('\\') => Ok(v),
            _ => Err(format!(
                "service_account `{v}` must be SYSTEM or DOMAIN\\user"
            )),
        },
    }
}

/// TOML value → JSON (date-times become their RFC 3339 text).
fn to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(table) => {
            serde_json::Value::Object(table.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn connector_spec(
    name: String,
    tenant: String,
    machine: Option<String>,
    display_name: Option<String>,
    feature_list: Vec<String>,
    version: String,
    product: Option<String>,
    auto_update: Option<bool>,
    co_installed: Option<Vec<String>>,
    account: Option<String>,
    import_key: Option<bool>,
    poll_interval: Option<String>,
    line: usize,
) -> Result<ConnectorSpec, String> {
    if name.trim().is_empty() {
        return Err("a connector needs a non-empty name".into());
    }
    Version::parse(&version).map_err(|e| e.to_string())?;
    let product = product.unwrap_or_else(|| "certificate-connector".into());
    one_of("product", &product, PRODUCTS)?;
    let co_installed = co_installed.unwrap_or_default();
    for item in &co_installed {
        one_of("co_installed", item, CO_INSTALLED)?;
    }
    let poll_interval = interval("poll_interval", poll_interval.as_deref(), "PT30S")?;
    Ok(ConnectorSpec {
        machine: machine.unwrap_or_else(|| name.clone()),
        display_name: display_name.unwrap_or_else(|| name.clone()),
        name,
        tenant,
        features: features(&feature_list)?,
        version,
        product,
        auto_update: auto_update.unwrap_or(true),
        co_installed,
        service_account: service_account(account)?,
        import_key: import_key.unwrap_or(false),
        poll_interval,
        update_check_interval: interval("update_check_interval", None, "PT1H")?,
        crash_after_download: false,
        log: None,
        line,
    })
}

/// The file log of a connector, if any of its keys is given.
fn log_spec(
    max_bytes: Option<u64>,
    archives: Option<usize>,
    debug: Option<bool>,
) -> Result<Option<LogSpec>, String> {
    if max_bytes.is_none() && archives.is_none() && debug.is_none() {
        return Ok(None);
    }
    let max_bytes = max_bytes.unwrap_or(50 * 1024 * 1024);
    if max_bytes < 1024 {
        return Err(format!("log_max_bytes {max_bytes} is below 1024"));
    }
    let archives = archives.unwrap_or(10);
    if archives == 0 || archives > 1000 {
        return Err(format!("log_archives {archives} must be from 1 to 1000"));
    }
    Ok(Some(LogSpec {
        max_bytes,
        archives,
        debug: debug.unwrap_or(false),
    }))
}

/// A connector interval: `text` (or `default`), at least one second, no months.
fn interval(field: &str, text: Option<&str>, default: &str) -> Result<DurationSpec, String> {
    let d = duration(text.unwrap_or(default))?;
    if d.months > 0 || d.millis < 1000 {
        return Err(format!(
            "{field} `{}` must be at least one second and have no months",
            d.text
        ));
    }
    Ok(d)
}

pub fn parse_str(file_label: &str, text: &str) -> Result<Scenario, SpecError> {
    let ctx = Ctx { file: file_label };
    let raw: RawScenario = toml::from_str(text).map_err(|e| SpecError {
        file: file_label.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let tenant_lines = header_lines(text, "tenant");
    let connector_lines = header_lines(text, "connector");
    let step_lines = header_lines(text, "step");
    let line_at = |lines: &[usize], i: usize| lines.get(i).copied().unwrap_or(1);

    let start = instant(&raw.start, false).map_err(|m| {
        ctx.err(
            text.lines()
                .position(|l| l.trim_start().starts_with("start"))
                .map_or(1, |i| i + 1),
            format!("start: {m}"),
        )
    })?;
    if raw.name.trim().is_empty() {
        return Err(ctx.err(1, "name must not be empty"));
    }

    let mut tenants = Vec::new();
    for (i, t) in raw.tenant.into_iter().enumerate() {
        let line = line_at(&tenant_lines, i);
        if tenants.iter().any(|x: &TenantSpec| x.name == t.name) {
            return Err(ctx.err(line, format!("tenant `{}` is declared twice", t.name)));
        }
        tenants.push(TenantSpec {
            name: t.name,
            rollout_delay_days: t.rollout_delay_days.unwrap_or(7),
            line,
        });
    }
    let tenant_names: BTreeSet<String> = tenants.iter().map(|t| t.name.clone()).collect();
    let check_tenant = |line: usize, name: &str| -> Result<(), SpecError> {
        if tenant_names.contains(name) {
            Ok(())
        } else {
            Err(ctx.err(
                line,
                format!("unknown tenant `{name}`; declare it with [[tenant]]"),
            ))
        }
    };

    // Names of connectors installed at each point, to check references in order.
    let mut installed: BTreeSet<String> = BTreeSet::new();
    let mut targets: BTreeSet<String> = BTreeSet::new();
    let mut connectors = Vec::new();
    for (i, c) in raw.connector.into_iter().enumerate() {
        let line = line_at(&connector_lines, i);
        check_tenant(line, &c.tenant)?;
        let crash_after_download = c.crash_after_download.unwrap_or(false);
        let update_check = c.update_check_interval.clone();
        let mut spec = connector_spec(
            c.name,
            c.tenant,
            c.machine,
            c.display_name,
            c.features,
            c.version,
            c.product,
            c.auto_update,
            c.co_installed,
            c.service_account,
            c.import_key,
            c.poll_interval,
            line,
        )
        .map_err(|m| ctx.err(line, format!("connector: {m}")))?;
        spec.crash_after_download = crash_after_download;
        spec.log = log_spec(c.log_max_bytes, c.log_archives, c.log_debug)
            .map_err(|m| ctx.err(line, format!("connector: {m}")))?;
        spec.update_check_interval =
            interval("update_check_interval", update_check.as_deref(), "PT1H")
                .map_err(|m| ctx.err(line, format!("connector: {m}")))?;
        if !installed.insert(spec.name.clone()) {
            return Err(ctx.err(line, format!("connector `{}` is declared twice", spec.name)));
        }
        connectors.push(spec);
    }

    let mut steps = Vec::new();
    for (i, raw_step) in raw.step.into_iter().enumerate() {
        let header = line_at(&step_lines, i);
        let line = key_line(text, header, raw_step.key());
        let e = |m: String| ctx.err(line, m);
        let known = |installed: &BTreeSet<String>, name: &str| -> Result<(), SpecError> {
            if installed.contains(name) {
                Ok(())
            } else {
                Err(ctx.err(
                    line,
                    format!("connector `{name}` is not installed at this step"),
                ))
            }
        };
        let RawStep {
            note,
            advance,
            at,
            install,
            reconfigure,
            uninstall,
            stop,
            start_connector,
            crash,
            set_ca,
            publish_release,
            enqueue,
            fault,
            scep_enroll,
            scep_poll,
            scep_validate,
            scep_target,
            scep_untarget,
            block_spool,
            expect_spool,
            expect_log,
            expect_status,
            expect_graph,
            expect_http,
            expect_jobs,
            expect_events,
            expect_history,
        } = raw_step;
        let mut actions: Vec<Action> = Vec::new();
        if let Some(text) = advance {
            actions.push(Action::Advance(
                duration(&text).map_err(|m| e(format!("advance: {m}")))?,
            ));
        }
        if let Some(value) = at {
            let target = instant(&value, true).map_err(|m| e(format!("at: {m}")))?;
            if target < start {
                return Err(e(format!(
                    "at: {} is before the scenario's start",
                    target.to_rfc3339()
                )));
            }
            actions.push(Action::At(target));
        }
        if let Some(r) = install {
            check_tenant(line, &r.tenant)?;
            if r.count.is_some_and(|n| n == 0 || n > 1000) {
                return Err(e("install: count must be from 1 to 1000".into()));
            }
            let crash_after_download = r.crash_after_download.unwrap_or(false);
            let update_check = r.update_check_interval.clone();
            let mut connector = connector_spec(
                r.name,
                r.tenant,
                r.machine,
                r.display_name,
                r.features,
                r.version,
                r.product,
                r.auto_update,
                r.co_installed,
                r.service_account,
                r.import_key,
                r.poll_interval,
                line,
            )
            .map_err(|m| e(format!("install: {m}")))?;
            connector.crash_after_download = crash_after_download;
            connector.log = log_spec(r.log_max_bytes, r.log_archives, r.log_debug)
                .map_err(|m| e(format!("install: {m}")))?;
            connector.update_check_interval =
                interval("update_check_interval", update_check.as_deref(), "PT1H")
                    .map_err(|m| e(format!("install: {m}")))?;
            if r.expect_error.is_none() {
                let names: Vec<String> = match r.count {
                    None => vec![connector.name.clone()],
                    Some(n) => (1..=n).map(|k| format!("{}-{k}", connector.name)).collect(),
                };
                for name in names {
                    if !installed.insert(name.clone()) {
                        return Err(e(format!(
                            "install: connector `{name}` is already installed; uninstall it first"
                        )));
                    }
                }
            }
            actions.push(Action::Install(Box::new(InstallSpec {
                connector,
                count: r.count,
                expect_error: r.expect_error,
            })));
        }
        if let Some(r) = reconfigure {
            known(&installed, &r.connector)?;
            if let Some(f) = &r.features {
                // An empty list is allowed here only to expect its refusal.
                if !(f.is_empty() && r.expect_error.is_some()) {
                    features(f).map_err(|m| e(format!("reconfigure: {m}")))?;
                }
            }
            for item in r.co_installed.iter().flatten() {
                one_of("co_installed", item, CO_INSTALLED)
                    .map_err(|m| e(format!("reconfigure: {m}")))?;
            }
            let service_account = match r.service_account {
                Some(a) => {
                    Some(service_account(Some(a)).map_err(|m| e(format!("reconfigure: {m}")))?)
                }
                None => None,
            };
            actions.push(Action::Reconfigure(ReconfigureSpec {
                connector: r.connector,
                features: r.features,
                service_account,
                display_name: r.display_name,
                import_key: r.import_key,
                auto_update: r.auto_update,
                co_installed: r.co_installed,
                expect_error: r.expect_error,
            }));
        }
        if let Some(name) = uninstall {
            known(&installed, &name)?;
            installed.remove(&name);
            actions.push(Action::Uninstall(name));
        }
        if let Some(name) = stop {
            known(&installed, &name)?;
            actions.push(Action::Stop(name));
        }
        if let Some(name) = start_connector {
            known(&installed, &name)?;
            actions.push(Action::StartConnector(name));
        }
        if let Some(name) = crash {
            known(&installed, &name)?;
            actions.push(Action::Crash(name));
        }
        if let Some(r) = set_ca {
            let ca = CA_NAMES
                .iter()
                .find(|n| n.eq_ignore_ascii_case(&r.ca))
                .ok_or_else(|| {
                    e(format!(
                        "set_ca: ca `{}` is not one of {}",
                        r.ca,
                        CA_NAMES.join(", ")
                    ))
                })?;
            if r.available.is_none() && r.deny_enroll.is_empty() && r.allow_enroll.is_empty() {
                return Err(e(
                    "set_ca: give `available`, `deny_enroll` or `allow_enroll`".into(),
                ));
            }
            if (!r.deny_enroll.is_empty() || !r.allow_enroll.is_empty())
                && !ca.eq_ignore_ascii_case(CA_NAMES[0])
            {
                return Err(e(format!(
                    "set_ca: `{ca}` is reached with an API key; only `{}` has template permissions",
                    CA_NAMES[0]
                )));
            }
            for account in r.deny_enroll.iter().chain(&r.allow_enroll) {
                service_account(Some(account.clone())).map_err(|m| e(format!("set_ca: {m}")))?;
            }
            actions.push(Action::SetCa(SetCaSpec {
                ca: ca.to_string(),
                available: r.available,
                deny_enroll: r.deny_enroll,
                allow_enroll: r.allow_enroll,
            }));
        }
        if let Some(r) = publish_release {
            Version::parse(&r.version).map_err(|err| e(format!("publish_release: {err}")))?;
            let date =
                instant(&r.date, true).map_err(|m| e(format!("publish_release: date: {m}")))?;
            actions.push(Action::PublishRelease(ReleaseSpec {
                version: r.version,
                date,
            }));
        }
        if let Some(r) = enqueue {
            check_tenant(line, &r.tenant)?;
            one_of("kind", &r.kind, JOB_KINDS).map_err(|m| e(format!("enqueue: {m}")))?;
            if r.count == 0 || r.count > 100_000 {
                return Err(e("enqueue: count must be from 1 to 100000".into()));
            }
            if let Some(profile) = &r.profile {
                one_of("profile", profile, PROFILES).map_err(|m| e(format!("enqueue: {m}")))?;
            }
            actions.push(Action::Enqueue(EnqueueSpec {
                tenant: r.tenant,
                kind: r.kind,
                count: r.count,
                profile: r.profile,
            }));
        }
        if let Some(r) = fault {
            let kind =
                r.kind
                    .as_deref()
                    .unwrap_or(if r.delay.is_some() { "delay" } else { "status" });
            one_of("kind", kind, FAULT_KINDS).map_err(|m| e(format!("fault: {m}")))?;
            if r.target.trim().is_empty() {
                return Err(e(
                    "fault: target must be `service` or a path fragment (ScepActions/validateRequest)"
                        .into(),
                ));
            }
            if r.probability.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
                return Err(e(
                    "fault: probability must be more than 0 and at most 1".into()
                ));
            }
            if r.count == Some(0) {
                return Err(e("fault: count must be at least 1".into()));
            }
            match (kind, r.status, &r.delay) {
                ("status", Some(status), None) if (400..=599).contains(&status) => {}
                ("status", _, _) => {
                    return Err(e(
                        "fault: kind `status` needs `status` (400 to 599) and no `delay`".into(),
                    ))
                }
                ("delay", None, Some(_)) => {}
                ("delay", _, _) => {
                    return Err(e("fault: kind `delay` needs `delay` and no `status`".into()))
                }
                ("drop", None, None) => {}
                _ => return Err(e("fault: kind `drop` takes no `status` or `delay`".into())),
            }
            if let Some(t) = &r.tenant {
                check_tenant(line, t)?;
            }
            if let Some(c) = &r.connector {
                known(&installed, c)?;
            }
            let duration_of = |d: Option<String>,
                               field: &str|
             -> Result<Option<DurationSpec>, SpecError> {
                d.map(|t| duration(&t).map_err(|m| ctx.err(line, format!("fault: {field}: {m}"))))
                    .transpose()
            };
            actions.push(Action::Fault(FaultSpec {
                target: r.target,
                tenant: r.tenant,
                connector: r.connector,
                kind: Some(kind.to_owned()),
                status: r.status,
                probability: r.probability,
                count: r.count,
                duration: duration_of(r.duration, "duration")?,
                delay: duration_of(r.delay, "delay")?,
            }));
        }
        if let Some(r) = scep_enroll {
            known(&installed, &r.connector)?;
            if !targets.contains(&r.target) {
                return Err(e(format!(
                    "scep_enroll: no scep_target `{}` before this step",
                    r.target
                )));
            }
            if !ENROLL_OUTCOMES.contains(&r.expect.as_str()) {
                one_of("expect", &r.expect, SCEP_VALIDATE_CODES)
                    .map_err(|m| e(format!("scep_enroll: {m} (or issued, pending, failed)")))?;
            }
            if let Some(spoil) = &r.spoil {
                one_of("spoil", spoil, SPOILS).map_err(|m| e(format!("scep_enroll: {m}")))?;
            }
            actions.push(Action::ScepEnroll(ScepEnrollSpec {
                connector: r.connector,
                target: r.target,
                challenge: r.challenge,
                spoil: r.spoil,
                expect: r.expect,
            }));
        }
        if let Some(r) = scep_poll {
            known(&installed, &r.connector)?;
            if !targets.contains(&r.target) {
                return Err(e(format!(
                    "scep_poll: no scep_target `{}` before this step",
                    r.target
                )));
            }
            one_of("expect", &r.expect, ENROLL_OUTCOMES)
                .map_err(|m| e(format!("scep_poll: {m}")))?;
            actions.push(Action::ScepPoll(ScepPollSpec {
                connector: r.connector,
                target: r.target,
                expect: r.expect,
            }));
        }
        if let Some(name) = block_spool {
            known(&installed, &name)?;
            actions.push(Action::BlockSpool(name));
        }
        if let Some(r) = expect_log {
            known(&installed, &r.connector)?;
            one_of("channel", &r.channel, &["Admin", "Operational"])
                .map_err(|m| e(format!("expect_log: {m}")))?;
            if r.archives.is_none() && r.debug_min.is_none() {
                return Err(e("expect_log: give `archives` or `debug_min`".into()));
            }
            actions.push(Action::ExpectLog(ExpectLog {
                connector: r.connector,
                channel: r.channel,
                archives: r.archives,
                debug_min: r.debug_min,
            }));
        }
        if let Some(r) = expect_spool {
            known(&installed, &r.connector)?;
            actions.push(Action::ExpectSpool(ExpectSpool {
                connector: r.connector,
                count: r.count,
            }));
        }
        if let Some(r) = scep_target {
            check_tenant(line, &r.tenant)?;
            if !targets.insert(r.name.clone()) {
                return Err(e(format!("scep_target: `{}` is already a target", r.name)));
            }
            if !r.subject.contains('=') {
                return Err(e(format!(
                    "scep_target: subject `{}` is not a distinguished name (CN=…)",
                    r.subject
                )));
            }
            for san in &r.subject_alternative_names {
                one_of("type", &san.kind, &["dns", "email", "uri", "upn"])
                    .map_err(|m| e(format!("scep_target: subject_alternative_names: {m}")))?;
            }
            if r.key_size != 256 && r.key_size != 2048 {
                return Err(e(format!(
                    "scep_target: key_size must be 256 (P-256) or 2048 (RSA), not {}",
                    r.key_size
                )));
            }
            let validity = match r.validity {
                None => 60,
                Some(text) => {
                    let d =
                        duration(&text).map_err(|m| e(format!("scep_target: validity: {m}")))?;
                    if d.months != 0 || d.millis <= 0 || d.millis % 60_000 != 0 {
                        return Err(e(format!(
                            "scep_target: validity `{text}` must be whole minutes (PT1H, PT90M)"
                        )));
                    }
                    (d.millis / 60_000).min(u32::MAX as i64) as u32
                }
            };
            actions.push(Action::ScepTarget(ScepTargetSpec {
                name: r.name,
                tenant: r.tenant,
                subject: r.subject,
                subject_alternative_names: r
                    .subject_alternative_names
                    .into_iter()
                    .map(|s| (s.kind, s.value))
                    .collect(),
                key_usage: r.key_usage,
                key_size: r.key_size,
                extended_key_usage: r.extended_key_usage,
                validity_minutes: validity,
            }));
        }
        if let Some(name) = scep_untarget {
            if !targets.contains(&name) {
                return Err(e(format!(
                    "scep_untarget: no scep_target `{name}` before this step"
                )));
            }
            actions.push(Action::ScepUntarget(name));
        }
        if let Some(r) = scep_validate {
            known(&installed, &r.connector)?;
            one_of("expect", &r.expect, SCEP_VALIDATE_CODES)
                .map_err(|m| e(format!("scep_validate: {m}")))?;
            if r.target.is_some() && r.challenge.is_some() {
                return Err(e(
                    "scep_validate: give `target` or `challenge`, not both".into()
                ));
            }
            if let Some(target) = &r.target {
                if !targets.contains(target) {
                    return Err(e(format!(
                        "scep_validate: no scep_target `{target}` before this step"
                    )));
                }
            }
            if let Some(spoil) = &r.spoil {
                if r.target.is_none() {
                    return Err(e("scep_validate: `spoil` needs a `target`".into()));
                }
                one_of("spoil", spoil, SPOILS).map_err(|m| e(format!("scep_validate: {m}")))?;
            }
            actions.push(Action::ScepValidate(ScepValidateSpec {
                connector: r.connector,
                challenge: r.challenge,
                target: r.target,
                spoil: r.spoil,
                expect: r.expect,
            }));
        }
        if let Some(r) = expect_status {
            known(&installed, &r.connector)?;
            one_of("status", &r.status, STATUSES).map_err(|m| e(format!("expect_status: {m}")))?;
            let reason_list = r
                .reasons
                .as_deref()
                .map(reasons)
                .transpose()
                .map_err(|m| e(format!("expect_status: {m}")))?;
            let date_of =
                |v: Option<toml::Value>, field: &str| -> Result<Option<DateTime<Utc>>, SpecError> {
                    v.map(|v| {
                        instant(&v, false)
                            .map_err(|m| ctx.err(line, format!("expect_status: {field}: {m}")))
                    })
                    .transpose()
                };
            actions.push(Action::ExpectStatus(ExpectStatus {
                connector: r.connector,
                status: r.status,
                reasons: reason_list,
                support_ends: date_of(r.support_ends, "support_ends")?,
                function_ends: date_of(r.function_ends, "function_ends")?,
            }));
        }
        if let Some(r) = expect_graph {
            check_tenant(line, &r.tenant)?;
            if !r.path.starts_with('/') {
                return Err(e(format!(
                    "expect_graph: path `{}` must start with /",
                    r.path
                )));
            }
            if !(r.pointer.is_empty() || r.pointer.starts_with('/')) {
                return Err(e(format!(
                    "expect_graph: pointer `{}` must be empty or start with / (a JSON pointer)",
                    r.pointer
                )));
            }
            actions.push(Action::ExpectGraph(ExpectGraph {
                tenant: r.tenant,
                path: r.path,
                pointer: r.pointer,
                equals: to_json(&r.equals),
            }));
        }
        if let Some(r) = expect_http {
            known(&installed, &r.connector)?;
            one_of("call", &r.call, CALLS).map_err(|m| e(format!("expect_http: {m}")))?;
            if !(100..=599).contains(&r.status) {
                return Err(e(format!(
                    "expect_http: status {} is not an HTTP status",
                    r.status
                )));
            }
            actions.push(Action::ExpectHttp(ExpectHttp {
                connector: r.connector,
                call: r.call,
                status: r.status,
                code: r.code,
            }));
        }
        if let Some(r) = expect_jobs {
            check_tenant(line, &r.tenant)?;
            if let Some(kind) = &r.kind {
                one_of("kind", kind, JOB_KINDS).map_err(|m| e(format!("expect_jobs: {m}")))?;
            }
            one_of(
                "state",
                &r.state,
                &[
                    "queued",
                    "leased",
                    "succeeded",
                    "failed",
                    "dead_letter",
                    "cancelled",
                ],
            )
            .map_err(|m| e(format!("expect_jobs: {m}")))?;
            actions.push(Action::ExpectJobs(ExpectJobs {
                tenant: r.tenant,
                kind: r.kind,
                state: r.state,
                count: r.count,
            }));
        }
        if let Some(r) = expect_events {
            known(&installed, &r.connector)?;
            if let Some(channel) = &r.channel {
                one_of("channel", channel, &["Admin", "Operational"])
                    .map_err(|m| e(format!("expect_events: {m}")))?;
            }
            if r.count.is_some() == r.min.is_some() {
                return Err(e("expect_events: give exactly one of count or min".into()));
            }
            if r.event_id > 9999 {
                return Err(e(format!(
                    "expect_events: event_id {} is above 9999",
                    r.event_id
                )));
            }
            actions.push(Action::ExpectEvents(ExpectEvents {
                connector: r.connector,
                event_id: r.event_id,
                channel: r.channel,
                count: r.count,
                min: r.min,
            }));
        }
        if let Some(r) = expect_history {
            known(&installed, &r.connector)?;
            let mut entries = Vec::new();
            for (k, entry) in r.entries.into_iter().enumerate() {
                let at = instant(&entry.at, false)
                    .map_err(|m| e(format!("expect_history: entries[{k}].at: {m}")))?;
                one_of("status", &entry.status, STATUSES)
                    .map_err(|m| e(format!("expect_history: entries[{k}]: {m}")))?;
                let reason_list = reasons(&entry.reasons)
                    .map_err(|m| e(format!("expect_history: entries[{k}]: {m}")))?;
                entries.push(HistoryEntry {
                    at,
                    status: entry.status,
                    reasons: reason_list,
                });
            }
            actions.push(Action::ExpectHistory(ExpectHistory {
                connector: r.connector,
                entries,
            }));
        }
        let action = match actions.len() {
            1 => actions.remove(0),
            0 => {
                return Err(ctx.err(
                    header,
                    "a step needs one action (advance, at, install, …, expect_status, …)",
                ))
            }
            _ => {
                let names: Vec<&str> = actions.iter().map(|a| a.kind_name()).collect();
                return Err(ctx.err(
                    header,
                    format!(
                        "a step has exactly one action, this one has {}",
                        names.join(" and ")
                    ),
                ));
            }
        };
        steps.push(Step { line, note, action });
    }

    Ok(Scenario {
        name: raw.name,
        description: raw.description,
        seed: raw.seed.unwrap_or(0),
        start,
        tenants,
        connectors,
        steps,
    })
}

#[cfg(test)]
mod tests;
