//! The local CA of `serve --tls`: made once in a folder of the data dir and kept, so a client
//! trusts its `ca.pem` once; the server certificate it signs is made again when it does not
//! cover the names asked for, is not the CA's, or has less than [`RENEW_BEFORE_DAYS`] left.
//!
//! Files: `ca.pem` (the CA's certificate: what clients trust), `ca.key`, `server.pem` (the
//! server's certificate, then the CA's), `server.key`. Keys are written owner-only (0600), every
//! file through a temporary file and a rename. A CA with only one of its two files, or whose key
//! is not its certificate's, is an error, never replaced: a client may trust it.
//!
//! P-256 ECDSA keys; the extensions strict verifiers want (Python 3.13's `VERIFY_X509_STRICT`,
//! browsers): a critical `basicConstraints` and `keyUsage`, subject and authority key
//! identifiers, `extendedKeyUsage` serverAuth and the names in `subjectAltName`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use super::{TlsAcceptor, TlsError};

/// The CA's validity.
const CA_DAYS: i64 = 10 * 365;
/// The server certificate's validity (the CA/Browser Forum's most, which Apple's clients hold
/// every certificate to).
const SERVER_DAYS: i64 = 397;
/// A server certificate with less validity left than this is made again.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Certificates start this long before they are made, for clients whose clock is behind.
const BACKDATE_SECONDS: i64 = 3600;
const DAY: i64 = 86_400;

/// A name the server certificate is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServerName {
    Dns(String),
    Ip(IpAddr),
}

