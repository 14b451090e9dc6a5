//! The NDES-like endpoint: GetCACaps, GetCACert and PKIOperation. A PKCSReq is opened with the
//! RA key, validated with Intune, issued by the CA and answered with a CertRep; Intune hears of
//! the outcome, and a notification it does not take is spooled and retried
//! ([`ScepEndpoint::drain`]). A CA that cannot be reached leaves the request PENDING.

use std::collections::HashMap;
use std::sync::Mutex;

use asn1::x509::AltName;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Req, X509};

use super::intune::{caller_info, scep_action, validate_request};
use super::message::{self, FailInfo, MessageType, PkiRequest, PkiStatus, ScepError};
use super::spool::{self, Spool, Spooled};
use crate::ca::CaDirectory;
use crate::client::{ClientError, ServiceClient};
use crate::clock::Clock;
use crate::correlation::Correlation;
use crate::events::{EventId, SharedLog};
use crate::pki::{certificate_request, CaError, IssueRequest};

/// How the SCEP module is set up (the NDES server's registry settings, in the real product).
#[derive(Debug, Clone)]
pub struct ScepSettings {
    /// The CA (`host\Name` in the CA directory) and the template SCEP certificates use.
    pub ca: String,
    pub template: String,
    pub validity_days: u32,
    /// Where undelivered notifications wait.
    pub spool_dir: std::path::PathBuf,
}

/// Who the module calls Intune as: the connector's identity.
#[derive(Debug, Clone)]
pub struct ScepIdentity {
    pub client: ServiceClient,
    pub credential: String,
    pub version: String,
    pub log: SharedLog,
    pub seed: u64,
}

/// What one PKIOperation came to (for the harness and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Issued {
        serial: String,
    },
    Refused {
        code: String,
    },
    Failed {
        reason: String,
    },
    /// The CA could not be reached; the device is told PENDING and polls.
    Pending {
        reason: String,
    },
}

/// What the CertRep says.
enum Reply {
    Issued(X509),
    Failure(FailInfo),
    Pending,
}

/// A validated request the CA could not take yet (answered PENDING).
#[derive(Debug, Clone)]
struct Pending {
    csr_der: Vec<u8>,
    caller_info: String,
    /// The requester's public key (DER): only it may poll.
    signer_key: Vec<u8>,
}

pub struct ScepEndpoint {
    settings: ScepSettings,
    identity: ScepIdentity,
    cas: CaDirectory,
    /// The CEP Encryption RA certificate (keyEncipherment only): requests are encrypted to it.
    encryption: Ra,
    /// The Exchange Enrollment Agent RA certificate (digitalSignature only): it signs CertReps.
    signing: Ra,
    ca_cert: X509,
    spool: Spool,
    correlation: Mutex<Correlation>,
    clock: Clock,
    last: Mutex<Option<Outcome>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// One RA certificate and its key.
struct Ra {
    key: PKey<Private>,
    cert: X509,
}

impl Ra {
    /// An RSA-2048 key and its certificate from `ca` with `template`; also the CA certificate.
    async fn issue(
        cas: &CaDirectory,
        ca: &str,
        template: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<(Ra, X509), CaError> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let csr = certificate_request(&key, subject)?;
        let request = IssueRequest {
            template: template.into(),
            subject: subject.into(),
            subject_alternative_names: Vec::new(),
            validity_days: 730,
            sid: None,
            requester: None,
        };
        let issued = cas.issue(ca, &csr, &request, now).await?;
        let ra = Ra {
            key,
            cert: issued.certificate,
        };
        Ok((ra, issued.ca_certificate))
    }
}

impl std::fmt::Debug for ScepEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepEndpoint")
            .field("ca", &self.settings.ca)
            .field("template", &self.settings.template)
            .field("spool", &self.spool.dir())
            .finish()
    }
}

