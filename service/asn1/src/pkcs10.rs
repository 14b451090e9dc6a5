//! PKCS#10 certificate requests (RFC 2986): adding the challengePassword attribute a SCEP client
//! sends, putting a signed request together, and reading the subject alternative names a
//! request asks for.

use der::asn1::{Any, AnyRef, BitStringRef, SetOfVec, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use x509_cert::attr::Attribute;
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::spki::AlgorithmIdentifierRef;

use crate::oid::{
    ECDSA_WITH_SHA_256, ID_CE_SUBJECT_ALT_NAME, PKCS_9_AT_CHALLENGE_PASSWORD,
    PKCS_9_AT_EXTENSION_REQUEST, SHA_256_WITH_RSA_ENCRYPTION,
};
use crate::read::Result;
use crate::x509::{alt_names, AltName};

/// How a request's info is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// sha256WithRSAEncryption (with NULL parameters).
    RsaSha256,
    /// ecdsa-with-SHA256 (no parameters).
    EcdsaSha256,
}

/// A CertificationRequest as read to add an attribute: the info's parts as they are.
#[derive(Sequence)]
struct CertReqRef<'a> {
    info: CertReqInfoRef<'a>,
    algorithm: AnyRef<'a>,
    signature: AnyRef<'a>,
}

#[derive(Sequence)]
struct CertReqInfoRef<'a> {
    version: u8,
    subject: AnyRef<'a>,
    public_key: AnyRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    attributes: SetOfVec<AnyRef<'a>>,
}

/// The CertificationRequestInfo of `request` (a DER PKCS#10) with a challengePassword
/// attribute (a UTF8String) added: the bytes to sign.
pub fn info_with_challenge(request: &[u8], challenge: &str) -> Result<Vec<u8>> {
    let mut request = CertReqRef::from_der(request)?;
    let challenge = Attribute {
        oid: PKCS_9_AT_CHALLENGE_PASSWORD,
        values: SetOfVec::try_from(vec![Any::encode_from(&Utf8StringRef::new(challenge)?)?])?,
    }
    .to_der()?;
    request
        .info
        .attributes
        .insert(AnyRef::from_der(&challenge)?)?;
    Ok(request.info.to_der()?)
}

#[derive(Sequence)]
struct CertReqOut<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// A CertificationRequest from its `info`, how it was signed and the signature.
pub fn signed_request(
    info: &[u8],
    algorithm: SignatureAlgorithm,
    signature: &[u8],
) -> Result<Vec<u8>> {
    let algorithm = match algorithm {
        SignatureAlgorithm::RsaSha256 => AlgorithmIdentifierRef {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        SignatureAlgorithm::EcdsaSha256 => AlgorithmIdentifierRef {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        },
    };
    Ok(CertReqOut {
        info: AnyRef::from_der(info)?,
        algorithm,
        signature: BitStringRef::from_bytes(signature)?,
    }
    .to_der()?)
}

/// The subject alternative names `request` (a DER PKCS#10) asks for in its extensionRequest.
pub fn requested_alt_names(request: &[u8]) -> Result<Vec<AltName>> {
    let request = CertReq::from_der(request)?;
    let mut names = Vec::new();
    for attribute in request.info.attributes.iter() {
        if attribute.oid != PKCS_9_AT_EXTENSION_REQUEST {
            continue;
        }
        for value in attribute.values.iter() {
            let extensions: ExtensionReq = value.decode_as()?;
            for extension in extensions.0 {
                if extension.extn_id == ID_CE_SUBJECT_ALT_NAME {
                    names.extend(alt_names(extension.extn_value.as_bytes())?);
                }
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests;
