//! The connector's job workers: one per feature, as in the real product. Each round a worker
//! downloads (leases) its kinds of requests, does the certificate work with real crypto, and
//! uploads the results in one batch, writing the docs' events at each of those moments.
//!
//! Events are written only for downloads that returned requests, so a coalesced idle poll and
//! thirty real ones leave the same log.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{json, Value};
use wire::connector::Feature;
use wire::jobs::JobKind;

use crate::ca::CaDirectory;
use crate::events::EventId;
use crate::pki::{self, CaError, IssueRequest, KeyAlgorithm, KeyPool};

/// The tenant's PFX-import key as a connector machine holds it (a CNG key in the real product),
/// named as `userPFXCertificate.keyName` names it.
#[derive(Clone)]
pub struct ImportKey {
    pub name: String,
    pub key: PKey<Private>,
}

/// The key the connectors of a tenant share to re-encrypt issued PFX passwords (recrypt): the
/// password escrow of a PKCS result is enveloped to its certificate.
#[derive(Clone)]
pub struct RecryptKey {
    pub certificate: X509,
    pub key: PKey<Private>,
}

/// What a connector machine has to do certificate work: reachable CAs, a key pool, keys.
#[derive(Clone)]
pub struct Workbench {
    pub cas: CaDirectory,
    pub keys: KeyPool,
    pub import_key: Option<ImportKey>,
    pub recrypt_key: Option<RecryptKey>,
    /// Requests per download (lease) call.
    pub lease_batch: u32,
    /// The account the connector's service runs as, as a CA sees it (`DOMAIN\\user`, or the
    /// machine account `MACHINE$` for SYSTEM); set by [`crate::Connector::set_workbench`].
    pub account: Option<String>,
}

impl std::fmt::Debug for Workbench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workbench")
            .field("cas", &self.cas)
            .field("import_key", &self.import_key.as_ref().map(|k| &k.name))
            .field("recrypt_key", &self.recrypt_key.is_some())
            .field("lease_batch", &self.lease_batch)
            .field("account", &self.account)
            .finish()
    }
}

impl Workbench {
    pub fn new(cas: CaDirectory) -> Self {
        Workbench {
            cas,
            keys: KeyPool::new(),
            import_key: None,
            recrypt_key: None,
            lease_batch: 100,
            account: None,
        }
    }
}

/// The events of one job kind, from the docs' tables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindEvents {
    pub download_ok: EventId,
    pub download_failed: EventId,
    pub admin_download_ok: Option<EventId>,
    pub admin_download_failed: Option<EventId>,
    pub downloaded_one: EventId,
    pub work_ok: EventId,
    pub work_attempt_failed: Option<EventId>,
    pub work_failed: EventId,
    pub upload_ok: EventId,
    pub upload_failed: EventId,
    pub uploaded_one: EventId,
    pub admin_ok: Option<EventId>,
    pub admin_failed: Option<EventId>,
}

