//! Job queue bodies: enqueue (operator), job views, completion (connector), and the payload each
//! kind carries (what a real profile would).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a job asks a connector to do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    PkcsCreate,
    PkcsRecrypt,
    PkcsImport,
    Revoke,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::PkcsCreate,
        JobKind::PkcsRecrypt,
        JobKind::PkcsImport,
        JobKind::Revoke,
    ];

    /// The name on the wire (as serde writes it), for the request fields that travel as text.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::PkcsCreate => "pkcs_create",
            JobKind::PkcsRecrypt => "pkcs_recrypt",
            JobKind::PkcsImport => "pkcs_import",
            JobKind::Revoke => "revoke",
        }
    }
}

/// Where a job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Leased,
    Succeeded,
    Failed,
    DeadLetter,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Leased,
        JobState::Succeeded,
        JobState::Failed,
        JobState::DeadLetter,
        JobState::Cancelled,
    ];

    /// The name on the wire (as serde writes it), e.g. for the `state` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Leased => "leased",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::DeadLetter => "dead_letter",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// What the holder of a lease reports for its job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Retry,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Succeeded, Outcome::Failed, Outcome::Retry];

    /// The name on the wire (as serde writes it), for [`CompleteJob::outcome`].
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Retry => "retry",
        }
    }
}

/// How one attempt (one lease) of a job ended: an [`Outcome`] its holder reported, or `expired`
/// (the lease ran out), `cancelled` (the job was cancelled while leased) or `released` (the
/// holder was uninstalled).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    Retry,
    Expired,
    Cancelled,
    Released,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 6] = [
        AttemptOutcome::Succeeded,
        AttemptOutcome::Failed,
        AttemptOutcome::Retry,
        AttemptOutcome::Expired,
        AttemptOutcome::Cancelled,
        AttemptOutcome::Released,
    ];

    /// The name on the wire (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Expired => "expired",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::Released => "released",
        }
    }
}

macro_rules! display_as_str {
    ($($name:ty),*) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
pub(crate) use display_as_str;

display_as_str!(JobKind, JobState, Outcome, AttemptOutcome);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnqueueJob {
    // Text, not a `JobKind`: an unknown kind is answered 400 `UnknownJobKind` naming the field
    // (serde would refuse the whole body as `invalidRequest`). Clients write `JobKind::as_str`.
    #[schema(
        pattern = "^(pkcs_create|pkcs_recrypt|pkcs_import|revoke)$",
        example = "revoke"
    )]
    pub kind: String,
    pub payload: serde_json::Value,
}

/// `POST /admin/tenants/{tid}/jobs` by profile: `count` jobs of `kind` with the payloads the
/// profile makes (the service makes the device key when `deviceKeyCertificate` is absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnqueueByProfile {
    /// `pkcs_create` or `revoke` (the service holds neither the recrypt key nor the import
    /// key's certificate that `pkcs_recrypt` and `pkcs_import` payloads need).
    #[schema(pattern = "^(pkcs_create|revoke)$", example = "pkcs_create")]
    pub kind: String,
    /// `default`, `digicert`, `rsa2048` or `wrong_key`.
    #[schema(
        pattern = "^(default|digicert|rsa2048|wrong_key)$",
        example = "default"
    )]
    pub profile: String,
    // A number of any shape (a 0, a 1.5, a -1 is answered 400 naming `count`, not as a body
    // serde refuses). Clients write an integer.
    /// How many jobs, 1 to 1000.
    #[schema(value_type = u32, minimum = 1, maximum = 1000, example = 2)]
    pub count: serde_json::Value,
    /// `pkcs_create` only: the device key certificate (PEM) the PFX passwords are encrypted to.
    /// Without it the service makes one P-256 device key for the call, whose private key
    /// `GET /admin/tenants/{tid}/jobs/{jobId}/device-key` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key_certificate: Option<String>,
}

/// `POST /admin/tenants/{tid}/jobs`: one job, `{"jobs": [...]}`, or a profile request (an object
/// with a `profile` key).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EnqueueBody {
    Batch { jobs: Vec<EnqueueJob> },
    One(EnqueueJob),
    Profile(EnqueueByProfile),
}

/// The form is told by the `profile` key, so a profile request that does not fit is refused
/// with what serde says of that form (`unknown field `x``), not the untagged enum's "data did
/// not match any variant".
impl<'de> Deserialize<'de> for EnqueueBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("profile").is_some() {
            return serde_json::from_value(value)
                .map(EnqueueBody::Profile)
                .map_err(D::Error::custom);
        }
        match serde_json::from_value(value).map_err(D::Error::custom)? {
            plain::EnqueueBody::Batch { jobs } => Ok(EnqueueBody::Batch { jobs }),
            plain::EnqueueBody::One(job) => Ok(EnqueueBody::One(job)),
        }
    }
}

mod plain {
    /// The two payload forms (named as the body, for serde's message when neither fits).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    pub enum EnqueueBody {
        Batch { jobs: Vec<super::EnqueueJob> },
        One(super::EnqueueJob),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: u32,
    pub connector_id: String,
    pub leased_date_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: String,
    pub tenant_id: String,
    pub kind: JobKind,
    /// `queued`, `leased`, `succeeded`, `failed`, `dead_letter` or `cancelled`.
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub payload: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub created_date_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_date_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_date_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_history: Vec<AttemptView>,
}

