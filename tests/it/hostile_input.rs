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

// ----- body mutations ---------------------------------------------------------------------------

/// One step into a JSON value: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node below the root that is not null, with its path.
fn nodes(value: &Value) -> Vec<(Vec<Step>, Value)> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(Step::Key(k.clone()));
                    if !v.is_null() {
                        out.push((path.clone(), v.clone()));
                    }
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    if !v.is_null() {
                        out.push((path.clone(), v.clone()));
                    }
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// How the rendered text differs from the value: a node written as raw text, or an object member
/// written twice (the second time with raw text).
enum Edit<'a> {
    Replace(&'a [Step], &'a str),
    Duplicate(&'a [Step], &'a str),
}

/// Writes `value` as JSON text with `edit` applied.
fn render(value: &Value, edit: &Edit<'_>) -> String {
    fn write(value: &Value, path: &mut Vec<Step>, edit: &Edit<'_>, out: &mut String) {
        if let Edit::Replace(target, raw) = edit {
            if path.as_slice() == *target {
                out.push_str(raw);
                return;
            }
        }
        match value {
            Value::Object(map) => {
                out.push('{');
                let mut first = true;
                for (k, v) in map {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    path.push(Step::Key(k.clone()));
                    write(v, path, edit, out);
                    if let Edit::Duplicate(target, raw) = edit {
                        if path.as_slice() == *target {
                            out.push(',');
                            out.push_str(&serde_json::to_string(k).unwrap());
                            out.push(':');
                            out.push_str(raw);
                        }
                    }
                    path.pop();
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    path.push(Step::Index(i));
                    write(v, path, edit, out);
                    path.pop();
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut Vec::new(), edit, &mut out);
    out
}

/// A hostile change to a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    /// A node replaced by a value of another JSON type.
    WrongType { node: usize, pick: usize },
    /// A node replaced by a 100 KB string.
    HugeString { node: usize, multibyte: bool },
    /// A node (or the whole body) replaced by arrays or objects nested 10,000 deep.
    DeepNesting { node: Option<usize>, objects: bool },
    /// Bytes that are not UTF-8, inserted into the text.
    InvalidUtf8 { at: usize, pick: usize },
    /// An object member written twice, the second time with another value.
    DuplicateKey { node: usize, pick: usize },
    /// The text cut short.
    Truncate { at: usize },
    /// Random bytes instead of the body.
    RandomBytes(Vec<u8>),
    /// A NUL: as a raw byte in the text, or escaped inside a string node.
    Nul { node: usize, at: usize, raw: bool },
    /// A node replaced by a number no field holds.
    HugeNumber { node: usize, pick: usize },
    /// A node replaced by a negative number.
    NegativeNumber { node: usize, pick: usize },
    /// The valid body with a content type that is not JSON.
    NotJson { pick: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>();
    prop_oneof![
        2 => (n, 0..4usize).prop_map(|(node, pick)| Mutation::WrongType { node, pick }),
        2 => (n, any::<bool>()).prop_map(|(node, multibyte)| Mutation::HugeString { node, multibyte }),
        1 => (proptest::option::of(n), any::<bool>()).prop_map(|(node, objects)| Mutation::DeepNesting { node, objects }),
        1 => (n, 0..4usize).prop_map(|(at, pick)| Mutation::InvalidUtf8 { at, pick }),
        2 => (n, 0..4usize).prop_map(|(node, pick)| Mutation::DuplicateKey { node, pick }),
        1 => n.prop_map(|at| Mutation::Truncate { at }),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::RandomBytes),
        2 => (n, n, any::<bool>()).prop_map(|(node, at, raw)| Mutation::Nul { node, at, raw }),
        2 => (n, 0..5usize).prop_map(|(node, pick)| Mutation::HugeNumber { node, pick }),
        2 => (n, 0..3usize).prop_map(|(node, pick)| Mutation::NegativeNumber { node, pick }),
        1 => (0..3usize).prop_map(|pick| Mutation::NotJson { pick }),
    ]
}

fn deep(objects: bool) -> String {
    const DEPTH: usize = 10_000;
    if objects {
        format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH))
    } else {
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH))
    }
}

