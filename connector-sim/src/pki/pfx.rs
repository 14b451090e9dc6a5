//! A PKCS job's secrets: the PFX (PKCS#12) and its random password, the password encrypted to
//! a device (RSA-OAEP or CMS EnvelopedData), and the imported-PFX password decryption.

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::encrypt::{Decrypter, Encrypter};
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKeyRef, Private, Public};
use openssl::rsa::Padding;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;

use super::CaError;

/// A random PFX password: 24 characters from a URL-safe alphabet.
pub fn random_password() -> Result<String, CaError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
    let mut bytes = [0u8; 24];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// A PKCS#12 (OpenSSL 3's modern default: PBES2 AES-256-CBC, HMAC-SHA256 MAC) holding the key,
/// its certificate and the issuing CA.
pub fn build_pfx(
    key: &PKeyRef<Private>,
    certificate: &X509,
    ca: &X509,
    password: &str,
) -> Result<Vec<u8>, CaError> {
    let mut chain = Stack::new()?;
    chain.push(ca.clone())?;
    let pfx = Pkcs12::builder()
        .name("intune-mock")
        .pkey(key)
        .cert(certificate)
        .ca(chain)
        .build2(password)?;
    Ok(pfx.to_der()?)
}

/// How a password was encrypted to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordEncryption {
    /// RSA-OAEP with SHA-256 (and MGF1-SHA-256) to an RSA device key.
    RsaOaepSha256,
    /// CMS EnvelopedData (AES-256-CBC) to the device certificate: any key type.
    CmsEnvelopedData,
}

impl PasswordEncryption {
    pub fn as_str(&self) -> &'static str {
        match self {
            PasswordEncryption::RsaOaepSha256 => "rsaOaepSha256",
            PasswordEncryption::CmsEnvelopedData => "cmsEnvelopedData",
        }
    }
}

/// Encrypts `secret` to the device key certificate: RSA-OAEP for an RSA key, CMS EnvelopedData
/// for any other.
pub fn encrypt_to_device(
    device: &X509,
    secret: &[u8],
) -> Result<(Vec<u8>, PasswordEncryption), CaError> {
    let public = device.public_key()?;
    if public.id() == Id::RSA {
        Ok((
            rsa_oaep_encrypt(&public, secret, MessageDigest::sha256())?,
            PasswordEncryption::RsaOaepSha256,
        ))
    } else {
        Ok((
            envelope(device, secret)?,
            PasswordEncryption::CmsEnvelopedData,
        ))
    }
}

/// CMS EnvelopedData (DER) of `content` to `recipient`, AES-256-CBC.
pub fn envelope(recipient: &X509, content: &[u8]) -> Result<Vec<u8>, CaError> {
    let mut recipients = Stack::new()?;
    recipients.push(recipient.clone())?;
    let cms = CmsContentInfo::encrypt(
        &recipients,
        content,
        Cipher::aes_256_cbc(),
        CMSOptions::BINARY,
    )?;
    Ok(cms.to_der()?)
}

/// Opens CMS EnvelopedData (DER) with the recipient's key.
pub fn open_envelope(
    der: &[u8],
    key: &PKeyRef<Private>,
    certificate: &X509,
) -> Result<Vec<u8>, CaError> {
    let cms = CmsContentInfo::from_der(der)?;
    Ok(cms.decrypt(key, certificate)?)
}

pub fn rsa_oaep_encrypt(
    key: &PKeyRef<Public>,
    secret: &[u8],
    digest: MessageDigest,
) -> Result<Vec<u8>, CaError> {
    let mut encrypter = Encrypter::new(key)?;
    encrypter.set_rsa_padding(Padding::PKCS1_OAEP)?;
    encrypter.set_rsa_oaep_md(digest)?;
    encrypter.set_rsa_mgf1_md(digest)?;
    let mut out = vec![0u8; encrypter.encrypt_len(secret)?];
    let n = encrypter.encrypt(secret, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Decrypts an imported-PFX password. `padding` is the `userPfxPaddingScheme` (`pkcs1`,
/// `oaepSha1`, `oaepSha256`, `oaepSha384`, `oaepSha512`; `none` means `oaepSha512`).
pub fn rsa_decrypt(
    key: &PKeyRef<Private>,
    encrypted: &[u8],
    padding: &str,
) -> Result<Vec<u8>, CaError> {
    let mut decrypter = Decrypter::new(key)?;
    let digest = match padding.to_ascii_lowercase().as_str() {
        "pkcs1" => None,
        "oaepsha1" => Some(MessageDigest::sha1()),
        "oaepsha256" => Some(MessageDigest::sha256()),
        "oaepsha384" => Some(MessageDigest::sha384()),
        "oaepsha512" | "none" | "" => Some(MessageDigest::sha512()),
        other => {
            return Err(CaError::Denied(format!(
                "padding scheme `{other}` is not known"
            )))
        }
    };
    match digest {
        None => decrypter.set_rsa_padding(Padding::PKCS1)?,
        Some(md) => {
            decrypter.set_rsa_padding(Padding::PKCS1_OAEP)?;
            decrypter.set_rsa_oaep_md(md)?;
            decrypter.set_rsa_mgf1_md(md)?;
        }
    }
    let mut out = vec![0u8; decrypter.decrypt_len(encrypted)?];
    let n = decrypter.decrypt(encrypted, &mut out)?;
    out.truncate(n);
    Ok(out)
}
