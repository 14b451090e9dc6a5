//! Jobs by profile (issue #22): `POST /admin/tenants/{tid}/jobs` with `{kind, profile, count}`
//! through the real command-line connector; the PFX and its password opened with the `openssl`
//! command and the device key the service serves; revocations of the certificates the tenant
//! was issued, read back from the connector's crl.pem; bad input refused by field with nothing
//! queued; and an Idempotency-Key retry that makes nothing.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::Method;
use scenarios::harness::{Answer, TestApp, OPERATOR_TOKEN};
use serde_json::{json, Value};
use tokio::process::Child;

use crate::support::{app_at, connector_process, enrollment_secret, message, on_path};

/// The `openssl` command, or the test fails naming its Debian package.
fn openssl() -> String {
    on_path("openssl").unwrap_or_else(|why| {
        panic!("this test needs the openssl command (Debian package openssl): {why}")
    })
}

/// Runs `openssl ARGS`; its standard output, or the test fails with its standard error.
fn run_openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(openssl())
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `intune-mock connector` for `tenant` with `flags`, polling every second; killed when dropped.
fn connector(app: &TestApp, tenant: &wire::admin::Tenant, flags: &[&str]) -> Child {
    let mut flags = flags.to_vec();
    flags.push("--quiet");
    connector_process(app, enrollment_secret(tenant), &flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

async fn enqueue(app: &TestApp, tenant_id: &str, body: &Value, key: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}/admin/tenants/{tenant_id}/jobs", app.base_url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("enqueue answers");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON answer");
    Answer { status, body }
}

