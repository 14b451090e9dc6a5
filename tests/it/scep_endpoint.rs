//! The connector's NDES-like SCEP endpoint, end to end: a device's pkiMessage goes to the
//! endpoint, the endpoint asks the mock Intune to validate it, the CA issues, the CertRep comes
//! back and Intune is notified. Devices are the Rust client of `connector_sim::scep::message`
//! (every cipher and digest), the Debian `scep` package's `scepclient` (micromdm) and
//! `certmonger`; the certificates are checked with `openssl verify`. Without those clients their
//! tests fail and name the packages; `INTUNE_MOCK_SKIP=scep-clients` skips them by name.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use connector_sim::ca::CaDirectory;
use connector_sim::pki::{self, CertificateAuthority, KeyAlgorithm, KeyPool};
use connector_sim::scep::message::{
    self, ClientRequest, ContentCipher, Digest, MessageType, PkiRequest,
};
use connector_sim::scep::{http, Outcome, ScepEndpoint, ScepSettings};
use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use reqwest::Method;
use scenarios::harness::{spawn_app, TestApp};
use serde_json::{json, Value};
use wire::connector::Feature;

use crate::support::{at, on_path, require, Need};

const CA: &str = "CA01\\Contoso Issuing CA";

struct World {
    app: TestApp,
    tenant: wire::admin::Tenant,
    connector: Connector,
    endpoint: Arc<ScepEndpoint>,
    ca: connector_sim::ca::SharedCa,
    dir: tempfile::TempDir,
}

async fn world_with_spool(spool: Option<&Path>) -> World {
    let start = at("2026-03-01T00:00:00Z");
    let app = spawn_app(start, 41).await.unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let cas = CaDirectory::new();
    let ca = cas.add_embedded(CertificateAuthority::new(CA, "Contoso Issuing CA", start).unwrap());
    let config = ConnectorConfig {
        seed: 3,
        ..ConnectorConfig::new("NDES01", &[Feature::Scep], "6.2406.0.1001")
    };
    let client = ServiceClient::new(app.base_url.clone(), app.http.clone());
    let mut connector = Connector::install(
        config,
        client,
        tenant.enrollment_secret.as_deref().unwrap(),
        start,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ops = app.ops.clone();
    let endpoint = ScepEndpoint::new(
        ScepSettings {
            ca: CA.into(),
            template: "IntuneDevice".into(),
            validity_days: 365,
            spool_dir: spool.map_or_else(|| dir.path().join("spool"), Path::to_owned),
        },
        connector.scep_identity(),
        cas,
        Arc::new(move || ops.now()),
    )
    .await
    .unwrap();
    let endpoint = Arc::new(endpoint);
    connector.set_scep_endpoint(endpoint.clone());
    World {
        app,
        tenant,
        connector,
        endpoint,
        ca,
        dir,
    }
}

async fn world() -> World {
    world_with_spool(None).await
}

/// A device targeted by a SCEP profile with `subject`, an RSA-2048 key and no SANs.
async fn target(world: &World, device: &str, subject: &str) -> (String, String) {
    let body = json!({
        "deviceId": device,
        "subject": subject,
        "keySize": 2048,
        "validityMinutes": 60
    });
    let created = world
        .app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/scep/challenges", world.tenant.id),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["challenge"].as_str().unwrap().to_owned(),
    )
}

async fn challenge_view(world: &World, id: &str) -> Value {
    world
        .app
        .admin_get(&format!(
            "/admin/tenants/{}/scep/challenges/{id}",
            world.tenant.id
        ))
        .await
        .unwrap()
        .body
}

/// A device: its key, its self-signed signer certificate, and its PKCSReq.
struct Device {
    key: PKey<Private>,
    signer: X509,
}

