//! A certification authority as the connector's embedded CAs are: a self-signed root with
//! Enterprise CA templates, that issues (from a CSR or for a key in process), revokes and
//! publishes CRLs. Extension values are written as DER by [`asn1::x509`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use asn1::oid::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CLIENT_AUTH,
    ID_KP_EMAIL_PROTECTION, MS_ENROLLMENT_AGENT, MS_NTDS_CA_SECURITY_EXT,
};
use asn1::x509::{AltName, KeyUsages};
use asn1::ObjectIdentifier;
use chrono::{DateTime, Duration, Utc};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{
    CrlNumber, X509Crl, X509CrlBuilder, X509Extension, X509Req, X509RevokedBuilder, X509,
};

use super::certificate::{asn1_time, normalize_serial, parse_subject};
use super::CaError;

/// A certificate template as an Enterprise CA publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub max_validity_days: u32,
    pub extended_key_usages: Vec<ObjectIdentifier>,
    /// `digitalSignature`, `keyEncipherment`, `keyAgreement`, `nonRepudiation`.
    pub key_usages: Vec<String>,
    /// Adds the KB5014754 SID extension when the request carries a SID.
    pub sid_extension: bool,
}

impl Template {
    fn new(name: &str, days: u32, ekus: &[ObjectIdentifier], kus: &[&str]) -> Template {
        Template {
            name: name.to_owned(),
            max_validity_days: days,
            extended_key_usages: ekus.to_vec(),
            key_usages: kus.iter().map(|s| s.to_string()).collect(),
            sid_extension: true,
        }
    }
}

/// The templates an Intune PKI deployment publishes.
pub fn default_templates() -> Vec<Template> {
    vec![
        Template::new(
            "IntuneDevice",
            730,
            &[ID_KP_CLIENT_AUTH],
            &["digitalSignature", "keyEncipherment"],
        ),
        Template::new(
            "IntuneUser",
            730,
            &[ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION],
            &["digitalSignature", "keyEncipherment"],
        ),
        Template::new(
            "SmimeEncryption",
            730,
            &[ID_KP_EMAIL_PROTECTION],
            &["keyEncipherment"],
        ),
        // The NDES RA certificates, as NDES enrolls them: CEP Encryption (requests are
        // encrypted to it) and Exchange Enrollment Agent (Offline request) (it signs CertReps).
        Template {
            sid_extension: false,
            ..Template::new(
                "CEPEncryption",
                730,
                &[MS_ENROLLMENT_AGENT],
                &["keyEncipherment"],
            )
        },
        Template {
            sid_extension: false,
            ..Template::new(
                "EnrollmentAgentOffline",
                730,
                &[MS_ENROLLMENT_AGENT],
                &["digitalSignature"],
            )
        },
        Template::new(
            "SmimeSigning",
            730,
            &[ID_KP_EMAIL_PROTECTION],
            &["digitalSignature", "nonRepudiation"],
        ),
    ]
}

/// What a certificate request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub template: String,
    /// `CN=…,O=…` (comma-separated RDNs).
    pub subject: String,
    /// `(type, value)` with type `dns`, `email`, `upn` or `uri`.
    pub subject_alternative_names: Vec<(String, String)>,
    pub validity_days: u32,
    pub sid: Option<String>,
    /// The account that asks (the connector's service account; `None`: not checked, as for a
    /// CA reached with an API key).
    pub requester: Option<String>,
}

