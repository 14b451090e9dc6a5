//! The certificate work of a simulated connector, checked with the `openssl` command-line tool as
//! an independent reader: a PKCS PFX opens with the password the device decrypts and chains to the
//! issuing CA; a revoke puts the serial on the CRL; recrypt and import hand a device a password it
//! can decrypt with its own key. The service, the connector and the CAs talk over loopback HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use connector_sim::ca::{CaDirectory, SharedCa};
use connector_sim::pki::{self, CertificateAuthority, KeyAlgorithm, KeyPool};
use connector_sim::work::{ImportKey, RecryptKey};
use connector_sim::{Connector, ConnectorConfig, ServiceClient, Workbench};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use reqwest::Method;
use scenarios::harness::{spawn_app, TestApp};
use serde_json::{json, Value};

use crate::support::at;

const START: &str = "2024-10-01T00:00:00Z";
/// `openssl verify -attime`: 2024-10-01T12:00:00Z, inside every validity period issued at START.
const VERIFY_AT: &str = "1727784000";
const EMBEDDED: &str = "ca01.contoso.com\\Contoso Issuing CA";
const DIGICERT: &str = "DigiCert";

/// Runs `openssl args…` in `dir`; returns stdout, or panics with stderr when it fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = openssl_raw(dir, args);
    assert!(
        output.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn openssl_raw(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command-line tool is installed")
}

/// A device with a key pair: its key (PEM file) and its key certificate.
struct Device {
    key_file: PathBuf,
    cert_file: PathBuf,
    certificate: X509,
}

impl Device {
    fn new(dir: &Path, name: &str, algorithm: KeyAlgorithm) -> Device {
        let key: PKey<Private> = KeyPool::new().generate(algorithm).unwrap();
        let certificate = pki::self_signed(&key, name, at(START)).unwrap();
        let key_file = dir.join(format!("{name}.key.pem"));
        let cert_file = dir.join(format!("{name}.crt.pem"));
        std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&cert_file, certificate.to_pem().unwrap()).unwrap();
        Device {
            key_file,
            cert_file,
            certificate,
        }
    }

    fn pem(&self) -> String {
        String::from_utf8(self.certificate.to_pem().unwrap()).unwrap()
    }

    /// Decrypts a password the connector encrypted for this device, with the openssl tool:
    /// RSA-OAEP (SHA-256) for an RSA device key, CMS EnvelopedData otherwise.
    fn decrypt(&self, dir: &Path, scheme: &str, encrypted_b64: &str) -> PathBuf {
        let input = dir.join("password.enc");
        let output = dir.join("password.txt");
        std::fs::write(&input, B64.decode(encrypted_b64).unwrap()).unwrap();
        let (key, cert, input_s, output_s) = (
            self.key_file.to_str().unwrap(),
            self.cert_file.to_str().unwrap(),
            input.to_str().unwrap(),
            output.to_str().unwrap(),
        );
        match scheme {
            "rsaOaepSha256" => openssl(
                dir,
                &[
                    "pkeyutl",
                    "-decrypt",
                    "-inkey",
                    key,
                    "-in",
                    input_s,
                    "-out",
                    output_s,
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    "rsa_oaep_md:sha256",
                    "-pkeyopt",
                    "rsa_mgf1_md:sha256",
                ],
            ),
            "cmsEnvelopedData" => openssl(
                dir,
                &[
                    "cms", "-decrypt", "-inform", "DER", "-in", input_s, "-recip", cert, "-inkey",
                    key, "-out", output_s,
                ],
            ),
            other => panic!("unexpected password encryption `{other}`"),
        };
        output
    }
}

/// A service, a tenant, both CAs (the DigiCert-like one over loopback HTTP) and a connector with
/// every feature whose machine holds the recrypt and import keys.
struct Bench {
    app: TestApp,
    tenant: wire::admin::Tenant,
    embedded: SharedCa,
    digicert: SharedCa,
    digicert_url: String,
    import_key: PKey<Private>,
    connector: Connector,
    dir: tempfile::TempDir,
    stop_ca: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_ca.take() {
            let _ = stop.send(());
        }
    }
}

