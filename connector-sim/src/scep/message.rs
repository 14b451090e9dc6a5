//! SCEP pkiMessages (RFC 8894 §3): reading a request (signature, signed attributes, the
//! enveloped PKCS#10), writing a CertRep, and writing a request as a device would (for the
//! harness and the tests). Crypto is the openssl crate's; the DER around it is [`super::der`].

use openssl::hash::{hash, MessageDigest};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;

use super::der::{
    child, constructed, oid, oid_text, set_of, tlv, DerError, Tlv, CONTEXT_0, INTEGER,
    OCTET_STRING, OID, PRINTABLE_STRING, SEQUENCE, SET,
};

pub const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
pub const OID_DATA: &str = "1.2.840.113549.1.7.1";
pub const OID_ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_MESSAGE_TYPE: &str = "2.16.840.1.113733.1.9.2";
const OID_PKI_STATUS: &str = "2.16.840.1.113733.1.9.3";
const OID_FAIL_INFO: &str = "2.16.840.1.113733.1.9.4";
const OID_SENDER_NONCE: &str = "2.16.840.1.113733.1.9.5";
const OID_RECIPIENT_NONCE: &str = "2.16.840.1.113733.1.9.6";
const OID_TRANSACTION_ID: &str = "2.16.840.1.113733.1.9.7";

/// Why a pkiMessage cannot be used; each maps to the failInfo a CertRep would carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScepError {
    #[error(transparent)]
    Der(#[from] DerError),
    #[error("the message is not a SCEP pkiMessage: {0}")]
    Malformed(String),
    #[error("the message's signature does not verify: {0}")]
    Signature(String),
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    #[error("cannot decrypt the request: {0}")]
    Decrypt(String),
    #[error("crypto failure: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for ScepError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        ScepError::Crypto(e.to_string())
    }
}

impl ScepError {
    /// The failInfo a CertRep answers this with.
    pub fn fail_info(&self) -> FailInfo {
        match self {
            ScepError::Signature(_) => FailInfo::BadMessageCheck,
            ScepError::Unsupported(_) => FailInfo::BadAlg,
            _ => FailInfo::BadRequest,
        }
    }
}

/// `messageType` values (RFC 8894 §3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    PkcsReq,
    CertPoll,
    GetCert,
    GetCrl,
}

impl MessageType {
    pub fn code(&self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
            MessageType::GetCert => "21",
            MessageType::GetCrl => "22",
        }
    }

    fn parse(text: &str) -> Option<MessageType> {
        Some(match text.trim() {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }
}

/// `failInfo` values (RFC 8894 §3.2.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    BadAlg,
    BadMessageCheck,
    BadRequest,
    BadTime,
    BadCertId,
}

impl FailInfo {
    pub fn code(&self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }
}

/// `pkiStatus` of a CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    Success,
    Failure(FailInfo),
    Pending,
}

/// Message digests SCEP peers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn from_oid(text: &str) -> Option<Digest> {
        Some(match text {
            "1.3.14.3.2.26" | "1.2.840.113549.1.1.5" => Digest::Sha1,
            "2.16.840.1.101.3.4.2.1" | "1.2.840.113549.1.1.11" => Digest::Sha256,
            "2.16.840.1.101.3.4.2.2" | "1.2.840.113549.1.1.12" => Digest::Sha384,
            "2.16.840.1.101.3.4.2.3" | "1.2.840.113549.1.1.13" => Digest::Sha512,
            _ => return None,
        })
    }

    fn oid(&self) -> &'static str {
        match self {
            Digest::Sha1 => "1.3.14.3.2.26",
            Digest::Sha256 => "2.16.840.1.101.3.4.2.1",
            Digest::Sha384 => "2.16.840.1.101.3.4.2.2",
            Digest::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    pub fn md(&self) -> MessageDigest {
        match self {
            Digest::Sha1 => MessageDigest::sha1(),
            Digest::Sha256 => MessageDigest::sha256(),
            Digest::Sha384 => MessageDigest::sha384(),
            Digest::Sha512 => MessageDigest::sha512(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA-1",
            Digest::Sha256 => "SHA-256",
            Digest::Sha384 => "SHA-384",
            Digest::Sha512 => "SHA-512",
        }
    }
}

/// Content-encryption algorithms of the pkcsPKIEnvelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCipher {
    DesCbc,
    DesEde3Cbc,
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
}

