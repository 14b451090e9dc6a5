//! SCEP challenges and the validation of a device's certificate request against them
//! (docs/behaviour.md, "SCEP and the third-party CA surface"; the bodies: "Wire shapes").
//!
//! A challenge is a signed and encrypted blob: `base64(0x01 ‖ nonce ‖ AES-256-GCM(claims) ‖ tag)`
//! `.` `base64(HMAC-SHA256(part 1))`, with both keys derived from the tenant (so another
//! tenant's challenge fails the signature check). The claims name a challenge row, which holds what
//! the request must match. Every step that can fail maps to one of the 25 wire codes; the checks
//! run in the order a device's mistakes are most usefully reported. Time is a parameter.

/// Standard base64: every character of a challenge then fits a PrintableString, which is how
/// certmonger and OpenSSL put challengePassword in a CSR (`_` would not).
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::certification_request::{X509CertificationRequest, X509CertificationRequestInfo};
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{ExtendedKeyUsage, GeneralName, ParsedExtension, X509Extension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::store::{ScepChallengeRow, TenantRow};

/// The first connector version whose SCEP validation refuses CSR extensions outside the allow-list.
pub const EXTENSION_ALLOW_LIST_FROM: &str = "6.2510.3.2002";

/// Extension OIDs a CSR may carry from 6.2510.3.2002 on (docs/behaviour.md, "SCEP and the
/// third-party CA surface"), plus the ones the profile itself defines (key usage, EKU, subject
/// alternative name).
pub const ALLOWED_EXTENSIONS: &[&str] = &[
    "2.5.29.19",
    "2.5.29.14",
    "1.3.6.1.4.1.311.21.8",
    "1.3.6.1.4.1.311.20.2",
    "2.5.29.1",
    "2.5.29.3",
    "2.16.840.1.113730.1.11",
    "2.5.29.15",
    "2.5.29.37",
    "2.5.29.17",
];

/// A challenge's issue time may be this far ahead of the service clock (clock skew).
const SKEW_MS: i64 = 5 * 60 * 1000;

/// Key usage names in bit order (RFC 5280 §4.2.1.3).
pub const KEY_USAGES: &[&str] = &[
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    /// Challenge id.
    cid: String,
    /// Tenant id.
    tid: String,
    iat: i64,
    exp: i64,
}

/// A verdict: one of the 25 wire codes and a description for `errorDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: &'static str,
    pub description: String,
    /// The challenge the request named, once it decoded.
    pub challenge_id: Option<String>,
}

fn fail(code: &'static str, description: impl Into<String>) -> Verdict {
    Verdict {
        code,
        description: description.into(),
        challenge_id: None,
    }
}

/// The tenant's challenge keys, from the service's own random secret for it (never from a
/// credential a client holds, so no client can mint a challenge).
fn keys(tenant: &TenantRow, secret: &str) -> ([u8; 32], [u8; 32]) {
    let derive = |label: &str| -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(label.as_bytes());
        hasher.update(tenant.id.as_str().as_bytes());
        hasher.update(b"\n");
        hasher.update(secret.as_bytes());
        hasher.finalize().into()
    };
    (
        derive("intune-mock scep challenge encryption\n"),
        derive("intune-mock scep challenge signature\n"),
    )
}

fn mac(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let key = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.sign_oneshot_to_vec(data)
}

/// The blob a device receives for challenge `id` of `tenant`.
pub fn encode_challenge(
    tenant: &TenantRow,
    secret: &str,
    id: &str,
    issued_ms: i64,
    expires_ms: i64,
    nonce: [u8; 12],
) -> Result<String, openssl::error::ErrorStack> {
    let (encryption, signature) = keys(tenant, secret);
    let claims = Claims {
        cid: id.to_owned(),
        tid: tenant.id.to_string(),
        iat: issued_ms,
        exp: expires_ms,
    };
    let plain = serde_json::to_vec(&claims).unwrap_or_default();
    let mut tag = [0u8; 16];
    let sealed = encrypt_aead(
        Cipher::aes_256_gcm(),
        &encryption,
        Some(&nonce),
        b"intune-mock-scep-v1",
        &plain,
        &mut tag,
    )?;
    let mut body = vec![0x01];
    body.extend(nonce);
    body.extend(sealed);
    body.extend(tag);
    let first = B64.encode(&body);
    let signed = mac(&signature, first.as_bytes())?;
    Ok(format!("{first}.{}", B64.encode(signed)))
}