pub(crate) fn kind_events(kind: JobKind) -> KindEvents {
    match kind {
        JobKind::PkcsCreate => KindEvents {
            download_ok: EventId::PkcsDownloadSuccess,
            download_failed: EventId::PkcsDownloadFailure,
            admin_download_ok: None,
            admin_download_failed: None,
            downloaded_one: EventId::PkcsDownloadedRequest,
            work_ok: EventId::PkcsIssuedSuccess,
            work_attempt_failed: Some(EventId::PkcsIssuedFailedAttempt),
            work_failed: EventId::PkcsIssuedFailure,
            upload_ok: EventId::PkcsUploadSuccess,
            upload_failed: EventId::PkcsUploadFailure,
            uploaded_one: EventId::PkcsUploadedRequest,
            admin_ok: Some(EventId::PkcsRequestSuccess),
            admin_failed: Some(EventId::PkcsRequestFailure),
        },
        JobKind::PkcsRecrypt => KindEvents {
            download_ok: EventId::PkcsRecryptDownloadSuccess,
            download_failed: EventId::PkcsRecryptDownloadFailure,
            admin_download_ok: None,
            admin_download_failed: None,
            downloaded_one: EventId::PkcsRecryptDownloadedRequest,
            work_ok: EventId::PkcsRecryptReencryptSuccess,
            work_attempt_failed: None,
            work_failed: EventId::PkcsRecryptReencryptFailure,
            upload_ok: EventId::PkcsRecryptUploadSuccess,
            upload_failed: EventId::PkcsRecryptUploadFailure,
            uploaded_one: EventId::PkcsRecryptUploadedRequest,
            admin_ok: Some(EventId::PkcsRecryptRequestSuccess),
            admin_failed: Some(EventId::PkcsRecryptRequestFailure),
        },
        JobKind::PkcsImport => KindEvents {
            download_ok: EventId::PkcsImportDownloadSuccess,
            download_failed: EventId::PkcsImportDownloadFailure,
            admin_download_ok: Some(EventId::PkcsImportRequestSuccess),
            admin_download_failed: None,
            downloaded_one: EventId::PkcsImportDownloadedRequest,
            work_ok: EventId::PkcsImportReencryptSuccess,
            work_attempt_failed: Some(EventId::PkcsImportReencryptFailedAttempt),
            work_failed: EventId::PkcsImportReencryptFailure,
            upload_ok: EventId::PkcsImportUploadSuccess,
            upload_failed: EventId::PkcsImportUploadFailure,
            uploaded_one: EventId::PkcsImportUploadedRequest,
            admin_ok: None,
            admin_failed: Some(EventId::PkcsImportRequestFailure),
        },
        JobKind::Revoke => KindEvents {
            download_ok: EventId::RevokeDownloadSuccess,
            download_failed: EventId::RevokeDownloadFailure,
            admin_download_ok: Some(EventId::RevokeRequestSuccess),
            admin_download_failed: Some(EventId::RevokeRequestFailure),
            downloaded_one: EventId::RevokeDownloadedRequest,
            work_ok: EventId::RevokeSuccess,
            work_attempt_failed: Some(EventId::RevokeFailedAttempt),
            work_failed: EventId::RevokeFailure,
            upload_ok: EventId::RevokeUploadSuccess,
            upload_failed: EventId::RevokeUploadFailure,
            uploaded_one: EventId::RevokeUploadedRequest,
            admin_ok: None,
            admin_failed: None,
        },
    }
}

/// The kinds each feature's worker downloads, in the order the workers run.
pub fn worker_kinds(features: &[Feature]) -> Vec<JobKind> {
    let has = |f: Feature| features.contains(&f);
    let mut kinds = Vec::new();
    if has(Feature::Pkcs) {
        kinds.extend([JobKind::PkcsCreate, JobKind::PkcsRecrypt]);
    }
    if has(Feature::PkcsImport) {
        kinds.push(JobKind::PkcsImport);
    }
    if has(Feature::Revocation) {
        kinds.push(JobKind::Revoke);
    }
    kinds
}

/// The outcome of one job's work, before upload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Work {
    Succeeded(Value),
    /// Transient: the service gets `retry` (and the job comes back after a backoff).
    Retry {
        code: String,
        message: String,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// Extra events a job's work wrote (beyond the kind's table), e.g. 1032 or 1251.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub events: Vec<(EventId, String, Value)>,
}

fn field<'a>(payload: &'a Value, name: &str) -> Result<&'a str, Work> {
    payload
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Work::Failed {
            code: "InvalidPayload".into(),
            message: format!("payload field `{name}` is missing or not a string"),
        })
}

fn crypto_failure(code: &str, e: impl std::fmt::Display) -> Work {
    Work::Failed {
        code: code.to_owned(),
        message: e.to_string(),
    }
}