impl ContentCipher {
    fn from_oid(text: &str) -> Option<ContentCipher> {
        Some(match text {
            "1.3.14.3.2.7" => ContentCipher::DesCbc,
            "1.2.840.113549.3.7" => ContentCipher::DesEde3Cbc,
            "2.16.840.1.101.3.4.1.2" => ContentCipher::Aes128Cbc,
            "2.16.840.1.101.3.4.1.22" => ContentCipher::Aes192Cbc,
            "2.16.840.1.101.3.4.1.42" => ContentCipher::Aes256Cbc,
            _ => return None,
        })
    }

    pub fn cipher(&self) -> Cipher {
        match self {
            ContentCipher::DesCbc => Cipher::des_cbc(),
            ContentCipher::DesEde3Cbc => Cipher::des_ede3_cbc(),
            ContentCipher::Aes128Cbc => Cipher::aes_128_cbc(),
            ContentCipher::Aes192Cbc => Cipher::aes_192_cbc(),
            ContentCipher::Aes256Cbc => Cipher::aes_256_cbc(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ContentCipher::DesCbc => "DES-CBC",
            ContentCipher::DesEde3Cbc => "DES-EDE3-CBC",
            ContentCipher::Aes128Cbc => "AES-128-CBC",
            ContentCipher::Aes192Cbc => "AES-192-CBC",
            ContentCipher::Aes256Cbc => "AES-256-CBC",
        }
    }
}

/// Loads OpenSSL 3's legacy provider (single DES, which the micromdm client always uses) next to
/// the default one, once per process. Without it only DES-CBC requests fail.
pub fn load_legacy_provider() -> bool {
    use std::sync::OnceLock;
    static PROVIDERS: OnceLock<Option<(openssl::provider::Provider, openssl::provider::Provider)>> =
        OnceLock::new();
    PROVIDERS
        .get_or_init(|| {
            let legacy = openssl::provider::Provider::try_load(None, "legacy", true).ok()?;
            let default = openssl::provider::Provider::try_load(None, "default", true).ok()?;
            Some((legacy, default))
        })
        .is_some()
}

/// A signed and verified pkiMessage from a client.
#[derive(Debug, Clone)]
pub struct PkiRequest {
    pub message_type: MessageType,
    pub transaction_id: String,
    /// The transactionID attribute value as sent (echoed byte for byte in the CertRep).
    transaction_id_tlv: Vec<u8>,
    pub sender_nonce: Vec<u8>,
    /// The certificate that signed the message (self-signed for PKCSReq).
    pub signer: X509,
    pub digest: Digest,
    /// The pkcsPKIEnvelope (the message's content).
    pub envelope: Vec<u8>,
}

/// The parts of a SignedData this module reads.
struct SignedParts<'a> {
    /// eContentType, dotted.
    content_type: String,
    content: Option<&'a [u8]>,
    certificates: Vec<Tlv<'a>>,
    signer_id: Tlv<'a>,
    digest: Digest,
    signed_attrs: Tlv<'a>,
    signature: &'a [u8],
}

