//! The one place that reads store rows into views and domain values, and writes new rows: what
//! is text or epoch milliseconds in a row (a version, a product, a status, an instant) is a type
//! from here on; ids, job kinds and states and feature sets come typed from the store already. A
//! row that does not read back is `OpsError::Corrupt` (this service wrote it, so it is a fault,
//! not bad input).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::clock::from_millis;
use crate::domain::catalog::CatalogChoice;
use crate::domain::connector::{parse_co_installed, Product, MAX_ROLLOUT_DELAY_DAYS};
use crate::domain::jobs::{HeldLease, PlannedWrite, MAX_ATTEMPTS};
use crate::domain::reconcile::{Change, Recorded, Snapshot};
use crate::domain::{
    Catalog, ConnectorFacts, ConnectorId, JobId, JobState, ReasonCode, Status, TenantFacts,
    TenantId, Version,
};
use crate::store::{
    AttemptRow, Completion, ConnectorRow, HistoryRow, JobRow, JobStat, ReleaseRow,
    ScepChallengeRow, TenantRow, UserPfxRow,
};

use super::error::{invalid, OpsError, OpsResult};
use super::views::{
    Attempt, Connector, Job, JobCount, NewConnector, NewJob, NewScepChallenge, NotificationKind,
    Reconfigure, Report, ScepChallenge, ScepNotification, StatusChange, Tenant, UserPfx,
};

fn corrupt(what: impl std::fmt::Display) -> OpsError {
    OpsError::Corrupt(what.to_string())
}

/// The items of a comma-joined list of a row.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The shipped catalog `choice` with the published releases.
pub(crate) fn catalog(choice: CatalogChoice, published: Vec<ReleaseRow>) -> OpsResult<Catalog> {
    let mut extra = Vec::with_capacity(published.len());
    for row in published {
        let version = Version::parse(&row.version)
            .map_err(|_| corrupt(format!("release {}", row.version)))?;
        extra.push((version, from_millis(row.released_ms)));
    }
    Ok(Catalog::shipped_from(choice).with_published(extra))
}

pub(crate) fn tenant(row: TenantRow) -> Tenant {
    Tenant {
        rollout_delay_days: row
            .rollout_delay_days
            .clamp(0, MAX_ROLLOUT_DELAY_DAYS as i64) as u32,
        id: row.id,
        display_name: row.display_name,
        client_id: row.client_id,
        import_key_thumbprint: row.import_key_thumbprint,
        created: from_millis(row.created_ms),
    }
}

/// What the rules need of `tenant`, whose connectors run `versions`.
pub(crate) fn tenant_facts<'v>(
    tenant: &Tenant,
    versions: impl IntoIterator<Item = &'v str>,
) -> TenantFacts {
    TenantFacts {
        rollout_delay_days: tenant.rollout_delay_days,
        import_key_thumbprint: tenant.import_key_thumbprint.clone(),
        newest_connector_version: versions
            .into_iter()
            .filter_map(|v| Version::parse(v).ok())
            .max(),
    }
}

/// A connector's version and product as stored.
fn version_and_product(row: &ConnectorRow) -> OpsResult<(Version, Product)> {
    let bad = |what: &str| {
        corrupt(format!(
            "connector {} has a stored {what} that does not parse",
            row.id
        ))
    };
    Ok((
        Version::parse(&row.version).map_err(|_| bad("version"))?,
        Product::parse(&row.product).map_err(|_| bad("product"))?,
    ))
}

/// The facts the rules need of a connector.
pub(crate) fn connector_facts(row: &ConnectorRow) -> OpsResult<ConnectorFacts> {
    let (version, product) = version_and_product(row)?;
    Ok(ConnectorFacts {
        version,
        product,
        features: row.features.clone(),
        import_key_thumbprint: row.import_key_thumbprint.clone(),
        co_installed: row.co_installed.clone(),
        enrolled: from_millis(row.enrolled_ms),
        last_checkin: row.last_checkin_ms.map(from_millis),
        last_health: row.last_health_ms.map(from_millis),
    })
}