fn ca_failure(e: CaError, last_attempt: bool) -> Work {
    if e.is_transient() && !last_attempt {
        Work::Retry {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    } else {
        Work::Failed {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

fn pem(x: &X509) -> String {
    x.to_pem()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default()
}

impl Workbench {
    /// Does one job's work. `last_attempt`: a transient failure is then final.
    pub(crate) async fn process(
        &self,
        kind: JobKind,
        payload: &Value,
        last_attempt: bool,
        now: DateTime<Utc>,
        notes: &mut Notes,
    ) -> Work {
        let outcome = match kind {
            JobKind::PkcsCreate => self.pkcs_create(payload, last_attempt, now, notes).await,
            JobKind::PkcsRecrypt => self.pkcs_recrypt(payload, notes),
            JobKind::PkcsImport => self.pkcs_import(payload, last_attempt),
            JobKind::Revoke => self.revoke(payload, last_attempt, now, notes).await,
        };
        outcome.unwrap_or_else(|w| w)
    }

    async fn pkcs_create(
        &self,
        payload: &Value,
        last_attempt: bool,
        now: DateTime<Utc>,
        notes: &mut Notes,
    ) -> Result<Work, Work> {
        let ca_name = field(payload, "certificationAuthority")?;
        let device = pki::parse_certificate(field(payload, "deviceKeyCertificate")?)
            .map_err(|e| crypto_failure("InvalidDeviceKeyCertificate", e))?;
        let algorithm = payload
            .get("keyAlgorithm")
            .and_then(Value::as_str)
            .map(|a| {
                KeyAlgorithm::parse(a).ok_or_else(|| Work::Failed {
                    code: "InvalidPayload".into(),
                    message: format!("keyAlgorithm `{a}` is not known"),
                })
            })
            .transpose()?
            .unwrap_or(KeyAlgorithm::Rsa2048);
        let wanted = IssueRequest {
            template: field(payload, "template")?.to_owned(),
            subject: field(payload, "subject")?.to_owned(),
            subject_alternative_names: payload
                .get("subjectAlternativeNames")
                .and_then(Value::as_array)
                .map(|sans| {
                    sans.iter()
                        .map(|s| {
                            (
                                s["type"].as_str().unwrap_or_default().to_owned(),
                                s["value"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            validity_days: payload
                .get("validityDays")
                .and_then(Value::as_u64)
                .unwrap_or(365)
                .min(u32::MAX as u64) as u32,
            sid: payload
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            requester: self.account.clone(),
        };
        if self.cas.is_http(ca_name) {
            notes.events.push((
                EventId::PkcsDigiCertRequest,
                format!("forwarding the PKCS request to {ca_name}"),
                json!({"certificationAuthority": ca_name}),
            ));
        }
        // The key pair is made on the connector. An embedded CA takes its public key in process,
        // an HTTP CA gets a CSR signed with it (`CaDirectory::issue_for_key`).
        let key = self
            .keys
            .generate(algorithm)
            .map_err(|e| crypto_failure("CryptoError", e))?;
        pki::parse_subject(&wanted.subject).map_err(|e| crypto_failure("InvalidPayload", e))?;
        let issued = self
            .cas
            .issue_for_key(ca_name, &key, &wanted, now)
            .await
            .map_err(|e| ca_failure(e, last_attempt))?;
        let password = pki::random_password().map_err(|e| crypto_failure("CryptoError", e))?;
        let pfx = pki::build_pfx(&key, &issued.certificate, &issued.ca_certificate, &password)
            .map_err(|e| crypto_failure("CryptoError", e))?;
        let (encrypted, scheme) = pki::encrypt_to_device(&device, password.as_bytes())
            .map_err(|e| crypto_failure("DeviceEncryptionFailed", e))?;
        let serial = issued
            .certificate
            .serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default();
        let mut result = json!({
            "pfx": B64.encode(pfx),
            "encryptedPassword": B64.encode(encrypted),
            "passwordEncryption": scheme.as_str(),
            "certificate": pem(&issued.certificate),
            "serialNumber": serial,
            "thumbprint": pki::thumbprint(&issued.certificate).unwrap_or_default(),
            "issuerCertificate": pem(&issued.ca_certificate),
        });
        if let Some(recrypt) = &self.recrypt_key {
            let escrow = pki::envelope(&recrypt.certificate, password.as_bytes())
                .map_err(|e| crypto_failure("CryptoError", e))?;
            result["escrowedPassword"] = json!(B64.encode(escrow));
        }
        Ok(Work::Succeeded(result))
    }

    fn pkcs_recrypt(&self, payload: &Value, notes: &mut Notes) -> Result<Work, Work> {
        let device = pki::parse_certificate(field(payload, "deviceKeyCertificate")?)
            .map_err(|e| crypto_failure("InvalidDeviceKeyCertificate", e))?;
        let pfx = B64
            .decode(field(payload, "pfx")?)
            .map_err(|e| crypto_failure("InvalidPayload", e))?;
        let escrow = B64
            .decode(field(payload, "encryptedPassword")?)
            .map_err(|e| crypto_failure("InvalidPayload", e))?;
        let decrypted = match &self.recrypt_key {
            None => Err("this connector holds no recrypt key".to_owned()),
            Some(recrypt) => pki::open_envelope(&escrow, &recrypt.key, &recrypt.certificate)
                .map_err(|e| e.to_string())
                .and_then(|password| {
                    // The PFX must open with the escrowed password.
                    Pkcs12::from_der(&pfx)
                        .and_then(|p| p.parse2(&String::from_utf8_lossy(&password)))
                        .map(|_| password)
                        .map_err(|e| {
                            format!("the PFX does not open with the escrowed password: {e}")
                        })
                }),
        };
        let password = match decrypted {
            Ok(password) => password,
            Err(message) => {
                notes.events.push((
                    EventId::PkcsRecryptDecryptFailure,
                    message.clone(),
                    Value::Null,
                ));
                return Err(Work::Failed {
                    code: "DecryptFailed".into(),
                    message,
                });
            }
        };
        notes.events.push((
            EventId::PkcsRecryptDecryptSuccess,
            "decrypted the PFX password".into(),
            Value::Null,
        ));
        let (encrypted, scheme) = pki::encrypt_to_device(&device, &password)
            .map_err(|e| crypto_failure("DeviceEncryptionFailed", e))?;
        Ok(Work::Succeeded(json!({
            "encryptedPassword": B64.encode(encrypted),
            "passwordEncryption": scheme.as_str(),
            "deviceKeyThumbprint": pki::thumbprint(&device).unwrap_or_default(),
        })))
    }

    fn pkcs_import(&self, payload: &Value, last_attempt: bool) -> Result<Work, Work> {
        let device = pki::parse_certificate(field(payload, "deviceCertificate")?)
            .map_err(|e| crypto_failure("InvalidDeviceKeyCertificate", e))?;
        let pfx = payload
            .get("userPfxCertificate")
            .ok_or_else(|| Work::Failed {
                code: "UserPfxCertificateNotFound".into(),
                message: "the imported PFX this request names no longer exists".into(),
            })?;
        let key_name = pfx
            .get("keyName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let held = self
            .import_key
            .as_ref()
            .filter(|k| k.name.eq_ignore_ascii_case(key_name));
        let Some(import_key) = held else {
            let message = format!("this connector does not hold the import key `{key_name}`");
            // Another connector of the tenant may hold it: hand the request back.
            return Err(if last_attempt {
                Work::Failed {
                    code: "MissingImportKey".into(),
                    message,
                }
            } else {
                Work::Retry {
                    code: "MissingImportKey".into(),
                    message,
                }
            });
        };
        let encrypted = B64
            .decode(field(pfx, "encryptedPfxPassword")?)
            .map_err(|e| crypto_failure("InvalidPayload", e))?;
        let padding = pfx
            .get("paddingScheme")
            .and_then(Value::as_str)
            .unwrap_or("oaepSha512");
        let password = pki::rsa_decrypt(&import_key.key, &encrypted, padding)
            .map_err(|e| crypto_failure("DecryptFailed", e))?;
        let blob = B64
            .decode(field(pfx, "encryptedPfxBlob")?)
            .map_err(|e| crypto_failure("InvalidPayload", e))?;
        Pkcs12::from_der(&blob)
            .and_then(|p| p.parse2(&String::from_utf8_lossy(&password)))
            .map_err(|e| {
                crypto_failure(
                    "DecryptFailed",
                    format!("the imported PFX does not open with its password: {e}"),
                )
            })?;
        let enveloped = pki::envelope(&device, &password)
            .map_err(|e| crypto_failure("DeviceEncryptionFailed", e))?;
        Ok(Work::Succeeded(json!({
            "envelopedPassword": B64.encode(enveloped),
            "passwordEncryption": "cmsEnvelopedData",
            "deviceThumbprint": pki::thumbprint(&device).unwrap_or_default(),
        })))
    }

    async fn revoke(
        &self,
        payload: &Value,
        last_attempt: bool,
        now: DateTime<Utc>,
        notes: &mut Notes,
    ) -> Result<Work, Work> {
        let ca_name = field(payload, "certificationAuthority")?;
        let serial = field(payload, "serialNumber")?;
        if self.cas.is_http(ca_name) {
            notes.events.push((
                EventId::RevokeDigicertRequest,
                format!("forwarding the revocation of {serial} to {ca_name}"),
                json!({"certificationAuthority": ca_name, "serialNumber": serial}),
            ));
        }
        self.cas
            .revoke(ca_name, serial, now)
            .await
            .map_err(|e| ca_failure(e, last_attempt))?;
        Ok(Work::Succeeded(json!({
            "serialNumber": pki::normalize_serial(serial).unwrap_or_default(),
            "revokedDateTime": now,
        })))
    }
}
