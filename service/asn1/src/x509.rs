//! X.509 pieces (RFC 5280): the extension values a CA writes into a certificate, the subject
//! alternative names it reads from a request, a certificate's issuer and serial number, and the
//! bits of a public key.

use der::asn1::{Any, Ia5String, ObjectIdentifier, OctetString, Utf8StringRef};
use der::flagset::FlagSet;
use der::{Decode, Encode, Reader, Tag};
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::spki::SubjectPublicKeyInfoRef;

pub use x509_cert::ext::pkix::KeyUsages;

use crate::oid::{MS_NTDS_OBJECTSID, MS_UPN};
use crate::read::{context, element, elements, nested, next_is, parse, skip_if, Result};
use crate::DerError;

/// A subject alternative name of the kinds Intune profiles use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    Dns(String),
    Email(String),
    Uri(String),
    /// A user principal name (Microsoft's otherName holding a UTF8String).
    Upn(String),
    /// Any other kind of name, described (it cannot be written).
    Unsupported(String),
}

impl AltName {
    /// From the `(type, value)` pairs of a request: `dns`, `email`, `uri` or `upn`.
    pub fn from_pair(kind: &str, value: &str) -> Option<AltName> {
        let value = value.to_owned();
        Some(match kind {
            "dns" => AltName::Dns(value),
            "email" => AltName::Email(value),
            "uri" => AltName::Uri(value),
            "upn" => AltName::Upn(value),
            _ => return None,
        })
    }

    /// The `(type, value)` pair (`other` for an unsupported name).
    pub fn pair(&self) -> (&'static str, &str) {
        match self {
            AltName::Dns(v) => ("dns", v),
            AltName::Email(v) => ("email", v),
            AltName::Uri(v) => ("uri", v),
            AltName::Upn(v) => ("upn", v),
            AltName::Unsupported(v) => ("other", v),
        }
    }

    fn general_name(&self) -> Result<GeneralName> {
        let ia5 = |text: &str, what: &str| {
            Ia5String::new(text).map_err(|_| {
                DerError::new(None, format!("{what} `{text}` is not ASCII (an IA5String)"))
            })
        };
        Ok(match self {
            AltName::Dns(v) => GeneralName::DnsName(ia5(v, "DNS name")?),
            AltName::Email(v) => GeneralName::Rfc822Name(ia5(v, "email address")?),
            AltName::Uri(v) => GeneralName::UniformResourceIdentifier(ia5(v, "URI")?),
            AltName::Upn(v) => GeneralName::OtherName(OtherName {
                type_id: MS_UPN,
                value: Any::encode_from(&Utf8StringRef::new(v.as_str())?)?,
            }),
            AltName::Unsupported(v) => {
                return Err(DerError::new(
                    None,
                    format!("subject alternative name {v} cannot be written"),
                ))
            }
        })
    }

    fn read(name: &GeneralName) -> AltName {
        match name {
            GeneralName::DnsName(v) => AltName::Dns(v.to_string()),
            GeneralName::Rfc822Name(v) => AltName::Email(v.to_string()),
            GeneralName::UniformResourceIdentifier(v) => AltName::Uri(v.to_string()),
            GeneralName::OtherName(other) if other.type_id == MS_UPN => {
                match other.value.decode_as::<Utf8StringRef<'_>>() {
                    Ok(upn) => AltName::Upn(upn.as_str().to_owned()),
                    Err(_) => AltName::Unsupported("UPN that is not a UTF8String".into()),
                }
            }
            GeneralName::OtherName(other) => {
                AltName::Unsupported(format!("otherName {}", other.type_id))
            }
            GeneralName::DirectoryName(_) => AltName::Unsupported("directoryName".into()),
            GeneralName::EdiPartyName(_) => AltName::Unsupported("ediPartyName".into()),
            GeneralName::IpAddress(_) => AltName::Unsupported("iPAddress".into()),
            GeneralName::RegisteredId(oid) => AltName::Unsupported(format!("registeredID {oid}")),
        }
    }
}

