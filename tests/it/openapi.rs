//! `GET /openapi.json`: the OpenAPI 3.1 document the service generates from its handlers and wire
//! types describes exactly the routes the router serves (read from the router's source), each with
//! an operation id and a success answer, and is itself an API route (no credential, through the
//! API's middleware). `.ci/schemathesis` then holds the service's answers to the document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::{app_at, router_routes};

const START: &str = "2024-10-01T00:00:00Z";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of the document: (METHOD, path) → operation.
fn operations(document: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    out
}

async fn document() -> Value {
    let app = app_at(START).await;
    let response = app
        .http
        .get(format!("{}/openapi.json", app.base_url))
        .header("client-request-id", "openapi-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    // An API route: the envelope middleware set request-id and echoed client-request-id.
    assert!(response.headers().contains_key("request-id"));
    assert_eq!(
        response.headers()["client-request-id"].to_str().unwrap(),
        "openapi-test-1"
    );
    let document: Value = response.json().await.unwrap();
    // … and the journal recorded it.
    let journal = app
        .admin_get("/admin/journal?correlationId=openapi-test-1")
        .await
        .unwrap();
    assert_eq!(journal.status, 200);
    assert_eq!(journal.body["value"][0]["path"], "/openapi.json");
    assert_eq!(journal.body["value"][0]["status"], 200);
    document
}

#[tokio::test]
async fn the_document_describes_every_route_the_router_serves_and_no_other() {
    let document = document().await;
    let described: BTreeSet<(String, String)> = operations(&document).into_keys().collect();
    let served = router_routes();
    let missing: Vec<_> = served.difference(&described).collect();
    let extra: Vec<_> = described.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes the document leaves out: {missing:?}; operations no route serves: {extra:?}"
    );
    assert_eq!(described.len(), 67);
    assert!(described.contains(&("GET".to_owned(), "/openapi.json".to_owned())));
    assert!(described.contains(&(
        "POST".to_owned(),
        "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests/uploadRevocationResults".to_owned()
    )));
}

#[tokio::test]
async fn every_operation_has_a_unique_id_a_success_answer_and_its_path_parameters() {
    let document = document().await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "intune-mock");
    let operations = operations(&document);
    let mut ids = BTreeSet::new();
    for ((method, path), operation) in &operations {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        let statuses: Vec<&String> = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"))
            .keys()
            .collect();
        // The sign-in form answers 303 to `/` when it succeeds; everything else has a 2xx.
        let success = if (method.as_str(), path.as_str()) == ("POST", "/") {
            "3"
        } else {
            "2"
        };
        assert!(
            statuses.iter().any(|s| s.starts_with(success)),
            "{method} {path} has no {success}xx answer: {statuses:?}"
        );
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let templated: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .map(|p| p.split('}').next().unwrap())
            .collect();
        assert_eq!(declared, templated, "{method} {path}: path parameters");
    }
    assert_eq!(ids.len(), 67);
    let id = |method: &str, path: &str| {
        operations[&(method.to_owned(), path.to_owned())]["operationId"].clone()
    };
    assert_eq!(id("GET", "/openapi.json"), "openapi");
    assert_eq!(id("POST", "/connector/v1/register"), "registerConnector");
    assert_eq!(id("POST", "/{tenant_id}/oauth2/v2.0/token"), "issueToken");
    assert_eq!(
        id("GET", "/{tenant_id}/v2.0/.well-known/openid-configuration"),
        "openidConfiguration"
    );
    assert_eq!(id("GET", "/{tenant_id}/discovery/v2.0/keys"), "signingKeys");
}