fn signed_parts(message: &[u8]) -> Result<SignedParts<'_>, ScepError> {
    let info = Tlv::parse(message)?.expect(SEQUENCE, "ContentInfo must be a SEQUENCE")?;
    let info = info.children()?;
    let kind = child(&info, 0, OID, "ContentInfo must start with a content type")?;
    if oid_text(kind.body) != OID_SIGNED_DATA {
        return Err(ScepError::Malformed(format!(
            "content type {} is not signedData",
            oid_text(kind.body)
        )));
    }
    let explicit = child(&info, 1, CONTEXT_0, "ContentInfo has no [0] content")?;
    let signed = Tlv::parse(explicit.body)?
        .expect(SEQUENCE, "SignedData must be a SEQUENCE")?
        .children()?;
    child(
        &signed,
        0,
        INTEGER,
        "SignedData must start with its version",
    )?;
    let encap = child(
        &signed,
        2,
        SEQUENCE,
        "SignedData has no encapsulated content",
    )?
    .children()?;
    let content_type = oid_text(child(&encap, 0, OID, "encapsulated content without a type")?.body);
    let content = match encap.get(1) {
        None => None,
        Some(wrapper) => {
            let wrapper = wrapper.expect(CONTEXT_0, "eContent must be [0]")?;
            let octets = Tlv::parse(wrapper.body)?
                .expect(OCTET_STRING, "eContent must be a primitive OCTET STRING")?;
            Some(octets.body)
        }
    };
    let mut certificates = Vec::new();
    let mut index = 3;
    while let Some(part) = signed.get(index) {
        match part.tag {
            0xA0 => certificates = part.children()?,
            0xA1 => {}
            _ => break,
        }
        index += 1;
    }
    let infos = child(&signed, index, SET, "SignedData has no signerInfos")?.children()?;
    if infos.len() != 1 {
        return Err(ScepError::Malformed(format!(
            "a pkiMessage has one signer, this one has {}",
            infos.len()
        )));
    }
    let info = infos[0]
        .expect(SEQUENCE, "SignerInfo must be a SEQUENCE")?
        .children()?;
    let signer_id = child(
        &info,
        1,
        SEQUENCE,
        "SignerInfo must name issuerAndSerialNumber",
    )?;
    let digest_oid = child(&info, 2, SEQUENCE, "SignerInfo has no digest algorithm")?.children()?;
    let digest_oid = oid_text(child(&digest_oid, 0, OID, "digest algorithm without OID")?.body);
    let digest = Digest::from_oid(&digest_oid)
        .ok_or_else(|| ScepError::Unsupported(format!("digest algorithm {digest_oid}")))?;
    let signed_attrs = child(&info, 3, CONTEXT_0, "SignerInfo has no signed attributes")?;
    child(&info, 4, SEQUENCE, "SignerInfo has no signature algorithm")?;
    let signature = child(&info, 5, OCTET_STRING, "SignerInfo has no signature")?.body;
    Ok(SignedParts {
        content_type,
        content,
        certificates,
        signer_id,
        digest,
        signed_attrs,
        signature,
    })
}