impl Device {
    fn new(now: chrono::DateTime<chrono::Utc>) -> Device {
        let key = KeyPool::new().generate(KeyAlgorithm::Rsa2048).unwrap();
        let signer = pki::self_signed(&key, "SCEP SIGNER", now).unwrap();
        Device { key, signer }
    }

    fn request(
        &self,
        subject: &str,
        challenge: Option<&str>,
        transaction: &str,
        ra: &X509,
        cipher: ContentCipher,
        digest: Digest,
    ) -> Vec<u8> {
        let csr =
            pki::certificate_request_with_challenge(&self.key, subject, challenge, Vec::new())
                .unwrap();
        self.message(MessageType::PkcsReq, &csr, transaction, ra, cipher, digest)
    }

    fn message(
        &self,
        message_type: MessageType,
        content: &[u8],
        transaction: &str,
        ra: &X509,
        cipher: ContentCipher,
        digest: Digest,
    ) -> Vec<u8> {
        ClientRequest {
            message_type,
            content,
            transaction_id: transaction,
            signer: &self.signer,
            signer_key: &self.key,
            ra,
            cipher,
            digest,
        }
        .build()
        .unwrap()
    }

    /// The certificate a SUCCESS CertRep carries, decrypted with the device key.
    fn certificate(&self, rep: &message::CertRepView) -> X509 {
        let envelope = Pkcs7::from_der(&rep.envelope).unwrap();
        let payload = envelope
            .decrypt(&self.key, &self.signer, Pkcs7Flags::BINARY)
            .unwrap();
        message::certificates_of(&payload).unwrap().remove(0)
    }
}

/// One pkiMessage to the endpoint, its CertRep read back.
async fn exchange(world: &World, body: &[u8]) -> message::CertRepView {
    message::read_cert_rep(&world.endpoint.pki_operation(body).await.unwrap()).unwrap()
}

/// The connector's SCEP events (4000–4999) in order: id, name, channel.
fn events(connector: &Connector) -> Vec<(u16, String, String)> {
    connector
        .log()
        .records()
        .iter()
        .filter(|r| (4000..5000).contains(&r.event_id))
        .map(|r| (r.event_id, r.name.to_owned(), r.channel.as_str().to_owned()))
        .collect()
}

fn ids(connector: &Connector) -> Vec<u16> {
    events(connector).into_iter().map(|e| e.0).collect()
}

#[tokio::test]
async fn every_cipher_and_digest_a_client_may_use_enrolls_and_intune_hears_of_it() {
    let world = world().await;
    let now = world.app.now();
    let ra = world.endpoint.ra_certificate().clone();
    let cases = [
        (ContentCipher::DesCbc, Digest::Sha1),
        (ContentCipher::DesEde3Cbc, Digest::Sha1),
        (ContentCipher::Aes128Cbc, Digest::Sha256),
        (ContentCipher::Aes256Cbc, Digest::Sha256),
        (ContentCipher::Aes256Cbc, Digest::Sha512),
    ];
    for (n, (cipher, digest)) in cases.into_iter().enumerate() {
        let device = format!("device-{n:04}");
        let subject = format!("CN={device},O=Contoso");
        let (id, challenge) = target(&world, &device, &subject).await;
        let phone = Device::new(now);
        let transaction = format!("tx-{n}");
        let body = phone.request(
            &subject,
            Some(&challenge),
            &transaction,
            &ra,
            cipher,
            digest,
        );
        let reply = world.endpoint.pki_operation(&body).await.unwrap();
        let rep = message::read_cert_rep(&reply).unwrap();
        assert_eq!(
            (rep.status.as_str(), rep.fail_info.as_deref()),
            ("0", None),
            "{cipher:?} {digest:?}"
        );
        assert_eq!(rep.transaction_id, transaction);
        // The reply is enveloped with the request's own cipher.
        assert_eq!(message::envelope_cipher(&rep.envelope).unwrap(), cipher);
        let issued = phone.certificate(&rep);
        let ca = world.endpoint.ca_certificate();
        assert!(issued.verify(&ca.public_key().unwrap()).unwrap());
        assert_eq!(
            issued.public_key().unwrap().public_key_to_der().unwrap(),
            phone.key.public_key_to_der().unwrap()
        );
        let view = challenge_view(&world, &id).await;
        assert_eq!(view["lastCode"], "Success", "{view}");
        assert_eq!(view["transactionId"], transaction.as_str());
        assert_eq!(view["notification"]["kind"], "success", "{view}");
        let body = &view["notification"]["body"];
        assert_eq!(
            body["callerInfo"],
            "Microsoft Intune Certificate Connector 6.2406.0.1001"
        );
        assert_eq!(body["issuingCertificateAuthority"], "Contoso Issuing CA");
    }
    // Per request: received, verified, issued, notified (Operational), success (Admin).
    let first: Vec<(u16, String, String)> = events(&world.connector).into_iter().take(5).collect();
    let expected = [
        (4003, "ScepRequestReceived", "Operational"),
        (4004, "ScepVerifySuccess", "Operational"),
        (4006, "ScepIssuedSuccess", "Operational"),
        (4008, "ScepNotifySuccess", "Operational"),
        (4000, "ScrepRequestSuccess", "Admin"),
    ];
    let expected: Vec<(u16, String, String)> = expected
        .iter()
        .map(|(i, n, c)| (*i, n.to_string(), c.to_string()))
        .collect();
    assert_eq!(first, expected);
    assert_eq!(world.connector.log().count(4000, None), 5);
    assert!(world.endpoint.spool().is_empty());
}

