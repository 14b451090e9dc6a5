//! Connector registration and self-management over HTTP: bad input is refused with its literal
//! code and stores nothing, the per-tenant limit and the one-connector-per-machine rule hold, and a
//! connector can reconfigure, uninstall and be reinstalled.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{
    app_at, at_once, checkin, codes, connector_count, connector_view, connectors,
    enrollment_secret, get, install, install_body, message, register, registration, status, Call,
};

const START: &str = "2022-04-01T00:00:00Z";
const VERSION: &str = "6.2202.38.0";

/// A registration body with one field replaced (or added).
fn with(field: &str, value: Value) -> Value {
    let mut body = registration("SRV-BAD", VERSION);
    body[field] = value;
    body
}

#[tokio::test]
async fn bad_registrations_are_refused_with_their_literal_code_and_store_nothing() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let secret = enrollment_secret(&tenant);
    install(&app, &tenant, "SRV-GOOD", VERSION).await;
    assert_eq!(connector_count(&app, &tenant.id).await, 1);

    let mut missing_version = registration("SRV-BAD", VERSION);
    missing_version.as_object_mut().unwrap().remove("version");

    // (case, bearer, body, status, code, text the message must contain)
    let cases: Vec<(&str, &str, Value, u16, &str, &str)> = vec![
        (
            "two-part version",
            secret,
            with("version", json!("6.22")),
            400,
            "InvalidVersion",
            "6.22",
        ),
        (
            "non-numeric version part",
            secret,
            with("version", json!("6.x.1.0")),
            400,
            "InvalidVersion",
            "6.x.1.0",
        ),
        (
            "unknown feature",
            secret,
            with("features", json!(["ndes"])),
            400,
            "UnknownFeature",
            "ndes",
        ),
        (
            "no features",
            secret,
            with("features", json!([])),
            400,
            "EmptyFeatures",
            "at least one feature",
        ),
        (
            "unknown JSON field",
            secret,
            with("colour", json!("blue")),
            400,
            "invalidRequest",
            "colour",
        ),
        (
            "missing version field",
            secret,
            missing_version,
            400,
            "invalidRequest",
            "version",
        ),
        (
            "features is not a list",
            secret,
            with("features", json!("pkcs")),
            400,
            "invalidRequest",
            "",
        ),
        (
            "blank machine name",
            secret,
            with("machineName", json!("   ")),
            400,
            "InvalidField",
            "machineName",
        ),
        (
            "bad service account",
            secret,
            with("serviceAccount", json!("bob")),
            400,
            "InvalidField",
            "bob",
        ),
        (
            "unknown product",
            secret,
            with("product", json!("ndes-connector")),
            400,
            "InvalidField",
            "ndes-connector",
        ),
        (
            "unknown co-installed product",
            secret,
            with("coInstalledProducts", json!(["sccm"])),
            400,
            "InvalidField",
            "sccm",
        ),
        (
            "short thumbprint",
            secret,
            with("importKeyThumbprint", json!("abc")),
            400,
            "InvalidField",
            "importKeyThumbprint",
        ),
        (
            "proxy that is not http",
            secret,
            with("proxy", json!("ftp://proxy.contoso.com")),
            400,
            "InvalidField",
            "ftp://proxy.contoso.com",
        ),
        (
            "wrong enrollment secret",
            "enr-not-the-secret",
            registration("SRV-BAD", VERSION),
            401,
            "unauthenticated",
            "",
        ),
    ];
    for (case, bearer, body, expected_status, expected_code, text) in cases {
        let answer = register(&app, bearer, &body).await;
        assert_eq!(answer.status, expected_status, "{case}: {}", answer.body);
        assert_eq!(
            answer.error_code(),
            Some(expected_code),
            "{case}: {}",
            answer.body
        );
        assert!(
            message(&answer).contains(text),
            "{case}: the message `{}` does not name `{text}`",
            message(&answer)
        );
        assert_eq!(
            connector_count(&app, &tenant.id).await,
            1,
            "{case} stored something"
        );
    }

    let no_token = app
        .request(
            Method::POST,
            "/connector/v1/register",
            None,
            Some(&registration("SRV-BAD", VERSION)),
        )
        .await
        .unwrap();
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.error_code(), Some("unauthenticated"));
    assert_eq!(connector_count(&app, &tenant.id).await, 1);
}