/// issuer Name and serial INTEGER encodings of a certificate.
fn issuer_and_serial(certificate: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ScepError> {
    let cert = Tlv::parse(certificate)?.children()?;
    let tbs = child(&cert, 0, SEQUENCE, "certificate without tbsCertificate")?.children()?;
    let skip = usize::from(tbs.first().is_some_and(|t| t.tag == CONTEXT_0));
    let serial = child(&tbs, skip, INTEGER, "certificate without serial")?;
    let issuer = child(&tbs, skip + 2, SEQUENCE, "certificate without issuer")?;
    Ok((issuer.raw.to_vec(), serial.raw.to_vec()))
}

/// More signed attributes than any SCEP peer sends (they send 6 to 9).
const MAX_ATTRIBUTES: usize = 32;

/// Attribute OID → its single value.
fn attributes<'a>(signed_attrs: &Tlv<'a>) -> Result<Vec<(String, Tlv<'a>)>, ScepError> {
    let mut out = Vec::new();
    let all = signed_attrs.children()?;
    if all.len() > MAX_ATTRIBUTES {
        return Err(ScepError::Malformed(format!(
            "{} signed attributes; a pkiMessage has at most {MAX_ATTRIBUTES}",
            all.len()
        )));
    }
    for attribute in all {
        let parts = attribute
            .expect(SEQUENCE, "an attribute must be a SEQUENCE")?
            .children()?;
        let kind = oid_text(child(&parts, 0, OID, "attribute without type")?.body);
        let values = child(&parts, 1, SET, "attribute without values")?.children()?;
        if values.len() != 1 {
            return Err(ScepError::Malformed(format!(
                "attribute {kind} has {} values, SCEP's have one",
                values.len()
            )));
        }
        if out.iter().any(|(k, _): &(String, Tlv<'_>)| *k == kind) {
            return Err(ScepError::Malformed(format!(
                "attribute {kind} appears twice"
            )));
        }
        out.push((kind, values[0]));
    }
    Ok(out)
}

fn text_value(value: &Tlv<'_>, what: &str) -> Result<String, ScepError> {
    match value.tag {
        PRINTABLE_STRING | 0x0C | 0x16 => String::from_utf8(value.body.to_vec())
            .map_err(|_| ScepError::Malformed(format!("{what} is not text"))),
        _ => Err(ScepError::Malformed(format!("{what} is not a string"))),
    }
}

/// A SignedData whose signature checked: its parts, its signer, its signed attributes.
type Verified<'a> = (SignedParts<'a>, X509, Vec<(String, Tlv<'a>)>);

/// Checks a SignedData's signature over its signed attributes and the messageDigest over its
/// content; returns the parts, the signer certificate and the attributes.
fn verified(message: &[u8]) -> Result<Verified<'_>, ScepError> {
    let parts = signed_parts(message)?;
    let wanted = parts.signer_id.children()?;
    let (issuer, serial) = match wanted.as_slice() {
        [issuer, serial] => (issuer.raw, serial.raw),
        _ => {
            return Err(ScepError::Malformed(
                "issuerAndSerialNumber must hold two parts".into(),
            ))
        }
    };
    let signer = parts
        .certificates
        .iter()
        .find(|c| issuer_and_serial(c.raw).is_ok_and(|(i, s)| i == issuer && s == serial))
        .ok_or_else(|| {
            ScepError::Malformed("the signer's certificate is not in the message".into())
        })?;
    let signer = X509::from_der(signer.raw)
        .map_err(|e| ScepError::Malformed(format!("the signer's certificate: {e}")))?;
    let attrs = attributes(&parts.signed_attrs)?;
    // RFC 5652 §11.1: the contentType attribute names the content's type (SCEP's is data).
    let content_type = attrs
        .iter()
        .find(|(k, _)| k == OID_CONTENT_TYPE)
        .ok_or_else(|| ScepError::Malformed("no contentType attribute".into()))?;
    if content_type.1.tag != OID || oid_text(content_type.1.body) != parts.content_type {
        return Err(ScepError::Malformed(
            "the contentType attribute does not name the encapsulated content's type".into(),
        ));
    }
    let content = parts.content.unwrap_or_default();
    let expected = hash(parts.digest.md(), content)?;
    let digest = attrs
        .iter()
        .find(|(k, _)| k == OID_MESSAGE_DIGEST)
        .ok_or_else(|| ScepError::Malformed("no messageDigest attribute".into()))?;
    if digest.1.tag != OCTET_STRING || digest.1.body != &expected[..] {
        return Err(ScepError::Signature(
            "messageDigest does not match the content".into(),
        ));
    }
    // The signature covers the attributes re-tagged as a SET.
    let mut to_verify = parts.signed_attrs.raw.to_vec();
    to_verify[0] = SET;
    let key = signer.public_key()?;
    let mut verifier = Verifier::new(parts.digest.md(), &key)?;
    verifier.update(&to_verify)?;
    if !verifier.verify(parts.signature).unwrap_or(false) {
        return Err(ScepError::Signature(
            "the signer's key did not make this signature".into(),
        ));
    }
    Ok((parts, signer, attrs))
}

impl PkiRequest {
    /// Reads and verifies a client's pkiMessage (the signer is the certificate in the message;
    /// a PKCSReq's is self-signed, so no chain is checked).
    pub fn parse(message: &[u8]) -> Result<PkiRequest, ScepError> {
        let (parts, signer, attrs) = verified(message)?;
        // The reply is enveloped to the signer's key: SCEP (RFC 8894 §2.3) uses RSA only.
        if signer.public_key()?.id() != Id::RSA {
            return Err(ScepError::Unsupported(
                "the signer's key is not RSA; SCEP envelopes the reply to an RSA key".into(),
            ));
        }
        let get = |oid: &str, what: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == oid)
                .map(|(_, v)| *v)
                .ok_or_else(|| ScepError::Malformed(format!("no {what} attribute")))
        };
        let message_type = text_value(&get(OID_MESSAGE_TYPE, "messageType")?, "messageType")?;
        let message_type = MessageType::parse(&message_type).ok_or_else(|| {
            ScepError::Malformed(format!("messageType `{message_type}` is not known"))
        })?;
        let transaction = get(OID_TRANSACTION_ID, "transactionID")?;
        let transaction_id = text_value(&transaction, "transactionID")?;
        if transaction_id.is_empty() || transaction_id.len() > 256 {
            return Err(ScepError::Malformed(
                "transactionID must hold 1 to 256 characters".into(),
            ));
        }
        let nonce = get(OID_SENDER_NONCE, "senderNonce")?
            .expect(OCTET_STRING, "senderNonce must be an OCTET STRING")?;
        Ok(PkiRequest {
            message_type,
            transaction_id,
            transaction_id_tlv: transaction.raw.to_vec(),
            sender_nonce: nonce.body.to_vec(),
            signer,
            digest: parts.digest,
            envelope: parts.content.unwrap_or_default().to_vec(),
        })
    }

    /// The content-encryption algorithm of the envelope.
    pub fn content_cipher(&self) -> Result<ContentCipher, ScepError> {
        envelope_cipher(&self.envelope)
    }

    /// Decrypts the pkcsPKIEnvelope with the RA key: the DER PKCS#10 (or, for the other
    /// message types, their messageData).
    pub fn open(&self, ra_key: &PKeyRef<Private>, ra_cert: &X509) -> Result<Vec<u8>, ScepError> {
        let cipher = self.content_cipher()?;
        if cipher == ContentCipher::DesCbc && !load_legacy_provider() {
            return Err(ScepError::Unsupported(
                "DES-CBC needs OpenSSL's legacy provider, which cannot be loaded".into(),
            ));
        }
        let envelope = Pkcs7::from_der(&self.envelope)
            .map_err(|e| ScepError::Malformed(format!("pkcsPKIEnvelope: {e}")))?;
        envelope
            .decrypt(ra_key, ra_cert, Pkcs7Flags::BINARY)
            .map_err(|e| ScepError::Decrypt(e.to_string()))
    }
}

