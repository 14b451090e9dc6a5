use proptest::prelude::*;

use super::*;
use crate::oid::{
    ID_CONTENT_TYPE, ID_ENVELOPED_DATA, ID_MESSAGE_TYPE, ID_SENDER_NONCE, ID_SHA_256,
    ID_TRANSACTION_ID, RSA_ENCRYPTION,
};

/// A self-signed P-256 certificate (serial 0x0123456789) made with `openssl req -x509`.
const CERTIFICATE: &[u8] = include_bytes!("../../testdata/cert.der");

fn attributes() -> Vec<u8> {
    signed_attributes(&[
        (ID_MESSAGE_TYPE, AttributeValue::Text("19")),
        (ID_TRANSACTION_ID, AttributeValue::Text("tx-1")),
        (ID_SENDER_NONCE, AttributeValue::Octets(&[7; 16])),
        (ID_CONTENT_TYPE, AttributeValue::Oid(ID_DATA)),
    ])
    .unwrap()
}

fn message(content: &[u8], attributes: &[u8]) -> Vec<u8> {
    let signer = Signer {
        certificate: CERTIFICATE,
        digest_algorithm: ID_SHA_256,
        signature_algorithm: RSA_ENCRYPTION,
        signed_attributes: attributes,
        signature: &[0x5A; 64],
    };
    signed_data(content, &signer, &[CERTIFICATE, CERTIFICATE]).unwrap()
}

#[test]
fn a_written_signed_data_reads_back_with_its_signer_and_attributes() {
    let attributes = attributes();
    let message = message(b"the envelope", &attributes);
    let info = ContentInfo::read(&message).unwrap();
    assert_eq!(info.content_type, ID_SIGNED_DATA);
    let signed = info.signed_data().unwrap();
    assert_eq!(signed.content_type, ID_DATA);
    assert_eq!(signed.content, Some(&b"the envelope"[..]));
    assert_eq!(signed.certificates, [CERTIFICATE, CERTIFICATE]);
    let [signer] = &signed.signers[..] else {
        panic!("one signer: {:?}", signed.signers)
    };
    let (issuer, serial) = crate::x509::issuer_and_serial(CERTIFICATE).unwrap();
    assert_eq!((signer.issuer, signer.serial), (issuer, serial));
    assert_eq!(signer.digest_algorithm, ID_SHA_256);
    assert_eq!(signer.signature, [0x5A; 64]);
    let signed_attributes = signer.signed_attributes.as_ref().unwrap();
    assert_eq!(signed_attributes.signed_der().unwrap(), attributes);
    let find = |kind| {
        signed_attributes
            .attributes
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.values[0])
            .unwrap()
    };
    assert_eq!(find(ID_MESSAGE_TYPE).text(), Some("19"));
    assert_eq!(find(ID_TRANSACTION_ID).der(), b"\x13\x04tx-1");
    assert_eq!(find(ID_SENDER_NONCE).octets(), Some(&[7u8; 16][..]));
    assert_eq!(find(ID_CONTENT_TYPE).oid(), Some(ID_DATA));
    assert_eq!(find(ID_CONTENT_TYPE).text(), None);
}

#[test]
fn text_a_printable_string_cannot_hold_is_written_as_utf8() {
    let attributes =
        signed_attributes(&[(ID_TRANSACTION_ID, AttributeValue::Text("device_0001@é"))]).unwrap();
    let message = message(b"x", &attributes);
    let signed = ContentInfo::read(&message).unwrap().signed_data().unwrap();
    let value = signed.signers[0]
        .signed_attributes
        .as_ref()
        .unwrap()
        .attributes[0]
        .values[0];
    assert_eq!(value.der()[0], 0x0C, "a UTF8String");
    assert_eq!(value.text(), Some("device_0001@é"));
}

