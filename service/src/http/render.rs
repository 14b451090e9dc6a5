//! Wire bodies out: the `ops` views as the wire types that the handlers answer (`convert` is
//! the way in). Every wire field name the service writes is here, in `wire`, or in a handler;
//! the closed sets (kinds, states, outcomes, features) map through `closed_sets`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::lifecycle::{self, Evaluation, Severity};
use crate::domain::Status;
use crate::ops::{Attempt, CompletedJob, Connector, Job, LeasedJob, StatusChange, Tenant, UserPfx};

/// A connector's Graph `state`: `none` until its first check-in, `inactive` an hour after its
/// last one.
pub fn graph_state(last_checkin: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
    match last_checkin {
        None => "none",
        Some(at) if now - at < lifecycle::inactive_after() => "active",
        Some(_) => "inactive",
    }
}

/// The tenant without its secrets.
pub fn tenant(tenant: &Tenant) -> wire::admin::Tenant {
    wire::admin::Tenant {
        id: tenant.id.to_string(),
        display_name: tenant.display_name.clone(),
        rollout_delay_days: tenant.rollout_delay_days,
        client_id: tenant.client_id.clone(),
        enrollment_secret: None,
        client_secret: None,
        created_date_time: tenant.created,
        import_key_thumbprint: tenant.import_key_thumbprint.clone(),
    }
}

fn status(status: Status) -> wire::admin::Status {
    match status {
        Status::Healthy => wire::admin::Status::Healthy,
        Status::Warning => wire::admin::Status::Warning,
        Status::Error => wire::admin::Status::Error,
    }
}

pub fn connector_status(
    connector_id: &str,
    evaluation: &Evaluation,
) -> wire::admin::ConnectorStatus {
    wire::admin::ConnectorStatus {
        connector_id: connector_id.to_owned(),
        status: status(evaluation.status),
        reasons: evaluation
            .reasons
            .iter()
            .map(|r| wire::admin::Reason {
                code: r.code.as_str().to_owned(),
                severity: match r.code.severity() {
                    Severity::Warning => wire::admin::Severity::Warning,
                    Severity::Error => wire::admin::Severity::Error,
                },
                since: r.since,
                until: r.until,
                message: r.message.clone(),
            })
            .collect(),
        support_ends_date_time: evaluation.support_ends,
        function_ends_date_time: evaluation.function_ends,
    }
}

pub fn connector_view(
    connector: &Connector,
    evaluation: &Evaluation,
    now: DateTime<Utc>,
) -> wire::admin::ConnectorView {
    let facts = &connector.facts;
    wire::admin::ConnectorView {
        id: connector.id.to_string(),
        tenant_id: connector.tenant_id.to_string(),
        display_name: connector.display_name.clone(),
        machine_name: connector.machine_name.clone(),
        features: facts.features.iter().map(Into::into).collect(),
        version: facts.version.to_string(),
        product: facts.product.as_str().to_owned(),
        service_account: connector.service_account.clone(),
        proxy: connector.proxy.clone(),
        import_key_thumbprint: facts.import_key_thumbprint.clone(),
        auto_update: connector.auto_update,
        co_installed_products: facts.co_installed.clone(),
        enrolled_date_time: facts.enrolled,
        last_checkin_date_time: facts.last_checkin,
        state: graph_state(facts.last_checkin, now).to_owned(),
        status: connector_status(connector.id.as_str(), evaluation),
    }
}

pub fn history(change: &StatusChange) -> wire::admin::StatusChange {
    wire::admin::StatusChange {
        date_time: change.at,
        status: status(change.status),
        reasons: change
            .reasons
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
    }
}