async fn bench() -> Bench {
    let now = at(START);
    let app = spawn_app(now, 23).await.unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let cas = CaDirectory::new();
    let embedded =
        cas.add_embedded(CertificateAuthority::new(EMBEDDED, "Contoso Issuing CA", now).unwrap());
    let digicert = std::sync::Arc::new(std::sync::Mutex::new(
        CertificateAuthority::with_key(
            DIGICERT,
            "DigiCert-like Issuing CA",
            KeyPool::new().generate(KeyAlgorithm::P256).unwrap(),
            now,
        )
        .unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let digicert_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_ca, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(connector_sim::ca::serve_http_ca(
        digicert.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    cas.add_http(DIGICERT, &digicert_url, app.http.clone());

    let recrypt_key = KeyPool::new().generate(KeyAlgorithm::P256).unwrap();
    let import_key = KeyPool::new().generate(KeyAlgorithm::Rsa2048).unwrap();
    let mut workbench = Workbench::new(cas);
    workbench.recrypt_key = Some(RecryptKey {
        certificate: pki::self_signed(&recrypt_key, "Contoso recrypt", now).unwrap(),
        key: recrypt_key,
    });
    workbench.import_key = Some(ImportKey {
        name: "PfxImportKey".into(),
        key: import_key.clone(),
    });
    let config = ConnectorConfig {
        seed: 1,
        ..ConnectorConfig::new(
            "SRV01",
            &["pkcs", "pkcs_import", "revocation"],
            "6.2406.0.1001",
        )
    };
    let client = ServiceClient::new(app.base_url.clone(), app.http.clone());
    let mut connector = Connector::install(
        config,
        client,
        tenant.enrollment_secret.as_deref().unwrap(),
        now,
    )
    .await
    .unwrap();
    connector.set_workbench(workbench);
    Bench {
        app,
        tenant,
        embedded,
        digicert,
        digicert_url,
        import_key,
        connector,
        dir: tempfile::tempdir().unwrap(),
        stop_ca: Some(stop_ca),
    }
}

impl Bench {
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Enqueues one job and has the connector do one round of work; returns the finished job.
    async fn run(&mut self, kind: &str, payload: Value) -> Value {
        let answer = self
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/jobs", self.tenant.id),
                Some(&json!({"kind": kind, "payload": payload})),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id = answer.body["value"][0]["id"].as_str().unwrap().to_owned();
        let summary = self.connector.work(self.app.now()).await;
        assert_eq!(summary.succeeded, 1, "{summary:?}");
        let job = self
            .app
            .admin_get(&format!("/admin/tenants/{}/jobs/{id}", self.tenant.id))
            .await
            .unwrap();
        assert_eq!(job.body["state"], "succeeded", "{}", job.body);
        job.body
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn ca_file(&self, ca: &SharedCa, name: &str) -> String {
        let pem = ca.lock().unwrap().certificate().to_pem().unwrap();
        self.write(name, &pem)
    }
}

fn pkcs_payload(ca: &str, key_algorithm: &str, device: &Device, n: u32) -> Value {
    json!({
        "subject": format!("CN=device-{n:04},O=Contoso"),
        "subjectAlternativeNames": [{"type": "upn", "value": format!("user{n:04}@contoso.com")}],
        "template": "IntuneDevice",
        "certificationAuthority": ca,
        "validityDays": 365,
        "keyAlgorithm": key_algorithm,
        "deviceKeyCertificate": device.pem(),
    })
}

/// Opens `pfx_b64` with the password in `password_file`; returns the leaf certificate's file.
fn open_pfx(dir: &Path, pfx_b64: &str, password_file: &Path, leaf: &str) -> String {
    let pfx = dir.join(format!("{leaf}.pfx"));
    std::fs::write(&pfx, B64.decode(pfx_b64).unwrap()).unwrap();
    let pfx = pfx.to_str().unwrap();
    let passin = format!("file:{}", password_file.to_str().unwrap());
    let wrong = openssl_raw(
        dir,
        &["pkcs12", "-in", pfx, "-passin", "pass:wrong", "-noout"],
    );
    assert!(!wrong.status.success(), "a wrong password must not open it");
    openssl(dir, &["pkcs12", "-in", pfx, "-passin", &passin, "-noout"]);
    let leaf_file = dir.join(format!("{leaf}.crt.pem"));
    let leaf_s = leaf_file.to_str().unwrap().to_owned();
    openssl(
        dir,
        &[
            "pkcs12", "-in", pfx, "-passin", &passin, "-clcerts", "-nokeys", "-out", &leaf_s,
        ],
    );
    let key_file = dir.join(format!("{leaf}.key.pem"));
    openssl(
        dir,
        &[
            "pkcs12",
            "-in",
            pfx,
            "-passin",
            &passin,
            "-nocerts",
            "-nodes",
            "-out",
            key_file.to_str().unwrap(),
        ],
    );
    // The private key in the PFX belongs to the certificate in it.
    let from_key = openssl(dir, &["pkey", "-in", key_file.to_str().unwrap(), "-pubout"]);
    let from_cert = openssl(dir, &["x509", "-in", &leaf_s, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert, "the PFX key matches its certificate");
    leaf_s
}

#[tokio::test]
async fn a_pkcs_pfx_opens_with_the_password_the_device_decrypts_and_chains_to_its_ca() {
    let mut b = bench().await;
    let rsa_device = Device::new(b.dir(), "device-rsa", KeyAlgorithm::Rsa2048);
    let ec_device = Device::new(b.dir(), "device-ec", KeyAlgorithm::P256);
    let cases = [
        (EMBEDDED, "p256", &rsa_device, "rsaOaepSha256", "prime256v1"),
        (
            EMBEDDED,
            "rsa2048",
            &ec_device,
            "cmsEnvelopedData",
            "(2048 bit",
        ),
        (
            DIGICERT,
            "p256",
            &ec_device,
            "cmsEnvelopedData",
            "prime256v1",
        ),
    ];
    let embedded_ca = b.ca_file(&b.embedded.clone(), "embedded-ca.pem");
    let digicert_ca = b.ca_file(&b.digicert.clone(), "digicert-ca.pem");
    for (n, (ca, key_algorithm, device, scheme, key_text)) in cases.into_iter().enumerate() {
        let n = n as u32 + 1;
        let job = b
            .run("pkcs_create", pkcs_payload(ca, key_algorithm, device, n))
            .await;
        let result = &job["result"];
        assert_eq!(result["passwordEncryption"], scheme);
        let password = device.decrypt(
            b.dir(),
            scheme,
            result["encryptedPassword"].as_str().unwrap(),
        );
        let leaf = open_pfx(
            b.dir(),
            result["pfx"].as_str().unwrap(),
            &password,
            &format!("leaf{n}"),
        );
        let ca_file = if ca == EMBEDDED {
            &embedded_ca
        } else {
            &digicert_ca
        };
        let verified = openssl(
            b.dir(),
            &["verify", "-attime", VERIFY_AT, "-CAfile", ca_file, &leaf],
        );
        assert_eq!(verified.trim(), format!("{leaf}: OK"));
        let other_ca = if ca == EMBEDDED {
            &digicert_ca
        } else {
            &embedded_ca
        };
        let wrong = openssl_raw(
            b.dir(),
            &["verify", "-attime", VERIFY_AT, "-CAfile", other_ca, &leaf],
        );
        assert!(!wrong.status.success(), "it must not chain to the other CA");
        let text = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-text"]);
        assert!(
            text.contains(&format!("Subject: CN = device-{n:04}, O = Contoso")),
            "{text}"
        );
        assert!(text.contains(key_text), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(
            text.contains(&format!("othername: UPN::user{n:04}@contoso.com")),
            "{text}"
        );
    }
}

/// Issues a certificate through a PKCS job at `ca`, revokes its serial through a revoke job, and
/// returns (leaf file, serial as the job result gave it).
async fn issue_and_revoke(b: &mut Bench, ca: &str, device: &Device) -> (String, String) {
    let job = b
        .run("pkcs_create", pkcs_payload(ca, "p256", device, 7))
        .await;
    let result = &job["result"];
    let leaf = b.write(
        &format!("revoked-{}.pem", ca.len()),
        result["certificate"].as_str().unwrap().as_bytes(),
    );
    let serial = result["serialNumber"].as_str().unwrap().to_owned();
    let issuer = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-issuer"]);
    let revoked = b
        .run(
            "revoke",
            json!({
                "serialNumber": serial,
                "issuerName": issuer.trim().trim_start_matches("issuer="),
                "certificationAuthority": ca,
            }),
        )
        .await;
    assert_eq!(revoked["result"]["revokedDateTime"], START);
    (leaf, serial)
}

#[tokio::test]
async fn after_a_revoke_the_published_crl_lists_the_serial_and_verification_fails() {
    let mut b = bench().await;
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    // The embedded CA: its CRL as the CA holds it.
    let (leaf, serial) = issue_and_revoke(&mut b, EMBEDDED, &device).await;
    let crl_der = b
        .embedded
        .lock()
        .unwrap()
        .crl()
        .unwrap()
        .expect("a CRL was published")
        .to_der()
        .unwrap();
    let crl = b.write("embedded.crl", &crl_der);
    let ca = b.ca_file(&b.embedded.clone(), "embedded-ca.pem");
    check_crl(b.dir(), &crl, &ca, &leaf, &serial);

    // The DigiCert-like CA: its CRL fetched over HTTP as a relying party would.
    let (leaf, serial) = issue_and_revoke(&mut b, DIGICERT, &device).await;
    let response = b
        .app
        .http
        .get(format!("{}/v1/crl", b.digicert_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pkix-crl"
    );
    let crl = b.write("digicert.crl", &response.bytes().await.unwrap());
    let ca = b.ca_file(&b.digicert.clone(), "digicert-ca.pem");
    check_crl(b.dir(), &crl, &ca, &leaf, &serial);
}

fn check_crl(dir: &Path, crl: &str, ca: &str, leaf: &str, serial: &str) {
    let text = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", crl, "-noout", "-text"],
    );
    assert!(
        text.contains(&format!("Serial Number: {serial}")),
        "serial {serial} not on the CRL:\n{text}"
    );
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(
        text.contains("Revocation Date: Oct  1 00:00:00 2024 GMT"),
        "{text}"
    );
    openssl(
        dir,
        &[
            "crl", "-inform", "DER", "-in", crl, "-CAfile", ca, "-noout", "-verify",
        ],
    );
    let crl_pem = format!("{crl}.pem");
    openssl(
        dir,
        &[
            "crl", "-inform", "DER", "-in", crl, "-outform", "PEM", "-out", &crl_pem,
        ],
    );
    let verify = openssl_raw(
        dir,
        &[
            "verify",
            "-attime",
            VERIFY_AT,
            "-crl_check",
            "-CAfile",
            ca,
            "-CRLfile",
            &crl_pem,
            leaf,
        ],
    );
    let said = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(!verify.status.success(), "{said}");
    assert!(said.contains("certificate revoked"), "{said}");
}

#[tokio::test]
async fn recrypt_re_encrypts_the_escrowed_password_for_a_new_device() {
    let mut b = bench().await;
    let first = Device::new(b.dir(), "device-old", KeyAlgorithm::P256);
    let created = b
        .run("pkcs_create", pkcs_payload(EMBEDDED, "p256", &first, 1))
        .await;
    let pfx = created["result"]["pfx"].as_str().unwrap().to_owned();
    let escrow = created["result"]["escrowedPassword"]
        .as_str()
        .expect("the password is escrowed to the recrypt key")
        .to_owned();
    let new_device = Device::new(b.dir(), "device-new", KeyAlgorithm::Rsa2048);
    let recrypted = b
        .run(
            "pkcs_recrypt",
            json!({"pfx": pfx, "encryptedPassword": escrow, "deviceKeyCertificate": new_device.pem()}),
        )
        .await;
    let result = &recrypted["result"];
    assert_eq!(result["passwordEncryption"], "rsaOaepSha256");
    let password = new_device.decrypt(
        b.dir(),
        "rsaOaepSha256",
        result["encryptedPassword"].as_str().unwrap(),
    );
    open_pfx(b.dir(), &pfx, &password, "recrypted");
    let events: Vec<u16> = b
        .connector
        .log()
        .records()
        .iter()
        .map(|e| e.event_id)
        .collect();
    for id in [1202, 1220, 1251, 1250, 1300, 1302, 1200] {
        assert!(events.contains(&id), "event {id} missing from {events:?}");
    }
}

#[tokio::test]
async fn an_imported_pfx_is_re_encrypted_for_the_device_and_decrypts_with_the_device_key() {
    let mut b = bench().await;
    // The user's S/MIME PFX, made and protected with the openssl tool the way an admin would
    // before the PowerShell module uploads it.
    let user = Device::new(b.dir(), "user0001", KeyAlgorithm::Rsa2048);
    let dir = b.dir().to_owned();
    let password_file = b.write("user-password.txt", b"S3cret-PFX-pass");
    let user_pfx = dir.join("user.pfx");
    openssl(
        &dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            user.key_file.to_str().unwrap(),
            "-in",
            user.cert_file.to_str().unwrap(),
            "-passout",
            &format!("file:{password_file}"),
            "-out",
            user_pfx.to_str().unwrap(),
        ],
    );
    let import_public = b.write(
        "import-key.pub.pem",
        &b.import_key.public_key_to_pem().unwrap(),
    );
    let encrypted_password = dir.join("user-password.enc");
    openssl(
        &dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &import_public,
            "-in",
            &password_file,
            "-out",
            encrypted_password.to_str().unwrap(),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha512",
            "-pkeyopt",
            "rsa_mgf1_md:sha512",
        ],
    );
    let thumbprint = pki::thumbprint(&user.certificate).unwrap();
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let upload = json!({
        "@odata.type": "#microsoft.graph.userPFXCertificate",
        "thumbprint": thumbprint,
        "intendedPurpose": "smimeEncryption",
        "userPrincipalName": "user0001@contoso.com",
        "providerName": "Microsoft Software Key Storage Provider",
        "keyName": "PfxImportKey",
        "paddingScheme": "oaepSha512",
        "encryptedPfxBlob": B64.encode(std::fs::read(&user_pfx).unwrap()),
        "encryptedPfxPassword": B64.encode(std::fs::read(&encrypted_password).unwrap()),
    });
    let created = b
        .app
        .request(
            Method::POST,
            "/beta/deviceManagement/userPfxCertificates",
            Some(&token),
            Some(&upload),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let pfx_id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        pfx_id.ends_with(&format!("-{}", thumbprint.to_ascii_lowercase())),
        "{pfx_id}"
    );

    let device = Device::new(&dir, "device-ec", KeyAlgorithm::P256);
    let job = b
        .run(
            "pkcs_import",
            json!({"userPfxCertificateId": pfx_id, "deviceCertificate": device.pem()}),
        )
        .await;
    let result = &job["result"];
    assert_eq!(result["passwordEncryption"], "cmsEnvelopedData");
    let password = device.decrypt(
        &dir,
        "cmsEnvelopedData",
        result["envelopedPassword"].as_str().unwrap(),
    );
    assert_eq!(std::fs::read(&password).unwrap(), b"S3cret-PFX-pass");
    let leaf = open_pfx(
        &dir,
        &B64.encode(std::fs::read(&user_pfx).unwrap()),
        &password,
        "imported",
    );
    let subject = openssl(&dir, &["x509", "-in", &leaf, "-noout", "-subject"]);
    assert_eq!(subject.trim(), "subject=CN = user0001");
    // Another device cannot open it.
    let other = Device::new(&dir, "device-other", KeyAlgorithm::P256);
    let enveloped = dir.join("enveloped.der");
    std::fs::write(
        &enveloped,
        B64.decode(result["envelopedPassword"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let refused = openssl_raw(
        &dir,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            enveloped.to_str().unwrap(),
            "-recip",
            other.cert_file.to_str().unwrap(),
            "-inkey",
            other.key_file.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success(), "another device's key must fail");
    let events: Vec<u16> = b
        .connector
        .log()
        .records()
        .iter()
        .map(|e| e.event_id)
        .collect();
    for id in [2000, 2202, 2020, 2050, 2100, 2102] {
        assert!(events.contains(&id), "event {id} missing from {events:?}");
    }
}

/// A valid upload body for `user0001@contoso.com` (the password is not really encrypted: the
/// service cannot tell, only a connector with the import key can).
fn upload_body(dir: &Path) -> Value {
    let user = Device::new(dir, "upload-user", KeyAlgorithm::P256);
    let key = PKey::private_key_from_pem(&std::fs::read(&user.key_file).unwrap()).unwrap();
    let pfx = pki::build_pfx(&key, &user.certificate, &user.certificate, "pw").unwrap();
    json!({
        "thumbprint": pki::thumbprint(&user.certificate).unwrap(),
        "intendedPurpose": "smimeEncryption",
        "userPrincipalName": "user0001@contoso.com",
        "providerName": "Microsoft Software Key Storage Provider",
        "keyName": "PfxImportKey",
        "paddingScheme": "oaepSha512",
        "encryptedPfxBlob": B64.encode(pfx),
        "encryptedPfxPassword": B64.encode([7u8; 256]),
    })
}

#[tokio::test]
async fn bad_user_pfx_uploads_and_import_references_are_refused_and_change_nothing() {
    let b = bench().await;
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let good = upload_body(b.dir());
    let path = "/beta/deviceManagement/userPfxCertificates";
    let cases: [(&str, Value, &str); 8] = [
        (
            "thumbprint",
            json!("12AB"),
            "thumbprint: `12AB` is not 40 hexadecimal digits",
        ),
        (
            "userPrincipalName",
            json!("user0001"),
            "userPrincipalName: `user0001` is not a user principal name",
        ),
        (
            "intendedPurpose",
            json!("email"),
            "intendedPurpose: `email` is not one of",
        ),
        ("paddingScheme", json!("pkcs1v15"), "paddingScheme"),
        (
            "encryptedPfxBlob",
            json!("%%%"),
            "encryptedPfxBlob: not base64",
        ),
        (
            "encryptedPfxBlob",
            json!("AAAA"),
            "encryptedPfxBlob: not a PKCS#12 (PFX) structure",
        ),
        (
            "encryptedPfxPassword",
            json!("!!"),
            "encryptedPfxPassword: not base64",
        ),
        ("keyName", json!(""), "keyName"),
    ];
    for (field, value, says) in cases {
        let mut body = good.clone();
        body[field] = value;
        let answer = b
            .app
            .request(Method::POST, path, Some(&token), Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{field}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "`{message}` should say `{says}`");
    }
    let missing = json!({"thumbprint": good["thumbprint"]});
    let answer = b
        .app
        .request(Method::POST, path, Some(&token), Some(&missing))
        .await
        .unwrap();
    assert_eq!(answer.status, 400, "{}", answer.body);
    let listed = b
        .app
        .request::<()>(Method::GET, path, Some(&token), None)
        .await
        .unwrap();
    assert_eq!(listed.body["value"], json!([]), "nothing was stored");

    // A good upload is stored once; its secrets are never read back.
    let created = b
        .app
        .request(Method::POST, path, Some(&token), Some(&good))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["encryptedPfxPassword"], "");
    assert_eq!(created.body["encryptedPfxBlob"], "AA==");
    let again = b
        .app
        .request(Method::POST, path, Some(&token), Some(&good))
        .await
        .unwrap();
    assert_eq!(again.status, 409, "{}", again.body);
    let id = created.body["id"].as_str().unwrap();
    let quoted = b
        .app
        .request::<()>(Method::GET, &format!("{path}('{id}')"), Some(&token), None)
        .await
        .unwrap();
    assert_eq!(quoted.status, 200, "{}", quoted.body);
    assert_eq!(quoted.body["userPrincipalName"], "user0001@contoso.com");

    // An import job must name an uploaded PFX of its own tenant.
    let other = b.app.create_tenant("Fabrikam", None).await.unwrap();
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    for (tenant, pfx_id) in [(&b.tenant.id, "nope"), (&other.id, id)] {
        let answer = b
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{tenant}/jobs"),
                Some(&json!({"kind": "pkcs_import", "payload": {"userPfxCertificateId": pfx_id, "deviceCertificate": device.pem()}})),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.error_code(), Some("UnknownUserPfxCertificate"));
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("jobs[0].payload.userPfxCertificateId"),
            "{message}"
        );
    }
    for tenant in [&b.tenant.id, &other.id] {
        let jobs = b
            .app
            .admin_get(&format!("/admin/tenants/{tenant}/jobs"))
            .await
            .unwrap();
        assert_eq!(jobs.body["count"], 0, "no job was queued");
    }
}

#[tokio::test]
async fn the_http_ca_refuses_a_malformed_csr_and_an_unknown_serial_with_4xx() {
    let b = bench().await;
    let post = |path: &str, body: Value| {
        b.app
            .http
            .post(format!("{}{path}", b.digicert_url))
            .json(&body)
            .send()
    };
    let bad_csr = post(
        "/v1/certificates",
        json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "template": "IntuneDevice", "subject": "CN=x", "subjectAlternativeNames": [], "validityDays": 365, "sid": null, "now": START}),
    )
    .await
    .unwrap();
    assert_eq!(bad_csr.status(), 400);
    let body: Value = bad_csr.json().await.unwrap();
    assert_eq!(body["code"], "RequestDenied");
    assert!(body["message"].as_str().unwrap().contains("csr"), "{body}");
    let unknown = post("/v1/certificates/0BADC0DE/revoke", json!({"now": START}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        b.digicert.lock().unwrap().issued_count(),
        0,
        "nothing issued"
    );
    let crl = b
        .app
        .http
        .get(format!("{}/v1/crl", b.digicert_url))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.status(), 404, "no CRL published by a refused revoke");
}

#[tokio::test]
async fn the_pfx_module_calls_work_with_every_key_syntax_filter_patch_and_delete() {
    let b = bench().await;
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let path = "/beta/deviceManagement/userPfxCertificates";
    let mut body = upload_body(b.dir());
    // The module writes enum values in PascalCase.
    body["intendedPurpose"] = json!("SmimeEncryption");
    body["paddingScheme"] = json!("OaepSha512");
    let created = b
        .app
        .request(Method::POST, path, Some(&token), Some(&body))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["intendedPurpose"], "smimeEncryption");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let thumbprint = body["thumbprint"].as_str().unwrap().to_ascii_lowercase();

    let token = token.as_str();
    let app = &b.app;
    let get = |p: String| async move {
        app.request::<()>(Method::GET, &p, Some(token), None)
            .await
            .unwrap()
    };
    for form in [
        format!("{path}/{id}"),
        format!("{path}({id})"),
        format!("{path}('{id}')"),
    ] {
        let answer = get(form.clone()).await;
        assert_eq!(answer.status, 200, "{form}: {}", answer.body);
        assert_eq!(answer.body["id"], json!(id));
        assert_eq!(
            answer.body["@odata.type"],
            "#microsoft.graph.userPFXCertificate"
        );
    }
    let filtered = get(format!(
        "{path}?$filter=tolower(userPrincipalName)%20eq%20'user0001@contoso.com'%20and%20tolower(thumbprint)%20eq%20'{thumbprint}'"
    ))
    .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(filtered.body["value"].as_array().unwrap().len(), 1);
    let none = get(format!(
        "{path}?$filter=userPrincipalName%20eq%20'other@contoso.com'"
    ))
    .await;
    assert_eq!(none.body["value"], json!([]));
    let bad = get(format!("{path}?$filter=keyName%20eq%20'x'")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("keyName"));
    let not_a_set = get("/beta/deviceManagement/somethingElse('x')".to_owned()).await;
    assert_eq!(not_a_set.status, 404);

    // Import -IsUpdate: PATCH with parentheses and no quotes; 204.
    body["intendedPurpose"] = json!("SmimeSigning");
    let patched = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, 204, "{}", patched.body);
    assert_eq!(
        get(format!("{path}/{id}")).await.body["intendedPurpose"],
        "smimeSigning"
    );
    let mut other_user = body.clone();
    other_user["userPrincipalName"] = json!("user0002@contoso.com");
    let mismatch = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&other_user),
        )
        .await
        .unwrap();
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    assert_eq!(
        get(format!("{path}/{id}")).await.body["userPrincipalName"],
        "user0001@contoso.com"
    );

    let deleted = b
        .app
        .request::<()>(Method::DELETE, &format!("{path}/{id}"), Some(token), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 204);
    assert_eq!(get(format!("{path}('{id}')")).await.status, 404);
    let missing_patch = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(missing_patch.status, 404);
}

