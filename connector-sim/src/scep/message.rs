//! SCEP pkiMessages (RFC 8894 §3): reading a request (signature, signed attributes, the
//! enveloped PKCS#10), writing a CertRep, and writing a request as a device would (for the
//! harness and the tests). Crypto is the openssl crate's; the DER around it is
//! [`asn1::cms`]'s.

use asn1::cms::{self, AttributeValue, ContentInfo, SignedData, Signer, Value};
use asn1::oid::{
    DES_CBC, DES_EDE_3_CBC, ID_AES_128_CBC, ID_AES_192_CBC, ID_AES_256_CBC, ID_CONTENT_TYPE,
    ID_DATA, ID_ENVELOPED_DATA, ID_FAIL_INFO, ID_MESSAGE_DIGEST, ID_MESSAGE_TYPE, ID_PKI_STATUS,
    ID_RECIPIENT_NONCE, ID_SENDER_NONCE, ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512,
    ID_SIGNED_DATA, ID_TRANSACTION_ID, RSA_ENCRYPTION, SHA_1_WITH_RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use asn1::{DerError, ObjectIdentifier};
use openssl::hash::{hash, MessageDigest};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::sign::{Signer as OpensslSigner, Verifier};
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;

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
    /// The digest of a SignerInfo's digest algorithm (some clients name the signature
    /// algorithm there instead).
    fn from_oid(oid: &ObjectIdentifier) -> Option<Digest> {
        Some(match *oid {
            ID_SHA_1 | SHA_1_WITH_RSA_ENCRYPTION => Digest::Sha1,
            ID_SHA_256 | SHA_256_WITH_RSA_ENCRYPTION => Digest::Sha256,
            ID_SHA_384 | SHA_384_WITH_RSA_ENCRYPTION => Digest::Sha384,
            ID_SHA_512 | SHA_512_WITH_RSA_ENCRYPTION => Digest::Sha512,
            _ => return None,
        })
    }

    fn oid(&self) -> ObjectIdentifier {
        match self {
            Digest::Sha1 => ID_SHA_1,
            Digest::Sha256 => ID_SHA_256,
            Digest::Sha384 => ID_SHA_384,
            Digest::Sha512 => ID_SHA_512,
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
    fn from_oid(oid: &ObjectIdentifier) -> Option<ContentCipher> {
        Some(match *oid {
            DES_CBC => ContentCipher::DesCbc,
            DES_EDE_3_CBC => ContentCipher::DesEde3Cbc,
            ID_AES_128_CBC => ContentCipher::Aes128Cbc,
            ID_AES_192_CBC => ContentCipher::Aes192Cbc,
            ID_AES_256_CBC => ContentCipher::Aes256Cbc,
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
    transaction_id_der: Vec<u8>,
    pub sender_nonce: Vec<u8>,
    /// The certificate that signed the message (self-signed for PKCSReq).
    pub signer: X509,
    pub digest: Digest,
    /// The pkcsPKIEnvelope (the message's content).
    pub envelope: Vec<u8>,
}

/// More signed attributes than any SCEP peer sends (they send 6 to 9).
const MAX_ATTRIBUTES: usize = 32;

/// A SignedData whose signature checked: its content, its signer's certificate and digest, and
/// its signed attributes (one value each).
struct Verified<'a> {
    content: Option<&'a [u8]>,
    signer: X509,
    digest: Digest,
    attributes: Vec<(ObjectIdentifier, Value<'a>)>,
}

impl<'a> Verified<'a> {
    fn get(&self, kind: ObjectIdentifier) -> Option<Value<'a>> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| *v)
    }

    fn required(&self, kind: ObjectIdentifier, what: &str) -> Result<Value<'a>, ScepError> {
        self.get(kind)
            .ok_or_else(|| ScepError::Malformed(format!("no {what} attribute")))
    }
}

/// The SignedData a message holds.
fn signed_data(message: &[u8]) -> Result<SignedData<'_>, ScepError> {
    let info = ContentInfo::read(message)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(ScepError::Malformed(format!(
            "content type {} is not signedData",
            info.content_type
        )));
    }
    Ok(info.signed_data()?)
}

/// Attribute OID → its single value.
fn attributes<'a>(
    signed: &cms::SignedAttributes<'a>,
) -> Result<Vec<(ObjectIdentifier, Value<'a>)>, ScepError> {
    if signed.attributes.len() > MAX_ATTRIBUTES {
        return Err(ScepError::Malformed(format!(
            "{} signed attributes; a pkiMessage has at most {MAX_ATTRIBUTES}",
            signed.attributes.len()
        )));
    }
    let mut out: Vec<(ObjectIdentifier, Value<'a>)> = Vec::new();
    for attribute in &signed.attributes {
        let kind = attribute.kind;
        let [value] = attribute.values[..] else {
            return Err(ScepError::Malformed(format!(
                "attribute {kind} has {} values, SCEP's have one",
                attribute.values.len()
            )));
        };
        if out.iter().any(|(k, _)| *k == kind) {
            return Err(ScepError::Malformed(format!(
                "attribute {kind} appears twice"
            )));
        }
        out.push((kind, value));
    }
    Ok(out)
}

fn text_value(value: &Value<'_>, what: &str) -> Result<String, ScepError> {
    value
        .text()
        .map(str::to_owned)
        .ok_or_else(|| ScepError::Malformed(format!("{what} is not a string")))
}

/// Checks a SignedData's signature over its signed attributes and the messageDigest over its
/// content.
fn verified(message: &[u8]) -> Result<Verified<'_>, ScepError> {
    let signed = signed_data(message)?;
    let [signer_info] = &signed.signers[..] else {
        return Err(ScepError::Malformed(format!(
            "a pkiMessage has one signer, this one has {}",
            signed.signers.len()
        )));
    };
    let digest = Digest::from_oid(&signer_info.digest_algorithm).ok_or_else(|| {
        ScepError::Unsupported(format!("digest algorithm {}", signer_info.digest_algorithm))
    })?;
    let signed_attributes = signer_info
        .signed_attributes
        .as_ref()
        .ok_or_else(|| ScepError::Malformed("SignerInfo has no signed attributes".into()))?;
    let signer = signed
        .certificates
        .iter()
        .find(|c| {
            asn1::x509::issuer_and_serial(c)
                .is_ok_and(|(i, s)| i == signer_info.issuer && s == signer_info.serial)
        })
        .ok_or_else(|| {
            ScepError::Malformed("the signer's certificate is not in the message".into())
        })?;
    let signer = X509::from_der(signer)
        .map_err(|e| ScepError::Malformed(format!("the signer's certificate: {e}")))?;
    let verified = Verified {
        content: signed.content,
        signer,
        digest,
        attributes: attributes(signed_attributes)?,
    };
    // RFC 5652 §11.1: the contentType attribute names the content's type (SCEP's is data).
    let content_type = verified.required(ID_CONTENT_TYPE, "contentType")?;
    if content_type.oid() != Some(signed.content_type) {
        return Err(ScepError::Malformed(
            "the contentType attribute does not name the encapsulated content's type".into(),
        ));
    }
    let expected = hash(digest.md(), signed.content.unwrap_or_default())?;
    let message_digest = verified.required(ID_MESSAGE_DIGEST, "messageDigest")?;
    if message_digest.octets() != Some(&expected[..]) {
        return Err(ScepError::Signature(
            "messageDigest does not match the content".into(),
        ));
    }
    // The signature covers the attributes as a SET, as they were sent.
    let key = verified.signer.public_key()?;
    let mut verifier = Verifier::new(digest.md(), &key)?;
    verifier.update(&signed_attributes.signed_der()?)?;
    if !verifier.verify(signer_info.signature).unwrap_or(false) {
        return Err(ScepError::Signature(
            "the signer's key did not make this signature".into(),
        ));
    }
    Ok(verified)
}