fn wrong_type(value: &Value, pick: usize) -> String {
    let choices: &[&str] = match value {
        Value::String(_) => &["42", "true", "[\"x\"]", "{\"x\":1}"],
        Value::Number(_) => &["\"12\"", "false", "[1]", "{}"],
        Value::Bool(_) => &["\"true\"", "1", "[]", "{\"b\":true}"],
        Value::Array(_) => &["\"x\"", "{}", "7", "true"],
        Value::Object(_) => &["[]", "\"x\"", "3", "false"],
        Value::Null => &["\"x\""],
    };
    choices[pick % choices.len()].to_owned()
}

/// The bytes and content type `mutation` makes of `body`.
fn apply(body: &Value, mutation: &Mutation) -> (Vec<u8>, &'static str) {
    const JSON: &str = "application/json";
    let all = nodes(body);
    let node = |i: usize| &all[i % all.len()];
    let text = body.to_string();
    let bytes = match mutation {
        Mutation::WrongType { node: i, pick } => {
            let (path, value) = node(*i);
            render(body, &Edit::Replace(path, &wrong_type(value, *pick)))
        }
        Mutation::HugeString { node: i, multibyte } => {
            let unit = if *multibyte { "é" } else { "A" };
            let huge = format!("\"{}\"", unit.repeat(100 * 1024 / unit.len()));
            render(body, &Edit::Replace(&node(*i).0, &huge))
        }
        Mutation::DeepNesting {
            node: None,
            objects,
        } => deep(*objects),
        Mutation::DeepNesting {
            node: Some(i),
            objects,
        } => render(body, &Edit::Replace(&node(*i).0, &deep(*objects))),
        Mutation::InvalidUtf8 { at, pick } => {
            let bad: &[&[u8]] = &[b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80abc"];
            let mut out = text.into_bytes();
            let at = at % (out.len() + 1);
            out.splice(at..at, bad[pick % bad.len()].iter().copied());
            return (out, JSON);
        }
        Mutation::DuplicateKey { node: i, pick } => {
            let members: Vec<_> = all
                .iter()
                .filter(|(p, _)| matches!(p.last(), Some(Step::Key(_))))
                .collect();
            let (path, value) = members[i % members.len()];
            let second = match pick % 4 {
                0 => value.to_string(),
                _ => wrong_type(value, *pick),
            };
            render(body, &Edit::Duplicate(path, &second))
        }
        Mutation::Truncate { at } => {
            let mut out = text.into_bytes();
            out.truncate(at % out.len());
            return (out, JSON);
        }
        Mutation::RandomBytes(bytes) => return (bytes.clone(), JSON),
        Mutation::Nul { at, raw: true, .. } => {
            let mut out = text.into_bytes();
            let at = at % (out.len() + 1);
            out.insert(at, 0);
            return (out, JSON);
        }
        Mutation::Nul {
            node: i,
            raw: false,
            ..
        } => {
            let strings: Vec<_> = all.iter().filter(|(_, v)| v.is_string()).collect();
            let (path, value) = if strings.is_empty() {
                node(*i)
            } else {
                strings[i % strings.len()]
            };
            let with_nul = format!("{}\u{0}x", value.as_str().unwrap_or("v"));
            render(
                body,
                &Edit::Replace(path, &serde_json::to_string(&with_nul).unwrap()),
            )
        }
        Mutation::HugeNumber { node: i, pick } => {
            let huge = [
                "1e400",
                "99999999999999999999",
                "-99999999999999999999",
                "18446744073709551616",
                "1.7976931348623157e309",
            ];
            render(body, &Edit::Replace(&node(*i).0, huge[pick % huge.len()]))
        }
        Mutation::NegativeNumber { node: i, pick } => {
            let negative = ["-1", "-2147483649", "-9223372036854775808"];
            render(
                body,
                &Edit::Replace(&node(*i).0, negative[pick % negative.len()]),
            )
        }
        Mutation::NotJson { pick } => {
            let types = ["text/plain", "application/x-www-form-urlencoded", ""];
            return (text.into_bytes(), types[pick % types.len()]);
        }
    };
    (bytes.into_bytes(), JSON)
}

/// The body as text for a failure message: runs of one character shortened, at most 1500 chars.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        if run > 8 {
            out.push_str(&format!("{c}<×{run}>"));
        } else {
            out.extend(std::iter::repeat_n(c, run));
        }
    }
    out.chars().take(1500).collect()
}

