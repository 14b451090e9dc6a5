//! Security matrix: every route the router serves, called with every credential that must not
//! work there (none, a garbage token, the operator token, either tenant's Graph token, either
//! tenant's connector credential, an uninstalled connector's credential, an enrollment secret),
//! answers 401/403/404 in the route's error shape, changes nothing, and never shows one tenant's
//! ids, names or secrets to a caller of the other. Valid callers of list routes see only their
//! own tenant. The table of routes is checked against the `.route(` calls of the router, so a
//! new route without a row fails here.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use connector_sim::pki::{self, KeyAlgorithm, KeyPool};
use reqwest::Method;
use scenarios::harness::{spawn_app, TestApp, OPERATOR_TOKEN};
use serde_json::{json, Value};

use crate::support::{at, install_body, router_routes, self_signed, Installed};

mod matrix;

const START: &str = "2024-10-01T00:00:00Z";
const VERSION: &str = "6.2406.0.1001";
const SCEP: &str =
    "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService";
const PKI: &str = "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService";

/// The credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    /// No `Authorization` header (on the token route: no client id or secret).
    None,
    /// A bearer token nobody issued (on the token route: A's client id with a wrong secret).
    Garbage,
    Operator,
    GraphA,
    /// On the token route: B's client id and secret at A's token URL.
    GraphB,
    ConnectorA,
    ConnectorB,
    /// The credential of A's connector that uninstalled itself.
    Uninstalled,
    EnrollmentA,
}

/// Which credential a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Probes: anyone.
    Public,
    /// The operator token only.
    Operator,
    /// The operator token, or a Graph token of the tenant in the path.
    TenantReader,
    /// A connector's own credential.
    Connector,
    /// A tenant's enrollment secret.
    Enrollment,
    /// The SCEP actions: a connector credential or a Graph token.
    Scep,
    /// A Graph token of a tenant.
    Graph,
    /// The token endpoint: client id and secret in the form.
    ClientSecret,
    /// The web page `GET /`: the operator token as a bearer token, or the page's session cookie.
    /// Without any credential it answers the sign-in form (200).
    PageView,
    /// The web page's sign-in `POST /`: the operator token in the form.
    PageSignIn,
}

/// The error body a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
    Graph,
    /// OAuth2: `{"error","error_description"}`.
    OAuth,
    /// The web page's sign-in form again, in HTML, with an alert that holds the code's text.
    Html,
}

/// One route of the router: method, path template as the router writes it, the path this test
/// calls (placeholders: `{A}` tenant A, `{A.connector}`, `{A.job}`, `{A.challenge}`, `{A.pfx}`,
/// `{fault}`), who may call it, a valid body, and refusals specific to the route (another
/// tenant's valid credential on A's resource).
struct Row {
    method: &'static str,
    template: &'static str,
    path: &'static str,
    auth: Auth,
    body: Option<&'static str>,
    cross: &'static [(Cred, u16, &'static str)],
}

const NOT_B: &[(Cred, u16, &str)] = &[(Cred::GraphB, 404, "itemNotFound")];
const NOT_B_CONNECTOR: &[(Cred, u16, &str)] = &[(Cred::ConnectorB, 404, "itemNotFound")];

const FAULT_BODY: &str = r#"{"route": "/connector/v1/never-called", "status": 503, "count": 1}"#;
const CHALLENGE_BODY: &str =
    r#"{"deviceId": "charlie-device-01", "subject": "CN=charlie-device-01", "keySize": 256}"#;
const COMPLETE_BODY: &str =
    r#"{"leaseToken": "{A.lease}", "outcome": "succeeded", "result": {"revoked": true}}"#;

