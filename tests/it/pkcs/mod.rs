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
use wire::connector::Feature;

use crate::support::at;

mod import;
mod issue;
mod pfx_routes;
mod templates;

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
            &[Feature::Pkcs, Feature::PkcsImport, Feature::Revocation],
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