/// A value that is not a node the mutation could change: the body must have at least one.
fn has_nodes(body: &Value) -> bool {
    !nodes(body).is_empty()
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

#[test]
fn hostile_json_and_form_bodies_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = w.body_routes();
    for (_, _, _, _, body) in &routes {
        assert!(has_nodes(body));
    }
    let token_path = format!("/{}/oauth2/v2.0/token", w.tenant.id);
    let strategy = (0..routes.len() + 1, mutation(), any::<usize>(), 0..4usize);
    run("hostile bodies", strategy, |(route, mutation, at, pick)| {
        w.runtime.block_on(async {
            if route == routes.len() {
                // The token endpoint's form: the secret last, so a cut always spoils it.
                let form = hostile_form(&w, &mutation, at, pick);
                let context = format!("token form {mutation:?}");
                let (status, text) = send_raw(
                    &w.app,
                    Method::POST,
                    &token_path,
                    None,
                    Some((form, "application/x-www-form-urlencoded")),
                )
                .await?;
                check_refused(status, &text, Refusal::OAuth, &context)?;
            } else {
                let (method, path, caller, refusal, body) = &routes[route];
                let (bytes, content_type) = apply(body, &mutation);
                let context = format!("{method} {path} {mutation:?} body {}", preview(&bytes));
                let (status, text) = send_raw(
                    &w.app,
                    method.clone(),
                    path,
                    Some(w.bearer(*caller)),
                    Some((bytes, content_type)),
                )
                .await?;
                check_refused(status, &text, *refusal, &context)?;
            }
            w.still_serving().await
        })
    });
}