#[tokio::test]
async fn a_wrong_or_expired_challenge_gets_failure_and_intune_gets_a_failure_notification() {
    let world = world().await;
    let now = world.app.now();
    let ra = world.endpoint.ra_certificate().clone();
    let phone = Device::new(now);

    // Expired: the challenge lives 60 minutes.
    let (id, challenge) = target(&world, "device-0001", "CN=device-0001").await;
    world.app.set_clock(at("2026-03-01T01:30:00Z")).unwrap();
    let body = phone.request(
        "CN=device-0001",
        Some(&challenge),
        "tx-expired",
        &ra,
        ContentCipher::Aes256Cbc,
        Digest::Sha256,
    );
    let rep = exchange(&world, &body).await;
    assert_eq!(
        (rep.status.as_str(), rep.fail_info.as_deref()),
        ("2", Some("2"))
    );
    assert!(rep.envelope.is_empty());
    assert_eq!(
        world.endpoint.last_outcome(),
        Some(Outcome::Refused {
            code: "ChallengeExpired".into()
        })
    );
    let view = challenge_view(&world, &id).await;
    assert_eq!(view["lastCode"], "ChallengeExpired");
    assert_eq!(view["notification"]["kind"], "failure", "{view}");
    // E_ACCESSDENIED (0x80070005), sign-extended as the Java client sends it.
    assert_eq!(view["notification"]["body"]["hResult"], -2147024891i64);
    assert!(view["notification"]["body"]["errorDescription"]
        .as_str()
        .unwrap()
        .starts_with("ChallengeExpired: "));

    // Wrong: not a challenge Intune issued.
    let body = phone.request(
        "CN=device-0001",
        Some("not-a-challenge"),
        "tx-wrong",
        &ra,
        ContentCipher::DesEde3Cbc,
        Digest::Sha1,
    );
    let rep = exchange(&world, &body).await;
    assert_eq!(
        (rep.status.as_str(), rep.fail_info.as_deref()),
        ("2", Some("2"))
    );
    assert_eq!(
        world.endpoint.last_outcome(),
        Some(Outcome::Refused {
            code: "ChallengeDecodingError".into()
        })
    );
    assert_eq!(
        ids(&world.connector),
        [4003, 4005, 4008, 4001, 4003, 4005, 4008, 4001]
    );
}