/// One certification authority: a self-signed root that issues per template, revokes and
/// publishes CRLs. `available = false` models a CA that cannot be reached.
pub struct CertificateAuthority {
    pub name: String,
    key: PKey<Private>,
    certificate: X509,
    /// The authority key identifier value of every certificate it issues, encoded once.
    authority_key_id: Vec<u8>,
    templates: Vec<Template>,
    next_serial: u64,
    /// Serial (upper-case hex) → not-after of every certificate issued.
    issued: BTreeMap<String, DateTime<Utc>>,
    /// Serial → revocation date.
    revoked: BTreeMap<String, DateTime<Utc>>,
    crl_number: u32,
    crl: Option<X509Crl>,
    /// The latest revocation not yet in a published CRL.
    unpublished: Option<DateTime<Utc>>,
    pub available: bool,
    /// Accounts (lower case) without the Enroll permission on the CA's templates.
    denied: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("name", &self.name)
            .field("issued", &self.issued.len())
            .field("revoked", &self.revoked.len())
            .field("available", &self.available)
            .finish()
    }
}

/// The extensions a CA writes.
const EXTENSIONS: [ObjectIdentifier; 7] = [
    ID_CE_BASIC_CONSTRAINTS,
    ID_CE_KEY_USAGE,
    ID_CE_EXT_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME,
    ID_CE_SUBJECT_KEY_IDENTIFIER,
    ID_CE_AUTHORITY_KEY_IDENTIFIER,
    MS_NTDS_CA_SECURITY_EXT,
];

/// An extension from its OID (one of [`EXTENSIONS`]) and its value's DER. The OIDs are made
/// into OpenSSL objects once: `OBJ_txt2obj` looks a text up as a name before it reads it as an
/// OID.
fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Result<X509Extension, CaError> {
    static OBJECTS: OnceLock<Vec<(ObjectIdentifier, Asn1Object)>> = OnceLock::new();
    let objects = match OBJECTS.get() {
        Some(objects) => objects,
        None => {
            let made = EXTENSIONS
                .iter()
                .map(|oid| Ok((*oid, Asn1Object::from_str(&oid.to_string())?)))
                .collect::<Result<Vec<_>, CaError>>()?;
            OBJECTS.get_or_init(|| made)
        }
    };
    let object = objects
        .iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, object)| object)
        .ok_or_else(|| CaError::Crypto(format!("extension {oid} is not one a CA writes")))?;
    Ok(X509Extension::new_from_der(
        object,
        critical,
        &*Asn1OctetString::new_from_bytes(value)?,
    )?)
}

/// The KeyUsage value for a template's usages. An EC key cannot encipher keys: it agrees on
/// them, so `keyEncipherment` becomes `keyAgreement` for one.
fn key_usage_der(usages: &[String], is_ec: bool) -> Result<Vec<u8>, CaError> {
    let bits: Vec<KeyUsages> = usages
        .iter()
        .filter_map(|usage| {
            Some(match usage.as_str() {
                "digitalSignature" => KeyUsages::DigitalSignature,
                "nonRepudiation" => KeyUsages::NonRepudiation,
                "keyEncipherment" if is_ec => KeyUsages::KeyAgreement,
                "keyEncipherment" => KeyUsages::KeyEncipherment,
                "keyAgreement" => KeyUsages::KeyAgreement,
                _ => return None,
            })
        })
        .collect();
    Ok(asn1::x509::key_usage(&bits)?)
}