#[tokio::test]
async fn credentials_of_one_tenant_give_no_access_to_another() {
    let app = app_at(START).await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let fabrikam = app.create_tenant("Fabrikam", None).await.unwrap();
    let ours = install(&app, &contoso, "SRV01", VERSION).await;
    let theirs = install(&app, &fabrikam, "SRV02", VERSION).await;
    let fabrikam_token = app.graph_token(&fabrikam).await.unwrap();
    let contoso_token = app.graph_token(&contoso).await.unwrap();

    // A connector credential is not an enrollment secret.
    let answer = register(&app, &ours.credential, &registration("SRV03", VERSION)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    // Neither an enrollment secret nor a Graph token is a connector credential.
    for bearer in [enrollment_secret(&fabrikam), fabrikam_token.as_str()] {
        let answer = checkin(&app, bearer, VERSION).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, Some("unauthenticated")),
            "{}",
            answer.body
        );
        let answer = get(&app, "/connector/v1/self", Some(bearer)).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, Some("unauthenticated")),
            "{}",
            answer.body
        );
    }
    // Another tenant's Graph token cannot read this tenant's connectors.
    let base = format!("/admin/tenants/{}", contoso.id);
    for path in [
        base.clone(),
        format!("{base}/connectors"),
        format!("{base}/connectors/{}", ours.id),
        format!("{base}/connectors/{}/status", ours.id),
        format!("{base}/connectors/{}/history", ours.id),
    ] {
        let answer = get(&app, &path, Some(&fabrikam_token)).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (403, Some("accessDenied")),
            "{path}: {}",
            answer.body
        );
    }
    // A connector credential cannot read the tenant's connectors at all.
    let answer = get(&app, &format!("{base}/connectors"), Some(&ours.credential)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    // The tenant's own token reads its connectors, but not another tenant's connector by id.
    let answer = get(&app, &format!("{base}/connectors"), Some(&contoso_token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["value"].as_array().unwrap().len(), 1);
    let answer = get(
        &app,
        &format!("{base}/connectors/{}", theirs.id),
        Some(&contoso_token),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        answer.body
    );

    // Nothing was stored and no check-in was recorded.
    assert_eq!(connector_count(&app, &contoso.id).await, 1);
    assert_eq!(connector_count(&app, &fabrikam.id).await, 1);
    assert_eq!(
        connector_view(&app, &fabrikam.id, &theirs.id)
            .await
            .get("lastCheckinDateTime"),
        None
    );
}

#[tokio::test]
async fn the_hundred_and_first_connector_is_refused_until_one_is_uninstalled() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let mut installed = Vec::new();
    for n in 0..100 {
        installed.push(install(&app, &tenant, &format!("SRV{n:03}"), VERSION).await);
    }
    assert_eq!(connector_count(&app, &tenant.id).await, 100);

    let answer = register(
        &app,
        enrollment_secret(&tenant),
        &registration("SRV100", VERSION),
    )
    .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.error_code(), Some("TenantConnectorLimitReached"));
    assert!(message(&answer).contains("100"), "{}", answer.body);
    assert_eq!(connector_count(&app, &tenant.id).await, 100);

    let uninstalled = app
        .request::<()>(
            Method::DELETE,
            "/connector/v1/self",
            Some(&installed[0].credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(uninstalled.status, 204, "{}", uninstalled.body);
    assert_eq!(connector_count(&app, &tenant.id).await, 99);

    install(&app, &tenant, "SRV100", VERSION).await;
    assert_eq!(connector_count(&app, &tenant.id).await, 100);
    let answer = register(
        &app,
        enrollment_secret(&tenant),
        &registration("SRV101", VERSION),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (409, Some("TenantConnectorLimitReached")),
        "{}",
        answer.body
    );
    assert_eq!(connector_count(&app, &tenant.id).await, 100);
}

#[tokio::test]
async fn a_machine_name_holds_one_connector_per_tenant_whatever_its_case() {
    let app = app_at(START).await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let fabrikam = app.create_tenant("Fabrikam", None).await.unwrap();
    install(&app, &contoso, "SRV01", VERSION).await;

    let answer = register(
        &app,
        enrollment_secret(&contoso),
        &registration("srv01", VERSION),
    )
    .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.error_code(), Some("MachineAlreadyHasConnector"));
    assert!(message(&answer).contains("SRV01"), "{}", answer.body);
    assert_eq!(connector_count(&app, &contoso.id).await, 1);

    install(&app, &fabrikam, "srv01", VERSION).await;
    assert_eq!(connector_count(&app, &fabrikam.id).await, 1);
    assert_eq!(connector_count(&app, &contoso.id).await, 1);
    let listed = connectors(&app, &fabrikam.id).await;
    assert_eq!(listed[0]["machineName"], "srv01");
}