/// Decodes, checks the signature of, decrypts and parses a challenge blob.
fn decode_challenge(tenant: &TenantRow, secret: &str, blob: &str) -> Result<Claims, Verdict> {
    let (first, second) = blob.trim().split_once('.').ok_or_else(|| {
        fail(
            "ChallengeDecodingError",
            "the challenge is not a challenge blob (two base64 parts joined by a dot)",
        )
    })?;
    let body = B64.decode(first).map_err(|_| {
        fail(
            "ChallengeDecodingError",
            "the challenge's first part is not base64",
        )
    })?;
    let signed = B64.decode(second).map_err(|_| {
        fail(
            "ChallengeDecodingError",
            "the challenge's signature part is not base64",
        )
    })?;
    if body.len() < 1 + 12 + 16 || body[0] != 0x01 {
        return Err(fail(
            "ChallengeDecodingError",
            "the challenge blob has an unknown version or is too short",
        ));
    }
    let (encryption, signature) = keys(tenant, secret);
    let expected = mac(&signature, first.as_bytes())
        .map_err(|e| fail("Unknown", format!("cannot compute the signature: {e}")))?;
    // memcmp::eq needs equal lengths: compare the lengths first.
    if signed.len() != expected.len() || !openssl::memcmp::eq(&expected, &signed) {
        return Err(fail(
            "SignatureValidationFailed",
            "the challenge's signature does not verify (was it issued for this tenant?)",
        ));
    }
    let nonce = &body[1..13];
    let (sealed, tag) = body[13..].split_at(body.len() - 13 - 16);
    let plain = decrypt_aead(
        Cipher::aes_256_gcm(),
        &encryption,
        Some(nonce),
        b"intune-mock-scep-v1",
        sealed,
        tag,
    )
    .map_err(|_| fail("ChallengeDecryptionError", "the challenge does not decrypt"))?;
    serde_json::from_slice(&plain).map_err(|e| {
        fail(
            "ChallengeDeserializationError",
            format!("the decrypted challenge does not parse: {e}"),
        )
    })
}