/// Reads the content-encryption algorithm of an EnvelopedData.
pub fn envelope_cipher(envelope: &[u8]) -> Result<ContentCipher, ScepError> {
    let info = Tlv::parse(envelope)?
        .expect(SEQUENCE, "pkcsPKIEnvelope must be a SEQUENCE")?
        .children()?;
    let kind = oid_text(child(&info, 0, OID, "pkcsPKIEnvelope without content type")?.body);
    if kind != OID_ENVELOPED_DATA {
        return Err(ScepError::Malformed(format!(
            "pkcsPKIEnvelope content type {kind} is not envelopedData"
        )));
    }
    let enveloped = child(&info, 1, CONTEXT_0, "pkcsPKIEnvelope without content")?;
    let enveloped = Tlv::parse(enveloped.body)?
        .expect(SEQUENCE, "EnvelopedData must be a SEQUENCE")?
        .children()?;
    let encrypted = enveloped
        .iter()
        .rev()
        .find(|t| t.tag == SEQUENCE)
        .ok_or_else(|| ScepError::Malformed("EnvelopedData without encryptedContentInfo".into()))?
        .children()?;
    let algorithm = child(
        &encrypted,
        1,
        SEQUENCE,
        "encryptedContentInfo without algorithm",
    )?
    .children()?;
    let algorithm = oid_text(child(&algorithm, 0, OID, "content algorithm without OID")?.body);
    ContentCipher::from_oid(&algorithm)
        .ok_or_else(|| ScepError::Unsupported(format!("content encryption {algorithm}")))
}

fn attribute(kind: &str, value: Vec<u8>) -> Vec<u8> {
    constructed(SEQUENCE, &[&oid(kind), &tlv(SET, &value)])
}

fn null_algorithm(kind: &str) -> Vec<u8> {
    constructed(SEQUENCE, &[&oid(kind), &[0x05, 0x00]])
}