#[tokio::test]
async fn a_connector_reconfigures_uninstalls_and_is_reinstalled_with_a_new_id() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let mut body = registration("SRV01", VERSION);
    body["features"] = json!(["scep", "pkcs"]);
    let first = install_body(&app, &tenant, &body).await;
    let view = connector_view(&app, &tenant.id, &first.id).await;
    assert_eq!(view["features"], json!(["pkcs", "scep"]));
    assert_eq!(view["displayName"], "SRV01 connector");

    let change =
        json!({ "features": ["revocation", "pkcs"], "displayName": "Issuing CA connector" });
    let answer = app
        .request(
            Method::PATCH,
            "/connector/v1/self",
            Some(&first.credential),
            Some(&change),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["features"], json!(["pkcs", "revocation"]));
    let view = connector_view(&app, &tenant.id, &first.id).await;
    assert_eq!(view["features"], json!(["pkcs", "revocation"]));
    assert_eq!(view["displayName"], "Issuing CA connector");

    for (features, code) in [
        (json!([]), "EmptyFeatures"),
        (json!(["ndes"]), "UnknownFeature"),
    ] {
        let answer = app
            .request(
                Method::PATCH,
                "/connector/v1/self",
                Some(&first.credential),
                Some(&json!({ "features": features })),
            )
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, Some(code)),
            "{}",
            answer.body
        );
    }
    let unchanged = connector_view(&app, &tenant.id, &first.id).await;
    assert_eq!(unchanged["features"], json!(["pkcs", "revocation"]));
    assert_eq!(unchanged["displayName"], "Issuing CA connector");

    let answer = app
        .request::<()>(
            Method::DELETE,
            "/connector/v1/self",
            Some(&first.credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(answer.body, Value::Null);
    assert_eq!(connector_count(&app, &tenant.id).await, 0);
    let answer = get(&app, "/connector/v1/self", Some(&first.credential)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    let answer = checkin(&app, &first.credential, VERSION).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    let answer = app
        .request(
            Method::PATCH,
            "/connector/v1/self",
            Some(&first.credential),
            Some(&json!({ "displayName": "x" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    let admin = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id, first.id
        ))
        .await
        .unwrap();
    assert_eq!(
        (admin.status, admin.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        admin.body
    );

    // The uninstalled connector's timeline stays readable.
    let history = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}/history",
            tenant.id, first.id
        ))
        .await
        .unwrap();
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(
        history.body,
        json!({ "value": [{ "dateTime": "2022-04-01T00:00:00Z", "status": "healthy", "reasons": [] }] })
    );

    let second = install(&app, &tenant, "SRV01", VERSION).await;
    assert_ne!(second.id, first.id);
    assert_ne!(second.credential, first.credential);
    assert_eq!(connector_count(&app, &tenant.id).await, 1);
    let own = get(&app, "/connector/v1/self", Some(&second.credential)).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["id"], json!(second.id));
    assert_eq!(own.body["machineName"], "SRV01");
    assert_eq!(own.body["features"], json!(["pkcs"]));
}

#[tokio::test]
async fn a_connector_beside_the_ad_connector_is_a_warning_with_that_reason_only() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let mut body = registration("SRV01", VERSION);
    body["coInstalledProducts"] = json!(["intune-connector-for-active-directory"]);
    let connector = install_body(&app, &tenant, &body).await;
    assert_eq!(
        checkin(&app, &connector.credential, VERSION).await.status,
        200
    );

    let status = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(status["status"], "warning", "{status}");
    assert_eq!(codes(&status), ["CoInstalledWithAdConnector"]);
    assert_eq!(status["reasons"][0]["severity"], "warning");
    let view = connector_view(&app, &tenant.id, &connector.id).await;
    assert_eq!(
        view["coInstalledProducts"],
        json!(["intune-connector-for-active-directory"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_never_exceed_the_limit_or_share_a_machine() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let secret = enrollment_secret(&tenant).to_owned();
    let call = |machine: String| -> Call {
        (
            Method::POST,
            "/connector/v1/register".to_owned(),
            Some(secret.clone()),
            Some(registration(&machine, VERSION)),
        )
    };

    let same: Vec<Call> = [
        "SRV-SAME", "srv-same", "Srv-Same", "SRV-same", "srv-SAME", "SRV-SAME", "sRv-SaMe",
        "SRV-SAMe",
    ]
    .into_iter()
    .map(|m| call(m.to_owned()))
    .collect();
    let answers = at_once(&app, same).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 409 && a.error_code() == Some("MachineAlreadyHasConnector"))
        .count();
    assert_eq!((created, refused), (1, 7), "{answers:?}");
    assert_eq!(connector_count(&app, &tenant.id).await, 1);

    let many: Vec<Call> = (0..105).map(|n| call(format!("SRV{n:03}"))).collect();
    let answers = at_once(&app, many).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 409 && a.error_code() == Some("TenantConnectorLimitReached"))
        .count();
    assert_eq!(
        (created, refused),
        (99, 6),
        "{:?}",
        answers
            .iter()
            .filter(|a| a.status != 201)
            .collect::<Vec<_>>()
    );
    assert_eq!(connector_count(&app, &tenant.id).await, 100);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_in_the_envelope_and_store_nothing() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let url = format!("{}/connector/v1/register", app.base_url);
    let secret = enrollment_secret(&tenant);

    let cases = [
        (
            "not JSON",
            Some("application/json"),
            "{\"machineName\": ".to_owned(),
            400,
            "invalidRequest",
        ),
        (
            "no content type",
            None,
            registration("SRV01", VERSION).to_string(),
            415,
            "unsupportedMediaType",
        ),
        (
            "text content type",
            Some("text/plain"),
            registration("SRV01", VERSION).to_string(),
            415,
            "unsupportedMediaType",
        ),
        (
            "larger than 1 MiB",
            Some("application/json"),
            format!("{{\"machineName\": \"{}\"}}", "x".repeat(1024 * 1024 + 1)),
            413,
            "requestTooLarge",
        ),
    ];
    for (case, content_type, body, expected_status, expected_code) in cases {
        let mut request = app.http.post(&url).bearer_auth(secret).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected_status, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], expected_code, "{case}: {body}");
        assert_eq!(
            connector_count(&app, &tenant.id).await,
            0,
            "{case} stored something"
        );
    }
}