/// The challenge password and decoded request, or the verdict that ends the validation.
pub fn challenge_of(
    tenant: &TenantRow,
    secret: &str,
    csr_der: &[u8],
    now_ms: i64,
) -> Result<String, Verdict> {
    let (_, request) = X509CertificationRequest::from_der(csr_der).map_err(|e| {
        fail(
            "CertificateRequestDecodingFailed",
            format!("certificateRequest is not a DER PKCS#10 request: {e}"),
        )
    })?;
    let password = request
        .certification_request_info
        .iter_attributes()
        .find_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ChallengePassword(p) => Some(p.0.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            fail(
                "ChallengePasswordMissing",
                "the certificate request has no challengePassword attribute",
            )
        })?;
    let claims = decode_challenge(tenant, secret, &password)?;
    if tenant.id != claims.tid.as_str() {
        return Err(fail(
            "SignatureValidationFailed",
            "the challenge was issued for another tenant",
        ));
    }
    if claims.iat > now_ms + SKEW_MS || claims.exp < claims.iat {
        return Err(Verdict {
            challenge_id: Some(claims.cid),
            ..fail(
                "ChallengeInvalidTimestamp",
                "the challenge's issue time is in the future or after its expiry",
            )
        });
    }
    if now_ms >= claims.exp {
        return Err(Verdict {
            challenge_id: Some(claims.cid),
            ..fail("ChallengeExpired", "the challenge has expired")
        });
    }
    Ok(claims.cid)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct San {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// Normalises a distinguished name for comparison: RDNs as `TYPE=value`, upper-case types,
/// trimmed values, joined with `,` in the order given.
pub fn normalize_dn(text: &str) -> String {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => format!("{}={}", k.trim().to_ascii_uppercase(), v.trim()),
            None => part.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Why a request fails its challenge's profile: one of the wire codes and a description.
type Refusal = (&'static str, String);

fn refuse(code: &'static str, description: impl Into<String>) -> Refusal {
    (code, description.into())
}

/// Compares the request with the challenge's profile. `enforce_allow_list`: the caller is a
/// connector at or above [`EXTENSION_ALLOW_LIST_FROM`].
pub fn check_request(
    challenge: &ScepChallengeRow,
    csr_der: &[u8],
    enforce_allow_list: bool,
) -> Verdict {
    let (code, description) = match checks(challenge, csr_der, enforce_allow_list) {
        Ok(()) => ("Success", String::new()),
        Err(refusal) => refusal,
    };
    Verdict {
        code,
        description,
        challenge_id: Some(challenge.id.clone()),
    }
}

/// The checks in the order a device's mistakes are most usefully reported; the first that
/// fails is the answer.
fn checks(
    challenge: &ScepChallengeRow,
    csr_der: &[u8],
    enforce_allow_list: bool,
) -> Result<(), Refusal> {
    let Ok((_, request)) = X509CertificationRequest::from_der(csr_der) else {
        return Err(refuse(
            "CertificateRequestDecodingFailed",
            "certificateRequest does not parse",
        ));
    };
    let info = &request.certification_request_info;
    let extensions = extension_request(info);
    attributes_once(info)?;
    extensions_once(extensions)?;
    subject(info, challenge)?;
    let found = Found::of(&request);
    subject_alt_names(&found.sans, challenge)?;
    key_usage(found.key_usage, challenge)?;
    key_length(info, challenge)?;
    extended_key_usage(found.ekus, challenge)?;
    if enforce_allow_list {
        allow_list(extensions)?;
    }
    Ok(())
}

/// The extensions of the request's extensionRequest attribute (the first, if it repeats).
fn extension_request<'a>(
    info: &'a X509CertificationRequestInfo<'_>,
) -> Option<&'a [X509Extension<'a>]> {
    info.iter_attributes()
        .find_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(r) => Some(r.extensions.as_slice()),
            _ => None,
        })
}

/// One challengePassword and one extensionRequest: a repeated attribute could let a CA honour
/// a part the checks did not see.
fn attributes_once(info: &X509CertificationRequestInfo<'_>) -> Result<(), Refusal> {
    let count = |challenge: bool| {
        info.iter_attributes()
            .filter(|a| match a.parsed_attribute() {
                ParsedCriAttribute::ChallengePassword(_) => challenge,
                ParsedCriAttribute::ExtensionRequest(_) => !challenge,
                _ => false,
            })
            .count()
    };
    if count(true) > 1 || count(false) > 1 {
        return Err(refuse(
            "CertificateRequestDecodingFailed",
            "the request repeats its challengePassword or extensionRequest attribute",
        ));
    }
    Ok(())
}