#[test]
fn signed_attributes_are_sorted_by_their_encodings() {
    let attributes = attributes();
    let set = SetOfVec::<AnyRef<'_>>::from_der(&attributes).unwrap();
    let encodings: Vec<Vec<u8>> = set.iter().map(|a| a.to_der().unwrap()).collect();
    let mut sorted = encodings.clone();
    sorted.sort();
    assert_eq!(encodings, sorted);
    // The shortest (messageType "19") comes first: DER compares lengths before contents.
    assert_eq!(encodings[0].len(), 20);
}

#[test]
fn attributes_a_client_did_not_sort_are_read_in_its_order_and_verified_as_sent() {
    let one = signed_attributes(&[(ID_SENDER_NONCE, AttributeValue::Octets(&[1; 16]))]).unwrap();
    let two = signed_attributes(&[(ID_SHA_256, AttributeValue::Octets(&[2; 16]))]).unwrap();
    let both = signed_attributes(&[
        (ID_SENDER_NONCE, AttributeValue::Octets(&[1; 16])),
        (ID_SHA_256, AttributeValue::Octets(&[2; 16])),
    ])
    .unwrap();
    // Swap the two (equally long) attributes inside the written message.
    let (first, second) = (&one[2..], &two[2..]);
    let sorted = [&both[2..]].concat();
    let mut message = message(b"x", &both);
    let at = message
        .windows(sorted.len())
        .position(|w| w == sorted)
        .unwrap();
    let (swapped, order) = if sorted.starts_with(first) {
        ([second, first].concat(), [ID_SHA_256, ID_SENDER_NONCE])
    } else {
        ([first, second].concat(), [ID_SENDER_NONCE, ID_SHA_256])
    };
    message[at..at + swapped.len()].copy_from_slice(&swapped);
    let signed = ContentInfo::read(&message).unwrap().signed_data().unwrap();
    let attributes = signed.signers[0].signed_attributes.as_ref().unwrap();
    let kinds: Vec<_> = attributes.attributes.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, order);
    assert_eq!(attributes.signed_der().unwrap()[2..], swapped[..]);
    assert_ne!(attributes.signed_der().unwrap(), both);
}

#[test]
fn a_certs_only_message_keeps_the_certificates_in_order_and_has_no_signer() {
    // Any DER element stands in for a second certificate here: the order is what is checked.
    let second: &[u8] = include_bytes!("../../testdata/request.der");
    let only = certs_only(&[second, CERTIFICATE]).unwrap();
    let signed = ContentInfo::read(&only).unwrap().signed_data().unwrap();
    assert_eq!(signed.certificates, [second, CERTIFICATE]);
    assert_eq!(signed.content, None);
    assert!(signed.signers.is_empty());
}

#[test]
fn bad_input_is_an_error_at_its_offset_in_the_whole_message() {
    let message = message(b"content", &attributes());
    assert_eq!(
        ContentInfo::read(&[]).unwrap_err().to_string(),
        "malformed DER at byte 0: unexpected end of input"
    );
    assert_eq!(
        ContentInfo::read(&message[..message.len() - 1])
            .unwrap_err()
            .what,
        "length runs past the end of the input"
    );
    assert_eq!(
        ContentInfo::read(&[0x30, 0x80, 0x00, 0x00])
            .unwrap_err()
            .what,
        "indefinite length (BER) is not DER"
    );
    // The SignedData's version (at byte 23, after three 4-byte headers — ContentInfo, [0],
    // SignedData — and the 11-byte OID) turned into a BOOLEAN: the error names that byte.
    let mut wrong = message.clone();
    assert_eq!(wrong[23], 0x02);
    wrong[23] = 0x01;
    let info = ContentInfo::read(&wrong).unwrap();
    assert_eq!(info.signed_data().unwrap_err().offset, Some(23));
    // A SignedData is not an EnvelopedData.
    assert!(info.enveloped_data_cipher().is_err());
}

