//! Hostile input: property tests over every route that reads a body (JSON, or the token
//! endpoint's form), every route that reads query parameters, and every path parameter. Each case
//! sends one hostile request with the route's right credential (so the parsing is reached) and
//! insists on a 4xx answer (never 5xx, never a dropped connection) whose body is the route's JSON
//! error shape with a code and a message; then a normal operator call and a normal check-in
//! must still answer 2xx.
//!
//! The Intune FE routes (`ScepActions/*`, `CertificateAuthorityRequests/*`) answer business
//! refusals with 200 by their wire contract (docs/behaviour.md, "Wire shapes": `{"code", …}` resp.
//! `{"value": false}`); there a mutated body may also get that wire-level "no", never a success.
//!
//! Cases per property: `PROPTEST_CASES` (default 256). `HOSTILE_SURVEY=1` runs every case without
//! stopping at the first failure and prints each distinct failure before failing.

use std::cell::Cell;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use connector_sim::pki;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use reqwest::Method;
use scenarios::harness::{spawn_app, TestApp, OPERATOR_TOKEN};
use serde_json::{json, Value};

use crate::support::{at, install_body, self_signed};

mod bodies;
mod found;
mod paths;
mod queries;

const START: &str = "2024-10-01T00:00:00Z";
const VERSION: &str = "6.2406.0.1001";
const SCEP: &str =
    "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService";
const PKI: &str = "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService";

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // A failing case is reported as found; shrinking a 100 KB body buys little.
        max_shrink_iters: 64,
        ..Config::default()
    }
}

/// Which credential a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Operator,
    Enrollment,
    Connector,
    Graph,
}

/// How a route says "no" to a well-formed request it refuses on business grounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Only a 4xx in the Graph error envelope.
    Envelope,
    /// Or 200 `{"code": not "Success", "errorDescription"}` (ScepActions).
    ScepCode,
    /// Or 200 `{"value": []}` (downloadRevocationRequests).
    EmptyDownload,
    /// Or 200 `{"value": false}` (uploadRevocationResults).
    FalseUpload,
    /// Or 200 with a 4xx for every entry (a batch completion answers each entry as it would
    /// have been answered alone).
    EveryEntry,
    /// A 4xx with the OAuth error `{"error", "error_description"}` (the token endpoint).
    OAuth,
}

/// The service and the ids the routes need.
struct World {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    tenant: wire::admin::Tenant,
    graph: String,
    credential: String,
    connector: String,
    job: String,
    pfx: String,
    pfx_upload: Value,
    device_pem: String,
    csr: String,
}

fn world() -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, tenant, graph, credential, connector, job, pfx, pfx_upload, device_pem, csr) =
        runtime.block_on(async {
            let app = spawn_app(at(START), 47).await.unwrap();
            let tenant = app.create_tenant("Hostile Input Ltd", None).await.unwrap();
            let graph = app.graph_token(&tenant).await.unwrap();
            let installed = install_body(
                &app,
                &tenant,
                &json!({"machineName": "HOSTILE-SRV-01", "displayName": "HOSTILE-SRV-01",
                    "features": ["pkcs", "pkcs_import", "revocation", "scep"], "version": VERSION}),
            )
            .await;
            let enqueued = app
                .admin(
                    Method::POST,
                    &format!("/admin/tenants/{}/jobs", tenant.id),
                    Some(&json!({"kind": "revoke", "payload": {"serialNumber": "0A01",
                        "issuerName": "CN=Issuing CA", "certificationAuthority": "ca01\\Issuing CA"}})),
                )
                .await
                .unwrap();
            assert_eq!(enqueued.status, 201, "{}", enqueued.body);
            let job = enqueued.body["value"][0]["id"].as_str().unwrap().to_owned();
            let (user_key, user_cert) = self_signed("hostile user");
            let blob = pki::build_pfx(&user_key, &user_cert, &user_cert, "pw").unwrap();
            let pfx_upload = json!({
                "thumbprint": pki::thumbprint(&user_cert).unwrap(),
                "intendedPurpose": "smimeEncryption",
                "userPrincipalName": "hostile.user@hostile.example",
                "providerName": "Microsoft Software Key Storage Provider",
                "keyName": "PfxImportKey",
                "paddingScheme": "oaepSha512",
                "encryptedPfxBlob": B64.encode(blob),
                "encryptedPfxPassword": B64.encode([7u8; 256]),
                "startDateTime": "2024-01-01T00:00:00Z",
                "expirationDateTime": "2026-01-01T00:00:00Z",
            });
            let uploaded = app
                .request(
                    Method::POST,
                    "/beta/deviceManagement/userPfxCertificates",
                    Some(&graph),
                    Some(&pfx_upload),
                )
                .await
                .unwrap();
            assert_eq!(uploaded.status, 201, "{}", uploaded.body);
            let pfx = uploaded.body["id"].as_str().unwrap().to_owned();
            let (device_key, device_cert) = self_signed("hostile-device-01");
            let device_pem = String::from_utf8(device_cert.to_pem().unwrap()).unwrap();
            // A CSR without a challenge: validation refuses it, whatever a mutation leaves.
            let csr = B64.encode(
                pki::certificate_request_with_challenge(
                    &device_key,
                    "CN=hostile-device-01",
                    None,
                    vec![],
                )
                .unwrap(),
            );
            (
                app,
                tenant,
                graph,
                installed.credential,
                installed.id,
                job,
                pfx,
                pfx_upload,
                device_pem,
                csr,
            )
        });
    World {
        runtime,
        app,
        tenant,
        graph,
        credential,
        connector,
        job,
        pfx,
        pfx_upload,
        device_pem,
        csr,
    }
}

