//! The certificate work a connector does, with real crypto (the openssl crate): certification
//! authorities with templates ([`authority`]), key pairs ([`keys`]), certificate requests
//! ([`request`]), PKCS#12 and password encryption to a device key, the imported-PFX password
//! decryption (RSA-OAEP) and CMS EnvelopedData ([`pfx`]), and certificates and names
//! ([`certificate`]). The DER the openssl crate does not write is [`asn1`]'s.
//!
//! Time is passed in (`now`), so certificates and CRLs carry virtual dates.

mod authority;
mod certificate;
mod error;
mod keys;
mod pfx;
mod request;

pub use authority::{default_templates, CertificateAuthority, IssueRequest, Template};
pub use certificate::{
    hex_upper, normalize_serial, not_after, parse_certificate, parse_subject, self_signed,
    thumbprint,
};
pub use error::CaError;
pub use keys::{KeyAlgorithm, KeyPool};
pub use pfx::{
    build_pfx, encrypt_to_device, envelope, open_envelope, random_password, rsa_decrypt,
    rsa_oaep_encrypt, PasswordEncryption,
};
pub use request::{certificate_request, certificate_request_with_challenge};
