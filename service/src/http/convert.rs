//! Wire bodies in: validation of input lives here, at the edge; a value that passes is a domain
//! type or an `ops` value from then on (`render` is the way out).

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::connector::{parse_co_installed, Product};
use crate::domain::jobs::{
    DEFAULT_VISIBILITY_SECONDS, MAX_ENQUEUE_BATCH, MAX_LEASE_BATCH, MAX_VISIBILITY_SECONDS,
};
use crate::domain::{FeatureSet, JobKind, Outcome, Version};
use crate::ops::{
    invalid, kind_not_by_profile, Lease, NewConnector, NewJob, OpsError, ProfileKind,
    ProfileRequest, Reconfigure, Report,
};
use crate::profiles::Profile;

const MAX_NAME: usize = 256;

fn text_field(field: &str, value: &str, max: usize) -> Result<String, OpsError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(
            "InvalidField",
            format!("{field} must not be empty"),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(invalid(
            "InvalidField",
            format!("{field} is longer than {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(
            "InvalidField",
            format!("{field} contains control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn version(field: &str, value: &str) -> Result<Version, OpsError> {
    Version::parse(value).map_err(|e| invalid("InvalidVersion", format!("{field}: {e}")))
}

fn features(values: &[String]) -> Result<FeatureSet, OpsError> {
    FeatureSet::parse(values).map_err(|e| match e {
        crate::domain::feature::FeatureError::Empty => {
            invalid("EmptyFeatures", format!("features: {e}"))
        }
        crate::domain::feature::FeatureError::Unknown(_) => {
            invalid("UnknownFeature", format!("features: {e}"))
        }
    })
}

/// `SYSTEM`, or `DOMAIN\user` (both parts non-empty, no further backslash).
fn service_account(value: &str) -> Result<String, OpsError> {
    let value = text_field("serviceAccount", value, MAX_NAME)?;
    if value.eq_ignore_ascii_case("SYSTEM") {
        return Ok("SYSTEM".to_owned());
    }
    match value.split_once('\\') {
        Some((domain, user))
            if !domain.is_empty()
                && !user.is_empty()
                && !user.contains('\\')
                && !value.contains(' ') =>
        {
            Ok(value)
        }
        _ => Err(invalid(
            "InvalidField",
            format!("serviceAccount `{value}` must be SYSTEM or DOMAIN\\user"),
        )),
    }
}

fn proxy(value: &str) -> Result<Option<String>, OpsError> {
    if value.is_empty() {
        return Ok(None);
    }
    let value = text_field("proxy", value, 2048)?;
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(Some(value)),
        _ => Err(invalid(
            "InvalidField",
            format!("proxy `{value}` must be an http:// or https:// URL with a host"),
        )),
    }
}

pub fn thumbprint(value: &str) -> Result<Option<String>, OpsError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(value.to_ascii_lowercase()))
    } else {
        Err(invalid(
            "InvalidField",
            format!("importKeyThumbprint `{value}` must be 40 hexadecimal characters (SHA-1)"),
        ))
    }
}

fn co_installed(values: &[String]) -> Result<Vec<String>, OpsError> {
    parse_co_installed(values)
        .map_err(|e| invalid("InvalidField", format!("coInstalledProducts: {e}")))
}

pub fn register(body: wire::connector::RegisterRequest) -> Result<NewConnector, OpsError> {
    Ok(NewConnector {
        machine_name: text_field("machineName", &body.machine_name, 255)?,
        display_name: text_field("displayName", &body.display_name, MAX_NAME)?,
        features: features(&body.features)?,
        version: version("version", &body.version)?,
        product: match body.product.as_deref() {
            None => Product::CertificateConnector,
            Some(p) => {
                Product::parse(p).map_err(|e| invalid("InvalidField", format!("product: {e}")))?
            }
        },
        service_account: match body.service_account.as_deref() {
            None => "SYSTEM".to_owned(),
            Some(a) => service_account(a)?,
        },
        co_installed: co_installed(body.co_installed_products.as_deref().unwrap_or_default())?,
        auto_update: body.auto_update.unwrap_or(true),
        proxy: proxy(body.proxy.as_deref().unwrap_or_default())?,
        import_key_thumbprint: thumbprint(
            body.import_key_thumbprint.as_deref().unwrap_or_default(),
        )?,
    })
}