impl World {
    fn bearer(&self, caller: Caller) -> &str {
        match caller {
            Caller::Operator => OPERATOR_TOKEN,
            Caller::Enrollment => self.tenant.enrollment_secret.as_deref().unwrap(),
            Caller::Connector => &self.credential,
            Caller::Graph => &self.graph,
        }
    }

    /// Every route that reads a JSON body, with a valid body for it.
    fn body_routes(&self) -> Vec<(Method, String, Caller, Refusal, Value)> {
        let t = &self.tenant.id;
        let c = &self.connector;
        let details = format!("/beta/deviceManagement/certificateConnectorDetails/{c}");
        let pfx = format!("/beta/deviceManagement/userPfxCertificates/{}", self.pfx);
        let keyed = format!("/beta/deviceManagement/userPfxCertificates('{}')", self.pfx);
        let revoke = json!({"kind": "revoke", "payload": {"serialNumber": "0A02",
            "issuerName": "CN=Issuing CA", "certificationAuthority": "ca01\\Issuing CA"}});
        let pkcs = json!({"kind": "pkcs_create", "payload": {
            "subject": "CN=hostile-device-01", "template": "IntuneDevice",
            "certificationAuthority": "ca01\\Issuing CA", "validityDays": 365, "keyAlgorithm": "p256",
            "subjectAlternativeNames": [{"type": "dns", "value": "hostile-device-01.example"}],
            "deviceKeyCertificate": self.device_pem, "sid": "S-1-5-21-1-2-3-1001"}});
        let completion = json!({"leaseToken": "lease-not-issued", "outcome": "failed",
            "errorCode": "CaUnavailable", "errorMessage": "the CA did not answer", "result": {"a": 1}});
        use Caller::*;
        use Refusal::*;
        vec![
            (
                Method::POST,
                "/admin/faults".into(),
                Operator,
                Envelope,
                json!({"route": "/connector/v1/never-called", "status": 503, "retryAfterSeconds": 2, "count": 1, "durationSeconds": 60, "probability": 0.5}),
            ),
            (
                Method::POST,
                "/admin/clock".into(),
                Operator,
                Envelope,
                json!({"advance": "PT1S"}),
            ),
            (
                Method::POST,
                "/admin/tenants".into(),
                Operator,
                Envelope,
                json!({"displayName": "Hostile Second Ltd", "rolloutDelayDays": 3}),
            ),
            (
                Method::PUT,
                format!("/admin/tenants/{t}/import-key"),
                Operator,
                Envelope,
                json!({"thumbprint": "00112233445566778899aabbccddeeff00112233"}),
            ),
            (
                Method::POST,
                "/admin/releases".into(),
                Operator,
                Envelope,
                json!({"version": "6.2409.0.1", "releasedDateTime": "2024-09-30T00:00:00Z"}),
            ),
            (
                Method::POST,
                "/connector/v1/register".into(),
                Enrollment,
                Envelope,
                json!({"machineName": "HOSTILE-SRV-02", "displayName": "second", "features": ["pkcs", "scep"],
                    "version": VERSION, "product": "CertificateConnector", "serviceAccount": "CONTOSO\\svc-ndes",
                    "coInstalledProducts": [], "autoUpdate": true, "proxy": "http://proxy.example:8080",
                    "importKeyThumbprint": "00112233445566778899aabbccddeeff00112233"}),
            ),
            (
                Method::POST,
                "/connector/v1/checkin".into(),
                Connector,
                Envelope,
                json!({"version": VERSION, "activeSince": START}),
            ),
            (
                Method::POST,
                "/connector/v1/health".into(),
                Connector,
                Envelope,
                json!({"version": VERSION, "features": ["pkcs"], "enrolledDateTime": START,
                    "importKeyConfigured": false, "counters": {"pkcsSuccess": 1, "revokeFailure": 2},
                    "activeSince": START, "uploadingSince": START}),
            ),
            (
                Method::POST,
                format!("{SCEP}/ScepActions/validateRequest"),
                Graph,
                ScepCode,
                json!({"request": {"transactionId": "hostile-tx", "certificateRequest": self.csr, "callerInfo": "fuzz"}}),
            ),
            (
                Method::POST,
                format!("{SCEP}/ScepActions/validateRequest"),
                Connector,
                ScepCode,
                json!({"request": {"transactionId": "hostile-tx", "certificateRequest": self.csr, "callerInfo": "fuzz"}}),
            ),
            (
                Method::POST,
                format!("{SCEP}/ScepActions/successNotification"),
                Graph,
                ScepCode,
                json!({"notification": {"transactionId": "hostile-unknown-tx", "certificateRequest": self.csr,
                    "certificateThumbprint": "00", "certificateSerialNumber": "01",
                    "certificateExpirationDateUtc": "2025-10-01T00:00:00.000Z", "issuingCertificateAuthority": "CN=CA",
                    "callerInfo": "fuzz"}}),
            ),
            (
                Method::POST,
                format!("{SCEP}/ScepActions/failureNotification"),
                Connector,
                ScepCode,
                json!({"notification": {"transactionId": "hostile-unknown-tx", "certificateRequest": self.csr,
                    "hResult": -2147418113, "errorDescription": "denied", "callerInfo": "fuzz"}}),
            ),
            (
                Method::POST,
                format!("{PKI}/CertificateAuthorityRequests/downloadRevocationRequests"),
                Graph,
                EmptyDownload,
                json!({"downloadParameters": {"maxRequests": 5, "issuerName": "CN=Nobody CA"}}),
            ),
            (
                Method::POST,
                format!("{PKI}/CertificateAuthorityRequests/uploadRevocationResults"),
                Graph,
                FalseUpload,
                json!({"results": [{"requestContext": "job-not-issued:lease-not-issued", "succeeded": false,
                    "errorCode": 4004, "errorMessage": "not found"}]}),
            ),
            (
                Method::POST,
                format!("/admin/tenants/{t}/scep/challenges"),
                Operator,
                Envelope,
                json!({"deviceId": "hostile-device-02", "userId": "user-02", "subject": "CN=hostile-device-02",
                    "subjectAlternativeNames": [{"type": "dns", "value": "d2.example"}],
                    "keyUsage": ["digitalSignature"], "keySize": 2048, "extendedKeyUsage": ["1.3.6.1.5.5.7.3.2"],
                    "validityMinutes": 60}),
            ),
            (
                Method::POST,
                "/connector/v1/jobs/lease".into(),
                Connector,
                Envelope,
                json!({"max": 1, "kinds": ["pkcs_recrypt"], "waitMs": 0, "visibilityTimeoutSeconds": 60}),
            ),
            (
                Method::POST,
                "/connector/v1/jobs/complete".into(),
                Connector,
                EveryEntry,
                json!({"completions": [{"jobId": self.job, "leaseToken": "lease-not-issued", "outcome": "failed", "errorCode": "X"}]}),
            ),
            (
                Method::POST,
                format!("/connector/v1/jobs/{}/complete", self.job),
                Connector,
                Envelope,
                completion,
            ),
            (
                Method::POST,
                format!("/admin/tenants/{t}/jobs"),
                Operator,
                Envelope,
                revoke,
            ),
            (
                Method::POST,
                format!("/admin/tenants/{t}/jobs"),
                Operator,
                Envelope,
                json!({"jobs": [pkcs]}),
            ),
            (
                Method::PATCH,
                "/connector/v1/self".into(),
                Connector,
                Envelope,
                json!({"displayName": "HOSTILE-SRV-01", "features": ["pkcs", "pkcs_import", "revocation", "scep"],
                    "serviceAccount": "SYSTEM", "proxy": "", "importKeyThumbprint": "", "autoUpdate": true,
                    "coInstalledProducts": []}),
            ),
            (
                Method::POST,
                format!("{details}/getHealthMetrics"),
                Graph,
                Envelope,
                json!({"metricNames": ["pkcsSuccess", "revokeFailure"]}),
            ),
            (
                Method::POST,
                format!("{details}/getHealthMetricTimeSeries"),
                Graph,
                Envelope,
                json!({"timeSeries": {"metricName": "pkcs", "startDateTime": "2024-09-30T00:00:00Z", "endDateTime": "2024-10-02T00:00:00Z"}}),
            ),
            (
                Method::POST,
                "/beta/deviceManagement/userPfxCertificates".into(),
                Graph,
                Envelope,
                self.pfx_upload.clone(),
            ),
            (Method::PATCH, pfx, Graph, Envelope, self.pfx_upload.clone()),
            (
                Method::PATCH,
                keyed,
                Graph,
                Envelope,
                self.pfx_upload.clone(),
            ),
        ]
    }

