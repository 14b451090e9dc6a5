//! The operator API over HTTP: it answers only the operator token, lists and publishes releases,
//! creates and deletes tenants; plus the health probes and the JSON answer for unknown routes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{
    app_at, connector_count, enrollment_secret, get, install, register, registration,
};

const START: &str = "2022-04-01T00:00:00Z";

#[tokio::test]
async fn operator_routes_answer_only_the_operator_token() {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let connector = install(&app, &tenant, "SRV01", "6.2202.38.0").await;
    let token = app.graph_token(&tenant).await.unwrap();

    let bearers = [
        None,
        Some("not-the-operator-token"),
        Some(connector.credential.as_str()),
        Some(enrollment_secret(&tenant)),
    ];
    for bearer in bearers {
        for (method, path, body) in [
            (Method::GET, "/admin/clock", None),
            (
                Method::POST,
                "/admin/clock",
                Some(json!({ "advance": "P1D" })),
            ),
            (Method::GET, "/admin/tenants", None),
            (
                Method::POST,
                "/admin/tenants",
                Some(json!({ "displayName": "Intruder" })),
            ),
            (Method::GET, "/admin/releases", None),
            (
                Method::POST,
                "/admin/releases",
                Some(
                    json!({ "version": "6.2600.0.0", "releasedDateTime": "2026-08-31T00:00:00Z" }),
                ),
            ),
        ] {
            let answer = app
                .request(method.clone(), path, bearer, body.as_ref())
                .await
                .unwrap();
            assert_eq!(
                (answer.status, answer.error_code()),
                (401, Some("unauthenticated")),
                "{method} {path} with {bearer:?}: {}",
                answer.body
            );
        }
        let path = format!(
            "/admin/tenants/{}/connectors/{}/status",
            tenant.id, connector.id
        );
        let answer = get(&app, &path, bearer).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, Some("unauthenticated")),
            "{path} with {bearer:?}: {}",
            answer.body
        );
        let answer = app
            .request::<()>(
                Method::DELETE,
                &format!("/admin/tenants/{}", tenant.id),
                bearer,
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            answer.status, 401,
            "DELETE tenant with {bearer:?}: {}",
            answer.body
        );
    }
    // A tenant's Graph token reads its own connectors but is no operator.
    for (method, path) in [
        (Method::GET, "/admin/tenants"),
        (Method::GET, "/admin/releases"),
        (Method::GET, "/admin/clock"),
    ] {
        let answer = app
            .request::<()>(method, path, Some(&token), None)
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, Some("unauthenticated")),
            "{path}: {}",
            answer.body
        );
    }
    let answer = app
        .request::<()>(
            Method::DELETE,
            &format!("/admin/tenants/{}", tenant.id),
            Some(&token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{}", answer.body);

    // Nothing changed.
    assert_eq!(
        app.admin_get("/admin/clock").await.unwrap().body["now"],
        START
    );
    assert_eq!(
        app.admin_get("/admin/tenants").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(connector_count(&app, &tenant.id).await, 1);
    assert_eq!(
        app.admin_get("/admin/releases").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
}

#[tokio::test]
async fn releases_list_the_shipped_catalog_and_refuse_a_duplicate() {
    let app = app_at(START).await;
    let answer = app.admin_get("/admin/releases").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let releases = answer.body["value"].as_array().unwrap().clone();
    assert_eq!(releases.len(), 15);
    assert_eq!(
        releases[0],
        json!({ "version": "6.2107.45.0", "releasedDateTime": "2021-07-29T00:00:00Z", "source": "shipped" })
    );
    assert!(releases.contains(&json!({ "version": "6.2202.38.0", "releasedDateTime": "2022-03-10T00:00:00Z", "source": "shipped" })));
    assert!(releases.contains(&json!({ "version": "6.2203.12.0", "releasedDateTime": "2022-05-04T00:00:00Z", "source": "shipped" })));
    assert_eq!(
        releases[14],
        json!({ "version": "6.2510.3.2002", "releasedDateTime": "2026-02-18T00:00:00Z", "source": "shipped" })
    );

    let body = json!({ "version": "6.2600.0.0", "releasedDateTime": "2026-08-31" });
    let published = app
        .admin(Method::POST, "/admin/releases", Some(&body))
        .await
        .unwrap();
    assert_eq!(published.status, 201, "{}", published.body);
    assert_eq!(
        published.body,
        json!({ "version": "6.2600.0.0", "releasedDateTime": "2026-08-31T00:00:00Z", "source": "published" })
    );
    let listed = app.admin_get("/admin/releases").await.unwrap();
    let releases = listed.body["value"].as_array().unwrap();
    assert_eq!(releases.len(), 16);
    assert_eq!(releases[15], published.body);

    let again = app
        .admin(Method::POST, "/admin/releases", Some(&body))
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.error_code()),
        (409, Some("ReleaseAlreadyExists")),
        "{}",
        again.body
    );
    assert!(
        again.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("6.2600.0.0"),
        "{}",
        again.body
    );
    let shipped = json!({ "version": "6.2202.38.0", "releasedDateTime": "2022-03-10T00:00:00Z" });
    let answer = app
        .admin(Method::POST, "/admin/releases", Some(&shipped))
        .await
        .unwrap();
    assert_eq!(
        (answer.status, answer.error_code()),
        (409, Some("ReleaseAlreadyExists")),
        "{}",
        answer.body
    );

    for (bad, code) in [
        (
            json!({ "version": "6.26", "releasedDateTime": "2026-08-31T00:00:00Z" }),
            "InvalidVersion",
        ),
        (
            json!({ "version": "6.2601.0.0", "releasedDateTime": "August 2026" }),
            "InvalidField",
        ),
        (json!({ "version": "6.2601.0.0" }), "invalidRequest"),
    ] {
        let answer = app
            .admin(Method::POST, "/admin/releases", Some(&bad))
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, Some(code)),
            "{bad}: {}",
            answer.body
        );
    }
    assert_eq!(
        app.admin_get("/admin/releases").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        16
    );
}