/// `POST /connector/v1/jobs/{id}/complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteJob {
    pub lease_token: String,
    /// `succeeded` (with `result`), `failed` (terminal, with `errorCode`) or `retry`.
    // Text, not an `Outcome`, for the same reason as `EnqueueJob::kind` (an unknown one is 400
    // `InvalidField` naming the field). Clients write `Outcome::as_str`.
    #[schema(pattern = "^(succeeded|failed|retry)$", example = "succeeded")]
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One entry of `POST /connector/v1/jobs/complete` (batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchCompletion {
    pub job_id: String,
    #[serde(flatten)]
    pub completion: CompleteJob,
}

/// `jobId` and the keys of [`CompleteJob`] in one object, as serde's `flatten` reads them. (A
/// derived schema would be an `allOf` whose `CompleteJob` part refuses `jobId`.)
impl utoipa::PartialSchema for BatchCompletion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{Schema, Type};
        use utoipa::openapi::RefOr;
        let mut schema = <CompleteJob as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.properties.insert(
                "jobId".to_owned(),
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(Type::String)
                    .into(),
            );
            object.required.insert(0, "jobId".to_owned());
            object.description =
                Some("One entry of `POST /connector/v1/jobs/complete` (batch).".to_owned());
        }
        schema
    }
}

impl ToSchema for BatchCompletion {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("BatchCompletion")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteBatch {
    pub completions: Vec<BatchCompletion>,
}

/// The answer to a completion; a repeat of the same completion gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completed {
    pub job_id: String,
    pub attempt: u32,
    pub outcome: Outcome,
    /// The job's state that this completion produced.
    pub state: JobState,
}

/// One answer of a batch completion: `completed`, or the error it would have had alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchCompletionResult {
    pub job_id: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Completed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectAltName {
    /// `dns`, `email`, `upn` or `uri`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// `pkcs_create`: what a PKCS certificate profile carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PkcsCreatePayload {
    pub subject: String,
    #[serde(default)]
    pub subject_alternative_names: Vec<SubjectAltName>,
    pub template: String,
    pub certification_authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_days: Option<u32>,
    /// `rsa2048`, `rsa4096`, `p256` or `p384`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<String>,
    /// The device key certificate (PEM or base64 DER) the PFX password is encrypted to.
    pub device_key_certificate: String,
    /// On-premises SID for the KB5014754 extension, when the profile includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// `pkcs_recrypt`: an issued PFX to re-encrypt for another device key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PkcsRecryptPayload {
    /// Base64 PKCS#12.
    pub pfx: String,
    /// Base64; the PFX password encrypted to the connector's recrypt key.
    pub encrypted_password: String,
    pub device_key_certificate: String,
}

/// `pkcs_import`: an imported user PFX to re-encrypt for a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PkcsImportPayload {
    pub user_pfx_certificate_id: String,
    pub device_certificate: String,
}

/// `revoke`: a certificate to revoke at its CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokePayload {
    /// Hexadecimal serial number.
    pub serial_number: String,
    pub issuer_name: String,
    pub certification_authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The lifecycle crate's job kind as the wire spells it (one exhaustive match: a new kind on either
/// side is a compile error here). The service's `http::closed_sets` tests hold the names equal.
impl From<lifecycle::JobKind> for JobKind {
    fn from(kind: lifecycle::JobKind) -> Self {
        match kind {
            lifecycle::JobKind::PkcsCreate => Self::PkcsCreate,
            lifecycle::JobKind::PkcsRecrypt => Self::PkcsRecrypt,
            lifecycle::JobKind::PkcsImport => Self::PkcsImport,
            lifecycle::JobKind::Revoke => Self::Revoke,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AttemptOutcome, JobKind, JobState, Outcome};
    use crate::connector::Feature;

    /// The names the OpenAPI document lists for a closed set (one per variant, as serde spells it).
    fn documented<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        serde_json::from_value(schema["enum"].clone()).unwrap()
    }

    /// `ALL` holds every variant, `as_str` is what serde writes and reads, and both are what the
    /// document lists.
    fn agree<T>(all: &[T], as_str: fn(T) -> &'static str, expected: &[&str])
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
        T: utoipa::PartialSchema,
    {
        let names: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        assert_eq!(names, expected);
        assert_eq!(documented::<T>(), expected);
        for value in all {
            let written = serde_json::to_value(value).unwrap();
            assert_eq!(written, as_str(*value));
            assert_eq!(serde_json::from_value::<T>(written).unwrap(), *value);
        }
    }

    #[test]
    fn the_closed_sets_keep_their_wire_names() {
        agree(
            &JobKind::ALL,
            JobKind::as_str,
            &["pkcs_create", "pkcs_recrypt", "pkcs_import", "revoke"],
        );
        agree(
            &JobState::ALL,
            JobState::as_str,
            &[
                "queued",
                "leased",
                "succeeded",
                "failed",
                "dead_letter",
                "cancelled",
            ],
        );
        agree(
            &Outcome::ALL,
            Outcome::as_str,
            &["succeeded", "failed", "retry"],
        );
        agree(
            &AttemptOutcome::ALL,
            AttemptOutcome::as_str,
            &[
                "succeeded",
                "failed",
                "retry",
                "expired",
                "cancelled",
                "released",
            ],
        );
        agree(
            &Feature::ALL,
            Feature::as_str,
            &["pkcs", "pkcs_import", "scep", "revocation"],
        );
        assert_eq!(JobState::DeadLetter.to_string(), "dead_letter");
    }

    #[test]
    fn a_name_outside_the_set_does_not_read() {
        for (json, what) in [
            (r#""PKCS_CREATE""#, "job kind in capitals"),
            (r#""deadLetter""#, "state in camelCase"),
            (r#""ndes""#, "unknown feature"),
        ] {
            assert!(
                serde_json::from_str::<JobKind>(json).is_err()
                    && serde_json::from_str::<JobState>(json).is_err()
                    && serde_json::from_str::<Feature>(json).is_err(),
                "{what} was read"
            );
        }
    }
}