pub fn reconfigure(body: wire::connector::ReconfigureRequest) -> Result<Reconfigure, OpsError> {
    Ok(Reconfigure {
        display_name: body
            .display_name
            .as_deref()
            .map(|v| text_field("displayName", v, MAX_NAME))
            .transpose()?,
        features: body.features.as_deref().map(features).transpose()?,
        service_account: body
            .service_account
            .as_deref()
            .map(service_account)
            .transpose()?,
        proxy: body.proxy.as_deref().map(proxy).transpose()?,
        import_key_thumbprint: body
            .import_key_thumbprint
            .as_deref()
            .map(thumbprint)
            .transpose()?,
        auto_update: body.auto_update,
        co_installed: body
            .co_installed_products
            .as_deref()
            .map(co_installed)
            .transpose()?,
    })
}

/// RFC 3339, or a bare `YYYY-MM-DD` meaning midnight UTC.
pub fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, OpsError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(at) = date.and_hms_opt(0, 0, 0) {
            return Ok(at.and_utc());
        }
    }
    Err(invalid(
        "InvalidField",
        format!("{field} `{value}` is not an RFC 3339 date-time like 2022-05-04T00:00:00Z"),
    ))
}

/// A certificate given as PEM or as base64 DER; the error names the field.
pub fn certificate(field: &str, value: &str) -> Result<openssl::x509::X509, OpsError> {
    let bad = |why: String| invalid("InvalidCertificate", format!("{field}: {why}"));
    let trimmed = value.trim();
    if trimmed.starts_with("-----BEGIN") {
        if trimmed
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(bad("the PEM holds control characters".into()));
        }
        return openssl::x509::X509::from_pem(trimmed.as_bytes())
            .map_err(|_| bad("the PEM does not hold a parsable X.509 certificate".into()));
    }
    let der = base64_bytes(field, trimmed)?;
    openssl::x509::X509::from_der(&der)
        .map_err(|_| bad("the DER does not parse as an X.509 certificate".into()))
}