/// A SignedData holding `content`, signed by `cert`/`key` (RSA) with `digest`, carrying
/// contentType, messageDigest and `extra` signed attributes; `certificates` go in the
/// certificates field.
fn signed_data(
    content: &[u8],
    cert: &X509,
    key: &PKeyRef<Private>,
    digest: Digest,
    extra: Vec<Vec<u8>>,
    certificates: &[&X509],
) -> Result<Vec<u8>, ScepError> {
    if key.id() != Id::RSA {
        return Err(ScepError::Unsupported("SCEP signers use RSA keys".into()));
    }
    let mut attrs = vec![
        attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
        attribute(
            OID_MESSAGE_DIGEST,
            tlv(OCTET_STRING, &hash(digest.md(), content)?),
        ),
    ];
    attrs.extend(extra);
    let attrs = set_of(attrs);
    let mut signer = Signer::new(digest.md(), key)?;
    signer.update(&attrs)?;
    let signature = signer.sign_to_vec()?;
    let mut implicit = attrs;
    implicit[0] = CONTEXT_0;
    let (issuer, serial) = issuer_and_serial(&cert.to_der()?)?;
    let signer_info = constructed(
        SEQUENCE,
        &[
            &[0x02, 0x01, 0x01],
            &constructed(SEQUENCE, &[&issuer, &serial]),
            &null_algorithm(digest.oid()),
            &implicit,
            &null_algorithm(OID_RSA),
            &tlv(OCTET_STRING, &signature),
        ],
    );
    let certs = concatenated(certificates)?;
    let signed = constructed(
        SEQUENCE,
        &[
            &[0x02, 0x01, 0x01],
            &set_of(vec![null_algorithm(digest.oid())]),
            &constructed(
                SEQUENCE,
                &[&oid(OID_DATA), &tlv(CONTEXT_0, &tlv(OCTET_STRING, content))],
            ),
            &tlv(CONTEXT_0, &certs),
            &set_of(vec![signer_info]),
        ],
    );
    Ok(constructed(
        SEQUENCE,
        &[&oid(OID_SIGNED_DATA), &tlv(CONTEXT_0, &signed)],
    ))
}

/// The DER of `certificates`, one after the other (the contents of a `[0] certificates`).
fn concatenated(certificates: &[&X509]) -> Result<Vec<u8>, ScepError> {
    let mut out = Vec::new();
    for c in certificates {
        out.extend(c.to_der()?);
    }
    Ok(out)
}

/// A degenerate certs-only SignedData (GetCACert's CA+RA answer, a CertRep's payload).
pub fn certs_only(certificates: &[&X509]) -> Result<Vec<u8>, ScepError> {
    let certs = concatenated(certificates)?;
    let signed = constructed(
        SEQUENCE,
        &[
            &[0x02, 0x01, 0x01],
            &tlv(SET, &[]),
            &constructed(SEQUENCE, &[&oid(OID_DATA)]),
            &tlv(CONTEXT_0, &certs),
            &tlv(SET, &[]),
        ],
    );
    Ok(constructed(
        SEQUENCE,
        &[&oid(OID_SIGNED_DATA), &tlv(CONTEXT_0, &signed)],
    ))
}

/// The certificates of a certs-only SignedData.
pub fn certificates_of(message: &[u8]) -> Result<Vec<X509>, ScepError> {
    let parts = signed_parts_or_degenerate(message)?;
    parts
        .iter()
        .map(|c| X509::from_der(c.raw).map_err(|e| ScepError::Malformed(e.to_string())))
        .collect()
}

fn signed_parts_or_degenerate(message: &[u8]) -> Result<Vec<Tlv<'_>>, ScepError> {
    let info = Tlv::parse(message)?.children()?;
    let explicit = child(&info, 1, CONTEXT_0, "ContentInfo has no [0] content")?;
    let signed = Tlv::parse(explicit.body)?.children()?;
    match signed.get(3) {
        Some(certs) if certs.tag == CONTEXT_0 => Ok(certs.children()?),
        _ => Err(ScepError::Malformed("no certificates".into())),
    }
}

fn nonce() -> Result<Vec<u8>, ScepError> {
    let mut bytes = vec![0u8; 16];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(bytes)
}