/// A hostile version of the valid token form (`grant_type`, `scope`, `client_id`,
/// `client_secret`, in that order).
fn hostile_form(w: &World, mutation: &Mutation, at: usize, pick: usize) -> Vec<u8> {
    let secret = w.tenant.client_secret.clone().unwrap();
    let valid = format!(
        "grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_id={}&client_secret={}",
        w.tenant.client_id, secret
    );
    match mutation {
        Mutation::InvalidUtf8 { .. } | Mutation::Nul { raw: true, .. } => {
            let bad: &[&[u8]] = &[b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00"];
            let mut out = valid.into_bytes();
            let at = at % (out.len() + 1);
            out.splice(at..at, bad[pick % bad.len()].iter().copied());
            out
        }
        Mutation::Truncate { at } => {
            let mut out = valid.into_bytes();
            out.truncate(at % out.len());
            out
        }
        Mutation::RandomBytes(bytes) => bytes.clone(),
        Mutation::DuplicateKey { .. } => {
            let name = ["grant_type", "client_id", "client_secret", "scope"][pick % 4];
            let value = ["password", "someone-else", "not-it", "x"][pick % 4];
            format!("{valid}&{name}={value}").into_bytes()
        }
        Mutation::HugeString { .. } => {
            let field = ["grant_type", "client_id", "client_secret", "scope"][pick % 4];
            let huge = "A".repeat(100 * 1024);
            valid
                .split('&')
                .map(|kv| {
                    if kv.starts_with(&format!("{field}=")) {
                        format!("{field}={huge}")
                    } else {
                        kv.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }
        Mutation::Nul { raw: false, .. } => valid
            .replace("client_credentials", "client_credentials%00")
            .into_bytes(),
        // The other mutations are about JSON; for a form they mean a cut secret.
        _ => valid.as_bytes()[..valid.len() - 1].to_vec(),
    }
}

// ----- query strings -----------------------------------------------------------------------------

/// What a query parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    /// A whole number with a range (`limit`, `top`, `$top`).
    Count,
    /// A whole number at least 0 (`skip`, `$skip`).
    Offset,
    /// One of a few words (`kind`, `state`, `$count`, `$select`).
    Word,
    /// An OData `$filter`.
    Filter,
    /// Free text (`correlationId`, `route`).
    Text,
}

/// A route's query parameters: name, kind and a valid value.
type Params = Vec<(&'static str, Param, &'static str)>;

/// Every route that reads query parameters: path, credential, parameters, and a valid query.
fn query_routes(w: &World) -> Vec<(String, Caller, Params)> {
    use Param::*;
    let odata = vec![
        ("$top", Count, "5"),
        ("$skip", Offset, "0"),
        ("$count", Word, "true"),
        ("$select", Word, "id,connectorVersion"),
        ("$filter", Filter, "connectorVersion eq '6.2406.0.1001'"),
    ];
    vec![
        (
            "/admin/journal".into(),
            Caller::Operator,
            vec![
                ("correlationId", Text, "abc"),
                ("route", Text, "/connector"),
                ("limit", Count, "5"),
            ],
        ),
        (
            format!("/admin/tenants/{}/jobs", w.tenant.id),
            Caller::Operator,
            vec![
                ("kind", Word, "revoke"),
                ("state", Word, "queued"),
                ("top", Count, "5"),
                ("skip", Offset, "0"),
            ],
        ),
        (
            format!("/admin/tenants/{}/jobs", w.tenant.id),
            Caller::Graph,
            vec![("top", Count, "5"), ("state", Word, "leased")],
        ),
        (
            "/beta/deviceManagement/ndesConnectors".into(),
            Caller::Graph,
            odata.clone(),
        ),
        (
            "/beta/deviceManagement/certificateConnectorDetails".into(),
            Caller::Graph,
            odata,
        ),
        (
            "/beta/deviceManagement/userPfxCertificates".into(),
            Caller::Graph,
            vec![(
                "$filter",
                Filter,
                "userPrincipalName eq 'hostile.user@hostile.example'",
            )],
        ),
    ]
}

/// A value that is wrong for a parameter of kind `param`, as raw query text.
fn hostile_value(param: Param, pick: usize, garbage: &str) -> String {
    let ten_kb = |unit: &str| unit.repeat(10 * 1024 / unit.len());
    let encoding_errors = ["%", "%G1", "%FF", "%C3", "%ED%A0%80", "%00", "%%", "1%"];
    let list: Vec<String> = match param {
        Param::Count => vec![
            "-1".into(),
            "0".into(),
            "99999999999999999999".into(),
            "abc".into(),
            "1.5".into(),
            "".into(),
            "1e3".into(),
            "0x10".into(),
            "NaN".into(),
            "1001000".into(),
            ten_kb("9"),
            format!("1{garbage}x"),
        ],
        Param::Offset => vec![
            "-1".into(),
            "99999999999999999999".into(),
            "abc".into(),
            "".into(),
            "1.0".into(),
            "-9223372036854775809".into(),
            ten_kb("7"),
            format!("x{garbage}"),
        ],
        Param::Word => vec![
            "colour".into(),
            "".into(),
            ten_kb("z"),
            format!("q{garbage}"),
            "TRUE".into(),
            "%E2%80%8B".into(),
        ],
        Param::Filter => vec![
            "garbage".into(),
            "state eq".into(),
            "state eq 'x".into(),
            "state ne 'x'".into(),
            "colour eq 'x'".into(),
            "state eq 'x' or state eq 'y'".into(),
            "state eq 'x' and".into(),
            "(state eq 'x')".into(),
            "".into(),
            ten_kb("f"),
            format!("state eq '{}'", ten_kb("v")),
            format!("z{garbage}"),
        ],
        Param::Text => vec![ten_kb("t"), format!("{}{garbage}", ten_kb("u"))],
    };
    let all: Vec<String> = list
        .into_iter()
        .chain(
            encoding_errors
                .iter()
                .filter(|_| param != Param::Text)
                .map(|e| e.to_string()),
        )
        .collect();
    all[pick % all.len()].clone()
}

/// A hostile query: one parameter wrong, one given twice, an unknown option, or raw garbage.
#[derive(Debug, Clone)]
enum QueryAttack {
    Value {
        param: usize,
        pick: usize,
        garbage: String,
    },
    Twice {
        param: usize,
    },
    Unknown {
        pick: usize,
    },
    Raw {
        pick: usize,
    },
}

fn query_attack() -> impl Strategy<Value = QueryAttack> {
    let n = any::<usize>();
    prop_oneof![
        6 => (n, n, "[%&=+#;' a-zA-Z0-9]{0,12}").prop_map(|(param, pick, garbage)| QueryAttack::Value { param, pick, garbage }),
        1 => n.prop_map(|param| QueryAttack::Twice { param }),
        1 => n.prop_map(|pick| QueryAttack::Unknown { pick }),
        1 => n.prop_map(|pick| QueryAttack::Raw { pick }),
    ]
}

/// A raw query value: spaces as `%20`, `#` as `%23` (a fragment is not sent) and `&` as `%26`
/// (the value stays one parameter); the rest as is, percent signs included.
fn raw(value: &str) -> String {
    value
        .replace(' ', "%20")
        .replace('#', "%23")
        .replace('&', "%26")
}

fn query_text(
    params: &[(&'static str, Param, &'static str)],
    attack: &QueryAttack,
    dollar: bool,
) -> String {
    let valid = |skip: Option<usize>| -> Vec<String> {
        params
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, (name, _, value))| format!("{name}={}", raw(value)))
            .collect()
    };
    match attack {
        QueryAttack::Value {
            param,
            pick,
            garbage,
        } => {
            let i = param % params.len();
            let (name, kind, _) = params[i];
            let mut parts = valid(Some(i));
            parts.push(format!(
                "{name}={}",
                raw(&hostile_value(kind, *pick, garbage))
            ));
            parts.join("&")
        }
        QueryAttack::Twice { param } => {
            let (name, _, value) = params[param % params.len()];
            let mut parts = valid(None);
            parts.push(format!("{name}={}", raw(value)));
            parts.join("&")
        }
        QueryAttack::Unknown { pick } => {
            let names = if dollar {
                ["$expand=x", "$orderby=id", "$search=x", "$format=json"]
            } else {
                ["colour=red", "$top=5", "Limit=5", "limit%00=5"]
            };
            let mut parts = valid(None);
            parts.push(names[pick % names.len()].to_owned());
            parts.join("&")
        }
        QueryAttack::Raw { pick } => {
            let (last, _, valid) = params[params.len() - 1];
            let raws = [
                format!("{last}=%"),
                format!("{last}=%G1&{last}=%FF"),
                last.to_owned(),
                format!("{last}=="),
                format!("%FF={}", raw(valid)),
                format!("{last}[]=1"),
            ];
            raws[pick % raws.len()].clone()
        }
    }
}

#[test]
fn hostile_query_strings_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = query_routes(&w);
    // The valid queries are answered: the hostile ones reach the same parsing.
    w.runtime.block_on(async {
        for (path, caller, params) in &routes {
            let query = params
                .iter()
                .map(|(n, _, v)| format!("{n}={}", raw(v)))
                .collect::<Vec<_>>()
                .join("&");
            let (status, text) = send_raw(
                &w.app,
                Method::GET,
                &format!("{path}?{query}"),
                Some(w.bearer(*caller)),
                None,
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{path}?{query}: {text}");
        }
    });
    let strategy = (0..routes.len(), query_attack());
    run("hostile queries", strategy, |(route, attack)| {
        let (path, caller, params) = &routes[route];
        let dollar = path.starts_with("/beta/");
        let url = format!("{path}?{}", query_text(params, &attack, dollar));
        w.runtime.block_on(async {
            let (status, text) =
                send_raw(&w.app, Method::GET, &url, Some(w.bearer(*caller)), None).await?;
            check_refused(
                status,
                &text,
                Refusal::Envelope,
                &format!("GET {url:.300} {attack:?}"),
            )?;
            w.still_serving().await
        })
    });
}

// ----- path parameters ---------------------------------------------------------------------------

/// Every route with a path parameter, `{}` where the hostile segment goes.
fn path_routes(w: &World) -> Vec<(Method, String, Caller, Refusal)> {
    let t = &w.tenant.id;
    let c = &w.connector;
    use Caller::*;
    use Refusal::*;
    vec![
        (
            Method::DELETE,
            "/admin/faults/{}".into(),
            Operator,
            Envelope,
        ),
        (Method::GET, "/admin/tenants/{}".into(), Operator, Envelope),
        (
            Method::DELETE,
            "/admin/tenants/{}".into(),
            Operator,
            Envelope,
        ),
        (
            Method::PUT,
            "/admin/tenants/{}/import-key".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            "/admin/tenants/{}/connectors".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/connectors/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{{}}/connectors/{c}/status"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/connectors/{{}}/history"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/admin/tenants/{}/scep/challenges".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/scep/challenges/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{t}/scep/challenges/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/connector/v1/jobs/{}/complete".into(),
            Connector,
            Envelope,
        ),
        (
            Method::GET,
            "/admin/tenants/{}/jobs".into(),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/admin/tenants/{}/jobs".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/jobs/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            format!("/admin/tenants/{t}/jobs/{{}}/cancel"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            "/v1.0/servicePrincipals/{}/endpoints".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/ndesConnectors/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/certificateConnectorDetails/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::POST,
            "/beta/deviceManagement/certificateConnectorDetails/{}/getHealthMetrics".into(),
            Graph,
            Envelope,
        ),
        (
            Method::POST,
            "/beta/deviceManagement/certificateConnectorDetails/{}/getHealthMetricTimeSeries"
                .into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::PATCH,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::DELETE,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::PATCH,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::DELETE,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (Method::POST, "/{}/oauth2/v2.0/token".into(), Graph, OAuth),
    ]
}

fn hostile_segment(pick: usize, garbage: &str) -> String {
    let segments = [
        "%FF".to_owned(),
        "%C3".to_owned(),
        "%ED%A0%80".to_owned(),
        "%".to_owned(),
        "%G1".to_owned(),
        "%00".to_owned(),
        "a%2Fb".to_owned(),
        "x".repeat(10 * 1024),
        "userPfxCertificates(%FF)".to_owned(),
        "userPfxCertificates('%00')".to_owned(),
        "appId=%FF".to_owned(),
        format!("g{garbage}"),
    ];
    segments[pick % segments.len()].clone()
}

#[test]
fn hostile_path_segments_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = path_routes(&w);
    let strategy = (0..routes.len(), any::<usize>(), "[%'()a-zA-Z0-9]{0,12}");
    run("hostile paths", strategy, |(route, pick, garbage)| {
        let (method, template, caller, refusal) = &routes[route];
        let path = template.replacen("{}", &hostile_segment(pick, &garbage), 1);
        let body = match refusal {
            Refusal::OAuth => Some((
                format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    w.tenant.client_id,
                    w.tenant.client_secret.as_deref().unwrap()
                )
                .into_bytes(),
                "application/x-www-form-urlencoded",
            )),
            _ if *method == Method::GET || *method == Method::DELETE => None,
            _ => Some((b"{}".to_vec(), "application/json")),
        };
        let bearer = match refusal {
            Refusal::OAuth => None,
            _ => Some(w.bearer(*caller)),
        };
        w.runtime.block_on(async {
            let (status, text) = send_raw(&w.app, method.clone(), &path, bearer, body).await?;
            check_refused(status, &text, *refusal, &format!("{method} {path:.300}"))?;
            w.still_serving().await
        })
    });
}

