//! The project's one ASN.1/DER module: everything the simulated connector and the service read
//! or write as DER goes through here, on the RustCrypto `der`, `x509-cert` and `const-oid` crates.
//!
//! - [`cms`]: SCEP's CMS (RFC 8894 §3) — reading a SignedData (signer, signed attributes,
//!   certificates, content) and an EnvelopedData's cipher; writing a SignedData and a
//!   certs-only one.
//! - [`x509`]: the extension values a CA writes, the subject alternative names it reads, a
//!   certificate's issuer and serial, a public key's bits.
//! - [`pkcs10`]: a certificate request's challengePassword and requested names.
//! - [`oid`]: object identifiers by name (const-oid's database, and the few it lacks).
//!
//! Readers borrow from their input and never panic: any bytes give a value or a [`DerError`]
//! saying where (the byte offset in the outermost input, when known) and what. Writers produce
//! DER (definite, minimal lengths; SET OF sorted).

pub mod cms;
mod error;
pub mod oid;
pub mod pkcs10;
mod read;
pub mod x509;

pub use der;
pub use der::asn1::ObjectIdentifier;
pub use error::DerError;
pub use x509_cert;