pub fn base64_bytes(field: &str, value: &str) -> Result<Vec<u8>, OpsError> {
    use base64::Engine as _;
    if value.is_empty() {
        return Err(invalid(
            "InvalidBase64",
            format!("{field} must not be empty"),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| invalid("InvalidBase64", format!("{field} is not valid base64: {e}")))
}

/// `S-1-` and up to 15 more decimal parts (a Windows security identifier as text).
fn is_sid(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("S-1-") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    parts.len() <= 15
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn typed<T: serde::de::DeserializeOwned>(
    kind: &str,
    payload: serde_json::Value,
) -> Result<T, OpsError> {
    serde_json::from_value(payload)
        .map_err(|e| invalid("InvalidPayload", format!("payload of a {kind} job: {e}")))
}

/// Checks a profile request (docs/behaviour.md, "Request queues and routing"): each refusal
/// names its field (`kind`, `profile`, `count`, `deviceKeyCertificate`).
pub fn profile_request(body: wire::jobs::EnqueueByProfile) -> Result<ProfileRequest, OpsError> {
    let kind =
        JobKind::parse(&body.kind).map_err(|e| invalid("UnknownJobKind", format!("kind: {e}")))?;
    let profile = Profile::parse(&body.profile)
        .map_err(|e| invalid("UnknownProfile", format!("profile: {e}")))?;
    let count = body
        .count
        .as_u64()
        .filter(|n| (1..=MAX_ENQUEUE_BATCH as u64).contains(n))
        .ok_or_else(|| {
            invalid(
                "InvalidField",
                format!(
                    "count must be a whole number from 1 to {MAX_ENQUEUE_BATCH}, not {}",
                    body.count
                ),
            )
        })? as u32;
    let kind = match kind {
        JobKind::PkcsCreate => {
            if let Some(pem) = &body.device_key_certificate {
                if !pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
                    return Err(invalid(
                        "InvalidCertificate",
                        "deviceKeyCertificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ));
                }
                certificate("deviceKeyCertificate", pem)?;
            }
            ProfileKind::PkcsCreate {
                device_key_certificate: body.device_key_certificate,
            }
        }
        JobKind::Revoke => {
            if body.device_key_certificate.is_some() {
                return Err(invalid(
                    "InvalidField",
                    "deviceKeyCertificate: only a pkcs_create request carries one, not a revoke",
                ));
            }
            ProfileKind::Revoke
        }
        JobKind::PkcsRecrypt | JobKind::PkcsImport => return Err(kind_not_by_profile(kind)),
    };
    Ok(ProfileRequest {
        kind,
        profile,
        count,
    })
}

/// A payload a profile made, checked and made canonical as a sent one is.
pub fn profile_job(kind: JobKind, payload: serde_json::Value) -> Result<NewJob, OpsError> {
    new_job(
        0,
        wire::jobs::EnqueueJob {
            kind: kind.as_str().to_owned(),
            payload,
        },
    )
}

/// Validates a job's payload for its kind and returns it as canonical JSON.
pub fn new_job(index: usize, job: wire::jobs::EnqueueJob) -> Result<NewJob, OpsError> {
    let at = |e: OpsError| match e {
        OpsError::Invalid { code, message } => OpsError::Invalid {
            code,
            message: format!("jobs[{index}]: {message}"),
        },
        other => other,
    };
    let kind = JobKind::parse(&job.kind)
        .map_err(|e| at(invalid("UnknownJobKind", format!("kind: {e}"))))?;
    let canonical = match kind {
        JobKind::PkcsCreate => {
            let p: wire::jobs::PkcsCreatePayload = typed(kind.as_str(), job.payload).map_err(at)?;
            text_field("payload.subject", &p.subject, 1024).map_err(at)?;
            text_field("payload.template", &p.template, MAX_NAME).map_err(at)?;
            text_field(
                "payload.certificationAuthority",
                &p.certification_authority,
                MAX_NAME,
            )
            .map_err(at)?;
            if let Some(days) = p.validity_days.filter(|d| !(1..=730).contains(d)) {
                return Err(at(invalid(
                    "InvalidField",
                    format!("payload.validityDays must be from 1 to 730, not {days}"),
                )));
            }
            if let Some(alg) = p
                .key_algorithm
                .as_deref()
                .filter(|a| !["rsa2048", "rsa4096", "p256", "p384"].contains(a))
            {
                return Err(at(invalid(
                    "InvalidField",
                    format!(
                        "payload.keyAlgorithm `{alg}` is not one of rsa2048, rsa4096, p256, p384"
                    ),
                )));
            }
            for (i, san) in p.subject_alternative_names.iter().enumerate() {
                if !["dns", "email", "upn", "uri"].contains(&san.kind.as_str()) {
                    return Err(at(invalid("InvalidField", format!("payload.subjectAlternativeNames[{i}].type `{}` is not dns, email, upn or uri", san.kind))));
                }
                text_field(
                    &format!("payload.subjectAlternativeNames[{i}].value"),
                    &san.value,
                    1024,
                )
                .map_err(at)?;
            }
            if let Some(sid) = p.sid.as_deref().filter(|s| !is_sid(s)) {
                return Err(at(invalid(
                    "InvalidField",
                    format!("payload.sid `{sid}` is not a security identifier (S-1-5-21-…)"),
                )));
            }
            certificate("payload.deviceKeyCertificate", &p.device_key_certificate).map_err(at)?;
            serde_json::to_string(&p)
        }
        JobKind::PkcsRecrypt => {
            let p: wire::jobs::PkcsRecryptPayload =
                typed(kind.as_str(), job.payload).map_err(at)?;
            let pfx = base64_bytes("payload.pfx", &p.pfx).map_err(at)?;
            if openssl::pkcs12::Pkcs12::from_der(&pfx).is_err() {
                return Err(at(invalid(
                    "InvalidPayload",
                    "payload.pfx is not a PKCS#12 structure",
                )));
            }
            base64_bytes("payload.encryptedPassword", &p.encrypted_password).map_err(at)?;
            certificate("payload.deviceKeyCertificate", &p.device_key_certificate).map_err(at)?;
            serde_json::to_string(&p)
        }
        JobKind::PkcsImport => {
            let p: wire::jobs::PkcsImportPayload = typed(kind.as_str(), job.payload).map_err(at)?;
            text_field(
                "payload.userPfxCertificateId",
                &p.user_pfx_certificate_id,
                MAX_NAME,
            )
            .map_err(at)?;
            certificate("payload.deviceCertificate", &p.device_certificate).map_err(at)?;
            serde_json::to_string(&p)
        }
        JobKind::Revoke => {
            let p: wire::jobs::RevokePayload = typed(kind.as_str(), job.payload).map_err(at)?;
            let serial = p.serial_number.trim();
            if serial.is_empty()
                || serial.len() > 64
                || !serial.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(at(invalid(
                    "InvalidField",
                    format!("payload.serialNumber `{serial}` must be 1 to 64 hexadecimal digits"),
                )));
            }
            text_field("payload.issuerName", &p.issuer_name, 1024).map_err(at)?;
            text_field(
                "payload.certificationAuthority",
                &p.certification_authority,
                MAX_NAME,
            )
            .map_err(at)?;
            serde_json::to_string(&p)
        }
    };
    Ok(NewJob {
        kind,
        payload: canonical.map_err(|e| OpsError::Corrupt(e.to_string()))?,
    })
}

/// What a lease holder reports for a job.
pub fn report(body: &wire::jobs::CompleteJob) -> Result<Report, OpsError> {
    let message = body
        .error_message
        .as_deref()
        .map(|m| m.chars().take(1024).collect::<String>());
    let outcome = Outcome::parse(&body.outcome).map_err(|_| {
        invalid(
            "InvalidField",
            format!(
                "outcome `{}` is not succeeded, failed or retry",
                body.outcome
            ),
        )
    })?;
    match outcome {
        Outcome::Succeeded => match &body.result {
            Some(result @ serde_json::Value::Object(_)) => Ok(Report::Succeeded {
                result: result.to_string(),
            }),
            _ => Err(invalid(
                "InvalidField",
                "result must be a JSON object when outcome is `succeeded`",
            )),
        },
        Outcome::Failed => match body.error_code.as_deref() {
            Some(code) if !code.trim().is_empty() && code.len() <= 128 => Ok(Report::Failed {
                code: code.to_owned(),
                message,
            }),
            _ => Err(invalid(
                "InvalidField",
                "errorCode (1 to 128 characters) is required when outcome is `failed`",
            )),
        },
        Outcome::Retry => Ok(Report::Retry {
            code: body.error_code.clone(),
            message,
        }),
    }
}

/// A lease request: how many jobs, for how long, of which kinds.
pub fn lease(body: wire::connector::LeaseRequest) -> Result<Lease, OpsError> {
    let max = one_to("InvalidField", "max", body.max, MAX_LEASE_BATCH)?;
    let visibility = one_to(
        "InvalidField",
        "visibilityTimeoutSeconds",
        body.visibility_timeout_seconds
            .unwrap_or(DEFAULT_VISIBILITY_SECONDS),
        MAX_VISIBILITY_SECONDS,
    )?;
    let kinds = body
        .kinds
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    JobKind::parse(name)
                        .map_err(|e| invalid("UnknownJobKind", format!("kinds: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Lease {
        kinds,
        max,
        visibility_seconds: visibility,
    })
}

/// A lease's `waitMs`: how long it may wait for work when it finds none (0, the default: not at
/// all), at most `ops::MAX_WAIT`.
pub fn lease_wait(wait_ms: Option<u64>) -> Result<std::time::Duration, OpsError> {
    let most = crate::ops::MAX_WAIT.as_millis() as u64;
    match wait_ms.unwrap_or(0) {
        ms if ms <= most => Ok(std::time::Duration::from_millis(ms)),
        ms => Err(invalid(
            "InvalidField",
            format!("waitMs must be from 0 to {most} (a lease waits at most 20 s), not {ms}"),
        )),
    }
}

/// The `Idempotency-Key` header of an enqueue, if there is one: 1 to 255 printable ASCII
/// characters.
pub fn idempotency_key(value: Option<&axum::http::HeaderValue>) -> Result<Option<&str>, OpsError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let refused = || {
        invalid(
            "InvalidField",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| refused())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(refused());
    }
    Ok(Some(key))
}

/// `value` of `field` when it is from 1 to `most`; otherwise the error `code` that says so.
pub fn one_to(code: &'static str, field: &str, value: u32, most: u32) -> Result<u32, OpsError> {
    if value == 0 || value > most {
        return Err(invalid(
            code,
            format!("{field} must be from 1 to {most}, not {value}"),
        ));
    }
    Ok(value)
}