#[tokio::test]
async fn schemas_say_what_serde_writes_and_reads() {
    let document = document().await;
    let schemas = &document["components"]["schemas"];
    // Requests: camelCase, Option is not required, unknown fields are refused.
    let register = &schemas["RegisterRequest"];
    assert_eq!(
        register["required"],
        json!(["machineName", "displayName", "features", "version"])
    );
    assert_eq!(register["additionalProperties"], false);
    assert_eq!(
        register["properties"]["coInstalledProducts"]["type"],
        json!(["array", "null"])
    );
    // Answers: the secrets are left out of listings, so they are not required.
    assert_eq!(
        schemas["Tenant"]["required"],
        json!([
            "id",
            "displayName",
            "rolloutDelayDays",
            "clientId",
            "createdDateTime"
        ])
    );
    assert_eq!(
        schemas["Tenant"]["properties"]["createdDateTime"]["format"],
        "date-time"
    );
    // Enums are their lower-case strings.
    assert_eq!(schemas["ClockMode"]["enum"], json!(["real", "virtual"]));
    assert_eq!(
        schemas["Status"]["enum"],
        json!(["healthy", "warning", "error"])
    );
    // The Graph error envelope with its kebab-case inner ids.
    assert_eq!(schemas["ErrorEnvelope"]["required"], json!(["error"]));
    assert_eq!(
        schemas["ErrorBody"]["required"],
        json!(["code", "message", "innerError"])
    );
    assert_eq!(
        schemas["InnerError"]["required"],
        json!(["date", "request-id", "client-request-id"])
    );
    // A `$select`ed Graph item keeps only `@odata.type` and `id` required.
    assert_eq!(
        schemas["NdesConnectorSelection"]["required"],
        json!(["@odata.type", "id"])
    );
    assert_eq!(
        schemas["NdesConnector"]["required"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}

#[tokio::test]
async fn credentials_errors_and_content_types_are_described() {
    let document = document().await;
    let schemes: BTreeSet<&str> = document["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        schemes,
        BTreeSet::from([
            "clientSecretBasic",
            "connectorCredential",
            "enrollmentSecret",
            "graphToken",
            "operatorSession",
            "operatorToken"
        ])
    );
    let operations = operations(&document);
    let op = |method: &str, path: &str| &operations[&(method.to_owned(), path.to_owned())];
    assert_eq!(
        op("GET", "/admin/tenants")["security"],
        json!([{"operatorToken": []}])
    );
    assert_eq!(
        op("GET", "/admin/tenants/{tenant_id}/connectors")["security"],
        json!([{"operatorToken": []}, {"graphToken": []}])
    );
    assert_eq!(
        op("POST", "/connector/v1/checkin")["security"],
        json!([{"connectorCredential": []}])
    );
    assert_eq!(
        op("POST", "/connector/v1/register")["security"],
        json!([{"enrollmentSecret": []}])
    );
    assert_eq!(
        op("GET", "/beta/deviceManagement/ndesConnectors")["security"],
        json!([{"graphToken": []}])
    );
    // Probes and this document take no credential.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(op("GET", path).get("security"), None, "{path}");
    }
    // Every operator route says what an unauthenticated call gets: the Graph envelope.
    for ((method, path), operation) in &operations {
        if path.starts_with("/admin/") {
            assert_eq!(
                operation["responses"]["401"]["$ref"], "#/components/responses/Unauthenticated",
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        document["components"]["responses"]["Unauthenticated"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ErrorEnvelope"
    );
    assert_eq!(
        op("POST", "/connector/v1/checkin")["responses"]["429"]["$ref"],
        "#/components/responses/TooManyRequests"
    );
    // Bodies that are not JSON.
    let content_types = |operation: &Value, status: &str| -> Vec<String> {
        operation["responses"][status]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        content_types(op("GET", "/metrics"), "200"),
        ["application/openmetrics-text; version=1.0.0; charset=utf-8"]
    );
    assert_eq!(
        content_types(op("GET", "/"), "200"),
        ["text/html; charset=utf-8"]
    );
    assert_eq!(
        content_types(op("POST", "/"), "401"),
        ["text/html; charset=utf-8"]
    );
    for (method, path) in [("POST", "/"), ("POST", "/{tenant_id}/oauth2/v2.0/token")] {
        let body: Vec<&String> = op(method, path)["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(
            body,
            ["application/x-www-form-urlencoded"],
            "{method} {path}"
        );
    }
    assert_eq!(
        content_types(op("POST", "/{tenant_id}/oauth2/v2.0/token"), "401"),
        ["application/json"]
    );
    assert_eq!(
        op("POST", "/{tenant_id}/oauth2/v2.0/token")["responses"]["401"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/TokenError"
    );
}