/// The ids of an enqueue's answer.
fn ids(answer: &Answer) -> Vec<String> {
    answer.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs in {}", answer.body))
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The tenant's jobs as the operator lists them.
async fn jobs(app: &TestApp, tenant_id: &str) -> Vec<Value> {
    let answer = app
        .admin_get(&format!("/admin/tenants/{tenant_id}/jobs"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["value"].as_array().unwrap().clone()
}

/// Waits (at most 60 s) until job `id` has succeeded; its view.
async fn succeeded(app: &TestApp, tenant_id: &str, id: &str) -> Value {
    for _ in 0..600 {
        let job = app
            .admin_get(&format!("/admin/tenants/{tenant_id}/jobs/{id}"))
            .await
            .unwrap()
            .body;
        match job["state"].as_str() {
            Some("succeeded") => return job,
            Some("queued" | "leased") => {}
            _ => panic!("job {id} did not succeed: {job}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not succeed within 60 s");
}

/// `GET …/jobs/{id}/device-key`: status, Content-Type and text.
async fn device_key(app: &TestApp, tenant_id: &str, id: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/admin/tenants/{tenant_id}/jobs/{id}/device-key",
            app.base_url
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("the device key answers");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_pkcs_create_by_profile_opens_with_openssl_and_the_device_key_the_service_serves() {
    openssl();
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _connector = connector(&app, &tenant, &["--state-dir", state.to_str().unwrap()]);
    let answer = enqueue(
        &app,
        &tenant.id,
        &json!({"kind": "pkcs_create", "profile": "default", "count": 1}),
        None,
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let queued = &answer.body["value"][0];
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["payload"]["subject"], "CN=device-0001");
    assert_eq!(
        queued["payload"]["subjectAlternativeNames"],
        json!([{"type": "upn", "value": "user0001@contoso.com"}])
    );
    assert_eq!(queued["payload"]["template"], "IntuneDevice");
    assert_eq!(
        queued["payload"]["certificationAuthority"],
        "ca01.contoso.com\\Contoso Issuing CA"
    );
    assert_eq!(queued["payload"]["keyAlgorithm"], "p256");
    assert_eq!(queued["payload"]["validityDays"], 365);
    let id = queued["id"].as_str().unwrap();
    let job = succeeded(&app, &tenant.id, id).await;

    let (status, kind, key) = device_key(&app, &tenant.id, id).await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(kind, "application/x-pem-file");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
    let files = tempfile::tempdir().unwrap();
    let key_file = write(files.path(), "device.key", key.as_bytes());
    let result = &job["result"];
    let encrypted = B64
        .decode(result["encryptedPassword"].as_str().unwrap())
        .unwrap();
    let password_file = write(files.path(), "password.der", &encrypted);
    let password = run_openssl(&[
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        &password_file,
        "-inkey",
        &key_file,
    ]);
    let password = String::from_utf8(password).unwrap();
    let pfx = B64.decode(result["pfx"].as_str().unwrap()).unwrap();
    let pfx_file = write(files.path(), "device.pfx", &pfx);
    let certificate = run_openssl(&[
        "pkcs12",
        "-in",
        &pfx_file,
        "-passin",
        &format!("pass:{}", password.trim_end_matches('\n')),
        "-nokeys",
        "-clcerts",
    ]);
    let certificate_file = write(files.path(), "device.pem", &certificate);
    let subject = run_openssl(&[
        "x509",
        "-in",
        &certificate_file,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(
        String::from_utf8(subject).unwrap(),
        "subject=CN=device-0001\n"
    );
}

#[tokio::test]
async fn revoke_by_profile_names_the_newest_issued_certificate_once_and_the_crl_lists_it() {
    openssl();
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let _connector = connector(
        &app,
        &tenant,
        &[
            "--features",
            "pkcs,revocation",
            "--log-dir",
            logs.to_str().unwrap(),
        ],
    );
    let issued = enqueue(
        &app,
        &tenant.id,
        &json!({"kind": "pkcs_create", "profile": "default", "count": 2}),
        None,
    )
    .await;
    assert_eq!(issued.status, 201, "{}", issued.body);
    let mut serials = Vec::new();
    for id in ids(&issued) {
        let job = succeeded(&app, &tenant.id, &id).await;
        serials.push(job["result"]["serialNumber"].as_str().unwrap().to_owned());
    }
    let mut sorted = serials.clone();
    sorted.sort();
    assert_eq!(sorted, ["6100000000000001", "6100000000000002"]);
    let revoke = json!({"kind": "revoke", "profile": "default", "count": 1});

    // The newest first: both were completed at the same instant of the virtual clock, so the
    // later enqueued, device-0002.
    let first = enqueue(&app, &tenant.id, &revoke, None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let payload = &first.body["value"][0]["payload"];
    assert_eq!(payload["serialNumber"], serials[1].as_str());
    assert_eq!(payload["issuerName"], "CN=Contoso Issuing CA,O=intune-mock");
    assert_eq!(
        payload["certificationAuthority"],
        "ca01.contoso.com\\Contoso Issuing CA"
    );
    succeeded(&app, &tenant.id, &ids(&first)[0]).await;
    let crl = logs.join("crl.pem");
    let listed = format!("Serial Number: {}", serials[1].to_ascii_uppercase());
    let mut text = String::new();
    for _ in 0..300 {
        if crl.exists() {
            text = String::from_utf8(run_openssl(&[
                "crl",
                "-in",
                crl.to_str().unwrap(),
                "-noout",
                "-text",
            ]))
            .unwrap();
            if text.contains(&listed) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        text.contains(&listed),
        "crl.pem does not list {listed}: {text}"
    );
    assert!(
        text.contains("Issuer: CN = Contoso Issuing CA, O = intune-mock"),
        "{text}"
    );
    assert!(!text.contains(&serials[0].to_ascii_uppercase()), "{text}");

    let second = enqueue(&app, &tenant.id, &revoke, None).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(
        second.body["value"][0]["payload"]["serialNumber"],
        serials[0].as_str()
    );

    let before = jobs(&app, &tenant.id).await.len();
    assert_eq!(before, 4);
    let third = enqueue(&app, &tenant.id, &revoke, None).await;
    assert_eq!(third.status, 409, "{}", third.body);
    assert_eq!(third.error_code(), Some("NotEnoughCertificatesToRevoke"));
    assert!(
        message(&third).starts_with("count: 1 revoke jobs asked for, but 0 certificates issued at `ca01.contoso.com\\Contoso Issuing CA` (profile `default`)"),
        "{}",
        third.body
    );
    assert_eq!(jobs(&app, &tenant.id).await.len(), 4);
}

#[tokio::test]
async fn bad_profile_requests_are_refused_by_field_and_queue_nothing() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let not_parsable = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"kind": "pkcs_create", "profile": "ecdsa", "count": 1}),
            400,
            "UnknownProfile",
            "profile: `ecdsa` is not a profile; the profiles are default, digicert, rsa2048, wrong_key",
        ),
        (
            json!({"kind": "pkcs_create", "profile": "default", "count": 0}),
            400,
            "InvalidField",
            "count must be a whole number from 1 to 1000, not 0",
        ),
        (
            json!({"kind": "pkcs_create", "profile": "default", "count": 1001}),
            400,
            "InvalidField",
            "count must be a whole number from 1 to 1000, not 1001",
        ),
        (
            json!({"kind": "revoke", "profile": "default", "count": 1.5}),
            400,
            "InvalidField",
            "count must be a whole number from 1 to 1000, not 1.5",
        ),
        (
            json!({"kind": "pkcs_create", "profile": "default", "count": 1, "subject": "CN=x"}),
            400,
            "invalidRequest",
            "unknown field `subject`",
        ),
        (
            json!({"kind": "pkcs_create", "profile": "default", "count": 1, "deviceKeyCertificate": "MIIB"}),
            400,
            "InvalidCertificate",
            "deviceKeyCertificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
        (
            json!({"kind": "pkcs_create", "profile": "default", "count": 1, "deviceKeyCertificate": not_parsable}),
            400,
            "InvalidCertificate",
            "deviceKeyCertificate: the PEM does not hold a parsable X.509 certificate",
        ),
        (
            json!({"kind": "pkcs_recrypt", "profile": "default", "count": 1}),
            400,
            "KindNotByProfile",
            "kind: `pkcs_recrypt` cannot be enqueued by profile: the PFX must be escrowed to the tenant's recrypt key, which only its connectors hold; send the full payload form instead",
        ),
        (
            json!({"kind": "pkcs_import", "profile": "default", "count": 1}),
            400,
            "KindNotByProfile",
            "kind: `pkcs_import` cannot be enqueued by profile: the user PFX must be uploaded encrypted to the tenant's import key",
        ),
        (
            json!({"kind": "renew", "profile": "default", "count": 1}),
            400,
            "UnknownJobKind",
            "kind: ",
        ),
        (
            json!({"kind": "revoke", "profile": "digicert", "count": 1}),
            409,
            "NotEnoughCertificatesToRevoke",
            "count: 1 revoke jobs asked for, but 0 certificates issued at `DigiCert` (profile `digicert`)",
        ),
    ];
    for (body, status, code, fragment) in cases {
        let answer = enqueue(&app, &tenant.id, &body, None).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert_eq!(answer.error_code(), Some(code), "{body}: {}", answer.body);
        assert!(
            message(&answer).contains(fragment),
            "{body}: {:?} does not contain {fragment:?}",
            message(&answer)
        );
        assert_eq!(jobs(&app, &tenant.id).await, Vec::<Value>::new(), "{body}");
    }
}

#[tokio::test]
async fn only_a_job_whose_key_the_service_made_has_a_device_key() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let made = enqueue(
        &app,
        &tenant.id,
        &json!({"kind": "pkcs_create", "profile": "rsa2048", "count": 2}),
        None,
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let made = ids(&made);
    let (_, _, first) = device_key(&app, &tenant.id, &made[0]).await;
    let (status, _, second) = device_key(&app, &tenant.id, &made[1]).await;
    assert_eq!(status, 200);
    assert_eq!(first, second, "one device key a call");

    // The caller's own certificate (the one the service made, sent back): used as it is.
    let certificate = app
        .admin_get(&format!("/admin/tenants/{}/jobs/{}", tenant.id, made[0]))
        .await
        .unwrap()
        .body["payload"]["deviceKeyCertificate"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = enqueue(
        &app,
        &tenant.id,
        &json!({"kind": "pkcs_create", "profile": "rsa2048", "count": 1, "deviceKeyCertificate": certificate}),
        None,
    )
    .await;
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    assert_eq!(
        theirs.body["value"][0]["payload"]["deviceKeyCertificate"],
        certificate.as_str()
    );
    assert_eq!(
        theirs.body["value"][0]["payload"]["keyAlgorithm"],
        "rsa2048"
    );
    let plain = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", tenant.id),
            Some(&crate::support::revoke_job("0A")),
        )
        .await
        .unwrap();
    assert_eq!(plain.status, 201, "{}", plain.body);
    for id in [ids(&theirs)[0].clone(), ids(&plain)[0].clone()] {
        let (status, _, body) = device_key(&app, &tenant.id, &id).await;
        assert_eq!(status, 404, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "DeviceKeyNotHeld");
        assert_eq!(
            body["error"]["message"],
            format!("job {id} has no device key the service made: only pkcs_create jobs enqueued by profile without a deviceKeyCertificate have one (with a deviceKeyCertificate, the caller holds the key)")
        );
    }
    let (status, _, body) = device_key(&app, &tenant.id, "no-such-job").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"itemNotFound\""), "{body}");
}

#[tokio::test]
async fn a_profile_request_retried_under_its_idempotency_key_makes_nothing() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let body = json!({"kind": "pkcs_create", "profile": "default", "count": 2});
    let first = enqueue(&app, &tenant.id, &body, Some("order-7")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = enqueue(&app, &tenant.id, &body, Some("order-7")).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(ids(&again), ids(&first));
    assert_eq!(again.body, first.body);
    assert_eq!(jobs(&app, &tenant.id).await.len(), 2);

    let other = json!({"kind": "pkcs_create", "profile": "default", "count": 3});
    let reused = enqueue(&app, &tenant.id, &other, Some("order-7")).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.error_code(), Some("IdempotencyKeyReused"));
    assert!(
        message(&reused).starts_with("Idempotency-Key `order-7` was used at 2026-03-01T00:00:00Z for another request (2 jobs)"),
        "{}",
        reused.body
    );
    assert_eq!(jobs(&app, &tenant.id).await.len(), 2);
}