impl PkiRequest {
    /// Reads and verifies a client's pkiMessage (the signer is the certificate in the message;
    /// a PKCSReq's is self-signed, so no chain is checked).
    pub fn parse(message: &[u8]) -> Result<PkiRequest, ScepError> {
        let verified = verified(message)?;
        // The reply is enveloped to the signer's key: SCEP (RFC 8894 §2.3) uses RSA only.
        if verified.signer.public_key()?.id() != Id::RSA {
            return Err(ScepError::Unsupported(
                "the signer's key is not RSA; SCEP envelopes the reply to an RSA key".into(),
            ));
        }
        let message_type = text_value(
            &verified.required(ID_MESSAGE_TYPE, "messageType")?,
            "messageType",
        )?;
        let message_type = MessageType::parse(&message_type).ok_or_else(|| {
            ScepError::Malformed(format!("messageType `{message_type}` is not known"))
        })?;
        let transaction = verified.required(ID_TRANSACTION_ID, "transactionID")?;
        let transaction_id = text_value(&transaction, "transactionID")?;
        if transaction_id.is_empty() || transaction_id.len() > 256 {
            return Err(ScepError::Malformed(
                "transactionID must hold 1 to 256 characters".into(),
            ));
        }
        let nonce = verified
            .required(ID_SENDER_NONCE, "senderNonce")?
            .octets()
            .ok_or_else(|| ScepError::Malformed("senderNonce must be an OCTET STRING".into()))?;
        Ok(PkiRequest {
            message_type,
            transaction_id,
            transaction_id_der: transaction.der().to_vec(),
            sender_nonce: nonce.to_vec(),
            digest: verified.digest,
            envelope: verified.content.unwrap_or_default().to_vec(),
            signer: verified.signer,
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
    let info = ContentInfo::read(envelope)?;
    if info.content_type != ID_ENVELOPED_DATA {
        return Err(ScepError::Malformed(format!(
            "pkcsPKIEnvelope content type {} is not envelopedData",
            info.content_type
        )));
    }
    let algorithm = info.enveloped_data_cipher()?;
    ContentCipher::from_oid(&algorithm)
        .ok_or_else(|| ScepError::Unsupported(format!("content encryption {algorithm}")))
}

/// The DER of each certificate.
fn der_of(certificates: &[&X509]) -> Result<Vec<Vec<u8>>, ScepError> {
    Ok(certificates
        .iter()
        .map(|c| c.to_der())
        .collect::<Result<_, _>>()?)
}

fn slices(ders: &[Vec<u8>]) -> Vec<&[u8]> {
    ders.iter().map(Vec::as_slice).collect()
}

/// A SignedData holding `content`, signed by `cert`/`key` (RSA) with `digest`, carrying
/// contentType, messageDigest and `extra` signed attributes; `certificates` go in the
/// certificates field.
fn signed_data_of(
    content: &[u8],
    cert: &X509,
    key: &PKeyRef<Private>,
    digest: Digest,
    extra: &[(ObjectIdentifier, AttributeValue<'_>)],
    certificates: &[&X509],
) -> Result<Vec<u8>, ScepError> {
    if key.id() != Id::RSA {
        return Err(ScepError::Unsupported("SCEP signers use RSA keys".into()));
    }
    let message_digest = hash(digest.md(), content)?;
    let mut attributes = vec![
        (ID_CONTENT_TYPE, AttributeValue::Oid(ID_DATA)),
        (ID_MESSAGE_DIGEST, AttributeValue::Octets(&message_digest)),
    ];
    attributes.extend_from_slice(extra);
    let signed_attributes = cms::signed_attributes(&attributes)?;
    let mut signer = OpensslSigner::new(digest.md(), key)?;
    signer.update(&signed_attributes)?;
    let signature = signer.sign_to_vec()?;
    let certificate = cert.to_der()?;
    let signer = Signer {
        certificate: &certificate,
        digest_algorithm: digest.oid(),
        signature_algorithm: RSA_ENCRYPTION,
        signed_attributes: &signed_attributes,
        signature: &signature,
    };
    let certificates = der_of(certificates)?;
    Ok(cms::signed_data(content, &signer, &slices(&certificates))?)
}

/// A degenerate certs-only SignedData (GetCACert's CA+RA answer, a CertRep's payload).
pub fn certs_only(certificates: &[&X509]) -> Result<Vec<u8>, ScepError> {
    let certificates = der_of(certificates)?;
    Ok(cms::certs_only(&slices(&certificates))?)
}

/// The certificates of a certs-only SignedData, in message order.
pub fn certificates_of(message: &[u8]) -> Result<Vec<X509>, ScepError> {
    let signed = signed_data(message)?;
    if signed.certificates.is_empty() {
        return Err(ScepError::Malformed("no certificates".into()));
    }
    signed
        .certificates
        .iter()
        .map(|c| X509::from_der(c).map_err(|e| ScepError::Malformed(e.to_string())))
        .collect()
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
    let sender_nonce = nonce()?;
    let mut attributes = vec![
        (
            ID_MESSAGE_TYPE,
            AttributeValue::Text(MessageType::CertRep.code()),
        ),
        (
            ID_TRANSACTION_ID,
            AttributeValue::Der(&request.transaction_id_der),
        ),
        (ID_SENDER_NONCE, AttributeValue::Octets(&sender_nonce)),
        (
            ID_RECIPIENT_NONCE,
            AttributeValue::Octets(&request.sender_nonce),
        ),
    ];
    let content = match status {
        PkiStatus::Success => {
            attributes.push((ID_PKI_STATUS, AttributeValue::Text("0")));
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
            attributes.push((ID_PKI_STATUS, AttributeValue::Text("2")));
            attributes.push((ID_FAIL_INFO, AttributeValue::Text(info.code())));
            Vec::new()
        }
        PkiStatus::Pending => {
            attributes.push((ID_PKI_STATUS, AttributeValue::Text("3")));
            Vec::new()
        }
    };
    signed_data_of(
        &content,
        ra_cert,
        ra_key,
        request.digest,
        &attributes,
        &[ra_cert],
    )
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
    let verified = verified(message)?;
    let text = |kind: ObjectIdentifier, what: &str| -> Result<String, ScepError> {
        text_value(
            &verified
                .get(kind)
                .ok_or_else(|| ScepError::Malformed(format!("no {what}")))?,
            what,
        )
    };
    if text(ID_MESSAGE_TYPE, "messageType")? != "3" {
        return Err(ScepError::Malformed("not a CertRep".into()));
    }
    Ok(CertRepView {
        status: text(ID_PKI_STATUS, "pkiStatus")?,
        fail_info: verified
            .get(ID_FAIL_INFO)
            .map(|v| text_value(&v, "failInfo"))
            .transpose()?,
        transaction_id: text(ID_TRANSACTION_ID, "transactionID")?,
        recipient_nonce: verified
            .get(ID_RECIPIENT_NONCE)
            .and_then(|v| v.octets())
            .unwrap_or_default()
            .to_vec(),
        envelope: verified.content.unwrap_or_default().to_vec(),
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
        let sender_nonce = nonce()?;
        let attributes = [
            (
                ID_MESSAGE_TYPE,
                AttributeValue::Text(self.message_type.code()),
            ),
            (ID_TRANSACTION_ID, AttributeValue::Text(self.transaction_id)),
            (ID_SENDER_NONCE, AttributeValue::Octets(&sender_nonce)),
        ];
        signed_data_of(
            &envelope,
            self.signer,
            self.signer_key,
            self.digest,
            &attributes,
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

    /// How a mangled request ended.
    enum Tampered {
        /// Refused while reading or verifying (bad DER, bad signature, unknown algorithm …).
        Refused,
        /// Read and verified, but its envelope did not open with the RA key.
        NotOpened,
        /// Read, verified and opened: what an endpoint would go on to issue from.
        Accepted(Box<PkiRequest>, Vec<u8>),
    }

    fn read_tampered(bytes: &[u8]) -> Tampered {
        let f = fixture();
        match PkiRequest::parse(bytes) {
            Err(_) => Tampered::Refused,
            Ok(request) => match request.open(&f.ra_key, &f.ra) {
                Err(_) => Tampered::NotOpened,
                Ok(csr) => Tampered::Accepted(Box::new(request), csr),
            },
        }
    }

    /// A changed request that still verifies and opens must be the device's own request byte
    /// for byte where it counts: the same message type, transaction, nonce, digest, envelope,
    /// CSR and signing key (the reply is enveloped to that key). A change to anything the
    /// signature covers is refused; only bytes outside it (the signer certificate's own
    /// signature, the unsigned algorithm lists) may change unnoticed, and then nothing an issuer
    /// acts on differs.
    fn assert_nothing_changed_that_counts(request: &PkiRequest, csr: &[u8]) -> Result<(), String> {
        let f = fixture();
        let original = PkiRequest::parse(&f.message).expect("the untouched fixture reads");
        let key = |r: &PkiRequest| r.signer.public_key().and_then(|k| k.public_key_to_der());
        let same = [
            (
                "message type",
                request.message_type == original.message_type,
            ),
            (
                "transaction id",
                request.transaction_id == original.transaction_id,
            ),
            (
                "transaction id DER",
                request.transaction_id_der == original.transaction_id_der,
            ),
            (
                "sender nonce",
                request.sender_nonce == original.sender_nonce,
            ),
            ("digest", request.digest == original.digest),
            ("envelope", request.envelope == original.envelope),
            ("CSR", csr == f.csr.as_slice()),
            ("signer key", key(request).ok() == key(&original).ok()),
        ];
        match same.iter().find(|(_, same)| !same) {
            Some((what, _)) => Err(format!(
                "a tampered request was accepted with another {what}"
            )),
            None => Ok(()),
        }
    }

    /// Where `part` sits in `whole` (test-side search, not the reader's own offsets).
    fn span_of(whole: &[u8], part: &[u8]) -> std::ops::Range<usize> {
        let at = whole
            .windows(part.len())
            .position(|w| w == part)
            .expect("part of the message");
        at..at + part.len()
    }

    /// Every byte of a real request flipped in turn (lowest bit): a flip in the encrypted
    /// envelope, the signed attributes or the signature is refused every time; a flip that is
    /// let through changed nothing an issuer acts on.
    #[test]
    fn every_single_byte_flip_is_refused_or_changes_nothing_that_counts() {
        let f = fixture();
        let original = PkiRequest::parse(&f.message).unwrap();
        let envelope = span_of(&f.message, &original.envelope);
        let (mut refused, mut let_through) = (0usize, Vec::new());
        for at in 0..f.message.len() {
            let mut bytes = f.message.clone();
            bytes[at] ^= 1;
            match read_tampered(&bytes) {
                Tampered::Refused | Tampered::NotOpened => refused += 1,
                Tampered::Accepted(request, csr) => {
                    if let Err(e) = assert_nothing_changed_that_counts(&request, &csr) {
                        panic!("byte {at}: {e}");
                    }
                    let_through.push(at);
                }
            }
        }
        // Every byte of the envelope, of the signed attributes' values (transaction id, nonce)
        // and of the signature (RSA-2048: the message's last 256 bytes) is covered.
        let covered = [
            ("envelope", envelope),
            ("transaction id", span_of(&f.message, b"tx-1")),
            ("sender nonce", span_of(&f.message, &original.sender_nonce)),
            ("signature", f.message.len() - 256..f.message.len()),
        ];
        for at in &let_through {
            for (what, span) in &covered {
                assert!(
                    !span.contains(at),
                    "byte {at} of the {what} {span:?} changed unnoticed"
                );
            }
        }
        assert_eq!(refused + let_through.len(), f.message.len());
        assert!(
            refused > f.message.len() * 3 / 4,
            "only {refused} of {} flips refused",
            f.message.len()
        );
    }

    proptest! {
        #![proptest_config(cases(3_000))]

        /// A real request with bytes changed, cut or inserted: refused, or (a change outside
        /// what the signature covers) read back as the very request the device sent; never a
        /// panic, never a different request that verifies.
        #[test]
        fn a_mangled_request_is_refused_or_is_the_request_unchanged(position in 0usize..4096, value in any::<u8>(), how in 0u8..3) {
            let f = fixture();
            let mut bytes = f.message.clone();
            let at = position % bytes.len();
            match how {
                0 => bytes[at] ^= value | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, value),
            }
            match read_tampered(&bytes) {
                Tampered::Refused | Tampered::NotOpened => {}
                Tampered::Accepted(request, csr) => {
                    prop_assert!(how == 0, "a cut or lengthened request was accepted ({how} at {at})");
                    if let Err(e) = assert_nothing_changed_that_counts(&request, &csr) {
                        prop_assert!(false, "{} (at {})", e, at);
                    }
                }
            }
        }
    }
}