#[tokio::test]
async fn bad_check_ins_are_refused_and_not_recorded() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let connector = install(&app, &tenant, "SRV01", VERSION).await;

    let cases = [
        (
            "two-part version",
            json!({ "version": "6.22" }),
            "InvalidVersion",
        ),
        (
            "activeSince in the future",
            json!({ "version": VERSION, "activeSince": "2022-04-01T00:00:01Z" }),
            "InvalidField",
        ),
        (
            "unknown field",
            json!({ "version": VERSION, "uptime": 5 }),
            "invalidRequest",
        ),
        ("no version", json!({}), "invalidRequest"),
    ];
    for (case, body, code) in cases {
        let answer = app
            .request(
                Method::POST,
                "/connector/v1/checkin",
                Some(&connector.credential),
                Some(&body),
            )
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, Some(code)),
            "{case}: {}",
            answer.body
        );
        let view = connector_view(&app, &tenant.id, &connector.id).await;
        assert_eq!(
            view.get("lastCheckinDateTime"),
            None,
            "{case} recorded a check-in"
        );
        assert_eq!(view["version"], VERSION, "{case}");
        assert_eq!(view["state"], "none", "{case}");
    }

    let answer = checkin(&app, &connector.credential, VERSION).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "connectorId": connector.id, "serverDateTime": "2022-04-01T00:00:00Z" })
    );
    let view = connector_view(&app, &tenant.id, &connector.id).await;
    assert_eq!(view["lastCheckinDateTime"], "2022-04-01T00:00:00Z");
    assert_eq!(view["state"], "active");
}
