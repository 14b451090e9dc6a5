//! Certificate requests (PKCS#10) a connector or a device makes for its key: plain, or with the
//! challengePassword and extensions a SCEP client sends.

use asn1::pkcs10::SignatureAlgorithm;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::sign::Signer;
use openssl::stack::Stack;
use openssl::x509::{X509Extension, X509Req, X509ReqBuilder};

use super::certificate::parse_subject;
use super::CaError;

/// A CSR for `key` (the connector makes the key pair and asks its CA).
pub fn certificate_request(key: &PKeyRef<Private>, subject: &str) -> Result<X509Req, CaError> {
    let mut builder = X509ReqBuilder::new()?;
    builder.set_version(0)?;
    builder.set_subject_name(&*parse_subject(subject)?)?;
    builder.set_pubkey(key)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// A CSR for `key` with `extensions` (an extensionRequest, as openssl writes it) and, when given,
/// a PKCS#9 challengePassword attribute, as a SCEP client sends it. The openssl crate writes no
/// other attributes, so the request info is written again with the challenge added
/// ([`asn1::pkcs10`]) and signed again with SHA-256.
pub fn certificate_request_with_challenge(
    key: &PKeyRef<Private>,
    subject: &str,
    challenge: Option<&str>,
    extensions: Vec<X509Extension>,
) -> Result<Vec<u8>, CaError> {
    let mut builder = X509ReqBuilder::new()?;
    builder.set_version(0)?;
    builder.set_subject_name(&*parse_subject(subject)?)?;
    builder.set_pubkey(key)?;
    if !extensions.is_empty() {
        let mut stack = Stack::new()?;
        for extension in extensions {
            stack.push(extension)?;
        }
        builder.add_extensions(&stack)?;
    }
    builder.sign(key, MessageDigest::sha256())?;
    let der = builder.build().to_der()?;
    let Some(challenge) = challenge else {
        return Ok(der);
    };
    let info = asn1::pkcs10::info_with_challenge(&der, challenge)?;
    let algorithm = match key.id() {
        Id::EC => SignatureAlgorithm::EcdsaSha256,
        _ => SignatureAlgorithm::RsaSha256,
    };
    let signature = Signer::new(MessageDigest::sha256(), key)?.sign_oneshot_to_vec(&info)?;
    Ok(asn1::pkcs10::signed_request(&info, algorithm, &signature)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{KeyAlgorithm, KeyPool};
    use openssl::nid::Nid;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::X509;

    #[test]
    fn a_challenge_csr_parses_verifies_and_carries_the_challenge() {
        for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
            let key = KeyPool::new().generate(algorithm).unwrap();
            let san = SubjectAlternativeName::new()
                .dns("device-0001.contoso.com")
                .build(&X509::builder().unwrap().x509v3_context(None, None))
                .unwrap();
            let der = certificate_request_with_challenge(
                &key,
                "CN=device-0001,O=Contoso",
                Some("s3cret"),
                vec![san],
            )
            .unwrap();
            let request = X509Req::from_der(&der).unwrap();
            assert!(request.verify(&key).unwrap(), "{algorithm:?}: signature");
            let subject = request
                .subject_name()
                .entries_by_nid(Nid::COMMONNAME)
                .next()
                .unwrap()
                .data()
                .to_string()
                .unwrap();
            assert_eq!(subject, "device-0001");
            let needle = [0x0C, 0x06, b's', b'3', b'c', b'r', b'e', b't'];
            assert!(der.windows(needle.len()).any(|w| w == needle));
            let extensions = request.extensions().unwrap();
            assert_eq!(extensions.len(), 1, "the extension request survives");
        }
    }
}