/// The RA's CertRep to `request`: SUCCESS carries `issued` (and `chain`) enveloped to the
/// requester with the request's own content cipher; FAILURE carries failInfo; PENDING nothing.
pub fn cert_rep(
    request: &PkiRequest,
    status: PkiStatus,
    issued: &[&X509],
    ra_cert: &X509,
    ra_key: &PKeyRef<Private>,
) -> Result<Vec<u8>, ScepError> {
    let printable = |s: &str| tlv(PRINTABLE_STRING, s.as_bytes());
    let mut attrs = vec![
        attribute(OID_MESSAGE_TYPE, printable(MessageType::CertRep.code())),
        attribute(OID_TRANSACTION_ID, request.transaction_id_tlv.clone()),
        attribute(OID_SENDER_NONCE, tlv(OCTET_STRING, &nonce()?)),
        attribute(
            OID_RECIPIENT_NONCE,
            tlv(OCTET_STRING, &request.sender_nonce),
        ),
    ];
    let content = match status {
        PkiStatus::Success => {
            attrs.push(attribute(OID_PKI_STATUS, printable("0")));
            let payload = certs_only(issued)?;
            let cipher = request.content_cipher().unwrap_or(ContentCipher::Aes256Cbc);
            if cipher == ContentCipher::DesCbc {
                load_legacy_provider();
            }
            let mut to = Stack::new()?;
            to.push(request.signer.clone())?;
            Pkcs7::encrypt(&to, &payload, cipher.cipher(), Pkcs7Flags::BINARY)?.to_der()?
        }
        PkiStatus::Failure(info) => {
            attrs.push(attribute(OID_PKI_STATUS, printable("2")));
            attrs.push(attribute(OID_FAIL_INFO, printable(info.code())));
            Vec::new()
        }
        PkiStatus::Pending => {
            attrs.push(attribute(OID_PKI_STATUS, printable("3")));
            Vec::new()
        }
    };
    signed_data(&content, ra_cert, ra_key, request.digest, attrs, &[ra_cert])
}

/// What a CertRep said, as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRepView {
    pub status: String,
    pub fail_info: Option<String>,
    pub transaction_id: String,
    pub recipient_nonce: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// Reads and verifies a CertRep (for the harness's own SCEP client and the tests).
pub fn read_cert_rep(message: &[u8]) -> Result<CertRepView, ScepError> {
    let (parts, _, attrs) = verified(message)?;
    let get = |oid: &str| attrs.iter().find(|(k, _)| k == oid).map(|(_, v)| *v);
    let text = |oid: &str, what: &str| -> Result<String, ScepError> {
        text_value(
            &get(oid).ok_or_else(|| ScepError::Malformed(format!("no {what}")))?,
            what,
        )
    };
    if text(OID_MESSAGE_TYPE, "messageType")? != "3" {
        return Err(ScepError::Malformed("not a CertRep".into()));
    }
    Ok(CertRepView {
        status: text(OID_PKI_STATUS, "pkiStatus")?,
        fail_info: get(OID_FAIL_INFO)
            .map(|v| text_value(&v, "failInfo"))
            .transpose()?,
        transaction_id: text(OID_TRANSACTION_ID, "transactionID")?,
        recipient_nonce: get(OID_RECIPIENT_NONCE)
            .map(|v| v.body.to_vec())
            .unwrap_or_default(),
        envelope: parts.content.unwrap_or_default().to_vec(),
    })
}

/// A device's pkiMessage: `content` (the PKCS#10 of a PKCSReq, the IssuerAndSubject of a
/// CertPoll) enveloped to `ra` with `cipher`, signed by the device's self-signed `signer`
/// certificate and key.
pub struct ClientRequest<'a> {
    pub message_type: MessageType,
    pub content: &'a [u8],
    pub transaction_id: &'a str,
    pub signer: &'a X509,
    pub signer_key: &'a PKeyRef<Private>,
    pub ra: &'a X509,
    pub cipher: ContentCipher,
    pub digest: Digest,
}