    /// Checks the service still serves normal requests.
    async fn still_serving(&self) -> Result<(), TestCaseError> {
        let tenants = self.app.admin_get("/admin/tenants").await;
        let tenants =
            tenants.map_err(|e| TestCaseError::fail(format!("GET /admin/tenants: {e}")))?;
        prop_assert_eq!(tenants.status, 200, "GET /admin/tenants: {}", tenants.body);
        let checkin = self
            .app
            .request(
                Method::POST,
                "/connector/v1/checkin",
                Some(&self.credential),
                Some(&json!({ "version": VERSION })),
            )
            .await
            .map_err(|e| TestCaseError::fail(format!("check-in: {e}")))?;
        prop_assert_eq!(checkin.status, 200, "check-in: {}", checkin.body);
        Ok(())
    }
}

// ----- checks ------------------------------------------------------------------------------------

/// What an answer must be: a 4xx with the route's JSON error, or its wire-level refusal.
fn check_refused(
    status: u16,
    text: &str,
    refusal: Refusal,
    context: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(
        status < 500,
        "{}: a server error {}: {}",
        context,
        status,
        text
    );
    let body: Value = serde_json::from_str(text).map_err(|e| {
        TestCaseError::fail(format!(
            "{context}: {status} with a body that is not JSON ({e}): {text:.300}"
        ))
    })?;
    if status == 200 {
        let fine = match refusal {
            Refusal::ScepCode => {
                body["code"].as_str().is_some_and(|c| c != "Success")
                    && body["errorDescription"].is_string()
            }
            Refusal::EmptyDownload => body["value"] == json!([]),
            Refusal::FalseUpload => body["value"] == json!(false),
            Refusal::EveryEntry => body["value"].as_array().is_some_and(|entries| {
                entries.iter().all(|e| {
                    e["status"]
                        .as_u64()
                        .is_some_and(|s| (400..500).contains(&s))
                        && e["error"]["code"].is_string()
                })
            }),
            Refusal::Envelope | Refusal::OAuth => false,
        };
        prop_assert!(fine, "{}: accepted with 200: {:.300}", context, text);
        return Ok(());
    }
    prop_assert!(
        (400..500).contains(&status),
        "{}: answered {}: {:.300}",
        context,
        status,
        text
    );
    match refusal {
        Refusal::OAuth => {
            prop_assert!(
                body["error"].as_str().is_some_and(|c| !c.is_empty())
                    && body["error_description"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                "{}: not an OAuth error: {:.300}",
                context,
                text
            );
        }
        _ => {
            prop_assert!(
                body["error"]["code"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                    && body["error"]["innerError"]["request-id"].is_string(),
                "{}: not the error envelope: {:.300}",
                context,
                text
            );
        }
    }
    Ok(())
}

async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<(Vec<u8>, &str)>,
) -> Result<(u16, String), TestCaseError> {
    let mut request = app.http.request(method, format!("{}{path}", app.base_url));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some((bytes, content_type)) = body {
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        request = request.body(bytes);
    }
    let response = request
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("{path}: no answer (a panic?): {e}")))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| TestCaseError::fail(format!("{path}: the answer broke off: {e}")))?;
    Ok((status, text))
}