// ----- what the properties found, answer by answer -----------------------------------------------

/// One call and its answer: method, path, bearer, body, status, and the error code (Graph) or
/// error (OAuth).
type Expected<'a> = (
    Method,
    String,
    Option<&'a str>,
    Option<(Vec<u8>, &'a str)>,
    u16,
    &'a str,
);

/// Each hostile input the properties found answered wrongly (a plain-text 400, a 2xx, a 400
/// where OAuth says 401), with the answer it gets now.
#[tokio::test]
async fn each_hostile_input_the_properties_found_gets_its_4xx_json_answer() {
    let app = spawn_app(at(START), 53).await.unwrap();
    let tenant = app.create_tenant("Regression Ltd", None).await.unwrap();
    let graph = app.graph_token(&tenant).await.unwrap();
    let connector = install_body(
        &app,
        &tenant,
        &json!({"machineName": "REGRESSION-01", "displayName": "REGRESSION-01",
            "features": ["pkcs", "revocation"], "version": VERSION}),
    )
    .await;
    let t = tenant.id.as_str();
    let (_, device) = self_signed("regression-device");
    let pem = String::from_utf8(device.to_pem().unwrap()).unwrap();
    let long = |n: usize| "x".repeat(n);
    let revoke =
        |payload: &str| format!(r#"{{"kind": "revoke", "payload": {payload}}}"#).into_bytes();
    let pkcs = |extra: Value| {
        let mut payload = json!({"subject": "CN=d", "template": "IntuneDevice",
            "certificationAuthority": "ca01\\Issuing CA", "deviceKeyCertificate": pem});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        json!({"kind": "pkcs_create", "payload": payload})
            .to_string()
            .into_bytes()
    };
    let health = |features: Value, counters: &str| {
        format!(
            r#"{{"version": "{VERSION}", "features": {features}, "enrolledDateTime": "{START}", "importKeyConfigured": false, "counters": {counters}}}"#
        )
        .into_bytes()
    };
    let details = format!(
        "/beta/deviceManagement/certificateConnectorDetails/{}",
        connector.id
    );
    let form = |body: &str| {
        Some((
            body.as_bytes().to_vec(),
            "application/x-www-form-urlencoded",
        ))
    };
    let token_url = format!("/{t}/oauth2/v2.0/token");
    let creds = format!(
        "client_id={}&client_secret={}",
        tenant.client_id,
        tenant.client_secret.as_deref().unwrap()
    );
    let op = Some(OPERATOR_TOKEN);
    let g = Some(graph.as_str());
    let c = Some(connector.credential.as_str());
    let json = |bytes: Vec<u8>| Some((bytes, "application/json"));
    // (method, path, bearer, body, status, error code (Graph) or error (OAuth))
    let cases: Vec<Expected<'_>> = vec![
        // Path parameters that are not UTF-8: a plain-text 400 before.
        (Method::DELETE, "/admin/faults/%FF".into(), op, None, 400, "invalidRequest"),
        (Method::GET, "/admin/tenants/%C3/connectors".into(), op, None, 400, "invalidRequest"),
        (Method::GET, "/beta/deviceManagement/ndesConnectors/%ED%A0%80".into(), g, None, 400, "invalidRequest"),
        // Query strings: a plain-text 400, or a 200, before.
        (Method::GET, format!("/admin/tenants/{t}/jobs?top=abc"), op, None, 400, "InvalidQuery"),
        (Method::GET, format!("/admin/tenants/{t}/jobs?skip=0&skip=1"), op, None, 400, "InvalidQuery"),
        (Method::GET, "/admin/tenants?x=%FF".into(), op, None, 400, "invalidRequest"),
        (Method::GET, format!("/admin/journal?correlationId={}", long(129)), op, None, 400, "InvalidQuery"),
        (Method::GET, format!("/admin/journal?route={}", long(257)), op, None, 400, "InvalidQuery"),
        (Method::GET, "/beta/deviceManagement/ndesConnectors?$top=5&$top=6".into(), g, None, 400, "invalidRequest"),
        (Method::GET, "/beta/deviceManagement/certificateConnectorDetails?$select=".into(), g, None, 400, "invalidRequest"),
        (Method::GET, format!("/beta/deviceManagement/ndesConnectors?$filter=state%20eq%20'{}'", long(257)), g, None, 400, "invalidRequest"),
        (Method::GET, "/beta/deviceManagement/userPfxCertificates?$filter=thumbprint%20eq%20'a'&$filter=thumbprint%20eq%20'b'".into(), g, None, 400, "invalidRequest"),
        (Method::GET, "/beta/deviceManagement/ndesConnectors?%FF=1".into(), g, None, 400, "invalidRequest"),
        // Bodies: a 2xx before.
        (Method::POST, "/admin/faults".into(), op, json(br#"{"route": "/connector\u0000", "status": 503}"#.to_vec()), 400, "InvalidFault"),
        (Method::POST, "/admin/tenants".into(), op, json(br#"{"displayName": "Two\u0000Lines"}"#.to_vec()), 400, "InvalidField"),
        (Method::POST, format!("/admin/tenants/{t}/jobs"), op, json(revoke(r#"{"serialNumber": "0A", "serialNumber": "0B", "issuerName": "CN=CA", "certificationAuthority": "ca01\\CA"}"#)), 400, "invalidRequest"),
        (Method::POST, format!("/admin/tenants/{t}/jobs"), op, json(pkcs(json!({"sid": long(100)}))), 400, "InvalidField"),
        (Method::POST, format!("/admin/tenants/{t}/jobs"), op, json(pkcs(json!({"deviceKeyCertificate": format!("{pem}\u{0}x")}))), 400, "InvalidCertificate"),
        (Method::POST, format!("/admin/tenants/{t}/scep/challenges"), op, json(json!({"deviceId": "d", "subject": "CN=d", "keySize": 2048, "userId": long(257)}).to_string().into_bytes()), 400, "InvalidField"),
        (Method::POST, "/connector/v1/health".into(), c, json(health(json!(["pkcs\u{0}x"]), "{}")), 400, "UnknownFeature"),
        (Method::POST, "/connector/v1/health".into(), c, json(health(json!(["pkcs"]), r#"{"pkcsSuccess": 1, "pkcsSuccess": 2}"#)), 400, "invalidRequest"),
        (Method::POST, format!("{details}/getHealthMetrics"), g, json(br#"{"metricNames": [], "metricNames": ["pkcsSuccess"]}"#.to_vec()), 400, "invalidRequest"),
        // The token endpoint: a plain-text 400, a 200, or a 400 for no client authentication.
        (Method::POST, token_url.clone(), None, form("grant_type=client_credentials"), 401, "invalid_client"),
        (Method::POST, token_url.clone(), None, Some((b"grant_type=\xff".to_vec(), "application/x-www-form-urlencoded")), 400, "invalid_request"),
        (Method::POST, token_url.clone(), None, form(&format!("grant_type=client_credentials&grant_type=password&{creds}")), 400, "invalid_request"),
        (Method::POST, token_url.clone(), None, form(&format!("grant_type=client_credentials&scope={}&{creds}", long(4097))), 400, "invalid_request"),
        (Method::POST, token_url.clone(), None, form(&format!("grant_type=client_credentials&sc%00ope=x&{creds}")), 400, "invalid_request"),
        (Method::POST, "/%FF/oauth2/v2.0/token".into(), None, form(&format!("grant_type=client_credentials&{creds}")), 400, "invalid_request"),
    ];
    for (method, path, bearer, body, status, code) in cases {
        let context = format!("{method} {path:.120}");
        let (got, text) = send_raw(&app, method, &path, bearer, body).await.unwrap();
        assert_eq!(got, status, "{context}: {text}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{context}: {e}: {text}"));
        if path.contains("oauth2") {
            assert_eq!(body["error"], code, "{context}: {body}");
            assert!(body["error_description"].is_string(), "{context}: {body}");
        } else {
            assert_eq!(body["error"]["code"], code, "{context}: {body}");
            assert!(body["error"]["message"].is_string(), "{context}: {body}");
        }
    }
    // The valid forms of the same calls still work.
    let (status, _) = send_raw(
        &app,
        Method::POST,
        &token_url,
        None,
        form(&format!("grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&{creds}")),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, text) = send_raw(
        &app,
        Method::POST,
        "/connector/v1/health",
        c,
        json(health(
            json!(["pkcs", "revocation"]),
            r#"{"pkcsSuccess": 1}"#,
        )),
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{text}");
    let (status, text) = send_raw(
        &app,
        Method::POST,
        &format!("/admin/tenants/{t}/jobs"),
        op,
        json(pkcs(
            json!({"sid": "S-1-5-21-1004336348-1177238915-682003330-1105"}),
        )),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{text}");
}
