//! SCEP's CMS (RFC 8894 §3, on RFC 5652): reading a pkiMessage's SignedData — its content, its
//! certificates, its signer and signed attributes — and an EnvelopedData's content cipher;
//! writing a SignedData with signed attributes and a degenerate certs-only one.
//!
//! Readers keep what a signature covers as it was sent: the signed attributes are handed out in
//! message order with their own encodings, and [`SignedAttributes::signed_der`] is the bytes
//! that were signed, whatever order a client put them in.

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, PrintableStringRef, SetOfVec};
use der::{Decode, Encode, Header, Length, Reader, Sequence, SliceReader, Tag, Tagged, ValueOrd};
use x509_cert::spki::AlgorithmIdentifierRef;

use crate::oid::{ID_DATA, ID_SIGNED_DATA};
use crate::read::{contents, context, element, elements, nested, next_is, parse, skip_if, Result};

/// A ContentInfo: its content type and its content (the `[0] EXPLICIT` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentInfo<'a> {
    pub content_type: ObjectIdentifier,
    content: &'a [u8],
    /// Where `content` starts in the message.
    offset: usize,
}

impl<'a> ContentInfo<'a> {
    /// Reads a whole message as one ContentInfo.
    pub fn read(message: &'a [u8]) -> Result<ContentInfo<'a>> {
        parse(message, 0, |r| {
            nested(r, Tag::Sequence, |r| {
                let content_type = r.decode()?;
                let (content, offset) = nested(r, context(0), |r| {
                    let at = usize::try_from(r.position())?;
                    Ok((r.tlv_bytes()?, at))
                })?;
                Ok(ContentInfo {
                    content_type,
                    content,
                    offset,
                })
            })
        })
    }

    /// The content as a SignedData.
    pub fn signed_data(&self) -> Result<SignedData<'a>> {
        parse(self.content, self.offset, SignedData::read)
    }

    /// The content-encryption algorithm of the content as an EnvelopedData (RFC 5652 §6.1; the
    /// PKCS#7 one of RFC 2315 has the same fields up to it).
    pub fn enveloped_data_cipher(&self) -> Result<ObjectIdentifier> {
        parse(self.content, self.offset, |r| {
            nested(r, Tag::Sequence, |r| {
                element(r, Tag::Integer)?;
                skip_if(r, context(0))?; // originatorInfo
                element(r, Tag::Set)?; // recipientInfos
                let algorithm = nested(r, Tag::Sequence, |r| {
                    let _content_type: ObjectIdentifier = r.decode()?;
                    let algorithm: AlgorithmIdentifierRef<'_> = r.decode()?;
                    elements(r)?; // encryptedContent, in whatever form
                    Ok(algorithm.oid)
                })?;
                elements(r)?; // unprotectedAttrs
                Ok(algorithm)
            })
        })
    }
}

/// The parts of a SignedData that SCEP reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedData<'a> {
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// The eContent octets, if the message has any.
    pub content: Option<&'a [u8]>,
    /// Each certificate's DER, in message order.
    pub certificates: Vec<&'a [u8]>,
    pub signers: Vec<SignerInfo<'a>>,
}

impl<'a> SignedData<'a> {
    fn read(r: &mut SliceReader<'a>) -> Result<SignedData<'a>> {
        nested(r, Tag::Sequence, |r| {
            element(r, Tag::Integer)?; // version
            element(r, Tag::Set)?; // digestAlgorithms
            let (content_type, content) = nested(r, Tag::Sequence, |r| {
                let content_type = r.decode()?;
                let content = if r.is_finished() {
                    None
                } else {
                    Some(nested(r, context(0), |r| {
                        Ok(r.decode::<&OctetStringRef>()?.as_bytes())
                    })?)
                };
                Ok((content_type, content))
            })?;
            let certificates = if next_is(r, context(0)) {
                nested(r, context(0), elements)?
            } else {
                Vec::new()
            };
            skip_if(r, context(1))?; // crls
            let signers = nested(r, Tag::Set, |r| {
                let mut signers = Vec::new();
                while !r.is_finished() {
                    signers.push(SignerInfo::read(r)?);
                }
                Ok(signers)
            })?;
            Ok(SignedData {
                content_type,
                content,
                certificates,
                signers,
            })
        })
    }
}

/// A SignerInfo that names its signer by issuer and serial number (as SCEP's do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo<'a> {
    /// The issuer Name's encoding.
    pub issuer: &'a [u8],
    /// The serial number INTEGER's encoding.
    pub serial: &'a [u8],
    pub digest_algorithm: ObjectIdentifier,
    pub signed_attributes: Option<SignedAttributes<'a>>,
    pub signature: &'a [u8],
}

