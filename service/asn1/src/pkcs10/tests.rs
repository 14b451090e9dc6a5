use der::asn1::BitString;
use proptest::prelude::*;

use super::*;

/// A P-256 request made with `openssl req -new` for `CN=device-0001,O=Contoso` asking for a DNS
/// name, a UPN, an email address and an IP address, and digitalSignature.
const REQUEST: &[u8] = include_bytes!("../../testdata/request.der");

#[test]
fn a_request_names_the_alternative_names_it_asks_for() {
    assert_eq!(
        requested_alt_names(REQUEST).unwrap(),
        vec![
            AltName::Dns("device-0001.contoso.com".into()),
            AltName::Upn("user0001@contoso.com".into()),
            AltName::Email("user0001@contoso.com".into()),
            AltName::Unsupported("iPAddress".into()),
        ]
    );
}

#[test]
fn the_challenge_is_added_to_the_request_info_and_the_request_reassembles() {
    let info = info_with_challenge(REQUEST, "s3cret").unwrap();
    let needle = [0x0C, 0x06, b's', b'3', b'c', b'r', b'e', b't'];
    assert!(info.windows(needle.len()).any(|w| w == needle));
    let signature = [0xAB; 70];
    let request = signed_request(&info, SignatureAlgorithm::EcdsaSha256, &signature).unwrap();
    let parsed = CertReq::from_der(&request).unwrap();
    assert_eq!(parsed.info.to_der().unwrap(), info);
    assert_eq!(parsed.algorithm.oid, ECDSA_WITH_SHA_256);
    assert_eq!(parsed.algorithm.parameters, None);
    assert_eq!(parsed.signature, BitString::from_bytes(&signature).unwrap());
    let kinds: Vec<_> = parsed.info.attributes.iter().map(|a| a.oid).collect();
    assert_eq!(
        kinds,
        [PKCS_9_AT_CHALLENGE_PASSWORD, PKCS_9_AT_EXTENSION_REQUEST]
    );
    // The requested names survive.
    assert_eq!(requested_alt_names(&request).unwrap().len(), 4);
    let rsa = signed_request(&info, SignatureAlgorithm::RsaSha256, &signature).unwrap();
    let rsa = CertReq::from_der(&rsa).unwrap();
    assert_eq!(rsa.algorithm.oid, SHA_256_WITH_RSA_ENCRYPTION);
    assert!(rsa.algorithm.parameters.is_some_and(|p| p.is_null()));
}

proptest! {
    /// Arbitrary bytes and mangled requests: a value or an error, never a panic.
    #[test]
    fn bad_requests_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400),
                                position in 0usize..368, value in any::<u8>(), how in 0u8..3) {
        let _ = requested_alt_names(&bytes);
        let _ = info_with_challenge(&bytes, "x");
        let _ = signed_request(&bytes, SignatureAlgorithm::RsaSha256, &[1]);
        let mut mangled = REQUEST.to_vec();
        match how {
            0 => mangled[position] ^= value | 1,
            1 => mangled.truncate(position),
            _ => mangled.insert(position, value),
        }
        let _ = requested_alt_names(&mangled);
        let _ = info_with_challenge(&mangled, "x");
    }
}