/// The HRESULTs a failure notification carries: refused by Intune (E_ACCESSDENIED), the CA
/// failed (E_FAIL), the request could not be read (CRYPT_E_ASN1_BADTAG).
const HRESULT_REFUSED: i64 = 0x8007_0005;
const HRESULT_CA_FAILED: i64 = 0x8000_4005;

fn signed(hresult: i64) -> i64 {
    // As the Java client sends it: the 32-bit value sign-extended.
    hresult as u32 as i32 as i64
}

impl ScepEndpoint {
    /// Sets the module up: two RA certificates (RSA-2048) issued by the CA as NDES enrolls
    /// them, one to decrypt requests (`CEPEncryption`, KU keyEncipherment only) and one to sign
    /// CertReps (`EnrollmentAgentOffline`, KU digitalSignature only), so a client that picks its
    /// recipient by key usage finds the right one.
    pub async fn new(
        settings: ScepSettings,
        identity: ScepIdentity,
        cas: CaDirectory,
        clock: Clock,
    ) -> Result<ScepEndpoint, CaError> {
        message::load_legacy_provider();
        let now = clock();
        let (encryption, ca_cert) = Ra::issue(
            &cas,
            &settings.ca,
            "CEPEncryption",
            "CN=NDES RA CEP Encryption,O=intune-mock",
            now,
        )
        .await?;
        let (signing, _) = Ra::issue(
            &cas,
            &settings.ca,
            "EnrollmentAgentOffline",
            "CN=NDES RA Exchange Enrollment Agent,O=intune-mock",
            now,
        )
        .await?;
        Ok(ScepEndpoint {
            spool: Spool::new(settings.spool_dir.clone()),
            correlation: Mutex::new(Correlation::seeded(identity.seed ^ 0x5CE9_5CE9)),
            settings,
            identity,
            cas,
            encryption,
            signing,
            ca_cert,
            clock,
            last: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The RA certificate requests are encrypted to (CEP Encryption).
    pub fn ra_certificate(&self) -> &X509 {
        &self.encryption.cert
    }

    /// The RA certificate that signs CertReps (Exchange Enrollment Agent).
    pub fn signing_certificate(&self) -> &X509 {
        &self.signing.cert
    }

    pub fn ca_certificate(&self) -> &X509 {
        &self.ca_cert
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// What the last PKIOperation came to.
    pub fn last_outcome(&self) -> Option<Outcome> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// GetCACaps: what NDES on Windows Server 2016+ says, plus AES and SCEPStandard (RFC 8894),
    /// without `Renewal`: Intune devices re-enroll with a new challenge, so RenewalReq is refused.
    pub fn capabilities(&self) -> &'static str {
        "AES\nDES3\nPOSTPKIOperation\nSHA-1\nSHA-256\nSHA-512\nSCEPStandard\n"
    }

    /// GetCACert: a certs-only PKCS#7 with both RA certificates (signing, then encryption)
    /// and the CA certificate, as NDES answers.
    pub fn ca_certs(&self) -> Result<Vec<u8>, ScepError> {
        message::certs_only(&[&self.signing.cert, &self.encryption.cert, &self.ca_cert])
    }

    fn correlation_id(&self) -> String {
        self.correlation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_id()
    }

    fn event(
        &self,
        at: DateTime<Utc>,
        id: EventId,
        correlation: &str,
        message: &str,
        data: serde_json::Value,
    ) {
        let mut log = self.identity.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.emit(at, id, Some(correlation), message, data) {
            tracing::warn!(error = %e, event_id = id.number(), "cannot write the event log");
        }
    }

    fn remember(&self, outcome: Outcome) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }

    /// PKIOperation: a pkiMessage in, a CertRep out. `Err` only when the message cannot be
    /// read at all (no signer to answer): the HTTP layer answers 400 with the reason.
    pub async fn pki_operation(&self, body: &[u8]) -> Result<Vec<u8>, ScepError> {
        let now = self.now();
        let request = PkiRequest::parse(body)?;
        let correlation = self.correlation_id();
        let tx = request.transaction_id.clone();
        self.event(
            now,
            EventId::ScepRequestReceived,
            &correlation,
            &format!("Received SCEP request {tx}"),
            serde_json::json!({"transactionId": tx, "messageType": request.message_type.code(), "digest": request.digest.name()}),
        );
        let reply = match request.message_type {
            MessageType::PkcsReq => self.enroll(&request, now, &correlation).await,
            MessageType::CertPoll => self.poll(&request, now, &correlation).await,
            other => {
                // Intune SCEP profiles re-enroll with a new challenge; NDES under Intune takes
                // PKCSReq, and CertPoll for a request it answered PENDING.
                let reason = format!(
                    "messageType {} is not served; Intune devices enroll with PKCSReq (19)",
                    other.code()
                );
                self.event(
                    now,
                    EventId::ScepIssuedFailure,
                    &correlation,
                    &reason,
                    serde_json::json!({"transactionId": tx}),
                );
                self.remember(Outcome::Failed { reason });
                Reply::Failure(match other {
                    MessageType::GetCert => FailInfo::BadCertId,
                    _ => FailInfo::BadRequest,
                })
            }
        };
        let (status, issued) = match &reply {
            Reply::Issued(certificate) => (PkiStatus::Success, vec![certificate]),
            Reply::Failure(info) => (PkiStatus::Failure(*info), vec![]),
            Reply::Pending => (PkiStatus::Pending, vec![]),
        };
        message::cert_rep(
            &request,
            status,
            &issued,
            &self.signing.cert,
            &self.signing.key,
        )
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many requests wait for the CA (answered PENDING).
    pub fn pending_count(&self) -> usize {
        self.pending().len()
    }

    /// CertPoll (GetCertInitial) for a request answered PENDING: the CA is tried again.
    async fn poll(&self, request: &PkiRequest, now: DateTime<Utc>, correlation: &str) -> Reply {
        let tx = request.transaction_id.as_str();
        let signer = request
            .signer
            .public_key()
            .and_then(|k| k.public_key_to_der())
            .ok();
        // Taken out while the CA is asked, so a second poll at the same time cannot issue twice.
        let waiting = {
            let mut pending = self.pending();
            match pending.get(tx) {
                Some(w) if signer.as_deref() == Some(&w.signer_key[..]) => pending.remove(tx),
                _ => None,
            }
        };
        let Some(waiting) = waiting else {
            let reason = format!("no request from this device waits under transaction {tx}");
            self.event(
                now,
                EventId::ScepIssuedFailure,
                correlation,
                &reason,
                serde_json::json!({"transactionId": tx}),
            );
            self.remember(Outcome::Failed { reason });
            return Reply::Failure(FailInfo::BadCertId);
        };
        let reply = self
            .issue_and_notify(tx, &waiting.csr_der, &waiting.caller_info, now, correlation)
            .await;
        if matches!(reply, Reply::Pending) {
            self.pending().insert(tx.to_owned(), waiting);
        }
        reply
    }

    async fn enroll(&self, request: &PkiRequest, now: DateTime<Utc>, correlation: &str) -> Reply {
        let tx = request.transaction_id.as_str();
        let csr_der = match request.open(&self.encryption.key, &self.encryption.cert) {
            Ok(der) => der,
            Err(e) => {
                let reason = e.to_string();
                self.event(
                    now,
                    EventId::ScepVerifyFailure,
                    correlation,
                    &format!("Failed to read SCEP request {tx}: {reason}"),
                    serde_json::json!({"transactionId": tx}),
                );
                self.remember(Outcome::Failed { reason });
                return Reply::Failure(e.fail_info());
            }
        };
        let csr_b64 = base64::engine::general_purpose::STANDARD.encode(&csr_der);
        let caller_info = caller_info(&self.identity.version);
        match self.validate(tx, &csr_b64, &caller_info, correlation).await {
            Ok(answer) if answer.code == "Success" => {
                self.event(
                    now,
                    EventId::ScepVerifySuccess,
                    correlation,
                    &format!("Intune validated SCEP request {tx}"),
                    serde_json::json!({"transactionId": tx, "code": answer.code}),
                );
            }
            outcome => {
                // Refused by Intune, or Intune could not be asked: either way nothing is issued.
                let (code, description, result) = match outcome {
                    Ok(answer) => (
                        answer.code.clone(),
                        answer.error_description,
                        Outcome::Refused { code: answer.code },
                    ),
                    Err(e) => {
                        let reason = format!("the validation call failed: {e}");
                        (
                            "Unknown".to_owned(),
                            reason.clone(),
                            Outcome::Failed { reason },
                        )
                    }
                };
                self.event(
                    now,
                    EventId::ScepVerifyFailure,
                    correlation,
                    &format!("Failed to verify SCEP request {tx} with Intune: {code}"),
                    serde_json::json!({"transactionId": tx, "code": code, "errorDescription": description}),
                );
                let notification = serde_json::json!({
                    "transactionId": tx,
                    "certificateRequest": csr_b64,
                    "hResult": signed(HRESULT_REFUSED),
                    "errorDescription": truncate(&format!("{code}: {description}"), 255),
                    "callerInfo": caller_info,
                });
                self.notify("failure", tx, notification, now).await;
                self.remember(result);
                return Reply::Failure(FailInfo::BadRequest);
            }
        }
        let reply = self
            .issue_and_notify(tx, &csr_der, &caller_info, now, correlation)
            .await;
        if matches!(reply, Reply::Pending) {
            if let Ok(key) = request
                .signer
                .public_key()
                .and_then(|k| k.public_key_to_der())
            {
                self.pending().insert(
                    tx.to_owned(),
                    Pending {
                        csr_der,
                        caller_info,
                        signer_key: key,
                    },
                );
            }
        }
        reply
    }

    /// The CA issues; Intune hears of the certificate or of the failure. A CA that cannot be
    /// reached leaves the request PENDING (the device polls with CertPoll).
    async fn issue_and_notify(
        &self,
        tx: &str,
        csr_der: &[u8],
        caller_info: &str,
        now: DateTime<Utc>,
        correlation: &str,
    ) -> Reply {
        let csr_b64 = base64::engine::general_purpose::STANDARD.encode(csr_der);
        match self.issue(csr_der, now).await {
            Ok(certificate) => {
                let serial = certificate
                    .serial_number()
                    .to_bn()
                    .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
                    .unwrap_or_default();
                let thumbprint = certificate
                    .digest(openssl::hash::MessageDigest::sha1())
                    .map(|d| crate::pki::hex_upper(&d))
                    .unwrap_or_default();
                let expires = crate::pki::not_after(&certificate).unwrap_or(now);
                self.event(
                    now,
                    EventId::ScepIssuedSuccess,
                    correlation,
                    &format!("Issued certificate {serial} for SCEP request {tx}"),
                    serde_json::json!({"transactionId": tx, "serialNumber": serial, "thumbprint": thumbprint}),
                );
                let issuer = self
                    .ca_cert
                    .subject_name()
                    .entries()
                    .filter_map(|e| e.data().to_string().ok())
                    .collect::<Vec<_>>();
                let notification = serde_json::json!({
                    "transactionId": tx,
                    "certificateRequest": csr_b64,
                    "certificateThumbprint": thumbprint,
                    "certificateSerialNumber": serial,
                    "certificateExpirationDateUtc": expires.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                    "issuingCertificateAuthority": issuer.first().cloned().unwrap_or_default(),
                    "callerInfo": caller_info,
                    "caConfiguration": self.settings.ca,
                    "certificateAuthority": serde_json::Value::Null,
                });
                self.notify("success", tx, notification, now).await;
                self.remember(Outcome::Issued { serial });
                Reply::Issued(certificate)
            }
            Err(e) if e.is_transient() => {
                self.remember(Outcome::Pending {
                    reason: e.to_string(),
                });
                Reply::Pending
            }
            Err(e) => {
                let reason = e.to_string();
                self.event(
                    now,
                    EventId::ScepIssuedFailure,
                    correlation,
                    &format!("Failed to issue a certificate for SCEP request {tx}: {reason}"),
                    serde_json::json!({"transactionId": tx, "error": e.code()}),
                );
                let notification = serde_json::json!({
                    "transactionId": tx,
                    "certificateRequest": csr_b64,
                    "hResult": signed(HRESULT_CA_FAILED),
                    "errorDescription": truncate(&reason, 255),
                    "callerInfo": caller_info,
                });
                self.notify("failure", tx, notification, now).await;
                self.remember(Outcome::Failed { reason });
                Reply::Failure(FailInfo::BadRequest)
            }
        }
    }

    async fn validate(
        &self,
        tx: &str,
        csr_b64: &str,
        caller_info: &str,
        correlation: &str,
    ) -> Result<wire::scep::ScepAnswer, ClientError> {
        let request = validate_request(tx, csr_b64, caller_info);
        self.action("validateRequest", &request, correlation).await
    }

    async fn action<B: serde::Serialize>(
        &self,
        action: &str,
        body: &B,
        correlation: &str,
    ) -> Result<wire::scep::ScepAnswer, ClientError> {
        scep_action(
            &self.identity.client,
            &self.identity.credential,
            correlation,
            action,
            body,
        )
        .await
    }

    /// The CA issues for the request's own subject and subject alternative names (Intune has
    /// checked them against the profile).
    async fn issue(&self, csr_der: &[u8], now: DateTime<Utc>) -> Result<X509, CaError> {
        let csr = X509Req::from_der(csr_der)
            .map_err(|e| CaError::Denied(format!("the certificate request does not parse: {e}")))?;
        let wanted = IssueRequest {
            template: self.settings.template.clone(),
            subject: subject_text(&csr)?,
            subject_alternative_names: requested_sans(csr_der)?,
            validity_days: self.settings.validity_days,
            sid: None,
            requester: None,
        };
        Ok(self
            .cas
            .issue(&self.settings.ca, &csr, &wanted, now)
            .await?
            .certificate)
    }

    async fn send_notification(
        &self,
        kind: &str,
        notification: &serde_json::Value,
        correlation: &str,
    ) -> Result<(), ClientError> {
        let body = serde_json::json!({"notification": notification});
        self.action(&format!("{kind}Notification"), &body, correlation)
            .await
            .map(|_| ())
    }

    fn delivered(&self, kind: &str, tx: &str, now: DateTime<Utc>, correlation: &str) {
        self.event(
            now,
            EventId::ScepNotifySuccess,
            correlation,
            &format!("Notified Intune of the {kind} of SCEP request {tx}"),
            serde_json::json!({"transactionId": tx, "kind": kind}),
        );
        let (id, text) = if kind == "success" {
            (
                EventId::ScepRequestSuccess,
                "Processed SCEP request {tx} and notified Intune",
            )
        } else {
            (
                EventId::ScepRequestIssuedFailure,
                "Failed to process SCEP request {tx} and notified Intune",
            )
        };
        self.event(
            now,
            id,
            correlation,
            &text.replace("{tx}", tx),
            serde_json::json!({"transactionId": tx}),
        );
    }

    /// Sends a notification now; if Intune does not take it, spools it for [`Self::drain`].
    async fn notify(
        &self,
        kind: &str,
        tx: &str,
        notification: serde_json::Value,
        now: DateTime<Utc>,
    ) {
        let correlation = self.correlation_id();
        match self
            .send_notification(kind, &notification, &correlation)
            .await
        {
            Ok(()) => self.delivered(kind, tx, now, &correlation),
            Err(e) => {
                let item = Spooled {
                    kind: kind.to_owned(),
                    transaction_id: tx.to_owned(),
                    notification,
                    attempts: 1,
                    next_attempt_date_time: now + spool::backoff(1),
                    correlation_id: correlation.clone(),
                };
                self.spool_failed_attempt(&item, &e, now);
            }
        }
    }

    fn spool_failed_attempt(&self, item: &Spooled, error: &ClientError, now: DateTime<Utc>) {
        let tx = &item.transaction_id;
        match self.spool.save(item) {
            Ok(_) => self.event(now, EventId::ScepNotifyAttemptFailed, &item.correlation_id, &format!("Failed to notify Intune of SCEP request {tx} (attempt {}): {error}; will try again at {}", item.attempts, item.next_attempt_date_time.to_rfc3339()), serde_json::json!({"transactionId": tx, "kind": item.kind, "attempt": item.attempts, "nextAttemptDateTime": item.next_attempt_date_time})),
            Err(io) => {
                self.event(now, EventId::ScepNotifySaveToDiskFailed, &item.correlation_id, &format!("Failed to write the notification of SCEP request {tx} to {}: {io}", self.spool.dir().display()), serde_json::json!({"transactionId": tx, "kind": item.kind, "spool": self.spool.dir().display().to_string()}));
                self.event(now, EventId::ScepRequestUploadFailure, &item.correlation_id, &format!("Processed SCEP request {tx} but failed to notify Intune"), serde_json::json!({"transactionId": tx, "kind": item.kind}));
            }
        }
    }

    /// Sends every spooled notification that is due at `now`; returns how many were delivered.
    pub async fn drain(&self, now: DateTime<Utc>) -> usize {
        let entries = match self.spool.entries() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, spool = %self.spool.dir().display(), "cannot read the SCEP notification spool");
                return 0;
            }
        };
        let mut delivered = 0;
        for (path, item) in entries {
            let Some(mut item) = item else { continue };
            if item.next_attempt_date_time > now {
                continue;
            }
            match self
                .send_notification(&item.kind, &item.notification, &item.correlation_id)
                .await
            {
                Ok(()) => {
                    if let Err(e) = self.spool.remove(&path) {
                        tracing::warn!(error = %e, "cannot remove a delivered notification from the spool");
                    }
                    self.delivered(&item.kind, &item.transaction_id, now, &item.correlation_id);
                    delivered += 1;
                }
                Err(e) => {
                    item.attempts += 1;
                    item.next_attempt_date_time = now + spool::backoff(item.attempts);
                    self.spool_failed_attempt(&item, &e, now);
                }
            }
        }
        delivered
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The request's subject as `SHORT=value,…` (a value holding a comma cannot be written so).
fn subject_text(csr: &X509Req) -> Result<String, CaError> {
    let mut parts = Vec::new();
    for entry in csr.subject_name().entries() {
        let field = entry.object().nid().short_name().map_err(|_| {
            CaError::Denied("the subject holds an attribute this CA does not know".into())
        })?;
        let value = entry
            .data()
            .to_string()
            .map_err(|_| CaError::Denied(format!("subject {field} is not text")))?;
        if value.contains(',') {
            return Err(CaError::Denied(format!(
                "subject {field} `{value}` holds a comma, which this CA cannot issue"
            )));
        }
        parts.push(format!("{field}={value}"));
    }
    Ok(parts.join(","))
}

/// `(type, value)` of the SAN extension the request asks for: dns, email, uri, upn.
fn requested_sans(csr_der: &[u8]) -> Result<Vec<(String, String)>, CaError> {
    let names = asn1::pkcs10::requested_alt_names(csr_der)
        .map_err(|e| CaError::Denied(format!("the certificate request does not parse: {e}")))?;
    names
        .iter()
        .map(|name| match name {
            AltName::Unsupported(what) => Err(CaError::Denied(format!(
                "subject alternative name {what} is not supported"
            ))),
            name => {
                let (kind, value) = name.pair();
                Ok((kind.to_owned(), value.to_owned()))
            }
        })
        .collect()
}