pub(crate) fn connector(row: ConnectorRow) -> OpsResult<Connector> {
    let (version, product) = version_and_product(&row)?;
    Ok(Connector {
        facts: ConnectorFacts {
            version,
            product,
            features: row.features,
            import_key_thumbprint: row.import_key_thumbprint,
            co_installed: row.co_installed,
            enrolled: from_millis(row.enrolled_ms),
            last_checkin: row.last_checkin_ms.map(from_millis),
            last_health: row.last_health_ms.map(from_millis),
        },
        id: row.id,
        tenant_id: row.tenant_id,
        display_name: row.display_name,
        machine_name: row.machine_name,
        service_account: row.service_account,
        proxy: row.proxy,
        auto_update: row.auto_update,
    })
}

/// Where a connector's history stands, as its row keeps it.
pub(crate) fn recorded(row: &ConnectorRow) -> Recorded {
    Recorded {
        until: from_millis(row.reconciled_ms),
        last: snapshot(&row.last_status, &row.last_reasons),
        seq: row.seq,
    }
}

/// A status and its reason codes as stored; `None` when they do not read back.
fn snapshot(status: &str, reasons: &[String]) -> Option<Snapshot> {
    Some(Snapshot {
        status: Status::parse(status)?,
        reasons: reasons
            .iter()
            .map(|r| ReasonCode::parse(r))
            .collect::<Option<Vec<_>>>()?,
    })
}

/// A snapshot as a row stores it.
pub(crate) fn snapshot_text(snapshot: Option<&Snapshot>) -> (String, Vec<String>) {
    match snapshot {
        None => (String::new(), Vec::new()),
        Some(s) => (
            s.status.as_str().to_owned(),
            s.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        ),
    }
}

pub(crate) fn history_row(connector_id: &ConnectorId, change: &Change) -> HistoryRow {
    let (status, reasons) = snapshot_text(Some(&change.snapshot));
    HistoryRow {
        connector_id: connector_id.clone(),
        seq: change.seq,
        at_ms: change.at.timestamp_millis(),
        status,
        reasons,
    }
}

pub(crate) fn status_change(row: HistoryRow) -> OpsResult<StatusChange> {
    let snapshot = snapshot(&row.status, &row.reasons).ok_or_else(|| {
        corrupt(format!(
            "history entry {} of connector {} does not parse",
            row.seq, row.connector_id
        ))
    })?;
    Ok(StatusChange {
        at: from_millis(row.at_ms),
        status: snapshot.status,
        reasons: snapshot.reasons,
    })
}

pub(crate) fn job(row: JobRow) -> Job {
    Job {
        kind: row.kind,
        state: row.state,
        id: row.id,
        tenant_id: row.tenant_id,
        payload: row.payload,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        result: row.result,
        error_code: row.error_code,
        error_message: row.error_message,
        created: from_millis(row.created_ms),
        completed: row.completed_ms.map(from_millis),
        leased_by: row.lease_connector_id,
        lease_expires: row.lease_expires_ms.map(from_millis),
    }
}

/// What a completion needs to know of a stored job.
pub(crate) fn held_lease(row: &JobRow) -> HeldLease<'_> {
    HeldLease {
        state: row.state,
        token_hash: row.lease_token_hash.as_deref(),
        holder: row.lease_connector_id.as_ref().map(ConnectorId::as_str),
        attempts: row.attempts,
        max_attempts: row.max_attempts,
    }
}

pub(crate) fn attempt(row: AttemptRow) -> Attempt {
    Attempt {
        outcome: row.outcome,
        attempt: row.attempt,
        holder: row.connector_id,
        leased: from_millis(row.leased_ms),
        error_code: row.error_code,
        ended: row.ended_ms.map(from_millis),
    }
}

pub(crate) fn job_count(stat: JobStat) -> JobCount {
    JobCount {
        kind: stat.kind,
        state: stat.state,
        count: stat.count,
        oldest_created: from_millis(stat.oldest_created_ms),
    }
}

/// The CA and serial (hexadecimal) a revoke job's payload names; `None` when it names none.
pub(crate) fn revoke_target(payload: &str) -> Option<(String, String)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Names {
        certification_authority: String,
        serial_number: String,
    }
    serde_json::from_str::<Names>(payload)
        .ok()
        .map(|n| (n.certification_authority, n.serial_number))
}

