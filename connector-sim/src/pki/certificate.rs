//! Certificates and names: parsing a subject or a certificate, a certificate's dates and
//! thumbprint, serial numbers as hex, and self-signed certificates for device and recrypt keys.

use chrono::{DateTime, Duration, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKeyRef, Private};
use openssl::x509::{X509Name, X509NameBuilder, X509};

use super::CaError;

/// A certificate's notAfter as a date.
pub fn not_after(certificate: &X509) -> Option<DateTime<Utc>> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(certificate.not_after()).ok()?;
    DateTime::from_timestamp(diff.days as i64 * 86_400 + diff.secs as i64, 0)
}

pub(super) fn asn1_time(at: DateTime<Utc>) -> Result<Asn1Time, CaError> {
    Ok(Asn1Time::from_unix(at.timestamp())?)
}

/// Parses `CN=a,O=b` into an X.509 name.
pub fn parse_subject(subject: &str) -> Result<X509Name, CaError> {
    let mut name = X509NameBuilder::new()?;
    let mut any = false;
    for part in subject.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, value) = part
            .split_once('=')
            .ok_or_else(|| CaError::Denied(format!("subject part `{part}` is not FIELD=value")))?;
        name.append_entry_by_text(field.trim(), value.trim())
            .map_err(|_| {
                CaError::Denied(format!("subject field `{}` is not known", field.trim()))
            })?;
        any = true;
    }
    if !any {
        return Err(CaError::Denied("the subject is empty".into()));
    }
    Ok(name.build())
}

/// Upper-case hex without leading zeros, or `None` if it is not hex.
pub fn normalize_serial(serial: &str) -> Option<String> {
    let s = serial
        .trim()
        .trim_start_matches("0x")
        .replace([':', ' '], "");
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = s.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_ascii_uppercase())
}

/// Parses a certificate given as PEM or base64 DER.
pub fn parse_certificate(text: &str) -> Result<X509, CaError> {
    use base64::Engine as _;
    if text.contains("-----BEGIN") {
        return X509::from_pem(text.as_bytes())
            .map_err(|_| CaError::Denied("the certificate PEM does not parse".into()));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.split_whitespace().collect::<String>())
        .map_err(|_| CaError::Denied("the certificate is neither PEM nor base64 DER".into()))?;
    X509::from_der(&der).map_err(|_| CaError::Denied("the certificate DER does not parse".into()))
}

/// SHA-1 thumbprint, upper-case hex (as Windows shows it).
pub fn thumbprint(certificate: &X509) -> Result<String, CaError> {
    Ok(hex_upper(&certificate.digest(MessageDigest::sha1())?))
}

pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A self-signed certificate for `key` (a device's key certificate, a recrypt key's holder).
pub fn self_signed(
    key: &PKeyRef<Private>,
    common_name: &str,
    now: DateTime<Utc>,
) -> Result<X509, CaError> {
    let name = parse_subject(&format!("CN={common_name}"))?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    builder.set_serial_number(&*BigNum::from_u32(1)?.to_asn1_integer()?)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    builder.set_not_before(&*asn1_time(now - Duration::days(1))?)?;
    builder.set_not_after(&*asn1_time(now + Duration::days(20 * 365))?)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}