#[tokio::test]
async fn the_template_sets_key_usage_eku_and_validity_and_the_kb5014754_sid_extension() {
    let mut b = bench().await;
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    let mut payload = pkcs_payload(EMBEDDED, "p256", &device, 1);
    payload["sid"] = json!("S-1-5-21-1004336348-1177238915-682003330-1105");
    payload["validityDays"] = json!(90);
    let job = b.run("pkcs_create", payload).await;
    let leaf = b.write(
        "sid.pem",
        job["result"]["certificate"].as_str().unwrap().as_bytes(),
    );
    let text = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(text.contains("1.3.6.1.4.1.311.25.2:"), "{text}");
    assert!(
        text.contains("S-1-5-21-1004336348-1177238915-682003330-1105"),
        "{text}"
    );
    // A P-256 key cannot encipher keys: the template's keyEncipherment becomes keyAgreement.
    assert!(text.contains("Digital Signature, Key Agreement"), "{text}");
    let dates = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-dates"]);
    assert!(
        dates.contains("notAfter=Dec 30 00:00:00 2024 GMT"),
        "{dates}"
    );

    // A template the CA does not publish: the job fails, nothing is issued.
    let issued = b.embedded.lock().unwrap().issued_count();
    let mut too_long = pkcs_payload(EMBEDDED, "p256", &device, 2);
    too_long["template"] = json!("WebServer");
    let answer = b
        .app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", b.tenant.id),
            Some(&json!({"kind": "pkcs_create", "payload": too_long})),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["value"][0]["id"].as_str().unwrap().to_owned();
    let summary = b.connector.work(b.app.now()).await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(b.embedded.lock().unwrap().issued_count(), issued);
    let job = b
        .app
        .admin_get(&format!("/admin/tenants/{}/jobs/{id}", b.tenant.id))
        .await
        .unwrap();
    assert_eq!(job.body["state"], "failed");
    assert_eq!(job.body["errorCode"], "TemplateNotFound");
}