/// The CA, serial and issuer name of the certificate a succeeded `pkcs_create` job was issued:
/// its payload's `certificationAuthority`, its result's `serialNumber`, and the issuer of its
/// result's `certificate` as revoke payloads spell it. `None` when the result does not say.
pub(crate) fn issued_certificate(
    payload: &str,
    result: Option<&str>,
) -> Option<(String, String, String)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Issued {
        serial_number: String,
        certificate: String,
    }
    let issued: Issued = serde_json::from_str(result?).ok()?;
    let certificate = openssl::x509::X509::from_pem(issued.certificate.as_bytes()).ok()?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Names {
        certification_authority: String,
    }
    let names: Names = serde_json::from_str(payload).ok()?;
    Some((
        names.certification_authority,
        issued.serial_number,
        crate::profiles::name_text(certificate.issuer_name()),
    ))
}

/// The imported PFX a `pkcs_import` job's payload names (`userPfxCertificateId`; the payload was
/// validated at enqueue). `None` when it names none.
pub(crate) fn user_pfx_id(payload: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Names {
        user_pfx_certificate_id: String,
    }
    serde_json::from_str::<Names>(payload)
        .ok()
        .map(|n| n.user_pfx_certificate_id)
}

pub(crate) fn user_pfx(row: UserPfxRow) -> UserPfx {
    UserPfx {
        tenant_id: row.tenant_id,
        id: row.id,
        user_principal_name: row.user_principal_name,
        thumbprint: row.thumbprint,
        intended_purpose: row.intended_purpose,
        padding_scheme: row.padding_scheme,
        provider_name: row.provider_name,
        key_name: row.key_name,
        encrypted_pfx_blob: row.encrypted_pfx_blob,
        encrypted_pfx_password: row.encrypted_pfx_password,
        start: row.start_ms.map(from_millis),
        expiration: row.expiration_ms.map(from_millis),
        created: from_millis(row.created_ms),
        modified: from_millis(row.modified_ms),
    }
}

pub(crate) fn user_pfx_row(pfx: UserPfx) -> UserPfxRow {
    UserPfxRow {
        tenant_id: pfx.tenant_id,
        id: pfx.id,
        user_principal_name: pfx.user_principal_name,
        thumbprint: pfx.thumbprint,
        intended_purpose: pfx.intended_purpose,
        padding_scheme: pfx.padding_scheme,
        provider_name: pfx.provider_name,
        key_name: pfx.key_name,
        encrypted_pfx_blob: pfx.encrypted_pfx_blob,
        encrypted_pfx_password: pfx.encrypted_pfx_password,
        start_ms: pfx.start.map(|t| t.timestamp_millis()),
        expiration_ms: pfx.expiration.map(|t| t.timestamp_millis()),
        created_ms: pfx.created.timestamp_millis(),
        modified_ms: pfx.modified.timestamp_millis(),
    }
}

pub(crate) fn scep_challenge(row: ScepChallengeRow) -> OpsResult<ScepChallenge> {
    let notification = match (row.notification_kind, row.notification, row.notified_ms) {
        (Some(kind), Some(body), Some(at)) => Some(ScepNotification {
            kind: NotificationKind::parse(&kind)
                .ok_or_else(|| corrupt(format!("SCEP notification kind `{kind}`")))?,
            at: from_millis(at),
            body,
        }),
        _ => None,
    };
    Ok(ScepChallenge {
        id: row.id,
        device_id: row.device_id,
        user_id: row.user_id,
        subject: row.subject,
        subject_alt_names: serde_json::from_str(&row.subject_alt_names).unwrap_or_default(),
        key_usage: split_list(&row.key_usage),
        key_size: row.key_size,
        extended_key_usage: split_list(&row.extended_key_usage),
        issued: from_millis(row.issued_ms),
        expires: from_millis(row.expires_ms),
        targeted: row.targeted,
        transaction_id: row.transaction_id,
        last_code: row.last_code,
        notification,
    })
}