/// The GeneralNames value for `(type, value)` pairs: `dns`, `email`, `uri`, and `upn` as an
/// otherName holding a UTF8String.
fn subject_alternative_names_der(names: &[(String, String)]) -> Result<Vec<u8>, CaError> {
    let names = names
        .iter()
        .map(|(kind, value)| {
            AltName::from_pair(kind, value).ok_or_else(|| {
                CaError::Denied(format!(
                    "subject alternative name type `{kind}` is not supported"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    asn1::x509::subject_alt_names(&names).map_err(|e| CaError::Denied(e.what))
}

/// The subject key identifier OpenSSL derives (RFC 5280 §4.2.1.2 method 1): SHA-1 of the
/// subjectPublicKey BIT STRING's bits, read from a SubjectPublicKeyInfo.
fn key_identifier(spki: &[u8]) -> Result<[u8; 20], CaError> {
    Ok(openssl::sha::sha1(&asn1::x509::subject_public_key(spki)?))
}

/// The authority key identifier extension's value for certificates `certificate` issues: its
/// subject key identifier as keyIdentifier (what OpenSSL writes for `keyid`).
fn authority_key_identifier(certificate: &X509) -> Result<Vec<u8>, CaError> {
    let key_id = certificate
        .subject_key_id()
        .ok_or_else(|| CaError::Crypto("the CA certificate has no key identifier".into()))?;
    Ok(asn1::x509::authority_key_identifier(key_id.as_slice())?)
}

impl CertificateAuthority {
    /// A new CA with an RSA-2048 key (as an Enterprise CA has), valid from `now` for 20 years.
    pub fn new(name: &str, common_name: &str, now: DateTime<Utc>) -> Result<Self, CaError> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        Self::with_key(name, common_name, key, now)
    }

    /// A new CA with the given key (a P-256 key makes a fast CA for load runs).
    pub fn with_key(
        name: &str,
        common_name: &str,
        key: PKey<Private>,
        now: DateTime<Utc>,
    ) -> Result<Self, CaError> {
        let subject = parse_subject(&format!("CN={common_name},O=intune-mock"))?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let serial = BigNum::from_u32(1)?.to_asn1_integer()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(&subject)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&*asn1_time(now - Duration::days(1))?)?;
        builder.set_not_after(&*asn1_time(now + Duration::days(20 * 365))?)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .digital_signature()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let certificate = builder.build();
        let authority_key_id = authority_key_identifier(&certificate)?;
        Ok(CertificateAuthority {
            name: name.to_owned(),
            key,
            certificate,
            authority_key_id,
            templates: default_templates(),
            next_serial: 1,
            issued: BTreeMap::new(),
            revoked: BTreeMap::new(),
            crl_number: 0,
            crl: None,
            unpublished: None,
            available: true,
            denied: std::collections::BTreeSet::new(),
        })
    }

    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }

    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    pub fn issued_count(&self) -> usize {
        self.issued.len()
    }

    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        self.revoked.contains_key(&serial_hex.to_ascii_uppercase())
    }

    fn check_available(&self) -> Result<(), CaError> {
        if self.available {
            Ok(())
        } else {
            Err(CaError::Unavailable(self.name.clone()))
        }
    }

    /// Gives `account` (`DOMAIN\\user`) the Enroll permission on every template, or takes it away.
    pub fn set_enroll_permission(&mut self, account: &str, allowed: bool) {
        let account = account.to_ascii_lowercase();
        if allowed {
            self.denied.remove(&account);
        } else {
            self.denied.insert(account);
        }
    }

    /// Issues a certificate for the key in `request` (its signature is checked) per template.
    pub fn issue(
        &mut self,
        request: &X509Req,
        wanted: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<X509, CaError> {
        let template = self.admit(wanted)?;
        let public = request.public_key()?;
        if !request.verify(&public)? {
            return Err(CaError::Denied(
                "the request's signature does not verify".into(),
            ));
        }
        self.certify(template, &public, wanted, now)
    }

    /// Issues a certificate for `key`, a key pair the connector made itself and hands to its
    /// embedded CA in process: the certificate [`issue`](Self::issue) makes from a CSR for that
    /// key, without the CSR, whose signature only proves the connector holds the key it just made.
    pub fn issue_for_key<T: HasPublic>(
        &mut self,
        key: &PKeyRef<T>,
        wanted: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<X509, CaError> {
        let template = self.admit(wanted)?;
        self.certify(template, key, wanted, now)
    }

    /// The checks before a request is looked at: the CA is up, publishes the template and lets
    /// the requester enroll. Returns the template's index.
    fn admit(&self, wanted: &IssueRequest) -> Result<usize, CaError> {
        self.check_available()?;
        let index = self
            .templates
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(&wanted.template))
            .ok_or_else(|| CaError::TemplateNotFound {
                ca: self.name.clone(),
                template: wanted.template.clone(),
            })?;
        if let Some(account) = wanted
            .requester
            .as_deref()
            .filter(|a| self.denied.contains(&a.to_ascii_lowercase()))
        {
            // CERTSRV_E_TEMPLATE_DENIED, as an Enterprise CA words it.
            return Err(CaError::Denied(format!(
                "The permissions on the certificate template `{}` do not allow {account} to enroll for this type of certificate (0x80094012)",
                self.templates[index].name
            )));
        }
        Ok(index)
    }

    /// Builds the certificate, signs it with SHA-256 and records its serial. Extensions, in
    /// order: basic constraints (not a CA), key usage (critical), extended key usage, subject
    /// alternative names (when asked for), subject key identifier, authority key identifier, the
    /// SID extension (when the template adds it and the request carries a SID). Their values are
    /// written here as DER: the openssl crate's extension builders parse OpenSSL config strings.
    ///
    /// The certificate is put together with `X509Builder`, not written whole as DER and parsed:
    /// parsing a certificate in OpenSSL 3.0 decodes its public key through a new decoder context,
    /// which costs more than the rest of the certificate.
    fn certify<T: HasPublic>(
        &mut self,
        template_index: usize,
        public: &PKeyRef<T>,
        wanted: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<X509, CaError> {
        let template = &self.templates[template_index];
        if wanted.validity_days == 0 || wanted.validity_days > template.max_validity_days {
            return Err(CaError::Denied(format!(
                "validity of {} days is outside 1..={} allowed by template `{}`",
                wanted.validity_days, template.max_validity_days, template.name
            )));
        }
        let subject = parse_subject(&wanted.subject)?;
        let serial = (0x6100_0000u64 << 32) | self.next_serial;
        let not_after = now + Duration::days(wanted.validity_days as i64);

        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        builder
            .set_serial_number(&*BigNum::from_slice(&serial.to_be_bytes())?.to_asn1_integer()?)?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(self.certificate.subject_name())?;
        builder.set_pubkey(public)?;
        builder.set_not_before(&*asn1_time(now - Duration::minutes(10))?)?;
        builder.set_not_after(&*asn1_time(not_after)?)?;
        builder.append_extension(extension(
            ID_CE_BASIC_CONSTRAINTS,
            false,
            &asn1::x509::end_entity_basic_constraints()?,
        )?)?;
        builder.append_extension(extension(
            ID_CE_KEY_USAGE,
            true,
            &key_usage_der(&template.key_usages, public.id() == Id::EC)?,
        )?)?;
        builder.append_extension(extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &asn1::x509::extended_key_usage(&template.extended_key_usages)?,
        )?)?;
        if !wanted.subject_alternative_names.is_empty() {
            builder.append_extension(extension(
                ID_CE_SUBJECT_ALT_NAME,
                false,
                &subject_alternative_names_der(&wanted.subject_alternative_names)?,
            )?)?;
        }
        let key_id = key_identifier(&public.public_key_to_der()?)?;
        builder.append_extension(extension(
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &asn1::x509::subject_key_identifier(&key_id)?,
        )?)?;
        builder.append_extension(extension(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &self.authority_key_id,
        )?)?;
        if let (true, Some(sid)) = (template.sid_extension, &wanted.sid) {
            builder.append_extension(extension(
                MS_NTDS_CA_SECURITY_EXT,
                false,
                &asn1::x509::sid_extension(sid)?,
            )?)?;
        }
        builder.sign(&self.key, MessageDigest::sha256())?;

        self.next_serial += 1;
        self.issued.insert(format!("{serial:X}"), not_after);
        Ok(builder.build())
    }

    /// Marks an issued serial revoked (idempotent: the first revocation date stays).
    pub fn revoke(&mut self, serial_hex: &str, now: DateTime<Utc>) -> Result<(), CaError> {
        self.check_available()?;
        let serial = normalize_serial(serial_hex)
            .ok_or_else(|| CaError::UnknownSerial(serial_hex.to_owned()))?;
        if !self.issued.contains_key(&serial) {
            return Err(CaError::UnknownSerial(serial));
        }
        if let std::collections::btree_map::Entry::Vacant(entry) = self.revoked.entry(serial) {
            entry.insert(now);
            self.unpublished = Some(now);
        }
        Ok(())
    }

    /// Publishes a new CRL (CRL number + 1) listing every revoked serial; valid for 7 days.
    pub fn publish_crl(&mut self, now: DateTime<Utc>) -> Result<X509Crl, CaError> {
        self.crl_number += 1;
        let mut builder = X509CrlBuilder::new()?;
        builder.set_issuer_name(self.certificate.subject_name())?;
        builder.set_last_update(&*asn1_time(now)?)?;
        builder.set_next_update(&*asn1_time(now + Duration::days(7))?)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&X509::builder()?.x509v3_context(Some(&self.certificate), None))?;
        builder.append_extension(aki)?;
        builder.append_extension(CrlNumber::new(BigNum::from_u32(self.crl_number)?)?.build()?)?;
        for (serial, at) in &self.revoked {
            let mut entry = X509RevokedBuilder::new()?;
            let number: Asn1Integer = BigNum::from_hex_str(serial)?.to_asn1_integer()?;
            entry.set_serial_number(&number)?;
            entry.set_revocation_date(&*asn1_time(*at)?)?;
            builder.add_revoked(entry.build())?;
        }
        builder.sign(&self.key, MessageDigest::sha256())?;
        let crl = builder.build()?;
        self.crl = Some(X509Crl::from_der(&crl.to_der()?)?);
        self.unpublished = None;
        Ok(crl)
    }

    /// The current CRL, if anything was revoked: revocations since the last publication are
    /// published first (one CRL, dated at the latest of them). A CA publishes on demand, not per
    /// revocation: a CRL lists every revoked serial, so one per revocation made revoking n
    /// certificates cost n² entries.
    pub fn crl(&mut self) -> Result<Option<&X509Crl>, CaError> {
        if let Some(at) = self.unpublished {
            self.publish_crl(at)?;
        }
        Ok(self.crl.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{certificate_request, hex_upper, KeyAlgorithm, KeyPool};

    #[test]
    fn an_account_without_enroll_permission_is_denied_case_insensitively_until_it_gets_it_back() {
        let now = DateTime::from_timestamp(1_772_323_200, 0).unwrap();
        let key = KeyPool::new().generate(KeyAlgorithm::P256).unwrap();
        let mut ca =
            CertificateAuthority::with_key("CA01\\Test", "Test CA", key.clone(), now).unwrap();
        let csr = certificate_request(&key, "CN=device-0001").unwrap();
        let wanted = |requester: Option<&str>| IssueRequest {
            template: "IntuneDevice".into(),
            subject: "CN=device-0001".into(),
            subject_alternative_names: vec![],
            validity_days: 30,
            sid: None,
            requester: requester.map(str::to_owned),
        };
        ca.set_enroll_permission("CONTOSO\\svc-cert", false);
        let denied = ca
            .issue(&csr, &wanted(Some("contoso\\SVC-CERT")), now)
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "the request was denied: The permissions on the certificate template `IntuneDevice` do not allow contoso\\SVC-CERT to enroll for this type of certificate (0x80094012)"
        );
        assert!(!denied.is_transient());
        assert!(ca.issue(&csr, &wanted(Some("CONTOSO\\other")), now).is_ok());
        assert!(ca.issue(&csr, &wanted(None), now).is_ok());
        ca.set_enroll_permission("contoso\\svc-cert", true);
        assert!(ca
            .issue(&csr, &wanted(Some("CONTOSO\\svc-cert")), now)
            .is_ok());
    }

    /// The RSA-2048 CA key and the P-256 device key of the fixed-output tests (made once with
    /// `openssl genpkey`): RSA PKCS#1 v1.5 signatures are deterministic, so a certificate issued
    /// from them at a fixed instant has fixed bytes.
    fn fixed_keys() -> (PKey<Private>, PKey<Private>) {
        let ca =
            PKey::private_key_from_pem(include_bytes!("../../testdata/ca-rsa2048.pem")).unwrap();
        let leaf =
            PKey::private_key_from_pem(include_bytes!("../../testdata/leaf-p256.pem")).unwrap();
        (ca, leaf)
    }

    fn user_request() -> IssueRequest {
        IssueRequest {
            template: "IntuneUser".into(),
            subject: "CN=Adele Vance,O=Contoso,C=US".into(),
            subject_alternative_names: vec![
                ("upn".into(), "adele@contoso.com".into()),
                ("email".into(), "adele.vance@contoso.com".into()),
                ("dns".into(), "device-0001.contoso.com".into()),
                ("uri".into(), "urn:device:0001".into()),
            ],
            validity_days: 365,
            sid: Some("S-1-5-21-1004336348-1177238915-682003330-512".into()),
            requester: None,
        }
    }

    fn device_request() -> IssueRequest {
        IssueRequest {
            template: "IntuneDevice".into(),
            subject: "CN=device-0002".into(),
            subject_alternative_names: vec![],
            validity_days: 30,
            sid: None,
            requester: None,
        }
    }

    /// (OID, critical, value as hex) of each extension, in order.
    fn extensions_of(der: &[u8]) -> Vec<(String, bool, String)> {
        use asn1::der::Decode as _;
        let certificate = asn1::x509_cert::Certificate::from_der(der).unwrap();
        certificate
            .tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .map(|e| {
                let value = hex_upper(e.extn_value.as_bytes());
                (e.extn_id.to_string(), e.critical, value)
            })
            .collect()
    }

    fn sha256_hex(der: &[u8]) -> String {
        hex_upper(&openssl::sha::sha256(der))
    }

    /// `openssl verify` (the CLI) of `leaf` against `ca` at `at`.
    fn openssl_verify(ca: &X509, leaf: &X509, at: DateTime<Utc>) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.to_pem().unwrap()).unwrap();
        std::fs::write(dir.path().join("leaf.pem"), leaf.to_pem().unwrap()).unwrap();
        let output = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args(["verify", "-attime", &at.timestamp().to_string()])
            .args(["-CAfile", "ca.pem", "leaf.pem"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
            + String::from_utf8_lossy(&output.stderr).trim()
    }

    /// The bytes and extensions below are what the CA wrote with the openssl crate's X509Builder
    /// and extension builders before it wrote the TBSCertificate itself.
    #[test]
    fn issued_certificates_have_fixed_bytes_extensions_and_verify_with_openssl() {
        let now = DateTime::from_timestamp(1_772_323_200, 0).unwrap();
        let (ca_key, leaf_key) = fixed_keys();
        let mut ca = CertificateAuthority::with_key(
            "CA01\\Contoso",
            "Contoso Issuing CA",
            ca_key.clone(),
            now,
        )
        .unwrap();
        let user = ca
            .issue(
                &certificate_request(&leaf_key, "CN=x").unwrap(),
                &user_request(),
                now,
            )
            .unwrap();
        // An RSA key in the device template: keyEncipherment instead of keyAgreement.
        let device = ca
            .issue(
                &certificate_request(&ca_key, "CN=x").unwrap(),
                &device_request(),
                now,
            )
            .unwrap();
        let user_der = user.to_der().unwrap();
        let device_der = device.to_der().unwrap();
        let ext =
            |oid: &str, critical: bool, value: &str| (oid.to_owned(), critical, value.to_owned());
        assert_eq!(
            extensions_of(&user_der),
            vec![
                ext("2.5.29.19", false, "3000"),
                ext("2.5.29.15", true, "03020388"),
                ext("2.5.29.37", false, "301406082B0601050507030206082B06010505070304"),
                ext("2.5.29.17", false, "3066A021060A2B060104018237140203A0130C116164656C6540636F6E746F736F2E636F6D81176164656C652E76616E636540636F6E746F736F2E636F6D82176465766963652D303030312E636F6E746F736F2E636F6D860F75726E3A6465766963653A30303031"),
                ext("2.5.29.14", false, "0414DD988D27F0AF266682928621CB08DEF2574F0902"),
                ext("2.5.29.35", false, "3016801407B2DA2DC956ACBFCE74288CDF71D5240C57621F"),
                ext("1.3.6.1.4.1.311.25.2", false, "303EA03C060A2B060104018237190201A02E042C532D312D352D32312D313030343333363334382D313137373233383931352D3638323030333333302D353132"),
            ]
        );
        assert_eq!(
            extensions_of(&device_der),
            vec![
                ext("2.5.29.19", false, "3000"),
                ext("2.5.29.15", true, "030205A0"),
                ext("2.5.29.37", false, "300A06082B06010505070302"),
                ext(
                    "2.5.29.14",
                    false,
                    "041407B2DA2DC956ACBFCE74288CDF71D5240C57621F"
                ),
                ext(
                    "2.5.29.35",
                    false,
                    "3016801407B2DA2DC956ACBFCE74288CDF71D5240C57621F"
                ),
            ]
        );
        assert_eq!(
            sha256_hex(&user_der),
            "AC6EDCA14E7BDA62C189CDAB49F40D07C103C9765D8BA24359FF96443331DF78"
        );
        assert_eq!(
            sha256_hex(&device_der),
            "14F769BF89F89180C3FA157C6401880ABB1526FC68CA4D621FD6124CAF3F81B9"
        );
        let at = now + Duration::days(1);
        assert_eq!(openssl_verify(ca.certificate(), &user, at), "leaf.pem: OK");
        assert_eq!(
            openssl_verify(ca.certificate(), &device, at),
            "leaf.pem: OK"
        );
    }

    #[test]
    fn issuing_for_a_key_in_process_makes_the_certificate_a_csr_for_it_makes() {
        let now = DateTime::from_timestamp(1_772_323_200, 0).unwrap();
        let (ca_key, leaf_key) = fixed_keys();
        let ca = || {
            CertificateAuthority::with_key(
                "CA01\\Contoso",
                "Contoso Issuing CA",
                ca_key.clone(),
                now,
            )
            .unwrap()
        };
        let (mut through_csr, mut in_process) = (ca(), ca());
        for (key, wanted) in [(&leaf_key, user_request()), (&ca_key, device_request())] {
            let request = certificate_request(key, "CN=ignored").unwrap();
            let from_csr = through_csr.issue(&request, &wanted, now).unwrap();
            let from_key = in_process.issue_for_key(key, &wanted, now).unwrap();
            assert_eq!(from_csr.to_der().unwrap(), from_key.to_der().unwrap());
        }
        assert_eq!(in_process.issued_count(), 2);
        in_process.revoke("6100000000000002", now).unwrap();
        assert!(in_process.is_revoked("6100000000000002"));
    }

    #[test]
    fn key_usage_bits_and_long_lengths_are_der() {
        let usages = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ku = |names: &[&str], is_ec| hex_upper(&key_usage_der(&usages(names), is_ec).unwrap());
        assert_eq!(
            ku(&["digitalSignature", "keyEncipherment"], false),
            "030205A0"
        );
        assert_eq!(
            ku(&["digitalSignature", "keyEncipherment"], true),
            "03020388"
        );
        assert_eq!(ku(&["keyEncipherment"], false), "03020520");
        assert_eq!(
            ku(&["digitalSignature", "nonRepudiation"], false),
            "030206C0"
        );
        assert_eq!(ku(&[], false), "030100");
        let long = asn1::der::Encode::to_der(
            &asn1::der::asn1::OctetStringRef::new(&[0xAB; 0x1_0000]).unwrap(),
        )
        .unwrap();
        assert_eq!(hex_upper(&long[..5]), "0483010000");
    }
}
