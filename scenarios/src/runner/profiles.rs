//! Default job payloads for `enqueue` steps: what a real profile of each kind carries, with a
//! device certificate the runner makes once per scenario.

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};

const CA: &str = "ca01.contoso.com\\Contoso Issuing CA";

/// A device key pair and its self-signed certificate, as a device enrolled in Intune holds.
pub struct Device {
    key: PKey<Private>,
    certificate: X509,
}

impl Device {
    pub fn new() -> anyhow::Result<Device> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", "intune-mock device")?;
        let name = name.build();
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&*Asn1Time::from_str("20200101000000Z")?)?;
        builder.set_not_after(&*Asn1Time::from_str("20400101000000Z")?)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(Device {
            key,
            certificate: builder.build(),
        })
    }

    fn certificate_pem(&self) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.certificate.to_pem()?)?)
    }

    fn pfx_base64(&self) -> anyhow::Result<String> {
        use base64::Engine as _;
        let pfx = Pkcs12::builder()
            .name("device")
            .pkey(&self.key)
            .cert(&self.certificate)
            .build2("intune-mock")?;
        Ok(base64::engine::general_purpose::STANDARD.encode(pfx.to_der()?))
    }

    /// The default payload of job number `index` (1-based) of `kind`.
    pub fn payload(&self, kind: &str, index: u32) -> anyhow::Result<Value> {
        Ok(match kind {
            "pkcs_create" => json!({
                "subject": format!("CN=device-{index:04}"),
                "subjectAlternativeNames": [{"type": "upn", "value": format!("user{index:04}@contoso.com")}],
                "template": "IntuneDevice",
                "certificationAuthority": CA,
                "validityDays": 365,
                "keyAlgorithm": "p256",
                "deviceKeyCertificate": self.certificate_pem()?,
            }),
            "pkcs_recrypt" => json!({
                "pfx": self.pfx_base64()?,
                "encryptedPassword": "aW50dW5lLW1vY2s=",
                "deviceKeyCertificate": self.certificate_pem()?,
            }),
            "pkcs_import" => json!({
                "userPfxCertificateId": format!("user{index:04}-0000000000000000000000000000000000000000"),
                "deviceCertificate": self.certificate_pem()?,
            }),
            "revoke" => json!({
                "serialNumber": format!("{index:08x}"),
                "issuerName": "CN=Contoso Issuing CA",
                "certificationAuthority": CA,
            }),
            other => anyhow::bail!("no default profile for job kind `{other}`"),
        })
    }
}