#[tokio::test]
async fn a_message_that_is_not_scep_is_refused_with_the_reason_and_changes_nothing() {
    let world = world().await;
    let now = world.app.now();
    let ra = world.endpoint.ra_certificate().clone();
    let phone = Device::new(now);
    let (_, challenge) = target(&world, "device-0001", "CN=device-0001").await;
    let good = phone.request(
        "CN=device-0001",
        Some(&challenge),
        "tx-1",
        &ra,
        ContentCipher::Aes128Cbc,
        Digest::Sha256,
    );
    let before = world.connector.log().records().len();
    for (bad, reason) in [
        (
            Vec::new(),
            "malformed DER at byte 0: unexpected end of input",
        ),
        (
            good[..good.len() - 1].to_vec(),
            "length runs past the end of the input",
        ),
        (b"hello".to_vec(), "malformed DER"),
    ] {
        let err = world.endpoint.pki_operation(&bad).await.unwrap_err();
        assert!(err.to_string().contains(reason), "{err}");
    }
    // A flipped byte inside the signed content breaks the message digest.
    let mut spoiled = good.clone();
    let at = spoiled.len() / 2;
    spoiled[at] ^= 0x01;
    assert!(PkiRequest::parse(&spoiled).is_err());
    assert_eq!(world.connector.log().records().len(), before);

    // Over HTTP the reason comes back as 400 text.
    let (addr, server) = http::serve(world.endpoint.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{addr}/certsrv/mscep/mscep.dll");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = client
        .post(format!("{url}?operation=PKIOperation"))
        .body(b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer
        .text()
        .await
        .unwrap()
        .starts_with("the pkiMessage cannot be read: malformed DER"));
    let answer = client
        .get(format!("{url}?operation=GetNextCACert"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let caps = client
        .get(format!("{url}?operation=GetCACaps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        caps,
        "AES\nDES3\nPOSTPKIOperation\nSHA-1\nSHA-256\nSHA-512\nSCEPStandard\n"
    );
    let certs = client
        .get(format!("{url}?operation=GetCACert&message=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        certs.headers()["content-type"],
        "application/x-x509-ca-ra-cert"
    );
    let certs = message::certificates_of(&certs.bytes().await.unwrap()).unwrap();
    let names: Vec<String> = certs
        .iter()
        .map(|c| {
            c.subject_name()
                .entries()
                .next()
                .unwrap()
                .data()
                .to_string()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "NDES RA Exchange Enrollment Agent",
            "NDES RA CEP Encryption",
            "Contoso Issuing CA"
        ]
    );
    // As NDES publishes them: one RA certificate to sign, one to encrypt to.
    let usages: Vec<String> = certs[..2]
        .iter()
        .map(|c| {
            let text = String::from_utf8(c.to_text().unwrap()).unwrap();
            let line = text
                .lines()
                .skip_while(|l| !l.contains("X509v3 Key Usage"))
                .nth(1)
                .unwrap_or_default();
            line.trim().to_owned()
        })
        .collect();
    assert_eq!(usages, ["Digital Signature", "Key Encipherment"]);
    server.abort();
}

/// Waits until `ready` says yes, checking after 10 ms, then twice as long each time up to
/// 250 ms, for at most `budget`: then the test fails, naming `what`. `ready` fails the wait at
/// once with its reason (the daemon died, say).
pub(crate) async fn wait_until(
    what: &str,
    budget: std::time::Duration,
    mut ready: impl FnMut() -> Result<bool, String>,
) {
    let started = tokio::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(10);
    let mut checks = 0u32;
    loop {
        checks += 1;
        match ready() {
            Ok(true) => return,
            Ok(false) => {}
            Err(why) => panic!("while waiting until {what}: {why}"),
        }
        assert!(
            started.elapsed() < budget,
            "{what}: not so after {checks} checks in {budget:?}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(250));
    }
}

fn write_pem(path: &Path, certificate: &X509) {
    std::fs::write(path, certificate.to_pem().unwrap()).unwrap();
}

/// `openssl verify` of `leaf` against the CA, at the virtual instant `at`.
fn openssl_verify(ca: &Path, leaf: &Path, at: chrono::DateTime<chrono::Utc>) -> String {
    let out = Command::new("openssl")
        .args(["verify", "-attime", &at.timestamp().to_string(), "-CAfile"])
        .arg(ca)
        .arg(leaf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs `scepclient` in a fresh folder (it reuses a `csr.pem` it finds next to the key).
async fn scepclient(
    scepclient: &str,
    url: &str,
    work: &Path,
    challenge: &str,
    cn: &str,
) -> (i32, String) {
    std::fs::create_dir_all(work).unwrap();
    let args = [
        "-server-url".to_owned(),
        url.to_owned(),
        "-private-key".to_owned(),
        work.join("key.pem").display().to_string(),
        "-certificate".to_owned(),
        work.join("cert.pem").display().to_string(),
        "-challenge".to_owned(),
        challenge.to_owned(),
        "-cn".to_owned(),
        cn.to_owned(),
        "-organization".to_owned(),
        "Contoso".to_owned(),
        "-ou".to_owned(),
        "MDM".to_owned(),
        "-country".to_owned(),
        "US".to_owned(),
    ];
    let out = tokio::process::Command::new("timeout")
        .arg("60")
        .arg(scepclient)
        .args(args)
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn the_debian_scep_client_enrolls_through_intune_validation_and_openssl_verifies_it() {
    let Some(client) = require(Need::ScepClients, || on_path("scepclient")) else {
        return;
    };
    let world = world().await;
    let (addr, server) = http::serve(world.endpoint.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{addr}/certsrv/mscep/mscep.dll");
    let ca_pem = world.dir.path().join("ca.pem");
    write_pem(&ca_pem, world.endpoint.ca_certificate());

    // micromdm writes the subject C, O, OU, CN in that order.
    let (id, challenge) = target(
        &world,
        "device-0001",
        "C=US,O=Contoso,OU=MDM,CN=device-0001",
    )
    .await;
    let work = world.dir.path().join("good");
    let (code, output) = scepclient(&client, &url, &work, &challenge, "device-0001").await;
    assert_eq!(
        code,
        0,
        "{output}\n{:?}\n{:?}",
        world.endpoint.last_outcome(),
        world.connector.log().records()
    );
    let verified = openssl_verify(&ca_pem, &work.join("cert.pem"), at("2026-03-01T00:05:00Z"));
    assert_eq!(
        verified.trim(),
        format!("{}: OK", work.join("cert.pem").display())
    );
    let view = challenge_view(&world, &id).await;
    assert_eq!(view["lastCode"], "Success");
    assert_eq!(view["notification"]["kind"], "success");
    // The micromdm client always sends SHA-1 and single DES.
    let received = world
        .connector
        .log()
        .records()
        .iter()
        .find(|r| r.event_id == 4003)
        .map(|r| r.data()["digest"].clone())
        .unwrap();
    assert_eq!(received, "SHA-1");

    // A wrong challenge: SCEP FAILURE (exit 1, failInfo badRequest) and no certificate.
    let work = world.dir.path().join("wrong");
    let (code, output) = scepclient(&client, &url, &work, "wrong-challenge", "device-0001").await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("failInfo: badRequest"), "{output}");
    assert!(!work.join("cert.pem").exists());
    assert_eq!(
        world.endpoint.last_outcome(),
        Some(Outcome::Refused {
            code: "ChallengeDecodingError".into()
        })
    );
    server.abort();
}

#[tokio::test]
async fn certmonger_enrolls_through_intune_validation_and_openssl_verifies_it() {
    let Some((certmonger, getcert)) = require(Need::ScepClients, || {
        Ok((on_path("certmonger")?, on_path("getcert")?))
    }) else {
        return;
    };
    let world = world().await;
    let (addr, server) = http::serve(world.endpoint.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{addr}/certsrv/mscep/mscep.dll");
    let ca_pem = world.dir.path().join("ca.pem");
    write_pem(&ca_pem, world.endpoint.ca_certificate());

    let work = world.dir.path().join("certmonger");
    let state = work.join("state");
    for sub in ["requests", "cas", "local", "tmp"] {
        std::fs::create_dir_all(state.join(sub)).unwrap();
    }
    let socket = work.join("cm.sock");
    let envs = [
        ("CERTMONGER_CONFIG_DIR", state.clone()),
        ("CERTMONGER_REQUESTS_DIR", state.join("requests")),
        ("CERTMONGER_CAS_DIR", state.join("cas")),
        ("CERTMONGER_LOCAL_CA_DIR", state.join("local")),
        ("CERTMONGER_TMPDIR", state.join("tmp")),
    ];
    let mut daemon = tokio::process::Command::new(certmonger);
    daemon
        .args(["-n", "-L", "-d", "0", "-P"])
        .arg(&socket)
        .arg("-p")
        .arg(work.join("cm.pid"))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_os_str())))
        .env("NO_PROXY", "*")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut daemon = daemon.spawn().unwrap();
    wait_until(
        "certmonger listens on its socket",
        std::time::Duration::from_secs(20),
        || {
            if let Some(status) = daemon.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("certmonger exited with {status}"));
            }
            Ok(std::os::unix::net::UnixStream::connect(&socket).is_ok())
        },
    )
    .await;
    let address = format!("unix:path={}", socket.display());
    let getcert = |args: Vec<String>| {
        let getcert = getcert.clone();
        let address = address.clone();
        async move {
            let out = tokio::process::Command::new("timeout")
                .arg("90")
                .arg(getcert)
                .args(args)
                .env("CERTMONGER_PVT_ADDRESS", address)
                .output()
                .await
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let (code, output) = getcert(vec![
        "add-scep-ca".into(),
        "-c".into(),
        "INTUNE".into(),
        "-u".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{output}");
    // Wait until it has read the caps and the CA/RA certificates.
    wait_until(
        "certmonger has the CA's caps and certificates",
        std::time::Duration::from_secs(30),
        || {
            Ok(std::fs::read_dir(state.join("cas"))
                .map_err(|e| e.to_string())?
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .any(|text| text.contains("ca_encryption_cert=")))
        },
    )
    .await;

    let (id, challenge) = target(&world, "device-0002", "CN=device-0002").await;
    let cert = work.join("cert.pem");
    let (code, output) = getcert(vec![
        "request".into(),
        "-c".into(),
        "INTUNE".into(),
        "-k".into(),
        work.join("key.pem").display().to_string(),
        "-f".into(),
        cert.display().to_string(),
        "-N".into(),
        "CN=device-0002".into(),
        "-L".into(),
        challenge,
        "-I".into(),
        "good".into(),
        "-w".into(),
        "--wait-timeout".into(),
        "60".into(),
    ])
    .await;
    let (_, listed) = getcert(vec!["list".into(), "-i".into(), "good".into()]).await;
    assert_eq!(
        code,
        0,
        "{output}\n{listed}\n{:?}\n{:?}",
        world.endpoint.last_outcome(),
        world
            .connector
            .log()
            .records()
            .iter()
            .map(|r| r.data())
            .collect::<Vec<_>>()
    );
    let verified = openssl_verify(&ca_pem, &cert, at("2026-03-01T00:05:00Z"));
    assert_eq!(verified.trim(), format!("{}: OK", cert.display()));
    let view = challenge_view(&world, &id).await;
    assert_eq!(view["lastCode"], "Success");
    assert_eq!(view["notification"]["kind"], "success");
    // certmonger honours the caps: SHA-256 and AES.
    let digests: Vec<String> = world
        .connector
        .log()
        .records()
        .iter()
        .filter(|r| r.event_id == 4003)
        .map(|r| r.data()["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(digests, ["SHA-256"]);

    // A wrong challenge: rejected (getcert exits 2, status CA_REJECTED).
    let (code, output) = getcert(vec![
        "request".into(),
        "-c".into(),
        "INTUNE".into(),
        "-k".into(),
        work.join("key2.pem").display().to_string(),
        "-f".into(),
        work.join("cert2.pem").display().to_string(),
        "-N".into(),
        "CN=device-0002".into(),
        "-L".into(),
        "wrong-challenge".into(),
        "-I".into(),
        "wrong".into(),
        "-w".into(),
        "--wait-timeout".into(),
        "60".into(),
    ])
    .await;
    assert_eq!(code, 2, "{output}");
    let (_, listed) = getcert(vec!["list".into(), "-i".into(), "wrong".into()]).await;
    assert!(listed.contains("status: CA_REJECTED"), "{listed}");
    assert!(!work.join("cert2.pem").exists());
    let _ = daemon.kill().await;
    server.abort();
}

#[tokio::test]
async fn a_ca_that_cannot_be_reached_answers_pending_and_the_device_polls_until_it_is_back() {
    let world = world().await;
    let now = world.app.now();
    let ra = world.endpoint.ra_certificate().clone();
    let phone = Device::new(now);
    let (id, challenge) = target(&world, "device-0001", "CN=device-0001").await;
    world.ca.lock().unwrap().available = false;
    let enroll = phone.request(
        "CN=device-0001",
        Some(&challenge),
        "tx-pending",
        &ra,
        ContentCipher::Aes256Cbc,
        Digest::Sha256,
    );
    let rep = exchange(&world, &enroll).await;
    assert_eq!((rep.status.as_str(), rep.fail_info.as_deref()), ("3", None));
    assert_eq!(world.endpoint.pending_count(), 1);
    // Validated, not issued, Intune not told yet.
    assert_eq!(ids(&world.connector), [4003, 4004]);
    assert!(challenge_view(&world, &id)
        .await
        .get("notification")
        .is_none());

    // CertPoll while the CA is still down: PENDING again.
    let subject = b"\x30\x00".to_vec();
    let poll = |device: &Device| {
        device.message(
            MessageType::CertPoll,
            &subject,
            "tx-pending",
            &ra,
            ContentCipher::Aes256Cbc,
            Digest::Sha256,
        )
    };
    let rep = exchange(&world, &poll(&phone)).await;
    assert_eq!(rep.status, "3");

    // Another device cannot collect it.
    let stranger = Device::new(now);
    let rep = exchange(&world, &poll(&stranger)).await;
    assert_eq!(
        (rep.status.as_str(), rep.fail_info.as_deref()),
        ("2", Some("4"))
    );

    // The CA is back: the poll gets the certificate, Intune hears of it.
    world.ca.lock().unwrap().available = true;
    let rep = exchange(&world, &poll(&phone)).await;
    assert_eq!(rep.status, "0");
    let issued = phone.certificate(&rep);
    assert!(issued
        .verify(&world.endpoint.ca_certificate().public_key().unwrap())
        .unwrap());
    assert_eq!(world.endpoint.pending_count(), 0);
    let view = challenge_view(&world, &id).await;
    assert_eq!(view["notification"]["kind"], "success", "{view}");
    // Nothing waits any more under that transaction.
    let rep = exchange(&world, &poll(&phone)).await;
    assert_eq!(
        (rep.status.as_str(), rep.fail_info.as_deref()),
        ("2", Some("4"))
    );
    assert_eq!(
        ids(&world.connector),
        [4003, 4004, 4003, 4003, 4007, 4003, 4006, 4008, 4000, 4003, 4007]
    );
}