/// The row of a challenge issued at `now_ms` to a device `profile` targets.
pub(crate) fn new_scep_challenge(
    tenant_id: &TenantId,
    id: String,
    profile: NewScepChallenge,
    now_ms: i64,
) -> ScepChallengeRow {
    ScepChallengeRow {
        tenant_id: tenant_id.clone(),
        id,
        device_id: profile.device_id,
        user_id: profile.user_id,
        subject: profile.subject,
        subject_alt_names: serde_json::to_string(&profile.subject_alt_names)
            .unwrap_or_else(|_| "[]".into()),
        key_usage: profile.key_usage.join(","),
        key_size: profile.key_size,
        extended_key_usage: profile.extended_key_usage.join(","),
        issued_ms: now_ms,
        expires_ms: now_ms + profile.validity_minutes * 60_000,
        targeted: true,
        transaction_id: None,
        last_code: None,
        notification_kind: None,
        notification: None,
        notified_ms: None,
    }
}

/// The row of a connector being registered, with its first status.
pub(crate) fn new_connector(
    id: ConnectorId,
    tenant: &Tenant,
    credential_hash: String,
    new: NewConnector,
    now: DateTime<Utc>,
) -> ConnectorRow {
    let now_ms = now.timestamp_millis();
    ConnectorRow {
        id,
        tenant_id: tenant.id.clone(),
        credential_hash,
        display_name: new.display_name,
        machine_key: new.machine_name.to_lowercase(),
        machine_name: new.machine_name,
        features: new.features,
        version: new.version.to_string(),
        product: new.product.as_str().to_owned(),
        service_account: new.service_account,
        proxy: new.proxy,
        import_key_thumbprint: new.import_key_thumbprint,
        auto_update: new.auto_update,
        co_installed: new.co_installed,
        enrolled_ms: now_ms,
        last_checkin_ms: None,
        reconciled_ms: now_ms,
        last_status: String::new(),
        last_reasons: Vec::new(),
        seq: 1,
        last_health_ms: None,
    }
}

/// `row` with `change` applied.
pub(crate) fn reconfigured(mut row: ConnectorRow, change: Reconfigure) -> OpsResult<ConnectorRow> {
    fn set<T>(field: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *field = value;
        }
    }
    set(&mut row.display_name, change.display_name);
    set(&mut row.features, change.features);
    set(&mut row.service_account, change.service_account);
    set(&mut row.proxy, change.proxy);
    set(&mut row.import_key_thumbprint, change.import_key_thumbprint);
    set(&mut row.auto_update, change.auto_update);
    if let Some(products) = change.co_installed {
        row.co_installed =
            parse_co_installed(&products).map_err(|e| invalid("InvalidField", e.to_string()))?;
    }
    Ok(row)
}

/// `row` after a check-in (or a health message: `health`) at `now` reporting `version`.
pub(crate) fn present(
    row: &ConnectorRow,
    version: Version,
    now: DateTime<Utc>,
    health: bool,
) -> ConnectorRow {
    let mut updated = row.clone();
    updated.version = version.to_string();
    updated.last_checkin_ms = Some(now.timestamp_millis());
    if health {
        updated.last_health_ms = Some(now.timestamp_millis());
    }
    updated
}

/// The first row of a job being queued at `now`.
pub(crate) fn new_job(id: JobId, tenant_id: &TenantId, job: NewJob, now_ms: i64) -> JobRow {
    JobRow {
        id,
        tenant_id: tenant_id.clone(),
        kind: job.kind,
        state: JobState::Queued,
        payload: job.payload,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        visible_ms: now_ms,
        lease_token_hash: None,
        lease_connector_id: None,
        lease_expires_ms: None,
        result: None,
        error_code: None,
        error_message: None,
        created_ms: now_ms,
        completed_ms: None,
    }
}

/// The store's write that completes a job as `write` planned, if `token_hash` still holds it.
pub(crate) fn completion<'a>(
    job_id: &'a JobId,
    token_hash: &'a str,
    report: &'a Report,
    write: &PlannedWrite,
    now: DateTime<Utc>,
) -> Completion<'a> {
    let (result, error_code, error_message) = match report {
        Report::Succeeded { result } => (Some(result.as_str()), None, None),
        Report::Failed { code, message } => (None, Some(code.as_str()), message.as_deref()),
        Report::Retry { code, message } => (None, code.as_deref(), message.as_deref()),
    };
    Completion {
        job_id,
        token_hash,
        now_ms: now.timestamp_millis(),
        new_state: write.state,
        attempt_outcome: report.outcome(),
        visible_ms: write.visible.timestamp_millis(),
        result,
        error_code,
        error_message,
    }
}
