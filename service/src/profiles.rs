//! Enqueue profiles (docs/behaviour.md, "Request queues and routing"): the payloads a real
//! Intune profile of each kind carries, built in one place for both users of them, the
//! service's profile form of `POST /admin/tenants/{tid}/jobs` and the scenario harness's
//! `enqueue` step; and the device key the service makes for a profile request that brings none.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509NameRef, X509};
use serde_json::{json, Value};

/// The embedded Microsoft-CA-like issuer (`host\Name`, as the connector's CA setting spells it).
pub const EMBEDDED_CA: &str = "ca01.contoso.com\\Contoso Issuing CA";
/// The DigiCert-like CA service.
pub const DIGICERT_CA: &str = "DigiCert";

/// The template every profile's PKCS request names.
pub const TEMPLATE: &str = "IntuneDevice";
/// Days a profile's certificate is asked for.
pub const VALIDITY_DAYS: u32 = 365;

/// A built-in profile: which CA a request goes to, which key it asks for, and for the kinds
/// that escrow or import a password, whether it is encrypted to a key no connector holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The embedded CA, a P-256 key.
    Default,
    /// The DigiCert-like CA, a P-256 key.
    Digicert,
    /// The embedded CA, an RSA 2048 key.
    Rsa2048,
    /// As `Default` for `pkcs_create` and `revoke`; recrypt and import passwords go to a key the
    /// tenant's connectors do not hold.
    WrongKey,
}

/// The profiles' names, in [`Profile::ALL`]'s order.
pub const NAMES: &[&str] = &["default", "digicert", "rsa2048", "wrong_key"];

impl Profile {
    pub const ALL: [Profile; 4] = [
        Profile::Default,
        Profile::Digicert,
        Profile::Rsa2048,
        Profile::WrongKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Digicert => "digicert",
            Profile::Rsa2048 => "rsa2048",
            Profile::WrongKey => "wrong_key",
        }
    }

    /// The profile named `name`, or an error listing the known ones.
    pub fn parse(name: &str) -> Result<Profile, UnknownProfile> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| UnknownProfile(name.to_owned()))
    }

    /// The CA the profile's requests go to.
    pub fn certification_authority(self) -> &'static str {
        match self {
            Profile::Digicert => DIGICERT_CA,
            Profile::Default | Profile::Rsa2048 | Profile::WrongKey => EMBEDDED_CA,
        }
    }

    /// The key the connector makes for the profile's PKCS certificates.
    pub fn key_algorithm(self) -> &'static str {
        match self {
            Profile::Rsa2048 => "rsa2048",
            Profile::Default | Profile::Digicert | Profile::WrongKey => "p256",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is none of [`NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a profile; the profiles are {known}", known = NAMES.join(", "))]
pub struct UnknownProfile(pub String);

/// The `pkcs_create` payload of request number `index` (1-based) of `profile`: device
/// `CN=device-NNNN` of user `userNNNN@contoso.com`, the password encrypted to
/// `device_key_certificate` (PEM).
pub fn pkcs_create_payload(profile: Profile, index: u32, device_key_certificate: &str) -> Value {
    json!({
        "subject": format!("CN=device-{index:04}"),
        "subjectAlternativeNames": [{"type": "upn", "value": format!("user{index:04}@contoso.com")}],
        "template": TEMPLATE,
        "certificationAuthority": profile.certification_authority(),
        "validityDays": VALIDITY_DAYS,
        "keyAlgorithm": profile.key_algorithm(),
        "deviceKeyCertificate": device_key_certificate,
    })
}

/// The `revoke` payload naming the certificate `serial_number` (hexadecimal) of `issuer_name`
/// at `certification_authority`.
pub fn revoke_payload(
    certification_authority: &str,
    serial_number: &str,
    issuer_name: &str,
) -> Value {
    json!({
        "serialNumber": serial_number,
        "issuerName": issuer_name,
        "certificationAuthority": certification_authority,
    })
}

/// A distinguished name as revoke payloads spell it: `CN=…,O=…`, in the certificate's order.
pub fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                String::from_utf8_lossy(e.data().as_slice())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A device's key pair (P-256) and its self-signed key certificate `CN=intune-mock device`,
/// valid from a day before `now` for 20 years: what Intune holds of an enrolled device, and what
/// a PKCS password is encrypted to.
pub fn device_key(now: DateTime<Utc>) -> Result<(PKey<Private>, X509), ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "intune-mock device")?;
    let name = name.build();
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    builder.set_serial_number(&*BigNum::from_u32(1)?.to_asn1_integer()?)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let from = Asn1Time::from_unix((now - Duration::days(1)).timestamp())?;
    let until = Asn1Time::from_unix((now + Duration::days(20 * 365)).timestamp())?;
    builder.set_not_before(&from)?;
    builder.set_not_after(&until)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_profiles_in_order() {
        let names: Vec<_> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, NAMES);
        assert_eq!(Profile::parse("rsa2048"), Ok(Profile::Rsa2048));
        assert_eq!(
            Profile::parse("ecdsa").unwrap_err().to_string(),
            "`ecdsa` is not a profile; the profiles are default, digicert, rsa2048, wrong_key"
        );
    }

    #[test]
    fn a_pkcs_create_payload_names_the_device_and_the_profiles_ca_and_key() {
        let payload = pkcs_create_payload(Profile::Digicert, 7, "PEM");
        assert_eq!(
            payload,
            json!({
                "subject": "CN=device-0007",
                "subjectAlternativeNames": [{"type": "upn", "value": "user0007@contoso.com"}],
                "template": "IntuneDevice",
                "certificationAuthority": "DigiCert",
                "validityDays": 365,
                "keyAlgorithm": "p256",
                "deviceKeyCertificate": "PEM",
            })
        );
        assert_eq!(
            pkcs_create_payload(Profile::Rsa2048, 1, "PEM")["keyAlgorithm"],
            "rsa2048"
        );
    }

    #[test]
    fn a_device_key_certificate_is_self_signed_by_its_key() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (key, certificate) = device_key(now).unwrap();
        assert!(certificate.verify(&key).unwrap());
        assert_eq!(
            name_text(certificate.subject_name()),
            "CN=intune-mock device"
        );
        assert_eq!(
            certificate.not_after().to_string(),
            "Feb 24 00:00:00 2046 GMT"
        );
    }
}
