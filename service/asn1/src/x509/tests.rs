use proptest::prelude::*;

use super::*;
use crate::oid::{ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION};

/// A self-signed P-256 certificate made with `openssl req -x509` (serial 0x0123456789,
/// `CN=Fixture CA,O=intune-mock`), and its SubjectPublicKeyInfo.
const CERTIFICATE: &[u8] = include_bytes!("../../testdata/cert.der");
const SPKI: &[u8] = include_bytes!("../../testdata/spki.der");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn key_usage_bits_leave_off_trailing_zeros() {
    use KeyUsages::*;
    let ku = |usages: &[KeyUsages]| hex(&key_usage(usages).unwrap());
    assert_eq!(ku(&[DigitalSignature, KeyEncipherment]), "030205A0");
    assert_eq!(ku(&[DigitalSignature, KeyAgreement]), "03020388");
    assert_eq!(ku(&[KeyEncipherment]), "03020520");
    assert_eq!(ku(&[DigitalSignature, NonRepudiation]), "030206C0");
    assert_eq!(ku(&[]), "030100");
    assert_eq!(ku(&[DecipherOnly]), "0303070080");
}

/// The values below are the ones an issued certificate of the connector's fixed-output test
/// carries (taken from certificates the openssl crate's builders wrote).
#[test]
fn extension_values_are_the_der_rfc_5280_gives() {
    assert_eq!(hex(&end_entity_basic_constraints().unwrap()), "3000");
    assert_eq!(
        hex(&extended_key_usage(&[ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION]).unwrap()),
        "301406082B0601050507030206082B06010505070304"
    );
    let names = [
        AltName::Upn("adele@contoso.com".into()),
        AltName::Email("adele.vance@contoso.com".into()),
        AltName::Dns("device-0001.contoso.com".into()),
        AltName::Uri("urn:device:0001".into()),
    ];
    assert_eq!(
        hex(&subject_alt_names(&names).unwrap()),
        "3066A021060A2B060104018237140203A0130C116164656C6540636F6E746F736F2E636F6D81176164656C652E76616E636540636F6E746F736F2E636F6D82176465766963652D303030312E636F6E746F736F2E636F6D860F75726E3A6465766963653A30303031"
    );
    assert_eq!(
        hex(&sid_extension("S-1-5-21-1004336348-1177238915-682003330-512").unwrap()),
        "303EA03C060A2B060104018237190201A02E042C532D312D352D32312D313030343333363334382D313137373233383931352D3638323030333333302D353132"
    );
    let key_id = [0x07, 0xB2, 0xDA, 0x2D, 0xC9, 0x56, 0xAC, 0xBF, 0xCE, 0x74];
    assert_eq!(
        hex(&subject_key_identifier(&key_id).unwrap()),
        "040A07B2DA2DC956ACBFCE74"
    );
    assert_eq!(
        hex(&authority_key_identifier(&key_id).unwrap()),
        "300C800A07B2DA2DC956ACBFCE74"
    );
}

#[test]
fn names_read_back_and_other_kinds_are_named_not_written() {
    let names = vec![
        AltName::Dns("device-0001.contoso.com".into()),
        AltName::Upn("adèle@contoso.com".into()),
    ];
    assert_eq!(
        alt_names(&subject_alt_names(&names).unwrap()).unwrap(),
        names
    );
    assert_eq!(
        AltName::from_pair("upn", "a@b").unwrap().pair(),
        ("upn", "a@b")
    );
    assert_eq!(AltName::from_pair("ip", "10.0.0.1"), None);
    let not_ascii = subject_alt_names(&[AltName::Dns("dévice".into())]).unwrap_err();
    assert_eq!(
        not_ascii.to_string(),
        "malformed DER: DNS name `dévice` is not ASCII (an IA5String)"
    );
    assert!(subject_alt_names(&[AltName::Unsupported("iPAddress".into())]).is_err());
}

#[test]
fn a_upn_is_read_with_or_without_its_explicit_tag() {
    // [0] { UTF8String "a@b" }, as x509-parser hands an otherName's value out, and bare.
    assert_eq!(
        upn(&[0xA0, 0x05, 0x0C, 0x03, b'a', b'@', b'b']).unwrap(),
        "a@b"
    );
    assert_eq!(upn(&[0x0C, 0x03, b'a', b'@', b'b']).unwrap(), "a@b");
    // A PrintableString, a cut value, invalid UTF-8: errors.
    assert!(upn(&[0x13, 0x03, b'a', b'@', b'b']).is_err());
    assert_eq!(
        upn(&[0xA0, 0x05, 0x0C, 0x03, b'a'])
            .unwrap_err()
            .to_string(),
        "malformed DER at byte 2: length runs past the end of the input"
    );
    assert!(upn(&[0x0C, 0x02, 0xC3, 0x28]).is_err());
}

#[test]
fn a_certificate_names_its_issuer_and_serial_and_a_key_its_bits() {
    let (issuer, serial) = issuer_and_serial(CERTIFICATE).unwrap();
    // As `openssl asn1parse` shows them (bytes 32–76 and 13–19 of the certificate).
    assert_eq!(
        hex(issuer),
        "302B3113301106035504030C0A4669787475726520434131143012060355040A0C0B696E74756E652D6D6F636B"
    );
    assert_eq!(hex(serial), "02050123456789");
    let bits = subject_public_key(SPKI).unwrap();
    assert_eq!(bits.len(), 65);
    assert_eq!(hex(&bits[..10]), "04537FA1CDD5773E6878");
    assert!(issuer_and_serial(&CERTIFICATE[..100]).is_err());
    assert!(subject_public_key(&SPKI[1..]).is_err());
}

proptest! {
    /// Arbitrary bytes through every reader: a value or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic_a_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = upn(&bytes);
        let _ = alt_names(&bytes);
        let _ = issuer_and_serial(&bytes);
        let _ = subject_public_key(&bytes);
    }

    /// The fixture certificate with a byte changed, cut or inserted.
    #[test]
    fn a_mangled_certificate_never_panics(position in 0usize..416, value in any::<u8>(), how in 0u8..3) {
        let mut bytes = CERTIFICATE.to_vec();
        match how {
            0 => bytes[position] ^= value | 1,
            1 => bytes.truncate(position),
            _ => bytes.insert(position, value),
        }
        let _ = issuer_and_serial(&bytes);
    }
}