pub fn ndes_connector(connector: &Connector, now: DateTime<Utc>) -> wire::graph::NdesConnector {
    let last = connector.facts.last_checkin;
    wire::graph::NdesConnector {
        odata_type: wire::graph::NDES_CONNECTOR_TYPE.to_owned(),
        id: connector.id.to_string(),
        last_connection_date_time: last,
        state: graph_state(last, now).to_owned(),
        display_name: connector.display_name.clone(),
        machine_name: connector.machine_name.clone(),
        enrolled_date_time: connector.facts.enrolled,
        role_scope_tag_ids: vec!["0".to_owned()],
        connector_version: connector.facts.version.to_string(),
    }
}

pub fn certificate_connector_details(
    connector: &Connector,
) -> wire::graph::CertificateConnectorDetails {
    wire::graph::CertificateConnectorDetails {
        odata_type: wire::graph::CERTIFICATE_CONNECTOR_DETAILS_TYPE.to_owned(),
        id: connector.id.to_string(),
        connector_name: connector.display_name.clone(),
        machine_name: connector.machine_name.clone(),
        enrollment_date_time: connector.facts.enrolled,
        last_checkin_date_time: connector.facts.last_checkin,
        connector_version: connector.facts.version.to_string(),
    }
}

fn json_or_null(text: Option<&str>) -> Option<Value> {
    text.map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
}

pub fn job_view(job: &Job, attempts: &[Attempt]) -> wire::jobs::JobView {
    wire::jobs::JobView {
        id: job.id.to_string(),
        tenant_id: job.tenant_id.to_string(),
        kind: job.kind.into(),
        state: job.state.into(),
        attempts: job.attempts.max(0) as u32,
        max_attempts: job.max_attempts.max(0) as u32,
        payload: json_or_null(Some(&job.payload)).unwrap_or_default(),
        result: json_or_null(job.result.as_deref()),
        error_code: job.error_code.clone(),
        error_message: job.error_message.clone(),
        created_date_time: job.created,
        completed_date_time: job.completed,
        leased_by: job.leased_by.as_ref().map(ToString::to_string),
        lease_expires_date_time: job.lease_expires,
        attempt_history: attempts
            .iter()
            .map(|a| wire::jobs::AttemptView {
                attempt: a.attempt.max(0) as u32,
                connector_id: a.holder.to_string(),
                leased_date_time: a.leased,
                outcome: a.outcome.map(Into::into),
                error_code: a.error_code.clone(),
                ended_date_time: a.ended,
            })
            .collect(),
    }
}

/// The PFX a `pkcs_import` job names, as the lease hands it to the connector (with the blob and
/// the encrypted password, which no admin view shows).
fn leased_user_pfx(pfx: &UserPfx) -> Value {
    json!({
        "id": pfx.id,
        "userPrincipalName": pfx.user_principal_name,
        "thumbprint": pfx.thumbprint,
        "intendedPurpose": pfx.intended_purpose,
        "providerName": pfx.provider_name,
        "keyName": pfx.key_name,
        "paddingScheme": pfx.padding_scheme,
        "encryptedPfxBlob": pfx.encrypted_pfx_blob,
        "encryptedPfxPassword": pfx.encrypted_pfx_password,
    })
}

pub fn leased_job(leased: LeasedJob) -> wire::connector::LeasedJob {
    let LeasedJob {
        job,
        token,
        user_pfx,
    } = leased;
    let mut payload = json_or_null(Some(&job.payload)).unwrap_or_default();
    if let (Some(pfx), Value::Object(map)) = (&user_pfx, &mut payload) {
        map.insert("userPfxCertificate".to_owned(), leased_user_pfx(pfx));
    }
    wire::connector::LeasedJob {
        id: job.id.into_string(),
        kind: job.kind.into(),
        lease_token: token,
        attempt: job.attempts.max(0) as u32,
        max_attempts: job.max_attempts.max(0) as u32,
        lease_expires_date_time: job.lease_expires.unwrap_or_default(),
        payload,
    }
}

pub fn completed(c: &CompletedJob) -> wire::jobs::Completed {
    wire::jobs::Completed {
        job_id: c.job_id.to_string(),
        attempt: c.attempt.max(0) as u32,
        outcome: c.outcome.into(),
        state: c.state.into(),
    }
}