impl<'a> SignerInfo<'a> {
    fn read(r: &mut SliceReader<'a>) -> Result<SignerInfo<'a>> {
        nested(r, Tag::Sequence, |r| {
            element(r, Tag::Integer)?; // version
            let (issuer, serial) = nested(r, Tag::Sequence, |r| {
                Ok((element(r, Tag::Sequence)?, element(r, Tag::Integer)?))
            })?;
            let digest: AlgorithmIdentifierRef<'_> = r.decode()?;
            let signed_attributes = if next_is(r, context(0)) {
                Some(SignedAttributes::read(r)?)
            } else {
                None
            };
            let _signature_algorithm: AlgorithmIdentifierRef<'_> = r.decode()?;
            let signature = r.decode::<&OctetStringRef>()?.as_bytes();
            skip_if(r, context(1))?; // unsignedAttrs
            Ok(SignerInfo {
                issuer,
                serial,
                digest_algorithm: digest.oid,
                signed_attributes,
                signature,
            })
        })
    }
}

/// The `[0] IMPLICIT SET OF Attribute` of a SignerInfo, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttributes<'a> {
    /// In message order.
    pub attributes: Vec<Attribute<'a>>,
    contents: &'a [u8],
}

impl<'a> SignedAttributes<'a> {
    fn read(r: &mut SliceReader<'a>) -> Result<SignedAttributes<'a>> {
        let (contents, at) = contents(r, context(0))?;
        let attributes = parse(contents, at, |r| {
            let mut attributes = Vec::new();
            while !r.is_finished() {
                attributes.push(nested(r, Tag::Sequence, |r| {
                    let kind = r.decode()?;
                    let values = nested(r, Tag::Set, |r| {
                        elements(r)?.into_iter().map(Value::new).collect()
                    })?;
                    Ok(Attribute { kind, values })
                })?);
            }
            Ok(attributes)
        })?;
        Ok(SignedAttributes {
            attributes,
            contents,
        })
    }

    /// What the signature covers: the attributes as a DER SET (RFC 5652 §5.4), byte for byte as
    /// they were sent.
    pub fn signed_der(&self) -> Result<Vec<u8>> {
        let mut out = Header::new(Tag::Set, Length::try_from(self.contents.len())?).to_der()?;
        out.extend_from_slice(self.contents);
        Ok(out)
    }
}

/// One attribute: its type and its values, in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub kind: ObjectIdentifier,
    pub values: Vec<Value<'a>>,
}

/// One attribute value as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    any: AnyRef<'a>,
    der: &'a [u8],
}

impl<'a> Value<'a> {
    fn new(der: &'a [u8]) -> Result<Value<'a>> {
        Ok(Value {
            any: AnyRef::from_der(der)?,
            der,
        })
    }

    /// The value's whole encoding.
    pub fn der(&self) -> &'a [u8] {
        self.der
    }

    /// The text of a PrintableString, UTF8String or IA5String (its bytes as UTF-8: SCEP peers
    /// put other characters in a PrintableString too).
    pub fn text(&self) -> Option<&'a str> {
        match self.any.tag() {
            Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
                std::str::from_utf8(self.any.value()).ok()
            }
            _ => None,
        }
    }

    /// The octets of an OCTET STRING.
    pub fn octets(&self) -> Option<&'a [u8]> {
        (self.any.tag() == Tag::OctetString).then(|| self.any.value())
    }

    /// The OBJECT IDENTIFIER.
    pub fn oid(&self) -> Option<ObjectIdentifier> {
        self.any.decode_as().ok()
    }
}