#[rustfmt::skip]
const ROUTES: &[Row] = &[
    Row { method: "GET", template: "/healthz", path: "/healthz", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/", path: "/", auth: Auth::PageView, body: None, cross: &[] },
    Row { method: "POST", template: "/", path: "/", auth: Auth::PageSignIn, body: None, cross: &[] },
    Row { method: "GET", template: "/readyz", path: "/readyz", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/metrics", path: "/metrics", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/openapi.json", path: "/openapi.json", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/faults", path: "/admin/faults", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/faults", path: "/admin/faults", auth: Auth::Operator, body: Some(FAULT_BODY), cross: &[] },
    Row { method: "DELETE", template: "/admin/faults", path: "/admin/faults", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "DELETE", template: "/admin/faults/{id}", path: "/admin/faults/{fault}", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/journal", path: "/admin/journal?limit=5", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/reset", path: "/admin/reset", auth: Auth::Operator, body: Some(r#"{"tenantId": "{A}"}"#), cross: &[] },
    Row { method: "GET", template: "/admin/clock", path: "/admin/clock", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/clock", path: "/admin/clock", auth: Auth::Operator, body: Some(r#"{"advance": "P30D"}"#), cross: &[] },
    Row { method: "GET", template: "/admin/tenants", path: "/admin/tenants", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/tenants", path: "/admin/tenants", auth: Auth::Operator, body: Some(r#"{"displayName": "Charlie Tenant"}"#), cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}", path: "/admin/tenants/{A}", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "DELETE", template: "/admin/tenants/{tenant_id}", path: "/admin/tenants/{A}", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "PUT", template: "/admin/tenants/{tenant_id}/import-key", path: "/admin/tenants/{A}/import-key", auth: Auth::Operator, body: Some(r#"{"thumbprint": "00112233445566778899aabbccddeeff00112233"}"#), cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/connectors", path: "/admin/tenants/{A}/connectors", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/connectors/{connector_id}", path: "/admin/tenants/{A}/connectors/{A.connector}", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/connectors/{connector_id}/status", path: "/admin/tenants/{A}/connectors/{A.connector}/status", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/connectors/{connector_id}/history", path: "/admin/tenants/{A}/connectors/{A.connector}/history", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/releases", path: "/admin/releases", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/releases", path: "/admin/releases", auth: Auth::Operator, body: Some(r#"{"version": "6.2409.0.1", "releasedDateTime": "2024-09-30T00:00:00Z"}"#), cross: &[] },
    Row { method: "POST", template: "/connector/v1/register", path: "/connector/v1/register", auth: Auth::Enrollment, body: Some(r#"{"machineName": "CHARLIE-SRV-01", "displayName": "Charlie", "features": ["pkcs"], "version": "6.2406.0.1001"}"#), cross: &[] },
    Row { method: "POST", template: "/connector/v1/checkin", path: "/connector/v1/checkin", auth: Auth::Connector, body: Some(r#"{"version": "6.2406.0.1001"}"#), cross: &[] },
    Row { method: "GET", template: "/autoupdate/v1/latest", path: "/autoupdate/v1/latest", auth: Auth::Connector, body: None, cross: &[] },
    Row { method: "POST", template: "/connector/v1/health", path: "/connector/v1/health", auth: Auth::Connector, body: Some(r#"{"version": "6.2406.0.1001", "features": ["pkcs"], "enrolledDateTime": "2024-10-01T00:00:00Z", "importKeyConfigured": false, "counters": {"pkcsSuccess": 1}}"#), cross: &[] },
    Row { method: "POST", template: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/validateRequest", path: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/validateRequest", auth: Auth::Scep, body: Some(r#"{"request": {"transactionId": "charlie-tx-1", "certificateRequest": "{A.csr}", "callerInfo": "security-matrix"}}"#), cross: &[] },
    Row { method: "POST", template: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/successNotification", path: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/successNotification", auth: Auth::Scep, body: Some(r#"{"notification": {"transactionId": "alpha-tx-0001", "certificateRequest": "{A.csr}", "certificateThumbprint": "00", "certificateSerialNumber": "01", "certificateExpirationDateUtc": "2025-10-01T00:00:00.000Z", "issuingCertificateAuthority": "CN=CA", "callerInfo": "security-matrix"}}"#), cross: &[] },
    Row { method: "POST", template: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/failureNotification", path: "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/failureNotification", auth: Auth::Scep, body: Some(r#"{"notification": {"transactionId": "alpha-tx-0001", "certificateRequest": "{A.csr}", "hResult": -2147418113, "errorDescription": "denied", "callerInfo": "security-matrix"}}"#), cross: &[] },
    Row { method: "POST", template: "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests/downloadRevocationRequests", path: "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests/downloadRevocationRequests", auth: Auth::Graph, body: Some(r#"{"downloadParameters": {"maxRequests": 10, "issuerName": null}}"#), cross: &[] },
    Row { method: "POST", template: "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests/uploadRevocationResults", path: "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests/uploadRevocationResults", auth: Auth::Graph, body: Some(r#"{"results": [{"requestContext": "{A.ca}", "succeeded": true, "errorCode": 0, "errorMessage": null}]}"#), cross: &[] },
    Row { method: "GET", template: "/v1.0/servicePrincipals/{key}/endpoints", path: "/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints", auth: Auth::Graph, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/tenants/{tenant_id}/scep/challenges", path: "/admin/tenants/{A}/scep/challenges", auth: Auth::Operator, body: Some(CHALLENGE_BODY), cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/scep/challenges/{id}", path: "/admin/tenants/{A}/scep/challenges/{A.challenge}", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "DELETE", template: "/admin/tenants/{tenant_id}/scep/challenges/{id}", path: "/admin/tenants/{A}/scep/challenges/{A.challenge}", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "POST", template: "/connector/v1/jobs/lease", path: "/connector/v1/jobs/lease", auth: Auth::Connector, body: Some(r#"{"max": 10, "kinds": ["revoke"]}"#), cross: &[] },
    Row { method: "POST", template: "/connector/v1/jobs/complete", path: "/connector/v1/jobs/complete", auth: Auth::Connector, body: Some(r#"{"completions": [{"jobId": "{A.job}", "leaseToken": "{A.lease}", "outcome": "succeeded", "result": {"revoked": true}}]}"#), cross: &[] },
    Row { method: "POST", template: "/connector/v1/jobs/{job_id}/complete", path: "/connector/v1/jobs/{A.job}/complete", auth: Auth::Connector, body: Some(COMPLETE_BODY), cross: NOT_B_CONNECTOR },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/jobs", path: "/admin/tenants/{A}/jobs?state=leased", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/tenants/{tenant_id}/jobs", path: "/admin/tenants/{A}/jobs", auth: Auth::Operator, body: Some(r#"{"kind": "revoke", "payload": {"serialNumber": "0C01", "issuerName": "CN=Charlie CA", "certificationAuthority": "ca01\\Charlie CA"}}"#), cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/jobs/{job_id}", path: "/admin/tenants/{A}/jobs/{A.job}", auth: Auth::TenantReader, body: None, cross: &[] },
    Row { method: "POST", template: "/admin/tenants/{tenant_id}/jobs/{job_id}/cancel", path: "/admin/tenants/{A}/jobs/{A.job}/cancel", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "GET", template: "/admin/tenants/{tenant_id}/jobs/{job_id}/device-key", path: "/admin/tenants/{A}/jobs/{A.job}/device-key", auth: Auth::Operator, body: None, cross: &[] },
    Row { method: "GET", template: "/connector/v1/self", path: "/connector/v1/self", auth: Auth::Connector, body: None, cross: &[] },
    Row { method: "PATCH", template: "/connector/v1/self", path: "/connector/v1/self", auth: Auth::Connector, body: Some(r#"{"displayName": "renamed by an intruder"}"#), cross: &[] },
    Row { method: "DELETE", template: "/connector/v1/self", path: "/connector/v1/self", auth: Auth::Connector, body: None, cross: &[] },
    Row { method: "POST", template: "/{tenant_id}/oauth2/v2.0/token", path: "/{A}/oauth2/v2.0/token", auth: Auth::ClientSecret, body: None, cross: &[] },
    Row { method: "GET", template: "/{tenant_id}/v2.0/.well-known/openid-configuration", path: "/{A}/v2.0/.well-known/openid-configuration", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/{tenant_id}/discovery/v2.0/keys", path: "/{A}/discovery/v2.0/keys", auth: Auth::Public, body: None, cross: &[] },
    Row { method: "GET", template: "/beta/deviceManagement/ndesConnectors", path: "/beta/deviceManagement/ndesConnectors", auth: Auth::Graph, body: None, cross: &[] },
    Row { method: "GET", template: "/beta/deviceManagement/ndesConnectors/{id}", path: "/beta/deviceManagement/ndesConnectors/{A.connector}", auth: Auth::Graph, body: None, cross: NOT_B },
    Row { method: "GET", template: "/beta/deviceManagement/certificateConnectorDetails", path: "/beta/deviceManagement/certificateConnectorDetails", auth: Auth::Graph, body: None, cross: &[] },
    Row { method: "POST", template: "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetrics", path: "/beta/deviceManagement/certificateConnectorDetails/{A.connector}/getHealthMetrics", auth: Auth::Graph, body: Some(r#"{"metricNames": ["revokeSuccess"]}"#), cross: NOT_B },
    Row { method: "POST", template: "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetricTimeSeries", path: "/beta/deviceManagement/certificateConnectorDetails/{A.connector}/getHealthMetricTimeSeries", auth: Auth::Graph, body: Some(r#"{"timeSeries": {"metricName": "revoke", "startDateTime": "2024-09-30T00:00:00Z", "endDateTime": "2024-10-02T00:00:00Z"}}"#), cross: NOT_B },
    Row { method: "GET", template: "/beta/deviceManagement/connectorStatus", path: "/beta/deviceManagement/connectorStatus", auth: Auth::Graph, body: None, cross: &[] },
    Row { method: "GET", template: "/beta/deviceManagement/certificateConnectorDetails/{id}", path: "/beta/deviceManagement/certificateConnectorDetails/{A.connector}", auth: Auth::Graph, body: None, cross: NOT_B },
    Row { method: "GET", template: "/beta/deviceManagement/userPfxCertificates", path: "/beta/deviceManagement/userPfxCertificates", auth: Auth::Graph, body: None, cross: &[] },
    Row { method: "POST", template: "/beta/deviceManagement/userPfxCertificates", path: "/beta/deviceManagement/userPfxCertificates", auth: Auth::Graph, body: Some("{A.pfx_upload}"), cross: &[] },
    Row { method: "GET", template: "/beta/deviceManagement/userPfxCertificates/{id}", path: "/beta/deviceManagement/userPfxCertificates/{A.pfx}", auth: Auth::Graph, body: None, cross: NOT_B },
    Row { method: "PATCH", template: "/beta/deviceManagement/userPfxCertificates/{id}", path: "/beta/deviceManagement/userPfxCertificates/{A.pfx}", auth: Auth::Graph, body: Some("{A.pfx_upload}"), cross: NOT_B },
    Row { method: "DELETE", template: "/beta/deviceManagement/userPfxCertificates/{id}", path: "/beta/deviceManagement/userPfxCertificates/{A.pfx}", auth: Auth::Graph, body: None, cross: NOT_B },
    Row { method: "GET", template: "/beta/deviceManagement/{keyed}", path: "/beta/deviceManagement/userPfxCertificates('{A.pfx}')", auth: Auth::Graph, body: None, cross: NOT_B },
    Row { method: "PATCH", template: "/beta/deviceManagement/{keyed}", path: "/beta/deviceManagement/userPfxCertificates({A.pfx})", auth: Auth::Graph, body: Some("{A.pfx_upload}"), cross: NOT_B },
    Row { method: "DELETE", template: "/beta/deviceManagement/{keyed}", path: "/beta/deviceManagement/userPfxCertificates('{A.pfx}')", auth: Auth::Graph, body: None, cross: NOT_B },
];

/// The credentials a kind of route refuses, with the status and error code each gets.
fn refusals(auth: Auth) -> &'static [(Cred, u16, &'static str)] {
    const U: &str = "unauthenticated";
    const G: &str = "InvalidAuthenticationToken";
    const O: &str = "invalid_client";
    const P: &str = "operator token is not valid";
    match auth {
        Auth::Public => &[],
        Auth::PageView => &[
            (Cred::Garbage, 401, P),
            (Cred::GraphA, 401, P),
            (Cred::GraphB, 401, P),
            (Cred::ConnectorA, 401, P),
            (Cred::ConnectorB, 401, P),
            (Cred::Uninstalled, 401, P),
            (Cred::EnrollmentA, 401, P),
        ],
        Auth::PageSignIn => &[
            (Cred::None, 401, P),
            (Cred::Garbage, 401, P),
            (Cred::GraphA, 401, P),
            (Cred::GraphB, 401, P),
            (Cred::ConnectorA, 401, P),
            (Cred::ConnectorB, 401, P),
            (Cred::Uninstalled, 401, P),
            (Cred::EnrollmentA, 401, P),
        ],
        Auth::Operator => &[
            (Cred::None, 401, U),
            (Cred::Garbage, 401, U),
            (Cred::GraphA, 401, U),
            (Cred::GraphB, 401, U),
            (Cred::ConnectorA, 401, U),
            (Cred::ConnectorB, 401, U),
            (Cred::Uninstalled, 401, U),
            (Cred::EnrollmentA, 401, U),
        ],
        Auth::TenantReader => &[
            (Cred::None, 401, U),
            (Cred::Garbage, 401, U),
            (Cred::GraphB, 403, "accessDenied"),
            (Cred::ConnectorA, 401, U),
            (Cred::ConnectorB, 401, U),
            (Cred::Uninstalled, 401, U),
            (Cred::EnrollmentA, 401, U),
        ],
        Auth::Connector => &[
            (Cred::None, 401, U),
            (Cred::Garbage, 401, U),
            (Cred::Operator, 401, U),
            (Cred::GraphA, 401, U),
            (Cred::GraphB, 401, U),
            (Cred::Uninstalled, 401, U),
            (Cred::EnrollmentA, 401, U),
        ],
        Auth::Enrollment => &[
            (Cred::None, 401, U),
            (Cred::Garbage, 401, U),
            (Cred::Operator, 401, U),
            (Cred::GraphA, 401, U),
            (Cred::GraphB, 401, U),
            (Cred::ConnectorA, 401, U),
            (Cred::Uninstalled, 401, U),
        ],
        Auth::Scep => &[
            (Cred::None, 401, U),
            (Cred::Garbage, 401, U),
            (Cred::Operator, 401, U),
            (Cred::Uninstalled, 401, U),
            (Cred::EnrollmentA, 401, U),
        ],
        Auth::Graph => &[
            (Cred::None, 401, G),
            (Cred::Garbage, 401, G),
            (Cred::Operator, 401, G),
            (Cred::ConnectorA, 401, G),
            (Cred::ConnectorB, 401, G),
            (Cred::Uninstalled, 401, G),
            (Cred::EnrollmentA, 401, G),
        ],
        Auth::ClientSecret => &[
            (Cred::None, 401, O),
            (Cred::Garbage, 401, O),
            (Cred::GraphB, 401, O),
            (Cred::Operator, 401, O),
            (Cred::ConnectorA, 401, O),
            (Cred::Uninstalled, 401, O),
            (Cred::EnrollmentA, 401, O),
        ],
    }
}

fn shape(auth: Auth) -> Shape {
    match auth {
        Auth::ClientSecret => Shape::OAuth,
        Auth::PageView | Auth::PageSignIn => Shape::Html,
        _ => Shape::Graph,
    }
}

// ----- the world: two tenants, each with a connector, jobs, a SCEP challenge and a user PFX -----

/// One tenant and everything it owns.
struct Side {
    tenant: wire::admin::Tenant,
    graph: String,
    connector: Installed,
    machine: String,
    /// Every job of the tenant.
    jobs: Vec<String>,
    /// A revoke job the connector leased, and its lease token.
    leased_job: String,
    lease_token: String,
    /// A revoke job the tenant's third-party CA downloaded, and its `requestContext`.
    ca_context: String,
    challenge: String,
    device: String,
    csr: String,
    pfx: String,
    upn: String,
    pfx_upload: String,
}

impl Side {
    /// Ids, names and secrets of this tenant: none may reach the other tenant's callers.
    fn strings(&self) -> Vec<String> {
        let mut out = vec![
            self.tenant.id.clone(),
            self.tenant.display_name.clone(),
            self.tenant.client_id.clone(),
            self.tenant.enrollment_secret.clone().unwrap(),
            self.tenant.client_secret.clone().unwrap(),
            self.graph.clone(),
            self.connector.id.clone(),
            self.connector.credential.clone(),
            self.machine.clone(),
            self.lease_token.clone(),
            self.challenge.clone(),
            self.device.clone(),
            self.pfx.clone(),
            self.upn.clone(),
        ];
        out.extend(self.jobs.iter().cloned());
        out
    }
}

struct World {
    app: TestApp,
    a: Side,
    b: Side,
    uninstalled: Installed,
    fault: String,
}

async fn side(app: &TestApp, display_name: &str, prefix: &str) -> Side {
    let tenant = app.create_tenant(display_name, None).await.unwrap();
    let graph = app.graph_token(&tenant).await.unwrap();
    let machine = format!("{}-SRV-01", prefix.to_uppercase());
    let connector = install_body(
        app,
        &tenant,
        &json!({"machineName": machine, "displayName": format!("{machine} connector"),
                "features": ["pkcs", "pkcs_import", "revocation", "scep"], "version": VERSION}),
    )
    .await;
    let cred = Some(connector.credential.as_str());
    let checkin = app
        .request(
            Method::POST,
            "/connector/v1/checkin",
            cred,
            Some(&json!({ "version": VERSION })),
        )
        .await
        .unwrap();
    assert_eq!(checkin.status, 200, "{}", checkin.body);
    let health = json!({"version": VERSION, "features": ["pkcs", "pkcs_import", "revocation", "scep"],
        "enrolledDateTime": START, "importKeyConfigured": false, "counters": {"revokeSuccess": 2}});
    let uploaded = app
        .request(Method::POST, "/connector/v1/health", cred, Some(&health))
        .await
        .unwrap();
    assert_eq!(uploaded.status, 204, "{}", uploaded.body);

    let revoke = |serial: &str| {
        json!({"kind": "revoke", "payload": {"serialNumber": serial,
            "issuerName": format!("CN={display_name} CA"), "certificationAuthority": format!("ca01\\{display_name} CA")}})
    };
    let enqueued = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", tenant.id),
            Some(&json!({"jobs": [revoke("0A01"), revoke("0A02")]})),
        )
        .await
        .unwrap();
    assert_eq!(enqueued.status, 201, "{}", enqueued.body);
    let jobs: Vec<String> = enqueued.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    let leased = app
        .request(
            Method::POST,
            "/connector/v1/jobs/lease",
            cred,
            Some(&json!({"max": 1, "kinds": ["revoke"]})),
        )
        .await
        .unwrap();
    assert_eq!(leased.status, 200, "{}", leased.body);
    let leased_job = leased.body["jobs"][0]["id"].as_str().unwrap().to_owned();
    let lease_token = leased.body["jobs"][0]["leaseToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let downloaded = app
        .request(
            Method::POST,
            &format!("{PKI}/CertificateAuthorityRequests/downloadRevocationRequests"),
            Some(&graph),
            Some(&json!({"downloadParameters": {"maxRequests": 10}})),
        )
        .await
        .unwrap();
    assert_eq!(downloaded.status, 200, "{}", downloaded.body);
    let contexts = downloaded.body["value"].as_array().unwrap();
    assert_eq!(contexts.len(), 1, "{}", downloaded.body);
    let ca_context = contexts[0]["requestContext"].as_str().unwrap().to_owned();
    let other_job = jobs.iter().find(|j| **j != leased_job).unwrap();
    assert!(
        ca_context.starts_with(&format!("{other_job}:")),
        "{ca_context}"
    );

    let device = format!("{prefix}-device-01");
    let subject = format!("CN={device}");
    let created = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/scep/challenges", tenant.id),
            Some(&json!({"deviceId": device, "subject": subject, "keySize": 256})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let challenge = created.body["id"].as_str().unwrap().to_owned();
    let blob = created.body["challenge"].as_str().unwrap();
    let key = KeyPool::new().generate(KeyAlgorithm::P256).unwrap();
    let csr = B64.encode(
        pki::certificate_request_with_challenge(&key, &subject, Some(blob), vec![]).unwrap(),
    );
    let validated = app
        .request(
            Method::POST,
            &format!("{SCEP}/ScepActions/validateRequest"),
            Some(&graph),
            Some(&json!({"request": {"transactionId": format!("{prefix}-tx-0001"), "certificateRequest": csr, "callerInfo": "setup"}})),
        )
        .await
        .unwrap();
    assert_eq!(validated.status, 200, "{}", validated.body);
    assert_eq!(validated.body["code"], "Success", "{}", validated.body);

    let upn = format!("{prefix}.user@{prefix}.example");
    let (user_key, user_cert) = self_signed(&format!("{prefix} user"));
    let pfx = pki::build_pfx(&user_key, &user_cert, &user_cert, "pw").unwrap();
    let upload = json!({
        "thumbprint": pki::thumbprint(&user_cert).unwrap(),
        "intendedPurpose": "smimeEncryption",
        "userPrincipalName": upn,
        "providerName": "Microsoft Software Key Storage Provider",
        "keyName": "PfxImportKey",
        "paddingScheme": "oaepSha512",
        "encryptedPfxBlob": B64.encode(pfx),
        "encryptedPfxPassword": B64.encode([7u8; 256]),
    });
    let uploaded = app
        .request(
            Method::POST,
            "/beta/deviceManagement/userPfxCertificates",
            Some(&graph),
            Some(&upload),
        )
        .await
        .unwrap();
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let pfx = uploaded.body["id"].as_str().unwrap().to_owned();
    Side {
        tenant,
        graph,
        connector,
        machine,
        jobs,
        leased_job,
        lease_token,
        ca_context,
        challenge,
        device,
        csr,
        pfx,
        upn,
        pfx_upload: upload.to_string(),
    }
}

async fn world() -> World {
    let app = spawn_app(at(START), 43).await.unwrap();
    let a = side(&app, "Alpha Contoso Ltd", "alpha").await;
    let b = side(&app, "Bravo Fabrikam Ltd", "bravo").await;
    let uninstalled = install_body(
        &app,
        &a.tenant,
        &json!({"machineName": "ALPHA-SRV-OLD", "displayName": "ALPHA-SRV-OLD connector",
                "features": ["pkcs", "scep"], "version": VERSION}),
    )
    .await;
    let gone = app
        .request::<()>(
            Method::DELETE,
            "/connector/v1/self",
            Some(&uninstalled.credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(gone.status, 204, "{}", gone.body);
    let fault = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "/connector/v1/never-called", "status": 503})),
        )
        .await
        .unwrap();
    assert_eq!(fault.status, 201, "{}", fault.body);
    let fault = fault.body["id"].as_str().unwrap().to_owned();
    World {
        app,
        a,
        b,
        uninstalled,
        fault,
    }
}

/// `application/x-www-form-urlencoded` escaping of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Who a caller is, for the leak check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Anonymous,
    A,
    B,
    Operator,
}

impl Cred {
    fn viewer(self) -> Viewer {
        match self {
            Cred::None | Cred::Garbage => Viewer::Anonymous,
            Cred::Operator => Viewer::Operator,
            Cred::GraphA | Cred::ConnectorA | Cred::Uninstalled | Cred::EnrollmentA => Viewer::A,
            Cred::GraphB | Cred::ConnectorB => Viewer::B,
        }
    }
}

impl World {
    fn bearer(&self, cred: Cred) -> Option<String> {
        match cred {
            Cred::None => None,
            Cred::Garbage => Some("tok-not-issued-by-anyone-0000000000".to_owned()),
            Cred::Operator => Some(OPERATOR_TOKEN.to_owned()),
            Cred::GraphA => Some(self.a.graph.clone()),
            Cred::GraphB => Some(self.b.graph.clone()),
            Cred::ConnectorA => Some(self.a.connector.credential.clone()),
            Cred::ConnectorB => Some(self.b.connector.credential.clone()),
            Cred::Uninstalled => Some(self.uninstalled.credential.clone()),
            Cred::EnrollmentA => self.a.tenant.enrollment_secret.clone(),
        }
    }

    /// The token form for `cred` at A's token URL.
    fn token_form(&self, cred: Cred) -> String {
        let a = &self.a.tenant;
        let pairs: Vec<(&str, String)> = match cred {
            Cred::None => vec![],
            Cred::Garbage => vec![
                ("client_id", a.client_id.clone()),
                ("client_secret", "not-the-secret".to_owned()),
            ],
            Cred::GraphA => vec![
                ("client_id", a.client_id.clone()),
                ("client_secret", a.client_secret.clone().unwrap()),
            ],
            Cred::GraphB => vec![
                ("client_id", self.b.tenant.client_id.clone()),
                (
                    "client_secret",
                    self.b.tenant.client_secret.clone().unwrap(),
                ),
            ],
            other => vec![
                ("client_id", a.client_id.clone()),
                ("client_secret", self.bearer(other).unwrap()),
            ],
        };
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", "https://graph.microsoft.com/.default".to_owned()),
        ];
        form.extend(pairs);
        form.iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A template with this world's ids in place of the placeholders.
    fn fill(&self, text: &str) -> String {
        text.replace("{A.connector}", &self.a.connector.id)
            .replace("{A.job}", &self.a.leased_job)
            .replace("{A.lease}", &self.a.lease_token)
            .replace("{A.ca}", &self.a.ca_context)
            .replace("{A.challenge}", &self.a.challenge)
            .replace("{A.csr}", &self.a.csr)
            .replace("{A.pfx_upload}", &self.a.pfx_upload)
            .replace("{A.pfx}", &self.a.pfx)
            .replace("{A}", &self.a.tenant.id)
            .replace("{fault}", &self.fault)
    }

    /// What `viewer` must never read, unless it sent it itself (`request`).
    fn forbidden(&self, viewer: Viewer) -> Vec<String> {
        let mut a = self.a.strings();
        a.push(self.uninstalled.id.clone());
        a.push(self.uninstalled.credential.clone());
        a.push("ALPHA-SRV-OLD".to_owned());
        let b = self.b.strings();
        match viewer {
            Viewer::Operator => vec![],
            Viewer::A => b,
            Viewer::B => a,
            Viewer::Anonymous => a.into_iter().chain(b).collect(),
        }
    }

    fn assert_no_leak(&self, viewer: Viewer, request: &str, answer: &str, context: &str) {
        if let Err(problem) = self.leaks(viewer, request, answer, context) {
            panic!("{problem}");
        }
    }

    /// `Err` names the first string of the wrong tenant the answer shows.
    fn leaks(
        &self,
        viewer: Viewer,
        request: &str,
        answer: &str,
        context: &str,
    ) -> Result<(), String> {
        for secret in self.forbidden(viewer) {
            if !request.contains(&secret) && answer.contains(&secret) {
                return Err(format!(
                    "{context}: the answer to a {viewer:?} caller shows `{secret}`: {answer}"
                ));
            }
        }
        Ok(())
    }
}

/// An answer with what the checks need: status, content type, `request-id` and the raw text.
struct Reply {
    status: u16,
    content_type: String,
    request_id: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<(&str, String)>,
    client_request_id: &str,
) -> Reply {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base_url))
        .header("client-request-id", client_request_id);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, text)) = body {
        request = request.header("content-type", content_type).body(text);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let request_id = header("request-id");
    let text = response.text().await.expect("a body");
    Reply {
        status,
        content_type,
        request_id,
        text,
    }
}

/// The error body is the route's error shape with `code`, a message, and the request ids.
fn assert_error_shape(
    reply: &Reply,
    shape: Shape,
    code: &str,
    client_request_id: &str,
    context: &str,
) {
    if let Err(problem) = error_shape(reply, shape, code, client_request_id, context) {
        panic!("{problem}");
    }
}

fn error_shape(
    reply: &Reply,
    shape: Shape,
    code: &str,
    client_request_id: &str,
    context: &str,
) -> Result<(), String> {
    let fail = |what: &str| {
        Err(format!(
            "{context}: {what}: {} {}",
            reply.status, reply.text
        ))
    };
    if shape == Shape::Html {
        if reply.content_type != "text/html; charset=utf-8" {
            return fail(&format!("content-type `{}`", reply.content_type));
        }
        if !reply.text.contains("<p class=\"message\" role=\"alert\">")
            || !reply.text.contains(code)
        {
            return fail(&format!("no alert that says `{code}`"));
        }
        if !reply.text.contains("<input id=\"token\" name=\"token\"") {
            return fail("not the sign-in form");
        }
        return Ok(());
    }
    if !reply.content_type.starts_with("application/json") {
        return fail(&format!("content-type `{}`", reply.content_type));
    }
    let Ok(body) = serde_json::from_str::<Value>(&reply.text) else {
        return fail("not JSON");
    };
    let text = |v: &Value| v.as_str().is_some_and(|m| !m.is_empty());
    match shape {
        Shape::Graph => {
            let inner = &body["error"]["innerError"];
            if body["error"]["code"] != code {
                return fail(&format!("not the code {code}"));
            }
            if !text(&body["error"]["message"]) {
                return fail("no message");
            }
            if reply.request_id.is_empty() || inner["request-id"] != reply.request_id.as_str() {
                return fail("request-id header and innerError differ");
            }
            if inner["client-request-id"] != client_request_id {
                return fail("client-request-id not echoed");
            }
            if !inner["date"].as_str().is_some_and(|d| d.ends_with('Z')) {
                return fail("no innerError.date");
            }
        }
        Shape::Html => unreachable!("answered above"),
        Shape::OAuth => {
            if body["error"] != code {
                return fail(&format!("not the OAuth error {code}"));
            }
            if !text(&body["error_description"]) {
                return fail("no error_description");
            }
        }
    }
    Ok(())
}

/// Everything an operator can read about both tenants and the service: the matrix must leave
/// it as it was.
async fn snapshot(w: &World) -> Value {
    let get = |path: String| async move {
        let answer = w.app.admin_get(&path).await.unwrap();
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    };
    let mut out = json!({
        "tenants": get("/admin/tenants".into()).await,
        "faults": get("/admin/faults".into()).await,
        "clock": get("/admin/clock".into()).await,
        "releases": get("/admin/releases".into()).await,
    });
    for (name, side) in [("A", &w.a), ("B", &w.b)] {
        let t = &side.tenant.id;
        let pfx = w
            .app
            .request::<()>(
                Method::GET,
                "/beta/deviceManagement/userPfxCertificates",
                Some(&side.graph),
                None,
            )
            .await
            .unwrap();
        assert_eq!(pfx.status, 200, "{}", pfx.body);
        out[name] = json!({
            "tenant": get(format!("/admin/tenants/{t}")).await,
            "connectors": get(format!("/admin/tenants/{t}/connectors")).await,
            "jobs": get(format!("/admin/tenants/{t}/jobs?top=1000")).await,
            "challenge": get(format!("/admin/tenants/{t}/scep/challenges/{}", side.challenge)).await,
            "pfx": pfx.body,
        });
    }
    out
}

// ----- the table covers the router -------------------------------------------------------------

#[test]
fn the_matrix_has_a_row_for_every_route_of_the_router() {
    let served = router_routes();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "a route is in the table twice");
    let missing: Vec<_> = served.difference(&table).collect();
    let extra: Vec<_> = table.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes without a row: {missing:?}; rows without a route: {extra:?}"
    );
    assert_eq!(served.len(), 67);
    // Every row that takes a body has one, and the placeholders are ours.
    for row in ROUTES {
        for placeholder in row.path.split('{').skip(1) {
            let name = placeholder.split('}').next().unwrap();
            assert!(
                ["A", "A.connector", "A.job", "A.challenge", "A.pfx", "fault"].contains(&name),
                "{}: unknown placeholder {name}",
                row.path
            );
        }
    }
}
