//! The certification authorities a connector reaches: embedded ones (a Microsoft-CA-like issuer
//! in the same process, as an Enterprise CA on the network would be) and HTTP ones (a
//! DigiCert-like CA service, [`serve_http_ca`]), by their configuration name (`host\Name`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use openssl::pkey::{PKeyRef, Private};
use openssl::x509::{X509Req, X509};
use serde::{Deserialize, Serialize};

use crate::pki::{self, CaError, CertificateAuthority, IssueRequest};

pub type SharedCa = Arc<Mutex<CertificateAuthority>>;

fn lock(ca: &SharedCa) -> std::sync::MutexGuard<'_, CertificateAuthority> {
    ca.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone)]
pub enum CaEndpoint {
    Embedded(SharedCa),
    /// A CA service reached over HTTP (DigiCert-like): the connector forwards requests to it.
    Http {
        base_url: String,
        http: reqwest::Client,
    },
}

/// What issuing returned: the certificate and the CA certificate it chains to.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate: X509,
    pub ca_certificate: X509,
}

#[derive(Debug, Clone, Default)]
pub struct CaDirectory {
    inner: Arc<Mutex<BTreeMap<String, CaEndpoint>>>,
}

impl CaDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CaEndpoint>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_embedded(&self, ca: CertificateAuthority) -> SharedCa {
        let name = ca.name.to_ascii_lowercase();
        let shared = Arc::new(Mutex::new(ca));
        self.map()
            .insert(name, CaEndpoint::Embedded(shared.clone()));
        shared
    }

    pub fn add_http(&self, name: &str, base_url: &str, http: reqwest::Client) {
        self.map().insert(
            name.to_ascii_lowercase(),
            CaEndpoint::Http {
                base_url: base_url.trim_end_matches('/').to_owned(),
                http,
            },
        );
    }

    pub fn endpoint(&self, name: &str) -> Result<CaEndpoint, CaError> {
        self.map()
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| CaError::UnknownCa(name.to_owned()))
    }

    /// True when `name` is reached over HTTP (the docs' DigiCert events apply).
    pub fn is_http(&self, name: &str) -> bool {
        matches!(self.endpoint(name), Ok(CaEndpoint::Http { .. }))
    }

    pub async fn issue(
        &self,
        name: &str,
        request: &X509Req,
        wanted: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<Issued, CaError> {
        match self.endpoint(name)? {
            CaEndpoint::Embedded(ca) => {
                let mut ca = lock(&ca);
                let certificate = ca.issue(request, wanted, now)?;
                Ok(Issued {
                    certificate,
                    ca_certificate: ca.certificate().clone(),
                })
            }
            CaEndpoint::Http { base_url, http } => {
                let body = HttpIssue {
                    csr: String::from_utf8_lossy(&request.to_pem()?).into_owned(),
                    template: wanted.template.clone(),
                    subject: wanted.subject.clone(),
                    subject_alternative_names: wanted
                        .subject_alternative_names
                        .iter()
                        .map(|(t, v)| HttpSan {
                            kind: t.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    validity_days: wanted.validity_days,
                    sid: wanted.sid.clone(),
                    now,
                };
                let response = http
                    .post(format!("{base_url}/v1/certificates"))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|_| CaError::Unavailable(name.to_owned()))?;
                let status = response.status();
                let text = response
                    .text()
                    .await
                    .map_err(|_| CaError::Unavailable(name.to_owned()))?;
                if !status.is_success() {
                    return Err(http_error(name, status.as_u16(), &text));
                }
                let issued: HttpIssued = serde_json::from_str(&text)
                    .map_err(|e| CaError::Crypto(format!("the CA's answer does not parse: {e}")))?;
                Ok(Issued {
                    certificate: X509::from_pem(issued.certificate.as_bytes())?,
                    ca_certificate: X509::from_pem(issued.ca_certificate.as_bytes())?,
                })
            }
        }
    }

    /// Issues for a key pair the connector made itself. An embedded CA takes the public key in
    /// process ([`CertificateAuthority::issue_for_key`]); an HTTP CA gets a CSR signed with the
    /// key, as one on the network does.
    pub async fn issue_for_key(
        &self,
        name: &str,
        key: &PKeyRef<Private>,
        wanted: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<Issued, CaError> {
        match self.endpoint(name)? {
            CaEndpoint::Embedded(ca) => {
                let mut ca = lock(&ca);
                let certificate = ca.issue_for_key(key, wanted, now)?;
                Ok(Issued {
                    certificate,
                    ca_certificate: ca.certificate().clone(),
                })
            }
            CaEndpoint::Http { .. } => {
                let request = pki::certificate_request(key, &wanted.subject)?;
                self.issue(name, &request, wanted, now).await
            }
        }
    }

    /// Revokes `serial` at the CA, which then publishes a new CRL.
    pub async fn revoke(
        &self,
        name: &str,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CaError> {
        match self.endpoint(name)? {
            CaEndpoint::Embedded(ca) => {
                let mut ca = lock(&ca);
                // The CRL is published when it is next asked for.
                ca.revoke(serial, now)?;
                Ok(())
            }
            CaEndpoint::Http { base_url, http } => {
                let response = http
                    .post(format!("{base_url}/v1/certificates/{serial}/revoke"))
                    .json(&HttpRevoke { now })
                    .send()
                    .await
                    .map_err(|_| CaError::Unavailable(name.to_owned()))?;
                let status = response.status().as_u16();
                if status == 204 {
                    return Ok(());
                }
                let text = response.text().await.unwrap_or_default();
                Err(http_error(name, status, &text))
            }
        }
    }
}

fn http_error(name: &str, status: u16, text: &str) -> CaError {
    let message = serde_json::from_str::<HttpError>(text)
        .map(|e| e.message)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    match status {
        503 | 502 | 504 | 429 => CaError::Unavailable(name.to_owned()),
        404 => CaError::UnknownSerial(message),
        _ => CaError::Denied(message),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpSan {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpIssue {
    csr: String,
    template: String,
    subject: String,
    subject_alternative_names: Vec<HttpSan>,
    validity_days: u32,
    sid: Option<String>,
    /// The simulation's time (virtual in scenarios).
    now: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpIssued {
    certificate: String,
    ca_certificate: String,
    serial_number: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct HttpRevoke {
    now: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct HttpError {
    code: String,
    message: String,
}

struct HttpCaError(CaError);

impl IntoResponse for HttpCaError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            CaError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CaError::UnknownSerial(_) => StatusCode::NOT_FOUND,
            CaError::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = HttpError {
            code: self.0.code().to_owned(),
            message: self.0.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

impl From<CaError> for HttpCaError {
    fn from(e: CaError) -> Self {
        HttpCaError(e)
    }
}

async fn http_issue(
    State(ca): State<SharedCa>,
    Json(body): Json<HttpIssue>,
) -> Result<(StatusCode, Json<HttpIssued>), HttpCaError> {
    let request = X509Req::from_pem(body.csr.as_bytes())
        .map_err(|_| CaError::Denied("csr: not a PEM certificate request".into()))?;
    let wanted = IssueRequest {
        template: body.template,
        subject: body.subject,
        subject_alternative_names: body
            .subject_alternative_names
            .into_iter()
            .map(|s| (s.kind, s.value))
            .collect(),
        validity_days: body.validity_days,
        sid: body.sid,
        requester: None,
    };
    let mut ca = lock(&ca);
    let certificate = ca.issue(&request, &wanted, body.now)?;
    let pem = |x: &X509| -> Result<String, CaError> {
        Ok(String::from_utf8_lossy(&x.to_pem()?).into_owned())
    };
    Ok((
        StatusCode::CREATED,
        Json(HttpIssued {
            certificate: pem(&certificate)?,
            ca_certificate: pem(ca.certificate())?,
            serial_number: certificate
                .serial_number()
                .to_bn()
                .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
                .map_err(CaError::from)?,
        }),
    ))
}

async fn http_revoke(
    State(ca): State<SharedCa>,
    Path(serial): Path<String>,
    Json(body): Json<HttpRevoke>,
) -> Result<StatusCode, HttpCaError> {
    let mut ca = lock(&ca);
    ca.revoke(&serial, body.now)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn http_crl(State(ca): State<SharedCa>) -> Result<Response, HttpCaError> {
    let mut ca = lock(&ca);
    match ca.crl()? {
        Some(crl) => Ok((
            [("content-type", "application/pkix-crl")],
            crl.to_der().map_err(CaError::from)?,
        )
            .into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

/// The DigiCert-like CA service: `POST /v1/certificates`, `POST /v1/certificates/{serial}/revoke`,
/// `GET /v1/crl`. While the CA's `available` flag is off it answers 503.
pub fn http_ca_router(ca: SharedCa) -> Router {
    Router::new()
        .route("/v1/certificates", post(http_issue))
        .route("/v1/certificates/{serial}/revoke", post(http_revoke))
        .route("/v1/crl", get(http_crl))
        .with_state(ca)
}

/// Serves [`http_ca_router`] on `listener` with the default listener limits (see `listen`: a
/// connection limit, read timeouts) until `shutdown` resolves, then drains.
pub async fn serve_http_ca(
    ca: SharedCa,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_http_ca_with(ca, listener, listen::Limits::default(), shutdown).await
}

/// [`serve_http_ca`] with other limits.
pub async fn serve_http_ca_with(
    ca: SharedCa,
    listener: tokio::net::TcpListener,
    limits: listen::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::Listener::from_tcp(listener, limits)?
        .serve(http_ca_router(ca), shutdown)
        .await
        .map(drop)
}
