//! Job queue bodies: enqueue (operator), job views, completion (connector), and the payload each
//! kind carries (what a real profile would).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnqueueJob {
    #[schema(
        pattern = "^(pkcs_create|pkcs_recrypt|pkcs_import|revoke)$",
        example = "revoke"
    )]
    pub kind: String,
    pub payload: serde_json::Value,
}

/// `POST /admin/tenants/{tid}/jobs`: one job, or `{"jobs": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EnqueueBody {
    Batch { jobs: Vec<EnqueueJob> },
    One(EnqueueJob),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: u32,
    pub connector_id: String,
    pub leased_date_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
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
    pub kind: String,
    /// `queued`, `leased`, `succeeded`, `failed`, `dead_letter` or `cancelled`.
    pub state: String,
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
    pub outcome: String,
    /// The job's state that this completion produced.
    pub state: String,
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