/// The SubjectAltName extension's value (GeneralNames) for `names`.
pub fn subject_alt_names(names: &[AltName]) -> Result<Vec<u8>> {
    let names = names
        .iter()
        .map(AltName::general_name)
        .collect::<Result<Vec<_>>>()?;
    Ok(SubjectAltName(names).to_der()?)
}

/// The names in a SubjectAltName extension's value.
pub fn alt_names(value: &[u8]) -> Result<Vec<AltName>> {
    Ok(SubjectAltName::from_der(value)?
        .0
        .iter()
        .map(AltName::read)
        .collect())
}

/// The UPN in a UPN otherName's value: `[0] EXPLICIT UTF8String` as it stands in the otherName
/// (what x509-parser hands out), or the bare UTF8String.
pub fn upn(value: &[u8]) -> Result<String> {
    let utf8 = |r: &mut der::SliceReader<'_>| -> Result<String> {
        Ok(r.decode::<Utf8StringRef<'_>>()?.as_str().to_owned())
    };
    parse(value, 0, |r| {
        if next_is(r, context(0)) {
            nested(r, context(0), utf8)
        } else {
            utf8(r)
        }
    })
}

/// The BasicConstraints value of an end-entity certificate (not a CA: `SEQUENCE {}`).
pub fn end_entity_basic_constraints() -> Result<Vec<u8>> {
    Ok(BasicConstraints {
        ca: false,
        path_len_constraint: None,
    }
    .to_der()?)
}

/// The KeyUsage value: a BIT STRING without trailing zero bits, as DER wants.
pub fn key_usage(usages: &[KeyUsages]) -> Result<Vec<u8>> {
    let flags = usages
        .iter()
        .fold(FlagSet::<KeyUsages>::default(), |all, usage| all | *usage);
    Ok(KeyUsage(flags).to_der()?)
}

/// The ExtKeyUsageSyntax value.
pub fn extended_key_usage(usages: &[ObjectIdentifier]) -> Result<Vec<u8>> {
    Ok(ExtendedKeyUsage(usages.to_vec()).to_der()?)
}

/// The SubjectKeyIdentifier value holding `key_id`.
pub fn subject_key_identifier(key_id: &[u8]) -> Result<Vec<u8>> {
    Ok(SubjectKeyIdentifier(OctetString::new(key_id)?).to_der()?)
}

/// The AuthorityKeyIdentifier value naming the issuer's key by `key_id` only (what OpenSSL
/// writes for `keyid`).
pub fn authority_key_identifier(key_id: &[u8]) -> Result<Vec<u8>> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    }
    .to_der()?)
}

/// The KB5014754 SID extension value: GeneralNames holding one otherName
/// (`szOID_NTDS_OBJECTSID`) whose value is the SID's text as an OCTET STRING.
pub fn sid_extension(sid: &str) -> Result<Vec<u8>> {
    let name = GeneralName::OtherName(OtherName {
        type_id: MS_NTDS_OBJECTSID,
        value: Any::encode_from(&OctetString::new(sid.as_bytes())?)?,
    });
    Ok(SubjectAltName(vec![name]).to_der()?)
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo (what RFC 5280 §4.2.1.2's key identifier
/// method 1 hashes).
pub fn subject_public_key(spki: &[u8]) -> Result<Vec<u8>> {
    let info = SubjectPublicKeyInfoRef::from_der(spki)?;
    Ok(info.subject_public_key.raw_bytes().to_vec())
}

/// A certificate's issuer Name and serial number INTEGER, each as its whole encoding (what a
/// CMS IssuerAndSerialNumber holds).
pub fn issuer_and_serial(certificate: &[u8]) -> Result<(&[u8], &[u8])> {
    parse(certificate, 0, |r| {
        nested(r, Tag::Sequence, |r| {
            let found = nested(r, Tag::Sequence, |r| {
                skip_if(r, context(0))?; // version
                let serial = element(r, Tag::Integer)?;
                element(r, Tag::Sequence)?; // signature algorithm
                let issuer = element(r, Tag::Sequence)?;
                elements(r)?;
                Ok((issuer, serial))
            })?;
            elements(r)?;
            Ok(found)
        })
    })
}

#[cfg(test)]
mod tests;