#[tokio::test]
async fn health_probes_answer_and_unknown_routes_get_the_json_envelope() {
    let app = app_at(START).await;
    let alive = get(&app, "/healthz", None).await;
    assert_eq!(
        (alive.status, alive.body),
        (200, json!({ "status": "alive" }))
    );
    let ready = get(&app, "/readyz", None).await;
    assert_eq!(
        (ready.status, ready.body),
        (200, json!({ "status": "ready" }))
    );

    let missing = get(&app, "/no/such/route", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), Some("itemNotFound"));
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/route"),
        "{}",
        missing.body
    );
    assert_eq!(missing.body["error"]["innerError"]["date"], START);
    assert!(
        missing.body["error"]["innerError"]["request-id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{}",
        missing.body
    );

    let wrong_method = app
        .request::<()>(Method::PUT, "/admin/releases", None, None)
        .await
        .unwrap();
    assert_eq!(
        (wrong_method.status, wrong_method.error_code()),
        (405, Some("methodNotAllowed")),
        "{}",
        wrong_method.body
    );
}

#[tokio::test]
async fn a_deleted_tenant_is_gone_and_its_enrollment_secret_stops_working() {
    let app = app_at(START).await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let fabrikam = app.create_tenant("Fabrikam", Some(0)).await.unwrap();
    let connector = install(&app, &contoso, "SRV01", "6.2202.38.0").await;

    let listed = app.admin_get("/admin/tenants").await.unwrap();
    let tenants = listed.body["value"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    for tenant in tenants {
        assert_eq!(tenant.get("enrollmentSecret"), None, "{tenant}");
        assert_eq!(tenant.get("clientSecret"), None, "{tenant}");
    }
    let read = app
        .admin_get(&format!("/admin/tenants/{}", fabrikam.id))
        .await
        .unwrap();
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["displayName"], "Fabrikam");
    assert_eq!(read.body["rolloutDelayDays"], 0);
    assert_eq!(read.body["createdDateTime"], START);
    assert_eq!(contoso.rollout_delay_days, 7);

    let deleted = app
        .admin::<Value>(
            Method::DELETE,
            &format!("/admin/tenants/{}", contoso.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null);

    let answer = register(
        &app,
        enrollment_secret(&contoso),
        &registration("SRV02", "6.2202.38.0"),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    let answer = get(&app, "/connector/v1/self", Some(&connector.credential)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (401, Some("unauthenticated")),
        "{}",
        answer.body
    );
    let gone = app
        .admin_get(&format!("/admin/tenants/{}", contoso.id))
        .await
        .unwrap();
    assert_eq!(
        (gone.status, gone.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        gone.body
    );
    let gone = app
        .admin_get(&format!("/admin/tenants/{}/connectors", contoso.id))
        .await
        .unwrap();
    assert_eq!(
        (gone.status, gone.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        gone.body
    );
    let again = app
        .admin::<Value>(
            Method::DELETE,
            &format!("/admin/tenants/{}", contoso.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        again.body
    );
    let remaining = app.admin_get("/admin/tenants").await.unwrap();
    assert_eq!(remaining.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(remaining.body["value"][0]["id"], json!(fabrikam.id));

    // The other tenant still registers.
    let answer = register(
        &app,
        enrollment_secret(&fabrikam),
        &registration("SRV01", "6.2202.38.0"),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

/// Every answer's `Date` is the service's clock, virtual or real: a client (the command-line
/// connector) reads the service's time from it.
#[tokio::test]
async fn every_answer_is_dated_by_the_service_clock() {
    let app = app_at("2022-05-01T00:00:00Z").await;
    let http = reqwest::Client::new();
    let date = |path: &'static str| {
        let (http, url) = (http.clone(), format!("{}{path}", app.base_url));
        async move {
            let answer = http.get(url).send().await.unwrap();
            answer.headers()["date"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(date("/healthz").await, "Sun, 01 May 2022 00:00:00 GMT");
    // An error answer too.
    assert_eq!(
        date("/no/such/route").await,
        "Sun, 01 May 2022 00:00:00 GMT"
    );
    app.admin(
        reqwest::Method::POST,
        "/admin/clock",
        Some(&json!({"set": "2024-02-29T23:59:59Z"})),
    )
    .await
    .unwrap();
    assert_eq!(date("/healthz").await, "Thu, 29 Feb 2024 23:59:59 GMT");
}
