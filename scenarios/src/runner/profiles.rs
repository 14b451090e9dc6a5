//! The PKI a scenario runs with, the payloads of `enqueue` steps (what a real profile of each
//! kind carries), and the SCEP profile that targets a device (`scep_target`) with the requests
//! built from it.
//!
//! Every scenario that queues jobs (or touches a CA) gets two CAs — the embedded
//! Microsoft-CA-like issuer `ca01.contoso.com\Contoso Issuing CA` and the DigiCert-like CA
//! service `DigiCert`, served over loopback HTTP — a device with a key certificate, and per tenant
//! the connectors' recrypt key and (when a connector holds it) the PFX-import key.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use connector_sim::ca::{CaDirectory, SharedCa};
use connector_sim::pki::{self, CertificateAuthority, IssueRequest, KeyAlgorithm, KeyPool};
use connector_sim::work::{ImportKey, RecryptKey};
use connector_sim::Workbench;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{json, Value};
use service::domain::JobKind;
use service::profiles::Profile;

pub use service::profiles::{DIGICERT_CA, EMBEDDED_CA};

/// A device enrolled in Intune: a key pair and its key certificate.
pub struct Device {
    certificate: X509,
}

impl Device {
    fn new(now: DateTime<Utc>) -> anyhow::Result<Device> {
        let key = KeyPool::new().generate(KeyAlgorithm::P256)?;
        Ok(Device {
            certificate: pki::self_signed(&key, "intune-mock device", now)?,
        })
    }

    fn certificate_pem(&self) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.certificate.to_pem()?)?)
    }
}

/// The keys the connectors of one tenant share.
#[derive(Clone)]
pub struct TenantKeys {
    pub recrypt: RecryptKey,
    pub import: Option<ImportKey>,
}

/// The serial (hex) and issuer of a certificate a revoke job names.
type IssuedEarlier = (String, String);