/// A signed attribute's value, to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// A PrintableString (SCEP's messageType, pkiStatus, failInfo, transactionID), or a
    /// UTF8String when the text holds characters a PrintableString cannot.
    Text(&'a str),
    /// An OCTET STRING (nonces, messageDigest).
    Octets(&'a [u8]),
    Oid(ObjectIdentifier),
    /// A value's whole encoding, as read (an echoed transactionID).
    Der(&'a [u8]),
}

#[derive(Sequence, ValueOrd)]
struct AttributeOut<'a> {
    kind: ObjectIdentifier,
    values: SetOfVec<AnyRef<'a>>,
}

/// The signed attributes `attributes` as a DER SET OF (sorted by encoding, X.690 §11.6, as
/// verifiers re-encode them): the bytes to sign, and what [`Signer::signed_attributes`] takes.
pub fn signed_attributes(attributes: &[(ObjectIdentifier, AttributeValue<'_>)]) -> Result<Vec<u8>> {
    let mut set = SetOfVec::new();
    for (kind, value) in attributes {
        let any = match value {
            AttributeValue::Text(text) => match PrintableStringRef::new(text) {
                Ok(_) => AnyRef::new(Tag::PrintableString, text.as_bytes())?,
                Err(_) => AnyRef::new(Tag::Utf8String, text.as_bytes())?,
            },
            AttributeValue::Octets(octets) => AnyRef::new(Tag::OctetString, octets)?,
            AttributeValue::Oid(oid) => AnyRef::new(Tag::ObjectIdentifier, oid.as_bytes())?,
            AttributeValue::Der(der) => AnyRef::from_der(der)?,
        };
        set.insert(AttributeOut {
            kind: *kind,
            values: SetOfVec::try_from(vec![any])?,
        })?;
    }
    Ok(set.to_der()?)
}

/// Who signs a SignedData, and the signature over its signed attributes.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The signer's certificate (its issuer and serial name it).
    pub certificate: &'a [u8],
    pub digest_algorithm: ObjectIdentifier,
    pub signature_algorithm: ObjectIdentifier,
    /// From [`signed_attributes`].
    pub signed_attributes: &'a [u8],
    pub signature: &'a [u8],
}

#[derive(Sequence)]
struct ContentInfoOut<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedDataOut<'a>,
}

#[derive(Sequence)]
struct SignedDataOut<'a> {
    version: u8,
    digest_algorithms: SetOfVec<AlgorithmIdentifierRef<'a>>,
    encapsulated: EncapsulatedOut<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    certificates: Vec<AnyRef<'a>>,
    signer_infos: SetOfVec<AnyRef<'a>>,
}

#[derive(Sequence)]
struct EncapsulatedOut<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<AnyRef<'a>>,
}

#[derive(Sequence)]
struct IssuerAndSerialOut<'a> {
    issuer: AnyRef<'a>,
    serial: AnyRef<'a>,
}

#[derive(Sequence)]
struct SignerInfoOut<'a> {
    version: u8,
    signer: IssuerAndSerialOut<'a>,
    digest_algorithm: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    signed_attributes: SetOfVec<AnyRef<'a>>,
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    signature: AnyRef<'a>,
}

/// An AlgorithmIdentifier with NULL parameters, as SCEP peers write digest and RSA algorithms.
fn with_null(oid: ObjectIdentifier) -> AlgorithmIdentifierRef<'static> {
    AlgorithmIdentifierRef {
        oid,
        parameters: Some(AnyRef::NULL),
    }
}

fn any_of<'a>(certificates: &[&'a [u8]]) -> Result<Vec<AnyRef<'a>>> {
    certificates
        .iter()
        .map(|c| Ok(AnyRef::from_der(c)?))
        .collect()
}

fn content_info(signed: SignedDataOut<'_>) -> Result<Vec<u8>> {
    Ok(ContentInfoOut {
        content_type: ID_SIGNED_DATA,
        content: signed,
    }
    .to_der()?)
}

/// A SignedData (version 1) of `content` (as id-data), signed by `signer`, carrying
/// `certificates` in the order given.
pub fn signed_data(content: &[u8], signer: &Signer<'_>, certificates: &[&[u8]]) -> Result<Vec<u8>> {
    let (issuer, serial) = crate::x509::issuer_and_serial(signer.certificate)?;
    let signer_info = SignerInfoOut {
        version: 1,
        signer: IssuerAndSerialOut {
            issuer: AnyRef::from_der(issuer)?,
            serial: AnyRef::from_der(serial)?,
        },
        digest_algorithm: with_null(signer.digest_algorithm),
        signed_attributes: SetOfVec::from_der(signer.signed_attributes)?,
        signature_algorithm: with_null(signer.signature_algorithm),
        signature: AnyRef::new(Tag::OctetString, signer.signature)?,
    }
    .to_der()?;
    content_info(SignedDataOut {
        version: 1,
        digest_algorithms: SetOfVec::try_from(vec![with_null(signer.digest_algorithm)])?,
        encapsulated: EncapsulatedOut {
            content_type: ID_DATA,
            content: Some(AnyRef::new(Tag::OctetString, content)?),
        },
        certificates: any_of(certificates)?,
        signer_infos: SetOfVec::try_from(vec![AnyRef::from_der(&signer_info)?])?,
    })
}

/// A degenerate certs-only SignedData (no content, no signer): GetCACert's answer and a
/// CertRep's payload. The certificates stay in the order given (the RA's first).
pub fn certs_only(certificates: &[&[u8]]) -> Result<Vec<u8>> {
    content_info(SignedDataOut {
        version: 1,
        digest_algorithms: SetOfVec::new(),
        encapsulated: EncapsulatedOut {
            content_type: ID_DATA,
            content: None,
        },
        certificates: any_of(certificates)?,
        signer_infos: SetOfVec::new(),
    })
}

#[cfg(test)]
mod tests;