/// Each extension once, for the same reason.
fn extensions_once(extensions: Option<&[X509Extension<'_>]>) -> Result<(), Refusal> {
    let mut oids: Vec<String> = extensions
        .unwrap_or_default()
        .iter()
        .map(|e| e.oid.to_id_string())
        .collect();
    oids.sort();
    match oids.windows(2).find(|w| w[0] == w[1]) {
        Some(pair) => Err(refuse(
            "CertificateRequestDecodingFailed",
            format!("the request carries extension {} twice", pair[0]),
        )),
        None => Ok(()),
    }
}

/// The subject is the profile's, compared attribute by attribute, so a value holding a comma
/// cannot pose as two RDNs.
fn subject(
    info: &X509CertificationRequestInfo<'_>,
    challenge: &ScepChallengeRow,
) -> Result<(), Refusal> {
    let subject = info.subject.to_string();
    if subject.trim().is_empty() {
        return Err(refuse(
            "SubjectNameMissing",
            "the request has an empty subject",
        ));
    }
    let registry = x509_parser::objects::oid_registry();
    let have: Vec<String> = info
        .subject
        .iter_attributes()
        .map(|a| {
            let kind = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                .map(|k| k.to_ascii_uppercase())
                .unwrap_or_else(|_| a.attr_type().to_id_string());
            let value = a.as_str().unwrap_or("\u{fffd}").trim().to_owned();
            format!("{kind}={value}")
        })
        .collect();
    let want: Vec<String> = normalize_dn(&challenge.subject)
        .split(',')
        .map(str::to_owned)
        .collect();
    if have != want {
        return Err(refuse(
            "SubjectNameMismatch",
            format!(
                "subject `{subject}` is not the profile's `{}`",
                challenge.subject
            ),
        ));
    }
    Ok(())
}

/// What the request's extensions ask for: names, key usage and extended key usages (`None`:
/// the extension is absent).
struct Found {
    sans: Vec<San>,
    key_usage: Option<Vec<&'static str>>,
    ekus: Option<Vec<String>>,
}

impl Found {
    fn of(request: &X509CertificationRequest<'_>) -> Self {
        let mut found = Found {
            sans: Vec::new(),
            key_usage: None,
            ekus: None,
        };
        for extension in request.requested_extensions().into_iter().flatten() {
            match extension {
                ParsedExtension::SubjectAlternativeName(san) => {
                    found.sans.extend(san.general_names.iter().map(san_of));
                }
                ParsedExtension::KeyUsage(ku) => {
                    let bits = ku.flags;
                    found.key_usage = Some(
                        KEY_USAGES
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits & (1 << i) != 0)
                            .map(|(_, n)| *n)
                            .collect(),
                    );
                }
                ParsedExtension::ExtendedKeyUsage(eku) => found.ekus = Some(eku_oids(eku)),
                _ => {}
            }
        }
        found
    }
}

/// A subject alternative name as the profile writes it (`other` for a kind it cannot hold).
fn san_of(name: &GeneralName<'_>) -> San {
    let (kind, value) = match name {
        GeneralName::DNSName(v) => ("dns", v.to_string()),
        GeneralName::RFC822Name(v) => ("email", v.to_string()),
        GeneralName::URI(v) => ("uri", v.to_string()),
        GeneralName::OtherName(oid, value) if oid.as_bytes() == asn1::oid::MS_UPN.as_bytes() => {
            match asn1::x509::upn(value) {
                Ok(upn) => ("upn", upn),
                Err(e) => ("other", format!("UPN otherName: {e}")),
            }
        }
        other => ("other", format!("{other:?}")),
    };
    San {
        kind: kind.into(),
        value,
    }
}