/// Runs `cases` of `strategy` against `test`; returns how many cases ran (shrinking included).
fn run<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> usize {
    let tried = Cell::new(0usize);
    let mut runner = TestRunner::new(config());
    if std::env::var("HOSTILE_SURVEY").is_ok() {
        use proptest::strategy::ValueTree;
        let mut seen = std::collections::BTreeMap::<String, (usize, String)>::new();
        for _ in 0..config().cases {
            let value = strategy.new_tree(&mut runner).unwrap().current();
            if let Err(e) = test(value) {
                let text = e.to_string();
                let mut key = String::new();
                for c in text.chars().filter(|c| !c.is_ascii_digit()) {
                    if !key.ends_with(c) {
                        key.push(c);
                    }
                }
                let key: String = key.chars().take(110).collect();
                let entry = seen.entry(key).or_insert((0, text));
                entry.0 += 1;
            }
        }
        for (n, text) in seen.values() {
            eprintln!("SURVEY {name} x{n}: {text:.3000}");
        }
        let failed: usize = seen.values().map(|(n, _)| n).sum();
        eprintln!("{name}: {} cases tried, {failed} failed", config().cases);
        assert!(seen.is_empty(), "{name}: {failed} cases failed");
        return config().cases as usize;
    }
    let result = runner.run(&strategy, |value| {
        tried.set(tried.get() + 1);
        test(value)
    });
    eprintln!("{name}: {} cases tried", tried.get());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    tried.get()
}