#[test]
fn an_enveloped_data_names_its_content_cipher() {
    // EnvelopedData { version 0, recipientInfos {}, encryptedContentInfo { data,
    // aes-256-cbc with an IV, [0] ciphertext } } in a ContentInfo.
    let algorithm = AlgorithmIdentifierRef {
        oid: crate::oid::ID_AES_256_CBC,
        parameters: Some(AnyRef::new(Tag::OctetString, &[9; 16]).unwrap()),
    }
    .to_der()
    .unwrap();
    let mut encrypted = ID_DATA.to_der().unwrap();
    encrypted.extend(algorithm);
    encrypted.extend([0x80, 0x02, 0xAA, 0xBB]);
    let mut enveloped = vec![0x02, 0x01, 0x00, 0x31, 0x00];
    enveloped.extend(
        Header::new(Tag::Sequence, Length::try_from(encrypted.len()).unwrap())
            .to_der()
            .unwrap(),
    );
    enveloped.extend(encrypted);
    let enveloped = AnyRef::new(Tag::Sequence, &enveloped).unwrap();
    #[derive(Sequence)]
    struct Info<'a> {
        kind: ObjectIdentifier,
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
        content: AnyRef<'a>,
    }
    let message = Info {
        kind: ID_ENVELOPED_DATA,
        content: enveloped,
    }
    .to_der()
    .unwrap();
    let info = ContentInfo::read(&message).unwrap();
    assert_eq!(info.content_type, ID_ENVELOPED_DATA);
    assert_eq!(
        info.enveloped_data_cipher().unwrap(),
        crate::oid::ID_AES_256_CBC
    );
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

fn read_all(bytes: &[u8]) {
    if let Ok(info) = ContentInfo::read(bytes) {
        if let Ok(signed) = info.signed_data() {
            for signer in &signed.signers {
                if let Some(attributes) = &signer.signed_attributes {
                    let _ = attributes.signed_der();
                    for value in attributes.attributes.iter().flat_map(|a| &a.values) {
                        let _ = (value.text(), value.octets(), value.oid());
                    }
                }
            }
        }
        let _ = info.enveloped_data_cipher();
    }
}

proptest! {
    #![proptest_config(cases(5_000))]

    /// Arbitrary bytes: a value or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic_a_reader(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        read_all(&bytes);
    }

    /// A written message with a byte changed, cut or inserted.
    #[test]
    fn a_mangled_message_never_panics(position in 0usize..4096, value in any::<u8>(), how in 0u8..3) {
        let mut bytes = message(b"content", &attributes());
        let at = position % bytes.len();
        match how {
            0 => bytes[at] ^= value | 1,
            1 => bytes.truncate(at),
            _ => bytes.insert(at, value),
        }
        read_all(&bytes);
    }

    /// Any printable and octet values write and read back, sorted.
    #[test]
    fn written_attributes_read_back(text in "[A-Za-z0-9 '()+,./:=?-]{1,300}", octets in prop::collection::vec(any::<u8>(), 0..300)) {
        let attributes = signed_attributes(&[
            (ID_TRANSACTION_ID, AttributeValue::Text(&text)),
            (ID_SENDER_NONCE, AttributeValue::Octets(&octets)),
        ]).unwrap();
        let message = message(b"x", &attributes);
        let signed = ContentInfo::read(&message).unwrap().signed_data().unwrap();
        let read = signed.signers[0].signed_attributes.as_ref().unwrap();
        prop_assert_eq!(read.signed_der().unwrap(), attributes);
        let value = |kind| read.attributes.iter().find(|a| a.kind == kind).unwrap().values[0];
        prop_assert_eq!(value(ID_TRANSACTION_ID).text(), Some(text.as_str()));
        prop_assert_eq!(value(ID_TRANSACTION_ID).der()[0], 0x13, "a PrintableString");
        prop_assert_eq!(value(ID_SENDER_NONCE).octets(), Some(&octets[..]));
    }
}
