//! RS256 JSON Web Tokens (RFC 7519, RFC 7515) signed and verified with OpenSSL, and the signing
//! key of a tenant: an RSA 2048 key with a self-signed certificate, whose SHA-1 thumbprint in
//! base64url is the key's `kid` and `x5t` as Entra ID names its keys, and its JWK (RFC 7517).
//!
//! Written here rather than with a JWT crate: the service already links OpenSSL for its PKI,
//! while the JWT crates bring a second crypto stack (ring or aws-lc-rs); a token is three
//! base64url parts and one PKCS#1 v1.5 signature over SHA-256.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use wire::token::{AccessTokenClaims, Jwk, JwtHeader};

/// Size of a tenant's signing key, as Entra ID's.
pub const RSA_BITS: u32 = 2048;
/// The only signature algorithm issued or accepted.
pub const ALGORITHM: &str = "RS256";
/// The longest token read; past it a token is refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The signing certificate's subject (Entra ID's is `CN=accounts.accesscontrol.windows.net`).
const SUBJECT: &str = "intune-mock token signing";
/// The signing certificate's validity: five years, as Entra ID's.
const VALIDITY_SECONDS: i64 = 5 * 365 * 86_400;

/// A signing key or its certificate could not be made or read (an OpenSSL error, or a stored
/// key whose certificate is not its own).
#[derive(Debug, thiserror::Error)]
#[error("token signing key: {0}")]
pub struct KeyError(String);

impl From<openssl::error::ErrorStack> for KeyError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        KeyError(e.to_string())
    }
}

/// `base64url(SHA-1(certificate DER))`, unpadded: Entra ID's `kid` and `x5t`.
fn thumbprint(certificate: &X509) -> Result<String, KeyError> {
    Ok(URL_SAFE_NO_PAD.encode(certificate.digest(MessageDigest::sha1())?))
}

/// A tenant's private signing key and its certificate.
pub struct SigningKey {
    kid: String,
    key: PKey<Private>,
    certificate: X509,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A new RSA key with a self-signed certificate valid from `now_unix` for five years.
    pub fn generate(now_unix: i64) -> Result<Self, KeyError> {
        let key = PKey::from_rsa(Rsa::generate(RSA_BITS)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", SUBJECT)?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        let (from, until) = (
            Asn1Time::from_unix(now_unix)?,
            Asn1Time::from_unix(now_unix + VALIDITY_SECONDS)?,
        );
        builder.set_not_before(&from)?;
        builder.set_not_after(&until)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Self::new(key, builder.build())
    }