/// The extended key usages as dotted OIDs (the parser sets flags for the well-known ones).
fn eku_oids(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut list: Vec<String> = eku.other.iter().map(|o| o.to_id_string()).collect();
    for (flag, oid) in [
        (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
        (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
    ] {
        if flag {
            list.push(oid.into());
        }
    }
    list
}

/// The profile's names, in any order and case; none asked for, none allowed.
fn subject_alt_names(sans: &[San], challenge: &ScepChallengeRow) -> Result<(), Refusal> {
    let wanted_sans: Vec<San> =
        serde_json::from_str(&challenge.subject_alt_names).unwrap_or_default();
    if !wanted_sans.is_empty() && sans.is_empty() {
        return Err(refuse(
            "SubjectAltNameMissing",
            "the profile asks for subject alternative names and the request has none",
        ));
    }
    let key = |s: &San| (s.kind.to_ascii_lowercase(), s.value.to_ascii_lowercase());
    let mut have: Vec<_> = sans.iter().map(key).collect();
    let mut want: Vec<_> = wanted_sans.iter().map(key).collect();
    have.sort();
    want.sort();
    if have != want {
        return Err(refuse(
            "SubjectAltNameMismatch",
            format!("subject alternative names {have:?} are not the profile's {want:?}"),
        ));
    }
    Ok(())
}

/// The profile's key usage exactly, when it names one.
fn key_usage(
    found: Option<Vec<&'static str>>,
    challenge: &ScepChallengeRow,
) -> Result<(), Refusal> {
    let mut want_ku: Vec<&str> = challenge
        .key_usage
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    if want_ku.is_empty() {
        return Ok(());
    }
    let mut have_ku = found.unwrap_or_default();
    have_ku.sort_unstable();
    want_ku.sort_unstable();
    if have_ku != want_ku {
        return Err(refuse(
            "KeyUsageMismatch",
            format!("key usage {have_ku:?} is not the profile's {want_ku:?}"),
        ));
    }
    Ok(())
}

/// The key has the profile's size.
fn key_length(
    info: &X509CertificationRequestInfo<'_>,
    challenge: &ScepChallengeRow,
) -> Result<(), Refusal> {
    let bits = match info.subject_pki.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa.key_size() as i64,
        // An uncompressed point has two coordinates of the field size in whole bytes: P-521
        // counts as 528 bits that way.
        Ok(PublicKey::EC(point)) => match point.key_size() {
            528 => 521,
            bits => bits as i64,
        },
        _ => 0,
    };
    if bits != challenge.key_size {
        return Err(refuse(
            "KeyLengthMismatch",
            format!(
                "the request's key has {bits} bits, the profile asks for {}",
                challenge.key_size
            ),
        ));
    }
    Ok(())
}

/// The profile's extended key usages exactly, when it names any.
fn extended_key_usage(
    found: Option<Vec<String>>,
    challenge: &ScepChallengeRow,
) -> Result<(), Refusal> {
    let mut want_eku: Vec<String> = challenge
        .extended_key_usage
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if want_eku.is_empty() {
        return Ok(());
    }
    let Some(mut have_eku) = found else {
        return Err(refuse(
            "EnhancedKeyUsageMissing",
            "the profile asks for extended key usages and the request has none",
        ));
    };
    have_eku.sort();
    want_eku.sort();
    if have_eku != want_eku {
        return Err(refuse(
            "EnhancedKeyUsageMismatch",
            format!("extended key usages {have_eku:?} are not the profile's {want_eku:?}"),
        ));
    }
    Ok(())
}

/// From connector 6.2510.3.2002 on, every requested extension is on [`ALLOWED_EXTENSIONS`].
fn allow_list(extensions: Option<&[X509Extension<'_>]>) -> Result<(), Refusal> {
    let unknown = extensions
        .unwrap_or_default()
        .iter()
        .map(|e| e.oid.to_id_string())
        .find(|oid| !ALLOWED_EXTENSIONS.contains(&oid.as_str()));
    match unknown {
        Some(unknown) => Err(refuse(
            "CertificateRequestDecodingFailed",
            format!("the request carries extension {unknown}, which is not on the allow-list (connector 6.2510.3.2002 and later)"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant(id: &str) -> TenantRow {
        TenantRow {
            id: id.into(),
            display_name: "Contoso".into(),
            rollout_delay_days: 7,
            enrollment_secret_hash: "e".into(),
            client_id: "c".into(),
            client_secret_hash: "s".into(),
            import_key_thumbprint: None,
            created_ms: 0,
        }
    }

    /// A targeted challenge of tenant `t1` asking only for `subject` and a key of `key_size` bits.
    fn row(subject: &str, key_size: i64) -> ScepChallengeRow {
        ScepChallengeRow {
            tenant_id: "t1".into(),
            id: "c".into(),
            device_id: "d".into(),
            user_id: None,
            subject: subject.into(),
            subject_alt_names: "[]".into(),
            key_usage: String::new(),
            key_size,
            extended_key_usage: String::new(),
            issued_ms: 0,
            expires_ms: 1,
            targeted: true,
            transaction_id: None,
            last_code: None,
            notification_kind: None,
            notification: None,
            notified_ms: None,
        }
    }

    fn csr(challenge: &str) -> Vec<u8> {
        csr_for("device", challenge)
    }

    /// A DER PKCS#10 for `CN=<cn>` whose challengePassword is `challenge` (P-256, SHA-256).
    fn csr_for(cn: &str, challenge: &str) -> Vec<u8> {
        let key = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let mut builder = openssl::x509::X509ReqBuilder::new().unwrap();
        builder.set_subject_name(&name.build()).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let plain = builder.build().to_der().unwrap();
        let info = asn1::pkcs10::info_with_challenge(&plain, challenge).unwrap();
        let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
        let signature = signer.sign_oneshot_to_vec(&info).unwrap();
        asn1::pkcs10::signed_request(
            &info,
            asn1::pkcs10::SignatureAlgorithm::EcdsaSha256,
            &signature,
        )
        .unwrap()
    }

    #[test]
    fn a_challenge_round_trips_and_expires_at_its_expiry_instant() {
        let t = tenant("t1");
        let blob = encode_challenge(&t, "k", "c-1", 1_000, 61_000, [7; 12]).unwrap();
        let request = csr(&blob);
        assert_eq!(
            challenge_of(&t, "k", &request, 60_999),
            Ok("c-1".to_owned())
        );
        assert_eq!(
            challenge_of(&t, "k", &request, 61_000).unwrap_err().code,
            "ChallengeExpired"
        );
        assert_eq!(
            challenge_of(&tenant("t2"), "k2", &request, 2_000)
                .unwrap_err()
                .code,
            "SignatureValidationFailed"
        );
    }

    #[test]
    fn a_common_name_holding_a_comma_does_not_pose_as_two_rdns() {
        let row = row("CN=d1,O=Contoso", 256);
        let forged = csr_for("d1,O=Contoso", "x");
        assert_eq!(
            check_request(&row, &forged, false).code,
            "SubjectNameMismatch"
        );
        let mut plain = row.clone();
        plain.subject = "CN=d1".into();
        assert_eq!(
            check_request(&plain, &csr_for("d1", "x"), false).code,
            "Success"
        );
    }

    #[test]
    fn a_p521_key_counts_as_521_bits() {
        let key = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP521R1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "d1").unwrap();
        let mut builder = openssl::x509::X509ReqBuilder::new().unwrap();
        builder.set_subject_name(&name.build()).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let der = builder.build().to_der().unwrap();
        let mut row = row("CN=d1", 521);
        assert_eq!(check_request(&row, &der, false).code, "Success");
        row.key_size = 384;
        assert_eq!(check_request(&row, &der, false).code, "KeyLengthMismatch");
    }

    #[test]
    fn a_challenge_with_a_short_signature_is_refused_not_a_panic() {
        let t = tenant("t1");
        let blob = format!("{}.{}", B64.encode([1u8; 41]), B64.encode([0u8; 4]));
        assert_eq!(
            challenge_of(&t, "k", &csr(&blob), 0).unwrap_err().code,
            "SignatureValidationFailed"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Arbitrary bytes as a certificate request: never a panic, never Success.
        #[test]
        fn arbitrary_request_bytes_are_refused_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let verdict = challenge_of(&tenant("t1"), "k", &bytes, 0);
            prop_assert!(verdict.is_err());
            let row = row("CN=device", 256);
            prop_assert_ne!(check_request(&row, &bytes, true).code, "Success");
        }

        /// Arbitrary text as the challenge password: never a panic, never accepted.
        #[test]
        fn arbitrary_challenge_text_is_refused_cleanly(text in "[ -~]{0,300}") {
            let verdict = challenge_of(&tenant("t1"), "k", &csr(&text), 0);
            prop_assert!(verdict.is_err());
        }

        /// A valid blob with any one character changed is refused, never accepted.
        #[test]
        fn a_tampered_challenge_is_refused(position in 0usize..200, replacement in "[A-Za-z0-9+/.]") {
            let t = tenant("t1");
            let blob = encode_challenge(&t, "k", "c-1", 0, 60_000, [3; 12]).unwrap();
            let mut chars: Vec<char> = blob.chars().collect();
            let at = position % chars.len();
            let new = replacement.chars().next().unwrap();
            prop_assume!(chars[at] != new);
            chars[at] = new;
            let tampered: String = chars.into_iter().collect();
            prop_assert!(challenge_of(&t, "k", &csr(&tampered), 1).is_err());
        }
    }
}
