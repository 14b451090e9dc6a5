//! What the properties found, answer by answer: each hostile input that was once answered wrongly,
//! with the answer it gets now.

use super::*;

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