    /// A stored key: PKCS#8 PEM and its certificate's PEM.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, KeyError> {
        let key = PKey::private_key_from_pem(private_key_pem.as_bytes())?;
        Self::new(key, X509::from_pem(certificate_pem.as_bytes())?)
    }

    fn new(key: PKey<Private>, certificate: X509) -> Result<Self, KeyError> {
        if key.rsa().is_err() || !certificate.public_key()?.public_eq(&key) {
            return Err(KeyError(
                "the certificate is not the RSA key's own".to_owned(),
            ));
        }
        Ok(SigningKey {
            kid: thumbprint(&certificate)?,
            key,
            certificate,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn private_key_pem(&self) -> Result<String, KeyError> {
        Ok(String::from_utf8_lossy(&self.key.private_key_to_pem_pkcs8()?).into_owned())
    }

    pub fn certificate_pem(&self) -> Result<String, KeyError> {
        Ok(String::from_utf8_lossy(&self.certificate.to_pem()?).into_owned())
    }

    /// `claims` as a compact JWS: `base64url(header).base64url(claims).base64url(signature)`.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, KeyError> {
        let header = JwtHeader {
            typ: Some("JWT".to_owned()),
            alg: ALGORITHM.to_owned(),
            x5t: Some(self.kid.clone()),
            kid: Some(self.kid.clone()),
        };
        let header = serde_json::to_vec(&header).map_err(|e| KeyError(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError(e.to_string()))?;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(input.as_bytes())?;
        let signature = signer.sign_to_vec()?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The public half of a signing key, read from its certificate: what verifies a token and what
/// the JWKS shows.
pub struct VerifyingKey {
    kid: String,
    key: PKey<Public>,
    certificate: X509,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl VerifyingKey {
    pub fn from_certificate_pem(certificate_pem: &str) -> Result<Self, KeyError> {
        let certificate = X509::from_pem(certificate_pem.as_bytes())?;
        let key = certificate.public_key()?;
        if key.rsa().is_err() {
            return Err(KeyError("the certificate's key is not RSA".to_owned()));
        }
        Ok(VerifyingKey {
            kid: thumbprint(&certificate)?,
            key,
            certificate,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether `token`'s signature is this key's over its first two parts.
    pub fn verifies(&self, token: &Unverified) -> bool {
        let check = || -> Result<bool, openssl::error::ErrorStack> {
            let mut verifier = Verifier::new(MessageDigest::sha256(), &self.key)?;
            verifier.update(token.signing_input.as_bytes())?;
            verifier.verify(&token.signature)
        };
        check().unwrap_or(false)
    }

    /// The key as Entra ID's JWKS lists it.
    pub fn jwk(&self) -> Result<Jwk, KeyError> {
        let rsa = self.key.rsa()?;
        Ok(Jwk {
            kty: "RSA".to_owned(),
            use_: "sig".to_owned(),
            kid: self.kid.clone(),
            x5t: self.kid.clone(),
            n: URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            e: URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
            x5c: vec![STANDARD.encode(self.certificate.to_der()?)],
        })
    }
}

/// A token read but not yet verified: its header, its claims and what its signature covers.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub header: JwtHeader,
    pub claims: AccessTokenClaims,
    signing_input: String,
    signature: Vec<u8>,
}

/// Whether `token` has the form of a JWT (three parts separated by dots). Anything else is an
/// opaque token, which the service looks up among those it issued before it signed tokens.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Reads a compact JWS: three base64url parts, a header naming RS256 and a `kid`, claims of the
/// shape this service issues. `Err` says what was wrong, for the 401's message.
pub fn parse(token: &str) -> Result<Unverified, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("it is longer than {MAX_TOKEN_BYTES} bytes"));
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("it is not three base64url parts joined by dots".to_owned());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("its {what} is not base64url: {e}"))
    };
    let header: JwtHeader = serde_json::from_slice(&decode(header_part, "header")?)
        .map_err(|e| format!("its header is not a JOSE header: {e}"))?;
    if header.alg != ALGORITHM {
        return Err(format!(
            "it is signed with `{}`; this service signs and accepts only {ALGORITHM}",
            header.alg
        ));
    }
    if header.kid.is_none() {
        return Err("its header names no `kid`".to_owned());
    }
    let claims: AccessTokenClaims = serde_json::from_slice(&decode(claims_part, "payload")?)
        .map_err(|e| format!("its payload is not the claims of an access token: {e}"))?;
    let signature = decode(signature, "signature")?;
    Ok(Unverified {
        header,
        claims,
        signing_input: format!("{header_part}.{claims_part}"),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: "https://sts.windows.net/t/".into(),
            iat: 1_700_000_000,
            nbf: 1_700_000_000,
            exp: 1_700_003_600,
            appid: "app".into(),
            appidacr: "1".into(),
            idp: "https://sts.windows.net/t/".into(),
            idtyp: "app".into(),
            oid: "o".into(),
            roles: vec![],
            sub: "o".into(),
            tid: "t".into(),
            uti: "u".into(),
            ver: "1.0".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_and_not_with_another_or_changed() {
        let key = SigningKey::generate(1_700_000_000).unwrap();
        let stored = SigningKey::from_pem(
            &key.private_key_pem().unwrap(),
            &key.certificate_pem().unwrap(),
        )
        .unwrap();
        assert_eq!(stored.kid(), key.kid());
        let verifying =
            VerifyingKey::from_certificate_pem(&key.certificate_pem().unwrap()).unwrap();
        assert_eq!(verifying.kid(), key.kid());
        assert_eq!(verifying.kid().len(), 27, "base64url of 20 bytes");

        let token = stored.sign(&claims()).unwrap();
        let read = parse(&token).unwrap();
        assert_eq!(read.claims, claims());
        assert_eq!(read.header.kid.as_deref(), Some(key.kid()));
        assert!(verifying.verifies(&read));

        let other = SigningKey::generate(1_700_000_000).unwrap();
        let other = VerifyingKey::from_certificate_pem(&other.certificate_pem().unwrap()).unwrap();
        assert!(!other.verifies(&read));

        // The payload of another token under this token's signature.
        let mut changed = claims();
        changed.tid = "t2".into();
        let forged = stored.sign(&changed).unwrap();
        let spliced: Vec<&str> = token.split('.').collect();
        let forged: Vec<&str> = forged.split('.').collect();
        let spliced = format!("{}.{}.{}", spliced[0], forged[1], spliced[2]);
        assert!(!verifying.verifies(&parse(&spliced).unwrap()));
    }

    #[test]
    fn a_stored_key_whose_certificate_is_another_keys_is_refused() {
        let a = SigningKey::generate(0).unwrap();
        let b = SigningKey::generate(0).unwrap();
        let error =
            SigningKey::from_pem(&a.private_key_pem().unwrap(), &b.certificate_pem().unwrap())
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "token signing key: the certificate is not the RSA key's own"
        );
    }

    #[test]
    fn tokens_not_of_this_form_are_refused_with_what_is_wrong() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let payload = b64(&serde_json::to_string(&claims()).unwrap());
        for (token, why) in [
            ("a.b".to_owned(), "it is not three base64url parts joined by dots"),
            ("a.b.c.d".to_owned(), "it is not three base64url parts joined by dots"),
            (
                format!("{}.{payload}.AA", b64(r#"{"alg":"none","kid":"k"}"#)),
                "it is signed with `none`; this service signs and accepts only RS256",
            ),
            (
                format!("{}.{payload}.AA", b64(r#"{"alg":"HS256","kid":"k"}"#)),
                "it is signed with `HS256`; this service signs and accepts only RS256",
            ),
            (
                format!("{}.{payload}.AA", b64(r#"{"alg":"RS256"}"#)),
                "its header names no `kid`",
            ),
            (
                format!("{}.{}.AA", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(r#"{"aud":"x"}"#)),
                "its payload is not the claims of an access token: missing field `iss` at line 1 column 11",
            ),
            (
                format!("{}.{payload}.A+A=", b64(r#"{"alg":"RS256","kid":"k"}"#)),
                "its signature is not base64url: Invalid symbol 43, offset 1.",
            ),
            (
                format!("e30=.{payload}.AA"),
                "its header is not base64url: Invalid padding",
            ),
        ] {
            assert_eq!(parse(&token).unwrap_err(), why, "{token}");
        }
        assert!(!looks_like_jwt("tok_abc"));
        assert!(looks_like_jwt("a.b.c"));
    }
}