impl ServerName {
    /// An IP address if `text` is one, else a DNS name (lower-cased).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(ServerName::Ip(ip));
        }
        let valid = !text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
            });
        if valid {
            Ok(ServerName::Dns(text.to_ascii_lowercase()))
        } else {
            Err(format!("`{text}` is neither an IP address nor a DNS name"))
        }
    }

    /// The names every local certificate has: `localhost`, `127.0.0.1` and `::1`.
    pub fn loopback() -> [ServerName; 3] {
        [
            ServerName::Dns("localhost".to_owned()),
            ServerName::Ip(IpAddr::from([127, 0, 0, 1])),
            ServerName::Ip(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        ]
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerName::Dns(name) => f.write_str(name),
            ServerName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The local CA's files, ready: `ca_file` is what clients trust.
#[derive(Debug, Clone)]
pub struct LocalTls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Whether the CA was made now (else it was found in the folder).
    pub ca_made: bool,
    /// Whether the server certificate was made now.
    pub server_made: bool,
}

impl LocalTls {
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        TlsAcceptor::from_pem_files(&self.cert_file, &self.key_file)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn file_error(path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        what: what.into(),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename; `secret` files are
/// owner-only.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&temporary).map_err(io(&temporary))?;
    file.write_all(bytes).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io(path))
}

fn new_key() -> Result<PKey<Private>, TlsError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn serial() -> Result<openssl::asn1::Asn1Integer, TlsError> {
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(serial.to_asn1_integer()?)
}

fn validity(builder: &mut X509Builder, now: i64, days: i64) -> Result<(), TlsError> {
    let from = Asn1Time::from_unix(now - BACKDATE_SECONDS)?;
    let until = Asn1Time::from_unix(now + days * DAY)?;
    builder.set_not_before(&from)?;
    builder.set_not_after(&until)?;
    Ok(())
}

/// A self-signed CA certificate for `key`.
fn make_ca(key: &PKey<Private>, now: i64) -> Result<X509, TlsError> {
    let serial = serial()?;
    let tag = serial
        .to_bn()?
        .to_hex_str()?
        .chars()
        .take(8)
        .collect::<String>();
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "intune-mock")?;
    name.append_entry_by_text("CN", &format!("intune-mock local CA {tag}"))?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    validity(&mut builder, now, CA_DAYS)?;
    let constraints = BasicConstraints::new().critical().ca().pathlen(0).build()?;
    builder.append_extension(constraints)?;
    let usage = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build()?;
    builder.append_extension(usage)?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(ski)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// A server certificate for `names`, signed by the CA.
fn make_server(
    key: &PKey<Private>,
    names: &BTreeSet<ServerName>,
    ca: &X509,
    ca_key: &PKey<Private>,
    now: i64,
) -> Result<X509, TlsError> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "intune-mock")?;
    name.append_entry_by_text("CN", "intune-mock")?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let serial = serial()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(ca.subject_name())?;
    builder.set_pubkey(key)?;
    validity(&mut builder, now, SERVER_DAYS)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut alt = SubjectAlternativeName::new();
    for name in names {
        match name {
            ServerName::Dns(dns) => alt.dns(dns),
            ServerName::Ip(ip) => alt.ip(&ip.to_string()),
        };
    }
    let alt = alt.build(&builder.x509v3_context(Some(ca), None))?;
    builder.append_extension(alt)?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(ca), None))?;
    builder.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&builder.x509v3_context(Some(ca), None))?;
    builder.append_extension(aki)?;
    builder.sign(ca_key, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// The names a certificate's `subjectAltName` holds.
fn names_of(certificate: &X509) -> BTreeSet<ServerName> {
    let mut out = BTreeSet::new();
    for name in certificate.subject_alt_names().iter().flatten() {
        if let Some(dns) = name.dnsname() {
            out.insert(ServerName::Dns(dns.to_ascii_lowercase()));
        } else if let Some(ip) = name.ipaddress() {
            let ip = match ip.len() {
                4 => <[u8; 4]>::try_from(ip).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(ip).ok().map(IpAddr::from),
                _ => None,
            };
            out.extend(ip.map(ServerName::Ip));
        }
    }
    out
}

/// Reads a certificate and its key; `None` when neither file exists.
fn read_pair(cert: &Path, key: &Path) -> Result<Option<(X509, PKey<Private>)>, TlsError> {
    let (cert_exists, key_exists) = (cert.exists(), key.exists());
    if !cert_exists && !key_exists {
        return Ok(None);
    }
    if cert_exists != key_exists {
        let (present, absent) = if cert_exists {
            (cert, key)
        } else {
            (key, cert)
        };
        return Err(file_error(
            present,
            format!(
                "is there but {} is not; remove both to make a new pair",
                absent.display()
            ),
        ));
    }
    let certificate = X509::stack_from_pem(&std::fs::read(cert).map_err(io(cert))?)
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .ok_or_else(|| file_error(cert, "holds no PEM certificate"))?;
    let private_key = PKey::private_key_from_pem(&std::fs::read(key).map_err(io(key))?)
        .map_err(|e| file_error(key, format!("not a PEM private key: {e}")))?;
    if !certificate.public_key()?.public_eq(&private_key) {
        return Err(file_error(
            key,
            format!("is not the key of {}", cert.display()),
        ));
    }
    Ok(Some((certificate, private_key)))
}

/// Whether `certificate` is valid for at least `days` more at `now`.
fn valid_for(certificate: &X509, now: i64, days: i64) -> Result<bool, TlsError> {
    let until = Asn1Time::from_unix(now + days * DAY)?;
    Ok(certificate.not_after() > until)
}

/// The local CA in `dir` (made there the first time) and a server certificate of it for
/// `names` and the loopback names, made again when the one there does not fit. `now` is the
/// real time (clients check the certificates against theirs).
pub fn ensure(dir: &Path, names: &[ServerName], now: DateTime<Utc>) -> Result<LocalTls, TlsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let now = now.timestamp();
    let tls = LocalTls {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("server.pem"),
        key_file: dir.join("server.key"),
        ca_made: false,
        server_made: false,
    };
    let ca_key_file = dir.join("ca.key");
    let (ca, ca_key, ca_made) = match read_pair(&tls.ca_file, &ca_key_file)? {
        Some((ca, key)) => {
            if !valid_for(&ca, now, 1)? {
                return Err(file_error(
                    &tls.ca_file,
                    "has expired; remove ca.pem and ca.key to make a new CA (and trust it again)",
                ));
            }
            (ca, key, false)
        }
        None => {
            let key = new_key()?;
            let ca = make_ca(&key, now)?;
            write_file(&ca_key_file, &key.private_key_to_pem_pkcs8()?, true)?;
            write_file(&tls.ca_file, &ca.to_pem()?, false)?;
            (ca, key, true)
        }
    };
    let mut wanted: BTreeSet<ServerName> = ServerName::loopback().into_iter().collect();
    wanted.extend(names.iter().cloned());
    let fits = match read_pair(&tls.cert_file, &tls.key_file) {
        Ok(Some((server, _))) => {
            let ca_public = ca.public_key()?;
            server.verify(&ca_public)?
                && wanted.is_subset(&names_of(&server))
                && valid_for(&server, now, RENEW_BEFORE_DAYS)?
        }
        // A missing, partial or unreadable server pair is made again: it is ours to replace.
        Ok(None) | Err(_) => false,
    };
    if !fits {
        let key = new_key()?;
        let server = make_server(&key, &wanted, &ca, &ca_key, now)?;
        let mut chain = server.to_pem()?;
        chain.extend(ca.to_pem()?);
        write_file(&tls.key_file, &key.private_key_to_pem_pkcs8()?, true)?;
        write_file(&tls.cert_file, &chain, false)?;
    }
    Ok(LocalTls {
        ca_made,
        server_made: !fits,
        ..tls
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_ca_is_made_once_and_the_server_certificate_again_when_names_or_time_ask() {
        let dir = std::env::temp_dir().join(format!("intune-mock-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = ensure(&dir, &[], at("2026-03-02T08:00:00Z")).unwrap();
        assert!(first.ca_made && first.server_made);
        let ca = std::fs::read(&first.ca_file).unwrap();
        first.acceptor().unwrap();

        let again = ensure(&dir, &[], at("2026-03-03T08:00:00Z")).unwrap();
        assert!(!again.ca_made && !again.server_made);

        let lan = ServerName::parse("192.0.2.7").unwrap();
        let named = ensure(&dir, std::slice::from_ref(&lan), at("2026-03-03T08:00:00Z")).unwrap();
        assert!(!named.ca_made && named.server_made);
        let server = X509::stack_from_pem(&std::fs::read(&named.cert_file).unwrap()).unwrap();
        assert_eq!(
            names_of(&server[0])
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["localhost", "127.0.0.1", "192.0.2.7", "::1"]
        );
        // Made 2026-03-03T08:00Z for 397 days, to 2027-04-04T08:00Z: renewed 30 days before.
        let kept = ensure(&dir, std::slice::from_ref(&lan), at("2027-03-05T07:59:59Z")).unwrap();
        assert!(!kept.server_made);
        let late = ensure(&dir, std::slice::from_ref(&lan), at("2027-03-05T08:00:00Z")).unwrap();
        assert!(late.server_made);
        assert_eq!(std::fs::read(&late.ca_file).unwrap(), ca, "the CA stays");

        std::fs::remove_file(dir.join("ca.key")).unwrap();
        let error = ensure(&dir, &[], at("2027-03-05T08:00:00Z")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: is there but {} is not; remove both to make a new pair",
                dir.join("ca.pem").display(),
                dir.join("ca.key").display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_ip_addresses_or_dns_names() {
        assert_eq!(
            ServerName::parse("[::1]"),
            Ok(ServerName::Ip("::1".parse().unwrap()))
        );
        assert_eq!(
            ServerName::parse("Mock.Example"),
            Ok(ServerName::Dns("mock.example".into()))
        );
        assert_eq!(
            ServerName::parse("bad name"),
            Err("`bad name` is neither an IP address nor a DNS name".into())
        );
    }
}