pub struct Pki {
    pub cas: CaDirectory,
    pub embedded: SharedCa,
    pub digicert: SharedCa,
    pub keys: KeyPool,
    tenants: BTreeMap<String, TenantKeys>,
    device: Device,
    /// Certificates "issued earlier" for revoke jobs, by CA and job number: serial and issuer.
    issued_earlier: std::sync::Mutex<BTreeMap<(&'static str, u32), IssuedEarlier>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Pki {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Pki {
    /// `tenants`: name and import-key name of each tenant; `import_keys`: whether to make the
    /// (RSA-2048, slow) import keys at all.
    pub async fn new(
        now: DateTime<Utc>,
        http: reqwest::Client,
        tenants: &[(String, String)],
        import_keys: bool,
    ) -> anyhow::Result<Pki> {
        let cas = CaDirectory::new();
        let embedded = cas.add_embedded(CertificateAuthority::new(
            EMBEDDED_CA,
            "Contoso Issuing CA",
            now,
        )?);
        let digicert = std::sync::Arc::new(std::sync::Mutex::new(CertificateAuthority::with_key(
            DIGICERT_CA,
            "DigiCert-like Issuing CA",
            KeyPool::new().generate(KeyAlgorithm::P256)?,
            now,
        )?));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let digicert_url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = digicert.clone();
        tokio::spawn(async move {
            let _ = connector_sim::ca::serve_http_ca(served, listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        cas.add_http(DIGICERT_CA, &digicert_url, http);
        let mut keys_of = BTreeMap::new();
        for (tenant, import_name) in tenants {
            let key = KeyPool::new().generate(KeyAlgorithm::P256)?;
            let recrypt = RecryptKey {
                certificate: pki::self_signed(&key, &format!("{tenant} recrypt"), now)?,
                key,
            };
            let import = if import_keys {
                Some(ImportKey {
                    name: import_name.clone(),
                    key: KeyPool::new().generate(KeyAlgorithm::Rsa2048)?,
                })
            } else {
                None
            };
            keys_of.insert(tenant.clone(), TenantKeys { recrypt, import });
        }
        Ok(Pki {
            cas,
            embedded,
            digicert,
            keys: KeyPool::new(),
            tenants: keys_of,
            device: Device::new(now)?,
            issued_earlier: std::sync::Mutex::new(BTreeMap::new()),
            stop: Some(stop),
        })
    }

    pub fn ca(&self, name: &str) -> Option<&SharedCa> {
        if name.eq_ignore_ascii_case(EMBEDDED_CA) {
            Some(&self.embedded)
        } else if name.eq_ignore_ascii_case(DIGICERT_CA) {
            Some(&self.digicert)
        } else {
            None
        }
    }

    /// What a connector of `tenant` has on its machine; the import key only when it holds it.
    pub fn workbench(&self, tenant: &str, holds_import_key: bool) -> Workbench {
        let mut bench = Workbench::new(self.cas.clone());
        bench.keys = self.keys.clone();
        if let Some(keys) = self.tenants.get(tenant) {
            bench.recrypt_key = Some(keys.recrypt.clone());
            if holds_import_key {
                bench.import_key = keys.import.clone();
            }
        }
        bench
    }

    pub fn import_key(&self, tenant: &str) -> Option<ImportKey> {
        self.tenants.get(tenant).and_then(|k| k.import.clone())
    }

    /// The profile's CA (the steps' profiles were checked when the scenario was read).
    fn ca_for(profile: &str) -> &'static str {
        Profile::parse(profile).map_or(EMBEDDED_CA, Profile::certification_authority)
    }

    /// A certificate issued earlier by a PKCS profile (for revoke jobs to name): job number
    /// `index` of any revoke step names the same one (`CN=revoked-{index}`), so a scenario that
    /// enqueues revocations every day issues each certificate once. (A CA answers a repeated
    /// revocation of a serial as done, keeping the first date.)
    fn issue_existing(
        &self,
        profile: &str,
        index: u32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, String)> {
        let name = Self::ca_for(profile);
        let mut earlier = self
            .issued_earlier
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(found) = earlier.get(&(name, index)) {
            return Ok(found.clone());
        }
        let ca = self
            .ca(name)
            .ok_or_else(|| anyhow::anyhow!("no CA `{name}`"))?;
        let key = self.keys.generate(KeyAlgorithm::P256)?;
        let subject = format!("CN=revoked-{index:04}");
        let mut ca = ca.lock().unwrap_or_else(|p| p.into_inner());
        // Issuing works even while the CA is "down" for the scenario: this happened before.
        let was = std::mem::replace(&mut ca.available, true);
        let issued = ca.issue_for_key(
            &key,
            &IssueRequest {
                template: "IntuneDevice".into(),
                subject,
                subject_alternative_names: vec![],
                validity_days: 365,
                sid: None,
                requester: None,
            },
            now,
        );
        ca.available = was;
        let certificate = issued?;
        let serial = certificate
            .serial_number()
            .to_bn()?
            .to_hex_str()?
            .to_string();
        let issuer = service::profiles::name_text(certificate.issuer_name());
        earlier.insert((name, index), (serial.clone(), issuer.clone()));
        Ok((serial, issuer))
    }

    /// The payload of job number `index` (1-based) of `kind` for `tenant`. For `pkcs_import`
    /// the caller first uploads [`Pki::user_pfx_upload`] and passes the id it got.
    pub fn payload(
        &self,
        tenant: &str,
        kind: JobKind,
        profile: &str,
        index: u32,
        now: DateTime<Utc>,
        user_pfx_id: Option<&str>,
    ) -> anyhow::Result<Value> {
        Ok(match kind {
            JobKind::PkcsCreate => service::profiles::pkcs_create_payload(
                Profile::parse(profile)?,
                index,
                &self.device.certificate_pem()?,
            ),
            JobKind::PkcsRecrypt => {
                let keys = self
                    .tenants
                    .get(tenant)
                    .ok_or_else(|| anyhow::anyhow!("no keys for tenant `{tenant}`"))?;
                let key = self.keys.generate(KeyAlgorithm::P256)?;
                let certificate = pki::self_signed(&key, &format!("device-{index:04}"), now)?;
                let password = pki::random_password()?;
                let pfx = pki::build_pfx(&key, &certificate, &certificate, &password)?;
                // `wrong_key`: escrowed to a key the tenant's connectors do not hold.
                let escrow_to = if profile == "wrong_key" {
                    let stranger = self.keys.generate(KeyAlgorithm::P256)?;
                    pki::self_signed(&stranger, "not the recrypt key", now)?
                } else {
                    keys.recrypt.certificate.clone()
                };
                let escrow = pki::envelope(&escrow_to, password.as_bytes())?;
                json!({
                    "pfx": B64.encode(pfx),
                    "encryptedPassword": B64.encode(escrow),
                    "deviceKeyCertificate": self.device.certificate_pem()?,
                })
            }
            JobKind::PkcsImport => json!({
                "userPfxCertificateId": user_pfx_id.unwrap_or_default(),
                "deviceCertificate": self.device.certificate_pem()?,
            }),
            JobKind::Revoke => {
                let (serial, issuer) = self.issue_existing(profile, index, now)?;
                service::profiles::revoke_payload(Self::ca_for(profile), &serial, &issuer)
            }
        })
    }

    /// The Graph body the PFX-import PowerShell module would post for user number `index`: a
    /// user PFX whose password is encrypted (RSA-OAEP SHA-512) to the tenant's import key.
    pub fn user_pfx_upload(
        &self,
        tenant: &str,
        profile: &str,
        index: u32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Value> {
        let import = self.import_key(tenant).ok_or_else(|| {
            anyhow::anyhow!("tenant `{tenant}` has no import key in this scenario")
        })?;
        let upn = format!("user{index:04}@contoso.com");
        let key: PKey<Private> = self.keys.generate(KeyAlgorithm::P256)?;
        let certificate = pki::self_signed(&key, &upn, now)?;
        let password = pki::random_password()?;
        let pfx = pki::build_pfx(&key, &certificate, &certificate, &password)?;
        // `wrong_key`: encrypted to a key no connector holds (the upload names the right key).
        let to = if profile == "wrong_key" {
            self.keys.generate(KeyAlgorithm::Rsa2048)?
        } else {
            import.key.clone()
        };
        let public = PKey::public_key_from_der(&to.public_key_to_der()?)?;
        let encrypted =
            pki::rsa_oaep_encrypt(&public, password.as_bytes(), MessageDigest::sha512())?;
        Ok(json!({
            "@odata.type": "#microsoft.graph.userPFXCertificate",
            "thumbprint": pki::thumbprint(&certificate)?.to_ascii_lowercase(),
            "intendedPurpose": "SmimeEncryption",
            "userPrincipalName": upn,
            "providerName": "Microsoft Software Key Storage Provider",
            "keyName": import.name,
            "paddingScheme": "OaepSha512",
            "encryptedPfxBlob": B64.encode(pfx),
            "encryptedPfxPassword": B64.encode(encrypted),
        }))
    }
}

/// A device targeted by a SCEP profile (the `scep_target` step): the device's name, its tenant,
/// and what the profile asks of its certificate request. The world keeps it for the SCEP steps
/// after it, which build their requests from it with [`scep_request`].
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

/// A device's CSR for SCEP `target` carrying `challenge`, matching the profile except for what
/// `spoil` names (`subject`, `san`, `key_usage`, `key_size`, `eku`, `extension`).
pub fn scep_request(
    target: &ScepTargetSpec,
    device_key: &PKey<Private>,
    challenge: &str,
    spoil: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    use openssl::asn1::Asn1Object;
    use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
    use openssl::x509::X509Extension;
    let spoiled = |what: &str| spoil == Some(what);
    // A wrong key size: the other kind of key (P-256 is quick to make; RSA is not).
    let key = if !spoiled("key_size") {
        device_key.clone()
    } else if target.key_size == 2048 {
        KeyPool::new().generate(KeyAlgorithm::P256)?
    } else {
        KeyPool::new().generate(KeyAlgorithm::Rsa2048)?
    };
    let subject = if spoiled("subject") {
        "CN=someone-else".to_owned()
    } else {
        target.subject.clone()
    };
    let context_builder = X509::builder()?;
    let context = context_builder.x509v3_context(None, None);
    let mut extensions = Vec::new();
    if !target.subject_alternative_names.is_empty() && !spoiled("san") {
        let mut san = SubjectAlternativeName::new();
        for (kind, value) in &target.subject_alternative_names {
            match kind.as_str() {
                "dns" => san.dns(value),
                "email" => san.email(value),
                "uri" => san.uri(value),
                _ => {
                    let mut utf8 = vec![0x0C, value.len().min(127) as u8];
                    utf8.extend(value.as_bytes().iter().take(127));
                    san.other_name2(Asn1Object::from_str("1.3.6.1.4.1.311.20.2.3")?, &utf8)
                }
            };
        }
        extensions.push(san.build(&context)?);
    }
    if !target.key_usage.is_empty() && !spoiled("key_usage") {
        let mut ku = KeyUsage::new();
        for usage in &target.key_usage {
            match usage.as_str() {
                "digitalSignature" => ku.digital_signature(),
                "nonRepudiation" => ku.non_repudiation(),
                "keyEncipherment" => ku.key_encipherment(),
                "dataEncipherment" => ku.data_encipherment(),
                "keyAgreement" => ku.key_agreement(),
                other => anyhow::bail!("key usage `{other}` is not one a device requests"),
            };
        }
        extensions.push(ku.build()?);
    }
    if !target.extended_key_usage.is_empty() && !spoiled("eku") {
        let mut eku = ExtendedKeyUsage::new();
        for oid in &target.extended_key_usage {
            eku.other(oid);
        }
        extensions.push(eku.build()?);
    }
    if spoiled("extension") {
        // Netscape comment (2.16.840.1.113730.1.13): not on the allow-list.
        #[allow(deprecated)]
        extensions.push(X509Extension::new(
            None,
            Some(&context),
            "nsComment",
            "added by the scenario",
        )?);
    }
    Ok(pki::certificate_request_with_challenge(
        &key,
        &subject,
        Some(challenge),
        extensions,
    )?)
}
