//! Replays `tests/fixtures/intune-clients/*.http` — requests written by hand as Microsoft's Java
//! and C# CsrValidation clients and MSAL send them (docs/behaviour.md, "Wire shapes") — byte for
//! byte, in order, and checks each answer against the file's literal expectations.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::at;

/// One exchange as a fixture file writes it.
#[derive(Debug)]
struct Exchange {
    name: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
    expect: Vec<(String, Value)>,
}

fn parse(name: &str, text: &str) -> Exchange {
    let (request, expect) = text
        .split_once("\n### expect\n")
        .unwrap_or_else(|| panic!("{name}: no `### expect` line"));
    let mut lines = request.lines().skip_while(|l| l.starts_with('#'));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{name}: no request line"));
    let (method, path) = first
        .split_once(' ')
        .unwrap_or_else(|| panic!("{name}: `{first}` is not `METHOD /path`"));
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{name}: header `{line}` is not `Name: value`"));
        headers.push((k.to_owned(), v.to_owned()));
    }
    let body = lines.collect::<Vec<_>>().join("\n");
    let mut status = 0;
    let mut checks = Vec::new();
    for line in expect.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(code) = line.strip_prefix("status ") {
            status = code.trim().parse().unwrap();
        } else {
            let (pointer, value) = line
                .split_once(" = ")
                .unwrap_or_else(|| panic!("{name}: `{line}` is not `/pointer = value`"));
            let value: Value = serde_json::from_str(value)
                .unwrap_or_else(|e| panic!("{name}: `{value}` is not JSON: {e}"));
            checks.push((pointer.to_owned(), value));
        }
    }
    Exchange {
        name: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body,
        status,
        expect: checks,
    }
}

fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    values.iter().fold(text.to_owned(), |acc, (k, v)| {
        acc.replace(&format!("{{{k}}}"), v)
    })
}

#[tokio::test]
async fn the_real_clients_requests_get_the_reference_answers() {
    let app = crate::support::app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    // A device targeted by a SCEP profile, and its CSR with the challenge.
    let created = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/scep/challenges", tenant.id),
            Some(&json!({"deviceId": "device-0001", "subject": "CN=device-0001", "keySize": 2048})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let key = connector_sim::pki::KeyPool::new()
        .generate(connector_sim::pki::KeyAlgorithm::Rsa2048)
        .unwrap();
    let csr = connector_sim::pki::certificate_request_with_challenge(
        &key,
        "CN=device-0001",
        created.body["challenge"].as_str(),
        Vec::new(),
    )
    .unwrap();
    // Three revocations for third-party CAs.
    for (serial, issuer) in [
        ("0a01", "CN=Contoso Issuing CA"),
        ("0a02", "CN=Contoso Issuing CA"),
        ("0b01", "CN=Other CA"),
    ] {
        let body = json!({"kind": "revoke", "payload": {"serialNumber": serial, "issuerName": issuer, "certificationAuthority": "DigiCert"}});
        let answer = app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/jobs", tenant.id),
                Some(&body),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    assert_eq!(app.now(), at("2026-03-01T00:00:00Z"));

    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    values.insert("tenant", tenant.id.clone());
    values.insert("client_id", tenant.client_id.clone());
    values.insert("client_secret", tenant.client_secret.clone().unwrap());
    values.insert(
        "csr",
        base64::engine::general_purpose::STANDARD.encode(&csr),
    );

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/intune-clients");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12, "every fixture is replayed");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let exchange = parse(&name, &std::fs::read_to_string(&file).unwrap());
        let url = format!("{}{}", app.base_url, fill(&exchange.path, &values));
        let mut request = app
            .http
            .request(Method::from_bytes(exchange.method.as_bytes()).unwrap(), url);
        for (k, v) in &exchange.headers {
            request = request.header(k, fill(v, &values));
        }
        let response = request
            .body(fill(&exchange.body, &values))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, exchange.status, "{}: {answer}", exchange.name);
        for (pointer, expected) in &exchange.expect {
            assert_eq!(
                answer.pointer(pointer),
                Some(expected),
                "{} {pointer}: {answer}",
                exchange.name
            );
        }
        // What later files refer to.
        if let Some(token) = answer["access_token"].as_str() {
            values.insert("token", token.to_owned());
        }
        if name.contains("discovery") {
            for endpoint in answer["value"].as_array().unwrap() {
                let uri = endpoint["uri"].as_str().unwrap();
                let path = uri.strip_prefix(&app.base_url).unwrap().to_owned();
                match endpoint["providerName"].as_str().unwrap() {
                    "ScepRequestValidationFEService" => values.insert("scep", path),
                    _ => values.insert("pki", path),
                };
            }
        }
        if name.contains("download") {
            for (i, key) in ["context0", "context1"].into_iter().enumerate() {
                if let Some(context) = answer["value"][i]["requestContext"].as_str() {
                    values.insert(key, context.to_owned());
                }
            }
        }
    }
    // What the uploads said reached the jobs.
    let jobs = app
        .admin_get(&format!("/admin/tenants/{}/jobs?kind=revoke", tenant.id))
        .await
        .unwrap();
    let mut states: Vec<(String, String, Value)> = jobs.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["payload"]["serialNumber"].as_str().unwrap().to_owned(),
                j["state"].as_str().unwrap().to_owned(),
                j["errorCode"].clone(),
            )
        })
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        states,
        [
            ("0a01".to_owned(), "succeeded".to_owned(), Value::Null),
            (
                "0a02".to_owned(),
                "failed".to_owned(),
                json!("CertificateNotFoundError")
            ),
            (
                "0b01".to_owned(),
                "failed".to_owned(),
                json!("CertificateNotFoundError")
            ),
        ]
    );
}