impl ClientRequest<'_> {
    pub fn build(&self) -> Result<Vec<u8>, ScepError> {
        if self.cipher == ContentCipher::DesCbc {
            load_legacy_provider();
        }
        let mut to = Stack::new()?;
        to.push(self.ra.clone())?;
        let envelope = Pkcs7::encrypt(&to, self.content, self.cipher.cipher(), Pkcs7Flags::BINARY)?
            .to_der()?;
        let printable = |s: &str| tlv(PRINTABLE_STRING, s.as_bytes());
        let attrs = vec![
            attribute(OID_MESSAGE_TYPE, printable(self.message_type.code())),
            attribute(OID_TRANSACTION_ID, printable(self.transaction_id)),
            attribute(OID_SENDER_NONCE, tlv(OCTET_STRING, &nonce()?)),
        ];
        signed_data(
            &envelope,
            self.signer,
            self.signer_key,
            self.digest,
            attrs,
            &[self.signer],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    struct Fixture {
        ra_key: openssl::pkey::PKey<Private>,
        ra: X509,
        message: Vec<u8>,
        csr: Vec<u8>,
    }

    /// One valid PKCSReq (DES-CBC, SHA-1, as micromdm sends it), made once.
    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let now = chrono::DateTime::from_timestamp(1_772_323_200, 0).unwrap();
            let ra_key = openssl::pkey::PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let ra = crate::pki::self_signed(&ra_key, "RA", now).unwrap();
            let device = openssl::pkey::PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let signer = crate::pki::self_signed(&device, "SCEP SIGNER", now).unwrap();
            let csr = crate::pki::certificate_request_with_challenge(
                &device,
                "CN=device-0001",
                Some("challenge"),
                Vec::new(),
            )
            .unwrap();
            let message = ClientRequest {
                message_type: MessageType::PkcsReq,
                content: &csr,
                transaction_id: "tx-1",
                signer: &signer,
                signer_key: &device,
                ra: &ra,
                cipher: ContentCipher::DesCbc,
                digest: Digest::Sha1,
            }
            .build()
            .unwrap();
            Fixture {
                ra_key,
                ra,
                message,
                csr,
            }
        })
    }

    #[test]
    fn a_request_reads_back_with_its_attributes_and_opens_with_the_ra_key() {
        let f = fixture();
        let request = PkiRequest::parse(&f.message).unwrap();
        assert_eq!(request.message_type, MessageType::PkcsReq);
        assert_eq!(request.transaction_id, "tx-1");
        assert_eq!(request.digest, Digest::Sha1);
        assert_eq!(request.sender_nonce.len(), 16);
        assert_eq!(request.content_cipher().unwrap(), ContentCipher::DesCbc);
        assert_eq!(request.open(&f.ra_key, &f.ra).unwrap(), f.csr);
    }

    #[test]
    fn a_failure_cert_rep_carries_status_fail_info_and_the_echoed_nonce() {
        let f = fixture();
        let request = PkiRequest::parse(&f.message).unwrap();
        let rep = cert_rep(
            &request,
            PkiStatus::Failure(FailInfo::BadRequest),
            &[],
            &f.ra,
            &f.ra_key,
        )
        .unwrap();
        let view = read_cert_rep(&rep).unwrap();
        assert_eq!(view.status, "2");
        assert_eq!(view.fail_info.as_deref(), Some("2"));
        assert_eq!(view.transaction_id, "tx-1");
        assert_eq!(view.recipient_nonce, request.sender_nonce);
        assert!(view.envelope.is_empty());
    }

    /// `PROPTEST_CASES` (a long fuzzing run) or `default`.
    fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        ProptestConfig::with_cases(cases)
    }

    proptest! {
        #![proptest_config(cases(10_000))]

        /// Arbitrary bytes through every reader: a clean error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic_a_reader(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert!(PkiRequest::parse(&bytes).is_err());
            let _ = read_cert_rep(&bytes);
            let _ = certificates_of(&bytes);
            let _ = envelope_cipher(&bytes);
        }
    }

    proptest! {
        #![proptest_config(cases(3_000))]

        /// A real request with bytes changed, cut or inserted: parsing and opening fail cleanly
        /// or succeed, never panic.
        #[test]
        fn a_mangled_request_never_panics(position in 0usize..4096, value in any::<u8>(), how in 0u8..3) {
            let f = fixture();
            let mut bytes = f.message.clone();
            let at = position % bytes.len();
            match how {
                0 => bytes[at] ^= value | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, value),
            }
            if let Ok(request) = PkiRequest::parse(&bytes) {
                let _ = request.open(&f.ra_key, &f.ra);
            }
        }
    }
}
