//! Fault injection over HTTP: `POST/GET/DELETE /admin/faults` and what a matching request gets.

use reqwest::Method;
use serde_json::json;

use scenarios::harness::TestApp;

use crate::support::{app_at, checkin, install, Installed};

/// A service at 2026-03-01 with one connector of tenant Contoso.
async fn one_connector() -> (TestApp, Installed) {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let conn = install(&app, &tenant, "SRV01", "6.2406.0.1001").await;
    (app, conn)
}

#[tokio::test]
async fn a_counted_status_fault_hits_that_many_requests_then_the_route_serves_again() {
    let (app, conn) = one_connector().await;
    let created = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "/connector/v1/checkin", "status": 503, "count": 2})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["remaining"], 2);
    assert_eq!(created.body["retryAfterSeconds"], 1);

    let response = app
        .http
        .post(format!("{}/connector/v1/checkin", app.base_url))
        .bearer_auth(&conn.credential)
        .header("client-request-id", "corr-1")
        .json(&json!({"version": "6.2406.0.1001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["client-request-id"], "corr-1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InjectedFault");
    assert_eq!(
        body["error"]["message"],
        "a fault rule answered 503 for /connector/v1/checkin"
    );

    assert_eq!(
        checkin(&app, &conn.credential, "6.2406.0.1001")
            .await
            .status,
        503
    );
    let listed = app.admin_get("/admin/faults").await.unwrap();
    assert_eq!(listed.body["value"], json!([]), "a spent rule is gone");
    assert_eq!(
        checkin(&app, &conn.credential, "6.2406.0.1001")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_timed_fault_ends_with_virtual_time_and_operator_routes_are_never_hit() {
    let (app, conn) = one_connector().await;
    let created = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "*", "status": 500, "durationSeconds": 3600})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["untilDateTime"], "2026-03-01T01:00:00Z");
    assert_eq!(
        checkin(&app, &conn.credential, "6.2406.0.1001")
            .await
            .status,
        500
    );
    // The operator API keeps answering.
    let listed = app.admin_get("/admin/faults").await.unwrap();
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["value"][0]["hits"], 1);
    crate::support::set_clock(&app, "2026-03-01T01:00:00Z").await;
    assert_eq!(
        checkin(&app, &conn.credential, "6.2406.0.1001")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bad_fault_rules_are_refused_with_the_field_and_clear_removes_all() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    for (body, message) in [
        (
            json!({"route": "*"}),
            "give exactly one of `status` (an HTTP error status), `delayMs` or `\"drop\": true`",
        ),
        (
            json!({"route": "*", "status": 302}),
            "status: must be an HTTP error status from 400 to 599",
        ),
        (
            json!({"route": "/admin/clock", "status": 500}),
            "route: operator routes and probes cannot be faulted",
        ),
        (
            json!({"route": "*", "status": 500, "probability": 0}),
            "probability: must be more than 0 and at most 1",
        ),
        (
            json!({"route": "*", "status": 500, "count": 0}),
            "count: must be at least 1",
        ),
    ] {
        let answer = app
            .admin(Method::POST, "/admin/faults", Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.body["error"]["code"], "InvalidFault");
        assert_eq!(answer.body["error"]["message"], message);
    }
    let unknown = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "*", "status": 500, "colour": "red"})),
        )
        .await
        .unwrap();
    assert_eq!(unknown.status, 400);
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"],
        json!([])
    );

    for route in ["/connector/v1/checkin", "/connector/v1/jobs/lease"] {
        let answer = app
            .admin(
                Method::POST,
                "/admin/faults",
                Some(&json!({"route": route, "delayMs": 10})),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 201);
    }
    let id = app.admin_get("/admin/faults").await.unwrap().body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = app
        .admin::<()>(Method::DELETE, &format!("/admin/faults/{id}"), None)
        .await
        .unwrap();
    assert_eq!(gone.status, 204);
    let again = app
        .admin::<()>(Method::DELETE, &format!("/admin/faults/{id}"), None)
        .await
        .unwrap();
    assert_eq!(again.status, 404);
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let cleared = app
        .admin::<()>(Method::DELETE, "/admin/faults", None)
        .await
        .unwrap();
    assert_eq!(cleared.status, 204);
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"],
        json!([])
    );
}

#[tokio::test]
async fn a_drop_fault_for_one_connector_severs_only_its_calls() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let a1 = install(&app, &contoso, "SRV01", "6.2406.0.1001").await;
    let a2 = install(&app, &contoso, "SRV02", "6.2406.0.1001").await;
    let fabrikam = app.create_tenant("Fabrikam", None).await.unwrap();
    let b1 = install(&app, &fabrikam, "SRV01", "6.2406.0.1001").await;

    let created = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "checkin", "connectorId": a1.id, "drop": true, "count": 1})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["drop"], true);
    assert_eq!(created.body["connectorId"], a1.id.as_str());

    let severed = app
        .http
        .post(format!("{}/connector/v1/checkin", app.base_url))
        .bearer_auth(&a1.credential)
        .json(&json!({"version": "6.2406.0.1001"}))
        .send()
        .await
        .map(|r| r.status());
    // The answer never completes: either no status line, or a body that breaks off.
    match severed {
        Err(e) => assert!(!e.is_timeout(), "{e}"),
        Ok(status) => {
            let again = app
                .http
                .post(format!("{}/connector/v1/checkin", app.base_url))
                .bearer_auth(&a2.credential)
                .json(&json!({"version": "6.2406.0.1001"}))
                .send()
                .await
                .unwrap();
            panic!(
                "a dropped call answered {status}; the next call answered {}",
                again.status()
            );
        }
    }
    // The other connector of the tenant and the other tenant's connector are not hit; the rule
    // is spent, so a1's next call is served.
    for conn in [&a2, &b1, &a1] {
        assert_eq!(
            checkin(&app, &conn.credential, "6.2406.0.1001")
                .await
                .status,
            200
        );
    }

    // A rule for a tenant hits every credential of that tenant and nothing of the other.
    let created = app
        .admin(
            Method::POST,
            "/admin/faults",
            Some(&json!({"route": "*", "tenantId": fabrikam.id, "status": 500})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        checkin(&app, &b1.credential, "6.2406.0.1001").await.status,
        500
    );
    assert_eq!(
        checkin(&app, &a1.credential, "6.2406.0.1001").await.status,
        200
    );
    let token = app.graph_token(&fabrikam).await;
    // The token endpoint names its tenant in the path, not in a credential: not hit.
    assert!(token.is_ok(), "{token:?}");
    let listed = app
        .request::<()>(
            Method::GET,
            "/beta/deviceManagement/ndesConnectors",
            Some(&token.unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed.status, 500, "{}", listed.body);
}

#[tokio::test]
async fn a_fault_naming_a_caller_or_mixing_effects_is_refused() {
    let (app, _) = one_connector().await;
    for (body, says) in [
        (
            json!({"route": "*", "drop": true, "status": 500}),
            "exactly one of",
        ),
        (json!({"route": "*", "drop": false}), "exactly one of"),
        (
            json!({"route": "*", "status": 500, "tenantId": ""}),
            "tenantId",
        ),
        (
            json!({"route": "*", "status": 500, "connectorId": "x".repeat(129)}),
            "connectorId",
        ),
    ] {
        let answer = app
            .admin(Method::POST, "/admin/faults", Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"],
        json!([])
    );
}
